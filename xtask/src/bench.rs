//! `cargo xtask bench`: toolgate's own overhead, as ratios against targets (issue 9 B),
//! measured in one run on release builds, on the simulator over loopback.
//!
//! 1. client overhead — toolgate trials/s vs a raw load generator (`oha`, installed into
//!    `target/bench-tools`) on the same endpoint with the same body, with the client and the
//!    simulator pinned to separate cores (the headline, as in real use) and then to one
//!    shared core (reported: it prices toolgate's CPU work per trial);
//! 2. concurrency efficiency — 1,000 trials of 100 ms TTFT + 20 × 5 ms chunks at
//!    concurrency 32, wall time vs trials × latency / concurrency;
//! 3. re-grade throughput — `toolgate grade` on a 100,000-trial run;
//! 4. peak RSS of that 100,000-trial run and of its re-grade (`/usr/bin/time`);
//! 5. startup — `toolgate validate cases/` and `toolgate --help`;
//! 6. history — the first `history --reindex` of 1,000 run folders and a warm `history`.
//!
//! `cargo xtask bench --transports [ROUNDS]` runs only the client-overhead rows on separate
//! cores, A/B between toolgate's own HTTP/1.1 pool and hyper_util's pooled client
//! ([`transports`]); `cargo xtask bench --against OTHER [ROUNDS]` runs them and the re-grade
//! A/B between this build and another toolgate binary ([`against`]).
//!
//! Nothing here is asserted by a timed test; the figures go to the terminal and to
//! `target/bench/results.md` (copied into BENCHMARKS.md by hand, with the machine).
//! Every server is the simulator on 127.0.0.1, started here and stopped by its PID; every
//! loop is bounded in count and time.

