//! `verify --boot`: ask a real kernel. The modules are loaded, in dependency order, into the
//! target kernel booted under qemu with an initramfs made on the fly (busybox and a small
//! init script; nothing of the host's root filesystem, no network, no disk), and each gets
//! the kernel's verdict in its own words ([`console`]).
//!
//! KVM is tried first when `/dev/kvm` can be opened; a VM that fails to start under KVM (as
//! nested KVM often does) is started again under TCG, and the report says so.

pub mod console;
pub mod cpio;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::modfile::ModuleFile;
use console::ModuleBoot;

/// How long the whole VM may run before it counts as hung.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);
/// How long KVM gets to show the first line of the init script before TCG is tried.
const KVM_START_LIMIT: Duration = Duration::from_secs(10);
/// How long a VM whose init script is done gets to power itself off before it is stopped.
const POWEROFF_GRACE: Duration = Duration::from_secs(3);
/// Memory of the VM: a distribution kernel and a few modules need well under this.
const VM_MEMORY_MIB: u32 = 512;
/// Deepest directory level searched for a dependency.
const MAX_SEARCH_DEPTH: usize = 8;

/// What to boot and load.
#[derive(Debug, Clone)]
pub struct BootRequest {
    /// The kernel image (`/boot/vmlinuz-<release>`).
    pub image: PathBuf,
    /// The modules to load, as given.
    pub modules: Vec<PathBuf>,
    /// Where dependencies named by `.modinfo depends=` are looked for, besides each
    /// module's own directory (e.g. `/lib/modules/<release>/kernel`).
    pub search: Vec<PathBuf>,
    /// qemu to use; else `qemu-system-x86_64` on PATH.
    pub qemu: Option<PathBuf>,
    pub timeout: Duration,
}

/// The kernel's verdicts.
#[derive(Debug, Clone, Serialize)]
pub struct BootReport {
    pub image: PathBuf,
    /// `kvm` or `tcg`.
    pub accel: String,
    /// Why KVM was not used, when it was not.
    pub accel_note: Option<String>,
    /// Seconds from starting qemu to the end of the run.
    pub seconds: f64,
    /// The init script ran (the kernel booted).
    pub booted: bool,
    /// Every module loaded, dependencies first.
    pub modules: Vec<ModuleBoot>,
    /// The last console lines, when something went wrong.
    pub console_tail: Vec<String>,
}

impl BootReport {
    /// Whether every module loaded (an init failure after a successful load counts as
    /// loaded: the loader accepted it).
    pub fn all_loaded(&self) -> bool {
        self.modules.iter().all(|m| m.outcome.loaded())
    }
}

/// One module for the initramfs.
struct Payload {
    name: String,
    bytes: Vec<u8>,
    depends: Vec<String>,
}

/// Boots `req.image` with `req.modules` and reports what the kernel said of each.
pub fn boot(req: &BootRequest) -> Result<BootReport> {
    let qemu = find_tool(req.qemu.as_deref(), "qemu-system-x86_64", "qemu-system-x86")?;
    let busybox = find_busybox()?;
    if !req.image.is_file() {
        return Err(Error::Unreadable {
            path: req.image.clone(),
            reason: "no kernel image here".into(),
        });
    }
    let payloads = in_load_order(req)?;
    let names: Vec<String> = payloads.iter().map(|p| p.name.clone()).collect();
    let initramfs = initramfs(&busybox, &payloads)?;
    let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let initrd = dir.path().join("initramfs.cpio.gz");
    std::fs::write(&initrd, initramfs).map_err(|e| Error::io(&initrd, e))?;
    let started = Instant::now();
    let (accel, note, console) = run_vm(&qemu, &req.image, &initrd, req.timeout)?;
    let modules = console::outcomes(&console, &names);
    let booted = console.contains(console::BOOTED);
    let mut report = BootReport {
        image: req.image.clone(),
        accel,
        accel_note: note,
        seconds: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        booted,
        modules,
        console_tail: Vec::new(),
    };
    if !report.all_loaded() || !booted {
        let lines: Vec<&str> = console.lines().collect();
        let from = lines.len().saturating_sub(20);
        report.console_tail = lines[from..]
            .iter()
            .map(|l| l.trim_end().to_string())
            .collect();
    }
    Ok(report)
}

/// The init script: load each module, say how it went, power off.
pub fn init_script(names: &[String]) -> String {
    let mut s = String::from(
        "#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\n\
         /bin/busybox mount -t devtmpfs dev /dev\n",
    );
    s.push_str(&format!("echo {}\n", console::BOOTED));
    for n in names {
        s.push_str(&format!(
            "echo '{load}{n}'\n/bin/busybox insmod /m/{n}.ko\necho \"{rc}{n} $?\"\n",
            load = console::LOAD,
            rc = console::RC
        ));
    }
    s.push_str(&format!(
        "echo {}\n/bin/busybox poweroff -f\n",
        console::DONE
    ));
    s
}

