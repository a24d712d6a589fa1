//! The one ELF reader every command shares: a zero-copy view of a 64-bit relocatable
//! object (a kernel module), little- or big-endian, any machine.
//!
//! Parsing is deliberately tolerant: [`Elf::parse`] fails only where no view can be built
//! (bad magic, header or section table outside the file, unreadable section names).
//! Everything else a loader would reject is left for `verify` to report as a finding,
//! with the section and offset, so that one broken relocation section does not hide the
//! other problems of a file.

/// Relocations of one large section compared (or checked) between two hand-backs of the
/// mapping's pages (192 KiB of RELA entries); shared by the loader checks and the proof.
pub const RELOCS_PER_RELEASE: usize = 8192;

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

// ELF constants used by dkwrap (from the System V ABI and elf.h).
pub const ELFMAG: &[u8; 4] = b"\x7fELF";
pub const ELFCLASS32: u8 = 1;
pub const ELFCLASS64: u8 = 2;
pub const ELFDATA2LSB: u8 = 1;
pub const ELFDATA2MSB: u8 = 2;
pub const ET_REL: u16 = 1;
pub const EM_386: u16 = 3;
pub const EM_ARM: u16 = 40;
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;
pub const EM_RISCV: u16 = 243;
pub const EM_PPC64: u16 = 21;
pub const EM_S390: u16 = 22;
pub const EM_LOONGARCH: u16 = 258;

pub const SHN_UNDEF: u32 = 0;
pub const SHN_LORESERVE: u32 = 0xff00;
pub const SHN_ABS: u32 = 0xfff1;
pub const SHN_COMMON: u32 = 0xfff2;
pub const SHN_XINDEX: u32 = 0xffff;

pub const SHT_NULL: u32 = 0;
pub const SHT_PROGBITS: u32 = 1;
pub const SHT_SYMTAB: u32 = 2;
pub const SHT_STRTAB: u32 = 3;
pub const SHT_RELA: u32 = 4;
pub const SHT_NOTE: u32 = 7;
pub const SHT_NOBITS: u32 = 8;
pub const SHT_REL: u32 = 9;
pub const SHT_DYNSYM: u32 = 11;
pub const SHT_GROUP: u32 = 17;
pub const SHT_SYMTAB_SHNDX: u32 = 18;
pub const SHT_LLVM_ADDRSIG: u32 = 0x6fff_4c03;

pub const SHF_WRITE: u64 = 0x1;
pub const SHF_ALLOC: u64 = 0x2;
pub const SHF_EXECINSTR: u64 = 0x4;
pub const SHF_INFO_LINK: u64 = 0x40;
pub const SHF_LINK_ORDER: u64 = 0x80;
pub const SHF_GROUP: u64 = 0x200;
pub const SHF_COMPRESSED: u64 = 0x800;

pub const GRP_COMDAT: u32 = 1;

pub const STB_LOCAL: u8 = 0;
pub const STB_GLOBAL: u8 = 1;
pub const STB_WEAK: u8 = 2;
pub const STT_NOTYPE: u8 = 0;
pub const STT_OBJECT: u8 = 1;
pub const STT_FUNC: u8 = 2;
pub const STT_SECTION: u8 = 3;
pub const STT_FILE: u8 = 4;

pub const EHDR64_SIZE: usize = 64;
pub const SHDR64_SIZE: usize = 64;
pub const SYM64_SIZE: usize = 24;
pub const RELA64_SIZE: usize = 24;
pub const REL64_SIZE: usize = 16;

/// The first bytes of LLVM bitcode, raw and in its wrapper: an unlinked LTO object.
pub const BITCODE_MAGIC: &[u8; 4] = b"BC\xC0\xDE";
pub const BITCODE_WRAPPER_MAGIC: &[u8; 4] = b"\xDE\xC0\x17\x0B";

/// Why a file could not be viewed as ELF at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub offset: u64,
    pub reason: String,
    /// True when the file is not ELF at all (as opposed to a damaged ELF file).
    pub not_elf: bool,
}

impl ParseError {
    fn at(offset: u64, reason: impl Into<String>) -> Self {
        ParseError {
            offset,
            reason: reason.into(),
            not_elf: false,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "offset {:#x}: {}", self.offset, self.reason)
    }
}

/// Byte order of the file, read from `e_ident[EI_DATA]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    Little,
    Big,
}

impl Endian {
    pub fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        }
    }
    pub fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }
    pub fn u64(self, b: [u8; 8]) -> u64 {
        match self {
            Endian::Little => u64::from_le_bytes(b),
            Endian::Big => u64::from_be_bytes(b),
        }
    }
    pub fn put_u16(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
    pub fn put_u32(self, v: u32) -> [u8; 4] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
    pub fn put_u64(self, v: u64) -> [u8; 8] {
        match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        }
    }
}

