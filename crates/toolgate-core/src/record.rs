//! What a run writes: trial keys, recorded responses (`responses.jsonl`) and grades
//! (`grades.jsonl`). These types are the contract between the client, the runner, the
//! graders and the reports; a field added here must stay readable by older runs
//! (`#[serde(default)]` on everything optional).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

pub use crate::sym::Sym;

/// One trial's identity: (target, suite, case, prompt, variant, repeat).
/// Stable across runs, so two runs can be paired trial by trial.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TrialKey {
    pub target: Sym,
    pub suite: Sym,
    pub case: Sym,
    /// Prompt name (`prompts/NAME.md.j2`), or `-` for a case that brings its own system message.
    pub prompt: Sym,
    /// Variant label, e.g. `thinking=off`.
    pub variant: Sym,
    pub repeat: u32,
}

impl TrialKey {
    /// The trial's id as one string: `target/suite/case/prompt/variant/repeat`.
    pub fn id(&self) -> String {
        format!(
            "{}/{}/{}/{}/{}/{}",
            self.target, self.suite, self.case, self.prompt, self.variant, self.repeat
        )
    }

    /// The pairing key for comparing two runs: everything but the target.
    pub fn pair_key(&self) -> (Sym, Sym, Sym, Sym, u32) {
        (
            self.suite.clone(),
            self.case.clone(),
            self.prompt.clone(),
            self.variant.clone(),
            self.repeat,
        )
    }
}

impl fmt::Display for TrialKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

/// One line of `responses.jsonl`: everything the server said for one trial, or the infra
/// error that stopped it. The source of truth of a run; grades are derived from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseRecord {
    pub key: TrialKey,
    /// The case kind (`tool_call`, `extraction`, `chat`, `conversation`), for readers that
    /// do not load the case files.
    #[serde(default)]
    pub kind: Sym,
    /// Case category (chat cases), used by latency reports to group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub request: RequestSummary,
    /// One entry per request sent: one for single-turn cases, one per user turn for
    /// `conversation` cases.
    pub turns: Vec<TurnRecord>,
    /// Set when the server failed (the model was never judged on the remaining turns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<InfraError>,
    /// Retries made before the final outcome, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retries: Vec<RetryRecord>,
    /// RFC 3339 wall-clock time the trial started (informational; redacted in snapshots).
    #[serde(default)]
    pub started_at: String,
    /// True for latency warmup trials: recorded, never graded into accuracy or latency.
    #[serde(default, skip_serializing_if = "is_false")]
    pub warmup: bool,
    /// The case as it was when the trial ran (`Case::input_hash`, `Case::expect_hash`):
    /// compare lists cases that changed between two runs. Absent in older runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_hash: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl ResponseRecord {
    /// The final assistant message (last turn), if any.
    pub fn last_turn(&self) -> Option<&TurnRecord> {
        self.turns.last()
    }
}

/// What was sent, without secrets and without repeating the whole body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestSummary {
    /// Endpoint URL (never with credentials).
    pub url: String,
    pub model: String,
    pub profile: String,
    pub stream: bool,
    /// `Some(true)` / `Some(false)` when a thinking variant was requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub tools: usize,
    #[serde(default)]
    pub messages: usize,
    /// sha256 of the rendered system prompt (hex), when one was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_sha256: Option<String>,
    /// sha256 of the first request body bytes (hex).
    #[serde(default)]
    pub body_sha256: String,
}

/// One request/response exchange.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnRecord {
    /// 0-based turn index.
    pub turn: u32,
    /// The user text of this turn (conversation cases), for readers of the raw file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The assistant message exactly as received (accumulated, for streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<AssistantMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// The server's `usage` object as received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Value>,
    /// Server-side timing figures as received (llama.cpp `timings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_timings: Option<Value>,
    #[serde(default)]
    pub timing: Timing,
    /// HTTP status of the final attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// The assistant message, with every field as the server sent it. Normalisation (argument
