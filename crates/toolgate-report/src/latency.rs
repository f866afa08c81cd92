//! Latency, as docs/latency.md defines it: the parts of the
//! latency summary beyond plain distributions (throughput windows, multi-turn TTFT scaling
//! with a least-squares slope, the reasons a TTFT is missing), and the renderers of the
//! latency section: Markdown, HTML (tables + inline SVG), `latency.csv` and the terminal table
//! `toolgate latency` prints.
//!
//! Rule kept everywhere: a TTFT that could not be measured is a *missing* value with a reason,
//! never a 0 in a distribution.

use crate::render::csv_out::cell;
use crate::run::RunData;
use crate::run::{ResponseMeta, TurnMeta};
use crate::stats::Dist;
use crate::summary::{measured, KindCount, LatencyRow, LatencySummary, Summary};
use crate::text::{html, md_cell, num, Markup, Table};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Aggregate rates over the measured requests of one target × variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Throughput {
    pub target: String,
    pub variant: String,
    /// Requests measured (turns of non-warmup, non-error trials).
    pub requests: u64,
    /// Σ `usage.completion_tokens` over those requests (requests without usage add nothing).
    pub output_tokens: u64,
    /// First trial start → last trial end, seconds. `None` when the start times are missing
    /// or redacted (stable output), so no rate can be computed.
    pub window_s: Option<f64>,
    /// `output_tokens / window_s`.
    pub output_tok_s: Option<f64>,
    /// `requests / window_s`.
    pub requests_s: Option<f64>,
}

/// TTFT per turn of one multi-turn case, with the prompt size per turn and the least-squares
/// slope of TTFT against prompt tokens.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationScaling {
    pub target: String,
    pub variant: String,
    pub suite: String,
    pub case: String,
    /// Number of turns of the case (the longest recorded conversation).
    pub turns: u32,
    pub by_turn: Vec<TurnPoint>,
    /// Milliseconds of TTFT per 1,000 prompt tokens, least squares over every measured
    /// (prompt tokens, TTFT) point; `None` with fewer than two distinct prompt sizes.
    pub slope_ms_per_1k_tokens: Option<f64>,
    /// TTFT at zero prompt tokens on the fitted line, ms.
    pub intercept_ms: Option<f64>,
    /// Points in the fit.
    pub points: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TurnPoint {
    pub turn: u32,
    pub ttft_ms: Option<Dist>,
    /// `usage.prompt_tokens` of this turn (median over repeats).
    pub prompt_tokens: Option<f64>,
    /// Turns whose TTFT could not be measured, by reason.
    pub missing: Vec<KindCount>,
}

/// Why a turn has no TTFT: the client's recorded reason, else a generic one.
pub(crate) fn missing_reason(t: &TurnMeta) -> Option<String> {
    missing_reason_str(t).map(str::to_string)
}

/// [`missing_reason`] without a copy.
pub(crate) fn missing_reason_str(t: &TurnMeta) -> Option<&str> {
    if t.timing.ttft_ms.is_some() {
        return None;
    }
    Some(
        t.timing
            .ttft_missing
            .as_deref()
            .unwrap_or("no TTFT recorded"),
    )
}

/// TPOT of one request: (last token − first token) / (completion_tokens − 1), ms. The same
/// span as the decode rate, so `tpot = 1000 / decode tok/s` per request.
pub(crate) fn tpot_ms(t: &TurnMeta) -> Option<f64> {
    let (ct, first, last) = (
        t.timing.completion_tokens?,
        t.timing.ttft_ms?,
        t.timing.last_token_ms?,
    );
    (ct > 1 && last >= first).then(|| (last - first) / (ct - 1) as f64)
}

/// The server's own decode rate: the client's parsed figure, else llama.cpp
/// `timings.predicted_per_second`.
pub(crate) fn server_decode_tps(t: &TurnMeta) -> Option<f64> {
    t.timing
        .server_decode_tps
        .or_else(|| t.server_timings.as_ref()?.predicted_per_second)
}

/// Prefill throughput of one request: prompt tokens the server processed (those it did not
/// take from its prompt cache) ÷ time to first token. TTFT includes queueing and transport,
/// so this is a lower bound on the server's own prefill rate. A fully cached prompt has none.
pub(crate) fn prefill_tps(t: &TurnMeta) -> Option<f64> {
    let (n, ttft) = (t.timing.prompt_tokens?, t.timing.ttft_ms?);
    let n = n.saturating_sub(u64::from(t.cached_tokens.unwrap_or(0)));
    (ttft > 0.0 && n > 0).then(|| n as f64 / (ttft / 1000.0))
}

/// The server's own prefill rate (llama.cpp `timings.prompt_per_second`).
pub(crate) fn server_prefill_tps(t: &TurnMeta) -> Option<f64> {
    t.server_timings.as_ref()?.prompt_per_second
}

/// The server's own prompt-processing time (llama.cpp `timings.prompt_ms`), to read beside
/// our TTFT: the difference is queueing, transport and the first decode step.
pub(crate) fn server_prompt_ms(t: &TurnMeta) -> Option<f64> {
    t.server_timings.as_ref()?.prompt_ms
}

