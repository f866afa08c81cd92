//! The keep-alive pool under plain-http targets (transport.rs): connections are reused,
//! a connection the server closed while idle costs no retry, and a stream the server keeps
//! open after `[DONE]` is neither waited on nor reused.

mod common;

use common::{hi_request, read_request};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use toolgate_client::{ChatRequest, Client, Endpoint, RetryPolicy};
use toolgate_core::TurnRecord;

#[derive(Clone, Copy)]
enum Close {
    /// Keep every connection open.
    Never,
    /// Close right after each response, without saying so.
    AfterEach,
    /// Close 20 ms after each response, without saying so (a keep-alive timeout).
    Idle20ms,
}

/// A keep-alive HTTP/1.1 server: JSON or chunked SSE answers, counting connections.
struct KeepAlive {
    url: String,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const COMPLETION: &str = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#;

fn sse_events() -> Vec<String> {
    [
        r#"{"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#,
        "[DONE]",
    ]
    .iter()
    .map(|d| format!("data: {d}\n\n"))
    .collect()
}

async fn keep_alive(close: Close, end_stream: bool) -> KeepAlive {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let conns = connections.clone();
    let task = tokio::spawn(async move {
        for _ in 0..1000 {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            sock.set_nodelay(true).ok();
            conns.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                for _ in 0..1000 {
                    let Some(req) = read_request(&mut sock).await else {
                        return;
                    };
                    let stream = req.header("accept") == Some("text/event-stream");
                    let mut out = Vec::new();
                    if stream {
                        out.extend_from_slice(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n");
                        for ev in sse_events() {
                            out.extend_from_slice(format!("{:x}\r\n{ev}\r\n", ev.len()).as_bytes());
                        }
                        if end_stream {
                            out.extend_from_slice(b"0\r\n\r\n");
                        }
                    } else {
                        out.extend_from_slice(
                            format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{COMPLETION}", COMPLETION.len()).as_bytes(),
                        );
                    }
                    if sock.write_all(&out).await.is_err() {
                        return;
                    }
                    if stream && !end_stream {
                        // Never ends the chunked body; the client must not wait for it.
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        return;
                    }
                    match close {
                        Close::Never => {}
                        Close::AfterEach => {
                            let _ = sock.shutdown().await;
                            return;
                        }
                        Close::Idle20ms => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            let _ = sock.shutdown().await;
                            return;
                        }
                    }
                }
            });
        }
    });
    KeepAlive {
        url,
        connections,
        task,
    }
}

fn request(stream: bool) -> ChatRequest {
    hi_request(stream, vec![])
}

fn endpoint(url: &str) -> Endpoint {
    let mut ep = Endpoint::new(url);
    ep.timeout = Duration::from_secs(10);
    ep.idle_timeout = Duration::from_secs(5);
    ep
}

/// The pool is what is under test: skip when the environment forces reqwest.
fn pool_in_use() -> bool {
    !std::env::var("TOOLGATE_HTTP").is_ok_and(|v| v.eq_ignore_ascii_case("reqwest"))
}

/// A keep-alive server and a client aimed at it; `None` when the pool is not in use.
async fn pooled(close: Close, end_stream: bool) -> Option<(KeepAlive, Client, Endpoint)> {
    if !pool_in_use() {
        return None;
    }
    let s = keep_alive(close, end_stream).await;
    let ep = endpoint(&s.url);
    Some((s, Client::new().unwrap(), ep))
}

/// Sends request number `i` (streamed or not); it must succeed, and without a retry.
async fn send_ok(client: &Client, ep: &Endpoint, stream: bool, i: usize) -> TurnRecord {
    let out = client
        .chat(ep, &request(stream), &RetryPolicy::none())
        .await;
    assert!(out.retries.is_empty(), "request {i}: {:?}", out.retries);
    out.result.unwrap_or_else(|e| panic!("request {i}: {e:?}"))
}

#[tokio::test]
async fn sequential_requests_share_one_connection() {
    let Some((s, client, ep)) = pooled(Close::Never, true).await else {
        return;
    };
    for i in 0..30 {
        let turn = send_ok(&client, &ep, i % 2 == 0, i).await;
        assert_eq!(
            turn.message.unwrap().content.as_deref(),
            Some("hi"),
            "request {i}"
        );
    }
    assert_eq!(s.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_connection_closed_while_idle_costs_no_retry() {
    let Some((s, client, ep)) = pooled(Close::AfterEach, true).await else {
        return;
    };
    for i in 0..20 {
        // No pause half the time, so some checkouts race the server's close.
        if i % 2 == 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        send_ok(&client, &ep, i % 4 < 2, i).await;
    }
    assert_eq!(s.connections.load(Ordering::SeqCst), 20);
}

#[tokio::test]
async fn a_connection_that_timed_out_while_idle_is_not_used() {
    let Some((s, client, ep)) = pooled(Close::Idle20ms, true).await else {
        return;
    };
    for i in 0..6 {
        send_ok(&client, &ep, i % 2 == 0, i).await;
        // Longer than the server keeps an idle connection.
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert_eq!(s.connections.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn a_stream_left_open_after_done_is_not_waited_on() {
    let Some((s, client, ep)) = pooled(Close::Never, false).await else {
        return;
    };
    let t0 = Instant::now();
    for i in 0..3 {
        let turn = send_ok(&client, &ep, true, i).await;
        assert_eq!(turn.finish_reason.as_deref(), Some("stop"));
    }
    // Generous bound: the drain after [DONE] is 5 ms, the idle timeout 5 s.
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(s.connections.load(Ordering::SeqCst), 3);
}
