//! A gzip-compressed `newc` cpio archive, the format the kernel unpacks as its initramfs
//! (Documentation/driver-api/early-userspace/buffer-format.rst). Written here so that no
//! host tool and no file of the host's root filesystem is involved.

use std::io::{self, Write};

use flate2::write::GzEncoder;

const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;

/// Builds an archive in memory: directories and files, in the order added.
pub struct Archive {
    out: GzEncoder<Vec<u8>>,
    next_ino: u32,
}

impl Archive {
    pub fn new() -> Self {
        Archive {
            out: GzEncoder::new(Vec::new(), flate2::Compression::fast()),
            next_ino: 1,
        }
    }

    pub fn dir(&mut self, name: &str) -> io::Result<()> {
        self.entry(name, S_IFDIR | 0o755, &[])
    }

    /// A regular file; `executable` gives it mode 0755, else 0644.
    pub fn file(&mut self, name: &str, data: &[u8], executable: bool) -> io::Result<()> {
        let perm = if executable { 0o755 } else { 0o644 };
        self.entry(name, S_IFREG | perm, data)
    }

    /// The compressed archive, with its `TRAILER!!!` entry.
    pub fn finish(mut self) -> io::Result<Vec<u8>> {
        self.entry("TRAILER!!!", 0, &[])?;
        self.out.finish()
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) -> io::Result<()> {
        let ino = self.next_ino;
        self.next_ino += 1;
        let name_len = name.len() + 1; // with its NUL
        let nlink = if mode & S_IFDIR != 0 { 2 } else { 1 };
        let size = u32::try_from(data.len())
            .map_err(|_| io::Error::other(format!("{name}: larger than 4 GiB")))?;
        // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
        // rdevmajor, rdevminor, namesize, check: thirteen 8-digit hex fields.
        let header = format!(
            "070701{ino:08x}{mode:08x}{:08x}{:08x}{nlink:08x}{:08x}{size:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            0, 0, 0, 0, 0, 0, 0, name_len, 0
        );
        self.out.write_all(header.as_bytes())?;
        self.out.write_all(name.as_bytes())?;
        self.out.write_all(&[0])?;
        self.pad(110 + name_len)?;
        self.out.write_all(data)?;
        self.pad(data.len())
    }

    /// Pads to a multiple of four bytes after `written` bytes.
    fn pad(&mut self, written: usize) -> io::Result<()> {
        let n = (4 - written % 4) % 4;
        self.out.write_all(&[0u8; 3][..n])
    }
}

impl Default for Archive {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn entries_are_newc_and_four_byte_aligned() {
        let mut a = Archive::new();
        a.dir("bin").unwrap();
        a.file("init", b"#!/bin/sh\n", true).unwrap();
        let gz = a.finish().unwrap();
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut raw)
            .unwrap();
        assert!(raw.starts_with(b"070701"));
        assert_eq!(raw.len() % 4, 0);
        let text = String::from_utf8_lossy(&raw);
        // 110 header bytes + "init\0" = 115: one NUL pads the data to a multiple of four.
        assert!(text.contains("bin\0") && text.contains("init\0\0#!/bin/sh\n"));
        assert!(text.contains("TRAILER!!!\0"));
        // The file's header: mode 0100755, size 10.
        let at = text.find("init\0").unwrap() - 110;
        assert_eq!(&text[at + 14..at + 22], "000081ed");
        assert_eq!(&text[at + 54..at + 62], "0000000a");
    }
}
