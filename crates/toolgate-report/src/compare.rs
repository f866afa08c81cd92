//! Comparing two runs (or two slices of one run): trials paired, repeats pooled per case,
//! per-case deltas with an exact one-sided sign test over cases, flips, latency ratios.

use crate::cases::{case_stats, p_fmt, pool, verdict, CaseDelta, CaseStats, CaseStatus, GradeRef};
use crate::run::RunData;
use crate::run::{ResponseMeta, TurnMeta};
use crate::stats::{mcnemar_exact, Proportion};
use crate::summary::{decode_tps, measured, p50_of, tool_accuracy, Counts};
use crate::text::{md_cell, num, pct, pct_ci, ratio, term, MAX_TERM};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::str::FromStr;
use toolgate_core::record::{GradeRecord, TrialKey, Verdict};
use toolgate_core::Sym;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SliceField {
    Target,
    Prompt,
    Variant,
}

/// `prompt=A`, `variant=thinking=on`, `target=local-vllm`: the trials of one slice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SliceFilter {
    pub field: SliceField,
    pub value: String,
}

impl SliceFilter {
    fn matches(&self, k: &TrialKey) -> bool {
        let v = match self.field {
            SliceField::Target => &k.target,
            SliceField::Prompt => &k.prompt,
            SliceField::Variant => &k.variant,
        };
        *v == self.value
    }
}

impl std::fmt::Display for SliceFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let field = match self.field {
            SliceField::Target => "target",
            SliceField::Prompt => "prompt",
            SliceField::Variant => "variant",
        };
        write!(f, "{field}={}", self.value)
    }
}

impl FromStr for SliceFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // Split at the first `=` only: variant labels contain one (`thinking=on`).
        let (field, value) = s.split_once('=').ok_or_else(|| {
            format!("expected FIELD=VALUE (prompt=…, variant=…, target=…), got `{s}`")
        })?;
        let field = match field.trim() {
            "target" => SliceField::Target,
            "prompt" => SliceField::Prompt,
            "variant" => SliceField::Variant,
            other => {
                return Err(format!(
                    "unknown slice field `{other}` (expected target, prompt or variant)"
                ))
            }
        };
        if value.is_empty() {
            return Err(format!("empty value in `{s}`"));
        }
        Ok(SliceFilter {
            field,
            value: value.to_string(),
        })
    }
}

/// A slice filter that selects nothing is a typo, not an empty comparison: the error names
/// the values that exist on that side.
pub fn check_filters(base: &RunData, cand: &RunData, opts: &CompareOptions) -> Result<(), String> {
    for (run, f, side) in [
        (base, &opts.base_filter, "--base-filter"),
        (cand, &opts.cand_filter, "--cand-filter"),
    ] {
        let Some(f) = f else { continue };
        let gs = || run.grades.iter().filter(|g| !g.warmup);
        if gs().any(|g| f.matches(&g.key)) {
            continue;
        }
        let values: BTreeSet<String> = gs()
            .map(|g| {
                match f.field {
                    SliceField::Target => &g.key.target,
                    SliceField::Prompt => &g.key.prompt,
                    SliceField::Variant => &g.key.variant,
                }
                .to_string()
            })
            .collect();
        let field = f.to_string();
        let field = field.split('=').next().unwrap_or("");
        return Err(format!(
            "{side} {f} matches no trial of {} ({field} values there: {})",
            run.manifest.run_id,
            if values.is_empty() {
                "none".to_string()
            } else {
                values.into_iter().collect::<Vec<_>>().join(", ")
            }
        ));
    }
    Ok(())
}

/// Which trials of each side to compare. Both `None`: every trial of each run. Set both (on
/// the same run passed twice) to compare prompt A with prompt B on the same model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompareOptions {
    pub base_filter: Option<SliceFilter>,
    pub cand_filter: Option<SliceFilter>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    /// Run id, plus the slice when filtered.
    pub label: String,
    pub complete: bool,
    /// Every judged trial of the slice (paired or not).
    pub counts: Counts,
    /// When to call, over every trial of the slice (tool suites only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decisions: Option<crate::decisions::Decisions>,
}

/// One trial whose verdict changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flip {
    /// `suite/case [variant] prompt #repeat` (the fields that paired it).
    pub label: String,
    pub suite: String,
    pub case: String,
    pub base_id: String,
    pub cand_id: String,
    pub base_failure: Option<String>,
    pub base_diagnosis: String,
    pub cand_failure: Option<String>,
    pub cand_diagnosis: String,
}

