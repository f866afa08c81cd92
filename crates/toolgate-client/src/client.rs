//! The HTTP side: one pooled reqwest client, one attempt per request with explicit
//! timeouts and size caps, and toolgate's own retry loop (the only one).

use crate::idle::IdleTimer;
use crate::parse::{
    classify_http_error, completion_timing, excerpt, parse_completion, Feed, StreamAccumulator,
};
use crate::sse::{protocol, SseDecoder};
use crate::transport::{error_chain, BodyError, Outgoing, Response, SendError, Transport};
use bytes::Bytes;
use http::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use serde_json::{json, Map, Value};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use toolgate_core::text::sha256_hex;
use toolgate_core::{ErrorKind, InfraError, RetryRecord, TurnRecord};

/// Where and how to send chat requests.
#[derive(Clone)]
pub struct Endpoint {
    /// Usually ends with `/v1`; requests go to `{base_url}/chat/completions`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …`; never logged, stored or shown by `Debug`.
    pub api_key: Option<String>,
    /// Whole-request limit per attempt (headers + entire body).
    pub timeout: Duration,
    /// Longest allowed gap between two reads of the response body.
    pub idle_timeout: Duration,
    /// Response size cap; a larger body is a `protocol` error.
    pub max_body_bytes: usize,
    /// Which hosted API the target speaks (OpenAI-compatible unless Azure).
    pub api: Api,
    /// Send through the hosted path (async-openai) even for plain `http://`; Azure always is.
    pub force_hosted: bool,
}

/// The API a target speaks, for the hosted path's URL and auth.
#[derive(Clone, PartialEq, Eq)]
pub enum Api {
    /// OpenAI and every OpenAI-compatible server: `{base_url}/chat/completions`,
    /// `Authorization: Bearer`, optional `OpenAI-Organization` / `OpenAI-Project` headers.
    OpenAi {
        organization: Option<String>,
        project: Option<String>,
    },
    /// Azure OpenAI: `{base_url}/openai/deployments/{deployment}/chat/completions?api-version=…`
    /// with the key in an `api-key` header.
    Azure {
        deployment: String,
        api_version: String,
    },
}

impl Default for Api {
    fn default() -> Self {
        Api::OpenAi {
            organization: None,
            project: None,
        }
    }
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Api::OpenAi {
                organization,
                project,
            } => f
                .debug_struct("OpenAi")
                .field("organization", organization)
                .field("project", project)
                .finish(),
            Api::Azure {
                deployment,
                api_version,
            } => f
                .debug_struct("Azure")
                .field("deployment", deployment)
                .field("api_version", api_version)
                .finish(),
        }
    }
}

impl Endpoint {
    /// Defaults: 120 s per request, 60 s idle, 32 MiB body cap.
    pub fn new(base_url: impl Into<String>) -> Self {
        Endpoint {
            base_url: base_url.into(),
            api_key: None,
            timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(60),
            max_body_bytes: 32 * 1024 * 1024,
            api: Api::default(),
            force_hosted: false,
        }
    }

    /// `{base_url}/chat/completions`, or Azure's deployment URL with its `api-version`.
    pub fn chat_url(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        match &self.api {
            Api::OpenAi { .. } => format!("{base}/chat/completions"),
            Api::Azure {
                deployment,
                api_version,
            } => format!(
                "{base}/openai/deployments/{deployment}/chat/completions?api-version={api_version}"
            ),
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("api", &self.api)
            .field("force_hosted", &self.force_hosted)
            .finish()
    }
}

/// Retries for connect errors, 429 and 503 only.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    /// Wait before the first retry; doubles each retry (no jitter, so runs are repeatable).
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// A `Retry-After` longer than this is cut to it.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// Wait before retry number `retry` (0-based): `base · 2^retry`, capped.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        self.base_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

/// One chat request.
#[derive(Debug, Clone, Default)]
pub struct ChatRequest {
    /// `model`, `messages`, `tools`, … — without `stream` / `stream_options`, which the
    /// client sets from `stream`.
    pub body: Map<String, Value>,
    pub stream: bool,
    /// Extra request headers (e.g. `x-toolgate-case`).
    pub headers: Vec<(String, String)>,
}

impl ChatRequest {
    /// The exact body bytes sent: `stream` set, and when streaming
    /// `stream_options.include_usage = true` merged into any `stream_options` given.
    pub fn wire_body(&self) -> Vec<u8> {
        let mut body = self.body.clone();
        body.insert("stream".into(), Value::Bool(self.stream));
        if self.stream {
            let opts = body
                .entry("stream_options")
                .or_insert_with(|| Value::Object(Map::new()));
            if !opts.is_object() {
                *opts = Value::Object(Map::new());
            }
            if let Value::Object(o) = opts {
                o.insert("include_usage".into(), Value::Bool(true));
            }
        } else {
            body.remove("stream_options");
        }
        serde_json::to_vec(&Value::Object(body)).expect("a JSON map always serializes")
    }

