//! The "When to call" section of report.md and report.html: one row of rates per target ×
//! suite × prompt × variant, then each group's expected × actual decision matrix.

use crate::decisions::Decisions;
use crate::stats::Proportion;
use crate::summary::{GroupSummary, Summary};
use crate::text::{escape, pct_ci, ratio, Markup, Table};
use std::fmt::Write as _;

/// `k/n (p%, 95% CI a–b%)`, or `–` when nothing was counted.
pub(crate) fn rate(p: &Proportion) -> String {
    if p.n == 0 {
        "–".to_string()
    } else {
        format!("{} · {}", ratio(p), pct_ci(p))
    }
}

fn groups(s: &Summary) -> impl Iterator<Item = (&GroupSummary, &Decisions)> {
    s.groups
        .iter()
        .filter_map(|g| g.decisions.as_ref().map(|d| (g, d)))
}

pub(crate) fn section(o: &mut String, s: &Summary, m: Markup) {
    if groups(s).next().is_none() {
        return;
    }
    match m {
        Markup::Markdown => o.push_str("\n## When to call\n\n"),
        Markup::Html => o.push_str("<h2>When to call</h2>\n"),
    }
    let note = "Each answer is classed call, answer, ask (a question to the user) or refuse; \
                tool hallucination = calls where the case expects none, or where no tools were offered.";
    match m {
        Markup::Markdown => {
            let _ = writeln!(o, "{note}\n");
        }
        Markup::Html => {
            let _ = writeln!(o, "<p class=\"note\">{}</p>", escape(m, note));
        }
    }
    let cols = [
        ("target", false),
        ("suite", false),
        ("prompt", false),
        ("variant", false),
        ("classified", true),
        ("macro-F1", true),
        ("tool hallucination", false),
        ("over-call", false),
        ("under-call", false),
    ];
    let mut t = Table::new(o, m, &cols);
    for (g, d) in groups(s) {
        t.row(&[
            g.target.clone(),
            g.suite.clone(),
            g.prompt.clone(),
            g.variant.clone(),
            d.classified.to_string(),
            d.macro_f1.map_or("–".to_string(), |f| format!("{f:.2}")),
            rate(&d.tool_hallucination),
            rate(&d.over_call),
            rate(&d.under_call),
        ]);
    }
    t.end();
    for (g, d) in groups(s) {
        matrix(o, g, d, m);
    }
}

fn matrix(o: &mut String, g: &GroupSummary, d: &Decisions, m: Markup) {
    if d.classified == 0 && d.hallucinated.is_empty() {
        return;
    }
    let title = format!(
        "Decisions — {} · {} · {} · {}",
        g.target, g.suite, g.prompt, g.variant
    );
    match m {
        Markup::Markdown => {
            let _ = writeln!(
                o,
                "\n**{}** (rows: expected, columns: what the model did)\n",
                escape(m, &title)
            );
        }
        Markup::Html => {
            let _ = writeln!(
                o,
                "<h3>{}</h3>\n<p class=\"note\">rows: expected, columns: what the model did</p>",
                escape(m, &title)
            );
        }
    }
    let mut cols: Vec<(&str, bool)> = vec![("expected \\ actual", false)];
    cols.extend(d.classes.iter().map(|c| (*c, true)));
    cols.push(("F1", true));
    let mut t = Table::new(o, m, &cols);
    for (i, class) in d.classes.iter().enumerate() {
        let n: u64 = d.matrix[i].iter().sum();
        if n == 0 && d.f1[i].is_none() {
            continue;
        }
        let mut cells = vec![class.to_string()];
        cells.extend(
            d.matrix[i]
                .iter()
                .enumerate()
                .map(|(j, n)| match (*n, i == j) {
                    (0, _) => "·".to_string(),
                    (n, true) if m == Markup::Markdown => format!("**{n}**"),
                    (n, _) => n.to_string(),
                }),
        );
        cells.push(d.f1[i].map_or("–".to_string(), |f| format!("{f:.2}")));
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        // Cells are counts and class names (no model text): bold stays bold.
        t.row_with(&cells, |_, v| v.to_string());
    }
    t.end();
    if d.unclassified > 0 {
        let line = format!(
            "{} trial(s) expected a decision but gave no answer to class (empty output).",
            d.unclassified
        );
        para(o, m, &line);
    }
    if !d.hallucinated.is_empty() {
        let line = format!("Hallucinated calls: {}.", d.hallucinated.join(", "));
        para(o, m, &line);
    }
}

fn para(o: &mut String, m: Markup, text: &str) {
    match m {
        Markup::Markdown => {
            let _ = writeln!(o, "\n{}", escape(m, text));
        }
        Markup::Html => {
            let _ = writeln!(o, "<p>{}</p>", escape(m, text));
        }
    }
}
