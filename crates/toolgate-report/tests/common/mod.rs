//! Shared fixture loading for the integration tests.

use std::path::{Path, PathBuf};
use toolgate_report::RunData;

pub fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../golden/runs")
        .join(name)
}

/// Loads a committed fixture run, with its folder shown repo-relative so unredacted
/// output is the same on every machine.
pub fn load(name: &str) -> RunData {
    let mut run = RunData::load(&fixture_dir(name)).expect("fixture loads");
    run.dir = PathBuf::from(format!("golden/runs/{name}"));
    run
}