fn ts_ms(s: &str) -> Option<f64> {
    let t: jiff::Timestamp = s.parse().ok()?;
    Some(t.as_millisecond() as f64 + f64::from(t.subsec_nanosecond() % 1_000_000) / 1e6)
}

/// Throughput per target × variant over the measured requests.
pub(crate) fn throughput(run: &RunData) -> Vec<Throughput> {
    #[derive(Default)]
    struct W {
        requests: u64,
        tokens: u64,
        start: Option<f64>,
        end: Option<f64>,
        undated: bool,
    }
    let mut m: BTreeMap<(&str, &str), W> = BTreeMap::new();
    for r in measured(run) {
        let w = m
            .entry((r.key.target.as_str(), r.key.variant.as_str()))
            .or_default();
        w.requests += r.turns.len() as u64;
        w.tokens += r
            .turns
            .iter()
            .filter_map(|t| t.timing.completion_tokens)
            .sum::<u64>();
        match ts_ms(&r.started_at) {
            Some(s) => {
                let e = s + r.turns.iter().map(|t| t.timing.e2e_ms).sum::<f64>();
                w.start = Some(w.start.map_or(s, |x: f64| x.min(s)));
                w.end = Some(w.end.map_or(e, |x: f64| x.max(e)));
            }
            None => w.undated = true,
        }
    }
    m.into_iter()
        .map(|((target, variant), w)| {
            let window_s = match (w.start, w.end, w.undated) {
                (Some(s), Some(e), false) if e > s => Some((e - s) / 1000.0),
                _ => None,
            };
            Throughput {
                target: target.to_string(),
                variant: variant.to_string(),
                requests: w.requests,
                output_tokens: w.tokens,
                window_s,
                output_tok_s: window_s.map(|d| w.tokens as f64 / d),
                requests_s: window_s.map(|d| w.requests as f64 / d),
            }
        })
        .collect()
}

/// Least squares y = a + b·x; `None` without two distinct x.
pub fn least_squares(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx <= f64::EPSILON * n {
        return None;
    }
    let b = sxy / sxx;
    Some((my - b * mx, b))
}

/// Multi-turn scaling per target × variant × conversation case.
pub(crate) fn scaling(run: &RunData) -> Vec<ConversationScaling> {
    type Key = (String, String, String, String);
    let mut m: BTreeMap<Key, Vec<&ResponseMeta>> = BTreeMap::new();
    for r in measured(run).filter(|r| r.kind == "conversation" || r.turns.len() > 1) {
        let k = &r.key;
        m.entry((
            k.target.to_string(),
            k.variant.to_string(),
            k.suite.to_string(),
            k.case.to_string(),
        ))
        .or_default()
        .push(r);
    }
    m.into_iter()
        .map(|((target, variant, suite, case), rs)| {
            // turn → (TTFTs, prompt tokens, missing reasons)
            type PerTurn = BTreeMap<u32, (Vec<f64>, Vec<f64>, Vec<String>)>;
            let mut per_turn: PerTurn = BTreeMap::new();
            let mut points = Vec::new();
            for t in rs.iter().flat_map(|r| &r.turns) {
                let e = per_turn.entry(t.turn).or_default();
                e.0.extend(t.timing.ttft_ms);
                e.1.extend(t.timing.prompt_tokens.map(|p| p as f64));
                e.2.extend(missing_reason(t));
                if let (Some(y), Some(x)) = (t.timing.ttft_ms, t.timing.prompt_tokens) {
                    if y.is_finite() {
                        points.push((x as f64, y));
                    }
                }
            }
            let fit = least_squares(&points);
            ConversationScaling {
                target,
                variant,
                suite,
                case,
                turns: rs.iter().map(|r| r.turns.len() as u32).max().unwrap_or(0),
                by_turn: per_turn
                    .into_iter()
                    .map(|(turn, (ttft, prompt, missing))| TurnPoint {
                        turn,
                        ttft_ms: Dist::from_values(&ttft),
                        prompt_tokens: Dist::from_values(&prompt).map(|d| d.p50),
                        missing: count(missing),
                    })
                    .collect(),
                slope_ms_per_1k_tokens: fit.map(|(_, b)| b * 1000.0),
                intercept_ms: fit.map(|(a, _)| a),
                points: points.len() as u64,
            }
        })
        .collect()
}

/// Counts already tallied by name, most frequent first, ties by name (as [`count`]).
pub(crate) fn count_sorted_map(m: &BTreeMap<&str, u64>) -> Vec<KindCount> {
    let mut v: Vec<KindCount> = m
        .iter()
        .map(|(kind, count)| KindCount {
            kind: kind.to_string(),
            count: *count,
        })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.kind.cmp(&b.kind)));
    v
}

/// Counts, most frequent first, ties by name.
pub(crate) fn count(items: Vec<String>) -> Vec<KindCount> {
    let mut m: BTreeMap<String, u64> = BTreeMap::new();
    for i in items {
        *m.entry(i).or_default() += 1;
    }
    let mut v: Vec<KindCount> = m
        .into_iter()
        .map(|(kind, count)| KindCount { kind, count })
        .collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.kind.cmp(&b.kind)));
    v
}

