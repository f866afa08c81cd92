//! Reports checked by the tools people open them with: `junit.xml` against the JUnit XSD
//! (xmllint), `report.html` and `compare.html` in headless Chromium (screenshot taken, no
//! console message; the screenshots are kept under the target's tmp folder, `screenshots/`).
//! `.ci/run` installs both and sets TOOLGATE_REQUIRE_EXTERNAL=1, so there a missing tool is a
//! failure; elsewhere the test says it skipped.

mod common;

use std::path::PathBuf;
use std::process::Command;
use toolgate_report::{
    compare, render_compare_html, render_html, render_junit, CompareOptions, RenderOptions,
};
use toolgate_testkit::{chromium_console, chromium_dom, tool};

fn fixtures() -> [&'static str; 3] {
    ["base", "cand", "incomplete"]
}

#[test]
fn junit_validates_against_the_junit_xsd() {
    let Some(xmllint) = tool("xmllint") else {
        return;
    };
    let xsd = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../golden/schemas/junit.xsd");
    let dir = tempfile::tempdir().unwrap();
    for name in fixtures() {
        let run = common::load(name);
        let path = dir.path().join(format!("{name}.xml"));
        std::fs::write(&path, render_junit(&run, &RenderOptions::default())).unwrap();
        let out = Command::new(&xmllint)
            .args(["--noout", "--schema"])
            .arg(&xsd)
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: junit.xml does not validate:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The check can fail: an element out of place is refused.
    let bad = dir.path().join("bad.xml");
    std::fs::write(
        &bad,
        "<testsuites><testcase name=\"x\" classname=\"y\"/></testsuites>",
    )
    .unwrap();
    let out = Command::new(&xmllint)
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// Where screenshots are kept for a person to look at.
fn shots_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `page` with the `<details>` of `id` open and, when `only` names a section, nothing else
/// shown: headless Chromium screenshots the top of a page, not where a fragment scrolled.
fn opened(page: &str, id: &str, only: Option<&str>) -> String {
    let open = page.replacen(&format!("id=\"{id}\">"), &format!("id=\"{id}\" open>"), 1);
    assert_ne!(open, page, "no element {id}");
    match only {
        Some(s) => open.replacen(
            "</head>",
            &format!("<style>body>:not(#{s}){{display:none}}</style></head>"),
            1,
        ),
        None => open,
    }
}

/// Issue 19: the failures-first case view opens at its first failing case by the page's own
/// script (`report.html#first-failure`), and renders expanded without a console message.
#[test]
fn html_failure_view_opens_at_the_first_failure() {
    let Some(chromium) = tool("chromium") else {
        return;
    };
    let html = render_html(&common::load("base"), &RenderOptions::default());
    let page = shots_dir().join("report-base.html");
    std::fs::write(&page, &html).unwrap();
    let dom = chromium_dom(&chromium, &page, "#first-failure");
    assert!(
        dom.contains("<details class=\"case\" id=\"first-failure\" open=\"\">"),
        "the fragment did not open the first failing case"
    );
    let lines = chromium_console(
        &chromium,
        &page,
        "#first-failure",
        &shots_dir().join("scrolled.png"),
    );
    assert!(lines.is_empty(), "console messages:\n{}", lines.join("\n"));
    let expanded = shots_dir().join("report-first-failure.html");
    std::fs::write(&expanded, opened(&html, "first-failure", Some("case-view"))).unwrap();
    let shot = shots_dir().join("report-first-failure.png");
    let lines = chromium_console(&chromium, &expanded, "", &shot);
    assert!(lines.is_empty(), "console messages:\n{}", lines.join("\n"));
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "screenshot is {size} bytes");
}

/// Issue 19: compare.html renders expanded cases without a console message.
#[test]
fn compare_html_opens_in_headless_chromium_without_console_messages() {
    let Some(chromium) = tool("chromium") else {
        return;
    };
    let (base, cand) = (common::load("base"), common::load("cand"));
    let opts = CompareOptions::default();
    let c = compare(&base, &cand, &opts);
    let html = render_compare_html(&c, &base, &cand, &opts);
    let page = shots_dir().join("compare-base-cand.html");
    // The fixture's changed cases are one improvement and flaky ones: show the first of each open.
    std::fs::write(
        &page,
        opened(
            &opened(&html, "first-improvement", None),
            "first-flaky",
            None,
        ),
    )
    .unwrap();
    let shot = shots_dir().join("compare-base-cand.png");
    let lines = chromium_console(&chromium, &page, "", &shot);
    assert!(lines.is_empty(), "console messages:\n{}", lines.join("\n"));
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "screenshot is {size} bytes");
}

#[test]
fn html_report_opens_in_headless_chromium_without_console_messages() {
    let Some(chromium) = tool("chromium") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Control: a page with a script error must be caught, or the check proves nothing.
    let bad = dir.path().join("bad.html");
    std::fs::write(
        &bad,
        "<html><body><script>notDefined()</script></body></html>",
    )
    .unwrap();
    let lines = chromium_console(&chromium, &bad, "", &dir.path().join("bad.png"));
    assert!(!lines.is_empty(), "the console check sees nothing");

    for name in fixtures() {
        let run = common::load(name);
        let page = dir.path().join(format!("{name}.html"));
        std::fs::write(&page, render_html(&run, &RenderOptions::default())).unwrap();
        let shot = shots_dir().join(format!("report-{name}.png"));
        let lines = chromium_console(&chromium, &page, "", &shot);
        assert!(
            lines.is_empty(),
            "{name}: console messages:\n{}",
            lines.join("\n")
        );
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{name}: screenshot is {size} bytes");
    }
}
