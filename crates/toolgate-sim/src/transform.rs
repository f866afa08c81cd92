//! Transforms: each turns the oracle's passing answer into one named failure
//! (docs/failure-kinds.md), keeping everything else right so the grader's primary kind is that failure.

use crate::oracle::{expectation_for, fill_required};
use crate::script::{CallFormat, Transform};
use serde_json::{json, Map, Value};
use toolgate_core::model::{CallSet, Case, Gates};
use toolgate_core::text::fold;
use toolgate_core::tools::{Tool, ToolSet};
use toolgate_core::{AssistantMessage, OutputSource, RawToolCall, Suite};

/// An answer before it is put on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub message: AssistantMessage,
    pub finish_reason: String,
}

impl Answer {
    /// Wrap a message with the finish reason a server would give it.
    pub fn new(message: AssistantMessage) -> Answer {
        let finish_reason = if message.tool_calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        Answer {
            message,
            finish_reason: finish_reason.to_string(),
        }
    }
}

/// What a transform may look at.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    pub suite: Option<&'a Suite>,
    pub case: Option<&'a Case>,
    pub turn: usize,
}

impl<'a> Context<'a> {
    fn tools(&self) -> Option<&'a ToolSet> {
        self.suite.map(|s| s.tools.as_ref())
    }
    fn tool(&self, name: &str) -> Option<&'a Tool> {
        self.tools().and_then(|t| t.get(name))
    }
    fn gates(&self) -> Gates {
        self.case
            .map(|c| expectation_for(c, self.turn).gates.clone())
            .unwrap_or_default()
    }
    /// Tool names any alternative of the expectation names.
    fn expected_tools(&self) -> Vec<String> {
        let Some(c) = self.case else { return vec![] };
        let Some(tx) = &expectation_for(c, self.turn).tools else {
            return vec![];
        };
        tx.alternatives
            .iter()
            .flat_map(|a| match a {
                CallSet::Calls { calls, .. } => calls.iter().map(|c| c.name.clone()).collect(),
                CallSet::NoCall => vec![],
            })
            .collect()
    }
    fn extraction_tool(&self) -> Option<String> {
        let c = self.case?;
        match &expectation_for(c, self.turn).extraction.as_ref()?.output {
            OutputSource::Tool(n) => Some(n.clone()),
            OutputSource::Content => None,
        }
    }
    fn extraction_schema(&self) -> Option<&'a Value> {
        let c = self.case?;
        let ex = expectation_for(c, self.turn).extraction.as_ref()?;
        ex.schema.as_ref().map(|s| &s.schema)
    }
}

const GENERIC_TEXT: &str =
    "I don't have a tool result for this, so here is my best answer from what I know.";

