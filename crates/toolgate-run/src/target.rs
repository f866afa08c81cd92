//! A target as a run uses it. `toolgate.toml`'s `[targets.NAME]` table is a [`TargetConfig`]
//! as written (it is also what the manifest records, so a run resumes from it); [`Target`] is
//! that table checked and typed: one of three sources, every default applied, the profile and
//! the thinking mapping resolved. A key that does not belong to the target's source is
//! refused, naming the key, instead of being ignored.

use crate::config::{check_url, RunDefaults, TargetConfig};
use crate::managed::ManagedSpec;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use toolgate_client::{Api, Profile, ThinkingMapping};

/// A target, checked: where its requests go ([`TargetSource`]) and how they are made.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    /// The request's `model` (Azure: the deployment when `model` is not given).
    pub model: String,
    pub profile: Profile,
    pub thinking: ThinkingMapping,
    pub limits: Limits,
    pub stream: bool,
    /// Fields merged into every request body.
    pub extra_body: BTreeMap<String, Value>,
    /// The variable that holds the API key, and the key once read ([`Target::read_key`]).
    pub key: Option<ApiKey>,
    pub source: TargetSource,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub concurrency: usize,
    pub timeout: Duration,
    pub idle_timeout: Duration,
}

/// `api_key_env = "VAR"`: the variable's name, and its value once the run has read it. The
/// value never reaches a file: the recorder and the manifest replace it with `[redacted:VAR]`.
#[derive(Clone)]
pub struct ApiKey {
    pub env: String,
    pub value: Option<String>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey({})", self.env)
    }
}

#[derive(Debug, Clone)]
pub enum TargetSource {
    /// The embedded simulator (`builtin = "sim"`), started in-process for the run.
    Sim(SimModel),
    /// Servers someone else runs (`base_url` / `base_urls`); requests go round-robin.
    Remote(Remote),
    /// A server toolgate starts, watches and stops (`start = "…"`).
    Managed(ManagedSpec),
}

/// The simulator's two scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimModel {
    /// Every case answered as it expects.
    Strong,
    /// The failure patterns the golden suites are built to catch.
    Weak,
}

