//! `toolgate agree REF CAND` (docs/agree.md): does a candidate deployment decide and call
//! like a trusted reference deployment of the same model, over the same cases? No
//! expectation is read: REF's answers are the truth, so record-only cases count too.
//!
//! Trials pair by (suite, case, prompt, variant, repeat) and then by turn; the figures are per
//! (REF target, CAND target, suite, variant) row:
//! - **tool trigger**: a turn *calls* when the assistant message has at least one structured
//!   tool call (a call written in the content is no call: a tool-call parser that leaves calls
//!   in the text is the regression a server swap causes). Precision, recall and F1 with REF as
//!   truth;
//! - **same tool**: of the turns where both call, those with the same multiset of tool names;
//! - **arguments**: of the same-tool turns, those whose calls pair one to one (the graders'
//!   assignment) with equal arguments: strings after `equals_ci` folding, numbers by value,
//!   an argument set to null the same as one not given;
//! - **schema validity**, per side: of the structured calls, those naming a tool of the
//!   suite's tools file with arguments that decode to an object valid under its JSON Schema;
//! - **same decision**: of the turns where neither side makes a structured call, those whose
//!   text answers take the same decision — answer, ask a question, or refuse — by the
//!   graders' rule (docs/case-format.md#decisions; a call written as text is `call`);
//! - **agreement**: turns where trigger, tools, arguments and decision all agree.
//!
//! Infra errors on either side are not agreement data: such trials are counted, not compared.
//!
//! Invariant: pure (no clock, no network); loading a run's responses is the only I/O here.

use crate::error::ReportError;
use crate::stats::Proportion;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use toolgate_core::record::{Decision, ResponseRecord, Sym, TrialKey};
use toolgate_core::runfolder::{stream_jsonl_noted, RESPONSES};
use toolgate_core::text::fold;
use toolgate_core::tools::ToolSet;
use toolgate_grade::normalize::{self, NormCall};

/// Bumped when `agree.json` changes shape.
pub const AGREE_SCHEMA_VERSION: u32 = 1;
/// Longest answer text kept per turn (what a disagreement shows of a text answer).
const TEXT_KEPT: usize = 200;

/// One trial reduced to what agreement reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    pub key: TrialKey,
    pub input_hash: Option<String>,
    /// The infra error kind, when the server failed.
    pub error: Option<String>,
    pub turns: Vec<TurnAnswer>,
}

/// One turn's answer: the structured calls (arguments decoded as the graders decode them)
/// and the start of the answer text.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnAnswer {
    pub turn: u32,
    pub calls: Vec<NormCall>,
    pub text: Option<String>,
    /// The decision of the answer (call, answer, ask, refuse); `None` for an empty one.
    pub decision: Option<Decision>,
}

impl Trial {
    /// `None` for a warmup trial (never data).
    pub fn from_record(r: &ResponseRecord) -> Option<Trial> {
        if r.warmup {
            return None;
        }
        let turns = r
            .turns
            .iter()
            .map(|t| {
                let calls = t.message.as_ref().map(normalize::calls).unwrap_or_default();
                TurnAnswer {
                    turn: t.turn,
                    decision: t
                        .message
                        .as_ref()
                        .and_then(|m| toolgate_grade::decision::of_message(m, &calls)),
                    calls,
                    text: t
                        .message
                        .as_ref()
                        .and_then(normalize::content)
                        .map(|c| normalize::clip(c, TEXT_KEPT)),
                }
            })
            .collect();
        Some(Trial {
            key: r.key.clone(),
            input_hash: r.input_hash.clone(),
            error: r.error.as_ref().map(|e| e.kind.to_string()),
            turns,
        })
    }
}

/// Streams a run's `responses.jsonl` into [`Trial`]s (warmups dropped). Notes say what was
/// skipped (a torn last line, a missing file).
pub fn load_trials(dir: &Path) -> Result<(Vec<Trial>, Vec<String>), ReportError> {
    let mut notes = Vec::new();
    let mut trials = Vec::new();
    stream_jsonl_noted(&dir.join(RESPONSES), &mut notes, |_, r: ResponseRecord| {
        trials.extend(Trial::from_record(&r))
    })?;
    Ok((trials, notes))
}

