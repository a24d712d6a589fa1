//! `dkwrap detect`: the kernel resolved once (the running one when none is named), its
//! facts and matching tools printed as a table or JSON.

use super::ui::Ui;
use crate::cli::DetectArgs;
use crate::detect::{describe_compilers, family_name, Detection};
use crate::error::{exit, Result};
use crate::kconfig::Lto;
use crate::output::escape;
use crate::target::KernelTarget;

pub fn run(args: &DetectArgs, ui: &Ui) -> Result<i32> {
    let kernel = KernelTarget::resolve(&args.kernel.selector(), args.kernel.selected_by())?;
    let detection = crate::detect::detect(&kernel, args.module.as_deref())?;
    if args.json {
        crate::output::print_json(&detection)?;
    } else {
        print_human(&detection, ui);
    }
    Ok(exit::OK)
}

fn print_human(d: &Detection, ui: &Ui) {
    let k = &d.kernel;
    let esc = escape;
    println!(
        "kernel config   {}",
        esc(&k.config_path.display().to_string())
    );
    if let Some(r) = &d.release {
        println!("release         {}", esc(r));
    }
    println!(
        "compiler        {} {}{}",
        family_name(k.compiler),
        k.compiler_version,
        k.cc_version_text
            .as_deref()
            .map(|t| format!("  ({})", esc(t)))
            .unwrap_or_default()
    );
    println!(
        "linker          {}",
        if k.linker_lld { "ld.lld" } else { "GNU ld" }
    );
    println!(
        "LTO             {}",
        match k.lto {
            Lto::None => "none",
            Lto::Thin if k.lto_thin_dist => "thin (distributed)",
            Lto::Thin => "thin",
            Lto::Full => "full",
        }
    );
    println!(
        "architecture    {} (ARCH={})",
        k.arch.name(),
        k.arch.kbuild_name()
    );
    println!(
        "modules         modversions={} sig={} sig_force={} compression={} btf={}",
        yes_no(k.modversions),
        yes_no(k.module_sig),
        yes_no(k.module_sig_force),
        k.module_compression.as_deref().unwrap_or("none"),
        yes_no(k.btf_modules)
    );
    for c in &d.cross_check {
        println!(
            "cross-check     {}: {}{}",
            esc(&c.file.display().to_string()),
            if c.compilers.is_empty() {
                "no compiler in .comment".to_string()
            } else {
                describe_compilers(&c.compilers)
            },
            if c.agrees { "" } else { "  (DISAGREES)" }
        );
    }
    if let Some(v) = &d.tools.llvm_make_value {
        println!("make toolchain  LLVM={v}");
    }
    for (var, t) in &d.tools.llvm {
        if var == "STRIP" {
            continue;
        }
        println!("  {var:<8}      {}", tool_line(t));
    }
    println!("strip           {}", tool_line(&d.tools.strip));
    for w in &d.warnings {
        println!("{}: {}", ui.out_word(super::ui::Verdict::Warning), esc(w));
    }
}

fn tool_line(t: &crate::toolchain::Tool) -> String {
    match &t.path {
        Some(p) => format!(
            "{} ({})",
            p.display(),
            t.version.as_deref().unwrap_or("version unknown")
        ),
        None => format!("{}: MISSING", t.role),
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
