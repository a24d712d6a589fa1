//! The judge: a pure function from [`Facts`] to a [`Report`] (verdicts, evidence, fixes).
//! No file system access, so every rule is unit-tested with hand-built facts.
//!
//! Severity decides the exit code: a [`Severity::Broken`] or [`Severity::Risk`] finding makes
//! `doctor` exit with `exit::PROBLEMS_FOUND`; [`Severity::Note`]s alone leave it healthy.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::doctor::facts::*;
use crate::doctor::parse::{blacklist_matches, upstream_version};

mod evidence;
mod modules;
mod tools;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Does not work now.
    Broken,
    /// Works now, breaks at the next reboot or upgrade.
    Risk,
    /// Worth knowing; nothing to fix urgently.
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable identifier for scripts ("version-mismatch", "kernel-without-module", ...).
    pub id: &'static str,
    pub severity: Severity,
    pub verdict: String,
}

/// One row of the evidence table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub what: String,
    pub value: String,
    /// The file it came from, inside the root.
    pub source: String,
    /// Extra lines (a make.log tail).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub detail: Vec<String>,
}

/// When a fix runs, relative to the others: the report lists fixes in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// What the failed build's log says to fix first.
    BuildCause,
    Headers,
    Packages,
    Build,
    Sign,
    Firmware,
    /// Load the module without a reboot.
    Load,
    Reboot,
    Prevent,
    Cleanup,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    pub stage: Stage,
    /// What it does, shown as a `#` comment above the commands.
    pub why: String,
    /// Shell commands to run as they are; empty when the fix is advice only.
    pub commands: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub module: String,
    pub healthy: bool,
    /// One line: what works when healthy, the counts otherwise.
    pub summary: String,
    /// Worst first.
    pub verdicts: Vec<Finding>,
    pub evidence: Vec<Evidence>,
    /// In the order to run them.
    pub fixes: Vec<Fix>,
}

/// Judges the facts.
pub fn judge(f: &Facts) -> Report {
    let mut j = Judge::new(f);
    j.run();
    j.finish()
}

/// Which kernel GRUB boots next, and why doctor thinks so. Kernels must be sorted oldest
/// first; only installed ones count.
pub fn next_boot(kernels: &[Kernel], grub: &Grub) -> Option<(String, String)> {
    let installed: Vec<&str> = kernels
        .iter()
        .filter(|k| k.installed)
        .map(|k| k.release.as_str())
        .collect();
    let newest = *installed.last()?;
    let find = |entry: &str| -> Option<&str> {
        // The longest release named in the entry: "…-94-generic" must not match "…-9".
        installed
            .iter()
            .filter(|k| {
                entry.match_indices(**k).any(|(i, _)| {
                    let after = entry[i + k.len()..].chars().next();
                    !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
                })
            })
            .max_by_key(|k| k.len())
            .copied()
    };
    if let Some(k) = grub.next_entry.as_deref().and_then(find) {
        return Some((k.into(), "grubenv next_entry".into()));
    }
    let default = grub.default.as_deref().unwrap_or("0");
    if default == "saved" {
        return Some(match grub.saved_entry.as_deref().and_then(find) {
            Some(k) => (k.into(), "GRUB saved_entry".into()),
            None => (newest.into(), "newest installed".into()),
        });
    }
    if let Some(k) = find(default) {
        return Some((k.into(), "GRUB_DEFAULT".into()));
    }
    if default == "0" {
        return Some((newest.into(), "newest installed".into()));
    }
    // "1>N": entry N of the "Advanced options" submenu, newest kernel first, each followed
    // by its recovery entry.
    if let Some(n) = default
        .strip_prefix("1>")
        .and_then(|n| n.trim().parse::<usize>().ok())
    {
        if let Some(k) = installed.iter().rev().nth(n / 2) {
            return Some(((*k).into(), format!("GRUB_DEFAULT={default}")));
        }
    }
    Some((
        newest.into(),
        format!("newest installed; GRUB_DEFAULT={default} not understood"),
    ))
}

/// A kernel doctor has an opinion about: the running one, the next boot, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Role {
    running: bool,
    next: bool,
}

struct Judge<'a> {
    f: &'a Facts,
    m: &'a str,
    container: bool,
    loaded: Option<&'a str>,
    /// The NVML version programs load first.
    user: Option<&'a str>,
    next: Option<(String, String)>,
    findings: Vec<Finding>,
    evidence: Vec<Evidence>,
    fixes: Vec<Fix>,
}

impl<'a> Judge<'a> {
    fn new(f: &'a Facts) -> Self {
        Judge {
            f,
            m: &f.module,
            container: f.container.is_some(),
            loaded: f.loaded.version(),
            user: f.nvml.first().map(|l| l.version.as_str()),
            next: next_boot(&f.kernels, &f.grub),
            findings: Vec::new(),
            evidence: Vec::new(),
            fixes: Vec::new(),
        }
    }

    fn find(&mut self, id: &'static str, severity: Severity, verdict: String) {
        if !self.findings.iter().any(|x| x.verdict == verdict) {
            self.findings.push(Finding {
                id,
                severity,
                verdict,
            });
        }
    }

