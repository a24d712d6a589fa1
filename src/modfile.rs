//! A module file as it sits on disk: maybe compressed (`.ko.zst`, `.ko.xz`, `.ko.gz`),
//! maybe signed (`~Module signature appended~`). This module peels those layers off so
//! every command sees the ELF bytes, and puts them back on when `strip` writes a result.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::elf::{Elf, ParseError};
use crate::error::{Error, Result};

/// The trailer the kernel's `scripts/sign-file` appends.
pub const SIGNATURE_MAGIC: &[u8] = b"~Module signature appended~\n";
/// `struct module_signature`: algo, hash, id_type, signer_len, key_id_len, pad[3], be32 sig_len.
pub const MODULE_SIGNATURE_SIZE: usize = 12;
/// `PKEY_ID_PKCS7`: the only id_type the kernel accepts.
pub const PKEY_ID_PKCS7: u8 = 2;

/// The most a compressed module may inflate to. The largest real modules (NVIDIA's, with
/// debug information) are a few hundred MB; a stream that inflates past this is refused
/// instead of being read until the OOM killer comes.
pub const MAX_INFLATED_SIZE: u64 = 1 << 30;

/// The most memory the xz decoder may use (its dictionary): kmod and the kernel compress
/// with 1-64 MiB dictionaries.
pub const XZ_MEMORY_LIMIT: u64 = 256 << 20;

/// Compression formats the kernel's module loader and kmod understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Zstd,
    Xz,
    Gzip,
}

impl Compression {
    /// Recognised by content, not by name: a `.ko.zst` renamed `.ko` is still zstd.
    pub fn sniff(data: &[u8]) -> Option<Self> {
        if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Some(Compression::Xz)
        } else if data.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Gzip => "gzip",
        }
    }

    /// Inflates `data`, at most [`MAX_INFLATED_SIZE`] bytes.
    pub fn decompress(self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        self.decompress_capped(data, MAX_INFLATED_SIZE)
    }

    /// Inflates `data` as a stream, refusing (`InvalidData`) once it passes `cap` bytes.
    pub fn decompress_capped(self, data: &[u8], cap: u64) -> std::io::Result<Vec<u8>> {
        let decoder: Box<dyn Read + '_> = match self {
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(data)?),
            Compression::Xz => {
                // Found by fuzzing: an xz header may ask for a 4 GiB dictionary, which the
                // decoder allocates up front; a module's stream never needs this much.
                let stream = liblzma::stream::Stream::new_stream_decoder(
                    XZ_MEMORY_LIMIT,
                    liblzma::stream::CONCATENATED,
                )?;
                Box::new(liblzma::read::XzDecoder::new_stream(data, stream))
            }
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(data)),
        };
        let guess = (data.len() as u64).saturating_mul(4).min(cap) as usize;
        let mut out = Vec::with_capacity(guess);
        decoder.take(cap.saturating_add(1)).read_to_end(&mut out)?;
        if out.len() as u64 > cap {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "inflates to more than {} MiB, larger than any kernel module",
                    cap >> 20
                ),
            ));
        }
        Ok(out)
    }

    /// Recompresses with the settings the kernel's `modules_install` and dkms use:
    /// zstd level 19, xz with a CRC32 check (the in-kernel decompressor needs it), gzip -9.
    pub fn compress(self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        use std::io::Write;
        match self {
            Compression::Zstd => zstd::stream::encode_all(data, 19),
            Compression::Xz => {
                let stream =
                    liblzma::stream::Stream::new_easy_encoder(6, liblzma::stream::Check::Crc32)?;
                let mut enc = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
                enc.write_all(data)?;
                enc.finish()
            }
            Compression::Gzip => {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                enc.write_all(data)?;
                enc.finish()
            }
        }
    }
}

/// A parsed `~Module signature appended~` trailer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Signature {
    /// Where the ELF image ends and the signature data begins.
    pub elf_len: usize,
    /// `sig_len` (big-endian in the file).
    pub sig_len: u32,
    pub id_type: u8,
    /// Why the kernel would reject this trailer (`mod_check_sig`), if it would.
    pub problem: Option<String>,
}

