//! Property tests: a response synthesised from the expectation always passes; any single
//! mutation of the tool name, of an argument's type, or removing a required argument fails
//! with the right kind.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::{json, Value};
use toolgate_core::*;
use toolgate_grade::{grade, synth};

/// A matcher that a value of `ty` can satisfy, drawn from the operator family.
fn matcher_for(ty: &'static str) -> BoxedStrategy<Matcher> {
    let word = "[a-z]{1,8}( [a-z]{1,6})?";
    match ty {
        "string" => prop_oneof![
            word.prop_map(|s| Matcher::Equals(Value::String(s))),
            word.prop_map(Matcher::EqualsCi),
            prop::collection::vec(word, 1..4)
                .prop_map(|v| Matcher::OneOf(v.into_iter().map(Value::String).collect())),
            word.prop_map(Matcher::Contains),
            prop::collection::vec(word, 1..4).prop_map(Matcher::ContainsAny),
            prop::collection::vec("[a-z]{1,6}", 1..4).prop_map(Matcher::ContainsAll),
            "[a-z]{1,8}".prop_map(|s| regex(&format!("(?i)^({s}|zzz)$"))),
            Just(Matcher::Present),
            Just(Matcher::Absent),
            Just(Matcher::Schema(schema_matcher(
                json!({"type": "string", "minLength": 2})
            ))),
        ]
        .boxed(),
        "integer" => prop_oneof![
            (0i64..100).prop_map(|n| Matcher::Equals(json!(n))),
            (0i64..50, 0i64..50).prop_map(|(a, b)| Matcher::Range(a as f64, (a + b) as f64)),
            Just(Matcher::Present),
            Just(Matcher::Absent),
            prop::collection::vec(0i64..100, 1..3)
                .prop_map(|v| Matcher::OneOf(v.into_iter().map(|n| json!(n)).collect())),
        ]
        .boxed(),
        _ => prop_oneof![
            any::<bool>().prop_map(|b| Matcher::Equals(json!(b))),
            Just(Matcher::Present),
            Just(Matcher::Absent),
        ]
        .boxed(),
    }
}

/// One expected call of set_timer or get_weather / search_memory with random matchers.
fn expected_call() -> impl Strategy<Value = CallExpect> {
    prop_oneof![
        (
            matcher_for("integer"),
            matcher_for("string"),
            matcher_for("boolean"),
            any::<[bool; 2]>()
        )
            .prop_map(|(m, l, b, use_)| {
                // `minutes` is required: never `absent`.
                let m = if matches!(m, Matcher::Absent) {
                    Matcher::Present
                } else {
                    m
                };
                let mut args = vec![("minutes", m)];
                if use_[0] {
                    args.push(("label", l));
                }
                if use_[1] {
                    args.push(("loud", b));
                }
                call("set_timer", args)
            }),
        (matcher_for("string"), any::<bool>()).prop_map(|(c, named)| {
            let c = if matches!(c, Matcher::Absent) {
                Matcher::Present
            } else {
                c
            };
            if named {
                call("get_weather", vec![("city", c)])
            } else {
                call("get_weather", vec![])
            }
        }),
        matcher_for("string").prop_map(|q| {
            let q = if matches!(q, Matcher::Absent) {
                Matcher::Present
            } else {
                q
            };
            call("search_memory", vec![("query", q)])
        }),
    ]
}

fn one_case(expected: Vec<CallExpect>) -> (Suite, Case) {
    let c = case("p", CaseKind::ToolCall, expect_calls(expected));
    let s = suite("props", CaseKind::ToolCall, vec![c.clone()]);
    (s, c)
}

fn grade_msg(s: &Suite, c: &Case, m: AssistantMessage) -> GradeRecord {
    grade(s, c, &record(s, c, vec![(m, "tool_calls")]))
}

