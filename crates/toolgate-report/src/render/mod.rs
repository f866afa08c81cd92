//! Report renderers: one function per format, plus [`write_reports`] for the run folder.

mod case_view;
mod compare_html;
mod compare_md;
mod compare_view;
pub(crate) mod csv_out;
mod decisions;
mod glance;
mod html;
mod junit;
mod markdown;
pub(crate) mod trial_html;

pub use compare_html::render_compare_html;
pub use compare_md::render_compare_md;
pub use compare_view::{write_compare_views, COMPARE_HTML, COMPARE_MD};
pub use csv_out::render_csv;
pub(crate) use decisions::rate;
pub use html::render_html;
pub use junit::render_junit;
pub use markdown::render_markdown;

use crate::redact::redact;
use crate::run::RunData;
use crate::summary::{summarize, summarize_with, RunFacts, Summary, Trials};
use crate::text::{code, escape, num3, pct, pct_ci, ratio, Markup, Table};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::Path;

/// The report formats of `toolgate report --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    Markdown,
    Json,
    Csv,
    Junit,
    Html,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Markdown,
        Format::Json,
        Format::Csv,
        Format::Junit,
        Format::Html,
    ];

    /// The file written in the run folder.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Markdown => "report.md",
            Format::Json => "report.json",
            Format::Csv => "results.csv",
            Format::Junit => "junit.xml",
            Format::Html => "report.html",
        }
    }

    /// `md`, `json`, `csv`, `junit`, `html` (also `markdown`, `xml`).
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "md" | "markdown" => Some(Format::Markdown),
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "junit" | "xml" => Some(Format::Junit),
            "html" => Some(Format::Html),
            _ => None,
        }
    }

    /// A comma-separated list; the error names the first unknown entry.
    pub fn parse_list(s: &str) -> Result<Vec<Format>, String> {
        let mut out = Vec::new();
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let f = Format::parse(part).ok_or_else(|| {
                format!("unknown report format `{part}` (expected md, json, csv, junit, html)")
            })?;
            if !out.contains(&f) {
                out.push(f);
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// Redact times, durations, paths and versions ([`crate::redact`]), as `--stable-output`.
    pub stable: bool,
    /// Start `results.csv` with a UTF-8 byte-order mark so spreadsheet programs read Kannada
    /// correctly.
    pub csv_bom: bool,
}

/// The run as the renderers should see it: redacted when `opts.stable`.
pub(crate) fn prepared<'a>(run: &'a RunData, opts: &RenderOptions) -> Cow<'a, RunData> {
    if opts.stable {
        Cow::Owned(redact(run))
    } else {
        Cow::Borrowed(run)
    }
}

pub(crate) const STABLE_NOTE: &str =
    "Stable output: times, durations, paths and versions are redacted.";

/// `report.json`: the [`Summary`], pretty-printed, with a trailing newline.
pub fn render_json(run: &RunData, opts: &RenderOptions) -> String {
    let run = prepared(run, opts);
    summary_json(&summarize(&run))
}

/// One format's file from an already prepared (redacted when stable) run: the per-trial
/// formats (`results.csv`, `junit.xml`) are streamed from `trials` and need no summary;
/// the others are rendered from the summary, computed once for all of them.
fn write_prepared(
    run: &RunData,
    trials: &Trials<'_>,
    s: Option<&Summary>,
    format: Format,
    opts: &RenderOptions,
    mut out: impl io::Write,
) -> io::Result<()> {
    let s = || s.expect("a summary for the summary formats");
    match format {
        Format::Csv => csv_out::write_csv(trials, opts, out),
        Format::Junit => junit::write_junit(run, trials, out),
        Format::Markdown => {
            out.write_all(markdown::markdown_from_summary(run, trials, s(), opts.stable).as_bytes())
        }
        Format::Json => {
            // Streamed: the same bytes as `summary_json`, without the whole text in memory.
            let mut w = io::BufWriter::with_capacity(1 << 16, out);
            serde_json::to_writer_pretty(&mut w, s())?;
            w.write_all(b"\n")?;
            w.flush()
        }
        Format::Html => out.write_all(html::html_prepared(run, trials, s(), opts).as_bytes()),
    }
}

/// True for the formats written from the trials alone.
fn per_trial(f: Format) -> bool {
    matches!(f, Format::Csv | Format::Junit)
}

pub fn summary_json(s: &Summary) -> String {
    let mut out = serde_json::to_string_pretty(s).expect("summary serialises");
    out.push('\n');
    out
}