/// One side of the comparison as the report names it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunLabel {
    /// The folder as given.
    pub dir: String,
    pub run_id: String,
    pub complete: bool,
}

/// Tools files by suite name: the schemas calls are checked against. A suite missing here
/// has no schema-validity figure.
pub type SuiteTools = BTreeMap<String, Arc<ToolSet>>;

/// Tool-trigger counts (REF as truth) and the figures from them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Trigger {
    /// Both call.
    pub tp: u64,
    /// CAND calls, REF does not.
    pub fp: u64,
    /// REF calls, CAND does not.
    #[serde(rename = "fn")]
    pub fn_: u64,
    /// Neither calls.
    pub tn: u64,
}

impl Trigger {
    pub fn precision(&self) -> Proportion {
        Proportion::new(self.tp, self.tp + self.fp)
    }
    pub fn recall(&self) -> Proportion {
        Proportion::new(self.tp, self.tp + self.fn_)
    }
    /// `None` when neither side ever called: nothing to disagree on, nothing to measure.
    pub fn f1(&self) -> Option<f64> {
        let d = 2 * self.tp + self.fp + self.fn_;
        (d > 0).then(|| 2.0 * self.tp as f64 / d as f64)
    }
}

/// Figures of one (REF target, CAND target, suite, variant).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub ref_target: String,
    pub target: String,
    pub suite: String,
    pub variant: String,
    /// Paired trials compared (no infra error on either side).
    pub trials: u64,
    /// Paired trials not compared because a side ended in an infra error.
    pub errors: u64,
    /// Turns compared.
    pub turns: u64,
    pub trigger: Trigger,
    pub precision: Proportion,
    pub recall: Proportion,
    pub f1: Option<f64>,
    /// Same tool names, of the turns where both call.
    pub same_tool: Proportion,
    /// Equal arguments, of the same-tool turns.
    pub arguments: Proportion,
    /// The same decision (answer, ask, refuse), of the turns where neither side calls.
    pub same_decision: Proportion,
    /// Valid calls of all structured calls, per side; `None` without the suite's tools file.
    pub schema_ref: Option<Proportion>,
    pub schema_cand: Option<Proportion>,
    /// Turns where trigger, tools, arguments and decision all agree.
    pub agreement: Proportion,
}

/// How a turn disagrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DisagreeKind {
    /// REF calls, CAND does not.
    MissedCall,
    /// CAND calls, REF does not.
    ExtraCall,
    /// Both call, other tools.
    OtherTool,
    /// Same tools, other arguments.
    OtherArguments,
    /// Neither calls, but one answers where the other asks or refuses.
    OtherDecision,
}

impl DisagreeKind {
    pub fn label(self) -> &'static str {
        match self {
            DisagreeKind::MissedCall => "missed call",
            DisagreeKind::ExtraCall => "extra call",
            DisagreeKind::OtherTool => "other tool",
            DisagreeKind::OtherArguments => "other arguments",
            DisagreeKind::OtherDecision => "other decision",
        }
    }
}

/// One disagreeing turn with both answers (as received, unescaped: renderers escape).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disagreement {
    pub ref_target: String,
    pub target: String,
    pub suite: String,
    pub case: String,
    pub prompt: String,
    pub variant: String,
    pub repeat: u32,
    pub turn: u32,
    pub kind: DisagreeKind,
    pub reference: String,
    pub candidate: String,
}

/// The whole comparison (what `agree.json` holds).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    pub schema_version: u32,
    pub reference: RunLabel,
    pub candidate: RunLabel,
    /// How targets were paired: `single reference` or `by name`.
    pub target_rule: String,
    pub rows: Vec<Row>,
    pub disagreements: Vec<Disagreement>,
    /// Trial ids (without target) recorded on one side only.
    pub only_reference: Vec<String>,
    pub only_candidate: Vec<String>,
    /// `suite/case` whose input hash differs between the runs: another question, not compared.
    pub changed_input: Vec<String>,
    /// Paired turns present on one side only (a conversation cut short).
    pub unpaired_turns: u64,
    /// Things to know about the inputs (torn lines, missing tools files).
    pub notes: Vec<String>,
}

