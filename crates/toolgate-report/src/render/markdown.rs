//! `report.md`: GitHub-flavoured Markdown, sized for a CI step summary (passing trials are
//! counted, not listed; the per-case table is capped).

use super::{prepared, RenderOptions, STABLE_NOTE};
use crate::run::RunData;
use crate::summary::{summarize, Summary};
use crate::text::{md_cell, pct_ci, truncate, Markup};
use std::fmt::Write;
use toolgate_core::record::Verdict;

/// Failing/error rows listed in the per-case table before it is cut.
const MAX_CASE_ROWS: usize = 200;
const MAX_DIAGNOSIS: usize = 160;

pub fn render_markdown(run: &RunData, opts: &RenderOptions) -> String {
    let run = prepared(run, opts);
    markdown_from_summary(&summarize(&run), opts.stable)
}

pub fn markdown_from_summary(s: &Summary, stable: bool) -> String {
    let mut o = String::new();
    let r = &s.run;
    // The first line carries the verdict on completeness, so a truncated view still shows it.
    if r.complete {
        let _ = writeln!(o, "# toolgate report: {}", md_cell(&r.run_id));
    } else {
        let _ = writeln!(o, "# INCOMPLETE — toolgate report: {}", md_cell(&r.run_id));
        o.push('\n');
        let reasons = if r.incomplete_reasons.is_empty() {
            "the run did not finish".to_string()
        } else {
            r.incomplete_reasons.join("; ")
        };
        let _ = writeln!(
            o,
            "> [!WARNING]\n> This run is incomplete ({} of {} planned trials graded): {}",
            r.graded_trials,
            r.planned_trials,
            md_cell(&reasons)
        );
    }
    o.push('\n');
    let t = &s.totals;
    let _ = writeln!(
        o,
        "**{} passed / {} judged — {}** · {} failed · infra errors (not counted): {}",
        t.passed,
        t.judged,
        pct_ci(&t.accuracy),
        t.failed,
        t.errors
    );
    if stable {
        let _ = writeln!(o, "\n_{STABLE_NOTE}_");
    }

    results(&mut o, s);
    tools(&mut o, s);
    failures(&mut o, s);
    extraction(&mut o, s);
    latency(&mut o, s);
    o.push_str(&crate::server::servers_markdown(&s.servers, stable));
    facts(&mut o, s);
    o
}

fn results(o: &mut String, s: &Summary) {
    o.push_str("\n## Results\n\n");
    super::results_table(o, s, Markup::Markdown);
}

fn tools(o: &mut String, s: &Summary) {
    if s.tools.is_empty() {
        return;
    }
    o.push_str("\n## Tools\n\n");
    super::tools_table(o, s, Markup::Markdown);
    for g in &s.groups {
        let Some(c) = &g.confusion else { continue };
        if c.rows.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "\n**Confusion — {} · {} · {} · {}** (rows: expected, columns: what the model did)\n",
            md_cell(&g.target),
            md_cell(&g.suite),
            md_cell(&g.prompt),
            md_cell(&g.variant)
        );
        o.push_str("| expected \\ actual |");
        for col in &c.columns {
            let _ = write!(o, " {} |", md_cell(col));
        }
        o.push_str("\n|---|");
        for _ in &c.columns {
            o.push_str("---:|");
        }
        o.push('\n');
        for (row, counts) in c.rows.iter().zip(&c.counts) {
            let _ = write!(o, "| {} |", md_cell(row));
            for (col, n) in c.columns.iter().zip(counts) {
                // Bold the diagonal so hits and misses separate at a glance.
                if col == row && *n > 0 {
                    let _ = write!(o, " **{n}** |");
                } else if *n == 0 {
                    o.push_str(" · |");
                } else {
                    let _ = write!(o, " {n} |");
                }
            }
            o.push('\n');
        }
    }
}

fn failures(o: &mut String, s: &Summary) {
    o.push_str("\n## Failures\n\n");
    if s.failure_kinds.is_empty() && s.error_kinds.is_empty() {
        o.push_str("No failures and no infra errors.\n");
        return;
    }
    o.push_str("| kind | count |\n|---|---:|\n");
    for k in &s.failure_kinds {
        let _ = writeln!(o, "| {} | {} |", md_cell(&k.kind), k.count);
    }
    for k in &s.error_kinds {
        let _ = writeln!(o, "| error: {} | {} |", md_cell(&k.kind), k.count);
    }
    let rows: Vec<_> = s
        .cases
        .iter()
        .filter(|c| c.verdict != Verdict::Pass)
        .collect();
    o.push_str(
        "\n| trial | verdict | kind | diagnosis | expected | actual |\n|---|---|---|---|---|---|\n",
    );
    for c in rows.iter().take(MAX_CASE_ROWS) {
        let k = &c.key;
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            md_cell(&format!(
                "{}/{} [{}] {} #{}",
                k.suite, k.case, k.variant, k.prompt, k.repeat
            )),
            c.verdict,
            md_cell(c.failure.as_deref().unwrap_or("–")),
            md_cell(&truncate(&c.diagnosis, MAX_DIAGNOSIS)),
            md_cell(&c.expected),
            md_cell(&c.actual)
        );
    }
    if rows.len() > MAX_CASE_ROWS {
        let _ = writeln!(
            o,
            "\n…and {} more (see report.html or results.csv).",
            rows.len() - MAX_CASE_ROWS
        );
    }
}

fn extraction(o: &mut String, s: &Summary) {
    if s.extraction.is_empty() {
        return;
    }
    o.push_str("\n## Extraction\n\n");
    super::extraction_table(o, s, Markup::Markdown);
}

fn latency(o: &mut String, s: &Summary) {
    crate::latency::render_markdown(o, s);
}

fn facts(o: &mut String, s: &Summary) {
    super::run_facts(o, s, crate::text::Markup::Markdown);
    let r = &s.run;
    for t in &r.targets {
        if t.metadata.is_null() {
            continue;
        }
        let json = serde_json::to_string_pretty(&t.metadata).unwrap_or_default();
        let _ = writeln!(
            o,
            "\n<details><summary>server metadata: {}</summary>\n\n```json\n{}\n```\n\n</details>",
            md_cell(&t.name),
            json.replace("```", "`\u{200B}``")
        );
    }
}
