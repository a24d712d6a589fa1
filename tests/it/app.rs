//! The app layer's promises, on the real binary: one exit code whatever the order of the
//! files, a JSON record for every input (failures included, absent values null), `--against`
//! output that names a swapped or unrelated pair, `-q`, `--color` and the EXIT STATUS text.

use crate::common::*;
use dkwrap::exit;

/// Runs `dkwrap ARGS FILES` with the files in both orders; both must end alike.
fn same_code_both_orders(args: &[&str], files: &[std::path::PathBuf]) -> i32 {
    let forward = run(dkwrap().args(args).args(files));
    let backward = run(dkwrap().args(args).args(files.iter().rev()));
    assert_eq!(
        code(&forward),
        code(&backward),
        "{args:?}: forward:\n{}\nbackward:\n{}",
        text(&forward),
        text(&backward)
    );
    code(&forward)
}

#[test]
fn several_files_give_the_most_severe_code_in_either_order() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.ko");
    let original = fixture("basic-thinlto.ko");
    let bitcode = fixture("bitcode-thinlto.o");
    // Not-equivalent (the original against itself keeps its debug sections) beats unreadable.
    let against = ["verify", "--against", original.to_str().unwrap()];
    let c = same_code_both_orders(&against, &[original.clone(), missing.clone()]);
    assert_eq!(c, exit::NOT_EQUIVALENT);
    // Invalid (bitcode) beats unreadable.
    let c = same_code_both_orders(&["verify"], &[bitcode.clone(), missing.clone()]);
    assert_eq!(c, exit::INVALID_MODULE);
    // Kernel mismatch and invalid: invalid wins.
    let arm64 = fixture("basic-arm64-thinlto.ko");
    let config = kconfig("thinlto");
    let args = ["verify", "--config", config.to_str().unwrap()];
    let c = same_code_both_orders(&args, &[arm64, bitcode]);
    assert_eq!(c, exit::INVALID_MODULE);
    // strip: a signed module refused (7) and a missing one (3): the refusal wins.
    let signed = copy_to(&fixture("basic-thinlto.signed.ko"), tmp.path(), "s.ko");
    let c = same_code_both_orders(&["strip", "-g"], &[signed, missing]);
    assert_eq!(c, exit::SIGNED_MODULE);
}

#[test]
fn every_input_gets_a_json_record_with_null_for_what_is_absent() {
    let tmp = tempfile::tempdir().unwrap();
    let good = copy_to(&fixture("basic-gcc.ko"), tmp.path(), "good.ko");
    let missing = tmp.path().join("missing.ko");
    let out = run(dkwrap()
        .args(["strip", "-g", "--strategy", "native", "--json"])
        .arg(&good)
        .arg(&missing));
    assert_eq!(code(&out), exit::UNREADABLE, "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let records = v.as_array().expect("an array");
    assert_eq!(records.len(), 2, "{v}");
    assert_eq!(records[0]["ok"], true);
    assert!(records[0]["error"].is_null());
    assert_eq!(records[1]["ok"], false);
    assert_eq!(records[1]["error"]["code"], exit::UNREADABLE);
    assert!(records[1]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("No such file or directory"));
    // Same keys in both records; absent values are null, never omitted.
    let keys = |r: &serde_json::Value| {
        let mut k: Vec<String> = r.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&records[0]), keys(&records[1]));
    assert!(records[1]["size_before"].is_null() && records[1]["strategy"].is_null());
    // verify: the same for a file it cannot read.
    let out = run(dkwrap().args(["verify", "--json"]).arg(&good).arg(&missing));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v[1]["ok"], false);
    assert_eq!(v[1]["error"]["code"], exit::UNREADABLE);
    assert!(v[0]["against"].is_null());
}

#[test]
fn a_swapped_or_unrelated_pair_is_named_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let original = fixture("modeset-like-thinlto.ko");
    let stripped = tmp.path().join("stripped.ko");
    llvm_strip_to(&original, &stripped);
    // Swapped: the original given as the stripped file.
    let out = run(dkwrap()
        .arg("verify")
        .arg("--against")
        .arg(&stripped)
        .arg(&original));
    assert_eq!(code(&out), exit::NOT_EQUIVALENT, "{}", text(&out));
    let t = text(&out);
    assert_eq!(t.matches("look swapped").count(), 1, "{t}");
    assert_eq!(t.matches("debug sections left").count(), 1, "{t}");
    // Unrelated: another module entirely. The output stays short and its counts add up.
    let out = run(dkwrap()
        .arg("verify")
        .arg("--against")
        .arg(fixture("basic-thinlto.ko"))
        .arg(&stripped));
    let t = text(&out);
    assert!(t.contains("look unrelated: .modinfo name"), "{t}");
    assert!(t.lines().count() < 40, "{} lines:\n{t}", t.lines().count());
    for line in t.lines().filter(|l| l.contains("changed, ")) {
        let n = |word: &str| -> usize {
            let before = line.split(&format!(" {word}")).next().unwrap();
            before.rsplit(' ').next().unwrap().parse().unwrap()
        };
        let total: usize = line
            .split(" relocation")
            .next()
            .and_then(|s| s.rsplit(' ').next())
            .and_then(|s| s.parse().ok())
            .expect("a count");
        assert_eq!(n("changed,") + n("lost,") + n("added"), total, "{line}");
        assert!(!line.contains("0xffff"), "{line}");
    }
}

#[test]
fn quiet_color_and_exit_status_help() {
    let tmp = tempfile::tempdir().unwrap();
    let ok = fixture("basic-gcc.ko");
    // -q: nothing on success, the failure on failure.
    let out = run(dkwrap().args(["-q", "verify"]).arg(&ok));
    assert_eq!(code(&out), exit::OK);
    assert!(text(&out).is_empty(), "{}", text(&out));
    let bad = tmp.path().join("empty.ko");
    std::fs::write(&bad, b"").unwrap();
    let out = run(dkwrap().args(["verify", "-q"]).arg(&ok).arg(&bad));
    assert_eq!(code(&out), exit::INVALID_MODULE);
    assert!(text(&out).contains("empty.ko: FAILED"), "{}", text(&out));
    assert!(!text(&out).contains("basic-gcc.ko"), "{}", text(&out));
    // Colour only when asked for (the test's stdout is no terminal); NO_COLOR wins over auto.
    let plain = run(dkwrap().arg("verify").arg(&ok));
    assert!(!text(&plain).contains('\x1b'), "{}", text(&plain));
    let painted = run(dkwrap().args(["--color", "always", "verify"]).arg(&ok));
    assert!(
        text(&painted).contains("\x1b[1;32mOK\x1b[0m"),
        "{}",
        text(&painted)
    );
    let no_color = run(dkwrap()
        .env("NO_COLOR", "1")
        .args(["--color=auto", "verify"])
        .arg(&ok));
    assert!(!text(&no_color).contains('\x1b'));
    // The exit codes are documented in --help, from the one table.
    let help = run(dkwrap().arg("--help"));
    let t = text(&help);
    assert!(t.contains("EXIT STATUS"), "{t}");
    for (code, _, meaning) in exit::TABLE {
        assert!(t.contains(&format!("{code:>3}  {meaning}")), "{code}: {t}");
    }
}
