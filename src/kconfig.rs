//! Finding and reading a kernel's configuration, and the facts dkwrap derives from it:
//! which compiler, linker and LTO mode built the kernel, its architecture, and the module
//! options (MODVERSIONS, signing, compression, BTF) that decide how a module must look.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// Which kernel the user means.
#[derive(Debug, Clone, Default)]
pub struct KernelSelector {
    /// `--kernel KVER`: `/lib/modules/KVER/build`, `/boot/config-KVER`, `/proc/config.gz`.
    pub release: Option<String>,
    /// `--kernel-dir DIR`: a kernel build (output) tree.
    pub dir: Option<PathBuf>,
    /// `--config FILE`: a `.config` or `auto.conf`.
    pub config: Option<PathBuf>,
    /// Prefix for system paths (`/lib/modules`, `/boot`, `/proc`); `/` normally, a test tree in tests.
    pub root: PathBuf,
}

impl KernelSelector {
    pub fn is_empty(&self) -> bool {
        self.release.is_none() && self.dir.is_none() && self.config.is_none()
    }

    fn under_root(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    /// The release of the running kernel, read from `/proc/sys/kernel/osrelease`.
    pub fn running_release(&self) -> Option<String> {
        std::fs::read_to_string(self.under_root("/proc/sys/kernel/osrelease"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// The build tree for the selection, if there is one.
    pub fn build_dir(&self) -> Option<PathBuf> {
        if let Some(d) = &self.dir {
            return Some(d.clone());
        }
        let release = self.release.clone().or_else(|| {
            self.config
                .is_none()
                .then(|| self.running_release())
                .flatten()
        })?;
        Some(self.under_root(&format!("/lib/modules/{release}/build")))
    }

    /// Candidate configuration files in the order they are tried.
    pub fn candidates(&self) -> Vec<PathBuf> {
        if let Some(c) = &self.config {
            return vec![c.clone()];
        }
        // The running release is read once: it names the build tree and /boot config when no
        // release is given, and decides whether /proc/config.gz describes the kernel asked for.
        let running = self.running_release();
        let release = self
            .release
            .clone()
            .or_else(|| self.dir.is_none().then(|| running.clone()).flatten());
        let build = self.dir.clone().or_else(|| {
            release
                .as_ref()
                .map(|r| self.under_root(&format!("/lib/modules/{r}/build")))
        });
        let mut out = Vec::new();
        if let Some(build) = build {
            out.push(build.join("include/config/auto.conf"));
            out.push(build.join(".config"));
        }
        if let Some(r) = &release {
            out.push(self.under_root(&format!("/boot/config-{r}")));
            if running.as_deref() == Some(r.as_str()) {
                out.push(self.under_root("/proc/config.gz"));
            }
        }
        out
    }

    /// Reads the first configuration that exists. A file that exists but cannot be read or
    /// parsed is an error (not silently skipped: a corrupt config.gz must be reported).
    pub fn load(&self) -> Result<KernelConfig> {
        let candidates = self.candidates();
        for path in &candidates {
            if !path.exists() {
                continue;
            }
            return KernelConfig::read(path);
        }
        let tried = if candidates.is_empty() {
            "no kernel given and the running kernel's release is unknown".to_string()
        } else {
            format!(
                "tried {}",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Err(Error::NoKernelConfig(format!(
            "no kernel configuration found ({tried}); pass --kernel, --kernel-dir or --config"
        )))
    }
}

/// One configuration value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Yes,
    Module,
    /// A string (quotes removed) or number, as written.
    Text(String),
    /// `# CONFIG_X is not set`
    NotSet,
}

/// A parsed kernel configuration.
#[derive(Debug, Clone)]
pub struct KernelConfig {
    pub source: PathBuf,
    values: HashMap<String, Value>,
}

impl KernelConfig {
    /// Reads `.config`, `auto.conf` or a gzip-compressed `config.gz`.
    pub fn read(path: &Path) -> Result<Self> {
        let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut s = String::new();
            flate2::read::MultiGzDecoder::new(&raw[..])
                .read_to_string(&mut s)
                .map_err(|e| Error::BadKernelConfig {
                    path: path.to_path_buf(),
                    reason: format!("corrupt gzip stream: {e}"),
                })?;
            s
        } else {
            String::from_utf8(raw).map_err(|e| Error::BadKernelConfig {
                path: path.to_path_buf(),
                reason: format!(
                    "not a text file (invalid UTF-8 at byte {})",
                    e.utf8_error().valid_up_to()
                ),
            })?
        };
        Self::parse(&text, path)
    }

    /// Parses configuration text. Lines that are neither assignments, `is not set` comments,
    /// comments nor blank make the whole file invalid: it is then not a kernel config.
    pub fn parse(text: &str, source: &Path) -> Result<Self> {
        let mut values = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# ") {
                if let Some(name) = rest
                    .strip_suffix(" is not set")
                    .and_then(|r| r.strip_prefix("CONFIG_"))
                {
                    values.insert(name.to_string(), Value::NotSet);
                }
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.strip_prefix("CONFIG_").and_then(|l| l.split_once('='))
            else {
                return Err(Error::BadKernelConfig {
                    path: source.to_path_buf(),
                    reason: format!(
                        "line {}: not a kernel config line: {:?}",
                        n + 1,
                        truncate(line, 60)
                    ),
                });
            };
            let value = match value {
                "y" => Value::Yes,
                "m" => Value::Module,
                v if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') => {
                    Value::Text(unescape(&v[1..v.len() - 1]))
                }
                v => Value::Text(v.to_string()),
            };
            values.insert(key.to_string(), value);
        }
        if values.is_empty() {
            return Err(Error::BadKernelConfig {
                path: source.to_path_buf(),
                reason: "no CONFIG_ entries".into(),
            });
        }
        Ok(KernelConfig {
            source: source.to_path_buf(),
            values,
        })
    }

    /// `CONFIG_<name>=y` or `=m`.
    pub fn enabled(&self, name: &str) -> bool {
        matches!(self.values.get(name), Some(Value::Yes | Value::Module))
    }

    /// A string or number value.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some(Value::Text(s)) => Some(s),
            _ => None,
        }
    }

