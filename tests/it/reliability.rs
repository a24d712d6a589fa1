//! Regression tests for issue 20 (reliability and security under hostile input): one test
//! per defect, each on a real fixture altered the way the issue describes.

use crate::common::*;
use dkwrap::elf::Elf;
use dkwrap::exit;
use std::path::Path;

/// Offset of section `name`'s header in `data`, and its (offset, size).
fn section_header_of(data: &[u8], name: &[u8]) -> (usize, usize, usize) {
    let elf = Elf::parse(data).expect("a fixture parses");
    let s = elf
        .sections
        .iter()
        .find(|s| s.name() == name)
        .expect("the section is in the fixture");
    let at = elf.section_header_offset(s.index()) as usize;
    (at, s.offset as usize, s.size as usize)
}

fn section_bytes(path: &Path, name: &[u8]) -> Vec<u8> {
    let data = std::fs::read(path).unwrap();
    let (_, off, size) = section_header_of(&data, name);
    data[off..off + size].to_vec()
}

/// basic-thinlto.ko with `.init.text`'s sh_type set to SHT_NULL (0), SHF_ALLOC kept.
fn init_text_typed_null(dir: &Path) -> std::path::PathBuf {
    let target = copy_to(&fixture("basic-thinlto.ko"), dir, "null-init.ko");
    let mut data = std::fs::read(&target).unwrap();
    let (hdr, _, _) = section_header_of(&data, b".init.text");
    data[hdr + 4..hdr + 8].copy_from_slice(&0u32.to_le_bytes());
    std::fs::write(&target, data).unwrap();
    target
}

#[test]
fn an_allocated_sht_null_section_keeps_its_bytes_and_the_proof_compares_them() {
    let tmp = tempfile::tempdir().unwrap();
    let target = init_text_typed_null(tmp.path());
    let original = copy_to(&target, tmp.path(), "original.ko");
    let code_bytes = section_bytes(&original, b".init.text");
    assert!(code_bytes.iter().any(|&b| b != 0), "the fixture has code");

    // Plain verify says what the loader does with it.
    let out = run(dkwrap().arg("verify").arg(&original));
    let said = text(&out);
    assert!(
        said.contains("SHT_NULL with SHF_ALLOC") && said.contains("copies its"),
        "{said}"
    );

    // Native keeps the bytes, and the result is proven.
    let out = run(dkwrap()
        .args(["strip", "-g", "--strategy", "native"])
        .arg(&target));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    assert_eq!(section_bytes(&target, b".init.text"), code_bytes);
    let out = run(dkwrap()
        .arg("verify")
        .arg("--against")
        .arg(&original)
        .arg(&target));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));

    // The proof compares the bytes: zeroed code is not equivalent.
    let mut data = std::fs::read(&target).unwrap();
    let (_, off, size) = section_header_of(&data, b".init.text");
    data[off..off + size].fill(0);
    let zeroed = tmp.path().join("zeroed.ko");
    std::fs::write(&zeroed, data).unwrap();
    let out = run(dkwrap()
        .arg("verify")
        .arg("--against")
        .arg(&original)
        .arg(&zeroed));
    assert_eq!(code(&out), exit::NOT_EQUIVALENT, "{}", text(&out));
    assert!(text(&out).contains(".init.text"), "{}", text(&out));
}

/// Files in `dir` whose name says dkwrap left them (temporary files).
fn dkwrap_leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".dkwrap-"))
        .collect()
}

