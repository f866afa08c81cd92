//! The case as the unit of a comparison. Repeats of one case are not independent evidence
//! (a case that fails 10/10 is one broken case, not ten), so every decision statistic works
//! on per-case pass rates: each case's repeats are pooled per side, and the paired per-case
//! differences are tested with an exact one-sided sign test over cases.

use crate::stats::{sign_test_min_units, sign_test_one_sided};
use serde::Serialize;
use std::collections::BTreeMap;
use toolgate_core::record::{GradeRecord, Verdict};

/// Fewest repeats on each side before "passed every time, failed every time" is called
/// stable: one or two runs cannot tell a stable failure from a flaky one.
pub const STABLE_MIN_REPEATS: u64 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Same all-pass or all-fail on both sides.
    Same,
    /// Passed every judged base trial, failed every judged candidate trial.
    Regressed,
    /// Failed every judged base trial, passed every judged candidate trial.
    Improved,
    /// Mixed results on at least one side: named as flaky, never as a regression.
    Flaky,
    /// Judged on one side only (missing or errored on the other).
    Unpaired,
}

/// One case (suite, case, prompt, variant, target as paired), its repeats pooled per side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseDelta {
    /// `suite/case [variant] prompt @target`, the fields that paired it.
    pub label: String,
    pub suite: String,
    pub case: String,
    pub variant: String,
    pub base_pass: u64,
    pub base_n: u64,
    pub cand_pass: u64,
    pub cand_n: u64,
    pub status: CaseStatus,
    /// Regressed with at least [`STABLE_MIN_REPEATS`] judged trials on each side.
    pub stable: bool,
    /// The first failing candidate trial's failure kind and diagnosis, when one failed.
    pub cand_failure: Option<String>,
    pub cand_diagnosis: Option<String>,
}

impl CaseDelta {
    pub fn paired(&self) -> bool {
        self.base_n > 0 && self.cand_n > 0
    }

    /// Candidate pass rate minus base pass rate; `None` unless both sides were judged.
    pub fn delta(&self) -> Option<f64> {
        self.paired().then(|| {
            self.cand_pass as f64 / self.cand_n as f64 - self.base_pass as f64 / self.base_n as f64
        })
    }

    /// Worse in the candidate (any regressed or flaky case with a lower pass rate).
    pub fn worse(&self) -> bool {
        self.delta().is_some_and(|d| d < 0.0)
    }

    /// `5/5 → 0/5`.
    pub fn counts(&self) -> String {
        format!(
            "{}/{} → {}/{}",
            self.base_pass, self.base_n, self.cand_pass, self.cand_n
        )
    }
}

/// Case-level statistics over a set of cases (the comparison or one suite).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseStats {
    /// Cases judged on both sides.
    pub cases: u64,
    /// Cases whose candidate pass rate is lower / higher than the base's.
    pub worse: u64,
    pub better: u64,
    /// Mean per-case pass rate of each side over the paired cases (with one repeat, the
    /// plain accuracy).
    pub base_rate: Option<f64>,
    pub cand_rate: Option<f64>,
    /// `cand_rate − base_rate`.
    pub delta: Option<f64>,
    /// One-sided exact sign test over cases: the candidate is worse / better.
    pub p_worse: f64,
    pub p_better: f64,
    /// The fewest judged repeats any paired case has on either side (1 without repeats).
    pub min_repeats: u64,
}

pub fn case_stats<'a>(cases: impl IntoIterator<Item = &'a CaseDelta>) -> CaseStats {
    let (mut n, mut worse, mut better, mut b, mut c) = (0u64, 0u64, 0u64, 0.0f64, 0.0f64);
    let mut min_repeats = u64::MAX;
    for d in cases.into_iter().filter(|d| d.paired()) {
        n += 1;
        b += d.base_pass as f64 / d.base_n as f64;
        c += d.cand_pass as f64 / d.cand_n as f64;
        min_repeats = min_repeats.min(d.base_n).min(d.cand_n);
        match d.delta() {
            Some(x) if x < 0.0 => worse += 1,
            Some(x) if x > 0.0 => better += 1,
            _ => {}
        }
    }
    let rate = |s: f64| (n > 0).then(|| s / n as f64);
    CaseStats {
        cases: n,
        worse,
        better,
        base_rate: rate(b),
        cand_rate: rate(c),
        delta: (n > 0).then(|| (c - b) / n as f64),
        p_worse: sign_test_one_sided(worse, better),
        p_better: sign_test_one_sided(better, worse),
        min_repeats: if n == 0 { 0 } else { min_repeats },
    }
}

