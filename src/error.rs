//! The one error type every command returns, and the exit codes it maps to.
//!
//! Findings (a module that fails verification, a machine `doctor` finds broken) are
//! results, not errors: commands turn them into an exit code themselves. `Error` is for
//! what stops a command from doing its job: unreadable input, a missing tool, bad usage.

use std::path::{Path, PathBuf};

/// Documented exit codes, and the one policy that picks the code of a run.
pub mod exit {
    /// Success; for `verify` every module passed, for `doctor` the machine looks healthy.
    pub const OK: i32 = 0;
    /// An internal error (a bug in dkwrap).
    pub const INTERNAL: i32 = 1;
    /// Bad command-line usage (clap uses 2 as well).
    pub const USAGE: i32 = 2;
    /// An input file could not be read: missing, a directory, truncated, corrupt compression.
    pub const UNREADABLE: i32 = 3;
    /// `verify`: a module the kernel's loader would reject (also: not ELF, bitcode).
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
    /// `make`: make itself failed; its status is in the message and in `--json`.
    pub const MAKE_FAILED: i32 = 13;
    /// `dkms install-integration` / `remove-integration`: refused without changing anything
    /// (an unknown dkms version or layout, or a file there that dkwrap does not own).
    pub const INTEGRATION_REFUSED: i32 = 14;
    /// `verify --boot`: the test kernel crashed, panicked or hung loading a module (or did
    /// not boot at all).
    /// `strip`: the disk (or quota) is full: no strategy's output could be written. The
    /// original is intact.
    pub const NO_SPACE: i32 = 15;
    pub const BOOT_FAILED: i32 = 16;
    /// Interrupted by Ctrl-C (128 + SIGINT); `make` killed by signal N exits 128+N.
    pub const INTERRUPTED: i32 = 130;

    /// Every code with its name and meaning: `--help`, the man pages and the README say
    /// the same.
    pub const TABLE: &[(i32, &str, &str)] = &[
        (OK, "OK", "success; verify: every module passed; doctor: healthy"),
        (INTERNAL, "INTERNAL", "internal error (a bug in dkwrap)"),
        (USAGE, "USAGE", "usage error"),
        (UNREADABLE, "UNREADABLE", "unreadable input (missing, a directory without modules, corrupt compression)"),
        (INVALID_MODULE, "INVALID_MODULE", "invalid module: the loader would reject it (not ELF, bitcode, truncated, ...)"),
        (KERNEL_MISMATCH, "KERNEL_MISMATCH", "built for another kernel (release, vermagic, architecture, signatures, symbols)"),
        (NOT_EQUIVALENT, "NOT_EQUIVALENT", "a stripped module is not its original minus debug information"),
        (SIGNED_MODULE, "SIGNED_MODULE", "strip: signed module, --allow-unsign not given"),
        (STRIP_FAILED, "STRIP_FAILED", "strip: nothing safe could be written; the original is untouched"),
        (NO_KERNEL_CONFIG, "NO_KERNEL_CONFIG", "no kernel configuration found, or it is invalid"),
        (TOOL_MISSING, "TOOL_MISSING", "a required tool is missing"),
        (PROBLEMS_FOUND, "PROBLEMS_FOUND", "doctor: problems found"),
        (BUILT_MODULE_REJECTED, "BUILT_MODULE_REJECTED", "make: the build succeeded but a built module failed strip or verification, or none was built"),
        (MAKE_FAILED, "MAKE_FAILED", "make: make itself failed (its status is in the message and the JSON)"),
        (INTEGRATION_REFUSED, "INTEGRATION_REFUSED", "dkms integration refused (unknown dkms, a file not dkwrap's); nothing changed"),
        (BOOT_FAILED, "BOOT_FAILED", "verify --boot: the test kernel crashed, panicked or hung loading a module"),
        (NO_SPACE, "NO_SPACE", "strip: no space left on the device (or quota); the original is intact"),
        (INTERRUPTED, "INTERRUPTED", "interrupted (Ctrl-C); make killed by signal N: 128+N"),
    ];

