//! The gate's three outcomes through the binary, on run folders written by the test: each
//! row of the issue-18 table (small suites, repeats pooled per case), coverage, policy
//! names, slice filters, the CI log's order, a closed pipe, an unwritable step summary.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One case: its suite, name and the verdict of each repeat (true = pass).
struct Case<'a> {
    suite: &'a str,
    name: String,
    verdicts: Vec<bool>,
}

fn case<'a>(suite: &'a str, name: impl Into<String>, verdicts: &[bool]) -> Case<'a> {
    Case {
        suite,
        name: name.into(),
        verdicts: verdicts.to_vec(),
    }
}

/// Writes a minimal graded run folder (manifest + grades) named `id` under `root`.
fn write_run(root: &Path, id: &str, prompt: &str, cases: &[Case]) -> PathBuf {
    let dir = root.join(id);
    std::fs::create_dir_all(&dir).unwrap();
    let repeats = cases.iter().map(|c| c.verdicts.len()).max().unwrap_or(1);
    let manifest = json!({
        "run_id": id, "toolgate_version": "0.1.0", "started_at": "2026-12-01T00:00:00Z",
        "complete": true, "targets": [], "suites": [], "variants": ["thinking=off"],
        "repeats": repeats, "planned_trials": cases.iter().map(|c| c.verdicts.len()).sum::<usize>(),
    });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    let mut grades = String::new();
    for c in cases {
        for (i, pass) in c.verdicts.iter().enumerate() {
            let mut g = json!({
                "key": {"target": "t", "suite": c.suite, "case": c.name, "prompt": prompt,
                        "variant": "thinking=off", "repeat": i},
                "kind": "tool_call",
                "verdict": if *pass { "pass" } else { "fail" },
                "diagnosis": if *pass { "as expected".to_string() } else {
                    format!("expected web_search(query≈\"{}\", submit=true), got web_search(query=\"x\", submit=false)", c.name)
                },
                "grader_version": "0.1.0",
            });
            if !pass {
                g["failure"] = json!("args_mismatch");
            }
            grades.push_str(&g.to_string());
            grades.push('\n');
        }
    }
    std::fs::write(dir.join("grades.jsonl"), grades).unwrap();
    std::fs::write(dir.join("responses.jsonl"), "").unwrap();
    dir
}

/// `n` single-repeat cases in suite `s`; `pass(i)` gives case i's verdict.
fn suite(s: &str, n: usize, pass: impl Fn(usize) -> bool) -> Vec<Case<'_>> {
    (0..n)
        .map(|i| case(s, format!("case-{i:03}"), &[pass(i)]))
        .collect()
}

fn gate(base: &Path, cand: &Path, policy: Option<&str>, extra: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_toolgate"));
    c.arg("gate").arg(base).arg(cand).args(extra);
    c.env_remove("GITHUB_STEP_SUMMARY");
    if let Some(p) = policy {
        let f = base.parent().unwrap().join("policy.toml");
        std::fs::write(&f, p).unwrap();
        c.arg("--policy").arg(f);
    }
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

#[test]
fn sixteen_cases_five_real_regressions_fail() {
    let t = tempfile::tempdir().unwrap();
    // 15/16 → 10/16: five pass→fail, nothing improves. One-sided sign test p = 1/32.
    let b = write_run(t.path(), "b", "p", &suite("std16", 16, |i| i < 15));
    let c = write_run(
        t.path(),
        "c",
        "p",
        &suite("std16", 16, |i| (5..15).contains(&i)),
    );
    let o = gate(&b, &c, None, &[]);
    let out = text(&o);
    assert_eq!(code(&o), 1, "{out}");
    assert!(out.starts_with("gate FAILED (exit 1)"), "{out}");
    assert!(out.contains("[FAIL] max_accuracy_drop"), "{out}");
    assert!(out.contains("p = 0.0312"), "{out}");
}

#[test]
fn no_change_passes() {
    let t = tempfile::tempdir().unwrap();
    let b = write_run(t.path(), "b", "p", &suite("std16", 16, |_| true));
    let c = write_run(t.path(), "c", "p", &suite("std16", 16, |_| true));
    let o = gate(&b, &c, None, &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).starts_with("gate PASSED (exit 0)"));
}