    pub fn value(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CompilerFamily {
    Clang,
    Gcc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lto {
    None,
    Thin,
    Full,
}

/// Kernel architecture, named as Kbuild's `ARCH=` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    X86_64,
    Arm64,
    Other,
}

impl Arch {
    /// The name used in reports: "x86_64", "arm64".
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
            Arch::Other => "other",
        }
    }

    /// The `ARCH=` value for make.
    pub fn kbuild_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86",
            Arch::Arm64 => "arm64",
            Arch::Other => "unknown",
        }
    }
    /// The ELF machine a module for this architecture carries.
    pub fn elf_machine(self) -> Option<u16> {
        match self {
            Arch::X86_64 => Some(crate::elf::EM_X86_64),
            Arch::Arm64 => Some(crate::elf::EM_AARCH64),
            Arch::Other => None,
        }
    }
    pub fn from_elf_machine(m: u16) -> Arch {
        match m {
            crate::elf::EM_X86_64 => Arch::X86_64,
            crate::elf::EM_AARCH64 => Arch::Arm64,
            _ => Arch::Other,
        }
    }
    /// The architecture dkwrap itself runs on.
    pub fn host() -> Arch {
        match std::env::consts::ARCH {
            "x86_64" => Arch::X86_64,
            "aarch64" => Arch::Arm64,
            _ => Arch::Other,
        }
    }
    /// Debian's multiarch triplet, for cross tools.
    pub fn gnu_triplet(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-linux-gnu",
            Arch::Arm64 => "aarch64-linux-gnu",
            Arch::Other => "unknown",
        }
    }
}