/// Every metric of a row, in display order: (name, unit, distribution).
pub fn row_metrics(r: &LatencyRow) -> [(&'static str, &'static str, &Option<Dist>); 10] {
    [
        ("TTFT", "ms", &r.ttft_ms),
        ("TTFT-content", "ms", &r.ttft_content_ms),
        ("E2E", "ms", &r.e2e_ms),
        ("TPOT", "ms", &r.tpot_ms),
        ("ITL (per chunk)", "ms", &r.itl_ms),
        ("decode", "tok/s", &r.decode_tps),
        ("prefill", "tok/s", &r.prefill_tps),
        ("server decode", "tok/s", &r.server_decode_tps),
        ("server prefill", "tok/s", &r.server_prefill_tps),
        ("server prompt", "ms", &r.server_prompt_ms),
    ]
}

fn missing_text(m: &[KindCount]) -> String {
    m.iter()
        .map(|k| format!("{} × {}", k.count, k.kind))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One row per metric of each latency row, then the requests whose TTFT is missing (with
/// their reasons under the table, never as 0 ms).
fn metric_table(o: &mut String, m: Markup, label: &str, rows: &[LatencyRow]) {
    let cols = [
        ("target", false),
        (label, false),
        ("metric", false),
        ("unit", false),
        ("n", true),
        ("p50", true),
        ("p90", true),
        ("p95", true),
        ("p99", true),
        ("mean", true),
        ("min", true),
        ("max", true),
    ];
    let mut t = Table::new(o, m, &cols);
    for r in rows {
        for (name, unit, d) in row_metrics(r) {
            let Some(d) = d else { continue };
            let mut cells = vec![
                r.target.clone(),
                r.group.clone(),
                name.to_string(),
                unit.to_string(),
                d.n.to_string(),
            ];
            cells.extend([d.p50, d.p90, d.p95, d.p99, d.mean, d.min, d.max].map(|v| num(Some(v))));
            t.row(&cells);
        }
        if !r.ttft_missing.is_empty() {
            let n = r.ttft_missing.iter().map(|k| k.count).sum::<u64>();
            let mut cells = vec![
                r.target.clone(),
                r.group.clone(),
                "TTFT missing".into(),
                "requests".into(),
                n.to_string(),
            ];
            cells.extend(std::iter::repeat_n("–".to_string(), 7));
            t.row(&cells);
        }
    }
    t.end();
    let missing: Vec<String> = rows
        .iter()
        .filter(|r| !r.ttft_missing.is_empty())
        .map(|r| {
            format!(
                "{} · {}: {}",
                r.target,
                r.group,
                missing_text(&r.ttft_missing)
            )
        })
        .collect();
    if !missing.is_empty() {
        let text = format!(
            "TTFT not measured (excluded, never counted as 0 ms): {}",
            missing.join(" · ")
        );
        match m {
            Markup::Markdown => {
                let _ = writeln!(o, "\n{}", md_cell(&text));
            }
            Markup::Html => {
                let _ = writeln!(o, "<p>{}</p>", html(&text));
            }
        }
    }
}

fn throughput_table(o: &mut String, m: Markup, l: &LatencySummary) {
    let cols = [
        ("target", false),
        ("variant", false),
        ("requests", true),
        ("output tokens", true),
        ("window s", true),
        ("output tok/s", true),
        ("requests/s", true),
    ];
    let mut t = Table::new(o, m, &cols);
    for x in &l.throughput {
        t.row(&[
            x.target.clone(),
            x.variant.clone(),
            x.requests.to_string(),
            x.output_tokens.to_string(),
            opt3(x.window_s),
            num(x.output_tok_s),
            opt3(x.requests_s),
        ]);
    }
    t.end();
}

fn slope_table(o: &mut String, m: Markup, l: &LatencySummary) {
    let cols = [
        ("target", false),
        ("variant", false),
        ("case", false),
        ("turns", true),
        ("points", true),
        ("slope ms / 1k prompt tokens", true),
        ("intercept ms", true),
    ];
    let mut t = Table::new(o, m, &cols);
    for c in &l.scaling {
        t.row(&[
            c.target.clone(),
            c.variant.clone(),
            c.case.clone(),
            c.turns.to_string(),
            c.points.to_string(),
            opt3(c.slope_ms_per_1k_tokens),
            num(c.intercept_ms),
        ]);
    }
    t.end();
}

fn by_turn_table(o: &mut String, m: Markup, l: &LatencySummary) {
    let cols = [
        ("target", false),
        ("variant", false),
        ("case", false),
        ("turn", true),
        ("prompt tokens", true),
        ("n", true),
        ("TTFT p50 ms", true),
        ("p90", true),
        ("mean", true),
        ("missing", false),
    ];
    let mut t = Table::new(o, m, &cols);
    for c in &l.scaling {
        for p in &c.by_turn {
            let d = p.ttft_ms.as_ref();
            t.row(&[
                c.target.clone(),
                c.variant.clone(),
                c.case.clone(),
                p.turn.to_string(),
                p.prompt_tokens.map_or("–".into(), |v| format!("{v:.0}")),
                d.map_or(0, |d| d.n).to_string(),
                num(d.map(|d| d.p50)),
                num(d.map(|d| d.p90)),
                num(d.map(|d| d.mean)),
                if p.missing.is_empty() {
                    "–".to_string()
                } else {
                    missing_text(&p.missing)
                },
            ]);
        }
    }
    t.end();
}

/// The latency section of `report.md`.
pub fn render_markdown(o: &mut String, s: &Summary) {
    let l = &s.latency;
    if l.by_variant.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\n## Latency\n\nMeasured requests only: {} warmup and {} infra-error trials excluded. Percentiles interpolate linearly between ranks; n is the number of values behind each row. TTFT counts any generated token (content, reasoning or tool-call delta); TTFT-content the first non-reasoning output. TPOT and decode rate span first to last token with `usage.completion_tokens`; ITL is per chunk gap. Server figures are the server's own (llama.cpp `timings`) where it sent them.\n",
        l.excluded_warmup, l.excluded_errors
    );
    metric_table(o, Markup::Markdown, "variant", &l.by_variant);
    if !l.throughput.is_empty() {
        o.push_str("\n**Throughput** (first trial start → last trial end)\n\n");
        throughput_table(o, Markup::Markdown, l);
    }
    o.push('\n');
    metric_table(o, Markup::Markdown, "category", &l.by_category);
    if !l.scaling.is_empty() {
        o.push_str(
            "\n**Multi-turn TTFT scaling** (slope: least squares of TTFT on prompt tokens)\n\n",
        );
        slope_table(o, Markup::Markdown, l);
        o.push('\n');
        by_turn_table(o, Markup::Markdown, l);
    }
    if let Some(t) = side_by_side(s) {
        o.push_str(
            "\n**Side by side** (p50 of measured requests; advantage: the best over the next)\n\n",
        );
        side_by_side_table(o, Markup::Markdown, &t);
    }
}

/// One row of the side-by-side throughput table: a figure per target and which side wins.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SideRow {
    pub metric: String,
    pub unit: &'static str,
    /// Per target, in [`SideBySide::targets`] order.
    pub values: Vec<Option<f64>>,
    pub higher_is_better: bool,
    /// `6.1x qwen3` (the best over the next best), `~equal` within 5%, `–` when unknown.
    pub advantage: String,
}

