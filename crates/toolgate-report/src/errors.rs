//! The infra errors of a run, grouped by kind for a terminal line each: what went wrong,
//! how often, and one message as an example.

use crate::run::RunData;
use crate::text::term;
use std::collections::BTreeMap;

/// One error kind of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorGroup {
    pub kind: String,
    pub count: u64,
    /// The first message of that kind, as recorded.
    pub example: String,
}

/// Error kinds of the measured trials, most frequent first (ties by kind).
pub fn error_groups(run: &RunData) -> Vec<ErrorGroup> {
    let mut m: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for r in run.responses.iter().filter(|r| !r.warmup) {
        if let Some(e) = &r.error {
            let g = m
                .entry(e.kind.as_str().to_string())
                .or_insert_with(|| (0, e.message.clone()));
            g.0 += 1;
        }
    }
    let mut v: Vec<ErrorGroup> = m
        .into_iter()
        .map(|(kind, (count, example))| ErrorGroup {
            kind,
            count,
            example,
        })
        .collect();
    v.sort_by_key(|g| std::cmp::Reverse(g.count));
    v
}

/// `146 × connect: connection refused (127.0.0.1:1)`, one line per kind (at most `max`),
/// then the run's incomplete reasons (`target declared down after 5 failures`).
pub fn render_error_summary(run: &RunData, max: usize) -> String {
    let groups = error_groups(run);
    let mut o = String::new();
    for g in groups.iter().take(max) {
        o.push_str(&format!(
            "  {} × {}: {}\n",
            g.count,
            g.kind,
            term(&crate::text::truncate(&g.example, 300))
        ));
    }
    if groups.len() > max {
        let rest: u64 = groups[max..].iter().map(|g| g.count).sum();
        o.push_str(&format!(
            "  {rest} more in {} other kinds\n",
            groups.len() - max
        ));
    }
    for r in &run.manifest.incomplete_reasons {
        o.push_str(&format!("  {}\n", term(r)));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::ResponseMeta;
    use toolgate_core::record::{ErrorKind, InfraError, RunManifest, TrialKey};

    fn resp(kind: ErrorKind, msg: &str) -> ResponseMeta {
        ResponseMeta {
            key: TrialKey {
                target: "t".into(),
                suite: "s".into(),
                case: "c".into(),
                prompt: "p".into(),
                variant: "v".into(),
                repeat: 0,
            },
            kind: Default::default(),
            category: None,
            turns: vec![],
            error: Some(Box::new(InfraError {
                kind,
                message: msg.into(),
                status: None,
                body: None,
                turn: 0,
            })),
            started_at: String::new(),
            warmup: false,
            raw: Default::default(),
        }
    }

    #[test]
    fn groups_by_kind_with_counts_and_one_message() {
        let mut run = RunData::from_records(
            "r".into(),
            RunManifest {
                incomplete_reasons: vec!["target t declared down after 5 failures".into()],
                ..Default::default()
            },
            &[],
            vec![],
        );
        run.responses = vec![
            resp(ErrorKind::Connect, "connection refused (127.0.0.1:1)"),
            resp(ErrorKind::Connect, "connection refused again"),
            resp(ErrorKind::Timeout, "no first byte in 30 s\u{1b}[2J"),
        ];
        let text = render_error_summary(&run, 5);
        assert_eq!(
            text,
            "  2 × connect: connection refused (127.0.0.1:1)\n  1 × timeout: no first byte in 30 s\\u{1b}[2J\n  target t declared down after 5 failures\n"
        );
    }
}
