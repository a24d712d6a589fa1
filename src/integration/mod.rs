//! The dkms integration: every module build dkms runs on this machine goes through dkwrap,
//! without an edit of any package's dkms.conf.
//!
//! dkwrap's shim directory holds `make`, `strip` and `llvm-strip` links to the dkwrap binary
//! ([`crate::shim`] dispatches on the name). What puts it first on dkms's PATH depends on the
//! dkms version, found by running `dkms --version`:
//!
//! - **dkms >= 3.3** reads `/etc/dkms/framework.conf.d/*.conf`; a `build_environment=FILE`
//!   there is sourced into the environment of the build, strip and sign steps. dkwrap writes
//!   the drop-in `dkwrap.conf` and the file it names.
//! - **dkms 3.0 - 3.2** reads framework.conf in a subshell, keeping only its own variables,
//!   so nothing there can set PATH. dkwrap writes a `dkms` wrapper into `/usr/local/sbin`
//!   (ahead of `/usr/sbin` in root's PATH) that puts the shim first and runs the real dkms.
//!   It covers every dkms run by name from a PATH with /usr/local/sbin first (Debian's kernel
//!   hooks via `dkms_autoinstaller`, a package's postinst via `common.postinst`, a user's
//!   `sudo dkms ...`), not one by absolute path (`/usr/sbin/dkms`, e.g. a systemd unit).
//!
//! After each dkms transaction the out-of-tree modules installed for its kernels are verified
//! (`dkwrap verify --installed --out-of-tree --kernel K`, by the script
//! [`Layout::post_transaction`]): dkms >= 3.3 runs it as the drop-in's `post_transaction`
//! (after a successful install, uninstall, unbuild or remove; see [`drop_in_text`]), the
//! 3.0 - 3.2 wrapper after a successful `install` or `autoinstall`. Neither changes dkms's
//! exit status: the module is installed by then, and failing the dkms command (a package's
//! postinst, a kernel update) would not undo that.
//!
//! Every file written is recorded with its hash (or link target) in a state file, so
//! install is idempotent, never overwrites a file it did not write, and remove leaves
//! nothing of dkwrap behind. Everything is decided before the first write: a refusal
//! ([`Error::IntegrationRefused`]) changes nothing.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Written into every file dkwrap writes, so a wrapper is recognised as dkwrap's.
pub const MARKER: &str = "written by `dkwrap dkms install-integration`";

/// The names the shim directory holds, each a link to the dkwrap binary.
pub const SHIM_ENTRIES: &[&str] = &["make", "strip", "llvm-strip"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DkmsVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl std::fmt::Display for DkmsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Reads `dkms-3.0.10`, `dkms 3.4.3`, `3.1.2` (the first `N.N[.N]` in the text).
pub fn parse_dkms_version(text: &str) -> Option<DkmsVersion> {
    let re = regex::Regex::new(r"(\d+)\.(\d+)(?:\.(\d+))?").ok()?;
    let c = re.captures(text)?;
    let num = |i: usize| c.get(i).map_or(Some(0), |m| m.as_str().parse().ok());
    Some(DkmsVersion {
        major: num(1)?,
        minor: num(2)?,
        patch: num(3)?,
    })
}

/// Runs `dkms --version` (an argument vector, no shell).
pub fn detect_dkms_version(dkms: &Path) -> Result<DkmsVersion> {
    let out = duct::cmd(dkms, ["--version"])
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .run()
        .map_err(|e| {
            Error::IntegrationRefused(format!("cannot run {} --version: {e}", dkms.display()))
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_dkms_version(&text).ok_or_else(|| {
        Error::IntegrationRefused(format!(
            "{} --version printed no version ({:?}): unknown dkms, nothing installed",
            dkms.display(),
            text.lines().next().unwrap_or("")
        ))
    })
}

/// How the shim gets onto dkms's PATH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// dkms >= 3.3: `/etc/dkms/framework.conf.d/dkwrap.conf` with `build_environment`.
    FrameworkDropIn,
    /// dkms 3.0 - 3.2: `/usr/local/sbin/dkms` runs the real dkms with the shim on PATH.
    DkmsWrapper,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::FrameworkDropIn => {
                "framework.conf.d drop-in (build_environment, post_transaction)"
            }
            Mode::DkmsWrapper => "dkms wrapper in /usr/local/sbin",
        }
    }
}

