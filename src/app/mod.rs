//! The app layer: the only code that knows about flags, printing and exit codes.
//!
//! Each command has one file here that turns its arguments into a request for a stage,
//! resolves the target kernel once, prints the results in one voice ([`ui`]) and picks the
//! exit code by the one policy ([`crate::exit::most_severe`]). The stages below take plain
//! domain values and return results.

pub mod boot;
pub mod detect;
pub mod dkms;
pub mod docs;
pub mod doctor;
pub mod dropin;
pub mod explain;
pub mod make;
pub mod manpages;
pub mod matrix;
pub mod records;
pub mod shim;
pub mod strip;
pub mod ui;
pub mod verify;

use std::ffi::OsString;

use clap::Parser;

use crate::cli::{Cli, Command, KernelArgs};
use crate::error::Result;
use crate::target::KernelTarget;
use ui::Ui;

/// Runs dkwrap with these arguments and returns the process's exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    // Called as `strip`, `llvm-strip` or `make` (links in dkwrap's shim directory).
    if let Some(role) = shim::role_of(args.first().map(OsString::as_os_str)) {
        let ui = Ui::new(ui::ColorChoice::Auto, false);
        init_logging(0, &ui);
        return shim::run(&role, &args[1..], &ui);
    }
    let cli = Cli::parse_from(args);
    let ui = Ui::new(cli.color, cli.quiet);
    init_logging(cli.verbose, &ui);
    let result = match &cli.command {
        Command::Detect(a) => detect::run(a, &ui),
        Command::Strip(a) => strip::run(a, &ui),
        Command::Verify(a) => verify::run(a, &ui),
        Command::Make(a) => make::run(a, &ui),
        Command::Matrix(a) => matrix::run(a, &ui),
        Command::Doctor(a) => doctor::run(a, &ui),
        Command::Completions(a) => docs::run_completions(a, &ui),
        Command::Man(a) => docs::run_man(a, &ui),
        Command::Dkms(a) => dkms::run(a, &ui),
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

/// The kernel named by `--kernel`, `--kernel-dir` or `--config`, resolved once; `None`
/// when none was named (the module's own `.comment` decides then).
fn named_kernel(k: &KernelArgs) -> Result<Option<KernelTarget>> {
    if !k.given() {
        return Ok(None);
    }
    KernelTarget::resolve(&k.selector(), k.selected_by()).map(Some)
}

fn init_logging(verbose: u8, ui: &Ui) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let level = match verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ui.color_stderr())
        .with_target(false)
        .without_time();
    let registry = tracing_subscriber::registry();
    // RUST_LOG's directives need EnvFilter's parser; without them a fixed filter is set up
    // at a fraction of the cost (dkms and Kbuild start dkwrap once per module).
    if std::env::var_os("RUST_LOG").is_some() {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("dkwrap={level}")));
        registry.with(layer.with_filter(filter)).init();
    } else {
        registry
            .with(layer.with_filter(Targets::new().with_target("dkwrap", level)))
            .init();
    }
}
