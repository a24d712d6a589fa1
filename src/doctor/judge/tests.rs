//! The judge's rules, each on hand-built facts: no files.

use super::*;

const U: &str = "570.133.07";

fn module(k: &str, version: &str) -> DiskModule {
    DiskModule {
        path: format!("/lib/modules/{k}/updates/dkms/nvidia.ko"),
        version: Some(version.into()),
        srcversion: Some(format!("SRC-{version}")),
        vermagic: Some(format!("{k} SMP mod_unload modversions")),
        firmware: vec![format!("nvidia/{version}/gsp_ga10x.bin")],
        ..DiskModule::default()
    }
}

fn kernel(k: &str, module_version: Option<&str>) -> Kernel {
    Kernel {
        release: k.into(),
        installed: true,
        headers: Headers::Ready,
        modules: module_version.map(|v| module(k, v)).into_iter().collect(),
        ..Kernel::default()
    }
}

fn package(name: &str, version: &str, status: &str) -> Package {
    let mut w = status.split(' ');
    Package {
        name: name.into(),
        version: version.into(),
        want: w.next().unwrap().into(),
        flag: w.next().unwrap().into(),
        state: w.next().unwrap().into(),
    }
}

/// A healthy Ubuntu machine: 570.133.07 everywhere, two kernels, DKMS, packages.
fn healthy() -> Facts {
    let (old, new) = ("5.15.0-94-generic", "5.15.0-138-generic");
    let ii = "install ok installed";
    Facts {
        module: "nvidia".into(),
        distro: Distro {
            family: Family::Debian,
            ..Distro::default()
        },
        loaded: Loaded {
            version: Some(U.into()),
            srcversion: Some(format!("SRC-{U}")),
            proc: None,
            listed: true,
        },
        nvml: vec![NvmlLib {
            path: format!("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.{U}"),
            version: U.into(),
            in_ld_cache: true,
            owner: Some("libnvidia-compute-570".into()),
        }],
        kernels: vec![kernel(old, Some(U)), kernel(new, Some(U))],
        running: Some(new.into()),
        dkms: Dkms {
            registered: true,
            versions: vec![DkmsVersion {
                version: U.into(),
                source: true,
                builds: [old, new]
                    .iter()
                    .map(|k| DkmsBuild {
                        version: U.into(),
                        kernel: k.to_string(),
                        arch: "x86_64".into(),
                        modules: vec!["nvidia.ko".into()],
                    })
                    .collect(),
                make_log: None,
            }],
            ..Dkms::default()
        },
        dpkg: Some(Dpkg {
            packages: vec![
                package("nvidia-driver-570", "570.133.07-0ubuntu1", ii),
                package("nvidia-dkms-570", "570.133.07-0ubuntu1", ii),
                package("libnvidia-compute-570", "570.133.07-0ubuntu1", ii),
                package("linux-image-generic", "5.15.0.138.133", ii),
                package(&format!("linux-image-{new}"), "5.15.0-138.148", ii),
            ],
        }),
        firmware: vec![Firmware {
            name: format!("nvidia/{U}/gsp_ga10x.bin"),
            present: true,
        }],
        ..Facts::default()
    }
}

/// The machine: running -94 with the old module loaded, -138 never built.
fn seed() -> Facts {
    let mut f = healthy();
    f.running = Some("5.15.0-94-generic".into());
    f.loaded.version = Some("570.124.06".into());
    f.loaded.srcversion = Some("SRC-570.124.06".into());
    f.kernels[1].modules.clear();
    f.dkms.versions[0].builds.truncate(1);
    f.dkms.versions[0].make_log = Some(MakeLog {
        path: "/var/lib/dkms/nvidia/570.133.07/build/make.log".into(),
        kernel: Some("5.15.0-138-generic".into()),
        first_error: Some("ERROR: Kernel configuration is invalid.".into()),
        tail: vec!["make: *** [Makefile:82: modules] Error 2".into()],
        diagnoses: vec![],
    });
    let dpkg = f.dpkg.as_mut().unwrap();
    dpkg.packages[1].state = "half-configured".into();
    dpkg.packages.push(package(
        "nvidia-driver-550",
        "550.144.03-0ubuntu1",
        "deinstall ok config-files",
    ));
    f.unattended.periodic = Some(("1".into(), "/etc/apt/apt.conf.d/20auto-upgrades".into()));
    f
}

fn ids(r: &Report) -> Vec<&'static str> {
    r.verdicts.iter().map(|v| v.id).collect()
}

