//! Pure, synchronous response parsing: streamed chunks into one assistant message plus
//! timing, non-streamed bodies, and HTTP error bodies. No I/O and no clock (times are
//! passed in), so all of it is unit-tested and fuzzed directly.
//!
//! Values are kept as received: `content` null stays `None`, `""` stays `Some("")`;
//! `arguments` keep their wire type (string fragments concatenated, an object stays an
//! object, never-sent stays `null`). Normalising is the graders' job.

use crate::sse::{protocol, SseDecoder, SseEvent};
use serde_json::{Map, Value};
use toolgate_core::{AssistantMessage, ErrorKind, InfraError, RawToolCall, Timing, MAX_TOOL_CALLS};

/// At most this many inter-token gaps are kept per response (a runaway stream must not
/// grow a trial record without bound).
pub const MAX_ITL_ENTRIES: usize = 4096;
/// Error bodies and excerpts are cut to this many bytes.
pub const BODY_EXCERPT_BYTES: usize = 2048;

/// The reasoning field names servers use, in the order they are read when a delta carries
/// more than one (some vLLM releases sent both `reasoning` and `reasoning_content`).
const REASONING_FIELDS: [&str; 3] = ["reasoning_content", "reasoning", "thinking"];

/// A parsed non-streaming response.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub message: AssistantMessage,
    pub finish_reason: Option<String>,
    /// `usage` as received.
    pub usage: Option<Value>,
    /// llama.cpp `timings` as received.
    pub server_timings: Option<Value>,
}

/// A fully read stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamResult {
    pub message: AssistantMessage,
    pub finish_reason: Option<String>,
    pub usage: Option<Value>,
    pub server_timings: Option<Value>,
    /// Every timing field (docs/latency.md) the stream can tell (`queued_ms` and `headers_ms` are the
    /// caller's).
    pub timing: Timing,
}

/// Whether the stream is over (`[DONE]` seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    Continue,
    Done,
}

#[derive(Debug, Default)]
struct CallAcc {
    index: Option<i64>,
    id: Option<String>,
    name: String,
    args: Option<Value>,
}

/// Accumulates one streamed chat completion, event by event, with the time each event was
/// read (ms since t0).
#[derive(Debug, Default)]
pub struct StreamAccumulator {
    content: Option<String>,
    reasoning: Option<String>,
    reasoning_field: Option<String>,
    refusal: Option<String>,
    calls: Vec<CallAcc>,
    /// Calls past [`MAX_TOOL_CALLS`], counted only.
    dropped_indices: std::collections::HashSet<i64>,
    dropped_unindexed: u64,
    notes: Vec<String>,
    finish_reason: Option<String>,
    usage: Option<Value>,
    timings: Option<Value>,
    done: bool,
    choice_chunks: u32,
    first_token: Option<f64>,
    first_content: Option<f64>,
    last_token: Option<f64>,
    token_chunks: u32,
    itl: Vec<f64>,
}

