//! `dkwrap matrix`: the kernels resolved up front (a wrong --kernel-dir fails before anything
//! is built), the builds run by the matrix stage, then a table kernel x module -> outcome on
//! stdout (or one JSON record per cell) and the exit code by the one policy over the cells.
//! `--emit-ci-matrix` prints the kernels for a CI system to fan out and builds nothing.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::records::{ErrorRecord, ModuleRecord};
use super::ui::{self, Tally, Ui, Verdict};
use crate::cli::MatrixArgs;
use crate::error::{exit, Error, Result};
use crate::kconfig::{CompilerFamily, KernelSelector, Lto};
use crate::make::matrix::{self, KernelBuild, MatrixEvents, MatrixRequest};
use crate::make::{BuiltModule, Outcome};
use crate::output::escape;
use crate::strip::Strategy;
use crate::target::KernelTarget;

/// One kernel of `--emit-ci-matrix` (a GitHub Actions `include` entry).
#[derive(Debug, Serialize)]
struct CiKernel {
    kernel: String,
    kernel_dir: Option<PathBuf>,
    release: Option<String>,
    compiler: CompilerFamily,
    compiler_version: String,
    lto: Lto,
    arch: &'static str,
}

/// One cell of the table: a module a kernel's build produced, or the build itself when it
/// produced none.
#[derive(Debug, Serialize)]
struct CellRecord {
    kernel: String,
    release: Option<String>,
    kernel_dir: Option<PathBuf>,
    build_dir: PathBuf,
    log: PathBuf,
    /// The module, relative to the build directory (null: the cell is the build itself).
    module: Option<PathBuf>,
    ok: bool,
    outcome: &'static str,
    error: Option<ErrorRecord>,
    exit_code: i32,
    make_status: Option<i32>,
    elapsed_s: Option<f64>,
    record: Option<ModuleRecord>,
}

#[derive(Debug, Serialize)]
struct MatrixJson {
    jobs: usize,
    removed_arguments: Vec<String>,
    cells: Vec<CellRecord>,
    exit_code: i32,
}

pub fn run(args: &MatrixArgs, ui: &Ui) -> Result<i32> {
    let kernels = resolve_kernels(args)?;
    if args.emit_ci_matrix {
        return emit_ci_matrix(&kernels);
    }
    let Some((program, make_args)) = args.command.split_first() else {
        return Err(Error::Usage(
            "no make command given: dkwrap matrix --kernel-dir A --kernel-dir B -- make ...".into(),
        ));
    };
    for k in &kernels {
        eprintln!("dkwrap matrix: kernel {}", super::make::describe_kernel(k));
    }
    let req = MatrixRequest {
        program: program.clone(),
        args: make_args.to_vec(),
        source_dir: std::env::current_dir().map_err(|e| Error::io(".", e))?,
        build_root: args.build_root.clone(),
        kernels,
        jobs: args.jobs,
        modules: args.modules.clone(),
        strategy: args.strategy.into(),
    };
    let started = std::time::Instant::now();
    let summary = matrix::run(&req, &Progress { ui })?;
    let cells: Vec<CellRecord> = summary
        .builds
        .iter()
        .flat_map(|b| cells_of(b, req.strategy))
        .collect();
    let mut tally = Tally::default();
    cells.iter().for_each(|c| tally.add(c.exit_code));
    if args.json {
        crate::output::print_json(&MatrixJson {
            jobs: summary.jobs,
            removed_arguments: summary.removed_arguments.clone(),
            cells,
            exit_code: tally.code,
        })?;
    } else {
        print_table(ui, &cells);
    }
    eprintln!(
        "dkwrap matrix: {} built with {} shared job slots in {:.1}s; {}",
        ui::plural(summary.builds.len(), "kernel"),
        summary.jobs,
        started.elapsed().as_secs_f64(),
        tally.summary(ui, false)
    );
    Ok(tally.code)
}

