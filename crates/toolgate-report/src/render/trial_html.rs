//! One trial in detail, for `report.html`'s case view and `compare.html`: what was asked,
//! expected against actual calls with the differing arguments marked, schema errors with
//! their paths, extraction entities, content, reasoning and the raw response.
//!
//! Everything shown comes from the run folder (the grade's findings and the recorded
//! response), never from the case files: a report reads only the run. Every string from a
//! model or server is HTML-escaped here and cut, and the page's total of model text is
//! bounded by one [`Budget`].

use crate::asked::{cut_at, Asked, NOT_RECORDED};
use crate::run::{RawRef, ResponseMeta};
use crate::text::html;
use serde_json::{json, Value};
use std::fmt::Write;
use toolgate_core::record::{FailureKind, GradeRecord, ResponseRecord, Verdict};

/// Raw response shown per trial, and in all, in bytes of JSON (before HTML escaping, which
/// can grow `&` five-fold).
pub(crate) const RAW_CAP: usize = 64 * 1024;
pub(crate) const RAW_BUDGET: usize = 4 * 1024 * 1024;
/// A table cell (diagnosis, expected, actual, one argument) shown in bytes.
pub(crate) const CELL_CAP: usize = 512;
/// Content or reasoning of one turn shown in bytes (the raw response has the rest).
const TEXT_CAP: usize = 4096;

/// Model text a page may still show, in bytes: a hostile server answering megabytes per
/// trial cannot blow the page up, however many trials it lists.
pub(crate) struct Budget {
    left: usize,
}

impl Budget {
    pub(crate) fn new(total: usize) -> Budget {
        Budget { left: total }
    }

    /// The part of `s` shown (at most `cap` and what is left) and how many bytes are not.
    pub(crate) fn take<'a>(&mut self, s: &'a str, cap: usize) -> (&'a str, usize) {
        let (shown, more) = cut_at(s, cap.min(self.left));
        self.left -= shown.len();
        (shown, more)
    }
}

/// `s` escaped and cut at [`CELL_CAP`], with the cut marked.
pub(crate) fn cell(s: &str) -> String {
    match cut_at(s, CELL_CAP) {
        (all, 0) => html(all),
        (shown, more) => format!(
            "{}… <span class=\"more\">({more} bytes more)</span>",
            html(shown)
        ),
    }
}

/// A tool call as recorded: its name and its arguments decoded once when they are a JSON
/// string (the wire form), as the graders decode them.
pub(crate) struct Call {
    pub name: String,
    pub args: Value,
}

pub(crate) fn calls_of(rec: &ResponseRecord, turn: usize) -> Vec<Call> {
    let Some(m) = rec.turns.get(turn).and_then(|t| t.message.as_ref()) else {
        return vec![];
    };
    m.tool_calls
        .iter()
        .map(|c| Call {
            name: c.name.clone(),
            args: match &c.arguments {
                Value::String(s) => {
                    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
                }
                v => v.clone(),
            },
        })
        .collect()
}

/// One argument the grader found wrong.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ArgDiff {
    /// Index of the actual call (`/calls/{i}/…`), when the finding names one.
    pub call: Option<usize>,
    pub arg: String,
    /// What the case wanted, as the grader wrote it (`≈all["priya"]`, `=<absent>`, …).
    pub expected: String,
}

/// Wrong arguments, from `args_mismatch` findings: their `detail.mismatches` (one entry per
/// argument), or for grades written before that, the finding's path and message.
pub(crate) fn arg_diffs(g: &GradeRecord) -> Vec<ArgDiff> {
    let mut out = Vec::new();
    for f in g
        .findings
        .iter()
        .filter(|f| f.kind == FailureKind::ArgsMismatch)
    {
        let (path_call, path_arg) = split_path(f.path.as_deref().unwrap_or(""));
        let call = f
            .detail
            .as_ref()
            .and_then(|d| d.get("call"))
            .and_then(Value::as_u64)
            .map(|c| c as usize)
            .or(path_call);
        match f
            .detail
            .as_ref()
            .and_then(|d| d.get("mismatches"))
            .and_then(Value::as_array)
        {
            Some(ms) => {
                for m in ms {
                    out.push(ArgDiff {
                        call,
                        arg: m["arg"].as_str().unwrap_or("?").to_string(),
                        expected: expected_part(m["why"].as_str().unwrap_or("")),
                    });
                }
            }
            None => out.push(ArgDiff {
                call,
                arg: path_arg.unwrap_or_else(|| "?".into()),
                expected: f.message.clone(),
            }),
        }
    }
    out
}

