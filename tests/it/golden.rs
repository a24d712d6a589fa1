//! Golden results on every committed fixture: the bytes native strip writes (as sha256) and
//! the verdicts of plain `verify` (exit code and every finding). Refactors must leave both
//! unchanged; a deliberate change regenerates them with
//! `DKWRAP_UPDATE_GOLDEN=1 cargo test --release --test it golden::` and says why in its commit.

use std::path::{Path, PathBuf};

use crate::common::*;

fn golden_path(name: &str) -> PathBuf {
    repo().join("tests/golden").join(name)
}

/// Compares `actual` with the committed golden file, or rewrites it when asked to.
fn check_golden(name: &str, actual: &str) {
    let path = golden_path(name);
    if std::env::var_os("DKWRAP_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("tests/golden")).expect("mkdir");
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (DKWRAP_UPDATE_GOLDEN=1 creates it)",
            path.display()
        )
    });
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .filter(|(a, b)| a != b)
            .take(10)
            .map(|(a, b)| format!("- {a}\n+ {b}"))
            .collect();
        panic!(
            "{} changed ({} lines expected, {} now):\n{}",
            path.display(),
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}

/// Every committed fixture (modules, compressed and signed ones, the bitcode object).
fn all_fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("testdata/modules"))
        .expect("testdata/modules")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n != "MANIFEST"))
        .collect();
    v.sort();
    v
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// The tree a fixture was built for (its kernel configuration is testdata/kconfig/TREE.config).
fn tree_of(name: &str) -> &'static str {
    let stem = name.split('.').next().unwrap_or(name);
    ["arm64-thinlto", "clang-nolto", "thinlto", "gcc"]
        .into_iter()
        .find(|t| stem.ends_with(t))
        .unwrap_or_else(|| panic!("fixture {name} names no tree"))
}

#[test]
fn native_strip_output_bytes_are_unchanged() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut lines = Vec::new();
    for fixture in all_fixtures() {
        let name = name_of(&fixture);
        if name.ends_with(".o") {
            continue;
        }
        let out_path = tmp.path().join(&name);
        let out = run(dkwrap()
            .args([
                "strip",
                "-g",
                "--strategy",
                "native",
                "--allow-unsign",
                "-o",
            ])
            .arg(&out_path)
            .arg(&fixture));
        assert_eq!(code(&out), dkwrap::exit::OK, "{name}: {}", text(&out));
        // Compressed outputs depend on the compressor's version; the module inside does not.
        let plain = tmp.path().join(format!("{name}.plain"));
        let module = dkwrap::modfile::ModuleFile::open(&out_path).expect("read output");
        std::fs::write(&plain, module.elf_bytes()).expect("write plain");
        lines.push(format!("{name}\t{}", sha256(&plain)));
    }
    check_golden("native-strip.sha256", &(lines.join("\n") + "\n"));
}

/// One line per finding: severity, category, section and message, in report order.
/// `tree`: check against that tree's configuration too.
fn verdict_lines(name: &str, tree: Option<&str>, fixture: &Path) -> Vec<String> {
    let mut cmd = dkwrap();
    cmd.args(["verify", "--json"]);
    if let Some(t) = tree {
        cmd.arg("--config").arg(kconfig(t));
    }
    let out = run(cmd.arg(fixture));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {}", text(&out)));
    let against = tree.map_or(String::new(), |t| format!(" --config {t}"));
    let mut lines = vec![format!("{name}{against} exit={}", code(&out))];
    for f in report[0]["findings"].as_array().expect("findings") {
        let field = |k: &str| f[k].as_str().unwrap_or("-").to_string();
        lines.push(format!(
            "  {} {} {} {}",
            field("severity"),
            field("category"),
            field("section"),
            // The report names the file; a message may repeat it (without it, no
            // absolute path of this machine lands in the golden file).
            field("message").replace(&format!("{}: ", fixture.display()), "")
        ));
    }
    lines
}

#[test]
fn verify_verdicts_are_unchanged() {
    let mut lines = Vec::new();
    for fixture in all_fixtures() {
        let name = name_of(&fixture);
        lines.extend(verdict_lines(&name, None, &fixture));
        lines.extend(verdict_lines(&name, Some(tree_of(&name)), &fixture));
    }
    check_golden("verify-verdicts.txt", &(lines.join("\n") + "\n"));
}
