//! The simulator on a free loopback port, checked on the wire with a raw TCP client.

mod common;

use common::client::{read_response, request_bytes, send, Raw, Req};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use toolgate_sim::{Dialect, Script, SimServer, SimState};

async fn start(scripts: Vec<Script>) -> SimServer {
    let mut suites = common::all_suites();
    suites.push(common::conversation_suite());
    SimServer::start(
        SimState::new(scripts, suites),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

fn script(yaml: &str) -> Script {
    Script::from_yaml(yaml, "test.yaml").unwrap()
}

fn chat(model: &str, user: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "system", "content": "You are a test."}, {"role": "user", "content": user}],
        "stream": stream,
        "stream_options": {"include_usage": true},
    })
}

/// A streamed response accumulated the way any client must (tool-call fragments joined per index).
#[derive(Debug, Default)]
struct Acc {
    content: String,
    reasoning: String,
    reasoning_keys: Vec<String>,
    /// (id, name, arguments)
    calls: Vec<(String, String, String)>,
    finish: Option<String>,
    usage: Option<Value>,
    timings: Option<Value>,
    token_chunks: usize,
}

fn accumulate(chunks: &[Value]) -> Acc {
    let mut a = Acc::default();
    for c in chunks {
        if let Some(u) = c.get("usage").filter(|u| !u.is_null()) {
            a.usage = Some(u.clone());
        }
        if let Some(t) = c.get("timings") {
            a.timings = Some(t.clone());
        }
        for ch in c["choices"].as_array().unwrap() {
            let d = &ch["delta"];
            let mut token = false;
            if let Some(s) = d.get("content").and_then(Value::as_str) {
                token |= !s.is_empty();
                a.content.push_str(s);
            }
            for k in ["reasoning", "reasoning_content"] {
                if let Some(s) = d.get(k).and_then(Value::as_str) {
                    token |= !s.is_empty();
                    a.reasoning.push_str(s);
                    if !a.reasoning_keys.iter().any(|x| x == k) {
                        a.reasoning_keys.push(k.to_string());
                    }
                }
            }
            for tc in d
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                token = true;
                let i = tc["index"].as_u64().unwrap() as usize;
                if a.calls.len() <= i {
                    a.calls.resize(i + 1, Default::default());
                }
                if let Some(id) = tc.get("id").and_then(Value::as_str) {
                    a.calls[i].0 = id.to_string();
                }
                if let Some(n) = tc["function"].get("name").and_then(Value::as_str) {
                    a.calls[i].1 = n.to_string();
                }
                if let Some(s) = tc["function"].get("arguments").and_then(Value::as_str) {
                    a.calls[i].2.push_str(s);
                }
            }
            if token {
                a.token_chunks += 1;
            }
            if let Some(f) = ch.get("finish_reason").and_then(Value::as_str) {
                a.finish = Some(f.to_string());
            }
        }
    }
    a
}

#[tokio::test]
async fn metadata_endpoints_and_unknown_model() {
    let srv = start(vec![Script::strong(), Script::weak()]).await;
    assert!(srv.base_url().starts_with("http://127.0.0.1:") && srv.base_url().ends_with("/v1"));
    let r = send(srv.addr, Req::get("/v1/models")).await;
    assert_eq!(r.status, 200);
    let ids: Vec<String> = r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["sim-strong", "sim-weak"]);
    let r = send(srv.addr, Req::get("/health")).await;
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("ok")));
    let r = send(srv.addr, Req::get("/props")).await;
    assert_eq!(r.json()["build_info"], "b0-toolgate-sim");
    assert_eq!(send(srv.addr, Req::get("/nope")).await.status, 404);
    let r = send(srv.addr, Req::chat(chat("no-such-model", "hi", false))).await;
    assert_eq!(r.status, 404);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no-such-model"));
    let r = send(
        srv.addr,
        Req {
            body: "{not json".into(),
            ..Req::chat(json!({}))
        },
    )
    .await;
    assert_eq!(r.status, 400);
    // Only chat requests count.
    assert_eq!(srv.requests_served(), 2);
    srv.shutdown().await;
}

