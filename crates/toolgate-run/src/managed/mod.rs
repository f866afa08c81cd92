//! Managed servers: for a target with `start = "…"`, toolgate starts the server in its own
//! process group, waits until it is healthy (startup time = spawn → first 2xx on the health
//! path), writes its stdout/stderr to a log in the run folder, runs probes before, during and
//! after the suite, watches for the process exiting (restarting it up to `restart_on_exit`
//! times), and stops it at the end: the stop signal to the group, a grace period, then KILL.
//!
//! - [`spec`] — the target's config, checked and typed ([`ManagedSpec`]).
//! - [`process`] — spawning in a process group, [`process::GroupGuard`], exit statuses, log tails.
//! - [`probes`] — one probe reading.
//! - [`handle`] — one server's life ([`ServerHandle`]): start, watch, restart, stop.
//!
//! The health check is `toolgate_client::health_ok`. Nothing here knows about trials: the
//! per-target runtime (`crate::runtime`) asks the handle whether its server is ready and what
//! a failure means.

pub mod handle;
pub mod probes;
pub mod process;
pub mod spec;

pub use handle::{AfterFailure, ServerHandle};
pub use process::{describe_exit, free_port, log_tail};
pub use spec::{ManagedSpec, DEFAULT_HEALTH, DEFAULT_STARTUP_TIMEOUT_S};
