//! Finding the tools a module build and strip need, matched to the compiler that built the
//! kernel: `clang-19` or a `clang` whose `--version` says 19, `ld.lld-19`, `llvm-strip-19`,
//! `/usr/lib/llvm-19/bin/...`; GNU strip for GCC kernels. Never guesses: a tool whose major
//! version does not match is not used, and a missing tool is named with its package.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::kconfig::{Arch, CompilerFamily, KernelFacts};

/// A resolved (or missing) tool.
#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    /// What it is for: "clang", "ld.lld", "llvm-strip", ...
    pub role: String,
    pub path: Option<PathBuf>,
    pub version: Option<String>,
    /// Packages that provide it, when missing: "Debian/Ubuntu: lld-19; Arch: lld; Fedora: lld".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install_hint: Option<String>,
}

impl Tool {
    pub fn found(&self) -> bool {
        self.path.is_some()
    }
}

/// Every executable `name` in an absolute PATH entry that dkwrap may run, in PATH order.
///
/// A relative entry (`.`, `bin`, an empty one) names whatever directory dkwrap is started
/// in and is never searched. As root, a tool is run only when it, its PATH directory and
/// the directory it resolves into are owned by root and writable by nobody else (the test
/// `sudo`'s secure_path relies on): anything else could be replaced by another user.
/// Each skipped entry or tool is logged once. Nothing is probed with `--version` before
/// passing these checks.
pub fn find_all_on_path(name: &str) -> Vec<PathBuf> {
    let Some(path) = std::env::var_os("PATH") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for dir in std::env::split_paths(&path) {
        if !dir.is_absolute() {
            warn_once(format!(
                "PATH entry {:?} is relative: not searched for tools",
                dir.display().to_string()
            ));
            continue;
        }
        let candidate = dir.join(name);
        // Never dkwrap's own links (its shim directory is first on PATH inside dkms).
        if !is_executable_file(&candidate) || is_dkwrap(&candidate) {
            continue;
        }
        match untrusted_reason(&candidate) {
            None => found.push(candidate),
            Some(why) => warn_once(format!("{} not used: {why}", candidate.display())),
        }
    }
    found
}

/// The first of [`find_all_on_path`].
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    find_all_on_path(name).into_iter().next()
}

/// `path` if it is an executable dkwrap may run (see [`find_all_on_path`]).
pub fn usable_tool(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() || !is_executable_file(path) {
        return None;
    }
    match untrusted_reason(path) {
        None => Some(path.to_path_buf()),
        Some(why) => {
            warn_once(format!("{} not used: {why}", path.display()));
            None
        }
    }
}

fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Why root must not run `tool`: it, its directory or the directory it resolves into is
/// not root's alone. Always `None` for other users (they can only hurt themselves).
fn untrusted_reason(tool: &Path) -> Option<String> {
    // Safety: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let resolved = std::fs::canonicalize(tool).unwrap_or_else(|_| tool.to_path_buf());
    let mut checked = vec![tool.to_path_buf()];
    checked.extend(tool.parent().map(Path::to_path_buf));
    checked.extend(resolved.parent().map(Path::to_path_buf));
    checked.push(resolved);
    checked.into_iter().find_map(|p| not_roots_alone(&p))
}

fn not_roots_alone(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(path) else {
        return Some(format!("{} cannot be examined", path.display()));
    };
    if m.uid() != 0 {
        Some(format!(
            "{} is owned by uid {}, not root",
            path.display(),
            m.uid()
        ))
    } else if m.mode() & 0o022 != 0 {
        Some(format!(
            "{} is writable by group or others (mode {:o})",
            path.display(),
            m.mode() & 0o7777
        ))
    } else {
        None
    }
}

/// Logs `message` the first time it is seen in this run.
fn warn_once(message: String) {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if !seen.contains(&message) {
        tracing::warn!("{message}");
        seen.push(message);
    }
}

/// What `TOOL --version` prints on stdout (never through a shell).
fn version_banner(path: &Path) -> Option<String> {
    let out = duct::cmd(path, ["--version"])
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Reads `TOOL --version` and returns the first dotted version number in it.
pub fn tool_version(path: &Path) -> Option<String> {
    let text = version_banner(path)?;
    let first = text.lines().find(|l| !l.trim().is_empty())?;
    parse_version(first)
}

/// The version number on a `--version` line: "Debian clang version 19.1.7 (3~deb12u1)" → 19.1.7,
/// "GNU strip (GNU Binutils for Debian) 2.40" → 2.40, "LLVM version 14.0.6" → 14.0.6.
pub fn parse_version(line: &str) -> Option<String> {
    line.split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .find(|w| {
            let mut parts = w.split('.');
            w.contains('.')
                && parts
                    .next()
                    .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
                && parts
                    .next()
                    .is_some_and(|p| p.chars().next().is_some_and(|c| c.is_ascii_digit()))
        })
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_digit())
                .to_string()
        })
}

/// The major number of a version string.
pub fn major_of(version: &str) -> Option<u32> {
    version.split('.').next()?.parse().ok()
}

