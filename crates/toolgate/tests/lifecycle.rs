//! Issue 20, the run's lifecycle through the built binary: SIGTERM is handled like Ctrl-C,
//! the grace holds when every slot is busy, a second signal stops at once, answered trials
//! are kept, and a write failure stops the run at once.
//!
//! Every process a test starts is owned by a [`Proc`] whose `Drop` kills it by PID, and
//! every wait is bounded, so a failed assertion neither hangs nor leaves a server behind.

mod common;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// `interrupt_grace_s` of these runs.
const GRACE: Duration = Duration::from_secs(2);

/// A child process killed (SIGKILL, by its PID) and reaped when dropped.
struct Proc {
    child: Child,
    /// Kept open so a late write to stdout never meets a closed pipe.
    _stdout: Option<BufReader<ChildStdout>>,
}

impl Proc {
    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    fn signal(&self, sig: Signal) {
        kill(self.pid(), sig).expect("signal by PID");
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Wait for the process to end on its own, bounded (the `Drop` then kills it).
    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                return s;
            }
            assert!(
                t0.elapsed() < limit,
                "process {} did not finish within {limit:?}",
                self.pid()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `toolgate mock` on a free loopback port answering the tool-routing cases; `script` (if
/// any) is its only model. Returns the process and its base URL.
fn mock(dir: &Path, script: Option<&Path>, extra: &[&str]) -> (Proc, String) {
    let mut cmd = common::command_in(dir);
    cmd.args(["mock", "--port", "0", "--cases"])
        .arg(common::root().join("cases/tool-routing"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(s) = script {
        cmd.arg("--script").arg(s);
    }
    let mut child = cmd.spawn().expect("toolgate mock starts");
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut p = Proc {
        child,
        _stdout: None,
    };
    let mut url = String::new();
    out.read_line(&mut url).expect("mock prints its URL");
    p._stdout = Some(out);
    let url = url.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "mock said {url:?}");
    (p, url)
}

/// toolgate.toml: grace 2 s, one target `m` at `url` serving `model`, concurrency 4.
fn config(dir: &Path, url: &str, model: &str) -> PathBuf {
    let p = dir.join("toolgate.toml");
    std::fs::write(
        &p,
        format!(
            "[defaults]\ninterrupt_grace_s = {}\n\n[targets.m]\nbase_url = \"{url}\"\n\
             model = \"{model}\"\nprofile = \"vllm\"\nconcurrency = 4\n",
            GRACE.as_secs()
        ),
    )
    .unwrap();
    p
}

/// `toolgate run` of voice-3tool (57 cases) against target `m`, in the background.
fn spawn_run(dir: &Path, cfg: &Path, run: &Path) -> Proc {
    let child = common::command_in(dir)
        .args(["run", "--quiet", "--target", "m", "--config"])
        .arg(cfg)
        .arg("--suite")
        .arg(common::root().join("cases/tool-routing/voice-3tool.yaml"))
        .arg("--out")
        .arg(run)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("toolgate starts");
    Proc {
        child,
        _stdout: None,
    }
}

/// Waits until `run`'s responses.jsonl exists (the signal listener is set up before it is
/// opened) and trials have had time to be sent.
fn wait_until_sending(run: &Path) {
    let t0 = Instant::now();
    while !run.join("responses.jsonl").exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the run never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(500));
}

fn newlines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0)
}

/// Complete lines of a JSONL file, each parsed (a bad complete line fails the test), and
/// whether a torn (newline-less) tail follows them.
fn jsonl(path: &Path) -> (Vec<Value>, bool) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let torn = !text.is_empty() && !text.ends_with('\n');
    let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
    let recs = complete
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}:{}: not JSON ({e}): {l}", path.display(), i + 1))
        })
        .collect();
    (recs, torn)
}

fn manifest(run: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap()
}

