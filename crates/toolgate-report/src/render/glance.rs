//! The picture `report.html` opens with: accuracy per target × suite (× prompt when a
//! suite ran several) with each variant's bar beside the others and its 95% Wilson
//! interval as a whisker, then the most frequent failure kinds as bars with counts. Inline
//! SVG, deterministic text (it snapshot-tests like the rest of the page).

use crate::summary::{GroupSummary, Summary};
use crate::text::html;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Clusters drawn before the chart keeps only the weakest (a BFCL import has a suite per
/// entry; the Results table lists every group).
const MAX_CLUSTERS: usize = 40;
/// Failure kinds drawn.
const MAX_KINDS: usize = 10;
/// One colour per variant, in the order variants first appear.
const PALETTE: [&str; 6] = [
    "#0969da", "#bf8700", "#8250df", "#1a7f37", "#cf222e", "#57606a",
];

const LABEL_W: f64 = 260.0;
const PLOT_W: f64 = 420.0;
const BAR_H: f64 = 14.0;
const GAP: f64 = 10.0;

pub(crate) fn glance(o: &mut String, s: &Summary) {
    if s.groups.is_empty() && s.failure_kinds.is_empty() && s.error_kinds.is_empty() {
        return;
    }
    o.push_str("<h2>At a glance</h2>\n<div class=\"glance\">\n");
    accuracy_chart(o, s);
    kinds_chart(o, s);
    o.push_str("</div>\n");
}

fn accuracy_chart(o: &mut String, s: &Summary) {
    let variants = variants_in_order(s);
    let (clusters, total) = clusters_weakest_first(s);
    if clusters.is_empty() {
        return;
    }
    let rows: usize = clusters.iter().map(|(_, v)| v.len()).sum();
    let top = 40.0;
    let height = top + rows as f64 * BAR_H + clusters.len() as f64 * GAP + 24.0;
    let width = LABEL_W + PLOT_W + 140.0;
    let title = if total > MAX_CLUSTERS {
        format!("Accuracy (95% CI): the {MAX_CLUSTERS} weakest of {total} groups")
    } else {
        "Accuracy (95% CI)".to_string()
    };
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-label=\"{}\">",
        html(&title)
    );
    let _ = writeln!(
        o,
        "<text x=\"0\" y=\"14\" font-weight=\"bold\">{}</text>",
        html(&title)
    );
    legend_and_grid(o, &variants, top, height);
    let mut y = top;
    for (label, groups) in &clusters {
        let cluster_h = groups.len() as f64 * BAR_H;
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LABEL_W - 8.0,
            y + cluster_h / 2.0 + 4.0,
            html(label)
        );
        for g in groups {
            let vi = variants.iter().position(|v| *v == g.variant).unwrap_or(0);
            let color = PALETTE[vi % PALETTE.len()];
            accuracy_bar(o, label, g, color, y);
            y += BAR_H;
        }
        y += GAP;
    }
    o.push_str("</svg>\n");
}

/// The variants in the order the groups first name them; each gets its palette colour.
fn variants_in_order(s: &Summary) -> Vec<&str> {
    let mut variants: Vec<&str> = Vec::new();
    for g in &s.groups {
        if !variants.contains(&g.variant.as_str()) {
            variants.push(&g.variant);
        }
    }
    variants
}

/// Groups with judged trials clustered per suite × target (× prompt), and how many clusters
/// there were: past [`MAX_CLUSTERS`], only the weakest are kept.
fn clusters_weakest_first(s: &Summary) -> (Vec<(String, Vec<&GroupSummary>)>, usize) {
    // Prompt in the label only where one target × suite ran several.
    let mut prompts: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for g in &s.groups {
        let p = prompts.entry((&g.target, &g.suite)).or_default();
        if !p.contains(&g.prompt.as_str()) {
            p.push(&g.prompt);
        }
    }
    let mut clusters: Vec<(String, Vec<&GroupSummary>)> = Vec::new();
    for g in s.groups.iter().filter(|g| g.counts.judged > 0) {
        let mut label = format!("{} · {}", g.suite, g.target);
        if prompts[&(g.target.as_str(), g.suite.as_str())].len() > 1 {
            let _ = write!(label, " · {}", g.prompt);
        }
        match clusters.iter_mut().find(|(l, _)| *l == label) {
            Some((_, v)) => v.push(g),
            None => clusters.push((label, vec![g])),
        }
    }
    let total = clusters.len();
    if total > MAX_CLUSTERS {
        // The weakest first: the chart is for finding them.
        let worst = |v: &[&GroupSummary]| {
            v.iter()
                .filter_map(|g| g.counts.accuracy.value)
                .fold(1.0f64, f64::min)
        };
        clusters.sort_by(|a, b| worst(&a.1).total_cmp(&worst(&b.1)).then(a.0.cmp(&b.0)));
        clusters.truncate(MAX_CLUSTERS);
    }
    (clusters, total)
}

