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
    /// `doctor`: problems were found (the report says which); `dkms status`: the integration
    /// is not installed, not intact, or not the one the installed dkms needs.
    pub const PROBLEMS_FOUND: i32 = 11;
    /// `make`: the build succeeded but a built module failed stripping or verification, or
    /// it built no module at all.
    pub const BUILT_MODULE_REJECTED: i32 = 12;
    /// `dkms install-integration` / `remove-integration`: refused without changing anything
    /// (an unknown dkms version or layout, or a file there that dkwrap does not own).
    pub const INTEGRATION_REFUSED: i32 = 14;
    /// Interrupted by Ctrl-C (128 + SIGINT).
    pub const INTERRUPTED: i32 = 130;
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
    #[error("{0}")]
    IntegrationRefused(String),
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
            Error::IntegrationRefused(_) => exit::INTEGRATION_REFUSED,
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
