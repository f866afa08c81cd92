//! toolgate-client: the OpenAI-compatible chat client (thinking mapping: docs/case-format.md; error kinds: docs/failure-kinds.md; timing: docs/latency.md).
//!
//! # Architecture
//!
//! One [`Client`] wraps one pooled `reqwest::Client` (HTTP/1.1, `TCP_NODELAY` on, rustls with
//! the ring provider for `https`). [`Client::chat`] sends one request body that the caller
//! built (model, messages, tools, `extra_body`, the thinking variant via [`apply_thinking`]);
//! the client only adds `stream` / `stream_options.include_usage`, so the body bytes are
//! known and hashed (`body_sha256`). The answer is a [`ChatOutcome`]: a
//! `toolgate_core::TurnRecord` (message exactly as received, finish reason, usage, server
//! timings, timing as docs/latency.md defines it, status) or a `toolgate_core::InfraError`, plus every retry made.
//!
//! Layers, each testable alone:
//! - [`sse`] — a hand-written SSE line decoder. It surfaces llama.cpp's non-standard
//!   `error: {…}` lines and `event: error`, ignores comments (`: ping`), tolerates missing
//!   blank lines, and rejects invalid UTF-8.
//! - [`parse`] — pure, clock-free parsing: [`StreamAccumulator`] (fed events with the time
//!   each was read), [`parse_completion`], [`classify_http_error`]. Every dialect of
//!   server dialect (recorded examples in golden/recorded/) lands in the same record; raw values are kept for the graders.
//! - [`client`] — I/O: attempts, timeouts, caps, retries, metadata probes.
//!
//! # Why not async-openai
//!
//! Its default client retries 429/5xx/connect errors on its own (hidden
//! retries would turn server faults into silently slower passes); its typed responses drop
//! `reasoning` / `reasoning_content`; its SSE reader (eventsource-stream) drops the unknown
//! `error:` field, so a llama.cpp failure looks like a stream that just stops; it does not
//! timestamp events as they come off the socket; and with `byot` we would write every wire
//! type ourselves anyway. What is left (URL join, bearer header, SSE framing) is small.
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
//! - **Secrets**: the API key is only ever a bearer header (marked sensitive by reqwest);
//!   `Endpoint`'s `Debug` redacts it and error messages never include URLs.
pub mod client;
mod hosted;
mod idle;
pub mod parse;
pub mod profile;
pub mod sse;
mod tls;
mod transport;

pub use client::{
    parse_retry_after, Api, ChatOutcome, ChatRequest, Client, ClientError, Endpoint, RetryPolicy,
    WireBody,
};
pub use parse::{
    classify_http_error, completion_timing, parse_completion, parse_sse_body, parse_sse_split,
    Completion, Feed, StreamAccumulator, StreamResult,
};
pub use profile::{apply_thinking, detect, Profile, ThinkingMapping, UnknownProfile};
pub use sse::{SseDecoder, SseEvent};
