//! `toolgate show RUN [CASE…]`: one case at a time, like `git show` — the question, the
//! system prompt as sent, the expectation as written, then every trial's verdict, findings,
//! calls, content, reasoning and timing. `--json` is the same data as JSON.

use crate::cli::ShowArgs;
use crate::error::bad;
use anyhow::{anyhow, Context};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::Path;
use toolgate_core::runfolder::{GRADES, RESPONSES};
use toolgate_core::{
    CallSet, Case, CaseInput, GradeRecord, Matcher, ResponseRecord, Suite, TrialKey, Verdict,
};

const NOT_RECORDED: &str = "request not recorded";
/// Lines of the system prompt shown without `--full`.
const PROMPT_LINES: usize = 6;
/// Characters of reasoning shown without `--full`.
const REASONING_CHARS: usize = 400;

#[derive(Serialize)]
pub struct CaseView {
    pub suite: String,
    pub case: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub passed: usize,
    pub trials_total: usize,
    /// System prompt as sent, per prompt name (from the stored request).
    pub system_prompts: Vec<PromptView>,
    /// The messages after the system prompt, as sent (or from the case file).
    pub messages: Vec<Value>,
    /// Where `messages` came from: `request` or `case file`; with a note when not recorded.
    pub messages_from: String,
    /// The expectation as written in the case file, one line each.
    pub expect: Vec<String>,
    pub trials: Vec<TrialView>,
    /// Passing trials left out by `--failed`.
    pub hidden_passes: usize,
}

#[derive(Serialize)]
pub struct PromptView {
    pub prompt: String,
    /// `None` when the request was not recorded or carried no system message.
    pub system: Option<String>,
}

#[derive(Serialize)]
pub struct TrialView {
    pub id: String,
    pub target: String,
    pub prompt: String,
    pub variant: String,
    pub repeat: u32,
    pub verdict: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub diagnosis: String,
    /// `decision (expected …)`: the class the grader gave the answer (tool_call cases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    pub findings: Vec<FindingView>,
    pub turns: Vec<TurnView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub body_sha256: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curl: Option<String>,
}

#[derive(Serialize)]
pub struct FindingView {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
}

#[derive(Serialize)]
pub struct TurnView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub calls: Vec<CallView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    pub timing: String,
}

#[derive(Serialize)]
pub struct CallView {
    pub name: String,
    /// Decoded arguments when they are JSON (a JSON-encoded string is decoded once).
    pub arguments: Value,
}

pub fn show(a: ShowArgs) -> anyhow::Result<u8> {
    toolgate_run::ensure_run_dir(&a.run)?;
    let color = match a.color.as_str() {
        "always" => true,
        "never" => false,
        "auto" => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        other => {
            return Err(bad(format!(
                "--color {other}: expected auto, always or never"
            )))
        }
    };
    let views = collect(&a)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &views)?;
        out.write_all(b"\n")?;
    } else {
        let text = render(&views, a.full, Style { on: color });
        // A pager or `head` closing the pipe is not an error.
        if let Err(e) = out.write_all(text.as_bytes()) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(e.into());
            }
        }
    }
    if views.is_empty() {
        eprintln!("no case matched");
    }
    Ok(crate::exit::OK)
}

fn matches(a: &ShowArgs, key: &TrialKey) -> bool {
    let is = |want: &[String], have: &str| want.is_empty() || want.iter().any(|w| w == have);
    let case_ok = a.cases.is_empty()
        || a.cases
            .iter()
            .any(|c| c == key.case.as_str() || *c == format!("{}/{}", key.suite, key.case));
    case_ok
        && is(&a.targets, &key.target)
        && is(&a.variants, &key.variant)
        && is(&a.suites, &key.suite)
}

