//! `dkwrap strip` on the committed fixtures with every strategy, and its safety properties:
//! fallbacks, atomic replacement, signatures, compression, symlinks, missing tools.

use crate::common::*;
use dkwrap::exit;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn strip_json(args: &[&str], file: &Path) -> (i32, serde_json::Value, String) {
    let out = run(dkwrap().arg("strip").args(args).arg("--json").arg(file));
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (code(&out), v, text(&out))
}

fn assert_gnu_never_tried(record: &serde_json::Value, output: &str) {
    let attempts = record[0]["attempts"].as_array().expect("attempts");
    assert!(attempts.iter().all(|a| a["strategy"] != "gnu"), "{output}");
}

#[test]
fn every_strategy_on_every_toolchain_produces_a_proven_module() {
    let tmp = tempfile::tempdir().unwrap();
    for (ko, tree) in plain_fixtures() {
        for strategy in ["auto", "llvm", "native", "gnu", "skip"] {
            let name = format!(
                "{}-{strategy}.ko",
                ko.file_stem().unwrap().to_string_lossy()
            );
            let target = copy_to(&ko, tmp.path(), &name);
            let (rc, v, t) = strip_json(
                &[
                    "-g",
                    "--strategy",
                    strategy,
                    "--config",
                    kconfig(&tree).to_str().unwrap(),
                ],
                &target,
            );
            assert_eq!(rc, exit::OK, "{name}: {t}");
            let rec = &v[0];
            let used = rec["strategy"].as_str().unwrap().to_string();
            if strategy == "skip" {
                assert_eq!(used, "skip");
                assert_eq!(sha256(&target), sha256(&ko), "skip must not touch the file");
                continue;
            }
            assert_ne!(used, "skip", "{name}: every strategy fell through: {t}");
            assert_proven(&target, &ko);
            assert_eq!(rec["sha256_after"].as_str().unwrap(), sha256(&target));
            assert!(rec["size_after"].as_u64().unwrap() < rec["size_before"].as_u64().unwrap());
            // What auto chose: llvm for clang kernels, GNU strip for GCC kernels.
            if strategy == "auto" {
                let want = if tree == "gcc" { "gnu" } else { "llvm" };
                assert_eq!(used, want, "{name}: {t}");
            }
        }
    }
}

#[test]
fn thinlto_modeset_like_gnu_strip_is_never_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let orig = fixture("modeset-like-thinlto.ko");
    // Asked for gnu: GNU strip fails or lies, and the chain falls back to a proven output.
    let target = copy_to(&orig, tmp.path(), "gnu.ko");
    let (rc, v, t) = strip_json(&["-g", "--strategy", "gnu"], &target);
    assert_eq!(rc, exit::OK, "{t}");
    let attempts = v[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["strategy"], "gnu");
    assert_eq!(attempts[0]["accepted"], false, "{t}");
    assert_ne!(v[0]["strategy"], "gnu");
    assert_proven(&target, &orig);
    // auto, even on a GCC config, never hands this layout to GNU strip.
    let target = copy_to(&orig, tmp.path(), "auto.ko");
    let (rc, v, t) = strip_json(
        &["-g", "--config", kconfig("gcc").to_str().unwrap()],
        &target,
    );
    assert_eq!(rc, exit::OK, "{t}");
    assert_gnu_never_tried(&v, &t);
    assert_proven(&target, &orig);
}

