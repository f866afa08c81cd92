//! The CI decision: a [`Policy`] (TOML) applied to a [`Comparison`] of a base and a
//! candidate run. Exit codes (docs/run-folder.md#exit-codes): 0 pass, 1 fail or inconclusive,
//! 3 incomplete.

use crate::cases::{advice, p_fmt, CaseDelta, CaseStats, CaseStatus, STABLE_MIN_REPEATS};
use crate::compare::{compare, CompareOptions, Comparison};
use crate::run::RunData;
use crate::text::{md_cell, pct, term};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Gate policy. Every field is optional in the file; defaults are chosen so that a policy
/// file is only needed to tighten the gate.
///
/// ```toml
/// min_accuracy = 0.8            # candidate accuracy floor over all judged trials (default: none)
/// max_regressions = 2           # regressed cases allowed (default: no limit; see below)
/// max_stable_regressions = 0    # cases that passed every base repeat and failed every
///                               # candidate repeat, 3+ repeats each side (default 0)
/// max_accuracy_drop = 0.05      # per-case accuracy drop allowed, 0..1 (default 0.05)
/// require_significance = true   # a drop fails only if the sign test p < alpha (default true)
/// alpha = 0.05                  # significance level, one-sided (default 0.05)
/// on_inconclusive = "fail"      # a drop over the limit the suite is too small to confirm:
///                               # "fail" (exit 1, labelled INCONCLUSIVE) or "pass"
/// allow_missing_cases = false   # may base cases lack candidate trials? (default false)
/// max_ttft_p50_ratio = 1.5      # candidate/base TTFT p50 ceiling (default: none)
/// max_tool_hallucination_rate = 0.05 # candidate calls where no call is expected, or no
///                               # tools were offered, over those trials (default: none)
/// allow_incomplete = false      # may an incomplete run pass? (default false → exit 3)
///
/// [suites.voice-3tool]
/// min_accuracy = 0.9            # per-suite floor (candidate)
/// max_accuracy_drop = 0.0       # per-suite drop override
///
/// [tools.get_entity_details]
/// min_accuracy = 0.75           # per-tool floor over trials expecting that tool
/// ```
///
/// `max_regressions` has no default limit because a single flip on a noisy model is not
/// evidence; the significance-aware drop rule is the default guard, and a team that wants
/// "no flips at all" sets `max_regressions = 0`. The case is the unit everywhere: repeats of
/// a case are pooled into one pass rate per side (see `cases.rs`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    #[serde(deserialize_with = "opt_fraction")]
    pub min_accuracy: Option<f64>,
    pub max_regressions: Option<u64>,
    pub max_stable_regressions: u64,
    #[serde(deserialize_with = "fraction")]
    pub max_accuracy_drop: f64,
    pub require_significance: bool,
    #[serde(deserialize_with = "alpha")]
    pub alpha: f64,
    #[serde(deserialize_with = "opt_positive")]
    pub max_ttft_p50_ratio: Option<f64>,
    #[serde(deserialize_with = "opt_fraction")]
    pub max_tool_hallucination_rate: Option<f64>,
    pub allow_incomplete: bool,
    pub on_inconclusive: OnInconclusive,
    pub allow_missing_cases: bool,
    pub suites: BTreeMap<String, SuitePolicy>,
    pub tools: BTreeMap<String, ToolPolicy>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_accuracy: None,
            max_regressions: None,
            max_stable_regressions: 0,
            max_accuracy_drop: 0.05,
            require_significance: true,
            alpha: 0.05,
            max_ttft_p50_ratio: None,
            max_tool_hallucination_rate: None,
            allow_incomplete: false,
            on_inconclusive: OnInconclusive::Fail,
            allow_missing_cases: false,
            suites: BTreeMap::new(),
            tools: BTreeMap::new(),
        }
    }
}

