//! The wire under [`crate::Client`]: a lean HTTP/1.1 keep-alive pool on hyper for plain
//! `http://` endpoints (what vLLM, SGLang, llama.cpp, Ollama and NIM containers speak on a
//! LAN); everything else (https, proxies from the environment, Azure) goes through
//! async-openai on reqwest ([`crate::hosted`]).
//!
//! Why two: at concurrency 1 against a zero-delay simulator, reqwest's pooled client costs
//! ~17 µs more per request than a hyper connection used directly (79 vs 62 µs per request,
//! where `oha` needs 62), which alone kept toolgate under 0.8× a raw load generator.
//! Both paths give the same records and the same error classes, and the whole client
//! test suite runs against each (tests/http.rs and tests/http_hosted.rs; `TOOLGATE_HTTP=hosted`
//! forces the second for a whole process).
//!
//! `TOOLGATE_HTTP=hyper-util` swaps the hand-written pool for hyper_util's pooled client
//! ([`crate::pooled`]) on the same plain-http requests: the bench comparison that keeps the
//! pool honest (BENCHMARKS.md), tested by tests/http_hyper_util.rs.

use crate::idle::within_turns;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, HOST, USER_AGENT};
use http::{HeaderMap, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One HTTP/1.1 connection's request handle.
type Sender = SendRequest<Full<Bytes>>;

pub(crate) const UA: &str = concat!("toolgate/", env!("CARGO_PKG_VERSION"));

/// Keep-alive connections idle longer than this are not reused (reqwest's setting too).
const POOL_IDLE: Duration = Duration::from_secs(90);

/// What went wrong before a response head arrived.
pub(crate) enum SendError {
    /// The request itself is malformed (URL, header): retrying cannot help.
    Invalid(String),
    /// Nothing was answered: refused, reset, DNS, TLS handshake. May be retried.
    Connect(String),
    /// reqwest's own timeout fired (toolgate's timeouts wrap the call instead).
    Timeout(String),
    /// The server answered, but not with a valid HTTP response head (e.g. 200k headers):
    /// a protocol error, not a connection failure to retry.
    Protocol(String),
}

/// Is `e` (or an error it wraps) hyper failing to parse the response head?
pub(crate) fn is_parse_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            if h.is_parse() || h.is_parse_status() {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

/// A body read that broke off.
pub(crate) struct BodyError {
    pub timeout: bool,
    pub message: String,
}

/// One request to send.
pub(crate) struct Outgoing<'a> {
    pub url: &'a str,
    pub body: Bytes,
    pub accept: &'static str,
    pub headers: &'a [(String, String)],
    pub api_key: Option<&'a str>,
}

/// A response head, and its body read chunk by chunk.
pub(crate) struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    body: Body,
}

enum Body {
    Reqwest(reqwest::Response),
    H1 {
        body: Incoming,
        /// Handed back to the pool once the body has been read to its end.
        conn: Option<(Arc<Pool>, String, Sender)>,
    },
    /// hyper_util's client ([`crate::pooled`]) takes the connection back by itself once the
    /// body has been read to its end.
    Pooled(Incoming),
}

impl Response {
    pub fn from_reqwest(r: reqwest::Response) -> Self {
        Response {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: Body::Reqwest(r),
        }
    }

    pub(crate) fn from_pooled(r: http::Response<Incoming>) -> Self {
        let (parts, body) = r.into_parts();
        Response {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: Body::Pooled(body),
        }
    }

    /// After the last event a reader needs (`[DONE]`), reads what is left of the body for
    /// at most `grace`, so the connection goes back to the pool: the end of a chunked body
    /// usually arrives right after `[DONE]`. A server that keeps the stream open costs a
    /// new connection next time, not a stalled trial.
    pub async fn finish(&mut self, grace: Duration) {
        match &mut self.body {
            Body::H1 { body, conn } if conn.is_some() => {
                if drain(body, grace).await {
                    if let Some((pool, key, s)) = conn.take() {
                        pool.put(key, s);
                    }
                }
                conn.take();
            }
            Body::Pooled(body) => {
                drain(body, grace).await;
            }
            _ => {}
        }
    }