fn llvm_version_of(path: &Path) -> Option<String> {
    // llvm-strip prints "LLVM version X" on its second line, clang "clang version X" on its
    // first, ld.lld "LLD X (compatible with GNU linkers)" without the word.
    let text = version_banner(path)?;
    text.lines()
        .find(|l| l.contains("version"))
        .and_then(parse_version)
        .or_else(|| text.lines().find_map(parse_version))
}

fn debian_package(base: &str, major: u32) -> String {
    match base {
        "clang" | "clang++" => format!("clang-{major}"),
        "ld.lld" => format!("lld-{major}"),
        _ => format!("llvm-{major}"),
    }
}

fn generic_package(base: &str) -> &'static str {
    match base {
        "clang" | "clang++" => "clang",
        "ld.lld" => "lld",
        _ => "llvm",
    }
}

/// Where versioned LLVM installs live (`/usr/lib/llvm-19/bin`); `DKWRAP_LLVM_ROOT` overrides
/// it, so tests can simulate a machine without them. A relative override is ignored, and
/// tools under it pass the same checks as PATH's ([`usable_tool`]).
pub fn llvm_root() -> PathBuf {
    match std::env::var_os("DKWRAP_LLVM_ROOT").map(PathBuf::from) {
        Some(root) if root.is_absolute() => root,
        Some(root) => {
            warn_once(format!(
                "DKWRAP_LLVM_ROOT {:?} is relative: ignored",
                root.display().to_string()
            ));
            PathBuf::from("/usr/lib")
        }
        None => PathBuf::from("/usr/lib"),
    }
}

/// Whether `path` runs dkwrap itself (a link in dkwrap's shim directory: `strip`, `make`...).
pub fn is_dkwrap(path: &Path) -> bool {
    static SELF: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let me = SELF.get_or_init(|| std::env::current_exe().and_then(std::fs::canonicalize).ok());
    match (me, std::fs::canonicalize(path)) {
        (Some(me), Ok(p)) => *me == p,
        _ => false,
    }
}

/// Every `name` on PATH, in order, except dkwrap's own links: a tool dkwrap runs must never
/// be dkwrap again (the shim directory is first on PATH inside dkms). The same trust rules
/// as every tool ([`find_all_on_path`]).
pub fn which_all_but_dkwrap(name: impl AsRef<std::ffi::OsStr>) -> Vec<PathBuf> {
    find_all_on_path(&name.as_ref().to_string_lossy())
}

/// Finds LLVM tool `base` ("clang", "ld.lld", "llvm-strip", ...) of major version `major`:
/// `base-MAJOR` on PATH, then `/usr/lib/llvm-MAJOR/bin/base`, then plain `base` if its
/// `--version` has the same major.
pub fn find_llvm_tool(base: &str, major: u32) -> Tool {
    let mut candidates: Vec<PathBuf> = Vec::new();
    candidates.extend(find_on_path(&format!("{base}-{major}")));
    let versioned = llvm_root().join(format!("llvm-{major}/bin/{base}"));
    candidates.extend(usable_tool(&versioned));
    candidates.extend(find_on_path(base));
    for path in candidates {
        if let Some(v) = llvm_version_of(&path) {
            if major_of(&v) == Some(major) {
                return Tool {
                    role: base.to_string(),
                    path: Some(path),
                    version: Some(v),
                    install_hint: None,
                };
            }
        }
    }
    Tool {
        role: base.to_string(),
        path: None,
        version: None,
        install_hint: Some(format!(
            "Debian/Ubuntu: apt install {}; Arch: pacman -S {}; Fedora: dnf install {}",
            debian_package(base, major),
            generic_package(base),
            generic_package(base)
        )),
    }
}

/// GNU strip (binutils) on PATH, or the cross one for a foreign architecture.
pub fn find_gnu_strip(arch: Arch) -> Tool {
    let name = if arch == Arch::host() {
        "strip".to_string()
    } else {
        format!("{}-strip", arch.gnu_triplet())
    };
    // Every `strip` on PATH, in order: when dkwrap itself is installed as `strip` (the dkms
    // shim) it is skipped, since it is not GNU.
    for path in find_all_on_path(&name) {
        let text = version_banner(&path).unwrap_or_default();
        if text.contains("GNU") {
            return Tool {
                role: "strip (GNU)".into(),
                path: Some(path),
                version: text.lines().next().and_then(parse_version),
                install_hint: None,
            };
        }
    }
    Tool {
        role: "strip (GNU)".into(),
        path: None,
        version: None,
        install_hint: Some(format!(
            "Debian/Ubuntu: apt install {}; Arch: pacman -S binutils; Fedora: dnf install binutils",
            if arch == Arch::host() {
                "binutils".to_string()
            } else {
                format!("binutils-{}", arch.gnu_triplet())
            }
        )),
    }
}

