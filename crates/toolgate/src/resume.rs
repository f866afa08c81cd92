//! `run --resume RUN`: the request is rebuilt from the run's manifest (targets, suites,
//! prompts, variants, repeats, shard and settings), so the folder alone resumes the run. A
//! flag given on the command line must agree with what the manifest records, or the resume
//! is refused naming the flag: a resume never silently turns into another run.

use crate::cli::RunArgs;
use crate::commands::{load_config, prompt_args};
use crate::error::bad;
use anyhow::anyhow;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use toolgate_core::{RunManifest, RunSettings, TargetInfo};
use toolgate_run::config::{Config, TargetConfig};
use toolgate_run::{plan, runfolder, RunRequest};

/// `FLAG: the run was made with RECORDED, not GIVEN`.
fn disagree(
    flag: &str,
    recorded: impl std::fmt::Display,
    given: impl std::fmt::Display,
) -> anyhow::Error {
    bad(format!(
        "{flag}: the run was made with {recorded}, not {given}"
    ))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The `--thinking` value that plans these variants.
fn thinking_flag(variants: &[String]) -> String {
    match variants.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["thinking=off"] => "off".into(),
        ["thinking=on"] => "on".into(),
        ["thinking=off", "thinking=on"] => "both".into(),
        ["default"] => "default".into(),
        _ => variants.join(","),
    }
}

fn thinking_of(label: &str) -> anyhow::Result<Option<bool>> {
    match label {
        "thinking=on" => Ok(Some(true)),
        "thinking=off" => Ok(Some(false)),
        "default" => Ok(None),
        other => Err(bad(format!(
            "cannot resume: the manifest records an unknown variant `{other}`"
        ))),
    }
}

/// A target as the command line names it: its URL when it was given as one.
fn shown(t: &TargetInfo, adhoc: bool) -> String {
    if adhoc {
        t.base_url.clone()
    } else {
        t.name.clone()
    }
}

/// Suite files under `paths`, canonical, for comparing `--suite` with the recorded files.
fn suite_files(paths: &[PathBuf]) -> anyhow::Result<BTreeSet<PathBuf>> {
    let files = toolgate_core::load::discover(paths).map_err(|d| bad(d.to_string()))?;
    Ok(files
        .into_iter()
        .map(|f| std::fs::canonicalize(&f).unwrap_or(f))
        .collect())
}

pub(crate) fn request(a: &RunArgs, dir: &Path) -> anyhow::Result<RunRequest> {
    let m: RunManifest = runfolder::read_manifest(dir).map_err(|e| {
        bad(format!(
            "cannot resume {}: no readable manifest.json ({e:#})",
            dir.display()
        ))
    })?;
    let settings = m.settings.clone().unwrap_or_default();

    if let Some(out) = &a.out {
        if out != dir {
            return Err(bad(format!(
                "--out {}: a resumed run stays in its folder {}",
                out.display(),
                dir.display()
            )));
        }
    }

    let (config_file, config) = targets(a, dir, &m, &settings)?;
    let suites = suites(a, dir, &m)?;
    let (rec_prompts, prompt_files, prompts_dir) = prompts(a, &m, &settings, &suites)?;
    let Planned {
        thinking,
        tags,
        shard,
        stream,
    } = planned(a, &m)?;
    let (concurrency, warmup) = run_settings(a, dir, &m, &settings)?;

    Ok(RunRequest {
        targets: m.targets.iter().map(|t| t.name.clone()).collect(),
        suites,
        prompts_dir,
        prompts: rec_prompts,
        prompt_files,
        no_model_check: a.no_model_check,
        thinking,
        repeats: m.repeats,
        warmup,
        tags,
        concurrency,
        out: None,
        resume: Some(dir.to_path_buf()),
        force: a.force,
        shard,
        no_stream: !stream,
        sequential: settings.sequential || a.sequential,
        quiet: a.quiet,
        stable_output: a.stable_output,
        // The date the prompts were rendered with, so resumed trials ask the same.
        today: if settings.today.is_empty() {
            crate::today()
        } else {
            settings.today.clone()
        },
        config_file,
        config,
    })
}

/// The configuration and the run's targets. A target the configuration defines is taken
/// from it (a restarted server may listen elsewhere; the plan hash still refuses any other
/// change); a target it does not define (a `--target URL`) is rebuilt from the manifest.
fn targets(
    a: &RunArgs,
    dir: &Path,
    m: &RunManifest,
    settings: &RunSettings,
) -> anyhow::Result<(Option<PathBuf>, Config)> {
    let config_file = a
        .config
        .clone()
        .or_else(|| settings.config_file.as_ref().map(PathBuf::from));
    if let Some(f) = config_file.as_ref().filter(|f| !f.exists()) {
        return Err(bad(format!(
            "cannot resume {}: the run was made with --config {}, which is not here (give --config FILE)",
            dir.display(),
            f.display()
        )));
    }
    let mut config = load_config(config_file.as_deref())?;
    let adhoc = rebuild_targets(dir, m, &mut config)?;
    check_target_flags(a, m, &adhoc, &mut config)?;
    Ok((config_file, config))
}

