//! dkwrap invoked as `strip`, `llvm-strip` or `<triplet>-strip`: GNU strip's command line,
//! turned into plain requests. Parsing only; [`super::shim`] does the work.
//!
//! Accepted, as GNU strip 2.40 spells them: `-g`/`-S`/`-d`/`--strip-debug`,
//! `--strip-unneeded`, `-o FILE` (`-oFILE`, `--output-file=FILE`), `-p`/`--preserve-dates`,
//! `-V`/`--version`, `-h`/`--help`, bundled short flags (`-gp`), and `--` before file
//! names. Anything else is refused by name: a drop-in that silently ignored `-R .text` or
//! `--strip-all` would write a different file than the caller asked for.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// How much a caller asked to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripLevel {
    /// `-g`, `-S`, `-d`, `--strip-debug`.
    Debug,
    /// `--strip-unneeded`. On a kernel module dkwrap removes debug information only (see
    /// README: the symbols GNU strip would also drop are kept, and the proof still holds).
    Unneeded,
    /// No option at all: GNU strip would remove every symbol, which makes a kernel module
    /// unloadable; on modules dkwrap removes debug information only.
    Default,
}

/// One strip invocation as GNU strip would understand it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropinStrip {
    pub level: StripLevel,
    pub output: Option<PathBuf>,
    pub preserve_dates: bool,
    pub files: Vec<PathBuf>,
    /// The options exactly as given (without the file names), for handing a file that is
    /// not a kernel module to the real strip.
    pub options: Vec<OsString>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropinRequest {
    Version,
    Help,
    Strip(DropinStrip),
}

/// Why a command line is refused; the message names the offending argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropinError {
    #[error("unsupported option '{0}' (dkwrap handles -g -S -d --strip-debug --strip-unneeded -o -p -V; run `dkwrap strip --help`)")]
    Unsupported(String),
    #[error("option '{0}' requires an argument")]
    MissingValue(String),
    #[error("no input file given")]
    NoFiles,
    #[error("-o names one output, but {0} input files were given")]
    OutputWithSeveral(usize),
}

/// Parses the arguments after argv[0].
pub fn parse(args: &[OsString]) -> Result<DropinRequest, DropinError> {
    let mut level = StripLevel::Default;
    let mut output = None;
    let mut preserve_dates = false;
    let mut files = Vec::new();
    let mut options = Vec::new();
    let mut only_files = false;
    let mut i = 0;
    while i < args.len() {
        let raw = &args[i];
        i += 1;
        if only_files || !starts_with_dash(raw) || raw == "-" {
            files.push(PathBuf::from(raw));
            continue;
        }
        let Some(arg) = raw.to_str() else {
            return Err(DropinError::Unsupported(raw.to_string_lossy().into_owned()));
        };
        if arg == "--" {
            only_files = true;
            continue;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            match (name, value) {
                ("strip-debug", None) => level = level.max_with(StripLevel::Debug),
                ("strip-unneeded", None) => level = level.max_with(StripLevel::Unneeded),
                ("preserve-dates", None) => preserve_dates = true,
                ("version", None) => return Ok(DropinRequest::Version),
                ("help", None) => return Ok(DropinRequest::Help),
                ("output-file", Some(v)) => output = Some(PathBuf::from(v)),
                ("output-file", None) => {
                    let v = args
                        .get(i)
                        .ok_or_else(|| DropinError::MissingValue(arg.into()))?;
                    options.push(raw.clone());
                    options.push(v.clone());
                    output = Some(PathBuf::from(v));
                    i += 1;
                    continue;
                }
                _ => return Err(DropinError::Unsupported(arg.into())),
            }
            options.push(raw.clone());
            continue;
        }
        // Short options, possibly bundled (`-gp`, `-oFILE`).
        let letters: Vec<char> = arg[1..].chars().collect();
        let mut consumed_next = None;
        for (k, c) in letters.iter().enumerate() {
            match c {
                'g' | 'S' | 'd' => level = level.max_with(StripLevel::Debug),
                'p' => preserve_dates = true,
                'V' => return Ok(DropinRequest::Version),
                'h' => return Ok(DropinRequest::Help),
                'o' => {
                    let rest: String = letters[k + 1..].iter().collect();
                    if rest.is_empty() {
                        let v = args
                            .get(i)
                            .ok_or_else(|| DropinError::MissingValue("-o".into()))?;
                        output = Some(PathBuf::from(v));
                        consumed_next = Some(v.clone());
                    } else {
                        output = Some(PathBuf::from(rest));
                    }
                    break;
                }
                other => return Err(DropinError::Unsupported(format!("-{other}"))),
            }
        }
        options.push(raw.clone());
        if let Some(v) = consumed_next {
            options.push(v);
            i += 1;
        }
    }
    if files.is_empty() {
        return Err(DropinError::NoFiles);
    }
    if output.is_some() && files.len() > 1 {
        return Err(DropinError::OutputWithSeveral(files.len()));
    }
    Ok(DropinRequest::Strip(DropinStrip {
        level,
        output,
        preserve_dates,
        files,
        options,
    }))
}

