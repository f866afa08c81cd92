//! The case-file format as written (docs/case-format.md): the serde shape of a suite YAML file.
//! These types deny unknown fields and keep source spans for the values that semantic
//! checks point at. [`crate::load`] turns them into the resolved [`crate::model`].
//!
//! Kept flat on purpose: serde `flatten` and untagged enums lose saphyr's spans.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// A suite file: a YAML file of cases of one kind with shared tools, prompt and schema.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "toolgate suite file")]
pub struct SuiteSpec {
    /// Suite name, unique across the cases folder.
    #[schemars(with = "String")]
    pub suite: Spanned<String>,
    /// `tool_call` | `extraction` | `chat` | `conversation`.
    #[schemars(with = "KindSpec")]
    pub kind: Spanned<KindSpec>,
    #[serde(default)]
    pub description: Option<String>,
    /// Tools file (OpenAI `tools` array or MCP `tools/list` result), relative to this file;
    /// `none`: the requests offer no tools (measures calls hallucinated with an empty toolset).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub tools: Option<Spanned<String>>,
    /// Prompt template name: `prompts/NAME.md.j2`. A run can override it.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub prompt: Option<Spanned<String>>,
    /// JSON Schema file for extraction output, relative to this file.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub schema: Option<Spanned<String>>,
    /// Where extraction JSON comes from: `content` (default) or `tool:NAME`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub output: Option<Spanned<String>>,
    /// Template variables for the prompt (and `user_template`).
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    /// Minijinja template that turns a case's `input:` into the user message.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub user_template: Option<Spanned<String>>,
    #[serde(default)]
    pub defaults: DefaultsSpec,
    pub cases: Vec<CaseSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KindSpec {
    ToolCall,
    Extraction,
    Chat,
    Conversation,
}

/// Request parameters and expectations shared by every case of a suite.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultsSpec {
    /// `auto` | `none` | `required` | `{type: function, function: {name: …}}`.
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub seed: Option<i64>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// OpenAI `response_format` sent as is (e.g. `{type: json_object}`).
    #[serde(default)]
    pub response_format: Option<Value>,
    /// Extra request-body fields for every case of this suite.
    #[serde(default)]
    pub extra_body: BTreeMap<String, Value>,
    /// Expectations (mostly text gates) applied to every case.
    #[serde(default)]
    pub expect: Option<ExpectSpec>,
    #[serde(default)]
    pub strict_args: Option<bool>,
    /// An assistant message appended after the user turn (a prefill the server continues).
    #[serde(default)]
    pub prefill: Option<String>,
}