/// Paired statistics over a set of trials (the whole comparison or one suite).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedStats {
    /// Pairs where both sides were judged.
    pub pairs: u64,
    pub both_pass: u64,
    pub both_fail: u64,
    /// Pass → fail (McNemar's b).
    pub regressions: u64,
    /// Fail → pass (McNemar's c).
    pub improvements: u64,
    /// Accuracy of each side on the paired trials only, so the delta compares like with like.
    pub base: Proportion,
    pub cand: Proportion,
    /// cand − base on the paired trials.
    pub delta: Option<f64>,
    /// Exact two-sided McNemar p-value on (regressions, improvements).
    pub p_value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuiteDelta {
    pub suite: String,
    pub stats: PairedStats,
    /// The suite's cases, repeats pooled per case.
    pub case_stats: CaseStats,
    /// Candidate's accuracy on every judged trial of the suite (floors use this).
    pub cand_counts: Counts,
    /// Ids of candidate trials that regressed.
    pub regressed: Vec<String>,
    /// Ids of candidate trials that failed.
    pub cand_failed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyDelta {
    pub metric: String,
    pub base_p50: Option<f64>,
    pub cand_p50: Option<f64>,
    /// cand / base; `None` unless both are measured and base > 0.
    pub ratio: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDelta {
    pub tool: String,
    pub base: Option<Proportion>,
    pub cand: Option<Proportion>,
    /// Ids of failing candidate trials expecting this tool.
    pub cand_failed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExcludedPair {
    pub label: String,
    pub base: Option<String>,
    pub cand: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub base: Side,
    pub cand: Side,
    /// Trial-level counts (each repeat a pair); decisions use `case_stats`.
    pub overall: PairedStats,
    /// Case-level statistics: repeats pooled per case, sign test over cases.
    pub case_stats: CaseStats,
    /// Every case of either side, repeats pooled.
    pub cases: Vec<CaseDelta>,
    /// Base cases with no candidate trial at all (a skipped suite, a tag filter, a shard).
    pub missing_cases: Vec<String>,
    /// Cases whose expectation differs between the runs (the case file was edited): not
    /// paired, since the two sides were judged by different rules.
    pub changed_expectations: Vec<String>,
    /// Cases whose input (user text, settings, …) differs but whose expectation does not:
    /// still paired, and listed so a reader knows the model was asked something else.
    pub changed_inputs: Vec<String>,
    pub suites: Vec<SuiteDelta>,
    pub regressions: Vec<Flip>,
    pub improvements: Vec<Flip>,
    pub tools: Vec<ToolDelta>,
    pub latency: Vec<LatencyDelta>,
    /// Trials only one side has (by pairing label).
    pub only_in_base: Vec<String>,
    pub only_in_cand: Vec<String>,
    /// Pairs left out because one side (or both) was an infra error; the error kinds shown.
    pub excluded_errors: Vec<ExcludedPair>,
    pub notes: Vec<String>,
}

/// Reads one latency figure from a turn.
type TurnMetric = fn(&TurnMeta) -> Option<f64>;

type PairKey = (String, String, String, String, String, u32);

fn pair_label(k: &PairKey) -> String {
    let mut s = format!("{}/{}", k.1, k.2);
    if k.4 != "*" {
        let _ = write!(s, " [{}]", k.4);
    }
    if k.3 != "*" {
        let _ = write!(s, " {}", k.3);
    }
    if k.0 != "*" {
        let _ = write!(s, " @{}", k.0);
    }
    let _ = write!(s, " #{}", k.5);
    s
}

type CaseKey = (String, String, String, String, String);

fn case_key(k: &PairKey) -> CaseKey {
    (
        k.0.clone(),
        k.1.clone(),
        k.2.clone(),
        k.3.clone(),
        k.4.clone(),
    )
}

/// [`pair_label`] without the repeat.
fn case_label(k: &PairKey) -> String {
    let l = pair_label(k);
    l.rsplit_once(" #")
        .map_or(l.clone(), |(a, _)| a.to_string())
}

fn slice<'a>(run: &'a RunData, f: &Option<SliceFilter>) -> Vec<&'a GradeRecord> {
    run.grades
        .iter()
        .filter(|g| !g.warmup && f.as_ref().is_none_or(|f| f.matches(&g.key)))
        .collect()
}

fn side_label(run: &RunData, f: &Option<SliceFilter>) -> String {
    match f {
        Some(f) => format!("{} ({f})", run.manifest.run_id),
        None => run.manifest.run_id.clone(),
    }
}

fn verdict_str(g: &GradeRecord) -> String {
    match g.verdict {
        Verdict::Error => format!("error: {}", g.error_kind.map_or("unknown", |k| k.as_str())),
        v => v.as_str().to_string(),
    }
}

fn index<'a>(
    gs: &[&'a GradeRecord],
    key_of: &dyn Fn(&TrialKey) -> PairKey,
    side: &str,
    notes: &mut Vec<String>,
) -> BTreeMap<PairKey, &'a GradeRecord> {
    let mut m = BTreeMap::new();
    let mut dups = 0;
    for g in gs {
        if m.insert(key_of(&g.key), *g).is_some() {
            dups += 1;
        }
    }
    if dups > 0 {
        notes.push(format!(
            "{dups} {side} trials share a pairing key with another (several targets?); the last one was used"
        ));
    }
    m
}

