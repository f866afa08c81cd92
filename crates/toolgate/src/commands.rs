//! Command implementations: resolve the CLI arguments into library calls and exit codes.

use crate::cli;
use crate::error::bad;
use crate::exit;
use anyhow::Context;
use std::path::{Path, PathBuf};
use toolgate_core::runfolder::{GRADES, REPORT_MD};
use toolgate_run::config::{Config, TargetConfig};
use toolgate_run::RunRequest;

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // One thread: an eval client waits on sockets, and hopping tasks between worker threads
    // cost ~15 µs per request at concurrency 1 (`cargo xtask bench`). CPU-heavy grading runs
    // on rayon's pool, not here.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The simulator is a server: it uses every core.
fn server_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Load the configuration: `--config F`, else ./toolgate.toml when present, else builtins.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Config::load(p).map_err(|d| bad(d.to_string())),
        None if Path::new("toolgate.toml").exists() => {
            Config::load(Path::new("toolgate.toml")).map_err(|d| bad(d.to_string()))
        }
        None => Ok(Config::builtin()),
    }
}

/// A URL target without `--profile`: ask the server what it is (the metadata endpoints the
/// run manifest records), say which profile was chosen and why; `openai` with a warning
/// when nothing identifies it.
fn detect_profile(url: &str, api_key_env: Option<&str>) -> anyhow::Result<String> {
    let mut ep = toolgate_client::Endpoint::new(url);
    ep.api_key = api_key_env.and_then(|k| std::env::var(k).ok());
    let client = toolgate_client::Client::new().map_err(|e| anyhow::anyhow!("{e}"))?;
    let meta = runtime()?.block_on(client.metadata(&ep));
    Ok(match toolgate_client::detect(&meta) {
        Some((p, why)) => {
            eprintln!("--target {url}: profile {p} ({why}); --profile overrides");
            p.as_str().to_string()
        }
        None => {
            eprintln!(
                "warning: --target {url}: could not tell the server kind from its metadata; using profile openai (set --profile vllm|sglang|llamacpp|ollama|nim|openai)"
            );
            "openai".to_string()
        }
    })
}

pub(crate) fn build_request(
    a: &cli::RunArgs,
    warmup: u32,
    repeats: u32,
) -> anyhow::Result<RunRequest> {
    if let Some(dir) = &a.resume {
        return crate::resume::request(a, dir);
    }
    let mut config = load_config(a.config.as_deref())?;
    // A URL given as --target describes an ad-hoc target.
    let mut targets = Vec::new();
    for t in &a.targets {
        if t.starts_with("http://") || t.starts_with("https://") {
            toolgate_run::config::check_url(t).map_err(bad)?;
            let model = a
                .model
                .clone()
                .ok_or_else(|| bad(format!("--target {t}: a URL target needs --model")))?;
            let name = format!("url-{}", targets.len() + 1);
            config.targets.insert(
                name.clone(),
                TargetConfig {
                    base_url: Some(t.clone()),
                    model: Some(model),
                    profile: Some(match a.profile {
                        Some(p) => p.as_str().to_string(),
                        None => detect_profile(t, a.api_key_env.as_deref())?,
                    }),
                    api_key_env: a.api_key_env.clone(),
                    ..Default::default()
                },
            );
            targets.push(name);
        } else {
            targets.push(t.clone());
        }
    }
    let suites = if a.suites.is_empty() {
        config.defaults.suites.clone()
    } else {
        a.suites.clone()
    };
    let (prompt_names, prompt_files) = prompt_args(&a.prompts)?;
    let prompts_dir = a.prompts_dir.clone().or_else(|| {
        toolgate_core::validate::find_prompts_dir(&suites).or_else(|| {
            Path::new("prompts")
                .is_dir()
                .then(|| PathBuf::from("prompts"))
        })
    });
    if let Some(d) = prompts_dir.as_ref().filter(|d| !d.is_dir()) {
        return Err(bad(format!("--prompts {}: not a folder", d.display())));
    }
    Ok(RunRequest {
        targets,
        suites,
        prompts_dir,
        prompts: prompt_names,
        prompt_files,
        no_model_check: a.no_model_check,
        thinking: a.thinking.unwrap_or(cli::Thinking::Off).variants(),
        repeats: repeats.max(a.repeat.unwrap_or(1)),
        warmup,
        tags: a.tags.clone(),
        concurrency: a.concurrency,
        out: a.out.clone(),
        resume: a.resume.clone(),
        force: a.force,
        shard: a.shard.map(|cli::Shard(i, n)| (i, n)),
        no_stream: a.no_stream,
        sequential: a.sequential,
        quiet: a.quiet,
        stable_output: a.stable_output,
        today: crate::today(),
        config_file: a.config.clone(),
        config,
    })
}

