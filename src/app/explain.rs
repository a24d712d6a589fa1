//! `dkwrap explain`: inputs to [`Source`]s (`-` read from standard input once), the
//! explanation printed as text (severity words coloured) or JSON. Exit 0 once everything is
//! explained; an input that cannot be read is an error (3), bad usage too (2).

use std::io::Read;
use std::time::Duration;

use super::ui::{Ui, Verdict};
use crate::cli::ExplainArgs;
use crate::error::{exit, Error, Result};
use crate::explain::{explain, render, ExplainOptions, Source};
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
    if args.json {
        output::print_json(&explanation)?;
    } else {
        // render() escapes the untrusted text; the colour codes added here are ours.
        for line in render::render(&explanation).lines() {
            println!("{}", painted(ui, line));
        }
    }
    Ok(exit::OK)
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
