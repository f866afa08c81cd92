//! Managed servers: for a target with `start = "…"`, toolgate starts the server in its own
//! process group, waits until it is healthy (startup time = spawn → first 2xx on the health
//! path), writes its stdout/stderr to a log in the run folder, runs probes before, during and
//! after the suite, watches for the process exiting (restarting it up to `restart_on_exit`
//! times), and stops it at the end: the stop signal to the group, a grace period, then KILL.
//!
//! Invariant: toolgate only ever signals process groups it created itself (the group id is the
//! pid of a child it spawned with `process_group(0)`), and every group it creates is signalled
//! before the run returns — on the normal path by [`ServerHandle::stop`], on error paths and
//! when the runtime drops the watcher task by [`GroupGuard`]'s `Drop`.

use crate::config::TargetConfig;
use crate::exec::{run_trial, ExecSettings, Prepared, TargetState};
use crate::runfolder::now_rfc3339;
use rustix::process::{kill_process_group, test_kill_process_group, Pid, Signal};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use toolgate_client::Client;
use toolgate_core::record::{
    ExitFact, ProbeReading, ProbeSeries, ServerFacts, StartFact, StopFact,
};
use toolgate_core::{ErrorKind, InfraError, ResponseRecord, RunManifest, Suite};

/// `stop = { signal = "TERM", grace_s = 10 }`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StopConfig {
    #[serde(default = "default_signal")]
    pub signal: String,
    #[serde(default = "default_grace")]
    pub grace_s: f64,
}

fn default_signal() -> String {
    "TERM".into()
}
fn default_grace() -> f64 {
    10.0
}

impl Default for StopConfig {
    fn default() -> Self {
        StopConfig {
            signal: default_signal(),
            grace_s: default_grace(),
        }
    }
}

/// `probes = [{ name = "gpu-mem", command = "nvidia-smi …", interval_s = 5 }]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    pub name: String,
    /// Command line (no shell; use `sh -c "…"` for pipes). `{port}`, `{pid}`, `{model}`.
    pub command: String,
    /// Also run every N seconds while the suite runs (default: only before and after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<f64>,
    /// A probe that takes longer is killed and recorded as failed (default 10 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<f64>,
}

pub const DEFAULT_HEALTH: &str = "/v1/models";
pub const DEFAULT_STARTUP_TIMEOUT_S: f64 = 300.0;
const DEFAULT_BASE_URL: &str = "http://127.0.0.1:{port}/v1";
/// Log lines carried by error messages and exit records.
const TAIL_LINES: usize = 20;
/// Upper bound of readings kept per probe, so a long run with a short interval stays bounded.
const MAX_READINGS: usize = 2000;
const MAX_PROBE_OUTPUT: usize = 4096;

const SIGNALS: [(&str, Signal); 7] = [
    ("TERM", Signal::TERM),
    ("INT", Signal::INT),
    ("HUP", Signal::HUP),
    ("QUIT", Signal::QUIT),
    ("KILL", Signal::KILL),
    ("USR1", Signal::USR1),
    ("USR2", Signal::USR2),
];

fn parse_signal(s: &str) -> Option<Signal> {
    let s = s.trim().to_ascii_uppercase();
    let s = s.strip_prefix("SIG").unwrap_or(&s);
    SIGNALS.iter().find(|(n, _)| *n == s).map(|(_, v)| *v)
}

/// What an exit status means, for people: `code 132 (SIGILL: illegal instruction — built for a
/// CPU this machine lacks?)`. A code above 128 without a signal is a shell reporting its child's
/// signal the same way, so it gets the same words.
pub fn describe_exit(code: Option<i32>, signal: Option<i32>) -> String {
    let Some(code) = code else {
        return "unknown status".into();
    };
    let sig = signal.or((code > 128 && code < 160).then_some(code - 128));
    let hint = match sig {
        Some(4) => "SIGILL: illegal instruction — built for a CPU this machine lacks?",
        Some(9) => "SIGKILL: killed — out of memory?",
        Some(11) => "SIGSEGV: segmentation fault — a crash in the server",
        Some(6) => "SIGABRT: aborted — the server hit a fatal error; see its log",
        Some(s) if signal.is_some() => {
            return format!("code {code} (killed by SIG{})", signal_name(s))
        }
        _ => return format!("code {code}"),
    };
    format!("code {code} ({hint})")
}

fn signal_name(raw: i32) -> String {
    SIGNALS
        .iter()
        .find(|(_, v)| v.as_raw() == raw)
        .map(|(n, _)| n.to_string())
        .unwrap_or_else(|| raw.to_string())
}

/// Split a command line into words: whitespace separates, single quotes are literal, double
/// quotes group, a backslash escapes the next character. No expansion of any kind: the start
/// command is run directly, so a missing program is reported as such rather than by a shell.
pub fn split_command(s: &str) -> Result<Vec<String>, String> {
    let words =
        shlex::split(s).ok_or_else(|| format!("unclosed quote or trailing backslash in `{s}`"))?;
    if words.is_empty() {
        return Err("the command is empty".into());
    }
    Ok(words)
}