/// What an inconclusive drop does to the decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnInconclusive {
    /// Exit 1, labelled INCONCLUSIVE (not as a regression).
    #[default]
    Fail,
    /// Exit 0; the reason still says the drop could not be confirmed.
    Pass,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SuitePolicy {
    #[serde(deserialize_with = "opt_fraction")]
    pub min_accuracy: Option<f64>,
    #[serde(deserialize_with = "opt_fraction")]
    pub max_accuracy_drop: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ToolPolicy {
    #[serde(deserialize_with = "fraction")]
    pub min_accuracy: f64,
}

// Range checks run inside deserialisation so toml reports the offending value's span.
fn fraction<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected a fraction between 0 and 1 (e.g. 0.9 for 90%), got {v}"
        )))
    }
}

fn opt_fraction<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    fraction(d).map(Some)
}

fn alpha<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "alpha must be between 0 and 1 (exclusive), got {v}"
        )))
    }
}

fn opt_positive<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v = f64::deserialize(d)?;
    if v.is_finite() && v > 0.0 {
        Ok(Some(v))
    } else {
        Err(serde::de::Error::custom(format!(
            "expected a positive ratio (e.g. 1.5), got {v}"
        )))
    }
}

/// A policy file that could not be read or parsed. `line`/`column` are 1-based.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", path.display())]
pub struct PolicyError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Policy {
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let bytes = std::fs::read(path).map_err(|e| PolicyError {
            path: path.to_path_buf(),
            line: 0,
            column: 0,
            message: e.to_string(),
        })?;
        // Not UTF-8 is bad input like any other: say where (read_to_string would not).
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = e.utf8_error().valid_up_to();
            let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
            let (line, column) = line_col(&prefix, prefix.len());
            PolicyError {
                path: path.to_path_buf(),
                line,
                column,
                message: "invalid UTF-8 (expected UTF-8 text)".into(),
            }
        })?;
        Policy::from_toml(&text, path)
    }

    /// Parses policy TOML; `path` only names the source in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Policy, PolicyError> {
        toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            PolicyError {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().to_string(),
            }
        })
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// How one rule came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Fail,
    /// Over the limit, but the suite is too small to tell the drop from noise.
    Inconclusive,
    Pass,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateReason {
    /// The policy key behind the reason (`min_accuracy`, `suites.NAME.min_accuracy`, …).
    pub rule: String,
    /// `outcome == Pass`.
    pub passed: bool,
    pub outcome: Outcome,
    pub message: String,
    /// Trial ids or case labels behind the reason (regressions, failing trials), for JSON;
    /// the text shows regressed cases once, below the rules.
    pub cases: Vec<String>,
}

/// The gate's decision, in the words the log leads with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Passed,
    Failed,
    /// A drop over the limit that the suite is too small to confirm, and the policy says
    /// `on_inconclusive = "fail"` (the default).
    Inconclusive,
    Incomplete,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateDecision {
    pub decision: Decision,
    pub passed: bool,
    /// Either run is incomplete.
    pub incomplete: bool,
    /// Failing reasons first, then inconclusive, then passing ones, each in rule order.
    pub reasons: Vec<GateReason>,
    pub comparison: Comparison,
}

impl Decision {
    /// The process exit code (docs/run-folder.md#exit-codes): 0 passed; 3 a run is incomplete
    /// and the policy does not allow it; 1 failed or inconclusive. The binary's `exit.rs`
    /// holds the same numbers as named constants and a test that they agree.
    pub fn exit_code(self) -> i32 {
        match self {
            Decision::Passed => 0,
            Decision::Incomplete => 3,
            Decision::Failed | Decision::Inconclusive => 1,
        }
    }
}

impl GateDecision {
    /// The exit code of [`GateDecision::decision`].
    pub fn exit_code(&self) -> i32 {
        self.decision.exit_code()
    }
}

/// Gates `cand` against `base` on every trial of both runs.
pub fn gate(base: &RunData, cand: &RunData, policy: &Policy) -> GateDecision {
    gate_with(base, cand, policy, &CompareOptions::default())
}

