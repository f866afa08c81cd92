//! One run as a session in three steps, each readable on one screen:
//!
//! 1. [`Session::open`] — load the inputs, resolve the targets, plan, open a new or resumed
//!    run folder, ask each URL target what it serves, render the prompts, write the manifest.
//!    Every refusal (bad input, a changed case file, a model not served) happens here, before
//!    anything is sent. It is `async` only for the `/v1/models` probes of URL targets, which
//!    must answer before the folder is kept.
//! 2. [`Session::send`] — start the embedded simulator and the managed servers, send every
//!    pending trial (appending each answer to `responses.jsonl`), stop them. The only step
//!    that sends; one [`RunStop`] token carries Ctrl-C, SIGTERM and a write failure.
//! 3. [`Session::finish`] — grade the file (not the counters: the file is the truth), judge
//!    completeness, rewrite the manifest, write the reports. Blocking work only.

use crate::exec::{self, ExecSettings, Prepared};
use crate::runtime::{self, TargetRuntime};
use crate::stop::RunStop;
use crate::target::{Target, TargetSource};
use crate::{after_write_failure, count_records, effective_config, load_inputs, model_not_served};
use crate::{bad, config, plan, progress, runfolder};
use crate::{grade_stream, render_reports, suite_info, RunOutcome, RunRequest, VERSION};
use anyhow::Context;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::DropGuard;
use toolgate_client::RetryPolicy;
use toolgate_core::prompt::Prompts;
use toolgate_core::{PromptInfo, RunManifest, Suite, TargetInfo, WholePlan};

/// A run between its steps: what `open` decided and `send` and `finish` act on.
pub struct Session {
    req: RunRequest,
    suites: Vec<Suite>,
    targets: Vec<Target>,
    dir: PathBuf,
    manifest: RunManifest,
    /// The trials still to send (all of them, or what a resumed run lacks), prompts rendered.
    pending: Vec<Prepared>,
    /// Trials of this run (or shard) in all, sent now or before.
    planned: u64,
    /// Set by `send`; the guard cancels the token when the session ends, on every path.
    stop: Option<(RunStop, DropGuard)>,
}

/// What sending left for `finish` to judge.
#[derive(Debug, Default)]
pub struct Sent {
    pub interrupted: bool,
    pub not_sent: u64,
    /// Why the run cannot be complete beside its records (a target declared down, a managed
    /// server that died).
    pub reasons: Vec<String>,
}

/// The plan before a folder exists.
struct Planned {
    trials: Vec<plan::Trial>,
    /// The first trial of each (prompt, suite) of the whole plan: whose prompt is hashed.
    prompt_trials: BTreeMap<(String, String), (usize, usize)>,
    whole_plan: Option<WholePlan>,
    plan_sha: String,
    config: Value,
}

impl Session {
    pub async fn open(req: RunRequest) -> anyhow::Result<Session> {
        let (suites, prompts) = load_prompts(&req)?;
        let targets = resolve_targets(&req)?;
        let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
        let Planned {
            trials,
            prompt_trials,
            whole_plan,
            plan_sha,
            config,
        } = plan_run(&req, &suites, &names)?;
        let count = trials.len() as u64;
        let (dir, mut manifest, pending) = match &req.resume {
            Some(dir) => resumed_folder(&req, dir, &suites, trials, &plan_sha)?,
            None => {
                let m = new_manifest(&req, &suites, count, config, plan_sha, whole_plan);
                // Moved, not copied: a 100,000-trial plan is ~14 MB.
                (new_folder(&req)?, m, trials)
            }
        };
        manifest.run_id = run_id_of(&dir, manifest.run_id);
        manifest.targets = target_infos(&targets, &req).await;
        if !req.no_model_check {
            if let Some(err) = unserved_model(&manifest.targets) {
                // Nothing was sent; leave no empty run folder behind (a no-op if not empty).
                let _ = std::fs::remove_dir(&dir);
                return Err(err);
            }
        }
        // Prompts: rendered once each; a new run records their hashes, from the whole plan
        // (not this shard's trials), so the shards of a run agree.
        let mut cache = plan::PromptCache::new(
            &prompts,
            req.today.clone(),
            req.config.defaults.vars.clone(),
        );
        let pending = exec::prepare(pending, &suites, &mut cache);
        if req.resume.is_none() {
            manifest.prompts = prompt_infos(&mut cache, &suites, prompt_trials);
        }
        drop(cache);
        runfolder::write_manifest(&dir, &manifest)?;
        Ok(Session {
            req,
            suites,
            targets,
            dir,
            manifest,
            pending,
            planned: count,
            stop: None,
        })
    }

