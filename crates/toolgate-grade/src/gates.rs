//! Text answers: quality gates (docs/case-format.md#text-gates), markdown detection and thinking leaks.

use regex::Regex;
use serde_json::json;
use std::sync::LazyLock;
use toolgate_core::text::fold;
use toolgate_core::{FailureKind, Finding, Gates};

static HEADING: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^ {0,3}#{1,6}\s+\S").unwrap());
static BULLET: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*[-*+]\s+\S").unwrap());
static NUMBERED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*\d{1,3}[.)]\s+\S").unwrap());
static FENCE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*(```|~~~)").unwrap());
static TABLE_SEP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$").unwrap());
static BOLD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\*\*[^*\s](?:[^*\n]*?[^*\s])?\*\*|__[^_\s](?:[^_\n]*?[^_\s])?__").unwrap()
});
// Emphasis needs a non-word, non-marker character (or line edge) on both sides, so `5 * 3`,
// `a*b*c` and snake_case names are not taken for it.
static EMPH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)(?:^|[^\w*])\*[^*\s](?:[^*\n]*?[^*\s])?\*(?:[^\w*]|$)|(?:^|[^\w_])_[^_\s](?:[^_\n]*?[^_\s])?_(?:[^\w_]|$)")
        .unwrap()
});

/// The markdown constructs found in `text`, each named with its line (1-based).
/// Empty for plain prose, including a lone asterisk or `5 * 3`.
pub fn markdown_found(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let numbered = lines.iter().filter(|l| NUMBERED.is_match(l)).count();
    for (i, line) in lines.iter().enumerate() {
        let n = i + 1;
        if HEADING.is_match(line) {
            found.push(format!("heading (line {n})"));
        } else if FENCE.is_match(line) {
            found.push(format!("code fence (line {n})"));
        } else if TABLE_SEP.is_match(line) && i > 0 && lines[i - 1].contains('|') {
            found.push(format!("table (line {n})"));
        } else if BULLET.is_match(line) && !line.trim_start().starts_with("**") {
            found.push(format!("bullet list (line {n})"));
        } else if numbered >= 2 && NUMBERED.is_match(line) {
            // One "1. " line alone is ordinary prose; two make a list.
            found.push(format!("numbered list (line {n})"));
        }
        if BOLD.is_match(line) {
            found.push(format!("bold (line {n})"));
        } else if EMPH.is_match(line) {
            found.push(format!("emphasis (line {n})"));
        }
    }
    found
}

const PREAMBLES: [&str; 16] = [
    "okay, so",
    "okay, let me",
    "okay, the user",
    "ok, so the user",
    "alright, so",
    "alright, let me",
    "alright, the user",
    "hmm,",
    "let me think",
    "the user is asking",
    "the user asks",
    "the user wants",
    "the user said",
    "we need to",
    "first, i need to",
    "so the user",
];

/// Why `content` leaks thinking: think tags, or an answer that opens like a reasoning trace.
pub fn thinking_leak(content: &str) -> Option<String> {
    for tag in ["<think>", "</think>", "◁think▷", "<|channel|>analysis"] {
        if content.contains(tag) {
            return Some(format!("content contains `{tag}`"));
        }
    }
    let start = fold(content);
    PREAMBLES
        .iter()
        .find(|p| start.starts_with(*p))
        .map(|p| format!("content opens with reasoning preamble \"{p}…\""))
}

/// Apply the gates to an answer. `raw` is the content as received (for thinking leaks),
/// `answer` the content with think blocks removed.
pub fn check(g: &Gates, raw: &str, answer: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let folded = fold(answer);
    if g.non_empty && folded.is_empty() {
        out.push(finding(
            FailureKind::GateFailed,
            "non_empty: the answer is empty".into(),
            None,
        ));
    }
    if g.no_thinking_leak {
        if let Some(why) = thinking_leak(raw) {
            out.push(finding(FailureKind::ThinkingLeak, why, None));
        }
    }
    if g.no_markdown {
        let md = markdown_found(answer);
        if !md.is_empty() {
            out.push(finding(
                FailureKind::Markdown,
                format!("markdown in a plain answer: {}", md.join(", ")),
                Some(json!({ "found": md })),
            ));
        }
    }
    let missing: Vec<&String> = g
        .contains
        .iter()
        .filter(|c| !folded.contains(&fold(c)))
        .collect();
    if !missing.is_empty() {
        out.push(finding(
            FailureKind::MissingFact,
            format!("missing {}", quote_list(&missing)),
            Some(json!({ "gate": "contains", "missing": missing })),
        ));
    }
    if !g.contains_any.is_empty() && !g.contains_any.iter().any(|c| folded.contains(&fold(c))) {
        out.push(finding(
            FailureKind::MissingFact,
            format!(
                "none of {}",
                quote_list(&g.contains_any.iter().collect::<Vec<_>>())
            ),
            Some(json!({ "gate": "contains_any", "missing": g.contains_any })),
        ));
    }
    let forbidden: Vec<&String> = g
        .not_contains
        .iter()
        .filter(|c| folded.contains(&fold(c)))
        .collect();
    if !forbidden.is_empty() {
        out.push(finding(
            FailureKind::GateFailed,
            format!(
                "not_contains: the answer contains {}",
                quote_list(&forbidden)
            ),
            Some(json!({ "gate": "not_contains", "found": forbidden })),
        ));
    }
    if let Some(max) = g.max_words {
        let words = answer.split_whitespace().count();
        if words > max as usize {
            out.push(finding(
                FailureKind::GateFailed,
                format!("max_words: {words} words > {max}"),
                Some(json!({ "gate": "max_words", "words": words, "max": max })),
            ));
        }
    }
    out
}

fn quote_list(items: &[&String]) -> String {
    items
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn finding(
    kind: FailureKind,
    message: String,
    detail: Option<serde_json::Value>,
) -> Finding {
    Finding {
        kind,
        message,
        path: None,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_found() {
        for md in [
            "# Title\ntext",
            "Here:\n- one\n- two",
            "1. a\n2. b",
            "This is **bold** text",
            "I *really* mean it",
            "| a | b |\n|---|---|\n| 1 | 2 |",
            "```\ncode\n```",
            "__strong__ words",
        ] {
            assert!(!markdown_found(md).is_empty(), "{md}");
        }
    }

    #[test]
    fn plain_prose_is_not_markdown() {
        for plain in [
            "5 * 3 is 15.",
            "Use a * as a wildcard.",
            "Call get_entity_details for Arun.",
            "Bengaluru is in Karnataka. 2. Not a list alone",
            "a*b*c is a product",
            "It costs $5 - $10 per item.",
        ] {
            assert!(
                markdown_found(plain).is_empty(),
                "{plain}: {:?}",
                markdown_found(plain)
            );
        }
    }

    #[test]
    fn leaks() {
        assert!(thinking_leak("<think>x</think>Hi").is_some());
        assert!(thinking_leak("Okay, so the user wants the weather.").is_some());
        assert!(thinking_leak("Good morning! How can I help?").is_none());
    }
}