/// Gates with slice filters (e.g. prompt=B against prompt=A within one run).
pub fn gate_with(
    base: &RunData,
    cand: &RunData,
    policy: &Policy,
    opts: &CompareOptions,
) -> GateDecision {
    decide(compare(base, cand, opts), policy)
}

/// Suite and tool names in the policy that match nothing in either run: a typo there
/// would otherwise be a rule that can never hold, so callers treat it as bad input.
pub fn unknown_policy_names(c: &Comparison, policy: &Policy) -> Vec<String> {
    let mut out = Vec::new();
    let suites: Vec<&str> = c.suites.iter().map(|s| s.suite.as_str()).collect();
    for name in policy.suites.keys() {
        if !suites.contains(&name.as_str()) {
            out.push(format!(
                "policy names suite `{name}`, which is in neither run (suites: {})",
                if suites.is_empty() {
                    "none".to_string()
                } else {
                    suites.join(", ")
                }
            ));
        }
    }
    let tools: Vec<&str> = c.tools.iter().map(|t| t.tool.as_str()).collect();
    for name in policy.tools.keys() {
        if !tools.contains(&name.as_str()) {
            out.push(format!(
                "policy names tool `{name}`, which no case of either run expects (tools: {})",
                if tools.is_empty() {
                    "none".to_string()
                } else {
                    tools.join(", ")
                }
            ));
        }
    }
    out
}

fn reason(
    rule: impl Into<String>,
    outcome: Outcome,
    message: String,
    cases: Vec<String>,
) -> GateReason {
    GateReason {
        rule: rule.into(),
        passed: outcome == Outcome::Pass,
        outcome,
        message,
        cases,
    }
}

fn ok(passed: bool) -> Outcome {
    if passed {
        Outcome::Pass
    } else {
        Outcome::Fail
    }
}

fn pts(x: f64) -> String {
    // No "-0.0 pts" for a drop that rounds to nothing.
    let v = x * 100.0;
    format!("{:.1} pts", if v.abs() < 0.05 { 0.0 } else { v })
}

/// `max_tool_hallucination_rate`: the candidate's calls where its case expects no call (or
/// no tools were offered), over those trials, against the ceiling. With no such trial the
/// rule cannot hold (like a misspelled suite name): it fails and says why.
fn hallucination_rule(c: &Comparison, max: f64) -> GateReason {
    let rule = "max_tool_hallucination_rate";
    let base = c
        .base
        .decisions
        .as_ref()
        .map(|d| &d.tool_hallucination)
        .filter(|p| p.n > 0);
    match c.cand.decisions.as_ref().filter(|d| d.tool_hallucination.n > 0) {
        Some(d) => {
            let p = &d.tool_hallucination;
            reason(
                rule,
                ok(p.value.is_some_and(|v| v <= max + 1e-12)),
                format!(
                    "candidate tool hallucination {} vs ceiling {}{}",
                    crate::render::rate(p),
                    pct(Some(max)),
                    base.map_or(String::new(), |b| format!(
                        " (base {})",
                        crate::render::rate(b)
                    ))
                ),
                d.hallucinated.clone(),
            )
        }
        None => reason(
            rule,
            Outcome::Fail,
            "no candidate trial could hallucinate a call (no case expects no call, asks, refuses or offers no tools)".to_string(),
            Vec::new(),
        ),
    }
}

/// `allow_incomplete`: said only when a side is incomplete.
fn incomplete_rule(c: &Comparison, policy: &Policy) -> Option<GateReason> {
    if c.base.complete && c.cand.complete {
        return None;
    }
    let which: Vec<&str> = [(&c.base, "base"), (&c.cand, "candidate")]
        .iter()
        .filter(|(s, _)| !s.complete)
        .map(|(_, n)| *n)
        .collect();
    Some(reason(
        "allow_incomplete",
        ok(policy.allow_incomplete),
        format!(
            "the {} run is incomplete; {}",
            which.join(" and "),
            if policy.allow_incomplete {
                "allowed by the policy"
            } else {
                "a gate never passes on an incomplete run unless `allow_incomplete = true`"
            }
        ),
        Vec::new(),
    ))
}

