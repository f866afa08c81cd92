//! Tool-call grading: per-call checks (known name, JSON arguments, the tool's schema), then a
//! one-to-one assignment of expected to actual calls per `any_of` alternative, and the
//! closest alternative when none passes.

use crate::incontent::TextCall;
use crate::matchers::{check, describe, show};
use crate::normalize::{decode_arguments, NormCall};
use serde_json::{json, Value};
use std::cmp::Reverse;
use toolgate_core::spec::{ExtraCalls, Order};
use toolgate_core::tools::ToolSet;
use toolgate_core::{
    ArgCheck, ArgSchema, CallExpect, CallSet, FailureKind, Finding, Sym, ToolExpectation,
};

/// What the grader saw besides structured calls.
pub(crate) struct TextSide<'a> {
    /// Calls written as text, with where they were found (`content` / `reasoning`).
    pub text_calls: Option<(Vec<TextCall>, &'static str)>,
    /// The answer text (think blocks removed), for the diagnosis.
    pub answer: &'a str,
}

pub(crate) struct ToolOutcome<'a> {
    pub findings: Vec<Finding>,
    /// Per argument of each structured call: schema check and, for paired calls, the value.
    pub args: Vec<ArgCheck>,
    pub expected_tools: Vec<String>,
    pub expected: ExpectedCalls<'a>,
    pub actual_desc: String,
}

/// The closest alternative's calls (`None`: no call), described only when a diagnosis says
/// "expected …": a passing trial never shows it, and describing every matcher is not free.
pub(crate) struct ExpectedCalls<'a>(Option<&'a [CallExpect]>);

impl ExpectedCalls<'_> {
    /// `name(arg≈"x"), other()`, or `no call`.
    pub fn describe(&self) -> String {
        match self.0 {
            Some(ce) => ce.iter().map(expected_call).collect::<Vec<_>>().join(", "),
            None => "no call".to_string(),
        }
    }
}

/// Findings every call gets whatever the expectation: unknown names, arguments that are not
/// JSON objects, and every error of the tool's own JSON Schema (with instance paths).
pub(crate) fn call_findings(tools: &ToolSet, calls: &[NormCall]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, c) in calls.iter().enumerate() {
        let tool = tools.get(&c.name);
        if tool.is_none() {
            let stripped = c
                .name
                .rsplit_once('.')
                .map(|(_, n)| n)
                .filter(|n| tools.get(n).is_some());
            let mut msg = if c.name.trim().is_empty() {
                "a call with an empty tool name".to_string()
            } else {
                format!("called `{}`, which is not in the tools file", c.name)
            };
            if let Some(n) = stripped {
                msg.push_str(&format!(" (`{n}` without the namespace prefix is)"));
            }
            out.push(Finding {
                kind: FailureKind::HallucinatedTool,
                message: msg,
                path: Some(format!("/calls/{i}/name")),
                detail: Some(json!({ "call": i, "name": c.name, "namespace_stripped": stripped })),
            });
        }
        match (&c.args, tool) {
            (Err(why), _) => out.push(Finding {
                kind: FailureKind::ArgsInvalidJson,
                message: format!("{}: {why}", c.name),
                path: Some(format!("/calls/{i}/arguments")),
                detail: Some(json!({ "call": i, "raw": c.raw })),
            }),
            (Ok(args), Some(t)) => {
                let errs = t.schema_errors(args);
                if let Some((p0, m0)) = errs.first() {
                    let more = if errs.len() > 1 {
                        format!(" (+{} more)", errs.len() - 1)
                    } else {
                        String::new()
                    };
                    let at = if p0.is_empty() {
                        String::new()
                    } else {
                        format!("{p0}: ")
                    };
                    out.push(Finding {
                        kind: FailureKind::ArgsSchemaViolation,
                        message: format!("{}: {at}{m0}{more}", c.name),
                        path: Some(format!("/calls/{i}/arguments{p0}")),
                        detail: Some(json!({
                            "call": i,
                            "tool": c.name,
                            "errors": errs.iter().map(|(p, m)| json!({"path": p, "message": m})).collect::<Vec<_>>(),
                        })),
                    });
                }
            }
            (Ok(_), None) => {}
        }
    }
    out
}

