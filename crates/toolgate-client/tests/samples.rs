//! Every captured llama-server / llama-cpp-python response (tests/data/*.http, copied from
//! captured from llama-server, in tests/data/) parsed directly and over HTTP.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use toolgate_client::{
    parse_completion, parse_sse_body, ChatRequest, Client, Endpoint, RetryPolicy,
};
use toolgate_core::{ErrorKind, TurnRecord};

fn find<'a>(caps: &'a [Capture], name: &str) -> &'a Capture {
    caps.iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("{name}"))
}

#[test]
fn every_success_capture_parses() {
    for c in captures() {
        if c.status != 200 || c.name.contains("models") {
            continue;
        }
        let (msg, finish) = if c.is_stream() {
            let r = parse_sse_body(&c.body).unwrap_or_else(|e| panic!("{}: {e:?}", c.name));
            assert!(r.timing.ttft_ms.is_some(), "{}", c.name);
            (r.message, r.finish_reason)
        } else {
            let r = parse_completion(&c.body).unwrap_or_else(|e| panic!("{}: {e:?}", c.name));
            assert!(r.usage.is_some(), "{}", c.name);
            (r.message, r.finish_reason)
        };
        assert!(finish.is_some(), "{}", c.name);
        let has_output =
            msg.content.as_deref().is_some_and(|s| !s.is_empty()) || !msg.tool_calls.is_empty();
        assert!(has_output, "{}: {msg:?}", c.name);
    }
}

#[test]
fn stream_and_non_stream_captures_agree() {
    let caps = captures();
    // Same request, same server build, streamed and not: the same two calls.
    let s =
        parse_sse_body(&find(&caps, "source_tools_required_prefill_stream.sse.http").body).unwrap();
    let n = parse_completion(&find(&caps, "source_tools_required_prefill.http").body).unwrap();
    let strip = |m: &toolgate_core::AssistantMessage| -> Vec<(String, Value)> {
        m.tool_calls
            .iter()
            .map(|c| (c.name.clone(), c.arguments.clone()))
            .collect()
    };
    assert_eq!(strip(&s.message), strip(&n.message));
    assert_eq!(
        strip(&n.message),
        vec![
            (
                "search_memory".to_string(),
                json!("{\n    \"query\": \"search_memory\"\n}")
            ),
            (
                "get_entity_details".to_string(),
                json!("{\n    \"name\": \"entity_details\"\n}")
            ),
        ]
    );
    assert_eq!(s.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(s.timing.completion_tokens, Some(73));
    assert!(!s.timing.tokens_estimated);
    assert_eq!(s.timing.server_decode_tps, Some(51.19049904337755));
    // Role chunk has `content: null`, tool-only turn: content stays None.
    assert_eq!(s.message.content, None);

    let s = parse_sse_body(&find(&caps, "skulk_plain_stream.sse.http").body).unwrap();
    let n = parse_completion(&find(&caps, "skulk_plain.http").body).unwrap();
    assert_eq!(s.message.content, n.message.content);
    assert_eq!(
        s.message.content.as_deref(),
        Some("I'm here to help with any creative writing project.")
    );
    assert_eq!(s.timing.completion_tokens, Some(12));
    // 11 content chunks for 12 tokens (the stop token has no text): chunks are not tokens.
    assert_eq!(s.timing.chunks, 11);
}

#[test]
fn llama_cpp_python_quirks() {
    let caps = captures();
    // Repeats id and name on every tool-call delta, and a legacy `function_call` beside it.
    let s = parse_sse_body(&find(&caps, "pycpp_tools_named_stream.sse.http").body).unwrap();
    assert_eq!(s.message.tool_calls.len(), 1);
    let call = &s.message.tool_calls[0];
    assert_eq!(call.name, "get_entity_details");
    let args: Value = serde_json::from_str(call.arguments.as_str().unwrap()).unwrap();
    assert!(args["name"].is_string(), "{args}");
    let n = parse_completion(&find(&caps, "pycpp_tools_named.http").body).unwrap();
    assert_eq!(
        n.message.tool_calls[0].arguments,
        json!("{ \"name\": \"Aruba\" }")
    );
    // No usage in the stream: tokens estimated from chunks.
    let s = parse_sse_body(&find(&caps, "pycpp_tools_auto_stream.sse.http").body).unwrap();
    assert!(s.timing.tokens_estimated);
    assert_eq!(s.finish_reason.as_deref(), Some("length"));
}

async fn over_http(c: &Capture) -> Result<TurnRecord, toolgate_core::InfraError> {
    let m = Mock::fixed(c.steps()).await;
    let mut ep = Endpoint::new(m.base_url());
    ep.timeout = Duration::from_secs(10);
    let req = ChatRequest {
        body: json!({"model": "m", "messages": []})
            .as_object()
            .unwrap()
            .clone(),
        stream: c.is_stream(),
        headers: vec![],
    };
    Client::new()
        .unwrap()
        .chat(&ep, &req, &RetryPolicy::none())
        .await
        .result
}

#[tokio::test]
async fn every_capture_over_http() {
    for c in captures() {
        if c.name.contains("models") {
            continue;
        }
        let res = over_http(&c).await;
        match c.status {
            200 => {
                let direct = if c.is_stream() {
                    parse_sse_body(&c.body).unwrap().message
                } else {
                    parse_completion(&c.body).unwrap().message
                };
                let turn = res.unwrap_or_else(|e| panic!("{}: {e:?}", c.name));
                assert_eq!(turn.message.as_ref(), Some(&direct), "{}", c.name);
                assert_eq!(turn.status, Some(200));
            }
            s => {
                let e = res.expect_err(&c.name);
                let kind = if s >= 500 {
                    ErrorKind::Http5xx
                } else {
                    ErrorKind::Http4xx
                };
                assert_eq!((e.kind, e.status), (kind, Some(s)), "{}", c.name);
                let body: Value = serde_json::from_slice(&c.body).unwrap();
                let msg = body["error"]["message"].as_str().unwrap();
                assert!(e.message.contains(msg), "{}: {}", c.name, e.message);
            }
        }
    }
}