/// decoding, reasoning field names) is the graders' job, so old runs can be re-graded under
/// new rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessage {
    /// `content` as received: `None` for JSON null or absent.
    #[serde(default)]
    pub content: Option<String>,
    /// Reasoning text, whatever the server called it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// The wire name the reasoning came under: `reasoning`, `reasoning_content` or `thinking`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_field: Option<String>,
    /// Tool calls in the order received (empty when `tool_calls` was absent or `[]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<RawToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// How many tool calls the server sent, when that was more than the
    /// [`MAX_TOOL_CALLS`] kept in `tool_calls` (a hostile or looping server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls_total: Option<u64>,
    /// What the client changed to record the message at all (e.g. a lone UTF-16 surrogate
    /// replaced with U+FFFD), one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Tool calls kept per response; the rest are counted in `tool_calls_total`.
pub const MAX_TOOL_CALLS: usize = 1000;

/// A tool call as received. `arguments` keeps the wire value: usually a JSON string,
/// sometimes a double-encoded string, an object (Ollama), or `""`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawToolCall {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    pub arguments: Value,
}

/// Client-side timing of one exchange (docs/latency.md). All times in milliseconds from the moment
/// the request was written (t0).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Time spent waiting for a concurrency slot before t0 (kept apart from latency).
    #[serde(default)]
    pub queued_ms: f64,
    /// Response headers received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers_ms: Option<f64>,
    /// First chunk carrying a generated token (content, reasoning or tool-call delta).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// First non-reasoning output (content or tool-call delta).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_content_ms: Option<f64>,
    /// Last generated token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_token_ms: Option<f64>,
    /// End of the response (stream end or body read).
    #[serde(default)]
    pub e2e_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    /// True when completion_tokens was estimated (no usage from the server).
    #[serde(default, skip_serializing_if = "is_false")]
    pub tokens_estimated: bool,
    /// (completion_tokens − 1) / (last token − first token), tokens per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_tps: Option<f64>,
    /// The server's own decode rate (llama.cpp `timings.predicted_per_second`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_decode_tps: Option<f64>,
    /// Number of token-bearing chunks (streaming).
    #[serde(default)]
    pub chunks: u32,
    /// Inter-token (inter-chunk) gaps in ms, for ITL distributions. Only kept for
    /// streaming responses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub itl_ms: Vec<f64>,
    /// Why TTFT could not be measured, when it could not (never a silent 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_missing: Option<String>,
}

/// Infra error kinds (docs/failure-kinds.md#infra-error-kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Connect,
    Timeout,
    #[serde(rename = "http_4xx")]
    Http4xx,
    #[serde(rename = "http_5xx")]
    Http5xx,
    Protocol,
    ServerExited,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Http4xx => "http_4xx",
            ErrorKind::Http5xx => "http_5xx",
            ErrorKind::Protocol => "protocol",
            ErrorKind::ServerExited => "server_exited",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A server failure. The model was never judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InfraError {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The first bytes of the body (error pages, error JSON), lossily decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Which turn failed (conversation cases).
    #[serde(default)]
    pub turn: u32,
}

/// One retried attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryRecord {
    pub attempt: u32,
    pub kind: ErrorKind,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// How long toolgate waited before the next attempt.
    pub wait_ms: f64,
    /// True when the wait came from a `Retry-After` header.
    #[serde(default)]
    pub retry_after: bool,
}

/// Verdicts (docs/failure-kinds.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    Error,
    /// A record-only case (no `expect`): answered and recorded, never judged. Counts
    /// neither way, like an error, but the server did not fail.
    Recorded,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
            Verdict::Recorded => "recorded",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Failure kinds (docs/failure-kinds.md). The declaration order is the priority order used to pick the
