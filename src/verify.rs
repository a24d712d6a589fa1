//! `dkwrap verify`: the checks the kernel's module loader makes (kernel/module/main.c
//! `elf_validity_check`, `find_module_sections`, `simplify_symbols`, `apply_relocations`),
//! and the proof that a stripped module equals its original minus debug information.
//!
//! Findings are results, not errors: a broken module yields a [`Report`] full of findings and
//! an exit code chosen from the worst of them. Only a file that cannot be read at all is an
//! [`Error`](crate::Error).

use crate::fasthash::{FastHasher, FastMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::VerifyArgs;
use crate::elf::{self, Elf, Reloc, Section, Symbol, SymbolTable};
use crate::error::{exit, Result};
use crate::kconfig::{Arch, KernelFacts};
use crate::modfile::{ModuleFile, Signature};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A fact worth knowing (a layout GNU strip corrupts), not a defect.
    Note,
    Warning,
    Error,
}

/// What kind of problem a finding is; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// The loader would reject or mis-load the module.
    Invalid,
    /// Built for another kernel (release, vermagic flags, architecture, signature policy).
    KernelMismatch,
    /// Not the original minus debug information.
    NotEquivalent,
    /// The layout of the file (informational).
    Layout,
    /// The two independent ELF parsers disagree.
    ParserDisagreement,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub category: Category,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    pub message: String,
}

/// The kernel a module is checked against; every field optional.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub facts: Option<KernelFacts>,
    pub release: Option<String>,
    /// sizeof(struct module) of the target kernel.
    pub this_module_size: Option<u64>,
}

/// The verdict on one file.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub file: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub against: Option<PathBuf>,
    pub machine: Option<String>,
    pub compression: Option<String>,
    pub signed: bool,
    pub findings: Vec<Finding>,
}

impl Report {
    fn new(file: &Path) -> Self {
        Report {
            file: file.to_path_buf(),
            against: None,
            machine: None,
            compression: None,
            signed: false,
            findings: Vec::new(),
        }
    }

    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    pub fn passed(&self) -> bool {
        self.errors().next().is_none()
    }

    /// The exit code for this report: the most specific error category wins, in the order
    /// not-equivalent, invalid, kernel mismatch.
    pub fn exit_code(&self) -> i32 {
        let has = |c: Category| self.errors().any(|f| f.category == c);
        if has(Category::NotEquivalent) {
            exit::NOT_EQUIVALENT
        } else if has(Category::Invalid) || has(Category::ParserDisagreement) {
            exit::INVALID_MODULE
        } else if has(Category::KernelMismatch) {
            exit::KERNEL_MISMATCH
        } else {
            exit::OK
        }
    }
}

/// Collects findings for one file.
struct Findings<'r>(&'r mut Vec<Finding>);

impl Findings<'_> {
    fn push(
        &mut self,
        severity: Severity,
        category: Category,
        section: Option<&Section>,
        offset: Option<u64>,
        message: String,
    ) {
        self.0.push(Finding {
            severity,
            category,
            section: section.map(|s| format!("[{}] {}", s.index(), s.display_name())),
            offset,
            message,
        });
    }
    fn error(&mut self, c: Category, s: Option<&Section>, off: Option<u64>, m: String) {
        self.push(Severity::Error, c, s, off, m)
    }
    fn warn(&mut self, c: Category, s: Option<&Section>, off: Option<u64>, m: String) {
        self.push(Severity::Warning, c, s, off, m)
    }
}

/// Relocation types arch/x86/kernel/module.c applies (6.1); anything else fails the load.
const X86_64_LOADER_RELOCS: &[u32] = &[0, 1, 2, 4, 10, 11, 24];

/// Bytes a relocation patches, to check it fits inside its target section.
fn reloc_width(machine: u16, rtype: u32) -> u64 {
    match machine {
        elf::EM_X86_64 => match rtype {
            0 => 0,
            1 | 24 => 8,
            12 | 13 => 2,
            14 | 15 => 1,
            _ => 4,
        },
        elf::EM_AARCH64 => match rtype {
            0 | 256 => 0,
            257 | 260 => 8,
            259 | 262 => 2,
            _ => 4,
        },
        _ => 1,
    }
}

/// Structural checks of one parsed module, modelled on the loader.
pub fn check_module(
    elf: &Elf,
    signature: Option<&Signature>,
    target: &Target,
    out: &mut Vec<Finding>,
) {
    let mut f = Findings(out);
    let h = &elf.header;
    let len = elf.data.len() as u64;

    // ELF identity.
    if h.e_type != elf::ET_REL {
        f.error(
            Category::Invalid,
            None,
            Some(16),
            format!(
                "e_type is {}, not ET_REL (1): not a relocatable module",
                h.e_type
            ),
        );
    }
    if h.version != 1 || elf.data.get(6) != Some(&1) {
        f.error(
            Category::Invalid,
            None,
            Some(20),
            "ELF version is not 1 (EV_CURRENT)".into(),
        );
    }
    if usize::from(h.ehsize) != elf::EHDR64_SIZE {
        f.error(
            Category::Invalid,
            None,
            Some(52),
            format!("e_ehsize is {}, expected 64", h.ehsize),
        );
    }
    if let Some(arch) = target.facts.as_ref().map(|t| t.arch) {
        if let Some(want) = arch.elf_machine() {
            if h.machine != want {
                f.error(
                    Category::KernelMismatch,
                    None,
                    Some(18),
                    format!(
                        "module is for {} (e_machine {}), the kernel is {}",
                        elf::machine_name(h.machine),
                        h.machine,
                        elf::machine_name(want)
                    ),
                );
            }
        }
    } else if Arch::from_elf_machine(h.machine) == Arch::Other {
        f.warn(
            Category::Invalid,
            None,
            Some(18),
            format!("unusual machine {} for a module", h.machine),
        );
    }

    let shnum = elf.sections.len();
    if shnum >= elf::SHN_LORESERVE as usize && !elf.extended_numbering {
        f.error(
            Category::Invalid,
            None,
            Some(60),
            format!("{shnum} sections without extended numbering"),
        );
    }
    // Every section inside the file, every link a real section.
    for s in &elf.sections[1..] {
        if !s.is_nobits() && s.file_range().is_none_or(|r| r.end as u64 > len) {
            f.error(
                Category::Invalid,
                Some(s),
                Some(s.offset),
                format!(
                    "section ({} bytes at {:#x}) extends past the end of the file ({len} bytes)",
                    s.size, s.offset
                ),
            );
        }
        if s.link as usize >= shnum {
            f.error(
                Category::Invalid,
                Some(s),
                Some(elf.section_header_offset(s.index()) + 40),
                format!("sh_link {} is not a section", s.link),
            );
        }
        if s.flags & elf::SHF_INFO_LINK != 0 && (s.info == 0 || s.info as usize >= shnum) {
            f.error(
                Category::Invalid,
                Some(s),
                Some(elf.section_header_offset(s.index()) + 44),
                format!("sh_info {} is not a section", s.info),
            );
        }
    }

    // Exactly one symbol table with a valid string table.
    let symtabs: Vec<&Section> = elf.symtab_sections().collect();
    let symbols = match symtabs.len() {
        0 => {
            f.error(
                Category::Invalid,
                None,
                None,
                "module has no symbols (stripped?): no SHT_SYMTAB section".into(),
            );
            None
        }
        1 => match elf.symbols() {
            Ok(t) => t,
            Err(e) => {
                f.error(
                    Category::Invalid,
                    Some(symtabs[0]),
                    Some(e.offset),
                    e.reason,
                );
                None
            }
        },
        n => {
            f.error(
                Category::Invalid,
                None,
                None,
                format!("{n} symbol tables; the loader uses exactly one"),
            );
            None
        }
    };
    if let Some(t) = &symbols {
        check_symbols(elf, t, &mut f);
    }

    check_this_module(elf, target, &mut f);
    check_modinfo(elf, target, &mut f);

    // __versions and .BTF, as the kernel's configuration requires them.
    if let Some(facts) = &target.facts {
        match elf.section_by_name("__versions") {
            None if facts.modversions => f.error(Category::KernelMismatch, None, None, "kernel has CONFIG_MODVERSIONS but the module has no __versions section".into()),
            Some(s) if facts.modversions && s.size == 0 => f.warn(Category::KernelMismatch, Some(s), None, "__versions is empty: symbol CRCs will not be checked (no Module.symvers at build time?)".into()),
            _ => {}
        }
        if facts.btf_modules && elf.section_by_name(".BTF").is_none() {
            f.warn(
                Category::KernelMismatch,
                None,
                None,
                "kernel has CONFIG_DEBUG_INFO_BTF_MODULES but the module has no .BTF section"
                    .into(),
            );
        }
    }

    if let Some(t) = &symbols {
        check_relocations(elf, t, &mut f);
    }
    check_groups(elf, &mut f);
    check_signature(signature, target, &mut f);
    elf.release_all();
}

