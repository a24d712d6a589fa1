//! `dkwrap explain`: for the developer staring at `BFD … assertion fail elf.c:4131`.
//!
//! Inputs are logs and modules in any order, told apart by content (ELF or compressed ELF is
//! a module, text is a log). Modules are read first ([`module`]), so that a log's
//! `invalid entry (0x5) in group [15]` can be resolved to the group it names; logs are read
//! with the shared recogniser ([`log`], `crate::diagnose`); with `try_tools` every strip tool
//! found runs on a temporary copy of each module and each output is proven ([`trial`]).
//! The stage returns an [`Explanation`]; [`render`] turns it into text, `--json` prints it.

pub mod log;
pub mod module;
pub mod render;
pub mod trial;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::elf;
use crate::error::{Error, Result};
use crate::kconfig::Arch;
use crate::modfile::{Compression, ModuleFile};

/// One input: a file, or the bytes read from standard input.
#[derive(Debug, Clone)]
pub enum Source {
    Path(PathBuf),
    Stdin(Vec<u8>),
}

impl Source {
    fn display(&self) -> String {
        match self {
            Source::Path(p) => p.display().to_string(),
            Source::Stdin(_) => "-".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExplainOptions {
    /// Run every strip tool found on a copy of each module.
    pub try_tools: bool,
    /// Strip tools to try besides the ones found.
    pub extra_tools: Vec<PathBuf>,
    /// Time limit for each tool run.
    pub tool_timeout: Duration,
}

/// What an input was taken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    Log,
    Module,
}

/// One input, in the order given: what it was taken for, or why it could not be read.
#[derive(Debug)]
pub struct InputOutcome {
    /// The path as given, or `-`.
    pub input: String,
    pub kind: Option<InputKind>,
    pub error: Option<Error>,
}

/// Everything `explain` found: every input's outcome, and the reports of those it could
/// read, in input order within each kind.
#[derive(Debug, Serialize)]
pub struct Explanation {
    #[serde(skip)]
    pub inputs: Vec<InputOutcome>,
    pub logs: Vec<log::LogReport>,
    pub modules: Vec<module::ModuleReport>,
}

/// What an input turned out to be.
enum Kind {
    Module(ModuleFile),
    Log(String),
}

/// How many leading bytes decide whether an input is text.
const SNIFF_LEN: usize = 64 << 10;

fn classify(source: &Source, temp: &tempfile::TempDir, ordinal: usize) -> Result<Kind> {
    let name = source.display();
    let bytes: std::borrow::Cow<[u8]> = match source {
        Source::Path(p) => {
            if p.is_dir() {
                return Err(Error::Unreadable {
                    path: p.clone(),
                    reason: "is a directory".into(),
                });
            }
            let head = read_head(p)?;
            if is_module_bytes(&head) {
                return Ok(Kind::Module(ModuleFile::open(p)?));
            }
            std::fs::read(p).map_err(|e| Error::io(p, e))?.into()
        }
        Source::Stdin(b) => {
            if is_module_bytes(b) {
                // ModuleFile reads files: give it one, in our private directory.
                let path = temp.path().join(format!("stdin-{ordinal}.ko"));
                std::fs::write(&path, b).map_err(|e| Error::io(&path, e))?;
                return Ok(Kind::Module(ModuleFile::open(&path)?));
            }
            b.as_slice().into()
        }
    };
    let head = &bytes[..bytes.len().min(SNIFF_LEN)];
    if elf::is_bitcode(head) {
        return Err(Error::NotElf {
            path: PathBuf::from(&name),
            reason: "LLVM bitcode (an unlinked ThinLTO object), neither a module nor a log".into(),
        });
    }
    if looks_binary(head) {
        return Err(Error::Unreadable {
            path: PathBuf::from(&name),
            reason: "binary data that is neither a kernel module nor a text log".into(),
        });
    }
    Ok(Kind::Log(text_without_nul_runs(&bytes)))
}

/// Control characters other than whitespace and ESC (colour codes) in the bytes that are not
/// NUL: more than one in twenty is binary data. NULs alone do not count: a log written while the
/// machine hung ends in blocks of NULs after the reboot.
fn looks_binary(head: &[u8]) -> bool {
    let (mut seen, mut control) = (0usize, 0usize);
    for &b in head.iter().filter(|&&b| b != 0) {
        seen += 1;
        if b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0x1b) {
            control += 1;
        }
    }
    seen == 0 && !head.is_empty() || control * 20 > seen
}

/// The log as text, each run of NULs read as a line break.
fn text_without_nul_runs(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if !text.contains('\0') {
        return text.into_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut in_run = false;
    for c in text.chars() {
        if c == '\0' {
            if !in_run && !out.ends_with('\n') {
                out.push('\n');
            }
            in_run = true;
        } else {
            out.push(c);
            in_run = false;
        }
    }
    out
}

fn read_head(p: &std::path::Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut f = std::fs::File::open(p).map_err(|e| Error::io(p, e))?;
    let mut head = vec![0u8; 8];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]).map_err(|e| Error::io(p, e))? {
            0 => break,
            k => n += k,
        }
    }
    head.truncate(n);
    Ok(head)
}