impl Agreement {
    /// Paired trials compared, over all rows.
    pub fn compared_trials(&self) -> u64 {
        self.rows.iter().map(|r| r.trials).sum()
    }
}

/// Pairs CAND targets with REF targets. One REF target is the truth for every CAND target;
/// several pair by name, and then every CAND target must have its namesake.
fn target_map(
    reference: &[Trial],
    cand: &[Trial],
) -> Result<(BTreeMap<Sym, Sym>, &'static str), String> {
    let names =
        |ts: &[Trial]| -> BTreeSet<Sym> { ts.iter().map(|t| t.key.target.clone()).collect() };
    let (r, c) = (names(reference), names(cand));
    if r.is_empty() || c.is_empty() {
        return Err("no trials to pair: a run has no recorded responses".into());
    }
    if r.len() == 1 {
        let only = r.into_iter().next().expect("one");
        return Ok((
            c.into_iter().map(|t| (t, only.clone())).collect(),
            "single reference",
        ));
    }
    let missing: Vec<&str> = c
        .iter()
        .filter(|t| !r.contains(*t))
        .map(|t| t.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "ambiguous targets: REF has several targets ({}) and CAND's {} has no namesake among them; give REF with one target, or runs whose targets have the same names",
            join(r.iter().map(|t| t.as_str())),
            join(missing.into_iter())
        ));
    }
    Ok((c.into_iter().map(|t| (t.clone(), t)).collect(), "by name"))
}

fn join<'a>(it: impl Iterator<Item = &'a str>) -> String {
    it.map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}

/// A trial's pairing key (everything but the target) with its REF target.
type PairKey = (Sym, Sym, Sym, Sym, Sym, u32);

fn pair_key(ref_target: &Sym, k: &TrialKey) -> PairKey {
    (
        ref_target.clone(),
        k.suite.clone(),
        k.case.clone(),
        k.prompt.clone(),
        k.variant.clone(),
        k.repeat,
    )
}

fn short_id(k: &TrialKey) -> String {
    format!(
        "{}/{}/{}/{}/{}",
        k.suite, k.case, k.prompt, k.variant, k.repeat
    )
}

/// Compares CAND with REF. `Err` is bad input (ambiguous targets, nothing paired).
pub fn agree(
    reference: (RunLabel, &[Trial]),
    candidate: (RunLabel, &[Trial]),
    tools: &SuiteTools,
) -> Result<Agreement, String> {
    let (map, rule) = target_map(reference.1, candidate.1)?;
    let by_key: BTreeMap<PairKey, &Trial> = reference
        .1
        .iter()
        .map(|t| (pair_key(&t.key.target, &t.key), t))
        .collect();
    let mut acc = Accumulator::default();
    let mut seen: BTreeSet<PairKey> = BTreeSet::new();
    for c in candidate.1 {
        let rt = &map[&c.key.target];
        let pk = pair_key(rt, &c.key);
        match by_key.get(&pk) {
            Some(r) => {
                seen.insert(pk);
                acc.pair(r, c, tools);
            }
            None => acc
                .only_cand
                .push(format!("{} {}", c.key.target, short_id(&c.key))),
        }
    }
    // A REF trial is unpaired when no CAND target it is the truth for recorded it.
    let ref_targets: BTreeSet<&Sym> = map.values().collect();
    let mut only_ref: Vec<String> = by_key
        .iter()
        .filter(|(k, _)| !seen.contains(*k) && ref_targets.contains(&k.0))
        .map(|(_, t)| format!("{} {}", t.key.target, short_id(&t.key)))
        .collect();
    only_ref.sort();
    let mut ag = acc.finish(reference.0, candidate.0, rule, tools);
    ag.only_reference = only_ref;
    if ag.compared_trials() == 0 && ag.rows.iter().all(|r| r.errors == 0) {
        return Err(format!(
            "no trial of CAND pairs with one of REF (same suite, case, prompt, variant and repeat{}); these are not runs of the same cases",
            if ag.changed_input.is_empty() { "" } else { ", same case input" }
        ));
    }
    Ok(ag)
}

type RowKey = (String, String, String, String);

