//! The equivalence proof: a stripped module is its original minus debug information.
//!
//! Beneath both `strip` (every candidate is proven before it replaces a module) and
//! `verify --against`. It compares meaning, not bytes: allocated sections byte for byte;
//! relocations of allocated sections as (offset, type, addend, symbol meaning), where a
//! symbol's meaning is its name (or section), type, binding, section and value — so
//! renumbered symbols and reordered relocation sections compare equal, and GNU strip's
//! retargeted relocations do not. Differences are reported in words, a few per kind.

use std::hash::{Hash, Hasher};

use crate::elf::{self, Elf, Reloc, Section, Symbol, SymbolTable, RELOCS_PER_RELEASE};
use crate::fasthash::{FastHasher, FastMap};
use crate::finding::{Category, Finding, Findings, Severity};
use crate::output::plural;

/// Relocation sections compared between two hand-backs of the symbol tables' pages.
const RELOC_SECTIONS_PER_TABLE_RELEASE: usize = 4096;

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
        let total = (m.value as i64).wrapping_add(addend);
        format!(
            "`{}{}`",
            section_name.unwrap_or_default(),
            signed_hex(total)
        )
    } else {
        let name = String::from_utf8_lossy(m.name);
        let addend = signed_hex(addend);
        match section_name {
            Some(s) => format!("`{name}{addend}` ({s})"),
            None => format!("`{name}{addend}`"),
        }
    }
}

/// An addend as the assembler writes it: `+0x10`, `-0x4`.
fn signed_hex(v: i64) -> String {
    if v < 0 {
        format!("-{:#x}", v.unsigned_abs())
    } else {
        format!("+{v:#x}")
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
/// Lines shown for one kind of difference before "and N more".
const SHOWN_PER_KIND: usize = 5;

const NE: Category = Category::NotEquivalent;

/// Proves `stripped` is `original` minus debug information. `debug_may_remain` is for the
/// skip strategy, whose output keeps everything.
pub fn check_equivalence(
    stripped: &Elf,
    original: &Elf,
    debug_may_remain: bool,
    out: &mut Vec<Finding>,
) {
    let first = out.len();
    let mut f = Findings(out);
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
            let why = format!("stripped file has no usable symbol table: {e}");
            return f.error(NE, None, None, why);
        }
        (_, Err(e)) => {
            let why = format!("original has no usable symbol table: {e}");
            return f.error(NE, None, None, why);
        }
    };
    if stripped.header.machine != original.header.machine || stripped.endian != original.endian {
        let why = "machine or byte order differs from the original".to_string();
        f.error(NE, None, Some(18), why);
    }
    compare_kept_sections(&old, &new, &old_to_new, &mut f);
    compare_relocations(&old, &new, &mut f);
    compare_named_symbols(&old, &new, &mut f);
    compare_groups(&old, &new, &mut f);
    if !debug_may_remain {
        check_no_debug_left(stripped, &mut f);
    }
    stripped.release_all();
    original.release_all();
    add_hints(stripped, original, first, out);
}

/// At most [`SHOWN_PER_KIND`] findings of one kind, then one note saying how many more.
struct Capped<'f, 'r> {
    f: &'f mut Findings<'r>,
    shown: usize,
    more: usize,
}

impl<'f, 'r> Capped<'f, 'r> {
    fn new(f: &'f mut Findings<'r>) -> Self {
        Capped {
            f,
            shown: 0,
            more: 0,
        }
    }
    fn error(&mut self, s: Option<&Section>, offset: Option<u64>, message: String) {
        if self.shown < SHOWN_PER_KIND {
            self.shown += 1;
            self.f.error(NE, s, offset, message);
        } else {
            self.more += 1;
        }
    }
    /// `what`: the kind, in the plural (`sections differ`).
    fn finish(self, what: &str) {
        if self.more > 0 {
            let why = format!("and {} more {what}", self.more);
            self.f.note(NE, None, None, why);
        }
    }
}

