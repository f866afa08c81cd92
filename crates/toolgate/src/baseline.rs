//! `toolgate accept RUN --as NAME`: a run becomes a reviewed, versioned baseline under
//! `reports/NAME/` (insta's accept workflow, applied to model runs), and baseline names are
//! accepted wherever a run folder is (`gate NAME CAND`, `compare NAME CAND`).

use crate::cli::AcceptArgs;
use crate::error::bad;
use crate::exit;
use anyhow::Context;
use std::path::{Path, PathBuf};
use toolgate_core::runfolder::{GRADES, MANIFEST, REQUESTS, RESPONSES};

/// Where baselines live unless `--reports DIR` says otherwise.
pub const REPORTS_DIR: &str = "reports";

/// The files a baseline keeps: the source of truth, its grades and the stored requests. The
/// reports are rendered anew with stable output, so a PR's diff shows only what the model did.
const KEPT: &[&str] = &[MANIFEST, RESPONSES, GRADES, REQUESTS, "requests"];

/// A baseline name is a folder name chosen by the user: one path component, no tricks.
pub fn check_name(name: &str) -> Result<(), String> {
    // The shared rule for names that become paths, with a shorter limit: a baseline name is
    // typed on command lines and shown in tables.
    if name.len() > 64 || !toolgate_core::paths::is_safe_file_stem(name) {
        return Err(format!(
            "baseline name `{}`: use 1–64 letters, digits, `.`, `_` or `-`, not starting with `.`",
            name.escape_debug()
        ));
    }
    Ok(())
}

/// A run argument: an existing folder as given, else a baseline name under `reports/`.
pub fn resolve_run(arg: &Path) -> PathBuf {
    if arg.is_dir() {
        return arg.to_path_buf();
    }
    match arg.to_str() {
        Some(name) if check_name(name).is_ok() => {
            let b = Path::new(REPORTS_DIR).join(name);
            if b.is_dir() {
                b
            } else {
                arg.to_path_buf()
            }
        }
        _ => arg.to_path_buf(),
    }
}

/// `resolve_run`, with an error that lists the baselines when a plain name matches nothing.
pub fn resolve_run_checked(arg: &Path) -> anyhow::Result<PathBuf> {
    let p = resolve_run(arg);
    let plain = arg.components().count() == 1 && !arg.exists();
    if plain && !p.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(REPORTS_DIR)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join(MANIFEST).is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let known = if names.is_empty() {
            format!("there are none under {REPORTS_DIR}/")
        } else {
            format!("baselines under {REPORTS_DIR}/: {}", names.join(", "))
        };
        return Err(bad(format!(
            "`{}` is neither a run folder nor a baseline ({known})",
            arg.display()
        )));
    }
    Ok(p)
}

