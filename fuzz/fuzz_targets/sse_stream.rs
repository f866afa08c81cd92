//! Stream bytes → `SseDecoder` + `StreamAccumulator`, fed in reads split at arbitrary points
//! exactly as the HTTP client feeds them. Input layout: byte 0 = number of cuts (mod 16),
//! then two bytes per cut position, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use toolgate_client::parse_sse_body;

fuzz_target!(|data: &[u8]| {
    let n = usize::from(data.first().copied().unwrap_or(0) % 16);
    let head = (1 + 2 * n).min(data.len());
    let cuts: Vec<usize> = data[1.min(data.len())..head]
        .chunks(2)
        .map(|c| usize::from(c[0]) << 8 | usize::from(*c.get(1).unwrap_or(&0)))
        .collect();
    let body = &data[head..];
    let whole = parse_sse_body(body);
    let split = toolgate_client::parse_sse_split(body, &cuts);
    // The whole body sees every byte the split reader sees (and more), so a stream the
    // whole-body parser accepts must parse to the same message however it is split.
    if let Ok(w) = &whole {
        let s = split
            .as_ref()
            .unwrap_or_else(|e| panic!("whole ok, split failed: {e:?}"));
        assert_eq!(w.message, s.message);
        assert_eq!(w.finish_reason, s.finish_reason);
        assert_eq!(w.usage, s.usage);
    }
});