fn check_symbols(elf: &Elf, t: &SymbolTable, f: &mut Findings) {
    let shnum = elf.sections.len() as u32;
    let sec = &elf.sections[t.section_index];
    if t.first_global as usize > t.len() {
        f.error(
            Category::Invalid,
            Some(sec),
            None,
            format!(
                "sh_info (first global) {} exceeds the symbol count {}",
                t.first_global,
                t.len()
            ),
        );
    }
    if t.data.len() % elf::SYM64_SIZE != 0 {
        f.error(
            Category::Invalid,
            Some(sec),
            Some(sec.offset),
            "symbol table size is not a multiple of the entry size".into(),
        );
    }
    let mut needs_shndx = false;
    for (i, sym) in elf.symbols_in_order(t, 0) {
        let Some(sym) = sym else {
            f.error(
                Category::Invalid,
                Some(sec),
                Some(sec.offset + u64::from(i) * 24),
                format!("symbol {i}: name outside the string table or index out of range"),
            );
            continue;
        };
        if u32::from(sym.raw_shndx) == elf::SHN_XINDEX {
            needs_shndx = true;
            if sym.shndx >= shnum {
                f.error(
                    Category::Invalid,
                    Some(sec),
                    Some(sec.offset + u64::from(i) * 24),
                    format!(
                        "symbol {i} ({}): extended section index does not name a section",
                        sym.name()
                    ),
                );
            }
        } else if sym.section().is_some_and(|s| s as u32 >= shnum) {
            f.error(
                Category::Invalid,
                Some(sec),
                Some(sec.offset + u64::from(i) * 24),
                format!(
                    "symbol {i} ({}): section index {} is not a section",
                    sym.name(),
                    sym.shndx
                ),
            );
        }
        // The loader resolves every undefined symbol by name: an unnamed one can never load.
        if i > 0 && sym.raw_shndx == 0 && sym.name.is_empty() && sym.kind() != elf::STT_FILE {
            f.error(Category::Invalid, Some(sec), Some(sec.offset + u64::from(i) * 24), format!("symbol {i} is undefined and has no name: the loader fails with `Unknown symbol`"));
        }
    }
    if needs_shndx {
        match &t.shndx {
            None => f.error(
                Category::Invalid,
                Some(sec),
                None,
                "symbols use SHN_XINDEX but there is no SHT_SYMTAB_SHNDX section".into(),
            ),
            Some(x) if x.len() < t.len() * 4 => f.error(
                Category::Invalid,
                Some(sec),
                None,
                format!(
                    "SHT_SYMTAB_SHNDX has {} entries for {} symbols",
                    x.len() / 4,
                    t.len()
                ),
            ),
            _ => {}
        }
    }
}

fn check_this_module(elf: &Elf, target: &Target, f: &mut Findings) {
    let this: Vec<&Section> = elf
        .sections
        .iter()
        .filter(|s| s.name() == b".gnu.linkonce.this_module")
        .collect();
    match this.as_slice() {
        [] => f.error(Category::Invalid, None, None, "no .gnu.linkonce.this_module section: not a kernel module (the loader says: No module found in object)".into()),
        [s] => {
            if !s.is_alloc() {
                f.error(Category::Invalid, Some(s), None, ".gnu.linkonce.this_module is not SHF_ALLOC".into());
            }
            if let Some(want) = target.this_module_size {
                if s.size != want {
                    f.error(Category::KernelMismatch, Some(s), None, format!("size {} but the kernel's struct module is {want} bytes: built against another kernel tree", s.size));
                }
            }
        }
        many => f.error(Category::Invalid, Some(many[1]), None, format!("{} .gnu.linkonce.this_module sections", many.len())),
    }
}

