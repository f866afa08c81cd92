//! Executing a plan: per-target and global concurrency limits, one writer that appends and
//! flushes each record as it completes, target-down detection, and the run's stop token:
//! a signal stops sending and gives in-flight trials a bounded grace; a second signal or a
//! write failure drops them at once.

use crate::plan::{initial_messages, request_body, PromptCache, Trial};
use crate::runfolder::{now_rfc3339, Recorder};
use crate::runtime::{Next, Ready, TargetRuntime};
use crate::stop::RunStop;
use crate::target::Target;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use toolgate_client::{apply_thinking, ChatRequest, Client, Endpoint, RetryPolicy, WireBody};
use toolgate_core::text::sha256_hex;
use toolgate_core::{
    Case, CaseInput, ErrorKind, InfraError, Message, RequestSummary, ResponseRecord, Suite,
    TrialKey,
};

/// Everything a trial needs, prepared before dispatch.
pub struct Prepared {
    pub trial: Trial,
    /// Rendered system prompt (or the render error, recorded as the trial's failure to send).
    pub system: Result<Option<Arc<str>>, String>,
    /// The first request's body and the prompt's hash, built by the first repeat that
    /// needs them and shared by every repeat of the same target/suite/case/prompt/variant:
    /// they are byte-identical, so serialising and hashing them again is pure overhead.
    pub shared: Arc<OnceLock<SharedBody>>,
}

pub struct SharedBody {
    pub wire: WireBody,
    pub messages: usize,
    pub prompt_sha256: Option<String>,
}

pub struct ExecSettings {
    pub global_concurrency: usize,
    pub retry: RetryPolicy,
    pub down_after: u32,
    pub max_body: usize,
    pub grace: Duration,
    /// Where each distinct first-turn body is kept (`requests.jsonl`); `None` in tests.
    pub requests: Option<Arc<toolgate_core::requests::RequestStore>>,
}

pub struct ExecOutcome {
    pub written: u64,
    pub errors: u64,
    /// Stopped early: a signal or a write failure (the cause is in the [`RunStop`]).
    pub interrupted: bool,
    /// Trials that were planned but not recorded: never sent, or dropped in flight when
    /// the grace ran out (they have no answer).
    pub not_sent: u64,
}

/// Prepare trials: render prompts once each.
pub fn prepare(trials: Vec<Trial>, suites: &[Suite], cache: &mut PromptCache<'_>) -> Vec<Prepared> {
    let mut shared: HashMap<TrialKey, Arc<OnceLock<SharedBody>>> = HashMap::new();
    trials
        .into_iter()
        .map(|t| {
            let s = &suites[t.suite];
            let c = &s.cases[t.case];
            let system = match &t.prompt {
                Some(p) => cache.render(s, c, p).map(Some),
                None => Ok(None),
            };
            let key = TrialKey {
                repeat: 0,
                ..t.key.clone()
            };
            let shared = shared.entry(key).or_default().clone();
            Prepared {
                trial: t,
                system,
                shared,
            }
        })
        .collect()
}

