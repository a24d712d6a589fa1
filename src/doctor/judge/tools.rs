//! Fix commands in the distribution's own tools: apt/dpkg on Debian and Ubuntu, dnf and
//! akmods on Fedora/RHEL, pacman on Arch and its derivatives, zypper on openSUSE. A
//! distribution doctor does not recognise gets advice without a command, never apt.

use super::{Judge, Stage};
use crate::doctor::facts::Family;

impl<'a> Judge<'a> {
    pub(super) fn family(&self) -> Family {
        self.f.distro.family
    }

    /// The command that installs (or, `reinstall`, puts back) kernel `k`'s headers.
    pub(super) fn headers_command(&self, k: &str, reinstall: bool) -> Option<String> {
        Some(match (self.family(), reinstall) {
            (Family::Debian, false) => format!("sudo apt install linux-headers-{k}"),
            (Family::Debian, true) => format!("sudo apt install --reinstall linux-headers-{k}"),
            (Family::Fedora, false) => format!("sudo dnf install kernel-devel-{k}"),
            (Family::Fedora, true) => format!("sudo dnf reinstall kernel-devel-{k}"),
            // pacman installs the one version its database has: that of the kernel package.
            (Family::Arch, _) => format!("sudo pacman -S {}-headers", self.arch_pkgbase(k)),
            (Family::Suse, false) => format!("sudo zypper install kernel-{}-devel", flavour(k)),
            (Family::Suse, true) => {
                format!("sudo zypper install --force kernel-{}-devel", flavour(k))
            }
            (Family::Unknown, _) => return None,
        })
    }

    /// The headers fix for kernel `k`, in the distribution's tool or as advice.
    pub(super) fn fix_headers(&mut self, k: &str, why: String, reinstall: bool) {
        let cmds: Vec<String> = self.headers_command(k, reinstall).into_iter().collect();
        let why = if cmds.is_empty() {
            format!("{why} (install them with your distribution's package manager)")
        } else {
            why
        };
        self.fix(Stage::Headers, why, &cmds);
    }

    /// The pacman package a kernel came from: `/usr/lib/modules/<k>/pkgbase`, else "linux".
    fn arch_pkgbase(&self, k: &str) -> String {
        self.kernel(k)
            .and_then(|x| x.pkgbase.clone())
            .unwrap_or_else(|| "linux".into())
    }

    /// Fedora's akmods builds the driver (kmod-nvidia under extra/nvidia), not dkms.
    pub(super) fn akmods_managed(&self) -> bool {
        self.family() == Family::Fedora
            && !self.f.dkms.registered
            && (!self.f.akmods.is_empty()
                || self
                    .f
                    .kernels
                    .iter()
                    .flat_map(|k| &k.modules)
                    .any(|m| m.path.contains("/extra/nvidia/")))
    }

    /// The branch of Ubuntu's prebuilt signed modules (`kernel/nvidia-550`), if any kernel has them.
    pub(super) fn prebuilt_branch(&self) -> Option<&'a str> {
        self.f
            .kernels
            .iter()
            .flat_map(|k| &k.modules)
            .find_map(|m| {
                let rest = m.path.split("/kernel/nvidia-").nth(1)?;
                rest.split('/').next()
            })
    }

    /// How to install a driver from nothing.
    pub(super) fn install_driver_fix(&mut self) {
        let (why, cmd) = match self.family() {
            Family::Debian => (
                "install a driver (Ubuntu: ubuntu-drivers picks the branch; Debian: apt install nvidia-driver)",
                Some("sudo ubuntu-drivers install"),
            ),
            Family::Fedora => (
                "install the driver from RPM Fusion (akmods builds it for every kernel)",
                Some("sudo dnf install akmod-nvidia xorg-x11-drv-nvidia-cuda"),
            ),
            Family::Arch => (
                "install the open driver, built by dkms for every kernel",
                Some("sudo pacman -S nvidia-open-dkms nvidia-utils"),
            ),
            Family::Suse => (
                "install the driver from NVIDIA's openSUSE repository",
                Some("sudo zypper install nvidia-open-driver-G06-signed-kmp-default"),
            ),
            Family::Unknown => ("install the driver with your distribution's package manager", None),
        };
        let cmds: Vec<String> = cmd.into_iter().map(str::to_string).collect();
        self.fix(Stage::Packages, why, &cmds);
    }

    /// The userspace libraries of driver branch `b`.
    pub(super) fn userspace_command(&self, b: &str) -> Option<String> {
        Some(match self.family() {
            Family::Debian => format!("sudo apt install libnvidia-compute-{b} nvidia-utils-{b}"),
            Family::Fedora => "sudo dnf install xorg-x11-drv-nvidia-cuda-libs".into(),
            Family::Arch => "sudo pacman -S nvidia-utils".into(),
            Family::Suse => "sudo zypper install nvidia-compute-G06".into(),
            Family::Unknown => return None,
        })
    }

    /// Rebuilds the initramfs (after a modprobe.d change) and reboots.
    pub(super) fn initramfs_and_reboot(&self) -> String {
        let rebuild = match self.family() {
            Family::Debian => "sudo update-initramfs -u",
            Family::Fedora | Family::Suse => "sudo dracut --force",
            Family::Arch => "sudo mkinitcpio -P",
            Family::Unknown => return "sudo reboot".into(),
        };
        format!("{rebuild} && sudo reboot")
    }
}

/// openSUSE's kernel flavour, the last word of the release ("6.4.0-150600.23.25-default").
fn flavour(k: &str) -> &str {
    k.rsplit('-')
        .next()
        .filter(|f| f.chars().any(|c| c.is_ascii_alphabetic()))
        .unwrap_or("default")
}
