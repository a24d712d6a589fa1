//! `verify --boot` against a real Debian kernel under qemu (scripts/boot-kernel.sh downloads
//! it; `DKWRAP_BOOT_ROOT` names the unpacked root). Its own modules load; unsigned copies
//! altered the way broken builds are (a CRC in `__versions`, an import renamed) and a module
//! built for another kernel are refused, in the kernel's words. Skipped with a message when
//! `DKWRAP_BOOT_ROOT` is unset (scripts/test-all.sh sets it).
//!
//! The small clang-19 ThinLTO kernel of scripts/boot-ltokernel.sh (`DKWRAP_BOOT_LTO`) and its
//! boot-vtables fixture: stripped by dkwrap, every call through its vtables reaches the right
//! function; stripped by GNU strip 2.43.1, the module crashes the kernel and `verify --boot`
//! says so. Also `--installed` (the kernel's own image, its out-of-tree modules) and `make
//! --boot-test` / `DKWRAP_BOOT_TEST`.

use std::path::{Path, PathBuf};

use crate::common::*;
use dkwrap::exit;

struct Kernel {
    image: PathBuf,
    config: PathBuf,
    fat_dir: PathBuf,
}

fn kernel() -> Option<Kernel> {
    let Some(root) = std::env::var_os("DKWRAP_BOOT_ROOT").map(PathBuf::from) else {
        eprintln!("skipping: DKWRAP_BOOT_ROOT is unset (scripts/boot-kernel.sh prints it)");
        return None;
    };
    let image = std::fs::read_dir(root.join("boot"))
        .expect("ROOT/boot")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .expect("a vmlinuz");
    let release = image.file_name().unwrap().to_string_lossy()["vmlinuz-".len()..].to_string();
    Some(Kernel {
        config: root.join(format!("boot/config-{release}")),
        fat_dir: root.join(format!("lib/modules/{release}/kernel/fs/fat")),
        image,
    })
}

fn boot(k: &Kernel, modules: &[&Path]) -> (i32, serde_json::Value, String) {
    let out = run(dkwrap()
        .args(["verify", "--json", "--boot"])
        .arg(&k.image)
        .arg("--config")
        .arg(&k.config)
        .args(modules));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out)));
    (code(&out), v, text(&out))
}

/// An unsigned copy of `module` with `edit` applied to its bytes (a signature would no
/// longer match, and a mismatched signature is refused before anything else is checked).
fn altered(module: &Path, dir: &Path, edit: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let file = dkwrap::modfile::ModuleFile::open(module).expect("module");
    let mut bytes = file.elf_bytes().to_vec();
    edit(&mut bytes);
    let out = dir.join(module.file_name().unwrap());
    std::fs::write(&out, bytes).unwrap();
    out
}

/// File offset and size of the section called `name`.
fn section(bytes: &[u8], name: &str) -> (usize, usize) {
    let elf = dkwrap::elf::Elf::parse(bytes).expect("ELF");
    let s = elf.section_by_name(name).expect(name);
    (s.offset as usize, s.size as usize)
}

#[test]
fn the_kernels_own_modules_load_and_altered_ones_are_refused_in_its_words() {
    let Some(k) = kernel() else { return };
    let fat = k.fat_dir.join("fat.ko");
    let vfat = k.fat_dir.join("vfat.ko");
    // vfat alone: its dependency fat is found beside it and loaded first.
    let (rc, v, t) = boot(&k, &[&vfat]);
    assert_eq!(rc, exit::OK, "{t}");
    assert_eq!(v[0]["boot"]["outcome"], "loaded", "{t}");

    // One CRC in __versions changed (the entry after the first), signature dropped.
    let tmp = tempfile::tempdir().unwrap();
    let crc = altered(&vfat, tmp.path(), |b| {
        let (at, size) = section(b, "__versions");
        assert!(size >= 128);
        b[at + 64] ^= 0x5a;
    });
    let (rc, v, t) = boot(&k, &[&fat, &crc]);
    assert_eq!(rc, exit::KERNEL_MISMATCH, "{t}");
    assert_eq!(v[1]["boot"]["outcome"], "refused", "{t}");
    let why = v[1]["boot"]["message"].as_str().unwrap();
    assert!(why.contains("disagrees about version of symbol"), "{why}");

    // An undefined symbol renamed to an unknown name of the same length.
    let tmp2 = tempfile::tempdir().unwrap();
    let renamed = altered(&vfat, tmp2.path(), |b| {
        let (at, _) = section(b, ".strtab");
        let name_offset = {
            let elf = dkwrap::elf::Elf::parse(b).expect("ELF");
            let symbols = elf.symbols().expect("symbols").expect("a symbol table");
            (1..symbols.len() as u32)
                .filter_map(|i| symbols.get(i))
                .find(|s| s.shndx == 0 && s.name.starts_with(b"fat_"))
                .expect("an undefined fat_ symbol")
                .name_offset as usize
        };
        b[at + name_offset..at + name_offset + 4].copy_from_slice(b"zzz_");
    });
    let (rc, v, t) = boot(&k, &[&fat, &renamed]);
    assert_eq!(rc, exit::KERNEL_MISMATCH, "{t}");
    let why = v[1]["boot"]["message"].as_str().unwrap();
    assert!(why.contains("Unknown symbol zzz_"), "{why}");
}

