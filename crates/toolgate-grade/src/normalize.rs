//! Normalising a recorded assistant message before grading: argument encodings
//! (string / double-encoded string / object / `""` / null), empty vs null content, and the
//! reasoning field whatever the server called it (core already stores it under one name).

use serde_json::Value;
use toolgate_core::AssistantMessage;

/// A structured tool call with its arguments decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct NormCall {
    pub name: String,
    /// The decoded argument object, or why it is not one.
    pub args: Result<Value, String>,
    /// The arguments exactly as received.
    pub raw: Value,
}

impl NormCall {
    /// True when the call cannot be judged on its arguments (not JSON, or no name).
    pub fn is_malformed(&self) -> bool {
        self.args.is_err() || self.name.trim().is_empty()
    }
}

/// The message's structured calls, in the order received.
pub fn calls(msg: &AssistantMessage) -> Vec<NormCall> {
    msg.tool_calls
        .iter()
        .map(|c| NormCall {
            name: c.name.clone(),
            args: decode_arguments(&c.arguments),
            raw: c.arguments.clone(),
        })
        .collect()
}

/// Decode wire arguments into a JSON object. A string is parsed (and parsed again when it
/// was double-encoded); an object is taken as is; `""` and null mean `{}` (vLLM's hermes
/// streaming parser drops empty arguments). Anything that does not end as an object is an
/// error saying why.
pub fn decode_arguments(raw: &Value) -> Result<Value, String> {
    let mut v = raw.clone();
    // Two string layers at most: a third is not a server quirk but garbage.
    for layer in 0..3 {
        match v {
            Value::Object(_) => return Ok(v),
            Value::Null => return Ok(Value::Object(Default::default())),
            Value::String(ref s) => {
                let t = s.trim();
                if t.is_empty() {
                    return Ok(Value::Object(Default::default()));
                }
                if layer == 2 {
                    return Err("arguments are a JSON string nested more than twice".into());
                }
                v = serde_json::from_str(t).map_err(|e| {
                    format!(
                        "arguments are not valid JSON: {}",
                        json_error_context(t, &e)
                    )
                })?;
            }
            Value::Array(_) => return Err("arguments are a JSON array, not an object".into()),
            Value::Number(_) | Value::Bool(_) => {
                return Err(format!(
                    "arguments are a JSON {}, not an object",
                    type_name(&v)
                ))
            }
        }
    }
    Err("arguments are a JSON string nested more than twice".into())
}

/// Content with null, `""` and whitespace-only all meaning "no content".
pub fn content(msg: &AssistantMessage) -> Option<&str> {
    msg.content.as_deref().filter(|c| !c.trim().is_empty())
}

/// Reasoning text, when non-blank.
pub fn reasoning(msg: &AssistantMessage) -> Option<&str> {
    msg.reasoning.as_deref().filter(|c| !c.trim().is_empty())
}

/// JSON type name as JSON Schema spells it.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Why `text` is not JSON, with the text just before the place the parser stopped: the
/// reason sits there (a truncated answer ends there), so that part is never cut off.
/// `EOF while parsing a string at line 1 column 41, after …"query": "gold rate in Beng`.
pub fn json_error_context(text: &str, e: &serde_json::Error) -> String {
    let one = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= 100 {
        return format!("{e} in {one}");
    }
    let line = text.lines().nth(e.line().saturating_sub(1)).unwrap_or("");
    let upto: String = line.chars().take(e.column()).collect();
    let n = upto.chars().count();
    let tail: String = upto.chars().skip(n.saturating_sub(60)).collect();
    let tail = tail.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("{e}, after {}{tail}", if n > 60 { "…" } else { "" })
}

/// `s` on one line, at most `n` characters: the first and the last `n / 2` around `…`.
pub fn clip_middle(s: &str, n: usize) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let count = one.chars().count();
    if count <= n {
        return one;
    }
    let head: String = one.chars().take(n / 2).collect();
    let tail: String = one.chars().skip(count - n / 2).collect();
    format!("{head}…{tail}")
}

/// `s` on one line (whitespace runs collapsed) and at most `n` characters, with an ellipsis
/// when cut: for messages and diagnoses.
pub fn clip(s: &str, n: usize) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= n {
        one
    } else {
        let mut out: String = one.chars().take(n).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Issue 18: a diagnosis is never cut where its reason is. A truncated answer breaks at
    /// its end, so the text before the parser's position is what is kept.
    #[test]
    fn invalid_json_shows_the_text_where_it_breaks() {
        let long = format!("{{\"query\": \"{} submit=false", "x".repeat(200));
        let e = serde_json::from_str::<Value>(&long).unwrap_err();
        let c = json_error_context(&long, &e);
        assert!(
            c.starts_with("EOF while parsing a string at line 1 column"),
            "{c}"
        );
        assert!(c.ends_with("xxx submit=false"), "{c}");
        let short = "{'name': 'Arun'}";
        let e = serde_json::from_str::<Value>(short).unwrap_err();
        assert_eq!(
            json_error_context(short, &e),
            "key must be a string at line 1 column 2 in {'name': 'Arun'}"
        );
        let mid = clip_middle(&format!("Remind me {} at 6 pm", "a ".repeat(100)), 40);
        assert!(mid.starts_with("Remind me") && mid.ends_with("at 6 pm") && mid.contains('…'));
    }

    #[test]
    fn every_wire_encoding_decodes() {
        let want = json!({"city": "Tokyo"});
        assert_eq!(
            decode_arguments(&json!("{\"city\":\"Tokyo\"}")).unwrap(),
            want
        );
        assert_eq!(
            decode_arguments(&json!("\"{\\\"city\\\":\\\"Tokyo\\\"}\"")).unwrap(),
            want
        );
        assert_eq!(decode_arguments(&want).unwrap(), want);
        assert_eq!(decode_arguments(&json!("")).unwrap(), json!({}));
        assert_eq!(decode_arguments(&Value::Null).unwrap(), json!({}));
    }

    #[test]
    fn non_objects_and_garbage_are_errors() {
        assert!(decode_arguments(&json!("{\"city\": \"Tok")).is_err());
        assert!(decode_arguments(&json!("[1]"))
            .unwrap_err()
            .contains("array"));
        assert!(decode_arguments(&json!("42")).is_err());
        assert!(decode_arguments(&json!("{'city': 'Tokyo'}")).is_err());
    }
}
