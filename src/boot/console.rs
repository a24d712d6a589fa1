//! Reading the test VM's serial console: what the kernel and the init script said about each
//! module, in the kernel's own words.
//!
//! The init script brackets each load with `DKWRAP-LOAD <name>` and `DKWRAP-RC <name> <rc>`
//! lines; kernel messages printed in between belong to that load. `DKWRAP-DONE` means the
//! script got to its end.

use serde::Serialize;

/// Printed by the init script (see [`super::init_script`]).
pub const BOOTED: &str = "DKWRAP-BOOTED";
pub const LOAD: &str = "DKWRAP-LOAD ";
pub const RC: &str = "DKWRAP-RC ";
pub const DONE: &str = "DKWRAP-DONE";

/// Kernel lines that mean the kernel itself went wrong.
const CRASH_MARKERS: &[&str] = &[
    "BUG:",
    "Oops",
    "general protection fault",
    "Kernel panic",
    "kernel BUG at",
    "WARNING: CPU:",
    "Call Trace:",
    "RIP: ",
];

/// What happened to one module in the VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum Outcome {
    /// The loader accepted it and its init returned 0.
    Loaded,
    /// The loader refused it; `message` is the kernel's reason.
    Refused { message: String },
    /// The loader accepted it, but its init function failed (`insmod`'s words, e.g. "No
    /// such device": an nvidia module on a machine without a GPU).
    InitFailed { message: String },
    /// The kernel oopsed, warned or panicked while loading it: the first lines.
    Crashed { trace: Vec<String> },
    /// The VM stopped answering (hang or panic without output) before the load ended.
    Hung,
    /// Never reached: an earlier module hung or crashed the VM.
    NotReached,
}

impl Outcome {
    /// The loader accepted the module (an init failure after that included).
    pub fn loaded(&self) -> bool {
        matches!(self, Outcome::Loaded | Outcome::InitFailed { .. })
    }
}

/// The verdict on one module.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleBoot {
    pub name: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Every kernel line printed during its load.
    pub kernel_lines: Vec<String>,
}

/// A console line without its `[   12.345678] ` timestamp.
fn message(line: &str) -> &str {
    let l = line.trim_end_matches('\r').trim_start();
    match (l.starts_with('['), l.find("] ")) {
        (true, Some(end)) => &l[end + 2..],
        _ => l,
    }
}

/// The per-module outcomes, in load order, from the whole console text.
pub fn outcomes(console: &str, names: &[String]) -> Vec<ModuleBoot> {
    let lines: Vec<&str> = console.lines().map(message).collect();
    let mut out = Vec::new();
    let mut at = 0;
    for name in names {
        let start = lines[at..]
            .iter()
            .position(|l| l.strip_prefix(LOAD) == Some(name.as_str()));
        let Some(start) = start.map(|s| at + s + 1) else {
            out.push(ModuleBoot {
                name: name.clone(),
                outcome: if out.is_empty() {
                    Outcome::Hung
                } else {
                    Outcome::NotReached
                },
                kernel_lines: Vec::new(),
            });
            continue;
        };
        let end = lines[start..]
            .iter()
            .position(|l| l.starts_with(RC) || l.starts_with(LOAD) || *l == DONE)
            .map(|e| start + e);
        let window: Vec<String> = lines[start..end.unwrap_or(lines.len())]
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| l.to_string())
            .collect();
        let rc = end
            .and_then(|e| lines[e].strip_prefix(RC))
            .and_then(|rest| rest.rsplit(' ').next())
            .and_then(|n| n.parse::<i32>().ok());
        let outcome = judge(name, rc, &window);
        at = end.unwrap_or(lines.len());
        out.push(ModuleBoot {
            name: name.clone(),
            outcome,
            kernel_lines: window,
        });
    }
    out
}

