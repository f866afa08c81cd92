//! Non-streaming response body bytes → `parse_completion` (and the HTTP error classifier
//! that reads the same bodies on a non-2xx status).
#![no_main]

use libfuzzer_sys::fuzz_target;
use toolgate_client::parse::BODY_EXCERPT_BYTES;
use toolgate_client::{classify_http_error, parse_completion};
use toolgate_core::ErrorKind;

fuzz_target!(|data: &[u8]| {
    match parse_completion(data) {
        Ok(c) => {
            let _ = toolgate_client::completion_timing(&c, 1.0);
        }
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::Protocol, "{e:?}");
            assert!(!e.message.is_empty());
            // The excerpt kept in responses.jsonl stays bounded whatever the body.
            let kept = e.body.as_ref().map_or(0, |b| b.len());
            assert!(kept <= BODY_EXCERPT_BYTES * 4, "excerpt of {kept} bytes");
        }
    }
    let status = 400 + u16::from(data.first().copied().unwrap_or(0) % 200);
    let e = classify_http_error(status, Some("application/json"), data);
    let kept = e.body.as_ref().map_or(0, |b| b.len());
    assert!(kept <= BODY_EXCERPT_BYTES * 4, "excerpt of {kept} bytes");
});