    /// [`ChatRequest::wire_body`] with its hash, ready to be sent any number of times.
    pub fn wire(&self) -> WireBody {
        WireBody::new(self.wire_body())
    }
}

/// The exact bytes of a request body and their SHA-256. Cheap to clone: a trial repeated
/// N times is serialised and hashed once, not N times.
#[derive(Debug, Clone, PartialEq)]
pub struct WireBody {
    pub bytes: Bytes,
    pub sha256: Arc<str>,
}

impl WireBody {
    pub fn new(bytes: Vec<u8>) -> Self {
        let sha256 = sha256_hex(&bytes).into();
        WireBody {
            bytes: bytes.into(),
            sha256,
        }
    }
}

/// The result of [`Client::chat`]: the turn (or the final infra error), the retries made
/// before it, and the hash of the body bytes sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatOutcome {
    pub result: Result<TurnRecord, InfraError>,
    pub retries: Vec<RetryRecord>,
    pub body_sha256: String,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(String);

/// An OpenAI-compatible chat client. Cheap to clone (one shared connection pool).
#[derive(Clone)]
pub struct Client {
    http: Transport,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Client")
    }
}

/// What one attempt ended in.
pub(crate) enum Attempt {
    Final(Box<Result<TurnRecord, InfraError>>),
    /// Connect error, 429 or 503: may be retried.
    Retryable {
        error: InfraError,
        retry_after: Option<Duration>,
    },
}

impl Attempt {
    pub(crate) fn final_err(e: InfraError) -> Self {
        Attempt::Final(Box::new(Err(e)))
    }
}

impl Client {
    pub fn new() -> Result<Self, ClientError> {
        Self::with_http(std::env::var("TOOLGATE_HTTP").ok().as_deref())
    }

    /// [`Client::new`] as if `TOOLGATE_HTTP` were `choice` (`hosted`, `hyper-util`; `None`:
    /// the lean pool), so one test process can run the client suite on each path.
    #[doc(hidden)]
    pub fn with_http(choice: Option<&str>) -> Result<Self, ClientError> {
        crate::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            // Small SSE writes + Nagle/delayed ACK add ~40 ms per request.
            .tcp_nodelay(true)
            // reqwest 0.13 retries HTTP/2 protocol NACKs by default; toolgate owns every retry.
            .retry(reqwest::retry::never())
            // A redirected POST would silently become a GET; show the 3xx instead.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(crate::transport::UA)
            .build()
            .map_err(|e| ClientError(error_chain(&e)))?;
        Ok(Client {
            http: Transport::with_choice(http, choice),
        })
    }

    /// Sends one chat request, retrying connect errors, 429 and 503 per `retry`. Never
    /// retries once a success response started (no request is ever answered twice).
    pub async fn chat(&self, ep: &Endpoint, req: &ChatRequest, retry: &RetryPolicy) -> ChatOutcome {
        self.chat_wire(ep, &req.wire(), req.stream, &req.headers, retry)
            .await
    }

