//! `dkwrap strip`: arguments to a [`StripRequest`], one line per event on stderr, a record
//! per file for `--json` and `--manifest`, and the run's exit code.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::records::ModuleRecord;
use super::ui::{self, Tally, Ui, Verdict};
use crate::cli::StripArgs;
use crate::error::{Error, Result};
use crate::output::escape;
use crate::strip::{Strategy, StripRecord, StripRequest};

pub fn run(args: &StripArgs, ui: &Ui) -> Result<i32> {
    if args.output.is_some() && args.files.len() > 1 {
        return Err(Error::Usage("-o takes exactly one input file".into()));
    }
    let kernel = super::named_kernel(&args.kernel)?;
    let req = StripRequest {
        strategy: args.strategy.into(),
        allow_unsign: args.allow_unsign,
        output: args.output.clone(),
        fsync_output: args.fsync,
        record_hashes: args.json || args.manifest.is_some(),
        cross_check: false,
    };
    let resign = args.resign.then(|| resign_setup(args, kernel.as_ref()));
    let mut tally = Tally::default();
    let mut records = Vec::new();
    let mut report = |file: &Path, result: Result<StripRecord>| -> Result<()> {
        let record = ModuleRecord::new(file, &result, req.strategy, false);
        let code = match (&result, &record.error) {
            (Err(e), _) => e.exit_code(),
            (Ok(_), Some(e)) => e.code,
            (Ok(_), None) => crate::exit::OK,
        };
        tally.add(code);
        if !args.json {
            print_result(ui, file, &result, req.strategy);
        }
        if let Some(m) = &args.manifest {
            append_manifest(m, &record)?;
        }
        records.push(record);
        Ok(())
    };
    match &resign {
        // Several files: written and proven, flushed together, then each renamed.
        None => crate::strip::strip_files(&args.files, &req, kernel.as_ref(), &mut report)?,
        Some(how) => {
            for file in &args.files {
                report(file, strip_and_resign(ui, file, &req, kernel.as_ref(), how))?;
            }
        }
    }
    if args.json {
        crate::output::print_json(&records)?;
    } else if args.files.len() > 1 && (!ui.quiet || tally.failed > 0) {
        ui.say(&tally.summary(ui, false));
    }
    Ok(tally.code)
}

/// `--resign`: strip, then sign again with the digest of the original signature.
fn strip_and_resign(
    ui: &Ui,
    file: &Path,
    req: &StripRequest,
    kernel: Option<&crate::target::KernelTarget>,
    how: &crate::sign::Resign,
) -> Result<StripRecord> {
    let (record, hash) = crate::sign::strip_and_resign(file, req, kernel, how)?;
    match hash {
        Some(h) => ui.say(&format!(
            "{}: signed again ({h}, {}) and the signature checked",
            ui::path(&record.output),
            ui::path(&how.cert)
        )),
        None => ui.say(&format!(
            "{}: was not signed, so not signed again",
            ui::path(file)
        )),
    }
    Ok(record)
}

/// Where `--resign` finds sign-file, the key and the certificate: the flags, else the
/// kernel build tree's `scripts/sign-file` and dkms's MOK pair.
fn resign_setup(
    args: &StripArgs,
    kernel: Option<&crate::target::KernelTarget>,
) -> crate::sign::Resign {
    let build = kernel.and_then(|k| k.build_dir.clone()).unwrap_or_default();
    crate::sign::Resign {
        sign_file: args
            .sign_file
            .clone()
            .unwrap_or_else(|| build.join("scripts/sign-file")),
        key: args
            .sign_key
            .clone()
            .unwrap_or_else(|| PathBuf::from(crate::sign::DKMS_MOK_KEY)),
        cert: args
            .sign_cert
            .clone()
            .unwrap_or_else(|| PathBuf::from(crate::sign::DKMS_MOK_CERT)),
    }
}

/// What happened to one file, one line per event.
pub fn print_result(ui: &Ui, file: &Path, result: &Result<StripRecord>, asked: Strategy) {
    let name = ui::path(file);
    let r = match result {
        Ok(r) => r,
        Err(e) => {
            ui.error(&e.to_string());
            if let Error::SignedModule { .. } = e {
                ui.hint(&format!("strip it with --allow-unsign, then re-sign it: <kernel build dir>/scripts/sign-file sha512 <signing key> <certificate> {}", file.display()));
            }
            return;
        }
    };
    let record = ModuleRecord::new(file, result, asked, false);
    if ui.quiet && record.ok {
        return;
    }
    for a in r.attempts.iter().filter(|a| !a.accepted) {
        let what = a.strategy.in_words();
        let why = escape(a.reason.as_deref().unwrap_or("rejected"));
        ui.say(&format!("{name}: {what} rejected: {why}"));
    }
    let sizes = format!(
        "{} -> {}",
        ui::human_size(r.size_before),
        ui::human_size(r.size_after)
    );
    let outcome = match r.strategy {
        Strategy::Skip if asked == Strategy::Skip => "left unstripped, as asked".to_string(),
        Strategy::Skip => "left unstripped and intact: no strategy produced a proven output".into(),
        s => format!(
            "stripped with {}, {sizes}, proven",
            tool_words(s, r.tool.as_deref())
        ),
    };
    let verdict = ui.err_word(if record.ok {
        Verdict::Ok
    } else {
        Verdict::Failed
    });
    ui.say(&format!("{name}: {outcome}: {verdict}"));
    for p in &record.problems {
        let word = ui.err_word(Verdict::Error);
        ui.say(&format!("{name}: {word}: {}", escape(p)));
    }
    for w in &record.warnings {
        let word = ui.err_word(Verdict::Warning);
        ui.say(&format!("{name}: {word}: {}", escape(w)));
    }
    if r.signature_dropped {
        ui.say(&format!(
            "{name}: signature dropped; re-sign it with <kernel build dir>/scripts/sign-file"
        ));
    }
}

/// The tool a strategy ran, in words: its file name when it was an external tool.
pub fn tool_words(s: Strategy, tool: Option<&Path>) -> String {
    match tool.and_then(|t| t.file_name()) {
        Some(name) => escape(&name.to_string_lossy()),
        None => s.in_words().to_string(),
    }
}

fn append_manifest(path: &Path, rec: &ModuleRecord) -> Result<()> {
    let line = serde_json::to_string(rec)
        .map_err(|e| Error::Usage(format!("cannot encode manifest record: {e}")))?;
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    writeln!(f, "{line}").map_err(|e| Error::io(path, e))
}
