//! SSE and completion-body properties over the golden recorded runs (issue 8, guarantee 3):
//! every recorded assistant turn of `golden/recorded/{vllm,llamacpp,ollama}` is put back on
//! the wire in its server's dialect (the simulator's encoder), then
//! - the stream, split into reads anywhere and with any chunk size, parses back to the
//!   recorded message, and to the same message as the non-streamed body;
//! - mutated and truncated, neither body nor stream panics the parsers, and a stream the
//!   whole-body parser accepts parses the same however it is split.
//!
//! (`fuzz.rs` does the same for raw llama.cpp captures; `cargo xtask fuzz` for longer.)

use proptest::prelude::*;
use serde_json::Value;
use std::sync::OnceLock;
use toolgate_client::{parse_completion, parse_sse_body};
use toolgate_core::{AssistantMessage, ErrorKind, ResponseRecord};
use toolgate_sim::wire::{non_stream_body, stream_segments, RenderCtx};
use toolgate_sim::{Answer, Dialect};

/// (dialect, recorded message, recorded finish_reason), distinct per dialect.
fn recorded() -> &'static Vec<(Dialect, AssistantMessage, String)> {
    static R: OnceLock<Vec<(Dialect, AssistantMessage, String)>> = OnceLock::new();
    R.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../golden/recorded");
        let mut out = Vec::new();
        for (dir, dialect) in [
            ("vllm", Dialect::Vllm),
            ("llamacpp", Dialect::Llamacpp),
            ("ollama", Dialect::Ollama),
        ] {
            let text = std::fs::read_to_string(root.join(dir).join("responses.jsonl")).unwrap();
            let mut seen = std::collections::BTreeSet::new();
            for line in text.lines() {
                let rec: ResponseRecord = serde_json::from_str(line).unwrap();
                for t in rec.turns {
                    let Some(message) = t.message else { continue };
                    let key = serde_json::to_string(&message).unwrap();
                    if seen.insert(key) {
                        out.push((dialect, message, t.finish_reason.unwrap_or_default()));
                    }
                }
            }
        }
        assert!(
            out.len() > 30,
            "golden/recorded holds few turns: {}",
            out.len()
        );
        out
    })
}

fn ctx(dialect: Dialect, chunk_chars: usize, include_usage: bool) -> RenderCtx<'static> {
    RenderCtx {
        dialect,
        model: "m",
        req_no: 7,
        created: 1_700_000_000,
        chunk_chars,
        include_usage,
        prompt_tokens: 100,
        ttft_ms: 0,
        chunk_delay_ms: 0,
    }
}

fn encode(i: usize, chunk_chars: usize, usage: bool) -> (Vec<u8>, Vec<u8>, AssistantMessage) {
    let (dialect, msg, finish) = &recorded()[i];
    let answer = Answer {
        message: msg.clone(),
        finish_reason: if finish.is_empty() {
            "stop".into()
        } else {
            finish.clone()
        },
    };
    let rc = ctx(*dialect, chunk_chars, usage);
    let stream: String = stream_segments(&answer, &rc, true)
        .into_iter()
        .map(|s| s.data)
        .collect();
    let body = non_stream_body(&answer, &rc);
    (stream.into_bytes(), body.into_bytes(), msg.clone())
}

/// Arguments compared as JSON values: the wire carries them as a string in one dialect
/// and as fragments in another; the grader parses them either way.
fn args_value(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
        Value::Null => Value::Object(Default::default()),
        other => other.clone(),
    }
}

fn same_message(a: &AssistantMessage, b: &AssistantMessage) -> Result<(), TestCaseError> {
    let text = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    prop_assert_eq!(text(&a.content), text(&b.content));
    prop_assert_eq!(text(&a.reasoning), text(&b.reasoning));
    prop_assert_eq!(a.tool_calls.len(), b.tool_calls.len());
    for (x, y) in a.tool_calls.iter().zip(&b.tool_calls) {
        prop_assert_eq!(&x.name, &y.name);
        prop_assert_eq!(args_value(&x.arguments), args_value(&y.arguments));
    }
    Ok(())
}

fn mutate(body: &mut Vec<u8>, ops: &[(u8, usize, Vec<u8>)]) {
    for (op, pos, bytes) in ops {
        let len = body.len();
        let p = if len == 0 { 0 } else { pos % (len + 1) };
        match op % 4 {
            0 => body.truncate(p),
            1 => {
                body.splice(p..p, bytes.iter().copied());
            }
            2 => {
                let end = (p + bytes.len() + 1).min(body.len());
                body.drain(p..end);
            }
            _ => {
                if p < len {
                    body[p] = bytes.first().copied().unwrap_or(b'"');
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn recorded_turns_survive_the_wire_split_anywhere(
        idx in any::<prop::sample::Index>(),
        chunk_chars in 1usize..40,
        usage in any::<bool>(),
        cuts in prop::collection::vec(any::<usize>(), 0..30),
    ) {
        let i = idx.index(recorded().len());
        let (stream, body, recorded_msg) = encode(i, chunk_chars, usage);
        let split = toolgate_client::parse_sse_split(&stream, &cuts).expect("a well-formed stream parses");
        let whole = parse_sse_body(&stream).expect("a well-formed stream parses");
        prop_assert_eq!(&split.message, &whole.message);
        same_message(&split.message, &recorded_msg)?;
        let c = parse_completion(&body).expect("a well-formed body parses");
        same_message(&c.message, &split.message)?;
    }

    #[test]
    fn mutated_recorded_outputs_never_panic(
        idx in any::<prop::sample::Index>(),
        chunk_chars in 1usize..40,
        ops in prop::collection::vec((any::<u8>(), any::<usize>(), prop::collection::vec(any::<u8>(), 0..6)), 1..5),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let i = idx.index(recorded().len());
        let (mut stream, mut body, _) = encode(i, chunk_chars, true);
        mutate(&mut stream, &ops);
        mutate(&mut body, &ops);
        let whole = parse_sse_body(&stream);
        let split = toolgate_client::parse_sse_split(&stream, &cuts);
        if let Ok(w) = &whole {
            let s = split.as_ref().expect("accepted whole, refused split");
            prop_assert_eq!(&w.message, &s.message);
            prop_assert_eq!(&w.finish_reason, &s.finish_reason);
        }
        for r in [whole.err(), split.err(), parse_completion(&body).err()].into_iter().flatten() {
            prop_assert_eq!(r.kind, ErrorKind::Protocol, "{:?}", r);
        }
    }
}