    /// [`Client::chat`] with a body already serialised (`wire`'s `stream` fields must
    /// match `stream`, as [`ChatRequest::wire`] makes them).
    pub async fn chat_wire(
        &self,
        ep: &Endpoint,
        wire: &WireBody,
        stream: bool,
        headers: &[(String, String)],
        retry: &RetryPolicy,
    ) -> ChatOutcome {
        let body_sha256 = wire.sha256.to_string();
        let url = ep.chat_url();
        // The hosted path takes the body as JSON (async-openai serialises it back to the
        // same bytes); parsed once for all attempts.
        let json = self.is_hosted(ep, &url).then(|| {
            serde_json::from_slice::<Value>(&wire.bytes).map_err(|e| {
                infra(
                    ErrorKind::Protocol,
                    format!("invalid request: body is not JSON: {e}"),
                )
            })
        });
        let mut retries = Vec::new();
        let mut attempt: u32 = 0;
        loop {
            let next = match &json {
                None => {
                    self.attempt(ep, stream, headers, &url, wire.bytes.clone())
                        .await
                }
                Some(Ok(body)) => self.attempt_hosted(ep, stream, headers, body).await,
                Some(Err(e)) => Attempt::final_err(e.clone()),
            };
            match next {
                Attempt::Final(result) => {
                    return ChatOutcome {
                        result: *result,
                        retries,
                        body_sha256,
                    }
                }
                Attempt::Retryable { error, retry_after } => {
                    if attempt >= retry.max_retries {
                        return ChatOutcome {
                            result: Err(error),
                            retries,
                            body_sha256,
                        };
                    }
                    let (wait, from_header) = match retry_after {
                        Some(d) => (d.min(retry.max_retry_after), true),
                        None => (retry.backoff(attempt), false),
                    };
                    attempt += 1;
                    retries.push(RetryRecord {
                        attempt,
                        kind: error.kind,
                        message: error.message,
                        status: error.status,
                        wait_ms: wait.as_secs_f64() * 1000.0,
                        retry_after: from_header,
                    });
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Azure, OpenAI organisation/project headers, forced targets, and everything the lean
    /// pool does not take (https, proxies).
    fn is_hosted(&self, ep: &Endpoint, url: &str) -> bool {
        let api_needs_it = match &ep.api {
            Api::Azure { .. } => true,
            Api::OpenAi {
                organization,
                project,
            } => organization.is_some() || project.is_some(),
        };
        ep.force_hosted || api_needs_it || !self.http.is_lean(url)
    }

    async fn attempt_hosted(
        &self,
        ep: &Endpoint,
        stream: bool,
        headers: &[(String, String)],
        body: &Value,
    ) -> Attempt {
        let t0 = Instant::now();
        let deadline = tokio::time::Instant::from_std(t0 + ep.timeout);
        let fut = crate::hosted::attempt(self.http.reqwest(), ep, stream, headers, body, t0);
        tokio::time::timeout_at(deadline, fut)
            .await
            .unwrap_or_else(|_| timed_out(ep))
    }

    async fn attempt(
        &self,
        ep: &Endpoint,
        stream: bool,
        headers: &[(String, String)],
        url: &str,
        body: Bytes,
    ) -> Attempt {
        let t0 = Instant::now();
        let out = Outgoing {
            url,
            body,
            accept: if stream {
                "text/event-stream"
            } else {
                "application/json"
            },
            headers,
            api_key: ep.api_key.as_deref(),
        };
        let deadline = tokio::time::Instant::from_std(t0 + ep.timeout);
        tokio::time::timeout_at(deadline, self.attempt_inner(ep, stream, out, t0))
            .await
            .unwrap_or_else(|_| timed_out(ep))
    }

    async fn attempt_inner(
        &self,
        ep: &Endpoint,
        stream: bool,
        out: Outgoing<'_>,
        t0: Instant,
    ) -> Attempt {
        let mut idle = IdleTimer::new(ep.idle_timeout);
        idle.arm().await;
        let mut resp = match self.http.post(out).await {
            Ok(r) => r,
            Err(e) => return send_error(e),
        };
        let headers_ms = ms(t0.elapsed());
        idle.restart();
        let status = resp.status;
        let content_type = header_str(&resp.headers, CONTENT_TYPE);

        if !(200..300).contains(&status) {
            let retry_after = resp
                .headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            // An error body is only read for its message: a small cap, and a broken read
            // keeps what arrived.
            let cap = ep.max_body_bytes.min(64 * 1024);
            let bytes = match read_body(&mut resp, cap, &mut idle).await {
                Ok(b) | Err((_, b)) => b,
            };
            let error = classify_http_error(status, content_type.as_deref(), &bytes);
            return if status == 429 || status == 503 {
                Attempt::Retryable { error, retry_after }
            } else {
                Attempt::final_err(error)
            };
        }

        let ct = content_type.as_deref().unwrap_or("").to_ascii_lowercase();
        let is_sse = ct.contains("text/event-stream");
        let is_json = ct.contains("json");
        let result = if stream && (is_sse || !is_json) && !ct.contains("html") {
            read_stream(&mut resp, ep, t0, &mut idle).await.map(|r| {
                let mut timing = r.timing;
                timing.headers_ms = Some(headers_ms);
                TurnRecord {
                    message: Some(r.message),
                    finish_reason: r.finish_reason,
                    usage: r.usage,
                    server_timings: r.server_timings,
                    timing,
                    status: Some(status),
                    ..TurnRecord::default()
                }
            })
        } else {
            // Non-streaming, or a server that ignored `stream: true` and sent JSON (an HTML
            // page lands here too and is refused by the parser).
            match read_body(&mut resp, ep.max_body_bytes, &mut idle).await {
                Err((e, _)) => Err(e),
                Ok(bytes) => {
                    let e2e_ms = ms(t0.elapsed());
                    parse_completion(&bytes).map(|c| {
                        let mut timing = completion_timing(&c, e2e_ms);
                        timing.headers_ms = Some(headers_ms);
                        TurnRecord {
                            message: Some(c.message),
                            finish_reason: c.finish_reason,
                            usage: c.usage,
                            server_timings: c.server_timings,
                            timing,
                            status: Some(status),
                            ..TurnRecord::default()
                        }
                    })
                }
            }
        };
        Attempt::Final(Box::new(result.map_err(|mut e| {
            e.status.get_or_insert(status);
            e
        })))
    }

    /// Server metadata for the run manifest: `GET {base}/models`, and at the server root
    /// `/props` (llama.cpp), `/version` (vLLM), `/api/version` (Ollama), `/metrics`
    /// (truncated text). Each entry is `{status, body}` or `{error}`; never fails, 5 s per
    /// probe at most.
    pub async fn metadata(&self, ep: &Endpoint) -> Value {
        let base = ep.base_url.trim_end_matches('/');
        let root = base.strip_suffix("/v1").unwrap_or(base);
        // Only the models list is an API call that needs the key; the others are server
        // endpoints that must not be handed it (a hostile one could echo or keep it).
        // Azure lists models at the resource, with its api-version.
        let models = match &ep.api {
            Api::Azure { api_version, .. } => {
                format!("{base}/openai/models?api-version={api_version}")
            }
            Api::OpenAi { .. } => format!("{base}/models"),
        };
        let probes: Vec<(String, String, usize, bool)> = vec![
            (path_of(root, &models), models.clone(), 0, true),
            ("/props".into(), format!("{root}/props"), 0, false),
            ("/version".into(), format!("{root}/version"), 0, false),
            (
                "/api/version".into(),
                format!("{root}/api/version"),
                0,
                false,
            ),
            (
                "/metrics".into(),
                format!("{root}/metrics"),
                METRICS_TEXT_BYTES,
                false,
            ),
        ];
        let limit = ep.timeout.min(Duration::from_secs(5));
        let futs = probes
            .iter()
            .map(|(_, url, text_cap, auth)| self.probe(ep, url, limit, *text_cap, *auth));
        let results = futures::future::join_all(futs).await;
        let mut out = Map::new();
        for ((key, _, _, _), v) in probes.into_iter().zip(results) {
            out.insert(key, v);
        }
        Value::Object(out)
    }

    async fn probe(
        &self,
        ep: &Endpoint,
        url: &str,
        limit: Duration,
        text_cap: usize,
        auth: bool,
    ) -> Value {
        let fut = async {
            let mut rb = self.http.reqwest().get(url);
            if let Some(key) = ep.api_key.as_ref().filter(|_| auth) {
                rb = match ep.api {
                    Api::Azure { .. } => match http::HeaderValue::from_str(key) {
                        Ok(mut v) => {
                            v.set_sensitive(true);
                            rb.header("api-key", v)
                        }
                        Err(_) => return Err("API key is not a valid header value".to_string()),
                    },
                    Api::OpenAi { .. } => rb.bearer_auth(key),
                };
            }
            let resp = rb.send().await.map_err(|e| error_chain(&e))?;
            let mut resp = crate::transport::Response::from_reqwest(resp);
            let status = resp.status;
            let bytes =
                match read_body(&mut resp, PROBE_BODY_BYTES, &mut IdleTimer::new(limit)).await {
                    Ok(b) => b,
                    Err((e, b)) if !b.is_empty() => {
                        let _ = e; // keep the part that arrived
                        b
                    }
                    Err((e, _)) => return Err(e.message),
                };
            let body = match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) if text_cap == 0 => v,
                _ => Value::String(excerpt(&bytes, text_cap.max(METRICS_TEXT_BYTES))),
            };
            Ok::<Value, String>(json!({"status": status, "body": body}))
        };
        match tokio::time::timeout(limit, fut).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => json!({"error": e}),
            Err(_) => json!({"error": format!("no answer within {}", fmt_dur(limit))}),
        }
    }
}

/// Decoding work per read after which a streaming trial yields to the others.
const PARSE_SLICE_MS: f64 = 1.0;

const PROBE_BODY_BYTES: usize = 256 * 1024;
const METRICS_TEXT_BYTES: usize = 4096;

fn path_of(root: &str, url: &str) -> String {
    url.strip_prefix(root).unwrap_or(url).to_string()
}

/// Reads and decodes an SSE body, stamping each event with its read time.
async fn read_stream(
    resp: &mut Response,
    ep: &Endpoint,
    t0: Instant,
    idle: &mut IdleTimer,
) -> Result<crate::parse::StreamResult, InfraError> {
    let mut dec = SseDecoder::new();
    let mut acc = StreamAccumulator::new();
    let mut total = 0usize;
    'read: loop {
        let chunk = match idle.wait(resp.chunk()).await {
            None => {
                return Err(infra(
                    ErrorKind::Timeout,
                    format!(
                        "stream stalled: no data for {} (idle timeout)",
                        fmt_dur(ep.idle_timeout)
                    ),
                ))
            }
            Some(Err(e)) => return Err(body_error(&e)),
            Some(Ok(None)) => break,
            Some(Ok(Some(c))) => c,
        };
        // Stamped as the bytes come off the socket, before any parsing.
        let t = ms(t0.elapsed());
        total = total.saturating_add(chunk.len());
        if total > ep.max_body_bytes {
            return Err(oversize(ep.max_body_bytes));
        }
        for ev in dec.push(&chunk)? {
            if acc.feed(&ev, t)? == Feed::Done {
                break 'read;
            }
        }
        // Runs share one thread: a read that took long to decode (a hostile stream) gives
        // the other trials their turn, so their arrival stamps are not held back by it.
        if ms(t0.elapsed()) - t > PARSE_SLICE_MS {
            tokio::task::yield_now().await;
        }
    }
    if acc.is_done() {
        // The trial ended at [DONE]; draining the connection is not part of it.
        let end = ms(t0.elapsed());
        resp.finish(Duration::from_millis(5)).await;
        return acc.finish(end);
    }
    let t = ms(t0.elapsed());
    for ev in dec.finish()? {
        if acc.feed(&ev, t)? == Feed::Done {
            break;
        }
    }
    acc.finish(ms(t0.elapsed()))
}

