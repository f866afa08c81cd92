//! `toolgate.toml`: targets and run defaults. Keys come from the environment
//! only: the file names the variable, never the key.

use crate::target::Target;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toolgate_core::diag::{line_col, Diagnostic, Diagnostics};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub defaults: RunDefaults,
    #[serde(default)]
    pub targets: BTreeMap<String, TargetConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunDefaults {
    /// Suite files/folders run when `--suite` is not given.
    #[serde(default = "default_suites")]
    pub suites: Vec<PathBuf>,
    /// Targets run when `--target` is not given (default: `sim`).
    #[serde(default)]
    pub targets: Vec<String>,
    /// Concurrency per target.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Requests in flight across all targets.
    #[serde(default = "default_global")]
    pub global_concurrency: usize,
    #[serde(default = "default_timeout", deserialize_with = "secs")]
    pub timeout_s: f64,
    /// Longest silence allowed inside a streamed response.
    #[serde(default = "default_idle", deserialize_with = "secs")]
    pub idle_timeout_s: f64,
    /// Response size cap.
    #[serde(default = "default_max_bytes")]
    pub max_response_bytes: usize,
    /// Retries for connect errors, 429 and 503.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Consecutive connect failures after which a target is declared down.
    #[serde(default = "default_down_after")]
    pub down_after: u32,
    /// Seconds in-flight trials get to finish after Ctrl-C.
    #[serde(default = "default_grace", deserialize_with = "secs_or_zero")]
    pub interrupt_grace_s: f64,
    /// Output root for run folders.
    #[serde(default = "default_runs_dir")]
    pub runs_dir: PathBuf,
    /// Extra prompt variables for every suite (the run's `vars`).
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
}

/// Longest accepted duration: far beyond any sensible timeout, and far from where
/// `Duration::from_secs_f64` or `Instant + Duration` would panic.
const MAX_SECS: f64 = 1e9;

// Range checks run inside deserialisation so toml reports the offending value's span; an
// unchecked -1, nan or inf used to panic later in `Duration::from_secs_f64`.
fn secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v > 0.0 && v <= MAX_SECS {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected a number of seconds greater than 0 (at most {MAX_SECS:e}), got {v}"
        )))
    }
}

fn secs_or_zero<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if (0.0..=MAX_SECS).contains(&v) {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected a number of seconds ≥ 0 (at most {MAX_SECS:e}), got {v}"
        )))
    }
}

fn opt_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    secs(d).map(Some)
}

fn default_suites() -> Vec<PathBuf> {
    vec![PathBuf::from("cases")]
}
fn default_concurrency() -> usize {
    4
}
fn default_global() -> usize {
    64
}
fn default_timeout() -> f64 {
    120.0
}
fn default_idle() -> f64 {
    60.0
}
fn default_max_bytes() -> usize {
    16 * 1024 * 1024
}
fn default_retries() -> u32 {
    3
}
fn default_down_after() -> u32 {
    5
}
fn default_grace() -> f64 {
    10.0
}
fn default_runs_dir() -> PathBuf {
    PathBuf::from("runs")
}

