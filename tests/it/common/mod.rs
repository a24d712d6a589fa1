//! Shared helpers for the integration tests: the real binary, the committed fixtures, the
//! real strip tools of this machine.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    let p = repo().join("testdata/modules").join(name);
    assert!(
        p.is_file(),
        "missing fixture {} (run scripts/fixtures.sh)",
        p.display()
    );
    p
}

pub fn kconfig(name: &str) -> PathBuf {
    repo()
        .join("testdata/kconfig")
        .join(format!("{name}.config"))
}

/// Every committed unsigned, uncompressed module fixture, with the tree it was built for.
pub fn plain_fixtures() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let dir = repo().join("testdata/modules");
    for e in std::fs::read_dir(&dir).expect("testdata/modules") {
        let p = e.expect("dir entry").path();
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !name.ends_with(".ko") || name.contains(".signed") {
            continue;
        }
        let tree = ["arm64-thinlto", "clang-nolto", "thinlto", "gcc"]
            .into_iter()
            .find(|t| name.trim_end_matches(".ko").ends_with(t))
            .unwrap_or_else(|| panic!("fixture {name} names no tree"))
            .to_string();
        out.push((p, tree));
    }
    out.sort();
    assert!(
        out.len() >= 8,
        "expected the committed fixtures, found {}",
        out.len()
    );
    out
}

/// PATH with `dir` first, for tools that must shadow the system's.
pub fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

pub fn dkwrap() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dkwrap"));
    c.env_remove("RUST_LOG");
    c
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run command")
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Copies `src` into `dir` under `name`.
pub fn copy_to(src: &Path, dir: &Path, name: &str) -> PathBuf {
    let dst = dir.join(name);
    std::fs::copy(src, &dst).expect("copy fixture");
    dst
}

/// Runs `llvm-strip-19 -g -o out original` (the reference tool); panics if it fails.
pub fn llvm_strip_to(original: &Path, out: &Path) {
    let llvm = llvm_strip().expect("llvm-strip-19 (scripts/ktrees.sh installs llvm-19)");
    let status = Command::new(llvm)
        .arg("-g")
        .arg("-o")
        .arg(out)
        .arg(original)
        .status()
        .expect("run llvm-strip");
    assert!(
        status.success(),
        "llvm-strip failed on {}",
        original.display()
    );
}

/// The llvm-strip of the kernel's clang (19), or None.
pub fn llvm_strip() -> Option<PathBuf> {
    ["llvm-strip-19", "/usr/lib/llvm-19/bin/llvm-strip"]
        .iter()
        .map(PathBuf::from)
        .find_map(|p| which(&p))
}

pub fn which(p: &Path) -> Option<PathBuf> {
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(p))
            .find(|c| c.is_file())
    })
}

/// GNU strip 2.43.1 from ../shared (the kind that exits 0 after corrupting), unpacked once.
pub fn gnu_strip_2_43() -> Option<PathBuf> {
    let xz = repo().join("../shared/tools/gnu-strip-2.43.1.xz");
    if !xz.is_file() {
        eprintln!(
            "skipping the GNU strip 2.43.1 part: ../shared/tools/gnu-strip-2.43.1.xz is absent"
        );
        return None;
    }
    let dir = repo().join("target/test-tools/binutils-2.43.1");
    let bin = dir.join("strip");
    if !bin.is_file() {
        std::fs::create_dir_all(&dir).expect("mkdir");
        let out = Command::new("xz")
            .args(["-dc"])
            .arg(&xz)
            .output()
            .expect("run xz");
        assert!(out.status.success(), "xz failed");
        let tmp = dir.join("strip.tmp");
        std::fs::write(&tmp, &out.stdout).expect("write strip");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::rename(&tmp, &bin).expect("rename");
    }
    Some(bin)
}

