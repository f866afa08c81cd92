//! Script files: one scripted "model" per file (format in the crate docs and
//! `golden/sim/README.md`). Parsed once into [`Script`]; matching a request against the
//! rules is allocation-free apart from the regex engine.

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use toolgate_core::CaseKind;

/// The wire dialect a script answers in (response shapes as in golden/recorded/).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    #[default]
    Vllm,
    Llamacpp,
    Ollama,
    Openai,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Vllm => "vllm",
            Dialect::Llamacpp => "llamacpp",
            Dialect::Ollama => "ollama",
            Dialect::Openai => "openai",
        }
    }
}

impl FromStr for Dialect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "vllm" | "sglang" | "nim" => Ok(Dialect::Vllm),
            "llamacpp" | "llama.cpp" | "llama-server" => Ok(Dialect::Llamacpp),
            "ollama" => Ok(Dialect::Ollama),
            "openai" => Ok(Dialect::Openai),
            other => Err(format!(
                "unknown dialect `{other}` (expected vllm, llamacpp, ollama or openai)"
            )),
        }
    }
}

/// Wire-level faults (golden/sim/README.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    #[serde(rename = "http_500")]
    Http500,
    #[serde(rename = "http_503")]
    Http503,
    #[serde(rename = "http_429")]
    Http429,
    #[serde(rename = "http_400")]
    Http400,
    CloseMidStream,
    NoDone,
    NoFinish,
    LlamacppErrorLine,
    VllmErrorEvent,
    HtmlError,
    #[serde(rename = "html_200")]
    Html200,
    Stall,
    MalformedJson,
    SlowFirstByte,
    HugeBody,
    Reset,
}

impl Fault {
    pub const ALL: [Fault; 16] = [
        Fault::Http500,
        Fault::Http503,
        Fault::Http429,
        Fault::Http400,
        Fault::CloseMidStream,
        Fault::NoDone,
        Fault::NoFinish,
        Fault::LlamacppErrorLine,
        Fault::VllmErrorEvent,
        Fault::HtmlError,
        Fault::Html200,
        Fault::Stall,
        Fault::MalformedJson,
        Fault::SlowFirstByte,
        Fault::HugeBody,
        Fault::Reset,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Http500 => "http_500",
            Fault::Http503 => "http_503",
            Fault::Http429 => "http_429",
            Fault::Http400 => "http_400",
            Fault::CloseMidStream => "close_mid_stream",
            Fault::NoDone => "no_done",
            Fault::NoFinish => "no_finish",
            Fault::LlamacppErrorLine => "llamacpp_error_line",
            Fault::VllmErrorEvent => "vllm_error_event",
            Fault::HtmlError => "html_error",
            Fault::Html200 => "html_200",
            Fault::Stall => "stall",
            Fault::MalformedJson => "malformed_json",
            Fault::SlowFirstByte => "slow_first_byte",
            Fault::HugeBody => "huge_body",
            Fault::Reset => "reset",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fault with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultSpec {
    pub fault: Fault,
    /// `Retry-After` seconds (429 / 503).
    pub retry_after: Option<u64>,
    /// Delay for `slow_first_byte` (default 2000 ms).
    pub ms: Option<u64>,
    /// Content bytes for `huge_body` (default 1 GiB).
    pub bytes: Option<u64>,
}

impl FaultSpec {
    pub fn new(fault: Fault) -> Self {
        FaultSpec {
            fault,
            retry_after: None,
            ms: None,
            bytes: None,
        }
    }
}

impl FromStr for FaultSpec {
    type Err = String;
    /// `name` or `name:N`, where N is the fault's one parameter (`retry_after` seconds for
    /// 429/503, `ms` for `slow_first_byte`, `bytes` for `huge_body`). Used by the
    /// `x-toolgate-fault` request header.
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, param) = match s.split_once([':', '=']) {
            Some((n, p)) => (n.trim(), Some(p.trim())),
            None => (s.trim(), None),
        };
        let fault = Fault::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
            .ok_or_else(|| format!("unknown fault `{name}`"))?;
        let mut spec = FaultSpec::new(fault);
        if let Some(p) = param {
            let n: u64 = p
                .parse()
                .map_err(|_| format!("fault parameter `{p}` is not a whole number"))?;
            match fault {
                Fault::Http429 | Fault::Http503 => spec.retry_after = Some(n),
                Fault::SlowFirstByte => spec.ms = Some(n),
                Fault::HugeBody => spec.bytes = Some(n),
                _ => return Err(format!("fault `{name}` takes no parameter")),
            }
        }
        Ok(spec)
    }
}

