//! `dkwrap completions` and the hidden `dkwrap man`: print or write what
//! [`super::manpages`] renders from the clap definitions.

use std::io::Write;

use clap::CommandFactory;

use super::ui::Ui;
use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::error::{exit, Error, Result};

pub fn run_completions(args: &CompletionsArgs, _ui: &Ui) -> Result<i32> {
    let script = super::manpages::completion_script(Cli::command(), args.shell);
    write_stdout(&script)?;
    Ok(exit::OK)
}

pub fn run_man(args: &ManArgs, _ui: &Ui) -> Result<i32> {
    let pages = super::manpages::man_pages(Cli::command()).map_err(|e| Error::io("man page", e))?;
    match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            for page in &pages {
                let path = dir.join(&page.file_name);
                std::fs::write(&path, &page.roff).map_err(|e| Error::io(&path, e))?;
            }
        }
        None => {
            let wanted = std::iter::once("dkwrap")
                .chain(args.page.iter().flat_map(|word| word.split_whitespace()))
                .collect::<Vec<_>>()
                .join("-");
            let page = pages.iter().find(|p| p.name == wanted).ok_or_else(|| {
                let known: Vec<&str> = pages.iter().map(|p| p.name.as_str()).collect();
                Error::Usage(format!(
                    "no man page {wanted} (there are: {})",
                    known.join(", ")
                ))
            })?;
            write_stdout(&page.roff)?;
        }
    }
    Ok(exit::OK)
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("standard output", e))
}
