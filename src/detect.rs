//! `dkwrap detect`: which compiler, linker and LTO mode built a kernel, what its modules
//! need (MODVERSIONS, signing, compression, BTF), and which installed tools match it.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Result;
use crate::kconfig::{Arch, CompilerFamily, KernelFacts};
use crate::modfile::ModuleFile;
use crate::target::KernelTarget;
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

/// What `detect` reports for a resolved kernel: its facts, the matching tools, and what
/// vmlinux's (and `module`'s) `.comment` say about the compiler.
pub fn detect(kernel: &KernelTarget, module: Option<&Path>) -> Result<Detection> {
    let facts = &kernel.facts;
    let tools = Toolset::resolve(facts);
    let mut warnings = Vec::new();
    let mut checks = Vec::new();
    let vmlinux = kernel
        .build_dir
        .as_ref()
        .map(|d| d.join("vmlinux"))
        .filter(|p| p.is_file());
    for file in module.map(Path::to_path_buf).into_iter().chain(vmlinux) {
        let check = match cross_check(file.clone(), facts) {
            Ok(c) => c,
            // A bad --module is the user's input: a one-line error with its own exit code.
            Err(e) if module == Some(file.as_path()) => return Err(e),
            Err(e) => {
                warnings.push(format!("cannot read {}: {}", file.display(), e.detail()));
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
    Ok(Detection {
        kernel: facts.clone(),
        release: kernel.release.clone(),
        tools,
        cross_check: checks,
        warnings,
    })
}

pub fn family_name(f: CompilerFamily) -> &'static str {
    match f {
        CompilerFamily::Clang => "clang",
        CompilerFamily::Gcc => "gcc",
    }
}

pub fn describe_compilers(c: &[(CompilerFamily, String)]) -> String {
    c.iter()
        .map(|(f, v)| format!("{} {v}", family_name(*f)))
        .collect::<Vec<_>>()
        .join(" + ")
}
