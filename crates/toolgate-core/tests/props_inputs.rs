//! Property tests for tools files and prompt templates (issue 8, guarantee 3): bad input is
//! a located rejection, never a panic. Tools-file problems are located by a JSON pointer,
//! which must point at something that exists in the file; template problems by a line.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use toolgate_core::load::load_tools;
use toolgate_core::prompt::{render_user_template, PromptContext, Prompts};
use toolgate_core::tools::parse_tools;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// JSON built from the words the tools parser looks at, so shape confusion is likely.
fn toolish() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "tools",
        "result",
        "type",
        "function",
        "name",
        "description",
        "parameters",
        "inputSchema",
        "properties",
        "required",
        "items",
        "$schema",
        "$ref",
        "enum",
        "query",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-5i64..5).prop_map(|n| json!(n)),
        prop::sample::select(vec![
            "",
            "object",
            "string",
            "integer",
            "array",
            "function",
            "web_search",
            "#/x",
            "http://example.invalid/s.json",
            "\u{0}",
            "ಪ್ರಿಯಾ",
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..5).prop_map(|kv| Value::Object(
                kv.into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect::<Map<_, _>>()
            )),
        ]
    })
}

/// A valid tool: unique name per index, a small object schema.
fn tool(i: usize) -> impl Strategy<Value = (String, String, Value)> {
    let ty = prop::sample::select(vec!["string", "integer", "number", "boolean"]);
    (
        "[a-z][a-z_]{0,10}",
        "[ -~]{0,30}",
        prop::collection::btree_map("[a-z]{1,6}", ty, 0..4),
        any::<bool>(),
    )
        .prop_map(move |(name, desc, props, req)| {
            let props: Map<String, Value> = props
                .into_iter()
                .map(|(k, t)| (k, json!({ "type": t })))
                .collect();
            let required: Vec<&String> = if req { props.keys().collect() } else { vec![] };
            let schema = json!({"type": "object", "properties": props, "required": required});
            (format!("{name}_{i}"), desc, schema)
        })
}

fn tools() -> impl Strategy<Value = Vec<(String, String, Value)>> {
    (1usize..5).prop_flat_map(|n| (0..n).map(tool).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 800, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every rejection points into the document (or at the whole document).
    #[test]
    fn tools_errors_point_at_real_places(doc in toolish()) {
        if let Err(errs) = parse_tools(&doc) {
            prop_assert!(!errs.is_empty());
            for e in errs {
                prop_assert!(!e.message.is_empty());
                prop_assert!(
                    e.pointer.is_empty() || doc.pointer(&e.pointer).is_some(),
                    "pointer {} is not in {}", e.pointer, doc
                );
            }
        }
    }

    /// Also wrapped in a JSON-RPC response, the shape `tools/list` answers with.
    #[test]
    fn jsonrpc_wrapped_errors_point_at_real_places(inner in toolish()) {
        let doc = json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [inner]}});
        if let Err(errs) = parse_tools(&doc) {
            for e in errs {
                prop_assert!(
                    e.pointer.is_empty() || doc.pointer(&e.pointer).is_some(),
                    "pointer {} is not in {}", e.pointer, doc
                );
            }
        }
    }

    /// The OpenAI and MCP shapes of the same tools load into the same tool set, and the
    /// OpenAI form toolgate sends is itself a tools file that loads back unchanged.
    #[test]
    fn both_shapes_load_the_same_tools(ts in tools()) {
        let openai: Vec<Value> = ts.iter().map(|(n, d, s)| json!({"type": "function",
            "function": {"name": n, "description": d, "parameters": s}})).collect();
        let mcp = json!({"tools": ts.iter().map(|(n, d, s)| json!({"name": n, "description": d,
            "inputSchema": s})).collect::<Vec<_>>()});
        let a = parse_tools(&Value::Array(openai)).expect("openai shape");
        let b = parse_tools(&mcp).expect("mcp shape");
        prop_assert_eq!(a.shape.as_str(), "openai");
        prop_assert_eq!(b.shape.as_str(), "mcp");
        prop_assert_eq!(a.names(), b.names());
        for (x, y) in a.tools.iter().zip(&b.tools) {
            prop_assert_eq!(&x.parameters, &y.parameters);
            prop_assert_eq!(&x.description, &y.description);
        }
        let again = parse_tools(&Value::Array(a.to_openai())).expect("round trip");
        prop_assert_eq!(again.to_openai(), a.to_openai());
    }

    /// Byte mutations of the shipped tools files: located by line (JSON errors) or pointer.
    #[test]
    fn mutated_tools_files_are_loaded_or_located(file in 0usize..3, pos in any::<prop::sample::Index>(), del in 0usize..6, ins in prop::collection::vec(any::<u8>(), 0..4)) {
        let name = ["voice-3tool.json", "browser-compact.json", "playwright-mcp.json"][file];
        let mut bytes = std::fs::read(root().join("golden/tools").join(name)).unwrap();
        let p = pos.index(bytes.len());
        let end = (p + del).min(bytes.len());
        bytes.splice(p..end, ins);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        if let Err(diags) = load_tools(&path) {
            let lines = bytes.split(|&b| b == b'\n').count() as u64;
            for d in diags.iter() {
                prop_assert!(d.line <= lines, "{d}");
                prop_assert!(
                    d.line >= 1 || d.message.starts_with("at /") || d.message.starts_with("expected an OpenAI")
                        || d.message == "empty file",
                    "unlocated: {d}"
                );
            }
        }
    }
}

