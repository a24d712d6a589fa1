//! Findings: what a check says about a module. Shared by the loader checks
//! ([`crate::verify`]) and the equivalence proof ([`crate::proof`]); a finding is a result,
//! never an error.

use serde::Serialize;

use crate::elf::Section;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A fact worth knowing (a layout GNU strip corrupts), not a defect.
    Note,
    Warning,
    Error,
}

/// What kind of problem a finding is; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// The loader would reject or mis-load the module.
    Invalid,
    /// Built for another kernel (release, vermagic flags, architecture, signature policy).
    KernelMismatch,
    /// Not the original minus debug information.
    NotEquivalent,
    /// The layout of the file (informational).
    Layout,
    /// The two independent ELF parsers disagree.
    ParserDisagreement,
}

/// One thing a check found. `section` names it as `[index] name`; `offset` is a file offset.
/// Absent values are `null` in JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub category: Category,
    pub section: Option<String>,
    pub offset: Option<u64>,
    pub message: String,
}

impl Finding {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Collects findings for one file.
pub(crate) struct Findings<'r>(pub(crate) &'r mut Vec<Finding>);

impl Findings<'_> {
    pub(crate) fn push(
        &mut self,
        severity: Severity,
        category: Category,
        section: Option<&Section>,
        offset: Option<u64>,
        message: String,
    ) {
        self.0.push(Finding {
            severity,
            category,
            section: section.map(|s| format!("[{}] {}", s.index(), s.display_name())),
            offset,
            message,
        });
    }
    pub(crate) fn error(&mut self, c: Category, s: Option<&Section>, off: Option<u64>, m: String) {
        self.push(Severity::Error, c, s, off, m)
    }
    pub(crate) fn warn(&mut self, c: Category, s: Option<&Section>, off: Option<u64>, m: String) {
        self.push(Severity::Warning, c, s, off, m)
    }
    pub(crate) fn note(&mut self, c: Category, s: Option<&Section>, off: Option<u64>, m: String) {
        self.push(Severity::Note, c, s, off, m)
    }
}
