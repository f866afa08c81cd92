//! Wire shapes per dialect (as in the recorded runs under golden/recorded/): streamed chunks
//! as timed segments, non-streamed bodies, error bodies.
//!
//! Token accounting: every chunk that carries generated output (a content or reasoning
//! piece, a tool-call head or argument fragment, an Ollama whole call) is one token, and
//! `usage.completion_tokens` is their number. Consecutive token chunks are `chunk_delay_ms`
//! apart, so a client's (completion_tokens − 1) / (last − first) equals 1000 / delay.

use crate::script::Dialect;
use crate::transform::{args_string, Answer};
use serde_json::{json, Map, Value};

/// Everything a renderer needs besides the answer.
#[derive(Debug, Clone)]
pub struct RenderCtx<'a> {
    pub dialect: Dialect,
    pub model: &'a str,
    /// Request number (server-wide), seeds ids.
    pub req_no: u64,
    /// Unix seconds.
    pub created: u64,
    pub chunk_chars: usize,
    pub include_usage: bool,
    pub prompt_tokens: u64,
    pub ttft_ms: u64,
    pub chunk_delay_ms: u64,
}

/// What a streamed segment is, so faults can cut the stream at the right place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegKind {
    /// Role-only chunk (no generated output).
    Role,
    Token,
    /// A finish chunk without output.
    Finish,
    Usage,
    Done,
}

/// One SSE event and the pause before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seg {
    pub delay_ms: u64,
    pub data: String,
    pub kind: SegKind,
}

/// Generated output, one token each.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Reasoning(String),
    Content(String),
    CallHead {
        i: usize,
        id: String,
        name: String,
        args: Option<String>,
    },
    CallArgs {
        i: usize,
        frag: String,
    },
    Whole {
        i: usize,
        id: String,
        name: String,
        args: String,
    },
}

/// splitmix64: cheap deterministic ids without a rand dependency.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn alnum(seed: u64, len: usize, lower_only: bool) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const L: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let set = if lower_only { L } else { A };
    let mut s = String::with_capacity(len);
    let mut x = seed;
    for _ in 0..len {
        x = mix(x);
        s.push(set[(x % set.len() as u64) as usize] as char);
    }
    s
}

fn hex(seed: u64, len: usize) -> String {
    let mut s = String::with_capacity(len);
    let mut x = seed;
    while s.len() < len {
        x = mix(x);
        s.push_str(&format!("{x:016x}"));
    }
    s.truncate(len);
    s
}

impl RenderCtx<'_> {
    /// The completion id, in the dialect's style.
    pub fn completion_id(&self) -> String {
        let seed = mix(self.req_no ^ 0xC0FFEE);
        match self.dialect {
            Dialect::Vllm => format!("chatcmpl-{}", hex(seed, 32)),
            Dialect::Llamacpp => format!("chatcmpl-{}", alnum(seed, 32, false)),
            // Ollama's ids collide on purpose (chatcmpl-<0..998>): clients must not key on them.
            Dialect::Ollama => format!("chatcmpl-{}", seed % 999),
            Dialect::Openai => format!("chatcmpl-{}", alnum(seed, 24, false)),
        }
    }

    fn call_id(&self, i: usize) -> String {
        let seed = mix(self.req_no.wrapping_mul(1_000_003) ^ i as u64);
        match self.dialect {
            Dialect::Vllm => format!("chatcmpl-tool-{}", hex(seed, 32)),
            Dialect::Llamacpp => alnum(seed, 32, false),
            Dialect::Ollama => format!("call_{}", alnum(seed, 8, true)),
            Dialect::Openai => format!("call_{}", alnum(seed, 24, false)),
        }
    }

    fn reasoning_key(&self) -> &'static str {
        match self.dialect {
            Dialect::Llamacpp => "reasoning_content",
            _ => "reasoning",
        }
    }
}