/// The table model-swap notes carry: generation rate, prefill rate per prompt size, wall
/// time per request, one column per target (p50s of measured requests).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SideBySide {
    pub targets: Vec<String>,
    pub rows: Vec<SideRow>,
}

/// Within this ratio two figures are called `~equal`.
const EQUAL_WITHIN: f64 = 1.05;

fn advantage(values: &[Option<f64>], targets: &[String], higher_is_better: bool) -> String {
    let mut known: Vec<(f64, &str)> = values
        .iter()
        .zip(targets)
        .filter_map(|(v, t)| v.filter(|v| *v > 0.0).map(|v| (v, t.as_str())))
        .collect();
    if known.len() < 2 {
        return "–".into();
    }
    known.sort_by(|a, b| a.0.total_cmp(&b.0));
    if higher_is_better {
        known.reverse();
    }
    let (best, next) = (known[0], known[1]);
    let ratio = if higher_is_better {
        best.0 / next.0
    } else {
        next.0 / best.0
    };
    if ratio < EQUAL_WITHIN {
        "~equal".into()
    } else {
        format!("{ratio:.1}x {}", best.1)
    }
}

/// The side-by-side table for two or more targets (`None` for one). Rows: generation tok/s
/// (decode p50), then per case category — with `cases/throughput/` a short and a long
/// prompt — the prefill rate (prompt tokens ÷ TTFT, p50) and the wall time of a request
/// (E2E p50), labelled with the category's mean prompt and generated tokens.
pub fn side_by_side(s: &Summary) -> Option<SideBySide> {
    let l = &s.latency;
    // In the order the run was given its targets (`--target A --target B`), then any other.
    let mut targets: Vec<String> = Vec::new();
    let measured = |n: &str| l.by_variant.iter().any(|r| r.target == n);
    for name in s
        .run
        .targets
        .iter()
        .map(|t| &t.name)
        .chain(l.by_variant.iter().map(|r| &r.target))
    {
        if measured(name) && !targets.contains(name) {
            targets.push(name.clone());
        }
    }
    if targets.len() < 2 {
        return None;
    }
    let mut rows = Vec::new();
    let mut push = |metric: String, unit: &'static str, values: Vec<Option<f64>>, hib: bool| {
        if values.iter().any(Option::is_some) {
            let advantage = advantage(&values, &targets, hib);
            rows.push(SideRow {
                metric,
                unit,
                values,
                higher_is_better: hib,
                advantage,
            });
        }
    };
    // A target's busiest variant stands for it.
    let decode: Vec<Option<f64>> = targets
        .iter()
        .map(|t| {
            l.by_variant
                .iter()
                .filter(|r| &r.target == t)
                .max_by_key(|r| r.requests)
                .and_then(|r| r.decode_tps.as_ref().map(|d| d.p50))
        })
        .collect();
    push("Generation tok/s".into(), "tok/s", decode, true);
    let mut groups: Vec<&str> = Vec::new();
    for r in &l.by_category {
        if !groups.contains(&r.group.as_str()) {
            groups.push(&r.group);
        }
    }
    let mean_of = |g: &str, f: fn(&LatencyRow) -> Option<f64>| {
        l.by_category.iter().filter(|r| r.group == g).find_map(f)
    };
    let per_target = |g: &str, f: fn(&LatencyRow) -> Option<f64>| -> Vec<Option<f64>> {
        targets
            .iter()
            .map(|t| {
                l.by_category
                    .iter()
                    .find(|r| &r.target == t && r.group == g)
                    .and_then(f)
            })
            .collect()
    };
    for g in groups {
        let tokens = |v: Option<f64>, what: &str| {
            v.map_or(String::new(), |v| {
                format!(" (~{} {what})", thousands(v.round(), 0))
            })
        };
        push(
            format!(
                "Prompt eval tok/s, {g}{}",
                tokens(mean_of(g, |r| r.prompt_tokens_mean), "prompt tokens")
            ),
            "tok/s",
            per_target(g, |r| r.prefill_tps.as_ref().map(|d| d.p50)),
            true,
        );
        push(
            format!(
                "Wall time, {g}{}",
                tokens(mean_of(g, |r| r.completion_tokens_mean), "generated tokens")
            ),
            "s",
            per_target(g, |r| r.e2e_ms.as_ref().map(|d| d.p50 / 1000.0)),
            false,
        );
    }
    Some(SideBySide { targets, rows })
}