/// The sections the loader copies (and the metadata tools read): same name, type, flags,
/// size, alignment and bytes.
fn compare_kept_sections(old: &ProofSide, new: &ProofSide, old_to_new: &[u32], f: &mut Findings) {
    let (original, stripped) = (old.elf, new.elf);
    let kept_by_bytes = |s: &Section| {
        s.is_alloc()
            || matches!(
                s.name(),
                b".modinfo" | b"__versions" | b".gnu.linkonce.this_module" | b".BTF" | b".comment"
            )
            || s.sh_type == elf::SHT_NOTE
    };
    let mut diff = Capped::new(f);
    for s in original.sections.iter().filter(|s| kept_by_bytes(s)) {
        let Some(n) = stripped.sections.get(old_to_new[s.index()] as usize) else {
            diff.error(
                Some(s),
                None,
                "section missing from the stripped file".into(),
            );
            continue;
        };
        let (align_old, align_new) = (original.section_addralign(s), stripped.section_addralign(n));
        if (n.sh_type, n.flags, n.size, align_new) != (s.sh_type, s.flags, s.size, align_old) {
            let why = format!(
                "type/flags/size/alignment changed: was {}/{:#x}/{}/{}, now {}/{:#x}/{}/{}",
                s.sh_type, s.flags, s.size, align_old, n.sh_type, n.flags, n.size, align_new
            );
            diff.error(Some(n), None, why);
            continue;
        }
        if !s.is_nobits() {
            match (stripped.section_data(n), original.section_data(s)) {
                (Ok(a), Ok(b)) if a != b => {
                    let at = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(0);
                    let why = format!(
                        "contents differ from the original at {}+{at:#x}",
                        n.display_name()
                    );
                    diff.error(Some(n), Some(n.offset + at as u64), why);
                }
                (Err(e), _) | (_, Err(e)) => diff.error(Some(n), Some(e.offset), e.reason),
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
            diff.error(
                Some(n),
                None,
                "allocated section not in the original".into(),
            );
        }
    }
    diff.finish("sections differ");
}

/// Relocations of allocated sections, by meaning; both sides name a target section by the
/// original's index.
fn compare_relocations(old: &ProofSide, new: &ProofSide, f: &mut Findings) {
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
        if !same_in_order(sa, sb, old, new, &mut confirmed)
            && !same_relocations(
                &old.relocations_of(id, sa),
                &new.relocations_of(id, sb),
                old,
                new,
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
    let diffs: Vec<RelocDiff> = differing
        .into_iter()
        .map(|id| relocation_differences(id, old, new))
        .collect();
    report_relocation_differences(&diffs, f);
}

/// The name of the section both sides call `id`.
fn target_name(id: u32, old: &ProofSide, new: &ProofSide) -> String {
    let name = old
        .elf
        .sections
        .get(id as usize)
        .map(|s| s.name())
        .or_else(|| {
            let index = UNMATCHED.checked_sub(id)? as usize;
            new.elf.sections.get(index).map(|s| s.name())
        })
        .unwrap_or_default();
    String::from_utf8_lossy(name).into_owned()
}

type RelocInWords<'a> = (Reloc, Option<SymbolMeaning<'a>>);

/// How the relocations applying to one section differ: a few in words, and counts that add
/// up (changed + lost + added).
struct RelocDiff {
    name: String,
    lines: Vec<String>,
    changed: usize,
    lost: usize,
    added: usize,
    before: usize,
    after: usize,
}

impl RelocDiff {
    fn total(&self) -> usize {
        self.changed + self.lost + self.added
    }
}

/// At most [`SHOWN_PER_KIND`] relocations in words over all sections, then one line per
/// section (at most as many again), then what was left out.
fn report_relocation_differences(diffs: &[RelocDiff], f: &mut Findings) {
    let mut details = Capped::new(f);
    for line in diffs.iter().flat_map(|d| &d.lines) {
        details.error(None, None, line.clone());
    }
    let described: usize = diffs.iter().map(|d| d.lines.len()).sum();
    let all: usize = diffs.iter().map(RelocDiff::total).sum();
    details.more += all.saturating_sub(described);
    details.finish("relocations differ");
    let mut sections = Capped::new(f);
    for d in diffs {
        let why = if d.total() == 0 {
            format!("relocations applying to {} pair up differently with the original's (same offsets, other symbols at equal offsets)", d.name)
        } else {
            format!(
                "{} applying to {} differ from the original: {} changed, {} lost, {} added ({} before, {} after)",
                plural(d.total(), "relocation"),
                d.name,
                d.changed,
                d.lost,
                d.added,
                d.before,
                d.after
            )
        };
        sections.error(None, None, why);
    }
    sections.finish(&format!(
        "sections whose relocations differ ({} relocations in all)",
        all
    ));
}

/// Works out how the relocations applying to section `id` differ.
fn relocation_differences(id: u32, old: &ProofSide, new: &ProofSide) -> RelocDiff {
    let name = target_name(id, old, new);
    let was = old.relocations_in_words(id);
    let now = new.relocations_in_words(id);
    let key = |r: &RelocInWords| (r.0.offset, r.0.rtype);
    let (mut i, mut j) = (0, 0);
    let mut d = RelocDiff {
        name,
        lines: Vec::new(),
        changed: 0,
        lost: 0,
        added: 0,
        before: was.len(),
        after: now.len(),
    };
    loop {
        let (w, n) = (was.get(i), now.get(j));
        let line = match (w, n) {
            (None, None) => break,
            (Some(w), Some(n)) if key(w) == key(n) => {
                (i, j) = (i + 1, j + 1);
                if w.0.addend == n.0.addend && w.1 == n.1 {
                    continue;
                }
                d.changed += 1;
                let how = change_in_words(w, n, old, new);
                format!("`{}+{:#x}`: {how}", d.name, w.0.offset)
            }
            (_, Some(n)) if w.is_none_or(|w| key(n) < key(w)) => {
                (j, d.added) = (j + 1, d.added + 1);
                let to = target_in_words(n, new);
                format!("`{}+{:#x}`: relocation to {to} added", d.name, n.0.offset)
            }
            (Some(w), _) => {
                (i, d.lost) = (i + 1, d.lost + 1);
                let to = target_in_words(w, old);
                format!("`{}+{:#x}`: relocation to {to} lost", d.name, w.0.offset)
            }
            // (None, Some) always takes the `added` arm above.
            (None, Some(_)) => break,
        };
        if d.lines.len() < SHOWN_PER_KIND {
            d.lines.push(line);
        }
    }
    d
}

/// A relocation's symbol and addend in words, or why there is none.
fn target_in_words(r: &RelocInWords, side: &ProofSide) -> String {
    match &r.1 {
        Some(m) => describe(m, r.0.addend, side),
        None => format!("symbol index {} past the end of the symbol table", r.0.sym),
    }
}

/// How one relocation changed. When both read the same in words, the difference is in what
/// the words leave out (type, binding, value, which of several same-named sections).
fn change_in_words(w: &RelocInWords, n: &RelocInWords, old: &ProofSide, new: &ProofSide) -> String {
    let (was, now) = (target_in_words(w, old), target_in_words(n, new));
    if was != now {
        return format!("was {was}, now {now}");
    }
    let (Some(a), Some(b)) = (&w.1, &n.1) else {
        return format!("{was} in both, through other symbols");
    };
    let mut what = Vec::new();
    if a.kind != b.kind {
        what.push(format!("symbol type {} -> {}", a.kind, b.kind));
    }
    if a.bind != b.bind {
        what.push(format!("binding {} -> {}", a.bind, b.bind));
    }
    if a.value != b.value {
        what.push(format!("value {:#x} -> {:#x}", a.value, b.value));
    }
    if a.section != b.section || a.special_shndx != b.special_shndx {
        what.push("defined in another section of the same name".into());
    }
    format!("{was} in both, but its {}", what.join(", "))
}

/// Named symbols (not files, not sections, not debug). Strip tools keep the order of the
/// symbols they keep: compare as read, and sort only when that fails.
fn compare_named_symbols(old: &ProofSide, new: &ProofSide, f: &mut Findings) {
    let in_order = named_symbols_in_order(old).eq(named_symbols_in_order(new));
    old.elf.release_all();
    new.elf.release_all();
    if in_order {
        return;
    }
    let (a, b) = (named_symbols(old), named_symbols(new));
    if a == b {
        return;
    }
    let (lost, added) = sorted_difference(&a, &b);
    let names = |v: &[&NamedSymbol]| {
        let shown = v
            .iter()
            .map(|x| format!("`{}`", String::from_utf8_lossy(x.0.name)));
        listed(shown, v.len())
    };
    let why = format!(
        "named symbols differ from the original ({} before, {} after): {} lost or changed ({}); {} added or changed ({})",
        a.len(),
        b.len(),
        lost.len(),
        names(&lost),
        added.len(),
        names(&added)
    );
    f.error(NE, None, None, why);
}

/// The first three of `count` items, then how many more: "`a`, `b`, `c` and 4 more".
fn listed(items: impl Iterator<Item = String>, count: usize) -> String {
    let shown: Vec<String> = items.take(3).collect();
    match count.saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// What only `a` has and what only `b` has, of two sorted multisets.
fn sorted_difference<'v, T: Ord>(a: &'v [T], b: &'v [T]) -> (Vec<&'v T>, Vec<&'v T>) {
    let (mut only_a, mut only_b) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Equal => (i, j) = (i + 1, j + 1),
            std::cmp::Ordering::Less => {
                only_a.push(&a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                only_b.push(&b[j]);
                j += 1;
            }
        }
    }
    only_a.extend(&a[i..]);
    only_b.extend(&b[j..]);
    (only_a, only_b)
}

