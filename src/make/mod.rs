//! `dkwrap make`: run a module build (the DKMS MAKE stage) with the kernel's own toolchain,
//! then strip and verify what it built.
//!
//! Stages, in order:
//! 1. **Kernel**: `--kernel` / `--kernel-dir` / `--config`, else the kernel the make command
//!    names ([`command::kernel_hint`]: an `O=` kernel tree, a `-C` kernel tree,
//!    `SYSOUT=`/`KERNELDIR=`/`KDIR=`/`SYSSRC=`..., then `KERNEL_UNAME=`...), else the
//!    running kernel.
//! 2. **Toolchain**: for a clang kernel, `LLVM=` plus `CC CXX LD AR NM OBJCOPY OBJDUMP READELF
//!    STRIP` naming the installed tools of the kernel's LLVM version go on make's command line,
//!    where they beat the Makefile's `?=` defaults and `:=` assignments (and reach every
//!    sub-make through MAKEFLAGS). Values dkms appends (`CC=clang LD=ld.lld`) or old guides
//!    suggest are rewritten unless they already run the same tool. A GCC kernel's command
//!    is left alone. A foreign-architecture kernel gets `ARCH=` (and `CROSS_COMPILE=` for GCC).
//! 3. **Build**: make runs without a shell; its output is copied unchanged (stderr merged
//!    into stdout, as in dkms's make.log) and scanned for [`crate::diagnose`] signatures.
//!    A failing make's status is passed through (a signal N → 128+N) after the diagnoses.
//! 4. **Modules**: the `--modules` list, or every `*.ko` newer than the build's start under
//!    the `M=`/`KBUILD_EXTMOD=`/`SUBDIRS=`/`src=` directories (else under the directory make
//!    ran in), is stripped ([`crate::strip::strip_file`]) and verified
//!    ([`crate::verify::verify_file`]). A rejected module, or none at all, fails the stage
//!    with [`exit::BUILT_MODULE_REJECTED`](crate::exit::BUILT_MODULE_REJECTED).

pub mod command;
pub mod modules;
pub mod stream;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;
use tracing::{info, warn};

use crate::cli::{MakeArgs, Strategy};
use crate::diagnose::{Diagnosis, Severity};
use crate::error::{exit, Error, Result};
use crate::kconfig::{Arch, CompilerFamily, KernelFacts, KernelSelector, Lto};
use crate::toolchain::Toolset;
use command::{KernelHint, Rewrite, Wanted};
use modules::{ModuleResult, ModuleTarget};
use stream::Sink;

/// Make variables a clang kernel's build cannot do without; the others (CXX, STRIP) are
/// passed when installed and skipped with a warning otherwise.
const REQUIRED_LLVM_VARIABLES: &[&str] = &["CC", "LD", "AR", "NM", "OBJCOPY", "OBJDUMP", "READELF"];

/// Diagnoses that mean an output was corrupted even though the step exited 0 (a GNU strip
/// run by the package's own Makefile): a successful make with one of these is rejected.
const CORRUPTING_DIAGNOSES: &[&str] = &["gnu-bfd-assertion", "gnu-strip-invalid-group-entry"];

/// The kernel `make` built for, as the summary reports it.
#[derive(Debug, Clone, Serialize)]
pub struct KernelSummary {
    pub release: Option<String>,
    pub build_dir: Option<PathBuf>,
    pub config: PathBuf,
    /// Which argument selected the kernel: "--kernel-dir", "SYSSRC=", "running kernel", ...
    pub selected_by: String,
    pub compiler: CompilerFamily,
    pub compiler_version: String,
    pub lto: Lto,
    pub arch: Arch,
}

/// How the stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// make succeeded and every module it built was stripped and verified.
    Ok,
    /// make failed; its status is the exit code.
    MakeFailed,
    /// make succeeded but built no module.
    NoModules,
    /// A built module failed stripping or verification, or the build output shows a tool
    /// that corrupted a file.
    ModuleRejected,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::MakeFailed => "make-failed",
            Outcome::NoModules => "no-modules",
            Outcome::ModuleRejected => "module-rejected",
        }
    }
}