#[test]
fn a_module_built_for_another_kernel_is_refused_and_no_qemu_is_a_missing_tool() {
    let Some(k) = kernel() else { return };
    let other = fixture("basic-gcc.ko");
    let (rc, v, t) = boot(&k, &[&other]);
    assert_eq!(rc, exit::KERNEL_MISMATCH, "{t}");
    assert_eq!(v[0]["boot"]["outcome"], "refused", "{t}");
    let out = run(dkwrap()
        .arg("verify")
        .arg("--boot")
        .arg(&k.image)
        .args(["--qemu", "/nonexistent/qemu"])
        .arg(&other));
    assert_eq!(code(&out), exit::TOOL_MISSING, "{}", text(&out));
    assert!(
        text(&out).contains("apt install qemu-system-x86"),
        "{}",
        text(&out)
    );
}

// ---- the small clang-19 ThinLTO kernel (scripts/boot-ltokernel.sh) -------------------------

/// The ThinLTO boot kernel and its fixture module, from `DKWRAP_BOOT_LTO` (the directory
/// scripts/boot-ltokernel.sh prints).
struct LtoKernel {
    dir: PathBuf,
    image: PathBuf,
    build: PathBuf,
    release: String,
    /// boot_vtables.ko, unstripped.
    module: PathBuf,
}

fn lto_kernel() -> Option<LtoKernel> {
    let Some(dir) = std::env::var_os("DKWRAP_BOOT_LTO").map(PathBuf::from) else {
        eprintln!("skipping: DKWRAP_BOOT_LTO is unset (scripts/boot-ltokernel.sh prints it)");
        return None;
    };
    let build = dir.join("build");
    let release = std::fs::read_to_string(build.join("include/config/kernel.release"))
        .expect("kernel.release")
        .trim()
        .to_string();
    Some(LtoKernel {
        image: dir.join("bzImage"),
        module: dir.join("modules/boot_vtables.ko"),
        build,
        release,
        dir,
    })
}

/// The calls the fixture's init reports, in order ("boot_vtables: call N reached F").
fn calls_reached(boot: &serde_json::Value) -> Vec<String> {
    boot["kernel_lines"]
        .as_array()
        .expect("kernel_lines")
        .iter()
        .filter_map(|l| l.as_str())
        .filter_map(|l| l.split(" reached ").nth(1))
        .map(str::to_string)
        .collect()
}

const RIGHT_CALLS: &[&str] = &[
    "1920x1080@60",
    "Cursor::kind",
    "Cursor::pitch",
    "Surface::flip",
    "Surface::kind",
    "Surface::pitch",
    "Surface::flip",
    "Overlay::kind",
    "Surface::pitch",
    "Overlay::flip",
    "Cursor::kind",
    "Cursor::pitch",
    "Surface::flip",
    "Overlay::kind",
    "Surface::pitch",
    "Overlay::flip",
    "disk_open",
    "disk_close",
    "net_open",
    "net_close",
    "local_open",
];

fn boot_one(image: &Path, module: &Path) -> (i32, serde_json::Value, String) {
    let out = run(dkwrap()
        .args(["verify", "--json", "--boot"])
        .arg(image)
        .arg(module));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out)));
    (code(&out), v, text(&out))
}

