//! Test fixtures: suites and cases built directly from the core model types, and recorded
//! responses in the shapes real servers send (as in golden/recorded/).
#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use toolgate_core::spec::{ExtraCalls, Order};
use toolgate_core::tools::{compile_schema, parse_tools, ToolSet};
use toolgate_core::*;

pub fn tools() -> Arc<ToolSet> {
    let doc = json!([
        {"type": "function", "function": {"name": "web_search", "description": "Search the web for up-to-date information.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}},
        {"type": "function", "function": {"name": "search_memory", "description": "Search the user's personal memory store.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}},
        {"type": "function", "function": {"name": "get_entity_details", "description": "Get stored details about a named entity.",
            "parameters": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}},
        {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.",
            "parameters": {"type": "object", "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7}},
              "required": ["city"], "additionalProperties": false}}},
        {"type": "function", "function": {"name": "set_timer", "description": "Start a timer.",
            "parameters": {"type": "object", "properties": {
                "minutes": {"type": "integer", "minimum": 0},
                "label": {"type": "string"},
                "loud": {"type": "boolean"}},
              "required": ["minutes"]}}},
        {"name": "get_time", "description": "Current time (MCP shape, no arguments).", "inputSchema": {"type": "object", "properties": {}}},
        {"type": "function", "function": {"name": "save_entities", "description": "Store extracted entities.",
            "parameters": {"type": "object", "properties": {"entities": {"type": "array"}}, "required": ["entities"]}}}
    ]);
    // Mixed shapes on purpose: parse_tools takes the array either way.
    Arc::new(parse_tools(&doc).expect("tools parse"))
}

pub fn suite(name: &str, kind: CaseKind, cases: Vec<Case>) -> Suite {
    Suite {
        name: name.into(),
        kind,
        description: None,
        path: PathBuf::from(format!("cases/{name}.yaml")),
        sha256: String::new(),
        tools: tools(),
        tools_path: None,
        prompt: None,
        vars: BTreeMap::new(),
        cases,
    }
}

pub fn case(id: &str, kind: CaseKind, expect: Expectation) -> Case {
    Case {
        id: id.into(),
        kind,
        description: None,
        tags: vec![],
        category: None,
        input: CaseInput::Messages(vec![Message::user(format!("input of {id}"))]),
        expect,
        params: RequestParams::default(),
        vars: BTreeMap::new(),
        line: 1,
        input_hash: String::new(),
        expect_hash: String::new(),
    }
}

pub fn call(name: &str, args: Vec<(&str, Matcher)>) -> CallExpect {
    CallExpect {
        name: name.into(),
        args: args.into_iter().map(|(k, m)| (k.to_string(), m)).collect(),
        strict_args: false,
    }
}

pub fn calls(cs: Vec<CallExpect>) -> CallSet {
    CallSet::Calls {
        calls: cs,
        order: Order::Any,
        extra_calls: ExtraCalls::Forbid,
    }
}

pub fn expect_alts(alts: Vec<CallSet>) -> Expectation {
    Expectation {
        tools: Some(ToolExpectation { alternatives: alts }),
        ..Default::default()
    }
}

pub fn expect_calls(cs: Vec<CallExpect>) -> Expectation {
    expect_alts(vec![calls(cs)])
}

pub fn regex(src: &str) -> Matcher {
    Matcher::Regex(RegexMatcher {
        source: src.into(),
        regex: regex::Regex::new(src).unwrap(),
    })
}

pub fn schema_matcher(v: Value) -> SchemaMatcher {
    SchemaMatcher {
        validator: Arc::new(compile_schema(&v).unwrap()),
        schema: v,
    }
}

pub fn entity(name: &str, ty: &str, aliases: &[&str]) -> EntityExpect {
    EntityExpect {
        name: name.into(),
        entity_type: Some(ty.into()),
        aliases: aliases.iter().map(|s| s.to_string()).collect(),
    }
}

pub fn entities_schema() -> SchemaMatcher {
    schema_matcher(json!({
        "type": "object",
        "required": ["entities"],
        "properties": {"entities": {"type": "array", "items": {
            "type": "object", "required": ["name", "type"],
            "properties": {"name": {"type": "string"}, "type": {"type": "string"}}}}}
    }))
}

pub fn extraction(output: OutputSource) -> Expectation {
    Expectation {
        extraction: Some(ExtractExpectation {
            entities: vec![
                entity("Priya", "person", &["ಪ್ರಿಯಾ"]),
                entity("Bengaluru", "place", &["Bangalore", "ಬೆಂಗಳೂರು"]),
            ],
            min_recall: 1.0,
            min_precision: 0.8,
            match_types: true,
            strip_zwj: false,
            output,
            schema: Some(entities_schema()),
            schema_path: None,
        }),
        ..Default::default()
    }
}

pub fn gates(g: Gates) -> Expectation {
    Expectation {
        gates: g,
        ..Default::default()
    }
}

// --- recorded messages -----------------------------------------------------------------

/// OpenAI/vLLM/llama.cpp shape: arguments as a JSON string.
pub fn tc(name: &str, args: &str) -> RawToolCall {
    RawToolCall {
        id: Some(format!("chatcmpl-tool-{name}")),
        name: name.into(),
        arguments: Value::String(args.into()),
    }
}

/// Ollama native shape: arguments as an object.
pub fn tc_obj(name: &str, args: Value) -> RawToolCall {
    RawToolCall {
        id: Some("call_k3j9x0qa".into()),
        name: name.into(),
        arguments: args,
    }
}

pub fn msg_calls(content: Option<&str>, calls: Vec<RawToolCall>) -> AssistantMessage {
    AssistantMessage {
        content: content.map(String::from),
        tool_calls: calls,
        ..Default::default()
    }
}

pub fn msg_text(content: &str) -> AssistantMessage {
    AssistantMessage {
        content: Some(content.into()),
        ..Default::default()
    }
}

pub fn with_reasoning(mut m: AssistantMessage, field: &str, r: &str) -> AssistantMessage {
    m.reasoning = Some(r.into());
    m.reasoning_field = Some(field.into());
    m
}

pub fn record(suite: &Suite, case: &Case, turns: Vec<(AssistantMessage, &str)>) -> ResponseRecord {
    ResponseRecord {
        key: TrialKey {
            target: "local".into(),
            suite: suite.name.clone().into(),
            case: case.id.clone().into(),
            prompt: "voice-assistant".into(),
            variant: "thinking=off".into(),
            repeat: 0,
        },
        kind: case.kind.as_str().into(),
        category: None,
        request: RequestSummary::default(),
        turns: turns
            .into_iter()
            .enumerate()
            .map(|(i, (m, fin))| TurnRecord {
                turn: i as u32,
                message: Some(m),
                finish_reason: Some(fin.into()),
                ..Default::default()
            })
            .collect(),
        error: None,
        retries: vec![],
        started_at: String::new(),
        warmup: false,
        input_hash: None,
        expect_hash: None,
    }
}

pub fn error_record(
    suite: &Suite,
    case: &Case,
    kind: ErrorKind,
    message: &str,
    turn: u32,
) -> ResponseRecord {
    let mut r = record(suite, case, vec![]);
    r.error = Some(InfraError {
        kind,
        message: message.into(),
        status: None,
        body: None,
        turn,
    });
    r
}