/// `--prompt` values as template names, plus the template files among them
/// (`my/voice-v2.md.j2` → name `voice-v2`, added beside the prompts folder's templates).
pub(crate) fn prompt_args(values: &[String]) -> anyhow::Result<(Vec<String>, Vec<PathBuf>)> {
    let mut names = Vec::new();
    let mut files = Vec::new();
    for v in values {
        let file = Path::new(v)
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default();
        let stem = file
            .strip_suffix(".md.j2")
            .or_else(|| file.strip_suffix(".txt.j2"));
        let Some(stem) = stem.filter(|_| v.contains('/') || v.ends_with(".j2")) else {
            if v.contains('/') {
                return Err(bad(format!(
                    "--prompt {v}: template files are named NAME.md.j2 or NAME.txt.j2"
                )));
            }
            names.push(v.clone());
            continue;
        };
        if !Path::new(v).is_file() {
            return Err(bad(format!(
                "--prompt {v}: no such template file (a name like `voice-assistant` is looked up in the prompts folder)"
            )));
        }
        names.push(stem.to_string());
        files.push(PathBuf::from(v));
    }
    Ok((names, files))
}

pub fn run(a: cli::RunArgs, warmup: u32, repeats: u32) -> anyhow::Result<u8> {
    let req = build_request(&a, warmup, repeats)?;
    let quiet = req.quiet;
    let out = runtime()?.block_on(toolgate_run::run(req))?;
    let judged = out
        .grades
        .iter()
        .filter(|g| !g.warmup && g.verdict != toolgate_core::Verdict::Error)
        .count();
    let passed = out
        .grades
        .iter()
        .filter(|g| !g.warmup && g.verdict == toolgate_core::Verdict::Pass)
        .count();
    if !quiet || !out.complete {
        eprintln!(
            "{}: {} of {} trials recorded, {} passed of {} judged, {} infra error(s)",
            if out.complete {
                "complete"
            } else {
                "INCOMPLETE"
            },
            out.recorded,
            out.planned,
            passed,
            judged,
            out.errors
        );
    }
    if out.errors > 0 {
        // Counts alone do not say what to fix; the kinds and one message each do.
        if let Ok(data) = toolgate_report::RunData::load(&out.dir) {
            eprint!(
                "{}",
                toolgate_report::errors::render_error_summary(&data, 5)
            );
        }
    }
    crate::history_cmd::note_folder(&out.dir);
    println!("{}", out.dir.join(REPORT_MD).display());
    Ok(exit::of_completeness(out.complete))
}

