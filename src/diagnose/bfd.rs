//! Where a `BFD (GNU Binutils ...) VERSION assertion fail .../bfd/elf.c:LINE` points, and
//! what it means for the module being stripped.
//!
//! `BFD_ASSERT` prints only a version and a source line. The table maps (version, line) to
//! the function and the check, each row established from the binutils build that prints it:
//! Debian's 2.40 and the 2.43.1 of `../shared/tools` by disassembling the call that passes the
//! line number (Debian's `libbfd-2.40-system.so` exports `bfd_elf_set_group_contents`; both
//! calls sit in it, the second followed by the `memset` that zero-fills the group), and the
//! source of `bfd_elf_set_group_contents` (binutils 2.40, `bfd/elf.c`). Arch's 2.42.0 line is
//! the one reported with nvidia-open-dkms on ThinLTO kernels (NVIDIA open-gpu-kernel-modules
//! issue 661); which of the function's two checks it is was not measured. A line that is not
//! in the table is reported as unknown, never guessed.

use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

/// The two checks at the end of `bfd_elf_set_group_contents()`, which writes a section group
/// (`SHT_GROUP`) back out: its member indices are written from the end of the group section
/// towards the flag word, and must fill it exactly.
const TOO_MANY_MEMBERS: &str =
    "`if (loc == sec->contents) BFD_ASSERT (0);`: strip found more members for a section group \
     than the group section read from the file has slots. BFD keeps the members of a group in \
     one ring per section; a section that ld.lld put in several groups (the merged .data/.rodata/\
     .bss of a ThinLTO module) joins those rings, so a group's ring holds other groups' members. \
     The group is written cut short, strip exits 0, and relocations of the rewritten module \
     point at the wrong sections or functions";

const TOO_FEW_MEMBERS: &str =
    "`BFD_ASSERT (0)` after `loc != sec->contents`: strip wrote fewer members for a section group \
     than the group section read from the file has slots, and zero-fills the rest (member 0, no \
     section). binutils 2.43 keeps a section in only one group (`invalid entry (0xN) in group [G]`: \
     section N, already in another group, is dropped from group G); a section that ld.lld put in \
     several groups (the merged .data/.rodata/.bss of a ThinLTO module) is lost from all but one. \
     strip exits 0, and relocations of the rewritten module point at the wrong sections or \
     functions";

const SET_GROUP_CONTENTS_UNMEASURED: &str =
    "`BFD_ASSERT (0)` in the check that the members strip writes for a section group fill the \
     group section read from the file exactly (which of its two checks was not measured: too many \
     or too few members). On a module linked by ld.lld for a ThinLTO kernel the cause is a \
     section in several groups (the merged .data/.rodata/.bss); strip exits 0 and relocations of \
     the rewritten module point at the wrong sections or functions";

/// One known `BFD_ASSERT` site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AssertionPoint {
    /// binutils version as the message prints it, up to major.minor[.patch].
    pub binutils: &'static str,
    /// Which build this row was established from.
    pub build: &'static str,
    pub file: &'static str,
    pub line: u32,
    pub function: &'static str,
    pub meaning: &'static str,
}

const POINTS: &[AssertionPoint] = &[
    AssertionPoint {
        binutils: "2.40",
        build: "Debian bookworm binutils 2.40 (libbfd-2.40-system.so)",
        file: "bfd/elf.c",
        line: 3574,
        function: "bfd_elf_set_group_contents",
        meaning: TOO_MANY_MEMBERS,
    },
    AssertionPoint {
        binutils: "2.40",
        build: "Debian bookworm binutils 2.40 (libbfd-2.40-system.so)",
        file: "bfd/elf.c",
        line: 3580,
        function: "bfd_elf_set_group_contents",
        meaning: TOO_FEW_MEMBERS,
    },
    AssertionPoint {
        binutils: "2.42",
        build: "Arch Linux binutils 2.42.0 (reported with nvidia-open-dkms on a ThinLTO kernel)",
        file: "bfd/elf.c",
        line: 4131,
        function: "bfd_elf_set_group_contents",
        meaning: SET_GROUP_CONTENTS_UNMEASURED,
    },
    AssertionPoint {
        binutils: "2.43.1",
        build: "binutils 2.43.1 (Debian source, the strip of ../shared/tools)",
        file: "bfd/elf.c",
        line: 3938,
        function: "bfd_elf_set_group_contents",
        meaning: TOO_MANY_MEMBERS,
    },
    AssertionPoint {
        binutils: "2.43.1",
        build: "binutils 2.43.1 (Debian source, the strip of ../shared/tools)",
        file: "bfd/elf.c",
        line: 3944,
        function: "bfd_elf_set_group_contents",
        meaning: TOO_FEW_MEMBERS,
    },
];

