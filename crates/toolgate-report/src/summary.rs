//! Aggregation of one run into a [`Summary`]: the data behind every report, and, serialised,
//! the `report.json` schema (documented in `docs/report-json.md`).

use crate::run::{ResponseMeta, RunData, TurnMeta};
use crate::stats::{pass_at_k, pass_hat_k, Dist, Proportion};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use toolgate_core::record::{
    AnswerClass, ArgSchema, GradeRecord, PromptInfo, SuiteInfo, TargetInfo, TrialKey, Verdict,
};
use toolgate_core::Sym;

/// Version of the `report.json` layout. Bumped on any breaking change (a field removed,
/// renamed or retyped); adding fields does not bump it.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole run, aggregated. Serialised as `report.json`.
///
/// - `schema_version`: [`SCHEMA_VERSION`].
/// - `run`: run facts (targets, versions, hashes, completeness, file notes).
/// - `totals`: pass/fail/error counts over every judged trial of the run.
/// - `groups`: one row per target × suite × prompt × variant, with accuracy, pass@k, flaky
///   cases, failure kinds, per-tool accuracy and the confusion matrix (tool suites).
/// - `tools`: accuracy per expected tool over the whole run.
/// - `failure_kinds` / `error_kinds`: counts over the whole run, most frequent first.
/// - `extraction`: precision/recall/F1 per extraction group, micro and macro.
/// - `latency`: TTFT, TTFT-content, decode tok/s, E2E distributions per target × variant,
///   per target × category, and TTFT per turn index for multi-turn cases.
/// - `cases`: one row per graded trial.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub schema_version: u32,
    pub run: RunFacts,
    pub totals: Counts,
    pub groups: Vec<GroupSummary>,
    pub tools: Vec<ToolAccuracy>,
    /// Per tool and argument: hallucinated, missing, wrong-type and value rates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<ArgRates>,
    pub failure_kinds: Vec<KindCount>,
    pub error_kinds: Vec<KindCount>,
    pub extraction: Vec<ExtractionSummary>,
    pub latency: LatencySummary,
    /// Graded trials listed below, key order; at most [`MAX_LISTED_CASES`], fails and
    /// errors first (every trial is in `results.csv`, `junit.xml` and `grades.jsonl`).
    pub cases: Vec<CaseRow>,
    /// Graded trials in all, and how many of them `cases` leaves out.
    pub cases_total: u64,
    pub cases_omitted: u64,
    /// Facts about servers toolgate managed (absent for runs without any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<crate::server::ServerSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunFacts {
    pub run_id: String,
    pub dir: String,
    pub toolgate_version: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub complete: bool,
    pub incomplete_reasons: Vec<String>,
    /// Notes about the run files themselves (torn last line, missing file, duplicates).
    pub notes: Vec<String>,
    pub targets: Vec<TargetInfo>,
    pub suites: Vec<SuiteInfo>,
    pub prompts: Vec<PromptInfo>,
    pub variants: Vec<String>,
    pub repeats: u32,
    pub planned_trials: u64,
    /// Non-warmup lines in responses.jsonl.
    pub recorded_trials: u64,
    /// Non-warmup lines in grades.jsonl.
    pub graded_trials: u64,
    pub warmup_trials: u64,
    /// Distinct grader versions seen in grades.jsonl.
    pub grader_versions: Vec<String>,
}