/// Reads a whole body under a size cap and an idle timeout. On failure, also returns what
/// was read so far.
async fn read_body(
    resp: &mut Response,
    cap: usize,
    idle: &mut IdleTimer,
) -> Result<Vec<u8>, (InfraError, Vec<u8>)> {
    let mut buf = Vec::new();
    loop {
        match idle.wait(resp.chunk()).await {
            None => {
                let e = infra(
                    ErrorKind::Timeout,
                    format!(
                        "response body stalled: no data for {} (idle timeout)",
                        fmt_dur(idle.every())
                    ),
                );
                return Err((e, buf));
            }
            Some(Err(e)) => return Err((body_error(&e), buf)),
            Some(Ok(None)) => return Ok(buf),
            Some(Ok(Some(c))) => {
                if buf.len().saturating_add(c.len()) > cap {
                    let room = cap - buf.len();
                    buf.extend_from_slice(&c[..room]);
                    return Err((oversize(cap), buf));
                }
                buf.extend_from_slice(&c);
            }
        }
    }
}

pub(crate) fn send_error(e: SendError) -> Attempt {
    match e {
        SendError::Timeout(msg) => Attempt::final_err(infra(ErrorKind::Timeout, msg)),
        SendError::Protocol(msg) => Attempt::final_err(infra(ErrorKind::Protocol, msg)),
        // A bad URL or header: our input, not the server; retrying cannot help.
        SendError::Invalid(msg) => Attempt::final_err(infra(
            ErrorKind::Protocol,
            if msg.starts_with("invalid request") {
                msg
            } else {
                format!("invalid request: {msg}")
            },
        )),
        // Refused, reset before a response, DNS, TLS handshake: nothing was answered.
        SendError::Connect(msg) => Attempt::Retryable {
            error: infra(ErrorKind::Connect, msg),
            retry_after: None,
        },
    }
}