    /// The run folder this session writes.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub async fn send(&mut self) -> anyhow::Result<Sent> {
        // One token for SIGINT, SIGTERM, a write failure and the end of the session.
        let stop = RunStop::new();
        stop.listen_for_signals(self.req.quiet);
        let guard = stop.now().clone().drop_guard();
        self.stop = Some((stop.clone(), guard));

        let sim = self.start_simulator().await?;
        let states = self.runtimes(sim.as_ref().map(|s| s.base_url()));
        let progress = progress::Progress::new(&states, self.req.quiet);
        let settings = self.exec_settings()?;
        let mut sent = Sent::default();
        let mut remaining = std::mem::take(&mut self.pending);
        // Sequential: one target at a time (one server up at a time); otherwise interleaved.
        let groups: Vec<Vec<Arc<TargetRuntime>>> = if self.req.sequential {
            states.iter().map(|s| vec![s.clone()]).collect()
        } else {
            vec![states.clone()]
        };
        let suites = Arc::new(self.suites.clone());
        for group in groups {
            let names: Vec<&str> = group.iter().map(|g| g.target.name.as_str()).collect();
            // Taken, not copied: a 100,000-trial plan is ~14 MB.
            let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut remaining)
                .into_iter()
                .partition(|p| names.contains(&p.trial.key.target.as_str()));
            remaining = later;
            if sent.interrupted {
                sent.not_sent += now.len() as u64;
                continue;
            }
            let out = self
                .send_group(group, now, suites.clone(), &settings, &stop, &progress)
                .await?;
            sent.not_sent += out.not_sent;
            sent.interrupted |= out.interrupted;
        }
        progress.finish();
        if let Some(s) = sim {
            s.shutdown().await;
        }
        sent.reasons = runtime::incomplete_reasons(&states, self.req.config.defaults.down_after);
        Ok(sent)
    }

    /// One group of targets: their managed servers up, the trials sent, the servers stopped
    /// whatever happened to the trials.
    async fn send_group(
        &mut self,
        group: Vec<Arc<TargetRuntime>>,
        trials: Vec<Prepared>,
        suites: Arc<Vec<Suite>>,
        settings: &dyn Fn() -> ExecSettings,
        stop: &RunStop,
        progress: &progress::Progress,
    ) -> anyhow::Result<exec::ExecOutcome> {
        let redactor = Arc::new(self.redactor());
        let recorder = runfolder::Recorder::open(&self.dir.join(runfolder::RESPONSES))?
            .with_redactor(redactor);
        let max_body = self.req.config.defaults.max_response_bytes;
        runtime::start_servers(
            &group,
            &mut self.manifest,
            &self.dir,
            stop.sending(),
            max_body,
            self.req.quiet,
        )
        .await?;
        let servers = group.clone();
        let out: std::io::Result<exec::ExecOutcome> = exec::execute(
            trials,
            suites,
            group,
            settings(),
            recorder,
            stop.clone(),
            progress.callback(),
        )
        .await;
        after_write_failure(
            stop,
            runtime::stop_servers(&servers, &mut self.manifest, &self.dir, stop.now()).await,
        )?;
        Ok(out?)
    }

    pub fn finish(mut self, sent: Sent) -> anyhow::Result<RunOutcome> {
        let stop = match &self.stop {
            Some((s, _)) => s.clone(),
            None => RunStop::new(),
        };
        // Completeness is judged from the file, not from counters: the file is the truth.
        // One streamed pass grades it and yields the per-trial index the reports are built from.
        let graded = after_write_failure(&stop, grade_stream(&self.dir, &self.suites))?;
        let (errors, recorded) = match &graded {
            Some(data) => (
                data.responses.iter().filter(|r| r.error.is_some()).count() as u64,
                data.responses.len() as u64,
            ),
            None => count_records(&self.dir),
        };
        let mut reasons: Vec<String> = stop.reason(sent.not_sent).into_iter().collect();
        if errors > 0 {
            reasons.push(format!("{errors} trial(s) ended in infra errors"));
        }
        if recorded < self.planned && !sent.interrupted {
            reasons.push(format!(
                "{} trial(s) have no response",
                self.planned - recorded
            ));
        }
        reasons.extend(sent.reasons);
        let m = &mut self.manifest;
        m.complete = reasons.is_empty() && recorded == self.planned;
        m.incomplete_reasons = reasons;
        m.finished_at = Some(runfolder::now_rfc3339());
        let manifest_path = self.dir.join(runfolder::MANIFEST);
        after_write_failure(
            &stop,
            runfolder::write_manifest(&self.dir, m)
                .with_context(|| format!("cannot write {}", manifest_path.display())),
        )?;
        let mut grades = Vec::new();
        if let Some(mut data) = graded {
            data.manifest = self.manifest.clone();
            let written = render_reports(&data, &self.dir, self.req.stable_output, false, None);
            after_write_failure(&stop, written)?;
            grades = data.grades;
        }
        if let Some(e) = stop.write_error() {
            eprintln!("error: {e}");
        }
        Ok(RunOutcome {
            dir: self.dir,
            complete: self.manifest.complete,
            planned: self.planned,
            recorded,
            errors,
            interrupted: sent.interrupted,
            grades,
        })
    }

    /// The embedded simulator, serving every `sim` target of this run.
    async fn start_simulator(&self) -> anyhow::Result<Option<toolgate_sim::SimServer>> {
        if !self.targets.iter().any(Target::is_sim) {
            return Ok(None);
        }
        let state = toolgate_sim::SimState::new(
            vec![toolgate_sim::Script::strong(), toolgate_sim::Script::weak()],
            self.suites.clone(),
        );
        let server = toolgate_sim::SimServer::start(state, "127.0.0.1:0".parse().expect("addr"))
            .await
            .context("cannot start the embedded simulator")?;
        Ok(Some(server))
    }

    /// One runtime per target, knowing how many trials it is sent.
    fn runtimes(&self, sim_url: Option<String>) -> Vec<Arc<TargetRuntime>> {
        let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
        for p in &self.pending {
            *totals.entry(p.trial.key.target.as_str()).or_default() += 1;
        }
        TargetRuntime::for_run(&self.targets, &totals, sim_url.as_deref(), &self.dir)
    }

    /// Every target's key, replaced wherever a server echoes it (records, manifest).
    fn redactor(&self) -> toolgate_core::redact::Redactor {
        let mut r = toolgate_core::redact::Redactor::default();
        self.targets.iter().for_each(|t| t.add_secret(&mut r));
        r
    }

    fn exec_settings(&self) -> anyhow::Result<impl Fn() -> ExecSettings> {
        let requests = Arc::new(
            toolgate_core::requests::RequestStore::open(&self.dir).with_context(|| {
                format!(
                    "cannot write {}",
                    self.dir.join(runfolder::REQUESTS).display()
                )
            })?,
        );
        let d: config::RunDefaults = self.req.config.defaults.clone();
        Ok(move || ExecSettings {
            global_concurrency: d.global_concurrency,
            retry: RetryPolicy {
                max_retries: d.retries,
                ..RetryPolicy::default()
            },
            down_after: d.down_after,
            max_body: d.max_response_bytes,
            grace: Duration::from_secs_f64(d.interrupt_grace_s),
            requests: Some(requests.clone()),
        })
    }
}