/// Bounds-checked fixed-size reads; `None` when the field runs past the end.
pub(crate) fn array<const N: usize>(data: &[u8], off: usize) -> Option<[u8; N]> {
    data.get(off..off.checked_add(N)?)?.try_into().ok()
}

/// The ELF file header fields dkwrap uses.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub class: u8,
    pub data_encoding: u8,
    pub osabi: u8,
    pub e_type: u16,
    pub machine: u16,
    pub version: u32,
    pub flags: u32,
    pub phoff: u64,
    pub shoff: u64,
    pub ehsize: u16,
    pub phentsize: u16,
    pub phnum: u16,
    pub shentsize: u16,
    /// `e_shnum` as stored: 0 under extended numbering.
    pub shnum_raw: u16,
    /// `e_shstrndx` as stored: `SHN_XINDEX` under extended numbering.
    pub shstrndx_raw: u16,
}

/// A section's name: a thin pointer to its NUL-terminated bytes in the section name table,
/// half the size of a slice (see [`Section`]).
#[derive(Clone, Copy)]
pub struct SectionName<'a> {
    start: std::ptr::NonNull<u8>,
    _table: std::marker::PhantomData<&'a [u8]>,
}

// Safety: a `SectionName` is a shared borrow of immutable bytes, like `&'a [u8]`.
unsafe impl Send for SectionName<'_> {}
// Safety: as above.
unsafe impl Sync for SectionName<'_> {}

impl<'a> SectionName<'a> {
    /// The name at `off` in `table`, when a NUL ends it inside the table.
    fn at(table: &'a [u8], off: usize) -> Option<Self> {
        cstr_at(table, off)?;
        Some(SectionName {
            start: std::ptr::NonNull::from(table.get(off)?),
            _table: std::marker::PhantomData,
        })
    }

    pub fn bytes(&self) -> &'a [u8] {
        // Safety: `start` points into a table borrowed for 'a, at bytes that `at` checked end
        // with a NUL inside that table.
        unsafe { std::ffi::CStr::from_ptr(self.start.as_ptr().cast()) }.to_bytes()
    }
}

impl std::fmt::Debug for SectionName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.bytes()))
    }
}

/// One section header, decoded, with its name resolved. Kept small (48 bytes): a huge module
/// has 68,000 sections and two tables of them are held during a proof. `sh_addr`,
/// `sh_addralign` and `sh_entsize`, rarely needed, are read from the header table on demand
/// ([`Elf::section_addr`] and friends).
#[derive(Debug, Clone)]
pub struct Section<'a> {
    name: SectionName<'a>,
    pub flags: u64,
    pub offset: u64,
    pub size: u64,
    /// Position in the section header table (see [`Section::index`]).
    pub idx: u32,
    pub sh_type: u32,
    pub link: u32,
    pub info: u32,
}

// Two tables of 68,000 sections are held during a proof: keep an eye on the size.
const _: () = assert!(std::mem::size_of::<Section>() == 48);

impl<'a> Section<'a> {
    /// Position in the section header table.
    pub fn index(&self) -> usize {
        self.idx as usize
    }
    /// The name's bytes.
    pub fn name(&self) -> &'a [u8] {
        self.name.bytes()
    }
    /// The name for messages.
    pub fn display_name(&self) -> Cow<'a, str> {
        String::from_utf8_lossy(self.name())
    }
    pub fn is_alloc(&self) -> bool {
        self.flags & SHF_ALLOC != 0
    }
    pub fn is_nobits(&self) -> bool {
        self.sh_type == SHT_NOBITS
    }
    pub fn is_reloc(&self) -> bool {
        self.sh_type == SHT_RELA || self.sh_type == SHT_REL
    }
    /// Debug information as `strip -g` understands it: `.debug*`, `.zdebug*`, `.gnu.debuglto_*`,
    /// `.stab*`, `.line`, `.gdb_index`, and nothing allocated.
    pub fn is_debug(&self) -> bool {
        if self.is_alloc() {
            return false;
        }
        let n = self.name();
        n.starts_with(b".debug")
            || n.starts_with(b".zdebug")
            || n.starts_with(b".gnu.debuglto_")
            || n.starts_with(b".stab")
            || n == b".line"
            || n == b".gdb_index"
    }
    /// Bytes of the file this section occupies (empty for NOBITS and for an unallocated
    /// SHT_NULL). An allocated SHT_NULL section has bytes: the kernel's loader copies every
    /// SHF_ALLOC section that is not SHT_NOBITS (`move_module`), whatever its type.
    pub fn file_range(&self) -> Option<Range<usize>> {
        if self.is_nobits() || (self.sh_type == SHT_NULL && !self.is_alloc()) {
            return Some(0..0);
        }
        let start = usize::try_from(self.offset).ok()?;
        let end = start.checked_add(usize::try_from(self.size).ok()?)?;
        Some(start..end)
    }
}

