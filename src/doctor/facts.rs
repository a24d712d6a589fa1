//! What the probes found, as plain data: no judgement here. [`super::probe`] fills a
//! [`Facts`] from files under `--root`; [`super::judge`] turns it into findings without
//! touching the file system, so every rule is unit-tested with hand-built facts.
//!
//! Paths are as seen inside the root (`/usr/lib/...`), never the host path of the root.

use serde::Serialize;

use crate::diagnose::Diagnosis;

/// Everything doctor knows about the machine.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Facts {
    /// The module asked about (`--module`, "nvidia").
    pub module: String,
    /// Which distribution the root is, from /etc/os-release and its package database.
    pub distro: Distro,
    /// Why this looks like a container (it then has no kernels of its own), if it does.
    pub container: Option<String>,
    pub loaded: Loaded,
    /// Every `libnvidia-ml.so.<version>` found, the one `libnvidia-ml.so.1` leads to first.
    pub nvml: Vec<NvmlLib>,
    /// `libnvidia-ml.so.1` links that lead nowhere.
    pub nvml_dangling: Vec<String>,
    /// Installed kernels (directories under /lib/modules), oldest first.
    pub kernels: Vec<Kernel>,
    /// `/proc/sys/kernel/osrelease`.
    pub running: Option<String>,
    pub grub: Grub,
    pub dkms: Dkms,
    /// `None` when there is no /var/lib/dpkg/status (not a Debian-family system).
    pub dpkg: Option<Dpkg>,
    pub unattended: Unattended,
    pub reboot_required: Option<RebootRequired>,
    pub security: Security,
    /// `/sys/module/nouveau` or a `nouveau` line in /proc/modules.
    pub nouveau_loaded: bool,
    /// Firmware files named by `firmware=` in the on-disk modules, and whether they exist.
    pub firmware: Vec<Firmware>,
    /// pacman's local database (`/var/lib/pacman/local/*/desc`): `None` on other systems.
    pub pacman: Option<Vec<PacmanPackage>>,
    /// akmods build logs (`/var/cache/akmods/<module>/*.log`), Fedora/RHEL.
    pub akmods: Vec<AkmodsLog>,
    /// Lines in build and package-manager logs that mark a corrupting strip or a broken
    /// object (BFD assertion, invalid group entry, ...), each tied to a kernel when the log says which.
    pub log_hits: Vec<LogHit>,
    /// `/usr/bin/nvidia-uninstall`: left by NVIDIA's .run installer.
    pub runfile_uninstaller: bool,
    /// Files that exist but could not be read or parsed (path and reason).
    pub unreadable: Vec<String>,
}

/// The module in the running kernel.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Loaded {
    /// `/sys/module/<module>/version`.
    pub version: Option<String>,
    /// `/sys/module/<module>/srcversion`.
    pub srcversion: Option<String>,
    /// `/proc/driver/nvidia/version`.
    pub proc: Option<ProcVersion>,
    /// A line for the module in /proc/modules (or the /sys/module directory exists).
    pub listed: bool,
}

impl Loaded {
    /// The version of the loaded module, from sysfs or else /proc/driver/nvidia/version.
    pub fn version(&self) -> Option<&str> {
        self.version
            .as_deref()
            .or(self.proc.as_ref().map(|p| p.version.as_str()))
    }
    pub fn is_loaded(&self) -> bool {
        self.listed || self.version().is_some()
    }
}

/// The first line of `/proc/driver/nvidia/version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcVersion {
    pub version: String,
    /// "NVIDIA UNIX Open Kernel Module" (true) or the proprietary "NVIDIA UNIX x86_64 Kernel Module".
    pub open: bool,
    pub line: String,
}

/// One NVML library file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NvmlLib {
    /// The real file, symlinks resolved inside the root.
    pub path: String,
    pub version: String,
    /// Listed in /etc/ld.so.cache (what programs actually load).
    pub in_ld_cache: bool,
    /// The package whose /var/lib/dpkg/info/*.list names it.
    pub owner: Option<String>,
}

/// One directory under /lib/modules.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Kernel {
    pub release: String,
    /// A kernel image or module tree is there (not just a directory dkms left behind).
    pub installed: bool,
    pub headers: Headers,
    /// The module's files for this kernel, in modprobe's search order (updates first).
    pub modules: Vec<DiskModule>,
    /// Arch's `/usr/lib/modules/<k>/pkgbase`: the package the kernel came from ("linux-cachyos").
    pub pkgbase: Option<String>,
    /// Every installed module of the driver (nvidia, nvidia-modeset, nvidia-drm, nvidia-uvm,
    /// nvidia-peermem), through `dkwrap verify`'s loader checks; only for the running and
    /// the next-boot kernel (empty for the others).
    pub checked: Vec<ModuleCheck>,
}

impl Kernel {
    /// The module modprobe would load: the first readable one in search order.
    pub fn module(&self) -> Option<&DiskModule> {
        self.modules.iter().find(|m| m.error.is_none())
    }
}