/// Outcome counts. `judged = passed + failed`; errors are never in the denominator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub judged: u64,
    pub errors: u64,
    /// passed / judged with its 95% Wilson interval.
    pub accuracy: Proportion,
    /// Trials of record-only cases (no `expect`): answered, never judged.
    #[serde(skip_serializing_if = "is_zero")]
    pub recorded: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Counts {
    pub fn from_verdicts<'a>(verdicts: impl IntoIterator<Item = &'a Verdict>) -> Counts {
        let (mut p, mut f, mut e, mut r) = (0, 0, 0, 0);
        for v in verdicts {
            match v {
                Verdict::Pass => p += 1,
                Verdict::Fail => f += 1,
                Verdict::Error => e += 1,
                Verdict::Recorded => r += 1,
            }
        }
        Counts {
            passed: p,
            failed: f,
            judged: p + f,
            errors: e,
            accuracy: Proportion::new(p, p + f),
            recorded: r,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupSummary {
    pub target: String,
    pub suite: String,
    pub prompt: String,
    pub variant: String,
    /// Case kind of the suite (`tool_call`, `extraction`, `chat`, `conversation`).
    pub kind: String,
    pub cases: u64,
    #[serde(flatten)]
    pub counts: Counts,
    /// With repeats > 1: pass@k and pass^k over the cases with at least k judged repeats.
    pub repeats: Option<RepeatStats>,
    /// Case ids that both passed and failed across repeats.
    pub flaky: Vec<String>,
    pub failure_kinds: Vec<KindCount>,
    pub per_tool: Vec<ToolAccuracy>,
    pub confusion: Option<Confusion>,
    /// When to call: expected × actual decisions, macro-F1, hallucination and over/under-call rates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decisions: Option<crate::decisions::Decisions>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RepeatStats {
    pub k: u32,
    /// Cases that contributed (at least k judged repeats).
    pub cases: u64,
    /// Mean over cases of the unbiased pass@k estimator.
    pub pass_at_k: f64,
    /// Mean over cases of the unbiased pass^k estimator (all k repeats pass).
    pub pass_hat_k: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindCount {
    pub kind: String,
    pub count: u64,
}

/// Accuracy on the trials that expected a tool (a case expecting two tools counts for both).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolAccuracy {
    pub tool: String,
    pub accuracy: Proportion,
    /// Ids of failing trials, for gate reasons and drill-down.
    pub failed: Vec<String>,
}

/// Expected tool (rows) × what the model did (columns). Rows are the first expected tool, or
/// `(no call)` for cases that expected none. Columns are the first structured call's name,
/// then the fixed classes `none` (answered in text), `malformed`, `call_in_content`, and
/// `empty` (only when it occurs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    /// `counts[row][column]`.
    pub counts: Vec<Vec<u64>>,
}

pub const NO_CALL_ROW: &str = "(no call)";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseRow {
    /// The trial id: `target/suite/case/prompt/variant/repeat`.
    pub id: String,
    pub key: TrialKey,
    pub kind: String,
    pub category: Option<String>,
    pub verdict: Verdict,
    /// Primary failure kind (fail) or infra error kind (error).
    pub failure: Option<String>,
    pub diagnosis: String,
    /// Expected tools, comma-separated (`-` when the case expected none or is not a tool case).
    pub expected: String,
    pub actual: String,
    pub answer: Option<AnswerClass>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    /// Last turn's TTFT and summed E2E over turns, when recorded.
    pub ttft_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
    pub completion_tokens: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExtractionSummary {
    pub target: String,
    pub suite: String,
    pub prompt: String,
    pub variant: String,
    /// Judged trials that carried scores.
    pub scored: u64,
    /// Judged extraction trials without scores (no JSON found): they are not in P/R/F1.
    pub unscored: u64,
    pub micro: Prf,
    pub macro_avg: Prf,
    /// Gold entities missed, by name, most frequent first.
    pub missed: Vec<KindCount>,
    /// Predicted entities that were not in the gold list, by name.
    pub spurious: Vec<KindCount>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Prf {
    /// Conventions for empty denominators: no predictions and nothing to find is perfect;
    /// no predictions with something to find is precision 0.
    pub fn from_counts(tp: u64, fp: u64, fneg: u64) -> Prf {
        let precision = if tp + fp == 0 {
            if fneg == 0 {
                1.0
            } else {
                0.0
            }
        } else {
            tp as f64 / (tp + fp) as f64
        };
        let recall = if tp + fneg == 0 {
            1.0
        } else {
            tp as f64 / (tp + fneg) as f64
        };
        Prf {
            precision,
            recall,
            f1: f1(precision, recall),
        }
    }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Per target × variant.
    pub by_variant: Vec<LatencyRow>,
    /// Per target × category (chat cases; other kinds are grouped under their kind).
    pub by_category: Vec<LatencyRow>,
    /// Multi-turn TTFT per target × variant × turn index (conversation cases).
    pub by_turn: Vec<TurnLatency>,
    /// Aggregate output tok/s and requests/s per target × variant.
    pub throughput: Vec<crate::latency::Throughput>,
    /// Multi-turn TTFT per turn with prompt tokens and the slope per 1k prompt tokens.
    pub scaling: Vec<crate::latency::ConversationScaling>,
    /// Trials left out: warmup runs and infra errors.
    pub excluded_warmup: u64,
    pub excluded_errors: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyRow {
    pub target: String,
    /// The variant or the category.
    pub group: String,
    /// Requests measured (turns of non-warmup, non-error trials).
    pub requests: u64,
    pub ttft_ms: Option<Dist>,
    pub ttft_content_ms: Option<Dist>,
    pub decode_tps: Option<Dist>,
    pub e2e_ms: Option<Dist>,
    /// Per request: (last token − first token) / (completion_tokens − 1).
    pub tpot_ms: Option<Dist>,
    /// Gaps between token-bearing chunks, pooled over requests (chunk level, not token level).
    pub itl_ms: Option<Dist>,
    /// The server's own decode rate (llama.cpp `timings.predicted_per_second`).
    pub server_decode_tps: Option<Dist>,
    /// The server's own prompt time (llama.cpp `timings.prompt_ms`), beside our TTFT.
    pub server_prompt_ms: Option<Dist>,
    /// Prefill throughput per request: prompt tokens ÷ TTFT.
    pub prefill_tps: Option<Dist>,
    /// The server's own prefill rate (llama.cpp `timings.prompt_per_second`).
    pub server_prefill_tps: Option<Dist>,
    /// Mean prompt and generated tokens per request (`usage`), for labelling throughput
    /// rows (running means: no per-request list is kept for them).
    pub prompt_tokens_mean: Option<f64>,
    pub completion_tokens_mean: Option<f64>,
    /// Requests without a TTFT, by reason (they are not in `ttft_ms`, never counted as 0).
    pub ttft_missing: Vec<KindCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TurnLatency {
    pub target: String,
    pub variant: String,
    pub turn: u32,
    pub ttft_ms: Option<Dist>,
}

/// Most trial rows a report lists: beyond this a report would grow with the run, so fails
/// and errors are listed first and the rest is left to `results.csv` and `grades.jsonl`.
pub const MAX_LISTED_CASES: usize = 5000;

/// The trials a report lists: all of them up to `max`, else every non-pass trial that fits
/// and then passes, back in key order. `grades` must be in key order.
#[cfg(test)]
pub(crate) fn listed<'a>(grades: &[&'a GradeRecord], max: usize) -> Vec<&'a GradeRecord> {
    listed_indices(grades, max)
        .into_iter()
        .map(|i| grades[i])
        .collect()
}

/// Positions in `grades` of the trials [`listed`] keeps, in key order.
fn listed_indices(grades: &[&GradeRecord], max: usize) -> Vec<usize> {
    if grades.len() <= max {
        return (0..grades.len()).collect();
    }
    let mut keep: Vec<usize> = (0..grades.len())
        .filter(|&i| grades[i].verdict != Verdict::Pass)
        .take(max)
        .collect();
    let room = max - keep.len();
    keep.extend(
        (0..grades.len())
            .filter(|&i| grades[i].verdict == Verdict::Pass)
            .take(room),
    );
    keep.sort_unstable();
    keep
}

/// The graded, non-warmup trials of a run in key order, each beside its response: the last
/// non-warmup response with the same key. Built once and shared by the summary and the
/// per-trial renderers (one sort, no per-trial map).
pub(crate) struct Trials<'a> {
    pub grades: Vec<&'a GradeRecord>,
    /// `responses[i]` belongs to `grades[i]`.
    pub responses: Vec<Option<&'a ResponseMeta>>,
}

impl<'a> Trials<'a> {
    pub(crate) fn new(run: &'a RunData) -> Trials<'a> {
        let (gs, rs) = (&run.grades, &run.responses);
        let mut order: Vec<u32> = (0..gs.len() as u32)
            .filter(|&i| !gs[i as usize].warmup)
            .collect();
        // Stable: equal keys keep file order.
        order.sort_by(|&a, &b| gs[a as usize].key.cmp(&gs[b as usize].key));
        // A run graded from its own responses has line i of each file for the same trial;
        // then a grade's response is the line beside it (the last such line for a key that
        // repeats). Otherwise join the two sorted lists.
        let aligned = gs.len() == rs.len()
            && gs
                .iter()
                .zip(rs)
                .all(|(g, r)| g.warmup == r.warmup && g.key == r.key);
        let mut responses: Vec<Option<&ResponseMeta>> = Vec::with_capacity(order.len());
        if aligned {
            let mut i = 0;
            while i < order.len() {
                let mut end = i + 1;
                while end < order.len() && gs[order[end] as usize].key == gs[order[i] as usize].key
                {
                    end += 1;
                }
                let r = &rs[order[end - 1] as usize];
                responses.extend(std::iter::repeat_n(Some(r), end - i));
                i = end;
            }
        } else {
            let mut by_key: Vec<u32> = (0..rs.len() as u32)
                .filter(|&i| !rs[i as usize].warmup)
                .collect();
            by_key.sort_by(|&a, &b| rs[a as usize].key.cmp(&rs[b as usize].key));
            let mut j = 0;
            let mut prev: Option<(&TrialKey, Option<&ResponseMeta>)> = None;
            for &gi in &order {
                let key = &gs[gi as usize].key;
                if let Some((k, r)) = prev {
                    if k == key {
                        responses.push(r);
                        continue;
                    }
                }
                while j < by_key.len() && rs[by_key[j] as usize].key < *key {
                    j += 1;
                }
                let mut found = None;
                while j < by_key.len() && rs[by_key[j] as usize].key == *key {
                    found = Some(&rs[by_key[j] as usize]);
                    j += 1;
                }
                responses.push(found);
                prev = Some((key, found));
            }
        }
        Trials {
            grades: order.into_iter().map(|i| &gs[i as usize]).collect(),
            responses,
        }
    }

    /// The response of the trial with this key (the same for every grade of the key).
    pub(crate) fn response(&self, key: &TrialKey) -> Option<&'a ResponseMeta> {
        let i = self.grades.partition_point(|g| g.key < *key);
        match self.grades.get(i) {
            Some(g) if g.key == *key => self.responses[i],
            _ => None,
        }
    }
}

/// Aggregates a run. Pure: the same run gives the same summary.
pub fn summarize(run: &RunData) -> Summary {
    summarize_with(run, &Trials::new(run))
}

/// [`summarize`] over an already joined run.
pub(crate) fn summarize_with(run: &RunData, trials: &Trials<'_>) -> Summary {
    let grades = &trials.grades;

    type GroupKey<'k> = (&'k str, &'k str, &'k str, &'k str);
    let mut by_group: BTreeMap<GroupKey<'_>, Vec<&GradeRecord>> = BTreeMap::new();
    for g in grades {
        let k = &g.key;
        by_group
            .entry((
                k.target.as_str(),
                k.suite.as_str(),
                k.prompt.as_str(),
                k.variant.as_str(),
            ))
            .or_default()
            .push(g);
    }

    let repeats = run.manifest.repeats;
    let groups: Vec<GroupSummary> = by_group
        .iter()
        .map(|((target, suite, prompt, variant), gs)| {
            group_summary(target, suite, prompt, variant, gs, repeats)
        })
        .collect();

    let extraction = by_group
        .iter()
        .filter_map(|((t, s, p, v), gs)| extraction_summary(t, s, p, v, gs))
        .collect();

    let cases: Vec<CaseRow> = listed_indices(grades, MAX_LISTED_CASES)
        .into_iter()
        .map(|i| case_row(grades[i], trials.responses[i]))
        .collect();
    let cases_total = grades.len() as u64;
    let cases_omitted = cases_total - cases.len() as u64;

    let grader_versions: BTreeSet<&str> =
        grades.iter().map(|g| g.grader_version.as_str()).collect();
    let m = &run.manifest;
    let facts = RunFacts {
        run_id: m.run_id.clone(),
        dir: run.dir.display().to_string(),
        toolgate_version: m.toolgate_version.clone(),
        started_at: m.started_at.clone(),
        finished_at: m.finished_at.clone(),
        complete: m.complete,
        incomplete_reasons: m.incomplete_reasons.clone(),
        notes: run.notes.clone(),
        targets: m.targets.clone(),
        suites: m.suites.clone(),
        prompts: m.prompts.clone(),
        variants: m.variants.clone(),
        repeats: m.repeats,
        planned_trials: m.planned_trials,
        recorded_trials: run.responses.iter().filter(|r| !r.warmup).count() as u64,
        graded_trials: grades.len() as u64,
        warmup_trials: run.responses.iter().filter(|r| r.warmup).count() as u64,
        grader_versions: grader_versions.into_iter().map(str::to_string).collect(),
    };

    Summary {
        schema_version: SCHEMA_VERSION,
        run: facts,
        totals: Counts::from_verdicts(grades.iter().map(|g| &g.verdict)),
        groups,
        tools: tool_accuracy(grades.iter().copied()),
        arguments: arg_rates(grades.iter().copied()),
        failure_kinds: failure_kinds(grades.iter().copied()),
        error_kinds: count_sorted(
            grades
                .iter()
                .filter(|g| g.verdict == Verdict::Error)
                .map(|g| g.error_kind.map_or("unknown", |k| k.as_str()).to_string()),
        ),
        extraction,
        latency: latency_summary(run),
        servers: crate::server::server_summaries(run),
        cases,
        cases_total,
        cases_omitted,
    }
}

fn group_summary(
    target: &str,
    suite: &str,
    prompt: &str,
    variant: &str,
    gs: &[&GradeRecord],
    repeats: u32,
) -> GroupSummary {
    // Per case: (judged, passed, failed) across repeats.
    let mut per_case: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    for g in gs {
        let e = per_case.entry(g.key.case.as_str()).or_default();
        match g.verdict {
            Verdict::Pass => {
                e.0 += 1;
                e.1 += 1
            }
            Verdict::Fail => {
                e.0 += 1;
                e.2 += 1
            }
            Verdict::Error | Verdict::Recorded => {}
        }
    }
    let flaky = per_case
        .iter()
        .filter(|(_, (_, p, f))| *p > 0 && *f > 0)
        .map(|(c, _)| c.to_string())
        .collect();
    let repeat_stats = (repeats > 1).then(|| {
        let k = u64::from(repeats);
        let mut at = Vec::new();
        let mut hat = Vec::new();
        for (n, c, _) in per_case.values() {
            if let (Some(a), Some(h)) = (pass_at_k(*n, *c, k), pass_hat_k(*n, *c, k)) {
                at.push(a);
                hat.push(h);
            }
        }
        let mean = |v: &[f64]| {
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        RepeatStats {
            k: repeats,
            cases: at.len() as u64,
            pass_at_k: mean(&at),
            pass_hat_k: mean(&hat),
        }
    });
    let kind = gs
        .iter()
        .map(|g| g.kind.as_str())
        .find(|k| !k.is_empty())
        .unwrap_or("")
        .to_string();
    let is_tool = gs.iter().any(is_tool_trial);
    GroupSummary {
        target: target.to_string(),
        suite: suite.to_string(),
        prompt: prompt.to_string(),
        variant: variant.to_string(),
        kind,
        cases: per_case.len() as u64,
        counts: Counts::from_verdicts(gs.iter().map(|g| &g.verdict)),
        repeats: repeat_stats,
        flaky,
        failure_kinds: failure_kinds(gs.iter().copied()),
        per_tool: tool_accuracy(gs.iter().copied()),
        confusion: is_tool.then(|| confusion(gs.iter().copied())),
        decisions: crate::decisions::decisions(gs.iter().copied()),
    }
}

fn is_tool_trial(g: &&GradeRecord) -> bool {
    g.kind == "tool_call" || !g.expected_tools.is_empty()
}

fn failure_kinds<'a>(gs: impl Iterator<Item = &'a GradeRecord>) -> Vec<KindCount> {
    count_sorted(gs.filter(|g| g.verdict == Verdict::Fail).map(|g| {
        g.failure
            .map_or_else(|| "unspecified".to_string(), |k| k.as_str().to_string())
    }))
}

/// Counts, most frequent first, ties by name.
fn count_sorted(items: impl Iterator<Item = String>) -> Vec<KindCount> {
    let mut m: BTreeMap<String, u64> = BTreeMap::new();
    for i in items {
        *m.entry(i).or_default() += 1;
    }
    let mut v: Vec<KindCount> = m
        .into_iter()
        .map(|(kind, count)| KindCount { kind, count })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.kind.cmp(&b.kind)));
    v
}

