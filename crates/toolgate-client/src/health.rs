//! The health check of a server toolgate starts: one plain-http GET, true on a 2xx answer.
//! Loopback only in practice, so no proxy and no pool: a fresh connection per check, closed
//! after the status line, through the same hyper the lean path uses.

use bytes::Bytes;
use http::header::{CONNECTION, HOST, USER_AGENT};
use http::{HeaderValue, Request, Uri};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// `GET url`; true when the status is 2xx within `timeout`. Any error (not `http://`, refused,
/// a malformed answer, too slow) is false: the caller polls until its own deadline.
pub async fn health_ok(url: &str, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, status_of(url)).await,
        Ok(Some(s)) if (200..300).contains(&s)
    )
}

async fn status_of(url: &str) -> Option<u16> {
    let uri: Uri = url.parse().ok()?;
    if uri.scheme_str() != Some("http") {
        return None;
    }
    let authority = uri.authority()?.clone();
    let addr = match authority.port_u16() {
        Some(_) => authority.as_str().to_string(),
        None => format!("{}:80", authority.host()),
    };
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    let conn = tokio::spawn(conn);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let req = Request::get(path)
        .header(HOST, HeaderValue::from_str(authority.as_str()).ok()?)
        .header(USER_AGENT, crate::transport::UA)
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .ok()?;
    let status = sender.send_request(req).await.ok()?.status().as_u16();
    conn.abort();
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn serve_once(reply: &'static str) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(reply.as_bytes()).await;
        });
        format!("http://{addr}/health")
    }

    #[tokio::test]
    async fn two_hundred_is_healthy_anything_else_is_not() {
        let ok = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        assert!(health_ok(&ok, Duration::from_secs(2)).await);
        let busy = serve_once("HTTP/1.1 503 Loading\r\ncontent-length: 0\r\n\r\n").await;
        assert!(!health_ok(&busy, Duration::from_secs(2)).await);
        let junk = serve_once("hello\r\n\r\n").await;
        assert!(!health_ok(&junk, Duration::from_secs(2)).await);
        assert!(!health_ok("https://127.0.0.1:1/", Duration::from_secs(2)).await);
        // Nothing listens on the port of a dropped listener.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let refused = format!("http://127.0.0.1:{port}/v1/models");
        assert!(!health_ok(&refused, Duration::from_secs(2)).await);
    }
}
