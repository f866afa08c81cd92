//! History rows as a terminal table, JSON and CSV. Every string from a run folder is escaped
//! for where it goes and bounded in length.

use crate::query::{Row, ALPHA};
use std::fmt::Write as _;

/// Longest string a table cell shows from a run folder.
const MAX_CELL: usize = 60;

/// `s` safe for a terminal: control characters (ESC, C1, newlines) and bidi overrides are
/// escaped, and the result is cut at [`MAX_CELL`] characters.
pub fn term(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(MAX_CELL * 2));
    for (n, c) in s.chars().enumerate() {
        if n == MAX_CELL {
            out.push('…');
            break;
        }
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
        if c.is_control() || bidi {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

pub fn date(s: &str) -> String {
    // RFC 3339 → "YYYY-MM-DD HH:MM" (UTC, as written by the runner).
    match (s.get(..10), s.get(11..16)) {
        (Some(d), Some(t)) => format!("{d} {t}"),
        _ if s.is_empty() => "?".into(),
        _ => term(s),
    }
}

pub fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{:.1}%", 100.0 * v))
        .unwrap_or_else(|| "–".into())
}

/// `95.2% (60/63)`, or `–` for nothing judged: the accuracy cell of every history format.
pub(crate) fn accuracy_cell(p: &toolgate_report::stats::Proportion) -> String {
    if p.n == 0 {
        "–".into()
    } else {
        format!("{} ({}/{})", pct(p.value), p.successes, p.n)
    }
}

fn run_cell(r: &Row) -> String {
    let id = r.run_id.as_deref().map(term).unwrap_or_else(|| "?".into());
    if r.duplicate_run_id || r.run_id.is_none() {
        format!("{id} ({})", term(&r.path))
    } else {
        id
    }
}

pub fn delta_cell(r: &Row) -> String {
    match &r.delta {
        Some(d) => match d.delta {
            Some(v) => format!(
                "{:+.1} pp{}",
                100.0 * v,
                if d.significant { " *" } else { "" }
            ),
            None => "–".into(),
        },
        None => String::new(),
    }
}

fn status_cell(r: &Row) -> String {
    if r.complete {
        "complete".into()
    } else {
        format!("incomplete: {}", term(&r.reason))
    }
}

/// The terminal table.
pub fn render_text(rows: &[Row]) -> String {
    if rows.is_empty() {
        return "no runs found (looked under the roots given; `toolgate run` writes runs/)\n"
            .into();
    }
    let header = [
        "date", "run", "target", "model", "suites", "accuracy", "95% CI", "errors", "Δ", "status",
    ];
    let right = [
        false, false, false, false, false, true, true, true, true, false,
    ];
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            [
                date(&r.started_at),
                run_cell(r),
                r.target.as_deref().map(term).unwrap_or_else(|| "–".into()),
                r.model.as_deref().map(term).unwrap_or_else(|| "–".into()),
                term(&r.suites.join(",")),
                accuracy_cell(&r.accuracy),
                match (r.accuracy.ci_low, r.accuracy.ci_high) {
                    (Some(lo), Some(hi)) => format!("{:.1}–{:.1}%", 100.0 * lo, 100.0 * hi),
                    _ => "–".into(),
                },
                if r.target.is_none() && r.accuracy.n == 0 {
                    "–".into()
                } else {
                    r.errors.to_string()
                },
                delta_cell(r),
                status_cell(r),
            ]
        })
        .collect();
    let width = |i: usize| {
        cells
            .iter()
            .map(|c| c[i].chars().count())
            .chain([header[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let mut out = String::new();
    let line = |out: &mut String, c: &[&str]| {
        let mut l = String::new();
        for (i, s) in c.iter().enumerate() {
            let pad = widths[i].saturating_sub(s.chars().count());
            if i > 0 {
                l.push_str("  ");
            }
            if right[i] {
                l.push_str(&" ".repeat(pad));
                l.push_str(s);
            } else {
                l.push_str(s);
                if i + 1 < c.len() {
                    l.push_str(&" ".repeat(pad));
                }
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut out, &header);
    for c in &cells {
        let refs: Vec<&str> = c.iter().map(String::as_str).collect();
        line(&mut out, &refs);
    }
    let _ = writeln!(
        out,
        "\nΔ: accuracy change against the previous row of the same target; * = p < {ALPHA} (exact paired test over cases; with one repeat, exact McNemar, as in `compare`)"
    );
    out
}

/// `--json`: the rows as an array (strings are JSON-escaped by serde).
pub fn render_json(rows: &[Row]) -> String {
    let mut s = serde_json::to_string_pretty(rows).unwrap_or_else(|_| "[]".into());
    s.push('\n');
    s
}

/// A CSV cell that a spreadsheet will not run as a formula.
fn csv_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// `--csv`: one line per row, fixed columns.
pub fn render_csv(rows: &[Row]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "started_at",
        "run_id",
        "path",
        "target",
        "model",
        "suites",
        "passed",
        "judged",
        "accuracy",
        "ci_low",
        "ci_high",
        "errors",
        "ttft_p50_ms",
        "delta",
        "delta_p_value",
        "delta_significant",
        "complete",
        "reason",
    ]);
    let f = |v: Option<f64>| v.map(|v| format!("{v:.6}")).unwrap_or_default();
    for r in rows {
        let _ = w.write_record([
            csv_cell(&r.started_at),
            csv_cell(r.run_id.as_deref().unwrap_or("")),
            csv_cell(&r.path),
            csv_cell(r.target.as_deref().unwrap_or("")),
            csv_cell(r.model.as_deref().unwrap_or("")),
            csv_cell(&r.suites.join(";")),
            r.accuracy.successes.to_string(),
            r.accuracy.n.to_string(),
            f(r.accuracy.value),
            f(r.accuracy.ci_low),
            f(r.accuracy.ci_high),
            r.errors.to_string(),
            r.ttft_p50_ms.map(|v| format!("{v:.1}")).unwrap_or_default(),
            f(r.delta.as_ref().and_then(|d| d.delta)),
            r.delta
                .as_ref()
                .map(|d| format!("{:.6}", d.p_value))
                .unwrap_or_default(),
            r.delta
                .as_ref()
                .map(|d| d.significant.to_string())
                .unwrap_or_default(),
            r.complete.to_string(),
            csv_cell(&r.reason),
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_cells_escape_controls_and_bidi_and_are_bounded() {
        assert_eq!(term("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\n");
        assert_eq!(term("x\u{202e}y"), "x\\u{202e}y");
        let long = term(&"é".repeat(500));
        assert_eq!(long.chars().count(), MAX_CELL + 1);
    }

    #[test]
    fn csv_cells_do_not_start_formulas() {
        assert_eq!(csv_cell("=cmd()"), "'=cmd()");
        assert_eq!(csv_cell("run-1"), "run-1");
    }
}
