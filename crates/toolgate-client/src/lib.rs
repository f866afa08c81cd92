//! toolgate-client: the OpenAI-compatible chat client (thinking mapping: docs/case-format.md; error kinds: docs/failure-kinds.md; timing: docs/latency.md).
//!
//! # Architecture
//!
//! One [`Client`] wraps two ways to the wire: the lean HTTP/1.1 pool, and async-openai over one
//! pooled `reqwest::Client` (TCP_NODELAY, rustls with the ring provider, no redirects, no
//! retries of its own). [`Client::chat`] sends
//! one request body that the caller built (model, messages, tools, `extra_body`, the thinking
//! variant via [`apply_thinking`]); the client only adds `stream` /
//! `stream_options.include_usage`, so the body bytes are known and hashed (`body_sha256`). The
//! answer is a [`ChatOutcome`]: a `toolgate_core::TurnRecord` (message exactly as received,
//! finish reason, usage, server timings, timing as docs/latency.md defines it, status) or a
//! `toolgate_core::InfraError`, plus every retry made. Which way a request takes never changes
//! the record's shape.
//!
//! Layers, each testable alone:
//! - [`sse`] — a hand-written SSE line decoder. It surfaces llama.cpp's non-standard
//!   `error: {…}` lines and `event: error`, ignores comments (`: ping`), tolerates missing
//!   blank lines, and rejects invalid UTF-8.
//! - [`parse`] — pure, clock-free parsing: [`StreamAccumulator`] (fed events with the time
//!   each was read), [`parse_completion`], [`classify_http_error`]. Every server dialect
//!   (recorded examples in golden/recorded/) lands in the same record; raw values are kept for
//!   the graders.
//! - [`client`] — I/O: attempts, timeouts, caps, retries, metadata probes.
//! - `transport` — the lean path: a hand-written HTTP/1.1 keep-alive pool on hyper for plain
//!   `http://` (what self-hosted servers speak), measured in BENCHMARKS.md.
//! - `hosted` — the hosted path: async-openai for `https://`, proxied and Azure targets.
//! - [`health_ok`] — the health GET of a managed server (plain http, no proxy, no pool).
//! - `pooled` — hyper_util's pooled client in place of the lean pool
//!   (`TOOLGATE_HTTP=hyper-util`), kept as the bench comparison for it.
//!
//! # The two paths, and async-openai
//!
//! Self-hosted servers over plain http keep the lean path: at concurrency 1 reqwest's pooled
//! client alone cost ~17 µs more per request than a hyper connection used directly, and the
//! hand-written SSE decoder surfaces what spec-compliant readers drop (llama.cpp `error:`
//! lines) and stamps events as bytes come off the socket.
//!
//! Hosted APIs go through async-openai (`byot` + `chat-completion` + `middleware`), which
//! knows their URL and auth rules: OpenAI's bearer key with `OpenAI-Organization` /
//! `OpenAI-Project`, Azure's deployment URL, `api-version` query and `api-key` header
//! ([`Api`]). It is held to toolgate's rules rather than trusted with them:
//! - Bodies and stream events are `serde_json::Value` through its `byot` methods: its typed
//!   path would drop `reasoning` / `reasoning_content` and unknown fields.
//! - Its default client always wraps a retry layer (exponential backoff on 429/5xx/connect);
//!   toolgate installs its own one-request tower service instead, so the only retries are
//!   [`RetryPolicy`]'s, each recorded.
//! - That service records the response head, reads and classifies error bodies itself
//!   (status, `Retry-After`, the lean path's messages), and wraps the body in the size cap
//!   and idle timeout. Its configs read `OPENAI_*` environment variables by default; every
//!   field is set explicitly so none leaks into a target.
//! - What is lost, and documented: its SSE reader (eventsource-stream) drops llama.cpp's
//!   `error:` lines and the name of an `event: error`; events are stamped as they leave its
//!   reader task (one task hop after the socket read).
//!
//! # Decisions
//!
//! - **Retries** ([`RetryPolicy`]): only connect errors (refused, reset before any
//!   response, DNS, TLS handshake), 429 and 503; deterministic doubling from `base_backoff`
//!   capped at `max_backoff`, or `Retry-After` (seconds or IMF-fixdate, capped at
//!   `max_retry_after`). Nothing is retried once a success status arrived. reqwest's own
//!   HTTP/2 NACK retry is switched off (`retry::never()`), redirects are not followed (a
//!   redirected POST would become a GET; the 3xx is reported as `protocol`). The one retry
//!   left below us is hyper's resend of a request that was never written because a pooled
//!   idle connection had just closed — the server never saw it.
//! - **Timeouts**: `Endpoint::timeout` bounds a whole attempt (headers + body) → `timeout`;
//!   `Endpoint::idle_timeout` bounds each gap between body reads → `timeout`. Waiting for
//!   headers (prefill) is bounded only by the whole-request timeout.
//! - **Size cap**: more than `max_body_bytes` → `protocol` "response exceeded N bytes".
//! - **Stream endings**: `[DONE]` ends the stream (later bytes are not read). EOF without
//!   `[DONE]` is accepted when a `finish_reason` was seen (Ollama's compat layer and some
//!   proxies omit `[DONE]`; nothing the model said is lost); EOF without either, a broken
//!   connection mid-body, `[DONE]` with no completion chunk at all → `protocol`.
//! - **Streamed errors** (vLLM/SGLang `data: {"error":…}`, llama.cpp `error:` lines,
//!   `event: error`) → `protocol`, whatever code they carry: the HTTP exchange succeeded
//!   (status 200 is kept in `InfraError::status`) and the in-band code is in the message and
//!   body excerpt. A 200 with an HTML page or an error object → `protocol`.
//! - **HTTP errors**: 4xx → `http_4xx`, 5xx → `http_5xx`, other non-2xx → `protocol`; the
//!   message comes from nested, flat, Ollama and FastAPI error bodies or the HTML title; the
//!   body excerpt is at most 2 KB, lossily decoded.
//! - **Timing** (docs/latency.md): times are ms from t0 (just before the request is written),
//!   stamped when bytes come off the socket, before parsing. TTFT counts only chunks with
//!   non-empty content, reasoning, refusal, or a tool-call delta. Without `usage`, completion
//!   tokens are the number of token-bearing chunks, flagged `tokens_estimated`.
//!   Non-streaming: TTFT is `None` with `ttft_missing = "non-streaming response"`.
//! - **Secrets**: the API key is only ever a header (bearer, or Azure's `api-key`), marked
//!   sensitive; `Endpoint`'s `Debug` redacts it and error messages never include URLs.
pub mod client;
mod health;
mod hosted;
mod idle;
pub mod parse;
mod pooled;
pub mod profile;
pub mod sse;
mod tls;
mod transport;

pub use client::{
    parse_retry_after, Api, ChatOutcome, ChatRequest, Client, ClientError, Endpoint, RetryPolicy,
    WireBody,
};
pub use health::health_ok;
pub use parse::{
    classify_http_error, completion_timing, parse_completion, parse_sse_body, parse_sse_split,
    Completion, Feed, StreamAccumulator, StreamResult,
};
pub use profile::{apply_thinking, detect, Profile, ThinkingMapping, UnknownProfile};
pub use sse::{SseDecoder, SseEvent};
