//! Text folding shared by matchers, entity matching and text gates: Unicode NFC,
//! case-folding (Latin and other cased scripts; Kannada has no case) and whitespace
//! collapsing. One definition, so `equals_ci` and `contains_any` agree everywhere.

use unicode_normalization::UnicodeNormalization;

/// NFC + lowercase + whitespace collapsed to single spaces, trimmed.
pub fn fold(s: &str) -> String {
    let nfc: String = s.nfc().collect();
    let lower = nfc.to_lowercase();
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
    fn folds_case_space_and_nfc() {
        assert_eq!(fold("  Hello   WORLD "), "hello world");
        // U+0CC0 (KANNADA VOWEL SIGN II) decomposes to U+0CBF U+0CD5.
        assert_eq!(fold("\u{0C95}\u{0CBF}\u{0CD5}"), fold("\u{0C95}\u{0CC0}"));
    }

    #[test]
    fn zwj_is_kept_unless_stripped() {
        assert_ne!(fold("a\u{200D}b"), fold("ab"));
        assert_eq!(fold_strip_zwj("a\u{200D}b"), "ab");
    }
}
