//! `dkwrap verify` on the committed fixtures, on real strip outputs, and on broken input.

use crate::common::*;
use dkwrap::elf::Elf;
use dkwrap::exit;

#[test]
fn every_committed_fixture_passes() {
    for (ko, tree) in plain_fixtures() {
        let out = run(dkwrap()
            .arg("verify")
            .arg("--config")
            .arg(kconfig(&tree))
            .arg(&ko));
        assert_eq!(code(&out), exit::OK, "{}:\n{}", ko.display(), text(&out));
        assert!(text(&out).contains(": OK ("), "{}", text(&out));
    }
    for name in [
        "basic-thinlto.ko.zst",
        "basic-thinlto.ko.xz",
        "basic-thinlto.ko.gz",
        "basic-thinlto.signed.ko",
    ] {
        let out = run(dkwrap().arg("verify").arg(fixture(name)));
        assert_eq!(code(&out), exit::OK, "{name}:\n{}", text(&out));
    }
    let out = run(dkwrap()
        .arg("verify")
        .arg(fixture("basic-thinlto.signed.ko")));
    assert!(text(&out).contains("signed"), "{}", text(&out));
}

#[test]
fn llvm_strip_outputs_are_proven_equivalent() {
    let tmp = tempfile::tempdir().unwrap();
    for (ko, _) in plain_fixtures() {
        let out_path = tmp.path().join("stripped.ko");
        llvm_strip_to(&ko, &out_path);
        let out = run(dkwrap()
            .arg("verify")
            .arg("--against")
            .arg(&ko)
            .arg(&out_path));
        assert_eq!(code(&out), exit::OK, "{}:\n{}", ko.display(), text(&out));
        // The proof also notices the debug sections that llvm-strip removed were there.
        let same = run(dkwrap().arg("verify").arg("--against").arg(&ko).arg(&ko));
        assert_eq!(
            code(&same),
            exit::NOT_EQUIVALENT,
            "an unstripped file is not 'original minus debug'"
        );
        assert!(
            text(&same).contains("debug sections left"),
            "{}",
            text(&same)
        );
    }
}