/// A zero-copy view of a 64-bit ELF relocatable file.
#[derive(Debug)]
pub struct Elf<'a> {
    pub data: &'a [u8],
    pub endian: Endian,
    pub header: Header,
    pub sections: Vec<Section<'a>>,
    pub shstrndx: usize,
    /// `e_shnum == 0` / `e_shstrndx == SHN_XINDEX`, counts kept in section 0.
    pub extended_numbering: bool,
    /// `data` is a read-only file mapping whose pages may be given back (see [`Elf::release`]).
    mapped: bool,
    /// Bytes read and done with since the mapping was last handed back.
    pending_release: std::cell::Cell<usize>,
}

/// Bytes read and done with before the whole mapping is handed back.
const RELEASE_BATCH: usize = 256 << 10;

/// Mappings smaller than this are never handed back: all of such a module resident costs
/// less than the `madvise` calls, each of which shoots down TLB entries on every CPU running
/// one of our threads (verifying Debian's 4,023 modules made 8,472 of them).
const RELEASE_MIN_MAPPING: usize = 4 << 20;

/// Section headers decoded between two hand-backs while parsing a mapped file (1 MiB).
const HEADERS_PER_RELEASE: usize = 16384;

/// Drops the resident pages under `range` of `data` (see [`Elf::release`]).
///
/// # Safety
/// `data` must be a read-only, private file mapping: `MADV_DONTNEED` only drops its pages,
/// which refault from the file with the same contents. On anonymous memory it would replace
/// the bytes with zeros.
unsafe fn give_back(data: &[u8], range: Range<usize>) {
    let (lo, hi) = (range.start, range.end.min(data.len()));
    if lo >= hi {
        return;
    }
    // Safety: sysconf has no preconditions.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        p if p > 0 => p as usize,
        _ => return,
    };
    // Whole pages around the range: a neighbour's bytes on the same page are only re-read
    // from the page cache if touched again, never lost. The mapping covers whole pages.
    let base = data.as_ptr() as usize;
    let start = (base + lo) / page * page;
    let end = (base + hi).next_multiple_of(page);
    // Safety: see above; the caller promises a private read-only file mapping.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
    }
}

/// Is this LLVM bitcode (an unlinked LTO object), raw or wrapped?
pub fn is_bitcode(data: &[u8]) -> bool {
    data.starts_with(BITCODE_MAGIC) || data.starts_with(BITCODE_WRAPPER_MAGIC)
}

pub fn machine_name(machine: u16) -> &'static str {
    match machine {
        EM_X86_64 => "x86_64",
        EM_AARCH64 => "aarch64",
        EM_386 => "i386",
        EM_ARM => "arm",
        EM_RISCV => "riscv",
        EM_PPC64 => "ppc64",
        EM_S390 => "s390",
        EM_LOONGARCH => "loongarch",
        _ => "unknown",
    }
}

impl<'a> Elf<'a> {
    /// Builds the view. Fails only when the header, the section header table or the section
    /// name table cannot be read.
    pub fn parse(data: &'a [u8]) -> Result<Self, ParseError> {
        Self::parse_with(data, false)
    }

    /// [`Elf::parse`] of a read-only, private file mapping, whose pages [`Elf::release`] may
    /// give back: the section header table is handed back as it is decoded, so a module with
    /// tens of thousands of sections never has all of it resident. A mapping smaller than
    /// [`RELEASE_MIN_MAPPING`] is simply parsed: nothing of it is handed back.
    ///
    /// # Safety
    /// `data` must come from such a mapping: on anonymous memory (a `Vec`),
    /// `MADV_DONTNEED` would replace the bytes with zeros.
    pub unsafe fn parse_mapped(data: &'a [u8]) -> Result<Self, ParseError> {
        if data.len() < RELEASE_MIN_MAPPING {
            return Self::parse(data);
        }
        let mut elf = Self::parse_with(data, true)?;
        elf.mapped = true;
        // The section header table has been decoded and the names found: their pages can go
        // (names are read again on demand).
        elf.release_all();
        Ok(elf)
    }

