//! The hosted path: `https://` and proxied targets, and every Azure OpenAI target, go
//! through async-openai's client (OpenAI's auth with organisation and project headers,
//! Azure's deployment URL, `api-version` query and `api-key` header).
//!
//! async-openai is driven with `serde_json::Value` bodies through its `byot` methods, so
//! unknown fields (`chat_template_kwargs`, `reasoning`, `reasoning_content`, …) pass both
//! ways untouched. Its own backoff is replaced: the client gets toolgate's tower service
//! (feature `middleware`), which sends exactly one request per call. That service is also
//! where this path keeps the lean path's rules: it records the response head, reads error
//! bodies itself (status, `Retry-After`, classification), and wraps the body in the size
//! cap and the idle timeout. What it learns goes into a per-attempt [`State`] that the
//! caller reads after async-openai returns, so the records are the lean path's, field for
//! field.
//!
//! Lost on this path (documented in the README): llama.cpp's non-standard `error:` SSE
//! lines (async-openai's SSE reader drops unknown fields; the stream then just ends, which
//! is still a `protocol` error unless a `finish_reason` had arrived) and the name of an
//! `event: error` (its JSON `error` payload is still caught). Events are stamped when they
//! come out of async-openai's reader task, one task hop after the socket read.

use crate::client::{infra, ms, oversize, Api, Attempt, Endpoint};
use crate::parse::{classify_http_error, parse_completion, Feed, StreamAccumulator, StreamResult};
use crate::sse::protocol;
use crate::transport::{error_chain, is_parse_error, SendError};
use async_openai::config::{AzureConfig, Config, OpenAIConfig};
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use bytes::Bytes;
use futures::StreamExt;
use http::header::{HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use toolgate_core::{ErrorKind, InfraError, TurnRecord};

/// An error body is read only for its message.
const ERROR_BODY_BYTES: usize = 64 * 1024;

/// What the service saw of one attempt.
#[derive(Default)]
struct State {
    /// Status and time of the response head (ms from t0).
    head: Mutex<Option<(u16, f64)>>,
    /// Set when the attempt ended in the service: async-openai then only sees a
    /// placeholder error.
    failure: Mutex<Option<Failure>>,
    /// `data: [DONE]` went by in the body (async-openai ends its stream there silently).
    saw_done: std::sync::atomic::AtomicBool,
}

enum Failure {
    Send(SendError),
    /// A non-2xx answer, read and classified here.
    Http {
        status: u16,
        error: InfraError,
        retry_after: Option<Duration>,
    },
    /// Streaming was asked for but the server sent a JSON document (or an HTML page):
    /// parsed as a non-streaming answer, as on the lean path.
    NotSse(Vec<u8>),
    /// The body broke off, stalled or grew past the cap.
    Body(InfraError),
}

impl State {
    fn fail(&self, f: Failure) {
        let mut slot = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(f);
    }
    fn take_failure(&self) -> Option<Failure> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
    fn head(&self) -> Option<(u16, f64)> {
        *self.head.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Everything the service needs for one attempt.
struct Send1 {
    http: reqwest::Client,
    state: Arc<State>,
    t0: Instant,
    stream: bool,
    idle: Duration,
    cap: usize,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The header async-openai puts the key in; removed when there is no key (it would
    /// otherwise send `Bearer ` with nothing), marked sensitive when there is one.
    auth_header: HeaderName,
    has_key: bool,
}

impl Send1 {
    async fn call(
        self: Arc<Self>,
        f: HttpRequestFactory,
    ) -> Result<reqwest::Response, OpenAIError> {
        let mut req = f.build().await?;
        let h = req.headers_mut();
        h.insert(
            ACCEPT,
            HeaderValue::from_static(if self.stream {
                "text/event-stream"
            } else {
                "application/json"
            }),
        );
        for (k, v) in &self.headers {
            h.append(k.clone(), v.clone());
        }
        if self.has_key {
            if let Some(v) = h.get_mut(&self.auth_header) {
                v.set_sensitive(true);
            }
        } else {
            h.remove(&self.auth_header);
        }
        let resp = match self.http.execute(req).await {
            Ok(r) => r,
            Err(e) => {
                let msg = error_chain(&e);
                self.state.fail(Failure::Send(if e.is_timeout() {
                    SendError::Timeout(msg)
                } else if e.is_builder() {
                    SendError::Invalid(msg)
                } else if is_parse_error(&e) {
                    SendError::Protocol(msg)
                } else {
                    SendError::Connect(msg)
                }));
                return Err(placeholder());
            }
        };
        let status = resp.status().as_u16();
        *self.state.head.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((status, ms(self.t0.elapsed())));
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase);

        if !(200..300).contains(&status) {
            let retry_after = resp
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| crate::client::parse_retry_after(v, SystemTime::now()));
            let bytes = self
                .read_all(resp, self.cap.min(ERROR_BODY_BYTES))
                .await
                .unwrap_or_else(|(_, b)| b);
            let error = classify_http_error(status, content_type.as_deref(), &bytes);
            self.state.fail(Failure::Http {
                status,
                error,
                retry_after,
            });
            return Err(placeholder());
        }

        let ct = content_type.unwrap_or_default();
        let sse_like =
            (ct.contains("text/event-stream") || !ct.contains("json")) && !ct.contains("html");
        if self.stream && !sse_like {
            let f = match self.read_all(resp, self.cap).await {
                Ok(b) => Failure::NotSse(b),
                Err((e, _)) => Failure::Body(e),
            };
            self.state.fail(f);
            return Err(placeholder());
        }

        // The body async-openai reads: capped, idle-timed, and watched for `[DONE]`.
        let mut out = http::Response::builder()
            .status(status)
            .version(resp.version());
        if let Some(h) = out.headers_mut() {
            *h = resp.headers().clone();
        }
        let me = self.clone();
        let body = futures::stream::unfold(Some((resp, 0usize, Vec::<u8>::new())), move |st| {
            let me = me.clone();
            async move {
                let (mut resp, mut total, mut tail) = st?;
                match me.next_chunk(&mut resp).await {
                    Err(e) => {
                        me.state.fail(Failure::Body(e));
                        Some((Err(std::io::Error::other("response body failed")), None))
                    }
                    Ok(None) => None,
                    Ok(Some(b)) => {
                        total = total.saturating_add(b.len());
                        if total > me.cap {
                            me.state.fail(Failure::Body(oversize(me.cap)));
                            return Some((Err(std::io::Error::other("too large")), None));
                        }
                        if me.stream
                            && !me.state.saw_done.load(std::sync::atomic::Ordering::Relaxed)
                        {
                            tail.extend_from_slice(&b);
                            if contains(&tail, b"data: [DONE]") || contains(&tail, b"data:[DONE]") {
                                me.state
                                    .saw_done
                                    .store(true, std::sync::atomic::Ordering::Relaxed);
                            }
                            // Only the end can start a marker split across reads.
                            let keep = tail.len().saturating_sub(12);
                            tail.drain(..keep);
                        }
                        Some((Ok::<Bytes, std::io::Error>(b), Some((resp, total, tail))))
                    }
                }
            }
        });
        let out = out
            .body(reqwest::Body::wrap_stream(body))
            .map_err(|e| OpenAIError::InvalidArgument(e.to_string()))?;
        Ok(reqwest::Response::from(out))
    }

    /// One body read under the idle timeout.
    async fn next_chunk(&self, resp: &mut reqwest::Response) -> Result<Option<Bytes>, InfraError> {
        match tokio::time::timeout(self.idle, resp.chunk()).await {
            Err(_) => Err(infra(
                ErrorKind::Timeout,
                format!(
                    "{} stalled: no data for {} (idle timeout)",
                    if self.stream {
                        "stream"
                    } else {
                        "response body"
                    },
                    crate::client::fmt_dur(self.idle)
                ),
            )),
            Ok(Err(e)) => Err(infra(
                if e.is_timeout() {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Protocol
                },
                format!("response body broke off: {}", error_chain(&e)),
            )),
            Ok(Ok(c)) => Ok(c),
        }
    }

    /// A whole body under `cap`; on failure also what arrived.
    async fn read_all(
        &self,
        mut resp: reqwest::Response,
        cap: usize,
    ) -> Result<Vec<u8>, (InfraError, Vec<u8>)> {
        let mut buf = Vec::new();
        loop {
            match self.next_chunk(&mut resp).await {
                Err(e) => return Err((e, buf)),
                Ok(None) => return Ok(buf),
                Ok(Some(c)) => {
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
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// What async-openai is handed when the service has recorded the real failure.
fn placeholder() -> OpenAIError {
    OpenAIError::InvalidArgument("see toolgate's attempt state".into())
}

fn invalid(msg: &str) -> Attempt {
    Attempt::final_err(infra(
        ErrorKind::Protocol,
        format!("invalid request: {msg}"),
    ))
}

/// The async-openai configuration for `ep`. Every field is set explicitly: the library's
/// defaults read `OPENAI_API_KEY`, `OPENAI_BASE_URL`, `OPENAI_ORG_ID` and
/// `OPENAI_PROJECT_ID`, which must never leak into a target that did not ask for them.
/// Header values are checked here because the library would panic on an invalid one.
fn config(ep: &Endpoint) -> Result<(Box<dyn Config>, HeaderName), &'static str> {
    let key = ep.api_key.clone().unwrap_or_default();
    let base = ep.base_url.trim_end_matches('/').to_string();
    match &ep.api {
        Api::Azure {
            deployment,
            api_version,
        } => {
            HeaderValue::from_str(&key).map_err(|_| "API key is not a valid header value")?;
            if deployment.is_empty()
                || !deployment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err("Azure deployment name must be letters, digits, '-', '_' or '.'");
            }
            Ok((
                Box::new(
                    AzureConfig::new()
                        .with_api_base(base)
                        .with_api_key(key)
                        .with_deployment_id(deployment.clone())
                        .with_api_version(api_version.clone()),
                ),
                HeaderName::from_static("api-key"),
            ))
        }
        Api::OpenAi {
            organization,
            project,
        } => {
            HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| "API key is not a valid header value")?;
            let org = organization.clone().unwrap_or_default();
            let proj = project.clone().unwrap_or_default();
            HeaderValue::from_str(&org).map_err(|_| "organization is not a valid header value")?;
            HeaderValue::from_str(&proj).map_err(|_| "project is not a valid header value")?;
            Ok((
                Box::new(
                    OpenAIConfig::new()
                        .with_api_base(base)
                        .with_api_key(key)
                        .with_org_id(org)
                        .with_project_id(proj),
                ),
                AUTHORIZATION,
            ))
        }
    }
}

/// One attempt through async-openai. `body` is the wire body as JSON (it serialises back
/// to the same bytes: `serde_json` prints what it parsed, key order kept).
pub(crate) async fn attempt(
    http: &reqwest::Client,
    ep: &Endpoint,
    stream: bool,
    headers: &[(String, String)],
    body: &Value,
    t0: Instant,
) -> Attempt {
    let (cfg, auth_header) = match config(ep) {
        Ok(c) => c,
        Err(msg) => return invalid(msg),
    };
    let mut extra = Vec::with_capacity(headers.len());
    for (k, v) in headers {
        match (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            (Ok(k), Ok(v)) => extra.push((k, v)),
            (Err(e), _) => return invalid(&e.to_string()),
            (_, Err(e)) => return invalid(&e.to_string()),
        }
    }
    let state = Arc::new(State::default());
    let send = Arc::new(Send1 {
        http: http.clone(),
        state: state.clone(),
        t0,
        stream,
        idle: ep.idle_timeout,
        cap: ep.max_body_bytes,
        headers: extra,
        auth_header,
        has_key: ep.api_key.is_some(),
    });
    // One request per call: toolgate's retry loop (client.rs) is the only one.
    let service = tower::service_fn(move |f: HttpRequestFactory| send.clone().call(f));
    let client = async_openai::Client::build(http.clone(), cfg).with_http_service(service);

    let result = if stream {
        match client
            .chat()
            .create_stream_byot::<&Value, Value>(body)
            .await
        {
            Err(e) => Err(e),
            Ok(events) => Ok(read_events(events, &state, t0).await),
        }
    } else {
        client
            .chat()
            .create_byot::<&Value, Value>(body)
            .await
            .map(|v| completion(&serde_json::to_vec(&v).unwrap_or_default(), t0))
    };
    let result = match result {
        Ok(r) => r,
        Err(e) => match state.take_failure() {
            Some(Failure::Send(s)) => return crate::client::send_error(s),
            Some(Failure::Http {
                status,
                error,
                retry_after,
            }) => {
                return if status == 429 || status == 503 {
                    Attempt::Retryable { error, retry_after }
                } else {
                    Attempt::final_err(error)
                };
            }
            Some(Failure::NotSse(bytes)) => completion(&bytes, t0),
            Some(Failure::Body(e)) => Err(e),
            None => match e {
                // A body that is not the JSON async-openai expected (an HTML page, a
                // lone surrogate…): the lean path's parser decides, with its messages.
                OpenAIError::JSONDeserialize(_, content) if !stream => {
                    completion(content.as_bytes(), t0)
                }
                e => Err(protocol(format!("response could not be read: {e}"))),
            },
        },
    };
    let head = state.head();
    Attempt::Final(Box::new(
        result
            .map(|mut turn| {
                if let Some((status, headers_ms)) = head {
                    turn.status = Some(status);
                    turn.timing.headers_ms = Some(headers_ms);
                }
                turn
            })
            .map_err(|mut e| {
                if let Some((status, _)) = head {
                    e.status.get_or_insert(status);
                }
                e
            }),
    ))
}

fn completion(bytes: &[u8], t0: Instant) -> Result<TurnRecord, InfraError> {
    let e2e_ms = ms(t0.elapsed());
    parse_completion(bytes).map(|c| TurnRecord {
        timing: crate::parse::completion_timing(&c, e2e_ms),
        message: Some(c.message),
        finish_reason: c.finish_reason,
        usage: c.usage,
        server_timings: c.server_timings,
        ..TurnRecord::default()
    })
}

/// Feeds async-openai's events to the lean path's accumulator, each stamped as it arrives.
async fn read_events(
    mut events: impl futures::Stream<Item = Result<Value, OpenAIError>> + Unpin,
    state: &State,
    t0: Instant,
) -> Result<TurnRecord, InfraError> {
    let mut acc = StreamAccumulator::new();
    while let Some(ev) = events.next().await {
        let t = ms(t0.elapsed());
        let fed = match ev {
            Ok(v) => acc.feed_data(&v.to_string(), t)?,
            // Not JSON (or a lone surrogate): the accumulator repairs or refuses it.
            Err(OpenAIError::JSONDeserialize(_, content)) => acc.feed_data(&content, t)?,
            Err(e) => {
                return Err(match state.take_failure() {
                    Some(Failure::Body(b)) => b,
                    // eventsource-stream refuses invalid UTF-8 as the lean decoder does.
                    _ if e.to_string().contains("UTF8 error") => {
                        protocol(format!("invalid UTF-8 in stream: {e}"))
                    }
                    _ => protocol(format!("response body broke off: {e}")),
                });
            }
        };
        if fed == Feed::Done {
            break;
        }
    }
    if let Some(Failure::Body(b)) = state.take_failure() {
        return Err(b);
    }
    if state.saw_done.load(std::sync::atomic::Ordering::Relaxed) {
        acc.feed_data("[DONE]", ms(t0.elapsed()))?;
    }
    let r: StreamResult = acc.finish(ms(t0.elapsed()))?;
    Ok(TurnRecord {
        message: Some(r.message),
        finish_reason: r.finish_reason,
        usage: r.usage,
        server_timings: r.server_timings,
        timing: r.timing,
        ..TurnRecord::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_bytes_survive_the_value_round_trip() {
        let wire = br#"{"model":"m","messages":[{"role":"user","content":"h\u00e9 \"x\""}],"temperature":0.7,"top_p":1e-7,"n":1,"chat_template_kwargs":{"enable_thinking":false},"stream":true}"#;
        let v: Value = serde_json::from_slice(wire).unwrap();
        let again = serde_json::to_vec(&v).unwrap();
        // serde_json's own output is a fixed point (the client always sends that).
        assert_eq!(
            serde_json::to_vec(&serde_json::from_slice::<Value>(&again).unwrap()).unwrap(),
            again
        );
    }

    #[test]
    fn done_marker_split_across_reads() {
        assert!(contains(b"xx\ndata: [DONE]\n\n", b"data: [DONE]"));
        assert!(!contains(b"data: [DON", b"data: [DONE]"));
    }
}
