//! Loading suite files into the resolved model, collecting every problem as a located
//! [`Diagnostic`]. Nothing here panics on bad input; nothing half-loads: a suite with any
//! problem is returned as diagnostics only.

use crate::diag::{line_col, Diagnostic, Diagnostics};
use crate::model::*;
use crate::prompt::{render_user_template, PromptContext, Prompts};
use crate::spec::*;
use crate::text::sha256_hex;
use crate::tools::{compile_schema, parse_tools, ToolSet};
use serde_json::Value;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Files larger than this are refused before parsing.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// What the loader needs besides the file.
pub struct LoadContext<'a> {
    /// The prompt templates; when present, suites' prompts are checked by rendering them.
    pub prompts: Option<&'a Prompts>,
    /// `YYYY-MM-DD` for prompt rendering.
    pub today: String,
}

/// Read a text file with the checks every loader shares: exists, size cap, not binary,
/// valid UTF-8, not empty.
pub fn read_text(path: &Path) -> Result<String, Diagnostic> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Diagnostic::whole_file(path, format!("cannot read file: {e}")))?;
    if meta.is_dir() {
        return Err(Diagnostic::whole_file(path, "is a folder, expected a file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::whole_file(
            path,
            format!(
                "file is {} bytes, larger than the {} byte limit",
                meta.len(),
                MAX_FILE_BYTES
            ),
        )
        .expected("a case, tools or schema file of a few megabytes at most"));
    }
    // Bounded read: a device or special file (`tools: /dev/zero`) reports length 0 above
    // and would otherwise be read without end.
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(
            std::fs::File::open(path)
                .map_err(|e| Diagnostic::whole_file(path, format!("cannot read file: {e}")))?,
            MAX_FILE_BYTES + 1,
        ),
        &mut bytes,
    )
    .map_err(|e| Diagnostic::whole_file(path, format!("cannot read file: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Diagnostic::whole_file(
            path,
            format!("file is larger than the {MAX_FILE_BYTES} byte limit"),
        )
        .expected("a case, tools or schema file of a few megabytes at most"));
    }
    if let Some(pos) = bytes.iter().position(|&b| b == 0) {
        let (l, c) = line_col(&String::from_utf8_lossy(&bytes[..pos]), pos);
        return Err(Diagnostic::new(path, l, c, "binary file (NUL byte)").expected("UTF-8 text"));
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let pos = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let prefix = String::from_utf8_lossy(&bytes[..pos]).into_owned();
            let (l, c) = line_col(&prefix, prefix.len());
            return Err(Diagnostic::new(path, l, c, "invalid UTF-8").expected("UTF-8 encoded text"));
        }
    };
    if text.trim().is_empty() {
        return Err(Diagnostic::whole_file(path, "empty file"));
    }
    Ok(text)
}

/// Parse a JSON file (tools files, schemas) with located errors.
pub fn read_json(path: &Path) -> Result<Value, Diagnostic> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| {
        Diagnostic::new(
            path,
            e.line() as u64,
            e.column() as u64,
            format!("invalid JSON: {e}"),
        )
        .with_source(&text)
    })
}

/// Longest case id `validate` accepts, in bytes.
pub const MAX_CASE_ID: usize = 200;

/// Parse YAML into `T` with serde-saphyr (duplicate keys and unknown fields rejected).
pub fn parse_yaml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, Diagnostic> {
    serde_saphyr::from_str::<T>(text).map_err(|e| {
        let (line, col) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let msg = e.without_snippet().to_string();
        // saphyr's message may repeat the location; keep the first line, which carries the reason.
        let msg = msg.lines().next().unwrap_or("invalid YAML").trim();
        let msg = match msg.rfind(" at line ") {
            Some(i) if msg[i..].contains(", column ") => &msg[..i],
            _ => msg,
        }
        .replace(", set DuplicateKeyPolicy in Options if acceptable", "");
        Diagnostic::new(path, line, col, msg).with_source(text)
    })
}

/// Load a tools file (either shape).
pub fn load_tools(path: &Path) -> Result<ToolSet, Diagnostics> {
    let doc = read_json(path).map_err(|d| Diagnostics(vec![d]))?;
    parse_tools(&doc).map_err(|errs| {
        Diagnostics(
            errs.into_iter()
                .map(|e| {
                    let m = if e.pointer.is_empty() {
                        e.message
                    } else {
                        format!("at {}: {}", e.pointer, e.message)
                    };
                    Diagnostic::whole_file(path, m)
                })
                .collect(),
        )
    })
}

/// Every `*.yaml` / `*.yml` under the given paths (files are taken as given), sorted.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Diagnostics> {
    let mut out = Vec::new();
    let mut diags = Diagnostics::default();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            diags.push(Diagnostic::whole_file(p, "no such file or folder"));
        }
    }
    out.sort();
    out.dedup();
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("yaml") | Some("yml")
        ) {
            out.push(p);
        }
    }
}

/// Load every suite under `paths`; returns the suites that loaded cleanly and all problems.
pub fn load_all(paths: &[PathBuf], ctx: &LoadContext<'_>) -> (Vec<Suite>, Diagnostics) {
    let mut diags = Diagnostics::default();
    let files = match discover(paths) {
        Ok(f) => f,
        Err(d) => {
            diags.extend(d);
            return (vec![], diags);
        }
    };
    let mut suites: Vec<Suite> = Vec::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for f in files {
        match load_suite(&f, ctx) {
            Ok(s) => {
                if let Some(prev) = seen.get(&s.name) {
                    diags.push(
                        Diagnostic::new(&f, 1, 1, format!("duplicate suite name `{}`", s.name))
                            .expected(format!("a name not already used by {}", prev.display())),
                    );
                } else {
                    seen.insert(s.name.clone(), f.clone());
                    suites.push(s);
                }
            }
            Err(d) => diags.extend(d),
        }
    }
    (suites, diags)
}

/// Collects diagnostics for one file.
struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
    diags: Diagnostics,
}

