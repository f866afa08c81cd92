//! The simulator server: routes, case lookup, rule evaluation, and the writers for normal
//! and faulty responses.

use crate::http::{self, frame, head, Conn, ReadError, Request, LAST_CHUNK};
use crate::oracle;
use crate::script::{Action, Dialect, Fault, FaultSpec, RequestFacts, Script};
use crate::transform::{self, thinking_text, Answer, Context};
use crate::wire::{self, RenderCtx, Seg, SegKind};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{sleep, sleep_until, Instant};
use toolgate_core::model::content_text;
use toolgate_core::{AssistantMessage, Case, CaseKind, RawToolCall, Suite};

/// Idle keep-alive connections are closed after this long.
const IDLE: Duration = Duration::from_secs(60);
/// Upper bound on how long a `stall` keeps a connection open.
const STALL_MAX: Duration = Duration::from_secs(60);
/// Requests served on one connection before it is closed (bounds the connection loop).
const MAX_REQUESTS_PER_CONN: usize = 1_000_000;
const DEFAULT_SLOW_MS: u64 = 2_000;
const DEFAULT_HUGE_BYTES: u64 = 1 << 30;

/// Request headers the simulator understands (for tests and demos).
pub const HEADER_CASE: &str = "x-toolgate-case";
pub const HEADER_FAULT: &str = "x-toolgate-fault";
pub const HEADER_DIALECT: &str = "x-toolgate-dialect";

/// Scripts and suites, with lookup maps built once.
#[derive(Clone)]
pub struct SimState {
    inner: Arc<Inner>,
}

struct Inner {
    scripts: Vec<Script>,
    by_model: HashMap<String, usize>,
    suites: Vec<Suite>,
    /// `suite/case-id` → (suite, case).
    by_id: HashMap<String, (usize, usize)>,
    /// A case's first user text → every (suite, case) that starts with it. Suites that share
    /// a question (one per MCP server shape) are told apart by the tools the request offers.
    by_text: HashMap<String, Vec<(usize, usize)>>,
    counter: AtomicU64,
    /// When set, every chat request must carry this key: `Authorization: Bearer` on the
    /// OpenAI routes, `api-key` on Azure's.
    api_key: Option<String>,
}

impl Inner {
    fn case_by_text(&self, text: &str, body: &Value) -> Option<(usize, usize)> {
        let found = self.by_text.get(text)?;
        if found.len() == 1 {
            return found.first().copied();
        }
        let offered: Vec<&str> = body
            .get("tools")
            .and_then(Value::as_array)
            .map(|ts| {
                ts.iter()
                    .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        found
            .iter()
            .find(|(s, _)| {
                let names = self.suites[*s].tools.names();
                names.len() == offered.len() && names.iter().all(|n| offered.contains(n))
            })
            .or(found.first())
            .copied()
    }
}

impl SimState {
    pub fn new(scripts: Vec<Script>, suites: Vec<Suite>) -> Self {
        let mut by_model = HashMap::new();
        for (i, s) in scripts.iter().enumerate() {
            by_model.entry(s.model.clone()).or_insert(i);
        }
        let mut by_id = HashMap::new();
        let mut by_text = HashMap::new();
        for (si, s) in suites.iter().enumerate() {
            for (ci, c) in s.cases.iter().enumerate() {
                by_id.insert(format!("{}/{}", s.name, c.id), (si, ci));
                if let Some(t) = c.first_user_text() {
                    by_text
                        .entry(t.trim().to_string())
                        .or_insert_with(Vec::new)
                        .push((si, ci));
                }
            }
        }
        SimState {
            inner: Arc::new(Inner {
                scripts,
                by_model,
                suites,
                by_id,
                by_text,
                counter: AtomicU64::new(0),
                api_key: None,
            }),
        }
    }

    /// Requires `key` on every chat request (see the crate doc, "Hosted API shapes").
    pub fn with_api_key(mut self, key: Option<String>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.api_key = key.filter(|k| !k.is_empty());
        }
        self
    }

    /// The model names served.
    pub fn models(&self) -> Vec<&str> {
        self.inner
            .scripts
            .iter()
            .map(|s| s.model.as_str())
            .collect()
    }
}

/// A running simulator. Dropping it stops the server as well.
pub struct SimServer {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl SimServer {
    /// Bind (loopback only; port 0 picks a free port) and serve in the background.
    pub async fn start(state: SimState, addr: SocketAddr) -> io::Result<SimServer> {
        if !addr.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the simulator binds loopback addresses only, not {addr}"),
            ));
        }
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, mut stop_rx) = watch::channel(false);
        let inner = state.inner.clone();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    _ = stop_rx.changed() => break,
                    r = listener.accept() => match r {
                        Ok((stream, _)) => {
                            let inner = inner.clone();
                            conns.spawn(serve_conn(Conn::new(stream), inner));
                        }
                        // Out of file descriptors and the like: back off briefly.
                        Err(_) => sleep(Duration::from_millis(10)).await,
                    },
                }
                while conns.try_join_next().is_some() {}
            }
            conns.shutdown().await;
        });
        Ok(SimServer {
            addr,
            inner: state.inner,
            stop,
            task,
        })
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Chat-completion requests received so far (faulty ones included).
    pub fn requests_served(&self) -> u64 {
        self.inner.counter.load(Ordering::SeqCst)
    }

    /// Stop accepting, end every open connection, and wait for the server task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn serve_conn(mut conn: Conn, inner: Arc<Inner>) {
    for _ in 0..MAX_REQUESTS_PER_CONN {
        let req = match conn.read_request(IDLE).await {
            Ok(r) => r,
            Err(ReadError::Closed) => return,
            Err(ReadError::Status(code, msg)) => {
                let body = wire::error_body(Dialect::Openai, code, msg);
                let h = head(code, "application/json", Some(body.len()), false, &[]);
                let _ = conn.write(format!("{h}{body}").as_bytes()).await;
                return;
            }
        };
        match route(conn, req, &inner).await {
            Some(c) => conn = c,
            None => return,
        }
    }
}

