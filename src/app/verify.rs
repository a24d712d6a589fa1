//! `dkwrap verify`: arguments to [`Expectations`], the reports printed (stdout) or as JSON
//! records, and the run's exit code by the one policy.

use serde::Serialize;

use super::records::ErrorRecord;
use super::ui::{self, Tally, Ui, Verdict};
use crate::cli::VerifyArgs;
use crate::error::{exit, Result};
use crate::finding::{Category, Finding, Severity};
use crate::modfile::ModuleFile;
use crate::output::escape;
use crate::verify::{Expectations, Report};

/// One file's `--json` record: the report, whether it passed, and why not.
#[derive(Debug, Serialize)]
struct VerifyRecord {
    ok: bool,
    error: Option<ErrorRecord>,
    #[serde(flatten)]
    report: Report,
    /// With `--boot`: what the test kernel said when loading this module.
    boot: Option<crate::boot::console::ModuleBoot>,
}

pub fn run(args: &VerifyArgs, ui: &Ui) -> Result<i32> {
    let kernel = super::named_kernel(&args.kernel)?;
    let this_module_size = match &args.reference {
        Some(r) => {
            let m = ModuleFile::open(r)?;
            let e = m.elf()?;
            let this = e.section_by_name(".gnu.linkonce.this_module");
            this.map(|s| s.size)
        }
        None => args.this_module_size,
    };
    let expect = Expectations {
        kernel: kernel.as_ref(),
        release: None,
        this_module_size,
    };
    let mut tally = Tally::default();
    let mut records = Vec::new();
    for file in &args.files {
        let verified = crate::verify::verify_file(file, &expect, args.against.as_deref())
            .and_then(|r| with_signature_check(r, args.cert.as_deref()));
        let (report, error) = match verified {
            Ok(r) => {
                let code = code_of_findings(&r.findings);
                let first = r.errors().next().map(|f| f.message.clone());
                let error = first.map(|message| ErrorRecord { code, message });
                (r, error)
            }
            Err(e) => {
                if !args.json {
                    ui.error(&e.to_string());
                }
                (Report::new(file), Some(ErrorRecord::from_error(&e)))
            }
        };
        tally.add(error.as_ref().map_or(exit::OK, |e| e.code));
        if !args.json && error.as_ref().is_none_or(|e| e.code != exit::UNREADABLE) {
            print_report(ui, &report);
        }
        records.push(VerifyRecord {
            ok: error.is_none(),
            error,
            report,
            boot: None,
        });
    }
    if let Some(boot) = super::boot::run(&args.boot, &args.files)? {
        let code = super::boot::code(&boot);
        tally.code = exit::most_severe(tally.code, code);
        for r in records.iter_mut() {
            let name = crate::boot::module_name(&r.report.file);
            let verdict = boot.modules.iter().find(|m| Some(&m.name) == name.as_ref());
            r.boot = verdict.cloned();
            if code != exit::OK && r.ok && r.boot.as_ref().is_some_and(|b| !b.outcome.loaded()) {
                r.ok = false;
                r.error = Some(ErrorRecord {
                    code,
                    message: "the test kernel did not load it".into(),
                });
            }
        }
        if !args.json {
            super::boot::print(ui, &boot);
        }
    }
    if args.json {
        crate::output::print_json(&records)?;
    } else if args.files.len() > 1 && (!ui.quiet || tally.failed > 0) {
        println!("{}", tally.summary(ui, true));
    }
    Ok(tally.code)
}

/// `--cert`: the appended signature checked with openssl (see [`crate::sign`]).
fn with_signature_check(mut report: Report, cert: Option<&std::path::Path>) -> Result<Report> {
    let Some(cert) = cert else {
        return Ok(report);
    };
    let (severity, message) = match crate::sign::check_signature(&report.file, cert)? {
        crate::sign::SignatureVerdict::Valid => (
            Severity::Note,
            format!("signature valid with {}", cert.display()),
        ),
        crate::sign::SignatureVerdict::Unsigned => (
            Severity::Error,
            format!("not signed (--cert {} asks for a signature)", cert.display()),
        ),
        crate::sign::SignatureVerdict::Invalid(why) => (
            Severity::Error,
            format!(
                "signature does not verify with {}: the module's bytes are not the ones that were signed (signed before it was stripped?): {why}",
                cert.display()
            ),
        ),
    };
    report.findings.push(Finding {
        severity,
        category: Category::Invalid,
        section: None,
        offset: None,
        message,
    });
    Ok(report)
}

/// The exit code findings give: the most specific error category wins, in the order
/// not-equivalent, invalid, kernel mismatch.
pub fn code_of_findings(findings: &[Finding]) -> i32 {
    let has = |c: Category| findings.iter().any(|f| f.is_error() && f.category == c);
    if has(Category::NotEquivalent) {
        exit::NOT_EQUIVALENT
    } else if has(Category::Invalid) || has(Category::ParserDisagreement) {
        exit::INVALID_MODULE
    } else if has(Category::KernelMismatch) {
        exit::KERNEL_MISMATCH
    } else {
        exit::OK
    }
}

/// One line per finding, then the verdict line; with `-q` only a failing file's errors.
fn print_report(ui: &Ui, r: &Report) {
    let file = ui::path(&r.file);
    let passed = r.passed();
    if ui.quiet && passed {
        return;
    }
    for f in &r.findings {
        if ui.quiet && !f.is_error() {
            continue;
        }
        println!("{file}: {}", finding_line(ui, f));
    }
    let what = if r.against.is_some() {
        "module and equivalence proof"
    } else {
        "module"
    };
    let verdict = ui.out_word(if passed { Verdict::Ok } else { Verdict::Failed });
    let signed = if r.signed { "signed" } else { "unsigned" };
    let machine = r
        .machine
        .as_deref()
        .map(|m| format!(", {m}"))
        .unwrap_or_default();
    println!(
        "{file}: {verdict} ({what}; {}, {}, {signed}{machine})",
        ui::plural(r.count(Severity::Error), "error"),
        ui::plural(r.count(Severity::Warning), "warning"),
    );
}

/// `error: section [5] .data, offset 0x40: message`.
pub fn finding_line(ui: &Ui, f: &Finding) -> String {
    let word = match f.severity {
        Severity::Error => Verdict::Error,
        Severity::Warning => Verdict::Warning,
        Severity::Note => Verdict::Note,
    };
    let mut place = Vec::new();
    if let Some(s) = &f.section {
        place.push(format!("section {}", escape(s)));
    }
    if let Some(o) = f.offset {
        place.push(format!("offset {o:#x}"));
    }
    let place = if place.is_empty() {
        String::new()
    } else {
        format!("{}: ", place.join(", "))
    };
    format!("{}: {place}{}", ui.out_word(word), escape(&f.message))
}
