//! `make`: run a module build (the DKMS MAKE stage) with the kernel's own toolchain, then
//! strip and verify what it built.
//!
//! Stages, in order (the app layer has chosen the kernel already):
//! 1. **Toolchain**: for a clang kernel, `LLVM=` plus `CC CXX LD AR NM OBJCOPY OBJDUMP READELF
//!    STRIP` naming the installed tools of the kernel's LLVM version go on make's command line,
//!    where they beat the Makefile's `?=` defaults and `:=` assignments (and reach every
//!    sub-make through MAKEFLAGS). Values dkms appends (`CC=clang LD=ld.lld`) or old guides
//!    suggest are rewritten unless they already run the same tool. A GCC kernel's command
//!    is left alone. A foreign-architecture kernel gets `ARCH=` (and `CROSS_COMPILE=` for GCC).
//! 2. **Build**: make runs without a shell; its output is copied unchanged (stderr merged
//!    into stdout, as in dkms's make.log) and scanned for [`crate::diagnose`] signatures.
//! 3. **Modules**: the listed modules, or every `*.ko` newer than the build's start under
//!    the `M=`/`KBUILD_EXTMOD=`/`SUBDIRS=`/`src=` directories (else under the directory make
//!    ran in), are stripped and proven ([`crate::strip::strip_file`], which also runs the
//!    loader's checks against the kernel on what it keeps). A rejected module, or none at
//!    all, fails the stage.

pub mod command;
pub mod jobserver;
pub mod kernelvars;
pub mod matrix;
pub mod modules;
pub mod stream;

use std::path::PathBuf;
use std::time::SystemTime;

use serde::Serialize;
use tracing::warn;

use crate::diagnose::{self, Diagnosis};
use crate::error::{Error, Result};
use crate::kconfig::{Arch, CompilerFamily, KernelFacts};
use crate::strip::{Strategy, StripRecord};
use crate::target::KernelTarget;
use crate::toolchain::Toolset;
use command::{Rewrite, Wanted};
use stream::Sink;

/// Make variables a clang kernel's build cannot do without; the others (CXX, STRIP) are
/// passed when installed and skipped with a warning otherwise.
const REQUIRED_LLVM_VARIABLES: &[&str] = &["CC", "LD", "AR", "NM", "OBJCOPY", "OBJDUMP", "READELF"];

/// Diagnoses that mean an output was corrupted even though the step exited 0 (a GNU strip
/// run by the package's own Makefile): a successful make with one of these is rejected.
pub const CORRUPTING_DIAGNOSES: &[&str] = &["gnu-bfd-assertion", "gnu-strip-invalid-group-entry"];

/// Set for the builds `dkwrap make` runs: a `make` below them that reaches dkwrap's shim
/// link (first on dkms's PATH) is the real make, unchanged, not a second `dkwrap make`.
pub const NESTED_MAKE_ENV: &str = "DKWRAP_SHIM_MAKE";

/// How the stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// make succeeded and every module it built was stripped and verified.
    Ok,
    /// make failed (or was killed).
    MakeFailed,
    /// make succeeded but built no module.
    NoModules,
    /// A built module failed stripping or verification, or the build output shows a tool
    /// that corrupted a file.
    ModuleRejected,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::MakeFailed => "make-failed",
            Outcome::NoModules => "no-modules",
            Outcome::ModuleRejected => "module-rejected",
        }
    }
}

/// What to build and how.
#[derive(Debug, Clone)]
pub struct MakeRequest {
    pub program: String,
    pub args: Vec<String>,
    /// Where make runs.
    pub cwd: PathBuf,
    /// Modules the build produces (relative to the M= directory, else the make directory);
    /// empty: every `*.ko` newer than the build's start.
    pub modules: Vec<PathBuf>,
    pub strategy: Strategy,
    /// Where make's own output goes.
    pub sink: Sink,
    /// Extra environment for make (empty: make inherits ours unchanged).
    pub env: Vec<(String, String)>,
    /// A spinner may be shown (a terminal, colour allowed).
    pub progress: bool,
}

