//! dkwrap called by another name, through the links of its shim directory (which
//! `dkwrap dkms install-integration` puts first on dkms's PATH):
//!
//! - `strip`, `llvm-strip`, `<triplet>-strip`: GNU strip's command line
//!   ([`super::dropin`]). Kernel modules are stripped by dkwrap and proven; a module
//!   dkwrap cannot strip safely is left unstripped and intact (exit 0, one line saying why);
//!   any other file is handed to the real strip, found on PATH outside the shim.
//! - `make`: the module build of a dkms MAKE line runs as `dkwrap make` with the real make
//!   (by absolute path, so `$(MAKE)` in sub-makes is the real one); other targets (`clean`,
//!   dkms's `make -f - show-CC`, ...) and every make started below the first one run the real
//!   make unchanged. The kernel comes from the command line (`SYSSRC=`, `KERNEL_UNAME=`,
//!   `KERNELRELEASE=`, `-C <kernel tree>` ...).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use super::dropin::{self, DropinRequest, DropinStrip};
use super::ui::Ui;
use crate::error::{exit, Error};
use crate::make::NESTED_MAKE_ENV;
use crate::toolchain;

/// Which tool dkwrap stands in for, from argv[0].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// `strip`, `llvm-strip`, `x86_64-linux-gnu-strip`...: the name it was called by.
    Strip(String),
    Make,
}

/// The role argv[0] names, or `None` for `dkwrap` itself.
pub fn role_of(argv0: Option<&std::ffi::OsStr>) -> Option<Role> {
    let name = Path::new(argv0?).file_name()?.to_str()?;
    if name == "strip" || name.ends_with("-strip") {
        Some(Role::Strip(name.to_string()))
    } else if name == "make" {
        Some(Role::Make)
    } else {
        None
    }
}

/// Runs the role with the arguments after argv[0]; returns the exit code.
pub fn run(role: &Role, args: &[OsString], ui: &Ui) -> i32 {
    match role {
        Role::Strip(name) => run_strip(name, args, ui),
        Role::Make => run_make(args, ui),
    }
}

/// The real `name` on PATH (not dkwrap's own link).
pub fn real_tool(name: &str) -> Option<PathBuf> {
    toolchain::which_all_but_dkwrap(name).into_iter().next()
}

fn say(role: &str, msg: &str) {
    eprintln!("dkwrap (as {role}): {}", crate::output::escape(msg));
}

// ---------------------------------------------------------------------------------------
// strip

fn run_strip(name: &str, args: &[OsString], ui: &Ui) -> i32 {
    let request = match dropin::parse(args) {
        Ok(r) => r,
        Err(e) => {
            say(name, &e.to_string());
            return exit::USAGE;
        }
    };
    match request {
        DropinRequest::Version => {
            print!("{}", dropin::version_text(real_tool(name).as_deref()));
            exit::OK
        }
        DropinRequest::Help => {
            print!("{}", dropin::HELP_TEXT);
            exit::OK
        }
        DropinRequest::Strip(req) => {
            let mut worst = exit::OK;
            for file in &req.files {
                worst = exit::most_severe(worst, strip_one(name, &req, file, ui));
            }
            worst
        }
    }
}

/// Whether `path` is a kernel module (a relocatable ELF file with `.modinfo` or
/// `.gnu.linkonce.this_module`, possibly compressed or signed). `Err` when it cannot be read.
pub fn is_kernel_module(path: &Path) -> Result<bool, Error> {
    let module = match crate::modfile::ModuleFile::open(path) {
        Ok(m) => m,
        Err(e @ (Error::Io { .. } | Error::Unreadable { .. })) => return Err(e),
        Err(_) => return Ok(false),
    };
    let Ok(elf) = module.elf() else {
        return Ok(false);
    };
    Ok(elf.header.e_type == crate::elf::ET_REL
        && (elf.section_by_name(".gnu.linkonce.this_module").is_some()
            || elf.section_by_name(".modinfo").is_some()))
}

fn strip_one(name: &str, req: &DropinStrip, file: &Path, ui: &Ui) -> i32 {
    match is_kernel_module(file) {
        Err(e) => {
            say(name, &e.to_string());
            e.exit_code()
        }
        Ok(false) => hand_to_real_strip(name, req, file),
        Ok(true) => strip_module(name, req, file, ui),
    }
}

/// A file that is not a kernel module: the real strip does what was asked.
fn hand_to_real_strip(name: &str, req: &DropinStrip, file: &Path) -> i32 {
    let Some(real) = real_tool(name) else {
        say(
            name,
            &format!(
                "{} is not a kernel module, and no {name} other than dkwrap is on PATH: left as it is",
                file.display()
            ),
        );
        return exit::TOOL_MISSING;
    };
    say(
        name,
        &format!(
            "{} is not a kernel module: handed to {}",
            file.display(),
            real.display()
        ),
    );
    let status = std::process::Command::new(&real)
        .args(&req.options)
        .arg("--")
        .arg(file)
        .status();
    match status {
        Ok(s) => s.code().unwrap_or(exit::INTERNAL),
        Err(e) => {
            say(name, &format!("cannot run {}: {e}", real.display()));
            exit::TOOL_MISSING
        }
    }
}