    fn fix(&mut self, stage: Stage, why: impl Into<String>, commands: &[String]) {
        let why = why.into();
        let duplicate = |x: &Fix| x.commands == commands && (!commands.is_empty() || x.why == why);
        if self.fixes.iter().any(duplicate) {
            return;
        }
        self.fixes.push(Fix {
            stage,
            why,
            commands: commands.to_vec(),
        });
    }

    fn show(&mut self, what: &str, value: String, source: &str) {
        self.evidence.push(Evidence {
            what: what.into(),
            value,
            source: source.into(),
            detail: Vec::new(),
        });
    }

    fn running(&self) -> Option<&'a Kernel> {
        let r = self.f.running.as_deref()?;
        self.f.kernels.iter().find(|k| k.release == r)
    }

    fn kernel(&self, release: &str) -> Option<&'a Kernel> {
        self.f.kernels.iter().find(|k| k.release == release)
    }

    /// Installed packages with files whose names start with `prefix`.
    fn packages(&self, prefix: &str) -> Vec<&'a Package> {
        self.f
            .dpkg
            .iter()
            .flat_map(|d| &d.packages)
            .filter(|p| p.name.starts_with(prefix) && p.has_files())
            .collect()
    }

    /// The driver came from packages (not a .run installer or a container mount).
    fn packaged(&self) -> bool {
        !self.packages("nvidia-").is_empty() || !self.packages("libnvidia-").is_empty()
    }

    fn runfile(&self) -> bool {
        !self.container
            && self.f.dpkg.is_some()
            && (self.f.runfile_uninstaller
                || (!self.f.nvml.is_empty() && self.f.nvml.iter().all(|l| l.owner.is_none())))
    }

    /// The DKMS source version to build: the one matching userspace, else the newest.
    fn dkms_version(&self) -> Option<&'a str> {
        let buildable: Vec<&DkmsVersion> = self.f.dkms.buildable().collect();
        buildable
            .iter()
            .find(|v| Some(v.version.as_str()) == self.user)
            .or(buildable.last())
            .map(|v| v.version.as_str())
    }

    fn arch(&self) -> &'a str {
        let from_proc = self.f.loaded.proc.as_ref().and_then(|p| {
            ["x86_64", "aarch64", "ppc64le"]
                .into_iter()
                .find(|a| p.line.contains(a))
        });
        let from_dkms = self.f.dkms.versions.iter().flat_map(|v| &v.builds).next();
        from_proc
            .or(from_dkms.map(|b| b.arch.as_str()))
            .unwrap_or("x86_64")
    }

    fn run(&mut self) {
        let f = self.f;
        if self.nothing_installed() {
            let m = self.m;
            if !super::probe::is_nvidia(m) {
                self.find(
                    "no-driver",
                    Severity::Broken,
                    format!(
                        "no {m} module found: not loaded, none on disk, not registered with DKMS"
                    ),
                );
            } else if self.container {
                self.find(
                    "no-driver",
                    Severity::Broken,
                    format!("no {m} driver is visible in this container: it was started without GPU access"),
                );
                self.fix(
                    Stage::Packages,
                    "start the container with the NVIDIA Container Toolkit, e.g. docker run --gpus all …, on a host whose driver works",
                    &[],
                );
            } else {
                self.find(
                    "no-driver",
                    Severity::Broken,
                    format!("no NVIDIA driver found: no {m} module loaded or on disk, no libnvidia-ml, no DKMS, no packages"),
                );
                self.install_driver_fix();
            }
            self.gather_evidence();
            return;
        }
        self.versions();
        if !self.container {
            self.kernels();
            self.dkms_claims();
            self.dpkg_state();
            self.runfile_install();
            self.unattended();
            self.reboot_pending();
        }
        self.several_nvml();
        if f.loaded.version.is_some() {
            if let Some(p) = &f.loaded.proc {
                if Some(p.version.as_str()) != f.loaded.version.as_deref() {
                    self.find(
                        "proc-sysfs-disagree",
                        Severity::Note,
                        format!(
                            "/proc/driver/nvidia/version says {} but /sys/module/{}/version says {}",
                            p.version,
                            self.m,
                            f.loaded.version.as_deref().unwrap_or_default()
                        ),
                    );
                }
            }
        }
        if !f.unreadable.is_empty() {
            self.find(
                "unreadable",
                Severity::Note,
                format!(
                    "could not read {} file(s): {}",
                    f.unreadable.len(),
                    f.unreadable.join("; ")
                ),
            );
        }
        self.gather_evidence();
    }

    fn nothing_installed(&self) -> bool {
        let f = self.f;
        !f.loaded.is_loaded()
            && f.nvml.is_empty()
            && f.kernels.iter().all(|k| k.modules.is_empty())
            && !f.dkms.registered
            && !self.packaged()
    }

    /// Loaded module vs userspace NVML vs the running kernel's module.
    fn versions(&mut self) {
        let m = self.m;
        let on_disk = self
            .running()
            .and_then(Kernel::module)
            .and_then(|d| d.version.as_deref());
        match (self.loaded, self.user) {
            (Some(l), Some(u)) if l != u => {
                if self.container {
                    self.find(
                        "version-mismatch",
                        Severity::Broken,
                        format!("the container's NVML {u} ≠ the host's loaded module {l}: the container must use the host driver's libraries"),
                    );
                    self.fix(
                        Stage::Packages,
                        format!("drop libnvidia-ml {u} from the image; run it with the NVIDIA Container Toolkit (docker run --gpus all …), which mounts the host's {l} libraries"),
                        &[],
                    );
                    return;
                }
                match on_disk {
                    Some(d) if d == u => {
                        self.find(
                            "version-mismatch",
                            Severity::Broken,
                            format!("userspace {u} ≠ loaded {l} — reboot: the running kernel's on-disk module is already {u}"),
                        );
                        self.fix(
                            Stage::Reboot,
                            format!("load the {u} module (or, with nothing using the GPU: sudo modprobe -r nvidia_drm nvidia_modeset nvidia_uvm {m} && sudo modprobe {m})"),
                            &["sudo reboot".into()],
                        );
                    }
                    Some(d) => {
                        self.find(
                            "version-mismatch",
                            Severity::Broken,
                            format!("userspace {u} ≠ loaded {l}, and the running kernel's on-disk module is {d}: a reboot alone will not fix it"),
                        );
                        if let Some(r) = self.f.running.clone() {
                            self.rebuild(&r, true);
                        }
                        self.fix(
                            Stage::Reboot,
                            format!("load the rebuilt {u} module"),
                            &["sudo reboot".into()],
                        );
                    }
                    None => {
                        self.find(
                            "version-mismatch",
                            Severity::Broken,
                            format!("userspace {u} ≠ loaded {l}, and the running kernel has no {m} module on disk"),
                        );
                    }
                }
            }
            (Some(_), None) if !super::probe::is_nvidia(m) => {}
            (Some(_), None) => {
                if self.container {
                    self.find(
                        "no-userspace",
                        Severity::Broken,
                        format!("the host's {m} module is loaded but this container has no libnvidia-ml: start it with --gpus all and NVIDIA_DRIVER_CAPABILITIES=compute,utility"),
                    );
                } else {
                    self.find(
                        "no-userspace",
                        Severity::Broken,
                        format!("the {m} module is loaded but no libnvidia-ml was found: nvidia-smi and CUDA cannot work"),
                    );
                    if let Some(cmd) = self.branch().and_then(|b| self.userspace_command(b)) {
                        self.fix(
                            Stage::Packages,
                            "install the userspace libraries of the loaded branch",
                            &[cmd],
                        );
                    }
                }
            }
            (None, Some(u)) => {
                if self.container {
                    self.find(
                        "not-loaded",
                        Severity::Broken,
                        format!("no {m} driver is visible in this container (NVML {u} is): start it with --gpus all on a host whose driver is loaded"),
                    );
                } else if self.f.nouveau_loaded {
                    self.find(
                        "nouveau",
                        Severity::Broken,
                        format!("nouveau is loaded instead of {m}: the open-source driver holds the GPU"),
                    );
                    self.fix(
                        Stage::Reboot,
                        "keep nouveau from loading, then reboot",
                        &[
                            "printf 'blacklist nouveau\\noptions nouveau modeset=0\\n' | sudo tee /etc/modprobe.d/blacklist-nouveau.conf".into(),
                            self.initramfs_and_reboot(),
                        ],
                    );
                } else if on_disk.is_some() {
                    self.find(
                        "not-loaded",
                        Severity::Broken,
                        format!("the {m} module is not loaded although the running kernel has one on disk: load it and read why it fails"),
                    );
                    self.fix(
                        Stage::Load,
                        "load it; the kernel log says why if it refuses",
                        &[format!(
                            "sudo modprobe {m}; sudo dmesg | grep -iE 'nvidia|nvrm' | tail"
                        )],
                    );
                }
                // Without a module on disk the per-kernel verdict says it.
            }
            _ => {}
        }
        if self.f.nvml.is_empty() && !self.f.nvml_dangling.is_empty() {
            self.find(
                "nvml-dangling",
                Severity::Broken,
                format!(
                    "libnvidia-ml links lead to missing files: {}",
                    self.f.nvml_dangling.join(", ")
                ),
            );
        }
    }

    /// The driver branch (570) from the loaded or userspace version.
    fn branch(&self) -> Option<&'a str> {
        self.user.or(self.loaded).and_then(|v| v.split('.').next())
    }

    fn several_nvml(&mut self) {
        let versions: BTreeSet<&str> = self.f.nvml.iter().map(|l| l.version.as_str()).collect();
        if versions.len() > 1 {
            let list: Vec<String> = self
                .f
                .nvml
                .iter()
                .map(|l| format!("{} ({})", l.version, l.path))
                .collect();
            self.find(
                "several-nvml",
                Severity::Risk,
                format!(
                    "several NVML libraries: {}; programs load the first, tools may load another",
                    list.join(", ")
                ),
            );
        }
    }

    /// The running and next-boot kernels: a module, for this kernel, loadable, signed,
    /// with its firmware, of the userspace version.
    fn kernels(&mut self) {
        let f = self.f;
        let running = f.running.clone();
        let next = self.next.as_ref().map(|(k, _)| k.clone());
        let mut targets: Vec<(String, Role)> = Vec::new();
        if let Some(r) = &running {
            targets.push((
                r.clone(),
                Role {
                    running: true,
                    next: next.as_deref() == Some(r),
                },
            ));
        }
        if let Some(n) = &next {
            if running.as_deref() != Some(n) {
                targets.push((
                    n.clone(),
                    Role {
                        running: false,
                        next: true,
                    },
                ));
            }
        }
        for (k, role) in targets {
            match self.kernel(&k) {
                Some(kernel) if kernel.module().is_some() => self.kernel_module(kernel, role),
                _ => self.kernel_without_module(&k, role),
            }
            self.module_checks(&k, role);
        }
        // The loaded build vs the running kernel's on-disk build.
        if let (Some(kernel), Some(ls)) = (self.running(), f.loaded.srcversion.as_deref()) {
            if let Some(d) = kernel.module() {
                if let Some(ds) = d.srcversion.as_deref() {
                    if ds != ls && d.version.as_deref() == self.loaded {
                        self.find(
                            "srcversion-differs",
                            Severity::Note,
                            format!(
                                "the loaded module (srcversion {ls}) is not the build on disk ({ds}): it was rebuilt since boot; a reboot loads the new build"
                            ),
                        );
                    }
                }
            }
        }
    }

    fn kernel_without_module(&mut self, k: &str, role: Role) {
        let m = self.m;
        let kernel = self.kernel(k);
        let headers = kernel.map_or(Headers::Missing, |x| x.headers);
        let log = self
            .f
            .dkms
            .versions
            .iter()
            .filter_map(|v| v.make_log.as_ref())
            .find(|l| l.kernel.as_deref() == Some(k));
        let built = self.f.dkms.built_for(k);
        let akmods_failed = self.f.akmods.iter().find(|a| a.kernel == k && a.failed);
        // Ubuntu's prebuilt modules need no headers: the package is the whole fix.
        let prebuilt = self
            .prebuilt_branch()
            .filter(|_| !self.f.dkms.registered && self.f.dpkg.is_some());
        let reason = if let Some(b) = prebuilt {
            format!("Ubuntu's prebuilt linux-modules-nvidia-{b}-{k} is not installed")
        } else if let Some(a) = akmods_failed {
            let file = a.path.rsplit('/').next().unwrap_or(&a.path);
            match &a.first_error {
                Some(line) => format!("akmods failed to build it ({file}: {})", clip(line, 90)),
                None => format!("akmods failed to build it ({file})"),
            }
        } else if let Some(log) = log {
            let line = log
                .diagnoses
                .first()
                .map(|d| d.line.as_str())
                .or(log.first_error.as_deref())
                .or(log.tail.last().map(String::as_str))
                .unwrap_or("empty");
            format!("the DKMS build failed (make.log: {})", clip(line, 90))
        } else if let Some(b) = built {
            format!("DKMS built {} but did not install it", b.version)
        } else if headers == Headers::Missing {
            "its headers are not installed, so nothing could build it".to_string()
        } else if headers == Headers::Incomplete {
            "its headers are incomplete, so nothing could build it".to_string()
        } else if self.f.dkms.registered {
            "DKMS has not built it".to_string()
        } else if self.akmods_managed() {
            "akmods has not built it".to_string()
        } else if self.runfile() {
            "the .run installer built the driver for another kernel and nothing rebuilds it"
                .to_string()
        } else {
            "nothing built one for it".to_string()
        };
        let (severity, tail) = match (role.running, self.f.loaded.is_loaded()) {
            (true, false) => (Severity::Broken, " The GPU cannot work until it has one."),
            (true, true) => (
                Severity::Risk,
                " The loaded module will not come back after a reboot.",
            ),
            (false, _) => (Severity::Risk, " Rebooting into it will lose the GPU."),
        };
        self.find(
            "kernel-without-module",
            severity,
            format!("kernel {k} has no {m} module: {reason}.{tail}"),
        );
        match headers {
            _ if prebuilt.is_some() => {}
            Headers::Missing => self.fix_headers(
                k,
                format!("headers for {k}, which every module build needs"),
                false,
            ),
            Headers::Incomplete => self.fix_headers(
                k,
                format!("put back the missing files of {k}'s headers"),
                true,
            ),
            Headers::Ready => {
                // The headers are fine: what the log says is the cause to fix first.
                for d in log.iter().flat_map(|l| &l.diagnoses) {
                    self.fix(
                        Stage::BuildCause,
                        format!("make.log ({}): {}", d.id, d.fix),
                        &[],
                    );
                }
            }
        }
        self.rebuild(k, false);
    }

    /// How to (re)build the module for kernel `k`.
    fn rebuild(&mut self, k: &str, force: bool) {
        let m = self.m;
        if let Some(v) = self.dkms_version() {
            // Debian's wording first (as its docs write it); elsewhere as the dkms man page.
            let cmd = match (force, self.family()) {
                (false, _) => format!("sudo dkms install {m}/{v} -k {k}"),
                (true, crate::doctor::facts::Family::Debian) => {
                    format!("sudo dkms install --force {m}/{v} -k {k}")
                }
                (true, _) => format!("sudo dkms install {m}/{v} -k {k} --force"),
            };
            self.fix(
                Stage::Build,
                format!("build and install {m} {v} for {k}"),
                &[cmd],
            );
        } else if self.akmods_managed() {
            self.fix(
                Stage::Build,
                format!("build and install kmod-{m} for {k} with akmods"),
                &[format!("sudo akmods --force --kernels {k}")],
            );
        } else if let Some(b) = self.prebuilt_branch().filter(|_| self.f.dpkg.is_some()) {
            let verb = if force {
                "install --reinstall"
            } else {
                "install"
            };
            self.fix(
                Stage::Build,
                format!("install Ubuntu's prebuilt, signed {m} {b} modules for {k}"),
                &[format!("sudo apt {verb} linux-modules-nvidia-{b}-{k}")],
            );
        } else if self.runfile() {
            let v = self.user.unwrap_or("VERSION");
            self.fix(
                Stage::Build,
                format!("rebuild with NVIDIA's installer for {k}, registered with DKMS so later kernels get one too"),
                &[format!("sudo sh NVIDIA-Linux-{}-{v}.run --dkms --kernel-name={k}", self.arch())],
            );
        } else if let Some(p) = self.packages("nvidia-dkms-").first() {
            self.fix(
                Stage::Build,
                format!("reinstall {} so DKMS has the source again", p.name),
                &[format!("sudo apt install --reinstall {}", p.name)],
            );
        }
    }

    fn kernel_module(&mut self, kernel: &'a Kernel, role: Role) {
        let m = self.m;
        let k = kernel.release.as_str();
        let Some(module) = kernel.module() else {
            return;
        };
        let worst = |running_broken: bool| {
            if role.running && running_broken {
                Severity::Broken
            } else {
                Severity::Risk
            }
        };
        let not_loaded = !self.f.loaded.is_loaded();
        let when = match (role.running, not_loaded) {
            (true, true) => "loading it",
            (true, false) => "the next reboot",
            (false, _) => "booting it",
        };
        if let Some(vr) = module.vermagic_release() {
            if vr != k {
                self.find(
                    "vermagic-mismatch",
                    worst(not_loaded),
                    format!(
                        "{} was built for kernel {vr}, not {k}: modprobe refuses it (\"Invalid module format\")",
                        module.path
                    ),
                );
                self.rebuild(k, true);
            }
        }
        if let (Some(d), Some(u)) = (module.version.as_deref(), self.user) {
            let reported_by_versions = role.running && self.loaded.is_some_and(|l| l != u);
            if d != u && !reported_by_versions {
                self.find(
                    "module-version",
                    worst(not_loaded),
                    format!("kernel {k}'s {m} module is {d} but userspace is {u}: {when} gives \"Driver/library version mismatch\""),
                );
                self.rebuild(k, true);
            }
        }
        if self.f.security.enforces_signatures() && !module.signed {
            let why = if self.f.security.secure_boot == Some(true) {
                "Secure Boot is on"
            } else {
                "the kernel enforces module signatures"
            };
            self.find(
                "unsigned-module",
                worst(not_loaded),
                format!("{why} and {} is not signed: the kernel refuses it (\"Key was rejected by service\")", module.path),
            );
            let key = self.f.security.mok_key.clone().unwrap_or_else(|| {
                if self.akmods_managed() {
                    "/etc/pki/akmods/certs/public_key.der".into()
                } else {
                    "/var/lib/dkms/mok.pub".into()
                }
            });
            self.fix(
                Stage::Sign,
                "enroll the key modules are signed with (you confirm it in the blue MOK screen at the next boot), then rebuild so the module is signed",
                &[format!("sudo mokutil --import {key}")],
            );
            self.rebuild(k, true);
            self.fix(
                Stage::Reboot,
                "reboot to enroll the key",
                &["sudo reboot".into()],
            );
        }
        let missing: Vec<&str> = module
            .firmware
            .iter()
            .filter(|name| {
                self.f
                    .firmware
                    .iter()
                    .any(|fw| &fw.name == *name && !fw.present)
            })
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            self.find(
                "firmware-missing",
                worst(not_loaded),
                format!(
                    "{} needs firmware missing from /lib/firmware: {}; it cannot start the GPU",
                    module.path,
                    missing.join(", ")
                ),
            );
            let pkgs: Vec<String> = self
                .packages("nvidia-firmware-")
                .iter()
                .map(|p| p.name.clone())
                .collect();
            if pkgs.is_empty() {
                self.fix(
                    Stage::Firmware,
                    "reinstall the driver: its firmware files are missing",
                    &[],
                );
            } else {
                self.fix(
                    Stage::Firmware,
                    "put the firmware files back",
                    &[format!("sudo apt install --reinstall {}", pkgs.join(" "))],
                );
            }
        }
        let versions: BTreeSet<&str> = kernel
            .modules
            .iter()
            .filter_map(|x| x.version.as_deref())
            .collect();
        if versions.len() > 1 {
            self.find(
                "several-modules",
                Severity::Note,
                format!(
                    "kernel {k} has {} {m} modules ({}); modprobe takes {}",
                    kernel.modules.len(),
                    kernel
                        .modules
                        .iter()
                        .map(|x| format!("{} {}", x.path, x.version.as_deref().unwrap_or("?")))
                        .collect::<Vec<_>>()
                        .join(", "),
                    module.path
                ),
            );
        }
        if role.next && kernel.headers != Headers::Ready && self.f.dkms.registered {
            self.find(
                "no-headers",
                Severity::Note,
                format!("kernel {k} has no usable headers: DKMS cannot rebuild {m} for it when the driver is updated"),
            );
            self.fix_headers(
                k,
                format!("headers for {k}, for the next DKMS rebuild"),
                false,
            );
        }
    }

    /// What a captured `dkms status` claims against what is on disk.
    fn dkms_claims(&mut self) {
        let Some(cap) = &self.f.dkms.status else {
            return;
        };
        for e in &cap.entries {
            let Some(k) = e.kernel.as_deref() else {
                continue;
            };
            if !e.state.starts_with("installed") {
                continue;
            }
            let on_disk = self
                .kernel(k)
                .and_then(Kernel::module)
                .and_then(|d| d.version.as_deref());
            match on_disk {
                Some(d) if d == e.version => {}
                other => self.find(
                    "dkms-status-wrong",
                    Severity::Risk,
                    format!(
                        "dkms status says {}/{} is installed for {k}, but /lib/modules/{k} has {}",
                        e.module,
                        e.version,
                        other.map_or("no module".to_string(), |d| d.to_string())
                    ),
                ),
            }
            for n in &e.notes {
                if n.contains("Diff") || n.contains("Differences") {
                    self.find(
                        "dkms-diff",
                        Severity::Note,
                        format!("dkms status for {k}: {n}: the installed module is not the one dkms built"),
                    );
                }
            }
        }
    }

    fn dpkg_state(&mut self) {
        let Some(dpkg) = &self.f.dpkg else {
            return;
        };
        let broken: Vec<&Package> = dpkg.packages.iter().filter(|p| p.is_broken()).collect();
        if !broken.is_empty() {
            let list: Vec<String> = broken
                .iter()
                .map(|p| format!("{} is {} ({})", p.name, p.state, p.code()))
                .collect();
            self.find(
                "dpkg-unfinished",
                Severity::Broken,
                format!(
                    "{}: {} did not finish, and apt stops there until it does",
                    list.join(", "),
                    if list.len() == 1 {
                        "its setup"
                    } else {
                        "their setup"
                    }
                ),
            );
            let reinst: Vec<&str> = broken
                .iter()
                .filter(|p| p.flag == "reinstreq")
                .map(|p| p.name.as_str())
                .collect();
            if !reinst.is_empty() {
                self.fix(
                    Stage::Packages,
                    "unpack the half-installed packages again",
                    &[format!("sudo apt install --reinstall {}", reinst.join(" "))],
                );
            }
            let names: Vec<&str> = broken.iter().map(|p| p.name.as_str()).collect();
            self.fix(
                Stage::Packages,
                format!("finish setting up {}", names.join(", ")),
                &["sudo dpkg --configure -a".into()],
            );
        }
        // Two driver branches with files on disk.
        let mut branches: BTreeSet<&str> = BTreeSet::new();
        for p in dpkg.packages.iter().filter(|p| p.has_files()) {
            for prefix in [
                "nvidia-driver-",
                "nvidia-dkms-",
                "libnvidia-compute-",
                "nvidia-kernel-common-",
            ] {
                if let Some(rest) = p.name.strip_prefix(prefix) {
                    let b = rest.split('-').next().unwrap_or(rest);
                    if !b.is_empty() && b.chars().all(|c| c.is_ascii_digit()) {
                        branches.insert(b);
                    }
                }
            }
        }
        if branches.len() > 1 {
            let keep = self.branch();
            let list: Vec<&str> = branches.iter().copied().collect();
            self.find(
                "two-branches",
                Severity::Risk,
                format!("driver branches {} are installed side by side: their files and modules overwrite each other", list.join(" and ")),
            );
            let drop: Vec<String> = dpkg
                .packages
                .iter()
                .filter(|p| p.has_files())
                .filter(|p| {
                    branches
                        .iter()
                        .filter(|b| Some(**b) != keep)
                        .any(|b| p.name.contains(&format!("-{b}")) && p.name.contains("nvidia"))
                })
                .map(|p| p.name.clone())
                .collect();
            if keep.is_some() && !drop.is_empty() {
                self.fix(
                    Stage::Cleanup,
                    format!(
                        "remove the branch that is not in use (keep {})",
                        keep.unwrap_or_default()
                    ),
                    &[format!("sudo apt purge {}", drop.join(" "))],
                );
            }
        }
        // Package version vs the files it owns.
        for lib in &self.f.nvml {
            let Some(owner) = lib.owner.as_deref().and_then(|o| dpkg.get(o)) else {
                continue;
            };
            let pv = upstream_version(&owner.version);
            if !pv.is_empty() && pv != lib.version && owner.has_files() {
                self.find(
                    "package-file-version",
                    Severity::Risk,
                    format!(
                        "{} is {} but its package {} is {pv}: something replaced the packaged file",
                        lib.path, lib.version, owner.name
                    ),
                );
            }
        }
        // Leftovers.
        let rc: Vec<&str> = dpkg
            .packages
            .iter()
            .filter(|p| p.is_leftover() && (p.name.contains("nvidia")))
            .map(|p| p.name.as_str())
            .collect();
        if !rc.is_empty() {
            self.find(
                "dpkg-leftovers",
                Severity::Note,
                format!(
                    "removed packages left their configuration behind (rc): {}",
                    rc.join(", ")
                ),
            );
            self.fix(
                Stage::Cleanup,
                "purge what earlier driver installs left behind",
                &[format!("sudo apt purge {}", rc.join(" "))],
            );
        }
    }

    fn runfile_install(&mut self) {
        let Some(_) = &self.f.dpkg else {
            return;
        };
        let unowned: Vec<&NvmlLib> = self.f.nvml.iter().filter(|l| l.owner.is_none()).collect();
        if unowned.is_empty() {
            return;
        }
        let owned: Vec<&NvmlLib> = self.f.nvml.iter().filter(|l| l.owner.is_some()).collect();
        let paths: Vec<&str> = unowned.iter().map(|l| l.path.as_str()).collect();
        if !owned.is_empty() {
            self.find(
                "runfile-and-packages",
                Severity::Broken,
                format!(
                    "two driver installs: {} belongs to no package (NVIDIA's .run installer) and {} to {}",
                    paths.join(", "),
                    owned[0].path,
                    owned[0].owner.as_deref().unwrap_or_default()
                ),
            );
            self.fix(
                Stage::Packages,
                "remove the .run install, then reinstall the packaged driver",
                &["sudo nvidia-uninstall".into()],
            );
            return;
        }
        let v = unowned[0].version.as_str();
        if self.f.dkms.registered {
            self.find(
                "runfile",
                Severity::Note,
                format!("libnvidia-ml {v} belongs to no package: the driver was installed with NVIDIA's .run installer (registered with DKMS)"),
            );
        } else {
            self.find(
                "runfile",
                Severity::Risk,
                format!("libnvidia-ml {v} belongs to no package: the driver was installed with NVIDIA's .run installer without DKMS, so no kernel update gets a module"),
            );
            if self
                .fixes
                .iter()
                .any(|x| x.commands.iter().any(|c| c.contains(".run --dkms")))
            {
                return;
            }
            self.fix(
                Stage::Prevent,
                "re-run the installer with --dkms so every new kernel gets a module",
                &[format!(
                    "sudo sh NVIDIA-Linux-{}-{v}.run --dkms",
                    self.arch()
                )],
            );
        }
    }

    fn unattended(&mut self) {
        let u = &self.f.unattended;
        // unattended-upgrades is Debian's; an APT file in another system's image is noise.
        if !matches!(
            self.family(),
            crate::doctor::facts::Family::Debian | crate::doctor::facts::Family::Unknown
        ) {
            return;
        }
        let packaged = self.packaged() || self.f.dkms.registered;
        if !u.enabled() || !(packaged || self.runfile()) {
            return;
        }
        let blacklist: Vec<&str> = u.blacklist.iter().map(|(e, _)| e.as_str()).collect();
        let covered = |names: &[&str]| {
            names
                .iter()
                .all(|n| blacklist.iter().any(|e| blacklist_matches(e, n)))
        };
        let names = |prefix: &str, fallback: &'static str| -> Vec<&str> {
            let v: Vec<&str> = self
                .packages(prefix)
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            if v.is_empty() {
                vec![fallback]
            } else {
                v
            }
        };
        let nvidia = names("nvidia-", "nvidia-driver");
        let lib = names("libnvidia-", "libnvidia-compute");
        let mut linux = names("linux-image-", "linux-image-generic");
        linux.extend(names("linux-headers-", "linux-headers-generic"));
        let mut open = Vec::new();
        // A .run install has no packages for unattended-upgrades to replace: only kernels.
        if packaged && !covered(&nvidia) {
            open.push("nvidia-");
        }
        if packaged && !covered(&lib) {
            open.push("libnvidia-");
        }
        if !covered(&linux) {
            open.push("linux-");
        }
        if open.is_empty() {
            return;
        }
        let severity = if open.contains(&"nvidia-") || open.contains(&"libnvidia-") {
            Severity::Risk
        } else {
            Severity::Note
        };
        let what = if severity == Severity::Risk {
            "it swaps the driver under the loaded module and installs kernels DKMS may fail to build for"
        } else {
            "it installs kernels DKMS may fail to build for"
        };
        self.find(
            "unattended-upgrades",
            severity,
            format!(
                "unattended-upgrades is on with no blacklist for {}: {what}",
                open.join(", ")
            ),
        );
        let entries: Vec<String> = open.iter().map(|p| format!("\"{p}\";")).collect();
        self.fix(
            Stage::Prevent,
            format!(
                "keep unattended-upgrades away from the driver{}",
                if open.contains(&"linux-") {
                    " and kernels (kernel security updates then wait for you)"
                } else {
                    ""
                }
            ),
            &[
                "sudo tee /etc/apt/apt.conf.d/51unattended-upgrades-nvidia >/dev/null <<'EOF'"
                    .into(),
                format!(
                    "Unattended-Upgrade::Package-Blacklist {{ {} }};",
                    entries.join(" ")
                ),
                "EOF".into(),
            ],
        );
        let mut hold: Vec<String> = self
            .packages("nvidia-driver-")
            .iter()
            .map(|p| p.name.clone())
            .collect();
        if hold.is_empty() {
            hold.extend(self.packages("nvidia-dkms-").iter().map(|p| p.name.clone()));
        }
        let metas: Vec<String> = self
            .f
            .dpkg
            .iter()
            .flat_map(|d| &d.packages)
            .filter(|p| p.has_files() && is_kernel_meta(&p.name))
            .map(|p| p.name.clone())
            .collect();
        hold.extend(metas);
        if !hold.is_empty() {
            self.fix(
                Stage::Prevent,
                "or hold them instead — caveat: a hold also blocks kernel security updates until you `apt-mark unhold`",
                &[format!("sudo apt-mark hold {}", hold.join(" "))],
            );
        }
    }

    fn reboot_pending(&mut self) {
        if let Some(r) = &self.f.reboot_required {
            let pkgs = if r.packages.is_empty() {
                String::new()
            } else {
                format!(" for {}", r.packages.join(", "))
            };
            self.find(
                "reboot-required",
                Severity::Note,
                format!("a reboot is pending ({}{pkgs})", r.path),
            );
        }
    }

    fn healthy_summary(&self) -> String {
        let m = self.m;
        let v = self.loaded.or(self.user).unwrap_or("?");
        if self.container {
            return format!("{m} {v}: the host's loaded module matches this container's NVML");
        }
        let mut kernels = Vec::new();
        if let Some(r) = &self.f.running {
            kernels.push(format!("{r} (running)"));
        }
        if let Some((n, _)) = &self.next {
            if self.f.running.as_ref() != Some(n) {
                kernels.push(format!("{n} (next boot)"));
            }
        }
        format!(
            "{m} {v}: the loaded module, userspace NVML and the on-disk modules of {} agree",
            kernels.join(" and ")
        )
    }

    /// The reboot doctor asks for names the check to run first: boot the next-boot kernel in
    /// a VM and load its out-of-tree modules, so a module that would hang the machine is found
    /// while the running kernel still works. (Said in the reboot fix's comment: the fixes'
    /// commands and their count are what scripts rely on.)
    fn suggest_boot_test(&mut self) {
        let Some((next, _)) = &self.next else { return };
        if self.container {
            return;
        }
        let check = format!(
            "; first, `dkwrap verify --boot --installed --kernel {next}` loads its out-of-tree modules into it in a VM"
        );
        if let Some(reboot) = self
            .fixes
            .iter_mut()
            .find(|x| x.commands == ["sudo reboot"])
        {
            reboot.why.push_str(&check);
        }
    }

    fn finish(mut self) -> Report {
        self.findings.sort_by_key(|x| x.severity);
        self.fixes.sort_by_key(|x| x.stage);
        // One reboot, at its place, whoever asked for it.
        let mut seen_reboot = false;
        self.fixes.retain(|x| {
            let is_reboot = x.commands == ["sudo reboot"];
            let keep = !(is_reboot && seen_reboot);
            seen_reboot |= is_reboot;
            keep
        });
        self.suggest_boot_test();
        let healthy = !self.findings.iter().any(|x| x.severity != Severity::Note);
        let summary = if healthy {
            self.healthy_summary()
        } else {
            let count = |s: Severity, one: &str| {
                let n = self.findings.iter().filter(|x| x.severity == s).count();
                match n {
                    0 => None,
                    1 => Some(format!("1 {one}")),
                    n => Some(format!("{n} {one}s")),
                }
            };
            let parts: Vec<String> = [
                count(Severity::Broken, "problem"),
                count(Severity::Risk, "risk"),
                count(Severity::Note, "note"),
            ]
            .into_iter()
            .flatten()
            .collect();
            format!("{}: {}", self.m, parts.join(", "))
        };
        Report {
            module: self.m.to_string(),
            healthy,
            summary,
            verdicts: self.findings,
            evidence: self.evidence,
            fixes: self.fixes,
        }
    }
}

/// linux-generic, linux-image-generic, linux-headers-amd64, linux-generic-hwe-22.04: the
/// packages that pull new kernels in (not a versioned linux-image-5.15.0-138-generic).
fn is_kernel_meta(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("linux-") else {
        return false;
    };
    let rest = rest
        .strip_prefix("image-")
        .or_else(|| rest.strip_prefix("headers-"))
        .unwrap_or(rest);
    !rest.starts_with(|c: char| c.is_ascii_digit())
        && (rest.starts_with("generic") || rest.starts_with("amd64") || rest.starts_with("arm64"))
}

/// Shortens a line for a one-line verdict.
fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests;