/// How tool calls are written as text by `call_in_content`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallFormat {
    #[default]
    Hermes,
    QwenXml,
    Mistral,
    LlamaJson,
    Pythonic,
    BareJson,
}

/// The transform names of `do:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum TransformName {
    Oracle,
    AnswerInText,
    WrongTool,
    CallInContent,
    ReasoningOnly,
    ThinkingLeak,
    Markdown,
    DropCall,
    ExtraCall,
    WrongArg,
    ArgsInvalidJson,
    ArgsSchemaViolation,
    HallucinateTool,
    UnexpectedCall,
    Truncate,
    Empty,
    DropEntity,
    SpuriousEntity,
    WrongEntityType,
    InvalidJsonOutput,
    DropFact,
    Verbose,
}

/// A transform of the oracle's passing answer, with its parameters. Each one produces a
/// response toolgate's graders classify as the failure it is named after.
#[derive(Debug, Clone, PartialEq)]
pub enum Transform {
    Oracle,
    AnswerInText {
        text: Option<String>,
    },
    WrongTool {
        tool: Option<String>,
    },
    CallInContent {
        format: CallFormat,
    },
    ReasoningOnly,
    ThinkingLeak,
    Markdown,
    DropCall,
    ExtraCall {
        tool: Option<String>,
    },
    WrongArg {
        arg: Option<String>,
        value: Option<Value>,
    },
    ArgsInvalidJson,
    ArgsSchemaViolation {
        arg: Option<String>,
    },
    HallucinateTool {
        tool: Option<String>,
    },
    UnexpectedCall {
        tool: Option<String>,
        arguments: Option<Value>,
    },
    Truncate,
    Empty,
    DropEntity {
        count: usize,
    },
    SpuriousEntity {
        name: Option<String>,
        entity_type: Option<String>,
    },
    WrongEntityType {
        name: Option<String>,
        entity_type: Option<String>,
    },
    InvalidJsonOutput,
    DropFact,
    Verbose {
        words: Option<u32>,
    },
}

/// An explicit reply (instead of the oracle).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reply {
    pub content: Option<String>,
    pub reasoning: Option<String>,
    /// (name, arguments as sent: a JSON string).
    pub tool_calls: Vec<(String, String)>,
    pub finish_reason: Option<String>,
}

/// What a matching rule does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Transform(Transform),
    Reply(Reply),
    Fault(FaultSpec),
}

/// `*` globs, precompiled into literal parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Glob {
    parts: Vec<String>,
    anchored_start: bool,
    anchored_end: bool,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob {
            parts: pattern
                .split('*')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect(),
            anchored_start: !pattern.starts_with('*'),
            anchored_end: !pattern.ends_with('*'),
        }
    }

    pub fn matches(&self, s: &str) -> bool {
        if self.parts.is_empty() {
            // "" matches only ""; "*" (or "**") matches anything.
            return !(self.anchored_start && self.anchored_end) || s.is_empty();
        }
        let mut rest = s;
        let last = self.parts.len() - 1;
        for (i, part) in self.parts.iter().enumerate() {
            if i == 0 && self.anchored_start {
                if !rest.starts_with(part.as_str()) {
                    return false;
                }
                rest = &rest[part.len()..];
                if i == last && self.anchored_end {
                    return rest.is_empty();
                }
                continue;
            }
            if i == last && self.anchored_end {
                return rest.len() >= part.len() && rest.ends_with(part.as_str());
            }
            match rest.find(part.as_str()) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
        true
    }
}

