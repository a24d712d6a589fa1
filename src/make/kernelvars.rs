//! Telling the package's build which kernel to build for, the way its Makefiles ask for it,
//! when the make command does not say (dkwrap chose the kernel from `--kernel-dir` or
//! `--kernel`).
//!
//! NVIDIA's Makefiles find the kernel from `SYSSRC`/`SYSOUT`, else from `KERNEL_UNAME`
//! through `/lib/modules/<release>/build`: a `--kernel-dir` tree elsewhere (dkms's
//! `--kernelsourcedir`, a CI tree) is never found, and the build fails after minutes with
//! "kernel headers missing". Kbuild-style packages read `KDIR`, `KERNELDIR`, `KSRC` and the
//! like. Each variable the package's Makefiles read and the command does not set is added,
//! naming the selected tree.

use std::path::{Path, PathBuf};

use regex::Regex;

use super::command::{last_value, KERNEL_DIR_VARIABLES};
use crate::target::KernelTarget;

/// Makefiles read to learn which variables the package uses: the make directory's and those
/// one level below it (NVIDIA's top-level Makefile runs `$(MAKE) -C kernel-open`).
const MAX_MAKEFILES: usize = 64;
/// A Makefile larger than this is not a package's (and is not read).
const MAX_MAKEFILE_BYTES: u64 = 1 << 20;

/// A variable to add, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelVariable {
    pub name: String,
    pub value: String,
    pub reason: String,
}

/// The variables to add to `args` so that the build in `make_dir` uses `kernel`.
pub fn kernel_variables(
    make_dir: &Path,
    args: &[String],
    kernel: &KernelTarget,
) -> Vec<KernelVariable> {
    let Some(build) = kernel.build_dir.as_deref() else {
        return Vec::new();
    };
    if let (Some(given), Some(release)) = (last_value(args, "KERNEL_UNAME"), &kernel.release) {
        if given != release {
            tracing::warn!(
                "KERNEL_UNAME={given}, but the selected kernel tree {} is {release}",
                build.display()
            );
        }
    }
    let text = makefiles_text(make_dir);
    let reads = |name: &str| reads_variable(&text, name);
    let unset = |name: &str| last_value(args, name).is_none_or(str::is_empty);
    let mut out = Vec::new();
    if reads("SYSSRC") && unset("SYSSRC") && unset("SYSOUT") {
        // An O= build tree links to its sources as `source`; a plain tree is both.
        let source = build.join("source");
        let source = if source.is_dir() {
            source
        } else {
            build.to_path_buf()
        };
        let why = "the package's Makefile finds the kernel through SYSSRC/SYSOUT";
        out.push(variable("SYSSRC", &source, why));
        out.push(variable("SYSOUT", build, why));
        return out;
    }
    let kbuild_style = KERNEL_DIR_VARIABLES
        .iter()
        .filter(|v| !matches!(**v, "SYSSRC" | "SYSOUT"))
        .find(|v| reads(v));
    if let Some(name) = kbuild_style {
        if KERNEL_DIR_VARIABLES.iter().all(|v| unset(v)) {
            let why = format!("the package's Makefile builds against $({name})");
            out.push(variable(name, build, &why));
        }
    }
    out
}

fn variable(name: &str, value: &Path, reason: &str) -> KernelVariable {
    KernelVariable {
        name: name.to_string(),
        value: value.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Whether a Makefile text reads `$(NAME)`, `${NAME}` or tests `ifdef NAME`.
fn reads_variable(text: &str, name: &str) -> bool {
    let pattern = format!(
        r"\$[({{]{0}[)}}]|\bif(n?def|eq|neq)\s*\(?\s*\$?\(?{0}\b",
        regex::escape(name)
    );
    Regex::new(&pattern).is_ok_and(|r| r.is_match(text))
}

/// The text of the Makefiles in `dir` and one level below.
fn makefiles_text(dir: &Path) -> String {
    let mut files: Vec<PathBuf> = makefiles_in(dir);
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut subdirs: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        subdirs.sort();
        for d in subdirs {
            files.extend(makefiles_in(&d));
        }
    }
    let mut text = String::new();
    for f in files.into_iter().take(MAX_MAKEFILES) {
        let small = std::fs::metadata(&f).is_ok_and(|m| m.len() <= MAX_MAKEFILE_BYTES);
        if let (true, Ok(t)) = (small, std::fs::read_to_string(&f)) {
            text.push_str(&t);
            text.push('\n');
        }
    }
    text
}

fn makefiles_in(dir: &Path) -> Vec<PathBuf> {
    ["GNUmakefile", "makefile", "Makefile", "Kbuild"]
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.is_file())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_ways_makefiles_read_a_variable() {
        assert!(reads_variable("  ifdef SYSSRC\n", "SYSSRC"));
        assert!(reads_variable("make -C $(KDIR) M=$(PWD)", "KDIR"));
        assert!(reads_variable("make -C ${KERNELDIR} M=$$PWD", "KERNELDIR"));
        assert!(!reads_variable("KDIRS := a b", "KDIR"));
        assert!(!reads_variable("# SYSSRCX", "SYSSRC"));
    }
}
