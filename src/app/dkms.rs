//! `dkwrap dkms install-integration | remove-integration | status`: flag wiring and
//! printing around the [`crate::integration`] stage.

use std::path::{Path, PathBuf};

use crate::cli::{DkmsAction, DkmsArgs, IntegrationArgs};
use crate::error::{exit, Error, Result};

use super::ui::Ui;
use crate::integration::{self, Layout, Outcome};

pub fn run(args: &DkmsArgs, _ui: &Ui) -> Result<i32> {
    match &args.action {
        DkmsAction::InstallIntegration(a) => install(a),
        DkmsAction::RemoveIntegration(a) => remove(a),
        DkmsAction::Status(a) => status(a),
    }
}

fn layout(a: &IntegrationArgs) -> Layout {
    Layout {
        prefix: a.prefix.clone(),
        wrapper: a.wrapper.clone(),
    }
}

/// `--dkms`, else the dkms the installed integration was made for (a diverted
/// `/usr/sbin/dkms.distrib` is on no PATH), else the first dkms on PATH.
fn dkms_path(a: &IntegrationArgs, layout: &Layout) -> Option<PathBuf> {
    let installed_for = || {
        integration::load_state(layout)
            .ok()
            .flatten()
            .map(|s| s.dkms)
            .filter(|d| d.is_file())
    };
    a.dkms
        .clone()
        .or_else(installed_for)
        .or_else(|| integration::find_dkms(layout))
}

/// The dkwrap binary the shim links point at (the running one, links resolved).
fn dkwrap_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| Error::io("/proc/self/exe", e))?;
    Ok(std::fs::canonicalize(&exe).unwrap_or(exe))
}

fn install(a: &IntegrationArgs) -> Result<i32> {
    let layout = layout(a);
    let dkms = dkms_path(a, &layout).ok_or_else(|| {
        Error::IntegrationRefused(
            "no dkms found on PATH (pass --dkms PATH): nothing installed".into(),
        )
    })?;
    // The wrapper execs the real dkms by this path, from any directory.
    let dkms = std::path::absolute(&dkms).map_err(|e| Error::io(&dkms, e))?;
    let version = integration::detect_dkms_version(&dkms)?;
    let plan = integration::plan(&layout, &dkms, version, &dkwrap_binary()?)?;
    let out = integration::install(&layout, &plan)?;
    print_outcome(&out);
    let verb = if out.changed() {
        "installed"
    } else {
        "already installed"
    };
    println!(
        "dkwrap: dkms integration {verb}: dkms {version} ({}), {}; shim {}",
        esc(&dkms),
        plan.mode.name(),
        esc(&layout.shim_dir())
    );
    if let Some(owner) = &plan.post_transaction_owner {
        println!(
            "dkwrap: {} sets post_transaction already: left alone, so dkms runs no dkwrap check after its transactions (run `{}` yourself)",
            esc(owner),
            esc(&layout.post_transaction())
        );
    }
    Ok(exit::OK)
}

fn remove(a: &IntegrationArgs) -> Result<i32> {
    let layout = layout(a);
    let out = integration::remove(&layout)?;
    print_outcome(&out);
    if out.removed.is_empty() && out.kept_modified.is_empty() {
        println!("dkwrap: no dkms integration installed; nothing to remove");
    } else {
        println!("dkwrap: dkms integration removed");
    }
    Ok(exit::OK)
}

fn status(a: &IntegrationArgs) -> Result<i32> {
    let layout = layout(a);
    let dkms = dkms_path(a, &layout);
    let s = integration::status(&layout, dkms.as_deref())?;
    match (&s.dkms, s.dkms_version) {
        (Some(d), Some(v)) => println!("dkms: {} {v}", esc(d)),
        (Some(d), None) => println!("dkms: {} (version unknown)", esc(d)),
        (None, _) => println!("dkms: not found"),
    }
    if let Some(m) = s.needed {
        println!("needs: {}", m.name());
    }
    match &s.installed {
        Some(st) => println!("installed: {} for dkms {}", st.mode.name(), st.dkms_version),
        None => println!("installed: no"),
    }
    for (p, st) in &s.files {
        println!("  {:<9} {}", format!("{st:?}").to_lowercase(), esc(p));
    }
    if let Some(check) = &s.post_transaction {
        println!("after each transaction: {}", crate::output::escape(check));
    }
    for p in &s.problems {
        println!("problem: {}", crate::output::escape(p));
    }
    println!("active: {}", if s.active { "yes" } else { "no" });
    Ok(if s.active {
        exit::OK
    } else {
        exit::PROBLEMS_FOUND
    })
}

fn esc(p: &Path) -> String {
    crate::output::escape(&p.display().to_string())
}

fn print_outcome(out: &Outcome) {
    for (what, list) in [
        ("created", &out.created),
        ("replaced", &out.replaced),
        ("unchanged", &out.unchanged),
        ("removed", &out.removed),
    ] {
        for p in list {
            println!("  {what:<9} {}", esc(p));
        }
    }
    for p in &out.kept_modified {
        eprintln!(
            "dkwrap: {} was changed since dkwrap wrote it: left as it is (remove it yourself if it is not needed)",
            esc(p)
        );
    }
}
