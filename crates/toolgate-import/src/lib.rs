//! Berkeley Function Calling Leaderboard (BFCL) entries → toolgate suites.
//!
//! The data ships in the `bfcl-eval` wheel on PyPI (`cargo xtask bfcl-data` unpacks it into
//! `target/bfcl/`): `BFCL_v4_<category>.json` (one JSON object per line: `id`, `question` =
//! turns of messages, `function` = the tool docs) and `possible_answer/BFCL_v4_<category>.json`
//! (`ground_truth` = calls, each `{name: {param: [acceptable values]}}`).
//!
//! Each entry brings its own functions, and a toolgate suite has one tools file, so every entry
//! becomes one suite file (`<id>.yaml`) with its tools file (`tools/<id>.json`). The rules, as
//! BFCL's own AST checker and OpenAI-style handler apply them:
//! - function names: `.` → `_` (BFCL's `convert_to_tool` for OpenAI-compatible APIs);
//! - parameter types: BFCL's `GORILLA_TO_OPENAPI` map (`dict` → `object`, `float` → `number`,
//!   `tuple` → `array`, `any` → `string`, …), nested properties and items too;
//! - acceptable values → `one_of`; a `""` option → the argument may be absent (`null` in the
//!   `one_of`, which toolgate reads as "absent allowed"); only `""` → `absent`;
//! - parameters not in the ground truth are not allowed (`strict_args: true`, BFCL's
//!   "unexpected parameter");
//! - dict-valued parameters (BFCL checks them key by key) are expanded into the concrete
//!   dicts BFCL would accept;
//! - `parallel*` categories → `order: any`; `irrelevance` → `no_call: true`.
//!
//! Where toolgate's rule differs from BFCL's checker is documented in the README.

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The categories `--category` names, and the BFCL v4 file each reads. `simple` is BFCL's
/// `simple_python` (v4 split the Java and JavaScript entries off into their own files).
pub const CATEGORIES: &[(&str, &str)] = &[
    ("simple", "simple_python"),
    ("multiple", "multiple"),
    ("parallel", "parallel"),
    ("parallel_multiple", "parallel_multiple"),
    ("irrelevance", "irrelevance"),
];

/// Above this many concrete dicts an expansion is cut (and a warning says so).
const MAX_EXPANSION: usize = 256;

/// BFCL's answer for one entry, in toolgate's names: the first acceptable value of every
/// argument it gives (what BFCL's own checker accepts), or no call.
#[derive(Debug, Clone, PartialEq)]
pub enum Reference {
    Calls(Vec<(String, Value)>),
    NoCall,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    /// The suite file (YAML-ready JSON value).
    pub suite: Value,
    /// The OpenAI `tools` array.
    pub tools: Value,
    pub reference: Reference,
}

#[derive(Debug, Clone)]
pub struct Import {
    pub category: String,
    pub entries: Vec<Entry>,
    /// Data problems worked around (ill-typed acceptable values dropped, …), one line each.
    pub warnings: Vec<String>,
}

/// The data folder: `DIR` itself, or `DIR/bfcl_eval/data` when given the unpacked wheel.
pub fn data_dir(dir: &Path) -> PathBuf {
    let nested = dir.join("bfcl_eval/data");
    if nested.is_dir() {
        nested
    } else {
        dir.to_path_buf()
    }
}

fn file_for(dir: &Path, category: &str) -> Result<PathBuf> {
    let Some((_, stem)) = CATEGORIES.iter().find(|(c, _)| *c == category) else {
        let names: Vec<&str> = CATEGORIES.iter().map(|(c, _)| *c).collect();
        bail!(
            "unknown BFCL category `{category}` (expected one of: {})",
            names.join(", ")
        );
    };
    // The newest BFCL_v*_ file wins.
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read BFCL data folder {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("BFCL_v"))
                .and_then(|n| n.split_once('_'))
                .is_some_and(|(_, rest)| rest == format!("{stem}.json"))
        })
        .collect();
    found.sort();
    found.pop().with_context(|| {
        format!(
            "no BFCL_v*_{stem}.json in {} (fetch the data with `cargo xtask bfcl-data`)",
            dir.display()
        )
    })
}

fn read_jsonl(path: &Path) -> Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: not a JSON object", path.display(), i + 1))
        })
        .collect()
}

