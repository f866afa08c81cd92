//! The CI decision: a [`Policy`] (TOML) applied to a [`Comparison`] of a base and a
//! candidate run. Exit codes (docs/run-folder.md#exit-codes): 0 pass, 1 fail, 3 incomplete.

use crate::compare::{compare, CompareOptions, Comparison};
use crate::run::RunData;
use crate::text::{md_cell, pct};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Gate policy. Every field is optional in the file; defaults are chosen so that a policy
/// file is only needed to tighten the gate.
///
/// ```toml
/// min_accuracy = 0.8            # candidate accuracy floor over all judged trials (default: none)
/// max_regressions = 2           # pass→fail flips allowed (default: no limit; see below)
/// max_accuracy_drop = 0.05      # paired accuracy drop allowed, 0..1 (default 0.05)
/// require_significance = true   # a drop fails only if McNemar p < alpha (default true)
/// alpha = 0.05                  # significance level (default 0.05)
/// max_ttft_p50_ratio = 1.5      # candidate/base TTFT p50 ceiling (default: none)
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
/// "no flips at all" sets `max_regressions = 0`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    #[serde(deserialize_with = "opt_fraction")]
    pub min_accuracy: Option<f64>,
    pub max_regressions: Option<u64>,
    #[serde(deserialize_with = "fraction")]
    pub max_accuracy_drop: f64,
    pub require_significance: bool,
    #[serde(deserialize_with = "alpha")]
    pub alpha: f64,
    #[serde(deserialize_with = "opt_positive")]
    pub max_ttft_p50_ratio: Option<f64>,
    pub allow_incomplete: bool,
    pub suites: BTreeMap<String, SuitePolicy>,
    pub tools: BTreeMap<String, ToolPolicy>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_accuracy: None,
            max_regressions: None,
            max_accuracy_drop: 0.05,
            require_significance: true,
            alpha: 0.05,
            max_ttft_p50_ratio: None,
            allow_incomplete: false,
            suites: BTreeMap::new(),
            tools: BTreeMap::new(),
        }
    }
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

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateReason {
    /// The policy key behind the reason (`min_accuracy`, `suites.NAME.min_accuracy`, …).
    pub rule: String,
    pub passed: bool,
    pub message: String,
    /// Trial ids behind the reason (regressions, failing trials).
    pub cases: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateDecision {
    pub passed: bool,
    /// Either run is incomplete.
    pub incomplete: bool,
    /// Failing reasons first, then passing ones, each in rule order.
    pub reasons: Vec<GateReason>,
    pub comparison: Comparison,
}

impl GateDecision {
    /// 0 passed; 3 a run is incomplete and the policy does not allow it; 1 any other failure.
    pub fn exit_code(&self) -> i32 {
        if self.passed {
            0
        } else if self
            .reasons
            .iter()
            .any(|r| r.rule == "allow_incomplete" && !r.passed)
        {
            3
        } else {
            1
        }
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

fn reason(
    rule: impl Into<String>,
    passed: bool,
    message: String,
    cases: Vec<String>,
) -> GateReason {
    GateReason {
        rule: rule.into(),
        passed,
        message,
        cases,
    }
}

fn pts(x: f64) -> String {
    format!("{:.1} pts", x * 100.0)
}

/// Applies `policy` to a finished comparison.
pub fn decide(c: Comparison, policy: &Policy) -> GateDecision {
    let mut rs = Vec::new();
    let incomplete = !c.base.complete || !c.cand.complete;
    if incomplete {
        let which: Vec<&str> = [(&c.base, "base"), (&c.cand, "candidate")]
            .iter()
            .filter(|(s, _)| !s.complete)
            .map(|(_, n)| *n)
            .collect();
        rs.push(reason(
            "allow_incomplete",
            policy.allow_incomplete,
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
        ));
    }

    let o = &c.overall;
    rs.push(reason(
        "pairs",
        o.pairs > 0,
        if o.pairs > 0 {
            format!("{} paired trials compared", o.pairs)
        } else {
            "no trial of the candidate pairs with a judged trial of the base: nothing to compare"
                .to_string()
        },
        Vec::new(),
    ));

    if let Some(min) = policy.min_accuracy {
        let acc = c.cand.counts.accuracy.value;
        let failed: Vec<String> = c
            .suites
            .iter()
            .flat_map(|s| s.cand_failed.clone())
            .collect();
        rs.push(reason(
            "min_accuracy",
            acc.is_some_and(|a| a >= min),
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
                        acc.is_some_and(|a| a >= min),
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
                    false,
                    format!("suite {name}: no judged candidate trials (misspelled suite name?)"),
                    Vec::new(),
                )),
            }
        }
    }

    if let Some(max) = policy.max_regressions {
        rs.push(reason(
            "max_regressions",
            o.regressions <= max,
            format!("{} pass→fail flips (allowed: {max})", o.regressions),
            c.regressions.iter().map(|f| f.cand_id.clone()).collect(),
        ));
    }

    // Accuracy drop, overall and per suite; each judged on its own paired trials.
    let mut drop_rule = |rule: String,
                         scope: &str,
                         st: &crate::compare::PairedStats,
                         max: f64,
                         cases: Vec<String>| {
        let Some(delta) = st.delta else { return };
        let drop = -delta;
        let significant = st.p_value < policy.alpha;
        let (passed, why) = if drop <= max + 1e-12 {
            (true, "within the limit".to_string())
        } else if policy.require_significance && !significant {
            (
                true,
                format!(
                    "over the limit but not significant (McNemar p = {:.4} ≥ alpha {})",
                    st.p_value, policy.alpha
                ),
            )
        } else {
            (
                false,
                format!("McNemar p = {:.4} (alpha {})", st.p_value, policy.alpha),
            )
        };
        rs.push(reason(
            rule,
            passed,
            format!(
                "{scope}: accuracy {} → {} on {} pairs, drop {} (allowed {}): {why}",
                pct(st.base.value),
                pct(st.cand.value),
                st.pairs,
                pts(drop.max(0.0)),
                pts(max)
            ),
            if passed { Vec::new() } else { cases },
        ));
    };
    drop_rule(
        "max_accuracy_drop".into(),
        "all suites",
        o,
        policy.max_accuracy_drop,
        c.regressions.iter().map(|f| f.cand_id.clone()).collect(),
    );
    for s in &c.suites {
        if s.stats.pairs == 0 || c.suites.len() < 2 && !policy.suites.contains_key(&s.suite) {
            // One suite: the overall rule already said it.
            continue;
        }
        let (rule, max) = match policy
            .suites
            .get(&s.suite)
            .and_then(|p| p.max_accuracy_drop)
        {
            Some(m) => (format!("suites.{}.max_accuracy_drop", s.suite), m),
            None => ("max_accuracy_drop".to_string(), policy.max_accuracy_drop),
        };
        drop_rule(
            rule,
            &format!("suite {}", s.suite),
            &s.stats,
            max,
            s.regressed.clone(),
        );
    }

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
                p.value.is_some_and(|a| a >= tp.min_accuracy),
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
                false,
                format!(
                    "tool {tool}: no judged candidate trial expects it (misspelled tool name?)"
                ),
                Vec::new(),
            )),
        }
    }

    if let Some(max) = policy.max_ttft_p50_ratio {
        let l = c.latency.iter().find(|l| l.metric == "ttft_ms");
        match l.and_then(|l| l.ratio.map(|r| (l, r))) {
            Some((l, r)) => rs.push(reason(
                "max_ttft_p50_ratio",
                r <= max,
                format!(
                    "TTFT p50 {:.1} ms → {:.1} ms (×{r:.2}, allowed ×{max:.2})",
                    l.base_p50.unwrap_or(0.0),
                    l.cand_p50.unwrap_or(0.0)
                ),
                Vec::new(),
            )),
            // Without TTFT on both sides the ceiling cannot be checked; say so, don't fail.
            None => rs.push(reason(
                "max_ttft_p50_ratio",
                true,
                "TTFT not measured on both runs; ceiling not checked".to_string(),
                Vec::new(),
            )),
        }
    }

    let passed = rs.iter().all(|r| r.passed);
    // Stable partition: failures first, rule order kept.
    rs.sort_by_key(|r| r.passed);
    GateDecision {
        passed,
        incomplete,
        reasons: rs,
        comparison: c,
    }
}

