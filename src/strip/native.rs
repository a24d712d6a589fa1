//! The native strategy: dkwrap's own `strip -g` for relocatable ELF, written for the layouts
//! binutils gets wrong (several relocation sections for one target, a section in several
//! COMDAT groups, `SHT_LLVM_ADDRSIG`, extended section numbering).
//!
//! It removes debug sections and the relocation sections that apply to them, the symbols
//! that lived in them and `STT_FILE` symbols (as `strip -g` and `llvm-strip -g` do), and
//! copies every other section byte for byte. Sections are renumbered and symbols too; every
//! reference follows: `sh_link`/`sh_info`, relocation symbol indices, group members and
//! signatures, `.llvm_addrsig` entries, `SHT_SYMTAB_SHNDX`. The layout is computed once
//! (offsets reserved in file order), then written in that same order.

use std::io::{self, Write};

use crate::elf::{self, Elf, Section};
use crate::fasthash::FastMap;

/// Why the native rewriter refused a file; the caller falls back to another strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedError {
    pub section: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for RefusedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.section {
            Some(s) => write!(f, "section {s}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

fn refuse(section: Option<&Section>, reason: impl Into<String>) -> RefusedError {
    RefusedError {
        section: section.map(|s| format!("[{}] {}", s.index, s.name())),
        reason: reason.into(),
    }
}

/// The largest section alignment accepted (a page on every architecture dkwrap knows is 64 KiB at most).
const MAX_ALIGN: u64 = 1 << 16;

/// Relocation entries rewritten per write.
const RELOC_CHUNK: usize = 4096;

/// What the rewrite did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub sections_removed: usize,
    pub symbols_removed: usize,
    pub bytes_written: u64,
}

/// Section types whose `sh_link` names another section.
fn link_is_section(s: &Section) -> bool {
    matches!(
        s.sh_type,
        elf::SHT_SYMTAB
            | elf::SHT_DYNSYM
            | elf::SHT_REL
            | elf::SHT_RELA
            | elf::SHT_GROUP
            | elf::SHT_SYMTAB_SHNDX
            | elf::SHT_LLVM_ADDRSIG
            | 5 /* SHT_HASH */
            | 6 /* SHT_DYNAMIC */
    ) || s.flags & elf::SHF_LINK_ORDER != 0
}

fn info_is_section(s: &Section) -> bool {
    s.is_reloc() || s.flags & elf::SHF_INFO_LINK != 0
}

/// Which sections go: debug sections, relocations applying to them, groups left empty.
fn removed_sections(elf: &Elf) -> Result<Vec<bool>, RefusedError> {
    let n = elf.sections.len();
    let mut removed: Vec<bool> = elf
        .sections
        .iter()
        .map(|s| elf.is_debug_or_debug_relocs(s))
        .collect();
    for s in elf.sections.iter().filter(|s| s.sh_type == elf::SHT_GROUP) {
        let (_, members) = elf.group(s).map_err(|e| refuse(Some(s), e.reason))?;
        if !members.is_empty()
            && members
                .iter()
                .all(|&m| (m as usize) < n && removed[m as usize])
        {
            removed[s.index] = true;
        }
    }
    // A kept section ordered after a removed one (SHF_LINK_ORDER) would lose its anchor.
    for s in elf.sections.iter().filter(|s| !removed[s.index]) {
        if s.flags & elf::SHF_LINK_ORDER != 0
            && removed.get(s.link as usize).copied().unwrap_or(false)
        {
            return Err(refuse(
                Some(s),
                "SHF_LINK_ORDER section linked to a debug section",
            ));
        }
    }
    Ok(removed)
}

/// A string table with tail merging ("_foo" is stored once for "bar_foo" and "_foo").
struct StringTable<'a> {
    bytes: Vec<u8>,
    offsets: FastMap<&'a [u8], u32>,
}