use anyhow::{anyhow, bail, Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MODEL: &str = "bench";

/// Sizes, overridable for a quick look (`TOOLGATE_BENCH_SCALE=0.1`); the figures use 1.
fn scaled(n: u64) -> u64 {
    let s: f64 = std::env::var("TOOLGATE_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|s: &f64| *s > 0.0 && *s <= 1.0)
        .unwrap_or(1.0);
    ((n as f64 * s).round() as u64).max(32)
}

struct Row {
    name: String,
    value: String,
    target: String,
    /// value / target, oriented so that ≥ 1 meets the target.
    ratio: Option<f64>,
    note: String,
}

/// The simulator, started as `toolgate mock`; killed by its own PID on drop.
struct Mock {
    child: Child,
    url: String,
}

/// `prog`, pinned to one CPU with `taskset` when `cpu` is set (taskset execs it, so the PID
/// and the peak RSS are the program's own).
fn on_cpu(cpu: Option<usize>, prog: &Path) -> Command {
    match cpu {
        Some(c) => {
            let mut cmd = Command::new("taskset");
            cmd.arg("-c").arg(c.to_string()).arg(prog);
            cmd
        }
        None => Command::new(prog),
    }
}

/// Whether client and server can be put on cores of our choosing: two CPUs and `taskset`.
fn can_pin() -> bool {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    cpus >= 2
        && Command::new("taskset")
            .args(["-c", "0", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

impl Mock {
    fn start(tg: &Path, script: &Path, cases: &Path) -> Result<Mock> {
        Self::start_on(tg, script, cases, None)
    }

    fn start_on(tg: &Path, script: &Path, cases: &Path, cpu: Option<usize>) -> Result<Mock> {
        let mut child = on_cpu(cpu, tg)
            .args(["mock", "--port", "0", "--script"])
            .arg(script)
            .arg("--cases")
            .arg(cases)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start toolgate mock")?;
        let out = child.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line)?;
        let url = line.trim().to_string();
        if !url.starts_with("http://127.0.0.1:") {
            let _ = child.kill();
            bail!("toolgate mock printed `{url}`, expected its loopback URL");
        }
        Ok(Mock { child, url })
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One command, timed, with its peak RSS (KiB) and CPU time from `/usr/bin/time` when
/// available.
struct Measured {
    wall: Duration,
    rss_kib: Option<u64>,
    /// User + system CPU seconds of the whole command (`/usr/bin/time %U %S`): steadier
    /// than wall time on a shared machine, as it leaves out the waiting.
    cpu_s: Option<f64>,
}

fn measure(dir: &Path, prog: &Path, args: &[&str]) -> Result<Measured> {
    measure_on(dir, None, prog, args)
}

fn measure_on(dir: &Path, cpu: Option<usize>, prog: &Path, args: &[&str]) -> Result<Measured> {
    measure_with(dir, cpu, None, prog, args)
}

/// [`measure_on`] with `TOOLGATE_HTTP` set to `http` for the command (the transport under
/// test), or as inherited when `None`.
fn measure_with(
    dir: &Path,
    cpu: Option<usize>,
    http: Option<&str>,
    prog: &Path,
    args: &[&str],
) -> Result<Measured> {
    let rss_file = dir.join("time.out");
    let _ = std::fs::remove_file(&rss_file);
    let gnu_time = Path::new("/usr/bin/time").exists();
    let mut cmd = if gnu_time {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-f").arg("%M %U %S").arg("-o").arg(&rss_file);
        if let Some(cpu) = cpu {
            c.arg("taskset").arg("-c").arg(cpu.to_string());
        }
        c.arg(prog);
        c
    } else {
        on_cpu(cpu, prog)
    };
    cmd.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
    if let Some(h) = http {
        cmd.env("TOOLGATE_HTTP", h);
    }
    let t0 = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {}", prog.display()))?;
    let wall = t0.elapsed();
    // toolgate exits 3 for an incomplete run: a benchmark of an incomplete run is no figure.
    if !out.status.success() {
        bail!(
            "{} {} failed ({}): {}",
            prog.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    // The last line is ours: "%M %U %S" (a command killed by a signal gets a line before it).
    let last = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|s| s.lines().last().map(str::to_string))
        .unwrap_or_default();
    let f: Vec<&str> = last.split_whitespace().collect();
    let rss_kib = f.first().and_then(|v| v.parse().ok());
    let cpu_s = match (f.get(1), f.get(2)) {
        (Some(u), Some(s)) => u
            .parse::<f64>()
            .ok()
            .zip(s.parse::<f64>().ok())
            .map(|(u, s)| u + s),
        _ => None,
    };
    Ok(Measured {
        wall,
        rss_kib,
        cpu_s,
    })
}

/// Catches the exact body toolgate sends (one POST to /chat/completions) with a loopback
/// listener that answers everything else 404. Bounded: 16 connections or 30 s.
fn capture_body(tg: &Path, bench: &Path, no_stream: bool) -> Result<Vec<u8>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    listener.set_nonblocking(true)?;
    let url = format!("http://127.0.0.1:{port}/v1");
    let out = bench.join("capture-run");
    let _ = std::fs::remove_dir_all(&out);
    let mut args: Vec<String> = vec![
        "run".into(),
        "--target".into(),
        url,
        "--model".into(),
        MODEL.into(),
        "--profile".into(),
        "vllm".into(),
        "--suite".into(),
        bench.join("cases/bench.yaml").display().to_string(),
        "--quiet".into(),
        "--out".into(),
        out.display().to_string(),
    ];
    if no_stream {
        args.push("--no-stream".into());
    }
    let mut child = Command::new(tg)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut body = None;
    let mut conns = 0;
    while body.is_none() && conns < 16 && Instant::now() < deadline {
        let (mut s, _) = match listener.accept() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        conns += 1;
        s.set_nonblocking(false)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        // Read the head, then Content-Length bytes of body.
        let (head_end, len) = loop {
            let n = s.read(&mut chunk)?;
            if n == 0 {
                break (None, 0);
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                break (Some(i + 4), len);
            }
            if buf.len() > 1 << 20 {
                break (None, 0);
            }
        };
        let Some(h) = head_end else { continue };
        while buf.len() < h + len {
            let n = s.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let is_chat = buf.starts_with(b"POST ")
            && String::from_utf8_lossy(&buf[..h]).contains("/chat/completions");
        if is_chat {
            body = Some(buf[h..h + len.min(buf.len() - h)].to_vec());
        }
        let _ = s
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    }
    let _ = child.kill();
    let _ = child.wait();
    body.ok_or_else(|| anyhow!("no chat request captured from toolgate"))
}

/// The body toolgate sends, streamed and not, as `oha` will replay it.
fn capture_bodies(tg: &Path, bench: &Path) -> Result<()> {
    for no_stream in [true, false] {
        let body = capture_body(tg, bench, no_stream)?;
        std::fs::write(bench.join(body_file(no_stream)), &body)?;
    }
    Ok(())
}

fn body_file(no_stream: bool) -> &'static str {
    if no_stream {
        "body-nostream.json"
    } else {
        "body-stream.json"
    }
}

fn run_args<'a>(
    url: &'a str,
    suite: &'a str,
    repeat: &'a str,
    conc: &'a str,
    out: &'a str,
    no_stream: bool,
) -> Vec<&'a str> {
    let mut a = vec![
        "run",
        "--target",
        url,
        "--model",
        MODEL,
        "--profile",
        "vllm",
        "--suite",
        suite,
        "--repeat",
        repeat,
        "--concurrency",
        conc,
        "--quiet",
        "--out",
        out,
    ];
    if no_stream {
        a.push("--no-stream");
    }
    a
}

/// The first latency group (`by_variant[0]`) of the run's report.json.
fn latency_group(run: &Path) -> Option<serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).ok()?).ok()?;
    v["latency"]["by_variant"].get(0).cloned()
}

/// The send window (first trial start → last trial end) from the run's report.json.
fn send_window_s(run: &Path) -> Option<f64> {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report.json")).ok()?).ok()?;
    v["latency"]["throughput"].get(0)?["window_s"].as_f64()
}

fn oha(
    oha: &Path,
    cpu: Option<usize>,
    url: &str,
    body: &Path,
    n: u64,
    c: u64,
    out_dir: &Path,
) -> Result<(f64, f64)> {
    let out = on_cpu(cpu, oha)
        .args(["-n", &n.to_string(), "-c", &c.to_string(), "-m", "POST"])
        .args(["-H", "content-type: application/json", "-D"])
        .arg(body)
        .args(["--no-tui", "--output-format", "json"])
        .arg(format!("{url}/chat/completions"))
        .output()
        .context("cannot run oha")?;
    std::fs::write(out_dir.join(format!("oha-{n}-{c}.json")), &out.stdout)?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| anyhow!("oha output is not JSON ({e}); status {}", out.status))?;
    let rps = v["summary"]["requestsPerSec"]
        .as_f64()
        .ok_or_else(|| anyhow!("oha JSON without summary.requestsPerSec"))?;
    let ok = v["summary"]["successRate"].as_f64().unwrap_or(0.0);
    Ok((rps, ok))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// "median (every value in order)", each with `digits` decimals: a table cell of the A/B.
fn median_all(v: &[f64], digits: usize) -> String {
    let all: Vec<String> = v.iter().map(|x| format!("{x:.digits$}")).collect();
    format!("{:.digits$} ({})", median(v.to_vec()), all.join(" / "))
}

fn install_oha(root: &Path) -> Option<PathBuf> {
    let dir = root.join("target/bench-tools");
    let bin = dir.join("bin/oha");
    if bin.exists() {
        return Some(bin);
    }
    eprintln!("bench: installing oha into {} (once)", dir.display());
    let ok = Command::new("cargo")
        .args(["install", "oha", "--locked", "--root"])
        .arg(&dir)
        .status()
        .is_ok_and(|s| s.success());
    (ok && bin.exists()).then_some(bin)
}

/// What every part of the bench shares: the release binary, the scratch folder, the case
/// and the simulator scripts.
struct Setup {
    tg: PathBuf,
    bench: PathBuf,
    cases: PathBuf,
    suite: String,
    zero: PathBuf,
    paced: PathBuf,
    precise: PathBuf,
}

fn setup(root: &Path) -> Result<Setup> {
    eprintln!("bench: building release binaries");
    let ok = Command::new("cargo")
        .args(["build", "--release", "-q", "-p", "toolgate"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        bail!("cargo build --release -p toolgate failed");
    }
    let tg = root.join("target/release/toolgate");
    let bench = root.join("target/bench");
    let _ = std::fs::remove_dir_all(&bench);
    std::fs::create_dir_all(bench.join("cases"))?;
    std::fs::create_dir_all(bench.join("runs"))?;
    let tools = root.join("golden/tools/voice-3tool.json");
    std::fs::write(
        bench.join("cases/bench.yaml"),
        format!(
            "suite: bench\nkind: tool_call\ndescription: One tool-routing case, repeated, for cargo xtask bench.\ntools: {}\ncases:\n  - id: entity-arun\n    messages:\n      - {{ role: system, content: \"You are a voice assistant. Route each request to one of the tools.\" }}\n      - {{ role: user, content: \"Tell me about Arun\" }}\n    expect: {{ calls: [ {{ name: get_entity_details, args: {{ name: {{ equals_ci: Arun }} }} }} ] }}\n",
            tools.display()
        ),
    )?;
    let zero = bench.join("zero.yaml");
    std::fs::write(
        &zero,
        format!("model: {MODEL}\nttft_ms: 0\nchunk_delay_ms: 0\nchunk_chars: 16\n"),
    )?;
    // 21 one-character chunks: the first after 100 ms, then 20 × 5 ms = 200 ms per trial.
    let paced = bench.join("paced.yaml");
    std::fs::write(
        &paced,
        format!("model: {MODEL}\nttft_ms: 100\nchunk_delay_ms: 5\nchunk_chars: 1\nrules:\n  - reply: {{ content: \"abcdefghijklmnopqrstu\" }}\n"),
    )?;
    // The same pacing with delays hit to the microsecond, to measure toolgate's timing error.
    let precise = bench.join("precise.yaml");
    std::fs::write(
        &precise,
        format!("model: {MODEL}\nttft_ms: 100\nchunk_delay_ms: 5\nchunk_chars: 1\nprecise_timing: true\nrules:\n  - reply: {{ content: \"abcdefghijklmnopqrstu\" }}\n"),
    )?;
    let cases = bench.join("cases");
    let suite = bench.join("cases/bench.yaml").display().to_string();
    Ok(Setup {
        tg,
        bench,
        cases,
        suite,
        zero,
        paced,
        precise,
    })
}

pub fn bench(root: &Path) -> Result<bool> {
    let Setup {
        tg,
        bench,
        cases,
        suite,
        zero,
        paced,
        precise,
    } = setup(root)?;
    let mut rows: Vec<Row> = Vec::new();

    // 1. Client overhead. At concurrency 1 on a 2-core machine the kernel sometimes puts
    // the client and the simulator on one core and sometimes on two, and the two cases
    // differ by 2–3× for a raw load generator: an unpinned ratio measures mostly where the
    // scheduler put oha. So each is pinned: the client on CPU 0, the simulator on CPU 1
    // (as in real use, where the server is not on the client's cores), then both on CPU 0,
    // which prices the client's own CPU work per trial against oha's (reported, no target).
    let oha_bin = install_oha(root);
    let n1 = scaled(5_000);
    let placements: Vec<(Option<usize>, Option<usize>, &str)> = if can_pin() {
        vec![
            (Some(0), Some(1), "separate cores"),
            (Some(0), Some(0), "one shared core"),
        ]
    } else {
        vec![(
            None,
            None,
            "placement not controlled (no taskset or one CPU)",
        )]
    };
    capture_bodies(&tg, &bench)?;
    for (client_cpu, server_cpu, place) in &placements {
        let headline = client_cpu != server_cpu;
        let mock = Mock::start_on(&tg, &zero, &cases, *server_cpu)?;
        for no_stream in [true, false] {
            let body_path = bench.join(body_file(no_stream));
            for c in [1u64, 32] {
                let out = bench.join(format!(
                    "runs/overhead-{}-c{c}",
                    if no_stream { "nostream" } else { "stream" }
                ));
                let (rep, cs, os) = (n1.to_string(), c.to_string(), out.display().to_string());
                let label = format!(
                    "client overhead, {}, c={c}, {place}",
                    if no_stream {
                        "non-streaming"
                    } else {
                        "streaming"
                    }
                );
                let target = if headline || client_cpu.is_none() {
                    "≥ 0.9× oha"
                } else {
                    "reported (no target)"
                };
                let args = run_args(&mock.url, &suite, &rep, &cs, &os, no_stream);
                let Some(o) = &oha_bin else {
                    let m = measure_on(&bench, *client_cpu, &tg, &args)?;
                    rows.push(Row {
                        name: label,
                        value: format!("{:.0} trials/s", n1 as f64 / m.wall.as_secs_f64()),
                        target: target.into(),
                        ratio: None,
                        note: "oha could not be installed: no raw baseline".into(),
                    });
                    continue;
                };
                // oha and toolgate take turns, three times: on a shared machine the load
                // moves between runs, and a ratio of neighbours is steadier than one pair.
                let mut pairs = Vec::new();
                for _ in 0..3 {
                    let (raw, ok) = oha(o, *client_cpu, &mock.url, &body_path, n1, c, &bench)?;
                    let _ = std::fs::remove_dir_all(&out);
                    let m = measure_on(&bench, *client_cpu, &tg, &args)?;
                    let send = send_window_s(&out).map_or(f64::NAN, |w| n1 as f64 / w);
                    let whole = n1 as f64 / m.wall.as_secs_f64();
                    pairs.push((send / raw, raw, send, whole, ok));
                }
                pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
                let (ratio, raw, send, whole, ok) = pairs[1];
                let where_ = match (client_cpu, server_cpu) {
                    (Some(c), Some(s)) => format!("client on CPU {c}, simulator on CPU {s}; "),
                    _ => String::new(),
                };
                rows.push(Row {
                    name: label,
                    value: format!("{send:.0} trials/s vs oha {raw:.0} req/s"),
                    target: target.into(),
                    ratio: (target != "reported (no target)").then_some(ratio / 0.9),
                    note: format!(
                        "{where_}{n1} trials, send phase (first request → last response recorded) = {ratio:.2}× oha, median of 3 alternating pairs (all: {}); whole command incl. loading, grading and 5 reports {whole:.0} trials/s = {:.2}×; oha success {:.1}%",
                        pairs.iter().map(|p| format!("{:.2}", p.0)).collect::<Vec<_>>().join(" / "),
                        whole / raw,
                        ok * 100.0
                    ),
                });
            }
        }
    }

    // 1b. Accuracy of the latency measurement itself: one stream at a time against the
    // simulator's injected 100 ms TTFT and 20 × 5 ms chunks (21 one-token chunks).
    let n_acc = scaled(50).min(50);
    {
        let mock = Mock::start(&tg, &precise, &cases)?;
        let out = bench.join("runs/accuracy");
        let (rep, os) = (n_acc.to_string(), out.display().to_string());
        measure(
            &bench,
            &tg,
            &run_args(&mock.url, &suite, &rep, "1", &os, false),
        )?;
        let lat = latency_group(&out);
        let ttft = lat.as_ref().and_then(|l| l["ttft_ms"]["p50"].as_f64());
        let decode = lat.as_ref().and_then(|l| l["decode_tps"]["p50"].as_f64());
        let ttft_err = ttft.map(|t| t - 100.0);
        rows.push(Row {
            name: "latency accuracy, TTFT p50".into(),
            value: ttft.map_or("–".into(), |t| format!("{t:.2} ms for 100 ms injected ({:+.2} ms)", t - 100.0)),
            target: "within 1 ms".into(),
            ratio: ttft_err.map(|e| 1.0 / e.abs().max(1e-3)),
            note: format!("{n_acc} streaming trials at concurrency 1, simulator `ttft_ms: 100` with `precise_timing` (delays end within µs of due); the error includes loopback and the simulator reading the request"),
        });
        // 20 inter-token gaps of 5 ms after the first token: 200 tok/s.
        let decode_err = decode.map(|d| (d - 200.0) / 200.0 * 100.0);
        rows.push(Row {
            name: "latency accuracy, decode tok/s p50".into(),
            value: decode.map_or("–".into(), |d| format!("{d:.1} tok/s for 200 injected ({:+.2}%)", (d - 200.0) / 2.0)),
            target: "within 2%".into(),
            ratio: decode_err.map(|e| 2.0 / e.abs().max(1e-3)),
            note: "same trials; decode = (completion tokens − 1) / (last token − first token), 20 gaps × 5 ms".into(),
        });
    }

    // 2. Concurrency efficiency.
    let n2 = scaled(1_000);
    {
        let mock = Mock::start(&tg, &paced, &cases)?;
        let out = bench.join("runs/concurrency");
        let (rep, os) = (n2.to_string(), out.display().to_string());
        let m = measure(
            &bench,
            &tg,
            &run_args(&mock.url, &suite, &rep, "32", &os, false),
        )?;
        let ideal = n2 as f64 * 0.200 / 32.0;
        let send = send_window_s(&out).unwrap_or(f64::NAN);
        rows.push(Row {
            name: "concurrency efficiency, c=32".into(),
            value: format!("send {send:.2} s, command {:.2} s, ideal {ideal:.2} s", m.wall.as_secs_f64()),
            target: "≤ 1.05× ideal".into(),
            ratio: Some(1.05 * ideal / send),
            note: format!(
                "{n2} trials × (100 ms TTFT + 20 × 5 ms); send window = first trial start → last trial end; whole command {:.3}× ideal",
                m.wall.as_secs_f64() / ideal
            ),
        });
    }

    // 3 + 4. A 100,000-trial run, then its re-grade: throughput and peak RSS.
    let n3 = scaled(100_000);
    {
        let mock = Mock::start(&tg, &zero, &cases)?;
        let out = bench.join("runs/big");
        let (rep, os) = (n3.to_string(), out.display().to_string());
        let m = measure(
            &bench,
            &tg,
            &run_args(&mock.url, &suite, &rep, "32", &os, false),
        )?;
        drop(mock);
        let g = measure(&bench, &tg, &["grade", &os])?;
        let rate = n3 as f64 / g.wall.as_secs_f64();
        rows.push(Row {
            name: "re-grade throughput".into(),
            value: format!("{rate:.0} trials/s ({:.2} s)", g.wall.as_secs_f64()),
            target: "≥ 100,000 trials/s".into(),
            ratio: Some(rate / 100_000.0),
            note: format!(
                "`toolgate grade` on {n3} recorded trials: read, parse, schema-validate, grade, write grades + 5 reports + latency.csv"
            ),
        });
        for (what, mm) in [("run", &m), ("re-grade", &g)] {
            let mb = mm.rss_kib.map(|k| k as f64 / 1024.0);
            rows.push(Row {
                name: format!("peak RSS, {n3}-trial {what}"),
                value: mb.map_or("–".into(), |v| format!("{v:.0} MiB")),
                target: "< 150 MB".into(),
                ratio: mb.map(|v| 150.0 / (v * 1.048_576)),
                note: format!("/usr/bin/time %M; wall {:.1} s", mm.wall.as_secs_f64()),
            });
        }
    }

    // 5. Startup.
    for (name, args) in [
        ("startup, validate cases/", vec!["validate", "cases"]),
        ("startup, --help", vec!["--help"]),
    ] {
        let mut v = Vec::new();
        for _ in 0..21 {
            let t0 = Instant::now();
            let st = Command::new(&tg)
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?;
            if !st.success() {
                bail!("toolgate {} failed: {st}", args.join(" "));
            }
            v.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        let med = median(v);
        rows.push(Row {
            name: name.into(),
            value: format!("{med:.1} ms"),
            target: "reported (no target)".into(),
            ratio: None,
            note: "median of 21 runs, spawn to exit".into(),
        });
    }

    // 5b. A healthy target's TTFT beside a hostile one in the same run (issue 17): the
    // hostile server streams 100,000 `data:` lines with no blank line between them.
    rows.push(skew_row(&tg, &bench, &precise, &cases, &suite)?);

    // 6. The history index: 1,000 run folders, first --reindex and a warm `history`.
    rows.extend(history_rows(root, &tg, &bench)?);

    // SSE decoding throughput, normal and hostile (issue 17): linear in the bytes.
    for (name, bytes) in toolgate_client::sse::throughput_streams(100_000) {
        let mut v = Vec::new();
        for _ in 0..5 {
            let t0 = Instant::now();
            toolgate_client::sse::decode_in_reads(&bytes, 16 * 1024);
            v.push(t0.elapsed().as_secs_f64());
        }
        let s = median(v);
        rows.push(Row {
            name: format!("SSE decode: {name}"),
            value: format!("{:.0} MB/s", bytes.len() as f64 / s / 1e6),
            target: "reported (no target)".into(),
            ratio: None,
            note: format!("{} bytes in 16 KiB reads, median of 5", bytes.len()),
        });
    }

    let mut md = String::from(
        "| measurement | value | target | ratio to target (≥ 1 meets it) | notes |\n|---|---|---|---:|---|\n",
    );
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.name,
            r.value,
            r.target,
            r.ratio.map_or("–".into(), |x| format!("{x:.2}")),
            r.note
        ));
    }
    std::fs::write(bench.join("results.md"), &md)?;
    println!("{md}");
    println!("written to {}", bench.join("results.md").display());
    Ok(true)
}