/// Run prepared trials against their targets; every finished trial is appended to
/// `recorder` before the next one is counted.
pub async fn execute(
    prepared: Vec<Prepared>,
    suites: Arc<Vec<Suite>>,
    targets: Vec<Arc<TargetRuntime>>,
    settings: ExecSettings,
    mut recorder: Recorder,
    stop: RunStop,
    progress: Arc<dyn Fn(&TargetRuntime) + Send + Sync>,
) -> std::io::Result<ExecOutcome> {
    let client = Client::new().map_err(|e| std::io::Error::other(e.to_string()))?;
    let global = Arc::new(Semaphore::new(settings.global_concurrency.max(1)));
    let settings = Arc::new(settings);
    let (tx, mut rx) = mpsc::channel::<ResponseRecord>(256);

    // The writer owns the file: one line per record, flushed before the next. A failed
    // write stops the run at once: every later record would be lost too.
    let writer_stop = stop.clone();
    let writer = tokio::spawn(async move {
        let mut errors = 0u64;
        let mut res = Ok(());
        'recv: while let Some(first) = rx.recv().await {
            // Let the trial that just freed a slot send its next request first: the write
            // then overlaps the server's work instead of delaying the request (at
            // concurrency 1 it was ~5% of each trial). One yield per batch, so a busy run
            // is never throttled to a record per scheduler round.
            tokio::task::yield_now().await;
            let mut next = Some(first);
            while let Some(rec) = next.take().or_else(|| rx.try_recv().ok()) {
                if rec.error.is_some() {
                    errors += 1;
                }
                if let Err(e) = recorder.append(&rec) {
                    writer_stop
                        .write_failed(format!("cannot write {}: {e}", recorder.path().display()));
                    res = Err(e);
                    break 'recv;
                }
            }
        }
        let _ = recorder.sync();
        (recorder.written, errors, res)
    });

    // Group trials per target; each target has its own dispatcher so a slow one does not
    // stall the others.
    let total = prepared.len() as u64;
    // One target (the usual case) takes the list as it is; more are split into lists sized
    // exactly, so a 100,000-trial plan is never held twice over while growing.
    let mut per_target: BTreeMap<String, Vec<Prepared>> = BTreeMap::new();
    let single = targets.len() == 1
        && prepared
            .iter()
            .all(|p| *p.trial.key.target == *targets[0].target.name);
    if single {
        per_target.insert(targets[0].target.name.clone(), prepared);
    } else {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for p in &prepared {
            *counts.entry(p.trial.key.target.to_string()).or_default() += 1;
        }
        for (name, n) in counts {
            per_target.insert(name, Vec::with_capacity(n));
        }
        for p in prepared {
            if let Some(list) = per_target.get_mut(&*p.trial.key.target) {
                list.push(p);
            }
        }
    }
    // With several targets, each one that is not a managed server sends from a thread of
    // its own (its own runtime and connection pool): one target's CPU work (a hostile or
    // huge stream) cannot then hold back another's reads, and so its TTFT. One target keeps
    // the one thread, where the bench measures toolgate's overhead.
    let isolate = targets.len() > 1;
    let mut dispatchers: JoinSet<()> = JoinSet::new();
    for ts in &targets {
        let d = Dispatcher {
            list: per_target.remove(&ts.target.name).unwrap_or_default(),
            ts: ts.clone(),
            suites: suites.clone(),
            global: global.clone(),
            tx: tx.clone(),
            stop: stop.clone(),
            client: client.clone(),
            settings: settings.clone(),
            progress: progress.clone(),
        };
        if isolate && ts.can_isolate() {
            let client = Client::new().map_err(|e| std::io::Error::other(e.to_string()))?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            dispatchers.spawn_blocking(move || rt.block_on(Dispatcher { client, ..d }.run()));
        } else {
            dispatchers.spawn(d.run());
        }
    }
    drop(tx);
    while dispatchers.join_next().await.is_some() {}
    // A write error is not this function's error: the stop records it, and the run ends
    // with what was written (manifest incomplete, exit 3).
    let (written, errors, _res) = writer.await.map_err(std::io::Error::other)?;
    Ok(ExecOutcome {
        written,
        errors,
        interrupted: stop.cause().is_some(),
        not_sent: total.saturating_sub(written),
    })
}

/// One target's sending loop: its trials in order, at most `concurrency` in flight, each
/// record handed to the writer before the trial counts as done.
struct Dispatcher {
    list: Vec<Prepared>,
    ts: Arc<TargetRuntime>,
    suites: Arc<Vec<Suite>>,
    global: Arc<Semaphore>,
    tx: mpsc::Sender<ResponseRecord>,
    stop: RunStop,
    client: Client,
    settings: Arc<ExecSettings>,
    progress: Arc<dyn Fn(&TargetRuntime) + Send + Sync>,
}

impl Dispatcher {
    async fn run(self) {
        let Dispatcher {
            list,
            ts,
            suites,
            global,
            tx,
            stop,
            client,
            settings,
            progress,
        } = self;
        let local = Arc::new(Semaphore::new(ts.target.limits.concurrency));
        let mut inflight = JoinSet::new();
        for p in list {
            let picked = Instant::now();
            let Some((lp, gp)) = slot(&local, &global, &stop).await else {
                break;
            };
            let queued_ms = picked.elapsed().as_secs_f64() * 1000.0;
            let ts = ts.clone();
            let suites = suites.clone();
            let tx = tx.clone();
            let client = client.clone();
            let settings = settings.clone();
            let progress = progress.clone();
            let stop = stop.clone();
            inflight.spawn(async move {
                let rec = send_trial(&client, &ts, &suites, &p, queued_ms, &settings).await;
                if rec.error.is_some() {
                    ts.errors.fetch_add(1, Ordering::SeqCst);
                }
                // Count as done only once the writer has the record; a writer that is gone
                // failed, and the run stops (it has already cancelled; this is a backstop).
                if tx.send(rec).await.is_err() {
                    stop.now().cancel();
                    return;
                }
                ts.done.fetch_add(1, Ordering::SeqCst);
                progress(&ts);
                drop((lp, gp));
            });
            // Reap finished tasks so the set stays small.
            while inflight.try_join_next().is_some() {}
        }
        // Finish in-flight trials. After a stop they get the grace period, cut short by a
        // second signal or a write failure; what is still in flight then is dropped.
        tokio::select! {
            biased;
            _ = stop.now().cancelled() => {}
            _ = async { while inflight.join_next().await.is_some() {} } => {}
            _ = async {
                stop.sending().cancelled().await;
                tokio::time::sleep(settings.grace).await;
            } => {}
        }
        inflight.abort_all();
        while inflight.join_next().await.is_some() {}
    }
}

