//! Loader checks on sections and their contents that `check_module` did not have:
//! one `.modinfo`, W+X sections, `SHN_COMMON` symbols, `.ctors` beside `.init_array`,
//! the extended modversions pair, and (x86-64) relocation targets that are not zero.

use crate::elf::{self, Elf, Section, SymbolTable};
use crate::finding::{Category, Findings};

use super::Expectations;

/// Relocation types whose target arch/x86/kernel/module.c requires to be zero, and width.
fn x86_64_checked_width(rtype: u32) -> Option<usize> {
    match rtype {
        1 | 24 => Some(8),          // R_X86_64_64, R_X86_64_PC64
        2 | 4 | 10 | 11 => Some(4), // PC32, PLT32, 32, 32S
        _ => None,
    }
}

/// Section-level checks of kernel/module/main.c (`elf_validity_check`,
/// `module_enforce_rwx_sections`, `find_module_sections`, `simplify_symbols`).
pub(crate) fn check_loader_sections(
    elf: &Elf,
    symbols: Option<&SymbolTable>,
    target: &Expectations,
    f: &mut Findings,
) {
    check_one_modinfo(elf, f);
    check_write_exec(elf, target, f);
    if let Some(t) = symbols {
        check_common_symbols(elf, t, f);
    }
    check_ctors(elf, f);
    check_extended_versions(elf, f);
}

fn check_one_modinfo(elf: &Elf, f: &mut Findings) {
    let all: Vec<&Section> = elf
        .sections
        .iter()
        .filter(|s| s.name() == b".modinfo")
        .collect();
    if all.len() > 1 {
        f.error(
            Category::Invalid,
            Some(all[1]),
            None,
            format!(
                "{} .modinfo sections: the loader says `Only one .modinfo section must exist.`",
                all.len()
            ),
        );
    }
}

fn check_write_exec(elf: &Elf, target: &Expectations, f: &mut Findings) {
    let wx = elf::SHF_WRITE | elf::SHF_EXECINSTR;
    // Without a configuration, assume the default of x86-64 and arm64 (always on there).
    let strict = target.facts().is_none_or(|k| k.strict_module_rwx);
    for s in elf.sections.iter().filter(|s| s.flags & wx == wx) {
        let m = format!(
            "section {} (index {}) has invalid WRITE|EXEC flags",
            s.display_name(),
            s.index()
        );
        if strict {
            f.error(
                Category::Invalid,
                Some(s),
                None,
                format!("{m}: refused under CONFIG_STRICT_MODULE_RWX"),
            );
        } else {
            f.warn(Category::Invalid, Some(s), None, m);
        }
    }
}

fn check_common_symbols(elf: &Elf, t: &SymbolTable, f: &mut Findings) {
    let sec = &elf.sections[t.section_index];
    let common: Vec<String> = (1..t.len())
        .filter(|&i| {
            super::symbols::raw_shndx(t, i).is_some_and(|x| u32::from(x) == elf::SHN_COMMON)
        })
        .filter_map(|i| t.get(i as u32))
        .map(|s| s.name().into_owned())
        .collect();
    if let Some(first) = common.first() {
        let more = match common.len() {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
        };
        f.error(Category::Invalid, Some(sec), None, format!("common symbol {first}{more} (SHN_COMMON): the loader says `please compile with -fno-common`"));
    }
}

fn check_ctors(elf: &Elf, f: &mut Findings) {
    let allocated = |name: &str| {
        elf.sections
            .iter()
            .find(|s| s.name() == name.as_bytes() && s.is_alloc())
    };
    if let (Some(ctors), Some(_)) = (allocated(".ctors"), allocated(".init_array")) {
        f.error(
            Category::Invalid,
            Some(ctors),
            None,
            "has both .ctors and .init_array (the loader refuses it under CONFIG_CONSTRUCTORS)"
                .into(),
        );
    }
}

/// 6.13+ extended modversions: one CRC (4 bytes) per NUL-terminated name.
fn check_extended_versions(elf: &Elf, f: &mut Findings) {
    let crcs = elf.section_by_name("__version_ext_crcs");
    let names = elf.section_by_name("__version_ext_names");
    match (crcs, names) {
        (None, None) => {}
        (Some(s), None) | (None, Some(s)) => f.error(
            Category::Invalid,
            Some(s),
            None,
            "extended modversions need both __version_ext_crcs and __version_ext_names".into(),
        ),
        (Some(c), Some(n)) => {
            let Ok(names) = elf.section_data(n) else {
                return;
            };
            let count = names.iter().filter(|&&b| b == 0).count() as u64;
            if c.size % 4 != 0 || c.size / 4 != count {
                f.error(Category::Invalid, Some(c), None, format!("{} bytes of CRCs for {count} names in __version_ext_names: the loader refuses mismatched extended modversions", c.size));
            }
        }
    }
}

/// x86-64: the loader refuses a relocation whose target bytes are not zero
/// ("Invalid relocation target, existing value is nonzero"), in allocated sections.
pub(crate) fn check_relocation_targets(elf: &Elf, _t: &SymbolTable, f: &mut Findings) {
    if elf.header.machine != elf::EM_X86_64 {
        return;
    }
    for s in elf.sections.iter().filter(|s| s.sh_type == elf::SHT_RELA) {
        let Some(target) = elf
            .sections
            .get(s.info as usize)
            .filter(|t| t.is_alloc() && !t.is_nobits())
        else {
            continue;
        };
        let (Ok(bytes), Ok(relocs)) = (elf.section_data(target), elf.relocations(s)) else {
            continue;
        };
        let mut bad = 0usize;
        for (i, r) in relocs.enumerate() {
            let Some(width) = x86_64_checked_width(r.rtype) else {
                continue;
            };
            let at = r.offset as usize;
            let Some(existing) = at.checked_add(width).and_then(|end| bytes.get(at..end)) else {
                continue; // outside the section: check_relocations reports it
            };
            if existing.iter().any(|&b| b != 0) {
                bad += 1;
                if bad <= 5 {
                    f.error(Category::Invalid, Some(target), Some(target.offset + r.offset), format!("relocation {i} of {} (type {}): Invalid relocation target, existing value is nonzero", s.display_name(), r.rtype));
                }
            }
        }
        if bad > 5 {
            f.error(
                Category::Invalid,
                Some(target),
                None,
                format!("and {} more relocations whose target is not zero", bad - 5),
            );
        }
        elf.release_section(s);
    }
}
