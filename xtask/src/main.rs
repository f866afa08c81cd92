//! `cargo xtask …`: project chores. Plain std::process; no extra dependencies.

use std::path::Path;
use std::process::{Command, ExitCode};

mod bench;
mod fuzz;
mod local_model;
mod server_choice;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf();
    std::env::set_current_dir(&root).expect("cd to repo root");
    let ok = match args.first().map(String::as_str) {
        Some("ci") => sh("bash", &[".ci/run"]),
        Some("schema") => {
            // Regenerates golden/schemas/case-file.schema.json from the Rust types.
            Command::new("cargo")
                .args([
                    "test",
                    "-q",
                    "-p",
                    "toolgate-core",
                    "--test",
                    "case_file_schema",
                ])
                .env("TOOLGATE_BLESS", "1")
                .status()
                .is_ok_and(|s| s.success())
        }
        Some("snapshots") => {
            // Accept changed insta snapshots after reviewing them with `git diff`.
            Command::new("cargo")
                .args(["test", "-q", "--workspace"])
                .env("INSTA_UPDATE", "always")
                .env_remove("CI")
                .status()
                .is_ok_and(|s| s.success())
        }
        Some("demo") => demo(),
        Some("bench") if args.get(1).is_some_and(|a| a == "--transports") => {
            let Some(rounds) = rounds(args.get(2)) else {
                eprintln!("usage: cargo xtask bench --transports [ROUNDS]");
                return ExitCode::from(2);
            };
            match bench::transports(&root, rounds) {
                Ok(ok) => ok,
                Err(e) => {
                    eprintln!("cargo xtask bench --transports: {e:#}");
                    false
                }
            }
        }
        Some("bench") if args.get(1).is_some_and(|a| a == "--against") => {
            let usage = "usage: cargo xtask bench --against OTHER-TOOLGATE-BINARY [ROUNDS]";
            let Some(other) = args.get(2) else {
                eprintln!("{usage}");
                return ExitCode::from(2);
            };
            let Some(rounds) = rounds(args.get(3)) else {
                eprintln!("{usage}");
                return ExitCode::from(2);
            };
            match bench::against(&root, Path::new(other), rounds) {
                Ok(ok) => ok,
                Err(e) => {
                    eprintln!("cargo xtask bench --against: {e:#}");
                    false
                }
            }
        }
        Some("bench") => match bench::bench(&root) {
            Ok(ok) => ok,
            Err(e) => {
                eprintln!("cargo xtask bench: {e:#}");
                false
            }
        },
        Some(cmd @ ("local-model" | "bfcl-data")) => {
            let r = if cmd == "local-model" {
                local_model::main(&args[1..])
            } else {
                local_model::bfcl_data()
            };
            if let Err(e) = r {
                eprintln!("cargo xtask {cmd}: {e:#}");
                return ExitCode::from(if e.is::<local_model::RegistryUnreachable>() {
                    local_model::EXIT_REGISTRY_UNREACHABLE
                } else {
                    1
                });
            }
            true
        }
        Some("fuzz") => match fuzz::main(&root, &args[1..]) {
            Ok(ok) => ok,
            Err(e) => {
                eprintln!("cargo xtask fuzz: {e:#}");
                false
            }
        },
        _ => {
            eprintln!(
                "usage: cargo xtask <ci | schema | snapshots | demo | bench [--transports [ROUNDS] | --against BINARY [ROUNDS]] | fuzz | local-model | bfcl-data>"
            );
            return ExitCode::from(2);
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn sh(cmd: &str, args: &[&str]) -> bool {
    eprintln!("$ {cmd} {}", args.join(" "));
    Command::new(cmd)
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

/// The README demo: strong and weak simulated models on every suite, then compare and gate.
fn demo() -> bool {
    let tg = ["run", "--quiet", "-p", "toolgate", "--"];
    let run = |target: &str, out: &str| {
        let mut a: Vec<&str> = tg.to_vec();
        a.extend(["run", "--target", target, "--out", out]);
        // Exit 0 or 3 (incomplete) both leave a run folder to look at.
        Command::new("cargo").args(&a).status().is_ok()
    };
    let _ = std::fs::remove_dir_all("runs/demo-strong");
    let _ = std::fs::remove_dir_all("runs/demo-weak");
    if !run("sim", "runs/demo-strong") || !run("sim-weak", "runs/demo-weak") {
        return false;
    }
    let mut a: Vec<&str> = tg.to_vec();
    a.extend(["compare", "runs/demo-strong", "runs/demo-weak"]);
    sh("cargo", &a);
    let mut a: Vec<&str> = tg.to_vec();
    a.extend(["gate", "runs/demo-strong", "runs/demo-weak"]);
    // The weak model is meant to fail the gate: exit 1 is the expected outcome here.
    let status = Command::new("cargo").args(&a).status();
    eprintln!(
        "gate exit code: {:?} (1 = the weak model was refused, as intended)",
        status.ok().and_then(|s| s.code())
    );
    true
}

/// The optional ROUNDS of `bench --transports` / `--against`: 7 when absent, `None` when not a
/// positive number.
fn rounds(arg: Option<&String>) -> Option<usize> {
    match arg.map(|r| r.parse::<usize>()) {
        None => Some(7),
        Some(Ok(r)) if r > 0 => Some(r),
        _ => None,
    }
}
