//! `strip`: a drop-in for `strip -g` that never replaces a module with something unproven.
//!
//! For each file: peel compression and signature ([`ModuleFile`]), choose a chain of
//! strategies (auto: llvm-strip for clang kernels, GNU strip for GCC kernels unless the
//! module has a layout GNU strip corrupts), and for each strategy in turn write a candidate
//! into a temporary file beside the target ([`candidate`]), reject it if the tool failed or
//! complained, and prove it equal to the input minus debug information ([`crate::proof`]).
//! The first proven candidate is recompressed if needed and renamed over the target, keeping
//! its mode and owner. `skip` (leave the module as it is) ends every chain, so the only
//! failures are files that cannot be read or written.

pub mod candidate;
pub mod hazards;
pub mod native;

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use tracing::{debug, info};

use crate::elf::Elf;
use crate::error::{Error, Result};
use crate::finding::{Category, Finding};
use crate::kconfig::{Arch, CompilerFamily, KernelFacts};
use crate::modfile::ModuleFile;
use crate::target::KernelTarget;
use crate::toolchain::{self, Tool};
use crate::verify::{self, Expectations};
use candidate::{Durability, Flushing};

/// How to strip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// llvm-strip for clang kernels (native if missing); GNU strip for GCC kernels unless
    /// the module has a layout GNU strip corrupts.
    Auto,
    /// llvm-strip matched to the kernel's clang.
    Llvm,
    /// dkwrap's own section-level rewriter (no binutils needed).
    Native,
    /// Leave the module unstripped.
    Skip,
    /// GNU strip -g (only when asked for, or chosen by auto for GCC kernels).
    Gnu,
}

impl Strategy {
    /// The name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::Llvm => "llvm",
            Strategy::Native => "native",
            Strategy::Skip => "skip",
            Strategy::Gnu => "gnu",
        }
    }

    /// What it runs, in words (`llvm-strip`, `GNU strip`, `dkwrap's rewriter`).
    pub fn in_words(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::Llvm => "llvm-strip",
            Strategy::Native => "dkwrap's rewriter",
            Strategy::Skip => "no strip",
            Strategy::Gnu => "GNU strip",
        }
    }
}

/// What `strip_file` needs to know besides the file and the kernel.
#[derive(Debug, Clone)]
pub struct StripRequest {
    pub strategy: Strategy,
    pub allow_unsign: bool,
    /// Write here instead of replacing the input.
    pub output: Option<PathBuf>,
    /// With `output`: flush it to disk before it takes its name. Replacing the input (no
    /// `output`, or an `output` that is the input itself) always flushes.
    pub fsync_output: bool,
    /// Compute sha256 before and after (for --manifest and --json; costs a read of both files).
    pub record_hashes: bool,
    /// Also read the kept output with the second ELF parser (what `verify` does).
    pub cross_check: bool,
}

/// One strategy tried on one file. Absent values are `null` in JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub strategy: Strategy,
    pub tool: Option<PathBuf>,
    pub tool_version: Option<String>,
    pub accepted: bool,
    /// Why it was rejected (or skipped).
    pub reason: Option<String>,
}

/// What happened to one file that was stripped (or deliberately left as it was).
#[derive(Debug, Clone, Serialize)]
pub struct StripRecord {
    pub path: PathBuf,
    pub output: PathBuf,
    pub sha256_before: Option<String>,
    pub sha256_after: Option<String>,
    pub size_before: u64,
    pub size_after: u64,
    /// The strategy whose output was kept.
    pub strategy: Strategy,
    pub tool: Option<PathBuf>,
    pub tool_version: Option<String>,
    /// Every strategy tried, in order, with why the rejected ones were rejected.
    pub attempts: Vec<Attempt>,
    pub compression: Option<String>,
    /// The input carried a signature, which stripping dropped.
    pub signature_dropped: bool,
    pub elapsed_ms: f64,
    /// The loader's checks of the module as left, against the target kernel when one was
    /// given (the proof passed; these say whether that kernel will load it).
    pub findings: Vec<Finding>,
}