/// Cases edited between the runs, from the hashes each grade carries (older runs have
/// none and are not checked). A case whose expectation changed is removed from both sides.
fn changed_cases(
    bm: &mut BTreeMap<PairKey, &GradeRecord>,
    cm: &mut BTreeMap<PairKey, &GradeRecord>,
) -> (Vec<String>, Vec<String>) {
    let hashes = |m: &BTreeMap<PairKey, &GradeRecord>| {
        let mut h: BTreeMap<CaseKey, (Option<Sym>, Option<Sym>, String)> = BTreeMap::new();
        for (k, g) in m.iter() {
            h.entry(case_key(k))
                .or_insert_with(|| (g.expect_hash.clone(), g.input_hash.clone(), case_label(k)));
        }
        h
    };
    let (bh, ch) = (hashes(bm), hashes(cm));
    let (mut expect, mut input) = (BTreeSet::new(), Vec::new());
    for (ck, (be, bi, label)) in &bh {
        let Some((ce, ci, _)) = ch.get(ck) else {
            continue;
        };
        if be.is_some() && ce.is_some() && be != ce {
            expect.insert((ck.clone(), label.clone()));
        } else if bi.is_some() && ci.is_some() && bi != ci {
            input.push(label.clone());
        }
    }
    let gone: BTreeSet<&CaseKey> = expect.iter().map(|(k, _)| k).collect();
    bm.retain(|k, _| !gone.contains(&case_key(k)));
    cm.retain(|k, _| !gone.contains(&case_key(k)));
    (expect.into_iter().map(|(_, l)| l).collect(), input)
}

fn lat<'a>(run: &'a RunData, f: &Option<SliceFilter>) -> Vec<&'a ResponseMeta> {
    measured(run)
        .filter(|r| f.as_ref().is_none_or(|f| f.matches(&r.key)))
        .collect()
}

fn paired_stats(pairs: &[(&GradeRecord, &GradeRecord)]) -> PairedStats {
    let (mut pp, mut ff, mut pf, mut fp) = (0, 0, 0, 0);
    for (b, c) in pairs {
        match (b.verdict, c.verdict) {
            (Verdict::Pass, Verdict::Pass) => pp += 1,
            (Verdict::Fail, Verdict::Fail) => ff += 1,
            (Verdict::Pass, Verdict::Fail) => pf += 1,
            (Verdict::Fail, Verdict::Pass) => fp += 1,
            _ => {}
        }
    }
    let n = pp + ff + pf + fp;
    let base = Proportion::new(pp + pf, n);
    let cand = Proportion::new(pp + fp, n);
    PairedStats {
        pairs: n,
        both_pass: pp,
        both_fail: ff,
        regressions: pf,
        improvements: fp,
        delta: match (base.value, cand.value) {
            (Some(b), Some(c)) => Some(c - b),
            _ => None,
        },
        base,
        cand,
        p_value: mcnemar_exact(pf, fp),
    }
}

/// Which key fields pair two runs' trials (the rules [`compare`] documents).
struct Pairing {
    keep_target: bool,
    wild_prompt: bool,
    wild_variant: bool,
    /// The two runs' single prompts, when they differ and trials pair across them.
    cross_prompt: Option<(String, String)>,
}

impl Pairing {
    fn new(bs: &[&GradeRecord], cs: &[&GradeRecord], opts: &CompareOptions) -> Pairing {
        let filtered = |f: SliceField| {
            [&opts.base_filter, &opts.cand_filter]
                .iter()
                .any(|o| o.as_ref().is_some_and(|x| x.field == f))
        };
        let targets = |gs: &[&GradeRecord]| -> BTreeSet<String> {
            gs.iter().map(|g| g.key.target.to_string()).collect()
        };
        // Two runs made with one prompt each (A against B) pair across the prompts.
        let prompts = |gs: &[&GradeRecord]| -> BTreeSet<String> {
            gs.iter().map(|g| g.key.prompt.to_string()).collect()
        };
        let (bp, cp) = (prompts(bs), prompts(cs));
        let cross_prompt = (bp.len() == 1 && cp.len() == 1 && bp != cp).then(|| {
            (
                bp.into_iter().next().unwrap_or_default(),
                cp.into_iter().next().unwrap_or_default(),
            )
        });
        Pairing {
            keep_target: !filtered(SliceField::Target) && targets(bs) == targets(cs),
            wild_prompt: filtered(SliceField::Prompt) || cross_prompt.is_some(),
            wild_variant: filtered(SliceField::Variant),
            cross_prompt,
        }
    }

    fn key(&self, k: &TrialKey) -> PairKey {
        let (suite, case, prompt, variant, repeat) = k.pair_key();
        let star = || "*".to_string();
        (
            if self.keep_target {
                k.target.to_string()
            } else {
                star()
            },
            suite.to_string(),
            case.to_string(),
            if self.wild_prompt {
                star()
            } else {
                prompt.to_string()
            },
            if self.wild_variant {
                star()
            } else {
                variant.to_string()
            },
            repeat,
        )
    }
}

