//! `results.csv`: one row per graded trial, flat columns for spreadsheets and pandas.

use super::{prepared, RenderOptions};
use crate::run::RunData;
use crate::summary::{RowView, Trials};
use serde::Serialize;
use std::io;

#[derive(Serialize)]
struct Row<'a> {
    target: Cell<'a>,
    suite: Cell<'a>,
    case: Cell<'a>,
    prompt: Cell<'a>,
    variant: Cell<'a>,
    repeat: u32,
    kind: Cell<'a>,
    category: Cell<'a>,
    verdict: &'a str,
    failure: &'a str,
    diagnosis: Cell<'a>,
    expected_tools: Cell<'a>,
    actual: Cell<'a>,
    precision: Option<f64>,
    recall: Option<f64>,
    f1: Option<f64>,
    ttft_ms: Option<f64>,
    e2e_ms: Option<f64>,
    completion_tokens: Option<u64>,
}

type Cell<'a> = std::borrow::Cow<'a, str>;

/// A text cell a spreadsheet will not run as a formula (OWASP "CSV injection"): a cell
/// starting with `=`, `+`, `-`, `@`, tab or CR gets a leading `'`. Model output (a tool
/// named `=cmd|' /C calc'!A0`) reaches these cells. Number columns are not text cells.
pub(crate) fn cell(s: &str) -> Cell<'_> {
    match s.as_bytes().first() {
        // A lone `-` is the "none" placeholder, not a formula.
        _ if s == "-" => Cell::Borrowed(s),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => Cell::Owned(format!("'{s}")),
        _ => Cell::Borrowed(s),
    }
}

/// The CSV bytes; with `opts.csv_bom` they start with a UTF-8 byte-order mark.
pub fn render_csv(run: &RunData, opts: &RenderOptions) -> Vec<u8> {
    let run = prepared(run, opts);
    let mut buf = Vec::new();
    write_csv(&Trials::new(&run), opts, &mut buf).expect("writing to a Vec cannot fail");
    buf
}

/// Every graded trial, not only the rows a summary lists, streamed to `out` row by row.
pub(crate) fn write_csv(
    trials: &Trials<'_>,
    opts: &RenderOptions,
    mut out: impl io::Write,
) -> io::Result<()> {
    if opts.csv_bom {
        out.write_all("\u{FEFF}".as_bytes())?;
    }
    let mut w = csv::WriterBuilder::new()
        .buffer_capacity(1 << 16)
        .from_writer(out);
    let mut rows = 0usize;
    for (g, r) in trials.grades.iter().zip(&trials.responses) {
        rows += 1;
        let k = &g.key;
        let v = RowView::new(g, *r);
        w.serialize(Row {
            target: cell(&k.target),
            suite: cell(&k.suite),
            case: cell(&k.case),
            prompt: cell(&k.prompt),
            variant: cell(&k.variant),
            repeat: k.repeat,
            kind: cell(&g.kind),
            category: cell(g.category.as_deref().unwrap_or("")),
            verdict: g.verdict.as_str(),
            failure: v.failure.unwrap_or(""),
            diagnosis: cell(&g.diagnosis),
            expected_tools: cell(&v.expected),
            actual: cell(&v.actual),
            precision: g.scores.as_ref().map(|s| s.precision),
            recall: g.scores.as_ref().map(|s| s.recall),
            f1: g.scores.as_ref().map(|s| s.f1),
            ttft_ms: v.ttft_ms,
            e2e_ms: v.e2e_ms,
            completion_tokens: v.completion_tokens,
        })
        .map_err(csv_io)?;
    }
    if rows == 0 {
        // Still write the header so the file is a valid, empty table.
        w.write_record([
            "target",
            "suite",
            "case",
            "prompt",
            "variant",
            "repeat",
            "kind",
            "category",
            "verdict",
            "failure",
            "diagnosis",
            "expected_tools",
            "actual",
            "precision",
            "recall",
            "f1",
            "ttft_ms",
            "e2e_ms",
            "completion_tokens",
        ])
        .map_err(csv_io)?;
    }
    w.flush()?;
    Ok(())
}

fn csv_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    /// Issue 17: formula-looking text is neutralised, other text is untouched.
    #[test]
    fn formula_cells_get_a_leading_quote() {
        for f in ["=cmd|' /C calc'!A0", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(cell(f), format!("'{f}"));
        }
        for t in ["web_search", "", "a=b", "'quoted", "-"] {
            assert_eq!(cell(t), t);
        }
    }
}
