//! `toolgate swap --baseline A --candidate B [--policy F]`: the model-swap A/B in one command.
//! Runs the suites on A, then on B (one after the other, so only one managed server is up at a
//! time), into `<out>/baseline` and `<out>/candidate`, then compares and gates. `<out>/swap.md`
//! leads with the decision, then accuracy, failure analysis, latency and server facts side by
//! side. Exit code as `toolgate gate`.

use crate::cli;
use crate::commands::{build_request, load_config, load_run, runtime};
use crate::error::bad;
use crate::exit;

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
    let md = toolgate_report::render_swap_markdown(&a.baseline, &a.candidate, &decision, &bs, &cs);
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
