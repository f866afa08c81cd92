//! toolgate-client: the OpenAI-compatible chat client (DESIGN §4, §6, §9).
pub mod client;
pub mod parse;
pub mod profile;
pub mod sse;
mod tls;

pub use client::{parse_retry_after, ChatOutcome, ChatRequest, Client, ClientError, Endpoint, RetryPolicy};
pub use parse::{
    classify_http_error, completion_timing, parse_completion, parse_sse_body, Completion, Feed,
    StreamAccumulator, StreamResult,
};
pub use profile::{apply_thinking, Profile, ThinkingMapping, UnknownProfile};
pub use sse::{SseDecoder, SseEvent};