/// The trials pooled into each case of [`compare`], by the case's label
/// ([`crate::cases::CaseDelta::label`]): base grades, then candidate grades, in key order.
pub(crate) fn case_trials<'a>(
    base: &'a RunData,
    cand: &'a RunData,
    opts: &CompareOptions,
) -> BTreeMap<String, [Vec<&'a GradeRecord>; 2]> {
    let bs = slice(base, &opts.base_filter);
    let cs = slice(cand, &opts.cand_filter);
    let p = Pairing::new(&bs, &cs, opts);
    let key_of = |k: &TrialKey| p.key(k);
    let mut out: BTreeMap<String, [Vec<&GradeRecord>; 2]> = BTreeMap::new();
    for (side, gs) in [&bs, &cs].into_iter().enumerate() {
        for (k, g) in index(gs, &key_of, "", &mut Vec::new()) {
            out.entry(case_label(&k)).or_default()[side].push(g);
        }
    }
    out
}

/// Pairs the trials of `base` and `cand` and compares them. Pairing uses
/// [`TrialKey::pair_key`] (suite, case, prompt, variant, repeat); a field a slice filter
/// selects on is left out of the key (so `prompt=A` pairs with `prompt=B`), and the target
/// is part of the key only when both sides cover the same targets.
pub fn compare(base: &RunData, cand: &RunData, opts: &CompareOptions) -> Comparison {
    let bs = slice(base, &opts.base_filter);
    let cs = slice(cand, &opts.cand_filter);
    let pairing = Pairing::new(&bs, &cs, opts);
    let key_of = |k: &TrialKey| pairing.key(k);
    let mut notes = Vec::new();
    if let Some((bp, cp)) = &pairing.cross_prompt {
        notes.push(format!(
            "each run has one prompt ({bp} and {cp}): trials paired across the prompts"
        ));
    }
    let mut bm = index(&bs, &key_of, "base", &mut notes);
    let mut cm = index(&cs, &key_of, "candidate", &mut notes);
    let (changed_expectations, changed_inputs) = changed_cases(&mut bm, &mut cm);

    let mut pairs = Vec::new();
    let mut excluded_errors = Vec::new();
    let mut only_in_base = Vec::new();
    let mut regressions = Vec::new();
    let mut improvements = Vec::new();
    for (k, b) in &bm {
        let Some(c) = cm.get(k) else {
            only_in_base.push(pair_label(k));
            continue;
        };
        if b.verdict == Verdict::Error || c.verdict == Verdict::Error {
            excluded_errors.push(ExcludedPair {
                label: pair_label(k),
                base: (b.verdict == Verdict::Error).then(|| verdict_str(b)),
                cand: (c.verdict == Verdict::Error).then(|| verdict_str(c)),
            });
            continue;
        }
        pairs.push((k, *b, *c));
        if b.verdict != c.verdict {
            let flip = Flip {
                label: pair_label(k),
                suite: b.key.suite.to_string(),
                case: b.key.case.to_string(),
                base_id: b.key.id(),
                cand_id: c.key.id(),
                base_failure: b.failure.map(|f| f.as_str().to_string()),
                base_diagnosis: b.diagnosis.to_string(),
                cand_failure: c.failure.map(|f| f.as_str().to_string()),
                cand_diagnosis: c.diagnosis.to_string(),
            };
            if b.verdict == Verdict::Pass {
                regressions.push(flip);
            } else {
                improvements.push(flip);
            }
        }
    }
    let only_in_cand = cm
        .keys()
        .filter(|k| !bm.contains_key(*k))
        .map(pair_label)
        .collect();

    let side_cases = |m: &BTreeMap<PairKey, &GradeRecord>| -> Vec<(CaseKey, String, GradeRef)> {
        m.iter()
            .map(|(k, g)| (case_key(k), case_label(k), GradeRef::of(g)))
            .collect()
    };
    let cases = pool(side_cases(&bm), side_cases(&cm));
    let missing_cases = missing_cases(&bm, &cm);

    let all_pairs: Vec<(&GradeRecord, &GradeRecord)> =
        pairs.iter().map(|(_, b, c)| (*b, *c)).collect();
    let suites = suite_deltas(&bs, &cs, &all_pairs, &cases, &regressions);

    let tools = tool_deltas(&bs, &cs);

    let latency = latency_deltas(base, cand, opts);

    Comparison {
        base: Side {
            label: side_label(base, &opts.base_filter),
            complete: base.manifest.complete,
            counts: Counts::from_verdicts(bs.iter().map(|g| &g.verdict)),
            decisions: crate::decisions::decisions(bs.iter().copied()),
        },
        cand: Side {
            label: side_label(cand, &opts.cand_filter),
            complete: cand.manifest.complete,
            counts: Counts::from_verdicts(cs.iter().map(|g| &g.verdict)),
            decisions: crate::decisions::decisions(cs.iter().copied()),
        },
        overall: paired_stats(&all_pairs),
        case_stats: case_stats(&cases),
        cases,
        missing_cases,
        changed_expectations,
        changed_inputs,
        suites,
        regressions,
        improvements,
        tools,
        latency,
        only_in_base,
        only_in_cand,
        excluded_errors,
        notes,
    }
}

