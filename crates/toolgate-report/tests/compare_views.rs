//! `compare.md` and `compare.html` (issue 19): the changed cases between the two fixture
//! runs, regressions first, each with both runs' answers and diagnoses.

mod common;

use common::load;
use toolgate_report::{
    compare, render_compare_html, render_compare_md, write_compare_views, CompareOptions,
    COMPARE_HTML, COMPARE_MD,
};

#[test]
fn compare_md_snapshot() {
    let (base, cand) = (load("base"), load("cand"));
    let opts = CompareOptions::default();
    let c = compare(&base, &cand, &opts);
    insta::assert_snapshot!("compare_md", render_compare_md(&c, &base, &cand, &opts));
}

/// Sections in order, both answers and diagnoses side by side, a run without
/// `requests.jsonl` says so, and nothing from a model reaches the page unescaped.
#[test]
fn compare_views_list_changed_cases_with_both_answers() {
    let (base, cand) = (load("base"), load("incomplete"));
    let opts = CompareOptions::default();
    let c = compare(&base, &cand, &opts);
    let md = render_compare_md(&c, &base, &cand, &opts);
    let (r, i, f) = (
        md.find("\n## Regressions").unwrap(),
        md.find("\n## Improvements").unwrap(),
        md.find("\n## Flaky cases").unwrap(),
    );
    assert!(r < i && i < f, "{md}");
    // memory-priya-launch [thinking=off]: base 2/2, candidate 1/2 — flaky; both answers and
    // both diagnoses in one row.
    assert!(
        md.contains("| 1 | **pass** search_memory({\"query\":\"Priya product launch\"})<br>search_memory(query=\"Priya product launch\") as expected | **fail** args_mismatch search_memory({\"query\":\"product launch\"})<br>search_memory: query=\"product launch\" does not contain all of [priya, launch] |"),
        "{md}"
    );
    // The question comes from whichever side recorded it (the incomplete run did not).
    assert!(
        md.contains("- user: What did Priya say about the product launch?"),
        "{md}"
    );
    let page = render_compare_html(&c, &base, &cand, &opts);
    assert!(page.starts_with("<!DOCTYPE html>"));
    for banned in ["<link", " src=", "href=", "@import", "url("] {
        assert!(!page.contains(banned), "external resource marker {banned}");
    }
    assert!(page.contains("<th>base: base</th><th>candidate: incomplete</th>"));
    assert!(page.contains("What did Priya say about the product launch?"));
    assert_eq!(page.matches("<script>").count(), 1);

    let dir = tempfile::tempdir().unwrap();
    let [m, h] = write_compare_views(&c, &base, &cand, &opts, dir.path()).unwrap();
    assert_eq!(
        (m, h),
        (dir.path().join(COMPARE_MD), dir.path().join(COMPARE_HTML))
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join(COMPARE_MD)).unwrap(),
        md
    );
}