enum Pair {
    /// Right tool, every matcher held; `held` as in `Args`.
    Full {
        held: Vec<bool>,
    },
    /// Right tool, arguments not judgeable (not JSON): the per-call finding says why.
    Unjudged,
    /// Right tool, argument problems: what failed and why, and whether each matcher of the
    /// expected call held (in its order), kept for the per-argument rows.
    Args {
        bad: Vec<(String, String)>,
        held: Vec<bool>,
    },
    Wrong,
}

impl Pair {
    fn cost(&self) -> u32 {
        match self {
            Pair::Full { .. } => 0,
            Pair::Unjudged | Pair::Args { .. } => 1,
            Pair::Wrong => 2,
        }
    }
}

fn pair(e: &CallExpect, a: &NormCall) -> Pair {
    if e.name != a.name {
        return Pair::Wrong;
    }
    let Ok(args) = &a.args else {
        return Pair::Unjudged;
    };
    let mut bad = Vec::new();
    let mut held = Vec::with_capacity(e.args.len());
    for (k, m) in &e.args {
        let r = check(m, args.get(k));
        held.push(r.is_ok());
        if let Err(why) = r {
            bad.push((k.clone(), why));
        }
    }
    if e.strict_args {
        if let Some(o) = args.as_object() {
            for k in o.keys() {
                if !e.args.iter().any(|(n, _)| n == k) {
                    bad.push((k.clone(), "not allowed (strict_args)".into()));
                }
            }
        }
    }
    if bad.is_empty() {
        Pair::Full { held }
    } else {
        Pair::Args { bad, held }
    }
}

const MISSING: u32 = 2;

/// Best one-to-one assignment: `result[i] = Some(j)` pairs expected i with actual j. Minimises
/// cost (full 0, argument problems 1, wrong tool 2, missing 2, extra 2 or 0), then prefers more
/// pairs ("expected A, got B" reads better than "missing A, extra B"). Ties go to the earliest
/// choice, so the result is deterministic.
fn assign(costs: &[Vec<u32>], m: usize, extra: u32, exact: bool) -> Vec<Option<usize>> {
    let n = costs.len();
    if exact {
        // Alignment: pairs must keep the order of both lists.
        let inf = (u32::MAX / 4, 0i64);
        let mut dp = vec![vec![inf; m + 1]; n + 1];
        dp[n][m] = (0, 0);
        for i in (0..=n).rev() {
            for j in (0..=m).rev() {
                if i == n && j == m {
                    continue;
                }
                let mut best = inf;
                if i < n && j < m {
                    let (c, p) = dp[i + 1][j + 1];
                    best = best.min((c + costs[i][j], p - 1));
                }
                if i < n {
                    let (c, p) = dp[i + 1][j];
                    best = best.min((c + MISSING, p));
                }
                if j < m {
                    let (c, p) = dp[i][j + 1];
                    best = best.min((c + extra, p));
                }
                dp[i][j] = best;
            }
        }
        let (mut i, mut j) = (0, 0);
        let mut out = vec![None; n];
        while i < n || j < m {
            if i < n && j < m {
                let (c, p) = dp[i + 1][j + 1];
                if (c + costs[i][j], p - 1) == dp[i][j] {
                    out[i] = Some(j);
                    i += 1;
                    j += 1;
                    continue;
                }
            }
            if i < n && (dp[i + 1][j].0 + MISSING, dp[i + 1][j].1) == dp[i][j] {
                i += 1;
            } else {
                j += 1;
            }
        }
        return out;
    }
    if m > 12 {
        // Beyond 4096 subsets: greedy by cost (a model making 13+ calls is failing anyway).
        let mut used = vec![false; m];
        return costs
            .iter()
            .map(|row| {
                let j = (0..m)
                    .filter(|&j| !used[j] && row[j] < 2)
                    .min_by_key(|&j| (row[j], j))?;
                used[j] = true;
                Some(j)
            })
            .collect();
    }
    // Subset DP over actual calls: best[i][mask] = best (cost, -pairs) for expected i.. given
    // `mask` already used.
    let full = 1usize << m;
    let mut best = vec![vec![(0u32, 0i64); full]; n + 1];
    for (mask, b) in best[n].iter_mut().enumerate() {
        *b = ((m as u32 - mask.count_ones()) * extra, 0);
    }
    for i in (0..n).rev() {
        for mask in 0..full {
            let mut b = (best[i + 1][mask].0 + MISSING, best[i + 1][mask].1);
            for j in 0..m {
                if mask & (1 << j) == 0 {
                    let (c, p) = best[i + 1][mask | (1 << j)];
                    b = b.min((c + costs[i][j], p - 1));
                }
            }
            best[i][mask] = b;
        }
    }
    let mut out = vec![None; n];
    let mut mask = 0usize;
    for (i, slot) in out.iter_mut().enumerate() {
        let target = best[i][mask];
        let choice = (0..m).find(|&j| {
            mask & (1 << j) == 0 && {
                let (c, p) = best[i + 1][mask | (1 << j)];
                (c + costs[i][j], p - 1) == target
            }
        });
        // Otherwise skipping expected i (missing) is what reached the optimum.
        if let Some(j) = choice {
            *slot = Some(j);
            mask |= 1 << j;
        }
    }
    out
}

