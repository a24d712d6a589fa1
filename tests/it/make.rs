//! `dkwrap make` driven as dkms drives it, with *simulated* make programs: each test writes a
//! small `make` script onto a private PATH that records its arguments and then behaves like
//! one case of a real build (prints a known failure, exits with a status, is killed, leaves a
//! committed fixture module behind as its "build result", or builds nothing). The LLVM tools
//! are simulated too (scripts printing the real banners, found through `DKWRAP_LLVM_ROOT`),
//! so these tests need no kernel tree and no compiler. Real builds with real dkms are in
//! scripts/e2e-dkms.sh.

use crate::common::*;
use dkwrap::exit;
use std::path::{Path, PathBuf};
use std::process::Output;

/// One simulated machine: a PATH holding only the fake make, an LLVM root, a kernel tree
/// (configuration only) and the external module directory.
struct Sim {
    dir: tempfile::TempDir,
}

impl Sim {
    /// `tree`: which committed kernel configuration (testdata/kconfig/<tree>.config).
    fn new(tree: &str) -> Sim {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["bin", "llvm/llvm-19/bin", "tree/include/config", "mod"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::copy(kconfig(tree), root.join("tree/.config")).unwrap();
        std::fs::write(root.join("tree/include/config/kernel.release"), "6.1.192\n").unwrap();
        simulated_llvm_19(&root.join("llvm/llvm-19/bin"));
        Sim { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }
    fn tree(&self) -> PathBuf {
        self.root().join("tree")
    }
    fn moddir(&self) -> PathBuf {
        self.root().join("mod")
    }
    fn argv_file(&self) -> PathBuf {
        self.root().join("make.argv")
    }

    /// Installs the simulated make: records its arguments, then runs `body` (sh).
    fn make(&self, body: &str) {
        let script = format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{}'\n{body}\n",
            self.argv_file().display()
        );
        write_script(&self.root().join("bin/make"), &script);
    }

    /// A make that "builds" `fixture` into the module directory as `name` and succeeds.
    fn make_building(&self, fixture_name: &str, name: &str) {
        self.make(&format!(
            "echo '  CC [M]  {m}/mlike_main.o'\n/bin/cp '{src}' '{m}/{name}'\necho '  LD [M]  {m}/{name}'\nexit 0",
            m = self.moddir().display(),
            src = fixture(fixture_name).display()
        ));
    }

    /// Runs `dkwrap make ARGS -- make MAKE_ARGS` on the simulated machine.
    fn run(&self, args: &[&str], make_args: &[&str]) -> Output {
        let mut c = dkwrap();
        c.current_dir(self.root())
            .env("PATH", self.root().join("bin"))
            .env("DKWRAP_LLVM_ROOT", self.root().join("llvm"))
            .env_remove("CI")
            .arg("make")
            .args(args)
            .arg("--")
            .arg("make")
            .args(make_args);
        run(&mut c)
    }

    fn argv(&self) -> Vec<String> {
        std::fs::read_to_string(self.argv_file())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn llvm_bin(&self, tool: &str) -> String {
        self.root()
            .join("llvm/llvm-19/bin")
            .join(tool)
            .display()
            .to_string()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn kbuild_args(sim: &Sim) -> Vec<String> {
    vec![
        "-C".into(),
        sim.tree().display().to_string(),
        format!("M={}", sim.moddir().display()),
        "modules".into(),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn dkms_appended_and_guide_arguments_are_rewritten_to_the_kernels_tools() {
    let sim = Sim::new("thinlto");
    sim.make_building("modeset-like-thinlto.ko", "modeset-like.ko");
    // What dkms 3.0.10 appends for a clang kernel (CC=clang LD=ld.lld), plus an old guide's
    // LLVM=1 and a package Makefile's GNU objcopy.
    let mut args = kbuild_args(&sim);
    args.extend(["LLVM=1", "OBJCOPY=objcopy", "CC=clang", "LD=ld.lld"].map(String::from));
    let out = sim.run(&[], &strs(&args));
    let err = stderr(&out);
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let argv = sim.argv();
    let llvm_dir = format!("{}/", sim.root().join("llvm/llvm-19/bin").display());
    for want in [
        format!("LLVM={llvm_dir}"),
        format!("CC={}", sim.llvm_bin("clang")),
        format!("CXX={}", sim.llvm_bin("clang++")),
        format!("LD={}", sim.llvm_bin("ld.lld")),
        format!("OBJCOPY={}", sim.llvm_bin("llvm-objcopy")),
        format!("AR={}", sim.llvm_bin("llvm-ar")),
        format!("NM={}", sim.llvm_bin("llvm-nm")),
        format!("STRIP={}", sim.llvm_bin("llvm-strip")),
        format!("OBJDUMP={}", sim.llvm_bin("llvm-objdump")),
        format!("READELF={}", sim.llvm_bin("llvm-readelf")),
    ] {
        assert!(argv.contains(&want), "missing {want} in {argv:?}");
    }
    for gone in ["CC=clang", "LD=ld.lld", "LLVM=1", "OBJCOPY=objcopy"] {
        assert!(!argv.iter().any(|a| a == gone), "{gone} survived: {argv:?}");
    }
    // Each variable once: the rewritten ones stay where they were, the rest are appended.
    assert_eq!(argv.iter().filter(|a| a.starts_with("CC=")).count(), 1);
    assert_eq!(&argv[..4], &args[..4]);
    assert!(err.contains("rewrote CC=clang"), "{err}");
    assert!(err.contains("`clang` is not installed"), "{err}");
    assert!(err.contains("rewrote OBJCOPY=objcopy"), "{err}");
    // The command line is printed once.
    assert_eq!(
        err.matches("dkwrap make: running: make ").count(),
        1,
        "{err}"
    );
    // The build result was stripped (the simulated llvm-strip fails: native) and verified.
    let built = sim.moddir().join("modeset-like.ko");
    let before = std::fs::metadata(fixture("modeset-like-thinlto.ko"))
        .unwrap()
        .len();
    assert!(std::fs::metadata(&built).unwrap().len() < before);
    assert!(
        err.contains("modeset-like.ko: stripped with dkwrap's rewriter"),
        "{err}"
    );
    let v = run(dkwrap()
        .arg("verify")
        .arg("--against")
        .arg(fixture("modeset-like-thinlto.ko"))
        .arg(&built));
    assert_eq!(code(&v), exit::OK, "{}", text(&v));
}

#[test]
fn json_summary_is_alone_on_stdout() {
    let sim = Sim::new("thinlto");
    sim.make_building("modeset-like-thinlto.ko", "modeset-like.ko");
    let out = sim.run(&["--json", "--strategy", "skip"], &strs(&kbuild_args(&sim)));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", text(&out)));
    assert_eq!(v["outcome"], "ok");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["make_status"], 0);
    assert_eq!(v["kernel"]["compiler"], "clang");
    assert_eq!(v["kernel"]["lto"], "thin");
    assert_eq!(v["kernel"]["release"], "6.1.192");
    assert_eq!(v["kernel"]["selected_by"], "-C");
    assert_eq!(v["modules"][0]["strategy"], "skip");
    assert_eq!(v["modules"][0]["verified"], true);
    assert!(v["rewrites"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["variable"] == "LLVM"));
    // make's own output went to stderr, so stdout stays one JSON document.
    assert!(stderr(&out).contains("CC [M]"));
    // skip: the module is the build result, untouched.
    assert_eq!(
        sha256(&sim.moddir().join("modeset-like.ko")),
        sha256(&fixture("modeset-like-thinlto.ko"))
    );
}

#[test]
fn gcc_kernel_command_is_left_alone() {
    let sim = Sim::new("gcc");
    sim.make_building("modeset-like-gcc.ko", "modeset-like.ko");
    let mut args = kbuild_args(&sim);
    args.push("KCFLAGS=-O2".into());
    let out = sim.run(&[], &strs(&args));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    assert_eq!(sim.argv(), args);
    assert!(stderr(&out).contains("(gcc 12."), "{}", text(&out));
}

#[test]
fn foreign_architecture_kernel_gets_arch() {
    if std::env::consts::ARCH == "aarch64" {
        eprintln!("SKIP: host is arm64, the arm64 tree is native here");
        return;
    }
    let sim = Sim::new("arm64-thinlto");
    sim.make_building("modeset-like-arm64-thinlto.ko", "modeset-like.ko");
    let out = sim.run(&[], &strs(&kbuild_args(&sim)));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let argv = sim.argv();
    assert!(argv.contains(&"ARCH=arm64".to_string()), "{argv:?}");
    assert!(
        !argv.iter().any(|a| a.starts_with("CROSS_COMPILE=")),
        "{argv:?}"
    );
    assert!(
        argv.contains(&format!("CC={}", sim.llvm_bin("clang"))),
        "{argv:?}"
    );
}

#[test]
fn kernel_is_found_from_the_make_commands_variables() {
    let sim = Sim::new("thinlto");
    sim.make_building("modeset-like-thinlto.ko", "modeset-like.ko");
    // NVIDIA's shape: make runs in the package directory, the kernel comes in a variable.
    let kdir = format!("SYSSRC={}", sim.tree().display());
    let m = format!("M={}", sim.moddir().display());
    let out = sim.run(&["--json"], &[&kdir, &m, "modules"]);
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kernel"]["selected_by"], "SYSSRC=");
    assert_eq!(v["kernel"]["compiler"], "clang");
}

#[test]
fn listed_modules_are_relative_to_the_module_directory() {
    let sim = Sim::new("thinlto");
    std::fs::create_dir_all(sim.moddir().join("kernel-open")).unwrap();
    sim.make_building("modeset-like-thinlto.ko", "kernel-open/modeset-like.ko");
    let out = sim.run(
        &[
            "--modules",
            "kernel-open/modeset-like.ko",
            "--strategy",
            "native",
        ],
        &strs(&kbuild_args(&sim)),
    );
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    // A listed module that is not there fails the stage.
    sim.make_building("modeset-like-thinlto.ko", "other.ko");
    let out = sim.run(&["--modules", "missing.ko"], &strs(&kbuild_args(&sim)));
    assert_eq!(code(&out), exit::BUILT_MODULE_REJECTED, "{}", text(&out));
    assert!(
        stderr(&out).contains("not found after the build"),
        "{}",
        text(&out)
    );
}

#[test]
fn failing_make_status_is_passed_through_with_its_diagnosis() {
    let sim = Sim::new("thinlto");
    // The failure dkms 3.0.10 produces on Debian for a clang kernel, as make prints it.
    sim.make("echo '  CC [M]  /x/mlike_main.o'\necho 'make: clang: No such file or directory' >&2\necho 'make: *** [Makefile:5: modules] Error 127' >&2\nexit 2");
    let out = sim.run(&[], &strs(&kbuild_args(&sim)));
    // make's own failure has dkwrap's code (2 would read as dkwrap's usage error); make's
    // status is in the message.
    assert_eq!(code(&out), exit::MAKE_FAILED, "{}", text(&out));
    assert!(
        stderr(&out).contains("make exited with status 2"),
        "{}",
        text(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // make's stderr is streamed, unchanged, into our stdout (dkms's make.log has both).
    assert!(
        stdout.contains("make: clang: No such file or directory\n"),
        "{stdout}"
    );
    let err = stderr(&out);
    assert!(err.contains("[llvm-tool-not-found]"), "{err}");
    assert!(err.contains("cause: the build runs `clang`"), "{err}");
    assert!(err.contains("fix:"), "{err}");
    assert!(err.contains("FAILED (make-failed)"), "{err}");
}

#[test]
fn every_measured_failure_is_diagnosed() {
    // Messages measured with dkms 3.0.10 / NVIDIA 595.45.04 on the clang-19 ThinLTO tree.
    let cases = [
        ("ld: unrecognised emulation mode: llvm", "gnu-ld-emulation-llvm"),
        ("gcc: error: unrecognized command-line option '-mretpoline-external-thunk'", "gcc-given-clang-flags"),
        ("objcopy: nvidia-modeset.ko: file format not recognized", "gnu-objcopy-format-not-recognized"),
        ("Failed to encode BTF", "btf-encode-failed"),
        ("nvidia/nv.c:1:1: error: call to undeclared function 'sys_close'; ISO C99 and later do not support implicit function declarations", "nvidia-conftest-sys-close"),
    ];
    for (line, id) in cases {
        let sim = Sim::new("thinlto");
        sim.make(&format!("printf '%s\\n' \"{line}\" >&2\nexit 2"));
        let out = sim.run(&["--json"], &strs(&kbuild_args(&sim)));
        assert_eq!(code(&out), exit::MAKE_FAILED, "{}", text(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["make_status"], 2);
        assert_eq!(v["exit_code"], exit::MAKE_FAILED);
        assert_eq!(v["diagnoses"][0]["id"], id, "{line}: {}", text(&out));
        assert_eq!(v["outcome"], "make-failed");
    }
}

#[test]
fn output_is_copied_byte_for_byte() {
    let sim = Sim::new("gcc");
    // Invalid UTF-8 and a line without a final newline must come through untouched.
    sim.make("printf 'caf\\351\\n\\tpartial'\nexit 7");
    let out = sim.run(&[], &strs(&kbuild_args(&sim)));
    assert_eq!(code(&out), exit::MAKE_FAILED);
    assert_eq!(out.stdout, b"caf\xe9\n\tpartial");
}

#[test]
fn make_killed_by_a_signal_exits_128_plus_n() {
    let sim = Sim::new("gcc");
    sim.make("kill -TERM $$");
    let out = sim.run(&[], &strs(&kbuild_args(&sim)));
    assert_eq!(code(&out), 128 + 15, "{}", text(&out));
    assert!(
        stderr(&out).contains("killed by signal 15"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_successful_make_that_printed_a_bfd_assertion_is_rejected() {
    let sim = Sim::new("thinlto");
    // A package Makefile that runs GNU strip itself: the assertion, then exit 0.
    sim.make(&format!(
        "/bin/cp '{}' '{}/m.ko'\necho 'strip: m.ko: invalid entry (0x5) in group [22]' >&2\necho 'BFD (GNU Binutils) 2.43.1 assertion fail ../bfd/elf.c:3944' >&2\nexit 0",
        fixture("modeset-like-thinlto.ko").display(),
        sim.moddir().display()
    ));
    let out = sim.run(&[], &strs(&kbuild_args(&sim)));
    assert_eq!(code(&out), exit::BUILT_MODULE_REJECTED, "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("[gnu-strip-invalid-group-entry]"), "{err}");
    assert!(err.contains("[gnu-bfd-assertion]"), "{err}");
    assert!(err.contains("cannot be trusted"), "{err}");
}

#[test]
fn no_module_built_is_an_error() {
    let sim = Sim::new("thinlto");
    // A module from an earlier build is not this build's result.
    let stale = copy_to(&fixture("modeset-like-thinlto.ko"), &sim.moddir(), "old.ko");
    let f = std::fs::File::options().write(true).open(&stale).unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
    sim.make("echo 'make: Nothing to be done for '\"'\"'modules'\"'\"'.'\nexit 0");
    let out = sim.run(&[], &strs(&kbuild_args(&sim)));
    assert_eq!(code(&out), exit::BUILT_MODULE_REJECTED, "{}", text(&out));
    assert!(stderr(&out).contains("built no module"), "{}", text(&out));
}

#[test]
fn a_module_that_fails_verification_fails_the_stage() {
    let sim = Sim::new("thinlto");
    // The "build" leaves a truncated module behind.
    sim.make(&format!(
        "/bin/dd if='{}' of='{}/broken.ko' bs=4096 count=3 2>/dev/null\nexit 0",
        fixture("modeset-like-thinlto.ko").display(),
        sim.moddir().display()
    ));
    let out = sim.run(&[], &strs(&kbuild_args(&sim)));
    assert_eq!(code(&out), exit::BUILT_MODULE_REJECTED, "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("broken.ko"), "{err}");
    assert!(
        err.contains("REJECTED") || err.contains("strip failed"),
        "{err}"
    );
    assert!(err.contains("module-rejected"), "{err}");
}

#[test]
fn missing_make_is_reported_with_its_package() {
    let sim = Sim::new("gcc");
    let out = sim.run(&[], &strs(&kbuild_args(&sim)));
    assert_eq!(code(&out), exit::TOOL_MISSING, "{}", text(&out));
    assert!(stderr(&out).contains("make not found"), "{}", text(&out));
    assert!(stderr(&out).contains("apt install make"), "{}", text(&out));
}

#[test]
fn missing_llvm_tools_are_reported_with_their_packages() {
    let sim = Sim::new("thinlto");
    sim.make("exit 0");
    std::fs::remove_dir_all(sim.root().join("llvm/llvm-19")).unwrap();
    let out = sim.run(&[], &strs(&kbuild_args(&sim)));
    assert_eq!(code(&out), exit::TOOL_MISSING, "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("clang-19") && err.contains("ld.lld-19"),
        "{err}"
    );
    assert!(
        err.contains("apt install clang-19") && err.contains("lld-19"),
        "{err}"
    );
    // make never ran.
    assert!(!sim.argv_file().exists());
}

#[test]
fn missing_kernel_tree_is_reported() {
    let sim = Sim::new("thinlto");
    sim.make("exit 0");
    let out = sim.run(&["--kernel-dir", "/nonexistent/kernel"], &["modules"]);
    assert_eq!(code(&out), exit::NO_KERNEL_CONFIG, "{}", text(&out));
    assert!(
        stderr(&out).contains("/nonexistent/kernel"),
        "{}",
        text(&out)
    );
    // Named only by the make command: the same.
    let out = sim.run(&[], &["KERNELDIR=/nonexistent/kernel", "modules"]);
    assert_eq!(code(&out), exit::NO_KERNEL_CONFIG, "{}", text(&out));
    assert!(stderr(&out).contains("from KERNELDIR="), "{}", text(&out));
}

#[test]
fn the_selected_kernel_is_passed_the_way_the_package_reads_it() {
    // NVIDIA-shaped: the top-level Makefile runs a sub-make whose Makefile finds the kernel
    // through SYSSRC/SYSOUT (else KERNEL_UNAME via /lib/modules): --kernel-dir must reach it.
    let sim = Sim::new("thinlto");
    std::fs::create_dir_all(sim.root().join("kernel-open")).unwrap();
    std::fs::write(
        sim.root().join("Makefile"),
        "modules:\n\t$(MAKE) -C kernel-open modules\n",
    )
    .unwrap();
    std::fs::write(
        sim.root().join("kernel-open/Makefile"),
        "ifdef SYSSRC\n  KERNEL_SOURCES := $(SYSSRC)\nelse\n  KERNEL_UNAME ?= $(shell uname -r)\nendif\n",
    )
    .unwrap();
    sim.make_building("modeset-like-thinlto.ko", "nvidia-modeset.ko");
    let tree = sim.tree().display().to_string();
    let out = sim.run(
        &["--kernel-dir", &tree],
        &["-j2", "KERNEL_UNAME=6.1.192", "modules"],
    );
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let argv = sim.argv();
    assert!(argv.contains(&format!("SYSSRC={tree}")), "{argv:?}");
    assert!(argv.contains(&format!("SYSOUT={tree}")), "{argv:?}");
    assert!(
        stderr(&out).contains("added SYSSRC="),
        "the addition is said: {}",
        text(&out)
    );
    // A package whose Makefile reads KDIR gets KDIR; one that already names it is left alone.
    let sim = Sim::new("gcc");
    std::fs::write(
        sim.root().join("Makefile"),
        "all:\n\t$(MAKE) -C $(KDIR) M=$(CURDIR) modules\n",
    )
    .unwrap();
    sim.make_building("basic-gcc.ko", "basic.ko");
    let tree = sim.tree().display().to_string();
    let out = sim.run(&["--kernel-dir", &tree], &["all"]);
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    assert!(
        sim.argv().contains(&format!("KDIR={tree}")),
        "{:?}",
        sim.argv()
    );
    let out = sim.run(&["--kernel-dir", &tree], &["all", &format!("KDIR={tree}")]);
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    assert_eq!(
        sim.argv().iter().filter(|a| a.starts_with("KDIR=")).count(),
        1,
        "{:?}",
        sim.argv()
    );
}

#[test]
fn dkwraps_own_make_link_first_on_path_is_skipped_and_makes_below_are_marked_nested() {
    let sim = Sim::new("thinlto");
    // dkwrap's shim directory first on PATH, as inside dkms with the integration installed.
    let shim = sim.root().join("shim");
    std::fs::create_dir_all(&shim).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_dkwrap"), shim.join("make")).unwrap();
    let nested = sim.root().join("nested.env");
    sim.make(&format!(
        "echo \"$DKWRAP_SHIM_MAKE\" > '{n}'\n/bin/cp '{src}' '{m}/m.ko'\nexit 0",
        n = nested.display(),
        src = fixture("modeset-like-thinlto.ko").display(),
        m = sim.moddir().display()
    ));
    let out = run(dkwrap()
        .current_dir(sim.root())
        .env(
            "PATH",
            format!("{}:{}", shim.display(), sim.root().join("bin").display()),
        )
        .env("DKWRAP_LLVM_ROOT", sim.root().join("llvm"))
        .env_remove("DKWRAP_SHIM_MAKE")
        .args(["make", "--kernel-dir"])
        .arg(sim.tree())
        .arg("--")
        .arg("make")
        .arg(format!("M={}", sim.moddir().display()))
        .arg("modules"));
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        sim.argv().iter().any(|a| a == "modules"),
        "the simulated make ran"
    );
    assert_eq!(
        text(&out).matches("dkwrap make: running: ").count(),
        1,
        "one dkwrap make, not a second one through the shim: {}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&nested).unwrap().trim(),
        "1",
        "make runs with DKWRAP_SHIM_MAKE=1, so a shim reached below it passes through"
    );
}

#[test]
fn headers_missing_names_the_target_kernel_and_not_what_the_command_has() {
    // NVIDIA's Makefile looking for /lib/modules/<release>/build although --kernel-dir was
    // given (the failure of issue 16): the diagnosis must not tell the user to pass
    // --kernel-dir, nor name the running kernel.
    let sim = Sim::new("thinlto");
    sim.make(
        "echo 'make[1]: *** /lib/modules/6.1.192/build: No such file or directory.  Stop.'\nexit 2",
    );
    let tree = sim.tree().display().to_string();
    let out = sim.run(
        &["--kernel-dir", &tree],
        &["KERNEL_UNAME=6.1.192", "modules"],
    );
    assert_eq!(code(&out), exit::MAKE_FAILED, "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("[kernel-headers-missing]"), "{err}");
    assert!(!err.contains("uname -r"), "{err}");
    assert!(
        !err.contains("pass its build tree with `--kernel-dir`"),
        "{err}"
    );
    assert!(err.contains("--kernel-dir, KERNEL_UNAME="), "{err}");
    assert!(err.contains("release 6.1.192"), "{err}");
}
