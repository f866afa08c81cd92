//! What a managed target's config says, checked and typed: the start command in words, the
//! health path, the stop signal as a [`Signal`], the probes. Built once per run from the
//! target's `toolgate.toml` table; nothing here runs anything.

use crate::config::{ProbeConfig, TargetConfig};
use rustix::process::Signal;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toolgate_core::text::split_command;

pub const DEFAULT_HEALTH: &str = "/v1/models";
pub const DEFAULT_STARTUP_TIMEOUT_S: f64 = 300.0;
pub(crate) const DEFAULT_BASE_URL: &str = "http://127.0.0.1:{port}/v1";
const DEFAULT_PROBE_TIMEOUT_S: f64 = 10.0;

/// The signals `stop.signal` may name.
const SIGNALS: [(&str, Signal); 7] = [
    ("TERM", Signal::TERM),
    ("INT", Signal::INT),
    ("HUP", Signal::HUP),
    ("QUIT", Signal::QUIT),
    ("KILL", Signal::KILL),
    ("USR1", Signal::USR1),
    ("USR2", Signal::USR2),
];

/// `"sigint"`, `"INT"` → `Signal::INT`.
pub(crate) fn parse_signal(s: &str) -> Option<Signal> {
    let s = s.trim().to_ascii_uppercase();
    let s = s.strip_prefix("SIG").unwrap_or(&s);
    SIGNALS.iter().find(|(n, _)| *n == s).map(|(_, v)| *v)
}

/// `TERM` for `Signal::TERM`; the number for a signal outside the table.
pub(crate) fn signal_name(raw: i32) -> String {
    SIGNALS
        .iter()
        .find(|(_, v)| v.as_raw() == raw)
        .map(|(n, _)| n.to_string())
        .unwrap_or_else(|| raw.to_string())
}

