//! One job budget for several makes run at once: a GNU make jobserver of our own.
//!
//! GNU make's protocol (make 4.x, `--jobserver-auth=R,W`): a pipe holds one byte per job
//! slot beyond the first; a make that wants to run a second job reads a byte, and writes it
//! back when the job ends. Every make also owns one implicit slot, the one its parent gave it
//! by starting it. Here the parent is dkwrap: the pipe starts with N-1 tokens, the first
//! build runs on dkwrap's own implicit slot, every further build takes a token before it
//! starts, and every build gives a token back when it ends (the first one thereby hands its
//! implicit slot to the pipe). So at most N jobs run at any time across all the builds.
//!
//! Each make finds the pipe through `MAKEFLAGS=-jN --jobserver-auth=R,W` in its environment,
//! and the two file descriptors must survive its exec: they are created without `O_CLOEXEC`.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{Error, Result};

/// The token byte (GNU make writes back whichever byte it read; `+` is what it uses itself).
const TOKEN: u8 = b'+';

/// A jobserver pipe with `slots` job slots in all.
#[derive(Debug)]
pub struct Jobserver {
    read: File,
    write: File,
    slots: usize,
}

impl Jobserver {
    /// A pipe holding `slots - 1` tokens (the remaining slot is the caller's implicit one).
    pub fn new(slots: usize) -> Result<Self> {
        let slots = slots.max(1);
        let mut fds = [0i32; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe(2) to fill. The descriptors are
        // deliberately created without O_CLOEXEC: every make this process starts must inherit
        // them to take part in the jobserver (GNU make's own parent does the same). They are
        // wrapped in OwnedFd at once, so they are closed exactly once, when `self` is dropped.
        let rc = unsafe { libc::pipe(fds.as_mut_ptr()) };
        if rc != 0 {
            return Err(Error::io("jobserver pipe", std::io::Error::last_os_error()));
        }
        // SAFETY: pipe(2) succeeded, so both descriptors are open and owned by nobody else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let server = Jobserver {
            read: File::from(read),
            write: File::from(write),
            slots,
        };
        let tokens = vec![TOKEN; slots - 1];
        (&server.write)
            .write_all(&tokens)
            .map_err(|e| Error::io("jobserver pipe", e))?;
        Ok(server)
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    /// `MAKEFLAGS` for a make taking part: the caller's other flags kept, its own `-j` and
    /// jobserver settings replaced by ours.
    pub fn makeflags(&self, inherited: Option<&str>) -> String {
        let mut flags: Vec<&str> = inherited
            .unwrap_or("")
            .split_whitespace()
            .filter(|f| !is_jobs_flag(f))
            .collect();
        let ours = format!(
            "-j{} --jobserver-auth={},{}",
            self.slots,
            self.read.as_raw_fd(),
            self.write.as_raw_fd()
        );
        flags.push(&ours);
        flags.join(" ")
    }

    /// Blocks until a token is free and takes it.
    pub fn acquire(&self) -> Result<()> {
        let mut byte = [0u8; 1];
        loop {
            match (&self.read).read(&mut byte) {
                Ok(1) => return Ok(()),
                Ok(_) => {
                    let eof = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed");
                    return Err(Error::io("jobserver pipe", eof));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("jobserver pipe", e)),
            }
        }
    }

    /// Gives a slot back to the pipe.
    pub fn release(&self) -> Result<()> {
        (&self.write)
            .write_all(&[TOKEN])
            .map_err(|e| Error::io("jobserver pipe", e))
    }
}

/// `-j`, `-j4`, `--jobs=4`, `--jobserver-auth=3,4`, `--jobserver-fds=3,4` (in MAKEFLAGS).
fn is_jobs_flag(flag: &str) -> bool {
    flag.starts_with("--jobserver")
        || flag.starts_with("--jobs")
        || flag
            .strip_prefix("-j")
            .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
}

/// Removes the command's own `-jN` / `-j N` / `--jobs=N` (the shared budget replaces it) and
/// returns the kept arguments, the removed ones, and the N it asked for (`None`: none, or
/// `-j` without a number).
pub fn remove_job_arguments(args: &[String]) -> (Vec<String>, Vec<String>, Option<usize>) {
    let mut kept = Vec::new();
    let mut removed = Vec::new();
    let mut asked = None;
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        let value = if a == "-j" || a == "--jobs" {
            removed.push(a.clone());
            match it.peek() {
                Some(n) if n.parse::<usize>().is_ok() => {
                    removed.push((*n).clone());
                    it.next().and_then(|n| n.parse().ok())
                }
                _ => None,
            }
        } else if let Some(n) = a.strip_prefix("--jobs=").or_else(|| a.strip_prefix("-j")) {
            match n.parse::<usize>() {
                Ok(n) => {
                    removed.push(a.clone());
                    Some(n)
                }
                Err(_) => {
                    kept.push(a.clone());
                    continue;
                }
            }
        } else {
            kept.push(a.clone());
            continue;
        };
        if value.is_some() {
            asked = value;
        }
    }
    (kept, removed, asked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn job_arguments_are_removed_in_every_spelling() {
        let (kept, removed, n) = remove_job_arguments(&strings(&["-j8", "modules", "V=1"]));
        assert_eq!(
            (kept, removed, n),
            (strings(&["modules", "V=1"]), strings(&["-j8"]), Some(8))
        );
        let (kept, _, n) = remove_job_arguments(&strings(&["-j", "3", "all"]));
        assert_eq!((kept, n), (strings(&["all"]), Some(3)));
        let (kept, _, n) = remove_job_arguments(&strings(&["--jobs=2", "-j", "all"]));
        assert_eq!((kept, n), (strings(&["all"]), Some(2)));
        let (kept, _, n) = remove_job_arguments(&strings(&["-jfoo", "-C", "/k"]));
        assert_eq!((kept, n), (strings(&["-jfoo", "-C", "/k"]), None));
    }

    #[test]
    fn the_pipe_holds_one_token_less_than_the_slots() {
        let js = Jobserver::new(3).unwrap();
        js.acquire().unwrap();
        js.acquire().unwrap();
        // Both tokens taken: the pipe is empty now (checked without blocking).
        let fd = js.read.as_raw_fd();
        let mut pending: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through the valid pointer; `fd` is open.
        let rc = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut pending) };
        assert_eq!((rc, pending), (0, 0));
        js.release().unwrap();
        js.acquire().unwrap();
        let flags = js.makeflags(Some("s -j9 --jobserver-auth=7,8 k"));
        assert!(flags.starts_with("s k -j3 --jobserver-auth="), "{flags}");
    }
}