fn args_of(m: &AssistantMessage, i: usize) -> serde_json::Map<String, Value> {
    serde_json::from_str::<Value>(m.tool_calls[i].arguments.as_str().unwrap())
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn synthesised_response_passes(expected in prop::collection::vec(expected_call(), 1..4)) {
        let (s, c) = one_case(expected);
        let m = synth::passing_message(&s, &c, 0);
        let g = grade_msg(&s, &c, m.clone());
        prop_assert_eq!(g.verdict, Verdict::Pass, "{:?} {} {:?}", m, g.diagnosis, g.findings);
    }

    #[test]
    fn renaming_a_call_fails(expected in expected_call(), known in any::<bool>()) {
        let (s, c) = one_case(vec![expected.clone()]);
        let mut m = synth::passing_message(&s, &c, 0);
        let (name, kind) = if known {
            let other = if expected.name == "web_search" { "get_time" } else { "web_search" };
            (other.to_string(), FailureKind::WrongTool)
        } else {
            (format!("{}_v2", expected.name), FailureKind::HallucinatedTool)
        };
        m.tool_calls[0].name = name;
        let g = grade_msg(&s, &c, m);
        prop_assert_eq!(g.failure, Some(kind), "{}", g.diagnosis);
    }

    #[test]
    fn changing_an_argument_type_fails(expected in expected_call(), pick in any::<prop::sample::Index>()) {
        let (s, c) = one_case(vec![expected]);
        let mut m = synth::passing_message(&s, &c, 0);
        let mut args = args_of(&m, 0);
        prop_assume!(!args.is_empty());
        let keys: Vec<String> = args.keys().cloned().collect();
        let k = pick.get(&keys).clone();
        let v = args[&k].clone();
        // A value of another JSON type: the tool's schema declares one type per property.
        let swapped = match v {
            Value::String(_) => json!(7),
            Value::Number(_) => json!("7"),
            Value::Bool(b) => json!(if b { "yes" } else { "no" }),
            other => json!([other]),
        };
        args.insert(k, swapped);
        m.tool_calls[0].arguments = Value::String(Value::Object(args).to_string());
        let g = grade_msg(&s, &c, m);
        prop_assert_eq!(g.failure, Some(FailureKind::ArgsSchemaViolation), "{}", g.diagnosis);
    }

    #[test]
    fn removing_a_required_argument_fails(expected in expected_call()) {
        let (s, c) = one_case(vec![expected]);
        let mut m = synth::passing_message(&s, &c, 0);
        let tool = s.tools.get(&m.tool_calls[0].name).unwrap();
        let req: Vec<String> = tool.parameters["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        let mut args = args_of(&m, 0);
        args.remove(&req[0]);
        m.tool_calls[0].arguments = Value::String(Value::Object(args).to_string());
        let g = grade_msg(&s, &c, m);
        prop_assert_eq!(g.failure, Some(FailureKind::ArgsSchemaViolation), "{}", g.diagnosis);
    }

    #[test]
    fn synthesised_text_passes_gates(
        contains in prop::collection::vec("[a-z]{2,8}", 0..3),
        any_of in prop::collection::vec("[a-z]{2,8}", 0..3),
        max in prop::option::of(8u32..40),
    ) {
        let g = Gates { non_empty: true, no_markdown: true, no_thinking_leak: true, contains, contains_any: any_of, max_words: max, ..Default::default() };
        let c = case("t", CaseKind::Chat, gates(g));
        let s = suite("chat", CaseKind::Chat, vec![c.clone()]);
        let m = synth::passing_message(&s, &c, 0);
        let r = grade(&s, &c, &record(&s, &c, vec![(m, "stop")]));
        prop_assert_eq!(r.verdict, Verdict::Pass, "{}", r.diagnosis);
    }
}

#[test]
fn synthesised_extraction_and_no_call_pass() {
    for (kind, exp) in [
        (CaseKind::Extraction, extraction(OutputSource::Content)),
        (
            CaseKind::Extraction,
            extraction(OutputSource::Tool("save_entities".into())),
        ),
        (CaseKind::ToolCall, expect_alts(vec![CallSet::NoCall])),
    ] {
        let c = case("x", kind, exp);
        let s = suite("s", kind, vec![c.clone()]);
        let m = synth::passing_message(&s, &c, 0);
        let g = grade(&s, &c, &record(&s, &c, vec![(m, "stop")]));
        assert_eq!(g.verdict, Verdict::Pass, "{}", g.diagnosis);
    }
}