impl Ctx<'_> {
    fn at<T>(
        &mut self,
        span: &Spanned<T>,
        case: Option<&str>,
        msg: impl Into<String>,
    ) -> &mut Diagnostic {
        let mut d = Diagnostic::new(
            self.path,
            span.referenced.line(),
            span.referenced.column(),
            msg,
        )
        .with_source(self.text);
        if let Some(c) = case {
            d = d.case(c);
        }
        self.diags.push(d);
        self.diags.0.last_mut().expect("just pushed")
    }
}

impl Ctx<'_> {
    /// Like [`Ctx::at`], with the caret on the first `key` written at or after the start of
    /// `span` (a key inside a flow or block mapping), falling back to the span itself.
    fn at_key<T>(
        &mut self,
        span: &Spanned<T>,
        key: &str,
        case: Option<&str>,
        msg: impl Into<String>,
    ) -> &mut Diagnostic {
        let (line, col) = (span.referenced.line(), span.referenced.column());
        let found = key_position(self.text, line, col, key);
        let text = self.text;
        let d = self.at(span, case, msg);
        if let Some((l, c)) = found {
            d.line = l;
            d.column = c;
            d.source_line = None;
            *d = d.clone().with_source(text);
        }
        d
    }
}

/// The 1-based (line, column) of the first `key` in `text` at or after (`line`, `col`),
/// within a short window (the mapping that starts there).
fn key_position(text: &str, line: u64, col: u64, key: &str) -> Option<(u64, u64)> {
    let start_line = usize::try_from(line).ok()?.checked_sub(1)?;
    let mut offset = 0usize;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i == start_line {
            offset += l
                .char_indices()
                .nth(usize::try_from(col).ok()?.saturating_sub(1))
                .map_or(l.len(), |(b, _)| b);
            break;
        }
        offset += l.len();
    }
    let window = text.get(offset..)?;
    let window = &window[..window.len().min(4096)];
    let at = offset + window.find(key)?;
    let before = &text[..at];
    let l = before.matches('\n').count() as u64 + 1;
    let c = before.rsplit('\n').next().unwrap_or("").chars().count() as u64 + 1;
    Some((l, c))
}

/// Each case's (`input_hash`, `expect_hash`), by id: a 16-hex-digit SHA-256 prefix of the
/// case as written, in a canonical form (keys sorted, so formatting, comments and key order
/// do not count). The expectation is the case's `expect` plus the suite's `defaults.expect`;
/// the input is the rest of the case plus the suite's `vars`, `prompt` and other defaults.
/// Two runs compare a case only when its expectation is unchanged.
fn case_hashes(text: &str) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    let Ok(Value::Object(mut doc)) = serde_saphyr::from_str::<Value>(text) else {
        return out;
    };
    let mut defaults = doc.remove("defaults").unwrap_or(Value::Null);
    let default_expect = defaults
        .as_object_mut()
        .and_then(|d| d.remove("expect"))
        .unwrap_or(Value::Null);
    let suite_input = serde_json::json!([
        defaults,
        doc.get("vars"),
        doc.get("prompt"),
        doc.get("user_template"),
        doc.get("tools")
    ]);
    let Some(Value::Array(cases)) = doc.remove("cases") else {
        return out;
    };
    for mut case in cases {
        let Some(obj) = case.as_object_mut() else {
            continue;
        };
        let Some(id) = obj.get("id").and_then(Value::as_str).map(str::to_string) else {
            continue;
        };
        let expect = obj.remove("expect").unwrap_or(Value::Null);
        let input = short_hash(&serde_json::json!([suite_input, case]));
        let expect = short_hash(&serde_json::json!([default_expect, expect]));
        out.insert(id, (input, expect));
    }
    out
}

fn short_hash(v: &Value) -> String {
    fn canonical(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for k in keys {
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    canonical(&m[k], out);
                    out.push(',');
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for x in a {
                    canonical(x, out);
                    out.push(',');
                }
                out.push(']');
            }
            v => out.push_str(&v.to_string()),
        }
    }
    let mut s = String::new();
    canonical(v, &mut s);
    sha256_hex(s.as_bytes())[..16].to_string()
}