/// One side of an A/B: the name shown, the binary, and `TOOLGATE_HTTP` for it (inherited
/// when `None`).
struct Contender {
    name: String,
    prog: PathBuf,
    http: Option<&'static str>,
}

/// `cargo xtask bench --transports [ROUNDS]`: the client-overhead rows on separate cores
/// only, with plain http through toolgate's own pool (`TOOLGATE_HTTP=lean`) and through
/// hyper_util's pooled client (`TOOLGATE_HTTP=hyper-util`), A/B in the same run ([`ab`]);
/// the table goes to `target/bench/transports.md`.
pub fn transports(root: &Path, rounds: usize) -> Result<bool> {
    let setup = setup(root)?;
    let contenders = [
        Contender {
            name: "custom pool".into(),
            prog: setup.tg.clone(),
            http: Some("lean"),
        },
        Contender {
            name: "hyper_util".into(),
            prog: setup.tg.clone(),
            http: Some("hyper-util"),
        },
    ];
    let n1 = scaled(5_000);
    ab(
        root,
        &setup,
        &contenders,
        n1,
        rounds,
        false,
        "transports.md",
    )
}

/// `cargo xtask bench --against OTHER [ROUNDS]`: this build against another toolgate binary
/// (say, a release build of an earlier commit), A/B in the same run on the client-overhead
/// rows on separate cores and on the re-grade of a 100,000-trial run ([`ab`]); the table goes
/// to `target/bench/against.md`. The only fair way to say "no worse" on a shared machine,
/// where two full benches hours apart differ by more than any change.
pub fn against(root: &Path, other: &Path, rounds: usize) -> Result<bool> {
    let other = std::fs::canonicalize(other)
        .with_context(|| format!("cannot find the binary {}", other.display()))?;
    let setup = setup(root)?;
    let contenders = [
        Contender {
            name: other.display().to_string(),
            prog: other,
            http: None,
        },
        Contender {
            name: "this build".into(),
            prog: setup.tg.clone(),
            http: None,
        },
    ];
    // Four times the bench's 5,000: a c=1 send phase of 5,000 trials lasts about half a
    // second, short enough for one scheduler hiccup to move it by 20%.
    let n1 = scaled(20_000);
    ab(root, &setup, &contenders, n1, rounds, true, "against.md")
}