/// The kernel's headers, as `/lib/modules/<k>/build` shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Headers {
    /// No `build/include`: the headers package is not installed.
    #[default]
    Missing,
    /// `build/include` without `include/generated/autoconf.h` or `include/config/auto.conf`:
    /// a half-unpacked headers package ("Kernel configuration is invalid").
    Incomplete,
    Ready,
}

/// A module file on disk with its `.modinfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DiskModule {
    pub path: String,
    pub version: Option<String>,
    pub srcversion: Option<String>,
    pub vermagic: Option<String>,
    /// A `~Module signature appended~` trailer the kernel would accept.
    pub signed: bool,
    pub firmware: Vec<String>,
    pub compression: Option<String>,
    /// Why it could not be read (the kernel cannot load it either).
    pub error: Option<String>,
}

impl DiskModule {
    /// The kernel release the module was built for: the first word of vermagic.
    pub fn vermagic_release(&self) -> Option<&str> {
        self.vermagic.as_deref()?.split_whitespace().next()
    }
}

/// What GRUB says about the next boot, raw; [`super::judge`] resolves it against the kernels.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Grub {
    /// `GRUB_DEFAULT` from /etc/default/grub (and /etc/default/grub.d/*.cfg).
    pub default: Option<String>,
    /// `saved_entry` from /boot/grub/grubenv.
    pub saved_entry: Option<String>,
    /// `next_entry` from /boot/grub/grubenv (`grub-reboot`).
    pub next_entry: Option<String>,
}

/// DKMS state under `/var/lib/dkms/<module>`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dkms {
    /// `/var/lib/dkms/<module>` exists.
    pub registered: bool,
    pub versions: Vec<DkmsVersion>,
    /// `kernel-<k>-<arch>` links: what dkms counts as installed.
    pub links: Vec<DkmsLink>,
    /// A captured `dkms status` (see [`super::probe::DKMS_STATUS_CAPTURE`]).
    pub status: Option<DkmsStatusCapture>,
}

