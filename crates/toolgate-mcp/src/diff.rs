//! `toolgate tools diff OLD NEW`: what changed between two tools files (either shape).
//!
//! Reported: tools added and removed, tool descriptions changed, and per argument (nested
//! object properties and array items included, as a path like `fields[].target`): added,
//! removed, renamed (a removed and an added argument with the same schema at the same level),
//! type changed, became required / optional, and any other schema change (enum, format,
//! bounds…). Descriptions of arguments are ignored: they rarely break a call, and every
//! upstream wording tweak would otherwise drown the changes that do.

use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;
use toolgate_core::tools::ToolSet;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    ToolAdded {
        tool: String,
    },
    ToolRemoved {
        tool: String,
    },
    DescriptionChanged {
        tool: String,
    },
    ArgAdded {
        tool: String,
        arg: String,
        required: bool,
    },
    ArgRemoved {
        tool: String,
        arg: String,
    },
    ArgRenamed {
        tool: String,
        from: String,
        to: String,
    },
    TypeChanged {
        tool: String,
        arg: String,
        from: String,
        to: String,
    },
    NowRequired {
        tool: String,
        arg: String,
    },
    NowOptional {
        tool: String,
        arg: String,
    },
    SchemaChanged {
        tool: String,
        arg: String,
        keys: Vec<String>,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::ToolAdded { tool } => write!(f, "+ tool {tool}: added"),
            Change::ToolRemoved { tool } => write!(f, "- tool {tool}: removed"),
            Change::DescriptionChanged { tool } => write!(f, "~ tool {tool}: description changed"),
            Change::ArgAdded {
                tool,
                arg,
                required,
            } => write!(
                f,
                "+ {tool}: argument `{arg}` added{}",
                if *required { " (required)" } else { "" }
            ),
            Change::ArgRemoved { tool, arg } => write!(f, "- {tool}: argument `{arg}` removed"),
            Change::ArgRenamed { tool, from, to } => write!(
                f,
                "~ {tool}: argument `{from}` renamed to `{to}` (same schema)"
            ),
            Change::TypeChanged {
                tool,
                arg,
                from,
                to,
            } => write!(f, "~ {tool}: argument `{arg}` type {from} → {to}"),
            Change::NowRequired { tool, arg } => {
                write!(f, "~ {tool}: argument `{arg}` is now required")
            }
            Change::NowOptional { tool, arg } => {
                write!(f, "~ {tool}: argument `{arg}` is no longer required")
            }
            Change::SchemaChanged { tool, arg, keys } => write!(
                f,
                "~ {tool}: argument `{arg}` schema changed ({})",
                keys.join(", ")
            ),
        }
    }
}

/// Every change from `old` to `new`, tools in `new`'s order (removed tools last).
pub fn diff(old: &ToolSet, new: &ToolSet) -> Vec<Change> {
    let mut out = Vec::new();
    for t in &new.tools {
        match old.get(&t.name) {
            None => out.push(Change::ToolAdded {
                tool: t.name.clone(),
            }),
            Some(o) => {
                if o.description.trim() != t.description.trim() {
                    out.push(Change::DescriptionChanged {
                        tool: t.name.clone(),
                    });
                }
                object_diff(&t.name, "", &o.parameters, &t.parameters, &mut out);
            }
        }
    }
    for o in &old.tools {
        if new.get(&o.name).is_none() {
            out.push(Change::ToolRemoved {
                tool: o.name.clone(),
            });
        }
    }
    out
}

fn props(schema: &Value) -> Map<String, Value> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn required(schema: &Value) -> Vec<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// A schema with every `description` and `title` removed, at any depth: the part that
/// decides what a valid call looks like.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| k.as_str() != "description" && k.as_str() != "title")
                .map(|(k, v)| (k.clone(), shape(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        other => other.clone(),
    }
}

fn type_name(schema: &Value) -> String {
    match schema.get("type") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("|"),
        Some(other) => other.to_string(),
        None if schema.get("anyOf").is_some() => "anyOf".into(),
        None if schema.get("oneOf").is_some() => "oneOf".into(),
        None if schema.get("enum").is_some() => "enum".into(),
        None => "any".into(),
    }
}