/// dkwrap strips `original` into `dir`/boot_vtables.ko.
fn dkwrap_stripped(original: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let target = copy_to(original, dir, "boot_vtables.ko");
    let out = run(dkwrap().args(["strip", "-g"]).arg(&target));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    target
}

#[test]
fn thinlto_vtables_reach_the_right_code_when_dkwrap_strips_and_not_when_gnu_strip_does() {
    let Some(k) = lto_kernel() else { return };
    let Some(gnu) = gnu_strip_2_43() else { return };
    let tmp = tempfile::tempdir().unwrap();

    // dkwrap's strip: the module loads and every call reaches its function.
    let ours = dkwrap_stripped(&k.module, &tmp.path().join("dkwrap"));
    assert!(std::fs::metadata(&ours).unwrap().len() < std::fs::metadata(&k.module).unwrap().len());
    let (rc, v, t) = boot_one(&k.image, &ours);
    assert_eq!(rc, exit::OK, "{t}");
    let boot = &v[0]["boot"];
    assert_eq!(boot["outcome"], "loaded", "{t}");
    assert_eq!(calls_reached(boot), RIGHT_CALLS, "{t}");
    assert!(
        boot["kernel_lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("21 calls, 0 wrong")),
        "{t}"
    );

    // GNU strip 2.43.1: exits 0 having rewritten relocations; the proof says so...
    let gnu_dir = tmp.path().join("gnu");
    std::fs::create_dir_all(&gnu_dir).unwrap();
    let theirs = gnu_dir.join("boot_vtables.ko");
    let out = run(std::process::Command::new(&gnu)
        .args(["-g", "-o"])
        .arg(&theirs)
        .arg(&k.module));
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = run(dkwrap()
        .args(["verify", "--against"])
        .arg(&k.module)
        .arg(&theirs));
    assert_eq!(code(&out), exit::NOT_EQUIVALENT, "{}", text(&out));

    // ...and the kernel agrees: the module's vtables reach the wrong code, and verify --boot
    // reports the crash in the kernel's words with the boot failure's code.
    let (rc, v, t) = boot_one(&k.image, &theirs);
    assert_eq!(rc, exit::BOOT_FAILED, "{t}");
    let boot = &v[0]["boot"];
    assert_eq!(boot["outcome"], "crashed", "{t}");
    assert_ne!(calls_reached(boot), RIGHT_CALLS, "{t}");
    assert_eq!(v[0]["ok"], false, "{t}");
    let out = run(dkwrap()
        .arg("verify")
        .arg("--boot")
        .arg(&k.image)
        .arg(&theirs));
    assert_eq!(code(&out), exit::BOOT_FAILED, "{}", text(&out));
    assert!(
        text(&out).contains("boot_vtables: FAILED: the kernel crashed"),
        "{}",
        text(&out)
    );
}

/// A system image: ROOT/boot/vmlinuz-KVER and config-KVER, ROOT/lib/modules/KVER/build (the
/// kernel's build tree) and `module` installed under updates/dkms/, as dkms installs it.
fn system_root(k: &LtoKernel, root: &Path, module: &Path) {
    let boot = root.join("boot");
    let modules = root.join("lib/modules").join(&k.release);
    std::fs::create_dir_all(&boot).unwrap();
    std::fs::create_dir_all(modules.join("kernel")).unwrap();
    std::fs::create_dir_all(modules.join("updates/dkms")).unwrap();
    std::fs::copy(&k.image, boot.join(format!("vmlinuz-{}", k.release))).unwrap();
    std::fs::copy(
        k.build.join(".config"),
        boot.join(format!("config-{}", k.release)),
    )
    .unwrap();
    std::os::unix::fs::symlink(&k.build, modules.join("build")).unwrap();
    copy_to(module, &modules.join("updates/dkms"), "boot_vtables.ko");
}

#[test]
fn installed_boot_takes_the_kernels_own_image_and_its_out_of_tree_modules() {
    let Some(k) = lto_kernel() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let ours = dkwrap_stripped(&k.module, &tmp.path().join("stripped"));
    let root = tmp.path().join("root");
    system_root(&k, &root, &ours);
    let out = run(dkwrap()
        .args(["verify", "--installed", "--json", "--boot", "--kernel"])
        .arg(&k.release)
        .arg("--root")
        .arg(&root));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rec = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["file"]
                .as_str()
                .is_some_and(|f| f.ends_with("boot_vtables.ko"))
        })
        .unwrap_or_else(|| panic!("no record for the module: {}", text(&out)));
    assert_eq!(rec["boot"]["outcome"], "loaded", "{}", text(&out));
    assert_eq!(calls_reached(&rec["boot"]), RIGHT_CALLS);

    // Without --installed, --boot needs its IMAGE; a kernel without its image is named.
    let out = run(dkwrap().args(["verify", "--boot"]).arg(&ours));
    assert_eq!(code(&out), exit::USAGE, "{}", text(&out));
    std::fs::remove_file(root.join(format!("boot/vmlinuz-{}", k.release))).unwrap();
    let out = run(dkwrap()
        .args(["verify", "--installed", "--boot", "--kernel"])
        .arg(&k.release)
        .arg("--root")
        .arg(&root));
    assert_eq!(code(&out), exit::UNREADABLE, "{}", text(&out));
    assert!(
        text(&out).contains(&format!("vmlinuz-{}", k.release)),
        "{}",
        text(&out)
    );
}

