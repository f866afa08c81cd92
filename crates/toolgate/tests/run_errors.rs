//! After `run`, infra errors are summarised by kind with one message each, not only counted.

mod common;
use common::{command, command_in, root, Mock};

#[test]
fn run_shows_the_top_error_kinds_with_a_message() {
    let t = tempfile::tempdir().unwrap();
    let o = command()
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

#[test]
fn a_model_the_server_does_not_serve_stops_the_run_before_sending() {
    let root = root();
    let mock = Mock::start(&["--cases", "cases/tool-routing"]);
    let url = mock.url.clone();
    let t = tempfile::tempdir().unwrap();
    let run = |extra: &[&str], out: &str| {
        command_in(&root)
            .args(["run", "--quiet", "--target", &url, "--model", "qwen"])
            .args(["--profile", "vllm", "--suite", "cases/tool-routing"])
            .args(["--tag", "core8", "--out"])
            .arg(t.path().join(out))
            .args(extra)
            .output()
            .unwrap()
    };
    let o = run(&[], "checked");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("model `qwen` is not served") && err.contains("sim-strong, sim-weak"),
        "{err}"
    );
    assert!(
        !t.path().join("checked").exists(),
        "no empty run folder left"
    );
    // Skipped: every trial gets the server's 404, and the run is incomplete.
    let o = run(&["--no-model-check"], "unchecked");
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // No --profile: the server says what it is, and the choice is explained.
    let o = command_in(&root)
        .args(["run", "--quiet", "--target", &url, "--model", "sim-strong"])
        .args(["--suite", "cases/tool-routing", "--tag", "core8", "--out"])
        .arg(t.path().join("detected"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("profile vllm (GET /v1/models: owned_by = vllm)"),
        "{err}"
    );
    let m = std::fs::read_to_string(t.path().join("detected/manifest.json")).unwrap();
    assert!(m.contains("\"profile\": \"vllm\""), "{m}");
}

#[test]
fn an_unidentified_server_falls_back_to_openai_with_a_warning() {
    let t = tempfile::tempdir().unwrap();
    let o = command()
        .args([
            "run",
            "--quiet",
            "--target",
            "http://127.0.0.1:1/v1",
            "--model",
            "x",
        ])
        .args(["--suite", "cases/tool-routing", "--tag", "core8", "--out"])
        .arg(t.path().join("run"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: --target http://127.0.0.1:1/v1: could not tell the server kind"),
        "{err}"
    );
    assert!(err.contains("using profile openai"), "{err}");
}
