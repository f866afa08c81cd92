//! The operating-system side of a managed server: spawning a command in its own process
//! group, the guard that kills that group on every path, exit statuses in words, and the tail
//! of its log.
//!
//! Invariant: toolgate only ever signals process groups it created itself (the group id is the
//! pid of a child it spawned with `process_group(0)`), and every such group is signalled before
//! the run returns — on the normal path by the handle's stop, on error paths and when the
//! runtime drops a task by [`GroupGuard`]'s `Drop`.

use rustix::process::{kill_process_group, test_kill_process_group, Pid, Signal};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// Kills a process group when dropped, unless disarmed: the last line of defence so that an
/// error path, a panic or a dropped runtime never leaves a server running.
pub(crate) struct GroupGuard {
    pgid: Option<Pid>,
}

impl GroupGuard {
    pub(crate) fn of(child: &tokio::process::Child) -> GroupGuard {
        GroupGuard {
            pgid: child.id().and_then(|p| Pid::from_raw(p as i32)),
        }
    }
    pub(crate) fn kill(&mut self, sig: Signal) {
        if let Some(p) = self.pgid {
            let _ = kill_process_group(p, sig);
        }
    }
    pub(crate) fn alive(&self) -> bool {
        self.pgid
            .map(|p| test_kill_process_group(p).is_ok())
            .unwrap_or(false)
    }
    pub(crate) fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill(Signal::KILL);
    }
}

/// A running server process and the guard of its group.
pub(crate) struct Running {
    pub child: tokio::process::Child,
    pub guard: GroupGuard,
    pub pid: u32,
}

/// A command in a process group of its own, stdin closed: Ctrl-C at the terminal does not
/// reach it, and signalling the group reaches everything it started and nothing else.
pub(crate) fn command(argv: &[String], cwd: Option<&Path>) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(c) = cwd {
        cmd.current_dir(c);
    }
    cmd
}

/// Signal the group, wait `grace`, then KILL whatever is left of it. Returns whether it went
/// quietly within the grace.
pub(crate) async fn stop_group(running: &mut Running, sig: Signal, grace: Duration) -> bool {
    running.guard.kill(sig);
    let graceful = tokio::time::timeout(grace, running.child.wait())
        .await
        .is_ok();
    if !graceful || running.guard.alive() {
        // The leader is gone or stuck; whatever else is in its group goes too.
        running.guard.kill(Signal::KILL);
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), running.child.wait()).await;
    running.guard.disarm();
    graceful
}

/// (exit code, signal): for a signal the code follows the shell's 128 + N convention.
pub(crate) fn exit_code(s: &std::process::ExitStatus) -> (Option<i32>, Option<i32>) {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => (Some(c), None),
        (None, Some(sig)) => (Some(128 + sig), Some(sig)),
        _ => (None, None),
    }
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
            return format!("code {code} (killed by SIG{})", super::spec::signal_name(s))
        }
        _ => return format!("code {code}"),
    };
    format!("code {code} ({hint})")
}

/// A free loopback port (the OS picks; released before the server binds it).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

pub(crate) fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Log lines indented under an error message.
pub(crate) fn indent(lines: &[String]) -> String {
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
