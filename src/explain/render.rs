//! Human output of an [`Explanation`]: short enough for one screen in the common case (one
//! log line, or one module), every untrusted string escaped. `--json` prints the whole
//! explanation instead; this view shortens long lists and says so.

use std::fmt::Write as _;

use crate::diagnose::Severity;
use crate::output::escape;

use super::log::{LogFinding, LogReport, SeenLine};
use super::module::{ModuleReport, SectionRef};
use super::trial::{Trial, Verdict};
use super::Explanation;

/// Distinct lines shown per signature, groups per shared section, relocation sections per
/// target, and so on: the rest is counted, and in `--json`.
const SHOWN: usize = 4;
/// Text is wrapped to this width.
const WIDTH: usize = 100;

/// The explanation as text. `only_problems` (`-q`) leaves out warnings, logs with nothing
/// else, and modules GNU strip is safe on where no tool tried failed the proof.
pub fn render(e: &Explanation, only_problems: bool) -> String {
    let mut out = String::new();
    for m in &e.modules {
        let fine = m.gnu_strip_safe && m.trials.iter().all(|t| t.verdict == Verdict::Equivalent);
        if !(only_problems && fine) {
            render_module(&mut out, m);
        }
    }
    for l in &e.logs {
        let shown: Vec<&LogFinding> = l
            .findings
            .iter()
            .filter(|f| !only_problems || f.severity == Severity::Error)
            .collect();
        if !(only_problems && shown.is_empty()) {
            render_log(&mut out, l, &shown);
        }
    }
    out
}

