//! Which files a directory holds that are kernel modules, and which kernels a system has.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const MODULE_SUFFIXES: &[&str] = &[".ko", ".ko.gz", ".ko.xz", ".ko.zst"];

/// Directories of `/lib/modules/<k>` that hold what the kernel package shipped; everything
/// else (`updates/`, `extra/`, `misc/`, `dkms/`, ...) is out of tree.
const IN_TREE_DIRS: &[&str] = &["kernel", "build", "source", "vdso"];

pub fn is_module_name(name: &str) -> bool {
    MODULE_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Every module under `dir`, sorted by path. Symbolic links to directories are not
/// followed (`/lib/modules/<k>/build` points at a whole header tree).
pub fn modules_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    walk(dir, &mut found)?;
    found.sort();
    Ok(found)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let kind = entry.file_type().map_err(io)?;
        let path = entry.path();
        if kind.is_dir() {
            walk(&path, found)?;
        } else if (kind.is_file() || kind.is_symlink())
            && is_module_name(&entry.file_name().to_string_lossy())
            && path.is_file()
        {
            found.push(path);
        }
    }
    Ok(())
}

/// The modules of an installed kernel's directory; `out_of_tree`: only those outside the
/// kernel package's own `kernel/` tree.
pub fn installed_modules(kernel_dir: &Path, out_of_tree: bool) -> Result<Vec<PathBuf>> {
    if !out_of_tree {
        return modules_under(kernel_dir);
    }
    let mut found = Vec::new();
    let entries = std::fs::read_dir(kernel_dir).map_err(|source| Error::Io {
        path: kernel_dir.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && !IN_TREE_DIRS.contains(&name.as_str()) {
            found.extend(modules_under(&entry.path())?);
        }
    }
    found.sort();
    Ok(found)
}

/// The kernels installed under `root`: each directory of `/lib/modules`, sorted.
pub fn installed_kernels(root: &Path) -> Result<Vec<String>> {
    let dir = root.join("lib/modules");
    let entries = std::fs::read_dir(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    let mut kernels: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    kernels.sort();
    Ok(kernels)
}

/// A path inside a system image whose symbolic links are absolute (`/lib/modules/<k>/build
/// -> /usr/src/linux-headers-<k>`): follows the link inside `root`, not on this machine.
pub fn resolve_in_root(root: &Path, path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    for _ in 0..8 {
        match std::fs::read_link(&p) {
            Ok(target) if target.is_absolute() && root != Path::new("/") => {
                p = root.join(target.strip_prefix("/").unwrap_or(&target));
            }
            Ok(target) => p = p.parent().map_or(target.clone(), |d| d.join(&target)),
            Err(_) => break,
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_modules_of_every_compression_and_skips_the_rest() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let sub = tmp.path().join("kernel/drivers");
        std::fs::create_dir_all(&sub).expect("mkdir");
        for name in ["a.ko", "b.ko.xz", "c.ko.zst", "d.ko.gz", "e.o", "f.ko.bak"] {
            std::fs::write(sub.join(name), b"x").expect("write");
        }
        std::fs::create_dir_all(tmp.path().join("updates/dkms")).expect("mkdir");
        std::fs::write(tmp.path().join("updates/dkms/nvidia.ko"), b"x").expect("write");
        let all = modules_under(tmp.path()).expect("walk");
        assert_eq!(all.len(), 5);
        let oot = installed_modules(tmp.path(), true).expect("walk");
        assert_eq!(oot, vec![tmp.path().join("updates/dkms/nvidia.ko")]);
    }
}