impl<'a> StringTable<'a> {
    fn build(names: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut unique: Vec<&[u8]> = names.into_iter().filter(|n| !n.is_empty()).collect();
        // Sort by reversed bytes, longest first among equal suffixes, so a string that is a
        // suffix of the previous one can point into it.
        unique.sort_unstable_by(|a, b| b.iter().rev().cmp(a.iter().rev()));
        unique.dedup();
        let mut bytes = vec![0u8];
        let mut offsets = FastMap::with_capacity_and_hasher(unique.len(), Default::default());
        let mut prev: Option<(&[u8], u32)> = None;
        for name in unique {
            if let Some((p, off)) = prev {
                if p.ends_with(name) {
                    offsets.insert(name, off + (p.len() - name.len()) as u32);
                    continue;
                }
            }
            let off = bytes.len() as u32;
            bytes.extend_from_slice(name);
            bytes.push(0);
            offsets.insert(name, off);
            prev = Some((name, off));
        }
        StringTable { bytes, offsets }
    }
    fn offset(&self, name: &[u8]) -> u32 {
        if name.is_empty() {
            0
        } else {
            self.offsets.get(name).copied().unwrap_or(0)
        }
    }
}

fn uleb128(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let byte = *data.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(value);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

fn put_uleb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// New contents of a section, when it is not copied from the input.
enum Contents {
    Copy,
    New(Vec<u8>),
    /// A relocation section: the input's entries with symbol indices renumbered while they
    /// are written (the largest kept sections; never held in memory whole).
    Relocs {
        entsize: usize,
    },
}

/// Strips debug information from `elf`, writing the new file to `out`.
pub fn strip_debug(elf: &Elf, out: &mut impl Write) -> Result<Summary, RefusedError> {
    let en = elf.endian;
    if elf.header.e_type != elf::ET_REL {
        return Err(refuse(None, "not a relocatable object (ET_REL)"));
    }
    if elf.header.phnum != 0 {
        return Err(refuse(None, "has program headers; modules have none"));
    }
    let n = elf.sections.len();
    let removed = removed_sections(elf)?;
    let mut new_index = vec![0u32; n];
    let mut kept = Vec::with_capacity(n);
    for s in &elf.sections {
        if !removed[s.index] {
            new_index[s.index] = kept.len() as u32;
            kept.push(s.index);
        }
    }
    let map_section = |old: u32| -> Option<u32> {
        let i = old as usize;
        (i < n && !removed[i]).then(|| new_index[i])
    };

    // Symbols: drop STT_FILE and those defined in removed sections, keep order (locals first).
    let symtab = elf.symbols().map_err(|e| refuse(None, e.reason))?;
    let Some(symtab) = symtab else {
        return Err(refuse(None, "no symbol table"));
    };
    let nsyms = symtab.len();
    let mut sym_map: Vec<Option<u32>> = vec![None; nsyms];
    let mut kept_syms = Vec::with_capacity(nsyms);
    let mut first_global = 0u32;
    for i in 0..nsyms as u32 {
        let sym = symtab.get(i).ok_or_else(|| {
            refuse(
                elf.sections.get(symtab.section_index),
                format!("symbol {i} is unreadable"),
            )
        })?;
        let in_removed = sym.section().is_some_and(|s| s >= n || removed[s]);
        let drop = i != 0 && (sym.kind() == elf::STT_FILE || in_removed);
        if !drop {
            sym_map[i as usize] = Some(kept_syms.len() as u32);
            if i < symtab.first_global {
                first_global += 1;
            }
            kept_syms.push(sym);
        }
    }
    let symbols_removed = nsyms - kept_syms.len();

    let strtab_index = elf.sections[symtab.section_index].link as usize;
    let shared_strtab = strtab_index == elf.shstrndx;
    // Names for the rebuilt string tables.
    let section_names = kept.iter().map(|&i| elf.sections[i].name);
    let symbol_names = kept_syms.iter().map(|s| s.name);
    let (strtab, shstrtab) = if shared_strtab {
        (StringTable::build(section_names.chain(symbol_names)), None)
    } else {
        (
            StringTable::build(symbol_names),
            Some(StringTable::build(section_names)),
        )
    };
    // Section names live in their own table, or share the symbol string table.
    let section_name_table: &StringTable = shstrtab.as_ref().unwrap_or(&strtab);

    let needs_xindex = kept.len() >= elf::SHN_LORESERVE as usize;
    let map_sym = |s: &Section, old: u32| -> Result<u32, RefusedError> {
        sym_map.get(old as usize).copied().flatten().ok_or_else(|| {
            refuse(
                Some(s),
                format!("refers to symbol {old}, which lives in a removed section"),
            )
        })
    };

    // Contents of the sections that change.
    let mut contents: Vec<Contents> = Vec::with_capacity(kept.len());
    let mut shndx_out: Option<Vec<u8>> = None;
    for &i in &kept {
        let s = &elf.sections[i];
        let data = || elf.section_data(s).map_err(|e| refuse(Some(s), e.reason));
        let c = if i == symtab.section_index {
            let mut buf = Vec::with_capacity(kept_syms.len() * elf::SYM64_SIZE);
            let mut xtab = Vec::new();
            for sym in &kept_syms {
                let (raw, ext) = match sym.section() {
                    Some(old) => {
                        let new = map_section(old as u32)
                            .ok_or_else(|| refuse(Some(s), "symbol in removed section survived"))?;
                        if new >= elf::SHN_LORESERVE {
                            (elf::SHN_XINDEX as u16, new)
                        } else {
                            (new as u16, 0)
                        }
                    }
                    None => (sym.raw_shndx, 0),
                };
                buf.extend_from_slice(&en.put_u32(strtab.offset(sym.name)));
                buf.push(sym.info);
                buf.push(sym.other);
                buf.extend_from_slice(&en.put_u16(raw));
                buf.extend_from_slice(&en.put_u64(sym.value));
                buf.extend_from_slice(&en.put_u64(sym.size));
                xtab.extend_from_slice(&en.put_u32(ext));
            }
            shndx_out = Some(xtab);
            Contents::New(buf)
        } else if i == strtab_index {
            Contents::New(strtab.bytes.clone())
        } else if i == elf.shstrndx {
            Contents::New(section_name_table.bytes.clone())
        } else if s.sh_type == elf::SHT_SYMTAB_SHNDX {
            Contents::Copy // filled from shndx_out below
        } else if s.is_reloc() {
            let d = data()?;
            let entsize = if s.sh_type == elf::SHT_RELA {
                elf::RELA64_SIZE
            } else {
                elf::REL64_SIZE
            };
            if d.len() % entsize != 0 {
                return Err(refuse(Some(s), "size is not a multiple of the entry size"));
            }
            Contents::Relocs { entsize }
        } else if s.sh_type == elf::SHT_GROUP {
            let (flags, members) = elf.group(s).map_err(|e| refuse(Some(s), e.reason))?;
            let mut buf = en.put_u32(flags).to_vec();
            for m in members {
                if let Some(new) = map_section(m) {
                    buf.extend_from_slice(&en.put_u32(new));
                }
            }
            Contents::New(buf)
        } else if s.sh_type == elf::SHT_LLVM_ADDRSIG {
            let d = data()?;
            let mut buf = Vec::with_capacity(d.len());
            let mut pos = 0;
            while pos < d.len() {
                let old =
                    uleb128(d, &mut pos).ok_or_else(|| refuse(Some(s), "bad ULEB128 entry"))?;
                // Entries for removed symbols simply go, as llvm-objcopy does.
                if let Some(new) = sym_map.get(old as usize).copied().flatten() {
                    put_uleb128(&mut buf, u64::from(new));
                }
            }
            Contents::New(buf)
        } else {
            Contents::Copy
        };
        contents.push(c);
    }
    if let Some(pos) = kept
        .iter()
        .position(|&i| elf.sections[i].sh_type == elf::SHT_SYMTAB_SHNDX)
    {
        contents[pos] = Contents::New(shndx_out.unwrap_or_default());
    } else if shndx_out
        .as_ref()
        .is_some_and(|x| x.chunks_exact(4).any(|c| c != [0; 4]))
    {
        return Err(refuse(
            None,
            "symbols need extended section indices but there is no SHT_SYMTAB_SHNDX section",
        ));
    }

    // Layout: sections in input order after the ELF header, each at its alignment; then the
    // section header table.
    let mut headers = Vec::with_capacity(kept.len());
    let mut pos = elf::EHDR64_SIZE as u64;
    for (k, &i) in kept.iter().enumerate() {
        let s = &elf.sections[i];
        let size = match &contents[k] {
            Contents::New(v) => v.len() as u64,
            Contents::Copy | Contents::Relocs { .. } => {
                if s.is_nobits() || i == 0 {
                    0
                } else {
                    s.size
                }
            }
        };
        let align = s.addralign.max(1);
        // A corrupt alignment would make the output arbitrarily large.
        if !align.is_power_of_two() || align > MAX_ALIGN {
            return Err(refuse(
                Some(s),
                format!("implausible alignment {}", s.addralign),
            ));
        }
        if i != 0 {
            pos = pos.div_ceil(align) * align;
        }
        let link = if i == 0 {
            0
        } else if link_is_section(s) && s.link != 0 {
            map_section(s.link).ok_or_else(|| {
                refuse(
                    Some(s),
                    format!("sh_link {} names a removed section", s.link),
                )
            })?
        } else {
            s.link
        };
        let info = if i == symtab.section_index {
            first_global
        } else if s.sh_type == elf::SHT_GROUP {
            map_sym(s, s.info)?
        } else if info_is_section(s) && s.info != 0 {
            map_section(s.info).ok_or_else(|| {
                refuse(
                    Some(s),
                    format!("sh_info {} names a removed section", s.info),
                )
            })?
        } else {
            s.info
        };
        headers.push((if i == 0 { 0 } else { pos }, link, info, size));
        if i != 0 && !s.is_nobits() {
            pos += size;
        }
    }
    let shoff = pos.div_ceil(8) * 8;
    // Stripping only removes bytes; anything else means the input lied about its layout.
    if shoff > elf.data.len() as u64 + kept.len() as u64 * MAX_ALIGN.min(4096) {
        return Err(refuse(
            None,
            format!("output layout ({shoff} bytes) larger than the input"),
        ));
    }
    let shnum = kept.len();
    let shstrndx = new_index[elf.shstrndx];

    // Write, in layout order.
    let mut w = CountingWriter {
        inner: out,
        written: 0,
    };
    let io = |e: io::Error| refuse(None, format!("write failed: {e}"));
    let mut ehdr = elf.data[..elf::EHDR64_SIZE].to_vec();
    ehdr[40..48].copy_from_slice(&en.put_u64(shoff));
    ehdr[60..62].copy_from_slice(&en.put_u16(if needs_xindex { 0 } else { shnum as u16 }));
    ehdr[62..64].copy_from_slice(&en.put_u16(if shstrndx >= elf::SHN_LORESERVE {
        elf::SHN_XINDEX as u16
    } else {
        shstrndx as u16
    }));
    w.write_all(&ehdr).map_err(io)?;
    for (k, &i) in kept.iter().enumerate() {
        let s = &elf.sections[i];
        if i == 0 || s.is_nobits() {
            continue;
        }
        let (offset, ..) = headers[k];
        pad_to(&mut w, offset).map_err(io)?;
        let input = || elf.section_data(s).map_err(|e| refuse(Some(s), e.reason));
        match &contents[k] {
            Contents::New(v) => w.write_all(v).map_err(io)?,
            Contents::Copy => w.write_all(input()?).map_err(io)?,
            Contents::Relocs { entsize } => {
                let mut buf = Vec::with_capacity(RELOC_CHUNK * entsize);
                for chunk in input()?.chunks(RELOC_CHUNK * entsize) {
                    buf.clear();
                    buf.extend_from_slice(chunk);
                    for e in buf.chunks_exact_mut(*entsize) {
                        let info = en.u64(elf::array(e, 8).unwrap_or_default());
                        let sym = map_sym(s, (info >> 32) as u32)?;
                        let new_info = (u64::from(sym) << 32) | (info & 0xffff_ffff);
                        e[8..16].copy_from_slice(&en.put_u64(new_info));
                    }
                    w.write_all(&buf).map_err(io)?;
                }
            }
        }
    }
    pad_to(&mut w, shoff).map_err(io)?;
    for (k, &i) in kept.iter().enumerate() {
        let s = &elf.sections[i];
        let (offset, link, info, size) = headers[k];
        let (name, size, link) = if i == 0 {
            // Section 0 carries the real counts under extended numbering.
            (
                0,
                if needs_xindex { shnum as u64 } else { 0 },
                if shstrndx >= elf::SHN_LORESERVE {
                    shstrndx
                } else {
                    0
                },
            )
        } else {
            let size = if s.is_nobits() { s.size } else { size };
            (section_name_table.offset(s.name), size, link)
        };
        let mut h = [0u8; elf::SHDR64_SIZE];
        put(&mut h, 0, &en.put_u32(name));
        put(&mut h, 4, &en.put_u32(s.sh_type));
        put(&mut h, 8, &en.put_u64(s.flags));
        put(&mut h, 16, &en.put_u64(s.addr));
        put(&mut h, 24, &en.put_u64(offset));
        put(&mut h, 32, &en.put_u64(size));
        put(&mut h, 40, &en.put_u32(link));
        put(&mut h, 44, &en.put_u32(info));
        put(&mut h, 48, &en.put_u64(s.addralign));
        put(&mut h, 56, &en.put_u64(s.entsize));
        w.write_all(&h).map_err(io)?;
    }
    w.flush().map_err(io)?;
    Ok(Summary {
        sections_removed: n - kept.len(),
        symbols_removed,
        bytes_written: w.written,
    })
}

fn put(h: &mut [u8], at: usize, bytes: &[u8]) {
    h[at..at + bytes.len()].copy_from_slice(bytes);
}

struct CountingWriter<'w, W: Write> {
    inner: &'w mut W,
    written: u64,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn pad_to<W: Write>(w: &mut CountingWriter<'_, W>, offset: u64) -> io::Result<()> {
    const ZEROS: [u8; 64] = [0; 64];
    while w.written < offset {
        let n = (offset - w.written).min(ZEROS.len() as u64) as usize;
        w.write_all(&ZEROS[..n])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_table_merges_tails() {
        let t = StringTable::build([&b"bar_foo"[..], b"_foo", b"foo", b"bar_foo", b"x"]);
        let at = |n: &[u8]| &t.bytes[t.offset(n) as usize..][..n.len()];
        for n in [&b"bar_foo"[..], b"_foo", b"foo", b"x"] {
            assert_eq!(at(n), n);
        }
        assert_eq!(t.bytes.len(), 1 + 8 + 2);
        assert_eq!(t.offset(b""), 0);
    }

    #[test]
    fn uleb128_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 65_536, u32::MAX as u64] {
            let mut buf = Vec::new();
            put_uleb128(&mut buf, v);
            let mut pos = 0;
            assert_eq!(uleb128(&buf, &mut pos), Some(v));
            assert_eq!(pos, buf.len());
        }
        assert_eq!(uleb128(&[0x80], &mut 0), None);
    }
}