#[tokio::test]
async fn tool_call_in_every_dialect_streaming_and_not() {
    let srv = start(vec![Script::strong()]).await;
    for d in ["vllm", "llamacpp", "ollama", "openai"] {
        // Streaming.
        let r = send(
            srv.addr,
            Req::chat(chat("sim-strong", "Tell me about Arun", true))
                .header("x-toolgate-case", "tool-routing/entity-arun")
                .header("x-toolgate-dialect", d),
        )
        .await;
        assert_eq!(r.status, 200, "{d}");
        assert_eq!(r.header("content-type"), Some("text/event-stream"));
        assert!(r.complete && r.has_done(), "{d}: {}", r.body);
        let chunks = r.chunks();
        let a = accumulate(&chunks);
        assert_eq!(a.calls.len(), 1, "{d}");
        assert_eq!(a.calls[0].1, "get_entity_details", "{d}");
        let args: Value = serde_json::from_str(&a.calls[0].2).unwrap();
        assert_eq!(args, json!({"name": "Arun"}), "{d}");
        assert_eq!(a.finish.as_deref(), Some("tool_calls"), "{d}");
        let usage = a.usage.as_ref().expect("usage chunk");
        assert_eq!(
            usage["completion_tokens"].as_u64().unwrap() as usize,
            a.token_chunks,
            "{d}"
        );
        assert!(usage["prompt_tokens"].as_u64().unwrap() >= 8, "{d}");
        let first_tool = chunks
            .iter()
            .find_map(|c| {
                c["choices"][0]["delta"]
                    .get("tool_calls")
                    .map(|t| t[0].clone())
            })
            .unwrap();
        let usage_chunk = chunks
            .iter()
            .find(|c| c.get("usage").is_some_and(|u| !u.is_null()))
            .unwrap();
        assert_eq!(usage_chunk["choices"], json!([]), "{d}");
        match d {
            "vllm" => {
                assert_eq!(
                    chunks[0]["choices"][0]["delta"],
                    json!({"role": "assistant", "content": ""})
                );
                assert!(first_tool["id"]
                    .as_str()
                    .unwrap()
                    .starts_with("chatcmpl-tool-"));
                assert!(first_tool["function"].get("arguments").is_none());
                // The last argument fragment travels with the finish reason.
                let fin = chunks
                    .iter()
                    .find(|c| c["choices"][0]["finish_reason"] == "tool_calls")
                    .unwrap();
                assert!(fin["choices"][0]["delta"].get("tool_calls").is_some());
            }
            "llamacpp" => {
                assert_eq!(
                    chunks[0]["choices"][0]["delta"],
                    json!({"role": "assistant", "content": null})
                );
                assert_eq!(first_tool["function"]["arguments"], "{");
                assert!(
                    a.timings.as_ref().unwrap()["predicted_per_second"]
                        .as_f64()
                        .unwrap()
                        > 0.0
                );
            }
            "ollama" => {
                let d0 = &chunks[0]["choices"][0]["delta"];
                assert_eq!(d0["role"], "assistant");
                assert_eq!(d0["content"], "");
                // Whole call in one delta.
                assert_eq!(
                    first_tool["function"]["arguments"].as_str().unwrap(),
                    a.calls[0].2
                );
                let id = first_tool["id"].as_str().unwrap();
                assert!(id.starts_with("call_") && id.len() == 13, "{id}");
                assert!(chunks[0]["id"].as_str().unwrap().starts_with("chatcmpl-"));
            }
            "openai" => {
                assert_eq!(first_tool["function"]["arguments"], "");
                assert!(first_tool["id"].as_str().unwrap().starts_with("call_"));
            }
            _ => unreachable!(),
        }

        // Non-streaming.
        let r = send(
            srv.addr,
            Req::chat(chat("sim-strong", "Tell me about Arun", false))
                .header("x-toolgate-dialect", d),
        )
        .await;
        assert_eq!(r.status, 200, "{d}");
        let v = r.json();
        let msg = &v["choices"][0]["message"];
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls", "{d}");
        assert_eq!(
            msg["tool_calls"][0]["function"]["name"], "get_entity_details",
            "{d}"
        );
        let args = msg["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(args).unwrap(),
            json!({"name": "Arun"})
        );
        match d {
            "ollama" => {
                assert_eq!(msg["content"], "");
                assert_eq!(msg["tool_calls"][0]["index"], 0);
            }
            _ => assert!(msg["content"].is_null(), "{d}"),
        }
        if d == "llamacpp" {
            assert!(v["timings"]["predicted_n"].as_u64().unwrap() > 0);
        }
    }
    srv.shutdown().await;
}

