//! toolgate-grade: pure functions from (suite, case, recorded response) to a [`GradeRecord`]
//! (docs/case-format.md, docs/failure-kinds.md). No network, no clock, no globals with state: the same inputs
//! always give the same record, so `toolgate grade RUN` is byte-identical on re-run.
//!
//! Order of judgement for one turn:
//! 1. no calls and no answer text → `reasoning_only` (reasoning present) or `empty_output`;
//!    these win over everything else (the Nemotron "JSON parse failed" case), except that a
//!    tool call written inside the reasoning of a tool-call case is `call_in_content`;
//! 2. tool expectation (any_of alternatives, one-to-one assignment, schemas), extraction
//!    (JSON source, schema, entities), text gates;
//! 3. `truncated` is added when `finish_reason` is `length` and the turn failed.
//!
//! Findings are sorted by [`FailureKind`] priority; the first is the primary kind.

mod calls;
pub mod decision;
pub mod extract;
pub mod gates;
pub mod incontent;
pub mod jsonscan;
pub mod matchers;
pub mod normalize;
pub mod synth;

use rayon::prelude::*;
use std::collections::BTreeMap;
use toolgate_core::{
    AnswerClass, ArgCheck, AssistantMessage, Case, CaseInput, CaseKind, Decision, DecisionExpect,
    Expectation, FailureKind, Finding, GradeRecord, OutputSource, ResponseRecord, Scores, Suite,
    Sym, TurnRecord, Verdict,
};

pub use calls::one_to_one;
pub use extract::{suite_scores, SuiteScores};

/// Bumped whenever a rule changes a verdict, so reports can tell re-graded runs apart.
pub const GRADER_VERSION: &str = "1";

/// Grade one recorded trial against its case.
pub fn grade(suite: &Suite, case: &Case, rec: &ResponseRecord) -> GradeRecord {
    let mut g = GradeRecord {
        key: rec.key.clone(),
        kind: case.kind.as_str().to_string().into(),
        category: rec.category.clone().or_else(|| case.category.clone()),
        verdict: Verdict::Pass,
        failure: None,
        error_kind: None,
        findings: vec![],
        diagnosis: String::new().into(),
        expected_tools: vec![],
        actual_tools: vec![],
        answer: None,
        scores: None,
        warmup: rec.warmup,
        grader_version: GRADER_VERSION.to_string().into(),
        args: vec![],
        input_hash: rec.input_hash.as_deref().map(Sym::from),
        expect_hash: (!case.expect_hash.is_empty()).then(|| Sym::from(&case.expect_hash)),
        decision: None,
        expected_decision: None,
        no_tools: case.kind == CaseKind::ToolCall && suite.tools.is_empty(),
    };
    if let Some(err) = &rec.error {
        // The server failed: the model was never judged, whatever earlier turns said.
        g.verdict = Verdict::Error;
        g.error_kind = Some(err.kind);
        let turn = if matches!(case.input, CaseInput::Turns(_)) {
            format!("turn {}: ", err.turn)
        } else {
            String::new()
        };
        g.diagnosis = format!("{turn}{}: {}", err.kind, normalize::clip(&err.message, 160)).into();
        return g;
    }
    if case.expect.record_only {
        return record_only(g, suite, case, rec);
    }
    let plan: Vec<(&Expectation, Option<&TurnRecord>)> = match &case.input {
        CaseInput::Messages(_) => vec![(&case.expect, rec.turns.last())],
        CaseInput::Turns(ts) => ts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                (
                    &t.expect,
                    rec.turns
                        .iter()
                        .find(|r| r.turn as usize == i)
                        .or_else(|| rec.turns.get(i)),
                )
            })
            .collect(),
    };
    let n = plan.len();
    let mut last = None;
    for (i, (exp, turn)) in plan.into_iter().enumerate() {
        let Some(turn) = turn else {
            g.verdict = Verdict::Error;
            g.diagnosis = if n > 1 {
                format!("turn {i} was not recorded (incomplete response record)").into()
            } else {
                "no response recorded".to_string().into()
            };
            return g;
        };
        let mut o = grade_turn(suite, exp, turn);
        g.args.append(&mut o.args);
        if let Some(total) = turn.message.as_ref().and_then(|m| m.tool_calls_total) {
            // The client kept only the first calls of a flood; the grade says so.
            o.diagnosis = format!(
                "{} (the server sent {total} tool calls; the first {} were kept and graded)",
                o.diagnosis,
                toolgate_core::MAX_TOOL_CALLS
            );
        }
        let failed = !o.findings.is_empty();
        if failed && n > 1 {
            for f in &mut o.findings {
                f.message = format!("turn {i}: {}", f.message);
            }
            o.diagnosis = format!("turn {i}/{n}: {}", o.diagnosis);
        }
        last = Some(o);
        if failed {
            break;
        }
    }
    let Some(o) = last else {
        g.verdict = Verdict::Error;
        g.diagnosis = "case has no turns".into();
        return g;
    };
    if !o.findings.is_empty() {
        g.verdict = Verdict::Fail;
        g.failure = Some(o.findings[0].kind);
    } else if n > 1 {
        g.diagnosis = format!("ok: all {n} turns passed").into();
    }
    if g.diagnosis.is_empty() {
        g.diagnosis = o.diagnosis.into();
    }
    if case.kind == CaseKind::ToolCall || o.expected_decision.is_some() {
        g.decision = o.decision;
        g.expected_decision = o.expected_decision;
    }
    g.findings = o.findings;
    g.expected_tools = o.expected_tools.into_iter().map(Sym::from).collect();
    g.actual_tools = o.actual_tools.into_iter().map(Sym::from).collect();
    g.answer = Some(o.answer);
    g.scores = o.scores.map(Box::new);
    g
}