/// `1869.1` → `1,869.1`.
fn thousands(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let (int, frac) = s
        .split_once('.')
        .map_or((s.as_str(), None), |(a, b)| (a, Some(b)));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{out}.{f}"),
        None => format!("{sign}{out}"),
    }
}

fn side_value(v: Option<f64>, unit: &str) -> String {
    match v {
        Some(v) if unit == "s" => format!("{} s", thousands(v, 1)),
        Some(v) => thousands(v, 1),
        None => "–".into(),
    }
}

/// The side-by-side table as a Markdown or HTML table.
pub fn side_by_side_table(o: &mut String, m: Markup, t: &SideBySide) {
    let mut cols: Vec<(&str, bool)> = vec![("Metric", false)];
    for name in &t.targets {
        cols.push((name.as_str(), true));
    }
    cols.push(("Advantage", false));
    let mut table = Table::new(o, m, &cols);
    for r in &t.rows {
        let mut cells = vec![r.metric.clone()];
        cells.extend(r.values.iter().map(|v| side_value(*v, r.unit)));
        cells.push(r.advantage.clone());
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        table.row(&cells);
    }
    table.end();
}

/// The side-by-side table for a terminal: fixed columns, model-free text only.
pub fn side_by_side_text(t: &SideBySide) -> String {
    let w = t
        .rows
        .iter()
        .map(|r| r.metric.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let cw: Vec<usize> = t
        .targets
        .iter()
        .map(|n| n.chars().count().max(10))
        .collect();
    let mut o = format!("{:<w$}", "Metric");
    for (n, c) in t.targets.iter().zip(&cw) {
        let _ = write!(o, "  {n:>c$}");
    }
    o.push_str("  Advantage\n");
    for r in &t.rows {
        let _ = write!(o, "{:<w$}", r.metric);
        for (v, c) in r.values.iter().zip(&cw) {
            let _ = write!(o, "  {:>c$}", side_value(*v, r.unit));
        }
        let _ = writeln!(o, "  {}", r.advantage);
    }
    o
}

fn opt3(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.3}"))
}

/// The latency tables of `report.html` (the bar charts stay in the HTML renderer): the same
/// tables as `report.md`.
pub fn render_html_tables(o: &mut String, s: &Summary) {
    let l = &s.latency;
    metric_table(o, Markup::Html, "variant", &l.by_variant);
    if !l.throughput.is_empty() {
        throughput_table(o, Markup::Html, l);
    }
    metric_table(o, Markup::Html, "category", &l.by_category);
    if !l.scaling.is_empty() {
        o.push_str(&scaling_chart(&l.scaling));
        slope_table(o, Markup::Html, l);
        by_turn_table(o, Markup::Html, l);
    }
}

const PALETTE: [&str; 6] = [
    "#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989",
];

