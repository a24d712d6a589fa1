//! The checks the kernel's module loader makes (kernel/module/main.c `elf_validity_check`,
//! `find_module_sections`, `simplify_symbols`, `apply_relocations`), on one parsed module.

use crate::elf::{self, Elf, Section, SymbolTable, RELOCS_PER_RELEASE};
use crate::fasthash::FastMap;
use crate::finding::{Category, Finding, Findings, Severity};
use crate::kconfig::Arch;
use crate::modfile::Signature;

use super::Expectations;

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
    target: &Expectations,
    out: &mut Vec<Finding>,
) {
    let mut f = Findings(out);
    check_identity(elf, target, &mut f);
    check_section_table(elf, &mut f);
    let symbols = the_symbol_table(elf, &mut f);
    if let Some(t) = &symbols {
        check_symbols(elf, t, &mut f);
    }
    check_this_module(elf, target, &mut f);
    check_modinfo(elf, target, &mut f);
    check_kernel_sections(elf, target, &mut f);
    if let Some(t) = &symbols {
        check_relocations(elf, t, &mut f);
        super::sections::check_relocation_targets(elf, t, &mut f);
        super::symbols::check_resolution(elf, t, target, &mut f);
    }
    super::sections::check_loader_sections(elf, symbols.as_ref(), target, &mut f);
    check_groups(elf, &mut f);
    check_signature(signature, target, &mut f);
    elf.release_all();
}

/// ELF identity: a relocatable 64-bit object for the kernel's machine.
fn check_identity(elf: &Elf, target: &Expectations, f: &mut Findings) {
    let h = &elf.header;
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
    if let Some(arch) = target.facts().map(|t| t.arch) {
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
}

/// Every section inside the file, every link a real section.
fn check_section_table(elf: &Elf, f: &mut Findings) {
    let len = elf.data.len() as u64;
    let shnum = elf.sections.len();
    if shnum >= elf::SHN_LORESERVE as usize && !elf.extended_numbering {
        f.error(
            Category::Invalid,
            None,
            Some(60),
            format!("{shnum} sections without extended numbering"),
        );
    }
    for s in &elf.sections[1..] {
        if s.sh_type == elf::SHT_NULL && s.is_alloc() {
            // elf_validity_check() skips SHT_NULL, move_module() copies it all the same.
            f.warn(
                Category::Invalid,
                Some(s),
                Some(elf.section_header_offset(s.index()) + 4),
                format!(
                    "type SHT_NULL with SHF_ALLOC: the loader does not check its offset but \
                     copies its {} bytes into the module's memory",
                    s.size
                ),
            );
        }
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
}

/// Exactly one symbol table with a valid string table.
fn the_symbol_table<'a>(elf: &Elf<'a>, f: &mut Findings) -> Option<SymbolTable<'a>> {
    let symtabs: Vec<&Section> = elf.symtab_sections().collect();
    match symtabs.len() {
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
    }
}