/// The loaded suites, indexed by (suite, case) once, so records can be graded one at a time
/// (streamed) or all at once.
pub struct Grader<'a> {
    index: BTreeMap<(&'a str, &'a str), (&'a Suite, &'a Case)>,
}

impl<'a> Grader<'a> {
    pub fn new(suites: &'a [Suite]) -> Grader<'a> {
        let mut index = BTreeMap::new();
        for s in suites {
            for c in &s.cases {
                index
                    .entry((s.name.as_str(), c.id.as_str()))
                    .or_insert((s, c));
            }
        }
        Grader { index }
    }

    /// A record whose suite or case is not loaded gets verdict `error` (no `error_kind`)
    /// with diagnosis "case not found in loaded suites": it was not judged, so it must
    /// count neither way.
    pub fn grade(&self, r: &ResponseRecord) -> GradeRecord {
        match self.index.get(&(r.key.suite.as_str(), r.key.case.as_str())) {
            Some((s, c)) => grade(s, c, r),
            None => GradeRecord {
                key: r.key.clone(),
                kind: r.kind.clone(),
                category: r.category.clone(),
                verdict: Verdict::Error,
                failure: None,
                error_kind: None,
                findings: vec![],
                diagnosis: format!(
                    "case not found in loaded suites: {}/{}",
                    r.key.suite, r.key.case
                )
                .into(),
                expected_tools: vec![],
                actual_tools: vec![],
                answer: None,
                scores: None,
                warmup: r.warmup,
                grader_version: GRADER_VERSION.to_string().into(),
                args: vec![],
                input_hash: r.input_hash.as_deref().map(Sym::from),
                expect_hash: None,
                decision: None,
                expected_decision: None,
                no_tools: false,
            },
        }
    }
}

/// Grade every record, in parallel; output order = input order (see [`Grader::grade`]).
pub fn grade_all(suites: &[Suite], recs: &[ResponseRecord]) -> Vec<GradeRecord> {
    let grader = Grader::new(suites);
    recs.par_iter().map(|r| grader.grade(r)).collect()
}

/// A record-only case: the answer is described and classified, never judged.
fn record_only(
    mut g: GradeRecord,
    suite: &Suite,
    case: &Case,
    rec: &ResponseRecord,
) -> GradeRecord {
    g.verdict = Verdict::Recorded;
    let Some(turn) = rec.turns.last() else {
        g.verdict = Verdict::Error;
        g.diagnosis = "no response recorded".into();
        return g;
    };
    let empty = AssistantMessage::default();
    let msg = turn.message.as_ref().unwrap_or(&empty);
    let calls = normalize::calls(msg);
    let (answer, _) = jsonscan::split_think(msg.content.as_deref().unwrap_or(""));
    let text_call = calls.is_empty() && !incontent::find_calls(&answer).is_empty();
    g.answer = Some(answer_class(&calls, text_call, answer.trim()));
    g.actual_tools = calls.iter().map(|c| Sym::from(c.name.as_str())).collect();
    g.args = calls::schema_arg_checks(&suite.tools, &calls);
    if case.kind == CaseKind::ToolCall {
        g.decision = decision::classify(!calls.is_empty() || text_call, &answer);
    }
    let what = if calls.is_empty() {
        format!("answered {}", normalize::clip(answer.trim(), 80))
    } else {
        calls
            .iter()
            .map(calls::actual_call)
            .collect::<Vec<_>>()
            .join(", ")
    };
    g.diagnosis = format!("recorded (no expectation): {what}").into();
    g
}

struct TurnOutcome {
    decision: Option<Decision>,
    expected_decision: Option<Decision>,
    findings: Vec<Finding>,
    args: Vec<ArgCheck>,
    diagnosis: String,
    expected_tools: Vec<String>,
    actual_tools: Vec<String>,
    answer: AnswerClass,
    scores: Option<Scores>,
}

fn grade_turn(suite: &Suite, exp: &Expectation, turn: &TurnRecord) -> TurnOutcome {
    let empty = AssistantMessage::default();
    let msg = turn.message.as_ref().unwrap_or(&empty);
    let calls = normalize::calls(msg);
    let raw = msg.content.as_deref().unwrap_or("");
    let (answer, think_in_content) = jsonscan::split_think(raw);
    let answer_t = answer.trim();
    let reasoning_text = normalize::reasoning(msg).unwrap_or("");
    let has_reasoning = !reasoning_text.trim().is_empty() || !think_in_content.trim().is_empty();
    let wants_call = exp.tools.is_some()
        || matches!(
            exp.extraction.as_ref().map(|e| &e.output),
            Some(OutputSource::Tool(_))
        );

    // Calls written as text: looked for only where a call could be meant, and only when
    // the server returned no structured call.
    let text_calls = if wants_call && calls.is_empty() {
        let in_answer = incontent::find_calls(&answer);
        if !in_answer.is_empty() {
            Some((in_answer, "content"))
        } else {
            let thought = format!("{think_in_content}\n{reasoning_text}");
            let in_reasoning = incontent::find_calls(&thought);
            (!in_reasoning.is_empty()).then_some((in_reasoning, "reasoning"))
        }
    } else {
        None
    };

    // Calls written in the answer decide `call` even where no call was looked for above.
    let decides = exp.tools.is_some() || exp.decision.is_some();
    // The answer was already scanned above when a call was looked for; not twice.
    let answer_scanned = wants_call && calls.is_empty();
    let has_call = !calls.is_empty()
        || text_calls.is_some()
        || (decides
            && !answer_scanned
            && !answer_t.is_empty()
            && !incontent::find_calls(&answer).is_empty());
    let mut out = TurnOutcome {
        decision: decision::classify(has_call, &answer),
        expected_decision: decision::expected(exp),
        args: vec![],
        findings: vec![],
        diagnosis: String::new(),
        expected_tools: vec![],
        actual_tools: calls.iter().map(|c| c.name.clone()).collect(),
        answer: answer_class(&calls, text_calls.is_some(), answer_t),
        scores: None,
    };
    let truncated = turn.finish_reason.as_deref() == Some("length");

    if calls.is_empty() && answer_t.is_empty() && !(text_calls.is_some() && exp.tools.is_some()) {
        let f = if has_reasoning {
            gates::finding(
                FailureKind::ReasoningOnly,
                format!(
                    "content is empty but reasoning is not ({} chars): thinking swallowed the answer",
                    reasoning_text.chars().count() + think_in_content.chars().count()
                ),
                None,
            )
        } else {
            gates::finding(
                FailureKind::EmptyOutput,
                "no content, no reasoning, no tool calls".into(),
                None,
            )
        };
        out.diagnosis = f.message.clone();
        out.findings.push(f);
        if truncated {
            out.findings.push(truncated_finding());
        }
        if let Some(t) = &exp.tools {
            out.expected_tools = match t.alternatives.first() {
                Some(toolgate_core::CallSet::Calls { calls, .. }) => {
                    calls.iter().map(|c| c.name.clone()).collect()
                }
                _ => vec![],
            };
        }
        return out;
    }

    let mut tool_desc = None;
    if let Some(t) = &exp.tools {
        let side = calls::TextSide {
            text_calls: text_calls.clone(),
            answer: answer_t,
        };
        let o = calls::grade(&suite.tools, t, &calls, &side);
        out.findings.extend(o.findings);
        out.args = o.args;
        out.expected_tools = o.expected_tools;
        tool_desc = Some((o.expected, o.actual_desc));
    } else if !calls.is_empty() && !wants_call {
        out.findings.push(gates::finding(
            FailureKind::UnexpectedCall,
            format!(
                "expected {}, called {}",
                match &exp.decision {
                    Some(DecisionExpect::Ask { .. }) => "a clarifying question",
                    Some(DecisionExpect::Refuse) => "a refusal",
                    None => "a text answer",
                },
                calls
                    .iter()
                    .map(calls::actual_call)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None,
        ));
    }
    if let (Some(d), true) = (&exp.decision, calls.is_empty()) {
        out.findings
            .extend(decision_findings(d, out.decision, &answer));
    }
    if let Some(x) = &exp.extraction {
        let mut o = extract::grade(x, &answer, &calls);
        if let (OutputSource::Tool(name), Some((tc, source))) = (&x.output, &text_calls) {
            // The extraction call was written as text: say so, and whether it would have passed.
            if let Some(c) = tc.iter().find(|c| &c.name == name) {
                let as_call = calls::text_to_norm(&suite.tools, std::slice::from_ref(c));
                let would = extract::grade(x, "", &as_call);
                o.findings = vec![gates::finding(
                    FailureKind::CallInContent,
                    format!(
                        "{name} written as text in {source} ({} format); would have {}",
                        c.format,
                        if would.findings.is_empty() {
                            "passed"
                        } else {
                            "failed"
                        }
                    ),
                    Some(serde_json::json!({
                        "would_pass": would.findings.is_empty(),
                        "format": c.format,
                        "source": source,
                        "calls": [{"name": c.name, "arguments": c.arguments}],
                    })),
                )];
                o.scores = would.scores;
            }
        }
        out.findings.extend(o.findings);
        out.scores = o.scores;
    }
    // A call-only answer has no text to gate.
    let call_only = answer_t.is_empty() && !calls.is_empty();
    if !exp.gates.is_empty() && !call_only {
        out.findings.extend(gates::check(&exp.gates, raw, &answer));
    }
    if truncated && !out.findings.is_empty() {
        out.findings.push(truncated_finding());
    }
    out.findings.sort_by_key(|f| f.kind);
    out.diagnosis = diagnosis(&out, tool_desc);
    out
}

/// `ask: true` / `refuse: true` judged on a text answer (a call is `unexpected_call` above).
fn decision_findings(want: &DecisionExpect, got: Option<Decision>, answer: &str) -> Vec<Finding> {
    let got_desc = match got {
        Some(Decision::Call) => "a call written as text",
        Some(Decision::Answer) => "an answer without a question",
        Some(Decision::Ask) => "a question",
        Some(Decision::Refuse) => "a refusal",
        None => "nothing",
    };
    let (want_d, want_desc) = match want {
        DecisionExpect::Ask { .. } => (Decision::Ask, "a clarifying question"),
        DecisionExpect::Refuse => (Decision::Refuse, "a refusal"),
    };
    if got != Some(want_d) {
        return vec![gates::finding(
            FailureKind::WrongDecision,
            format!("expected {want_desc}, got {got_desc}"),
            Some(serde_json::json!({ "expected": want_d, "actual": got })),
        )];
    }
    match want {
        DecisionExpect::Ask { mentions } if !mentions.is_empty() => {
            let g = toolgate_core::Gates {
                contains_any: mentions.clone(),
                ..Default::default()
            };
            gates::check(&g, answer, answer)
                .into_iter()
                .map(|mut f| {
                    f.message =
                        format!("the question is not about the missing thing: {}", f.message);
                    f
                })
                .collect()
        }
        _ => vec![],
    }
}

fn truncated_finding() -> Finding {
    gates::finding(
        FailureKind::Truncated,
        "finish_reason is `length`: the answer or call was cut at max_tokens".into(),
        None,
    )
}

fn answer_class(calls: &[normalize::NormCall], text_call: bool, answer: &str) -> AnswerClass {
    if !calls.is_empty() {
        if calls.iter().any(normalize::NormCall::is_malformed) {
            AnswerClass::Malformed
        } else {
            AnswerClass::Call
        }
    } else if text_call {
        AnswerClass::CallInContent
    } else if !answer.is_empty() {
        AnswerClass::None
    } else {
        AnswerClass::Empty
    }
}

fn diagnosis(o: &TurnOutcome, tool_desc: Option<(calls::ExpectedCalls, String)>) -> String {
    let primary = o.findings.first();
    let score = o.scores.as_ref().map(|s| {
        format!(
            "P={:.2} R={:.2} F1={:.2} ({})",
            s.precision,
            s.recall,
            s.f1,
            s.source.as_deref().unwrap_or("-")
        )
    });
    match (primary, tool_desc) {
        (None, Some((_, actual))) => format!("ok: {actual}"),
        (None, None) => match score {
            Some(s) => format!("ok: {s}"),
            None => "ok".into(),
        },
        (Some(p), Some((exp, actual))) => {
            let base = format!("expected {}, got {actual}", exp.describe());
            let ordered = p.detail.as_ref().is_some_and(|d| d.get("order").is_some());
            // Invalid arguments already say why inside `got name(<invalid JSON: …>)`.
            let obvious = matches!(
                p.kind,
                FailureKind::WrongTool
                    | FailureKind::NoCall
                    | FailureKind::UnexpectedCall
                    | FailureKind::MissingCall
                    | FailureKind::ExtraCall
                    | FailureKind::ArgsInvalidJson
            ) && !ordered;
            match p.detail.as_ref().and_then(|d| d.get("would_pass")).and_then(|w| w.as_bool()) {
                _ if obvious => base,
                Some(true) => format!("{base} — no structured tool_calls (server tool parser?); the call would have passed"),
                Some(false) => {
                    let k = p.detail.as_ref().and_then(|d| d["would_fail_with"][0]["kind"].as_str()).unwrap_or("a failure");
                    format!("{base} — no structured tool_calls; the call would have failed anyway ({k})")
                }
                None if ordered => format!("{base} — right calls, wrong order (order: exact)"),
                None => format!("{base} — {}", p.message),
            }
        }
        (Some(p), None) if p.kind == FailureKind::Truncated && o.findings.len() > 1 => {
            format!(
                "cut at max_tokens (finish_reason length): {}",
                o.findings[1].message
            )
        }
        (Some(p), None) => {
            let more = o.findings.len() - 1;
            if more > 0 {
                format!("{} (+{more} more)", p.message)
            } else {
                p.message.clone()
            }
        }
    }
}