/// Load one suite file.
pub fn load_suite(path: &Path, lctx: &LoadContext<'_>) -> Result<Suite, Diagnostics> {
    let text = read_text(path).map_err(|d| Diagnostics(vec![d]))?;
    let spec: SuiteSpec = parse_yaml(path, &text).map_err(|d| Diagnostics(vec![d]))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut cx = Ctx {
        path,
        text: &text,
        diags: Diagnostics::default(),
    };

    if spec.suite.value.trim().is_empty() {
        cx.at(&spec.suite, None, "suite name is empty");
    }
    let kind = spec.kind.value;

    // Tools file.
    let mut tools_path = None;
    let tools = match &spec.tools {
        // `tools: none`: the request offers no tools (any call is hallucinated).
        Some(t) if t.value.trim() == "none" => ToolSet::default(),
        Some(t) => {
            let p = base.join(&t.value);
            tools_path = Some(p.clone());
            match load_tools(&p) {
                Ok(ts) => ts,
                Err(ds) => {
                    for d in ds.0 {
                        let msg = format!("tools file {}: {}", d.location(), d.message);
                        cx.at(t, None, msg);
                    }
                    ToolSet::default()
                }
            }
        }
        None => {
            if kind == CaseKind::ToolCall {
                cx.diags.push(
                    Diagnostic::new(path, 1, 1, "a tool_call suite needs a `tools:` file")
                        .expected("tools: path/to/tools.json"),
                );
            }
            ToolSet::default()
        }
    };
    let tools = Arc::new(tools);

    // Suite-level schema and output.
    let suite_schema = spec
        .schema
        .as_ref()
        .and_then(|s| load_schema(&mut cx, base, s, None));
    let suite_output = spec
        .output
        .as_ref()
        .and_then(|o| parse_output(&mut cx, o, &tools, None));

    // Prompt.
    let prompt = spec.prompt.as_ref().map(|p| p.value.clone());
    if let (Some(p), Some(prompts)) = (&spec.prompt, lctx.prompts) {
        if !prompts.contains(&p.value) {
            let names: Vec<&str> = prompts.names().collect();
            cx.at(
                p,
                None,
                format!(
                    "no prompt template `{}` in {}",
                    p.value,
                    prompts.dir().display()
                ),
            )
            .expected = Some(format!("one of: {}", names.join(", ")));
        } else {
            let pctx = PromptContext {
                tools: Some(&tools),
                today: lctx.today.clone(),
                suite: spec.suite.value.clone(),
                vars: vec![&spec.vars],
            };
            if let Err(d) = prompts.render(&p.value, &pctx) {
                let msg = format!(
                    "prompt `{}` does not render: {} ({})",
                    p.value,
                    d.message,
                    d.location()
                );
                cx.at(p, None, msg);
            }
        }
    }

    if let Some(dx) = &spec.defaults.expect {
        for (set, key) in [
            (dx.calls.is_some(), "calls"),
            (dx.no_call.is_some(), "no_call"),
            (dx.any_of.is_some(), "any_of"),
            (dx.ask.is_some(), "ask"),
            (dx.mentions.is_some(), "mentions"),
            (dx.refuse.is_some(), "refuse"),
            (dx.entities.is_some(), "entities"),
        ] {
            if set {
                cx.diags.push(
                    Diagnostic::new(path, 1, 1, format!("`defaults.expect` cannot hold `{key}`"))
                        .expected("text gates and policies (order, extra_calls, strict_args, min_recall, …)")
                        .with_source(&text),
                );
            }
        }
    }

    let mut cases = Vec::new();
    let mut ids: BTreeMap<String, u64> = BTreeMap::new();
    if spec.cases.is_empty() {
        cx.diags.push(
            Diagnostic::new(path, 1, 1, "suite has no cases").expected("a non-empty `cases:` list"),
        );
    }
    for cs in &spec.cases {
        let id = cs.id.value.clone();
        if id.trim().is_empty() {
            cx.at(&cs.id, None, "case id is empty");
        } else if id.len() > MAX_CASE_ID || id.chars().any(char::is_control) {
            // Ids end up in file names, report rows and terminal lines: one bounded line.
            cx.at(
                &cs.id,
                None,
                format!(
                    "case id `{}` is longer than {MAX_CASE_ID} bytes or holds control characters",
                    crate::text::terminal(&id.chars().take(60).collect::<String>())
                ),
            )
            .expected = Some("a short id on one line (letters, digits, `-`, `_`, `.`)".into());
        }
        if let Some(prev) = ids.get(&id) {
            cx.at(
                &cs.id,
                Some(&id),
                format!("duplicate case id `{id}` (first at line {prev})"),
            )
            .expected = Some("ids unique within the suite".into());
        } else {
            ids.insert(id.clone(), cs.id.referenced.line());
        }
        if let Some(case) = build_case(
            &mut cx,
            &spec,
            cs,
            kind,
            &tools,
            base,
            &suite_schema,
            &suite_output,
            lctx,
        ) {
            cases.push(case);
        }
    }

    if !cx.diags.is_empty() {
        return Err(cx.diags);
    }
    let hashes = case_hashes(&text);
    for c in &mut cases {
        if let Some((input, expect)) = hashes.get(&c.id) {
            c.input_hash = input.clone();
            c.expect_hash = expect.clone();
        }
    }
    Ok(Suite {
        name: spec.suite.value.clone(),
        kind,
        description: spec.description.clone(),
        path: path.to_path_buf(),
        sha256: sha256_hex(text.as_bytes()),
        tools,
        tools_path,
        prompt,
        vars: spec.vars.clone(),
        cases,
    })
}

fn load_schema(
    cx: &mut Ctx<'_>,
    base: &Path,
    s: &Spanned<String>,
    case: Option<&str>,
) -> Option<(SchemaMatcher, PathBuf)> {
    let p = base.join(&s.value);
    match read_json(&p) {
        Ok(v) => match compile_schema(&v) {
            Ok(val) => Some((
                SchemaMatcher {
                    schema: v,
                    validator: Arc::new(val),
                },
                p,
            )),
            Err(e) => {
                cx.at(
                    s,
                    case,
                    format!("{} is not a valid JSON Schema: {e}", p.display()),
                );
                None
            }
        },
        Err(d) => {
            cx.at(
                s,
                case,
                format!("schema file {}: {}", d.location(), d.message),
            );
            None
        }
    }
}

fn parse_output(
    cx: &mut Ctx<'_>,
    o: &Spanned<String>,
    tools: &ToolSet,
    case: Option<&str>,
) -> Option<OutputSource> {
    let v = o.value.trim();
    if v == "content" {
        return Some(OutputSource::Content);
    }
    if let Some(name) = v.strip_prefix("tool:") {
        if tools.get(name).is_none() {
            cx.at(
                o,
                case,
                format!("output names tool `{name}`, which is not in the tools file"),
            )
            .expected = Some(format!("one of: {}", tools.names().join(", ")));
            return None;
        }
        return Some(OutputSource::Tool(name.to_string()));
    }
    cx.at(o, case, format!("unknown output `{v}`")).expected =
        Some("`content` or `tool:NAME`".into());
    None
}