/// Read and convert one category.
pub fn import(dir: &Path, category: &str) -> Result<Import> {
    let dir = data_dir(dir);
    let questions = file_for(&dir, category)?;
    let entries = read_jsonl(&questions)?;
    let mut answers: HashMap<String, Value> = HashMap::new();
    if category != "irrelevance" {
        let name = questions.file_name().expect("a file");
        let path = dir.join("possible_answer").join(name);
        for a in read_jsonl(&path)? {
            if let Some(id) = a["id"].as_str() {
                answers.insert(id.to_string(), a["ground_truth"].clone());
            }
        }
    }
    let mut out = Import {
        category: category.to_string(),
        entries: Vec::new(),
        warnings: Vec::new(),
    };
    for e in &entries {
        let id = e["id"]
            .as_str()
            .context("an entry without `id`")?
            .to_string();
        // The id becomes a file name: anything but one plain component is refused.
        if !toolgate_core::paths::is_safe_file_stem(&id) {
            out.warnings.push(format!(
                "{:?}: skipped: the id is not a safe file name",
                id.chars().take(80).collect::<String>()
            ));
            continue;
        }
        let gt = if category == "irrelevance" {
            None
        } else {
            Some(
                answers
                    .get(&id)
                    .with_context(|| format!("{id}: no possible answer"))?,
            )
        };
        match convert(e, gt, category, &mut out.warnings) {
            Ok(entry) => out.entries.push(entry),
            Err(err) => out.warnings.push(format!("{id}: skipped: {err}")),
        }
    }
    Ok(out)
}

/// BFCL's `convert_to_tool` name rule for OpenAI-style APIs (`^[a-zA-Z0-9_-]{1,64}$`).
pub fn tool_name(bfcl: &str) -> String {
    bfcl.replace('.', "_")
}

/// BFCL's `GORILLA_TO_OPENAPI`; unknown types become `string`, as BFCL does.
pub fn json_type(bfcl: &str) -> &'static str {
    match bfcl {
        "integer" | "byte" | "short" | "long" | "Bigint" => "integer",
        "number" | "float" | "double" => "number",
        "boolean" | "bool" | "Boolean" => "boolean",
        "array" | "list" | "tuple" | "ArrayList" | "Array" | "Queue" | "Stack" => "array",
        "dict" | "object" | "HashMap" | "Hashtable" => "object",
        _ => "string",
    }
}

/// A property schema with BFCL's type names mapped, recursively (properties and items).
fn convert_schema(p: &Value) -> Value {
    let Some(o) = p.as_object() else {
        return p.clone();
    };
    let mut out = o.clone();
    let t = o.get("type").and_then(Value::as_str).unwrap_or("string");
    out.insert("type".into(), json!(json_type(t)));
    if let Some(props) = o.get("properties").and_then(Value::as_object) {
        out.insert(
            "properties".into(),
            Value::Object(
                props
                    .iter()
                    .map(|(k, v)| (k.clone(), convert_schema(v)))
                    .collect(),
            ),
        );
    }
    if let Some(items) = o.get("items") {
        out.insert("items".into(), convert_schema(items));
    }
    Value::Object(out)
}

fn convert_function(f: &Value) -> Result<Value> {
    let name = f["name"].as_str().context("a function without a name")?;
    let params = &f["parameters"];
    let mut schema = Map::new();
    schema.insert("type".into(), json!("object"));
    let props = params
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    schema.insert(
        "properties".into(),
        Value::Object(
            props
                .iter()
                .map(|(k, v)| (k.clone(), convert_schema(v)))
                .collect(),
        ),
    );
    if let Some(req) = params.get("required").filter(|r| r.is_array()) {
        schema.insert("required".into(), req.clone());
    }
    Ok(json!({
        "type": "function",
        "function": {
            "name": tool_name(name),
            "description": f.get("description").and_then(Value::as_str).unwrap_or(""),
            "parameters": Value::Object(schema),
        }
    }))
}

/// Does `v` fit the property's declared (BFCL) type, array items included? (`int` for
/// `float` is fine: BFCL converts it, and toolgate compares numbers by value.)
fn fits_schema(prop: &Value, v: &Value) -> bool {
    let t = prop.get("type").and_then(Value::as_str).unwrap_or("string");
    if !fits(t, v) {
        return false;
    }
    match (prop.get("items"), v.as_array()) {
        (Some(items), Some(elems)) if items.get("type").is_some() => {
            elems.iter().all(|e| fits_schema(items, e))
        }
        _ => true,
    }
}