/// `/calls/2/arguments/city/name` → (2, `city`); `/query` → (None, `query`).
fn split_path(p: &str) -> (Option<usize>, Option<String>) {
    let parts: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
    match parts.as_slice() {
        ["calls", i, "arguments", arg, ..] => (i.parse().ok(), Some(unescape_pointer(arg))),
        ["calls", i, ..] => (i.parse().ok(), None),
        [arg, ..] => (None, Some(unescape_pointer(arg))),
        [] => (None, None),
    }
}

fn unescape_pointer(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

/// The matcher part of a grader's "expected X, got Y" / "expected X, argument missing";
/// anything else (a schema matcher, strict_args) is shown whole. The first `, got ` is the
/// cut: the expectation comes from the case file, the model's value after it.
fn expected_part(why: &str) -> String {
    let Some(rest) = why.strip_prefix("expected ") else {
        return why.to_string();
    };
    for sep in [", got ", ", argument missing"] {
        if let Some(i) = rest.find(sep) {
            return rest[..i].to_string();
        }
    }
    rest.to_string()
}

/// Schema errors with their paths: the tool's schema on a call's arguments, or the
/// extraction output's schema.
pub(crate) fn schema_errors(g: &GradeRecord) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in g.findings.iter().filter(|f| {
        matches!(
            f.kind,
            FailureKind::ArgsSchemaViolation | FailureKind::OutputSchemaViolation
        )
    }) {
        let call = f
            .detail
            .as_ref()
            .and_then(|d| d.get("call"))
            .and_then(Value::as_u64);
        let prefix = match call {
            Some(i) => format!("/calls/{i}/arguments"),
            None => String::new(),
        };
        match f
            .detail
            .as_ref()
            .and_then(|d| d.get("errors"))
            .and_then(Value::as_array)
        {
            Some(es) => out.extend(es.iter().map(|e| {
                (
                    format!("{prefix}{}", e["path"].as_str().unwrap_or("")),
                    e["message"].as_str().unwrap_or("").to_string(),
                )
            })),
            None => out.push((f.path.clone().unwrap_or_default(), f.message.clone())),
        }
    }
    out
}

/// Top-level argument names a finding points at in call `i` (marked in the actual call).
fn marked_args(g: &GradeRecord, i: usize) -> Vec<String> {
    let mut out: Vec<String> = arg_diffs(g)
        .into_iter()
        .filter(|d| d.call.is_none_or(|c| c == i))
        .map(|d| d.arg)
        .collect();
    for (p, _) in schema_errors(g) {
        if let (Some(c), Some(a)) = split_path(&p) {
            if c == i {
                out.push(a);
            }
        }
    }
    out
}

/// The calls a model made, one table per call, marked arguments highlighted.
fn actual_calls_html(o: &mut String, calls: &[Call], g: Option<&GradeRecord>) {
    if calls.is_empty() {
        o.push_str("<p class=\"muted\">no tool call</p>");
        return;
    }
    for (i, c) in calls.iter().enumerate() {
        let marked = g.map(|g| marked_args(g, i)).unwrap_or_default();
        let _ = write!(o, "<div class=\"call\"><code>{}</code>", cell(&c.name));
        match c.args.as_object() {
            Some(obj) if !obj.is_empty() => {
                o.push_str("<table class=\"args\">");
                for (k, v) in obj {
                    let shown = match v {
                        Value::String(s) => json!(s).to_string(),
                        v => v.to_string(),
                    };
                    let (open, close) = if marked.iter().any(|m| m == k) {
                        ("<mark>", "</mark>")
                    } else {
                        ("", "")
                    };
                    let _ = write!(
                        o,
                        "<tr><th>{open}{}{close}</th><td>{open}{}{close}</td></tr>",
                        cell(k),
                        cell(&shown)
                    );
                }
                o.push_str("</table>");
            }
            Some(_) => o.push_str(" <span class=\"muted\">(no arguments)</span>"),
            None => {
                let _ = write!(
                    o,
                    " <span class=\"fail\">arguments are not a JSON object:</span> <code>{}</code>",
                    cell(&c.args.to_string())
                );
            }
        }
        o.push_str("</div>");
    }
}