/// The graders' one-to-one assignment for an unordered set of calls where extra calls count
/// against the pairing: `costs[i][j]` is 0 (same call), 1 (same tool, other arguments) or 2
/// (another tool) for left call i against right call j of `m`. `result[i] = Some(j)` pairs
/// them. `toolgate agree` pairs two deployments' parallel calls with it, so agreement and
/// grading pair calls the same way.
pub fn one_to_one(costs: &[Vec<u32>], m: usize) -> Vec<Option<usize>> {
    assign(costs, m, MISSING, false)
}

/// Findings of one `calls:` alternative against actual calls (non-empty).
/// (call index, argument, the matcher held) for each matcher of each paired call.
type ValueChecks = Vec<(usize, String, bool)>;

fn match_calls(
    exp: &[CallExpect],
    order: Order,
    extra: ExtraCalls,
    calls: &[NormCall],
) -> (Vec<Finding>, ValueChecks) {
    let m = calls.len();
    let pairs: Vec<Vec<Pair>> = exp
        .iter()
        .map(|e| calls.iter().map(|a| pair(e, a)).collect())
        .collect();
    let costs: Vec<Vec<u32>> = pairs
        .iter()
        .map(|r| r.iter().map(Pair::cost).collect())
        .collect();
    let extra_cost = if extra == ExtraCalls::Forbid { 2 } else { 0 };
    let exact = order == Order::Exact;
    let assignment = assign(&costs, m, extra_cost, exact);
    if exact {
        let free = assign(&costs, m, extra_cost, false);
        let total = |a: &[Option<usize>]| -> u32 {
            let used = a.iter().flatten().count() as u32;
            a.iter()
                .enumerate()
                .map(|(i, j)| j.map_or(MISSING, |j| costs[i][j]))
                .sum::<u32>()
                + (m as u32 - used) * extra_cost
        };
        if total(&free) == 0 && total(&assignment) > 0 {
            return (vec![Finding {
                kind: FailureKind::WrongTool,
                message: format!(
                    "the expected calls were made in another order (order: exact): expected [{}], got [{}]",
                    exp.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", "),
                    calls.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
                path: None,
                detail: Some(json!({ "order": "exact" })),
            }], value_checks(exp, &free, &pairs));
        }
    }
    let values = value_checks(exp, &assignment, &pairs);
    let mut out = Vec::new();
    let mut used = vec![false; m];
    for (i, slot) in assignment.iter().enumerate() {
        let e = &exp[i];
        match slot {
            None => out.push(Finding {
                kind: FailureKind::MissingCall,
                message: format!("missing call {}", expected_call(e)),
                path: None,
                detail: Some(json!({ "expected": e.name })),
            }),
            Some(j) => {
                used[*j] = true;
                match &pairs[i][*j] {
                    Pair::Full { .. } | Pair::Unjudged => {}
                    Pair::Wrong => out.push(Finding {
                        kind: FailureKind::WrongTool,
                        message: format!("expected {}, called {}", e.name, calls[*j].name),
                        path: Some(format!("/calls/{j}/name")),
                        detail: Some(json!({ "call": j, "expected": e.name, "actual": calls[*j].name })),
                    }),
                    Pair::Args { bad, .. } => out.push(Finding {
                        kind: FailureKind::ArgsMismatch,
                        message: format!(
                            "{}: {}",
                            e.name,
                            bad.iter().map(|(k, w)| format!("{k}: {w}")).collect::<Vec<_>>().join("; ")
                        ),
                        path: Some(format!("/calls/{j}/arguments/{}", bad[0].0)),
                        detail: Some(json!({
                            "call": j,
                            "mismatches": bad.iter().map(|(k, w)| json!({"arg": k, "why": w})).collect::<Vec<_>>(),
                        })),
                    }),
                }
            }
        }
    }
    if extra == ExtraCalls::Forbid {
        for (j, c) in calls.iter().enumerate().filter(|(j, _)| !used[*j]) {
            out.push(Finding {
                kind: FailureKind::ExtraCall,
                message: format!("extra call {}", actual_call(c)),
                path: Some(format!("/calls/{j}")),
                detail: Some(json!({ "call": j, "name": c.name })),
            });
        }
    }
    (out, values)
}

