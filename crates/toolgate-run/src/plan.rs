//! Turning (targets × suites × prompts × variants × repeats) into trials, and each trial
//! into request bodies. Pure: no I/O, so the plan can be hashed, sharded and tested.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use toolgate_core::prompt::{PromptContext, Prompts};
use toolgate_core::text::sha256_hex;
use toolgate_core::{Case, CaseInput, Message, Suite, TrialKey};

/// One planned trial.
#[derive(Debug, Clone)]
pub struct Trial {
    pub key: TrialKey,
    pub suite: usize,
    pub case: usize,
    /// Prompt template to render as the system message (`None`: none).
    pub prompt: Option<String>,
    pub thinking: Option<bool>,
    pub warmup: bool,
}

pub fn variant_label(thinking: Option<bool>) -> String {
    match thinking {
        Some(true) => "thinking=on".into(),
        Some(false) => "thinking=off".into(),
        None => "default".into(),
    }
}

/// Parse `--thinking on|off|both`.
pub fn parse_thinking(s: &str) -> Result<Vec<Option<bool>>, String> {
    match s {
        "on" => Ok(vec![Some(true)]),
        "off" => Ok(vec![Some(false)]),
        "both" => Ok(vec![Some(false), Some(true)]),
        "default" | "none" => Ok(vec![None]),
        other => Err(format!("--thinking {other}: expected on, off or both")),
    }
}

/// Parse `--shard I/N` (1-based).
pub fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("--shard {s}: expected I/N, e.g. 2/4"))?;
    let i: u64 = i
        .trim()
        .parse()
        .map_err(|_| format!("--shard {s}: I is not a number"))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|_| format!("--shard {s}: N is not a number"))?;
    if n == 0 || i == 0 || i > n {
        return Err(format!("--shard {s}: expected 1 ≤ I ≤ N"));
    }
    Ok((i, n))
}

/// Stable shard of a trial: a hash of its id (not of its position), so every machine
/// agrees whatever order it lists suites in.
pub fn shard_of(key: &TrialKey, n: u64) -> u64 {
    let h = sha256_hex(key.id().as_bytes());
    let v = u64::from_str_radix(&h[..16], 16).unwrap_or(0);
    v % n + 1
}

pub struct PlanInput<'a> {
    pub targets: &'a [String],
    pub suites: &'a [Suite],
    /// Prompt override(s); empty = each suite's own prompt.
    pub prompts: &'a [String],
    pub thinking: &'a [Option<bool>],
    pub repeats: u32,
    pub warmup: u32,
    pub tags: &'a [String],
    pub shard: Option<(u64, u64)>,
}

/// All trials, ordered target-major then suite/case/prompt/variant/repeat.
pub fn plan(p: &PlanInput<'_>) -> Vec<Trial> {
    let mut out = Vec::new();
    for target in p.targets {
        for (si, s) in p.suites.iter().enumerate() {
            let prompts: Vec<Option<String>> = if p.prompts.is_empty() {
                vec![s.prompt.clone()]
            } else {
                p.prompts.iter().cloned().map(Some).collect()
            };
            for (ci, c) in s.cases.iter().enumerate() {
                if !p.tags.is_empty() && !c.tags.iter().any(|t| p.tags.contains(t)) {
                    continue;
                }
                for prompt in &prompts {
                    for &th in p.thinking {
                        let trial = |repeat: u32, warmup: bool| Trial {
                            key: TrialKey {
                                target: target.clone().into(),
                                suite: s.name.clone().into(),
                                case: c.id.clone().into(),
                                prompt: prompt.clone().unwrap_or_else(|| "-".into()).into(),
                                variant: variant_label(th).into(),
                                repeat,
                            },
                            suite: si,
                            case: ci,
                            prompt: prompt.clone(),
                            thinking: th,
                            warmup,
                        };
                        out.extend((0..p.warmup).map(|w| trial(w, true)));
                        out.extend((0..p.repeats).map(|r| trial(r, false)));
                    }
                }
            }
        }
    }
    if let Some((i, n)) = p.shard {
        out.retain(|t| shard_of(&t.key, n) == i);
    }
    out
}

/// Renders system prompts once per (suite, case vars, prompt) and caches them.
pub struct PromptCache<'a> {
    pub prompts: &'a Prompts,
    pub today: String,
    pub run_vars: BTreeMap<String, Value>,
    /// Shared, not copied: every trial of a prompt holds the same text (a 10k-trial plan
    /// would otherwise hold 10k copies of a ~4 KB prompt).
    cache: BTreeMap<(String, String, String), Result<Arc<str>, String>>,
}

impl<'a> PromptCache<'a> {
    pub fn new(prompts: &'a Prompts, today: String, run_vars: BTreeMap<String, Value>) -> Self {
        PromptCache {
            prompts,
            today,
            run_vars,
            cache: BTreeMap::new(),
        }
    }

