//! `dkwrap matrix` on the real binary with *simulated* make programs (as tests/it/make.rs): each
//! simulated make records where it ran, its arguments and its MAKEFLAGS, checks that the
//! jobserver's file descriptors reached it open, waits a while for the other kernel's make to
//! start (so that overlap, or its absence under one job slot, is measurable), and
//! leaves a committed fixture module behind as its "build result" for the kernel it was
//! given. The kernel trees are the committed configurations (testdata/kconfig). Real
//! builds (NVIDIA's five modules on the thinlto and gcc trees) are in scripts/e2e-nvidia.sh.

use crate::common::*;
use dkwrap::exit;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A simulated machine: two kernel trees (thinlto, gcc), a package whose Makefile reads
/// KDIR, and a simulated make on a private PATH.
struct Sim {
    dir: tempfile::TempDir,
}

impl Sim {
    /// `make_fails_for`: the tree name for which the simulated make fails (exit 2).
    fn new(make_fails_for: &str) -> Sim {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["bin", "llvm/llvm-19/bin", "pkg"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for tree in ["thinlto", "gcc"] {
            std::fs::create_dir_all(root.join(tree).join("include/config")).unwrap();
            std::fs::copy(kconfig(tree), root.join(tree).join(".config")).unwrap();
            std::fs::write(
                root.join(tree).join("include/config/kernel.release"),
                "6.1.192\n",
            )
            .unwrap();
        }
        simulated_llvm_19(&root.join("llvm/llvm-19/bin"));
        std::fs::write(
            root.join("pkg/Makefile"),
            "all:\n\t$(MAKE) -C $(KDIR) M=$(CURDIR) modules\n",
        )
        .unwrap();
        let make = format!(
            r#"#!/bin/sh
# simulated make: records, checks the jobserver fds, "builds" the fixture for its KDIR
kdir=
for a in "$@"; do case "$a" in KDIR=*) kdir=${{a#KDIR=}};; esac; done
printf '%s\n' "$@" > argv
printf '%s\n' "$MAKEFLAGS" > makeflags
fds=$(printf '%s' "$MAKEFLAGS" | sed -n 's/.*--jobserver-auth=\([0-9]*\),\([0-9]*\).*/\1 \2/p')
set -- $fds
if [ -n "$1" ] && [ -e /proc/$$/fd/$1 ] && [ -e /proc/$$/fd/$2 ]; then echo open > fds; fi
date +%s.%N > start
# Wait (up to 5 s) for the other kernel's make to start: with a budget for both they overlap.
case "$kdir" in */gcc) other=thinlto;; *) other=gcc;; esac
i=0
while [ ! -e "../$other/start" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.2
date +%s.%N > end
case "$kdir" in
  */{fails}) echo "make: *** [Makefile:2: all] Error 2"; exit 2;;
  */thinlto) /bin/cp '{thin}' m.ko;;
  */gcc) /bin/cp '{gcc}' m.ko;;
esac
echo "  LD [M]  $(pwd)/m.ko"
"#,
            fails = make_fails_for,
            thin = fixture("modeset-like-thinlto.ko").display(),
            gcc = fixture("basic-gcc.ko").display(),
        );
        write_script(&root.join("bin/make"), &make);
        Sim { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn tree(&self, name: &str) -> String {
        self.root().join(name).display().to_string()
    }

    fn copy(&self, label: &str) -> PathBuf {
        self.root().join("pkg/.dkwrap-matrix").join(label)
    }

    fn run(&self, args: &[&str], make_args: &[&str]) -> Output {
        let mut c = dkwrap();
        c.current_dir(self.root().join("pkg"))
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.root().join("bin").display()),
            )
            .env("DKWRAP_LLVM_ROOT", self.root().join("llvm"))
            .env_remove("MAKEFLAGS")
            .env_remove("CI")
            .arg("matrix")
            .args([
                "--kernel-dir",
                &self.tree("thinlto"),
                "--kernel-dir",
                &self.tree("gcc"),
            ])
            .args(args)
            .arg("--")
            .arg("make")
            .args(make_args);
        run(&mut c)
    }

    fn read(&self, label: &str, file: &str) -> String {
        std::fs::read_to_string(self.copy(label).join(file)).unwrap_or_default()
    }

    /// (start, end) of the simulated make in a copy, in seconds.
    fn interval(&self, label: &str) -> (f64, f64) {
        let t = |f| self.read(label, f).trim().parse::<f64>().unwrap();
        (t("start"), t("end"))
    }
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

