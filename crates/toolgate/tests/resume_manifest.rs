//! Issue 20: `toolgate run --resume RUN` alone resumes a run made with `--target URL --model
//! … --profile … --suite …`: the request comes from the manifest. A flag that disagrees with
//! the manifest is refused naming it; an edited case file is refused without `--force`.

mod common;

use common::Mock;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

fn run(args: &[&str]) -> Output {
    common::run(args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

/// Keeps the first `n` responses and marks the run incomplete, as an interrupted run is.
fn cut(dir: &Path, n: usize) {
    let p = dir.join("responses.jsonl");
    let text = std::fs::read_to_string(&p).unwrap();
    let kept: String = text.lines().take(n).map(|l| format!("{l}\n")).collect();
    std::fs::write(&p, kept).unwrap();
    let mut m = manifest(dir);
    m["complete"] = Value::Bool(false);
    std::fs::write(dir.join("manifest.json"), m.to_string()).unwrap();
}

/// Every planned trial recorded exactly once, and the run complete.
fn assert_complete(dir: &Path) {
    let m = manifest(dir);
    assert_eq!(m["complete"], true, "{m}");
    let text = std::fs::read_to_string(dir.join("responses.jsonl")).unwrap();
    let keys: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["key"].to_string())
        .collect();
    let unique: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "a trial recorded twice");
    assert_eq!(keys.len() as u64, m["planned_trials"].as_u64().unwrap());
}

const SUITE: &str = "cases/tool-routing/voice-3tool.yaml";

/// `run --target URL --model sim-strong --profile vllm --suite SUITE --out DIR`.
fn first_run(url: &str, suite: &str, dir: &Path) {
    let o = run(&[
        "run",
        "--target",
        url,
        "--model",
        "sim-strong",
        "--profile",
        "vllm",
        "--suite",
        suite,
        "-q",
        "--out",
        &dir.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn resume_alone_completes_a_url_target_run_and_disagreeing_flags_are_refused() {
    let mock = Mock::start(&[]);
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("run");
    let ds = dir.display().to_string();
    first_run(&mock.url, SUITE, &dir);
    let planned = manifest(&dir)["planned_trials"].as_u64().unwrap();
    assert!(planned > 10);
    // No secret and no key: only what rebuilds the target.
    let m = manifest(&dir);
    assert_eq!(m["targets"][0]["base_url"], mock.url.as_str());
    assert_eq!(m["config"]["targets"]["url-1"]["model"], "sim-strong");
    assert_eq!(m["config"]["targets"]["url-1"]["profile"], "vllm");

    cut(&dir, 5);
    let o = run(&["run", "--resume", &ds, "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_complete(&dir);

    // The same flags as the first run are accepted.
    cut(&dir, 3);
    let o = run(&[
        "run",
        "--resume",
        &ds,
        "--target",
        &mock.url,
        "--model",
        "sim-strong",
        "--profile",
        "vllm",
        "--suite",
        SUITE,
        "--repeat",
        "1",
        "--thinking",
        "off",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_complete(&dir);

    // The same URL target restarted at another address: where it listens is not the plan.
    cut(&dir, 3);
    let moved = Mock::start(&[]);
    let o = run(&["run", "--resume", &ds, "--target", &moved.url, "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_complete(&dir);
    assert_eq!(manifest(&dir)["targets"][0]["base_url"], moved.url.as_str());

    // Flags that disagree are refused, naming the flag; nothing is sent.
    cut(&dir, 3);
    let refused: &[(&[&str], &str)] = &[
        (
            &["--repeat", "3"],
            "--repeat: the run was made with 1, not 3",
        ),
        (&["--target", "sim"], "--target: the run was made with"),
        (
            &["--model", "sim-weak"],
            "--model: the run was made with sim-strong, not sim-weak",
        ),
        (
            &["--profile", "sglang"],
            "--profile: the run was made with vllm, not sglang",
        ),
        (
            &["--suite", "cases/quality"],
            "--suite: the run was made with",
        ),
        (
            &["--thinking", "both"],
            "--thinking: the run was made with off, not both",
        ),
        (
            &["--shard", "1/2"],
            "--shard: the run was made with no --shard, not 1/2",
        ),
        (
            &["--prompt", "tools-generic"],
            "--prompt: the run was made with",
        ),
    ];
    for (flags, want) in refused {
        let mut args = vec!["run", "--resume", &ds, "-q"];
        args.extend_from_slice(flags);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{flags:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{flags:?}: {}", stderr(&o));
    }
    let lines = std::fs::read_to_string(dir.join("responses.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 3, "a refused resume sent nothing");
}

#[test]
fn resume_refuses_an_edited_case_file_without_force() {
    let mock = Mock::start(&[]);
    let d = tempfile::tempdir().unwrap();
    // A copy of the suite, its tools file named by absolute path, to edit safely.
    let root = common::root().canonicalize().unwrap();
    let text = std::fs::read_to_string(root.join(SUITE)).unwrap().replace(
        "tools: ../../golden/tools/voice-3tool.json",
        &format!(
            "tools: {}",
            root.join("golden/tools/voice-3tool.json").display()
        ),
    );
    let suite = d.path().join("voice-3tool.yaml");
    std::fs::write(&suite, &text).unwrap();
    let dir = d.path().join("run");
    let ds = dir.display().to_string();
    first_run(&mock.url, &suite.display().to_string(), &dir);

    cut(&dir, 4);
    std::fs::write(&suite, format!("{text}\n# edited\n")).unwrap();
    let o = run(&["run", "--resume", &ds, "-q"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("voice-3tool.yaml changed since the run started"),
        "{e}"
    );
    assert!(e.contains("--force"), "{e}");

    let o = run(&["run", "--resume", &ds, "--force", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_complete(&dir);
}

#[test]
fn resume_alone_keeps_the_key_variable_and_the_manifest_holds_no_key() {
    let mock = Mock::start(&[]);
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("run");
    let ds = dir.display().to_string();
    let secret = "sk-resume-test-5f1e2d";
    let with_key = |args: &[&str]| {
        common::command()
            .env("TG_RESUME_TEST_KEY", secret)
            .args(args)
            .output()
            .unwrap()
    };
    let o = with_key(&[
        "run",
        "--target",
        &mock.url,
        "--model",
        "sim-strong",
        "--profile",
        "vllm",
        "--api-key-env",
        "TG_RESUME_TEST_KEY",
        "--suite",
        SUITE,
        "--tag",
        "core8",
        "-q",
        "--out",
        &ds,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    cut(&dir, 2);
    let o = with_key(&["run", "--resume", &ds, "--api-key-env", "OTHER_KEY", "-q"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains("--api-key-env: the run was made with TG_RESUME_TEST_KEY, not OTHER_KEY"),
        "{}",
        stderr(&o)
    );
    let o = with_key(&["run", "--resume", &ds, "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_complete(&dir);
    let m = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    assert!(
        m.contains("\"TG_RESUME_TEST_KEY\""),
        "the variable's name is recorded"
    );
    assert!(!m.contains(secret), "the key is never recorded");
    // Only the tagged cases, as the first run planned.
    assert_eq!(manifest(&dir)["config"]["tags"][0], "core8");
}
