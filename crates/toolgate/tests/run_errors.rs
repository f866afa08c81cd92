//! After `run`, infra errors are summarised by kind with one message each, not only counted.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn run_shows_the_top_error_kinds_with_a_message() {
    let t = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .args(["run", "--quiet", "--target", "http://127.0.0.1:1/v1"])
        .args(["--model", "x", "--profile", "vllm"])
        .args(["--suite", "cases/tool-routing", "--tag", "core8", "--out"])
        .arg(t.path().join("run"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("8 × connect: "), "{err}");
    assert!(
        err.contains("Connection refused") || err.contains("connection refused"),
        "{err}"
    );
    assert!(err.contains("declared down"), "{err}");
}
