//! `run --prompt PATH` and `run --prompts DIR`, through the binary on the builtin simulator.

mod common;
use common::{command, root};

fn run(args: &[&str]) -> std::process::Output {
    command()
        .args([
            "run",
            "--quiet",
            "--target",
            "sim",
            "--suite",
            "cases/tool-routing",
        ])
        .args(["--tag", "core8"])
        .args(args)
        .output()
        .unwrap()
}

fn prompts_of(dir: &std::path::Path) -> Vec<String> {
    let g = std::fs::read_to_string(dir.join("grades.jsonl")).unwrap();
    let mut v: Vec<String> = g
        .lines()
        .map(|l| {
            let j: serde_json::Value = serde_json::from_str(l).unwrap();
            j["key"]["prompt"].as_str().unwrap().to_string()
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn prompt_takes_a_template_file_beside_named_prompts() {
    let t = tempfile::tempdir().unwrap();
    let my = t.path().join("my");
    std::fs::create_dir(&my).unwrap();
    let file = my.join("voice-v2.md.j2");
    std::fs::copy(root().join("prompts/voice-assistant.md.j2"), &file).unwrap();
    let out = t.path().join("run");
    let o = run(&[
        "--prompt",
        file.to_str().unwrap(),
        "--prompt",
        "tools-generic",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(prompts_of(&out), vec!["tools-generic", "voice-v2"]);

    let missing = run(&["--prompt", "my/voice-v3.md.j2"]);
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("--prompt my/voice-v3.md.j2: no such template file"),
        "{err}"
    );
    assert!(!err.contains("prompts//"), "{err}");
}

#[test]
fn run_takes_a_prompts_folder() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("alt");
    std::fs::create_dir(&dir).unwrap();
    for e in std::fs::read_dir(root().join("prompts")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::copy(dir.join("voice-assistant.md.j2"), dir.join("terse.md.j2")).unwrap();
    let out = t.path().join("run");
    let o = run(&[
        "--prompts",
        dir.to_str().unwrap(),
        "--prompt",
        "terse",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(prompts_of(&out), vec!["terse"]);
    // Without the folder, `terse` does not exist: bad input naming the folder searched.
    let o = run(&["--prompt", "terse"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no template terse.md.j2 in"));
}
