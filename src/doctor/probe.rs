//! Read-only probes: one function per data source, each reading files under `--root` and
//! filling its part of [`Facts`]. Nothing here judges; nothing here writes or runs a tool.
//!
//! Every path is resolved inside the root the way a chroot would see it: an absolute
//! symlink (`/lib/modules/K/build -> /usr/src/linux-headers-K`) leads back into the root,
//! never to the host. A file that exists but cannot be read is recorded in
//! [`Facts::unreadable`] and the probe carries on.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use super::facts::*;
use super::parse;
use crate::error::{Error, Result};
use crate::modfile::ModuleFile;

/// Where doctor reads a captured `dkms status` from, inside the root. doctor never runs
/// dkms (it is read-only and dkms may build); `dkms status > /var/lib/dkms/status.txt`
/// before a run, or a support bundle that carries one, lets the report show what dkms
/// itself claimed next to what is on disk.
pub const DKMS_STATUS_CAPTURE: &str = "/var/lib/dkms/status.txt";

/// Directories searched for `libnvidia-ml.so.*`, besides /etc/ld.so.cache.
pub const NVML_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu/nvidia/current",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib",
    "/usr/lib/nvidia",
    "/usr/lib64",
    "/usr/lib64/nvidia",
    "/usr/local/nvidia/lib64",
];
const NVML_STEM: &str = "libnvidia-ml";

/// Where a kernel's module for the driver is looked for, in modprobe's priority order
/// (Debian/Ubuntu depmod.conf: `search updates ubuntu built-in`). `kernel/nvidia-*` is
/// where Ubuntu's prebuilt, signed linux-modules-nvidia packages put it.
/// `extra/nvidia` is Fedora's kmod-nvidia (akmods), `extramodules` Arch's packaged modules
/// (nvidia-open, linux-cachyos-nvidia-open); openSUSE's driver packages use `updates`.
pub const MODULE_DIRS: &[&str] = &[
    "updates/dkms",
    "updates",
    "extra",
    "extra/nvidia",
    "extramodules",
    "kernel/drivers/video",
];

/// The modules of NVIDIA's driver that doctor checks on every kernel it cares about.
pub const NVIDIA_MODULES: &[&str] = &[
    "nvidia",
    "nvidia-modeset",
    "nvidia-drm",
    "nvidia-uvm",
    "nvidia-peermem",
];

/// Logs of package managers whose dkms/akmods hook output carries strip's messages.
const PACKAGE_LOGS: &[&str] = &["/var/log/pacman.log", "/var/log/apt/term.log"];

/// Where each family keeps its package database, probed in this order when os-release
/// does not say. rpm's SQLite database is noted, not read (doctor carries no SQLite reader).
const PACKAGE_DBS: &[(&str, Family, bool)] = &[
    ("/var/lib/dpkg/status", Family::Debian, true),
    ("/var/lib/pacman/local", Family::Arch, true),
    ("/var/lib/rpm/rpmdb.sqlite", Family::Fedora, false),
    ("/usr/lib/sysimage/rpm/rpmdb.sqlite", Family::Suse, false),
    ("/var/lib/rpm/Packages", Family::Fedora, false),
];
const MODULE_EXTS: &[&str] = &[".ko", ".ko.zst", ".ko.xz", ".ko.gz"];

const SECURE_BOOT_VAR: &str =
    "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";

/// Keys modules are signed with: Ubuntu's shim-signed MOK, dkms 3's own, Fedora's akmods key.
const MOK_KEYS: &[&str] = &[
    "/var/lib/shim-signed/mok/MOK.der",
    "/var/lib/dkms/mok.pub",
    "/etc/pki/akmods/certs/public_key.der",
];

/// Lines of a failed make.log shown as evidence, and given to `diagnose`.
const MAKE_LOG_TAIL: usize = 3;
const MAKE_LOG_DIAGNOSE_LINES: usize = 200;

/// The system under `--root`.
#[derive(Debug, Clone)]
pub struct Root {
    base: PathBuf,
}

impl Root {
    /// Fails (exit::UNREADABLE) when the root is missing, not a directory, or unreadable.
    pub fn open(base: &Path) -> Result<Root> {
        let meta = fs::metadata(base).map_err(|e| Error::io(base, e))?;
        if !meta.is_dir() {
            return Err(Error::Unreadable {
                path: base.to_path_buf(),
                reason: "not a directory".into(),
            });
        }
        fs::read_dir(base).map_err(|e| Error::io(base, e))?;
        Ok(Root {
            base: base.to_path_buf(),
        })
    }