/// Accuracy per expected tool over judged trials, tools in name order.
pub fn tool_accuracy<'a>(gs: impl Iterator<Item = &'a GradeRecord>) -> Vec<ToolAccuracy> {
    let mut m: BTreeMap<&str, (u64, u64, Vec<String>)> = BTreeMap::new();
    let mut tools: Vec<&str> = Vec::new();
    for g in gs {
        if g.verdict == Verdict::Error {
            continue;
        }
        // Each distinct expected tool once, as a set would.
        tools.clear();
        tools.extend(g.expected_tools.iter().map(Sym::as_str));
        tools.sort_unstable();
        tools.dedup();
        for &t in &tools {
            let e = m.entry(t).or_default();
            e.1 += 1;
            if g.verdict == Verdict::Pass {
                e.0 += 1;
            } else {
                e.2.push(g.key.id());
            }
        }
    }
    m.into_iter()
        .map(|(tool, (p, n, failed))| ToolAccuracy {
            tool: tool.to_string(),
            accuracy: Proportion::new(p, n),
            failed,
        })
        .collect()
}

/// One argument of one tool, per target, across the run's judged trials (grades' `args`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArgRates {
    /// Each target's own rates: a run comparing two models must not pool them.
    pub target: String,
    /// Tools are per suite (two suites may have different tools of one name).
    pub suite: String,
    pub tool: String,
    pub arg: String,
    /// `false` for an argument the tool's schema does not have (a hallucinated parameter).
    pub in_schema: bool,
    /// Structured calls to the tool.
    pub calls: u64,
    /// Calls that gave the argument.
    pub given: u64,
    /// Hallucinated-parameter rate: calls giving this argument although the schema has no
    /// such property, over calls (only for arguments not in the schema).
    pub hallucinated_rate: Option<f64>,
    /// Required and left out, over calls.
    pub missing: u64,
    pub missing_rate: Option<f64>,
    /// Given with a type the schema does not allow, over calls that gave it.
    pub wrong_type: u64,
    pub wrong_type_rate: Option<f64>,
    /// The case's matcher held, over the paired calls that had a matcher for it.
    pub value_accuracy: Proportion,
    /// Everything that went wrong with it: unknown + missing + wrong type + wrong value.
    pub failures: u64,
}