#[derive(Default)]
struct RowAcc {
    trials: u64,
    errors: u64,
    turns: u64,
    trigger: Trigger,
    same: u64,
    args_ok: u64,
    /// (same decision, turns where neither calls).
    decision: (u64, u64),
    agree: u64,
    schema_ref: (u64, u64),
    schema_cand: (u64, u64),
}

#[derive(Default)]
struct Accumulator {
    rows: BTreeMap<RowKey, RowAcc>,
    disagreements: Vec<Disagreement>,
    only_cand: Vec<String>,
    changed: BTreeSet<String>,
    unpaired_turns: u64,
}

impl Accumulator {
    fn pair(&mut self, r: &Trial, c: &Trial, tools: &SuiteTools) {
        if let (Some(a), Some(b)) = (&r.input_hash, &c.input_hash) {
            if a != b {
                self.changed
                    .insert(format!("{}/{}", c.key.suite, c.key.case));
                return;
            }
        }
        let row_key = (
            r.key.target.to_string(),
            c.key.target.to_string(),
            c.key.suite.to_string(),
            c.key.variant.to_string(),
        );
        let row = self.rows.entry(row_key).or_default();
        if r.error.is_some() || c.error.is_some() {
            row.errors += 1;
            return;
        }
        row.trials += 1;
        let tools = tools.get(c.key.suite.as_str());
        for rt in &r.turns {
            let Some(ct) = c.turns.iter().find(|t| t.turn == rt.turn) else {
                self.unpaired_turns += 1;
                continue;
            };
            row.turns += 1;
            if let Some(ts) = tools {
                add_schema(&mut row.schema_ref, ts, &rt.calls);
                add_schema(&mut row.schema_cand, ts, &ct.calls);
            }
            match judge_turn(rt, ct) {
                None => row.agree += 1,
                Some(kind) => self.disagreements.push(Disagreement {
                    ref_target: r.key.target.to_string(),
                    target: c.key.target.to_string(),
                    suite: c.key.suite.to_string(),
                    case: c.key.case.to_string(),
                    prompt: c.key.prompt.to_string(),
                    variant: c.key.variant.to_string(),
                    repeat: c.key.repeat,
                    turn: rt.turn,
                    kind,
                    reference: answer_text(rt),
                    candidate: answer_text(ct),
                }),
            }
            count_turn(row, rt, ct);
        }
        self.unpaired_turns += c
            .turns
            .iter()
            .filter(|t| !r.turns.iter().any(|x| x.turn == t.turn))
            .count() as u64;
    }

    fn finish(
        mut self,
        reference: RunLabel,
        candidate: RunLabel,
        rule: &str,
        tools: &SuiteTools,
    ) -> Agreement {
        let mut notes = Vec::new();
        let no_tools: BTreeSet<&str> = self
            .rows
            .keys()
            .map(|k| k.2.as_str())
            .filter(|s| !tools.contains_key(*s))
            .collect();
        if !no_tools.is_empty() {
            notes.push(format!(
                "no schema validity for {}: the suite file (and its tools file) was not loaded",
                join(no_tools.into_iter())
            ));
        }
        let rows = self
            .rows
            .into_iter()
            .map(|((ref_target, target, suite, variant), a)| {
                let has_tools = tools.contains_key(&suite);
                let schema = |(ok, n): (u64, u64)| has_tools.then(|| Proportion::new(ok, n));
                Row {
                    precision: a.trigger.precision(),
                    recall: a.trigger.recall(),
                    f1: a.trigger.f1(),
                    same_tool: Proportion::new(a.same, a.trigger.tp),
                    arguments: Proportion::new(a.args_ok, a.same),
                    same_decision: Proportion::new(a.decision.0, a.decision.1),
                    schema_ref: schema(a.schema_ref),
                    schema_cand: schema(a.schema_cand),
                    agreement: Proportion::new(a.agree, a.turns),
                    trigger: a.trigger,
                    ref_target,
                    target,
                    suite,
                    variant,
                    trials: a.trials,
                    errors: a.errors,
                    turns: a.turns,
                }
            })
            .collect();
        self.disagreements.sort_by(|a, b| {
            (
                &a.target, &a.suite, &a.case, &a.prompt, &a.variant, a.repeat, a.turn,
            )
                .cmp(&(
                    &b.target, &b.suite, &b.case, &b.prompt, &b.variant, b.repeat, b.turn,
                ))
        });
        self.only_cand.sort();
        Agreement {
            schema_version: AGREE_SCHEMA_VERSION,
            reference,
            candidate,
            target_rule: rule.to_string(),
            rows,
            disagreements: self.disagreements,
            only_reference: Vec::new(),
            only_candidate: self.only_cand,
            changed_input: self.changed.into_iter().collect(),
            unpaired_turns: self.unpaired_turns,
            notes,
        }
    }
}