/// Layouts GNU strip corrupts or refuses: why auto will not hand this module to it.
pub fn gnu_strip_hazards(elf: &Elf) -> Vec<String> {
    hazards::layout(elf).hazards()
}

/// The compiler family and major version that built the module, from the kernel facts or,
/// without them, the module's `.comment` (clang wins when both appear: a GCC-built blob
/// inside a clang module is still a clang/lld link).
fn compiler_of(elf: &Elf, facts: Option<&KernelFacts>) -> Option<(CompilerFamily, Option<u32>)> {
    if let Some(f) = facts {
        return Some((f.compiler, Some(f.compiler_major)));
    }
    let found = toolchain::compilers_in_comment(&elf.comments());
    found
        .iter()
        .find(|(f, _)| *f == CompilerFamily::Clang)
        .or_else(|| found.first())
        .map(|(f, v)| (*f, toolchain::major_of(v)))
}

fn find_llvm_strip(major: Option<u32>) -> Tool {
    match major {
        Some(m) => toolchain::find_llvm_tool("llvm-strip", m),
        None => {
            // Any llvm-strip will do for a module whose compiler is unknown or GCC.
            let path = toolchain::find_on_path("llvm-strip");
            Tool {
                role: "llvm-strip".into(),
                version: path.as_deref().and_then(toolchain::tool_version),
                path,
                install_hint: Some("Debian/Ubuntu: apt install llvm".into()),
            }
        }
    }
}

/// The strategies to try, in order, with the reason for the order (logged).
fn plan(strategy: Strategy, elf: &Elf, facts: Option<&KernelFacts>) -> (Vec<Strategy>, String) {
    use Strategy::*;
    match strategy {
        Auto => match compiler_of(elf, facts) {
            Some((CompilerFamily::Clang, major)) => (
                vec![Llvm, Native, Skip],
                format!(
                    "clang {} kernel: llvm-strip, then native",
                    major.map_or("?".into(), |m| m.to_string())
                ),
            ),
            Some((CompilerFamily::Gcc, _)) | None => {
                let hazards = gnu_strip_hazards(elf);
                if hazards.is_empty() {
                    (
                        vec![Gnu, Native, Skip],
                        "GCC kernel, no layout GNU strip gets wrong".into(),
                    )
                } else {
                    (
                        vec![Llvm, Native, Skip],
                        format!("GNU strip not used: {}", hazards.join("; ")),
                    )
                }
            }
        },
        Llvm => (vec![Llvm, Native, Skip], "asked for llvm".into()),
        Native => (vec![Native, Skip], "asked for native".into()),
        Gnu => (vec![Gnu, Native, Skip], "asked for gnu".into()),
        Skip => (vec![Skip], "asked for skip".into()),
    }
}

/// One module being stripped: everything the strategies share.
struct Job<'a> {
    /// As the user gave it (messages name it so).
    path: &'a Path,
    module: &'a ModuleFile,
    original: &'a Elf<'a>,
    /// What the replacement keeps: owner, mode, extended attributes.
    original_file: candidate::Original,
    meta: fs::Metadata,
    /// Where candidates are written: the output's directory, so the rename is atomic.
    dir: PathBuf,
    /// The target kernel's facts, when one was named (else the module's `.comment` decides).
    facts: Option<&'a KernelFacts>,
    expect: Expectations<'a>,
    req: &'a StripRequest,
    /// When the kept output reaches the disk.
    durability: Durability,
}

/// A proven output (none for skip) and the loader's findings on what will be left.
struct Kept {
    candidate: Option<Flushing>,
    findings: Vec<Finding>,
}

/// Strips one module. The target is replaced only by a proven output, atomically.
pub fn strip_file(
    path: &Path,
    req: &StripRequest,
    kernel: Option<&KernelTarget>,
) -> Result<StripRecord> {
    prepare(path, req, kernel, None)?.commit()
}

