//! The dkwrap binary: parse flags, run one command, turn the outcome into an exit code.

use std::ffi::OsString;
use std::path::Path;

use clap::Parser;
use dkwrap::cli::{Cli, Command};

fn main() {
    // Behave like other Unix tools when stdout is a closed pipe (`dkwrap verify ... | head`):
    // end quietly instead of panicking on the failed write.
    // Safety: called first thing in main, before any thread exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse_from(argv_with_strip_dispatch());
    init_logging(cli.verbose);
    let result = match &cli.command {
        Command::Detect(a) => dkwrap::detect::run(a),
        Command::Strip(a) => dkwrap::strip::run(a),
        Command::Verify(a) => dkwrap::verify::run(a),
        Command::Make(a) => dkwrap::make::run(a),
        Command::Doctor(a) => dkwrap::doctor::run(a),
        Command::Completions(a) => dkwrap::docs::run::run_completions(a),
        Command::Man(a) => dkwrap::docs::run::run_man(a),
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dkwrap: error: {}", dkwrap::output::escape(&e.to_string()));
            e.exit_code()
        }
    };
    std::process::exit(code);
}

/// Installed as a symlink named `strip`, dkwrap is `dkwrap strip` (for dkms versions that
/// run `strip -g` by name with dkwrap first on PATH).
fn argv_with_strip_dispatch() -> Vec<OsString> {
    let mut args: Vec<OsString> = std::env::args_os().collect();
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

fn init_logging(verbose: u8) {
    use std::io::IsTerminal;
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
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(false)
        .without_time()
        .init();
}