/// A SIMULATED llvm-strip-19 (a test script, not the real tool) that ignores `-o` the way a
/// broken wrapper would: it truncates its input in place to 3,000 bytes and copies that.
fn simulated_strip_writing_its_input(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("simulated-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("llvm-strip-19");
    std::fs::write(
        &script,
        "#!/bin/sh\n# SIMULATION: a strip that writes to its input.\n\
         if [ \"$1\" = --version ]; then echo 'LLVM (http://llvm.org/):'; echo '  LLVM version 19.1.7'; exit 0; fi\n\
         out=''\nwhile [ $# -gt 0 ]; do case \"$1\" in -o) out=\"$2\"; shift 2;; *) last=\"$1\"; shift;; esac; done\n\
         truncate -s 3000 \"$last\"\ncp \"$last\" \"$out\"\nexit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn an_external_strip_writing_to_its_input_never_touches_the_users_module() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = simulated_strip_writing_its_input(tmp.path());
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let original = fixture("basic-thinlto.ko");
    let target = copy_to(&original, &work, "basic-thinlto.ko");
    let out = run(dkwrap()
        .env("PATH", path_with(&bin))
        .args(["strip", "-g", "--strategy", "llvm", "--json", "--config"])
        .arg(kconfig("thinlto"))
        .arg(&target));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &v[0]["attempts"][0];
    assert!(
        first["tool"].as_str().unwrap().contains("simulated-bin"),
        "{}",
        text(&out)
    );
    assert_eq!(first["accepted"], false, "{}", text(&out));
    assert_eq!(v[0]["strategy"], "native", "{}", text(&out));
    let out = run(dkwrap()
        .arg("verify")
        .arg("--against")
        .arg(&original)
        .arg(&target));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    assert_eq!(dkwrap_leftovers(&work), Vec::<String>::new());
}

/// A SIMULATED llvm-strip-19 (a test script): runs `action` (shell) and exits 0 without
/// writing its output.
fn simulated_llvm_strip(dir: &Path, action: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("simulated-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("llvm-strip-19");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n# SIMULATION of a slow or interfering strip.\n\
             if [ \"$1\" = --version ]; then echo '  LLVM version 19.1.7'; exit 0; fi\n{action}\nexit 0\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn a_signal_during_strip_leaves_no_temporary_file() {
    use std::os::unix::process::ExitStatusExt;
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let tmp = tempfile::tempdir().unwrap();
        let ready = tmp.path().join("tool-started");
        let bin =
            simulated_llvm_strip(tmp.path(), &format!("touch '{}'; sleep 3", ready.display()));
        let work = tmp.path().join("work");
        std::fs::create_dir(&work).unwrap();
        let target = copy_to(&fixture("basic-thinlto.ko"), &work, "m.ko");
        let before = sha256(&target);
        let mut child = dkwrap()
            .env("PATH", path_with(&bin))
            .args(["strip", "-g", "--strategy", "llvm", "--config"])
            .arg(kconfig("thinlto"))
            .arg(&target)
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while !ready.exists() && started.elapsed().as_secs() < 30 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(ready.exists(), "the simulated tool never ran");
        assert!(!dkwrap_leftovers(&work).is_empty(), "temporary files exist");
        // Safety: the child's pid, a plain signal.
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(signal), "{status:?}");
        assert_eq!(
            dkwrap_leftovers(&work),
            Vec::<String>::new(),
            "signal {signal}"
        );
        assert_eq!(sha256(&target), before);
    }
}

#[test]
fn temporary_files_of_dead_runs_are_swept_and_others_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let target = copy_to(&fixture("basic-thinlto.ko"), tmp.path(), "m.ko");
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let dead = format!(".dkwrap-{dead_pid}-AbC123.tmp");
    let alive = format!(".dkwrap-{}-AbC123.tmp", std::process::id());
    let no_pid = ".dkwrap-AbC123.tmp".to_string();
    for name in [&dead, &alive, &no_pid] {
        std::fs::write(tmp.path().join(name), b"left over").unwrap();
    }
    let out = run(dkwrap()
        .args(["strip", "-g", "--strategy", "native"])
        .arg(&target));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let mut left = dkwrap_leftovers(tmp.path());
    left.sort();
    let mut want = vec![alive, no_pid];
    want.sort();
    assert_eq!(left, want);
}