/// Files prepared before one flush pass: bounds the descriptors held open at once.
const BATCH: usize = 128;

/// Strips several modules in place with one flush per group of files instead of one `fsync`
/// each ([`candidate::flush_together`]): every output is written and proven, then all are
/// flushed, then each is renamed over its target, only after its own proof passed and its
/// own flush succeeded.
/// `done` hears of every file, in order; its error ends the run (the files not yet renamed
/// are left as they were).
pub fn strip_files(
    paths: &[PathBuf],
    req: &StripRequest,
    kernel: Option<&KernelTarget>,
    mut done: impl FnMut(&Path, Result<StripRecord>) -> Result<()>,
) -> Result<()> {
    if paths.len() < 2 || req.output.is_some() {
        for path in paths {
            done(path, strip_file(path, req, kernel))?;
        }
        return Ok(());
    }
    let mut swept = std::collections::HashSet::new();
    for group in paths.chunks(BATCH) {
        let flush_started = Instant::now();
        let mut prepared: Vec<Result<Prepared>> = group
            .iter()
            .map(|path| prepare(path, req, kernel, Some(&mut swept)))
            .collect();
        let flushing = Instant::now();
        let mut waiting: Vec<(usize, &mut Flushing)> = prepared
            .iter_mut()
            .enumerate()
            .filter_map(|(i, p)| Some((i, &mut p.as_mut().ok()?.pending.as_mut()?.0)))
            .collect();
        let mut files: Vec<&mut Flushing> = waiting.iter_mut().map(|(_, f)| &mut **f).collect();
        let flushed = candidate::flush_together(&mut files);
        let failed: Vec<(usize, Error)> = waiting
            .iter()
            .zip(flushed)
            .filter_map(|((i, _), r)| r.err().map(|e| (*i, e)))
            .collect();
        for (i, e) in failed {
            prepared[i] = Err(e);
        }
        debug!(
            "{} files written and proven in {:.1} ms, flushed in {:.1} ms",
            group.len(),
            (flushing - flush_started).as_secs_f64() * 1000.0,
            flushing.elapsed().as_secs_f64() * 1000.0
        );
        for (path, p) in group.iter().zip(prepared) {
            done(path, p.and_then(Prepared::commit))?;
        }
    }
    Ok(())
}

/// When the kept output must reach the disk: before its rename when it replaces the input
/// (one file flushed on its own, several in one pass), and for `-o` only with `--fsync`.
fn durability_for(req: &StripRequest, input: &fs::Metadata, batched: bool) -> Durability {
    use std::os::unix::fs::MetadataExt;
    let replaces_input = match &req.output {
        None => true,
        // `-o FILE FILE` (or a link to it) replaces the input all the same.
        Some(o) => fs::metadata(o).is_ok_and(|m| m.dev() == input.dev() && m.ino() == input.ino()),
    };
    match (replaces_input || req.fsync_output, batched) {
        (false, _) => Durability::None,
        (true, false) => Durability::Each,
        (true, true) => Durability::Batch,
    }
}

/// A proven output (or a module left as it was) waiting for its rename.
pub struct Prepared {
    record: StripRecord,
    pending: Option<(Flushing, PathBuf)>,
    /// The replaced input as it was read (replacing in place only).
    read_as: Option<FileIdentity>,
    started: Instant,
}

/// What tells that another program wrote a file: device, inode, size, modification time.
type FileIdentity = (u64, u64, u64, i64, i64);

fn identity(m: &fs::Metadata) -> FileIdentity {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec())
}

/// What was proven is a stripped copy of the target as it was read: if another program
/// wrote the target since (a concurrent build, a package update), replacing it would undo
/// that write, so nothing is replaced.
fn refuse_if_changed(path: &Path, read_as: FileIdentity) -> Result<()> {
    let now = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if identity(&now) == read_as {
        return Ok(());
    }
    Err(Error::Unreadable {
        path: path.to_path_buf(),
        reason: format!(
            "another program changed the file while it was being stripped ({} bytes, now {}); nothing was replaced",
            read_as.2,
            now.len()
        ),
    })
}

