//! dkwrap called through its shim links (`strip`, `llvm-strip`, `x86_64-linux-gnu-strip`,
//! `make`), as dkms runs it once `dkwrap dkms install-integration` put the shim first on
//! PATH; and the install-integration / remove-integration / status commands.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// A shim directory holding `name` → the dkwrap binary, first on PATH (as in dkms).
fn shim(dir: &Path, names: &[&str]) -> PathBuf {
    let shim = dir.join("shim");
    std::fs::create_dir_all(&shim).unwrap();
    for n in names {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_dkwrap"), shim.join(n)).unwrap();
    }
    shim
}

fn as_tool(shim: &Path, name: &str) -> Command {
    let mut c = Command::new(shim.join(name));
    c.env("PATH", path_with(shim)).env_remove("RUST_LOG");
    c
}

fn stderr_lines(o: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn version_has_gnu_strips_first_line_and_names_dkwrap() {
    let tmp = tempfile::tempdir().unwrap();
    let names = ["strip", "llvm-strip", "x86_64-linux-gnu-strip"];
    let shim = shim(tmp.path(), &names);
    for name in names {
        for flag in ["--version", "-V"] {
            let out = run(as_tool(&shim, name).arg(flag));
            assert_eq!(code(&out), 0, "{name} {flag}: {}", text(&out));
            let stdout = String::from_utf8_lossy(&out.stdout);
            let first = stdout.lines().next().unwrap_or("");
            assert!(first.starts_with("GNU strip (dkwrap "), "{first}");
            assert_eq!(first.split_whitespace().last(), Some("2.40"), "{first}");
        }
    }
}

#[test]
fn unsupported_options_are_refused_in_one_line_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let shim = shim(tmp.path(), &["strip"]);
    let target = copy_to(&fixture("basic-thinlto.ko"), tmp.path(), "m.ko");
    let before = sha256(&target);
    for (args, named) in [
        (vec!["--strip-all"], "--strip-all"),
        (vec!["-g", "-R", ".text"], "-R"),
        (vec!["-gK", "sym"], "-K"),
        (vec!["--manifest", "x.jsonl"], "--manifest"),
    ] {
        let out = run(as_tool(&shim, "strip").args(&args).arg(&target));
        assert_eq!(code(&out), 2, "{args:?}: {}", text(&out));
        let lines = stderr_lines(&out);
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert!(lines[0].contains(&format!("'{named}'")), "{}", lines[0]);
        assert_eq!(sha256(&target), before);
    }
}

#[test]
fn modules_are_stripped_and_proven_under_every_gnu_spelling() {
    let tmp = tempfile::tempdir().unwrap();
    let shim = shim(tmp.path(), &["strip", "llvm-strip"]);
    // GNU strip 2.43.1 (which corrupts this module and exits 0) after the shim, as in dkms.
    let path = match gnu_strip_2_43() {
        Some(gnu) => {
            let bin = tmp.path().join("gnu");
            std::fs::create_dir_all(&bin).unwrap();
            std::os::unix::fs::symlink(gnu, bin.join("strip")).unwrap();
            format!("{}:{}", shim.display(), path_with(&bin))
        }
        None => path_with(&shim),
    };
    let orig = fixture("modeset-like-thinlto.ko");
    for (name, flags) in [
        ("strip", vec!["-g"]),
        ("strip", vec!["-S"]),
        ("strip", vec!["-d"]),
        ("strip", vec!["--strip-debug"]),
        ("strip", vec!["--strip-unneeded"]),
        ("llvm-strip", vec!["-g", "--"]),
    ] {
        let target = copy_to(&orig, tmp.path(), "m.ko");
        let out = run(as_tool(&shim, name)
            .env("PATH", &path)
            .args(&flags)
            .arg(&target));
        assert_eq!(code(&out), 0, "{name} {flags:?}: {}", text(&out));
        assert!(
            !text(&out).contains("assertion fail"),
            "GNU strip must not be used: {}",
            text(&out)
        );
        assert!(
            text(&out).contains("proven: OK"),
            "{name} {flags:?}: {}",
            text(&out)
        );
        assert_proven(&target, &orig);
    }
}