/// Expected against actual: the expected tools and the matcher of each wrong argument on the
/// left, the calls made on the right, then one row per wrong argument (name, expected
/// matcher, actual value).
fn calls_side_by_side(o: &mut String, g: &GradeRecord, calls: &[Call], with_expected: bool) {
    let diffs = arg_diffs(g);
    if with_expected {
        expected_vs_actual(o, g, calls, &diffs);
    } else {
        actual_calls_html(o, calls, Some(g));
    }
    if diffs.is_empty() {
        return;
    }
    o.push_str("<table class=\"diff\"><thead><tr><th>argument</th><th>expected</th><th>actual value</th></tr></thead><tbody>");
    for d in &diffs {
        let actual = d
            .call
            .and_then(|i| calls.get(i))
            .or(calls.first())
            .and_then(|c| c.args.get(&d.arg))
            .map_or_else(
                || "<span class=\"muted\">(missing)</span>".to_string(),
                |v| cell(&v.to_string()),
            );
        let _ = write!(
            o,
            "<tr><th>{}</th><td>{}</td><td class=\"fail\">{actual}</td></tr>",
            cell(&d.arg),
            cell(&d.expected)
        );
    }
    o.push_str("</tbody></table>\n");
}

fn expected_vs_actual(o: &mut String, g: &GradeRecord, calls: &[Call], diffs: &[ArgDiff]) {
    o.push_str("<table class=\"vs\"><thead><tr><th>expected</th><th>actual</th></tr></thead><tbody><tr><td>");
    if g.expected_tools.is_empty() {
        o.push_str("<span class=\"muted\">no call</span>");
    } else {
        for t in &g.expected_tools {
            let _ = write!(o, "<div class=\"call\"><code>{}</code>", cell(t));
            let mine: Vec<&ArgDiff> = diffs
                .iter()
                .filter(|d| {
                    d.call
                        .and_then(|i| calls.get(i))
                        .is_none_or(|c| c.name == **t)
                })
                .collect();
            if !mine.is_empty() {
                o.push_str("<table class=\"args\">");
                for d in mine {
                    let _ = write!(
                        o,
                        "<tr><th><mark>{}</mark></th><td>{}</td></tr>",
                        cell(&d.arg),
                        cell(&d.expected)
                    );
                }
                o.push_str("</table>");
            }
            o.push_str("</div>");
        }
    }
    o.push_str("</td><td>");
    actual_calls_html(o, calls, Some(g));
    o.push_str("</td></tr></tbody></table>\n");
}

