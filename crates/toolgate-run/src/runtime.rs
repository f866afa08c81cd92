//! One target during a run ([`TargetRuntime`]): where its next request goes, its counters, and
//! — for a managed target — its server. Exec asks it two things per trial, [`ready`] before
//! sending and [`after_trial`] once the record is made, and never looks at the server itself;
//! the managed module knows nothing of trials. Starting and stopping the servers of a group of
//! targets, with what happened written into the manifest, is here too.
//!
//! [`ready`]: TargetRuntime::ready
//! [`after_trial`]: TargetRuntime::after_trial

use crate::managed::{AfterFailure, ServerHandle};
use crate::target::{Target, TargetSource};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use toolgate_client::{Client, Endpoint};
use toolgate_core::{ErrorKind, InfraError, ResponseRecord, RunManifest};

pub struct TargetRuntime {
    pub target: Target,
    /// Where requests go: the remote URLs, or the embedded simulator's; a managed server's
    /// URL is its handle's, known once it has started.
    urls: Vec<String>,
    next_url: AtomicUsize,
    consecutive_connect: AtomicU32,
    down: AtomicBool,
    /// Trials recorded, and how many of them ended in an infra error (for progress).
    pub done: AtomicU64,
    pub errors: AtomicU64,
    /// Trials this run sends to the target.
    pub total: u64,
    server: Option<Arc<ServerHandle>>,
}

/// A target ready for a trial: the URL to send to, and which server process answers there
/// (always 0 for targets toolgate does not manage).
pub struct Ready {
    pub url: String,
    generation: u32,
}

/// What to do with a trial's record.
pub enum Next {
    Keep,
    /// The managed server died under the trial and came back: send the trial again (once).
    Resend,
}

impl TargetRuntime {
    /// The runtimes of a run's targets. `totals` counts each target's trials; `sim_url` is the
    /// embedded simulator's, when one runs. Managed servers log to `server.log` when the run
    /// manages one, `server-<target>.log` when it manages several.
    pub fn for_run(
        targets: &[Target],
        totals: &BTreeMap<&str, u64>,
        sim_url: Option<&str>,
        run_dir: &Path,
    ) -> Vec<Arc<TargetRuntime>> {
        let several = targets
            .iter()
            .filter(|t| matches!(t.source, TargetSource::Managed(_)))
            .count()
            > 1;
        targets
            .iter()
            .map(|t| {
                let (urls, server) = match &t.source {
                    TargetSource::Sim(_) => (sim_url.into_iter().map(String::from).collect(), None),
                    TargetSource::Remote(r) => (r.urls.clone(), None),
                    TargetSource::Managed(spec) => {
                        let stem = several.then(|| toolgate_core::paths::file_stem(&t.name));
                        let log = toolgate_core::runfolder::server_log(stem.as_deref());
                        (vec![], Some(ServerHandle::new(spec.clone(), run_dir, &log)))
                    }
                };
                Arc::new(TargetRuntime {
                    target: t.clone(),
                    urls,
                    next_url: AtomicUsize::new(0),
                    consecutive_connect: AtomicU32::new(0),
                    down: AtomicBool::new(false),
                    done: AtomicU64::new(0),
                    errors: AtomicU64::new(0),
                    total: totals.get(t.name.as_str()).copied().unwrap_or(0),
                    server,
                })
            })
            .collect()
    }

    /// Whether the target sends from a thread of its own when several run: not a managed
    /// one, whose server's watcher lives on the main runtime.
    pub fn can_isolate(&self) -> bool {
        self.server.is_none()
    }

    /// Waits for a managed server to be up (at once for other targets) and picks the URL.
    pub async fn ready(&self) -> Result<Ready, InfraError> {
        match &self.server {
            None => {
                let n = self.urls.len().max(1);
                let idx = self.next_url.fetch_add(1, Ordering::Relaxed) % n;
                Ok(Ready {
                    url: self.urls.get(idx).cloned().unwrap_or_default(),
                    generation: 0,
                })
            }
            Some(s) => {
                let generation = s.ready().await?;
                Ok(Ready {
                    url: s.base_url(),
                    generation,
                })
            }
        }
    }