fn headline(d: &GateDecision) -> &'static str {
    match d.exit_code() {
        0 => "PASSED",
        3 => "INCOMPLETE",
        _ => "FAILED",
    }
}

const MAX_CASES: usize = 20;

fn cases_line(cases: &[String]) -> String {
    let mut s = cases
        .iter()
        .take(MAX_CASES)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if cases.len() > MAX_CASES {
        let _ = write!(s, " … (+{})", cases.len() - MAX_CASES);
    }
    s
}

/// Terminal text: the decision first, then the reasons.
pub fn render_gate_text(d: &GateDecision) -> String {
    use toolgate_core::text::terminal;
    let mut o = String::new();
    let c = &d.comparison;
    let _ = writeln!(
        o,
        "gate {} (exit {}): {} → {}",
        headline(d),
        d.exit_code(),
        terminal(&c.base.label),
        terminal(&c.cand.label)
    );
    for r in &d.reasons {
        let _ = writeln!(
            o,
            "  [{}] {}: {}",
            if r.passed { "ok" } else { "FAIL" },
            terminal(&r.rule),
            terminal(&r.message)
        );
        if !r.cases.is_empty() {
            let _ = writeln!(o, "         cases: {}", terminal(&cases_line(&r.cases)));
        }
    }
    o
}

/// Markdown for `$GITHUB_STEP_SUMMARY`: the decision first, then the reasons.
pub fn render_gate_markdown(d: &GateDecision) -> String {
    let mut o = String::new();
    let c = &d.comparison;
    let icon = match d.exit_code() {
        0 => "✅",
        3 => "⚠️",
        _ => "❌",
    };
    let _ = writeln!(
        o,
        "## {icon} toolgate gate {}: {} → {}\n",
        headline(d),
        md_cell(&c.base.label),
        md_cell(&c.cand.label)
    );
    o.push_str("| | rule | detail | cases |\n|---|---|---|---|\n");
    for r in &d.reasons {
        let _ = writeln!(
            o,
            "| {} | `{}` | {} | {} |",
            if r.passed { "✅" } else { "❌" },
            md_cell(&r.rule),
            md_cell(&r.message),
            md_cell(&cases_line(&r.cases))
        );
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
