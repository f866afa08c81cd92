//! A prompt A/B on the simulator, through the binary: a script that routes the
//! memory-vs-profile boundary right only under the voice-assistant prompt shows a
//! significant difference in `compare`, and `gate` decides it.

mod common;
use common::{command as toolgate, Mock};

#[test]
fn prompt_ab_on_the_simulator_is_significant_and_gated() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start(&[
        "--cases",
        "cases/tool-routing/voice-3tool.yaml",
        "--script",
        "golden/sim/prompt-sensitive.yaml",
    ]);
    let url = mock.url.clone();
    let run = dir.path().join("ab");
    let out = toolgate()
        .args([
            "run",
            "--quiet",
            "--suite",
            "cases/tool-routing/voice-3tool.yaml",
        ])
        .args(["--prompt", "tools-generic", "--prompt", "voice-assistant"])
        .args([
            "--model",
            "sim-prompt",
            "--profile",
            "vllm",
            "--target",
            &url,
        ])
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(mock);

    let cmp = toolgate()
        .arg("compare")
        .arg(&run)
        .arg(&run)
        .args(["--base-filter", "prompt=tools-generic"])
        .args(["--cand-filter", "prompt=voice-assistant"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&cmp.stdout);
    assert_eq!(cmp.status.code(), Some(0));
    assert!(text.contains("0 cases worse, 8 better"), "{text}");
    assert!(
        text.trim_end()
            .ends_with("verdict: candidate better (p = 0.0039, sign test over cases)"),
        "{text}"
    );

    // One run, every prompt against the first: a table of prompts × suites and a verdict.
    let by = |extra: &[&str]| {
        toolgate()
            .arg("compare")
            .arg(&run)
            .args(["--by", "prompt"])
            .args(extra)
            .output()
            .unwrap()
    };
    let o = by(&[]);
    let t = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("(reference: tools-generic)"), "{t}");
    let row = t
        .lines()
        .find(|l| l.starts_with("voice-assistant"))
        .unwrap_or_else(|| panic!("{t}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cols,
        [
            "voice-assistant",
            "tool-routing",
            "100.0%",
            "+14.0",
            "pts",
            "0/8",
            "p",
            "=",
            "0.0039",
            "better"
        ],
        "{t}"
    );
    assert!(t.contains("mve-entity-arun-who 0/1 → 1/1 (better)"), "{t}");
    assert!(
        t.contains("verdict prompt=voice-assistant vs tools-generic: candidate better (p = 0.0039"),
        "{t}"
    );
    let o = by(&["--reference", "voice-assistant"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("candidate worse (p = 0.0039"));
    let o = by(&["--reference", "voice"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("have: tools-generic, voice-assistant"));

    // Swapping to the generic prompt is a real regression: the gate fails on it.
    let gate = toolgate()
        .arg("gate")
        .arg(&run)
        .arg(&run)
        .args(["--base-filter", "prompt=voice-assistant"])
        .args(["--cand-filter", "prompt=tools-generic"])
        .output()
        .unwrap();
    let g = String::from_utf8_lossy(&gate.stdout);
    assert_eq!(gate.status.code(), Some(1), "{g}");
    assert!(g.starts_with("gate FAILED"), "{g}");
    assert!(
        g.contains("8 worse, 0 better") && g.contains("p = 0.0039"),
        "{g}"
    );
    // And the other way round it passes.
    let pass = toolgate()
        .arg("gate")
        .arg(&run)
        .arg(&run)
        .args(["--base-filter", "prompt=tools-generic"])
        .args(["--cand-filter", "prompt=voice-assistant"])
        .output()
        .unwrap();
    assert_eq!(
        pass.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&pass.stdout)
    );
}
