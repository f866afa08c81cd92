//! Tools files: an OpenAI `tools` array or an MCP `tools/list` result, loaded into one
//! type with each tool's JSON Schema compiled once (offline: a remote `$ref` is an error).

use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::sync::Arc;

/// One tool offered to the model.
#[derive(Clone, Serialize)]
pub struct Tool {
    pub name: String,
    pub description: String,
    /// The tool's JSON Schema for its arguments (`$schema` dropped).
    pub parameters: Value,
    #[serde(skip)]
    pub validator: Arc<jsonschema::Validator>,
}

impl fmt::Debug for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.name)
            .field("parameters", &self.parameters)
            .finish()
    }
}

impl Tool {
    /// The OpenAI `tools[]` entry.
    pub fn to_openai(&self) -> Value {
        serde_json::json!({
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            }
        })
    }

    /// Every schema error of `args`, as (instance path, message).
    pub fn schema_errors(&self, args: &Value) -> Vec<(String, String)> {
        self.validator
            .iter_errors(args)
            .map(|e| (e.instance_path().to_string(), e.to_string()))
            .collect()
    }

    /// The type(s) a property's schema declares, when it declares any.
    pub fn property_types(&self, prop: &str) -> Option<Vec<String>> {
        let t = self.parameters.get("properties")?.get(prop)?.get("type")?;
        match t {
            Value::String(s) => Some(vec![s.clone()]),
            Value::Array(a) => Some(
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            ),
            _ => None,
        }
    }

    pub fn has_property(&self, prop: &str) -> bool {
        self.parameters
            .get("properties")
            .and_then(|p| p.get(prop))
            .is_some()
    }
}

/// The tools of a suite.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ToolSet {
    pub tools: Vec<Tool>,
    /// Which shape the file had: `openai` or `mcp`.
    pub shape: String,
}

impl ToolSet {
    pub fn get(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name == name)
    }
    pub fn names(&self) -> Vec<&str> {
        self.tools.iter().map(|t| t.name.as_str()).collect()
    }
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
    pub fn to_openai(&self) -> Vec<Value> {
        self.tools.iter().map(Tool::to_openai).collect()
    }
}

/// A problem with a tools file; `pointer` is a JSON pointer into the file.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolsError {
    pub pointer: String,
    pub message: String,
}

/// Compile a JSON Schema offline. Errors name what is wrong.
pub fn compile_schema(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .offline()
        .build(schema)
        .map_err(|e| e.to_string())
}

/// Build a tool set from a parsed tools file (either shape).
pub fn parse_tools(doc: &Value) -> Result<ToolSet, Vec<ToolsError>> {
    let (entries, shape): (Vec<(String, &Value)>, &str) = match doc {
        Value::Array(items) => (
            items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("/{i}"), v))
                .collect(),
            "openai",
        ),
        Value::Object(o) if o.get("tools").is_some_and(Value::is_array) => {
            let items = o["tools"].as_array().expect("checked");
            let shape = if items.iter().any(|t| t.get("inputSchema").is_some()) {
                "mcp"
            } else {
                "openai"
            };
            (
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (format!("/tools/{i}"), v))
                    .collect(),
                shape,
            )
        }
        Value::Object(o) if o.get("result").and_then(|r| r.get("tools")).is_some() => {
            // A raw JSON-RPC response to tools/list; pointers must stay valid in this file.
            return parse_tools(&o["result"]).map_err(|errs| {
                errs.into_iter()
                    .map(|e| ToolsError {
                        pointer: format!("/result{}", e.pointer),
                        message: e.message,
                    })
                    .collect()
            });
        }
        _ => {
            return Err(vec![ToolsError {
                pointer: String::new(),
                message: "expected an OpenAI `tools` array or an MCP `tools/list` result \
                          ({\"tools\": [{name, description, inputSchema}]})"
                    .into(),
            }])
        }
    };
    let mut tools = Vec::new();
    let mut errors = Vec::new();
    for (ptr, entry) in entries {
        match parse_one(entry) {
            Ok(t) => {
                if tools.iter().any(|x: &Tool| x.name == t.name) {
                    errors.push(ToolsError {
                        pointer: ptr,
                        message: format!("duplicate tool name `{}`", t.name),
                    });
                } else {
                    tools.push(t);
                }
            }
            Err(m) => errors.push(ToolsError {
                pointer: ptr,
                message: m,
            }),
        }
    }
    if errors.is_empty() {
        Ok(ToolSet {
            tools,
            shape: shape.into(),
        })
    } else {
        Err(errors)
    }
}

fn parse_one(entry: &Value) -> Result<Tool, String> {
    let obj = entry
        .as_object()
        .ok_or("a tool must be an object".to_string())?;
    // OpenAI: {type: function, function: {name, description, parameters}}
    // MCP:    {name, description, inputSchema}
    // Also accepted: a bare {name, description, parameters}.
    let (name, description, params) = if let Some(f) = obj.get("function") {
        let f = f.as_object().ok_or("`function` must be an object")?;
        (
            f.get("name"),
            f.get("description"),
            f.get("parameters").cloned(),
        )
    } else if obj.contains_key("inputSchema") {
        (
            obj.get("name"),
            obj.get("description"),
            obj.get("inputSchema").cloned(),
        )
    } else if obj.contains_key("name") {
        (
            obj.get("name"),
            obj.get("description"),
            obj.get("parameters").cloned(),
        )
    } else {
        return Err(
            "a tool needs `function: {name, parameters}` (OpenAI) or `name` + `inputSchema` (MCP)"
                .into(),
        );
    };
    let name = name
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or("tool `name` must be a non-empty string")?
        .to_string();
    let description = description
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut params =
        params.unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
    if let Some(o) = params.as_object_mut() {
        o.remove("$schema");
    } else {
        return Err(format!(
            "tool `{name}`: parameters must be a JSON Schema object"
        ));
    }
    let validator = compile_schema(&params)
        .map_err(|e| format!("tool `{name}`: invalid parameters schema: {e}"))?;
    Ok(Tool {
        name,
        description,
        parameters: params,
        validator: Arc::new(validator),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_and_mcp_shapes_load_into_one_type() {
        let openai = json!([{"type":"function","function":{"name":"web_search","description":"d","parameters":{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}}}]);
        let mcp = json!({"tools":[{"name":"web_search","description":"d","inputSchema":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"query":{"type":"string"}},"required":["query"]}}]});
        let a = parse_tools(&openai).unwrap();
        let b = parse_tools(&mcp).unwrap();
        assert_eq!(a.shape, "openai");
        assert_eq!(b.shape, "mcp");
        assert_eq!(a.tools[0].parameters, b.tools[0].parameters);
        assert!(b.tools[0].schema_errors(&json!({"query": 1}))[0].0 == "/query");
    }

    #[test]
    fn neither_shape_is_an_error() {
        assert!(parse_tools(&json!({"foo": 1})).is_err());
        assert!(parse_tools(&json!([1])).is_err());
    }

    #[test]
    fn remote_ref_is_a_load_error() {
        let t = json!([{"name":"x","parameters":{"$ref":"https://example.invalid/s.json"}}]);
        assert!(parse_tools(&t).is_err());
    }
}