/// The LLVM tools a build of a module for a clang kernel needs, in the order `make` passes them.
pub const LLVM_BUILD_TOOLS: &[(&str, &str)] = &[
    ("CC", "clang"),
    ("CXX", "clang++"),
    ("LD", "ld.lld"),
    ("AR", "llvm-ar"),
    ("NM", "llvm-nm"),
    ("OBJCOPY", "llvm-objcopy"),
    ("OBJDUMP", "llvm-objdump"),
    ("READELF", "llvm-readelf"),
    ("STRIP", "llvm-strip"),
];

/// The tools resolved for a kernel.
#[derive(Debug, Clone, Serialize)]
pub struct Toolset {
    /// Make variable → tool, for clang kernels (empty for GCC kernels).
    pub llvm: Vec<(String, Tool)>,
    /// The strip dkwrap would run: llvm-strip for clang kernels, GNU strip for GCC kernels.
    pub strip: Tool,
    /// `LLVM=` value Kbuild understands for these tools, when they are complete.
    pub llvm_make_value: Option<String>,
}

impl Toolset {
    pub fn resolve(facts: &KernelFacts) -> Toolset {
        match facts.compiler {
            CompilerFamily::Clang => {
                let major = facts.compiler_major;
                let llvm: Vec<(String, Tool)> = LLVM_BUILD_TOOLS
                    .iter()
                    .map(|(var, base)| (var.to_string(), find_llvm_tool(base, major)))
                    .collect();
                let strip = llvm
                    .iter()
                    .find(|(v, _)| v == "STRIP")
                    .map(|(_, t)| t.clone())
                    .unwrap_or_else(|| find_llvm_tool("llvm-strip", major));
                let llvm_make_value = llvm_make_value(&llvm, major);
                Toolset {
                    llvm,
                    strip,
                    llvm_make_value,
                }
            }
            CompilerFamily::Gcc => Toolset {
                llvm: Vec::new(),
                strip: find_gnu_strip(facts.arch),
                llvm_make_value: None,
            },
        }
    }

    pub fn missing(&self) -> Vec<&Tool> {
        self.llvm
            .iter()
            .map(|(_, t)| t)
            .chain(std::iter::once(&self.strip))
            .filter(|t| !t.found())
            .collect()
    }

    pub fn tool(&self, var: &str) -> Option<&Tool> {
        self.llvm.iter().find(|(v, _)| v == var).map(|(_, t)| t)
    }
}

/// Which `LLVM=` form names the resolved clang: `LLVM=/usr/lib/llvm-19/bin/` when the tools
/// live there, `LLVM=-19` when they are suffixed on PATH, `LLVM=1` when unsuffixed.
fn llvm_make_value(llvm: &[(String, Tool)], major: u32) -> Option<String> {
    let cc = llvm.iter().find(|(v, _)| v == "CC")?.1.path.as_ref()?;
    let name = cc.file_name()?.to_string_lossy();
    let dir = llvm_root().join(format!("llvm-{major}/bin"));
    if cc.starts_with(&dir) {
        Some(format!("{}/", dir.display()))
    } else if name == format!("clang-{major}") {
        Some(format!("-{major}"))
    } else {
        Some("1".into())
    }
}

/// Compilers named in a `.comment` section: ("clang", "19.1.7") or ("gcc", "12.2.0").
pub fn compilers_in_comment(comments: &[String]) -> Vec<(CompilerFamily, String)> {
    let mut out = Vec::new();
    for c in comments {
        let family = if c.contains("clang version") {
            CompilerFamily::Clang
        } else if c.starts_with("GCC:") {
            CompilerFamily::Gcc
        } else {
            continue;
        };
        // GCC's line ends in the version; clang's has it after "version".
        let version = match family {
            CompilerFamily::Clang => c.split("clang version").nth(1).and_then(parse_version),
            CompilerFamily::Gcc => c.rsplit(' ').next().and_then(parse_version),
        };
        if let Some(v) = version {
            let entry = (family, v);
            if !out.contains(&entry) {
                out.push(entry);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_tool_banners() {
        assert_eq!(
            parse_version("Debian clang version 19.1.7 (3~deb12u1)").as_deref(),
            Some("19.1.7")
        );
        assert_eq!(
            parse_version("GNU strip (GNU Binutils for Debian) 2.40").as_deref(),
            Some("2.40")
        );
        assert_eq!(
            parse_version("  LLVM version 14.0.6").as_deref(),
            Some("14.0.6")
        );
        assert_eq!(parse_version("no version here"), None);
        assert_eq!(major_of("19.1.7"), Some(19));
    }

    #[test]
    fn compilers_from_comment() {
        let c = vec![
            "Linker: LLD 19.1.7".to_string(),
            "Debian clang version 19.1.7 (3~deb12u1)".to_string(),
            "GCC: (Debian 12.2.0-14+deb12u1) 12.2.0".to_string(),
        ];
        assert_eq!(
            compilers_in_comment(&c),
            vec![
                (CompilerFamily::Clang, "19.1.7".to_string()),
                (CompilerFamily::Gcc, "12.2.0".to_string())
            ]
        );
    }
}