/// primary kind when several findings apply (earlier = more fundamental).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    EmptyOutput,
    ReasoningOnly,
    Truncated,
    CallInContent,
    HallucinatedTool,
    WrongTool,
    NoCall,
    UnexpectedCall,
    MissingCall,
    ExtraCall,
    ArgsInvalidJson,
    ArgsSchemaViolation,
    ArgsMismatch,
    OutputInvalidJson,
    OutputSchemaViolation,
    EntitiesMissing,
    EntitiesSpurious,
    EntityTypeMismatch,
    ThinkingLeak,
    Markdown,
    /// `expect: {ask: true}` or `{refuse: true}`: answered in text, but did not ask / refuse.
    WrongDecision,
    MissingFact,
    /// A text gate other than the named ones failed (`not_contains`, `max_words`, `non_empty`).
    GateFailed,
}

impl FailureKind {
    pub const ALL: [FailureKind; 23] = [
        FailureKind::EmptyOutput,
        FailureKind::ReasoningOnly,
        FailureKind::Truncated,
        FailureKind::CallInContent,
        FailureKind::HallucinatedTool,
        FailureKind::WrongTool,
        FailureKind::NoCall,
        FailureKind::UnexpectedCall,
        FailureKind::MissingCall,
        FailureKind::ExtraCall,
        FailureKind::ArgsInvalidJson,
        FailureKind::ArgsSchemaViolation,
        FailureKind::ArgsMismatch,
        FailureKind::OutputInvalidJson,
        FailureKind::OutputSchemaViolation,
        FailureKind::EntitiesMissing,
        FailureKind::EntitiesSpurious,
        FailureKind::EntityTypeMismatch,
        FailureKind::ThinkingLeak,
        FailureKind::Markdown,
        FailureKind::WrongDecision,
        FailureKind::MissingFact,
        FailureKind::GateFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::EmptyOutput => "empty_output",
            FailureKind::ReasoningOnly => "reasoning_only",
            FailureKind::Truncated => "truncated",
            FailureKind::CallInContent => "call_in_content",
            FailureKind::HallucinatedTool => "hallucinated_tool",
            FailureKind::WrongTool => "wrong_tool",
            FailureKind::NoCall => "no_call",
            FailureKind::UnexpectedCall => "unexpected_call",
            FailureKind::MissingCall => "missing_call",
            FailureKind::ExtraCall => "extra_call",
            FailureKind::ArgsInvalidJson => "args_invalid_json",
            FailureKind::ArgsSchemaViolation => "args_schema_violation",
            FailureKind::ArgsMismatch => "args_mismatch",
            FailureKind::OutputInvalidJson => "output_invalid_json",
            FailureKind::OutputSchemaViolation => "output_schema_violation",
            FailureKind::EntitiesMissing => "entities_missing",
            FailureKind::EntitiesSpurious => "entities_spurious",
            FailureKind::EntityTypeMismatch => "entity_type_mismatch",
            FailureKind::ThinkingLeak => "thinking_leak",
            FailureKind::Markdown => "markdown",
            FailureKind::WrongDecision => "wrong_decision",
            FailureKind::MissingFact => "missing_fact",
            FailureKind::GateFailed => "gate_failed",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing a grader noticed. A failing trial has at least one; its primary kind is the
/// first finding's kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FailureKind,
    pub message: String,
    /// JSON pointer or argument path the finding is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Structured detail (e.g. the parsed call for `call_in_content`, schema errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

/// One argument of one structured call to a known tool, checked against the tool's schema
/// and, when the call was paired with an expected call that has a matcher for it, against
/// that matcher. The report turns these into per-argument rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArgCheck {
    pub tool: Sym,
    pub arg: Sym,
    pub schema: ArgSchema,
    /// The case's matcher held (`true`) or not; absent when nothing judged the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_ok: Option<bool>,
}

/// What the tool's schema says of one argument of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgSchema {
    /// Given, and of a type the schema declares (or the schema declares none).
    Ok,
    /// Given, but of a type the schema does not allow.
    WrongType,
    /// Given, but not a property of the schema (a hallucinated parameter).
    Unknown,
    /// Required by the schema and not given.
    Missing,
    /// Optional and not given (listed only when the case had a matcher for it).
    Absent,
}

