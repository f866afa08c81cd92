//! Helpers toolgate's integration tests share (a dev-dependency only; nothing ships it).
//!
//! External tools: `.ci/run` installs headless Chromium and xmllint and sets
//! `TOOLGATE_REQUIRE_EXTERNAL=1`, so there a missing tool fails the test; elsewhere the test
//! says it skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `name` on `PATH`, or `None` with a "skipped" line — a panic when the environment says
/// the tool is required.
pub fn tool(name: &str) -> Option<PathBuf> {
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

/// Headless Chromium as run on a machine without network: the background-networking flags
/// keep it from trying hosts it cannot reach; a fresh profile per call.
fn headless(chromium: &Path, profile: &Path) -> Command {
    let mut c = Command::new(chromium);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// Console lines Chromium printed while loading `page` (with a URL `fragment`, `#…` or
/// empty), and the screenshot it took at `shot`.
pub fn chromium_console(chromium: &Path, page: &Path, fragment: &str, shot: &Path) -> Vec<String> {
    let profile = tempfile::tempdir().unwrap();
    let out = headless(chromium, profile.path())
        .args([
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,1600",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}{fragment}", page.display()))
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

/// The DOM after the page's own script ran, loaded with `fragment`.
pub fn chromium_dom(chromium: &Path, page: &Path, fragment: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = headless(chromium, profile.path())
        .arg("--dump-dom")
        .arg(format!("file://{}{fragment}", page.display()))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}