    /// After a trial: keep its record, or — when the managed server died under it and came
    /// back — send it again once; when the server is gone for good the record carries its
    /// exit (`server_exited`, status and log tail) instead of the connection error.
    pub async fn after_trial(&self, ready: &Ready, rec: &mut ResponseRecord, resent: bool) -> Next {
        let Some(server) = &self.server else {
            return Next::Keep;
        };
        let failed_on_wire = rec.error.as_ref().is_some_and(|e| {
            matches!(
                e.kind,
                ErrorKind::Connect | ErrorKind::Protocol | ErrorKind::Timeout
            )
        });
        if !failed_on_wire {
            server.note_trial_done();
            return Next::Keep;
        }
        match server.after_failure(ready.generation).await {
            AfterFailure::Restarted if !resent => {
                // A fresh process: the old one's connect failures say nothing about it.
                self.consecutive_connect.store(0, Ordering::SeqCst);
                self.down.store(false, Ordering::SeqCst);
                Next::Resend
            }
            AfterFailure::Alive | AfterFailure::Restarted => {
                server.note_trial_done();
                Next::Keep
            }
            AfterFailure::Exited(mut e) => {
                if let Some(old) = &rec.error {
                    e.turn = old.turn;
                }
                rec.error = Some(e);
                Next::Keep
            }
        }
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }

    pub fn note_answer(&self) {
        self.consecutive_connect.store(0, Ordering::SeqCst);
    }

    /// Counts consecutive connect failures; at `down_after` the target is declared down and
    /// its remaining trials are not sent.
    pub fn note_failure(&self, e: &InfraError, down_after: u32) {
        if e.kind == ErrorKind::Connect {
            let n = self.consecutive_connect.fetch_add(1, Ordering::SeqCst) + 1;
            if n >= down_after {
                self.down.store(true, Ordering::SeqCst);
            }
        }
    }

    pub fn endpoint(&self, url: &str, max_body: usize) -> Endpoint {
        endpoint(&self.target, url, max_body)
    }
}

/// The endpoint of `target` at `url`, with its key, limits and API flavour.
pub fn endpoint(target: &Target, url: &str, max_body: usize) -> Endpoint {
    let (api, force_hosted) = match &target.source {
        TargetSource::Remote(r) => (r.api.clone(), r.force_hosted),
        _ => (toolgate_client::Api::default(), false),
    };
    Endpoint {
        base_url: url.trim_end_matches('/').to_string(),
        api_key: target.api_key().map(str::to_string),
        timeout: target.limits.timeout,
        idle_timeout: target.limits.idle_timeout,
        max_body_bytes: max_body,
        api,
        force_hosted,
    }
}

/// Server metadata for the manifest: per URL, what the metadata endpoints answered.
pub async fn gather_metadata(target: &Target, urls: &[String], max_body: usize) -> Value {
    let Ok(client) = Client::new() else {
        return json!({});
    };
    let mut m = serde_json::Map::new();
    for u in urls {
        let ep = endpoint(target, u, max_body);
        m.insert(u.clone(), client.metadata(&ep).await);
    }
    // A metadata body may echo the key: redact before it reaches the manifest.
    let mut v = Value::Object(m);
    let mut r = toolgate_core::redact::Redactor::default();
    target.add_secret(&mut r);
    r.redact_value(&mut v);
    v
}

fn record_facts(manifest: &mut RunManifest, name: &str, h: &ServerHandle) {
    if let Some(info) = manifest.targets.iter_mut().find(|t| t.name == name) {
        info.base_url = h.base_url();
        info.set_server_facts(&h.facts());
    }
}

