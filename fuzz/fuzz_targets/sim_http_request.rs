//! Bytes a client sends → the simulator's HTTP/1.1 request parser (`Conn::read_request`),
//! over a real loopback connection: request line, headers, Content-Length and chunked
//! bodies, keep-alive. Every request is either parsed or answered with a status; no panic,
//! no overflow, no unbounded growth (head and body caps hold).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use toolgate_sim::http::{Conn, ReadError, MAX_BODY};

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let bytes = data.to_vec();
        let client = tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let _ = s.write_all(&bytes).await;
            let _ = s.shutdown().await;
            // Keep the socket until the server side is done reading.
            tokio::time::sleep(Duration::from_secs(2)).await;
        });
        let (sock, _) = l.accept().await.expect("accept");
        let mut conn = Conn::new(sock);
        // Bounded: each parsed request consumes at least its head's terminator.
        for _ in 0..=data.len() / 4 + 1 {
            match conn.read_request(Duration::from_millis(200)).await {
                Ok(req) => assert!(req.body.len() <= MAX_BODY),
                Err(ReadError::Status(code, _)) => {
                    assert!((400..500).contains(&code), "status {code}");
                    break;
                }
                Err(ReadError::Closed) => break,
            }
        }
        client.abort();
    });
});
