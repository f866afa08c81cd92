//! The oracle: a passing answer for a case, built from its expectation by
//! `toolgate_grade::synth` (the inverse of grading, so the simulator and the grader cannot
//! drift apart), plus small schema helpers the transforms share.

use serde_json::{json, Map, Value};
use toolgate_core::model::{Case, CaseInput, Expectation};
use toolgate_core::{AssistantMessage, Suite};

/// A passing assistant message for `case` (turn `turn` of a conversation, else 0).
pub fn passing_message(suite: &Suite, case: &Case, turn: usize) -> AssistantMessage {
    toolgate_grade::synth::passing_message(suite, case, turn)
}

/// The expectation that applies to `turn`.
pub fn expectation_for(case: &Case, turn: usize) -> &Expectation {
    match &case.input {
        CaseInput::Turns(ts) if !ts.is_empty() => &ts[turn.min(ts.len() - 1)].expect,
        _ => &case.expect,
    }
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
    if let Some(e) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
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
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
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
