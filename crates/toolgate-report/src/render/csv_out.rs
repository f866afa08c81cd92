//! `results.csv`: one row per graded trial, flat columns for spreadsheets and pandas.

use super::{prepared, RenderOptions};
use crate::run::RunData;
use crate::summary::{for_each_case_row, CaseRow};
use serde::Serialize;

#[derive(Serialize)]
struct Row<'a> {
    target: &'a str,
    suite: &'a str,
    case: &'a str,
    prompt: &'a str,
    variant: &'a str,
    repeat: u32,
    kind: &'a str,
    category: &'a str,
    verdict: &'a str,
    failure: &'a str,
    diagnosis: &'a str,
    expected_tools: &'a str,
    actual: &'a str,
    precision: Option<f64>,
    recall: Option<f64>,
    f1: Option<f64>,
    ttft_ms: Option<f64>,
    e2e_ms: Option<f64>,
    completion_tokens: Option<u64>,
}

/// The CSV bytes; with `opts.csv_bom` they start with a UTF-8 byte-order mark.
pub fn render_csv(run: &RunData, opts: &RenderOptions) -> Vec<u8> {
    csv_prepared(&prepared(run, opts), opts)
}

/// Every graded trial, not only the rows a summary lists.
pub(crate) fn csv_prepared(run: &RunData, opts: &RenderOptions) -> Vec<u8> {
    let mut buf = Vec::new();
    if opts.csv_bom {
        buf.extend_from_slice("\u{FEFF}".as_bytes());
    }
    let mut w = csv::Writer::from_writer(buf);
    let mut rows = 0usize;
    for_each_case_row(run, |c: CaseRow| {
        rows += 1;
        let k = &c.key;
        // Writing to a Vec cannot fail; a serialisation error would be a bug in Row.
        w.serialize(Row {
            target: &k.target,
            suite: &k.suite,
            case: &k.case,
            prompt: &k.prompt,
            variant: &k.variant,
            repeat: k.repeat,
            kind: &c.kind,
            category: c.category.as_deref().unwrap_or(""),
            verdict: c.verdict.as_str(),
            failure: c.failure.as_deref().unwrap_or(""),
            diagnosis: &c.diagnosis,
            expected_tools: &c.expected,
            actual: &c.actual,
            precision: c.precision,
            recall: c.recall,
            f1: c.f1,
            ttft_ms: c.ttft_ms,
            e2e_ms: c.e2e_ms,
            completion_tokens: c.completion_tokens,
        })
        .expect("csv row serialises");
    });
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
        .expect("csv header");
    }
    w.into_inner().expect("flush to Vec")
}
