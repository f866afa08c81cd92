//! Provider profiles and how the thinking variant maps onto a request body
//! (docs/case-format.md#thinking-variants).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;

/// The kind of server behind a target. Decides the default thinking mapping; response
/// parsing is the same for every profile (every dialect is accepted everywhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    Vllm,
    Sglang,
    Llamacpp,
    Ollama,
    Nim,
    Openai,
    /// Azure OpenAI: deployments, `api-version`, `api-key` (always the hosted path).
    Azure,
}

impl Profile {
    pub const ALL: [Profile; 7] = [
        Profile::Vllm,
        Profile::Sglang,
        Profile::Llamacpp,
        Profile::Ollama,
        Profile::Nim,
        Profile::Openai,
        Profile::Azure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Vllm => "vllm",
            Profile::Sglang => "sglang",
            Profile::Llamacpp => "llamacpp",
            Profile::Ollama => "ollama",
            Profile::Nim => "nim",
            Profile::Openai => "openai",
            Profile::Azure => "azure",
        }
    }

    /// docs/case-format.md#thinking-variants: vllm/sglang/llamacpp/nim → `chat_template_kwargs.enable_thinking`,
    /// ollama → `think`, openai and azure → `reasoning_effort`.
    pub fn default_thinking(self) -> ThinkingMapping {
        match self {
            Profile::Vllm | Profile::Sglang | Profile::Llamacpp | Profile::Nim => {
                ThinkingMapping::TemplateKwarg {
                    key: "enable_thinking".into(),
                }
            }
            Profile::Ollama => ThinkingMapping::OllamaThink,
            // OpenAI's default effort is `medium`; `none` is the documented "off" on
            // models that allow it.
            Profile::Openai | Profile::Azure => ThinkingMapping::ReasoningEffort {
                on: "medium".into(),
                off: "none".into(),
            },
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which server answered, from what [`crate::Client::metadata`] gathered: `owned_by` in
/// `/v1/models` (vLLM, SGLang, llama.cpp; Ollama says `library`), then Ollama's
/// `/api/version`, then llama.cpp's `/props`. Returns the profile and the evidence, or
/// `None` when nothing identifies the server.
pub fn detect(metadata: &Value) -> Option<(Profile, String)> {
    let probes = metadata.as_object()?;
    for (key, v) in probes {
        if !key.ends_with("models") || v["status"].as_u64() != Some(200) {
            continue;
        }
        for m in v["body"]["data"].as_array().into_iter().flatten() {
            let owner = m["owned_by"].as_str().unwrap_or_default();
            let p = match owner {
                "vllm" => Profile::Vllm,
                "sglang" => Profile::Sglang,
                "llamacpp" => Profile::Llamacpp,
                "library" | "ollama" => Profile::Ollama,
                _ => continue,
            };
            return Some((p, format!("GET {key}: owned_by = {owner}")));
        }
    }
    let ok = |k: &str| probes.get(k).filter(|v| v["status"].as_u64() == Some(200));
    if ok("/api/version").is_some_and(|v| v["body"]["version"].is_string()) {
        return Some((Profile::Ollama, "GET /api/version answered (Ollama)".into()));
    }
    if ok("/props").is_some_and(|v| v["body"]["default_generation_settings"].is_object()) {
        return Some((
            Profile::Llamacpp,
            "GET /props answered with default_generation_settings (llama.cpp)".into(),
        ));
    }
    None
}

/// Error for an unknown profile name; lists the accepted ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown profile `{0}` (expected one of: vllm, sglang, llamacpp, ollama, nim, openai, azure)"
)]
pub struct UnknownProfile(pub String);

impl FromStr for Profile {
    type Err = UnknownProfile;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownProfile(s.to_string()))
    }
}

/// How `thinking=on|off` becomes request fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ThinkingMapping {
    /// `chat_template_kwargs.<key> = true|false` (merged into an existing object).
    TemplateKwarg { key: String },
    /// Ollama: `think = true|false`.
    OllamaThink,
    /// `reasoning_effort = on|off`.
    ReasoningEffort { on: String, off: String },
    /// Any field, by dotted path (`a.b.c`), set to `on` or `off`.
    Field { path: String, on: Value, off: Value },
    /// The target has no thinking switch: nothing is added.
    None,
}

/// Applies the thinking variant to a request body. `thinking == None` (no variant) leaves
/// the body untouched. The variant overwrites a value already present (e.g. from
/// `extra_body`), because a variant that silently did nothing would mislabel the trial.
pub fn apply_thinking(
    mapping: &ThinkingMapping,
    thinking: Option<bool>,
    body: &mut Map<String, Value>,
) {
    let Some(on) = thinking else { return };
    match mapping {
        ThinkingMapping::TemplateKwarg { key } => {
            set_path(
                body,
                &["chat_template_kwargs", key.as_str()],
                Value::Bool(on),
            );
        }
        ThinkingMapping::OllamaThink => {
            body.insert("think".into(), Value::Bool(on));
        }
        ThinkingMapping::ReasoningEffort { on: on_v, off } => {
            let v = if on { on_v } else { off };
            body.insert("reasoning_effort".into(), Value::String(v.clone()));
        }
        ThinkingMapping::Field {
            path,
            on: on_v,
            off,
        } => {
            let parts: Vec<&str> = path.split('.').collect();
            set_path(body, &parts, if on { on_v.clone() } else { off.clone() });
        }
        ThinkingMapping::None => {}
    }
}

