//! hyper_util's pooled HTTP/1.1 client (`hyper_util::client::legacy::Client`, the pool under
//! reqwest) for plain `http://`, selected with `TOOLGATE_HTTP=hyper-util`. It is the bench
//! comparison for the hand-written pool in [`crate::transport`] (BENCHMARKS.md, "hyper_util's
//! pooled client vs the custom pool"), not a default.
//!
//! It sits where the custom pool does: the same request head (`build_h1_request`), the same
//! error classes, and the body read through [`crate::transport::Response`], so timeouts, the
//! size cap, per-chunk SSE timestamps and the drain after `[DONE]` are `client.rs`'s, as on
//! the lean path. What differs is only the pool: hyper_util checks connections out and back
//! in (a task per streamed response waits for the connection to be idle again), and resends a
//! request that a reused connection closed before it was written.

use crate::transport::{build_h1_request, error_chain, is_parse_error, Outgoing, SendError};
use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// One hyper_util client: its pool is shared by every clone.
#[derive(Clone)]
pub(crate) struct Pooled {
    client: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>,
}

impl Pooled {
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        // Small SSE writes + Nagle/delayed ACK add ~40 ms per request.
        connector.set_nodelay(true);
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            // As the custom pool and reqwest. No pool timer: expired connections are skipped
            // at checkout, and no reaper task wakes the runtime.
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Pooled { client }
    }

    /// Sends `o` to `uri` (plain http, checked by the caller).
    pub async fn post(
        &self,
        uri: Uri,
        o: Outgoing<'_>,
    ) -> Result<crate::transport::Response, SendError> {
        let authority = uri.authority().expect("checked by the caller").clone();
        let mut req = build_h1_request(&uri, authority.as_str(), &o)?;
        // hyper_util wants the absolute URI (its pool key) and writes the origin form.
        *req.uri_mut() = uri;
        match self.client.request(req).await {
            Ok(resp) => Ok(crate::transport::Response::from_pooled(resp)),
            Err(e) => Err(send_error(&e)),
        }
    }
}

/// The lean path's classes: a response head hyper cannot parse is `Protocol`, everything
/// else before a head (refused, reset, closed) `Connect`. The message starts below
/// hyper_util's own "client error (Kind)" wrapper, so it reads as the lean path's does.
fn send_error(e: &hyper_util::client::legacy::Error) -> SendError {
    let message = match std::error::Error::source(e) {
        Some(cause) => error_chain(cause),
        None => error_chain(e),
    };
    if is_parse_error(e) {
        SendError::Protocol(message)
    } else {
        SendError::Connect(message)
    }
}
