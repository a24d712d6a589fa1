//! `verify --boot`: the boot stage's request from the flags, its verdicts printed one line
//! per module, and the code they give.

use super::ui::{self, Ui, Verdict};
use crate::boot::console::Outcome;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::boot::{BootReport, BootRequest};
use crate::cli::BootArgs;
use crate::error::{exit, Error, Result};
use crate::output::escape;
use crate::verify::discover;

/// One set of modules to check, as `verify` found them: the kernel release they are for
/// (`--installed`) and the files.
pub struct BootSet<'a> {
    pub release: Option<&'a str>,
    pub files: &'a [PathBuf],
}

/// The VMs `--boot` asks for: none without `--boot`; one for the named files; with
/// `--installed`, one per kernel, booting `ROOT/boot/vmlinuz-KVER` (or the IMAGE given) with
/// that kernel's out-of-tree modules, dependencies looked up in its own `kernel/` tree.
/// Kernels without out-of-tree modules are left out, each with a note saying so.
pub fn requests(
    args: &BootArgs,
    root: &Path,
    installed: bool,
    sets: &[BootSet],
) -> Result<(Vec<BootRequest>, Vec<String>)> {
    let Some(image) = &args.boot else {
        return Ok((Vec::new(), Vec::new()));
    };
    let base = |image: PathBuf, modules: Vec<PathBuf>, extra_search: Option<PathBuf>| BootRequest {
        image,
        modules,
        search: args
            .boot_search
            .iter()
            .cloned()
            .chain(extra_search)
            .collect(),
        qemu: args.qemu.clone(),
        timeout: Duration::from_secs(args.boot_timeout),
    };
    if !installed {
        let image = image.clone().ok_or_else(|| {
            Error::Usage("--boot needs a kernel IMAGE unless --installed names the kernel".into())
        })?;
        let files = sets.iter().flat_map(|s| s.files.iter().cloned()).collect();
        return Ok((vec![base(image, files, None)], Vec::new()));
    }
    let mut reqs = Vec::new();
    let mut notes = Vec::new();
    for set in sets {
        let Some(release) = set.release else { continue };
        let dir = root.join("lib/modules").join(release);
        let modules = discover::installed_modules(&dir, true)?;
        if modules.is_empty() {
            notes.push(format!(
                "boot {release}: no out-of-tree modules under {} to load",
                ui::path(&dir)
            ));
            continue;
        }
        let image = match image {
            Some(i) => i.clone(),
            None => installed_image(root, release)?,
        };
        reqs.push(base(image, modules, Some(dir.join("kernel"))));
    }
    Ok((reqs, notes))
}

/// `ROOT/boot/vmlinuz-KVER`, which must exist.
fn installed_image(root: &Path, release: &str) -> Result<PathBuf> {
    let image = root.join("boot").join(format!("vmlinuz-{release}"));
    if image.is_file() {
        Ok(image)
    } else {
        Err(Error::Unreadable {
            path: image,
            reason: format!("no kernel image for {release}; name one with --boot IMAGE"),
        })
    }
}

/// The code a boot report gives: a crash or hang is the worst there is; a refusal is the
/// kernel's judgement of an invalid or mismatched module.
pub fn code(r: &BootReport) -> i32 {
    let mut code = exit::OK;
    for m in &r.modules {
        let c = match &m.outcome {
            Outcome::Loaded | Outcome::InitFailed { .. } => exit::OK,
            Outcome::Crashed { .. } | Outcome::Hung | Outcome::NotReached => exit::BOOT_FAILED,
            Outcome::Refused { message } if mismatch(message) => exit::KERNEL_MISMATCH,
            Outcome::Refused { .. } => exit::INVALID_MODULE,
        };
        code = exit::most_severe(code, c);
    }
    if !r.booted {
        code = exit::most_severe(code, exit::BOOT_FAILED);
    }
    code
}

/// Refusals that say the module was built for another kernel.
fn mismatch(message: &str) -> bool {
    [
        "disagrees about version",
        "Unknown symbol",
        "version magic",
        "Key was rejected",
    ]
    .iter()
    .any(|m| message.contains(m))
}

pub fn print(ui: &Ui, r: &BootReport) {
    let accel = match &r.accel_note {
        Some(note) => format!("{} ({})", r.accel, escape(note)),
        None => r.accel.clone(),
    };
    println!(
        "boot {}: {accel}, {:.1} s{}",
        ui::path(&r.image),
        r.seconds,
        if r.booted {
            ""
        } else {
            ", the kernel did not reach the init script"
        }
    );
    for m in &r.modules {
        let (verdict, words) = match &m.outcome {
            Outcome::Loaded => (Verdict::Ok, "loaded".to_string()),
            Outcome::InitFailed { message } => (
                Verdict::Warning,
                format!(
                    "the loader accepted it; its init failed: {}",
                    escape(message)
                ),
            ),
            Outcome::Refused { message } => {
                (Verdict::Failed, format!("refused: {}", escape(message)))
            }
            Outcome::Crashed { trace } => (
                Verdict::Failed,
                format!(
                    "the kernel crashed: {}",
                    escape(trace.first().map_or("", |t| t.as_str()))
                ),
            ),
            Outcome::Hung => (
                Verdict::Failed,
                "the VM hung during the load (time limit)".into(),
            ),
            Outcome::NotReached => (
                Verdict::Failed,
                "not reached (an earlier module stopped the VM)".into(),
            ),
        };
        if ui.quiet && verdict == Verdict::Ok {
            continue;
        }
        println!(
            "boot {}: {}: {words}",
            escape(&m.name),
            ui.out_word(verdict)
        );
        if let Outcome::Crashed { trace } = &m.outcome {
            for t in trace.iter().skip(1) {
                println!("  {}", escape(t));
            }
        }
    }
    if !r.console_tail.is_empty() && !ui.quiet {
        println!("boot: last console lines:");
        for l in &r.console_tail {
            println!("  {}", escape(l));
        }
    }
}