#[tokio::test]
async fn text_answer_with_thinking_in_every_dialect() {
    let srv = start(vec![Script::strong()]).await;
    for (d, key) in [
        ("vllm", "reasoning"),
        ("llamacpp", "reasoning_content"),
        ("ollama", "reasoning"),
        ("openai", "reasoning"),
    ] {
        // Thinking on, by the request field each profile uses; the case is found by its text.
        let mut body = chat("sim-strong", "What is the capital of Karnataka?", true);
        match d {
            "ollama" => body["think"] = json!(true),
            "openai" => body["reasoning_effort"] = json!("low"),
            _ => body["chat_template_kwargs"] = json!({"enable_thinking": true}),
        }
        let r = send(
            srv.addr,
            Req::chat(body.clone()).header("x-toolgate-dialect", d),
        )
        .await;
        let a = accumulate(&r.chunks());
        assert!(a.content.contains("Bengaluru"), "{d}: {}", a.content);
        assert!(!a.reasoning.is_empty(), "{d}");
        assert_eq!(a.reasoning_keys, [key], "{d}");
        assert_eq!(a.finish.as_deref(), Some("stop"));
        assert_eq!(
            a.usage.unwrap()["completion_tokens"].as_u64().unwrap() as usize,
            a.token_chunks
        );
        // Reasoning comes before the answer.
        let events = r.chunks();
        let first_tok = events
            .iter()
            .map(|c| &c["choices"][0]["delta"])
            .find(|d| {
                d.get(key).is_some_and(|s| s != "")
                    || d.get("content")
                        .is_some_and(|s| s.as_str().is_some_and(|s| !s.is_empty()))
            })
            .unwrap();
        assert!(first_tok.get(key).is_some(), "{d}: {first_tok}");

        // Thinking off: no reasoning at all; non-streamed.
        body["stream"] = json!(false);
        body["chat_template_kwargs"] = json!({"enable_thinking": false});
        body["think"] = json!(false);
        body["reasoning_effort"] = json!("none");
        let r = send(srv.addr, Req::chat(body).header("x-toolgate-dialect", d)).await;
        let v = r.json();
        let msg = &v["choices"][0]["message"];
        assert!(msg["content"].as_str().unwrap().contains("Bengaluru"));
        assert!(msg.get(key).is_none(), "{d}: {msg}");
        if d == "vllm" {
            assert_eq!(msg["tool_calls"], json!([]));
        }
    }
    srv.shutdown().await;
}