/// One case.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseSpec {
    /// Stable id, unique in its suite.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Shorthand for one user message.
    #[serde(default)]
    pub user: Option<String>,
    /// A full history (system / user / assistant with tool_calls / tool results).
    #[serde(default)]
    pub messages: Option<Vec<MessageSpec>>,
    /// Placed into the suite's `user_template`.
    #[serde(default)]
    pub input: Option<String>,
    /// `conversation` cases: the user turns, sent one after another with the growing history.
    #[serde(default)]
    pub turns: Option<Vec<TurnSpec>>,
    #[serde(default)]
    pub expect: Option<ExpectSpec>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Chat category (`simple_greeting`, `factual_question`, …) for latency grouping.
    #[serde(default)]
    pub category: Option<String>,
    /// Per-case kind override (a single extraction case in a tool_call suite, say).
    #[serde(default)]
    #[schemars(with = "Option<KindSpec>")]
    pub kind: Option<Spanned<KindSpec>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub schema: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub output: Option<Spanned<String>>,
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub response_format: Option<Value>,
    #[serde(default)]
    pub strict_args: Option<bool>,
    #[serde(default)]
    pub prefill: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleSpec {
    System,
    User,
    Assistant,
    Tool,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageSpec {
    pub role: RoleSpec,
    #[serde(default)]
    pub content: Option<String>,
    /// Assistant messages: calls made earlier in the history.
    #[serde(default)]
    pub tool_calls: Option<Vec<HistoryCallSpec>>,
    /// Tool messages: the id of the call this result answers.
    #[serde(default)]
    pub tool_call_id: Option<String>,
    /// Tool messages: the tool's name (some servers want it).
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryCallSpec {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    /// Arguments as an object (sent JSON-encoded, as OpenAI expects).
    #[serde(default)]
    pub arguments: Value,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TurnSpec {
    pub user: String,
    /// Gates for this turn's answer (in addition to the case's `expect`, which applies to
    /// every turn).
    #[serde(default)]
    pub expect: Option<ExpectSpec>,
}

/// `order:` of expected calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    #[default]
    Any,
    Exact,
}

/// `extra_calls:` policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExtraCalls {
    #[default]
    Forbid,
    Allow,
}

/// Expectations. One flat map: tool-call keys, extraction keys and text gates may all
/// appear; the loader checks which combinations make sense for the case's kind.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// Calls that must be made.
    #[serde(default)]
    pub calls: Option<Vec<CallSpec>>,
    /// True: the model must answer without calling a tool.
    #[serde(default)]
    pub no_call: Option<bool>,
    #[serde(default)]
    pub order: Option<Order>,
    #[serde(default)]
    pub extra_calls: Option<ExtraCalls>,
    /// Acceptable alternatives, each `{calls: …}` or `{no_call: true}`.
    #[serde(default)]
    pub any_of: Option<Vec<ExpectSpec>>,
    #[serde(default)]
    pub strict_args: Option<bool>,
    /// True: the model must ask a clarifying question instead of calling or answering
    /// (a required argument cannot be known from the request).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub ask: Option<Spanned<bool>>,
    /// With `ask`: the question must mention one of these (case-insensitive, like `contains_any`).
    #[serde(default)]
    #[schemars(with = "Option<StringOrList>")]
    pub mentions: Option<Spanned<StringOrList>>,
    /// True: the model must decline (say it cannot help) and call nothing.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub refuse: Option<Spanned<bool>>,

    /// Extraction: the entities that must be found.
    #[serde(default)]
    pub entities: Option<Vec<EntitySpec>>,
    #[serde(default)]
    pub min_recall: Option<f64>,
    #[serde(default)]
    pub min_precision: Option<f64>,
    /// Compare entity types (default true).
    #[serde(default)]
    pub match_types: Option<bool>,
    /// Strip zero-width joiners/non-joiners before comparing names (default false).
    #[serde(default)]
    pub strip_zwj: Option<bool>,

    /// Text gates.
    #[serde(default)]
    pub non_empty: Option<bool>,
    #[serde(default)]
    pub no_markdown: Option<bool>,
    #[serde(default)]
    pub no_thinking_leak: Option<bool>,
    #[serde(default)]
    pub contains: Option<StringOrList>,
    #[serde(default)]
    pub contains_any: Option<StringOrList>,
    #[serde(default)]
    pub not_contains: Option<StringOrList>,
    #[serde(default)]
    pub max_words: Option<u32>,
}

/// A string or a list of strings.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            StringOrList::One(s) => vec![s],
            StringOrList::Many(v) => v,
        }
    }
}

/// One expected call.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallSpec {
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Argument name → matcher. A plain value means equal; an object with one operator key
    /// (`equals`, `equals_ci`, `one_of`, `contains`, `contains_any`, `contains_all`, `regex`,
    /// `range`, `present`, `absent`, `schema`) applies that operator.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, Value>>")]
    pub args: Option<IndexMap<String, Spanned<Value>>>,
    #[serde(default)]
    pub strict_args: Option<bool>,
}

/// An expected entity.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EntitySpec {
    pub name: String,
    #[serde(default, rename = "type")]
    pub entity_type: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// Generate the JSON Schema of the suite-file format (committed as
/// `golden/schemas/case-file.schema.json`).
pub fn case_file_schema() -> Value {
    let schema = schemars::schema_for!(SuiteSpec);
    serde_json::to_value(schema).expect("schema serialises")
}
