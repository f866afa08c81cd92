//! Template text → `Prompts::load` (parse) and `Prompts::render` with strict undefined,
//! plus `render_user_template` (a suite's `user_template`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use toolgate_core::load::load_tools;
use toolgate_core::prompt::{render_user_template, PromptContext, Prompts};
use toolgate_core::tools::ToolSet;
use toolgate_fuzz::{assert_located, repo_root, write_input};

fn tools() -> &'static ToolSet {
    static T: OnceLock<ToolSet> = OnceLock::new();
    T.get_or_init(|| {
        load_tools(&repo_root().join("golden/tools/voice-3tool.json")).expect("seed tools")
    })
}

fuzz_target!(|data: &[u8]| {
    let path = write_input("prompts-fuzz/fuzz.md.j2", data);
    let (prompts, diags) = Prompts::load(path.parent().expect("has a parent"));
    for d in &diags {
        assert_located(d, &["cannot read"]);
    }
    let mut vars = BTreeMap::new();
    vars.insert("assistant_name".to_string(), Value::String("Annie".into()));
    if diags.is_empty() {
        let ctx = PromptContext {
            tools: Some(tools()),
            today: "2026-01-31".into(),
            suite: "fuzz".into(),
            vars: vec![&vars],
        };
        if let Err(d) = prompts.render("fuzz", &ctx) {
            assert_located(&d, &[]);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = render_user_template(text, "input text", &[&vars]);
    }
});