    fn parse_with(data: &'a [u8], mapped: bool) -> Result<Self, ParseError> {
        if is_bitcode(data) {
            return Err(ParseError {
                offset: 0,
                reason: "LLVM bitcode (an unlinked LTO object), not a linked module".into(),
                not_elf: true,
            });
        }
        if data.len() < 16 || &data[..4] != ELFMAG {
            return Err(ParseError {
                offset: 0,
                reason: if data.is_empty() {
                    "empty file".into()
                } else {
                    "no ELF magic".into()
                },
                not_elf: true,
            });
        }
        let class = data[4];
        let endian = match data[5] {
            ELFDATA2LSB => Endian::Little,
            ELFDATA2MSB => Endian::Big,
            other => return Err(ParseError::at(5, format!("invalid data encoding {other}"))),
        };
        match class {
            ELFCLASS64 => {}
            ELFCLASS32 => {
                return Err(ParseError::at(
                    4,
                    "32-bit ELF: only 64-bit kernels are supported",
                ))
            }
            other => return Err(ParseError::at(4, format!("invalid ELF class {other}"))),
        }
        if data.len() < EHDR64_SIZE {
            return Err(ParseError::at(
                data.len() as u64,
                format!("file ends inside the ELF header ({} bytes)", data.len()),
            ));
        }
        let u16_at = |o: usize| endian.u16([data[o], data[o + 1]]);
        let u32_at = |o: usize| endian.u32(array(data, o).unwrap_or_default());
        let u64_at = |o: usize| endian.u64(array(data, o).unwrap_or_default());
        let header = Header {
            class,
            data_encoding: data[5],
            osabi: data[7],
            e_type: u16_at(16),
            machine: u16_at(18),
            version: u32_at(20),
            phoff: u64_at(32),
            shoff: u64_at(40),
            flags: u32_at(48),
            ehsize: u16_at(52),
            phentsize: u16_at(54),
            phnum: u16_at(56),
            shentsize: u16_at(58),
            shnum_raw: u16_at(60),
            shstrndx_raw: u16_at(62),
        };
        if header.shoff == 0 {
            return Err(ParseError::at(40, "no section header table (e_shoff is 0)"));
        }
        if usize::from(header.shentsize) != SHDR64_SIZE {
            return Err(ParseError::at(
                58,
                format!(
                    "e_shentsize is {}, expected {SHDR64_SIZE}",
                    header.shentsize
                ),
            ));
        }
        let shoff = usize::try_from(header.shoff)
            .map_err(|_| ParseError::at(40, "e_shoff out of range"))?;
        let raw_header = |i: usize| -> Result<&'a [u8], ParseError> {
            let start = i
                .checked_mul(SHDR64_SIZE)
                .and_then(|o| o.checked_add(shoff))
                .ok_or_else(|| ParseError::at(header.shoff, "section header offset overflows"))?;
            // Found by fuzzing: e_shoff near the top of the address space overflowed here.
            let end = start.checked_add(SHDR64_SIZE);
            end.and_then(|end| data.get(start..end)).ok_or_else(|| {
                ParseError::at(
                    start as u64,
                    format!(
                        "section header {i} lies past the end of the file ({} bytes)",
                        data.len()
                    ),
                )
            })
        };
        // Extended numbering: the real counts live in section header 0.
        let sh0 = raw_header(0)?;
        let sh0_size = endian.u64(array(sh0, 32).unwrap_or_default());
        let sh0_link = endian.u32(array(sh0, 40).unwrap_or_default());
        let mut extended_numbering = false;
        let shnum = if header.shnum_raw == 0 {
            extended_numbering = true;
            usize::try_from(sh0_size)
                .map_err(|_| ParseError::at(header.shoff + 32, "section count out of range"))?
        } else {
            usize::from(header.shnum_raw)
        };
        if shnum == 0 {
            return Err(ParseError::at(60, "no sections"));
        }
        let table_end = shnum
            .checked_mul(SHDR64_SIZE)
            .and_then(|n| n.checked_add(shoff))
            .filter(|&end| end <= data.len())
            .ok_or_else(|| {
                ParseError::at(
                    header.shoff,
                    format!(
                        "section header table ({shnum} entries at {:#x}) runs past the end of the file ({} bytes)",
                        header.shoff,
                        data.len()
                    ),
                )
            })?;
        debug_assert!(table_end <= data.len());
        let shstrndx = if u32::from(header.shstrndx_raw) == SHN_XINDEX {
            extended_numbering = true;
            sh0_link as usize
        } else {
            usize::from(header.shstrndx_raw)
        };
        if shstrndx == 0 || shstrndx >= shnum {
            return Err(ParseError::at(
                62,
                format!("section name table index {shstrndx} is not a section (count {shnum})"),
            ));
        }
        let u32_of = |h: &[u8], o: usize| endian.u32(array(h, o).unwrap_or_default());
        let u64_of = |h: &[u8], o: usize| endian.u64(array(h, o).unwrap_or_default());
        let strtab_hdr = raw_header(shstrndx)?;
        let names = usize::try_from(u64_of(strtab_hdr, 24))
            .ok()
            .zip(usize::try_from(u64_of(strtab_hdr, 32)).ok())
            .and_then(|(start, len)| data.get(start..start.checked_add(len)?))
            .filter(|_| u32_of(strtab_hdr, 4) == SHT_STRTAB)
            .ok_or_else(|| {
                ParseError::at(
                    shoff as u64 + (shstrndx * SHDR64_SIZE) as u64,
                    format!("section name table (section {shstrndx}) is not a string table inside the file"),
                )
            })?;
        let mut raw = Vec::with_capacity(shnum);
        for i in 0..shnum {
            if mapped && i % HEADERS_PER_RELEASE == 0 && i > 0 {
                let end = shoff + i * SHDR64_SIZE;
                // Safety: parse_mapped's contract.
                unsafe { give_back(data, end - HEADERS_PER_RELEASE * SHDR64_SIZE..end) };
            }
            let h = raw_header(i)?;
            let name_offset = u32_of(h, 0);
            let name = SectionName::at(names, name_offset as usize).ok_or_else(|| {
                ParseError::at(
                    shoff as u64 + (i * SHDR64_SIZE) as u64,
                    format!(
                        "section {i}: name offset {name_offset:#x} outside the section name table"
                    ),
                )
            })?;
            raw.push(Section {
                name,
                flags: u64_of(h, 8),
                offset: u64_of(h, 24),
                size: u64_of(h, 32),
                idx: i as u32,
                sh_type: u32_of(h, 4),
                link: u32_of(h, 40),
                info: u32_of(h, 44),
            });
        }
        Ok(Elf {
            data,
            endian,
            header,
            sections: raw,
            shstrndx,
            extended_numbering,
            mapped: false,
            pending_release: Default::default(),
        })
    }

    /// Says that `range` (file offsets) has been read and is done with, so that a large
    /// module costs about a megabyte of memory at a time instead of all of it. Once a
    /// megabyte is done with, every page of the mapping is handed back; pages still in use
    /// come back from the page cache when touched again. A no-op for data in memory.
    ///
    /// Why everything and not `range`: a module has tens of thousands of sections smaller
    /// than a page, and the kernel maps the 64 KiB around every page fault ("fault-around"),
    /// so reading the next section maps its released neighbours again; handing back exact
    /// ranges leaks those. A whole-mapping `MADV_DONTNEED` only visits the pages present, so
    /// it costs little more than an exact one.
    pub fn release(&self, range: Range<usize>) {
        if !self.mapped || range.start >= range.end {
            return;
        }
        let pending = self.pending_release.get() + (range.end - range.start);
        if pending >= RELEASE_BATCH {
            self.pending_release.set(0);
            // Safety: `mapped` is only set under parse_mapped's contract.
            unsafe { give_back(self.data, 0..self.data.len()) };
        } else {
            self.pending_release.set(pending);
        }
    }

    /// Hands back every page of the mapping now: the end of a pass, or of a stretch of
    /// random reads (symbols) that [`Elf::release`] cannot account for.
    pub fn release_all(&self) {
        if self.mapped {
            self.pending_release.set(0);
            // Safety: `mapped` is only set under parse_mapped's contract.
            unsafe { give_back(self.data, 0..self.data.len()) };
        }
    }

    /// [`Elf::release`] for one section's bytes.
    pub fn release_section(&self, s: &Section) {
        if let Some(r) = s.file_range() {
            self.release(r);
        }
    }

    /// `sh_addr`, `sh_addralign` and `sh_entsize` of a section, read from the header table
    /// (which `parse` checked lies inside the file).
    ///
    /// A pass over every section's header would otherwise keep the whole table resident:
    /// what is read is handed back as the pass moves on (see [`Elf::release`]).
    fn header_u64(&self, s: &Section, field: usize) -> u64 {
        let at = self.section_header_offset(s.index()) as usize + field;
        let value = self
            .data
            .get(at..at + 8)
            .and_then(|b| array(b, 0))
            .map_or(0, |b| self.endian.u64(b));
        // Counted as the whole header: that is what the pass walks through.
        self.release(at..at + SHDR64_SIZE);
        value
    }
    pub fn section_addr(&self, s: &Section) -> u64 {
        self.header_u64(s, 16)
    }
    pub fn section_addralign(&self, s: &Section) -> u64 {
        self.header_u64(s, 48)
    }
    pub fn section_entsize(&self, s: &Section) -> u64 {
        self.header_u64(s, 56)
    }
    /// [`Elf::release`] for bytes borrowed from this file (a no-op for other bytes).
    pub fn release_slice(&self, part: &[u8]) {
        let base = self.data.as_ptr() as usize;
        let at = part.as_ptr() as usize;
        if at >= base && at + part.len() <= base + self.data.len() {
            self.release(at - base..at - base + part.len());
        }
    }

    /// Symbols `from..` of `t` in order, as (index, entry; `None` where unreadable), handing
    /// the entries back as the pass moves on: the table can be as large as the code.
    pub fn symbols_in_order<'s>(
        &'s self,
        t: &'s SymbolTable<'a>,
        from: u32,
    ) -> impl Iterator<Item = (u32, Option<Symbol<'a>>)> + 's {
        (from..t.len() as u32).map(move |i| {
            if i > from && (i - from) % SYMBOLS_PER_RELEASE == 0 {
                self.release_symbols(t, i - SYMBOLS_PER_RELEASE..i);
            }
            (i, t.get(i))
        })
    }

    /// Gives back the entries of symbols `range` (and their extended indices) once a pass
    /// over the symbol table has read them.
    pub fn release_symbols(&self, t: &SymbolTable, range: Range<u32>) {
        let (lo, hi) = (range.start as usize, range.end as usize);
        if let Some(entries) = t.data.get(lo * SYM64_SIZE..hi * SYM64_SIZE) {
            self.release_slice(entries);
        }
        if let Some(ext) = t.shndx.and_then(|x| x.get(lo * 4..hi * 4)) {
            self.release_slice(ext);
        }
    }

    pub fn machine(&self) -> u16 {
        self.header.machine
    }

    /// A section's bytes; an error names the section when it lies outside the file.
    pub fn section_data(&self, s: &Section<'a>) -> Result<&'a [u8], ParseError> {
        s.file_range()
            .and_then(|r| self.data.get(r))
            .ok_or_else(|| {
                ParseError::at(
                    s.offset,
                    format!(
                        "section {} [{}] ({} bytes at {:#x}) lies outside the file ({} bytes)",
                        s.index(),
                        s.display_name(),
                        s.size,
                        s.offset,
                        self.data.len()
                    ),
                )
            })
    }

    pub fn section_by_name(&self, name: &str) -> Option<&Section<'a>> {
        self.sections.iter().find(|s| s.name() == name.as_bytes())
    }

    /// Debug information as `strip -g` removes it: a debug section, or a relocation section
    /// that applies to one.
    pub fn is_debug_or_debug_relocs(&self, s: &Section) -> bool {
        s.is_debug()
            || (s.is_reloc()
                && self
                    .sections
                    .get(s.info as usize)
                    .is_some_and(|t| t.is_debug()))
    }

    /// Offset of a section's header in the file (for findings).
    pub fn section_header_offset(&self, index: usize) -> u64 {
        self.header.shoff + (index * SHDR64_SIZE) as u64
    }

    /// All `SHT_SYMTAB` sections (a module must have exactly one).
    pub fn symtab_sections(&self) -> impl Iterator<Item = &Section<'a>> {
        self.sections.iter().filter(|s| s.sh_type == SHT_SYMTAB)
    }

    /// The symbol table, with its string table and `SHT_SYMTAB_SHNDX` companion.
    pub fn symbols(&self) -> Result<Option<SymbolTable<'a>>, ParseError> {
        let Some(symtab) = self.symtab_sections().next() else {
            return Ok(None);
        };
        let data = self.section_data(symtab)?;
        let entsize = self.section_entsize(symtab);
        if entsize != SYM64_SIZE as u64 {
            return Err(ParseError::at(
                self.section_header_offset(symtab.index()) + 56,
                format!("symbol table entry size {entsize} (expected {SYM64_SIZE})"),
            ));
        }
        let strtab = self
            .sections
            .get(symtab.link as usize)
            .filter(|s| s.sh_type == SHT_STRTAB)
            .ok_or_else(|| {
                ParseError::at(
                    self.section_header_offset(symtab.index()) + 40,
                    format!(
                        "symbol table's string table link {} is not a string table",
                        symtab.link
                    ),
                )
            })?;
        let strings = self.section_data(strtab)?;
        let shndx = match self
            .sections
            .iter()
            .find(|s| s.sh_type == SHT_SYMTAB_SHNDX && s.link as usize == symtab.index())
        {
            Some(s) => Some(self.section_data(s)?),
            None => None,
        };
        Ok(Some(SymbolTable {
            section_index: symtab.index(),
            data,
            strings,
            shndx,
            endian: self.endian,
            first_global: symtab.info,
        }))
    }

    /// The entries of a REL or RELA section. REL entries have an addend of 0 here
    /// (the implicit addend stays in the target's bytes, which are compared as bytes).
    pub fn relocations(&self, s: &Section<'a>) -> Result<Relocations<'a>, ParseError> {
        let data = self.section_data(s)?;
        let rela = s.sh_type == SHT_RELA;
        let entsize = if rela { RELA64_SIZE } else { REL64_SIZE };
        if data.len() % entsize != 0 {
            return Err(ParseError::at(
                s.offset,
                format!(
                    "section {} [{}]: size {} is not a multiple of the entry size {entsize}",
                    s.index(),
                    s.display_name(),
                    s.size
                ),
            ));
        }
        Ok(Relocations {
            data,
            endian: self.endian,
            rela,
            entsize,
            pos: 0,
        })
    }

    /// A section group's flag word and member section indices.
    pub fn group(&self, s: &Section<'a>) -> Result<(u32, Vec<u32>), ParseError> {
        let data = self.section_data(s)?;
        if data.len() < 4 || data.len() % 4 != 0 {
            return Err(ParseError::at(
                s.offset,
                format!(
                    "group section {} [{}] has size {}",
                    s.index(),
                    s.display_name(),
                    s.size
                ),
            ));
        }
        let words: Vec<u32> = data
            .chunks_exact(4)
            .map(|c| self.endian.u32([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok((words[0], words[1..].to_vec()))
    }

    /// The `.modinfo` entries in file order (`key=value`, NUL-separated).
    pub fn modinfo(&self) -> Result<Option<Modinfo>, ParseError> {
        let Some(s) = self.section_by_name(".modinfo") else {
            return Ok(None);
        };
        Ok(Some(Modinfo::parse(self.section_data(s)?)))
    }

    /// The strings of `.comment` (compiler identification: "clang version 19.1.7 ...").
    pub fn comments(&self) -> Vec<String> {
        let Some(s) = self.section_by_name(".comment") else {
            return Vec::new();
        };
        let Ok(data) = self.section_data(s) else {
            return Vec::new();
        };
        data.split(|&b| b == 0)
            .filter(|part| !part.is_empty())
            .map(|part| String::from_utf8_lossy(part).into_owned())
            .collect()
    }
}

/// The NUL-terminated string starting at `off`.
pub fn cstr_at(table: &[u8], off: usize) -> Option<&[u8]> {
    // CStr's search is memchr: symbol and section names are looked up by the hundred thousand.
    let rest = table.get(off..)?;
    std::ffi::CStr::from_bytes_until_nul(rest)
        .ok()
        .map(|c| c.to_bytes())
}

/// A symbol table with everything needed to decode its entries.
#[derive(Debug, Clone)]
pub struct SymbolTable<'a> {
    pub section_index: usize,
    pub data: &'a [u8],
    pub strings: &'a [u8],
    pub shndx: Option<&'a [u8]>,
    pub endian: Endian,
    /// `sh_info`: index of the first non-local symbol.
    pub first_global: u32,
}

/// `Symbol::shndx` of an `SHN_XINDEX` symbol whose `SHT_SYMTAB_SHNDX` entry is missing.
pub const UNRESOLVED_SHNDX: u32 = u32::MAX;

/// Symbols read between two hand-backs in [`Elf::symbols_in_order`].
const SYMBOLS_PER_RELEASE: u32 = 8192;

/// One decoded symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol<'a> {
    pub index: u32,
    pub name: &'a [u8],
    pub name_offset: u32,
    pub info: u8,
    pub other: u8,
    /// Section index, with `SHN_XINDEX` already resolved through `SHT_SYMTAB_SHNDX`
    /// ([`UNRESOLVED_SHNDX`] when that table is missing). 0xffff is a real index there.
    pub shndx: u32,
    /// `st_shndx` as stored.
    pub raw_shndx: u16,
    pub value: u64,
    pub size: u64,
}

impl Symbol<'_> {
    pub fn kind(&self) -> u8 {
        self.info & 0xf
    }
    pub fn bind(&self) -> u8 {
        self.info >> 4
    }
    pub fn name(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.name)
    }
    /// Defined in a real section (not undefined, absolute or common). Under extended
    /// numbering an index at or above `SHN_LORESERVE` is real when it came through
    /// `SHT_SYMTAB_SHNDX`.
    pub fn section(&self) -> Option<usize> {
        let raw = u32::from(self.raw_shndx);
        if raw == SHN_XINDEX {
            (self.shndx != UNRESOLVED_SHNDX).then_some(self.shndx as usize)
        } else if raw == SHN_UNDEF || raw >= SHN_LORESERVE {
            None
        } else {
            Some(raw as usize)
        }
    }
}

