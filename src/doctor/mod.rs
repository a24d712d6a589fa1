//! `dkwrap doctor`: explain why the NVIDIA driver does not work on this machine, read-only.
//!
//! Three stages, in data-flow order:
//! - [`probe`] reads files under `--root` (os-release, sysfs, procfs, /lib/modules,
//!   /var/lib/dkms, dpkg, pacman's local database, akmods logs, APT and pacman logs, APT and
//!   GRUB configuration), one probe per data source, into [`facts::Facts`]; it also runs
//!   `verify`'s loader checks on every driver module of the running and next-boot kernels;
//! - [`judge`] turns the facts into verdicts, evidence and fixes, a pure function;
//! - [`render`] prints them (or `--json` prints the report and the facts).
//!
//! Doctor never runs a tool (no dkms, modinfo, nvidia-smi), needs no privileges and no GPU,
//! and reads a mounted system image or a test tree just as well as `/`.

pub mod facts;
pub mod judge;
pub mod parse;
pub mod probe;
pub mod render;

use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};

/// What `--json` prints.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    #[serde(flatten)]
    pub report: &'a judge::Report,
    pub facts: &'a facts::Facts,
}

/// Examines the system under `root` for `module`: the facts read and the verdicts on them.
/// An unreadable `root` is an error; a broken machine is a report.
pub fn examine(root: &Path, module: &str) -> Result<(judge::Report, facts::Facts)> {
    if module.is_empty() || module.contains(['/', '\0']) || module == "." || module == ".." {
        return Err(Error::Usage(format!(
            "--module {}: not a module name",
            crate::output::escape(module)
        )));
    }
    let root = probe::Root::open(root)?;
    let facts = probe::gather(&root, module);
    let report = judge::judge(&facts);
    Ok((report, facts))
}