fn finding<'r>(r: &'r Report, id: &str) -> &'r Finding {
    r.verdicts
        .iter()
        .find(|v| v.id == id)
        .unwrap_or_else(|| panic!("no {id} in {:#?}", r.verdicts))
}

fn commands(r: &Report) -> Vec<&str> {
    r.fixes
        .iter()
        .flat_map(|f| &f.commands)
        .map(String::as_str)
        .collect()
}

#[test]
fn healthy_machine_has_no_findings() {
    let r = judge(&healthy());
    assert!(r.healthy, "{:#?}", r.verdicts);
    assert!(r.verdicts.is_empty(), "{:#?}", r.verdicts);
    assert!(r.fixes.is_empty());
    assert!(r.summary.contains("570.133.07"), "{}", r.summary);
}

#[test]
fn seed_scenario_verdicts_and_fix_order() {
    let r = judge(&seed());
    assert!(!r.healthy);
    let v = finding(&r, "version-mismatch");
    assert_eq!(v.severity, Severity::Broken);
    assert_eq!(
        v.verdict,
        "userspace 570.133.07 ≠ loaded 570.124.06 — reboot: the running kernel's on-disk module is already 570.133.07"
    );
    let k = finding(&r, "kernel-without-module");
    assert_eq!(k.severity, Severity::Risk);
    assert!(k.verdict.starts_with("kernel 5.15.0-138-generic has no nvidia module: the DKMS build failed (make.log: ERROR: Kernel configuration is invalid.)"), "{}", k.verdict);
    assert!(k.verdict.ends_with("Rebooting into it will lose the GPU."));
    assert_eq!(finding(&r, "dpkg-unfinished").severity, Severity::Broken);
    assert_eq!(finding(&r, "unattended-upgrades").severity, Severity::Risk);
    assert_eq!(finding(&r, "dpkg-leftovers").severity, Severity::Note);
    // Worst first.
    assert!(r
        .verdicts
        .windows(2)
        .all(|w| w[0].severity <= w[1].severity));
    let c = commands(&r);
    let at = |needle: &str| {
        c.iter()
            .position(|x| x.contains(needle))
            .unwrap_or_else(|| panic!("no {needle} in {c:#?}"))
    };
    assert!(at("dpkg --configure -a") < at("dkms install nvidia/570.133.07 -k 5.15.0-138-generic"));
    assert!(at("dkms install") < at("sudo reboot"));
    assert!(at("sudo reboot") < at("51unattended-upgrades-nvidia"));
    assert!(c.contains(
        &"Unattended-Upgrade::Package-Blacklist { \"nvidia-\"; \"libnvidia-\"; \"linux-\"; };"
    ));
    assert!(c.contains(&"sudo apt-mark hold nvidia-driver-570 linux-image-generic"));
    assert!(r
        .fixes
        .iter()
        .any(|f| f.why.contains("kernel security updates")));
    assert!(c.contains(&"sudo apt purge nvidia-driver-550"));
    assert_eq!(c.iter().filter(|x| **x == "sudo reboot").count(), 1);
    // The reboot names the VM check to run first, for the next-boot kernel.
    let reboot = r
        .fixes
        .iter()
        .find(|f| f.commands == ["sudo reboot"])
        .unwrap();
    assert!(reboot
        .why
        .contains("dkwrap verify --boot --installed --kernel 5.15.0-138-generic"));
}

#[test]
fn mismatch_with_a_stale_on_disk_module_needs_a_rebuild() {
    let mut f = seed();
    f.kernels[0].modules[0].version = Some("570.124.06".into());
    let r = judge(&f);
    assert!(finding(&r, "version-mismatch")
        .verdict
        .contains("a reboot alone will not fix it"));
    assert!(
        commands(&r).contains(&"sudo dkms install --force nvidia/570.133.07 -k 5.15.0-94-generic")
    );
}

#[test]
fn next_boot_module_of_another_version_is_a_risk() {
    let mut f = healthy();
    f.running = Some("5.15.0-94-generic".into());
    f.kernels[1].modules[0].version = Some("570.124.06".into());
    let r = judge(&f);
    let v = finding(&r, "module-version");
    assert_eq!(v.severity, Severity::Risk);
    assert!(v
        .verdict
        .contains("booting it gives \"Driver/library version mismatch\""));
}

