//! What `toolgate agree` prints and writes: the terminal summary, `agree.md` and
//! `agree.json` (docs/agree.md). Model answers are hostile input: the terminal gets them
//! through [`term`] and bounded, Markdown cells through the table's `md_cell` escaping.

use crate::agree::{Agreement, Disagreement, Row};
use crate::stats::Proportion;
use crate::text::{pct_ci, ratio, term, truncate, Markup, Table};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

pub const AGREE_MD: &str = "agree.md";
pub const AGREE_JSON: &str = "agree.json";
/// Disagreeing cases the terminal shows (the files list every one).
const TOP_CASES: usize = 10;
/// Characters of an answer shown on a terminal line.
const ANSWER_TERM: usize = 160;
/// Rows of the Markdown disagreement table (agree.json keeps every one).
const MD_ROWS: usize = 500;

fn f1(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.3}"))
}

fn rate(p: &Proportion) -> String {
    if p.n == 0 {
        return "–".to_string();
    }
    format!("{} ({})", pct_ci(p), ratio(p))
}

fn schema(p: &Option<Proportion>) -> String {
    p.as_ref().map_or_else(|| "not checked".to_string(), rate)
}

fn row_title(r: &Row) -> String {
    format!(
        "{} → {} · {} · {}",
        r.ref_target, r.target, r.suite, r.variant
    )
}

/// The terminal summary: headline, one block per row, the most disagreeing cases with both
/// answers, what was not compared.
pub fn render_agree_text(ag: &Agreement) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "agree  REF:  {}", term(&ag.reference.dir));
    let _ = writeln!(o, "       CAND: {}", term(&ag.candidate.dir));
    for (side, label) in [(&ag.reference, "REF"), (&ag.candidate, "CAND")] {
        if !side.complete {
            let _ = writeln!(o, "warning: the {label} run is INCOMPLETE");
        }
    }
    let _ = writeln!(o, "{}", headline(ag));
    for r in &ag.rows {
        let _ = writeln!(
            o,
            "\n{}  ({} trials, {} turns{})",
            term(&row_title(r)),
            r.trials,
            r.turns,
            errors_note(r.errors)
        );
        let _ = writeln!(
            o,
            "  tool trigger   P {}  R {}  F1 {}",
            rate(&r.precision),
            rate(&r.recall),
            f1(r.f1)
        );
        let _ = writeln!(o, "  same tool      {}", rate(&r.same_tool));
        let _ = writeln!(o, "  arguments      {}", rate(&r.arguments));
        let _ = writeln!(o, "  same decision  {}", rate(&r.same_decision));
        let _ = writeln!(
            o,
            "  schema valid   REF {}  CAND {}",
            schema(&r.schema_ref),
            schema(&r.schema_cand)
        );
        let _ = writeln!(o, "  agreement      {}", rate(&r.agreement));
    }
    top_cases_text(&mut o, ag);
    not_compared_text(&mut o, ag);
    o
}

fn errors_note(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("; {n} trial(s) with an infra error not compared")
    }
}

fn headline(ag: &Agreement) -> String {
    let turns: u64 = ag.rows.iter().map(|r| r.turns).sum();
    let agree: u64 = ag.rows.iter().map(|r| r.agreement.successes).sum();
    format!(
        "{} paired trials, {} turns: {} agree, {} disagree; targets paired: {}",
        ag.compared_trials(),
        turns,
        agree,
        ag.disagreements.len(),
        ag.target_rule
    )
}

/// Disagreements grouped by case, most first (ties by name).
fn by_case(ag: &Agreement) -> Vec<(String, Vec<&Disagreement>)> {
    let mut m: BTreeMap<String, Vec<&Disagreement>> = BTreeMap::new();
    for d in &ag.disagreements {
        m.entry(format!("{}/{}", d.suite, d.case))
            .or_default()
            .push(d);
    }
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
    v
}

fn top_cases_text(o: &mut String, ag: &Agreement) {
    let cases = by_case(ag);
    if cases.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\ndisagreeing cases ({}, {} turns; first answer of each):",
        cases.len(),
        ag.disagreements.len()
    );
    for (case, ds) in cases.iter().take(TOP_CASES) {
        let d = ds[0];
        let _ = writeln!(
            o,
            "  {}  {} turn(s), first: {} ({} {} #{} turn {})",
            term(case),
            ds.len(),
            d.kind.label(),
            term(&d.target),
            term(&d.variant),
            d.repeat,
            d.turn
        );
        let _ = writeln!(
            o,
            "    REF:  {}",
            term(&truncate(&d.reference, ANSWER_TERM))
        );
        let _ = writeln!(
            o,
            "    CAND: {}",
            term(&truncate(&d.candidate, ANSWER_TERM))
        );
    }
    if cases.len() > TOP_CASES {
        let _ = writeln!(
            o,
            "  … {} more case(s) in {AGREE_MD}",
            cases.len() - TOP_CASES
        );
    }
}

fn not_compared_text(o: &mut String, ag: &Agreement) {
    for (title, items) in [
        ("only in REF", &ag.only_reference),
        ("only in CAND", &ag.only_candidate),
        (
            "changed input (another question; not compared)",
            &ag.changed_input,
        ),
    ] {
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(o, "\n{title} ({}):", items.len());
        for i in items.iter().take(TOP_CASES) {
            let _ = writeln!(o, "  {}", term(i));
        }
        if items.len() > TOP_CASES {
            let _ = writeln!(o, "  … {} more in {AGREE_JSON}", items.len() - TOP_CASES);
        }
    }
    if ag.unpaired_turns > 0 {
        let _ = writeln!(
            o,
            "\n{} turn(s) recorded on one side only (not compared)",
            ag.unpaired_turns
        );
    }
    for n in &ag.notes {
        let _ = writeln!(o, "note: {}", term(n));
    }
}

