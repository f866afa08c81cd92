//! One managed server's life during a run: start (spawn, wait for health, `before` probes),
//! watch (exit → restart up to `restart_on_exit` times, or down for good), periodic probes,
//! stop (`after` probes, the stop signal to the group, grace, KILL).
//!
//! State is one `Mutex<State>` (facts for the manifest, port, counters), one watch channel
//! for the phase trials wait on, and two cancellation tokens: one ends the periodic probes,
//! the other tells the watcher to stop the server.

use super::process::{
    command, describe_exit, exit_code, first_line, free_port, indent, log_tail, stop_group,
    GroupGuard, Running,
};
use super::spec::{fill, ManagedSpec};
use crate::runfolder::now_rfc3339;
use rustix::process::Signal;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use toolgate_core::record::{ExitFact, ProbeSeries, ServerFacts, StartFact, StopFact};
use toolgate_core::{ErrorKind, InfraError};

/// Log lines carried by error messages and exit records.
const TAIL_LINES: usize = 20;
/// Upper bound of readings kept per probe, so a long run with a short interval stays bounded.
const MAX_READINGS: usize = 2000;
/// How often the health path is polled at most while a server starts.
const HEALTH_POLL_MAX: Duration = Duration::from_millis(500);

/// Where the server is in its life; trials wait on this.
#[derive(Debug, Clone)]
enum Phase {
    Idle,
    Starting,
    /// Serving; the number tells the processes apart (1, then 2 after a restart, …).
    Up(u32),
    /// Gone for good: the error every remaining trial records.
    Down(InfraError),
    Stopped,
}

/// What the handle knows, behind one lock.
#[derive(Default)]
struct State {
    facts: ServerFacts,
    port: Option<u16>,
    first_start: Option<Instant>,
    trials_done: u64,
    trials_total: u64,
    /// The run stops at once (a second signal, a write failure): no `after` probes and no
    /// stop grace, the group is killed.
    hurry: bool,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What a failed trial learns about its server.
pub enum AfterFailure {
    /// Still the same process: the failure is the server's answer, keep it.
    Alive,
    /// It exited and came back: send the trial again.
    Restarted,
    /// It exited for good.
    Exited(InfraError),
}

/// Shared handle of one managed server.
pub struct ServerHandle {
    pub spec: ManagedSpec,
    log_path: PathBuf,
    log_name: String,
    state: Mutex<State>,
    phase: watch::Sender<Phase>,
    /// Ends the periodic probes (before the `after` probes run).
    halt_probes: CancellationToken,
    /// Tells the watcher to stop the server.
    halt: CancellationToken,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("target", &self.spec.target)
            .finish()
    }
}

