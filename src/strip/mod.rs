//! `dkwrap strip`: a drop-in for `strip -g` that never replaces a module with something
//! unverified.
//!
//! For each file: peel compression and signature ([`ModuleFile`]), choose a chain of
//! strategies (auto: llvm-strip for clang kernels, GNU strip for GCC kernels unless the
//! module has a layout GNU strip corrupts), and for each strategy in turn write a candidate
//! into a temporary file beside the target, reject it if the tool failed or complained, and
//! prove it equal to the input minus debug information ([`crate::verify`]). The first proven
//! candidate is recompressed if needed and renamed over the target, keeping its mode and
//! owner. `skip` (leave the module as it is) ends every chain, so the only failures are
//! files that cannot be read or written.

pub mod dropin;
pub mod native;

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::cli::{Strategy, StripArgs};
use crate::elf::{self, Elf};
use crate::error::{exit, Error, Result};
use crate::kconfig::{Arch, CompilerFamily, KernelFacts};
use crate::modfile::ModuleFile;
use crate::toolchain::{self, Tool};
use crate::verify::{self, Category, Severity};

/// What `strip_file` needs to know besides the file.
#[derive(Debug, Clone)]
pub struct StripOptions {
    pub strategy: Strategy,
    /// The target kernel, when given; otherwise the module's own `.comment` decides.
    pub facts: Option<KernelFacts>,
    pub allow_unsign: bool,
    /// Write here instead of replacing the input.
    pub output: Option<PathBuf>,
    /// Compute sha256 before and after (for --manifest and --json; costs a read of both files).
    pub record_hashes: bool,
}

/// One strategy tried on one file.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub strategy: Strategy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_version: Option<String>,
    pub accepted: bool,
    /// Why it was rejected (or skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The manifest record for one file.
#[derive(Debug, Clone, Serialize)]
pub struct StripRecord {
    pub path: PathBuf,
    pub output: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256_before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256_after: Option<String>,
    pub size_before: u64,
    pub size_after: u64,
    /// The strategy whose output was kept.
    pub strategy: Strategy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_version: Option<String>,
    /// Every strategy tried, in order, with why the rejected ones were rejected.
    pub attempts: Vec<Attempt>,
    pub compression: Option<String>,
    /// The input carried a signature, which stripping dropped.
    pub signature_dropped: bool,
    pub elapsed_ms: f64,
}

/// Stderr text that means a binutils/elfutils tool went wrong even when it exited 0.
const TOOL_FAILURE_MARKERS: &[&str] = &[
    "assertion fail",
    "invalid entry",
    "illformed",
    "file format not recognized",
    "BFD",
];

