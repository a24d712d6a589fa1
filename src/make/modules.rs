//! After a successful make: find the modules it built, strip each (auto or `--strategy`) and
//! verify each the way the kernel's loader would, so that dkms never has to run its own
//! `strip -g` (dkms.conf sets `STRIP[*]=no`).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::cli::Strategy;
use crate::error::Result;
use crate::kconfig::KernelFacts;

/// Directories never searched for modules (version control, caches, Kbuild temporaries).
fn skip_dir(name: &str) -> bool {
    name.starts_with('.') || name == "node_modules"
}

/// Deepest directory level searched under a module directory.
const MAX_DEPTH: usize = 12;

/// Every `*.ko` under `roots` modified at or after `since` (minus a little slack for
/// coarse file-system timestamps), sorted and without duplicates. Symbolic links are not
/// followed (a link to the kernel tree would otherwise be searched whole).
pub fn find_built_modules(roots: &[PathBuf], since: SystemTime) -> Vec<PathBuf> {
    let since = since
        .checked_sub(Duration::from_secs(2))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut found = Vec::new();
    for root in roots {
        walk(root, 0, since, &mut found);
    }
    found.sort();
    found.dedup();
    found
}

fn walk(dir: &Path, depth: usize, since: SystemTime, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(ft) = entry.file_type() else { continue };
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if ft.is_dir() {
            if depth < MAX_DEPTH && !skip_dir(&name) {
                walk(&path, depth + 1, since, out);
            }
        } else if ft.is_file() && name.ends_with(".ko") {
            let fresh = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since);
            if fresh {
                out.push(path);
            }
        }
    }
}

/// `--modules` paths: absolute ones as given, relative ones under `base`.
pub fn listed_modules(listed: &[PathBuf], base: &Path) -> Vec<PathBuf> {
    listed
        .iter()
        .map(|p| {
            if p.is_absolute() {
                p.clone()
            } else {
                base.join(p)
            }
        })
        .collect()
}

/// What happened to one built module.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleResult {
    pub path: PathBuf,
    /// The strategy whose output was kept (`skip`: left unstripped).
    pub strategy: Option<Strategy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<PathBuf>,
    pub size_before: Option<u64>,
    pub size_after: Option<u64>,
    /// sha256 of the module as left on disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256_after: Option<String>,
    /// Strategies tried and rejected before the kept one, with the reason.
    pub rejected_strategies: Vec<String>,
    /// Passed the loader checks after stripping.
    pub verified: bool,
    /// Why the module is rejected (empty when accepted).
    pub problems: Vec<String>,
    /// Verification warnings (the module is still accepted).
    pub warnings: Vec<String>,
}

impl ModuleResult {
    pub fn accepted(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The kernel the modules were built for.
#[derive(Debug, Clone)]
pub struct ModuleTarget {
    pub facts: KernelFacts,
    pub release: Option<String>,
}

/// Strips then verifies one module. Never fails: every problem ends up in the result.
pub fn strip_and_verify(path: &Path, strategy: Strategy, target: &ModuleTarget) -> ModuleResult {
    let mut result = ModuleResult {
        path: path.to_path_buf(),
        strategy: None,
        tool: None,
        size_before: std::fs::metadata(path).ok().map(|m| m.len()),
        size_after: None,
        sha256_after: None,
        rejected_strategies: Vec::new(),
        verified: false,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    if !path.is_file() {
        result
            .problems
            .push("not found after the build (check --modules and the M= directory)".into());
        return result;
    }
    match strip_module(path, strategy, &target.facts) {
        Ok(record) => {
            result.strategy = Some(record.strategy);
            result.tool = record.tool.clone();
            result.size_before = Some(record.size_before);
            // The file as it is on disk now: what dkms copies and installs.
            result.size_after = std::fs::metadata(path).ok().map(|m| m.len());
            result.sha256_after = record.sha256_after.clone();
            for a in record.attempts.iter().filter(|a| !a.accepted) {
                result.rejected_strategies.push(format!(
                    "{}: {}",
                    strategy_name(a.strategy),
                    a.reason.as_deref().unwrap_or("rejected")
                ));
            }
            if record.strategy == Strategy::Skip && strategy != Strategy::Skip {
                result
                    .warnings
                    .push("left unstripped: no strip strategy produced a proven output".into());
            }
        }
        Err(e) => {
            result.problems.push(format!("strip failed: {e}"));
            return result;
        }
    }
    match verify_module(path, target) {
        Ok(report) => {
            for f in &report.findings {
                let text = match &f.section {
                    Some(s) => format!("{s}: {}", f.message),
                    None => f.message.clone(),
                };
                match f.severity {
                    crate::verify::Severity::Error => result.problems.push(text),
                    crate::verify::Severity::Warning => result.warnings.push(text),
                    crate::verify::Severity::Note => {}
                }
            }
            result.verified = report.passed();
        }
        Err(e) => result.problems.push(format!("verification failed: {e}")),
    }
    result
}

/// The one place `make` calls the strip stage: [`crate::strip::strip_file`] in process
/// (typed record, no second detection, no dependency on finding our own executable).
fn strip_module(
    path: &Path,
    strategy: Strategy,
    facts: &KernelFacts,
) -> Result<crate::strip::StripRecord> {
    let opts = crate::strip::StripOptions {
        strategy,
        facts: Some(facts.clone()),
        // A freshly built module is never signed; refusing one that is keeps a signature
        // from being dropped silently.
        allow_unsign: false,
        output: None,
        record_hashes: true,
    };
    crate::strip::strip_file(path, &opts)
}

/// The one place `make` calls verification: the loader checks against the target kernel.
fn verify_module(path: &Path, target: &ModuleTarget) -> Result<crate::verify::Report> {
    let t = crate::verify::Target {
        facts: Some(target.facts.clone()),
        release: target.release.clone(),
        this_module_size: None,
    };
    crate::verify::verify_file(path, &t, None, true)
}

pub fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::Auto => "auto",
        Strategy::Llvm => "llvm",
        Strategy::Native => "native",
        Strategy::Skip => "skip",
        Strategy::Gnu => "gnu",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_fresh_modules_and_skips_hidden_dirs() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(root.join(".tmp")).unwrap();
        std::fs::write(root.join("old.ko"), b"x").unwrap();
        let old = std::fs::File::options()
            .write(true)
            .open(root.join("old.ko"))
            .unwrap();
        old.set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        let start = SystemTime::now();
        std::fs::write(root.join("a/b/new.ko"), b"x").unwrap();
        std::fs::write(root.join("a/new.o"), b"x").unwrap();
        std::fs::write(root.join(".tmp/hidden.ko"), b"x").unwrap();
        let found = find_built_modules(&[root.to_path_buf()], start);
        assert_eq!(found, vec![root.join("a/b/new.ko")]);
        assert_eq!(
            listed_modules(&[PathBuf::from("x.ko"), PathBuf::from("/abs.ko")], root),
            vec![root.join("x.ko"), PathBuf::from("/abs.ko")]
        );
    }
}
