//! A module, read for what GNU strip does with it: its section groups, and the layouts
//! `strip::hazards` finds (the ones `dkwrap strip` refuses GNU strip for), each in terms of
//! this file's sections.

use serde::Serialize;

use crate::elf::{self, Elf};
use crate::kconfig::CompilerFamily;
use crate::modfile::ModuleFile;
use crate::strip::hazards;
use crate::toolchain;

/// A section by index and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionRef {
    pub index: u32,
    pub name: String,
}

/// One `SHT_GROUP` section.
#[derive(Debug, Clone, Serialize)]
pub struct GroupInfo {
    /// Section index of the group section (the `[15]` of `invalid entry ... in group [15]`).
    pub index: u32,
    /// The signature symbol's name.
    pub signature: String,
    pub comdat: bool,
    pub members: Vec<SectionRef>,
}

/// A section listed as a member of more than one group.
#[derive(Debug, Clone, Serialize)]
pub struct SharedMember {
    pub section: SectionRef,
    /// The group sections that list it, in file order.
    pub groups: Vec<u32>,
}

/// A section that several relocation sections apply to.
#[derive(Debug, Clone, Serialize)]
pub struct MultiRelocated {
    pub target: SectionRef,
    pub relocation_sections: Vec<SectionRef>,
}

/// What `explain` says about one module.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleReport {
    pub file: String,
    pub machine: String,
    /// The architecture this machine's GNU strip reads.
    pub host: String,
    pub compression: Option<String>,
    pub signed: bool,
    pub sections: usize,
    /// Compilers named in `.comment` ("clang 19.1.7", "gcc 12.2.0").
    pub compilers: Vec<String>,
    /// True when no layout GNU strip corrupts or refuses was found.
    pub gnu_strip_safe: bool,
    /// The reasons `dkwrap strip` would not hand this module to GNU strip.
    pub hazards: Vec<String>,
    pub foreign_architecture: Option<String>,
    pub extended_numbering: bool,
    pub groups: Vec<GroupInfo>,
    pub shared_members: Vec<SharedMember>,
    pub multi_relocated: Vec<MultiRelocated>,
    /// `.data`/`.rodata`/`.bss` carrying `SHF_GROUP`.
    pub grouped_merged: Vec<SectionRef>,
    /// How the layout came about, when dkwrap knows.
    pub cause: Option<String>,
    /// Each strip tool run on a copy (`--try`).
    pub trials: Vec<super::trial::Trial>,
}

const LLD_LINKER_SCRIPT_CAUSE: &str =
    "a ThinLTO kernel builds modules with -fdata-sections, and the kernel's scripts/module.lds \
     (CONFIG_LTO_CLANG) merges `.data.*`, `.rodata.*` and `.bss.*` into one .data, .rodata and \
     .bss when ld.lld -r links the module. Sections that were COMDAT group members (C++ vtables, \
     inline functions' static variables) are merged too: ld.lld keeps every group and points each \
     at the merged section, and keeps one relocation section per input section, all applying to \
     that merged section. The ELF is valid and the kernel loads it; GNU strip (BFD) assumes a \
     section is in at most one group and has at most one relocation section";

fn section_ref(elf: &Elf, index: u32) -> SectionRef {
    SectionRef {
        index,
        name: elf.sections.get(index as usize).map_or_else(
            || "(no such section)".into(),
            |s| s.display_name().into_owned(),
        ),
    }
}

/// Every group section with its signature and members.
pub fn groups(elf: &Elf) -> Vec<GroupInfo> {
    let symbols = elf.symbols().ok().flatten();
    elf.sections
        .iter()
        .filter(|s| s.sh_type == elf::SHT_GROUP)
        .map(|g| {
            let (flags, members) = elf.group(g).unwrap_or((0, Vec::new()));
            let signature = symbols
                .as_ref()
                .and_then(|t| t.get(g.info))
                .map_or_else(|| format!("(symbol {})", g.info), |s| s.name().into_owned());
            GroupInfo {
                index: g.idx,
                signature,
                comdat: flags & 1 != 0,
                members: members.iter().map(|&m| section_ref(elf, m)).collect(),
            }
        })
        .collect()
}