#[test]
fn native_output_has_the_section_list_of_llvm_strip() {
    let tmp = tempfile::tempdir().unwrap();
    for (ko, _) in plain_fixtures() {
        let native = tmp.path().join("native.ko");
        let reference = tmp.path().join("llvm.ko");
        let out = run(dkwrap()
            .args(["strip", "-g", "--strategy", "native", "-o"])
            .arg(&native)
            .arg(&ko));
        assert_eq!(code(&out), exit::OK, "{}", text(&out));
        llvm_strip_to(&ko, &reference);
        let list = |p: &Path| {
            let data = std::fs::read(p).unwrap();
            let elf = dkwrap::elf::Elf::parse(&data).unwrap();
            // Sizes of the tables both tools regenerate may differ; everything else may not.
            let regenerated = |s: &dkwrap::elf::Section| {
                matches!(
                    s.sh_type,
                    dkwrap::elf::SHT_SYMTAB
                        | dkwrap::elf::SHT_STRTAB
                        | dkwrap::elf::SHT_LLVM_ADDRSIG
                )
            };
            elf.sections
                .iter()
                .map(|s| {
                    (
                        s.name().to_vec(),
                        s.sh_type,
                        s.flags,
                        if regenerated(s) { 0 } else { s.size },
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(list(&native), list(&reference), "{}", ko.display());
        let (a, b) = (
            std::fs::metadata(&native).unwrap().len(),
            std::fs::metadata(&reference).unwrap().len(),
        );
        assert!(
            a.abs_diff(b) <= 512,
            "{}: native {a} bytes, llvm-strip {b} bytes",
            ko.display()
        );
    }
}

/// A simulated GNU strip 2.42 (a test script, not the real tool): prints the exact assertion
/// users reported, exits 0, and writes a module whose relocations were rewritten.
fn fake_lying_strip(dir: &Path, corrupted: &Path) -> PathBuf {
    let bin = dir.join("fakebin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("strip");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n# SIMULATION of GNU strip 2.42 on a ThinLTO module: lies and exits 0.\n\
             if [ \"$1\" = --version ]; then echo 'GNU strip (GNU Binutils) 2.42.0'; exit 0; fi\n\
             out=''\nwhile [ $# -gt 0 ]; do case \"$1\" in -o) out=\"$2\"; shift 2;; *) last=\"$1\"; shift;; esac; done\n\
             [ -n \"$out\" ] || out=\"$last\"\n\
             for i in 1 2 3; do echo 'strip: BFD (GNU Binutils) 2.42.0 assertion fail /usr/src/debug/binutils/binutils-gdb/bfd/elf.c:4131' >&2; done\n\
             cp '{}' \"$out\"\nexit 0\n",
            corrupted.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn a_lying_gnu_strip_is_caught_and_never_replaces_the_original() {
    let tmp = tempfile::tempdir().unwrap();
    let orig = fixture("basic-gcc.ko");
    // The corrupted output: a real strip result with one relocation pointing elsewhere.
    let corrupted = tmp.path().join("corrupted.ko");
    llvm_strip_to(&orig, &corrupted);
    corrupt_one_relocation(&corrupted);
    let bin = fake_lying_strip(tmp.path(), &corrupted);
    let target = copy_to(&orig, tmp.path(), "basic-gcc.ko");
    let path = path_with(&bin);
    let out = run(dkwrap()
        .env("PATH", path)
        .args(["strip", "-g", "--json", "--config"])
        .arg(kconfig("gcc"))
        .arg(&target));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &v[0]["attempts"][0];
    assert_eq!(first["strategy"], "gnu");
    assert_eq!(first["accepted"], false);
    assert!(
        first["reason"].as_str().unwrap().contains("assertion fail"),
        "{}",
        text(&out)
    );
    assert!(first["tool"].as_str().unwrap().contains("fakebin"));
    assert_ne!(sha256(&target), sha256(&corrupted));
    assert_proven(&target, &orig);
    // With the assertion text gone, the proof alone still catches the corruption.
    let quiet = bin.join("strip");
    let script = std::fs::read_to_string(&quiet)
        .unwrap()
        .replace("assertion fail", "all fine");
    std::fs::write(&quiet, script.replace("BFD", "bfd")).unwrap();
    let target = copy_to(&orig, tmp.path(), "basic-gcc-2.ko");
    let out = run(dkwrap()
        .env("PATH", path_with(&bin))
        .args(["strip", "-g", "--json", "--config"])
        .arg(kconfig("gcc"))
        .arg(&target));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v[0]["attempts"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("proof failed"),
        "{}",
        text(&out)
    );
    assert_proven(&target, &orig);
}

#[test]
fn the_real_gnu_strip_2_43_is_caught_on_the_thinlto_fixture() {
    let Some(gnu) = gnu_strip_2_43() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(&gnu, bin.join("strip")).unwrap();
    let orig = fixture("modeset-like-thinlto.ko");
    let target = copy_to(&orig, tmp.path(), "m.ko");
    let out = run(dkwrap()
        .env("PATH", path_with(&bin))
        .args(["strip", "-g", "--strategy", "gnu", "--json"])
        .arg(&target));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &v[0]["attempts"][0];
    assert_eq!(first["accepted"], false, "{}", text(&out));
    assert_eq!(first["tool_version"], "2.43.1");
    assert_proven(&target, &orig);
}

#[test]
fn signed_modules_are_refused_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let orig = fixture("basic-thinlto.signed.ko");
    let target = copy_to(&orig, tmp.path(), "s.ko");
    let out = run(dkwrap().args(["strip", "-g"]).arg(&target));
    assert_eq!(code(&out), exit::SIGNED_MODULE, "{}", text(&out));
    assert!(text(&out).contains("sign-file"), "{}", text(&out));
    assert_eq!(sha256(&target), sha256(&orig));
    let out = run(dkwrap()
        .args(["strip", "-g", "--allow-unsign"])
        .arg(&target));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    assert!(!std::fs::read(&target)
        .unwrap()
        .ends_with(b"~Module signature appended~\n"));
    assert!(text(&out).contains("signature dropped"));
    assert_proven(&target, &fixture("basic-thinlto.ko"));
}

#[test]
fn compressed_modules_stay_compressed_in_their_format() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, magic) in [
        ("basic-thinlto.ko.zst", &[0x28u8, 0xb5, 0x2f, 0xfd][..]),
        ("basic-thinlto.ko.xz", b"\xfd7zXZ\0"),
        ("basic-thinlto.ko.gz", b"\x1f\x8b"),
    ] {
        let target = copy_to(&fixture(name), tmp.path(), name);
        let (rc, v, t) = strip_json(&["-g"], &target);
        assert_eq!(rc, exit::OK, "{name}: {t}");
        assert_eq!(
            v[0]["compression"].as_str().unwrap(),
            dkwrap::modfile::Compression::sniff(magic).unwrap().name()
        );
        assert!(
            std::fs::read(&target).unwrap().starts_with(magic),
            "{name} lost its compression"
        );
        assert_proven(&target, &fixture("basic-thinlto.ko"));
    }
}

#[test]
fn a_symlink_target_is_stripped_and_the_link_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let real = copy_to(&fixture("basic-clang-nolto.ko"), tmp.path(), "real.ko");
    let link = tmp.path().join("link.ko");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = run(dkwrap().args(["strip", "-g"]).arg(&link));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_proven(&real, &fixture("basic-clang-nolto.ko"));
}

#[test]
fn mode_is_kept_and_no_temporary_files_are_left() {
    let tmp = tempfile::tempdir().unwrap();
    let target = copy_to(&fixture("basic-thinlto.ko"), tmp.path(), "m.ko");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = run(dkwrap().args(["strip", "-g"]).arg(&target));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    assert_eq!(
        std::fs::metadata(&target).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("m.ko")]);
}

#[test]
fn a_missing_llvm_strip_falls_back_to_native() {
    let tmp = tempfile::tempdir().unwrap();
    let target = copy_to(&fixture("modeset-like-thinlto.ko"), tmp.path(), "m.ko");
    // A PATH and LLVM root without any llvm-strip.
    let out = run(dkwrap()
        .env("PATH", "/nonexistent")
        .env("DKWRAP_LLVM_ROOT", tmp.path())
        .args(["strip", "-g", "--json"])
        .arg(&target));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["attempts"][0]["strategy"], "llvm");
    assert!(v[0]["attempts"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("not found"));
    assert_eq!(v[0]["strategy"], "native");
    assert_proven(&target, &fixture("modeset-like-thinlto.ko"));
}

#[test]
fn a_read_only_directory_fails_cleanly_and_leaves_the_module() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ro");
    std::fs::create_dir(&dir).unwrap();
    let target = copy_to(&fixture("basic-thinlto.ko"), &dir, "m.ko");
    let before = sha256(&target);
    let bin = env!("CARGO_BIN_EXE_dkwrap");
    // Root ignores directory permissions: make the directory read-only with a private
    // read-only bind mount instead (a mount namespace of this test's own).
    let is_root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    let out = if is_root {
        let script = format!(
            "mount --bind -o ro '{d}' '{d}' && exec '{bin}' strip -g '{t}'",
            d = dir.display(),
            t = target.display()
        );
        run(std::process::Command::new("unshare").args(["-m", "sh", "-c", &script]))
    } else {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        let o = run(dkwrap().args(["strip", "-g"]).arg(&target));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        o
    };
    assert_eq!(code(&out), exit::STRIP_FAILED, "{}", text(&out));
    assert!(
        text(&out).contains("cannot create a temporary file"),
        "{}",
        text(&out)
    );
    assert_eq!(
        text(&out).lines().filter(|l| l.contains("error")).count(),
        1,
        "{}",
        text(&out)
    );
    assert_eq!(sha256(&target), before);
}