fn resolve_kernels(args: &MatrixArgs) -> Result<Vec<KernelTarget>> {
    let mut kernels = Vec::new();
    for dir in &args.kernel_dirs {
        if !dir.is_dir() {
            return Err(Error::NoKernelConfig(format!(
                "kernel build directory {} (from --kernel-dir) does not exist",
                dir.display()
            )));
        }
        let selector = KernelSelector {
            dir: Some(dir.clone()),
            root: args.root.clone(),
            ..KernelSelector::default()
        };
        kernels.push(KernelTarget::resolve(&selector, "--kernel-dir")?);
    }
    for release in &args.releases {
        let selector = KernelSelector {
            release: Some(release.clone()),
            root: args.root.clone(),
            ..KernelSelector::default()
        };
        kernels.push(KernelTarget::resolve(&selector, "--kernel")?);
    }
    if kernels.is_empty() {
        return Err(Error::Usage(
            "no kernel given: pass --kernel-dir DIR (or --kernel KVER) once per kernel".into(),
        ));
    }
    Ok(kernels)
}

fn emit_ci_matrix(kernels: &[KernelTarget]) -> Result<i32> {
    let include: Vec<CiKernel> = kernels
        .iter()
        .zip(matrix::kernel_labels(kernels))
        .map(|(k, label)| CiKernel {
            kernel: label,
            kernel_dir: k.build_dir.clone(),
            release: k.release.clone(),
            compiler: k.facts.compiler,
            compiler_version: k.facts.compiler_version.clone(),
            lto: k.facts.lto,
            arch: k.facts.arch.name(),
        })
        .collect();
    // One line: GitHub Actions reads step outputs as `name=value` lines.
    let doc = serde_json::json!({ "include": include });
    println!("{doc}");
    Ok(exit::OK)
}

/// A line per build as it starts and ends (the builds' own output is in their logs).
struct Progress<'u> {
    ui: &'u Ui,
}

impl MatrixEvents for Progress<'_> {
    fn build_started(&self, label: &str, build_dir: &Path, log: &Path) {
        if !self.ui.quiet {
            eprintln!(
                "dkwrap matrix: {label}: building in {} (log: {})",
                ui::path(build_dir),
                ui::path(log)
            );
        }
    }

    fn build_finished(&self, b: &KernelBuild) {
        let line = match &b.result {
            Ok(s) if s.outcome == Outcome::Ok => format!(
                "{}: make succeeded in {:.1}s, {} verified: {}",
                b.label,
                s.elapsed_s,
                ui::plural(s.modules.len(), "module"),
                self.ui.err_word(Verdict::Ok)
            ),
            Ok(s) => format!(
                "{}: {} ({}): {}",
                b.label,
                self.ui.err_word(Verdict::Failed),
                s.outcome.name(),
                escape(s.error.as_deref().unwrap_or(""))
            ),
            Err(e) => format!("{}: {}: {e}", b.label, self.ui.err_word(Verdict::Failed)),
        };
        eprintln!("dkwrap matrix: {line}");
        if let Ok(s) = &b.result {
            if !self.ui.quiet || s.outcome != Outcome::Ok {
                super::make::print_diagnoses(self.ui, &s.diagnoses, s.make_status != 0);
            }
        }
    }
}