#[allow(clippy::too_many_arguments)]
fn build_case(
    cx: &mut Ctx<'_>,
    spec: &SuiteSpec,
    cs: &CaseSpec,
    suite_kind: CaseKind,
    tools: &Arc<ToolSet>,
    base: &Path,
    suite_schema: &Option<(SchemaMatcher, PathBuf)>,
    suite_output: &Option<OutputSource>,
    _lctx: &LoadContext<'_>,
) -> Option<Case> {
    let id = cs.id.value.as_str();
    let before = cx.diags.len();
    let kind = cs.kind.as_ref().map(|k| k.value).unwrap_or(suite_kind);
    let d = &spec.defaults;

    let mut vars = spec.vars.clone();
    vars.extend(cs.vars.clone());

    // Input: exactly one of user / messages / input / turns.
    let given: Vec<&str> = [
        (cs.user.is_some(), "user"),
        (cs.messages.is_some(), "messages"),
        (cs.input.is_some(), "input"),
        (cs.turns.is_some(), "turns"),
    ]
    .iter()
    .filter(|(s, _)| *s)
    .map(|(_, n)| *n)
    .collect();
    if given.len() != 1 {
        let msg = if given.is_empty() {
            "case has no input".to_string()
        } else {
            format!("case gives its input more than once ({})", given.join(", "))
        };
        cx.at(&cs.id, Some(id), msg).expected = Some(
            "exactly one of `user`, `messages`, `input` (or `turns` for conversation cases)".into(),
        );
    }
    if kind == CaseKind::Conversation && cs.turns.is_none() {
        cx.at(&cs.id, Some(id), "conversation case without `turns`")
            .expected = Some("turns: [{user: …}, …]".into());
    }
    if kind != CaseKind::Conversation && cs.turns.is_some() {
        cx.at(&cs.id, Some(id), format!("`turns` in a {kind} case"))
            .expected = Some("`turns` only in conversation cases".into());
    }

    let prefill = cs.prefill.clone().or_else(|| d.prefill.clone());
    let mut input = CaseInput::Messages(vec![]);
    if let Some(u) = &cs.user {
        input = CaseInput::Messages(vec![Message::user(u.clone())]);
    } else if let Some(ms) = &cs.messages {
        let mut out = Vec::new();
        for (i, m) in ms.iter().enumerate() {
            if m.role == RoleSpec::Tool && m.tool_call_id.is_none() {
                cx.at(
                    &cs.id,
                    Some(id),
                    format!("messages[{i}]: tool message without `tool_call_id`"),
                )
                .expected = Some("tool_call_id naming an earlier assistant tool call".into());
            }
            if m.content.is_none() && m.tool_calls.is_none() {
                cx.at(
                    &cs.id,
                    Some(id),
                    format!("messages[{i}]: message without content"),
                )
                .expected = Some("`content` (or `tool_calls` on assistant messages)".into());
            }
            out.push(Message {
                role: match m.role {
                    RoleSpec::System => Role::System,
                    RoleSpec::User => Role::User,
                    RoleSpec::Assistant => Role::Assistant,
                    RoleSpec::Tool => Role::Tool,
                },
                content: m.content.clone(),
                tool_calls: m
                    .tool_calls
                    .iter()
                    .flatten()
                    .map(|c| HistoryCall {
                        id: c.id.clone(),
                        name: c.name.clone(),
                        arguments: c.arguments.clone(),
                    })
                    .collect(),
                tool_call_id: m.tool_call_id.clone(),
                name: m.name.clone(),
            });
        }
        if out.is_empty() {
            cx.at(&cs.id, Some(id), "`messages` is empty");
        }
        input = CaseInput::Messages(out);
    } else if let Some(inp) = &cs.input {
        let tmpl = spec
            .user_template
            .as_ref()
            .map(|t| t.value.as_str())
            .unwrap_or("{{ input }}");
        match render_user_template(tmpl, inp, &[&vars]) {
            Ok(text) => input = CaseInput::Messages(vec![Message::user(text)]),
            Err(e) => {
                let msg = format!("user_template does not render: {e}");
                match &spec.user_template {
                    Some(t) => cx.at(t, Some(id), msg),
                    None => cx.at(&cs.id, Some(id), msg),
                };
            }
        }
    }
    if let (Some(p), CaseInput::Messages(ms)) = (&prefill, &mut input) {
        ms.push(Message::assistant(p.clone()));
    }

    // Expectations. A tool_call or extraction case without `expect` is record-only: its
    // answers are kept for `toolgate agree` and reports, never judged. (Chat and
    // conversation cases always have at least the `non_empty` gate.)
    let record_only =
        cs.expect.is_none() && matches!(kind, CaseKind::ToolCall | CaseKind::Extraction);
    let case_expect = cs.expect.clone().unwrap_or_default();
    let merged = merge_expect(&case_expect, d.expect.as_ref());
    let strict_default = cs.strict_args.or(d.strict_args).unwrap_or(false);

    let schema = match &cs.schema {
        Some(s) => load_schema(cx, base, s, Some(id)),
        None => suite_schema.clone(),
    };
    let output = match &cs.output {
        Some(o) => parse_output(cx, o, tools, Some(id)),
        None => suite_output.clone(),
    };

    let expect = if record_only {
        Expectation {
            record_only: true,
            ..Expectation::default()
        }
    } else {
        build_expect(
            cx,
            &cs.id,
            &merged,
            kind,
            tools,
            strict_default,
            &schema,
            &output,
            // A schema that was named but did not load has its own error already.
            cs.schema.is_some() || spec.schema.is_some(),
        )
    };

    if kind == CaseKind::Conversation {
        let mut turns = Vec::new();
        for (i, t) in cs.turns.iter().flatten().enumerate() {
            let te = merge_expect(&t.expect.clone().unwrap_or_default(), Some(&merged));
            let e = build_expect(
                cx,
                &cs.id,
                &te,
                CaseKind::Chat,
                tools,
                strict_default,
                &None,
                &None,
                false,
            );
            if t.user.trim().is_empty() {
                cx.at(&cs.id, Some(id), format!("turns[{i}].user is empty"));
            }
            turns.push(Turn {
                user: t.user.clone(),
                expect: e,
            });
        }
        if turns.is_empty() && cs.turns.is_some() {
            cx.at(&cs.id, Some(id), "`turns` is empty");
        }
        input = CaseInput::Turns(turns);
    }

    if kind == CaseKind::Chat && cs.category.is_none() {
        // Categories drive latency grouping; a chat case without one is allowed but grouped as `uncategorised`.
    }

    let params = RequestParams {
        tool_choice: cs.tool_choice.clone().or_else(|| d.tool_choice.clone()),
        max_tokens: cs.max_tokens.or(d.max_tokens),
        temperature: cs.temperature.or(d.temperature),
        top_p: d.top_p,
        seed: d.seed,
        parallel_tool_calls: d.parallel_tool_calls,
        response_format: cs
            .response_format
            .clone()
            .or_else(|| d.response_format.clone()),
        extra_body: d.extra_body.clone(),
        prefill,
    };
    if let Some(tc) = &params.tool_choice {
        check_tool_choice(cx, &cs.id, tc, tools);
    }

    if cx.diags.len() > before {
        return None;
    }
    Some(Case {
        id: id.to_string(),
        kind,
        description: cs.description.clone(),
        tags: cs.tags.clone(),
        category: cs.category.clone(),
        input,
        expect,
        params,
        vars,
        line: cs.id.referenced.line(),
        input_hash: String::new(),
        expect_hash: String::new(),
    })
}