    /// The next chunk of the body, `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        match &mut self.body {
            Body::Reqwest(r) => r.chunk().await.map_err(|e| BodyError {
                timeout: e.is_timeout(),
                message: error_chain(&e),
            }),
            Body::H1 { body, conn } => {
                let next = data(body).await;
                match &next {
                    Ok(None) => {
                        if let Some((pool, key, s)) = conn.take() {
                            pool.put(key, s);
                        }
                    }
                    // The connection is not reusable after a broken body.
                    Err(_) => drop(conn.take()),
                    Ok(Some(_)) => {}
                }
                next
            }
            Body::Pooled(body) => data(body).await,
        }
    }
}

/// The next data frame of `body`, `None` at its end.
async fn data(body: &mut Incoming) -> Result<Option<Bytes>, BodyError> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(e)) => {
                return Err(BodyError {
                    timeout: e.is_timeout(),
                    message: error_chain(&e),
                })
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if !data.is_empty() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }
}

/// Reads what is left of `body` for at most `grace`; whether its end was reached (then the
/// connection can be reused).
async fn drain(body: &mut Incoming, grace: Duration) -> bool {
    // Set only if a read has to wait: a timer here would cost every trial a wake-up
    // of tokio's driver (see `idle`), and the end is usually already buffered.
    let mut deadline = None;
    // Bounded: a server still streaming after [DONE] is not read forever.
    for _ in 0..16 {
        let mut next = std::pin::pin!(body.frame());
        let frame = match within_turns(next.as_mut(), 2).await {
            Some(f) => f,
            None => {
                let at = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + grace);
                match tokio::time::timeout_at(at, next).await {
                    Ok(f) => f,
                    Err(_) => return false,
                }
            }
        };
        match frame {
            None => return true,
            Some(Ok(_)) => continue,
            Some(Err(_)) => return false,
        }
    }
    false
}

#[derive(Clone)]
pub(crate) struct Transport {
    reqwest: reqwest::Client,
    /// What carries plain-http requests.
    plain: Plain,
}

/// The carrier of plain `http://` requests, picked once per client.
#[derive(Clone)]
enum Plain {
    /// toolgate's own keep-alive pool (the default).
    Lean(Arc<Pool>),
    /// `TOOLGATE_HTTP=hyper-util`: hyper_util's pooled client, the bench comparison.
    HyperUtil(crate::pooled::Pooled),
    /// Everything through reqwest (`TOOLGATE_HTTP=hosted`, or a proxy in the environment).
    Hosted,
}

impl Transport {
    /// The way `choice` (`TOOLGATE_HTTP`) and the proxy environment pick.
    pub fn with_choice(reqwest: reqwest::Client, choice: Option<&str>) -> Self {
        let plain = if !lean_pool_allowed(choice) {
            Plain::Hosted
        } else if choice.is_some_and(|v| v.eq_ignore_ascii_case("hyper-util")) {
            Plain::HyperUtil(crate::pooled::Pooled::new())
        } else {
            Plain::Lean(Arc::new(Pool::default()))
        };
        Transport { reqwest, plain }
    }

    pub fn reqwest(&self) -> &reqwest::Client {
        &self.reqwest
    }

    /// Whether `url` goes through the lean pool (plain `http://`, no proxy, not forced
    /// onto the hosted path by `TOOLGATE_HTTP`).
    pub fn is_lean(&self, url: &str) -> bool {
        !matches!(self.plain, Plain::Hosted) && lean_uri(url).is_some()
    }

    /// Sends through the lean pool (or hyper_util's); the caller checked
    /// [`Transport::is_lean`].
    pub async fn post(&self, o: Outgoing<'_>) -> Result<Response, SendError> {
        let invalid = || SendError::Invalid("invalid request: not a plain-http URL".into());
        let uri = lean_uri(o.url).ok_or_else(invalid)?;
        match &self.plain {
            Plain::Lean(pool) => post_h1(pool, uri, o).await,
            Plain::HyperUtil(h) => h.post(uri, o).await,
            Plain::Hosted => Err(invalid()),
        }
    }
}

fn lean_uri(url: &str) -> Option<Uri> {
    url.parse::<Uri>()
        .ok()
        .filter(|u| u.scheme_str() == Some("http") && u.authority().is_some())
}

/// The lean pool is used unless told otherwise (`choice`, from `TOOLGATE_HTTP`) or unless a
/// proxy is configured in the environment (reqwest honours those; the pool does not).
fn lean_pool_allowed(choice: Option<&str>) -> bool {
    // `hosted` (or its old name `reqwest`) sends everything through async-openai.
    if choice.is_some_and(|v| v.eq_ignore_ascii_case("hosted") || v.eq_ignore_ascii_case("reqwest"))
    {
        return false;
    }
    !["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()))
}

/// Idle HTTP/1.1 connections per `host:port`.
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<HashMap<String, Vec<(Sender, Instant)>>>,
}