/// `__versions` and `.BTF`, as the kernel's configuration requires them.
fn check_kernel_sections(elf: &Elf, target: &Expectations, f: &mut Findings) {
    if let Some(facts) = target.facts() {
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

fn check_this_module(elf: &Elf, target: &Expectations, f: &mut Findings) {
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

fn check_modinfo(elf: &Elf, target: &Expectations, f: &mut Findings) {
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
    if let Some(want) = target.release() {
        if release != want {
            f.error(
                Category::KernelMismatch,
                Some(sec),
                None,
                format!("vermagic release {release:?} but the kernel is {want:?}"),
            );
        }
    }
    if let Some(facts) = target.facts() {
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
    // Counted in one pass (a quadratic search took 22 s on 250,000 sections).
    let mut extra_groups: FastMap<u32, usize> = FastMap::default();
    let mut in_order: Vec<u32> = Vec::new();
    for (m, _, _) in &shared {
        let n = extra_groups.entry(*m).or_insert(0);
        if *n == 0 {
            in_order.push(*m);
        }
        *n += 1;
    }
    for m in in_order {
        let groups = 1 + extra_groups.get(&m).copied().unwrap_or(0);
        let s = &elf.sections[m as usize];
        f.push(
            Severity::Note,
            Category::Layout,
            Some(s),
            None,
            format!("member of {groups} section groups (a layout GNU strip corrupts)"),
        );
    }
}

fn check_signature(signature: Option<&Signature>, target: &Expectations, f: &mut Findings) {
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
            if let Some(facts) = target.facts() {
                if facts.module_sig_force {
                    f.error(Category::KernelMismatch, None, None, "module is unsigned and the kernel enforces signatures (CONFIG_MODULE_SIG_FORCE): the load will be refused".into());
                } else if facts.module_sig {
                    f.warn(Category::KernelMismatch, None, None, "module is unsigned; the kernel checks signatures and will taint itself on load".into());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An x86-64 ELF with `members` empty allocated sections, each in two COMDAT groups
    /// (extended numbering when that makes more than 65279 sections).
    fn shared_group_members(members: u32) -> Vec<u8> {
        let groups = members - 1;
        let shnum = 2 + members + groups;
        let names = b"\0.shstrtab\0.text\0.group\0";
        let group_data_at = 64 + names.len();
        let shoff = (group_data_at + groups as usize * 12).div_ceil(8) * 8;
        let mut data = vec![0u8; shoff + shnum as usize * 64];
        data[..8].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
        let put16 =
            |d: &mut [u8], at: usize, v: u16| d[at..at + 2].copy_from_slice(&v.to_le_bytes());
        let put32 =
            |d: &mut [u8], at: usize, v: u32| d[at..at + 4].copy_from_slice(&v.to_le_bytes());
        let put64 =
            |d: &mut [u8], at: usize, v: u64| d[at..at + 8].copy_from_slice(&v.to_le_bytes());
        put16(&mut data, 16, elf::ET_REL);
        put16(&mut data, 18, 62);
        put32(&mut data, 20, 1);
        put64(&mut data, 40, shoff as u64);
        put16(&mut data, 52, 64);
        put16(&mut data, 58, 64);
        put16(&mut data, 60, 0); // e_shnum in section 0's sh_size
        put16(&mut data, 62, elf::SHN_XINDEX as u16); // e_shstrndx in its sh_link
        data[64..64 + names.len()].copy_from_slice(names);
        let header = |i: u32| shoff + i as usize * 64;
        put64(&mut data, header(0) + 32, shnum as u64);
        put32(&mut data, header(0) + 40, 1);
        let h = header(1);
        put32(&mut data, h, 1);
        put32(&mut data, h + 4, elf::SHT_STRTAB);
        put64(&mut data, h + 24, 64);
        put64(&mut data, h + 32, names.len() as u64);
        for m in 0..members {
            let h = header(2 + m);
            put32(&mut data, h, 11);
            put32(&mut data, h + 4, elf::SHT_PROGBITS);
            put64(&mut data, h + 8, elf::SHF_ALLOC | elf::SHF_GROUP);
            put64(&mut data, h + 24, 64);
        }
        for g in 0..groups {
            let at = group_data_at + g as usize * 12;
            put32(&mut data, at, 1);
            put32(&mut data, at + 4, 2 + g);
            put32(&mut data, at + 8, 3 + g);
            let h = header(2 + members + g);
            put32(&mut data, h, 17);
            put32(&mut data, h + 4, elf::SHT_GROUP);
            put64(&mut data, h + 24, at as u64);
            put64(&mut data, h + 32, 12);
            put64(&mut data, h + 56, 4);
        }
        data
    }

    #[test]
    fn group_checks_on_250000_sections_name_every_shared_member() {
        // (Speed is measured in scripts/bench.sh, not here: the quadratic version of this
        // check took 22 s in release on this input, the linear one well under a second.)
        let data = shared_group_members(125_000);
        let elf = Elf::parse(&data).expect("the synthetic module parses");
        assert_eq!(elf.sections.len(), 250_001);
        let mut out = Vec::new();
        check_groups(&elf, &mut Findings(&mut out));
        // Each member but the first and last is in two groups.
        assert_eq!(out.len(), 124_998);
        assert!(out[0].message.contains("member of 2 section groups"));
    }
}
