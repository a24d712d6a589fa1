//! Man pages and shell completions, generated from the clap definitions so that they can
//! never disagree with `--help`: `dkwrap.1` and one page per subcommand (`dkwrap-strip.1`,
//! nested ones as `dkwrap-a-b.1`), each ending with the exit-status table of
//! [`crate::exit::TABLE`]. A subcommand added to the CLI gets its page and its completions
//! without any change here; hidden ones (packaging helpers) get neither.

use clap::Command;
use clap_complete::Shell;
use clap_mangen::roff::{bold, italic, roman, Roff};
use clap_mangen::Man;

use crate::exit;

/// One rendered man page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManPage {
    /// The page's name as `man` looks it up (`dkwrap-strip`).
    pub name: String,
    /// The file name under `man1/` (`dkwrap-strip.1`).
    pub file_name: String,
    /// roff source.
    pub roff: Vec<u8>,
}

/// Renders `dkwrap.1` first, then one page per visible subcommand, depth first.
pub fn man_pages(cmd: Command) -> std::io::Result<Vec<ManPage>> {
    // The EXIT STATUS section comes from the table (below), not from --help's epilogue.
    let mut cmd = cmd
        .disable_help_subcommand(true)
        .after_long_help(None::<&str>)
        .after_help(None::<&str>);
    cmd.build();
    let mut commands = Vec::new();
    collect_visible(&cmd, &mut commands);
    let root = page_name(&cmd);
    let all_names: Vec<String> = commands.iter().map(page_name).collect();
    commands
        .into_iter()
        .map(|c| {
            let name = page_name(&c);
            let see_also: Vec<&str> = if name == root {
                all_names.iter().skip(1).map(String::as_str).collect()
            } else {
                vec![root.as_str()]
            };
            render_page(c, &name, &see_also)
        })
        .collect()
}

/// The completion script for `shell`, registered for the command name `dkwrap`.
pub fn completion_script(cmd: Command, shell: Shell) -> Vec<u8> {
    let mut cmd = without_hidden_subcommands(cmd);
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "dkwrap", &mut script);
    script
}

/// clap_complete offers hidden subcommands too; completion needs only the name, texts,
/// arguments and visible subcommands, so it gets a copy made of those.
fn without_hidden_subcommands(cmd: Command) -> Command {
    let mut copy = Command::new("dkwrap")
        .version(crate::cli::VERSION)
        .args(cmd.get_arguments().cloned())
        .subcommands(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    if let Some(about) = cmd.get_about() {
        copy = copy.about(about.clone());
    }
    copy
}

fn collect_visible(cmd: &Command, out: &mut Vec<Command>) {
    out.push(cmd.clone());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect_visible(sub, out);
    }
}

/// `dkwrap` for the root, `dkwrap-strip` for a built subcommand (clap's display name).
fn page_name(cmd: &Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_owned()
}

fn render_page(cmd: Command, name: &str, see_also: &[&str]) -> std::io::Result<ManPage> {
    let man = Man::new(cmd)
        .source(format!("dkwrap {}", crate::cli::VERSION))
        .manual("dkwrap manual");
    let file_name = man.get_filename();
    let mut roff = Vec::new();
    man.render(&mut roff)?;
    roff.extend_from_slice(without_preamble(&exit_status_and_see_also(see_also)).as_bytes());
    Ok(ManPage {
        name: name.to_owned(),
        file_name,
        roff,
    })
}

/// EXIT STATUS from [`exit::TABLE`], then SEE ALSO naming `pages` in section 1.
fn exit_status_and_see_also(pages: &[&str]) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    for &(code, name, meaning) in exit::TABLE {
        roff.control("TP", []);
        roff.text([bold(code.to_string()), roman(" "), italic(name)]);
        roff.text([roman(meaning)]);
    }
    roff.control("TP", []);
    roff.text([bold("128+N")]);
    roff.text([roman(
        "make: the build was killed by signal N (make's own status is passed through otherwise)",
    )]);
    if !pages.is_empty() {
        roff.control("SH", ["SEE ALSO"]);
        let mut refs = Vec::new();
        for (i, page) in pages.iter().enumerate() {
            if i > 0 {
                refs.push(roman(", "));
            }
            refs.push(bold(*page));
            refs.push(roman("(1)"));
        }
        roff.text(refs);
    }
    roff
}

/// roff renders a preamble (apostrophe handling) before every document; an appended part must
/// not repeat it.
fn without_preamble(part: &Roff) -> String {
    let preamble = Roff::new().render();
    let text = part.render();
    match text.strip_prefix(&preamble) {
        Some(body) => body.to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn pages() -> Vec<ManPage> {
        man_pages(crate::cli::Cli::command()).expect("render")
    }

    #[test]
    fn one_page_per_visible_subcommand_and_no_hidden_ones() {
        let names: Vec<String> = pages().into_iter().map(|p| p.file_name).collect();
        assert_eq!(names.first().map(String::as_str), Some("dkwrap.1"));
        for sub in ["detect", "strip", "verify", "make", "doctor", "completions"] {
            assert!(names.contains(&format!("dkwrap-{sub}.1")), "{names:?}");
        }
        assert!(
            !names
                .iter()
                .any(|n| n == "dkwrap-man.1" || n == "dkwrap-help.1"),
            "{names:?}"
        );
    }

    #[test]
    fn every_page_has_the_whole_exit_status_table_once() {
        for page in pages() {
            let text = String::from_utf8(page.roff).expect("utf-8");
            assert_eq!(
                text.matches(".SH \"EXIT STATUS\"").count(),
                1,
                "{}",
                page.name
            );
            for &(code, name, _) in exit::TABLE {
                assert!(
                    text.contains(&format!("\\fB{code}\\fR \\fI{name}\\fR")),
                    "{}: {name}",
                    page.name
                );
            }
            assert_eq!(
                text.matches(".ie \\n(.g").count(),
                1,
                "{}: one preamble",
                page.name
            );
        }
    }

    #[test]
    fn bash_completion_knows_subcommands_and_strategies() {
        let script = String::from_utf8(completion_script(crate::cli::Cli::command(), Shell::Bash))
            .expect("utf-8");
        assert!(
            script.contains("complete -F _dkwrap"),
            "registered for dkwrap"
        );
        assert!(
            script.contains("auto llvm native skip gnu"),
            "--strategy values"
        );
        assert!(
            !script.contains("dkwrap__subcmd__man"),
            "the hidden `man` is not offered"
        );
        for sub in ["detect", "strip", "verify", "make", "doctor", "completions"] {
            assert!(script.contains(sub), "{sub}");
        }
    }
}
