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
pub mod stop;

use anyhow::{anyhow, bail, Context};
use config::Config;
use exec::{ExecSettings, ResolvedTarget, TargetState};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use toolgate_client::RetryPolicy;
use toolgate_core::prompt::Prompts;
use toolgate_core::{GradeRecord, PromptInfo, RunManifest, Suite, SuiteInfo, TargetInfo};

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

/// `toolgate run`.
pub async fn run(req: RunRequest) -> anyhow::Result<RunOutcome> {
    let resume_dir = req.resume.clone();
    let (suites, mut prompts) = load_inputs(&req.suites, req.prompts_dir.as_deref(), &req.today)?;
    for f in &req.prompt_files {
        prompts
            .get_or_insert_with(|| Prompts::load(Path::new("/nonexistent-toolgate-prompts")).0)
            .add_file(f)
            .map_err(|d| bad(d.to_string()))?;
    }
    let empty_prompts;
    let prompts_ref = match &prompts {
        Some(p) => p,
        None => {
            empty_prompts = Prompts::load(Path::new("/nonexistent-toolgate-prompts")).0;
            &empty_prompts
        }
    };
    for p in &req.prompts {
        if !prompts_ref.contains(p) {
            return Err(bad(format!(
                "--prompt {p}: no template {p}.md.j2 in {} (have: {})",
                prompts_ref.dir().display(),
                prompts_ref.names().collect::<Vec<_>>().join(", ")
            )));
        }
    }

    let target_names: Vec<String> = if req.targets.is_empty() {
        if req.config.defaults.targets.is_empty() {
            vec!["sim".to_string()]
        } else {
            req.config.defaults.targets.clone()
        }
    } else {
        req.targets.clone()
    };
    let mut resolved = Vec::new();
    for n in &target_names {
        let t = req.config.targets.get(n).ok_or_else(|| {
            bad(format!(
                "unknown target `{n}` (configured: {})",
                req.config
                    .targets
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        resolved.push(
            ResolvedTarget::resolve(n, t, &req.config, req.concurrency, req.no_stream)
                .map_err(bad)?,
        );
    }
    // Managed servers: a start command that is not there is bad input, found before any
    // run folder exists.
    let mut specs = BTreeMap::new();
    for n in &target_names {
        if let Some(s) =
            managed::ManagedSpec::from_target(n, &req.config.targets[n]).map_err(bad)?
        {
            specs.insert(n.clone(), s);
        }
    }

    // The whole plan first, then the shard's part of it: a shard's manifest describes the
    // whole run (its prompts, trial count and hash), so the shards of any run merge.
    let mut trials = plan::plan(&plan::PlanInput {
        targets: &target_names,
        suites: &suites,
        prompts: &req.prompts,
        thinking: &req.thinking,
        repeats: req.repeats.max(1),
        warmup: req.warmup,
        tags: &req.tags,
        shard: None,
    });
    let config_value = effective_config(&req, &target_names);
    // The first trial of each (prompt, suite): whose rendered prompt the manifest hashes.
    let mut prompt_trials: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    for t in &trials {
        if let Some(name) = &t.prompt {
            prompt_trials
                .entry((name.clone(), t.key.suite.to_string()))
                .or_insert((t.suite, t.case));
        }
    }
    let whole_plan = match req.shard {
        Some((i, n)) => {
            let mut unsharded = config_value.clone();
            unsharded["shard"] = Value::Null;
            let whole = toolgate_core::WholePlan {
                planned_trials: trials.len() as u64,
                plan_sha256: plan::plan_hash(&suites, &trials, &unsharded),
            };
            trials.retain(|t| plan::shard_of(&t.key, n) == i);
            Some(whole)
        }
        None => None,
    };
    if trials.is_empty() {
        return Err(bad(
            "the plan has no trials (check --suite, --tag and --shard)",
        ));
    }
    let plan_sha = plan::plan_hash(&suites, &trials, &config_value);
    let planned = trials.len() as u64;

    // Run folder: new, or resumed.
    let (dir, mut manifest, pending) = if let Some(dir) = &resume_dir {
        let old = runfolder::read_manifest(dir)
            .with_context(|| format!("cannot resume {}: no readable manifest.json", dir.display()))
            .map_err(|e| bad(format!("{e:#}")))?;
        // Name the edited case file when that is what changed.
        let changed = suites.iter().find(|s| {
            old.suites
                .iter()
                .any(|o| o.name == s.name && o.sha256 != s.sha256)
        });
        if let (Some(s), false) = (changed, req.force) {
            return Err(bad(format!(
                "cannot resume {}: {} changed since the run started (its cases may differ \
                 from the recorded ones); restore it, or add --force to resume with it as it is",
                dir.display(),
                s.path.display()
            )));
        }
        if old.plan_sha256 != plan_sha && !req.force {
            return Err(bad(format!(
                "cannot resume {}: cases or configuration changed since the run started \
                 (plan hash {} ≠ {}); rerun with the same flags, or add --force",
                dir.display(),
                &old.plan_sha256[..12.min(old.plan_sha256.len())],
                &plan_sha[..12]
            )));
        }
        let (kept, dropped, torn) = runfolder::compact_for_resume(dir)?;
        if !req.quiet {
            eprintln!(
                "resuming {}: {} recorded, {} error record(s) to retry{}",
                dir.display(),
                kept.len(),
                dropped,
                if torn {
                    ", a torn last line dropped"
                } else {
                    ""
                }
            );
        }
        let done: std::collections::BTreeSet<_> =
            kept.iter().map(|r| (r.key.clone(), r.warmup)).collect();
        let pending: Vec<plan::Trial> = trials
            .into_iter()
            .filter(|t| !done.contains(&(t.key.clone(), t.warmup)))
            .collect();
        let mut m = old;
        m.complete = false;
        m.finished_at = None;
        m.incomplete_reasons.clear();
        (dir.clone(), m, pending)
    } else {
        let id = runfolder::new_run_id();
        let dir = req
            .out
            .clone()
            .unwrap_or_else(|| runfolder::run_dir(&req.config.defaults.runs_dir, &id));
        if dir.join(runfolder::RESPONSES).exists() {
            return Err(bad(format!(
                "{} already holds a run; use --resume {} or another --out",
                dir.display(),
                dir.display()
            )));
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let m = RunManifest {
            run_id: dir
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or(id),
            toolgate_version: VERSION.to_string(),
            started_at: runfolder::now_rfc3339(),
            finished_at: None,
            complete: false,
            incomplete_reasons: vec![],
            targets: vec![],
            suites: suites.iter().map(suite_info).collect(),
            prompts: vec![],
            variants: req
                .thinking
                .iter()
                .map(|t| plan::variant_label(*t))
                .collect(),
            repeats: req.repeats.max(1),
            planned_trials: planned,
            shard: req.shard.map(|(i, n)| format!("{i}/{n}")),
            config: config_value.clone(),
            plan_sha256: plan_sha.clone(),
            whole_plan,
            settings: Some(toolgate_core::RunSettings {
                config_file: req.config_file.as_ref().map(|p| p.display().to_string()),
                prompts_dir: req.prompts_dir.as_ref().map(|p| p.display().to_string()),
                prompt_files: req
                    .prompt_files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
                concurrency: req.concurrency,
                sequential: req.sequential,
                today: req.today.clone(),
            }),
        };
        // Moved, not copied: a 100,000-trial plan is ~14 MB.
        (dir, m, trials)
    };

    // The embedded simulator serves every `sim` target of this run.
    let mut sim = None;
    if resolved.iter().any(|t| t.builtin_sim) {
        let state = toolgate_sim::SimState::new(
            vec![toolgate_sim::Script::strong(), toolgate_sim::Script::weak()],
            suites.clone(),
        );
        let server = toolgate_sim::SimServer::start(state, "127.0.0.1:0".parse().expect("addr"))
            .await
            .context("cannot start the embedded simulator")?;
        let url = server.base_url();
        for t in resolved.iter_mut().filter(|t| t.builtin_sim) {
            t.urls = vec![url.clone()];
        }
        sim = Some(server);
    }

    let max_body = req.config.defaults.max_response_bytes;
    // Every target's key, replaced wherever a server echoes it (records, manifest).
    let redactor = {
        let mut r = toolgate_core::redact::Redactor::default();
        resolved.iter().for_each(|t| t.add_secret(&mut r));
        Arc::new(r)
    };
    let mut infos = Vec::new();
    for t in &resolved {
        infos.push(TargetInfo {
            name: t.name.clone(),
            base_url: if t.builtin_sim {
                "builtin:sim".into()
            } else if let Some(s) = specs.get(&t.name) {
                s.base_url.clone()
            } else {
                t.urls.join(",")
            },
            model: t.model.clone(),
            profile: t.profile.as_str().to_string(),
            metadata: if t.builtin_sim {
                json!({"builtin": "sim"})
            } else if specs.contains_key(&t.name) {
                json!({}) // gathered once the server is healthy
            } else {
                exec::gather_metadata(t, max_body).await
            },
            server: None,
        });
    }
    if !req.no_model_check {
        for info in &infos {
            if let Some(msg) = model_not_served(&info.model, &info.metadata) {
                // Nothing was sent; leave no empty run folder behind (a no-op if not empty).
                let _ = std::fs::remove_dir(&dir);
                return Err(bad(format!(
                    "target `{}`: {msg}; nothing was sent (--no-model-check skips this check)",
                    info.name
                )));
            }
        }
    }
    manifest.targets = infos;

    // Prompts: render once each, record their hashes.
    let mut cache = plan::PromptCache::new(
        prompts_ref,
        req.today.clone(),
        req.config.defaults.vars.clone(),
    );
    let prepared = exec::prepare(pending, &suites, &mut cache);
    if resume_dir.is_none() {
        // From the whole plan, not this shard's trials (see `prompt_trials`).
        manifest.prompts = prompt_trials
            .into_iter()
            .filter_map(|((name, suite), (si, ci))| {
                let s = &suites[si];
                let text = cache.render(s, &s.cases[ci], &name).ok()?;
                Some(PromptInfo {
                    name,
                    suite,
                    sha256: toolgate_core::text::sha256_hex(text.as_bytes()),
                })
            })
            .collect();
    }
    runfolder::write_manifest(&dir, &manifest)?;

    // One token for SIGINT, SIGTERM, a write failure and the end of the run (this guard,
    // on every path out of run(), ends the signal listener).
    let stop = stop::RunStop::new();
    stop.listen_for_signals(req.quiet);
    let _end = stop.now().clone().drop_guard();

    let mut per_target_total: BTreeMap<String, u64> = BTreeMap::new();
    for p in &prepared {
        *per_target_total
            .entry(p.trial.key.target.to_string())
            .or_default() += 1;
    }
    let handles = managed::handles(specs, &dir);
    let states: Vec<Arc<TargetState>> = resolved
        .iter()
        .map(|t| {
            Arc::new(TargetState {
                target: t.clone(),
                next_url: AtomicUsize::new(0),
                consecutive_connect: AtomicU32::new(0),
                down: AtomicBool::new(false),
                done: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                total: per_target_total.get(&t.name).copied().unwrap_or(0),
                server: handles.get(&t.name).cloned(),
            })
        })
        .collect();

    let progress = progress::Progress::new(&states, req.quiet);
    let requests = Arc::new(
        toolgate_core::requests::RequestStore::open(&dir)
            .with_context(|| format!("cannot write {}", dir.join("requests.jsonl").display()))?,
    );
    let settings = |d: &config::RunDefaults| ExecSettings {
        global_concurrency: d.global_concurrency,
        retry: RetryPolicy {
            max_retries: d.retries,
            ..RetryPolicy::default()
        },
        down_after: d.down_after,
        max_body,
        grace: Duration::from_secs_f64(d.interrupt_grace_s),
        requests: Some(requests.clone()),
    };
    let suites_arc = Arc::new(suites.clone());
    let mut written = 0;
    let mut errors = 0;
    let mut interrupted = false;
    let mut not_sent = 0;
    // Sequential: one target at a time (one server up at a time); otherwise interleaved.
    let groups: Vec<Vec<Arc<TargetState>>> = if req.sequential {
        states.iter().map(|s| vec![s.clone()]).collect()
    } else {
        vec![states.clone()]
    };
    let single_group = groups.len() == 1;
    let mut remaining = prepared;
    for group in groups {
        let names: Vec<&str> = group.iter().map(|g| g.target.name.as_str()).collect();
        // One group takes every trial: hand the list over rather than copy it.
        let now = if single_group {
            std::mem::take(&mut remaining)
        } else {
            let (now, later): (Vec<_>, Vec<_>) = remaining
                .into_iter()
                .partition(|p| names.contains(&p.trial.key.target.as_str()));
            remaining = later;
            now
        };
        if interrupted {
            not_sent += now.len() as u64;
            continue;
        }
        let recorder = runfolder::Recorder::open(&dir.join(runfolder::RESPONSES))?
            .with_redactor(redactor.clone());
        managed::start_servers(
            &group,
            &mut manifest,
            &dir,
            stop.sending(),
            max_body,
            req.quiet,
        )
        .await?;
        let servers = group.clone();
        let out = exec::execute(
            now,
            suites_arc.clone(),
            group,
            settings(&req.config.defaults),
            recorder,
            stop.clone(),
            progress.callback(),
        )
        .await;
        // Stopped whatever happened to the trials.
        after_write_failure(
            &stop,
            managed::stop_servers(&servers, &mut manifest, &dir, stop.now()).await,
        )?;
        let out = out?;
        written += out.written;
        errors += out.errors;
        not_sent += out.not_sent;
        interrupted |= out.interrupted;
    }
    progress.finish();
    if let Some(s) = sim {
        s.shutdown().await;
    }
    // What grading does not need is dropped before it starts: the sending state (targets,
    // suite copies, prompt cache) would otherwise sit beside the grade index.
    let mut down_reasons = Vec::new();
    for s in &states {
        if s.down.load(Ordering::SeqCst) {
            down_reasons.push(format!(
                "target `{}` declared down after {} consecutive connect failures",
                s.target.name, req.config.defaults.down_after
            ));
        }
    }
    down_reasons.extend(managed::incomplete_reasons(&states));
    drop((states, suites_arc, progress, resolved, remaining, cache));

    // Completeness is judged from the file, not from counters: the file is the truth. One
    // streamed pass grades it and yields the per-trial index the reports are built from.
    let graded = after_write_failure(&stop, grade_stream(&dir, &suites))?;
    let (error_count, recorded) = match &graded {
        Some(data) => (
            data.responses.iter().filter(|r| r.error.is_some()).count() as u64,
            data.responses.len() as u64,
        ),
        None => count_records(&dir),
    };
    let mut reasons = Vec::new();
    reasons.extend(stop.reason(not_sent));
    if error_count > 0 {
        reasons.push(format!("{error_count} trial(s) ended in infra errors"));
    }
    if recorded < planned && !interrupted {
        reasons.push(format!("{} trial(s) have no response", planned - recorded));
    }
    reasons.extend(down_reasons);
    manifest.complete = reasons.is_empty() && recorded == planned;
    manifest.incomplete_reasons = reasons;
    manifest.finished_at = Some(runfolder::now_rfc3339());
    after_write_failure(
        &stop,
        runfolder::write_manifest(&dir, &manifest)
            .with_context(|| format!("cannot write {}", dir.join(runfolder::MANIFEST).display())),
    )?;
    let _ = (written, errors);

    let mut grades = Vec::new();
    if let Some(mut data) = graded {
        data.manifest = manifest.clone();
        after_write_failure(
            &stop,
            render_reports(&data, &dir, req.stable_output, false, None),
        )?;
        grades = data.grades;
    }
    if let Some(e) = stop.write_error() {
        eprintln!("error: {e}");
    }
    Ok(RunOutcome {
        dir,
        complete: manifest.complete,
        planned,
        recorded,
        errors: error_count,
        interrupted,
        grades,
    })
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
    use toolgate_report::run::{parse_error, RawRef};
    let manifest = toolgate_report::run::read_manifest(dir).map_err(|e| bad(e.to_string()))?;
    let path = dir.join(runfolder::RESPONSES);
    let grader = toolgate_grade::Grader::new(suites);
    let mut out = runfolder::AtomicFile::create(&dir.join(runfolder::GRADES))
        .with_context(|| format!("cannot write {}", dir.join(runfolder::GRADES).display()))?;
    let (mut responses, mut grades, mut notes) = (Vec::new(), Vec::new(), Vec::new());
    let io_err = |e: std::io::Error| anyhow!("{}: {e}", path.display());
    let found = match toolgate_core::jsonl::Lines::open(&path).map_err(io_err)? {
        None => {
            notes.push(format!("{} is missing", runfolder::RESPONSES));
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
            let grade_batch = |batch: &[toolgate_core::jsonl::Line]| {
                batch
                    .par_iter()
                    .enumerate()
                    .map(|(i, line)| {
                        match serde_json::from_slice::<toolgate_core::ResponseRecord>(&line.bytes) {
                            Ok(r) if line.complete => {
                                let g = grader.grade(&r);
                                let mut bytes = Vec::with_capacity(512);
                                serde_json::to_writer(&mut bytes, &g).expect("grade serialises");
                                bytes.push(b'\n');
                                let meta = toolgate_report::ResponseMeta::from_record(
                                    &r,
                                    RawRef::Line(line.offset),
                                );
                                Ok(Some((meta, g, bytes)))
                            }
                            Ok(_) => Ok(None),
                            Err(e) if line.is_torn(&e) => Ok(None),
                            Err(_) => Err(i),
                        }
                    })
                    .collect::<Vec<Result<Option<Graded>, usize>>>()
            };
            // Append one graded batch to grades.jsonl and the index, in file order.
            let mut keep = |batch: Vec<toolgate_core::jsonl::Line>,
                            done: Vec<Result<Option<Graded>, usize>>|
             -> anyhow::Result<()> {
                for (line, d) in batch.iter().zip(done) {
                    match d {
                        Ok(Some((meta, mut g, bytes))) => {
                            out.write_all(&bytes)?;
                            toolgate_report::run::shrink_grade(&mut g);
                            responses.push(meta);
                            grades.push(g);
                        }
                        Ok(None) => toolgate_report::run::torn_note(&path, line.no, &mut notes),
                        Err(_) => {
                            let e = serde_json::from_slice::<toolgate_core::ResponseRecord>(
                                &line.bytes,
                            )
                            .expect_err("failed above");
                            return Err(bad(parse_error(&path, line.no, &e).to_string()));
                        }
                    }
                }
                Ok(())
            };
            // A pipeline of three batches: while the pool grades one, this side appends the
            // one before it and reads the one after it (reading and appending are serial).
            let mut graded: Option<(Vec<toolgate_core::jsonl::Line>, Vec<_>)> = None;
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