/// `pairs`: how many cases were compared, and what was left out of the pairing.
fn pairs_rule(c: &Comparison) -> GateReason {
    let o = &c.overall;
    let cs = &c.case_stats;
    let mut unpaired = Vec::new();
    if !c.only_in_base.is_empty() {
        unpaired.push(format!("{} base trials", c.only_in_base.len()));
    }
    if !c.only_in_cand.is_empty() {
        unpaired.push(format!("{} candidate trials", c.only_in_cand.len()));
    }
    if !c.excluded_errors.is_empty() {
        let n = c.excluded_errors.len();
        unpaired.push(format!(
            "{n} pair{} with an infra error",
            if n == 1 { "" } else { "s" }
        ));
    }
    reason(
        "pairs",
        ok(cs.cases > 0),
        if cs.cases > 0 {
            format!(
                "{} cases compared ({} paired trials){}",
                cs.cases,
                o.pairs,
                if unpaired.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; left out, listed in the compare report: {}",
                        unpaired.join(", ")
                    )
                }
            )
        } else {
            "no case of the candidate pairs with a judged case of the base: nothing to compare"
                .to_string()
        },
        Vec::new(),
    )
}

/// `allow_missing_cases`: baseline cases with no candidate trial, and cases whose
/// expectation changed since the baseline.
fn coverage_rules(c: &Comparison, policy: &Policy) -> Vec<GateReason> {
    let mut rs = Vec::new();
    if !c.missing_cases.is_empty() {
        let n = c.missing_cases.len();
        let shown: Vec<&str> = c.missing_cases.iter().take(3).map(String::as_str).collect();
        rs.push(reason(
            "allow_missing_cases",
            ok(policy.allow_missing_cases),
            format!(
                "coverage: {n} baseline case{} no candidate trial (e.g. {}){}",
                if n == 1 { " has" } else { "s have" },
                shown.join(", "),
                if policy.allow_missing_cases {
                    "; allowed by the policy"
                } else {
                    "; a skipped suite, a tag filter or a crashed shard? `allow_missing_cases = true` allows it"
                }
            ),
            c.missing_cases.clone(),
        ));
    }

    if !c.changed_expectations.is_empty() {
        // Judged by different rules on each side: they cannot count for or against the
        // candidate, so they are uncovered like missing cases, and named.
        let n = c.changed_expectations.len();
        let shown: Vec<&str> = c
            .changed_expectations
            .iter()
            .take(3)
            .map(String::as_str)
            .collect();
        rs.push(reason(
            "allow_missing_cases",
            ok(policy.allow_missing_cases),
            format!(
                "coverage: {n} case{} changed {} expectation since the baseline and {} not compared (e.g. {}){}",
                if n == 1 { "" } else { "s" },
                if n == 1 { "its" } else { "their" },
                if n == 1 { "is" } else { "are" },
                shown.join(", "),
                if policy.allow_missing_cases {
                    "; allowed by the policy"
                } else {
                    "; re-run the baseline with the edited cases (`toolgate accept`), or `allow_missing_cases = true`"
                }
            ),
            c.changed_expectations.clone(),
        ));
    }
    rs
}

