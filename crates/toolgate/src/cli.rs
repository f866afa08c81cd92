//! Command-line definition. Parsing only; `main.rs` dispatches.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::fmt;
use std::path::PathBuf;
use toolgate_client::Profile;
use toolgate_report::Format;

/// `--thinking`: the thinking variant(s) to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Thinking {
    On,
    Off,
    Both,
    #[value(alias = "none")]
    Default,
}

impl Thinking {
    /// The variants planned: `Some(on)`, or `None` for no thinking flag.
    pub fn variants(self) -> Vec<Option<bool>> {
        match self {
            Thinking::On => vec![Some(true)],
            Thinking::Off => vec![Some(false)],
            Thinking::Both => vec![Some(false), Some(true)],
            Thinking::Default => vec![None],
        }
    }
}

impl fmt::Display for Thinking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.to_possible_value().expect("no skipped variants");
        f.write_str(v.get_name())
    }
}

/// `--profile`: one of the provider profiles, by name.
fn profile_parser() -> impl TypedValueParser<Value = Profile> {
    PossibleValuesParser::new(Profile::ALL.map(Profile::as_str))
        .map(|s| s.parse::<Profile>().expect("a listed profile"))
}

/// `--shard I/N` (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard(pub u64, pub u64);

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.0, self.1)
    }
}

/// `I/N` with 1 ≤ I ≤ N; clap prefixes the flag and value to the message.
pub fn parse_shard(s: &str) -> Result<Shard, String> {
    let (i, n) = s
        .split_once('/')
        .ok_or("expected I/N, e.g. 2/4 (shard I of N, 1-based)")?;
    let num = |x: &str, what: &str| {
        x.trim()
            .parse::<u64>()
            .map_err(|_| format!("{what} `{}` is not a whole number", x.trim()))
    };
    let (i, n) = (num(i, "I")?, num(n, "N")?);
    if n == 0 {
        return Err("N must be at least 1".into());
    }
    if i == 0 || i > n {
        return Err(format!(
            "I must be between 1 and N ({n}); shards count from 1"
        ));
    }
    Ok(Shard(i, n))
}

/// `--format`: the report formats, in order, without repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formats(pub Vec<Format>);

fn parse_formats(s: &str) -> Result<Formats, String> {
    Format::parse_list(s).map(Formats)
}

#[derive(Debug, Parser)]
#[command(
    name = "toolgate",
    version,
    about = "Golden-case gate for tool calling and JSON extraction on self-hosted LLM servers",
    long_about = "toolgate sends golden cases to OpenAI-compatible servers (vLLM, SGLang, llama.cpp, \
Ollama, NIM, OpenAI), records every raw response, grades tool calls, extracted JSON and text answers, \
measures latency, and compares two runs with a gate a CI job can trust.\n\n\
Exit codes: 0 ok / gate passed; 1 gate failed or threshold missed; 2 bad input or usage; \
3 run incomplete because of infra errors."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Exit codes, shown at the end of each command's --help.
const EXIT_RUN: &str =
    "Exit codes: 0 every planned trial recorded; 2 bad input or usage (unknown target, \
model not served, bad case file); 3 incomplete (infra errors, interrupted).";
const EXIT_READ: &str =
    "Exit codes: 0 ok; 2 bad input or usage (not a run folder, unparsable file); \
3 the run is incomplete.";
const EXIT_OK: &str = "Exit codes: 0 ok; 2 bad input or usage.";
const EXIT_GATE: &str = "Exit codes: 0 passed; 1 failed, or inconclusive (a drop over the limit the \
suite is too small to confirm; `on_inconclusive = \"pass\"` in the policy allows it); 2 bad input or \
usage (a policy suite/tool name or a filter that matches nothing); 3 a run is incomplete.";

