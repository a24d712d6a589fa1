//! Records the git revision dkwrap is built from, for `dkwrap --version`.
//!
//! `DKWRAP_GIT_REV` wins; else `git rev-parse --short HEAD` when this crate is the top of its
//! repository; else `packaging/GIT_REVISION`, which `git archive` fills in (export-subst in
//! .gitattributes) so that a source tarball knows its revision; else "unknown". A missing git
//! never fails the build.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DKWRAP_GIT_REV");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let rev = std::env::var("DKWRAP_GIT_REV")
        .ok()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .or_else(|| git_revision(&manifest_dir))
        .or_else(|| archived_revision(&manifest_dir))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=DKWRAP_GIT_REV={rev}");
}

fn git_revision(manifest_dir: &Path) -> Option<String> {
    let top = git(manifest_dir, &["rev-parse", "--show-toplevel"])?;
    // A source tarball unpacked inside another repository (a packager's checkout) must not
    // report that repository's revision.
    if std::fs::canonicalize(&top).ok()? != std::fs::canonicalize(manifest_dir).ok()? {
        return None;
    }
    // Rebuild when HEAD moves: HEAD itself, the branch it points to, packed refs. Only files
    // that exist, since a missing one would make cargo rerun this script on every build.
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(manifest_dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in &watched {
        if let Some(path) = git(manifest_dir, &["rev-parse", "--git-path", name]) {
            let path = manifest_dir.join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    git(manifest_dir, &["rev-parse", "--short", "HEAD"])
}

/// The revision `git archive` wrote into packaging/GIT_REVISION (`$Format:%h$` in the repository).
fn archived_revision(manifest_dir: &Path) -> Option<String> {
    let path = manifest_dir.join("packaging/GIT_REVISION");
    println!("cargo:rerun-if-changed={}", path.display());
    let text = std::fs::read_to_string(path).ok()?;
    let rev = text.trim();
    let is_hex = !rev.is_empty() && rev.chars().all(|c| c.is_ascii_hexdigit());
    is_hex.then(|| rev.to_owned())
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