/// Baseline cases with no candidate trial, each named once.
fn missing_cases(
    bm: &BTreeMap<PairKey, &GradeRecord>,
    cm: &BTreeMap<PairKey, &GradeRecord>,
) -> Vec<String> {
    let cand_cases: BTreeSet<CaseKey> = cm.keys().map(case_key).collect();
    let mut missing_cases: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    for k in bm.keys() {
        let ck = case_key(k);
        if !cand_cases.contains(&ck) && seen.insert(ck) {
            missing_cases.push(case_label(k));
        }
    }
    missing_cases
}

/// Per suite of either side: paired stats, case stats, the candidate's counts, regressions
/// and failures.
fn suite_deltas(
    bs: &[&GradeRecord],
    cs: &[&GradeRecord],
    all_pairs: &[(&GradeRecord, &GradeRecord)],
    cases: &[CaseDelta],
    regressions: &[Flip],
) -> Vec<SuiteDelta> {
    let suite_names: BTreeSet<&str> = bs
        .iter()
        .chain(cs.iter())
        .map(|g| g.key.suite.as_str())
        .collect();
    suite_names
        .into_iter()
        .map(|suite| {
            let sp: Vec<_> = all_pairs
                .iter()
                .filter(|(b, _)| b.key.suite == suite)
                .copied()
                .collect();
            let cand_suite: Vec<&&GradeRecord> =
                cs.iter().filter(|g| g.key.suite == suite).collect();
            SuiteDelta {
                suite: suite.to_string(),
                stats: paired_stats(&sp),
                case_stats: case_stats(cases.iter().filter(|d| d.suite == suite)),
                cand_counts: Counts::from_verdicts(cand_suite.iter().map(|g| &g.verdict)),
                regressed: regressions
                    .iter()
                    .filter(|f| f.suite == suite)
                    .map(|f| f.cand_id.clone())
                    .collect(),
                cand_failed: cand_suite
                    .iter()
                    .filter(|g| g.verdict == Verdict::Fail)
                    .map(|g| g.key.id())
                    .collect(),
            }
        })
        .collect()
}

/// Per tool either side expects: its accuracy on each side and the candidate's failures.
fn tool_deltas(bs: &[&GradeRecord], cs: &[&GradeRecord]) -> Vec<ToolDelta> {
    let bt = tool_accuracy(bs.iter().copied());
    let ct = tool_accuracy(cs.iter().copied());
    let tool_names: BTreeSet<&String> = bt.iter().chain(ct.iter()).map(|t| &t.tool).collect();
    tool_names
        .into_iter()
        .map(|name| {
            let b = bt.iter().find(|t| &t.tool == name);
            let c = ct.iter().find(|t| &t.tool == name);
            ToolDelta {
                tool: name.clone(),
                base: b.map(|t| t.accuracy),
                cand: c.map(|t| t.accuracy),
                cand_failed: c.map(|t| t.failed.clone()).unwrap_or_default(),
            }
        })
        .collect()
}

/// Median TTFT, content TTFT, decode rate and end-to-end time of each side, and their ratio.
fn latency_deltas(base: &RunData, cand: &RunData, opts: &CompareOptions) -> Vec<LatencyDelta> {
    let (bl, cl) = (lat(base, &opts.base_filter), lat(cand, &opts.cand_filter));
    let metrics: [(&str, TurnMetric); 4] = [
        ("ttft_ms", |t| t.timing.ttft_ms),
        ("ttft_content_ms", |t| t.timing.ttft_content_ms),
        ("decode_tps", decode_tps),
        ("e2e_ms", |t| Some(t.timing.e2e_ms)),
    ];
    metrics
        .iter()
        .map(|(name, f)| {
            let b = p50_of(bl.iter().copied(), *f);
            let c = p50_of(cl.iter().copied(), *f);
            LatencyDelta {
                metric: name.to_string(),
                base_p50: b,
                cand_p50: c,
                ratio: match (b, c) {
                    (Some(b), Some(c)) if b > 0.0 => Some(c / b),
                    _ => None,
                },
            }
        })
        .collect()
}

/// One suite's row, the same in the text and the Markdown compare: base and candidate rates,
/// the delta, cases worse and better, the sign test.
fn suite_cells(st: &CaseStats) -> [String; 6] {
    [
        pct(st.base_rate),
        pct(st.cand_rate),
        signed_pct(st.delta),
        st.worse.to_string(),
        st.better.to_string(),
        case_p(st),
    ]
}

fn signed_pct(d: Option<f64>) -> String {
    d.map_or_else(|| "–".into(), |d| format!("{:+.1} pts", d * 100.0))
}

/// The sign test's p-value in the direction the cases moved: `p = 0.0312 (worse)`.
fn case_p(st: &CaseStats) -> String {
    if st.worse == 0 && st.better == 0 {
        "(no case changed)".to_string()
    } else if st.worse >= st.better {
        format!("{} (worse)", p_fmt(st.p_worse))
    } else {
        format!("{} (better)", p_fmt(st.p_better))
    }
}