/// The integration a dkms version needs; versions dkwrap was not built for are refused.
pub fn mode_for(v: DkmsVersion) -> Result<Mode> {
    match (v.major, v.minor) {
        (3, 0..=2) => Ok(Mode::DkmsWrapper),
        (3, _) => Ok(Mode::FrameworkDropIn),
        _ => Err(Error::IntegrationRefused(format!(
            "dkms {v} is not supported (dkwrap integrates with dkms 3.x): nothing installed"
        ))),
    }
}

/// Where everything lives, under a prefix (`/` on a real system).
#[derive(Debug, Clone)]
pub struct Layout {
    pub prefix: PathBuf,
    /// Where the dkms 3.0-3.2 wrapper goes (relative to the prefix); `None`:
    /// `/usr/local/sbin/dkms`. A Debian package, which may not write below /usr/local,
    /// diverts `/usr/sbin/dkms` with dpkg-divert and puts the wrapper there.
    pub wrapper: Option<PathBuf>,
}

impl Layout {
    fn at(&self, rel: &str) -> PathBuf {
        self.prefix.join(rel)
    }
    pub fn shim_dir(&self) -> PathBuf {
        self.at("usr/lib/dkwrap/shim")
    }
    pub fn build_environment(&self) -> PathBuf {
        self.at("usr/lib/dkwrap/dkms-build-environment")
    }
    /// The post-transaction check: verifies the out-of-tree modules of the kernels it is
    /// given.
    pub fn post_transaction(&self) -> PathBuf {
        self.at("usr/lib/dkwrap/dkms-post-transaction")
    }
    pub fn dkms_etc(&self) -> PathBuf {
        self.at("etc/dkms")
    }
    pub fn drop_in(&self) -> PathBuf {
        self.at("etc/dkms/framework.conf.d/dkwrap.conf")
    }
    pub fn wrapper(&self) -> PathBuf {
        match &self.wrapper {
            Some(w) => self.at(w.to_string_lossy().trim_start_matches('/')),
            None => self.at("usr/local/sbin/dkms"),
        }
    }
    pub fn state(&self) -> PathBuf {
        self.at("var/lib/dkwrap/integration.json")
    }
}

/// What a file should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Symlink(PathBuf),
    File { text: String, mode: u32 },
}

#[derive(Debug, Clone)]
pub struct Planned {
    pub path: PathBuf,
    pub content: Content,
}

/// Everything install-integration writes for one dkms.
#[derive(Debug, Clone)]
pub struct Plan {
    pub mode: Mode,
    pub dkms: PathBuf,
    pub version: DkmsVersion,
    pub files: Vec<Planned>,
    /// dkms >= 3.3: another framework file that sets `post_transaction`, so dkwrap's drop-in
    /// leaves it alone (dkms keeps one value: one of the two would be lost).
    pub post_transaction_owner: Option<PathBuf>,
}

/// Paths go into shell files between single quotes.
fn quotable(p: &Path) -> Result<String> {
    // (glob characters too: dkms echoes post_transaction's value unquoted once)
    let s = p
        .to_str()
        .filter(|s| !s.contains(['\'', '\n', '"', '$', '\\', '`', '*', '?', '[']));
    s.map(String::from).ok_or_else(|| {
        Error::IntegrationRefused(format!(
            "{} cannot be written into a shell file (quotes, newlines, `$`): nothing installed",
            p.display()
        ))
    })
}