/// `dkwrap strip --strategy STRATEGY` on a copy of the ThinLTO fixture (padded to `size`
/// bytes when given) while another program runs `action` on it (`TARGET` stands for the
/// module's path; a simulated llvm-strip runs it, so it happens while dkwrap has the module
/// open). Returns the run, the module's path and its directory.
fn strip_while_another_program_runs(
    tmp: &Path,
    strategy: &str,
    size: Option<usize>,
    action: &str,
) -> (std::process::Output, std::path::PathBuf, std::path::PathBuf) {
    let work = tmp.join("work");
    std::fs::create_dir(&work).unwrap();
    let target = copy_to(&fixture("basic-thinlto.ko"), &work, "m.ko");
    if let Some(size) = size {
        let mut padded = std::fs::read(&target).unwrap();
        padded.resize(size, 0);
        std::fs::write(&target, padded).unwrap();
    }
    let action = action.replace("TARGET", &format!("'{}'", target.display()));
    let bin = simulated_llvm_strip(tmp, &action);
    let out = run(dkwrap()
        .env("PATH", path_with(&bin))
        .args(["strip", "-g", "--strategy", strategy, "--config"])
        .arg(kconfig("thinlto"))
        .arg(&target));
    (out, target, work)
}

#[test]
fn an_input_truncated_under_the_mapping_exits_unreadable_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    // Padded past 1 MiB (bytes after the last section are nothing the loader reads): verify
    // maps only files that large; strip maps every plain module.
    let (out, _, work) = strip_while_another_program_runs(
        tmp.path(),
        "llvm",
        Some(3 << 19),
        "truncate -s 3000 TARGET",
    );
    assert_eq!(code(&out), exit::UNREADABLE, "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(said.contains("shrank while it was being read"), "{said}");
    assert_eq!(dkwrap_leftovers(&work), Vec::<String>::new());
}

#[test]
fn an_input_rewritten_while_being_stripped_is_not_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    // The other program (a concurrent build) appends: the mapped bytes dkwrap proved are all
    // still there, but they are no longer the file it would replace.
    let (out, target, work) = strip_while_another_program_runs(
        tmp.path(),
        "auto",
        None,
        "head -c 1000 /dev/zero >> TARGET",
    );
    assert_eq!(code(&out), exit::UNREADABLE, "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stderr);
    let last = said.lines().last().unwrap_or_default();
    assert!(
        last.contains("another program changed the file while it was being stripped"),
        "{said}"
    );
    assert_eq!(
        std::fs::metadata(&target).unwrap().len(),
        std::fs::metadata(fixture("basic-thinlto.ko"))
            .unwrap()
            .len()
            + 1000,
        "the other program's write stays"
    );
    assert_eq!(dkwrap_leftovers(&work), Vec::<String>::new());
}

/// Runs `cmd`, failing the test (and killing it) if it has not ended after `secs`: a hang
/// is the defect these tests catch.
fn output_within(cmd: &mut std::process::Command, secs: u64) -> std::process::Output {
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed().as_secs() >= secs {
            child.kill().unwrap();
            panic!("{cmd:?} still running after {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_fifo_or_device_is_refused_with_one_line_instead_of_hanging() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("m.ko");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // Safety: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    for (args, file) in [
        (vec!["verify"], fifo.as_path()),
        (vec!["strip", "-g"], fifo.as_path()),
        (vec!["verify"], Path::new("/dev/zero")),
        (
            vec!["strip", "-g", "--strategy", "native"],
            Path::new("/dev/null"),
        ),
    ] {
        let out = output_within(dkwrap().args(&args).arg(file), 20);
        assert_eq!(code(&out), exit::UNREADABLE, "{args:?} {}", text(&out));
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("not a regular file"), "{said}");
        assert_eq!(said.lines().count(), 1, "{said}");
    }
}

#[test]
fn a_module_inflating_past_one_gib_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let bomb = tmp.path().join("bomb.ko.zst");
    let made = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 1100M /dev/zero | zstd -1 -q -c > '{}'",
            bomb.display()
        ))
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("SKIP: the zstd command is not installed");
        return;
    }
    for args in [vec!["verify"], vec!["strip", "-g"]] {
        let out = run(dkwrap().args(&args).arg(&bomb));
        assert_eq!(code(&out), exit::UNREADABLE, "{}", text(&out));
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("inflates to more than 1024 MiB"), "{said}");
        assert_eq!(said.lines().count(), 1, "{said}");
    }
}

