//! Shared fixtures: a small suite set built in code (independent of the golden cases).
#![allow(dead_code)]

pub mod client;

use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use toolgate_core::model::*;
use toolgate_core::spec::{ExtraCalls, Order};
use toolgate_core::tools::{compile_schema, parse_tools, ToolSet};

pub fn tools() -> ToolSet {
    parse_tools(&json!([
        {"type": "function", "function": {"name": "web_search", "description": "Search the web",
         "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}},
        {"type": "function", "function": {"name": "search_memory", "description": "Search memory",
         "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer", "minimum": 1, "maximum": 20}}, "required": ["query"]}}},
        {"type": "function", "function": {"name": "get_entity_details", "description": "Entity details",
         "parameters": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"], "additionalProperties": false}}}
    ]))
    .unwrap()
}

fn case(id: &str, kind: CaseKind, user: &str, expect: Expectation, tags: &[&str]) -> Case {
    Case {
        id: id.into(),
        kind,
        description: None,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        category: None,
        input: CaseInput::Messages(vec![Message::user(user)]),
        expect,
        params: RequestParams::default(),
        vars: BTreeMap::new(),
        line: 1,
        input_hash: String::new(),
        expect_hash: String::new(),
    }
}

fn calls(cs: Vec<CallExpect>) -> Expectation {
    Expectation {
        tools: Some(ToolExpectation {
            alternatives: vec![CallSet::Calls {
                calls: cs,
                order: Order::Any,
                extra_calls: ExtraCalls::Forbid,
            }],
        }),
        ..Default::default()
    }
}

fn call(name: &str, args: Vec<(&str, Matcher)>) -> CallExpect {
    CallExpect {
        name: name.into(),
        args: args.into_iter().map(|(k, m)| (k.to_string(), m)).collect(),
        strict_args: false,
    }
}

pub fn tool_suite() -> Suite {
    let cases = vec![
        case(
            "entity-arun",
            CaseKind::ToolCall,
            "Tell me about Arun",
            calls(vec![call(
                "get_entity_details",
                vec![("name", Matcher::EqualsCi("Arun".into()))],
            )]),
            &["entity"],
        ),
        case(
            "memory-and-web",
            CaseKind::ToolCall,
            "What did Priya say, and what's the weather in Mysuru?",
            calls(vec![
                call(
                    "search_memory",
                    vec![("query", Matcher::ContainsAny(vec!["priya".into()]))],
                ),
                call(
                    "web_search",
                    vec![("query", Matcher::Contains("Mysuru".into()))],
                ),
            ]),
            &["parallel"],
        ),
        case(
            "greeting",
            CaseKind::ToolCall,
            "Good morning!",
            Expectation {
                tools: Some(ToolExpectation {
                    alternatives: vec![CallSet::NoCall],
                }),
                ..Default::default()
            },
            &[],
        ),
    ];
    Suite {
        name: "tool-routing".into(),
        kind: CaseKind::ToolCall,
        description: None,
        path: PathBuf::from("cases/tool-routing.yaml"),
        sha256: String::new(),
        tools: Arc::new(tools()),
        tools_path: None,
        prompt: None,
        vars: BTreeMap::new(),
        cases,
    }
}

pub fn extraction_suite() -> Suite {
    let schema = json!({
        "type": "object",
        "required": ["entities"],
        "properties": {"entities": {"type": "array", "items": {
            "type": "object", "required": ["name", "type"],
            "properties": {"name": {"type": "string"}, "type": {"type": "string", "enum": ["person", "place", "org"]}}
        }}}
    });
    let ent = |n: &str, t: &str| EntityExpect {
        name: n.into(),
        entity_type: Some(t.into()),
        aliases: vec![],
    };
    let expect = Expectation {
        extraction: Some(ExtractExpectation {
            entities: vec![
                ent("Priya", "person"),
                ent("Bengaluru", "place"),
                ent("Infosys", "org"),
            ],
            min_recall: 1.0,
            min_precision: 0.8,
            match_types: true,
            strip_zwj: false,
            output: OutputSource::Content,
            schema: Some(SchemaMatcher {
                validator: Arc::new(compile_schema(&schema).unwrap()),
                schema,
            }),
            schema_path: None,
        }),
        ..Default::default()
    };
    Suite {
        name: "entities".into(),
        kind: CaseKind::Extraction,
        description: None,
        path: PathBuf::from("cases/entities.yaml"),
        sha256: String::new(),
        tools: Arc::new(ToolSet::default()),
        tools_path: None,
        prompt: None,
        vars: BTreeMap::new(),
        cases: vec![case(
            "transcript-1",
            CaseKind::Extraction,
            "Priya moved from Bengaluru to join Infosys last year.",
            expect,
            &[],
        )],
    }
}

pub fn chat_suite() -> Suite {
    let gates = Gates {
        non_empty: true,
        no_markdown: true,
        no_thinking_leak: true,
        contains: vec![],
        contains_any: vec!["Bengaluru".into(), "Bangalore".into()],
        not_contains: vec![],
        max_words: Some(30),
    };
    let mut c = case(
        "capital-karnataka",
        CaseKind::Chat,
        "What is the capital of Karnataka?",
        Expectation {
            gates,
            ..Default::default()
        },
        &["kannada"],
    );
    c.category = Some("factual_question".into());
    Suite {
        name: "quality".into(),
        kind: CaseKind::Chat,
        description: None,
        path: PathBuf::from("cases/quality.yaml"),
        sha256: String::new(),
        tools: Arc::new(ToolSet::default()),
        tools_path: None,
        prompt: None,
        vars: BTreeMap::new(),
        cases: vec![c],
    }
}

pub fn all_suites() -> Vec<Suite> {
    vec![tool_suite(), extraction_suite(), chat_suite()]
}

pub fn conversation_suite() -> Suite {
    let turn = |u: &str, fact: &str| Turn {
        user: u.into(),
        expect: Expectation {
            gates: Gates {
                contains_any: vec![fact.into()],
                ..Default::default()
            },
            ..Default::default()
        },
    };
    let c = Case {
        id: "trip-plan".into(),
        kind: CaseKind::Conversation,
        description: None,
        tags: vec![],
        category: Some("conversational".into()),
        input: CaseInput::Turns(vec![
            turn("Plan a day in Mysuru", "palace"),
            turn("What should I eat there?", "dosa"),
        ]),
        expect: Expectation::default(),
        params: RequestParams::default(),
        vars: BTreeMap::new(),
        line: 1,
        input_hash: String::new(),
        expect_hash: String::new(),
    };
    Suite {
        name: "multi-turn".into(),
        kind: CaseKind::Conversation,
        description: None,
        path: PathBuf::from("cases/multi-turn.yaml"),
        sha256: String::new(),
        tools: Arc::new(ToolSet::default()),
        tools_path: None,
        prompt: None,
        vars: BTreeMap::new(),
        cases: vec![c],
    }
}
