//! Every transform, applied to the oracle's answer, is graded by toolgate's grader as the
//! failure it is named after (and the untouched oracle answer passes).

mod common;

use toolgate_core::{
    FailureKind, RequestSummary, ResponseRecord, Suite, TrialKey, TurnRecord, Verdict,
};
use toolgate_grade::grade;
use toolgate_sim::oracle::passing_message;
use toolgate_sim::transform::{apply, Answer, Context};
use toolgate_sim::{CallFormat, Transform};

fn run(suite: &Suite, case_id: &str, t: &Transform) -> (Verdict, Option<FailureKind>, Answer) {
    let case = suite.case(case_id).expect("case");
    let oracle = Answer::new(passing_message(suite, case, 0));
    let cx = Context {
        suite: Some(suite),
        case: Some(case),
        turn: 0,
    };
    let a = apply(t, oracle, &cx);
    let rec = ResponseRecord {
        key: TrialKey {
            target: "sim".into(),
            suite: suite.name.clone().into(),
            case: case.id.clone().into(),
            prompt: "-".into(),
            variant: "thinking=off".into(),
            repeat: 0,
        },
        kind: case.kind.as_str().into(),
        category: None,
        request: RequestSummary::default(),
        turns: vec![TurnRecord {
            turn: 0,
            message: Some(a.message.clone()),
            finish_reason: Some(a.finish_reason.clone()),
            ..Default::default()
        }],
        error: None,
        retries: vec![],
        started_at: String::new(),
        warmup: false,
        input_hash: None,
        expect_hash: None,
    };
    let g = grade(suite, case, &rec);
    (g.verdict, g.failure, a)
}

#[track_caller]
fn expect_kind(suite: &Suite, case: &str, t: Transform, kind: FailureKind) -> Answer {
    let (v, k, a) = run(suite, case, &t);
    assert_eq!(
        (v, k),
        (Verdict::Fail, Some(kind)),
        "{t:?} on {case}: got {v:?}/{k:?} for {:#?}",
        a
    );
    a
}

#[test]
fn oracle_passes_every_fixture_case() {
    for s in common::all_suites() {
        for c in &s.cases {
            let (v, k, a) = run(&s, &c.id, &Transform::Oracle);
            assert_eq!(v, Verdict::Pass, "{}/{}: {k:?} {a:#?}", s.name, c.id);
        }
    }
}

