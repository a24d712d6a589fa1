//! Parsers for the text and binary formats doctor reads: pure functions over bytes and
//! strings, each tolerant of garbage (it yields nothing rather than failing), each tested
//! here on real-world samples.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::facts::{DkmsStatus, Family, LogHit, Package, PacmanPackage, ProcVersion};

/// Orders kernel releases and driver versions the way a human does: runs of digits compare
/// as numbers, everything else as text. `5.15.0-138-generic` > `5.15.0-94-generic`.
pub fn version_cmp(a: &str, b: &str) -> Ordering {
    fn runs(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    if a.is_empty() || b.is_empty() {
        return a.len().cmp(&b.len());
    }
    let (ra, rb) = (runs(a), runs(b));
    for (x, y) in ra.iter().zip(&rb) {
        let ord = match (x, y) {
            ((true, x), (true, y)) => {
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                x.len().cmp(&y.len()).then_with(|| x.cmp(y))
            }
            ((_, x), (_, y)) => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    ra.len().cmp(&rb.len())
}

/// A driver version: digits and dots with at least one dot ("570.133.07", "550.90.07").
pub fn is_driver_version(s: &str) -> bool {
    !s.is_empty()
        && s.contains('.')
        && s.chars().all(|c| c.is_ascii_digit() || c == '.')
        && !s.starts_with('.')
        && !s.ends_with('.')
}

/// The driver version in a library file name: `libnvidia-ml.so.570.133.07` -> "570.133.07".
/// `libnvidia-ml.so.1` and `libnvidia-ml.so` have none.
pub fn lib_version<'a>(file_name: &'a str, stem: &str) -> Option<&'a str> {
    let v = file_name.strip_prefix(stem)?.strip_prefix(".so.")?;
    is_driver_version(v).then_some(v)
}

/// The first line of `/proc/driver/nvidia/version`, open or proprietary:
/// `NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  (...)`
/// `NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.90.07  Fri May 31 09:35:42 UTC 2024`
pub fn proc_driver_version(text: &str) -> Option<ProcVersion> {
    let line = text.lines().find(|l| l.starts_with("NVRM version:"))?;
    let rest = line.trim_start_matches("NVRM version:");
    let version = rest.split_whitespace().find(|w| is_driver_version(w))?;
    Some(ProcVersion {
        version: version.to_string(),
        open: rest.contains("Open Kernel Module"),
        line: line.trim().to_string(),
    })
}

/// `dkms status` in the 2.x (`nvidia, 570.133.07, 5.15.0-94-generic, x86_64: installed`) and
/// 3.x (`nvidia/570.133.07, 5.15.0-94-generic, x86_64: installed`) formats, with `added`
/// lines that have no kernel and parenthesised suffixes. Lines that are neither (warnings,
/// errors) are skipped.
pub fn dkms_status(text: &str) -> Vec<DkmsStatus> {
    text.lines().filter_map(dkms_status_line).collect()
}

fn dkms_status_line(line: &str) -> Option<DkmsStatus> {
    let (left, right) = line.trim().split_once(": ")?;
    let fields: Vec<&str> = left.split(',').map(str::trim).collect();
    let (module, version, rest, format) = match fields[0].split_once('/') {
        Some((m, v)) => (m, v, &fields[1..], 3),
        None if fields.len() >= 2 => (fields[0], fields[1], &fields[2..], 2),
        None => return None,
    };
    let plausible = |s: &str| {
        !s.is_empty() && !s.contains(char::is_whitespace) && s.chars().all(|c| !c.is_control())
    };
    if !plausible(module) || !plausible(version) || rest.len() > 2 {
        return None;
    }
    let right = right.trim();
    let (state, mut suffix) = match right.find(['(', ' ']) {
        Some(i) => (right[..i].trim(), &right[i..]),
        None => (right, ""),
    };
    if state.is_empty() || !state.chars().all(|c| c.is_ascii_alphabetic() || c == '-') {
        return None;
    }
    let mut notes = Vec::new();
    while let Some(open) = suffix.find('(') {
        let Some(close) = suffix[open..].find(')') else {
            break;
        };
        let note = suffix[open + 1..open + close].trim();
        if !note.is_empty() && !notes.iter().any(|n| n == note) {
            notes.push(note.to_string());
        }
        suffix = &suffix[open + close + 1..];
    }
    Some(DkmsStatus {
        module: module.to_string(),
        version: version.to_string(),
        kernel: rest.first().map(|s| s.to_string()),
        arch: rest.get(1).map(|s| s.to_string()),
        state: state.to_string(),
        notes,
        format,
    })
}

/// The stanzas of /var/lib/dpkg/status whose package name passes `keep`.
pub fn dpkg_status(text: &str, keep: impl Fn(&str) -> bool) -> Vec<Package> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut p = Package::default();
        for line in stanza.lines() {
            if line.starts_with([' ', '\t']) {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key {
                "Package" => p.name = value.to_string(),
                "Version" => p.version = value.to_string(),
                "Status" => {
                    let mut words = value.split_whitespace();
                    p.want = words.next().unwrap_or_default().to_string();
                    p.flag = words.next().unwrap_or_default().to_string();
                    p.state = words.next().unwrap_or_default().to_string();
                }
                _ => {}
            }
        }
        if !p.name.is_empty() && keep(&p.name) {
            out.push(p);
        }
    }
    out
}