/// Rows for argument names not in a tool's schema, per suite and tool.
pub const MAX_UNKNOWN_ARGS: usize = 10;

/// Argument-level rates per target, suite, tool and argument, from the grades' per-argument
/// checks.
pub fn arg_rates<'a>(gs: impl Iterator<Item = &'a GradeRecord>) -> Vec<ArgRates> {
    #[derive(Default)]
    struct Acc {
        unknown: bool,
        given: u64,
        missing: u64,
        wrong_type: u64,
        checked: u64,
        held: u64,
    }
    // (target, suite) as one key part: the rest of the function is per suite and tool.
    type Where<'a> = (&'a str, &'a str);
    let mut calls: BTreeMap<(Where, &str), u64> = BTreeMap::new();
    let mut m: BTreeMap<(Where, &str, &str), Acc> = BTreeMap::new();
    for g in gs.filter(|g| g.verdict != Verdict::Error) {
        let suite = (g.key.target.as_str(), g.key.suite.as_str());
        for t in &g.actual_tools {
            *calls.entry((suite, t.as_str())).or_default() += 1;
        }
        for a in &g.args {
            let e = m
                .entry((suite, a.tool.as_str(), a.arg.as_str()))
                .or_default();
            match a.schema {
                ArgSchema::Ok => e.given += 1,
                ArgSchema::WrongType => {
                    e.given += 1;
                    e.wrong_type += 1;
                }
                ArgSchema::Unknown => {
                    e.given += 1;
                    e.unknown = true;
                }
                ArgSchema::Missing => e.missing += 1,
                ArgSchema::Absent => {}
            }
            if let Some(ok) = a.value_ok {
                e.checked += 1;
                e.held += u64::from(ok);
            }
        }
    }
    // Names not in the schema come from the model: at most MAX_UNKNOWN_ARGS rows per tool
    // (the most frequent), the rest folded into one row.
    let mut unknown: BTreeMap<(Where, &str), Vec<(&str, u64)>> = BTreeMap::new();
    for ((suite, tool, arg), a) in &m {
        if a.unknown {
            unknown
                .entry((*suite, tool))
                .or_default()
                .push((arg, a.given));
        }
    }
    let mut folded: BTreeMap<(Where, &str), Acc> = BTreeMap::new();
    for ((suite, tool), mut names) in unknown {
        if names.len() <= MAX_UNKNOWN_ARGS {
            continue;
        }
        names.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let rest = folded.entry((suite, tool)).or_default();
        rest.unknown = true;
        for (arg, _) in &names[MAX_UNKNOWN_ARGS..] {
            if let Some(a) = m.remove(&(suite, tool, *arg)) {
                rest.given += a.given;
                rest.checked += a.checked;
                rest.held += a.held;
            }
        }
    }
    let folded_names: Vec<((Where, &str), String, Acc)> = folded
        .into_iter()
        .map(|(k, a)| (k, "(other names not in the schema)".to_string(), a))
        .collect();
    let rate = |k: u64, n: u64| (n > 0).then(|| k as f64 / n as f64);
    m.into_iter()
        .map(|((suite, tool, arg), a)| ((suite, tool), arg.to_string(), a))
        .chain(folded_names)
        .map(|((suite, tool), arg, a)| {
            let n = calls
                .get(&(suite, tool))
                .copied()
                .unwrap_or(0)
                .max(a.given + a.missing);
            let value_accuracy = Proportion::new(a.held, a.checked);
            ArgRates {
                target: suite.0.to_string(),
                suite: suite.1.to_string(),
                tool: tool.to_string(),
                arg,
                in_schema: !a.unknown,
                calls: n,
                given: a.given,
                hallucinated_rate: a.unknown.then(|| rate(a.given, n)).flatten(),
                missing: a.missing,
                missing_rate: if a.unknown { None } else { rate(a.missing, n) },
                wrong_type: a.wrong_type,
                wrong_type_rate: if a.unknown {
                    None
                } else {
                    rate(a.wrong_type, a.given)
                },
                value_accuracy,
                failures: if a.unknown {
                    a.given
                } else {
                    a.missing + a.wrong_type
                } + (a.checked - a.held),
            }
        })
        .collect()
}

