//! `dkwrap explain`, driven as a user would: the seed's Arch line on standard input, the logs
//! GNU strip 2.40 and 2.43.1 print on the ThinLTO fixtures (testdata/explain, made by
//! scripts/explain-logs.sh), dkms's own output, and the fixtures themselves with `--try`
//! (every strip tool of this machine, and GNU strip 2.43.1 from ../shared when present).

use std::io::Write;
use std::process::Stdio;

use crate::common::*;
use serde_json::Value;

const SEED: &str = "strip: BFD (GNU Binutils) 2.42.0 assertion fail /usr/src/debug/binutils/binutils-gdb/bfd/elf.c:4131";

fn explain_log(name: &str) -> std::path::PathBuf {
    repo().join("testdata/explain").join(name)
}

fn with_stdin(args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = dkwrap()
        .arg("explain")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dkwrap");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn json(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

fn finding<'v>(log: &'v Value, id: &str) -> &'v Value {
    log["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {log:#}"))
}

#[test]
fn the_seed_arch_line_is_explained_on_one_screen() {
    let o = with_stdin(&["-"], format!("{SEED}\n").as_bytes());
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("1× strip: BFD (GNU Binutils) 2.42.0"), "{out}");
    // Text is wrapped: each fact is checked on its own.
    assert!(out.contains("bfd/elf.c:4131,"), "{out}");
    assert!(out.contains("bfd_elf_set_group_contents()"), "{out}");
    assert!(out.contains("STRIP[*]=no"), "{out}");
    assert!(
        out.lines().count() <= 30,
        "{} lines:\n{out}",
        out.lines().count()
    );

    let o = with_stdin(&["--json", "-"], format!("{SEED}\n").as_bytes());
    let v = json(&o);
    let f = finding(&v["logs"][0], "gnu-bfd-assertion");
    assert_eq!(f["count"], 1);
    let bfd = &f["lines"][0]["bfd"];
    assert_eq!(bfd["version"], "2.42.0");
    assert_eq!(bfd["line"], 4131);
    assert_eq!(bfd["point"]["function"], "bfd_elf_set_group_contents");
}

#[test]
fn repeated_bfd_lines_are_counted_and_located() {
    // The line GNU strip 2.40 prints 52 times on NVIDIA's real nvidia-modeset.ko (issue 16).
    let line = "strip: BFD (GNU Binutils for Debian) 2.40 assertion fail ../../bfd/elf.c:3574\n";
    let o = with_stdin(&["-"], line.repeat(52).as_bytes());
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(out.contains(&format!("52× {}", line.trim())), "{out}");
    assert!(out.contains("bfd_elf_set_group_contents()"), "{out}");
    let v = json(&with_stdin(&["--json", "-"], line.repeat(52).as_bytes()));
    let point = &finding(&v["logs"][0], "gnu-bfd-assertion")["lines"][0]["bfd"]["point"];
    assert!(point["meaning"]
        .as_str()
        .is_some_and(|m| m.contains("more members for a section group")));
}

#[test]
fn gnu_strip_2_43_log_with_its_module_names_the_groups() {
    let o = run(dkwrap()
        .args(["explain", "--json"])
        .arg(explain_log("gnu-strip-2.43.1-modeset-like-thinlto.log"))
        .arg(fixture("modeset-like-thinlto.ko")));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v = json(&o);
    let log = &v["logs"][0];
    let entries = finding(log, "gnu-strip-invalid-group-entry");
    assert_eq!(entries["count"], 5);
    let first = &entries["lines"][0];
    assert_eq!(first["group_entry"]["group"], 31);
    assert_eq!(first["group_entry"]["entry"], 5);
    let r = &first["group_entry"]["resolved"];
    assert_eq!(r["entry"]["name"], ".data");
    assert_eq!(
        r["group"]["signature"],
        "_ZZN5nvkms12event_cursorEvE6cursor"
    );
    // .data belongs to group [27] first; GNU strip drops it from [31].
    assert_eq!(r["entry_groups"][0], 27);
    let bfd = finding(log, "gnu-bfd-assertion");
    assert_eq!(bfd["count"], 10);
    assert_eq!(bfd["lines"].as_array().map(Vec::len), Some(1));
    assert_eq!(bfd["lines"][0]["bfd"]["point"]["line"], 3944);

    let m = &v["modules"][0];
    assert_eq!(m["gnu_strip_safe"], false);
    let data = m["shared_members"]
        .as_array()
        .expect("shared")
        .iter()
        .find(|s| s["section"]["name"] == ".data")
        .expect(".data in several groups");
    assert!(data["groups"].as_array().map_or(0, Vec::len) >= 2);
    assert!(m["multi_relocated"]
        .as_array()
        .expect("multi")
        .iter()
        .any(|r| r["target"]["name"] == ".rodata"));
    assert!(m["cause"]
        .as_str()
        .is_some_and(|c| c.contains("module.lds")));
}

