//! Finding JSON inside free text: balanced `{…}` / `[…]` spans (string-aware), fenced blocks
//! and think blocks. Shared by the in-content call detector and the extraction grader.

use serde_json::Value;

/// End (exclusive byte index) of the balanced JSON value opening at `start` (`{` or `[`),
/// skipping brackets inside strings. `None` when it never closes (e.g. truncated output).
pub fn balanced_end(s: &str, start: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut in_str = false;
    let mut esc = false;
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// Parse the balanced JSON value opening at `start`, with its end.
pub fn parse_at(s: &str, start: usize) -> Option<(Value, usize)> {
    let end = balanced_end(s, start)?;
    serde_json::from_str(&s[start..end]).ok().map(|v| (v, end))
}

/// Every JSON value (object or array) found by scanning left to right; a found value's
/// inside is not rescanned.
pub fn values_in(s: &str) -> Vec<(Value, usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let Some(off) = s[i..].find(['{', '[']) else {
            break;
        };
        let start = i + off;
        match parse_at(s, start) {
            Some((v, end)) => {
                out.push((v, start, end));
                i = end;
            }
            None => i = start + 1,
        }
    }
    out
}

/// Bodies of fenced code blocks (```lang … ```), with the language tag (lowercased).
/// An unclosed fence runs to the end of the text.
pub fn fenced_blocks(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let line_end = after.find('\n').unwrap_or(after.len());
        let lang = after[..line_end].trim().to_lowercase();
        let body_start = (line_end + 1).min(after.len());
        let body = &after[body_start..];
        match body.find("```") {
            Some(close) => {
                out.push((lang, body[..close].to_string()));
                rest = &body[close + 3..];
            }
            None => {
                out.push((lang, body.to_string()));
                break;
            }
        }
    }
    out
}

/// Split content into (answer, thinking): `<think>…</think>` blocks are removed; text before a
/// lone `</think>` (Qwen3 templates pre-open the tag) is thinking; an unclosed `<think>` makes
/// the rest thinking (cut off while thinking).
pub fn split_think(content: &str) -> (String, String) {
    let mut thinking = String::new();
    let mut s = content;
    // Qwen3 / DeepSeek-R1: no opening tag, everything up to the last `</think>` is thought.
    if let Some(close) = s.rfind("</think>") {
        let before = &s[..close];
        thinking.push_str(before.replace("<think>", "").trim());
        s = &s[close + "</think>".len()..];
    }
    let mut answer = String::new();
    let mut rest = s;
    while let Some(open) = rest.find("<think>") {
        answer.push_str(&rest[..open]);
        let inner = &rest[open + "<think>".len()..];
        match inner.find("</think>") {
            Some(c) => {
                thinking.push_str(inner[..c].trim());
                rest = &inner[c + "</think>".len()..];
            }
            None => {
                thinking.push_str(inner.trim());
                rest = "";
            }
        }
    }
    answer.push_str(rest);
    (answer, thinking)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_skips_brackets_in_strings() {
        let s = r#"x {"a": "}{", "b": [1, {"c": 2}]} y"#;
        let (v, end) = parse_at(s, 2).unwrap();
        assert_eq!(v["b"][1]["c"], 2);
        assert_eq!(&s[end..], " y");
        assert!(balanced_end(r#"{"a": "b""#, 0).is_none());
    }

    #[test]
    fn think_split_handles_lone_close_and_unclosed() {
        assert_eq!(split_think("plan</think>\n\nHi").0.trim(), "Hi");
        let (a, t) = split_think("<think>hmm</think>Answer");
        assert_eq!((a.as_str(), t.as_str()), ("Answer", "hmm"));
        let (a, t) = split_think("<think>still thinking");
        assert_eq!((a.as_str(), t.as_str()), ("", "still thinking"));
    }

    #[test]
    fn fences_with_and_without_close() {
        let b = fenced_blocks("a\n```json\n{\"x\":1}\n```\nb\n```\nopen");
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].0, "json");
        assert_eq!(b[1].1, "open");
    }
}
