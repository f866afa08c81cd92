//! The inverse of grading: a response that passes a case. Used by the simulator's strong
//! model and by property tests ("a response built from the expectation always passes").
//!
//! Arguments come from the matchers (`equals` → the value, `equals_ci`/`contains` → the
//! string, `one_of`/`contains_any` → the first option, `contains_all` → the items joined,
//! `regex` → a literal read off the pattern and verified, `range` → the midpoint (an integer
//! when the schema says so), `present`/`schema` → a schema-valid value, `absent` → omitted);
//! required schema properties the case does not name get a schema-valid placeholder.

use crate::matchers::check;
use serde_json::{json, Map, Value};
use toolgate_core::tools::Tool;
use toolgate_core::{
    AssistantMessage, CallExpect, CallSet, Case, CaseInput, DecisionExpect, Expectation,
    ExtractExpectation, Gates, Matcher, OutputSource, RawToolCall, Suite,
};

/// A message that passes turn `turn` of `case` (0 for single-turn cases).
pub fn passing_message(suite: &Suite, case: &Case, turn: usize) -> AssistantMessage {
    let exp: &Expectation = match &case.input {
        CaseInput::Turns(ts) => ts.get(turn).map_or(&case.expect, |t| &t.expect),
        CaseInput::Messages(_) => &case.expect,
    };
    match &exp.decision {
        // One short question about the first missing thing the case names.
        Some(DecisionExpect::Ask { mentions }) => {
            let what = mentions.first().map_or("which one", String::as_str);
            return text(format!("Before I go on: {what} do you mean?"));
        }
        Some(DecisionExpect::Refuse) => {
            return text("Sorry, I can't do that from here.".to_string());
        }
        None => {}
    }
    if let Some(t) = &exp.tools {
        if let Some(CallSet::Calls { calls, .. }) = t.alternatives.first() {
            let tool_calls = calls
                .iter()
                .enumerate()
                .map(|(i, c)| RawToolCall {
                    id: Some(format!("call_{i}")),
                    name: c.name.clone(),
                    arguments: Value::String(call_args(suite.tools.get(&c.name), c).to_string()),
                })
                .collect();
            return AssistantMessage {
                content: None,
                tool_calls,
                ..Default::default()
            };
        }
        return text(text_answer(&exp.gates));
    }
    if let Some(x) = &exp.extraction {
        let doc = extraction_doc(x);
        return match &x.output {
            OutputSource::Content => text(doc.to_string()),
            OutputSource::Tool(name) => AssistantMessage {
                content: None,
                tool_calls: vec![RawToolCall {
                    id: Some("call_0".into()),
                    name: name.clone(),
                    arguments: Value::String(doc.to_string()),
                }],
                ..Default::default()
            },
        };
    }
    text(text_answer(&exp.gates))
}

fn text(s: String) -> AssistantMessage {
    AssistantMessage {
        content: Some(s),
        ..Default::default()
    }
}

/// Arguments for one expected call.
pub fn call_args(tool: Option<&Tool>, c: &CallExpect) -> Value {
    let mut args = Map::new();
    let prop = |k: &str| tool.and_then(|t| t.parameters.get("properties")?.get(k));
    for (k, m) in &c.args {
        if matches!(m, Matcher::Absent) {
            continue;
        }
        args.insert(k.clone(), matcher_value(m, prop(k)));
    }
    if !c.strict_args {
        if let Some(req) = tool.and_then(|t| t.parameters.get("required")?.as_array()) {
            for k in req.iter().filter_map(Value::as_str) {
                if !args.contains_key(k) && !c.args.iter().any(|(n, _)| n == k) {
                    args.insert(k.to_string(), placeholder(prop(k)));
                }
            }
        }
    }
    Value::Object(args)
}

fn is_type(schema: Option<&Value>, t: &str) -> bool {
    match schema.and_then(|s| s.get("type")) {
        Some(Value::String(s)) => s == t,
        Some(Value::Array(a)) => a.first().and_then(Value::as_str) == Some(t),
        _ => false,
    }
}

