//! toolgate-run: run orchestration. Plans trials, starts the embedded simulator for `sim`
//! targets, sends trials concurrently, records every response in the run folder, then grades
//! and writes the reports. Also `grade RUN` (re-grade from responses.jsonl alone) and resume.
//!
//! Invariant: the runner records; it never judges. Grading happens after the responses are on
//! disk, from the file, so `toolgate grade` and `toolgate run` give the same grades.

pub mod config;
pub mod exec;
pub mod managed;
pub mod merge;
pub mod plan;
pub mod progress;
pub mod runfolder;
pub mod runtime;
pub mod session;
pub mod stop;
pub mod target;

use anyhow::{anyhow, bail, Context};
use config::Config;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use toolgate_core::prompt::Prompts;
use toolgate_core::{GradeRecord, Suite, SuiteInfo};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A run as the CLI asks for it.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub config: Config,
    /// `--config FILE`, recorded so a resume finds the same targets.
    pub config_file: Option<PathBuf>,
    pub targets: Vec<String>,
    pub suites: Vec<PathBuf>,
    pub prompts_dir: Option<PathBuf>,
    pub prompts: Vec<String>,
    /// Template files given as `--prompt PATH`, added to the prompts under their NAME.
    pub prompt_files: Vec<PathBuf>,
    /// Skip the check that each URL target's `/v1/models` lists its model.
    pub no_model_check: bool,
    pub thinking: Vec<Option<bool>>,
    pub repeats: u32,
    pub warmup: u32,
    pub tags: Vec<String>,
    pub concurrency: Option<usize>,
    pub out: Option<PathBuf>,
    pub resume: Option<PathBuf>,
    pub force: bool,
    pub shard: Option<(u64, u64)>,
    pub no_stream: bool,
    pub sequential: bool,
    pub quiet: bool,
    pub stable_output: bool,
    pub today: String,
}

#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub dir: PathBuf,
    pub complete: bool,
    pub planned: u64,
    pub recorded: u64,
    pub errors: u64,
    pub interrupted: bool,
    pub grades: Vec<GradeRecord>,
}

/// Errors that mean "bad input" (exit 2) rather than a failed run.
#[derive(Debug)]
pub struct BadInput(pub String);
impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for BadInput {}

fn bad(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(BadInput(msg.into()))
}