/// One load's outcome from its exit status and the lines printed meanwhile.
fn judge(name: &str, rc: Option<i32>, window: &[String]) -> Outcome {
    let crash: Vec<String> = window
        .iter()
        .skip_while(|l| !CRASH_MARKERS.iter().any(|m| l.contains(m)))
        .take(12)
        .cloned()
        .collect();
    if !crash.is_empty() {
        return Outcome::Crashed { trace: crash };
    }
    let Some(rc) = rc else {
        return Outcome::Hung;
    };
    if rc == 0 {
        return Outcome::Loaded;
    }
    // The kernel's own reason, as the loader prints it: "<name>: Unknown symbol X",
    // "<name>: disagrees about version of symbol X", "module: x86/modules: ...".
    let kernel = window.iter().find(|l| {
        !l.starts_with("insmod:")
            && (l.starts_with(&format!("{name}: "))
                || l.starts_with(&format!("{}: ", name.replace('-', "_")))
                || l.starts_with("module: ")
                || l.contains("Invalid module format")
                || l.contains("Key was rejected"))
    });
    let insmod = window.iter().find(|l| l.starts_with("insmod:"));
    match (kernel, insmod) {
        (Some(k), _) => Outcome::Refused { message: k.clone() },
        (None, Some(i)) if init_failure(i) => Outcome::InitFailed { message: i.clone() },
        (None, Some(i)) => Outcome::Refused { message: i.clone() },
        (None, None) => Outcome::Refused {
            message: format!("insmod exited with status {rc}"),
        },
    }
}

/// busybox insmod reports the errno of `init_module`; these come from the module's own init
/// function once the loader has accepted it.
fn init_failure(insmod_line: &str) -> bool {
    const INIT_ERRNOS: &[&str] = &[
        "No such device",
        "No such device or address",
        "Device or resource busy",
        "Operation not supported",
        "Cannot allocate memory",
        "Input/output error",
    ];
    INIT_ERRNOS.iter().any(|e| insmod_line.ends_with(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn loads_refusals_init_failures_and_crashes_are_told_apart() {
        let console = "\
[    1.0] random boot line\r
DKWRAP-BOOTED
DKWRAP-LOAD fat
DKWRAP-RC fat 0
DKWRAP-LOAD vfat
[    2.5] vfat: disagrees about version of symbol fat_alloc_new_dir
[    2.5] vfat: Unknown symbol fat_alloc_new_dir (err -22)
insmod: can't insert '/m/vfat.ko': invalid module format
DKWRAP-RC vfat 1
DKWRAP-LOAD nvidia
insmod: can't insert '/m/nvidia.ko': No such device
DKWRAP-RC nvidia 1
DKWRAP-LOAD broken
[    3.0] BUG: unable to handle page fault for address: ffffffffc0001000
[    3.0] Oops: 0000 [#1] PREEMPT SMP NOPTI
";
        let o = outcomes(
            console,
            &names(&["fat", "vfat", "nvidia", "broken", "after"]),
        );
        assert_eq!(o[0].outcome, Outcome::Loaded);
        assert_eq!(
            o[1].outcome,
            Outcome::Refused {
                message: "vfat: disagrees about version of symbol fat_alloc_new_dir".into()
            }
        );
        assert!(matches!(o[2].outcome, Outcome::InitFailed { .. }));
        match &o[3].outcome {
            Outcome::Crashed { trace } => assert!(trace[0].starts_with("BUG: unable")),
            other => panic!("{other:?}"),
        }
        assert_eq!(o[4].outcome, Outcome::NotReached);
    }

    #[test]
    fn a_load_that_never_ends_is_a_hang() {
        let o = outcomes("DKWRAP-BOOTED\nDKWRAP-LOAD m\n", &names(&["m"]));
        assert_eq!(o[0].outcome, Outcome::Hung);
        let o = outcomes("no marker at all\n", &names(&["m"]));
        assert_eq!(o[0].outcome, Outcome::Hung);
    }
}
