//! A small HTTP/1.1 server side on a raw `TcpStream`: request parsing (Content-Length and
//! chunked bodies, keep-alive, `Expect: 100-continue`) and response writing.
//!
//! Hand-rolled on purpose: the simulator must time every SSE chunk, cut a body halfway,
//! end a chunked body without its terminator, reset a connection, or stall, and a
//! general-purpose server hides exactly those controls.

use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

pub const MAX_HEAD: usize = 64 * 1024;
pub const MAX_BODY: usize = 32 * 1024 * 1024;
/// Any single write that makes no progress for this long ends the connection.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The query string (after `?`), empty when there is none.
    pub query: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub keep_alive: bool,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
pub enum ReadError {
    /// Clean close between requests, idle timeout, or a socket error: just close.
    Closed,
    /// Answer with this status, then close.
    Status(u16, &'static str),
}

pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        let _ = stream.set_nodelay(true);
        Conn {
            stream,
            buf: Vec::with_capacity(8192),
        }
    }

    /// Read more bytes into the buffer; false on EOF / error / timeout.
    async fn fill(&mut self, idle: Duration) -> bool {
        let mut tmp = [0u8; 16 * 1024];
        match timeout(idle, self.stream.read(&mut tmp)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => false,
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
        }
    }

    async fn need(&mut self, n: usize, idle: Duration) -> Result<(), ReadError> {
        while self.buf.len() < n {
            if !self.fill(idle).await {
                return Err(ReadError::Closed);
            }
        }
        Ok(())
    }

    /// Read one request. `Closed` on EOF before any byte of it.
    pub async fn read_request(&mut self, idle: Duration) -> Result<Request, ReadError> {
        let head_end = loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                break p;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(ReadError::Status(431, "request header too large"));
            }
            if !self.fill(idle).await {
                return Err(ReadError::Closed);
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let start = lines.next().unwrap_or("");
        let mut parts = start.split_whitespace();
        let (Some(method), Some(target), Some(version)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(ReadError::Status(400, "malformed request line"));
        };
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (target.to_string(), String::new()),
        };
        let mut headers = Vec::new();
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let mut req = Request {
            method: method.to_string(),
            path,
            query,
            headers,
            body: Vec::new(),
            keep_alive: true,
        };
        let conn_hdr = req.header("connection").map(str::to_ascii_lowercase);
        req.keep_alive = match version {
            "HTTP/1.0" => conn_hdr.as_deref() == Some("keep-alive"),
            _ => conn_hdr.as_deref() != Some("close"),
        };
        if req
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        {
            let _ = self.write(b"HTTP/1.1 100 Continue\r\n\r\n").await;
        }
        let chunked = req
            .header("transfer-encoding")
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
        if chunked {
            req.body = self.read_chunked(idle).await?;
        } else if let Some(cl) = req.header("content-length") {
            let n: usize = cl
                .parse()
                .map_err(|_| ReadError::Status(400, "bad content-length"))?;
            if n > MAX_BODY {
                return Err(ReadError::Status(413, "request body too large"));
            }
            self.need(n, idle).await?;
            req.body = self.buf.drain(..n).collect();
        }
        Ok(req)
    }

    async fn read_chunked(&mut self, idle: Duration) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        // Bounded: every round consumes at least one line; the size cap ends the rest.
        loop {
            let line_end = loop {
                if let Some(p) = find(&self.buf, b"\r\n") {
                    break p;
                }
                if self.buf.len() > 1024 {
                    return Err(ReadError::Status(400, "bad chunk size line"));
                }
                if !self.fill(idle).await {
                    return Err(ReadError::Closed);
                }
            };
            let line = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            self.buf.drain(..line_end + 2);
            let size_hex = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|_| ReadError::Status(400, "bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let end = loop {
                        if let Some(p) = find(&self.buf, b"\r\n") {
                            break p;
                        }
                        if self.buf.len() > MAX_HEAD || !self.fill(idle).await {
                            return Err(ReadError::Closed);
                        }
                    };
                    self.buf.drain(..end + 2);
                    if end == 0 {
                        return Ok(body);
                    }
                }
            }
            // Saturating: a chunk size of `ffffffffffffffff` must be refused, not overflow.
            if body.len().saturating_add(size) > MAX_BODY {
                return Err(ReadError::Status(413, "request body too large"));
            }
            self.need(size + 2, idle).await?;
            body.extend_from_slice(&self.buf[..size]);
            self.buf.drain(..size + 2);
        }
    }

    pub async fn write(&mut self, b: &[u8]) -> io::Result<()> {
        match timeout(WRITE_TIMEOUT, self.stream.write_all(b)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
        }
    }

    /// Wait until the peer closes (or `max` passes), discarding anything it sends.
    pub async fn wait_closed(&mut self, max: Duration) {
        let deadline = tokio::time::Instant::now() + max;
        let mut tmp = [0u8; 4096];
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut tmp)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Close with a TCP reset instead of a FIN.
    pub fn reset(self) {
        let _ = self.stream.set_zero_linger();
        drop(self.stream);
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// A response head. `len: None` means a chunked body.
pub fn head(
    status: u16,
    content_type: &str,
    len: Option<usize>,
    keep_alive: bool,
    extra: &[(&str, String)],
) -> String {
    let mut h = format!(
        "HTTP/1.1 {status} {}\r\nserver: toolgate-sim\r\ncontent-type: {content_type}\r\n",
        reason(status)
    );
    match len {
        Some(n) => h.push_str(&format!("content-length: {n}\r\n")),
        None => h.push_str("transfer-encoding: chunked\r\ncache-control: no-cache\r\n"),
    }
    if !keep_alive {
        h.push_str("connection: close\r\n");
    }
    for (k, v) in extra {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    h
}

/// Append one chunked-encoding frame.
pub fn frame(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";
