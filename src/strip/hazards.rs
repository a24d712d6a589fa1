//! The layouts GNU strip corrupts or refuses, found once: `dkwrap strip` turns them into the
//! reasons auto will not hand a module to GNU strip ([`GnuStripLayout::hazards`]), `dkwrap
//! explain` into the sections and groups of the file that carry them.

use crate::elf::{self, Elf};
use crate::kconfig::Arch;

/// What in one module GNU strip (BFD) cannot handle. Indices are section indices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GnuStripLayout {
    /// The module's machine, when it is not the host's (the host GNU strip cannot read it).
    pub foreign_machine: Option<&'static str>,
    /// (target, its relocation sections) for each target with more than one.
    pub multi_relocated: Vec<(u32, Vec<u32>)>,
    /// (section, the groups that list it) for each section listed by more than one group.
    pub shared_members: Vec<(u32, Vec<u32>)>,
    /// `.data`/`.rodata`/`.bss` carrying `SHF_GROUP` (merged by the module linker script).
    pub grouped_merged: Vec<u32>,
    pub extended_numbering: bool,
}

/// Pairs (key, value) sorted, grouped by key, keeping the keys with more than one value.
fn repeated(mut pairs: Vec<(u32, u32)>) -> Vec<(u32, Vec<u32>)> {
    pairs.sort_unstable();
    pairs
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|c| c.len() > 1)
        .map(|c| (c[0].0, c.iter().map(|&(_, v)| v).collect()))
        .collect()
}

/// Reads the layout of one module.
pub fn layout(elf: &Elf) -> GnuStripLayout {
    let relocs: Vec<(u32, u32)> = elf
        .sections
        .iter()
        .filter(|s| s.is_reloc())
        .map(|s| (s.info, s.idx))
        .collect();
    let mut members: Vec<(u32, u32)> = Vec::new();
    for g in elf.sections.iter().filter(|s| s.sh_type == elf::SHT_GROUP) {
        if let Ok((_, m)) = elf.group(g) {
            members.extend(m.into_iter().map(|section| (section, g.idx)));
        }
    }
    GnuStripLayout {
        foreign_machine: (Arch::from_elf_machine(elf.machine()) != Arch::host())
            .then(|| elf::machine_name(elf.machine())),
        multi_relocated: repeated(relocs),
        shared_members: repeated(members),
        grouped_merged: elf
            .sections
            .iter()
            .filter(|s| {
                s.flags & elf::SHF_GROUP != 0 && matches!(s.name(), b".data" | b".bss" | b".rodata")
            })
            .map(|s| s.idx)
            .collect(),
        extended_numbering: elf.extended_numbering,
    }
}

impl GnuStripLayout {
    /// Why auto will not hand this module to GNU strip; empty when it may.
    pub fn hazards(&self) -> Vec<String> {
        let mut hazards = Vec::new();
        if let Some(machine) = self.foreign_machine {
            hazards.push(format!(
                "module is for {machine}, the host GNU strip reads only {}",
                std::env::consts::ARCH
            ));
        }
        if !self.multi_relocated.is_empty() {
            hazards.push("several relocation sections apply to one section".into());
        }
        if !self.shared_members.is_empty() {
            hazards.push("a section belongs to several section groups".into());
        }
        if !self.grouped_merged.is_empty() {
            hazards.push(
                "SHF_GROUP on .data/.bss/.rodata (merged by the module linker script)".into(),
            );
        }
        if self.extended_numbering {
            hazards.push("extended section numbering (more than 65279 sections)".into());
        }
        hazards
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout_of(name: &str) -> GnuStripLayout {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/modules")
            .join(name);
        let bytes = std::fs::read(path).expect("fixture");
        layout(&Elf::parse(&bytes).expect("ELF"))
    }

    #[test]
    fn thinlto_fixture_has_the_lld_layouts_and_gcc_none() {
        let t = layout_of("modeset-like-thinlto.ko");
        let shared: Vec<u32> = t.shared_members.iter().map(|s| s.0).collect();
        assert_eq!(shared, [4, 5, 6]);
        assert_eq!(
            t.multi_relocated.iter().map(|r| r.0).collect::<Vec<_>>(),
            [5, 6]
        );
        assert_eq!(t.grouped_merged, [4, 5, 6]);
        assert_eq!(t.hazards().len(), 3, "{:?}", t.hazards());
        let g = layout_of("modeset-like-gcc.ko");
        assert_eq!(g, GnuStripLayout::default());
        assert!(g.hazards().is_empty());
    }

    #[test]
    fn a_foreign_module_is_named_by_its_machine() {
        let a = layout_of("basic-arm64-thinlto.ko");
        if Arch::host() == Arch::from_elf_machine(elf::EM_AARCH64) {
            assert_eq!(a.foreign_machine, None);
        } else {
            assert_eq!(a.foreign_machine, Some("aarch64"));
            assert!(a.hazards()[0].starts_with("module is for aarch64"));
        }
    }
}