#[test]
fn running_kernel_without_module_is_broken_when_nothing_is_loaded() {
    let mut f = healthy();
    f.loaded = Loaded::default();
    f.kernels[1].modules.clear();
    f.kernels[1].headers = Headers::Missing;
    f.dkms.versions[0].builds.truncate(1);
    let r = judge(&f);
    let v = finding(&r, "kernel-without-module");
    assert_eq!(v.severity, Severity::Broken);
    assert!(
        v.verdict.contains("headers are not installed"),
        "{}",
        v.verdict
    );
    let c = commands(&r);
    assert!(c.contains(&"sudo apt install linux-headers-5.15.0-138-generic"));
    assert!(c.contains(&"sudo dkms install nvidia/570.133.07 -k 5.15.0-138-generic"));
}

#[test]
fn incomplete_headers_are_reinstalled() {
    let mut f = seed();
    f.kernels[1].headers = Headers::Incomplete;
    let r = judge(&f);
    assert!(commands(&r).contains(&"sudo apt install --reinstall linux-headers-5.15.0-138-generic"));
}

#[test]
fn a_diagnosed_make_log_gives_its_fix_when_headers_are_fine() {
    let mut f = seed();
    let log = f.dkms.versions[0].make_log.as_mut().unwrap();
    log.diagnoses = crate::diagnose::diagnose("  ERROR: Kernel configuration is invalid.\n");
    if log.diagnoses.is_empty() {
        // The signature table belongs to another module; nothing to check without a match.
        return;
    }
    let r = judge(&f);
    assert!(r
        .fixes
        .iter()
        .any(|x| x.stage == Stage::BuildCause && x.why.starts_with("make.log (")));
}

#[test]
fn container_without_kernels_is_healthy() {
    let f = Facts {
        module: "nvidia".into(),
        container: Some("no /lib/modules".into()),
        loaded: Loaded {
            version: Some("580.159.04".into()),
            listed: true,
            ..Loaded::default()
        },
        nvml: vec![NvmlLib {
            path: "/usr/local/nvidia/lib64/libnvidia-ml.so.580.159.04".into(),
            version: "580.159.04".into(),
            in_ld_cache: true,
            owner: None,
        }],
        running: Some("6.8.0-1024-aws".into()),
        dpkg: Some(Dpkg::default()),
        unattended: Unattended {
            periodic: Some(("1".into(), "x".into())),
            blacklist: vec![],
        },
        ..Facts::default()
    };
    let r = judge(&f);
    assert!(r.healthy, "{:#?}", r.verdicts);
    assert!(r.verdicts.is_empty(), "{:#?}", r.verdicts);
    let mut f = f;
    f.loaded.version = Some("570.124.06".into());
    let r = judge(&f);
    assert!(finding(&r, "version-mismatch")
        .verdict
        .contains("the host's loaded module"));
}

#[test]
fn nothing_installed() {
    let r = judge(&Facts {
        module: "nvidia".into(),
        kernels: vec![kernel("6.1.0-30-amd64", None)],
        ..Facts::default()
    });
    assert_eq!(ids(&r), ["no-driver"]);
    assert!(!r.healthy);
}

#[test]
fn secure_boot_rejects_unsigned_modules() {
    let mut f = healthy();
    f.security.secure_boot = Some(true);
    f.security.mok_key = Some("/var/lib/shim-signed/mok/MOK.der".into());
    f.loaded = Loaded::default();
    let r = judge(&f);
    let v = finding(&r, "unsigned-module");
    assert_eq!(v.severity, Severity::Broken);
    assert!(v.verdict.starts_with("Secure Boot is on"));
    assert!(commands(&r).contains(&"sudo mokutil --import /var/lib/shim-signed/mok/MOK.der"));
    // Signed: fine.
    for k in &mut f.kernels {
        k.modules[0].signed = true;
    }
    let r = judge(&f);
    assert!(!ids(&r).contains(&"unsigned-module"), "{:#?}", r.verdicts);
}

#[test]
fn missing_gsp_firmware() {
    let mut f = healthy();
    f.firmware[0].present = false;
    let r = judge(&f);
    assert!(finding(&r, "firmware-missing")
        .verdict
        .contains("gsp_ga10x.bin"));
}

#[test]
fn nouveau_holds_the_gpu() {
    let mut f = healthy();
    f.loaded = Loaded::default();
    f.nouveau_loaded = true;
    let r = judge(&f);
    assert_eq!(finding(&r, "nouveau").severity, Severity::Broken);
    assert!(commands(&r).iter().any(|c| c.contains("blacklist nouveau")));
}