/// Split into pieces of `n` chars.
fn pieces(s: &str, n: usize) -> Vec<String> {
    let n = n.max(1);
    let mut out = Vec::with_capacity(s.len() / n + 1);
    let mut cur = String::new();
    let mut count = 0;
    for ch in s.chars() {
        cur.push(ch);
        count += 1;
        if count == n {
            out.push(std::mem::take(&mut cur));
            count = 0;
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn tokens(a: &Answer, rc: &RenderCtx<'_>) -> Vec<Tok> {
    let m = &a.message;
    let mut out = Vec::new();
    if let Some(r) = m.reasoning.as_deref() {
        out.extend(pieces(r, rc.chunk_chars).into_iter().map(Tok::Reasoning));
    }
    if let Some(c) = m.content.as_deref() {
        out.extend(pieces(c, rc.chunk_chars).into_iter().map(Tok::Content));
    }
    for (i, c) in m.tool_calls.iter().enumerate() {
        // Ids are a wire detail: always in the dialect's style, whatever the oracle set.
        let id = rc.call_id(i);
        let args = args_string(c);
        match rc.dialect {
            Dialect::Ollama => out.push(Tok::Whole {
                i,
                id,
                name: c.name.clone(),
                args,
            }),
            Dialect::Vllm => {
                out.push(Tok::CallHead {
                    i,
                    id,
                    name: c.name.clone(),
                    args: None,
                });
                out.extend(
                    pieces(&args, rc.chunk_chars)
                        .into_iter()
                        .map(|frag| Tok::CallArgs { i, frag }),
                );
            }
            Dialect::Llamacpp => {
                // llama.cpp opens the arguments with a lone "{" in the head delta.
                let (first, rest) = match args.char_indices().nth(1) {
                    Some((pos, _)) => (args[..pos].to_string(), &args[pos..]),
                    None => (args.clone(), ""),
                };
                out.push(Tok::CallHead {
                    i,
                    id,
                    name: c.name.clone(),
                    args: Some(first),
                });
                out.extend(
                    pieces(rest, rc.chunk_chars)
                        .into_iter()
                        .map(|frag| Tok::CallArgs { i, frag }),
                );
            }
            Dialect::Openai => {
                out.push(Tok::CallHead {
                    i,
                    id,
                    name: c.name.clone(),
                    args: Some(String::new()),
                });
                out.extend(
                    pieces(&args, rc.chunk_chars)
                        .into_iter()
                        .map(|frag| Tok::CallArgs { i, frag }),
                );
            }
        }
    }
    out
}

/// Number of token chunks the answer streams as (= `usage.completion_tokens`).
pub fn completion_tokens(a: &Answer, rc: &RenderCtx<'_>) -> u64 {
    tokens(a, rc).len() as u64
}

fn delta(t: &Tok, rc: &RenderCtx<'_>) -> Value {
    let ollama = rc.dialect == Dialect::Ollama;
    let mut d = Map::new();
    match t {
        Tok::Reasoning(s) => {
            if ollama {
                d.insert("content".into(), json!(""));
            }
            d.insert(rc.reasoning_key().into(), json!(s));
        }
        Tok::Content(s) => {
            d.insert("content".into(), json!(s));
        }
        Tok::CallHead { i, id, name, args } => {
            let mut f = Map::new();
            f.insert("name".into(), json!(name));
            if let Some(a) = args {
                f.insert("arguments".into(), json!(a));
            }
            let call = match rc.dialect {
                Dialect::Vllm => json!({"id": id, "type": "function", "index": i, "function": f}),
                _ => json!({"index": i, "id": id, "type": "function", "function": f}),
            };
            d.insert("tool_calls".into(), json!([call]));
        }
        Tok::CallArgs { i, frag } => {
            d.insert(
                "tool_calls".into(),
                json!([{"index": i, "function": {"arguments": frag}}]),
            );
        }
        Tok::Whole { i, id, name, args } => {
            d.insert("content".into(), json!(""));
            d.insert(
                "tool_calls".into(),
                json!([{"id": id, "index": i, "type": "function",
                        "function": {"name": name, "arguments": args}}]),
            );
        }
    }
    Value::Object(d)
}

fn usage(a: &Answer, rc: &RenderCtx<'_>, k: u64) -> Value {
    let mut u = json!({
        "prompt_tokens": rc.prompt_tokens,
        "completion_tokens": k,
        "total_tokens": rc.prompt_tokens + k,
    });
    match rc.dialect {
        Dialect::Vllm => {
            if let Some(r) = a.message.reasoning.as_deref() {
                let rt = pieces(r, rc.chunk_chars).len();
                u["completion_tokens_details"] = json!({"reasoning_tokens": rt});
            }
        }
        Dialect::Llamacpp => {
            u["prompt_tokens_details"] = json!({"cached_tokens": 0});
        }
        _ => {}
    }
    u
}

/// llama.cpp `timings`, consistent with the injected delays (nominal, not measured).
pub fn timings(rc: &RenderCtx<'_>, k: u64) -> Value {
    // A zero delay has no finite rate; report a nominal 0.01 ms per token instead.
    let per_tok = if rc.chunk_delay_ms == 0 {
        0.01
    } else {
        rc.chunk_delay_ms as f64
    };
    let prompt_ms = rc.ttft_ms as f64;
    let prompt_rate = if prompt_ms > 0.0 {
        rc.prompt_tokens as f64 * 1000.0 / prompt_ms
    } else {
        rc.prompt_tokens as f64 * 1000.0 / 0.01
    };
    json!({
        "cache_n": 0,
        "prompt_n": rc.prompt_tokens,
        "prompt_ms": prompt_ms,
        "prompt_per_token_ms": if rc.prompt_tokens > 0 { prompt_ms / rc.prompt_tokens as f64 } else { 0.0 },
        "prompt_per_second": prompt_rate,
        "predicted_n": k,
        "predicted_ms": per_tok * k as f64,
        "predicted_per_token_ms": per_tok,
        "predicted_per_second": 1000.0 / per_tok,
    })
}

/// A streamed chunk's JSON, in the dialect's envelope.
fn chunk(rc: &RenderCtx<'_>, id: &str, delta: Value, finish: Option<&str>) -> Value {
    match rc.dialect {
        Dialect::Vllm => {
            let mut choice =
                json!({"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish});
            if finish.is_some() {
                choice["stop_reason"] = Value::Null;
            }
            json!({"id": id, "object": "chat.completion.chunk", "created": rc.created,
                   "model": rc.model, "choices": [choice]})
        }
        Dialect::Llamacpp => json!({
            "choices": [{"finish_reason": finish, "index": 0, "delta": delta}],
            "created": rc.created, "id": id, "model": rc.model,
            "system_fingerprint": "b0-toolgate-sim", "object": "chat.completion.chunk"
        }),
        Dialect::Ollama => json!({
            "id": id, "object": "chat.completion.chunk", "created": rc.created, "model": rc.model,
            "system_fingerprint": "fp_ollama",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
        }),
        Dialect::Openai => json!({
            "id": id, "object": "chat.completion.chunk", "created": rc.created, "model": rc.model,
            "system_fingerprint": null,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
        }),
    }
}

fn usage_chunk(rc: &RenderCtx<'_>, id: &str, usage: Value) -> Value {
    match rc.dialect {
        Dialect::Llamacpp => json!({
            "choices": [], "created": rc.created, "id": id, "model": rc.model,
            "system_fingerprint": "b0-toolgate-sim", "object": "chat.completion.chunk",
            "usage": usage
        }),
        Dialect::Ollama => json!({
            "id": id, "object": "chat.completion.chunk", "created": rc.created, "model": rc.model,
            "system_fingerprint": "fp_ollama", "choices": [], "usage": usage
        }),
        _ => json!({"id": id, "object": "chat.completion.chunk", "created": rc.created,
                    "model": rc.model, "choices": [], "usage": usage}),
    }
}

/// `data: <json>\n\n`
pub fn sse(v: &Value) -> String {
    let mut s = String::with_capacity(256);
    s.push_str("data: ");
    s.push_str(&v.to_string());
    s.push_str("\n\n");
    s
}

pub const DONE: &str = "data: [DONE]\n\n";

/// The streamed response as timed segments. `finish: false` leaves out every trace of the
/// end (finish_reason, usage, `[DONE]`), for the `no_finish` fault.
pub fn stream_segments(a: &Answer, rc: &RenderCtx<'_>, finish: bool) -> Vec<Seg> {
    let id = rc.completion_id();
    let toks = tokens(a, rc);
    let k = toks.len() as u64;
    let mut segs = Vec::with_capacity(toks.len() + 4);
    let role = match rc.dialect {
        Dialect::Vllm => Some(json!({"role": "assistant", "content": ""})),
        Dialect::Llamacpp => Some(json!({"role": "assistant", "content": null})),
        Dialect::Openai => Some(json!({"role": "assistant", "content": "", "refusal": null})),
        // Ollama puts the role into the first output chunk.
        Dialect::Ollama => None,
    };
    let mut pending_delay = rc.ttft_ms;
    if let Some(r) = role {
        segs.push(Seg {
            delay_ms: pending_delay,
            data: sse(&chunk(rc, &id, r, None)),
            kind: SegKind::Role,
        });
        pending_delay = 0;
    } else if toks.is_empty() {
        segs.push(Seg {
            delay_ms: pending_delay,
            data: sse(&chunk(
                rc,
                &id,
                json!({"role": "assistant", "content": ""}),
                None,
            )),
            kind: SegKind::Role,
        });
        pending_delay = 0;
    }
    // Where the finish reason goes: vLLM flushes the last output with it.
    let finish_in_last = finish && rc.dialect == Dialect::Vllm && !toks.is_empty();
    let last = toks.len().saturating_sub(1);
    for (n, t) in toks.iter().enumerate() {
        let mut d = delta(t, rc);
        if n == 0 && rc.dialect == Dialect::Ollama {
            let mut with_role = Map::new();
            with_role.insert("role".into(), json!("assistant"));
            if let Value::Object(m) = d {
                with_role.extend(m);
            }
            d = Value::Object(with_role);
        }
        let fin = (finish_in_last && n == last).then_some(a.finish_reason.as_str());
        segs.push(Seg {
            delay_ms: if n == 0 {
                pending_delay
            } else {
                rc.chunk_delay_ms
            },
            data: sse(&chunk(rc, &id, d, fin)),
            kind: SegKind::Token,
        });
    }
    if !finish {
        return segs;
    }
    let timings_on_finish = rc.dialect == Dialect::Llamacpp && !rc.include_usage;
    if !finish_in_last {
        let mut c = chunk(rc, &id, json!({}), Some(&a.finish_reason));
        if timings_on_finish {
            c["timings"] = timings(rc, k);
        }
        segs.push(Seg {
            delay_ms: 0,
            data: sse(&c),
            kind: SegKind::Finish,
        });
    }
    if rc.include_usage {
        let mut c = usage_chunk(rc, &id, usage(a, rc, k));
        if rc.dialect == Dialect::Llamacpp {
            c["timings"] = timings(rc, k);
        }
        segs.push(Seg {
            delay_ms: 0,
            data: sse(&c),
            kind: SegKind::Usage,
        });
    }
    segs.push(Seg {
        delay_ms: 0,
        data: DONE.to_string(),
        kind: SegKind::Done,
    });
    segs
}

/// The non-streamed response body.
pub fn non_stream_body(a: &Answer, rc: &RenderCtx<'_>) -> String {
    let id = rc.completion_id();
    let k = completion_tokens(a, rc);
    let m = &a.message;
    let calls: Vec<Value> = m
        .tool_calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let id = rc.call_id(i);
            let f = json!({"name": c.name, "arguments": args_string(c)});
            match rc.dialect {
                Dialect::Ollama => json!({"id": id, "index": i, "type": "function", "function": f}),
                _ => json!({"id": id, "type": "function", "function": f}),
            }
        })
        .collect();
    let has_calls = !calls.is_empty();
    let content = match (&m.content, rc.dialect) {
        (Some(c), _) => json!(c),
        (None, Dialect::Ollama) => json!(""),
        (None, _) => Value::Null,
    };
    let mut msg = Map::new();
    msg.insert("role".into(), json!("assistant"));
    msg.insert("content".into(), content);
    match rc.dialect {
        Dialect::Vllm => {
            msg.insert("refusal".into(), Value::Null);
            msg.insert("annotations".into(), Value::Null);
            msg.insert("audio".into(), Value::Null);
            msg.insert("function_call".into(), Value::Null);
            // vLLM serialises the default: `[]` on plain answers.
            msg.insert("tool_calls".into(), Value::Array(calls));
        }
        Dialect::Openai => {
            msg.insert("refusal".into(), Value::Null);
            if has_calls {
                msg.insert("tool_calls".into(), Value::Array(calls));
            }
        }
        Dialect::Llamacpp | Dialect::Ollama => {
            if has_calls {
                msg.insert("tool_calls".into(), Value::Array(calls));
            }
        }
    }
    if let Some(r) = &m.reasoning {
        msg.insert(rc.reasoning_key().into(), json!(r));
    }
    let u = usage(a, rc, k);
    let fin = a.finish_reason.as_str();
    let body = match rc.dialect {
        Dialect::Vllm => json!({
            "id": id, "object": "chat.completion", "created": rc.created, "model": rc.model,
            "choices": [{"index": 0, "message": msg, "logprobs": null, "finish_reason": fin, "stop_reason": null}],
            "usage": u, "prompt_logprobs": null
        }),
        Dialect::Llamacpp => json!({
            "choices": [{"finish_reason": fin, "index": 0, "message": msg}],
            "created": rc.created, "model": rc.model, "system_fingerprint": "b0-toolgate-sim",
            "object": "chat.completion", "usage": u, "id": id, "timings": timings(rc, k)
        }),
        Dialect::Ollama => json!({
            "id": id, "object": "chat.completion", "created": rc.created, "model": rc.model,
            "system_fingerprint": "fp_ollama",
            "choices": [{"index": 0, "message": msg, "finish_reason": fin}],
            "usage": u
        }),
        Dialect::Openai => json!({
            "id": id, "object": "chat.completion", "created": rc.created, "model": rc.model,
            "system_fingerprint": null,
            "choices": [{"index": 0, "message": msg, "logprobs": null, "finish_reason": fin}],
            "usage": u
        }),
    };
    body.to_string()
}

/// An error body in the dialect's shape.
pub fn error_body(dialect: Dialect, status: u16, message: &str) -> String {
    let v = match dialect {
        Dialect::Vllm => {
            let ty = match status {
                400 => "BadRequestError",
                404 => "NotFoundError",
                429 => "RateLimitError",
                503 => "ServiceUnavailableError",
                _ => "InternalServerError",
            };
            json!({"error": {"message": message, "type": ty, "param": null, "code": status}})
        }
        Dialect::Llamacpp => {
            let ty = match status {
                400 => "invalid_request_error",
                404 => "not_found_error",
                429 => "rate_limit_error",
                503 => "unavailable_error",
                _ => "server_error",
            };
            json!({"error": {"code": status, "message": message, "type": ty}})
        }
        Dialect::Ollama => {
            let ty = match status {
                400 => "invalid_request_error",
                404 => "not_found_error",
                _ => "api_error",
            };
            json!({"error": {"message": message, "type": ty, "param": null, "code": null}})
        }
        Dialect::Openai => {
            let ty = match status {
                400 | 404 => "invalid_request_error",
                429 => "rate_limit_exceeded",
                _ => "server_error",
            };
            json!({"error": {"message": message, "type": ty, "param": null, "code": null}})
        }
    };
    v.to_string()
}