/// `min_accuracy`, overall and per suite: the candidate's accuracy against its floor.
fn accuracy_floor_rules(c: &Comparison, policy: &Policy) -> Vec<GateReason> {
    let mut rs = Vec::new();
    if let Some(min) = policy.min_accuracy {
        let acc = c.cand.counts.accuracy.value;
        let failed: Vec<String> = c
            .suites
            .iter()
            .flat_map(|s| s.cand_failed.clone())
            .collect();
        rs.push(reason(
            "min_accuracy",
            ok(acc.is_some_and(|a| a >= min)),
            format!(
                "candidate accuracy {} ({}/{}) vs floor {}",
                pct(acc),
                c.cand.counts.passed,
                c.cand.counts.judged,
                pct(Some(min))
            ),
            failed,
        ));
    }

    for (name, sp) in &policy.suites {
        let suite = c.suites.iter().find(|s| &s.suite == name);
        if let Some(min) = sp.min_accuracy {
            let rule = format!("suites.{name}.min_accuracy");
            match suite.filter(|s| s.cand_counts.judged > 0) {
                Some(s) => {
                    let acc = s.cand_counts.accuracy.value;
                    rs.push(reason(
                        rule,
                        ok(acc.is_some_and(|a| a >= min)),
                        format!(
                            "suite {name}: candidate accuracy {} ({}/{}) vs floor {}",
                            pct(acc),
                            s.cand_counts.passed,
                            s.cand_counts.judged,
                            pct(Some(min))
                        ),
                        s.cand_failed.clone(),
                    ));
                }
                None => rs.push(reason(
                    rule,
                    Outcome::Fail,
                    format!("suite {name}: no judged candidate trials (misspelled suite name?)"),
                    Vec::new(),
                )),
            }
        }
    }
    rs
}

/// `max_regressions` and `max_stable_regressions`: cases that passed every base trial and
/// failed every candidate trial.
fn regression_rules(c: &Comparison, policy: &Policy) -> Vec<GateReason> {
    let mut rs = Vec::new();
    let regressed: Vec<&CaseDelta> = c
        .cases
        .iter()
        .filter(|d| d.status == CaseStatus::Regressed)
        .collect();
    if let Some(max) = policy.max_regressions {
        rs.push(reason(
            "max_regressions",
            ok(regressed.len() as u64 <= max),
            format!(
                "{} case{} regressed (passed every base trial, failed every candidate trial; allowed: {max})",
                regressed.len(),
                if regressed.len() == 1 { "" } else { "s" }
            ),
            regressed.iter().map(|d| d.label.clone()).collect(),
        ));
    }

    let stable: Vec<&CaseDelta> = regressed.iter().copied().filter(|d| d.stable).collect();
    let repeated = c
        .cases
        .iter()
        .any(|d| d.base_n >= STABLE_MIN_REPEATS && d.cand_n >= STABLE_MIN_REPEATS);
    rs.push(reason(
        "max_stable_regressions",
        ok(stable.len() as u64 <= policy.max_stable_regressions),
        if repeated {
            format!(
                "{} stable regression{} (passed all {STABLE_MIN_REPEATS}+ base repeats, failed all candidate repeats; allowed: {})",
                stable.len(),
                if stable.len() == 1 { "" } else { "s" },
                policy.max_stable_regressions
            )
        } else {
            format!(
                "not counted: no case has {STABLE_MIN_REPEATS}+ repeats on both sides (one run cannot tell a stable failure from a flaky one)"
            )
        },
        stable.iter().map(|d| d.label.clone()).collect(),
    ));
    rs
}

/// `max_accuracy_drop`, overall and per suite, each on its own cases.
fn accuracy_drop_rules(c: &Comparison, policy: &Policy) -> Vec<GateReason> {
    let mut rs = Vec::new();
    rs.extend(drop_reason(
        "max_accuracy_drop".into(),
        "all suites",
        &c.case_stats,
        policy.max_accuracy_drop,
        true,
        policy,
    ));
    for s in &c.suites {
        if s.case_stats.cases == 0 || c.suites.len() < 2 && !policy.suites.contains_key(&s.suite) {
            // One suite: the overall rule already said it.
            continue;
        }
        // A suite's own limit is three-way like the overall one; the inherited default only
        // fails on a confirmed drop, so a single flip in a small suite does not block alone.
        rs.extend(
            match policy
                .suites
                .get(&s.suite)
                .and_then(|p| p.max_accuracy_drop)
            {
                Some(m) => drop_reason(
                    format!("suites.{}.max_accuracy_drop", s.suite),
                    &format!("suite {}", s.suite),
                    &s.case_stats,
                    m,
                    true,
                    policy,
                ),
                None => drop_reason(
                    "max_accuracy_drop".to_string(),
                    &format!("suite {}", s.suite),
                    &s.case_stats,
                    policy.max_accuracy_drop,
                    false,
                    policy,
                ),
            },
        );
    }
    rs
}