/// The `--json` document (fields are only ever added).
#[derive(Debug, Clone, Serialize)]
pub struct MakeSummary {
    pub kernel: KernelSummary,
    /// The command as run (program first).
    pub command: Vec<String>,
    pub rewrites: Vec<Rewrite>,
    /// make's exit status (128+N when killed by signal N).
    pub make_status: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub make_signal: Option<i32>,
    pub elapsed_s: f64,
    /// Lines of output make printed.
    pub output_lines: usize,
    pub diagnoses: Vec<Diagnosis>,
    pub modules: Vec<ModuleResult>,
    pub outcome: Outcome,
    /// Why the stage failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub exit_code: i32,
}

pub fn run(args: &MakeArgs) -> Result<i32> {
    let Some((program, make_args)) = args.command.split_first() else {
        return Err(Error::Usage(
            "no make command given: dkwrap make [OPTIONS] -- make ...".into(),
        ));
    };
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;

    // 1. Kernel.
    let (selector, selected_by) = select_kernel(args, &cwd, make_args)?;
    let (facts, release) = crate::detect::detect(&selector)?;
    let kernel = KernelSummary {
        release: release.clone(),
        build_dir: selector.build_dir(),
        config: facts.config_path.clone(),
        selected_by,
        compiler: facts.compiler,
        compiler_version: facts.compiler_version.clone(),
        lto: facts.lto,
        arch: facts.arch,
    };

    // 2. Toolchain.
    let wanted = wanted_variables(&facts, make_args)?;
    if facts.compiler == CompilerFamily::Gcc {
        warn_clang_on_gcc_kernel(make_args);
    }
    let (final_args, rewrites) = command::apply_toolchain(make_args, &wanted, &command::PathLookup);
    for r in &rewrites {
        match &r.from {
            Some(from) => warn!(
                "rewrote {}={} to {}={}: {}",
                r.variable, from, r.variable, r.to, r.reason
            ),
            None => info!("added {}={}", r.variable, r.to),
        }
    }
    // The make that runs is never dkwrap's own shim link (first on PATH inside dkms), and
    // a make started below this one that reaches the shim runs the real make unchanged.
    let Some(real_program) = crate::toolchain::which_all_but_dkwrap(program)
        .into_iter()
        .next()
    else {
        return Err(Error::ToolMissing {
            tool: program.clone(),
            hint: stream::make_install_hint(program),
        });
    };
    // Edition 2021: set_var is safe; no other thread reads the environment here.
    std::env::set_var(crate::shim::NESTED_MAKE_ENV, "1");

    eprintln!("dkwrap make: kernel {}", describe_kernel(&kernel));
    eprintln!(
        "dkwrap make: running: {}",
        command::display_command(program, &final_args)
    );

    // 3. Build.
    let started = SystemTime::now();
    let sink = if args.json {
        Sink::Stderr
    } else {
        Sink::Stdout
    };
    let outcome = stream::run_make(
        &real_program.to_string_lossy(),
        &final_args,
        sink,
        crate::output::progress_allowed(),
    )?;

    let mut summary = MakeSummary {
        kernel,
        command: std::iter::once(program.clone())
            .chain(final_args.iter().cloned())
            .collect(),
        rewrites,
        make_status: outcome.status,
        make_signal: outcome.signal,
        elapsed_s: (outcome.elapsed.as_secs_f64() * 10.0).round() / 10.0,
        output_lines: outcome.lines,
        diagnoses: outcome.diagnoses.clone(),
        modules: Vec::new(),
        outcome: Outcome::Ok,
        error: None,
        exit_code: exit::OK,
    };

    if outcome.status != 0 {
        summary.outcome = Outcome::MakeFailed;
        summary.exit_code = outcome.status;
        summary.error = Some(match outcome.signal {
            Some(s) => format!("{program} was killed by signal {s}"),
            None => format!("{program} exited with status {}", outcome.status),
        });
        return finish(args, &summary);
    }

    // 4. Modules.
    let make_dir = command::make_dir(&cwd, &final_args);
    let ext_dirs = command::extmod_dirs(&make_dir, &final_args);
    let module_paths = if args.modules.is_empty() {
        let roots = if ext_dirs.is_empty() {
            vec![make_dir.clone()]
        } else {
            ext_dirs.clone()
        };
        let found = modules::find_built_modules(&roots, started);
        if found.is_empty() {
            summary.outcome = Outcome::NoModules;
            summary.exit_code = exit::BUILT_MODULE_REJECTED;
            summary.error = Some(format!(
                "{program} succeeded but built no module: no *.ko newer than the start of the build under {}. \
                 If the modules were up to date, run `make clean` first; if they are elsewhere, name them with --modules",
                roots
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            return finish(args, &summary);
        }
        found
    } else {
        let base = ext_dirs.first().unwrap_or(&make_dir);
        modules::listed_modules(&args.modules, base)
    };

    let target = ModuleTarget {
        facts: facts.clone(),
        release,
    };
    for path in &module_paths {
        let result = modules::strip_and_verify(path, args.strategy, &target);
        print_module(&result);
        summary.modules.push(result);
    }
    let corrupting: Vec<&Diagnosis> = outcome
        .diagnoses
        .iter()
        .filter(|d| CORRUPTING_DIAGNOSES.contains(&d.id))
        .collect();
    let rejected: Vec<&ModuleResult> = summary.modules.iter().filter(|m| !m.accepted()).collect();
    let mut reasons = Vec::new();
    if !rejected.is_empty() {
        reasons.push(format!(
            "{} of {} built modules rejected: {}",
            rejected.len(),
            summary.modules.len(),
            rejected
                .iter()
                .map(|m| format!(
                    "{}: {}",
                    m.path.display(),
                    m.problems.first().map(String::as_str).unwrap_or("rejected")
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if let Some(d) = corrupting.first() {
        reasons.push(format!(
            "{program} exited 0, but a GNU binutils tool reported corrupting a file during the build \
             (output line {}: {}); its output cannot be trusted",
            d.line_number, d.line
        ));
    }
    if !reasons.is_empty() {
        summary.outcome = Outcome::ModuleRejected;
        summary.exit_code = exit::BUILT_MODULE_REJECTED;
        summary.error = Some(reasons.join("; and "));
    }
    finish(args, &summary)
}

/// Chooses the kernel: the flags, else what the make command names, else the running kernel.
fn select_kernel(
    args: &MakeArgs,
    cwd: &Path,
    make_args: &[String],
) -> Result<(KernelSelector, String)> {
    if args.kernel.given() {
        let selector = args.kernel.selector();
        if let Some(dir) = &selector.dir {
            require_dir(dir, "--kernel-dir")?;
        }
        let by = if args.kernel.kernel_dir.is_some() {
            "--kernel-dir"
        } else if args.kernel.kernel.is_some() {
            "--kernel"
        } else {
            "--config"
        };
        if let (Some(KernelHint::Dir(d, from)), Some(given)) =
            (command::kernel_hint(cwd, make_args), &selector.dir)
        {
            if canonical(&d) != canonical(given) {
                warn!(
                    "the make command builds against {} ({from}), but --kernel-dir is {}: the toolchain follows --kernel-dir",
                    d.display(),
                    given.display()
                );
            }
        }
        return Ok((selector, by.to_string()));
    }
    let mut selector = KernelSelector {
        root: args.kernel.root.clone(),
        ..KernelSelector::default()
    };
    match command::kernel_hint(cwd, make_args) {
        Some(KernelHint::Dir(dir, from)) => {
            require_dir(&dir, &from)?;
            selector.dir = Some(dir);
            Ok((selector, from))
        }
        Some(KernelHint::Release(release, from)) => {
            selector.release = Some(release);
            Ok((selector, from))
        }
        None => Ok((selector, "running kernel".into())),
    }
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn require_dir(dir: &Path, from: &str) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    Err(Error::NoKernelConfig(format!(
        "kernel build directory {} (from {from}) does not exist: install the kernel's headers \
         (Debian/Ubuntu: linux-headers-<release>) or pass the build tree with --kernel-dir",
        dir.display()
    )))
}

/// The variables the build must see for this kernel. A `CROSS_COMPILE=` the command already
/// has is the user's choice of cross toolchain and is kept.
fn wanted_variables(facts: &KernelFacts, make_args: &[String]) -> Result<Vec<Wanted>> {
    let mut wanted = Vec::new();
    let host = Arch::host();
    let cross = facts.arch != host && facts.arch != Arch::Other;
    if cross {
        wanted.push(Wanted {
            name: "ARCH".into(),
            value: facts.arch.kbuild_name().into(),
            tool: None,
        });
    }
    match facts.compiler {
        CompilerFamily::Gcc => {
            let given =
                command::last_value(make_args, "CROSS_COMPILE").is_some_and(|v| !v.is_empty());
            if cross && !given {
                let prefix = format!("{}-", facts.arch.gnu_triplet());
                let gcc = format!("{prefix}gcc");
                if which::which(&gcc).is_err() {
                    return Err(Error::ToolMissing {
                        tool: gcc,
                        hint: format!(
                            " (Debian/Ubuntu: apt install gcc-{0} binutils-{0})",
                            facts.arch.gnu_triplet()
                        ),
                    });
                }
                wanted.push(Wanted {
                    name: "CROSS_COMPILE".into(),
                    value: prefix,
                    tool: None,
                });
            }
        }
        CompilerFamily::Clang => {
            let tools = Toolset::resolve(facts);
            let missing: Vec<_> = tools
                .llvm
                .iter()
                .filter(|(var, t)| !t.found() && REQUIRED_LLVM_VARIABLES.contains(&var.as_str()))
                .map(|(_, t)| t)
                .collect();
            if !missing.is_empty() {
                let names: Vec<String> = missing
                    .iter()
                    .map(|t| format!("{}-{}", t.role, facts.compiler_major))
                    .collect();
                let mut hints: Vec<String> = missing
                    .iter()
                    .filter_map(|t| t.install_hint.clone())
                    .collect();
                hints.sort();
                hints.dedup();
                return Err(Error::ToolMissing {
                    tool: format!(
                        "{} (the kernel was built with clang {})",
                        names.join(", "),
                        facts.compiler_version
                    ),
                    hint: format!(" ({})", hints.join("; ")),
                });
            }
            let llvm = tools
                .llvm_make_value
                .clone()
                .ok_or_else(|| Error::ToolMissing {
                    tool: format!("clang-{}", facts.compiler_major),
                    hint: String::new(),
                })?;
            // The clang behind LLVM=: dkms's `LLVM=1` (or LLVM=/path/, LLVM=-NN) is kept
            // only when it already runs the kernel's clang.
            wanted.push(Wanted {
                name: "LLVM".into(),
                value: llvm,
                tool: tools.tool("CC").and_then(|t| t.path.clone()),
            });
            for (var, tool) in &tools.llvm {
                match &tool.path {
                    Some(p) => wanted.push(Wanted {
                        name: var.clone(),
                        value: p.display().to_string(),
                        tool: Some(p.clone()),
                    }),
                    None => warn!(
                        "{var}: {} {} not found, not passed ({})",
                        tool.role,
                        facts.compiler_major,
                        tool.install_hint.as_deref().unwrap_or("")
                    ),
                }
            }
        }
    }
    Ok(wanted)
}

/// A GCC kernel's command is left alone, but clang settings on it are almost surely a mistake.
fn warn_clang_on_gcc_kernel(make_args: &[String]) {
    for a in make_args.iter().filter_map(|a| command::assignment(a)) {
        let clangish = (a.name == "LLVM" && !a.value.is_empty())
            || (a.name == "CC" && a.value.contains("clang"))
            || (a.name == "LD" && a.value.contains("lld"));
        if clangish {
            warn!(
                "the kernel was built with gcc, but the make command sets {}={}: left as given",
                a.name, a.value
            );
        }
    }
}

fn describe_kernel(k: &KernelSummary) -> String {
    let compiler = match k.compiler {
        CompilerFamily::Clang => "clang",
        CompilerFamily::Gcc => "gcc",
    };
    let lto = match k.lto {
        Lto::None => "no LTO",
        Lto::Thin => "ThinLTO",
        Lto::Full => "full LTO",
    };
    let arch = k.arch.name();
    let place = k
        .build_dir
        .as_ref()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|| k.config.display().to_string());
    crate::output::escape(&format!(
        "{} ({compiler} {}, {lto}, {arch}) at {place} (selected by {})",
        k.release.as_deref().unwrap_or("of unknown release"),
        k.compiler_version,
        k.selected_by
    ))
}

fn human_size(n: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn print_module(m: &ModuleResult) {
    let esc = crate::output::escape;
    let path = esc(&m.path.display().to_string());
    let how = match m.strategy {
        Some(Strategy::Skip) => "left unstripped".to_string(),
        Some(s) => format!(
            "stripped ({}{})",
            modules::strategy_name(s),
            m.tool
                .as_ref()
                .map(|t| format!(": {}", t.display()))
                .unwrap_or_default()
        ),
        None => "not stripped".to_string(),
    };
    let sizes = match (m.size_before, m.size_after) {
        (Some(b), Some(a)) if a != b => format!(", {} -> {}", human_size(b), human_size(a)),
        (Some(b), _) => format!(", {}", human_size(b)),
        _ => String::new(),
    };
    let verdict = if m.accepted() { "verified" } else { "REJECTED" };
    eprintln!("dkwrap make: {path}: {how}{sizes}, {verdict}");
    for r in &m.rejected_strategies {
        eprintln!("  strategy not used: {}", esc(r));
    }
    for w in &m.warnings {
        eprintln!("  warning: {}", esc(w));
    }
    for p in &m.problems {
        eprintln!("  error: {}", esc(p));
    }
}

fn print_diagnoses(diagnoses: &[Diagnosis], make_failed: bool) {
    let esc = crate::output::escape;
    for d in diagnoses {
        let fatal = make_failed || CORRUPTING_DIAGNOSES.contains(&d.id);
        let label = if d.severity == Severity::Error && fatal {
            "diagnosis"
        } else {
            "warning"
        };
        eprintln!(
            "dkwrap make: {label} [{}] at output line {}: {}",
            d.id,
            d.line_number,
            esc(&d.line)
        );
        eprintln!("  cause: {}", esc(&d.cause));
        eprintln!("  fix:   {}", esc(&d.fix));
    }
}

/// Prints the diagnoses and the summary (stderr, and the JSON document on stdout with
/// `--json`) and returns the exit code.
fn finish(args: &MakeArgs, s: &MakeSummary) -> Result<i32> {
    let make_failed = s.make_status != 0;
    print_diagnoses(&s.diagnoses, make_failed);
    if make_failed && s.diagnoses.is_empty() {
        eprintln!(
            "dkwrap make: no known failure signature in the output; the first error make printed is the place to start"
        );
    }
    let accepted = s.modules.iter().filter(|m| m.accepted()).count();
    let unstripped = s
        .modules
        .iter()
        .filter(|m| m.strategy == Some(Strategy::Skip))
        .count();
    let line = match s.outcome {
        Outcome::Ok => format!(
            "make succeeded in {:.1}s; {accepted} module{} verified ({} stripped, {unstripped} left unstripped)",
            s.elapsed_s,
            if accepted == 1 { "" } else { "s" },
            accepted - unstripped.min(accepted),
        ),
        _ => format!(
            "FAILED ({}): {} (exit {})",
            s.outcome.name(),
            s.error.as_deref().unwrap_or(""),
            s.exit_code
        ),
    };
    eprintln!("dkwrap make: {}", crate::output::escape(&line));
    if args.json {
        crate::output::print_json(s)?;
    }
    Ok(s.exit_code)
}
