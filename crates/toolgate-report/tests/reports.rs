//! Renderer snapshots (stable redaction) and structural checks of each format.

mod common;

use common::load;
use toolgate_core::record::Verdict;
use toolgate_report::render::{
    render_csv, render_html, render_json, render_junit, render_markdown,
};
use toolgate_report::{summarize, write_reports, Format, RenderOptions};

const STABLE: RenderOptions = RenderOptions {
    stable: true,
    csv_bom: false,
};

#[test]
fn snapshots_base_all_formats() {
    let run = load("base");
    insta::assert_snapshot!("base_report_md", render_markdown(&run, &STABLE));
    insta::assert_snapshot!("base_report_json", render_json(&run, &STABLE));
    insta::assert_snapshot!(
        "base_results_csv",
        String::from_utf8(render_csv(&run, &STABLE)).unwrap()
    );
    insta::assert_snapshot!("base_junit_xml", render_junit(&run, &STABLE));
    insta::assert_snapshot!("base_report_html", render_html(&run, &STABLE));
}

#[test]
fn snapshots_cand_and_incomplete() {
    let cand = load("cand");
    insta::assert_snapshot!("cand_report_md", render_markdown(&cand, &STABLE));
    let inc = load("incomplete");
    insta::assert_snapshot!("incomplete_report_md", render_markdown(&inc, &STABLE));
    insta::assert_snapshot!("incomplete_report_json", render_json(&inc, &STABLE));
    insta::assert_snapshot!("incomplete_junit_xml", render_junit(&inc, &STABLE));
}

/// Unredacted: the fixture's latency numbers are fixed, so the real statistics are pinned too.
#[test]
fn snapshot_unredacted_markdown_keeps_latency() {
    let run = load("base");
    let md = render_markdown(&run, &RenderOptions::default());
    assert!(md.contains("| qwen3-8b | thinking=on | TTFT-content | ms |"));
    insta::assert_snapshot!("base_report_md_unredacted", md);
}

#[test]
fn summary_counts_match_the_fixture() {
    let s = summarize(&load("base"));
    // 36 graded: 26 pass, 9 fail, 1 timeout error (never in the denominator).
    assert_eq!(
        (
            s.totals.passed,
            s.totals.failed,
            s.totals.errors,
            s.totals.judged
        ),
        (26, 9, 1, 35)
    );
    assert_eq!(s.totals.accuracy.value, Some(26.0 / 35.0));
    let g = s
        .groups
        .iter()
        .find(|g| g.suite == "voice-3tool" && g.variant == "thinking=off")
        .unwrap();
    assert_eq!((g.counts.passed, g.counts.judged), (8, 12));
    assert_eq!(g.flaky, vec!["entity-ananya", "greeting"]);
    let r = g.repeats.as_ref().unwrap();
    // Cases (n=2): 4 all-pass, 2 half (flaky), 1 all-fail (entity-arun); pass@2 = 5/6 over 6.
    assert_eq!(r.k, 2);
    assert_eq!(r.cases, 6);
    assert!((r.pass_at_k - 5.0 / 6.0).abs() < 1e-12);
    assert!((r.pass_hat_k - 3.0 / 6.0).abs() < 1e-12);
    let c = g.confusion.as_ref().unwrap();
    let row = c
        .rows
        .iter()
        .position(|r| r == "get_entity_details")
        .unwrap();
    let col = |name: &str| c.columns.iter().position(|c| c == name).unwrap();
    assert_eq!(
        c.counts[row][col("none")],
        2,
        "entity-arun answered in text twice"
    );
    assert_eq!(c.counts[row][col("search_memory")], 1);
    assert_eq!(c.counts[row][col("get_entity_details")], 1);
    let nc = c.rows.iter().position(|r| r == "(no call)").unwrap();
    assert_eq!(c.counts[nc][col("web_search")], 1);

    let tool = s
        .tools
        .iter()
        .find(|t| t.tool == "get_entity_details")
        .unwrap();
    assert_eq!((tool.accuracy.successes, tool.accuracy.n), (4, 8));

    // Extraction, thinking=off: both kn-meeting-notes repeats missed Bengaluru.
    let e = s
        .extraction
        .iter()
        .find(|e| e.variant == "thinking=off")
        .unwrap();
    assert_eq!(e.missed[0].kind, "Bengaluru");
    assert_eq!(e.missed[0].count, 2);
    // Micro: tp = 2+2+3+3 = 10, fn = 2 → recall 10/12, precision 1.
    assert!((e.micro.recall - 10.0 / 12.0).abs() < 1e-12);
    assert_eq!(e.micro.precision, 1.0);

    // Latency excludes the warmup trial and the timeout.
    assert_eq!(s.latency.excluded_warmup, 1);
    assert_eq!(s.latency.excluded_errors, 1);
    let turns: Vec<u32> = s.latency.by_turn.iter().map(|t| t.turn).collect();
    assert_eq!(turns, vec![0, 1, 2, 0, 1, 2]);
    let off = s
        .latency
        .by_variant
        .iter()
        .find(|r| r.group == "thinking=off")
        .unwrap();
    // 12 voice (one per trial) + 4 extraction + 2×3 conversation turns = 22 requests.
    assert_eq!(off.requests, 22);
    assert_eq!(off.ttft_ms.unwrap().n, 22);
    assert!(s
        .cases
        .iter()
        .any(|c| c.verdict == Verdict::Error && c.failure.as_deref() == Some("timeout")));
}