/// Template text from Jinja's alphabet.
fn template() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "{{ ",
        " }}",
        "{% ",
        " %}",
        "{# ",
        " #}",
        "if ",
        "for t in tools",
        "endfor",
        "endif",
        "today",
        "suite",
        "assistant_name",
        "missing_var",
        "t.name",
        "|upper",
        "|tojson",
        "\n",
        "text ",
        "'",
        "\"",
        "(",
        ")",
        "[",
        "]",
        "-",
        "~",
        "set x = 1",
        "macro m()",
        "endmacro",
        "m()",
        "include 'x'",
        "range(3)",
        "1/0",
        "loop.index",
    ]);
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

fn render_one(text: &str) -> Result<(Option<String>, Vec<toolgate_core::Diagnostic>), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::write(dir.path().join("p.md.j2"), text).map_err(|e| e.to_string())?;
    let (prompts, mut diags) = Prompts::load(dir.path());
    let tools = load_tools(&root().join("golden/tools/voice-3tool.json")).unwrap();
    let mut vars = BTreeMap::new();
    vars.insert("assistant_name".to_string(), json!("Annie"));
    let mut out = None;
    if diags.is_empty() {
        let ctx = PromptContext {
            tools: Some(&tools),
            today: "2026-01-31".into(),
            suite: "s".into(),
            vars: vec![&vars],
        };
        match prompts.render("p", &ctx) {
            Ok(s) => out = Some(s),
            Err(d) => diags.push(d),
        }
    }
    let _ = render_user_template(text, "input", &[&vars]);
    Ok((out, diags))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any template: rendered, or refused with a line inside the template.
    #[test]
    fn templates_render_or_name_a_line(text in template()) {
        let (_, diags) = render_one(&text).unwrap();
        let lines = text.split('\n').count() as u64;
        for d in diags {
            prop_assert!(d.line >= 1 && d.line <= lines, "line {} of {lines}: {d}\n---\n{text}", d.line);
        }
    }

    /// Strict undefined: an unknown variable is an error on exactly its line.
    #[test]
    fn undefined_variable_is_reported_on_its_line(before in prop::collection::vec("[a-zA-Z ,.]{0,20}", 0..6), after in prop::collection::vec("[a-zA-Z ,.]{0,20}", 0..3)) {
        let mut text = before.join("\n");
        if !before.is_empty() {
            text.push('\n');
        }
        text.push_str("Hello {{ not_a_var }}");
        for a in &after {
            text.push('\n');
            text.push_str(a);
        }
        let (out, diags) = render_one(&text).unwrap();
        prop_assert!(out.is_none());
        prop_assert_eq!(diags.len(), 1);
        prop_assert_eq!(diags[0].line, before.len() as u64 + 1, "{}", diags[0]);
        prop_assert!(diags[0].message.contains("undefined"), "{}", diags[0]);
    }
}

/// Regression: errors inside a JSON-RPC `tools/list` response pointed at `/tools/N`, a place
/// that does not exist in the file (it is `/result/tools/N`).
#[test]
fn jsonrpc_pointer_includes_result() {
    let doc = json!({"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": ""}]}});
    let errs = parse_tools(&doc).unwrap_err();
    assert_eq!(errs[0].pointer, "/result/tools/0");
}

/// Regression: a suite naming a device as its tools file (`/dev/zero` has length 0 in its
/// metadata, so the size check passed) was read without end; now the read is bounded and
/// the problem is reported at the `tools:` line.
#[test]
fn device_as_tools_file_is_refused_at_its_line() {
    if !std::path::Path::new("/dev/zero").exists() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.yaml");
    std::fs::write(
        &p,
        "suite: s\nkind: tool_call\ntools: /dev/zero\ncases:\n  - id: a\n    user: hi\n    expect: { no_call: true }\n",
    )
    .unwrap();
    let ctx = toolgate_core::load::LoadContext {
        prompts: None,
        today: "2026-01-31".into(),
    };
    let diags = toolgate_core::load::load_suite(&p, &ctx).unwrap_err();
    assert_eq!(diags.0[0].line, 3, "{diags}");
    assert!(diags.0[0].message.contains("byte limit"), "{diags}");
}
