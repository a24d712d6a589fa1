//! Module signatures: checking an appended PKCS#7 signature against the module's bytes
//! (`dkwrap verify --cert`) and signing a stripped module again (`dkwrap strip --resign`).
//!
//! No cryptography here: `openssl cms -verify` checks signatures and the kernel's
//! `scripts/sign-file` signs, both run with argument vectors. dkwrap only cuts the file
//! into the signed bytes and the PKCS#7 blob (`~Module signature appended~` trailer,
//! [`crate::modfile::Signature`]) and reads which digest the original signature used.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::modfile::ModuleFile;

/// What `verify --cert` concluded about one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureVerdict {
    /// openssl verified the signature over the module's bytes with the certificate.
    Valid,
    /// The module carries no signature.
    Unsigned,
    /// The signature does not verify (openssl's first line says why).
    Invalid(String),
}

/// The bytes the signature covers and the PKCS#7 blob, or `None` when unsigned.
pub fn signed_parts(module: &ModuleFile) -> Option<(&[u8], &[u8])> {
    let sig = module.signature.as_ref()?;
    let all = module.whole_bytes();
    let start = sig.elf_len;
    let end = start.checked_add(sig.sig_len as usize)?;
    Some((all.get(..start)?, all.get(start..end)?))
}

/// DER encodings of the digest algorithm OIDs sign-file uses, and their sign-file names.
const DIGEST_OIDS: &[(&[u8], &str)] = &[
    (
        &[
            0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03,
        ],
        "sha512",
    ),
    (
        &[
            0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
        ],
        "sha384",
    ),
    (
        &[
            0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        ],
        "sha256",
    ),
    (
        &[
            0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04,
        ],
        "sha224",
    ),
    (&[0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a], "sha1"),
];

/// The digest a PKCS#7 signature was made with (its first digestAlgorithm OID).
pub fn digest_of(pkcs7: &[u8]) -> Option<&'static str> {
    DIGEST_OIDS
        .iter()
        .filter_map(|(oid, name)| {
            pkcs7
                .windows(oid.len())
                .position(|w| w == *oid)
                .map(|pos| (pos, *name))
        })
        .min_by_key(|(pos, _)| *pos)
        .map(|(_, name)| name)
}

