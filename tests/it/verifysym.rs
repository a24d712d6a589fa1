//! `verify`'s symbol resolution against a real kernel tree's Module.symvers, the loader
//! checks added with it, and the proof's grading of section-group differences: each on a
//! real fixture altered the way the failure happens.

use std::path::{Path, PathBuf};

use crate::common::*;
use dkwrap::elf::{self, Elf};
use dkwrap::exit;

/// A kernel tree built by scripts/ktrees.sh (DKWRAP_KTREES, else target/ktrees).
fn ktree(name: &str) -> PathBuf {
    let base = std::env::var_os("DKWRAP_KTREES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/ktrees"));
    let tree = base.join(name);
    assert!(
        tree.join("Module.symvers").is_file(),
        "missing kernel tree {} (run scripts/ktrees.sh)",
        tree.display()
    );
    tree
}

fn u32_at(d: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(d[at..at + 4].try_into().unwrap())
}
fn put_u32(d: &mut [u8], at: usize, v: u32) {
    d[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(d: &mut [u8], at: usize, v: u64) {
    d[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Header offset of the first section named `name`.
fn header_of(data: &[u8], name: &str) -> usize {
    let elf = Elf::parse(data).unwrap();
    let s = elf
        .section_by_name(name)
        .unwrap_or_else(|| panic!("no {name}"));
    elf.section_header_offset(s.index()) as usize
}

/// Gives section `which` a new name: the section name table is copied to the end of the
/// file with the name appended (what a linker emitting that section would have written).
fn rename_section(data: &mut Vec<u8>, which: &str, new_name: &str) {
    let (shstr_hdr, table, target_hdr) = {
        let elf = Elf::parse(data).unwrap();
        let shstr = &elf.sections[elf.shstrndx];
        let table = elf.section_data(shstr).unwrap().to_vec();
        (
            elf.section_header_offset(elf.shstrndx) as usize,
            table,
            header_of(data, which),
        )
    };
    let new_offset = data.len();
    data.extend_from_slice(&table);
    data.extend_from_slice(new_name.as_bytes());
    data.push(0);
    put_u64(data, shstr_hdr + 24, new_offset as u64);
    put_u64(
        data,
        shstr_hdr + 32,
        (table.len() + new_name.len() + 1) as u64,
    );
    put_u32(data, target_hdr, table.len() as u32);
}

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

/// `dkwrap verify --kernel-dir <gcc tree> FILE`: exit code and output.
fn verify_gcc(file: &Path) -> (i32, String) {
    let out = run(dkwrap()
        .arg("verify")
        .arg("--kernel-dir")
        .arg(ktree("gcc"))
        .arg(file));
    (code(&out), text(&out))
}

#[test]
fn real_modules_resolve_every_symbol_against_their_trees_symvers() {
    for tree in ["gcc", "thinlto", "clang-nolto"] {
        let files = [
            fixture(&format!("basic-{tree}.ko")),
            fixture(&format!("modeset-like-{tree}.ko")),
        ];
        let out = run(dkwrap()
            .args(["verify", "--json", "--kernel-dir"])
            .arg(ktree(tree))
            .args(&files));
        assert_eq!(code(&out), exit::OK, "{tree}: {}", text(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(v[0]["symbols_checked"], true, "{v}");
    }
}

#[test]
fn a_renamed_undefined_symbol_is_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    let mut data = std::fs::read(fixture("basic-gcc.ko")).unwrap();
    // `strlen` -> `strlex` in the symbol string table: same length, exported by nobody.
    let strtab = {
        let elf = Elf::parse(&data).unwrap();
        let t = elf.symbols().unwrap().unwrap();
        let s = &elf.sections[elf.sections[t.section_index].link as usize];
        s.offset as usize..(s.offset + s.size) as usize
    };
    let at = strtab.start
        + data[strtab]
            .windows(8)
            .position(|w| w == b"\0strlen\0")
            .expect("strlen in .strtab")
        + 1;
    data[at..at + 6].copy_from_slice(b"strlex");
    let (c, t) = verify_gcc(&write(tmp.path(), "m.ko", &data));
    assert_eq!(c, exit::KERNEL_MISMATCH, "{t}");
    assert!(t.contains("Unknown symbol strlex (err -2)"), "{t}");
}

#[test]
fn a_wrong_crc_in_versions_disagrees_about_version() {
    let tmp = tempfile::tempdir().unwrap();
    let mut data = std::fs::read(fixture("basic-gcc.ko")).unwrap();
    let v = {
        let elf = Elf::parse(&data).unwrap();
        let s = elf.section_by_name("__versions").expect("__versions");
        let d = elf.section_data(s).unwrap();
        let i = d
            .chunks_exact(64)
            .position(|e| &e[8..16] == b"_printk\0")
            .expect("_printk in __versions");
        s.offset as usize + i * 64
    };
    data[v] ^= 0xff;
    let (c, t) = verify_gcc(&write(tmp.path(), "m.ko", &data));
    assert_eq!(c, exit::KERNEL_MISMATCH, "{t}");
    assert!(
        t.contains("disagrees about version of symbol _printk"),
        "{t}"
    );
}

#[test]
fn a_second_modinfo_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut data = std::fs::read(fixture("basic-gcc.ko")).unwrap();
    let name = u32_at(&data, header_of(&data, ".modinfo"));
    let comment = header_of(&data, ".comment");
    put_u32(&mut data, comment, name);
    let out = run(dkwrap().arg("verify").arg(write(tmp.path(), "m.ko", &data)));
    assert_eq!(code(&out), exit::INVALID_MODULE, "{}", text(&out));
    assert!(text(&out).contains("Only one .modinfo section must exist."));
}

#[test]
fn a_writable_text_section_is_refused_under_strict_module_rwx() {
    let tmp = tempfile::tempdir().unwrap();
    let mut data = std::fs::read(fixture("basic-gcc.ko")).unwrap();
    let text_hdr = header_of(&data, ".text");
    data[text_hdr + 8] |= elf::SHF_WRITE as u8;
    let (c, t) = verify_gcc(&write(tmp.path(), "m.ko", &data));
    assert_eq!(c, exit::INVALID_MODULE, "{t}");
    assert!(t.contains("has invalid WRITE|EXEC flags"), "{t}");
}

#[test]
fn a_common_symbol_asks_for_fno_common() {
    let tmp = tempfile::tempdir().unwrap();
    let mut data = std::fs::read(fixture("basic-gcc.ko")).unwrap();
    let at = {
        let elf = Elf::parse(&data).unwrap();
        let t = elf.symbols().unwrap().unwrap();
        let sym = (t.first_global..t.len() as u32)
            .filter_map(|i| t.get(i))
            .find(|s| s.kind() == elf::STT_OBJECT && s.section().is_some())
            .expect("a global data object");
        elf.sections[t.section_index].offset as usize + sym.index as usize * 24
    };
    data[at + 6..at + 8].copy_from_slice(&(elf::SHN_COMMON as u16).to_le_bytes());
    let out = run(dkwrap().arg("verify").arg(write(tmp.path(), "m.ko", &data)));
    assert_eq!(code(&out), exit::INVALID_MODULE, "{}", text(&out));
    assert!(text(&out).contains("please compile with -fno-common"));
}

#[test]
fn ctors_beside_init_array_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut data = std::fs::read(fixture("basic-gcc.ko")).unwrap();
    // Two allocated data sections renamed as a mixed C/C++ link would leave them.
    rename_section(&mut data, ".data", ".ctors");
    rename_section(&mut data, ".rodata", ".init_array");
    let out = run(dkwrap().arg("verify").arg(write(tmp.path(), "m.ko", &data)));
    assert_eq!(code(&out), exit::INVALID_MODULE, "{}", text(&out));
    assert!(text(&out).contains("has both .ctors and .init_array"));
}

#[test]
fn extended_modversions_with_mismatched_counts_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut data = std::fs::read(fixture("basic-gcc.ko")).unwrap();
    // .modinfo's strings stand in for the names: far more of them than 4-byte CRCs in
    // the 4-byte-aligned section renamed to __version_ext_crcs.
    rename_section(&mut data, "__versions", "__version_ext_crcs");
    rename_section(&mut data, ".modinfo", "__version_ext_names");
    let out = run(dkwrap().arg("verify").arg(write(tmp.path(), "m.ko", &data)));
    assert_eq!(code(&out), exit::INVALID_MODULE, "{}", text(&out));
    assert!(
        text(&out).contains("refuses mismatched extended modversions"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_nonzero_relocation_target_is_refused_on_x86_64() {
    let tmp = tempfile::tempdir().unwrap();
    let mut data = std::fs::read(fixture("basic-gcc.ko")).unwrap();
    let at = {
        let elf = Elf::parse(&data).unwrap();
        let rela = elf
            .sections
            .iter()
            .find(|s| {
                s.sh_type == elf::SHT_RELA && elf.sections[s.info as usize].name() == b".text"
            })
            .expect(".rela.text");
        let r = elf
            .relocations(rela)
            .unwrap()
            .find(|r| r.rtype == 4 || r.rtype == 2)
            .expect("a PC32/PLT32 relocation");
        elf.sections[rela.info as usize].offset as usize + r.offset as usize
    };
    data[at] = 0x5a;
    let out = run(dkwrap().arg("verify").arg(write(tmp.path(), "m.ko", &data)));
    assert_eq!(code(&out), exit::INVALID_MODULE, "{}", text(&out));
    assert!(text(&out).contains("Invalid relocation target, existing value is nonzero"));
}

#[test]
fn group_flags_cleared_by_a_strip_tool_are_a_note_naming_the_group() {
    let tmp = tempfile::tempdir().unwrap();
    let original = fixture("modeset-like-thinlto.ko");
    let stripped = tmp.path().join("stripped.ko");
    llvm_strip_to(&original, &stripped);
    let mut data = std::fs::read(&stripped).unwrap();
    let (flag_at, signature) = {
        let elf = Elf::parse(&data).unwrap();
        let t = elf.symbols().unwrap().unwrap();
        let g = elf
            .sections
            .iter()
            .find(|s| s.sh_type == elf::SHT_GROUP)
            .expect("a section group");
        let sig = t.get(g.info).expect("signature").name().into_owned();
        (g.offset as usize, sig)
    };
    assert_eq!(u32_at(&data, flag_at), elf::GRP_COMDAT);
    put_u32(&mut data, flag_at, 0);
    std::fs::write(&stripped, &data).unwrap();
    let out = run(dkwrap()
        .arg("verify")
        .arg("--against")
        .arg(&original)
        .arg(&stripped));
    let t = text(&out);
    assert_eq!(code(&out), exit::OK, "{t}");
    assert!(
        t.contains(&format!("`{signature}`: flags 0x1 (GRP_COMDAT) became 0x0")),
        "{t}"
    );
}

/// Renames undefined symbol `from` in the symbol string table to `to` (same length).
fn rename_undefined(data: &mut [u8], from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let strtab = {
        let elf = Elf::parse(data).unwrap();
        let t = elf.symbols().unwrap().unwrap();
        let s = &elf.sections[elf.sections[t.section_index].link as usize];
        s.offset as usize..(s.offset + s.size) as usize
    };
    let needle = format!("\0{from}\0");
    let at = strtab.start
        + data[strtab]
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
            .unwrap_or_else(|| panic!("{from} in .strtab"))
        + 1;
    data[at..at + to.len()].copy_from_slice(to.as_bytes());
}

#[test]
fn modules_verified_together_resolve_against_each_others_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let mut user = std::fs::read(fixture("modeset-like-gcc.ko")).unwrap();
    // Now it needs basic-gcc.ko's EXPORT_SYMBOL_GPL(basic_compute), as nvidia-modeset
    // needs nvidia's exports.
    rename_undefined(&mut user, "param_ops_int", "basic_compute");
    let user = write(tmp.path(), "user.ko", &user);
    let (alone, t) = verify_gcc(&user);
    assert_eq!(alone, exit::KERNEL_MISMATCH, "{t}");
    assert!(t.contains("Unknown symbol basic_compute"), "{t}");
    let out = run(dkwrap()
        .arg("verify")
        .arg("--kernel-dir")
        .arg(ktree("gcc"))
        .arg(fixture("basic-gcc.ko"))
        .arg(&user));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    // Its __versions has no entry for the new name: the loader's warning, not a refusal.
    assert!(text(&out).contains("no symbol version for basic_compute"));
}

#[test]
fn a_gpl_only_export_used_by_a_proprietary_module_is_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    let mut user = std::fs::read(fixture("modeset-like-gcc.ko")).unwrap();
    rename_undefined(&mut user, "param_ops_int", "basic_compute");
    let at = user
        .windows(12)
        .position(|w| w == b"license=GPL\0")
        .expect("license=GPL");
    // "GPL" -> "MIT": not GPL-compatible on its own (the kernel wants "Dual MIT/GPL").
    user[at + 8..at + 11].copy_from_slice(b"MIT");
    let user = write(tmp.path(), "user.ko", &user);
    let out = run(dkwrap()
        .arg("verify")
        .arg("--kernel-dir")
        .arg(ktree("gcc"))
        .arg(fixture("basic-gcc.ko"))
        .arg(&user));
    let t = text(&out);
    assert_eq!(code(&out), exit::KERNEL_MISMATCH, "{t}");
    assert!(
        t.contains("Unknown symbol basic_compute (err -2): a GPL-only export of basic-gcc.ko"),
        "{t}"
    );
}

/// A system image: /lib/modules/<release>/{kernel,updates}/ with real modules, and
/// /boot/config-<release> when `with_config`.
fn image(with_config: bool) -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let release = "6.1.192".to_string(); // the thinlto fixtures' vermagic
    let base = tmp.path().join("lib/modules").join(&release);
    std::fs::create_dir_all(base.join("kernel/drivers")).unwrap();
    std::fs::create_dir_all(base.join("updates/dkms")).unwrap();
    copy_to(
        &fixture("basic-thinlto.ko.xz"),
        &base.join("kernel/drivers"),
        "basic.ko.xz",
    );
    copy_to(
        &fixture("modeset-like-thinlto.ko"),
        &base.join("updates/dkms"),
        "modeset.ko",
    );
    if with_config {
        std::fs::create_dir_all(tmp.path().join("boot")).unwrap();
        std::fs::copy(
            kconfig("thinlto"),
            tmp.path().join(format!("boot/config-{release}")),
        )
        .unwrap();
    }
    (tmp, release)
}

#[test]
fn a_directory_is_searched_and_only_failures_and_a_summary_are_printed() {
    let (tmp, _) = image(true);
    let out = run(dkwrap().arg("verify").arg(tmp.path()));
    let t = text(&out);
    assert_eq!(code(&out), exit::OK, "{t}");
    assert!(t.contains("2 modules: 2 OK, 0 FAILED"), "{t}");
    assert!(
        !t.contains("OK (module"),
        "bulk runs print only failures: {t}"
    );
}

#[test]
fn installed_kernels_are_checked_with_their_own_config() {
    let (tmp, release) = image(true);
    let out = run(dkwrap()
        .args(["verify", "--json", "--installed", "--all-kernels", "--root"])
        .arg(tmp.path()));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(v[0]["kernel_release"], release.as_str());
    let oot = run(dkwrap()
        .args([
            "verify",
            "--json",
            "--installed",
            "--out-of-tree",
            "--kernel",
            &release,
            "--root",
        ])
        .arg(tmp.path()));
    let v: serde_json::Value = serde_json::from_slice(&oot.stdout).expect("JSON");
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    assert!(v[0]["file"]
        .as_str()
        .unwrap_or("")
        .ends_with("updates/dkms/modeset.ko"));
}

#[test]
fn a_kernel_without_config_is_checked_for_its_release_and_says_what_it_skipped() {
    let (tmp, release) = image(false);
    let module = tmp
        .path()
        .join(format!("lib/modules/{release}/updates/dkms/modeset.ko"));
    let out = run(dkwrap()
        .args(["verify", "--kernel", &release, "--root"])
        .arg(tmp.path())
        .arg(&module));
    assert_eq!(code(&out), exit::OK, "{}", text(&out));
    assert!(
        text(&out).contains("skipped vermagic flags"),
        "{}",
        text(&out)
    );
    let wrong = run(dkwrap()
        .args(["verify", "--kernel", "6.1.0-other", "--root"])
        .arg(tmp.path())
        .arg(&module));
    assert_eq!(code(&wrong), exit::KERNEL_MISMATCH, "{}", text(&wrong));
}