/// The `match:` part of a rule. Every field present must hold.
#[derive(Debug, Clone, Default)]
pub struct RuleMatch {
    pub suite: Vec<Glob>,
    pub case: Vec<Glob>,
    pub tag: Vec<Glob>,
    pub kind: Option<CaseKind>,
    pub user_contains: Option<String>,
    pub user_regex: Option<regex::Regex>,
    /// The rendered system prompt contains this (case-insensitive): lets a script answer
    /// prompt A differently from prompt B.
    pub system_contains: Option<String>,
    pub thinking: Option<bool>,
    pub stream: Option<bool>,
    pub turn: Option<u32>,
    pub dialect: Option<Dialect>,
}

/// What a rule is matched against.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub suite: Option<&'a str>,
    pub case: Option<&'a str>,
    pub tags: &'a [String],
    pub kind: Option<CaseKind>,
    /// The last user message's text.
    pub user: &'a str,
    /// The first system message's text (`""` without one).
    pub system: &'a str,
    pub thinking: bool,
    pub stream: bool,
    pub turn: u32,
    pub dialect: Dialect,
}

impl RuleMatch {
    pub fn matches(&self, f: &RequestFacts<'_>) -> bool {
        fn any(globs: &[Glob], v: Option<&str>) -> bool {
            globs.is_empty() || v.is_some_and(|v| globs.iter().any(|g| g.matches(v)))
        }
        any(&self.suite, f.suite)
            && any(&self.case, f.case)
            && (self.tag.is_empty() || f.tags.iter().any(|t| self.tag.iter().any(|g| g.matches(t))))
            && self.kind.is_none_or(|k| f.kind == Some(k))
            && self
                .user_contains
                .as_ref()
                .is_none_or(|s| f.user.to_lowercase().contains(&s.to_lowercase()))
            && self.user_regex.as_ref().is_none_or(|r| r.is_match(f.user))
            && self
                .system_contains
                .as_ref()
                .is_none_or(|s| f.system.to_lowercase().contains(&s.to_lowercase()))
            && self.thinking.is_none_or(|t| t == f.thinking)
            && self.stream.is_none_or(|s| s == f.stream)
            && self.turn.is_none_or(|t| t == f.turn)
            && self.dialect.is_none_or(|d| d == f.dialect)
    }
}

/// One rule: first matching rule wins.
#[derive(Debug, Clone)]
pub struct Rule {
    pub matcher: RuleMatch,
    pub action: Action,
    /// 1-based line of the rule in its file.
    pub line: u64,
}

/// A scripted model.
#[derive(Debug, Clone)]
pub struct Script {
    /// The name served under `/v1/models` and matched against the request's `model`.
    pub model: String,
    pub description: Option<String>,
    pub dialect: Dialect,
    pub ttft_ms: u64,
    pub chunk_delay_ms: u64,
    pub chunk_chars: usize,
    /// Hit each delay to within microseconds (a tokio timer alone fires up to ~1 ms late):
    /// for measuring a client's timing error, at the cost of a short cooperative spin.
    pub precise_timing: bool,
    /// After this many chat requests (server-wide), every request fails with `after_fault`.
    pub fail_after: Option<u64>,
    pub after_fault: FaultSpec,
    pub rules: Vec<Rule>,
    /// Where the script came from (file path or `builtin:NAME`).
    pub source: String,
}

const WEAK_YAML: &str = include_str!("../../../golden/sim/weak.yaml");
const STRONG_YAML: &str = include_str!("../../../golden/sim/strong.yaml");

impl Script {
    /// Parse a script. Errors read `path:line:col: message`.
    pub fn from_yaml(text: &str, path: &str) -> Result<Script, String> {
        let spec: ScriptSpec = serde_saphyr::from_str(text).map_err(|e| {
            let (line, col) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            let msg = e.without_snippet().to_string();
            let msg = msg.lines().next().unwrap_or("invalid YAML").trim();
            // saphyr appends the location; it is already in front.
            let msg = msg
                .strip_suffix(&format!(" at line {line}, column {col}"))
                .unwrap_or(msg);
            format!("{path}:{line}:{col}: {msg}")
        })?;
        compile(spec, path)
    }