/// What the configuration says about how the kernel was built and what its modules need.
#[derive(Debug, Clone, Serialize)]
pub struct KernelFacts {
    pub config_path: PathBuf,
    pub compiler: CompilerFamily,
    /// Full version, e.g. "19.1.7" (from CONFIG_CLANG_VERSION / CONFIG_GCC_VERSION).
    pub compiler_version: String,
    pub compiler_major: u32,
    /// CONFIG_CC_VERSION_TEXT, e.g. "Debian clang version 19.1.7 (3~deb12u1)".
    pub cc_version_text: Option<String>,
    pub linker_lld: bool,
    pub lto: Lto,
    /// CONFIG_LTO_CLANG_THIN_DIST (distributed ThinLTO, newer kernels).
    pub lto_thin_dist: bool,
    pub arch: Arch,
    pub modversions: bool,
    pub module_sig: bool,
    pub module_sig_force: bool,
    /// CONFIG_MODULE_COMPRESS_{ZSTD,XZ,GZIP}.
    pub module_compression: Option<String>,
    pub btf_modules: bool,
    pub smp: bool,
    pub preempt: Option<String>,
    pub module_unload: bool,
    /// CONFIG_STRICT_MODULE_RWX: a section both writable and executable is refused.
    pub strict_module_rwx: bool,
}

