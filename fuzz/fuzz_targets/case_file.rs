//! Suite YAML bytes → `load_suite`, the loader `toolgate validate` and `toolgate run` use
//! (read checks, YAML, spans, tools/schema files, prompt rendering).
#![no_main]

use libfuzzer_sys::fuzz_target;
use toolgate_core::load::{load_suite, LoadContext};
use toolgate_fuzz::{assert_located, repo_prompts, write_input};

fuzz_target!(|data: &[u8]| {
    let path = write_input("cases/fuzz/input.yaml", data);
    let ctx = LoadContext {
        prompts: Some(repo_prompts()),
        today: "2026-01-31".into(),
    };
    match load_suite(&path, &ctx) {
        Ok(suite) => assert!(!suite.name.trim().is_empty(), "suite loaded without a name"),
        Err(diags) => {
            assert!(!diags.is_empty(), "rejected without a diagnostic");
            for d in diags.iter() {
                assert_located(d, &["empty file"]);
            }
        }
    }
});
