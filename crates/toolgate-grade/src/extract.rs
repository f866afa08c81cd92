//! Extraction grading: find the JSON (whole content → fenced block → first balanced value
//! in prose, or a tool call's arguments), check it against the output schema, and score the
//! entity list as a set.
//!
//! Scoring edge cases (documented, deterministic): precision is 1 when nothing was predicted
//! (no false claims), recall is 1 when nothing was expected; F1 is 0 when P + R = 0. A
//! predicted entity matches at most one expected entity and vice versa (maximum bipartite
//! matching), so a duplicate prediction is spurious.

use crate::gates::finding;
use crate::jsonscan::{balanced_end, fenced_blocks};
use crate::normalize::NormCall;
use serde_json::{json, Value};
use toolgate_core::text::{fold, fold_strip_zwj};
use toolgate_core::{ExtractExpectation, FailureKind, Finding, OutputSource, Scores};

pub(crate) struct ExtractOutcome {
    pub findings: Vec<Finding>,
    pub scores: Option<Scores>,
}

/// The JSON document and where it came from (`content`, `fenced`, `embedded`, `tool:NAME`),
/// or why none was found.
pub fn find_json(answer: &str) -> Result<(Value, &'static str), String> {
    let t = answer.trim();
    if t.is_empty() {
        return Err("no content to read JSON from".into());
    }
    let whole_err = match serde_json::from_str::<Value>(t) {
        Ok(v) => return Ok((v, "content")),
        Err(e) => e,
    };
    let blocks = fenced_blocks(t);
    // ```json first, then any fence whose body parses.
    for want_json in [true, false] {
        for (lang, body) in &blocks {
            if want_json != (lang == "json" || lang == "jsonc") {
                continue;
            }
            if let Ok(v) = serde_json::from_str::<Value>(body.trim()) {
                return Ok((v, "fenced"));
            }
        }
    }
    let (values, broken) = prose_values(t);
    for v in values {
        let useful = match &v {
            Value::Object(o) => !o.is_empty(),
            Value::Array(a) => a.iter().all(|e| e.is_object() || e.is_string()) && !a.is_empty(),
            _ => false,
        };
        if useful {
            return Ok((v, "embedded"));
        }
    }
    match broken {
        // The answer is one JSON value that does not parse (often truncated): say where.
        Some(_) if t.starts_with('{') || t.starts_with('[') => {
            Err(format!("content is not valid JSON: {whole_err}"))
        }
        Some(why) => Err(why),
        None => Err("no JSON object found in content".into()),
    }
}

/// Complete JSON values in prose, left to right, and the parse error of the first broken
/// one. The inside of a broken value is never searched (a truncated `{"entities": [{…},`
/// would otherwise yield its first entity as "the answer"); an unclosed one ends the search.
fn prose_values(t: &str) -> (Vec<Value>, Option<String>) {
    let mut out = Vec::new();
    let mut broken = None;
    let mut i = 0;
    while let Some(off) = t[i..].find(['{', '[']) {
        let start = i + off;
        let end = balanced_end(t, start);
        let span = &t[start..end.unwrap_or(t.len())];
        match serde_json::from_str::<Value>(span) {
            Ok(v) => out.push(v),
            Err(e) => {
                // `[see below]` in prose is not JSON; only a value that looks like one
                // (opens with a quote or another bracket) counts as a broken answer.
                let looks_json = span[1..]
                    .trim_start()
                    .starts_with(['"', '{', '[', ']', '}']);
                if looks_json && broken.is_none() {
                    broken = Some(format!(
                        "content holds invalid JSON at byte {start}: {e}{}",
                        if end.is_none() { " (never closed)" } else { "" }
                    ));
                }
            }
        }
        match end {
            Some(e) => i = e,
            None => break,
        }
    }
    (out, broken)
}