fn case_status(d: &CaseDelta) -> &'static str {
    match d.status {
        CaseStatus::Regressed if d.stable => "stable regression",
        CaseStatus::Regressed => "regressed",
        CaseStatus::Improved => "improved",
        CaseStatus::Flaky => "flaky",
        CaseStatus::Same => "same",
        CaseStatus::Unpaired => "unpaired",
    }
}

/// Cases whose pass rate moved, worst first.
fn changed(c: &Comparison) -> Vec<&CaseDelta> {
    let mut v: Vec<&CaseDelta> = c
        .cases
        .iter()
        .filter(|d| d.delta().is_some_and(|x| x != 0.0))
        .collect();
    v.sort_by(|a, b| {
        a.delta()
            .unwrap_or(0.0)
            .total_cmp(&b.delta().unwrap_or(0.0))
    });
    v
}

fn ratio_fmt(r: Option<f64>) -> String {
    r.map_or_else(|| "–".into(), |r| format!("×{r:.2}"))
}

/// A diagnosis is shown whole (never cut mid-reason) up to this bound on hostile length.
const MAX_DIAG: usize = MAX_TERM;

fn bounded(s: &str) -> String {
    if s.chars().count() <= MAX_DIAG {
        s.to_string()
    } else {
        s.chars().take(MAX_DIAG).chain(['…']).collect()
    }
}

/// Terminal rendering: plain text, widest information first.
pub fn render_compare_text(c: &Comparison) -> String {
    let mut o = String::new();
    text_totals(&mut o, c);
    text_suites_and_changed_cases(&mut o, c);
    text_flips(&mut o, c);
    text_tools_decisions_latency(&mut o, c);
    list_text(
        &mut o,
        "changed expectation (case edited; not compared)",
        &c.changed_expectations,
    );
    list_text(
        &mut o,
        "changed input (case edited; expectation the same, compared)",
        &c.changed_inputs,
    );
    list_text(&mut o, "only in base", &c.only_in_base);
    list_text(&mut o, "only in candidate", &c.only_in_cand);
    if !c.excluded_errors.is_empty() {
        let _ = writeln!(o, "\nexcluded (infra errors, not judged):");
        for e in &c.excluded_errors {
            let _ = writeln!(
                o,
                "  {}  base: {}  cand: {}",
                term(&e.label),
                term(e.base.as_deref().unwrap_or("judged")),
                term(e.cand.as_deref().unwrap_or("judged"))
            );
        }
    }
    for n in &c.notes {
        let _ = writeln!(o, "note: {}", term(n));
    }
    let _ = writeln!(o, "\nverdict: {}", verdict(&c.case_stats));
    o
}

/// The sides, incomplete warnings, case and paired-trial totals, accuracy.
fn text_totals(o: &mut String, c: &Comparison) {
    let s = &c.overall;
    let _ = writeln!(o, "compare  base: {}", term(&c.base.label));
    let _ = writeln!(o, "         cand: {}", term(&c.cand.label));
    for (side, label) in [(&c.base, "base"), (&c.cand, "cand")] {
        if !side.complete {
            let _ = writeln!(o, "warning: the {label} run is INCOMPLETE");
        }
    }
    let cs = &c.case_stats;
    let _ = writeln!(
        o,
        "\n{} cases: accuracy {} → {} ({}), {} cases worse, {} better; sign test over cases {}",
        cs.cases,
        pct(cs.base_rate),
        pct(cs.cand_rate),
        signed_pct(cs.delta),
        cs.worse,
        cs.better,
        case_p(cs)
    );
    let _ = writeln!(
        o,
        "{} paired trials: {} → {}, {} pass→fail, {} fail→pass",
        s.pairs,
        ratio(&s.base),
        ratio(&s.cand),
        s.regressions,
        s.improvements,
    );
    let _ = writeln!(
        o,
        "accuracy  base {}  cand {}",
        pct_ci(&s.base),
        pct_ci(&s.cand)
    );
}

/// Per suite over cases, then the cases whose results changed.
fn text_suites_and_changed_cases(o: &mut String, c: &Comparison) {
    o.push_str("\nper suite (cases):\n");
    for d in &c.suites {
        let [base, cand, delta, worse, better, p] = suite_cells(&d.case_stats);
        let _ = writeln!(
            o,
            "  {:<24} {base} → {cand}  {delta}  -{worse} +{better}  {p}",
            term(&d.suite)
        );
    }
    let ch = changed(c);
    if !ch.is_empty() {
        let _ = writeln!(o, "\ncases that changed ({}):", ch.len());
        for d in ch {
            let _ = writeln!(
                o,
                "  {:<32} base {} → cand {}/{}  {}",
                term(&format!("{} ({}, {})", d.case, d.suite, d.variant)),
                format_args!("{}/{}", d.base_pass, d.base_n),
                d.cand_pass,
                d.cand_n,
                case_status(d)
            );
        }
    }
}