#[test]
fn one_flip_in_sixteen_is_inconclusive_with_computed_advice() {
    let t = tempfile::tempdir().unwrap();
    let b = write_run(t.path(), "b", "p", &suite("std16", 16, |_| true));
    let c = write_run(t.path(), "c", "p", &suite("std16", 16, |i| i != 3));
    let o = gate(&b, &c, None, &[]);
    let out = text(&o);
    assert_eq!(code(&o), 1, "{out}");
    assert!(out.starts_with("gate INCONCLUSIVE (exit 1)"), "{out}");
    assert!(out.contains("[INCONCLUSIVE] max_accuracy_drop"), "{out}");
    // 6.25 pts over 16 cases: 5 cases must move for p < 0.05 → 80 cases or 5 repeats.
    assert!(
        out.contains("with 16 cases, a drop of 6.2 pts cannot be told from noise. `--repeat 5`, or about 64 more cases, would detect a drop of 6.2 pts at α = 0.05."),
        "{out}"
    );
    // Labelled as inconclusive, not as a regression.
    assert!(!out.contains("[FAIL]"), "{out}");

    let wider = gate(&b, &c, Some("max_accuracy_drop = 0.1\n"), &[]);
    assert_eq!(code(&wider), 0, "{}", text(&wider));
    let allowed = gate(&b, &c, Some("on_inconclusive = \"pass\"\n"), &[]);
    assert_eq!(code(&allowed), 0, "{}", text(&allowed));
    assert!(text(&allowed).contains("[INCONCLUSIVE] max_accuracy_drop"));
}

#[test]
fn two_hundred_cases_real_drop_fails() {
    let t = tempfile::tempdir().unwrap();
    // 180 → 150: cases 0..35 pass→fail, 180..185 fail→pass.
    let b = write_run(t.path(), "b", "p", &suite("big", 200, |i| i < 180));
    let c = write_run(
        t.path(),
        "c",
        "p",
        &suite("big", 200, |i| (35..185).contains(&i)),
    );
    let o = gate(&b, &c, None, &[]);
    let out = text(&o);
    assert_eq!(code(&o), 1, "{out}");
    assert!(out.starts_with("gate FAILED"), "{out}");
    assert!(out.contains("35 worse, 5 better"), "{out}");
    assert!(out.contains("p < 0.0001"), "{out}");
    // At most 10 regressed cases in the log, the rest counted.
    assert!(out.contains("regressed cases (35):"), "{out}");
    assert!(out.contains("… 25 more in the compare report"), "{out}");
    // The log ends with the compare page's path, after the gate report's; the gate report
    // lists every case, the compare views the changed ones with both runs' answers.
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[lines.len() - 2..],
        [
            format!("gate report: {}", c.join("gate-b.md").display()),
            format!("compare report: {}", c.join("compare.html").display())
        ]
    );
    let page = std::fs::read_to_string(c.join("compare.html")).unwrap();
    assert!(page.contains("<h2>Regressions (35)</h2>"), "{page}");
    let views = std::fs::read_to_string(c.join("compare.md")).unwrap();
    assert!(views.contains("\n## Regressions (35)\n"), "{views}");
    assert!(
        views.contains("### big/case-034 [thinking=off] p @t — 1/1 → 0/1"),
        "{views}"
    );
    let md = std::fs::read_to_string(c.join("gate-b.md")).unwrap();
    assert!(
        md.contains("| case-034 | big | thinking=off | 1/1 | 0/1 | regressed |"),
        "{md}"
    );
}