/// Predicted (name, type) pairs: the `entities` array of an object, or a top-level array.
/// Items may be objects (`name`/`text`/`entity`, `type`/`label`/`category`) or strings.
pub fn predicted_entities(v: &Value) -> Vec<(String, Option<String>)> {
    let items = match v {
        Value::Array(a) => a,
        Value::Object(o) => match o.get("entities") {
            Some(Value::Array(a)) => a,
            _ => return vec![],
        },
        _ => return vec![],
    };
    items
        .iter()
        .filter_map(|it| match it {
            Value::String(s) => Some((s.clone(), None)),
            Value::Object(o) => {
                let name = ["name", "text", "entity", "value"]
                    .iter()
                    .find_map(|k| o.get(*k)?.as_str())?;
                let ty = ["type", "label", "category", "entity_type"]
                    .iter()
                    .find_map(|k| o.get(*k)?.as_str())
                    .map(str::to_string);
                Some((name.to_string(), ty))
            }
            _ => None,
        })
        .collect()
}

/// Kuhn's augmenting-path matching; `adj[e]` lists candidate predictions in order.
fn max_matching(adj: &[Vec<usize>], n_pred: usize) -> Vec<Option<usize>> {
    fn augment(
        e: usize,
        adj: &[Vec<usize>],
        seen: &mut [bool],
        owner: &mut [Option<usize>],
    ) -> bool {
        for &p in &adj[e] {
            if !seen[p] {
                seen[p] = true;
                if owner[p].is_none_or(|o| augment(o, adj, seen, owner)) {
                    owner[p] = Some(e);
                    return true;
                }
            }
        }
        false
    }
    let mut owner = vec![None; n_pred];
    for e in 0..adj.len() {
        let mut seen = vec![false; n_pred];
        augment(e, adj, &mut seen, &mut owner);
    }
    let mut out = vec![None; adj.len()];
    for (p, o) in owner.iter().enumerate() {
        if let Some(e) = o {
            out[*e] = Some(p);
        }
    }
    out
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        1.0
    } else {
        num as f64 / den as f64
    }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

fn label(name: &str, ty: Option<&str>) -> String {
    match ty {
        Some(t) => format!("{name} ({t})"),
        None => name.to_string(),
    }
}