    /// The rendered system prompt for a trial, or a message naming the template error.
    pub fn render(&mut self, suite: &Suite, case: &Case, prompt: &str) -> Result<Arc<str>, String> {
        let vars_key = serde_json::to_string(&case.vars).unwrap_or_default();
        let key = (suite.name.clone(), vars_key, prompt.to_string());
        if let Some(v) = self.cache.get(&key) {
            return v.clone();
        }
        let ctx = PromptContext {
            tools: Some(&suite.tools),
            today: self.today.clone(),
            suite: suite.name.clone(),
            vars: vec![&case.vars, &self.run_vars],
        };
        let r = self
            .prompts
            .render(prompt, &ctx)
            .map(Arc::from)
            .map_err(|d| d.to_string());
        self.cache.insert(key, r.clone());
        r
    }
}

/// The request body of one request (without `stream` fields and without the thinking
/// variant, which the client applies per profile).
pub fn request_body(
    model: &str,
    suite: &Suite,
    case: &Case,
    messages: &[Value],
    target_extra: &BTreeMap<String, Value>,
) -> Map<String, Value> {
    let mut b = Map::new();
    b.insert("model".into(), Value::String(model.to_string()));
    b.insert("messages".into(), Value::Array(messages.to_vec()));
    if !suite.tools.is_empty() {
        b.insert("tools".into(), Value::Array(suite.tools.to_openai()));
        if let Some(tc) = &case.params.tool_choice {
            b.insert("tool_choice".into(), tc.clone());
        }
        if let Some(p) = case.params.parallel_tool_calls {
            b.insert("parallel_tool_calls".into(), Value::Bool(p));
        }
    }
    let p = &case.params;
    if let Some(v) = p.max_tokens {
        b.insert("max_tokens".into(), v.into());
    }
    if let Some(v) = p.temperature {
        b.insert("temperature".into(), v.into());
    }
    if let Some(v) = p.top_p {
        b.insert("top_p".into(), v.into());
    }
    if let Some(v) = p.seed {
        b.insert("seed".into(), v.into());
    }
    if let Some(v) = &p.response_format {
        b.insert("response_format".into(), v.clone());
    }
    for (k, v) in p.extra_body.iter().chain(target_extra.iter()) {
        merge_field(&mut b, k, v);
    }
    b
}

/// Merge objects one level deep (so `chat_template_kwargs` from two places combine).
fn merge_field(b: &mut Map<String, Value>, k: &str, v: &Value) {
    match (b.get_mut(k), v) {
        (Some(Value::Object(existing)), Value::Object(new)) => {
            for (nk, nv) in new {
                existing.insert(nk.clone(), nv.clone());
            }
        }
        _ => {
            b.insert(k.to_string(), v.clone());
        }
    }
}

/// The initial wire messages of a single-request case: system prompt + the case's messages.
pub fn initial_messages(system: Option<&str>, case: &Case) -> Vec<Value> {
    let mut out = Vec::new();
    let has_own_system = matches!(&case.input, CaseInput::Messages(ms) if ms.first().is_some_and(|m| m.role == toolgate_core::Role::System));
    if let (Some(s), false) = (system, has_own_system) {
        out.push(Message::system(s).to_wire());
    }
    if let CaseInput::Messages(ms) = &case.input {
        out.extend(ms.iter().map(Message::to_wire));
    }
    out
}

/// A hash over what defines the plan, for resume checks.
pub fn plan_hash(suites: &[Suite], trials: &[Trial], config: &Value) -> String {
    let mut s = String::new();
    for su in suites {
        s.push_str(&su.name);
        s.push(':');
        s.push_str(&su.sha256);
        s.push('\n');
    }
    for t in trials {
        s.push_str(&t.key.id());
        s.push_str(if t.warmup { ":w\n" } else { "\n" });
    }
    s.push_str(&config.to_string());
    sha256_hex(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_trials() {
        let keys: Vec<TrialKey> = (0..200)
            .map(|i| TrialKey {
                target: "t".into(),
                suite: "s".into(),
                case: format!("c{i}").into(),
                prompt: "-".into(),
                variant: "thinking=off".into(),
                repeat: 0,
            })
            .collect();
        let mut counts = [0u32; 4];
        for k in &keys {
            let s = shard_of(k, 4);
            assert!((1..=4).contains(&s));
            counts[(s - 1) as usize] += 1;
        }
        assert_eq!(counts.iter().sum::<u32>(), 200);
        assert!(counts.iter().all(|&c| c > 20), "{counts:?}");
    }

    #[test]
    fn shard_and_thinking_parse() {
        assert_eq!(parse_shard("2/4").unwrap(), (2, 4));
        assert!(parse_shard("5/4").is_err());
        assert!(parse_shard("x").is_err());
        assert_eq!(parse_thinking("both").unwrap().len(), 2);
        assert!(parse_thinking("maybe").is_err());
    }
}