impl Default for RunDefaults {
    fn default() -> Self {
        RunDefaults {
            suites: default_suites(),
            targets: vec![],
            concurrency: default_concurrency(),
            global_concurrency: default_global(),
            timeout_s: default_timeout(),
            idle_timeout_s: default_idle(),
            max_response_bytes: default_max_bytes(),
            retries: default_retries(),
            down_after: default_down_after(),
            interrupt_grace_s: default_grace(),
            runs_dir: default_runs_dir(),
            vars: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// `sim`: the embedded simulator.
    #[serde(default)]
    pub builtin: Option<String>,
    #[serde(default)]
    pub base_url: Option<String>,
    /// Several replicas: requests spread round-robin.
    #[serde(default)]
    pub base_urls: Vec<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
    /// Name of the environment variable that holds the API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    // Hosted APIs (README, "Hosted APIs: OpenAI and Azure OpenAI"); only for `base_url` targets.
    /// Azure OpenAI deployment name (profile `azure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// Azure OpenAI `api-version` (profile `azure`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// OpenAI `OpenAI-Organization` header (profile `openai`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// OpenAI `OpenAI-Project` header (profile `openai`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Send through the hosted client (async-openai) even over plain http.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted: Option<bool>,
    #[serde(default)]
    pub concurrency: Option<usize>,
    #[serde(default, deserialize_with = "opt_secs")]
    pub timeout_s: Option<f64>,
    #[serde(default, deserialize_with = "opt_secs")]
    pub idle_timeout_s: Option<f64>,
    /// Fields merged into every request body.
    #[serde(default)]
    pub extra_body: BTreeMap<String, Value>,
    /// Override of the thinking mapping: `{ field = "a.b", on = …, off = … }`.
    #[serde(default)]
    pub thinking: Option<ThinkingOverride>,
    /// Stream responses (default true).
    #[serde(default)]
    pub stream: Option<bool>,
    // A managed server (`crate::managed`): toolgate starts, watches, measures and stops it.
    /// Command line that starts the server; `{port}` and `{model}` are replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Environment for the server (values may use `{port}` / `{model}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Path polled until it answers 2xx (default `/v1/models`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_timeout_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<StopConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeConfig>,
    /// Restart the server up to N times when it exits mid-run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_on_exit: Option<u32>,
    /// Fixed port for `{port}` (default: a free port picked at start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// `stop = { signal = "TERM", grace_s = 10 }`, as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StopConfig {
    #[serde(default = "default_signal")]
    pub signal: String,
    #[serde(default = "default_stop_grace")]
    pub grace_s: f64,
}

fn default_signal() -> String {
    "TERM".into()
}
fn default_stop_grace() -> f64 {
    10.0
}

impl Default for StopConfig {
    fn default() -> Self {
        StopConfig {
            signal: default_signal(),
            grace_s: default_stop_grace(),
        }
    }
}

/// `probes = [{ name = "gpu-mem", command = "nvidia-smi …", interval_s = 5 }]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    pub name: String,
    /// Command line (no shell; use `sh -c "…"` for pipes). `{port}`, `{pid}`, `{model}`.
    pub command: String,
    /// Also run every N seconds while the suite runs (default: only before and after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<f64>,
    /// A probe that takes longer is killed and recorded as failed (default 10 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ThinkingOverride {
    /// Dotted path in the request body, e.g. `chat_template_kwargs.enable_thinking`.
    pub field: String,
    pub on: Value,
    pub off: Value,
}

/// `toolgate.toml` as parsed, with where each target's table starts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Located {
    #[serde(default)]
    defaults: RunDefaults,
    #[serde(default)]
    targets: BTreeMap<String, toml::Spanned<TargetConfig>>,
}

impl Config {
    /// The config used when there is no toolgate.toml: only the `sim` target.
    pub fn builtin() -> Config {
        let mut c = Config::default();
        for (name, model) in [("sim", "sim-strong"), ("sim-weak", "sim-weak")] {
            c.targets.insert(
                name.into(),
                TargetConfig {
                    builtin: Some("sim".into()),
                    model: Some(model.into()),
                    ..Default::default()
                },
            );
        }
        c
    }

    pub fn load(path: &Path) -> Result<Config, Diagnostics> {
        let text = toolgate_core::load::read_text(path).map_err(|d| Diagnostics(vec![d]))?;
        Self::parse(path, &text)
    }

    /// Parses and checks every target ([`Target::from_config`]); a target's problem is
    /// reported at its table, located by `toml::Spanned`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, Diagnostics> {
        let located: Located = toml::from_str(text).map_err(|e| {
            let (l, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            Diagnostics(vec![
                Diagnostic::new(path, l, col, e.message().to_string()).with_source(text)
            ])
        })?;
        let mut diags = Diagnostics::default();
        let mut c = Config {
            defaults: located.defaults,
            targets: BTreeMap::new(),
        };
        for (name, t) in located.targets {
            if let Err(m) = Target::from_config(&name, t.get_ref(), &c.defaults) {
                // A span that is empty (a table made of dotted keys) falls back to line 1:
                // a diagnostic always has a line.
                let (line, col) = match t.span() {
                    s if s.is_empty() => (1, 1),
                    s => line_col(text, s.start),
                };
                diags.push(
                    Diagnostic::new(path, line, col, format!("target `{name}`: {m}"))
                        .with_source(text),
                );
            }
            c.targets.insert(name, t.into_inner());
        }
        // The builtin targets are always there unless the file redefines them.
        for (k, v) in Config::builtin().targets {
            c.targets.entry(k).or_insert(v);
        }
        if diags.is_empty() {
            Ok(c)
        } else {
            Err(diags)
        }
    }

    /// The target `name`, typed; an unknown name lists the configured ones.
    pub fn target(&self, name: &str) -> Result<Target, String> {
        let t = self.targets.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.targets.keys().map(String::as_str).collect();
            format!("unknown target `{name}` (configured: {})", known.join(", "))
        })?;
        Target::from_config(name, t, &self.defaults).map_err(|e| format!("target `{name}`: {e}"))
    }
}

/// A base URL toolgate can send to: http or https, a host, no credentials (keys belong in
/// the environment). Parsed as an `http::Uri`, so what is accepted here is what the client
/// will be able to build requests from.
pub fn check_url(u: &str) -> Result<(), String> {
    let shown = redact_url(u);
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        return Err(format!(
            "base URL `{shown}` must start with http:// or https://"
        ));
    }
    let uri: http::Uri = u
        .parse()
        .map_err(|e| format!("base URL `{shown}` is not a valid URL: {e}"))?;
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
    if authority.contains('@') {
        return Err(format!(
            "base URL `{shown}` embeds credentials; put the key in an environment variable and name it with `api_key_env`"
        ));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("base URL `{shown}` has no host"));
    }
    Ok(())
}

