//! Symbol resolution as the loader does it (kernel/module/main.c `simplify_symbols`,
//! `resolve_symbol`, `check_version`, `verify_namespace_is_imported`), against a
//! [`SymbolIndex`](crate::symvers::SymbolIndex): the kernel's `Module.symvers` plus the modules verified together.

use crate::elf::{self, Elf, Section, SymbolTable};
use crate::fasthash::FastMap;
use crate::finding::{Category, Findings, Severity};
use crate::symvers::Export;

use super::Expectations;

/// `struct modversion_info`: an 8-byte CRC and a 56-byte name.
const VERSION_ENTRY: usize = 64;

/// Lines of one kind before "and N more".
const SHOWN_PER_KIND: usize = 10;

/// `st_shndx` of symbol `i` as stored, read without decoding its name (most symbols of a
/// module are skipped on this alone).
pub(crate) fn raw_shndx(t: &SymbolTable, i: usize) -> Option<u16> {
    let at = i.checked_mul(elf::SYM64_SIZE)? + 6;
    let b = t.data.get(at..at + 2)?;
    Some(t.endian.u16([b[0], b[1]]))
}

/// The symbols whose stored `st_shndx` passes `keep`, decoded.
fn symbols_where<'a>(
    t: &'a SymbolTable<'a>,
    keep: impl Fn(u16) -> bool + 'a,
) -> impl Iterator<Item = elf::Symbol<'a>> + 'a {
    (1..t.len())
        .filter(move |&i| raw_shndx(t, i).is_some_and(&keep))
        .filter_map(move |i| t.get(i as u32))
}

/// include/linux/license.h `license_is_gpl_compatible`.
pub fn licence_is_gpl_compatible(licence: &str) -> bool {
    matches!(
        licence,
        "GPL"
            | "GPL v2"
            | "GPL and additional rights"
            | "Dual BSD/GPL"
            | "Dual MIT/GPL"
            | "Dual MPL/GPL"
    )
}

/// The symbols a module exports (`__ksymtab_NAME` in `__ksymtab[_gpl]`, its CRC from
/// `__crc_NAME` in `__kcrctab[_gpl]`, its namespace from `__kstrtabns_NAME`), owned by `owner`.
pub fn module_exports(elf: &Elf, owner: &str) -> Vec<(String, Export)> {
    let Ok(Some(t)) = elf.symbols() else {
        return Vec::new();
    };
    let section_named = |i: usize| elf.sections.get(i).map(|s| s.name()).unwrap_or_default();
    let bytes_at = |i: usize, at: u64| {
        let s = elf.sections.get(i)?;
        elf.section_data(s).ok()?.get(at as usize..)
    };
    // Only symbols in the export sections are decoded: most modules export nothing.
    let wanted: Vec<u16> = elf
        .sections
        .iter()
        .filter(|s| s.name().starts_with(b"__ksymtab") || s.name().starts_with(b"__kcrctab"))
        .filter_map(|s| u16::try_from(s.index()).ok())
        .collect();
    let mut gpl: Vec<(String, bool)> = Vec::new();
    let mut crcs: FastMap<String, u32> = FastMap::default();
    let mut namespaces: FastMap<String, String> = FastMap::default();
    if wanted.is_empty() {
        return Vec::new();
    }
    for sym in symbols_where(&t, |shndx| wanted.contains(&shndx)) {
        if sym.kind() == elf::STT_SECTION {
            continue;
        }
        let Some(sec) = sym.section() else { continue };
        if let Some(name) = sym.name.strip_prefix(b"__ksymtab_") {
            match section_named(sec) {
                b"__ksymtab" => gpl.push((lossy(name), false)),
                b"__ksymtab_gpl" => gpl.push((lossy(name), true)),
                _ => {}
            }
        } else if let Some(name) = sym.name.strip_prefix(b"__crc_") {
            if section_named(sec).starts_with(b"__kcrctab") {
                if let Some(b) = bytes_at(sec, sym.value).and_then(|b| b.get(..4)) {
                    let crc = elf.endian.u32([b[0], b[1], b[2], b[3]]);
                    crcs.insert(lossy(name), crc);
                }
            }
        } else if let Some(name) = sym.name.strip_prefix(b"__kstrtabns_") {
            if let Some(ns) = bytes_at(sec, sym.value).and_then(|b| elf::cstr_at(b, 0)) {
                if !ns.is_empty() {
                    namespaces.insert(lossy(name), lossy(ns));
                }
            }
        }
    }
    gpl.into_iter()
        .map(|(name, gpl_only)| {
            let export = Export {
                crc: crcs.get(&name).copied(),
                gpl_only,
                namespace: namespaces.get(&name).map(|n| n.as_str().into()),
                owner: owner.into(),
            };
            (name, export)
        })
        .collect()
}

/// Calls `f` with the name of every named undefined symbol.
pub fn for_each_undefined(elf: &Elf, mut f: impl FnMut(&[u8])) {
    let Ok(Some(t)) = elf.symbols() else { return };
    for sym in symbols_where(&t, |shndx| shndx == 0) {
        if !sym.name.is_empty() {
            f(sym.name);
        }
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `__versions` as name → CRC; `None` when the module has no such section.
fn versions<'a>(elf: &Elf<'a>) -> Option<FastMap<&'a [u8], u64>> {
    let s = elf.section_by_name("__versions")?;
    let data = elf.section_data(s).ok()?;
    let map = data
        .chunks_exact(VERSION_ENTRY)
        .map(|e| {
            let crc = elf.endian.u64(e[..8].try_into().unwrap_or_default());
            let name = elf::cstr_at(&e[8..], 0).unwrap_or(&e[8..]);
            (name, crc)
        })
        .collect();
    Some(map)
}

