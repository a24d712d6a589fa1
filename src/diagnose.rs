//! Known build-failure signatures (being written): recognise a line of make output or of a
//! dkms make.log and say its cause and fix. Shared by `make` and `doctor`.

use serde::Serialize;

/// One recognised failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// Stable identifier, e.g. "gnu-strip-bfd-assertion".
    pub id: &'static str,
    /// The output line that matched.
    pub line: String,
    pub cause: String,
    pub fix: String,
}

/// Every known signature found in `output`, in order of first appearance, each once.
pub fn diagnose(_output: &str) -> Vec<Diagnosis> {
    Vec::new()
}
