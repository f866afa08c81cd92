//! `compare.md`: the cases that changed between two runs, regressions first, each with the
//! user message and one row per repeat holding both runs' answers and diagnoses.

use super::compare_view::{sections, Readers, MAX_SIDE_TRIALS};
use super::trial_html::verdict_class;
use crate::asked::{one_line, NOT_RECORDED};
use crate::compare::{CompareOptions, Comparison};
use crate::run::RunData;
use crate::text::md_cell;
use std::fmt::Write;
use toolgate_core::record::GradeRecord;

/// Characters of an answer and of a diagnosis shown in a cell.
const ANSWER_CHARS: usize = 200;
const DIAG_CHARS: usize = 300;
const QUESTION_CHARS: usize = 160;

pub fn render_compare_md(
    c: &Comparison,
    base: &RunData,
    cand: &RunData,
    opts: &CompareOptions,
) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# toolgate compare: {} → {}\n\n{}\n",
        md_cell(&c.base.label),
        md_cell(&c.cand.label),
        md_cell(&crate::cases::verdict(&c.case_stats))
    );
    let secs = sections(c, base, cand, opts);
    let _ = writeln!(
        o,
        "Cases (repeats pooled): {} regressed · {} improved · {} flaky. Every case and trial flip: `toolgate compare` and the gate report.",
        secs[0].cases.len() + secs[0].omitted,
        secs[1].cases.len() + secs[1].omitted,
        secs[2].cases.len() + secs[2].omitted
    );
    let mut readers = Readers::new(base, cand);
    for s in &secs {
        let _ = writeln!(o, "\n## {} ({})\n", s.title, s.cases.len() + s.omitted);
        if s.cases.is_empty() {
            o.push_str("None.\n");
            continue;
        }
        for e in &s.cases {
            let d = e.delta;
            let _ = writeln!(
                o,
                "### {} — {}{}\n",
                md_cell(&d.label),
                d.counts(),
                if d.stable { " (stable)" } else { "" }
            );
            let (shown, asked) = readers.entry(e);
            let question = asked
                .as_deref()
                .and_then(|a| a.last_user().map(|q| one_line(q, QUESTION_CHARS)));
            let rows: [Vec<String>; 2] = shown.map(|side| {
                side.iter()
                    .map(|(g, _, rec)| cell(g, rec.as_ref()))
                    .collect()
            });
            match question {
                Some(q) => {
                    let _ = writeln!(o, "- user: {}\n", md_cell(&q));
                }
                None => {
                    let _ = writeln!(o, "- user: _({NOT_RECORDED})_\n");
                }
            }
            o.push_str("| # | base | candidate |\n|---|---|---|\n");
            let n = rows[0].len().max(rows[1].len());
            for i in 0..n {
                let repeat = e.sides[1]
                    .get(i)
                    .or(e.sides[0].get(i))
                    .map_or(0, |g| g.key.repeat);
                let _ = writeln!(
                    o,
                    "| {} | {} | {} |",
                    repeat,
                    rows[0].get(i).map_or("–", String::as_str),
                    rows[1].get(i).map_or("–", String::as_str)
                );
            }
            let more: Vec<String> = (0..2)
                .filter(|&s| e.sides[s].len() > MAX_SIDE_TRIALS)
                .map(|s| {
                    format!(
                        "{} more {} trials",
                        e.sides[s].len() - MAX_SIDE_TRIALS,
                        ["base", "candidate"][s]
                    )
                })
                .collect();
            if !more.is_empty() {
                let _ = writeln!(o, "\n…and {}.", more.join(", "));
            }
            o.push('\n');
        }
        if s.omitted > 0 {
            let _ = writeln!(
                o,
                "…and {} more cases (`toolgate compare` lists every one).\n",
                s.omitted
            );
        }
    }
    o
}

/// One side's trial in a cell: verdict and kind, the answer, the diagnosis.
fn cell(g: &GradeRecord, rec: Option<&toolgate_core::record::ResponseRecord>) -> String {
    let kind = g
        .failure
        .map(|f| f.as_str())
        .or(g.error_kind.map(|e| e.as_str()));
    format!(
        "**{}**{} {}<br>{}",
        verdict_class(g.verdict),
        kind.map(|k| format!(" {}", md_cell(k))).unwrap_or_default(),
        md_cell(&super::trial_html::answer_line(rec, ANSWER_CHARS)),
        md_cell(&one_line(&g.diagnosis, DIAG_CHARS))
    )
}