/// The files for `dkms` (already run for its version) and the dkwrap binary `dkwrap`.
pub fn plan(layout: &Layout, dkms: &Path, version: DkmsVersion, dkwrap: &Path) -> Result<Plan> {
    let mode = mode_for(version)?;
    let shim = quotable(&layout.shim_dir())?;
    let real = quotable(dkms)?;
    let check = quotable(&layout.post_transaction())?;
    let mut files: Vec<Planned> = SHIM_ENTRIES
        .iter()
        .map(|name| Planned {
            path: layout.shim_dir().join(name),
            content: Content::Symlink(dkwrap.to_path_buf()),
        })
        .collect();
    files.push(Planned {
        path: layout.post_transaction(),
        content: Content::File {
            text: post_transaction_text(&quotable(dkwrap)?, version),
            mode: 0o755,
        },
    });
    let mut post_transaction_owner = None;
    match mode {
        Mode::FrameworkDropIn => {
            if !layout.dkms_etc().is_dir() {
                return Err(Error::IntegrationRefused(format!(
                    "dkms {version} is installed but {} does not exist: unknown dkms layout, nothing installed",
                    layout.dkms_etc().display()
                )));
            }
            if let Some(other) = other_setting(layout, "build_environment") {
                return Err(Error::IntegrationRefused(format!(
                    "{} already sets build_environment, which dkwrap's drop-in would override: nothing installed",
                    other.display()
                )));
            }
            post_transaction_owner = other_setting(layout, "post_transaction");
            let env = quotable(&layout.build_environment())?;
            files.push(Planned {
                path: layout.build_environment(),
                content: Content::File {
                    text: build_environment_text(&shim, version),
                    mode: 0o644,
                },
            });
            files.push(Planned {
                path: layout.drop_in(),
                content: Content::File {
                    text: drop_in_text(
                        &env,
                        post_transaction_owner.is_none().then_some(check.as_str()),
                        version,
                    ),
                    mode: 0o644,
                },
            });
        }
        Mode::DkmsWrapper => {
            let wrapper = layout.wrapper();
            let same = |a: &Path, b: &Path| match (fs::canonicalize(a), fs::canonicalize(b)) {
                (Ok(a), Ok(b)) => a == b,
                _ => a == b,
            };
            if same(dkms, &wrapper) {
                return Err(Error::IntegrationRefused(format!(
                    "{} is where the dkms wrapper goes; pass the real dkms with --dkms: nothing installed",
                    dkms.display()
                )));
            }
            files.push(Planned {
                path: wrapper,
                content: Content::File {
                    text: wrapper_text(&shim, &real, &check, version),
                    mode: 0o755,
                },
            });
        }
    }
    Ok(Plan {
        mode,
        dkms: dkms.to_path_buf(),
        version,
        files,
        post_transaction_owner,
    })
}

/// A framework file other than dkwrap's drop-in that sets `name` (dkms reads
/// framework.conf, then framework.conf.d/*.conf in order; the last value wins).
pub fn other_setting(layout: &Layout, name: &str) -> Option<PathBuf> {
    let etc = layout.dkms_etc();
    let mut candidates = vec![etc.join("framework.conf")];
    if let Ok(entries) = fs::read_dir(etc.join("framework.conf.d")) {
        let mut more: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "conf") && *p != layout.drop_in())
            .collect();
        more.sort();
        candidates.extend(more);
    }
    let assignment = format!("{name}=");
    candidates.into_iter().find(|path| {
        fs::read_to_string(path).is_ok_and(|text| {
            text.lines().any(|l| {
                let l = l.trim_start().trim_start_matches("export ").trim_start();
                l.starts_with(&assignment)
            })
        })
    })
}

fn build_environment_text(shim: &str, v: DkmsVersion) -> String {
    format!(
        "# dkms build environment, {MARKER} for dkms {v}; removed by\n\
         # `dkwrap dkms remove-integration`. Do not edit.\n\
         # dkms >= 3.3 sources this file (named by /etc/dkms/framework.conf.d/dkwrap.conf) into\n\
         # the environment of its build, strip and sign steps: dkwrap's make, strip and\n\
         # llvm-strip come first on PATH, so every module is built with the kernel's own\n\
         # toolchain and stripped by a tool proven correct for it.\n\
         case \":$PATH:\" in\n    *':{shim}:'*) ;;\n    *) PATH='{shim}':\"$PATH\" ;;\nesac\nexport PATH\n"
    )
}