impl Prepared {
    /// Renames the output over its target (after its flush) and says what happened.
    fn commit(self) -> Result<StripRecord> {
        let mut record = self.record;
        if let Some((flushing, target)) = self.pending {
            let flush_started = Instant::now();
            if let Some(read_as) = self.read_as {
                refuse_if_changed(&record.path, read_as)?;
            }
            flushing.commit(&target)?;
            debug!(
                file = %record.path.display(),
                "on disk and renamed in {:.2} ms",
                flush_started.elapsed().as_secs_f64() * 1000.0
            );
        }
        record.elapsed_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        Ok(record)
    }
}

/// Writes and proves one module's output; nothing is renamed yet. `batch`: the caller
/// flushes a group of outputs together before committing each, and these directories have
/// been swept of dead runs' temporary files already.
fn prepare(
    path: &Path,
    req: &StripRequest,
    kernel: Option<&KernelTarget>,
    batch: Option<&mut std::collections::HashSet<PathBuf>>,
) -> Result<Prepared> {
    let started = Instant::now();
    // A symlink: strip the file it points to, keep the link.
    let output_path = match &req.output {
        Some(o) => o.clone(),
        None => fs::canonicalize(path).map_err(|e| Error::io(path, e))?,
    };
    let module = ModuleFile::open_with(path, crate::modfile::Access::Sparse)?;
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    refuse_hard_links(path, &meta, req)?;
    let meta_for_durability = meta.clone();
    let original_file = candidate::Original::read(path)?;
    if module.signature.is_some() && !req.allow_unsign {
        return Err(Error::SignedModule {
            path: path.to_path_buf(),
        });
    }
    let sha_before = match req.record_hashes {
        true => Some(candidate::sha256_file(path)?),
        false => None,
    };
    let original = module.elf_releasing()?;
    let facts = kernel.map(|k| &k.facts);
    let job = Job {
        path,
        module: &module,
        original: &original,
        original_file,
        meta,
        dir: output_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf(),
        facts,
        expect: Expectations::for_kernel(kernel),
        req,
        durability: durability_for(req, &meta_for_durability, batch.is_some()),
    };
    // Checked before anything is written: a temporary file there could not be removed.
    for (what, p) in [
        ("directory", job.dir.as_path()),
        ("file", output_path.as_path()),
    ] {
        if let Some(lock) = candidate::locked_by_attributes(p) {
            return Err(Error::StripFailed {
                path: path.to_path_buf(),
                reason: format!(
                    "the {what} {} is {lock}: it cannot be replaced",
                    p.display()
                ),
            });
        }
    }
    let sweep_here = match batch {
        Some(swept) => swept.insert(job.dir.clone()),
        None => true,
    };
    let swept = match sweep_here {
        true => crate::cleanup::sweep_stale(&job.dir),
        false => 0,
    };
    if swept > 0 {
        info!(dir = %job.dir.display(), "removed {swept} temporary files of killed dkwrap runs");
    }
    let (chain, why) = plan(req.strategy, &original, facts);
    let names: Vec<&str> = chain.iter().map(|s| s.name()).collect();
    info!(file = %path.display(), "strategies {}: {why}", names.join(", "));

    let mut attempts = Vec::new();
    // A full disk fails one strategy, not the run: the next may need less space (native
    // writes a stripped file where a tool first needs a plain copy of a compressed module).
    let mut no_space: Option<Error> = None;
    for strategy in chain {
        if strategy == Strategy::Skip && req.strategy != Strategy::Skip {
            if let Some(e) = no_space {
                return Err(Error::NoSpace {
                    path: path.to_path_buf(),
                    reason: e.detail(),
                });
            }
        }
        let (attempt, kept) = match job.attempt(strategy) {
            Ok(done) => done,
            Err(e) if e.exit_code() == crate::exit::NO_SPACE => {
                debug!(file = %path.display(), "{} rejected: {e}", strategy.name());
                attempts.push(Attempt {
                    strategy,
                    tool: None,
                    tool_version: None,
                    accepted: false,
                    reason: Some(e.detail()),
                });
                no_space = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        attempts.push(attempt);
        if let Some(kept) = kept {
            let (record, pending) = job.finish(kept, strategy, attempts, sha_before)?;
            debug!(
                file = %path.display(),
                "{} written and proven in {:.2} ms",
                strategy.name(),
                started.elapsed().as_secs_f64() * 1000.0
            );
            return Ok(Prepared {
                record,
                pending: pending.map(|f| (f, output_path)),
                read_as: req
                    .output
                    .as_deref()
                    .is_none_or(|o| o == path)
                    .then(|| identity(&job.meta)),
                started,
            });
        }
    }
    // Unreachable in practice: skip ends every chain and is always kept.
    Err(Error::StripFailed {
        path: path.to_path_buf(),
        reason: "no strategy produced an output".into(),
    })
}

/// A module with several hard links is refused: dkwrap replaces by rename, which would
/// leave the other links on the unstripped file, and writing through the shared inode
/// could leave it half written. With `-o` the input is only read.
fn refuse_hard_links(path: &Path, meta: &fs::Metadata, req: &StripRequest) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    if req.output.is_none() && meta.nlink() > 1 {
        return Err(Error::StripFailed {
            path: path.to_path_buf(),
            reason: format!(
                "has {} hard links; replacing it would split them (strip a copy with a \
                 single link, or write elsewhere with -o)",
                meta.nlink()
            ),
        });
    }
    Ok(())
}

impl Job<'_> {
    /// Tries one strategy: writes its candidate, then proves it. `Kept` when accepted.
    fn attempt(&self, strategy: Strategy) -> Result<(Attempt, Option<Kept>)> {
        let mut attempt = Attempt {
            strategy,
            tool: None,
            tool_version: None,
            accepted: false,
            reason: None,
        };
        if strategy == Strategy::Skip {
            attempt.accepted = true;
            attempt.reason = Some("module left unstripped".into());
            let findings = self.findings_on_original();
            let kept = Kept {
                candidate: None,
                findings,
            };
            return Ok((attempt, Some(kept)));
        }
        let candidate = match strategy {
            Strategy::Native => candidate::anonymous_temp_in(&self.dir)?,
            _ => candidate::temp_in(&self.dir)?,
        };
        let written = match strategy {
            Strategy::Native => self.write_native(&candidate, &mut attempt)?,
            _ => self.run_external(strategy, &candidate, &mut attempt)?,
        };
        // strip tools replace their -o file by rename: our open handle would name the old,
        // unlinked inode, and mode, owner and fsync would land on nothing.
        let candidate = match (strategy, &written) {
            (Strategy::Llvm | Strategy::Gnu, Ok(())) => candidate::reopen(candidate)?,
            _ => candidate,
        };
        if let Err(reason) = written {
            debug!(file = %self.path.display(), "{} rejected: {reason}", strategy.name());
            attempt.reason = Some(reason);
            return Ok((attempt, None));
        }
        // The disk writes the candidate while the proof reads it. A compressed module's
        // plain candidate never lands: only its recompressed copy is flushed.
        let durability = match self.module.compression {
            Some(_) => Durability::None,
            None => self.durability,
        };
        let candidate = candidate::start_flush(candidate, &self.original_file, durability)?;
        let verdict = candidate::map(&candidate.temp.path())
            .map_err(|e| format!("cannot read the output back: {e}"))
            .and_then(|bytes| self.prove(&bytes));
        match verdict {
            Ok(findings) => {
                attempt.accepted = true;
                let kept = Kept {
                    candidate: Some(candidate),
                    findings,
                };
                Ok((attempt, Some(kept)))
            }
            Err(reason) => {
                debug!(file = %self.path.display(), "{} rejected: {reason}", strategy.name());
                attempt.reason = Some(reason);
                Ok((attempt, None))
            }
        }
    }

    /// dkwrap's rewriter, streaming into the candidate. The outer error is a full disk.
    fn write_native(
        &self,
        candidate: &candidate::Temp,
        attempt: &mut Attempt,
    ) -> Result<std::result::Result<(), String>> {
        attempt.tool_version = Some(format!("dkwrap {}", env!("CARGO_PKG_VERSION")));
        let sink = candidate::WritebackAsWritten::new(candidate.as_file());
        let mut w = BufWriter::with_capacity(64 << 10, sink);
        let written = native::strip_debug(self.original, &mut w)
            .map_err(|e| format!("the rewriter refused: {e}"))
            .and_then(|_| w.flush().map_err(|e| format!("write failed: {e}")));
        if written.is_err() && w.get_ref().no_space {
            let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
            return Err(Error::io(candidate.path(), full));
        }
        Ok(written)
    }

    /// llvm-strip or GNU strip, writing the candidate. The outer error is dkwrap's own
    /// (cannot write a temporary file); the inner one rejects the tool.
    fn run_external(
        &self,
        strategy: Strategy,
        candidate: &candidate::Temp,
        attempt: &mut Attempt,
    ) -> Result<std::result::Result<(), String>> {
        let tool = if strategy == Strategy::Llvm {
            // The clang major whose llvm-strip to use: looked up only when it will run.
            let major = compiler_of(self.original, self.facts)
                .and_then(|(f, m)| (f == CompilerFamily::Clang).then_some(m).flatten());
            find_llvm_strip(major)
        } else {
            toolchain::find_gnu_strip(Arch::host())
        };
        let Some(tool_path) = tool.path.clone() else {
            let hint = tool.install_hint.as_deref().unwrap_or("install it");
            return Ok(Err(format!("{} not found ({hint})", tool.role)));
        };
        attempt.tool = Some(tool_path.clone());
        attempt.tool_version = tool.version.clone();
        // Every tool reads a private copy of the plain ELF image (a fresh one each time: a
        // tool may have written to the last one); the user's file is only read by dkwrap.
        let copy = if self.module.compression.is_some() || self.module.signature.is_some() {
            let mut t = candidate::temp_in(&self.dir)?;
            t.write_all(self.module.elf_bytes())
                .map_err(|e| Error::io(t.path(), e))?;
            t
        } else {
            candidate::private_copy(self.path, &self.dir)?
        };
        let ran = candidate::run_tool(&tool_path, &copy.path(), &candidate.path());
        // The copy goes now: the proof reads the original, and the disk may need the space.
        drop(copy);
        Ok(ran)
    }

    /// Proves `candidate` is a loadable module equal to the original minus debug
    /// information, and returns the loader's findings on it against the target kernel.
    /// Errors the original already had are not held against the candidate.
    fn prove(&self, candidate: &memmap2::Mmap) -> std::result::Result<Vec<Finding>, String> {
        // Safety: `candidate` is a read-only file mapping (its type says so).
        let elf = unsafe { Elf::parse_mapped(candidate) }
            .map_err(|e| format!("the output is not ELF: {e}"))?;
        let mut differences = Vec::new();
        crate::proof::check_equivalence(&elf, self.original, false, &mut differences);
        let errors: Vec<&Finding> = differences.iter().filter(|f| f.is_error()).collect();
        if let Some(first) = errors.first() {
            let n = errors.len();
            let s = if n == 1 { "" } else { "s" };
            return Err(format!(
                "the proof failed ({n} difference{s}): {}",
                first.message
            ));
        }
        let mut findings = Vec::new();
        verify::check_module(&elf, None, &self.expect, &mut findings);
        if self.req.cross_check {
            verify::cross_check_with_goblin(&elf, &mut findings);
        }
        let invalid = |v: &[Finding]| -> Vec<String> {
            v.iter()
                .filter(|f| f.is_error() && f.category == Category::Invalid)
                .map(|f| f.message.clone())
                .collect()
        };
        let new_errors = invalid(&findings);
        if !new_errors.is_empty() {
            let mut before = Vec::new();
            verify::check_module(self.original, None, &self.expect, &mut before);
            let old_errors = invalid(&before);
            if let Some(e) = new_errors.iter().find(|e| !old_errors.contains(e)) {
                return Err(format!("the output is not a valid module: {e}"));
            }
        }
        Ok(findings)
    }

    /// The loader's findings on the module left as it is (skip).
    fn findings_on_original(&self) -> Vec<Finding> {
        let mut findings = Vec::new();
        let signature = self.module.signature.as_ref();
        verify::check_module(self.original, signature, &self.expect, &mut findings);
        if self.req.cross_check {
            verify::cross_check_with_goblin(self.original, &mut findings);
        }
        findings
    }

    /// Readies the kept output (recompressed like the input) for its rename, and says what
    /// happened.
    fn finish(
        &self,
        kept: Kept,
        strategy: Strategy,
        attempts: Vec<Attempt>,
        sha_before: Option<String>,
    ) -> Result<(StripRecord, Option<Flushing>)> {
        let accepted = attempts.last();
        let mut record = StripRecord {
            path: self.path.to_path_buf(),
            output: self
                .req
                .output
                .clone()
                .unwrap_or_else(|| self.path.to_path_buf()),
            sha256_before: sha_before.clone(),
            sha256_after: sha_before,
            size_before: self.meta.len(),
            size_after: self.meta.len(),
            strategy,
            tool: accepted.and_then(|a| a.tool.clone()),
            tool_version: accepted.and_then(|a| a.tool_version.clone()),
            compression: self.module.compression.map(|c| c.name().to_string()),
            attempts,
            signature_dropped: false,
            elapsed_ms: 0.0,
            findings: kept.findings,
        };
        let Some(candidate) = kept.candidate else {
            // skip: the target stays as it is; with -o, the output is a copy of the input.
            if self.req.output.is_some() {
                let t = candidate::anonymous_temp_in(&self.dir)?;
                fs::copy(self.path, t.path()).map_err(|e| Error::io(t.path(), e))?;
                let copy = candidate::start_flush(t, &self.original_file, self.durability)?;
                return Ok((record, Some(copy)));
            }
            return Ok((record, None));
        };
        let final_file = self.recompressed(candidate)?;
        let final_path = &final_file.temp.path();
        if self.req.record_hashes {
            record.sha256_after = Some(candidate::sha256_file(final_path)?);
        }
        let written = final_file.temp.as_file().metadata();
        record.size_after = written.map_err(|e| Error::io(final_path, e))?.len();
        record.signature_dropped = self.module.signature.is_some();
        Ok((record, Some(final_file)))
    }

    /// The proven candidate in the input's compression; the bytes that land must decompress
    /// to exactly what was proven.
    fn recompressed(&self, candidate: Flushing) -> Result<Flushing> {
        let output_path = self.req.output.as_deref().unwrap_or(self.path);
        let Some(c) = self.module.compression else {
            return Ok(candidate);
        };
        let plain = candidate::map(&candidate.temp.path())
            .map_err(|e| Error::io(candidate.temp.path(), e))?;
        let packed = c.compress(&plain).map_err(|e| Error::io(output_path, e))?;
        let back = c
            .decompress(&packed)
            .map_err(|e| Error::io(output_path, e))?;
        if back[..] != plain[..] {
            return Err(Error::StripFailed {
                path: self.path.to_path_buf(),
                reason: format!("the {} round trip changed the module", c.name()),
            });
        }
        let mut t = candidate::anonymous_temp_in(&self.dir)?;
        t.write_all(&packed).map_err(|e| Error::io(t.path(), e))?;
        // The plain candidate is dropped unused (its flush, if still running, ends on a
        // deleted file).
        candidate::start_flush(t, &self.original_file, self.durability)
    }
}