impl<'a> SymbolTable<'a> {
    pub fn len(&self) -> usize {
        self.data.len() / SYM64_SIZE
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Decodes symbol `index`; `None` when the index is out of range or its name is not
    /// inside the string table.
    pub fn get(&self, index: u32) -> Option<Symbol<'a>> {
        let off = (index as usize).checked_mul(SYM64_SIZE)?;
        let e = self.data.get(off..off + SYM64_SIZE)?;
        let en = self.endian;
        let name_offset = en.u32(array(e, 0)?);
        let raw_shndx = en.u16(array(e, 6)?);
        let shndx = if u32::from(raw_shndx) == SHN_XINDEX {
            match self.shndx {
                Some(t) => en.u32(array(t, index as usize * 4)?),
                None => UNRESOLVED_SHNDX,
            }
        } else {
            u32::from(raw_shndx)
        };
        Some(Symbol {
            index,
            name: cstr_at(self.strings, name_offset as usize)?,
            name_offset,
            info: e[4],
            other: e[5],
            shndx,
            raw_shndx,
            value: en.u64(array(e, 8)?),
            size: en.u64(array(e, 16)?),
        })
    }
}

/// One relocation entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reloc {
    pub offset: u64,
    pub sym: u32,
    pub rtype: u32,
    pub addend: i64,
}