/// Handle one request; `None` when the connection is finished.
async fn route(mut conn: Conn, req: Request, inner: &Inner) -> Option<Conn> {
    let keep = req.keep_alive;
    let get = req.method == "GET" || req.method == "HEAD";
    let json_reply = |status: u16, body: String| (status, body);
    if let Some(d) = azure_deployment(&req.path).map(str::to_string) {
        return azure_chat(conn, req, inner, d).await;
    }
    let (status, body) = match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/v1/chat/completions") | ("POST", "/chat/completions") => {
            if let Some(key) = &inner.api_key {
                let sent = req
                    .header("authorization")
                    .and_then(|v| v.strip_prefix("Bearer "));
                if sent != Some(key.as_str()) {
                    // OpenAI's answer to a wrong key (which it never echoes in full).
                    let b = json!({"error": {
                        "message": "Incorrect API key provided.",
                        "type": "invalid_request_error",
                        "param": null,
                        "code": "invalid_api_key"
                    }})
                    .to_string();
                    return respond_json(conn, 401, b, keep, &[]).await;
                }
            }
            return chat(conn, req, inner).await;
        }
        (_, "/health") | (_, "/v1/health") if get => {
            json_reply(200, json!({"status": "ok"}).to_string())
        }
        (_, "/v1/models") | (_, "/models") if get => json_reply(200, models_body(inner)),
        (_, "/props") if get => json_reply(200, props_body(inner)),
        (_, "/version") if get => json_reply(
            200,
            json!({"version": format!("toolgate-sim {}", env!("CARGO_PKG_VERSION"))}).to_string(),
        ),
        (_, "/v1/chat/completions") | (_, "/health") | (_, "/v1/models") | (_, "/props") => {
            json_reply(
                405,
                wire::error_body(Dialect::Openai, 405, "method not allowed"),
            )
        }
        _ => json_reply(
            404,
            wire::error_body(Dialect::Openai, 404, &format!("no route for {}", req.path)),
        ),
    };
    let h = head(status, "application/json", Some(body.len()), keep, &[]);
    let mut out = h.into_bytes();
    if req.method != "HEAD" {
        out.extend_from_slice(body.as_bytes());
    }
    conn.write(&out).await.ok()?;
    keep.then_some(conn)
}

/// The deployment of an Azure OpenAI chat URL, `/openai/deployments/{d}/chat/completions`.
fn azure_deployment(path: &str) -> Option<&str> {
    let d = path
        .strip_prefix("/openai/deployments/")?
        .strip_suffix("/chat/completions")?;
    (!d.is_empty() && !d.contains('/')).then_some(d)
}