/// The cells of one kernel's build.
fn cells_of(b: &KernelBuild, asked: Strategy) -> Vec<CellRecord> {
    let base = |module: Option<PathBuf>| CellRecord {
        kernel: b.label.clone(),
        release: b.kernel.release.clone(),
        kernel_dir: b.kernel.build_dir.clone(),
        build_dir: b.build_dir.clone(),
        log: b.log.clone(),
        module,
        ok: false,
        outcome: "",
        error: None,
        exit_code: exit::OK,
        make_status: None,
        elapsed_s: None,
        record: None,
    };
    let s = match &b.result {
        Err(e) => {
            return vec![CellRecord {
                outcome: "not-built",
                error: Some(ErrorRecord::from_error(e)),
                exit_code: e.exit_code(),
                ..base(None)
            }];
        }
        Ok(s) => s,
    };
    let code = super::make::exit_code(s);
    let whole_build = |outcome: &'static str| CellRecord {
        outcome,
        ok: code == exit::OK,
        error: s.error.as_ref().map(|m| ErrorRecord {
            code,
            message: m.clone(),
        }),
        exit_code: code,
        make_status: Some(s.make_status),
        elapsed_s: Some(s.elapsed_s),
        ..base(None)
    };
    if matches!(s.outcome, Outcome::MakeFailed | Outcome::NoModules) {
        return vec![whole_build(s.outcome.name())];
    }
    let mut cells: Vec<CellRecord> = s
        .modules
        .iter()
        .map(|m| module_cell(m, b, asked, s.make_status, s.elapsed_s, base(None)))
        .collect();
    // Every module passed, yet the stage failed: the build output shows a corrupting tool.
    if s.outcome == Outcome::ModuleRejected && cells.iter().all(|c| c.ok) {
        cells.push(whole_build("build-output-rejected"));
    }
    cells
}

fn module_cell(
    m: &BuiltModule,
    b: &KernelBuild,
    asked: Strategy,
    make_status: i32,
    elapsed_s: f64,
    base: CellRecord,
) -> CellRecord {
    let record = ModuleRecord::new(&m.path, &m.result, asked, true);
    let ok = m.accepted();
    let exit_code = if ok {
        exit::OK
    } else {
        exit::BUILT_MODULE_REJECTED
    };
    let error = match &m.result {
        Err(e) => Some(ErrorRecord::from_error(e)),
        Ok(_) if !ok => Some(ErrorRecord {
            code: exit_code,
            message: crate::make::first_problem(m),
        }),
        Ok(_) => None,
    };
    let module = m
        .path
        .strip_prefix(&b.build_dir)
        .unwrap_or(&m.path)
        .to_path_buf();
    CellRecord {
        module: Some(module),
        ok,
        outcome: if ok { "ok" } else { "module-rejected" },
        error,
        exit_code,
        make_status: Some(make_status),
        elapsed_s: Some(elapsed_s),
        record: Some(record),
        ..base
    }
}

fn print_table(ui: &Ui, cells: &[CellRecord]) {
    let kernel_width = cells
        .iter()
        .map(|c| c.kernel.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let module_name = |c: &CellRecord| {
        c.module
            .as_ref()
            .map_or("(build)".to_string(), |m| m.display().to_string())
    };
    let module_width = cells
        .iter()
        .map(|c| module_name(c).len())
        .max()
        .unwrap_or(6)
        .max(6);
    println!(
        "{:kernel_width$}  {:module_width$}  OUTCOME",
        "KERNEL", "MODULE"
    );
    for c in cells {
        if ui.quiet && c.ok {
            continue;
        }
        let verdict = ui.out_word(if c.ok { Verdict::Ok } else { Verdict::Failed });
        let detail = match (&c.record, &c.error) {
            (_, Some(e)) => format!("{}: {}", c.outcome, escape(&e.message)),
            (Some(r), None) => match (r.strategy, &r.tool, r.size_before, r.size_after) {
                (Some(Strategy::Skip), ..) => "left unstripped".into(),
                (_, tool, Some(a), Some(b)) => format!(
                    "stripped{}, {} -> {}",
                    tool.as_ref()
                        .and_then(|t| t.file_name())
                        .map_or(String::new(), |t| format!(" with {}", t.to_string_lossy())),
                    ui::human_size(a),
                    ui::human_size(b)
                ),
                _ => "verified".into(),
            },
            (None, None) => c.outcome.to_string(),
        };
        println!(
            "{:kernel_width$}  {:module_width$}  {verdict}: {detail}",
            escape(&c.kernel),
            escape(&module_name(c))
        );
    }
}