#[test]
fn the_huge_modules_when_built() {
    let mut any = false;
    for (var, extended) in [("DKWRAP_HUGE", true), ("DKWRAP_HUGE_DWARF", false)] {
        let Some(huge) = std::env::var_os(var).map(PathBuf::from) else {
            eprintln!("skipping {var}: not set (scripts/huge.sh builds it; CI sets it)");
            continue;
        };
        any = true;
        let data = std::fs::read(&huge).unwrap();
        assert_eq!(
            dkwrap::elf::Elf::parse(&data).unwrap().extended_numbering,
            extended,
            "{var}"
        );
        let tmp = tempfile::tempdir().unwrap();
        for strategy in ["native", "llvm"] {
            let out_path = tmp.path().join(format!("{strategy}.ko"));
            let out = run(dkwrap()
                .args(["strip", "-g", "--strategy", strategy, "-o"])
                .arg(&out_path)
                .arg(&huge));
            assert_eq!(code(&out), exit::OK, "{}", text(&out));
            assert_proven(&out_path, &huge);
        }
    }
    if std::env::var_os("CI").is_some() {
        assert!(any, "CI must build the huge modules (scripts/test-all.sh)");
    }
}

/// Regression: strip tools replace their -o file by rename, so the record (and the mode,
/// owner and fsync) must follow the new file, not the handle opened before the tool ran.
#[test]
fn the_record_describes_the_file_that_landed() {
    let tmp = tempfile::tempdir().unwrap();
    for strategy in ["llvm", "native", "gnu"] {
        let target = copy_to(
            &fixture("basic-gcc.ko"),
            tmp.path(),
            &format!("{strategy}.ko"),
        );
        let (rc, v, t) = strip_json(&["-g", "--strategy", strategy], &target);
        assert_eq!(rc, exit::OK, "{t}");
        assert_eq!(v[0]["strategy"], strategy, "{t}");
        assert_eq!(
            v[0]["size_after"].as_u64().unwrap(),
            std::fs::metadata(&target).unwrap().len(),
            "{strategy}"
        );
        assert_eq!(
            v[0]["sha256_after"].as_str().unwrap(),
            sha256(&target),
            "{strategy}"
        );
    }
}