/// Azure OpenAI's chat route: `api-version` required (Azure answers 404 "Resource not
/// found" without it), the key in `api-key` (401 in Azure's shape when wrong or missing),
/// then the same chat as `/v1/chat/completions`. The deployment stands in for a missing
/// `model`.
async fn azure_chat(
    conn: Conn,
    mut req: Request,
    inner: &Inner,
    deployment: String,
) -> Option<Conn> {
    let keep = req.keep_alive;
    let azure_error = |code: &str, message: &str| {
        json!({"error": {"code": code, "message": message}}).to_string()
    };
    if req.method != "POST" {
        let b = azure_error("405", "method not allowed");
        return respond_json(conn, 405, b, keep, &[]).await;
    }
    let has_version = req.query.split('&').any(|kv| {
        kv.strip_prefix("api-version=")
            .is_some_and(|v| !v.is_empty())
    });
    if !has_version {
        return respond_json(
            conn,
            404,
            azure_error("404", "Resource not found"),
            keep,
            &[],
        )
        .await;
    }
    let key = req.header("api-key").unwrap_or("");
    let ok = match &inner.api_key {
        Some(k) => key == k,
        None => !key.is_empty(),
    };
    if !ok {
        let b = azure_error(
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to \
             provide a valid key for an active subscription and use a correct regional API \
             endpoint for your resource.",
        );
        return respond_json(conn, 401, b, keep, &[]).await;
    }
    if let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(&req.body) {
        if !body.contains_key("model") {
            body.insert("model".into(), Value::String(deployment));
            req.body = serde_json::to_vec(&body).unwrap_or_default();
        }
    }
    chat(conn, req, inner).await
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn models_body(inner: &Inner) -> String {
    let created = now_secs();
    let data: Vec<Value> = inner
        .scripts
        .iter()
        .map(|s| {
            let owned = match s.dialect {
                Dialect::Vllm => "vllm",
                Dialect::Llamacpp => "llamacpp",
                Dialect::Ollama => "library",
                Dialect::Openai => "toolgate-sim",
            };
            json!({"id": s.model, "object": "model", "created": created, "owned_by": owned,
                   "root": s.model, "max_model_len": 32768})
        })
        .collect();
    json!({"object": "list", "data": data}).to_string()
}

fn props_body(inner: &Inner) -> String {
    let model = inner
        .scripts
        .first()
        .map(|s| s.model.as_str())
        .unwrap_or("sim");
    json!({
        "default_generation_settings": {"n_ctx": 32768, "params": {}},
        "total_slots": 4,
        "model_path": format!("toolgate-sim/{model}.gguf"),
        "chat_template": "{# toolgate-sim: scripted answers #}",
        "chat_template_caps": {"supports_tool_calls": true, "supports_parallel_tool_calls": true},
        "modalities": {"vision": false, "audio": false},
        "build_info": "b0-toolgate-sim",
    })
    .to_string()
}

/// Whether the request turns thinking on (any provider's switch).
pub fn thinking_requested(body: &Value) -> bool {
    let kw = body.get("chat_template_kwargs");
    for key in ["enable_thinking", "thinking"] {
        if let Some(b) = kw.and_then(|k| k.get(key)).and_then(Value::as_bool) {
            return b;
        }
    }
    match body.get("think") {
        Some(Value::Bool(b)) => return *b,
        Some(Value::String(s)) => return !s.is_empty() && s != "none" && s != "false",
        _ => {}
    }
    let effort = body
        .get("reasoning_effort")
        .or_else(|| body.get("reasoning").and_then(|r| r.get("effort")));
    matches!(effort, Some(Value::String(s)) if s != "none")
}

/// ≈ characters / 4, at least 1.
fn prompt_tokens(msgs: &[Value]) -> u64 {
    let chars: usize = msgs
        .iter()
        .map(|m| {
            let mut n = content_text(m).chars().count();
            if let Some(tc) = m.get("tool_calls") {
                n += tc.to_string().len();
            }
            n
        })
        .sum();
    (chars as u64).div_ceil(4).max(1)
}

async fn respond_json(
    mut conn: Conn,
    status: u16,
    body: String,
    keep: bool,
    extra: &[(&str, String)],
) -> Option<Conn> {
    let h = head(status, "application/json", Some(body.len()), keep, extra);
    conn.write(format!("{h}{body}").as_bytes()).await.ok()?;
    keep.then_some(conn)
}

async fn chat(conn: Conn, req: Request, inner: &Inner) -> Option<Conn> {
    let n = inner.counter.fetch_add(1, Ordering::SeqCst);
    let keep = req.keep_alive;
    let body: Value = match serde_json::from_slice(&req.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let b = wire::error_body(Dialect::Openai, 400, "request body is not a JSON object");
            return respond_json(conn, 400, b, keep, &[]).await;
        }
    };
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    let Some(&si) = inner.by_model.get(model) else {
        let b = wire::error_body(
            Dialect::Openai,
            404,
            &format!("The model `{model}` does not exist."),
        );
        return respond_json(conn, 404, b, keep, &[]).await;
    };
    let script = &inner.scripts[si];
    let dialect = req
        .header(HEADER_DIALECT)
        .and_then(|d| d.parse().ok())
        .unwrap_or(script.dialect);
    let header_fault = match req.header(HEADER_FAULT).map(str::parse::<FaultSpec>) {
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => {
            let b = wire::error_body(dialect, 400, &format!("{HEADER_FAULT}: {e}"));
            return respond_json(conn, 400, b, keep, &[]).await;
        }
        None => None,
    };
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let thinking = thinking_requested(&body);
    let empty = Vec::new();
    let msgs = body
        .get("messages")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let users: Vec<&Value> = msgs
        .iter()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .collect();
    let last_user = users.last().map(|m| content_text(m)).unwrap_or_default();
    let first_user = users.first().map(|m| content_text(m)).unwrap_or_default();
    let system = msgs
        .iter()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("system"))
        .map(content_text)
        .unwrap_or_default();

    // The case: by the optional header (toolgate itself never sends case ids in headers),
    // else by the user's text, with the offered tools settling a question two suites share.
    let found = req
        .header(HEADER_CASE)
        .and_then(|k| inner.by_id.get(k.trim()).copied())
        .or_else(|| inner.case_by_text(last_user.trim(), &body))
        .or_else(|| inner.case_by_text(first_user.trim(), &body));
    let (suite, case): (Option<&Suite>, Option<&Case>) = match found {
        Some((s, c)) => (Some(&inner.suites[s]), Some(&inner.suites[s].cases[c])),
        None => (None, None),
    };
    let turn = match case {
        Some(c) if c.kind == CaseKind::Conversation => users.len().saturating_sub(1),
        _ => 0,
    };
    let facts = RequestFacts {
        suite: suite.map(|s| s.name.as_str()),
        case: case.map(|c| c.id.as_str()),
        tags: case.map(|c| c.tags.as_slice()).unwrap_or(&[]),
        kind: case.map(|c| c.kind),
        user: &last_user,
        system: &system,
        thinking,
        stream,
        turn: turn as u32,
        dialect,
    };
    let rule = script.rule_for(&facts);

    let after = script
        .fail_after
        .filter(|limit| n >= *limit)
        .map(|_| script.after_fault);
    let rule_fault = match rule.map(|r| &r.action) {
        Some(Action::Fault(f)) => Some(*f),
        _ => None,
    };
    let fault = header_fault.or(after).or(rule_fault);

    // The answer: explicit reply, or the oracle (transformed).
    let cx = Context { suite, case, turn };
    let oracle_answer = || match (suite, case) {
        (Some(s), Some(c)) => Answer::new(oracle::passing_message(s, c, turn)),
        _ => Answer::new(AssistantMessage {
            content: Some("This is toolgate-sim: no golden case matches this request.".into()),
            ..Default::default()
        }),
    };
    let mut answer = match rule.map(|r| &r.action) {
        Some(Action::Reply(r)) => {
            let message = AssistantMessage {
                content: r.content.clone(),
                reasoning: r.reasoning.clone(),
                tool_calls: r
                    .tool_calls
                    .iter()
                    .map(|(name, args)| RawToolCall {
                        id: None,
                        name: name.clone(),
                        arguments: Value::String(args.clone()),
                    })
                    .collect(),
                ..Default::default()
            };
            let mut a = Answer::new(message);
            if let Some(f) = &r.finish_reason {
                a.finish_reason = f.clone();
            }
            a
        }
        Some(Action::Transform(t)) => transform::apply(t, oracle_answer(), &cx),
        _ => oracle_answer(),
    };
    if thinking && answer.message.reasoning.is_none() {
        answer.message.reasoning = Some(thinking_text(&last_user, &answer.message));
    }
    let include_usage = match body.get("stream_options") {
        // vLLM reports usage whenever stream_options is present (include_usage defaults on).
        Some(so) if dialect == Dialect::Vllm => {
            so.get("include_usage").and_then(Value::as_bool) != Some(false)
        }
        Some(so) => so.get("include_usage").and_then(Value::as_bool) == Some(true),
        None => false,
    };
    let rc = RenderCtx {
        dialect,
        model,
        req_no: n,
        created: now_secs(),
        chunk_chars: script.chunk_chars,
        include_usage,
        prompt_tokens: prompt_tokens(msgs),
        ttft_ms: script.ttft_ms,
        chunk_delay_ms: script.chunk_delay_ms,
    };
    match fault {
        None => respond(conn, &answer, &rc, stream, keep, script.precise_timing).await,
        Some(f) => respond_fault(conn, f, &answer, &rc, stream, keep).await,
    }
}

