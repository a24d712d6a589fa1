//! A second, independent ELF parser (goblin) reads every verified module: where it and
//! dkwrap's reader disagree, one of them is wrong about the file, and the verdict is not
//! trusted.

use crate::elf::Elf;
use crate::finding::{Category, Finding, Findings};

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
