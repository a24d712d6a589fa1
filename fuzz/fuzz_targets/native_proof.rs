//! dkwrap's rewriter and the proof on mutated real modules (seeded with the fixtures).
//!
//! Whenever the proof calls the rewriter's output equivalent, an independent comparison
//! written here (its own reading of the raw section headers, symbols and relocations, none
//! of dkwrap's ELF code) must agree: every allocated section that is not NOBITS, whatever
//! its type, has the same bytes, and every relocation of one means the same thing. A
//! disagreement is a crash: the proof accepted something it should not have (issue 20's
//! zeroed SHT_NULL code was one).
#![no_main]

use dkwrap::elf::Elf;
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let Ok(original) = Elf::parse(data) else {
        return;
    };
    let mut out = Vec::new();
    if dkwrap::strip::native::strip_debug(&original, &mut out).is_err() {
        return;
    }
    let stripped = Elf::parse(&out).expect("the rewriter wrote a file its own parser reads");
    let mut differences = Vec::new();
    dkwrap::proof::check_equivalence(&stripped, &original, false, &mut differences);
    if differences.iter().any(|f| f.is_error()) {
        return;
    }
    if let Some(why) = independent_difference(data, &out) {
        panic!("the proof accepted an output that differs: {why}");
    }
});

const SHF_ALLOC: u64 = 2;
const SHT_RELA: u32 = 4;
const SHT_NOBITS: u32 = 8;
const SHT_REL: u32 = 9;

struct Raw {
    name: Vec<u8>,
    sh_type: u32,
    flags: u64,
    offset: u64,
    size: u64,
    link: u32,
    info: u32,
}

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

/// The section headers of a little-endian ELF64 file, names resolved; `None` for anything
/// this reader does not handle (extended numbering, big-endian), which is then not judged.
fn raw_sections(d: &[u8]) -> Option<Vec<Raw>> {
    if d.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let shoff = usize::try_from(u64_at(d, 40)?).ok()?;
    let shnum = u16_at(d, 60)? as usize;
    let shstrndx = u16_at(d, 62)? as usize;
    if shnum == 0 || shstrndx >= shnum {
        return None;
    }
    let mut out = Vec::with_capacity(shnum);
    for i in 0..shnum {
        let h = shoff.checked_add(i.checked_mul(64)?)?;
        out.push(Raw {
            name: Vec::new(),
            sh_type: u32_at(d, h + 4)?,
            flags: u64_at(d, h + 8)?,
            offset: u64_at(d, h + 24)?,
            size: u64_at(d, h + 32)?,
            link: u32_at(d, h + 40)?,
            info: u32_at(d, h + 44)?,
        });
    }
    let strtab = bytes(d, &out[shstrndx])?;
    for i in 0..shnum {
        let h = shoff + i * 64;
        let name_off = u32_at(d, h)? as usize;
        out[i].name = c_string(strtab, name_off)?.to_vec();
    }
    Some(out)
}

fn bytes<'d>(d: &'d [u8], s: &Raw) -> Option<&'d [u8]> {
    let start = usize::try_from(s.offset).ok()?;
    d.get(start..start.checked_add(usize::try_from(s.size).ok()?)?)
}

fn c_string(table: &[u8], at: usize) -> Option<&[u8]> {
    let rest = table.get(at..)?;
    Some(&rest[..rest.iter().position(|&b| b == 0)?])
}

/// How the two files are matched: `strip -g` keeps every allocated section, in order, so the
/// k-th allocated section of the original is the k-th allocated section of the output (and
/// must carry the same name). Matching by (name, occurrence) instead was wrong where debug
/// sections and allocated ones share a name (a mangled string table makes many sections
/// unnamed): the removed debug sections shifted the occurrences (the first finding of this
/// target, kept as a regression input in fuzz/regressions/).
fn allocated_in_order(secs: &[Raw]) -> HashMap<usize, usize> {
    let ordinal = |(i, s): (usize, &Raw)| (s.flags & SHF_ALLOC != 0).then_some(i);
    secs.iter().enumerate().skip(1).filter_map(ordinal).enumerate().map(|(k, i)| (i, k)).collect()
}

/// What a relocation means: (offset, type, addend, symbol as a name or section+value).
type Meaning = (u64, u32, i64, Vec<u8>);