/// A SIMULATED llvm-strip-19 in `dir` (a test script) that only records that it was run,
/// `--version` probes included.
fn simulated_tool_recording_runs(dir: &Path, name: &str, marker: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let script = dir.join(name);
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n# SIMULATION: records that it ran.\necho \"$@\" >> '{}'\n\
             echo '  LLVM version 19.1.7'\nexit 1\n",
            marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn strip_attempts(out: &std::process::Output) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v[0]["attempts"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_tool_in_a_relative_path_entry_is_never_run() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("ran");
    let cwd = tmp.path().join("cwd");
    simulated_tool_recording_runs(&cwd, "llvm-strip-19", &marker);
    simulated_tool_recording_runs(&cwd.join("bin"), "llvm-strip-19", &marker);
    let target = copy_to(&fixture("basic-thinlto.ko"), tmp.path(), "m.ko");
    let out = run(dkwrap()
        .current_dir(&cwd)
        .env("PATH", "bin:.::/usr/bin:/bin")
        .env("DKWRAP_LLVM_ROOT", tmp.path().join("no-llvm"))
        .args(["strip", "-g", "--strategy", "llvm", "--json", "--config"])
        .arg(kconfig("thinlto"))
        .arg(&target));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    assert!(!marker.exists(), "the simulated tool ran: {}", text(&out));
    for a in strip_attempts(&out) {
        let tool = a["tool"].as_str().unwrap_or("");
        assert!(tool.is_empty() || tool.starts_with('/'), "{}", text(&out));
    }
    assert!(
        text(&out).contains("is relative: not searched"),
        "{}",
        text(&out)
    );
}

#[test]
fn as_root_a_tool_others_can_replace_is_never_run() {
    use std::os::unix::fs::PermissionsExt;
    // Safety: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP: the ownership rules apply to root only");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("ran");
    let open_dir = tmp.path().join("world-writable");
    simulated_tool_recording_runs(&open_dir, "llvm-strip-19", &marker);
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let llvm_root = tmp.path().join("llvm-root");
    let versioned = llvm_root.join("llvm-19/bin");
    simulated_tool_recording_runs(&versioned, "llvm-strip", &marker);
    std::fs::set_permissions(&versioned, std::fs::Permissions::from_mode(0o777)).unwrap();
    let target = copy_to(&fixture("basic-thinlto.ko"), tmp.path(), "m.ko");
    let out = run(dkwrap()
        .env("PATH", format!("{}:/usr/bin:/bin", open_dir.display()))
        .env("DKWRAP_LLVM_ROOT", &llvm_root)
        .args(["strip", "-g", "--strategy", "llvm", "--json", "--config"])
        .arg(kconfig("thinlto"))
        .arg(&target));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    assert!(!marker.exists(), "the simulated tool ran: {}", text(&out));
    let said = text(&out);
    assert!(said.contains("writable by group or others"), "{said}");
    assert_eq!(
        said.matches("world-writable/llvm-strip-19 not used")
            .count(),
        1,
        "{said}"
    );
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> bool {
    let p = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    // Safety: NUL-terminated strings and a value valid for its length.
    unsafe {
        libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        ) == 0
    }
}

fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 4096];
    // Safety: as above; the buffer is valid for its length.
    let len = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(len).ok().map(|l| buf[..l].to_vec())
}

#[test]
fn extended_attributes_and_setuid_survive_the_replacement() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let target = copy_to(&fixture("basic-thinlto.ko"), tmp.path(), "m.ko");
    let mut wanted = vec![("user.dkwrap-test", b"kept".to_vec())];
    // Safety: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        wanted.push(("trusted.dkwrap-test", b"root only".to_vec()));
        wanted.push(("security.ima", b"\x03\x02\x04ima-signature".to_vec()));
    }
    for (name, value) in &wanted {
        if !set_xattr(&target, name, value) {
            eprintln!("SKIP: this filesystem refuses {name}");
            return;
        }
    }
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o6751)).unwrap();
    for strategy in ["native", "llvm"] {
        let out = run(dkwrap()
            .args(["strip", "-g", "--strategy", strategy, "--config"])
            .arg(kconfig("thinlto"))
            .arg(&target));
        assert_eq!(code(&out), exit::OK, "{}", text(&out));
        for (name, value) in &wanted {
            assert_eq!(
                get_xattr(&target, name).as_ref(),
                Some(value),
                "{strategy} {name}"
            );
        }
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o6751, "{strategy}");
    }
}