/// How the model answered, as one class, for confusion matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerClass {
    /// Structured tool call(s).
    Call,
    /// Answered in text, no call.
    None,
    /// A call was attempted but its arguments were not JSON / name empty.
    Malformed,
    /// A call written as text in content/reasoning.
    CallInContent,
    /// Nothing usable (empty, reasoning only).
    Empty,
}

/// The decision behind an answer (docs/case-format.md#decisions): call a tool, answer,
/// ask a clarifying question, or decline. Declaration order is the matrices' order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Call,
    Answer,
    Ask,
    Refuse,
}

impl Decision {
    pub const ALL: [Decision; 4] = [
        Decision::Call,
        Decision::Answer,
        Decision::Ask,
        Decision::Refuse,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Call => "call",
            Decision::Answer => "answer",
            Decision::Ask => "ask",
            Decision::Refuse => "refuse",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Extraction scores.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub true_positives: u32,
    pub false_positives: u32,
    pub false_negatives: u32,
    /// Expected entities the answer named (with the right type when types count).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub found: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spurious: Vec<String>,
    /// Where the JSON was found: `content`, `fenced`, `embedded`, `tool:NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// One line of `grades.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradeRecord {
    pub key: TrialKey,
    #[serde(default)]
    pub kind: Sym,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub verdict: Verdict,
    /// Primary failure kind (fail only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureKind>,
    /// Infra error kind (error only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// One line a person can read: `expected get_entity_details(name≈"Arun"), got search_memory(query="Arun")`.
    pub diagnosis: Sym,
    /// Tools the case expected (first alternative, or the closest one), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_tools: Vec<Sym>,
    /// Tools actually called (structured), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actual_tools: Vec<Sym>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<AnswerClass>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<Box<Scores>>,
    #[serde(default, skip_serializing_if = "crate::record::is_false")]
    pub warmup: bool,
    pub grader_version: Sym,
    /// Every argument of every structured call to a known tool (tool_call cases).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<ArgCheck>,
    /// The case input the trial was sent (from the response record) and the expectation
    /// this grade judged it by (the case file at grading time). Runs pair a case only when
    /// their expectations are equal. Absent in older runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_hash: Option<Sym>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_hash: Option<Sym>,
    /// What the model decided (tool_call cases with an answer to classify).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// What the case expected it to decide; absent when its alternatives allow either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_decision: Option<Decision>,
    /// The request offered no tools at all: any call is a hallucination.
    #[serde(default, skip_serializing_if = "crate::record::is_false")]
    pub no_tools: bool,
}

/// `manifest.json`: what ran. Written at start (complete: false) and rewritten at the end.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    pub run_id: String,
    pub toolgate_version: String,
    /// RFC 3339.
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    pub complete: bool,
    /// Why the run is incomplete (infra errors, interrupted, target down), when it is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incomplete_reasons: Vec<String>,
    pub targets: Vec<TargetInfo>,
    pub suites: Vec<SuiteInfo>,
    /// Prompt name → sha256 of each distinct rendered prompt (hex).
    #[serde(default)]
    pub prompts: Vec<PromptInfo>,
    pub variants: Vec<String>,
    pub repeats: u32,
    /// Number of trials planned.
    pub planned_trials: u64,
    /// `--shard I/N`, when sharded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// The effective configuration (no secrets), for resume checks and reports.
    #[serde(default)]
    pub config: Value,
    /// Hash over the plan (suites, prompts, targets, variants, repeats): resume refuses a
    /// changed plan unless forced.
    #[serde(default)]
    pub plan_sha256: String,
    /// A shard's whole run before sharding: shards of one run must agree on it to merge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whole_plan: Option<WholePlan>,
    /// How the run was asked for beyond the plan, so `run --resume RUN` alone rebuilds it.
    /// Absent in run folders of older versions (resuming those needs the flags again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<RunSettings>,
}

/// The unsharded plan a shard is part of.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WholePlan {
    /// Trials of the whole run (every shard together).
    pub planned_trials: u64,
    /// The plan hash the run would have had unsharded.
    pub plan_sha256: String,
}