/// Start the managed servers of a group of targets (one at a time), record what happened in
/// the manifest (rewritten after each start, so the pid is on disk while the server runs), and
/// gather the server metadata once healthy. A server that does not come up is reported here
/// and its trials record `server_exited`; it never aborts the run.
pub async fn start_servers(
    group: &[Arc<TargetRuntime>],
    manifest: &mut RunManifest,
    dir: &Path,
    stop: &CancellationToken,
    max_body: usize,
    quiet: bool,
) -> anyhow::Result<()> {
    for rt in group {
        let Some(h) = &rt.server else { continue };
        let name = &rt.target.name;
        h.set_total(rt.total);
        if !quiet {
            eprintln!(
                "starting server for `{name}`: {} (log: {})",
                h.spec.argv.join(" "),
                dir.join(h.log_name()).display()
            );
        }
        let res = h.start(stop.clone()).await;
        match &res {
            Ok(()) if !quiet => {
                let f = h.facts();
                eprintln!(
                    "server for `{name}` healthy after {:.1}s (pid {}, {})",
                    f.startup_ms.unwrap_or(0.0) / 1000.0,
                    f.pid.unwrap_or(0),
                    h.base_url()
                );
            }
            Ok(()) => {}
            Err(msg) => eprintln!("toolgate: {msg}"),
        }
        record_facts(manifest, name, h);
        if res.is_ok() {
            let meta = gather_metadata(&rt.target, &[h.base_url()], max_body).await;
            if let Some(info) = manifest.targets.iter_mut().find(|i| i.name == *name) {
                info.metadata = meta;
            }
        }
        crate::runfolder::write_manifest(dir, manifest)?;
    }
    Ok(())
}

/// Stop the managed servers of a group and record their facts in the manifest. When the run
/// stops at once (`now` cancelled) they are killed without `after` probes or stop grace.
pub async fn stop_servers(
    group: &[Arc<TargetRuntime>],
    manifest: &mut RunManifest,
    dir: &Path,
    now: &CancellationToken,
) -> anyhow::Result<()> {
    let mut any = false;
    for rt in group {
        let Some(h) = &rt.server else { continue };
        if now.is_cancelled() {
            h.hurry();
        }
        h.stop().await;
        record_facts(manifest, &rt.target.name, h);
        any = true;
    }
    if any {
        crate::runfolder::write_manifest(dir, manifest)?;
    }
    Ok(())
}

/// Why the run is incomplete beside its records: a target declared down, a managed server
/// that never came up or exited for good with trials still to send.
pub fn incomplete_reasons(runtimes: &[Arc<TargetRuntime>], down_after: u32) -> Vec<String> {
    let mut out = vec![];
    for rt in runtimes {
        if rt.is_down() {
            out.push(format!(
                "target `{}` declared down after {down_after} consecutive connect failures",
                rt.target.name
            ));
        }
    }
    for rt in runtimes {
        let Some(h) = &rt.server else { continue };
        let f = h.facts();
        if let Some(e) = &f.error {
            out.push(crate::managed::process::first_line(e).to_string());
        }
        if f.exits.len() as u32 > f.restarts {
            if let Some(last) = f.exits.last() {
                if last.trials_done < last.trials_total {
                    out.push(last.message.clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// Targets `x/y` and `x_y` get two log files, both inside the run folder.
    #[test]
    fn managed_log_names_are_unique_and_stay_in_the_run_folder() {
        let mut c = Config::default();
        let targets: Vec<Target> = ["x/y", "x_y", "../up"]
            .iter()
            .map(|name| {
                c.targets.insert(
                    name.to_string(),
                    crate::config::TargetConfig {
                        start: Some("sh --port {port}".into()),
                        model: Some("m".into()),
                        ..Default::default()
                    },
                );
                c.target(name).unwrap()
            })
            .collect();
        let rts = TargetRuntime::for_run(&targets, &BTreeMap::new(), None, Path::new("/run"));
        let names: std::collections::BTreeSet<&str> = rts
            .iter()
            .map(|r| r.server.as_ref().unwrap().log_name())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        for n in names {
            assert!(!n.contains('/') && n.starts_with("server-"), "{n}");
        }
    }
}
