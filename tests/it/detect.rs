//! `dkwrap detect` on the committed kernel configs, every config location, the `.comment`
//! cross-check, and bad input.

use crate::common::*;
use dkwrap::exit;
use std::path::Path;

fn detect_json(args: &[&std::ffi::OsStr]) -> (i32, serde_json::Value, String) {
    let out = run(dkwrap().arg("detect").arg("--json").args(args));
    (
        code(&out),
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null),
        text(&out),
    )
}

#[test]
fn thinlto_config_is_clang_19_thin_lto_lld_with_llvm_strip_19() {
    let out = run(dkwrap()
        .arg("detect")
        .arg("--config")
        .arg(kconfig("thinlto")));
    let t = text(&out);
    assert_eq!(code(&out), exit::OK, "{t}");
    assert!(t.contains("compiler        clang 19.1.7"), "{t}");
    assert!(t.contains("LTO             thin"), "{t}");
    assert!(t.contains("linker          ld.lld"), "{t}");
    assert!(
        t.contains("llvm-strip-19") || t.contains("llvm-19/bin/llvm-strip"),
        "{t}"
    );
    assert!(t.lines().count() <= 24, "one screen: {t}");
    let (rc, v, t) = detect_json(&["--config".as_ref(), kconfig("thinlto").as_os_str()]);
    assert_eq!(rc, exit::OK, "{t}");
    assert_eq!(v["kernel"]["compiler"], "clang");
    assert_eq!(v["kernel"]["compiler_major"], 19);
    assert_eq!(v["kernel"]["lto"], "thin");
    assert_eq!(v["kernel"]["linker_lld"], true);
    assert_eq!(v["kernel"]["arch"], "x86_64");
    assert_eq!(v["kernel"]["modversions"], true);
    assert_eq!(v["tools"]["strip"]["role"], "llvm-strip");
    assert!(
        v["tools"]["llvm_make_value"]
            .as_str()
            .is_some_and(|s| s == "-19" || s.contains("llvm-19")),
        "{v}"
    );
}

#[test]
fn other_configs() {
    let (_, v, t) = detect_json(&["--config".as_ref(), kconfig("gcc").as_os_str()]);
    assert_eq!(v["kernel"]["compiler"], "gcc", "{t}");
    assert_eq!(v["kernel"]["lto"], "none");
    assert_eq!(v["tools"]["strip"]["role"], "strip (GNU)");
    assert!(
        v["tools"]["strip"]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("strip")),
        "{t}"
    );
    let (_, v, _) = detect_json(&["--config".as_ref(), kconfig("clang-nolto").as_os_str()]);
    assert_eq!(v["kernel"]["compiler"], "clang");
    assert_eq!(v["kernel"]["lto"], "none");
    let (_, v, _) = detect_json(&["--config".as_ref(), kconfig("arm64-thinlto").as_os_str()]);
    assert_eq!(v["kernel"]["arch"], "arm64");
    assert_eq!(v["kernel"]["lto"], "thin");
}

