//! The one voice on the terminal: one line per event, verdict words coloured only on a
//! terminal (`--color`, `NO_COLOR`), sizes in one format, correct plurals, `-q` for failures
//! only, progress only where a person watches (never in dkms's make.log).

use std::io::IsTerminal;
use std::path::Path;

use crate::output::escape;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    Always,
    Never,
}

/// A word that says how something ended; the only words that get colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Failed,
    Error,
    Warning,
    Note,
    Problem,
    Risk,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::Failed => "FAILED",
            Verdict::Error => "error",
            Verdict::Warning => "warning",
            Verdict::Note => "note",
            Verdict::Problem => "PROBLEM",
            Verdict::Risk => "RISK",
        }
    }
    fn ansi(self) -> &'static str {
        match self {
            Verdict::Ok => "\x1b[1;32m",
            Verdict::Failed | Verdict::Error | Verdict::Problem => "\x1b[1;31m",
            Verdict::Warning | Verdict::Risk => "\x1b[1;33m",
            Verdict::Note => "\x1b[1;36m",
        }
    }
}

/// How this run talks to the person (or script) that started it.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// Only failures are printed.
    pub quiet: bool,
    color_stdout: bool,
    color_stderr: bool,
}

fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

impl Ui {
    pub fn new(color: ColorChoice, quiet: bool) -> Ui {
        let wants = |is_terminal: bool| match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && !no_color_env(),
        };
        Ui {
            quiet,
            color_stdout: wants(std::io::stdout().is_terminal()),
            color_stderr: wants(std::io::stderr().is_terminal()),
        }
    }

    /// Whether log lines on stderr may use colour.
    pub fn color_stderr(&self) -> bool {
        self.color_stderr
    }

    /// A spinner only on a terminal someone watches: not in CI, not with `-q`, and not where
    /// colour is turned off (NO_COLOR, `--color=never` ask for plain output).
    pub fn progress_allowed(&self) -> bool {
        crate::output::progress_allowed() && self.color_stderr && !self.quiet
    }

    /// The verdict word, coloured for stdout when colour is on.
    pub fn out_word(&self, v: Verdict) -> String {
        paint(v, self.color_stdout)
    }

    /// The verdict word, coloured for stderr when colour is on.
    pub fn err_word(&self, v: Verdict) -> String {
        paint(v, self.color_stderr)
    }

    /// `dkwrap: LINE` on stderr (untrusted text is escaped by the caller's helpers).
    pub fn say(&self, line: &str) {
        eprintln!("dkwrap: {line}");
    }

    /// `dkwrap: error: MESSAGE` on stderr, always (also with `-q`).
    pub fn error(&self, message: &str) {
        eprintln!(
            "dkwrap: {}: {}",
            self.err_word(Verdict::Error),
            escape(message)
        );
    }

    /// `dkwrap: hint: MESSAGE` on stderr, after an error.
    pub fn hint(&self, message: &str) {
        eprintln!("dkwrap: hint: {}", escape(message));
    }
}

fn paint(v: Verdict, color: bool) -> String {
    if color {
        format!("{}{}\x1b[0m", v.ansi(), v.word())
    } else {
        v.word().to_string()
    }
}

/// A path as the user typed it, safe to print.
pub fn path(p: &Path) -> String {
    escape(&p.display().to_string())
}

pub use crate::output::plural;

/// `1 module`, `4,023 modules`.
fn modules(n: usize) -> String {
    let word = if n == 1 { "module" } else { "modules" };
    format!("{} {word}", thousands(n))
}

/// `4023` as `4,023`: whole installed kernels give counts in the thousands.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Sizes in one format everywhere: `812 B`, `26.2 KiB`, `55.9 MiB`.
pub fn human_size(n: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Counts the files a command handled and keeps the run's exit code by the one policy
/// ([`crate::exit::most_severe`]), so the order of the files never matters.
#[derive(Debug, Default)]
pub struct Tally {
    pub ok: usize,
    pub failed: usize,
    pub code: i32,
}

impl Tally {
    pub fn add(&mut self, code: i32) {
        if code == crate::exit::OK {
            self.ok += 1;
        } else {
            self.failed += 1;
        }
        self.code = crate::exit::most_severe(self.code, code);
    }

    /// `12 modules: 11 OK, 1 FAILED`, for runs over more than one file.
    pub fn summary(&self, ui: &Ui, on_stdout: bool) -> String {
        let word = |v| {
            if on_stdout {
                ui.out_word(v)
            } else {
                ui.err_word(v)
            }
        };
        format!(
            "{}: {} {}, {} {}",
            modules(self.ok + self.failed),
            thousands(self.ok),
            word(Verdict::Ok),
            thousands(self.failed),
            word(Verdict::Failed)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_plurals_read_naturally() {
        assert_eq!(human_size(812), "812 B");
        assert_eq!(human_size(26_829), "26.2 KiB");
        assert_eq!(plural(1, "error"), "1 error");
        assert_eq!(plural(0, "error"), "0 errors");
        assert_eq!(plural(2, "module"), "2 modules");
        assert_eq!(modules(4023), "4,023 modules");
        assert_eq!(modules(1), "1 module");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }

    #[test]
    fn the_tally_keeps_the_most_severe_code_in_any_order() {
        use crate::exit::*;
        let codes = [OK, UNREADABLE, NOT_EQUIVALENT, KERNEL_MISMATCH];
        let mut forward = Tally::default();
        codes.iter().for_each(|&c| forward.add(c));
        let mut backward = Tally::default();
        codes.iter().rev().for_each(|&c| backward.add(c));
        assert_eq!(forward.code, NOT_EQUIVALENT);
        assert_eq!(backward.code, NOT_EQUIVALENT);
        assert_eq!((forward.ok, forward.failed), (1, 3));
    }
}
