//! The dkwrap binary: everything happens in the app layer ([`dkwrap::app`]).

fn main() {
    // Behave like other Unix tools when stdout is a closed pipe (`dkwrap verify ... | head`):
    // end quietly instead of panicking on the failed write.
    // Safety: called first thing in main, before any thread exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(dkwrap::app::main(std::env::args_os().collect()));
}
