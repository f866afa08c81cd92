//! Flags clap checks before any command runs: `--shard I/N`, `--format`, `--thinking`,
//! `--profile`, and `tools import --mcp`/`--mcp-url`. Each refusal is exit 2 with clap's
//! message naming the flag, and nothing is sent or written.

mod common;
use common::command as toolgate;

/// Exit code and stderr of `toolgate ARGS`.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let out = toolgate().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_shard_is_refused_with_the_reason() {
    for (shard, why) in [
        ("0/4", "shards count from 1"),
        ("5/4", "between 1 and N (4)"),
        ("1/0", "N must be at least 1"),
        ("2", "expected I/N"),
        ("a/4", "I `a` is not a whole number"),
        ("1/x", "N `x` is not a whole number"),
    ] {
        let (code, err) = refused(&["run", "--shard", shard]);
        assert_eq!(code, Some(2), "{shard}: {err}");
        assert!(err.contains("--shard"), "{shard}: {err}");
        assert!(err.contains(why), "{shard}: {err}");
    }
}

#[test]
fn mcp_and_mcp_url_conflict_and_one_is_required() {
    let (code, err) = refused(&[
        "tools",
        "import",
        "--mcp",
        "server",
        "--mcp-url",
        "http://127.0.0.1:9/mcp",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot be used with"), "{err}");
    let (code, err) = refused(&["tools", "import"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--mcp"), "{err}");
}

#[test]
fn unknown_values_are_usage_errors() {
    for args in [
        &["run", "--thinking", "maybe"][..],
        &["run", "--profile", "tgi"],
        &["report", "some-run", "--format", "md,pdf"],
    ] {
        let (code, err) = refused(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains("invalid value"), "{args:?}: {err}");
    }
}