#[test]
fn each_kernel_builds_in_its_own_copy_at_once_under_one_shared_budget() {
    let sim = Sim::new("none");
    let pkg = sim.root().join("pkg").display().to_string();
    let out = sim.run(&["--json"], &["-j8", "all", &format!("PKG_DIR={pkg}/sub")]);
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let doc = json(&out);
    assert_eq!(doc["jobs"], 8, "the command's -j8 is the budget: {doc}");
    assert_eq!(doc["removed_arguments"], serde_json::json!(["-j8"]));
    let cells = doc["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2, "{doc}");
    for (cell, label) in cells.iter().zip(["thinlto", "gcc"]) {
        assert_eq!(cell["kernel"], label);
        assert_eq!(cell["module"], "m.ko");
        assert_eq!(cell["ok"], true, "{cell}");
        assert_eq!(cell["exit_code"], exit::OK);
        assert_eq!(cell["record"]["verified"], true, "{cell}");
        // make ran in the copy, with that kernel's KDIR, without the command's -j8, and
        // found the jobserver's descriptors open.
        let copy = sim.copy(label).canonicalize().unwrap();
        let argv = sim.read(label, "argv");
        assert!(
            argv.contains(&format!("KDIR={}", sim.tree(label))),
            "{argv}"
        );
        assert!(!argv.contains("-j8"), "{argv}");
        let m = format!("PKG_DIR={pkg}/.dkwrap-matrix/{label}/sub");
        assert!(
            argv.lines().any(|a| a == m),
            "the copy, not the source: {argv}"
        );
        let flags = sim.read(label, "makeflags");
        assert!(flags.starts_with("-j8 --jobserver-auth="), "{flags}");
        assert_eq!(sim.read(label, "fds").trim(), "open", "{flags}");
        assert!(copy.join("Makefile").is_file());
        assert!(sim
            .root()
            .join("pkg/.dkwrap-matrix")
            .join(format!("{label}.make.log"))
            .is_file());
    }
    // Nothing was built in the package's own tree.
    assert!(!sim.root().join("pkg/m.ko").exists());
    let (a, b) = (sim.interval("thinlto"), sim.interval("gcc"));
    assert!(
        a.0 < b.1 && b.0 < a.1,
        "with 8 slots both builds run at once: {a:?} {b:?}\n{}",
        text(&out)
    );
}

#[test]
fn one_job_slot_runs_the_builds_one_after_the_other() {
    let sim = Sim::new("none");
    let out = sim.run(&["-j", "1"], &["-j8", "all"]);
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let (a, b) = (sim.interval("thinlto"), sim.interval("gcc"));
    assert!(
        a.1 <= b.0 || b.1 <= a.0,
        "one slot: no overlap: {a:?} {b:?}"
    );
    assert!(sim
        .read("gcc", "makeflags")
        .starts_with("-j1 --jobserver-auth="));
    // The table on stdout: one row per kernel x module.
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.lines().next().unwrap().starts_with("KERNEL"),
        "{table}"
    );
    assert_eq!(
        table
            .lines()
            .filter(|l| l.contains("m.ko") && l.contains("OK"))
            .count(),
        2,
        "{table}"
    );
}