/// A normal response.
async fn respond(
    mut conn: Conn,
    a: &Answer,
    rc: &RenderCtx<'_>,
    stream: bool,
    keep: bool,
    precise: bool,
) -> Option<Conn> {
    if stream {
        let segs = wire::stream_segments(a, rc, true);
        let h = head(200, "text/event-stream", None, keep, &[]);
        conn.write(h.as_bytes()).await.ok()?;
        write_segments_at(&mut conn, &segs, Instant::now(), precise)
            .await
            .ok()?;
        conn.write(LAST_CHUNK).await.ok()?;
        keep.then_some(conn)
    } else {
        let k = wire::completion_tokens(a, rc);
        let total = rc.ttft_ms + k.saturating_sub(1) * rc.chunk_delay_ms;
        if total > 0 {
            sleep(Duration::from_millis(total)).await;
        }
        let body = wire::non_stream_body(a, rc);
        respond_json(conn, 200, body, keep, &[]).await
    }
}

/// Write segments on schedule (delays accumulate from `t0`, so write time does not drift
/// the rate). Zero-delay neighbours go out in one write.
async fn write_segments(conn: &mut Conn, segs: &[Seg], t0: Instant) -> io::Result<()> {
    write_segments_at(conn, segs, t0, false).await
}

/// [`write_segments`], and with `precise` each delay ends within microseconds of its due
/// time: the timer wakes ~2 ms early and the rest is a cooperative spin (other tasks run).
async fn write_segments_at(
    conn: &mut Conn,
    segs: &[Seg],
    t0: Instant,
    precise: bool,
) -> io::Result<()> {
    let mut due = t0;
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    for s in segs {
        if s.delay_ms > 0 {
            if !out.is_empty() {
                conn.write(&out).await?;
                out.clear();
            }
            due += Duration::from_millis(s.delay_ms);
            if precise {
                sleep_until(due - Duration::from_millis(2).min(due - t0)).await;
                // Bounded by the due time, at most ~2 ms of yielding.
                while Instant::now() < due {
                    tokio::task::yield_now().await;
                }
            } else {
                sleep_until(due).await;
            }
        }
        frame(s.data.as_bytes(), &mut out);
    }
    if !out.is_empty() {
        conn.write(&out).await?;
    }
    Ok(())
}