/// The drop-in. `post_transaction`'s value goes through three expansions in dkms 3.4.3:
/// the file is sourced (in a subshell, lazily again just before the command runs, when
/// `kernelver` holds the transaction's kernels: `${kernelver[@]}` becomes `6.1.0-1 ...`),
/// echoed unquoted into a temporary file that is sourced, then `eval`ed. Hence a value
/// without quotes other than the single ones around the script's path, and no glob
/// characters ([`quotable`]).
fn drop_in_text(env: &str, check: Option<&str>, v: DkmsVersion) -> String {
    let post = match check {
        Some(check) => format!(
            "# After each successful install, uninstall, unbuild or remove: verify the\n\
             # out-of-tree modules installed for the transaction's kernels. dkms writes the\n\
             # output to post_transaction.log in its tree (/var/lib/dkms) and reports a\n\
             # failure as \"(bad exit status: N)\", keeping its own exit status.\n\
             post_transaction=\"'{check}' ${{kernelver[@]}}\"\n"
        ),
        None => String::new(),
    };
    format!(
        "# dkms framework drop-in, {MARKER} for dkms {v};\n\
         # removed by `dkwrap dkms remove-integration`. Do not edit.\n\
         build_environment=\"{env}\"\n{post}"
    )
}

/// The post-transaction check: `dkwrap verify --installed --out-of-tree` for each kernel
/// named; exit status 0 when every check passed, else the last failing verify's.
fn post_transaction_text(dkwrap: &str, v: DkmsVersion) -> String {
    format!(
        "#!/bin/sh\n\
         # dkms post-transaction check, {MARKER} for dkms {v};\n\
         # removed by `dkwrap dkms remove-integration`. Do not edit.\n\
         # Verifies the out-of-tree modules (updates/, extra/, ...) installed for each kernel\n\
         # named, with that kernel's configuration and Module.symvers.\n\
         [ $# -gt 0 ] || echo 'dkwrap: post-transaction: dkms named no kernel: nothing checked'\n\
         status=0\n\
         for kernel in \"$@\"; do\n    \
             if [ ! -d \"/lib/modules/$kernel\" ]; then\n        \
                 echo \"dkwrap: post-transaction: /lib/modules/$kernel does not exist: nothing to check for $kernel\"\n        \
                 continue\n    \
             fi\n    \
             echo \"dkwrap: post-transaction: verifying the out-of-tree modules installed for $kernel\"\n    \
             '{dkwrap}' verify --installed --out-of-tree --kernel \"$kernel\" || status=$?\n\
         done\n\
         exit $status\n"
    )
}

/// The dkms 3.0 - 3.2 wrapper: the shim first on PATH, then the real dkms; after a
/// successful `install` or `autoinstall` the post-transaction check for the kernels the
/// command line names (dkms's own syntax: `-k K[/ARCH]`, `--kernelver[=]K`; none: the
/// running kernel, as dkms defaults). dkms's exit status is kept.
fn wrapper_text(shim: &str, real: &str, check: &str, v: DkmsVersion) -> String {
    format!(
        "#!/bin/sh\n\
         # dkms through dkwrap, {MARKER} for dkms {v}\n\
         # ({real}); removed by `dkwrap dkms remove-integration`. Do not edit.\n\
         # dkms < 3.3 cannot put a directory on the PATH of its builds, so this wrapper, ahead of\n\
         # the real dkms in root's PATH, puts dkwrap's make, strip and llvm-strip first and runs it.\n\
         # After a successful install or autoinstall it verifies what is installed for the kernels.\n\
         shim='{shim}'\n\
         check='{check}'\n\
         if [ -x \"$shim/make\" ] && [ -x \"$shim/strip\" ]; then\n    \
             case \":$PATH:\" in\n        *\":$shim:\"*) ;;\n        *) PATH=\"$shim:$PATH\"; export PATH ;;\n    esac\n\
         else\n    \
             echo \"dkms (dkwrap wrapper): $shim is incomplete; running {real} without dkwrap\" >&2\n    \
             exec '{real}' \"$@\"\n\
         fi\n\
         action='' kernels='' next=''\n\
         for arg in \"$@\"; do\n    \
             case $next in\n        \
                 kernel) kernels=\"$kernels ${{arg%%/*}}\"; next=''; continue ;;\n        \
                 value) next=''; continue ;;\n    \
             esac\n    \
             case $arg in\n        \
                 -k|--kernelver) next=kernel ;;\n        \
                 --kernelver=*) arg=${{arg#*=}}; kernels=\"$kernels ${{arg%%/*}}\" ;;\n        \
                 -m|-v|-c|-a|-j|--module|--templatekernel|--dkmstree|--sourcetree|--installtree|--config|--archive|--arch|--kernelsourcedir|--directive) next=value ;;\n        \
                 install|autoinstall) [ -n \"$action\" ] || action=$arg ;;\n    \
             esac\n\
         done\n\
         if [ -z \"$action\" ] || [ ! -x \"$check\" ]; then\n    \
             exec '{real}' \"$@\"\n\
         fi\n\
         '{real}' \"$@\"\n\
         status=$?\n\
         if [ \"$status\" -eq 0 ]; then\n    \
             # shellcheck disable=SC2086 # one word per kernel\n    \
             \"$check\" ${{kernels:-$(uname -r)}} ||\n        \
                 echo \"dkms (dkwrap wrapper): the post-transaction check failed (above); dkms's exit status is kept\" >&2\n\
         fi\n\
         exit \"$status\"\n"
    )
}