/// Regressions and improvements, each with both sides' diagnosis.
fn text_flips(o: &mut String, c: &Comparison) {
    for (title, flips) in [
        ("regressions (pass → fail)", &c.regressions),
        ("improvements (fail → pass)", &c.improvements),
    ] {
        if flips.is_empty() {
            continue;
        }
        let _ = writeln!(o, "\n{title}:");
        for f in flips {
            let _ = writeln!(o, "  {}", term(&f.label));
            let _ = writeln!(
                o,
                "    base: {}{}",
                f.base_failure
                    .as_deref()
                    .map_or(String::new(), |k| format!("[{k}] ")),
                term(&f.base_diagnosis)
            );
            let _ = writeln!(
                o,
                "    cand: {}{}",
                f.cand_failure
                    .as_deref()
                    .map_or(String::new(), |k| format!("[{k}] ")),
                term(&f.cand_diagnosis)
            );
        }
    }
}

/// Per tool accuracy, when to call, latency p50.
fn text_tools_decisions_latency(o: &mut String, c: &Comparison) {
    if c.tools.iter().any(|t| t.base.is_some() || t.cand.is_some()) {
        o.push_str("\nper tool:\n");
        for t in &c.tools {
            let _ = writeln!(
                o,
                "  {:<24} {} → {}",
                term(&t.tool),
                t.base
                    .map_or("–".into(), |p| format!("{} {}", ratio(&p), pct(p.value))),
                t.cand
                    .map_or("–".into(), |p| format!("{} {}", ratio(&p), pct(p.value)))
            );
        }
    }
    let rows = decision_rows(c);
    if !rows.is_empty() {
        o.push_str("\nwhen to call (base → cand):\n");
        for [m, b, cand] in rows {
            let _ = writeln!(o, "  {m:<20} {b} → {cand}");
        }
    }
    o.push_str("\nlatency p50 (cand / base):\n");
    for l in &c.latency {
        let _ = writeln!(
            o,
            "  {:<16} {} → {}  {}",
            l.metric,
            num(l.base_p50),
            num(l.cand_p50),
            ratio_fmt(l.ratio)
        );
    }
}

/// Macro-F1 and the call rates of each side, when either side has decisions.
fn decision_rows(c: &Comparison) -> Vec<[String; 3]> {
    let (b, d) = (c.base.decisions.as_ref(), c.cand.decisions.as_ref());
    if b.is_none() && d.is_none() {
        return vec![];
    }
    let f1 = |d: Option<&crate::decisions::Decisions>| {
        d.and_then(|d| d.macro_f1)
            .map_or("–".to_string(), |f| format!("{f:.2}"))
    };
    let rate = |d: Option<&crate::decisions::Decisions>,
                f: fn(&crate::decisions::Decisions) -> &Proportion| {
        d.map_or("–".to_string(), |d| crate::render::rate(f(d)))
    };
    vec![
        ["decision macro-F1".into(), f1(b), f1(d)],
        [
            "tool hallucination".into(),
            rate(b, |d| &d.tool_hallucination),
            rate(d, |d| &d.tool_hallucination),
        ],
        [
            "over-call".into(),
            rate(b, |d| &d.over_call),
            rate(d, |d| &d.over_call),
        ],
        [
            "under-call".into(),
            rate(b, |d| &d.under_call),
            rate(d, |d| &d.under_call),
        ],
    ]
}

fn list_text(o: &mut String, title: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(o, "\n{title} ({}):", items.len());
    for i in items {
        let _ = writeln!(o, "  {}", term(i));
    }
}

/// GitHub-flavoured Markdown rendering.
pub fn render_compare_markdown(c: &Comparison) -> String {
    compare_markdown(c, true)
}

/// The compare report as a section of a larger document (the swap report): no H1 title,
/// headings one level down, no latency table (the document has its own).
pub fn render_compare_markdown_section(c: &Comparison) -> String {
    compare_markdown(c, false)
}

fn compare_markdown(c: &Comparison, whole: bool) -> String {
    let mut o = String::new();
    let incomplete = !c.base.complete || !c.cand.complete;
    let h2 = if whole { "##" } else { "###" };
    if whole {
        let _ = writeln!(
            o,
            "# {}Compare: {} → {}",
            if incomplete { "INCOMPLETE — " } else { "" },
            md_cell(&c.base.label),
            md_cell(&c.cand.label)
        );
    }
    md_totals(&mut o, c);
    md_changed_cases(&mut o, c, h2);
    md_flips(&mut o, c, h2);
    md_tools_and_decisions(&mut o, c, h2);
    if whole {
        md_latency(&mut o, c);
    }
    md_left_out(&mut o, c);
    o
}