/// Layouts GNU strip corrupts or refuses: why auto will not hand this module to it.
pub fn gnu_strip_hazards(elf: &Elf) -> Vec<String> {
    let mut hazards = Vec::new();
    if Arch::from_elf_machine(elf.machine()) != Arch::host() {
        hazards.push(format!(
            "module is for {}, the host GNU strip reads only {}",
            elf::machine_name(elf.machine()),
            std::env::consts::ARCH
        ));
    }
    let mut targets: Vec<u32> = elf
        .sections
        .iter()
        .filter(|s| s.is_reloc())
        .map(|s| s.info)
        .collect();
    targets.sort_unstable();
    if targets.windows(2).any(|w| w[0] == w[1]) {
        hazards.push("several relocation sections apply to one section".into());
    }
    let mut members: Vec<u32> = Vec::new();
    for g in elf.sections.iter().filter(|s| s.sh_type == elf::SHT_GROUP) {
        if let Ok((_, m)) = elf.group(g) {
            members.extend(m);
        }
    }
    members.sort_unstable();
    if members.windows(2).any(|w| w[0] == w[1]) {
        hazards.push("a section belongs to several section groups".into());
    }
    if elf.sections.iter().any(|s| {
        s.flags & elf::SHF_GROUP != 0 && matches!(s.name(), b".data" | b".bss" | b".rodata")
    }) {
        hazards.push("SHF_GROUP on .data/.bss/.rodata (merged by the module linker script)".into());
    }
    if elf.extended_numbering {
        hazards.push("extended section numbering (more than 65279 sections)".into());
    }
    hazards
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
            let path = toolchain::which_all_but_dkwrap("llvm-strip")
                .into_iter()
                .next();
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

/// sha256 of a file, read in chunks (a mapping would count the whole file in our RSS).
fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// A fresh handle on the file now at a temporary file's path (see the strip-tool note above).
fn reopen(temp: tempfile::NamedTempFile) -> Result<tempfile::NamedTempFile> {
    let (_, path) = temp.into_parts();
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    Ok(tempfile::NamedTempFile::from_parts(file, path))
}

/// Maps a file we just wrote, read-only.
fn map(path: &Path) -> std::io::Result<memmap2::Mmap> {
    let f = File::open(path)?;
    // Safety: the file is our own temporary file, which nothing else writes.
    unsafe { memmap2::Mmap::map(&f) }
}

/// Runs an external strip tool on `input`, writing `output`. Never through a shell.
fn run_tool(tool: &Path, input: &Path, output: &Path) -> std::result::Result<(), String> {
    let out = duct::cmd(
        tool,
        [
            Path::new("-g").as_os_str(),
            Path::new("-o").as_os_str(),
            output.as_os_str(),
            input.as_os_str(),
        ],
    )
    .stdout_capture()
    .stderr_capture()
    .unchecked()
    .run()
    .map_err(|e| format!("cannot run {}: {e}", tool.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let complaint = TOOL_FAILURE_MARKERS
        .iter()
        .find(|m| stderr.contains(*m) || stdout.contains(*m));
    let first_line = stderr.lines().next().unwrap_or("").trim().to_string();
    if !out.status.success() {
        return Err(format!(
            "{} exited with {}: {first_line}",
            tool.display(),
            out.status
        ));
    }
    if let Some(m) = complaint {
        let count = stderr.matches(m).count();
        return Err(format!(
            "{} exited 0 but printed {m:?} ({count}x): {first_line}",
            tool.display()
        ));
    }
    Ok(())
}

/// Proves `candidate` is a loadable module equal to `original` minus debug information.
/// Errors the original already had are not held against the candidate.
fn prove(
    candidate: &memmap2::Mmap,
    original: &Elf,
    debug_may_remain: bool,
) -> std::result::Result<(), String> {
    // Safety: `candidate` is a read-only file mapping (its type says so).
    let elf =
        unsafe { Elf::parse_mapped(candidate) }.map_err(|e| format!("output is not ELF: {e}"))?;
    let mut findings = Vec::new();
    verify::check_equivalence(&elf, original, debug_may_remain, &mut findings);
    if let Some(f) = findings.iter().find(|f| f.severity == Severity::Error) {
        let n = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        return Err(format!("proof failed ({n} differences): {}", f.message));
    }
    let structural = |e: &Elf| {
        let mut v = Vec::new();
        verify::check_module(e, None, &verify::Target::default(), &mut v);
        v.into_iter()
            .filter(|f| f.severity == Severity::Error && f.category == Category::Invalid)
            .map(|f| f.message)
            .collect::<Vec<_>>()
    };
    let new_errors = structural(&elf);
    if !new_errors.is_empty() {
        let old_errors = structural(original);
        if let Some(e) = new_errors.iter().find(|e| !old_errors.contains(e)) {
            return Err(format!("output is not a valid module: {e}"));
        }
    }
    Ok(())
}

/// Creates a temporary file in `dir` (same filesystem, so the final rename is atomic).
fn temp_in(dir: &Path) -> Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".dkwrap-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::StripFailed {
            path: dir.to_path_buf(),
            reason: format!("cannot create a temporary file in {}: {e}", dir.display()),
        })
}