/// What the stage reports as it goes (the app prints it).
pub trait MakeEvents {
    /// make is about to run this command line, with these changes to what was asked.
    fn starting(&mut self, command: &str, rewrites: &[Rewrite]);
    /// A built module was stripped and checked (or could not be).
    fn module_done(&mut self, module: &BuiltModule);
}

/// One module the build produced and what stripping it gave.
#[derive(Debug)]
pub struct BuiltModule {
    pub path: PathBuf,
    pub result: Result<StripRecord>,
}

impl BuiltModule {
    /// Stripped (or left) and passing the loader's checks for the target kernel.
    pub fn accepted(&self) -> bool {
        self.result
            .as_ref()
            .is_ok_and(|r| !r.findings.iter().any(|f| f.is_error()))
    }
}

/// How the build went.
#[derive(Debug)]
pub struct MakeSummary {
    /// The command as run (program first).
    pub command: Vec<String>,
    pub rewrites: Vec<Rewrite>,
    /// make's exit status (128+N when killed by signal N).
    pub make_status: i32,
    pub make_signal: Option<i32>,
    pub elapsed_s: f64,
    /// Lines of output make printed.
    pub output_lines: usize,
    pub diagnoses: Vec<Diagnosis>,
    pub modules: Vec<BuiltModule>,
    pub outcome: Outcome,
    /// Why the stage failed, when it did.
    pub error: Option<String>,
}

/// Runs the build for `kernel`, then strips and checks what it built.
pub fn build(
    req: &MakeRequest,
    kernel: &KernelTarget,
    events: &mut dyn MakeEvents,
) -> Result<MakeSummary> {
    let facts = &kernel.facts;
    let wanted = wanted_variables(facts, &req.args)?;
    if facts.compiler == CompilerFamily::Gcc {
        warn_clang_on_gcc_kernel(&req.args);
    }
    let (mut final_args, mut rewrites) =
        command::apply_toolchain(&req.args, &wanted, &command::PathLookup);
    let make_dir = command::make_dir(&req.cwd, &final_args);
    for v in kernelvars::kernel_variables(&make_dir, &final_args, kernel) {
        final_args.push(format!("{}={}", v.name, v.value));
        rewrites.push(Rewrite {
            variable: v.name,
            from: None,
            to: v.value,
            reason: v.reason,
        });
    }
    let program = &req.program;
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
    // Only make's environment is marked, never this process's: the matrix runs several
    // builds from threads of one process.
    let mut env = req.env.clone();
    env.push((NESTED_MAKE_ENV.to_string(), "1".to_string()));
    events.starting(&command::display_command(program, &final_args), &rewrites);
    let started = SystemTime::now();
    let real = real_program.to_string_lossy();
    let outcome = stream::run_make(&real, &final_args, &req.cwd, &env, &req.sink, req.progress)?;
    let context = diagnose::BuildContext {
        target_release: kernel.release.clone(),
        kernel_named_by: kernel_arguments(kernel, &final_args),
        variables_given: final_args
            .iter()
            .filter_map(|a| command::assignment(a))
            .filter(|a| !a.value.is_empty())
            .map(|a| a.name.to_string())
            .collect(),
    };
    let mut diagnoses = outcome.diagnoses;
    for d in &mut diagnoses {
        diagnose::tailor(d, &context);
    }
    let mut summary = MakeSummary {
        command: std::iter::once(program.clone())
            .chain(final_args.iter().cloned())
            .collect(),
        rewrites,
        make_status: outcome.status,
        make_signal: outcome.signal,
        elapsed_s: (outcome.elapsed.as_secs_f64() * 10.0).round() / 10.0,
        output_lines: outcome.lines,
        diagnoses,
        modules: Vec::new(),
        outcome: Outcome::Ok,
        error: None,
    };
    if summary.make_status != 0 {
        summary.outcome = Outcome::MakeFailed;
        summary.error = Some(match summary.make_signal {
            Some(s) => format!("{program} was killed by signal {s}"),
            None => format!("{program} exited with status {}", summary.make_status),
        });
        return Ok(summary);
    }
    let paths = match built_module_paths(req, &final_args, started) {
        Ok(paths) => paths,
        Err(why) => {
            summary.outcome = Outcome::NoModules;
            summary.error = Some(why);
            return Ok(summary);
        }
    };
    for path in paths {
        let result = modules::strip_built(&path, req.strategy, kernel);
        let module = BuiltModule { path, result };
        events.module_done(&module);
        summary.modules.push(module);
    }
    judge_modules(&mut summary, program);
    Ok(summary)
}

