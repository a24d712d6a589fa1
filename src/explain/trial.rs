//! `explain --try`: what each strip tool of this machine does to one module, measured. Every
//! tool runs on a copy in a private temporary directory (argument vectors, no shell, a time
//! limit), and each output goes through the same proof `dkwrap strip` uses
//! (`proof::check_equivalence`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::elf::Elf;
use crate::finding::Finding;
use crate::kconfig::Arch;
use crate::proof;
use crate::strip::native;
use crate::toolchain;

/// A strip tool to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Candidate {
    /// An external program, run as `PATH -g -o OUT IN`.
    External { label: String, path: PathBuf },
    /// dkwrap's own rewriter, in process.
    Native,
}

/// How a tool's output compared with the module minus its debug information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Proven: the module minus debug information.
    Equivalent,
    /// The proof found differences.
    NotEquivalent,
    /// The tool wrote nothing (it failed or refused).
    NoOutput,
    /// The tool wrote something that is not ELF.
    NotElf,
    /// The tool could not be started, or ran past the time limit.
    DidNotRun,
}

/// A message a tool printed, with how often.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub count: usize,
    pub text: String,
}

/// One tool run on one module.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    pub tool: String,
    pub path: Option<PathBuf>,
    pub version: Option<String>,
    /// `None` for dkwrap native (in process) and for a tool killed at the time limit.
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub messages: Vec<Message>,
    pub verdict: Verdict,
    /// Error findings of the proof.
    pub differences: usize,
    /// The proof's count per relocated section ("13 relocations applying to .data differ
    /// from the original: 13 changed, 0 lost, 0 added ...").
    pub relocations_differ: Vec<String>,
    /// The proof's first difference, in words (a wrong relocation when there is one).
    pub first_difference: Option<String>,
    pub elapsed_ms: u64,
}

/// Every strip tool found on this machine for a module of `arch`, plus `extra`, plus native:
/// GNU strip (and the cross one for a foreign module), each `llvm-strip[-NN]` on PATH or under
/// the LLVM root, `eu-strip`. The same file reached by two names is tried once.
pub fn find_tools(arch: Arch, extra: &[PathBuf]) -> Vec<Candidate> {
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    let mut add = |label: String, path: PathBuf| {
        let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if !found
            .iter()
            .any(|(_, p)| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()) == real)
        {
            found.push((label, path));
        }
    };
    for a in [Arch::host(), arch] {
        if let Some(p) = toolchain::find_gnu_strip(a).path {
            add(file_label(&p), p);
        }
    }
    for p in llvm_strips() {
        add(file_label(&p), p);
    }
    if let Ok(p) = which::which("eu-strip") {
        add("eu-strip".into(), p);
    }
    for p in extra {
        // Absolute: the tool runs in the temporary directory.
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.clone());
        add(file_label(p), abs);
    }
    let mut out: Vec<Candidate> = found
        .into_iter()
        .map(|(label, path)| Candidate::External { label, path })
        .collect();
    out.push(Candidate::Native);
    out
}

fn file_label(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// `llvm-strip` and `llvm-strip-NN` on PATH, then `<llvm root>/llvm-NN/bin/llvm-strip`.
fn llvm_strips() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let is_llvm_strip = |name: &str| {
        name == "llvm-strip"
            || name
                .strip_prefix("llvm-strip-")
                .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()))
    };
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| is_llvm_strip(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect();
        names.sort();
        out.extend(names);
    }
    if let Ok(entries) = std::fs::read_dir(toolchain::llvm_root()) {
        let mut roots: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("llvm-"))
            .map(|e| e.path().join("bin/llvm-strip"))
            .filter(|p| p.is_file())
            .collect();
        roots.sort();
        out.extend(roots);
    }
    out
}

/// What a run left behind: exit code, stderr+stdout, and whether it was killed.
struct Ran {
    exit_code: Option<i32>,
    output: String,
    timed_out: bool,
}

