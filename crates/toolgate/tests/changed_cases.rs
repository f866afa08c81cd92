//! Issue 18 §3: a case edited between two runs. An edited expectation is not paired (the
//! sides were judged by different rules) and the gate counts it as uncovered; an edited
//! input with the same expectation is paired and listed. Reformatting is not an edit.

use std::path::{Path, PathBuf};

mod common;
use common::{root, run as toolgate, run_into};

/// The tool-routing suite, copied into `dir` with `edit` applied, then run on the sim.
fn run_suite(dir: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(root().join("cases/tool-routing/voice-3tool.yaml"))
        .unwrap()
        .replace(
            "../../golden/tools/",
            &format!("{}/golden/tools/", root().display()),
        );
    let suite = dir.join(format!("{name}.yaml"));
    std::fs::write(&suite, edit(text)).unwrap();
    let prompts = root().join("prompts");
    run_into(
        &dir.join(name),
        &[
            "--suite",
            suite.to_str().unwrap(),
            "--prompts",
            prompts.to_str().unwrap(),
            "--tag",
            "web",
        ],
    )
}

#[test]
fn an_edited_expectation_is_not_compared_and_an_edited_input_is_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let base = run_suite(tmp.path(), "base", |t| t);
    let cand = run_suite(tmp.path(), "cand", |t| {
        t.replace(
            "args: { query: { contains: gold } }",
            "args: { query: { contains_any: [gold, sona] } }",
        )
        .replace(
            "What's the score in the RCB match right now?",
            "What's the score in the RCB game right now?",
        )
        // Formatting and comments are not edits.
        .replace(
            "  - id: web-weather-bengaluru",
            "  # edited\n  - id: web-weather-bengaluru",
        )
    });

    let o = toolgate(&["compare", base.to_str().unwrap(), cand.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("changed expectation (case edited; not compared) (1):")
            && text.contains("tool-routing/web-gold-rate"),
        "{text}"
    );
    assert!(
        text.contains("changed input (case edited; expectation the same, compared) (1):")
            && text.contains("tool-routing/web-rcb-score"),
        "{text}"
    );
    assert!(!text.contains("web-weather-bengaluru"), "{text}");

    let o = toolgate(&["gate", base.to_str().unwrap(), cand.to_str().unwrap()]);
    let log = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{log}");
    assert!(
        log.contains("coverage: 1 case changed its expectation since the baseline"),
        "{log}"
    );

    // The same runs with the policy key: the edited case is allowed to go uncompared.
    let policy = tmp.path().join("policy.toml");
    std::fs::write(&policy, "allow_missing_cases = true\n").unwrap();
    let o = toolgate(&[
        "gate",
        base.to_str().unwrap(),
        cand.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ]);
    let log = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{log}");
}