/// Compare the properties of two object schemas at `prefix`.
fn object_diff(tool: &str, prefix: &str, old: &Value, new: &Value, out: &mut Vec<Change>) {
    let (po, pn) = (props(old), props(new));
    let (ro, rn) = (required(old), required(new));
    let mut removed: Vec<&String> = po.keys().filter(|k| !pn.contains_key(*k)).collect();
    let mut added: Vec<&String> = pn.keys().filter(|k| !po.contains_key(*k)).collect();
    // A removed and an added argument with the same shape at the same level is a rename
    // (Playwright MCP's `ref` → `target`); pair them first-come so each is used once.
    let mut renames = Vec::new();
    removed.retain(|r| {
        let pos = added
            .iter()
            .position(|a| shape(&pn[a.as_str()]) == shape(&po[r.as_str()]));
        match pos {
            Some(i) => {
                renames.push(((*r).clone(), added.remove(i).clone()));
                false
            }
            None => true,
        }
    });
    for (from, to) in &renames {
        out.push(Change::ArgRenamed {
            tool: tool.into(),
            from: join(prefix, from),
            to: join(prefix, to),
        });
        let (was, is) = (ro.contains(from), rn.contains(to));
        if !was && is {
            out.push(Change::NowRequired {
                tool: tool.into(),
                arg: join(prefix, to),
            });
        } else if was && !is {
            out.push(Change::NowOptional {
                tool: tool.into(),
                arg: join(prefix, to),
            });
        }
    }
    for r in removed {
        out.push(Change::ArgRemoved {
            tool: tool.into(),
            arg: join(prefix, r),
        });
    }
    for a in added {
        out.push(Change::ArgAdded {
            tool: tool.into(),
            arg: join(prefix, a),
            required: rn.contains(a),
        });
    }
    for (name, so) in &po {
        let Some(sn) = pn.get(name) else { continue };
        let path = join(prefix, name);
        match (ro.contains(name), rn.contains(name)) {
            (false, true) => out.push(Change::NowRequired {
                tool: tool.into(),
                arg: path.clone(),
            }),
            (true, false) => out.push(Change::NowOptional {
                tool: tool.into(),
                arg: path.clone(),
            }),
            _ => {}
        }
        value_diff(tool, &path, so, sn, out);
    }
}

/// Compare one argument's schema.
fn value_diff(tool: &str, path: &str, old: &Value, new: &Value, out: &mut Vec<Change>) {
    if shape(old) == shape(new) {
        return;
    }
    let (to, tn) = (type_name(old), type_name(new));
    if to != tn {
        out.push(Change::TypeChanged {
            tool: tool.into(),
            arg: path.into(),
            from: to,
            to: tn,
        });
        return;
    }
    // Same type: descend where the structure has names, report the rest by key.
    let mut handled = vec!["type", "description", "title"];
    if old.get("properties").is_some() || new.get("properties").is_some() {
        object_diff(tool, path, old, new, out);
        handled.extend(["properties", "required"]);
    }
    if let (Some(io), Some(in_)) = (old.get("items"), new.get("items")) {
        let item_path = format!("{path}[]");
        if io.get("properties").is_some() || in_.get("properties").is_some() {
            object_diff(tool, &item_path, io, in_, out);
            // Item-level keys other than properties/required still count.
            let keys = changed_keys(io, in_, &["properties", "required", "description", "title"]);
            if !keys.is_empty() {
                out.push(Change::SchemaChanged {
                    tool: tool.into(),
                    arg: item_path,
                    keys,
                });
            }
        } else {
            value_diff(tool, &item_path, io, in_, out);
        }
        handled.push("items");
    }
    let keys = changed_keys(old, new, &handled);
    if !keys.is_empty() {
        out.push(Change::SchemaChanged {
            tool: tool.into(),
            arg: path.into(),
            keys,
        });
    }
}