/// `{port}`, `{model}`, `{pid}` replaced in a word of a command or an environment value.
pub(crate) fn fill(s: &str, vars: &[(&str, String)]) -> String {
    let mut s = s.to_string();
    for (k, v) in vars {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

/// One probe, checked: its command in words.
#[derive(Debug, Clone)]
pub struct Probe {
    pub name: String,
    pub argv: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Duration,
}

/// Everything needed to start one managed server.
#[derive(Debug, Clone)]
pub struct ManagedSpec {
    pub target: String,
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<PathBuf>,
    /// With its `{port}` placeholder until the port is picked.
    pub base_url: String,
    pub health: String,
    pub model: String,
    pub startup_timeout: Duration,
    pub stop_signal: Signal,
    pub grace: Duration,
    pub probes: Vec<Probe>,
    pub restart_on_exit: u32,
    pub port: Option<u16>,
}

impl ManagedSpec {
    /// The spec of a target with `start`. Checks the config alone (no file system): the
    /// command splits, one URL with a `{port}` (or a fixed `port`), a health path, a known
    /// stop signal, unique probe names and positive durations.
    pub fn from_config(name: &str, t: &TargetConfig, start: &str) -> Result<ManagedSpec, String> {
        let argv = split_command(start).map_err(|e| format!("`start`: {e}"))?;
        let model = t.model.clone().ok_or("needs `model`")?;
        if !t.base_urls.is_empty() {
            return Err(
                "a managed target (`start`) has one server: use `base_url`, not `base_urls`".into(),
            );
        }
        let base_url = t.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        crate::config::check_url(&base_url.replace("{port}", "1"))?;
        if t.port.is_none() && !base_url.contains("{port}") {
            return Err(format!(
                "`base_url` {base_url} of a managed target needs a `{{port}}` placeholder (or set `port`)"
            ));
        }
        let health = t.health.as_deref().unwrap_or(DEFAULT_HEALTH);
        if !health.starts_with('/') {
            return Err(format!(
                "`health` must be a path starting with `/`, got `{health}`"
            ));
        }
        let startup_timeout = positive(
            "startup_timeout_s",
            t.startup_timeout_s.unwrap_or(DEFAULT_STARTUP_TIMEOUT_S),
        )?;
        let stop = t.stop.clone().unwrap_or_default();
        let stop_signal = parse_signal(&stop.signal).ok_or_else(|| {
            format!(
                "`stop.signal` `{}` is not one of {}",
                stop.signal,
                SIGNALS.map(|(n, _)| n).join(", ")
            )
        })?;
        if !(stop.grace_s >= 0.0 && stop.grace_s <= 1e9) {
            return Err("`stop.grace_s` must be a number ≥ 0".into());
        }
        Ok(ManagedSpec {
            target: name.to_string(),
            argv,
            env: t.env.clone(),
            cwd: t.cwd.clone(),
            base_url: base_url.to_string(),
            health: health.to_string(),
            model,
            startup_timeout,
            stop_signal,
            grace: Duration::from_secs_f64(stop.grace_s),
            probes: probes(&t.probes)?,
            restart_on_exit: t.restart_on_exit.unwrap_or(0),
            port: t.port,
        })
    }

    /// What only the machine can tell, checked when the run opens (before any folder): the
    /// start command's program exists and `cwd` is a directory.
    pub fn check_runnable(&self) -> Result<(), String> {
        let prog = &self.argv[0];
        if !program_exists(prog, self.cwd.as_deref()) {
            return Err(format!(
                "start command `{prog}` not found{}",
                if prog.contains('/') {
                    " (no executable file at that path)"
                } else {
                    " on PATH"
                }
            ));
        }
        if let Some(c) = &self.cwd {
            if !c.is_dir() {
                return Err(format!("`cwd` {} is not a directory", c.display()));
            }
        }
        Ok(())
    }

    /// The stop signal's name, as the log and the manifest give it (`TERM`).
    pub fn stop_signal_name(&self) -> String {
        signal_name(self.stop_signal.as_raw())
    }
}

fn positive(key: &str, v: f64) -> Result<Duration, String> {
    if v > 0.0 && v <= 1e9 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(format!("`{key}` must be a positive number"))
    }
}

fn probes(list: &[ProbeConfig]) -> Result<Vec<Probe>, String> {
    let mut names = BTreeSet::new();
    list.iter()
        .map(|p| {
            if !names.insert(p.name.as_str()) {
                return Err(format!("probe name `{}` is used twice", p.name));
            }
            let argv = split_command(&p.command).map_err(|e| format!("probe `{}`: {e}", p.name))?;
            let at = |key: &str, v: f64| {
                positive(key, v).map_err(|e| format!("probe `{}`: {e}", p.name))
            };
            Ok(Probe {
                name: p.name.clone(),
                argv,
                interval: p.interval_s.map(|v| at("interval_s", v)).transpose()?,
                timeout: at("timeout_s", p.timeout_s.unwrap_or(DEFAULT_PROBE_TIMEOUT_S))?,
            })
        })
        .collect()
}

/// Whether `prog` names an executable file: a path (relative to `cwd`), or a name on PATH.
fn program_exists(prog: &str, cwd: Option<&Path>) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if prog.contains('/') {
        let p = Path::new(prog);
        return match cwd {
            Some(c) if p.is_relative() => is_exec(&c.join(p)),
            _ => is_exec(p),
        };
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|d| is_exec(&d.join(prog))))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_and_placeholders() {
        assert_eq!(parse_signal("sigint"), Some(Signal::INT));
        assert_eq!(parse_signal("TERM"), Some(Signal::TERM));
        assert!(parse_signal("BOGUS").is_none());
        assert_eq!(signal_name(Signal::HUP.as_raw()), "HUP");
        assert_eq!(
            fill(
                "--port {port} -m {model}",
                &[("port", "9".into()), ("model", "m".into())]
            ),
            "--port 9 -m m"
        );
    }

    #[test]
    fn managed_target_checks() {
        let t = |s: &str| {
            crate::config::Config::parse(Path::new("t.toml"), s)
                .map(|_| ())
                .map_err(|d| d.to_string())
        };
        assert!(t("[targets.a]\nstart = \"x --port {port}\"\nmodel = \"m\"\n").is_ok());
        let e = t(
            "[targets.a]\nstart = \"x\"\nmodel = \"m\"\nbase_url = \"http://127.0.0.1:8000/v1\"\n",
        )
        .unwrap_err();
        assert!(e.contains("{port}"), "{e}");
        let e = t("[targets.a]\nstart = \"x\"\nmodel = \"m\"\nstop = { signal = \"NOPE\" }\n")
            .unwrap_err();
        assert!(e.contains("stop.signal"), "{e}");
        let e = t("[targets.a]\nstart = \"x\"\nmodel = \"m\"\nhealth = \"health\"\n").unwrap_err();
        assert!(e.contains("health"), "{e}");
        let e = t("[targets.a]\nstart = \"x\"\nmodel = \"m\"\nprobes = [{ name = \"p\", command = \"a\" }, { name = \"p\", command = \"b\" }]\n")
            .unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let e = t("[targets.a]\nstart = \"x\"\nmodel = \"m\"\nprobes = [{ name = \"p\", command = \"a\", interval_s = 0 }]\n")
            .unwrap_err();
        assert!(
            e.contains("probe `p`: `interval_s` must be a positive number"),
            "{e}"
        );
        let cfg = TargetConfig {
            model: Some("m".into()),
            ..Default::default()
        };
        let spec =
            ManagedSpec::from_config("a", &cfg, "no-such-program-toolgate --port {port}").unwrap();
        let e = spec.check_runnable().unwrap_err();
        assert!(e.contains("not found on PATH"), "{e}");
    }
}