/// The upstream part of a Debian version: no epoch, no revision.
/// `570.133.07-0ubuntu0.22.04.1` -> "570.133.07"; `1:550.90.07-1` -> "550.90.07".
pub fn upstream_version(deb: &str) -> &str {
    let v = deb.split_once(':').map_or(deb, |(_, v)| v);
    v.rsplit_once('-').map_or(v, |(u, _)| u)
}

/// Magic of glibc's ld.so.cache "new" format (the only one written since glibc 2.32; older
/// ldconfig hid it after the "ld.so-1.7.0" table).
pub const LD_CACHE_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
const LD_CACHE_HEADER: usize = 48;
const LD_CACHE_ENTRY: usize = 24;

/// Library paths in /etc/ld.so.cache that contain `needle`. `Err` says why the file is not a
/// cache; a valid cache with no such entry is `Ok(empty)`.
pub fn ld_so_cache_paths(data: &[u8], needle: &str) -> Result<Vec<String>, String> {
    let start = data
        .windows(LD_CACHE_MAGIC.len())
        .position(|w| w == LD_CACHE_MAGIC)
        .ok_or("no glibc-ld.so.cache1.1 header")?;
    let cache = &data[start..];
    let u32_at = |off: usize| -> Option<u32> {
        Some(u32::from_le_bytes(
            cache.get(off..off + 4)?.try_into().ok()?,
        ))
    };
    let nlibs = u32_at(20).ok_or("truncated header")? as usize;
    let len_strings = u32_at(24).ok_or("truncated header")? as usize;
    // Entries: flags, key, value (offsets from the start of the new-format header), osversion, hwcap.
    let mut paths = Vec::new();
    for i in 0..nlibs {
        let entry = LD_CACHE_HEADER
            .checked_add(
                i.checked_mul(LD_CACHE_ENTRY)
                    .ok_or("entry count overflows")?,
            )
            .ok_or("entry count overflows")?;
        let Some(value) = u32_at(entry + 8) else {
            return Err(format!("entry {i} lies past the end of the file"));
        };
        let Some(path) = cstr(cache, value as usize) else {
            continue;
        };
        if path.contains(needle) && path.starts_with('/') && !paths.iter().any(|p| p == &path) {
            paths.push(path);
        }
    }
    // A damaged entry table still leaves the string table readable: scan it as well.
    let strings = LD_CACHE_HEADER + nlibs.saturating_mul(LD_CACHE_ENTRY);
    if let Some(table) = cache.get(strings..strings.saturating_add(len_strings).min(cache.len())) {
        for s in table.split(|&b| b == 0) {
            let s = String::from_utf8_lossy(s);
            if s.contains(needle) && s.starts_with('/') && !paths.iter().any(|p| p == &*s) {
                paths.push(s.into_owned());
            }
        }
    }
    Ok(paths)
}