fn initramfs(busybox: &Path, payloads: &[Payload]) -> Result<Vec<u8>> {
    let bb = std::fs::read(busybox).map_err(|e| Error::io(busybox, e))?;
    let names: Vec<String> = payloads.iter().map(|p| p.name.clone()).collect();
    let mut a = cpio::Archive::new();
    let build = |a: &mut cpio::Archive| -> std::io::Result<()> {
        for d in ["bin", "m", "proc", "dev", "sys"] {
            a.dir(d)?;
        }
        a.file("bin/busybox", &bb, true)?;
        a.file("init", init_script(&names).as_bytes(), true)?;
        for p in payloads {
            a.file(&format!("m/{}.ko", p.name), &p.bytes, false)?;
        }
        Ok(())
    };
    build(&mut a).map_err(|e| Error::io("initramfs", e))?;
    a.finish().map_err(|e| Error::io("initramfs", e))
}

/// The modules and the dependencies they name, dependencies first.
fn in_load_order(req: &BootRequest) -> Result<Vec<Payload>> {
    let mut given = Vec::new();
    for path in &req.modules {
        given.push(payload(path)?);
    }
    let mut ordered: Vec<Payload> = Vec::new();
    let mut pending: Vec<Payload> = given;
    let mut searched_for: Vec<String> = Vec::new();
    // Depth-first: a module goes in once everything it depends on is in.
    while let Some(next) = pending.pop() {
        if ordered.iter().any(|p| same_name(&p.name, &next.name)) {
            continue;
        }
        let missing: Vec<String> = next
            .depends
            .iter()
            .filter(|d| !ordered.iter().any(|p| same_name(&p.name, d)))
            .filter(|d| !searched_for.iter().any(|s| same_name(s, d)))
            .cloned()
            .collect();
        if missing.is_empty() {
            ordered.push(next);
            continue;
        }
        let dirs = search_dirs(req);
        pending.push(next);
        for dep in missing {
            searched_for.push(dep.clone());
            if let Some(path) = find_module(&dep, &dirs) {
                pending.push(payload(&path)?);
            } else {
                tracing::warn!("dependency {dep} not found; the kernel will say what is missing");
            }
        }
    }
    Ok(ordered)
}

/// The given modules' own directories, then `--boot-search`.
fn search_dirs(req: &BootRequest) -> Vec<PathBuf> {
    let own = req
        .modules
        .iter()
        .filter_map(|m| m.parent().map(Path::to_path_buf))
        .filter(|d| !d.as_os_str().is_empty());
    own.chain(req.search.iter().cloned()).collect()
}

/// Module names compare with `-` and `_` alike, as the kernel's do.
fn same_name(a: &str, b: &str) -> bool {
    a.replace('-', "_") == b.replace('-', "_")
}

/// The name the kernel knows a module file by (`.modinfo name=`, else the file's stem).
pub fn module_name(path: &Path) -> Option<String> {
    payload(path).ok().map(|p| p.name)
}

fn payload(path: &Path) -> Result<Payload> {
    let m = ModuleFile::open(path)?;
    let elf = m.elf()?;
    let info = elf.modinfo().ok().flatten();
    let stem = path
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .split('.')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    let name = info
        .as_ref()
        .and_then(|i| i.get("name"))
        .map(str::to_string)
        .unwrap_or(stem);
    let depends = info
        .as_ref()
        .and_then(|i| i.get("depends"))
        .map(|d| {
            d.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(Payload {
        name,
        bytes: m.bytes.to_vec(),
        depends,
    })
}

/// `<name>.ko` (any compression, `-`/`_` alike) under `dirs`.
fn find_module(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    fn walk(dir: &Path, name: &str, depth: usize) -> Option<PathBuf> {
        let entries = std::fs::read_dir(dir).ok()?;
        let mut subdirs = Vec::new();
        for e in entries.flatten() {
            let p = e.path();
            let file = e.file_name().to_string_lossy().into_owned();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                subdirs.push(p);
            } else if let Some(stem) = file.split(".ko").next().filter(|_| file.contains(".ko")) {
                if same_name(stem, name) {
                    return Some(p);
                }
            }
        }
        subdirs.sort();
        (depth < MAX_SEARCH_DEPTH)
            .then(|| subdirs.iter().find_map(|d| walk(d, name, depth + 1)))
            .flatten()
    }
    dirs.iter().find_map(|d| walk(d, name, 0))
}

fn find_tool(given: Option<&Path>, name: &str, package: &str) -> Result<PathBuf> {
    let found = match given {
        Some(p) => p.is_file().then(|| p.to_path_buf()),
        None => which::which(name).ok(),
    };
    found.ok_or_else(|| Error::ToolMissing {
        tool: name.to_string(),
        hint: format!(" (Debian/Ubuntu: apt install {package}; Fedora: dnf install qemu-system-x86; Arch: pacman -S qemu-system-x86)"),
    })
}

/// A statically linked busybox (the initramfs has no libraries).
fn find_busybox() -> Result<PathBuf> {
    [
        "/bin/busybox",
        "/usr/bin/busybox",
        "/usr/lib/initramfs-tools/bin/busybox",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file() && is_static(p))
    .ok_or_else(|| Error::ToolMissing {
        tool: "a static busybox".into(),
        hint: " (Debian/Ubuntu: apt install busybox-static)".into(),
    })
}

/// A 64-bit little-endian ELF executable without a PT_INTERP program header: it needs no
/// dynamic loader (the initramfs has none).
fn is_static(path: &Path) -> bool {
    const PT_INTERP: u32 = 3;
    let Ok(data) = std::fs::read(path) else {
        return false;
    };
    let u16_at = |o: usize| data.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        data.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        data.get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    if !data.starts_with(b"\x7fELF\x02\x01") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(32), u16_at(54), u16_at(56)) else {
        return false;
    };
    (0..usize::from(phnum)).all(|i| {
        let at = phoff as usize + i * usize::from(phentsize);
        u32_at(at).is_some_and(|t| t != PT_INTERP)
    })
}

