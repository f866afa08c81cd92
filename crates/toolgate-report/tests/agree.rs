//! `toolgate agree` renderings over the fixture runs (golden/runs/README.md): `base`
//! (qwen3-8b) as the reference, `cand` (qwen3-14b) as the candidate. The voice suite's
//! tools file gives schema validity; the other suites have none loaded.

#[allow(dead_code)] // `load` reads grades; agreement reads responses only
mod common;

use common::fixture_dir;
use std::sync::Arc;
use toolgate_report::agree::{agree, load_trials, Agreement, RunLabel, SuiteTools};
use toolgate_report::agree_view::{render_agree_json, render_agree_markdown, render_agree_text};

fn side(name: &str) -> (RunLabel, Vec<toolgate_report::agree::Trial>) {
    let (trials, notes) = load_trials(&fixture_dir(name)).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    let label = RunLabel {
        dir: format!("golden/runs/{name}"),
        run_id: name.to_string(),
        complete: true,
    };
    (label, trials)
}

fn tools() -> SuiteTools {
    let path = fixture_dir("base").join("../../tools/voice-3tool.json");
    let doc = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let set = toolgate_core::tools::parse_tools(&doc).unwrap();
    SuiteTools::from([("voice-3tool".to_string(), Arc::new(set))])
}

fn base_cand() -> Agreement {
    let (bl, bt) = side("base");
    let (cl, ct) = side("cand");
    agree((bl, &bt), (cl, &ct), &tools()).unwrap()
}

#[test]
fn agree_text_snapshot() {
    insta::assert_snapshot!("agree_base_cand_text", render_agree_text(&base_cand()));
}

#[test]
fn agree_markdown_snapshot() {
    insta::assert_snapshot!("agree_base_cand_md", render_agree_markdown(&base_cand()));
}

#[test]
fn agree_json_snapshot() {
    insta::assert_snapshot!("agree_base_cand_json", render_agree_json(&base_cand()));
}

/// The infra error of `base` is counted, not compared; the trial `cand` added is listed.
#[test]
fn errors_are_counted_apart_and_unpaired_trials_listed() {
    let ag = base_cand();
    assert_eq!(ag.rows.iter().map(|r| r.errors).sum::<u64>(), 1);
    assert!(
        ag.only_candidate
            .iter()
            .any(|t| t.contains("web-cricket-score")),
        "{:?}",
        ag.only_candidate
    );
    // A run agrees with itself on everything it answered.
    let (bl, bt) = side("base");
    let same = agree((bl.clone(), &bt), (bl, &bt), &tools()).unwrap();
    assert!(same.disagreements.is_empty());
    assert!(same
        .rows
        .iter()
        .all(|r| r.agreement.value.is_none_or(|v| v == 1.0)));
}

/// Model output reaches the terminal escaped and the Markdown table as one escaped cell.
#[test]
fn hostile_answers_are_escaped() {
    let (bl, bt) = side("base");
    let (cl, mut ct) = side("base");
    let hostile = "::error::pwned\n| x | ![i](https://e.example/p.png) <script>\u{1b}[2J";
    for t in ct.iter_mut() {
        for turn in t.turns.iter_mut() {
            turn.calls.clear();
            turn.text = Some(hostile.to_string());
        }
    }
    let ag = agree((bl, &bt), (cl, &ct), &tools()).unwrap();
    let text = render_agree_text(&ag);
    assert!(!text.contains('\u{1b}') && !text.lines().any(|l| l.starts_with("::")));
    assert!(text.contains("CAND: text: ::error::pwned\\n"), "{text}");
    let md = render_agree_markdown(&ag);
    assert!(!md.contains("<script>") && !md.contains("[i](https") && !md.contains('\u{1b}'));
    assert!(md.contains("\\| x \\|"), "{md}");
}