/// The verdict, the case and paired-trial totals, and the per-suite table.
fn md_totals(o: &mut String, c: &Comparison) {
    let s = &c.overall;
    let cs = &c.case_stats;
    let _ = writeln!(o, "\n**Verdict: {}**", md_cell(&verdict(cs)));
    let _ = writeln!(
        o,
        "\n**{} cases: {} → {} ({})** · {} cases worse · {} better · sign test over cases {} · {} paired trials: {} → {}\n",
        cs.cases,
        pct(cs.base_rate),
        pct(cs.cand_rate),
        signed_pct(cs.delta),
        cs.worse,
        cs.better,
        case_p(cs),
        s.pairs,
        pct_ci(&s.base),
        pct_ci(&s.cand),
    );
    o.push_str("| suite | cases | base | candidate | Δ | worse | better | sign test |\n|---|---:|---|---|---:|---:|---:|---:|\n");
    for d in &c.suites {
        let [base, cand, delta, worse, better, p] = suite_cells(&d.case_stats);
        let _ = writeln!(
            o,
            "| {} | {} | {base} | {cand} | {delta} | {worse} | {better} | {p} |",
            md_cell(&d.suite),
            d.case_stats.cases
        );
    }
}

/// The cases whose results changed, with their status.
fn md_changed_cases(o: &mut String, c: &Comparison, h2: &str) {
    let ch = changed(c);
    if !ch.is_empty() {
        let _ = write!(o, "\n{h2} Cases that changed\n\n| case | suite | variant | base | candidate | status |\n|---|---|---|---:|---:|---|\n");
        for d in ch {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {}/{} | {}/{} | {} |",
                md_cell(&d.case),
                md_cell(&d.suite),
                md_cell(&d.variant),
                d.base_pass,
                d.base_n,
                d.cand_pass,
                d.cand_n,
                case_status(d)
            );
        }
    }
}

/// Regressions and improvements, each with both sides' failure kind and diagnosis.
fn md_flips(o: &mut String, c: &Comparison, h2: &str) {
    for (title, flips) in [
        ("Regressions (pass → fail)", &c.regressions),
        ("Improvements (fail → pass)", &c.improvements),
    ] {
        if flips.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "\n{h2} {title}\n\n| trial | base | candidate |\n|---|---|---|"
        );
        for f in flips {
            let side = |k: &Option<String>, d: &str| {
                let d = md_cell(&bounded(d));
                match k {
                    Some(k) => format!("`{}` {d}", md_cell(k)),
                    None => format!("pass {d}"),
                }
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} |",
                md_cell(&f.label),
                side(&f.base_failure, &f.base_diagnosis),
                side(&f.cand_failure, &f.cand_diagnosis)
            );
        }
    }
}

/// Per tool accuracy and the when-to-call measures of both sides.
fn md_tools_and_decisions(o: &mut String, c: &Comparison, h2: &str) {
    if !c.tools.is_empty() {
        let _ = write!(
            o,
            "\n{h2} Tools\n\n| tool | base | candidate |\n|---|---|---|\n"
        );
        for t in &c.tools {
            let f = |p: &Option<Proportion>| {
                p.map_or("–".into(), |p| format!("{} {}", ratio(&p), pct(p.value)))
            };
            let _ = writeln!(
                o,
                "| `{}` | {} | {} |",
                md_cell(&t.tool),
                f(&t.base),
                f(&t.cand)
            );
        }
    }
    let rows = decision_rows(c);
    if !rows.is_empty() {
        let _ = write!(
            o,
            "\n{h2} When to call\n\n| measure | base | candidate |\n|---|---|---|\n"
        );
        for [m, b, cand] in rows {
            let _ = writeln!(o, "| {m} | {} | {} |", md_cell(&b), md_cell(&cand));
        }
    }
}

/// Median latencies of both sides and their ratio.
fn md_latency(o: &mut String, c: &Comparison) {
    o.push_str(
        "\n## Latency (p50)\n\n| metric | base | candidate | ratio |\n|---|---:|---:|---:|\n",
    );
    for l in &c.latency {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            l.metric,
            num(l.base_p50),
            num(l.cand_p50),
            ratio_fmt(l.ratio)
        );
    }
}

/// Cases and trials left out of the comparison, and notes.
fn md_left_out(o: &mut String, c: &Comparison) {
    for (title, items) in [
        (
            "Changed expectation (case edited; not compared)",
            &c.changed_expectations,
        ),
        (
            "Changed input (case edited; expectation the same, compared)",
            &c.changed_inputs,
        ),
        ("Only in base", &c.only_in_base),
        ("Only in candidate", &c.only_in_cand),
    ] {
        if !items.is_empty() {
            let _ = writeln!(
                o,
                "\n**{title}** ({}): {}",
                items.len(),
                md_cell(&items.join(", "))
            );
        }
    }
    if !c.excluded_errors.is_empty() {
        o.push_str("\n**Excluded (infra errors, not judged)**\n\n");
        for e in &c.excluded_errors {
            let _ = writeln!(
                o,
                "- {} — base: {} · candidate: {}",
                md_cell(&e.label),
                md_cell(e.base.as_deref().unwrap_or("judged")),
                md_cell(e.cand.as_deref().unwrap_or("judged"))
            );
        }
    }
    for n in &c.notes {
        let _ = writeln!(o, "\n_note: {}_", md_cell(n));
    }
}
