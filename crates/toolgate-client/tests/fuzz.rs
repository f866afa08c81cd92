//! Property tests: mutated and truncated real server outputs, and random chunk-shaped JSON,
//! never panic the parsers; how a stream is split into reads never changes the result.

mod common;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;
use toolgate_client::{classify_http_error, parse_completion, parse_sse_body};

fn bodies() -> &'static Vec<(bool, Vec<u8>)> {
    static B: OnceLock<Vec<(bool, Vec<u8>)>> = OnceLock::new();
    B.get_or_init(|| {
        common::captures()
            .into_iter()
            .map(|c| (c.is_stream(), c.body))
            .collect()
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    DuplicateTail(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Flip(p, b)),
        (
            any::<usize>(),
            prop_oneof![
                prop::collection::vec(any::<u8>(), 1..8),
                prop::sample::select(vec![
                    b"\n\n".to_vec(),
                    b"data: [DONE]\n\n".to_vec(),
                    b"error: {\"code\":500}\n".to_vec(),
                    b": ping\n".to_vec(),
                    b"\"".to_vec(),
                    b"{".to_vec(),
                    b"\xf0\x9f".to_vec(),
                    b"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"z\"}]}}]}\n\n".to_vec(),
                ]),
            ]
        )
            .prop_map(|(p, b)| Mutation::Insert(p, b)),
        (any::<usize>(), 0usize..64).prop_map(|(p, n)| Mutation::Delete(p, n)),
        any::<usize>().prop_map(Mutation::DuplicateTail),
    ]
}

fn apply(body: &mut Vec<u8>, m: &Mutation) {
    let len = body.len();
    let at = |p: usize| if len == 0 { 0 } else { p % (len + 1) };
    match m {
        Mutation::Truncate(p) => body.truncate(at(*p)),
        Mutation::Flip(p, b) => {
            if len > 0 {
                body[p % len] = *b;
            }
        }
        Mutation::Insert(p, bytes) => {
            let p = at(*p);
            body.splice(p..p, bytes.iter().copied());
        }
        Mutation::Delete(p, n) => {
            let p = at(*p);
            let end = (p + n).min(body.len());
            body.drain(p..end);
        }
        Mutation::DuplicateTail(p) => {
            let tail = body[at(*p)..].to_vec();
            body.extend(tail);
        }
    }
}

/// Random JSON built from the words chunk parsers look at, so type confusion is likely.
fn chunkish() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "choices",
        "delta",
        "message",
        "content",
        "reasoning",
        "reasoning_content",
        "thinking",
        "tool_calls",
        "index",
        "id",
        "function",
        "name",
        "arguments",
        "finish_reason",
        "usage",
        "completion_tokens",
        "prompt_tokens",
        "timings",
        "predicted_per_second",
        "error",
        "object",
        "refusal",
        "detail",
        "type",
        "code",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "", "a", "{", "}", "[DONE]", "error", "stop", "0", "\u{0}"
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..5).prop_map(|kv| Value::Object(
                kv.into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect::<Map<_, _>>()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_captures_never_panic(idx in any::<prop::sample::Index>(), muts in prop::collection::vec(mutation(), 1..5), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let all = bodies();
        let (_, body) = &all[idx.index(all.len())];
        let mut body = body.clone();
        for m in &muts {
            apply(&mut body, m);
        }
        let _ = parse_sse_body(&body);
        let _ = toolgate_client::parse_sse_split(&body, &cuts);
        let _ = parse_completion(&body);
        let e = classify_http_error(500, Some("text/html"), &body);
        prop_assert!(e.body.map_or(0, |b| b.len()) <= 2048 * 3);
    }

    #[test]
    fn random_chunks_never_panic(chunks in prop::collection::vec(chunkish(), 0..8), done in any::<bool>()) {
        let mut s = String::new();
        for c in &chunks {
            s.push_str(&format!("data: {c}\n\n"));
        }
        if done {
            s.push_str("data: [DONE]\n\n");
        }
        let _ = parse_sse_body(s.as_bytes());
        for c in &chunks {
            let _ = parse_completion(c.to_string().as_bytes());
            let wrapped = json!({"choices": [{"index": 0, "message": c, "finish_reason": "stop"}]});
            let _ = parse_completion(wrapped.to_string().as_bytes());
            let _ = classify_http_error(400, None, c.to_string().as_bytes());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// Read boundaries are the network's choice; they must not change what was said.
    #[test]
    fn split_points_do_not_change_the_message(idx in any::<prop::sample::Index>(), cuts in prop::collection::vec(any::<usize>(), 0..40)) {
        let streams: Vec<&Vec<u8>> = bodies().iter().filter(|(s, _)| *s).map(|(_, b)| b).collect();
        let body = streams[idx.index(streams.len())];
        let whole = parse_sse_body(body).unwrap();
        let split = toolgate_client::parse_sse_split(body, &cuts).unwrap();
        prop_assert_eq!(&whole.message, &split.message);
        prop_assert_eq!(&whole.finish_reason, &split.finish_reason);
        prop_assert_eq!(&whole.usage, &split.usage);
    }
}