/// Checks `path`'s appended signature with `cert` (PEM or DER X.509) through openssl.
pub fn check_signature(path: &Path, cert: &Path) -> Result<SignatureVerdict> {
    let module = ModuleFile::open(path)?;
    let Some((content, pkcs7)) = signed_parts(&module) else {
        return Ok(SignatureVerdict::Unsigned);
    };
    let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let content_path = dir.path().join("module.bin");
    let sig_path = dir.path().join("signature.p7");
    std::fs::write(&content_path, content).map_err(|e| Error::io(&content_path, e))?;
    std::fs::write(&sig_path, pkcs7).map_err(|e| Error::io(&sig_path, e))?;
    let cert_pem = pem_certificate(cert, dir.path())?;
    let out = duct::cmd(
        openssl()?,
        [
            "cms".as_ref(),
            "-verify".as_ref(),
            "-binary".as_ref(),
            "-inform".as_ref(),
            "DER".as_ref(),
            "-in".as_ref(),
            sig_path.as_os_str(),
            "-content".as_ref(),
            content_path.as_os_str(),
            "-certfile".as_ref(),
            cert_pem.as_os_str(),
            "-nointern".as_ref(),
            "-noverify".as_ref(),
            "-out".as_ref(),
            "/dev/null".as_ref(),
        ] as [&std::ffi::OsStr; 15],
    )
    .stdout_capture()
    .stderr_capture()
    .unchecked()
    .run()
    .map_err(|e| Error::io("openssl", e))?;
    if out.status.success() {
        return Ok(SignatureVerdict::Valid);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let why = stderr
        .lines()
        .find(|l| l.contains("error") || l.contains("failure"))
        .or_else(|| stderr.lines().next())
        .unwrap_or("openssl cms -verify failed")
        .trim()
        .to_string();
    Ok(SignatureVerdict::Invalid(why))
}

fn openssl() -> Result<PathBuf> {
    which::which("openssl").map_err(|_| Error::ToolMissing {
        tool: "openssl".into(),
        hint: " (Debian/Ubuntu: apt install openssl)".into(),
    })
}

/// The certificate as PEM (dkms's mok.pub is DER), converted by openssl into `dir`.
fn pem_certificate(cert: &Path, dir: &Path) -> Result<PathBuf> {
    let bytes = std::fs::read(cert).map_err(|e| Error::io(cert, e))?;
    if bytes.starts_with(b"-----BEGIN") {
        return Ok(cert.to_path_buf());
    }
    let pem = dir.join("cert.pem");
    let out = duct::cmd(
        openssl()?,
        [
            "x509".as_ref(),
            "-inform".as_ref(),
            "DER".as_ref(),
            "-in".as_ref(),
            cert.as_os_str(),
            "-out".as_ref(),
            pem.as_os_str(),
        ] as [&std::ffi::OsStr; 7],
    )
    .stderr_capture()
    .unchecked()
    .run()
    .map_err(|e| Error::io("openssl", e))?;
    if !out.status.success() {
        return Err(Error::Unreadable {
            path: cert.to_path_buf(),
            reason: "not an X.509 certificate (PEM or DER)".into(),
        });
    }
    Ok(pem)
}

/// How to sign a stripped module again.
#[derive(Debug, Clone)]
pub struct Resign {
    /// The kernel's `scripts/sign-file`.
    pub sign_file: PathBuf,
    pub key: PathBuf,
    pub cert: PathBuf,
}

/// dkms's MOK pair, the key `--resign` uses when none is given.
pub const DKMS_MOK_KEY: &str = "/var/lib/dkms/mok.key";
pub const DKMS_MOK_CERT: &str = "/var/lib/dkms/mok.pub";

/// Signs `module` (uncompressed, unsigned) in place with `hash`.
pub fn sign(module: &Path, hash: &str, how: &Resign) -> Result<()> {
    for (what, p) in [
        ("sign-file", &how.sign_file),
        ("signing key", &how.key),
        ("certificate", &how.cert),
    ] {
        if !p.is_file() {
            return Err(Error::ToolMissing {
                tool: format!("{what} {}", p.display()),
                hint: " (--sign-file, --sign-key, --sign-cert)".into(),
            });
        }
    }
    let out = duct::cmd(
        &how.sign_file,
        [
            hash.as_ref(),
            how.key.as_os_str(),
            how.cert.as_os_str(),
            module.as_os_str(),
        ] as [&std::ffi::OsStr; 4],
    )
    .stdout_capture()
    .stderr_capture()
    .unchecked()
    .run()
    .map_err(|e| Error::io(&how.sign_file, e))?;
    if !out.status.success() {
        return Err(Error::StripFailed {
            path: module.to_path_buf(),
            reason: format!(
                "{} failed: {}",
                how.sign_file.display(),
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
            ),
        });
    }
    Ok(())
}

/// Strips a signed, uncompressed module and signs the result again with the digest of its
/// original signature: the stripped, proven module is written beside the target, signed
/// there, its new signature checked with the certificate, and only then renamed over the
/// target (or written to `opts.output`). An unsigned module is stripped as usual.
pub fn strip_and_resign(
    path: &Path,
    opts: &crate::strip::StripRequest,
    kernel: Option<&crate::target::KernelTarget>,
    how: &Resign,
) -> Result<(crate::strip::StripRecord, Option<&'static str>)> {
    let module = ModuleFile::open(path)?;
    let Some((_, pkcs7)) = signed_parts(&module) else {
        return Ok((crate::strip::strip_file(path, opts, kernel)?, None));
    };
    if module.compression.is_some() {
        return Err(Error::Usage(format!(
            "{}: --resign on a compressed module is not supported (decompress it, strip, sign, compress)",
            path.display()
        )));
    }
    let hash = digest_of(pkcs7).unwrap_or("sha512");
    drop(module);
    let target = opts.output.clone().unwrap_or_else(|| path.to_path_buf());
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let staged = tempfile::Builder::new()
        .prefix(".dkwrap-resign-")
        .suffix(".ko")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?
        .into_temp_path();
    let staged_opts = crate::strip::StripRequest {
        allow_unsign: true,
        output: Some(staged.to_path_buf()),
        // sign-file rewrites the staged file: it is flushed once signed (below).
        fsync_output: false,
        ..opts.clone()
    };
    let mut record = crate::strip::strip_file(path, &staged_opts, kernel)?;
    if record.strategy == crate::strip::Strategy::Skip {
        // Left unstripped: the staged file is the original, signature and all.
        if opts.output.is_some() {
            staged
                .persist(&target)
                .map_err(|e| Error::io(&target, e.error))?;
        }
        record.output = target;
        return Ok((record, None));
    }
    sign(&staged, hash, how)?;
    match check_signature(&staged, &how.cert)? {
        SignatureVerdict::Valid => {}
        other => {
            return Err(Error::StripFailed {
                path: path.to_path_buf(),
                reason: format!(
                    "the new signature does not verify ({other:?}); target left as it was"
                ),
            })
        }
    }
    if opts.output.is_none() || opts.fsync_output {
        std::fs::File::open(&staged)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(&staged, e))?;
    }
    staged.persist(&target).map_err(|e| Error::StripFailed {
        path: target.clone(),
        reason: format!("cannot replace the target: {}", e.error),
    })?;
    record.output = target.clone();
    record.signature_dropped = false;
    record.size_after = std::fs::metadata(&target)
        .map_err(|e| Error::io(&target, e))?
        .len();
    Ok((record, Some(hash)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_read_from_the_signature_blob() {
        let mut blob = vec![0x30, 0x82, 0x01, 0x00];
        blob.extend_from_slice(DIGEST_OIDS[0].0);
        blob.extend_from_slice(DIGEST_OIDS[2].0);
        assert_eq!(digest_of(&blob), Some("sha512"));
        assert_eq!(digest_of(&[0x30, 0x00]), None);
    }
}