/// Appends `text` wrapped at [`WIDTH`], every line starting with `indent`, the first with
/// `label` too.
fn wrapped(out: &mut String, indent: &str, label: &str, text: &str) {
    let first = format!("{indent}{label}");
    let hang = " ".repeat(first.chars().count());
    let mut line = first;
    let mut empty = true;
    for word in escape(text).split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = hang.clone();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn more(total: usize) -> String {
    if total > SHOWN {
        format!(", … {} more", total - SHOWN)
    } else {
        String::new()
    }
}

fn render_log(out: &mut String, l: &LogReport, findings: &[&LogFinding]) {
    let recognised: usize = l.findings.iter().map(|f| f.count).sum();
    let _ = writeln!(
        out,
        "{}: {} line{}, {recognised} recognised",
        escape(&l.source),
        l.lines,
        if l.lines == 1 { "" } else { "s" }
    );
    let mut about = Vec::new();
    if !l.packages.is_empty() {
        about.push(format!("package {}", l.packages.join(", ")));
    }
    if !l.kernels.is_empty() {
        about.push(format!("kernel {}", l.kernels.join(", ")));
    }
    if !l.modules.is_empty() {
        let shown: Vec<&str> = l.modules.iter().take(SHOWN).map(String::as_str).collect();
        about.push(format!(
            "modules {}{}",
            shown.join(", "),
            more(l.modules.len())
        ));
    }
    if !about.is_empty() {
        wrapped(out, "  ", "about: ", &about.join("; "));
    }
    if l.findings.is_empty() {
        out.push_str("  no line matches a known signature (nothing is guessed)\n");
    }
    let mut previous_fix: Option<&str> = None;
    for f in findings {
        render_finding(out, f, previous_fix == Some(f.fix.as_str()));
        previous_fix = Some(&f.fix);
    }
    out.push('\n');
}

fn render_finding(out: &mut String, f: &LogFinding, same_fix_as_above: bool) {
    let _ = writeln!(
        out,
        "  {} [{}] {} line{}",
        severity(f.severity),
        f.id,
        f.count,
        if f.count == 1 { "" } else { "s" }
    );
    for seen in f.lines.iter().take(SHOWN) {
        render_seen(out, seen);
    }
    if f.lines.len() > SHOWN {
        let _ = writeln!(out, "    … {} more distinct lines", f.lines.len() - SHOWN);
    }
    wrapped(out, "    ", "cause: ", &f.cause);
    if same_fix_as_above {
        out.push_str("    fix: the same as above\n");
    } else {
        wrapped(out, "    ", "fix: ", &f.fix);
    }
}

fn render_seen(out: &mut String, s: &SeenLine) {
    let _ = writeln!(out, "    {}× {}", s.count, escape(&s.text));
    if let Some(b) = &s.bfd {
        match &b.point {
            Some(p) => {
                wrapped(
                    out,
                    "       ",
                    "where: ",
                    &format!(
                        "binutils {} ({}), {}:{}, in {}() [{}]",
                        b.version, b.package, b.file, b.line, p.function, p.build
                    ),
                );
                wrapped(out, "       ", "means: ", p.meaning);
            }
            None => wrapped(
                out,
                "       ",
                "where: ",
                &format!(
                    "binutils {} ({}), {}:{}: a point dkwrap has no record of (not guessed)",
                    b.version, b.package, b.file, b.line
                ),
            ),
        }
    }
    if let Some(r) = s.group_entry.as_ref().and_then(|g| g.resolved.as_ref()) {
        wrapped(out, "       ", "in this module: ", &r.summary);
    }
}

fn sections(list: &[SectionRef]) -> String {
    let shown: Vec<String> = list
        .iter()
        .take(SHOWN)
        .map(|s| format!("[{}] {}", s.index, s.name))
        .collect();
    format!("{}{}", shown.join(", "), more(list.len()))
}

fn render_module(out: &mut String, m: &ModuleReport) {
    render_verdict(out, m);
    render_layouts(out, m);
    if let Some(c) = &m.cause {
        wrapped(out, "  ", "why: ", c);
    }
    if !m.trials.is_empty() {
        render_trials(out, &m.trials);
    }
    out.push('\n');
}

/// The module's facts, whether GNU strip is safe on it, and why not.
fn render_verdict(out: &mut String, m: &ModuleReport) {
    let mut facts = vec![m.machine.clone()];
    facts.extend(m.compilers.iter().cloned());
    facts.push(format!("{} sections", m.sections));
    facts.push(format!("{} section groups", m.groups.len()));
    if let Some(c) = &m.compression {
        facts.push(format!("{c}-compressed"));
    }
    if m.signed {
        facts.push("signed".into());
    }
    let _ = writeln!(out, "{}: {}", escape(&m.file), escape(&facts.join(", ")));
    if m.gnu_strip_safe {
        wrapped(
            out,
            "  ",
            "GNU strip: ",
            "safe here (no layout it corrupts: each section in at most one group, one relocation \
             section per section, no SHF_GROUP on .data/.rodata/.bss, normal numbering, host \
             architecture)",
        );
    } else {
        out.push_str("  GNU strip: NOT safe on this module:\n");
        for h in &m.hazards {
            wrapped(out, "    - ", "", h);
        }
    }
    if let Some(arch) = &m.foreign_architecture {
        let layouts = !m.shared_members.is_empty()
            || !m.multi_relocated.is_empty()
            || !m.grouped_merged.is_empty();
        wrapped(
            out,
            "  ",
            "",
            &format!(
                "the module is {arch}; this machine's GNU strip reads only {} files and refuses it \
                 (a cross binutils for {arch} would read it{})",
                m.host,
                if layouts {
                    ", and is exposed to the layouts below"
                } else {
                    ""
                }
            ),
        );
    }
}

/// The layouts GNU strip gets wrong, each named by this file's sections and groups.
fn render_layouts(out: &mut String, m: &ModuleReport) {
    let signature = |g: u32| {
        m.groups
            .iter()
            .find(|x| x.index == g)
            .map_or("", |x| x.signature.as_str())
    };
    for s in m.shared_members.iter().take(SHOWN) {
        let groups: Vec<String> = s
            .groups
            .iter()
            .take(SHOWN)
            .map(|&g| format!("[{g}] `{}`", signature(g)))
            .collect();
        let label = format!(
            "[{}] {} is in {} groups: ",
            s.section.index,
            s.section.name,
            s.groups.len()
        );
        let list = format!("{}{}", groups.join(", "), more(s.groups.len()));
        wrapped(out, "  ", &label, &list);
    }
    if m.shared_members.len() > SHOWN {
        let _ = writeln!(
            out,
            "  … {} more sections in several groups",
            m.shared_members.len() - SHOWN
        );
    }
    for r in m.multi_relocated.iter().take(SHOWN) {
        let label = format!(
            "[{}] {} has {} relocation sections: ",
            r.target.index,
            r.target.name,
            r.relocation_sections.len()
        );
        wrapped(out, "  ", &label, &sections(&r.relocation_sections));
    }
    if !m.grouped_merged.is_empty() {
        wrapped(out, "  ", "SHF_GROUP on: ", &sections(&m.grouped_merged));
    }
    if m.extended_numbering {
        out.push_str("  extended section numbering (more than 65279 sections)\n");
    }
}

fn verdict(t: &Trial) -> String {
    match t.verdict {
        Verdict::Equivalent => "equivalent".into(),
        Verdict::NotEquivalent => format!("NOT equivalent ({} findings)", t.differences),
        Verdict::NoOutput => "no output".into(),
        Verdict::NotElf => "output is not ELF".into(),
        Verdict::DidNotRun if t.timed_out => "killed at the time limit".into(),
        Verdict::DidNotRun => "did not run".into(),
    }
}

fn render_trials(out: &mut String, trials: &[Trial]) {
    out.push_str("  each strip tool on a copy (--try), proven:\n");
    let width = trials
        .iter()
        .map(|t| t.tool.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "    {:width$}  {:8}  {:4}  proof",
        "tool", "version", "exit"
    );
    for t in trials {
        let exit = t
            .exit_code
            .map_or_else(|| "-".to_string(), |c| c.to_string());
        let _ = writeln!(
            out,
            "    {:width$}  {:8}  {:4}  {}",
            escape(&t.tool),
            escape(t.version.as_deref().unwrap_or("?")),
            exit,
            verdict(t)
        );
        let pad = format!("    {:width$}  ", "");
        for msg in t.messages.iter().take(2) {
            wrapped(out, &pad, "", &format!("{}× {}", msg.count, msg.text));
        }
        if t.messages.len() > 2 {
            let _ = writeln!(
                out,
                "{pad}… {} more distinct messages",
                t.messages.len() - 2
            );
        }
        for r in t.relocations_differ.iter().take(2) {
            wrapped(out, &pad, "", r);
        }
        if let Some(d) = &t.first_difference {
            let label = if t.verdict == Verdict::NotElf {
                "not ELF: "
            } else {
                "first difference: "
            };
            wrapped(out, &pad, label, d);
        }
    }
}