/// A value satisfying `m` (and the property's schema where the matcher leaves room).
pub fn matcher_value(m: &Matcher, schema: Option<&Value>) -> Value {
    let strs = |items: Vec<&String>, joined: String| {
        if is_type(schema, "array") {
            Value::Array(
                items
                    .into_iter()
                    .map(|s| Value::String(s.clone()))
                    .collect(),
            )
        } else {
            Value::String(joined)
        }
    };
    let v = match m {
        Matcher::Equals(v) => v.clone(),
        Matcher::EqualsCi(s) => Value::String(s.clone()),
        Matcher::OneOf(vs) => vs.first().cloned().unwrap_or(Value::Null),
        Matcher::Contains(s) => strs(vec![s], s.clone()),
        Matcher::ContainsAny(items) => strs(
            items.iter().take(1).collect(),
            items.first().cloned().unwrap_or_default(),
        ),
        Matcher::ContainsAll(items) => strs(items.iter().collect(), items.join(" ")),
        Matcher::Regex(r) => {
            let lit = regex_literal(&r.source);
            let mut cands = vec![lit];
            cands.extend(["x", "a", "1", "test", "A1", "abc"].map(String::from));
            Value::String(
                cands
                    .iter()
                    .find(|c| r.regex.is_match(c))
                    .cloned()
                    .unwrap_or_else(|| cands[0].clone()),
            )
        }
        Matcher::Range(lo, hi) => {
            let mid = (lo + hi) / 2.0;
            if is_type(schema, "integer") || (mid.fract() == 0.0 && mid.abs() < 1e15) {
                let mut c = mid.round();
                if c < *lo {
                    c = lo.ceil();
                }
                if c > *hi {
                    c = hi.floor();
                }
                json!(c as i64)
            } else {
                json!(mid)
            }
        }
        Matcher::Present | Matcher::Absent => placeholder(schema),
        Matcher::Schema(sm) => {
            let mut cands = vec![placeholder(Some(&sm.schema)), placeholder(schema)];
            cands.extend([
                json!("x"),
                json!(1),
                json!(0),
                json!(true),
                json!([]),
                json!({}),
                json!(1.5),
                Value::Null,
            ]);
            cands
                .iter()
                .find(|c| sm.validator.is_valid(c))
                .cloned()
                .unwrap_or_else(|| cands[0].clone())
        }
    };
    debug_assert!(!matches!(m, Matcher::Absent) || check(m, None).is_ok());
    v
}

/// A simple value valid for `schema` (best effort: const, enum, type, bounds, formats).
pub fn placeholder(schema: Option<&Value>) -> Value {
    let Some(s) = schema.and_then(Value::as_object) else {
        return json!("x");
    };
    if let Some(c) = s.get("const") {
        return c.clone();
    }
    if let Some(e) = s
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return e.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = s.get(key).and_then(Value::as_array).and_then(|a| a.first()) {
            return placeholder(Some(first));
        }
    }
    let ty = match s.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if s.contains_key("properties") => "object",
        _ => "string",
    };
    let num = |int: bool| {
        let lo = s.get("minimum").and_then(Value::as_f64).or_else(|| {
            s.get("exclusiveMinimum").and_then(Value::as_f64).map(|x| {
                if int {
                    x.floor() + 1.0
                } else {
                    x + 0.5
                }
            })
        });
        let hi = s.get("maximum").and_then(Value::as_f64).or_else(|| {
            s.get("exclusiveMaximum").and_then(Value::as_f64).map(|x| {
                if int {
                    x.ceil() - 1.0
                } else {
                    x - 0.5
                }
            })
        });
        let mut v = lo.unwrap_or(1.0);
        if let Some(h) = hi {
            v = v.min(h);
        }
        if int {
            json!(v.ceil() as i64)
        } else if v.fract() == 0.0 {
            json!(v as i64)
        } else {
            json!(v)
        }
    };
    match ty {
        "integer" => num(true),
        "number" => num(false),
        "boolean" => json!(true),
        "null" => Value::Null,
        "array" => {
            let n = s.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
            let item = placeholder(s.get("items"));
            Value::Array(vec![item; n])
        }
        "object" => {
            let mut o = Map::new();
            if let Some(req) = s.get("required").and_then(Value::as_array) {
                for k in req.iter().filter_map(Value::as_str) {
                    o.insert(
                        k.to_string(),
                        placeholder(s.get("properties").and_then(|p| p.get(k))),
                    );
                }
            }
            Value::Object(o)
        }
        _ => {
            let by_format = match s.get("format").and_then(Value::as_str) {
                Some("date") => Some("2024-01-01"),
                Some("date-time") => Some("2024-01-01T00:00:00Z"),
                Some("time") => Some("12:00:00Z"),
                Some("email") => Some("user@example.com"),
                Some("uri") | Some("url") => Some("https://example.com/"),
                Some("uuid") => Some("00000000-0000-4000-8000-000000000000"),
                _ => None,
            };
            if let Some(f) = by_format {
                return json!(f);
            }
            if let Some(p) = s.get("pattern").and_then(Value::as_str) {
                let lit = regex_literal(p);
                if regex::Regex::new(p).is_ok_and(|r| r.is_match(&lit)) {
                    return json!(lit);
                }
            }
            let n = s
                .get("minLength")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .max(1) as usize;
            json!("x".repeat(n))
        }
    }
}