fn check_tool_choice(cx: &mut Ctx<'_>, at: &Spanned<String>, tc: &Value, tools: &ToolSet) {
    let id = at.value.as_str();
    match tc {
        Value::String(s) if matches!(s.as_str(), "auto" | "none" | "required") => {}
        Value::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str);
            match name {
                Some(n) if tools.get(n).is_some() => {}
                Some(n) => {
                    cx.at(
                        at,
                        Some(id),
                        format!("tool_choice names `{n}`, which is not in the tools file"),
                    )
                    .expected = Some(format!("one of: {}", tools.names().join(", ")));
                }
                None => {
                    cx.at(at, Some(id), "tool_choice object without function.name")
                        .expected = Some("{type: function, function: {name: TOOL}}".into());
                }
            }
        }
        other => {
            cx.at(at, Some(id), format!("invalid tool_choice {other}"))
                .expected =
                Some("auto | none | required | {type: function, function: {name: …}}".into());
        }
    }
}

/// Case keys win; defaults fill what the case leaves unset.
fn merge_expect(case: &ExpectSpec, defaults: Option<&ExpectSpec>) -> ExpectSpec {
    let Some(d) = defaults else {
        return case.clone();
    };
    let d = d.clone();
    let c = case.clone();
    ExpectSpec {
        calls: c.calls.or(d.calls),
        no_call: c.no_call.or(d.no_call),
        order: c.order.or(d.order),
        extra_calls: c.extra_calls.or(d.extra_calls),
        any_of: c.any_of.or(d.any_of),
        strict_args: c.strict_args.or(d.strict_args),
        ask: c.ask.or(d.ask),
        mentions: c.mentions.or(d.mentions),
        refuse: c.refuse.or(d.refuse),
        entities: c.entities.or(d.entities),
        min_recall: c.min_recall.or(d.min_recall),
        min_precision: c.min_precision.or(d.min_precision),
        match_types: c.match_types.or(d.match_types),
        strip_zwj: c.strip_zwj.or(d.strip_zwj),
        non_empty: c.non_empty.or(d.non_empty),
        no_markdown: c.no_markdown.or(d.no_markdown),
        no_thinking_leak: c.no_thinking_leak.or(d.no_thinking_leak),
        contains: c.contains.or(d.contains),
        contains_any: c.contains_any.or(d.contains_any),
        not_contains: c.not_contains.or(d.not_contains),
        max_words: c.max_words.or(d.max_words),
    }
}