fn is_module_bytes(b: &[u8]) -> bool {
    b.starts_with(b"\x7fELF") || Compression::sniff(b).is_some()
}

/// Reads every input and explains it. An input that cannot be read is recorded in
/// [`Explanation::inputs`] and the others are still explained; the only error is a private
/// temporary directory that cannot be made.
pub fn explain(sources: &[Source], opts: &ExplainOptions) -> Result<Explanation> {
    let temp = tempfile::Builder::new()
        .prefix("dkwrap-explain-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let mut inputs = Vec::new();
    let mut modules = Vec::new();
    let mut logs = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        let input = s.display();
        let outcome = match classify(s, &temp, i) {
            Ok(Kind::Module(file)) => read_module(&file, &input, &temp, i, opts)
                .map(|report| modules.push(report))
                .map(|()| InputKind::Module),
            Ok(Kind::Log(text)) => {
                logs.push((input.clone(), text));
                Ok(InputKind::Log)
            }
            Err(e) => Err(e),
        };
        let (kind, error) = match outcome {
            Ok(k) => (Some(k), None),
            Err(e) => (None, Some(e)),
        };
        inputs.push(InputOutcome { input, kind, error });
    }
    // Logs last: their group numbers are resolved in the modules.
    let logs = logs
        .iter()
        .map(|(name, text)| log::analyse(name, text, &modules))
        .collect();
    Ok(Explanation {
        inputs,
        logs,
        modules,
    })
}

/// One module's report, with the tools' trials when asked for.
fn read_module(
    file: &ModuleFile,
    name: &str,
    temp: &tempfile::TempDir,
    ordinal: usize,
    opts: &ExplainOptions,
) -> Result<module::ModuleReport> {
    let mut report = module::analyse(file, name)?;
    if opts.try_tools {
        report.trials = try_tools(file, name, temp, ordinal, opts)?;
    }
    Ok(report)
}

/// Runs every tool on copies of one module, in a directory of its own under `temp`.
fn try_tools(
    file: &ModuleFile,
    name: &str,
    temp: &tempfile::TempDir,
    ordinal: usize,
    opts: &ExplainOptions,
) -> Result<Vec<trial::Trial>> {
    let original = file.elf()?;
    let dir = temp.path().join(format!("module-{ordinal}"));
    std::fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
    // The copy keeps the module's file name (without compression suffix), so that the
    // tools' messages name it as a user's build would.
    let base = name.rsplit('/').next().unwrap_or(name);
    let input_name = match base.split_once(".ko") {
        Some((stem, _)) if !stem.is_empty() && stem != "-" => format!("{stem}.ko"),
        _ => "module.ko".to_string(),
    };
    let arch = Arch::from_elf_machine(original.machine());
    let tools = trial::find_tools(arch, &opts.extra_tools);
    let ws = trial::Workspace {
        dir: &dir,
        input_name: &input_name,
        elf_bytes: file.elf_bytes(),
        original: &original,
        limit: opts.tool_timeout,
    };
    Ok(tools
        .iter()
        .enumerate()
        .map(|(i, t)| trial::run_one(t, &ws, i))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_ending_in_nul_blocks_is_still_a_log() {
        let mut log = b"strip: BFD (GNU Binutils) 2.42.0 assertion fail elf.c:4131\n".to_vec();
        log.extend(std::iter::repeat_n(0u8, 4096));
        assert!(!looks_binary(&log));
        assert_eq!(text_without_nul_runs(&log).lines().count(), 1);
    }

    #[test]
    fn binary_data_and_all_nul_files_are_not_logs() {
        assert!(looks_binary(&[0u8; 512]));
        let junk: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        assert!(looks_binary(&junk));
        assert!(!looks_binary(
            b"plain text\twith tabs\n\x1b[31mcolour\x1b[0m\n"
        ));
        assert!(!looks_binary(b""));
    }
}
