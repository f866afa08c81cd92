//! `history --html OUT`: one self-contained page (no script, no network): an inline-SVG trend
//! chart per suite (accuracy with its 95% band per target/model), TTFT p50 per target, and
//! the rows with relative links to each run's report.html.

use crate::query::Row;
use crate::render::{date, delta_cell, pct};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};
use toolgate_report::text::html;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}\
h1{font-size:20px}h2{font-size:16px;margin-top:28px}\
table{border-collapse:collapse;margin-top:8px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}.sig{color:#b00;font-weight:bold}\
.legend span{display:inline-block;margin-right:14px}.sw{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}\
svg{background:#fafafa;border:1px solid #ddd}.muted{color:#666}";

const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

const W: f64 = 760.0;
const H: f64 = 220.0;
const PAD_L: f64 = 48.0;
const PAD_R: f64 = 12.0;
const PAD_T: f64 = 10.0;
const PAD_B: f64 = 28.0;

/// A point of one series: x is the run's position in time order.
struct Pt {
    x: usize,
    y: f64,
    lo: f64,
    hi: f64,
}

/// The page for `rows`, to be written at `out` (links are relative to its folder).
pub fn render_html(rows: &[Row], out: &Path) -> String {
    let out_dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // x positions: one per distinct run folder, in time order.
    let mut xs: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.started_at.as_str(), r.path.as_str()))
        .collect();
    xs.dedup();
    let x_of = |r: &Row| {
        xs.iter()
            .position(|(s, p)| *s == r.started_at && *p == r.path)
            .unwrap_or(0)
    };
    let series_name = |r: &Row| {
        format!(
            "{} / {}",
            r.target.as_deref().unwrap_or("?"),
            r.model.as_deref().unwrap_or("?")
        )
    };
    let mut o = String::with_capacity(16 * 1024);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>toolgate history</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>toolgate history</h1>\n<p class=\"muted\">{} row(s), {} run folder(s); accuracy with its 95% Wilson interval, oldest run on the left.</p>\n",
        rows.len(),
        xs.len()
    );

    let mut suites: BTreeMap<&str, BTreeMap<String, Vec<Pt>>> = BTreeMap::new();
    for r in rows {
        for s in &r.per_suite {
            let (Some(v), Some(lo), Some(hi)) =
                (s.accuracy.value, s.accuracy.ci_low, s.accuracy.ci_high)
            else {
                continue;
            };
            suites
                .entry(s.suite.as_str())
                .or_default()
                .entry(series_name(r))
                .or_default()
                .push(Pt {
                    x: x_of(r),
                    y: v,
                    lo,
                    hi,
                });
        }
    }
    if suites.is_empty() {
        o.push_str("<p>No graded runs to chart.</p>\n");
    }
    for (suite, series) in &suites {
        let _ = writeln!(o, "<h2>Accuracy: {}</h2>", html(suite));
        chart(&mut o, series, xs.len(), 1.0, |v| pct(Some(v)), true);
    }

    let mut ttft: BTreeMap<String, Vec<Pt>> = BTreeMap::new();
    for r in rows {
        if let Some(v) = r.ttft_p50_ms {
            ttft.entry(r.target.clone().unwrap_or_default())
                .or_default()
                .push(Pt {
                    x: x_of(r),
                    y: v,
                    lo: v,
                    hi: v,
                });
        }
    }
    o.push_str("<h2>TTFT p50 per target (ms)</h2>\n");
    if ttft.is_empty() {
        o.push_str("<p>No TTFT measured.</p>\n");
    } else {
        let max = ttft
            .values()
            .flatten()
            .map(|p| p.y)
            .fold(0.0f64, f64::max)
            .max(1.0)
            * 1.1;
        chart(&mut o, &ttft, xs.len(), max, |v| format!("{v:.0}"), false);
    }

    o.push_str("<h2>Runs</h2>\n<table>\n<thead><tr><th>date</th><th>run</th><th>target</th><th>model</th><th>suites</th><th>accuracy</th><th>95% CI</th><th>errors</th><th>Δ</th><th>TTFT p50</th><th>status</th><th>report</th></tr></thead>\n<tbody>\n");
    for r in rows {
        let run = match &r.run_id {
            Some(id) if !r.duplicate_run_id => html(id),
            Some(id) => format!(
                "{} <span class=\"muted\">({})</span>",
                html(id),
                html(&r.path)
            ),
            None => format!("<span class=\"muted\">{}</span>", html(&r.path)),
        };
        let acc = crate::render::accuracy_cell(&r.accuracy);
        let ci = match (r.accuracy.ci_low, r.accuracy.ci_high) {
            (Some(lo), Some(hi)) => format!("{:.1}–{:.1}%", 100.0 * lo, 100.0 * hi),
            _ => "–".into(),
        };
        let sig = r.delta.as_ref().is_some_and(|d| d.significant);
        let delta = format!(
            "<td class=\"n{}\">{}</td>",
            if sig { " sig" } else { "" },
            html(&delta_cell(r))
        );
        let status = if r.complete {
            "complete".to_string()
        } else {
            format!("incomplete: {}", html(&r.reason))
        };
        let link = match &r.report_html {
            Some(p) => format!(
                "<a href=\"{}\">report.html</a>",
                html(&href(out_dir, Path::new(p)))
            ),
            None => "–".into(),
        };
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{run}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{acc}</td><td class=\"n\">{ci}</td><td class=\"n\">{}</td>{delta}<td class=\"n\">{}</td><td>{status}</td><td>{link}</td></tr>",
            html(&date(&r.started_at)),
            html(r.target.as_deref().unwrap_or("–")),
            html(r.model.as_deref().unwrap_or("–")),
            html(&r.suites.join(", ")),
            r.errors,
            r.ttft_p50_ms
                .map(|v| format!("{v:.1} ms"))
                .unwrap_or_else(|| "–".into()),
        );
    }
    o.push_str("</tbody>\n</table>\n<p class=\"muted\">Δ: accuracy change against the previous row of the same target; * = p &lt; 0.05 (exact paired test over cases).</p>\n</body>\n</html>\n");
    o
}

