//! The `toolgate` binary: parse the command line, dispatch, map outcomes to exit codes
//! (0 ok, 1 gate failed, 2 bad input, 3 incomplete). The work lives in the library crates.

mod agree_cmd;
mod baseline;
mod cli;
mod commands;
mod error;
mod exit;
mod history_cmd;
mod interop_cmd;
mod resume;
mod show;
mod swap;
mod tools_cmd;

use clap::Parser;
use cli::{Cli, Command};
use error::ToolgateError;
use std::path::PathBuf;
use std::process::ExitCode;

// glibc malloc was ~13% of a trial's CPU in `cargo xtask bench` (many small JSON values per
// request); mimalloc halves that without changing any code path.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::BAD_INPUT
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    ExitCode::from(dispatch(cli.command))
}

fn dispatch(cmd: Command) -> u8 {
    match cmd {
        Command::Validate(a) => validate(a),
        Command::Run(a) => outcome(commands::run(a, 0, 1)),
        Command::Latency(a) => outcome(commands::latency(a)),
        Command::Grade(a) => outcome(commands::grade(a)),
        Command::Report(a) => outcome(commands::report(a)),
        Command::Compare(a) => outcome(commands::compare(a)),
        Command::Gate(a) => outcome(commands::gate(a)),
        Command::Agree(a) => outcome(agree_cmd::agree(a)),
        Command::Mock(a) => outcome(commands::mock(a)),
        Command::Swap(a) => outcome(swap::swap(a)),
        Command::Tools(c) => outcome(tools_cmd::tools(c)),
        Command::Import(c) => outcome(interop_cmd::import(c)),
        Command::Merge(a) => outcome(interop_cmd::merge(a)),
        Command::Accept(a) => outcome(baseline::accept(a)),
        Command::History(a) => outcome(history_cmd::history(a)),
        Command::Show(a) => outcome(show::show(a)),
    }
}

pub fn today() -> String {
    jiff::Zoned::now().date().to_string()
}

fn validate(a: cli::ValidateArgs) -> u8 {
    let paths = if a.paths.is_empty() {
        vec![PathBuf::from("cases")]
    } else {
        a.paths
    };
    let prompts_dir = a
        .prompts
        .or_else(|| toolgate_core::validate::find_prompts_dir(&paths));
    let v = toolgate_core::validate::validate(&paths, prompts_dir.as_deref(), &today());
    if v.diagnostics.is_empty() {
        println!(
            "ok: {} suite(s), {} case(s), {} file(s) checked",
            v.suites.len(),
            v.cases(),
            v.files_checked
        );
        // A forgotten `expect` is legal (record-only), so say which cases will not be judged.
        let record_only: Vec<String> = v
            .suites
            .iter()
            .flat_map(|s| {
                s.cases
                    .iter()
                    .filter(|c| c.expect.record_only)
                    .map(move |c| format!("{}/{}", s.name, c.id))
            })
            .collect();
        if !record_only.is_empty() {
            println!(
                "note: {} record-only case(s) without `expect` (recorded, never judged): {}",
                record_only.len(),
                toolgate_core::text::terminal(&record_only.join(", "))
            );
        }
        exit::OK
    } else {
        eprintln!("{}", v.diagnostics);
        eprintln!(
            "\n{} problem(s) in {} file(s) checked",
            v.diagnostics.len(),
            v.files_checked
        );
        exit::BAD_INPUT
    }
}

/// Map a command's result to an exit code: an outcome is its code; an error is printed and
/// exits with [`ToolgateError::exit_code`].
fn outcome(r: anyhow::Result<u8>) -> u8 {
    match r {
        Ok(code) => code,
        Err(e) => {
            let e = ToolgateError::from(e);
            eprintln!("{}", e.message());
            e.exit_code()
        }
    }
}
