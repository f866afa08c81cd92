//! A tiny scripted HTTP/1.1 server on 127.0.0.1:0 for the client's integration tests:
//! each connection serves one request with a script of writes and sleeps, then closes.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub enum Step {
    Write(Vec<u8>),
    Sleep(Duration),
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header lines as received, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

type Handler = dyn Fn(&Request, usize) -> Vec<Step> + Send + Sync;

pub struct Mock {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Mock {
    /// `handler(request, n)` gives the script for the n-th request (0-based).
    pub async fn start(
        handler: impl Fn(&Request, usize) -> Vec<Step> + Send + Sync + 'static,
    ) -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let reqs = requests.clone();
        let task = tokio::spawn(async move {
            // Bounded: a test never needs more connections than this.
            for _ in 0..1000 {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let reqs = reqs.clone();
                tokio::spawn(async move { serve(sock, handler, reqs).await });
            }
        });
        Mock {
            addr,
            requests,
            task,
        }
    }

    /// Serves the same script to every request.
    pub async fn fixed(steps: Vec<Step>) -> Mock {
        Mock::start(move |_, _| steps.clone()).await
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

async fn serve(mut sock: TcpStream, handler: Arc<Handler>, reqs: Arc<Mutex<Vec<Request>>>) {
    sock.set_nodelay(true).ok();
    let Some(req) = read_request(&mut sock).await else {
        return;
    };
    let n = {
        let mut r = reqs.lock().unwrap();
        r.push(req.clone());
        r.len() - 1
    };
    for step in handler(&req, n) {
        match step {
            Step::Write(b) => {
                if sock.write_all(&b).await.is_err() {
                    return;
                }
                sock.flush().await.ok();
            }
            Step::Sleep(d) => tokio::time::sleep(d).await,
        }
    }
    sock.shutdown().await.ok();
}

pub async fn read_request(sock: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > 1 << 20 {
            return None;
        }
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

/// Response head: status line, the given headers, `Connection: close`, and a close-delimited
/// body (no length) unless `content_length` is given.
pub fn head(status: u16, headers: &[(&str, &str)], content_length: Option<usize>) -> Vec<u8> {
    let mut s = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(n) = content_length {
        s.push_str(&format!("Content-Length: {n}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// A complete response with a body.
pub fn response(status: u16, content_type: &str, extra: &[(&str, &str)], body: &[u8]) -> Vec<Step> {
    let mut headers = vec![("Content-Type", content_type)];
    headers.extend_from_slice(extra);
    let mut b = head(status, &headers, Some(body.len()));
    b.extend_from_slice(body);
    vec![Step::Write(b)]
}

pub fn json_response(status: u16, body: &str) -> Vec<Step> {
    response(status, "application/json", &[], body.as_bytes())
}

pub fn sse_head() -> Step {
    Step::Write(head(200, &[("Content-Type", "text/event-stream")], None))
}

pub fn data(json: &str) -> Step {
    Step::Write(format!("data: {json}\n\n").into_bytes())
}

pub fn ms(n: u64) -> Step {
    Step::Sleep(Duration::from_millis(n))
}

pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// A captured `.http` file: status, content type, body.
pub struct Capture {
    pub name: String,
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Capture {
    pub fn is_stream(&self) -> bool {
        self.content_type.contains("event-stream")
    }

    /// Re-served close-delimited (the captures were de-chunked when saved).
    pub fn steps(&self) -> Vec<Step> {
        let mut b = head(self.status, &[("Content-Type", &self.content_type)], None);
        b.extend_from_slice(&self.body);
        vec![Step::Write(b)]
    }
}

pub fn captures() -> Vec<Capture> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.extension().and_then(|e| e.to_str()) != Some("http") {
            continue;
        }
        let raw = std::fs::read(&p).unwrap();
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("head/body separator");
        let head = String::from_utf8(raw[..split].to_vec()).unwrap();
        let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
        let content_type = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-type")
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_default();
        out.push(Capture {
            name: p.file_name().unwrap().to_string_lossy().into_owned(),
            status,
            content_type,
            body: raw[split + 4..].to_vec(),
        });
    }
    assert!(out.len() >= 30, "captures missing from tests/data");
    out
}

/// A one-message chat request ("hi" to model `m`).
pub fn hi_request(stream: bool, headers: Vec<(String, String)>) -> toolgate_client::ChatRequest {
    toolgate_client::ChatRequest {
        body: serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
            .as_object()
            .unwrap()
            .clone(),
        stream,
        headers,
    }
}