/// Runs the VM: KVM first when it can be had, TCG otherwise. Returns the accelerator, why
/// KVM was not used, and the console text.
fn run_vm(
    qemu: &Path,
    image: &Path,
    initrd: &Path,
    timeout: Duration,
) -> Result<(String, Option<String>, String)> {
    let kvm_usable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    let note = if kvm_usable {
        let (console, started) = run_qemu(qemu, image, initrd, "kvm", timeout, true)?;
        if started {
            return Ok(("kvm".into(), None, console));
        }
        let first = console
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let why = match first.trim() {
            "" => format!("no output within {} s", KVM_START_LIMIT.as_secs()),
            line => line.to_string(),
        };
        format!("KVM did not start the VM ({why}); ran under TCG")
    } else {
        "/dev/kvm cannot be opened; ran under TCG".to_string()
    };
    let (console, _) = run_qemu(qemu, image, initrd, "tcg", timeout, false)?;
    Ok(("tcg".into(), Some(note), console))
}

/// One qemu run. With `probe`, gives up (and says so through `false`) when the init
/// script's first line does not appear within [`KVM_START_LIMIT`].
fn run_qemu(
    qemu: &Path,
    image: &Path,
    initrd: &Path,
    accel: &str,
    timeout: Duration,
    probe: bool,
) -> Result<(String, bool)> {
    let cpu = if accel == "kvm" { "host" } else { "max" };
    let mut child = Command::new(qemu)
        .args([
            "-accel",
            accel,
            "-cpu",
            cpu,
            "-m",
            &VM_MEMORY_MIB.to_string(),
        ])
        .args([
            "-nodefaults",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
            "-nic",
            "none",
        ])
        .arg("-kernel")
        .arg(image)
        .arg("-initrd")
        .arg(initrd)
        .args([
            "-append",
            "console=ttyS0 panic=-1 loglevel=5 edd=off rdinit=/init",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(qemu, e))?;
    let console = Arc::new(Mutex::new(String::new()));
    let mut readers = Vec::new();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let sink = Arc::clone(&console);
        readers.push(std::thread::spawn(move || copy_lossy(stream, &sink)));
    }
    let started = Instant::now();
    let finished =
        |c: &Arc<Mutex<String>>| c.lock().map(|t| t.contains(console::DONE)).unwrap_or(false);
    let booted = |c: &Arc<Mutex<String>>| {
        c.lock()
            .map(|t| t.contains(console::BOOTED))
            .unwrap_or(false)
    };
    let mut done_at: Option<Instant> = None;
    loop {
        if child.try_wait().map_err(|e| Error::io(qemu, e))?.is_some() {
            break;
        }
        let elapsed = started.elapsed();
        // A kernel without ACPI (or APM) cannot power the VM off; it halts. Once the init
        // script has said it is done, a short grace and the VM is stopped from outside.
        if done_at.is_none() && finished(&console) {
            done_at = Some(Instant::now());
        }
        let halted = done_at.is_some_and(|d| d.elapsed() > POWEROFF_GRACE);
        if halted || elapsed > timeout || (probe && elapsed > KVM_START_LIMIT && !booted(&console))
        {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for r in readers {
        let _ = r.join();
    }
    let text = console.lock().map(|t| t.clone()).unwrap_or_default();
    let started_ok = text.contains(console::BOOTED);
    Ok((text, started_ok))
}

fn copy_lossy(mut from: Box<dyn Read + Send>, into: &Mutex<String>) {
    let mut buf = [0u8; 8192];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        if let Ok(mut t) = into.lock() {
            t.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
}
