//! The exports a module can link against: a kernel's `Module.symvers` (vmlinux and its
//! in-tree modules) plus the exports of the modules verified together.
//!
//! `Module.symvers` lines are `0xCRC<TAB>symbol<TAB>owner<TAB>EXPORT_SYMBOL[_GPL]<TAB>namespace`
//! (5.4 and later; the namespace column may be empty).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fasthash::FastMap;

/// One exported symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The symbol's CRC (`None` when the kernel was built without `CONFIG_MODVERSIONS`).
    pub crc: Option<u32>,
    /// `EXPORT_SYMBOL_GPL`: only modules with a GPL-compatible licence may use it.
    pub gpl_only: bool,
    /// `EXPORT_SYMBOL_NS`: the namespace a user must import (`MODULE_IMPORT_NS`).
    pub namespace: Option<Box<str>>,
    /// Who exports it: `vmlinux`, an in-tree module's path, or a module verified together.
    pub owner: Box<str>,
}

/// Every export by name.
#[derive(Debug, Default)]
pub struct SymbolIndex {
    exports: FastMap<Box<str>, Export>,
    /// Where the base came from (for messages).
    pub source: Option<PathBuf>,
}

impl SymbolIndex {
    /// Reads `Module.symvers`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut index = Self::parse(&text).map_err(|(line, reason)| Error::Unreadable {
            path: path.to_path_buf(),
            reason: format!("line {line}: {reason}"),
        })?;
        index.source = Some(path.to_path_buf());
        Ok(index)
    }

    /// Parses the text of a `Module.symvers`; `Err((line, reason))` on a malformed line.
    pub fn parse(text: &str) -> std::result::Result<Self, (usize, String)> {
        let mut index = SymbolIndex::default();
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
            let mut cols = line.split('\t');
            let (Some(crc), Some(name), Some(owner), Some(kind)) =
                (cols.next(), cols.next(), cols.next(), cols.next())
            else {
                return Err((
                    n + 1,
                    format!("expected 4 or 5 tab-separated columns: {line:?}"),
                ));
            };
            let crc = crc
                .strip_prefix("0x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .ok_or_else(|| (n + 1, format!("CRC {crc:?} is not 0x and 8 hex digits")))?;
            let namespace = cols.next().filter(|ns| !ns.is_empty()).map(Box::from);
            index.insert(
                name,
                Export {
                    // A kernel without CONFIG_MODVERSIONS writes 0x00000000 for every CRC.
                    crc: (crc != 0).then_some(crc),
                    gpl_only: kind.ends_with("_GPL") || kind.ends_with("_GPL_FUTURE"),
                    namespace,
                    owner: owner.into(),
                },
            );
        }
        Ok(index)
    }

    /// Adds or replaces an export: a module on disk wins over what `Module.symvers` says
    /// about an earlier build of it.
    pub fn insert(&mut self, name: &str, export: Export) {
        self.exports.insert(name.into(), export);
    }

    pub fn get(&self, name: &str) -> Option<&Export> {
        self.exports.get(name)
    }

    pub fn len(&self) -> usize {
        self.exports.len()
    }

    pub fn is_empty(&self) -> bool {
        self.exports.is_empty()
    }
}

/// `Module.symvers` of a kernel build tree, when it has one.
pub fn symvers_in(build_dir: &Path) -> Option<PathBuf> {
    let p = build_dir.join("Module.symvers");
    p.is_file().then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_crc_licence_namespace_and_owner() {
        let text = "0x4c9d28b0\tphys_base\tvmlinux\tEXPORT_SYMBOL\t\n\
                    0x84b45156\tinsert_resource_expand_to_fit\tvmlinux\tEXPORT_SYMBOL_GPL\tCXL\n\
                    0x00000000\tdrm_open\tdrivers/gpu/drm/drm\tEXPORT_SYMBOL\t\n";
        let index = SymbolIndex::parse(text).expect("valid");
        assert_eq!(index.len(), 3);
        let phys = index.get("phys_base").expect("phys_base");
        assert_eq!(
            (phys.crc, phys.gpl_only, phys.namespace.as_deref()),
            (Some(0x4c9d28b0), false, None)
        );
        let cxl = index.get("insert_resource_expand_to_fit").expect("cxl");
        assert!(cxl.gpl_only);
        assert_eq!(cxl.namespace.as_deref(), Some("CXL"));
        let drm = index.get("drm_open").expect("drm_open");
        assert_eq!((drm.crc, &*drm.owner), (None, "drivers/gpu/drm/drm"));
    }

    #[test]
    fn a_malformed_line_names_its_number() {
        let err = SymbolIndex::parse("0x1\ta\tvmlinux\tEXPORT_SYMBOL\nnot a line\n")
            .expect_err("malformed");
        assert_eq!(err.0, 2);
    }
}
