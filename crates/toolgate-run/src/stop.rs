//! How a run stops early: one cancellation token for Ctrl-C, SIGTERM, a writer failure and
//! the end of the run, and the cause that the manifest and the exit message report.
//!
//! The token is two-level. [`RunStop::sending`] (a child of the run's root token) means "start
//! no new trial": the first SIGINT/SIGTERM cancels it, and in-flight trials get
//! `interrupt_grace_s`. The root, [`RunStop::now`], means "drop in-flight trials at once": a
//! second signal, a writer failure (records could not be kept anyway) and the end of the run
//! cancel it — and cancelling the root cancels `sending` too.

use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Why a run stopped before its plan was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopCause {
    /// SIGINT or SIGTERM (the name); `twice` when a second one cut the grace short.
    Signal { name: &'static str, twice: bool },
    /// `responses.jsonl` could not be written: `cannot write <path>: <os error>`.
    WriteFailed(String),
}

#[derive(Clone)]
pub struct RunStop {
    now: CancellationToken,
    sending: CancellationToken,
    cause: Arc<Mutex<Option<StopCause>>>,
}

impl Default for RunStop {
    fn default() -> Self {
        let now = CancellationToken::new();
        RunStop {
            sending: now.child_token(),
            now,
            cause: Arc::default(),
        }
    }
}

impl RunStop {
    pub fn new() -> RunStop {
        RunStop::default()
    }

    /// Cancelled when no new trial may start.
    pub fn sending(&self) -> &CancellationToken {
        &self.sending
    }

    /// Cancelled when in-flight trials are to be dropped without grace.
    pub fn now(&self) -> &CancellationToken {
        &self.now
    }

    pub fn is_stopped(&self) -> bool {
        self.sending.is_cancelled()
    }

    pub fn cause(&self) -> Option<StopCause> {
        self.cause.lock().expect("stop cause").clone()
    }

    /// A SIGINT/SIGTERM arrived: the first stops sending, the second stops at once.
    pub fn signal(&self, name: &'static str) {
        let mut cause = self.cause.lock().expect("stop cause");
        match &mut *cause {
            Some(StopCause::Signal { twice, .. }) => {
                *twice = true;
                self.now.cancel();
            }
            // A writer failure already stopped everything; it stays the cause.
            Some(StopCause::WriteFailed(_)) => self.now.cancel(),
            None => {
                *cause = Some(StopCause::Signal { name, twice: false });
                self.sending.cancel();
            }
        }
    }

    /// The writer failed: nothing more can be recorded, so stop everything at once.
    pub fn write_failed(&self, message: String) {
        let mut cause = self.cause.lock().expect("stop cause");
        // A lost record outweighs a signal as the reason; the first failure is the one to tell.
        if !matches!(&*cause, Some(StopCause::WriteFailed(_))) {
            *cause = Some(StopCause::WriteFailed(message));
        }
        self.now.cancel();
    }

    pub fn write_error(&self) -> Option<String> {
        match self.cause() {
            Some(StopCause::WriteFailed(m)) => Some(m),
            _ => None,
        }
    }

    /// The end of the run: background listeners end. Records no cause.
    pub fn finish(&self) {
        self.now.cancel();
    }

    /// The manifest's reason for an early stop, with the trials it left out.
    pub fn reason(&self, not_sent: u64) -> Option<String> {
        Some(match self.cause()? {
            StopCause::Signal { twice: true, .. } => {
                format!("interrupted twice: stopped without grace; {not_sent} trial(s) not sent")
            }
            StopCause::Signal { name, .. } => {
                format!("interrupted ({name}): {not_sent} trial(s) not sent")
            }
            StopCause::WriteFailed(m) => {
                format!("{m}; stopped sending, {not_sent} trial(s) not recorded")
            }
        })
    }

    /// Listens for SIGINT and SIGTERM until the run ends. Both are handled alike, so a
    /// supervisor's TERM (systemd, CI, `timeout`) keeps what was answered, as Ctrl-C does.
    pub fn listen_for_signals(&self, quiet: bool) {
        use tokio::signal::unix::{signal, SignalKind};
        let (int, term) = match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(i), Ok(t)) => (i, t),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("warning: cannot listen for SIGINT/SIGTERM: {e}");
                return;
            }
        };
        let me = self.clone();
        tokio::spawn(async move {
            let (mut int, mut term) = (int, term);
            loop {
                let name = tokio::select! {
                    _ = me.now.cancelled() => return,
                    Some(()) = int.recv() => "SIGINT",
                    Some(()) = term.recv() => "SIGTERM",
                    else => return,
                };
                let first = !me.is_stopped();
                me.signal(name);
                if first && !quiet {
                    eprintln!(
                        "\n{name}: no new trials; in-flight ones get the grace period \
                         (again to stop at once)"
                    );
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_signal_stops_sending_second_stops_at_once() {
        let s = RunStop::new();
        assert!(!s.is_stopped());
        s.signal("SIGTERM");
        assert!(s.sending().is_cancelled());
        assert!(!s.now().is_cancelled());
        assert_eq!(
            s.reason(2).unwrap(),
            "interrupted (SIGTERM): 2 trial(s) not sent"
        );
        s.signal("SIGINT");
        assert!(s.now().is_cancelled());
        assert!(s.reason(2).unwrap().starts_with("interrupted twice"));
    }

    #[test]
    fn a_write_failure_stops_everything_and_is_the_cause() {
        let s = RunStop::new();
        s.write_failed("cannot write x: File too large".into());
        assert!(s.sending().is_cancelled() && s.now().is_cancelled());
        assert_eq!(
            s.write_error().as_deref(),
            Some("cannot write x: File too large")
        );
        s.signal("SIGINT");
        assert!(s.write_error().is_some());
    }

    #[test]
    fn the_end_of_the_run_records_no_cause() {
        let s = RunStop::new();
        s.finish();
        assert!(s.is_stopped());
        assert!(s.cause().is_none() && s.reason(0).is_none());
    }
}
