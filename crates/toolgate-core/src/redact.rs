//! Secret redaction at the point of recording. A server may echo the API key (in content, a
//! 401 body, a mid-stream error, a metadata body); whatever it sends, the exact key value
//! never reaches a file or the terminal: it becomes `[redacted:ENV_NAME]`.

use serde_json::Value;

/// The secrets of one run and what each is replaced with.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<Secret>,
}

#[derive(Clone)]
struct Secret {
    raw: String,
    /// The key as it appears inside a serialised JSON string. serde_json escapes char by
    /// char, so any string containing the key contains this in its serialised form.
    escaped: String,
    replacement: String,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl Redactor {
    /// Adds `value` (read from the environment variable `env`); empty values are ignored.
    pub fn add(&mut self, value: &str, env: &str) {
        if value.is_empty() || self.secrets.iter().any(|s| s.raw == value) {
            return;
        }
        let quoted = serde_json::to_string(value).unwrap_or_default();
        let escaped = quoted[1..quoted.len() - 1].to_string();
        self.secrets.push(Secret {
            raw: value.to_string(),
            escaped,
            replacement: format!("[redacted:{env}]"),
        });
        // Longest first, so a key that contains another is replaced whole.
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.raw.len()));
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The text with every secret replaced.
    pub fn redact_str(&self, s: &str) -> String {
        let mut out = s.to_string();
        for sec in &self.secrets {
            if out.contains(&sec.raw) {
                out = out.replace(&sec.raw, &sec.replacement);
            }
        }
        out
    }

    /// Replaces secrets in every string (and object key) of `v`.
    pub fn redact_value(&self, v: &mut Value) {
        if self.is_empty() {
            return;
        }
        match v {
            Value::String(s) if self.secrets.iter().any(|sec| s.contains(&sec.raw)) => {
                *s = self.redact_str(s);
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.redact_value(x)),
            Value::Object(m) => {
                let hit = m
                    .keys()
                    .any(|k| self.secrets.iter().any(|sec| k.contains(&sec.raw)));
                if hit {
                    let old = std::mem::take(m);
                    for (k, mut x) in old {
                        self.redact_value(&mut x);
                        m.insert(self.redact_str(&k), x);
                    }
                } else {
                    m.values_mut().for_each(|x| self.redact_value(x));
                }
            }
            _ => {}
        }
    }

    /// A serialised JSON document with secrets replaced in its strings. The common case
    /// (no secret present) is one substring search per secret and no copy; a hit re-parses
    /// the document and redacts string by string, so the structure can never be damaged.
    pub fn redact_json(&self, json: Vec<u8>) -> Vec<u8> {
        if self.is_empty() {
            return json;
        }
        let Ok(text) = std::str::from_utf8(&json) else {
            return json;
        };
        if !self.secrets.iter().any(|s| text.contains(&s.escaped)) {
            return json;
        }
        match serde_json::from_slice::<Value>(&json) {
            Ok(mut v) => {
                self.redact_value(&mut v);
                serde_json::to_vec(&v).unwrap_or(json)
            }
            // Not one JSON value (never the case for what we serialise): plain text rules.
            Err(_) => {
                let mut out = text.to_string();
                for s in &self.secrets {
                    out = out.replace(&s.escaped, &s.replacement);
                }
                out.into_bytes()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r() -> Redactor {
        let mut r = Redactor::default();
        r.add("sk-secret-123", "MY_KEY");
        r
    }

    #[test]
    fn the_key_and_its_bearer_form_are_replaced_in_strings_and_keys() {
        let mut v = json!({"a": "Incorrect API key provided: Bearer sk-secret-123",
                           "sk-secret-123": ["x sk-secret-123 y", 1, true]});
        r().redact_value(&mut v);
        let s = v.to_string();
        assert!(!s.contains("sk-secret-123"), "{s}");
        assert!(s.contains("Bearer [redacted:MY_KEY]"), "{s}");
    }

    #[test]
    fn a_serialised_line_is_redacted_and_stays_valid_json() {
        let line = serde_json::to_vec(&json!({"c": "echo sk-secret-123", "n": 3})).unwrap();
        let out = r().redact_json(line);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["c"], "echo [redacted:MY_KEY]");
        assert_eq!(v["n"], 3);
    }

    #[test]
    fn a_key_needing_json_escapes_is_found_in_its_escaped_form() {
        let mut r = Redactor::default();
        r.add("ab\"cd\\ef", "K");
        let line = serde_json::to_vec(&json!({"c": "x ab\"cd\\ef y"})).unwrap();
        let out = String::from_utf8(r.redact_json(line)).unwrap();
        assert!(out.contains("x [redacted:K] y"), "{out}");
    }

    #[test]
    fn without_a_hit_the_line_is_returned_untouched() {
        let line = b"{\"c\":\"nothing\"}".to_vec();
        assert_eq!(r().redact_json(line.clone()), line);
    }
}
