//! Nothing left behind: the temporary files a strip writes are registered here, and a
//! signal that ends the run (SIGTERM, SIGINT, SIGHUP) unlinks them before the process dies
//! as it would have. Files of runs that died where no handler runs (SIGKILL, power loss)
//! carry their pid in their name and are swept by the next strip in that directory.
//!
//! SIGBUS: every input is memory-mapped, and a file truncated under the mapping raises
//! SIGBUS on the next read of a page past its new end. Reading instead of mapping would
//! cost the whole module in memory (hundreds of MB for the GPU modules); checking the size
//! after mapping cannot close the window. So the handler unlinks the registered files,
//! says so in one line and exits with [`crate::exit::UNREADABLE`]: the target was not
//! replaced (a rename happens only after a finished proof).

use std::ffi::{c_char, c_int, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Once;

/// Temporary files alive at once: a strip holds at most four; `make` strips one at a time.
const SLOTS: usize = 64;

/// Registered paths as NUL-terminated strings. A path is never freed: a handler may be
/// reading it on another thread while it is unregistered (a few dozen bytes per file).
static PENDING: [AtomicPtr<c_char>; SLOTS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];

/// The one line SIGBUS prints (the input being read), set when an input is opened.
static SIGBUS_LINE: AtomicPtr<c_char> = AtomicPtr::new(std::ptr::null_mut());

static INSTALL: Once = Once::new();

/// A registered temporary file; unregistered when dropped.
#[derive(Debug)]
pub struct Registered(Option<usize>);

impl Registered {
    /// Nothing registered (a file without a name).
    pub fn none() -> Registered {
        Registered(None)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some(slot) = self.0 {
            PENDING[slot].store(std::ptr::null_mut(), Ordering::SeqCst);
        }
    }
}

/// Registers `path` to be unlinked if a signal ends the run before it is dropped.
pub fn register(path: &Path) -> Registered {
    install_handlers();
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return Registered(None);
    };
    let raw = c.into_raw();
    for (slot, cell) in PENDING.iter().enumerate() {
        let free = std::ptr::null_mut();
        if cell
            .compare_exchange(free, raw, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return Registered(Some(slot));
        }
    }
    tracing::debug!(
        "{} not registered for cleanup: all slots busy",
        path.display()
    );
    Registered(None)
}

/// Names the input being read, for the SIGBUS line.
pub fn reading(path: &Path) {
    install_handlers();
    let line = format!(
        "dkwrap: {}: the file shrank while it was being read (another program changed it); nothing was replaced\n",
        path.display()
    );
    if let Ok(c) = CString::new(line) {
        SIGBUS_LINE.store(c.into_raw(), Ordering::SeqCst);
    }
}

fn unlink_registered() {
    for cell in &PENDING {
        let p = cell.load(Ordering::SeqCst);
        if !p.is_null() {
            // Safety: a registered pointer is a leaked, never freed CString.
            unsafe { libc::unlink(p) };
        }
    }
}

/// SIGTERM/SIGINT/SIGHUP: unlink, then die of the same signal (the caller sees 128+N).
extern "C" fn on_ending_signal(sig: c_int) {
    unlink_registered();
    // Safety: signal() and raise() are async-signal-safe; the default action ends the
    // process once this handler returns and the signal is unblocked.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// SIGBUS: a mapped file was truncated; unlink, one line, exit UNREADABLE.
extern "C" fn on_sigbus(_: c_int) {
    unlink_registered();
    let line = SIGBUS_LINE.load(Ordering::SeqCst);
    // Safety: write(2) and _exit(2) are async-signal-safe; the line is a leaked CString.
    unsafe {
        if !line.is_null() {
            libc::write(2, line.cast(), libc::strlen(line));
        }
        libc::_exit(crate::error::exit::UNREADABLE);
    }
}

fn install_handlers() {
    INSTALL.call_once(|| {
        let ending: extern "C" fn(c_int) = on_ending_signal;
        let bus: extern "C" fn(c_int) = on_sigbus;
        for (sig, handler) in [
            (libc::SIGTERM, ending as libc::sighandler_t),
            (libc::SIGINT, ending as libc::sighandler_t),
            (libc::SIGHUP, ending as libc::sighandler_t),
            (libc::SIGBUS, bus as libc::sighandler_t),
        ] {
            // Safety: the handlers only call async-signal-safe functions (unlink, write,
            // signal, raise, _exit) and read atomics.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = handler;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(sig, &action, std::ptr::null_mut());
            }
        }
    });
}

/// The name prefix of this run's temporary files: `.dkwrap-PID-`.
pub fn temp_prefix() -> String {
    format!(".dkwrap-{}-", std::process::id())
}

/// Removes `.dkwrap-PID-*.tmp` files in `dir` whose run is gone (no process PID); returns
/// how many. Files of live runs, and names that do not say dkwrap, are never touched.
pub fn sweep_stale(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = stale_pid(name.as_bytes()) else {
            continue;
        };
        if pid == std::process::id() || process_alive(pid) {
            continue;
        }
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && std::fs::remove_file(entry.path()).is_ok() {
            tracing::info!(
                "removed {} (left by dkwrap run {pid})",
                entry.path().display()
            );
            removed += 1;
        }
    }
    removed
}

/// The pid in `.dkwrap-PID-XXXXXX.tmp`.
fn stale_pid(name: &[u8]) -> Option<u32> {
    let rest = name.strip_prefix(b".dkwrap-")?.strip_suffix(b".tmp")?;
    let digits = rest.split(|&b| b == b'-').next()?;
    if digits.is_empty() || rest.len() == digits.len() {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // Safety: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dkwrap_names_with_a_pid_are_candidates() {
        assert_eq!(stale_pid(b".dkwrap-1234-aB3xYz.tmp"), Some(1234));
        assert_eq!(stale_pid(b".dkwrap-aB3xYz.tmp"), None);
        assert_eq!(stale_pid(b".dkwrap-1234.tmp"), None);
        assert_eq!(stale_pid(b"module.ko"), None);
        assert_eq!(stale_pid(b".dkwrap-12-x.ko"), None);
    }
}