#[test]
fn a_hard_linked_module_is_refused_with_one_line_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let target = copy_to(&fixture("basic-thinlto.ko"), tmp.path(), "m.ko");
    let other = tmp.path().join("other-link.ko");
    std::fs::hard_link(&target, &other).unwrap();
    let before = sha256(&target);
    let out = run(dkwrap()
        .args(["strip", "-g", "--strategy", "native"])
        .arg(&target));
    assert_eq!(code(&out), exit::STRIP_FAILED, "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("has 2 hard links"), "{said}");
    assert_eq!(said.lines().count(), 1, "{said}");
    assert_eq!(sha256(&target), before);
    assert_eq!(sha256(&other), before);
    assert_eq!(dkwrap_leftovers(tmp.path()), Vec::<String>::new());
    // Written elsewhere, the input is only read.
    let out = run(dkwrap()
        .args(["strip", "-g", "--strategy", "native", "-o"])
        .arg(tmp.path().join("out.ko"))
        .arg(&target));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
}

#[test]
fn a_module_the_loader_would_reject_is_an_error_not_left_unstripped() {
    let tmp = tempfile::tempdir().unwrap();
    let target = copy_to(&fixture("basic-thinlto.ko"), tmp.path(), "m.ko");
    let mut data = std::fs::read(&target).unwrap();
    let (hdr, _, _) = section_header_of(&data, b".init.text");
    let past_the_end = data.len() as u64 + 4096;
    data[hdr + 24..hdr + 32].copy_from_slice(&past_the_end.to_le_bytes());
    std::fs::write(&target, &data).unwrap();
    let out = run(dkwrap().args(["strip", "-g"]).arg(&target));
    assert_eq!(code(&out), exit::INVALID_MODULE, "{}", text(&out));
    assert_eq!(std::fs::read(&target).unwrap(), data);
}

/// A tmpfs of `size` mounted for the test, unmounted when dropped (root only).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        let at = dir.join(format!("disk-{size}"));
        std::fs::create_dir(&at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk(at))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_falls_through_to_a_smaller_strategy_or_exits_no_space() {
    let tmp = tempfile::tempdir().unwrap();
    // Compressed, with room for the stripped module but not for a plain copy for llvm-strip.
    let Some(disk) = SmallDisk::mount(tmp.path(), "60k") else {
        eprintln!("SKIP: cannot mount a tmpfs (needs root)");
        return;
    };
    let target = copy_to(&fixture("basic-thinlto.ko.zst"), &disk.0, "m.ko.zst");
    let out = run(dkwrap()
        .args(["strip", "-g", "--json", "--config"])
        .arg(kconfig("thinlto"))
        .arg(&target));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["strategy"], "native", "{}", text(&out));
    assert_eq!(v[0]["attempts"][0]["accepted"], false);
    let out = run(dkwrap()
        .arg("verify")
        .arg("--against")
        .arg(fixture("basic-thinlto.ko.zst"))
        .arg(&target));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));

    // No room for any output: its own code, the original intact, nothing left behind.
    let Some(full) = SmallDisk::mount(tmp.path(), "100k") else {
        return;
    };
    let target = copy_to(&fixture("basic-thinlto.ko"), &full.0, "m.ko");
    let out = run(dkwrap()
        .args(["strip", "-g", "--config"])
        .arg(kconfig("thinlto"))
        .arg(&target));
    assert_eq!(code(&out), exit::NO_SPACE, "{}", text(&out));
    assert!(
        text(&out).contains("the original is intact"),
        "{}",
        text(&out)
    );
    assert_eq!(sha256(&target), sha256(&fixture("basic-thinlto.ko")));
    assert_eq!(dkwrap_leftovers(&full.0), Vec::<String>::new());
}