/// Segments up to and including the `keep`-th token chunk (role chunks kept).
fn cut_after_tokens(segs: &[Seg], keep: usize) -> Vec<Seg> {
    let mut out = Vec::new();
    let mut seen = 0;
    for s in segs {
        if s.kind == SegKind::Token {
            if seen == keep {
                break;
            }
            seen += 1;
        } else if s.kind != SegKind::Role {
            break;
        }
        out.push(s.clone());
    }
    out
}

fn token_count(segs: &[Seg]) -> usize {
    segs.iter().filter(|s| s.kind == SegKind::Token).count()
}

async fn respond_fault(
    mut conn: Conn,
    f: FaultSpec,
    a: &Answer,
    rc: &RenderCtx<'_>,
    stream: bool,
    keep: bool,
) -> Option<Conn> {
    let d = rc.dialect;
    let retry = |f: &FaultSpec| -> Vec<(&'static str, String)> {
        f.retry_after
            .map(|s| vec![("retry-after", s.to_string())])
            .unwrap_or_default()
    };
    match f.fault {
        Fault::Http500 => {
            let b = wire::error_body(
                d,
                500,
                "EngineCore encountered an issue (toolgate-sim fault http_500)",
            );
            respond_json(conn, 500, b, keep, &[]).await
        }
        Fault::Http503 => {
            let b = wire::error_body(
                d,
                503,
                "server busy, please try again (toolgate-sim fault http_503)",
            );
            respond_json(conn, 503, b, keep, &retry(&f)).await
        }
        Fault::Http429 => {
            let b = wire::error_body(d, 429, "rate limit exceeded (toolgate-sim fault http_429)");
            respond_json(conn, 429, b, keep, &retry(&f)).await
        }
        Fault::Http400 => {
            let b = wire::error_body(
                d,
                400,
                "This model's maximum context length is 4096 tokens (toolgate-sim fault http_400)",
            );
            respond_json(conn, 400, b, keep, &[]).await
        }
        Fault::HtmlError | Fault::Html200 => {
            let status = if f.fault == Fault::HtmlError {
                502
            } else {
                200
            };
            let body = format!(
                "<html>\r\n<head><title>{status} {r}</title></head>\r\n<body>\r\n<center><h1>{status} {r}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
                r = http::reason(status)
            );
            let h = head(status, "text/html", Some(body.len()), keep, &[]);
            conn.write(format!("{h}{body}").as_bytes()).await.ok()?;
            keep.then_some(conn)
        }
        Fault::Reset => {
            conn.reset();
            None
        }
        Fault::SlowFirstByte => {
            sleep(Duration::from_millis(f.ms.unwrap_or(DEFAULT_SLOW_MS))).await;
            respond(conn, a, rc, stream, keep, false).await
        }
        Fault::CloseMidStream | Fault::NoDone | Fault::NoFinish if !stream => {
            // A body cut short: the promised length never arrives.
            let body = wire::non_stream_body(a, rc);
            let h = head(200, "application/json", Some(body.len()), false, &[]);
            let half = &body.as_bytes()[..body.len() / 2];
            conn.write(h.as_bytes()).await.ok()?;
            conn.write(half).await.ok()?;
            None
        }
        Fault::LlamacppErrorLine | Fault::VllmErrorEvent if !stream => {
            let b = wire::error_body(d, 500, "generation failed (toolgate-sim fault)");
            respond_json(conn, 500, b, keep, &[]).await
        }
        Fault::CloseMidStream => {
            let segs = wire::stream_segments(a, rc, true);
            let keep_n = (token_count(&segs) / 2).max(1);
            let part = cut_after_tokens(&segs, keep_n);
            conn.write(head(200, "text/event-stream", None, true, &[]).as_bytes())
                .await
                .ok()?;
            let _ = write_segments(&mut conn, &part, Instant::now()).await;
            // FIN without the chunked terminator: the client sees the body end early.
            None
        }
        Fault::NoDone | Fault::NoFinish => {
            let segs = wire::stream_segments(a, rc, f.fault == Fault::NoDone);
            let segs: Vec<Seg> = segs
                .into_iter()
                .filter(|s| s.kind != SegKind::Done)
                .collect();
            conn.write(head(200, "text/event-stream", None, false, &[]).as_bytes())
                .await
                .ok()?;
            write_segments(&mut conn, &segs, Instant::now())
                .await
                .ok()?;
            let _ = conn.write(LAST_CHUNK).await;
            None
        }
        Fault::LlamacppErrorLine | Fault::VllmErrorEvent => {
            let segs = wire::stream_segments(a, rc, true);
            let keep_n = (token_count(&segs) / 2).max(1);
            let mut part = cut_after_tokens(&segs, keep_n);
            if f.fault == Fault::LlamacppErrorLine {
                let e = json!({"code": 500, "message": "llama_decode failed (toolgate-sim fault)", "type": "server_error"});
                part.push(Seg {
                    delay_ms: 0,
                    data: format!("error: {e}\n\n"),
                    kind: SegKind::Finish,
                });
            } else {
                let e = json!({"error": {"message": "EngineCore encountered an issue (toolgate-sim fault)",
                                         "type": "InternalServerError", "param": null, "code": 500}});
                part.push(Seg {
                    delay_ms: 0,
                    data: wire::sse(&e),
                    kind: SegKind::Finish,
                });
                part.push(Seg {
                    delay_ms: 0,
                    data: wire::DONE.into(),
                    kind: SegKind::Done,
                });
            }
            conn.write(head(200, "text/event-stream", None, keep, &[]).as_bytes())
                .await
                .ok()?;
            write_segments(&mut conn, &part, Instant::now())
                .await
                .ok()?;
            conn.write(LAST_CHUNK).await.ok()?;
            keep.then_some(conn)
        }
        Fault::Stall => {
            if stream {
                let segs = wire::stream_segments(a, rc, true);
                let part = cut_after_tokens(&segs, 1);
                conn.write(head(200, "text/event-stream", None, false, &[]).as_bytes())
                    .await
                    .ok()?;
                write_segments(&mut conn, &part, Instant::now())
                    .await
                    .ok()?;
            } else {
                let body = wire::non_stream_body(a, rc);
                let h = head(200, "application/json", Some(body.len()), false, &[]);
                conn.write(h.as_bytes()).await.ok()?;
            }
            conn.wait_closed(STALL_MAX).await;
            None
        }
        Fault::MalformedJson => {
            if stream {
                let mut segs = wire::stream_segments(a, rc, true);
                let pos = segs
                    .iter()
                    .position(|s| s.kind == SegKind::Token)
                    .map(|p| p + 1)
                    .unwrap_or(segs.len().saturating_sub(1));
                segs.insert(
                    pos,
                    Seg {
                        delay_ms: 0,
                        data:
                            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"broken\n\n"
                                .into(),
                        kind: SegKind::Token,
                    },
                );
                conn.write(head(200, "text/event-stream", None, keep, &[]).as_bytes())
                    .await
                    .ok()?;
                write_segments(&mut conn, &segs, Instant::now())
                    .await
                    .ok()?;
                conn.write(LAST_CHUNK).await.ok()?;
                keep.then_some(conn)
            } else {
                let body = wire::non_stream_body(a, rc);
                let cut = body[..body.len() / 2].to_string();
                respond_json(conn, 200, cut, keep, &[]).await
            }
        }
        Fault::HugeBody => {
            huge_body(&mut conn, f.bytes.unwrap_or(DEFAULT_HUGE_BYTES), rc, stream).await;
            None
        }
    }
}

