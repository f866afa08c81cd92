//! BFCL's own reference answers, fed back as recorded responses, must all pass toolgate's
//! graders: the import keeps BFCL's meaning. Data: `cargo xtask bfcl-data` (PyPI, not
//! committed). Skips with a message when the data is absent, unless TOOLGATE_REQUIRE_BFCL=1
//! (set by `.ci/run` after fetching it).

use serde_json::Value;
use std::path::{Path, PathBuf};
use toolgate_core::load::{load_all, LoadContext};
use toolgate_core::{AssistantMessage, RawToolCall, ResponseRecord, TrialKey, TurnRecord, Verdict};
use toolgate_import::{import, write, Reference, CATEGORIES};

fn data() -> Option<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bfcl");
    if toolgate_import::data_dir(&d)
        .join("possible_answer")
        .is_dir()
    {
        return Some(d);
    }
    if std::env::var("TOOLGATE_REQUIRE_BFCL").is_ok_and(|v| v == "1") {
        panic!(
            "BFCL data missing at {} (run `cargo xtask bfcl-data`)",
            d.display()
        );
    }
    eprintln!(
        "SKIP: no BFCL data in {}; run `cargo xtask bfcl-data`",
        d.display()
    );
    None
}

fn record(suite: &str, case: &str, reference: &Reference) -> ResponseRecord {
    let message = match reference {
        Reference::NoCall => AssistantMessage {
            content: Some("I can't help with that using the available functions.".into()),
            ..Default::default()
        },
        Reference::Calls(calls) => AssistantMessage {
            content: None,
            tool_calls: calls
                .iter()
                .enumerate()
                .map(|(i, (name, args))| RawToolCall {
                    id: Some(format!("call_{i}")),
                    name: name.clone(),
                    // As a server sends it: a JSON string.
                    arguments: Value::String(args.to_string()),
                })
                .collect(),
            ..Default::default()
        },
    };
    ResponseRecord {
        key: TrialKey {
            target: "bfcl-reference".into(),
            suite: suite.into(),
            case: case.into(),
            prompt: "-".into(),
            variant: "thinking=off".into(),
            repeat: 0,
        },
        kind: "tool_call".into(),
        category: None,
        request: Default::default(),
        turns: vec![TurnRecord {
            message: Some(message),
            finish_reason: Some(
                if matches!(reference, Reference::NoCall) {
                    "stop"
                } else {
                    "tool_calls"
                }
                .into(),
            ),
            ..Default::default()
        }],
        error: None,
        retries: vec![],
        started_at: String::new(),
        warmup: false,
        input_hash: None,
        expect_hash: None,
    }
}

#[test]
fn bfcl_reference_answers_pass_toolgate_graders() {
    let Some(dir) = data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut summary = Vec::new();
    for (category, _) in CATEGORIES {
        let imp = import(&dir, category).unwrap();
        assert!(
            imp.entries.len() >= 100,
            "{category}: only {} entries",
            imp.entries.len()
        );
        let out = tmp.path().join(category);
        write(&imp, &out).unwrap();
        let ctx = LoadContext {
            prompts: None,
            today: "2026-01-01".into(),
        };
        let (suites, diags) = load_all(std::slice::from_ref(&out), &ctx);
        assert!(
            diags.is_empty(),
            "{category}: the imported suites do not load:\n{diags:?}"
        );
        assert_eq!(suites.len(), imp.entries.len());
        let mut failed = Vec::new();
        for e in &imp.entries {
            let suite = suites
                .iter()
                .find(|s| s.name == format!("bfcl-{}", e.id))
                .unwrap();
            let case = &suite.cases[0];
            let g =
                toolgate_grade::grade(suite, case, &record(&suite.name, &case.id, &e.reference));
            if g.verdict != Verdict::Pass {
                failed.push(format!("{}: {:?} {}", e.id, g.failure, g.diagnosis));
            }
        }
        assert!(
            failed.is_empty(),
            "{category}: {} of {} reference answers fail:\n{}",
            failed.len(),
            imp.entries.len(),
            failed.join("\n")
        );
        summary.push(format!(
            "{category}: {} entries pass ({} data warnings)",
            imp.entries.len(),
            imp.warnings.len()
        ));
    }
    eprintln!("{}", summary.join("\n"));
}