/// The client-overhead rows (and, with `regrade`, the re-grade row) for two contenders in
/// the same run. Each client round is oha, both contenders (their order swapped every
/// round), oha again; each send phase is divided by the mean of the round's two oha rates,
/// and B's send rate by A's of the same round; B's CPU time (user + system, the whole
/// command) is divided by A's of the same round too. Re-grade rounds alternate the two binaries on
/// a 100,000-trial folder each wrote itself (so neither reads a format it never knew).
/// Medians and every value go to the terminal and to `target/bench/{file}`.
fn ab(
    root: &Path,
    setup: &Setup,
    cs: &[Contender; 2],
    n1: u64,
    rounds: usize,
    regrade: bool,
    file: &str,
) -> Result<bool> {
    let Setup {
        bench,
        cases,
        suite,
        zero,
        ..
    } = setup;
    let tg = &setup.tg;
    let oha_bin = install_oha(root).ok_or_else(|| anyhow!("oha could not be installed"))?;
    let (client_cpu, server_cpu, place) = if can_pin() {
        (Some(0), Some(1), "separate cores")
    } else {
        (
            None,
            None,
            "placement not controlled (no taskset or one CPU)",
        )
    };
    capture_bodies(tg, bench)?;
    let mock = Mock::start_on(tg, zero, cases, server_cpu)?;
    let (a, b) = (&cs[0].name, &cs[1].name);
    let mut md = format!(
        "A = {a}, B = {b}. {n1} trials per run, {rounds} rounds per row, client on CPU 0 and simulator on CPU 1 ({place}); send phase (first request → last response recorded) / oha; CPU = user + system time of the whole command (loading, sending, grading, reports)\n\n| row | A ÷ oha, median (all rounds) | B ÷ oha, median (all rounds) | B ÷ A same round, median (all) | B ÷ A CPU time, median (all) | oha req/s, median (min–max) |\n|---|---|---|---|---|---|\n"
    );
    for no_stream in [true, false] {
        let body_path = bench.join(body_file(no_stream));
        let kind = if no_stream {
            "non-streaming"
        } else {
            "streaming"
        };
        for c in [1u64, 32] {
            let out = bench.join(format!("runs/ab-{kind}-c{c}"));
            let (rep, cc, os) = (n1.to_string(), c.to_string(), out.display().to_string());
            let args = run_args(&mock.url, suite, &rep, &cc, &os, no_stream);
            let mut ratios: [Vec<f64>; 2] = Default::default();
            let mut ba = Vec::new();
            let mut cpu_ba = Vec::new();
            let mut raws = Vec::new();
            let mut oha_ok = 1.0f64;
            for round in 0..rounds {
                let (before, ok1) = oha(&oha_bin, client_cpu, &mock.url, &body_path, n1, c, bench)?;
                let mut send = [f64::NAN; 2];
                let mut cpu = [f64::NAN; 2];
                let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
                for i in order {
                    let _ = std::fs::remove_dir_all(&out);
                    let m = measure_with(bench, client_cpu, cs[i].http, &cs[i].prog, &args)?;
                    send[i] = send_window_s(&out).map_or(f64::NAN, |w| n1 as f64 / w);
                    cpu[i] = m.cpu_s.unwrap_or(f64::NAN);
                }
                cpu_ba.push(cpu[1] / cpu[0]);
                let (after, ok2) = oha(&oha_bin, client_cpu, &mock.url, &body_path, n1, c, bench)?;
                oha_ok = oha_ok.min(ok1).min(ok2);
                let raw = (before + after) / 2.0;
                raws.push(raw);
                for (r, s) in ratios.iter_mut().zip(send) {
                    r.push(s / raw);
                }
                ba.push(send[1] / send[0]);
                eprintln!(
                    "bench: {kind} c={c} round {}: oha {raw:.0} req/s, A {:.2}×, B {:.2}×",
                    round + 1,
                    send[0] / raw,
                    send[1] / raw
                );
            }
            let lo = raws.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = raws.iter().copied().fold(0.0, f64::max);
            md.push_str(&format!(
                "| {kind}, c={c} | {} | {} | {} | {} | {:.0} ({lo:.0}–{hi:.0}); success ≥ {:.1}% |\n",
                median_all(&ratios[0], 2),
                median_all(&ratios[1], 2),
                median_all(&ba, 2),
                median_all(&cpu_ba, 2),
                median(raws.clone()),
                oha_ok * 100.0
            ));
        }
    }
    if regrade {
        let n3 = scaled(100_000);
        let dirs = [bench.join("runs/ab-big-a"), bench.join("runs/ab-big-b")];
        for (c, d) in cs.iter().zip(&dirs) {
            let (rep, os) = (n3.to_string(), d.display().to_string());
            measure_with(
                bench,
                None,
                c.http,
                &c.prog,
                &run_args(&mock.url, suite, &rep, "32", &os, false),
            )?;
        }
        let mut rates: [Vec<f64>; 2] = Default::default();
        let mut rss: [Vec<f64>; 2] = Default::default();
        let mut ba = Vec::new();
        for round in 0..rounds {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            let mut rate = [f64::NAN; 2];
            for i in order {
                let d = dirs[i].display().to_string();
                let m = measure_with(bench, None, cs[i].http, &cs[i].prog, &["grade", &d])?;
                rate[i] = n3 as f64 / m.wall.as_secs_f64();
                rss[i].push(m.rss_kib.map_or(f64::NAN, |k| k as f64 / 1024.0));
            }
            for (r, x) in rates.iter_mut().zip(rate) {
                r.push(x);
            }
            ba.push(rate[1] / rate[0]);
            eprintln!(
                "bench: re-grade round {}: A {:.0} trials/s, B {:.0} trials/s",
                round + 1,
                rate[0],
                rate[1]
            );
        }
        md.push_str(&format!(
            "\nRe-grade of a {n3}-trial run (each binary grades the folder it wrote; trials/s, not a ratio to oha):\n\n| row | A trials/s, median (all) | B trials/s, median (all) | B ÷ A same round, median (all) | peak RSS MiB, A / B (median) |\n|---|---|---|---|---|\n| re-grade | {} | {} | {} | {:.0} / {:.0} |\n",
            median_all(&rates[0], 0),
            median_all(&rates[1], 0),
            median_all(&ba, 2),
            median(rss[0].clone()),
            median(rss[1].clone()),
        ));
    }
    drop(mock);
    std::fs::write(bench.join(file), &md)?;
    println!("{md}");
    println!("written to {}", bench.join(file).display());
    Ok(true)
}