/// Stream `bytes` bytes of content, generated piece by piece (never held in memory).
async fn huge_body(conn: &mut Conn, bytes: u64, rc: &RenderCtx<'_>, stream: bool) {
    const PIECE: usize = 16 * 1024;
    let filler = "a".repeat(PIECE);
    if stream {
        let id = rc.completion_id();
        let ev = |content: &str| {
            wire::sse(
                &json!({"id": id, "object": "chat.completion.chunk", "created": rc.created,
                "model": rc.model, "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]}),
            )
        };
        let mut full = Vec::new();
        frame(ev(&filler).as_bytes(), &mut full);
        if conn
            .write(head(200, "text/event-stream", None, false, &[]).as_bytes())
            .await
            .is_err()
        {
            return;
        }
        let mut sent = 0u64;
        while sent < bytes {
            let n = (bytes - sent).min(PIECE as u64) as usize;
            let r = if n == PIECE {
                conn.write(&full).await
            } else {
                let mut out = Vec::new();
                frame(ev(&filler[..n]).as_bytes(), &mut out);
                conn.write(&out).await
            };
            if r.is_err() {
                return;
            }
            sent += n as u64;
        }
        let fin = json!({"id": id, "object": "chat.completion.chunk", "created": rc.created,
            "model": rc.model, "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]});
        let mut out = Vec::new();
        frame(wire::sse(&fin).as_bytes(), &mut out);
        frame(wire::DONE.as_bytes(), &mut out);
        out.extend_from_slice(LAST_CHUNK);
        let _ = conn.write(&out).await;
    } else {
        let prefix = format!(
            "{{\"id\":\"{}\",\"object\":\"chat.completion\",\"created\":{},\"model\":{},\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\"",
            rc.completion_id(),
            rc.created,
            Value::String(rc.model.to_string())
        );
        let suffix = "\"},\"finish_reason\":\"length\"}]}";
        let total = prefix.len() as u64 + bytes + suffix.len() as u64;
        let h = format!(
            "HTTP/1.1 200 OK\r\nserver: toolgate-sim\r\ncontent-type: application/json\r\ncontent-length: {total}\r\nconnection: close\r\n\r\n{prefix}"
        );
        if conn.write(h.as_bytes()).await.is_err() {
            return;
        }
        let mut sent = 0u64;
        while sent < bytes {
            let n = (bytes - sent).min(PIECE as u64) as usize;
            if conn.write(&filler.as_bytes()[..n]).await.is_err() {
                return;
            }
            sent += n as u64;
        }
        let _ = conn.write(suffix.as_bytes()).await;
    }
}