/// One format's bytes.
pub fn render(run: &RunData, format: Format, opts: &RenderOptions) -> Vec<u8> {
    match format {
        Format::Markdown => render_markdown(run, opts).into_bytes(),
        Format::Json => render_json(run, opts).into_bytes(),
        Format::Csv => render_csv(run, opts),
        Format::Junit => render_junit(run, opts).into_bytes(),
        Format::Html => render_html(run, opts).into_bytes(),
    }
}

/// Writes each format's file into `dir` (the run folder, usually). Each file is written to
/// a temporary name and renamed, so a reader never sees half a report.
pub fn write_reports(
    run: &RunData,
    dir: &Path,
    formats: &[Format],
    opts: &RenderOptions,
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let run = prepared(run, opts);
    let trials = Trials::new(&run);
    let write = |f: Format, s: Option<&Summary>| -> io::Result<()> {
        let path = dir.join(f.file_name());
        let tmp = dir.join(format!(".{}.tmp", f.file_name()));
        write_prepared(&run, &trials, s, f, opts, std::fs::File::create(&tmp)?)?;
        std::fs::rename(&tmp, &path)
    };
    // The per-trial files are streamed on a second thread while this one summarises and
    // renders the rest: the two halves take about as long, and neither depends on the other.
    std::thread::scope(|scope| {
        let streamed = formats.iter().any(|&f| per_trial(f)).then(|| {
            scope.spawn(|| {
                formats
                    .iter()
                    .filter(|&&f| per_trial(f))
                    .try_for_each(|&f| write(f, None))
            })
        });
        let rest = (|| {
            let s = summarize_with(&run, &trials);
            for &f in formats.iter().filter(|&&f| !per_trial(f)) {
                write(f, Some(&s))?;
            }
            // latency.csv rides with the CSV format, and only when the run measured latency.
            if formats.contains(&Format::Csv) && !s.latency.by_variant.is_empty() {
                let tmp = dir.join(format!(".{LATENCY_CSV}.tmp"));
                std::fs::write(&tmp, crate::latency::render_latency_csv(&s))?;
                std::fs::rename(&tmp, dir.join(LATENCY_CSV))?;
            }
            Ok(())
        })();
        let streamed = match streamed {
            Some(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            None => Ok(()),
        };
        rest.and(streamed)
    })
}

/// The latency table file written beside `results.csv` (see [`crate::latency`]).
pub const LATENCY_CSV: &str = "latency.csv";

/// The "Run facts" section, the same in `report.md` and `report.html`: the run's identity,
/// completeness and notes, then its targets, suites and prompts.
pub(crate) fn run_facts(o: &mut String, s: &Summary, m: Markup) {
    let r = &s.run;
    run_fact_list(o, r, m);
    // Markdown puts a blank line before each table; HTML needs none.
    let gap = |o: &mut String| {
        if m == Markup::Markdown {
            o.push('\n');
        }
    };
    if !r.targets.is_empty() {
        gap(o);
        targets_table(o, r, m);
    }
    if !r.suites.is_empty() {
        gap(o);
        suites_table(o, r, m);
    }
    if !r.prompts.is_empty() {
        gap(o);
        prompts_table(o, r, m);
    }
}

/// The run's identity, completeness and notes, as a list.
fn run_fact_list(o: &mut String, r: &RunFacts, m: Markup) {
    let strong = |t: &str| match m {
        Markup::Markdown => format!("**{t}**"),
        Markup::Html => format!("<strong>{t}</strong>"),
    };
    let items = [
        format!("run: {} in {}", code(m, &r.run_id), code(m, &r.dir)),
        format!(
            "toolgate {} · grader {}",
            escape(m, &r.toolgate_version),
            escape(m, &r.grader_versions.join(", "))
        ),
        format!(
            "started {} · finished {}",
            escape(m, &r.started_at),
            escape(m, r.finished_at.as_deref().unwrap_or("–"))
        ),
        format!(
            "complete: {} · planned {} · recorded {} · graded {} · warmup {} · repeats {}",
            if r.complete {
                "yes".into()
            } else {
                strong("no")
            },
            r.planned_trials,
            r.recorded_trials,
            r.graded_trials,
            r.warmup_trials,
            r.repeats
        ),
        format!("variants: {}", escape(m, &r.variants.join(", "))),
    ];
    let notes = r.notes.iter().map(|n| format!("note: {}", escape(m, n)));
    match m {
        Markup::Markdown => {
            o.push_str("\n## Run facts\n\n");
            for it in items.into_iter().chain(notes) {
                let _ = writeln!(o, "- {it}");
            }
        }
        Markup::Html => {
            o.push_str("<h2>Run facts</h2>\n<ul>\n");
            for it in items.into_iter().chain(notes) {
                let _ = writeln!(o, "<li>{it}</li>");
            }
            o.push_str("</ul>\n");
        }
    }
}

/// A hash as code: short in Markdown (a table cell in a terminal), in full in HTML.
fn sha(m: Markup, h: &str) -> String {
    match m {
        Markup::Markdown => code(m, h.get(..12).unwrap_or(h)),
        Markup::Html => code(m, h),
    }
}

/// Each target's model, profile and base URL (and, in HTML, its metadata).
fn targets_table(o: &mut String, r: &RunFacts, m: Markup) {
    let mut cols = vec![
        ("target", false),
        ("model", false),
        ("profile", false),
        ("base URL", false),
    ];
    if m == Markup::Html {
        cols.push(("metadata", false));
    }
    let mut t = Table::new(o, m, &cols);
    for x in &r.targets {
        let meta = serde_json::to_string_pretty(&x.metadata).unwrap_or_default();
        t.row_with(
            &[
                x.name.as_str(),
                x.model.as_str(),
                x.profile.as_str(),
                x.base_url.as_str(),
                meta.as_str(),
            ][..cols.len()],
            |i, v| match i {
                4 => format!(
                    "<details><summary>show</summary><pre>{}</pre></details>",
                    escape(m, v)
                ),
                _ => escape(m, v),
            },
        );
    }
    t.end();
}

/// Each suite's kind, case count, file and hash.
fn suites_table(o: &mut String, r: &RunFacts, m: Markup) {
    let cols = [
        ("suite", false),
        ("kind", false),
        ("cases", true),
        ("file", false),
        ("sha256", false),
    ];
    let mut t = Table::new(o, m, &cols);
    for su in &r.suites {
        let cases = su.cases.to_string();
        let cells = [
            su.name.as_str(),
            su.kind.as_str(),
            &cases,
            su.path.as_str(),
            su.sha256.as_str(),
        ];
        t.row_with(&cells, |i, v| if i == 4 { sha(m, v) } else { escape(m, v) });
    }
    t.end();
}

/// Each prompt's suite and hash.
fn prompts_table(o: &mut String, r: &RunFacts, m: Markup) {
    let cols = [("prompt", false), ("suite", false), ("sha256", false)];
    let mut t = Table::new(o, m, &cols);
    for p in &r.prompts {
        t.row_with(
            &[p.name.as_str(), p.suite.as_str(), p.sha256.as_str()],
            |i, v| {
                if i == 2 {
                    sha(m, v)
                } else {
                    escape(m, v)
                }
            },
        );
    }
    t.end();
}

/// Accuracy per target × suite × prompt × variant (pass@k and pass^k when repeated).
pub(crate) fn results_table(o: &mut String, s: &Summary, m: Markup) {
    let any_repeats = s.groups.iter().any(|g| g.repeats.is_some());
    let mut cols = vec![
        ("target", false),
        ("suite", false),
        ("prompt", false),
        ("variant", false),
        ("passed", true),
        ("accuracy (95% CI)", false),
        ("errors", true),
    ];
    if any_repeats {
        cols.extend([("pass@k", true), ("pass^k", true)]);
    }
    cols.push(("flaky", false));
    let mut t = Table::new(o, m, &cols);
    for g in &s.groups {
        let mut cells = vec![
            g.target.clone(),
            g.suite.clone(),
            g.prompt.clone(),
            g.variant.clone(),
            ratio(&g.counts.accuracy),
            pct_ci(&g.counts.accuracy),
            g.counts.errors.to_string(),
        ];
        if any_repeats {
            match &g.repeats {
                Some(r) => cells.extend([
                    format!("{} (k={})", num3(r.pass_at_k), r.k),
                    num3(r.pass_hat_k),
                ]),
                None => cells.extend(["–".to_string(), "–".to_string()]),
            }
        }
        cells.push(if g.flaky.is_empty() {
            "–".to_string()
        } else {
            g.flaky.join(", ")
        });
        t.row(&cells);
    }
    t.end();
}

/// Accuracy per expected tool.
pub(crate) fn tools_table(o: &mut String, s: &Summary, m: Markup) {
    let cols = [
        ("expected tool", false),
        ("passed", true),
        ("accuracy (95% CI)", false),
    ];
    let mut t = Table::new(o, m, &cols);
    for x in &s.tools {
        let passed = ratio(&x.accuracy);
        let ci = pct_ci(&x.accuracy);
        t.row_with(&[x.tool.as_str(), &passed, &ci], |i, v| {
            if i == 0 {
                code(m, v)
            } else {
                escape(m, v)
            }
        });
    }
    t.end();
}

/// Argument-level rates per tool and argument, then the arguments that fail most. With several
/// targets each row is one target's (a `target` column leads).
pub(crate) fn arguments_table(o: &mut String, s: &Summary, m: Markup) {
    let several = s
        .arguments
        .iter()
        .any(|a| a.target != s.arguments[0].target);
    let cols = [
        ("target", false),
        ("suite", false),
        ("tool", false),
        ("argument", false),
        ("calls", true),
        ("given", true),
        ("hallucinated (not in schema)", true),
        ("missing (required)", true),
        ("wrong type", true),
        ("value accuracy (95% CI)", false),
    ];
    // The target column only when the run has several.
    let skip = usize::from(!several);
    let cols = &cols[skip..];
    let is_name = |i: usize| matches!(cols[i].0, "tool" | "argument");
    let rate = |k: u64, r: Option<f64>| match r {
        Some(r) if k > 0 => format!("{k} ({})", pct(Some(r))),
        Some(_) => "0".to_string(),
        None => "–".to_string(),
    };
    let mut t = Table::new(o, m, cols);
    for a in &s.arguments {
        let cells = [
            a.target.clone(),
            a.suite.clone(),
            a.tool.clone(),
            a.arg.clone(),
            a.calls.to_string(),
            a.given.to_string(),
            rate(a.given, a.hallucinated_rate),
            rate(a.missing, a.missing_rate),
            rate(a.wrong_type, a.wrong_type_rate),
            if a.value_accuracy.n == 0 {
                "–".to_string()
            } else {
                format!(
                    "{} · {}",
                    ratio(&a.value_accuracy),
                    pct_ci(&a.value_accuracy)
                )
            },
        ];
        let cells: Vec<&str> = cells[skip..].iter().map(String::as_str).collect();
        t.row_with(
            &cells,
            |i, v| {
                if is_name(i) {
                    code(m, v)
                } else {
                    escape(m, v)
                }
            },
        );
    }
    t.end();
    let mut worst: Vec<&crate::summary::ArgRates> =
        s.arguments.iter().filter(|a| a.failures > 0).collect();
    worst.sort_by(|a, b| b.failures.cmp(&a.failures).then(a.tool.cmp(&b.tool)));
    if worst.is_empty() {
        return;
    }
    let named: Vec<String> = worst
        .iter()
        .take(3)
        .map(|a| {
            let name = if several {
                format!("{}.{} ({}, {})", a.tool, a.arg, a.target, a.suite)
            } else {
                format!("{}.{} ({})", a.tool, a.arg, a.suite)
            };
            let what = if !a.in_schema {
                "not in the schema".to_string()
            } else {
                let mut parts = Vec::new();
                let wrong_value = a.value_accuracy.n - a.value_accuracy.successes;
                for (k, word) in [
                    (wrong_value, "wrong value"),
                    (a.missing, "missing"),
                    (a.wrong_type, "wrong type"),
                ] {
                    if k > 0 {
                        parts.push(format!("{word} ×{k}"));
                    }
                }
                parts.join(", ")
            };
            let n = a.failures;
            let plural = if n == 1 { "" } else { "s" };
            format!("{} ({what}; {n} failure{plural})", code(m, &name))
        })
        .collect();
    let text = format!("Fails most: {}.", named.join("; "));
    let _ = match m {
        Markup::Markdown => writeln!(o, "\n{text}"),
        Markup::Html => writeln!(o, "<p>{text}</p>"),
    };
}

/// Entity extraction: micro and macro P / R / F1, and what was missed or invented.
pub(crate) fn extraction_table(o: &mut String, s: &Summary, m: Markup) {
    let cols = [
        ("target", false),
        ("suite", false),
        ("prompt", false),
        ("variant", false),
        ("scored", true),
        ("micro P / R / F1", false),
        ("macro P / R / F1", false),
        ("missed", false),
        ("spurious", false),
    ];
    let names = |v: &[crate::summary::KindCount]| {
        if v.is_empty() {
            "–".to_string()
        } else {
            v.iter()
                .map(|k| format!("{} ×{}", k.kind, k.count))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let mut t = Table::new(o, m, &cols);
    for e in &s.extraction {
        t.row(&[
            e.target.clone(),
            e.suite.clone(),
            e.prompt.clone(),
            e.variant.clone(),
            if e.unscored > 0 {
                format!("{} (+{} unscored)", e.scored, e.unscored)
            } else {
                e.scored.to_string()
            },
            format!(
                "{} / {} / {}",
                num3(e.micro.precision),
                num3(e.micro.recall),
                num3(e.micro.f1)
            ),
            format!(
                "{} / {} / {}",
                num3(e.macro_avg.precision),
                num3(e.macro_avg.recall),
                num3(e.macro_avg.f1)
            ),
            names(&e.missed),
            names(&e.spurious),
        ]);
    }
    t.end();
}