/// Apply a transform to the oracle's answer.
pub fn apply(t: &Transform, mut a: Answer, cx: &Context<'_>) -> Answer {
    let m = &mut a.message;
    match t {
        Transform::Oracle => {}
        Transform::AnswerInText { text } => {
            m.tool_calls.clear();
            m.content = Some(text.clone().unwrap_or_else(|| GENERIC_TEXT.to_string()));
            a.finish_reason = "stop".into();
        }
        Transform::WrongTool { tool } => {
            let expected = cx.expected_tools();
            let name = tool.clone().or_else(|| {
                cx.tools().and_then(|ts| {
                    ts.tools
                        .iter()
                        .map(|t| t.name.clone())
                        .find(|n| !expected.contains(n))
                })
            });
            let name = name.unwrap_or_else(|| "web_search".to_string());
            if m.tool_calls.is_empty() {
                m.tool_calls.push(call(&name, Value::Object(Map::new())));
            }
            let seed = first_string(&m.tool_calls[0]);
            m.tool_calls[0].arguments = args_value(args_for_tool(cx.tool(&name), seed));
            m.tool_calls[0].name = name;
            m.content = None;
            a.finish_reason = "tool_calls".into();
        }
        Transform::CallInContent { format } => {
            let text = calls_as_text(&m.tool_calls, *format);
            m.tool_calls.clear();
            m.content = Some(text);
            a.finish_reason = "stop".into();
        }
        Transform::ReasoningOnly => {
            let mut r = m.reasoning.take().unwrap_or_default();
            let answer = match (&m.content, m.tool_calls.is_empty()) {
                // Prose, not call syntax: a call written inside reasoning is graded
                // call_in_content, which is a different failure.
                (_, false) => {
                    let names: Vec<&str> = m.tool_calls.iter().map(|c| c.name.as_str()).collect();
                    format!(
                        "I think the right tool here is {}, so that is what I would use.",
                        names.join(" and then ")
                    )
                }
                (Some(c), true) => c.clone(),
                (None, true) => GENERIC_TEXT.to_string(),
            };
            if !r.is_empty() {
                r.push('\n');
            }
            r.push_str(&answer);
            m.reasoning = Some(r);
            m.content = Some(String::new());
            m.tool_calls.clear();
            a.finish_reason = "stop".into();
        }
        Transform::ThinkingLeak => {
            let thought = m
                .reasoning
                .clone()
                .unwrap_or_else(|| "The user wants an answer. Let me think it through.".into());
            let rest = m.content.take().unwrap_or_default();
            m.content = Some(format!("<think>\n{thought}\n</think>\n\n{rest}"));
        }
        Transform::Markdown => {
            let base = m.content.clone().filter(|c| !c.trim().is_empty());
            let base = base.unwrap_or_else(|| GENERIC_TEXT.to_string());
            let bullets: Vec<String> = base
                .split_inclusive(['.', '!', '?'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| format!("- {s}"))
                .collect();
            m.content = Some(format!("**Answer**\n\n{}", bullets.join("\n")));
        }
        Transform::DropCall => {
            m.tool_calls.pop();
            if m.tool_calls.is_empty() {
                m.content = Some(GENERIC_TEXT.to_string());
                a.finish_reason = "stop".into();
            }
        }
        Transform::ExtraCall { tool } => {
            let extra = match (tool, m.tool_calls.last()) {
                (Some(name), last) => {
                    let seed = last.and_then(first_string);
                    call(name, args_value(args_for_tool(cx.tool(name), seed)))
                }
                (None, Some(last)) => call(&last.name, last.arguments.clone()),
                (None, None) => {
                    let name = first_tool_name(cx);
                    call(&name, args_value(args_for_tool(cx.tool(&name), None)))
                }
            };
            m.tool_calls.push(extra);
            m.content = None;
            a.finish_reason = "tool_calls".into();
        }
        Transform::WrongArg { arg, value } => {
            if let Some(c) = m.tool_calls.first_mut() {
                let mut args = args_map(c);
                let key = arg
                    .clone()
                    .or_else(|| args.keys().next().cloned())
                    .unwrap_or_else(|| "query".to_string());
                let schema = cx.tool(&c.name).and_then(|t| prop(t, &key)).cloned();
                let new = value
                    .clone()
                    .unwrap_or_else(|| wrong_value(args.get(&key), schema.as_ref()));
                args.insert(key, new);
                c.arguments = args_value(args);
            }
        }
        Transform::ArgsInvalidJson => {
            if let Some(c) = m.tool_calls.first_mut() {
                let s = args_string(c);
                c.arguments = Value::String(break_json(&s));
            }
        }
        Transform::ArgsSchemaViolation { arg } => {
            if let Some(c) = m.tool_calls.first_mut() {
                let mut args = args_map(c);
                let required: Vec<String> = cx
                    .tool(&c.name)
                    .and_then(|t| t.parameters.get("required"))
                    .and_then(Value::as_array)
                    .map(|r| {
                        r.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                match arg {
                    Some(k) => {
                        let v = args.get(k).cloned().unwrap_or(Value::Null);
                        args.insert(k.clone(), wrong_type(&v));
                    }
                    None => match required.iter().find(|r| args.contains_key(*r)) {
                        Some(r) => {
                            args.remove(r);
                        }
                        None => match args.keys().next().cloned() {
                            Some(k) => {
                                let v = args[&k].clone();
                                args.insert(k, wrong_type(&v));
                            }
                            None => {
                                // Nothing to break inside: arguments that are not an object.
                                c.arguments = Value::String("[]".into());
                                return a;
                            }
                        },
                    },
                }
                c.arguments = args_value(args);
            }
        }
        Transform::HallucinateTool { tool } => {
            let known = cx.tools();
            let base = m
                .tool_calls
                .first()
                .map(|c| c.name.clone())
                .unwrap_or_else(|| "lookup".into());
            let mut name = tool.clone().unwrap_or_else(|| format!("{base}_v2"));
            while known.is_some_and(|k| k.get(&name).is_some()) {
                name.push_str("_x");
            }
            if m.tool_calls.is_empty() {
                m.tool_calls.push(call(&name, json!("{}")));
            } else {
                m.tool_calls[0].name = name;
            }
            m.content = None;
            a.finish_reason = "tool_calls".into();
        }
        Transform::UnexpectedCall { tool, arguments } => {
            let name = tool.clone().unwrap_or_else(|| first_tool_name(cx));
            let args = match arguments {
                Some(Value::String(s)) => Value::String(s.clone()),
                Some(v) => Value::String(v.to_string()),
                None => args_value(args_for_tool(cx.tool(&name), None)),
            };
            m.tool_calls = vec![call(&name, args)];
            m.content = None;
            a.finish_reason = "tool_calls".into();
        }
        Transform::Truncate => {
            if let Some(c) = m.tool_calls.last_mut() {
                let s = args_string(c);
                c.arguments = Value::String(cut_half(&s));
            } else {
                let text = m.content.clone().unwrap_or_else(|| GENERIC_TEXT.into());
                // Cut before the first required fact, so the cut answer fails its gates.
                let g = cx.gates();
                let first_fact = g
                    .contains
                    .iter()
                    .chain(g.contains_any.iter())
                    .filter_map(|f| text.find(f.as_str()))
                    .min();
                let half = cut_half(&text);
                m.content = Some(match first_fact {
                    Some(pos) if pos < half.len() => text[..pos].to_string(),
                    _ => half,
                });
            }
            a.finish_reason = "length".into();
        }
        Transform::Empty => {
            *m = AssistantMessage::default();
            a.finish_reason = "stop".into();
        }
        Transform::DropEntity { count } => {
            with_entities(m, cx, |list, _| {
                let keep = list.len().saturating_sub(*count);
                list.truncate(keep);
            });
        }
        Transform::SpuriousEntity { name, entity_type } => {
            with_entities(m, cx, |list, keys| {
                let ty = entity_type
                    .clone()
                    .or_else(|| {
                        list.iter()
                            .find_map(|e| e.get(&keys.1)?.as_str().map(String::from))
                    })
                    .unwrap_or_else(|| "person".into());
                let mut e = list
                    .first()
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                e.insert(
                    keys.0.clone(),
                    json!(name.clone().unwrap_or_else(|| "Orlando Vance".into())),
                );
                e.insert(keys.1.clone(), json!(ty));
                e.remove("aliases");
                list.push(Value::Object(e));
            });
        }
        Transform::WrongEntityType { name, entity_type } => {
            let schema_types = cx.extraction_schema().map(type_enum).unwrap_or_default();
            let case_types: Vec<String> = cx
                .case
                .and_then(|c| expectation_for(c, cx.turn).extraction.as_ref())
                .map(|ex| {
                    ex.entities
                        .iter()
                        .filter_map(|e| e.entity_type.clone())
                        .collect()
                })
                .unwrap_or_default();
            with_entities(m, cx, |list, keys| {
                let idx = name
                    .as_ref()
                    .and_then(|n| {
                        list.iter().position(|e| {
                            e.get(&keys.0).and_then(Value::as_str).map(fold) == Some(fold(n))
                        })
                    })
                    .unwrap_or(0);
                let Some(e) = list.get_mut(idx).and_then(Value::as_object_mut) else {
                    return;
                };
                let current = e
                    .get(&keys.1)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let new = entity_type.clone().unwrap_or_else(|| {
                    schema_types
                        .iter()
                        .chain(case_types.iter())
                        .find(|t| fold(t) != fold(&current))
                        .cloned()
                        .unwrap_or_else(|| "other".into())
                });
                e.insert(keys.1.clone(), json!(new));
            });
        }
        Transform::InvalidJsonOutput => {
            if let Some(tool) = cx.extraction_tool() {
                if let Some(c) = m.tool_calls.iter_mut().find(|c| c.name == tool) {
                    let s = args_string(c);
                    c.arguments = Value::String(break_json(&s));
                }
            } else {
                let text = m
                    .content
                    .clone()
                    .unwrap_or_else(|| "{\"entities\": []}".into());
                m.content = Some(break_json_deep(&text));
            }
        }
        Transform::DropFact => {
            let g = cx.gates();
            let facts: Vec<String> = g
                .contains
                .iter()
                .chain(g.contains_any.iter())
                .map(|f| fold(f))
                .collect();
            let candidates = [
                "I'm not sure about that, sorry.",
                "I could not find that information right now.",
                "Sorry, I have no details on this.",
                "No idea.",
            ];
            let text = candidates
                .iter()
                .find(|c| {
                    let fc = fold(c);
                    !facts
                        .iter()
                        .any(|f| !f.is_empty() && fc.contains(f.as_str()))
                })
                .unwrap_or(&candidates[3]);
            m.content = Some(text.to_string());
            m.tool_calls.clear();
            a.finish_reason = "stop".into();
        }
        Transform::Verbose { words } => {
            let target = words
                .map(|w| w as usize)
                .or_else(|| cx.gates().max_words.map(|w| w as usize * 2 + 20))
                .unwrap_or(150);
            let mut text = m.content.clone().unwrap_or_else(|| GENERIC_TEXT.into());
            const FILLER: &str = "To add a little more detail, there is more to say here.";
            let mut guard = 0;
            while text.split_whitespace().count() <= target && guard < 100_000 {
                text.push(' ');
                text.push_str(FILLER);
                guard += 1;
            }
            m.content = Some(text);
        }
    }
    a
}

fn call(name: &str, arguments: Value) -> RawToolCall {
    RawToolCall {
        id: None,
        name: name.to_string(),
        arguments,
    }
}

fn first_tool_name(cx: &Context<'_>) -> String {
    cx.tools()
        .and_then(|t| t.tools.first())
        .map(|t| t.name.clone())
        .unwrap_or_else(|| "web_search".into())
}

fn prop<'a>(t: &'a Tool, name: &str) -> Option<&'a Value> {
    t.parameters.get("properties")?.get(name)
}

/// The arguments as a JSON string (what the wire carries).
pub fn args_string(c: &RawToolCall) -> String {
    match &c.arguments {
        Value::String(s) => s.clone(),
        Value::Null => "{}".into(),
        other => other.to_string(),
    }
}

/// The arguments as an object (empty when they are not one).
pub fn args_map(c: &RawToolCall) -> Map<String, Value> {
    let v = match &c.arguments {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        other => other.clone(),
    };
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn args_value(m: Map<String, Value>) -> Value {
    Value::String(Value::Object(m).to_string())
}

fn first_string(c: &RawToolCall) -> Option<String> {
    args_map(c)
        .values()
        .find_map(|v| v.as_str().map(String::from))
}

/// Schema-valid arguments for `tool`, with the first string property set to `seed`.
fn args_for_tool(tool: Option<&Tool>, seed: Option<String>) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(t) = tool else {
        out.insert("query".into(), json!(seed.unwrap_or_else(|| "x".into())));
        return out;
    };
    fill_required(&t.parameters, &mut out);
    if let Some(seed) = seed {
        let props = t.parameters.get("properties").and_then(Value::as_object);
        let string_prop = props.and_then(|p| {
            p.iter()
                .filter(|(_, s)| {
                    s.get("type").and_then(Value::as_str) == Some("string")
                        && s.get("enum").is_none()
                })
                .map(|(k, _)| k.clone())
                .find(|k| out.contains_key(k))
                .or_else(|| {
                    p.iter()
                        .find(|(_, s)| {
                            s.get("type").and_then(Value::as_str) == Some("string")
                                && s.get("enum").is_none()
                        })
                        .map(|(k, _)| k.clone())
                })
        });
        if let Some(k) = string_prop {
            out.insert(k, json!(seed));
        }
    }
    out
}

/// A value of the same type that no sensible matcher accepts and the schema still allows.
fn wrong_value(current: Option<&Value>, schema: Option<&Value>) -> Value {
    if let Some(en) = schema.and_then(|s| s.get("enum")).and_then(Value::as_array) {
        if let Some(other) = en.iter().find(|v| Some(*v) != current) {
            return other.clone();
        }
    }
    match current {
        Some(Value::Bool(b)) => json!(!b),
        Some(Value::Number(n)) => {
            let max = schema
                .and_then(|s| s.get("maximum"))
                .and_then(Value::as_f64);
            let min = schema
                .and_then(|s| s.get("minimum"))
                .and_then(Value::as_f64);
            let cur = n.as_f64().unwrap_or(0.0);
            let pick = match (min, max) {
                (_, Some(hi)) if hi != cur => hi,
                (Some(lo), _) if lo != cur => lo,
                _ => cur + 1000.0,
            };
            if n.is_i64() || n.is_u64() {
                json!(pick as i64)
            } else {
                json!(pick)
            }
        }
        Some(Value::Array(_)) => json!([]),
        _ => json!("unrelated value"),
    }
}

/// A value of another JSON type.
fn wrong_type(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::String(_) => json!(42),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Array(_) | Value::Object(_) => Value::String(v.to_string()),
        Value::Null => json!(42),
    }
}

