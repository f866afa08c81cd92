//! Stable output: one redaction shared by snapshot tests and `--stable-output`, so two runs
//! of the same plan give byte-identical reports wherever the model behaved the same.

use crate::run::RunData;
use crate::run::TimingMeta;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub const TIME: &str = "[time]";
pub const VERSION: &str = "[version]";
pub const PATH: &str = "[path]";

/// A copy of `run` with wall-clock times, durations, paths and versions replaced:
///
/// - timestamps (`started_at`, `finished_at`) → `[time]`;
/// - toolgate and grader versions → `[version]`; server metadata values under keys that
///   name a version, build, commit, time or date → `[version]`/`[time]`;
/// - the run folder → `[path]`, suite paths → `[path]/<file name>`, config values under
///   path-like keys → `[path]`;
/// - every measured duration and rate (TTFT, E2E, decode tok/s, inter-token gaps, retry
///   waits, server timings) → 0, keeping which values were present, so counts stay real.
///
/// Outcomes, diagnoses, token counts, hashes and raw messages are kept.
pub fn redact(run: &RunData) -> RunData {
    let mut r = run.clone();
    r.dir = PathBuf::from(PATH);
    let m = &mut r.manifest;
    m.started_at = TIME.into();
    if m.finished_at.is_some() {
        m.finished_at = Some(TIME.into());
    }
    m.toolgate_version = VERSION.into();
    for s in &mut m.suites {
        s.path = redact_path(&s.path);
    }
    for t in &mut m.targets {
        redact_value(&mut t.metadata, None);
        if let Some(s) = &mut t.server {
            redact_value(s, None);
            zero_numbers(s);
        }
    }
    redact_value(&mut m.config, None);
    for resp in &mut r.responses {
        resp.started_at = TIME.into();
        for t in &mut resp.turns {
            zero_timing(&mut t.timing);
            if let Some(st) = &mut t.server_timings {
                zero(&mut st.predicted_per_second);
                zero(&mut st.prompt_ms);
            }
        }
    }
    for g in &mut r.grades {
        g.grader_version = VERSION.into();
    }
    r
}

fn redact_path(p: &str) -> String {
    match Path::new(p).file_name() {
        Some(name) => format!("{PATH}/{}", name.to_string_lossy()),
        None => PATH.into(),
    }
}

fn zero(x: &mut Option<f64>) {
    if x.is_some() {
        *x = Some(0.0);
    }
}

fn zero_timing(t: &mut TimingMeta) {
    t.e2e_ms = 0.0;
    zero(&mut t.ttft_ms);
    zero(&mut t.ttft_content_ms);
    zero(&mut t.last_token_ms);
    zero(&mut t.decode_tps);
    zero(&mut t.server_decode_tps);
    t.itl_ms = Box::default();
}

fn zero_numbers(v: &mut Value) {
    match v {
        Value::Number(_) => *v = Value::from(0),
        Value::Array(a) => a.iter_mut().for_each(zero_numbers),
        Value::Object(o) => o.values_mut().for_each(zero_numbers),
        _ => {}
    }
}

/// What a key's value says about the machine or the moment, judged by its name.
fn volatile_key(key: &str) -> Option<&'static str> {
    let k = key.to_ascii_lowercase();
    if ["version", "build", "commit", "sha", "fingerprint"]
        .iter()
        .any(|w| k.contains(w))
        && !k.ends_with("sha256")
    {
        Some(VERSION)
    } else if ["time", "date", "created", "started", "finished", "uptime"]
        .iter()
        .any(|w| k.contains(w))
    {
        Some(TIME)
    } else if ["path", "dir", "file", "cwd", "out"]
        .iter()
        .any(|w| k == *w || k.ends_with(&format!("_{w}")) || k.starts_with(&format!("{w}_")))
    {
        Some(PATH)
    } else {
        None
    }
}

fn redact_value(v: &mut Value, replacement: Option<&'static str>) {
    match v {
        Value::Object(o) => {
            for (k, val) in o.iter_mut() {
                redact_value(val, volatile_key(k).or(replacement));
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact_value(x, replacement)),
        Value::Null => {}
        _ => {
            if let Some(r) = replacement {
                *v = Value::String(r.into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_redaction_by_key() {
        let mut v = json!({
            "build_info": "b1234-abc", "model_path": "/models/q.gguf",
            "data": [{"id": "qwen", "created": 1700000000}],
            "n_ctx": 8192, "prompt_sha256": "keep"
        });
        redact_value(&mut v, None);
        assert_eq!(
            v,
            json!({
                "build_info": "[version]", "model_path": "[path]",
                "data": [{"id": "qwen", "created": "[time]"}],
                "n_ctx": 8192, "prompt_sha256": "keep"
            })
        );
    }

    #[test]
    fn suite_paths_keep_the_file_name() {
        assert_eq!(redact_path("/home/u/cases/voice.yaml"), "[path]/voice.yaml");
    }
}