/// The common end of an interrupted run: exit 3, manifest incomplete with `reason`, the
/// reports written, every line of responses.jsonl whole.
fn assert_interrupted(run: &Path, status: ExitStatus, reason: &str) -> Vec<Value> {
    assert_eq!(status.code(), Some(3), "{status:?}");
    let m = manifest(run);
    assert_eq!(m["complete"], false, "{m}");
    assert!(
        m["finished_at"].is_string(),
        "manifest rewritten at the end: {m}"
    );
    assert!(
        m["incomplete_reasons"].to_string().contains(reason),
        "want {reason:?}: {}",
        m["incomplete_reasons"]
    );
    let report = std::fs::read_to_string(run.join("report.md")).expect("report.md written");
    assert!(report.to_lowercase().contains("incomplete"), "{report}");
    let (recs, torn) = jsonl(&run.join("responses.jsonl"));
    assert!(!torn, "responses.jsonl ends on a whole line");
    recs
}

const SLOW: &str = "model: slow\nttft_ms: 30000\n";

/// SIGTERM is Ctrl-C: stop sending, grace, manifest incomplete, reports, exit 3.
#[test]
fn sigterm_is_handled_like_ctrl_c() {
    let d = tempfile::tempdir().unwrap();
    let script = d.path().join("slow.yaml");
    std::fs::write(&script, SLOW).unwrap();
    let (_mock, url) = mock(d.path(), Some(&script), &[]);
    let cfg = config(d.path(), &url, "slow");
    let run = d.path().join("run");
    let mut tg = spawn_run(d.path(), &cfg, &run);
    wait_until_sending(&run);
    let t0 = Instant::now();
    tg.signal(Signal::SIGTERM);
    let status = tg.wait(Duration::from_secs(30));
    let took = t0.elapsed();
    eprintln!("exit {:?} {took:?} after SIGTERM", status.code());
    assert!(took < GRACE + Duration::from_secs(2), "took {took:?}");
    assert!(
        took >= GRACE - Duration::from_millis(300),
        "no grace: {took:?}"
    );
    let recs = assert_interrupted(&run, status, "interrupted (SIGTERM): 57 trial(s) not sent");
    assert!(recs.is_empty(), "no 30 s answer came in 2 s");
}

/// Every slot busy on 30 s answers: the first SIGINT still exits within the grace (+ 1 s);
/// a second one right after exits at once.
#[test]
fn sigint_grace_holds_with_every_slot_busy_and_a_second_one_stops_at_once() {
    let d = tempfile::tempdir().unwrap();
    let script = d.path().join("slow.yaml");
    std::fs::write(&script, SLOW).unwrap();
    let (_mock, url) = mock(d.path(), Some(&script), &[]);
    let cfg = config(d.path(), &url, "slow");

    let once = d.path().join("once");
    let mut tg = spawn_run(d.path(), &cfg, &once);
    wait_until_sending(&once);
    let t0 = Instant::now();
    tg.signal(Signal::SIGINT);
    let status = tg.wait(Duration::from_secs(40));
    let took = t0.elapsed();
    eprintln!("exit {:?} {took:?} after one SIGINT", status.code());
    assert!(took < GRACE + Duration::from_secs(2), "took {took:?}");
    assert!(
        took >= GRACE - Duration::from_millis(300),
        "no grace: {took:?}"
    );
    assert_interrupted(&once, status, "interrupted (SIGINT): 57 trial(s) not sent");

    let twice = d.path().join("twice");
    let mut tg = spawn_run(d.path(), &cfg, &twice);
    wait_until_sending(&twice);
    let t0 = Instant::now();
    tg.signal(Signal::SIGINT);
    std::thread::sleep(Duration::from_millis(100));
    tg.signal(Signal::SIGINT);
    let status = tg.wait(Duration::from_secs(40));
    let took = t0.elapsed();
    eprintln!("exit {:?} {took:?} after two SIGINTs", status.code());
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert_interrupted(
        &twice,
        status,
        "interrupted twice: stopped without grace; 57 trial(s) not sent",
    );
}

