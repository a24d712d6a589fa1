//! `verify`: the checks the kernel's module loader makes ([`loader`]), a second parser's
//! reading of the same file ([`crosscheck`]), and with an original, the equivalence proof
//! ([`crate::proof`]).
//!
//! Findings are results, not errors: a broken module yields a [`Report`] full of findings.
//! Only a file that cannot be read at all is an [`Error`](crate::Error).

pub mod crosscheck;
pub mod discover;
pub mod loader;
pub mod sections;
pub mod symbols;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::elf;
use crate::error::Result;
use crate::finding::{Category, Finding, Severity};
use crate::kconfig::KernelFacts;
use crate::modfile::ModuleFile;
use crate::symvers::SymbolIndex;
use crate::target::KernelTarget;

pub use crosscheck::cross_check_with_goblin;
pub use loader::check_module;

/// What a module is checked against: the target kernel when one was named, and the size of
/// its `struct module` when known.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expectations<'k> {
    pub kernel: Option<&'k KernelTarget>,
    /// The kernel's release when only that is known (doctor, for an installed kernel whose
    /// configuration is gone); the kernel's own release wins.
    pub release: Option<&'k str>,
    /// sizeof(struct module) of the target kernel.
    pub this_module_size: Option<u64>,
    /// The exports the module may link against (the kernel's `Module.symvers` and the
    /// modules verified together): with it, every undefined symbol is resolved.
    pub symbols: Option<&'k SymbolIndex>,
}

impl<'k> Expectations<'k> {
    pub fn for_kernel(kernel: Option<&'k KernelTarget>) -> Self {
        Expectations {
            kernel,
            ..Expectations::default()
        }
    }
    pub fn facts(&self) -> Option<&'k KernelFacts> {
        self.kernel.map(|k| &k.facts)
    }
    pub fn release(&self) -> Option<&'k str> {
        self.kernel
            .and_then(|k| k.release.as_deref())
            .or(self.release)
    }
}

/// The verdict on one file. Absent values are `null` in JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub file: PathBuf,
    pub against: Option<PathBuf>,
    pub machine: Option<String>,
    pub compression: Option<String>,
    pub signed: bool,
    pub findings: Vec<Finding>,
}

impl Report {
    /// An empty report for `file` (the app fills one in for a file it could not read).
    pub fn new(file: &Path) -> Self {
        Report {
            file: file.to_path_buf(),
            against: None,
            machine: None,
            compression: None,
            signed: false,
            findings: Vec::new(),
        }
    }

    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_error())
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    pub fn passed(&self) -> bool {
        self.errors().next().is_none()
    }

    /// Has an error of this category.
    pub fn fails_with(&self, category: Category) -> bool {
        self.errors().any(|f| f.category == category)
    }
}

/// Verifies one file; with `against`, also proves it equivalent to that original.
pub fn verify_file(path: &Path, expect: &Expectations, against: Option<&Path>) -> Result<Report> {
    verify_file_with(path, expect, against, |_| {})
}

/// [`verify_file`], and `also` sees the parsed module on the same read (the app collects
/// the exports of modules verified together this way).
pub fn verify_file_with(
    path: &Path,
    expect: &Expectations,
    against: Option<&Path>,
    also: impl FnOnce(&elf::Elf),
) -> Result<Report> {
    let mut report = Report::new(path);
    let module = ModuleFile::open(path)?;
    report.compression = module.compression.map(|c| c.name().to_string());
    report.signed = module.signature.is_some();
    let elf = match module.elf_releasing() {
        Ok(e) => e,
        Err(e) => {
            // Not a module at all (bitcode, truncated, not ELF): a verdict on the file.
            report.findings.push(Finding {
                severity: Severity::Error,
                category: Category::Invalid,
                section: None,
                offset: None,
                message: e.detail(),
            });
            return Ok(report);
        }
    };
    report.machine = Some(elf::machine_name(elf.machine()).to_string());
    also(&elf);
    check_module(
        &elf,
        module.signature.as_ref(),
        expect,
        &mut report.findings,
    );
    cross_check_with_goblin(&elf, &mut report.findings);
    if let Some(orig_path) = against {
        report.against = Some(orig_path.to_path_buf());
        let original = ModuleFile::open(orig_path)?;
        let orig_elf = original.elf_releasing()?;
        crate::proof::check_equivalence(&elf, &orig_elf, false, &mut report.findings);
    }
    Ok(report)
}