#[test]
fn an_append_only_directory_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("append-only");
    std::fs::create_dir(&dir).unwrap();
    let target = copy_to(&fixture("basic-thinlto.ko"), &dir, "m.ko");
    let locked = std::process::Command::new("chattr")
        .arg("+a")
        .arg(&dir)
        .status()
        .is_ok_and(|s| s.success());
    if !locked {
        eprintln!("SKIP: chattr +a is not possible here (needs root and a filesystem with it)");
        return;
    }
    let out = run(dkwrap().args(["strip", "-g"]).arg(&target));
    let _ = std::process::Command::new("chattr")
        .arg("-a")
        .arg(&dir)
        .status();
    assert_eq!(code(&out), exit::STRIP_FAILED, "{}", text(&out));
    assert!(text(&out).contains("append-only"), "{}", text(&out));
    assert_eq!(sha256(&target), sha256(&fixture("basic-thinlto.ko")));
    assert_eq!(dkwrap_leftovers(&dir), Vec::<String>::new());
}

/// Found by the native_proof fuzz target: a section name table with a debug name was
/// removed, and the rewriter wrote an e_shstrndx that named no section.
#[test]
fn a_name_table_with_a_debug_name_is_refused_by_the_rewriter() {
    let tmp = tempfile::tempdir().unwrap();
    let target = copy_to(&fixture("basic-thinlto.ko"), tmp.path(), "m.ko");
    let mut data = std::fs::read(&target).unwrap();
    let (debug_hdr, _, _) = section_header_of(&data, b".debug_str");
    let (names_hdr, _, _) = section_header_of(&data, b".shstrtab");
    let debug_name = data[debug_hdr..debug_hdr + 4].to_vec();
    data[names_hdr..names_hdr + 4].copy_from_slice(&debug_name);
    std::fs::write(&target, &data).unwrap();
    let out = run(dkwrap()
        .args(["strip", "-g", "--strategy", "native", "--json"])
        .arg(&target));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let reason = v[0]["attempts"][0]["reason"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(reason.contains("has a debug name"), "{}", text(&out));
    assert_eq!(std::fs::read(&target).unwrap(), data, "left as it was");
}

/// The inputs that once made the `native_proof` fuzz target fail (fuzz/regressions/), run
/// here on stable too: the rewriter refuses each or writes a file its own parser reads and
/// the proof judges (the fuzz target adds the independent comparison; this is the no-panic
/// half, with debug overflow checks on).
#[test]
fn native_proof_fuzz_regressions_are_refused_or_proven_without_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/native_proof");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        seen += 1;
        let Ok(original) = Elf::parse(&data) else {
            continue;
        };
        let mut out = Vec::new();
        if dkwrap::strip::native::strip_debug(&original, &mut out).is_err() {
            continue;
        }
        let stripped = Elf::parse(&out).expect("the rewriter's output parses");
        let mut findings = Vec::new();
        dkwrap::proof::check_equivalence(&stripped, &original, false, &mut findings);
    }
    assert!(
        seen >= 2,
        "expected the committed regression inputs in {}",
        dir.display()
    );
}

/// The module refused by the rewriter above: a name table whose name is a debug name.
fn refused_by_the_rewriter(dir: &Path, name: &str) -> std::path::PathBuf {
    let target = copy_to(&fixture("basic-thinlto.ko"), dir, name);
    let mut data = std::fs::read(&target).unwrap();
    let (debug_hdr, _, _) = section_header_of(&data, b".debug_str");
    let (names_hdr, _, _) = section_header_of(&data, b".shstrtab");
    let debug_name = data[debug_hdr..debug_hdr + 4].to_vec();
    data[names_hdr..names_hdr + 4].copy_from_slice(&debug_name);
    std::fs::write(&target, &data).unwrap();
    target
}