    /// When several files end differently, the run's code is the most severe one, in this
    /// order (first = most severe): a module proven wrong is the danger dkwrap exists for,
    /// then modules the kernel would refuse, then what dkwrap could not do, then input it
    /// could not read.
    pub const SEVERITY_ORDER: &[i32] = &[
        INTERNAL,
        BOOT_FAILED,
        NOT_EQUIVALENT,
        INVALID_MODULE,
        KERNEL_MISMATCH,
        BUILT_MODULE_REJECTED,
        MAKE_FAILED,
        NO_SPACE,
        STRIP_FAILED,
        SIGNED_MODULE,
        INTEGRATION_REFUSED,
        TOOL_MISSING,
        NO_KERNEL_CONFIG,
        UNREADABLE,
        PROBLEMS_FOUND,
        USAGE,
    ];

    /// The more severe of two codes by [`SEVERITY_ORDER`]; independent of the order the
    /// files came in. OK is the least severe; a code not listed ranks just above OK.
    pub fn most_severe(a: i32, b: i32) -> i32 {
        let rank = |c: i32| match c {
            OK => usize::MAX,
            _ => SEVERITY_ORDER
                .iter()
                .position(|&x| x == c)
                .unwrap_or(SEVERITY_ORDER.len()),
        };
        match rank(a).cmp(&rank(b)) {
            std::cmp::Ordering::Less => a,
            std::cmp::Ordering::Greater => b,
            std::cmp::Ordering::Equal => a.min(b),
        }
    }

    /// The text of the EXIT STATUS section of `--help` and the man pages.
    pub fn help_text() -> String {
        let mut s = String::from("EXIT STATUS:\n");
        for (code, _, meaning) in TABLE {
            s.push_str(&format!("  {code:>3}  {meaning}\n"));
        }
        s.push_str("  With several files, the most severe code wins: ");
        s.push_str(
            "boot failed > not-equivalent > invalid module > kernel mismatch > make codes > ",
        );
        s.push_str("no space > strip failed > signed > tool missing > no config > unreadable.\n");
        s
    }
}

/// Everything that can stop a dkwrap command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {}", io_reason(source))]
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
    #[error(
        "{path}: no space left to write the stripped module; the original is intact: {reason}"
    )]
    NoSpace { path: PathBuf, reason: String },
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
            Error::Io { source, .. } if is_no_space(source) => exit::NO_SPACE,
            Error::NoSpace { .. } => exit::NO_SPACE,
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

    /// The message without the path it is about (for reports that name the file already).
    pub fn detail(&self) -> String {
        match self {
            Error::Io { source, .. } => io_reason(source),
            Error::Unreadable { reason, .. }
            | Error::Decompress { reason, .. }
            | Error::BadKernelConfig { reason, .. }
            | Error::StripFailed { reason, .. } => reason.clone(),
            Error::NoSpace { reason, .. } => {
                format!(
                    "no space left to write the stripped module; the original is intact: {reason}"
                )
            }
            Error::NotElf { reason, .. } => format!("not a kernel module: {reason}"),
            Error::Malformed { offset, reason, .. } => {
                format!("malformed ELF at offset {offset:#x}: {reason}")
            }
            Error::NotEquivalent { reason, .. } => {
                format!("output is not equivalent to the original: {reason}")
            }
            other => other.to_string(),
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

/// The disk or the quota is full.
/// By kind, not errno: `tempfile` wraps the OS error in one that names the path.
pub fn is_no_space(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An I/O error in words, without Rust's ` (os error N)` or a temporary file's
/// ` at path "..."` (the path a message is about is the user's, given separately).
pub fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error ").next().unwrap_or(&text);
    let text = text.split(" at path \"").next().unwrap_or(text);
    text.to_string()
}

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
