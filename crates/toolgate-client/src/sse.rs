//! A small server-sent-events reader, written for LLM servers rather than browsers:
//! it surfaces llama.cpp's non-standard `error:` field (a spec-compliant reader drops it and
//! the stream just "stops"), never reconnects, and rejects invalid UTF-8 instead of
//! replacing it. Timestamps are the caller's job: every event decoded from one network read
//! gets that read's arrival time.

use toolgate_core::{ErrorKind, InfraError};

/// One decoded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseEvent {
    /// A `data:` payload (several `data:` lines joined with `\n`), with its `event:` type if
    /// one was given.
    Data { event: Option<String>, data: String },
    /// llama.cpp's `error: {...}` line (an SSE field name the spec does not know).
    ErrorField(String),
}

/// Incremental decoder: feed it bytes as they arrive, get complete events back.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no newline: each byte is scanned once, so a
    /// 16 MiB line arriving in small reads costs linear time, not quadratic.
    scanned: usize,
    data: Option<String>,
    /// `data:` lines in the pending event.
    data_lines: u32,
    event: Option<String>,
    lines: u64,
    /// Bytes looked at by the newline search and the completeness test: the regression
    /// tests bound it by a multiple of the input instead of timing anything.
    work: u64,
}

/// A pending event is tested for being a complete payload (the missing-blank-line rule) only
/// while it has at most this many lines: each test re-parses the pending data, so testing
/// every line would make a stream of `data:` lines without separators quadratic.
const COMPLETE_CHECK_LINES: u32 = 8;

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes every complete line in `bytes` (plus what was buffered before).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, InfraError> {
        let mut out = Vec::new();
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        let mut from = self.scanned;
        loop {
            let Some(pos) = self.buf[from..].iter().position(|&b| b == b'\n') else {
                self.work += (self.buf.len() - from) as u64;
                break;
            };
            self.work += pos as u64 + 1;
            let end = from + pos;
            from = end + 1;
            let mut line = &self.buf[start..end];
            if let [head @ .., b'\r'] = line {
                line = head;
            }
            let line = line.to_vec();
            start = end + 1;
            self.line(&line, &mut out)?;
        }
        self.buf.drain(..start);
        self.scanned = self.buf.len();
        Ok(out)
    }

    /// End of stream: a last line without a newline and a last event without the blank line
    /// are still delivered (servers that close right after `data: [DONE]`).
    pub fn finish(&mut self) -> Result<Vec<SseEvent>, InfraError> {
        let mut out = Vec::new();
        if !self.buf.is_empty() {
            let mut line = std::mem::take(&mut self.buf);
            self.scanned = 0;
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.line(&line, &mut out)?;
        }
        self.dispatch(&mut out);
        Ok(out)
    }

    fn line(&mut self, raw: &[u8], out: &mut Vec<SseEvent>) -> Result<(), InfraError> {
        self.lines += 1;
        let line = std::str::from_utf8(raw).map_err(|e| {
            protocol(format!(
                "invalid UTF-8 in stream line {} at byte {}",
                self.lines,
                e.valid_up_to()
            ))
        })?;
        let line = if self.lines == 1 {
            line.strip_prefix('\u{feff}').unwrap_or(line)
        } else {
            line
        };
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(()); // comment / keep-alive ping
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                // Some proxies omit the blank line between events. If what is pending is
                // already a complete payload, it was an event of its own.
                if let Some(pending) = &self.data {
                    if self.data_lines <= COMPLETE_CHECK_LINES {
                        self.work += pending.len() as u64;
                        if is_complete_payload(pending) {
                            self.dispatch(out);
                        }
                    }
                }
                match &mut self.data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                        self.data_lines += 1;
                    }
                    None => {
                        self.data = Some(value.to_string());
                        self.data_lines = 1;
                    }
                }
            }
            "event" => self.event = Some(value.to_string()),
            "error" => out.push(SseEvent::ErrorField(value.to_string())),
            _ => {} // id, retry and unknown fields carry nothing for us
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        self.data_lines = 0;
        if let Some(data) = self.data.take() {
            out.push(SseEvent::Data { event, data });
        }
    }
}

fn is_complete_payload(s: &str) -> bool {
    let t = s.trim();
    t == "[DONE]" || serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok()
}

/// Streams for the SSE throughput figures (`cargo xtask bench` and RELIABILITY.md): a normal
/// content stream, `n` `data:` lines without blank lines between them, and one long line
/// without a newline. Each as (name, bytes).
pub fn throughput_streams(n: usize) -> Vec<(&'static str, Vec<u8>)> {
    let mut normal = Vec::new();
    for i in 0..n {
        normal.extend_from_slice(
            format!(
                "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"tok{i} \"}}}}]}}\n\n"
            )
            .as_bytes(),
        );
    }
    normal.extend_from_slice(b"data: [DONE]\n\n");
    let mut joined = Vec::new();
    for _ in 0..n {
        joined.extend_from_slice(b"data: {\"choices\":[{\"delta\":{\"content\":\"x\n");
    }
    let mut line = b"data: ".to_vec();
    line.resize(16 << 20, b'x');
    vec![
        ("normal stream", normal),
        ("data lines without blank lines", joined),
        ("one 16 MiB line without a newline", line),
    ]
}