fn body_error(e: &BodyError) -> InfraError {
    let kind = if e.timeout {
        ErrorKind::Timeout
    } else {
        ErrorKind::Protocol
    };
    infra(kind, format!("response body broke off: {}", e.message))
}

pub(crate) fn oversize(cap: usize) -> InfraError {
    protocol(format!("response exceeded {cap} bytes"))
}

pub(crate) fn infra(kind: ErrorKind, message: String) -> InfraError {
    InfraError {
        kind,
        message,
        status: None,
        body: None,
        turn: 0,
    }
}

fn header_str(h: &HeaderMap, name: http::header::HeaderName) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// An attempt cut by the whole-request timeout (either HTTP path).
fn timed_out(ep: &Endpoint) -> Attempt {
    Attempt::final_err(infra(
        ErrorKind::Timeout,
        format!(
            "request exceeded the whole-request timeout of {}",
            fmt_dur(ep.timeout)
        ),
    ))
}

pub(crate) fn fmt_dur(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// `Retry-After`: delay-seconds (a fractional value is accepted) or an IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`); a date in the past means "now". The obsolete RFC 850
/// and asctime date forms are not recognised (the caller then uses its own backoff).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        return ((0.0..1e12).contains(&secs)).then(|| Duration::from_secs_f64(secs));
    }
    let at = parse_imf_fixdate(v)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    Some(Duration::from_secs_f64((at as f64 - now).max(0.0)))
}

