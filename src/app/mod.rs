//! The app layer: the only code that knows about flags, printing and exit codes.
//!
//! Each command has one file here that turns its arguments into a request for a stage,
//! resolves the target kernel once, prints the results in one voice ([`ui`]) and picks the
//! exit code by the one policy ([`crate::exit::most_severe`]). The stages below take plain
//! domain values and return results.

pub mod detect;
pub mod doctor;
pub mod explain;
pub mod make;
pub mod matrix;
pub mod records;
pub mod strip;
pub mod ui;
pub mod verify;

use std::ffi::OsString;
use std::path::Path;

use clap::Parser;

use crate::cli::{Cli, Command, KernelArgs};
use crate::error::Result;
use crate::target::KernelTarget;
use ui::Ui;

/// Runs dkwrap with these arguments and returns the process's exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let cli = Cli::parse_from(strip_dispatch(args));
    let ui = Ui::new(cli.color, cli.quiet);
    init_logging(cli.verbose, &ui);
    let result = match &cli.command {
        Command::Detect(a) => detect::run(a, &ui),
        Command::Strip(a) => strip::run(a, &ui),
        Command::Verify(a) => verify::run(a, &ui),
        Command::Make(a) => make::run(a, &ui),
        Command::Matrix(a) => matrix::run(a, &ui),
        Command::Doctor(a) => doctor::run(a, &ui),
        Command::Explain(a) => explain::run(a, &ui),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            ui.error(&e.to_string());
            e.exit_code()
        }
    }
}

/// Installed as a symlink named `strip`, dkwrap is `dkwrap strip` (for dkms versions that
/// run `strip -g` by name with dkwrap first on PATH).
fn strip_dispatch(mut args: Vec<OsString>) -> Vec<OsString> {
    let invoked_as = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if invoked_as == "strip" || invoked_as.ends_with("-strip") {
        args.insert(1, OsString::from("strip"));
        args[0] = OsString::from("dkwrap");
    }
    args
}

/// The kernel named by `--kernel`, `--kernel-dir` or `--config`, resolved once; `None`
/// when none was named (the module's own `.comment` decides then).
fn named_kernel(k: &KernelArgs) -> Result<Option<KernelTarget>> {
    if !k.given() {
        return Ok(None);
    }
    KernelTarget::resolve(&k.selector(), k.selected_by()).map(Some)
}

fn init_logging(verbose: u8, ui: &Ui) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("dkwrap={default}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ui.color_stderr())
        .with_target(false)
        .without_time()
        .init();
}
