//! Issue 20: the shards of a run on the default suites merge, for any N, into the grades of
//! the unsharded run. Some shards get no trial of a suite or prompt (e.g. no conversation
//! case hashes into them); their manifests must still describe the whole run. A merge that
//! lacks a shard resumes into the whole run.

mod common;

use serde_json::Value;
use std::path::Path;

/// `toolgate ARGS` at the repository root (the default suites are `cases/` there); exit 0.
fn ok(args: &[String]) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = common::run(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "toolgate {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_args(out: &Path, shard: Option<(u64, u64)>) -> Vec<String> {
    let mut a: Vec<String> = ["run", "--target", "sim-weak", "-q", "--out"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.push(out.display().to_string());
    if let Some((i, n)) = shard {
        a.push("--shard".into());
        a.push(format!("{i}/{n}"));
    }
    a
}

/// grades.jsonl as (trial key, grade) pairs sorted by key. Grading is deterministic and
/// grades carry no run id or time, so nothing is left out.
fn grades(dir: &Path) -> Vec<(String, Value)> {
    let text = std::fs::read_to_string(dir.join("grades.jsonl")).unwrap();
    let mut v: Vec<(String, Value)> = text
        .lines()
        .map(|l| {
            let g: Value = serde_json::from_str(l).unwrap();
            (g["key"].to_string(), g)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn shards_of_the_default_suites_merge_into_the_unsharded_grades_for_n_2_to_8() {
    let d = tempfile::tempdir().unwrap();
    let whole = d.path().join("whole");
    ok(&run_args(&whole, None));
    let want = grades(&whole);
    let wm = manifest(&whole);
    assert_eq!(want.len() as u64, wm["planned_trials"].as_u64().unwrap());

    for n in 2..=8u64 {
        let dirs: Vec<_> = (1..=n)
            .map(|i| d.path().join(format!("n{n}-s{i}")))
            .collect();
        // The shards of one N at once: each is its own process.
        std::thread::scope(|s| {
            for (i, dir) in dirs.iter().enumerate() {
                let args = run_args(dir, Some((i as u64 + 1, n)));
                s.spawn(move || ok(&args));
            }
        });
        for dir in &dirs {
            let m = manifest(dir);
            // Every shard lists the whole run's suites and prompts, and the whole plan.
            assert_eq!(m["prompts"], wm["prompts"], "{}", dir.display());
            assert_eq!(m["suites"], wm["suites"], "{}", dir.display());
            assert_eq!(m["whole_plan"]["planned_trials"], wm["planned_trials"]);
            assert_eq!(m["whole_plan"]["plan_sha256"], wm["plan_sha256"]);
        }
        let merged = d.path().join(format!("n{n}-merged"));
        let mut args = vec!["merge".to_string()];
        args.extend(dirs.iter().map(|p| p.display().to_string()));
        args.extend(["--out".to_string(), merged.display().to_string()]);
        ok(&args);
        assert_eq!(grades(&merged), want, "N = {n}: merged grades differ");
        let mm = manifest(&merged);
        assert_eq!(mm["complete"], true, "N = {n}: {mm}");
        assert_eq!(mm["planned_trials"], wm["planned_trials"], "N = {n}");
        assert_eq!(mm["plan_sha256"], wm["plan_sha256"], "N = {n}");
    }

    // A merge missing a shard is incomplete; `run --resume` of it alone sends that shard's
    // trials (the merged manifest carries the whole plan), giving the unsharded grades.
    let partial = d.path().join("n3-partial");
    let o = common::run(&[
        "merge",
        &d.path().join("n3-s1").display().to_string(),
        &d.path().join("n3-s3").display().to_string(),
        "--out",
        &partial.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(3), "a missing shard: incomplete");
    ok(&[
        "run".into(),
        "--resume".into(),
        partial.display().to_string(),
        "-q".into(),
    ]);
    assert_eq!(grades(&partial), want, "the resumed partial merge");
    assert_eq!(manifest(&partial)["complete"], true);
}