/// Serves every chat request a 100,000-line SSE stream with no event separators (one
/// event of 100,000 `data:` lines, 9 MB), on a thread of its own, until the process ends.
fn hostile_stream_server() -> Result<String> {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/v1", l.local_addr()?);
    let line = "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n";
    let body = format!("{}\ndata: [DONE]\n\n", line.repeat(100_000));
    let reply: std::sync::Arc<[u8]> = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
    .into();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let reply = reply.clone();
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = vec![0u8; 64 * 1024];
                let mut seen = Vec::new();
                // Read the head and the body (small), then answer.
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen);
                    if let Some(h) = text.find("\r\n\r\n") {
                        let len = text[..h]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if seen.len() >= h + 4 + len {
                            break;
                        }
                    }
                }
                let _ = s.write_all(&reply);
            });
        }
    });
    Ok(url)
}

/// TTFT p50 of a paced simulator target run alone, then beside the hostile stream server
/// in one run: the ratio says how much one target's decoding work moves another's timing.
fn skew_row(tg: &Path, bench: &Path, paced: &Path, cases: &Path, suite: &str) -> Result<Row> {
    let mock = Mock::start(tg, paced, cases)?;
    let hostile = hostile_stream_server()?;
    let cfg = bench.join("skew.toml");
    std::fs::write(
        &cfg,
        format!(
            "[defaults]\nconcurrency = 4\n[targets.healthy]\nbase_url = \"{}\"\nmodel = \"{MODEL}\"\nprofile = \"vllm\"\n[targets.hostile]\nbase_url = \"{hostile}\"\nmodel = \"{MODEL}\"\nprofile = \"vllm\"\n",
            mock.url
        ),
    )?;
    let n = scaled(40).to_string();
    let ttft = |name: &str, targets: &[&str]| -> Result<f64> {
        let out = bench.join("runs").join(name);
        let mut args = vec!["run", "--config", cfg.to_str().unwrap_or_default()];
        for t in targets {
            args.extend(["--target", t]);
        }
        let os = out.display().to_string();
        args.extend([
            "--suite",
            suite,
            "--repeat",
            &n,
            "--quiet",
            "--no-model-check",
        ]);
        args.extend(["--out", &os]);
        measure(bench, tg, &args)?;
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("report.json"))?)?;
        v["latency"]["by_variant"]
            .as_array()
            .and_then(|gs| gs.iter().find(|g| g["target"] == "healthy"))
            .and_then(|g| g["ttft_ms"]["p50"].as_f64())
            .context("no TTFT p50 for the healthy target in report.json")
    };
    let alone = ttft("skew-alone", &["healthy"])?;
    let beside = ttft("skew-beside", &["healthy", "hostile"])?;
    Ok(Row {
        name: "TTFT of a healthy target beside a hostile one".into(),
        value: format!("p50 {beside:.1} ms beside, {alone:.1} ms alone"),
        target: "≤ 1.05× alone".into(),
        ratio: Some(1.05 * alone / beside),
        note: format!(
            "{n} trials per target at c=4; the hostile server streams 100,000 `data:` lines without separators (9 MB) per trial; each target sends from its own thread"
        ),
    })
}