fn strip_module(name: &str, req: &DropinStrip, file: &Path, ui: &Ui) -> i32 {
    match req.level {
        dropin::StripLevel::Unneeded => tracing::info!(
            "{}: --strip-unneeded on a kernel module: debug information removed, every symbol kept",
            file.display()
        ),
        dropin::StripLevel::Default => say(
            name,
            &format!(
                "{}: no strip option given: removing debug information only (without its symbols a module cannot load)",
                file.display()
            ),
        ),
        dropin::StripLevel::Debug => {}
    }
    let times = std::fs::metadata(file).ok().map(|m| {
        std::fs::FileTimes::new()
            .set_accessed(m.accessed().unwrap_or(std::time::SystemTime::now()))
            .set_modified(m.modified().unwrap_or(std::time::SystemTime::now()))
    });
    let request = crate::strip::StripRequest {
        strategy: crate::strip::Strategy::Auto,
        allow_unsign: false,
        output: req.output.clone(),
        // Like the strip it stands in for: `-o` to another file is not flushed.
        fsync_output: false,
        record_hashes: false,
        cross_check: false,
    };
    let written = req.output.clone().unwrap_or_else(|| file.to_path_buf());
    let result = crate::strip::strip_file(file, &request, None);
    let code = match &result {
        Ok(_) => {
            super::strip::print_result(ui, file, &result, request.strategy);
            exit::OK
        }
        Err(e) => left_intact(name, req, file, e),
    };
    if code == exit::OK && req.preserve_dates {
        if let Some(t) = times {
            let set = std::fs::File::options()
                .write(true)
                .open(&written)
                .and_then(|f| f.set_times(t));
            if let Err(e) = set {
                say(
                    name,
                    &format!("{}: cannot keep the dates: {e}", written.display()),
                );
            }
        }
    }
    code
}

/// A module dkwrap could not strip safely. In place, the original is untouched (strip
/// replaces a module only with a proven output), so it stays as it is and the caller (dkms)
/// goes on with a correct, larger module: exit 0. With `-o`, the output must exist: a
/// signed module is copied unchanged; any other failure is an error.
fn left_intact(name: &str, req: &DropinStrip, file: &Path, e: &Error) -> i32 {
    let safe_to_leave = matches!(
        e,
        Error::SignedModule { .. } | Error::StripFailed { .. } | Error::NotEquivalent { .. }
    );
    if !safe_to_leave {
        say(name, &e.to_string());
        return e.exit_code();
    }
    let why = match e {
        Error::SignedModule { .. } => {
            "it is signed, and stripping would drop the signature".to_string()
        }
        other => other.to_string(),
    };
    match &req.output {
        None => {
            say(
                name,
                &format!("{}: left unstripped and intact: {why}", file.display()),
            );
            exit::OK
        }
        Some(out) if matches!(e, Error::SignedModule { .. }) => match std::fs::copy(file, out) {
            Ok(_) => {
                say(
                    name,
                    &format!(
                        "{}: copied unstripped to {}: {why}",
                        file.display(),
                        out.display()
                    ),
                );
                exit::OK
            }
            Err(err) => {
                say(name, &format!("{}: {err}", out.display()));
                exit::STRIP_FAILED
            }
        },
        Some(_) => {
            say(name, &e.to_string());
            e.exit_code()
        }
    }
}

// ---------------------------------------------------------------------------------------
// make

/// Make targets that build modules: these run through `dkwrap make`.
const MODULE_TARGETS: &[&str] = &["modules", "all", "module", "default"];

/// Options after which make reads a separate value.
const MAKE_OPTIONS_WITH_VALUE: &[&str] = &[
    "-C",
    "-f",
    "-I",
    "-o",
    "-W",
    "--directory",
    "--file",
    "--makefile",
    "--include-dir",
    "--old-file",
    "--assume-old",
    "--what-if",
    "--new-file",
    "--assume-new",
];

/// Options that make make print, check or plan instead of build.
const MAKE_NON_BUILD_OPTIONS: &[&str] = &[
    "-n",
    "--just-print",
    "--dry-run",
    "--recon",
    "-q",
    "--question",
    "-p",
    "--print-data-base",
    "-v",
    "--version",
    "-h",
    "--help",
];

