//! Report renderers: one function per format, plus [`write_reports`] for the run folder.

mod csv_out;
mod html;
mod junit;
mod markdown;

pub use csv_out::render_csv;
pub use html::render_html;
pub use junit::render_junit;
pub use markdown::render_markdown;

use crate::redact::redact;
use crate::run::RunData;
use crate::summary::{summarize, summarize_with, Summary, Trials};
use std::borrow::Cow;
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
            out.write_all(markdown::markdown_from_summary(s(), opts.stable).as_bytes())
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