/// Strips one module. The target is replaced only by a proven output, atomically.
pub fn strip_file(path: &Path, opts: &StripOptions) -> Result<StripRecord> {
    let started = Instant::now();
    // A symlink: strip the file it points to, keep the link.
    let real = fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
    let output_path = match &opts.output {
        Some(o) => o.clone(),
        None => real.clone(),
    };
    let module = ModuleFile::open(&real)?;
    let meta = fs::metadata(&real).map_err(|e| Error::io(&real, e))?;
    if module.signature.is_some() && !opts.allow_unsign {
        return Err(Error::SignedModule {
            path: path.to_path_buf(),
        });
    }
    let sha_before = if opts.record_hashes {
        Some(sha256_file(&real)?)
    } else {
        None
    };
    let original = module.elf_releasing()?;
    let dir = output_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();

    let (chain, why) = plan(opts.strategy, &original, opts.facts.as_ref());
    info!(file = %path.display(), "strategy chain {:?}: {why}", chain);
    let major = compiler_of(&original, opts.facts.as_ref())
        .and_then(|(f, m)| (f == CompilerFamily::Clang).then_some(m).flatten());

    // External tools read a plain ELF file: the input itself when it is one, else a copy.
    let needs_plain_copy = module.compression.is_some() || module.signature.is_some();
    let mut plain_input: Option<tempfile::NamedTempFile> = None;

    let mut attempts: Vec<Attempt> = Vec::new();
    // The accepted strategy and its proven candidate (None for skip).
    let mut accepted: Option<(Strategy, Option<Flushing>)> = None;
    for strategy in chain {
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
            attempts.push(attempt);
            accepted = Some((strategy, None));
            break;
        }
        let mut candidate = temp_in(&dir)?;
        let produced: std::result::Result<(), String> = match strategy {
            Strategy::Native => {
                attempt.tool_version = Some(format!("dkwrap {}", env!("CARGO_PKG_VERSION")));
                let mut w = BufWriter::with_capacity(
                    64 << 10,
                    WritebackAsWritten {
                        file: candidate.as_file(),
                        written: 0,
                        started: 0,
                    },
                );
                native::strip_debug(&original, &mut w)
                    .map(|_| ())
                    .map_err(|e| format!("native rewriter refused: {e}"))
                    .and_then(|_| w.flush().map_err(|e| format!("write failed: {e}")))
            }
            Strategy::Llvm | Strategy::Gnu => {
                let tool = if strategy == Strategy::Llvm {
                    find_llvm_strip(major)
                } else {
                    toolchain::find_gnu_strip(Arch::host())
                };
                match tool.path.clone() {
                    None => Err(format!(
                        "{} not found ({})",
                        tool.role,
                        tool.install_hint.as_deref().unwrap_or("install it")
                    )),
                    Some(tool_path) => {
                        attempt.tool = Some(tool_path.clone());
                        attempt.tool_version = tool.version.clone();
                        let input = if needs_plain_copy {
                            if plain_input.is_none() {
                                let mut t = temp_in(&dir)?;
                                t.write_all(module.elf_bytes())
                                    .map_err(|e| Error::io(t.path(), e))?;
                                plain_input = Some(t);
                            }
                            plain_input
                                .as_ref()
                                .map(|t| t.path().to_path_buf())
                                .unwrap_or_default()
                        } else {
                            real.clone()
                        };
                        run_tool(&tool_path, &input, candidate.path())
                    }
                }
            }
            Strategy::Auto | Strategy::Skip => Ok(()),
        };
        // strip tools replace their -o file by rename: our open handle would name the old,
        // unlinked inode, and mode, owner and fsync would land on nothing.
        if matches!(strategy, Strategy::Llvm | Strategy::Gnu) && produced.is_ok() {
            candidate = reopen(candidate)?;
        }
        if let Err(reason) = produced {
            warn!(file = %path.display(), "{strategy:?} rejected: {reason}");
            attempt.reason = Some(reason);
            attempts.push(attempt);
            continue;
        }
        // The disk writes the candidate while the proof reads it.
        let candidate = start_flush(candidate, &meta)?;
        let verdict = map(candidate.temp.path())
            .map_err(|e| format!("cannot read the output back: {e}"))
            .and_then(|bytes| prove(&bytes, &original, false));
        match verdict {
            Ok(()) => {
                attempt.accepted = true;
                attempts.push(attempt);
                accepted = Some((strategy, Some(candidate)));
                break;
            }
            Err(reason) => {
                warn!(file = %path.display(), "{strategy:?} rejected: {reason}");
                attempt.reason = Some(reason);
                attempts.push(attempt);
            }
        }
    }
    let Some((strategy, candidate)) = accepted else {
        return Err(Error::StripFailed {
            path: path.to_path_buf(),
            reason: "no strategy produced an output".into(),
        });
    };

    let mut record = StripRecord {
        path: path.to_path_buf(),
        output: output_path.clone(),
        sha256_before: sha_before.clone(),
        sha256_after: sha_before,
        size_before: meta.len(),
        size_after: meta.len(),
        strategy,
        tool: attempts.last().and_then(|a| a.tool.clone()),
        tool_version: attempts.last().and_then(|a| a.tool_version.clone()),
        attempts,
        compression: module.compression.map(|c| c.name().to_string()),
        signature_dropped: false,
        elapsed_ms: 0.0,
    };

    match candidate {
        None => {
            // skip: the target stays as it is; with -o, the output is a copy of the input.
            if opts.output.is_some() {
                let t = temp_in(&dir)?;
                fs::copy(&real, t.path()).map_err(|e| Error::io(t.path(), e))?;
                start_flush(t, &meta)?.commit(&output_path)?;
            }
        }
        Some(candidate) => {
            let final_file = match module.compression {
                None => candidate,
                Some(c) => {
                    let plain = map(candidate.temp.path())
                        .map_err(|e| Error::io(candidate.temp.path(), e))?;
                    let packed = c.compress(&plain).map_err(|e| Error::io(&output_path, e))?;
                    // The bytes that land must decompress to exactly what was proven.
                    let back = c
                        .decompress(&packed)
                        .map_err(|e| Error::io(&output_path, e))?;
                    if back[..] != plain[..] {
                        return Err(Error::StripFailed {
                            path: path.to_path_buf(),
                            reason: format!("{} round trip changed the module", c.name()),
                        });
                    }
                    let t = temp_in(&dir)?;
                    fs::write(t.path(), &packed).map_err(|e| Error::io(t.path(), e))?;
                    // The plain candidate is dropped unused (its flush, if still running,
                    // ends on a deleted file).
                    start_flush(t, &meta)?
                }
            };
            let final_path = final_file.temp.path();
            if opts.record_hashes {
                record.sha256_after = Some(sha256_file(final_path)?);
            }
            record.size_after = final_file
                .temp
                .as_file()
                .metadata()
                .map_err(|e| Error::io(final_path, e))?
                .len();
            record.signature_dropped = module.signature.is_some();
            final_file.commit(&output_path)?;
        }
    }
    record.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(record)
}