#[tokio::test]
async fn delays_are_honoured() {
    let s = script(
        "model: slow\ndialect: llamacpp\nttft_ms: 120\nchunk_delay_ms: 15\nchunk_chars: 4\n",
    );
    let srv = start(vec![s]).await;
    let r = send(
        srv.addr,
        Req::chat(chat("slow", "What is the capital of Karnataka?", true)),
    )
    .await;
    assert!(r.complete);
    let chunks = r.chunks();
    let a = accumulate(&chunks);
    // Event times: [role, tokens..., finish, usage]; the role chunk goes out with the first token.
    let tokens = a.token_chunks;
    assert!(tokens >= 6, "{tokens}");
    let times = &r.event_ms;
    let ttft = times[1];
    assert!((120.0..1_000.0).contains(&ttft), "ttft {ttft} ms");
    let span = times[tokens] - times[1];
    let rate = (tokens - 1) as f64 / (span / 1000.0);
    // Injected: 1000 / 15 ≈ 66.7 tok/s. Generous bounds: scheduling noise on a busy machine.
    assert!(
        (20.0..=80.0).contains(&rate),
        "decode {rate} tok/s over {span} ms"
    );
    let t = a.timings.unwrap();
    assert!((t["predicted_per_second"].as_f64().unwrap() - 1000.0 / 15.0).abs() < 1e-6);
    assert_eq!(t["predicted_n"].as_u64().unwrap() as usize, tokens);

    // Non-streamed: the whole generation time passes before the body.
    let t0 = Instant::now();
    let r = send(
        srv.addr,
        Req::chat(chat("slow", "What is the capital of Karnataka?", false)),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(t0.elapsed() >= Duration::from_millis(120 + 15 * (tokens as u64 - 1)));
    srv.shutdown().await;
}

#[tokio::test]
async fn precise_timing_is_never_early() {
    let s = script(
        "model: slow\nttft_ms: 30\nchunk_delay_ms: 5\nchunk_chars: 1\nprecise_timing: true\nrules:\n  - reply: { content: abcdefghij }\n",
    );
    let srv = start(vec![s]).await;
    let r = send(srv.addr, Req::chat(chat("slow", "hi", true))).await;
    assert!(r.complete);
    let times = &r.event_ms;
    // Event times: [role+first token, tokens..., finish, usage]: token k is due at 30 + 5k ms
    // after the request arrived; measured from when it was sent, it can only be later. (Gaps
    // between two tokens are not checked: a busy client reading the first one late shortens
    // the gap it sees without the server being early.)
    assert!((30.0..1_000.0).contains(&times[1]), "ttft {} ms", times[1]);
    for k in 1..10 {
        assert!(
            times[k + 1] >= 30.0 + 5.0 * k as f64,
            "token {k} at {} ms after the request, due at {} ms",
            times[k + 1],
            30 + 5 * k
        );
    }
    srv.shutdown().await;
}

async fn fault(srv: &SimServer, name: &str, stream: bool) -> Raw {
    send(
        srv.addr,
        Req::chat(chat("sim-strong", "Tell me about Arun", stream))
            .header("x-toolgate-fault", name)
            .max(Duration::from_secs(5)),
    )
    .await
}

#[tokio::test]
async fn http_status_faults() {
    let srv = start(vec![Script::strong()]).await;
    let r = fault(&srv, "http_500", true).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error"]["code"], 500);
    let r = fault(&srv, "http_503:2", true).await;
    assert_eq!((r.status, r.header("retry-after")), (503, Some("2")));
    let r = fault(&srv, "http_429:1", false).await;
    assert_eq!((r.status, r.header("retry-after")), (429, Some("1")));
    let r = fault(&srv, "http_429", false).await;
    assert_eq!((r.status, r.header("retry-after")), (429, None));
    assert_eq!(fault(&srv, "http_400", true).await.status, 400);
    let r = fault(&srv, "html_error", true).await;
    assert_eq!(
        (r.status, r.header("content-type")),
        (502, Some("text/html"))
    );
    assert!(r.body.contains("<html>"));
    let r = fault(&srv, "html_200", false).await;
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("text/html"))
    );
    let r = fault(&srv, "no_such_fault", false).await;
    assert_eq!(r.status, 400);
    srv.shutdown().await;
}

#[tokio::test]
async fn stream_faults_break_the_stream_as_named() {
    let srv = start(vec![Script::strong()]).await;

    // close_mid_stream: part of the tool call, then the connection drops.
    let r = fault(&srv, "close_mid_stream", true).await;
    assert_eq!(r.status, 200);
    assert!(!r.complete && !r.has_done());
    let a = accumulate(&r.chunks());
    assert_eq!(a.calls.len(), 1);
    assert!(
        serde_json::from_str::<Value>(&a.calls[0].2).is_err(),
        "half a call: {}",
        a.calls[0].2
    );
    assert!(a.finish.is_none());
    // Non-streamed: fewer bytes than content-length promised.
    let r = fault(&srv, "close_mid_stream", false).await;
    assert!(!r.complete && !r.body.is_empty());

    // no_done: finish chunk, no [DONE], body properly ended.
    let r = fault(&srv, "no_done", true).await;
    assert!(r.complete && !r.has_done());
    assert_eq!(
        accumulate(&r.chunks()).finish.as_deref(),
        Some("tool_calls")
    );

    // no_finish: no finish_reason, no usage, no [DONE].
    let r = fault(&srv, "no_finish", true).await;
    let a = accumulate(&r.chunks());
    assert!(r.complete && !r.has_done() && a.finish.is_none() && a.usage.is_none());
    assert!(!a.calls.is_empty());

    // llama.cpp's non-standard `error:` SSE line.
    let r = fault(&srv, "llamacpp_error_line", true).await;
    let ev = r.events();
    let (field, payload) = ev.last().unwrap();
    assert_eq!(field, "error");
    assert_eq!(serde_json::from_str::<Value>(payload).unwrap()["code"], 500);
    assert!(!r.has_done());

    // vLLM's streamed error event, then [DONE].
    let r = fault(&srv, "vllm_error_event", true).await;
    let ev = r.events();
    assert_eq!(ev.last().unwrap().1, "[DONE]");
    let err: Value = serde_json::from_str(&ev[ev.len() - 2].1).unwrap();
    assert_eq!(err["error"]["code"], 500);
    // Non-streamed: a plain 500.
    assert_eq!(fault(&srv, "vllm_error_event", false).await.status, 500);

    // malformed_json: one data line is not JSON; the rest of the stream is normal.
    let r = fault(&srv, "malformed_json", true).await;
    let bad = r
        .events()
        .iter()
        .filter(|(f, p)| f == "data" && p != "[DONE]" && serde_json::from_str::<Value>(p).is_err())
        .count();
    assert_eq!(bad, 1);
    assert!(r.has_done());
    let r = fault(&srv, "malformed_json", false).await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_str::<Value>(&r.body).is_err());
    srv.shutdown().await;
}