/// The suites and the prompts (the prompts folder plus `--prompt FILE` templates); every
/// `--prompt NAME` must name one.
fn load_prompts(req: &RunRequest) -> anyhow::Result<(Vec<Suite>, Prompts)> {
    let (suites, prompts) = load_inputs(&req.suites, req.prompts_dir.as_deref(), &req.today)?;
    // Without a prompts folder every case runs with no system prompt, unless a file is given.
    let mut prompts = prompts.unwrap_or_else(Prompts::empty);
    for f in &req.prompt_files {
        prompts.add_file(f).map_err(|d| bad(d.to_string()))?;
    }
    for p in &req.prompts {
        if !prompts.contains(p) {
            return Err(bad(format!(
                "--prompt {p}: no template {p}.md.j2 in {} (have: {})",
                prompts.dir().display(),
                prompts.names().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    Ok((suites, prompts))
}

/// The targets by name (the flags', else the config's defaults, else `sim`), typed, with
/// `--concurrency` and `--no-stream` applied and their keys read; a managed server whose
/// start command is not there is bad input, found before any folder.
fn resolve_targets(req: &RunRequest) -> anyhow::Result<Vec<Target>> {
    let names: Vec<String> = if !req.targets.is_empty() {
        req.targets.clone()
    } else if !req.config.defaults.targets.is_empty() {
        req.config.defaults.targets.clone()
    } else {
        vec!["sim".to_string()]
    };
    names
        .iter()
        .map(|n| {
            let mut t = req.config.target(n).map_err(bad)?;
            if let Some(c) = req.concurrency {
                t.limits.concurrency = c.max(1);
            }
            t.stream &= !req.no_stream;
            let named = |e: String| bad(format!("target `{n}`: {e}"));
            t.read_key().map_err(named)?;
            if let TargetSource::Managed(spec) = &t.source {
                spec.check_runnable().map_err(named)?;
            }
            Ok(t)
        })
        .collect()
}

/// The whole plan first, then the shard's part of it: a shard's manifest describes the
/// whole run (its prompts, trial count and hash), so the shards of any run merge.
fn plan_run(req: &RunRequest, suites: &[Suite], names: &[String]) -> anyhow::Result<Planned> {
    let mut trials = plan::plan(&plan::PlanInput {
        targets: names,
        suites,
        prompts: &req.prompts,
        thinking: &req.thinking,
        repeats: req.repeats.max(1),
        warmup: req.warmup,
        tags: &req.tags,
        shard: None,
    });
    let config = effective_config(req, names);
    let mut prompt_trials = BTreeMap::new();
    for t in &trials {
        if let Some(name) = &t.prompt {
            prompt_trials
                .entry((name.clone(), t.key.suite.to_string()))
                .or_insert((t.suite, t.case));
        }
    }
    let whole_plan = req.shard.map(|(i, n)| {
        let mut unsharded = config.clone();
        unsharded["shard"] = Value::Null;
        let whole = WholePlan {
            planned_trials: trials.len() as u64,
            plan_sha256: plan::plan_hash(suites, &trials, &unsharded),
        };
        trials.retain(|t| plan::shard_of(&t.key, n) == i);
        whole
    });
    if trials.is_empty() {
        return Err(bad(
            "the plan has no trials (check --suite, --tag and --shard)",
        ));
    }
    Ok(Planned {
        plan_sha: plan::plan_hash(suites, &trials, &config),
        trials,
        prompt_trials,
        whole_plan,
        config,
    })
}

type Folder = (PathBuf, RunManifest, Vec<plan::Trial>);

/// A resumed folder: refused when a case file or the plan changed (unless `--force`); the
/// pending trials are those without a kept record.
fn resumed_folder(
    req: &RunRequest,
    dir: &Path,
    suites: &[Suite],
    trials: Vec<plan::Trial>,
    plan_sha: &str,
) -> anyhow::Result<Folder> {
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
    let done: BTreeSet<_> = kept.iter().map(|r| (r.key.clone(), r.warmup)).collect();
    let pending = trials
        .into_iter()
        .filter(|t| !done.contains(&(t.key.clone(), t.warmup)))
        .collect();
    let mut m = old;
    m.complete = false;
    m.finished_at = None;
    m.incomplete_reasons.clear();
    Ok((dir.to_path_buf(), m, pending))
}

/// A new folder: `--out`, or a fresh id under the runs folder.
fn new_folder(req: &RunRequest) -> anyhow::Result<PathBuf> {
    let dir = req.out.clone().unwrap_or_else(|| {
        runfolder::run_dir(&req.config.defaults.runs_dir, &runfolder::new_run_id())
    });
    if dir.join(runfolder::RESPONSES).exists() {
        return Err(bad(format!(
            "{} already holds a run; use --resume {} or another --out",
            dir.display(),
            dir.display()
        )));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// A run's id is its folder's name; a resumed run keeps the one it has.
fn run_id_of(dir: &Path, recorded: String) -> String {
    if !recorded.is_empty() {
        return recorded;
    }
    dir.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(runfolder::new_run_id)
}

/// The first manifest of a new run (targets and prompts are filled in by `open`).
fn new_manifest(
    req: &RunRequest,
    suites: &[Suite],
    count: u64,
    config: Value,
    plan_sha: String,
    whole_plan: Option<WholePlan>,
) -> RunManifest {
    RunManifest {
        run_id: String::new(),
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
        planned_trials: count,
        shard: req.shard.map(|(i, n)| format!("{i}/{n}")),
        config,
        plan_sha256: plan_sha,
        whole_plan,
        settings: Some(run_settings(req)),
    }
}

fn run_settings(req: &RunRequest) -> toolgate_core::RunSettings {
    toolgate_core::RunSettings {
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
    }
}

/// What the manifest says of each target (no secrets); URL targets are asked what they
/// serve (`/v1/models` and the server's own endpoints), managed ones once healthy.
async fn target_infos(targets: &[Target], req: &RunRequest) -> Vec<TargetInfo> {
    let max_body = req.config.defaults.max_response_bytes;
    let mut infos = Vec::new();
    for t in targets {
        let (base_url, metadata) = match &t.source {
            TargetSource::Sim(_) => ("builtin:sim".to_string(), json!({"builtin": "sim"})),
            // Gathered once the server is healthy.
            TargetSource::Managed(s) => (s.base_url.clone(), json!({})),
            TargetSource::Remote(r) => (
                r.urls.join(","),
                runtime::gather_metadata(t, &r.urls, max_body).await,
            ),
        };
        infos.push(TargetInfo {
            name: t.name.clone(),
            base_url,
            model: t.model.clone(),
            profile: t.profile.as_str().to_string(),
            metadata,
            server: None,
        });
    }
    infos
}

fn unserved_model(infos: &[TargetInfo]) -> Option<anyhow::Error> {
    infos.iter().find_map(|info| {
        model_not_served(&info.model, &info.metadata).map(|msg| {
            bad(format!(
                "target `{}`: {msg}; nothing was sent (--no-model-check skips this check)",
                info.name
            ))
        })
    })
}

/// The hash of each (prompt, suite)'s rendered system prompt.
fn prompt_infos(
    cache: &mut plan::PromptCache<'_>,
    suites: &[Suite],
    first_trials: BTreeMap<(String, String), (usize, usize)>,
) -> Vec<PromptInfo> {
    first_trials
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
        .collect()
}