impl Pool {
    fn take(&self, key: &str) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(key)?;
        while let Some((s, at)) = list.pop() {
            if !s.is_closed() && at.elapsed() < POOL_IDLE {
                return Some(s);
            }
        }
        None
    }

    fn put(&self, key: String, s: Sender) {
        if s.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.entry(key).or_default().push((s, Instant::now()));
    }
}

async fn connect(authority: &str) -> Result<Sender, SendError> {
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| SendError::Connect(format!("tcp connect error: {e}")))?;
    // Small SSE writes + Nagle/delayed ACK add ~40 ms per request.
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| SendError::Connect(error_chain(&e)))?;
    tokio::spawn(async move {
        // Ends when the server closes or the last handle is dropped; its errors reach the
        // request or body that was using it.
        let _ = conn.await;
    });
    Ok(sender)
}

async fn post_h1(pool: &Arc<Pool>, uri: Uri, o: Outgoing<'_>) -> Result<Response, SendError> {
    let authority = uri.authority().expect("checked by the caller");
    let key = match authority.port_u16() {
        Some(_) => authority.as_str().to_string(),
        None => format!("{}:80", authority.host()),
    };
    let mut req = build_h1_request(&uri, authority.as_str(), &o)?;
    // A reused connection the server has just closed gives the request back unsent: then it
    // goes out on another one. Bounded: after a few stale ones, a fresh connection decides.
    for attempt in 0..4 {
        let idle = if attempt < 3 { pool.take(&key) } else { None };
        let reused = idle.is_some();
        let mut sender = match idle {
            Some(s) => s,
            None => connect(&key).await?,
        };
        if let Err(e) = sender.ready().await {
            if reused {
                continue;
            }
            return Err(SendError::Connect(error_chain(&e)));
        }
        match sender.try_send_request(req).await {
            Ok(resp) => {
                let (parts, body) = resp.into_parts();
                return Ok(Response {
                    status: parts.status.as_u16(),
                    headers: parts.headers,
                    body: Body::H1 {
                        body,
                        conn: Some((pool.clone(), key, sender)),
                    },
                });
            }
            Err(mut e) => match e.take_message() {
                Some(back) if reused => req = back,
                _ if is_parse_error(e.error()) => {
                    return Err(SendError::Protocol(error_chain(e.error())))
                }
                _ => return Err(SendError::Connect(error_chain(e.error()))),
            },
        }
    }
    unreachable!("the last try uses a fresh connection and returns")
}

pub(crate) fn build_h1_request(
    uri: &Uri,
    authority: &str,
    o: &Outgoing<'_>,
) -> Result<http::Request<Full<Bytes>>, SendError> {
    let path = uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse::<Uri>()
        .map_err(|e| SendError::Invalid(format!("invalid request: {e}")))?;
    let mut req = http::Request::post(path)
        .body(Full::new(o.body.clone()))
        .map_err(|e| SendError::Invalid(format!("invalid request: {e}")))?;
    let h = req.headers_mut();
    let invalid = |e: &dyn std::fmt::Display| SendError::Invalid(format!("invalid request: {e}"));
    h.insert(
        HOST,
        HeaderValue::from_str(authority).map_err(|e| invalid(&e))?,
    );
    h.insert(USER_AGENT, HeaderValue::from_static(UA));
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(http::header::ACCEPT, HeaderValue::from_static(o.accept));
    for (k, v) in o.headers {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| invalid(&e))?;
        let value = HeaderValue::from_str(v).map_err(|e| invalid(&e))?;
        h.append(name, value);
    }
    if let Some(key) = o.api_key {
        let mut v = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
            SendError::Invalid("invalid request: API key is not a valid header value".into())
        })?;
        v.set_sensitive(true);
        h.insert(AUTHORIZATION, v);
    }
    Ok(req)
}

/// The error and its causes, without the URL (which could carry credentials).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        let mut s = err.to_string();
        // reqwest's Display appends ` for url (…)`; drop it.
        if let Some(i) = s.find(" for url (") {
            s.truncate(i);
        }
        if !s.is_empty() && parts.last() != Some(&s) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}
