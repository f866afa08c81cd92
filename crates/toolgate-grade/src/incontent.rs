//! Tool calls written as text (docs/failure-kinds.md#call_in_content): what a model emitted when the
//! server had no tool parser, the wrong one, or the parser failed. Finding them lets the
//! grader say "fix your server's tool parser" instead of "this model is bad".
//!
//! Families: Hermes `<tool_call>{…}</tool_call>`, Qwen3-Coder / Nemotron XML
//! `<function=NAME><parameter=K>V</parameter></function>`, Mistral `[TOOL_CALLS]`, Llama 3
//! `{"name", "parameters"}` (optionally after `<|python_tag|>`), pythonic `[fn(a=1)]`,
//! DeepSeek, Kimi K2, gpt-oss harmony, and bare JSON `{"name", "arguments"}`.

use crate::jsonscan::{balanced_end, parse_at, values_in};
use regex::Regex;
use serde_json::{Map, Number, Value};
use std::sync::LazyLock;

/// A call found in text. `arguments` is an object when it parsed, else the raw text as a
/// string (so the grader reports it as invalid JSON, the way it would a structured call).
#[derive(Debug, Clone, PartialEq)]
pub struct TextCall {
    pub name: String,
    pub arguments: Value,
    /// `hermes`, `qwen3_xml`, `mistral`, `llama3_json`, `pythonic`, `deepseek`, `kimi_k2`,
    /// `harmony` or `json`.
    pub format: &'static str,
}

