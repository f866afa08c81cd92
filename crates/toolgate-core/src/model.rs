//! The resolved data model: suites and cases after loading, with tools files read, schemas
//! compiled and matchers parsed. Graders, the runner and the simulator work on these.

use crate::spec::{ExtraCalls, Order};
use crate::tools::ToolSet;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::spec::KindSpec as CaseKind;

impl CaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseKind::ToolCall => "tool_call",
            CaseKind::Extraction => "extraction",
            CaseKind::Chat => "chat",
            CaseKind::Conversation => "conversation",
        }
    }
}

impl fmt::Display for CaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A loaded suite.
#[derive(Debug, Clone)]
pub struct Suite {
    pub name: String,
    pub kind: CaseKind,
    pub description: Option<String>,
    /// The suite file.
    pub path: PathBuf,
    /// sha256 (hex) of the suite file bytes.
    pub sha256: String,
    /// The tools offered to the model (empty for suites without tools).
    pub tools: Arc<ToolSet>,
    /// Tools file path, when there is one.
    pub tools_path: Option<PathBuf>,
    /// Default prompt name (`prompts/NAME.md.j2`).
    pub prompt: Option<String>,
    pub vars: BTreeMap<String, Value>,
    pub cases: Vec<Case>,
}

impl Suite {
    pub fn case(&self, id: &str) -> Option<&Case> {
        self.cases.iter().find(|c| c.id == id)
    }
}

/// The text of an OpenAI-shape message's `content` as sent on the wire: a string, or the
/// text parts of an array joined by newlines; empty for anything else.
pub fn content_text(m: &Value) -> String {
    match m.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// A chat message in OpenAI shape, ready to send.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub role: Role,
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<HistoryCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Message {
    pub fn user(text: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: Some(text.into()),
            tool_calls: vec![],
            tool_call_id: None,
            name: None,
        }
    }
    pub fn system(text: impl Into<String>) -> Self {
        Message {
            role: Role::System,
            ..Message::user(text)
        }
    }
    pub fn assistant(text: impl Into<String>) -> Self {
        Message {
            role: Role::Assistant,
            ..Message::user(text)
        }
    }

    /// The OpenAI wire form (`tool_calls[].function.arguments` as a JSON string).
    pub fn to_wire(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("role".into(), Value::String(self.role.as_str().into()));
        m.insert(
            "content".into(),
            self.content
                .clone()
                .map(Value::String)
                .unwrap_or(Value::Null),
        );
        if !self.tool_calls.is_empty() {
            let calls: Vec<Value> = self
                .tool_calls
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    serde_json::json!({
                        "id": c.id.clone().unwrap_or_else(|| format!("call_{i}")),
                        "type": "function",
                        "function": {
                            "name": c.name,
                            "arguments": match &c.arguments {
                                Value::String(s) => s.clone(),
                                Value::Null => "{}".to_string(),
                                other => other.to_string(),
                            }
                        }
                    })
                })
                .collect();
            m.insert("tool_calls".into(), Value::Array(calls));
        }
        if let Some(id) = &self.tool_call_id {
            m.insert("tool_call_id".into(), Value::String(id.clone()));
        }
        if let Some(n) = &self.name {
            m.insert("name".into(), Value::String(n.clone()));
        }
        Value::Object(m)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryCall {
    pub id: Option<String>,
    pub name: String,
    pub arguments: Value,
}

/// The input of a case.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseInput {
    /// One request: the messages after the system prompt.
    Messages(Vec<Message>),
    /// A conversation: user turns sent one after another, each with the history so far.
    Turns(Vec<Turn>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub user: String,
    /// Expectation for this turn (the case's own expectation merged in).
    pub expect: Expectation,
}

/// Request parameters of a case (suite defaults with the case's overrides applied).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestParams {
    pub tool_choice: Option<Value>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub seed: Option<i64>,
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<Value>,
    pub extra_body: BTreeMap<String, Value>,
    /// An assistant message appended after the input (continued by the server).
    pub prefill: Option<String>,
}

/// A loaded case.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub kind: CaseKind,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub category: Option<String>,
    pub input: CaseInput,
    pub expect: Expectation,
    pub params: RequestParams,
    /// Variables for the prompt: the suite's, then the case's.
    pub vars: BTreeMap<String, Value>,
    /// 1-based line of the case's `id:` in the suite file.
    pub line: u64,
    /// Hash of the case's input as written (all but `expect`; see `load::case_hashes`).
    pub input_hash: String,
    /// Hash of the case's expectation as written: runs pair a case only when it is equal.
    pub expect_hash: String,
}

impl Case {
    /// The first user text of the case (what a simulator matches on).
    pub fn first_user_text(&self) -> Option<&str> {
        match &self.input {
            CaseInput::Messages(ms) => ms
                .iter()
                .rev()
                .find(|m| m.role == Role::User)
                .and_then(|m| m.content.as_deref()),
            CaseInput::Turns(ts) => ts.first().map(|t| t.user.as_str()),
        }
    }
}

/// Everything a case expects. Any part may be absent; text gates always apply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectation {
    pub tools: Option<ToolExpectation>,
    pub extraction: Option<ExtractExpectation>,
    pub gates: Gates,
    /// `ask: true` / `refuse: true`: the model must ask a clarifying question or decline.
    pub decision: Option<DecisionExpect>,
    /// The case has no `expect` at all: its answers are recorded and never judged.
    pub record_only: bool,
}