impl ServerHandle {
    /// A handle whose log is `run_dir/log_name`; nothing starts until [`ServerHandle::start`].
    pub fn new(spec: ManagedSpec, run_dir: &Path, log_name: &str) -> Arc<ServerHandle> {
        let facts = ServerFacts {
            managed: true,
            log: log_name.to_string(),
            base_url: spec.base_url.clone(),
            probes: spec
                .probes
                .iter()
                .map(|p| ProbeSeries {
                    name: p.name.clone(),
                    command: p.argv.clone(),
                    readings: vec![],
                })
                .collect(),
            ..Default::default()
        };
        Arc::new(ServerHandle {
            spec,
            log_path: run_dir.join(log_name),
            log_name: log_name.to_string(),
            state: Mutex::new(State {
                facts,
                ..State::default()
            }),
            phase: watch::channel(Phase::Idle).0,
            halt_probes: CancellationToken::new(),
            halt: CancellationToken::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not hide what is known about a running server.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn log_name(&self) -> &str {
        &self.log_name
    }

    pub fn facts(&self) -> ServerFacts {
        self.state().facts.clone()
    }

    /// Trials this server is to answer, for the exit message (`after 3 of 40 trials`).
    pub fn set_total(&self, n: u64) {
        self.state().trials_total = n;
    }

    pub fn note_trial_done(&self) {
        self.state().trials_done += 1;
    }

    /// The run stops at once: the stop skips the `after` probes and the grace.
    pub fn hurry(&self) {
        self.state().hurry = true;
    }

    fn vars(&self) -> Vec<(&'static str, String)> {
        let st = self.state();
        let show = |v: Option<u32>| v.map(|p| p.to_string()).unwrap_or_default();
        vec![
            ("port", show(st.port.map(u32::from))),
            ("model", self.spec.model.clone()),
            ("pid", show(st.facts.pid)),
        ]
    }

    /// The base URL requests go to (known once the port is picked).
    pub fn base_url(&self) -> String {
        fill(&self.spec.base_url, &self.vars())
    }

    /// The health path at the base URL's origin (`http://127.0.0.1:PORT/health`).
    fn health_url(&self) -> String {
        let base = self.base_url();
        match base.parse::<http::Uri>() {
            Ok(u) => format!(
                "{}://{}{}",
                u.scheme_str().unwrap_or("http"),
                u.authority().map_or("", |a| a.as_str()),
                self.spec.health
            ),
            // Checked when the config was read; a URL that no longer parses fails its health
            // checks, which says so.
            Err(_) => format!("{base}{}", self.spec.health),
        }
    }

    fn log_line(&self, line: &str) {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
        {
            let _ = writeln!(f, "=== toolgate {} {line}", now_rfc3339());
        }
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> Vec<String> {
        log_tail(&self.log_path, TAIL_LINES)
    }

    fn elapsed_ms(&self) -> f64 {
        self.state()
            .first_start
            .map(|t| t.elapsed().as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    }

    /// First start: spawn, wait for health, run the `before` probes, then watch the process in
    /// the background. On failure the server is marked down (every trial of the target records
    /// the returned message) and nothing is left running.
    pub async fn start(self: &Arc<Self>, stop: CancellationToken) -> Result<(), String> {
        self.phase.send_replace(Phase::Starting);
        self.state().first_start = Some(Instant::now());
        let running = match self.spawn_healthy(&stop).await {
            Ok(r) => r,
            Err(msg) => {
                self.state().facts.error = Some(msg.clone());
                self.phase.send_replace(Phase::Down(InfraError {
                    kind: ErrorKind::ServerExited,
                    message: format!("server did not start: {}", first_line(&msg)),
                    status: None,
                    body: Some(self.log_tail().join("\n")),
                    turn: 0,
                }));
                return Err(msg);
            }
        };
        {
            let mut st = self.state();
            st.facts.startup_ms = st.facts.starts.last().and_then(|s| s.startup_ms);
        }
        self.run_probes("before").await;
        self.phase.send_replace(Phase::Up(1));
        let me = self.clone();
        let mut tasks = vec![tokio::spawn(async move { me.watch(running, stop).await })];
        for (i, p) in self.spec.probes.iter().enumerate() {
            let Some(every) = p.interval else { continue };
            let me = self.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = me.halt_probes.cancelled() => return,
                    }
                    me.run_probe(i, "during").await;
                }
            }));
        }
        self.state().tasks.extend(tasks);
        Ok(())
    }

    /// The port the server is to listen on: the fixed one if free, else one the OS picks.
    fn pick_port(&self) -> Result<u16, String> {
        let name = &self.spec.target;
        match self.spec.port {
            Some(p) if std::net::TcpListener::bind(("127.0.0.1", p)).is_err() => Err(format!(
                "server `{name}`: port {p} on 127.0.0.1 is already in use; stop what holds it or remove `port` to let toolgate pick a free one"
            )),
            Some(p) => Ok(p),
            None => free_port().map_err(|e| format!("server `{name}`: no free port: {e}")),
        }
    }