const EXIT_AGREE: &str = "Exit codes: 0 ok; 1 a row is under --min-trigger-f1 or \
--min-schema-validity; 2 bad input or usage (not a run folder, nothing paired, ambiguous targets); \
3 a run is incomplete (the report is still printed).";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check cases, tools files, prompts and schemas without calling a model.
    #[command(
        after_help = "Exit codes: 0 every file is valid; 2 a problem was found (each one listed)."
    )]
    Validate(ValidateArgs),
    /// Send every trial to the targets and record the responses (then grade and report).
    #[command(after_help = EXIT_RUN)]
    Run(RunArgs),
    /// Recompute grades.jsonl and the reports from responses.jsonl alone.
    #[command(after_help = EXIT_READ)]
    Grade(GradeArgs),
    /// Render the reports of a graded run.
    #[command(after_help = EXIT_OK)]
    Report(ReportArgs),
    /// Per-case pass rates, accuracy deltas and a sign test over cases between two runs.
    #[command(after_help = EXIT_OK)]
    Compare(CompareArgs),
    /// The CI decision: compare two runs under a policy; exit 0 pass, 1 fail or
    /// inconclusive, 3 incomplete.
    #[command(after_help = EXIT_GATE)]
    Gate(GateArgs),
    /// Agreement of a candidate deployment with a reference one over the same cases: tool
    /// trigger P/R/F1, same tool, arguments, schema validity. No expectations needed.
    #[command(after_help = EXIT_AGREE)]
    Agree(AgreeArgs),
    /// TTFT / decode tok/s with warmup and measured runs, multi-turn scaling.
    #[command(after_help = EXIT_RUN, mut_arg("repeat", |a| a.hide(true)))]
    Latency(LatencyArgs),
    /// Serve the scripted OpenAI-compatible simulator on a port.
    #[command(
        after_help = "Exit codes: 0 stopped with Ctrl-C; 2 bad input (script, port); \
--exit-code N after --exit-after."
    )]
    Mock(MockArgs),
    /// Tools files: import from a live MCP server, diff two versions.
    #[command(subcommand, after_help = EXIT_OK)]
    Tools(ToolsCommand),
    /// Import external benchmark data as a toolgate suite.
    #[command(subcommand, after_help = EXIT_OK)]
    Import(ImportCommand),
    /// Join shard run folders into one run.
    #[command(
        after_help = "Exit codes: 0 merged a complete run; 2 bad input (runs that do not \
belong together); 3 merged, but a shard is missing or incomplete."
    )]
    Merge(MergeArgs),
    /// Run a baseline and a candidate target one after the other, compare and gate.
    #[command(
        after_help = EXIT_GATE,
        mut_arg("targets", |a| a.hide(true)),
        mut_arg("resume", |a| a.hide(true)),
        mut_arg("force", |a| a.hide(true))
    )]
    Swap(SwapArgs),
    /// Keep a complete run as a reviewed baseline in reports/NAME/ (commit it; gate against it).
    Accept(AcceptArgs),
    /// Runs over time from the index of run folders (runs/, reports/, --root DIR).
    History(HistoryArgs),
    /// Show cases of a run: the question, the expectation, each trial's answer and reason.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run folder.
    pub run: PathBuf,
    /// Case ids (`CASE` or `SUITE/CASE`); all cases when none is given.
    pub cases: Vec<String>,
    /// Only cases with a failing or errored trial, and only those trials.
    #[arg(long)]
    pub failed: bool,
    /// Only these targets (repeatable).
    #[arg(long = "target")]
    pub targets: Vec<String>,
    /// Only these variants, e.g. `thinking=on` (repeatable).
    #[arg(long = "variant")]
    pub variants: Vec<String>,
    /// Only these suites, by name (repeatable).
    #[arg(long = "suite")]
    pub suites: Vec<String>,
    /// The whole system prompt and reasoning instead of their first lines.
    #[arg(long)]
    pub full: bool,
    /// Per trial, a curl command that replays the exact request (the key stays `$VAR`).
    #[arg(long)]
    pub curl: bool,
    /// The same as JSON.
    #[arg(long)]
    pub json: bool,
    /// auto (colours on a terminal only), always or never.
    #[arg(long, default_value = "auto")]
    pub color: String,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Suite files or folders (default: cases/).
    pub paths: Vec<PathBuf>,
    /// Prompt templates folder (default: the nearest `prompts/` above the first path).
    #[arg(long)]
    pub prompts: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Configuration file (default: toolgate.toml when present).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Target name from the config, or a base URL (then use --model/--profile).
    #[arg(long = "target")]
    pub targets: Vec<String>,
    /// Model name for a URL target.
    #[arg(long)]
    pub model: Option<String>,
    /// Provider profile for a URL target (default: detected from the server's metadata, else
    /// openai with a warning). azure needs a toolgate.toml target (deployment, api_version).
    #[arg(long, value_parser = profile_parser())]
    pub profile: Option<Profile>,
    /// Environment variable holding the API key for a URL target.
    #[arg(long)]
    pub api_key_env: Option<String>,
    /// Suite file or folder (default: every suite under cases/).
    #[arg(long = "suite")]
    pub suites: Vec<PathBuf>,
    /// Prompt name(s) or template file(s) (`my/voice-v2.md.j2`); overrides each suite's
    /// prompt. Several prompts make several trials.
    #[arg(long = "prompt")]
    pub prompts: Vec<String>,
    /// Prompt templates folder (default: the nearest `prompts/` above the first suite).
    #[arg(long = "prompts")]
    pub prompts_dir: Option<PathBuf>,
    /// Thinking variant(s): on, off, both (off then on), or default/none (send no thinking
    /// flag). Default: off.
    // No clap default: `--resume` must tell a given flag from an absent one.
    #[arg(long, value_enum)]
    pub thinking: Option<Thinking>,
    /// Repeats per case. Default: 1.
    #[arg(long)]
    pub repeat: Option<u32>,
    /// Only cases with this tag (repeatable; any tag matches).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Concurrency per target (overrides the config).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Output folder (default: runs/<run-id>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Resume a run folder: send only trials without a response. Targets, suites, prompts,
    /// variants, repeats and settings come from its manifest; flags given must agree.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Resume even if cases or config changed.
    #[arg(long)]
    pub force: bool,
    /// Run a deterministic 1/N of the trials: I/N (1-based).
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// Send non-streaming requests.
    #[arg(long)]
    pub no_stream: bool,
    /// Do not stop when a URL target's /v1/models does not list the model.
    #[arg(long)]
    pub no_model_check: bool,
    /// Run targets one after another (one server up at a time).
    #[arg(long)]
    pub sequential: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
    /// Redact times, paths and versions in the reports (for snapshots and diffs).
    #[arg(long)]
    pub stable_output: bool,
}