#[tokio::test]
async fn connection_faults() {
    let srv = start(vec![Script::strong()]).await;
    // reset: nothing comes back.
    let r = fault(&srv, "reset", true).await;
    assert!(r.nothing && r.status == 0);

    // slow_first_byte: even the headers wait.
    let r = fault(&srv, "slow_first_byte:300", true).await;
    assert!(r.head_ms.unwrap() >= 300.0, "{:?}", r.head_ms);
    assert!(r.complete && r.has_done());

    // stall: the first chunk, then silence until the client gives up.
    let r = send(
        srv.addr,
        Req::chat(chat("sim-strong", "Tell me about Arun", true))
            .header("x-toolgate-fault", "stall")
            .max(Duration::from_millis(400)),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(!r.complete);
    assert!(accumulate(&r.chunks()).token_chunks >= 1);
    assert!(r.event_ms.iter().all(|t| *t < 200.0), "{:?}", r.event_ms);

    // huge_body: that many content bytes, streamed.
    let r = fault(&srv, "huge_body:200000", true).await;
    assert!(r.complete && r.has_done());
    assert_eq!(accumulate(&r.chunks()).content.len(), 200_000);
    let r = fault(&srv, "huge_body:100000", false).await;
    assert!(r.complete);
    assert_eq!(
        r.json()["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .len(),
        100_000
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn fail_after_and_scripted_rules() {
    let s = script(
        r#"
model: scripted
fail_after: 4
after_fault: http_503
retry_after: 1
rules:
  - match: { case: greeting }
    reply: { content: "Hi!", finish_reason: stop }
  - match: { case: "entity-*", thinking: off }
    do: wrong_tool
    tool: search_memory
  - match: { user_contains: "flaky" }
    fault: http_429
    retry_after: 3
  - match: { case: trip-plan, turn: 1 }
    reply: { content: "second turn" }
"#,
    );
    let srv = start(vec![s]).await;
    // Case found by text (no header): reply rule.
    let r = send(
        srv.addr,
        Req::chat(chat("scripted", "Good morning!", false)),
    )
    .await;
    assert_eq!(r.json()["choices"][0]["message"]["content"], "Hi!");
    // Transform rule (thinking off).
    let r = send(
        srv.addr,
        Req::chat(chat("scripted", "Tell me about Arun", false)),
    )
    .await;
    let call = &r.json()["choices"][0]["message"]["tool_calls"][0]["function"];
    assert_eq!(call["name"], "search_memory");
    // Fault rule.
    let r = send(
        srv.addr,
        Req::chat(chat("scripted", "something flaky", false)),
    )
    .await;
    assert_eq!((r.status, r.header("retry-after")), (429, Some("3")));
    // Conversation turn = user messages − 1.
    let body = json!({"model": "scripted", "messages": [
        {"role": "user", "content": "Plan a day in Mysuru"},
        {"role": "assistant", "content": "Visit the palace."},
        {"role": "user", "content": "What should I eat there?"}]});
    let r = send(srv.addr, Req::chat(body)).await;
    assert_eq!(r.json()["choices"][0]["message"]["content"], "second turn");
    // fail_after: 4 — every request from the fifth on fails, rules or not.
    for _ in 0..2 {
        let r = send(srv.addr, Req::chat(chat("scripted", "Good morning!", true))).await;
        assert_eq!((r.status, r.header("retry-after")), (503, Some("1")));
    }
    assert_eq!(srv.requests_served(), 6);
    srv.shutdown().await;
}

#[tokio::test]
async fn keep_alive_and_chunked_request_bodies() {
    let srv = start(vec![Script::strong()]).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    for stream in [true, false, true] {
        let req = Req::chat(chat("sim-strong", "Good morning!", stream));
        s.write_all(&request_bytes(&req, false)).await.unwrap();
        let r = read_response(&mut s, Instant::now(), Duration::from_secs(5)).await;
        assert_eq!(r.status, 200);
        assert!(r.complete);
    }
    // A chunked request body.
    let body = chat("sim-strong", "Good morning!", false).to_string();
    let (a, b) = body.split_at(body.len() / 2);
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let r = read_response(&mut s, Instant::now(), Duration::from_secs(5)).await;
    assert_eq!(r.status, 200);
    assert!(r.json()["choices"][0]["message"]["content"].is_string());
    assert_eq!(srv.requests_served(), 4);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_connections_then_shutdown() {
    let srv = start(vec![Script::strong()]).await;
    let addr = srv.addr;
    let mut tasks = Vec::new();
    for i in 0..32 {
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            for j in 0..10 {
                let stream = (i + j) % 2 == 0;
                let req = Req::chat(chat("sim-strong", "Tell me about Arun", stream))
                    .header("x-toolgate-dialect", Dialect::Ollama.as_str());
                s.write_all(&request_bytes(&req, false)).await.unwrap();
                let r = read_response(&mut s, Instant::now(), Duration::from_secs(10)).await;
                assert_eq!(r.status, 200);
                assert!(r.complete);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(srv.requests_served(), 320);
    srv.shutdown().await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still listening after shutdown"
    );
}

#[tokio::test]
async fn refuses_non_loopback_addresses() {
    let state = SimState::new(vec![Script::strong()], vec![]);
    assert!(SimServer::start(state, "0.0.0.0:0".parse().unwrap())
        .await
        .is_err());
}

#[tokio::test]
async fn azure_route_checks_api_version_and_key() {
    let mut suites = common::all_suites();
    suites.push(common::conversation_suite());
    let state = SimState::new(vec![Script::strong()], suites).with_api_key(Some("az-key".into()));
    let srv = SimServer::start(state, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = "/openai/deployments/sim-strong/chat/completions?api-version=2024-10-21";
    let azure = |path, key: Option<&str>| {
        let mut body = chat("sim-strong", "hi", false);
        body.as_object_mut().unwrap().remove("model"); // the deployment stands in for it
        let mut r = Req {
            path,
            ..Req::chat(body)
        };
        if let Some(k) = key {
            r = r.header("api-key", k);
        }
        r
    };
    let ok = send(srv.addr, azure(url, Some("az-key"))).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json()["model"], "sim-strong");

    for (path, key) in [(url, Some("az-wrong-marker")), (url, None)] {
        let r = send(srv.addr, azure(path, key)).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["error"]["code"], "401");
        assert!(
            !r.body.contains("az-wrong-marker"),
            "the key is never echoed"
        );
    }
    let r = send(
        srv.addr,
        azure(
            "/openai/deployments/sim-strong/chat/completions",
            Some("az-key"),
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.json()),
        (
            404,
            json!({"error": {"code": "404", "message": "Resource not found"}})
        )
    );

    // With a key set, the OpenAI route wants it as a bearer token.
    let plain = send(srv.addr, Req::chat(chat("sim-strong", "hi", false))).await;
    assert_eq!(plain.status, 401);
    assert_eq!(plain.json()["error"]["code"], "invalid_api_key");
    let bearer =
        Req::chat(chat("sim-strong", "hi", false)).header("authorization", "Bearer az-key");
    assert_eq!(send(srv.addr, bearer).await.status, 200);
    srv.shutdown().await;
}