pub fn accept(a: AcceptArgs) -> anyhow::Result<u8> {
    check_name(&a.name).map_err(bad)?;
    toolgate_run::ensure_run_dir(&a.run)?;
    let manifest = toolgate_run::runfolder::read_manifest(&a.run)
        .with_context(|| format!("reading {}/manifest.json", a.run.display()))?;
    if !a.run.join(GRADES).exists() {
        return Err(bad(format!(
            "{} has no grades.jsonl; run `toolgate grade {}` first",
            a.run.display(),
            a.run.display()
        )));
    }
    let data = crate::commands::load_run(&a.run)?;
    let errors = data
        .grades
        .iter()
        .filter(|g| g.verdict == toolgate_core::Verdict::Error)
        .count();
    if (!manifest.complete || errors > 0) && !a.allow_incomplete {
        let reasons = if manifest.incomplete_reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", manifest.incomplete_reasons.join("; "))
        };
        eprintln!(
            "refusing to accept {}: the run is {}{reasons}, with {errors} error trial(s); a baseline must be a complete run (--allow-incomplete overrides)",
            a.run.display(),
            if manifest.complete { "complete" } else { "incomplete" },
        );
        return Ok(exit::INCOMPLETE);
    }
    let root = a
        .reports
        .clone()
        .unwrap_or_else(|| PathBuf::from(REPORTS_DIR));
    let dest = root.join(&a.name);
    let old = if dest.exists() {
        if !a.force {
            return Err(bad(format!(
                "{} already exists; `--force` replaces it (and prints what changed)",
                dest.display()
            )));
        }
        Some(crate::commands::load_run(&dest).ok())
    } else {
        None
    };
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    // Build the new baseline beside the old one, then swap: an interrupted accept never
    // leaves a half-written baseline under the real name.
    let staging = root.join(format!(".{}.accepting", a.name));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    for name in KEPT {
        let from = a.run.join(name);
        if from.is_dir() {
            copy_dir(&from, &staging.join(name))?;
        } else if from.is_file() {
            std::fs::copy(&from, staging.join(name))
                .with_context(|| format!("copying {}", from.display()))?;
        }
    }
    toolgate_run::write_reports(
        &staging,
        true,
        false,
        Some(&[
            toolgate_report::Format::Markdown,
            toolgate_report::Format::Json,
        ]),
    )?;
    if dest.exists() {
        let trash = root.join(format!(".{}.replaced", a.name));
        let _ = std::fs::remove_dir_all(&trash);
        std::fs::rename(&dest, &trash)?;
        std::fs::rename(&staging, &dest)?;
        std::fs::remove_dir_all(&trash)?;
    } else {
        std::fs::rename(&staging, &dest)?;
    }
    let new = crate::commands::load_run(&dest)?;
    crate::history_cmd::note_folder(&dest);
    let (pass, graded) = accuracy(&new);
    println!(
        "accepted {} as {} ({pass}/{graded} passed, {} trial(s)); commit it to gate against it: toolgate gate {} RUN",
        a.run.display(),
        dest.display(),
        new.grades.len(),
        a.name
    );
    match old {
        Some(Some(old)) => {
            println!("\nchanged against the replaced baseline:");
            print_changes(&old, &new);
        }
        Some(None) => println!("(the replaced baseline could not be read; nothing to compare)"),
        None => {}
    }
    Ok(exit::OK)
}

fn accuracy(d: &toolgate_report::RunData) -> (usize, usize) {
    let graded = d
        .grades
        .iter()
        .filter(|g| !g.warmup && g.verdict != toolgate_core::Verdict::Error)
        .count();
    let pass = d
        .grades
        .iter()
        .filter(|g| !g.warmup && g.verdict == toolgate_core::Verdict::Pass)
        .count();
    (pass, graded)
}

/// Accuracy per suite, old → new, then the compare view's flipped cases.
fn print_changes(old: &toolgate_report::RunData, new: &toolgate_report::RunData) {
    use std::collections::BTreeMap;
    let per_suite = |d: &toolgate_report::RunData| {
        let mut m: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for g in d.grades.iter().filter(|g| !g.warmup) {
            let e = m.entry(g.key.suite.to_string()).or_default();
            if g.verdict != toolgate_core::Verdict::Error {
                e.1 += 1;
            }
            if g.verdict == toolgate_core::Verdict::Pass {
                e.0 += 1;
            }
        }
        m
    };
    let (a, b) = (per_suite(old), per_suite(new));
    let pct = |(p, n): (usize, usize)| {
        if n == 0 {
            "–".to_string()
        } else {
            format!("{:.1}% ({p}/{n})", 100.0 * p as f64 / n as f64)
        }
    };
    let mut suites: Vec<&String> = a.keys().chain(b.keys()).collect();
    suites.sort();
    suites.dedup();
    for s in suites {
        let (x, y) = (a.get(s).copied(), b.get(s).copied());
        println!(
            "  {:<24} {} → {}",
            s,
            x.map(pct).unwrap_or_else(|| "absent".into()),
            y.map(pct).unwrap_or_else(|| "absent".into())
        );
    }
    let c = toolgate_report::compare(old, new, &toolgate_report::CompareOptions::default());
    println!("\n{}", toolgate_report::render_compare_text(&c));
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let ty = e.file_type()?;
        // Symlinks are not followed: a run folder's content is files the run wrote.
        if ty.is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()))?;
        } else if ty.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_names_are_one_safe_path_component() {
        for ok in ["sim-strong", "qwen3_8b.v2", "A1"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "..",
            ".hidden",
            "a/b",
            "../x",
            "/abs",
            "a b",
            "x\n",
            &"a".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
