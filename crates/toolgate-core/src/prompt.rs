//! System-prompt templates: minijinja, `prompts/NAME.md.j2`, strict undefined variables.
//! Rendered with `tools`, `today`, `suite`, the suite's `vars`, the case's `vars` and the
//! run's `vars` (later ones win). Also renders a suite's `user_template`.

use crate::diag::Diagnostic;
use crate::tools::ToolSet;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The prompt templates of one `prompts/` folder, loaded once.
pub struct Prompts {
    dir: PathBuf,
    env: Environment<'static>,
    sources: BTreeMap<String, String>,
    /// Templates added from outside `dir` (`--prompt my/voice-v2.md.j2`), by name.
    files: BTreeMap<String, PathBuf>,
}

/// What a template sees.
#[derive(Debug, Clone, Default)]
pub struct PromptContext<'a> {
    pub tools: Option<&'a ToolSet>,
    /// `YYYY-MM-DD`, supplied by the caller (core reads no clock).
    pub today: String,
    pub suite: String,
    /// Variables, merged in order (suite, case, run).
    pub vars: Vec<&'a BTreeMap<String, Value>>,
}

impl PromptContext<'_> {
    fn to_value(&self) -> Value {
        let mut m = serde_json::Map::new();
        for vars in &self.vars {
            for (k, v) in vars.iter() {
                m.insert(k.clone(), v.clone());
            }
        }
        let tools: Vec<Value> = self
            .tools
            .map(|t| {
                t.tools
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "name": t.name,
                            "description": t.description,
                            "parameters": t.parameters,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        m.insert("tools".into(), Value::Array(tools));
        m.insert("today".into(), Value::String(self.today.clone()));
        m.insert("suite".into(), Value::String(self.suite.clone()));
        Value::Object(m)
    }
}

/// Template instructions one render may run: a system prompt needs a few thousand; nested
/// `range(100000)` loops would otherwise run for minutes and grow memory without bound.
pub const TEMPLATE_FUEL: u64 = 2_000_000;

fn new_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env
}

impl Prompts {
    /// No templates (a run without a prompts folder): cases run without a system prompt,
    /// unless a template file is added.
    pub fn empty() -> Prompts {
        Prompts {
            dir: PathBuf::new(),
            env: new_env(),
            sources: BTreeMap::new(),
            files: BTreeMap::new(),
        }
    }