/// A `BFD ... assertion fail` line, read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BfdAssertion {
    /// "GNU Binutils for Debian", "GNU Binutils".
    pub package: String,
    /// "2.40", "2.42.0", "2.43.1".
    pub version: String,
    /// The source path as printed ("../../bfd/elf.c", "/usr/src/debug/.../bfd/elf.c").
    pub source: String,
    /// The file within binutils ("bfd/elf.c").
    pub file: String,
    pub line: u32,
    /// The known site, when the table has this version and line.
    pub point: Option<AssertionPoint>,
}

fn pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // A constant, checked by the tests below.
        #[allow(clippy::expect_used)]
        Regex::new(
            r"BFD \((?P<package>GNU Binutils[^)]*)\) (?P<version>[0-9][0-9.]*) assertion fail (?P<source>\S+?):(?P<line>[0-9]+)",
        )
        .expect("BFD assertion pattern compiles")
    })
}

/// Reads a `BFD ... assertion fail FILE:LINE` line; `None` if the line is not one.
pub fn parse_assertion(line: &str) -> Option<BfdAssertion> {
    let caps = pattern().captures(line)?;
    let source = caps["source"].to_string();
    let line_no: u32 = caps["line"].parse().ok()?;
    // "../../binutils-2.43.1/bfd/elf.c" → "bfd/elf.c": the directory inside binutils.
    let file = source
        .rfind("bfd/")
        .map_or_else(|| source.clone(), |i| source[i..].to_string());
    let version = caps["version"].trim_end_matches('.').to_string();
    let point = lookup(&version, &file, line_no);
    Some(BfdAssertion {
        package: caps["package"].to_string(),
        version,
        source,
        file,
        line: line_no,
        point,
    })
}

/// The known site for this version, file and line. Versions compare on what both name:
/// "2.42.0" is the row "2.42"; "2.43" is not the row "2.43.1" (another release may have moved
/// its lines).
pub fn lookup(version: &str, file: &str, line: u32) -> Option<AssertionPoint> {
    POINTS
        .iter()
        .find(|p| p.file == file && p.line == line && same_release(p.binutils, version))
        .copied()
}

fn same_release(row: &str, printed: &str) -> bool {
    let parts = |v: &str| -> Vec<u32> {
        let mut p: Vec<u32> = v.split('.').map_while(|x| x.parse().ok()).collect();
        // "2.42" and "2.42.0" are the same release.
        while p.len() > 2 && p.last() == Some(&0) {
            p.pop();
        }
        p
    };
    parts(row) == parts(printed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_arch_line_is_set_group_contents() {
        let a = parse_assertion(
            "strip: BFD (GNU Binutils) 2.42.0 assertion fail /usr/src/debug/binutils/binutils-gdb/bfd/elf.c:4131",
        )
        .expect("parsed");
        assert_eq!(a.version, "2.42.0");
        assert_eq!(a.file, "bfd/elf.c");
        assert_eq!(a.line, 4131);
        let p = a.point.expect("known point");
        assert_eq!(p.function, "bfd_elf_set_group_contents");
    }

    #[test]
    fn measured_points_of_debian_2_40_and_2_43_1() {
        let a = parse_assertion(
            "strip: BFD (GNU Binutils for Debian) 2.40 assertion fail ../../bfd/elf.c:3574",
        )
        .expect("parsed");
        assert_eq!(a.package, "GNU Binutils for Debian");
        assert_eq!(a.point.map(|p| p.meaning), Some(TOO_MANY_MEMBERS));
        let b = parse_assertion(
            "strip: BFD (GNU Binutils) 2.43.1 assertion fail ../../binutils-2.43.1/bfd/elf.c:3944",
        )
        .expect("parsed");
        assert_eq!(b.file, "bfd/elf.c");
        assert_eq!(b.point.map(|p| p.meaning), Some(TOO_FEW_MEMBERS));
    }

    #[test]
    fn unknown_lines_and_releases_are_not_guessed() {
        let a = parse_assertion("ld: BFD (GNU Binutils) 2.30 assertion fail elf.c:3564")
            .expect("parsed");
        assert_eq!(a.file, "elf.c");
        assert!(a.point.is_none());
        // The 2.43.1 line under another 2.43 release is not claimed.
        assert!(lookup("2.43", "bfd/elf.c", 3944).is_none());
        assert!(lookup("2.40", "bfd/elf.c", 3575).is_none());
        assert!(parse_assertion("strip: warning: something").is_none());
    }
}
