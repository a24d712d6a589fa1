//! Several kernels in one command (the CI and distro case): the package is built once per
//! kernel, each in its own copy of the source tree, all at once under one job budget (a
//! shared GNU make [`jobserver`](super::jobserver)), and each build goes through the one make
//! stage ([`super::build`]: toolchain, kernel variables, strip, verify) with its output in a
//! log file of its own.

use std::path::{Path, PathBuf};

use tracing::debug;

use super::command::{self, KernelHint};
use super::jobserver::{self, Jobserver};
use super::stream::Sink;
use super::{BuiltModule, MakeEvents, MakeRequest, MakeSummary};
use crate::error::{Error, Result};
use crate::strip::Strategy;
use crate::target::KernelTarget;

/// Marks a build directory as a copy dkwrap made (and may therefore delete and remake).
pub const COPY_MARKER: &str = ".dkwrap-matrix-copy";

/// What to build, for which kernels.
#[derive(Debug, Clone)]
pub struct MatrixRequest {
    pub program: String,
    /// The make command's arguments; its own `-jN` is removed here.
    pub args: Vec<String>,
    /// The package's source tree (where make would run), copied once per kernel.
    pub source_dir: PathBuf,
    /// Where the copies (`<root>/<label>/`) and the logs (`<root>/<label>.make.log`) go.
    pub build_root: PathBuf,
    pub kernels: Vec<KernelTarget>,
    /// Job slots for all builds together (`None`: the command's `-jN`, else the CPUs).
    pub jobs: Option<usize>,
    pub modules: Vec<PathBuf>,
    pub strategy: Strategy,
}

/// One kernel's build.
#[derive(Debug)]
pub struct KernelBuild {
    /// A short name for the kernel (its tree's directory name, else its release).
    pub label: String,
    pub kernel: KernelTarget,
    pub build_dir: PathBuf,
    pub log: PathBuf,
    /// The make stage's summary, or why the build could not run.
    pub result: Result<MakeSummary>,
}

/// All builds, in the order the kernels were given.
#[derive(Debug)]
pub struct MatrixSummary {
    pub jobs: usize,
    /// The arguments removed from the command (its own `-jN`).
    pub removed_arguments: Vec<String>,
    pub builds: Vec<KernelBuild>,
}

/// What the stage reports as it goes (called from the builds' threads).
pub trait MatrixEvents: Sync {
    fn build_started(&self, label: &str, build_dir: &Path, log: &Path);
    fn build_finished(&self, build: &KernelBuild);
}

