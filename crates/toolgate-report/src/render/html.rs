//! `report.html`: one self-contained file (inline CSS, inline SVG charts, a small inline
//! script for sorting and filtering; no external resources, so it opens offline and in CI
//! artifact viewers). It opens with the at-a-glance picture ([`super::glance`]), then the
//! tables, then the failures-first case view ([`super::case_view`]) and every listed trial.

use super::trial_html::{CELL_CAP, REVEAL_SCRIPT, TRIAL_STYLE};
use super::{prepared, RenderOptions, STABLE_NOTE};
use crate::asked::cut_at;
use crate::run::RunData;
use crate::stats::Dist;
use crate::summary::{summarize_with, LatencyRow, Summary, Trials};
use crate::text::{html, num, pct_ci, Markup};
use std::fmt::Write;
use toolgate_core::record::Verdict;

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans","Noto Sans Kannada",sans-serif;margin:1.5rem;color:#1b1f24;line-height:1.4}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}th.sortable{cursor:pointer}td.n{text-align:right;font-variant-numeric:tabular-nums}
.banner{background:#fff3cd;border:1px solid #e0b000;padding:.5rem 1rem;font-weight:bold}
.pass{color:#1a7f37}.fail{color:#cf222e}.error{color:#9a6700}
.diag{max-width:40rem}pre{white-space:pre-wrap;max-width:60rem;font-size:.8rem}
.controls{margin:.5rem 0}.controls input{width:20rem}
svg text{font-size:11px;font-family:inherit}
.glance{display:flex;flex-wrap:wrap;gap:1.5rem;align-items:flex-start}
.muted{color:#57606a}.more{color:#57606a;font-style:italic}
details.case{border:1px solid #d0d7de;border-radius:4px;margin:.25rem 0;max-width:80rem}
details.case>summary{padding:.3rem .5rem;cursor:pointer}
details.case[open]>summary{background:#f6f8fa;border-bottom:1px solid #d0d7de}
.case-body{padding:.25rem .75rem}
.badge{display:inline-block;min-width:8rem;font-weight:bold}
.badge.fail{color:#cf222e}.badge.pass{color:#1a7f37}
.trial{border-left:3px solid #d0d7de;padding-left:.75rem;margin:.75rem 0}
.t-fail{border-color:#cf222e}.t-error{border-color:#9a6700}.t-pass{border-color:#1a7f37}
.trial h4,.case-body h4{margin:.25rem 0}
table.vs{width:100%;max-width:60rem}table.vs>tbody>tr>td{width:50%}
.text pre{margin:.1rem 0 .4rem 0}
"#;

const SCRIPT: &str = r#"
(function(){
  var table=document.getElementById('cases');
  if(!table){return;}
  var body=table.tBodies[0];
  var q=document.getElementById('filter');
  var v=document.getElementById('verdict');
  function apply(){
    var text=q.value.toLowerCase();var want=v.value;
    for(var i=0;i<body.rows.length;i++){
      var r=body.rows[i];
      var ok=(!want||r.getAttribute('data-verdict')===want)&&(!text||r.textContent.toLowerCase().indexOf(text)>=0);
      r.style.display=ok?'':'none';
    }
  }
  q.addEventListener('input',apply);v.addEventListener('change',apply);
  var heads=table.tHead.rows[0].cells;
  for(var h=0;h<heads.length;h++){(function(col){
    var th=heads[col];if(!th.classList.contains('sortable')){return;}
    th.addEventListener('click',function(){
      var asc=th.getAttribute('data-dir')!=='asc';
      th.setAttribute('data-dir',asc?'asc':'desc');
      var rows=Array.prototype.slice.call(body.rows);
      rows.sort(function(a,b){
        var x=a.cells[col].getAttribute('data-sort')||a.cells[col].textContent;
        var y=b.cells[col].getAttribute('data-sort')||b.cells[col].textContent;
        var nx=parseFloat(x),ny=parseFloat(y);
        var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);
        return asc?c:-c;
      });
      rows.forEach(function(r){body.appendChild(r);});
    });
  })(h);}
})();
"#;

pub fn render_html(run: &RunData, opts: &RenderOptions) -> String {
    let run = prepared(run, opts);
    let trials = Trials::new(&run);
    html_prepared(&run, &trials, &summarize_with(&run, &trials), opts)
}

pub(crate) fn html_prepared(
    run: &RunData,
    trials: &Trials<'_>,
    s: &Summary,
    opts: &RenderOptions,
) -> String {
    let mut o = String::new();
    let title = format!("toolgate report: {}", s.run.run_id);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}{TRIAL_STYLE}</style>\n</head>\n<body>\n",
        html(&title)
    );
    if !s.run.complete {
        let reasons = if s.run.incomplete_reasons.is_empty() {
            "the run did not finish".to_string()
        } else {
            s.run.incomplete_reasons.join("; ")
        };
        let _ = writeln!(
            o,
            "<p class=\"banner\">INCOMPLETE: {} of {} planned trials graded — {}</p>",
            s.run.graded_trials,
            s.run.planned_trials,
            html(&reasons)
        );
    }
    let _ = writeln!(o, "<h1>{}</h1>", html(&title));
    let t = &s.totals;
    let _ = writeln!(
        o,
        "<p><strong>{} passed / {} judged — {}</strong> · {} failed · infra errors (not counted): {}</p>",
        t.passed,
        t.judged,
        html(&pct_ci(&t.accuracy)),
        t.failed,
        t.errors
    );
    if opts.stable {
        let _ = writeln!(o, "<p><em>{STABLE_NOTE}</em></p>");
    }
    super::glance::glance(&mut o, s);
    results(&mut o, s);
    tools(&mut o, s);
    super::decisions::section(&mut o, s, Markup::Html);
    arguments(&mut o, s);
    failures(&mut o, s);
    super::case_view::case_view(&mut o, s, run, trials);
    latency(&mut o, s);
    o.push_str(&crate::server::servers_html(&s.servers, opts.stable));
    cases(&mut o, s);
    facts(&mut o, s);
    let _ = write!(
        o,
        "<script>{REVEAL_SCRIPT}{SCRIPT}</script>\n</body>\n</html>\n"
    );
    o
}

fn results(o: &mut String, s: &Summary) {
    o.push_str("<h2>Results</h2>\n");
    super::results_table(o, s, Markup::Html);
}

/// Per-argument rates (tool_call suites): which arguments the model gets wrong, and how.
fn arguments(o: &mut String, s: &Summary) {
    if s.arguments.is_empty() {
        return;
    }
    o.push_str("<h2>Arguments</h2>\n");
    super::arguments_table(o, s, Markup::Html);
}

fn tools(o: &mut String, s: &Summary) {
    if s.tools.is_empty() {
        return;
    }
    o.push_str("<h2>Tools</h2>\n");
    super::tools_table(o, s, Markup::Html);
    for g in &s.groups {
        let Some(c) = &g.confusion else { continue };
        if c.rows.is_empty() {
            continue;
        }
        let max = c.counts.iter().flatten().copied().max().unwrap_or(1).max(1);
        let _ = writeln!(
            o,
            "<h3>Confusion: {} · {} · {} · {}</h3>\n<table class=\"confusion\">\n<thead><tr><th>expected \\ actual</th>",
            html(&g.target),
            html(&g.suite),
            html(&g.prompt),
            html(&g.variant)
        );
        for col in &c.columns {
            let _ = write!(o, "<th>{}</th>", html(col));
        }
        o.push_str("</tr></thead>\n<tbody>\n");
        for (row, counts) in c.rows.iter().zip(&c.counts) {
            let _ = write!(o, "<tr><th>{}</th>", html(row));
            for (col, n) in c.columns.iter().zip(counts) {
                // Green on the diagonal, red off it; intensity by count.
                let alpha = *n as f64 / max as f64 * 0.6;
                let rgb = if col == row { "26,127,55" } else { "207,34,46" };
                if *n == 0 {
                    o.push_str("<td class=\"n\">·</td>");
                } else {
                    let _ = write!(
                        o,
                        "<td class=\"n\" style=\"background:rgba({rgb},{alpha:.2})\">{n}</td>"
                    );
                }
            }
            o.push_str("</tr>\n");
        }
        o.push_str("</tbody>\n</table>\n");
    }
}

fn failures(o: &mut String, s: &Summary) {
    o.push_str("<h2>Failures</h2>\n");
    if s.failure_kinds.is_empty() && s.error_kinds.is_empty() {
        o.push_str("<p>No failures and no infra errors.</p>\n");
    } else {
        o.push_str("<table>\n<thead><tr><th>kind</th><th>count</th></tr></thead>\n<tbody>\n");
        for k in &s.failure_kinds {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
                html(&k.kind),
                k.count
            );
        }
        for k in &s.error_kinds {
            let _ = writeln!(
                o,
                "<tr><td class=\"error\">error: {}</td><td class=\"n\">{}</td></tr>",
                html(&k.kind),
                k.count
            );
        }
        o.push_str("</tbody>\n</table>\n");
    }
    if s.extraction.is_empty() {
        return;
    }
    o.push_str("<h3>Extraction</h3>\n");
    super::extraction_table(o, s, Markup::Html);
}

/// A horizontal bar chart: one bar per item at p50 with a whisker to p90. Deterministic
/// text, so it snapshot-tests like the rest of the report.
pub(crate) fn bar_chart(title: &str, unit: &str, items: &[(String, Dist)]) -> String {
    const LABEL_W: f64 = 230.0;
    const PLOT_W: f64 = 360.0;
    const ROW_H: f64 = 22.0;
    const TOP: f64 = 24.0;
    let height = TOP + ROW_H * items.len() as f64 + 8.0;
    let width = LABEL_W + PLOT_W + 90.0;
    let max = items
        .iter()
        .map(|(_, d)| d.p90.max(d.p50))
        .fold(0.0f64, f64::max);
    let scale = if max > 0.0 { PLOT_W / max } else { 0.0 };
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-label=\"{}\">",
        html(title)
    );
    let _ = writeln!(
        o,
        "<text x=\"0\" y=\"14\" font-weight=\"bold\">{} ({}; bar p50, whisker p90)</text>",
        html(title),
        html(unit)
    );
    for (i, (label, d)) in items.iter().enumerate() {
        let y = TOP + ROW_H * i as f64;
        let w = d.p50 * scale;
        let wx = LABEL_W + d.p90 * scale;
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><rect x=\"{LABEL_W:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"#0969da\"><title>p50 {} · p90 {} · n {}</title></rect><line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{wx:.1}\" y2=\"{:.1}\" stroke=\"#1b1f24\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            LABEL_W - 6.0,
            y + 14.0,
            html(label),
            y + 3.0,
            ROW_H - 6.0,
            num(Some(d.p50)),
            num(Some(d.p90)),
            d.n,
            LABEL_W + w,
            y + ROW_H / 2.0,
            y + ROW_H / 2.0,
            wx.max(LABEL_W + w) + 4.0,
            y + 14.0,
            num(Some(d.p50))
        );
    }
    o.push_str("</svg>\n");
    o
}

fn chart_for(
    title: &str,
    unit: &str,
    rows: &[LatencyRow],
    pick: fn(&LatencyRow) -> &Option<Dist>,
) -> String {
    let items: Vec<(String, Dist)> = rows
        .iter()
        .filter_map(|r| pick(r).map(|d| (format!("{} · {}", r.target, r.group), d)))
        .collect();
    if items.is_empty() {
        String::new()
    } else {
        bar_chart(title, unit, &items)
    }
}

fn latency(o: &mut String, s: &Summary) {
    let l = &s.latency;
    if l.by_variant.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "<h2>Latency</h2>\n<p>Measured requests only: {} warmup and {} infra-error trials excluded.</p>",
        l.excluded_warmup, l.excluded_errors
    );
    o.push_str(&chart_for("TTFT by variant", "ms", &l.by_variant, |r| {
        &r.ttft_ms
    }));
    o.push_str(&chart_for(
        "Decode rate by variant",
        "tok/s",
        &l.by_variant,
        |r| &r.decode_tps,
    ));
    o.push_str(&chart_for("E2E by variant", "ms", &l.by_variant, |r| {
        &r.e2e_ms
    }));
    o.push_str(&chart_for("TTFT by category", "ms", &l.by_category, |r| {
        &r.ttft_ms
    }));
    let turns: Vec<(String, Dist)> = l
        .by_turn
        .iter()
        .filter_map(|t| {
            t.ttft_ms
                .map(|d| (format!("{} · {} · turn {}", t.target, t.variant, t.turn), d))
        })
        .collect();
    if !turns.is_empty() {
        o.push_str(&bar_chart("Multi-turn TTFT by turn", "ms", &turns));
    }
    crate::latency::render_html_tables(o, s);
}

/// Every listed trial as one sortable, filterable row. Answers and raw responses are in the
/// case view, once per trial.
fn cases(o: &mut String, s: &Summary) {
    o.push_str("<h2>Trials</h2>\n<div class=\"controls\"><input id=\"filter\" type=\"search\" placeholder=\"filter by any text\" aria-label=\"filter\"> <select id=\"verdict\" aria-label=\"verdict\"><option value=\"\">all verdicts</option><option value=\"pass\">pass</option><option value=\"fail\">fail</option><option value=\"error\">error</option></select></div>\n");
    if s.cases_omitted > 0 {
        let _ = writeln!(
            o,
            "<p>Listing {} of {} trials: fails and errors first. Every trial is in <code>results.csv</code>, <code>junit.xml</code> and <code>grades.jsonl</code>.</p>",
            s.cases.len(),
            s.cases_total
        );
    }
    o.push_str("<table id=\"cases\">\n<thead><tr>");
    for h in [
        "target",
        "suite",
        "case",
        "prompt",
        "variant",
        "repeat",
        "verdict",
        "kind",
        "diagnosis",
        "expected",
        "actual",
        "TTFT ms",
    ] {
        let _ = write!(o, "<th class=\"sortable\">{h}</th>");
    }
    o.push_str("</tr></thead>\n<tbody>\n");
    for c in &s.cases {
        let k = &c.key;
        let class = match c.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
            Verdict::Recorded => "recorded",
        };
        let _ = writeln!(
            o,
            "<tr data-verdict=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"{class}\">{class}</td><td>{}</td><td class=\"diag\">{}</td><td>{}</td><td>{}</td><td class=\"n\" data-sort=\"{}\">{}</td></tr>",
            html(&k.target),
            html(&k.suite),
            html(&k.case),
            html(&k.prompt),
            html(&k.variant),
            k.repeat,
            html(c.failure.as_deref().unwrap_or("")),
            html(cut_at(&c.diagnosis, CELL_CAP).0),
            html(cut_at(&c.expected, CELL_CAP).0),
            html(cut_at(&c.actual, CELL_CAP).0),
            c.ttft_ms.map_or_else(|| "-1".to_string(), |v| format!("{v}")),
            num(c.ttft_ms),
        );
    }
    o.push_str("</tbody>\n</table>\n");
}

fn facts(o: &mut String, s: &Summary) {
    super::run_facts(o, s, crate::text::Markup::Html);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_lengths_scale_to_the_largest_p90() {
        let d = |p50, p90| Dist {
            n: 3,
            mean: p50,
            min: p50,
            max: p90,
            p50,
            p90,
            p95: p90,
            p99: p90,
        };
        let svg = bar_chart(
            "TTFT",
            "ms",
            &[
                ("a".into(), d(100.0, 200.0)),
                ("b <x>".into(), d(50.0, 100.0)),
            ],
        );
        // Plot width 360 over a max of 200: p50 100 → 180 px, p50 50 → 90 px.
        assert!(svg.contains("width=\"180.0\""), "{svg}");
        assert!(svg.contains("width=\"90.0\""), "{svg}");
        // Whisker of the first bar ends at 230 + 360.
        assert!(svg.contains("x2=\"590.0\""), "{svg}");
        assert!(svg.contains("b &lt;x&gt;"));
    }
}