/// What is at a path now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Missing,
    Symlink(PathBuf),
    /// A regular file and the sha256 of its bytes.
    File(String),
    /// A directory or something else dkwrap never writes.
    Other,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn inspect(path: &Path) -> Result<Found> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Missing),
        Err(e) => return Err(Error::io(path, e)),
    };
    if meta.file_type().is_symlink() {
        return Ok(Found::Symlink(
            fs::read_link(path).map_err(|e| Error::io(path, e))?,
        ));
    }
    if meta.is_file() {
        let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
        return Ok(Found::File(sha256_hex(&bytes)));
    }
    Ok(Found::Other)
}

/// One file in the state: what dkwrap wrote there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub path: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub symlink: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha256: Option<String>,
}

impl Recorded {
    fn of(p: &Planned) -> Recorded {
        match &p.content {
            Content::Symlink(t) => Recorded {
                path: p.path.clone(),
                symlink: Some(t.clone()),
                sha256: None,
            },
            Content::File { text, .. } => Recorded {
                path: p.path.clone(),
                symlink: None,
                sha256: Some(sha256_hex(text.as_bytes())),
            },
        }
    }
    /// Whether the file is still exactly what dkwrap wrote.
    pub fn matches(&self, found: &Found) -> bool {
        match (found, &self.symlink, &self.sha256) {
            (Found::Symlink(t), Some(want), _) => t == want,
            (Found::File(h), None, Some(want)) => h == want,
            _ => false,
        }
    }
}

/// The state file: what dkwrap installed, for idempotence and a complete removal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub mode: Mode,
    pub dkms: PathBuf,
    pub dkms_version: DkmsVersion,
    pub files: Vec<Recorded>,
    /// Directories dkwrap created (removed when empty), deepest last.
    pub dirs: Vec<PathBuf>,
}