#[test]
fn module_built_for_another_kernel() {
    let mut f = healthy();
    f.kernels[1].modules[0].vermagic = Some("5.15.0-94-generic SMP".into());
    let r = judge(&f);
    assert!(finding(&r, "vermagic-mismatch")
        .verdict
        .contains("Invalid module format"));
}

#[test]
fn two_branches_and_package_file_versions() {
    let mut f = healthy();
    let dpkg = f.dpkg.as_mut().unwrap();
    dpkg.packages.push(package(
        "nvidia-driver-550",
        "550.144.03-0ubuntu1",
        "install ok installed",
    ));
    dpkg.packages[2].version = "570.144-0ubuntu1".into();
    let r = judge(&f);
    assert!(finding(&r, "two-branches").verdict.contains("550 and 570"));
    assert!(commands(&r).contains(&"sudo apt purge nvidia-driver-550"));
    assert!(finding(&r, "package-file-version")
        .verdict
        .contains("570.144"));
}

#[test]
fn runfile_libraries() {
    let mut f = healthy();
    f.nvml[0].owner = None;
    f.dpkg = Some(Dpkg::default());
    f.dkms = Dkms::default();
    f.runfile_uninstaller = true;
    let r = judge(&f);
    assert_eq!(finding(&r, "runfile").severity, Severity::Risk);
    // Beside a packaged copy: two installs.
    f.nvml.push(NvmlLib {
        path: "/usr/lib64/libnvidia-ml.so.570.133.07".into(),
        version: U.into(),
        in_ld_cache: false,
        owner: Some("libnvidia-compute-570".into()),
    });
    let r = judge(&f);
    assert_eq!(
        finding(&r, "runfile-and-packages").severity,
        Severity::Broken
    );
}

#[test]
fn several_nvml_versions() {
    let mut f = healthy();
    f.nvml.push(NvmlLib {
        path: "/usr/local/nvidia/lib64/libnvidia-ml.so.550.90.07".into(),
        version: "550.90.07".into(),
        in_ld_cache: false,
        owner: Some("libnvidia-compute-570".into()),
    });
    let r = judge(&f);
    assert!(finding(&r, "several-nvml").verdict.contains("550.90.07"));
}

#[test]
fn unattended_upgrades_blacklist_coverage() {
    let mut f = healthy();
    f.unattended.periodic = Some(("1".into(), "20auto-upgrades".into()));
    let bl = |entries: &[&str]| -> Vec<(String, String)> {
        entries
            .iter()
            .map(|e| (e.to_string(), "51x".into()))
            .collect()
    };
    f.unattended.blacklist = bl(&["(lib)?nvidia-", "linux-"]);
    assert!(judge(&f).verdicts.is_empty());
    f.unattended.blacklist = bl(&["nvidia-", "linux-"]);
    let r = judge(&f);
    let v = finding(&r, "unattended-upgrades");
    assert_eq!(v.severity, Severity::Risk);
    assert!(v.verdict.contains("for libnvidia-:"), "{}", v.verdict);
    f.unattended.blacklist = bl(&[".*nvidia"]);
    let r = judge(&f);
    assert_eq!(finding(&r, "unattended-upgrades").severity, Severity::Note);
    assert!(r.healthy);
    f.unattended.periodic = Some(("0".into(), "20auto-upgrades".into()));
    assert!(judge(&f).verdicts.is_empty());
}

#[test]
fn dkms_status_capture_is_checked_against_the_disk() {
    let mut f = seed();
    f.dkms.status = Some(DkmsStatusCapture {
        path: "/var/lib/dkms/status.txt".into(),
        entries: crate::doctor::parse::dkms_status(
            "nvidia/570.133.07, 5.15.0-138-generic, x86_64: installed (WARNING! Diff between built and installed module!)\n",
        ),
    });
    let r = judge(&f);
    assert!(finding(&r, "dkms-status-wrong")
        .verdict
        .contains("has no module"));
    assert!(ids(&r).contains(&"dkms-diff"));
}

#[test]
fn rebuilt_since_boot() {
    let mut f = healthy();
    f.loaded.srcversion = Some("OTHER".into());
    let r = judge(&f);
    assert_eq!(finding(&r, "srcversion-differs").severity, Severity::Note);
    assert!(r.healthy);
}