fn check_modinfo(elf: &Elf, target: &Target, f: &mut Findings) {
    let Some(sec) = elf.section_by_name(".modinfo") else {
        f.error(Category::Invalid, None, None, "no .modinfo section".into());
        return;
    };
    let info = match elf.modinfo() {
        Ok(Some(i)) => i,
        Ok(None) => return,
        Err(e) => {
            f.error(Category::Invalid, Some(sec), Some(e.offset), e.reason);
            return;
        }
    };
    for m in &info.malformed {
        f.warn(
            Category::Invalid,
            Some(sec),
            None,
            format!("entry without '=': {m:?}"),
        );
    }
    if info.get("name").is_none() {
        f.error(Category::Invalid, Some(sec), None, "no name= entry".into());
    }
    let Some(vermagic) = info.get("vermagic") else {
        f.error(
            Category::Invalid,
            Some(sec),
            None,
            "no vermagic= entry".into(),
        );
        return;
    };
    let mut words = vermagic.split_whitespace();
    let release = words.next().unwrap_or_default();
    if let Some(want) = &target.release {
        if release != want {
            f.error(
                Category::KernelMismatch,
                Some(sec),
                None,
                format!("vermagic release {release:?} but the kernel is {want:?}"),
            );
        }
    }
    if let Some(facts) = &target.facts {
        let flags: Vec<&str> = words.collect();
        for want in facts.vermagic_flags() {
            if !flags.contains(&want) {
                f.error(
                    Category::KernelMismatch,
                    Some(sec),
                    None,
                    format!(
                        "vermagic {vermagic:?} lacks {want:?}, which the kernel config requires"
                    ),
                );
            }
        }
        for have in ["SMP", "preempt", "preempt_rt", "mod_unload", "modversions"] {
            if flags.contains(&have) && !facts.vermagic_flags().contains(&have) {
                f.error(
                    Category::KernelMismatch,
                    Some(sec),
                    None,
                    format!("vermagic {vermagic:?} has {have:?}, which the kernel config does not"),
                );
            }
        }
    }
}

fn check_relocations(elf: &Elf, t: &SymbolTable, f: &mut Findings) {
    let nsyms = t.len() as u64;
    let shnum = elf.sections.len();
    for s in elf.sections.iter().filter(|s| s.is_reloc()) {
        if s.link as usize != t.section_index {
            f.error(
                Category::Invalid,
                Some(s),
                Some(elf.section_header_offset(s.index()) + 40),
                format!(
                    "sh_link {} is not the symbol table ({})",
                    s.link, t.section_index
                ),
            );
        }
        if s.info == 0 || s.info as usize >= shnum {
            f.error(
                Category::Invalid,
                Some(s),
                Some(elf.section_header_offset(s.index()) + 44),
                format!("sh_info {} is not a section", s.info),
            );
            continue;
        }
        let target = &elf.sections[s.info as usize];
        let relocs = match elf.relocations(s) {
            Ok(r) => r,
            Err(e) => {
                f.error(Category::Invalid, Some(s), Some(e.offset), e.reason);
                continue;
            }
        };
        let applied = target.is_alloc();
        let mut bad = 0usize;
        let entry_size = relocs.entry_size();
        for (i, r) in relocs.enumerate() {
            let at = s.offset + (i * entry_size) as u64;
            // A debug relocation section can be tens of megabytes: hand it back as it is read.
            if i % RELOCS_PER_RELEASE == 0 && i > 0 {
                let end = at as usize;
                elf.release(end - RELOCS_PER_RELEASE * entry_size..end);
            }
            if u64::from(r.sym) >= nsyms {
                bad += 1;
                if bad <= 5 {
                    f.error(
                        Category::Invalid,
                        Some(s),
                        Some(at),
                        format!(
                            "relocation {i} at {}+{:#x} uses symbol {} but there are only {nsyms}",
                            target.display_name(),
                            r.offset,
                            r.sym
                        ),
                    );
                }
                continue;
            }
            let width = reloc_width(elf.header.machine, r.rtype);
            if r.offset
                .checked_add(width)
                .is_none_or(|end| end > target.size)
            {
                bad += 1;
                if bad <= 5 {
                    f.error(Category::Invalid, Some(s), Some(at), format!("relocation {i} patches {}+{:#x}..+{width} outside the section ({} bytes)", target.display_name(), r.offset, target.size));
                }
            }
            if applied
                && elf.header.machine == elf::EM_X86_64
                && !X86_64_LOADER_RELOCS.contains(&r.rtype)
            {
                bad += 1;
                if bad <= 5 {
                    f.error(Category::Invalid, Some(s), Some(at), format!("relocation {i} has type {} which the x86-64 module loader does not apply", r.rtype));
                }
            }
        }
        if bad > 5 {
            f.error(
                Category::Invalid,
                Some(s),
                None,
                format!("{} more bad relocations in this section", bad - 5),
            );
        }
        elf.release_section(s);
    }
    // Several relocation sections for one target: legal, loaded fine, but GNU strip corrupts it.
    let mut targets: Vec<u32> = elf
        .sections
        .iter()
        .filter(|s| s.is_reloc())
        .map(|s| s.info)
        .collect();
    targets.sort_unstable();
    for run in targets.chunk_by(|a, b| a == b).filter(|run| run.len() > 1) {
        if let Some(t) = elf.sections.get(run[0] as usize) {
            f.push(
                Severity::Note,
                Category::Layout,
                Some(t),
                None,
                format!(
                    "{} relocation sections apply to this section (a layout GNU strip corrupts)",
                    run.len()
                ),
            );
        }
    }
}

fn check_groups(elf: &Elf, f: &mut Findings) {
    let shnum = elf.sections.len() as u32;
    let mut owner: FastMap<u32, usize> = FastMap::default();
    let mut shared: Vec<(u32, usize, usize)> = Vec::new();
    for g in elf.sections.iter().filter(|s| s.sh_type == elf::SHT_GROUP) {
        let (_, members) = match elf.group(g) {
            Ok(x) => x,
            Err(e) => {
                f.error(Category::Invalid, Some(g), Some(e.offset), e.reason);
                continue;
            }
        };
        for m in members {
            if m == 0 || m >= shnum {
                f.error(
                    Category::Invalid,
                    Some(g),
                    Some(g.offset),
                    format!("group member {m} is not a section"),
                );
                continue;
            }
            if let Some(&first) = owner.get(&m) {
                shared.push((m, first, g.index()));
            } else {
                owner.insert(m, g.index());
            }
        }
    }
    let mut reported: Vec<u32> = Vec::new();
    for (m, _, _) in &shared {
        if reported.contains(m) {
            continue;
        }
        reported.push(*m);
        let groups = 1 + shared.iter().filter(|(x, _, _)| x == m).count();
        let s = &elf.sections[*m as usize];
        f.push(
            Severity::Note,
            Category::Layout,
            Some(s),
            None,
            format!("member of {groups} section groups (a layout GNU strip corrupts)"),
        );
    }
}

fn check_signature(signature: Option<&Signature>, target: &Target, f: &mut Findings) {
    match signature {
        Some(sig) => {
            if let Some(p) = &sig.problem {
                f.error(
                    Category::Invalid,
                    None,
                    Some(sig.elf_len as u64),
                    format!("damaged signature trailer: {p}"),
                );
            }
        }
        None => {
            if let Some(facts) = &target.facts {
                if facts.module_sig_force {
                    f.error(Category::KernelMismatch, None, None, "module is unsigned and the kernel enforces signatures (CONFIG_MODULE_SIG_FORCE): the load will be refused".into());
                } else if facts.module_sig {
                    f.warn(Category::KernelMismatch, None, None, "module is unsigned; the kernel checks signatures and will taint itself on load".into());
                }
            }
        }
    }
}