fn read_lines<T: serde::de::DeserializeOwned>(
    path: &Path,
    mut keep: impl FnMut(&T) -> bool,
) -> anyhow::Result<Vec<T>> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(anyhow!("{}: {e}", path.display())),
    };
    let mut out = Vec::new();
    for line in BufReader::new(f).lines() {
        let line = line?;
        // A torn last line (a killed run) is skipped, as every reader does.
        if let Ok(v) = serde_json::from_str::<T>(&line) {
            if keep(&v) {
                out.push(v);
            }
        }
    }
    Ok(out)
}

pub fn collect(a: &ShowArgs) -> anyhow::Result<Vec<CaseView>> {
    let dir = &a.run;
    let manifest = toolgate_run::runfolder::read_manifest(dir)
        .with_context(|| format!("{} is not a run folder", dir.display()))?;
    let mut grades: Vec<GradeRecord> = read_lines(&dir.join(GRADES), |g: &GradeRecord| {
        !g.warmup && matches(a, &g.key)
    })?;
    grades.sort_by(|x, y| x.key.cmp(&y.key));
    let failing_cases: HashSet<(String, String)> = grades
        .iter()
        .filter(|g| g.verdict != Verdict::Pass)
        .map(|g| (g.key.suite.to_string(), g.key.case.to_string()))
        .collect();
    let grade_of: HashMap<TrialKey, GradeRecord> =
        grades.into_iter().map(|g| (g.key.clone(), g)).collect();
    let responses: Vec<ResponseRecord> = read_lines(&dir.join(RESPONSES), |r: &ResponseRecord| {
        !r.warmup
            && matches(a, &r.key)
            && (!a.failed
                || failing_cases.contains(&(r.key.suite.to_string(), r.key.case.to_string())))
    })?;
    let wanted: HashSet<&str> = responses
        .iter()
        .map(|r| r.request.body_sha256.as_str())
        .collect();
    let bodies = toolgate_core::requests::read_only(dir, Some(&wanted))?;

    let suites = run_suites(&manifest);
    let case_of = |suite: &str, case: &str| -> Option<(usize, usize, &Case)> {
        let si = suites.iter().position(|s| s.name == suite)?;
        let ci = suites[si].cases.iter().position(|c| c.id == case)?;
        Some((si, ci, &suites[si].cases[ci]))
    };
    let rec = Recorded {
        grade_of,
        bodies,
        key_env: api_key_envs(&manifest.config),
    };

    let mut by_case: BTreeMap<(usize, usize, String, String), Vec<&ResponseRecord>> =
        BTreeMap::new();
    for r in &responses {
        let (si, ci) = case_of(&r.key.suite, &r.key.case)
            .map(|(s, c, _)| (s, c))
            .unwrap_or((usize::MAX, usize::MAX));
        by_case
            .entry((si, ci, r.key.suite.to_string(), r.key.case.to_string()))
            .or_default()
            .push(r);
    }
    let mut views = Vec::new();
    for ((_, _, suite, case_id), mut recs) in by_case {
        recs.sort_by(|x, y| x.key.cmp(&y.key));
        let case = case_of(&suite, &case_id).map(|(_, _, c)| c);
        views.push(case_view(a, &rec, suite, case_id, &recs, case));
    }
    Ok(views)
}

/// The suites as the run used them, for descriptions and expectations; a run whose case
/// files moved still shows what it recorded.
fn run_suites(manifest: &toolgate_core::RunManifest) -> Vec<Suite> {
    let paths: Vec<std::path::PathBuf> = manifest
        .suites
        .iter()
        .map(|s| std::path::PathBuf::from(&s.path))
        .filter(|p| p.exists())
        .collect();
    if paths.is_empty() {
        vec![]
    } else {
        toolgate_run::load_inputs(&paths, None, &crate::today())
            .map(|(s, _)| s)
            .unwrap_or_default()
    }
}

/// What the run folder recorded besides the responses.
struct Recorded {
    grade_of: HashMap<TrialKey, GradeRecord>,
    /// Request bodies by SHA-256.
    bodies: HashMap<String, Vec<u8>>,
    /// Target name → the environment variable holding its key.
    key_env: HashMap<String, String>,
}