/// The column a judged trial lands in.
fn answer_column(g: &GradeRecord) -> &str {
    match g.answer {
        Some(AnswerClass::None) => "none",
        Some(AnswerClass::Malformed) => "malformed",
        Some(AnswerClass::CallInContent) => "call_in_content",
        Some(AnswerClass::Empty) => "empty",
        Some(AnswerClass::Call) | None => g.actual_tools.first().map_or("none", Sym::as_str),
    }
}

const FIXED_COLUMNS: [&str; 3] = ["none", "malformed", "call_in_content"];

fn confusion<'a>(gs: impl Iterator<Item = &'a GradeRecord>) -> Confusion {
    let mut cells: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut rows = BTreeSet::new();
    let mut tool_cols = BTreeSet::new();
    let mut has_empty = false;
    for g in gs.filter(|g| g.verdict != Verdict::Error) {
        let row = g.expected_tools.first().map_or(NO_CALL_ROW, Sym::as_str);
        let col = answer_column(g);
        if col == "empty" {
            has_empty = true;
        } else if !FIXED_COLUMNS.contains(&col) {
            tool_cols.insert(col);
        }
        if row != NO_CALL_ROW {
            // Expected tools get a column even when never called, so the diagonal is visible.
            tool_cols.insert(row);
        }
        rows.insert(row);
        *cells.entry((row, col)).or_default() += 1;
    }
    let mut columns: Vec<String> = tool_cols.into_iter().map(str::to_string).collect();
    columns.extend(FIXED_COLUMNS.iter().map(|s| s.to_string()));
    if has_empty {
        columns.push("empty".into());
    }
    // "(no call)" last: it reads as the odd row out.
    let mut rows: Vec<String> = rows
        .into_iter()
        .filter(|r| *r != NO_CALL_ROW)
        .map(str::to_string)
        .collect();
    if cells.keys().any(|(r, _)| *r == NO_CALL_ROW) {
        rows.push(NO_CALL_ROW.into());
    }
    let counts = rows
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| cells.get(&(r.as_str(), c.as_str())).copied().unwrap_or(0))
                .collect()
        })
        .collect();
    Confusion {
        rows,
        columns,
        counts,
    }
}

fn extraction_summary(
    target: &str,
    suite: &str,
    prompt: &str,
    variant: &str,
    gs: &[&GradeRecord],
) -> Option<ExtractionSummary> {
    let judged: Vec<&&GradeRecord> = gs.iter().filter(|g| g.verdict != Verdict::Error).collect();
    let is_extraction = judged
        .iter()
        .any(|g| g.kind == "extraction" || g.scores.is_some());
    if !is_extraction {
        return None;
    }
    let (mut tp, mut fp, mut fneg) = (0u64, 0u64, 0u64);
    let (mut ps, mut rs, mut fs) = (Vec::new(), Vec::new(), Vec::new());
    let mut missed = Vec::new();
    let mut spurious = Vec::new();
    let mut unscored = 0;
    for g in &judged {
        match &g.scores {
            Some(s) => {
                tp += u64::from(s.true_positives);
                fp += u64::from(s.false_positives);
                fneg += u64::from(s.false_negatives);
                ps.push(s.precision);
                rs.push(s.recall);
                fs.push(s.f1);
                missed.extend(s.missed.iter().cloned());
                spurious.extend(s.spurious.iter().cloned());
            }
            None => unscored += 1,
        }
    }
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    Some(ExtractionSummary {
        target: target.into(),
        suite: suite.into(),
        prompt: prompt.into(),
        variant: variant.into(),
        scored: ps.len() as u64,
        unscored,
        micro: Prf::from_counts(tp, fp, fneg),
        macro_avg: Prf {
            precision: mean(&ps),
            recall: mean(&rs),
            f1: mean(&fs),
        },
        missed: count_sorted(missed.into_iter()),
        spurious: count_sorted(spurious.into_iter()),
    })
}

