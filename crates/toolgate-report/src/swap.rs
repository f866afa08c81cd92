//! The `toolgate swap` report (`swap.md`): the gate's decision first, then accuracy, failure
//! analysis, latency and server facts of the baseline and the candidate side by side.

use crate::server::ServerSummary;
use crate::stats::Dist;
use crate::summary::LatencyRow;
use crate::text::{md_cell, pct_ci, Markup, Table};
use crate::{Decision, GateDecision, Summary};
use std::fmt::Write as _;

/// The swap report: decision first, then the evidence side by side.
pub fn render_swap_markdown(
    base_name: &str,
    cand_name: &str,
    d: &GateDecision,
    bs: &Summary,
    cs: &Summary,
) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# toolgate swap: `{}` → `{}`\n",
        md_cell(base_name),
        md_cell(cand_name)
    );
    let _ = writeln!(
        o,
        "**Decision: {}** (exit {})\n",
        match d.decision {
            Decision::Passed => "PASS",
            Decision::Failed => "FAIL",
            Decision::Inconclusive => "INCONCLUSIVE",
            Decision::Incomplete => "INCOMPLETE",
        },
        d.exit_code()
    );
    o.push_str(&crate::render_gate_markdown(d));
    o.push_str("\n\n## Accuracy\n\n");
    accuracy_table(&mut o, base_name, cand_name, bs, cs);
    o.push_str("\n## Failure analysis\n\n");
    o.push_str(&crate::render_compare_markdown_section(&d.comparison));
    o.push_str("\n\n## Latency (p50)\n\n");
    latency_table(&mut o, bs, cs);
    o.push_str("\n## Server facts\n\n");
    server_facts_table(&mut o, server_of(bs, base_name), server_of(cs, cand_name));
    o.push_str("\nRun folders: `baseline/` and `candidate/` beside this file (each with report.md and, for managed targets, server.log).\n");
    o
}

/// One latency distribution of a row.
type LatencyOf = fn(&LatencyRow) -> Option<Dist>;
/// One server fact, escaped for a table cell.
type FactOf = fn(&ServerSummary) -> String;

fn side_by_side(o: &mut String) -> Table<'_> {
    Table::new(
        o,
        Markup::Markdown,
        &[("", false), ("baseline", false), ("candidate", false)],
    )
}

fn accuracy_table(o: &mut String, base_name: &str, cand_name: &str, bs: &Summary, cs: &Summary) {
    let model = |s: &Summary| {
        s.run
            .targets
            .first()
            .map(|t| t.model.clone())
            .unwrap_or_default()
    };
    let rows: [(&str, String, String); 6] = [
        ("target", base_name.to_string(), cand_name.to_string()),
        ("model", model(bs), model(cs)),
        (
            "passed / judged",
            format!("{} / {}", bs.totals.passed, bs.totals.judged),
            format!("{} / {}", cs.totals.passed, cs.totals.judged),
        ),
        (
            "accuracy (95% CI)",
            pct_ci(&bs.totals.accuracy),
            pct_ci(&cs.totals.accuracy),
        ),
        (
            "infra errors",
            bs.totals.errors.to_string(),
            cs.totals.errors.to_string(),
        ),
        (
            "run complete",
            yes_no(bs.run.complete),
            yes_no(cs.run.complete),
        ),
    ];
    let mut t = side_by_side(o);
    for (k, b, c) in rows {
        t.row(&[k, &b, &c]);
    }
    t.end();
}

/// TTFT, end-to-end time and decode rate per variant of the baseline, with the candidate's
/// same variant beside it.
fn latency_table(o: &mut String, bs: &Summary, cs: &Summary) {
    let metrics: [(&str, LatencyOf, &str); 3] = [
        ("TTFT", |r| r.ttft_ms, "ms"),
        ("E2E", |r| r.e2e_ms, "ms"),
        ("decode", |r| r.decode_tps, "tok/s"),
    ];
    let mut t = Table::new(
        o,
        Markup::Markdown,
        &[
            ("variant", false),
            ("metric", false),
            ("baseline", true),
            ("candidate", true),
        ],
    );
    for b in &bs.latency.by_variant {
        let c = cs.latency.by_variant.iter().find(|c| c.group == b.group);
        for (metric, f, unit) in metrics {
            t.row(&[
                b.group.clone(),
                metric.to_string(),
                dist(f(b).as_ref(), unit),
                dist(c.and_then(f).as_ref(), unit),
            ]);
        }
    }
    t.end();
}

/// Startup, restarts, exit causes and probes of each side's managed server; a side without
/// one says "not managed".
fn server_facts_table(o: &mut String, b: Option<&ServerSummary>, c: Option<&ServerSummary>) {
    // Each fact comes escaped: the probes cell joins its escaped lines with `<br>`.
    let facts: [(&str, FactOf); 4] = [
        ("startup time", |s| md_cell(&startup(s))),
        ("restarts", |s| s.restarts.to_string()),
        ("exit causes", |s| md_cell(&exits(s))),
        ("probes (first → last, max)", probes),
    ];
    let fact =
        |s: Option<&ServerSummary>, f: FactOf| s.map(f).unwrap_or_else(|| "not managed".into());
    let mut t = side_by_side(o);
    for (k, f) in facts {
        let (bf, cf) = (fact(b, f), fact(c, f));
        t.row_with(&[&md_cell(k), &bf, &cf], |_, s| s.to_string());
    }
    t.end();
}

fn startup(s: &ServerSummary) -> String {
    s.startup_ms
        .map(|m| format!("{:.1} s", m / 1000.0))
        .unwrap_or_else(|| "did not start".into())
}

fn exits(s: &ServerSummary) -> String {
    let mut v: Vec<String> = s.error.iter().map(|e| first_line(e)).collect();
    v.extend(s.exits.iter().cloned());
    if v.is_empty() {
        "none".into()
    } else {
        v.join("; ")
    }
}

fn probes(s: &ServerSummary) -> String {
    if s.probes.is_empty() {
        return "—".into();
    }
    s.probes
        .iter()
        .map(|p| match p.first {
            Some(_) => format!(
                "{}: {} → {} (max {})",
                p.name,
                num(p.first),
                num(p.last),
                num(p.max)
            ),
            None => format!("{}: {}", p.name, p.last_output.clone().unwrap_or_default()),
        })
        .map(|line| md_cell(&line))
        .collect::<Vec<_>>()
        .join("<br>")
}

fn dist(d: Option<&Dist>, unit: &str) -> String {
    d.map(|d| format!("{:.1} {unit}", d.p50))
        .unwrap_or_else(|| "—".into())
}

fn server_of<'a>(s: &'a Summary, target: &str) -> Option<&'a ServerSummary> {
    s.servers.iter().find(|x| x.target == target)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.fract() == 0.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.2}"),
        None => "—".into(),
    }
}