/// What one module needs from the kernel, and what the index answers, as findings.
struct Problems {
    unknown: Vec<String>,
    gpl: Vec<String>,
    crc: Vec<String>,
    namespace: Vec<String>,
    unversioned: Vec<String>,
}

/// Every undefined symbol resolved against `target.symbols`: unknown symbols, GPL-only
/// exports used by a module whose licence is not GPL-compatible, CRC mismatches (when the
/// kernel has `CONFIG_MODVERSIONS`), namespaces not imported.
pub(crate) fn check_resolution(
    elf: &Elf,
    t: &SymbolTable,
    target: &Expectations,
    f: &mut Findings,
) {
    let Some(index) = target.symbols else {
        return;
    };
    let info = elf.modinfo().ok().flatten().unwrap_or_default();
    let licence = info.get("license").unwrap_or("unspecified");
    let gpl_ok = licence_is_gpl_compatible(licence);
    let imported: Vec<&str> = info.all("import_ns").collect();
    let versions = versions(elf);
    let modversions = target.facts().map_or(versions.is_some(), |k| k.modversions);
    let versions = versions.filter(|_| modversions);
    let mut p = Problems {
        unknown: Vec::new(),
        gpl: Vec::new(),
        crc: Vec::new(),
        namespace: Vec::new(),
        unversioned: Vec::new(),
    };
    let mut missing_ns: Vec<(String, Vec<String>)> = Vec::new();
    let check_crc = |name: &str, export: &Export, p: &mut Problems| {
        let (Some(versions), Some(want)) = (&versions, export.crc) else {
            return;
        };
        match versions.get(name.as_bytes()) {
            Some(&have) if have as u32 != want => p.crc.push(format!(
                "disagrees about version of symbol {name} (module {have:#010x}, {} {want:#010x})",
                export.owner
            )),
            Some(_) => {}
            None => p.unversioned.push(format!("no symbol version for {name}")),
        }
    };
    for sym in symbols_where(t, |shndx| shndx == 0) {
        if sym.name.is_empty() {
            continue;
        }
        let name = sym.name();
        let Some(export) = index.get(&name) else {
            if sym.bind() != elf::STB_WEAK {
                p.unknown.push(format!("Unknown symbol {name} (err -2)"));
            }
            continue;
        };
        if export.gpl_only && !gpl_ok {
            p.gpl.push(format!("Unknown symbol {name} (err -2): a GPL-only export of {} and the module's licence {licence:?} is not GPL-compatible", export.owner));
            continue;
        }
        check_crc(&name, export, &mut p);
        if let Some(ns) = &export.namespace {
            if !imported.contains(&&**ns) {
                match missing_ns.iter_mut().find(|(n, _)| n == &**ns) {
                    Some((_, users)) => users.push(name.into_owned()),
                    None => missing_ns.push((ns.to_string(), vec![name.into_owned()])),
                }
            }
        }
    }
    p.namespace = namespace_lines(missing_ns);
    // check_modstruct_version: struct module's layout, by the CRC of `module_layout`.
    if let Some(export) = index.get("module_layout") {
        if versions
            .as_ref()
            .is_some_and(|v| v.contains_key(&b"module_layout"[..]))
        {
            check_crc("module_layout", export, &mut p);
        }
    }
    report(p, elf.section_by_name("__versions"), f);
}

/// One line per namespace not imported, naming the symbols used from it.
fn namespace_lines(missing: Vec<(String, Vec<String>)>) -> Vec<String> {
    missing
        .into_iter()
        .map(|(ns, users)| {
            let (what, more) = match users.len() {
                1 => ("symbol", String::new()),
                n if n > 3 => ("symbols", format!(" and {} more", n - 3)),
                _ => ("symbols", String::new()),
            };
            let shown = users.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
            format!("module uses {what} ({shown}{more}) from namespace {ns}, but does not import it (MODULE_IMPORT_NS({ns}) missing)")
        })
        .collect()
}

/// The problems as findings, at most [`SHOWN_PER_KIND`] lines of each kind then a count;
/// CRC lines name `__versions`.
fn report(p: Problems, versions: Option<&Section>, f: &mut Findings) {
    for (lines, error) in [
        (p.unknown, true),
        (p.gpl, true),
        (p.crc, true),
        (p.namespace, true),
        (p.unversioned, false),
    ] {
        let severity = if error {
            Severity::Error
        } else {
            Severity::Warning
        };
        let more = lines.len().saturating_sub(SHOWN_PER_KIND);
        let first = lines.first().cloned();
        for line in lines.into_iter().take(SHOWN_PER_KIND) {
            let crc_line = line.starts_with("disagrees") || line.starts_with("no symbol");
            let on = if crc_line { versions } else { None };
            f.push(severity, Category::KernelMismatch, on, None, line);
        }
        if more > 0 {
            let kind = first.unwrap_or_default();
            let kind = kind.split(' ').take(2).collect::<Vec<_>>().join(" ");
            let m = format!("and {more} more like `{kind} ...`");
            f.push(severity, Category::KernelMismatch, None, None, m);
        }
    }
}