/// Iterator over the entries of a REL/RELA section.
#[derive(Debug, Clone)]
pub struct Relocations<'a> {
    data: &'a [u8],
    endian: Endian,
    rela: bool,
    entsize: usize,
    pos: usize,
}

impl<'a> Relocations<'a> {
    /// The raw entries.
    pub fn bytes(&self) -> &'a [u8] {
        self.data
    }
    /// Bytes per entry (24 for RELA, 16 for REL).
    pub fn entry_size(&self) -> usize {
        self.entsize
    }
    pub fn len(&self) -> usize {
        self.data.len() / self.entsize
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Iterator for Relocations<'_> {
    type Item = Reloc;
    fn next(&mut self) -> Option<Reloc> {
        let e = self.data.get(self.pos..self.pos + self.entsize)?;
        self.pos += self.entsize;
        let en = self.endian;
        let info = en.u64(array(e, 8)?);
        Some(Reloc {
            offset: en.u64(array(e, 0)?),
            sym: (info >> 32) as u32,
            rtype: info as u32,
            addend: if self.rela {
                en.u64(array(e, 16)?) as i64
            } else {
                0
            },
        })
    }
}

/// `.modinfo` as ordered `key=value` pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Modinfo {
    pub entries: Vec<(String, String)>,
    /// Non-empty strings without `=`: the kernel ignores them, verify reports them.
    pub malformed: Vec<String>,
}

