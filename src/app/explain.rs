//! `dkwrap explain`: inputs to [`Source`]s (`-` read from standard input once), the
//! explanation printed as text (severity words coloured) or JSON with a record per input.
//! Exit 0 once every input is explained; an input that cannot be read is reported and the
//! others still explained, and the run exits with its code (3) by the one policy; bad usage
//! is 2.

use std::io::Read;
use std::time::Duration;

use serde::Serialize;

use super::records::ErrorRecord;
use super::ui::{Tally, Ui, Verdict};
use crate::cli::ExplainArgs;
use crate::error::{exit, Error, Result};
use crate::explain::{explain, render, ExplainOptions, Explanation, InputKind, Source};
use crate::output;

pub fn run(args: &ExplainArgs, ui: &Ui) -> Result<i32> {
    let mut sources = Vec::new();
    let mut stdin_used = false;
    for p in &args.inputs {
        if p.as_os_str() == "-" {
            if stdin_used {
                return Err(Error::Usage("`-` (standard input) given twice".into()));
            }
            stdin_used = true;
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| Error::io("-", e))?;
            sources.push(Source::Stdin(bytes));
        } else {
            sources.push(Source::Path(p.clone()));
        }
    }
    let opts = ExplainOptions {
        try_tools: args.try_tools || !args.tools.is_empty(),
        extra_tools: args.tools.clone(),
        tool_timeout: Duration::from_secs(args.timeout),
    };
    let explanation = explain(&sources, &opts)?;
    let mut tally = Tally::default();
    for i in &explanation.inputs {
        tally.add(i.error.as_ref().map_or(exit::OK, |e| e.exit_code()));
    }
    if args.json {
        output::print_json(&ExplainRecord::of(&explanation))?;
    } else {
        for e in explanation.inputs.iter().filter_map(|i| i.error.as_ref()) {
            ui.error(&e.to_string());
        }
        // render() escapes the untrusted text; the colour codes added here are ours.
        for line in render::render(&explanation, ui.quiet).lines() {
            println!("{}", painted(ui, line));
        }
    }
    Ok(tally.code)
}

/// One input's `--json` record.
#[derive(Debug, Serialize)]
struct InputRecord<'e> {
    input: &'e str,
    kind: Option<InputKind>,
    ok: bool,
    error: Option<ErrorRecord>,
}

/// The `--json` document: every input's record, then the explanation.
#[derive(Debug, Serialize)]
struct ExplainRecord<'e> {
    inputs: Vec<InputRecord<'e>>,
    #[serde(flatten)]
    explanation: &'e Explanation,
}

impl<'e> ExplainRecord<'e> {
    fn of(explanation: &'e Explanation) -> Self {
        let inputs = explanation
            .inputs
            .iter()
            .map(|i| InputRecord {
                input: &i.input,
                kind: i.kind,
                ok: i.error.is_none(),
                error: i.error.as_ref().map(ErrorRecord::from_error),
            })
            .collect();
        ExplainRecord {
            inputs,
            explanation,
        }
    }
}

/// A finding's heading starts with its severity (`  error [id]`, `  warning [id]`): colour it.
fn painted(ui: &Ui, line: &str) -> String {
    for (label, verdict) in [
        ("  error [", Verdict::Error),
        ("  warning [", Verdict::Warning),
    ] {
        if let Some(rest) = line.strip_prefix(label) {
            return format!("  {} [{rest}", ui.out_word(verdict));
        }
    }
    line.to_string()
}
