//! Issue 22 §3: `toolgate agree REF CAND` through the binary. Identical runs agree fully, a
//! wire-dialect swap of the same model agrees fully, a degraded server does not (and
//! `--min-trigger-f1` fails it); incomplete runs exit 3, bad input exits 2.

use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;
use common::{run as toolgate, run_into, Mock};

/// `toolgate run ARGS --suite cases/tool-routing/voice-3tool.yaml --out DIR/NAME` at the repository root.
fn run_suite(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let mut all = vec!["--suite", "cases/tool-routing/voice-3tool.yaml"];
    all.extend_from_slice(args);
    run_into(&dir.join(name), &all)
}

struct Agree {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn agree(args: &[&Path], flags: &[&str]) -> Agree {
    let mut all: Vec<&str> = vec!["agree"];
    all.extend(args.iter().map(|p| p.to_str().unwrap()));
    all.extend_from_slice(flags);
    let o = toolgate(&all);
    Agree {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn json_of(cand: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(cand.join("agree.json")).unwrap()).unwrap()
}

fn rate(row: &Value, field: &str) -> f64 {
    row[field]["value"].as_f64().unwrap()
}

/// Every figure of every row is 1.0 and no turn disagrees.
fn assert_full_agreement(j: &Value, log: &str) {
    let rows = j["rows"].as_array().unwrap();
    assert!(!rows.is_empty(), "{log}");
    for r in rows {
        for f in ["precision", "recall", "same_tool", "arguments", "agreement"] {
            assert_eq!(rate(r, f), 1.0, "{f}: {log}");
        }
        assert_eq!(r["f1"].as_f64(), Some(1.0), "{log}");
        assert_eq!(rate(r, "schema_cand"), 1.0, "{log}");
    }
    assert_eq!(j["disagreements"].as_array().unwrap().len(), 0, "{log}");
}

#[test]
fn identical_runs_agree_fully() {
    let tmp = tempfile::tempdir().unwrap();
    let a = run_suite(tmp.path(), "a", &["--target", "sim"]);
    let o = agree(
        &[&a, &a],
        &["--min-trigger-f1", "1", "--min-schema-validity", "1"],
    );
    assert_eq!(o.code, Some(0), "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout
            .contains("57 paired trials, 57 turns: 57 agree, 0 disagree"),
        "{}",
        o.stdout
    );
    assert!(o.stderr.contains("agree.md"), "{}", o.stderr);
    assert_full_agreement(&json_of(&a), &o.stdout);
    assert!(a.join("agree.md").is_file());
}

#[test]
fn a_wire_dialect_swap_of_the_same_model_agrees() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("llamacpp.yaml");
    std::fs::write(&script, "model: sim-strong\ndialect: llamacpp\n").unwrap();
    let mock = Mock::start(&[
        "--script",
        script.to_str().unwrap(),
        "--cases",
        "cases/tool-routing",
    ]);
    let reference = run_suite(tmp.path(), "ref", &["--target", "sim"]);
    let cand = run_suite(
        tmp.path(),
        "cand",
        &["--target", &mock.url, "--model", "sim-strong"],
    );
    // The swap is real: another profile on the wire.
    let m = std::fs::read_to_string(cand.join("manifest.json")).unwrap();
    assert!(m.contains("\"profile\": \"llamacpp\""), "{m}");
    let o = agree(&[&reference, &cand], &["--min-trigger-f1", "1"]);
    assert_eq!(o.code, Some(0), "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout
            .contains("sim → url-1 · tool-routing · thinking=off"),
        "{}",
        o.stdout
    );
    assert_full_agreement(&json_of(&cand), &o.stdout);
}

#[test]
fn a_degraded_server_does_not_agree_and_fails_the_threshold() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = run_suite(tmp.path(), "ref", &["--target", "sim"]);
    let cand = run_suite(tmp.path(), "cand", &["--target", "sim-weak"]);
    let o = agree(&[&reference, &cand], &["--min-trigger-f1", "0.99"]);
    assert_eq!(o.code, Some(1), "{}{}", o.stdout, o.stderr);
    assert!(
        o.stderr
            .contains("UNDER THRESHOLD: sim → sim-weak · tool-routing · thinking=off: trigger F1"),
        "{}",
        o.stderr
    );
    let j = json_of(&cand);
    let row = &j["rows"][0];
    assert!(row["f1"].as_f64().unwrap() < 1.0);
    for f in ["same_tool", "arguments", "agreement"] {
        assert!(rate(row, f) < 1.0, "{f}");
    }
    assert!(rate(row, "schema_cand") < 1.0);
    assert_eq!(rate(row, "schema_ref"), 1.0);
    // Each kind of disagreement is listed with both answers.
    let ds = j["disagreements"].as_array().unwrap();
    for kind in ["missed_call", "extra_call", "other_tool", "other_arguments"] {
        assert!(ds.iter().any(|d| d["kind"] == kind), "{kind}");
    }
    assert!(
        o.stdout.contains("tool-routing/entity-lakshmi-aunty")
            && o.stdout
                .contains("REF:  get_entity_details({\"name\":\"lakshmi\"})")
            && o.stdout.contains("CAND: get_entity_details({\"name\":42})"),
        "{}",
        o.stdout
    );
    let md = std::fs::read_to_string(cand.join("agree.md")).unwrap();
    assert!(
        md.contains("| entity-lakshmi-aunty | voice-assistant | thinking=off | 0 | 0 | other arguments | get_entity_details({\"name\":\"lakshmi\"}) | get_entity_details({\"name\":42}) |"),
        "{md}"
    );
    // Without a threshold the same comparison is only a report.
    assert_eq!(agree(&[&reference, &cand], &[]).code, Some(0));
}

