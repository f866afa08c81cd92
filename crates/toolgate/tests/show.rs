//! `requests.jsonl` and `toolgate show` through the binary: every body stored once, the
//! terminal view (snapshots, Kannada included), `--json`, `--curl`, and older run folders.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn toolgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_toolgate"));
    c.current_dir(root());
    c
}

/// One sim-weak run shared by the tests (they only read it).
fn run() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = toolgate()
            .args([
                "run",
                "--quiet",
                "--target",
                "sim-weak",
                "--thinking",
                "both",
                "--repeat",
                "2",
                "--suite",
                "cases/entities",
                "--out",
            ])
            .arg(dir.path().join("r"))
            .output()
            .unwrap();
        assert!(
            out.status.code() == Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
    .path()
    .join("r")
    .leak()
}

fn show(dir: &Path, args: &[&str]) -> String {
    let out = toolgate().arg("show").arg(dir).args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Timing and the prompt's date change from run to run.
fn redact(s: &str) -> String {
    let date = regex_lite(s);
    date.lines()
        .map(|l| {
            if l.trim_start().starts_with("ttft ") || l.trim_start().starts_with("e2e ") {
                format!("{}<timing>", &l[..l.len() - l.trim_start().len()])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `YYYY-MM-DD` → `<date>` without a regex dependency.
fn regex_lite(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < s.len() {
        let is_date = i + 10 <= b.len()
            && b[i..i + 10].iter().enumerate().all(|(k, c)| {
                if k == 4 || k == 7 {
                    *c == b'-'
                } else {
                    c.is_ascii_digit()
                }
            });
        if is_date {
            out.push_str("<date>");
            i += 10;
        } else {
            let c = s[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

#[test]
fn every_distinct_request_body_is_stored_once_under_its_sha256() {
    let dir = run();
    let responses = std::fs::read_to_string(dir.join("responses.jsonl")).unwrap();
    let stored = std::fs::read_to_string(dir.join("requests.jsonl")).unwrap();
    let mut shas = std::collections::BTreeSet::new();
    for l in responses.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        shas.insert(v["request"]["body_sha256"].as_str().unwrap().to_string());
    }
    // Two repeats share a body: half as many lines as trials, one per distinct hash.
    assert_eq!(stored.lines().count(), shas.len());
    assert_eq!(responses.lines().count(), 2 * shas.len());
    for l in stored.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let sha = v["sha256"].as_str().unwrap();
        assert!(shas.contains(sha), "{sha} not referenced");
        // The stored body is the exact bytes sent: its hash is the key.
        let start = l.find(",\"body\":").unwrap() + 8;
        let body = &l[start..l.len() - 1];
        use sha2::Digest;
        let got: String = sha2::Sha256::digest(body.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, sha);
        assert!(v["body"]["messages"][0]["role"] == "system");
    }
}

#[test]
fn show_a_kannada_failure_as_text_and_as_json() {
    let text = show(
        run(),
        &[
            "kn-family-dasara",
            "--variant",
            "thinking=off",
            "--color",
            "never",
        ],
    );
    insta::assert_snapshot!("show_kannada", redact(&text));
    assert!(!text.contains('\x1b'), "colour when piped");
    let coloured = show(run(), &["kn-family-dasara", "--color", "always"]);
    assert!(coloured.contains("\x1b["));
    let json: serde_json::Value =
        serde_json::from_str(&show(run(), &["kn-family-dasara", "--json"])).unwrap();
    assert_eq!(json[0]["case"], "kn-family-dasara");
    assert_eq!(json[0]["trials"].as_array().unwrap().len(), 4);
    assert!(json[0]["system_prompts"][0]["system"].is_string());
    assert!(json[0]["messages"][0]["content"]
        .as_str()
        .unwrap()
        .contains('ದ'));
}

#[test]
fn failed_filter_keeps_failing_trials_only() {
    let all = show(run(), &["--json"]);
    let failed = show(run(), &["--json", "--failed"]);
    let all: serde_json::Value = serde_json::from_str(&all).unwrap();
    let failed: serde_json::Value = serde_json::from_str(&failed).unwrap();
    let failed = failed.as_array().unwrap();
    assert!(!failed.is_empty() && failed.len() < all.as_array().unwrap().len());
    for c in failed {
        for t in c["trials"].as_array().unwrap() {
            assert_ne!(t["verdict"], "pass");
        }
    }
}

#[test]
fn curl_replays_the_stored_body_and_never_prints_a_key() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["responses.jsonl", "grades.jsonl", "requests.jsonl"] {
        std::fs::copy(run().join(f), dir.path().join(f)).unwrap();
    }
    // The run's config names the variable a key is read from.
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run().join("manifest.json")).unwrap())
            .unwrap();
    m["config"]["targets"]["sim-weak"]["api_key_env"] = "TG_SHOW_TEST_KEY".into();
    std::fs::write(dir.path().join("manifest.json"), m.to_string()).unwrap();
    let out = toolgate()
        .env("TG_SHOW_TEST_KEY", "sk-secret-value")
        .arg("show")
        .arg(dir.path())
        .args(["kn-family-dasara", "--curl", "--variant", "thinking=on"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("curl -sS -N 'http://127.0.0.1:"), "{text}");
    assert!(text.contains("-H \"Authorization: Bearer $TG_SHOW_TEST_KEY\""));
    assert!(text.contains("--data-binary @- <<'TOOLGATE_REQUEST'"));
    assert!(!text.contains("sk-secret-value"));
    // The heredoc holds the stored body byte for byte.
    let stored = std::fs::read_to_string(run().join("requests.jsonl")).unwrap();
    let first = text
        .lines()
        .skip_while(|l| !l.ends_with("<<'TOOLGATE_REQUEST'"))
        .nth(1)
        .unwrap()
        .trim_start();
    assert!(stored.contains(first));
    assert!(first.contains("\"enable_thinking\":true") || first.contains("thinking"));
}

#[test]
fn an_older_run_folder_without_requests_says_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["manifest.json", "responses.jsonl", "grades.jsonl"] {
        std::fs::copy(run().join(f), dir.path().join(f)).unwrap();
    }
    let text = show(dir.path(), &["kn-family-dasara", "--curl"]);
    assert!(text.contains("request not recorded"), "{text}");
    // The input falls back to the case file.
    assert!(text.contains("input (from case file"), "{text}");
    let g = toolgate().arg("grade").arg(dir.path()).output().unwrap();
    assert_eq!(g.status.code(), Some(0));
}

#[test]
fn model_text_control_characters_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["manifest.json", "grades.jsonl", "requests.jsonl"] {
        std::fs::copy(run().join(f), dir.path().join(f)).unwrap();
    }
    let responses = std::fs::read_to_string(run().join("responses.jsonl")).unwrap();
    let mut out = String::new();
    for l in responses.lines() {
        let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
        if v["key"]["case"] == "kn-family-dasara" {
            v["turns"][0]["message"]["content"] =
                serde_json::json!("ok\u{1b}[2J\u{7}\u{202e}evil\r");
        }
        out.push_str(&v.to_string());
        out.push('\n');
    }
    std::fs::write(dir.path().join("responses.jsonl"), out).unwrap();
    let text = show(dir.path(), &["kn-family-dasara", "--color", "never"]);
    assert!(!text.contains('\x1b') && !text.contains('\x07') && !text.contains('\u{202e}'));
    assert!(
        text.contains("ok\\u{1b}[2J\\u{7}\\u{202e}evil\\r"),
        "{text}"
    );
}
