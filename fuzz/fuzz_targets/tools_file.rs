//! Tools-file bytes (OpenAI `tools` array or MCP `tools/list` result) → `load_tools`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use toolgate_core::load::load_tools;
use toolgate_fuzz::{assert_located, write_input};

fuzz_target!(|data: &[u8]| {
    let path = write_input("tools.json", data);
    match load_tools(&path) {
        Ok(set) => {
            // A loaded tool set must be usable: every tool renders and validates.
            for t in &set.tools {
                let _ = t.to_openai();
                let _ = t.schema_errors(&serde_json::json!({}));
            }
        }
        Err(diags) => {
            assert!(!diags.is_empty(), "rejected without a diagnostic");
            for d in diags.iter() {
                // Structural problems are located by JSON pointer (`at /tools/3: ...`);
                // the top-level shape message is about the document as a whole.
                assert_located(
                    d,
                    &["empty file", "at /", "expected an OpenAI `tools` array"],
                );
            }
        }
    }
});