/// Extraction entities: found (counted), missed, spurious, and type-mismatched pairs (shown
/// once as a pair, not again as missed and spurious).
fn entities_html(o: &mut String, g: &GradeRecord) {
    let Some(s) = &g.scores else { return };
    let mut types: Vec<(String, String)> = Vec::new();
    for f in g
        .findings
        .iter()
        .filter(|f| f.kind == FailureKind::EntityTypeMismatch)
    {
        for m in f
            .detail
            .as_ref()
            .and_then(|d| d.get("mismatches"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let label = |n: &Value, t: &Value| match t.as_str() {
                Some(t) => format!("{} ({t})", n.as_str().unwrap_or("?")),
                None => n.as_str().unwrap_or("?").to_string(),
            };
            types.push((
                label(&m["expected"], &m["expected_type"]),
                label(&m["predicted"], &m["predicted_type"]),
            ));
        }
    }
    let missed: Vec<&String> = s
        .missed
        .iter()
        .filter(|m| !types.iter().any(|(e, _)| e == *m))
        .collect();
    let spurious: Vec<&String> = s
        .spurious
        .iter()
        .filter(|m| !types.iter().any(|(_, p)| p == *m))
        .collect();
    let _ = write!(
        o,
        "<p class=\"ents\"><span class=\"ent found\">found {} of {} expected</span>",
        s.true_positives,
        s.true_positives + s.false_negatives
    );
    for m in missed {
        let _ = write!(o, " <span class=\"ent missed\">missed: {}</span>", cell(m));
    }
    for m in spurious {
        let _ = write!(
            o,
            " <span class=\"ent spurious\">spurious: {}</span>",
            cell(m)
        );
    }
    for (e, p) in &types {
        let _ = write!(
            o,
            " <span class=\"ent type\">type: {} → {}</span>",
            cell(e),
            cell(p)
        );
    }
    let _ = writeln!(
        o,
        " <span class=\"muted\">P {:.2} · R {:.2} · F1 {:.2}{}</span></p>",
        s.precision,
        s.recall,
        s.f1,
        s.source
            .as_deref()
            .map(|x| format!(" · JSON from {}", html(x)))
            .unwrap_or_default()
    );
}

/// The styles of a trial's parts (calls and arguments, the question, entities, the marked
/// transcript), shared by `report.html` and `compare.html`.
pub(crate) const TRIAL_STYLE: &str = r#"
table.args{margin:.2rem 0 .2rem 1rem;font-size:.85rem}table.args th{background:none;font-weight:normal}
mark{background:#ffd8b5;color:inherit}
.call{margin:.15rem 0}
.asked .msg{margin:.15rem 0;white-space:pre-wrap;max-width:60rem}
.role{display:inline-block;min-width:5rem;color:#57606a;font-size:.8rem;text-transform:uppercase}
.ent{display:inline-block;border-radius:3px;padding:0 .3rem;margin:.1rem}
.transcript{margin:.4rem 0;white-space:pre-wrap;line-height:1.7}mark.ent{margin:0;color:inherit}
.ent.found{background:#dafbe1}.ent.missed{background:#ffebe9}.ent.spurious{background:#fff8c5}.ent.type{background:#ddf4ff}
"#;

/// Opens every `<details>` around the element a URL fragment names, on both pages.
pub(crate) const REVEAL_SCRIPT: &str = r#"
(function(){
  // A fragment names a case or trial: open every <details> around it (report.html#first-failure).
  function reveal(){
    var id=decodeURIComponent(location.hash.slice(1));
    var el=id&&document.getElementById(id);
    if(!el){return;}
    for(var e=el;e;e=e.parentElement){if(e.tagName==='DETAILS'){e.open=true;}}
    el.scrollIntoView();
  }
  window.addEventListener('hashchange',reveal);reveal();
})();
"#;

/// Entity names marked per class, for the transcript.
const MAX_MARKED_NAMES: usize = 200;

/// `Bengaluru (place)` → `Bengaluru`: grade labels carry the type after the name.
fn entity_name(label: &str) -> &str {
    match label.rfind(" (") {
        Some(i) if label.ends_with(')') => &label[..i],
        _ => label,
    }
}

/// The extraction transcript (the case's user message) with each entity the grade names
/// marked where it occurs: found, missed, spurious (when the model's name is in the text)
/// and type-mismatched. Longer names first; overlapping occurrences keep the first mark.
fn transcript_html(o: &mut String, text: &str, s: &toolgate_core::Scores, g: &GradeRecord) {
    let typed: Vec<String> = g
        .findings
        .iter()
        .filter(|f| f.kind == FailureKind::EntityTypeMismatch)
        .filter_map(|f| f.detail.as_ref()?.get("mismatches")?.as_array().cloned())
        .flatten()
        .filter_map(|m| m["expected"].as_str().map(str::to_string))
        .collect();
    let mut names: Vec<(&str, &str)> = Vec::new();
    for (list, class) in [
        (&s.found, "found"),
        (&s.missed, "missed"),
        (&s.spurious, "spurious"),
    ] {
        for l in list.iter().take(MAX_MARKED_NAMES) {
            let n = entity_name(l);
            let class = if typed.iter().any(|t| t == n) {
                "type"
            } else {
                class
            };
            names.push((n, class));
        }
    }
    names.retain(|(n, _)| !n.trim().is_empty());
    names.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    let mut marks: Vec<(usize, usize, &str)> = Vec::new();
    for (n, class) in names {
        for (at, _) in text.match_indices(n) {
            let end = at + n.len();
            if !marks.iter().any(|(a, b, _)| at < *b && *a < end) {
                marks.push((at, end, class));
            }
        }
    }
    if marks.is_empty() {
        return;
    }
    marks.sort();
    o.push_str("<div class=\"transcript\"><span class=\"role\">transcript</span> ");
    let mut pos = 0;
    for (a, b, class) in marks {
        let _ = write!(
            o,
            "{}<mark class=\"ent {class}\" title=\"{class}\">{}</mark>",
            html(&text[pos..a]),
            html(&text[a..b])
        );
        pos = b;
    }
    let _ = writeln!(o, "{}</div>", html(&text[pos..]));
}

/// The messages of a request, system prompt left out.
pub(crate) fn asked_html(o: &mut String, asked: Option<&Asked>) {
    let Some(a) = asked else {
        let _ = writeln!(o, "<p class=\"muted\">{NOT_RECORDED}</p>");
        return;
    };
    o.push_str("<div class=\"asked\">");
    for m in &a.messages {
        let _ = write!(
            o,
            "<div class=\"msg\"><span class=\"role\">{}</span> {}{}</div>",
            html(&m.role),
            html(&m.text),
            if m.cut > 0 {
                format!(" <span class=\"more\">… {} bytes more</span>", m.cut)
            } else {
                String::new()
            }
        );
    }
    if a.more > 0 {
        let _ = write!(o, "<p class=\"muted\">… {} more messages</p>", a.more);
    }
    o.push_str("</div>\n");
}

fn text_block(o: &mut String, label: &str, text: &str, budget: &mut Budget) {
    let (shown, more) = budget.take(text, TEXT_CAP);
    let _ = write!(
        o,
        "<div class=\"text\"><span class=\"role\">{label}</span><pre>{}",
        html(shown)
    );
    if more > 0 {
        let _ = write!(o, "\n… {more} bytes more (raw response)");
    }
    o.push_str("</pre></div>");
}

/// The verdict word and its class.
pub(crate) fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Error => "error",
        Verdict::Recorded => "recorded",
    }
}

/// A trial's answer and how it was judged, compactly (for a column of `compare.html`):
/// the diagnosis, the calls made with the wrong arguments marked, and the text answered.
pub(crate) fn trial_answer(
    o: &mut String,
    g: &GradeRecord,
    rec: Option<&ResponseRecord>,
    budget: &mut Budget,
) {
    trial_parts(o, g, rec, None, None, budget, false);
}

/// A trial's answer and how it was judged. `rec` is the whole recorded response (`None`
/// when it cannot be read back); shows expected beside actual calls and the capped raw
/// response.
pub(crate) fn trial_body(
    o: &mut String,
    g: &GradeRecord,
    rec: Option<&ResponseRecord>,
    meta: Option<&ResponseMeta>,
    asked: Option<&Asked>,
    budget: &mut Budget,
) {
    trial_parts(o, g, rec, meta, asked, budget, true);
}

fn trial_parts(
    o: &mut String,
    g: &GradeRecord,
    rec: Option<&ResponseRecord>,
    meta: Option<&ResponseMeta>,
    asked: Option<&Asked>,
    budget: &mut Budget,
    full: bool,
) {
    let _ = writeln!(o, "<p class=\"diag\">{}</p>", cell(&g.diagnosis));
    let Some(rec) = rec else {
        o.push_str("<p class=\"muted\">response not readable</p>\n");
        return;
    };
    let last = rec.turns.len().saturating_sub(1);
    let is_tool = g.kind == "tool_call" || !g.expected_tools.is_empty();
    if g.verdict != Verdict::Error && is_tool {
        calls_side_by_side(o, g, &calls_of(rec, last), full);
    }
    let errs = schema_errors(g);
    if !errs.is_empty() {
        o.push_str("<ul class=\"schema\">");
        for (p, m) in &errs {
            let _ = write!(
                o,
                "<li><code>{}</code> {}</li>",
                cell(if p.is_empty() { "/" } else { p }),
                cell(m)
            );
        }
        o.push_str("</ul>\n");
    }
    entities_html(o, g);
    if let (Some(scores), Some(text)) = (&g.scores, asked.and_then(Asked::last_user)) {
        let (text, _) = budget.take(text, TEXT_CAP);
        transcript_html(o, text, scores, g);
    }
    let other: Vec<_> = g
        .findings
        .iter()
        .filter(|f| {
            !matches!(
                f.kind,
                FailureKind::ArgsMismatch
                    | FailureKind::ArgsSchemaViolation
                    | FailureKind::OutputSchemaViolation
            )
        })
        .collect();
    if g.findings.len() > 1 || (!other.is_empty() && other[0].message != *g.diagnosis) {
        o.push_str("<ul class=\"findings\">");
        for f in &g.findings {
            let _ = write!(
                o,
                "<li><span class=\"fail\">{}</span>{} {}</li>",
                f.kind.as_str(),
                f.path
                    .as_deref()
                    .map(|p| format!(" <code>{}</code>", cell(p)))
                    .unwrap_or_default(),
                cell(&f.message)
            );
        }
        o.push_str("</ul>\n");
    }
    for (i, t) in rec.turns.iter().enumerate() {
        let many = rec.turns.len() > 1;
        if many {
            let _ = write!(
                o,
                "<div class=\"turn\"><span class=\"role\">turn {}</span>",
                t.turn
            );
            if let Some(u) = &t.user {
                text_block(o, "user", u, budget);
            }
            if !(is_tool && i == last) {
                let calls = calls_of(rec, i);
                if !calls.is_empty() {
                    actual_calls_html(o, &calls, None);
                }
            }
        }
        if let Some(m) = &t.message {
            if let Some(c) = m.content.as_deref().filter(|c| !c.is_empty()) {
                text_block(o, "content", c, budget);
            }
            if let Some(r) = m.reasoning.as_deref().filter(|c| !c.is_empty()) {
                text_block(o, "reasoning", r, budget);
            }
        }
        if many {
            o.push_str("</div>");
        }
    }
    if let Some(e) = &rec.error {
        let _ = writeln!(
            o,
            "<p class=\"error\">infra error {} (turn {}): {}</p>",
            e.kind,
            e.turn,
            cell(&e.message)
        );
    }
    if full {
        raw_html(o, rec, meta, budget);
    }
}

/// The recorded response as JSON (turns and error), cut at [`RAW_CAP`] and the budget.
fn raw_html(
    o: &mut String,
    rec: &ResponseRecord,
    meta: Option<&ResponseMeta>,
    budget: &mut Budget,
) {
    let turns: Vec<_> = rec
        .turns
        .iter()
        .map(|t| {
            json!({"turn": t.turn, "user": t.user, "message": t.message,
                "finish_reason": t.finish_reason, "usage": t.usage, "status": t.status})
        })
        .collect();
    let r = serde_json::to_string_pretty(&json!({"turns": turns, "error": rec.error}))
        .unwrap_or_default();
    let where_ = match meta.map(|m| &m.raw) {
        Some(RawRef::Line(off)) => format!("responses.jsonl at byte offset {off}"),
        _ => "responses.jsonl".to_string(),
    };
    let (shown, more) = budget.take(&r, RAW_CAP);
    let body = match more {
        0 => html(shown),
        n => format!("{}\n… {n} bytes more, see {}", html(shown), html(&where_)),
    };
    let _ = writeln!(
        o,
        "<details><summary>response</summary><pre>{body}</pre></details>"
    );
}

/// The answer of a trial on one line: its calls, else its content, else what stopped it.
pub(crate) fn answer_line(rec: Option<&ResponseRecord>, max: usize) -> String {
    let Some(rec) = rec else {
        return "(response not readable)".into();
    };
    if let Some(e) = &rec.error {
        return format!(
            "infra error {}: {}",
            e.kind,
            crate::asked::one_line(&e.message, max)
        );
    }
    let last = rec.turns.len().saturating_sub(1);
    let calls = calls_of(rec, last);
    let text = if !calls.is_empty() {
        calls
            .iter()
            .map(|c| format!("{}({})", c.name, c.args))
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        match rec.turns.last().and_then(|t| t.message.as_ref()) {
            Some(m) => match m.content.as_deref().filter(|c| !c.trim().is_empty()) {
                Some(c) => format!("text: {c}"),
                None if m.reasoning.as_deref().is_some_and(|r| !r.is_empty()) => {
                    "(reasoning only)".into()
                }
                None => "(empty)".into(),
            },
            None => "(no message)".into(),
        }
    };
    crate::asked::one_line(&text, max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolgate_core::record::{Finding, TrialKey};

    fn grade(findings: Vec<Finding>) -> GradeRecord {
        GradeRecord {
            key: TrialKey {
                target: "t".into(),
                suite: "s".into(),
                case: "c".into(),
                prompt: "p".into(),
                variant: "v".into(),
                repeat: 0,
            },
            kind: "tool_call".into(),
            category: None,
            verdict: Verdict::Fail,
            failure: Some(FailureKind::ArgsMismatch),
            error_kind: None,
            findings,
            diagnosis: "d".into(),
            expected_tools: vec!["search".into()],
            actual_tools: vec!["search".into()],
            answer: None,
            scores: None,
            warmup: false,
            grader_version: "x".into(),
            args: vec![],
            input_hash: None,
            expect_hash: None,
            decision: None,
            expected_decision: None,
            no_tools: false,
        }
    }

    #[test]
    fn argument_differences_come_from_the_findings_new_and_old() {
        let g = grade(vec![Finding {
            kind: FailureKind::ArgsMismatch,
            message: "search: q: …".into(),
            path: Some("/calls/1/arguments/q".into()),
            detail: Some(json!({"call": 1, "mismatches": [
                {"arg": "q", "why": "expected ≈all[\"a, got b\"], got \"x\""},
                {"arg": "n", "why": "expected =2, argument missing"},
                {"arg": "z", "why": "not allowed (strict_args)"}]})),
        }]);
        let d = arg_diffs(&g);
        assert_eq!(d.len(), 3);
        assert_eq!((d[0].call, d[0].arg.as_str()), (Some(1), "q"));
        // The first `, got ` cuts; a case file spelling one inside the matcher is rare.
        assert_eq!(d[0].expected, "≈all[\"a");
        assert_eq!(d[1].expected, "=2");
        assert_eq!(d[2].expected, "not allowed (strict_args)");
        let old = grade(vec![Finding {
            kind: FailureKind::ArgsMismatch,
            message: "contains_all [x] failed".into(),
            path: Some("/query".into()),
            detail: None,
        }]);
        assert_eq!(
            arg_diffs(&old),
            vec![ArgDiff {
                call: None,
                arg: "query".into(),
                expected: "contains_all [x] failed".into()
            }]
        );
    }

    #[test]
    fn hostile_text_is_escaped_and_bounded() {
        let g = grade(vec![Finding {
            kind: FailureKind::ArgsSchemaViolation,
            message: "m".into(),
            path: None,
            detail: Some(json!({"call": 0, "errors": [{"path": "/<b>", "message": "<script>"}]})),
        }]);
        let calls = vec![Call {
            name: "<img src=x onerror=alert(1)>".into(),
            args: json!({"<b>": "x".repeat(5000)}),
        }];
        let mut o = String::new();
        calls_side_by_side(&mut o, &g, &calls, true);
        assert!(!o.contains("<img") && !o.contains("<b>"), "{o}");
        assert!(
            o.contains("<mark>&lt;b&gt;</mark>"),
            "the schema error marks its argument: {o}"
        );
        assert!(o.len() < 4000, "{}", o.len());
        assert_eq!(
            schema_errors(&g),
            vec![("/calls/0/arguments/<b>".into(), "<script>".into())]
        );
        let mut b = Budget::new(10);
        assert_eq!(b.take("abcdef", 4), ("abcd", 2));
        assert_eq!(b.take("abcdefgh", 100), ("abcdef", 2));
        assert_eq!(b.take("abc", 100), ("", 3));
    }

    /// Issue 19: the extraction transcript with found, missed, spurious and type-mismatched
    /// entities marked where they occur; model-named text stays escaped.
    #[test]
    fn the_transcript_marks_each_entity_by_class() {
        let scores = toolgate_core::Scores {
            precision: 0.5,
            recall: 0.5,
            f1: 0.5,
            true_positives: 1,
            false_positives: 1,
            false_negatives: 2,
            found: vec!["Arun (person)".into()],
            missed: vec!["Bengaluru (place)".into(), "Priya".into()],
            spurious: vec!["<b>Meera</b>".into()],
            source: None,
        };
        let g = grade(vec![Finding {
            kind: FailureKind::EntityTypeMismatch,
            message: "type".into(),
            path: None,
            detail: Some(
                serde_json::json!({"mismatches": [{"expected": "Priya", "expected_type": "person", "predicted": "Priya", "predicted_type": "place"}]}),
            ),
        }]);
        let mut o = String::new();
        transcript_html(
            &mut o,
            "Arun met Priya and <b>Meera</b> in Bengaluru.",
            &scores,
            &g,
        );
        assert!(
            o.contains(r#"<mark class="ent found" title="found">Arun</mark>"#),
            "{o}"
        );
        assert!(
            o.contains(r#"<mark class="ent missed" title="missed">Bengaluru</mark>"#),
            "{o}"
        );
        assert!(
            o.contains(r#"<mark class="ent type" title="type">Priya</mark>"#),
            "{o}"
        );
        assert!(
            o.contains(
                r#"<mark class="ent spurious" title="spurious">&lt;b&gt;Meera&lt;/b&gt;</mark>"#
            ),
            "{o}"
        );
        assert!(!o.contains("<b>"), "{o}");
    }
}