#[test]
fn one_stable_failure_in_eight_repeated_cases_fails_on_the_case_level() {
    let t = tempfile::tempdir().unwrap();
    let all = [true; 10];
    let b_cases: Vec<Case> = (0..8)
        .map(|i| case("core8", format!("c{i}"), &all))
        .collect();
    let mut c_cases: Vec<Case> = (1..8)
        .map(|i| case("core8", format!("c{i}"), &all))
        .collect();
    c_cases.insert(0, case("core8", "c0", &[false; 10]));
    let b = write_run(t.path(), "b", "p", &b_cases);
    let c = write_run(t.path(), "c", "p", &c_cases);
    let o = gate(&b, &c, None, &[]);
    let out = text(&o);
    assert_eq!(code(&o), 1, "{out}");
    assert!(out.starts_with("gate FAILED"), "{out}");
    assert!(
        out.contains("[FAIL] max_stable_regressions: 1 stable regression"),
        "{out}"
    );
    // The case is the unit: one case of eight, p = 0.5, never the trial-level ≈ 0.002.
    assert!(out.contains("p = 0.5000"), "{out}");
    assert!(!out.contains("0.0020") && !out.contains("0.0019"), "{out}");
    assert!(out.contains("stable: c0 (core8, thinking=off): 10/10 → 0/10 — [args_mismatch] expected web_search(query≈\"c0\", submit=true), got web_search(query=\"x\", submit=false)"), "{out}");

    // A stable regression is allowed when the policy says so; the drop is then the question.
    let o = gate(
        &b,
        &c,
        Some("max_stable_regressions = 1\non_inconclusive = \"pass\"\n"),
        &[],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn flaky_cases_are_named_flaky_not_regressions() {
    let t = tempfile::tempdir().unwrap();
    let all = [true; 5];
    let mut b_cases: Vec<Case> = (0..7).map(|i| case("s", format!("c{i}"), &all)).collect();
    b_cases.push(case("s", "priya-launch", &all));
    let mut c_cases: Vec<Case> = (0..7).map(|i| case("s", format!("c{i}"), &all)).collect();
    c_cases.push(case(
        "s",
        "priya-launch",
        &[true, false, false, false, false],
    ));
    let b = write_run(t.path(), "b", "p", &b_cases);
    let c = write_run(t.path(), "c", "p", &c_cases);
    let o = gate(&b, &c, None, &["--base-filter", "prompt=p"]);
    let out = text(&o);
    assert!(
        out.contains("flaky cases (mixed results, not counted as regressions) (1):"),
        "{out}"
    );
    assert!(
        out.contains("priya-launch (s, thinking=off): 5/5 → 1/5"),
        "{out}"
    );
    assert!(!out.contains("regressed cases"), "{out}");
    assert!(
        out.contains("[ok] max_stable_regressions: 0 stable regressions"),
        "{out}"
    );

    let cmp = Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .arg("compare")
        .arg(&b)
        .arg(&c)
        .output()
        .unwrap();
    let ct = text(&cmp);
    assert!(ct.contains("base 5/5 → cand 1/5  flaky"), "{ct}");
    assert!(
        ct.contains("\nverdict: no detectable difference at this size"),
        "{ct}"
    );
}

#[test]
fn missing_candidate_cases_fail_unless_allowed() {
    let t = tempfile::tempdir().unwrap();
    let mut b_cases = suite("a", 8, |_| true);
    b_cases.extend(suite("b", 12, |_| true));
    let b = write_run(t.path(), "b", "p", &b_cases);
    let c = write_run(t.path(), "c", "p", &suite("a", 8, |_| true));
    let o = gate(&b, &c, None, &[]);
    let out = text(&o);
    assert_eq!(code(&o), 1, "{out}");
    assert!(
        out.contains("coverage: 12 baseline cases have no candidate trial"),
        "{out}"
    );
    assert!(
        out.contains("12 base trials"),
        "unpaired trials reported: {out}"
    );
    let o = gate(&b, &c, Some("allow_missing_cases = true\n"), &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
}

#[test]
fn policy_names_and_filters_that_match_nothing_are_bad_input() {
    let t = tempfile::tempdir().unwrap();
    let b = write_run(t.path(), "b", "p", &suite("voice", 4, |_| true));
    let c = write_run(t.path(), "c", "p", &suite("voice", 4, |_| true));
    let o = gate(&b, &c, Some("[suites.voise]\nmin_accuracy = 0.9\n"), &[]);
    assert_eq!(code(&o), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("suite `voise`") && err.contains("voice"),
        "{err}"
    );
    let o = gate(&b, &c, None, &["--cand-filter", "prompt=q"]);
    assert_eq!(code(&o), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("prompt=q matches no trial") && err.contains("values there: p"),
        "{err}"
    );
}

#[test]
fn runs_with_one_prompt_each_pair_across_prompts() {
    let t = tempfile::tempdir().unwrap();
    let b = write_run(t.path(), "b", "generic", &suite("s", 16, |i| i < 15));
    let c = write_run(
        t.path(),
        "c",
        "voice",
        &suite("s", 16, |i| (5..15).contains(&i)),
    );
    let o = gate(&b, &c, None, &[]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("16 cases compared"), "{}", text(&o));
}

#[test]
fn closed_pipe_keeps_the_exit_code_and_bad_step_summary_is_a_warning() {
    let t = tempfile::tempdir().unwrap();
    let b = write_run(t.path(), "b", "p", &suite("std16", 16, |i| i < 15));
    let c = write_run(
        t.path(),
        "c",
        "p",
        &suite("std16", 16, |i| (5..15).contains(&i)),
    );
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let st = Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .arg("gate")
        .arg(&b)
        .arg(&c)
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdout(writer)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(1));

    let o = Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .arg("gate")
        .arg(&b)
        .arg(&c)
        .env(
            "GITHUB_STEP_SUMMARY",
            t.path().join("no/such/dir/summary.md"),
        )
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: cannot write $GITHUB_STEP_SUMMARY"),
        "{err}"
    );
}
