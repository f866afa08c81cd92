//! The oracle: a passing answer for a case, built from its expectation.
//!
//! TEMPORARY fallback: the shared implementation is `toolgate_grade::synth::passing_message`
//! (same signature). This local one covers the common shapes so the simulator works
//! before that lands; [`passing_message`] is the single place to switch over.

use serde_json::{json, Map, Value};
use toolgate_core::model::{CallExpect, CallSet, Case, CaseInput, Expectation, Gates, Matcher};
use toolgate_core::tools::Tool;
use toolgate_core::{AssistantMessage, OutputSource, RawToolCall, Suite};

/// A passing assistant message for `case` (turn `turn` of a conversation, else 0).
pub fn passing_message(suite: &Suite, case: &Case, turn: usize) -> AssistantMessage {
    local_passing_message(suite, case, turn)
}

/// The expectation that applies to `turn`.
pub fn expectation_for(case: &Case, turn: usize) -> &Expectation {
    match &case.input {
        CaseInput::Turns(ts) if !ts.is_empty() => &ts[turn.min(ts.len() - 1)].expect,
        _ => &case.expect,
    }
}

fn local_passing_message(suite: &Suite, case: &Case, turn: usize) -> AssistantMessage {
    let exp = expectation_for(case, turn);
    if let Some(ex) = &exp.extraction {
        let doc = extraction_doc(ex);
        return match &ex.output {
            OutputSource::Tool(name) => AssistantMessage {
                tool_calls: vec![RawToolCall {
                    id: None,
                    name: name.clone(),
                    arguments: Value::String(doc.to_string()),
                }],
                ..Default::default()
            },
            OutputSource::Content => AssistantMessage {
                content: Some(serde_json::to_string_pretty(&doc).unwrap_or_default()),
                ..Default::default()
            },
        };
    }
    if let Some(tx) = &exp.tools {
        // Prefer the first alternative; a call set over a no-call when both are allowed
        // does not matter: any alternative passes.
        match tx.alternatives.first() {
            Some(CallSet::Calls { calls, .. }) => {
                return AssistantMessage {
                    tool_calls: calls
                        .iter()
                        .map(|c| RawToolCall {
                            id: None,
                            name: c.name.clone(),
                            arguments: Value::String(
                                call_args(c, suite.tools.get(&c.name)).to_string(),
                            ),
                        })
                        .collect(),
                    ..Default::default()
                }
            }
            Some(CallSet::NoCall) | None => {}
        }
    }
    AssistantMessage {
        content: Some(text_answer(&exp.gates)),
        ..Default::default()
    }
}

/// A plain-text answer that passes the gates.
pub fn text_answer(g: &Gates) -> String {
    let mut facts: Vec<&str> = g.contains.iter().map(String::as_str).collect();
    if let Some(first) = g.contains_any.first() {
        if !g.contains_any.iter().any(|a| facts.iter().any(|f| f.contains(a.as_str()))) {
            facts.push(first);
        }
    }
    let text = if facts.is_empty() {
        "Sure, happy to help with that.".to_string()
    } else {
        format!("Here is what I found: {}.", facts.join(", "))
    };
    // Respect max_words when the facts allow it.
    match g.max_words {
        Some(max) if text.split_whitespace().count() > max as usize => {
            facts.join(" ")
        }
        _ => text,
    }
}

/// Arguments that satisfy the call's matchers and the tool's schema.
pub fn call_args(c: &CallExpect, tool: Option<&Tool>) -> Value {
    let mut out = Map::new();
    for (name, m) in &c.args {
        let ty = tool.and_then(|t| t.property_types(name)).and_then(|v| v.into_iter().next());
        if let Some(v) = matcher_value(m, ty.as_deref(), tool.and_then(|t| prop_schema(t, name))) {
            out.insert(name.clone(), v);
        }
    }
    if let Some(t) = tool {
        fill_required(&t.parameters, &mut out);
    }
    Value::Object(out)
}

fn prop_schema<'a>(t: &'a Tool, name: &str) -> Option<&'a Value> {
    t.parameters.get("properties")?.get(name)
}