/// One line chart: per series a band (lo..hi) and a line with points; `y_max` tops the axis.
fn chart(
    o: &mut String,
    series: &BTreeMap<String, Vec<Pt>>,
    n_x: usize,
    y_max: f64,
    label: impl Fn(f64) -> String,
    band: bool,
) {
    let (pw, ph) = (W - PAD_L - PAD_R, H - PAD_T - PAD_B);
    let x = |i: usize| {
        if n_x <= 1 {
            PAD_L + pw / 2.0
        } else {
            PAD_L + pw * i as f64 / (n_x - 1) as f64
        }
    };
    let y = |v: f64| PAD_T + ph * (1.0 - (v / y_max).clamp(0.0, 1.0));
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\">"
    );
    for k in 0..=4 {
        let v = y_max * k as f64 / 4.0;
        let _ = writeln!(
            o,
            "<line x1=\"{PAD_L}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"#666\">{}</text>",
            W - PAD_R,
            y(v),
            y(v),
            PAD_L - 4.0,
            y(v) + 3.0,
            html(&label(v))
        );
    }
    let _ = writeln!(
        o,
        "<text x=\"{PAD_L}\" y=\"{:.1}\" font-size=\"10\" fill=\"#666\">oldest</text><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"#666\">newest</text>",
        H - 8.0,
        W - PAD_R,
        H - 8.0
    );
    for (i, (_, pts)) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        if band && !pts.is_empty() {
            let mut poly: Vec<String> = pts
                .iter()
                .map(|p| format!("{:.1},{:.1}", x(p.x), y(p.hi)))
                .collect();
            poly.extend(
                pts.iter()
                    .rev()
                    .map(|p| format!("{:.1},{:.1}", x(p.x), y(p.lo))),
            );
            let _ = writeln!(
                o,
                "<polygon points=\"{}\" fill=\"{c}\" fill-opacity=\"0.15\" stroke=\"none\"/>",
                poly.join(" ")
            );
        }
        let line: Vec<String> = pts
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.x), y(p.y)))
            .collect();
        let _ = writeln!(
            o,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"2\"/>",
            line.join(" ")
        );
        for p in pts {
            let _ = writeln!(
                o,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{c}\"><title>{}</title></circle>",
                x(p.x),
                y(p.y),
                html(&label(p.y))
            );
        }
    }
    o.push_str("</svg>\n<div class=\"legend\">");
    for (i, (name, _)) in series.iter().enumerate() {
        let _ = write!(
            o,
            "<span><span class=\"sw\" style=\"background:{}\"></span>{}</span>",
            COLORS[i % COLORS.len()],
            html(name)
        );
    }
    o.push_str("</div>\n");
}

fn absolute(p: &Path) -> PathBuf {
    p.canonicalize()
        .or_else(|_| std::path::absolute(p))
        .unwrap_or_else(|_| p.to_path_buf())
}

/// A relative, percent-encoded link from folder `from` to file `to`.
pub fn href(from: &Path, to: &Path) -> String {
    let (f, t) = (absolute(from), absolute(to));
    let fc: Vec<Component> = f.components().collect();
    let tc: Vec<Component> = t.components().collect();
    let common = fc.iter().zip(&tc).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); fc.len() - common];
    parts.extend(
        tc[common..]
            .iter()
            .map(|c| encode(&c.as_os_str().to_string_lossy())),
    );
    parts.join("/")
}

/// Percent-encodes a path segment (everything but unreserved characters).
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_and_encoded() {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("runs/a b#1");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("report.html"), "x").unwrap();
        let out = d.path().join("site");
        std::fs::create_dir_all(&out).unwrap();
        assert_eq!(
            href(&out, &run.join("report.html")),
            "../runs/a%20b%231/report.html"
        );
    }
}
