//! `dkwrap make`: the kernel chosen once (flags, else what the make command names, else the
//! running kernel), the build run through the make stage, one line per module as it is
//! stripped, the diagnoses, a summary line, JSON, and the exit code: make's own failure is
//! [`exit::MAKE_FAILED`] (its status in the message and the JSON), a killed make 128+N, a
//! rejected or missing module [`exit::BUILT_MODULE_REJECTED`].

use std::path::{Path, PathBuf};

use serde::Serialize;
use tracing::warn;

use super::records::ModuleRecord;
use super::ui::{self, Ui, Verdict};
use crate::cli::MakeArgs;
use crate::diagnose::{Diagnosis, Severity};
use crate::error::{exit, Error, Result};
use crate::kconfig::{Arch, CompilerFamily, KernelSelector, Lto};
use crate::make::command::{self, KernelHint, Rewrite};
use crate::make::stream::Sink;
use crate::make::{BuiltModule, MakeEvents, MakeRequest, MakeSummary, Outcome};
use crate::output::escape;
use crate::strip::Strategy;
use crate::target::KernelTarget;

/// The kernel `make` built for, as the summary reports it.
#[derive(Debug, Clone, Serialize)]
struct KernelSummary {
    release: Option<String>,
    build_dir: Option<PathBuf>,
    config: PathBuf,
    /// Which argument selected the kernel: "--kernel-dir", "SYSSRC=", "running kernel", ...
    selected_by: String,
    compiler: CompilerFamily,
    compiler_version: String,
    lto: Lto,
    arch: Arch,
}

/// The `--json` document (fields are only ever added; absent values are null).
#[derive(Debug, Serialize)]
struct MakeJson<'a> {
    kernel: KernelSummary,
    /// With `--boot-test`: what the test kernel said of the built modules.
    boot: Option<&'a crate::boot::BootReport>,
    command: &'a [String],
    rewrites: &'a [Rewrite],
    /// make's exit status (128+N when killed by signal N).
    make_status: i32,
    make_signal: Option<i32>,
    elapsed_s: f64,
    output_lines: usize,
    diagnoses: &'a [Diagnosis],
    modules: Vec<ModuleRecord>,
    outcome: Outcome,
    error: Option<&'a str>,
    exit_code: i32,
}

pub fn run(args: &MakeArgs, ui: &Ui) -> Result<i32> {
    let Some((program, make_args)) = args.command.split_first() else {
        return Err(Error::Usage(
            "no make command given: dkwrap make [OPTIONS] -- make ...".into(),
        ));
    };
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let (selector, selected_by) = select_kernel(args, &cwd, make_args)?;
    let kernel = KernelTarget::resolve(&selector, selected_by)?;
    eprintln!("dkwrap make: kernel {}", describe_kernel(&kernel));
    let req = MakeRequest {
        program: program.clone(),
        args: make_args.to_vec(),
        cwd,
        modules: args.modules.clone(),
        strategy: args.strategy.into(),
        sink: if args.json {
            Sink::Stderr
        } else {
            Sink::Stdout
        },
        progress: ui.progress_allowed(),
        env: Vec::new(),
    };
    let mut printer = Printer {
        ui,
        strategy: req.strategy,
    };
    let summary = crate::make::build(&req, &kernel, &mut printer)?;
    let mut code = exit_code(&summary);
    let boot = match boot_test_image(args, &kernel)? {
        Some(image) if code == exit::OK => boot_test(ui, args, &kernel, image, &summary, &mut code),
        _ => None,
    };
    print_diagnoses(ui, &summary.diagnoses, summary.make_status != 0);
    if summary.make_status != 0 && summary.diagnoses.is_empty() {
        eprintln!("dkwrap make: no known failure signature in the output; the first error make printed is the place to start");
    }
    eprintln!("dkwrap make: {}", summary_line(ui, &summary, code));
    if args.json {
        crate::output::print_json(&MakeJson {
            kernel: kernel_summary(&kernel),
            boot: boot.as_ref(),
            command: &summary.command,
            rewrites: &summary.rewrites,
            make_status: summary.make_status,
            make_signal: summary.make_signal,
            elapsed_s: summary.elapsed_s,
            output_lines: summary.output_lines,
            diagnoses: &summary.diagnoses,
            modules: summary
                .modules
                .iter()
                .map(|m| ModuleRecord::new(&m.path, &m.result, req.strategy, true))
                .collect(),
            outcome: summary.outcome,
            error: summary.error.as_deref(),
            exit_code: code,
        })?;
    }
    Ok(code)
}