/// Sets `body[p0][p1]…[pn] = value`, creating objects on the way and replacing any
/// non-object found in the middle of the path.
fn set_path(body: &mut Map<String, Value>, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = body;
    for p in parents {
        let slot = cur
            .entry((*p).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        cur = slot.as_object_mut().expect("just made an object");
    }
    cur.insert((*last).to_string(), value);
}

#[cfg(test)]
mod tests {

    #[test]
    fn detects_the_server_from_its_metadata() {
        let models = |owner: &str| serde_json::json!({"/v1/models": {"status": 200, "body": {"data": [{"id": "m", "owned_by": owner}]}}});
        assert_eq!(detect(&models("vllm")).unwrap().0, Profile::Vllm);
        assert_eq!(detect(&models("sglang")).unwrap().0, Profile::Sglang);
        assert_eq!(detect(&models("llamacpp")).unwrap().0, Profile::Llamacpp);
        let (p, why) = detect(&models("library")).unwrap();
        assert_eq!(
            (p, why.as_str()),
            (Profile::Ollama, "GET /v1/models: owned_by = library")
        );
        assert_eq!(detect(&models("openai")), None);
        let ollama =
            serde_json::json!({"/api/version": {"status": 200, "body": {"version": "0.12.0"}}});
        assert_eq!(detect(&ollama).unwrap().0, Profile::Ollama);
        let llama = serde_json::json!({"/props": {"status": 200, "body": {"default_generation_settings": {}}}});
        assert_eq!(detect(&llama).unwrap().0, Profile::Llamacpp);
        let down = serde_json::json!({"/v1/models": {"error": "connection refused"}});
        assert_eq!(detect(&down), None);
    }

    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn profiles_round_trip_names() {
        for p in Profile::ALL {
            assert_eq!(p.to_string().parse::<Profile>().unwrap(), p);
            assert_eq!(serde_json::to_value(p).unwrap(), json!(p.as_str()));
        }
        let err = "llama.cpp".parse::<Profile>().unwrap_err();
        assert!(err.to_string().contains("llamacpp"));
    }

    #[test]
    fn template_kwarg_merges_into_existing_kwargs() {
        let mut b = body(json!({"model": "m", "chat_template_kwargs": {"clear_thinking": false}}));
        apply_thinking(&Profile::Vllm.default_thinking(), Some(false), &mut b);
        assert_eq!(
            b["chat_template_kwargs"],
            json!({"clear_thinking": false, "enable_thinking": false})
        );
        apply_thinking(&Profile::Sglang.default_thinking(), Some(true), &mut b);
        assert_eq!(b["chat_template_kwargs"]["enable_thinking"], json!(true));
    }

    #[test]
    fn per_profile_defaults() {
        let mut b = Map::new();
        apply_thinking(&Profile::Ollama.default_thinking(), Some(false), &mut b);
        assert_eq!(Value::Object(b), json!({"think": false}));

        let mut b = Map::new();
        apply_thinking(&Profile::Openai.default_thinking(), Some(false), &mut b);
        assert_eq!(Value::Object(b), json!({"reasoning_effort": "none"}));
        let mut b = Map::new();
        apply_thinking(&Profile::Openai.default_thinking(), Some(true), &mut b);
        assert_eq!(
            Profile::Azure.default_thinking(),
            Profile::Openai.default_thinking()
        );
        assert_eq!(Value::Object(b), json!({"reasoning_effort": "medium"}));

        for p in [Profile::Llamacpp, Profile::Nim] {
            let mut b = Map::new();
            apply_thinking(&p.default_thinking(), Some(true), &mut b);
            assert_eq!(
                Value::Object(b),
                json!({"chat_template_kwargs": {"enable_thinking": true}})
            );
        }
    }

    #[test]
    fn no_variant_and_none_mapping_leave_body_alone() {
        let orig = body(json!({"model": "m"}));
        let mut b = orig.clone();
        apply_thinking(&Profile::Vllm.default_thinking(), None, &mut b);
        assert_eq!(b, orig);
        apply_thinking(&ThinkingMapping::None, Some(true), &mut b);
        assert_eq!(b, orig);
    }

    #[test]
    fn dotted_field_creates_and_replaces_path() {
        let m = ThinkingMapping::Field {
            path: "nvext.max_thinking_tokens".into(),
            on: json!(1024),
            off: json!(0),
        };
        let mut b = body(json!({"nvext": "not an object"}));
        apply_thinking(&m, Some(false), &mut b);
        assert_eq!(b["nvext"], json!({"max_thinking_tokens": 0}));
        apply_thinking(&m, Some(true), &mut b);
        assert_eq!(b["nvext"], json!({"max_thinking_tokens": 1024}));
    }

    #[test]
    fn mapping_serde_shape() {
        let m: ThinkingMapping =
            serde_json::from_value(json!({"kind": "template_kwarg", "key": "thinking"})).unwrap();
        assert_eq!(
            m,
            ThinkingMapping::TemplateKwarg {
                key: "thinking".into()
            }
        );
        let m: ThinkingMapping = serde_json::from_value(json!({"kind": "none"})).unwrap();
        assert_eq!(m, ThinkingMapping::None);
    }
}