#[test]
fn gnu_strip_2_40_and_arm64_logs() {
    let o = run(dkwrap()
        .args(["explain", "--json"])
        .arg(explain_log("gnu-strip-2.40-modeset-like-thinlto.log"))
        .arg(explain_log("gnu-strip-2.40-modeset-like-arm64-thinlto.log"))
        .arg(explain_log("gnu-strip-2.40-basic-arm64-thinlto.log")));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v = json(&o);
    finding(&v["logs"][0], "gnu-strip-format-not-recognized");
    let groups = finding(&v["logs"][1], "gnu-bfd-group-without-members");
    assert_eq!(groups["count"], 5);
    finding(&v["logs"][1], "gnu-strip-format-not-recognized");
    finding(&v["logs"][2], "gnu-strip-foreign-format");
}

#[test]
fn dkms_output_names_kernel_and_module() {
    let o = run(dkwrap()
        .args(["explain", "--json"])
        .arg(repo().join("testdata/dkms/logs/dkms-plain-gnu-strip-2.43.1.out")));
    let v = json(&o);
    let log = &v["logs"][0];
    assert_eq!(log["kernels"][0], "6.1.192");
    assert_eq!(log["modules"][0], "modeset-like.ko");
    assert_eq!(finding(log, "gnu-bfd-assertion")["count"], 10);
}

#[test]
fn nvidia_build_warnings_are_explained_and_unknown_lines_are_not() {
    let log = "*** Failed CC version check. ***\n\
               nvidia.o: warning: objtool: _nv000123rm+0x1c: 'naked' return found in RETHUNK build\n\
               nvidia-modeset.o: warning: objtool: nvKmsIoctl+0x5a: indirect call found in RETPOLINE build\n\
               something nobody has seen before\n";
    let o = with_stdin(&["--json", "-"], log.as_bytes());
    let v = json(&o);
    let ids: Vec<&str> = v["logs"][0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "nvidia-cc-version-check",
            "objtool-rethunk-naked-return",
            "objtool-retpoline-indirect-call"
        ]
    );
}

/// Every trial of a `--try --json` run, by tool name and version.
fn trials(v: &Value) -> Vec<Value> {
    v["modules"][0]["trials"]
        .as_array()
        .expect("trials")
        .clone()
}

fn trial<'t>(all: &'t [Value], tool: &str, version: Option<&str>) -> &'t Value {
    all.iter()
        .find(|t| t["tool"] == tool && version.is_none_or(|want| t["version"] == want))
        .unwrap_or_else(|| panic!("no trial of {tool} {version:?} in {all:#?}"))
}

#[test]
fn gcc_module_gnu_strip_is_safe_and_every_tool_is_equivalent() {
    let mut cmd = dkwrap();
    cmd.args(["explain", "--try", "--json"])
        .arg(fixture("modeset-like-gcc.ko"));
    if let Some(s) = gnu_strip_2_43() {
        cmd.arg("--tool").arg(s);
    }
    let o = run(&mut cmd);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["modules"][0]["gnu_strip_safe"], true);
    let all = trials(&v);
    assert!(all.len() >= 4, "{all:#?}");
    for t in &all {
        assert_eq!(t["verdict"], "equivalent", "{t:#}");
    }
    trial(&all, "strip", Some("2.40"));
    trial(&all, "dkwrap native", None);
    let out = String::from_utf8_lossy(
        &run(dkwrap()
            .args(["explain"])
            .arg(fixture("modeset-like-gcc.ko")))
        .stdout,
    )
    .into_owned();
    assert!(out.contains("GNU strip: safe here"), "{out}");
}