#[test]
fn a_corrupted_relocation_fails_the_proof_and_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    for name in [
        "modeset-like-thinlto.ko",
        "basic-gcc.ko",
        "modeset-like-arm64-thinlto.ko",
    ] {
        let orig = fixture(name);
        let stripped = tmp.path().join(name);
        llvm_strip_to(&orig, &stripped);
        let (section, offset) = corrupt_one_relocation(&stripped);
        let out = run(dkwrap()
            .arg("verify")
            .arg("--against")
            .arg(&orig)
            .arg(&stripped));
        assert_eq!(code(&out), exit::NOT_EQUIVALENT, "{}", text(&out));
        let needle = format!("`{section}+{offset:#x}`: was ");
        assert!(
            text(&out).contains(&needle),
            "expected {needle:?} in:\n{}",
            text(&out)
        );
        assert!(
            text(&out).contains("differ from the original: 1 changed, 0 lost, 0 added"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn gnu_strip_output_on_the_thinlto_fixture_is_judged_not_assumed() {
    let tmp = tempfile::tempdir().unwrap();
    let orig = fixture("modeset-like-thinlto.ko");
    let mut stripped_any = false;
    let mut tools = vec![std::path::PathBuf::from("/usr/bin/strip")];
    tools.extend(gnu_strip_2_43());
    for tool in tools.iter().filter(|t| t.is_file()) {
        let out_path = tmp.path().join("gnu.ko");
        let _ = std::fs::remove_file(&out_path);
        let st = run(std::process::Command::new(tool)
            .arg("-g")
            .arg("-o")
            .arg(&out_path)
            .arg(&orig));
        if !st.status.success() || !out_path.is_file() {
            eprintln!(
                "{} refused the module: {}",
                tool.display(),
                text(&st).lines().next().unwrap_or("")
            );
            continue;
        }
        stripped_any = true;
        let out = run(dkwrap()
            .arg("verify")
            .arg("--against")
            .arg(&orig)
            .arg(&out_path));
        // Whatever GNU strip did while exiting 0, the proof must reject it.
        assert_ne!(
            code(&out),
            exit::OK,
            "{} output passed the proof:\n{}",
            tool.display(),
            text(&out)
        );
        eprintln!(
            "{}: {}",
            tool.display(),
            text(&out).lines().last().unwrap_or("")
        );
    }
    if tools.len() > 1 {
        assert!(
            stripped_any,
            "GNU strip 2.43.1 is expected to exit 0 on this fixture"
        );
    }
}

#[test]
fn layout_notes_name_what_gnu_strip_corrupts() {
    let out = run(dkwrap()
        .arg("verify")
        .arg(fixture("modeset-like-thinlto.ko")));
    let t = text(&out);
    assert_eq!(code(&out), exit::OK, "{t}");
    assert!(
        t.contains("relocation sections apply to this section"),
        "{t}"
    );
    assert!(t.contains("section groups"), "{t}");
}

#[test]
fn json_output_lists_findings_as_data() {
    let out = run(dkwrap()
        .args(["verify", "--json"])
        .arg(fixture("modeset-like-thinlto.ko")));
    assert_eq!(code(&out), exit::OK);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let findings = v[0]["findings"].as_array().expect("findings");
    assert!(findings
        .iter()
        .any(|f| f["category"] == "layout" && f["severity"] == "note"));
    assert_eq!(v[0]["machine"], "x86_64");
}

#[test]
fn kernel_mismatches_are_reported_with_their_own_code() {
    // A kernel build directory whose release differs from the module's vermagic.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("include/config")).unwrap();
    std::fs::copy(kconfig("thinlto"), tmp.path().join(".config")).unwrap();
    std::fs::write(
        tmp.path().join("include/config/kernel.release"),
        "6.1.0-other\n",
    )
    .unwrap();
    let out = run(dkwrap()
        .arg("verify")
        .arg("--kernel-dir")
        .arg(tmp.path())
        .arg(fixture("basic-thinlto.ko")));
    assert_eq!(code(&out), exit::KERNEL_MISMATCH, "{}", text(&out));
    assert!(text(&out).contains("vermagic release"), "{}", text(&out));
    // An arm64 module checked against the x86-64 kernel.
    let out = run(dkwrap()
        .arg("verify")
        .arg("--config")
        .arg(kconfig("thinlto"))
        .arg(fixture("basic-arm64-thinlto.ko")));
    assert_eq!(code(&out), exit::KERNEL_MISMATCH, "{}", text(&out));
    assert!(
        text(&out).contains("module is for aarch64"),
        "{}",
        text(&out)
    );
    // .gnu.linkonce.this_module of another size (struct module differs between trees).
    let out = run(dkwrap()
        .args(["verify", "--this-module-size", "1"])
        .arg(fixture("basic-thinlto.ko")));
    assert_eq!(code(&out), exit::KERNEL_MISMATCH, "{}", text(&out));
}

#[test]
fn bad_input_gets_one_clear_error_and_its_own_code() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.ko");
    std::fs::write(&empty, b"").unwrap();
    let no_modules = tmp.path().join("no-modules");
    std::fs::create_dir(&no_modules).unwrap();
    let cases: Vec<(std::path::PathBuf, i32, &str)> = vec![
        (empty, exit::INVALID_MODULE, "empty file"),
        // A directory is searched for modules (issue 12); one without any is unreadable input.
        (no_modules, exit::UNREADABLE, "no kernel modules"),
        (
            tmp.path().join("missing.ko"),
            exit::UNREADABLE,
            "No such file",
        ),
        (
            fixture("bitcode-thinlto.o"),
            exit::INVALID_MODULE,
            "LLVM bitcode",
        ),
    ];
    for (path, want, needle) in cases {
        let out = run(dkwrap().arg("verify").arg(&path));
        assert_eq!(code(&out), want, "{}: {}", path.display(), text(&out));
        assert!(
            text(&out).contains(needle),
            "{}: {}",
            path.display(),
            text(&out)
        );
    }
    // A signed module whose trailer claims a longer signature than the file has.
    let signed = copy_to(
        &fixture("basic-thinlto.signed.ko"),
        tmp.path(),
        "damaged.ko",
    );
    let mut d = std::fs::read(&signed).unwrap();
    let n = d.len() - 28 - 4;
    d[n..n + 4].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    std::fs::write(&signed, d).unwrap();
    let out = run(dkwrap().arg("verify").arg(&signed));
    assert_eq!(code(&out), exit::INVALID_MODULE, "{}", text(&out));
    assert!(
        text(&out).contains("damaged signature trailer"),
        "{}",
        text(&out)
    );
    // A corrupt zstd stream.
    let zst = copy_to(&fixture("basic-thinlto.ko.zst"), tmp.path(), "bad.ko.zst");
    let mut d = std::fs::read(&zst).unwrap();
    d.truncate(d.len() / 2);
    std::fs::write(&zst, d).unwrap();
    let out = run(dkwrap().arg("verify").arg(&zst));
    assert_eq!(code(&out), exit::UNREADABLE, "{}", text(&out));
    assert!(text(&out).contains("corrupt zstd stream"), "{}", text(&out));
}

/// Parsing and checking never panic, whatever the bytes: truncation at every header
/// boundary and a sweep, and bit flips in the ELF header and section headers.
#[test]
fn truncated_and_bit_flipped_modules_never_panic() {
    use dkwrap::proof::check_equivalence;
    use dkwrap::verify::{check_module, Expectations};
    let data = std::fs::read(fixture("modeset-like-thinlto.ko")).unwrap();
    let orig = Elf::parse(&data).unwrap();
    let mut cuts: Vec<usize> = (0..=64).collect();
    for s in &orig.sections {
        cuts.push(orig.section_header_offset(s.index()) as usize);
        cuts.push(s.offset as usize);
        cuts.push((s.offset + s.size) as usize);
    }
    cuts.extend((0..data.len()).step_by(997));
    let mut rejected = 0;
    for cut in cuts.into_iter().filter(|&c| c < data.len()) {
        match Elf::parse(&data[..cut]) {
            Err(_) => rejected += 1,
            Ok(e) => {
                let mut f = Vec::new();
                check_module(&e, None, &Expectations::default(), &mut f);
                check_equivalence(&e, &orig, false, &mut f);
                assert!(
                    f.iter()
                        .any(|x| x.severity == dkwrap::finding::Severity::Error),
                    "truncated at {cut} passed"
                );
            }
        }
    }
    assert!(rejected > 0);
    // Deterministic pseudo-random bit flips (xorshift) in the ELF header and the section table.
    let shoff = orig.header.shoff as usize;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..3000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let region = if state % 3 == 0 {
            0..64
        } else {
            shoff..data.len()
        };
        let at = region.start + (state >> 8) as usize % region.len();
        let mut d = data.clone();
        d[at] ^= 1 << (state % 8);
        if let Ok(e) = Elf::parse(&d) {
            let mut f = Vec::new();
            check_module(&e, None, &Expectations::default(), &mut f);
            check_equivalence(&e, &orig, true, &mut f);
            let _ = dkwrap::strip::native::strip_debug(&e, &mut std::io::sink());
        }
    }
}

/// Regression: `dkwrap verify ... | head` panicked with "failed printing to stdout".
#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    use std::process::Stdio;
    let mut child = dkwrap()
        .arg("verify")
        .arg(fixture("modeset-like-thinlto.ko"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101));
}