/// Each matcher of each expected call paired with a call of the same tool whose arguments
/// parsed: did the value hold? (As [`pair`] found: the matchers are not run twice.)
fn value_checks(
    exp: &[CallExpect],
    assignment: &[Option<usize>],
    pairs: &[Vec<Pair>],
) -> ValueChecks {
    let mut out = Vec::new();
    for (i, (e, j)) in exp.iter().zip(assignment).enumerate() {
        let Some(j) = *j else { continue };
        let (Pair::Full { held } | Pair::Args { held, .. }) = &pairs[i][j] else {
            continue;
        };
        for ((k, _), ok) in e.args.iter().zip(held) {
            out.push((j, k.clone(), *ok));
        }
    }
    out
}

/// Whether `v` is of one of the JSON Schema types `types` (an integral float counts as an
/// integer, as JSON Schema says).
fn has_type(v: &Value, types: &[String]) -> bool {
    types.iter().any(|t| match t.as_str() {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => true,
    })
}

/// Rows kept for argument names not in the tool's schema, per call.
const MAX_UNKNOWN_PER_CALL: usize = 32;

/// The per-argument rows of every structured call to a known tool: each given argument
/// (in the schema and of its type, of another type, or not in the schema), each required
/// one left out, and each optional one left out that a matcher asked for.
/// The schema rows alone, for calls no expectation judges (record-only cases).
pub(crate) fn schema_arg_checks(tools: &ToolSet, calls: &[NormCall]) -> Vec<ArgCheck> {
    arg_checks(tools, calls, &Vec::new())
}

fn arg_checks(tools: &ToolSet, calls: &[NormCall], values: &ValueChecks) -> Vec<ArgCheck> {
    let mut out = Vec::new();
    for (j, c) in calls.iter().enumerate() {
        let (Some(t), Ok(Value::Object(args))) = (tools.get(&c.name), &c.args) else {
            continue;
        };
        let props = t.parameters.get("properties").and_then(Value::as_object);
        let required: Vec<&str> = t
            .parameters
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let value_of = |k: &str| {
            values
                .iter()
                .find(|(vj, vk, _)| *vj == j && vk == k)
                .map(|(_, _, ok)| *ok)
        };
        let tool = Sym::from(&c.name);
        let mut unknown = 0;
        for (k, v) in args {
            let schema = match props {
                Some(p) if !p.contains_key(k) => {
                    // Names the model invented: a bounded number of rows per call.
                    unknown += 1;
                    if unknown > MAX_UNKNOWN_PER_CALL {
                        continue;
                    }
                    ArgSchema::Unknown
                }
                _ => match t.property_types(k) {
                    Some(ts) if !ts.is_empty() && !has_type(v, &ts) => ArgSchema::WrongType,
                    _ => ArgSchema::Ok,
                },
            };
            out.push(ArgCheck {
                tool: tool.clone(),
                arg: Sym::from(k),
                schema,
                value_ok: value_of(k),
            });
        }
        let mut absent: Vec<(&str, ArgSchema)> = required
            .iter()
            .filter(|r| !args.contains_key(**r))
            .map(|r| (*r, ArgSchema::Missing))
            .collect();
        for (vj, k, _) in values {
            if *vj == j && !args.contains_key(k) && !absent.iter().any(|(a, _)| a == k) {
                absent.push((k.as_str(), ArgSchema::Absent));
            }
        }
        for (k, schema) in absent {
            out.push(ArgCheck {
                tool: tool.clone(),
                arg: Sym::from(k),
                schema,
                value_ok: value_of(k),
            });
        }
    }
    out
}

