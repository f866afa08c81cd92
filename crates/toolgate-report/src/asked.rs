//! What a trial asked: the conversation of its first request, read back from the run's
//! `requests.jsonl` ([`toolgate_core::requests`]) by the trial's `request.body_sha256`.
//!
//! The file is scanned once for where each body starts (hash → byte offset, no bodies held);
//! a body is read and reduced to its messages only when a report shows it, so memory stays
//! the per-trial index however large the run. A folder without the file (runs made before
//! it existed) answers `None`, which reports show as [`NOT_RECORDED`].

use crate::run::RunData;
use serde_json::Value;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::rc::Rc;
use toolgate_core::requests::{parse_line, REQUESTS};

pub const NOT_RECORDED: &str = "request not recorded";

/// Bytes of one message's text kept (the rest is counted), and messages kept per request:
/// a report shows the question, not a whole pasted document.
const MESSAGE_CAP: usize = 2048;
const MAX_MESSAGES: usize = 24;

/// One message of a request, as a reader needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: String,
    /// The text (text parts joined); tool calls of an assistant turn as `name(args)` lines.
    pub text: String,
    /// Bytes cut from `text`.
    pub cut: usize,
}

/// The messages of one request after its system prompt.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Asked {
    pub messages: Vec<Message>,
    /// Messages left out past [`MAX_MESSAGES`].
    pub more: usize,
}

impl Asked {
    /// The last user message: the question of the case's first turn.
    pub fn last_user(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(|m| m.text.as_str())
    }

    /// Reduces a request body to its messages (system prompt left out).
    pub fn from_body(body: &[u8]) -> Option<Asked> {
        let v: Value = serde_json::from_slice(body).ok()?;
        let msgs = v.get("messages")?.as_array()?;
        let rest: Vec<&Value> = msgs
            .iter()
            .filter(|m| m.get("role").and_then(Value::as_str) != Some("system"))
            .collect();
        let messages = rest
            .iter()
            .take(MAX_MESSAGES)
            .map(|m| {
                let full = message_text(m);
                let (shown, cut) = cut_at(&full, MESSAGE_CAP);
                Message {
                    role: m
                        .get("role")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_string(),
                    text: shown.to_string(),
                    cut,
                }
            })
            .collect();
        Some(Asked {
            messages,
            more: rest.len().saturating_sub(MAX_MESSAGES),
        })
    }
}

/// `content` as text (a string, or the text parts of an array), then any tool calls.
fn message_text(m: &Value) -> String {
    let mut out = toolgate_core::model::content_text(m);
    if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
        for c in calls {
            let f = c.get("function").unwrap_or(c);
            let name = f.get("name").and_then(Value::as_str).unwrap_or("?");
            let args = match f.get("arguments") {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            };
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("{name}({args})"));
        }
    }
    out
}

/// Finds request bodies of one run folder by hash.
pub struct RequestIndex {
    file: Option<File>,
    offsets: HashMap<String, u64>,
    cache: HashMap<String, Option<Rc<Asked>>>,
}

impl RequestIndex {
    /// Scans the `requests.jsonl` beside the run's `responses.jsonl` (the folder the run was
    /// loaded from: `RunData::dir` may be redacted for display). Missing or unreadable gives
    /// an empty index: reports then say "request not recorded".
    pub fn open(run: &RunData) -> RequestIndex {
        let mut ix = RequestIndex {
            file: None,
            offsets: HashMap::new(),
            cache: HashMap::new(),
        };
        let Some(dir) = run.responses_file.as_ref().and_then(|p| p.parent()) else {
            return ix;
        };
        let path = dir.join(REQUESTS);
        let Ok(f) = File::open(&path) else {
            return ix;
        };
        let mut r = BufReader::new(f);
        let mut buf = Vec::new();
        let mut at = 0u64;
        while let Ok(n) = r.read_until(b'\n', &mut buf) {
            if n == 0 {
                break;
            }
            // Only the hash is looked at here; the line is checked whole when it is read.
            if let Some(sha) = buf
                .strip_prefix(b"{\"sha256\":\"".as_slice())
                .and_then(|rest| rest.get(..64))
                .and_then(|h| std::str::from_utf8(h).ok())
            {
                ix.offsets.entry(sha.to_string()).or_insert(at);
            }
            at += n as u64;
            buf.clear();
        }
        ix.file = File::open(&path).ok();
        ix
    }