/// One accuracy-drop check over `st`; `None` when there is no delta to judge.
/// `three_way`: an unconfirmed drop over the limit is INCONCLUSIVE rather than passed.
fn drop_reason(
    rule: String,
    scope: &str,
    st: &CaseStats,
    max: f64,
    three_way: bool,
    policy: &Policy,
) -> Option<GateReason> {
    let delta = st.delta?;
    let drop = -delta;
    let significant = st.p_worse < policy.alpha;
    let test = format!(
        "sign test over cases {} (one-sided, α = {})",
        p_fmt(st.p_worse),
        policy.alpha
    );
    let (outcome, why) = if drop <= max + 1e-12 {
        (Outcome::Pass, "within the limit".to_string())
    } else if !policy.require_significance {
        (Outcome::Fail, "over the limit".to_string())
    } else if significant {
        (Outcome::Fail, format!("over the limit and real: {test}"))
    } else if three_way {
        (
            Outcome::Inconclusive,
            format!(
                "over the limit, not confirmed ({test}); {}",
                advice(st, drop, policy.alpha)
            ),
        )
    } else {
        (
            Outcome::Pass,
            format!("over the limit but not significant ({test})"),
        )
    };
    Some(reason(
        rule,
        outcome,
        format!(
            "{scope}: accuracy {} → {} on {} cases ({} worse, {} better), drop {} (allowed {}): {why}",
            pct(st.base_rate),
            pct(st.cand_rate),
            st.cases,
            st.worse,
            st.better,
            pts(drop.max(0.0)),
            pts(max)
        ),
        Vec::new(),
    ))
}

/// `tools.<tool>.min_accuracy`: the candidate's accuracy on the trials that expect the tool.
fn tool_floor_rules(c: &Comparison, policy: &Policy) -> Vec<GateReason> {
    let mut rs = Vec::new();
    for (tool, tp) in &policy.tools {
        let rule = format!("tools.{tool}.min_accuracy");
        match c
            .tools
            .iter()
            .find(|t| &t.tool == tool)
            .and_then(|t| t.cand.map(|p| (t, p)))
        {
            Some((t, p)) if p.n > 0 => rs.push(reason(
                rule,
                ok(p.value.is_some_and(|a| a >= tp.min_accuracy)),
                format!(
                    "tool {tool}: candidate accuracy {} ({}/{}) vs floor {}",
                    pct(p.value),
                    p.successes,
                    p.n,
                    pct(Some(tp.min_accuracy))
                ),
                t.cand_failed.clone(),
            )),
            _ => rs.push(reason(
                rule,
                Outcome::Fail,
                format!(
                    "tool {tool}: no judged candidate trial expects it (misspelled tool name?)"
                ),
                Vec::new(),
            )),
        }
    }
    rs
}

/// `max_ttft_p50_ratio`: the candidate's median time to first token over the base's.
fn ttft_rule(c: &Comparison, policy: &Policy) -> Option<GateReason> {
    let max = policy.max_ttft_p50_ratio?;
    let l = c.latency.iter().find(|l| l.metric == "ttft_ms");
    Some(match l.and_then(|l| l.ratio.map(|r| (l, r))) {
        Some((l, r)) => reason(
            "max_ttft_p50_ratio",
            ok(r <= max),
            format!(
                "TTFT p50 {:.1} ms → {:.1} ms (×{r:.2}, allowed ×{max:.2})",
                l.base_p50.unwrap_or(0.0),
                l.cand_p50.unwrap_or(0.0)
            ),
            Vec::new(),
        ),
        // Without TTFT on both sides the ceiling cannot be checked; say so, don't fail.
        None => reason(
            "max_ttft_p50_ratio",
            Outcome::Pass,
            "TTFT not measured on both runs; ceiling not checked".to_string(),
            Vec::new(),
        ),
    })
}

