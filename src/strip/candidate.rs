//! The files a strip writes on its way to replacing a module: temporary candidates beside the
//! target, flushed to disk while the proof reads them and renamed into place with the
//! original's mode and owner; and the external strip tools that write some of them.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::cleanup;
use crate::error::{Error, Result};

/// Stderr text that means a binutils/elfutils tool went wrong even when it exited 0.
const TOOL_FAILURE_MARKERS: &[&str] = &[
    "assertion fail",
    "invalid entry",
    "illformed",
    "file format not recognized",
    "BFD",
];

/// sha256 of a file, read in chunks (a mapping would count the whole file in our RSS).
pub fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut f = crate::modfile::open_regular(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// A temporary file beside the target (same filesystem, so the final rename is atomic).
///
/// Named `.dkwrap-PID-XXXXXX.tmp` when a tool must open it by name: removed when dropped,
/// unlinked by a signal that ends the run, swept by a later run if the process was killed.
/// Anonymous (`O_TMPFILE`) where dkwrap writes it itself and the filesystem supports it:
/// a killed run then leaves nothing at all, and the file gets a name only for the instant
/// between `linkat` and the rename over the target.
#[derive(Debug)]
pub struct Temp {
    file: File,
    /// `None` for an anonymous file.
    named: Option<tempfile::TempPath>,
    dir: PathBuf,
    // Dropped after `named` (fields drop in order): unregistered once the file is gone.
    _registered: cleanup::Registered,
}

impl Temp {
    pub fn as_file(&self) -> &File {
        &self.file
    }
    pub fn as_file_mut(&mut self) -> &mut File {
        &mut self.file
    }
    /// A path that opens this file: its name, or `/proc/self/fd/N` for an anonymous one
    /// (which only this process can open).
    pub fn path(&self) -> PathBuf {
        use std::os::fd::AsRawFd;
        match &self.named {
            Some(p) => p.to_path_buf(),
            None => PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd())),
        }
    }

    /// Renames (or, anonymous, links then renames) the file over `target`.
    fn persist(self, target: &Path) -> std::io::Result<()> {
        let Temp {
            file,
            named,
            dir,
            _registered,
        } = self;
        match named {
            Some(p) => p.persist(target).map_err(|e| e.error),
            None => {
                let name = link_anonymous(&file, &dir)?;
                let _window = cleanup::register(&name);
                fs::rename(&name, target).inspect_err(|_| {
                    let _ = fs::remove_file(&name);
                })
            }
        }
    }
}

impl Write for Temp {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Gives an `O_TMPFILE` file a fresh `.dkwrap-PID-XXXXXX.tmp` name in `dir`.
fn link_anonymous(file: &File, dir: &Path) -> std::io::Result<PathBuf> {
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let proc_path = std::ffi::CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .map_err(std::io::Error::other)?;
    for attempt in 0..16u32 {
        let name = dir.join(format!(
            "{}{:08x}.tmp",
            cleanup::temp_prefix(),
            std::process::id().rotate_left(attempt * 7)
                ^ attempt.wrapping_mul(0x9e37_79b9)
                ^ (std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos()))
        ));
        let c_name =
            std::ffi::CString::new(name.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
        // Safety: NUL-terminated paths; AT_SYMLINK_FOLLOW makes /proc/self/fd/N name the
        // open file itself (the documented way to link an O_TMPFILE without privileges).
        let rc = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                proc_path.as_ptr(),
                libc::AT_FDCWD,
                c_name.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if rc == 0 {
            return Ok(name);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(e);
        }
    }
    Err(std::io::Error::other("no free temporary name"))
}

fn cannot_create(dir: &Path, e: std::io::Error) -> Error {
    match crate::error::is_no_space(&e) {
        true => Error::io(dir, e),
        false => Error::StripFailed {
            path: dir.to_path_buf(),
            reason: format!("cannot create a temporary file in {}: {e}", dir.display()),
        },
    }
}

/// Creates a named temporary file in `dir`, for a tool to open by name.
pub fn temp_in(dir: &Path) -> Result<Temp> {
    let (file, path) = tempfile::Builder::new()
        .prefix(&cleanup::temp_prefix())
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| cannot_create(dir, e))?
        .into_parts();
    let registered = cleanup::register(&path);
    Ok(Temp {
        file,
        named: Some(path),
        dir: dir.to_path_buf(),
        _registered: registered,
    })
}

/// Creates a temporary file in `dir` that dkwrap writes itself: anonymous (`O_TMPFILE`)
/// where the filesystem supports it, else named like [`temp_in`].
pub fn anonymous_temp_in(dir: &Path) -> Result<Temp> {
    use std::os::unix::fs::OpenOptionsExt;
    let opened = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir);
    match opened {
        Ok(file) => Ok(Temp {
            file,
            named: None,
            dir: dir.to_path_buf(),
            _registered: cleanup::Registered::none(),
        }),
        // EOPNOTSUPP, EISDIR (a kernel without O_TMPFILE), EINVAL: no anonymous files here.
        Err(e) if crate::error::is_no_space(&e) => Err(Error::io(dir, e)),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(cannot_create(dir, e)),
        Err(_) => temp_in(dir),
    }
}