/// Several files in one run are written and proven, flushed together, then each renamed:
/// every good module is replaced by its proven output, and a module whose strip fails (not
/// ELF, refused by the rewriter) is left byte for byte as it was, in the same batch.
#[test]
fn several_files_in_one_run_are_each_proven_then_replaced_and_failures_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let good = [
        "basic-gcc.ko",
        "basic-thinlto.ko",
        "modeset-like-clang-nolto.ko",
        "basic-thinlto.ko.zst",
    ];
    let targets: Vec<_> = good.iter().map(|n| copy_to(&fixture(n), dir, n)).collect();
    let garbage = dir.join("garbage.ko");
    std::fs::write(&garbage, b"not an ELF module at all").unwrap();
    let refused = refused_by_the_rewriter(dir, "refused.ko");
    let refused_bytes = std::fs::read(&refused).unwrap();
    let files = [
        &targets[0],
        &garbage,
        &targets[1],
        &refused,
        &targets[2],
        &targets[3],
    ];
    let out = run(dkwrap()
        .args(["strip", "-g", "--strategy", "native", "--json"])
        .args(files));
    assert_ne!(code(&out), exit::OK, "the garbage file fails the run");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let records = v.as_array().expect("one record per file");
    assert_eq!(records.len(), files.len(), "{}", text(&out));
    for (name, target) in good.iter().zip(&targets) {
        let r = records
            .iter()
            .find(|r| r["path"].as_str() == target.to_str())
            .unwrap();
        assert_eq!(r["ok"], true, "{name}: {}", text(&out));
        assert_eq!(r["strategy"], "native", "{name}");
        let original = fixture(&name.replace(".zst", ""));
        let plain = dir.join(format!("{name}.plain"));
        let bytes = std::fs::read(target).unwrap();
        match name.ends_with(".zst") {
            true => std::fs::write(&plain, zstd::decode_all(&bytes[..]).unwrap()).unwrap(),
            false => std::fs::write(&plain, &bytes).unwrap(),
        }
        assert!(bytes.len() < std::fs::metadata(fixture(name)).unwrap().len() as usize);
        assert_proven(&plain, &original);
    }
    assert_eq!(
        std::fs::read(&garbage).unwrap(),
        b"not an ELF module at all"
    );
    assert_eq!(records[1]["ok"], false);
    assert_eq!(
        std::fs::read(&refused).unwrap(),
        refused_bytes,
        "left as it was"
    );
    assert_eq!(records[3]["strategy"], "skip");
    assert_eq!(dkwrap_leftovers(dir), Vec::<String>::new());
}

