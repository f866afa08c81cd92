//! What the binary's integration tests share: the repository root and the built `toolgate`,
//! started without a `GITHUB_STEP_SUMMARY` inherited from a CI job (the gate would write to it).
#![allow(dead_code)] // each test file uses the helpers it needs

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `toolgate`, ready to run in `cwd`.
pub fn command_in(cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_toolgate"));
    c.current_dir(cwd).env_remove("GITHUB_STEP_SUMMARY");
    c
}

/// `toolgate`, ready to run at the repository root.
pub fn command() -> Command {
    command_in(&root())
}

/// `toolgate ARGS` run in `cwd`.
pub fn run_in(cwd: &Path, args: &[&str]) -> Output {
    command_in(cwd).args(args).output().expect("toolgate runs")
}

/// `toolgate ARGS` run at the repository root.
pub fn run(args: &[&str]) -> Output {
    run_in(&root(), args)
}

/// `toolgate run --quiet ARGS --out OUT` at the repository root, which must complete (exit 0;
/// its stderr is the failure message). Returns OUT.
pub fn run_into(out: &Path, args: &[&str]) -> PathBuf {
    let mut all = vec!["run", "--quiet"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", out.to_str().expect("utf-8 path")]);
    let o = run(&all);
    assert_eq!(
        o.status.code(),
        Some(0),
        "toolgate {}: {}",
        all.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    out.to_path_buf()
}

/// `toolgate mock --port 0 ARGS`, started at the repository root and killed by its own PID
/// when dropped, even when an assertion fails.
pub struct Mock {
    child: std::process::Child,
    /// The base URL the mock printed.
    pub url: String,
}

impl Mock {
    pub fn start(args: &[&str]) -> Mock {
        Mock::start_with_env(args, &[])
    }

    /// [`Mock::start`] with extra environment variables (e.g. the key for `--api-key-env`).
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Mock {
        use std::io::{BufRead, BufReader};
        let mut child = command()
            .args(["mock", "--port", "0"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("toolgate mock starts");
        let mut url = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut url)
            .expect("toolgate mock prints its URL");
        Mock {
            child,
            url: url.trim().to_string(),
        }
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