#[test]
fn thinlto_module_try_shows_which_tool_corrupts_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let module = copy_to(
        &fixture("modeset-like-thinlto.ko"),
        dir.path(),
        "modeset-like-thinlto.ko",
    );
    let before = sha256(&module);
    let mut cmd = dkwrap();
    cmd.args(["explain", "--try", "--json"]).arg(&module);
    let shared = gnu_strip_2_43();
    if let Some(s) = &shared {
        cmd.arg("--tool").arg(s);
    }
    let o = run(&mut cmd);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // Nothing outside the temporary directory was touched.
    assert_eq!(sha256(&module), before);
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
    let all = trials(&json(&o));
    let gnu = trial(&all, "strip", Some("2.40"));
    assert_eq!(gnu["exit_code"], 1);
    assert_eq!(gnu["verdict"], "no-output");
    assert_eq!(
        gnu["messages"][0]["text"],
        "strip: modeset-like-thinlto.ko: file format not recognized"
    );
    assert_eq!(trial(&all, "llvm-strip-19", None)["verdict"], "equivalent");
    assert_eq!(trial(&all, "dkwrap native", None)["verdict"], "equivalent");
    if shared.is_some() {
        let lying = trial(&all, "strip", Some("2.43.1"));
        assert_eq!(lying["exit_code"], 0);
        assert_eq!(lying["verdict"], "not-equivalent");
        let first = lying["first_difference"]
            .as_str()
            .expect("first difference");
        assert!(first.starts_with("`.data+0x"), "{first}");
        let counted = lying["relocations_differ"][0]
            .as_str()
            .expect("count per section");
        assert!(counted.contains("applying to .data"), "{counted}");
        let bfd = lying["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .find(|m| m["text"].as_str().is_some_and(|t| t.contains("elf.c:3944")))
            .expect("the assertion");
        assert_eq!(bfd["count"], 10);
        // The log the script committed is what this strip prints now.
        let committed =
            std::fs::read_to_string(explain_log("gnu-strip-2.43.1-modeset-like-thinlto.log"))
                .expect("log");
        assert!(
            committed.contains(bfd["text"].as_str().unwrap_or("")),
            "{committed}"
        );
    }
}

#[test]
fn arm64_module_host_gnu_strip_cannot_read_it() {
    let o = run(dkwrap()
        .args(["explain", "--try", "--json"])
        .arg(fixture("basic-arm64-thinlto.ko")));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v = json(&o);
    let m = &v["modules"][0];
    assert_eq!(m["foreign_architecture"], "aarch64");
    assert!(
        m["hazards"][0]
            .as_str()
            .is_some_and(|h| h.contains("aarch64")),
        "{m:#}"
    );
    let all = trials(&v);
    let gnu = trial(&all, "strip", Some("2.40"));
    assert_eq!(gnu["exit_code"], 1);
    assert!(gnu["messages"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains("Unable to recognise the format")));
    assert_eq!(trial(&all, "llvm-strip-19", None)["verdict"], "equivalent");
    let out = String::from_utf8_lossy(
        &run(dkwrap()
            .arg("explain")
            .arg(fixture("basic-arm64-thinlto.ko")))
        .stdout,
    )
    .into_owned();
    assert!(out.contains("this machine's GNU strip reads only"), "{out}");
    assert!(out.contains("refuses it"), "{out}");
}

#[test]
fn unreadable_inputs_and_usage() {
    let o = run(dkwrap().args(["explain", "/nonexistent/make.log"]));
    assert_eq!(code(&o), 3, "{}", text(&o));
    let o = run(dkwrap().args(["explain"]).arg(fixture("bitcode-thinlto.o")));
    assert_eq!(code(&o), 3, "{}", text(&o));
    assert!(text(&o).contains("bitcode"), "{}", text(&o));
    let o = run(dkwrap().args(["explain"]).arg(repo().join("testdata")));
    assert_eq!(code(&o), 3, "{}", text(&o));
    let o = run(dkwrap().args(["explain"]));
    assert_eq!(code(&o), 2, "{}", text(&o));
    let o = run(dkwrap().args(["explain", "-", "-"]));
    assert_eq!(code(&o), 2, "{}", text(&o));
}

#[test]
fn compressed_module_on_stdin_is_a_module() {
    let bytes = std::fs::read(fixture("modeset-like-thinlto.ko.zst")).expect("read");
    let o = with_stdin(&["--json", "-"], &bytes);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["modules"][0]["compression"], "zstd");
    assert_eq!(v["modules"][0]["gnu_strip_safe"], false);
}