/// The system calls of a strip, in order (strace, a real tracer).
fn traced(args: &[&std::ffi::OsStr]) -> (std::process::Output, Vec<String>) {
    let strace = which(Path::new("strace")).expect("strace (scripts/lib.sh installs it)");
    let log = tempfile::NamedTempFile::new().unwrap();
    let out = run(std::process::Command::new(strace)
        .args(["-f", "-qq", "-e"])
        .arg("trace=fsync,fdatasync,syncfs,sync,sync_file_range,linkat,rename,renameat,renameat2")
        .arg("-o")
        .arg(log.path())
        .arg(env!("CARGO_BIN_EXE_dkwrap"))
        .args(args));
    let calls = std::fs::read_to_string(log.path())
        .unwrap()
        .lines()
        // "PID call(args) = rc": drop the pid.
        .map(|l| {
            let call = l.split_once(' ').map_or(l, |(_, c)| c);
            call.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect();
    (out, calls)
}

/// Calls that put data on disk (starting writeback does not).
fn flushes(calls: &[String]) -> usize {
    calls
        .iter()
        .filter(|c| {
            ["fsync(", "fdatasync(", "syncfs(", "sync("]
                .iter()
                .any(|f| c.starts_with(f))
                || c.contains("WAIT_AFTER")
        })
        .count()
}

/// Replacing several modules in one run: the filesystem is flushed once (syncfs) before the
/// first rename, and each output's own writeback was waited for, without error, before it
/// was linked and renamed.
/// `-o` to a new path flushes nothing unless --fsync asks; `-o` onto the input flushes.
#[test]
fn each_output_is_on_disk_before_its_rename_and_o_flushes_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let names = ["a.ko", "b.ko", "c.ko"];
    let targets: Vec<_> = names
        .iter()
        .map(|n| copy_to(&fixture("basic-gcc.ko"), dir, n))
        .collect();
    let mut args: Vec<&std::ffi::OsStr> = ["strip", "--strategy", "native"]
        .iter()
        .map(std::ffi::OsStr::new)
        .collect();
    args.extend(targets.iter().map(|t| t.as_os_str()));
    let (out, calls) = traced(&args);
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let renames: Vec<usize> = (0..calls.len())
        .filter(|&i| calls[i].starts_with("rename"))
        .collect();
    assert_eq!(renames.len(), names.len(), "{calls:#?}");
    let syncfs: Vec<usize> = (0..calls.len())
        .filter(|&i| calls[i].starts_with("syncfs(") && calls[i].ends_with("= 0"))
        .collect();
    assert_eq!(syncfs.len(), 1, "one flush for the group: {calls:#?}");
    assert!(syncfs[0] < renames[0], "{calls:#?}");
    assert!(!calls.iter().any(|c| c.starts_with("fsync(")), "{calls:#?}");
    // An output is linked from /proc/self/fd/N (anonymous) or renamed from its name: its
    // own writeback was waited for after the syncfs, and before its link or rename.
    let waited = |fd: &str| {
        calls.iter().position(|c| {
            c.starts_with(&format!("sync_file_range({fd}, 0, 0, "))
                && c.contains("WAIT_AFTER")
                && c.ends_with("= 0")
        })
    };
    let links: Vec<usize> = (0..calls.len())
        .filter(|&i| calls[i].starts_with("linkat("))
        .collect();
    for &l in &links {
        let fd = calls[l]
            .split("/proc/self/fd/")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("linkat names the descriptor");
        let w = waited(fd).unwrap_or_else(|| panic!("fd {fd} never waited for: {calls:#?}"));
        assert!(syncfs[0] < w && w < l, "{calls:#?}");
    }
    if links.is_empty() {
        eprintln!("no O_TMPFILE here: named temporary files were renamed");
        let waits = calls.iter().filter(|c| c.contains("WAIT_AFTER")).count();
        assert_eq!(waits, names.len(), "{calls:#?}");
    }
    for t in &targets {
        assert_proven(t, &fixture("basic-gcc.ko"));
    }

    let input = fixture("basic-gcc.ko");
    let out_path = dir.join("out.ko");
    let o_args = |extra: &[&str]| -> Vec<std::ffi::OsString> {
        let mut v: Vec<std::ffi::OsString> = ["strip", "--strategy", "native"]
            .iter()
            .chain(extra)
            .map(Into::into)
            .collect();
        v.extend(["-o".into(), out_path.clone().into(), input.clone().into()]);
        v
    };
    for (extra, want) in [(&[][..], 0), (&["--fsync"][..], 1)] {
        let _ = std::fs::remove_file(&out_path);
        let a = o_args(extra);
        let refs: Vec<&std::ffi::OsStr> = a.iter().map(|s| s.as_os_str()).collect();
        let (out, calls) = traced(&refs);
        assert_eq!(code(&out), exit::OK, "{}", text(&out));
        assert_eq!(flushes(&calls), want, "-o {extra:?}: {calls:#?}");
        assert_proven(&out_path, &input);
    }
    // -o naming the input itself replaces it: flushed as any replacement is.
    let same = copy_to(&input, dir, "same.ko");
    let (out, calls) = traced(&[
        "strip".as_ref(),
        "--strategy".as_ref(),
        "native".as_ref(),
        "-o".as_ref(),
        same.as_os_str(),
        same.as_os_str(),
    ]);
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    assert_eq!(flushes(&calls), 1, "{calls:#?}");
    assert_proven(&same, &input);
}