/// The fields of a [`CaseRow`] that borrow from the grade and its response, for the
/// per-trial renderers (no copies per trial).
pub(crate) struct RowView<'a> {
    pub failure: Option<&'static str>,
    pub expected: Cow<'a, str>,
    pub actual: Cow<'a, str>,
    pub ttft_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
    pub completion_tokens: Option<u64>,
}

impl<'a> RowView<'a> {
    pub(crate) fn new(g: &'a GradeRecord, resp: Option<&ResponseMeta>) -> RowView<'a> {
        fn join(v: &[Sym]) -> Cow<'_, str> {
            match v {
                [] => Cow::Borrowed("-"),
                [one] => Cow::Borrowed(one.as_str()),
                _ => Cow::Owned(v.join(", ")),
            }
        }
        let actual = match g.answer {
            Some(AnswerClass::Call) | None if !g.actual_tools.is_empty() => join(&g.actual_tools),
            Some(a) if g.verdict != Verdict::Error => Cow::Borrowed(answer_label(a)),
            _ => Cow::Borrowed("-"),
        };
        let failure = match g.verdict {
            Verdict::Fail => g.failure.map(|k| k.as_str()),
            Verdict::Error => g.error_kind.map(|k| k.as_str()),
            Verdict::Pass | Verdict::Recorded => None,
        };
        let last = resp.and_then(|r| r.last_turn());
        RowView {
            failure,
            expected: join(&g.expected_tools),
            actual,
            ttft_ms: last.and_then(|t| t.timing.ttft_ms),
            e2e_ms: resp
                .filter(|r| !r.turns.is_empty())
                .map(|r| r.turns.iter().map(|t| t.timing.e2e_ms).sum()),
            completion_tokens: resp.and_then(|r| {
                r.turns
                    .iter()
                    .map(|t| t.timing.completion_tokens)
                    .try_fold(0u64, |acc, c| c.map(|c| acc + c))
            }),
        }
    }
}

fn case_row(g: &GradeRecord, resp: Option<&ResponseMeta>) -> CaseRow {
    let v = RowView::new(g, resp);
    CaseRow {
        id: g.key.id(),
        key: g.key.clone(),
        kind: g.kind.to_string(),
        category: g.category.clone(),
        verdict: g.verdict,
        failure: v.failure.map(str::to_string),
        diagnosis: g.diagnosis.to_string(),
        expected: v.expected.into_owned(),
        actual: v.actual.into_owned(),
        answer: g.answer,
        precision: g.scores.as_ref().map(|s| s.precision),
        recall: g.scores.as_ref().map(|s| s.recall),
        f1: g.scores.as_ref().map(|s| s.f1),
        ttft_ms: v.ttft_ms,
        e2e_ms: v.e2e_ms,
        completion_tokens: v.completion_tokens,
    }
}

pub fn answer_label(a: AnswerClass) -> &'static str {
    match a {
        AnswerClass::Call => "call",
        AnswerClass::None => "none (text)",
        AnswerClass::Malformed => "malformed",
        AnswerClass::CallInContent => "call_in_content",
        AnswerClass::Empty => "empty",
    }
}

/// Decode rate of one turn: the recorded figure, else (tokens − 1) / (last − first token).
pub(crate) fn decode_tps(t: &TurnMeta) -> Option<f64> {
    if let Some(v) = t.timing.decode_tps {
        return Some(v);
    }
    let (ct, first, last) = (
        t.timing.completion_tokens?,
        t.timing.ttft_ms?,
        t.timing.last_token_ms?,
    );
    (ct > 1 && last > first).then(|| (ct - 1) as f64 / ((last - first) / 1000.0))
}

/// Responses that count for latency: not warmup, no infra error.
pub(crate) fn measured(run: &RunData) -> impl Iterator<Item = &ResponseMeta> {
    run.responses
        .iter()
        .filter(|r| !r.warmup && r.error.is_none())
}

struct Acc<'a> {
    requests: u64,
    ttft: Vec<f64>,
    ttft_content: Vec<f64>,
    tps: Vec<f64>,
    e2e: Vec<f64>,
    tpot: Vec<f64>,
    itl: Vec<f64>,
    server_tps: Vec<f64>,
    server_prompt: Vec<f64>,
    prefill: Vec<f64>,
    server_prefill: Vec<f64>,
    /// (sum, count) of prompt and of completion tokens.
    prompt_tokens: (f64, u64),
    completion_tokens: (f64, u64),
    /// Requests without a TTFT by reason (counted, not listed: a non-streaming run has
    /// one per request).
    missing: BTreeMap<&'a str, u64>,
}

fn mean((sum, n): (f64, u64)) -> Option<f64> {
    (n > 0).then(|| sum / n as f64)
}

