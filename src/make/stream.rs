//! Running make: its output (stderr merged into stdout, as dkms's make.log has it) is copied
//! byte for byte to our output while each line is scanned for known failure signatures and,
//! on a terminal, a spinner shows the elapsed time and the object being built.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::diagnose::{Diagnosis, Scanner};
use crate::error::{Error, Result};

/// How make ended.
#[derive(Debug, Clone)]
pub struct MakeOutcome {
    /// The exit status to pass on: make's own, or 128+N when a signal N killed it.
    pub status: i32,
    pub signal: Option<i32>,
    pub elapsed: Duration,
    pub diagnoses: Vec<Diagnosis>,
    pub lines: usize,
}

/// Where make's output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    Stdout,
    /// With `--json`: stdout carries only the summary document.
    Stderr,
    /// A log file of its own (created or truncated): one build of several run at once.
    Log(PathBuf),
}

/// Extra environment for make (the matrix's shared jobserver in `MAKEFLAGS`).
pub type Env = [(String, String)];

/// The object a Kbuild progress line names: `  CC [M]  /x/foo.o` → `foo.o`.
pub fn current_object(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let mut words = t.split_whitespace();
    let verb = words.next()?;
    if !verb
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let mut last = words.next()?;
    if last == "[M]" {
        last = words.next()?;
    }
    Path::new(last).file_name()?.to_str()
}

/// Runs `program args` in `dir` (never through a shell) and waits for it, teeing and scanning its
/// output. A program that cannot be started is [`Error::ToolMissing`].
pub fn run_make(
    program: &str,
    args: &[String],
    dir: &Path,
    env: &Env,
    sink: &Sink,
    progress: bool,
) -> Result<MakeOutcome> {
    let started = Instant::now();
    let mut log = match sink {
        Sink::Log(path) => Some(std::fs::File::create(path).map_err(|e| Error::io(path, e))?),
        _ => None,
    };
    let mut cmd = duct::cmd(program, args).dir(dir);
    for (name, value) in env {
        cmd = cmd.env(name, value);
    }
    let reader = cmd
        .stderr_to_stdout()
        .unchecked()
        .reader()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::ToolMissing {
                tool: program.to_string(),
                hint: make_install_hint(program),
            },
            _ => Error::io(program, e),
        })?;
    let spinner = progress.then(|| {
        let pb = ProgressBar::new_spinner();
        pb.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.set_message(format!("{program} ..."));
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    });

    let mut scanner = Scanner::new();
    let mut input = BufReader::new(&reader);
    let mut line = Vec::with_capacity(256);
    let mut lines = 0usize;
    loop {
        line.clear();
        let n = match input.read_until(b'\n', &mut line) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(program, e)),
        };
        if n == 0 {
            break;
        }
        lines += 1;
        let mut write = || -> std::io::Result<()> {
            match (sink, log.as_mut()) {
                (_, Some(file)) => file.write_all(&line),
                (Sink::Stderr, None) => std::io::stderr().lock().write_all(&line),
                _ => std::io::stdout().lock().write_all(&line),
            }
        };
        let written = match &spinner {
            Some(pb) => pb.suspend(&mut write),
            None => write(),
        };
        // A closed stdout (`dkwrap make ... | head`) must not stop the build half way:
        // keep reading (and scanning) so make is not killed by SIGPIPE.
        if let Err(e) = written {
            tracing::debug!("cannot copy make output: {e}");
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        scanner.scan_line(text);
        if let Some(pb) = &spinner {
            if let Some(obj) = current_object(text) {
                pb.set_message(crate::output::escape(obj));
            }
        }
    }
    if let Some(pb) = spinner {
        pb.finish_and_clear();
    }
    let output = reader
        .try_wait()
        .map_err(|e| Error::io(program, e))?
        .ok_or_else(|| Error::Usage(format!("{program}: exit status unavailable")))?;
    let signal = output.status.signal();
    let status = match (output.status.code(), signal) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        (None, None) => 1,
    };
    Ok(MakeOutcome {
        status,
        signal,
        elapsed: started.elapsed(),
        diagnoses: scanner.into_diagnoses(),
        lines,
    })
}

/// Install hint for a missing make program.
pub fn make_install_hint(program: &str) -> String {
    let base = Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if base == "make" || base == "gmake" {
        " (Debian/Ubuntu: apt install make; Fedora: dnf install make; Arch: pacman -S make)".into()
    } else {
        " (the program after `--` must be the make command)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_from_kbuild_lines() {
        assert_eq!(
            current_object("  CC [M]  /tmp/m/mlike_main.o"),
            Some("mlike_main.o")
        );
        assert_eq!(current_object("  LD [M]  /tmp/m/m.ko"), Some("m.ko"));
        assert_eq!(
            current_object("  MODPOST /tmp/m/Module.symvers"),
            Some("Module.symvers")
        );
        assert_eq!(current_object("make[1]: Entering directory '/k'"), None);
        assert_eq!(current_object(""), None);
    }

    #[test]
    fn a_log_sink_gets_the_output_and_the_environment_reaches_make() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("make.log");
        let env = [("DKWRAP_TEST_VALUE".to_string(), "42".to_string())];
        let o = run_make(
            "sh",
            &[
                "-c".into(),
                "echo value=$DKWRAP_TEST_VALUE in $(pwd)".into(),
            ],
            dir.path(),
            &env,
            &Sink::Log(log.clone()),
            false,
        )
        .unwrap();
        assert_eq!((o.status, o.lines), (0, 1));
        let dir_name = dir.path().canonicalize().unwrap();
        let want = format!("value=42 in {}\n", dir_name.display());
        assert_eq!(std::fs::read_to_string(&log).unwrap(), want);
    }

    #[test]
    fn passes_status_and_signals_through() {
        let o = run_make(
            "sh",
            &["-c".into(), "echo hi; exit 3".into()],
            Path::new("."),
            &[],
            &Sink::Stderr,
            false,
        )
        .unwrap();
        assert_eq!((o.status, o.signal, o.lines), (3, None, 1));
        let o = run_make(
            "sh",
            &["-c".into(), "kill -TERM $$".into()],
            Path::new("."),
            &[],
            &Sink::Stderr,
            false,
        )
        .unwrap();
        assert_eq!((o.status, o.signal), (128 + 15, Some(15)));
        let e = run_make(
            "/nonexistent/make",
            &[],
            Path::new("."),
            &[],
            &Sink::Stderr,
            false,
        )
        .unwrap_err();
        assert!(matches!(e, Error::ToolMissing { .. }), "{e}");
    }
}