/// Seconds since the Unix epoch of an IMF-fixdate.
fn parse_imf_fixdate(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_dow, day, mon, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: i64 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m.eq_ignore_ascii_case(mon))? as i64
        + 1;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day)
        || !(0..24).contains(h)
        || !(0..60).contains(m)
        || !(0..61).contains(sec)
    {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            max_retries: 10,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(700),
            max_retry_after: Duration::from_secs(1),
        };
        let got: Vec<u128> = (0..6).map(|i| p.backoff(i).as_millis()).collect();
        assert_eq!(got, vec![100, 200, 400, 700, 700, 700]);
        assert_eq!(p.backoff(u32::MAX), Duration::from_millis(700));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("0.25", now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_imf_fixdate("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_imf_fixdate("Tue, 29 Feb 2028 23:59:59 GMT"),
            Some(1_835_481_599)
        );
        for bad in [
            "",
            "-3",
            "soon",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "NaN",
            "inf",
            "Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn wire_body_sets_stream_fields() {
        let mut req = ChatRequest {
            body: json!({"model": "m", "stream_options": {"continuous_usage_stats": true}})
                .as_object()
                .unwrap()
                .clone(),
            stream: true,
            headers: vec![],
        };
        let v: Value = serde_json::from_slice(&req.wire_body()).unwrap();
        assert_eq!(v["stream"], json!(true));
        assert_eq!(
            v["stream_options"],
            json!({"continuous_usage_stats": true, "include_usage": true})
        );
        req.stream = false;
        let v: Value = serde_json::from_slice(&req.wire_body()).unwrap();
        assert_eq!(v, json!({"model": "m", "stream": false}));
    }

    #[test]
    fn endpoint_debug_hides_key() {
        let mut ep = Endpoint::new("http://127.0.0.1:1/v1/");
        ep.api_key = Some("sk-secret-marker".into());
        assert!(!format!("{ep:?}").contains("sk-secret-marker"));
        assert_eq!(ep.chat_url(), "http://127.0.0.1:1/v1/chat/completions");
    }
}