/// Section groups: same signature, flags and (non-debug) members. The loader never reads
/// `SHT_GROUP` (only a static linker does), so a difference is a note naming the group and
/// the change; the kept sections themselves are compared elsewhere.
fn compare_groups(old: &ProofSide, new: &ProofSide, f: &mut Findings) {
    let (a, b) = (groups(old), groups(new));
    if a == b {
        return;
    }
    let (lost, added) = sorted_difference(&a, &b);
    let flags = |v: u32| {
        if v & elf::GRP_COMDAT != 0 {
            format!("{v:#x} (GRP_COMDAT)")
        } else {
            format!("{v:#x}")
        }
    };
    let mut changes: Vec<String> = Vec::new();
    for g in &lost {
        let name = String::from_utf8_lossy(g.0);
        match added.iter().find(|n| n.0 == g.0) {
            Some(n) if n.1 != g.1 && n.2 == g.2 => changes.push(format!(
                "`{name}`: flags {} became {}",
                flags(g.1),
                flags(n.1)
            )),
            Some(n) => changes.push(format!(
                "`{name}`: members {:?} became {:?}{}",
                g.2,
                n.2,
                if n.1 != g.1 { " (and its flags)" } else { "" }
            )),
            None => changes.push(format!(
                "`{name}`: gone or empty (its members {:?} were kept outside it)",
                g.2
            )),
        }
    }
    for n in added.iter().filter(|n| !lost.iter().any(|g| g.0 == n.0)) {
        let name = String::from_utf8_lossy(n.0);
        changes.push(format!("`{name}`: new group of sections {:?}", n.2));
    }
    let count = changes.len();
    let why = format!(
        "{} differ from the original, which only a static linker reads (the module loader ignores SHT_GROUP): {}",
        plural(count, "section group"),
        listed(changes.into_iter(), count)
    );
    f.note(Category::Layout, None, None, why);
}

