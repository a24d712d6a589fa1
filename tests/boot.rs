//! `verify --boot` against a real Debian kernel under qemu (scripts/boot-kernel.sh downloads
//! it; `DKWRAP_BOOT_ROOT` names the unpacked root). Its own modules load; unsigned copies
//! altered the way broken builds are (a CRC in `__versions`, an import renamed) and a module
//! built for another kernel are refused, in the kernel's words. Skipped with a message when
//! `DKWRAP_BOOT_ROOT` is unset (scripts/test-all.sh sets it).

mod common;

use std::path::{Path, PathBuf};

use common::*;
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
