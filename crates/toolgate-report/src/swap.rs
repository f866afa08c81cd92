//! The `toolgate swap` report (`swap.md`): the gate's decision first, then accuracy, failure
//! analysis, latency and server facts of the baseline and the candidate side by side.

use crate::server::ServerSummary;
use crate::stats::Dist;
use crate::text::pct_ci;
use crate::{Decision, GateDecision, Summary};
use std::fmt::Write as _;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn dist(d: Option<&Dist>, unit: &str) -> String {
    d.map(|d| format!("{:.1} {unit}", d.p50))
        .unwrap_or_else(|| "—".into())
}

fn server_of<'a>(s: &'a Summary, target: &str) -> Option<&'a ServerSummary> {
    s.servers.iter().find(|x| x.target == target)
}

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
        cell(base_name),
        cell(cand_name)
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
    o.push_str("\n\n## Accuracy\n\n| | baseline | candidate |\n|---|---|---|\n");
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
    for (k, b, c) in rows {
        let _ = writeln!(o, "| {k} | {} | {} |", cell(&b), cell(&c));
    }
    o.push_str("\n## Failure analysis\n\n");
    o.push_str(&crate::render_compare_markdown_section(&d.comparison));
    o.push_str("\n\n## Latency (p50)\n\n| variant | metric | baseline | candidate |\n|---|---|---:|---:|\n");
    for b in &bs.latency.by_variant {
        let c = cs.latency.by_variant.iter().find(|c| c.group == b.group);
        for (metric, f, unit) in [
            (
                "TTFT",
                (|r: &crate::summary::LatencyRow| r.ttft_ms)
                    as fn(&crate::summary::LatencyRow) -> Option<Dist>,
                "ms",
            ),
            ("E2E", |r| r.e2e_ms, "ms"),
            ("decode", |r| r.decode_tps, "tok/s"),
        ] {
            let _ = writeln!(
                o,
                "| {} | {metric} | {} | {} |",
                cell(&b.group),
                dist(f(b).as_ref(), unit),
                dist(c.and_then(f).as_ref(), unit)
            );
        }
    }
    o.push_str("\n## Server facts\n\n| | baseline | candidate |\n|---|---|---|\n");
    let b = server_of(bs, base_name);
    let c = server_of(cs, cand_name);
    let fact = |s: Option<&ServerSummary>, f: &dyn Fn(&ServerSummary) -> String| {
        s.map(f).unwrap_or_else(|| "not managed".into())
    };
    let startup = |s: &ServerSummary| {
        s.startup_ms
            .map(|m| format!("{:.1} s", m / 1000.0))
            .unwrap_or_else(|| "did not start".into())
    };
    let restarts = |s: &ServerSummary| s.restarts.to_string();
    let exits = |s: &ServerSummary| {
        let mut v: Vec<String> = s.error.iter().map(|e| first_line(e)).collect();
        v.extend(s.exits.iter().cloned());
        if v.is_empty() {
            "none".into()
        } else {
            v.join("; ")
        }
    };
    let probes = |s: &ServerSummary| {
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
            .collect::<Vec<_>>()
            .join("<br>")
    };
    for (k, f) in [
        (
            "startup time",
            &startup as &dyn Fn(&ServerSummary) -> String,
        ),
        ("restarts", &restarts),
        ("exit causes", &exits),
        ("probes (first → last, max)", &probes),
    ] {
        let _ = writeln!(o, "| {k} | {} | {} |", cell(&fact(b, f)), cell(&fact(c, f)));
    }
    o.push_str("\nRun folders: `baseline/` and `candidate/` beside this file (each with report.md and, for managed targets, server.log).\n");
    o
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
