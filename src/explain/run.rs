//! `dkwrap explain` on the command line: turns [`ExplainArgs`] into sources and options,
//! runs the stage, prints text or JSON. Exit 0 once everything is explained; an unreadable
//! input is an error (exit 3), and so is bad usage (exit 2).

use std::io::Read;
use std::time::Duration;

use crate::cli::ExplainArgs;
use crate::error::{exit, Error, Result};

use super::{explain, render, ExplainOptions, Source};

pub fn run(args: &ExplainArgs) -> Result<i32> {
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
        crate::output::print_json(&explanation)?;
    } else {
        print!("{}", render::render(&explanation));
    }
    Ok(exit::OK)
}