impl<'a> Acc<'a> {
    fn with_capacity(turns: usize, itl: usize) -> Acc<'a> {
        let v = || Vec::with_capacity(turns);
        Acc {
            requests: 0,
            ttft: v(),
            ttft_content: v(),
            tps: v(),
            e2e: v(),
            tpot: v(),
            itl: Vec::with_capacity(itl),
            server_tps: Vec::new(),
            server_prompt: Vec::new(),
            prefill: Vec::new(),
            server_prefill: Vec::new(),
            prompt_tokens: (0.0, 0),
            completion_tokens: (0.0, 0),
            missing: BTreeMap::new(),
        }
    }

    fn add(&mut self, t: &'a TurnMeta) {
        self.requests += 1;
        self.ttft.extend(t.timing.ttft_ms);
        self.ttft_content.extend(t.timing.ttft_content_ms);
        self.tps.extend(decode_tps(t));
        self.e2e.push(t.timing.e2e_ms);
        self.tpot.extend(crate::latency::tpot_ms(t));
        self.itl.extend_from_slice(&t.timing.itl_ms);
        self.server_tps.extend(crate::latency::server_decode_tps(t));
        self.server_prompt
            .extend(crate::latency::server_prompt_ms(t));
        self.prefill.extend(crate::latency::prefill_tps(t));
        self.server_prefill
            .extend(crate::latency::server_prefill_tps(t));
        for (acc, n) in [
            (&mut self.prompt_tokens, t.timing.prompt_tokens),
            (&mut self.completion_tokens, t.timing.completion_tokens),
        ] {
            if let Some(n) = n {
                acc.0 += n as f64;
                acc.1 += 1;
            }
        }
        if let Some(reason) = crate::latency::missing_reason_str(t) {
            *self.missing.entry(reason).or_default() += 1;
        }
    }
    fn row(self, target: &str, group: &str) -> LatencyRow {
        LatencyRow {
            target: target.into(),
            group: group.into(),
            requests: self.requests,
            ttft_ms: Dist::from_vec(self.ttft),
            ttft_content_ms: Dist::from_vec(self.ttft_content),
            decode_tps: Dist::from_vec(self.tps),
            e2e_ms: Dist::from_vec(self.e2e),
            tpot_ms: Dist::from_vec(self.tpot),
            itl_ms: Dist::from_vec(self.itl),
            server_decode_tps: Dist::from_vec(self.server_tps),
            server_prompt_ms: Dist::from_vec(self.server_prompt),
            prefill_tps: Dist::from_vec(self.prefill),
            server_prefill_tps: Dist::from_vec(self.server_prefill),
            prompt_tokens_mean: mean(self.prompt_tokens),
            completion_tokens_mean: mean(self.completion_tokens),
            ttft_missing: crate::latency::count_sorted_map(&self.missing),
        }
    }
}

/// Latency rows per group (`group` names a measured response's row), one grouping at a
/// time and each group's values sized before they are gathered, so a 100,000-trial run
/// holds one exact set of values, not two over-allocated ones.
fn latency_rows<'a>(
    run: &'a RunData,
    group: impl Fn(&'a ResponseMeta) -> (&'a str, &'a str),
) -> Vec<LatencyRow> {
    let mut sizes: BTreeMap<(&str, &str), (usize, usize)> = BTreeMap::new();
    for r in measured(run) {
        let e = sizes.entry(group(r)).or_default();
        e.0 += r.turns.len();
        e.1 += r.turns.iter().map(|t| t.timing.itl_ms.len()).sum::<usize>();
    }
    let mut accs: BTreeMap<(&str, &str), Acc<'_>> = sizes
        .into_iter()
        .map(|(k, (n, itl))| (k, Acc::with_capacity(n, itl)))
        .collect();
    for r in measured(run) {
        if let Some(acc) = accs.get_mut(&group(r)) {
            for t in &r.turns {
                acc.add(t);
            }
        }
    }
    accs.into_iter().map(|((t, g), a)| a.row(t, g)).collect()
}

fn latency_summary(run: &RunData) -> LatencySummary {
    let by_variant = latency_rows(run, |r| (r.key.target.as_str(), r.key.variant.as_str()));
    let by_category = latency_rows(run, |r| {
        let cat: &str = match &r.category {
            Some(c) => c,
            None if r.kind.is_empty() => "-",
            None => &r.kind,
        };
        (r.key.target.as_str(), cat)
    });
    let mut by_turn: BTreeMap<(&str, &str, u32), Vec<f64>> = BTreeMap::new();
    for r in measured(run) {
        if r.kind == "conversation" || r.turns.len() > 1 {
            for t in &r.turns {
                let v = by_turn
                    .entry((r.key.target.as_str(), r.key.variant.as_str(), t.turn))
                    .or_default();
                v.extend(t.timing.ttft_ms);
            }
        }
    }
    LatencySummary {
        by_variant,
        by_category,
        by_turn: by_turn
            .into_iter()
            .map(|((target, variant, turn), v)| TurnLatency {
                target: target.to_string(),
                variant: variant.to_string(),
                turn,
                ttft_ms: Dist::from_values(&v),
            })
            .collect(),
        throughput: crate::latency::throughput(run),
        scaling: crate::latency::scaling(run),
        excluded_warmup: run.responses.iter().filter(|r| r.warmup).count() as u64,
        excluded_errors: run
            .responses
            .iter()
            .filter(|r| !r.warmup && r.error.is_some())
            .count() as u64,
    }
}

/// p50 of a latency metric over a set of responses, for comparisons.
pub(crate) fn p50_of<'a>(
    rs: impl Iterator<Item = &'a ResponseMeta>,
    metric: fn(&TurnMeta) -> Option<f64>,
) -> Option<f64> {
    let v: Vec<f64> = rs.flat_map(|r| r.turns.iter().filter_map(metric)).collect();
    Dist::from_values(&v).map(|d| d.p50)
}