/// Pools the trials of each side per case. `key` maps a trial to its case key (the pairing
/// key without the repeat) and `label` names it. Infra errors are not judged and not pooled.
pub fn pool<K: Ord + Clone>(
    base: impl IntoIterator<Item = (K, String, GradeRef)>,
    cand: impl IntoIterator<Item = (K, String, GradeRef)>,
) -> Vec<CaseDelta> {
    #[derive(Default)]
    struct Acc {
        label: String,
        suite: String,
        case: String,
        variant: String,
        b: (u64, u64),
        c: (u64, u64),
        failure: Option<(Option<String>, String)>,
    }
    let mut m: BTreeMap<K, Acc> = BTreeMap::new();
    for (side, items) in [
        (0, base.into_iter().collect::<Vec<_>>()),
        (1, cand.into_iter().collect()),
    ] {
        for (k, label, g) in items {
            let a = m.entry(k).or_default();
            if a.label.is_empty() {
                a.label = label;
                a.suite = g.suite.clone();
                a.case = g.case.clone();
                a.variant = g.variant.clone();
            }
            let counts = if side == 0 { &mut a.b } else { &mut a.c };
            match g.verdict {
                Verdict::Pass => {
                    counts.0 += 1;
                    counts.1 += 1;
                }
                Verdict::Fail => {
                    counts.1 += 1;
                    if side == 1 && a.failure.is_none() {
                        a.failure = Some((g.failure.clone(), g.diagnosis.clone()));
                    }
                }
                Verdict::Error | Verdict::Recorded => {}
            }
        }
    }
    m.into_values()
        .map(|a| {
            let ((bp, bn), (cp, cn)) = (a.b, a.c);
            let status = if bn == 0 || cn == 0 {
                CaseStatus::Unpaired
            } else if (bp > 0 && bp < bn) || (cp > 0 && cp < cn) {
                CaseStatus::Flaky
            } else if bp == bn && cp == 0 {
                CaseStatus::Regressed
            } else if bp == 0 && cp == cn {
                CaseStatus::Improved
            } else {
                CaseStatus::Same
            };
            let (cand_failure, cand_diagnosis) = match a.failure {
                Some((f, d)) => (f, Some(d)),
                None => (None, None),
            };
            CaseDelta {
                label: a.label,
                suite: a.suite,
                case: a.case,
                variant: a.variant,
                base_pass: bp,
                base_n: bn,
                cand_pass: cp,
                cand_n: cn,
                status,
                stable: status == CaseStatus::Regressed
                    && bn >= STABLE_MIN_REPEATS
                    && cn >= STABLE_MIN_REPEATS,
                cand_failure,
                cand_diagnosis,
            }
        })
        .collect()
}

/// What [`pool`] needs of one grade (owned, so callers can build it from any record).
#[derive(Debug, Clone)]
pub struct GradeRef {
    pub suite: String,
    pub case: String,
    pub variant: String,
    pub verdict: Verdict,
    pub failure: Option<String>,
    pub diagnosis: String,
}

impl GradeRef {
    pub fn of(g: &GradeRecord) -> GradeRef {
        GradeRef {
            suite: g.key.suite.to_string(),
            case: g.key.case.to_string(),
            variant: g.key.variant.to_string(),
            verdict: g.verdict,
            failure: g.failure.map(|f| f.as_str().to_string()),
            diagnosis: g.diagnosis.to_string(),
        }
    }
}