fn write(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn gzip(data: &[u8]) -> Vec<u8> {
    dkwrap::modfile::Compression::Gzip.compress(data).unwrap()
}

#[test]
fn every_config_location_in_order() {
    let thin = std::fs::read(kconfig("thinlto")).unwrap();
    let gcc = std::fs::read(kconfig("gcc")).unwrap();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let kver = "6.1.0-test";
    let compiler = |args: &[&std::ffi::OsStr]| {
        let (rc, v, t) = detect_json(args);
        assert_eq!(rc, exit::OK, "{t}");
        v["kernel"]["compiler"].as_str().unwrap().to_string()
            + ":"
            + v["kernel"]["config_path"].as_str().unwrap()
    };
    let base: Vec<&std::ffi::OsStr> = vec![
        "--root".as_ref(),
        r.as_os_str(),
        "--kernel".as_ref(),
        kver.as_ref(),
    ];
    // /proc/config.gz only for the running kernel.
    write(
        &r.join("proc/sys/kernel/osrelease"),
        format!("{kver}\n").as_bytes(),
    );
    write(&r.join("proc/config.gz"), &gzip(&gcc));
    assert!(compiler(&base).ends_with("proc/config.gz"));
    assert!(compiler(&base).starts_with("gcc"));
    // /boot/config-KVER wins over /proc/config.gz.
    write(&r.join(format!("boot/config-{kver}")), &thin);
    assert!(compiler(&base).ends_with(&format!("boot/config-{kver}")));
    // <build>/.config wins over /boot.
    let build = r.join(format!("lib/modules/{kver}/build"));
    write(&build.join(".config"), &gcc);
    assert!(compiler(&base).ends_with("build/.config"));
    // <build>/include/config/auto.conf wins over .config.
    write(&build.join("include/config/auto.conf"), &thin);
    assert_eq!(compiler(&base).split(':').next(), Some("clang"));
    assert!(compiler(&base).ends_with("include/config/auto.conf"));
    // --kernel-dir reads that tree; its release comes from include/config/kernel.release.
    write(
        &build.join("include/config/kernel.release"),
        format!("{kver}\n").as_bytes(),
    );
    let (_, v, _) = detect_json(&["--kernel-dir".as_ref(), build.as_os_str()]);
    assert_eq!(v["release"], kver);
    // Without any argument: the running kernel (from the root's osrelease).
    assert!(compiler(&["--root".as_ref(), r.as_os_str()]).ends_with("include/config/auto.conf"));
    // /proc/config.gz is not used for a kernel that is not running.
    std::fs::remove_dir_all(r.join("lib")).unwrap();
    std::fs::remove_dir_all(r.join("boot")).unwrap();
    let (rc, _, t) = detect_json(&[
        "--root".as_ref(),
        r.as_os_str(),
        "--kernel".as_ref(),
        "5.0.0-other".as_ref(),
    ]);
    assert_eq!(rc, exit::NO_KERNEL_CONFIG, "{t}");
}

#[test]
fn module_comment_is_cross_checked() {
    let (_, v, t) = detect_json(&[
        "--config".as_ref(),
        kconfig("thinlto").as_os_str(),
        "--module".as_ref(),
        fixture("modeset-like-thinlto.ko").as_os_str(),
    ]);
    assert_eq!(v["cross_check"][0]["agrees"], true, "{t}");
    assert!(v["cross_check"][0]["compilers"]
        .to_string()
        .contains("19.1.7"));
    // A GCC-built module against the clang kernel: said, not fatal.
    let out = run(dkwrap()
        .arg("detect")
        .arg("--config")
        .arg(kconfig("thinlto"))
        .arg("--module")
        .arg(fixture("basic-gcc.ko")));
    assert_eq!(code(&out), exit::OK);
    assert!(text(&out).contains("DISAGREES"), "{}", text(&out));
    assert!(
        text(&out).contains("was built with gcc 12.2.0, but the kernel config says clang 19.1.7"),
        "{}",
        text(&out)
    );
    // An arm64 module against the x86-64 kernel.
    let out = run(dkwrap()
        .arg("detect")
        .arg("--config")
        .arg(kconfig("thinlto"))
        .arg("--module")
        .arg(fixture("basic-arm64-thinlto.ko")));
    assert!(
        text(&out).contains("is an arm64 object, but the kernel is x86_64"),
        "{}",
        text(&out)
    );
}

#[test]
fn bad_input_is_one_line_and_a_distinct_code() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    let cases: Vec<(Vec<std::ffi::OsString>, i32, &str)> = vec![
        (
            vec!["--root".into(), r.into(), "--kernel".into(), "9.9.9".into()],
            exit::NO_KERNEL_CONFIG,
            "no kernel configuration found",
        ),
        (
            vec!["--config".into(), r.join("missing").into()],
            exit::NO_KERNEL_CONFIG,
            "no kernel configuration found",
        ),
        (
            {
                write(&r.join("bad.gz"), b"\x1f\x8b\x08garbage");
                vec!["--config".into(), r.join("bad.gz").into()]
            },
            exit::NO_KERNEL_CONFIG,
            "corrupt gzip stream",
        ),
        (
            {
                write(&r.join("nocc"), b"CONFIG_X86_64=y\nCONFIG_MODVERSIONS=y\n");
                vec!["--config".into(), r.join("nocc").into()]
            },
            exit::NO_KERNEL_CONFIG,
            "neither CONFIG_CC_IS_CLANG nor CONFIG_CC_IS_GCC",
        ),
        (
            {
                write(&r.join("text"), b"hello\n");
                vec!["--config".into(), r.join("text").into()]
            },
            exit::NO_KERNEL_CONFIG,
            "not a kernel config line",
        ),
        (
            {
                write(&r.join("notelf.ko"), b"not an elf file at all");
                vec![
                    "--config".into(),
                    kconfig("thinlto").into(),
                    "--module".into(),
                    r.join("notelf.ko").into(),
                ]
            },
            exit::UNREADABLE,
            "no ELF magic",
        ),
    ];
    for (args, want, needle) in cases {
        let out = run(dkwrap().arg("detect").args(&args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), want, "{args:?}: {}", text(&out));
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
}
