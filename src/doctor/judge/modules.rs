//! Every installed module of the driver, through `dkwrap verify`'s loader checks, and the
//! strip complaints of build logs: what a successful dkms/akmods run can still leave broken
//! (GNU strip on a clang ThinLTO module exits 0 and writes relocations past the symbol table).

use super::{clip, Evidence, Judge, Role, Severity, Stage};
use crate::doctor::facts::{Family, Kernel, ModuleCheck};

/// What a broken module takes away, in words.
fn consequence(name: &str) -> &'static str {
    match name {
        "nvidia" => "fail to bring up the GPU",
        "nvidia-modeset" => "fail to bring up the display",
        "nvidia-drm" => "fail to bring up the display (no DRM/KMS for Wayland and X)",
        "nvidia-uvm" => "break CUDA (no unified memory)",
        "nvidia-peermem" => "break GPUDirect RDMA",
        _ => "fail to load the driver",
    }
}

/// The damage, in words, and whether it is what GNU strip does to ThinLTO modules.
fn damage(c: &ModuleCheck) -> (String, bool) {
    let any = |needle: &str| c.errors.iter().any(|e| e.contains(needle));
    if c.verdict == "unreadable" {
        let e = c.errors.first().map_or("", String::as_str);
        return (format!("cannot be read ({})", clip(e, 80)), false);
    }
    if any("but there are only") {
        return ("has relocations past its symbol table".into(), true);
    }
    if any("group member") {
        return ("has COMDAT groups that name no section".into(), true);
    }
    let first = clip(c.errors.first().map_or("", String::as_str), 90);
    if c.verdict == "kernel-mismatch" {
        (format!("was built for another kernel ({first})"), false)
    } else {
        (format!("fails the kernel loader's checks ({first})"), false)
    }
}

impl Judge<'_> {
    /// Verdicts on kernel `k`'s checked modules (running or next boot).
    pub(super) fn module_checks(&mut self, k: &str, role: Role) {
        let Some(kernel) = self.kernel(k) else {
            return;
        };
        let hits = self
            .f
            .log_hits
            .iter()
            .filter(|h| h.kernel.as_deref() == Some(k))
            .count();
        let mut strip_caused = false;
        let mut failed = false;
        for c in kernel.checked.iter().filter(|c| c.failed()) {
            if self.reported_elsewhere(kernel, c) {
                continue;
            }
            failed = true;
            let file = c.path.rsplit('/').next().unwrap_or(&c.path);
            let (what, by_strip) = damage(c);
            strip_caused |= by_strip || hits > 0;
            let suffix = if by_strip {
                " — the damage GNU strip does to clang ThinLTO modules"
            } else {
                ""
            };
            let when = if role.running {
                format!("on the running kernel {k}, loading the driver again will")
            } else {
                format!("rebooting into {k} will")
            };
            self.find(
                "module-damaged",
                Severity::Broken,
                format!("{when} {}: {file} {what}{suffix}", consequence(&c.name)),
            );
        }
        if !failed {
            if hits > 0 && !kernel.checked.is_empty() {
                self.find(
                    "build-log-strip",
                    Severity::Note,
                    format!("a build log for {k} shows strip or object-format errors, yet its {} module(s) pass the loader checks", kernel.checked.len()),
                );
            }
            return;
        }
        if strip_caused && self.f.dkms.registered {
            self.fix(
                Stage::BuildCause,
                "let dkwrap strip what dkms builds (it proves the stripped module equals the original minus debug info; GNU strip corrupts clang ThinLTO modules)",
                &["sudo dkwrap dkms install-integration".into()],
            );
        } else if strip_caused && self.akmods_managed() {
            self.fix(
                Stage::BuildCause,
                "the module was stripped by GNU strip, which corrupts clang ThinLTO modules: build with llvm-strip (or dkwrap strip) for this kernel",
                &[],
            );
        }
        self.rebuild(k, true);
    }

    /// A kernel-mismatch of the module doctor was asked about is already a vermagic verdict.
    fn reported_elsewhere(&self, kernel: &Kernel, c: &ModuleCheck) -> bool {
        c.verdict == "kernel-mismatch"
            && kernel.module().is_some_and(|m| {
                m.path == c.path && m.vermagic_release().is_some_and(|r| r != kernel.release)
            })
    }

    /// The distribution row, first in the table.
    pub(super) fn distro_evidence(&mut self) {
        let d = &self.f.distro;
        let family = match d.family {
            Family::Debian => "Debian family",
            Family::Fedora => "Fedora/RHEL family",
            Family::Arch => "Arch family",
            Family::Suse => "openSUSE family",
            Family::Unknown => "distribution not recognised",
        };
        let mut value = match &d.name {
            Some(n) => format!("{n} ({family})"),
            None => family.to_string(),
        };
        if let Some(db) = &d.package_db {
            if !d.package_db_read {
                value.push_str(&format!(
                    "; {db} not read (doctor has no rpm database reader)"
                ));
            }
        }
        let source = if d.id.is_some() {
            "/etc/os-release"
        } else {
            ""
        };
        self.show("system", value, source);
    }

    /// Module checks, akmods logs and log lines, after the rest of the table.
    pub(super) fn module_evidence(&mut self) {
        let f = self.f;
        for k in f.kernels.iter().filter(|k| !k.checked.is_empty()) {
            // One module that passes is already on the kernel's row.
            let only_main = k
                .checked
                .iter()
                .all(|c| !c.failed() && k.module().is_some_and(|m| m.path == c.path));
            if only_main {
                continue;
            }
            let list: Vec<String> = k
                .checked
                .iter()
                .map(|c| {
                    let file = c.path.rsplit('/').next().unwrap_or(&c.path);
                    if c.failed() {
                        format!(
                            "{file} {} ({} errors)",
                            c.verdict.to_uppercase(),
                            c.error_count
                        )
                    } else {
                        format!("{file} ok")
                    }
                })
                .collect();
            let config = k.checked.iter().find_map(|c| c.config.clone());
            let detail: Vec<String> = k
                .checked
                .iter()
                .filter(|c| c.failed())
                .flat_map(|c| c.errors.iter().take(2).map(|e| clip(e, 100)))
                .collect();
            self.evidence.push(Evidence {
                what: format!("modules {}", k.release),
                value: list.join(", "),
                source: config.unwrap_or_default(),
                detail,
            });
        }
        if let Some(pkgs) = &f.pacman {
            let list: Vec<String> = pkgs
                .iter()
                .filter(|p| p.name.contains("nvidia") || p.name == "dkms")
                .map(|p| format!("{} {}", p.name, p.version))
                .collect();
            let v = if list.is_empty() {
                "no NVIDIA packages".into()
            } else {
                list.join(", ")
            };
            self.show("pacman", v, "/var/lib/pacman/local");
        }
        for a in &f.akmods {
            let state = if a.failed { "FAILED" } else { "built" };
            let mut value = format!("{}: {state}", a.kernel);
            if let Some(e) = &a.first_error {
                value.push_str(&format!(": {}", clip(e, 80)));
            }
            self.show("akmods", value, &a.path);
        }
        for h in f.log_hits.iter().take(6) {
            self.show(
                "build log",
                format!(
                    "{}: {}",
                    h.kernel.as_deref().unwrap_or("kernel unknown"),
                    clip(&h.line, 90)
                ),
                &h.source,
            );
        }
    }
}
