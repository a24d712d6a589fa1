//! The kernel a run acts for, resolved once per run and passed by reference to the stages
//! (strip, verify, make, detect): its configuration facts, its release and its build tree.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Result;
use crate::kconfig::{self, KernelFacts, KernelSelector};

/// One resolved kernel.
#[derive(Debug, Clone, Serialize)]
pub struct KernelTarget {
    pub facts: KernelFacts,
    /// The kernel release (`uname -r` of that kernel), when the selection reveals it.
    pub release: Option<String>,
    /// Its build tree (`/lib/modules/KVER/build`, `--kernel-dir`), when there is one.
    pub build_dir: Option<PathBuf>,
    /// What chose this kernel, in words (`--kernel-dir`, `SYSSRC=`, `running kernel`, ...).
    pub selected_by: String,
}

impl KernelTarget {
    /// Reads the configuration the selector names and works out the release.
    pub fn resolve(selector: &KernelSelector, selected_by: impl Into<String>) -> Result<Self> {
        let config = selector.load()?;
        let facts = KernelFacts::from_config(&config)?;
        let release = selector
            .dir
            .as_deref()
            .and_then(kconfig::tree_release)
            .or_else(|| selector.release.clone())
            .or_else(|| release_beside_config(&config.source));
        Ok(KernelTarget {
            facts,
            release,
            build_dir: selector.build_dir(),
            selected_by: selected_by.into(),
        })
    }
}

/// A config inside a build tree (`<tree>/.config` or `<tree>/include/config/auto.conf`)
/// tells the tree's release.
fn release_beside_config(config: &Path) -> Option<String> {
    let parent = config.parent()?;
    kconfig::tree_release(parent).or_else(|| kconfig::tree_release(parent.parent()?.parent()?))
}
