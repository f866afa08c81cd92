//! History rows from the index: one per run × target, oldest first, with the delta to the
//! previous row of the same target and an exact paired test over cases.

use crate::folder::{decode_f32, for_each_case};
use crate::index::{norm, Index, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use toolgate_report::stats::{mcnemar_exact, percentile_sorted, Proportion};

/// Significance level of the delta marker (the gate's default alpha).
pub const ALPHA: f64 = 0.05;

#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub target: Option<String>,
    pub model: Option<String>,
    pub suite: Option<String>,
    pub prompt: Option<String>,
    pub variant: Option<String>,
    /// `YYYY-MM-DD`: rows started on or after that day (UTC).
    pub since: Option<String>,
    pub limit: Option<usize>,
    /// Only folders found under these roots (the ones scanned).
    pub roots: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SuiteAccuracy {
    pub suite: String,
    pub accuracy: Proportion,
}

#[derive(Debug, Clone, Serialize)]
pub struct Delta {
    /// The previous row of the same target it is measured against.
    pub previous_run_id: Option<String>,
    pub previous_path: String,
    /// Accuracy difference (this − previous), a fraction.
    pub delta: Option<f64>,
    /// Cases judged in both runs.
    pub paired_cases: u64,
    /// Cases whose pass rate went down / up.
    pub worse: u64,
    pub better: u64,
    /// Exact two-sided sign test over cases (exact McNemar with one repeat).
    pub p_value: f64,
    pub significant: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub started_at: String,
    pub run_id: Option<String>,
    pub path: String,
    /// Another listed folder has the same run id: show the path to tell them apart.
    pub duplicate_run_id: bool,
    pub target: Option<String>,
    pub model: Option<String>,
    pub suites: Vec<String>,
    pub complete: bool,
    pub reason: String,
    pub accuracy: Proportion,
    pub errors: u64,
    pub ttft_p50_ms: Option<f64>,
    pub per_suite: Vec<SuiteAccuracy>,
    pub delta: Option<Delta>,
    pub report_html: Option<String>,
    /// (hash of suite, prompt, variant, case; passed; judged), sorted: the pairing key of
    /// the Δ test, hashed so a warm `history` pairs 1,000 runs without a string per case.
    #[serde(skip)]
    cases: Vec<(u64, u32, u32)>,
}

struct FolderRow {
    id: i64,
    path: String,
    root: String,
    run_id: Option<String>,
    started_at: String,
    complete: bool,
    reason: String,
    targets: Vec<(String, String)>,
    suites: Vec<String>,
    report_html: bool,
}

#[derive(Default)]
struct Acc {
    model: String,
    suites: BTreeSet<String>,
    per_suite: BTreeMap<String, (u64, u64)>,
    passed: u64,
    judged: u64,
    errors: u64,
    ttft: Vec<f32>,
    cases: Vec<(u64, u32, u32)>,
}

/// A 64-bit key of one case of one slice (SipHash with fixed keys: stable within a process,
/// which is all pairing needs; a collision would at worst pair two cases wrongly).
fn case_key(slice: u64, case: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    slice.hash(&mut h);
    case.hash(&mut h);
    h.finish()
}

impl Index {
    /// The history rows under `f`, oldest to newest.
    pub fn history(&self, f: &Filters) -> Result<Vec<Row>> {
        let roots: BTreeSet<String> = f.roots.iter().map(|r| norm(r)).collect();
        let mut folders: HashMap<i64, FolderRow> = HashMap::new();
        {
            let mut st = self.conn.prepare(
                "SELECT id, path, root, run_id, started_at, complete, reason, targets, suites, report_html FROM folders",
            )?;
            let rows = st.query_map([], |r| {
                Ok(FolderRow {
                    id: r.get(0)?,
                    path: r.get(1)?,
                    root: r.get(2)?,
                    run_id: r.get(3)?,
                    started_at: r.get(4)?,
                    complete: r.get(5)?,
                    reason: r.get(6)?,
                    targets: serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or_default(),
                    suites: serde_json::from_str(&r.get::<_, String>(8)?).unwrap_or_default(),
                    report_html: r.get(9)?,
                })
            })?;
            for row in rows {
                let row = row?;
                // A folder of a root not scanned now stays indexed but is not listed.
                if roots.is_empty() || roots.contains(&row.root) || roots.contains(&row.path) {
                    folders.insert(row.id, row);
                }
            }
        }
        let mut accs: BTreeMap<(i64, String), Acc> = BTreeMap::new();
        {
            let mut st = self.conn.prepare(
                "SELECT folder, target, model, suite, prompt, variant, passed, judged, errors, ttft, cases FROM slices",
            )?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let id: i64 = r.get(0)?;
                if !folders.contains_key(&id) {
                    continue;
                }
                let target: String = r.get(1)?;
                let model: String = r.get(2)?;
                let suite: String = r.get(3)?;
                let prompt: String = r.get(4)?;
                let variant: String = r.get(5)?;
                let keep = f.target.as_ref().is_none_or(|t| *t == target)
                    && f.model.as_ref().is_none_or(|m| *m == model)
                    && f.suite.as_ref().is_none_or(|s| *s == suite)
                    && f.prompt.as_ref().is_none_or(|p| *p == prompt)
                    && f.variant.as_ref().is_none_or(|v| *v == variant);
                if !keep {
                    continue;
                }
                let (passed, judged, errors): (i64, i64, i64) = (r.get(6)?, r.get(7)?, r.get(8)?);
                let a = accs.entry((id, target)).or_default();
                a.model = model;
                a.suites.insert(suite.clone());
                let ps = a.per_suite.entry(suite.clone()).or_default();
                ps.0 += passed as u64;
                ps.1 += judged as u64;
                a.passed += passed as u64;
                a.judged += judged as u64;
                a.errors += errors as u64;
                let ttft = r.get_ref(9)?.as_blob().unwrap_or_default();
                a.ttft.extend(decode_f32(ttft));
                let cases = r.get_ref(10)?.as_blob().unwrap_or_default();
                // The pairing key: the case within its suite, prompt and variant.
                let slice = {
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    (&suite, &prompt, &variant).hash(&mut h);
                    h.finish()
                };
                for_each_case(cases, |c, p, j| a.cases.push((case_key(slice, c), p, j)));
            }
        }
        let mut rows: Vec<Row> = Vec::new();
        let mut with_slices: BTreeSet<i64> = BTreeSet::new();
        for ((id, target), mut a) in accs {
            let fo = &folders[&id];
            with_slices.insert(id);
            a.ttft.sort_by(f32::total_cmp);
            let sorted: Vec<f64> = a.ttft.iter().map(|x| f64::from(*x)).collect();
            a.cases.sort();
            rows.push(Row {
                started_at: fo.started_at.clone(),
                run_id: fo.run_id.clone(),
                path: fo.path.clone(),
                duplicate_run_id: false,
                model: Some(a.model.clone()).filter(|m| !m.is_empty()).or_else(|| {
                    fo.targets
                        .iter()
                        .find(|(n, _)| *n == target)
                        .map(|(_, m)| m.clone())
                }),
                target: Some(target),
                suites: a.suites.into_iter().collect(),
                complete: fo.complete,
                reason: fo.reason.clone(),
                accuracy: Proportion::new(a.passed, a.judged),
                errors: a.errors,
                ttft_p50_ms: percentile_sorted(&sorted, 50.0),
                per_suite: a
                    .per_suite
                    .into_iter()
                    .map(|(suite, (p, n))| SuiteAccuracy {
                        suite,
                        accuracy: Proportion::new(p, n),
                    })
                    .collect(),
                delta: None,
                report_html: fo.report_html.then(|| format!("{}/report.html", fo.path)),
                cases: a.cases,
            });
        }
        // Folders without a matching slice: an unreadable or empty folder is still a row
        // (never skipped silently); a readable one is simply outside the filters.
        for fo in folders.values() {
            if with_slices.contains(&fo.id) {
                continue;
            }
            // A complete run without matching slices is outside the filters; an incomplete
            // one is shown unless its manifest rules the filters out.
            let could_match = f
                .target
                .as_ref()
                .is_none_or(|t| fo.targets.iter().any(|(n, _)| n == t))
                && f.model
                    .as_ref()
                    .is_none_or(|m| fo.targets.iter().any(|(_, x)| x == m))
                && f.suite.as_ref().is_none_or(|s| fo.suites.contains(s));
            if fo.complete || !(fo.targets.is_empty() || could_match) {
                continue;
            }
            rows.push(Row {
                started_at: fo.started_at.clone(),
                run_id: fo.run_id.clone(),
                path: fo.path.clone(),
                duplicate_run_id: false,
                target: (fo.targets.len() == 1).then(|| fo.targets[0].0.clone()),
                model: (fo.targets.len() == 1).then(|| fo.targets[0].1.clone()),
                suites: fo.suites.clone(),
                complete: false,
                reason: if fo.reason.is_empty() {
                    "no graded trials".into()
                } else {
                    fo.reason.clone()
                },
                accuracy: Proportion::new(0, 0),
                errors: 0,
                ttft_p50_ms: None,
                per_suite: Vec::new(),
                delta: None,
                report_html: fo.report_html.then(|| format!("{}/report.html", fo.path)),
                cases: Vec::new(),
            });
        }
        if let Some(since) = &f.since {
            rows.retain(|r| r.started_at.get(..10).unwrap_or("") >= since.as_str());
        }
        rows.sort_by(|a, b| {
            (&a.started_at, &a.path, &a.target).cmp(&(&b.started_at, &b.path, &b.target))
        });
        let mut last: HashMap<String, usize> = HashMap::new();
        for i in 0..rows.len() {
            let Some(t) = rows[i].target.clone() else {
                continue;
            };
            if rows[i].accuracy.n == 0 {
                continue;
            }
            if let Some(&j) = last.get(&t) {
                rows[i].delta = Some(delta(&rows[j], &rows[i]));
            }
            last.insert(t, i);
        }
        if let Some(n) = f.limit {
            let drop = rows.len().saturating_sub(n);
            rows.drain(..drop);
        }
        let mut ids: HashMap<&str, BTreeSet<&str>> = HashMap::new();
        for r in &rows {
            if let Some(id) = &r.run_id {
                ids.entry(id).or_default().insert(&r.path);
            }
        }
        let dups: BTreeSet<String> = ids
            .into_iter()
            .filter(|(_, p)| p.len() > 1)
            .map(|(id, _)| id.to_string())
            .collect();
        for r in &mut rows {
            r.duplicate_run_id = r.run_id.as_ref().is_some_and(|id| dups.contains(id));
        }
        Ok(rows)
    }

    /// The folder `compare --last RUN` compares RUN with: the latest indexed run that started
    /// before RUN, with the same targets and suites, that has graded trials.
    pub fn previous_run(&self, run_path: &str) -> Result<Option<String>> {
        let me = self.conn.query_row(
            "SELECT started_at, targets, suites FROM folders WHERE path = ?1",
            [run_path],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        );
        let Ok((started, targets, suites)) = me else {
            return Ok(None);
        };
        let names = |t: &str| -> BTreeSet<String> {
            serde_json::from_str::<Vec<(String, String)>>(t)
                .unwrap_or_default()
                .into_iter()
                .map(|(n, _)| n)
                .collect()
        };
        let set = |s: &str| -> BTreeSet<String> {
            serde_json::from_str::<Vec<String>>(s)
                .unwrap_or_default()
                .into_iter()
                .collect()
        };
        let (my_targets, my_suites) = (names(&targets), set(&suites));
        let mut st = self.conn.prepare(
            "SELECT path, targets, suites FROM folders
             WHERE started_at < ?1 AND path <> ?2
               AND EXISTS (SELECT 1 FROM slices WHERE slices.folder = folders.id AND judged > 0)
             ORDER BY started_at DESC, path DESC",
        )?;
        let mut rows = st.query(rusqlite::params![started, run_path])?;
        while let Some(r) = rows.next()? {
            let (p, t, s): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            if names(&t) == my_targets && set(&s) == my_suites {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }
}

/// Delta of `cur` against `prev` with the exact paired test over cases: a case counts as
/// better or worse when its pass rate over repeats moved; ties and unpaired cases drop out.
fn delta(prev: &Row, cur: &Row) -> Delta {
    let (mut worse, mut better, mut paired) = (0u64, 0u64, 0u64);
    let (a, b) = (&prev.cases, &cur.cases);
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                let ((_, pa, ja), (_, pb, jb)) = (&a[i], &b[j]);
                if *ja > 0 && *jb > 0 {
                    paired += 1;
                    // pa/ja vs pb/jb without floats.
                    let (x, y) = (
                        u64::from(*pa) * u64::from(*jb),
                        u64::from(*pb) * u64::from(*ja),
                    );
                    if y > x {
                        better += 1;
                    } else if y < x {
                        worse += 1;
                    }
                }
                i += 1;
                j += 1;
            }
        }
    }
    let p_value = mcnemar_exact(worse, better);
    Delta {
        previous_run_id: prev.run_id.clone(),
        previous_path: prev.path.clone(),
        delta: match (cur.accuracy.value, prev.accuracy.value) {
            (Some(c), Some(p)) => Some(c - p),
            _ => None,
        },
        paired_cases: paired,
        worse,
        better,
        p_value,
        significant: p_value < ALPHA,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cases: &[(&str, u32, u32)]) -> Row {
        let (p, n) = cases
            .iter()
            .fold((0, 0), |(p, n), c| (p + u64::from(c.1), n + u64::from(c.2)));
        Row {
            started_at: String::new(),
            run_id: None,
            path: String::new(),
            duplicate_run_id: false,
            target: None,
            model: None,
            suites: vec![],
            complete: true,
            reason: String::new(),
            accuracy: Proportion::new(p, n),
            errors: 0,
            ttft_p50_ms: None,
            per_suite: vec![],
            delta: None,
            report_html: None,
            cases: {
                let mut v: Vec<(u64, u32, u32)> = cases
                    .iter()
                    .map(|(c, p, j)| (case_key(0, c.as_bytes()), *p, *j))
                    .collect();
                v.sort();
                v
            },
        }
    }

    #[test]
    fn one_repeat_paired_test_is_exact_mcnemar() {
        // 8 cases pass → fail, 1 fail → pass, 3 unchanged, 1 only in the new run.
        let prev: Vec<(String, u32, u32)> = (0..12)
            .map(|i| (format!("c{i:02}"), u32::from(i != 8), 1))
            .collect();
        let cur: Vec<(String, u32, u32)> = (0..13)
            .map(|i| (format!("c{i:02}"), u32::from(i >= 8), 1))
            .collect();
        fn to_ref(v: &[(String, u32, u32)]) -> Vec<(&str, u32, u32)> {
            v.iter().map(|(c, p, j)| (c.as_str(), *p, *j)).collect()
        }
        let d = delta(&row(&to_ref(&prev)), &row(&to_ref(&cur)));
        assert_eq!((d.worse, d.better, d.paired_cases), (8, 1, 12));
        assert_eq!(d.p_value, mcnemar_exact(8, 1));
        assert!(d.significant == (mcnemar_exact(8, 1) < ALPHA));
    }

    #[test]
    fn repeats_compare_pass_rates_per_case() {
        let d = delta(
            &row(&[("a", 2, 3), ("b", 1, 2), ("c", 0, 0)]),
            &row(&[("a", 1, 3), ("b", 2, 4), ("c", 1, 1)]),
        );
        // a: 2/3 → 1/3 worse; b: 1/2 → 2/4 tie; c: unjudged before, not paired.
        assert_eq!((d.worse, d.better, d.paired_cases), (1, 0, 2));
        assert_eq!(d.p_value, 1.0);
        assert!(!d.significant);
    }
}
