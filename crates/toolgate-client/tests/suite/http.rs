// The client against a scripted loopback server: request shape, timing, retries, timeouts,
// caps, and the error kinds of docs/failure-kinds.md. Included by tests/http.rs (the lean
// path), tests/http_hosted.rs (every request through async-openai) and
// tests/http_hyper_util.rs (plain http through hyper_util's pooled client instead of the lean
// pool), each defining `HOSTED` and `HTTP_CHOICE`.

use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use toolgate_client::{Api, ChatOutcome, ChatRequest, Client, Endpoint, RetryPolicy};
use toolgate_core::ErrorKind;

fn request(stream: bool) -> ChatRequest {
    hi_request(
        stream,
        vec![("x-toolgate-case".into(), "suite/case-1".into())],
    )
}

/// Whether requests take the hosted path: forced by the including file, or for the whole
/// process by `TOOLGATE_HTTP=hosted` (old name `reqwest`, still used by CI's second run).
fn on_hosted_path() -> bool {
    HOSTED
        || std::env::var("TOOLGATE_HTTP")
            .is_ok_and(|v| v.eq_ignore_ascii_case("hosted") || v.eq_ignore_ascii_case("reqwest"))
}

/// A client on the path under test: `HTTP_CHOICE` as `TOOLGATE_HTTP` would pick it, or the
/// environment's own choice when `None`.
fn new_client() -> Client {
    match HTTP_CHOICE {
        Some(choice) => Client::with_http(Some(choice)),
        None => Client::new(),
    }
    .unwrap()
}

/// An endpoint on the path under test.
fn endpoint_at(url: String) -> Endpoint {
    let mut ep = Endpoint::new(url);
    ep.force_hosted = HOSTED;
    ep
}

fn endpoint(m: &Mock) -> Endpoint {
    let mut ep = endpoint_at(m.base_url());
    ep.timeout = Duration::from_secs(10);
    ep.idle_timeout = Duration::from_secs(5);
    ep
}

fn fast_retry(n: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries: n,
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        max_retry_after: Duration::from_secs(5),
    }
}

async fn chat(m: &Mock, ep: &Endpoint, stream: bool, retry: &RetryPolicy) -> ChatOutcome {
    let _ = m;
    new_client()
        .chat(ep, &request(stream), retry)
        .await
}