fn fill(s: &str, vars: &[(&str, String)]) -> String {
    let mut s = s.to_string();
    for (k, v) in vars {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

/// Config checks for a target with `start` (called from `TargetConfig::check`).
pub fn check_target(t: &TargetConfig) -> Result<(), String> {
    let start = t.start.as_deref().unwrap_or("");
    split_command(start).map_err(|e| format!("`start`: {e}"))?;
    if t.model.is_none() {
        return Err("needs `model`".into());
    }
    if !t.base_urls.is_empty() {
        return Err(
            "a managed target (`start`) has one server: use `base_url`, not `base_urls`".into(),
        );
    }
    let base = t.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
    crate::config::check_url(&base.replace("{port}", "1"))?;
    if t.port.is_none() && !base.contains("{port}") {
        return Err(format!(
            "`base_url` {base} of a managed target needs a `{{port}}` placeholder (or set `port`)"
        ));
    }
    if let Some(h) = &t.health {
        if !h.starts_with('/') {
            return Err(format!(
                "`health` must be a path starting with `/`, got `{h}`"
            ));
        }
    }
    if let Some(s) = t.startup_timeout_s {
        if !(s > 0.0 && s.is_finite()) {
            return Err("`startup_timeout_s` must be a positive number".into());
        }
    }
    if let Some(st) = &t.stop {
        if parse_signal(&st.signal).is_none() {
            return Err(format!(
                "`stop.signal` `{}` is not one of {}",
                st.signal,
                SIGNALS.map(|(n, _)| n).join(", ")
            ));
        }
        if !(st.grace_s >= 0.0 && st.grace_s.is_finite()) {
            return Err("`stop.grace_s` must be a number ≥ 0".into());
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for p in &t.probes {
        if !names.insert(p.name.as_str()) {
            return Err(format!("probe name `{}` is used twice", p.name));
        }
        split_command(&p.command).map_err(|e| format!("probe `{}`: {e}", p.name))?;
        for (k, v) in [("interval_s", p.interval_s), ("timeout_s", p.timeout_s)] {
            if let Some(v) = v {
                if !(v > 0.0 && v.is_finite()) {
                    return Err(format!(
                        "probe `{}`: `{k}` must be a positive number",
                        p.name
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Whether `prog` names an executable file: a path (relative to `cwd`), or a name on PATH.
fn program_exists(prog: &str, cwd: Option<&Path>) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if prog.contains('/') {
        let p = Path::new(prog);
        return match cwd {
            Some(c) if p.is_relative() => is_exec(&c.join(p)),
            _ => is_exec(p),
        };
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|d| is_exec(&d.join(prog))))
        .unwrap_or(false)
}

/// Everything needed to start one managed server, resolved from its target config.
#[derive(Debug, Clone)]
pub struct ManagedSpec {
    pub target: String,
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<PathBuf>,
    pub base_url: String,
    pub health: String,
    pub model: String,
    pub startup_timeout: Duration,
    pub stop_signal: String,
    pub grace: Duration,
    pub probes: Vec<ProbeConfig>,
    pub restart_on_exit: u32,
    pub port: Option<u16>,
}

impl ManagedSpec {
    /// `None` for targets without `start`. Errors are bad input: the program is not found.
    pub fn from_target(name: &str, t: &TargetConfig) -> Result<Option<ManagedSpec>, String> {
        let Some(start) = &t.start else {
            return Ok(None);
        };
        let argv = split_command(start).map_err(|e| format!("target `{name}`: `start`: {e}"))?;
        if !program_exists(&argv[0], t.cwd.as_deref()) {
            return Err(format!(
                "target `{name}`: start command `{}` not found{}",
                argv[0],
                if argv[0].contains('/') {
                    " (no executable file at that path)".to_string()
                } else {
                    " on PATH".to_string()
                }
            ));
        }
        if let Some(c) = &t.cwd {
            if !c.is_dir() {
                return Err(format!(
                    "target `{name}`: `cwd` {} is not a directory",
                    c.display()
                ));
            }
        }
        let stop = t.stop.clone().unwrap_or_default();
        Ok(Some(ManagedSpec {
            target: name.to_string(),
            argv,
            env: t.env.clone(),
            cwd: t.cwd.clone(),
            base_url: t
                .base_url
                .clone()
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_string()),
            health: t.health.clone().unwrap_or_else(|| DEFAULT_HEALTH.into()),
            model: t.model.clone().unwrap_or_default(),
            startup_timeout: Duration::from_secs_f64(
                t.startup_timeout_s.unwrap_or(DEFAULT_STARTUP_TIMEOUT_S),
            ),
            stop_signal: parse_signal(&stop.signal)
                .map(|s| signal_name(s.as_raw()))
                .unwrap_or_else(|| "TERM".into()),
            grace: Duration::from_secs_f64(stop.grace_s),
            probes: t.probes.clone(),
            restart_on_exit: t.restart_on_exit.unwrap_or(0),
            port: t.port,
        }))
    }
}

/// Kills a process group when dropped, unless disarmed: the last line of defence so that an
/// error path, a panic or a dropped runtime never leaves a server running.
struct GroupGuard {
    pgid: Option<Pid>,
}

impl GroupGuard {
    fn kill(&mut self, sig: Signal) {
        if let Some(p) = self.pgid {
            let _ = kill_process_group(p, sig);
        }
    }
    fn alive(&self) -> bool {
        self.pgid
            .map(|p| test_kill_process_group(p).is_ok())
            .unwrap_or(false)
    }
    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill(Signal::KILL);
    }
}

/// Where the server is in its life; trials wait on this.
#[derive(Debug, Clone)]
enum Phase {
    Idle,
    Starting,
    Up(u32),
    /// Gone for good: the error every remaining trial records.
    Down(InfraError),
    Stopped,
}

/// A running managed server.
struct Running {
    child: tokio::process::Child,
    guard: GroupGuard,
    pid: u32,
}

/// Shared handle of one managed server; lives in the target's `TargetState`.
pub struct ServerHandle {
    pub spec: ManagedSpec,
    log_path: PathBuf,
    log_name: String,
    facts: Mutex<ServerFacts>,
    port: Mutex<Option<u16>>,
    phase_tx: watch::Sender<Phase>,
    stopping: AtomicBool,
    /// The run stops at once (a second signal, a write failure): no `after` probes and no
    /// stop grace, the group is killed.
    hurry: AtomicBool,
    stop_notify: Notify,
    trials_done: AtomicU64,
    trials_total: AtomicU64,
    first_start: Mutex<Option<Instant>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    probe_stop: watch::Sender<bool>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("target", &self.spec.target)
            .finish()
    }
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

impl ServerHandle {
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
                    command: split_command(&p.command).unwrap_or_default(),
                    readings: vec![],
                })
                .collect(),
            ..Default::default()
        };
        Arc::new(ServerHandle {
            spec,
            log_path: run_dir.join(log_name),
            log_name: log_name.to_string(),
            facts: Mutex::new(facts),
            port: Mutex::new(None),
            phase_tx: watch::channel(Phase::Idle).0,
            stopping: AtomicBool::new(false),
            hurry: AtomicBool::new(false),
            stop_notify: Notify::new(),
            trials_done: AtomicU64::new(0),
            trials_total: AtomicU64::new(0),
            first_start: Mutex::new(None),
            tasks: Mutex::new(vec![]),
            probe_stop: watch::channel(false).0,
        })
    }

    pub fn log_name(&self) -> &str {
        &self.log_name
    }

    pub fn facts(&self) -> ServerFacts {
        self.facts.lock().expect("facts").clone()
    }

    pub fn set_total(&self, n: u64) {
        self.trials_total.store(n, Ordering::SeqCst);
    }

    fn vars(&self) -> Vec<(&'static str, String)> {
        let port = self
            .port
            .lock()
            .expect("port")
            .map(|p| p.to_string())
            .unwrap_or_default();
        let pid = self
            .facts
            .lock()
            .expect("facts")
            .pid
            .map(|p| p.to_string())
            .unwrap_or_default();
        vec![
            ("port", port),
            ("model", self.spec.model.clone()),
            ("pid", pid),
        ]
    }

    /// The base URL requests go to (known once the port is picked).
    pub fn base_url(&self) -> String {
        fill(&self.spec.base_url, &self.vars())
    }

    fn health_url(&self) -> String {
        let base = self.base_url();
        let origin = match base.find("://") {
            Some(i) => match base[i + 3..].find('/') {
                Some(j) => base[..i + 3 + j].to_string(),
                None => base.clone(),
            },
            None => base.clone(),
        };
        format!("{origin}{}", self.spec.health)
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
        self.first_start
            .lock()
            .expect("start")
            .map(|t| t.elapsed().as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    }

    /// First start: spawn, wait for health, run the `before` probes, then watch the process in
    /// the background. On failure the server is marked down (every trial of the target records
    /// the returned message) and nothing is left running.
    pub async fn start(self: &Arc<Self>, stop: CancellationToken) -> Result<(), String> {
        self.phase_tx.send_replace(Phase::Starting);
        *self.first_start.lock().expect("start") = Some(Instant::now());
        match self.spawn_healthy(&stop).await {
            Ok(running) => {
                {
                    let mut f = self.facts.lock().expect("facts");
                    f.startup_ms = f.starts.last().and_then(|s| s.startup_ms);
                }
                self.run_probes("before").await;
                self.phase_tx.send_replace(Phase::Up(1));
                let me = self.clone();
                let watcher = tokio::spawn(async move { me.watch(running, stop).await });
                let mut tasks = self.tasks.lock().expect("tasks");
                tasks.push(watcher);
                for (i, p) in self.spec.probes.iter().enumerate() {
                    if let Some(iv) = p.interval_s {
                        let me = self.clone();
                        let mut halt = self.probe_stop.subscribe();
                        let every = Duration::from_secs_f64(iv);
                        tasks.push(tokio::spawn(async move {
                            loop {
                                tokio::select! {
                                    _ = tokio::time::sleep(every) => {}
                                    _ = halt.changed() => return,
                                }
                                if *halt.borrow() {
                                    return;
                                }
                                me.run_probe(i, "during").await;
                            }
                        }));
                    }
                }
                Ok(())
            }
            Err(msg) => {
                self.facts.lock().expect("facts").error = Some(msg.clone());
                self.phase_tx.send_replace(Phase::Down(InfraError {
                    kind: ErrorKind::ServerExited,
                    message: format!("server did not start: {}", first_line(&msg)),
                    status: None,
                    body: Some(self.log_tail().join("\n")),
                    turn: 0,
                }));
                Err(msg)
            }
        }
    }

    /// Spawn the server and wait until its health path answers 2xx. Records a `StartFact`.
    async fn spawn_healthy(&self, stop: &CancellationToken) -> Result<Running, String> {
        let name = &self.spec.target;
        let port = match self.spec.port {
            Some(p) => {
                if std::net::TcpListener::bind(("127.0.0.1", p)).is_err() {
                    let msg = format!(
                        "server `{name}`: port {p} on 127.0.0.1 is already in use; stop what holds it or remove `port` to let toolgate pick a free one"
                    );
                    self.record_start(None, None, Some(&msg));
                    return Err(msg);
                }
                p
            }
            None => free_port().map_err(|e| format!("server `{name}`: no free port: {e}"))?,
        };
        *self.port.lock().expect("port") = Some(port);
        let vars = self.vars();
        let argv: Vec<String> = self.spec.argv.iter().map(|a| fill(a, &vars)).collect();
        self.facts.lock().expect("facts").command = argv.clone();
        self.facts.lock().expect("facts").port = Some(port);
        self.facts.lock().expect("facts").base_url = self.base_url();
        self.log_line(&format!("start {}", argv.join(" ")));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| format!("cannot open {}: {e}", self.log_path.display()))?;
        let log2 = log
            .try_clone()
            .map_err(|e| format!("cannot open {}: {e}", self.log_path.display()))?;
        let mut cmd = tokio::process::Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log2)
            // Its own group: Ctrl-C at the terminal does not reach it, and stopping it
            // reaches everything it started (workers, shells) and nothing else.
            .process_group(0)
            .kill_on_drop(true);
        for (k, v) in &self.spec.env {
            cmd.env(k, fill(v, &vars));
        }
        if let Some(c) = &self.spec.cwd {
            cmd.current_dir(c);
        }
        let spawned = Instant::now();
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let msg = if e.kind() == std::io::ErrorKind::NotFound {
                    format!("server `{name}`: start command `{}` not found", argv[0])
                } else {
                    format!("server `{name}`: cannot start `{}`: {e}", argv[0])
                };
                self.record_start(None, None, Some(&msg));
                return Err(msg);
            }
        };
        let pid = child.id().unwrap_or(0);
        let mut guard = GroupGuard {
            pgid: Pid::from_raw(pid as i32),
        };
        self.facts.lock().expect("facts").pid = Some(pid);
        let url = self.health_url();
        let deadline = spawned + self.spec.startup_timeout;
        let mut wait = Duration::from_millis(50);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                guard.kill(Signal::KILL);
                guard.disarm();
                let (code, signal) = exit_code(&status);
                let msg = format!(
                    "server `{name}` exited with {} before it became healthy (GET {url}); last log lines:\n{}",
                    describe_exit(code, signal),
                    indent(&self.log_tail())
                );
                self.record_start(Some(pid), None, Some(&msg));
                return Err(msg);
            }
            if stop.is_cancelled() || self.stopping.load(Ordering::SeqCst) {
                guard.kill(Signal::KILL);
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                guard.disarm();
                let msg = format!("server `{name}`: interrupted while starting");
                self.record_start(Some(pid), None, Some(&msg));
                return Err(msg);
            }
            if http_ok(&url, Duration::from_secs(2)).await {
                let ms = spawned.elapsed().as_secs_f64() * 1000.0;
                self.log_line(&format!("healthy after {ms:.0} ms (pid {pid})"));
                self.record_start(Some(pid), Some(ms), None);
                return Ok(Running { child, guard, pid });
            }
            if Instant::now() >= deadline {
                self.stop_group(&mut child, &mut guard).await;
                let msg = format!(
                    "server `{name}` did not become healthy within {}s (GET {url} never answered 2xx); last log lines:\n{}",
                    self.spec.startup_timeout.as_secs_f64(),
                    indent(&self.log_tail())
                );
                self.record_start(Some(pid), None, Some(&msg));
                return Err(msg);
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(500));
        }
    }

    fn record_start(&self, pid: Option<u32>, ms: Option<f64>, err: Option<&str>) {
        self.facts.lock().expect("facts").starts.push(StartFact {
            at: now_rfc3339(),
            pid,
            startup_ms: ms,
            healthy: ms.is_some(),
            error: err.map(str::to_string),
        });
    }

    /// Signal the group, wait the grace period, then KILL. Returns whether it went quietly.
    async fn stop_group(&self, child: &mut tokio::process::Child, guard: &mut GroupGuard) -> bool {
        let sig = parse_signal(&self.spec.stop_signal).unwrap_or(Signal::TERM);
        guard.kill(sig);
        let grace = if self.hurry.load(Ordering::SeqCst) {
            Duration::ZERO
        } else {
            self.spec.grace
        };
        let graceful = tokio::time::timeout(grace, child.wait()).await.is_ok();
        if !graceful || guard.alive() {
            // The leader is gone or stuck; whatever else is in its group goes too.
            guard.kill(Signal::KILL);
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        guard.disarm();
        graceful
    }

    /// The exit watcher: waits for the process to exit or for a stop request; restarts it when
    /// allowed.
    async fn watch(self: Arc<Self>, mut running: Running, stop: CancellationToken) {
        let mut generation = 1u32;
        loop {
            let status = tokio::select! {
                s = running.child.wait() => s,
                _ = self.stop_notify.notified() => {
                    let t = Instant::now();
                    self.log_line(&format!("stopping: SIG{} to process group {}", self.spec.stop_signal, running.pid));
                    let graceful = self.stop_group(&mut running.child, &mut running.guard).await;
                    let stop_ms = t.elapsed().as_secs_f64() * 1000.0;
                    self.log_line(&format!("stopped after {stop_ms:.0} ms{}", if graceful { "" } else { " (killed after the grace period)" }));
                    self.facts.lock().expect("facts").stop = Some(StopFact {
                        signal: self.spec.stop_signal.clone(),
                        graceful,
                        stop_ms,
                    });
                    self.phase_tx.send_replace(Phase::Stopped);
                    return;
                }
            };
            // It exited on its own. Anything it left in its group goes too.
            if running.guard.alive() {
                running.guard.kill(Signal::KILL);
            }
            running.guard.disarm();
            let (code, signal) = status.as_ref().map(exit_code).unwrap_or((None, None));
            let done = self.trials_done.load(Ordering::SeqCst);
            let total = self.trials_total.load(Ordering::SeqCst);
            let what = describe_exit(code, signal);
            let message = format!(
                "server `{}` exited with {what} after {done} of {total} trials",
                self.spec.target
            );
            self.log_line(&message);
            let tail = self.log_tail();
            let restarts = self.facts.lock().expect("facts").restarts;
            {
                let mut f = self.facts.lock().expect("facts");
                f.exits.push(ExitFact {
                    at: now_rfc3339(),
                    pid: Some(running.pid),
                    code,
                    signal,
                    trials_done: done,
                    trials_total: total,
                    message: message.clone(),
                    log_tail: tail.clone(),
                });
            }
            let down = |extra: &str| InfraError {
                kind: ErrorKind::ServerExited,
                message: format!("{message}{extra}"),
                status: None,
                body: Some(tail.join("\n")),
                turn: 0,
            };
            if self.stopping.load(Ordering::SeqCst) || stop.is_cancelled() {
                self.phase_tx.send_replace(Phase::Down(down("")));
                return;
            }
            if restarts >= self.spec.restart_on_exit {
                self.phase_tx.send_replace(Phase::Down(down("")));
                return;
            }
            self.facts.lock().expect("facts").restarts = restarts + 1;
            self.phase_tx.send_replace(Phase::Starting);
            self.log_line(&format!(
                "restart {} of {}",
                restarts + 1,
                self.spec.restart_on_exit
            ));
            match self.spawn_healthy(&stop).await {
                Ok(r) => {
                    running = r;
                    generation += 1;
                    self.phase_tx.send_replace(Phase::Up(generation));
                }
                Err(e) => {
                    self.phase_tx.send_replace(Phase::Down(down(&format!(
                        "; restart failed: {}",
                        first_line(&e)
                    ))));
                    return;
                }
            }
        }
    }

    /// Wait until the server is up; the generation identifies the process serving.
    pub async fn ready(&self) -> Result<u32, InfraError> {
        let mut rx = self.phase_tx.subscribe();
        loop {
            let phase = rx.borrow_and_update().clone();
            match phase {
                Phase::Up(g) => return Ok(g),
                Phase::Down(e) => return Err(e),
                Phase::Stopped => {
                    return Err(InfraError {
                        kind: ErrorKind::ServerExited,
                        message: format!("server `{}` was stopped", self.spec.target),
                        status: None,
                        body: None,
                        turn: 0,
                    })
                }
                Phase::Idle | Phase::Starting => {
                    if rx.changed().await.is_err() {
                        return Err(InfraError {
                            kind: ErrorKind::ServerExited,
                            message: "server handle closed".into(),
                            status: None,
                            body: None,
                            turn: 0,
                        });
                    }
                }
            }
        }
    }

    /// After a connection-level failure: did the server die under the trial?
    pub async fn after_failure(&self, generation: u32) -> AfterFailure {
        let mut rx = self.phase_tx.subscribe();
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

    /// Run one probe and record the reading.
    async fn run_probe(&self, i: usize, phase: &str) {
        let p = &self.spec.probes[i];
        let argv: Vec<String> = split_command(&p.command)
            .unwrap_or_default()
            .iter()
            .map(|a| fill(a, &self.vars()))
            .collect();
        let timeout = Duration::from_secs_f64(p.timeout_s.unwrap_or(10.0));
        let at = now_rfc3339();
        let elapsed_ms = self.elapsed_ms();
        let mut reading = ProbeReading {
            phase: phase.to_string(),
            at,
            elapsed_ms,
            ..Default::default()
        };
        let mut cmd = tokio::process::Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(c) = &self.spec.cwd {
            cmd.current_dir(c);
        }
        match cmd.spawn() {
            Err(e) => reading.error = Some(format!("cannot run `{}`: {e}", argv[0])),
            Ok(child) => {
                let mut guard = GroupGuard {
                    pgid: child.id().and_then(|p| Pid::from_raw(p as i32)),
                };
                match tokio::time::timeout(timeout, child.wait_with_output()).await {
                    Ok(Ok(out)) => {
                        guard.disarm();
                        let text = String::from_utf8_lossy(&out.stdout);
                        let text = text.trim();
                        reading.output = text.chars().take(MAX_PROBE_OUTPUT).collect();
                        reading.value = first_number(text);
                        reading.exit_code = out.status.code();
                        reading.ok = out.status.success();
                        if !reading.ok {
                            let err = String::from_utf8_lossy(&out.stderr);
                            reading.error = Some(format!(
                                "exited with {}: {}",
                                out.status,
                                err.trim().chars().take(500).collect::<String>()
                            ));
                        }
                    }
                    Ok(Err(e)) => reading.error = Some(e.to_string()),
                    // The guard kills the probe's group as it goes out of scope.
                    Err(_) => {
                        reading.error = Some(format!(
                            "timed out after {}s; killed",
                            timeout.as_secs_f64()
                        ))
                    }
                }
            }
        }
        let mut f = self.facts.lock().expect("facts");
        if let Some(s) = f.probes.get_mut(i) {
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
        self.probe_stop.send_replace(true);
        let hurry = self.hurry.load(Ordering::SeqCst);
        if !hurry && matches!(&*self.phase_tx.borrow(), Phase::Up(_)) {
            self.run_probes("after").await;
        }
        self.stopping.store(true, Ordering::SeqCst);
        self.stop_notify.notify_one();
        let tasks: Vec<_> = std::mem::take(&mut *self.tasks.lock().expect("tasks"));
        for t in tasks {
            let bound = self.spec.grace + self.spec.startup_timeout + Duration::from_secs(15);
            let abort = t.abort_handle();
            if tokio::time::timeout(bound, t).await.is_err() {
                // Dropping the aborted watcher drops its guard, which kills the group.
                abort.abort();
            }
        }
        self.facts()
    }

    fn note_trial_done(&self) {
        self.trials_done.fetch_add(1, Ordering::SeqCst);
    }
}

/// A trial against a target whose server toolgate manages: wait for the server, send, and if
/// the connection failed because the server died, either resend once after its restart or
/// record `server_exited` with its exit status and log tail.
pub async fn run_trial_managed(
    client: &Client,
    ts: &TargetState,
    suites: &[Suite],
    p: &Prepared,
    queued_ms: f64,
    settings: &ExecSettings,
) -> ResponseRecord {
    let Some(server) = &ts.server else {
        return run_trial(client, ts, suites, p, queued_ms, settings).await;
    };
    let kind = suites[p.trial.suite].cases[p.trial.case].kind.as_str();
    let mut attempt = 0;
    loop {
        let generation = match server.ready().await {
            Ok(g) => g,
            Err(e) => return crate::exec::error_record(p, kind, &ts.target, e),
        };
        let mut rec = run_trial(client, ts, suites, p, queued_ms, settings).await;
        let failed_on_wire = rec.error.as_ref().is_some_and(|e| {
            matches!(
                e.kind,
                ErrorKind::Connect | ErrorKind::Protocol | ErrorKind::Timeout
            )
        });
        if !failed_on_wire {
            server.note_trial_done();
            return rec;
        }
        match server.after_failure(generation).await {
            AfterFailure::Alive => {
                server.note_trial_done();
                return rec;
            }
            AfterFailure::Restarted if attempt == 0 => {
                // A fresh process: the old one's connect failures say nothing about it.
                ts.consecutive_connect.store(0, Ordering::SeqCst);
                ts.down.store(false, Ordering::SeqCst);
                attempt += 1;
            }
            AfterFailure::Restarted => {
                server.note_trial_done();
                return rec;
            }
            AfterFailure::Exited(mut e) => {
                if let Some(old) = &rec.error {
                    e.turn = old.turn;
                }
                rec.error = Some(e);
                return rec;
            }
        }
    }
}

/// One handle per managed target. The log is `server.log` when the run manages one server,
/// `server-<target>.log` when it manages several.
pub fn handles(
    specs: BTreeMap<String, ManagedSpec>,
    run_dir: &Path,
) -> BTreeMap<String, Arc<ServerHandle>> {
    let several = specs.len() > 1;
    specs
        .into_iter()
        .map(|(name, spec)| {
            let stem = several.then(|| toolgate_core::paths::file_stem(&name));
            let log = toolgate_core::runfolder::server_log(stem.as_deref());
            let h = ServerHandle::new(spec, run_dir, &log);
            (name, h)
        })
        .collect()
}

fn record_facts(manifest: &mut RunManifest, name: &str, h: &ServerHandle) {
    if let Some(info) = manifest.targets.iter_mut().find(|t| t.name == name) {
        info.base_url = h.base_url();
        info.set_server_facts(&h.facts());
    }
}

/// Start the managed servers of a group of targets (one at a time), record what happened in
/// the manifest (rewritten after each start, so the pid is on disk while the server runs), and
/// gather the server metadata once healthy. A server that does not come up is reported here
/// and its trials record `server_exited`; it never aborts the run.
pub async fn start_servers(
    group: &[Arc<TargetState>],
    manifest: &mut RunManifest,
    dir: &Path,
    stop: &CancellationToken,
    max_body: usize,
    quiet: bool,
) -> anyhow::Result<()> {
    for ts in group {
        let Some(h) = &ts.server else { continue };
        h.set_total(ts.total);
        if !quiet {
            eprintln!(
                "starting server for `{}`: {} (log: {})",
                ts.target.name,
                h.spec.argv.join(" "),
                dir.join(h.log_name()).display()
            );
        }
        let res = h.start(stop.clone()).await;
        match &res {
            Ok(()) => {
                let f = h.facts();
                if !quiet {
                    eprintln!(
                        "server for `{}` healthy after {:.1}s (pid {}, {})",
                        ts.target.name,
                        f.startup_ms.unwrap_or(0.0) / 1000.0,
                        f.pid.unwrap_or(0),
                        h.base_url()
                    );
                }
            }
            Err(msg) => eprintln!("toolgate: {msg}"),
        }
        record_facts(manifest, &ts.target.name, h);
        if res.is_ok() {
            let mut t = ts.target.clone();
            t.urls = vec![h.base_url()];
            let meta = crate::exec::gather_metadata(&t, max_body).await;
            if let Some(info) = manifest
                .targets
                .iter_mut()
                .find(|i| i.name == ts.target.name)
            {
                info.metadata = meta;
            }
        }
        crate::runfolder::write_manifest(dir, manifest)?;
    }
    Ok(())
}

/// Stop the managed servers of a group and record their facts in the manifest. When the run
/// stops at once (`now` cancelled) they are killed without `after` probes or stop grace.
pub async fn stop_servers(
    group: &[Arc<TargetState>],
    manifest: &mut RunManifest,
    dir: &Path,
    now: &CancellationToken,
) -> anyhow::Result<()> {
    let mut any = false;
    for ts in group {
        let Some(h) = &ts.server else { continue };
        if now.is_cancelled() {
            h.hurry.store(true, Ordering::SeqCst);
        }
        h.stop().await;
        record_facts(manifest, &ts.target.name, h);
        any = true;
    }
    if any {
        crate::runfolder::write_manifest(dir, manifest)?;
    }
    Ok(())
}

/// Why the run is incomplete because of a managed server: it never came up, or it exited for
/// good with trials still to send.
pub fn incomplete_reasons(states: &[Arc<TargetState>]) -> Vec<String> {
    let mut out = vec![];
    for ts in states {
        let Some(h) = &ts.server else { continue };
        let f = h.facts();
        if let Some(e) = &f.error {
            out.push(first_line(e).to_string());
        }
        if f.exits.len() as u32 > f.restarts {
            if let Some(last) = f.exits.last() {
                if last.trials_done < last.trials_total {
                    out.push(last.message.clone());
                }
            }
        }
    }
    out
}

/// A free loopback port (the OS picks; released before the server binds it).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

/// GET `url` (plain HTTP); true on a 2xx status line. Bounded by `timeout`.
async fn http_ok(url: &str, timeout: Duration) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(host).await.ok()?;
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: */*\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = [0u8; 64];
        let mut n = 0;
        while n < 12 {
            let k = s.read(&mut buf[n..]).await.ok()?;
            if k == 0 {
                break;
            }
            n += k;
        }
        let line = String::from_utf8_lossy(&buf[..n]).to_string();
        let code = line.split_whitespace().nth(1)?.parse::<u16>().ok()?;
        Some((200..300).contains(&code))
    };
    matches!(tokio::time::timeout(timeout, fut).await, Ok(Some(true)))
}

/// (exit code, signal): for a signal the code follows the shell's 128 + N convention.
fn exit_code(s: &std::process::ExitStatus) -> (Option<i32>, Option<i32>) {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => (Some(c), None),
        (None, Some(sig)) => (Some(128 + sig), Some(sig)),
        _ => (None, None),
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn indent(lines: &[String]) -> String {
    if lines.is_empty() {
        return "  (the log is empty)".into();
    }
    lines
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The last `n` lines of a file, reading at most its last 64 KiB.
pub fn log_tail(path: &Path, n: usize) -> Vec<String> {
    let Ok(mut f) = std::fs::File::open(path) else {
        return vec![];
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(64 * 1024);
    if f.seek(SeekFrom::Start(from)).is_err() {
        return vec![];
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.chars().take(400).collect())
        .collect()
}

/// The first number in a probe's output (`12345 MiB` → 12345).
fn first_number(s: &str) -> Option<f64> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let starts =
            c.is_ascii_digit() || (c == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit));
        if starts {
            let mut j = i + 1;
            while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == b'.') {
                j += 1;
            }
            if let Ok(v) = s[i..j].trim_end_matches('.').parse::<f64>() {
                return Some(v);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_by_signal_name_the_signal_and_its_likely_cause() {
        let ill = "code 132 (SIGILL: illegal instruction — built for a CPU this machine lacks?)";
        assert_eq!(describe_exit(Some(132), Some(4)), ill);
        // A shell reports its child's signal as 128 + N: same words.
        assert_eq!(describe_exit(Some(132), None), ill);
        assert_eq!(
            describe_exit(Some(137), Some(9)),
            "code 137 (SIGKILL: killed — out of memory?)"
        );
        assert!(
            describe_exit(Some(139), Some(11)).starts_with("code 139 (SIGSEGV: segmentation fault")
        );
        assert!(describe_exit(Some(134), Some(6)).starts_with("code 134 (SIGABRT: aborted"));
        assert_eq!(
            describe_exit(Some(143), Some(15)),
            "code 143 (killed by SIGTERM)"
        );
        assert_eq!(describe_exit(Some(3), None), "code 3");
        assert_eq!(describe_exit(None, None), "unknown status");
    }

    #[test]
    fn commands_split_like_a_shell_without_expansion() {
        assert_eq!(
            split_command(r#"llama-server -m "/m/a b.gguf" --port {port} 'x y' a\ b"#).unwrap(),
            vec![
                "llama-server",
                "-m",
                "/m/a b.gguf",
                "--port",
                "{port}",
                "x y",
                "a b"
            ]
        );
        assert!(split_command("a 'b").unwrap_err().contains("unclosed"));
        assert!(split_command("   ").is_err());
        assert_eq!(split_command("''").unwrap(), vec![""]);
    }

    #[test]
    fn numbers_signals_and_placeholders() {
        assert_eq!(first_number("12345 MiB"), Some(12345.0));
        assert_eq!(first_number("used: 3.5 GiB"), Some(3.5));
        assert_eq!(first_number("none"), None);
        assert_eq!(parse_signal("sigint"), Some(Signal::INT));
        assert_eq!(parse_signal("TERM"), Some(Signal::TERM));
        assert!(parse_signal("BOGUS").is_none());
        assert_eq!(
            fill(
                "--port {port} -m {model}",
                &[("port", "9".into()), ("model", "m".into())]
            ),
            "--port 9 -m m"
        );
    }

    #[test]
    fn managed_target_checks() {
        let t = |s: &str| {
            crate::config::Config::parse(Path::new("t.toml"), s)
                .map(|_| ())
                .map_err(|d| d.to_string())
        };
        assert!(t("[targets.a]\nstart = \"x --port {port}\"\nmodel = \"m\"\n").is_ok());
        let e = t(
            "[targets.a]\nstart = \"x\"\nmodel = \"m\"\nbase_url = \"http://127.0.0.1:8000/v1\"\n",
        )
        .unwrap_err();
        assert!(e.contains("{port}"), "{e}");
        let e = t("[targets.a]\nstart = \"x\"\nmodel = \"m\"\nstop = { signal = \"NOPE\" }\n")
            .unwrap_err();
        assert!(e.contains("stop.signal"), "{e}");
        let e = t("[targets.a]\nstart = \"x\"\nmodel = \"m\"\nhealth = \"health\"\n").unwrap_err();
        assert!(e.contains("health"), "{e}");
        let e = t("[targets.a]\nstart = \"x\"\nmodel = \"m\"\nprobes = [{ name = \"p\", command = \"a\" }, { name = \"p\", command = \"b\" }]\n")
            .unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let cfg = TargetConfig {
            start: Some("no-such-program-toolgate --port {port}".into()),
            model: Some("m".into()),
            ..Default::default()
        };
        let e = ManagedSpec::from_target("a", &cfg).unwrap_err();
        assert!(e.contains("not found on PATH"), "{e}");
    }

    /// Issue 17: targets `x/y` and `x_y` get two log files, both inside the run folder.
    #[test]
    fn managed_log_names_are_unique_and_stay_in_the_run_folder() {
        let cfg = TargetConfig {
            start: Some("sh --port {port}".into()),
            model: Some("m".into()),
            ..Default::default()
        };
        let mut specs = BTreeMap::new();
        for name in ["x/y", "x_y", "../up"] {
            specs.insert(
                name.to_string(),
                ManagedSpec::from_target(name, &cfg).unwrap().unwrap(),
            );
        }
        let hs = handles(specs, Path::new("/run"));
        let names: std::collections::BTreeSet<&str> = hs.values().map(|h| h.log_name()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        for n in names {
            assert!(!n.contains('/') && n.starts_with("server-"), "{n}");
        }
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("server.log");
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&p, text).unwrap();
        let t = log_tail(&p, 3);
        assert_eq!(t, vec!["line 97", "line 98", "line 99"]);
        assert!(log_tail(&d.path().join("none"), 3).is_empty());
    }
}