    /// The host path of `path` (as seen inside the root), every symlink resolved inside the
    /// root. `None` when some component does not exist or links loop.
    pub fn resolve(&self, path: &str) -> Option<PathBuf> {
        let mut pending: Vec<String> = components(path);
        pending.reverse();
        let mut current: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    current.pop();
                    continue;
                }
                _ => {}
            }
            let candidate = self.host(&current, Some(&part));
            let meta = fs::symlink_metadata(&candidate).ok()?;
            if meta.file_type().is_symlink() {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                let target = fs::read_link(&candidate).ok()?;
                let target = target.to_string_lossy();
                if target.starts_with('/') {
                    current.clear();
                }
                let mut more = components(&target);
                more.reverse();
                pending.extend(more);
            } else {
                current.push(part);
            }
        }
        Some(self.host(&current, None))
    }

    fn host(&self, parts: &[String], last: Option<&str>) -> PathBuf {
        let mut p = self.base.clone();
        p.extend(parts);
        if let Some(l) = last {
            p.push(l);
        }
        p
    }

    /// The in-root path of a host path this root produced.
    pub fn inner(&self, host: &Path) -> String {
        match host.strip_prefix(&self.base) {
            Ok(rel) => format!("/{}", rel.to_string_lossy()),
            Err(_) => host.to_string_lossy().into_owned(),
        }
    }

    pub fn exists(&self, path: &str) -> bool {
        self.resolve(path).is_some()
    }

    pub fn is_dir(&self, path: &str) -> bool {
        self.resolve(path).is_some_and(|p| p.is_dir())
    }

    /// Directory entries' names, sorted; empty when the directory is missing.
    pub fn list(&self, path: &str) -> Vec<String> {
        let Some(dir) = self.resolve(path) else {
            return Vec::new();
        };
        let Ok(rd) = fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

fn components(path: &str) -> Vec<String> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// Reads files under the root, remembering the ones that exist but fail to read.
struct Reader<'a> {
    root: &'a Root,
    unreadable: Vec<String>,
}