#[test]
fn tool_call_transforms_are_graded_as_named() {
    let s = common::tool_suite();
    use FailureKind as K;
    let a = expect_kind(
        &s,
        "entity-arun",
        Transform::AnswerInText { text: None },
        K::NoCall,
    );
    assert!(a.message.tool_calls.is_empty() && a.message.content.is_some());

    let a = expect_kind(
        &s,
        "entity-arun",
        Transform::WrongTool {
            tool: Some("search_memory".into()),
        },
        K::WrongTool,
    );
    assert_eq!(a.message.tool_calls[0].name, "search_memory");
    // The wrong tool still gets schema-valid arguments, seeded from the right call.
    assert_eq!(
        a.message.tool_calls[0].arguments,
        serde_json::json!("{\"query\":\"Arun\"}")
    );
    expect_kind(
        &s,
        "entity-arun",
        Transform::WrongTool { tool: None },
        K::WrongTool,
    );

    for format in [
        CallFormat::Hermes,
        CallFormat::QwenXml,
        CallFormat::Mistral,
        CallFormat::LlamaJson,
        CallFormat::Pythonic,
        CallFormat::BareJson,
    ] {
        let a = expect_kind(
            &s,
            "memory-and-web",
            Transform::CallInContent { format },
            K::CallInContent,
        );
        assert!(a.message.tool_calls.is_empty());
        assert!(a.message.content.unwrap().contains("search_memory"));
    }

    let a = expect_kind(
        &s,
        "entity-arun",
        Transform::ReasoningOnly,
        K::ReasoningOnly,
    );
    assert_eq!(a.message.content.as_deref(), Some(""));
    let a = expect_kind(&s, "memory-and-web", Transform::DropCall, K::MissingCall);
    assert_eq!(a.message.tool_calls.len(), 1);
    let a = expect_kind(
        &s,
        "entity-arun",
        Transform::ExtraCall { tool: None },
        K::ExtraCall,
    );
    assert_eq!(a.message.tool_calls.len(), 2);
    expect_kind(
        &s,
        "entity-arun",
        Transform::ExtraCall {
            tool: Some("web_search".into()),
        },
        K::ExtraCall,
    );
    expect_kind(
        &s,
        "entity-arun",
        Transform::WrongArg {
            arg: None,
            value: None,
        },
        K::ArgsMismatch,
    );
    expect_kind(
        &s,
        "memory-and-web",
        Transform::WrongArg {
            arg: Some("query".into()),
            value: Some(serde_json::json!("football scores")),
        },
        K::ArgsMismatch,
    );
    let a = expect_kind(
        &s,
        "entity-arun",
        Transform::ArgsInvalidJson,
        K::ArgsInvalidJson,
    );
    let args = a.message.tool_calls[0]
        .arguments
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        serde_json::from_str::<serde_json::Value>(&args).is_err(),
        "{args}"
    );
    // Default: a required argument dropped; with `arg`: the wrong JSON type.
    expect_kind(
        &s,
        "entity-arun",
        Transform::ArgsSchemaViolation { arg: None },
        K::ArgsSchemaViolation,
    );
    let a = expect_kind(
        &s,
        "entity-arun",
        Transform::ArgsSchemaViolation {
            arg: Some("name".into()),
        },
        K::ArgsSchemaViolation,
    );
    assert_eq!(
        a.message.tool_calls[0].arguments,
        serde_json::json!("{\"name\":42}")
    );
    let a = expect_kind(
        &s,
        "entity-arun",
        Transform::HallucinateTool { tool: None },
        K::HallucinatedTool,
    );
    assert!(s.tools.get(&a.message.tool_calls[0].name).is_none());
    let a = expect_kind(
        &s,
        "greeting",
        Transform::UnexpectedCall {
            tool: Some("web_search".into()),
            arguments: None,
        },
        K::UnexpectedCall,
    );
    assert_eq!(a.finish_reason, "tool_calls");
    let a = expect_kind(&s, "entity-arun", Transform::Truncate, K::Truncated);
    assert_eq!(a.finish_reason, "length");
    expect_kind(&s, "entity-arun", Transform::Empty, K::EmptyOutput);
}

#[test]
fn extraction_transforms_are_graded_as_named() {
    let s = common::extraction_suite();
    use FailureKind as K;
    let c = "transcript-1";
    expect_kind(
        &s,
        c,
        Transform::DropEntity { count: 1 },
        K::EntitiesMissing,
    );
    let a = expect_kind(
        &s,
        c,
        Transform::SpuriousEntity {
            name: Some("Mangaluru".into()),
            entity_type: Some("place".into()),
        },
        K::EntitiesSpurious,
    );
    assert!(a.message.content.unwrap().contains("Mangaluru"));
    expect_kind(
        &s,
        c,
        Transform::SpuriousEntity {
            name: None,
            entity_type: None,
        },
        K::EntitiesSpurious,
    );
    let a = expect_kind(
        &s,
        c,
        Transform::WrongEntityType {
            name: Some("Bengaluru".into()),
            entity_type: None,
        },
        K::EntityTypeMismatch,
    );
    let doc: serde_json::Value =
        serde_json::from_str(a.message.content.as_deref().unwrap()).unwrap();
    assert_ne!(doc["entities"][1]["type"], "place");
    expect_kind(&s, c, Transform::InvalidJsonOutput, K::OutputInvalidJson);
}

#[test]
fn text_transforms_are_graded_as_named() {
    let s = common::chat_suite();
    use FailureKind as K;
    let c = "capital-karnataka";
    let a = expect_kind(&s, c, Transform::ThinkingLeak, K::ThinkingLeak);
    assert!(a.message.content.unwrap().starts_with("<think>"));
    let a = expect_kind(&s, c, Transform::Markdown, K::Markdown);
    assert!(a.message.content.unwrap().contains("**"));
    expect_kind(&s, c, Transform::DropFact, K::MissingFact);
    let a = expect_kind(&s, c, Transform::Verbose { words: None }, K::GateFailed);
    assert!(a.message.content.unwrap().split_whitespace().count() > 30);
    expect_kind(&s, c, Transform::Truncate, K::Truncated);
    expect_kind(
        &s,
        c,
        Transform::AnswerInText {
            text: Some("No idea, sorry.".into()),
        },
        K::MissingFact,
    );
}
