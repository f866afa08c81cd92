//! `toolgate compare RUN --by prompt|variant|target`: one run with several prompts (or
//! variants, or targets), each slice compared case by case with a reference slice.

use crate::cases::{p_fmt, verdict, CaseStatus};
use crate::compare::{compare, CompareOptions, SliceField, SliceFilter};
use crate::run::RunData;
use crate::text::{pct, term};
use std::fmt::Write as _;

fn field_name(f: SliceField) -> &'static str {
    match f {
        SliceField::Target => "target",
        SliceField::Prompt => "prompt",
        SliceField::Variant => "variant",
    }
}

/// The values `field` takes in `run`: in the manifest's order (the order they were asked
/// for) when it lists them, then any others in the order they first appear.
pub fn values(run: &RunData, field: SliceField) -> Vec<String> {
    let m = &run.manifest;
    let mut v: Vec<String> = match field {
        SliceField::Target => m.targets.iter().map(|t| t.name.clone()).collect(),
        SliceField::Prompt => m.prompts.iter().map(|p| p.name.clone()).collect(),
        SliceField::Variant => m.variants.clone(),
    };
    v.dedup();
    let mut seen = std::collections::BTreeSet::new();
    v.retain(|x| seen.insert(x.clone()));
    // Only values that have trials.
    v.retain(|x| {
        run.grades.iter().any(|g| {
            !g.warmup
                && match field {
                    SliceField::Target => &g.key.target,
                    SliceField::Prompt => &g.key.prompt,
                    SliceField::Variant => &g.key.variant,
                } == x.as_str()
        })
    });
    for g in run.grades.iter().filter(|g| !g.warmup) {
        let x = match field {
            SliceField::Target => &g.key.target,
            SliceField::Prompt => &g.key.prompt,
            SliceField::Variant => &g.key.variant,
        }
        .to_string();
        if !v.contains(&x) {
            v.push(x);
        }
    }
    v
}

/// The table: each value × suite with the per-case accuracy, the paired delta against the
/// reference, the sign test and the flipped cases; one verdict line per compared value.
/// Errors when the run has fewer than two values or `reference` is not one of them.
pub fn render_by_text(
    run: &RunData,
    field: SliceField,
    reference: Option<&str>,
) -> Result<String, String> {
    let vals = values(run, field);
    let name = field_name(field);
    let reference = match reference {
        Some(r) if vals.iter().any(|v| v == r) => r.to_string(),
        Some(r) => {
            return Err(format!(
                "--reference {r}: no such {name} in {} (have: {})",
                run.manifest.run_id,
                vals.join(", ")
            ))
        }
        None => vals.first().cloned().unwrap_or_default(),
    };
    if vals.len() < 2 {
        return Err(format!(
            "--by {name}: {} has {} {name} value(s) ({}); nothing to compare",
            run.manifest.run_id,
            vals.len(),
            vals.join(", ")
        ));
    }
    let mut o = String::new();
    let _ = writeln!(
        o,
        "compare {} --by {name} (reference: {})\n",
        term(&run.manifest.run_id),
        term(&reference)
    );
    let _ = writeln!(
        o,
        "{:<24} {:<24} {:>9} {:>11} {:>7}  sign test",
        name, "suite", "accuracy", "Δ vs ref", "−/+"
    );
    let mut verdicts = Vec::new();
    for v in vals.iter().filter(|v| **v != reference) {
        let opts = CompareOptions {
            base_filter: Some(SliceFilter {
                field,
                value: reference.clone(),
            }),
            cand_filter: Some(SliceFilter {
                field,
                value: v.clone(),
            }),
        };
        let c = compare(run, run, &opts);
        for s in &c.suites {
            let st = &s.case_stats;
            if st.cases == 0 {
                continue;
            }
            let _ = writeln!(
                o,
                "{:<24} {:<24} {:>9}   reference",
                term(&reference),
                term(&s.suite),
                pct(st.base_rate),
            );
            let _ = writeln!(
                o,
                "{:<24} {:<24} {:>9} {:>11} {:>7}  {}",
                term(v),
                term(&s.suite),
                pct(st.cand_rate),
                st.delta
                    .map_or("–".into(), |d| format!("{:+.1} pts", d * 100.0)),
                format!("{}/{}", st.worse, st.better),
                if st.worse == 0 && st.better == 0 {
                    "no case changed".to_string()
                } else if st.worse >= st.better {
                    format!("{} worse", p_fmt(st.p_worse))
                } else {
                    format!("{} better", p_fmt(st.p_better))
                }
            );
            let flipped: Vec<String> = c
                .cases
                .iter()
                .filter(|d| d.suite == s.suite && d.delta().is_some_and(|x| x != 0.0))
                .map(|d| {
                    let how = match d.status {
                        CaseStatus::Regressed => "worse",
                        CaseStatus::Improved => "better",
                        _ => "flaky",
                    };
                    format!("{} {} ({how})", d.case, d.counts())
                })
                .collect();
            if !flipped.is_empty() {
                let shown: Vec<&str> = flipped.iter().take(10).map(String::as_str).collect();
                let _ = writeln!(
                    o,
                    "  flipped: {}{}",
                    term(&shown.join(", ")),
                    if flipped.len() > 10 {
                        format!(" … (+{})", flipped.len() - 10)
                    } else {
                        String::new()
                    }
                );
            }
        }
        verdicts.push(format!(
            "verdict {name}={} vs {}: {}",
            term(v),
            term(&reference),
            verdict(&c.case_stats)
        ));
    }
    o.push('\n');
    for v in verdicts {
        let _ = writeln!(o, "{v}");
    }
    Ok(o)
}