/// Load suites and prompts; every problem is bad input.
pub fn load_inputs(
    suites: &[PathBuf],
    prompts_dir: Option<&Path>,
    today: &str,
) -> anyhow::Result<(Vec<Suite>, Option<Prompts>)> {
    // The same checks as `toolgate validate`: a run never starts on input validate refuses.
    let v = toolgate_core::validate::validate(suites, prompts_dir, today);
    let (loaded, prompts, diags) = (v.suites, v.prompts, v.diagnostics);
    if !diags.is_empty() {
        return Err(bad(diags.to_string()));
    }
    if loaded.is_empty() {
        return Err(bad(format!(
            "no suite files found under {}",
            suites
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok((loaded, prompts))
}

/// When a target's `/v1/models` answered with a model list that lacks `model`, says so
/// with the served ids. A server that did not answer, or answered something else, is not
/// judged here (the trials will say what is wrong).
pub fn model_not_served(model: &str, metadata: &serde_json::Value) -> Option<String> {
    let urls = metadata.as_object()?;
    for (url, probes) in urls {
        let Some(probes) = probes.as_object() else {
            continue;
        };
        for (key, v) in probes {
            if !key.ends_with("models") || v["status"].as_u64() != Some(200) {
                continue;
            }
            let Some(data) = v["body"]["data"].as_array() else {
                continue;
            };
            let ids: Vec<&str> = data.iter().filter_map(|d| d["id"].as_str()).collect();
            if !ids.is_empty() && !ids.contains(&model) {
                return Some(format!(
                    "model `{model}` is not served at {url} (served: {})",
                    ids.join(", ")
                ));
            }
        }
    }
    None
}

/// `toolgate run`: the three steps of a [`session::Session`].
pub async fn run(req: RunRequest) -> anyhow::Result<RunOutcome> {
    let mut session = session::Session::open(req).await?;
    let sent = session.send().await?;
    session.finish(sent)
}

/// After a write failure the disk may be full: what is still to write (grades, manifest,
/// reports) is attempted, and a failure is said on stderr instead of hiding the run's real
/// outcome (incomplete, exit 3) behind another error.
fn after_write_failure<T, E: Into<anyhow::Error>>(
    stop: &stop::RunStop,
    r: Result<T, E>,
) -> anyhow::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if stop.write_error().is_some() => {
            eprintln!("error: {:#}", e.into());
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Records and infra errors in `responses.jsonl` when it could not be graded.
fn count_records(dir: &Path) -> (u64, u64) {
    let recs = runfolder::read_responses(dir)
        .map(|r| r.records)
        .unwrap_or_default();
    (
        recs.iter().filter(|r| r.error.is_some()).count() as u64,
        recs.len() as u64,
    )
}

fn suite_info(s: &Suite) -> SuiteInfo {
    SuiteInfo {
        name: s.name.clone(),
        kind: s.kind.as_str().to_string(),
        path: s.path.display().to_string(),
        sha256: s.sha256.clone(),
        cases: s.cases.len(),
        tools_sha256: s
            .tools_path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .map(|b| toolgate_core::text::sha256_hex(&b)),
    }
}

/// The configuration that defines the plan, without secrets (key variable names only).
fn effective_config(req: &RunRequest, targets: &[String]) -> Value {
    let mut t = serde_json::Map::new();
    for n in targets {
        if let Some(tc) = req.config.targets.get(n) {
            let mut v = serde_json::to_value(tc).unwrap_or(Value::Null);
            if let Some(o) = v.as_object_mut() {
                // Where a server listens does not change what the trials ask: a resumed run
                // may point at a restarted server on another port.
                o.retain(|k, v| !v.is_null() && k != "base_url" && k != "base_urls");
            }
            t.insert(n.clone(), v);
        }
    }
    json!({
        "targets": t,
        "prompts": req.prompts,
        "thinking": req.thinking.iter().map(|t| plan::variant_label(*t)).collect::<Vec<_>>(),
        "repeats": req.repeats.max(1),
        "warmup": req.warmup,
        "tags": req.tags,
        "shard": req.shard.map(|(i, n)| format!("{i}/{n}")),
        "stream": !req.no_stream,
    })
}

/// Grade a run folder from its responses.jsonl with already-loaded suites; writes
/// grades.jsonl (atomically, deterministic bytes) and the reports.
pub fn grade_run_with(
    dir: &Path,
    suites: &[Suite],
    stable: bool,
) -> anyhow::Result<Vec<GradeRecord>> {
    let data = grade_stream(dir, suites)?;
    render_reports(&data, dir, stable, false, None)?;
    Ok(data.grades)
}

/// Lines graded per parallel batch: big enough to keep both cores busy, small enough that
/// the pipeline's three batches (one read, one graded, one appended) stay a few MB.
const GRADE_BATCH: usize = 1024;

/// Streams `responses.jsonl` through the graders: each batch is parsed, graded and
/// serialised in parallel, its grades appended to a temp `grades.jsonl` (renamed at the end),
/// and only the per-trial index ([`toolgate_report::ResponseMeta`]) and the grades are kept.
/// A torn last line is skipped and noted, as every reader does.
pub fn grade_stream(dir: &Path, suites: &[Suite]) -> anyhow::Result<toolgate_report::RunData> {
    use rayon::prelude::*;
    use toolgate_core::runfolder::{missing_note, torn_note, FolderError, Line, Lines};
    use toolgate_report::run::RawRef;
    let manifest = runfolder::read_manifest(dir).map_err(|e| bad(e.to_string()))?;
    let path = dir.join(runfolder::RESPONSES);
    let grader = toolgate_grade::Grader::new(suites);
    let mut out = runfolder::AtomicFile::create(&dir.join(runfolder::GRADES))
        .with_context(|| format!("cannot write {}", dir.join(runfolder::GRADES).display()))?;
    let (mut responses, mut grades, mut notes) = (Vec::new(), Vec::new(), Vec::new());
    let io_err = |e: std::io::Error| anyhow!("{}: {e}", path.display());
    let found = match Lines::open(&path).map_err(io_err)? {
        None => {
            notes.push(missing_note(&path));
            false
        }
        Some(mut lines) => {
            let mut batch = lines.next_batch(GRADE_BATCH).map_err(io_err)?;
            if !batch.is_empty() {
                // Size the index once from the first lines: doubling a Vec of 100,000
                // entries would hold the old and the new buffer at once.
                let avg = batch.iter().map(|l| l.bytes.len() + 1).sum::<usize>() / batch.len();
                let len = std::fs::metadata(&path).map_or(0, |m| m.len() as usize);
                let estimate = len / avg.max(1) + batch.len();
                responses.reserve_exact(estimate);
                grades.reserve_exact(estimate);
            }
            type Graded = (toolgate_report::ResponseMeta, GradeRecord, Vec<u8>);
            // Parse, grade and serialise one batch in parallel.
            // A torn tail grades as `None`; a bad line keeps its located error.
            let grade_batch = |batch: &[Line]| {
                batch
                    .par_iter()
                    .map(|line| {
                        let Some(r) = line.parse::<toolgate_core::ResponseRecord>(&path)? else {
                            return Ok(None);
                        };
                        let g = grader.grade(&r);
                        let mut bytes = Vec::with_capacity(512);
                        serde_json::to_writer(&mut bytes, &g).expect("grade serialises");
                        bytes.push(b'\n');
                        let meta = toolgate_report::ResponseMeta::from_record(
                            &r,
                            RawRef::Line(line.offset),
                        );
                        Ok(Some((meta, g, bytes)))
                    })
                    .collect::<Vec<Result<Option<Graded>, FolderError>>>()
            };
            // Append one graded batch to grades.jsonl and the index, in file order.
            let mut keep = |batch: Vec<Line>,
                            done: Vec<Result<Option<Graded>, FolderError>>|
             -> anyhow::Result<()> {
                for (line, d) in batch.iter().zip(done) {
                    match d {
                        Ok(Some((meta, mut g, bytes))) => {
                            out.write_all(&bytes)?;
                            toolgate_report::run::shrink_grade(&mut g);
                            responses.push(meta);
                            grades.push(g);
                        }
                        Ok(None) => notes.push(torn_note(&path, line.no)),
                        Err(e) => return Err(bad(e.to_string())),
                    }
                }
                Ok(())
            };
            // A pipeline of three batches: while the pool grades one, this side appends the
            // one before it and reads the one after it (reading and appending are serial).
            let mut graded: Option<(Vec<Line>, Vec<_>)> = None;
            while !batch.is_empty() || graded.is_some() {
                let (done, (next, kept)) = rayon::join(
                    || grade_batch(&batch),
                    || {
                        let kept = graded.take().map_or(Ok(()), |(b, d)| keep(b, d));
                        let next = if batch.is_empty() {
                            Ok(Vec::new())
                        } else {
                            lines.next_batch(GRADE_BATCH)
                        };
                        (next, kept)
                    },
                );
                kept?;
                let next = next.map_err(io_err)?;
                if !batch.is_empty() {
                    graded = Some((std::mem::take(&mut batch), done));
                }
                batch = next;
            }
            true
        }
    };
    out.commit()?;
    responses.shrink_to_fit();
    grades.shrink_to_fit();
    Ok(toolgate_report::RunData {
        dir: dir.to_path_buf(),
        manifest,
        responses,
        grades,
        notes,
        responses_file: found.then_some(path),
    })
}

/// `toolgate grade RUN`: reload the suites the run used (paths from the manifest) and re-grade.
pub fn grade_run(dir: &Path, stable: bool, today: &str) -> anyhow::Result<Vec<GradeRecord>> {
    let m = runfolder::read_manifest(dir)
        .with_context(|| format!("{} is not a run folder (no manifest.json)", dir.display()))
        .map_err(|e| bad(format!("{e:#}")))?;
    let paths: Vec<PathBuf> = m.suites.iter().map(|s| PathBuf::from(&s.path)).collect();
    let missing: Vec<&PathBuf> = paths.iter().filter(|p| !p.exists()).collect();
    if !missing.is_empty() {
        return Err(bad(format!(
            "the run's suite files are not here: {} (run `toolgate grade` from the folder the run started in)",
            missing.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    let (suites, _) = load_inputs(&paths, None, today)?;
    for s in &suites {
        if let Some(old) = m.suites.iter().find(|x| x.name == s.name) {
            if old.sha256 != s.sha256 {
                eprintln!(
                    "note: suite `{}` changed since the run; grading with the current file",
                    s.name
                );
            }
        }
    }
    grade_run_with(dir, &suites, stable)
}

/// Render the reports of a graded run.
pub fn write_reports(
    dir: &Path,
    stable: bool,
    csv_bom: bool,
    formats: Option<&[toolgate_report::Format]>,
) -> anyhow::Result<()> {
    let data = toolgate_report::RunData::load(dir).map_err(|e| anyhow!("{e}"))?;
    render_reports(&data, dir, stable, csv_bom, formats)
}

fn render_reports(
    data: &toolgate_report::RunData,
    dir: &Path,
    stable: bool,
    csv_bom: bool,
    formats: Option<&[toolgate_report::Format]>,
) -> anyhow::Result<()> {
    let all = toolgate_report::Format::ALL;
    let formats = formats.unwrap_or(&all);
    let opts = toolgate_report::RenderOptions { stable, csv_bom };
    toolgate_report::write_reports(data, dir, formats, &opts)
        .with_context(|| format!("cannot write reports in {}", dir.display()))?;
    Ok(())
}

/// Refuse a run folder argument that is not one.
pub fn ensure_run_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.join(runfolder::MANIFEST).exists() {
        bail!(BadInput(format!(
            "{} is not a run folder (no manifest.json)",
            dir.display()
        )));
    }
    Ok(())
}