fn fits(bfcl_type: &str, v: &Value) -> bool {
    match json_type(bfcl_type) {
        _ if bfcl_type == "any" || bfcl_type == "Any" => !v.is_null(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => v.is_string(),
    }
}

/// The concrete values a dict-shaped acceptable value stands for: BFCL's `dict_checker`
/// takes each key's list of acceptable values (with `""` = key may be absent).
fn expand_dict(d: &Map<String, Value>, truncated: &mut bool) -> Vec<Value> {
    let mut acc: Vec<Map<String, Value>> = vec![Map::new()];
    for (k, opts) in d {
        let opts: Vec<Value> = match opts {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        };
        let mut next = Vec::new();
        for base in &acc {
            for o in &opts {
                let mut m = base.clone();
                if o != &json!("") {
                    m.insert(k.clone(), o.clone());
                }
                if !next.contains(&m) {
                    next.push(m);
                }
            }
        }
        if next.len() > MAX_EXPANSION {
            next.truncate(MAX_EXPANSION);
            *truncated = true;
        }
        acc = next;
    }
    acc.into_iter().map(Value::Object).collect()
}

fn expand(v: &Value, truncated: &mut bool) -> Vec<Value> {
    match v {
        Value::Object(d) => expand_dict(d, truncated),
        Value::Array(items) if items.iter().any(Value::is_object) => {
            let mut acc: Vec<Vec<Value>> = vec![Vec::new()];
            for it in items {
                let choices = expand(it, truncated);
                let mut next = Vec::new();
                for base in &acc {
                    for c in &choices {
                        let mut b = base.clone();
                        b.push(c.clone());
                        next.push(b);
                    }
                }
                if next.len() > MAX_EXPANSION {
                    next.truncate(MAX_EXPANSION);
                    *truncated = true;
                }
                acc = next;
            }
            acc.into_iter().map(Value::Array).collect()
        }
        other => vec![other.clone()],
    }
}

/// One ground-truth call → (expected call for the case file, reference call).
fn convert_call(
    id: &str,
    call: &Value,
    functions: &[Value],
    warnings: &mut Vec<String>,
) -> Result<(Value, (String, Value))> {
    let (name, args) = call
        .as_object()
        .and_then(|o| o.iter().next())
        .context("a ground-truth call is not {name: {args}}")?;
    let doc = functions
        .iter()
        .find(|f| f["name"] == name.as_str())
        .with_context(|| format!("ground truth calls `{name}`, which the entry does not define"))?;
    let props = doc["parameters"]["properties"].as_object();
    let mut matchers = Map::new();
    let mut reference = Map::new();
    for (param, opts) in args
        .as_object()
        .context("call arguments are not an object")?
    {
        let opts = opts
            .as_array()
            .cloned()
            .unwrap_or_else(|| vec![opts.clone()]);
        let may_be_absent = opts.iter().any(|o| o == &json!(""));
        let Some(pschema) = props.and_then(|p| p.get(param)) else {
            // BFCL's checker rejects a parameter the function doc does not declare.
            warnings.push(format!(
                "{id}: `{name}.{param}` is not in the function's parameters; expected absent"
            ));
            matchers.insert(param.clone(), json!("absent"));
            continue;
        };
        let ptype = pschema
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("string");
        let mut values = Vec::new();
        let mut truncated = false;
        for o in opts.iter().filter(|o| *o != &json!("")) {
            if !fits_schema(pschema, o) {
                warnings.push(format!(
                    "{id}: `{name}.{param}` ({ptype}): acceptable value {o} has the wrong type; dropped"
                ));
                continue;
            }
            for v in expand(o, &mut truncated) {
                if !values.contains(&v) {
                    values.push(v);
                }
            }
        }
        if truncated {
            warnings.push(format!(
                "{id}: `{name}.{param}`: more than {MAX_EXPANSION} acceptable dicts; cut"
            ));
        }
        if values.is_empty() {
            let required = doc["parameters"]["required"]
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x == param.as_str()));
            if required {
                // E.g. a Python variable name (`data['sales']`) as the only answer for an
                // array: BFCL's AST checker accepts it, JSON arguments of that type cannot.
                bail!("required `{name}.{param}` has no acceptable value of its declared type {ptype}");
            }
            matchers.insert(param.clone(), json!("absent"));
            continue;
        }
        reference.insert(param.clone(), values[0].clone());
        if may_be_absent {
            values.push(Value::Null);
        }
        matchers.insert(param.clone(), json!({ "one_of": values }));
    }
    // `absent` is written as a matcher object, not the bare string.
    for m in matchers.values_mut() {
        if m == &json!("absent") {
            *m = json!({"absent": true});
        }
    }
    let tname = tool_name(name);
    Ok((
        json!({ "name": tname, "args": Value::Object(matchers) }),
        (tname, Value::Object(reference)),
    ))
}

