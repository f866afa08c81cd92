//! sim-strong answers every golden case under `cases/` correctly: the oracle's answer for
//! each case (every turn of a conversation) passes toolgate's grader.

use std::path::{Path, PathBuf};
use toolgate_core::load::{load_all, LoadContext};
use toolgate_core::{CaseInput, RequestSummary, ResponseRecord, TrialKey, TurnRecord, Verdict};
use toolgate_sim::oracle::passing_message;
use toolgate_sim::transform::Answer;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn oracle_passes_every_golden_case() {
    let ctx = LoadContext {
        prompts: None,
        today: "2026-01-01".into(),
    };
    let (suites, diags) = load_all(&[workspace().join("cases")], &ctx);
    assert!(diags.is_empty(), "golden cases do not load: {diags:?}");
    assert!(!suites.is_empty(), "no golden suites found");
    let mut failures = Vec::new();
    let mut graded = 0;
    for s in &suites {
        for c in &s.cases {
            let n = match &c.input {
                CaseInput::Turns(t) => t.len(),
                CaseInput::Messages(_) => 1,
            };
            let turns = (0..n)
                .map(|t| {
                    let a = Answer::new(passing_message(s, c, t));
                    TurnRecord {
                        turn: t as u32,
                        message: Some(a.message),
                        finish_reason: Some(a.finish_reason),
                        ..Default::default()
                    }
                })
                .collect();
            let rec = ResponseRecord {
                key: TrialKey {
                    target: "sim".into(),
                    suite: s.name.clone().into(),
                    case: c.id.clone().into(),
                    prompt: "-".into(),
                    variant: "thinking=off".into(),
                    repeat: 0,
                },
                kind: c.kind.as_str().into(),
                category: c.category.clone(),
                request: RequestSummary::default(),
                turns,
                error: None,
                retries: vec![],
                started_at: String::new(),
                warmup: false,
                input_hash: None,
                expect_hash: None,
            };
            let g = toolgate_grade::grade(s, c, &rec);
            graded += 1;
            if g.verdict != Verdict::Pass {
                failures.push(format!(
                    "{}/{}: {:?} {}",
                    s.name, c.id, g.failure, g.diagnosis
                ));
            }
        }
    }
    assert!(graded > 0);
    eprintln!("graded {graded} golden cases");
    assert!(
        failures.is_empty(),
        "{} of {graded} cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every sim-weak rule that transforms an answer makes the cases it matches fail (a rule
/// that leaves a case passing is a dead rule; `answer_in_text` on a no-call case is the
/// one transform meant to pass), and sim-weak still passes some cases.
#[test]
fn weak_rules_make_their_cases_fail() {
    use toolgate_sim::script::RequestFacts;
    use toolgate_sim::transform::{apply, thinking_text, Context};
    use toolgate_sim::{Action, Dialect, Script, Transform};
    let ctx = LoadContext {
        prompts: None,
        today: "2026-01-01".into(),
    };
    let (suites, _) = load_all(&[workspace().join("cases")], &ctx);
    let weak = Script::weak();
    let (mut passed, mut failed, mut dead) = (0, 0, Vec::new());
    for thinking in [false, true] {
        for s in &suites {
            for c in &s.cases {
                let n = match &c.input {
                    CaseInput::Turns(t) => t.len(),
                    CaseInput::Messages(_) => 1,
                };
                let mut turns = Vec::new();
                let mut transformed = false;
                for t in 0..n {
                    let user = match &c.input {
                        CaseInput::Turns(ts) => ts[t].user.clone(),
                        CaseInput::Messages(_) => c.first_user_text().unwrap_or("").to_string(),
                    };
                    let facts = RequestFacts {
                        suite: Some(&s.name),
                        case: Some(&c.id),
                        tags: &c.tags,
                        kind: Some(c.kind),
                        user: &user,
                        system: "",
                        thinking,
                        stream: true,
                        turn: t as u32,
                        dialect: Dialect::Vllm,
                    };
                    let oracle = Answer::new(passing_message(s, c, t));
                    let a = match weak.rule_for(&facts).map(|r| &r.action) {
                        Some(Action::Transform(tr)) => {
                            transformed |=
                                !matches!(tr, Transform::AnswerInText { .. } | Transform::Oracle);
                            let cx = Context {
                                suite: Some(s),
                                case: Some(c),
                                turn: t,
                            };
                            apply(tr, oracle, &cx)
                        }
                        _ => oracle,
                    };
                    // As the server does: thinking on adds a reasoning text when none is set.
                    let mut a = a;
                    if thinking && a.message.reasoning.is_none() {
                        a.message.reasoning = Some(thinking_text(&user, &a.message));
                    }
                    turns.push(TurnRecord {
                        turn: t as u32,
                        message: Some(a.message),
                        finish_reason: Some(a.finish_reason),
                        ..Default::default()
                    });
                }
                let rec = ResponseRecord {
                    key: TrialKey {
                        target: "sim".into(),
                        suite: s.name.clone().into(),
                        case: c.id.clone().into(),
                        prompt: "-".into(),
                        variant: "thinking=off".into(),
                        repeat: 0,
                    },
                    kind: c.kind.as_str().into(),
                    category: c.category.clone(),
                    request: RequestSummary::default(),
                    turns,
                    error: None,
                    retries: vec![],
                    started_at: String::new(),
                    warmup: false,
                    input_hash: None,
                    expect_hash: None,
                };
                let g = toolgate_grade::grade(s, c, &rec);
                match g.verdict {
                    Verdict::Pass if transformed => {
                        dead.push(format!("{}/{} thinking={thinking}", s.name, c.id))
                    }
                    Verdict::Pass => passed += 1,
                    _ => failed += 1,
                }
            }
        }
    }
    eprintln!("sim-weak (thinking off + on): {passed} pass, {failed} fail");
    assert!(
        dead.is_empty(),
        "weak rules that leave their case passing: {dead:?}"
    );
    assert!(passed > 0);
}
