//! `dkwrap doctor`: the report as text (verdict words coloured) or JSON, and its exit code.

use super::ui::{Ui, Verdict};
use crate::cli::DoctorArgs;
use crate::doctor::{self, render, JsonReport};
use crate::error::{exit, Result};
use crate::output;

pub fn run(args: &DoctorArgs, ui: &Ui) -> Result<i32> {
    let (report, facts) = doctor::examine(&args.root, &args.module)?;
    if args.json {
        output::print_json(&JsonReport {
            report: &report,
            facts: &facts,
        })?;
    } else if !(ui.quiet && report.healthy) {
        // Escape the untrusted text first; the colour codes added after are ours.
        let text = output::escape(&render::text(&report));
        for line in text.lines() {
            println!("{}", painted(ui, line));
        }
    }
    Ok(if report.healthy {
        exit::OK
    } else {
        exit::PROBLEMS_FOUND
    })
}

/// A verdict line starts with its label (`PROBLEM`, `RISK`, `note`, `OK`): colour it.
fn painted(ui: &Ui, line: &str) -> String {
    let labels = [
        ("PROBLEM ", Verdict::Problem),
        ("RISK ", Verdict::Risk),
        ("note ", Verdict::Note),
        ("OK ", Verdict::Ok),
    ];
    for (label, verdict) in labels {
        if let Some(rest) = line.strip_prefix(label) {
            return format!("{} {rest}", ui.out_word(verdict));
        }
    }
    line.to_string()
}