fn convert(
    e: &Value,
    gt: Option<&Value>,
    category: &str,
    warnings: &mut Vec<String>,
) -> Result<Entry> {
    let id = e["id"].as_str().unwrap_or_default().to_string();
    let turns = e["question"].as_array().context("no `question`")?;
    if turns.len() != 1 {
        bail!(
            "{} turns; only single-turn entries are imported",
            turns.len()
        );
    }
    let messages: Vec<Value> = turns[0]
        .as_array()
        .context("a turn is not a list of messages")?
        .iter()
        .map(|m| json!({"role": m["role"], "content": m["content"]}))
        .collect();
    let functions = e["function"].as_array().cloned().unwrap_or_default();
    let tools = Value::Array(
        functions
            .iter()
            .map(convert_function)
            .collect::<Result<Vec<_>>>()?,
    );
    let (expect, reference) = match gt {
        None => (json!({"no_call": true}), Reference::NoCall),
        Some(gt) => {
            let mut calls = Vec::new();
            let mut refs = Vec::new();
            for c in gt.as_array().context("ground_truth is not a list")? {
                let (call, r) = convert_call(&id, c, &functions, warnings)?;
                calls.push(call);
                refs.push(r);
            }
            let mut ex = json!({ "calls": calls });
            if category.starts_with("parallel") {
                ex["order"] = json!("any");
            }
            (ex, Reference::Calls(refs))
        }
    };
    let suite = json!({
        "suite": format!("bfcl-{id}"),
        "kind": "tool_call",
        "description": format!("BFCL {category} entry {id} (bfcl-eval), imported by `toolgate import bfcl`."),
        "tools": format!("tools/{id}.json"),
        "defaults": { "tool_choice": "auto", "temperature": 0, "strict_args": true },
        "cases": [{
            "id": id,
            "messages": messages,
            "expect": expect,
            "tags": ["bfcl", category],
        }],
    });
    Ok(Entry {
        id,
        suite,
        tools,
        reference,
    })
}