/// One case: its prompts and messages from the first recorded request (else the case file),
/// and a view of each shown trial.
fn case_view(
    a: &ShowArgs,
    rec: &Recorded,
    suite: String,
    case_id: String,
    recs: &[&ResponseRecord],
    case: Option<&Case>,
) -> CaseView {
    let mut passed = 0;
    let mut hidden = 0;
    let mut trials = Vec::new();
    let mut prompts: Vec<PromptView> = Vec::new();
    let mut messages: Option<Vec<Value>> = None;
    for r in recs {
        let g = rec.grade_of.get(&r.key);
        let pass = g.is_some_and(|g| g.verdict == Verdict::Pass);
        passed += pass as usize;
        let body = rec
            .bodies
            .get(&r.request.body_sha256)
            .and_then(|b| serde_json::from_slice::<Value>(b).ok());
        if let Some(b) = &body {
            let msgs = b["messages"].as_array().cloned().unwrap_or_default();
            let system = msgs
                .first()
                .filter(|m| m["role"] == "system")
                .and_then(|m| m["content"].as_str())
                .map(str::to_string);
            if !prompts.iter().any(|p| p.prompt == r.key.prompt.as_str()) {
                prompts.push(PromptView {
                    prompt: r.key.prompt.to_string(),
                    system: system.clone(),
                });
            }
            if messages.is_none() {
                let skip = usize::from(system.is_some());
                messages = Some(msgs.into_iter().skip(skip).collect());
            }
        } else if !prompts.iter().any(|p| p.prompt == r.key.prompt.as_str()) {
            prompts.push(PromptView {
                prompt: r.key.prompt.to_string(),
                system: None,
            });
        }
        if a.failed && pass {
            hidden += 1;
            continue;
        }
        let curl = a.curl.then(|| {
            curl_command(
                r,
                rec.bodies.get(&r.request.body_sha256),
                rec.key_env.get(r.key.target.as_str()),
            )
        });
        trials.push(trial_view(r, g, curl));
    }
    let (messages, messages_from) = match messages {
        Some(m) => (m, "request".to_string()),
        None => (
            case.map(case_messages).unwrap_or_default(),
            format!("case file ({NOT_RECORDED})"),
        ),
    };
    CaseView {
        kind: case
            .map(|c| c.kind.as_str().to_string())
            .unwrap_or_else(|| recs[0].kind.to_string()),
        description: case.and_then(|c| c.description.clone()),
        tags: case.map(|c| c.tags.clone()).unwrap_or_default(),
        passed,
        trials_total: recs.len(),
        system_prompts: prompts,
        messages,
        messages_from,
        expect: case
            .map(expect_lines)
            .unwrap_or_else(|| vec!["(case not found in the run's case files)".into()]),
        trials,
        hidden_passes: hidden,
        suite,
        case: case_id,
    }
}

/// target name → the environment variable its key is read from, as the run's config says.
fn api_key_envs(config: &Value) -> HashMap<String, String> {
    let mut out = HashMap::new();
    match config.get("targets") {
        Some(Value::Object(o)) => {
            for (name, t) in o {
                if let Some(e) = t["api_key_env"].as_str() {
                    out.insert(name.clone(), e.to_string());
                }
            }
        }
        Some(Value::Array(a)) => {
            for t in a {
                if let (Some(n), Some(e)) = (t["name"].as_str(), t["api_key_env"].as_str()) {
                    out.insert(n.to_string(), e.to_string());
                }
            }
        }
        _ => {}
    }
    out
}

fn case_messages(c: &Case) -> Vec<Value> {
    match &c.input {
        CaseInput::Messages(ms) => ms.iter().map(|m| m.to_wire()).collect(),
        CaseInput::Turns(ts) => ts
            .iter()
            .map(|t| serde_json::json!({"role": "user", "content": t.user}))
            .collect(),
    }
}

