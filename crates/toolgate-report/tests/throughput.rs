//! Issue 22 §5: the side-by-side throughput table `toolgate latency --target A --target B`
//! ends with, over the fixture runs of two targets (base: qwen3-8b, cand: qwen3-14b) read as
//! one run.

mod common;

use toolgate_report::latency::{side_by_side, side_by_side_table, side_by_side_text};
use toolgate_report::text::Markup;

#[test]
fn throughput_table_of_two_targets() {
    let mut run = common::load("base");
    let cand = common::load("cand");
    run.responses.extend(cand.responses);
    run.grades.extend(cand.grades);
    let s = toolgate_report::summary::summarize(&run);
    let t = side_by_side(&s).expect("two targets");
    assert_eq!(t.targets, ["qwen3-8b", "qwen3-14b"]);
    let mut md = String::new();
    side_by_side_table(&mut md, Markup::Markdown, &t);
    insta::assert_snapshot!("throughput_table_md", md);
    insta::assert_snapshot!("throughput_table_text", side_by_side_text(&t));

    // One target: no table.
    let one = toolgate_report::summary::summarize(&common::load("base"));
    assert!(side_by_side(&one).is_none());
}