/// A free slot of the target and of the run, or `None` once the run stops sending.
/// Waiting races the stop: with every slot busy on slow answers, a signal must not wait for
/// one to free up (the grace would not hold). A slot that is free at once is taken without
/// setting up the race (a `select!` and two futures per trial).
async fn slot(
    local: &Arc<Semaphore>,
    global: &Arc<Semaphore>,
    stop: &RunStop,
) -> Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
    if stop.sending().is_cancelled() {
        return None;
    }
    if let Ok(lp) = local.clone().try_acquire_owned() {
        if let Ok(gp) = global.clone().try_acquire_owned() {
            return Some((lp, gp));
        }
        drop(lp);
    }
    tokio::select! {
        biased;
        _ = stop.sending().cancelled() => None,
        p = async {
            let lp = local.clone().acquire_owned().await.ok()?;
            let gp = global.clone().acquire_owned().await.ok()?;
            Some((lp, gp))
        } => p,
    }
}

/// A trial through its target's runtime: wait until the target is ready, send, and let the
/// runtime judge the record — kept, or sent once more after its managed server restarted.
async fn send_trial(
    client: &Client,
    rt: &TargetRuntime,
    suites: &[Suite],
    p: &Prepared,
    queued_ms: f64,
    settings: &ExecSettings,
) -> ResponseRecord {
    let mut resent = false;
    loop {
        let ready = match rt.ready().await {
            Ok(r) => r,
            Err(e) => {
                let kind = suites[p.trial.suite].cases[p.trial.case].kind.as_str();
                return error_record(p, kind, &rt.target, e);
            }
        };
        let mut rec = run_trial(client, rt, &ready, suites, p, queued_ms, settings).await;
        match rt.after_trial(&ready, &mut rec, resent).await {
            Next::Keep => return rec,
            Next::Resend => resent = true,
        }
    }
}

fn error_record(p: &Prepared, kind: &str, target: &Target, err: InfraError) -> ResponseRecord {
    ResponseRecord {
        key: p.trial.key.clone(),
        kind: kind.to_string().into(),
        category: None,
        request: RequestSummary {
            model: target.model.clone(),
            profile: target.profile.as_str().to_string(),
            stream: target.stream,
            thinking: p.trial.thinking,
            ..Default::default()
        },
        turns: vec![],
        error: Some(err),
        retries: vec![],
        started_at: now_rfc3339(),
        warmup: p.trial.warmup,
        input_hash: None,
        expect_hash: None,
    }
}