static HERMES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)<tool_call>\s*(.*?)\s*(?:</tool_call>|\z)").unwrap());
static XML_FN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)<function=([^>\s]+)>(.*?)(?:</function>|\z)").unwrap());
static XML_PARAM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)<parameter=([^>\s]+)>(.*?)(?:</parameter>|(?:<parameter=)|\z)").unwrap()
});
static DEEPSEEK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"<｜tool▁call▁begin｜>\s*(?:function\s*<｜tool▁sep｜>\s*([^\s<`]+)|([^\s<`]+)\s*<｜tool▁sep｜>)")
        .unwrap()
});
static KIMI: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"<\|tool_call_begin\|>\s*(?:functions\.)?([\w.\-]+?)(?::\d+)?\s*<\|tool_call_argument_begin\|>")
        .unwrap()
});
static HARMONY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"to=(?:functions\.)?([\w.\-]+)[^<]*(?:<\|constrain\|>\s*\w*\s*)?<\|message\|>")
        .unwrap()
});
static PY_START: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[\s*[A-Za-z_][\w.]*\s*\(").unwrap());

/// Every tool call written in `text`, in order. Tagged formats win over untagged ones:
/// the first family that yields a call is the answer.
pub fn find_calls(text: &str) -> Vec<TextCall> {
    let finders: [fn(&str) -> Vec<TextCall>; 8] = [
        hermes,
        xml_functions,
        mistral,
        deepseek,
        kimi,
        harmony,
        python_tag,
        pythonic,
    ];
    for f in finders {
        let found = f(text);
        if !found.is_empty() {
            return found;
        }
    }
    bare_json(text)
}

/// `{name, arguments|parameters}` (also `{"function": {…}}`, llama.cpp's generic
/// `{"tool_call": {…}}`). `require_args`: a bare object must carry an arguments key, so an
/// entity like `{"name": "Priya", "type": "person"}` is not taken for a call.
fn call_from_obj(v: &Value, require_args: bool) -> Option<(String, Value, bool)> {
    let o = v.as_object()?;
    if let Some(inner) = o.get("tool_call").or_else(|| o.get("function")) {
        if inner.is_object() {
            return call_from_obj(inner, require_args);
        }
    }
    let name = o.get("name")?.as_str()?.trim();
    if name.is_empty() {
        return None;
    }
    let (args, is_params) = match (o.get("arguments"), o.get("parameters")) {
        (Some(a), _) => (a.clone(), false),
        (None, Some(p)) => (p.clone(), true),
        (None, None) if !require_args => (Value::Object(Map::new()), false),
        _ => return None,
    };
    // Only object- or string-shaped arguments make a call; anything else is data.
    if !(args.is_object() || args.is_string() || args.is_null()) {
        return None;
    }
    Some((name.to_string(), args, is_params))
}

fn hermes(text: &str) -> Vec<TextCall> {
    let mut out = Vec::new();
    for cap in HERMES.captures_iter(text) {
        let inner = cap.get(1).map_or("", |m| m.as_str());
        if inner.contains("<function=") {
            out.extend(xml_functions(inner));
            continue;
        }
        let Some(start) = inner.find('{') else {
            continue;
        };
        match parse_at(inner, start) {
            Some((v, _)) => {
                if let Some((name, args, _)) = call_from_obj(&v, false) {
                    out.push(TextCall {
                        name,
                        arguments: args,
                        format: "hermes",
                    });
                }
            }
            None => {
                // Broken JSON inside the tags is still an attempted call, when a name shows.
                if let Some(name) = loose_name(inner) {
                    out.push(TextCall {
                        name,
                        arguments: Value::String(inner.to_string()),
                        format: "hermes",
                    });
                }
            }
        }
    }
    out
}

/// `"name": "x"` in text that did not parse as JSON.
fn loose_name(s: &str) -> Option<String> {
    static NAME: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#""name"\s*:\s*"([^"]+)""#).unwrap());
    NAME.captures(s).map(|c| c[1].to_string())
}

fn xml_functions(text: &str) -> Vec<TextCall> {
    XML_FN
        .captures_iter(text)
        .map(|cap| {
            let mut args = Map::new();
            for p in XML_PARAM.captures_iter(&cap[2]) {
                args.insert(p[1].to_string(), xml_value(&p[2]));
            }
            TextCall {
                name: cap[1].to_string(),
                arguments: Value::Object(args),
                format: "qwen3_xml",
            }
        })
        .collect()
}

/// XML parameter values are raw text: numbers, booleans, null, objects and arrays are read
/// as JSON, everything else stays a string (the grader coerces by the tool's schema).
fn xml_value(raw: &str) -> Value {
    let t = raw.trim_matches(['\n', '\r']).trim();
    match serde_json::from_str::<Value>(t) {
        Ok(v) if !v.is_string() => v,
        _ => Value::String(raw.trim_matches(['\n', '\r']).to_string()),
    }
}

fn mistral(text: &str) -> Vec<TextCall> {
    static NAME_ARGS: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\s*([A-Za-z_][\w.\-]*)\s*(?:\[ARGS\])?\s*\{").unwrap());
    let mut out = Vec::new();
    for (pos, _) in text.match_indices("[TOOL_CALLS]") {
        let rest = &text[pos + "[TOOL_CALLS]".len()..];
        let trimmed = rest.trim_start();
        let off = rest.len() - trimmed.len();
        if trimmed.starts_with('[') || trimmed.starts_with('{') {
            if let Some((v, _)) = parse_at(rest, off) {
                let items = match v {
                    Value::Array(a) => a,
                    o => vec![o],
                };
                for it in &items {
                    if let Some((name, args, _)) = call_from_obj(it, false) {
                        out.push(TextCall {
                            name,
                            arguments: args,
                            format: "mistral",
                        });
                    }
                }
            }
        } else if let Some(c) = NAME_ARGS.captures(rest) {
            let brace = c.get(0).unwrap().end() - 1;
            let args = parse_at(rest, brace)
                .map(|(v, _)| v)
                .unwrap_or_else(|| Value::String(rest[brace..].to_string()));
            out.push(TextCall {
                name: c[1].to_string(),
                arguments: args,
                format: "mistral",
            });
        }
    }
    out
}

/// Calls whose name comes from a regex and whose arguments are the next JSON object.
fn name_then_json(text: &str, re: &Regex, format: &'static str) -> Vec<TextCall> {
    let mut out = Vec::new();
    for cap in re.captures_iter(text) {
        let name = cap
            .iter()
            .skip(1)
            .flatten()
            .next()
            .map(|m| m.as_str().to_string());
        let Some(name) = name else { continue };
        let after = cap.get(0).unwrap().end();
        let args = match text[after..].find('{') {
            Some(off) => {
                let start = after + off;
                match parse_at(text, start) {
                    Some((v, _)) => v,
                    None => Value::String(text[start..].to_string()),
                }
            }
            None => Value::Object(Map::new()),
        };
        out.push(TextCall {
            name,
            arguments: args,
            format,
        });
    }
    out
}

fn deepseek(text: &str) -> Vec<TextCall> {
    name_then_json(text, &DEEPSEEK, "deepseek")
}

fn kimi(text: &str) -> Vec<TextCall> {
    name_then_json(text, &KIMI, "kimi_k2")
}

fn harmony(text: &str) -> Vec<TextCall> {
    if !text.contains("<|message|>") {
        return vec![];
    }
    name_then_json(text, &HARMONY, "harmony")
}

fn python_tag(text: &str) -> Vec<TextCall> {
    let mut out = Vec::new();
    for (pos, _) in text.match_indices("<|python_tag|>") {
        let rest = &text[pos + "<|python_tag|>".len()..];
        let Some(off) = rest.find(['{', '[']) else {
            continue;
        };
        if rest[off..].starts_with('[') && PY_START.is_match(&rest[off..]) {
            out.extend(pythonic(&rest[off..]));
            continue;
        }
        if let Some((v, _)) = parse_at(rest, off) {
            out.extend(calls_in_value(&v, "llama3_json", false));
        }
    }
    out
}

fn calls_in_value(v: &Value, default_format: &'static str, require_args: bool) -> Vec<TextCall> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        o => vec![o],
    };
    let mut out = Vec::new();
    for it in items {
        if let Some((name, args, is_params)) = call_from_obj(it, require_args) {
            let format = if is_params {
                "llama3_json"
            } else {
                default_format
            };
            out.push(TextCall {
                name,
                arguments: args,
                format,
            });
        } else if v.is_array() {
            // A mixed array is data, not a list of calls.
            return vec![];
        }
    }
    out
}

fn bare_json(text: &str) -> Vec<TextCall> {
    for (v, _, _) in values_in(text) {
        let found = calls_in_value(&v, "json", true);
        if !found.is_empty() {
            return found;
        }
    }
    vec![]
}

fn pythonic(text: &str) -> Vec<TextCall> {
    for m in PY_START.find_iter(text) {
        let start = m.start();
        let Some(end) = balanced_end(text, start) else {
            continue;
        };
        let chars: Vec<char> = text[start..end].chars().collect();
        let mut p = Py { s: &chars, i: 0 };
        if let Some(calls) = p.call_list() {
            p.ws();
            if p.i == chars.len() && !calls.is_empty() {
                return calls
                    .into_iter()
                    .map(|(name, args)| TextCall {
                        name,
                        arguments: Value::Object(args),
                        format: "pythonic",
                    })
                    .collect();
            }
        }
    }
    vec![]
}

/// A tiny parser for `[f(a=1, b='x'), g()]` with Python literals.
struct Py<'a> {
    s: &'a [char],
    i: usize,
}

impl Py<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }
    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: char) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn ident(&mut self) -> Option<String> {
        self.ws();
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
        {
            self.i += 1;
        }
        (self.i > start && !self.s[start].is_ascii_digit())
            .then(|| self.s[start..self.i].iter().collect())
    }
    fn call_list(&mut self) -> Option<Vec<(String, Map<String, Value>)>> {
        if !self.eat('[') {
            return None;
        }
        let mut calls = Vec::new();
        loop {
            if self.eat(']') {
                return Some(calls);
            }
            let name = self.ident()?;
            if !self.eat('(') {
                return None;
            }
            let mut args = Map::new();
            loop {
                if self.eat(')') {
                    break;
                }
                let k = self.ident()?;
                if !self.eat('=') {
                    return None;
                }
                let v = self.value()?;
                args.insert(k, v);
                if !self.eat(',') {
                    if self.eat(')') {
                        break;
                    }
                    return None;
                }
            }
            calls.push((name, args));
            if !self.eat(',') {
                return self.eat(']').then_some(calls);
            }
        }
    }
    fn value(&mut self) -> Option<Value> {
        self.ws();
        match self.peek()? {
            '\'' | '"' => self.string().map(Value::String),
            '[' | '(' => {
                let close = if self.peek() == Some('[') { ']' } else { ')' };
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    if self.eat(close) {
                        return Some(Value::Array(items));
                    }
                    items.push(self.value()?);
                    if !self.eat(',') {
                        return self.eat(close).then_some(Value::Array(items));
                    }
                }
            }
            '{' => {
                self.i += 1;
                let mut m = Map::new();
                loop {
                    if self.eat('}') {
                        return Some(Value::Object(m));
                    }
                    let k = match self.value()? {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    if !self.eat(':') {
                        return None;
                    }
                    m.insert(k, self.value()?);
                    if !self.eat(',') {
                        return self.eat('}').then_some(Value::Object(m));
                    }
                }
            }
            c if c == '-' || c == '+' || c.is_ascii_digit() || c == '.' => self.number(),
            _ => {
                let w = self.ident()?;
                match w.as_str() {
                    "True" | "true" => Some(Value::Bool(true)),
                    "False" | "false" => Some(Value::Bool(false)),
                    "None" | "null" => Some(Value::Null),
                    _ => None,
                }
            }
        }
    }
    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || "+-.eE_".contains(c))
        {
            self.i += 1;
        }
        let t: String = self.s[start..self.i]
            .iter()
            .filter(|c| **c != '_')
            .collect();
        if let Ok(i) = t.parse::<i64>() {
            return Some(Value::Number(i.into()));
        }
        t.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
    }
    fn string(&mut self) -> Option<String> {
        let q = self.peek()?;
        self.i += 1;
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                '\\' => {
                    let e = self.peek()?;
                    self.i += 1;
                    out.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        other => other,
                    });
                }
                c if c == q => return Some(out),
                c => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> TextCall {
        let c = find_calls(text);
        assert_eq!(c.len(), 1, "{text}: {c:?}");
        c.into_iter().next().unwrap()
    }

    #[test]
    fn hermes_with_and_without_close() {
        let c = one("<tool_call>\n{\"name\": \"web_search\", \"arguments\": {\"query\": \"x\"}}\n</tool_call>");
        assert_eq!((c.name.as_str(), c.format), ("web_search", "hermes"));
        assert_eq!(c.arguments, json!({"query": "x"}));
        let c = one("Sure.<tool_call>{\"name\": \"web_search\", \"arguments\": {\"query\": \"x\"");
        assert!(c.arguments.is_string());
    }

    #[test]
    fn qwen3_xml_inside_tool_call() {
        let c = one("<tool_call>\n<function=get_entity_details>\n<parameter=name>\nArun\n</parameter>\n<parameter=limit>\n3\n</parameter>\n</function>\n</tool_call>");
        assert_eq!(c.format, "qwen3_xml");
        assert_eq!(c.arguments, json!({"name": "Arun", "limit": 3}));
    }

    #[test]
    fn mistral_both_shapes() {
        let c = one("[TOOL_CALLS][{\"name\": \"web_search\", \"arguments\": {\"query\": \"q\"}}]");
        assert_eq!(c.format, "mistral");
        let c = one("[TOOL_CALLS]web_search[ARGS]{\"query\": \"q\"}");
        assert_eq!(
            (c.name.as_str(), c.arguments.clone()),
            ("web_search", json!({"query": "q"}))
        );
    }

    #[test]
    fn llama_pythonic_and_bare() {
        let c = one("<|python_tag|>{\"name\": \"web_search\", \"parameters\": {\"query\": \"q\"}}");
        assert_eq!(c.format, "llama3_json");
        let c = one("{\"type\": \"function\", \"name\": \"web_search\", \"parameters\": {\"query\": \"q\"}}");
        assert_eq!(c.format, "llama3_json");
        let cs = find_calls(
            "[get_weather(city='Tokyo', days=2, metric=True), get_weather(city=\"Paris\")]",
        );
        assert_eq!(cs.len(), 2);
        assert_eq!(
            cs[0].arguments,
            json!({"city": "Tokyo", "days": 2, "metric": true})
        );
        let c = one("I will call ```json\n{\"name\": \"web_search\", \"arguments\": {\"query\": \"q\"}}\n```");
        assert_eq!(c.format, "json");
    }

    #[test]
    fn other_families() {
        let c = one("<|tool_calls_section_begin|><|tool_call_begin|>functions.web_search:0<|tool_call_argument_begin|>{\"query\": \"q\"}<|tool_call_end|>");
        assert_eq!((c.name.as_str(), c.format), ("web_search", "kimi_k2"));
        let c = one("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>web_search\n```json\n{\"query\": \"q\"}\n```<｜tool▁call▁end｜>");
        assert_eq!((c.name.as_str(), c.format), ("web_search", "deepseek"));
        let c = one("<|channel|>commentary to=functions.web_search <|constrain|>json<|message|>{\"query\": \"q\"}<|call|>");
        assert_eq!((c.name.as_str(), c.format), ("web_search", "harmony"));
    }

    #[test]
    fn prose_and_data_are_not_calls() {
        assert!(find_calls("Arun is an engineer [see notes] (2020).").is_empty());
        assert!(
            find_calls("{\"entities\": [{\"name\": \"Priya\", \"type\": \"person\"}]}").is_empty()
        );
        assert!(find_calls("5 * 3 = 15, and [a, b] is a list").is_empty());
    }
}
