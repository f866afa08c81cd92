//! `toolgate accept` and baselines by name, through the binary.

use std::path::Path;
use std::process::Output;

mod common;
use common::{root, run_in as toolgate};

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A run of two suites against the embedded simulator, from the repository root.
fn sim_run(out: &Path, target: &str) {
    let o = toolgate(
        &root(),
        &[
            "run",
            "--quiet",
            "--target",
            target,
            "--suite",
            "cases/tool-routing",
            "--suite",
            "cases/entities",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn accept_writes_a_stable_baseline_that_gate_and_compare_take_by_name() {
    let d = tempfile::tempdir().unwrap();
    // Same folder name, so the same run id: only the model's behaviour could differ.
    let (r1, r2) = (d.path().join("a/run"), d.path().join("b/run"));
    sim_run(&r1, "sim");
    sim_run(&r2, "sim");
    let reports = d.path().join("reports");
    let acc = |run: &Path, extra: &[&str]| {
        let mut args = vec!["accept", run.to_str().unwrap(), "--as", "sim-strong"];
        args.extend_from_slice(extra);
        toolgate(d.path(), &args)
    };
    let o = acc(&r1, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("accepted"), "{}", text(&o));
    let base = reports.join("sim-strong");
    for f in [
        "manifest.json",
        "responses.jsonl",
        "grades.jsonl",
        "report.md",
        "report.json",
    ] {
        assert!(base.join(f).is_file(), "{f} missing");
    }
    assert!(
        !base.join("report.html").exists(),
        "only md and json are kept"
    );
    let md1 = std::fs::read_to_string(base.join("report.md")).unwrap();
    let json1 = std::fs::read_to_string(base.join("report.json")).unwrap();
    assert!(
        !md1.contains(d.path().to_str().unwrap()),
        "no absolute paths"
    );
    assert!(
        md1.contains("[time]") || !md1.contains("T1"),
        "timestamps redacted"
    );

    // A baseline name works wherever a run folder does.
    let g = toolgate(d.path(), &["gate", "sim-strong", r2.to_str().unwrap()]);
    assert_eq!(g.status.code(), Some(0), "{}", text(&g));
    let c = toolgate(d.path(), &["compare", "sim-strong", r2.to_str().unwrap()]);
    assert_eq!(c.status.code(), Some(0), "{}", text(&c));
    let missing = toolgate(d.path(), &["gate", "sim-strng", r2.to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing).contains("neither a run folder nor a baseline")
            && text(&missing).contains("sim-strong"),
        "{}",
        text(&missing)
    );

    // Replacing needs --force; the same model behaviour gives byte-identical reports.
    let again = acc(&r2, &[]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&again).contains("--force"), "{}", text(&again));
    let forced = acc(&r2, &["--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced));
    assert!(
        text(&forced).contains("changed against the replaced baseline"),
        "{}",
        text(&forced)
    );
    assert_eq!(
        std::fs::read_to_string(base.join("report.md")).unwrap(),
        md1
    );
    assert_eq!(
        std::fs::read_to_string(base.join("report.json")).unwrap(),
        json1
    );
    let leftovers: Vec<_> = std::fs::read_dir(&reports)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("sim-strong")]);
}

#[test]
fn replacing_a_baseline_prints_per_suite_accuracy_and_flips() {
    let d = tempfile::tempdir().unwrap();
    let (strong, weak) = (d.path().join("strong"), d.path().join("weak"));
    sim_run(&strong, "sim");
    sim_run(&weak, "sim-weak");
    let reports = d.path().join("reports");
    let r = reports.to_str().unwrap();
    let o = toolgate(
        d.path(),
        &[
            "accept",
            strong.to_str().unwrap(),
            "--as",
            "b",
            "--reports",
            r,
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = toolgate(
        d.path(),
        &[
            "accept",
            weak.to_str().unwrap(),
            "--as",
            "b",
            "--reports",
            r,
            "--force",
        ],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("tool-routing") && t.contains("100.0% ("), "{t}");
    assert!(t.contains("regressions (pass → fail)"), "{t}");
}

#[test]
fn an_incomplete_run_or_a_bad_name_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let run = d.path().join("down");
    // Nothing listens on port 1: every trial is a connect error, the run is incomplete.
    let o = toolgate(
        &root(),
        &[
            "run",
            "--quiet",
            "--target",
            "http://127.0.0.1:1/v1",
            "--model",
            "m",
            "--profile",
            "vllm",
            "--suite",
            "cases/entities",
            "--out",
            run.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let reports = d.path().join("reports");
    let r = reports.to_str().unwrap();
    let o = toolgate(
        d.path(),
        &["accept", run.to_str().unwrap(), "--as", "x", "--reports", r],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("incomplete"), "{}", text(&o));
    assert!(!reports.join("x").exists());
    let o = toolgate(
        d.path(),
        &[
            "accept",
            run.to_str().unwrap(),
            "--as",
            "x",
            "--reports",
            r,
            "--allow-incomplete",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for name in ["../escape", "/abs", "a/b", ".."] {
        let o = toolgate(
            d.path(),
            &[
                "accept",
                run.to_str().unwrap(),
                "--as",
                name,
                "--reports",
                r,
            ],
        );
        assert_eq!(o.status.code(), Some(2), "{name}: {}", text(&o));
    }
    assert!(!d.path().join("escape").exists());
}