pub fn sha256(p: &Path) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(std::fs::read(p).expect("read"));
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Rewrites the symbol index of one relocation that applies to an allocated section, to
/// another symbol; returns (section name, offset) of the changed relocation.
pub fn corrupt_one_relocation(path: &Path) -> (String, u64) {
    let mut data = std::fs::read(path).unwrap();
    let (at, name, offset, new_sym) = {
        let elf = dkwrap::elf::Elf::parse(&data).unwrap();
        let syms = elf.symbols().unwrap().unwrap();
        let s = elf
            .sections
            .iter()
            .filter(|s| s.sh_type == dkwrap::elf::SHT_RELA)
            .find(|s| {
                elf.sections[s.info as usize].is_alloc()
                    && s.size >= 24
                    && elf.sections[s.info as usize].name() == b".data"
            })
            .or_else(|| {
                elf.sections.iter().find(|s| {
                    s.sh_type == dkwrap::elf::SHT_RELA
                        && elf.sections[s.info as usize].is_alloc()
                        && s.size >= 24
                })
            })
            .expect("a relocation section for an allocated section");
        let r = elf.relocations(s).unwrap().next().unwrap();
        // Another symbol with a different meaning: the first defined one not equal to r.sym.
        let new_sym = (1..syms.len() as u32)
            .find(|&i| {
                i != r.sym
                    && syms.get(i).is_some_and(|x| {
                        x.section().is_some()
                            && x.kind() != dkwrap::elf::STT_FILE
                            && x.value != syms.get(r.sym).unwrap().value
                    })
            })
            .unwrap();
        (
            s.offset as usize,
            elf.sections[s.info as usize].display_name().into_owned(),
            r.offset,
            new_sym,
        )
    };
    let info = u64::from_le_bytes(data[at + 8..at + 16].try_into().unwrap());
    let new_info = (u64::from(new_sym) << 32) | (info & 0xffff_ffff);
    data[at + 8..at + 16].copy_from_slice(&new_info.to_le_bytes());
    std::fs::write(path, data).unwrap();
    (name, offset)
}

/// Writes an executable script.
pub fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// The LLVM 19 tools `make` resolves, with the banner each prints for `--version` (copied
/// from Debian's clang-19/lld-19/llvm-19).
const SIMULATED_LLVM: &[(&str, &str)] = &[
    ("clang", "Debian clang version 19.1.7 (3~deb12u1)"),
    ("clang++", "Debian clang version 19.1.7 (3~deb12u1)"),
    ("ld.lld", "Debian LLD 19.1.7 (compatible with GNU linkers)"),
    ("llvm-ar", "Debian LLVM version 19.1.7"),
    ("llvm-nm", "Debian LLVM version 19.1.7"),
    (
        "llvm-objcopy",
        "llvm-objcopy, compatible with GNU objcopy\nDebian LLVM version 19.1.7",
    ),
    ("llvm-objdump", "Debian LLVM version 19.1.7"),
    ("llvm-readelf", "Debian LLVM version 19.1.7"),
    (
        "llvm-strip",
        "llvm-strip, compatible with GNU strip\nDebian LLVM version 19.1.7",
    ),
];

/// SIMULATED LLVM 19 tools in `bin`: each prints its real banner for `--version` and fails
/// for anything else (so an llvm-strip attempt falls back to dkwrap's native strip).
pub fn simulated_llvm_19(bin: &Path) {
    for (tool, banner) in SIMULATED_LLVM {
        let script = format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then printf '%s\\n' '{}'; exit 0; fi\nexit 1\n",
            banner.replace('\n', "' '")
        );
        write_script(&bin.join(tool), &script);
    }
}

/// `dkwrap verify --against ORIGINAL STRIPPED` must pass: the stripped module is proven to be
/// the original minus debug information.
pub fn assert_proven(stripped: &Path, original: &Path) {
    let out = run(dkwrap()
        .arg("verify")
        .arg("--against")
        .arg(original)
        .arg(stripped));
    assert_eq!(
        code(&out),
        dkwrap::exit::OK,
        "{} vs {}:\n{}",
        stripped.display(),
        original.display(),
        text(&out)
    );
}
