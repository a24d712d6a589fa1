//! `dkwrap verify`: arguments to [`Expectations`], the reports printed (stdout) or as JSON
//! records, and the run's exit code by the one policy.

use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use super::records::ErrorRecord;
use super::ui::{self, Tally, Ui, Verdict};
use crate::cli::VerifyArgs;
use crate::error::{exit, Error, Result};
use crate::fasthash::{FastHasher, FastMap};
use crate::finding::{Category, Finding, Severity};
use crate::modfile::ModuleFile;
use crate::output::escape;
use crate::symvers::{self, Export, SymbolIndex};
use crate::target::KernelTarget;
use crate::verify::{discover, symbols, Expectations, Report};

/// One file's `--json` record: the report, whether it passed, and why not.
#[derive(Debug, Serialize)]
struct VerifyRecord {
    ok: bool,
    error: Option<ErrorRecord>,
    /// The kernel release the module was checked for (`null`: none named).
    kernel_release: Option<String>,
    /// Whether its undefined symbols were resolved against a Module.symvers.
    symbols_checked: bool,
    /// What could not be checked, and why (no configuration for the kernel, no Module.symvers).
    skipped: Vec<String>,
    #[serde(flatten)]
    report: Report,
    /// With `--boot`: what the test kernel said when loading this module.
    boot: Option<crate::boot::console::ModuleBoot>,
}

/// One set of modules checked together against one kernel.
struct ModuleSet {
    files: Vec<PathBuf>,
    kernel: Option<KernelTarget>,
    release: Option<String>,
    build_dir: Option<PathBuf>,
    skipped: Vec<String>,
    /// Only failures and a summary (directories, installed kernels).
    bulk: bool,
}