/// A second, independent parser (goblin) must see the same section table and symbol count.
pub fn cross_check_with_goblin(elf: &Elf, out: &mut Vec<Finding>) {
    let mut f = Findings(out);
    let g = match goblin::elf::Elf::parse(elf.data) {
        Ok(g) => g,
        Err(e) => {
            f.warn(
                Category::ParserDisagreement,
                None,
                None,
                format!("goblin cannot parse what dkwrap's reader accepted: {e}"),
            );
            return;
        }
    };
    if g.section_headers.len() != elf.sections.len() {
        f.error(
            Category::ParserDisagreement,
            None,
            None,
            format!(
                "goblin sees {} sections, dkwrap {}",
                g.section_headers.len(),
                elf.sections.len()
            ),
        );
        return;
    }
    for (s, gs) in elf.sections.iter().zip(&g.section_headers) {
        let gname = g.shdr_strtab.get_at(gs.sh_name).unwrap_or("");
        if gname.as_bytes() != s.name()
            || gs.sh_type != s.sh_type
            || gs.sh_offset != s.offset
            || gs.sh_size != s.size
            || gs.sh_link != s.link
            || gs.sh_info != s.info
        {
            f.error(
                Category::ParserDisagreement,
                Some(s),
                None,
                format!(
                    "goblin reads this section header as {gname:?} type {} offset {:#x} size {}",
                    gs.sh_type, gs.sh_offset, gs.sh_size
                ),
            );
        }
    }
    if let Ok(Some(t)) = elf.symbols() {
        if g.syms.len() != t.len() {
            f.error(
                Category::ParserDisagreement,
                None,
                None,
                format!("goblin sees {} symbols, dkwrap {}", g.syms.len(), t.len()),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// The equivalence proof.

/// Relocation sections compared between two hand-backs of the symbol tables' pages.
const RELOC_SECTIONS_PER_TABLE_RELEASE: usize = 4096;

/// Relocations of one large section compared (or checked) between two hand-backs (192 KiB
/// of RELA entries).
const RELOCS_PER_RELEASE: usize = 8192;

/// Marks a section or symbol with no counterpart.
const UNMATCHED: u32 = u32::MAX;

/// For each section of the stripped file, the original's section it is a copy of
/// ([`UNMATCHED`] when none). Sections are matched by name and order of appearance: the
/// k-th section called `.text` in one file is the k-th `.text` in the other.
///
/// Strip tools keep the order of the sections they keep, so a single walk over both tables
/// finds this without a map; only a file in another order pays for maps of both tables.
fn match_sections(stripped: &Elf, original: &Elf) -> Vec<u32> {
    let mut matches = Vec::with_capacity(stripped.sections.len());
    let mut next = 0usize;
    for n in &stripped.sections {
        let found = original.sections[next.min(original.sections.len())..]
            .iter()
            .position(|o| o.name() == n.name());
        match found {
            // Only debug sections may be skipped over: anything else would make the walk
            // differ from matching by (name, occurrence).
            Some(k)
                if original.sections[next..next + k]
                    .iter()
                    .all(|o| original.is_debug_or_debug_relocs(o)) =>
            {
                matches.push((next + k) as u32);
                next += k + 1;
            }
            _ => return match_sections_by_key(stripped, original),
        }
    }
    matches
}

/// [`match_sections`] for files whose sections are in different orders.
fn match_sections_by_key(stripped: &Elf, original: &Elf) -> Vec<u32> {
    let keys = |elf: &Elf| -> Vec<u32> {
        let mut seen: FastMap<&[u8], u32> = FastMap::default();
        elf.sections
            .iter()
            .map(|s| {
                let n = seen.entry(s.name()).or_insert(0);
                *n += 1;
                *n - 1
            })
            .collect()
    };
    let old_occurrence = keys(original);
    let by_key: FastMap<(&[u8], u32), u32> = original
        .sections
        .iter()
        .zip(old_occurrence)
        .enumerate()
        .map(|(i, (s, k))| ((s.name(), k), i as u32))
        .collect();
    let new_occurrence = keys(stripped);
    stripped
        .sections
        .iter()
        .zip(new_occurrence)
        .map(|(s, k)| by_key.get(&(s.name(), k)).copied().unwrap_or(UNMATCHED))
        .collect()
}

/// What a symbol means, independent of its index: name, type, binding, defining section and
/// value. Sections are named by their index in the original (see
/// [`ProofSide::section_id`]), which also stands for a section symbol's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct SymbolMeaning<'a> {
    name: &'a [u8],
    kind: u8,
    bind: u8,
    section: Option<u32>,
    special_shndx: u32,
    value: u64,
}

/// A relocation's target in words: `name+addend` (a section symbol by its section's name),
/// with the defining section of a named symbol.
fn describe(m: &SymbolMeaning, addend: i64, side: &ProofSide) -> String {
    let section_name = m
        .section
        .map(|id| String::from_utf8_lossy(side.section_name(id)).into_owned());
    if m.kind == elf::STT_SECTION {
        let total = m.value as i64 + addend;
        format!("`{}{total:+#x}`", section_name.unwrap_or_default())
    } else {
        let name = String::from_utf8_lossy(m.name);
        match section_name {
            Some(s) => format!("`{name}{addend:+#x}` ({s})"),
            None => format!("`{name}{addend:+#x}`"),
        }
    }
}

/// (target section id, offset, type, addend, symbol-meaning hash, symbol index): sorted, the
/// first five decide the order; the index lets equal hashes be confirmed by comparing the
/// meanings themselves.
type RelocMeaning = (u32, u64, u32, i64, u64, u32);

struct ProofSide<'e, 'a> {
    elf: &'e Elf<'a>,
    /// For the stripped file: the original's index of each section ([`match_sections`]);
    /// `None` for the original itself, whose sections are named by their own index.
    matches: Option<Vec<u32>>,
    symbols: SymbolTable<'a>,
    /// Hash of each symbol's meaning, by index; computed only when relocations have to be
    /// compared as sorted multisets.
    sym_hash: std::cell::OnceCell<Vec<u64>>,
}

impl<'e, 'a> ProofSide<'e, 'a> {
    fn new(elf: &'e Elf<'a>, matches: Option<Vec<u32>>) -> std::result::Result<Self, String> {
        let symbols = elf
            .symbols()
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "no symbol table".to_string())?;
        Ok(ProofSide {
            elf,
            matches,
            symbols,
            sym_hash: std::cell::OnceCell::new(),
        })
    }

    /// The name both sides agree on for section `index`: the original's index, or, for a
    /// section only the stripped file has, an id no original section has.
    fn section_id(&self, index: usize) -> u32 {
        match &self.matches {
            None => index as u32,
            Some(m) => match m.get(index).copied() {
                Some(UNMATCHED) | None => UNMATCHED - index as u32,
                Some(old) => old,
            },
        }
    }

    /// The name of the section `id` names ([`ProofSide::section_id`]).
    fn section_name(&self, id: u32) -> &'a [u8] {
        let index = match &self.matches {
            None => Some(id as usize),
            Some(m) => m.iter().position(|&o| o == id).or_else(|| {
                (id > UNMATCHED - self.elf.sections.len() as u32).then(|| (UNMATCHED - id) as usize)
            }),
        };
        index
            .and_then(|i| self.elf.sections.get(i))
            .map_or(&b""[..], |s| s.name())
    }

    fn meaning(&self, sym: &Symbol<'a>) -> SymbolMeaning<'a> {
        let section = sym
            .section()
            .filter(|&i| i < self.elf.sections.len())
            .map(|i| self.section_id(i));
        SymbolMeaning {
            // A section symbol's own name is not used (its section says what it means).
            name: if sym.kind() == elf::STT_SECTION {
                b""
            } else {
                sym.name
            },
            kind: sym.kind(),
            bind: sym.bind(),
            section,
            special_shndx: if section.is_none() { sym.shndx } else { 0 },
            value: sym.value,
        }
    }

    fn sym_hashes(&self) -> &[u64] {
        self.sym_hash.get_or_init(|| {
            (0..self.symbols.len() as u32)
                .map(|i| {
                    let mut h = FastHasher::default();
                    self.symbols.get(i).map(|s| self.meaning(&s)).hash(&mut h);
                    h.finish()
                })
                .collect()
        })
    }

    /// The relocation sections that apply to allocated sections, as (target id, section
    /// index), grouped by target id and in file order within a target.
    fn rel_sections(&self) -> Vec<(u32, u32)> {
        let mut out: Vec<(u32, u32)> = self
            .elf
            .sections
            .iter()
            .filter(|s| s.is_reloc())
            .filter_map(|s| {
                let t = self.elf.sections.get(s.info as usize)?;
                t.is_alloc().then(|| (self.section_id(t.index()), s.idx))
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Every relocation of `sections` (all applying to target `id`), sorted: the multiset the
    /// proof falls back to when the two files list relocations in different orders.
    fn relocations_of(&self, id: u32, sections: &[(u32, u32)]) -> Vec<RelocMeaning> {
        let hashes = self.sym_hashes();
        let mut out = Vec::new();
        for &(_, i) in sections {
            if let Ok(relocs) = self.elf.relocations(&self.elf.sections[i as usize]) {
                out.extend(relocs.map(|r| {
                    let h = hashes.get(r.sym as usize).copied().unwrap_or(u64::MAX);
                    (id, r.offset, r.rtype, r.addend, h, r.sym)
                }));
            }
        }
        out.sort_unstable();
        out
    }

    /// The relocations of `sections`, in file order, without collecting them.
    fn stream<'s>(&'s self, sections: &'s [(u32, u32)]) -> impl Iterator<Item = Reloc> + 's {
        sections.iter().flat_map(move |&(_, i)| {
            self.elf
                .relocations(&self.elf.sections[i as usize])
                .into_iter()
                .flatten()
        })
    }

    /// Gives back the pages of these sections once they have been compared.
    fn release(&self, sections: &[(u32, u32)]) {
        for &(_, i) in sections {
            self.elf.release_section(&self.elf.sections[i as usize]);
        }
    }

    /// The relocations applying to section `id`, with full symbol meanings, for reporting
    /// differences in words.
    fn relocations_in_words(&self, id: u32) -> Vec<(Reloc, Option<SymbolMeaning<'a>>)> {
        let mut out = Vec::new();
        for s in self.elf.sections.iter().filter(|s| s.is_reloc()) {
            let Some(target) = self.elf.sections.get(s.info as usize) else {
                continue;
            };
            if self.section_id(target.index()) != id {
                continue;
            }
            if let Ok(relocs) = self.elf.relocations(s) {
                out.extend(
                    relocs.map(|r| (r, self.symbols.get(r.sym).map(|sym| self.meaning(&sym)))),
                );
            }
        }
        out.sort_by_key(|(r, _)| (r.offset, r.rtype));
        out
    }
}

/// Equal relocation lists: same (offset, type, addend, hash) everywhere, and every pair of
/// symbols with equal hashes really means the same (hashes only make the common case fast).
fn same_relocations(
    a: &[RelocMeaning],
    b: &[RelocMeaning],
    old: &ProofSide,
    new: &ProofSide,
    confirmed: &mut [u32],
) -> bool {
    if a.len() != b.len() {
        return false;
    }
    for (x, y) in a.iter().zip(b) {
        if (x.0, x.1, x.2, x.3, x.4) != (y.0, y.1, y.2, y.3, y.4) {
            return false;
        }
        if !same_symbol(x.5, y.5, old, new, confirmed) {
            return false;
        }
    }
    true
}

/// Symbol `a` of the original means what symbol `b` of the stripped file means (a confirmed
/// pair is remembered, so each pair is decoded once).
fn same_symbol(a: u32, b: u32, old: &ProofSide, new: &ProofSide, confirmed: &mut [u32]) -> bool {
    let slot = confirmed.get_mut(a as usize);
    if slot.as_deref() == Some(&b) {
        return true;
    }
    let m_old = old.symbols.get(a).map(|s| old.meaning(&s));
    let m_new = new.symbols.get(b).map(|s| new.meaning(&s));
    if m_old.is_none() || m_old != m_new {
        return false;
    }
    if let Some(slot) = slot {
        *slot = b;
    }
    true
}

/// The same relocations in the same order (what every strip tool keeps): the common case,
/// compared as the entries are read. One relocation section a side is compared as raw
/// entries, which is most of the work on a large module.
fn same_in_order(
    sa: &[(u32, u32)],
    sb: &[(u32, u32)],
    old: &ProofSide,
    new: &ProofSide,
    confirmed: &mut [u32],
) -> bool {
    if let ([(_, ia)], [(_, ib)]) = (sa, sb) {
        let (x, y) = (
            &old.elf.sections[*ia as usize],
            &new.elf.sections[*ib as usize],
        );
        if x.sh_type == y.sh_type && old.elf.endian == new.elf.endian {
            if let (Ok(ra), Ok(rb)) = (old.elf.relocations(x), new.elf.relocations(y)) {
                let en = old.elf.endian;
                let (da, db) = (ra.bytes(), rb.bytes());
                if da.len() != db.len() {
                    return false;
                }
                let es = ra.entry_size();
                // A large section is handed back as it is read.
                let chunk = RELOCS_PER_RELEASE * es;
                for (ca, cb) in da.chunks(chunk).zip(db.chunks(chunk)) {
                    for (ea, eb) in ca.chunks_exact(es).zip(cb.chunks_exact(es)) {
                        // Offset and addend as bytes; the info word decoded for type and symbol.
                        if ea[..8] != eb[..8] || ea[16..] != eb[16..] {
                            return false;
                        }
                        let ia = en.u64(elf::array(ea, 8).unwrap_or_default());
                        let ib = en.u64(elf::array(eb, 8).unwrap_or_default());
                        if ia as u32 != ib as u32
                            || !same_symbol(
                                (ia >> 32) as u32,
                                (ib >> 32) as u32,
                                old,
                                new,
                                confirmed,
                            )
                        {
                            return false;
                        }
                    }
                    // Handing back the mapping also drops the symbol table pages read.
                    old.elf.release_slice(ca);
                    new.elf.release_slice(cb);
                }
                return true;
            }
        }
    }
    let mut ia = old.stream(sa);
    let mut ib = new.stream(sb);
    loop {
        match (ia.next(), ib.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) => {
                if (x.offset, x.rtype, x.addend) != (y.offset, y.rtype, y.addend)
                    || !same_symbol(x.sym, y.sym, old, new, confirmed)
                {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// Proves `stripped` is `original` minus debug information. `debug_may_remain` is for the
/// skip strategy, whose output keeps everything.
pub fn check_equivalence(
    stripped: &Elf,
    original: &Elf,
    debug_may_remain: bool,
    out: &mut Vec<Finding>,
) {
    let mut f = Findings(out);
    let ne = Category::NotEquivalent;
    let matches = match_sections(stripped, original);
    stripped.release_all();
    original.release_all();
    let mut old_to_new = vec![UNMATCHED; original.sections.len()];
    for (n, &o) in matches.iter().enumerate() {
        if let Some(slot) = old_to_new.get_mut(o as usize) {
            *slot = n as u32;
        }
    }
    let (new, old) = match (
        ProofSide::new(stripped, Some(matches)),
        ProofSide::new(original, None),
    ) {
        (Ok(n), Ok(o)) => (n, o),
        (Err(e), _) => {
            return f.error(
                ne,
                None,
                None,
                format!("stripped file has no usable symbol table: {e}"),
            )
        }
        (_, Err(e)) => {
            return f.error(
                ne,
                None,
                None,
                format!("original has no usable symbol table: {e}"),
            )
        }
    };
    if stripped.header.machine != original.header.machine || stripped.endian != original.endian {
        f.error(
            ne,
            None,
            Some(18),
            "machine or byte order differs from the original".into(),
        );
    }

    // Allocated sections: same name, type, flags, size, alignment and bytes.
    let kept_by_bytes = |s: &Section| {
        s.is_alloc()
            || matches!(
                s.name(),
                b".modinfo" | b"__versions" | b".gnu.linkonce.this_module" | b".BTF" | b".comment"
            )
            || s.sh_type == elf::SHT_NOTE
    };
    for s in original.sections.iter().filter(|s| kept_by_bytes(s)) {
        let Some(n) = stripped.sections.get(old_to_new[s.index()] as usize) else {
            f.error(
                ne,
                Some(s),
                None,
                "section missing from the stripped file".into(),
            );
            continue;
        };
        let (align_old, align_new) = (original.section_addralign(s), stripped.section_addralign(n));
        if (n.sh_type, n.flags, n.size, align_new) != (s.sh_type, s.flags, s.size, align_old) {
            f.error(
                ne,
                Some(n),
                None,
                format!(
                    "type/flags/size/alignment changed: was {}/{:#x}/{}/{}, now {}/{:#x}/{}/{}",
                    s.sh_type, s.flags, s.size, align_old, n.sh_type, n.flags, n.size, align_new
                ),
            );
            continue;
        }
        if !s.is_nobits() {
            match (stripped.section_data(n), original.section_data(s)) {
                (Ok(a), Ok(b)) if a != b => {
                    let at = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(0);
                    f.error(
                        ne,
                        Some(n),
                        Some(n.offset + at as u64),
                        format!(
                            "contents differ from the original at {}+{at:#x}",
                            n.display_name()
                        ),
                    );
                }
                (Err(e), _) | (_, Err(e)) => f.error(ne, Some(n), Some(e.offset), e.reason),
                _ => {}
            }
            stripped.release_section(n);
            original.release_section(s);
        }
    }
    // End of a pass: hand back what is gathered (and the names the pass compared).
    stripped.release_all();
    original.release_all();
    for n in stripped.sections.iter().filter(|s| s.is_alloc()) {
        if new.section_id(n.index()) >= original.sections.len() as u32 {
            f.error(
                ne,
                Some(n),
                None,
                "allocated section not in the original".into(),
            );
        }
    }

    // Relocations of allocated sections, by meaning; both sides name a target section by
    // the original's index.
    let old_rels = old.rel_sections();
    let new_rels = new.rel_sections();
    // confirmed[old symbol] = the new symbol whose meaning was found equal to it.
    let mut confirmed = vec![UNMATCHED; old.symbols.len()];
    let mut differing: Vec<u32> = Vec::new();
    let (mut a, mut b) = (&old_rels[..], &new_rels[..]);
    let mut since_release = 0;
    while !a.is_empty() || !b.is_empty() {
        // The next target id in either list, and each list's relocation sections for it.
        let id = match (a.first(), b.first()) {
            (Some(x), Some(y)) => x.0.min(y.0),
            (Some(x), None) => x.0,
            (None, Some(y)) => y.0,
            (None, None) => break,
        };
        let na = a.iter().take_while(|r| r.0 == id).count();
        let nb = b.iter().take_while(|r| r.0 == id).count();
        let (sa, sb) = (&a[..na], &b[..nb]);
        // Otherwise compare them as sorted multisets.
        if !same_in_order(sa, sb, &old, &new, &mut confirmed)
            && !same_relocations(
                &old.relocations_of(id, sa),
                &new.relocations_of(id, sb),
                &old,
                &new,
                &mut confirmed,
            )
        {
            differing.push(id);
        }
        old.release(sa);
        new.release(sb);
        // The symbols they used were read at random: hand those pages back now and then.
        since_release += sa.len() + sb.len();
        if since_release >= RELOC_SECTIONS_PER_TABLE_RELEASE {
            since_release = 0;
            old.elf.release_all();
            new.elf.release_all();
        }
        a = &a[na..];
        b = &b[nb..];
    }
    old.elf.release_all();
    new.elf.release_all();
    for id in differing {
        let name = old
            .elf
            .sections
            .get(id as usize)
            .map(|s| s.name())
            .or_else(|| {
                new.elf
                    .sections
                    .get((UNMATCHED - id) as usize)
                    .map(|s| s.name())
            })
            .unwrap_or_default();
        let name = String::from_utf8_lossy(name);
        let was = old.relocations_in_words(id);
        let now = new.relocations_in_words(id);
        let mut shown = 0;
        let mut changed = 0usize;
        for i in 0..was.len().max(now.len()) {
            let (w, n) = (was.get(i), now.get(i));
            let same = match (w, n) {
                (Some(w), Some(n)) => {
                    w.0.offset == n.0.offset
                        && w.0.rtype == n.0.rtype
                        && w.0.addend == n.0.addend
                        && w.1 == n.1
                }
                _ => false,
            };
            if same {
                continue;
            }
            changed += 1;
            if shown < 5 {
                shown += 1;
                let text = match (w, n) {
                    (Some(w), Some(n)) => format!(
                        "`{name}+{:#x}`: was {}, now {}",
                        w.0.offset,
                        w.1.as_ref()
                            .map_or("a symbol out of range".into(), |m| describe(
                                m, w.0.addend, &old
                            )),
                        n.1.as_ref().map_or(
                            format!("symbol index {} past the end of the symbol table", n.0.sym),
                            |m| describe(m, n.0.addend, &new)
                        ),
                    ),
                    (Some(w), None) => format!("`{name}+{:#x}`: relocation lost", w.0.offset),
                    (None, Some(n)) => format!("`{name}+{:#x}`: relocation added", n.0.offset),
                    (None, None) => continue,
                };
                // The place is in the text (`.rodata+0x100`); the offset field means file offsets.
                f.error(ne, None, None, text);
            }
        }
        f.error(
            ne,
            None,
            None,
            format!(
                "{changed} of {} relocations applying to {name} changed meaning",
                was.len()
            ),
        );
    }

    // Named symbols (not files, not sections, not debug).
    // Strip tools keep the order of the symbols they keep: compare as read, and sort only
    // when that fails.
    let in_order = named_symbols_in_order(&old).eq(named_symbols_in_order(&new));
    old.elf.release_all();
    new.elf.release_all();
    let (a, b) = if in_order {
        (Vec::new(), Vec::new())
    } else {
        (named_symbols(&old), named_symbols(&new))
    };
    if a != b {
        let lost: Vec<_> = a
            .iter()
            .filter(|x| !b.contains(x))
            .take(3)
            .map(|x| String::from_utf8_lossy(x.0.name).into_owned())
            .collect();
        let added: Vec<_> = b
            .iter()
            .filter(|x| !a.contains(x))
            .take(3)
            .map(|x| String::from_utf8_lossy(x.0.name).into_owned())
            .collect();
        f.error(ne, None, None, format!("named symbols differ ({} before, {} after); changed or lost: {lost:?}; changed or added: {added:?}", a.len(), b.len()));
    }

    // Section groups: same signature, flags and (non-debug) members.
    if groups(&old) != groups(&new) {
        f.error(
            ne,
            None,
            None,
            "section groups (signature, flags or members) differ from the original".into(),
        );
    }

    if !debug_may_remain {
        for s in stripped.sections.iter() {
            if stripped.is_debug_or_debug_relocs(s) {
                f.error(
                    ne,
                    Some(s),
                    None,
                    "debug section left in the stripped file".into(),
                );
            }
        }
    }
    stripped.release_all();
    original.release_all();
}

type NamedSymbol<'a> = (SymbolMeaning<'a>, u64, u8);

/// The named symbols (not files, sections or debug) in symbol-table order.
fn named_symbols_in_order<'s, 'a>(
    side: &'s ProofSide<'_, 'a>,
) -> impl Iterator<Item = NamedSymbol<'a>> + 's {
    let elf = side.elf;
    elf.symbols_in_order(&side.symbols, 1)
        .filter_map(|(_, s)| s)
        .filter(|s| !s.name.is_empty() && s.kind() != elf::STT_FILE && s.kind() != elf::STT_SECTION)
        .filter(|s| {
            s.section()
                .and_then(|i| elf.sections.get(i))
                .is_none_or(|sec| !sec.is_debug())
        })
        .map(|s| (side.meaning(&s), s.size, s.other))
}

/// The named symbols as a sorted multiset (when the two tables order them differently).
fn named_symbols<'a>(side: &ProofSide<'_, 'a>) -> Vec<NamedSymbol<'a>> {
    let mut v: Vec<NamedSymbol<'a>> = named_symbols_in_order(side).collect();
    v.sort();
    v
}

type GroupMeaning<'a> = (&'a [u8], u32, Vec<u32>);

fn groups<'a>(side: &ProofSide<'_, 'a>) -> Vec<GroupMeaning<'a>> {
    let elf = side.elf;
    let mut v = Vec::new();
    for g in elf.sections.iter().filter(|s| s.sh_type == elf::SHT_GROUP) {
        let Ok((flags, members)) = elf.group(g) else {
            continue;
        };
        let sig = side.symbols.get(g.info).map_or(&b""[..], |s| s.name);
        let mut m: Vec<u32> = members
            .iter()
            .filter_map(|&i| elf.sections.get(i as usize))
            .filter(|s| !elf.is_debug_or_debug_relocs(s))
            .map(|s| side.section_id(s.index()))
            .collect();
        m.sort();
        if !m.is_empty() {
            v.push((sig, flags, m));
        }
    }
    v.sort();
    v
}

/// Verifies one file; with `against`, also proves it equivalent to that original.
pub fn verify_file(
    path: &Path,
    target: &Target,
    against: Option<&Path>,
    with_goblin: bool,
) -> Result<Report> {
    let mut report = Report::new(path);
    let module = ModuleFile::open(path)?;
    report.compression = module.compression.map(|c| c.name().to_string());
    report.signed = module.signature.is_some();
    let elf = match module.elf_releasing() {
        Ok(e) => e,
        Err(e) => {
            report.findings.push(Finding {
                severity: Severity::Error,
                category: Category::Invalid,
                section: None,
                offset: None,
                message: e.to_string(),
            });
            return Ok(report);
        }
    };
    report.machine = Some(elf::machine_name(elf.machine()).to_string());
    check_module(
        &elf,
        module.signature.as_ref(),
        target,
        &mut report.findings,
    );
    if with_goblin {
        cross_check_with_goblin(&elf, &mut report.findings);
    }
    if let Some(orig_path) = against {
        report.against = Some(orig_path.to_path_buf());
        let original = ModuleFile::open(orig_path)?;
        let orig_elf = original.elf_releasing()?;
        check_equivalence(&elf, &orig_elf, false, &mut report.findings);
    }
    Ok(report)
}

/// Builds the target description from the command-line kernel arguments.
pub fn target_from_args(
    kernel: &crate::cli::KernelArgs,
    this_module_size: Option<u64>,
    reference: Option<&Path>,
) -> Result<Target> {
    let mut target = Target {
        this_module_size,
        ..Target::default()
    };
    if kernel.given() {
        let (facts, release) = crate::detect::detect(&kernel.selector())?;
        target.facts = Some(facts);
        target.release = release;
    }
    if let Some(r) = reference {
        let m = ModuleFile::open(r)?;
        let e = m.elf()?;
        target.this_module_size = e
            .section_by_name(".gnu.linkonce.this_module")
            .map(|s| s.size);
    }
    Ok(target)
}

pub fn run(args: &VerifyArgs) -> Result<i32> {
    let target = target_from_args(
        &args.kernel,
        args.this_module_size,
        args.reference.as_deref(),
    )?;
    let mut reports = Vec::new();
    let mut worst = exit::OK;
    for file in &args.files {
        let report = match verify_file(file, &target, args.against.as_deref(), true)
            .and_then(|r| with_signature_check(r, args.cert.as_deref()))
        {
            Ok(r) => r,
            Err(e) => {
                if !args.json {
                    eprintln!("dkwrap: error: {}", crate::output::escape(&e.to_string()));
                }
                worst = worst.max(e.exit_code());
                let mut r = Report::new(file);
                r.findings.push(Finding {
                    severity: Severity::Error,
                    category: Category::Invalid,
                    section: None,
                    offset: None,
                    message: e.to_string(),
                });
                if args.json {
                    reports.push(r);
                }
                continue;
            }
        };
        worst = pick_worst(worst, report.exit_code());
        if !args.json {
            print_report(&report);
        }
        reports.push(report);
    }
    if args.json {
        crate::output::print_json(&reports)?;
    }
    Ok(worst)
}

/// `--cert`: the appended signature checked with openssl (see [`crate::sign`]).
fn with_signature_check(mut report: Report, cert: Option<&Path>) -> Result<Report> {
    let Some(cert) = cert else {
        return Ok(report);
    };
    let verdict = crate::sign::check_signature(&report.file, cert)?;
    let (severity, message) = match verdict {
        crate::sign::SignatureVerdict::Valid => (
            Severity::Note,
            format!("signature valid with {}", cert.display()),
        ),
        crate::sign::SignatureVerdict::Unsigned => (
            Severity::Error,
            format!("not signed (--cert {} asks for a signature)", cert.display()),
        ),
        crate::sign::SignatureVerdict::Invalid(why) => (
            Severity::Error,
            format!(
                "signature does not verify with {}: the module's bytes are not the ones that were signed (signed before it was stripped?): {why}",
                cert.display()
            ),
        ),
    };
    report.findings.push(Finding {
        severity,
        category: Category::Invalid,
        section: None,
        offset: None,
        message,
    });
    Ok(report)
}

/// Several files: the most serious code wins (unreadable over not-equivalent over invalid...).
fn pick_worst(a: i32, b: i32) -> i32 {
    let rank = |c: i32| match c {
        exit::OK => 0,
        exit::KERNEL_MISMATCH => 1,
        exit::INVALID_MODULE => 2,
        exit::NOT_EQUIVALENT => 3,
        _ => 4,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn print_report(r: &Report) {
    let esc = crate::output::escape;
    let file = esc(&r.file.display().to_string());
    for f in &r.findings {
        let sev = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        let mut place = Vec::new();
        if let Some(s) = &f.section {
            place.push(format!("section {}", esc(s)));
        }
        if let Some(o) = f.offset {
            place.push(format!("offset {o:#x}"));
        }
        let place = if place.is_empty() {
            String::new()
        } else {
            format!("{}: ", place.join(", "))
        };
        println!("{file}: {sev}: {place}{}", esc(&f.message));
    }
    let errors = r.errors().count();
    let warnings = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let what = if r.against.is_some() {
        "module and equivalence proof"
    } else {
        "module"
    };
    println!(
        "{file}: {} ({what}; {errors} errors, {warnings} warnings{}{})",
        if errors == 0 { "OK" } else { "FAILED" },
        if r.signed { ", signed" } else { ", unsigned" },
        r.machine
            .as_deref()
            .map(|m| format!(", {m}"))
            .unwrap_or_default()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/modules")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The k-th section called `name` in `elf`, for section `index`.
    fn occurrence(elf: &Elf, index: usize) -> usize {
        let name = elf.sections[index].name();
        elf.sections[..index]
            .iter()
            .filter(|s| s.name() == name)
            .count()
    }

    #[test]
    fn sections_match_in_order_past_removed_debug_sections() {
        let data = fixture("modeset-like-thinlto.ko");
        let original = Elf::parse(&data).unwrap();
        let mut stripped = Elf::parse(&data).unwrap();
        stripped
            .sections
            .retain(|s| !original.is_debug_or_debug_relocs(s));
        assert!(stripped.sections.len() < original.sections.len());
        let matches = match_sections(&stripped, &original);
        let expected: Vec<u32> = stripped.sections.iter().map(|s| s.idx).collect();
        assert_eq!(matches, expected);
    }

    #[test]
    fn sections_in_another_order_match_by_name_and_occurrence() {
        // 10 relocation sections named .rela.data apply to .data in this module.
        let data = fixture("modeset-like-thinlto.ko");
        let original = Elf::parse(&data).unwrap();
        let mut stripped = Elf::parse(&data).unwrap();
        stripped.sections.reverse();
        let matches = match_sections(&stripped, &original);
        let mut seen = vec![false; original.sections.len()];
        for (n, &o) in matches.iter().enumerate() {
            let o = o as usize;
            assert_eq!(original.sections[o].name(), stripped.sections[n].name());
            assert_eq!(occurrence(&original, o), occurrence(&stripped, n));
            assert!(!seen[o], "section {o} matched twice");
            seen[o] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn a_missing_section_that_is_not_debug_is_not_walked_over() {
        let data = fixture("modeset-like-thinlto.ko");
        let original = Elf::parse(&data).unwrap();
        let mut stripped = Elf::parse(&data).unwrap();
        let comment = original.section_by_name(".comment").unwrap().idx;
        stripped.sections.retain(|s| s.idx != comment);
        let matches = match_sections(&stripped, &original);
        let expected: Vec<u32> = stripped.sections.iter().map(|s| s.idx).collect();
        assert_eq!(matches, expected);
        assert!(!matches.contains(&comment));
    }
}
