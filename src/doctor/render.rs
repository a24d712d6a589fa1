//! The text report: verdicts first, then the evidence table, then the fixes in the order
//! to run them. Sized to fit one screen for a typical broken machine.

use std::fmt::Write;

use super::judge::{Report, Severity};

/// The report as terminal text. Untrusted text (file contents, log lines) is escaped by the
/// caller over the whole result (see [`super::run`]).
pub fn text(r: &Report) -> String {
    let mut out = String::new();
    if r.healthy {
        let _ = writeln!(out, "OK       {}", r.summary);
    }
    for v in &r.verdicts {
        let label = match v.severity {
            Severity::Broken => "PROBLEM",
            Severity::Risk => "RISK",
            Severity::Note => "note",
        };
        let _ = writeln!(out, "{label:<8} {}", v.verdict);
    }
    if !r.evidence.is_empty() {
        let _ = writeln!(out, "\nEvidence:");
        let width = r
            .evidence
            .iter()
            .map(|e| e.what.chars().count())
            .max()
            .unwrap_or(0)
            .min(26);
        for e in &r.evidence {
            let mut line = format!("  {:<width$}  {}", e.what, e.value);
            if !e.source.is_empty() {
                let _ = write!(line, "  [{}]", e.source);
            }
            let _ = writeln!(out, "{}", line.trim_end());
            for d in &e.detail {
                let _ = writeln!(out, "  {:<width$}  | {d}", "");
            }
        }
    }
    if !r.fixes.is_empty() {
        let _ = writeln!(out, "\nFix, in this order:");
        for f in &r.fixes {
            let _ = writeln!(out, "  # {}", f.why);
            for c in &f.commands {
                let _ = writeln!(out, "  {c}");
            }
        }
    }
    out
}