/// Convenience for callers that want a JSON value of the summary.
pub fn summary_value(s: &Summary) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use toolgate_core::record::TrialKey;

    fn grade(i: u32, verdict: Verdict) -> GradeRecord {
        GradeRecord {
            key: TrialKey {
                target: "t".into(),
                suite: "s".into(),
                case: "c".into(),
                prompt: "-".into(),
                variant: "default".into(),
                repeat: i,
            },
            kind: "tool_call".into(),
            category: None,
            verdict,
            failure: None,
            error_kind: None,
            findings: vec![],
            diagnosis: "d".into(),
            expected_tools: vec![],
            actual_tools: vec![],
            answer: None,
            scores: None,
            warmup: false,
            grader_version: "1".into(),
            args: vec![],
            input_hash: None,
            expect_hash: None,
            decision: None,
            expected_decision: None,
            no_tools: false,
        }
    }

    /// Issue 22 §2: rates per suite, tool and argument; invented names beyond the cap fold
    /// into one row; error trials do not count.
    #[test]
    fn argument_rates_per_tool_and_argument() {
        use toolgate_core::record::ArgCheck;
        let arg = |name: &str, schema: ArgSchema, value_ok: Option<bool>| ArgCheck {
            tool: "set_timer".into(),
            arg: name.into(),
            schema,
            value_ok,
        };
        let mut gs = Vec::new();
        for i in 0..4 {
            let mut g = grade(i, Verdict::Pass);
            g.actual_tools = vec!["set_timer".into()];
            g.args = vec![
                arg(
                    "minutes",
                    if i == 0 {
                        ArgSchema::WrongType
                    } else {
                        ArgSchema::Ok
                    },
                    Some(i != 1),
                ),
                arg(&format!("bogus{i}"), ArgSchema::Unknown, None),
            ];
            gs.push(g);
        }
        let mut g = grade(4, Verdict::Fail);
        g.actual_tools = vec!["set_timer".into()];
        g.args = vec![arg("minutes", ArgSchema::Missing, Some(false))];
        g.args
            .extend((0..12).map(|k| arg(&format!("z{k}"), ArgSchema::Unknown, None)));
        gs.push(g);
        let mut err = grade(5, Verdict::Error);
        err.args = vec![arg("minutes", ArgSchema::Missing, None)];
        gs.push(err);

        let rates = arg_rates(gs.iter());
        let minutes = rates.iter().find(|r| r.arg == "minutes").unwrap();
        assert_eq!((minutes.calls, minutes.given, minutes.missing), (5, 4, 1));
        assert_eq!(minutes.missing_rate, Some(0.2));
        assert_eq!(minutes.wrong_type_rate, Some(0.25));
        assert_eq!(
            (minutes.value_accuracy.successes, minutes.value_accuracy.n),
            (3, 5)
        );
        assert_eq!(minutes.failures, 1 + 1 + 2);
        let unknown: Vec<&ArgRates> = rates.iter().filter(|r| !r.in_schema).collect();
        assert_eq!(unknown.len(), MAX_UNKNOWN_ARGS + 1, "{unknown:?}");
        let other = unknown
            .iter()
            .find(|r| r.arg.starts_with("(other"))
            .unwrap();
        assert_eq!(other.given, 16 - MAX_UNKNOWN_ARGS as u64);
        assert_eq!(unknown[0].hallucinated_rate, Some(0.2));
    }

    #[test]
    fn argument_rates_are_per_target() {
        use toolgate_core::record::ArgCheck;
        let mut gs = Vec::new();
        for (i, (target, ok)) in [("strong", true), ("strong", true), ("weak", false)]
            .into_iter()
            .enumerate()
        {
            let mut g = grade(i as u32, Verdict::Pass);
            g.key.target = target.into();
            g.actual_tools = vec!["set_timer".into()];
            g.args = vec![ArgCheck {
                tool: "set_timer".into(),
                arg: "minutes".into(),
                schema: ArgSchema::Ok,
                value_ok: Some(ok),
            }];
            gs.push(g);
        }
        let rates = arg_rates(gs.iter());
        let got: Vec<(&str, u64, u64, u64)> = rates
            .iter()
            .map(|r| {
                let v = &r.value_accuracy;
                (r.target.as_str(), r.calls, v.successes, v.n)
            })
            .collect();
        assert_eq!(got, [("strong", 2, 2, 2), ("weak", 1, 0, 1)]);
    }

    fn response(g: &GradeRecord, e2e: f64) -> ResponseMeta {
        ResponseMeta {
            key: g.key.clone(),
            kind: g.kind.clone(),
            category: None,
            turns: vec![TurnMeta {
                turn: 0,
                finish_reason: None,
                server_timings: None,
                timing: crate::run::TimingMeta {
                    e2e_ms: e2e,
                    ..Default::default()
                },
                status: None,
                cached_tokens: None,
            }],
            error: None,
            started_at: String::new(),
            warmup: g.warmup,
            raw: crate::run::RawRef::None,
        }
    }

    /// The join gives each grade what a key → response map of the non-warmup responses
    /// (last one wins) gives, whether or not the two lists are in the same order.
    #[test]
    fn trials_join_matches_a_key_map() {
        let mut gs: Vec<GradeRecord> = [3, 1, 2, 1, 0, 2]
            .into_iter()
            .map(|i| grade(i, Verdict::Pass))
            .collect();
        gs[5].warmup = true;
        let rs: Vec<ResponseMeta> = gs
            .iter()
            .enumerate()
            .map(|(i, g)| response(g, i as f64))
            .collect();
        let check = |run: &RunData| {
            let t = Trials::new(run);
            let map: BTreeMap<&TrialKey, &ResponseMeta> = run
                .responses
                .iter()
                .filter(|r| !r.warmup)
                .map(|r| (&r.key, r))
                .collect();
            let keys: Vec<u32> = t.grades.iter().map(|g| g.key.repeat).collect();
            assert_eq!(keys, [0, 1, 1, 2, 3]);
            for (g, r) in t.grades.iter().zip(&t.responses) {
                assert_eq!(*r, map.get(&g.key).copied(), "{}", g.key);
                assert_eq!(t.response(&g.key), map.get(&g.key).copied());
            }
        };
        let mut run = RunData {
            dir: PathBuf::from("r"),
            manifest: Default::default(),
            responses: rs.clone(),
            grades: gs.clone(),
            notes: vec![],
            responses_file: None,
        };
        check(&run); // aligned: line i of each file is the same trial
        run.responses.reverse();
        run.responses.push(response(&grade(9, Verdict::Pass), 9.0));
        check(&run); // joined by key
        assert_eq!(
            Trials::new(&run).response(&grade(7, Verdict::Pass).key),
            None
        );
    }

    #[test]
    fn listing_is_capped_with_fails_and_errors_first_in_key_order() {
        let gs: Vec<GradeRecord> = (0..10)
            .map(|i| match i {
                7 => grade(i, Verdict::Fail),
                9 => grade(i, Verdict::Error),
                _ => grade(i, Verdict::Pass),
            })
            .collect();
        let refs: Vec<&GradeRecord> = gs.iter().collect();
        let repeats = |v: Vec<&GradeRecord>| v.iter().map(|g| g.key.repeat).collect::<Vec<_>>();
        assert_eq!(repeats(listed(&refs, 20)).len(), 10);
        assert_eq!(repeats(listed(&refs, 4)), [0, 1, 7, 9]);
        assert_eq!(repeats(listed(&refs, 1)), [7]);
    }
}
