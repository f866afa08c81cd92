//! `report.md`: GitHub-flavoured Markdown, sized for a CI step summary (passing trials are
//! counted, not listed; the per-case table is capped).

use super::{prepared, RenderOptions, STABLE_NOTE};
use crate::asked::{one_line, RequestIndex, NOT_RECORDED};
use crate::run::RunData;
use crate::summary::{summarize_with, Summary, Trials};
use crate::text::{md_cell, pct_ci, Markup};
use std::fmt::Write;
use toolgate_core::record::Verdict;

/// Cases listed in the by-case failure list before it is cut.
const MAX_CASE_ROWS: usize = 200;
/// Characters of the user message shown on a failing case's line.
const QUESTION_CHARS: usize = 160;

pub fn render_markdown(run: &RunData, opts: &RenderOptions) -> String {
    let run = prepared(run, opts);
    let trials = Trials::new(&run);
    markdown_from_summary(&run, &trials, &summarize_with(&run, &trials), opts.stable)
}

/// `run` and `trials` are read only for the user message of each failing case (its
/// request, from `requests.jsonl`).
pub(crate) fn markdown_from_summary(
    run: &RunData,
    trials: &Trials<'_>,
    s: &Summary,
    stable: bool,
) -> String {
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
    if t.recorded > 0 {
        let _ = writeln!(
            o,
            "\n{} trial(s) of record-only cases (no `expect`): recorded, not judged.",
            t.recorded
        );
    }
    if stable {
        let _ = writeln!(o, "\n_{STABLE_NOTE}_");
    }

    results(&mut o, s);
    tools(&mut o, s);
    super::decisions::section(&mut o, s, Markup::Markdown);
    arguments(&mut o, s);
    failures(&mut o, s, run, trials);
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

/// Per-argument rates (tool_call suites): which arguments the model gets wrong, and how.
fn arguments(o: &mut String, s: &Summary) {
    if s.arguments.is_empty() {
        return;
    }
    o.push_str("\n## Arguments\n\n");
    super::arguments_table(o, s, Markup::Markdown);
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

fn failures(o: &mut String, s: &Summary, run: &RunData, trials: &Trials<'_>) {
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
    by_case(o, s, run, trials);
}

/// One line per case with a failing or errored trial, most failures first: its pass count
/// per variant, its failure kinds with counts, and one failing trial's diagnosis in full
/// (a cut diagnosis loses exactly the reason), after the user message it answered (one
/// line, cut). Per-trial rows are in results.csv and junit.xml.
fn by_case(o: &mut String, s: &Summary, run: &RunData, trials: &Trials<'_>) {
    use std::collections::BTreeMap;
    #[derive(Default)]
    struct Group<'a> {
        variants: BTreeMap<&'a str, (usize, usize)>,
        kinds: BTreeMap<String, usize>,
        not_passed: usize,
        total: usize,
        diagnosis: Option<&'a str>,
        /// The trial whose request shows the question: the first one not passed.
        first: Option<&'a toolgate_core::record::TrialKey>,
    }
    let mut groups: BTreeMap<(&str, &str), Group<'_>> = BTreeMap::new();
    for c in &s.cases {
        let g = groups
            .entry((c.key.suite.as_str(), c.key.case.as_str()))
            .or_default();
        let v = g.variants.entry(c.key.variant.as_str()).or_default();
        v.1 += 1;
        g.total += 1;
        if c.verdict == Verdict::Pass {
            v.0 += 1;
            continue;
        }
        g.not_passed += 1;
        g.first.get_or_insert(&c.key);
        let kind = match (c.verdict, c.failure.as_deref()) {
            (Verdict::Error, Some(k)) => format!("error: {k}"),
            (_, Some(k)) => k.to_string(),
            (_, None) => c.verdict.to_string(),
        };
        *g.kinds.entry(kind).or_default() += 1;
        if g.diagnosis.is_none() && c.verdict == Verdict::Fail && !c.diagnosis.is_empty() {
            g.diagnosis = Some(&c.diagnosis);
        }
    }
    let mut failing: Vec<_> = groups
        .into_iter()
        .filter(|(_, g)| g.not_passed > 0)
        .collect();
    failing.sort_by(|a, b| b.1.not_passed.cmp(&a.1.not_passed).then(a.0.cmp(&b.0)));
    o.push_str("\n### By case (most failures first)\n\n");
    // One record read back per listed case, for its request hash.
    let mut reader = run.raw_reader();
    let mut requests = RequestIndex::open(run);
    for ((suite, case), g) in failing.iter().take(MAX_CASE_ROWS) {
        let variants: Vec<String> = g
            .variants
            .iter()
            .map(|(v, (p, t))| format!("{v} {p}/{t}"))
            .collect();
        let mut kinds: Vec<(&str, usize)> = g.kinds.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        let _ = writeln!(
            o,
            "- **{}/{}** — {}/{} passed ({}) — {}",
            md_cell(suite),
            md_cell(case),
            g.total - g.not_passed,
            g.total,
            md_cell(&variants.join(", ")),
            md_cell(&kinds.join(", "))
        );
        let question = g
            .first
            .and_then(|k| trials.response(k))
            .and_then(|m| reader.get(m))
            .and_then(|r| requests.get(&r.request.body_sha256))
            .and_then(|a| a.last_user().map(|q| one_line(q, QUESTION_CHARS)));
        match question {
            Some(q) => {
                let _ = writeln!(o, "  - user: {}", md_cell(&q));
            }
            None => {
                let _ = writeln!(o, "  - user: _({NOT_RECORDED})_");
            }
        }
        if let Some(d) = g.diagnosis {
            let _ = writeln!(o, "  - {}", md_cell(d));
        }
    }
    if failing.len() > MAX_CASE_ROWS {
        let _ = writeln!(
            o,
            "\n…and {} more cases (see report.html or results.csv).",
            failing.len() - MAX_CASE_ROWS
        );
    }
    if s.cases.len() as u64 >= crate::summary::MAX_LISTED_CASES as u64 {
        let _ = writeln!(
            o,
            "\nCounted over the {} trials listed (failures first); results.csv has every trial.",
            s.cases.len()
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
