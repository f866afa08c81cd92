//! Names from input (case files, imported data, config) that become file names. A name is
//! used as it is only when it is one plain path component; anything else is refused or
//! mapped to a safe name that cannot collide with another name's.

/// One plain file-name component: ASCII letters, digits, `-`, `_`, `.`, not starting with
/// `.` (no `..`, no hidden file), at most 128 bytes. No separator, so no traversal.
pub fn is_safe_file_stem(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `name` when it is a safe stem; otherwise its unsafe bytes replaced by `_` plus 8 hex of
/// its hash, so `x/y` and `x_y` (or `a?` and `a!`) never map to the same file.
pub fn file_stem(name: &str) -> String {
    if is_safe_file_stem(name) {
        return name.to_string();
    }
    let mut s: String = name
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let h = crate::text::sha256_hex(name.as_bytes());
    s.push('-');
    s.push_str(&h[..8]);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_and_absolute_names_are_not_safe() {
        for bad in [
            "../../x", "/abs/x", "a/b", "..", ".", "", "a\\b", "x\0", ".hidden",
        ] {
            assert!(!is_safe_file_stem(bad), "{bad:?}");
            let s = file_stem(bad);
            assert!(is_safe_file_stem(&s), "{bad:?} -> {s:?}");
        }
        assert!(is_safe_file_stem("simple_python_2"));
        assert!(!is_safe_file_stem(&"a".repeat(129)));
    }

    #[test]
    fn mapped_names_do_not_collide() {
        assert_ne!(file_stem("x/y"), file_stem("x_y"));
        assert_ne!(file_stem("a?"), file_stem("a!"));
        assert_eq!(file_stem("x_y"), "x_y");
    }
}