/// Trials in flight at the signal that answer within the grace are recorded (SIGTERM used to
/// lose them), and the run ends as soon as they have, not at the end of the grace.
#[test]
fn in_flight_answers_within_the_grace_are_recorded() {
    let d = tempfile::tempdir().unwrap();
    let script = d.path().join("late.yaml");
    std::fs::write(&script, "model: late\nttft_ms: 1500\n").unwrap();
    let (_mock, url) = mock(d.path(), Some(&script), &[]);
    let cfg = config(d.path(), &url, "late");
    let run = d.path().join("run");
    let mut tg = spawn_run(d.path(), &cfg, &run);
    wait_until_sending(&run);
    let before = newlines(&run.join("responses.jsonl"));
    let t0 = Instant::now();
    tg.signal(Signal::SIGTERM);
    let status = tg.wait(Duration::from_secs(30));
    let took = t0.elapsed();
    eprintln!("exit {:?} {took:?} after SIGTERM", status.code());
    assert!(took < GRACE + Duration::from_secs(1), "took {took:?}");
    let recs = assert_interrupted(&run, status, "interrupted (SIGTERM)");
    assert!(
        recs.len() > before,
        "the answers in flight at the signal were kept ({before} before, {} after)",
        recs.len()
    );
    assert!(
        recs.iter().all(|r| r["error"].is_null()),
        "no trial cut off"
    );
    let reasons = manifest(&run)["incomplete_reasons"].to_string();
    assert!(
        reasons.contains(&format!("{} trial(s) not sent", 57 - recs.len())),
        "{reasons}"
    );
}

/// Fast answers recorded before the interrupt stay; the slow trials in flight are dropped
/// when the grace ends and counted as not sent.
#[test]
fn answered_trials_are_kept_when_the_slow_ones_are_dropped() {
    let d = tempfile::tempdir().unwrap();
    // 7 of the 57 cases (kn-*, cs-*, the last in the file) take 30 s; the rest answer at once.
    let script = d.path().join("mixed.yaml");
    std::fs::write(
        &script,
        "model: mixed\nrules:\n  - match: { case: [\"kn-*\", \"cs-*\"] }\n    \
         fault: slow_first_byte\n    ms: 30000\n",
    )
    .unwrap();
    let (_mock, url) = mock(d.path(), Some(&script), &[]);
    let cfg = config(d.path(), &url, "mixed");
    let run = d.path().join("run");
    let mut tg = spawn_run(d.path(), &cfg, &run);
    let t0 = Instant::now();
    while newlines(&run.join("responses.jsonl")) < 50 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "only {} fast answers recorded",
            newlines(&run.join("responses.jsonl"))
        );
        assert!(tg.alive(), "toolgate ended early: {}", tg.stderr());
        std::thread::sleep(Duration::from_millis(10));
    }
    // Let the dispatcher fill every slot with a slow trial (3 more wait for one).
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    tg.signal(Signal::SIGINT);
    let status = tg.wait(Duration::from_secs(40));
    let took = t0.elapsed();
    eprintln!("exit {:?} {took:?} after SIGINT", status.code());
    assert!(took < GRACE + Duration::from_secs(2), "took {took:?}");
    let recs = assert_interrupted(&run, status, "interrupted (SIGINT): 7 trial(s) not sent");
    assert_eq!(recs.len(), 50, "every fast answer kept");
    for r in &recs {
        let case = r["key"]["case"].as_str().unwrap();
        assert!(
            !case.starts_with("kn-") && !case.starts_with("cs-"),
            "{case} had no answer yet"
        );
        assert!(r["error"].is_null(), "{r}");
    }
    let (grades, _) = jsonl(&run.join("grades.jsonl"));
    assert_eq!(grades.len(), 50, "the kept answers are graded");
}

