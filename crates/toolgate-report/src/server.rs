//! Server facts: what toolgate observed about a server it managed (startup time, restarts, exit
//! causes, probe readings). The runner writes them into `manifest.json` (`targets[].server`);
//! the reports show them per target. The types are core's ([`toolgate_core::record::ServerFacts`]).

use crate::run::RunData;
use crate::text::{escape, Markup, Table};
use serde::Serialize;
use std::fmt::Write as _;
pub use toolgate_core::record::{
    ExitFact, ProbeReading, ProbeSeries, ServerFacts, StartFact, StopFact,
};

/// The report's view of one managed server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerSummary {
    pub target: String,
    pub startup_ms: Option<f64>,
    pub restarts: u32,
    pub exits: Vec<String>,
    pub error: Option<String>,
    pub stop: Option<StopFact>,
    pub probes: Vec<ProbeSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeSummary {
    pub name: String,
    pub readings: usize,
    pub failed: usize,
    pub first: Option<f64>,
    pub last: Option<f64>,
    pub max: Option<f64>,
    /// Last output, for probes whose output is not a number.
    pub last_output: Option<String>,
}

/// One summary per managed target of the run (none for runs without managed servers).
pub fn server_summaries(run: &RunData) -> Vec<ServerSummary> {
    run.manifest
        .targets
        .iter()
        .filter_map(|t| {
            let f = t.server_facts()?;
            Some(summarize_facts(&t.name, &f))
        })
        .collect()
}

pub fn summarize_facts(target: &str, f: &ServerFacts) -> ServerSummary {
    ServerSummary {
        target: target.to_string(),
        startup_ms: f.startup_ms,
        restarts: f.restarts,
        exits: f.exits.iter().map(|e| e.message.clone()).collect(),
        error: f.error.clone(),
        stop: f.stop.clone(),
        probes: f
            .probes
            .iter()
            .map(|p| {
                let values: Vec<f64> = p.readings.iter().filter_map(|r| r.value).collect();
                ProbeSummary {
                    name: p.name.clone(),
                    readings: p.readings.len(),
                    failed: p.readings.iter().filter(|r| !r.ok).count(),
                    first: values.first().copied(),
                    last: values.last().copied(),
                    max: values.iter().copied().reduce(f64::max),
                    last_output: p
                        .readings
                        .iter()
                        .rev()
                        .find(|r| r.ok)
                        .map(|r| r.output.chars().take(120).collect()),
                }
            })
            .collect(),
    }
}

fn num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        Some(x) => format!("{x:.2}"),
        None => "—".into(),
    }
}

fn ms(v: Option<f64>, stable: bool) -> String {
    match v {
        _ if stable => "<redacted>".into(),
        Some(x) => format!("{:.1} s", x / 1000.0),
        None => "—".into(),
    }
}

fn probe_cell(p: &ProbeSummary) -> String {
    let mut s = if p.first.is_some() {
        format!(
            "{}: first {} · last {} · max {}",
            p.name,
            num(p.first),
            num(p.last),
            num(p.max)
        )
    } else {
        format!(
            "{}: {}",
            p.name,
            p.last_output.clone().unwrap_or_else(|| "no output".into())
        )
    };
    let _ = write!(s, " ({} reading(s)", p.readings);
    if p.failed > 0 {
        let _ = write!(s, ", {} failed", p.failed);
    }
    s.push(')');
    s
}

fn exit_cell(s: &ServerSummary) -> String {
    let mut parts: Vec<String> = vec![];
    if let Some(e) = &s.error {
        parts.push(e.lines().next().unwrap_or("").to_string());
    }
    parts.extend(s.exits.iter().cloned());
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join("; ")
    }
}

fn stop_cell(s: &ServerSummary) -> String {
    match &s.stop {
        Some(st) if st.graceful => format!("SIG{} (graceful)", st.signal),
        Some(st) => format!("SIG{} then KILL (grace ran out)", st.signal),
        None => "—".into(),
    }
}

/// Markdown section "Servers" (empty string when no server was managed).
pub fn servers_markdown(servers: &[ServerSummary], stable: bool) -> String {
    servers_section(servers, stable, Markup::Markdown)
}

/// HTML section "Servers" (empty string when no server was managed).
pub fn servers_html(servers: &[ServerSummary], stable: bool) -> String {
    servers_section(servers, stable, Markup::Html)
}

fn servers_section(servers: &[ServerSummary], stable: bool, m: Markup) -> String {
    if servers.is_empty() {
        return String::new();
    }
    let mut o = String::from(match m {
        Markup::Markdown => {
            "\n## Servers\n\nServers toolgate started, watched and stopped for this run.\n\n"
        }
        Markup::Html => "<h2>Servers</h2>\n",
    });
    let cols = [
        ("target", false),
        ("startup", true),
        ("restarts", true),
        ("exit causes", false),
        ("probes (first / last / max)", false),
        ("stopped by", false),
    ];
    let mut t = Table::new(&mut o, m, &cols);
    for s in servers {
        let (startup, restarts, exits, stop) = (
            ms(s.startup_ms, stable),
            s.restarts.to_string(),
            exit_cell(s),
            stop_cell(s),
        );
        t.row_with(
            &[&s.target, &startup, &restarts, &exits, "", &stop],
            |i, v| {
                if i != 4 {
                    return escape(m, v);
                }
                // One probe per line: `<br>` works in both a pipe table and HTML.
                if s.probes.is_empty() {
                    "—".to_string()
                } else {
                    s.probes
                        .iter()
                        .map(|p| escape(m, &probe_cell(p)))
                        .collect::<Vec<_>>()
                        .join("<br>")
                }
            },
        );
    }
    t.end();
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn facts_summarise_probes_and_exits() {
        let v = json!({
            "managed": true,
            "startup_ms": 1500.0,
            "restarts": 1,
            "exits": [{"message": "server exited with code 137 after 6 of 16 trials", "code": 137}],
            "probes": [{"name": "gpu-mem", "readings": [
                {"phase": "before", "ok": true, "output": "900 MiB", "value": 900.0},
                {"phase": "during", "ok": false, "error": "timed out"},
                {"phase": "during", "ok": true, "output": "2100 MiB", "value": 2100.0},
                {"phase": "after", "ok": true, "output": "1800 MiB", "value": 1800.0}
            ]}],
            "unknown_future_field": 1
        });
        let f = ServerFacts::from_value(&v).unwrap();
        let s = summarize_facts("a", &f);
        let p = &s.probes[0];
        assert_eq!(
            (p.first, p.last, p.max),
            (Some(900.0), Some(1800.0), Some(2100.0))
        );
        assert_eq!((p.readings, p.failed), (4, 1));
        let md = servers_markdown(std::slice::from_ref(&s), false);
        assert!(
            md.contains("| a | 1.5 s | 1 | server exited with code 137 after 6 of 16 trials |"),
            "{md}"
        );
        assert!(
            md.contains("gpu-mem: first 900 · last 1800 · max 2100 (4 reading(s), 1 failed)"),
            "{md}"
        );
        insta::assert_snapshot!("servers_md", md);
        let html = servers_html(&[s], true);
        assert!(html.contains("&lt;redacted&gt;"), "{html}");
        insta::assert_snapshot!("servers_html", html);
        // Not a managed server: no facts.
        assert!(ServerFacts::from_value(&json!({"builtin": "sim"})).is_none());
    }
}