/// `chattr +a` / `+i` (`FS_APPEND_FL`, `FS_IMMUTABLE_FL`): what stops a rename over the file
/// or the removal of a temporary file in the directory, in words; `None` when neither is set
/// or the filesystem has no such flags.
pub fn locked_by_attributes(path: &Path) -> Option<&'static str> {
    use std::os::fd::AsRawFd;
    const FS_IMMUTABLE_FL: libc::c_long = 0x10;
    const FS_APPEND_FL: libc::c_long = 0x20;
    let file = File::open(path).ok()?;
    let mut flags: libc::c_long = 0;
    // Safety: FS_IOC_GETFLAGS writes an int into the (larger, zeroed) long it is given.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
    if rc != 0 {
        None
    } else if flags & FS_IMMUTABLE_FL != 0 {
        Some("immutable (chattr +i)")
    } else if flags & FS_APPEND_FL != 0 {
        Some("append-only (chattr +a)")
    } else {
        None
    }
}

/// A fresh handle on the file now at a temporary file's path (see the strip-tool note above).
pub fn reopen(temp: Temp) -> Result<Temp> {
    let path = temp.path();
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    Ok(Temp { file, ..temp })
}

/// A private copy of `source` for an external tool to read: a tool that writes to its
/// input (a wrapper that ignores `-o`, a buggy or hostile strip) then damages only the copy,
/// never the user's file. A reflink (FICLONE) where the filesystem shares extents, else
/// a copy.
pub fn private_copy(source: &Path, dir: &Path) -> Result<Temp> {
    let mut copy = temp_in(dir)?;
    let mut from = crate::modfile::open_regular(source)?;
    if !reflink(&from, copy.as_file()) {
        std::io::copy(&mut from, copy.as_file_mut()).map_err(|e| Error::io(copy.path(), e))?;
    }
    Ok(copy)
}

/// Shares `from`'s extents with the empty file `to` (btrfs, XFS, bcachefs); false where the
/// filesystem cannot, and the caller copies.
fn reflink(from: &File, to: &File) -> bool {
    use std::os::fd::AsRawFd;
    // Safety: FICLONE takes the source descriptor as its argument; both descriptors are
    // open for the duration of the call and nothing is read from or written to memory.
    let rc = unsafe { libc::ioctl(to.as_raw_fd(), libc::FICLONE, from.as_raw_fd()) };
    rc == 0
}

/// Maps a file we just wrote, read-only.
pub fn map(path: &Path) -> std::io::Result<memmap2::Mmap> {
    let f = File::open(path)?;
    // Safety: the file is our own temporary file, which nothing else writes.
    unsafe { memmap2::Mmap::map(&f) }
}