impl SimModel {
    pub fn as_str(self) -> &'static str {
        match self {
            SimModel::Strong => "sim-strong",
            SimModel::Weak => "sim-weak",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Remote {
    pub urls: Vec<String>,
    /// Azure's deployment and api-version, or OpenAI's organisation/project headers.
    pub api: Api,
    /// Through the hosted client (async-openai) even over plain http.
    pub force_hosted: bool,
}

/// Keys that only a managed target (`start`) takes.
const MANAGED_KEYS: [&str; 8] = [
    "env",
    "cwd",
    "health",
    "startup_timeout_s",
    "stop",
    "probes",
    "restart_on_exit",
    "port",
];
/// Keys that only a remote target (`base_url`) takes.
const REMOTE_KEYS: [&str; 5] = [
    "deployment",
    "api_version",
    "organization",
    "project",
    "hosted",
];

impl Target {
    /// The target `name` of a config, checked and typed, with `defaults` applied. Reads
    /// nothing outside the config (the key is read by [`Target::read_key`], a managed
    /// server's program is looked for by [`ManagedSpec::check_runnable`]).
    pub fn from_config(
        name: &str,
        t: &TargetConfig,
        defaults: &RunDefaults,
    ) -> Result<Target, String> {
        let sim = t.builtin.is_some();
        let profile = match &t.profile {
            Some(p) => p.parse::<Profile>().map_err(|_| {
                format!(
                    "unknown profile `{p}` (expected one of: {})",
                    Profile::ALL.map(Profile::as_str).join(", ")
                )
            })?,
            None if sim => Profile::Vllm,
            None => Profile::Openai,
        };
        let source = source(name, t, profile)?;
        let model = match (&source, &t.model, &t.deployment) {
            (TargetSource::Sim(m), _, _) => m.as_str().to_string(),
            (_, Some(m), _) => m.clone(),
            // Azure's deployment names the model; the body's `model` may be left out.
            (_, None, Some(d)) => d.clone(),
            (_, None, None) => return Err("needs `model`".into()),
        };
        let thinking = match &t.thinking {
            Some(o) => ThinkingMapping::Field {
                path: o.field.clone(),
                on: o.on.clone(),
                off: o.off.clone(),
            },
            None => profile.default_thinking(),
        };
        Ok(Target {
            name: name.to_string(),
            model,
            profile,
            thinking,
            limits: Limits {
                concurrency: t.concurrency.unwrap_or(defaults.concurrency).max(1),
                timeout: Duration::from_secs_f64(t.timeout_s.unwrap_or(defaults.timeout_s)),
                idle_timeout: Duration::from_secs_f64(
                    t.idle_timeout_s.unwrap_or(defaults.idle_timeout_s),
                ),
            },
            stream: t.stream.unwrap_or(true),
            extra_body: t.extra_body.clone(),
            key: t.api_key_env.clone().map(|env| ApiKey { env, value: None }),
            source,
        })
    }

    /// Reads the key from its variable; an unset or empty one is an error naming it.
    pub fn read_key(&mut self) -> Result<(), String> {
        if let Some(k) = &mut self.key {
            match std::env::var(&k.env) {
                Ok(v) if !v.is_empty() => k.value = Some(v),
                _ => {
                    return Err(format!(
                        "environment variable {} (api_key_env) is not set",
                        k.env
                    ))
                }
            }
        }
        Ok(())
    }

    pub fn is_sim(&self) -> bool {
        matches!(self.source, TargetSource::Sim(_))
    }

    /// The key's value, once read.
    pub fn api_key(&self) -> Option<&str> {
        self.key.as_ref().and_then(|k| k.value.as_deref())
    }

    /// Adds this target's key (if read) to `r`, named by its variable.
    pub fn add_secret(&self, r: &mut toolgate_core::redact::Redactor) {
        if let Some(ApiKey {
            env,
            value: Some(v),
        }) = &self.key
        {
            r.add(v, env);
        }
    }
}

/// Which of the three sources the table describes, with the keys of the others refused.
fn source(name: &str, t: &TargetConfig, profile: Profile) -> Result<TargetSource, String> {
    let given = given_keys(t);
    let refuse = |keys: &[&str], what: &str| -> Result<(), String> {
        match given.iter().find(|k| keys.contains(k)) {
            Some(k) => Err(format!("`{k}` is not for {what}")),
            None => Ok(()),
        }
    };
    if let Some(b) = &t.builtin {
        if b != "sim" {
            return Err(format!("unknown builtin `{b}` (expected `sim`)"));
        }
        let mut not_sim = vec!["base_url", "base_urls", "start", "api_key_env"];
        not_sim.extend(MANAGED_KEYS);
        not_sim.extend(REMOTE_KEYS);
        refuse(&not_sim, "the embedded simulator (`builtin = \"sim\"`)")?;
        let model = match t.model.as_deref() {
            None | Some("sim-strong") => SimModel::Strong,
            Some("sim-weak") => SimModel::Weak,
            Some(m) => {
                return Err(format!(
                    "the embedded simulator serves `sim-strong` and `sim-weak`, not `{m}`"
                ))
            }
        };
        return Ok(TargetSource::Sim(model));
    }
    if let Some(start) = &t.start {
        refuse(&REMOTE_KEYS, "a managed target (`start`)")?;
        return ManagedSpec::from_config(name, t, start).map(TargetSource::Managed);
    }
    refuse(
        &MANAGED_KEYS,
        "a target without `start` (toolgate manages only servers it starts)",
    )?;
    let mut urls: Vec<String> = t.base_url.iter().cloned().collect();
    urls.extend(t.base_urls.iter().cloned());
    if urls.is_empty() {
        return Err("needs `base_url` (or `base_urls`, or `builtin = \"sim\"`)".into());
    }
    for u in &urls {
        check_url(u)?;
    }
    Ok(TargetSource::Remote(Remote {
        urls,
        api: hosted_api(t, profile)?,
        force_hosted: t.hosted.unwrap_or(false),
    }))
}

/// The keys a table sets, by their `toolgate.toml` names.
fn given_keys(t: &TargetConfig) -> Vec<&'static str> {
    [
        ("base_url", t.base_url.is_some()),
        ("base_urls", !t.base_urls.is_empty()),
        ("start", t.start.is_some()),
        ("api_key_env", t.api_key_env.is_some()),
        ("deployment", t.deployment.is_some()),
        ("api_version", t.api_version.is_some()),
        ("organization", t.organization.is_some()),
        ("project", t.project.is_some()),
        ("hosted", t.hosted.is_some()),
        ("env", !t.env.is_empty()),
        ("cwd", t.cwd.is_some()),
        ("health", t.health.is_some()),
        ("startup_timeout_s", t.startup_timeout_s.is_some()),
        ("stop", t.stop.is_some()),
        ("probes", !t.probes.is_empty()),
        ("restart_on_exit", t.restart_on_exit.is_some()),
        ("port", t.port.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect()
}

/// The API a remote target speaks, decided by its profile: the hosted-API keys each only with
/// their profile, Azure's required ones present, and values that cannot change the URL or
/// break a header.
fn hosted_api(t: &TargetConfig, profile: Profile) -> Result<Api, String> {
    let p = profile.as_str();
    let azure = profile == Profile::Azure;
    for (key, v, example) in [
        ("deployment", &t.deployment, "deployment = \"gpt-4o-mini\""),
        (
            "api_version",
            &t.api_version,
            "api_version = \"2024-10-21\"",
        ),
    ] {
        match v {
            Some(_) if !azure => {
                return Err(format!(
                    "`{key}` is only for profile = \"azure\" (this target's profile is `{p}`)"
                ))
            }
            Some(v)
                if v.is_empty()
                    || !v
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
            {
                return Err(format!(
                    "`{key}` = {v:?}: expected letters, digits, '-', '_' or '.'"
                ))
            }
            None if azure => {
                return Err(format!(
                    "profile = \"azure\" needs `{key}` (e.g. {example})"
                ))
            }
            _ => {}
        }
    }
    if azure && t.api_key_env.is_none() {
        return Err(
            "profile = \"azure\" needs `api_key_env` (the variable holding the resource's key)"
                .into(),
        );
    }
    for (key, v) in [("organization", &t.organization), ("project", &t.project)] {
        match v {
            Some(_) if profile != Profile::Openai => {
                return Err(format!(
                    "`{key}` is only for profile = \"openai\" (this target's profile is `{p}`)"
                ))
            }
            Some(v) if v.is_empty() || v.chars().any(|c| c.is_control()) => {
                return Err(format!("`{key}` must be a non-empty single-line value"))
            }
            _ => {}
        }
    }
    Ok(match (profile, &t.deployment, &t.api_version) {
        (Profile::Azure, Some(deployment), Some(api_version)) => Api::Azure {
            deployment: deployment.clone(),
            api_version: api_version.clone(),
        },
        _ => Api::OpenAi {
            organization: t.organization.clone(),
            project: t.project.clone(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(toml_body: &str) -> Result<Target, String> {
        let t: TargetConfig = toml::from_str(toml_body).map_err(|e| e.to_string())?;
        Target::from_config("t", &t, &RunDefaults::default())
    }

    #[test]
    fn each_source_is_typed_with_its_defaults() {
        let sim = target("builtin = \"sim\"\nmodel = \"sim-weak\"\n").unwrap();
        assert!(matches!(sim.source, TargetSource::Sim(SimModel::Weak)));
        assert_eq!(
            (sim.model.as_str(), sim.profile),
            ("sim-weak", Profile::Vllm)
        );
        assert_eq!(sim.limits.concurrency, 4);

        let remote = target(
            "base_urls = [\"http://a:1/v1\", \"http://b:2/v1\"]\nmodel = \"m\"\nconcurrency = 2\n",
        )
        .unwrap();
        let TargetSource::Remote(r) = &remote.source else {
            panic!("{remote:?}")
        };
        assert_eq!(r.urls.len(), 2);
        assert_eq!(
            (remote.profile, remote.limits.concurrency),
            (Profile::Openai, 2)
        );

        let managed = target("start = \"srv --port {port}\"\nmodel = \"m\"\nport = 9\n").unwrap();
        assert!(matches!(managed.source, TargetSource::Managed(_)));
    }

    #[test]
    fn the_profile_decides_the_api() {
        let azure = target(
            "base_url = \"https://r.openai.azure.com\"\nprofile = \"azure\"\ndeployment = \"d\"\napi_version = \"2024-10-21\"\napi_key_env = \"K\"\n",
        )
        .unwrap();
        let TargetSource::Remote(r) = &azure.source else {
            panic!("{azure:?}")
        };
        assert!(matches!(&r.api, Api::Azure { deployment, .. } if deployment == "d"));
        // The deployment names the model when `model` is left out.
        assert_eq!(azure.model, "d");

        let openai = target(
            "base_url = \"https://api.example/v1\"\nmodel = \"m\"\norganization = \"org\"\n",
        )
        .unwrap();
        let TargetSource::Remote(r) = &openai.source else {
            panic!("{openai:?}")
        };
        assert!(matches!(&r.api, Api::OpenAi { organization: Some(o), .. } if o == "org"));
    }

    #[test]
    fn keys_of_another_source_are_refused_by_name() {
        for (body, needle) in [
            (
                "builtin = \"sim\"\nbase_url = \"http://a:1/v1\"\n",
                "`base_url` is not for the embedded simulator",
            ),
            (
                "builtin = \"sim\"\nmodel = \"gpt-4o\"\n",
                "serves `sim-strong` and `sim-weak`, not `gpt-4o`",
            ),
            (
                "base_url = \"http://a:1/v1\"\nmodel = \"m\"\nport = 8000\n",
                "`port` is not for a target without `start`",
            ),
            (
                "start = \"srv {port}\"\nmodel = \"m\"\nhosted = true\n",
                "`hosted` is not for a managed target",
            ),
            ("base_url = \"http://a:1/v1\"\n", "needs `model`"),
            (
                "base_url = \"http://a:1/v1\"\nmodel = \"m\"\nprofile = \"vlm\"\n",
                "unknown profile `vlm`",
            ),
        ] {
            let e = target(body).unwrap_err();
            assert!(e.contains(needle), "{body}: {e}");
        }
    }

    #[test]
    fn a_key_is_read_from_its_variable_and_never_shown() {
        let mut t = target(
            "base_url = \"http://a:1/v1\"\nmodel = \"m\"\napi_key_env = \"TOOLGATE_TEST_UNSET_KEY_VAR\"\n",
        )
        .unwrap();
        let e = t.read_key().unwrap_err();
        assert!(e.contains("TOOLGATE_TEST_UNSET_KEY_VAR"), "{e}");
        t.key.as_mut().unwrap().value = Some("s3cret".into());
        assert!(!format!("{t:?}").contains("s3cret"));
        assert_eq!(t.api_key(), Some("s3cret"));
    }
}