/// One trial: one request, or one request per user turn for conversation cases.
async fn run_trial(
    client: &Client,
    ts: &TargetRuntime,
    ready: &Ready,
    suites: &[Suite],
    p: &Prepared,
    queued_ms: f64,
    settings: &ExecSettings,
) -> ResponseRecord {
    let suite = &suites[p.trial.suite];
    let case = &suite.cases[p.trial.case];
    let target = &ts.target;
    let kind = case.kind.as_str();

    let system = match system_if_sendable(ts, p, settings) {
        Ok(s) => s,
        Err(e) => return error_record(p, kind, target, e),
    };
    let endpoint = ts.endpoint(&ready.url, settings.max_body);

    let turn_texts: Vec<Option<&str>> = match &case.input {
        CaseInput::Messages(_) => vec![None],
        CaseInput::Turns(ts) => ts.iter().map(|t| Some(t.user.as_str())).collect(),
    };
    let first_body = |messages: &[Value]| wire_body(target, suite, case, p, messages);
    let shared = p.shared.get_or_init(|| {
        let mut messages = initial_messages(system.as_deref(), case);
        if let Some(Some(u)) = turn_texts.first() {
            messages.push(Message::user(u.to_string()).to_wire());
        }
        let wire = first_body(&messages);
        // Once per template (this closure runs once), so repeats cost nothing. A failed
        // write loses only the replay copy, never the trial: the report says "not recorded".
        if let Some(store) = &settings.requests {
            if let Err(e) = store.record(&wire.sha256, &wire.bytes) {
                eprintln!("warning: cannot write requests.jsonl: {e}");
            }
        }
        SharedBody {
            wire,
            messages: messages.len(),
            prompt_sha256: system.as_deref().map(|s| sha256_hex(s.as_bytes())),
        }
    });

    let mut rec = new_record(p, target, suite, case, &endpoint, shared);
    // No case id goes into a header: ids are user text, and the simulator finds the case
    // from the messages and tools it is sent, as any server sees them.
    let headers: Vec<(String, String)> = Vec::new();

    // Later turns carry the replies so far; only a conversation builds them.
    let mut messages: Vec<Value> = Vec::new();
    for (i, user) in turn_texts.iter().enumerate() {
        let built;
        let wire = if i == 0 {
            &shared.wire
        } else {
            if i == 1 {
                messages = initial_messages(system.as_deref(), case);
                if let Some(Some(u)) = turn_texts.first() {
                    messages.push(Message::user(u.to_string()).to_wire());
                }
                messages.push(Message::assistant(rec_reply(&rec, 0)).to_wire());
            } else {
                messages.push(Message::assistant(rec_reply(&rec, i - 1)).to_wire());
            }
            if let Some(u) = user {
                messages.push(Message::user(u.to_string()).to_wire());
            }
            built = first_body(&messages);
            &built
        };
        let out = client
            .chat_wire(&endpoint, wire, target.stream, &headers, &settings.retry)
            .await;
        if i == 0 {
            rec.request.body_sha256 = out.body_sha256.clone();
        }
        rec.retries.extend(out.retries);
        match out.result {
            Ok(mut turn) => {
                ts.note_answer();
                turn.turn = i as u32;
                turn.user = user.map(str::to_string);
                if i == 0 {
                    turn.timing.queued_ms = queued_ms;
                }
                rec.turns.push(turn);
            }
            Err(mut e) => {
                ts.note_failure(&e, settings.down_after);
                e.turn = i as u32;
                rec.error = Some(e);
                break;
            }
        }
    }
    rec
}

/// The trial's rendered system prompt, or why it is not sent: its target was declared down,
/// or its prompt did not render.
fn system_if_sendable(
    ts: &TargetRuntime,
    p: &Prepared,
    settings: &ExecSettings,
) -> Result<Option<Arc<str>>, InfraError> {
    if ts.is_down() {
        return Err(InfraError {
            kind: ErrorKind::Connect,
            message: format!(
                "target declared down after {} consecutive connect failures; not sent",
                settings.down_after
            ),
            status: None,
            body: None,
            turn: 0,
        });
    }
    p.system.clone().map_err(|e| InfraError {
        kind: ErrorKind::Protocol,
        message: format!("prompt did not render: {e}"),
        status: None,
        body: None,
        turn: 0,
    })
}

/// The request body for `messages`, with the trial's thinking setting applied.
fn wire_body(
    target: &Target,
    suite: &Suite,
    case: &Case,
    p: &Prepared,
    messages: &[Value],
) -> WireBody {
    let mut body = request_body(&target.model, suite, case, messages, &target.extra_body);
    apply_thinking(&target.thinking, p.trial.thinking, &mut body);
    ChatRequest {
        body,
        stream: target.stream,
        headers: vec![],
    }
    .wire()
}

/// The trial's record before anything is sent: what is asked, of whom.
fn new_record(
    p: &Prepared,
    target: &Target,
    suite: &Suite,
    case: &Case,
    endpoint: &Endpoint,
    shared: &SharedBody,
) -> ResponseRecord {
    ResponseRecord {
        key: p.trial.key.clone(),
        kind: case.kind.as_str().to_string().into(),
        category: case.category.clone(),
        request: RequestSummary {
            url: endpoint.chat_url(),
            model: target.model.clone(),
            profile: target.profile.as_str().to_string(),
            stream: target.stream,
            thinking: p.trial.thinking,
            tool_choice: case.params.tool_choice.clone(),
            tools: suite.tools.tools.len(),
            messages: shared.messages,
            prompt_sha256: shared.prompt_sha256.clone(),
            body_sha256: String::new(),
        },
        turns: vec![],
        error: None,
        retries: vec![],
        started_at: now_rfc3339(),
        warmup: p.trial.warmup,
        input_hash: (!case.input_hash.is_empty()).then(|| case.input_hash.clone()),
        expect_hash: (!case.expect_hash.is_empty()).then(|| case.expect_hash.clone()),
    }
}

/// The text of turn `i`'s reply, which the next turn sends back as the assistant message.
fn rec_reply(rec: &ResponseRecord, i: usize) -> String {
    rec.turns
        .get(i)
        .and_then(|t| t.message.as_ref())
        .and_then(|m| m.content.clone())
        .unwrap_or_default()
}