impl StreamAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Feeds one SSE event read at `t_ms`. An `Err` is final: the stream failed
    /// (server-sent error, malformed chunk).
    pub fn feed(&mut self, ev: &SseEvent, t_ms: f64) -> Result<Feed, InfraError> {
        if self.done {
            return Ok(Feed::Done); // anything after [DONE] is ignored
        }
        match ev {
            SseEvent::ErrorField(raw) => Err(streamed_error("error: line", raw)),
            SseEvent::Data {
                event: Some(e),
                data,
            } if e == "error" => Err(streamed_error("`event: error`", data)),
            SseEvent::Data { data, .. } => self.feed_data(data, t_ms),
        }
    }

    /// Feeds one `data:` payload.
    pub fn feed_data(&mut self, data: &str, t_ms: f64) -> Result<Feed, InfraError> {
        if self.done {
            return Ok(Feed::Done);
        }
        let trimmed = data.trim();
        if trimmed == "[DONE]" {
            self.done = true;
            return Ok(Feed::Done);
        }
        let v: Value = match serde_json::from_str(trimmed) {
            Ok(v) => v,
            Err(e) => match repair_lone_surrogates(trimmed) {
                Some(v) => {
                    if self.notes.is_empty() {
                        self.notes.push(LONE_SURROGATE_NOTE.to_string());
                    }
                    v
                }
                None => {
                    return Err(with_body(
                        protocol(format!("malformed JSON chunk in stream: {e}")),
                        trimmed.as_bytes(),
                    ))
                }
            },
        };
        let Value::Object(chunk) = v else {
            return Err(with_body(
                protocol("stream chunk is not a JSON object"),
                trimmed.as_bytes(),
            ));
        };
        if let Some(msg) = embedded_error(&chunk) {
            return Err(with_body(
                protocol(format!("server sent an error in the stream: {msg}")),
                trimmed.as_bytes(),
            ));
        }
        if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
            self.usage = Some(u.clone());
        }
        if let Some(t) = chunk.get("timings").filter(|t| !t.is_null()) {
            self.timings = Some(t.clone());
        }
        let Some(choice) = first_choice(&chunk) else {
            return Ok(Feed::Continue); // usage-only, progress or keep-alive chunk
        };
        self.choice_chunks += 1;
        let mut token = false;
        let mut visible = false;
        // `delta` is the standard; a whole `message` in a stream chunk is accepted too.
        let delta = choice
            .get("delta")
            .filter(|d| d.is_object())
            .or_else(|| choice.get("message"));
        if let Some(Value::Object(delta)) = delta {
            if let Some(c) = delta.get("content") {
                if let Some(s) = as_text(c) {
                    self.content.get_or_insert_with(String::new).push_str(&s);
                    if !s.is_empty() {
                        token = true;
                        visible = true;
                    }
                }
            }
            if let Some((field, s)) = self.pick_reasoning(delta) {
                if self.reasoning_field.is_none() {
                    self.reasoning_field = Some(field.to_string());
                }
                self.reasoning.get_or_insert_with(String::new).push_str(&s);
                if !s.is_empty() {
                    token = true;
                }
            }
            if let Some(Value::String(s)) = delta.get("refusal") {
                self.refusal.get_or_insert_with(String::new).push_str(s);
                if !s.is_empty() {
                    token = true;
                    visible = true;
                }
            }
            if let Some(Value::Array(calls)) = delta.get("tool_calls") {
                for (pos, tc) in calls.iter().enumerate() {
                    if let Value::Object(tc) = tc {
                        self.feed_call(tc, pos);
                        token = true;
                        visible = true;
                    }
                }
            }
        }
        if let Some(Value::String(fr)) = choice.get("finish_reason") {
            self.finish_reason = Some(fr.clone());
        }
        if token {
            self.token_chunks = self.token_chunks.saturating_add(1);
            if let Some(prev) = self.last_token {
                if self.itl.len() < MAX_ITL_ENTRIES {
                    self.itl.push(t_ms - prev);
                }
            }
            self.first_token.get_or_insert(t_ms);
            self.last_token = Some(t_ms);
            if visible {
                self.first_content.get_or_insert(t_ms);
            }
        }
        Ok(Feed::Continue)
    }

    fn pick_reasoning<'a>(&self, delta: &'a Map<String, Value>) -> Option<(&'a str, String)> {
        // Stay on the field name first seen, so a server that repeats the same text under
        // two names is not counted twice.
        if let Some(f) = &self.reasoning_field {
            if let Some((k, v)) = delta.get_key_value(f.as_str()) {
                if let Some(s) = as_text(v) {
                    return Some((k.as_str(), s));
                }
            }
        }
        REASONING_FIELDS.iter().find_map(|f| {
            let (k, v) = delta.get_key_value(*f)?;
            as_text(v).map(|s| (k.as_str(), s))
        })
    }

    fn feed_call(&mut self, tc: &Map<String, Value>, pos: usize) {
        let index = tc.get("index").and_then(Value::as_i64);
        let id = tc
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let func = tc.get("function").and_then(Value::as_object);
        // Legacy llama.cpp shape: `name`/`arguments` without the `function` wrapper.
        let name = func
            .and_then(|f| f.get("name"))
            .or_else(|| tc.get("name"))
            .and_then(Value::as_str);
        let args = func
            .and_then(|f| f.get("arguments"))
            .or_else(|| tc.get("arguments"))
            .filter(|a| !a.is_null());

        // Which open call does this delta continue? Same index (or, without an index, the
        // same id or the last call); a different id at that index starts a new call
        // (proxies that send every parallel call with index 0).
        let existing = match index {
            Some(i) => self.calls.iter().rposition(|c| c.index == Some(i)),
            None => match &id {
                Some(id) => self
                    .calls
                    .iter()
                    .rposition(|c| c.id.as_deref() == Some(id.as_str())),
                None if pos == 0 => self.calls.len().checked_sub(1),
                None => None,
            },
        };
        let slot = match existing {
            Some(k) if !matches!((&id, &self.calls[k].id), (Some(a), Some(b)) if a != b) => k,
            // Past the cap, new calls are only counted (memory and the per-delta search stay
            // bounded whatever the server sends).
            _ if self.calls.len() >= MAX_TOOL_CALLS => {
                match index {
                    Some(i) => {
                        self.dropped_indices.insert(i);
                    }
                    None => self.dropped_unindexed += 1,
                }
                return;
            }
            _ => {
                self.calls.push(CallAcc {
                    index,
                    ..CallAcc::default()
                });
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[slot];
        if call.id.is_none() {
            call.id = id;
        }
        if let Some(n) = name {
            // Some servers repeat the full name on every delta; only a differing
            // non-empty name is a fragment.
            if call.name.is_empty() {
                call.name = n.to_string();
            } else if !n.is_empty() && n != call.name {
                call.name.push_str(n);
            }
        }
        if let Some(a) = args {
            match (&mut call.args, a) {
                (Some(Value::String(acc)), Value::String(frag)) => acc.push_str(frag),
                (slot @ None, a) => *slot = Some(a.clone()),
                // A whole value after fragments (or twice): the later one is the call.
                (slot, a) => *slot = Some(a.clone()),
            }
        }
    }

    /// Ends the stream at `e2e_ms`. A stream that never said `[DONE]` is accepted when it
    /// gave a `finish_reason` (the answer is complete; Ollama's compat layer and some proxies
    /// omit `[DONE]`); without either it was cut (server died) → `protocol`.
    pub fn finish(self, e2e_ms: f64) -> Result<StreamResult, InfraError> {
        if !self.done && self.finish_reason.is_none() {
            return Err(protocol(
                "stream ended without [DONE] and without a finish_reason (connection cut or server died)",
            ));
        }
        if self.choice_chunks == 0 {
            return Err(protocol("stream ended without any completion chunk"));
        }
        let completion_tokens = usage_u64(self.usage.as_ref(), "completion_tokens");
        let prompt_tokens = usage_u64(self.usage.as_ref(), "prompt_tokens");
        let (completion_tokens, tokens_estimated) = match completion_tokens {
            Some(n) => (Some(n), false),
            None if self.token_chunks > 0 => (Some(u64::from(self.token_chunks)), true),
            None => (None, false),
        };
        let decode_tps = match (completion_tokens, self.first_token, self.last_token) {
            (Some(n), Some(first), Some(last)) if n > 1 && last > first => {
                Some((n - 1) as f64 / ((last - first) / 1000.0))
            }
            _ => None,
        };
        let timing = Timing {
            ttft_ms: self.first_token,
            ttft_content_ms: self.first_content,
            last_token_ms: self.last_token,
            e2e_ms,
            completion_tokens,
            prompt_tokens,
            tokens_estimated,
            decode_tps,
            server_decode_tps: server_decode_tps(self.timings.as_ref()),
            chunks: self.token_chunks,
            itl_ms: self.itl,
            ttft_missing: self
                .first_token
                .is_none()
                .then(|| "no chunk carried a generated token".to_string()),
            ..Timing::default()
        };
        let dropped = self.dropped_indices.len() as u64 + self.dropped_unindexed;
        let tool_calls_total = (dropped > 0).then_some(self.calls.len() as u64 + dropped);
        let message = AssistantMessage {
            content: self.content,
            reasoning: self.reasoning,
            reasoning_field: self.reasoning_field,
            tool_calls: self
                .calls
                .into_iter()
                .map(|c| RawToolCall {
                    id: c.id,
                    name: c.name,
                    arguments: c.args.unwrap_or(Value::Null),
                })
                .collect(),
            tool_calls_total,
            refusal: self.refusal,
            notes: self.notes,
        };
        Ok(StreamResult {
            message,
            finish_reason: self.finish_reason,
            usage: self.usage,
            server_timings: self.timings,
            timing,
        })
    }
}

const LONE_SURROGATE_NOTE: &str =
    "the server sent a lone UTF-16 surrogate escape; recorded as U+FFFD";

/// JSON text whose only fault is a lone surrogate escape (`"\\ud800"`, which serde_json
/// refuses and which no Rust string can hold), parsed with each lone one replaced by
/// `\\ufffd`. `None` when there was none to replace or the text is still not JSON. Only
/// called after a parse failed, so valid bodies pay nothing.
fn repair_lone_surrogates(text: &str) -> Option<Value> {
    fn hex4(b: &[u8]) -> Option<u32> {
        let s = std::str::from_utf8(b.get(..4)?).ok()?;
        u32::from_str_radix(s, 16).ok()
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let (mut i, mut copied) = (0, 0);
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        if b.get(i + 1) != Some(&b'u') {
            i += 2; // any other escape, `\\\\` included
            continue;
        }
        let Some(u) = hex4(&b[i + 2..]) else {
            i += 2;
            continue;
        };
        let paired = (0xD800..0xDC00).contains(&u)
            && b.get(i + 6) == Some(&b'\\')
            && b.get(i + 7) == Some(&b'u')
            && b.get(i + 8..)
                .and_then(hex4)
                .is_some_and(|l| (0xDC00..0xE000).contains(&l));
        if paired {
            i += 12;
        } else if (0xD800..0xE000).contains(&u) {
            out.push_str(&text[copied..i]);
            out.push_str("\\ufffd");
            i += 6;
            copied = i;
            changed = true;
        } else {
            i += 6;
        }
    }
    if !changed {
        return None;
    }
    out.push_str(&text[copied..]);
    serde_json::from_str(&out).ok()
}

/// Parses a whole SSE body at once (events stamped 0, 1, 2, … ms): for recorded streams,
/// tests and fuzzing.
pub fn parse_sse_body(body: &[u8]) -> Result<StreamResult, InfraError> {
    let mut dec = SseDecoder::new();
    let mut acc = StreamAccumulator::new();
    let mut events = dec.push(body)?;
    events.extend(dec.finish()?);
    let mut t = 0.0;
    for ev in &events {
        t += 1.0;
        if acc.feed(ev, t)? == Feed::Done {
            break;
        }
    }
    acc.finish(t + 1.0)
}

/// Parses an SSE body delivered in several reads, split at `cuts` (byte positions, taken
/// modulo the body length), exactly as the HTTP client feeds its decoder: the reference the
/// split-anywhere property tests and the `sse_stream` fuzz target compare against
/// [`parse_sse_body`].
pub fn parse_sse_split(body: &[u8], cuts: &[usize]) -> Result<StreamResult, InfraError> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    points.push(body.len());
    points.sort_unstable();
    let mut dec = SseDecoder::new();
    let mut acc = StreamAccumulator::new();
    let mut prev = 0;
    let mut t = 0.0;
    'read: for p in points {
        t += 1.0;
        for ev in dec.push(&body[prev..p])? {
            if acc.feed(&ev, t)? == Feed::Done {
                break 'read;
            }
        }
        prev = p;
    }
    if !acc.is_done() {
        for ev in dec.finish()? {
            if acc.feed(&ev, t)? == Feed::Done {
                break;
            }
        }
    }
    acc.finish(t + 1.0)
}

