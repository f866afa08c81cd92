//! The binary as a user runs it: exit codes, files written, determinism.

use std::process::Command;

mod common;
use common::command as toolgate;

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

/// Ctrl-C mid-run: sending stops, the manifest says incomplete, exit 3, and the report's
/// first lines say so. The simulator is a child process stopped by its PID.
#[test]
fn interrupt_writes_an_incomplete_manifest_and_exits_3() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("slow.yaml");
    std::fs::write(&script, "model: slow\nttft_ms: 150\n").unwrap();
    let mut mock = toolgate()
        .args([
            "mock",
            "--port",
            "0",
            "--cases",
            "cases/tool-routing",
            "--script",
        ])
        .arg(&script)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(mock.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let url = url.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let run = dir.path().join("run");
    let mut child = toolgate()
        .args([
            "run",
            "--quiet",
            "--suite",
            "cases/tool-routing",
            "--concurrency",
            "1",
            "--model",
            "slow",
            "--profile",
            "vllm",
            "--target",
            &url,
            "--out",
        ])
        .arg(&run)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "run did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = Command::new("kill").arg(mock.id().to_string()).status();
    let _ = mock.wait();
    assert_eq!(status.code(), Some(3));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["complete"], false);
    assert!(
        m["incomplete_reasons"].to_string().contains("interrupted"),
        "{m}"
    );
    let recorded = std::fs::read_to_string(run.join("responses.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert!(recorded > 0 && recorded < 48, "{recorded} recorded");
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(
        report
            .lines()
            .take(3)
            .any(|l| l.to_lowercase().contains("incomplete")),
        "{report}"
    );
}
