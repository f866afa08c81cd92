//! Waiting for body data without paying for a timer on every read.
//!
//! Why this exists: tokio wakes its own driver (an eventfd write, then an extra epoll
//! round) whenever a timer is registered that is earlier than every timer the driver is
//! already sleeping on. A fresh `tokio::time::timeout` per body read is exactly that, since
//! the idle timeout (60 s) is shorter than the whole-request timeout (120 s). A streamed trial
//! paid five such wake-ups, which was most of what still separated toolgate from a raw load
//! generator at concurrency 1. Here:
//! - one idle timer per request, registered before anything that could be earlier than it
//!   ([`IdleTimer`]), and moved forward after each chunk, which tokio does with one atomic
//!   store and no re-registration;
//! - the short drain after `[DONE]` first gives the connection task a couple of scheduler
//!   turns ([`within_turns`]), since the end of the body is usually already buffered, and
//!   arms a timer only if that was not enough.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// Polls `fut` until it is ready or has been pending `turns + 1` times, waking itself in
/// between so every other ready task (the connection's) runs first. `None` if still pending;
/// `fut` keeps its waker and can be polled again.
pub(crate) async fn within_turns<F: Future>(mut fut: Pin<&mut F>, turns: u32) -> Option<F::Output> {
    let mut left = turns;
    poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(v) => Poll::Ready(Some(v)),
        Poll::Pending if left == 0 => Poll::Ready(None),
        Poll::Pending => {
            left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// The idle timeout of one body: each read must finish within `every` of the previous one.
///
/// Armed when the request goes out, before the wait for headers: registered then, its
/// deadline is later than that of the timer the previous request armed, so registering it
/// never wakes the driver; from then on it is only moved forward. It is not polled while
/// headers are awaited (prefill is bounded by the whole-request timeout alone), and
/// [`IdleTimer::restart`] sets its real deadline once the body starts.
pub(crate) struct IdleTimer {
    every: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl IdleTimer {
    pub(crate) fn new(every: Duration) -> Self {
        IdleTimer {
            every,
            sleep: Box::pin(tokio::time::sleep(every)),
        }
    }

    /// Registers the timer now (see the type's note). If it fires before the body starts,
    /// it only wakes the task once, harmlessly.
    pub(crate) async fn arm(&mut self) {
        poll_fn(|cx| {
            let _ = self.sleep.as_mut().poll(cx);
            Poll::Ready(())
        })
        .await
    }

    pub(crate) fn every(&self) -> Duration {
        self.every
    }

    /// Starts the idle period from now.
    pub(crate) fn restart(&mut self) {
        self.sleep.as_mut().reset(Instant::now() + self.every);
    }

    /// Runs one read; `None` when the deadline passed first. Data wins a tie, as with
    /// `tokio::time::timeout`.
    pub(crate) async fn wait<F: Future>(&mut self, fut: F) -> Option<F::Output> {
        let mut fut = pin!(fut);
        let sleep = &mut self.sleep;
        let out = poll_fn(|cx| {
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(Some(v));
            }
            match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        if out.is_some() {
            self.restart();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_timer_armed_long_before_the_body_still_counts_from_the_restart() {
        rt().block_on(async {
            let mut idle = IdleTimer::new(Duration::from_millis(40));
            idle.arm().await;
            // A wait for headers longer than the idle time must not count against the body.
            tokio::time::sleep(Duration::from_millis(80)).await;
            idle.restart();
            let got = idle
                .wait(async {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    1
                })
                .await;
            assert_eq!(got, Some(1));
        });
    }

    #[test]
    fn a_read_that_never_completes_times_out_after_the_idle_time() {
        rt().block_on(async {
            let mut idle = IdleTimer::new(Duration::from_millis(30));
            let t = std::time::Instant::now();
            assert_eq!(idle.wait(std::future::pending::<()>()).await, None);
            let waited = t.elapsed();
            assert!(waited >= Duration::from_millis(30), "{waited:?}");
        });
    }

    #[test]
    fn each_chunk_moves_the_deadline_forward() {
        rt().block_on(async {
            // Five reads 20 ms apart under a 50 ms idle timeout: 100 ms in all, yet no
            // single gap is idle for long enough.
            let mut idle = IdleTimer::new(Duration::from_millis(50));
            idle.arm().await;
            for _ in 0..5 {
                let got = idle
                    .wait(async {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        1
                    })
                    .await;
                assert_eq!(got, Some(1));
            }
            // A gap longer than the timeout is still caught after all those resets.
            let late = idle
                .wait(async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    1
                })
                .await;
            assert_eq!(late, None);
        });
    }

    #[test]
    fn within_turns_gives_up_on_a_future_no_one_completes() {
        rt().block_on(async {
            let mut fut = pin!(std::future::pending::<()>());
            assert_eq!(within_turns(fut.as_mut(), 3).await, None);
        });
    }
}
