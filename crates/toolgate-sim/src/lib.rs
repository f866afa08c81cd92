//! toolgate-sim: a scripted OpenAI-compatible chat server for tests, demos and benchmarks.
//!
//! It serves `POST /v1/chat/completions` (streaming and not), Azure OpenAI's
//! `POST /openai/deployments/{deployment}/chat/completions?api-version=…`, `GET /v1/models`,
//! and llama.cpp-like `GET /props` and `GET /health`, on loopback only. Each request's `model`
//! picks a [`Script`]; the script's rules decide what the "model" answers.
//!
//! **The oracle.** The simulator is given the loaded suites. It finds the request's case
//! by the last (or first) user message text equal to a case's first user text (the offered
//! tools settle a text two suites share; an optional `x-toolgate-case: <suite>/<case-id>`
//! header goes first), and builds a passing answer for it.
//! Rules then transform that answer into a named failure, replace it, or inject a fault.
//! Two scripts ship: `sim-strong` ([`Script::strong`], no rules: every case passes) and
//! `sim-weak` ([`Script::weak`], `golden/sim/weak.yaml`: the failure patterns).
//!
//! # Script format (YAML)
//!
//! ```yaml
//! model: sim-weak              # served under /v1/models, matched against the request's `model`
//! description: ...             # optional
//! dialect: vllm                # vllm | llamacpp | ollama | openai (header x-toolgate-dialect overrides)
//! ttft_ms: 0                   # delay before the first token
//! chunk_delay_ms: 0            # delay between token chunks
//! chunk_chars: 16              # characters per streamed content / argument chunk
//! precise_timing: false        # true: delays end within µs (short spin), for timing checks
//! fail_after: null             # after N chat requests (server-wide) every request fails ...
//! after_fault: http_500        # ... with this fault
//! retry_after: null            # Retry-After seconds for an after_fault of http_429 / http_503
//! rules:                       # first matching rule wins
//!   - match: { suite: tool-routing, case: "entity-*", tag: kannada, kind: tool_call,
//!              user_contains: "arun", user_regex: "(?i)arun", thinking: on,
//!              stream: true, turn: 0, dialect: vllm }   # every field given must hold
//!     do: wrong_tool           # a transform of the oracle answer ...
//!     tool: search_memory      # ... with its parameters beside it
//!     note: why this rule exists (ignored)
//!   - match: { case: greeting }
//!     reply: { content: "Hi!", reasoning: null, finish_reason: stop,
//!              tool_calls: [{ name: x, arguments: "{\"a\": 1}" }] }   # an explicit answer
//!   - match: { case: "flaky-*" }
//!     fault: http_503          # a wire fault
//!     retry_after: 1
//! ```
//!
//! `suite`, `case` and `tag` take a `*` glob or a list of them. Unknown keys, duplicate
//! keys, unknown transform / fault names and bad regexes are errors with `file:line:col`.
//!
//! **Transforms** (`do:`), each graded as the failure it is named after: `oracle`,
//! `answer_in_text` (`text`), `wrong_tool` (`tool`), `call_in_content` (`format`: hermes |
//! qwen_xml | mistral | llama_json | pythonic | bare_json), `reasoning_only`,
//! `thinking_leak`, `markdown`, `drop_call`, `extra_call` (`tool`), `wrong_arg` (`arg`,
//! `value`), `args_invalid_json`, `args_schema_violation` (`arg`; default: drop a required
//! argument), `hallucinate_tool` (`tool`), `unexpected_call` (`tool`, `arguments`),
//! `truncate`, `empty`, `drop_entity` (`count`), `spurious_entity` (`name`, `type`),
//! `wrong_entity_type` (`name`, `type`), `invalid_json_output`, `drop_fact`, `verbose`
//! (`words`).
//!
//! **Faults** (`fault:`, or per request with the header `x-toolgate-fault: NAME[:N]`):
//! `http_500`, `http_503` / `http_429` (`retry_after`), `http_400`, `close_mid_stream`,
//! `no_done`, `no_finish`, `llamacpp_error_line`, `vllm_error_event`, `html_error` (502),
//! `html_200`, `stall` (ends after 60 s at most), `malformed_json`, `slow_first_byte`
//! (`ms`), `huge_body` (`bytes`, generated lazily), `reset` (TCP reset, no response).
//!
//! **Thinking.** When the request turns thinking on (`chat_template_kwargs.enable_thinking`,
//! `think`, or a `reasoning_effort` other than `none`), a short reasoning text is streamed
//! first, in the dialect's field (`reasoning`, or `reasoning_content` for llama.cpp).
//!
//! **Hosted API shapes.** Azure's route answers 404 `{"error":{"code":"404","message":
//! "Resource not found"}}` without `api-version` (what Azure answers) and 401 in Azure's
//! error shape when the `api-key` header is missing or, with [`SimState::with_api_key`]
//! (`toolgate mock --api-key-env VAR`), wrong. With a key set, the OpenAI routes require
//! `Authorization: Bearer <key>` too (401 `invalid_api_key` otherwise). The key is never
//! echoed.
//!
//! **Usage and timing.** `prompt_tokens` ≈ request message characters / 4;
//! `completion_tokens` = number of token-bearing chunks, spaced `chunk_delay_ms` apart, so a
//! client's decode rate is 1000 / `chunk_delay_ms`. llama.cpp `timings` use the same figures.

pub mod http;
pub mod oracle;
pub mod script;
pub mod server;
pub mod transform;
pub mod wire;

pub use script::{Action, CallFormat, Dialect, Fault, FaultSpec, Reply, Rule, Script, Transform};
pub use server::{
    thinking_requested, SimServer, SimState, HEADER_CASE, HEADER_DIALECT, HEADER_FAULT,
};
pub use transform::{Answer, Context};