#[test]
fn output_file_and_preserved_dates_and_several_files() {
    let tmp = tempfile::tempdir().unwrap();
    let shim = shim(tmp.path(), &["strip"]);
    let input = copy_to(&fixture("basic-gcc.ko"), tmp.path(), "in.ko");
    let when = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(&input)
        .unwrap()
        .set_times(
            std::fs::FileTimes::new()
                .set_modified(when)
                .set_accessed(when),
        )
        .unwrap();
    let before = sha256(&input);
    let output = tmp.path().join("out.ko");
    let out = run(as_tool(&shim, "strip")
        .args(["-g", "-p", "-o"])
        .arg(&output)
        .arg(&input));
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(sha256(&input), before, "-o must leave the input alone");
    assert_proven(&output, &fixture("basic-gcc.ko"));
    let modified = std::fs::metadata(&output).unwrap().modified().unwrap();
    assert_eq!(modified, when, "-p keeps the input's modification time");

    let a = copy_to(&fixture("basic-clang-nolto.ko"), tmp.path(), "a.ko");
    let b = copy_to(&fixture("modeset-like-clang-nolto.ko"), tmp.path(), "b.ko");
    let out = run(as_tool(&shim, "strip").arg("-g").arg(&a).arg(&b));
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_proven(&a, &fixture("basic-clang-nolto.ko"));
    assert_proven(&b, &fixture("modeset-like-clang-nolto.ko"));
}

#[test]
fn a_file_that_is_not_a_module_goes_to_the_real_strip_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let shim = shim(tmp.path(), &["strip"]);
    let src = tmp.path().join("hello.c");
    std::fs::write(&src, "int main(void) { return 0; }\n").unwrap();
    let exe = tmp.path().join("hello");
    let cc = run(Command::new("gcc").arg("-g").arg("-o").arg(&exe).arg(&src));
    assert_eq!(code(&cc), 0, "{}", text(&cc));
    let has_debug = |p: &Path| {
        let o = run(Command::new("llvm-readelf-19").arg("-S").arg(p));
        String::from_utf8_lossy(&o.stdout).contains(".debug_info")
    };
    assert!(has_debug(&exe));
    let out = run(as_tool(&shim, "strip").arg("-g").arg(&exe));
    assert_eq!(code(&out), 0, "{}", text(&out));
    let lines = stderr_lines(&out);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("is not a kernel module: handed to /")),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("shim")),
        "the real strip, not the shim: {lines:?}"
    );
    assert!(
        !has_debug(&exe),
        "the real strip removed the debug sections"
    );
}

#[test]
fn a_signed_module_is_left_unstripped_and_intact_with_exit_0() {
    let tmp = tempfile::tempdir().unwrap();
    let shim = shim(tmp.path(), &["strip"]);
    let target = copy_to(&fixture("basic-thinlto.signed.ko"), tmp.path(), "s.ko");
    let before = sha256(&target);
    let out = run(as_tool(&shim, "strip").arg("-g").arg(&target));
    assert_eq!(code(&out), 0, "{}", text(&out));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("left unstripped and intact"), "{lines:?}");
    assert_eq!(sha256(&target), before);
}