/// A copy of the fixture's source as scripts/boot-ltokernel.sh laid it out (its C++ half
/// prebuilt), ready for `make M=`.
fn fixture_source(k: &LtoKernel, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(k.dir.join("modsrc")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let source = name.ends_with(".c")
            || name.ends_with(".h")
            || name == "Kbuild"
            || name == "bv_cxx.o_binary";
        if source {
            std::fs::copy(&p, to.join(&name)).unwrap();
        }
    }
    to.to_path_buf()
}

#[test]
fn make_boot_test_loads_what_it_built_and_dkms_asks_through_the_environment() {
    let Some(k) = lto_kernel() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let src = fixture_source(&k, &tmp.path().join("boot-vtables"));
    // DKWRAP_BOOT_TEST=IMAGE, as a dkms build passes it through its make shim.
    let out = run(dkwrap()
        .env("DKWRAP_BOOT_TEST", &k.image)
        .args(["make", "--json", "--kernel-dir"])
        .arg(&k.build)
        .arg("--")
        .args(["make", "-C"])
        .arg(&k.build)
        .args(["ARCH=x86_64", "LLVM=-19"])
        .arg(format!("M={}", src.display()))
        .arg("modules"));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out)));
    let boot = &v["boot"]["modules"][0];
    assert_eq!(boot["name"], "boot_vtables", "{}", text(&out));
    assert_eq!(boot["outcome"], "loaded", "{}", text(&out));
    assert_eq!(calls_reached(boot), RIGHT_CALLS);

    // --boot-test IMAGE on the command line; an image that is not there is named, with its
    // code, after the build (the module itself was built and proven).
    let src = fixture_source(&k, &tmp.path().join("again"));
    let out = run(dkwrap()
        .args([
            "make",
            "--boot-test",
            "/nonexistent/vmlinuz",
            "--kernel-dir",
        ])
        .arg(&k.build)
        .arg("--")
        .args(["make", "-C"])
        .arg(&k.build)
        .args(["ARCH=x86_64", "LLVM=-19"])
        .arg(format!("M={}", src.display()))
        .arg("modules"));
    assert_eq!(code(&out), exit::UNREADABLE, "{}", text(&out));
    assert!(
        text(&out).contains("boot test: ") && text(&out).contains("/nonexistent/vmlinuz"),
        "{}",
        text(&out)
    );
}

#[test]
fn installed_boot_without_out_of_tree_modules_starts_no_vm_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let release = "6.1.0-99-test";
    let modules = tmp.path().join("lib/modules").join(release);
    std::fs::create_dir_all(modules.join("kernel/fs")).unwrap();
    copy_to(
        &fixture("basic-thinlto.ko"),
        &modules.join("kernel/fs"),
        "basic.ko",
    );
    let out = run(dkwrap()
        .args([
            "verify",
            "--installed",
            "--boot",
            "--kernel",
            release,
            "--root",
        ])
        .arg(tmp.path()));
    assert!(
        text(&out).contains(&format!("boot {release}: no out-of-tree modules")),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("tcg"), "{}", text(&out));
}
