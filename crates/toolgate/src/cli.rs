//! Command-line definition (DESIGN §7). Parsing only; `main.rs` dispatches.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check cases, tools files, prompts and schemas without calling a model.
    Validate(ValidateArgs),
    /// Send every trial to the targets and record the responses (then grade and report).
    Run(RunArgs),
    /// Recompute grades.jsonl and the reports from responses.jsonl alone.
    Grade(GradeArgs),
    /// Render the reports of a graded run.
    Report(ReportArgs),
    /// Per-case flips, accuracy deltas and significance between two runs.
    Compare(CompareArgs),
    /// The CI decision: compare two runs under a policy; exit 0 pass, 1 fail, 3 incomplete.
    Gate(GateArgs),
    /// TTFT / decode tok/s with warmup and measured runs, multi-turn scaling.
    Latency(LatencyArgs),
    /// Serve the scripted OpenAI-compatible simulator on a port.
    Mock(MockArgs),
    /// Tools files: import from a live MCP server, diff two versions.
    #[command(subcommand)]
    Tools(ToolsCommand),
    /// Import external benchmark data as a toolgate suite.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Join shard run folders into one run.
    Merge(MergeArgs),
    /// Run a baseline and a candidate target one after the other, compare and gate.
    Swap(SwapArgs),
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
    /// Provider profile for a URL target: vllm, sglang, llamacpp, ollama, nim, openai.
    #[arg(long)]
    pub profile: Option<String>,
    /// Environment variable holding the API key for a URL target.
    #[arg(long)]
    pub api_key_env: Option<String>,
    /// Suite file or folder (default: every suite under cases/).
    #[arg(long = "suite")]
    pub suites: Vec<PathBuf>,
    /// Prompt name(s); overrides each suite's prompt. Several prompts make several trials.
    #[arg(long = "prompt")]
    pub prompts: Vec<String>,
    /// Thinking variant(s): on, off, or both.
    #[arg(long, default_value = "off")]
    pub thinking: String,
    /// Repeats per case.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Only cases with this tag (repeatable; any tag matches).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Concurrency per target (overrides the config).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Output folder (default: runs/<run-id>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Resume a run folder: send only trials without a response.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Resume even if cases or config changed.
    #[arg(long)]
    pub force: bool,
    /// Run a deterministic 1/N of the trials: I/N (1-based).
    #[arg(long)]
    pub shard: Option<String>,
    /// Send non-streaming requests.
    #[arg(long)]
    pub no_stream: bool,
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
    pub run: PathBuf,
    #[arg(long)]
    pub stable_output: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    pub run: PathBuf,
    /// Comma-separated: md,json,csv,junit,html.
    #[arg(long, default_value = "md,json,csv,junit,html")]
    pub format: String,
    /// Write a UTF-8 BOM at the start of results.csv (for spreadsheets).
    #[arg(long)]
    pub csv_bom: bool,
    #[arg(long)]
    pub stable_output: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    pub base: PathBuf,
    pub cand: PathBuf,
    /// Compare slices of one run, e.g. `--base-filter prompt=generic --cand-filter prompt=voice`.
    #[arg(long)]
    pub base_filter: Option<String>,
    #[arg(long)]
    pub cand_filter: Option<String>,
    /// Print Markdown instead of text.
    #[arg(long)]
    pub markdown: bool,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    pub base: PathBuf,
    pub cand: PathBuf,
    /// Policy file (TOML); defaults apply without one.
    #[arg(long)]
    pub policy: Option<PathBuf>,
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
}

#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    /// Write a pinned tools file from a live MCP server's tools/list.
    Import {
        /// stdio server command line, e.g. "npx @playwright/mcp@0.0.83".
        #[arg(long)]
        mcp: Option<String>,
        /// Streamable HTTP endpoint.
        #[arg(long)]
        mcp_url: Option<String>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// What changed between two tools files.
    Diff { old: PathBuf, new: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Berkeley Function Calling Leaderboard entries → a toolgate suite.
    Bfcl {
        dir: PathBuf,
        #[arg(long)]
        category: String,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    pub runs: Vec<PathBuf>,
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