pub fn latency(a: cli::LatencyArgs) -> anyhow::Result<u8> {
    if a.run.repeat.is_some_and(|r| r != 1) {
        // `--repeat` would silently lose to `--runs`; say which flag counts.
        return Err(bad(
            "toolgate latency counts measured repetitions with --runs N (and --warmup N), not --repeat",
        ));
    }
    let mut run_args = a.run.clone();
    // A resume takes its suites from the run (a default here would read as `--suite`).
    if run_args.suites.is_empty() && run_args.resume.is_none() {
        run_args.suites = vec![
            PathBuf::from("cases/quality"),
            PathBuf::from("cases/conversation"),
        ];
    }
    let req = build_request(&run_args, a.warmup, a.runs)?;
    let out = runtime()?.block_on(toolgate_run::run(req))?;
    // The terminal table comes from the run folder, like every report: one definition.
    let data = toolgate_report::RunData::load(&out.dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    print!(
        "{}",
        toolgate_report::latency::render_text(&toolgate_report::summarize(&data))
    );
    if !out.complete {
        eprintln!("INCOMPLETE: {} infra error(s)", out.errors);
    }
    println!("{}", out.dir.join(REPORT_MD).display());
    Ok(exit::of_completeness(out.complete))
}

pub fn grade(a: cli::GradeArgs) -> anyhow::Result<u8> {
    toolgate_run::ensure_run_dir(&a.run)?;
    let grades = toolgate_run::grade_run(&a.run, a.stable_output, &crate::today())?;
    let m = toolgate_run::runfolder::read_manifest(&a.run)?;
    crate::history_cmd::note_folder(&a.run);
    eprintln!(
        "graded {} trial(s); wrote {}",
        grades.len(),
        a.run.join(GRADES).display()
    );
    Ok(exit::of_completeness(m.complete))
}

pub fn report(a: cli::ReportArgs) -> anyhow::Result<u8> {
    toolgate_run::ensure_run_dir(&a.run)?;
    let formats = a.format.0;
    if !a.run.join(GRADES).exists() {
        toolgate_run::grade_run(&a.run, a.stable_output, &crate::today())?;
    }
    toolgate_run::write_reports(&a.run, a.stable_output, a.csv_bom, Some(&formats))?;
    println!("{}", a.run.join(REPORT_MD).display());
    Ok(exit::OK)
}

/// A run folder, or the name of a baseline under reports/ (`toolgate accept`).
pub(crate) fn load_run(dir: &Path) -> anyhow::Result<toolgate_report::RunData> {
    let dir = &crate::baseline::resolve_run_checked(dir)?;
    toolgate_run::ensure_run_dir(dir)?;
    toolgate_report::RunData::load(dir).map_err(|e| bad(e.to_string()))
}

/// Prints to stdout, ignoring a closed pipe (`toolgate gate … | head`): the command's exit
/// code is the decision and must not become a panic.
pub(crate) fn print_out(s: &str) {
    use std::io::Write as _;
    let mut o = std::io::stdout().lock();
    let _ = o
        .write_all(s.as_bytes())
        .and_then(|_| o.write_all(b"\n"))
        .and_then(|_| o.flush());
}

fn slice_options(
    base_filter: Option<&str>,
    cand_filter: Option<&str>,
) -> anyhow::Result<toolgate_report::CompareOptions> {
    let parse = |f: Option<&str>| {
        f.map(str::parse::<toolgate_report::SliceFilter>)
            .transpose()
            .map_err(bad)
    };
    Ok(toolgate_report::CompareOptions {
        base_filter: parse(base_filter)?,
        cand_filter: parse(cand_filter)?,
    })
}

pub fn compare(a: cli::CompareArgs) -> anyhow::Result<u8> {
    if let Some(run) = &a.last {
        let run = crate::baseline::resolve_run_checked(run)?;
        let prev = crate::history_cmd::previous_run(&run)?;
        eprintln!(
            "comparing {} with the previous run {}",
            run.display(),
            prev.display()
        );
        return compare_two(&load_run(&prev)?, &load_run(&run)?, &a);
    }
    let Some(base_dir) = &a.base else {
        return Err(bad(
            "compare: give BASE and CAND, BASE --by FIELD, or --last RUN",
        ));
    };
    let base = load_run(base_dir)?;
    if let Some(by) = &a.by {
        let field = match by.as_str() {
            "prompt" => toolgate_report::SliceField::Prompt,
            "variant" => toolgate_report::SliceField::Variant,
            _ => toolgate_report::SliceField::Target,
        };
        let text = toolgate_report::by::render_by_text(&base, field, a.reference.as_deref())
            .map_err(bad)?;
        print_out(&text);
        return Ok(exit::OK);
    }
    let Some(cand_dir) = &a.cand else {
        return Err(bad("compare needs a candidate run (or --by FIELD)"));
    };
    compare_two(&base, &load_run(cand_dir)?, &a)
}

fn compare_two(
    base: &toolgate_report::RunData,
    cand: &toolgate_report::RunData,
    a: &cli::CompareArgs,
) -> anyhow::Result<u8> {
    let opts = slice_options(a.base_filter.as_deref(), a.cand_filter.as_deref())?;
    toolgate_report::check_filters(base, cand, &opts).map_err(bad)?;
    let c = toolgate_report::compare(base, cand, &opts);
    if a.markdown {
        print_out(&toolgate_report::render_compare_markdown(&c));
    } else {
        print_out(&toolgate_report::render_compare_text(&c));
    }
    // The case views go beside the candidate run. stdout is the comparison, ending with its
    // verdict line (and often redirected with --markdown), so the path goes to stderr.
    if let Some(page) = write_compare_views(&c, base, cand, &opts) {
        eprintln!("compare report: {}", page.display());
    }
    Ok(exit::OK)
}

/// Writes `compare.md` and `compare.html` into the candidate run folder and returns the
/// page's path; a folder that cannot be written (a read-only checkout) is a warning only.
fn write_compare_views(
    c: &toolgate_report::Comparison,
    base: &toolgate_report::RunData,
    cand: &toolgate_report::RunData,
    opts: &toolgate_report::CompareOptions,
) -> Option<std::path::PathBuf> {
    match toolgate_report::write_compare_views(c, base, cand, opts, &cand.dir) {
        Ok([_, page]) => Some(page),
        Err(e) => {
            eprintln!(
                "warning: cannot write {} and {} in {}: {e}",
                toolgate_report::COMPARE_MD,
                toolgate_report::COMPARE_HTML,
                cand.dir.display()
            );
            None
        }
    }
}

/// Appends the gate's Markdown to `$GITHUB_STEP_SUMMARY`; a file that cannot be written is
/// a warning, never a change of the decision's exit code.
pub(crate) fn step_summary(d: &toolgate_report::GateDecision) {
    if let Err(e) = toolgate_report::write_step_summary(&toolgate_report::render_gate_markdown(d)) {
        eprintln!("warning: cannot write $GITHUB_STEP_SUMMARY: {e}");
    }
}

/// A run id as a file name part: anything but `[A-Za-z0-9._-]` becomes `_`.
fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub fn gate(a: cli::GateArgs) -> anyhow::Result<u8> {
    let base = load_run(&a.base)?;
    let cand = load_run(&a.cand)?;
    let policy = match &a.policy {
        Some(p) => toolgate_report::Policy::load(p).map_err(|e| bad(e.to_string()))?,
        None => toolgate_report::Policy::default(),
    };
    let opts = slice_options(a.base_filter.as_deref(), a.cand_filter.as_deref())?;
    toolgate_report::check_filters(&base, &cand, &opts).map_err(bad)?;
    let c = toolgate_report::compare(&base, &cand, &opts);
    let unknown = toolgate_report::unknown_policy_names(&c, &policy);
    if !unknown.is_empty() {
        return Err(bad(unknown.join("\n")));
    }
    let d = toolgate_report::decide(c, &policy);
    print_out(&toolgate_report::render_gate_text(&d));
    // The full evidence (every case, every flip) goes to a file beside the candidate run,
    // and the changed cases with both runs' answers to compare.html / compare.md there; the
    // log names the page last. Not writable (a read-only checkout) is a warning only.
    let report = a
        .cand
        .join(format!("gate-{}.md", file_safe(&base.manifest.run_id)));
    let md = format!(
        "{}\n{}",
        toolgate_report::render_gate_markdown(&d),
        toolgate_report::render_compare_markdown(&d.comparison).replacen("# ", "## ", 1)
    );
    match std::fs::write(&report, md) {
        Ok(()) => print_out(&format!("gate report: {}", report.display())),
        Err(e) => eprintln!("warning: cannot write {}: {e}", report.display()),
    }
    if let Some(page) = write_compare_views(&d.comparison, &base, &cand, &opts) {
        print_out(&format!("compare report: {}", page.display()));
    }
    step_summary(&d);
    Ok(exit::of_gate(d.decision))
}

pub fn mock(a: cli::MockArgs) -> anyhow::Result<u8> {
    let mut scripts = Vec::new();
    for p in &a.script {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        scripts
            .push(toolgate_sim::Script::from_yaml(&text, &p.display().to_string()).map_err(bad)?);
    }
    if scripts.is_empty() {
        scripts = vec![toolgate_sim::Script::strong(), toolgate_sim::Script::weak()];
    }
    let cases = if a.cases.is_empty() {
        vec![PathBuf::from("cases")]
    } else {
        a.cases.clone()
    };
    let suites = if cases.iter().all(|c| c.exists()) {
        toolgate_run::load_inputs(&cases, None, &crate::today())?.0
    } else {
        vec![]
    };
    // The key itself never goes on the command line (other users see it in `ps`).
    let api_key = match &a.api_key_env {
        Some(var) => match std::env::var(var) {
            Ok(k) if !k.is_empty() => Some(k),
            _ => {
                return Err(bad(format!(
                    "--api-key-env: environment variable {var} is not set"
                )))
            }
        },
        None => None,
    };
    let rt = server_runtime()?;
    rt.block_on(async move {
        let state = toolgate_sim::SimState::new(scripts, suites).with_api_key(api_key);
        let addr = format!("127.0.0.1:{}", a.port);
        let server = toolgate_sim::SimServer::start(state, addr.parse().context("bad port")?)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        println!("{}", server.base_url());
        eprintln!(
            "toolgate mock: serving on {} (Ctrl-C to stop)",
            server.base_url()
        );
        if let Some(n) = a.exit_after {
            // Die like a crashed server: no shutdown, the process just ends mid-request.
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async {
                    while server.requests_served() <= n {
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                } => {
                    eprintln!("toolgate mock: exiting after {n} request(s) (--exit-after)");
                    std::process::exit(i32::from(a.exit_code));
                }
            }
        }
        let _ = tokio::signal::ctrl_c().await;
        server.shutdown().await;
        Ok::<u8, anyhow::Error>(exit::OK)
    })
}