/// Insert the targets the configuration does not define from the manifest; per target,
/// whether it was given as a URL.
fn rebuild_targets(dir: &Path, m: &RunManifest, config: &mut Config) -> anyhow::Result<Vec<bool>> {
    let mut adhoc = Vec::new();
    for t in &m.targets {
        if config.targets.contains_key(&t.name) {
            adhoc.push(false);
            continue;
        }
        let rec = m.config["targets"].get(&t.name).cloned().ok_or_else(|| {
            bad(format!(
                "cannot resume {}: target `{}` is neither in the configuration nor recorded in the manifest (give --config FILE)",
                dir.display(),
                t.name
            ))
        })?;
        let mut tc: TargetConfig = serde_json::from_value(rec).map_err(|e| {
            bad(format!(
                "cannot resume {}: target `{}` in the manifest: {e}",
                dir.display(),
                t.name
            ))
        })?;
        let is_url = tc.builtin.is_none() && tc.start.is_none();
        if is_url {
            let mut urls = t.base_url.split(',').map(String::from);
            tc.base_url = urls.next();
            tc.base_urls = urls.collect();
        }
        adhoc.push(is_url);
        config.targets.insert(t.name.clone(), tc);
    }
    Ok(adhoc)
}

/// The targets as the run was made with them, as the command line names them.
fn made_with(m: &RunManifest, adhoc: &[bool]) -> String {
    m.targets
        .iter()
        .zip(adhoc)
        .map(|(t, &u)| shown(t, u))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `--target`, `--model`, `--profile`, `--api-key-env` must agree with the manifest; a URL
/// target may be given a new URL.
fn check_target_flags(
    a: &RunArgs,
    m: &RunManifest,
    adhoc: &[bool],
    config: &mut Config,
) -> anyhow::Result<()> {
    if !a.targets.is_empty() {
        let given = a.targets.join(", ");
        if a.targets.len() != m.targets.len() {
            return Err(disagree("--target", made_with(m, adhoc), given));
        }
        for ((g, t), &u) in a.targets.iter().zip(&m.targets).zip(adhoc) {
            let is_url = g.starts_with("http://") || g.starts_with("https://");
            if is_url != u || (!is_url && *g != t.name) {
                return Err(disagree("--target", made_with(m, adhoc), &given));
            }
            if is_url && *g != t.base_url {
                // The same URL target whose server now listens elsewhere: what the trials
                // ask does not depend on where it listens.
                toolgate_run::config::check_url(g).map_err(bad)?;
                let tc = config.targets.get_mut(&t.name).expect("inserted above");
                tc.base_url = Some(g.clone());
                tc.base_urls.clear();
                if !a.quiet {
                    eprintln!(
                        "note: --target: the run was made with {}; the rest is sent to {g}",
                        t.base_url
                    );
                }
            }
        }
    }
    let url_targets: Vec<&TargetInfo> = m
        .targets
        .iter()
        .zip(adhoc)
        .filter(|(_, &u)| u)
        .map(|(t, _)| t)
        .collect();
    let url_field =
        |flag: &str, given: &Option<String>, field: fn(&TargetInfo) -> Option<String>| {
            let Some(g) = given else { return Ok(()) };
            if url_targets.is_empty() {
                return Err(bad(format!(
                    "{flag} {g}: the run was made with no URL target (targets: {})",
                    made_with(m, adhoc)
                )));
            }
            for t in &url_targets {
                let r = field(t).unwrap_or_else(|| "none".into());
                if r != *g {
                    return Err(disagree(flag, r, g));
                }
            }
            Ok(())
        };
    url_field("--model", &a.model, |t| Some(t.model.clone()))?;
    let profile = a.profile.map(|p| p.as_str().to_string());
    url_field("--profile", &profile, |t| Some(t.profile.clone()))?;
    let key_envs: Vec<Option<String>> = url_targets
        .iter()
        .map(|t| config.targets[&t.name].api_key_env.clone())
        .collect();
    if let Some(g) = &a.api_key_env {
        for k in &key_envs {
            if k.as_ref() != Some(g) {
                return Err(disagree("--api-key-env", k.as_deref().unwrap_or("none"), g));
            }
        }
    }

    Ok(())
}

/// The recorded suite files; `--suite` must name the same files.
fn suites(a: &RunArgs, dir: &Path, m: &RunManifest) -> anyhow::Result<Vec<PathBuf>> {
    let suites: Vec<PathBuf> = m.suites.iter().map(|s| PathBuf::from(&s.path)).collect();
    let missing: Vec<String> = suites
        .iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        return Err(bad(format!(
            "cannot resume {}: the run's suite files are not here: {} (resume from the folder the run started in)",
            dir.display(),
            missing.join(", ")
        )));
    }
    if !a.suites.is_empty() && suite_files(&a.suites)? != suite_files(&suites)? {
        return Err(disagree(
            "--suite",
            m.suites
                .iter()
                .map(|s| s.path.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            a.suites
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }

    Ok(suites)
}

/// The recorded prompt names, template files and prompts folder; `--prompt` and `--prompts`
/// must agree.
fn prompts(
    a: &RunArgs,
    m: &RunManifest,
    settings: &RunSettings,
    suites: &[PathBuf],
) -> anyhow::Result<(Vec<String>, Vec<PathBuf>, Option<PathBuf>)> {
    let recorded = m.settings.is_some();
    let rec_prompts = strings(&m.config["prompts"]);
    let mut prompt_files: Vec<PathBuf> = settings.prompt_files.iter().map(PathBuf::from).collect();
    if !a.prompts.is_empty() {
        let (names, files) = prompt_args(&a.prompts)?;
        if names != rec_prompts {
            let r = if rec_prompts.is_empty() {
                "each suite's own prompt".to_string()
            } else {
                rec_prompts.join(", ")
            };
            return Err(disagree("--prompt", r, a.prompts.join(", ")));
        }
        if !recorded {
            prompt_files = files;
        }
    }
    let prompts_dir = match (&settings.prompts_dir, &a.prompts_dir) {
        (Some(r), Some(g)) if std::fs::canonicalize(r).ok() != std::fs::canonicalize(g).ok() => {
            return Err(disagree("--prompts", r, g.display()));
        }
        (Some(r), _) => Some(PathBuf::from(r)),
        (None, Some(g)) => Some(g.clone()),
        (None, None) => toolgate_core::validate::find_prompts_dir(suites).or_else(|| {
            Path::new("prompts")
                .is_dir()
                .then(|| PathBuf::from("prompts"))
        }),
    };

    Ok((rec_prompts, prompt_files, prompts_dir))
}

/// What the manifest plans: variants, tags, shard, streaming.
struct Planned {
    thinking: Vec<Option<bool>>,
    tags: Vec<String>,
    shard: Option<(u64, u64)>,
    stream: bool,
}

/// The recorded plan; `--thinking`, `--repeat`, `--tag`, `--shard`, `--no-stream` must agree.
fn planned(a: &RunArgs, m: &RunManifest) -> anyhow::Result<Planned> {
    let thinking = m
        .variants
        .iter()
        .map(|v| thinking_of(v))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(g) = a.thinking {
        let want: Vec<String> = g.variants().into_iter().map(plan::variant_label).collect();
        if want != m.variants {
            return Err(disagree("--thinking", thinking_flag(&m.variants), g));
        }
    }
    if let Some(g) = a.repeat.filter(|&r| r != m.repeats) {
        return Err(disagree("--repeat", m.repeats, g));
    }
    let tags = strings(&m.config["tags"]);
    if !a.tags.is_empty() && a.tags != tags {
        let r = if tags.is_empty() {
            "no --tag".to_string()
        } else {
            tags.join(", ")
        };
        return Err(disagree("--tag", r, a.tags.join(", ")));
    }
    let shard = m
        .shard
        .as_deref()
        .map(plan::parse_shard)
        .transpose()
        .map_err(|e| bad(format!("cannot resume: the manifest's shard: {e}")))?;
    if let Some(g) = a.shard {
        if shard != Some((g.0, g.1)) {
            return Err(disagree(
                "--shard",
                m.shard.as_deref().unwrap_or("no --shard"),
                g,
            ));
        }
    }
    let stream = m.config["stream"].as_bool().unwrap_or(true);
    if a.no_stream && stream {
        return Err(bad(
            "--no-stream: the run was made with streaming requests (resume without --no-stream)",
        ));
    }
    Ok(Planned {
        thinking,
        tags,
        shard,
        stream,
    })
}

/// Concurrency and warmup. Settings are recorded since this version; an older folder takes
/// them from the flags.
fn run_settings(
    a: &RunArgs,
    dir: &Path,
    m: &RunManifest,
    settings: &RunSettings,
) -> anyhow::Result<(Option<usize>, u32)> {
    let recorded = m.settings.is_some();
    let concurrency = match (recorded, a.concurrency) {
        (true, Some(g)) if settings.concurrency != Some(g) => {
            let r = settings
                .concurrency
                .map_or("no --concurrency".to_string(), |c| c.to_string());
            return Err(disagree("--concurrency", r, g));
        }
        (true, _) => settings.concurrency,
        (false, g) => g,
    };
    if recorded && a.sequential && !settings.sequential {
        return Err(bad(
            "--sequential: the run was made with its targets interleaved (resume without --sequential)",
        ));
    }
    let warmup = m.config["warmup"]
        .as_u64()
        .ok_or_else(|| {
            anyhow!(
                "cannot resume {}: the manifest records no warmup",
                dir.display()
            )
        })
        .map_err(|e| bad(e.to_string()))? as u32;

    Ok((concurrency, warmup))
}
