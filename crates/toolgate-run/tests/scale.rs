//! CI at scale: `--shard I/N` + `merge` give the unsharded run's grades, merge refuses what
//! does not belong together, and several `base_urls` of one target share the load.

use std::path::{Path, PathBuf};
use toolgate_run::config::{Config, TargetConfig};
use toolgate_run::{merge::merge, run, runfolder, RunRequest};
use toolgate_sim::{Script, SimServer, SimState};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn request(target: &str, suite: &str, out: &Path, shard: Option<(u64, u64)>) -> RunRequest {
    let mut config = Config::default();
    config.targets.insert(
        "sim-weak".into(),
        TargetConfig {
            builtin: Some("sim".into()),
            model: Some("sim-weak".into()),
            ..Default::default()
        },
    );
    RunRequest {
        config,
        targets: vec![target.into()],
        suites: vec![root().join(suite)],
        prompts_dir: Some(root().join("prompts")),
        thinking: vec![Some(false), Some(true)],
        repeats: 1,
        out: Some(out.to_path_buf()),
        quiet: true,
        today: "2026-01-01".into(),
        shard,
        ..Default::default()
    }
}

/// grades.jsonl lines sorted: order of completion differs between runs, content must not.
fn grades(dir: &Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(dir.join("grades.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_merged_equal_the_unsharded_run() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // The weak model, so the grades carry failures of many kinds, not only passes.
    let full = run(request(
        "sim-weak",
        "cases/tool-routing",
        &t.join("full"),
        None,
    ))
    .await
    .unwrap();
    assert!(full.complete);
    let mut shards = Vec::new();
    for i in 1..=3 {
        let dir = t.join(format!("shard{i}"));
        let r = run(request(
            "sim-weak",
            "cases/tool-routing",
            &dir,
            Some((i, 3)),
        ))
        .await
        .unwrap();
        assert!(r.complete);
        let n = grades(&dir).len();
        assert!(n > 0 && n < grades(&t.join("full")).len(), "shard {i}: {n}");
        shards.push(dir);
    }
    // Shards in any order.
    let order = [shards[2].clone(), shards[0].clone(), shards[1].clone()];
    let m = merge(&order, &t.join("merged")).unwrap();
    assert!(m.complete);
    assert!(m.missing_shards.is_empty());
    assert_eq!(grades(&t.join("merged")), grades(&t.join("full")));
    assert!(grades(&t.join("full"))
        .iter()
        .any(|l| l.contains("\"verdict\":\"fail\"")));
    let man = runfolder::read_manifest(&t.join("merged")).unwrap();
    let full_man = runfolder::read_manifest(&t.join("full")).unwrap();
    assert_eq!(man.planned_trials, full_man.planned_trials);
    assert_eq!(man.shard, None);
    assert!(man.complete);
    assert!(t.join("merged/report.md").exists());

    // Refusals (bad input): an --out that already holds a run, a shard twice, a non-shard
    // run, a shard of another configuration (other suite).
    let bad = |e: anyhow::Error| e.downcast_ref::<toolgate_run::BadInput>().is_some();
    assert!(bad(merge(&shards, &t.join("merged")).unwrap_err()));
    let twice = [shards[0].clone(), shards[0].clone()];
    assert!(bad(merge(&twice, &t.join("m2")).unwrap_err()));
    let unsharded = [t.join("full"), shards[0].clone()];
    assert!(bad(merge(&unsharded, &t.join("m3")).unwrap_err()));
    let other = t.join("other2");
    run(request(
        "sim-weak",
        "cases/mcp-browser",
        &other,
        Some((2, 3)),
    ))
    .await
    .unwrap();
    let mixed = [shards[0].clone(), other];
    let err = merge(&mixed, &t.join("m4")).unwrap_err();
    assert!(bad(err));

    // A missing shard: merged, but incomplete and saying which.
    let partial = merge(&shards[..2], &t.join("m5")).unwrap();
    assert!(!partial.complete);
    assert_eq!(partial.missing_shards, vec![3]);
    let man = runfolder::read_manifest(&t.join("m5")).unwrap();
    assert!(man.incomplete_reasons.iter().any(|r| r.contains("3/3")));
}

async fn sim() -> SimServer {
    let suites =
        toolgate_run::load_inputs(&[root().join("cases/tool-routing")], None, "2026-01-01")
            .unwrap()
            .0;
    let s = Script::from_yaml("model: m\n", "test.yaml").unwrap();
    SimServer::start(
        SimState::new(vec![s], suites),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_base_urls_of_one_target_all_receive_requests() {
    let (a, b) = (sim().await, sim().await);
    let tmp = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.defaults.retries = 0;
    config.targets.insert(
        "replicas".into(),
        TargetConfig {
            base_urls: vec![a.base_url(), b.base_url()],
            model: Some("m".into()),
            profile: Some("vllm".into()),
            concurrency: Some(2),
            ..Default::default()
        },
    );
    let mut req = request(
        "replicas",
        "cases/tool-routing",
        &tmp.path().join("r"),
        None,
    );
    req.config = config;
    let r = run(req).await.unwrap();
    let (na, nb) = (a.requests_served(), b.requests_served());
    a.shutdown().await;
    b.shutdown().await;
    assert!(r.complete);
    let total = grades(&tmp.path().join("r")).len() as u64;
    assert_eq!(na + nb, total, "every trial was sent exactly once");
    // Round-robin: both replicas serve, neither takes (nearly) everything.
    assert!(na > 0 && nb > 0, "a={na} b={nb}");
    assert!(na.abs_diff(nb) <= total / 4 + 1, "a={na} b={nb}");
}
