use super::*;

fn v(major: u32, minor: u32, patch: u32) -> DkmsVersion {
    DkmsVersion {
        major,
        minor,
        patch,
    }
}

/// The plan for dkms VERSION at /usr/sbin/dkms, with dkwrap at /usr/bin/dkwrap.
fn plan_for(layout: &Layout, version: DkmsVersion) -> Plan {
    plan(
        layout,
        Path::new("/usr/sbin/dkms"),
        version,
        Path::new("/usr/bin/dkwrap"),
    )
    .unwrap()
}

/// A prefix shaped like a system with dkms installed (`etc/dkms/framework.conf`).
fn system() -> (tempfile::TempDir, Layout) {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("etc/dkms/framework.conf.d")).unwrap();
    fs::write(
        dir.path().join("etc/dkms/framework.conf"),
        "# sign_tool=\"/etc/dkms/sign_helper.sh\"\n",
    )
    .unwrap();
    let layout = Layout {
        prefix: dir.path().to_path_buf(),
        wrapper: None,
    };
    (dir, layout)
}

/// Every file and link under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
                out.push(format!("{rel}/"));
            } else {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn versions_and_modes() {
    assert_eq!(parse_dkms_version("dkms-3.0.10\n"), Some(v(3, 0, 10)));
    assert_eq!(parse_dkms_version("dkms 3.4.3"), Some(v(3, 4, 3)));
    assert_eq!(parse_dkms_version("dkms-3.1"), Some(v(3, 1, 0)));
    assert_eq!(parse_dkms_version("dkms"), None);
    assert_eq!(mode_for(v(3, 0, 10)).unwrap(), Mode::DkmsWrapper);
    assert_eq!(mode_for(v(3, 2, 1)).unwrap(), Mode::DkmsWrapper);
    assert_eq!(mode_for(v(3, 3, 0)).unwrap(), Mode::FrameworkDropIn);
    assert_eq!(mode_for(v(3, 4, 3)).unwrap(), Mode::FrameworkDropIn);
    let e = mode_for(v(2, 8, 7)).unwrap_err();
    assert_eq!(e.exit_code(), crate::exit::INTEGRATION_REFUSED);
}

#[test]
fn drop_in_install_is_idempotent_and_removal_leaves_nothing() {
    let (dir, layout) = system();
    let before = tree(dir.path());
    let p = plan_for(&layout, v(3, 4, 3));
    let first = install(&layout, &p).unwrap();
    assert_eq!(first.created.len(), 6, "{first:?}");
    let drop_in = fs::read_to_string(layout.drop_in()).unwrap();
    assert!(drop_in.contains(&format!(
        "build_environment=\"{}\"",
        layout.build_environment().display()
    )));
    let env = fs::read_to_string(layout.build_environment()).unwrap();
    assert!(env.contains(&format!("PATH='{}':\"$PATH\"", layout.shim_dir().display())));
    assert_eq!(
        fs::read_link(layout.shim_dir().join("make")).unwrap(),
        PathBuf::from("/usr/bin/dkwrap")
    );
    let state_bytes = fs::read(layout.state()).unwrap();
    let after_first = tree(dir.path());

    let second = install(&layout, &p).unwrap();
    assert!(!second.changed(), "{second:?}");
    assert_eq!(second.unchanged.len(), 6);
    assert_eq!(tree(dir.path()), after_first);
    assert_eq!(fs::read(layout.state()).unwrap(), state_bytes);

    let removed = remove(&layout).unwrap();
    assert!(removed.kept_modified.is_empty());
    assert_eq!(
        tree(dir.path()),
        before,
        "removal must leave the tree as it was"
    );
}

#[test]
fn wrapper_for_old_dkms_runs_the_real_one_with_the_shim_first() {
    let (dir, layout) = system();
    let p = plan_for(&layout, v(3, 0, 10));
    assert_eq!(p.mode, Mode::DkmsWrapper);
    install(&layout, &p).unwrap();
    let w = fs::read_to_string(layout.wrapper()).unwrap();
    assert!(w.starts_with("#!/bin/sh\n"));
    assert!(w.contains("exec '/usr/sbin/dkms' \"$@\""), "{w}");
    assert!(w.contains(&format!("shim='{}'", layout.shim_dir().display())));
    let mode = fs::metadata(layout.wrapper()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    assert!(!layout.drop_in().exists());
    remove(&layout).unwrap();
    assert!(!dir.path().join("usr").exists(), "{:?}", tree(dir.path()));
}

#[test]
fn a_users_file_is_never_overwritten_and_nothing_is_written() {
    let (dir, layout) = system();
    fs::create_dir_all(layout.wrapper().parent().unwrap()).unwrap();
    fs::write(layout.wrapper(), "#!/bin/sh\n# the user's own\n").unwrap();
    let before = tree(dir.path());
    let p = plan_for(&layout, v(3, 0, 10));
    let e = install(&layout, &p).unwrap_err();
    assert_eq!(e.exit_code(), crate::exit::INTEGRATION_REFUSED);
    assert!(e.to_string().contains("not written by dkwrap"), "{e}");
    assert_eq!(tree(dir.path()), before);
    assert_eq!(
        fs::read_to_string(layout.wrapper()).unwrap(),
        "#!/bin/sh\n# the user's own\n"
    );
}

#[test]
fn another_build_environment_or_no_etc_dkms_is_refused() {
    let (_dir, layout) = system();
    fs::write(
        layout.dkms_etc().join("framework.conf.d/site.conf"),
        "build_environment=/etc/site-env\n",
    )
    .unwrap();
    let e = plan(
        &layout,
        Path::new("/usr/sbin/dkms"),
        v(3, 4, 3),
        Path::new("/usr/bin/dkwrap"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("site.conf"), "{e}");
    let bare = tempfile::tempdir().unwrap();
    let e = plan(
        &Layout {
            prefix: bare.path().to_path_buf(),
            wrapper: None,
        },
        Path::new("/usr/sbin/dkms"),
        v(3, 4, 3),
        Path::new("/usr/bin/dkwrap"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown dkms layout"), "{e}");
}

#[test]
fn a_dkms_upgrade_switches_the_mode_and_a_changed_file_is_kept_on_removal() {
    let (_dir, layout) = system();
    let dkwrap = Path::new("/usr/bin/dkwrap");
    let old = plan(&layout, Path::new("/usr/sbin/dkms"), v(3, 0, 10), dkwrap).unwrap();
    install(&layout, &old).unwrap();
    let new = plan(&layout, Path::new("/usr/sbin/dkms"), v(3, 4, 3), dkwrap).unwrap();
    let out = install(&layout, &new).unwrap();
    assert_eq!(out.removed, vec![layout.wrapper()]);
    assert!(layout.drop_in().is_file());
    // The user edits the build environment: removal keeps it and says so.
    fs::write(layout.build_environment(), "PATH=/mine:$PATH\n").unwrap();
    let out = remove(&layout).unwrap();
    assert_eq!(out.kept_modified, vec![layout.build_environment()]);
    assert!(layout.build_environment().is_file());
    assert!(!layout.drop_in().exists());
    assert!(!layout.state().exists());
}

#[test]
fn the_drop_in_runs_the_post_transaction_check_for_the_transactions_kernels() {
    let (_dir, layout) = system();
    let p = plan_for(&layout, v(3, 4, 3));
    assert_eq!(p.post_transaction_owner, None);
    install(&layout, &p).unwrap();
    let drop_in = fs::read_to_string(layout.drop_in()).unwrap();
    let line = format!(
        "post_transaction=\"'{}' ${{kernelver[@]}}\"\n",
        layout.post_transaction().display()
    );
    assert!(drop_in.contains(&line), "{drop_in}");
    let check = fs::read_to_string(layout.post_transaction()).unwrap();
    assert!(check.starts_with("#!/bin/sh\n"));
    assert!(
        check.contains("'/usr/bin/dkwrap' verify --installed --out-of-tree --kernel \"$kernel\""),
        "{check}"
    );
    let mode = fs::metadata(layout.post_transaction())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    let s = status(&layout, None).unwrap();
    assert!(s
        .post_transaction
        .unwrap()
        .contains("post_transaction (drop-in)"));
}

#[test]
fn a_users_post_transaction_is_left_alone_and_status_says_so() {
    let (_dir, layout) = system();
    let site = layout.dkms_etc().join("framework.conf.d/initramfs.conf");
    fs::write(
        &site,
        "post_transaction=\"update-initramfs -k $kernelver\"\n",
    )
    .unwrap();
    let dkwrap = Path::new("/usr/bin/dkwrap");
    let p = plan(&layout, Path::new("/usr/sbin/dkms"), v(3, 4, 3), dkwrap).unwrap();
    assert_eq!(p.post_transaction_owner.as_deref(), Some(site.as_path()));
    install(&layout, &p).unwrap();
    let drop_in = fs::read_to_string(layout.drop_in()).unwrap();
    assert!(!drop_in.contains("post_transaction="), "{drop_in}");
    assert!(drop_in.contains("build_environment="), "{drop_in}");
    let mut problems = Vec::new();
    let said = post_transaction_status(&layout, Mode::FrameworkDropIn, &mut problems);
    assert!(
        said.contains("initramfs.conf sets post_transaction"),
        "{said}"
    );
    assert!(problems.is_empty(), "{problems:?}");
    // The user's file goes away: status asks for a new install, which adds the line.
    fs::remove_file(&site).unwrap();
    let said = post_transaction_status(&layout, Mode::FrameworkDropIn, &mut problems);
    assert_eq!(said, "none");
    assert_eq!(problems.len(), 1, "{problems:?}");
    let p = plan(&layout, Path::new("/usr/sbin/dkms"), v(3, 4, 3), dkwrap).unwrap();
    let out = install(&layout, &p).unwrap();
    assert_eq!(out.replaced, vec![layout.drop_in()]);
    assert!(fs::read_to_string(layout.drop_in())
        .unwrap()
        .contains("post_transaction="));
}

/// Runs the installed wrapper with `sh`; the real dkms is a stand-in script (a real dkms
/// would need a module package and a kernel) that exits with `$DKMS_STATUS`.
fn run_wrapper(layout: &Layout, args: &[&str], dkms_status: u8) -> (i32, String) {
    let out = std::process::Command::new("sh")
        .arg(layout.wrapper())
        .args(args)
        .env("DKMS_STATUS", dkms_status.to_string())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_wrapper_checks_the_kernels_of_a_successful_install_or_autoinstall() {
    let (dir, layout) = system();
    let stand_in = dir.path().join("stand-in-dkms");
    fs::write(
        &stand_in,
        "#!/bin/sh\necho \"dkms $*\"\nexit $DKMS_STATUS\n",
    )
    .unwrap();
    fs::set_permissions(&stand_in, fs::Permissions::from_mode(0o755)).unwrap();
    // (the shim's links must point at something executable: the stand-in again)
    let p = plan(&layout, &stand_in, v(3, 0, 10), &stand_in).unwrap();
    install(&layout, &p).unwrap();
    // Kernels that are not installed here: the check names each and verifies nothing.
    let (rc, out) = run_wrapper(
        &layout,
        &[
            "install",
            "-m",
            "k",
            "-v",
            "1",
            "-k",
            "0.0-a/x86_64",
            "--kernelver=0.0-b",
        ],
        0,
    );
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("/lib/modules/0.0-a does not exist"), "{out}");
    assert!(out.contains("/lib/modules/0.0-b does not exist"), "{out}");
    let (rc, out) = run_wrapper(&layout, &["autoinstall", "--kernelver", "0.0-c"], 0);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("nothing to check for 0.0-c"), "{out}");
    // A failed install is not checked, and its status is kept; other actions never are.
    let (rc, out) = run_wrapper(&layout, &["install", "-k", "0.0-a"], 3);
    assert_eq!(rc, 3, "{out}");
    assert!(!out.contains("post-transaction"), "{out}");
    let (rc, out) = run_wrapper(&layout, &["build", "-m", "install", "-k", "0.0-a"], 0);
    assert_eq!(rc, 0, "{out}");
    assert!(!out.contains("post-transaction"), "{out}");
    assert!(out.contains("dkms build -m install -k 0.0-a"), "{out}");
}