fn changed_keys(old: &Value, new: &Value, skip: &[&str]) -> Vec<String> {
    let empty = Map::new();
    let (o, n) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<String> = o
        .keys()
        .chain(n.keys())
        .filter(|k| !skip.contains(&k.as_str()))
        .filter(|k| o.get(*k).map(shape) != n.get(*k).map(shape))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use toolgate_core::tools::parse_tools;

    fn set(v: Value) -> ToolSet {
        parse_tools(&v).expect("valid tools file")
    }

    fn mcp(tools: Value) -> ToolSet {
        set(json!({ "tools": tools }))
    }

    #[test]
    fn identical_files_in_either_shape_have_no_changes() {
        let a = mcp(json!([{"name":"t","description":"d",
            "inputSchema":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}]));
        let b = set(
            json!([{"type":"function","function":{"name":"t","description":"d",
            "parameters":{"type":"object","properties":{"q":{"type":"string","description":"x"}},"required":["q"]}}}]),
        );
        assert_eq!(diff(&a, &b), vec![]);
    }

    #[test]
    fn playwright_style_ref_to_target_rename_is_reported() {
        let old = mcp(json!([{"name":"browser_click","description":"Click",
            "inputSchema":{"type":"object","properties":{
                "element":{"type":"string"},"ref":{"type":"string","description":"old"}},
                "required":["ref"]}}]));
        let new = mcp(json!([{"name":"browser_click","description":"Click",
            "inputSchema":{"type":"object","properties":{
                "element":{"type":"string"},"target":{"type":"string","description":"new"}},
                "required":["target"]}}]));
        let d = diff(&old, &new);
        assert_eq!(
            d,
            vec![Change::ArgRenamed {
                tool: "browser_click".into(),
                from: "ref".into(),
                to: "target".into()
            }]
        );
        assert_eq!(
            d[0].to_string(),
            "~ browser_click: argument `ref` renamed to `target` (same schema)"
        );
    }

    #[test]
    fn tools_args_types_required_and_nested_changes() {
        let old = mcp(json!([
            {"name":"gone","inputSchema":{"type":"object"}},
            {"name":"f","description":"same","inputSchema":{"type":"object","properties":{
                "a":{"type":"string"},
                "b":{"type":"integer"},
                "c":{"type":"string","enum":["x","y"]},
                "fields":{"type":"array","items":{"type":"object","properties":{
                    "ref":{"type":"string"},"value":{"type":"string"}},"required":["ref"]}},
                "old_only":{"type":"boolean"}},
              "required":["a"]}}]));
        let new = mcp(json!([
            {"name":"f","description":"changed","inputSchema":{"type":"object","properties":{
                "a":{"type":"string"},
                "b":{"type":"number"},
                "c":{"type":"string","enum":["x","y","z"]},
                "fields":{"type":"array","items":{"type":"object","properties":{
                    "target":{"type":"string"},"value":{"type":"integer"}},"required":["target"]}},
                "new_one":{"type":"object"}},
              "required":["b"]}},
            {"name":"fresh","inputSchema":{"type":"object"}}]));
        let lines: Vec<String> = diff(&old, &new).iter().map(|c| c.to_string()).collect();
        assert_eq!(
            lines,
            [
                "~ tool f: description changed",
                "- f: argument `old_only` removed",
                "+ f: argument `new_one` added",
                "~ f: argument `a` is no longer required",
                "~ f: argument `b` is now required",
                "~ f: argument `b` type integer → number",
                "~ f: argument `c` schema changed (enum)",
                "~ f: argument `fields[].ref` renamed to `fields[].target` (same schema)",
                "~ f: argument `fields[].value` type string → integer",
                "+ tool fresh: added",
                "- tool gone: removed",
            ]
        );
    }
}