pub fn load_state(layout: &Layout) -> Result<Option<State>> {
    let path = layout.state();
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::IntegrationRefused(format!(
                "{}: not a dkwrap state file ({e}); nothing changed",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// What an install or removal did, file by file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    pub created: Vec<PathBuf>,
    pub replaced: Vec<PathBuf>,
    pub unchanged: Vec<PathBuf>,
    pub removed: Vec<PathBuf>,
    /// dkwrap's files that were changed since it wrote them: left as they are.
    pub kept_modified: Vec<PathBuf>,
}

impl Outcome {
    pub fn changed(&self) -> bool {
        !(self.created.is_empty() && self.replaced.is_empty() && self.removed.is_empty())
    }
}

enum Action {
    Keep,
    Write { replace: bool },
}

/// Installs a plan. Nothing is written when a path holds a file dkwrap did not write.
pub fn install(layout: &Layout, plan: &Plan) -> Result<Outcome> {
    let old = load_state(layout)?;
    let recorded = |p: &Path| {
        old.as_ref()
            .and_then(|s| s.files.iter().find(|r| r.path == p))
    };
    // 1. Decide everything.
    let mut actions = Vec::new();
    for p in &plan.files {
        let found = inspect(&p.path)?;
        let want = Recorded::of(p);
        let action = if want.matches(&found) {
            Action::Keep
        } else if found == Found::Missing {
            Action::Write { replace: false }
        } else if recorded(&p.path).is_some_and(|r| r.matches(&found)) {
            Action::Write { replace: true }
        } else {
            return Err(Error::IntegrationRefused(format!(
                "{} exists and was not written by dkwrap: left as it is, nothing installed \
                 (move it away, then run `dkwrap dkms install-integration` again)",
                p.path.display()
            )));
        };
        actions.push(action);
    }
    let stale: Vec<&Recorded> = old
        .iter()
        .flat_map(|s| s.files.iter())
        .filter(|r| !plan.files.iter().any(|p| p.path == r.path))
        .collect();

    let mut out = Outcome::default();
    let mut dirs = old.as_ref().map(|s| s.dirs.clone()).unwrap_or_default();
    // 2. Write.
    for (p, action) in plan.files.iter().zip(&actions) {
        match action {
            Action::Keep => out.unchanged.push(p.path.clone()),
            Action::Write { replace } => {
                if let Some(parent) = p.path.parent() {
                    create_dirs(parent, &mut dirs)?;
                }
                write_atomically(&p.path, &p.content)?;
                if *replace {
                    out.replaced.push(p.path.clone());
                } else {
                    out.created.push(p.path.clone());
                }
            }
        }
    }
    for r in stale {
        remove_recorded(r, &mut out)?;
    }
    let state = State {
        mode: plan.mode,
        dkms: plan.dkms.clone(),
        dkms_version: plan.version,
        files: plan.files.iter().map(Recorded::of).collect(),
        dirs: dirs.clone(),
    };
    if out.changed() || old.as_ref() != Some(&state) {
        if let Some(parent) = layout.state().parent() {
            create_dirs(parent, &mut dirs)?;
        }
        let state = State { dirs, ..state };
        let text = serde_json::to_string_pretty(&state)
            .map_err(|e| Error::Usage(format!("cannot encode the state: {e}")))?;
        write_atomically(
            &layout.state(),
            &Content::File {
                text: text + "\n",
                mode: 0o644,
            },
        )?;
    }
    Ok(out)
}

/// Removes everything dkwrap installed; files changed since are kept and reported.
pub fn remove(layout: &Layout) -> Result<Outcome> {
    let mut out = Outcome::default();
    let Some(state) = load_state(layout)? else {
        return Ok(out);
    };
    for r in &state.files {
        remove_recorded(r, &mut out)?;
    }
    let state_path = layout.state();
    fs::remove_file(&state_path).map_err(|e| Error::io(&state_path, e))?;
    out.removed.push(state_path);
    // Deepest first; a directory someone else put files in stays.
    for d in state.dirs.iter().rev() {
        if fs::remove_dir(d).is_ok() {
            out.removed.push(d.clone());
        }
    }
    Ok(out)
}

fn remove_recorded(r: &Recorded, out: &mut Outcome) -> Result<()> {
    let found = inspect(&r.path)?;
    if found == Found::Missing {
        return Ok(());
    }
    if r.matches(&found) {
        fs::remove_file(&r.path).map_err(|e| Error::io(&r.path, e))?;
        out.removed.push(r.path.clone());
    } else {
        out.kept_modified.push(r.path.clone());
    }
    Ok(())
}

/// `create_dir_all`, recording each directory it created (parents first).
fn create_dirs(dir: &Path, created: &mut Vec<PathBuf>) -> Result<()> {
    let mut missing = Vec::new();
    let mut d = Some(dir);
    while let Some(p) = d.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        missing.push(p.to_path_buf());
        d = p.parent();
    }
    for p in missing.into_iter().rev() {
        fs::create_dir(&p).map_err(|e| Error::io(&p, e))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).map_err(|e| Error::io(&p, e))?;
        if !created.contains(&p) {
            created.push(p);
        }
    }
    Ok(())
}

/// Writes a file or link beside its target, then renames it over the target.
fn write_atomically(path: &Path, content: &Content) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.dkwrap-new"));
    let _ = fs::remove_file(&temp);
    match content {
        Content::Symlink(target) => {
            std::os::unix::fs::symlink(target, &temp).map_err(|e| Error::io(&temp, e))?
        }
        Content::File { text, mode } => {
            fs::write(&temp, text).map_err(|e| Error::io(&temp, e))?;
            fs::set_permissions(&temp, fs::Permissions::from_mode(*mode))
                .map_err(|e| Error::io(&temp, e))?;
        }
    }
    fs::rename(&temp, path).map_err(|e| Error::io(path, e))
}

/// The state of one recorded file now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileState {
    Intact,
    Modified,
    Missing,
}