/// Decodes `bytes` in `read`-sized pieces, as the client does; returns the events seen.
pub fn decode_in_reads(bytes: &[u8], read: usize) -> usize {
    let mut d = SseDecoder::new();
    let mut n = 0;
    for c in bytes.chunks(read.max(1)) {
        n += d.push(c).map_or(0, |e| e.len());
    }
    n + d.finish().map_or(0, |e| e.len())
}

pub(crate) fn protocol(message: impl Into<String>) -> InfraError {
    InfraError {
        kind: ErrorKind::Protocol,
        message: message.into(),
        status: None,
        body: None,
        turn: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(s: &str) -> SseEvent {
        SseEvent::Data {
            event: None,
            data: s.into(),
        }
    }

    #[test]
    fn splits_events_across_arbitrary_reads() {
        let stream = b"data: {\"a\":1}\r\n\r\n: ping\n\ndata: [DONE]\n\n";
        for cut in 0..stream.len() {
            let mut d = SseDecoder::new();
            let mut evs = d.push(&stream[..cut]).unwrap();
            evs.extend(d.push(&stream[cut..]).unwrap());
            evs.extend(d.finish().unwrap());
            assert_eq!(evs, vec![data("{\"a\":1}"), data("[DONE]")], "cut at {cut}");
        }
    }

    #[test]
    fn surfaces_llamacpp_error_field_and_event_type() {
        let mut d = SseDecoder::new();
        let evs = d
            .push(
                b"error: {\"code\":500,\"message\":\"boom\"}\n\nevent: error\ndata: {\"x\":1}\n\n",
            )
            .unwrap();
        assert_eq!(
            evs,
            vec![
                SseEvent::ErrorField("{\"code\":500,\"message\":\"boom\"}".into()),
                SseEvent::Data {
                    event: Some("error".into()),
                    data: "{\"x\":1}".into()
                }
            ]
        );
    }

    #[test]
    fn multi_line_data_and_missing_blank_lines() {
        let mut d = SseDecoder::new();
        let evs = d.push(b"data: {\"a\":\ndata: 1}\n\n").unwrap();
        assert_eq!(evs, vec![data("{\"a\":\n1}")]);
        // No blank line between two complete payloads, no newline at the very end.
        let mut d = SseDecoder::new();
        let mut evs = d
            .push(b"data: {\"a\":1}\ndata: {\"b\":2}\ndata: [DONE]")
            .unwrap();
        evs.extend(d.finish().unwrap());
        assert_eq!(
            evs,
            vec![data("{\"a\":1}"), data("{\"b\":2}"), data("[DONE]")]
        );
    }

    /// Issue 17: the work is linear in the bytes received. Counted, not timed: the number
    /// of bytes the newline search and the completeness test look at stays a small multiple
    /// of the input (on the quadratic decoder these counts grow with the square).
    #[test]
    fn decoding_work_is_linear_for_hostile_streams() {
        // 100k `data:` lines with no blank line, none a complete payload on its own.
        let n = 100_000;
        let mut d = SseDecoder::new();
        let line = b"data: {\"a\n";
        let mut evs = Vec::new();
        for _ in 0..n {
            evs.extend(d.push(line).unwrap());
        }
        evs.extend(d.finish().unwrap());
        assert_eq!(evs.len(), 1);
        let input = (n * line.len()) as u64;
        assert!(d.work <= 3 * input, "work {} for {input} bytes", d.work);
        // One 1 MB line in 100-byte reads: each byte is searched for a newline once.
        let mut d = SseDecoder::new();
        d.push(b"data: ").unwrap();
        for _ in 0..10_000 {
            d.push(&[b'x'; 100]).unwrap();
        }
        let evs = d.push(b"\n\n").unwrap();
        assert_eq!(evs, vec![data(&"x".repeat(1_000_000))]);
        assert!(d.work <= 3 * 1_000_010, "work {}", d.work);
    }

    /// The figures in RELIABILITY.md (not an assertion: timings stay out of `cargo test`).
    /// `cargo test --release -p toolgate-client --lib sse_throughput -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn sse_throughput() {
        for n in [50_000, 100_000] {
            for (name, bytes) in throughput_streams(n) {
                let t0 = std::time::Instant::now();
                let evs = decode_in_reads(&bytes, 16 * 1024);
                let s = t0.elapsed().as_secs_f64();
                println!(
                    "n={n} {name}: {} bytes, {evs} events, {:.1} ms, {:.0} MB/s",
                    bytes.len(),
                    s * 1000.0,
                    bytes.len() as f64 / s / 1e6
                );
            }
        }
    }

    #[test]
    fn invalid_utf8_is_a_protocol_error() {
        let mut d = SseDecoder::new();
        let err = d.push(b"data: ok\n\ndata: \xff\xfe\n").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Protocol);
        assert!(err.message.contains("UTF-8"), "{}", err.message);
    }
}