fn check_no_debug_left(stripped: &Elf, f: &mut Findings) {
    let left: Vec<&Section> = stripped
        .sections
        .iter()
        .filter(|s| stripped.is_debug_or_debug_relocs(s))
        .collect();
    let Some(first) = left.first() else {
        return;
    };
    let names = left.iter().map(|s| format!("`{}`", s.display_name()));
    let why = format!(
        "{} left in the stripped file: {}",
        plural(left.len(), "debug section"),
        listed(names, left.len())
    );
    f.error(NE, Some(first), None, why);
}

/// When the proof failed, one line on why the pair itself may be wrong: swapped arguments
/// (the "stripped" file has debug information, the original none) or unrelated modules
/// (another `.modinfo` name or srcversion). Put first, where it is read.
fn add_hints(stripped: &Elf, original: &Elf, first: usize, out: &mut Vec<Finding>) {
    if !out[first..].iter().any(|f| f.is_error()) {
        return;
    }
    let debug_count = |e: &Elf| {
        e.sections
            .iter()
            .filter(|s| e.is_debug_or_debug_relocs(s))
            .count()
    };
    let (in_stripped, in_original) = (debug_count(stripped), debug_count(original));
    let modinfo = |e: &Elf, key: &str| -> Option<String> {
        e.modinfo()
            .ok()
            .flatten()
            .and_then(|m| m.get(key).map(str::to_string))
    };
    let mut hints = Vec::new();
    if in_stripped > 0 && in_original == 0 {
        hints.push(format!("hint: the two files look swapped: the stripped file has {in_stripped} debug sections and the original none (verify --against ORIGINAL STRIPPED)"));
    }
    for key in ["name", "srcversion"] {
        if let (Some(a), Some(b)) = (modinfo(stripped, key), modinfo(original, key)) {
            if a != b {
                hints.push(format!("hint: the two files look unrelated: .modinfo {key} is `{a}` in the stripped file and `{b}` in the original"));
                break;
            }
        }
    }
    let notes = hints.into_iter().map(|message| Finding {
        severity: Severity::Note,
        category: NE,
        section: None,
        offset: None,
        message,
    });
    out.splice(first..first, notes);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
