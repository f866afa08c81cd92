//! A raw HTTP/1.1 client over TcpStream, so tests see the exact wire: status, headers,
//! whether a chunked body was terminated, and when each SSE event arrived.
#![allow(dead_code)]

use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

#[derive(Debug, Default)]
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Body after de-chunking.
    pub body: String,
    /// Content-Length satisfied, or the chunked terminator seen.
    pub complete: bool,
    /// No byte at all arrived (connection reset / closed before a response).
    pub nothing: bool,
    /// Time of each `data:`/`error:` event's arrival, ms after the request was written.
    pub event_ms: Vec<f64>,
    /// Headers arrived at (ms).
    pub head_ms: Option<f64>,
}

impl Raw {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }
    /// SSE events as (field, payload): `data` or `error`.
    pub fn events(&self) -> Vec<(String, String)> {
        self.body
            .split("\n\n")
            .filter(|e| !e.trim().is_empty())
            .filter_map(|e| {
                let (field, payload) = e.split_once(": ")?;
                Some((field.trim().to_string(), payload.to_string()))
            })
            .collect()
    }
    /// The JSON `data:` chunks (not `[DONE]`, not invalid JSON).
    pub fn chunks(&self) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|(f, p)| f == "data" && p != "[DONE]")
            .filter_map(|(_, p)| serde_json::from_str(&p).ok())
            .collect()
    }
    pub fn has_done(&self) -> bool {
        self.events()
            .iter()
            .any(|(f, p)| f == "data" && p == "[DONE]")
    }
}

pub struct Req<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: Vec<(&'a str, String)>,
    pub body: String,
    /// Stop reading after this long (then drop the connection).
    pub max: Duration,
}

impl<'a> Req<'a> {
    pub fn get(path: &'a str) -> Self {
        Req {
            method: "GET",
            path,
            headers: vec![],
            body: String::new(),
            max: Duration::from_secs(10),
        }
    }
    pub fn chat(body: Value) -> Self {
        Req {
            method: "POST",
            path: "/v1/chat/completions",
            headers: vec![],
            body: body.to_string(),
            max: Duration::from_secs(10),
        }
    }
    pub fn header(mut self, k: &'a str, v: impl Into<String>) -> Self {
        self.headers.push((k, v.into()));
        self
    }
    pub fn max(mut self, d: Duration) -> Self {
        self.max = d;
        self
    }
}

pub fn request_bytes(r: &Req<'_>, close: bool) -> Vec<u8> {
    let mut s = format!("{} {} HTTP/1.1\r\nhost: localhost\r\n", r.method, r.path);
    if close {
        s.push_str("connection: close\r\n");
    }
    for (k, v) in &r.headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    if !r.body.is_empty() {
        s.push_str("content-type: application/json\r\n");
        s.push_str(&format!("content-length: {}\r\n", r.body.len()));
    }
    s.push_str("\r\n");
    s.push_str(&r.body);
    s.into_bytes()
}

/// Send one request on a fresh connection and read until EOF, completion or `max`.
pub async fn send(addr: SocketAddr, r: Req<'_>) -> Raw {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).unwrap();
    let t0 = Instant::now();
    stream.write_all(&request_bytes(&r, true)).await.unwrap();
    read_response(&mut stream, t0, r.max).await
}

/// Read one response from `stream`.
pub async fn read_response(stream: &mut TcpStream, t0: Instant, max: Duration) -> Raw {
    let deadline = t0 + max;
    let mut raw: Vec<u8> = Vec::new();
    let mut out = Raw::default();
    let mut buf = [0u8; 64 * 1024];
    let mut events_seen = 0;
    let mut head_len: Option<usize> = None;
    loop {
        let n = match timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) | Err(_) => 0,
        };
        if n == 0 {
            break;
        }
        let now = t0.elapsed().as_secs_f64() * 1000.0;
        raw.extend_from_slice(&buf[..n]);
        if head_len.is_none() {
            if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                head_len = Some(p + 4);
                out.head_ms = Some(now);
            }
        }
        if let Some(h) = head_len {
            let text = String::from_utf8_lossy(&raw[h..]);
            let count = text.matches("data: ").count() + text.matches("\nerror: ").count();
            for _ in events_seen..count {
                out.event_ms.push(now);
            }
            events_seen = count;
            // Stop at the end of this response (keep-alive connections stay open).
            let (_, complete) = parse(&raw, &mut Raw::default());
            if complete {
                break;
            }
        }
    }
    out.nothing = raw.is_empty();
    let (_, complete) = parse(&raw, &mut out);
    out.complete = complete;
    out
}

/// Parse head + body; returns (consumed, complete).
fn parse(raw: &[u8], out: &mut Raw) -> (usize, bool) {
    let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (0, false);
    };
    let head = String::from_utf8_lossy(&raw[..p]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    out.status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    out.headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[p + 4..];
    let chunked = out
        .headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        let mut body = Vec::new();
        let mut i = 0;
        while let Some(le) = rest[i..].windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[i..i + le]).trim(), 16);
            let Ok(size) = size else { break };
            i += le + 2;
            if size == 0 {
                out.body = String::from_utf8_lossy(&body).into_owned();
                return (p + 4 + i + 2, rest.len() >= i + 2);
            }
            if rest.len() < i + size + 2 {
                body.extend_from_slice(&rest[i..rest.len().min(i + size)]);
                break;
            }
            body.extend_from_slice(&rest[i..i + size]);
            i += size + 2;
        }
        out.body = String::from_utf8_lossy(&body).into_owned();
        (raw.len(), false)
    } else {
        let len = out
            .headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok());
        let take = len.map(|l| l.min(rest.len())).unwrap_or(rest.len());
        out.body = String::from_utf8_lossy(&rest[..take]).into_owned();
        (p + 4 + take, len.is_some_and(|l| rest.len() >= l))
    }
}