impl Signature {
    /// Reads the trailer at the end of `data`, if the magic is there.
    pub fn parse(data: &[u8]) -> Option<Signature> {
        if !data.ends_with(SIGNATURE_MAGIC) {
            return None;
        }
        let magic_at = data.len() - SIGNATURE_MAGIC.len();
        let Some(ms_at) = magic_at.checked_sub(MODULE_SIGNATURE_SIZE) else {
            return Some(Signature {
                elf_len: magic_at,
                sig_len: 0,
                id_type: 0,
                problem: Some("signature trailer is shorter than struct module_signature".into()),
            });
        };
        let ms = &data[ms_at..magic_at];
        let sig_len = u32::from_be_bytes([ms[8], ms[9], ms[10], ms[11]]);
        let id_type = ms[2];
        let mut problem = None;
        // The same checks, in the same order, as the kernel's mod_check_sig().
        let elf_len = match ms_at.checked_sub(sig_len as usize) {
            Some(n) if (sig_len as usize) < ms_at => n,
            _ => {
                problem = Some(format!(
                    "signature length {sig_len} is larger than the module ({ms_at} bytes before the trailer)"
                ));
                ms_at
            }
        };
        if problem.is_none() && id_type != PKEY_ID_PKCS7 {
            problem = Some(format!(
                "signature id_type is {id_type}, not PKCS#7 ({PKEY_ID_PKCS7})"
            ));
        }
        if problem.is_none()
            && (ms[0] != 0 || ms[1] != 0 || ms[3] != 0 || ms[4] != 0 || ms[5..8] != [0, 0, 0])
        {
            problem = Some("PKCS#7 signature with non-zero algo/hash/signer/key-id fields".into());
        }
        Some(Signature {
            elf_len,
            sig_len,
            id_type,
            problem,
        })
    }
}

/// Files smaller than this are read into memory, larger ones mapped (verifying Debian's
/// 4,023 modules in parallel spent a tenth of its time in the unmaps' TLB shootdowns).
const MAP_MIN_FILE: u64 = 1 << 20;

/// How a plain module's bytes are held in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Small files read, large ones mapped: for passes that read every byte, on many threads
    /// at once (see [`MAP_MIN_FILE`]).
    Whole,
    /// Mapped whatever the size: for one file at a time, when only some sections are read.
    /// Strip never touches the debug sections it drops, often nine tenths of a module; reading
    /// them cost a page fault per 4 KiB (a 584 KB module: 3.96 ms a run read, 2.54 ms mapped).
    Sparse,
}

/// The bytes of a file: memory-mapped when it is a plain module (a large one, or any under
/// [`Access::Sparse`]), owned when read or decompressed.
pub enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// A module file with its layers identified.
pub struct ModuleFile {
    pub path: PathBuf,
    /// Size on disk.
    pub file_len: u64,
    pub compression: Option<Compression>,
    /// The decompressed bytes: ELF image plus any signature.
    pub bytes: Bytes,
    pub signature: Option<Signature>,
}

impl std::fmt::Debug for ModuleFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleFile")
            .field("path", &self.path)
            .field("compression", &self.compression)
            .field("len", &self.bytes.len())
            .field("signature", &self.signature)
            .finish()
    }
}

impl ModuleFile {
    /// Opens and, when needed, decompresses a module. Directories, unreadable files and
    /// corrupt compressed streams are errors naming the path.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, Access::Whole)
    }

    /// [`ModuleFile::open`], holding a plain module's bytes as `access` says.
    pub fn open_with(path: &Path, access: Access) -> Result<Self> {
        let file = open_regular(path)?;
        let meta = file.metadata().map_err(|e| Error::io(path, e))?;
        let raw = if access == Access::Whole && meta.len() < MAP_MIN_FILE {
            // A small file is read: unmapping it later would interrupt every CPU running one
            // of our threads (a TLB shootdown), which costs more than the copy.
            let mut bytes = Vec::with_capacity(meta.len() as usize);
            (&file)
                .take(meta.len())
                .read_to_end(&mut bytes)
                .map_err(|e| Error::io(path, e))?;
            Bytes::Owned(bytes)
        } else {
            // Only a mapped file can raise SIGBUS; the line it prints names this one.
            crate::cleanup::reading(path);
            // Safety: the map is read-only; a module rewritten under us while we read it
            // can at worst give wrong bytes, which the ELF checks and the proof then reject;
            // one truncated under us raises SIGBUS, which `cleanup` turns into exit 3.
            Bytes::Mapped(unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?)
        };
        let compression = Compression::sniff(&raw);
        let bytes = match compression {
            None => raw,
            Some(c) => Bytes::Owned(c.decompress(&raw).map_err(|e| Error::Decompress {
                path: path.to_path_buf(),
                reason: match e.kind() {
                    std::io::ErrorKind::InvalidData if e.to_string().starts_with("inflates") => {
                        format!("{} stream {e}", c.name())
                    }
                    _ => format!("corrupt {} stream: {e}", c.name()),
                },
            })?),
        };
        let signature = Signature::parse(&bytes);
        Ok(ModuleFile {
            path: path.to_path_buf(),
            file_len: meta.len(),
            compression,
            bytes,
            signature,
        })
    }

    /// The ELF image without any appended signature.
    pub fn elf_bytes(&self) -> &[u8] {
        match &self.signature {
            Some(sig) => &self.bytes[..sig.elf_len.min(self.bytes.len())],
            None => &self.bytes,
        }
    }

    /// The (decompressed) file, signature trailer included.
    pub fn whole_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Parses the ELF image; the error names this file.
    pub fn elf(&self) -> Result<Elf<'_>> {
        Elf::parse(self.elf_bytes()).map_err(|e| parse_error(&self.path, e))
    }

    /// [`ModuleFile::elf`], allowed to give pages back once read ([`Elf::release`]): less
    /// memory for one pass over a big module (strip), more page faults for several (verify).
    pub fn elf_releasing(&self) -> Result<Elf<'_>> {
        if let Bytes::Mapped(_) = self.bytes {
            // Safety: the bytes are our read-only private mapping of the file.
            unsafe { Elf::parse_mapped(self.elf_bytes()) }.map_err(|e| parse_error(&self.path, e))
        } else {
            self.elf()
        }
    }
}