/// TTFT p50 (y) against prompt tokens (x), one polyline per conversation, turns as points.
/// Missing turns are simply absent from the line (their reasons are in the table).
pub fn scaling_chart(convs: &[ConversationScaling]) -> String {
    const W: f64 = 560.0;
    const H: f64 = 240.0;
    const L: f64 = 60.0;
    const B: f64 = 36.0;
    const T: f64 = 24.0;
    const LEGEND_W: f64 = 260.0;
    let series: Vec<(String, Vec<(f64, f64)>)> = convs
        .iter()
        .map(|c| {
            (
                format!("{} · {} · {}", c.target, c.variant, c.case),
                c.by_turn
                    .iter()
                    .filter_map(|p| Some((p.prompt_tokens?, p.ttft_ms?.p50)))
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, pts)| !pts.is_empty())
        .collect();
    if series.is_empty() {
        return String::new();
    }
    let all = series.iter().flat_map(|(_, p)| p);
    let (mut xmax, mut ymax) = (0.0f64, 0.0f64);
    for (x, y) in all {
        xmax = xmax.max(*x);
        ymax = ymax.max(*y);
    }
    let sx = if xmax > 0.0 {
        (W - L - 10.0) / xmax
    } else {
        0.0
    };
    let sy = if ymax > 0.0 { (H - T - B) / ymax } else { 0.0 };
    let px = |x: f64| L + x * sx;
    let py = |y: f64| H - B - y * sy;
    let total_w = W + LEGEND_W;
    let legend_h = T + 16.0 * series.len() as f64;
    let total_h = H.max(legend_h);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total_w:.0}\" height=\"{total_h:.0}\" viewBox=\"0 0 {total_w:.0} {total_h:.0}\" role=\"img\" aria-label=\"Multi-turn TTFT against prompt tokens\">"
    );
    o.push_str("<text x=\"0\" y=\"14\" font-weight=\"bold\">Multi-turn TTFT p50 (ms) against prompt tokens</text>\n");
    let _ = writeln!(
        o,
        "<line x1=\"{L}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#1b1f24\"/><line x1=\"{L}\" y1=\"{T}\" x2=\"{L}\" y2=\"{:.1}\" stroke=\"#1b1f24\"/>",
        H - B,
        W - 10.0,
        H - B,
        H - B
    );
    let _ = writeln!(
        o,
        "<text x=\"{L}\" y=\"{:.1}\">0</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{:.0} tokens</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{} ms</text>",
        H - B + 14.0,
        W - 10.0,
        H - B + 14.0,
        xmax,
        L - 4.0,
        T + 8.0,
        num(Some(ymax))
    );
    for (i, (label, pts)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let path: Vec<String> = pts
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let _ = writeln!(
            o,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>",
            path.join(" ")
        );
        for (x, y) in pts {
            let _ = writeln!(
                o,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{color}\"><title>{} · {x:.0} tokens · {} ms</title></circle>",
                px(*x),
                py(*y),
                html(label),
                num(Some(*y))
            );
        }
        let ly = T + 16.0 * i as f64;
        let _ = writeln!(
            o,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            W + 4.0,
            ly,
            W + 18.0,
            ly + 9.0,
            html(label)
        );
    }
    o.push_str("</svg>\n");
    o
}

#[derive(Serialize)]
struct CsvRow<'a> {
    section: &'a str,
    target: std::borrow::Cow<'a, str>,
    group: String,
    turn: String,
    metric: &'a str,
    unit: &'a str,
    n: String,
    p50: String,
    p90: String,
    p95: String,
    p99: String,
    mean: String,
    min: String,
    max: String,
    value: String,
    note: String,
}

fn f(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| format!("{v:.3}"))
}

fn dist_row<'a>(
    section: &'a str,
    target: &'a str,
    group: &str,
    turn: Option<u32>,
    metric: &'a str,
    unit: &'a str,
    d: &Dist,
) -> CsvRow<'a> {
    CsvRow {
        section,
        // Text cells are neutralised as in results.csv (no spreadsheet formulas).
        target: cell(target),
        group: cell(group).into_owned(),
        turn: turn.map_or_else(String::new, |t| t.to_string()),
        metric,
        unit,
        n: d.n.to_string(),
        p50: f(Some(d.p50)),
        p90: f(Some(d.p90)),
        p95: f(Some(d.p95)),
        p99: f(Some(d.p99)),
        mean: f(Some(d.mean)),
        min: f(Some(d.min)),
        max: f(Some(d.max)),
        value: String::new(),
        note: String::new(),
    }
}

// One argument per CSV column keeps the call sites readable as rows.
#[allow(clippy::too_many_arguments)]
fn value_row<'a>(
    section: &'a str,
    target: &'a str,
    group: &str,
    turn: Option<u32>,
    metric: &'a str,
    unit: &'a str,
    value: String,
    note: String,
) -> CsvRow<'a> {
    CsvRow {
        section,
        // Text cells are neutralised as in results.csv (no spreadsheet formulas).
        target: cell(target),
        group: cell(group).into_owned(),
        turn: turn.map_or_else(String::new, |t| t.to_string()),
        metric,
        unit,
        n: String::new(),
        p50: String::new(),
        p90: String::new(),
        p95: String::new(),
        p99: String::new(),
        mean: String::new(),
        min: String::new(),
        max: String::new(),
        value,
        note: cell(&note).into_owned(),
    }
}

/// `latency.csv`: one row per (section, target, group, turn, metric). Sections: `variant`,
/// `category` (distributions), `throughput`, `turn` (multi-turn TTFT and prompt tokens per
/// turn) and `scaling` (slope per conversation). Missing TTFTs are rows of their own
/// (`metric = ttft_missing`, count in `value`, reason in `note`), never zeros.
pub fn render_latency_csv(s: &Summary) -> Vec<u8> {
    let l = &s.latency;
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut rows: Vec<CsvRow<'_>> = Vec::new();
    for (section, list) in [("variant", &l.by_variant), ("category", &l.by_category)] {
        for r in list.iter() {
            for (name, unit, d) in row_metrics(r) {
                if let Some(d) = d {
                    rows.push(dist_row(section, &r.target, &r.group, None, name, unit, d));
                }
            }
            for m in &r.ttft_missing {
                rows.push(value_row(
                    section,
                    &r.target,
                    &r.group,
                    None,
                    "ttft_missing",
                    "requests",
                    m.count.to_string(),
                    m.kind.clone(),
                ));
            }
        }
    }
    throughput_csv_rows(l, &mut rows);
    scaling_csv_rows(l, &mut rows);
    for r in rows {
        w.serialize(r).expect("in-memory CSV write");
    }
    w.into_inner().expect("in-memory CSV flush")
}