impl Reader<'_> {
    /// At most this much of any file (logs, status databases are far smaller; a hostile
    /// image's 3 GB /proc/1/environ is not read past it).
    const LIMIT: u64 = 64 << 20;

    fn bytes(&mut self, path: &str) -> Option<Vec<u8>> {
        let host = self.root.resolve(path)?;
        match read_capped(&host, Self::LIMIT) {
            Ok(buf) => Some(buf),
            Err(e) => {
                self.unreadable.push(format!("{path}: {e}"));
                None
            }
        }
    }

    /// A file only root may read on a live system (doctor runs unprivileged): its
    /// absence of permission is not worth a note. Capped like every other read.
    fn private_text(&mut self, path: &str) -> Option<String> {
        let host = self.root.resolve(path)?;
        read_capped(&host, Self::LIMIT)
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    fn text(&mut self, path: &str) -> Option<String> {
        self.bytes(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// A one-line sysfs/procfs value, trimmed; empty counts as absent.
    fn value(&mut self, path: &str) -> Option<String> {
        self.text(path)
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    }
}

/// Reads at most `limit` bytes of a regular file. Opened non-blocking so that a FIFO or a
/// device in an image cannot hang doctor, and refused unless it is a regular file.
pub fn read_capped(host: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(host)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut buf = Vec::new();
    file.take(limit).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Runs every probe.
pub fn gather(root: &Root, module: &str) -> Facts {
    let mut r = Reader {
        root,
        unreadable: Vec::new(),
    };
    let _span = tracing::debug_span!("doctor.probe").entered();
    let loaded = loaded(&mut r, module);
    let mut facts = Facts {
        module: module.to_string(),
        distro: distro(&mut r),
        container: container(&mut r, loaded.is_loaded()),
        loaded,
        running: r.value("/proc/sys/kernel/osrelease"),
        kernels: kernels(&mut r, module),
        grub: grub(&mut r),
        dkms: dkms(&mut r, module),
        dpkg: dpkg(&mut r),
        pacman: pacman(&mut r),
        akmods: akmods(&mut r, module),
        unattended: unattended(&mut r),
        reboot_required: reboot_required(&mut r),
        security: security(&mut r),
        nouveau_loaded: module_listed(&mut r, "nouveau"),
        runfile_uninstaller: root.exists("/usr/bin/nvidia-uninstall"),
        ..Facts::default()
    };
    if is_nvidia(module) {
        let (nvml, dangling) = nvml(&mut r, facts.dpkg.is_some());
        facts.nvml = nvml;
        facts.nvml_dangling = dangling;
    }
    facts.firmware = firmware(root, &facts.kernels);
    let next = super::judge::next_boot(&facts.kernels, &facts.grub).map(|(k, _)| k);
    for kernel in &mut facts.kernels {
        let k = Some(&kernel.release);
        if k == facts.running.as_ref() || k == next.as_ref() {
            kernel.checked = check_modules(&mut r, &kernel.release, module);
        }
    }
    facts.log_hits = log_hits(&mut r, &facts);
    facts.unreadable = r.unreadable;
    tracing::debug!(?facts, "probed");
    facts
}

/// /etc/os-release (or /usr/lib/os-release) and the package database under the root. The
/// database decides when os-release is missing or names no family doctor knows.
fn distro(r: &mut Reader) -> Distro {
    let os = r
        .text("/etc/os-release")
        .or_else(|| r.text("/usr/lib/os-release"))
        .map(|t| parse::os_release(&t))
        .unwrap_or_default();
    let id = os.get("ID").cloned();
    let id_like: Vec<String> = os
        .get("ID_LIKE")
        .map(|v| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let mut family = parse::family_of(id.as_deref(), &id_like);
    let db = PACKAGE_DBS
        .iter()
        .filter(|(path, _, _)| r.root.exists(path))
        .find(|(_, f, _)| family == Family::Unknown || *f == family || same_rpm(*f, family))
        .copied();
    if family == Family::Unknown {
        family = db.map_or(Family::Unknown, |(_, f, _)| f);
    }
    Distro {
        family,
        id,
        id_like,
        name: os.get("PRETTY_NAME").or(os.get("NAME")).cloned(),
        package_db: db.map(|(p, _, _)| p.to_string()),
        package_db_read: db.is_some_and(|(_, _, read)| read),
    }
}

/// Fedora and openSUSE both keep an rpm database, in either place.
fn same_rpm(a: Family, b: Family) -> bool {
    matches!(a, Family::Fedora | Family::Suse) && matches!(b, Family::Fedora | Family::Suse)
}

/// Packages doctor looks at in pacman's local database: the driver, kernels, headers, dkms.
fn pacman(r: &mut Reader) -> Option<Vec<PacmanPackage>> {
    const DB: &str = "/var/lib/pacman/local";
    if !r.root.is_dir(DB) {
        return None;
    }
    let mut out = Vec::new();
    for entry in r.root.list(DB) {
        if !(entry.contains("nvidia") || entry.starts_with("linux") || entry.starts_with("dkms-")) {
            continue;
        }
        if let Some(p) = r
            .text(&format!("{DB}/{entry}/desc"))
            .and_then(|t| parse::pacman_desc(&t))
        {
            out.push(p);
        }
    }
    Some(out)
}

/// `/var/cache/akmods/<module>/*.log`: which kernels akmods built for, and which failed.
fn akmods(r: &mut Reader, module: &str) -> Vec<AkmodsLog> {
    let dir = format!("/var/cache/akmods/{module}");
    let mut out = Vec::new();
    for name in r.root.list(&dir) {
        let Some((kernel, failed)) = parse::akmods_log_kernel(&name) else {
            continue;
        };
        let path = format!("{dir}/{name}");
        let first_error = if failed {
            r.text(&path)
                .and_then(|t| parse::first_error_line(&t).map(str::to_string))
        } else {
            None
        };
        out.push(AkmodsLog {
            path,
            kernel,
            failed,
            first_error,
        });
    }
    out
}

/// Strip and object-format complaints in every build log doctor knows of: dkms make.logs
/// (the last build's and the kept logs of successful ones), akmods logs, pacman.log and
/// APT's term.log.
fn log_hits(r: &mut Reader, f: &Facts) -> Vec<LogHit> {
    let kernels: Vec<String> = f.kernels.iter().map(|k| k.release.clone()).collect();
    let mut logs: Vec<(String, Option<String>)> = Vec::new();
    let base = format!("/var/lib/dkms/{}", f.module);
    for v in &f.dkms.versions {
        logs.push((format!("{base}/{}/build/make.log", v.version), None));
        for b in &v.builds {
            logs.push((
                format!("{base}/{}/{}/{}/log/make.log", v.version, b.kernel, b.arch),
                Some(b.kernel.clone()),
            ));
        }
    }
    for a in &f.akmods {
        logs.push((a.path.clone(), Some(a.kernel.clone())));
    }
    logs.extend(PACKAGE_LOGS.iter().map(|p| (p.to_string(), None)));
    let mut hits = Vec::new();
    for (path, kernel) in logs {
        if !r.root.exists(&path) {
            continue;
        }
        let Some(text) = r.text(&path) else {
            continue;
        };
        let fixed = kernel.or_else(|| parse::make_log_kernel(&text));
        hits.extend(parse::log_hits(&path, &text, &kernels, fixed.as_deref()));
    }
    hits
}

/// Every installed module of the driver for kernel `k`, through `dkwrap verify`'s loader
/// checks, against the kernel's own config when its build directory has one.
fn check_modules(r: &mut Reader, k: &str, module: &str) -> Vec<ModuleCheck> {
    let base = format!("/lib/modules/{k}");
    let names: Vec<&str> = if is_nvidia(module) {
        NVIDIA_MODULES.to_vec()
    } else {
        vec![module]
    };
    let (target, config) = kernel_target(r, k);
    let expect = crate::verify::Expectations {
        kernel: target.as_ref(),
        release: Some(k),
        this_module_size: None,
        symbols: None,
    };
    let mut out = Vec::new();
    for dir in module_dirs(r.root, &base) {
        for name in &names {
            for ext in MODULE_EXTS {
                let path = format!("{dir}/{name}{ext}");
                if let Some(host) = r.root.resolve(&path) {
                    out.push(check_one(name, &path, &host, &expect, config.as_deref()));
                }
            }
        }
    }
    out
}

/// The kernel `k` as far as its files tell: its release always, its configuration (a
/// [`KernelTarget`](crate::target::KernelTarget)) when `build/.config` exists, and that
/// config's path.
fn kernel_target(r: &mut Reader, k: &str) -> (Option<crate::target::KernelTarget>, Option<String>) {
    let path = format!("/lib/modules/{k}/build/.config");
    let Some(host) = r.root.resolve(&path) else {
        return (None, None);
    };
    let Some(text) = r.text(&path) else {
        return (None, None);
    };
    let facts = crate::kconfig::KernelConfig::parse(&text, &host)
        .and_then(|c| crate::kconfig::KernelFacts::from_config(&c));
    match facts {
        Ok(facts) => {
            let target = crate::target::KernelTarget {
                facts,
                release: Some(k.to_string()),
                build_dir: None,
                selected_by: "installed kernel".into(),
            };
            (Some(target), Some(path))
        }
        Err(e) => {
            r.unreadable.push(format!(
                "{path}: {}",
                hide_host(&e.to_string(), &host, &path)
            ));
            (None, None)
        }
    }
}

fn check_one(
    name: &str,
    path: &str,
    host: &Path,
    expect: &crate::verify::Expectations,
    config: Option<&str>,
) -> ModuleCheck {
    use crate::finding::{Category, Severity};
    let mut c = ModuleCheck {
        name: name.to_string(),
        path: path.to_string(),
        compression: None,
        verdict: "ok".into(),
        errors: Vec::new(),
        error_count: 0,
        config: config.map(str::to_string),
    };
    // A FIFO or device must not be opened (it would block); stat does not block.
    if !host.is_file() {
        c.verdict = "unreadable".into();
        c.errors.push(format!("{path}: not a regular file"));
        c.error_count = 1;
        return c;
    }
    let report = match crate::verify::verify_file(host, expect, None) {
        Ok(r) => r,
        Err(e) => {
            c.verdict = "unreadable".into();
            c.errors.push(hide_host(&e.to_string(), host, path));
            c.error_count = 1;
            return c;
        }
    };
    c.compression = report.compression.clone();
    let errors: Vec<&crate::finding::Finding> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    c.error_count = errors.len();
    if errors
        .iter()
        .any(|f| f.category != Category::KernelMismatch)
    {
        c.verdict = "invalid".into();
    } else if !errors.is_empty() {
        c.verdict = "kernel-mismatch".into();
    }
    // Loader defects first: they are what the verdict is about.
    let mut sorted = errors;
    sorted.sort_by_key(|f| f.category == Category::KernelMismatch);
    c.errors = sorted
        .iter()
        .take(MODULE_CHECK_ERRORS)
        .map(|f| {
            let msg = hide_host(&f.message, host, path);
            match &f.section {
                Some(s) => format!("section {s}: {msg}"),
                None => msg,
            }
        })
        .collect();
    c
}

/// Errors kept per checked module (the count says how many there were).
const MODULE_CHECK_ERRORS: usize = 3;

/// An error text with the host path of a file replaced by its path inside the root.
fn hide_host(text: &str, host: &Path, inner: &str) -> String {
    text.replace(&*host.to_string_lossy(), inner)
}

/// The directories of kernel `base` (`/lib/modules/<k>`) a driver module may be in, in
/// modprobe's priority order; Ubuntu's prebuilt `kernel/nvidia-<branch>` last.
fn module_dirs(root: &Root, base: &str) -> Vec<String> {
    let mut dirs: Vec<String> = MODULE_DIRS.iter().map(|d| format!("{base}/{d}")).collect();
    for sub in root.list(&format!("{base}/kernel")) {
        if sub.starts_with("nvidia-") {
            dirs.push(format!("{base}/kernel/{sub}"));
        }
    }
    dirs
}

/// A container has no kernel of its own: the runtime marks it, and /lib/modules is empty.
fn container(r: &mut Reader, driver_loaded: bool) -> Option<String> {
    for marker in ["/.dockerenv", "/run/.containerenv"] {
        if r.root.exists(marker) {
            return Some(format!("{marker} exists"));
        }
    }
    if let Some(env) = r.private_text("/proc/1/environ") {
        if env.split('\0').any(|v| v.starts_with("container=")) {
            return Some("PID 1 has container= in its environment".into());
        }
    }
    if r.root.list("/lib/modules").is_empty() && driver_loaded {
        return Some("no /lib/modules, but a driver is loaded (the host's)".into());
    }
    None
}

fn module_listed(r: &mut Reader, module: &str) -> bool {
    r.root.is_dir(&format!("/sys/module/{module}"))
        || r.text("/proc/modules")
            .is_some_and(|t| parse::proc_modules_has(&t, module))
}

/// NVML and /proc/driver/nvidia belong to the NVIDIA driver: other modules (`--module
/// v4l2loopback`) get the kernel-side checks only.
pub fn is_nvidia(module: &str) -> bool {
    module == "nvidia" || module.starts_with("nvidia_") || module.starts_with("nvidia-")
}

/// `/sys/module/<m>/{version,srcversion}`, /proc/driver/nvidia/version, /proc/modules.
fn loaded(r: &mut Reader, module: &str) -> Loaded {
    Loaded {
        version: r.value(&format!("/sys/module/{module}/version")),
        srcversion: r.value(&format!("/sys/module/{module}/srcversion")),
        proc: if is_nvidia(module) {
            r.text("/proc/driver/nvidia/version")
                .and_then(|t| parse::proc_driver_version(&t))
        } else {
            None
        },
        listed: module_listed(r, module),
    }
}

/// libnvidia-ml.so.* in the usual directories and in /etc/ld.so.cache; `.so.1` links
/// resolved inside the root; owners from /var/lib/dpkg/info/*.list.
fn nvml(r: &mut Reader, have_dpkg: bool) -> (Vec<NvmlLib>, Vec<String>) {
    let root = r.root.clone();
    let mut found: Vec<NvmlLib> = Vec::new();
    let mut dangling = Vec::new();
    let add = |host: PathBuf, in_cache: bool, found: &mut Vec<NvmlLib>| {
        let path = root.inner(&host);
        let name = host
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(version) = parse::lib_version(&name, NVML_STEM) else {
            return;
        };
        match found.iter_mut().find(|l| l.path == path) {
            Some(l) => l.in_ld_cache |= in_cache,
            None => found.push(NvmlLib {
                path,
                version: version.to_string(),
                in_ld_cache: in_cache,
                owner: None,
            }),
        }
    };
    // The loader's view first: ld.so.cache entries, links followed.
    if let Some(data) = r.bytes("/etc/ld.so.cache") {
        match parse::ld_so_cache_paths(&data, NVML_STEM) {
            Ok(paths) => {
                for p in paths {
                    match root.resolve(&p) {
                        Some(host) if host.is_file() => add(host, true, &mut found),
                        _ => dangling.push(format!("{p} (in /etc/ld.so.cache)")),
                    }
                }
            }
            Err(e) => r.unreadable.push(format!("/etc/ld.so.cache: {e}")),
        }
    }
    for dir in NVML_DIRS {
        for name in root.list(dir) {
            if !name.starts_with(&format!("{NVML_STEM}.so.")) {
                continue;
            }
            let path = format!("{dir}/{name}");
            match root.resolve(&path) {
                Some(host) if host.is_file() => add(host, false, &mut found),
                _ => dangling.push(path),
            }
        }
    }
    dangling.sort();
    dangling.dedup();
    if have_dpkg && !found.is_empty() {
        let owners = dpkg_owners(r, &found);
        for lib in &mut found {
            lib.owner = owners.get(&lib.path).cloned();
        }
    }
    (found, dangling)
}

/// Which package's file list names each library (under its own path or a /usr-merge alias).
fn dpkg_owners(r: &mut Reader, libs: &[NvmlLib]) -> BTreeMap<String, String> {
    let aliases = |p: &str| -> Vec<String> {
        let mut v = vec![p.to_string()];
        if let Some(rest) = p.strip_prefix("/usr") {
            v.push(rest.to_string());
        } else {
            v.push(format!("/usr{p}"));
        }
        v
    };
    let mut wanted: BTreeMap<String, String> = BTreeMap::new();
    for lib in libs {
        for a in aliases(&lib.path) {
            wanted.insert(a, lib.path.clone());
        }
    }
    let mut owners = BTreeMap::new();
    for name in r.root.list("/var/lib/dpkg/info") {
        let Some(pkg) = name.strip_suffix(".list") else {
            continue;
        };
        // Only lists that can hold NVIDIA libraries: the rest are thousands of files.
        if !pkg.contains("nvidia") && !pkg.contains("cuda") {
            continue;
        }
        let Some(text) = r.text(&format!("/var/lib/dpkg/info/{name}")) else {
            continue;
        };
        let pkg = pkg.split(':').next().unwrap_or(pkg);
        for line in text.lines() {
            if let Some(lib) = wanted.get(line.trim()) {
                owners.entry(lib.clone()).or_insert_with(|| pkg.to_string());
            }
        }
    }
    owners
}

/// `/lib/modules/<k>`: the driver's module files and whether headers are there.
fn kernels(r: &mut Reader, module: &str) -> Vec<Kernel> {
    let mut out = Vec::new();
    for release in r.root.list("/lib/modules") {
        let base = format!("/lib/modules/{release}");
        if !r.root.is_dir(&base) {
            continue;
        }
        let mut modules = Vec::new();
        for dir in module_dirs(r.root, &base) {
            for ext in MODULE_EXTS {
                let path = format!("{dir}/{module}{ext}");
                if let Some(host) = r.root.resolve(&path) {
                    modules.push(disk_module(&path, &host));
                }
            }
        }
        out.push(Kernel {
            installed: r.root.exists(&format!("/boot/vmlinuz-{release}"))
                || r.root.exists(&format!("{base}/modules.dep"))
                || r.root.is_dir(&format!("{base}/kernel")),
            headers: headers(r.root, &base),
            pkgbase: r
                .value(&format!("{base}/pkgbase"))
                .filter(|p| !p.contains(char::is_whitespace)),
            release,
            modules,
            checked: Vec::new(),
        });
    }
    out.sort_by(|a, b| parse::version_cmp(&a.release, &b.release));
    out
}

fn headers(root: &Root, base: &str) -> Headers {
    if !root.is_dir(&format!("{base}/build/include")) {
        Headers::Missing
    } else if root.exists(&format!("{base}/build/include/generated/autoconf.h"))
        || root.exists(&format!("{base}/build/include/config/auto.conf"))
    {
        Headers::Ready
    } else {
        Headers::Incomplete
    }
}

/// One module file: `.modinfo` and signature, or why it cannot be read.
fn disk_module(path: &str, host: &Path) -> DiskModule {
    let mut m = DiskModule {
        path: path.to_string(),
        ..DiskModule::default()
    };
    if !host.is_file() {
        m.error = Some(format!("{path}: not a regular file"));
        return m;
    }
    let file = match ModuleFile::open(host) {
        Ok(f) => f,
        Err(e) => {
            m.error = Some(
                e.to_string()
                    .replace(&host.to_string_lossy().into_owned(), path),
            );
            return m;
        }
    };
    m.compression = file.compression.map(|c| c.name().to_string());
    m.signed = file.signature.as_ref().is_some_and(|s| s.problem.is_none());
    let info = file.elf().and_then(|elf| {
        elf.modinfo()
            .map_err(|e| crate::modfile::parse_error(host, e))
    });
    match info {
        Ok(Some(info)) => {
            m.version = info.get("version").map(str::to_string);
            m.srcversion = info.get("srcversion").map(str::to_string);
            m.vermagic = info.get("vermagic").map(|v| v.trim().to_string());
            m.firmware = info.all("firmware").map(str::to_string).collect();
        }
        Ok(None) => m.error = Some(format!("{path}: no .modinfo section")),
        Err(e) => {
            m.error = Some(
                e.to_string()
                    .replace(&host.to_string_lossy().into_owned(), path),
            )
        }
    }
    m
}

/// /etc/default/grub (+ grub.d) GRUB_DEFAULT and /boot/grub/grubenv saved/next entries.
fn grub(r: &mut Reader) -> Grub {
    let mut default = r
        .text("/etc/default/grub")
        .and_then(|t| parse::grub_default(&t));
    for name in r.root.list("/etc/default/grub.d") {
        if name.ends_with(".cfg") {
            if let Some(v) = r
                .text(&format!("/etc/default/grub.d/{name}"))
                .and_then(|t| parse::grub_default(&t))
            {
                default = Some(v);
            }
        }
    }
    let env = r
        .text("/boot/grub/grubenv")
        .or_else(|| r.text("/boot/grub2/grubenv"));
    Grub {
        default,
        saved_entry: env
            .as_deref()
            .and_then(|t| parse::grubenv_var(t, "saved_entry")),
        next_entry: env
            .as_deref()
            .and_then(|t| parse::grubenv_var(t, "next_entry")),
    }
}

/// `/var/lib/dkms/<module>`: versions, builds, kernel-* links, failed make.log, captured status.
fn dkms(r: &mut Reader, module: &str) -> Dkms {
    let base = format!("/var/lib/dkms/{module}");
    let mut d = Dkms {
        registered: r.root.is_dir(&base),
        ..Dkms::default()
    };
    for name in r.root.list(&base) {
        let path = format!("{base}/{name}");
        if let Some(link) = name.strip_prefix("kernel-") {
            let Some((kernel, arch)) = link.rsplit_once('-') else {
                continue;
            };
            let target = r
                .root
                .resolve(&base)
                .and_then(|host| fs::read_link(host.join(&name)).ok())
                .map(|t| t.to_string_lossy().trim_end_matches('/').to_string())
                .unwrap_or_default();
            d.links.push(DkmsLink {
                kernel: kernel.to_string(),
                arch: arch.to_string(),
                target,
            });
            continue;
        }
        if !r.root.is_dir(&path) || name == "original_module" {
            continue;
        }
        let mut v = DkmsVersion {
            version: name.clone(),
            source: r.root.exists(&format!("{path}/source/dkms.conf")),
            ..DkmsVersion::default()
        };
        for kernel in r.root.list(&path) {
            if matches!(kernel.as_str(), "source" | "build" | "tarball" | "log") {
                continue;
            }
            for arch in r.root.list(&format!("{path}/{kernel}")) {
                let mdir = format!("{path}/{kernel}/{arch}/module");
                if !r.root.is_dir(&mdir) {
                    continue;
                }
                v.builds.push(DkmsBuild {
                    version: name.clone(),
                    kernel: kernel.clone(),
                    arch,
                    modules: r.root.list(&mdir),
                });
            }
        }
        let log_path = format!("{path}/build/make.log");
        if let Some(text) = r.text(&log_path) {
            v.make_log = Some(make_log(&log_path, &text));
        }
        d.versions.push(v);
    }
    d.versions
        .sort_by(|a, b| parse::version_cmp(&a.version, &b.version));
    if let Some(text) = r.text(DKMS_STATUS_CAPTURE) {
        d.status = Some(DkmsStatusCapture {
            path: DKMS_STATUS_CAPTURE.to_string(),
            entries: parse::dkms_status(&text)
                .into_iter()
                .filter(|s| s.module == module)
                .collect(),
        });
    }
    d
}

fn make_log(path: &str, text: &str) -> MakeLog {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail_from = lines.len().saturating_sub(MAKE_LOG_TAIL);
    let diag_from = lines.len().saturating_sub(MAKE_LOG_DIAGNOSE_LINES);
    MakeLog {
        path: path.to_string(),
        kernel: parse::make_log_kernel(text),
        first_error: parse::first_error_line(&lines[diag_from..].join("\n")).map(str::to_string),
        tail: lines[tail_from..].iter().map(|l| l.to_string()).collect(),
        diagnoses: crate::diagnose::diagnose(&lines[diag_from..].join("\n")),
    }
}

/// Package names doctor looks at in /var/lib/dpkg/status.
pub fn relevant_package(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "nvidia-",
        "libnvidia-",
        "linux-image-",
        "linux-headers-",
        "linux-modules-",
        "linux-objects-nvidia-",
        "linux-signatures-nvidia-",
        "linux-generic",
        "xserver-xorg-video-nvidia",
        "cuda-drivers",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || name == "dkms" || name == "unattended-upgrades"
}

fn dpkg(r: &mut Reader) -> Option<Dpkg> {
    let text = r.text("/var/lib/dpkg/status")?;
    Some(Dpkg {
        packages: parse::dpkg_status(&text, relevant_package),
    })
}

/// APT::Periodic::Unattended-Upgrade and the Package-Blacklist, in APT's reading order.
fn unattended(r: &mut Reader) -> Unattended {
    let mut cfg = parse::AptConfig::default();
    if let Some(t) = r.text("/etc/apt/apt.conf") {
        cfg.feed("/etc/apt/apt.conf", &t);
    }
    for name in r.root.list("/etc/apt/apt.conf.d") {
        // APT skips names with characters other than alphanumerics, '_', '-' and '.'.
        if name.starts_with('.')
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            || name.ends_with(".dpkg-old")
            || name.ends_with(".dpkg-dist")
            || name.ends_with(".ucf-old")
        {
            continue;
        }
        let path = format!("/etc/apt/apt.conf.d/{name}");
        if let Some(t) = r.text(&path) {
            cfg.feed(&path, &t);
        }
    }
    Unattended {
        periodic: cfg
            .get("APT::Periodic::Unattended-Upgrade")
            .map(|(v, f)| (v.to_string(), f.to_string())),
        blacklist: cfg
            .list("Unattended-Upgrade::Package-Blacklist")
            .into_iter()
            .map(|(v, f)| (v.to_string(), f.to_string()))
            .collect(),
    }
}

fn reboot_required(r: &mut Reader) -> Option<RebootRequired> {
    for dir in ["/run", "/var/run"] {
        let path = format!("{dir}/reboot-required");
        if r.root.exists(&path) {
            let mut packages: Vec<String> = r
                .text(&format!("{path}.pkgs"))
                .unwrap_or_default()
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            packages.truncate(20);
            return Some(RebootRequired { path, packages });
        }
    }
    None
}

fn security(r: &mut Reader) -> Security {
    Security {
        secure_boot: r
            .bytes(SECURE_BOOT_VAR)
            .and_then(|b| b.last().copied())
            .map(|b| b == 1),
        sig_enforce: r
            .value("/sys/module/module/parameters/sig_enforce")
            .map(|v| v == "Y" || v == "1"),
        lockdown: r
            .private_text("/sys/kernel/security/lockdown")
            .and_then(|t| parse::lockdown_mode(&t)),
        mok_key: MOK_KEYS
            .iter()
            .find(|k| r.root.exists(k))
            .map(|k| k.to_string()),
    }
}

/// `firmware=` files of every on-disk module, checked under /lib/firmware (compressed too).
fn firmware(root: &Root, kernels: &[Kernel]) -> Vec<Firmware> {
    let names: BTreeSet<&str> = kernels
        .iter()
        .flat_map(|k| &k.modules)
        .flat_map(|m| m.firmware.iter().map(String::as_str))
        .collect();
    names
        .into_iter()
        .map(|name| Firmware {
            name: name.to_string(),
            present: ["", ".zst", ".xz"]
                .iter()
                .any(|ext| root.exists(&format!("/lib/firmware/{name}{ext}"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_links_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        fs::create_dir_all(base.join("usr/src/linux-headers-6.1/include")).unwrap();
        fs::create_dir_all(base.join("lib/modules/6.1")).unwrap();
        std::os::unix::fs::symlink(
            "/usr/src/linux-headers-6.1",
            base.join("lib/modules/6.1/build"),
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc", base.join("lib/modules/6.1/escape")).unwrap();
        std::os::unix::fs::symlink("loop", base.join("loop")).unwrap();
        let root = Root::open(base).unwrap();
        assert!(root.is_dir("/lib/modules/6.1/build/include"));
        assert_eq!(
            root.resolve("/lib/modules/6.1/build/include").unwrap(),
            base.join("usr/src/linux-headers-6.1/include")
        );
        // /etc of the host is not /etc of the root.
        assert!(root.resolve("/lib/modules/6.1/escape/passwd").is_none());
        assert!(root.resolve("/loop").is_none());
        assert!(root.resolve("/../../lib/modules/6.1").is_some());
        assert_eq!(root.inner(&base.join("usr/src")), "/usr/src");
    }

    #[test]
    fn missing_root_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Root::open(&dir.path().join("nope")).unwrap_err();
        assert_eq!(err.exit_code(), crate::exit::UNREADABLE);
        let file = dir.path().join("file");
        fs::write(&file, "x").unwrap();
        assert_eq!(
            Root::open(&file).unwrap_err().exit_code(),
            crate::exit::UNREADABLE
        );
    }

    #[test]
    fn reads_are_capped_and_refuse_what_is_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("environ");
        fs::File::create(&big).unwrap().set_len(8 << 20).unwrap();
        assert_eq!(read_capped(&big, 1 << 20).unwrap().len(), 1 << 20);
        let fifo = dir.path().join("fifo");
        let st = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(st.success());
        // Opened non-blocking: no writer, yet it returns at once, refused.
        let err = read_capped(&fifo, 1 << 20).unwrap_err();
        assert_eq!(err.to_string(), "not a regular file");
        assert!(read_capped(dir.path(), 1).is_err());
    }

    #[test]
    fn empty_root_gathers_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let facts = gather(&Root::open(dir.path()).unwrap(), "nvidia");
        assert!(facts.kernels.is_empty() && facts.nvml.is_empty() && facts.dpkg.is_none());
        assert!(!facts.loaded.is_loaded());
        assert!(facts.unreadable.is_empty());
    }
}
