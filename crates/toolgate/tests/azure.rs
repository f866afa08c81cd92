//! Hosted APIs end to end through the binary: `toolgate mock` requiring a key, an `azure`
//! target (deployment URL, `api-version`, `api-key` header) and an `openai` target forced
//! onto the hosted path (`hosted = true`, bearer key). The mock refuses any other URL shape
//! or header with 401/404, so a passing run proves the shape; a wrong key gives `http_4xx`
//! infra errors, not model failures, and the key is written nowhere.

mod common;
use common::{command_in, root, Mock};
use serde_json::Value;
use std::path::Path;

const KEY: &str = "az-e2e-key-0123456789abcdef";
const WRONG: &str = "az-e2e-wrong-fedcba9876543210";

fn write_config(dir: &Path, mock_url: &str) {
    let resource = mock_url.trim_end_matches("/v1");
    let text = format!(
        r#"[defaults]
retries = 0

[targets.az]
base_url = "{resource}"
profile = "azure"
deployment = "sim-strong"
api_version = "2024-10-21"
api_key_env = "AZ_KEY"

[targets.az-wrong]
base_url = "{resource}"
profile = "azure"
deployment = "sim-strong"
api_version = "2024-10-21"
api_key_env = "AZ_WRONG"

[targets.oa]
base_url = "{mock_url}"
profile = "openai"
model = "sim-strong"
api_key_env = "AZ_KEY"
organization = "org-e2e"
hosted = true
"#
    );
    std::fs::write(dir.join("toolgate.toml"), text).unwrap();
}

fn run(dir: &Path, target: &str, thinking: &str) -> std::process::Output {
    command_in(dir)
        .env("AZ_KEY", KEY)
        .env("AZ_WRONG", WRONG)
        .args(["run", "--quiet", "--target", target, "--suite"])
        .arg(root().join("cases/tool-routing"))
        .args(["--tag", "core8", "--thinking", thinking, "--out"])
        .arg(dir.join(format!("run-{target}")))
        .output()
        .unwrap()
}

fn records(dir: &Path, target: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.join(format!("run-{target}/responses.jsonl")))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every file of a run folder, as text.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            let bytes = std::fs::read(&p).unwrap();
            out.push((
                p.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    out
}

#[test]
fn azure_and_openai_hosted_targets_pass_and_a_wrong_key_is_http_4xx() {
    let mock = Mock::start_with_env(
        &["--cases", "cases/tool-routing", "--api-key-env", "MOCK_KEY"],
        &[("MOCK_KEY", KEY)],
    );
    let t = tempfile::tempdir().unwrap();
    write_config(t.path(), &mock.url);

    for (target, thinking) in [("az", "on"), ("oa", "off")] {
        let o = run(t.path(), target, thinking);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{target}: {err}");
        let recs = records(t.path(), target);
        assert_eq!(recs.len(), 8, "{target}");
        for r in &recs {
            assert!(r["error"].is_null(), "{target}: {r}");
            let url = r["request"]["url"].as_str().unwrap();
            if target == "az" {
                assert!(
                    url.ends_with(
                        "/openai/deployments/sim-strong/chat/completions?api-version=2024-10-21"
                    ),
                    "{url}"
                );
                assert_eq!(r["request"]["profile"], "azure");
                // thinking = on became reasoning_effort, which the simulator answers with
                // reasoning; it came back through async-openai untouched.
                let msg = &r["turns"][0]["message"];
                assert!(msg["reasoning"].is_string(), "{r}");
            } else {
                assert!(url.ends_with("/v1/chat/completions"), "{url}");
            }
        }
    }

    let o = run(t.path(), "az-wrong", "on");
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("http_4xx"), "{err}");
    for r in records(t.path(), "az-wrong") {
        assert_eq!(r["error"]["kind"], "http_4xx", "{r}");
        assert_eq!(r["error"]["status"], 401, "{r}");
        assert!(r["turns"].as_array().is_none_or(|t| t.is_empty()), "{r}");
    }

    for (name, text) in files(t.path()) {
        assert!(
            !text.contains(KEY) && !text.contains(WRONG),
            "{name} holds a key"
        );
    }
}

#[test]
fn an_azure_target_without_its_keys_is_refused_with_the_line() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join("toolgate.toml"),
        "[defaults]\nretries = 0\n\n[targets.az]\nbase_url = \"https://r.example\"\nprofile = \"azure\"\ndeployment = \"d\"\napi_key_env = \"AZ_KEY\"\n",
    )
    .unwrap();
    let o = command_in(t.path())
        .args(["run", "--quiet", "--target", "az", "--suite"])
        .arg(root().join("cases/tool-routing"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("toolgate.toml:4") && err.contains("needs `api_version`"),
        "{err}"
    );
}