pub fn run(args: &VerifyArgs, ui: &Ui) -> Result<i32> {
    let this_module_size = match &args.reference {
        Some(r) => {
            let m = ModuleFile::open(r)?;
            let e = m.elf()?;
            let this = e.section_by_name(".gnu.linkonce.this_module");
            this.map(|s| s.size)
        }
        None => args.this_module_size,
    };
    let sets = if args.installed {
        installed_sets(args)?
    } else {
        vec![named_set(args)?]
    };
    let mut tally = Tally::default();
    let mut records = Vec::new();
    for set in &sets {
        if !args.json {
            for s in &set.skipped {
                ui.hint(s);
            }
        }
        check_set(args, ui, set, this_module_size, &mut tally, &mut records)?;
    }
    let boot_sets: Vec<super::boot::BootSet> = sets
        .iter()
        .map(|s| super::boot::BootSet {
            release: s.release.as_deref(),
            files: &s.files,
        })
        .collect();
    let (boots, notes) =
        super::boot::requests(&args.boot, &args.kernel.root, args.installed, &boot_sets)?;
    if !args.json {
        for n in &notes {
            ui.hint(n);
        }
    }
    for req in &boots {
        let boot = crate::boot::boot(req)?;
        let code = super::boot::code(&boot);
        tally.code = exit::most_severe(tally.code, code);
        for r in records
            .iter_mut()
            .filter(|r| req.modules.contains(&r.report.file))
        {
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
    } else if (tally.ok + tally.failed > 1 || sets.iter().any(|s| s.bulk))
        && (!ui.quiet || tally.failed > 0)
    {
        println!("{}", tally.summary(ui, true));
    }
    Ok(tally.code)
}

/// The files and directories named on the command line, for the kernel named (if any).
fn named_set(args: &VerifyArgs) -> Result<ModuleSet> {
    let mut files = Vec::new();
    let mut bulk = false;
    for f in &args.files {
        if f.is_dir() {
            bulk = true;
            let found = discover::modules_under(f)?;
            if found.is_empty() {
                return Err(Error::Unreadable {
                    path: f.clone(),
                    reason:
                        "no kernel modules (*.ko, *.ko.gz, *.ko.xz, *.ko.zst) under this directory"
                            .into(),
                });
            }
            files.extend(found);
        } else {
            files.push(f.clone());
        }
    }
    let k = &args.kernel;
    let (kernel, release, mut skipped) = kernel_or_release(k)?;
    let build_dir = kernel
        .as_ref()
        .and_then(|t| t.build_dir.clone())
        .or_else(|| k.given().then(|| k.selector().build_dir()).flatten())
        .map(|b| discover::resolve_in_root(&k.root, &b));
    if k.given() && build_dir.as_deref().and_then(symvers::symvers_in).is_none() {
        skipped.push(no_symvers(build_dir.as_deref()));
    }
    Ok(ModuleSet {
        files,
        kernel,
        release,
        build_dir,
        skipped,
        bulk,
    })
}

/// `--kernel K` whose configuration is missing still names a release: check that much and
/// say what was skipped, instead of failing the run.
fn kernel_or_release(
    k: &crate::cli::KernelArgs,
) -> Result<(Option<KernelTarget>, Option<String>, Vec<String>)> {
    match super::named_kernel(k) {
        Ok(t) => Ok((t, None, Vec::new())),
        Err(e @ (Error::NoKernelConfig(_) | Error::BadKernelConfig { .. })) => {
            let Some(release) = k.kernel.clone() else {
                return Err(e);
            };
            let why = format!("{e}: checked the release {release} only; skipped vermagic flags, architecture, CONFIG_MODVERSIONS, BTF and signature policy");
            Ok((None, Some(release), vec![why]))
        }
        Err(e) => Err(e),
    }
}

fn no_symvers(build_dir: Option<&Path>) -> String {
    match build_dir {
        Some(b) => format!(
            "no Module.symvers in {}: undefined symbols not resolved",
            b.display()
        ),
        None => "no kernel build tree: undefined symbols not resolved".into(),
    }
}

/// `--installed`: one set per kernel in /lib/modules (under --root), each with its own
/// configuration and Module.symvers.
fn installed_sets(args: &VerifyArgs) -> Result<Vec<ModuleSet>> {
    let k = &args.kernel;
    let kernels = if args.all_kernels {
        discover::installed_kernels(&k.root)?
    } else if let Some(release) = &k.kernel {
        vec![release.clone()]
    } else {
        let running = k.selector().running_release().ok_or_else(|| {
            Error::Usage("the running kernel's release is unknown: name one with --kernel".into())
        })?;
        vec![running]
    };
    let mut sets = Vec::new();
    for release in kernels {
        let one = crate::cli::KernelArgs {
            kernel: Some(release.clone()),
            kernel_dir: None,
            config: None,
            root: k.root.clone(),
        };
        let dir = k.root.join("lib/modules").join(&release);
        let files = discover::installed_modules(&dir, args.out_of_tree)?;
        let (kernel, only_release, mut skipped) = kernel_or_release(&one)?;
        let build_dir = one
            .selector()
            .build_dir()
            .map(|b| discover::resolve_in_root(&k.root, &b));
        if build_dir.as_deref().and_then(symvers::symvers_in).is_none() {
            skipped.push(no_symvers(build_dir.as_deref()));
        }
        sets.push(ModuleSet {
            files,
            kernel,
            release: only_release.or(Some(release)),
            build_dir,
            skipped,
            bulk: true,
        });
    }
    Ok(sets)
}

/// What one module of a set offers the others, read on the same pass as its checks.
#[derive(Default)]
struct Offered {
    exports: Vec<(String, Export)>,
    /// Hashes of the names it imports.
    imports: Vec<u64>,
}

fn name_hash(name: &[u8]) -> u64 {
    let mut h = FastHasher::default();
    h.write(name);
    h.finish()
}

fn check_set(
    args: &VerifyArgs,
    ui: &Ui,
    set: &ModuleSet,
    this_module_size: Option<u64>,
    tally: &mut Tally,
    records: &mut Vec<VerifyRecord>,
) -> Result<()> {
    let base = match set.build_dir.as_deref().and_then(symvers::symvers_in) {
        Some(path) => Some(SymbolIndex::read(&path)?),
        None => None,
    };
    let against = args.against.as_deref();
    let expect = Expectations {
        kernel: set.kernel.as_ref(),
        release: set.release.as_deref(),
        this_module_size,
        symbols: base.as_ref(),
    };
    let collect = base.is_some();
    let (mut results, offered): (Vec<_>, Vec<_>) = parallel_map(&set.files, |file| {
        let mut offered = Offered::default();
        let report = crate::verify::verify_file_with(file, &expect, against, |elf| {
            if collect {
                let owner = file.file_name().map(|n| n.to_string_lossy().into_owned());
                offered.exports = symbols::module_exports(elf, &owner.unwrap_or_default());
                symbols::for_each_undefined(elf, |n| offered.imports.push(name_hash(n)));
            }
        });
        (report, offered)
    })
    .into_iter()
    .unzip();
    if let Some(index) = base {
        recheck_with_set_exports(set, index, offered, &mut results, against, this_module_size);
    }
    let results = results
        .into_iter()
        .map(|r| r.and_then(|r| with_signature_check(r, args.cert.as_deref())))
        .collect();
    report_set(args, ui, set, results, tally, records);
    Ok(())
}

/// `--cert`: the appended signature checked with openssl (see [`crate::sign`]).
fn with_signature_check(mut report: Report, cert: Option<&Path>) -> Result<Report> {
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

/// Exports of the set that Module.symvers does not have, or has otherwise: the modules
/// importing one of them are checked again against Module.symvers plus the set's exports.
fn recheck_with_set_exports(
    set: &ModuleSet,
    mut index: SymbolIndex,
    offered: Vec<Offered>,
    results: &mut [Result<Report>],
    against: Option<&Path>,
    this_module_size: Option<u64>,
) {
    let mut changed: FastMap<u64, ()> = FastMap::default();
    for (name, export) in offered.iter().flat_map(|o| o.exports.iter()) {
        let same = index.get(name).is_some_and(|e| {
            (e.crc, e.gpl_only, &e.namespace) == (export.crc, export.gpl_only, &export.namespace)
        });
        if !same {
            changed.insert(name_hash(name.as_bytes()), ());
            index.insert(name, export.clone());
        }
    }
    let again: Vec<usize> = (0..set.files.len())
        .filter(|&i| offered[i].imports.iter().any(|h| changed.contains_key(h)))
        .collect();
    if again.is_empty() {
        return;
    }
    let expect = Expectations {
        kernel: set.kernel.as_ref(),
        release: set.release.as_deref(),
        this_module_size,
        symbols: Some(&index),
    };
    let files: Vec<PathBuf> = again.iter().map(|&i| set.files[i].clone()).collect();
    let redone = parallel_map(&files, |file| {
        crate::verify::verify_file(file, &expect, against)
    });
    for (i, r) in again.into_iter().zip(redone) {
        results[i] = r;
    }
}

fn report_set(
    args: &VerifyArgs,
    ui: &Ui,
    set: &ModuleSet,
    results: Vec<Result<Report>>,
    tally: &mut Tally,
    records: &mut Vec<VerifyRecord>,
) {
    let symbols_checked = set
        .build_dir
        .as_deref()
        .and_then(symvers::symvers_in)
        .is_some();
    let release = set
        .kernel
        .as_ref()
        .and_then(|k| k.release.clone())
        .or_else(|| set.release.clone());
    for (file, result) in set.files.iter().zip(results) {
        let (report, error) = match result {
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
        let readable = error.as_ref().is_none_or(|e| e.code != exit::UNREADABLE);
        if !args.json && readable && (!set.bulk || error.is_some()) {
            print_report(ui, &report);
        }
        if args.json {
            records.push(VerifyRecord {
                ok: error.is_none(),
                error,
                kernel_release: release.clone(),
                symbols_checked,
                skipped: set.skipped.clone(),
                report,
                boot: None,
            });
        }
    }
}

/// `f` over every file on all CPUs, results in the files' order. Each worker holds one
/// module at a time, so memory stays bounded by the number of workers.
fn parallel_map<T: Send>(files: &[PathBuf], f: impl Fn(&Path) -> T + Sync) -> Vec<T> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len());
    if workers <= 1 {
        return files.iter().map(|p| f(p)).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<T>>> = Mutex::new((0..files.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(file) = files.get(i) else { break };
                let value = f(file);
                if let Ok(mut s) = slots.lock() {
                    s[i] = Some(value);
                }
            });
        }
    });
    slots
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
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
