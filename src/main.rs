//! The dkwrap binary: parse flags, run one command, turn the outcome into an exit code.

use std::ffi::OsString;

use clap::Parser;
use dkwrap::cli::{Cli, Command};

fn main() {
    // Behave like other Unix tools when stdout is a closed pipe (`dkwrap verify ... | head`):
    // end quietly instead of panicking on the failed write.
    // Safety: called first thing in main, before any thread exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Called as `strip`, `llvm-strip`, `make` (links in dkwrap's shim directory).
    let args: Vec<OsString> = std::env::args_os().collect();
    if let Some(role) = dkwrap::shim::role_of(args.first().map(OsString::as_os_str)) {
        init_logging(0);
        std::process::exit(dkwrap::shim::run(&role, &args[1..]));
    }
    let cli = Cli::parse_from(args);
    init_logging(cli.verbose);
    let result = match &cli.command {
        Command::Detect(a) => dkwrap::detect::run(a),
        Command::Strip(a) => dkwrap::strip::run(a),
        Command::Verify(a) => dkwrap::verify::run(a),
        Command::Make(a) => dkwrap::make::run(a),
        Command::Doctor(a) => dkwrap::doctor::run(a),
        Command::Dkms(a) => dkwrap::integration::command::run(a),
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