/// Per target × variant: requests, output tokens, window and throughputs.
fn throughput_csv_rows<'a>(l: &'a LatencySummary, rows: &mut Vec<CsvRow<'a>>) {
    for t in &l.throughput {
        rows.push(value_row(
            "throughput",
            &t.target,
            &t.variant,
            None,
            "requests",
            "count",
            t.requests.to_string(),
            String::new(),
        ));
        rows.push(value_row(
            "throughput",
            &t.target,
            &t.variant,
            None,
            "output_tokens",
            "tokens",
            t.output_tokens.to_string(),
            String::new(),
        ));
        for (metric, unit, v) in [
            ("window", "s", t.window_s),
            ("output_throughput", "tok/s", t.output_tok_s),
            ("request_throughput", "req/s", t.requests_s),
        ] {
            rows.push(value_row(
                "throughput",
                &t.target,
                &t.variant,
                None,
                metric,
                unit,
                f(v),
                if v.is_none() {
                    "no trial start times".into()
                } else {
                    String::new()
                },
            ));
        }
    }
}

/// Per target × variant × conversation: the TTFT slope over prompt length, then each turn's
/// TTFT, prompt tokens and missing TTFTs.
fn scaling_csv_rows<'a>(l: &'a LatencySummary, rows: &mut Vec<CsvRow<'a>>) {
    for c in &l.scaling {
        let group = format!("{} {}", c.variant, c.case);
        let group = group.as_str();
        rows.push(value_row(
            "scaling",
            &c.target,
            group,
            None,
            "ttft_slope",
            "ms/1k prompt tokens",
            f(c.slope_ms_per_1k_tokens),
            format!("{} points, {} turns", c.points, c.turns),
        ));
        for p in &c.by_turn {
            if let Some(d) = &p.ttft_ms {
                rows.push(dist_row(
                    "turn",
                    &c.target,
                    group,
                    Some(p.turn),
                    "TTFT",
                    "ms",
                    d,
                ));
            }
            rows.push(value_row(
                "turn",
                &c.target,
                group,
                Some(p.turn),
                "prompt_tokens",
                "tokens",
                f(p.prompt_tokens),
                String::new(),
            ));
            for m in &p.missing {
                rows.push(value_row(
                    "turn",
                    &c.target,
                    group,
                    Some(p.turn),
                    "ttft_missing",
                    "requests",
                    m.count.to_string(),
                    m.kind.clone(),
                ));
            }
        }
    }
}