/// A URL with any userinfo replaced, for messages.
pub fn redact_url(u: &str) -> String {
    if let Some((scheme, rest)) = u.split_once("://") {
        let (auth, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if let Some((_, host)) = auth.rsplit_once('@') {
            return format!("{scheme}://[redacted]@{host}{path}");
        }
    }
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_refused_and_redacted() {
        let e = check_url("http://user:s3cret@127.0.0.1:8000/v1").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
        assert!(e.contains("api_key_env"));
        assert!(check_url("http://127.0.0.1:8000/v1").is_ok());
        assert!(check_url("https://r.example/openai?x=1").is_ok());
        assert!(check_url("http:///v1")
            .unwrap_err()
            .contains("not a valid URL"));
        assert!(check_url("http://a b/v1")
            .unwrap_err()
            .contains("not a valid URL"));
        assert!(check_url("ftp://h/v1")
            .unwrap_err()
            .contains("must start with"));
    }

    #[test]
    fn config_errors_are_located() {
        let text = "[targets.x]\nbase_url = \"http://127.0.0.1:1/v1\"\nmodle = \"m\"\n";
        let d = Config::parse(Path::new("toolgate.toml"), text).unwrap_err();
        assert_eq!(d.0[0].line, 3, "{d}");
        let text =
            "[targets.x]\nbase_url = \"http://127.0.0.1:1/v1\"\nprofile = \"vlm\"\nmodel = \"m\"\n";
        let d = Config::parse(Path::new("toolgate.toml"), text).unwrap_err();
        assert!(d.to_string().contains("unknown profile"), "{d}");
    }

    #[test]
    fn hosted_keys_are_checked_with_their_profile() {
        let parse = |body: &str| {
            let text = format!("[targets.az]\nbase_url = \"https://r.example\"\n{body}");
            Config::parse(Path::new("toolgate.toml"), &text).map(|c| c.targets["az"].clone())
        };
        let t = parse(
            "profile = \"azure\"\ndeployment = \"gpt-4o\"\napi_version = \"2024-10-21\"\napi_key_env = \"K\"\n",
        )
        .unwrap();
        assert_eq!(t.deployment.as_deref(), Some("gpt-4o"));
        for (body, needle) in [
            ("profile = \"azure\"\napi_version = \"v\"\napi_key_env = \"K\"\n", "needs `deployment`"),
            ("profile = \"azure\"\ndeployment = \"d\"\napi_key_env = \"K\"\n", "needs `api_version`"),
            ("profile = \"azure\"\ndeployment = \"d\"\napi_version = \"v\"\n", "needs `api_key_env`"),
            ("model = \"m\"\ndeployment = \"d\"\n", "`deployment` is only for profile = \"azure\""),
            (
                "profile = \"azure\"\ndeployment = \"../v1\"\napi_version = \"v\"\napi_key_env = \"K\"\n",
                "`deployment` = \"../v1\": expected",
            ),
            ("model = \"m\"\nprofile = \"vllm\"\norganization = \"o\"\n", "`organization` is only for profile = \"openai\""),
        ] {
            let d = parse(body).unwrap_err().to_string();
            assert!(d.contains(needle), "{body}: {d}");
            assert!(d.contains("toolgate.toml:1"), "{d}");
        }
        let t = parse("model = \"m\"\norganization = \"org-1\"\nproject = \"p\"\nhosted = true\n")
            .unwrap();
        assert_eq!(
            (t.organization.as_deref(), t.hosted),
            (Some("org-1"), Some(true))
        );
    }

    #[test]
    fn a_target_problem_is_reported_at_its_table() {
        let text = "[defaults]\nconcurrency = 2\n\n[targets.ok]\nbase_url = \"http://127.0.0.1:1/v1\"\nmodel = \"m\"\n\n[targets.\"bad one\"]\nbase_url = \"http://127.0.0.1:1/v1\"\n";
        let d = Config::parse(Path::new("toolgate.toml"), text).unwrap_err();
        assert_eq!((d.0.len(), d.0[0].line), (1, 8), "{d}");
        assert!(
            d.0[0].message.contains("target `bad one`: needs `model`"),
            "{d}"
        );
        // An inline table: at its opening brace.
        let text = "[targets]\nsim2 = { builtin = \"sim\", model = \"gpt\" }\n";
        let d = Config::parse(Path::new("toolgate.toml"), text).unwrap_err();
        assert_eq!((d.0[0].line, d.0[0].column), (2, 8), "{d}");
    }

    #[test]
    fn builtin_targets_exist() {
        let c = Config::parse(Path::new("t.toml"), "").unwrap();
        assert!(c.targets.contains_key("sim"));
        assert!(c.targets.contains_key("sim-weak"));
    }
}
