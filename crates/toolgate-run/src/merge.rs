//! `toolgate merge RUN… --out RUN`: join the shard folders of one run (`--shard I/N` on each
//! CI runner) into one run folder, as if it had run in one place.
//!
//! Refused (bad input): a folder that is not a sharded run, shards of different N, the same
//! shard twice, or any difference in what defines the run besides the shard — configuration
//! (targets, prompts, variants, repeats, tags, streaming), suite files (by hash), rendered
//! prompts, the whole plan before sharding (its trial count and hash), or the toolgate version
//! (grades must come from the same grader). A trial present in two shards is refused too.
//! Missing shards are allowed but make the merged run incomplete, with a reason naming them,
//! so a gate never passes on a partial matrix.
//!
//! The merged folder gets the shards' responses and grades (grading is deterministic, so the
//! shard grades are the grades) and fresh reports.

use crate::runfolder::{self, Recorder, GRADES, MANIFEST, RESPONSES};
use crate::BadInput;
use anyhow::{bail, Context};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use toolgate_core::{GradeRecord, ResponseRecord, RunManifest};

/// What a merge produced.
#[derive(Debug)]
pub struct MergeOutcome {
    pub dir: PathBuf,
    pub trials: usize,
    pub shards: Vec<String>,
    pub missing_shards: Vec<u64>,
    pub complete: bool,
}

fn refuse(msg: String) -> anyhow::Error {
    anyhow::Error::new(BadInput(msg))
}

fn parse_shard(s: &str) -> Option<(u64, u64)> {
    crate::plan::parse_shard(s).ok()
}

/// The parts of a manifest that must agree between shards.
fn identity(m: &RunManifest) -> Value {
    let mut config = m.config.clone();
    if let Some(o) = config.as_object_mut() {
        o.remove("shard");
    }
    let suites: Vec<(String, String)> = m
        .suites
        .iter()
        .map(|s| (s.name.clone(), s.sha256.clone()))
        .collect();
    let targets: Vec<(String, String, String)> = m
        .targets
        .iter()
        .map(|t| (t.name.clone(), t.model.clone(), t.profile.clone()))
        .collect();
    serde_json::json!({
        "config": config,
        "suites": suites,
        "targets": targets,
        "prompts": serde_json::to_value(&m.prompts).unwrap_or(Value::Null),
        "variants": m.variants,
        "repeats": m.repeats,
        "toolgate_version": m.toolgate_version,
        "whole_plan": m.whole_plan,
    })
}

/// The first differing top-level key of two identities, for the error message.
fn first_difference(a: &Value, b: &Value) -> String {
    if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
        for (k, v) in a {
            if b.get(k) != Some(v) {
                return k.clone();
            }
        }
    }
    "configuration".into()
}

pub fn merge(runs: &[PathBuf], out: &Path) -> anyhow::Result<MergeOutcome> {
    if runs.is_empty() {
        bail!(refuse("merge: name the shard run folders to join".into()));
    }
    if out.join(MANIFEST).exists() || out.join(RESPONSES).exists() {
        bail!(refuse(format!(
            "merge: {} already holds a run; choose a new --out folder",
            out.display()
        )));
    }
    let manifests = read_manifests(runs)?;
    let n = check_shards_of_one_run(runs, &manifests)?;
    let seen: BTreeSet<u64> = manifests
        .iter()
        .filter_map(|m| m.shard.as_deref().and_then(parse_shard))
        .map(|s| s.0)
        .collect();
    let missing: Vec<u64> = (1..=n).filter(|i| !seen.contains(i)).collect();

    let (responses, grades) = read_trials(runs, &manifests)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    write_trials(out, &responses, &grades)?;
    merge_request_bodies(runs, out)?;

    let merged = merged_manifest(runs, &manifests, n, &missing);
    let complete = merged.complete;
    runfolder::write_manifest(out, &merged)?;
    crate::write_reports(out, false, false, None)?;
    Ok(MergeOutcome {
        dir: out.to_path_buf(),
        trials: responses.len(),
        shards: manifests.iter().filter_map(|m| m.shard.clone()).collect(),
        missing_shards: missing,
        complete,
    })
}

fn read_manifests(runs: &[PathBuf]) -> anyhow::Result<Vec<RunManifest>> {
    runs.iter()
        .map(|r| {
            runfolder::read_manifest(r).map_err(|e| {
                refuse(format!(
                    "{} is not a run folder (manifest.json: {e})",
                    r.display()
                ))
            })
        })
        .collect()
}

/// Refuses folders that are not shards, shards of different N, a shard given twice and shards
/// of different runs; returns N.
fn check_shards_of_one_run(runs: &[PathBuf], manifests: &[RunManifest]) -> anyhow::Result<u64> {
    let base = identity(&manifests[0]);
    let mut n_of = None;
    let mut seen_shards = BTreeSet::new();
    for (r, m) in runs.iter().zip(manifests) {
        let Some((i, n)) = m.shard.as_deref().and_then(parse_shard) else {
            bail!(refuse(format!(
                "{} is not a shard (it ran without --shard I/N); only shards of one run merge",
                r.display()
            )));
        };
        if *n_of.get_or_insert(n) != n {
            bail!(refuse(format!(
                "{}: shard {i}/{n}, but the first folder is a shard of {}",
                r.display(),
                n_of.unwrap_or(0)
            )));
        }
        if !seen_shards.insert(i) {
            bail!(refuse(format!(
                "{}: shard {i}/{n} given twice",
                r.display()
            )));
        }
        let id = identity(m);
        if id != base {
            bail!(refuse(format!(
                "{} does not belong to the same run as {}: `{}` differs (merge refuses \
                 shards of different configurations, suites, prompts or toolgate versions)",
                r.display(),
                runs[0].display(),
                first_difference(&base, &id)
            )));
        }
    }
    Ok(n_of.unwrap_or(1))
}