/// The proof compares relocations as multisets: the same relocations in another order (as
/// a different linker or strip tool may write them) are still equivalent.
#[test]
fn reordered_relocations_are_still_equivalent() {
    let tmp = tempfile::tempdir().unwrap();
    let orig = fixture("modeset-like-thinlto.ko");
    let stripped = tmp.path().join("s.ko");
    llvm_strip_to(&orig, &stripped);
    let mut d = std::fs::read(&stripped).unwrap();
    let (at, n) = {
        let elf = Elf::parse(&d).unwrap();
        let s = elf
            .sections
            .iter()
            .find(|s| {
                s.sh_type == dkwrap::elf::SHT_RELA
                    && elf.sections[s.info as usize].is_alloc()
                    && s.size >= 48
            })
            .unwrap();
        (s.offset as usize, s.size as usize / 24)
    };
    // Reverse the entries of that section.
    let entries: Vec<Vec<u8>> = d[at..at + n * 24].chunks(24).map(|c| c.to_vec()).collect();
    for (i, e) in entries.iter().rev().enumerate() {
        d[at + i * 24..at + (i + 1) * 24].copy_from_slice(e);
    }
    std::fs::write(&stripped, &d).unwrap();
    let out = run(dkwrap()
        .arg("verify")
        .arg("--against")
        .arg(&orig)
        .arg(&stripped));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
}