/// The table `toolgate latency` prints at the end: per target × variant, every metric with n.
pub fn render_text(s: &Summary) -> String {
    let l = &s.latency;
    let mut o = String::new();
    if l.by_variant.is_empty() {
        o.push_str("no measured requests (every trial was warmup or an infra error)\n");
        return o;
    }
    let _ = writeln!(
        o,
        "{:<24} {:<16} {:<20} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "target", "variant", "metric", "n", "p50", "p90", "p95", "p99", "mean", "min", "max"
    );
    for r in &l.by_variant {
        for (name, unit, d) in row_metrics(r) {
            let Some(d) = d else { continue };
            let _ = writeln!(
                o,
                "{:<24} {:<16} {:<20} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                r.target,
                r.group,
                format!("{name} {unit}"),
                d.n,
                num(Some(d.p50)),
                num(Some(d.p90)),
                num(Some(d.p95)),
                num(Some(d.p99)),
                num(Some(d.mean)),
                num(Some(d.min)),
                num(Some(d.max))
            );
        }
        if !r.ttft_missing.is_empty() {
            let _ = writeln!(
                o,
                "{:<24} {:<16} TTFT missing: {}",
                r.target,
                r.group,
                missing_text(&r.ttft_missing)
            );
        }
    }
    for t in &l.throughput {
        let _ = writeln!(
            o,
            "{:<24} {:<16} throughput: {} requests, {} output tokens in {} s = {} tok/s, {} req/s",
            t.target,
            t.variant,
            t.requests,
            t.output_tokens,
            opt3(t.window_s),
            num(t.output_tok_s),
            opt3(t.requests_s)
        );
    }
    for c in &l.scaling {
        let turns: Vec<String> = c
            .by_turn
            .iter()
            .map(|p| match &p.ttft_ms {
                Some(d) => format!(
                    "{}:{}ms@{}tok",
                    p.turn,
                    num(Some(d.p50)),
                    p.prompt_tokens.map_or("?".into(), |v| format!("{v:.0}"))
                ),
                None => format!("{}:missing({})", p.turn, missing_text(&p.missing)),
            })
            .collect();
        let _ = writeln!(
            o,
            "{:<24} {:<16} {} ({} turns): slope {} ms/1k prompt tokens; TTFT p50 by turn {}",
            c.target,
            c.variant,
            c.case,
            c.turns,
            opt3(c.slope_ms_per_1k_tokens),
            turns.join(" ")
        );
    }
    let _ = writeln!(
        o,
        "excluded: {} warmup, {} infra-error trial(s)",
        l.excluded_warmup, l.excluded_errors
    );
    if let Some(t) = side_by_side(s) {
        let _ = writeln!(o, "\nside by side (p50 of measured requests):");
        o.push_str(&toolgate_core::text::terminal_lines(&side_by_side_text(&t)));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolgate_core::record::TurnRecord;

    #[test]
    fn least_squares_recovers_a_line_and_refuses_one_x() {
        let pts = [(100.0, 30.0), (1100.0, 80.0), (2100.0, 130.0)];
        let (a, b) = least_squares(&pts).unwrap();
        assert!((b * 1000.0 - 50.0).abs() < 1e-9, "slope {b}");
        assert!((a - 25.0).abs() < 1e-9, "intercept {a}");
        assert_eq!(least_squares(&[(5.0, 1.0), (5.0, 9.0)]), None);
        assert_eq!(least_squares(&[(5.0, 1.0)]), None);
    }

    #[test]
    fn tpot_and_missing_reason() {
        let mut t = TurnMeta::from_record(&TurnRecord::default());
        t.timing.ttft_ms = Some(100.0);
        t.timing.last_token_ms = Some(200.0);
        t.timing.completion_tokens = Some(11);
        assert_eq!(tpot_ms(&t), Some(10.0));
        assert_eq!(missing_reason(&t), None);
        t.timing.ttft_ms = None;
        assert_eq!(tpot_ms(&t), None);
        assert_eq!(missing_reason(&t).as_deref(), Some("no TTFT recorded"));
        t.timing.ttft_missing = Some("non-streaming response".into());
        assert_eq!(
            missing_reason(&t).as_deref(),
            Some("non-streaming response")
        );
    }

    #[test]
    fn server_figures_from_llamacpp_timings() {
        let t = TurnMeta::from_record(&TurnRecord {
            server_timings: Some(
                serde_json::json!({"predicted_per_second": 42.5, "prompt_ms": 12.0, "n": 3}),
            ),
            ..Default::default()
        });
        assert_eq!(server_decode_tps(&t), Some(42.5));
        assert_eq!(server_prompt_ms(&t), Some(12.0));
    }

    #[test]
    fn timestamps_parse_with_sub_millisecond_precision() {
        let a = ts_ms("2026-01-01T00:00:00.0005Z").unwrap();
        let b = ts_ms("2026-01-01T00:00:01.25Z").unwrap();
        assert!((b - a - 1249.5).abs() < 1e-6, "{}", b - a);
        assert_eq!(ts_ms("[time]"), None);
    }

    #[test]
    fn latency_csv_text_cells_cannot_be_formulas() {
        let r = value_row(
            "throughput",
            "=cmd|' /C calc'!A0",
            "@SUM(A1)",
            None,
            "window",
            "s",
            "-1.5".into(),
            "+x".into(),
        );
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(r).unwrap();
        let out = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let row = out.lines().nth(1).unwrap();
        assert!(
            row.contains("'=cmd") && row.contains("'@SUM") && row.contains("'+x"),
            "{row}"
        );
        // Numbers are not text cells: a negative value stays a number.
        assert!(row.contains(",-1.5,"), "{row}");
    }

    /// Prefill counts only the prompt tokens the server processed: cached ones cost nothing
    /// (llama.cpp's prompt cache, vLLM's prefix cache), and a fully cached prompt has none.
    #[test]
    fn prefill_leaves_out_cached_prompt_tokens() {
        let t: TurnMeta = serde_json::from_value(serde_json::json!({
            "turn": 0,
            "timing": {"ttft_ms": 500.0, "prompt_tokens": 3700, "e2e_ms": 900.0},
            "usage": {"prompt_tokens": 3700, "prompt_tokens_details": {"cached_tokens": 3200}}
        }))
        .unwrap();
        assert_eq!(t.cached_tokens, Some(3200));
        assert_eq!(prefill_tps(&t), Some(1000.0));
        let mut all = t.clone();
        all.cached_tokens = Some(3700);
        assert_eq!(prefill_tps(&all), None);
        let odd: TurnMeta = serde_json::from_value(
            serde_json::json!({"turn": 0, "usage": {"prompt_tokens_details": 7}}),
        )
        .unwrap();
        assert_eq!(odd.cached_tokens, None);
    }

    #[test]
    fn advantage_names_the_winner_and_calls_near_ties_equal() {
        let t = vec!["a".to_string(), "b".to_string()];
        assert_eq!(advantage(&[Some(11.1), Some(67.3)], &t, true), "6.1x b");
        assert_eq!(advantage(&[Some(222.5), Some(215.0)], &t, true), "~equal");
        assert_eq!(advantage(&[Some(59.8), Some(39.1)], &t, false), "1.5x b");
        assert_eq!(advantage(&[Some(1.0), None], &t, true), "–");
        assert_eq!(thousands(1869.14, 1), "1,869.1");
        assert_eq!(thousands(624.5, 1), "624.5");
        assert_eq!(thousands(1234567.0, 0), "1,234,567");
    }
}