impl Dkms {
    /// Version directories that still have their source (dkms can build them).
    pub fn buildable(&self) -> impl Iterator<Item = &DkmsVersion> {
        self.versions.iter().filter(|v| v.source)
    }
    pub fn built_for(&self, kernel: &str) -> Option<&DkmsBuild> {
        self.versions
            .iter()
            .flat_map(|v| &v.builds)
            .find(|b| b.kernel == kernel && !b.modules.is_empty())
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DkmsVersion {
    pub version: String,
    /// `source` leads to a directory with dkms.conf.
    pub source: bool,
    pub builds: Vec<DkmsBuild>,
    /// `build/make.log`, left behind when a build failed.
    pub make_log: Option<MakeLog>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DkmsBuild {
    pub version: String,
    pub kernel: String,
    pub arch: String,
    /// File names under `<k>/<arch>/module`.
    pub modules: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DkmsLink {
    pub kernel: String,
    pub arch: String,
    /// Where it points, e.g. "570.133.07/5.15.0-94-generic/x86_64".
    pub target: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MakeLog {
    pub path: String,
    /// From the "DKMS make.log for nvidia-570.133.07 for kernel K (x86_64)" header.
    pub kernel: Option<String>,
    /// The first line that looks like a compiler or make error.
    pub first_error: Option<String>,
    /// The last non-empty lines.
    pub tail: Vec<String>,
    /// What [`crate::diagnose::diagnose`] recognised in the log's tail.
    pub diagnoses: Vec<Diagnosis>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DkmsStatusCapture {
    pub path: String,
    pub entries: Vec<DkmsStatus>,
}

/// One line of `dkms status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DkmsStatus {
    pub module: String,
    pub version: String,
    pub kernel: Option<String>,
    pub arch: Option<String>,
    /// "added", "built", "installed", "installed-weak", ...
    pub state: String,
    /// The parenthesised suffixes, e.g. "WARNING! Diff between built and installed module!".
    pub notes: Vec<String>,
    /// 2 for `nvidia, 570.133.07, ...`, 3 for `nvidia/570.133.07, ...`.
    pub format: u8,
}

/// /var/lib/dpkg: the packages doctor cares about and who owns the NVML files.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dpkg {
    pub packages: Vec<Package>,
}

impl Dpkg {
    pub fn get(&self, name: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.name == name)
    }
}

/// A stanza of /var/lib/dpkg/status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// The three words of `Status:`: want ("install", "deinstall", "hold", ...),
    /// error flag ("ok", "reinstreq") and state ("installed", "half-configured", ...).
    pub want: String,
    pub flag: String,
    pub state: String,
}

impl Package {
    /// The two or three letters `dpkg -l` shows: "ii", "iF", "rc", "iHR".
    pub fn code(&self) -> String {
        let w = match self.want.as_str() {
            "install" => 'i',
            "hold" => 'h',
            "deinstall" => 'r',
            "purge" => 'p',
            _ => 'u',
        };
        let s = match self.state.as_str() {
            "installed" => 'i',
            "config-files" => 'c',
            "half-installed" => 'H',
            "unpacked" => 'U',
            "half-configured" => 'F',
            "triggers-awaited" => 'W',
            "triggers-pending" => 't',
            _ => 'n',
        };
        let mut code = format!("{w}{s}");
        if self.flag == "reinstreq" {
            code.push('R');
        }
        code
    }
    /// Files on disk (fully or partly): every state but not-installed.
    pub fn has_files(&self) -> bool {
        !matches!(self.state.as_str(), "not-installed" | "config-files" | "")
    }
    /// Installed, but its setup did not finish.
    pub fn is_broken(&self) -> bool {
        self.flag == "reinstreq"
            || matches!(
                self.state.as_str(),
                "half-installed" | "unpacked" | "half-configured" | "triggers-awaited"
            )
    }
    /// Removed, configuration files left (`rc`).
    pub fn is_leftover(&self) -> bool {
        self.state == "config-files"
    }
}

/// unattended-upgrades settings from /etc/apt/apt.conf and /etc/apt/apt.conf.d/*.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Unattended {
    /// `APT::Periodic::Unattended-Upgrade` value and the file that set it last.
    pub periodic: Option<(String, String)>,
    /// `Unattended-Upgrade::Package-Blacklist` entries (regexes) and their files.
    pub blacklist: Vec<(String, String)>,
}

impl Unattended {
    pub fn enabled(&self) -> bool {
        self.periodic
            .as_ref()
            .is_some_and(|(v, _)| v.trim().parse::<i64>().is_ok_and(|n| n > 0) || v == "always")
    }
}

/// /run/reboot-required and the packages in reboot-required.pkgs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RebootRequired {
    pub path: String,
    pub packages: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Security {
    /// The SecureBoot EFI variable (last byte 1); `None` when not readable (BIOS boot, no efivarfs).
    pub secure_boot: Option<bool>,
    /// /sys/module/module/parameters/sig_enforce.
    pub sig_enforce: Option<bool>,
    /// The bracketed word of /sys/kernel/security/lockdown ("none", "integrity", ...).
    pub lockdown: Option<String>,
    /// The key dkms signs modules with, if one exists (to enroll with mokutil).
    pub mok_key: Option<String>,
}

impl Security {
    /// Would the kernel refuse an unsigned module?
    pub fn enforces_signatures(&self) -> bool {
        self.secure_boot == Some(true)
            || self.sig_enforce == Some(true)
            || self.lockdown.as_deref().is_some_and(|l| l != "none")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Firmware {
    pub name: String,
    pub present: bool,
}

/// The distribution family: decides which package tool a fix names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Debian, Ubuntu, Mint, Pop!_OS: dpkg and apt.
    Debian,
    /// Fedora, RHEL, CentOS, Rocky, Alma: rpm, dnf and akmods.
    Fedora,
    /// Arch, CachyOS, Manjaro, EndeavourOS: pacman.
    Arch,
    /// openSUSE, SLES: rpm and zypper.
    Suse,
    #[default]
    Unknown,
}

/// `/etc/os-release` and the package database found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Distro {
    pub family: Family,
    /// `ID` ("ubuntu", "fedora", "cachyos").
    pub id: Option<String>,
    /// `ID_LIKE`, split ("arch"; "rhel centos fedora").
    pub id_like: Vec<String>,
    /// `PRETTY_NAME`.
    pub name: Option<String>,
    /// The package database that exists under the root (`/var/lib/dpkg/status`,
    /// `/var/lib/pacman/local`, `/var/lib/rpm/rpmdb.sqlite`, ...).
    pub package_db: Option<String>,
    /// False for a database doctor finds but does not read (rpm's SQLite database).
    pub package_db_read: bool,
}

/// A package in pacman's local database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacmanPackage {
    pub name: String,
    pub version: String,
}

/// One akmods log: `<version>-<release>-for-<kernel>.log`, `.failed.log` when the build failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AkmodsLog {
    pub path: String,
    pub kernel: String,
    pub failed: bool,
    /// The first line that reads as the error.
    pub first_error: Option<String>,
}

/// A line of a log that shows a build step damaged (or could not read) an object file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogHit {
    /// The log, inside the root.
    pub source: String,
    /// The kernel the log was building for at that line, when it says.
    pub kernel: Option<String>,
    /// "bfd-assertion", "invalid-group-entry", "format-not-recognized", "illformed".
    pub kind: String,
    pub line: String,
}

/// One installed module file through the loader checks of `dkwrap verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleCheck {
    /// "nvidia-modeset" (the file name without `.ko*`).
    pub name: String,
    pub path: String,
    pub compression: Option<String>,
    /// "ok", "invalid" (the loader would reject or mis-load it), "kernel-mismatch"
    /// (built for another kernel), "unreadable".
    pub verdict: String,
    /// The loader check error messages, first few.
    pub errors: Vec<String>,
    /// How many errors there were in all.
    pub error_count: usize,
    /// The kernel config the checks used (`/lib/modules/<k>/build/.config`), if any.
    pub config: Option<String>,
}

impl ModuleCheck {
    pub fn failed(&self) -> bool {
        self.verdict != "ok"
    }
}