fn trial_view(r: &ResponseRecord, g: Option<&GradeRecord>, curl: Option<String>) -> TrialView {
    let turns = r
        .turns
        .iter()
        .map(|t| {
            let m = t.message.as_ref();
            TurnView {
                user: t.user.clone(),
                calls: m
                    .map(|m| {
                        m.tool_calls
                            .iter()
                            .map(|c| CallView {
                                name: c.name.clone(),
                                arguments: match &c.arguments {
                                    Value::String(s) => serde_json::from_str(s)
                                        .unwrap_or_else(|_| Value::String(s.clone())),
                                    v => v.clone(),
                                },
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                content: m.and_then(|m| m.content.clone()).filter(|c| !c.is_empty()),
                reasoning: m
                    .and_then(|m| m.reasoning.clone())
                    .filter(|c| !c.is_empty()),
                finish_reason: t.finish_reason.clone(),
                timing: timing(&t.timing),
            }
        })
        .collect();
    TrialView {
        id: r.key.id(),
        target: r.key.target.to_string(),
        prompt: r.key.prompt.to_string(),
        variant: r.key.variant.to_string(),
        repeat: r.key.repeat,
        verdict: g
            .map(|g| g.verdict.as_str().to_string())
            .unwrap_or_else(|| "ungraded".into()),
        failure: g.and_then(|g| {
            g.failure
                .map(|f| f.as_str().to_string())
                .or(g.error_kind.map(|e| e.as_str().to_string()))
        }),
        diagnosis: g.map(|g| g.diagnosis.to_string()).unwrap_or_default(),
        decision: g.and_then(|g| {
            g.decision.map(|d| match g.expected_decision {
                Some(e) => format!("{d} (expected {e})"),
                None => d.to_string(),
            })
        }),
        findings: g
            .map(|g| {
                g.findings
                    .iter()
                    .map(|f| FindingView {
                        kind: f.kind.as_str().to_string(),
                        path: f.path.clone(),
                        message: f.message.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        turns,
        error: r
            .error
            .as_ref()
            .map(|e| format!("{} (turn {}): {}", e.kind, e.turn, e.message)),
        body_sha256: r.request.body_sha256.clone(),
        curl,
    }
}

fn timing(t: &toolgate_core::Timing) -> String {
    let mut parts = Vec::new();
    if let Some(v) = t.ttft_ms {
        parts.push(format!("ttft {v:.0} ms"));
    }
    parts.push(format!("e2e {:.0} ms", t.e2e_ms));
    if let Some(n) = t.completion_tokens {
        parts.push(format!(
            "{n} tokens{}",
            if t.tokens_estimated { " (est.)" } else { "" }
        ));
    }
    if let Some(v) = t.decode_tps {
        parts.push(format!("{v:.1} tok/s"));
    }
    parts.join(", ")
}

/// A shell command that sends the exact recorded body to the same URL. The key is
/// referenced as `$VAR`, never expanded here.
fn curl_command(r: &ResponseRecord, body: Option<&Vec<u8>>, key_env: Option<&String>) -> String {
    let Some(body) = body else {
        return format!("# {NOT_RECORDED}: no replay for this trial");
    };
    let mut s = String::from("curl -sS");
    if r.request.stream {
        s.push_str(" -N");
    }
    let _ = write!(s, " {}", shell_quote(&r.request.url));
    s.push_str(" -H 'Content-Type: application/json'");
    if let Some(env) = key_env.filter(|e| is_env_name(e)) {
        if r.request.profile == "azure" {
            let _ = write!(s, " -H \"api-key: ${env}\"");
        } else {
            let _ = write!(s, " -H \"Authorization: Bearer ${env}\"");
        }
    }
    s.push_str(" --data-binary @- <<'TOOLGATE_REQUEST'\n");
    s.push_str(&String::from_utf8_lossy(body));
    s.push_str("\nTOOLGATE_REQUEST");
    s
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The expectation as a case file writes it, one line each.
pub fn expect_lines(c: &Case) -> Vec<String> {
    let mut out = Vec::new();
    let e = &c.expect;
    if let Some(t) = &e.tools {
        let alt = t.alternatives.len() > 1;
        if alt {
            out.push("any_of:".into());
        }
        for (i, set) in t.alternatives.iter().enumerate() {
            let ind = if alt { "  " } else { "" };
            if alt {
                out.push(format!("  - alternative {}", i + 1));
            }
            match set {
                CallSet::NoCall => out.push(format!("{ind}no_call: true")),
                CallSet::Calls {
                    calls,
                    order,
                    extra_calls,
                } => {
                    let mut head = format!("{ind}calls:");
                    if *order == toolgate_core::spec::Order::Exact {
                        head.push_str(" (order: exact)");
                    }
                    if *extra_calls == toolgate_core::spec::ExtraCalls::Allow {
                        head.push_str(" (extra_calls: allow)");
                    }
                    out.push(head);
                    for call in calls {
                        out.push(format!(
                            "{ind}  - {}{}",
                            call.name,
                            if call.strict_args {
                                " (strict_args)"
                            } else {
                                ""
                            }
                        ));
                        for (arg, m) in &call.args {
                            out.push(format!("{ind}      {arg}: {}", matcher(m)));
                        }
                    }
                }
            }
        }
    }
    if let Some(x) = &e.extraction {
        out.push("entities:".into());
        for en in &x.entities {
            let mut l = format!("  - {}", json(&Value::String(en.name.clone())));
            if let Some(t) = &en.entity_type {
                let _ = write!(l, " ({t})");
            }
            if !en.aliases.is_empty() {
                let _ = write!(l, " aliases: {}", en.aliases.join(", "));
            }
            out.push(l);
        }
        out.push(format!(
            "min_recall: {}, min_precision: {}, match_types: {}",
            x.min_recall, x.min_precision, x.match_types
        ));
        if let toolgate_core::OutputSource::Tool(n) = &x.output {
            out.push(format!("output: tool:{n}"));
        }
        if let Some(p) = &x.schema_path {
            out.push(format!("schema: {}", p.display()));
        }
    }
    let g = &e.gates;
    for (on, name) in [
        (g.non_empty, "non_empty"),
        (g.no_markdown, "no_markdown"),
        (g.no_thinking_leak, "no_thinking_leak"),
    ] {
        if on {
            out.push(format!("{name}: true"));
        }
    }
    for (list, name) in [
        (&g.contains, "contains"),
        (&g.contains_any, "contains_any"),
        (&g.not_contains, "not_contains"),
    ] {
        if !list.is_empty() {
            out.push(format!(
                "{name}: {}",
                json(&Value::Array(
                    list.iter().map(|s| Value::String(s.clone())).collect()
                ))
            ));
        }
    }
    if let Some(n) = g.max_words {
        out.push(format!("max_words: {n}"));
    }
    if let CaseInput::Turns(ts) = &c.input {
        for (i, t) in ts.iter().enumerate() {
            if t.expect != c.expect && !t.expect.gates.is_empty() {
                out.push(format!("turn {}: own gates", i + 1));
            }
        }
    }
    if out.is_empty() {
        out.push("(nothing beyond the default checks)".into());
    }
    out
}

fn json(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn matcher(m: &Matcher) -> String {
    let strs = |v: &[String]| {
        json(&Value::Array(
            v.iter().map(|s| Value::String(s.clone())).collect(),
        ))
    };
    match m {
        Matcher::Equals(v) => format!("{{equals: {}}}", json(v)),
        Matcher::EqualsCi(s) => format!("{{equals_ci: {}}}", json(&Value::String(s.clone()))),
        Matcher::OneOf(v) => format!("{{one_of: {}}}", json(&Value::Array(v.clone()))),
        Matcher::Contains(s) => format!("{{contains: {}}}", json(&Value::String(s.clone()))),
        Matcher::ContainsAny(v) => format!("{{contains_any: {}}}", strs(v)),
        Matcher::ContainsAll(v) => format!("{{contains_all: {}}}", strs(v)),
        Matcher::Regex(r) => format!("{{regex: {}}}", json(&Value::String(r.source.clone()))),
        Matcher::Range(a, b) => format!("{{range: [{a}, {b}]}}"),
        Matcher::Present => "present".into(),
        Matcher::Absent => "absent".into(),
        Matcher::Schema(s) => format!("{{schema: {}}}", json(&s.schema)),
    }
}

/// Model and case text for a terminal, over several lines: the one rule every command uses
/// (`toolgate_core::text::terminal`, per line), so a reply can neither drive the terminal
/// nor start a line with a workflow command.
pub fn escape(s: &str) -> String {
    toolgate_core::text::terminal_lines(s)
}

#[derive(Clone, Copy)]
pub struct Style {
    pub on: bool,
}

impl Style {
    fn paint(self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(self, s: &str) -> String {
        self.paint("1", s)
    }
    fn dim(self, s: &str) -> String {
        self.paint("2", s)
    }
    fn verdict(self, v: &str) -> String {
        let code = match v {
            "pass" => "32",
            "fail" => "31",
            _ => "33",
        };
        self.paint(&format!("1;{code}"), &v.to_uppercase())
    }
}

/// Indent every line of (escaped) `text`.
fn block(out: &mut String, indent: &str, text: &str) {
    for l in escape(text).lines() {
        let _ = writeln!(out, "{indent}{l}");
    }
    if text.is_empty() {
        let _ = writeln!(out, "{indent}\"\"");
    }
}

fn trim_chars(s: &str, n: usize) -> (&str, usize) {
    match s.char_indices().nth(n) {
        Some((i, _)) => (&s[..i], s[i..].chars().count()),
        None => (s, 0),
    }
}

pub fn render(views: &[CaseView], full: bool, st: Style) -> String {
    let mut o = String::new();
    for (i, v) in views.iter().enumerate() {
        if i > 0 {
            o.push('\n');
        }
        render_head(&mut o, v, full, st);
        render_input(&mut o, v, st);
        for t in &v.trials {
            render_trial(&mut o, t, full, st);
        }
        if v.hidden_passes > 0 {
            let _ = writeln!(
                o,
                "\n{}",
                st.dim(&format!("({} passing trial(s) not shown)", v.hidden_passes))
            );
        }
    }
    o
}

/// The case line, description, tags and system prompts.
fn render_head(o: &mut String, v: &CaseView, full: bool, st: Style) {
    let _ = writeln!(
        o,
        "{} {}/{}  {}  {}/{} passed",
        st.bold("case"),
        escape(&v.suite),
        st.bold(&escape(&v.case)),
        v.kind,
        v.passed,
        v.trials_total
    );
    if let Some(d) = &v.description {
        block(o, "    ", d);
    }
    if !v.tags.is_empty() {
        let _ = writeln!(o, "    tags: {}", escape(&v.tags.join(", ")));
    }
    for p in &v.system_prompts {
        let label = if p.prompt == "-" {
            "system prompt".to_string()
        } else {
            format!("system prompt `{}`", escape(&p.prompt))
        };
        match &p.system {
            None => {
                let _ = writeln!(o, "\n{}: {}", st.bold(&label), st.dim(NOT_RECORDED));
            }
            Some(s) => {
                let lines: Vec<&str> = s.lines().collect();
                let _ = writeln!(o, "\n{} ({} lines):", st.bold(&label), lines.len());
                let shown = if full {
                    lines.len()
                } else {
                    PROMPT_LINES.min(lines.len())
                };
                for l in &lines[..shown] {
                    let _ = writeln!(o, "    {}", escape(l));
                }
                if shown < lines.len() {
                    let _ = writeln!(
                        o,
                        "    {}",
                        st.dim(&format!("… {} more lines (--full)", lines.len() - shown))
                    );
                }
            }
        }
    }
}

/// The input messages and the expectation.
fn render_input(o: &mut String, v: &CaseView, st: Style) {
    let _ = writeln!(
        o,
        "\n{} {}:",
        st.bold("input"),
        st.dim(&format!("(from {})", v.messages_from))
    );
    for m in &v.messages {
        let role = m["role"].as_str().unwrap_or("?");
        let content = m["content"].as_str().unwrap_or("");
        let _ = writeln!(o, "  {}:", escape(role));
        if !content.is_empty() || m.get("tool_calls").is_none() {
            block(o, "    ", content);
        }
        if let Some(Value::Array(calls)) = m.get("tool_calls") {
            for c in calls {
                let _ = writeln!(
                    o,
                    "    → {}({})",
                    escape(c["function"]["name"].as_str().unwrap_or("?")),
                    escape(c["function"]["arguments"].as_str().unwrap_or(""))
                );
            }
        }
    }
    let _ = writeln!(o, "\n{}:", st.bold("expect"));
    for l in &v.expect {
        let _ = writeln!(o, "    {}", escape(l));
    }
}

/// One trial: verdict line, diagnosis, findings, error, turns, replay command.
fn render_trial(o: &mut String, t: &TrialView, full: bool, st: Style) {
    let _ = writeln!(
        o,
        "\n{} {}  {}/{}/{} #{}{}",
        st.bold("trial"),
        st.verdict(&t.verdict),
        escape(&t.target),
        escape(&t.prompt),
        escape(&t.variant),
        t.repeat,
        t.failure
            .as_deref()
            .map(|f| format!("  {f}"))
            .unwrap_or_default()
    );
    if !t.diagnosis.is_empty() && t.verdict != "pass" {
        block(o, "    ", &t.diagnosis);
    }
    if let Some(d) = &t.decision {
        let _ = writeln!(o, "    decision: {d}");
    }
    for f in &t.findings {
        let _ = writeln!(
            o,
            "    - {}{}: {}",
            f.kind,
            f.path
                .as_deref()
                .map(|p| format!(" at {}", escape(p)))
                .unwrap_or_default(),
            escape(&f.message)
        );
    }
    if let Some(e) = &t.error {
        let _ = writeln!(o, "    error: {}", escape(e));
    }
    let multi = t.turns.len() > 1;
    for (n, turn) in t.turns.iter().enumerate() {
        render_turn(o, n, turn, multi, full, st);
    }
    if let Some(c) = &t.curl {
        let _ = writeln!(o, "    replay:");
        // The body is the exact bytes sent; only its display is escaped.
        block(o, "      ", c);
    }
}

/// One turn of a trial: the user message (multi-turn), calls, content, reasoning, timing.
fn render_turn(o: &mut String, n: usize, turn: &TurnView, multi: bool, full: bool, st: Style) {
    let ind = if multi { "      " } else { "    " };
    if multi {
        let _ = writeln!(o, "    turn {}:", n + 1);
        if let Some(u) = &turn.user {
            let _ = writeln!(o, "{ind}user:");
            block(o, &format!("{ind}  "), u);
        }
    }
    for c in &turn.calls {
        let args = serde_json::to_string_pretty(&c.arguments).unwrap_or_default();
        let _ = writeln!(o, "{ind}call {}:", st.bold(&escape(&c.name)));
        block(o, &format!("{ind}  "), &args);
    }
    if let Some(c) = &turn.content {
        let _ = writeln!(o, "{ind}content:");
        block(o, &format!("{ind}  "), c);
    }
    if let Some(r) = &turn.reasoning {
        let (shown, rest) = if full {
            (r.as_str(), 0)
        } else {
            trim_chars(r, REASONING_CHARS)
        };
        let _ = writeln!(o, "{ind}reasoning:");
        block(o, &format!("{ind}  "), shown);
        if rest > 0 {
            let _ = writeln!(
                o,
                "{ind}  {}",
                st.dim(&format!("… {rest} more characters (--full)"))
            );
        }
    }
    let fin = turn
        .finish_reason
        .as_deref()
        .map(|f| format!(", finish {}", escape(f)))
        .unwrap_or_default();
    let _ = writeln!(o, "{ind}{}", st.dim(&format!("{}{fin}", turn.timing)));
}