/// Write `<out>/<id>.yaml` and `<out>/tools/<id>.json` for every entry; returns the count.
pub fn write(import: &Import, out: &Path) -> Result<usize> {
    let tools_dir = out.join("tools");
    std::fs::create_dir_all(&tools_dir)
        .with_context(|| format!("cannot create {}", tools_dir.display()))?;
    for e in &import.entries {
        // Checked again here: `write` must never leave `out`, whoever built the entries.
        if !toolgate_core::paths::is_safe_file_stem(&e.id) {
            bail!("{:?}: the id is not a safe file name", e.id);
        }
        let yaml = serde_saphyr::to_string(&e.suite)
            .with_context(|| format!("{}: cannot write YAML", e.id))?;
        let header = format!(
            "# Imported from the Berkeley Function Calling Leaderboard (bfcl-eval), category `{}`.\n\
             # Regenerate with `toolgate import bfcl`; do not edit by hand.\n",
            import.category
        );
        std::fs::write(out.join(format!("{}.yaml", e.id)), header + &yaml)?;
        std::fs::write(
            tools_dir.join(format!("{}.json", e.id)),
            serde_json::to_string_pretty(&e.tools)? + "\n",
        )?;
    }
    Ok(import.entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_types_and_optional_values_follow_bfcl() {
        assert_eq!(tool_name("math.hypot"), "math_hypot");
        assert_eq!(json_type("dict"), "object");
        assert_eq!(json_type("tuple"), "array");
        assert_eq!(json_type("float"), "number");
        assert_eq!(json_type("whatever"), "string");
        let f = json!({"name":"math.hypot","description":"d","parameters":{"type":"dict",
            "properties":{"x":{"type":"integer"},"z":{"type":"float"},
              "pts":{"type":"array","items":{"type":"tuple"}}},"required":["x"]}});
        let mut w = Vec::new();
        let e = json!({"id":"simple_python_2","question":[[{"role":"user","content":"hyp 4 5"}]],
            "function":[f]});
        let gt = json!([{"math.hypot":{"x":[4],"z":["",0.0],"pts":[""]}}]);
        let entry = convert(&e, Some(&gt), "simple", &mut w).unwrap();
        let params = &entry.tools[0]["function"]["parameters"];
        assert_eq!(entry.tools[0]["function"]["name"], "math_hypot");
        assert_eq!(params["type"], "object");
        assert_eq!(params["properties"]["z"]["type"], "number");
        assert_eq!(params["properties"]["pts"]["items"]["type"], "array");
        let call = &entry.suite["cases"][0]["expect"]["calls"][0];
        assert_eq!(call["name"], "math_hypot");
        assert_eq!(call["args"]["x"], json!({"one_of": [4]}));
        assert_eq!(call["args"]["z"], json!({"one_of": [0.0, null]}));
        assert_eq!(call["args"]["pts"], json!({"absent": true}));
        assert_eq!(
            entry.reference,
            Reference::Calls(vec![("math_hypot".into(), json!({"x": 4, "z": 0.0}))])
        );
    }

    #[test]
    fn dicts_expand_and_ill_typed_values_are_dropped_with_a_warning() {
        let mut t = false;
        let v = expand(&json!({"a": ["x", "y"], "b": [1, ""]}), &mut t);
        assert_eq!(v.len(), 4);
        assert!(v.contains(&json!({"a": "y"})));
        assert!(!t);
        let e = json!({"id":"p_1","question":[[{"role":"user","content":"q"}]],
            "function":[{"name":"f","parameters":{"type":"dict","properties":{
                "venue":{"type":"string"}}}}]});
        let mut w = Vec::new();
        let entry = convert(
            &e,
            Some(&json!([{"f":{"venue":["",true]}}, {"f":{}}])),
            "parallel",
            &mut w,
        )
        .unwrap();
        assert_eq!(entry.suite["cases"][0]["expect"]["order"], "any");
        assert_eq!(
            entry.suite["cases"][0]["expect"]["calls"][0]["args"]["venue"],
            json!({"absent": true})
        );
        assert_eq!(w.len(), 1, "{w:?}");
    }

    /// Issue 17: an id that is a path (`../../x`, `/abs/x`) never writes outside `--out`;
    /// the entry is skipped with a warning and the safe ones are written.
    #[test]
    fn ids_that_are_paths_are_refused_and_nothing_is_written_outside_out() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        std::fs::create_dir_all(data.join("possible_answer")).unwrap();
        let q = |id: &str| {
            json!({"id": id, "question": [[{"role": "user", "content": "q"}]],
                "function": [{"name": "f", "parameters": {"type": "dict", "properties": {}}}]})
            .to_string()
        };
        let ids = ["../../escaped", "/abs/escaped", "sub/escaped", "ok_1"];
        let questions: Vec<String> = ids.iter().map(|i| q(i)).collect();
        std::fs::write(data.join("BFCL_v4_irrelevance.json"), questions.join("\n")).unwrap();
        let imp = import(&data, "irrelevance").unwrap();
        assert_eq!(imp.entries.len(), 1);
        assert_eq!(imp.warnings.len(), 3, "{:?}", imp.warnings);
        let out = root.path().join("a/b/out");
        assert_eq!(write(&imp, &out).unwrap(), 1);
        assert!(out.join("ok_1.yaml").exists());
        assert!(!root.path().join("a/escaped.yaml").exists());
        assert!(!out.join("sub").exists());
        // `write` refuses on its own too, whoever built the entries.
        let mut forged = imp.clone();
        forged.entries[0].id = "../../forged".into();
        assert!(write(&forged, &out).is_err());
        assert!(!root.path().join("a/forged.yaml").exists());
    }
}