impl KernelFacts {
    pub fn from_config(c: &KernelConfig) -> Result<Self> {
        let compiler = if c.enabled("CC_IS_CLANG") {
            CompilerFamily::Clang
        } else if c.enabled("CC_IS_GCC") {
            CompilerFamily::Gcc
        } else {
            return Err(Error::BadKernelConfig {
                path: c.source.clone(),
                reason: "neither CONFIG_CC_IS_CLANG nor CONFIG_CC_IS_GCC is set: cannot tell which compiler built this kernel".into(),
            });
        };
        let version_key = match compiler {
            CompilerFamily::Clang => "CLANG_VERSION",
            CompilerFamily::Gcc => "GCC_VERSION",
        };
        let numeric: u32 = c
            .text(version_key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        // 190107 -> 19.1.7; 120200 -> 12.2.0
        let compiler_major = numeric / 10000;
        let compiler_version = if numeric > 0 {
            format!(
                "{}.{}.{}",
                numeric / 10000,
                numeric / 100 % 100,
                numeric % 100
            )
        } else {
            "unknown".into()
        };
        let lto = if c.enabled("LTO_CLANG_FULL") {
            Lto::Full
        } else if c.enabled("LTO_CLANG_THIN") || c.enabled("LTO_CLANG_THIN_DIST") {
            Lto::Thin
        } else if c.enabled("LTO_CLANG") {
            // LTO_CLANG without a mode flag: older kernels; the mode is then Full.
            Lto::Full
        } else {
            Lto::None
        };
        let arch = if c.enabled("X86_64") {
            Arch::X86_64
        } else if c.enabled("ARM64") {
            Arch::Arm64
        } else {
            Arch::Other
        };
        let module_compression = ["ZSTD", "XZ", "GZIP"]
            .into_iter()
            .find(|k| c.enabled(&format!("MODULE_COMPRESS_{k}")))
            .map(|k| k.to_lowercase());
        // include/linux/vermagic.h: "preempt" follows PREEMPT_BUILD (5.16+; plain PREEMPT
        // before it), "preempt_rt" follows PREEMPT_RT when the build is not PREEMPT_BUILD.
        let preempt = if c.enabled("PREEMPT_BUILD") {
            Some("preempt".to_string())
        } else if c.enabled("PREEMPT_RT") {
            Some("preempt_rt".to_string())
        } else if c.value("PREEMPT_BUILD").is_none() && c.enabled("PREEMPT") {
            Some("preempt".to_string())
        } else {
            None
        };
        Ok(KernelFacts {
            config_path: c.source.clone(),
            compiler,
            compiler_version,
            compiler_major,
            cc_version_text: c.text("CC_VERSION_TEXT").map(str::to_string),
            linker_lld: c.enabled("LD_IS_LLD"),
            lto,
            lto_thin_dist: c.enabled("LTO_CLANG_THIN_DIST"),
            arch,
            modversions: c.enabled("MODVERSIONS"),
            module_sig: c.enabled("MODULE_SIG"),
            module_sig_force: c.enabled("MODULE_SIG_FORCE"),
            module_compression,
            btf_modules: c.enabled("DEBUG_INFO_BTF_MODULES"),
            smp: c.enabled("SMP"),
            preempt,
            module_unload: c.enabled("MODULE_UNLOAD"),
            strict_module_rwx: c.enabled("STRICT_MODULE_RWX"),
        })
    }

    /// The vermagic flags (after the release) a module for this kernel must carry, in the
    /// kernel's order: "SMP preempt mod_unload modversions" (include/linux/vermagic.h).
    pub fn vermagic_flags(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.smp {
            v.push("SMP");
        }
        match self.preempt.as_deref() {
            Some("preempt_rt") => v.push("preempt_rt"),
            Some(_) => v.push("preempt"),
            None => {}
        }
        if self.module_unload {
            v.push("mod_unload");
        }
        if self.modversions {
            v.push("modversions");
        }
        v
    }
}

/// The kernel release of a build tree: `include/generated/utsrelease.h`, else
/// `include/config/kernel.release`.
pub fn tree_release(dir: &Path) -> Option<String> {
    // UTS_RELEASE is what vermagic carries; Debian's header packages write another string
    // (the upstream version, 6.1.170 for 6.1.0-47-amd64) to kernel.release.
    let uts = std::fs::read_to_string(dir.join("include/generated/utsrelease.h"))
        .ok()
        .and_then(|h| {
            let start = h.find('"')? + 1;
            let end = start + h[start..].find('"')?;
            Some(h[start..end].to_string())
        })
        .filter(|s| !s.is_empty());
    uts.or_else(|| {
        let s = std::fs::read_to_string(dir.join("include/config/kernel.release")).ok()?;
        Some(s.trim().to_string()).filter(|s| !s.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const THIN: &str = r#"
# Automatically generated file; DO NOT EDIT.
CONFIG_CC_VERSION_TEXT="Debian clang version 19.1.7 (3~deb12u1)"
CONFIG_CC_IS_CLANG=y
CONFIG_CLANG_VERSION=190107
CONFIG_LD_IS_LLD=y
CONFIG_LTO_CLANG=y
CONFIG_LTO_CLANG_THIN=y
# CONFIG_LTO_NONE is not set
CONFIG_X86_64=y
CONFIG_SMP=y
CONFIG_MODULE_UNLOAD=y
CONFIG_MODVERSIONS=y
CONFIG_MODULE_COMPRESS_ZSTD=y
"#;

    #[test]
    fn parses_values_and_derives_facts() {
        let c = KernelConfig::parse(THIN, Path::new("t")).unwrap();
        assert_eq!(c.value("LTO_NONE"), Some(&Value::NotSet));
        assert_eq!(
            c.text("CC_VERSION_TEXT"),
            Some("Debian clang version 19.1.7 (3~deb12u1)")
        );
        let f = KernelFacts::from_config(&c).unwrap();
        assert_eq!(f.compiler, CompilerFamily::Clang);
        assert_eq!(f.compiler_major, 19);
        assert_eq!(f.compiler_version, "19.1.7");
        assert_eq!(f.lto, Lto::Thin);
        assert!(f.linker_lld);
        assert_eq!(f.arch, Arch::X86_64);
        assert_eq!(f.module_compression.as_deref(), Some("zstd"));
        assert_eq!(f.vermagic_flags(), ["SMP", "mod_unload", "modversions"]);
    }

    #[test]
    fn rejects_garbage_and_configs_without_compiler() {
        assert!(KernelConfig::parse("hello world\n", Path::new("x")).is_err());
        assert!(KernelConfig::parse("", Path::new("x")).is_err());
        let c = KernelConfig::parse("CONFIG_X86_64=y\n", Path::new("x")).unwrap();
        let e = KernelFacts::from_config(&c).unwrap_err();
        assert!(e.to_string().contains("CC_IS_CLANG"));
    }
}