    /// Load every `*.md.j2` / `*.txt.j2` in `dir`. Templates that fail to parse are reported.
    pub fn load(dir: &Path) -> (Prompts, Vec<Diagnostic>) {
        let mut env = new_env();
        let mut sources = BTreeMap::new();
        let mut diags = Vec::new();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        entries.sort();
        for path in entries {
            let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
                continue;
            };
            let name = if let Some(n) = file.strip_suffix(".md.j2") {
                n
            } else if let Some(n) = file.strip_suffix(".txt.j2") {
                n
            } else {
                if file.ends_with(".j2") {
                    diags.push(Diagnostic::whole_file(
                        &path,
                        "prompt templates must be named NAME.md.j2 or NAME.txt.j2 \
                         (minijinja picks auto-escaping by extension)",
                    ));
                }
                continue;
            };
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    diags.push(Diagnostic::whole_file(&path, format!("cannot read: {e}")));
                    continue;
                }
            };
            if let Err(e) = env.add_template_owned(file.to_string(), text.clone()) {
                diags.push(template_diag(&path, &text, &e));
                continue;
            }
            sources.insert(name.to_string(), text);
        }
        (
            Prompts {
                dir: dir.to_path_buf(),
                env,
                sources,
                files: BTreeMap::new(),
            },
            diags,
        )
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sources.keys().map(String::as_str)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.sources.contains_key(name)
    }

    pub fn source(&self, name: &str) -> Option<&str> {
        self.sources.get(name).map(String::as_str)
    }

    /// Adds one template file from anywhere (`NAME.md.j2` or `NAME.txt.j2`) under its
    /// NAME, replacing a folder template of that name. Returns the name.
    pub fn add_file(&mut self, path: &Path) -> Result<String, Diagnostic> {
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default()
            .to_string();
        let Some(name) = file
            .strip_suffix(".md.j2")
            .or_else(|| file.strip_suffix(".txt.j2"))
            .map(str::to_string)
        else {
            return Err(Diagnostic::whole_file(
                path,
                "prompt templates must be named NAME.md.j2 or NAME.txt.j2",
            ));
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| Diagnostic::whole_file(path, format!("cannot read: {e}")))?;
        self.env
            .add_template_owned(file, text.clone())
            .map_err(|e| template_diag(path, &text, &e))?;
        self.sources.insert(name.clone(), text);
        self.files.insert(name.clone(), path.to_path_buf());
        Ok(name)
    }

    pub fn path_of(&self, name: &str) -> PathBuf {
        if let Some(p) = self.files.get(name) {
            return p.clone();
        }
        let md = self.dir.join(format!("{name}.md.j2"));
        if md.exists() {
            md
        } else {
            self.dir.join(format!("{name}.txt.j2"))
        }
    }

    /// Render a prompt. Errors carry the template file, line and message.
    pub fn render(&self, name: &str, ctx: &PromptContext<'_>) -> Result<String, Diagnostic> {
        if !self.contains(name) {
            return Err(Diagnostic::whole_file(
                &self.path_of(name),
                format!("no prompt template `{name}`"),
            )
            .expected(format!(
                "one of: {}",
                self.sources.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let file = self
            .path_of(name)
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default()
            .to_string();
        let tmpl = self
            .env
            .get_template(&file)
            .map_err(|e| template_diag(&self.path_of(name), self.source(name).unwrap_or(""), &e))?;
        tmpl.render(minijinja::Value::from(minijinja::value::Serde(
            ctx.to_value(),
        )))
        .map_err(|e| template_diag(&self.path_of(name), self.source(name).unwrap_or(""), &e))
    }
}

/// Render a suite's `user_template` with `input` and the variables.
pub fn render_user_template(
    template: &str,
    input: &str,
    vars: &[&BTreeMap<String, Value>],
) -> Result<String, String> {
    let env = new_env();
    let mut m = serde_json::Map::new();
    for v in vars {
        for (k, val) in v.iter() {
            m.insert(k.clone(), val.clone());
        }
    }
    m.insert("input".into(), Value::String(input.to_string()));
    env.render_str(
        template,
        minijinja::Value::from(minijinja::value::Serde(Value::Object(m))),
    )
    .map_err(|e| {
        let mut s = e.kind().to_string();
        if let Some(d) = e.detail() {
            s.push_str(": ");
            s.push_str(d);
        }
        s
    })
}

fn template_diag(path: &Path, text: &str, e: &minijinja::Error) -> Diagnostic {
    let mut msg = format!("template error: {}", e.kind());
    if e.kind() == minijinja::ErrorKind::OutOfFuel {
        msg.push_str(&format!(
            " (the template ran more than {TEMPLATE_FUEL} instructions; a loop too large?)"
        ));
    }
    if let Some(d) = e.detail() {
        msg.push_str(": ");
        msg.push_str(d);
    }
    let line = e.line().unwrap_or(0) as u64;
    Diagnostic::new(path, line, 0, msg).with_source(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 17: nested huge loops stop at the fuel limit with a located error instead of
    /// running (and growing) for minutes.
    #[test]
    fn runaway_loops_run_out_of_fuel_at_their_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("p.md.j2"),
            "hi\n{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}\n",
        )
        .unwrap();
        let (p, diags) = Prompts::load(dir.path());
        assert!(diags.is_empty(), "{diags:?}");
        let ctx = PromptContext {
            today: "2026-01-01".into(),
            suite: "s".into(),
            ..Default::default()
        };
        let e = p.render("p", &ctx).unwrap_err();
        assert!(e.message.contains("fuel"), "{}", e.message);
        assert_eq!(e.line, 2);
    }

    #[test]
    fn strict_undefined_is_an_error_with_a_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.md.j2"), "Hello\n{{ missing_var }}\n").unwrap();
        std::fs::write(dir.path().join("ok.md.j2"), "Today is {{ today }} in {{ suite }}; {% for t in tools %}{{ t.name }} {% endfor %}{{ who }}").unwrap();
        let (p, diags) = Prompts::load(dir.path());
        assert!(diags.is_empty());
        let ctx = PromptContext {
            today: "2026-11-23".into(),
            suite: "s".into(),
            ..Default::default()
        };
        let err = p.render("p", &ctx).unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(err.message.contains("undefined"), "{err}");
        let mut vars = BTreeMap::new();
        vars.insert("who".to_string(), Value::String("Annie".into()));
        let ctx = PromptContext {
            vars: vec![&vars],
            ..ctx
        };
        assert_eq!(
            p.render("ok", &ctx).unwrap(),
            "Today is 2026-11-23 in s; Annie"
        );
    }

    #[test]
    fn syntax_error_is_reported_at_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.md.j2"), "line one\n{% if %}\n").unwrap();
        let (_p, diags) = Prompts::load(dir.path());
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].line, 2);
    }
}