fn relocations(d: &[u8], secs: &[Raw], r: &Raw) -> Option<Vec<Meaning>> {
    let symtab = secs.get(r.link as usize)?;
    let syms = bytes(d, symtab)?;
    let strings = bytes(d, secs.get(symtab.link as usize)?)?;
    let entsize = if r.sh_type == SHT_RELA { 24 } else { 16 };
    let data = bytes(d, r)?;
    let mut out = Vec::new();
    for e in data.chunks_exact(entsize) {
        let offset = u64_at(e, 0)?;
        let info = u64_at(e, 8)?;
        let addend = if entsize == 24 { u64_at(e, 16)? as i64 } else { 0 };
        let sym = (info >> 32) as usize;
        let s = syms.get(sym * 24..sym * 24 + 24)?;
        let name = c_string(strings, u32_at(s, 0)? as usize)?;
        let shndx = u16_at(s, 6)?;
        let meaning = if sym == 0 {
            b"(none)".to_vec()
        } else if !name.is_empty() {
            name.to_vec()
        } else if shndx == 0xffff {
            return None;
        } else {
            let section = secs.get(shndx as usize).map_or(format!("#{shndx}").into_bytes(), |s| {
                s.name.clone()
            });
            let mut m = section;
            m.extend_from_slice(format!("+{:#x}", u64_at(s, 8)?).as_bytes());
            m
        };
        out.push((offset, info as u32, addend, meaning));
    }
    out.sort();
    Some(out)
}

/// The first difference between the original and the stripped file in what the loader
/// copies, or `None` when they agree (or the raw reader cannot judge the original).
fn independent_difference(original: &[u8], stripped: &[u8]) -> Option<String> {
    let old = raw_sections(original)?;
    let Some(new) = raw_sections(stripped) else {
        return Some("the output's section headers are unreadable".into());
    };
    let (old_alloc, new_alloc) = (allocated_in_order(&old), allocated_in_order(&new));
    if old_alloc.len() != new_alloc.len() {
        return Some(format!("{} allocated sections, now {}", old_alloc.len(), new_alloc.len()));
    }
    let by_ordinal: HashMap<usize, usize> = new_alloc.iter().map(|(&i, &k)| (k, i)).collect();
    let counterpart = |i: usize| old_alloc.get(&i).and_then(|k| by_ordinal.get(k)).copied();
    for i in 1..old.len() {
        let s = &old[i];
        if s.flags & SHF_ALLOC == 0 || s.sh_type == SHT_NOBITS {
            continue;
        }
        let name = String::from_utf8_lossy(&s.name).into_owned();
        let bytes_old = bytes(original, s)?;
        let Some(j) = counterpart(i) else {
            return Some(format!("allocated section {name} is missing"));
        };
        if new[j].name != s.name {
            return Some(format!("allocated section {name} is now called {:?}", new[j].name));
        }
        if bytes(stripped, &new[j]) != Some(bytes_old) {
            return Some(format!("allocated section {name} (type {}) has other bytes", s.sh_type));
        }
    }
    let is_reloc = |s: &Raw| (s.sh_type == SHT_RELA || s.sh_type == SHT_REL) && s.info != 0;
    let mut targets: Vec<usize> = old
        .iter()
        .filter(|r| is_reloc(r))
        .map(|r| r.info as usize)
        .filter(|&t| old.get(t).is_some_and(|t| t.flags & SHF_ALLOC != 0))
        .collect();
    targets.sort_unstable();
    targets.dedup();
    for t in targets {
        let all = |d: &[u8], secs: &[Raw], target: Option<usize>| -> Option<Vec<Meaning>> {
            let mut v = Vec::new();
            for r in secs.iter().filter(|r| is_reloc(r) && Some(r.info as usize) == target) {
                v.extend(relocations(d, secs, r)?);
            }
            v.sort();
            Some(v)
        };
        let want = all(original, &old, Some(t))?;
        let got = all(stripped, &new, counterpart(t));
        if got.as_ref() != Some(&want) {
            let name = String::from_utf8_lossy(&old[t].name).into_owned();
            return Some(format!("relocations of {name} differ"));
        }
    }
    None
}
