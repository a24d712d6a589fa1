//! `dkwrap --version`, `dkwrap completions` and the hidden `dkwrap man`, through the real
//! binary; the bash completion is exercised in a real bash with `compgen`.

use std::process::Command;

use clap::CommandFactory;

use crate::common::{code, dkwrap, run};

fn stdout(args: &[&str]) -> String {
    let out = run(dkwrap().args(args));
    assert_eq!(
        code(&out),
        0,
        "dkwrap {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn version_names_the_git_revision() {
    let line = stdout(&["--version"]);
    let re = regex::Regex::new(r"^dkwrap \d+\.\d+\.\d+ \(git [^)\s]+\)\n$").expect("regex");
    assert!(re.is_match(&line), "{line:?}");
    assert!(line.contains(env!("CARGO_PKG_VERSION")), "{line:?}");
}

/// What bash offers after `dkwrap WORDS... CUR`, from the generated script, in a real bash.
fn bash_complete(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let cur = words.last().copied().unwrap_or("");
    let prev = if words.len() >= 2 {
        words[words.len() - 2]
    } else {
        "dkwrap"
    };
    // The command line as typed, with a trailing blank when the word being completed is empty.
    let line = format!("dkwrap {}", words.join(" "));
    let program = r#"
        source "$1"
        complete -p dkwrap >/dev/null || exit 3
        read -r -a COMP_WORDS <<<"$2"
        [[ $2 == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE=$2 COMP_POINT=${#2}
        _dkwrap dkwrap "$3" "$4"
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let out = Command::new("bash")
        .args(["-c", program, "bash"])
        .arg(script)
        .args([line.as_str(), cur, prev])
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut words: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    words.sort();
    words
}

#[test]
fn bash_completes_subcommands_and_strategies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("dkwrap.bash");
    std::fs::write(&script, stdout(&["completions", "bash"])).expect("write");

    let subcommands = bash_complete(&script, &[""]);
    for sub in ["detect", "strip", "verify", "make", "doctor", "completions"] {
        assert!(
            subcommands.iter().any(|w| w == sub),
            "{sub} in {subcommands:?}"
        );
    }
    assert!(
        !subcommands.iter().any(|w| w == "man"),
        "hidden `man` offered: {subcommands:?}"
    );
    assert_eq!(bash_complete(&script, &["ver"]), ["verify"]);
    assert_eq!(
        bash_complete(&script, &["strip", "--strategy", ""]),
        ["auto", "gnu", "llvm", "native", "skip"]
    );
    assert_eq!(
        bash_complete(&script, &["make", "--strategy", "n"]),
        ["native"]
    );
    assert_eq!(bash_complete(&script, &["completions", "f"]), ["fish"]);
}

#[test]
fn zsh_and_fish_scripts_name_the_command() {
    assert!(stdout(&["completions", "zsh"]).starts_with("#compdef dkwrap"));
    assert!(stdout(&["completions", "fish"]).contains("complete -c dkwrap"));
}

#[test]
fn man_writes_every_page_and_prints_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(dkwrap().arg("man").arg("--out").arg(dir.path()));
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected = Vec::new();
    // Built: subcommands' own subcommands are added when built (`defer`).
    let mut cli = dkwrap::cli::Cli::command();
    cli.build();
    expected_pages(&cli, "dkwrap", &mut expected);
    expected.sort();
    assert_eq!(files, expected, "one page per visible (sub)command");
    for sub in ["detect", "strip", "verify", "make", "doctor", "completions"] {
        assert!(files.contains(&format!("dkwrap-{sub}.1")), "{sub}");
    }
    let strip = std::fs::read_to_string(dir.path().join("dkwrap-strip.1")).expect("read");
    assert_eq!(strip, stdout(&["man", "strip"]));
    assert!(strip.contains(".TH dkwrap-strip 1"), "title");
    assert!(strip.contains("\\-\\-strategy"), "options");
    assert!(strip.contains(".SH \"EXIT STATUS\""), "exit status");

    let unknown = run(dkwrap().args(["man", "frobnicate"]));
    assert_eq!(code(&unknown), dkwrap::exit::USAGE);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no man page dkwrap-frobnicate"));
}

/// `dkwrap.1`, then `dkwrap-SUB.1` for every visible subcommand, `dkwrap-SUB-SUBSUB.1` below it.
fn expected_pages(cmd: &clap::Command, name: &str, out: &mut Vec<String>) {
    out.push(format!("{name}.1"));
    // `help` is added by clap when the command is built: it gets no page.
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        expected_pages(sub, &format!("{name}-{}", sub.get_name()), out);
    }
}