/// Text calls as structured ones, arguments coerced to the tool's schema where the format
/// carries raw text (XML parameters).
pub(crate) fn text_to_norm(tools: &ToolSet, calls: &[TextCall]) -> Vec<NormCall> {
    calls
        .iter()
        .map(|c| {
            let mut args = decode_arguments(&c.arguments);
            if let (Ok(Value::Object(o)), Some(t)) = (&mut args, tools.get(&c.name)) {
                for (k, v) in o.iter_mut() {
                    if !v.is_string() && t.property_types(k).is_some_and(|ts| ts == ["string"]) {
                        *v = Value::String(v.to_string());
                    }
                }
            }
            NormCall {
                name: c.name.clone(),
                args,
                raw: c.arguments.clone(),
            }
        })
        .collect()
}

struct AltEval {
    findings: Vec<Finding>,
    values: ValueChecks,
    penalty: usize,
    shape_mismatch: bool,
}

/// Grade the tool expectation: pick the passing alternative or the closest one.
pub(crate) fn grade<'a>(
    tools: &ToolSet,
    exp: &'a ToolExpectation,
    calls: &[NormCall],
    side: &TextSide,
) -> ToolOutcome<'a> {
    let mut findings = call_findings(tools, calls);
    let text_norm = side
        .text_calls
        .as_ref()
        .map(|(tc, _)| text_to_norm(tools, tc));
    let evals: Vec<AltEval> = exp
        .alternatives
        .iter()
        .map(|alt| eval_alt(tools, alt, calls, side, text_norm.as_deref()))
        .collect();
    let best = (0..evals.len())
        .min_by_key(|&i| {
            let e = &evals[i];
            let primary = e.findings.iter().map(|f| f.kind).min();
            (e.shape_mismatch, e.penalty, primary.map(Reverse), i)
        })
        .unwrap_or(0);
    let expected = match exp.alternatives.get(best) {
        Some(CallSet::Calls { calls: ce, .. }) => ExpectedCalls(Some(ce)),
        _ => ExpectedCalls(None),
    };
    let expected_tools = expected
        .0
        .map_or_else(Vec::new, |ce| ce.iter().map(|c| c.name.clone()).collect());
    let mut values = Vec::new();
    if let Some(e) = evals.into_iter().nth(best) {
        findings.extend(e.findings);
        values = e.values;
    }
    ToolOutcome {
        findings,
        args: arg_checks(tools, calls, &values),
        expected_tools,
        expected,
        actual_desc: actual_desc(calls, side),
    }
}