/// The arguments by which the build already names its kernel (the flag that selected it, the
/// make variables that point at a tree or a release), for diagnoses not to suggest them again.
fn kernel_arguments(kernel: &KernelTarget, final_args: &[String]) -> Vec<String> {
    let mut named = Vec::new();
    if kernel.selected_by.starts_with("--") {
        named.push(kernel.selected_by.clone());
    }
    let variables = command::KERNEL_DIR_VARIABLES
        .iter()
        .chain(command::KERNEL_RELEASE_VARIABLES);
    for name in variables {
        if command::last_value(final_args, name).is_some_and(|v| !v.is_empty()) {
            named.push(format!("{name}="));
        }
    }
    if command::directory_options(final_args)
        .iter()
        .any(|d| command::is_kernel_tree(d))
    {
        named.push("-C".into());
    }
    named.dedup();
    named
}

/// The modules to strip: the listed ones, or what the build wrote.
fn built_module_paths(
    req: &MakeRequest,
    final_args: &[String],
    started: SystemTime,
) -> std::result::Result<Vec<PathBuf>, String> {
    let make_dir = command::make_dir(&req.cwd, final_args);
    let ext_dirs = command::extmod_dirs(&make_dir, final_args);
    if !req.modules.is_empty() {
        let base = ext_dirs.first().unwrap_or(&make_dir);
        return Ok(modules::listed_modules(&req.modules, base));
    }
    let roots = if ext_dirs.is_empty() {
        vec![make_dir.clone()]
    } else {
        ext_dirs
    };
    let found = modules::find_built_modules(&roots, started);
    if !found.is_empty() {
        return Ok(found);
    }
    let places: Vec<String> = roots.iter().map(|p| p.display().to_string()).collect();
    Err(format!(
        "{} succeeded but built no module: no *.ko newer than the start of the build under {}. \
         If the modules were up to date, run `make clean` first; if they are elsewhere, name them with --modules",
        req.program,
        places.join(", ")
    ))
}

/// A successful build fails the stage when a module was rejected or a GNU tool reported
/// corrupting a file on the way.
fn judge_modules(summary: &mut MakeSummary, program: &str) {
    let mut reasons = Vec::new();
    let rejected: Vec<&BuiltModule> = summary.modules.iter().filter(|m| !m.accepted()).collect();
    if !rejected.is_empty() {
        let each: Vec<String> = rejected
            .iter()
            .map(|m| format!("{}: {}", m.path.display(), first_problem(m)))
            .collect();
        reasons.push(format!(
            "{} of {} built modules rejected: {}",
            rejected.len(),
            summary.modules.len(),
            each.join("; ")
        ));
    }
    let corrupting = summary
        .diagnoses
        .iter()
        .find(|d| CORRUPTING_DIAGNOSES.contains(&d.id));
    if let Some(d) = corrupting {
        reasons.push(format!(
            "{program} exited 0, but a GNU binutils tool reported corrupting a file during the build \
             (output line {}: {}); its output cannot be trusted",
            d.line_number, d.line
        ));
    }
    if !reasons.is_empty() {
        summary.outcome = Outcome::ModuleRejected;
        summary.error = Some(reasons.join("; and "));
    }
}

/// Why a module was rejected, in one line.
pub fn first_problem(m: &BuiltModule) -> String {
    match &m.result {
        Err(e) => format!("strip failed: {}", e.detail()),
        Ok(r) => r
            .findings
            .iter()
            .find(|f| f.is_error())
            .map_or("rejected".into(), |f| match &f.section {
                Some(s) => format!("{s}: {}", f.message),
                None => f.message.clone(),
            }),
    }
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