fn matcher_value(m: &Matcher, ty: Option<&str>, schema: Option<&Value>) -> Option<Value> {
    Some(match m {
        Matcher::Equals(v) => v.clone(),
        Matcher::EqualsCi(s) | Matcher::Contains(s) => Value::String(s.clone()),
        Matcher::OneOf(vs) => vs.first().cloned().unwrap_or(Value::Null),
        Matcher::ContainsAny(vs) => Value::String(vs.first().cloned().unwrap_or_default()),
        Matcher::ContainsAll(vs) => Value::String(vs.join(" ")),
        Matcher::Regex(r) => Value::String(regex_example(&r.source, &r.regex)),
        Matcher::Range(lo, hi) => {
            if ty == Some("integer") {
                json!(lo.ceil() as i64)
            } else {
                json!((lo + hi) / 2.0)
            }
        }
        Matcher::Present => schema.map(default_for).unwrap_or(Value::String("x".into())),
        Matcher::Absent => return None,
        Matcher::Schema(s) => default_for(&s.schema),
    })
}

/// A string the regex accepts, for simple literal-ish patterns.
fn regex_example(source: &str, re: &regex::Regex) -> String {
    let stripped = source
        .trim_start_matches("(?i)")
        .trim_start_matches('^')
        .trim_end_matches('$');
    let mut candidates: Vec<String> = vec![stripped.to_string()];
    candidates.extend(stripped.split('|').map(|s| s.trim_matches(['(', ')']).to_string()));
    candidates.push(stripped.replace(['\\', '(', ')', '?', '+', '*', '.'], ""));
    candidates
        .into_iter()
        .find(|c| re.is_match(c))
        .unwrap_or_else(|| "x".to_string())
}

/// Add required properties the matchers did not set.
pub fn fill_required(schema: &Value, out: &mut Map<String, Value>) {
    let props = schema.get("properties");
    if let Some(req) = schema.get("required").and_then(Value::as_array) {
        for r in req.iter().filter_map(Value::as_str) {
            if !out.contains_key(r) {
                let v = props
                    .and_then(|p| p.get(r))
                    .map(default_for)
                    .unwrap_or(Value::String("x".into()));
                out.insert(r.to_string(), v);
            }
        }
    }
}

/// A schema-valid default value (simple schemas).
pub fn default_for(schema: &Value) -> Value {
    if let Some(e) = schema.get("enum").and_then(Value::as_array).and_then(|a| a.first()) {
        return e.clone();
    }
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    if let Some(d) = schema.get("default") {
        return d.clone();
    }
    let ty = match schema.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null"),
        _ => {
            if schema.get("properties").is_some() {
                "object"
            } else {
                "string"
            }
        }
    };
    match ty {
        "object" => {
            let mut m = Map::new();
            fill_required(schema, &mut m);
            Value::Object(m)
        }
        "array" => {
            let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
            let item = schema.get("items").map(default_for).unwrap_or(json!("x"));
            Value::Array((0..min.min(8)).map(|_| item.clone()).collect())
        }
        "integer" => json!(schema.get("minimum").and_then(Value::as_i64).unwrap_or(1)),
        "number" => json!(schema.get("minimum").and_then(Value::as_f64).unwrap_or(1.0)),
        "boolean" => json!(false),
        "null" => Value::Null,
        _ => Value::String("x".into()),
    }
}

/// The extraction JSON: the case's entities in the shape the schema asks for.
fn extraction_doc(ex: &toolgate_core::ExtractExpectation) -> Value {
    let schema = ex.schema.as_ref().map(|s| &s.schema);
    let entity = |e: &toolgate_core::EntityExpect, item_schema: Option<&Value>| {
        let mut m = Map::new();
        m.insert("name".into(), json!(e.name));
        if let Some(t) = &e.entity_type {
            m.insert("type".into(), json!(t));
        }
        if let Some(s) = item_schema {
            fill_required(s, &mut m);
        }
        Value::Object(m)
    };
    // Find the entity array property: an array of objects with a `name` property.
    if let Some(s) = schema {
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            let mut doc = Map::new();
            let mut placed = false;
            for (k, p) in props {
                let items = p.get("items");
                let is_entities = p.get("type").and_then(Value::as_str) == Some("array")
                    && items
                        .and_then(|i| i.get("properties"))
                        .is_some_and(|ip| ip.get("name").is_some());
                if is_entities && !placed {
                    placed = true;
                    doc.insert(
                        k.clone(),
                        Value::Array(ex.entities.iter().map(|e| entity(e, items)).collect()),
                    );
                }
            }
            fill_required(s, &mut doc);
            if placed {
                return Value::Object(doc);
            }
        }
    }
    json!({ "entities": ex.entities.iter().map(|e| entity(e, None)).collect::<Vec<_>>() })
}