#[test]
fn a_failing_kernel_fails_its_cell_and_the_run_by_the_one_policy() {
    let sim = Sim::new("gcc");
    let out = sim.run(&["--json"], &["all"]);
    assert_eq!(code(&out), exit::MAKE_FAILED, "{}", text(&out));
    let doc = json(&out);
    let cells = doc["cells"].as_array().unwrap();
    assert_eq!(cells[0]["ok"], true, "the other kernel still builds: {doc}");
    assert_eq!(cells[1]["kernel"], "gcc");
    assert_eq!(cells[1]["module"], serde_json::Value::Null);
    assert_eq!(cells[1]["outcome"], "make-failed");
    assert_eq!(cells[1]["error"]["code"], exit::MAKE_FAILED);
    assert_eq!(cells[1]["make_status"], 2);
    assert_eq!(doc["exit_code"], exit::MAKE_FAILED);
    // A second run replaces the copies dkwrap made.
    let again = sim.run(&["--json"], &["all"]);
    assert_eq!(code(&again), exit::MAKE_FAILED, "{}", text(&again));
}

#[test]
fn emit_ci_matrix_prints_the_kernels_and_builds_nothing() {
    let sim = Sim::new("none");
    let out = sim.run(&["--emit-ci-matrix"], &[]);
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().count(),
        1,
        "one line for a CI step output: {stdout}"
    );
    let doc = json(&out);
    let include = doc["include"].as_array().unwrap();
    assert_eq!(include.len(), 2);
    assert_eq!(include[0]["kernel"], "thinlto");
    assert_eq!(include[0]["kernel_dir"], sim.tree("thinlto"));
    assert_eq!(include[0]["release"], "6.1.192");
    assert_eq!(include[0]["lto"], "thin");
    assert_eq!(include[1]["compiler"], "gcc");
    assert!(!sim.root().join("pkg/.dkwrap-matrix").exists());
}

#[test]
fn bad_input_is_refused_before_anything_is_built() {
    let sim = Sim::new("none");
    let named = format!("KDIR={}", sim.tree("gcc"));
    let out = sim.run(&[], &["all", &named]);
    assert_eq!(code(&out), exit::USAGE, "{}", text(&out));
    assert!(text(&out).contains("names a kernel"), "{}", text(&out));
    let out = sim.run(&["--kernel-dir", "/nonexistent/tree"], &["all"]);
    assert_eq!(code(&out), exit::NO_KERNEL_CONFIG, "{}", text(&out));
    assert!(!sim.root().join("pkg/.dkwrap-matrix/thinlto/argv").exists());
}

/// Real kernel trees (scripts/ktrees.sh, `DKWRAP_KTREES`) and the real compilers: the
/// fixture package testdata/src/basic built for the ThinLTO and GCC trees in one run.
/// Skipped, with a message, when the trees are not built.
#[test]
fn real_trees_thinlto_and_gcc_in_one_run() {
    let ktrees = std::env::var_os("DKWRAP_KTREES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/ktrees"));
    let (thin, gcc) = (ktrees.join("thinlto"), ktrees.join("gcc"));
    if !thin.join(".config").is_file() || !gcc.join(".config").is_file() {
        eprintln!(
            "SKIP: no kernel trees under {} (scripts/ktrees.sh)",
            ktrees.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("basic");
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(repo().join("testdata/src/basic"))
        .arg(&pkg)
        .status()
        .unwrap();
    assert!(status.success());
    let mut c = dkwrap();
    c.current_dir(&pkg)
        .env_remove("MAKEFLAGS")
        .args(["matrix", "--json", "--kernel-dir"])
        .arg(&thin)
        .arg("--kernel-dir")
        .arg(&gcc)
        .args(["--", "make", "-j2"]);
    let out = run(&mut c);
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let doc = json(&out);
    let cells = doc["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2, "{doc}");
    assert_eq!(cells[0]["module"], "basic.ko");
    assert_eq!(
        cells[0]["record"]["strategy"], "llvm",
        "ThinLTO: llvm-strip"
    );
    assert_eq!(cells[1]["module"], "basic.ko");
    assert!(
        cells.iter().all(|c| c["record"]["verified"] == true),
        "{doc}"
    );
}
