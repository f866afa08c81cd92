//! End-to-end runs against the simulator on a loopback port: crash and resume, secrets,
//! timing. Each test starts its own simulator and stops it.

use std::path::{Path, PathBuf};
use toolgate_run::config::{Config, TargetConfig};
use toolgate_run::{run, runfolder, RunRequest};
use toolgate_sim::{Script, SimServer, SimState};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn suites() -> Vec<toolgate_core::Suite> {
    toolgate_run::load_inputs(&[root().join("cases/tool-routing")], None, "2026-01-01")
        .unwrap()
        .0
}

async fn sim(script: &str) -> SimServer {
    let s = Script::from_yaml(script, "test.yaml").unwrap();
    SimServer::start(
        SimState::new(vec![s], suites()),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

fn request(url: &str, out: &Path, key_env: Option<&str>) -> RunRequest {
    let mut config = Config::default();
    config.defaults.retries = 0;
    config.defaults.concurrency = 1;
    config.targets.insert(
        "t".into(),
        TargetConfig {
            base_url: Some(url.to_string()),
            model: Some("m".into()),
            profile: Some("vllm".into()),
            api_key_env: key_env.map(str::to_string),
            ..Default::default()
        },
    );
    RunRequest {
        config,
        targets: vec!["t".into()],
        suites: vec![root().join("cases/tool-routing")],
        prompts_dir: Some(root().join("prompts")),
        thinking: vec![Some(false)],
        repeats: 1,
        out: Some(out.to_path_buf()),
        quiet: true,
        today: "2026-01-01".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_dying_after_n_responses_is_errors_not_failures_and_resume_completes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let n = 7;
    let dying = sim(&format!("model: m\nfail_after: {n}\nafter_fault: reset\n")).await;
    let r = run(request(&dying.base_url(), &out, None)).await.unwrap();
    dying.shutdown().await;
    let total = r.planned;
    assert!(!r.complete);
    let recs = runfolder::read_responses(&out).unwrap().records;
    let ok = recs.iter().filter(|r| r.error.is_none()).count();
    assert_eq!(
        ok, n,
        "exactly the answered trials are recorded as responses"
    );
    assert_eq!(
        recs.len() as u64,
        total,
        "every other trial is an error record"
    );
    // Errors are never failures.
    let grades: Vec<toolgate_core::GradeRecord> = runfolder::read_jsonl(&out.join("grades.jsonl"))
        .unwrap()
        .records;
    assert!(grades
        .iter()
        .all(|g| g.verdict != toolgate_core::Verdict::Fail));
    let m = runfolder::read_manifest(&out).unwrap();
    assert!(!m.complete && !m.incomplete_reasons.is_empty());
    assert!(std::fs::read_to_string(out.join("report.md"))
        .unwrap()
        .to_lowercase()
        .contains("incomplete"));

    // A healthy server on another port: resume sends only the missing trials.
    let healthy = sim("model: m\n").await;
    let mut req = request(&healthy.base_url(), &out, None);
    req.resume = Some(out.clone());
    req.out = None;
    let r2 = run(req).await.unwrap();
    let served = healthy.requests_served();
    healthy.shutdown().await;
    assert!(r2.complete, "resumed run is complete");
    assert_eq!(
        served,
        total - n as u64,
        "only the missing trials were sent"
    );
    let recs = runfolder::read_responses(&out).unwrap().records;
    assert_eq!(recs.len() as u64, total);
    let mut keys: Vec<String> = recs.iter().map(|r| r.key.id()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len() as u64, total, "each trial exactly once");
    assert!(recs.iter().all(|r| r.error.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_refuses_a_changed_plan_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let s = sim("model: m\n").await;
    let mut req = request(&s.base_url(), &out, None);
    req.tags = vec!["core8".into()];
    run(req).await.unwrap();
    let mut req = request(&s.base_url(), &out, None);
    req.resume = Some(out.clone());
    req.out = None;
    let e = run(req).await.unwrap_err();
    assert!(e.to_string().contains("--force"), "{e}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_never_reaches_the_run_folder() {
    let marker = format!("tg-secret-{}", std::process::id());
    // SAFETY of the test: the variable name is unique to this test.
    std::env::set_var("TOOLGATE_TEST_SECRET_KEY", &marker);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let s = sim("model: m\n").await;
    let mut req = request(&s.base_url(), &out, Some("TOOLGATE_TEST_SECRET_KEY"));
    req.tags = vec!["core8".into()];
    let r = run(req).await.unwrap();
    s.shutdown().await;
    assert!(r.complete);
    let mut files = 0;
    for e in std::fs::read_dir(&out).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        files += 1;
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&marker),
            "secret found in {}",
            p.display()
        );
    }
    assert!(files >= 8);
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(
        manifest.contains("TOOLGATE_TEST_SECRET_KEY"),
        "the variable's name is recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttft_follows_the_injected_delay() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let s = sim("model: m\nttft_ms: 60\nchunk_delay_ms: 5\n").await;
    let mut req = request(&s.base_url(), &out, None);
    req.tags = vec!["core8".into()];
    run(req).await.unwrap();
    s.shutdown().await;
    let recs = runfolder::read_responses(&out).unwrap().records;
    let mut ttft: Vec<f64> = recs
        .iter()
        .filter_map(|r| r.turns.first().and_then(|t| t.timing.ttft_ms))
        .collect();
    assert_eq!(ttft.len(), recs.len(), "every streamed trial has a TTFT");
    ttft.sort_by(f64::total_cmp);
    let p50 = ttft[ttft.len() / 2];
    // Generous bounds: the benchmark reports the precise figure.
    assert!(
        (58.0..150.0).contains(&p50),
        "TTFT p50 {p50} ms for 60 ms injected"
    );
}

/// The builtin targets over every golden suite: the strong model passes everything, the weak
/// one fails with every failure kind of docs/failure-kinds.md, end to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_strong_passes_everything_and_weak_shows_every_failure_kind() {
    use toolgate_core::{FailureKind, Verdict};
    let dir = tempfile::tempdir().unwrap();
    let base = |target: &str, out: PathBuf| RunRequest {
        config: Config::builtin(),
        targets: vec![target.into()],
        suites: vec![root().join("cases")],
        prompts_dir: Some(root().join("prompts")),
        thinking: vec![Some(false), Some(true)],
        repeats: 1,
        out: Some(out),
        quiet: true,
        today: "2026-01-01".into(),
        ..Default::default()
    };
    let strong = run(base("sim", dir.path().join("strong"))).await.unwrap();
    assert!(strong.complete);
    let not_passed: Vec<String> = strong
        .grades
        .iter()
        .filter(|g| g.verdict != Verdict::Pass)
        .map(|g| format!("{}: {}", g.key, g.diagnosis))
        .collect();
    assert!(
        not_passed.is_empty(),
        "strong model failed: {not_passed:#?}"
    );

    let weak = run(base("sim-weak", dir.path().join("weak")))
        .await
        .unwrap();
    assert!(weak.complete);
    let kinds: std::collections::BTreeSet<FailureKind> =
        weak.grades.iter().filter_map(|g| g.failure).collect();
    let missing: Vec<FailureKind> = FailureKind::ALL
        .iter()
        .copied()
        .filter(|k| *k != FailureKind::GateFailed && !kinds.contains(k))
        .collect();
    assert!(missing.is_empty(), "weak model never produced {missing:?}");
    let passed = weak
        .grades
        .iter()
        .filter(|g| g.verdict == Verdict::Pass)
        .count();
    assert!(
        passed > 0 && passed < weak.grades.len(),
        "weak passes some, fails some"
    );
    assert!(weak.grades.iter().all(|g| g.verdict != Verdict::Error));
}