/// The environment variable that asks `make` for the boot test (`1`, or a kernel image):
/// how the dkms integration, which runs `dkwrap make` through its shim, asks for it.
pub const BOOT_TEST_ENV: &str = "DKWRAP_BOOT_TEST";

/// The image `--boot-test` (or [`BOOT_TEST_ENV`]) asks to boot, if any: the one named, else
/// `ROOT/boot/vmlinuz-KVER` of the kernel built for.
fn boot_test_image(args: &MakeArgs, kernel: &KernelTarget) -> Result<Option<PathBuf>> {
    let asked = match &args.boot_test {
        Some(image) => Some(image.clone()),
        None => match std::env::var_os(BOOT_TEST_ENV) {
            Some(v) if v.is_empty() || v == "0" => None,
            Some(v) if v == "1" => Some(None),
            Some(v) => Some(Some(PathBuf::from(v))),
            None => None,
        },
    };
    let Some(image) = asked else { return Ok(None) };
    if let Some(image) = image {
        return Ok(Some(image));
    }
    let release = kernel.release.as_deref().ok_or_else(|| {
        Error::Usage(
            "--boot-test: the kernel's release is unknown here; name the image: --boot-test IMAGE"
                .into(),
        )
    })?;
    Ok(Some(
        args.kernel
            .root
            .join("boot")
            .join(format!("vmlinuz-{release}")),
    ))
}

/// Boots `image` with the accepted modules; prints the verdicts and folds their code (or the
/// reason the VM could not run) into `code`.
fn boot_test(
    ui: &Ui,
    args: &MakeArgs,
    kernel: &KernelTarget,
    image: PathBuf,
    summary: &MakeSummary,
    code: &mut i32,
) -> Option<crate::boot::BootReport> {
    let modules: Vec<PathBuf> = summary
        .modules
        .iter()
        .filter(|m| m.accepted())
        .map(|m| m.path.clone())
        .collect();
    let search = kernel
        .release
        .as_ref()
        .map(|r| args.kernel.root.join("lib/modules").join(r).join("kernel"))
        .filter(|d| d.is_dir());
    let req = crate::boot::BootRequest {
        image,
        modules,
        search: search.into_iter().collect(),
        qemu: None,
        timeout: crate::boot::DEFAULT_TIMEOUT,
    };
    match crate::boot::boot(&req) {
        Ok(report) => {
            *code = exit::most_severe(*code, super::boot::code(&report));
            if !args.json {
                super::boot::print(ui, &report);
            }
            Some(report)
        }
        Err(e) => {
            ui.error(&format!("boot test: {e}"));
            *code = exit::most_severe(*code, e.exit_code());
            None
        }
    }
}

/// make's own failure has its own code; a killed make 128+N (as shells report it).
pub(super) fn exit_code(s: &MakeSummary) -> i32 {
    match s.outcome {
        Outcome::Ok => exit::OK,
        Outcome::MakeFailed => match s.make_signal {
            Some(_) => s.make_status,
            None => exit::MAKE_FAILED,
        },
        Outcome::NoModules | Outcome::ModuleRejected => exit::BUILT_MODULE_REJECTED,
    }
}

/// Prints the stage's events as they happen.
struct Printer<'u> {
    ui: &'u Ui,
    strategy: Strategy,
}

impl MakeEvents for Printer<'_> {
    fn starting(&mut self, command_line: &str, rewrites: &[Rewrite]) {
        for r in rewrites {
            let line = match &r.from {
                Some(from) => format!(
                    "rewrote {}={from} to {}={}: {}",
                    r.variable, r.variable, r.to, r.reason
                ),
                None => format!("added {}={}", r.variable, r.to),
            };
            if r.from.is_some() || !self.ui.quiet {
                eprintln!("dkwrap make: {}", escape(&line));
            }
        }
        if !self.ui.quiet {
            eprintln!("dkwrap make: running: {command_line}");
        }
    }

    fn module_done(&mut self, m: &BuiltModule) {
        print_module(self.ui, m, self.strategy);
    }
}