/// Why the shim runs the real make unchanged, or `None` when the command builds modules
/// and goes through `dkwrap make`.
pub fn pass_through_reason(args: &[String]) -> Option<String> {
    let mut targets = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if matches!(a, "-f" | "--file" | "--makefile") && args.get(i).is_some_and(|f| f == "-") {
            return Some("makefile read from stdin".into());
        }
        if MAKE_NON_BUILD_OPTIONS.contains(&a) {
            return Some(format!("{a} does not build"));
        }
        if MAKE_OPTIONS_WITH_VALUE.contains(&a) {
            i += 1;
            continue;
        }
        if (a == "-j" || a == "-l") && args.get(i).is_some_and(|n| n.parse::<u32>().is_ok()) {
            i += 1;
            continue;
        }
        if a.starts_with('-') || crate::make::command::assignment(a).is_some() {
            continue;
        }
        targets.push(a);
    }
    targets
        .iter()
        .find(|t| !MODULE_TARGETS.contains(t))
        .map(|t| format!("target `{t}` builds no module"))
}

fn run_make(args: &[OsString], ui: &Ui) -> i32 {
    let Some(real) = real_tool("make") else {
        say(
            "make",
            "no make other than dkwrap's shim is on PATH (Debian/Ubuntu: apt install make)",
        );
        return exit::TOOL_MISSING;
    };
    let utf8: Option<Vec<String>> = args.iter().map(|a| a.to_str().map(String::from)).collect();
    let reason = match &utf8 {
        _ if std::env::var_os(NESTED_MAKE_ENV).is_some() => Some(String::new()),
        None => Some("an argument is not UTF-8".into()),
        Some(a) => pass_through_reason(a).or_else(|| no_kernel_named(a)),
    };
    if let (Some(why), Some(_)) = (&reason, &utf8) {
        if !why.is_empty() {
            tracing::info!("running {} unchanged: {why}", real.display());
        }
    }
    let Some(make_args) = utf8.filter(|_| reason.is_none()) else {
        let err = std::process::Command::new(&real).args(args).exec();
        say("make", &format!("cannot run {}: {err}", real.display()));
        return exit::TOOL_MISSING;
    };
    let command: Vec<String> = std::iter::once(real.display().to_string())
        .chain(make_args)
        .collect();
    let make_args = crate::cli::MakeArgs {
        kernel: crate::cli::KernelArgs {
            kernel: None,
            kernel_dir: None,
            config: None,
            root: PathBuf::from("/"),
        },
        modules: Vec::new(),
        strategy: crate::cli::StrategyArg::Auto,
        json: false,
        // DKWRAP_BOOT_TEST in dkms's environment asks for it (read by make::run).
        boot_test: None,
        command,
    };
    match super::make::run(&make_args, ui) {
        Ok(code) => code,
        Err(e) => {
            ui.error(&e.to_string());
            e.exit_code()
        }
    }
}

/// The shim never guesses the kernel: without one on the command line, make runs unchanged.
fn no_kernel_named(args: &[String]) -> Option<String> {
    let cwd = std::env::current_dir().ok()?;
    match crate::make::command::kernel_hint(&cwd, args) {
        Some(_) => None,
        None => Some(
            "the command names no kernel (SYSSRC=, KERNEL_UNAME=, KERNELRELEASE=, -C <kernel tree>, ...)"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn roles_from_argv0() {
        let r = |s: &str| role_of(Some(std::ffi::OsStr::new(s)));
        assert_eq!(
            r("/usr/lib/dkwrap/shim/strip"),
            Some(Role::Strip("strip".into()))
        );
        assert_eq!(r("llvm-strip"), Some(Role::Strip("llvm-strip".into())));
        assert_eq!(
            r("x86_64-linux-gnu-strip"),
            Some(Role::Strip("x86_64-linux-gnu-strip".into()))
        );
        assert_eq!(r("/usr/lib/dkwrap/shim/make"), Some(Role::Make));
        assert_eq!(r("dkwrap"), None);
        assert_eq!(r("/usr/bin/dkwrap"), None);
    }

    #[test]
    fn module_builds_go_through_dkwrap_other_targets_pass() {
        // dkms 3.0.10's NVIDIA line, dkms 3.4's with LLVM=1, a plain Kbuild line.
        for build in [
            v(&[
                "-j2",
                "NV_EXCLUDE_BUILD_MODULES=",
                "KERNEL_UNAME=6.1.0",
                "modules",
            ]),
            v(&["-j", "2", "KERNELRELEASE=6.1", "-C", "/k", "M=/m", "LLVM=1"]),
            v(&["-C", "/k", "M=/m", "modules"]),
        ] {
            assert_eq!(pass_through_reason(&build), None, "{build:?}");
        }
        assert!(pass_through_reason(&v(&["clean"]))
            .unwrap()
            .contains("clean"));
        assert!(pass_through_reason(&v(&["-C", "/k", "M=/m", "clean"])).is_some());
        assert!(pass_through_reason(&v(&["-f", "-", "show-CC"])).is_some());
        assert!(pass_through_reason(&v(&["-n", "modules"])).is_some());
        assert!(pass_through_reason(&v(&["--version"])).is_some());
        // -C's value is not a target.
        assert_eq!(pass_through_reason(&v(&["-C", "clean", "modules"])), None);
    }
}