/// Responses and grades, shard by shard in shard order; no trial twice.
fn read_trials(
    runs: &[PathBuf],
    manifests: &[RunManifest],
) -> anyhow::Result<(Vec<ResponseRecord>, Vec<GradeRecord>)> {
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by_key(|&k| {
        manifests[k]
            .shard
            .as_deref()
            .and_then(parse_shard)
            .map_or(0, |s| s.0)
    });
    let mut responses: Vec<ResponseRecord> = Vec::new();
    let mut grades: Vec<GradeRecord> = Vec::new();
    let mut keys = BTreeSet::new();
    for &k in &order {
        let dir = &runs[k];
        let read = runfolder::read_responses(dir)
            .with_context(|| format!("cannot read {}", dir.join(RESPONSES).display()))?;
        if read.torn_tail.is_some() {
            bail!(refuse(format!(
                "{}: responses.jsonl ends in a torn line; `toolgate run --resume` it first",
                dir.display()
            )));
        }
        for r in read.records {
            if !keys.insert((r.key.clone(), r.warmup)) {
                bail!(refuse(format!(
                    "trial {}/{}/{} appears in more than one shard",
                    r.key.target, r.key.suite, r.key.case
                )));
            }
            responses.push(r);
        }
        let g = runfolder::read_jsonl::<GradeRecord>(&dir.join(GRADES)).map_err(|e| {
            refuse(format!(
                "{}: no grades.jsonl ({e}); run `toolgate grade` on the shard first",
                dir.display()
            ))
        })?;
        grades.extend(g.records);
    }
    Ok((responses, grades))
}

/// Writes each file to a temporary name and renames it into place.
fn write_trials(
    out: &Path,
    responses: &[ResponseRecord],
    grades: &[GradeRecord],
) -> anyhow::Result<()> {
    for (name, lines) in [
        (RESPONSES, to_lines(responses)?),
        (GRADES, to_lines(grades)?),
    ] {
        let tmp = out.join(format!("{name}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        {
            let mut rec = Recorder::open(&tmp)?;
            for l in &lines {
                rec.append(l)?;
            }
            rec.sync()?;
        }
        std::fs::rename(&tmp, out.join(name))?;
    }
    Ok(())
}

/// Each shard stored its own bodies; the merged folder keeps each once.
fn merge_request_bodies(runs: &[PathBuf], out: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(out.join(toolgate_core::requests::REQUESTS));
    let store = toolgate_core::requests::RequestStore::open(out)?;
    for r in runs {
        let mut bodies: Vec<_> = toolgate_core::requests::read(r)?.into_iter().collect();
        bodies.sort();
        for (sha, body) in bodies {
            store.record(&sha, &body)?;
        }
    }
    drop(store);
    Ok(())
}

/// The merged run's manifest: the first shard's definition, the shards' span of time, and
/// incomplete when a shard was or when shards are missing.
fn merged_manifest(
    runs: &[PathBuf],
    manifests: &[RunManifest],
    n: u64,
    missing: &[u64],
) -> RunManifest {
    let first = &manifests[0];
    let mut reasons: Vec<String> = Vec::new();
    for (r, m) in runs.iter().zip(manifests) {
        for why in &m.incomplete_reasons {
            reasons.push(format!("{}: {why}", m.shard.as_deref().unwrap_or("?")));
        }
        if !m.complete && m.incomplete_reasons.is_empty() {
            reasons.push(format!("{} is incomplete", r.display()));
        }
    }
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(|i| format!("{i}/{n}")).collect();
        reasons.push(format!("shard(s) {} not merged", list.join(", ")));
    }
    let complete = reasons.is_empty();
    let mut shard_hashes: Vec<&str> = manifests.iter().map(|m| m.plan_sha256.as_str()).collect();
    shard_hashes.sort_unstable();
    let mut config = first.config.clone();
    if let Some(o) = config.as_object_mut() {
        o.insert("shard".into(), Value::Null);
    }
    RunManifest {
        run_id: runfolder::new_run_id(),
        toolgate_version: first.toolgate_version.clone(),
        started_at: manifests
            .iter()
            .map(|m| m.started_at.clone())
            .min()
            .unwrap_or_default(),
        finished_at: manifests.iter().filter_map(|m| m.finished_at.clone()).max(),
        complete,
        incomplete_reasons: reasons,
        targets: first.targets.clone(),
        suites: first.suites.clone(),
        prompts: first.prompts.clone(),
        variants: first.variants.clone(),
        repeats: first.repeats,
        // The whole plan's count and hash, as if it had run unsharded (then a resume of the
        // merged folder sends any missing shard's trials); shards of older versions lack them.
        planned_trials: first.whole_plan.as_ref().map_or_else(
            || manifests.iter().map(|m| m.planned_trials).sum(),
            |w| w.planned_trials,
        ),
        shard: None,
        config,
        plan_sha256: first.whole_plan.as_ref().map_or_else(
            || {
                toolgate_core::text::sha256_hex(
                    format!("merged:{}", shard_hashes.join(",")).as_bytes(),
                )
            },
            |w| w.plan_sha256.clone(),
        ),
        whole_plan: None,
        settings: first.settings.clone(),
    }
}

fn to_lines<T: serde::Serialize>(items: &[T]) -> anyhow::Result<Vec<Value>> {
    items
        .iter()
        .map(|i| serde_json::to_value(i).map_err(Into::into))
        .collect()
}
