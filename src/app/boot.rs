//! `verify --boot`: the boot stage's request from the flags, its verdicts printed one line
//! per module, and the code they give.

use super::ui::{self, Ui, Verdict};
use crate::boot::console::Outcome;
use crate::boot::{BootReport, BootRequest};
use crate::cli::BootArgs;
use crate::error::{exit, Result};
use crate::output::escape;

/// Boots the image with `files` when `--boot` was given; `None` otherwise.
pub fn run(args: &BootArgs, files: &[std::path::PathBuf]) -> Result<Option<BootReport>> {
    let Some(image) = &args.boot else {
        return Ok(None);
    };
    let req = BootRequest {
        image: image.clone(),
        modules: files.to_vec(),
        search: args.boot_search.clone(),
        qemu: args.qemu.clone(),
        timeout: std::time::Duration::from_secs(args.boot_timeout),
    };
    crate::boot::boot(&req).map(Some)
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