fn count_turn(row: &mut RowAcc, r: &TurnAnswer, c: &TurnAnswer) {
    match (r.calls.is_empty(), c.calls.is_empty()) {
        (false, false) => {
            row.trigger.tp += 1;
            if same_tools(&r.calls, &c.calls) {
                row.same += 1;
                if same_arguments(&r.calls, &c.calls) {
                    row.args_ok += 1;
                }
            }
        }
        (true, false) => row.trigger.fp += 1,
        (false, true) => row.trigger.fn_ += 1,
        (true, true) => {
            row.trigger.tn += 1;
            row.decision.1 += 1;
            row.decision.0 += u64::from(r.decision == c.decision);
        }
    }
}

/// `None` when the turns agree, else how they differ first.
fn judge_turn(r: &TurnAnswer, c: &TurnAnswer) -> Option<DisagreeKind> {
    match (r.calls.is_empty(), c.calls.is_empty()) {
        (true, true) if r.decision != c.decision => Some(DisagreeKind::OtherDecision),
        (true, true) => None,
        (false, true) => Some(DisagreeKind::MissedCall),
        (true, false) => Some(DisagreeKind::ExtraCall),
        (false, false) if !same_tools(&r.calls, &c.calls) => Some(DisagreeKind::OtherTool),
        (false, false) if !same_arguments(&r.calls, &c.calls) => Some(DisagreeKind::OtherArguments),
        (false, false) => None,
    }
}

/// The same multiset of tool names (parallel calls in any order).
fn same_tools(r: &[NormCall], c: &[NormCall]) -> bool {
    fn names(cs: &[NormCall]) -> Vec<&str> {
        let mut v: Vec<&str> = cs.iter().map(|c| c.name.as_str()).collect();
        v.sort_unstable();
        v
    }
    names(r) == names(c)
}

/// Every REF call pairs one to one with a CAND call of the same tool and equal arguments,
/// using the graders' assignment (cost 0 equal, 1 same tool, 2 another tool).
fn same_arguments(r: &[NormCall], c: &[NormCall]) -> bool {
    if r.len() != c.len() {
        return false;
    }
    let costs: Vec<Vec<u32>> = r
        .iter()
        .map(|a| {
            c.iter()
                .map(|b| match (a.name == b.name, calls_agree(a, b)) {
                    (true, true) => 0,
                    (true, false) => 1,
                    (false, _) => 2,
                })
                .collect()
        })
        .collect();
    let pairs = toolgate_grade::one_to_one(&costs, c.len());
    pairs
        .iter()
        .enumerate()
        .all(|(i, j)| j.is_some_and(|j| costs[i][j] == 0))
}

/// Decoded arguments agree by value; two undecodable ones only when received identically.
fn calls_agree(a: &NormCall, b: &NormCall) -> bool {
    match (&a.args, &b.args) {
        (Ok(x), Ok(y)) => values_agree(x, y),
        (Err(_), Err(_)) => a.raw == b.raw,
        _ => false,
    }
}

/// `equals_ci` for strings (NFC, case, whitespace), numbers by value (`2 == 2.0`), arrays in
/// order, objects by key with null members the same as absent ones.
pub fn values_agree(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x == y || fold(x) == fold(y),
        (Value::Number(_), Value::Number(_)) => toolgate_grade::matchers::values_equal(a, b),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_agree(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            let present =
                |o: &serde_json::Map<String, Value>| o.iter().filter(|(_, v)| !v.is_null()).count();
            present(x) == present(y)
                && x.iter()
                    .filter(|(_, v)| !v.is_null())
                    .all(|(k, p)| y.get(k).is_some_and(|q| values_agree(p, q)))
        }
        _ => a == b,
    }
}