/// Applies `policy` to a finished comparison.
pub fn decide(c: Comparison, policy: &Policy) -> GateDecision {
    let incomplete = !c.base.complete || !c.cand.complete;
    let mut rs = Vec::new();
    rs.extend(incomplete_rule(&c, policy));
    rs.push(pairs_rule(&c));
    rs.extend(coverage_rules(&c, policy));
    rs.extend(accuracy_floor_rules(&c, policy));
    rs.extend(regression_rules(&c, policy));
    rs.extend(accuracy_drop_rules(&c, policy));
    rs.extend(tool_floor_rules(&c, policy));
    if let Some(max) = policy.max_tool_hallucination_rate {
        rs.push(hallucination_rule(&c, max));
    }
    rs.extend(ttft_rule(&c, policy));

    let decision = if incomplete && !policy.allow_incomplete {
        Decision::Incomplete
    } else if rs.iter().any(|r| r.outcome == Outcome::Fail) {
        Decision::Failed
    } else if rs.iter().any(|r| r.outcome == Outcome::Inconclusive)
        && policy.on_inconclusive == OnInconclusive::Fail
    {
        Decision::Inconclusive
    } else {
        Decision::Passed
    };
    // Stable partition: failures, then inconclusive, then passes; rule order kept.
    rs.sort_by_key(|r| r.outcome);
    GateDecision {
        decision,
        passed: decision == Decision::Passed,
        incomplete,
        reasons: rs,
        comparison: c,
    }
}

fn headline(d: &GateDecision) -> &'static str {
    match d.decision {
        Decision::Passed => "PASSED",
        Decision::Failed => "FAILED",
        Decision::Inconclusive => "INCONCLUSIVE",
        Decision::Incomplete => "INCOMPLETE",
    }
}

fn tag(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "ok",
        Outcome::Fail => "FAIL",
        Outcome::Inconclusive => "INCONCLUSIVE",
    }
}

/// How many regressed (and flaky) cases the log lists; the compare report has them all.
pub const MAX_LISTED: usize = 10;

/// Cases the log lists under the rules: regressed first (stable ones leading), then flaky
/// cases that got worse, each group in case order.
fn listed(c: &Comparison) -> (Vec<&CaseDelta>, Vec<&CaseDelta>) {
    let mut reg: Vec<&CaseDelta> = c
        .cases
        .iter()
        .filter(|d| d.status == CaseStatus::Regressed)
        .collect();
    reg.sort_by_key(|d| !d.stable);
    let flaky = c
        .cases
        .iter()
        .filter(|d| d.status == CaseStatus::Flaky && d.worse())
        .collect();
    (reg, flaky)
}

fn case_line(d: &CaseDelta) -> String {
    let mut s = format!("{} ({}, {}): {}", d.case, d.suite, d.variant, d.counts());
    if let Some(diag) = &d.cand_diagnosis {
        let _ = write!(
            s,
            " — {}{}",
            d.cand_failure
                .as_deref()
                .map_or(String::new(), |k| format!("[{k}] ")),
            diag
        );
    }
    term(&s)
}

/// Terminal text, in the order a CI log is read: the decision, one line per rule, up to
/// [`MAX_LISTED`] regressed cases with their full diagnosis, then flaky cases.
pub fn render_gate_text(d: &GateDecision) -> String {
    let mut o = String::new();
    let c = &d.comparison;
    let _ = writeln!(
        o,
        "gate {} (exit {}): {} → {}",
        headline(d),
        d.exit_code(),
        term(&c.base.label),
        term(&c.cand.label)
    );
    for r in &d.reasons {
        let _ = writeln!(o, "  [{}] {}: {}", tag(r.outcome), r.rule, term(&r.message));
    }
    let (reg, flaky) = listed(c);
    for (title, items) in [
        ("regressed cases", &reg),
        (
            "flaky cases (mixed results, not counted as regressions)",
            &flaky,
        ),
    ] {
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(o, "{title} ({}):", items.len());
        for d in items.iter().take(MAX_LISTED) {
            let _ = writeln!(
                o,
                "  {}{}",
                if d.stable { "stable: " } else { "" },
                case_line(d)
            );
        }
        if items.len() > MAX_LISTED {
            let _ = writeln!(
                o,
                "  … {} more in the compare report",
                items.len() - MAX_LISTED
            );
        }
    }
    o
}

