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

use serde::Serialize;

use crate::cli::DoctorArgs;
use crate::error::{exit, Error, Result};
use crate::output;

/// What `--json` prints.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    #[serde(flatten)]
    pub report: &'a judge::Report,
    pub facts: &'a facts::Facts,
}

/// Runs `dkwrap doctor`: exit::OK when healthy, exit::PROBLEMS_FOUND when something is
/// broken or will break; an unreadable `--root` is an error (exit::UNREADABLE).
pub fn run(args: &DoctorArgs) -> Result<i32> {
    let m = &args.module;
    if m.is_empty() || m.contains(['/', '\0']) || m == "." || m == ".." {
        return Err(Error::Usage(format!(
            "--module {}: not a module name",
            output::escape(m)
        )));
    }
    let root = probe::Root::open(&args.root)?;
    let facts = probe::gather(&root, m);
    let report = judge::judge(&facts);
    if args.json {
        output::print_json(&JsonReport {
            report: &report,
            facts: &facts,
        })?;
    } else {
        print!("{}", output::escape(&render::text(&report)));
    }
    Ok(if report.healthy {
        exit::OK
    } else {
        exit::PROBLEMS_FOUND
    })
}
