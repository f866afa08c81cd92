//! The hosted path (async-openai) against the simulator, for both hosted APIs: Azure
//! OpenAI (deployment URL, `api-version`, `api-key`) and OpenAI (bearer key, forced onto the
//! hosted path over plain http). Streaming and not, reasoning and tool calls passed through,
//! the thinking variant as `reasoning_effort`, retries of 429/503 with `Retry-After`, a
//! wrong key as `http_4xx`, and connect errors, all in the lean path's record shapes.

use serde_json::json;
use std::time::Duration;
use toolgate_client::{
    apply_thinking, Api, ChatOutcome, ChatRequest, Client, Endpoint, Profile, RetryPolicy,
};
use toolgate_core::ErrorKind;
use toolgate_sim::{Script, SimServer, SimState};

const KEY: &str = "sim-hosted-key-marker";

const SCRIPT: &str = r#"
model: hosted-model
dialect: vllm
rules:
  - match: { user_contains: "weather" }
    reply:
      content: null
      reasoning: "The user wants the weather."
      finish_reason: tool_calls
      tool_calls: [{ name: get_weather, arguments: "{\"city\": \"Paris\"}" }]
"#;

async fn sim() -> SimServer {
    let script = Script::from_yaml(SCRIPT, "hosted.yaml").unwrap();
    let state = SimState::new(vec![script], vec![]).with_api_key(Some(KEY.into()));
    SimServer::start(state, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// The two hosted APIs, pointed at `srv`.
fn endpoints(srv: &SimServer) -> Vec<(&'static str, Endpoint)> {
    let mut azure = Endpoint::new(format!("http://{}", srv.addr));
    azure.api = Api::Azure {
        deployment: "hosted-model".into(),
        api_version: "2024-10-21".into(),
    };
    let mut openai = Endpoint::new(srv.base_url());
    openai.force_hosted = true;
    let mut out = vec![("azure", azure), ("openai", openai)];
    for (_, ep) in &mut out {
        ep.api_key = Some(KEY.into());
        ep.timeout = Duration::from_secs(10);
        ep.idle_timeout = Duration::from_secs(5);
    }
    out
}

fn request(user: &str, stream: bool, headers: &[(&str, &str)]) -> ChatRequest {
    ChatRequest {
        body: json!({
            "model": "hosted-model",
            "messages": [{"role": "user", "content": user}],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        })
        .as_object()
        .unwrap()
        .clone(),
        stream,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

async fn chat(ep: &Endpoint, req: &ChatRequest, retry: &RetryPolicy) -> ChatOutcome {
    Client::new().unwrap().chat(ep, req, retry).await
}

#[tokio::test]
async fn tool_calls_and_reasoning_pass_through_streaming_and_not() {
    let srv = sim().await;
    for (name, ep) in endpoints(&srv) {
        for stream in [true, false] {
            let req = request("What is the weather in Paris?", stream, &[]);
            let out = chat(&ep, &req, &RetryPolicy::none()).await;
            let turn = out
                .result
                .unwrap_or_else(|e| panic!("{name} {stream}: {e:?}"));
            assert_eq!(turn.status, Some(200));
            assert_eq!(turn.finish_reason.as_deref(), Some("tool_calls"), "{name}");
            let msg = turn.message.unwrap();
            assert_eq!(msg.tool_calls.len(), 1, "{name} {stream}");
            assert_eq!(msg.tool_calls[0].name, "get_weather");
            assert_eq!(
                msg.reasoning.as_deref(),
                Some("The user wants the weather."),
                "{name} {stream}: the reasoning field is not dropped"
            );
            assert_eq!(msg.reasoning_field.as_deref(), Some("reasoning"));
            assert!(turn.timing.headers_ms.is_some());
            if stream {
                let ttft = turn.timing.ttft_ms.expect("stamped per event");
                assert!(ttft <= turn.timing.e2e_ms);
                assert!(turn.usage.is_some(), "{name}: include_usage honoured");
            } else {
                assert_eq!(
                    turn.timing.ttft_missing.as_deref(),
                    Some("non-streaming response")
                );
            }
            assert!(out.retries.is_empty());
        }
    }
    // llama.cpp's `reasoning_content` too.
    for (name, ep) in endpoints(&srv) {
        let req = request(
            "What is the weather in Paris?",
            true,
            &[("x-toolgate-dialect", "llamacpp")],
        );
        let msg = chat(&ep, &req, &RetryPolicy::none())
            .await
            .result
            .unwrap()
            .message
            .unwrap();
        assert_eq!(
            msg.reasoning_field.as_deref(),
            Some("reasoning_content"),
            "{name}"
        );
    }
    assert_eq!(srv.requests_served(), 6);
}

#[tokio::test]
async fn thinking_maps_to_reasoning_effort() {
    let srv = sim().await;
    for (name, ep) in endpoints(&srv) {
        for (on, want_reasoning) in [(true, true), (false, false)] {
            let mut req = request("Say hello.", true, &[]);
            apply_thinking(&Profile::Azure.default_thinking(), Some(on), &mut req.body);
            assert_eq!(
                req.body["reasoning_effort"],
                json!(if on { "medium" } else { "none" })
            );
            let msg = chat(&ep, &req, &RetryPolicy::none())
                .await
                .result
                .unwrap_or_else(|e| panic!("{name}: {e:?}"))
                .message
                .unwrap();
            assert_eq!(msg.reasoning.is_some(), want_reasoning, "{name} {on}");
        }
    }
}

#[tokio::test]
async fn rate_limits_and_unavailable_are_retried_with_retry_after() {
    let srv = sim().await;
    let retry = RetryPolicy {
        max_retries: 2,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_retry_after: Duration::from_millis(30),
    };
    for (name, ep) in endpoints(&srv) {
        for (fault, status, kind) in [
            ("http_429:5", 429, ErrorKind::Http4xx),
            ("http_503:5", 503, ErrorKind::Http5xx),
        ] {
            let req = request("Say hello.", true, &[("x-toolgate-fault", fault)]);
            let out = chat(&ep, &req, &retry).await;
            let err = out.result.unwrap_err();
            assert_eq!((err.kind, err.status), (kind, Some(status)), "{name}");
            assert_eq!(out.retries.len(), 2, "{name} {fault}: each retry recorded");
            for (i, r) in out.retries.iter().enumerate() {
                assert_eq!(r.attempt, i as u32 + 1);
                assert_eq!(r.status, Some(status));
                assert!(r.retry_after, "{name}: Retry-After honoured");
                assert_eq!(r.wait_ms, 30.0, "capped at max_retry_after");
            }
        }
        // 500 is not retried: async-openai's own backoff is off.
        let req = request("Say hello.", false, &[("x-toolgate-fault", "http_500")]);
        let out = chat(&ep, &req, &retry).await;
        assert_eq!(out.result.unwrap_err().kind, ErrorKind::Http5xx);
        assert!(out.retries.is_empty(), "{name}");
    }
    // 2 APIs × (3 + 3 + 1) requests: nothing more was sent behind toolgate's back.
    assert_eq!(srv.requests_served(), 14);
}

#[tokio::test]
async fn a_wrong_key_is_http_4xx_and_never_shown() {
    let srv = sim().await;
    for (name, mut ep) in endpoints(&srv) {
        ep.api_key = Some("wrong-key-marker".into());
        let out = chat(
            &ep,
            &request("Say hello.", true, &[]),
            &RetryPolicy::default(),
        )
        .await;
        let err = out.result.unwrap_err();
        assert_eq!(
            (err.kind, err.status),
            (ErrorKind::Http4xx, Some(401)),
            "{name}"
        );
        assert!(out.retries.is_empty());
        let shown = format!("{err:?}");
        assert!(!shown.contains("wrong-key-marker") && !shown.contains(KEY));
        // No key at all: no empty `Bearer ` or `api-key` header is sent either.
        ep.api_key = None;
        let err = chat(&ep, &request("Say hello.", true, &[]), &RetryPolicy::none())
            .await
            .result
            .unwrap_err();
        assert_eq!(err.status, Some(401), "{name}");
    }
}

#[tokio::test]
async fn connect_errors_are_retried_and_recorded() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut ep = Endpoint::new(format!("http://127.0.0.1:{port}"));
    ep.api = Api::Azure {
        deployment: "d".into(),
        api_version: "2024-10-21".into(),
    };
    ep.api_key = Some(KEY.into());
    let retry = RetryPolicy {
        max_retries: 2,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(10),
        max_retry_after: Duration::from_millis(10),
    };
    let out = chat(&ep, &request("hi", true, &[]), &retry).await;
    let err = out.result.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connect);
    assert!(!err.message.contains("127.0.0.1"), "{}", err.message);
    assert_eq!(out.retries.len(), 2);
    assert!(out.retries.iter().all(|r| r.kind == ErrorKind::Connect));
}

#[test]
fn azure_url_shape_and_invalid_deployments() {
    let mut ep = Endpoint::new("https://res.openai.azure.com/");
    ep.api = Api::Azure {
        deployment: "gpt-4o".into(),
        api_version: "2024-10-21".into(),
    };
    assert_eq!(
        ep.chat_url(),
        "https://res.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
    );
}

#[tokio::test]
async fn a_deployment_that_would_change_the_url_is_refused() {
    let srv = sim().await;
    let (_, mut ep) = endpoints(&srv).remove(0);
    ep.api = Api::Azure {
        deployment: "../../v1".into(),
        api_version: "2024-10-21".into(),
    };
    let err = chat(&ep, &request("hi", true, &[]), &RetryPolicy::none())
        .await
        .result
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Protocol);
    assert!(
        err.message.starts_with("invalid request"),
        "{}",
        err.message
    );
    assert_eq!(srv.requests_served(), 0);
}
