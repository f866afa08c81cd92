//! Property tests for gate policy files (issue 8, guarantee 3): any text is either a policy
//! whose ranges hold or a rejection that names a real line and column; an out-of-range
//! value is reported on the line that holds it.

use proptest::prelude::*;
use std::path::Path;
use toolgate_report::Policy;

const DOC_EXAMPLE: &str = "min_accuracy = 0.8\nmax_regressions = 2\nmax_accuracy_drop = 0.05\n\
require_significance = true\nalpha = 0.05\nmax_ttft_p50_ratio = 1.5\nallow_incomplete = false\n\n\
[suites.voice-3tool]\nmin_accuracy = 0.9\nmax_accuracy_drop = 0.0\n\n\
[tools.get_entity_details]\nmin_accuracy = 0.75\n";

fn check(text: &str) -> Result<(), TestCaseError> {
    match Policy::from_toml(text, Path::new("policy.toml")) {
        Ok(p) => {
            prop_assert!((0.0..=1.0).contains(&p.max_accuracy_drop));
            prop_assert!(p.alpha > 0.0 && p.alpha < 1.0);
            if let Some(m) = p.min_accuracy {
                prop_assert!((0.0..=1.0).contains(&m));
            }
        }
        Err(e) => {
            let lines = text.split('\n').count();
            prop_assert!(
                e.line >= 1 && e.line <= lines,
                "line {} of {lines}: {e}",
                e.line
            );
            prop_assert!(e.column >= 1, "{e}");
            prop_assert!(!e.message.trim().is_empty(), "{e}");
        }
    }
    Ok(())
}

/// A top-level key with a value that may be out of range, as TOML text, and whether the
/// policy must accept it.
fn entry() -> impl Strategy<Value = (String, bool)> {
    let frac = prop_oneof![0.0f64..=1.0, -2.0f64..-0.001, 1.001f64..5.0];
    prop_oneof![
        frac.clone()
            .prop_map(|v| (format!("min_accuracy = {v:?}"), (0.0..=1.0).contains(&v))),
        frac.prop_map(|v| (
            format!("max_accuracy_drop = {v:?}"),
            (0.0..=1.0).contains(&v)
        )),
        (-1.0f64..2.0).prop_map(|v| (format!("alpha = {v:?}"), v > 0.0 && v < 1.0)),
        (-1.0f64..3.0).prop_map(|v| (format!("max_ttft_p50_ratio = {v:?}"), v > 0.0)),
        (0u64..10).prop_map(|v| (format!("max_regressions = {v}"), true)),
        any::<bool>().prop_map(|b| (format!("allow_incomplete = {b}"), true)),
        any::<bool>().prop_map(|b| (format!("require_significance = {b}"), true)),
        Just(("min_acuracy = 0.5".to_string(), false)),
        Just(("max_regressions = -1".to_string(), false)),
        Just(("alpha = \"0.05\"".to_string(), false)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, failure_persistence: None, ..ProptestConfig::default() })]

    /// Generated policies: accepted exactly when every value is valid; otherwise the error
    /// names the line of a bad entry.
    #[test]
    fn bad_values_are_refused_on_their_line(entries in prop::collection::btree_map(0usize..7, entry(), 1..7)) {
        // One entry per key (TOML refuses duplicate keys, which is a different error).
        let mut seen = std::collections::BTreeSet::new();
        let entries: Vec<(String, bool)> = entries
            .into_values()
            .filter(|(l, _)| seen.insert(l.split(' ').next().unwrap_or("").to_string()))
            .collect();
        let text: String = entries.iter().map(|(l, _)| format!("{l}\n")).collect();
        let r = Policy::from_toml(&text, Path::new("p.toml"));
        let bad: Vec<usize> = (0..entries.len()).filter(|&i| !entries[i].1).map(|i| i + 1).collect();
        if bad.is_empty() {
            prop_assert!(r.is_ok(), "{text}\n{:?}", r.err());
        } else {
            // Which bad entry serde meets first is its business; the line must be a bad one.
            let e = r.expect_err("an invalid entry was accepted");
            prop_assert!(bad.contains(&e.line), "{}\n{}", text, e);
        }
        check(&text)?;
    }

    /// Byte-level mutations of the documented example never panic; rejections are located.
    #[test]
    fn mutated_example_is_parsed_or_located(pos in 0usize..DOC_EXAMPLE.len(), del in 0usize..6, ins in "[ =.\\[\\]\"'a-z0-9_#\n-]{0,6}") {
        let mut t = DOC_EXAMPLE.as_bytes().to_vec();
        let end = (pos + del).min(t.len());
        t.splice(pos..end, ins.bytes());
        if let Ok(text) = String::from_utf8(t) {
            check(&text)?;
        }
    }

    /// Arbitrary text from TOML's alphabet.
    #[test]
    fn random_text_is_parsed_or_located(text in "[ =.,\\[\\]{}\"'a-z0-9_#\n\t-]{0,80}") {
        check(&text)?;
    }
}

/// Files that are not UTF-8 are refused with a location, like every other rejection.
#[test]
fn non_utf8_policy_file_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("gate.toml");
    std::fs::write(&p, b"alpha = 0.05\nmin_accuracy = \xff\n").unwrap();
    let e = Policy::load(&p).unwrap_err();
    assert_eq!((e.line, e.column), (2, 16), "{e}");
}
