//! Issue 22 §1 through the binary: the golden `ask` and no-tools cases pass on sim-strong
//! with a clean decision matrix, sim-weak hallucinates calls the report counts and the gate
//! refuses, and a record-only case is recorded, never judged.

use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;
use common::{root, run as toolgate, run_into};

fn run_sim(dir: &Path, name: &str, target: &str, suite: &str) -> PathBuf {
    run_into(&dir.join(name), &["--target", target, "--suite", suite])
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn group<'a>(report: &'a Value, suite: &str) -> &'a Value {
    report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["suite"] == suite)
        .unwrap_or_else(|| panic!("no group for {suite}"))
}

#[test]
fn ask_and_no_tools_cases_pass_on_the_strong_sim_and_expose_the_weak_one() {
    let tmp = tempfile::tempdir().unwrap();
    let strong = run_sim(tmp.path(), "strong", "sim", "cases/tool-routing");
    let weak = run_sim(tmp.path(), "weak", "sim-weak", "cases/tool-routing");

    let s = json(&strong.join("report.json"));
    for suite in ["tool-routing", "tool-routing-no-tools"] {
        let g = group(&s, suite);
        assert_eq!(g["failed"], 0, "{suite}: {g:#}");
        let d = &g["decisions"];
        assert_eq!(d["macro_f1"], 1.0, "{suite}: {d:#}");
        assert_eq!(d["tool_hallucination"]["successes"], 0, "{suite}");
    }
    // The 9 ask cases sit on the diagonal: matrix[ask][ask].
    assert_eq!(group(&s, "tool-routing")["decisions"]["matrix"][2][2], 9);
    // The no-tools suite: 8 declines and 4 answers, nothing called.
    let nt = &group(&s, "tool-routing-no-tools")["decisions"];
    assert_eq!(nt["matrix"][3][3], 8, "{nt:#}");
    assert_eq!(nt["matrix"][1][1], 4, "{nt:#}");

    let w = json(&weak.join("report.json"));
    let nt = &group(&w, "tool-routing-no-tools")["decisions"];
    assert_eq!(nt["tool_hallucination"]["successes"], 3, "{nt:#}");
    assert_eq!(nt["tool_hallucination"]["n"], 12, "{nt:#}");
    let tr = &group(&w, "tool-routing")["decisions"];
    assert_eq!(
        tr["matrix"][2][0], 4,
        "ask cases answered with a guessed call: {tr:#}"
    );
    let grades = std::fs::read_to_string(weak.join("grades.jsonl")).unwrap();
    let look = grades
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|g| g["key"]["case"] == "ask-look-him-up")
        .unwrap();
    assert_eq!(look["failure"], "unexpected_call");
    assert_eq!(look["decision"], "call");
    assert_eq!(look["expected_decision"], "ask");
    let md = std::fs::read_to_string(weak.join("report.md")).unwrap();
    assert!(md.contains("## When to call"), "{md}");
    assert!(
        md.contains("Hallucinated calls: tool-routing-no-tools/nt-entity-meera-phone"),
        "{md}"
    );

    // The gate caps the candidate's hallucination rate and names the cases.
    let policy = tmp.path().join("policy.toml");
    std::fs::write(
        &policy,
        "max_tool_hallucination_rate = 0.05\nallow_missing_cases = true\n",
    )
    .unwrap();
    let o = toolgate(&[
        "gate",
        strong.to_str().unwrap(),
        weak.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("max_tool_hallucination_rate"), "{out}");
    assert!(out.contains("candidate tool hallucination"), "{out}");
}

#[test]
fn a_record_only_case_is_recorded_and_never_judged() {
    let tmp = tempfile::tempdir().unwrap();
    let tools = root().join("golden/tools/voice-3tool.json");
    let suite = tmp.path().join("record.yaml");
    std::fs::write(
        &suite,
        format!(
            "suite: record-only\nkind: tool_call\ntools: {}\ncases:\n  - id: judged\n    user: What did Priya say about the product launch?\n    expect: {{ calls: [ {{ name: search_memory }} ] }}\n  - id: just-record\n    user: Will it rain in Bengaluru this evening?\n",
            tools.display()
        ),
    )
    .unwrap();
    let v = toolgate(&["validate", suite.to_str().unwrap()]);
    assert_eq!(
        v.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&v.stderr)
    );
    let said = String::from_utf8_lossy(&v.stdout);
    assert!(
        said.contains("note: 1 record-only case(s) without `expect` (recorded, never judged): record-only/just-record"),
        "{said}"
    );
    let run = run_sim(tmp.path(), "r", "sim", suite.to_str().unwrap());
    let grades = std::fs::read_to_string(run.join("grades.jsonl")).unwrap();
    let rec: Value =
        serde_json::from_str(grades.lines().find(|l| l.contains("just-record")).unwrap()).unwrap();
    assert_eq!(rec["verdict"], "recorded", "{rec:#}");
    assert!(rec["diagnosis"]
        .as_str()
        .unwrap()
        .starts_with("recorded (no expectation)"));
    assert!(rec["decision"].is_string(), "{rec:#}");
    let r = json(&run.join("report.json"));
    assert_eq!(r["totals"]["judged"], 1, "{:#}", r["totals"]);
    assert_eq!(r["totals"]["recorded"], 1, "{:#}", r["totals"]);
    let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
    assert!(
        junit.contains("<skipped message=\"record-only case"),
        "{junit}"
    );
}
