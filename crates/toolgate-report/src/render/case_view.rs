//! `report.html`'s failures-first case view: one row per case (target × suite × case ×
//! prompt, variants and repeats pooled) with its pass counts per variant and its failure
//! kinds, most failing trials first, then the cases that passed. Each row is a
//! `<details>` (works without script); open, it shows what was asked and every trial in
//! detail ([`super::trial_html`]).

use super::trial_html::{asked_html, trial_body, verdict_class, Budget, RAW_BUDGET};
use crate::asked::{Asked, RequestIndex};
use crate::run::RunData;
use crate::summary::{CaseRow, Summary, Trials};
use crate::text::html;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::rc::Rc;
use toolgate_core::record::{GradeRecord, Verdict};

/// The id of the first failing case's row; `report.html#first-failure` opens it.
pub(crate) const FIRST_FAILURE: &str = "first-failure";

/// Passing trials of a case shown in full; the others get one line each.
const PASSES_IN_FULL: usize = 3;

#[derive(Default)]
struct Case<'a> {
    rows: Vec<&'a CaseRow>,
    variants: BTreeMap<&'a str, (usize, usize)>,
    kinds: BTreeMap<String, usize>,
    not_passed: usize,
}

pub(crate) fn case_view(o: &mut String, s: &Summary, run: &RunData, trials: &Trials<'_>) {
    if s.cases.is_empty() {
        return;
    }
    let order = cases_failures_first(s);
    let failing = order.iter().filter(|c| c.1.not_passed > 0).count();
    let _ = writeln!(
        o,
        "<section id=\"case-view\">\n<h2>Cases, failures first</h2>\n<p>{} cases ({} with a failing or errored trial): one row per target × suite × case × prompt, variants and repeats pooled. Open a case for what was asked and each trial's answer.</p>",
        order.len(),
        failing
    );
    // Grades by key, for the findings each trial shows.
    let grade = |k: &toolgate_core::record::TrialKey| -> Option<&GradeRecord> {
        let i = trials.grades.partition_point(|g| g.key < *k);
        trials.grades.get(i).copied().filter(|g| g.key == *k)
    };
    let mut reader = run.raw_reader();
    let mut requests = RequestIndex::open(run);
    let mut budget = Budget::new(RAW_BUDGET);
    let mut first = true;
    for ((target, suite, case, prompt), c) in &order {
        case_summary(o, (target, suite, case, prompt), c, &mut first);
        let mut shown: Option<Rc<Asked>> = None;
        let mut header_done = false;
        // Failing trials first inside the case too.
        let mut rows = c.rows.clone();
        rows.sort_by_key(|r| r.verdict == Verdict::Pass);
        let mut passes_shown = 0;
        for r in rows {
            // Passing trials past the first few get one line: they are not what a reader
            // opens a case for, and reading each one back would cost a disk read and a parse
            // per listed trial (the page lists up to 5,000).
            if r.verdict == Verdict::Pass {
                passes_shown += 1;
                if passes_shown > PASSES_IN_FULL {
                    let _ = writeln!(
                        o,
                        "<div class=\"trial t-pass\"><h4><span class=\"pass\">pass</span> {} #{}</h4></div>",
                        html(&r.key.variant),
                        r.key.repeat
                    );
                    continue;
                }
            }
            let meta = trials.response(&r.key);
            let rec = meta.and_then(|m| reader.get(m));
            let asked = rec
                .as_ref()
                .and_then(|x| requests.get(&x.request.body_sha256));
            if !header_done {
                o.push_str("<h4>Asked</h4>\n");
                asked_html(o, asked.as_deref());
                shown = asked.clone();
                header_done = true;
            }
            let k = &r.key;
            let _ = writeln!(
                o,
                "<div class=\"trial t-{cls}\"><h4><span class=\"{cls}\">{cls}</span> {} #{}{}</h4>",
                html(&k.variant),
                k.repeat,
                r.failure
                    .as_deref()
                    .map(|f| format!(" — {}", html(f)))
                    .unwrap_or_default(),
                cls = verdict_class(r.verdict)
            );
            if asked.as_deref() != shown.as_deref() {
                o.push_str("<p class=\"muted\">this trial's request differs:</p>");
                asked_html(o, asked.as_deref());
            }
            match grade(k) {
                Some(g) => trial_body(o, g, rec.as_ref(), meta, asked.as_deref(), &mut budget),
                None => o.push_str("<p class=\"muted\">not graded</p>"),
            }
            o.push_str("</div>\n");
        }
        o.push_str("</div></details>\n");
    }
    o.push_str("</section>\n");
}

type CaseKey<'a> = (&'a str, &'a str, &'a str, &'a str);

/// The summary's rows pooled per target × suite × case × prompt, most failing trials first.
fn cases_failures_first(s: &Summary) -> Vec<(CaseKey<'_>, Case<'_>)> {
    let mut cases: BTreeMap<CaseKey<'_>, Case<'_>> = BTreeMap::new();
    for c in &s.cases {
        let k = &c.key;
        let e = cases
            .entry((&k.target, &k.suite, &k.case, &k.prompt))
            .or_default();
        e.rows.push(c);
        let v = e.variants.entry(&k.variant).or_default();
        v.1 += 1;
        if c.verdict == Verdict::Pass {
            v.0 += 1;
            continue;
        }
        e.not_passed += 1;
        let kind = match (c.verdict, c.failure.as_deref()) {
            (Verdict::Error, Some(k)) => format!("error: {k}"),
            (_, Some(k)) => k.to_string(),
            (_, None) => c.verdict.to_string(),
        };
        *e.kinds.entry(kind).or_default() += 1;
    }
    let mut order: Vec<_> = cases.into_iter().collect();
    // Stable: equal counts keep key order.
    order.sort_by_key(|c| std::cmp::Reverse(c.1.not_passed));
    order
}

/// A case's `<details>` and its one-line summary: pass counts per variant and failure kinds.
/// The first failing case gets the [`FIRST_FAILURE`] id.
fn case_summary(
    o: &mut String,
    (target, suite, case, prompt): CaseKey<'_>,
    c: &Case<'_>,
    first: &mut bool,
) {
    let passed = c.rows.len() - c.not_passed;
    let (class, badge) = if c.not_passed > 0 {
        (
            "fail",
            format!("{}/{} not passed", c.not_passed, c.rows.len()),
        )
    } else {
        ("pass", format!("{passed}/{} passed", c.rows.len()))
    };
    let id = if c.not_passed > 0 && std::mem::take(first) {
        format!(" id=\"{FIRST_FAILURE}\"")
    } else {
        String::new()
    };
    let variants: Vec<String> = c
        .variants
        .iter()
        .map(|(v, (p, t))| format!("{} {p}/{t}", html(v)))
        .collect();
    let mut kinds: Vec<(&String, &usize)> = c.kinds.iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let kinds: Vec<String> = kinds
        .iter()
        .map(|(k, n)| format!("{} ×{n}", html(k)))
        .collect();
    let _ = writeln!(
        o,
        "<details class=\"case\"{id}><summary><span class=\"badge {class}\">{badge}</span> <strong>{}/{}</strong> <span class=\"muted\">{} · {}</span> — {}{}</summary>\n<div class=\"case-body\">",
        html(suite),
        html(case),
        html(target),
        html(prompt),
        variants.join(" · "),
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" — <span class=\"fail\">{}</span>", kinds.join(", "))
        }
    );
}