    /// The conversation of the body with this hash, or `None` when it was not recorded.
    pub fn get(&mut self, sha256: &str) -> Option<Rc<Asked>> {
        if let Some(hit) = self.cache.get(sha256) {
            return hit.clone();
        }
        let found = self.read(sha256).map(Rc::new);
        // Repeats share a body; a few thousand small entries at most (one per listed trial).
        self.cache.insert(sha256.to_string(), found.clone());
        found
    }

    fn read(&mut self, sha256: &str) -> Option<Asked> {
        let off = *self.offsets.get(sha256)?;
        let line = toolgate_core::runfolder::read_line_at(self.file.as_mut()?, off).ok()?;
        let (sha, body) = parse_line(&line)?;
        if sha != sha256 {
            return None;
        }
        Asked::from_body(body)
    }
}

/// `s` on one line (whitespace runs collapsed) and at most `max` characters, cut with `…`.
pub fn one_line(s: &str, max: usize) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None => flat,
    }
}

/// The first at most `max` bytes of `s` (on a char boundary) and how many bytes were left.
pub(crate) fn cut_at(s: &str, max: usize) -> (&str, usize) {
    if s.len() <= max {
        return (s, 0);
    }
    let mut at = max;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    (&s[..at], s.len() - at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_question_is_the_last_user_message_after_the_system_prompt() {
        let body = r#"{"model":"m","messages":[{"role":"system","content":"be brief"},
            {"role":"user","content":"first"},{"role":"assistant","content":null,
            "tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},
            {"role":"user","content":[{"type":"text","text":"ಪ್ರಿಯಾ"}]}]}"#;
        let a = Asked::from_body(body.as_bytes()).unwrap();
        assert_eq!(a.messages.len(), 3);
        assert_eq!(a.messages[1].text, "f({\"a\":1})");
        assert_eq!(a.last_user(), Some("ಪ್ರಿಯಾ"));
        assert!(Asked::from_body(b"not json").is_none());
    }

    #[test]
    fn one_line_flattens_and_cuts_on_a_char_boundary() {
        assert_eq!(one_line("a\n\n b\tc", 10), "a b c");
        assert_eq!(one_line("ಪ್ರಿಯಾ ಬೆಂ", 3), "ಪ್ರ…");
        assert_eq!(one_line(&"x".repeat(200), 160).chars().count(), 161);
    }

    #[test]
    fn an_index_reads_only_what_it_is_asked_for_and_misses_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let mut text = toolgate_core::requests::line(
            &a,
            br#"{"messages":[{"role":"user","content":"hello"}]}"#,
        );
        text.extend(toolgate_core::requests::line(&b, b"{\"messages\":[]}"));
        text.extend_from_slice(b"{\"sha256\":\"cccc"); // torn tail
        std::fs::write(dir.path().join(REQUESTS), text).unwrap();
        std::fs::write(dir.path().join("responses.jsonl"), "").unwrap();
        let run = RunData {
            dir: "[path]".into(),
            manifest: Default::default(),
            responses: vec![],
            grades: vec![],
            notes: vec![],
            responses_file: Some(dir.path().join("responses.jsonl")),
        };
        let mut ix = RequestIndex::open(&run);
        assert_eq!(ix.get(&a).unwrap().last_user(), Some("hello"));
        assert_eq!(ix.get(&b).unwrap().last_user(), None);
        assert!(ix.get(&"c".repeat(64)).is_none());
        // A run without the file: nothing recorded, no error.
        let bare = RunData {
            responses_file: None,
            ..run
        };
        assert!(RequestIndex::open(&bare).get(&a).is_none());
    }
}