/// What `dkwrap dkms status` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub dkms: Option<PathBuf>,
    pub dkms_version: Option<DkmsVersion>,
    /// The integration the detected dkms needs.
    pub needed: Option<Mode>,
    pub installed: Option<State>,
    pub files: Vec<(PathBuf, FileState)>,
    /// How what is installed gets checked after each transaction (None: not installed).
    pub post_transaction: Option<String>,
    /// Installed, every file intact, and the mode the detected dkms needs.
    pub active: bool,
    pub problems: Vec<String>,
}

pub fn status(layout: &Layout, dkms: Option<&Path>) -> Result<Status> {
    let installed = load_state(layout)?;
    let mut problems = Vec::new();
    let (version, needed) = match dkms {
        None => {
            problems.push("no dkms found on PATH".to_string());
            (None, None)
        }
        Some(d) => match detect_dkms_version(d) {
            Ok(v) => match mode_for(v) {
                Ok(m) => (Some(v), Some(m)),
                Err(e) => {
                    problems.push(e.to_string());
                    (Some(v), None)
                }
            },
            Err(e) => {
                problems.push(e.to_string());
                (None, None)
            }
        },
    };
    let mut files = Vec::new();
    if let Some(s) = &installed {
        for r in &s.files {
            let st = match inspect(&r.path)? {
                Found::Missing => FileState::Missing,
                f if r.matches(&f) => FileState::Intact,
                _ => FileState::Modified,
            };
            if st != FileState::Intact {
                let what = format!("{st:?}").to_lowercase();
                problems.push(format!("{}: {what}", r.path.display()));
            }
            files.push((r.path.clone(), st));
        }
        if needed.is_some_and(|m| m != s.mode) || version.is_some_and(|v| v != s.dkms_version) {
            problems.push(format!(
                "installed for dkms {} ({}), but dkms is now {}: run `dkwrap dkms install-integration` again",
                s.dkms_version,
                s.mode.name(),
                version.map_or("unknown".into(), |v| v.to_string())
            ));
        }
    } else {
        problems.push("not installed (run `dkwrap dkms install-integration`)".into());
    }
    let post_transaction = installed
        .as_ref()
        .map(|s| post_transaction_status(layout, s.mode, &mut problems));
    Ok(Status {
        dkms: dkms.map(Path::to_path_buf),
        dkms_version: version,
        needed,
        post_transaction,
        active: problems.is_empty(),
        installed,
        files,
        problems,
    })
}

/// Who runs the post-transaction check; a drop-in whose `post_transaction` dkms would not
/// keep (another framework file sets one too) is a problem.
fn post_transaction_status(layout: &Layout, mode: Mode, problems: &mut Vec<String>) -> String {
    let check = layout.post_transaction().display().to_string();
    if mode == Mode::DkmsWrapper {
        return format!("{check}, run by the dkms wrapper after install and autoinstall");
    }
    let ours = fs::read_to_string(layout.drop_in())
        .is_ok_and(|t| t.lines().any(|l| l.starts_with("post_transaction=")));
    match (ours, other_setting(layout, "post_transaction")) {
        (true, None) => format!("{check}, dkms's post_transaction (drop-in)"),
        (false, Some(other)) => format!(
            "none: {} sets post_transaction, which dkwrap leaves alone",
            other.display()
        ),
        (true, Some(other)) => {
            problems.push(format!(
                "{} sets post_transaction too: dkms keeps only one; run `dkwrap dkms install-integration` again",
                other.display()
            ));
            format!("{check} or {}'s (dkms keeps one)", other.display())
        }
        (false, None) => {
            problems.push(
                "the drop-in sets no post_transaction: run `dkwrap dkms install-integration` again"
                    .into(),
            );
            "none".into()
        }
    }
}

/// The real dkms: the first on PATH that is not dkwrap's wrapper.
pub fn find_dkms(layout: &Layout) -> Option<PathBuf> {
    which::which_all("dkms").into_iter().flatten().find(|p| {
        *p != layout.wrapper()
            && !fs::read(p).is_ok_and(|b| {
                let head = &b[..b.len().min(512)];
                String::from_utf8_lossy(head).contains(MARKER)
            })
    })
}

#[cfg(test)]
mod tests;
