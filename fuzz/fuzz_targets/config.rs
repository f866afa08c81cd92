//! `toolgate.toml` bytes → `Config::load` (read checks, TOML, target checks), then what
//! `toolgate run` does next with an accepted file: resolve every target and turn the
//! run-wide durations into `Duration`s.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::Duration;
use toolgate_fuzz::{assert_located, write_input};
use toolgate_run::config::Config;
use toolgate_run::exec::ResolvedTarget;

fuzz_target!(|data: &[u8]| {
    let path = write_input("toolgate.toml", data);
    match Config::load(&path) {
        Ok(c) => {
            for (name, t) in &c.targets {
                assert!(
                    t.check().is_ok(),
                    "accepted target `{name}` fails its check"
                );
                // May refuse (e.g. an unset api_key_env) but must not panic.
                let _ = ResolvedTarget::resolve(name, t, &c, None, false);
            }
            // `run()` builds its Ctrl-C grace period from this (Duration::from_secs_f64).
            assert!(
                Duration::try_from_secs_f64(c.defaults.interrupt_grace_s).is_ok(),
                "accepted interrupt_grace_s = {}",
                c.defaults.interrupt_grace_s
            );
        }
        Err(diags) => {
            assert!(!diags.is_empty(), "rejected without a diagnostic");
            for d in diags.iter() {
                assert_located(d, &["empty file"]);
            }
        }
    }
});
