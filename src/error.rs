//! The one error type every command returns, and the exit codes it maps to.
//!
//! Findings (a module that fails verification, a machine `doctor` finds broken) are
//! results, not errors: commands turn them into an exit code themselves. `Error` is for
//! what stops a command from doing its job: unreadable input, a missing tool, bad usage.

use std::path::{Path, PathBuf};

/// Documented exit codes. Kept small and distinct so scripts and dkms logs can tell them apart.
pub mod exit {
    /// Success; for `verify` every module passed, for `doctor` the machine looks healthy.
    pub const OK: i32 = 0;
    /// An internal error (a bug in dkwrap).
    pub const INTERNAL: i32 = 1;
    /// Bad command-line usage (clap uses 2 as well).
    pub const USAGE: i32 = 2;
    /// An input file could not be read: missing, a directory, truncated, not ELF, corrupt compression.
    pub const UNREADABLE: i32 = 3;
    /// `verify`: a module the kernel's loader would reject.
    pub const INVALID_MODULE: i32 = 4;
    /// `verify`: a module built for another kernel (release, vermagic flags, architecture).
    pub const KERNEL_MISMATCH: i32 = 5;
    /// `verify --against` / `strip`: the output is not the original minus debug information.
    pub const NOT_EQUIVALENT: i32 = 6;
    /// `strip`: the module is signed and `--allow-unsign` was not given.
    pub const SIGNED_MODULE: i32 = 7;
    /// `strip`: no strategy produced a verified output and the target could not be left as is
    /// (for example the target directory is read-only). The original is untouched.
    pub const STRIP_FAILED: i32 = 8;
    /// No kernel configuration could be found or parsed.
    pub const NO_KERNEL_CONFIG: i32 = 9;
    /// A tool dkwrap needs (make, llvm-strip, ...) is missing.
    pub const TOOL_MISSING: i32 = 10;
    /// `doctor`: problems were found (the report says which).
    pub const PROBLEMS_FOUND: i32 = 11;
    /// `make`: the build succeeded but a built module failed stripping or verification, or
    /// it built no module at all.
    pub const BUILT_MODULE_REJECTED: i32 = 12;
    /// Interrupted by Ctrl-C (128 + SIGINT).
    pub const INTERRUPTED: i32 = 130;

    /// Every code above as (code, NAME, meaning): the one source of the exit-status tables
    /// in the man pages (and the README's). Add a row with every new constant; a unit test
    /// checks that none is missing.
    pub const TABLE: &[(i32, &str, &str)] = &[
        (OK, "OK", "success; verify: every module passed; doctor: healthy"),
        (INTERNAL, "INTERNAL", "internal error (a bug in dkwrap)"),
        (USAGE, "USAGE", "usage error"),
        (UNREADABLE, "UNREADABLE", "unreadable input (missing, a directory, corrupt compression)"),
        (INVALID_MODULE, "INVALID_MODULE", "verify: invalid module (the loader would reject it; not ELF, bitcode, truncated)"),
        (KERNEL_MISMATCH, "KERNEL_MISMATCH", "verify: built for another kernel (release, vermagic flags, architecture, signature policy)"),
        (NOT_EQUIVALENT, "NOT_EQUIVALENT", "not equivalent: a stripped module is not its original minus debug information"),
        (SIGNED_MODULE, "SIGNED_MODULE", "strip: signed module, --allow-unsign not given"),
        (STRIP_FAILED, "STRIP_FAILED", "strip: nothing safe could be written (e.g. read-only directory); the original is untouched"),
        (NO_KERNEL_CONFIG, "NO_KERNEL_CONFIG", "no kernel configuration found, or it is invalid"),
        (TOOL_MISSING, "TOOL_MISSING", "a required tool is missing"),
        (PROBLEMS_FOUND, "PROBLEMS_FOUND", "doctor: problems found"),
        (BUILT_MODULE_REJECTED, "BUILT_MODULE_REJECTED", "make: the build succeeded but a built module failed strip or verification, or no module was built"),
        (INTERRUPTED, "INTERRUPTED", "interrupted by Ctrl-C (128 + SIGINT)"),
    ];
}

/// Everything that can stop a dkwrap command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{path}: not a kernel module: {reason}")]
    NotElf { path: PathBuf, reason: String },
    #[error("{path}: malformed ELF at offset {offset:#x}: {reason}")]
    Malformed {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("{path}: {reason}")]
    Decompress { path: PathBuf, reason: String },
    #[error("{0}")]
    NoKernelConfig(String),
    #[error("{path}: {reason}")]
    BadKernelConfig { path: PathBuf, reason: String },
    #[error("{tool} not found{hint}")]
    ToolMissing { tool: String, hint: String },
    #[error("{path}: module is signed; stripping would drop the signature (pass --allow-unsign, then re-sign with the kernel's scripts/sign-file)")]
    SignedModule { path: PathBuf },
    #[error("{path}: {reason}")]
    StripFailed { path: PathBuf, reason: String },
    #[error("{path}: output is not equivalent to the original: {reason}")]
    NotEquivalent { path: PathBuf, reason: String },
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Rejected(String),
}

impl Error {
    /// The exit code this error maps to (see [`exit`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Io { .. }
            | Error::Unreadable { .. }
            | Error::NotElf { .. }
            | Error::Malformed { .. }
            | Error::Decompress { .. } => exit::UNREADABLE,
            Error::NoKernelConfig(_) | Error::BadKernelConfig { .. } => exit::NO_KERNEL_CONFIG,
            Error::ToolMissing { .. } => exit::TOOL_MISSING,
            Error::SignedModule { .. } => exit::SIGNED_MODULE,
            Error::StripFailed { .. } => exit::STRIP_FAILED,
            Error::NotEquivalent { .. } => exit::NOT_EQUIVALENT,
            Error::Usage(_) => exit::USAGE,
            Error::Rejected(_) => exit::BUILT_MODULE_REJECTED,
        }
    }

    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::exit;

    /// Every `pub const NAME: i32 = N;` of `mod exit` has its row in `exit::TABLE`, under its
    /// own name and code, and no code is used twice.
    #[test]
    fn exit_table_lists_every_code() {
        let source = include_str!("error.rs");
        let module = source
            .split("pub mod exit {")
            .nth(1)
            .and_then(|rest| rest.split("\n}\n").next())
            .expect("error.rs has `pub mod exit { ... }`");
        let constant = regex::Regex::new(r"pub const ([A-Z0-9_]+): i32 = (\d+);").expect("regex");
        let mut declared: Vec<(i32, String)> = constant
            .captures_iter(module)
            .map(|c| (c[2].parse().expect("a number"), c[1].to_owned()))
            .collect();
        declared.sort();
        let mut listed: Vec<(i32, String)> = exit::TABLE
            .iter()
            .map(|&(code, name, _)| (code, name.to_owned()))
            .collect();
        listed.sort();
        assert!(!declared.is_empty());
        assert_eq!(
            declared, listed,
            "exit::TABLE must list every exit constant"
        );
        let mut codes: Vec<i32> = listed.iter().map(|(code, _)| *code).collect();
        codes.dedup();
        assert_eq!(codes.len(), listed.len(), "an exit code is used twice");
    }
}