fn cstr(data: &[u8], off: usize) -> Option<String> {
    let rest = data.get(off..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// APT configuration, reduced to what doctor needs: scalar assignments (`A::B "v";`),
/// lists (`A::B { "x"; "y"; };` and `A::B:: "x";`), nested scopes (`A { B "v"; };`) and
/// `#clear A::B;`. Comments (`//`, `/* */`, `#` lines) are ignored.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AptConfig {
    /// (key, value, file) in reading order; list items appear once per value.
    pub items: Vec<(String, String, String)>,
}

impl AptConfig {
    /// Reads one file's text (files must be fed in APT's order: apt.conf.d sorted by name).
    pub fn feed(&mut self, file: &str, text: &str) {
        let text = strip_apt_comments(text);
        let mut scope: Vec<String> = Vec::new();
        let mut key: Option<String> = None;
        for tok in apt_tokens(&text) {
            match tok {
                AptTok::Clear(k) => {
                    let k = k.to_ascii_lowercase();
                    self.items
                        .retain(|(key, _, _)| !(key == &k || key.starts_with(&format!("{k}::"))));
                }
                AptTok::Word(w) => {
                    key = Some(match key.take() {
                        Some(k) => format!("{k} {w}"),
                        None => w,
                    })
                }
                AptTok::Str(v) => {
                    let k = join_key(&scope, key.take().as_deref());
                    self.items.push((k, v, file.to_string()));
                }
                AptTok::Open => scope.push(key.take().unwrap_or_default()),
                AptTok::Close => {
                    scope.pop();
                    key = None;
                }
                AptTok::Semi => key = None,
            }
        }
    }
    /// The last value of a scalar key.
    pub fn get(&self, key: &str) -> Option<(&str, &str)> {
        let key = key.to_ascii_lowercase();
        self.items
            .iter()
            .rev()
            .find(|(k, _, _)| k == &key)
            .map(|(_, v, f)| (v.as_str(), f.as_str()))
    }
    /// Every value of a list key.
    pub fn list(&self, key: &str) -> Vec<(&str, &str)> {
        let key = key.to_ascii_lowercase();
        self.items
            .iter()
            .filter(|(k, _, _)| k == &key)
            .map(|(_, v, f)| (v.as_str(), f.as_str()))
            .collect()
    }
}

fn join_key(scope: &[String], key: Option<&str>) -> String {
    let mut parts: Vec<&str> = scope
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(k) = key {
        parts.push(k.trim_end_matches("::"));
    }
    parts.join("::").to_ascii_lowercase()
}

#[derive(Debug, PartialEq, Eq)]
enum AptTok {
    Word(String),
    Str(String),
    Open,
    Close,
    Semi,
    Clear(String),
}

fn strip_apt_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_block = false;
    for line in text.lines() {
        let mut rest = line;
        let mut kept = String::new();
        loop {
            if in_block {
                match rest.find("*/") {
                    Some(i) => {
                        rest = &rest[i + 2..];
                        in_block = false;
                    }
                    None => break,
                }
            }
            // A `//` or `/*` inside a quoted string is not a comment.
            let mut quoted = false;
            let mut cut = None;
            for (i, c) in rest.char_indices() {
                match c {
                    '"' => quoted = !quoted,
                    '/' if !quoted && rest[i..].starts_with("//") => {
                        cut = Some((i, false));
                        break;
                    }
                    '/' if !quoted && rest[i..].starts_with("/*") => {
                        cut = Some((i, true));
                        break;
                    }
                    _ => {}
                }
            }
            match cut {
                None => {
                    kept.push_str(rest);
                    break;
                }
                Some((i, false)) => {
                    kept.push_str(&rest[..i]);
                    break;
                }
                Some((i, true)) => {
                    kept.push_str(&rest[..i]);
                    kept.push(' ');
                    rest = &rest[i + 2..];
                    in_block = true;
                }
            }
        }
        let trimmed = kept.trim_start();
        if trimmed.starts_with('#') && !trimmed.starts_with("#clear") {
            kept.clear();
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

fn apt_tokens(text: &str) -> Vec<AptTok> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            '{' => {
                out.push(AptTok::Open);
                chars.next();
            }
            '}' => {
                out.push(AptTok::Close);
                chars.next();
            }
            ';' => {
                out.push(AptTok::Semi);
                chars.next();
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                for (_, c) in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                    s.push(c);
                }
                out.push(AptTok::Str(s));
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            _ => {
                let mut end = i;
                while let Some(&(j, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '{' | '}' | ';' | '"') {
                        break;
                    }
                    end = j + c.len_utf8();
                    chars.next();
                }
                let word = &text[i..end];
                if word == "#clear" {
                    // `#clear Key;`: the next word is the key.
                    while chars.peek().is_some_and(|&(_, c)| c.is_whitespace()) {
                        chars.next();
                    }
                    let mut key = String::new();
                    while let Some(&(_, c)) = chars.peek() {
                        if c.is_whitespace() || c == ';' {
                            break;
                        }
                        key.push(c);
                        chars.next();
                    }
                    out.push(AptTok::Clear(key.trim_end_matches("::").to_string()));
                } else {
                    out.push(AptTok::Word(word.to_string()));
                }
            }
        }
    }
    out
}

/// Does an `Unattended-Upgrade::Package-Blacklist` entry keep `package` from being upgraded?
/// unattended-upgrades applies each entry with Python's `re.match`: a regex anchored at the
/// start of the name. An entry that is not a valid regex is taken as a plain prefix.
pub fn blacklist_matches(entry: &str, package: &str) -> bool {
    match regex::Regex::new(&format!("^(?:{entry})")) {
        Ok(re) => re.is_match(package),
        Err(_) => package.starts_with(entry),
    }
}

