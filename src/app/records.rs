//! The `--json` (and `--manifest`) records: one per input file, failures included, with
//! every field present (`null` when absent). `strip` and `make` share the module record.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Error;
use crate::finding::{Category, Finding, Severity};
use crate::strip::{Attempt, Strategy, StripRecord};

/// Why a file failed, as data.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorRecord {
    /// The exit code this failure alone would give.
    pub code: i32,
    pub message: String,
}

impl ErrorRecord {
    pub fn from_error(e: &Error) -> Self {
        ErrorRecord {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

/// One module handled by `strip` or built by `make`.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleRecord {
    pub path: PathBuf,
    /// Stripped (or deliberately left) and, where a kernel was given, loadable by it.
    pub ok: bool,
    pub error: Option<ErrorRecord>,
    pub output: Option<PathBuf>,
    pub sha256_before: Option<String>,
    pub sha256_after: Option<String>,
    pub size_before: Option<u64>,
    pub size_after: Option<u64>,
    /// The strategy whose output was kept (`skip`: left unstripped).
    pub strategy: Option<Strategy>,
    pub tool: Option<PathBuf>,
    pub tool_version: Option<String>,
    pub attempts: Vec<Attempt>,
    pub compression: Option<String>,
    pub signature_dropped: Option<bool>,
    pub elapsed_ms: Option<f64>,
    /// The loader's checks of the module as left.
    pub findings: Vec<Finding>,
    /// `make`'s words for the same facts (kept for readers of its earlier JSON):
    /// the rejected strategies, whether the module passed, its errors and its warnings.
    pub rejected_strategies: Vec<String>,
    pub verified: bool,
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

impl ModuleRecord {
    /// The record of `path`, given what stripping it gave and the strategy asked for.
    /// `kernel_blocks`: a finding that the target kernel will refuse the module makes it
    /// fail (`make`, which builds for that kernel), or only warns (`strip`, whose job ends
    /// with a correct file; the kernel only chose the tools).
    pub fn new(
        path: &Path,
        result: &Result<StripRecord, Error>,
        asked: Strategy,
        kernel_blocks: bool,
    ) -> Self {
        match result {
            Ok(r) => Self::stripped(r, asked, kernel_blocks),
            Err(e) => Self::failed(path, e),
        }
    }

    fn failed(path: &Path, e: &Error) -> Self {
        ModuleRecord {
            path: path.to_path_buf(),
            ok: false,
            error: Some(ErrorRecord::from_error(e)),
            output: None,
            sha256_before: None,
            sha256_after: None,
            size_before: None,
            size_after: None,
            strategy: None,
            tool: None,
            tool_version: None,
            attempts: Vec::new(),
            compression: None,
            signature_dropped: None,
            elapsed_ms: None,
            findings: Vec::new(),
            rejected_strategies: Vec::new(),
            verified: false,
            problems: vec![format!("strip failed: {}", e.detail())],
            warnings: Vec::new(),
        }
    }

    fn stripped(r: &StripRecord, asked: Strategy, kernel_blocks: bool) -> Self {
        let blocks = |f: &Finding| {
            f.severity == Severity::Error
                && (kernel_blocks || f.category != Category::KernelMismatch)
        };
        let text = |f: &Finding| match &f.section {
            Some(s) => format!("{s}: {}", f.message),
            None => f.message.clone(),
        };
        let blocking: Vec<Finding> = r.findings.iter().filter(|f| blocks(f)).cloned().collect();
        let problems: Vec<String> = blocking.iter().map(text).collect();
        let mut warnings: Vec<String> = r
            .findings
            .iter()
            .filter(|f| f.severity != Severity::Note && !blocks(f))
            .map(text)
            .collect();
        if r.strategy == Strategy::Skip && asked != Strategy::Skip {
            warnings.push("left unstripped: no strip strategy produced a proven output".into());
        }
        let rejected = r.attempts.iter().filter(|a| !a.accepted);
        let error = problems.first().map(|p| ErrorRecord {
            code: super::verify::code_of_findings(&blocking),
            message: p.clone(),
        });
        ModuleRecord {
            path: r.path.clone(),
            ok: problems.is_empty(),
            error,
            output: Some(r.output.clone()),
            sha256_before: r.sha256_before.clone(),
            sha256_after: r.sha256_after.clone(),
            size_before: Some(r.size_before),
            size_after: Some(r.size_after),
            strategy: Some(r.strategy),
            tool: r.tool.clone(),
            tool_version: r.tool_version.clone(),
            attempts: r.attempts.clone(),
            compression: r.compression.clone(),
            signature_dropped: Some(r.signature_dropped),
            elapsed_ms: Some(r.elapsed_ms),
            findings: r.findings.clone(),
            rejected_strategies: rejected
                .map(|a| {
                    format!(
                        "{}: {}",
                        a.strategy.name(),
                        a.reason.as_deref().unwrap_or("")
                    )
                })
                .collect(),
            verified: problems.is_empty(),
            problems,
            warnings,
        }
    }
}
