//! Gate policy file bytes → `Policy::load` (`toolgate gate --policy FILE`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use toolgate_fuzz::write_input;
use toolgate_report::Policy;

fuzz_target!(|data: &[u8]| {
    let path = write_input("policy.toml", data);
    match Policy::load(&path) {
        Ok(p) => {
            // The ranges checked while parsing hold on what was accepted.
            assert!((0.0..=1.0).contains(&p.max_accuracy_drop), "{p:?}");
            assert!(p.alpha > 0.0 && p.alpha < 1.0, "{p:?}");
        }
        Err(e) => {
            assert!(
                e.line >= 1 && e.column >= 1,
                "rejection without a location: {e}"
            );
            assert!(
                !e.message.trim().is_empty(),
                "rejection without a message: {e}"
            );
        }
    }
});