#[test]
fn next_boot_kernel() {
    let ks = vec![
        kernel("5.15.0-94-generic", None),
        kernel("5.15.0-100-generic", None),
        kernel("5.15.0-138-generic", None),
        Kernel {
            installed: false,
            ..kernel("5.15.0-200-generic", None)
        },
    ];
    let g = |default: Option<&str>, saved: Option<&str>, next: Option<&str>| Grub {
        default: default.map(Into::into),
        saved_entry: saved.map(Into::into),
        next_entry: next.map(Into::into),
    };
    let nb = |grub: Grub| next_boot(&ks, &grub).unwrap().0;
    assert_eq!(nb(g(None, None, None)), "5.15.0-138-generic");
    assert_eq!(nb(g(Some("0"), None, None)), "5.15.0-138-generic");
    assert_eq!(
        nb(g(
            Some("saved"),
            Some("gnulinux-advanced-1>gnulinux-5.15.0-94-generic-advanced-1"),
            None
        )),
        "5.15.0-94-generic"
    );
    assert_eq!(nb(g(Some("saved"), None, None)), "5.15.0-138-generic");
    assert_eq!(
        nb(g(
            Some("Advanced options for Ubuntu>Ubuntu, with Linux 5.15.0-100-generic"),
            None,
            None
        )),
        "5.15.0-100-generic"
    );
    // 1>2: the second kernel of the submenu (each kernel has a recovery entry).
    assert_eq!(nb(g(Some("1>2"), None, None)), "5.15.0-100-generic");
    assert_eq!(
        nb(g(
            Some("0"),
            None,
            Some("Ubuntu, with Linux 5.15.0-94-generic")
        )),
        "5.15.0-94-generic"
    );
    assert_eq!(nb(g(Some("weird"), None, None)), "5.15.0-138-generic");
    assert_eq!(next_boot(&[], &Grub::default()), None);
}

#[test]
fn kernel_metapackages() {
    for m in [
        "linux-generic",
        "linux-image-generic",
        "linux-headers-amd64",
        "linux-generic-hwe-22.04",
    ] {
        assert!(is_kernel_meta(m), "{m}");
    }
    for m in [
        "linux-image-5.15.0-138-generic",
        "linux-libc-dev",
        "nvidia-driver-570",
    ] {
        assert!(!is_kernel_meta(m), "{m}");
    }
}

fn as_family(mut f: Facts, family: Family) -> Facts {
    f.distro.family = family;
    f.dpkg = None;
    f.unattended = Unattended::default();
    f
}

fn check(k: &str, name: &str, verdict: &str, errors: &[&str]) -> ModuleCheck {
    ModuleCheck {
        name: name.into(),
        path: format!("/lib/modules/{k}/updates/dkms/{name}.ko.zst"),
        compression: Some("zstd".into()),
        verdict: verdict.into(),
        errors: errors.iter().map(|e| e.to_string()).collect(),
        error_count: errors.len(),
        config: None,
    }
}

const PAST_SYMTAB: &str =
    "section [44] .rela.data: relocation 0 at .data+0x8 uses symbol 168 but there are only 126";

#[test]
fn a_damaged_next_boot_module_is_a_problem_with_its_consequence() {
    let mut f = as_family(healthy(), Family::Arch);
    f.running = Some("5.15.0-94-generic".into());
    let new = "5.15.0-138-generic";
    f.kernels[1].pkgbase = Some("linux-cachyos".into());
    f.kernels[1].checked = vec![
        check(new, "nvidia", "ok", &[]),
        check(new, "nvidia-modeset", "invalid", &[PAST_SYMTAB]),
    ];
    let r = judge(&f);
    assert!(!r.healthy);
    assert_eq!(ids(&r), ["module-damaged"]);
    assert_eq!(
        r.verdicts[0].verdict,
        format!("rebooting into {new} will fail to bring up the display: nvidia-modeset.ko.zst has relocations past its symbol table — the damage GNU strip does to clang ThinLTO modules")
    );
    assert_eq!(r.verdicts[0].severity, Severity::Broken);
    // The integration first, then the rebuild, in dkms's own wording.
    assert_eq!(
        commands(&r),
        [
            "sudo dkwrap dkms install-integration".to_string(),
            format!("sudo dkms install nvidia/{U} -k {new} --force"),
        ]
    );
}

