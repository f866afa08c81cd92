//! Property tests for `toolgate.toml` (issue 8, guarantee 3): any text is either a config
//! every target of which resolves without panicking, or a rejection whose every diagnostic
//! names a line; mutations of the shipped file never panic.

use proptest::prelude::*;
use std::path::Path;
use std::time::Duration;
use toolgate_run::config::Config;

const SHIPPED: &str = include_str!("../../../toolgate.toml");

fn check(text: &str) -> Result<(), TestCaseError> {
    match Config::parse(Path::new("toolgate.toml"), text) {
        Ok(c) => {
            for name in c.targets.keys() {
                let t = c.target(name);
                prop_assert!(t.is_ok(), "accepted `{name}` does not resolve: {t:?}");
                // May refuse (an unset api_key_env), must not panic.
                let _ = t.and_then(|mut t| t.read_key());
            }
            prop_assert!(Duration::try_from_secs_f64(c.defaults.interrupt_grace_s).is_ok());
        }
        Err(diags) => {
            prop_assert!(!diags.is_empty());
            let lines = text.split('\n').count() as u64;
            for d in diags.iter() {
                prop_assert!(
                    d.line >= 1 && d.line <= lines,
                    "line {} of {lines}: {d}",
                    d.line
                );
            }
        }
    }
    Ok(())
}

/// One target table with values that may be wrong, in one of TOML's spellings.
fn target_table() -> impl Strategy<Value = String> {
    let url = prop::sample::select(vec![
        "http://127.0.0.1:8000/v1",
        "https://user:pw@127.0.0.1/v1",
        "ftp://x",
        "http://",
        "",
    ]);
    let secs = prop::sample::select(vec![
        "30", "0.5", "-1", "0", "nan", "inf", "1e300", "\"10\"",
    ]);
    let profile = prop::sample::select(vec!["vllm", "ollama", "nope", "llamacpp"]);
    let header = prop::sample::select(vec!["[targets.t1]", "[targets.\"t1\"]", "[targets.'t1']"]);
    (header, url, secs.clone(), secs, profile, any::<bool>()).prop_map(
        |(h, u, timeout, idle, p, model)| {
            let mut s = format!("{h}\nbase_url = \"{u}\"\nprofile = \"{p}\"\n");
            s.push_str(&format!("timeout_s = {timeout}\nidle_timeout_s = {idle}\n"));
            if model {
                s.push_str("model = \"m\"\n");
            }
            s
        },
    )
}

fn defaults_table() -> impl Strategy<Value = String> {
    let secs = prop::sample::select(vec!["30", "0.5", "-1", "0", "nan", "-inf", "1e300"]);
    (secs.clone(), secs.clone(), secs).prop_map(|(a, b, c)| {
        format!("[defaults]\ntimeout_s = {a}\nidle_timeout_s = {b}\ninterrupt_grace_s = {c}\n")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_configs_resolve_or_are_located(d in defaults_table(), t in target_table(), d_first in any::<bool>()) {
        let text = if d_first { format!("{d}\n{t}") } else { format!("{t}\n{d}") };
        check(&text)?;
    }

    #[test]
    fn mutated_shipped_config_never_panics(pos in 0usize..SHIPPED.len(), del in 0usize..8, ins in "[ =.,\\[\\]{}\"'a-z0-9_#\n-]{0,8}") {
        let mut t = SHIPPED.as_bytes().to_vec();
        let end = (pos + del).min(t.len());
        t.splice(pos..end, ins.bytes());
        if let Ok(text) = String::from_utf8(t) {
            check(&text)?;
        }
    }
}

/// Regression: a negative, NaN or infinite duration used to be accepted and then panic in
/// `Duration::from_secs_f64` when the run resolved its targets.
#[test]
fn impossible_durations_are_refused_with_their_line() {
    for (text, line) in [
        ("[targets.t]\nbase_url = \"http://127.0.0.1:1/v1\"\nmodel = \"m\"\ntimeout_s = -1\n", 4),
        ("[targets.t]\nbase_url = \"http://127.0.0.1:1/v1\"\nmodel = \"m\"\nidle_timeout_s = nan\n", 4),
        ("[defaults]\ntimeout_s = inf\n", 2),
        ("[defaults]\nconcurrency = 2\ninterrupt_grace_s = -0.5\n", 3),
    ] {
        let e = Config::parse(Path::new("toolgate.toml"), text).expect_err(text);
        assert_eq!(e.0[0].line, line, "{text}\n{e}");
        assert!(e.0[0].message.contains("seconds"), "{e}");
    }
}

/// Regression: a target whose table header is quoted got a diagnostic without a line.
#[test]
fn quoted_target_names_are_located() {
    let text =
        "[defaults]\nretries = 1\n\n[targets.\"my-box\"]\nbase_url = \"ftp://x\"\nmodel = \"m\"\n";
    let e = Config::parse(Path::new("toolgate.toml"), text).unwrap_err();
    assert_eq!(e.0[0].line, 4, "{e}");
    let text = "targets = { box = { base_url = \"ftp://x\", model = \"m\" } }\n";
    let e = Config::parse(Path::new("toolgate.toml"), text).unwrap_err();
    assert_eq!(e.0[0].line, 1, "{e}");
}
