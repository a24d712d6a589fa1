//! `dkwrap doctor` end to end: the real binary over the system trees in testdata/doctor
//! (built by scripts/doctor-fixtures.sh; their .ko files are real modules).

use std::path::{Path, PathBuf};
use std::process::Command;

use dkwrap::exit;
use serde_json::Value;

const PROBLEMS_FOUND: i32 = 11;
const UNREADABLE: i32 = 3;
const USAGE: i32 = 2;

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/doctor")
        .join(name)
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn doctor(root: &Path, extra: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_dkwrap"))
        .arg("doctor")
        .arg("--root")
        .arg(root)
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .expect("run dkwrap");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json(root: &Path) -> (i32, Value) {
    let r = doctor(root, &["--json"]);
    let v: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", r.stdout, r.stderr));
    (r.code, v)
}

fn verdict_ids(v: &Value) -> Vec<&str> {
    v["verdicts"]
        .as_array()
        .expect("verdicts")
        .iter()
        .map(|x| x["id"].as_str().expect("id"))
        .collect()
}

fn all_commands(v: &Value) -> Vec<&str> {
    v["fixes"]
        .as_array()
        .expect("fixes")
        .iter()
        .flat_map(|f| f["commands"].as_array().expect("commands"))
        .map(|c| c.as_str().expect("command"))
        .collect()
}

#[test]
fn seed_scenario_text() {
    let r = doctor(&scenario("seed"), &[]);
    assert_eq!(r.code, PROBLEMS_FOUND, "{}\n{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    // Verdict first.
    assert_eq!(
        lines[0],
        "PROBLEM  userspace 570.133.07 ≠ loaded 570.124.06 — reboot: the running kernel's on-disk module is already 570.133.07"
    );
    assert!(lines.contains(
        &"RISK     kernel 5.15.0-138-generic has no nvidia module: the DKMS build failed (make.log: ERROR: Kernel configuration is invalid.). Rebooting into it will lose the GPU."
    ), "{}", r.stdout);
    assert!(r.stdout.contains("nvidia-dkms-570 is half-configured (iF)"));
    assert!(r
        .stdout
        .contains("linux-headers-5.15.0-138-generic is half-installed (iHR)"));
    assert!(r
        .stdout
        .contains("unattended-upgrades is on with no blacklist for nvidia-, libnvidia-, linux-"));
    assert!(r
        .stdout
        .contains("(rc): libnvidia-compute-550, nvidia-dkms-550, nvidia-driver-550"));
    // Evidence.
    assert!(r.stdout.contains("\nEvidence:\n"));
    assert!(r.stdout.contains("kernel 5.15.0-94-generic   running: 570.133.07 updates/dkms/nvidia.ko, srcversion 6CAB763D9E07452F66E90175"));
    assert!(r
        .stdout
        .contains("next boot (newest installed): no nvidia module, headers INCOMPLETE"));
    assert!(r
        .stdout
        .contains("| make: *** [Makefile:82: modules] Error 2"));
    assert!(r
        .stdout
        .contains("570.133.07: 5.15.0-94-generic installed  [/var/lib/dkms/status.txt]"));
    // Fixes, in order.
    let fix = r
        .stdout
        .split("\nFix, in this order:\n")
        .nth(1)
        .expect("fix section");
    let pos = |needle: &str| {
        fix.find(needle)
            .unwrap_or_else(|| panic!("no `{needle}` in fixes:\n{fix}"))
    };
    let order = [
        "sudo apt install --reinstall linux-headers-5.15.0-138-generic",
        "sudo dpkg --configure -a",
        "sudo dkms install nvidia/570.133.07 -k 5.15.0-138-generic",
        "sudo reboot",
        "sudo tee /etc/apt/apt.conf.d/51unattended-upgrades-nvidia >/dev/null <<'EOF'",
        "Unattended-Upgrade::Package-Blacklist { \"nvidia-\"; \"libnvidia-\"; \"linux-\"; };",
        "sudo apt-mark hold nvidia-driver-570 linux-generic linux-headers-generic linux-image-generic",
        "sudo apt purge libnvidia-compute-550 nvidia-dkms-550 nvidia-driver-550",
    ];
    for w in order.windows(2) {
        assert!(
            pos(w[0]) < pos(w[1]),
            "`{}` should come before `{}`",
            w[0],
            w[1]
        );
    }
    assert!(fix.contains("caveat: a hold also blocks kernel security updates"));
}

#[test]
fn seed_scenario_fits_one_screen() {
    let r = doctor(&scenario("seed"), &[]);
    let n = r.stdout.lines().count();
    assert!(n <= 40, "{n} lines:\n{}", r.stdout);
}

#[test]
fn seed_scenario_json() {
    let (code, v) = json(&scenario("seed"));
    assert_eq!(code, PROBLEMS_FOUND);
    assert_eq!(v["module"], "nvidia");
    assert_eq!(v["healthy"], false);
    assert_eq!(v["verdicts"][0]["id"], "version-mismatch");
    assert_eq!(v["verdicts"][0]["severity"], "broken");
    let ids = verdict_ids(&v);
    for id in [
        "version-mismatch",
        "dpkg-unfinished",
        "kernel-without-module",
        "unattended-upgrades",
        "dpkg-leftovers",
        "reboot-required",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let stages: Vec<&str> = v["fixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        ["headers", "packages", "build", "reboot", "prevent", "prevent", "cleanup"]
    );
    assert!(all_commands(&v).contains(&"sudo dkms install nvidia/570.133.07 -k 5.15.0-138-generic"));
    let ev = v["evidence"].as_array().unwrap();
    let make_log = ev
        .iter()
        .find(|e| e["what"] == "make.log")
        .expect("make.log row");
    assert_eq!(
        make_log["source"],
        "/var/lib/dkms/nvidia/570.133.07/build/make.log"
    );
    assert_eq!(make_log["detail"].as_array().unwrap().len(), 3);
    // The facts behind it.
    let f = &v["facts"];
    assert_eq!(f["loaded"]["version"], "570.124.06");
    assert_eq!(f["loaded"]["proc"]["open"], false);
    assert_eq!(f["running"], "5.15.0-94-generic");
    assert_eq!(f["kernels"][0]["release"], "5.15.0-94-generic");
    assert_eq!(f["kernels"][0]["modules"][0]["version"], "570.133.07");
    assert_eq!(
        f["kernels"][0]["modules"][0]["vermagic"],
        "5.15.0-94-generic SMP preempt mod_unload modversions"
    );
    assert_eq!(f["kernels"][1]["release"], "5.15.0-138-generic");
    assert_eq!(f["kernels"][1]["headers"], "incomplete");
    assert_eq!(f["nvml"][0]["owner"], "libnvidia-compute-570");
    assert_eq!(f["nvml"][0]["in_ld_cache"], true);
    assert_eq!(
        f["dkms"]["versions"][0]["make_log"]["kernel"],
        "5.15.0-138-generic"
    );
    assert_eq!(f["dkms"]["status"]["entries"][0]["format"], 2);
    assert_eq!(f["unattended"]["blacklist"].as_array().unwrap().len(), 0);
    assert_eq!(f["reboot_required"]["path"], "/run/reboot-required");
    assert_eq!(f["container"], Value::Null);
}

#[test]
fn healthy_scenario() {
    let r = doctor(&scenario("healthy"), &[]);
    assert_eq!(r.code, exit::OK, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.starts_with("OK       nvidia 570.133.07: the loaded module, userspace NVML and the on-disk modules of 6.8.0-60-generic (running) agree"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("PROBLEM") && !r.stdout.contains("RISK"));
    assert!(!r.stdout.contains("Fix, in this order"));
    let (code, v) = json(&scenario("healthy"));
    assert_eq!(code, exit::OK);
    assert_eq!(v["healthy"], true);
    assert_eq!(v["verdicts"].as_array().unwrap().len(), 0);
    assert_eq!(v["fixes"].as_array().unwrap().len(), 0);
    // The .ko.zst modules are read through their compression.
    let k = &v["facts"]["kernels"][1];
    assert_eq!(k["release"], "6.8.0-60-generic");
    assert_eq!(k["modules"][0]["compression"], "zstd");
    assert_eq!(k["modules"][0]["version"], "570.133.07");
    assert_eq!(k["modules"][0]["srcversion"], "6CAB763D9E07452F66E90175");
    assert_eq!(v["facts"]["loaded"]["proc"]["open"], true);
    assert_eq!(v["facts"]["dkms"]["status"]["entries"][1]["format"], 3);
}

#[test]
fn runfile_scenario() {
    let r = doctor(&scenario("runfile"), &[]);
    assert_eq!(r.code, PROBLEMS_FOUND, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(
        "RISK     libnvidia-ml 550.90.07 belongs to no package: the driver was installed with NVIDIA's .run installer without DKMS"
    ), "{}", r.stdout);
    assert!(r.stdout.contains(
        "RISK     kernel 6.1.0-30-amd64 has no nvidia module: its headers are not installed, so nothing could build it. Rebooting into it will lose the GPU."
    ));
    assert!(r.stdout.contains("(no package)"));
    let (_, v) = json(&scenario("runfile"));
    let c = all_commands(&v);
    assert!(c.contains(&"sudo apt install linux-headers-6.1.0-30-amd64"));
    assert!(c.contains(
        &"sudo sh NVIDIA-Linux-x86_64-550.90.07.run --dkms --kernel-name=6.1.0-30-amd64"
    ));
    assert_eq!(v["facts"]["nvml"][0]["owner"], Value::Null);
    assert_eq!(v["facts"]["runfile_uninstaller"], true);
    assert_eq!(
        v["facts"]["kernels"][0]["modules"][0]["path"],
        "/lib/modules/6.1.0-28-amd64/kernel/drivers/video/nvidia.ko"
    );
    // Nothing else is wrong with the machine: the running kernel's module matches.
    let ids = verdict_ids(&v);
    assert!(!ids.contains(&"version-mismatch"), "{ids:?}");
}

#[test]
fn container_scenario_is_not_broken_for_lacking_lib_modules() {
    let r = doctor(&scenario("container"), &[]);
    assert_eq!(r.code, exit::OK, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with(
        "OK       nvidia 580.159.04: the host's loaded module matches this container's NVML"
    ));
    assert!(!r.stdout.contains("/lib/modules/"), "{}", r.stdout);
    assert!(!r.stdout.contains("no package"), "{}", r.stdout);
    let (code, v) = json(&scenario("container"));
    assert_eq!(code, exit::OK);
    assert_eq!(v["healthy"], true);
    assert!(v["facts"]["container"]
        .as_str()
        .unwrap()
        .contains("no /lib/modules"));
    assert_eq!(
        v["facts"]["nvml"][0]["path"],
        "/usr/local/nvidia/lib64/libnvidia-ml.so.580.159.04"
    );
    assert_eq!(v["facts"]["loaded"]["proc"]["version"], "580.159.04");
    assert_eq!(v["facts"]["loaded"]["proc"]["open"], true);
    assert_eq!(v["verdicts"].as_array().unwrap().len(), 0);
}

#[test]
fn unreadable_root() {
    let r = doctor(&scenario("no-such-scenario"), &[]);
    assert_eq!(r.code, UNREADABLE);
    assert!(r.stderr.contains("no-such-scenario"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    let file = scenario("seed").join("etc/default/grub");
    assert_eq!(doctor(&file, &[]).code, UNREADABLE);
}

#[test]
fn module_names_are_not_paths() {
    let r = doctor(&scenario("seed"), &["--module", "../../etc"]);
    assert_eq!(r.code, USAGE, "{}", r.stderr);
}

#[test]
fn fixture_modules_are_real_elf_modules() {
    use dkwrap::modfile::ModuleFile;
    let cases = [
        (
            "seed/usr/lib/modules/5.15.0-94-generic/updates/dkms/nvidia.ko",
            "570.133.07",
            "5.15.0-94-generic",
        ),
        (
            "healthy/usr/lib/modules/6.8.0-60-generic/updates/dkms/nvidia.ko.zst",
            "570.133.07",
            "6.8.0-60-generic",
        ),
        (
            "runfile/lib/modules/6.1.0-28-amd64/kernel/drivers/video/nvidia.ko",
            "550.90.07",
            "6.1.0-28-amd64",
        ),
    ];
    for (path, version, release) in cases {
        let m = ModuleFile::open(&scenario(path)).unwrap();
        let elf = m.elf().unwrap();
        assert!(
            elf.section_by_name(".gnu.linkonce.this_module").is_some(),
            "{path}"
        );
        assert!(elf.symbols().unwrap().is_some(), "{path}: no symtab");
        assert!(
            !elf.sections.iter().any(|s| s.is_debug()),
            "{path}: debug info"
        );
        let info = elf.modinfo().unwrap().unwrap();
        assert_eq!(info.get("name"), Some("nvidia"));
        assert_eq!(info.get("version"), Some(version));
        assert!(info
            .get("vermagic")
            .unwrap()
            .starts_with(&format!("{release} ")));
        assert_eq!(info.get("srcversion").map(str::len), Some(24));
        assert!(info
            .all("firmware")
            .all(|f| f.starts_with(&format!("nvidia/{version}/"))));
    }
}

/// Copies a tree, keeping symlinks as symlinks.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let ty = entry.file_type().unwrap();
        if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if ty.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

#[test]
fn untrusted_text_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&scenario("seed"), dir.path());
    let log = dir
        .path()
        .join("var/lib/dkms/nvidia/570.133.07/build/make.log");
    std::fs::write(
        &log,
        "DKMS make.log for nvidia-570.133.07 for kernel 5.15.0-138-generic (x86_64)\n\
         cc: error: \x1b]0;pwned\x07\x1b[31mred\n\
         make: *** [Makefile:82: modules] Error 2\n",
    )
    .unwrap();
    let r = doctor(dir.path(), &[]);
    assert_eq!(r.code, PROBLEMS_FOUND);
    assert!(!r.stdout.contains('\x1b') && !r.stdout.contains('\x07'));
    assert!(r.stdout.contains("\\u{1b}[31mred"), "{}", r.stdout);
}

#[test]
fn a_damaged_module_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&scenario("seed"), dir.path());
    let ko = dir
        .path()
        .join("usr/lib/modules/5.15.0-94-generic/updates/dkms/nvidia.ko");
    std::fs::write(&ko, b"\x7fELF\x02\x01\x01 truncated").unwrap();
    let (code, v) = json(dir.path());
    assert_eq!(code, PROBLEMS_FOUND);
    let m = &v["facts"]["kernels"][0]["modules"][0];
    let err = m["error"].as_str().expect("error recorded");
    assert!(
        err.starts_with("/lib/modules/5.15.0-94-generic/updates/dkms/nvidia.ko:"),
        "{err}"
    );
    // With no usable module, the running kernel now lacks one.
    let v = &v["verdicts"];
    assert!(v.as_array().unwrap().iter().any(|x| x["verdict"]
        .as_str()
        .unwrap()
        .contains("the running kernel has no nvidia module on disk")));
}

/// Package tools of the other distribution families: a fix must never name them.
fn foreign_tools(family: &str) -> Vec<&'static str> {
    const DEBIAN: &[&str] = &[
        "apt ",
        "apt-get",
        "apt-mark",
        "dpkg",
        "ubuntu-drivers",
        "update-initramfs",
    ];
    const FEDORA: &[&str] = &["dnf ", "akmods", "dracut"];
    const ARCH: &[&str] = &["pacman", "mkinitcpio"];
    const SUSE: &[&str] = &["zypper"];
    match family {
        "debian" => [FEDORA, ARCH, SUSE].concat(),
        "fedora" => [DEBIAN, ARCH, SUSE].concat(),
        "arch" => [DEBIAN, FEDORA, SUSE].concat(),
        other => panic!("no list for {other}"),
    }
}

fn assert_own_tools_only(v: &Value, family: &str) {
    assert_eq!(v["facts"]["distro"]["family"], family);
    for c in all_commands(v) {
        for tool in foreign_tools(family) {
            assert!(!c.contains(tool), "{family} fix names {tool:?}: {c}");
        }
    }
    for f in v["fixes"].as_array().unwrap() {
        let why = f["why"].as_str().unwrap();
        for tool in foreign_tools(family) {
            assert!(
                !why.contains(tool),
                "{family} fix text names {tool:?}: {why}"
            );
        }
    }
}

/// The checked modules of kernel `k`: (file name, verdict).
fn checked(v: &Value, k: &str) -> Vec<(String, String)> {
    let kernel = v["facts"]["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["release"] == k)
        .unwrap_or_else(|| panic!("no kernel {k}"));
    kernel["checked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let path = c["path"].as_str().unwrap();
            let file = path.rsplit('/').next().unwrap().to_string();
            (file, c["verdict"].as_str().unwrap().to_string())
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn fedora_akmods_scenario() {
    let root = scenario("fedora");
    let r = doctor(&root, &[]);
    assert_eq!(r.code, PROBLEMS_FOUND, "{}\n{}", r.stdout, r.stderr);
    let first = r.stdout.lines().next().unwrap();
    assert_eq!(
        first,
        "RISK     kernel 6.12.9-200.fc41.x86_64 has no nvidia module: akmods failed to build it \
         (565.77-1-for-6.12.9-200.fc41.x86_64.failed.log: gcc: error: unrecognized command-line \
         option '-fmin-function-alignment=16'). Rebooting into it will lose the GPU."
    );
    // The running kernel's kmod-nvidia (extra/nvidia/*.ko.xz) is found and fine.
    assert!(
        !r.stdout.contains("6.11.4-301.fc41.x86_64 has no"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("/var/lib/rpm/rpmdb.sqlite not read"),
        "{}",
        r.stdout
    );
    let (_, v) = json(&root);
    assert_eq!(verdict_ids(&v), ["kernel-without-module"]);
    assert_eq!(
        all_commands(&v),
        ["sudo akmods --force --kernels 6.12.9-200.fc41.x86_64"]
    );
    assert_own_tools_only(&v, "fedora");
    assert_eq!(v["facts"]["distro"]["id"], "fedora");
    assert_eq!(v["facts"]["distro"]["package_db_read"], false);
    assert_eq!(
        v["facts"]["nvml"][0]["path"],
        "/usr/lib64/libnvidia-ml.so.565.77"
    );
    assert_eq!(
        checked(&v, "6.11.4-301.fc41.x86_64"),
        pairs(&[("nvidia.ko.xz", "ok"), ("nvidia-modeset.ko.xz", "ok")])
    );
    assert!(checked(&v, "6.12.9-200.fc41.x86_64").is_empty());
    let akmods = v["facts"]["akmods"].as_array().unwrap();
    assert_eq!(akmods.len(), 2);
    assert_eq!(akmods[1]["failed"], true);
}

#[test]
fn cachyos_gnu_strip_damage_is_seen_before_the_reboot() {
    let root = scenario("cachyos");
    let r = doctor(&root, &[]);
    assert_eq!(r.code, PROBLEMS_FOUND, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        r.stdout.lines().next().unwrap(),
        "PROBLEM  rebooting into 6.9.3-2-cachyos will fail to bring up the display: \
         nvidia-modeset.ko.zst has relocations past its symbol table — the damage GNU strip \
         does to clang ThinLTO modules"
    );
    // What doctor used to get wrong on Arch.
    assert!(!r.stdout.contains("no libnvidia-ml"), "{}", r.stdout);
    assert!(!r.stdout.contains("unknown kernel"), "{}", r.stdout);
    let (_, v) = json(&root);
    assert_eq!(verdict_ids(&v), ["module-damaged"]);
    assert_eq!(
        all_commands(&v),
        [
            "sudo dkwrap dkms install-integration",
            "sudo dkms install nvidia/550.78 -k 6.9.3-2-cachyos --force"
        ]
    );
    assert_own_tools_only(&v, "arch");
    assert_eq!(v["facts"]["distro"]["id_like"][0], "arch");
    assert_eq!(
        checked(&v, "6.6.32-1-cachyos-lts"),
        pairs(&[("nvidia.ko.zst", "ok"), ("nvidia-modeset.ko.zst", "ok")])
    );
    assert_eq!(
        checked(&v, "6.9.3-2-cachyos"),
        pairs(&[
            ("nvidia.ko.zst", "ok"),
            ("nvidia-modeset.ko.zst", "invalid")
        ])
    );
    let kernels = v["facts"]["kernels"].as_array().unwrap();
    let bad = &kernels
        .iter()
        .find(|k| k["release"] == "6.9.3-2-cachyos")
        .unwrap()["checked"][1];
    assert_eq!(bad["config"], "/lib/modules/6.9.3-2-cachyos/build/.config");
    assert_eq!(bad["compression"], "zstd");
    assert!(bad["errors"][0]
        .as_str()
        .unwrap()
        .contains("but there are only"));
    // strip's messages in pacman.log are tied to the kernel the dkms hook was building.
    let hits = v["facts"]["log_hits"].as_array().unwrap();
    let kinds: Vec<&str> = hits.iter().map(|h| h["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["invalid-group-entry", "bfd-assertion"]);
    assert!(hits
        .iter()
        .all(|h| h["kernel"] == "6.9.3-2-cachyos" && h["source"] == "/var/log/pacman.log"));
    let pkgs = v["facts"]["pacman"].as_array().unwrap();
    assert!(pkgs
        .iter()
        .any(|p| p["name"] == "nvidia-utils" && p["version"] == "550.78-1"));
    assert_eq!(kernels[0]["pkgbase"], "linux-cachyos-lts");
}

#[test]
fn ubuntu_prebuilt_linux_modules_nvidia_count_as_a_module_source() {
    let root = scenario("ubuntu-prebuilt");
    let r = doctor(&root, &[]);
    assert_eq!(r.code, PROBLEMS_FOUND, "{}\n{}", r.stdout, r.stderr);
    let (_, v) = json(&root);
    assert_eq!(verdict_ids(&v), ["kernel-without-module"]);
    assert_eq!(
        v["verdicts"][0]["verdict"],
        "kernel 6.8.0-62-generic has no nvidia module: Ubuntu's prebuilt \
         linux-modules-nvidia-550-6.8.0-62-generic is not installed. Rebooting into it will lose the GPU."
    );
    // No headers, no dkms: the prebuilt package is the whole fix.
    assert_eq!(
        all_commands(&v),
        ["sudo apt install linux-modules-nvidia-550-6.8.0-62-generic"]
    );
    assert_own_tools_only(&v, "debian");
    assert_eq!(
        checked(&v, "6.8.0-60-generic"),
        pairs(&[("nvidia.ko", "ok"), ("nvidia-modeset.ko", "ok")])
    );
    let running = &v["facts"]["kernels"][1];
    assert_eq!(
        running["modules"][0]["path"],
        "/lib/modules/6.8.0-60-generic/kernel/nvidia-550/nvidia.ko"
    );
}

#[test]
fn debian_family_scenarios_name_no_foreign_tool() {
    for s in ["seed", "healthy", "runfile"] {
        let (_, v) = json(&scenario(s));
        assert_own_tools_only(&v, "debian");
    }
}

/// Runs doctor with a deadline (a FIFO opened blocking would hang it forever); its exit
/// code and peak resident memory in KiB.
// The child is reaped with wait4 (for its rusage), which clippy does not see.
#[allow(clippy::zombie_processes)]
fn doctor_within(root: &Path, secs: u64) -> (i32, i64) {
    let child = Command::new(env!("CARGO_BIN_EXE_dkwrap"))
        .arg("doctor")
        .arg("--root")
        .arg(root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run dkwrap");
    let pid = child.id() as libc::pid_t;
    let start = std::time::Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: zeroed rusage is a valid value of this plain C struct.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our own unwaited child; status and usage are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(r >= 0, "wait4: {}", std::io::Error::last_os_error());
        if r == pid {
            assert!(libc::WIFEXITED(status), "doctor died: status {status}");
            return (libc::WEXITSTATUS(status), usage.ru_maxrss);
        }
        if start.elapsed().as_secs() >= secs {
            // SAFETY: kill and reap our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("doctor did not finish within {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn fifos_and_huge_files_in_an_image_neither_hang_nor_exhaust_memory() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&scenario("cachyos"), dir.path());
    let root = dir.path();
    let mkfifo = |p: &Path| {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(p);
        let st = Command::new("mkfifo").arg(p).status().expect("mkfifo");
        assert!(st.success());
    };
    // A FIFO where a text file, a kernel config and a module are read.
    mkfifo(&root.join("proc/1/environ"));
    mkfifo(&root.join("etc/os-release"));
    mkfifo(&root.join("usr/lib/modules/6.9.3-2-cachyos/build/.config"));
    mkfifo(&root.join("usr/lib/modules/6.9.3-2-cachyos/updates/dkms/nvidia-uvm.ko"));
    // A 3 GiB (sparse) log: read up to the cap, not to the end.
    let log = std::fs::OpenOptions::new()
        .append(true)
        .open(root.join("var/log/pacman.log"))
        .unwrap();
    log.set_len(3 << 30).unwrap();
    let (code, max_rss_kib) = doctor_within(root, 60);
    assert_eq!(code, PROBLEMS_FOUND);
    // 64 MiB of the log at most (plus its text copy), never the 3 GiB.
    assert!(max_rss_kib < 512 << 10, "peak RSS {max_rss_kib} KiB");
    let (_, v) = json(root);
    let uvm = checked(&v, "6.9.3-2-cachyos");
    assert!(
        uvm.contains(&("nvidia-uvm.ko".into(), "unreadable".into())),
        "{uvm:?}"
    );
    let unreadable = v["facts"]["unreadable"].to_string();
    assert!(
        unreadable.contains("/etc/os-release: not a regular file"),
        "{unreadable}"
    );
}