/// Runs `tool ARGS...` in `dir`, killing it after `limit`.
fn run_limited(tool: &Path, args: &[&str], dir: &Path, limit: Duration) -> Result<Ran, String> {
    let handle = duct::cmd(tool, args)
        .dir(dir)
        .stderr_to_stdout()
        .stdout_capture()
        .stdin_null()
        .unchecked()
        .start()
        .map_err(|e| format!("cannot run {}: {e}", tool.display()))?;
    let started = Instant::now();
    loop {
        match handle.try_wait() {
            Ok(Some(o)) => {
                return Ok(Ran {
                    exit_code: o.status.code(),
                    output: String::from_utf8_lossy(&o.stdout).into_owned(),
                    timed_out: false,
                })
            }
            Ok(None) if started.elapsed() >= limit => {
                let _ = handle.kill();
                return Ok(Ran {
                    exit_code: None,
                    output: String::new(),
                    timed_out: true,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("waiting for {}: {e}", tool.display())),
        }
    }
}

/// Counts repeated lines, in order of first appearance; the tool's path and the temporary
/// directory are shortened so that the lines read as the user would see them.
fn count_messages(output: &str, tool: &Path, dir: &Path) -> Vec<Message> {
    let tool_full = tool.display().to_string();
    let tool_name = file_label(tool);
    let dir_text = format!("{}/", dir.display());
    let mut out: Vec<Message> = Vec::new();
    for line in output.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let text = line.replace(&dir_text, "").replace(&tool_full, &tool_name);
        match out.iter_mut().find(|m| m.text == text) {
            Some(m) => m.count += 1,
            None => out.push(Message { count: 1, text }),
        }
    }
    out
}

/// What the proof said about one output.
struct Proof {
    verdict: Verdict,
    /// The messages of its error findings, in order.
    errors: Vec<String>,
}

/// Proves `output` against `original` with the proof `dkwrap strip` uses.
fn prove(output: &[u8], original: &Elf) -> Proof {
    let elf = match Elf::parse(output) {
        Ok(e) => e,
        Err(e) => {
            return Proof {
                verdict: Verdict::NotElf,
                errors: vec![e.to_string()],
            }
        }
    };
    let mut findings: Vec<Finding> = Vec::new();
    proof::check_equivalence(&elf, original, false, &mut findings);
    let errors: Vec<String> = findings
        .into_iter()
        .filter(Finding::is_error)
        .map(|f| f.message)
        .collect();
    Proof {
        verdict: if errors.is_empty() {
            Verdict::Equivalent
        } else {
            Verdict::NotEquivalent
        },
        errors,
    }
}

/// Where the tools run: a private directory, the module's bytes and its parsed original.
pub struct Workspace<'w, 'a> {
    /// Owned by the caller, who removes it.
    pub dir: &'w Path,
    /// The copy's file name (the module's own, so messages name it as a build would).
    pub input_name: &'w str,
    pub elf_bytes: &'w [u8],
    pub original: &'w Elf<'a>,
    pub limit: Duration,
}

impl Trial {
    fn new(tool: String) -> Self {
        Trial {
            tool,
            path: None,
            version: None,
            exit_code: None,
            timed_out: false,
            messages: Vec::new(),
            verdict: Verdict::DidNotRun,
            differences: 0,
            relocations_differ: Vec::new(),
            first_difference: None,
            elapsed_ms: 0,
        }
    }

    fn proven(&mut self, output: &[u8], original: &Elf) {
        let proof = prove(output, original);
        self.verdict = proof.verdict;
        self.differences = proof.errors.len();
        self.relocations_differ = proof
            .errors
            .iter()
            .filter(|m| {
                m.contains(" relocations applying to ") || m.contains(" relocation applying to ")
            })
            .cloned()
            .collect();
        // A relocation difference first: it is what hangs machines.
        self.first_difference = proof
            .errors
            .iter()
            .find(|m| m.starts_with('`'))
            .or(proof.errors.first())
            .cloned();
    }

    fn say(&mut self, text: String) {
        self.messages.push(Message { count: 1, text });
    }
}

/// `TOOL --version`, under the same time limit as the run: GNU and elfutils print the version
/// on the first line, llvm-strip on the line with "version".
fn version_of(tool: &Path, dir: &Path, limit: Duration) -> Option<String> {
    let ran = run_limited(tool, &["--version"], dir, limit).ok()?;
    let mut lines = ran.output.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next()?;
    toolchain::parse_version(first).or_else(|| {
        ran.output
            .lines()
            .find(|l| l.contains("version"))
            .and_then(toolchain::parse_version)
    })
}

/// Runs one candidate; `ordinal` names its output file.
pub fn run_one(candidate: &Candidate, ws: &Workspace, ordinal: usize) -> Trial {
    let started = Instant::now();
    let mut trial = match candidate {
        Candidate::Native => try_native(ws.original),
        Candidate::External { label, path } => try_external(label, path, ws, ordinal),
    };
    trial.elapsed_ms = started.elapsed().as_millis() as u64;
    trial
}

fn try_native(original: &Elf) -> Trial {
    let mut trial = Trial::new("dkwrap native".into());
    trial.version = Some(env!("CARGO_PKG_VERSION").into());
    let mut out = Vec::new();
    match native::strip_debug(original, &mut out) {
        Ok(_) => trial.proven(&out, original),
        Err(e) => {
            trial.verdict = Verdict::NoOutput;
            trial.say(format!("refused: {e}"));
        }
    }
    trial
}

fn try_external(label: &str, path: &Path, ws: &Workspace, ordinal: usize) -> Trial {
    let mut trial = Trial::new(label.to_string());
    trial.path = Some(path.to_path_buf());
    trial.version = version_of(path, ws.dir, ws.limit);
    // A fresh copy for every tool: none of them sees another's leftovers.
    let input = ws.dir.join(ws.input_name);
    let out_name = format!("out-{ordinal}.ko");
    let out_path = ws.dir.join(&out_name);
    if let Err(e) = std::fs::write(&input, ws.elf_bytes) {
        trial.say(format!("cannot write the copy {}: {e}", input.display()));
        return trial;
    }
    match run_limited(
        path,
        &["-g", "-o", &out_name, ws.input_name],
        ws.dir,
        ws.limit,
    ) {
        Err(e) => trial.say(e),
        Ok(ran) => {
            trial.exit_code = ran.exit_code;
            trial.timed_out = ran.timed_out;
            trial.messages = count_messages(&ran.output, path, ws.dir);
            if !ran.timed_out {
                match std::fs::read(&out_path) {
                    Ok(bytes) => trial.proven(&bytes, ws.original),
                    Err(_) => trial.verdict = Verdict::NoOutput,
                }
            }
        }
    }
    let _ = std::fs::remove_file(&out_path);
    trial
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_counted_and_lose_the_temporary_paths() {
        let out = "/tmp/x/strip243: m.ko: invalid entry (0x5) in group [31]\n\
                   /tmp/x/strip243: BFD (GNU Binutils) 2.43.1 assertion fail ../bfd/elf.c:3944\n\
                   /tmp/x/strip243: BFD (GNU Binutils) 2.43.1 assertion fail ../bfd/elf.c:3944\n";
        let m = count_messages(out, Path::new("/tmp/x/strip243"), Path::new("/tmp/d"));
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0].text,
            "strip243: m.ko: invalid entry (0x5) in group [31]"
        );
        assert_eq!(m[1].count, 2);
    }
}