/// Writes a file and starts the disk's writeback of each megabyte once it is written, so
/// that the flush before the rename finds most of the file on its way already.
struct WritebackAsWritten<'f> {
    file: &'f File,
    written: u64,
    /// Bytes whose writeback has been started.
    started: u64,
}

impl Write for WritebackAsWritten<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = (&*self.file).write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= 1 << 20 {
            use std::os::fd::AsRawFd;
            // Safety: a valid descriptor and range; SYNC_FILE_RANGE_WRITE only starts
            // writeback. It is a hint: an error leaves the final fsync to do the work.
            unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    self.started as libc::off64_t,
                    (self.written - self.started) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
            self.started = self.written;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A temporary file on its way to replacing the target: it has the original's mode and
/// owner, and is being flushed to disk on another thread.
struct Flushing {
    temp: tempfile::NamedTempFile,
    flush: std::thread::JoinHandle<std::io::Result<()>>,
}

/// Gives the temporary file the original's mode and owner and starts flushing it to disk,
/// so that the disk works while the proof reads the file.
fn start_flush(temp: tempfile::NamedTempFile, original: &fs::Metadata) -> Result<Flushing> {
    let file: &File = temp.as_file();
    file.set_permissions(fs::Permissions::from_mode(original.mode() & 0o7777))
        .map_err(|e| Error::io(temp.path(), e))?;
    // Ownership: only root can give a file away; as another user the file is already ours.
    if let Err(e) = std::os::unix::fs::fchown(file, Some(original.uid()), Some(original.gid())) {
        if e.kind() != std::io::ErrorKind::PermissionDenied {
            return Err(Error::io(temp.path(), e));
        }
    }
    let handle = file.try_clone().map_err(|e| Error::io(temp.path(), e))?;
    let flush = std::thread::spawn(move || handle.sync_all());
    Ok(Flushing { temp, flush })
}

impl Flushing {
    /// Waits until the file is on disk, then renames it over the target.
    fn commit(self, target: &Path) -> Result<()> {
        let flushed = self
            .flush
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the flushing thread panicked")));
        flushed.map_err(|e| Error::io(self.temp.path(), e))?;
        self.temp.persist(target).map_err(|e| Error::StripFailed {
            path: target.to_path_buf(),
            reason: format!("cannot replace the target: {}", e.error),
        })?;
        Ok(())
    }
}

pub fn run(args: &StripArgs) -> Result<i32> {
    if args.output.is_some() && args.files.len() > 1 {
        return Err(Error::Usage("-o takes exactly one input file".into()));
    }
    let facts = if args.kernel.given() {
        Some(crate::detect::detect(&args.kernel.selector())?.0)
    } else {
        None
    };
    let resign = args.resign.then(|| resign_setup(args));
    let opts = StripOptions {
        strategy: args.strategy,
        facts,
        allow_unsign: args.allow_unsign,
        output: args.output.clone(),
        record_hashes: args.json || args.manifest.is_some(),
    };
    let mut records = Vec::new();
    let mut worst = exit::OK;
    for file in &args.files {
        let result = match &resign {
            None => strip_file(file, &opts),
            Some(how) => crate::sign::strip_and_resign(file, &opts, how).map(|(rec, hash)| {
                match hash {
                    Some(h) => eprintln!(
                        "dkwrap: {}: signed again ({h}, {}) and the signature checked",
                        crate::output::escape(&rec.output.display().to_string()),
                        crate::output::escape(&how.cert.display().to_string())
                    ),
                    None => eprintln!(
                        "dkwrap: {}: was not signed, so not signed again",
                        crate::output::escape(&file.display().to_string())
                    ),
                }
                rec
            }),
        };
        match result {
            Ok(rec) => {
                report(&rec);
                if let Some(m) = &args.manifest {
                    append_manifest(m, &rec)?;
                }
                records.push(rec);
            }
            Err(e) => {
                eprintln!("dkwrap: error: {}", crate::output::escape(&e.to_string()));
                if let Error::SignedModule { .. } = e {
                    eprintln!("dkwrap: hint: re-sign after stripping: <kernel build dir>/scripts/sign-file sha512 <signing key> <certificate> {}", crate::output::escape(&file.display().to_string()));
                }
                worst = worst.max(e.exit_code());
            }
        }
    }
    if args.json {
        crate::output::print_json(&records)?;
    }
    Ok(worst)
}

/// Where `--resign` finds sign-file, the key and the certificate.
fn resign_setup(args: &StripArgs) -> crate::sign::Resign {
    let sign_file = args.sign_file.clone().unwrap_or_else(|| {
        args.kernel
            .selector()
            .build_dir()
            .unwrap_or_default()
            .join("scripts/sign-file")
    });
    crate::sign::Resign {
        sign_file,
        key: args
            .sign_key
            .clone()
            .unwrap_or_else(|| PathBuf::from(crate::sign::DKMS_MOK_KEY)),
        cert: args
            .sign_cert
            .clone()
            .unwrap_or_else(|| PathBuf::from(crate::sign::DKMS_MOK_CERT)),
    }
}

pub(crate) fn report(r: &StripRecord) {
    let esc = |p: &Path| crate::output::escape(&p.display().to_string());
    for a in r.attempts.iter().filter(|a| !a.accepted) {
        eprintln!(
            "dkwrap: {}: {:?} rejected: {}",
            esc(&r.path),
            a.strategy,
            crate::output::escape(a.reason.as_deref().unwrap_or(""))
        );
    }
    if r.strategy == Strategy::Skip {
        eprintln!("dkwrap: {}: left unstripped", esc(&r.path));
    } else {
        eprintln!(
            "dkwrap: {}: stripped with {} ({} -> {} bytes), proven equivalent",
            esc(&r.path),
            r.tool
                .as_deref()
                .map(|t| t.display().to_string())
                .unwrap_or_else(|| "native rewriter".into()),
            r.size_before,
            r.size_after
        );
    }
    if r.signature_dropped {
        eprintln!(
            "dkwrap: {}: signature dropped; re-sign with <kernel build dir>/scripts/sign-file",
            esc(&r.path)
        );
    }
}

fn append_manifest(path: &Path, rec: &StripRecord) -> Result<()> {
    let line = serde_json::to_string(rec)
        .map_err(|e| Error::Usage(format!("cannot encode manifest record: {e}")))?;
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    writeln!(f, "{line}").map_err(|e| Error::io(path, e))
}
