//! A saved log, read for every line the recogniser (`crate::diagnose`) knows: grouped by
//! signature, repeats counted, BFD assertions located in binutils, and the kernel, package
//! and modules the log names.

use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

use crate::diagnose::bfd::{self, BfdAssertion};
use crate::diagnose::{self, Severity};

use super::module::{self, ModuleReport, ResolvedEntry};

/// One distinct recognised line, with how often it appears.
#[derive(Debug, Clone, Serialize)]
pub struct SeenLine {
    /// The line without its log prefix (journal or pacman.log timestamp).
    pub text: String,
    pub count: usize,
    /// 1-based number of its first appearance.
    pub first_line: usize,
    /// The module file the line names, if any.
    pub module: Option<String>,
    pub bfd: Option<BfdAssertion>,
    pub group_entry: Option<GroupEntry>,
}

/// `invalid entry (0xENTRY) in group [GROUP]`.
#[derive(Debug, Clone, Serialize)]
pub struct GroupEntry {
    pub group: u32,
    pub entry: u32,
    /// What it names in a module given alongside the log.
    pub resolved: Option<ResolvedEntry>,
}

/// Every line of one signature.
#[derive(Debug, Clone, Serialize)]
pub struct LogFinding {
    pub id: &'static str,
    pub severity: Severity,
    /// Cause and fix as filled in from the first such line.
    pub cause: String,
    pub fix: String,
    /// Lines recognised, repeats included.
    pub count: usize,
    pub lines: Vec<SeenLine>,
}

/// What `explain` says about one log.
#[derive(Debug, Clone, Serialize)]
pub struct LogReport {
    pub source: String,
    pub lines: usize,
    /// Kernel releases the log names (dkms's `-k`, `for kernel`, `/lib/modules/<k>/`, ...).
    pub kernels: Vec<String>,
    /// dkms packages it names (`nvidia/595.45.04`).
    pub packages: Vec<String>,
    /// Module files it names.
    pub modules: Vec<String>,
    pub findings: Vec<LogFinding>,
}

/// At most this many distinct names of each kind are kept from one log.
const NAMES_KEPT: usize = 12;

struct ContextPatterns {
    prefix: Regex,
    kernel: Regex,
    package: Regex,
    module: Regex,
    group_entry: Regex,
}

fn patterns() -> &'static ContextPatterns {
    static P: OnceLock<ContextPatterns> = OnceLock::new();
    P.get_or_init(|| {
        // Constants, exercised by the unit tests.
        #[allow(clippy::expect_used)]
        let re = |p: &str| Regex::new(p).expect("explain pattern compiles");
        ContextPatterns {
            // journalctl: "Dec 03 10:00:01 host dkms[812]: "; pacman.log: "[2024-06-08T10:00:01+0200] [ALPM-SCRIPTLET] ".
            prefix: re(
                r"^(?:[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \S+ [^\s:]+: |\[\d{4}-\d\d-\d\d[T ][^\]]*\] (?:\[[A-Za-z-]+\] )?)",
            ),
            kernel: re(
                r"(?:for kernel:? |\s-k |KERNEL_UNAME=|kernelver=|/lib/modules/|initial module for |for kernel version )(?P<k>[0-9]+\.[0-9]+[0-9A-Za-z._+~-]*)",
            ),
            package: re(
                r"(?:make\.log for |dkms (?:install|build|add|remove|autoinstall)(?: --?[\w-]+)* )(?P<p>[A-Za-z0-9_.+-]+/[0-9][0-9A-Za-z.+~_-]*)",
            ),
            module: re(r"(?P<m>[A-Za-z0-9_+-]+\.ko(?:\.(?:zst|xz|gz))?)\b"),
            group_entry: re(
                r"invalid entry \((?P<entry>0x[0-9a-fA-F]+)\) in group \[(?P<group>[0-9]+)\]",
            ),
        }
    })
}

fn push_unique(list: &mut Vec<String>, value: &str) {
    if list.len() < NAMES_KEPT && !list.iter().any(|v| v == value) {
        list.push(value.to_string());
    }
}

/// The line without a journal or pacman.log prefix, so repeats compare equal.
fn without_prefix(line: &str) -> &str {
    let line = line.trim_end_matches('\r').trim();
    match patterns().prefix.find(line) {
        Some(m) => &line[m.end()..],
        None => line,
    }
}

fn module_named(line: &str) -> Option<String> {
    patterns()
        .module
        .captures_iter(line)
        .last()
        .map(|c| c["m"].to_string())
}

fn group_entry(line: &str) -> Option<GroupEntry> {
    let c = patterns().group_entry.captures(line)?;
    Some(GroupEntry {
        group: c["group"].parse().ok()?,
        entry: u32::from_str_radix(c["entry"].trim_start_matches("0x"), 16).ok()?,
        resolved: None,
    })
}

