//! `compare.md` and `compare.html`, written beside the candidate run by `toolgate compare`
//! and `toolgate gate`: the cases that changed, regressions first, then improvements, then
//! flaky cases (the case-level classes of [`crate::cases`]), each with both runs' answers
//! side by side and both diagnoses. This module collects them; `compare_md` and
//! `compare_html` write them.

use crate::asked::{Asked, RequestIndex};
use crate::cases::{CaseDelta, CaseStatus};
use crate::compare::{case_trials, CompareOptions, Comparison};
use crate::run::{RawReader, RunData};
use crate::summary::Trials;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use toolgate_core::record::{GradeRecord, ResponseRecord};

pub const COMPARE_HTML: &str = "compare.html";
pub const COMPARE_MD: &str = "compare.md";

/// Cases listed per section, and trials shown per case and side: past these the views
/// say how many were left out (`toolgate compare` and the gate report count every one).
pub(crate) const MAX_SECTION_CASES: usize = 500;
pub(crate) const MAX_SIDE_TRIALS: usize = 10;

pub(crate) struct Section<'a> {
    pub title: &'static str,
    pub status: CaseStatus,
    pub cases: Vec<Entry<'a>>,
    /// Cases of this class not listed.
    pub omitted: usize,
}

pub(crate) struct Entry<'a> {
    pub delta: &'a CaseDelta,
    /// Base, then candidate trials of the case, in key order.
    pub sides: [Vec<&'a GradeRecord>; 2],
}

/// The sections in reading order, each case's trials found by its pairing label.
pub(crate) fn sections<'a>(
    c: &'a Comparison,
    base: &'a RunData,
    cand: &'a RunData,
    opts: &CompareOptions,
) -> Vec<Section<'a>> {
    let mut trials = case_trials(base, cand, opts);
    let mut out = Vec::new();
    for (title, status) in [
        ("Regressions", CaseStatus::Regressed),
        ("Improvements", CaseStatus::Improved),
        ("Flaky cases", CaseStatus::Flaky),
    ] {
        let mut ds: Vec<&CaseDelta> = c.cases.iter().filter(|d| d.status == status).collect();
        // Stable regressions first; flaky cases that got worse first, by how much.
        ds.sort_by(|a, b| {
            b.stable
                .cmp(&a.stable)
                .then(
                    a.delta()
                        .unwrap_or(0.0)
                        .total_cmp(&b.delta().unwrap_or(0.0)),
                )
                .then(a.label.cmp(&b.label))
        });
        let omitted = ds.len().saturating_sub(MAX_SECTION_CASES);
        let cases = ds
            .into_iter()
            .take(MAX_SECTION_CASES)
            .map(|d| Entry {
                delta: d,
                sides: trials.remove(&d.label).unwrap_or_default(),
            })
            .collect();
        out.push(Section {
            title,
            status,
            cases,
            omitted,
        });
    }
    out
}

/// Reads back each side's whole records and what they asked.
pub(crate) struct Readers<'a> {
    trials: [Trials<'a>; 2],
    readers: [RawReader<'a>; 2],
    requests: [RequestIndex; 2],
}

/// One trial of a case as the views show it: its grade, index entry and whole record.
pub(crate) type ShownTrial<'a> = (
    &'a GradeRecord,
    Option<&'a crate::run::ResponseMeta>,
    Option<ResponseRecord>,
);

impl<'a> Readers<'a> {
    pub(crate) fn new(base: &'a RunData, cand: &'a RunData) -> Readers<'a> {
        Readers {
            trials: [Trials::new(base), Trials::new(cand)],
            readers: [base.raw_reader(), cand.raw_reader()],
            requests: [RequestIndex::open(base), RequestIndex::open(cand)],
        }
    }

    /// Both sides' shown trials of a case (at most [`MAX_SIDE_TRIALS`] each), and the
    /// question, from whichever side recorded its request (the candidate's first).
    pub(crate) fn entry(&mut self, e: &Entry<'a>) -> ([Vec<ShownTrial<'a>>; 2], Option<Rc<Asked>>) {
        let mut shown: [Vec<ShownTrial<'a>>; 2] = [vec![], vec![]];
        let mut asked = None;
        for side in [1, 0] {
            for g in e.sides[side].iter().take(MAX_SIDE_TRIALS) {
                let (meta, rec) = self.get(side, g);
                if asked.is_none() {
                    asked = rec
                        .as_ref()
                        .and_then(|r| self.requests[side].get(&r.request.body_sha256));
                }
                shown[side].push((*g, meta, rec));
            }
        }
        (shown, asked)
    }

    /// The record of a trial of `side` (0 base, 1 candidate), with its index entry.
    pub(crate) fn get(
        &mut self,
        side: usize,
        g: &GradeRecord,
    ) -> (Option<&'a crate::run::ResponseMeta>, Option<ResponseRecord>) {
        let meta = self.trials[side].response(&g.key);
        (meta, meta.and_then(|m| self.readers[side].get(m)))
    }
}

/// Writes `compare.md` and `compare.html` into `dir` (the candidate run folder): fixed
/// names, each written to a temporary file and renamed. Returns their paths.
pub fn write_compare_views(
    c: &Comparison,
    base: &RunData,
    cand: &RunData,
    opts: &CompareOptions,
    dir: &Path,
) -> io::Result<[PathBuf; 2]> {
    let md = super::compare_md::render_compare_md(c, base, cand, opts);
    let page = super::compare_html::render_compare_html(c, base, cand, opts);
    let mut out = Vec::new();
    for (name, text) in [(COMPARE_MD, md), (COMPARE_HTML, page)] {
        let path = dir.join(name);
        toolgate_core::runfolder::write_atomic(&path, text.as_bytes())?;
        out.push(path);
    }
    Ok([out.remove(0), out.remove(0)])
}
