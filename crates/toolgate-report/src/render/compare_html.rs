//! `compare.html`: the cases that changed between two runs, regressions first, then
//! improvements, then flaky cases. Each case is a `<details>` (regressions open when there
//! are few) with what was asked and one row per repeat: the base trial's answer beside the
//! candidate's, each with its diagnosis and the arguments its findings point at marked.
//! Self-contained like `report.html`; model text escaped and bounded by one page budget.

use super::compare_view::{sections, Readers, MAX_SIDE_TRIALS};
use super::trial_html::{
    asked_html, trial_answer, verdict_class, Budget, RAW_BUDGET, REVEAL_SCRIPT, TRIAL_STYLE,
};
use crate::cases::CaseStatus;
use crate::compare::{CompareOptions, Comparison};
use crate::run::RunData;
use crate::text::html;
use std::fmt::Write;

/// Regressions are shown open when there are at most this many.
const OPEN_REGRESSIONS: usize = 20;

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans","Noto Sans Kannada",sans-serif;margin:1.5rem;color:#1b1f24;line-height:1.4}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
.pass{color:#1a7f37}.fail{color:#cf222e}.error{color:#9a6700}
.muted{color:#57606a}.more{color:#57606a;font-style:italic}
pre{white-space:pre-wrap;max-width:40rem;font-size:.8rem;margin:.1rem 0 .4rem 0}
details.case{border:1px solid #d0d7de;border-radius:4px;margin:.25rem 0;max-width:90rem}
details.case>summary{padding:.3rem .5rem;cursor:pointer}
details.case[open]>summary{background:#f6f8fa;border-bottom:1px solid #d0d7de}
.case-body{padding:.25rem .75rem}
.badge{display:inline-block;min-width:9rem;font-weight:bold}
.regressed{color:#cf222e}.improved{color:#1a7f37}.flaky{color:#9a6700}
table.sides{width:100%}table.sides>tbody>tr>td{width:50%}
.diag{max-width:40rem}
"#;

pub fn render_compare_html(
    c: &Comparison,
    base: &RunData,
    cand: &RunData,
    opts: &CompareOptions,
) -> String {
    let mut o = String::new();
    let title = format!("toolgate compare: {} → {}", c.base.label, c.cand.label);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}{TRIAL_STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n<p><strong>{}</strong></p>\n",
        html(&title),
        html(&title),
        html(&crate::cases::verdict(&c.case_stats))
    );
    let secs = sections(c, base, cand, opts);
    o.push_str("<ul>\n");
    for s in &secs {
        let _ = writeln!(o, "<li>{}: {}</li>", s.title, s.cases.len() + s.omitted);
    }
    o.push_str("</ul>\n");
    let mut readers = Readers::new(base, cand);
    let mut budget = Budget::new(RAW_BUDGET);
    for s in &secs {
        let (class, word, first_id) = match s.status {
            CaseStatus::Regressed => ("regressed", "regressed", "first-regression"),
            CaseStatus::Improved => ("improved", "improved", "first-improvement"),
            _ => ("flaky", "flaky", "first-flaky"),
        };
        let _ = writeln!(o, "<h2>{} ({})</h2>", s.title, s.cases.len() + s.omitted);
        if s.cases.is_empty() {
            o.push_str("<p>None.</p>\n");
            continue;
        }
        let open = s.status == CaseStatus::Regressed && s.cases.len() <= OPEN_REGRESSIONS;
        for (i, e) in s.cases.iter().enumerate() {
            let d = e.delta;
            let _ = writeln!(
                o,
                "<details class=\"case\"{}{}><summary><span class=\"badge {class}\">{word}{} {}</span> <strong>{}</strong>{}</summary>\n<div class=\"case-body\">",
                if i == 0 {
                    format!(" id=\"{first_id}\"")
                } else {
                    String::new()
                },
                if open { " open" } else { "" },
                if d.stable { " (stable)" } else { "" },
                html(&d.counts()),
                html(&d.label),
                d.cand_failure
                    .as_deref()
                    .map(|k| format!(" — candidate: <span class=\"fail\">{}</span>", html(k)))
                    .unwrap_or_default()
            );
            let (recs, asked) = readers.entry(e);
            o.push_str("<h4>Asked</h4>\n");
            asked_html(&mut o, asked.as_deref());
            let _ = writeln!(
                o,
                "<table class=\"sides\"><thead><tr><th>base: {}</th><th>candidate: {}</th></tr></thead><tbody>",
                html(&c.base.label),
                html(&c.cand.label)
            );
            let n = recs[0].len().max(recs[1].len());
            for i in 0..n {
                o.push_str("<tr>");
                for side in recs.iter() {
                    o.push_str("<td>");
                    match side.get(i) {
                        Some((g, _meta, rec)) => {
                            let v = verdict_class(g.verdict);
                            let kind = g
                                .failure
                                .map(|f| f.as_str())
                                .or(g.error_kind.map(|k| k.as_str()));
                            let _ = write!(
                                o,
                                "<div><span class=\"{v}\"><strong>{v}</strong></span> {} #{}{}</div>",
                                html(&g.key.variant),
                                g.key.repeat,
                                kind.map(|k| format!(" — {}", html(k))).unwrap_or_default()
                            );
                            trial_answer(&mut o, g, rec.as_ref(), &mut budget);
                        }
                        None => o.push_str("<span class=\"muted\">–</span>"),
                    }
                    o.push_str("</td>");
                }
                o.push_str("</tr>\n");
            }
            o.push_str("</tbody></table>\n");
            for (side, name) in [(0, "base"), (1, "candidate")] {
                if e.sides[side].len() > MAX_SIDE_TRIALS {
                    let _ = writeln!(
                        o,
                        "<p class=\"muted\">… {} more {name} trials</p>",
                        e.sides[side].len() - MAX_SIDE_TRIALS
                    );
                }
            }
            o.push_str("</div></details>\n");
        }
        if s.omitted > 0 {
            let _ = writeln!(
                o,
                "<p>… and {} more cases (<code>toolgate compare</code> lists every one).</p>",
                s.omitted
            );
        }
    }
    let _ = write!(o, "<script>{REVEAL_SCRIPT}</script>\n</body>\n</html>\n");
    o
}