/// Not JSON any more: the closing bracket is cut off and a dangling comma added.
fn break_json(s: &str) -> String {
    let t = s.trim_end();
    let cut = t.strip_suffix(['}', ']']).unwrap_or(t);
    format!("{},", cut.trim_end())
}

/// Not JSON anywhere: every object and array gets a trailing comma (so no inner value
/// parses on its own either, as graders scan text for embedded JSON), and the outer one
/// loses its closing bracket.
fn break_json_deep(s: &str) -> String {
    let compact = serde_json::from_str::<Value>(s.trim())
        .map(|v| v.to_string())
        .unwrap_or_else(|_| s.trim().to_string());
    break_json(&compact.replace('}', ",}").replace(']', ",]"))
}

fn cut_half(s: &str) -> String {
    let n = s.chars().count();
    // At least one character goes, at least one stays (when there are two).
    s.chars()
        .take((n / 2).max(1).min(n.saturating_sub(1)))
        .collect()
}

/// Tool calls written as text, in one of the formats models use without a tool parser.
pub fn calls_as_text(calls: &[RawToolCall], format: CallFormat) -> String {
    let parsed: Vec<(String, Value)> = calls
        .iter()
        .map(|c| {
            let s = args_string(c);
            let v = serde_json::from_str(&s).unwrap_or(Value::String(s));
            (c.name.clone(), v)
        })
        .collect();
    match format {
        CallFormat::Hermes => parsed
            .iter()
            .map(|(n, a)| {
                format!(
                    "<tool_call>\n{}\n</tool_call>",
                    json!({"name": n, "arguments": a})
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        CallFormat::QwenXml => parsed
            .iter()
            .map(|(n, a)| {
                let mut s = format!("<tool_call>\n<function={n}>\n");
                if let Value::Object(m) = a {
                    for (k, v) in m {
                        let v = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        s.push_str(&format!("<parameter={k}>\n{v}\n</parameter>\n"));
                    }
                }
                s.push_str("</function>\n</tool_call>");
                s
            })
            .collect::<Vec<_>>()
            .join("\n"),
        CallFormat::Mistral => format!(
            "[TOOL_CALLS]{}",
            Value::Array(
                parsed
                    .iter()
                    .map(|(n, a)| json!({"name": n, "arguments": a}))
                    .collect()
            )
        ),
        CallFormat::LlamaJson => format!(
            "<|python_tag|>{}",
            parsed
                .iter()
                .map(|(n, a)| json!({"name": n, "parameters": a}).to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ),
        CallFormat::Pythonic => format!(
            "[{}]",
            parsed
                .iter()
                .map(|(n, a)| {
                    let args = match a {
                        Value::Object(m) => m
                            .iter()
                            .map(|(k, v)| format!("{k}={}", py_literal(v)))
                            .collect::<Vec<_>>()
                            .join(", "),
                        _ => String::new(),
                    };
                    format!("{n}({args})")
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        CallFormat::BareJson => {
            let items: Vec<Value> = parsed
                .iter()
                .map(|(n, a)| json!({"name": n, "arguments": a}))
                .collect();
            if items.len() == 1 {
                items[0].to_string()
            } else {
                Value::Array(items).to_string()
            }
        }
    }
}

fn py_literal(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(py_literal).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("'{k}': {}", py_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Every `type.enum` list in a schema (entity type vocabularies).
fn type_enum(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &Value, out: &mut Vec<String>, depth: usize) {
        if depth > 16 {
            return;
        }
        match v {
            Value::Object(m) => {
                if let Some(en) = m
                    .get("properties")
                    .and_then(|p| p.get("type"))
                    .and_then(|t| t.get("enum"))
                    .and_then(Value::as_array)
                {
                    out.extend(en.iter().filter_map(|e| e.as_str().map(String::from)));
                }
                for x in m.values() {
                    walk(x, out, depth + 1);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out, depth + 1)),
            _ => {}
        }
    }
    walk(schema, &mut out, 0);
    out
}

/// Run `f` on the extraction output's entity list (and its name/type keys), writing the
/// document back where it came from.
fn with_entities(
    m: &mut AssistantMessage,
    cx: &Context<'_>,
    f: impl FnOnce(&mut Vec<Value>, &(String, String)),
) {
    let tool = cx.extraction_tool();
    let (mut doc, from_tool) = match &tool {
        Some(t) => match m.tool_calls.iter().find(|c| &c.name == t) {
            Some(c) => (Value::Object(args_map(c)), true),
            None => return,
        },
        None => match m.content.as_deref().and_then(parse_json_text) {
            Some(d) => (d, false),
            None => return,
        },
    };
    if let Some(list) = entity_list(&mut doc, 0) {
        let keys = entity_keys(list);
        f(list, &keys);
    }
    if from_tool {
        let t = tool.expect("from_tool");
        if let Some(c) = m.tool_calls.iter_mut().find(|c| c.name == t) {
            c.arguments = Value::String(doc.to_string());
        }
    } else {
        m.content = Some(serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
}

/// The JSON in an answer text: the whole text, or a fenced block.
fn parse_json_text(s: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str(s.trim()) {
        return Some(v);
    }
    let start = s.find("```")?;
    let after = &s[start + 3..];
    let after = after.trim_start_matches("json");
    let end = after.find("```")?;
    serde_json::from_str(after[..end].trim()).ok()
}

/// The first array of objects (depth-first): the entity list.
fn entity_list(v: &mut Value, depth: usize) -> Option<&mut Vec<Value>> {
    if depth > 16 {
        return None;
    }
    let is_list = matches!(v, Value::Array(a) if a.iter().all(Value::is_object));
    if is_list {
        return v.as_array_mut();
    }
    match v {
        Value::Object(m) => m.values_mut().find_map(|x| entity_list(x, depth + 1)),
        _ => None,
    }
}

fn entity_keys(list: &[Value]) -> (String, String) {
    let first = list.first().and_then(Value::as_object);
    let name = ["name", "entity", "text", "value"]
        .into_iter()
        .find(|k| first.is_some_and(|o| o.contains_key(*k)))
        .unwrap_or("name");
    let ty = ["type", "entity_type", "category", "label", "kind"]
        .into_iter()
        .find(|k| first.is_some_and(|o| o.contains_key(*k)))
        .unwrap_or("type");
    (name.to_string(), ty.to_string())
}

/// A short reasoning text for thinking-on requests.
pub fn thinking_text(user: &str, m: &AssistantMessage) -> String {
    let u: String = user.chars().take(80).collect();
    let plan = match m.tool_calls.first() {
        Some(c) => format!("I should call {} to answer this.", c.name),
        None => "I can answer this directly.".to_string(),
    };
    format!("The user asks: \"{u}\". {plan}")
}