    /// Spawn the server and wait until its health path answers 2xx. Records a `StartFact`.
    async fn spawn_healthy(&self, stop: &CancellationToken) -> Result<Running, String> {
        let name = &self.spec.target;
        let port = self.pick_port().inspect_err(|msg| {
            self.record_start(None, None, Some(msg));
        })?;
        self.state().port = Some(port);
        let vars = self.vars();
        let argv: Vec<String> = self.spec.argv.iter().map(|a| fill(a, &vars)).collect();
        {
            let mut st = self.state();
            st.facts.command = argv.clone();
            st.facts.port = Some(port);
        }
        let base_url = self.base_url();
        self.state().facts.base_url = base_url;
        self.log_line(&format!("start {}", argv.join(" ")));
        let open_log = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log_path)
                .map_err(|e| format!("cannot open {}: {e}", self.log_path.display()))
        };
        let mut cmd = command(&argv, self.spec.cwd.as_deref());
        cmd.stdout(open_log()?).stderr(open_log()?);
        for (k, v) in &self.spec.env {
            cmd.env(k, fill(v, &vars));
        }
        let spawned = Instant::now();
        let child = cmd.spawn().map_err(|e| {
            let msg = if e.kind() == std::io::ErrorKind::NotFound {
                format!("server `{name}`: start command `{}` not found", argv[0])
            } else {
                format!("server `{name}`: cannot start `{}`: {e}", argv[0])
            };
            self.record_start(None, None, Some(&msg));
            msg
        })?;
        let pid = child.id().unwrap_or(0);
        let running = Running {
            guard: GroupGuard::of(&child),
            child,
            pid,
        };
        self.state().facts.pid = Some(pid);
        match self.wait_healthy(running, spawned, stop).await {
            Ok(r) => {
                let ms = spawned.elapsed().as_secs_f64() * 1000.0;
                self.log_line(&format!("healthy after {ms:.0} ms (pid {pid})"));
                self.record_start(Some(pid), Some(ms), None);
                Ok(r)
            }
            Err(msg) => {
                self.record_start(Some(pid), None, Some(&msg));
                Err(msg)
            }
        }
    }

    /// Poll the health path (backing off to [`HEALTH_POLL_MAX`]) until it answers 2xx, the
    /// process exits, the run stops or the startup timeout passes; only the first gives the
    /// process back.
    async fn wait_healthy(
        &self,
        mut running: Running,
        spawned: Instant,
        stop: &CancellationToken,
    ) -> Result<Running, String> {
        let name = &self.spec.target;
        let url = self.health_url();
        let deadline = spawned + self.spec.startup_timeout;
        let mut wait = Duration::from_millis(50);
        loop {
            if let Ok(Some(status)) = running.child.try_wait() {
                running.guard.kill(Signal::KILL);
                running.guard.disarm();
                let (code, signal) = exit_code(&status);
                return Err(format!(
                    "server `{name}` exited with {} before it became healthy (GET {url}); last log lines:\n{}",
                    describe_exit(code, signal),
                    indent(&self.log_tail())
                ));
            }
            if stop.is_cancelled() || self.halt.is_cancelled() {
                running.guard.kill(Signal::KILL);
                let _ = tokio::time::timeout(Duration::from_secs(5), running.child.wait()).await;
                running.guard.disarm();
                return Err(format!("server `{name}`: interrupted while starting"));
            }
            if toolgate_client::health_ok(&url, Duration::from_secs(2)).await {
                return Ok(running);
            }
            if Instant::now() >= deadline {
                stop_group(&mut running, self.spec.stop_signal, self.grace()).await;
                return Err(format!(
                    "server `{name}` did not become healthy within {}s (GET {url} never answered 2xx); last log lines:\n{}",
                    self.spec.startup_timeout.as_secs_f64(),
                    indent(&self.log_tail())
                ));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(HEALTH_POLL_MAX);
        }
    }

    fn record_start(&self, pid: Option<u32>, ms: Option<f64>, err: Option<&str>) {
        self.state().facts.starts.push(StartFact {
            at: now_rfc3339(),
            pid,
            startup_ms: ms,
            healthy: ms.is_some(),
            error: err.map(str::to_string),
        });
    }

    fn grace(&self) -> Duration {
        if self.state().hurry {
            Duration::ZERO
        } else {
            self.spec.grace
        }
    }

    /// The exit watcher: waits for the process to exit or for the stop; restarts it when
    /// allowed.
    async fn watch(self: Arc<Self>, mut running: Running, stop: CancellationToken) {
        let mut generation = 1u32;
        loop {
            let status = tokio::select! {
                s = running.child.wait() => s,
                _ = self.halt.cancelled() => {
                    self.stop_running(&mut running).await;
                    return;
                }
            };
            // It exited on its own. Anything it left in its group goes too.
            if running.guard.alive() {
                running.guard.kill(Signal::KILL);
            }
            running.guard.disarm();
            let (code, signal) = status.as_ref().map(exit_code).unwrap_or((None, None));
            let down = self.record_exit(running.pid, code, signal);
            let restarts = self.state().facts.restarts;
            if self.halt.is_cancelled()
                || stop.is_cancelled()
                || restarts >= self.spec.restart_on_exit
            {
                self.phase.send_replace(Phase::Down(down));
                return;
            }
            self.state().facts.restarts = restarts + 1;
            self.phase.send_replace(Phase::Starting);
            self.log_line(&format!(
                "restart {} of {}",
                restarts + 1,
                self.spec.restart_on_exit
            ));
            match self.spawn_healthy(&stop).await {
                Ok(r) => {
                    running = r;
                    generation += 1;
                    self.phase.send_replace(Phase::Up(generation));
                }
                Err(e) => {
                    let mut down = down;
                    down.message = format!("{}; restart failed: {}", down.message, first_line(&e));
                    self.phase.send_replace(Phase::Down(down));
                    return;
                }
            }
        }
    }

    /// The stop the run asked for: the signal, the grace, KILL; recorded as a `StopFact`.
    async fn stop_running(&self, running: &mut Running) {
        let t = Instant::now();
        let sig = self.spec.stop_signal_name();
        self.log_line(&format!(
            "stopping: SIG{sig} to process group {}",
            running.pid
        ));
        let graceful = stop_group(running, self.spec.stop_signal, self.grace()).await;
        let stop_ms = t.elapsed().as_secs_f64() * 1000.0;
        self.log_line(&format!(
            "stopped after {stop_ms:.0} ms{}",
            if graceful {
                ""
            } else {
                " (killed after the grace period)"
            }
        ));
        self.state().facts.stop = Some(StopFact {
            signal: sig,
            graceful,
            stop_ms,
        });
        self.phase.send_replace(Phase::Stopped);
    }

    /// An exit on its own, in the log and the facts; returns the error its trials record.
    fn record_exit(&self, pid: u32, code: Option<i32>, signal: Option<i32>) -> InfraError {
        let (done, total) = {
            let st = self.state();
            (st.trials_done, st.trials_total)
        };
        let message = format!(
            "server `{}` exited with {} after {done} of {total} trials",
            self.spec.target,
            describe_exit(code, signal)
        );
        self.log_line(&message);
        let tail = self.log_tail();
        self.state().facts.exits.push(ExitFact {
            at: now_rfc3339(),
            pid: Some(pid),
            code,
            signal,
            trials_done: done,
            trials_total: total,
            message: message.clone(),
            log_tail: tail.clone(),
        });
        InfraError {
            kind: ErrorKind::ServerExited,
            message,
            status: None,
            body: Some(tail.join("\n")),
            turn: 0,
        }
    }

    /// Wait until the server is up; the generation identifies the process serving.
    pub async fn ready(&self) -> Result<u32, InfraError> {
        let mut rx = self.phase.subscribe();
        loop {
            let phase = rx.borrow_and_update().clone();
            match phase {
                Phase::Up(g) => return Ok(g),
                Phase::Down(e) => return Err(e),
                Phase::Stopped => {
                    return Err(self.gone(format!("server `{}` was stopped", self.spec.target)))
                }
                Phase::Idle | Phase::Starting => {
                    if rx.changed().await.is_err() {
                        return Err(self.gone("server handle closed".into()));
                    }
                }
            }
        }
    }

    fn gone(&self, message: String) -> InfraError {
        InfraError {
            kind: ErrorKind::ServerExited,
            message,
            status: None,
            body: None,
            turn: 0,
        }
    }

    /// After a connection-level failure: did the server die under the trial?
    pub async fn after_failure(&self, generation: u32) -> AfterFailure {
        let mut rx = self.phase.subscribe();
        // The exit watcher hears of the exit within milliseconds (SIGCHLD); a connection reset
        // can arrive first, so give it a moment.
        let changed = tokio::time::timeout(Duration::from_secs(1), async {
            loop {
                if !matches!(&*rx.borrow_and_update(), Phase::Up(g) if *g == generation) {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await
        .is_ok();
        if !changed {
            return AfterFailure::Alive;
        }
        match self.ready().await {
            Ok(_) => AfterFailure::Restarted,
            Err(e) => AfterFailure::Exited(e),
        }
    }

    /// Run one probe and keep its reading (up to [`MAX_READINGS`] per probe).
    async fn run_probe(&self, i: usize, phase: &str) {
        let reading = super::probes::read(
            &self.spec.probes[i],
            &self.vars(),
            self.spec.cwd.as_deref(),
            phase,
            self.elapsed_ms(),
        )
        .await;
        if let Some(s) = self.state().facts.probes.get_mut(i) {
            if s.readings.len() < MAX_READINGS {
                s.readings.push(reading);
            }
        }
    }

    async fn run_probes(&self, phase: &str) {
        for i in 0..self.spec.probes.len() {
            self.run_probe(i, phase).await;
        }
    }

    /// End of the target's trials: `after` probes, then stop. Bounded by the grace period plus
    /// a few seconds; returns the facts for the manifest.
    pub async fn stop(&self) -> ServerFacts {
        self.halt_probes.cancel();
        let hurry = self.state().hurry;
        if !hurry && matches!(&*self.phase.borrow(), Phase::Up(_)) {
            self.run_probes("after").await;
        }
        self.halt.cancel();
        let tasks: Vec<_> = std::mem::take(&mut self.state().tasks);
        let bound = self.spec.grace + self.spec.startup_timeout + Duration::from_secs(15);
        for t in tasks {
            let abort = t.abort_handle();
            if tokio::time::timeout(bound, t).await.is_err() {
                // Dropping the aborted watcher drops its guard, which kills the group.
                abort.abort();
            }
        }
        self.facts()
    }
}
