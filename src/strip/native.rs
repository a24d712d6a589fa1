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

use crate::elf::{self, Elf, Section, SymbolTable};
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
        section: section.map(|s| format!("[{}] {}", s.index(), s.display_name())),
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
            removed[s.index()] = true;
        }
    }
    // A debug name on a table the file cannot do without (found by fuzzing: the output's
    // e_shstrndx pointed at nothing) is a damaged file, not debug information.
    let needed = std::iter::once(elf.shstrndx).chain(
        elf.symtab_sections()
            .flat_map(|t| [t.index(), t.link as usize]),
    );
    for i in needed {
        if removed.get(i).copied().unwrap_or(false) {
            let s = &elf.sections[i];
            return Err(refuse(
                Some(s),
                "a section or symbol name table has a debug name",
            ));
        }
    }
    // A kept section ordered after a removed one (SHF_LINK_ORDER) would lose its anchor.
    for s in elf.sections.iter().filter(|s| !removed[s.index()]) {
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

/// Orders byte strings by their bytes read backwards, eight at a time, so that a string
/// sorts next to the longer strings that end with it.
fn cmp_reversed(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let (mut i, mut j) = (a.len(), b.len());
    while i >= 8 && j >= 8 {
        // Little-endian: the last byte is the most significant, so it decides first.
        let x = elf::array::<8>(a, i - 8).map_or(0, u64::from_le_bytes);
        let y = elf::array::<8>(b, j - 8).map_or(0, u64::from_le_bytes);
        if x != y {
            return x.cmp(&y);
        }
        i -= 8;
        j -= 8;
    }
    a[..i].iter().rev().cmp(b[..j].iter().rev())
}

/// A string table with tail merging ("_foo" is stored once for "bar_foo" and "_foo").
/// `offsets[i]` is where the `i`-th name given to [`StringTable::build`] landed.
#[derive(Default)]
struct StringTable {
    bytes: Vec<u8>,
    offsets: Vec<u32>,
}

impl StringTable {
    fn build(names: &[&[u8]]) -> Self {
        let mut order: Vec<u32> = (0..names.len() as u32)
            .filter(|&i| !names[i as usize].is_empty())
            .collect();
        // Longest first among equal suffixes, so a string that is a suffix of the previous
        // one can point into it.
        order.sort_unstable_by(|&a, &b| cmp_reversed(names[b as usize], names[a as usize]));
        let mut bytes = vec![0u8];
        let mut offsets = vec![0u32; names.len()];
        let mut prev: Option<(&[u8], u32)> = None;
        for i in order {
            let name = names[i as usize];
            if let Some((p, off)) = prev {
                if p.ends_with(name) {
                    offsets[i as usize] = off + (p.len() - name.len()) as u32;
                    continue;
                }
            }
            let off = bytes.len() as u32;
            bytes.extend_from_slice(name);
            bytes.push(0);
            offsets[i as usize] = off;
            prev = Some((name, off));
        }
        StringTable { bytes, offsets }
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

/// What a kept section's contents are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contents {
    /// The input's bytes, unchanged.
    Copy,
    /// The input's relocations with symbol indices renumbered as they are written.
    Relocs,
    /// The kept symbols, written from the input's entries.
    Symtab,
    /// Their extended section indices.
    SymtabShndx,
    /// The rebuilt symbol string table.
    Strtab,
    /// The rebuilt section name table (when it is not the symbol string table).
    Shstrtab,
    /// Rebuilt in memory: a group or `.llvm_addrsig` (small, and few).
    Built,
}

/// Entries of the symbol table (and its index table) written per write.
const SYM_CHUNK: usize = 4096;

/// Marks a removed section or symbol in the renumbering tables.
const GONE: u32 = u32::MAX;

/// Everything decided before the first byte is written: which sections and symbols stay,
/// their new numbers, the rebuilt tables and every section's offset (object's
/// reserve-then-write).
struct Layout<'e, 'a> {
    elf: &'e Elf<'a>,
    symtab: SymbolTable<'a>,
    /// New index of each input section ([`GONE`] when removed).
    new_index: Vec<u32>,
    /// Input indices of the kept sections, in order.
    kept: Vec<u32>,
    /// New index of each input symbol ([`GONE`] when removed).
    sym_map: Vec<u32>,
    /// Input indices of the kept symbols, in order.
    kept_syms: Vec<u32>,
    /// The new symbol table's `sh_info`: one past its last local symbol.
    first_global: u32,
    shndx_index: Option<u32>,
    strtab_index: usize,
    strtab: StringTable,
    /// A separate section-name table, when the input does not share one with the symbols.
    shstrtab: Option<StringTable>,
    /// Rebuilt groups and `.llvm_addrsig`, by input index.
    built: FastMap<u32, Vec<u8>>,
    /// File offset of each kept section.
    offsets: Vec<u64>,
    shoff: u64,
}

/// Strips debug information from `elf`, writing the new file to `out`. Nothing is written
/// unless the whole layout could be decided.
///
/// Memory stays a small multiple of the section and symbol counts: contents are copied
/// from the input as they are written (and its pages given back), and only the string
/// tables, groups and `.llvm_addrsig` are rebuilt in memory.
pub fn strip_debug(elf: &Elf, out: &mut impl Write) -> Result<Summary, RefusedError> {
    if elf.header.e_type != elf::ET_REL {
        return Err(refuse(None, "not a relocatable object (ET_REL)"));
    }
    if elf.header.phnum != 0 {
        return Err(refuse(None, "has program headers; modules have none"));
    }
    let layout = Layout::reserve(elf)?;
    let bytes_written = layout.write(out)?;
    Ok(Summary {
        sections_removed: elf.sections.len() - layout.kept.len(),
        symbols_removed: layout.symtab.len() - layout.kept_syms.len(),
        bytes_written,
    })
}

impl<'e, 'a> Layout<'e, 'a> {
    /// Decides the output: numbering, tables, offsets.
    fn reserve(elf: &'e Elf<'a>) -> Result<Self, RefusedError> {
        let removed = removed_sections(elf)?;
        let n = elf.sections.len();
        let mut new_index = vec![GONE; n];
        let mut kept: Vec<u32> = Vec::with_capacity(n);
        for s in &elf.sections {
            if !removed[s.index()] {
                new_index[s.index()] = kept.len() as u32;
                kept.push(s.idx);
            }
        }
        drop(removed);
        let symtab = elf.symbols().map_err(|e| refuse(None, e.reason))?;
        let Some(symtab) = symtab else {
            return Err(refuse(None, "no symbol table"));
        };
        let strtab_index = elf.sections[symtab.section_index].link as usize;
        let mut layout = Layout {
            elf,
            symtab,
            new_index,
            kept,
            sym_map: Vec::new(),
            kept_syms: Vec::new(),
            first_global: 0,
            shndx_index: None,
            strtab_index,
            strtab: StringTable::default(),
            shstrtab: None,
            built: FastMap::default(),
            offsets: Vec::new(),
            shoff: 0,
        };
        let symbol_names = layout.number_symbols()?;
        layout.build_string_tables(symbol_names);
        elf.release_all();
        layout.rebuild_groups_and_addrsig()?;
        layout.place_sections()?;
        elf.release_all();
        Ok(layout)
    }

    fn map_section(&self, old: u32) -> Option<u32> {
        self.new_index
            .get(old as usize)
            .copied()
            .filter(|&i| i != GONE)
    }

    fn map_sym(&self, s: &Section, old: u32) -> Result<u32, RefusedError> {
        let found = self.sym_map.get(old as usize).copied();
        found.filter(|&i| i != GONE).ok_or_else(|| {
            let why = format!("refers to symbol {old}, which lives in a removed section");
            refuse(Some(s), why)
        })
    }

    /// Symbols: drop STT_FILE and those defined in removed sections, keep order (locals
    /// first). Returns the kept symbols' names, for the string table.
    fn number_symbols(&mut self) -> Result<Vec<&'a [u8]>, RefusedError> {
        let (elf, symtab) = (self.elf, &self.symtab);
        let nsyms = symtab.len();
        self.sym_map = vec![GONE; nsyms];
        self.kept_syms = Vec::with_capacity(nsyms);
        let mut symbol_names: Vec<&'a [u8]> = Vec::with_capacity(nsyms);
        let mut needs_shndx = false;
        for (i, sym) in elf.symbols_in_order(symtab, 0) {
            let sym = sym.ok_or_else(|| {
                let at = elf.sections.get(symtab.section_index);
                refuse(at, format!("symbol {i} is unreadable"))
            })?;
            let new_section = sym.section().map(|s| self.map_section(s as u32));
            let dropped = i != 0 && (sym.kind() == elf::STT_FILE || new_section == Some(None));
            if dropped {
                continue;
            }
            if new_section
                .flatten()
                .is_some_and(|s| s >= elf::SHN_LORESERVE)
            {
                needs_shndx = true;
            }
            if new_section == Some(None) {
                return Err(refuse(None, "symbol 0 is defined in a removed section"));
            }
            self.sym_map[i as usize] = self.kept_syms.len() as u32;
            if i < symtab.first_global {
                self.first_global += 1;
            }
            self.kept_syms.push(i);
            symbol_names.push(sym.name);
        }
        self.shndx_index = self.kept.iter().copied().find(|&i| {
            let s = &elf.sections[i as usize];
            s.sh_type == elf::SHT_SYMTAB_SHNDX && s.link as usize == symtab.section_index
        });
        if needs_shndx && self.shndx_index.is_none() {
            return Err(refuse(
                None,
                "symbols need extended section indices but there is no SHT_SYMTAB_SHNDX section",
            ));
        }
        Ok(symbol_names)
    }

    /// The rebuilt string tables: symbol names, and section names (in the same table when
    /// the input shares one).
    fn build_string_tables(&mut self, mut symbol_names: Vec<&'a [u8]>) {
        let elf = self.elf;
        let section_names = self.kept.iter().map(|&i| elf.sections[i as usize].name());
        if self.strtab_index == elf.shstrndx {
            symbol_names.extend(section_names);
            self.strtab = StringTable::build(&symbol_names);
        } else {
            let names: Vec<&[u8]> = section_names.collect();
            self.strtab = StringTable::build(&symbol_names);
            self.shstrtab = Some(StringTable::build(&names));
        }
    }

    fn symbol_name_offset(&self, j: usize) -> u32 {
        self.strtab.offsets[j]
    }

    fn section_name_offset(&self, k: usize) -> u32 {
        match &self.shstrtab {
            Some(t) => t.offsets[k],
            None => self.strtab.offsets[self.kept_syms.len() + k],
        }
    }

    fn section_name_bytes(&self) -> &[u8] {
        &self.shstrtab.as_ref().unwrap_or(&self.strtab).bytes
    }

    /// Groups and `.llvm_addrsig`, rebuilt with the new numbers.
    fn rebuild_groups_and_addrsig(&mut self) -> Result<(), RefusedError> {
        let (elf, en) = (self.elf, self.elf.endian);
        for &i in &self.kept {
            let s = &elf.sections[i as usize];
            if s.sh_type == elf::SHT_GROUP {
                let (flags, members) = elf.group(s).map_err(|e| refuse(Some(s), e.reason))?;
                let mut buf = en.put_u32(flags).to_vec();
                for new in members.into_iter().filter_map(|m| self.map_section(m)) {
                    buf.extend_from_slice(&en.put_u32(new));
                }
                self.built.insert(i, buf);
            } else if s.sh_type == elf::SHT_LLVM_ADDRSIG {
                let d = elf.section_data(s).map_err(|e| refuse(Some(s), e.reason))?;
                let mut buf = Vec::with_capacity(d.len());
                let mut pos = 0;
                while pos < d.len() {
                    let old =
                        uleb128(d, &mut pos).ok_or_else(|| refuse(Some(s), "bad ULEB128 entry"))?;
                    // Entries for removed symbols simply go, as llvm-objcopy does.
                    if let Some(&new) = self.sym_map.get(old as usize).filter(|&&x| x != GONE) {
                        put_uleb128(&mut buf, u64::from(new));
                    }
                }
                self.built.insert(i, buf);
            }
        }
        Ok(())
    }

    fn contents_of(&self, s: &Section) -> Contents {
        let i = s.index();
        if i == self.symtab.section_index {
            Contents::Symtab
        } else if i == self.strtab_index {
            Contents::Strtab
        } else if i == self.elf.shstrndx {
            Contents::Shstrtab
        } else if Some(s.idx) == self.shndx_index {
            Contents::SymtabShndx
        } else if s.is_reloc() {
            Contents::Relocs
        } else if self.built.contains_key(&s.idx) {
            Contents::Built
        } else {
            Contents::Copy
        }
    }

    fn size_of(&self, s: &Section) -> u64 {
        match self.contents_of(s) {
            Contents::Symtab => (self.kept_syms.len() * elf::SYM64_SIZE) as u64,
            Contents::SymtabShndx => (self.kept_syms.len() * 4) as u64,
            Contents::Strtab => self.strtab.bytes.len() as u64,
            Contents::Shstrtab => self.section_name_bytes().len() as u64,
            Contents::Built => self.built.get(&s.idx).map_or(0, |b| b.len() as u64),
            Contents::Copy | Contents::Relocs => s.size,
        }
    }

    /// sh_link and sh_info in the new numbering.
    fn link_and_info(&self, s: &Section) -> Result<(u32, u32), RefusedError> {
        let renumbered = |field: &str, old: u32| {
            self.map_section(old)
                .ok_or_else(|| refuse(Some(s), format!("{field} {old} names a removed section")))
        };
        let link = if link_is_section(s) && s.link != 0 {
            renumbered("sh_link", s.link)?
        } else {
            s.link
        };
        let info = if s.index() == self.symtab.section_index {
            self.first_global
        } else if s.sh_type == elf::SHT_GROUP {
            self.map_sym(s, s.info)?
        } else if info_is_section(s) && s.info != 0 {
            renumbered("sh_info", s.info)?
        } else {
            s.info
        };
        Ok((link, info))
    }

    /// Layout: sections in input order after the ELF header, each at its alignment; then
    /// the section header table.
    fn place_sections(&mut self) -> Result<(), RefusedError> {
        let elf = self.elf;
        let mut offsets: Vec<u64> = Vec::with_capacity(self.kept.len());
        let mut pos = elf::EHDR64_SIZE as u64;
        for &i in &self.kept {
            let s = &elf.sections[i as usize];
            if i == 0 {
                offsets.push(0);
                continue;
            }
            if s.is_reloc() && s.size % reloc_entsize(s) as u64 != 0 {
                return Err(refuse(Some(s), "size is not a multiple of the entry size"));
            }
            let addralign = elf.section_addralign(s);
            let align = addralign.max(1);
            // A corrupt alignment would make the output arbitrarily large.
            if !align.is_power_of_two() || align > MAX_ALIGN {
                let why = format!("implausible alignment {addralign}");
                return Err(refuse(Some(s), why));
            }
            self.link_and_info(s)?;
            // Checked: a corrupt size (found by fuzzing) must be refused, not wrap around.
            let size = if s.is_nobits() { 0 } else { self.size_of(s) };
            let placed = pos
                .checked_next_multiple_of(align)
                .and_then(|at| Some((at, at.checked_add(size)?)));
            let Some((at, end)) = placed else {
                return Err(refuse(
                    Some(s),
                    format!("size {size} does not fit in a file"),
                ));
            };
            offsets.push(at);
            pos = end;
        }
        self.offsets = offsets;
        self.shoff = pos
            .checked_next_multiple_of(8)
            .ok_or_else(|| refuse(None, "the sections do not fit in a file"))?;
        // Stripping only removes bytes; anything else means the input lied about its layout.
        let most = elf.data.len() as u64 + self.kept.len() as u64 * MAX_ALIGN.min(4096);
        if self.shoff > most {
            let why = format!("output layout ({} bytes) larger than the input", self.shoff);
            return Err(refuse(None, why));
        }
        Ok(())
    }

    /// Writes the file in layout order; returns the bytes written.
    fn write(&self, out: &mut impl Write) -> Result<u64, RefusedError> {
        let mut w = CountingWriter {
            inner: out,
            written: 0,
        };
        w.write_all(&self.elf_header()).map_err(write_failed)?;
        let mut buf: Vec<u8> = Vec::new();
        for (k, &i) in self.kept.iter().enumerate() {
            let s = &self.elf.sections[i as usize];
            if i == 0 || s.is_nobits() {
                continue;
            }
            pad_to(&mut w, self.offsets[k]).map_err(write_failed)?;
            self.write_contents(s, &mut w, &mut buf)?;
            // Written: the input's pages can go (see `Elf::release`).
            self.elf.release_section(s);
        }
        pad_to(&mut w, self.shoff).map_err(write_failed)?;
        for (k, &i) in self.kept.iter().enumerate() {
            w.write_all(&self.section_header(k, i)?)
                .map_err(write_failed)?;
        }
        self.elf.release_all();
        w.flush().map_err(write_failed)?;
        Ok(w.written)
    }

    fn shnum(&self) -> usize {
        self.kept.len()
    }

    fn needs_xindex(&self) -> bool {
        self.shnum() >= elf::SHN_LORESERVE as usize
    }

    fn shstrndx(&self) -> u32 {
        self.new_index[self.elf.shstrndx]
    }

    /// The input's ELF header with the new section header offset, count and name index.
    fn elf_header(&self) -> Vec<u8> {
        let en = self.elf.endian;
        let mut ehdr = self.elf.data[..elf::EHDR64_SIZE].to_vec();
        let shnum = if self.needs_xindex() {
            0
        } else {
            self.shnum() as u16
        };
        let shstrndx = match self.shstrndx() {
            x if x >= elf::SHN_LORESERVE => elf::SHN_XINDEX as u16,
            x => x as u16,
        };
        ehdr[40..48].copy_from_slice(&en.put_u64(self.shoff));
        ehdr[60..62].copy_from_slice(&en.put_u16(shnum));
        ehdr[62..64].copy_from_slice(&en.put_u16(shstrndx));
        ehdr
    }

    /// One section's bytes: copied, renumbered in chunks, or rebuilt.
    fn write_contents(
        &self,
        s: &Section,
        w: &mut impl Write,
        buf: &mut Vec<u8>,
    ) -> Result<(), RefusedError> {
        let input = || {
            self.elf
                .section_data(s)
                .map_err(|e| refuse(Some(s), e.reason))
        };
        match self.contents_of(s) {
            Contents::Copy => w.write_all(input()?).map_err(write_failed),
            Contents::Relocs => self.write_relocations(s, input()?, w, buf),
            Contents::Symtab => self.write_symbols(s, true, w, buf),
            Contents::SymtabShndx => self.write_symbols(s, false, w, buf),
            Contents::Strtab => w.write_all(&self.strtab.bytes).map_err(write_failed),
            Contents::Shstrtab => w.write_all(self.section_name_bytes()).map_err(write_failed),
            Contents::Built => {
                let bytes = self.built.get(&s.idx).map_or(&[][..], |b| b);
                w.write_all(bytes).map_err(write_failed)
            }
        }
    }

    /// A relocation section with its symbol indices renumbered, chunk by chunk.
    fn write_relocations(
        &self,
        s: &Section,
        input: &[u8],
        w: &mut impl Write,
        buf: &mut Vec<u8>,
    ) -> Result<(), RefusedError> {
        let en = self.elf.endian;
        let entsize = reloc_entsize(s);
        for chunk in input.chunks(RELOC_CHUNK * entsize) {
            buf.clear();
            buf.extend_from_slice(chunk);
            for e in buf.chunks_exact_mut(entsize) {
                let info = en.u64(elf::array(e, 8).unwrap_or_default());
                let sym = self.map_sym(s, (info >> 32) as u32)?;
                let new_info = (u64::from(sym) << 32) | (info & 0xffff_ffff);
                e[8..16].copy_from_slice(&en.put_u64(new_info));
            }
            w.write_all(buf).map_err(write_failed)?;
        }
        Ok(())
    }

    /// The kept symbols, chunk by chunk: the symbol table itself (`symtab_itself`), or its
    /// `SHT_SYMTAB_SHNDX` companion.
    fn write_symbols(
        &self,
        s: &Section,
        symtab_itself: bool,
        w: &mut impl Write,
        buf: &mut Vec<u8>,
    ) -> Result<(), RefusedError> {
        let en = self.elf.endian;
        for (c, chunk) in self.kept_syms.chunks(SYM_CHUNK).enumerate() {
            buf.clear();
            for (j, &old) in chunk.iter().enumerate() {
                let sym = self
                    .symtab
                    .get(old)
                    .ok_or_else(|| refuse(Some(s), format!("symbol {old} is unreadable")))?;
                let (raw, ext) = match sym.section() {
                    Some(old_section) => {
                        let new = self
                            .map_section(old_section as u32)
                            .ok_or_else(|| refuse(Some(s), "symbol in removed section survived"))?;
                        if new >= elf::SHN_LORESERVE {
                            (elf::SHN_XINDEX as u16, new)
                        } else {
                            (new as u16, 0)
                        }
                    }
                    None => (sym.raw_shndx, 0),
                };
                if !symtab_itself {
                    buf.extend_from_slice(&en.put_u32(ext));
                    continue;
                }
                let name = if sym.name.is_empty() {
                    0
                } else {
                    self.symbol_name_offset(c * SYM_CHUNK + j)
                };
                buf.extend_from_slice(&en.put_u32(name));
                buf.push(sym.info);
                buf.push(sym.other);
                buf.extend_from_slice(&en.put_u16(raw));
                buf.extend_from_slice(&en.put_u64(sym.value));
                buf.extend_from_slice(&en.put_u64(sym.size));
            }
            w.write_all(buf).map_err(write_failed)?;
            if let (Some(&lo), Some(&hi)) = (chunk.first(), chunk.last()) {
                self.elf.release_symbols(&self.symtab, lo..hi + 1);
            }
        }
        Ok(())
    }

    /// The header of kept section `k` (input index `i`).
    fn section_header(&self, k: usize, i: u32) -> Result<[u8; elf::SHDR64_SIZE], RefusedError> {
        let (elf, en) = (self.elf, self.elf.endian);
        let s = &elf.sections[i as usize];
        let mut h = [0u8; elf::SHDR64_SIZE];
        if i == 0 {
            // Section 0 carries the real counts under extended numbering.
            let shnum = if self.needs_xindex() {
                self.shnum() as u64
            } else {
                0
            };
            let shstrndx = match self.shstrndx() {
                x if x >= elf::SHN_LORESERVE => x,
                _ => 0,
            };
            put(&mut h, 32, &en.put_u64(shnum));
            put(&mut h, 40, &en.put_u32(shstrndx));
            return Ok(h);
        }
        let (link, info) = self.link_and_info(s)?;
        let size = if s.is_nobits() {
            s.size
        } else {
            self.size_of(s)
        };
        put(&mut h, 0, &en.put_u32(self.section_name_offset(k)));
        put(&mut h, 4, &en.put_u32(s.sh_type));
        put(&mut h, 8, &en.put_u64(s.flags));
        put(&mut h, 16, &en.put_u64(elf.section_addr(s)));
        put(&mut h, 24, &en.put_u64(self.offsets[k]));
        put(&mut h, 32, &en.put_u64(size));
        put(&mut h, 40, &en.put_u32(link));
        put(&mut h, 44, &en.put_u32(info));
        put(&mut h, 48, &en.put_u64(elf.section_addralign(s)));
        put(&mut h, 56, &en.put_u64(elf.section_entsize(s)));
        Ok(h)
    }
}

fn write_failed(e: io::Error) -> RefusedError {
    refuse(None, format!("write failed: {e}"))
}

fn reloc_entsize(s: &Section) -> usize {
    if s.sh_type == elf::SHT_RELA {
        elf::RELA64_SIZE
    } else {
        elf::REL64_SIZE
    }
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
        let names = [&b"bar_foo"[..], b"_foo", b"", b"foo", b"bar_foo", b"x"];
        let t = StringTable::build(&names);
        for (i, n) in names.iter().enumerate() {
            assert_eq!(&t.bytes[t.offsets[i] as usize..][..n.len()], *n);
            assert_eq!(t.bytes[t.offsets[i] as usize + n.len()], 0);
        }
        assert_eq!(t.bytes.len(), 1 + 8 + 2);
        assert_eq!(t.offsets[2], 0);
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
