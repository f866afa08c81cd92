//! toolgate-report: turns a graded run folder into what a person reads (Markdown, HTML,
//! CSV, JUnit, JSON), compares two runs trial by trial, and makes the CI gate decision.
//!
//! Invariant: no network, no async, no clock. Every output is a pure function of the run
//! files (and, for gates, the policy), so reports snapshot-test and re-render identically.

pub mod agree;
pub mod agree_view;
pub mod asked;
pub mod by;
pub mod cases;
pub mod compare;
pub mod decisions;
pub mod error;
pub mod errors;
pub mod gate;
pub mod latency;
pub mod redact;
pub mod render;
pub mod run;
pub mod server;
pub mod stats;
pub mod summary;
pub mod swap;
pub mod text;

pub use compare::{
    check_filters, compare, render_compare_markdown, render_compare_markdown_section,
    render_compare_text, CompareOptions, Comparison, SliceField, SliceFilter,
};
pub use error::ReportError;
pub use gate::{
    decide, gate, gate_with, render_gate_markdown, render_gate_text, unknown_policy_names,
    write_step_summary, Decision, GateDecision, GateReason, OnInconclusive, Outcome, Policy,
    PolicyError,
};
pub use redact::redact;
pub use render::{
    render, render_compare_html, render_compare_md, render_csv, render_html, render_json,
    render_junit, render_markdown, write_compare_views, write_reports, Format, RenderOptions,
    COMPARE_HTML, COMPARE_MD,
};
pub use run::{ResponseMeta, RunData, TimingMeta, TurnMeta};
pub use summary::{summarize, Summary, SCHEMA_VERSION};
pub use swap::render_swap_markdown;
