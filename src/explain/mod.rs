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
pub mod run;
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

/// Everything `explain` found, in input order within each kind.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
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
    let bytes: Vec<u8> = match source {
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
            std::fs::read(p).map_err(|e| Error::io(p, e))?
        }
        Source::Stdin(b) => {
            if is_module_bytes(b) {
                // ModuleFile reads files: give it one, in our private directory.
                let path = temp.path().join(format!("stdin-{ordinal}.ko"));
                std::fs::write(&path, b).map_err(|e| Error::io(&path, e))?;
                return Ok(Kind::Module(ModuleFile::open(&path)?));
            }
            b.clone()
        }
    };
    let head = &bytes[..bytes.len().min(SNIFF_LEN)];
    if elf::is_bitcode(head) {
        return Err(Error::NotElf {
            path: PathBuf::from(&name),
            reason: "LLVM bitcode (an unlinked ThinLTO object), neither a module nor a log".into(),
        });
    }
    if head.contains(&0) {
        return Err(Error::Unreadable {
            path: PathBuf::from(&name),
            reason: "binary data that is neither a kernel module nor a text log".into(),
        });
    }
    Ok(Kind::Log(String::from_utf8_lossy(&bytes).into_owned()))
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

/// Reads every input and explains it. Errors only for an input that cannot be read.
pub fn explain(sources: &[Source], opts: &ExplainOptions) -> Result<Explanation> {
    let temp = tempfile::Builder::new()
        .prefix("dkwrap-explain-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let mut modules = Vec::new();
    let mut logs = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        match classify(s, &temp, i)? {
            Kind::Module(m) => modules.push((s.display(), m)),
            Kind::Log(text) => logs.push((s.display(), text)),
        }
    }
    let mut module_reports = Vec::new();
    for (i, (name, file)) in modules.iter().enumerate() {
        let mut report = module::analyse(file, name)?;
        if opts.try_tools {
            report.trials = try_tools(file, name, &temp, i, opts)?;
        }
        module_reports.push(report);
    }
    let log_reports = logs
        .iter()
        .map(|(name, text)| log::analyse(name, text, &module_reports))
        .collect();
    Ok(Explanation {
        logs: log_reports,
        modules: module_reports,
    })
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
    Ok(tools
        .iter()
        .enumerate()
        .map(|(i, t)| {
            trial::run_one(
                t,
                file.elf_bytes(),
                &original,
                &dir,
                &input_name,
                i,
                opts.tool_timeout,
            )
        })
        .collect())
}
