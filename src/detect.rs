//! `dkwrap detect`: which compiler, linker and LTO mode built a kernel, what its modules
//! need (MODVERSIONS, signing, compression, BTF), and which installed tools match it.

use std::path::PathBuf;

use serde::Serialize;

use crate::cli::DetectArgs;
use crate::error::{exit, Result};
use crate::kconfig::{Arch, CompilerFamily, KernelFacts, KernelSelector, Lto};
use crate::modfile::ModuleFile;
use crate::toolchain::{compilers_in_comment, Toolset};

/// Everything `detect` reports; the `--json` schema (stable: fields are only ever added).
#[derive(Debug, Serialize)]
pub struct Detection {
    pub kernel: KernelFacts,
    pub release: Option<String>,
    pub tools: Toolset,
    /// Compilers named in the `.comment` of vmlinux or of `--module`.
    pub cross_check: Vec<CrossCheck>,
    /// Human-readable disagreements and missing tools.
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct CrossCheck {
    pub file: PathBuf,
    pub compilers: Vec<(CompilerFamily, String)>,
    pub machine: Option<Arch>,
    pub agrees: bool,
}

/// Runs detection for a kernel selection; shared by `strip`, `make` and `verify`.
pub fn detect(selector: &KernelSelector) -> Result<(KernelFacts, Option<String>)> {
    let config = selector.load()?;
    let facts = KernelFacts::from_config(&config)?;
    let release = selector
        .dir
        .as_deref()
        .and_then(crate::kconfig::tree_release)
        .or_else(|| selector.release.clone())
        .or_else(|| {
            // A config inside a build tree (<tree>/.config or <tree>/include/config/auto.conf).
            let parent = config.source.parent()?;
            crate::kconfig::tree_release(parent)
                .or_else(|| crate::kconfig::tree_release(parent.parent()?.parent()?))
        });
    Ok((facts, release))
}

fn cross_check(file: PathBuf, facts: &KernelFacts) -> Result<CrossCheck> {
    let module = ModuleFile::open(&file)?;
    let elf = module.elf()?;
    let compilers = compilers_in_comment(&elf.comments());
    // Agreement: the kernel's compiler family and major appear among the module's compilers.
    // A module may also name a second compiler (a prebuilt blob); that alone is no conflict.
    let agrees = compilers.is_empty()
        || compilers.iter().any(|(family, version)| {
            *family == facts.compiler
                && crate::toolchain::major_of(version) == Some(facts.compiler_major)
        });
    Ok(CrossCheck {
        file,
        compilers,
        machine: Some(Arch::from_elf_machine(elf.machine())),
        agrees,
    })
}

pub fn run(args: &DetectArgs) -> Result<i32> {
    let selector = args.kernel.selector();
    let (facts, release) = detect(&selector)?;
    let tools = Toolset::resolve(&facts);
    let mut warnings = Vec::new();
    let mut checks = Vec::new();
    let vmlinux = selector
        .build_dir()
        .map(|d| d.join("vmlinux"))
        .filter(|p| p.is_file());
    for file in args.module.iter().cloned().chain(vmlinux) {
        let check = match cross_check(file.clone(), &facts) {
            Ok(c) => c,
            // A bad --module is the user's input: a one-line error with its own exit code.
            Err(e) if args.module.as_ref() == Some(&file) => return Err(e),
            Err(e) => {
                warnings.push(format!("cannot read {}: {e}", file.display()));
                continue;
            }
        };
        if !check.agrees {
            warnings.push(format!(
                "{} was built with {}, but the kernel config says {} {}",
                file.display(),
                describe_compilers(&check.compilers),
                family_name(facts.compiler),
                facts.compiler_version
            ));
        }
        if let Some(m) = check.machine {
            if m != facts.arch {
                warnings.push(format!(
                    "{} is an {} object, but the kernel is {}",
                    file.display(),
                    m.name(),
                    facts.arch.name()
                ));
            }
        }
        checks.push(check);
    }
    for t in tools.missing() {
        warnings.push(format!(
            "{} not found ({})",
            t.role,
            t.install_hint.as_deref().unwrap_or("install it")
        ));
    }
    let detection = Detection {
        kernel: facts,
        release,
        tools,
        cross_check: checks,
        warnings,
    };
    if args.json {
        crate::output::print_json(&detection)?;
    } else {
        print_human(&detection);
    }
    Ok(exit::OK)
}

fn family_name(f: CompilerFamily) -> &'static str {
    match f {
        CompilerFamily::Clang => "clang",
        CompilerFamily::Gcc => "gcc",
    }
}

fn describe_compilers(c: &[(CompilerFamily, String)]) -> String {
    c.iter()
        .map(|(f, v)| format!("{} {v}", family_name(*f)))
        .collect::<Vec<_>>()
        .join(" + ")
}

fn print_human(d: &Detection) {
    let k = &d.kernel;
    let esc = crate::output::escape;
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
        format!("{:?}", k.arch).to_lowercase(),
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
        println!("warning: {}", esc(w));
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
