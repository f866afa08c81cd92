//! Progress display: an indicatif bar per target on a terminal; plain periodic lines when
//! stderr is not a terminal (CI logs); nothing with `--quiet`.

use crate::runtime::TargetRuntime;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Progress {
    mode: Mode,
}

enum Mode {
    Quiet,
    // The MultiProgress owns the draw target; keep it alive while the bars draw.
    Bars(
        #[allow(dead_code)] MultiProgress,
        BTreeMap<String, ProgressBar>,
    ),
    Lines(Arc<Mutex<Instant>>),
}

impl Progress {
    pub fn new(states: &[Arc<TargetRuntime>], quiet: bool) -> Progress {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() && !ci {
            let mp = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
            let style =
                ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg} eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            let mut bars = BTreeMap::new();
            for s in states {
                let b = mp.add(ProgressBar::new(s.total));
                b.set_style(style.clone());
                b.set_prefix(s.target.name.clone());
                bars.insert(s.target.name.clone(), b);
            }
            Mode::Bars(mp, bars)
        } else {
            Mode::Lines(Arc::new(Mutex::new(Instant::now())))
        };
        Progress { mode }
    }

    /// Called after each recorded trial.
    pub fn callback(&self) -> Arc<dyn Fn(&TargetRuntime) + Send + Sync> {
        match &self.mode {
            Mode::Quiet => Arc::new(|_| {}),
            Mode::Bars(_, bars) => {
                let bars = bars.clone();
                Arc::new(move |s: &TargetRuntime| {
                    if let Some(b) = bars.get(&s.target.name) {
                        b.set_position(s.done.load(Ordering::SeqCst));
                        let e = s.errors.load(Ordering::SeqCst);
                        if e > 0 {
                            b.set_message(format!("{e} errors"));
                        }
                    }
                })
            }
            Mode::Lines(last) => {
                let last = last.clone();
                Arc::new(move |s: &TargetRuntime| {
                    let done = s.done.load(Ordering::SeqCst);
                    let mut l = last.lock().unwrap_or_else(|p| p.into_inner());
                    if done == s.total || l.elapsed() >= Duration::from_secs(5) {
                        *l = Instant::now();
                        eprintln!(
                            "[{}] {}/{} trials, {} errors",
                            s.target.name,
                            done,
                            s.total,
                            s.errors.load(Ordering::SeqCst)
                        );
                    }
                })
            }
        }
    }

    pub fn finish(&self) {
        if let Mode::Bars(_, bars) = &self.mode {
            for b in bars.values() {
                b.finish();
            }
        }
    }
}