/// What would settle an inconclusive drop, computed from the suite's size and the sign
/// test's floor (never hard-coded): `--repeat R`, or about N more cases, would detect a drop
/// of X pts at `alpha`.
///
/// The floor: a one-sided sign test needs at least `k` cases moving the same way (5 at
/// α = 0.05). With `n` cases of `r` repeats each, the smallest drop it can call significant is
/// `k / (n·r)`: `k` cases each losing one repeat. So a drop `D` needs `r ≥ k / (n·D)` repeats
/// or `n ≥ k / (D·r)` cases. When some cases moved the other way, or the suite is already
/// fine enough and the change sits in fewer than `k` cases, repeats do not help: the advice
/// scales the suite with the same mix of changes until the test would decide.
pub fn advice(st: &CaseStats, drop: f64, alpha: f64) -> String {
    format!(
        "with {}{}, a drop of {} cannot be told from noise. {}",
        plural(st.cases, "case"),
        if st.min_repeats > 1 {
            format!(" × {} repeats", st.min_repeats)
        } else {
            String::new()
        },
        pts(drop),
        needed(st, drop, alpha, "drop")
    )
}

/// What would detect a change of `d` (a fraction) at `alpha`; see [`advice`].
fn needed(st: &CaseStats, d: f64, alpha: f64, what: &str) -> String {
    let k = sign_test_min_units(alpha);
    let n = st.cases.max(1) as f64;
    let r = st.min_repeats.max(1) as f64;
    let d = d.max(1e-6);
    let cases_needed = (k as f64 / (d * r)).ceil();
    let (moved, against) = if st.worse >= st.better {
        (st.worse, st.better)
    } else {
        (st.better, st.worse)
    };
    // Changes all one way but too few for the floor: finer resolution (repeats) or more
    // cases. Changes both ways: only more cases with the same mix can decide.
    if against == 0 && cases_needed > n {
        let repeats = (k as f64 / (n * d)).ceil().max(r + 1.0);
        return format!(
            "`--repeat {repeats}`, or about {} more cases, would detect a {what} of {} at α = {alpha}.",
            cases_needed - n,
            pts(k as f64 / (n * repeats))
        );
    }
    // The suite is fine-grained enough; what is missing is cases moving one way. Scale the
    // suite with the same mix of changes until the test would decide.
    let why = if against == 0 {
        format!(
            "The change comes from {}; the sign test needs {k} cases moving the same way",
            plural(moved, "case")
        )
    } else {
        format!(
            "{} moved one way and {} the other",
            plural(moved, "case"),
            against
        )
    };
    match (2..=1000u64).find(|&m| sign_test_one_sided(moved * m, against * m) < alpha) {
        Some(m) => format!(
            "{why}: about {} more cases with the same mix of changes would detect it at α = {alpha}.",
            (m - 1) * st.cases
        ),
        None => format!("{why}: they balance, so no suite size would call this a {what}."),
    }
}

fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Significance level of `compare`'s verdict line (the gate uses the policy's `alpha`).
pub const COMPARE_ALPHA: f64 = 0.05;
/// The difference `compare` sizes its "would need" advice for when none was observed.
pub const COMPARE_EFFECT: f64 = 0.05;

/// `compare`'s one verdict line: `candidate better (p = …)`, `candidate worse (p = …)`, or
/// `no detectable difference at this size (would need …)`.
pub fn verdict(st: &CaseStats) -> String {
    if st.cases == 0 {
        return "no paired cases: nothing to compare".into();
    }
    if st.worse == 0 && st.better == 0 {
        // Nothing moved: there is no difference to size advice for.
        return format!(
            "no difference: none of the {} changed its pass rate",
            plural(st.cases, "case")
        );
    }
    if st.p_worse < COMPARE_ALPHA {
        return format!(
            "candidate worse ({}, sign test over cases)",
            p_fmt(st.p_worse)
        );
    }
    if st.p_better < COMPARE_ALPHA {
        return format!(
            "candidate better ({}, sign test over cases)",
            p_fmt(st.p_better)
        );
    }
    let d = st.delta.map_or(0.0, f64::abs).max(COMPARE_EFFECT);
    format!(
        "no detectable difference at this size ({}, {} worse, {} better; {}, {}). To detect a {} difference: {}",
        plural(st.cases, "case"),
        st.worse,
        st.better,
        p_fmt(st.p_worse).replace("p ", "p(worse) "),
        p_fmt(st.p_better).replace("p ", "p(better) "),
        pts(d),
        needed(st, d, COMPARE_ALPHA, "difference")
    )
}

fn pts(x: f64) -> String {
    // No "-0.0 pts" for a drop that rounds to nothing.
    let v = x * 100.0;
    format!("{:.1} pts", if v.abs() < 0.05 { 0.0 } else { v })
}