/// Reads one module for `explain`.
pub fn analyse(file: &ModuleFile, display: &str) -> crate::Result<ModuleReport> {
    let elf = file.elf()?;
    let layout = hazards::layout(&elf);
    let refs = |list: &[u32]| {
        list.iter()
            .map(|&i| section_ref(&elf, i))
            .collect::<Vec<_>>()
    };
    let shared: Vec<SharedMember> = layout
        .shared_members
        .iter()
        .map(|(section, groups)| SharedMember {
            section: section_ref(&elf, *section),
            groups: groups.clone(),
        })
        .collect();
    let multi: Vec<MultiRelocated> = layout
        .multi_relocated
        .iter()
        .map(|(target, relocs)| MultiRelocated {
            target: section_ref(&elf, *target),
            relocation_sections: refs(relocs),
        })
        .collect();
    let compilers = toolchain::compilers_in_comment(&elf.comments());
    let clang = compilers.iter().any(|(f, _)| *f == CompilerFamily::Clang);
    let lld_layout = !shared.is_empty() || !multi.is_empty() || !layout.grouped_merged.is_empty();
    let hazards = layout.hazards();
    Ok(ModuleReport {
        file: display.to_string(),
        machine: elf::machine_name(elf.machine()).to_string(),
        host: std::env::consts::ARCH.to_string(),
        foreign_architecture: layout.foreign_machine.map(str::to_string),
        compression: file.compression.map(|c| c.name().to_string()),
        signed: file.signature.is_some(),
        sections: elf.sections.len(),
        compilers: compilers
            .iter()
            .map(|(f, v)| match f {
                CompilerFamily::Clang => format!("clang {v}"),
                CompilerFamily::Gcc => format!("gcc {v}"),
            })
            .collect(),
        gnu_strip_safe: hazards.is_empty(),
        hazards,
        extended_numbering: layout.extended_numbering,
        groups: groups(&elf),
        shared_members: shared,
        multi_relocated: multi,
        grouped_merged: refs(&layout.grouped_merged),
        cause: (lld_layout && clang).then(|| LLD_LINKER_SCRIPT_CAUSE.to_string()),
        trials: Vec::new(),
    })
}

/// What `group [G]` / `invalid entry (0xN)` of a GNU strip message names in this module.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedEntry {
    pub module: String,
    pub group: Option<GroupInfo>,
    pub entry: Option<SectionRef>,
    /// Every group that lists the entry section (the first one is where BFD keeps it).
    pub entry_groups: Vec<u32>,
    /// One sentence: what the message means for this file.
    pub summary: String,
}

/// Resolves `invalid entry (0xENTRY) in group [GROUP]` against a module.
pub fn resolve_group_entry(m: &ModuleReport, group: u32, entry: u32) -> ResolvedEntry {
    let g = m.groups.iter().find(|g| g.index == group).cloned();
    let entry_groups: Vec<u32> = m
        .groups
        .iter()
        .filter(|g| g.members.iter().any(|s| s.index == entry))
        .map(|g| g.index)
        .collect();
    let entry_ref = g
        .as_ref()
        .and_then(|g| g.members.iter().find(|s| s.index == entry).cloned());
    let summary = match (&g, &entry_ref) {
        // GNU strip numbers sections as in the file it read: the unstripped build, not a
        // module it already rewrote.
        (None, _) => format!(
            "section [{group}] of {} is not a section group (the numbers are those of the file \
             strip read: give the module as built, before strip)",
            m.file
        ),
        (Some(g), None) => format!(
            "group [{group}] `{}` of {} does not list section {entry} (the numbers are those of \
             the file strip read: give the module as built, before strip)",
            g.signature, m.file
        ),
        (Some(g), Some(e)) => {
            let others: Vec<String> = entry_groups
                .iter()
                .filter(|&&x| x != group)
                .map(|x| format!("[{x}]"))
                .collect();
            format!(
                "group [{group}] `{}` lists [{}] {}, which is also in group{} {}: GNU strip keeps it in \
                 one group only and drops it from [{group}]",
                g.signature,
                e.index,
                e.name,
                if others.len() == 1 { "" } else { "s" },
                if others.is_empty() { "(none)".into() } else { others.join(", ") }
            )
        }
    };
    ResolvedEntry {
        module: m.file.clone(),
        group: g,
        entry: entry_ref,
        entry_groups,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn report(name: &str) -> ModuleReport {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/modules")
            .join(name);
        let file = ModuleFile::open(&path).expect("fixture");
        analyse(&file, name).expect("analysed")
    }

    #[test]
    fn thinlto_layouts_are_named_by_section() {
        let m = report("modeset-like-thinlto.ko");
        let shared: Vec<&str> = m
            .shared_members
            .iter()
            .map(|s| s.section.name.as_str())
            .collect();
        assert_eq!(shared, [".bss", ".data", ".rodata"]);
        let data = &m.shared_members[1];
        assert_eq!(data.section.index, 5);
        assert_eq!(data.groups.first(), Some(&27));
        let targets: Vec<&str> = m
            .multi_relocated
            .iter()
            .map(|r| r.target.name.as_str())
            .collect();
        assert_eq!(targets, [".data", ".rodata"]);
        assert!(m.cause.is_some());
        assert!(!m.gnu_strip_safe);

        let r = resolve_group_entry(&m, 31, 5);
        assert_eq!(r.entry.map(|e| e.name), Some(".data".to_string()));
        assert!(r.summary.contains("drops it from [31]"), "{}", r.summary);
        let not_a_group = resolve_group_entry(&m, 16, 5);
        assert!(not_a_group.group.is_none());
        assert!(
            not_a_group.summary.contains("before strip"),
            "{}",
            not_a_group.summary
        );
    }

    #[test]
    fn gcc_module_has_none_of_them() {
        let m = report("modeset-like-gcc.ko");
        assert!(!m.groups.is_empty(), "C++ COMDAT groups are there");
        assert!(m.shared_members.is_empty());
        assert!(m.multi_relocated.is_empty());
        assert!(m.grouped_merged.is_empty());
        assert!(m.cause.is_none());
        assert!(m.gnu_strip_safe);
    }
}
