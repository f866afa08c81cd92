//! The `toolgate swap` report over the fixture runs, with server facts on one side only:
//! decision, accuracy, failure analysis, latency and server facts, pinned byte for byte.

mod common;

use common::load;
use toolgate_report::server::{ProbeSummary, ServerSummary};
use toolgate_report::{gate, render_swap_markdown, summarize, Policy};

fn probe(name: &str, first: Option<f64>, last: Option<f64>, out: Option<&str>) -> ProbeSummary {
    ProbeSummary {
        name: name.into(),
        readings: 3,
        failed: 0,
        first,
        last,
        max: last,
        last_output: out.map(String::from),
    }
}

#[test]
fn swap_report() {
    let (base, cand) = (load("base"), load("cand"));
    let mut d = gate(&base, &cand, &Policy::default());
    d.comparison.base.label = "strong".into();
    d.comparison.cand.label = "weak|v2".into();
    let mut bs = summarize(&base);
    let cs = summarize(&cand);
    bs.servers = vec![ServerSummary {
        target: "strong".into(),
        startup_ms: Some(12_345.0),
        restarts: 1,
        exits: vec!["exit code 137".into()],
        error: Some("health check failed\nsecond line".into()),
        stop: None,
        probes: vec![
            probe("vram_mib", Some(1024.0), Some(2048.5), None),
            probe("driver", None, None, Some("550.1 | cuda")),
        ],
    }];
    insta::assert_snapshot!(
        "swap_md",
        render_swap_markdown("strong", "weak|v2", &d, &bs, &cs)
    );
}
