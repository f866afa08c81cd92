//! Text folding shared by matchers, entity matching and text gates: Unicode NFC,
//! case-folding (Latin and other cased scripts; Kannada has no case) and whitespace
//! collapsing. One definition, so `equals_ci` and `contains_any` agree everywhere.

use unicode_normalization::UnicodeNormalization;

/// NFC + lowercase + whitespace collapsed to single spaces, trimmed.
pub fn fold(s: &str) -> String {
    // ASCII is already NFC and lowercases byte for byte: skip the normaliser, which costs
    // more than the rest (the graders fold both sides of every `equals_ci` argument).
    if s.is_ascii() {
        return collapse(&s.to_ascii_lowercase());
    }
    let nfc: String = s.nfc().collect();
    collapse(&nfc.to_lowercase())
}

/// Whitespace runs as single spaces, trimmed.
fn collapse(lower: &str) -> String {
    let mut out = String::with_capacity(lower.len());
    for word in lower.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// [`fold`], then zero-width joiner / non-joiner removed (an explicit matching policy).
pub fn fold_strip_zwj(s: &str) -> String {
    fold(&s.replace(['\u{200D}', '\u{200C}'], ""))
}

/// Text from a model, a server or a case file made safe to print on one terminal line or
/// CI log line: control characters (C0, DEL, C1) and bidi overrides are shown escaped
/// (`\n`, `\u{1b}`), so the text can neither start a new line (no forged
/// `::error ...` workflow command, no forged summary line) nor drive the terminal; and a
/// leading `::` is escaped too, in case the text is printed at the start of a line. The one
/// function every command uses for such strings on stdout and stderr.
pub fn terminal(s: &str) -> std::borrow::Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    }
    let lead = s.trim_start_matches([' ', '\t']).starts_with("::");
    if !lead && !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut first_colon = lead;
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ':' if first_colon => {
                out.push_str("\\:");
                first_colon = false;
            }
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// [`terminal`] for text shown over several lines (a reply, a prompt): each line is made
/// safe on its own, so the newlines stay and no line can carry a forged workflow command.
pub fn terminal_lines(s: &str) -> String {
    s.split('\n').map(terminal).collect::<Vec<_>>().join("\n")
}

/// A command line split into words the way a shell would, with no expansion of any kind:
/// whitespace separates, single quotes are literal, double quotes group, a backslash escapes
/// the next character. Managed-server start commands, probes and `--mcp` all use it, so a
/// command is read the same way everywhere; the program runs directly (no shell), so a
/// missing one is reported as such.
pub fn split_command(s: &str) -> Result<Vec<String>, String> {
    let words =
        shlex::split(s).ok_or_else(|| format!("unclosed quote or trailing backslash in `{s}`"))?;
    if words.is_empty() {
        return Err("the command is empty".into());
    }
    Ok(words)
}

/// Hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_like_a_shell_without_expansion() {
        assert_eq!(
            split_command(r#"node  cli.js --flag "a b" 'c d' e\ f $HOME"#).unwrap(),
            ["node", "cli.js", "--flag", "a b", "c d", "e f", "$HOME"]
        );
        assert_eq!(split_command(r#"x """#).unwrap(), ["x", ""]);
        assert!(split_command("x 'open")
            .unwrap_err()
            .contains("unclosed quote"));
        assert_eq!(split_command("   ").unwrap_err(), "the command is empty");
    }

    #[test]
    fn folds_case_space_and_nfc() {
        assert_eq!(fold("  Hello   WORLD "), "hello world");
        // U+0CC0 (KANNADA VOWEL SIGN II) decomposes to U+0CBF U+0CD5.
        assert_eq!(fold("\u{0C95}\u{0CBF}\u{0CD5}"), fold("\u{0C95}\u{0CC0}"));
    }

    #[test]
    fn terminal_text_cannot_start_a_line_or_drive_the_terminal() {
        let forged = "x\n::error title=t::forged\u{0}\u{7}\u{1b}[31m\u{9b}\u{202e}";
        let t = terminal(forged);
        assert!(!t.chars().any(|c| c.is_control()), "{t:?}");
        assert_eq!(
            t,
            "x\\n::error title=t::forged\\u{0}\\u{7}\\u{1b}[31m\\u{9b}\\u{202e}"
        );
        assert_eq!(terminal("::warning::x"), "\\::warning::x");
        assert_eq!(terminal("  ::x"), "  \\::x");
        assert!(matches!(
            terminal("web_search"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn multi_line_text_keeps_its_lines_but_no_line_is_forged() {
        let t = terminal_lines("ಸರಿ\n::error::x\n\u{1b}[2J ok");
        assert_eq!(t, "ಸರಿ\n\\::error::x\n\\u{1b}[2J ok");
        for line in t.lines() {
            assert!(!line.starts_with("::") && !line.chars().any(|c| c.is_control()));
        }
    }

    #[test]
    fn the_ascii_shortcut_folds_as_the_general_path() {
        let slow = |s: &str| collapse(&s.nfc().collect::<String>().to_lowercase());
        let all: String = (0u8..128).map(char::from).collect();
        for s in [
            all.as_str(),
            " A\tB\x0bC\x0cD\r\nE  ",
            "Arun",
            "GET_Entity  Details",
        ] {
            assert_eq!(fold(s), slow(s), "{s:?}");
        }
    }

    #[test]
    fn zwj_is_kept_unless_stripped() {
        assert_ne!(fold("a\u{200D}b"), fold("ab"));
        assert_eq!(fold_strip_zwj("a\u{200D}b"), "ab");
    }
}