fn print_module(ui: &Ui, m: &BuiltModule, asked: Strategy) {
    let path = ui::path(&m.path);
    let accepted = m.accepted();
    if ui.quiet && accepted {
        return;
    }
    let r = match &m.result {
        Err(e) => {
            let failed = ui.err_word(Verdict::Failed);
            eprintln!("dkwrap make: {path}: {failed}: {}", escape(&e.detail()));
            return;
        }
        Ok(r) => r,
    };
    let how = match r.strategy {
        Strategy::Skip if asked != Strategy::Skip => {
            "left unstripped (no strategy produced a proven output)".to_string()
        }
        Strategy::Skip => "left unstripped".to_string(),
        s => format!(
            "stripped with {}",
            super::strip::tool_words(s, r.tool.as_deref())
        ),
    };
    let sizes = if r.size_after != r.size_before {
        format!(
            ", {} -> {}",
            ui::human_size(r.size_before),
            ui::human_size(r.size_after)
        )
    } else {
        format!(", {}", ui::human_size(r.size_before))
    };
    let verdict = if accepted {
        format!("verified: {}", ui.err_word(Verdict::Ok))
    } else {
        format!("REJECTED: {}", ui.err_word(Verdict::Failed))
    };
    eprintln!("dkwrap make: {path}: {how}{sizes}, {verdict}");
    for a in r.attempts.iter().filter(|a| !a.accepted) {
        let what = a.strategy.in_words();
        let why = escape(a.reason.as_deref().unwrap_or("rejected"));
        eprintln!("  {what} rejected: {why}");
    }
    for f in r
        .findings
        .iter()
        .filter(|f| f.severity != crate::finding::Severity::Note)
    {
        eprintln!("  {}", super::verify::finding_line(ui, f));
    }
}

pub(super) fn print_diagnoses(ui: &Ui, diagnoses: &[Diagnosis], make_failed: bool) {
    for d in diagnoses {
        let fatal = make_failed || crate::make::CORRUPTING_DIAGNOSES.contains(&d.id);
        let label = if d.severity == Severity::Error && fatal {
            "diagnosis".to_string()
        } else {
            ui.err_word(Verdict::Warning)
        };
        eprintln!(
            "dkwrap make: {label} [{}] at output line {}: {}",
            d.id,
            d.line_number,
            escape(&d.line)
        );
        eprintln!("  cause: {}", escape(&d.cause));
        eprintln!("  fix:   {}", escape(&d.fix));
    }
}

fn summary_line(ui: &Ui, s: &MakeSummary, code: i32) -> String {
    let verified = s.modules.iter().filter(|m| m.accepted()).count();
    let unstripped = s
        .modules
        .iter()
        .filter(|m| {
            m.result
                .as_ref()
                .is_ok_and(|r| r.strategy == Strategy::Skip)
        })
        .count();
    match s.outcome {
        Outcome::Ok => format!(
            "make succeeded in {:.1}s; {} verified ({} stripped, {unstripped} left unstripped): {}",
            s.elapsed_s,
            ui::plural(verified, "module"),
            verified - unstripped.min(verified),
            ui.err_word(Verdict::Ok)
        ),
        _ => format!(
            "{} ({}): {} (exit {code})",
            ui.err_word(Verdict::Failed),
            s.outcome.name(),
            escape(s.error.as_deref().unwrap_or("")),
        ),
    }
}

fn kernel_summary(k: &KernelTarget) -> KernelSummary {
    KernelSummary {
        release: k.release.clone(),
        build_dir: k.build_dir.clone(),
        config: k.facts.config_path.clone(),
        selected_by: k.selected_by.clone(),
        compiler: k.facts.compiler,
        compiler_version: k.facts.compiler_version.clone(),
        lto: k.facts.lto,
        arch: k.facts.arch,
    }
}

pub(super) fn describe_kernel(k: &KernelTarget) -> String {
    let compiler = crate::detect::family_name(k.facts.compiler);
    let lto = match k.facts.lto {
        Lto::None => "no LTO",
        Lto::Thin => "ThinLTO",
        Lto::Full => "full LTO",
    };
    let place = k.build_dir.as_ref().unwrap_or(&k.facts.config_path);
    escape(&format!(
        "{} ({compiler} {}, {lto}, {}) at {} (selected by {})",
        k.release.as_deref().unwrap_or("of unknown release"),
        k.facts.compiler_version,
        k.facts.arch.name(),
        place.display(),
        k.selected_by
    ))
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
        let by = args.kernel.selected_by();
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