/// A decision other than call/answer that a case expects (docs/case-format.md#decisions).
#[derive(Debug, Clone, PartialEq)]
pub enum DecisionExpect {
    /// Ask instead of calling: a required argument cannot be known from the request. When
    /// `mentions` is not empty, the question must contain one of them (`contains_any`).
    Ask { mentions: Vec<String> },
    /// Decline: say it cannot help (e.g. no tool can do it), and call nothing.
    Refuse,
}

/// Tool-call expectation: one or more acceptable alternatives (`any_of`).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolExpectation {
    pub alternatives: Vec<CallSet>,
}

/// One acceptable answer.
#[derive(Debug, Clone, PartialEq)]
pub enum CallSet {
    /// Answer in text, call nothing.
    NoCall,
    Calls {
        calls: Vec<CallExpect>,
        order: Order,
        extra_calls: ExtraCalls,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct CallExpect {
    pub name: String,
    /// Argument name → matcher, in the order written.
    pub args: Vec<(String, Matcher)>,
    /// When true, arguments not named in `args` are a mismatch.
    pub strict_args: bool,
}

/// An argument matcher (docs/case-format.md#argument-matchers).
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Equal by value (numbers by value: `2 == 2.0`).
    Equals(Value),
    /// Case-, whitespace- and NFC-insensitive string equality.
    EqualsCi(String),
    OneOf(Vec<Value>),
    Contains(String),
    ContainsAny(Vec<String>),
    ContainsAll(Vec<String>),
    Regex(RegexMatcher),
    Range(f64, f64),
    Present,
    Absent,
    Schema(SchemaMatcher),
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        use Matcher::*;
        match (self, other) {
            (Equals(a), Equals(b)) => a == b,
            (EqualsCi(a), EqualsCi(b)) => a == b,
            (OneOf(a), OneOf(b)) => a == b,
            (Contains(a), Contains(b)) => a == b,
            (ContainsAny(a), ContainsAny(b)) => a == b,
            (ContainsAll(a), ContainsAll(b)) => a == b,
            (Regex(a), Regex(b)) => a.source == b.source,
            (Range(a1, a2), Range(b1, b2)) => a1 == b1 && a2 == b2,
            (Present, Present) | (Absent, Absent) => true,
            (Schema(a), Schema(b)) => a.schema == b.schema,
            _ => false,
        }
    }
}

impl Matcher {
    /// The operator name as written in case files.
    pub fn op(&self) -> &'static str {
        match self {
            Matcher::Equals(_) => "equals",
            Matcher::EqualsCi(_) => "equals_ci",
            Matcher::OneOf(_) => "one_of",
            Matcher::Contains(_) => "contains",
            Matcher::ContainsAny(_) => "contains_any",
            Matcher::ContainsAll(_) => "contains_all",
            Matcher::Regex(_) => "regex",
            Matcher::Range(..) => "range",
            Matcher::Present => "present",
            Matcher::Absent => "absent",
            Matcher::Schema(_) => "schema",
        }
    }
}

#[derive(Clone)]
pub struct RegexMatcher {
    pub source: String,
    pub regex: regex::Regex,
}

impl fmt::Debug for RegexMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Regex({:?})", self.source)
    }
}

#[derive(Clone)]
pub struct SchemaMatcher {
    pub schema: Value,
    pub validator: Arc<jsonschema::Validator>,
}

impl fmt::Debug for SchemaMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schema({})", self.schema)
    }
}

/// Where extraction JSON is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputSource {
    /// The answer text: whole content, a fenced ```json block, or the first balanced JSON value.
    Content,
    /// The arguments of a call to this tool.
    Tool(String),
}

#[derive(Debug, Clone)]
pub struct ExtractExpectation {
    pub entities: Vec<EntityExpect>,
    pub min_recall: f64,
    pub min_precision: f64,
    pub match_types: bool,
    pub strip_zwj: bool,
    pub output: OutputSource,
    /// The output schema, compiled.
    pub schema: Option<SchemaMatcher>,
    /// Schema file path (for reports).
    pub schema_path: Option<PathBuf>,
}

impl PartialEq for ExtractExpectation {
    fn eq(&self, other: &Self) -> bool {
        self.entities == other.entities
            && self.min_recall == other.min_recall
            && self.min_precision == other.min_precision
            && self.match_types == other.match_types
            && self.strip_zwj == other.strip_zwj
            && self.output == other.output
            && self.schema.as_ref().map(|s| &s.schema) == other.schema.as_ref().map(|s| &s.schema)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityExpect {
    pub name: String,
    pub entity_type: Option<String>,
    pub aliases: Vec<String>,
}

/// Text quality gates (docs/case-format.md#text-gates). Empty lists / false mean "not checked".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gates {
    pub non_empty: bool,
    pub no_markdown: bool,
    pub no_thinking_leak: bool,
    pub contains: Vec<String>,
    pub contains_any: Vec<String>,
    pub not_contains: Vec<String>,
    pub max_words: Option<u32>,
}

impl Gates {
    pub fn is_empty(&self) -> bool {
        *self == Gates::default()
    }
}