/// The run's request beyond what `config` and the plan record: nothing secret (paths and
/// numbers only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// `--config FILE`, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file: Option<String>,
    /// The prompt templates folder used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts_dir: Option<String>,
    /// Template files given as `--prompt PATH`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompt_files: Vec<String>,
    /// `--concurrency N`, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// `--sequential`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub sequential: bool,
    /// The date prompts were rendered with, so resumed trials get the same prompt text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub today: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    pub name: String,
    pub base_url: String,
    pub model: String,
    pub profile: String,
    /// Server metadata gathered at start (`/v1/models`, `/props`, `/version`, …), per endpoint.
    #[serde(default)]
    pub metadata: Value,
    /// Facts about a server toolgate managed (startup time, restarts, exit causes, probes):
    /// a [`ServerFacts`], read and written through [`TargetInfo::server_facts`] and
    /// [`TargetInfo::set_server_facts`]. Kept as JSON so a manifest reads back byte for byte
    /// (and stable reports redact it like the other free-form values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<Value>,
}

impl TargetInfo {
    /// The facts of the server toolgate managed for this target; `None` when it managed none
    /// (or the value is not facts of a managed server).
    pub fn server_facts(&self) -> Option<ServerFacts> {
        self.server.as_ref().and_then(ServerFacts::from_value)
    }

    /// Records the facts of this target's managed server.
    pub fn set_server_facts(&mut self, facts: &ServerFacts) {
        self.server = serde_json::to_value(facts).ok();
    }
}

/// What the runner records per managed server (`TargetInfo.server`). Every field has a serde
/// default so older or partial manifests still read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerFacts {
    pub managed: bool,
    /// The command line as spawned (placeholders replaced).
    pub command: Vec<String>,
    pub port: Option<u16>,
    pub base_url: String,
    /// Log file name inside the run folder.
    pub log: String,
    /// Process id of the current (or last) server process; also its process group id.
    pub pid: Option<u32>,
    /// Spawn → healthy of the first start, in milliseconds.
    pub startup_ms: Option<f64>,
    pub starts: Vec<StartFact>,
    pub restarts: u32,
    pub exits: Vec<ExitFact>,
    pub stop: Option<StopFact>,
    pub probes: Vec<ProbeSeries>,
    /// Why the server never came up, when it did not.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StartFact {
    pub at: String,
    pub pid: Option<u32>,
    pub startup_ms: Option<f64>,
    pub healthy: bool,
    pub error: Option<String>,
}

/// The server process ended while toolgate still needed it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExitFact {
    pub at: String,
    pub pid: Option<u32>,
    /// Exit code; for a signal, the shell's convention 128 + signal (so SIGKILL is 137).
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub trials_done: u64,
    pub trials_total: u64,
    /// "server exited with code 137 after 6 of 16 trials".
    pub message: String,
    pub log_tail: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StopFact {
    pub signal: String,
    /// False when the grace period ran out and the group was killed.
    pub graceful: bool,
    pub stop_ms: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeSeries {
    pub name: String,
    pub command: Vec<String>,
    pub readings: Vec<ProbeReading>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeReading {
    /// `before`, `during` or `after`.
    pub phase: String,
    pub at: String,
    /// Milliseconds since the server's first start.
    pub elapsed_ms: f64,
    pub ok: bool,
    pub exit_code: Option<i32>,
    /// Standard output, trimmed and capped.
    pub output: String,
    /// The first number in the output, when there is one (e.g. MiB from nvidia-smi).
    pub value: Option<f64>,
    pub error: Option<String>,
}

impl ServerFacts {
    /// The facts in a JSON value, when it holds those of a managed server.
    pub fn from_value(v: &Value) -> Option<ServerFacts> {
        ServerFacts::deserialize(v).ok().filter(|f| f.managed)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SuiteInfo {
    pub name: String,
    pub kind: String,
    pub path: String,
    pub sha256: String,
    pub cases: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools_sha256: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptInfo {
    pub name: String,
    pub suite: String,
    pub sha256: String,
}