/// Reads one log. `modules` are the modules given with it, for resolving group numbers.
pub fn analyse(source: &str, text: &str, modules: &[ModuleReport]) -> LogReport {
    let p = patterns();
    let mut report = LogReport {
        source: source.to_string(),
        lines: text.lines().count(),
        kernels: Vec::new(),
        packages: Vec::new(),
        modules: Vec::new(),
        findings: Vec::new(),
    };
    for line in text.lines() {
        for c in p.kernel.captures_iter(line) {
            push_unique(&mut report.kernels, c["k"].trim_end_matches(['.', ')']));
        }
        if let Some(c) = p.package.captures(line) {
            push_unique(&mut report.packages, &c["p"]);
        }
        for c in p.module.captures_iter(line) {
            push_unique(&mut report.modules, &c["m"]);
        }
    }
    for d in diagnose::recognise_every_line(text) {
        let shown = without_prefix(&d.line).to_string();
        let finding = match report.findings.iter_mut().position(|f| f.id == d.id) {
            Some(i) => &mut report.findings[i],
            None => {
                report.findings.push(LogFinding {
                    id: d.id,
                    severity: d.severity,
                    cause: d.cause.clone(),
                    fix: d.fix.clone(),
                    count: 0,
                    lines: Vec::new(),
                });
                let last = report.findings.len() - 1;
                &mut report.findings[last]
            }
        };
        finding.count += 1;
        if let Some(seen) = finding.lines.iter_mut().find(|l| l.text == shown) {
            seen.count += 1;
            continue;
        }
        let mut entry = group_entry(&shown);
        let named = module_named(&shown);
        if let Some(e) = entry.as_mut() {
            e.resolved = module_for(named.as_deref(), modules)
                .map(|m| module::resolve_group_entry(m, e.group, e.entry));
        }
        finding.lines.push(SeenLine {
            bfd: bfd::parse_assertion(&shown),
            group_entry: entry,
            module: named,
            text: shown,
            count: 1,
            first_line: d.line_number,
        });
    }
    report
}

/// The module a log line is about: the one whose file name it names; for a line that names
/// no file, the only module given.
fn module_for<'m>(named: Option<&str>, modules: &'m [ModuleReport]) -> Option<&'m ModuleReport> {
    let base = |f: &str| {
        let name = f.rsplit('/').next().unwrap_or(f);
        name.split(".ko").next().unwrap_or(name).to_string()
    };
    match (named, modules) {
        // A line that names another file is not about the module given.
        (Some(n), _) => modules.iter().find(|m| base(&m.file) == base(n)),
        (None, [only]) => Some(only),
        (None, _) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "strip: BFD (GNU Binutils) 2.42.0 assertion fail /usr/src/debug/binutils/binutils-gdb/bfd/elf.c:4131";

    #[test]
    fn repeats_are_counted_once_per_distinct_line() {
        let line =
            "strip: BFD (GNU Binutils for Debian) 2.40 assertion fail ../../bfd/elf.c:3574\n";
        let r = analyse("make.log", &line.repeat(52), &[]);
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].count, 52);
        assert_eq!(r.findings[0].lines.len(), 1);
        assert_eq!(r.findings[0].lines[0].count, 52);
        let bfd = r.findings[0].lines[0].bfd.as_ref().expect("bfd");
        assert_eq!((bfd.version.as_str(), bfd.line), ("2.40", 3574));
    }

    #[test]
    fn pacman_and_journal_prefixes_do_not_split_repeats() {
        let text = format!(
            "[2024-06-08T10:00:01+0200] [ALPM-SCRIPTLET] ==> dkms install --no-depmod nvidia/555.52.04 -k 6.9.3-3-cachyos-lto\n\
             [2024-06-08T10:00:02+0200] [ALPM-SCRIPTLET] {SEED}\n\
             Jun 08 10:00:03 box dkms[812]: {SEED}\n"
        );
        let r = analyse("pacman.log", &text, &[]);
        assert_eq!(r.kernels, vec!["6.9.3-3-cachyos-lto"]);
        assert_eq!(r.packages, vec!["nvidia/555.52.04"]);
        assert_eq!(r.findings[0].lines.len(), 1, "{:?}", r.findings[0].lines);
        assert_eq!(r.findings[0].lines[0].text, SEED);
        assert_eq!(r.findings[0].lines[0].count, 2);
    }

    #[test]
    fn unknown_lines_are_not_reported() {
        let r = analyse("x", "strip: warning: something odd\nld: mystery\n", &[]);
        assert!(r.findings.is_empty());
    }

    #[test]
    fn group_entries_are_read_from_the_line() {
        let e = group_entry("strip: m.ko: invalid entry (0x5) in group [15]").expect("entry");
        assert_eq!((e.group, e.entry), (15, 5));
        assert_eq!(
            module_named("strip: /a/b/m.ko: invalid entry").as_deref(),
            Some("m.ko")
        );
    }
}