fn copy_run(from: &Path, to: &Path, edit: impl Fn(&str, String) -> String) {
    std::fs::create_dir_all(to).unwrap();
    for name in ["manifest.json", "responses.jsonl"] {
        let text = std::fs::read_to_string(from.join(name)).unwrap();
        std::fs::write(to.join(name), edit(name, text)).unwrap();
    }
}

#[test]
fn an_incomplete_run_exits_3_with_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let a = run_suite(tmp.path(), "a", &["--target", "sim"]);
    let b = tmp.path().join("b");
    copy_run(&a, &b, |name, t| {
        if name == "manifest.json" {
            t.replace("\"complete\": true", "\"complete\": false")
        } else {
            t
        }
    });
    let o = agree(&[&a, &b], &[]);
    assert_eq!(o.code, Some(3), "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("warning: the CAND run is INCOMPLETE"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("57 agree"), "{}", o.stdout);
}

#[test]
fn bad_input_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let a = run_suite(tmp.path(), "a", &["--target", "sim"]);
    // Not a run folder.
    let o = agree(&[tmp.path(), &a], &[]);
    assert_eq!(o.code, Some(2));
    assert!(o.stderr.contains("is not a run folder"), "{}", o.stderr);
    // Nothing pairs: another suite name on every trial.
    let other = tmp.path().join("other");
    copy_run(&a, &other, |_, t| {
        t.replace("\"suite\":\"tool-routing\"", "\"suite\":\"elsewhere\"")
    });
    let o = agree(&[&a, &other], &[]);
    assert_eq!(o.code, Some(2), "{}{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("no trial of CAND pairs"), "{}", o.stderr);
    // A threshold outside 0–1.
    assert_eq!(agree(&[&a, &a], &["--min-trigger-f1", "2"]).code, Some(2));
}

#[test]
fn several_reference_targets_pair_by_name_or_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let both = run_suite(
        tmp.path(),
        "both",
        &["--target", "sim", "--target", "sim-weak"],
    );
    let o = agree(&[&both, &both], &[]);
    assert_eq!(o.code, Some(0), "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("targets paired: by name"), "{}", o.stdout);
    assert!(o.stdout.contains("sim-weak → sim-weak"), "{}", o.stdout);
    let renamed = tmp.path().join("renamed");
    copy_run(&both, &renamed, |_, t| {
        t.replace("\"target\":\"sim-weak\"", "\"target\":\"other\"")
    });
    let o = agree(&[&both, &renamed], &[]);
    assert_eq!(o.code, Some(2), "{}{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("ambiguous targets"), "{}", o.stderr);
}

#[test]
fn a_case_whose_input_changed_is_listed_not_compared() {
    let tmp = tempfile::tempdir().unwrap();
    let a = run_suite(tmp.path(), "a", &["--target", "sim"]);
    let b = tmp.path().join("b");
    copy_run(&a, &b, |name, t| {
        if name != "responses.jsonl" {
            return t;
        }
        t.lines()
            .map(|l| {
                if l.contains("\"case\":\"web-rcb-score\"") {
                    let at = l.find("\"input_hash\":\"").unwrap() + 14;
                    format!("{}0000{}", &l[..at], &l[at + 4..])
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    });
    let o = agree(&[&a, &b], &[]);
    assert_eq!(o.code, Some(0), "{}{}", o.stdout, o.stderr);
    assert!(
        o.stderr
            .contains("warning: tool-routing/web-rcb-score: the case's input differs"),
        "{}",
        o.stderr
    );
    assert!(o.stdout.contains("56 paired trials"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("changed input (another question; not compared) (1):"),
        "{}",
        o.stdout
    );
}
