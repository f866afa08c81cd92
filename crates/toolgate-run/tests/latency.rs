//! Accuracy of the latency measurement itself (issue 9): the simulator injects a known TTFT and
//! a known per-chunk delay; the measured TTFT p50 and decode rate must come back close to
//! them. Bounds are generous (shared CI cores); `cargo xtask bench` reports the precise
//! figures. Also: multi-turn scaling has one row per turn with prompt tokens and a slope, and
//! a request whose TTFT cannot be measured is reported missing with its reason, never as 0.

use std::path::{Path, PathBuf};
use toolgate_run::config::{Config, TargetConfig};
use toolgate_run::{run, RunRequest};
use toolgate_sim::{Script, SimServer, SimState};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn suite_dirs() -> Vec<PathBuf> {
    vec![
        root().join("cases/tool-routing"),
        root().join("cases/conversation"),
    ]
}

async fn sim(script: &str) -> SimServer {
    let s = Script::from_yaml(script, "test.yaml").unwrap();
    let suites = toolgate_run::load_inputs(&suite_dirs(), None, "2026-01-01")
        .unwrap()
        .0;
    SimServer::start(
        SimState::new(vec![s], suites),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

fn request(url: &str, out: &Path, suite: &str) -> RunRequest {
    let mut config = Config::default();
    config.defaults.retries = 0;
    config.targets.insert(
        "t".into(),
        TargetConfig {
            base_url: Some(url.to_string()),
            model: Some("m".into()),
            profile: Some("llamacpp".into()),
            ..Default::default()
        },
    );
    RunRequest {
        config,
        targets: vec!["t".into()],
        suites: vec![root().join(suite)],
        prompts_dir: Some(root().join("prompts")),
        thinking: vec![Some(false)],
        repeats: 1,
        out: Some(out.to_path_buf()),
        quiet: true,
        today: "2026-01-01".into(),
        ..Default::default()
    }
}

fn summary(dir: &Path) -> toolgate_report::Summary {
    toolgate_report::summarize(&toolgate_report::RunData::load(dir).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measured_ttft_and_decode_rate_match_what_the_simulator_injected() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // llama.cpp dialect: the server's own `timings` come back too, to sit beside ours.
    let s =
        sim("model: m\ndialect: llamacpp\nttft_ms: 80\nchunk_delay_ms: 10\nchunk_chars: 4\n").await;
    let mut req = request(&s.base_url(), &out, "cases/tool-routing");
    req.tags = vec!["core8".into()];
    req.warmup = 1;
    req.repeats = 3;
    req.concurrency = Some(4);
    let r = run(req).await.unwrap();
    s.shutdown().await;
    assert!(r.complete);
    let sm = summary(&out);
    let l = &sm.latency;
    assert_eq!(l.excluded_warmup, 8, "warmup recorded and excluded");
    assert_eq!(l.by_variant.len(), 1);
    let row = &l.by_variant[0];
    let ttft = row.ttft_ms.expect("TTFT measured");
    assert_eq!(ttft.n, 24, "8 cases × 3 measured runs");
    assert!(
        (79.0..130.0).contains(&ttft.p50),
        "TTFT p50 {} ms for 80 ms injected",
        ttft.p50
    );
    assert!(ttft.min >= 79.0, "no TTFT below the injected delay");
    // 10 ms per chunk = 100 tok/s (the sim's tokens are its chunks).
    let decode = row.decode_tps.expect("decode rate measured");
    assert!(
        (70.0..=101.0).contains(&decode.p50),
        "decode p50 {} tok/s for 100 injected",
        decode.p50
    );
    let tpot = row.tpot_ms.expect("TPOT");
    assert!((9.9..15.0).contains(&tpot.p50), "TPOT p50 {}", tpot.p50);
    let itl = row.itl_ms.expect("ITL distribution");
    assert!(itl.n > ttft.n, "one gap per chunk after the first");
    assert!((9.0..25.0).contains(&itl.p50), "ITL p50 {}", itl.p50);
    let server = row.server_decode_tps.expect("server figure beside ours");
    assert!((server.p50 - 100.0).abs() < 1e-6, "{}", server.p50);
    assert!(row.ttft_missing.is_empty());
    let tp = &l.throughput[0];
    assert_eq!(tp.requests, 24);
    assert!(tp.output_tok_s.unwrap() > 0.0 && tp.requests_s.unwrap() > 0.0);
    // latency.csv is written with the reports and carries n beside every percentile.
    let csv = std::fs::read_to_string(out.join("latency.csv")).unwrap();
    assert!(csv.starts_with(
        "section,target,group,turn,metric,unit,n,p50,p90,p95,p99,mean,min,max,value,note"
    ));
    assert!(csv.contains("variant,t,thinking=off,,TTFT,ms,24,"), "{csv}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_turn_scaling_has_every_turn_prompt_tokens_and_a_slope() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let s = sim("model: m\nttft_ms: 2\nchunk_chars: 64\n").await;
    let mut req = request(&s.base_url(), &out, "cases/conversation");
    req.concurrency = Some(4);
    let r = run(req).await.unwrap();
    s.shutdown().await;
    assert!(r.complete);
    let sm = summary(&out);
    let sc = &sm.latency.scaling;
    let five = sc
        .iter()
        .find(|c| c.case == "five-turn-weekend-plan")
        .expect("5-turn case");
    let ten = sc
        .iter()
        .find(|c| c.case == "ten-turn-home-move")
        .expect("10-turn case");
    assert_eq!((five.turns, five.by_turn.len()), (5, 5));
    assert_eq!((ten.turns, ten.by_turn.len()), (10, 10));
    for c in [five, ten] {
        let p: Vec<f64> = c.by_turn.iter().map(|t| t.prompt_tokens.unwrap()).collect();
        assert!(
            p.windows(2).all(|w| w[1] > w[0]),
            "prompt grows turn by turn: {p:?}"
        );
        assert!(c
            .by_turn
            .iter()
            .all(|t| t.ttft_ms.is_some() && t.missing.is_empty()));
        assert!(c.slope_ms_per_1k_tokens.is_some_and(f64::is_finite));
        assert_eq!(c.points, u64::from(c.turns));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmeasurable_ttft_is_missing_with_its_reason_never_zero() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let s = sim("model: m\nchunk_chars: 64\n").await;
    let mut req = request(&s.base_url(), &out, "cases/conversation");
    req.no_stream = true;
    let r = run(req).await.unwrap();
    s.shutdown().await;
    assert!(r.complete);
    let sm = summary(&out);
    let row = &sm.latency.by_variant[0];
    assert_eq!(row.ttft_ms, None, "no TTFT distribution at all, not zeros");
    assert!(row.e2e_ms.is_some());
    assert_eq!(row.ttft_missing.len(), 1);
    assert_eq!(row.ttft_missing[0].kind, "non-streaming response");
    assert_eq!(row.ttft_missing[0].count, row.requests);
    let ten = sm.latency.scaling.iter().find(|c| c.turns == 10).unwrap();
    assert!(ten.by_turn.iter().all(|t| t.ttft_ms.is_none()
        && t.missing
            .first()
            .is_some_and(|m| m.kind == "non-streaming response")));
    assert_eq!(ten.slope_ms_per_1k_tokens, None);
    let csv = std::fs::read_to_string(out.join("latency.csv")).unwrap();
    assert!(csv.contains("ttft_missing,requests,"), "{csv}");
    assert!(
        !csv.contains(",TTFT,ms,"),
        "no TTFT rows when none was measured"
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("non-streaming response"));
}