/// responses.jsonl cannot grow past 64 KiB (RLIMIT_FSIZE, SIGXFSZ ignored so the write
/// fails with EFBIG instead of killing toolgate): the run stops at once, exit 3, with the
/// path and the OS error, and what was written stays whole.
#[test]
fn a_write_failure_stops_the_run_at_once() {
    let d = tempfile::tempdir().unwrap();
    // The mock dies (exit 99) when request 301 arrives: still alive afterwards proves
    // toolgate did not keep sending after the failure (3,450 trials are planned).
    let (mut mock, url) = mock(
        d.path(),
        None,
        &["--exit-after", "300", "--exit-code", "99"],
    );
    let run = d.path().join("run");
    // The limit and the ignored signal are set by a shell that then execs toolgate: both
    // survive exec, and the workspace forbids the `unsafe` a `pre_exec` would need.
    let t0 = Instant::now();
    let child = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 128; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_toolgate"))
        .args(["run", "--quiet", "--target", &url])
        .args([
            "--model",
            "sim-strong",
            "--profile",
            "vllm",
            "--repeat",
            "50",
        ])
        .arg("--suite")
        .arg(common::root().join("cases/tool-routing"))
        .arg("--out")
        .arg(&run)
        .current_dir(d.path())
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh starts");
    let mut tg = Proc {
        child,
        _stdout: None,
    };
    let status = tg.wait(Duration::from_secs(60));
    let took = t0.elapsed();
    let stderr = tg.stderr();
    eprintln!("exit {:?} after {took:?}\n{stderr}", status.code());
    assert_eq!(status.code(), Some(3), "{stderr}");
    let path = run.join("responses.jsonl");
    assert!(
        stderr.contains(&format!("cannot write {}: ", path.display()))
            && stderr.contains("os error 27"),
        "the path and the OS error (EFBIG): {stderr}"
    );
    assert!(mock.alive(), "toolgate kept sending after the write failed");
    let (recs, torn) = jsonl(&path);
    // The recorder cuts a partly written line back; a torn tail would still be readable.
    assert!(!torn, "a torn last line was left");
    assert!(
        !recs.is_empty() && recs.len() < 200,
        "{} recorded",
        recs.len()
    );
    assert!(std::fs::metadata(&path).unwrap().len() <= 64 * 1024);
    let m = manifest(&run);
    assert_eq!(m["complete"], false, "{m}");
    assert!(
        m["incomplete_reasons"].to_string().contains("cannot write"),
        "{m}"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

/// Kills the managed server's process group recorded in `run`'s manifest when dropped, so a
/// failed assertion leaves no server behind (it runs in a group of its own).
struct ServerGroup(PathBuf);

impl Drop for ServerGroup {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.0.join("manifest.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|m| m["targets"][0]["server"]["pid"].as_i64());
        if let Some(pid) = pid {
            let _ = nix::sys::signal::killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
}

/// A managed server that ignores its stop signal (grace 20 s): a second SIGINT does not wait
/// for it, nor for `after` probes — it is killed and the run ends at once.
#[test]
fn a_second_signal_does_not_wait_for_a_managed_server() {
    let d = tempfile::tempdir().unwrap();
    let script = d.path().join("slow.yaml");
    std::fs::write(&script, SLOW).unwrap();
    let cfg = d.path().join("toolgate.toml");
    std::fs::write(
        &cfg,
        format!(
            "[defaults]\ninterrupt_grace_s = {}\n\n[targets.m]\n\
             start = '''sh -c 'trap \"\" TERM; exec {} mock --port {{port}} --script {} --cases {}' '''\n\
             model = \"slow\"\nprofile = \"vllm\"\nconcurrency = 4\n\
             stop = {{ signal = \"TERM\", grace_s = 20 }}\n\
             probes = [{{ name = \"slow\", command = \"sleep 5\", timeout_s = 10 }}]\n",
            GRACE.as_secs(),
            env!("CARGO_BIN_EXE_toolgate"),
            script.display(),
            common::root().join("cases/tool-routing").display()
        ),
    )
    .unwrap();
    let run = d.path().join("run");
    let _group = ServerGroup(run.clone());
    let mut tg = spawn_run(d.path(), &cfg, &run);
    let t0 = Instant::now();
    while !std::fs::read_to_string(run.join("server.log"))
        .unwrap_or_default()
        .contains("serving on")
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the server never came up"
        );
        assert!(tg.alive(), "toolgate ended early: {}", tg.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    // The `before` probe takes 5 s; then trials are sent.
    std::thread::sleep(Duration::from_millis(5800));
    let t0 = Instant::now();
    tg.signal(Signal::SIGINT);
    std::thread::sleep(Duration::from_millis(100));
    tg.signal(Signal::SIGINT);
    let status = tg.wait(Duration::from_secs(60));
    let took = t0.elapsed();
    eprintln!(
        "exit {:?} {took:?} after two SIGINTs (managed)",
        status.code()
    );
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert_interrupted(&run, status, "interrupted twice: stopped without grace");
    let m = manifest(&run);
    let s = &m["targets"][0]["server"];
    assert_eq!(s["stop"]["graceful"], false, "killed, not waited for: {s}");
    let pid = s["pid"].as_i64().expect("server pid") as i32;
    let t0 = Instant::now();
    while kill(Pid::from_raw(pid), None).is_ok() {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "server {pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