#[test]
fn make_targets_that_build_no_module_run_the_real_make_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let shim = shim(tmp.path(), &["make"]);
    let pkg = tmp.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    // `clean` calls plain `make` (the shim again, nested) and reports what $(MAKE) is.
    std::fs::write(
        pkg.join("Makefile"),
        "clean:\n\t@echo cleaned MAKE=$(MAKE)\n\tmake -s -C sub clean\n",
    )
    .unwrap();
    std::fs::create_dir_all(pkg.join("sub")).unwrap();
    std::fs::write(pkg.join("sub/Makefile"), "clean:\n\t@echo sub cleaned\n").unwrap();
    for args in [
        vec!["clean"],
        vec!["-j2", "KERNELRELEASE=6.1.0-nonexistent", "clean"],
        vec!["KERNEL_UNAME=6.1.0-nonexistent", "clean"],
    ] {
        let out = run(as_tool(&shim, "make").current_dir(&pkg).args(&args));
        assert_eq!(code(&out), 0, "{args:?}: {}", text(&out));
        let t = text(&out);
        assert!(t.contains("cleaned MAKE="), "{t}");
        assert!(t.contains("sub cleaned"), "{t}");
        assert!(!t.contains("dkwrap"), "passed through quietly: {t}");
        assert!(!t.contains("/shim/make"), "$(MAKE) is the real make: {t}");
    }
    // A module build that names no kernel is not guessed at: make runs unchanged.
    std::fs::write(pkg.join("Makefile"), "modules:\n\t@echo built\n").unwrap();
    let out = run(as_tool(&shim, "make").current_dir(&pkg).arg("modules"));
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("built"));
}

#[test]
fn install_integration_with_debians_dkms_is_idempotent_and_removable() {
    let dkms = Path::new("/usr/sbin/dkms");
    if !dkms.is_file() {
        eprintln!("SKIP: no /usr/sbin/dkms (scripts/lib.sh installs it)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path();
    std::fs::create_dir_all(prefix.join("etc/dkms")).unwrap();
    let integrate = |verb: &str| {
        run(dkwrap()
            .args(["dkms", verb, "--dkms"])
            .arg(dkms)
            .arg("--prefix")
            .arg(prefix))
    };
    let out = integrate("install-integration");
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("dkms wrapper"), "{}", text(&out));
    let wrapper = prefix.join("usr/local/sbin/dkms");
    let w = std::fs::read_to_string(&wrapper).unwrap();
    assert!(w.contains("exec '/usr/sbin/dkms' \"$@\""), "{w}");
    // The wrapper really runs dkms with the shim first on PATH.
    let v = run(Command::new(&wrapper).arg("--version"));
    assert_eq!(code(&v), 0, "{}", text(&v));
    assert!(text(&v).contains("dkms-3."), "{}", text(&v));
    assert_eq!(
        std::fs::canonicalize(prefix.join("usr/lib/dkwrap/shim/strip")).unwrap(),
        std::fs::canonicalize(env!("CARGO_BIN_EXE_dkwrap")).unwrap()
    );
    let again = integrate("install-integration");
    assert_eq!(code(&again), 0);
    assert!(
        text(&again).contains("already installed"),
        "{}",
        text(&again)
    );
    let status = integrate("status");
    assert_eq!(code(&status), 0, "{}", text(&status));
    assert!(text(&status).contains("active: yes"));
    let removed = integrate("remove-integration");
    assert_eq!(code(&removed), 0, "{}", text(&removed));
    let left: Vec<_> = walk(prefix);
    assert_eq!(left, vec!["etc/", "etc/dkms/"], "nothing of dkwrap is left");
    let status = integrate("status");
    assert_eq!(code(&status), 11, "{}", text(&status));
}

#[test]
fn an_unknown_dkms_is_refused_in_one_line_with_exit_14() {
    let tmp = tempfile::tempdir().unwrap();
    // Simulated: dkms 2.x and a dkms that prints no version do not exist on this machine.
    let fake = tmp.path().join("simulated-dkms");
    for version_line in ["dkms-2.8.7", "no version here"] {
        std::fs::write(&fake, format!("#!/bin/sh\necho '{version_line}'\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let prefix = tmp.path().join("root");
        std::fs::create_dir_all(prefix.join("etc/dkms")).unwrap();
        let out = run(dkwrap()
            .args(["dkms", "install-integration", "--dkms"])
            .arg(&fake)
            .arg("--prefix")
            .arg(&prefix));
        assert_eq!(code(&out), 14, "{}", text(&out));
        assert_eq!(stderr_lines(&out).len(), 1, "{}", text(&out));
        assert_eq!(walk(&prefix), vec!["etc/", "etc/dkms/"], "nothing written");
    }
}

/// Every path under `dir`, relative, directories with a trailing slash, sorted.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
                out.push(format!("{rel}/"));
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}