#[test]
fn incomplete_run_is_flagged_everywhere() {
    let run = load("incomplete");
    assert!(run.is_incomplete());
    assert!(
        run.notes
            .iter()
            .any(|n| n.contains("responses.jsonl:10: torn")),
        "{:?}",
        run.notes
    );
    let md = render_markdown(&run, &STABLE);
    assert!(md.lines().next().unwrap().contains("INCOMPLETE"));
    assert!(render_html(&run, &STABLE).contains("INCOMPLETE"));
    let json: serde_json::Value = serde_json::from_str(&render_json(&run, &STABLE)).unwrap();
    assert_eq!(json["run"]["complete"], false);
    assert_eq!(json["schema_version"], 1);
}

#[test]
fn complete_run_first_line_has_no_incomplete_marker() {
    let md = render_markdown(&load("base"), &STABLE);
    assert!(!md.lines().next().unwrap().contains("INCOMPLETE"));
}

#[test]
fn csv_one_row_per_trial_with_optional_bom() {
    let run = load("base");
    let plain = render_csv(&run, &STABLE);
    assert!(!plain.starts_with(b"\xEF\xBB\xBF"));
    let bom = render_csv(
        &run,
        &RenderOptions {
            stable: true,
            csv_bom: true,
        },
    );
    assert!(bom.starts_with(b"\xEF\xBB\xBF"));
    assert_eq!(&bom[3..], &plain[..]);
    let mut rd = csv::Reader::from_reader(&plain[..]);
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 36);
    let text = String::from_utf8(plain).unwrap();
    assert!(text.contains("kn-memory-priya"));
    assert!(text.contains("ಬಿಡುಗಡೆ"), "Kannada survives CSV quoting");
}

#[test]
fn html_is_self_contained_and_utf8() {
    let html = render_html(&load("cand"), &STABLE);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<meta charset=\"utf-8\">"));
    for banned in ["<link", " src=", "href=", "@import", "url("] {
        assert!(!html.contains(banned), "external resource marker {banned}");
    }
    // The only URL-like strings are the SVG namespace and recorded base URLs in data.
    for (i, _) in html.match_indices("http") {
        let tail = &html[i..(i + 40).min(html.len())];
        assert!(
            tail.starts_with("http://www.w3.org/2000/svg") || tail.starts_with("http://127.0.0.1"),
            "unexpected URL: {tail}"
        );
    }
    assert!(html.contains("ಪ್ರಿಯಾ"));
    assert!(html.contains("<svg"));
    assert!(html.contains("<details><summary>response</summary>"));
    assert_eq!(html.matches("<script>").count(), 1);
}

#[test]
fn write_reports_writes_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let run = load("base");
    write_reports(&run, dir.path(), &Format::ALL, &STABLE).unwrap();
    for f in Format::ALL {
        let p = dir.path().join(f.file_name());
        let bytes = std::fs::read(&p).unwrap();
        assert!(!bytes.is_empty(), "{}", p.display());
    }
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert_eq!(md, render_markdown(&run, &STABLE));
    assert_eq!(
        Format::parse_list("md, json,html").unwrap(),
        vec![Format::Markdown, Format::Json, Format::Html]
    );
    assert!(Format::parse_list("md,pdf").unwrap_err().contains("pdf"));
}

#[test]
fn stable_output_is_independent_of_times_and_versions() {
    let a = load("base");
    let mut b = a.clone();
    b.manifest.started_at = "2030-01-01T00:00:00Z".into();
    b.manifest.toolgate_version = "9.9.9".into();
    b.dir = "/somewhere/else".into();
    for r in &mut b.responses {
        for t in &mut r.turns {
            t.timing.ttft_ms = t.timing.ttft_ms.map(|x| x * 3.0);
            t.timing.e2e_ms += 17.0;
        }
    }
    for f in Format::ALL {
        assert_eq!(
            toolgate_report::render(&a, f, &STABLE),
            toolgate_report::render(&b, f, &STABLE),
            "{f:?}"
        );
    }
    // And without redaction they differ, so the test can fail.
    assert_ne!(
        render_markdown(&a, &RenderOptions::default()),
        render_markdown(&b, &RenderOptions::default())
    );
}