#[allow(clippy::too_many_arguments)]
fn build_expect(
    cx: &mut Ctx<'_>,
    at: &Spanned<String>,
    e: &ExpectSpec,
    kind: CaseKind,
    tools: &ToolSet,
    strict_default: bool,
    schema: &Option<(SchemaMatcher, PathBuf)>,
    output: &Option<OutputSource>,
    schema_named: bool,
) -> Expectation {
    let id = at.value.as_str();
    let strict = e.strict_args.unwrap_or(strict_default);

    // Tool-call part.
    let has_tool_keys = e.calls.is_some() || e.no_call.is_some() || e.any_of.is_some();
    let decision = decision_expect(cx, at, e, kind, has_tool_keys);
    let tools_exp = if has_tool_keys {
        let mut alternatives = Vec::new();
        if let Some(alts) = &e.any_of {
            if e.calls.is_some() || e.no_call.is_some() {
                cx.at(at, Some(id), "`any_of` together with `calls`/`no_call`")
                    .expected = Some("either `any_of: [...]` or one `calls:`/`no_call:`".into());
            }
            if alts.is_empty() {
                cx.at(at, Some(id), "`any_of` is empty");
            }
            for (i, alt) in alts.iter().enumerate() {
                if alt.any_of.is_some()
                    || alt.entities.is_some()
                    || alt.ask.is_some()
                    || alt.refuse.is_some()
                {
                    cx.at(
                        at,
                        Some(id),
                        format!("any_of[{i}]: alternatives hold `calls` or `no_call` only"),
                    );
                }
                if let Some(cs) = call_set(
                    cx,
                    at,
                    alt,
                    tools,
                    alt.strict_args.unwrap_or(strict),
                    &format!("any_of[{i}]"),
                ) {
                    alternatives.push(cs);
                }
            }
        } else if let Some(cs) = call_set(cx, at, e, tools, strict, "expect") {
            alternatives.push(cs);
        }
        Some(ToolExpectation { alternatives })
    } else {
        if kind == CaseKind::ToolCall && decision.is_none() {
            cx.at(at, Some(id), "tool_call case without a call expectation")
                .expected = Some(
                "expect.calls, expect.no_call: true, expect.any_of, expect.ask: true or expect.refuse: true (or no `expect` at all: record-only)".into(),
            );
        }
        None
    };

    // Extraction part.
    let extraction = if kind == CaseKind::Extraction {
        if schema.is_none() && !schema_named {
            cx.at(at, Some(id), "extraction case without a `schema`")
                .expected = Some("schema: path/to/schema.json on the suite or the case".into());
        }
        let min_recall = e.min_recall.unwrap_or(1.0);
        let min_precision = e.min_precision.unwrap_or(1.0);
        for (v, n) in [(min_recall, "min_recall"), (min_precision, "min_precision")] {
            if !(0.0..=1.0).contains(&v) {
                cx.at(at, Some(id), format!("{n} is {v}")).expected =
                    Some("a number from 0 to 1".into());
            }
        }
        let mut entities = Vec::new();
        for (i, en) in e.entities.iter().flatten().enumerate() {
            if en.name.trim().is_empty() {
                cx.at(at, Some(id), format!("entities[{i}].name is empty"));
            }
            entities.push(EntityExpect {
                name: en.name.clone(),
                entity_type: en.entity_type.clone(),
                aliases: en.aliases.clone(),
            });
        }
        Some(ExtractExpectation {
            entities,
            min_recall,
            min_precision,
            match_types: e.match_types.unwrap_or(true),
            strip_zwj: e.strip_zwj.unwrap_or(false),
            output: output.clone().unwrap_or(OutputSource::Content),
            schema: schema.as_ref().map(|s| s.0.clone()),
            schema_path: schema.as_ref().map(|s| s.1.clone()),
        })
    } else {
        if e.entities.is_some() {
            cx.at(at, Some(id), format!("`entities` in a {kind} case"))
                .expected =
                Some("entities only in extraction cases (set `kind: extraction`)".into());
        }
        None
    };

    let mut gates = Gates {
        non_empty: e.non_empty.unwrap_or(false),
        no_markdown: e.no_markdown.unwrap_or(false),
        no_thinking_leak: e.no_thinking_leak.unwrap_or(false),
        contains: e
            .contains
            .clone()
            .map(StringOrList::into_vec)
            .unwrap_or_default(),
        contains_any: e
            .contains_any
            .clone()
            .map(StringOrList::into_vec)
            .unwrap_or_default(),
        not_contains: e
            .not_contains
            .clone()
            .map(StringOrList::into_vec)
            .unwrap_or_default(),
        max_words: e.max_words,
    };
    if kind == CaseKind::Chat || kind == CaseKind::Conversation {
        // A text answer must say something; an empty answer is never a pass.
        gates.non_empty = e.non_empty.unwrap_or(true);
    }
    for (n, list) in [
        ("contains", &gates.contains),
        ("contains_any", &gates.contains_any),
        ("not_contains", &gates.not_contains),
    ] {
        if list.iter().any(|s| s.trim().is_empty()) {
            cx.at(at, Some(id), format!("`{n}` has an empty string"));
        }
    }
    Expectation {
        tools: tools_exp,
        extraction,
        gates,
        decision,
        record_only: false,
    }
}

/// `ask: true` (with optional `mentions`) or `refuse: true`: a decision other than call or
/// answer. Either stands alone: it cannot be combined with call expectations.
fn decision_expect(
    cx: &mut Ctx<'_>,
    at: &Spanned<String>,
    e: &ExpectSpec,
    kind: CaseKind,
    has_tool_keys: bool,
) -> Option<DecisionExpect> {
    let id = at.value.as_str();
    // Each problem is reported at the key that makes it one.
    let ask_at = e.ask.as_ref().filter(|a| a.value);
    let refuse_at = e.refuse.as_ref().filter(|r| r.value);
    let mentions = e
        .mentions
        .clone()
        .map(|m| m.value.into_vec())
        .unwrap_or_default();
    if let Some(m) = &e.mentions {
        if ask_at.is_none() {
            cx.at(m, Some(id), "`mentions` without `ask: true`")
                .expected = Some("mentions: [...] beside ask: true".into());
        }
        if mentions.iter().any(|m| m.trim().is_empty()) {
            cx.at(m, Some(id), "`mentions` has an empty string")
                .expected =
                Some("words the question must contain, e.g. mentions: [date, time]".into());
        }
    }
    let (key, decision_at) = match (ask_at, refuse_at) {
        (Some(a), Some(r)) => {
            cx.at(r, Some(id), "`ask: true` together with `refuse: true`")
                .expected = Some("one decision: ask or refuse".into());
            ("ask", a)
        }
        (Some(a), None) => ("ask", a),
        (None, Some(r)) => ("refuse", r),
        (None, None) => return None,
    };
    if has_tool_keys {
        cx.at(
            decision_at,
            Some(id),
            format!("`{key}: true` together with `calls`/`no_call`/`any_of`"),
        )
        .expected = Some(format!(
            "`{key}: true` alone: it already means \"call nothing\""
        ));
    }
    if kind == CaseKind::Extraction {
        cx.at(
            decision_at,
            Some(id),
            format!("`{key}` in an extraction case"),
        )
        .expected = Some("ask/refuse in tool_call, chat or conversation cases".into());
    }
    Some(if ask_at.is_some() {
        DecisionExpect::Ask { mentions }
    } else {
        DecisionExpect::Refuse
    })
}

fn call_set(
    cx: &mut Ctx<'_>,
    at: &Spanned<String>,
    e: &ExpectSpec,
    tools: &ToolSet,
    strict: bool,
    where_: &str,
) -> Option<CallSet> {
    let id = at.value.as_str();
    match (&e.calls, e.no_call) {
        (Some(_), Some(true)) => {
            cx.at(
                at,
                Some(id),
                format!("{where_}: both `calls` and `no_call: true`"),
            );
            None
        }
        (None, Some(true)) => Some(CallSet::NoCall),
        (None, Some(false)) | (None, None) => {
            cx.at(
                at,
                Some(id),
                format!("{where_}: no `calls` and no `no_call: true`"),
            )
            .expected = Some("calls: [...] or no_call: true".into());
            None
        }
        (Some(calls), _) => {
            if calls.is_empty() {
                cx.at(at, Some(id), format!("{where_}: `calls` is empty"))
                    .expected = Some("at least one call, or `no_call: true`".into());
            }
            let mut out = Vec::new();
            for c in calls {
                out.push(call_expect(
                    cx,
                    id,
                    c,
                    tools,
                    c.strict_args.unwrap_or(strict),
                ));
            }
            Some(CallSet::Calls {
                calls: out,
                order: e.order.unwrap_or_default(),
                extra_calls: e.extra_calls.unwrap_or_default(),
            })
        }
    }
}