#[test]
fn a_failed_thinlto_build_log_is_counted_per_signature() {
    // make's output when the package's Makefile hands CC=cc to Kbuild on the ThinLTO tree
    // (testdata/dkms/logs, captured for the make diagnoses).
    let o = run(dkwrap()
        .args(["explain", "--json"])
        .arg(repo().join("testdata/dkms/logs/nvidia-shaped-llvm-only.make.log")));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v = json(&o);
    let log = &v["logs"][0];
    let ids: Vec<&str> = log["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "nvidia-cc-version-text",
            "compiler-differs",
            "gcc-given-clang-flags"
        ]
    );
    let gcc = finding(log, "gcc-given-clang-flags");
    let distinct = gcc["lines"].as_array().map_or(0, Vec::len);
    assert!(
        gcc["count"].as_u64().unwrap_or(0) > distinct as u64,
        "{gcc:#}"
    );
}

#[test]
fn a_log_cut_short_by_a_hang_still_reads() {
    // After a hard reset, the tail of a log file is often blocks of NULs.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("pacman.log");
    let mut bytes = format!("[2024-06-08T10:00:02+0200] [ALPM-SCRIPTLET] {SEED}\n").into_bytes();
    bytes.extend(std::iter::repeat_n(0u8, 64 << 10));
    std::fs::write(&path, &bytes).expect("write");
    let o = run(dkwrap().args(["explain", "--json"]).arg(&path));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v = json(&o);
    assert_eq!(
        finding(&v["logs"][0], "gnu-bfd-assertion")["lines"][0]["text"],
        SEED
    );
}

#[test]
fn a_tool_that_hangs_is_killed_at_the_time_limit() {
    // A fake: no real strip hangs on these fixtures, and the time limit must still hold.
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = dir.path().join("fake-hanging-strip");
    std::fs::write(&fake, "#!/bin/sh\nexec sleep 30\n").expect("write fake");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let started = std::time::Instant::now();
    let o = run(dkwrap()
        .args(["explain", "--json", "--timeout", "1", "--tool"])
        .arg(&fake)
        .arg(fixture("basic-gcc.ko")));
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    let all = trials(&json(&o));
    let t = trial(&all, "fake-hanging-strip", None);
    assert_eq!(t["timed_out"], true);
    assert_eq!(t["verdict"], "did-not-run");
    assert!(t["exit_code"].is_null());
}

#[test]
fn an_unreadable_input_is_reported_and_the_others_still_explained() {
    let o = run(dkwrap()
        .args(["explain", "--json", "/nonexistent/make.log"])
        .arg(explain_log("gnu-strip-2.40-modeset-like-thinlto.log")));
    assert_eq!(code(&o), 3, "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["inputs"][0]["ok"], false);
    assert_eq!(v["inputs"][0]["error"]["code"], 3);
    assert!(v["inputs"][0]["kind"].is_null());
    assert_eq!(v["inputs"][1]["ok"], true);
    assert_eq!(v["inputs"][1]["kind"], "log");
    assert!(v["inputs"][1]["error"].is_null());
    finding(&v["logs"][0], "gnu-strip-format-not-recognized");
    // Absent values are null, not omitted.
    assert!(v["logs"][0]["findings"][0]["lines"][0]["bfd"].is_null());

    let o = run(dkwrap()
        .args(["explain", "/nonexistent/make.log"])
        .arg(explain_log("gnu-strip-2.40-modeset-like-thinlto.log")));
    assert_eq!(code(&o), 3);
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/make.log"));
    assert!(String::from_utf8_lossy(&o.stdout).contains("file format not recognized"));
}

#[test]
fn quiet_leaves_out_warnings_and_safe_modules() {
    let log = "*** Failed CC version check. ***\n".to_string() + SEED + "\n";
    let o = with_stdin(&["-q", "-"], log.as_bytes());
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("gnu-bfd-assertion"), "{out}");
    assert!(!out.contains("nvidia-cc-version-check"), "{out}");
    let o = run(dkwrap()
        .args(["explain", "-q"])
        .arg(fixture("modeset-like-gcc.ko")));
    assert_eq!(code(&o), 0);
    assert!(o.stdout.is_empty(), "{}", text(&o));
}