fn starts_with_dash(arg: &OsStr) -> bool {
    arg.as_encoded_bytes().first() == Some(&b'-')
}

impl StripLevel {
    /// The stronger of two requests (`-g --strip-unneeded` is `--strip-unneeded`).
    fn max_with(self, other: StripLevel) -> StripLevel {
        match (self, other) {
            (StripLevel::Unneeded, _) | (_, StripLevel::Unneeded) => StripLevel::Unneeded,
            _ => StripLevel::Debug,
        }
    }
}

/// The first line of `--version`: GNU strip's shape (scripts read the last word as the
/// binutils version), naming dkwrap.
pub fn version_text(real_tool: Option<&std::path::Path>) -> String {
    let handed = real_tool
        .map(|p| format!("other files are handed to {}", p.display()))
        .unwrap_or_else(|| "no other strip was found for files that are not kernel modules".into());
    format!(
        "GNU strip (dkwrap {}) 2.40\n\
         dkwrap's strip drop-in: kernel modules are stripped of debug information by a tool \
         proven correct for them (output proven equal to the input minus debug information); \
         {handed}.\n",
        env!("CARGO_PKG_VERSION")
    )
}

pub const HELP_TEXT: &str = "Usage: strip <option(s)> in-file(s)   (dkwrap's strip drop-in)\n\
 Kernel modules (.ko, .ko.zst/.xz/.gz) are stripped of debug information by dkwrap and proven;\n\
 other files are handed to the real strip found on PATH.\n\
  -g -S -d --strip-debug   remove debugging symbols and sections\n\
  --strip-unneeded         on kernel modules: the same as --strip-debug (every symbol is kept)\n\
  -o <file>                write the stripped file to <file> (one input only)\n\
  -p --preserve-dates      keep the input's access and modification times\n\
  -V --version             print the version\n\
 Any other option is refused.\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn strip(args: &[&str]) -> DropinStrip {
        match parse(&os(args)) {
            Ok(DropinRequest::Strip(r)) => r,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn gnu_debug_spellings_are_one_request() {
        for flag in ["-g", "-S", "-d", "--strip-debug"] {
            let r = strip(&[flag, "a.ko"]);
            assert_eq!(r.level, StripLevel::Debug, "{flag}");
            assert_eq!(r.files, vec![PathBuf::from("a.ko")]);
            assert_eq!(r.options, os(&[flag]));
        }
        assert_eq!(
            strip(&["--strip-unneeded", "-g", "a.ko"]).level,
            StripLevel::Unneeded
        );
        assert_eq!(strip(&["a.ko"]).level, StripLevel::Default);
    }

    #[test]
    fn output_dates_bundles_and_double_dash() {
        let r = strip(&["-gp", "-o", "out.ko", "in.ko"]);
        assert!(r.preserve_dates);
        assert_eq!(r.output, Some(PathBuf::from("out.ko")));
        assert_eq!(r.options, os(&["-gp", "-o", "out.ko"]));
        // getopt reads `-gout.ko` as -g, then -o with the rest as its value.
        assert_eq!(
            strip(&["-gout.ko", "in.ko"]).output,
            Some(PathBuf::from("ut.ko"))
        );
    }

    #[test]
    fn attached_output_and_long_output() {
        assert_eq!(
            strip(&["-g", "-oout.ko", "in.ko"]).output,
            Some(PathBuf::from("out.ko"))
        );
        assert_eq!(
            strip(&["--output-file=x.ko", "in.ko"]).output,
            Some(PathBuf::from("x.ko"))
        );
        let r = strip(&["-g", "--", "-weird.ko", "b.ko"]);
        assert_eq!(
            r.files,
            vec![PathBuf::from("-weird.ko"), PathBuf::from("b.ko")]
        );
    }

    #[test]
    fn refusals_name_the_option() {
        assert_eq!(
            parse(&os(&["--strip-all", "a.ko"])),
            Err(DropinError::Unsupported("--strip-all".into()))
        );
        assert_eq!(
            parse(&os(&["-gR", ".text", "a.ko"])),
            Err(DropinError::Unsupported("-R".into()))
        );
        assert_eq!(parse(&os(&["-g"])), Err(DropinError::NoFiles));
        assert_eq!(
            parse(&os(&["-o", "x", "a.ko", "b.ko"])),
            Err(DropinError::OutputWithSeveral(2))
        );
        assert_eq!(
            parse(&os(&["-g", "-o"])),
            Err(DropinError::MissingValue("-o".into()))
        );
    }

    #[test]
    fn version_and_help() {
        assert_eq!(parse(&os(&["--version"])), Ok(DropinRequest::Version));
        assert_eq!(parse(&os(&["-V"])), Ok(DropinRequest::Version));
        assert_eq!(parse(&os(&["--help"])), Ok(DropinRequest::Help));
        let first = version_text(None);
        let line = first.lines().next().unwrap();
        assert!(line.starts_with("GNU strip (dkwrap "), "{line}");
        assert_eq!(line.split_whitespace().last(), Some("2.40"));
    }
}
