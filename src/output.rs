//! Shared output helpers: escaping untrusted text before it reaches a terminal, JSON printing,
//! and whether progress display is allowed (only on a terminal, never in dkms's make.log).

use std::io::IsTerminal;

/// Escapes control characters (other than tab) so file names and tool output taken from
/// untrusted modules cannot drive the user's terminal.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && c != '\t' && c != '\n' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `1 module`, `2 modules`: `word` is the singular, made plural with an `s`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> crate::Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| crate::Error::Usage(format!("cannot encode JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// Progress only when stderr is a terminal and CI is not set. The app layer adds the rest
/// (`Ui::progress_allowed`: not with `-q`, not when colour is off, as `NO_COLOR` asks).
pub fn progress_allowed() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("CI").is_none()
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_control_characters() {
        assert_eq!(super::escape("a\x1b[31mb\tc"), "a\\u{1b}[31mb\tc");
    }
}