/// Score predicted entities against the expectation; findings when below the thresholds.
pub(crate) fn score_entities(
    exp: &ExtractExpectation,
    pred: &[(String, Option<String>)],
) -> (Scores, Vec<Finding>) {
    let f = |s: &str| {
        if exp.strip_zwj {
            fold_strip_zwj(s)
        } else {
            fold(s)
        }
    };
    let pred_names: Vec<String> = pred.iter().map(|(n, _)| f(n)).collect();
    let name_adj: Vec<Vec<usize>> = exp
        .entities
        .iter()
        .map(|e| {
            let keys: Vec<String> = std::iter::once(&e.name)
                .chain(&e.aliases)
                .map(|s| f(s))
                .collect();
            (0..pred.len())
                .filter(|&p| keys.contains(&pred_names[p]))
                .collect()
        })
        .collect();
    let type_ok = |e: usize, p: usize| {
        let want = &exp.entities[e].entity_type;
        !exp.match_types
            || want
                .as_ref()
                .is_none_or(|w| pred[p].1.as_deref().is_some_and(|g| fold(g) == fold(w)))
    };
    let strict_adj: Vec<Vec<usize>> = name_adj
        .iter()
        .enumerate()
        .map(|(e, ps)| ps.iter().copied().filter(|&p| type_ok(e, p)).collect())
        .collect();
    let strict = max_matching(&strict_adj, pred.len());
    // Second pass over what is left: same name, other type.
    let mut taken = vec![false; pred.len()];
    for p in strict.iter().flatten() {
        taken[*p] = true;
    }
    let rest_adj: Vec<Vec<usize>> = name_adj
        .iter()
        .enumerate()
        .map(|(e, ps)| {
            if strict[e].is_some() {
                vec![]
            } else {
                ps.iter().copied().filter(|p| !taken[*p]).collect()
            }
        })
        .collect();
    let mismatched = max_matching(&rest_adj, pred.len());
    for p in mismatched.iter().flatten() {
        taken[*p] = true;
    }

    let tp = strict.iter().flatten().count();
    let (n_exp, n_pred) = (exp.entities.len(), pred.len());
    let (precision, recall) = (ratio(tp, n_pred), ratio(tp, n_exp));
    let mut strict_taken = vec![false; n_pred];
    for p in strict.iter().flatten() {
        strict_taken[*p] = true;
    }
    let found: Vec<String> = exp
        .entities
        .iter()
        .enumerate()
        .filter(|(i, _)| strict[*i].is_some())
        .map(|(_, e)| label(&e.name, e.entity_type.as_deref()))
        .collect();
    let missed: Vec<String> = exp
        .entities
        .iter()
        .enumerate()
        .filter(|(i, _)| strict[*i].is_none())
        .map(|(_, e)| label(&e.name, e.entity_type.as_deref()))
        .collect();
    let spurious: Vec<String> = pred
        .iter()
        .enumerate()
        .filter(|(p, _)| !strict_taken[*p])
        .map(|(_, (n, t))| label(n, t.as_deref()))
        .collect();
    let scores = Scores {
        precision,
        recall,
        f1: f1(precision, recall),
        true_positives: tp as u32,
        false_positives: (n_pred - tp) as u32,
        false_negatives: (n_exp - tp) as u32,
        found,
        missed: missed.clone(),
        spurious: spurious.clone(),
        source: None,
    };

    let eps = 1e-9;
    let recall_low = recall + eps < exp.min_recall;
    let precision_low = precision + eps < exp.min_precision;
    let mut out = Vec::new();
    if !recall_low && !precision_low {
        return (scores, out);
    }
    let type_pairs: Vec<(usize, usize)> = mismatched
        .iter()
        .enumerate()
        .filter_map(|(e, p)| p.map(|p| (e, p)))
        .collect();
    let loose_tp = tp + type_pairs.len();
    let loose_ok = ratio(loose_tp, n_exp) + eps >= exp.min_recall
        && ratio(loose_tp, n_pred) + eps >= exp.min_precision;
    if !type_pairs.is_empty() {
        let msgs: Vec<String> = type_pairs
            .iter()
            .map(|&(e, p)| {
                format!(
                    "{}: expected type {}, got {}",
                    exp.entities[e].name,
                    exp.entities[e].entity_type.as_deref().unwrap_or("-"),
                    pred[p].1.as_deref().unwrap_or("none")
                )
            })
            .collect();
        out.push(finding(
            FailureKind::EntityTypeMismatch,
            msgs.join("; "),
            Some(
                json!({ "mismatches": type_pairs.iter().map(|&(e, p)| json!({
                "expected": exp.entities[e].name, "expected_type": exp.entities[e].entity_type,
                "predicted": pred[p].0, "predicted_type": pred[p].1,
            })).collect::<Vec<_>>() }),
            ),
        ));
    }
    if loose_ok && !type_pairs.is_empty() {
        // Every shortfall is a type disagreement: that is the failure, not missing entities.
        return (scores, out);
    }
    if recall_low {
        out.push(finding(
            FailureKind::EntitiesMissing,
            format!(
                "recall {recall:.2} < {:.2}: missed {}",
                exp.min_recall,
                missed.join(", ")
            ),
            Some(json!({ "recall": recall, "min_recall": exp.min_recall, "missed": missed })),
        ));
    }
    if precision_low {
        out.push(finding(
            FailureKind::EntitiesSpurious,
            format!("precision {precision:.2} < {:.2}: spurious {}", exp.min_precision, spurious.join(", ")),
            Some(json!({ "precision": precision, "min_precision": exp.min_precision, "spurious": spurious })),
        ));
    }
    (scores, out)
}