impl Modinfo {
    pub fn parse(data: &[u8]) -> Self {
        let mut info = Modinfo::default();
        for part in data.split(|&b| b == 0).filter(|p| !p.is_empty()) {
            let text = String::from_utf8_lossy(part);
            match text.split_once('=') {
                Some((k, v)) => info.entries.push((k.to_string(), v.to_string())),
                None => info.malformed.push(text.into_owned()),
            }
        }
        info
    }
    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// Every value of `key` (`firmware=`, `alias=`, `depends=` repeat).
    pub fn all<'s>(&'s self, key: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.entries
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (elf_loader, native_proof): e_shoff near u64::MAX overflowed.
    #[test]
    fn a_section_header_offset_at_the_top_of_the_address_space_is_an_error() {
        let mut data = vec![0u8; 64];
        data[..8].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
        data[16..18].copy_from_slice(&ET_REL.to_le_bytes());
        data[20..24].copy_from_slice(&1u32.to_le_bytes());
        data[40..48].copy_from_slice(&(u64::MAX - 10).to_le_bytes());
        data[58..60].copy_from_slice(&64u16.to_le_bytes());
        data[60..62].copy_from_slice(&1u16.to_le_bytes());
        assert!(Elf::parse(&data).is_err());
    }

    #[test]
    fn modinfo_parses_pairs_and_padding() {
        let info =
            Modinfo::parse(b"version=1.0\0\0\0name=basic\0firmware=a.bin\0firmware=b.bin\0junk\0");
        assert_eq!(info.get("name"), Some("basic"));
        assert_eq!(info.all("firmware").collect::<Vec<_>>(), ["a.bin", "b.bin"]);
        assert_eq!(info.malformed, ["junk"]);
    }

