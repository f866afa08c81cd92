//! The binary as a user runs it: exit codes, files written, determinism.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn toolgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_toolgate"));
    c.current_dir(root());
    c
}

#[test]
fn help_lists_every_design_command() {
    let out = toolgate().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "validate", "run", "grade", "report", "compare", "gate", "latency", "mock", "tools",
        "import", "merge", "swap",
    ] {
        assert!(text.contains(cmd), "--help lacks {cmd}:\n{text}");
    }
}

#[test]
fn validate_exit_codes() {
    let ok = toolgate().args(["validate", "cases"]).output().unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = toolgate()
        .args(["validate", "golden/broken"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("semantic.yaml:9:17"), "{err}");
}

#[test]
fn unknown_target_and_usage_errors_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = toolgate()
        .args(["run", "--target", "nope", "--out"])
        .arg(dir.path().join("r"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown target `nope`"));
    let out = toolgate()
        .args(["run", "--thinking", "maybe"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = toolgate()
        .args([
            "run",
            "--target",
            "http://u:p@127.0.0.1:9/v1",
            "--model",
            "m",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("u:p@"));
    let out = toolgate()
        .args(["merge", "a", "--out", "b"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn run_writes_the_run_folder_and_regrading_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = toolgate()
        .args(["run", "--quiet", "--suite", "cases/tool-routing", "--out"])
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "manifest.json",
        "responses.jsonl",
        "grades.jsonl",
        "report.md",
        "report.json",
        "results.csv",
        "junit.xml",
        "report.html",
    ] {
        assert!(run.join(f).exists(), "{f} missing");
    }
    let first = std::fs::read(run.join("grades.jsonl")).unwrap();
    let g = toolgate().arg("grade").arg(&run).output().unwrap();
    assert_eq!(
        g.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&g.stderr)
    );
    let second = std::fs::read(run.join("grades.jsonl")).unwrap();
    assert_eq!(first, second, "re-grading changed grades.jsonl");
    // Running into a folder that already holds a run is refused.
    let again = toolgate()
        .args(["run", "--quiet", "--suite", "cases/tool-routing", "--out"])
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
}