/// Parses a non-streaming chat completion body.
pub fn parse_completion(body: &[u8]) -> Result<Completion, InfraError> {
    if looks_like_html(body) {
        return Err(with_body(
            protocol(format!(
                "expected a JSON chat completion, got an HTML page{}",
                html_title(body)
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default()
            )),
            body,
        ));
    }
    let mut notes = vec![];
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => match std::str::from_utf8(body)
            .ok()
            .and_then(repair_lone_surrogates)
        {
            Some(v) => {
                notes.push(LONE_SURROGATE_NOTE.to_string());
                v
            }
            None => {
                return Err(with_body(
                    protocol(format!("response body is not valid JSON: {e}")),
                    body,
                ))
            }
        },
    };
    let Value::Object(obj) = v else {
        return Err(with_body(
            protocol("response body is not a JSON object"),
            body,
        ));
    };
    if let Some(msg) = embedded_error(&obj) {
        return Err(with_body(
            protocol(format!(
                "server returned an error with a success status: {msg}"
            )),
            body,
        ));
    }
    let choice =
        first_choice(&obj).ok_or_else(|| with_body(protocol("response has no choices"), body))?;
    let Some(Value::Object(m)) = choice.get("message") else {
        return Err(with_body(protocol("response choice has no message"), body));
    };
    let (reasoning_field, reasoning) = REASONING_FIELDS
        .iter()
        .find_map(|f| {
            let (k, v) = m.get_key_value(*f)?;
            as_text(v).map(|s| (Some(k.clone()), Some(s)))
        })
        .unwrap_or((None, None));
    let mut tool_calls_total = None;
    let tool_calls = match m.get("tool_calls") {
        Some(Value::Array(calls)) => calls
            .iter()
            .filter_map(Value::as_object)
            .enumerate()
            .filter_map(|(i, tc)| {
                // Keep the first MAX_TOOL_CALLS; count the rest.
                if i >= MAX_TOOL_CALLS {
                    tool_calls_total = Some(i as u64 + 1);
                    return None;
                }
                Some(tc)
            })
            .map(|tc| {
                let func = tc.get("function").and_then(Value::as_object);
                let get = |k: &str| func.and_then(|f| f.get(k)).or_else(|| tc.get(k));
                RawToolCall {
                    id: tc.get("id").and_then(Value::as_str).map(str::to_string),
                    name: get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    arguments: get("arguments").cloned().unwrap_or(Value::Null),
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    let message = AssistantMessage {
        content: m.get("content").and_then(as_text),
        reasoning,
        reasoning_field,
        tool_calls,
        refusal: m.get("refusal").and_then(Value::as_str).map(str::to_string),
        tool_calls_total,
        notes,
    };
    Ok(Completion {
        message,
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
        usage: obj.get("usage").filter(|u| !u.is_null()).cloned(),
        server_timings: obj.get("timings").filter(|t| !t.is_null()).cloned(),
    })
}

/// Timing for a non-streaming response: only e2e and token counts can be known; TTFT says
/// why it is missing rather than being a silent 0.
pub fn completion_timing(c: &Completion, e2e_ms: f64) -> Timing {
    Timing {
        e2e_ms,
        completion_tokens: usage_u64(c.usage.as_ref(), "completion_tokens"),
        prompt_tokens: usage_u64(c.usage.as_ref(), "prompt_tokens"),
        server_decode_tps: server_decode_tps(c.server_timings.as_ref()),
        ttft_missing: Some("non-streaming response".into()),
        ..Timing::default()
    }
}

/// Classifies a non-2xx response: 4xx → `http_4xx`, 5xx → `http_5xx`, anything else
/// (redirects, 1xx) → `protocol`. The message comes from the body when it is a known error
/// shape (nested `{"error":{…}}`, flat `{"object":"error",…}`, Ollama `{"error":"…"}`,
/// FastAPI `{"detail":…}`) or an HTML page title; the body excerpt is kept either way.
pub fn classify_http_error(status: u16, content_type: Option<&str>, body: &[u8]) -> InfraError {
    let kind = match status {
        400..=499 => ErrorKind::Http4xx,
        500..=599 => ErrorKind::Http5xx,
        _ => ErrorKind::Protocol,
    };
    let is_html = content_type.is_some_and(|c| c.contains("html")) || looks_like_html(body);
    let detail = if is_html {
        Some(match html_title(body) {
            Some(t) => format!("HTML page: {t}"),
            None => "HTML page".to_string(),
        })
    } else {
        serde_json::from_slice::<Value>(body)
            .ok()
            .as_ref()
            .and_then(Value::as_object)
            .and_then(embedded_error)
            .or_else(|| {
                let text = excerpt(body, 200);
                let text = text.trim();
                (!text.is_empty()).then(|| text.to_string())
            })
    };
    let message = match detail {
        Some(d) => format!("HTTP {status}: {d}"),
        None => format!("HTTP {status} with an empty body"),
    };
    InfraError {
        kind,
        message,
        status: Some(status),
        body: (!body.is_empty()).then(|| excerpt(body, BODY_EXCERPT_BYTES)),
        turn: 0,
    }
}

/// The error message a JSON object carries, if it is an error: `{"error": {...}}`,
/// `{"error": "..."}`, `{"object": "error", ...}`, `{"detail": ...}`.
fn embedded_error(obj: &Map<String, Value>) -> Option<String> {
    match obj.get("error") {
        Some(Value::Object(e)) => return Some(describe_error(e)),
        Some(Value::String(s)) => return Some(s.clone()),
        Some(Value::Null) | None => {}
        Some(other) => return Some(other.to_string()),
    }
    if obj.get("object").and_then(Value::as_str) == Some("error") {
        return Some(describe_error(obj));
    }
    if !obj.contains_key("choices") {
        match obj.get("detail") {
            Some(Value::String(s)) => return Some(s.clone()),
            Some(d @ (Value::Array(_) | Value::Object(_))) => return Some(d.to_string()),
            _ => {}
        }
    }
    None
}

fn describe_error(e: &Map<String, Value>) -> String {
    let message = e
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut tags = Vec::new();
    if let Some(t) = e.get("type").and_then(Value::as_str) {
        tags.push(t.to_string());
    }
    match e.get("code") {
        Some(Value::Null) | None => {}
        Some(Value::String(c)) => tags.push(format!("code {c}")),
        Some(c) => tags.push(format!("code {c}")),
    }
    match (message.is_empty(), tags.is_empty()) {
        (false, true) => message,
        (false, false) => format!("{message} [{}]", tags.join(", ")),
        (true, false) => format!("(no message) [{}]", tags.join(", ")),
        (true, true) => "(no message)".to_string(),
    }
}

fn streamed_error(how: &str, raw: &str) -> InfraError {
    let detail = serde_json::from_str::<Value>(raw)
        .ok()
        .and_then(|v| match v {
            Value::Object(o) => Some(embedded_error(&o).unwrap_or_else(|| describe_error(&o))),
            _ => None,
        })
        .unwrap_or_else(|| excerpt(raw.as_bytes(), 200));
    with_body(
        protocol(format!("server sent an error mid-stream ({how}): {detail}")),
        raw.as_bytes(),
    )
}

/// Choice 0 (or the first choice without an index); `n > 1` is not used by toolgate.
fn first_choice(chunk: &Map<String, Value>) -> Option<&Map<String, Value>> {
    let Some(Value::Array(choices)) = chunk.get("choices") else {
        return None;
    };
    choices.iter().filter_map(Value::as_object).find(|c| {
        matches!(c.get("index"), None | Some(Value::Null))
            || c.get("index").and_then(Value::as_i64) == Some(0)
    })
}

/// A text field: strings as-is; other non-null values as their JSON text (never dropped).
fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn usage_u64(usage: Option<&Value>, key: &str) -> Option<u64> {
    let v = usage?.get(key)?;
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| *f >= 0.0 && f.is_finite())
            .map(|f| f as u64)
    })
}