/// `GRUB_DEFAULT` from /etc/default/grub text (the last assignment wins; quotes removed).
pub fn grub_default(text: &str) -> Option<String> {
    let mut value = None;
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        if let Some(v) = line.strip_prefix("GRUB_DEFAULT=") {
            value = Some(unquote(v.split(" #").next().unwrap_or(v).trim()).to_string());
        }
    }
    value
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// A variable from /boot/grub/grubenv (`saved_entry`, `next_entry`); empty values are `None`.
pub fn grubenv_var(text: &str, var: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(var)?.strip_prefix('='))
        .next_back()
        .map(|v| v.trim_end_matches('#').trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The kernel a dkms make.log was written for, from its first line:
/// `DKMS make.log for nvidia-570.133.07 for kernel 5.15.0-138-generic (x86_64)`.
/// dkms 3 writes `DKMS (dkms-3.0.13) make.log for nvidia/550.78 for kernel 6.9.3-2-cachyos (x86_64)`.
pub fn make_log_kernel(text: &str) -> Option<String> {
    let line = text
        .lines()
        .take(5)
        .find(|l| l.starts_with("DKMS ") && l.contains(" make.log for "))?;
    let rest = &line[line.find(" for kernel ")? + " for kernel ".len()..];
    rest.split_whitespace().next().map(str::to_string)
}

/// The first line of a build log that reads as the error (a compiler `error:`, `Error!`, or
/// a fatal make message), for one-line verdicts.
pub fn first_error_line(text: &str) -> Option<&str> {
    let is_error = |l: &str| {
        let lower = l.to_ascii_lowercase();
        lower.contains("error:")
            || lower.contains("error!")
            || lower.contains("no such file or directory")
    };
    text.lines()
        .map(str::trim)
        .find(|l| is_error(l))
        .or_else(|| text.lines().map(str::trim).find(|l| l.contains("*** ")))
}

/// The bracketed word of /sys/kernel/security/lockdown: `none [integrity] confidentiality`.
pub fn lockdown_mode(text: &str) -> Option<String> {
    let open = text.find('[')?;
    let close = text[open..].find(']')?;
    Some(text[open + 1..open + close].to_string())
}

/// Does /proc/modules list `module` (first column)?
pub fn proc_modules_has(text: &str, module: &str) -> bool {
    text.lines()
        .any(|l| l.split_whitespace().next() == Some(module))
}

/// `/etc/os-release`: `KEY=value` lines, values unquoted (shell-style single or double quotes).
pub fn os_release(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(|(k, v)| (k.to_string(), unquote(v.trim()).to_string()))
        .collect()
}

/// The family an os-release `ID` and `ID_LIKE` name, the first word that is known.
pub fn family_of(id: Option<&str>, id_like: &[String]) -> Family {
    let words = id.into_iter().chain(id_like.iter().map(String::as_str));
    for w in words {
        let family = match w {
            "debian" | "ubuntu" | "linuxmint" | "pop" | "raspbian" => Family::Debian,
            "fedora" | "rhel" | "centos" | "rocky" | "almalinux" | "ol" | "nobara" => {
                Family::Fedora
            }
            "arch" | "archarm" | "cachyos" | "manjaro" | "endeavouros" | "garuda" => Family::Arch,
            "opensuse" | "suse" | "sles" | "opensuse-leap" | "opensuse-tumbleweed" => Family::Suse,
            _ => continue,
        };
        return family;
    }
    Family::Unknown
}

/// `%NAME%` and `%VERSION%` of a pacman local database `desc` file.
pub fn pacman_desc(text: &str) -> Option<PacmanPackage> {
    let mut lines = text.lines().map(str::trim);
    let (mut name, mut version) = (None, None);
    while let Some(l) = lines.next() {
        match l {
            "%NAME%" => name = lines.next().map(str::to_string),
            "%VERSION%" => version = lines.next().map(str::to_string),
            _ => {}
        }
    }
    Some(PacmanPackage {
        name: name.filter(|n| !n.is_empty())?,
        version: version.unwrap_or_default(),
    })
}

/// The kernel of an akmods log name: `565.77-1-for-6.12.9-200.fc41.x86_64.failed.log`
/// → ("6.12.9-200.fc41.x86_64", failed).
pub fn akmods_log_kernel(file_name: &str) -> Option<(String, bool)> {
    let (rest, failed) = match file_name.strip_suffix(".failed.log") {
        Some(r) => (r, true),
        None => (file_name.strip_suffix(".log")?, false),
    };
    let (_, kernel) = rest.rsplit_once("-for-")?;
    (!kernel.is_empty()).then(|| (kernel.to_string(), failed))
}

/// Does a log line show a binutils tool damaging or failing to read an object? The kind
/// ("bfd-assertion", ...) or `None`. doctor's own small matcher: the make stage's log-line
/// recogniser is a separate module; the two are to be unified.
pub fn log_hit_kind(line: &str) -> Option<&'static str> {
    if line.contains("BFD") && line.contains("assertion fail") {
        Some("bfd-assertion")
    } else if line.contains("invalid entry") && line.contains("in group") {
        Some("invalid-group-entry")
    } else if line.contains("file format not recognized") {
        Some("format-not-recognized")
    } else if line.contains("illformed") {
        Some("illformed")
    } else {
        None
    }
}

/// Scans a build or package-manager log for [`log_hit_kind`] lines, each tied to the kernel
/// the log was last seen working on: the longest of `kernels` named as a whole word on that
/// line or an earlier one (`dkms install nvidia/550.78 -k 6.9.3-2-cachyos`, `Building for
/// 5.15.0-138-generic`); a new apt or pacman session (`Log started:`, `transaction started`)
/// forgets it. `fixed_kernel` (a make.log's header) overrides. One hit per kernel and kind.
pub fn log_hits(
    source: &str,
    text: &str,
    kernels: &[String],
    fixed_kernel: Option<&str>,
) -> Vec<LogHit> {
    let mut current: Option<String> = None;
    let mut hits: Vec<LogHit> = Vec::new();
    for line in text.lines() {
        if line.starts_with("Log started:") || line.contains("[ALPM] transaction started") {
            current = None;
        }
        if let Some(k) = kernel_named(line, kernels) {
            current = Some(k.to_string());
        }
        let Some(kind) = log_hit_kind(line) else {
            continue;
        };
        let kernel = fixed_kernel.map(str::to_string).or_else(|| current.clone());
        if hits.iter().any(|h| h.kind == kind && h.kernel == kernel) {
            continue;
        }
        hits.push(LogHit {
            source: source.to_string(),
            kernel,
            kind: kind.to_string(),
            line: without_log_prefix(line).to_string(),
        });
    }
    hits
}

/// A log line without the bracketed timestamp and source pacman puts before it
/// (`[2024-06-05T18:02:57+0200] [ALPM-SCRIPTLET] strip: …` → `strip: …`).
fn without_log_prefix(line: &str) -> &str {
    let mut rest = line.trim();
    for _ in 0..2 {
        match rest.strip_prefix('[').and_then(|r| r.split_once("] ")) {
            Some((_, after)) => rest = after.trim_start(),
            None => break,
        }
    }
    rest
}