#[test]
fn a_damaged_running_kernel_module_and_log_lines() {
    let mut f = healthy();
    let k = "5.15.0-138-generic";
    f.kernels[1].checked = vec![check(
        k,
        "nvidia-uvm",
        "unreadable",
        &["x: not a regular file"],
    )];
    f.log_hits = vec![LogHit {
        source: "/var/log/apt/term.log".into(),
        kernel: Some(k.into()),
        kind: "bfd-assertion".into(),
        line: "strip: BFD (GNU Binutils) 2.43.1 assertion fail elf.c:3944".into(),
    }];
    let r = judge(&f);
    let v = &finding(&r, "module-damaged").verdict;
    assert!(
        v.starts_with(&format!(
            "on the running kernel {k}, loading the driver again will break CUDA"
        )),
        "{v}"
    );
    // The log ties strip to this kernel: the integration is advised before the rebuild.
    let c = commands(&r);
    assert_eq!(c[0], "sudo dkwrap dkms install-integration");
    assert!(
        c.contains(&&*format!("sudo dkms install --force nvidia/{U} -k {k}")),
        "{c:?}"
    );
    assert!(r
        .evidence
        .iter()
        .any(|e| e.what == "build log" && e.source == "/var/log/apt/term.log"));
}

#[test]
fn log_lines_without_damage_are_a_note() {
    let mut f = healthy();
    let k = "5.15.0-138-generic";
    f.kernels[1].checked = vec![check(k, "nvidia", "ok", &[])];
    f.log_hits = vec![LogHit {
        source: "/var/log/pacman.log".into(),
        kernel: Some(k.into()),
        kind: "invalid-group-entry".into(),
        line: "strip: m.ko: invalid entry (0x5) in group [31]".into(),
    }];
    let r = judge(&f);
    assert!(r.healthy, "{:#?}", r.verdicts);
    assert_eq!(ids(&r), ["build-log-strip"]);
}

#[test]
fn fedora_akmods_build_failure_and_fixes() {
    let mut f = as_family(healthy(), Family::Fedora);
    let new = "5.15.0-138-generic";
    f.dkms = Dkms::default();
    for k in &mut f.kernels {
        for m in &mut k.modules {
            m.path = m.path.replace("updates/dkms", "extra/nvidia");
        }
    }
    f.kernels[1].modules.clear();
    f.kernels[1].headers = Headers::Missing;
    f.akmods = vec![AkmodsLog {
        path: format!("/var/cache/akmods/nvidia/565.77-1-for-{new}.failed.log"),
        kernel: new.into(),
        failed: true,
        first_error: Some("gcc: error: unrecognized command-line option".into()),
    }];
    let r = judge(&f);
    let v = &finding(&r, "kernel-without-module").verdict;
    assert!(
        v.contains("akmods failed to build it (565.77-1-for-"),
        "{v}"
    );
    assert_eq!(
        commands(&r),
        [
            format!("sudo dnf install kernel-devel-{new}"),
            format!("sudo akmods --force --kernels {new}"),
        ]
    );
}

#[test]
fn headers_and_driver_installs_in_each_family() {
    let k = "5.15.0-138-generic";
    let mut f = as_family(healthy(), Family::Arch);
    f.kernels[1].modules.clear();
    f.kernels[1].headers = Headers::Missing;
    f.kernels[1].pkgbase = Some("linux-zen".into());
    let c = commands(&judge(&f)).join("\n");
    assert!(c.starts_with("sudo pacman -S linux-zen-headers\n"), "{c}");
    f.distro.family = Family::Suse;
    let c = commands(&judge(&f)).join("\n");
    assert!(
        c.starts_with("sudo zypper install kernel-generic-devel"),
        "{c}"
    );
    // A distribution doctor does not know gets advice, never apt.
    f.distro.family = Family::Unknown;
    let r = judge(&f);
    assert!(
        commands(&r).iter().all(|c| !c.contains("apt")),
        "{:?}",
        commands(&r)
    );
    assert!(r
        .fixes
        .iter()
        .any(|x| x.why.contains(&format!("headers for {k}"))
            && x.why.contains("your distribution's package manager")));
    // Nothing installed at all, per family.
    let none = |family| {
        let mut f = Facts {
            module: "nvidia".into(),
            ..Facts::default()
        };
        f.distro.family = family;
        commands(&judge(&f)).join(" ")
    };
    assert_eq!(none(Family::Debian), "sudo ubuntu-drivers install");
    assert!(none(Family::Fedora).starts_with("sudo dnf install akmod-nvidia"));
    assert!(none(Family::Arch).starts_with("sudo pacman -S nvidia-open-dkms"));
    assert_eq!(none(Family::Unknown), "");
}