fn eval_alt(
    tools: &ToolSet,
    alt: &CallSet,
    calls: &[NormCall],
    side: &TextSide,
    text_norm: Option<&[NormCall]>,
) -> AltEval {
    let text = side.text_calls.as_ref().filter(|(tc, _)| !tc.is_empty());
    match alt {
        CallSet::NoCall => {
            if !calls.is_empty() {
                let malformed: Vec<usize> = calls
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.is_malformed())
                    .map(|(i, _)| i)
                    .collect();
                let note = if malformed.is_empty() {
                    String::new()
                } else {
                    " (malformed)".to_string()
                };
                let f = Finding {
                    kind: FailureKind::UnexpectedCall,
                    message: format!(
                        "expected no call, called {}{note}",
                        calls.iter().map(actual_call).collect::<Vec<_>>().join(", ")
                    ),
                    path: None,
                    detail: Some(json!({
                        "calls": calls.iter().map(|c| json!({"name": c.name, "arguments": c.raw})).collect::<Vec<_>>(),
                        "malformed": malformed,
                    })),
                };
                AltEval {
                    findings: vec![f],
                    values: vec![],
                    penalty: 1,
                    shape_mismatch: true,
                }
            } else if let Some((tc, source)) = text {
                let f = Finding {
                    kind: FailureKind::UnexpectedCall,
                    message: format!(
                        "expected no call, wrote {} as text in {source} ({})",
                        tc.iter().map(text_call).collect::<Vec<_>>().join(", "),
                        tc[0].format
                    ),
                    path: None,
                    detail: Some(
                        json!({ "in_content": true, "source": source, "format": tc[0].format, "calls": text_calls_json(tc) }),
                    ),
                };
                AltEval {
                    findings: vec![f],
                    values: vec![],
                    penalty: 1,
                    shape_mismatch: true,
                }
            } else {
                AltEval {
                    findings: vec![],
                    values: vec![],
                    penalty: 0,
                    shape_mismatch: false,
                }
            }
        }
        CallSet::Calls {
            calls: exp,
            order,
            extra_calls,
        } => {
            if !calls.is_empty() {
                let (f, values) = match_calls(exp, *order, *extra_calls, calls);
                AltEval {
                    penalty: f.len(),
                    findings: f,
                    values,
                    shape_mismatch: false,
                }
            } else if let (Some((tc, source)), Some(tn)) = (text, text_norm) {
                let mut would = call_findings(tools, tn);
                would.extend(match_calls(exp, *order, *extra_calls, tn).0);
                would.sort_by_key(|f| f.kind);
                let would_pass = would.is_empty();
                let verdict = if would_pass {
                    "would have passed".to_string()
                } else {
                    format!("would have failed with {}", would[0].kind.as_str())
                };
                let f = Finding {
                    kind: FailureKind::CallInContent,
                    message: format!(
                        "{} written as text in {source} ({} format), no structured tool_calls; {verdict}",
                        tc.iter().map(text_call).collect::<Vec<_>>().join(", "),
                        tc[0].format
                    ),
                    path: None,
                    detail: Some(json!({
                        "would_pass": would_pass,
                        "format": tc[0].format,
                        "source": source,
                        "calls": text_calls_json(tc),
                        "would_fail_with": would.iter().map(|f| json!({"kind": f.kind, "message": f.message})).collect::<Vec<_>>(),
                    })),
                };
                AltEval {
                    penalty: 1 + would.len(),
                    values: vec![],
                    findings: vec![f],
                    shape_mismatch: false,
                }
            } else {
                let f = Finding {
                    kind: FailureKind::NoCall,
                    message: format!(
                        "expected {}, answered in text",
                        exp.iter()
                            .map(|e| e.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    path: None,
                    detail: None,
                };
                AltEval {
                    findings: vec![f],
                    values: vec![],
                    penalty: 1,
                    shape_mismatch: true,
                }
            }
        }
    }
}

fn text_calls_json(tc: &[TextCall]) -> Vec<Value> {
    tc.iter()
        .map(|c| json!({"name": c.name, "arguments": c.arguments}))
        .collect()
}

/// `name(arg≈"x", n=2)`.
pub(crate) fn expected_call(e: &CallExpect) -> String {
    let args: Vec<String> = e
        .args
        .iter()
        .map(|(k, m)| format!("{k}{}", describe(m)))
        .collect();
    format!("{}({})", e.name, args.join(", "))
}

fn args_str(args: &Value) -> String {
    match args.as_object() {
        Some(o) => o
            .iter()
            .map(|(k, v)| format!("{k}={}", show(v)))
            .collect::<Vec<_>>()
            .join(", "),
        None => show(args),
    }
}

/// `name(arg="x")`, or `name(<invalid JSON>)`.
pub(crate) fn actual_call(c: &NormCall) -> String {
    match &c.args {
        Ok(a) => format!("{}({})", c.name, args_str(a)),
        Err(_) => {
            // The parser's position and the text before it: where a broken answer breaks.
            let raw = match &c.raw {
                Value::String(s) => s.trim().to_string(),
                v => v.to_string(),
            };
            match serde_json::from_str::<Value>(&raw) {
                Err(e) => format!(
                    "{}(<invalid JSON: {}>)",
                    c.name,
                    crate::normalize::json_error_context(&raw, &e)
                ),
                // Valid JSON of the wrong shape: an array, a number, a string nested deeper.
                Ok(_) => format!(
                    "{}(<not a JSON object: {}>)",
                    c.name,
                    crate::normalize::clip_middle(&raw, 120)
                ),
            }
        }
    }
}

fn text_call(c: &TextCall) -> String {
    match &c.arguments {
        Value::Object(_) => format!("{}({})", c.name, args_str(&c.arguments)),
        _ => format!("{}(<invalid JSON>)", c.name),
    }
}

fn actual_desc(calls: &[NormCall], side: &TextSide) -> String {
    if !calls.is_empty() {
        return calls.iter().map(actual_call).collect::<Vec<_>>().join(", ");
    }
    if let Some((tc, source)) = side.text_calls.as_ref().filter(|(tc, _)| !tc.is_empty()) {
        return format!(
            "{} as text in {source}",
            tc.iter().map(text_call).collect::<Vec<_>>().join(", ")
        );
    }
    let a = side.answer.trim();
    if a.is_empty() {
        "no output".into()
    } else {
        format!(
            "text {}",
            show(&Value::String(
                a.split_whitespace().collect::<Vec<_>>().join(" ")
            ))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools() -> ToolSet {
        toolgate_core::tools::parse_tools(&json!([{"type": "function", "function": {
            "name": "set_timer",
            "parameters": {"type": "object",
                "properties": {"minutes": {"type": "integer"}, "label": {"type": "string"}},
                "required": ["minutes"]}}}]))
        .unwrap()
    }

    fn call(args: Value) -> NormCall {
        NormCall {
            name: "set_timer".into(),
            args: Ok(args.clone()),
            raw: args,
        }
    }

    fn rows(c: &[ArgCheck]) -> Vec<(String, ArgSchema, Option<bool>)> {
        c.iter()
            .map(|a| (a.arg.to_string(), a.schema, a.value_ok))
            .collect()
    }

    /// Parallel calls pair by content, not position: the exact pair wins over a same-tool
    /// pair.
    #[test]
    fn one_to_one_pairs_parallel_calls_regardless_of_order() {
        // left: a(x=1), b(); right: b(), a(x=2), a(x=1)
        let costs = vec![vec![2, 1, 0], vec![0, 2, 2]];
        assert_eq!(one_to_one(&costs, 3), vec![Some(2), Some(0)]);
        assert_eq!(one_to_one(&[vec![1, 0]], 2), vec![Some(1)]);
    }

    /// Issue 22 §2: each argument of a call is checked against the schema (hallucinated,
    /// missing required, wrong type) and, for a paired call, against its matcher.
    #[test]
    fn arguments_are_checked_against_schema_and_matchers() {
        let values = vec![
            (0, "minutes".to_string(), false),
            (0, "label".to_string(), true),
        ];
        let c = arg_checks(
            &tools(),
            &[call(json!({"minutes": "five", "loud": true}))],
            &values,
        );
        assert_eq!(
            rows(&c),
            vec![
                ("minutes".into(), ArgSchema::WrongType, Some(false)),
                ("loud".into(), ArgSchema::Unknown, None),
                ("label".into(), ArgSchema::Absent, Some(true)),
            ]
        );
        let c = arg_checks(&tools(), &[call(json!({"label": "tea"}))], &vec![]);
        assert_eq!(
            rows(&c),
            vec![
                ("label".into(), ArgSchema::Ok, None),
                ("minutes".into(), ArgSchema::Missing, None),
            ]
        );
        // An integral float is an integer, as JSON Schema says.
        let c = arg_checks(&tools(), &[call(json!({"minutes": 5.0}))], &vec![]);
        assert_eq!(rows(&c), vec![("minutes".into(), ArgSchema::Ok, None)]);
        // A model that invents hundreds of names gets a bounded number of rows.
        let many: serde_json::Map<String, Value> =
            (0..500).map(|i| (format!("x{i}"), json!(1))).collect();
        let c = arg_checks(&tools(), &[call(Value::Object(many))], &vec![]);
        assert_eq!(
            c.iter().filter(|a| a.schema == ArgSchema::Unknown).count(),
            MAX_UNKNOWN_PER_CALL
        );
    }
}