#[derive(Debug, Args)]
pub struct GradeArgs {
    /// Run folder (holds manifest.json and responses.jsonl).
    pub run: PathBuf,
    #[arg(long)]
    pub stable_output: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run folder.
    pub run: PathBuf,
    /// Comma-separated formats; allowed: md, json, csv, junit, html.
    #[arg(long, default_value = "md,json,csv,junit,html", value_parser = parse_formats)]
    pub format: Formats,
    /// Write a UTF-8 BOM at the start of results.csv (for spreadsheets).
    #[arg(long)]
    pub csv_bom: bool,
    #[arg(long)]
    pub stable_output: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Baseline run folder or baseline name (with --by: the one run whose slices are compared).
    #[arg(required_unless_present = "last")]
    pub base: Option<PathBuf>,
    /// Candidate run folder (may be the same folder with --base-filter/--cand-filter;
    /// not with --by).
    #[arg(required_unless_present_any = ["by", "last"])]
    pub cand: Option<PathBuf>,
    /// Compare RUN with the previous indexed run of the same targets and suites.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["base", "cand", "by"])]
    pub last: Option<PathBuf>,
    /// Compare the slices of one run against a reference slice: a table of values × suites.
    #[arg(long, value_parser = ["prompt", "variant", "target"], conflicts_with_all = ["cand", "base_filter", "cand_filter"])]
    pub by: Option<String>,
    /// With --by: the reference value (default: the first one in the run).
    #[arg(long, requires = "by")]
    pub reference: Option<String>,
    /// Compare slices of one run, e.g. `--base-filter prompt=generic --cand-filter prompt=voice`.
    #[arg(long)]
    pub base_filter: Option<String>,
    /// The candidate slice, e.g. `prompt=voice` (FIELD=VALUE: prompt, variant, target).
    #[arg(long)]
    pub cand_filter: Option<String>,
    /// Print Markdown instead of text.
    #[arg(long)]
    pub markdown: bool,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    /// Baseline run folder.
    pub base: PathBuf,
    /// Candidate run folder (may be the same folder with --base-filter/--cand-filter).
    pub cand: PathBuf,
    /// Policy file (TOML); defaults apply without one.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Gate a slice of the base run, e.g. `prompt=generic` (FIELD=VALUE: prompt, variant, target).
    #[arg(long)]
    pub base_filter: Option<String>,
    /// Gate a slice of the candidate run, e.g. `prompt=voice`.
    #[arg(long)]
    pub cand_filter: Option<String>,
}