/// The legend (one swatch per variant) and the 0–100% grid lines.
fn legend_and_grid(o: &mut String, variants: &[&str], top: f64, height: f64) {
    // Legend: one swatch per variant.
    let mut lx = LABEL_W;
    for (i, v) in variants.iter().enumerate() {
        let _ = writeln!(
            o,
            "<rect x=\"{lx:.1}\" y=\"20\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"29\">{}</text>",
            PALETTE[i % PALETTE.len()],
            lx + 14.0,
            html(v)
        );
        lx += 24.0 + 7.0 * v.chars().count() as f64;
    }
    let plot_bottom = height - 20.0;
    for pct in [0, 25, 50, 75, 100] {
        let x = LABEL_W + PLOT_W * pct as f64 / 100.0;
        let _ = writeln!(
            o,
            "<line x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{plot_bottom:.1}\" stroke=\"#d0d7de\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{pct}%</text>",
            plot_bottom + 14.0
        );
    }
}

/// One group's bar at `y`: accuracy, its 95% interval as whiskers, and the count.
fn accuracy_bar(o: &mut String, label: &str, g: &GroupSummary, color: &str, y: f64) {
    let a = &g.counts.accuracy;
    let v = a.value.unwrap_or(0.0);
    let (lo, hi) = (a.ci_low.unwrap_or(v), a.ci_high.unwrap_or(v));
    let w = PLOT_W * v;
    let mid = y + BAR_H / 2.0;
    let _ = writeln!(
        o,
        "<rect x=\"{LABEL_W:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{} · {}: {}/{} passed, {:.1}% [{:.1}–{:.1}]</title></rect><line x1=\"{:.1}\" y1=\"{mid:.1}\" x2=\"{:.1}\" y2=\"{mid:.1}\" stroke=\"#1b1f24\"/><line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#1b1f24\"/><line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#1b1f24\"/><text x=\"{:.1}\" y=\"{:.1}\">{:.0}% {}/{}</text>",
        y + 1.0,
        BAR_H - 2.0,
        html(label),
        html(&g.variant),
        a.successes,
        a.n,
        v * 100.0,
        lo * 100.0,
        hi * 100.0,
        LABEL_W + PLOT_W * lo,
        LABEL_W + PLOT_W * hi,
        LABEL_W + PLOT_W * lo,
        mid - 4.0,
        LABEL_W + PLOT_W * lo,
        mid + 4.0,
        LABEL_W + PLOT_W * hi,
        mid - 4.0,
        LABEL_W + PLOT_W * hi,
        mid + 4.0,
        LABEL_W + PLOT_W + 8.0,
        mid + 4.0,
        v * 100.0,
        a.successes,
        a.n
    );
}

fn kinds_chart(o: &mut String, s: &Summary) {
    let mut items: Vec<(String, u64, &str)> = s
        .failure_kinds
        .iter()
        .map(|k| (k.kind.clone(), k.count, "#cf222e"))
        .chain(
            s.error_kinds
                .iter()
                .map(|k| (format!("error: {}", k.kind), k.count, "#9a6700")),
        )
        .collect();
    if items.is_empty() {
        o.push_str("<p>No failures and no infra errors.</p>\n");
        return;
    }
    items.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let more = items.len().saturating_sub(MAX_KINDS);
    items.truncate(MAX_KINDS);
    let max = items.iter().map(|i| i.1).max().unwrap_or(1).max(1) as f64;
    let row = 20.0;
    let top = 24.0;
    let height = top + row * items.len() as f64 + if more > 0 { 20.0 } else { 6.0 };
    let plot = 300.0;
    let label_w = 200.0;
    let width = label_w + plot + 60.0;
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-label=\"Failure kinds\">\n<text x=\"0\" y=\"14\" font-weight=\"bold\">Failure kinds (trials)</text>"
    );
    for (i, (kind, n, color)) in items.iter().enumerate() {
        let y = top + row * i as f64;
        let w = plot * *n as f64 / max;
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><rect x=\"{label_w:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"14\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\">{n}</text>",
            label_w - 6.0,
            y + 12.0,
            html(kind),
            y + 1.0,
            label_w + w + 4.0,
            y + 12.0
        );
    }
    if more > 0 {
        let _ = writeln!(
            o,
            "<text x=\"0\" y=\"{:.1}\">… {more} more kinds in the Failures table</text>",
            height - 6.0
        );
    }
    o.push_str("</svg>\n");
}