/// Runs an external strip tool on `input`, writing `output`. Never through a shell.
pub fn run_tool(tool: &Path, input: &Path, output: &Path) -> std::result::Result<(), String> {
    let out = duct::cmd(
        tool,
        [
            Path::new("-g").as_os_str(),
            Path::new("-o").as_os_str(),
            output.as_os_str(),
            input.as_os_str(),
        ],
    )
    .stdout_capture()
    .stderr_capture()
    .unchecked()
    .run()
    .map_err(|e| format!("cannot run {}: {e}", tool.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let complaint = TOOL_FAILURE_MARKERS
        .iter()
        .find(|m| stderr.contains(*m) || stdout.contains(*m));
    let first_line = stderr.lines().next().unwrap_or("").trim().to_string();
    if !out.status.success() {
        let how = match out.status.code() {
            Some(c) => format!("exited with status {c}"),
            None => "was killed by a signal".to_string(),
        };
        return Err(format!("{} {how}: {first_line}", tool.display()));
    }
    if let Some(m) = complaint {
        let times = match stderr.matches(m).count() {
            1 => "once".to_string(),
            n => format!("{n} times"),
        };
        return Err(format!(
            "{} exited 0 but printed \"{m}\" {times}: {first_line}",
            tool.display()
        ));
    }
    Ok(())
}

/// Writes a file and starts the disk's writeback of each megabyte once it is written, so
/// that the flush before the rename finds most of the file on its way already.
pub struct WritebackAsWritten<'f> {
    file: &'f File,
    written: u64,
    /// Bytes whose writeback has been started.
    started: u64,
    /// A write failed because the disk or quota is full.
    pub no_space: bool,
}

impl<'f> WritebackAsWritten<'f> {
    pub fn new(file: &'f File) -> Self {
        WritebackAsWritten {
            file,
            written: 0,
            started: 0,
            no_space: false,
        }
    }
}

impl Write for WritebackAsWritten<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = (&*self.file).write(buf).inspect_err(|e| {
            self.no_space |= crate::error::is_no_space(e);
        })?;
        self.written += n as u64;
        if self.written - self.started >= 1 << 20 {
            use std::os::fd::AsRawFd;
            // Safety: a valid descriptor and range; SYNC_FILE_RANGE_WRITE only starts
            // writeback. It is a hint: an error leaves the final fsync to do the work.
            unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    self.started as libc::off64_t,
                    (self.written - self.started) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
            self.started = self.written;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// When a kept output must be on disk: before it takes its name, or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Flushed on another thread while the proof reads it, waited for before the rename
    /// (one file replacing its input).
    Each,
    /// Writeback started now; [`flush_together`] finishes it for a group of files in one
    /// pass, each before its own rename (several files in one invocation).
    Batch,
    /// Not flushed: `-o` to another path without `--fsync`, like `strip -o` (the input is
    /// never written, so a crash cannot cost it).
    None,
}

/// How far a candidate's flush has gone.
enum Flush {
    Thread(std::thread::JoinHandle<std::io::Result<()>>),
    /// `sync_file_range(WRITE)` started; an fsync finishes it.
    Started,
    /// Nothing to wait for: on disk already, or not asked to be.
    Done,
}

/// A temporary file on its way to replacing the target: it has the original's owner, mode
/// and extended attributes, and is on its way to disk as its [`Durability`] says.
pub struct Flushing {
    pub temp: Temp,
    flush: Flush,
}
/// What a replacement keeps of the file it replaces.
#[derive(Debug)]
pub struct Original {
    pub meta: fs::Metadata,
    /// Every extended attribute this process could read (`security.ima`, `security.selinux`,
    /// `user.*`, and `trusted.*` as root), as name and value.
    pub xattrs: Vec<(std::ffi::CString, Vec<u8>)>,
}

impl Original {
    /// Reads the metadata and extended attributes of the file at `path` (symlinks followed).
    pub fn read(path: &Path) -> Result<Original> {
        let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
        Ok(Original {
            meta,
            xattrs: read_xattrs(path),
        })
    }
}

/// Every extended attribute of `path` that can be read; a filesystem without them has none.
fn read_xattrs(path: &Path) -> Vec<(std::ffi::CString, Vec<u8>)> {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return Vec::new();
    };
    // Most modules have none: ask for the list's size first and allocate only what it needs.
    // Safety: a NUL-terminated path; size 0 asks only for the length (nothing is written).
    let needed = unsafe { libc::listxattr(c_path.as_ptr(), std::ptr::null_mut(), 0) };
    if needed <= 0 {
        return Vec::new();
    }
    // Room for attributes added between the calls: the size asked for, then the most a
    // listing can be (64 KiB) if that was outgrown.
    let list = |size: usize| {
        let mut names = vec![0u8; size];
        // Safety: the buffer is valid for its length; the path is NUL-terminated.
        let n = unsafe { libc::listxattr(c_path.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
        usize::try_from(n).ok().map(|n| {
            names.truncate(n);
            names
        })
    };
    let Some(names) = list(needed as usize + 1024).or_else(|| list(64 << 10)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let Ok(name) = std::ffi::CString::new(name) else {
            continue;
        };
        let mut value = vec![0u8; 64 << 10];
        // Safety: as above; the value buffer is valid for its length.
        let len = unsafe {
            libc::getxattr(
                c_path.as_ptr(),
                name.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        match usize::try_from(len) {
            Ok(len) => {
                value.truncate(len);
                out.push((name, value));
            }
            Err(_) => tracing::warn!(
                "{}: extended attribute {} not kept: cannot read it: {}",
                path.display(),
                name.to_string_lossy(),
                crate::error::io_reason(&std::io::Error::last_os_error())
            ),
        }
    }
    out
}

/// Gives the temporary file the original's owner, then its mode (a chown clears setuid and
/// setgid), then its extended attributes (a chown drops `security.capability`), and starts
/// flushing it to disk, so that the disk works while the proof reads the file. An
/// attribute the filesystem or the process's privileges refuse is logged with why.
pub fn start_flush(temp: Temp, original: &Original, durability: Durability) -> Result<Flushing> {
    use std::os::fd::AsRawFd;
    let file: &File = temp.as_file();
    // Ownership: only root can give a file away; as another user the file is already ours.
    let (uid, gid) = (original.meta.uid(), original.meta.gid());
    if let Err(e) = std::os::unix::fs::fchown(file, Some(uid), Some(gid)) {
        if e.kind() != std::io::ErrorKind::PermissionDenied {
            return Err(Error::io(temp.path(), e));
        }
    }
    file.set_permissions(fs::Permissions::from_mode(original.meta.mode() & 0o7777))
        .map_err(|e| Error::io(temp.path(), e))?;
    for (name, value) in &original.xattrs {
        // Safety: a valid descriptor, a NUL-terminated name, a value valid for its length.
        let rc = unsafe {
            libc::fsetxattr(
                file.as_raw_fd(),
                name.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        if rc != 0 {
            tracing::warn!(
                "extended attribute {} dropped: {}",
                name.to_string_lossy(),
                crate::error::io_reason(&std::io::Error::last_os_error())
            );
        }
    }
    let flush = match durability {
        Durability::Each => {
            let handle = file.try_clone().map_err(|e| Error::io(temp.path(), e))?;
            Flush::Thread(std::thread::spawn(move || handle.sync_all()))
        }
        Durability::Batch => {
            // Safety: a valid descriptor; offset 0 and length 0 mean the whole file, and
            // SYNC_FILE_RANGE_WRITE only starts writeback. A hint: the fsync does the work.
            unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
            Flush::Started
        }
        Durability::None => Flush::Done,
    };
    Ok(Flushing { temp, flush })
}

/// Puts a group of candidates whose writeback was started ([`Durability::Batch`]) on disk
/// together: one `syncfs` per filesystem they are on (data and inodes written, the device's
/// cache flushed once, instead of once per file), then each file's own writeback status,
/// waited for (a failed write to that file fails it alone). A `syncfs` error fails every file
/// on that filesystem. A file that fails is never renamed.
pub fn flush_together(group: &mut [&mut Flushing]) -> Vec<Result<()>> {
    use std::os::fd::AsRawFd;
    let mut by_fs: std::collections::HashMap<u64, Option<i32>> = Default::default();
    let mut one = |f: &mut Flushing| -> Result<()> {
        if !matches!(f.flush, Flush::Started) {
            return f.wait_on_disk();
        }
        let file = f.temp.as_file();
        let dev = file
            .metadata()
            .map_err(|e| Error::io(f.temp.path(), e))?
            .dev();
        let fs_error = *by_fs.entry(dev).or_insert_with(|| {
            // Safety: a valid descriptor; syncfs only writes back the filesystem's data.
            let rc = unsafe { libc::syncfs(file.as_raw_fd()) };
            (rc != 0).then(|| std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        });
        if let Some(errno) = fs_error {
            let e = std::io::Error::from_raw_os_error(errno);
            return Err(Error::io(f.temp.path(), e));
        }
        let all = libc::SYNC_FILE_RANGE_WAIT_BEFORE
            | libc::SYNC_FILE_RANGE_WRITE
            | libc::SYNC_FILE_RANGE_WAIT_AFTER;
        // Safety: a valid descriptor; offset and length 0 cover the whole file. Nothing is
        // left to write after syncfs: this reports a writeback error of this file.
        if unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, all) } != 0 {
            return Err(Error::io(f.temp.path(), std::io::Error::last_os_error()));
        }
        f.flush = Flush::Done;
        Ok(())
    };
    group.iter_mut().map(|f| one(f)).collect()
}

impl Flushing {
    /// Waits until the file is on disk (a no-op when its durability asks for none). A
    /// failure leaves the temporary file unnamed: the target is never replaced by it.
    pub fn wait_on_disk(&mut self) -> Result<()> {
        let flushed = match std::mem::replace(&mut self.flush, Flush::Done) {
            Flush::Thread(t) => t
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the flushing thread panicked"))),
            Flush::Started => self.temp.as_file().sync_all(),
            Flush::Done => Ok(()),
        };
        flushed.map_err(|e| Error::io(self.temp.path(), e))
    }

    /// Waits until the file is on disk as its durability asks, then renames it over the
    /// target.
    pub fn commit(mut self, target: &Path) -> Result<()> {
        self.wait_on_disk()?;
        self.temp
            .persist(target)
            .map_err(|e| match crate::error::is_no_space(&e) {
                true => Error::io(target, e),
                false => Error::StripFailed {
                    path: target.to_path_buf(),
                    reason: format!("cannot replace the target: {e}"),
                },
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_anonymous_temp_has_no_name_until_it_replaces_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("m.ko");
        fs::write(&target, b"old").unwrap();
        let mut t = anonymous_temp_in(dir.path()).unwrap();
        t.write_all(b"new bytes").unwrap();
        let names = || -> Vec<_> {
            fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect()
        };
        if t.named.is_none() {
            assert_eq!(names(), vec![std::ffi::OsString::from("m.ko")]);
        } else {
            eprintln!("this filesystem has no O_TMPFILE: a named temporary file was used");
        }
        t.persist(&target).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new bytes");
        assert_eq!(names(), vec![std::ffi::OsString::from("m.ko")]);
    }
}