/// Grade an extraction answer. `answer` is the content with think blocks removed.
pub(crate) fn grade(exp: &ExtractExpectation, answer: &str, calls: &[NormCall]) -> ExtractOutcome {
    let found: Result<(Value, String), String> = match &exp.output {
        OutputSource::Content => find_json(answer).map(|(v, s)| (v, s.to_string())),
        OutputSource::Tool(name) => match calls.iter().find(|c| &c.name == name) {
            Some(c) => c
                .args
                .clone()
                .map(|v| (v, format!("tool:{name}")))
                .map_err(|e| format!("{name}: {e}")),
            None if calls.is_empty() => Err(format!("no call to `{name}` (output: tool:{name})")),
            None => Err(format!(
                "no call to `{name}` (called {})",
                calls
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        },
    };
    let (doc, source) = match found {
        Ok(x) => x,
        Err(why) => {
            return ExtractOutcome {
                findings: vec![finding(FailureKind::OutputInvalidJson, why, None)],
                scores: None,
            }
        }
    };
    let mut findings = Vec::new();
    if let Some(schema) = &exp.schema {
        let errs: Vec<(String, String)> = schema
            .validator
            .iter_errors(&doc)
            .map(|e| (e.instance_path().to_string(), e.to_string()))
            .collect();
        if let Some((p0, m0)) = errs.first() {
            let more = if errs.len() > 1 {
                format!(" (+{} more)", errs.len() - 1)
            } else {
                String::new()
            };
            findings.push(Finding {
                kind: FailureKind::OutputSchemaViolation,
                message: format!("{}{m0}{more}", if p0.is_empty() { String::new() } else { format!("{p0}: ") }),
                path: Some(p0.clone()),
                detail: Some(json!({ "errors": errs.iter().map(|(p, m)| json!({"path": p, "message": m})).collect::<Vec<_>>() })),
            });
        }
    }
    let pred = predicted_entities(&doc);
    let (mut scores, ef) = score_entities(exp, &pred);
    scores.source = Some(source);
    findings.extend(ef);
    ExtractOutcome {
        findings,
        scores: Some(scores),
    }
}

/// Suite-level entity scores: micro (pooled counts) and macro (mean of per-case values).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SuiteScores {
    pub cases: usize,
    pub micro_precision: f64,
    pub micro_recall: f64,
    pub micro_f1: f64,
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
}

/// Aggregate per-case scores (same edge-case conventions as per case).
pub fn suite_scores<'a>(scores: impl IntoIterator<Item = &'a Scores>) -> SuiteScores {
    let all: Vec<&Scores> = scores.into_iter().collect();
    let n = all.len();
    if n == 0 {
        return SuiteScores::default();
    }
    let tp: usize = all.iter().map(|s| s.true_positives as usize).sum();
    let fp: usize = all.iter().map(|s| s.false_positives as usize).sum();
    let fneg: usize = all.iter().map(|s| s.false_negatives as usize).sum();
    let (p, r) = (ratio(tp, tp + fp), ratio(tp, tp + fneg));
    let mean = |f: fn(&Scores) -> f64| all.iter().map(|s| f(s)).sum::<f64>() / n as f64;
    SuiteScores {
        cases: n,
        micro_precision: p,
        micro_recall: r,
        micro_f1: f1(p, r),
        macro_precision: mean(|s| s.precision),
        macro_recall: mean(|s| s.recall),
        macro_f1: mean(|s| s.f1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 19: a truncated answer is `output_invalid_json` with the parse error and its
    /// position, never an inner fragment graded against the schema.
    #[test]
    fn a_truncated_answer_is_invalid_json_not_an_inner_fragment() {
        let cut = r#"{"entities": [{"name": "Asha", "type": "person"}, {"name": "Ra"#;
        let e = find_json(cut).unwrap_err();
        assert!(e.starts_with("content is not valid JSON: "), "{e}");
        assert!(e.contains("line 1 column"), "{e}");
        let e = find_json(&format!("Here you go: {cut}")).unwrap_err();
        assert!(
            e.contains("invalid JSON at byte 13") && e.contains("never closed"),
            "{e}"
        );
        // A broken value is skipped whole: its inner object is not the answer.
        let e = find_json(r#"Result: {"entities": [{"name": "A"}] oops}"#).unwrap_err();
        assert!(e.contains("invalid JSON at byte 8"), "{e}");
        // Complete values in prose are still found; `[see below]` is prose.
        assert_eq!(
            find_json(r#"[see below] {"entities": []} done"#).unwrap().1,
            "embedded"
        );
    }

    #[test]
    fn json_sources_in_order() {
        assert_eq!(find_json("{\"a\":1}").unwrap().1, "content");
        assert_eq!(
            find_json("Here:\n```json\n{\"a\":1}\n```").unwrap().1,
            "fenced"
        );
        assert_eq!(
            find_json("The answer is {\"a\": 1} ok").unwrap().1,
            "embedded"
        );
        assert!(find_json("{\"a\": ")
            .unwrap_err()
            .contains("not valid JSON"));
        assert!(find_json("no json here").is_err());
    }
}