#[test]
fn arm64_modules_never_reach_the_host_gnu_strip() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["basic-arm64-thinlto.ko", "modeset-like-arm64-thinlto.ko"] {
        let orig = fixture(name);
        // The host's GNU strip cannot read them at all.
        let out = run(std::process::Command::new("strip")
            .arg("-g")
            .arg("-o")
            .arg(tmp.path().join("gnu.ko"))
            .arg(&orig));
        assert!(!out.status.success(), "{}", text(&out));
        assert!(
            text(&out).contains("Unable to recognise the format")
                || text(&out).contains("file format not recognized"),
            "{}",
            text(&out)
        );
        // auto, even told the kernel is GCC-built, does not hand them to it.
        let target = copy_to(&orig, tmp.path(), name);
        let (rc, v, t) = strip_json(
            &["-g", "--config", kconfig("gcc").to_str().unwrap()],
            &target,
        );
        assert_eq!(rc, exit::OK, "{t}");
        assert_gnu_never_tried(&v, &t);
        assert_eq!(v[0]["strategy"], "llvm", "{t}");
        assert_proven(&target, &orig);
        // Native and auto with the arm64 kernel's own config.
        for strategy in ["native", "auto"] {
            let target = copy_to(&orig, tmp.path(), &format!("{strategy}-{name}"));
            let (rc, v, t) = strip_json(
                &[
                    "-g",
                    "--strategy",
                    strategy,
                    "--config",
                    kconfig("arm64-thinlto").to_str().unwrap(),
                ],
                &target,
            );
            assert_eq!(rc, exit::OK, "{t}");
            assert_ne!(v[0]["strategy"], "skip", "{t}");
            let out = run(dkwrap()
                .arg("verify")
                .arg("--config")
                .arg(kconfig("arm64-thinlto"))
                .arg("--against")
                .arg(&orig)
                .arg(&target));
            assert_eq!(code(&out), exit::OK, "{}", text(&out));
        }
    }
}