/// `agree.md`: the table of rows, every disagreeing turn with both answers, what was not
/// compared.
pub fn render_agree_markdown(ag: &Agreement) -> String {
    let mut o = String::from("# Agreement with the reference deployment\n\n");
    let cell = |s: &str| crate::text::md_cell(s);
    let _ = writeln!(o, "- REF: {}", cell(&ag.reference.dir));
    let _ = writeln!(o, "- CAND: {}", cell(&ag.candidate.dir));
    for (side, label) in [(&ag.reference, "REF"), (&ag.candidate, "CAND")] {
        if !side.complete {
            let _ = writeln!(o, "- **the {label} run is incomplete**");
        }
    }
    let _ = writeln!(o, "- {}\n", cell(&headline(ag)));
    let mut t = Table::new(
        &mut o,
        Markup::Markdown,
        &[
            ("REF target", false),
            ("CAND target", false),
            ("suite", false),
            ("variant", false),
            ("trials", true),
            ("turns", true),
            ("errors", true),
            ("trigger P", true),
            ("trigger R", true),
            ("trigger F1", true),
            ("same tool", true),
            ("arguments", true),
            ("same decision", true),
            ("schema REF", true),
            ("schema CAND", true),
            ("agreement", true),
        ],
    );
    for r in &ag.rows {
        t.row(&[
            r.ref_target.clone(),
            r.target.clone(),
            r.suite.clone(),
            r.variant.clone(),
            r.trials.to_string(),
            r.turns.to_string(),
            r.errors.to_string(),
            rate(&r.precision),
            rate(&r.recall),
            f1(r.f1),
            rate(&r.same_tool),
            rate(&r.arguments),
            rate(&r.same_decision),
            schema(&r.schema_ref),
            schema(&r.schema_cand),
            rate(&r.agreement),
        ]);
    }
    t.end();
    disagreements_md(&mut o, ag);
    not_compared_md(&mut o, ag);
    o
}

fn disagreements_md(o: &mut String, ag: &Agreement) {
    let _ = writeln!(o, "\n## Disagreeing turns ({})\n", ag.disagreements.len());
    if ag.disagreements.is_empty() {
        o.push_str("None: every compared turn agrees.\n");
        return;
    }
    let mut t = Table::new(
        o,
        Markup::Markdown,
        &[
            ("CAND target", false),
            ("suite", false),
            ("case", false),
            ("prompt", false),
            ("variant", false),
            ("repeat", true),
            ("turn", true),
            ("how", false),
            ("REF answer", false),
            ("CAND answer", false),
        ],
    );
    for d in ag.disagreements.iter().take(MD_ROWS) {
        t.row(&[
            d.target.clone(),
            d.suite.clone(),
            d.case.clone(),
            d.prompt.clone(),
            d.variant.clone(),
            d.repeat.to_string(),
            d.turn.to_string(),
            d.kind.label().to_string(),
            d.reference.clone(),
            d.candidate.clone(),
        ]);
    }
    t.end();
    if ag.disagreements.len() > MD_ROWS {
        let _ = writeln!(
            o,
            "\n{} more in {AGREE_JSON}.",
            ag.disagreements.len() - MD_ROWS
        );
    }
}

fn not_compared_md(o: &mut String, ag: &Agreement) {
    for (title, items) in [
        ("Only in REF", &ag.only_reference),
        ("Only in CAND", &ag.only_candidate),
        (
            "Changed input (another question; not compared)",
            &ag.changed_input,
        ),
    ] {
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(o, "\n## {title} ({})\n", items.len());
        for i in items.iter().take(MD_ROWS) {
            let _ = writeln!(o, "- {}", crate::text::md_cell(i));
        }
    }
    if ag.unpaired_turns > 0 || !ag.notes.is_empty() {
        o.push_str("\n## Notes\n\n");
    }
    if ag.unpaired_turns > 0 {
        let _ = writeln!(
            o,
            "- {} turn(s) recorded on one side only (not compared)",
            ag.unpaired_turns
        );
    }
    for n in &ag.notes {
        let _ = writeln!(o, "- {}", crate::text::md_cell(n));
    }
}

/// `agree.json`: the [`Agreement`] as is (every disagreement, every unpaired trial).
pub fn render_agree_json(ag: &Agreement) -> String {
    let mut s = serde_json::to_string_pretty(ag).expect("agreement serialises");
    s.push('\n');
    s
}

/// Writes `agree.md` and `agree.json` into `dir` (the candidate run folder), each to a
/// temporary file then renamed. Returns their paths.
pub fn write_agree_views(ag: &Agreement, dir: &Path) -> io::Result<[PathBuf; 2]> {
    let mut out = Vec::new();
    for (name, text) in [
        (AGREE_MD, render_agree_markdown(ag)),
        (AGREE_JSON, render_agree_json(ag)),
    ] {
        let path = dir.join(name);
        toolgate_core::runfolder::write_atomic(&path, text.as_bytes())?;
        out.push(path);
    }
    Ok([out.remove(0), out.remove(0)])
}
