//! When to call: the expected × actual decision matrix (call / answer / ask / refuse) of a
//! set of graded trials, its macro-F1, and the call rates people compare deployments by
//! (docs/statistics.md#decisions).

use crate::stats::Proportion;
use serde::Serialize;
use std::collections::BTreeSet;
use toolgate_core::record::{Decision, GradeRecord};

/// Hallucinating cases listed per group, at most.
const MAX_LISTED: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decisions {
    /// Row and column order of `matrix`: call, answer, ask, refuse.
    pub classes: Vec<&'static str>,
    /// `matrix[expected][actual]`, over trials with both an expected and an actual decision.
    pub matrix: [[u64; 4]; 4],
    /// Trials in `matrix`.
    pub classified: u64,
    /// Trials whose case expects a decision but whose answer has none (empty output).
    pub unclassified: u64,
    /// Mean F1 over the classes that occur (as expected or actual); `None` without any.
    pub macro_f1: Option<f64>,
    /// Per class, in `classes` order: F1, `None` when the class does not occur.
    pub f1: [Option<f64>; 4],
    /// Calls where the case expects none, plus any call when the request offered no tools.
    pub tool_hallucination: Proportion,
    /// Of trials expected to answer, ask or refuse with tools offered: the share that called.
    pub over_call: Proportion,
    /// Of trials expected to call: the share that did not.
    pub under_call: Proportion,
    /// `suite/case` of the hallucinated calls (at most 20).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hallucinated: Vec<String>,
}

fn idx(d: Decision) -> usize {
    Decision::ALL
        .iter()
        .position(|x| *x == d)
        .expect("every decision is in ALL")
}

/// The decisions of `gs`; `None` when none of them carries a decision to count.
pub fn decisions<'a>(gs: impl Iterator<Item = &'a GradeRecord>) -> Option<Decisions> {
    let mut matrix = [[0u64; 4]; 4];
    let (mut unclassified, mut any) = (0u64, false);
    let (mut hall, mut hall_n) = (0u64, 0u64);
    let (mut over, mut over_n, mut under, mut under_n) = (0u64, 0u64, 0u64, 0u64);
    let mut hallucinated = BTreeSet::new();
    for g in gs.filter(|g| !g.warmup) {
        let called = g.decision == Some(Decision::Call);
        if let (Some(e), Some(a)) = (g.expected_decision, g.decision) {
            matrix[idx(e)][idx(a)] += 1;
            any = true;
        } else if g.expected_decision.is_some() && g.decision.is_none() && g.error_kind.is_none() {
            unclassified += 1;
            any = true;
        }
        let Some(_) = g.decision else { continue };
        let expects_none = g.expected_decision.is_some_and(|e| e != Decision::Call);
        if g.no_tools || expects_none {
            any = true;
            hall_n += 1;
            if called {
                hall += 1;
                hallucinated.insert(format!("{}/{}", g.key.suite, g.key.case));
            }
        }
        if expects_none && !g.no_tools {
            over_n += 1;
            over += u64::from(called);
        }
        if g.expected_decision == Some(Decision::Call) {
            under_n += 1;
            under += u64::from(!called);
        }
    }
    if !any {
        return None;
    }
    let f1: [Option<f64>; 4] = std::array::from_fn(|k| class_f1(&matrix, k));
    let present: Vec<f64> = f1.iter().flatten().copied().collect();
    Some(Decisions {
        classes: Decision::ALL.iter().map(|d| d.as_str()).collect(),
        classified: matrix.iter().flatten().sum(),
        matrix,
        unclassified,
        macro_f1: (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64),
        f1,
        tool_hallucination: Proportion::new(hall, hall_n),
        over_call: Proportion::new(over, over_n),
        under_call: Proportion::new(under, under_n),
        hallucinated: hallucinated.into_iter().take(MAX_LISTED).collect(),
    })
}

/// F1 of class `k` (one-vs-rest); `None` when it is neither expected nor predicted.
fn class_f1(m: &[[u64; 4]; 4], k: usize) -> Option<f64> {
    let tp = m[k][k];
    let expected: u64 = m[k].iter().sum();
    let predicted: u64 = m.iter().map(|r| r[k]).sum();
    if expected == 0 && predicted == 0 {
        return None;
    }
    // 2·tp / (expected + predicted) is F1 without dividing by zero precision or recall.
    Some(2.0 * tp as f64 / (expected + predicted) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(
        case: &str,
        expected: Option<Decision>,
        actual: Option<Decision>,
        no_tools: bool,
    ) -> GradeRecord {
        let mut g: GradeRecord = serde_json::from_value(serde_json::json!({
            "key": {"target": "t", "suite": "s", "case": case, "prompt": "p", "variant": "v", "repeat": 0},
            "verdict": "pass", "diagnosis": "", "grader_version": "1"
        }))
        .unwrap();
        g.expected_decision = expected;
        g.decision = actual;
        g.no_tools = no_tools;
        g
    }

    #[test]
    fn matrix_f1_and_rates() {
        use Decision::*;
        let gs = [
            g("a", Some(Call), Some(Call), false),
            g("b", Some(Call), Some(Answer), false),
            g("c", Some(Ask), Some(Call), false),
            g("d", Some(Ask), Some(Ask), false),
            g("e", Some(Answer), Some(Answer), false),
            g("f", Some(Answer), Some(Call), true),
            g("g", Some(Ask), None, false),
        ];
        let d = decisions(gs.iter()).unwrap();
        assert_eq!(d.matrix[0], [1, 1, 0, 0]);
        assert_eq!(d.matrix[2], [1, 0, 1, 0]);
        assert_eq!(d.classified, 6);
        assert_eq!(d.unclassified, 1);
        // call: tp 1, expected 2, predicted 3 → 0.4; answer: 1, 2, 2 → 0.5; ask: 1, 2, 1 → 2/3.
        assert!((d.f1[0].unwrap() - 0.4).abs() < 1e-9);
        assert!((d.f1[1].unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(d.f1[3], None);
        assert!((d.macro_f1.unwrap() - (0.4 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-9);
        // Hallucinated: c (expects ask) and f (no tools) of c, d, e, f.
        assert_eq!(
            (d.tool_hallucination.successes, d.tool_hallucination.n),
            (2, 4)
        );
        assert_eq!(d.hallucinated, vec!["s/c", "s/f"]);
        // Over-call leaves out the no-tools trial f: c of c, d, e.
        assert_eq!((d.over_call.successes, d.over_call.n), (1, 3));
        assert_eq!((d.under_call.successes, d.under_call.n), (1, 2));
    }

    #[test]
    fn nothing_to_count_is_none() {
        assert_eq!(decisions([g("a", None, None, false)].iter()), None);
    }
}
