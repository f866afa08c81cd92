//! Recorded runs in the vLLM, llama.cpp and Ollama shapes (`golden/recorded/`) re-graded with
//! the current cases: verdicts per suite and failure kind are pinned, and regrading from the
//! file alone is deterministic.

use std::collections::BTreeMap;
use std::path::PathBuf;
use toolgate_core::{GradeRecord, ResponseRecord};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn recorded_dialect_runs_regrade_to_the_pinned_verdicts() {
    let (suites, _) =
        toolgate_run::load_inputs(&[root().join("cases")], None, "2026-01-01").unwrap();
    let mut table = String::new();
    let mut per_dialect = Vec::new();
    for dialect in ["vllm", "llamacpp", "ollama"] {
        let dir = root().join("golden/recorded").join(dialect);
        let recs: Vec<ResponseRecord> = toolgate_run::runfolder::read_responses(&dir)
            .unwrap()
            .records;
        assert_eq!(recs.len(), 292, "{dialect}");
        let grades = toolgate_grade::grade_all(&suites, &recs);
        let again = toolgate_grade::grade_all(&suites, &recs);
        assert_eq!(
            serde_json::to_string(&grades).unwrap(),
            serde_json::to_string(&again).unwrap()
        );
        let mut counts: BTreeMap<(String, String), u32> = BTreeMap::new();
        for g in &grades {
            let what = g
                .failure
                .map(|k| k.to_string())
                .unwrap_or_else(|| g.verdict.to_string());
            *counts.entry((g.key.suite.to_string(), what)).or_default() += 1;
        }
        table.push_str(&format!("## {dialect}\n"));
        for ((suite, what), n) in &counts {
            table.push_str(&format!("{suite:<20} {what:<24} {n}\n"));
        }
        let mut sigs: Vec<_> = grades.iter().map(grade_sig).collect();
        sigs.sort();
        per_dialect.push(sigs);
    }
    // The same model answers the same way whatever wire dialect carried it.
    for (i, name) in [(1, "llama.cpp"), (2, "ollama")] {
        let differ: Vec<_> = per_dialect[0]
            .iter()
            .zip(&per_dialect[i])
            .filter(|(a, b)| a != b)
            .take(5)
            .collect();
        assert!(differ.is_empty(), "vllm vs {name}: {differ:?}");
    }
    insta::assert_snapshot!("recorded_verdicts", table);
}

fn grade_sig(g: &GradeRecord) -> (String, String, Option<String>) {
    (
        format!("{}/{}/{}", g.key.suite, g.key.case, g.key.variant),
        g.verdict.to_string(),
        g.failure.map(|k| k.to_string()),
    )
}