/// Opens `path` for reading if it is a regular file (after following symlinks). The open is
/// non-blocking, so a FIFO with no writer is refused instead of hanging; a device, socket
/// or directory is refused before anything is read from it.
pub fn open_regular(path: &Path) -> Result<File> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    let kind = file.metadata().map_err(|e| Error::io(path, e))?.file_type();
    let what = if kind.is_file() {
        // O_NONBLOCK means nothing for a regular file's reads.
        return Ok(file);
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Err(Error::Unreadable {
        path: path.to_path_buf(),
        reason: format!("is {what}, not a regular file"),
    })
}

/// Turns a parse error into the user-facing error for `path`.
pub fn parse_error(path: &Path, e: ParseError) -> Error {
    if e.not_elf {
        Error::NotElf {
            path: path.to_path_buf(),
            reason: e.reason,
        }
    } else {
        Error::Malformed {
            path: path.to_path_buf(),
            offset: e.offset,
            reason: e.reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trailer(sig: &[u8], id_type: u8) -> Vec<u8> {
        let mut v = b"ELFDATA".to_vec();
        v.extend_from_slice(sig);
        v.extend_from_slice(&[0, 0, id_type, 0, 0, 0, 0, 0]);
        v.extend_from_slice(&(sig.len() as u32).to_be_bytes());
        v.extend_from_slice(SIGNATURE_MAGIC);
        v
    }

    #[test]
    fn sparse_access_maps_small_files_and_whole_access_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.ko");
        std::fs::write(&path, b"\x7fELF a small module").unwrap();
        let sparse = ModuleFile::open_with(&path, Access::Sparse).unwrap();
        assert!(matches!(sparse.bytes, Bytes::Mapped(_)));
        let whole = ModuleFile::open(&path).unwrap();
        assert!(matches!(whole.bytes, Bytes::Owned(_)));
        assert_eq!(&*sparse.bytes, &*whole.bytes);
    }

    #[test]
    fn signature_trailer_is_split_off() {
        let sig = Signature::parse(&trailer(b"PKCS7", PKEY_ID_PKCS7)).unwrap();
        assert_eq!(sig.elf_len, 7);
        assert_eq!(sig.sig_len, 5);
        assert_eq!(sig.problem, None);
    }

    #[test]
    fn damaged_signature_trailers_are_reported() {
        let mut v = trailer(b"PKCS7", PKEY_ID_PKCS7);
        let n = v.len() - SIGNATURE_MAGIC.len() - 4;
        v[n..n + 4].copy_from_slice(&1000u32.to_be_bytes());
        assert!(Signature::parse(&v)
            .unwrap()
            .problem
            .unwrap()
            .contains("larger"));
        let sig = Signature::parse(&trailer(b"X", 1)).unwrap();
        assert!(sig.problem.unwrap().contains("PKCS#7"));
        assert_eq!(Signature::parse(b"plain module"), None);
    }

    #[test]
    fn compression_round_trips() {
        let data = b"\x7fELF some module bytes".repeat(100);
        for c in [Compression::Zstd, Compression::Xz, Compression::Gzip] {
            let packed = c.compress(&data).unwrap();
            assert_eq!(Compression::sniff(&packed), Some(c));
            assert_eq!(c.decompress(&packed).unwrap(), data);
        }
        assert_eq!(Compression::sniff(&data), None);
    }

    /// Found by fuzzing: the auto decoder also took legacy `.lzma` streams, whose header may
    /// ask for a 4 GiB dictionary that was allocated up front. Only xz is a module format.
    #[test]
    fn legacy_lzma_streams_are_not_xz() {
        use std::io::Write;
        let options = liblzma::stream::LzmaOptions::new_preset(1).unwrap();
        let stream = liblzma::stream::Stream::new_lzma_encoder(&options).unwrap();
        let mut enc = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
        enc.write_all(b"\x7fELF module").unwrap();
        let lzma = enc.finish().unwrap();
        assert!(Compression::Xz.decompress(&lzma).is_err());
    }

    #[test]
    fn inflation_past_the_cap_is_refused() {
        let data = vec![0u8; 1 << 20];
        for c in [Compression::Zstd, Compression::Xz, Compression::Gzip] {
            let packed = c.compress(&data).unwrap();
            assert_eq!(
                c.decompress_capped(&packed, 1 << 20).unwrap().len(),
                1 << 20
            );
            let e = c.decompress_capped(&packed, (1 << 20) - 1).unwrap_err();
            assert!(e.to_string().contains("inflates to more than"), "{e}");
        }
    }
}