/// A string the pattern probably matches: flags and anchors stripped, the first top-level
/// alternative kept, groups and quantifiers dropped, escapes and classes replaced by a
/// member. Callers verify it.
pub fn regex_literal(src: &str) -> String {
    let mut s = src;
    while let Some(rest) = s.strip_prefix("(?") {
        match rest.find(')') {
            Some(end)
                if rest[..end]
                    .chars()
                    .all(|c| c.is_ascii_alphabetic() || c == '-') =>
            {
                s = &rest[end + 1..]
            }
            _ => break,
        }
    }
    let s = s
        .strip_prefix('^')
        .or_else(|| s.strip_prefix("\\A"))
        .unwrap_or(s);
    // First top-level alternative.
    let chars: Vec<char> = s.chars().collect();
    let (mut depth, mut cut, mut i) = (0i32, chars.len(), 0);
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            '|' if depth == 0 => {
                cut = i;
                break;
            }
            _ => {}
        }
        i += 1;
    }
    let chars = &chars[..cut];
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if i + 1 < chars.len() => {
                i += 1;
                match chars[i] {
                    'd' => out.push('1'),
                    'w' => out.push('a'),
                    's' => out.push(' '),
                    'b' | 'B' | 'A' | 'z' => {}
                    other => out.push(other),
                }
            }
            '(' => {
                if chars.get(i + 1) == Some(&'?') {
                    // Skip `?:`, `?i:` and the like.
                    while i + 1 < chars.len() && chars[i + 1] != ':' && chars[i + 1] != ')' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            '|' => {
                // First alternative of an inner group: skip to the group's `)`.
                let (mut j, mut d) = (i + 1, 0);
                while j < chars.len() {
                    match chars[j] {
                        '\\' => j += 1,
                        '(' => d += 1,
                        ')' if d == 0 => break,
                        ')' => d -= 1,
                        _ => {}
                    }
                    j += 1;
                }
                i = j;
            }
            ')' | '?' | '*' | '+' | '^' | '$' => {}
            '.' => out.push('x'),
            '{' => {
                while i < chars.len() && chars[i] != '}' {
                    i += 1;
                }
            }
            '[' => {
                let mut j = i + 1;
                if chars.get(j) == Some(&'^') {
                    out.push('#');
                    while j < chars.len() && chars[j] != ']' {
                        j += 1;
                    }
                } else {
                    if chars.get(j) == Some(&'\\') {
                        j += 1;
                    }
                    if let Some(&m) = chars.get(j) {
                        out.push(if chars.get(j - 1) == Some(&'\\') && m == 'd' {
                            '1'
                        } else {
                            m
                        });
                    }
                    while j < chars.len() && chars[j] != ']' {
                        if chars[j] == '\\' {
                            j += 1;
                        }
                        j += 1;
                    }
                }
                i = j;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// The extraction document: `{"entities": [{"name", "type"}]}`, or the bare array form when
/// only that satisfies the output schema.
pub fn extraction_doc(x: &ExtractExpectation) -> Value {
    let items: Vec<Value> = x
        .entities
        .iter()
        .map(|e| json!({"name": e.name, "type": e.entity_type.clone().unwrap_or_else(|| "other".into())}))
        .collect();
    let obj = json!({ "entities": items });
    match &x.schema {
        Some(s)
            if !s.validator.is_valid(&obj)
                && s.validator.is_valid(&Value::Array(items.clone())) =>
        {
            Value::Array(items)
        }
        _ => obj,
    }
}

/// A plain sentence holding every `contains` item and the first `contains_any` item, no
/// markdown, within `max_words` when the items allow it.
pub fn text_answer(g: &Gates) -> String {
    let mut items: Vec<&str> = g.contains.iter().map(String::as_str).collect();
    if let Some(first) = g.contains_any.first() {
        if !items
            .iter()
            .any(|i| toolgate_core::text::fold(i).contains(&toolgate_core::text::fold(first)))
        {
            items.push(first);
        }
    }
    let sentence = if items.is_empty() {
        "Sure, happy to help with that.".to_string()
    } else {
        format!("Here is what I found: {}.", items.join(", "))
    };
    let bare = items.join(" ");
    let over = |s: &str| {
        g.max_words
            .is_some_and(|m| s.split_whitespace().count() > m as usize)
    };
    let forbidden = |s: &str| {
        let f = toolgate_core::text::fold(s);
        g.not_contains
            .iter()
            .any(|n| f.contains(&toolgate_core::text::fold(n)))
    };
    if (over(&sentence) || forbidden(&sentence)) && !bare.is_empty() {
        bare
    } else {
        sentence
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_literals() {
        for (pat, s) in [
            ("(?i)^arun$", "arun"),
            ("^(tokyo|paris)$", "tokyo"),
            ("^\\d{4}-\\d{2}$", "1-1"),
            ("weather in .*", "weather in x"),
        ] {
            assert_eq!(regex_literal(pat), s, "{pat}");
        }
        assert!(regex::Regex::new("(?i)^(bengaluru|bangalore)$")
            .unwrap()
            .is_match(&regex_literal("(?i)^(bengaluru|bangalore)$")));
    }

    #[test]
    fn placeholders_respect_schema() {
        let s = json!({"type": "integer", "minimum": 3, "maximum": 9});
        assert_eq!(placeholder(Some(&s)), json!(3));
        let s = json!({"type": "string", "enum": ["c", "f"]});
        assert_eq!(placeholder(Some(&s)), json!("c"));
        let s =
            json!({"type": "object", "required": ["a"], "properties": {"a": {"type": "boolean"}}});
        assert_eq!(placeholder(Some(&s)), json!({"a": true}));
    }
}