/// `p = 0.0312`, `p < 0.0001`: one format everywhere.
pub fn p_fmt(p: f64) -> String {
    if p < 0.0001 {
        "p < 0.0001".into()
    } else {
        format!("p = {p:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(bp: u64, bn: u64, cp: u64, cn: u64) -> CaseDelta {
        let g = |v| GradeRef {
            suite: "s".into(),
            case: "c".into(),
            variant: "v".into(),
            verdict: v,
            failure: None,
            diagnosis: "d".into(),
        };
        let side = |p: u64, n: u64| -> Vec<((), String, GradeRef)> {
            (0..n)
                .map(|i| {
                    let v = if i < p { Verdict::Pass } else { Verdict::Fail };
                    ((), "s/c".to_string(), g(v))
                })
                .collect()
        };
        pool(side(bp, bn), side(cp, cn)).remove(0)
    }

    #[test]
    fn statuses() {
        assert_eq!(case(1, 1, 0, 1).status, CaseStatus::Regressed);
        assert!(!case(1, 1, 0, 1).stable);
        assert!(case(3, 3, 0, 3).stable);
        assert!(!case(3, 3, 0, 2).stable);
        assert_eq!(case(5, 5, 1, 5).status, CaseStatus::Flaky);
        assert_eq!(case(0, 2, 2, 2).status, CaseStatus::Improved);
        assert_eq!(case(2, 2, 2, 2).status, CaseStatus::Same);
        assert_eq!(case(2, 2, 0, 0).status, CaseStatus::Unpaired);
        assert_eq!(case(5, 5, 1, 5).counts(), "5/5 → 1/5");
    }

    #[test]
    fn repeats_count_once_per_case() {
        let mut cs: Vec<CaseDelta> = (0..7).map(|_| case(10, 10, 10, 10)).collect();
        cs.push(case(10, 10, 0, 10));
        let st = case_stats(&cs);
        assert_eq!(
            (st.cases, st.worse, st.better, st.min_repeats),
            (8, 1, 0, 10)
        );
        assert!((st.p_worse - 0.5).abs() < 1e-12);
        assert!((st.delta.unwrap() + 0.125).abs() < 1e-12);
    }

    #[test]
    fn concentrated_change_asks_for_more_cases() {
        // One case of eight fails 10/10: repeats cannot help the sign test; cases can.
        let mut cs: Vec<CaseDelta> = (0..7).map(|_| case(10, 10, 10, 10)).collect();
        cs.push(case(10, 10, 0, 10));
        let a = advice(&case_stats(&cs), 0.125, 0.05);
        assert!(a.contains("The change comes from 1 case; the sign test needs 5 cases moving the same way: about 32 more cases"), "{a}");
        assert!(verdict(&case_stats(&cs)).starts_with(
            "no detectable difference at this size (8 cases, 1 worse, 0 better; p(worse) = 0.5000"
        ));
    }

    #[test]
    fn advice_is_computed_from_size() {
        // 16 cases, one flip: 6.25 pts; k = 5 → 80 cases (64 more) or --repeat 5 (6.25 pts).
        let mut cs: Vec<CaseDelta> = (0..15).map(|_| case(1, 1, 1, 1)).collect();
        cs.push(case(1, 1, 0, 1));
        let st = case_stats(&cs);
        let a = advice(&st, 0.0625, 0.05);
        assert_eq!(
            a,
            "with 16 cases, a drop of 6.2 pts cannot be told from noise. `--repeat 5`, or about 64 more cases, would detect a drop of 6.2 pts at α = 0.05."
        );
        // Balanced: 5 worse, 4 better on 100 cases.
        let mut cs: Vec<CaseDelta> = (0..91).map(|_| case(1, 1, 1, 1)).collect();
        cs.extend((0..5).map(|_| case(1, 1, 0, 1)));
        cs.extend((0..4).map(|_| case(0, 1, 1, 1)));
        let st = case_stats(&cs);
        let a = advice(&st, 0.01, 0.05);
        assert!(a.contains("5 cases moved one way and 4 the other"), "{a}");
        assert!(a.contains("more cases with the same mix"), "{a}");
    }
}
