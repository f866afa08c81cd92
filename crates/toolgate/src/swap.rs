//! `toolgate swap --baseline A --candidate B [--policy F]`: the model-swap A/B in one command.
//! Runs the suites on A, then on B (one after the other, so only one managed server is up at a
//! time), into `<out>/baseline` and `<out>/candidate`, then compares and gates. `<out>/swap.md`
//! leads with the decision, then accuracy, failure analysis, latency and server facts side by
//! side. Exit code as `toolgate gate`.

use crate::cli;
use crate::commands::{build_request, load_config, load_run, runtime};
use crate::exit;
use std::fmt::Write as _;
use toolgate_report::server::ServerSummary;
use toolgate_report::stats::Dist;
use toolgate_report::text::pct_ci;
use toolgate_report::{GateDecision, Summary};
use toolgate_run::BadInput;

fn bad(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(BadInput(msg.into()))
}

pub fn swap(a: cli::SwapArgs) -> anyhow::Result<u8> {
    if !a.run.targets.is_empty() {
        return Err(bad(
            "toolgate swap takes --baseline and --candidate, not --target",
        ));
    }
    if a.run.resume.is_some() {
        return Err(bad("toolgate swap cannot --resume; run it again"));
    }
    if a.baseline == a.candidate {
        return Err(bad(format!(
            "--baseline and --candidate are both `{}`",
            a.baseline
        )));
    }
    // Everything that can be refused is refused before the first server starts.
    let config = load_config(a.run.config.as_deref())?;
    for t in [&a.baseline, &a.candidate] {
        if !config.targets.contains_key(t) {
            return Err(bad(format!(
                "unknown target `{t}` (configured: {})",
                config
                    .targets
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let policy = match &a.policy {
        Some(p) => toolgate_report::Policy::load(p).map_err(|e| bad(e.to_string()))?,
        None => toolgate_report::Policy::default(),
    };
    let parent = a.run.out.clone().unwrap_or_else(|| {
        let id = format!("swap-{}", toolgate_run::runfolder::new_run_id());
        toolgate_run::runfolder::run_dir(&config.defaults.runs_dir, &id)
    });
    for role in ["baseline", "candidate"] {
        if parent
            .join(role)
            .join(toolgate_core::runfolder::RESPONSES)
            .exists()
        {
            return Err(bad(format!(
                "{} already holds a swap; use another --out",
                parent.display()
            )));
        }
    }
    let mut reqs = Vec::new();
    for (role, target) in [("baseline", &a.baseline), ("candidate", &a.candidate)] {
        let mut ra = a.run.clone();
        ra.targets = vec![target.clone()];
        ra.out = Some(parent.join(role));
        ra.sequential = true;
        reqs.push((role, target.clone(), build_request(&ra, 0, 1)?));
    }

    let rt = runtime()?;
    for (role, target, req) in reqs {
        if !a.run.quiet {
            eprintln!("swap: {role} `{target}`");
        }
        let out = rt.block_on(toolgate_run::run(req))?;
        if out.interrupted {
            eprintln!(
                "swap: interrupted during the {role} run; {} is incomplete",
                out.dir.display()
            );
            return Ok(exit::INCOMPLETE);
        }
    }
    drop(rt);

    let base = load_run(&parent.join("baseline"))?;
    let cand = load_run(&parent.join("candidate"))?;
    let mut decision = toolgate_report::gate(&base, &cand, &policy);
    // The reader knows the targets by name, not by run folder.
    decision.comparison.base.label = a.baseline.clone();
    decision.comparison.cand.label = a.candidate.clone();
    let bs = toolgate_report::summarize(&base);
    let cs = toolgate_report::summarize(&cand);
    let md = swap_markdown(&a.baseline, &a.candidate, &decision, &bs, &cs);
    std::fs::write(parent.join("swap.md"), &md)?;
    let json = serde_json::json!({
        "baseline": {"target": a.baseline, "run": "baseline", "totals": bs.totals, "servers": bs.servers},
        "candidate": {"target": a.candidate, "run": "candidate", "totals": cs.totals, "servers": cs.servers},
        "gate": {"passed": decision.passed, "exit_code": decision.exit_code(), "text": toolgate_report::render_gate_text(&decision)},
    });
    std::fs::write(
        parent.join("swap.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )?;
    crate::commands::print_out(&toolgate_report::render_gate_text(&decision));
    crate::commands::print_out(&parent.join("swap.md").display().to_string());
    crate::commands::step_summary(&decision);
    Ok(decision.exit_code() as u8)
}

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
pub fn swap_markdown(
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
            toolgate_report::Decision::Passed => "PASS",
            toolgate_report::Decision::Failed => "FAIL",
            toolgate_report::Decision::Inconclusive => "INCONCLUSIVE",
            toolgate_report::Decision::Incomplete => "INCOMPLETE",
        },
        d.exit_code()
    );
    o.push_str(&toolgate_report::render_gate_markdown(d));
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
    o.push_str(&toolgate_report::render_compare_markdown_section(
        &d.comparison,
    ));
    o.push_str("\n\n## Latency (p50)\n\n| variant | metric | baseline | candidate |\n|---|---|---:|---:|\n");
    for b in &bs.latency.by_variant {
        let c = cs.latency.by_variant.iter().find(|c| c.group == b.group);
        for (metric, f, unit) in [
            (
                "TTFT",
                (|r: &toolgate_report::summary::LatencyRow| r.ttft_ms)
                    as fn(&toolgate_report::summary::LatencyRow) -> Option<Dist>,
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