/// Builds the package for every kernel; a kernel whose build fails does not stop the others.
pub fn run(req: &MatrixRequest, events: &dyn MatrixEvents) -> Result<MatrixSummary> {
    if req.kernels.is_empty() {
        return Err(Error::Usage(
            "no kernel given: pass --kernel-dir (or --kernel) once per kernel".into(),
        ));
    }
    if let Some(hint) = command::kernel_hint(&req.source_dir, &req.args) {
        let (what, from) = match hint {
            KernelHint::Dir(d, from) => (d.display().to_string(), from),
            KernelHint::Release(r, from) => (r, from),
        };
        return Err(Error::Usage(format!(
            "the make command names a kernel ({from} {what}); with several kernels each build gets its \
             own kernel's variables: remove it from the command"
        )));
    }
    let (args, removed_arguments, asked) = jobserver::remove_job_arguments(&req.args);
    let slots = req.jobs.or(asked).unwrap_or_else(available_cpus).max(1);
    let labels = kernel_labels(&req.kernels);
    std::fs::create_dir_all(&req.build_root).map_err(|e| Error::io(&req.build_root, e))?;
    let root = canonical(&req.build_root);
    let mut plans = Vec::new();
    for (kernel, label) in req.kernels.iter().zip(labels) {
        let build_dir = root.join(&label);
        prepare_copy(&req.source_dir, &build_dir, &root)?;
        let log = root.join(format!("{label}.make.log"));
        plans.push((kernel, label, build_dir, log));
    }
    let server = Jobserver::new(slots)?;
    let makeflags = server.makeflags(std::env::var("MAKEFLAGS").ok().as_deref());
    let source = canonical(&req.source_dir);
    let builds = std::thread::scope(|scope| {
        let handles: Vec<_> = plans
            .into_iter()
            .enumerate()
            .map(|(i, (kernel, label, build_dir, log))| {
                let request = MakeRequest {
                    program: req.program.clone(),
                    // The command may name the source as given or by its canonical path.
                    args: rebase_args(&args, &[&req.source_dir, &source], &build_dir),
                    cwd: build_dir.clone(),
                    modules: req.modules.clone(),
                    strategy: req.strategy,
                    sink: Sink::Log(log.clone()),
                    progress: false,
                    env: vec![("MAKEFLAGS".into(), makeflags.clone())],
                };
                let server = &server;
                scope.spawn(move || {
                    // The first build runs on our implicit slot; the others wait for a token.
                    let slot = if i == 0 { Ok(()) } else { server.acquire() };
                    events.build_started(&label, &build_dir, &log);
                    let result = slot.and_then(|()| super::build(&request, kernel, &mut Quiet));
                    if let Err(e) = server.release() {
                        debug!("jobserver: {e}");
                    }
                    let build = KernelBuild {
                        label,
                        kernel: kernel.clone(),
                        build_dir,
                        log,
                        result,
                    };
                    events.build_finished(&build);
                    build
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join())
            .collect::<std::result::Result<Vec<_>, _>>()
    })
    .map_err(|_| Error::Usage("a build thread panicked".into()))?;
    Ok(MatrixSummary {
        jobs: slots,
        removed_arguments,
        builds,
    })
}

/// The per-build events are summed up by the matrix's table, not printed one by one.
struct Quiet;

impl MakeEvents for Quiet {
    fn starting(&mut self, command: &str, _rewrites: &[super::command::Rewrite]) {
        debug!("running: {command}");
    }
    fn module_done(&mut self, _module: &BuiltModule) {}
}

fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A short, file-name-safe, unique name per kernel: its tree's directory name (else its
/// release), `-2`, `-3` ... on repeats.
pub fn kernel_labels(kernels: &[KernelTarget]) -> Vec<String> {
    let mut labels: Vec<String> = Vec::new();
    for k in kernels {
        let base = k
            .build_dir
            .as_deref()
            .map(canonical)
            .and_then(|d| {
                // /lib/modules/<release>/build says more by its release than by "build".
                let name = d.file_name()?.to_string_lossy().into_owned();
                (name != "build").then_some(name)
            })
            .or_else(|| k.release.clone())
            .unwrap_or_else(|| "kernel".into());
        let base: String = base
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-+".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut label = base.clone();
        let mut n = 2;
        while labels.contains(&label) {
            label = format!("{base}-{n}");
            n += 1;
        }
        labels.push(label);
    }
    labels
}

/// Makes `build_dir` a fresh copy of `source` (leaving out `build_root` when it lies inside
/// the source). An existing directory is replaced only if dkwrap made it.
fn prepare_copy(source: &Path, build_dir: &Path, build_root: &Path) -> Result<()> {
    if build_dir.exists() {
        if !build_dir.join(COPY_MARKER).is_file() {
            return Err(Error::Usage(format!(
                "{} exists and is not a copy dkwrap made: choose another --build-root",
                build_dir.display()
            )));
        }
        std::fs::remove_dir_all(build_dir).map_err(|e| Error::io(build_dir, e))?;
    }
    let source = canonical(source);
    copy_tree(&source, build_dir, build_root)?;
    std::fs::write(build_dir.join(COPY_MARKER), source.display().to_string())
        .map_err(|e| Error::io(build_dir, e))
}

/// Copies a directory tree: files with their permissions, symbolic links as links.
fn copy_tree(from: &Path, to: &Path, leave_out: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| Error::io(from, e))? {
        let entry = entry.map_err(|e| Error::io(from, e))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let kind = entry.file_type().map_err(|e| Error::io(&src, e))?;
        if kind.is_dir() {
            if canonical(&src) != leave_out {
                copy_tree(&src, &dst, leave_out)?;
            }
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&src).map_err(|e| Error::io(&src, e))?;
            std::os::unix::fs::symlink(&target, &dst).map_err(|e| Error::io(&dst, e))?;
        } else if kind.is_file() {
            std::fs::copy(&src, &dst).map_err(|e| Error::io(&src, e))?;
        }
    }
    Ok(())
}

/// Arguments naming the source tree (`M=/src`, `-C /src/sub`, `/src/x`) name the copy instead;
/// `sources`: the ways the command may spell the source tree. Each argument is rewritten once.
pub fn rebase_args(args: &[String], sources: &[&Path], copy: &Path) -> Vec<String> {
    let to = copy.display().to_string();
    let rebase = |value: &str| -> Option<String> {
        sources.iter().find_map(|source| {
            let rest = value.strip_prefix(source.to_str()?)?;
            (rest.is_empty() || rest.starts_with('/')).then(|| format!("{to}{rest}"))
        })
    };
    args.iter()
        .map(|a| {
            if let Some(new) = rebase(a) {
                return new;
            }
            if let Some((name, value)) = a.split_once('=') {
                if let Some(new) = rebase(value) {
                    return format!("{name}={new}");
                }
            }
            if let Some(new) = a.strip_prefix("-C").and_then(rebase) {
                return format!("-C{new}");
            }
            a.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_naming_the_source_name_the_copy() {
        let args: Vec<String> = [
            "M=/src/pkg/kernel",
            "-C",
            "/src/pkg",
            "-C/src/pkg/x",
            "/src/pkgother",
            "V=1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let got = rebase_args(&args, &[Path::new("/src/pkg")], Path::new("/b/k1"));
        assert_eq!(
            got,
            [
                "M=/b/k1/kernel",
                "-C",
                "/b/k1",
                "-C/b/k1/x",
                "/src/pkgother",
                "V=1"
            ]
        );
    }

    #[test]
    fn a_copy_inside_the_source_is_named_once() {
        let args = vec!["M=/l/pkg/kernel-open".to_string()];
        let sources = [Path::new("/l/pkg"), Path::new("/real/pkg")];
        let got = rebase_args(&args, &sources, Path::new("/real/pkg/.dkwrap-matrix/k"));
        assert_eq!(got, ["M=/real/pkg/.dkwrap-matrix/k/kernel-open"]);
    }

    #[test]
    fn a_copy_keeps_modes_and_links_leaves_out_the_build_root_and_is_remade() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/conftest.sh"), "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            src.join("sub/conftest.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("sub/conftest.sh", src.join("link")).unwrap();
        let root = src.join(".dkwrap-matrix");
        std::fs::create_dir_all(&root).unwrap();
        let root = canonical(&root);
        let copy = root.join("k");
        prepare_copy(&src, &copy, &root).unwrap();
        let mode = std::fs::metadata(copy.join("sub/conftest.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            std::fs::read_link(copy.join("link")).unwrap(),
            Path::new("sub/conftest.sh")
        );
        assert!(!copy.join(".dkwrap-matrix").exists());
        std::fs::write(copy.join("stale.o"), "").unwrap();
        prepare_copy(&src, &copy, &root).unwrap();
        assert!(!copy.join("stale.o").exists());
        // A directory dkwrap did not make is never deleted.
        let foreign = root.join("foreign");
        std::fs::create_dir_all(&foreign).unwrap();
        assert!(prepare_copy(&src, &foreign, &root).is_err());
    }
}