    #[test]
    fn rejects_non_elf_and_bitcode() {
        assert!(Elf::parse(b"").unwrap_err().not_elf);
        assert!(Elf::parse(b"BC\xC0\xDE\x35\x14")
            .unwrap_err()
            .reason
            .contains("bitcode"));
        let mut h = [0u8; 64];
        h[..4].copy_from_slice(ELFMAG);
        h[4] = ELFCLASS32;
        h[5] = ELFDATA2LSB;
        assert!(Elf::parse(&h).unwrap_err().reason.contains("32-bit"));
    }

    /// Regression: under extended numbering 0xffff is a real section index (the huge module's
    /// `.text.huge_f32760` landed there after stripping), not "unresolved".
    #[test]
    fn xindex_symbol_can_name_section_0xffff() {
        let mut sym = vec![0u8; SYM64_SIZE];
        sym[4] = STT_SECTION;
        sym[6..8].copy_from_slice(&0xffffu16.to_le_bytes());
        let shndx = 0xffffu32.to_le_bytes();
        let mut t = SymbolTable {
            section_index: 1,
            data: &sym,
            strings: b"\0",
            shndx: Some(&shndx),
            endian: Endian::Little,
            first_global: 1,
        };
        assert_eq!(t.get(0).unwrap().section(), Some(0xffff));
        t.shndx = None;
        assert_eq!(t.get(0).unwrap().section(), None);
    }

    #[test]
    fn cstr_at_bounds() {
        assert_eq!(cstr_at(b"\0abc\0", 1), Some(&b"abc"[..]));
        assert_eq!(cstr_at(b"\0abc", 1), None);
        assert_eq!(cstr_at(b"\0", 5), None);
    }
}
