//! After a successful make: find the modules it built, strip each (auto or `--strategy`) and
//! check each the way the kernel's loader would, so that dkms never has to run its own
//! `strip -g` (dkms.conf sets `STRIP[*]=no`).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};
use crate::strip::{Strategy, StripRecord, StripRequest};
use crate::target::KernelTarget;

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

/// Strips one built module and runs the loader's checks against the kernel on what is kept,
/// in one pass ([`crate::strip::strip_file`]: typed record, no second detection, no second
/// reading of the file).
pub fn strip_built(path: &Path, strategy: Strategy, kernel: &KernelTarget) -> Result<StripRecord> {
    if !path.is_file() {
        return Err(Error::Unreadable {
            path: path.to_path_buf(),
            reason: "not found after the build (check --modules and the M= directory)".into(),
        });
    }
    let req = StripRequest {
        strategy,
        // A freshly built module is never signed; refusing one that is keeps a signature
        // from being dropped silently.
        allow_unsign: false,
        output: None,
        fsync_output: false,
        record_hashes: true,
        cross_check: true,
    };
    crate::strip::strip_file(path, &req, Some(kernel))
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