/// A run folder of the main job's size: `reports/sim-strong` (146 trials) with every trial
/// twice (repeat 0 and 1), so 292 trials, as in the issue.
fn history_template(root: &Path, dir: &Path) -> Result<()> {
    let src = root.join("reports/sim-strong");
    std::fs::create_dir_all(dir)?;
    for f in ["responses.jsonl", "grades.jsonl"] {
        let text = std::fs::read_to_string(src.join(f))
            .with_context(|| format!("reading {}", src.join(f).display()))?;
        let mut out = String::with_capacity(text.len() * 2);
        for repeat in [0u32, 1] {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let mut v: serde_json::Value = serde_json::from_str(line)?;
                v["key"]["repeat"] = repeat.into();
                out.push_str(&serde_json::to_string(&v)?);
                out.push('\n');
            }
        }
        std::fs::write(dir.join(f), out)?;
    }
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("manifest.json"))?)?;
    m["repeats"] = 2.into();
    m["planned_trials"] = (m["planned_trials"].as_u64().unwrap_or(0) * 2).into();
    std::fs::write(dir.join("manifest.json"), serde_json::to_string_pretty(&m)?)?;
    Ok(())
}

/// Times `toolgate ARGS` in `cwd` (stdout discarded); fails on a non-zero exit.
fn timed(cwd: &Path, tg: &Path, args: &[&str]) -> Result<Duration> {
    let t0 = Instant::now();
    let out = Command::new(tg)
        .current_dir(cwd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    let wall = t0.elapsed();
    if !out.status.success() {
        bail!(
            "toolgate {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(wall)
}

fn history_rows(root: &Path, tg: &Path, bench: &Path) -> Result<Vec<Row>> {
    let n = scaled(1_000) as usize;
    let dir = bench.join("history");
    let template = dir.join("template");
    history_template(root, &template)?;
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(template.join("manifest.json"))?)?;
    let trials = std::fs::read_to_string(template.join("grades.jsonl"))?
        .lines()
        .count();
    for i in 0..n {
        let run = dir.join(format!("runs/run-{i:04}"));
        std::fs::create_dir_all(&run)?;
        for f in ["responses.jsonl", "grades.jsonl"] {
            std::fs::copy(template.join(f), run.join(f))?;
        }
        let mut m = manifest.clone();
        m["run_id"] = format!("run-{i:04}").into();
        // One run an hour from 2026-01-01 (1,000 hours end in February).
        let (day, hour) = (i / 24, i % 24);
        let (month, mday) = if day < 31 {
            (1, day + 1)
        } else {
            (2, day - 30)
        };
        m["started_at"] = format!("2026-{month:02}-{mday:02}T{hour:02}:00:00Z").into();
        std::fs::write(run.join("manifest.json"), serde_json::to_string_pretty(&m)?)?;
    }
    let reindex = timed(&dir, tg, &["history", "--reindex"])?;
    let mut warm = Vec::new();
    for _ in 0..11 {
        warm.push(timed(&dir, tg, &["history"])?.as_secs_f64() * 1000.0);
    }
    let warm = median(warm);
    Ok(vec![
        Row {
            name: format!("history, first --reindex of {n} run folders"),
            value: format!("{:.2} s", reindex.as_secs_f64()),
            target: "< 10 s".into(),
            ratio: Some(10.0 / reindex.as_secs_f64()),
            note: format!("{trials} trials per folder (reports/sim-strong, each trial twice); reads every manifest, responses and grades file, writes runs/index.sqlite, prints the table"),
        },
        Row {
            name: format!("history, warm ({n} folders indexed)"),
            value: format!("{warm:.1} ms"),
            target: "< 100 ms".into(),
            ratio: Some(100.0 / warm),
            note: "median of 11 runs, spawn to exit: stat every folder's files, query the index, pair cases for the Δ test, print the table".into(),
        },
    ])
}
