//! Reports checked by the tools people open them with: `junit.xml` against the JUnit XSD
//! (xmllint) and `report.html` in headless Chromium (screenshot taken, no console message).
//! `.ci/run` installs both and sets TOOLGATE_REQUIRE_EXTERNAL=1, so there a missing tool is a
//! failure; elsewhere the test says it skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use toolgate_report::{render_html, render_junit, RenderOptions};

fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("TOOLGATE_REQUIRE_EXTERNAL").is_err(),
            "{name} is required here (TOOLGATE_REQUIRE_EXTERNAL is set) but not on PATH"
        );
        eprintln!("skipped: {name} is not installed (apt-get install {name})");
    }
    found
}

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

/// Console lines Chromium printed while loading `page`, and the screenshot it took.
fn chromium_console(chromium: &Path, page: &Path, shot: &Path) -> Vec<String> {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect()
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
    let lines = chromium_console(&chromium, &bad, &dir.path().join("bad.png"));
    assert!(!lines.is_empty(), "the console check sees nothing");

    for name in fixtures() {
        let run = common::load(name);
        let page = dir.path().join(format!("{name}.html"));
        std::fs::write(&page, render_html(&run, &RenderOptions::default())).unwrap();
        let shot = dir.path().join(format!("{name}.png"));
        let lines = chromium_console(&chromium, &page, &shot);
        assert!(
            lines.is_empty(),
            "{name}: console messages:\n{}",
            lines.join("\n")
        );
        let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "{name}: screenshot is {size} bytes");
    }
}