/// The longest of `kernels` that `line` names as a whole word.
fn kernel_named<'k>(line: &str, kernels: &'k [String]) -> Option<&'k str> {
    let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    kernels
        .iter()
        .filter(|k| {
            line.match_indices(k.as_str()).any(|(i, _)| {
                let before = line[..i].chars().next_back();
                let after = line[i + k.len()..].chars().next();
                !before.is_some_and(word) && !after.is_some_and(|c| word(c) && c != '.')
            })
        })
        .max_by_key(|k| k.len())
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_releases_order_numerically() {
        assert_eq!(
            version_cmp("5.15.0-138-generic", "5.15.0-94-generic"),
            Ordering::Greater
        );
        assert_eq!(
            version_cmp("6.1.0-30-amd64", "6.1.0-28-amd64"),
            Ordering::Greater
        );
        assert_eq!(
            version_cmp("5.15.0-94-generic", "6.1.0-1-amd64"),
            Ordering::Less
        );
        assert_eq!(version_cmp("570.133.07", "570.124.06"), Ordering::Greater);
        assert_eq!(version_cmp("570.133.07", "570.133.07"), Ordering::Equal);
        assert_eq!(version_cmp("5.15.0", "5.15.0-94-generic"), Ordering::Less);
        let mut ks = vec![
            "5.15.0-94-generic",
            "5.15.0-138-generic",
            "5.15.0-100-generic",
        ];
        ks.sort_by(|a, b| version_cmp(a, b));
        assert_eq!(
            ks,
            [
                "5.15.0-94-generic",
                "5.15.0-100-generic",
                "5.15.0-138-generic"
            ]
        );
    }

    #[test]
    fn library_versions_come_from_file_names() {
        assert_eq!(
            lib_version("libnvidia-ml.so.570.133.07", "libnvidia-ml"),
            Some("570.133.07")
        );
        assert_eq!(lib_version("libnvidia-ml.so.1", "libnvidia-ml"), None);
        assert_eq!(lib_version("libnvidia-ml.so", "libnvidia-ml"), None);
        assert_eq!(lib_version("libnvidia-mlx.so.1.2", "libnvidia-ml"), None);
    }

    #[test]
    fn proc_driver_version_both_forms() {
        let open = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  (dvs-builder@U22-I3-AE18-23-3)  Thu Oct 16 02:12:31 UTC 2025\nGCC version:  gcc version 12.3.0 (Ubuntu 12.3.0-1ubuntu1~22.04)\n";
        let p = proc_driver_version(open).unwrap();
        assert_eq!(p.version, "580.159.04");
        assert!(p.open);
        let prop = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.90.07  Fri May 31 09:35:42 UTC 2024\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n";
        let p = proc_driver_version(prop).unwrap();
        assert_eq!(p.version, "550.90.07");
        assert!(!p.open);
        assert_eq!(proc_driver_version("garbage\n"), None);
        assert_eq!(proc_driver_version("NVRM version: nothing here"), None);
    }

    #[test]
    fn dkms_status_2x_format() {
        let text = "nvidia, 570.133.07, 5.15.0-94-generic, x86_64: installed\n\
                    nvidia, 570.133.07, 5.15.0-138-generic, x86_64: built\n\
                    nvidia, 550.90.07: added\n\
                    nvidia, 570.133.07, 5.15.0-91-generic, x86_64: installed (original_module exists) (WARNING! Diff between built and installed module!) (WARNING! Diff between built and installed module!)\n";
        let s = dkms_status(text);
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].module, "nvidia");
        assert_eq!(s[0].version, "570.133.07");
        assert_eq!(s[0].kernel.as_deref(), Some("5.15.0-94-generic"));
        assert_eq!(s[0].arch.as_deref(), Some("x86_64"));
        assert_eq!(s[0].state, "installed");
        assert_eq!(s[0].format, 2);
        assert_eq!(s[1].state, "built");
        assert_eq!(s[2].kernel, None);
        assert_eq!(s[2].state, "added");
        assert_eq!(
            s[3].notes,
            [
                "original_module exists",
                "WARNING! Diff between built and installed module!"
            ]
        );
    }

    #[test]
    fn dkms_status_3x_format() {
        let text = "nvidia/570.133.07, 5.15.0-94-generic, x86_64: installed\n\
                    nvidia/570.133.07: added\n\
                    Warning: could not find /lib/modules/5.15.0-91-generic/build\n\
                    Error! Could not locate dkms.conf file.\n\
                    \n\
                    nvidia/570.133.07, 6.8.0-60-generic, x86_64: installed (WARNING! Diff between built and installed module!)\n\
                    virtualbox/7.0.20, 6.8.0-60-generic, x86_64: installed-weak\n";
        let s = dkms_status(text);
        assert_eq!(s.len(), 4, "{s:#?}");
        assert!(s.iter().all(|e| e.format == 3));
        assert_eq!(s[0].kernel.as_deref(), Some("5.15.0-94-generic"));
        assert_eq!(s[1].state, "added");
        assert_eq!(
            s[2].notes,
            ["WARNING! Diff between built and installed module!"]
        );
        assert_eq!(s[3].module, "virtualbox");
        assert_eq!(s[3].state, "installed-weak");
    }

    #[test]
    fn dpkg_status_stanzas() {
        let text = "Package: nvidia-dkms-570\nStatus: install ok half-configured\nPriority: optional\nVersion: 570.133.07-0ubuntu0.22.04.1\nDepends: dkms,\n nvidia-kernel-common-570\nDescription: NVIDIA DKMS package\n multi-line: not a field\n\n\
                    Package: nvidia-driver-550\nStatus: deinstall ok config-files\nVersion: 550.144.03-0ubuntu0.22.04.1\n\n\
                    Package: bash\nStatus: install ok installed\nVersion: 5.1-6ubuntu1\n\n\
                    Package: linux-image-5.15.0-138-generic\nStatus: install reinstreq half-installed\nVersion: 5.15.0-138.148\n";
        let p = dpkg_status(text, |n| n.contains("nvidia") || n.starts_with("linux-"));
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].name, "nvidia-dkms-570");
        assert_eq!(p[0].version, "570.133.07-0ubuntu0.22.04.1");
        assert_eq!(p[0].code(), "iF");
        assert!(p[0].is_broken());
        assert_eq!(p[1].code(), "rc");
        assert!(p[1].is_leftover() && !p[1].has_files());
        assert_eq!(p[2].code(), "iHR");
        assert!(p[2].is_broken());
        assert_eq!(dpkg_status("\0\0garbage", |_| true), vec![]);
    }

    #[test]
    fn upstream_versions() {
        assert_eq!(
            upstream_version("570.133.07-0ubuntu0.22.04.1"),
            "570.133.07"
        );
        assert_eq!(upstream_version("1:550.90.07-1~deb12u1"), "550.90.07");
        assert_eq!(upstream_version("550.90.07"), "550.90.07");
    }

    /// Builds a new-format ld.so.cache the way ldconfig lays it out.
    pub(crate) fn ld_cache(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut strings = Vec::new();
        let base = LD_CACHE_HEADER + entries.len() * LD_CACHE_ENTRY;
        let mut table = Vec::new();
        for (key, value) in entries {
            let k = base + strings.len();
            strings.extend_from_slice(key.as_bytes());
            strings.push(0);
            let v = base + strings.len();
            strings.extend_from_slice(value.as_bytes());
            strings.push(0);
            table.extend_from_slice(&0x0303i32.to_le_bytes());
            table.extend_from_slice(&(k as u32).to_le_bytes());
            table.extend_from_slice(&(v as u32).to_le_bytes());
            table.extend_from_slice(&0u32.to_le_bytes());
            table.extend_from_slice(&0u64.to_le_bytes());
        }
        let mut out = LD_CACHE_MAGIC.to_vec();
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        out.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        out.extend_from_slice(&[2, 0, 0, 0]);
        out.extend_from_slice(&[0; 16]);
        assert_eq!(out.len(), LD_CACHE_HEADER);
        out.extend_from_slice(&table);
        out.extend_from_slice(&strings);
        out
    }

    #[test]
    fn ld_so_cache_new_format() {
        let data = ld_cache(&[
            ("libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1"),
            (
                "libnvidia-ml.so.1",
                "/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
            ),
            (
                "libnvidia-ml.so.1",
                "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
            ),
        ]);
        assert_eq!(
            ld_so_cache_paths(&data, "libnvidia-ml").unwrap(),
            [
                "/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
                "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"
            ]
        );
        // Behind an old-format table, as ldconfig --format=compat writes it.
        let mut compat = b"ld.so-1.7.0\0\0\0\0\0".to_vec();
        compat.extend_from_slice(&data);
        assert_eq!(ld_so_cache_paths(&compat, "libnvidia-ml").unwrap().len(), 2);
        assert_eq!(
            ld_so_cache_paths(&data, "libcuda").unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn ld_so_cache_garbage_is_tolerated() {
        assert!(ld_so_cache_paths(b"", "libnvidia-ml").is_err());
        assert!(ld_so_cache_paths(b"\x7fELF random", "libnvidia-ml").is_err());
        let data = ld_cache(&[("libnvidia-ml.so.1", "/usr/lib/libnvidia-ml.so.1")]);
        for cut in 0..data.len() {
            let _ = ld_so_cache_paths(&data[..cut], "libnvidia-ml");
        }
        let mut huge = data.clone();
        huge[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(ld_so_cache_paths(&huge, "libnvidia-ml").is_err());
    }

    #[test]
    fn apt_config_unattended_and_blacklist() {
        let mut c = AptConfig::default();
        c.feed(
            "/etc/apt/apt.conf.d/20auto-upgrades",
            "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n",
        );
        c.feed(
            "/etc/apt/apt.conf.d/50unattended-upgrades",
            "// Python regular expressions, matching packages to exclude from upgrading\n\
             Unattended-Upgrade::Package-Blacklist {\n\
                 // The following matches all packages starting with linux-\n\
             //  \"linux-\";\n\
                 \"vim\";   // a comment\n\
                 /* \"libc6$\"; */\n\
             };\n\
             # a hash comment \"nvidia-\";\n",
        );
        c.feed(
            "/etc/apt/apt.conf.d/60local",
            "Unattended-Upgrade::Package-Blacklist:: \"nvidia-\";\nAPT { Periodic { Unattended-Upgrade \"0\"; }; };\n",
        );
        assert_eq!(
            c.get("APT::Periodic::Unattended-Upgrade"),
            Some(("0", "/etc/apt/apt.conf.d/60local"))
        );
        let bl: Vec<&str> = c
            .list("Unattended-Upgrade::Package-Blacklist")
            .into_iter()
            .map(|(v, _)| v)
            .collect();
        assert_eq!(bl, ["vim", "nvidia-"]);
        c.feed(
            "/etc/apt/apt.conf.d/99clear",
            "#clear Unattended-Upgrade::Package-Blacklist;\n",
        );
        assert!(c.list("Unattended-Upgrade::Package-Blacklist").is_empty());
    }

    #[test]
    fn blacklist_entries_are_anchored_regexes() {
        assert!(blacklist_matches("nvidia-", "nvidia-driver-570"));
        assert!(!blacklist_matches("nvidia-", "libnvidia-compute-570"));
        assert!(blacklist_matches("libnvidia-", "libnvidia-compute-570"));
        assert!(blacklist_matches("(lib)?nvidia-", "libnvidia-compute-570"));
        assert!(blacklist_matches(
            "linux-",
            "linux-image-5.15.0-138-generic"
        ));
        assert!(blacklist_matches(".*nvidia", "libnvidia-compute-570"));
        assert!(!blacklist_matches(
            "nvidia-driver-550$",
            "nvidia-driver-570"
        ));
        // Not a regex: used as a prefix.
        assert!(blacklist_matches("nvidia-(", "nvidia-(x"));
        assert!(!blacklist_matches("nvidia-(", "nvidia-driver"));
    }

    #[test]
    fn grub_settings() {
        assert_eq!(
            grub_default("GRUB_TIMEOUT=0\nGRUB_DEFAULT=0\n# GRUB_DEFAULT=saved\n").as_deref(),
            Some("0")
        );
        assert_eq!(
            grub_default("GRUB_DEFAULT=\"Advanced options for Ubuntu>Ubuntu, with Linux 5.15.0-94-generic\"\n").as_deref(),
            Some("Advanced options for Ubuntu>Ubuntu, with Linux 5.15.0-94-generic")
        );
        let env = "# GRUB Environment Block\nsaved_entry=gnulinux-advanced-1234>gnulinux-5.15.0-94-generic-advanced-1234\nnext_entry=\n#########\n";
        assert_eq!(
            grubenv_var(env, "saved_entry").as_deref(),
            Some("gnulinux-advanced-1234>gnulinux-5.15.0-94-generic-advanced-1234")
        );
        assert_eq!(grubenv_var(env, "next_entry"), None);
    }

    #[test]
    fn make_log_header_and_error() {
        let log = "DKMS make.log for nvidia-570.133.07 for kernel 5.15.0-138-generic (x86_64)\nTue Apr 29 06:25:14 UTC 2025\n  CC [M]  nv.o\ncc: error: unrecognized command-line option '-ftrivial-auto-var-init=zero'\nmake: *** [Makefile:82: modules] Error 2\n";
        assert_eq!(make_log_kernel(log).as_deref(), Some("5.15.0-138-generic"));
        assert_eq!(
            first_error_line(log),
            Some("cc: error: unrecognized command-line option '-ftrivial-auto-var-init=zero'")
        );
        assert_eq!(make_log_kernel("no header"), None);
        let log = "make[1]: Entering directory '/usr/src/linux-headers-5.15.0-138-generic'\n\n  ERROR: Kernel configuration is invalid.\nmake: *** [Makefile:82: modules] Error 2\n";
        assert_eq!(
            first_error_line(log),
            Some("ERROR: Kernel configuration is invalid.")
        );
        assert_eq!(
            first_error_line("make: *** [x] Error 2\n"),
            Some("make: *** [x] Error 2")
        );
        assert_eq!(first_error_line("all good\n"), None);
    }

    #[test]
    fn small_sysfs_formats() {
        assert_eq!(
            lockdown_mode("none [integrity] confidentiality\n").as_deref(),
            Some("integrity")
        );
        assert_eq!(lockdown_mode("[none] integrity"), Some("none".into()));
        assert!(proc_modules_has(
            "nvidia_uvm 1 0 - Live\nnvidia 2 1 nvidia_uvm, Live\n",
            "nvidia"
        ));
        assert!(!proc_modules_has("nvidia_uvm 1 0 - Live\n", "nvidia"));
    }

    #[test]
    fn os_release_and_family() {
        let t = "NAME=\"CachyOS Linux\"\nPRETTY_NAME='CachyOS'\nID=cachyos\nID_LIKE=arch\n# c\n";
        let m = os_release(t);
        assert_eq!(m["ID"], "cachyos");
        assert_eq!(m["PRETTY_NAME"], "CachyOS");
        assert_eq!(m["NAME"], "CachyOS Linux");
        assert_eq!(family_of(Some("cachyos"), &[]), Family::Arch);
        assert_eq!(family_of(Some("nobody"), &["arch".into()]), Family::Arch);
        let like = vec!["rhel".to_string(), "centos".into(), "fedora".into()];
        assert_eq!(family_of(Some("rocky"), &like), Family::Fedora);
        assert_eq!(family_of(Some("pop"), &["ubuntu".into()]), Family::Debian);
        assert_eq!(family_of(None, &[]), Family::Unknown);
    }

    #[test]
    fn pacman_desc_and_akmods_names() {
        let d = "%NAME%\nlinux-cachyos\n\n%VERSION%\n6.9.3-2\n\n%BASE%\nlinux-cachyos\n";
        let p = pacman_desc(d).unwrap();
        assert_eq!(
            (p.name.as_str(), p.version.as_str()),
            ("linux-cachyos", "6.9.3-2")
        );
        assert!(pacman_desc("%VERSION%\n1\n").is_none());
        assert_eq!(
            akmods_log_kernel("565.77-1-for-6.12.9-200.fc41.x86_64.failed.log"),
            Some(("6.12.9-200.fc41.x86_64".into(), true))
        );
        assert_eq!(
            akmods_log_kernel("565.77-1-for-6.11.4-301.fc41.x86_64.log"),
            Some(("6.11.4-301.fc41.x86_64".into(), false))
        );
        assert_eq!(akmods_log_kernel("akmodsbuild.log"), None);
    }

    #[test]
    fn dkms3_make_log_header() {
        let log = "DKMS (dkms-3.0.13) make.log for nvidia/550.78 for kernel 6.9.3-2-cachyos (x86_64)\nSun Jun  2 2024\n";
        assert_eq!(make_log_kernel(log).as_deref(), Some("6.9.3-2-cachyos"));
    }

    #[test]
    fn log_hits_are_tied_to_the_kernel_being_built() {
        let kernels = vec!["6.9.3-2-cachyos".to_string(), "6.6.32-1-cachyos-lts".into()];
        let log = "\
[2024-06-05T18:02:40+0200] [ALPM] transaction started
[2024-06-05T18:02:42+0200] [ALPM-SCRIPTLET] ==> dkms install --no-depmod nvidia/550.78 -k 6.9.3-2-cachyos
[2024-06-05T18:02:50+0200] [ALPM-SCRIPTLET] strip: nvidia-modeset.ko: invalid entry (0x5) in group [31]
[2024-06-05T18:02:50+0200] [ALPM-SCRIPTLET] strip: BFD (GNU Binutils) 2.43.1 assertion fail ../../binutils-2.43.1/bfd/elf.c:3944
[2024-06-05T18:02:50+0200] [ALPM-SCRIPTLET] strip: BFD (GNU Binutils) 2.43.1 assertion fail ../../binutils-2.43.1/bfd/elf.c:3944
[2024-06-05T18:02:55+0200] [ALPM] transaction completed
[2024-06-06T09:00:00+0200] [ALPM] transaction started
[2024-06-06T09:00:01+0200] [ALPM-SCRIPTLET] objcopy: x.o: file format not recognized
";
        let hits = log_hits("/var/log/pacman.log", log, &kernels, None);
        let got: Vec<(&str, Option<&str>)> = hits
            .iter()
            .map(|h| (h.kind.as_str(), h.kernel.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("invalid-group-entry", Some("6.9.3-2-cachyos")),
                ("bfd-assertion", Some("6.9.3-2-cachyos")),
                ("format-not-recognized", None),
            ]
        );
        // A release that is a prefix of another is not named by it.
        assert_eq!(
            kernel_named("-k 6.6.32-1-cachyos-lts", &kernels),
            Some("6.6.32-1-cachyos-lts")
        );
        assert_eq!(kernel_named("-k 6.9.3-2-cachyos-rc", &kernels), None);
        assert_eq!(
            log_hit_kind("ld: warning: illformed group"),
            Some("illformed")
        );
        assert_eq!(log_hit_kind("CC [M] nvidia.o"), None);
    }

    #[test]
    fn apt_term_log_hits_follow_the_dkms_kernel() {
        let kernels = vec!["5.15.0-94-generic".to_string(), "5.15.0-138-generic".into()];
        let log = "\
Log started: 2025-03-02  06:25:14
Setting up linux-headers-5.15.0-138-generic (5.15.0-138.148) ...
/etc/kernel/header_postinst.d/dkms:
 * dkms: running auto installation service for kernel 5.15.0-138-generic
Building for 5.15.0-138-generic
strip: nvidia-modeset.ko: invalid entry (0x5) in group [31]
Log ended: 2025-03-02  06:27:40

Log started: 2025-03-03  06:25:14
strip: nvidia-modeset.ko: invalid entry (0x5) in group [31]
";
        let hits = log_hits("/var/log/apt/term.log", log, &kernels, None);
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].kernel.as_deref(), Some("5.15.0-138-generic"));
        // A new APT session forgets the kernel of the last one.
        assert_eq!(hits[1].kernel, None);
        // A make.log's header decides for every line of it.
        let fixed = log_hits("make.log", log, &kernels, Some("5.15.0-94-generic"));
        assert_eq!(fixed.len(), 1);
        assert_eq!(fixed[0].kernel.as_deref(), Some("5.15.0-94-generic"));
    }
}