/// Markdown for `$GITHUB_STEP_SUMMARY`: the decision first, then the reasons, then the
/// regressed cases.
pub fn render_gate_markdown(d: &GateDecision) -> String {
    let mut o = String::new();
    let c = &d.comparison;
    let icon = match d.decision {
        Decision::Passed => "✅",
        Decision::Incomplete | Decision::Inconclusive => "⚠️",
        Decision::Failed => "❌",
    };
    let _ = writeln!(
        o,
        "## {icon} toolgate gate {}: {} → {}\n",
        headline(d),
        md_cell(&c.base.label),
        md_cell(&c.cand.label)
    );
    o.push_str("| | rule | detail |\n|---|---|---|\n");
    for r in &d.reasons {
        let _ = writeln!(
            o,
            "| {} | `{}` | {} |",
            match r.outcome {
                Outcome::Pass => "✅",
                Outcome::Fail => "❌",
                Outcome::Inconclusive => "⚠️",
            },
            md_cell(&r.rule),
            md_cell(&r.message),
        );
    }
    let (reg, flaky) = listed(c);
    for (title, items) in [
        ("Regressed cases", &reg),
        (
            "Flaky cases (mixed results, not counted as regressions)",
            &flaky,
        ),
    ] {
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(o, "\n**{title}** ({}):\n", items.len());
        for d in items.iter().take(MAX_LISTED) {
            let _ = writeln!(o, "- {}", md_cell(&case_line(d)));
        }
        if items.len() > MAX_LISTED {
            let _ = writeln!(
                o,
                "- … {} more in the compare report",
                items.len() - MAX_LISTED
            );
        }
    }
    o
}

/// Appends `markdown` to the file named by `$GITHUB_STEP_SUMMARY`, when that is set.
/// Returns whether it wrote.
pub fn write_step_summary(markdown: &str) -> std::io::Result<bool> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(false);
    };
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(markdown.as_bytes())?;
    f.write_all(b"\n")?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_to_an_empty_file() {
        let p = Policy::from_toml("", Path::new("p.toml")).unwrap();
        assert_eq!(p, Policy::default());
        assert_eq!(p.max_accuracy_drop, 0.05);
        assert!(p.require_significance);
    }

    #[test]
    fn full_policy_parses() {
        let p = Policy::from_toml(
            "min_accuracy = 0.8\nmax_regressions = 0\n[suites.voice]\nmin_accuracy = 0.9\n[tools.web_search]\nmin_accuracy = 0.5\n",
            Path::new("p.toml"),
        )
        .unwrap();
        assert_eq!(p.min_accuracy, Some(0.8));
        assert_eq!(p.max_regressions, Some(0));
        assert_eq!(p.suites["voice"].min_accuracy, Some(0.9));
        assert_eq!(p.tools["web_search"].min_accuracy, 0.5);
    }

    #[test]
    fn errors_carry_line_and_column() {
        let e = Policy::from_toml("alpha = 0.05\nmin_accuracy = 90\n", Path::new("gate.toml"))
            .unwrap_err();
        assert_eq!((e.line, e.column), (2, 16), "{e}");
        assert!(e.to_string().starts_with("gate.toml:2:16: "), "{e}");
        let e =
            Policy::from_toml("[suites.x]\nmin_acuracy = 0.5\n", Path::new("g.toml")).unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("min_acuracy"), "{e}");
    }
}