    /// Read and parse a script file.
    pub fn load(path: &Path) -> Result<Script, String> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{shown}:1:1: cannot read script: {e}"))?;
        Script::from_yaml(&text, &shown)
    }

    /// `sim-strong`: the oracle's passing answer for every case.
    pub fn strong() -> Script {
        Script::from_yaml(STRONG_YAML, "golden/sim/strong.yaml")
            .expect("golden/sim/strong.yaml is checked by the crate's tests")
    }

    /// `sim-weak`: the failure patterns the suites target (`golden/sim/weak.yaml`).
    pub fn weak() -> Script {
        Script::from_yaml(WEAK_YAML, "golden/sim/weak.yaml")
            .expect("golden/sim/weak.yaml is checked by the crate's tests")
    }

    /// The first rule matching the request, if any.
    pub fn rule_for(&self, facts: &RequestFacts<'_>) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matcher.matches(facts))
    }
}

// ---- the file format as written ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptSpec {
    model: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    dialect: Option<Dialect>,
    #[serde(default)]
    ttft_ms: Option<u64>,
    #[serde(default)]
    chunk_delay_ms: Option<u64>,
    #[serde(default)]
    chunk_chars: Option<Spanned<u64>>,
    #[serde(default)]
    precise_timing: Option<bool>,
    #[serde(default)]
    fail_after: Option<u64>,
    #[serde(default)]
    after_fault: Option<Fault>,
    /// `Retry-After` seconds for an `after_fault` of 429 / 503.
    #[serde(default)]
    retry_after: Option<u64>,
    #[serde(default)]
    rules: Vec<Spanned<RuleSpec>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn globs(self) -> Vec<Glob> {
        match self {
            OneOrMany::One(s) => vec![Glob::new(&s)],
            OneOrMany::Many(v) => v.iter().map(|s| Glob::new(s)).collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum OnOff {
    On,
    Off,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchSpec {
    #[serde(default)]
    suite: Option<OneOrMany>,
    #[serde(default)]
    case: Option<OneOrMany>,
    #[serde(default)]
    tag: Option<OneOrMany>,
    #[serde(default)]
    kind: Option<CaseKind>,
    #[serde(default)]
    user_contains: Option<String>,
    #[serde(default)]
    user_regex: Option<Spanned<String>>,
    #[serde(default)]
    system_contains: Option<String>,
    #[serde(default)]
    thinking: Option<OnOff>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    turn: Option<u32>,
    #[serde(default)]
    dialect: Option<Dialect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplySpec {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ReplyCallSpec>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyCallSpec {
    name: String,
    /// A JSON string (sent as is, even when invalid) or a mapping (serialised).
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    #[serde(default, rename = "match")]
    matcher: Option<MatchSpec>,
    #[serde(default, rename = "do")]
    action: Option<Spanned<TransformName>>,
    #[serde(default)]
    reply: Option<ReplySpec>,
    #[serde(default)]
    fault: Option<Fault>,
    /// Free text: why this rule exists (ignored).
    #[serde(default)]
    note: Option<String>,
    // Parameters (which ones apply depends on the transform / fault).
    #[serde(default)]
    retry_after: Option<u64>,
    #[serde(default)]
    ms: Option<u64>,
    #[serde(default)]
    bytes: Option<u64>,
    #[serde(default)]
    tool: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    format: Option<CallFormat>,
    #[serde(default)]
    arg: Option<String>,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    arguments: Option<Value>,
    #[serde(default)]
    count: Option<usize>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "type")]
    entity_type: Option<String>,
    #[serde(default)]
    words: Option<u32>,
}

fn compile(spec: ScriptSpec, path: &str) -> Result<Script, String> {
    let at = |line: u64, col: u64, msg: String| format!("{path}:{line}:{col}: {msg}");
    if spec.model.value.trim().is_empty() {
        return Err(at(
            spec.model.referenced.line(),
            spec.model.referenced.column(),
            "`model` must not be empty".into(),
        ));
    }
    let chunk_chars = match &spec.chunk_chars {
        Some(c) if c.value == 0 => {
            return Err(at(
                c.referenced.line(),
                c.referenced.column(),
                "`chunk_chars` must be at least 1".into(),
            ))
        }
        Some(c) => c.value as usize,
        None => 16,
    };
    let mut after_fault = FaultSpec::new(spec.after_fault.unwrap_or(Fault::Http500));
    after_fault.retry_after = spec.retry_after;
    let mut rules = Vec::with_capacity(spec.rules.len());
    for r in spec.rules {
        let (line, col) = (r.referenced.line(), r.referenced.column());
        let r = r.value;
        let _ = &r.note;
        let m = r.matcher.unwrap_or_default();
        let user_regex = match m.user_regex {
            Some(s) => Some(regex::Regex::new(&s.value).map_err(|e| {
                let first = e.to_string();
                let first = first
                    .lines()
                    .last()
                    .unwrap_or("invalid regex")
                    .trim()
                    .to_string();
                at(
                    s.referenced.line(),
                    s.referenced.column(),
                    format!("invalid `user_regex`: {first}"),
                )
            })?),
            None => None,
        };
        let matcher = RuleMatch {
            suite: m.suite.map(OneOrMany::globs).unwrap_or_default(),
            case: m.case.map(OneOrMany::globs).unwrap_or_default(),
            tag: m.tag.map(OneOrMany::globs).unwrap_or_default(),
            kind: m.kind,
            user_contains: m.user_contains,
            user_regex,
            system_contains: m.system_contains,
            thinking: m.thinking.map(|t| t == OnOff::On),
            stream: m.stream,
            turn: m.turn,
            dialect: m.dialect,
        };
        let chosen = [r.action.is_some(), r.reply.is_some(), r.fault.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if chosen != 1 {
            return Err(at(
                line,
                col,
                format!("a rule needs exactly one of `do:`, `reply:` or `fault:` (found {chosen})"),
            ));
        }
        let action = if let Some(fault) = r.fault {
            Action::Fault(FaultSpec {
                fault,
                retry_after: r.retry_after,
                ms: r.ms,
                bytes: r.bytes,
            })
        } else if let Some(reply) = r.reply {
            let mut calls = Vec::new();
            for c in reply.tool_calls {
                let args = match c.arguments {
                    None | Some(Value::Null) => "{}".to_string(),
                    Some(Value::String(s)) => s,
                    Some(other) => other.to_string(),
                };
                calls.push((c.name, args));
            }
            Action::Reply(Reply {
                content: reply.content,
                reasoning: reply.reasoning,
                tool_calls: calls,
                finish_reason: reply.finish_reason,
            })
        } else {
            let name = r.action.expect("checked above").value;
            Action::Transform(match name {
                TransformName::Oracle => Transform::Oracle,
                TransformName::AnswerInText => Transform::AnswerInText { text: r.text },
                TransformName::WrongTool => Transform::WrongTool { tool: r.tool },
                TransformName::CallInContent => Transform::CallInContent {
                    format: r.format.unwrap_or_default(),
                },
                TransformName::ReasoningOnly => Transform::ReasoningOnly,
                TransformName::ThinkingLeak => Transform::ThinkingLeak,
                TransformName::Markdown => Transform::Markdown,
                TransformName::DropCall => Transform::DropCall,
                TransformName::ExtraCall => Transform::ExtraCall { tool: r.tool },
                TransformName::WrongArg => Transform::WrongArg {
                    arg: r.arg,
                    value: r.value,
                },
                TransformName::ArgsInvalidJson => Transform::ArgsInvalidJson,
                TransformName::ArgsSchemaViolation => Transform::ArgsSchemaViolation { arg: r.arg },
                TransformName::HallucinateTool => Transform::HallucinateTool { tool: r.tool },
                TransformName::UnexpectedCall => Transform::UnexpectedCall {
                    tool: r.tool,
                    arguments: r.arguments,
                },
                TransformName::Truncate => Transform::Truncate,
                TransformName::Empty => Transform::Empty,
                TransformName::DropEntity => Transform::DropEntity {
                    count: r.count.unwrap_or(1).max(1),
                },
                TransformName::SpuriousEntity => Transform::SpuriousEntity {
                    name: r.name,
                    entity_type: r.entity_type,
                },
                TransformName::WrongEntityType => Transform::WrongEntityType {
                    name: r.name,
                    entity_type: r.entity_type,
                },
                TransformName::InvalidJsonOutput => Transform::InvalidJsonOutput,
                TransformName::DropFact => Transform::DropFact,
                TransformName::Verbose => Transform::Verbose { words: r.words },
            })
        };
        rules.push(Rule {
            matcher,
            action,
            line,
        });
    }
    Ok(Script {
        model: spec.model.value,
        description: spec.description,
        dialect: spec.dialect.unwrap_or_default(),
        ttft_ms: spec.ttft_ms.unwrap_or(0),
        chunk_delay_ms: spec.chunk_delay_ms.unwrap_or(0),
        chunk_chars,
        precise_timing: spec.precise_timing.unwrap_or(false),
        fail_after: spec.fail_after,
        after_fault,
        rules,
        source: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(case: &'a str, user: &'a str, tags: &'a [String]) -> RequestFacts<'a> {
        RequestFacts {
            suite: Some("tool-routing"),
            case: Some(case),
            tags,
            kind: Some(CaseKind::ToolCall),
            user,
            system: "",
            thinking: false,
            stream: true,
            turn: 0,
            dialect: Dialect::Vllm,
        }
    }

    #[test]
    fn system_contains_matches_the_rendered_system_prompt() {
        let s = Script::from_yaml(
            "model: m\nrules:\n  - match: { system_contains: \"Helpful Assistant\" }\n    do: answer_in_text\n",
            "t.yaml",
        )
        .unwrap();
        let f = facts("greeting", "", &[]);
        assert!(!s.rules[0].matcher.matches(&f), "no system prompt");
        assert!(s.rules[0].matcher.matches(&RequestFacts {
            system: "You are a helpful assistant. Today is …",
            ..f
        }));
        assert!(!s.rules[0].matcher.matches(&RequestFacts {
            system: "You are Annie, a voice assistant",
            ..f
        }));
    }

    #[test]
    fn parses_the_documented_example() {
        let yaml = r#"
model: sim-test
dialect: llamacpp
ttft_ms: 5
chunk_delay_ms: 2
chunk_chars: 8
precise_timing: true
fail_after: 10
after_fault: http_503
retry_after: 2
rules:
  - match: { suite: tool-routing, case: "entity-*", tag: kannada, thinking: on, kind: tool_call }
    do: wrong_tool
    tool: search_memory
  - match: { case: greeting }
    reply: { content: "Hi!", tool_calls: [{name: x, arguments: {a: 1}}], finish_reason: stop }
  - match: { case: [flaky-1, flaky-2] }
    fault: http_429
    retry_after: 1
  - match: { user_regex: "(?i)weather" }
    do: call_in_content
    format: pythonic
"#;
        let s = Script::from_yaml(yaml, "t.yaml").unwrap();
        assert_eq!(s.model, "sim-test");
        assert_eq!(s.dialect, Dialect::Llamacpp);
        assert_eq!((s.ttft_ms, s.chunk_delay_ms, s.chunk_chars), (5, 2, 8));
        assert!(s.precise_timing);
        assert_eq!(s.fail_after, Some(10));
        assert_eq!(s.after_fault.fault, Fault::Http503);
        assert_eq!(s.after_fault.retry_after, Some(2));
        assert_eq!(s.rules.len(), 4);
        assert_eq!(s.rules[0].line, 12);
        assert_eq!(
            s.rules[0].action,
            Action::Transform(Transform::WrongTool {
                tool: Some("search_memory".into())
            })
        );
        match &s.rules[1].action {
            Action::Reply(r) => {
                assert_eq!(r.content.as_deref(), Some("Hi!"));
                assert_eq!(
                    r.tool_calls,
                    vec![("x".to_string(), "{\"a\":1}".to_string())]
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.rules[2].action,
            Action::Fault(FaultSpec {
                fault: Fault::Http429,
                retry_after: Some(1),
                ms: None,
                bytes: None
            })
        );
        let kn = vec!["kannada".to_string()];
        let mut f = facts("entity-arun", "Tell me about Arun", &kn);
        assert!(s.rules[0].matcher.matches(&RequestFacts {
            thinking: true,
            ..f
        }));
        assert!(!s.rules[0].matcher.matches(&f), "thinking: on must hold");
        assert!(s.rules[2].matcher.matches(&facts("flaky-2", "", &[])));
        assert!(!s.rules[2].matcher.matches(&facts("flaky-3", "", &[])));
        f.user = "What's the WEATHER like?";
        assert!(s.rules[3].matcher.matches(&f));
        assert_eq!(s.rule_for(&facts("greeting", "", &[])).unwrap().line, 15);
    }

    #[test]
    fn errors_carry_file_line_and_column() {
        // Unknown transform: located at the value.
        let e = Script::from_yaml("model: m\nrules:\n  - do: frobnicate\n", "w.yaml").unwrap_err();
        assert!(e.starts_with("w.yaml:3:"), "{e}");
        assert!(e.contains("frobnicate"), "{e}");
        // Unknown key (typo) is refused.
        let e = Script::from_yaml("model: m\nttft: 5\n", "w.yaml").unwrap_err();
        assert!(e.starts_with("w.yaml:2:"), "{e}");
        // Bad regex: located at the regex.
        let e = Script::from_yaml(
            "model: m\nrules:\n  - match: { user_regex: \"(unclosed\" }\n    do: empty\n",
            "w.yaml",
        )
        .unwrap_err();
        assert!(e.starts_with("w.yaml:3:"), "{e}");
        assert!(e.contains("user_regex"), "{e}");
        // A rule with two actions.
        let e = Script::from_yaml(
            "model: m\nrules:\n  - match: { case: a }\n    do: empty\n    fault: http_500\n",
            "w.yaml",
        )
        .unwrap_err();
        assert!(e.starts_with("w.yaml:3:"), "{e}");
        assert!(e.contains("exactly one"), "{e}");
        // Missing model.
        let e = Script::from_yaml("rules: []\n", "w.yaml").unwrap_err();
        assert!(e.starts_with("w.yaml:"), "{e}");
        assert!(e.contains("model"), "{e}");
        // chunk_chars 0.
        let e = Script::from_yaml("model: m\nchunk_chars: 0\n", "w.yaml").unwrap_err();
        assert!(e.starts_with("w.yaml:2:"), "{e}");
        // Duplicate key.
        let e = Script::from_yaml("model: m\nmodel: n\n", "w.yaml").unwrap_err();
        assert!(e.starts_with("w.yaml:2:"), "{e}");
    }

    #[test]
    fn builtin_scripts_parse() {
        assert_eq!(Script::strong().model, "sim-strong");
        assert!(Script::strong().rules.is_empty());
        assert_eq!(Script::weak().model, "sim-weak");
    }

    #[test]
    fn globs() {
        assert!(Glob::new("entity-*").matches("entity-arun"));
        assert!(!Glob::new("entity-*").matches("xentity-arun"));
        assert!(Glob::new("*-arun").matches("entity-arun"));
        assert!(Glob::new("*").matches(""));
        assert!(Glob::new("a*b*c").matches("aXbYc"));
        assert!(!Glob::new("a*b*c").matches("aXbYcd"));
        assert!(Glob::new("abc").matches("abc"));
        assert!(!Glob::new("abc").matches("abcd"));
        assert!(Glob::new("a*a").matches("aa"));
        assert!(!Glob::new("a*a").matches("a"));
    }

    #[test]
    fn fault_header_syntax() {
        let f: FaultSpec = "http_429:3".parse().unwrap();
        assert_eq!((f.fault, f.retry_after), (Fault::Http429, Some(3)));
        let f: FaultSpec = "huge_body=1000".parse().unwrap();
        assert_eq!(f.bytes, Some(1000));
        assert!("nope".parse::<FaultSpec>().is_err());
        assert!("reset:4".parse::<FaultSpec>().is_err());
        for f in Fault::ALL {
            assert_eq!(f.as_str().parse::<FaultSpec>().unwrap().fault, f);
        }
    }
}