fn call_expect(
    cx: &mut Ctx<'_>,
    id: &str,
    c: &CallSpec,
    tools: &ToolSet,
    strict: bool,
) -> CallExpect {
    let name = c.name.value.clone();
    let tool = tools.get(&name);
    if tool.is_none() {
        let known = tools.names().join(", ");
        cx.at(
            &c.name,
            Some(id),
            format!("expected call names tool `{name}`, which is not in the tools file"),
        )
        .expected = Some(format!("one of: {known}"));
    }
    let mut args = Vec::new();
    for (arg, v) in c.args.iter().flatten() {
        // `{startswith: "x"}` is a misspelt operator, not an object to compare with — unless
        // the argument is an object, where a one-key object is a plausible expected value.
        if let Some(op) = unknown_operator(&v.value) {
            let object_arg = tool
                .and_then(|t| t.property_types(arg))
                .is_some_and(|ts| ts.iter().any(|t| t == "object"));
            if !object_arg {
                cx.at_key(
                    v,
                    op,
                    Some(id),
                    format!(
                        "`{name}.{arg}`: unknown matcher '{op}' (known: {})",
                        OPERATORS.join(", ")
                    ),
                );
                continue;
            }
        }
        match parse_matcher(&v.value) {
            Ok(m) => {
                if let Some(t) = tool {
                    if let Err(msg) = matcher_fits_schema(t, arg, &m) {
                        cx.at(v, Some(id), format!("`{name}.{arg}`: {msg}"));
                    }
                }
                args.push((arg.clone(), m));
            }
            Err(msg) => {
                cx.at(v, Some(id), format!("`{name}.{arg}`: {msg}"));
            }
        }
    }
    CallExpect {
        name,
        args,
        strict_args: strict,
    }
}

const OPERATORS: [&str; 11] = [
    "equals",
    "equals_ci",
    "one_of",
    "contains",
    "contains_any",
    "contains_all",
    "regex",
    "range",
    "present",
    "absent",
    "schema",
];

/// The key of a one-key object that is not a matcher operator (`{startswith: …}`).
fn unknown_operator(v: &Value) -> Option<&str> {
    let o = v.as_object()?;
    let (k, _) = o.iter().next()?;
    (o.len() == 1 && !OPERATORS.contains(&k.as_str())).then_some(k.as_str())
}

/// Parse an argument matcher written in a case file.
pub fn parse_matcher(v: &Value) -> Result<Matcher, String> {
    let Value::Object(o) = v else {
        return Ok(Matcher::Equals(v.clone()));
    };
    let ops: Vec<&String> = o
        .keys()
        .filter(|k| OPERATORS.contains(&k.as_str()))
        .collect();
    if ops.is_empty() {
        return Ok(Matcher::Equals(v.clone()));
    }
    if o.len() != 1 {
        let keys: Vec<&str> = o.keys().map(String::as_str).collect();
        return Err(format!(
            "a matcher takes exactly one operator, got {{{}}}; to compare a whole object write `equals: {{…}}`",
            keys.join(", ")
        ));
    }
    let (op, arg) = o.iter().next().expect("one key");
    let strings = |what: &str| -> Result<Vec<String>, String> {
        let list: Vec<String> = match arg {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or(format!("`{what}` takes strings"))?,
            _ => return Err(format!("`{what}` takes a string or a list of strings")),
        };
        if list.is_empty() {
            return Err(format!("`{what}` list is empty"));
        }
        Ok(list)
    };
    match op.as_str() {
        "equals" => Ok(Matcher::Equals(arg.clone())),
        "equals_ci" => arg
            .as_str()
            .map(|s| Matcher::EqualsCi(s.to_string()))
            .ok_or("`equals_ci` takes a string".into()),
        "one_of" => match arg {
            Value::Array(a) if !a.is_empty() => Ok(Matcher::OneOf(a.clone())),
            _ => Err("`one_of` takes a non-empty list".into()),
        },
        "contains" => arg
            .as_str()
            .map(|s| Matcher::Contains(s.to_string()))
            .ok_or("`contains` takes a string".into()),
        "contains_any" => strings("contains_any").map(Matcher::ContainsAny),
        "contains_all" => strings("contains_all").map(Matcher::ContainsAll),
        "regex" => {
            let src = arg.as_str().ok_or("`regex` takes a string")?;
            regex::Regex::new(src)
                .map(|regex| {
                    Matcher::Regex(RegexMatcher {
                        source: src.to_string(),
                        regex,
                    })
                })
                .map_err(|e| {
                    format!(
                        "regex does not compile: {}",
                        e.to_string().lines().last().unwrap_or("").trim()
                    )
                })
        }
        "range" => match arg.as_array().map(Vec::as_slice) {
            Some([a, b]) => match (a.as_f64(), b.as_f64()) {
                (Some(a), Some(b)) if a <= b => Ok(Matcher::Range(a, b)),
                (Some(a), Some(b)) => Err(format!("`range` [{a}, {b}]: min is above max")),
                _ => Err("`range` takes two numbers [min, max]".into()),
            },
            _ => Err("`range` takes two numbers [min, max]".into()),
        },
        "present" => match arg {
            Value::Bool(true) => Ok(Matcher::Present),
            _ => Err("write `present: true`".into()),
        },
        "absent" => match arg {
            Value::Bool(true) => Ok(Matcher::Absent),
            _ => Err("write `absent: true`".into()),
        },
        "schema" => {
            if !arg.is_object() && !arg.is_boolean() {
                return Err("`schema` takes a JSON Schema object".into());
            }
            compile_schema(arg)
                .map(|val| {
                    Matcher::Schema(SchemaMatcher {
                        schema: arg.clone(),
                        validator: Arc::new(val),
                    })
                })
                .map_err(|e| format!("`schema` is not a valid JSON Schema: {e}"))
        }
        _ => unreachable!("filtered to operators"),
    }
}