fn ok_stream() -> Vec<Step> {
    vec![
        sse_head(),
        data(r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#),
        data(r#"{"choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":"stop"}]}"#),
        data(r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#),
        data("[DONE]"),
    ]
}

#[tokio::test]
async fn request_shape_auth_and_hash() {
    let m = Mock::fixed(ok_stream()).await;
    let mut ep = endpoint(&m);
    ep.api_key = Some("sk-unique-marker-123".into());
    let out = chat(&m, &ep, true, &RetryPolicy::none()).await;
    let turn = out.result.expect("ok");
    assert_eq!(turn.status, Some(200));
    assert_eq!(turn.message.unwrap().content.as_deref(), Some("Hello"));
    let reqs = m.requests.lock().unwrap();
    let r = &reqs[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(
        r.header("authorization"),
        Some("Bearer sk-unique-marker-123")
    );
    assert_eq!(r.header("x-toolgate-case"), Some("suite/case-1"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(out.body_sha256, toolgate_core::text::sha256_hex(&r.body));
    assert!(out.retries.is_empty());
}

#[tokio::test]
async fn ttft_measured_against_a_slow_first_token() {
    let mut steps = vec![
        sse_head(),
        data(r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#),
        ms(50),
        data(r#"{"choices":[{"index":0,"delta":{"content":"a"}}]}"#),
    ];
    for _ in 0..5 {
        steps.push(ms(10));
        steps.push(data(r#"{"choices":[{"index":0,"delta":{"content":"b"}}]}"#));
    }
    steps.push(data(
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
    ));
    steps.push(data(
        r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":6}}"#,
    ));
    steps.push(data("[DONE]"));
    let m = Mock::fixed(steps).await;
    let t = chat(&m, &endpoint(&m), true, &RetryPolicy::none())
        .await
        .result
        .unwrap()
        .timing;
    let ttft = t.ttft_ms.unwrap();
    assert!((45.0..500.0).contains(&ttft), "ttft {ttft}");
    let headers = t.headers_ms.unwrap();
    assert!(headers < ttft, "headers {headers} ttft {ttft}");
    assert_eq!(t.ttft_content_ms, Some(ttft));
    assert!(t.last_token_ms.unwrap() > ttft && t.e2e_ms >= t.last_token_ms.unwrap());
    assert_eq!(t.completion_tokens, Some(6));
    assert_eq!(t.chunks, 6);
    assert_eq!(t.itl_ms.len(), 5);
    assert!(t.decode_tps.unwrap() > 0.0);
}

#[tokio::test]
async fn non_streaming_response() {
    let body = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"x","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":4,"completion_tokens":2}}"#;
    let m = Mock::fixed(json_response(200, body)).await;
    let out = chat(&m, &endpoint(&m), false, &RetryPolicy::none()).await;
    let turn = out.result.unwrap();
    assert_eq!(turn.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(turn.message.unwrap().tool_calls[0].name, "f");
    assert_eq!(turn.timing.ttft_ms, None);
    assert_eq!(
        turn.timing.ttft_missing.as_deref(),
        Some("non-streaming response")
    );
    assert!(turn.timing.e2e_ms > 0.0);
    let sent: Value = serde_json::from_slice(&m.requests.lock().unwrap()[0].body).unwrap();
    assert_eq!(sent["stream"], json!(false));
    assert!(sent.get("stream_options").is_none());
}

#[tokio::test]
async fn server_ignoring_stream_flag_is_parsed_as_json() {
    let body = r#"{"choices":[{"index":0,"message":{"content":"plain"},"finish_reason":"stop"}]}"#;
    let m = Mock::fixed(json_response(200, body)).await;
    let turn = chat(&m, &endpoint(&m), true, &RetryPolicy::none())
        .await
        .result
        .unwrap();
    assert_eq!(turn.message.unwrap().content.as_deref(), Some("plain"));
}

#[tokio::test]
async fn retry_after_on_503_is_honoured() {
    let m = Mock::start(|_, n| {
        if n == 0 {
            response(
                503,
                "application/json",
                &[("Retry-After", "1")],
                br#"{"error":{"message":"Loading model","type":"unavailable_error","code":503}}"#,
            )
        } else {
            ok_stream()
        }
    })
    .await;
    let started = Instant::now();
    let out = chat(&m, &endpoint(&m), true, &fast_retry(3)).await;
    let elapsed = started.elapsed();
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert!(elapsed >= Duration::from_secs(1), "waited only {elapsed:?}");
    assert!(elapsed < Duration::from_secs(8), "waited {elapsed:?}");
    assert_eq!(out.retries.len(), 1);
    let r = &out.retries[0];
    assert_eq!(
        (r.attempt, r.kind, r.status, r.retry_after),
        (1, ErrorKind::Http5xx, Some(503), true)
    );
    assert_eq!(r.wait_ms, 1000.0);
    assert!(r.message.contains("Loading model"));
    assert_eq!(m.request_count(), 2);
}

#[tokio::test]
async fn retry_after_is_capped() {
    let m = Mock::start(|_, n| {
        if n == 0 {
            response(429, "text/plain", &[("Retry-After", "3600")], b"slow down")
        } else {
            ok_stream()
        }
    })
    .await;
    let mut retry = fast_retry(1);
    retry.max_retry_after = Duration::from_millis(50);
    let out = chat(&m, &endpoint(&m), true, &retry).await;
    assert!(out.result.is_ok());
    assert_eq!(out.retries[0].wait_ms, 50.0);
}

#[tokio::test]
async fn retry_429_without_retry_after_backs_off_then_gives_up() {
    let m = Mock::fixed(json_response(
        429,
        r#"{"error":{"message":"rate limited","type":"rate_limit","code":429}}"#,
    ))
    .await;
    let out = chat(&m, &endpoint(&m), true, &fast_retry(3)).await;
    let err = out.result.unwrap_err();
    assert_eq!((err.kind, err.status), (ErrorKind::Http4xx, Some(429)));
    let waits: Vec<f64> = out.retries.iter().map(|r| r.wait_ms).collect();
    assert_eq!(waits, vec![20.0, 40.0, 80.0]);
    assert!(out
        .retries
        .iter()
        .all(|r| !r.retry_after && r.status == Some(429)));
    assert_eq!(m.request_count(), 4);
}

#[tokio::test]
async fn no_retry_on_500_or_400() {
    for (status, kind) in [
        (500, ErrorKind::Http5xx),
        (400, ErrorKind::Http4xx),
        (404, ErrorKind::Http4xx),
    ] {
        let m = Mock::fixed(json_response(
            status,
            r#"{"error":{"message":"nope","type":"x","code":1}}"#,
        ))
        .await;
        let out = chat(&m, &endpoint(&m), true, &fast_retry(3)).await;
        let err = out.result.unwrap_err();
        assert_eq!((err.kind, err.status), (kind, Some(status)));
        assert!(err.body.unwrap().contains("nope"));
        assert!(out.retries.is_empty());
        assert_eq!(m.request_count(), 1, "status {status} must not be retried");
    }
}

#[tokio::test]
async fn connection_refused_is_connect_after_retries() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // listener dropped: nothing listens there now
    let ep = endpoint_at(format!("http://127.0.0.1:{port}/v1"));
    let out = new_client()
        .chat(&ep, &request(true), &fast_retry(2))
        .await;
    let err = out.result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connect);
    assert!(
        !err.message.contains("127.0.0.1"),
        "no URL in messages: {}",
        err.message
    );
    assert_eq!(out.retries.len(), 2);
    assert!(out.retries.iter().all(|r| r.kind == ErrorKind::Connect));
}

#[tokio::test]
async fn reset_before_response_is_connect_and_retried() {
    // Closes the connection without answering the first request.
    let m = Mock::start(|_, n| if n == 0 { vec![] } else { ok_stream() }).await;
    let out = chat(&m, &endpoint(&m), true, &fast_retry(2)).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    assert_eq!(out.retries.len(), 1);
    assert_eq!(out.retries[0].kind, ErrorKind::Connect);
}

#[tokio::test]
async fn stalled_stream_hits_idle_timeout_and_is_not_retried() {
    let m = Mock::fixed(vec![
        sse_head(),
        data(r#"{"choices":[{"index":0,"delta":{"content":"a"}}]}"#),
        ms(3000),
    ])
    .await;
    let mut ep = endpoint(&m);
    ep.idle_timeout = Duration::from_millis(200);
    let out = chat(&m, &ep, true, &fast_retry(3)).await;
    let err = out.result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert!(err.message.contains("idle"), "{}", err.message);
    assert!(out.retries.is_empty());
    assert_eq!(m.request_count(), 1);
}

/// An SSE head, then `n` one-letter content events, each followed by a `gap_ms` pause.
fn steady_stream(n: usize, gap_ms: u64) -> Vec<Step> {
    let mut steps = vec![sse_head()];
    for _ in 0..n {
        steps.push(data(r#"{"choices":[{"index":0,"delta":{"content":"a"}}]}"#));
        steps.push(ms(gap_ms));
    }
    steps
}

/// One streamed chat against `steps` under an idle timeout of `idle_ms`, without retries.
async fn stream_with_idle(steps: Vec<Step>, idle_ms: u64) -> ChatOutcome {
    let m = Mock::fixed(steps).await;
    let mut ep = endpoint(&m);
    ep.idle_timeout = Duration::from_millis(idle_ms);
    chat(&m, &ep, true, &RetryPolicy::none()).await
}

#[tokio::test]
async fn headers_slower_than_the_idle_timeout_are_not_an_idle_timeout() {
    // Prefill is bounded by the whole-request timeout only; the idle timer (armed when the
    // request goes out) starts counting at the first body read. Headers after 450 ms, the
    // first event 60 ms later, under a 150 ms idle timeout.
    let mut steps = vec![ms(450)];
    let mut rest = ok_stream();
    rest.insert(1, ms(60));
    steps.extend(rest);
    let out = stream_with_idle(steps, 150).await;
    let turn = out.result.expect("slow headers, then a prompt stream");
    assert_eq!(turn.message.unwrap().content.as_deref(), Some("Hello"));
}

#[tokio::test]
async fn a_steady_stream_longer_than_the_idle_timeout_completes() {
    // Eight gaps of 80 ms under a 250 ms idle timeout: 640 ms in all. The deadline moves
    // forward with every chunk, so only a single long gap may end the stream.
    let mut steps = steady_stream(8, 80);
    steps.push(data("[DONE]"));
    let out = stream_with_idle(steps, 250).await;
    let turn = out.result.expect("no gap reached the idle timeout");
    assert_eq!(turn.message.unwrap().content.as_deref(), Some("aaaaaaaa"));
}

#[tokio::test]
async fn whole_request_timeout() {
    let m = Mock::fixed(steady_stream(100, 30)).await;
    let mut ep = endpoint(&m);
    ep.timeout = Duration::from_millis(300);
    let err = chat(&m, &ep, true, &RetryPolicy::none())
        .await
        .result
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert!(err.message.contains("whole-request"), "{}", err.message);
}

#[tokio::test]
async fn oversize_stream_and_body_are_protocol_errors() {
    let mut steps = vec![sse_head()];
    let chunk = format!(
        r#"{{"choices":[{{"index":0,"delta":{{"content":"{}"}}}}]}}"#,
        "x".repeat(1000)
    );
    for _ in 0..100 {
        steps.push(data(&chunk));
    }
    let m = Mock::fixed(steps).await;
    let mut ep = endpoint(&m);
    ep.max_body_bytes = 10_000;
    let err = chat(&m, &ep, true, &RetryPolicy::none())
        .await
        .result
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Protocol);
    assert_eq!(err.message, "response exceeded 10000 bytes");

    let big = format!(
        r#"{{"choices":[{{"index":0,"message":{{"content":"{}"}}}}]}}"#,
        "y".repeat(50_000)
    );
    let m = Mock::fixed(json_response(200, &big)).await;
    let mut ep = endpoint(&m);
    ep.max_body_bytes = 10_000;
    let err = chat(&m, &ep, false, &RetryPolicy::none())
        .await
        .result
        .unwrap_err();
    assert_eq!(err.message, "response exceeded 10000 bytes");
}

#[tokio::test]
async fn html_pages() {
    let page = b"<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head></html>";
    let m = Mock::fixed(response(200, "text/html", &[], page)).await;
    let err = chat(&m, &endpoint(&m), true, &RetryPolicy::none())
        .await
        .result
        .unwrap_err();
    assert_eq!((err.kind, err.status), (ErrorKind::Protocol, Some(200)));
    assert!(err.message.contains("Welcome to nginx!"), "{}", err.message);

    let m = Mock::fixed(response(
        502,
        "text/html",
        &[],
        b"<html><head><title>502 Bad Gateway</title></head></html>",
    ))
    .await;
    let err = chat(&m, &endpoint(&m), false, &RetryPolicy::none())
        .await
        .result
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Http5xx);
    assert_eq!(err.message, "HTTP 502: HTML page: 502 Bad Gateway");
}

#[tokio::test]
async fn streamed_errors_and_cut_streams() {
    let cases: Vec<(Vec<Step>, &str)> = vec![
        (
            vec![
                sse_head(),
                data(r#"{"choices":[{"index":0,"delta":{"content":"a"}}]}"#),
                Step::Write(b"error: {\"code\":500,\"message\":\"llama slot crashed\",\"type\":\"server_error\"}\n\n".to_vec()),
            ],
            // async-openai's SSE reader drops the unknown `error:` field: on the hosted
            // path the stream just ends, still a protocol error.
            if on_hosted_path() {
                "without [DONE]"
            } else {
                "llama slot crashed"
            },
        ),
        (
            vec![
                sse_head(),
                data(r#"{"error":{"message":"EngineDeadError","type":"InternalServerError","code":500}}"#),
                data("[DONE]"),
            ],
            "EngineDeadError",
        ),
        (
            vec![
                sse_head(),
                data(r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{\"x\""}}]}}]}"#),
            ],
            "without [DONE]",
        ),
        (vec![sse_head(), Step::Write(b"data: {\"choices\":[{\"delta\n\n".to_vec()), data("[DONE]")], "malformed JSON"),
        (vec![sse_head(), Step::Write(b"data: \"\xff\xfe\"\n\n".to_vec())], "UTF-8"),
    ];
    for (steps, needle) in cases {
        let m = Mock::fixed(steps).await;
        let out = chat(&m, &endpoint(&m), true, &fast_retry(3)).await;
        let err = out.result.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Protocol, "{needle}");
        assert_eq!(err.status, Some(200));
        assert!(err.message.contains(needle), "{needle}: {}", err.message);
        assert!(
            out.retries.is_empty(),
            "a started 200 stream is never retried"
        );
        assert_eq!(m.request_count(), 1);
    }
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let m = Mock::fixed(response(
        307,
        "text/plain",
        &[("Location", "http://127.0.0.1:1/v1/chat/completions")],
        b"",
    ))
    .await;
    let err = chat(&m, &endpoint(&m), true, &fast_retry(2))
        .await
        .result
        .unwrap_err();
    assert_eq!((err.kind, err.status), (ErrorKind::Protocol, Some(307)));
}

#[tokio::test]
async fn metadata_probes_every_endpoint_and_never_fails() {
    let m = Mock::start(|req, _| match req.path.as_str() {
        "/v1/models" => json_response(
            200,
            r#"{"object":"list","data":[{"id":"smollm2-135m","owned_by":"llamacpp"}]}"#,
        ),
        "/props" => json_response(200, r#"{"build_info":"b1-7e4c0a9","total_slots":1}"#),
        "/metrics" => response(
            200,
            "text/plain",
            &[],
            "llamacpp:prompt_tokens_total 10\n".repeat(1000).as_bytes(),
        ),
        "/version" => vec![ms(3000)],
        _ => json_response(
            404,
            r#"{"error":{"message":"File Not Found","type":"not_found_error","code":404}}"#,
        ),
    })
    .await;
    let mut ep = endpoint(&m);
    ep.timeout = Duration::from_millis(500);
    ep.api_key = Some("sk-meta".into());
    let meta = new_client().metadata(&ep).await;
    assert_eq!(meta["/v1/models"]["status"], json!(200));
    assert_eq!(
        meta["/v1/models"]["body"]["data"][0]["id"],
        json!("smollm2-135m")
    );
    assert_eq!(meta["/props"]["body"]["build_info"], json!("b1-7e4c0a9"));
    assert_eq!(meta["/api/version"]["status"], json!(404));
    assert!(meta["/version"]["error"].is_string(), "{meta}");
    let metrics = meta["/metrics"]["body"].as_str().unwrap();
    assert!(metrics.starts_with("llamacpp:prompt_tokens_total") && metrics.len() <= 4096);

    // Nothing listening: every entry is an error, no panic.
    let ep = endpoint_at("http://127.0.0.1:1/v1".into());
    let meta = new_client().metadata(&ep).await;
    assert_eq!(meta.as_object().unwrap().len(), 5);
    assert!(meta
        .as_object()
        .unwrap()
        .values()
        .all(|v| v["error"].is_string()));
}

#[tokio::test]
async fn tls_is_compiled_in_and_a_failed_handshake_is_connect() {
    // A plain-HTTP server spoken to over https: it answers the ClientHello with plain text,
    // so the handshake fails. Without TLS support reqwest would refuse the scheme instead.
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        if let Ok((mut sock, _)) = listener.accept().await {
            let _ = sock
                .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                .await;
            let _ = sock.shutdown().await;
        }
    });
    let mut ep = endpoint_at(format!("https://{addr}/v1"));
    ep.timeout = Duration::from_secs(10);
    let out = new_client()
        .chat(&ep, &request(true), &RetryPolicy::none())
        .await;
    let err = out.result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connect, "{}", err.message);
    server.abort();
}

/// Issue 17: a response head with 200k headers is the server breaking HTTP, a `protocol`
/// error sent once, not a `connect` failure to retry.
#[tokio::test]
async fn a_flood_of_response_headers_is_protocol_and_not_retried() {
    let mut headv = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n".to_vec();
    for i in 0..200_000 {
        headv.extend_from_slice(format!("x-h{i}: v\r\n").as_bytes());
    }
    headv.extend_from_slice(b"content-length: 2\r\n\r\n{}");
    let m = Mock::fixed(vec![common::Step::Write(headv)]).await;
    for stream in [true, false] {
        let out = chat(&m, &endpoint(&m), stream, &fast_retry(2)).await;
        let err = out.result.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Protocol, "{}", err.message);
        assert!(out.retries.is_empty(), "{:?}", out.retries);
    }
}

#[tokio::test]
async fn without_a_key_no_auth_header_is_sent() {
    let m = Mock::fixed(ok_stream()).await;
    let out = chat(&m, &endpoint(&m), true, &RetryPolicy::none()).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    let reqs = m.requests.lock().unwrap();
    assert_eq!(reqs[0].header("authorization"), None);
    assert_eq!(reqs[0].header("api-key"), None);
}

/// OpenAI's organisation and project headers (they take the hosted path on any URL).
#[tokio::test]
async fn openai_organization_and_project_headers() {
    let m = Mock::fixed(ok_stream()).await;
    let mut ep = endpoint(&m);
    ep.api_key = Some("sk-org-test".into());
    ep.api = Api::OpenAi {
        organization: Some("org-123".into()),
        project: Some("proj_456".into()),
    };
    let out = chat(&m, &ep, true, &RetryPolicy::none()).await;
    assert!(out.result.is_ok(), "{:?}", out.result);
    let reqs = m.requests.lock().unwrap();
    let r = &reqs[0];
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.header("authorization"), Some("Bearer sk-org-test"));
    assert_eq!(r.header("openai-organization"), Some("org-123"));
    assert_eq!(r.header("openai-project"), Some("proj_456"));
    assert_eq!(r.header("x-toolgate-case"), Some("suite/case-1"));
}

/// Azure: the deployment URL with `api-version`, the key in `api-key` and no bearer header;
/// the same body bytes and hash as anywhere else.
#[tokio::test]
async fn azure_request_shape() {
    let m = Mock::fixed(ok_stream()).await;
    let mut ep = endpoint_at(format!("http://{}/", m.addr));
    ep.api_key = Some("az-unique-marker".into());
    ep.api = Api::Azure {
        deployment: "gpt-4o-mini".into(),
        api_version: "2024-10-21".into(),
    };
    let out = chat(&m, &ep, true, &RetryPolicy::none()).await;
    let turn = out.result.expect("ok");
    assert_eq!(turn.message.unwrap().content.as_deref(), Some("Hello"));
    let reqs = m.requests.lock().unwrap();
    let r = &reqs[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        (
            "POST",
            "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
        )
    );
    assert_eq!(r.header("api-key"), Some("az-unique-marker"));
    assert_eq!(r.header("authorization"), None);
    assert_eq!(r.header("accept"), Some("text/event-stream"));
    assert_eq!(out.body_sha256, toolgate_core::text::sha256_hex(&r.body));
}