/// Counts one side's calls into (valid, total) against the suite's tools.
fn add_schema(acc: &mut (u64, u64), tools: &ToolSet, calls: &[NormCall]) {
    for c in calls {
        acc.1 += 1;
        let valid = match (&c.args, tools.get(&c.name)) {
            (Ok(args), Some(t)) => t.schema_errors(args).is_empty(),
            _ => false,
        };
        acc.0 += u64::from(valid);
    }
}

/// An answer as one line: `name({"a":1}), name2({})`, or `text: …`, or `(no answer)`.
pub fn answer_text(t: &TurnAnswer) -> String {
    if t.calls.is_empty() {
        return match &t.text {
            Some(s) => format!("text: {s}"),
            None => "(no call, no text)".to_string(),
        };
    }
    t.calls
        .iter()
        .map(|c| {
            let args = match &c.args {
                Ok(v) => v.to_string(),
                Err(_) => format!("<not JSON: {}>", normalize::clip(&raw_text(&c.raw), 80)),
            };
            format!("{}({})", c.name, normalize::clip(&args, 160))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn raw_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// Rows under a threshold: `--min-trigger-f1` on the trigger F1 (a row where neither side
/// ever calls meets it), `--min-schema-validity` on CAND's schema validity (a row whose CAND
/// made no call meets it). `Err` when a schema threshold is asked for a row without tools.
pub fn threshold_failures(
    ag: &Agreement,
    min_f1: Option<f64>,
    min_schema: Option<f64>,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for r in &ag.rows {
        let name = format!(
            "{} → {} · {} · {}",
            r.ref_target, r.target, r.suite, r.variant
        );
        if let (Some(min), Some(f1)) = (min_f1, r.f1) {
            if f1 < min {
                out.push(format!("{name}: trigger F1 {f1:.3} < {min}"));
            }
        }
        if let Some(min) = min_schema {
            let Some(p) = &r.schema_cand else {
                return Err(format!(
                    "--min-schema-validity: no schema validity for {name} (its suite file is not here; run from the folder the runs started in)"
                ));
            };
            if let Some(v) = p.value.filter(|v| *v < min) {
                out.push(format!(
                    "{name}: CAND schema validity {v:.3} ({}/{}) < {min}",
                    p.successes, p.n
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str, args: Value) -> NormCall {
        NormCall {
            name: name.into(),
            args: normalize::decode_arguments(&args),
            raw: args,
        }
    }

    #[test]
    fn arguments_agree_after_equals_ci_folding_and_by_number_value() {
        assert!(values_agree(
            &json!({"name": "  ARUN\tKumar", "n": 2, "x": null}),
            &json!({"name": "arun kumar", "n": 2.0})
        ));
        assert!(!values_agree(&json!({"n": 2}), &json!({"n": "2"})));
        assert!(!values_agree(&json!({"a": [1, 2]}), &json!({"a": [2, 1]})));
        // NFC: a precomposed é equals e + combining acute.
        assert!(values_agree(&json!("caf\u{e9}"), &json!("cafe\u{301}")));
    }

    #[test]
    fn parallel_calls_agree_in_any_order_and_double_encoded_arguments_decode() {
        let r = [
            call("a", json!("{\"q\":\"x\"}")),
            call("b", json!({"n": 1})),
        ];
        let c = [
            call("b", json!("\"{\\\"n\\\":1.0}\"")),
            call("a", json!({"q": "X"})),
        ];
        assert!(same_tools(&r, &c) && same_arguments(&r, &c));
        let c2 = [call("b", json!({"n": 2})), call("a", json!({"q": "x"}))];
        assert!(same_tools(&r, &c2) && !same_arguments(&r, &c2));
        assert!(!same_tools(&r, &c2[..1]));
    }

    #[test]
    fn trigger_f1_is_undefined_without_any_call() {
        assert_eq!(
            Trigger {
                tn: 3,
                ..Default::default()
            }
            .f1(),
            None
        );
        let t = Trigger {
            tp: 2,
            fp: 1,
            fn_: 1,
            tn: 0,
        };
        assert_eq!(t.f1(), Some(4.0 / 6.0));
    }
}