/// JSON equality with numbers by value (`2 == 2.0`), as the `equals` matcher compares.
fn values_equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

fn json_type_fits(v: &Value, types: &[String]) -> bool {
    types.iter().any(|t| match t.as_str() {
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => true,
    })
}

/// Can this matcher ever be satisfied by a value the tool's schema allows?
fn matcher_fits_schema(tool: &crate::tools::Tool, arg: &str, m: &Matcher) -> Result<(), String> {
    let props = tool.parameters.get("properties").and_then(Value::as_object);
    let declared = props.is_some_and(|p| p.contains_key(arg));
    let closed = tool
        .parameters
        .get("additionalProperties")
        .is_some_and(|a| a == &Value::Bool(false));
    if !declared
        && (closed || props.is_some_and(|p| !p.is_empty()))
        && !matches!(m, Matcher::Absent)
    {
        let names: Vec<&str> = props
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        return Err(format!(
            "tool `{}` has no argument `{arg}` (expected one of: {})",
            tool.name,
            names.join(", ")
        ));
    }
    let required = tool
        .parameters
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(|r| r.iter().any(|x| x == arg));
    if matches!(m, Matcher::Absent) && required {
        return Err(format!(
            "`absent` on a required argument of `{}` can never pass",
            tool.name
        ));
    }
    let prop = props.and_then(|p| p.get(arg));
    // `fold`: the matcher compares strings after `text::fold` (as `one_of` does), so an
    // entry that differs from an enum value only in case or spacing can still match.
    let allowed = |v: &Value, fold: bool| -> Result<(), String> {
        // `null` among expected values stands for "argument not given" (BFCL's `""` option in
        // `one_of`): it is never sent to the schema, so the enum and bounds do not apply.
        if v.is_null() {
            return Ok(());
        }
        if let Some(Value::Array(e)) = prop.and_then(|p| p.get("enum")) {
            let same = |x: &Value| {
                values_equal(x, v)
                    || (fold
                        && matches!((x.as_str(), v.as_str()),
                            (Some(a), Some(b)) if crate::text::fold(a) == crate::text::fold(b)))
            };
            if !e.iter().any(same) {
                let list: Vec<String> = e.iter().map(Value::to_string).collect();
                return Err(format!(
                    "expected value {v} is not in the tool's enum for `{arg}`: [{}]",
                    list.join(", ")
                ));
            }
        }
        if let Some(n) = v.as_f64() {
            let bound = |k: &str| prop.and_then(|p| p.get(k)).and_then(Value::as_f64);
            if let Some(min) = bound("minimum").filter(|m| n < *m) {
                return Err(format!(
                    "expected value {v} is below the tool's minimum {min} for `{arg}`"
                ));
            }
            if let Some(max) = bound("maximum").filter(|m| n > *m) {
                return Err(format!(
                    "expected value {v} is above the tool's maximum {max} for `{arg}`"
                ));
            }
        }
        Ok(())
    };
    match m {
        Matcher::Equals(v) => allowed(v, false)?,
        // A `one_of` can still pass while one entry fits; imported data (BFCL) lists spare
        // spellings beside the enum's own value. Only a `one_of` no entry of which fits
        // can never pass.
        Matcher::OneOf(vs) => {
            let errs: Vec<String> = vs.iter().filter_map(|v| allowed(v, true).err()).collect();
            if !vs.is_empty() && errs.len() == vs.len() {
                return Err(format!("no `one_of` entry fits: {}", errs.join("; ")));
            }
        }
        _ => {}
    }
    let Some(types) = tool.property_types(arg) else {
        return Ok(());
    };
    let want = |kinds: &[&str]| -> Result<(), String> {
        if types.iter().any(|t| kinds.contains(&t.as_str())) {
            Ok(())
        } else {
            Err(format!(
                "`{}` cannot match: the tool's schema types `{arg}` as {}",
                m.op(),
                types.join("|")
            ))
        }
    };
    match m {
        Matcher::Range(..) => want(&["number", "integer"]),
        Matcher::EqualsCi(_) | Matcher::Regex(_) => want(&["string"]),
        Matcher::Contains(_) | Matcher::ContainsAny(_) | Matcher::ContainsAll(_) => {
            want(&["string", "array"])
        }
        Matcher::Equals(v) => {
            if json_type_fits(v, &types) {
                Ok(())
            } else {
                Err(format!(
                    "expected value {v} cannot match: the tool's schema types `{arg}` as {}",
                    types.join("|")
                ))
            }
        }
        Matcher::OneOf(vs) => {
            if vs.iter().any(|v| json_type_fits(v, &types)) {
                Ok(())
            } else {
                Err(format!(
                    "no `one_of` value fits the tool's schema type {} for `{arg}`",
                    types.join("|")
                ))
            }
        }
        _ => Ok(()),
    }
}

/// Tool names that appear in a prompt template's source but not in `tools` (from the set
/// of every tool name known across the loaded tools files).
pub fn foreign_tool_mentions(
    source: &str,
    tools: &ToolSet,
    known: &BTreeSet<String>,
) -> Vec<String> {
    known
        .iter()
        .filter(|n| tools.get(n).is_none())
        .filter(|n| {
            source.match_indices(n.as_str()).any(|(i, _)| {
                let before = source[..i].chars().next_back();
                let after = source[i + n.len()..].chars().next();
                let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                !word(before) && !word(after)
            })
        })
        .cloned()
        .collect()
}
