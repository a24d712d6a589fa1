//! The evidence table: what doctor found, one row per source, whatever the verdicts.

use super::{clip, Evidence, Judge};
use crate::doctor::facts::Headers;
use crate::doctor::probe::is_nvidia;

impl Judge<'_> {
    pub(super) fn gather_evidence(&mut self) {
        let f = self.f;
        let m = self.m;
        self.distro_evidence();
        if let Some(c) = &f.container {
            self.show("container", c.clone(), "");
        }
        let mut loaded = match &f.loaded.version {
            Some(v) => v.clone(),
            None if f.loaded.listed => "listed in /proc/modules, version unknown".into(),
            None if f.loaded.proc.is_some() => String::new(),
            None => "not loaded".into(),
        };
        let mut source = format!("/sys/module/{m}");
        if let Some(p) = &f.loaded.proc {
            let kind = if p.open { "open" } else { "proprietary" };
            if loaded.is_empty() || loaded == p.version {
                loaded = format!("{} {kind}", p.version);
                source.push_str(", /proc/driver/nvidia/version");
            } else {
                self.show(
                    "/proc/driver/nvidia",
                    format!("{} {kind}", p.version),
                    "/proc/driver/nvidia/version",
                );
            }
        }
        if let Some(s) = &f.loaded.srcversion {
            loaded.push_str(&format!(", srcversion {s}"));
        }
        self.show("loaded module", loaded, &source);
        if f.nvml.is_empty() && is_nvidia(m) {
            self.show("userspace NVML", "none found".into(), "");
        }
        for lib in f.nvml.iter().take(3) {
            let owner = match (&lib.owner, f.dpkg.is_some()) {
                (Some(o), _) => format!(" (package {o})"),
                (None, true) if !self.container => " (no package)".into(),
                _ => String::new(),
            };
            let cache = if lib.in_ld_cache { "ld.so.cache" } else { "" };
            self.show(
                "userspace NVML",
                format!("{} {}{owner}", lib.version, lib.path),
                cache,
            );
        }
        let running_listed = f
            .running
            .as_deref()
            .is_some_and(|r| f.kernels.iter().any(|k| k.installed && k.release == r));
        if let Some(r) = &f.running {
            if self.container || !running_listed {
                self.show("running kernel", r.clone(), "/proc/sys/kernel/osrelease");
            }
        }
        if !self.container {
            let next = self.next.clone();
            if let Some((k, why)) = &next {
                if !f.kernels.iter().any(|x| &x.release == k) {
                    self.show("next boot", format!("{k} ({why})"), "");
                }
            }
            for k in f.kernels.iter().rev().filter(|k| k.installed).take(4) {
                let mut role = Vec::new();
                if f.running.as_deref() == Some(k.release.as_str()) {
                    role.push("running".to_string());
                }
                if let Some((n, why)) = &next {
                    if n == &k.release {
                        role.push(format!("next boot ({why})"));
                    }
                }
                let role = if role.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", role.join(", "))
                };
                let headers = match k.headers {
                    Headers::Ready => "headers ready",
                    Headers::Incomplete => "headers INCOMPLETE",
                    Headers::Missing => "NO headers",
                };
                let value = match k.module() {
                    Some(d) => {
                        let rel = d
                            .path
                            .strip_prefix(&format!("/lib/modules/{}/", k.release))
                            .unwrap_or(&d.path);
                        format!(
                            "{role}{} {rel}, srcversion {}, {}{headers}",
                            d.version.as_deref().unwrap_or("?"),
                            d.srcversion.as_deref().unwrap_or("?"),
                            if d.signed { "signed, " } else { "" }
                        )
                    }
                    None => match k.modules.first().and_then(|d| d.error.as_deref()) {
                        Some(e) => format!("{role}unreadable module ({e}), {headers}"),
                        None => format!("{role}no {m} module, {headers}"),
                    },
                };
                self.show(&format!("kernel {}", k.release), value, "");
            }
            self.dkms_evidence();
            self.module_evidence();
            self.dpkg_evidence();
            let u = &f.unattended;
            if let Some((v, file)) = &u.periodic {
                let bl = if u.blacklist.is_empty() {
                    "no blacklist".to_string()
                } else {
                    let e: Vec<&str> = u.blacklist.iter().map(|(e, _)| e.as_str()).collect();
                    format!("blacklist {}", e.join(" "))
                };
                self.show(
                    "unattended-upgrades",
                    format!("{}, {bl}", if u.enabled() { "on" } else { "off" }),
                    &format!("{file} (Unattended-Upgrade \"{v}\")"),
                );
            }
            let s = &f.security;
            let mut loading = Vec::new();
            if s.secure_boot.is_some() || s.sig_enforce.is_some() || s.lockdown.is_some() {
                loading.push(match s.secure_boot {
                    Some(true) => "Secure Boot on".to_string(),
                    Some(false) => "Secure Boot off".to_string(),
                    None => "Secure Boot unknown".to_string(),
                });
                if let Some(e) = s.sig_enforce {
                    loading.push(format!("sig_enforce {}", if e { "Y" } else { "N" }));
                }
                if let Some(l) = &s.lockdown {
                    loading.push(format!("lockdown {l}"));
                }
            }
            if !f.firmware.is_empty() {
                let present = f.firmware.iter().filter(|x| x.present).count();
                loading.push(format!("firmware {present}/{} present", f.firmware.len()));
            }
            if !loading.is_empty() {
                self.show("module loading", loading.join(", "), "");
            }
            if f.nouveau_loaded {
                self.show("nouveau", "loaded".into(), "/sys/module/nouveau");
            }
        }
    }

    fn dkms_evidence(&mut self) {
        let f = self.f;
        let d = &f.dkms;
        if !d.registered {
            return;
        }
        let mut parts = Vec::new();
        for v in &d.versions {
            let mut states = Vec::new();
            for b in &v.builds {
                let installed = d.links.iter().any(|l| {
                    l.kernel == b.kernel && l.target.starts_with(&format!("{}/", v.version))
                });
                states.push(format!(
                    "{} {}",
                    b.kernel,
                    if installed { "installed" } else { "built" }
                ));
            }
            if let Some(k) = v.make_log.as_ref().and_then(|l| l.kernel.as_deref()) {
                if !v.builds.iter().any(|b| b.kernel == k) {
                    states.push(format!("{k} FAILED"));
                }
            }
            if states.is_empty() {
                states.push(if v.source {
                    "added".into()
                } else {
                    "no source".into()
                });
            }
            parts.push(format!("{}/{}: {}", self.m, v.version, states.join(", ")));
        }
        self.show(
            "dkms",
            parts.join("; "),
            &format!("/var/lib/dkms/{}", self.m),
        );
        for v in &d.versions {
            let Some(log) = &v.make_log else {
                continue;
            };
            if log
                .kernel
                .as_deref()
                .is_some_and(|k| d.built_for(k).is_some())
            {
                continue;
            }
            let why = match log.diagnoses.first() {
                Some(d) => format!("{} ({})", d.cause, d.id),
                None => log
                    .first_error
                    .clone()
                    .unwrap_or_else(|| "no error line found".into()),
            };
            self.evidence.push(Evidence {
                what: "make.log".into(),
                value: format!(
                    "{}: {why}",
                    log.kernel.as_deref().unwrap_or("unknown kernel")
                ),
                source: log.path.clone(),
                detail: log.tail.iter().map(|l| clip(l, 100)).collect(),
            });
        }
        if let Some(cap) = &d.status {
            let lines: Vec<String> = cap
                .entries
                .iter()
                .map(|e| {
                    let mut s = format!("{} {}", e.kernel.as_deref().unwrap_or("-"), e.state);
                    for n in &e.notes {
                        s.push_str(&format!(" ({n})"));
                    }
                    format!("{}: {s}", e.version)
                })
                .collect();
            let v = if lines.is_empty() {
                format!("nothing for {}", self.m)
            } else {
                lines.join("; ")
            };
            self.show("dkms status", v, &cap.path);
        }
    }

    fn dpkg_evidence(&mut self) {
        let Some(dpkg) = &self.f.dpkg else {
            return;
        };
        let mut shown: Vec<String> = dpkg
            .packages
            .iter()
            .filter(|p| p.is_broken())
            .map(|p| format!("{} {}", p.code(), p.name))
            .collect();
        shown.extend(
            dpkg.packages
                .iter()
                .filter(|p| !p.is_broken() && p.has_files())
                .filter(|p| {
                    p.name.starts_with("nvidia-driver-") || p.name.starts_with("nvidia-dkms-")
                })
                .map(|p| format!("{} {} {}", p.code(), p.name, p.version)),
        );
        let rc = dpkg
            .packages
            .iter()
            .filter(|p| p.is_leftover() && p.name.contains("nvidia"))
            .count();
        let mut v = if shown.is_empty() {
            "no NVIDIA packages".to_string()
        } else {
            shown.join(", ")
        };
        if rc > 0 {
            v.push_str(&format!(", {rc} rc"));
        }
        self.show("dpkg", v, "/var/lib/dpkg/status");
    }
}