#[derive(Debug, Args)]
pub struct AgreeArgs {
    /// The reference run folder (or baseline name): the trusted deployment, taken as truth.
    pub reference: PathBuf,
    /// The candidate run folder: the deployment under test (agree.md and agree.json go here).
    pub candidate: PathBuf,
    /// Exit 1 when a row's tool-trigger F1 is under X (0–1).
    #[arg(long, value_name = "X")]
    pub min_trigger_f1: Option<f64>,
    /// Exit 1 when a row's CAND schema validity is under X (0–1).
    #[arg(long, value_name = "X")]
    pub min_schema_validity: Option<f64>,
    /// Print agree.md instead of the text summary.
    #[arg(long, conflicts_with = "json")]
    pub markdown: bool,
    /// Print agree.json instead of the text summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LatencyArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Warmup repetitions per case (recorded, excluded).
    #[arg(long, default_value_t = 2)]
    pub warmup: u32,
    /// Measured repetitions per case.
    #[arg(long, default_value_t = 5)]
    pub runs: u32,
}

#[derive(Debug, Args)]
pub struct MockArgs {
    /// Script file (YAML); default: the built-in strong and weak models.
    #[arg(long)]
    pub script: Vec<PathBuf>,
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Cases the simulator answers (default: cases/).
    #[arg(long)]
    pub cases: Vec<PathBuf>,
    /// Exit (with --exit-code) once N chat requests have been answered and another arrives:
    /// a server that dies mid-run, for testing managed servers.
    #[arg(long)]
    pub exit_after: Option<u64>,
    #[arg(long, default_value_t = 137)]
    pub exit_code: u8,
    /// Require the key held by this environment variable on every chat request:
    /// `Authorization: Bearer` on /v1/chat/completions, `api-key` on Azure's
    /// /openai/deployments/{d}/chat/completions (wrong or missing: 401).
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    /// Write a pinned tools file from a live MCP server's tools/list.
    Import {
        /// stdio server command line, e.g. "npx @playwright/mcp@0.0.83".
        #[arg(long, conflicts_with = "mcp_url", required_unless_present = "mcp_url")]
        mcp: Option<String>,
        /// Streamable HTTP endpoint.
        #[arg(long)]
        mcp_url: Option<String>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// What changed between two tools files.
    Diff {
        /// The tools file before.
        old: PathBuf,
        /// The tools file after.
        new: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Berkeley Function Calling Leaderboard entries → a toolgate suite.
    Bfcl {
        /// Folder holding BFCL's `BFCL_v4_<category>.json` and `possible_answer/`.
        dir: PathBuf,
        /// BFCL category to import.
        #[arg(long, value_parser = ["simple", "multiple", "parallel", "parallel_multiple", "irrelevance"])]
        category: String,
        /// Output suite folder.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Shard run folders (from `run --shard I/N`).
    pub runs: Vec<PathBuf>,
    /// Folder for the merged run.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct SwapArgs {
    /// Baseline target (name from the config).
    #[arg(long)]
    pub baseline: String,
    /// Candidate target (name from the config).
    #[arg(long)]
    pub candidate: String,
    /// Gate policy file (TOML); defaults apply without one.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// The run options shared by both runs (--config, --suite, --thinking, --repeat, --out …).
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct AcceptArgs {
    /// The run folder to accept (complete, without error trials).
    pub run: PathBuf,
    /// The baseline's name: the folder reports/NAME/, and what `gate NAME CAND` takes.
    #[arg(long = "as", value_name = "NAME")]
    pub name: String,
    /// Replace an existing baseline of that name (prints what changed).
    #[arg(long)]
    pub force: bool,
    /// Accept an incomplete run or one with error trials.
    #[arg(long)]
    pub allow_incomplete: bool,
    /// Folder of baselines (default: reports/).
    #[arg(long, value_name = "DIR")]
    pub reports: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only this target (name from the run's config).
    #[arg(long)]
    pub target: Option<String>,
    /// Only this model.
    #[arg(long)]
    pub model: Option<String>,
    /// Only this suite (accuracy and Δ are over its trials).
    #[arg(long)]
    pub suite: Option<String>,
    /// Only this prompt.
    #[arg(long)]
    pub prompt: Option<String>,
    /// Only this variant, e.g. `thinking=off`.
    #[arg(long)]
    pub variant: Option<String>,
    /// Runs started on or after this day (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Keep the newest N rows.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Another folder of run folders to index (repeatable); runs/ and reports/ always are.
    #[arg(long = "root", value_name = "DIR")]
    pub roots: Vec<PathBuf>,
    /// Rebuild runs/index.sqlite from the folders.
    #[arg(long)]
    pub reindex: bool,
    #[arg(long, conflicts_with_all = ["csv", "html"])]
    pub json: bool,
    #[arg(long, conflicts_with = "html")]
    pub csv: bool,
    /// Write a self-contained page with trend charts to OUT.
    #[arg(long, value_name = "OUT")]
    pub html: Option<PathBuf>,
}