fn server_decode_tps(timings: Option<&Value>) -> Option<f64> {
    timings?
        .get("predicted_per_second")?
        .as_f64()
        .filter(|f| f.is_finite())
}

fn looks_like_html(body: &[u8]) -> bool {
    let start: Vec<u8> = body
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(15)
        .map(u8::to_ascii_lowercase)
        .collect();
    start.starts_with(b"<!doctype html")
        || start.starts_with(b"<html")
        || start.starts_with(b"<head")
        || start.starts_with(b"<body")
}

fn html_title(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
    let lower = text.to_ascii_lowercase();
    let start = lower.find("<title")?;
    let open_end = start + lower[start..].find('>')? + 1;
    let close = open_end + lower[open_end..].find("</title")?;
    let t = text
        .get(open_end..close)?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    (!t.is_empty()).then(|| t.chars().take(200).collect())
}

/// The first `max` bytes of `body`, lossily decoded.
pub(crate) fn excerpt(body: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&body[..body.len().min(max)]).into_owned()
}

fn with_body(mut e: InfraError, body: &[u8]) -> InfraError {
    if !body.is_empty() {
        e.body = Some(excerpt(body, BODY_EXCERPT_BYTES));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// SSE body from JSON chunks (`data: …\n\n` each), plus `[DONE]` when asked.
    fn sse(chunks: &[Value], done: bool) -> Vec<u8> {
        let mut s = String::new();
        for c in chunks {
            s.push_str(&format!("data: {c}\n\n"));
        }
        if done {
            s.push_str("data: [DONE]\n\n");
        }
        s.into_bytes()
    }

    fn chunk(delta: Value, finish: Value) -> Value {
        json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    }

    /// Tool calls as (name, parsed arguments), whatever the wire encoding.
    fn calls(m: &AssistantMessage) -> Vec<(String, Value)> {
        m.tool_calls
            .iter()
            .map(|c| {
                let args = match &c.arguments {
                    Value::String(s) => serde_json::from_str(s).unwrap(),
                    v => v.clone(),
                };
                (c.name.clone(), args)
            })
            .collect()
    }

    fn weather_calls() -> Vec<(String, Value)> {
        vec![
            ("get_weather".into(), json!({"city": "Tokyo"})),
            ("get_weather".into(), json!({"city": "Paris"})),
        ]
    }

    #[test]
    fn every_dialect_gives_the_same_calls() {
        // OpenAI: fragments per index, usage chunk.
        let openai = sse(
            &[
                chunk(json!({"role": "assistant", "content": null}), Value::Null),
                chunk(
                    json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
                    Value::Null,
                ),
                chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"ci"}}]}),
                    Value::Null,
                ),
                chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "ty\":\"Tokyo\"}"}}]}),
                    Value::Null,
                ),
                chunk(
                    json!({"tool_calls": [{"index": 1, "id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
                    Value::Null,
                ),
                chunk(
                    json!({"tool_calls": [{"index": 1, "function": {"arguments": "{\"city\":\"Paris\"}"}}]}),
                    Value::Null,
                ),
                chunk(json!({}), json!("tool_calls")),
                json!({"id": "c", "choices": [], "usage": {"prompt_tokens": 82, "completion_tokens": 40, "total_tokens": 122}}),
            ],
            true,
        );
        // vLLM: role chunk with content "", reasoning, name without arguments, the
        // last fragment inside the finish chunk, no `usage: null`.
        let vllm = sse(
            &[
                chunk(json!({"role": "assistant", "content": ""}), Value::Null),
                chunk(json!({"reasoning": "The user"}), Value::Null),
                chunk(
                    json!({"tool_calls": [{"id": "chatcmpl-tool-a", "type": "function", "index": 0, "function": {"name": "get_weather"}}]}),
                    Value::Null,
                ),
                chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\": \""}}]}),
                    Value::Null,
                ),
                chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "Tokyo\"}"}}]}),
                    Value::Null,
                ),
                chunk(
                    json!({"tool_calls": [{"id": "chatcmpl-tool-b", "type": "function", "index": 1, "function": {"name": "get_weather"}}]}),
                    Value::Null,
                ),
                chunk(
                    json!({"tool_calls": [{"index": 1, "function": {"arguments": "{\"city\": \"Paris\"}"}}]}),
                    json!("tool_calls"),
                ),
                json!({"id": "c", "choices": [], "usage": {"prompt_tokens": 230, "completion_tokens": 71}}),
            ],
            true,
        );
        // Ollama /v1: whole calls in one delta, content "" alongside reasoning.
        let ollama = sse(
            &[
                chunk(
                    json!({"role": "assistant", "content": "", "reasoning": "Okay"}),
                    Value::Null,
                ),
                chunk(
                    json!({"content": "", "tool_calls": [
                        {"id": "call_k3j9x0qa", "index": 0, "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Tokyo\"}"}},
                        {"id": "call_p2m8z7rt", "index": 1, "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
                    ]}),
                    Value::Null,
                ),
                chunk(json!({}), json!("tool_calls")),
            ],
            true,
        );
        // A proxy sending every parallel call with index 0 (F10), SGLang reasoning_content.
        let proxy = sse(
            &[
                chunk(json!({"reasoning_content": "hmm"}), Value::Null),
                chunk(
                    json!({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "get_weather", "arguments": "{\"city\":"}}]}),
                    Value::Null,
                ),
                chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Tokyo\"}"}}]}),
                    Value::Null,
                ),
                chunk(
                    json!({"tool_calls": [{"index": 0, "id": "b", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}),
                    json!("tool_calls"),
                ),
            ],
            true,
        );
        for (name, body) in [
            ("openai", openai),
            ("vllm", vllm),
            ("ollama", ollama),
            ("proxy", proxy),
        ] {
            let r = parse_sse_body(&body).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(calls(&r.message), weather_calls(), "{name}");
            assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"), "{name}");
        }
        // The non-streaming shapes of the same answer.
        let nonstream = [
            json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_Xy12", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Tokyo\"}"}},
                {"id": "call_Zq34", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 82, "completion_tokens": 40}}),
            json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "", "reasoning": "two cities", "tool_calls": [
                {"id": "call_a", "index": 0, "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Tokyo"}}},
                {"id": "call_b", "index": 1, "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
                "finish_reason": "tool_calls"}]}),
            // Legacy llama.cpp docs shape: no `function` wrapper.
            json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [
                {"name": "get_weather", "arguments": "{\"city\":\"Tokyo\"}"},
                {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}]},
                "finish_reason": "tool"}]}),
        ];
        for (i, v) in nonstream.iter().enumerate() {
            let c = parse_completion(v.to_string().as_bytes()).unwrap();
            assert_eq!(calls(&c.message), weather_calls(), "non-stream #{i}");
        }
    }

    #[test]
    fn raw_values_are_kept() {
        let body = json!({"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"content": "", "reasoning_content": "r", "tool_calls": [
            {"id": "1", "function": {"name": "a", "arguments": "\"{\\\"x\\\":1}\""}},
            {"id": "2", "function": {"name": "b", "arguments": {"y": 2}}},
            {"id": "3", "function": {"name": "c", "arguments": ""}},
            {"id": "4", "function": {"name": "d"}}]}}], "timings": {"predicted_per_second": 72.5}, "usage": {"completion_tokens": 9}});
        let c = parse_completion(body.to_string().as_bytes()).unwrap();
        let m = &c.message;
        assert_eq!(m.content.as_deref(), Some(""));
        assert_eq!(m.reasoning.as_deref(), Some("r"));
        assert_eq!(m.reasoning_field.as_deref(), Some("reasoning_content"));
        let args: Vec<&Value> = m.tool_calls.iter().map(|c| &c.arguments).collect();
        assert_eq!(
            args,
            vec![
                &json!("\"{\\\"x\\\":1}\""),
                &json!({"y": 2}),
                &json!(""),
                &Value::Null
            ]
        );
        let t = completion_timing(&c, 12.0);
        assert_eq!(t.server_decode_tps, Some(72.5));
        assert_eq!(t.completion_tokens, Some(9));
        assert_eq!(t.ttft_ms, None);
        assert_eq!(t.ttft_missing.as_deref(), Some("non-streaming response"));

        // null content, `tool_calls: []`, the Ollama `thinking` name.
        let c = parse_completion(br#"{"choices":[{"message":{"content":null,"thinking":"t","tool_calls":[]},"finish_reason":"stop"}]}"#).unwrap();
        assert_eq!(c.message.content, None);
        assert!(c.message.tool_calls.is_empty());
        assert_eq!(c.message.reasoning_field.as_deref(), Some("thinking"));
    }

    #[test]
    fn stream_timing_follows_design_9() {
        let body = [
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}",
            ": ping",
            "data: {\"choices\":[{\"index\":0,\"delta\":{}}],\"prompt_progress\":{\"total\":10,\"processed\":5}}",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"think\"}}]}",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},\"finish_reason\":\"stop\"}]}",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":11},\"timings\":{\"predicted_per_second\":40.0}}",
            "data: [DONE]",
        ];
        let mut dec = SseDecoder::new();
        let mut acc = StreamAccumulator::new();
        let times = [10.0, 20.0, 30.0, 100.0, 150.0, 300.0, 310.0, 320.0];
        for (line, t) in body.iter().zip(times) {
            for ev in dec.push(format!("{line}\n\n").as_bytes()).unwrap() {
                acc.feed(&ev, t).unwrap();
            }
        }
        let r = acc.finish(330.0).unwrap();
        let t = &r.timing;
        assert_eq!(
            t.ttft_ms,
            Some(100.0),
            "role chunk, ping and progress do not count"
        );
        assert_eq!(t.ttft_content_ms, Some(150.0));
        assert_eq!(t.last_token_ms, Some(300.0));
        assert_eq!(t.e2e_ms, 330.0);
        assert_eq!(t.completion_tokens, Some(11));
        assert_eq!(t.prompt_tokens, Some(5));
        assert!(!t.tokens_estimated);
        assert_eq!(t.decode_tps, Some(10.0 / 0.2));
        assert_eq!(t.server_decode_tps, Some(40.0));
        assert_eq!(t.chunks, 3);
        assert_eq!(t.itl_ms, vec![50.0, 150.0]);
        assert_eq!(r.message.content.as_deref(), Some("Hi there"));
        assert_eq!(r.message.reasoning.as_deref(), Some("think"));
        assert_eq!(r.message.reasoning_field.as_deref(), Some("reasoning"));
    }

    #[test]
    fn tokens_estimated_without_usage_and_ttft_missing_without_tokens() {
        let r = parse_sse_body(&sse(
            &[
                chunk(json!({"content": "a"}), Value::Null),
                chunk(json!({"content": "b"}), json!("stop")),
            ],
            true,
        ))
        .unwrap();
        assert_eq!(r.timing.completion_tokens, Some(2));
        assert!(r.timing.tokens_estimated);

        let r = parse_sse_body(&sse(
            &[chunk(
                json!({"role": "assistant", "content": ""}),
                json!("length"),
            )],
            true,
        ))
        .unwrap();
        assert_eq!(r.timing.ttft_ms, None);
        assert!(r.timing.ttft_missing.is_some());
        assert_eq!(r.timing.completion_tokens, None);
        assert_eq!(r.timing.decode_tps, None);
    }

    #[test]
    fn duplicate_reasoning_fields_are_not_doubled() {
        let r = parse_sse_body(&sse(
            &[
                chunk(
                    json!({"reasoning": "ab", "reasoning_content": "ab"}),
                    Value::Null,
                ),
                chunk(
                    json!({"reasoning": "cd", "reasoning_content": "cd", "content": "x"}),
                    json!("stop"),
                ),
            ],
            true,
        ))
        .unwrap();
        assert_eq!(r.message.reasoning.as_deref(), Some("abcd"));
    }

    #[test]
    fn streamed_errors_are_protocol_errors() {
        // vLLM: error event then [DONE].
        let vllm = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"EngineCore died\",\"type\":\"InternalServerError\",\"code\":500}}\n\ndata: [DONE]\n\n";
        let e = parse_sse_body(vllm).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Protocol);
        assert!(e.message.contains("EngineCore died"), "{}", e.message);
        // SGLang flat error object in a data chunk.
        let e = parse_sse_body(
            b"data: {\"object\":\"error\",\"message\":\"oom\",\"code\":500}\n\ndata: [DONE]\n\n",
        )
        .unwrap_err();
        assert!(e.message.contains("oom"));
        // llama.cpp `error:` line.
        let e = parse_sse_body(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\nerror: {\"code\":500,\"message\":\"slot died\",\"type\":\"server_error\"}\n\n").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Protocol);
        assert!(
            e.message.contains("slot died") && e.message.contains("error: line"),
            "{}",
            e.message
        );
        assert!(e.body.unwrap().contains("slot died"));
    }

    #[test]
    fn broken_streams() {
        let cut = sse(&[chunk(json!({"content": "a"}), Value::Null)], false);
        let e = parse_sse_body(&cut).unwrap_err();
        assert!(e.message.contains("without [DONE]"), "{}", e.message);

        // finish_reason but no [DONE] (Ollama compat, some proxies): accepted.
        let no_done = sse(&[chunk(json!({"content": "a"}), json!("stop"))], false);
        assert_eq!(
            parse_sse_body(&no_done).unwrap().message.content.as_deref(),
            Some("a")
        );

        let e =
            parse_sse_body(b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"\n\n").unwrap_err();
        assert!(e.message.contains("malformed JSON"), "{}", e.message);
        let e = parse_sse_body(b"data: [1,2]\n\n").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Protocol);
        let e = parse_sse_body(b"data: [DONE]\n\n").unwrap_err();
        assert!(e.message.contains("without any completion chunk"));
        let e = parse_sse_body(b"").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Protocol);
        let e = parse_sse_body(b"data: {\"choices\":[{\"delta\":{\"content\":\"\xc3\x28\"}}]}\n\n")
            .unwrap_err();
        assert!(e.message.contains("UTF-8"));
    }

    #[test]
    fn non_streaming_errors() {
        let e = parse_completion(
            b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head></html>",
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Protocol);
        assert!(
            e.message.contains("HTML") && e.message.contains("502 Bad Gateway"),
            "{}",
            e.message
        );
        let e =
            parse_completion(br#"{"error":{"message":"boom","type":"x","code":500}}"#).unwrap_err();
        assert!(e.message.contains("boom"));
        assert!(parse_completion(br#"{"choices":[]}"#)
            .unwrap_err()
            .message
            .contains("no choices"));
        assert!(parse_completion(br#"{"choices":[{"index":0}]}"#)
            .unwrap_err()
            .message
            .contains("no message"));
        assert!(parse_completion(b"{\"choices\":").is_err());
        assert!(parse_completion(b"\xff\xfe").is_err());
    }

    #[test]
    fn http_error_shapes() {
        let nested = br#"{"error":{"message":"\"auto\" tool choice requires --enable-auto-tool-choice","type":"BadRequestError","param":null,"code":400}}"#;
        let e = classify_http_error(400, Some("application/json"), nested);
        assert_eq!(e.kind, ErrorKind::Http4xx);
        assert_eq!(e.status, Some(400));
        assert!(
            e.message
                .starts_with("HTTP 400: \"auto\" tool choice requires"),
            "{}",
            e.message
        );
        assert!(e.message.contains("BadRequestError"));

        let flat = br#"{"object":"error","message":"Internal server error: x","type":"InternalServerError","param":null,"code":500}"#;
        let e = classify_http_error(500, None, flat);
        assert_eq!(e.kind, ErrorKind::Http5xx);
        assert!(e.message.contains("Internal server error: x"));

        let e = classify_http_error(
            503,
            Some("application/json"),
            br#"{"error":"server busy, please try again.  maximum pending requests exceeded"}"#,
        );
        assert!(e.message.contains("server busy"));
        let e = classify_http_error(422, None, br#"{"detail":[{"msg":"field required"}]}"#);
        assert!(e.message.contains("field required"));

        let html =
            b"<html><head><title>504 Gateway Time-out</title></head><body>nginx</body></html>";
        let e = classify_http_error(504, Some("text/html"), html);
        assert_eq!(e.message, "HTTP 504: HTML page: 504 Gateway Time-out");

        let big = vec![b'x'; 10_000];
        let e = classify_http_error(500, Some("text/plain"), &big);
        assert_eq!(e.body.unwrap().len(), BODY_EXCERPT_BYTES);
        let e = classify_http_error(302, None, b"");
        assert_eq!(e.kind, ErrorKind::Protocol);
        assert_eq!(e.body, None);
        assert_eq!(e.message, "HTTP 302 with an empty body");
        // Lossy decoding, no panic, on invalid UTF-8.
        let e = classify_http_error(500, None, b"\xff oops");
        assert!(e.message.contains("oops"));
    }

    /// Issue 17: a flood of tool calls keeps the first MAX_TOOL_CALLS and counts the rest,
    /// streamed or not.
    #[test]
    fn a_flood_of_tool_calls_is_capped_and_counted() {
        let n = MAX_TOOL_CALLS + 500;
        let calls: Vec<Value> = (0..n)
            .map(|i| {
                serde_json::json!({"id": format!("c{i}"), "type": "function",
                "function": {"name": "f", "arguments": "{}"}})
            })
            .collect();
        let body = serde_json::json!({"choices": [{"index": 0, "finish_reason": "tool_calls",
            "message": {"content": null, "tool_calls": calls}}]});
        let c = parse_completion(body.to_string().as_bytes()).unwrap();
        assert_eq!(c.message.tool_calls.len(), MAX_TOOL_CALLS);
        assert_eq!(c.message.tool_calls_total, Some(n as u64));

        let mut sse = String::new();
        for i in 0..n {
            let chunk = serde_json::json!({"choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": i, "id": format!("c{i}"), "function": {"name": "f", "arguments": "{}"}}]}}]});
            sse.push_str(&format!("data: {chunk}\n\n"));
        }
        sse.push_str("data: [DONE]\n\n");
        let r = parse_sse_body(sse.as_bytes()).unwrap();
        assert_eq!(r.message.tool_calls.len(), MAX_TOOL_CALLS);
        assert_eq!(r.message.tool_calls_total, Some(n as u64));
        let small = parse_completion(
            br#"{"choices":[{"message":{"content":null,"tool_calls":[{"function":{"name":"f","arguments":"{}"}}]}}]}"#,
        )
        .unwrap();
        assert_eq!(small.message.tool_calls_total, None);
    }

    /// Issue 17: a lone surrogate is recorded as U+FFFD with a note, not an infra error;
    /// a valid pair and an escaped backslash are left alone.
    #[test]
    fn a_lone_surrogate_is_recorded_as_replacement_character() {
        let c = parse_completion(
            br#"{"choices":[{"message":{"content":"a\ud800b \ud83d\ude00 \\ud800"}}]}"#,
        )
        .unwrap();
        assert_eq!(
            c.message.content.as_deref(),
            Some("a\u{fffd}b \u{1f600} \\ud800")
        );
        assert_eq!(c.message.notes.len(), 1);
        let sse =
            b"data: {\"choices\":[{\"delta\":{\"content\":\"x\\udc00\"}}]}\n\ndata: [DONE]\n\n";
        let r = parse_sse_body(sse).unwrap();
        assert_eq!(r.message.content.as_deref(), Some("x\u{fffd}"));
        assert_eq!(r.message.notes.len(), 1);
        assert!(parse_completion(b"{not json \\ud800").is_err());
    }
}
