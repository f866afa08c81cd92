//! `toolgate agree REF CAND`: does the candidate deployment decide and call like the
//! reference one (docs/agree.md)? Reads both runs' responses.jsonl (no grades, no
//! expectations) and the tools files of the suites the runs name, for schema validity.

use crate::cli;
use crate::commands::print_out;
use crate::error::bad;
use crate::exit;
use std::path::{Path, PathBuf};
use toolgate_core::record::RunManifest;
use toolgate_report::agree::{self, Agreement, RunLabel, SuiteTools, Trial};
use toolgate_report::agree_view;

pub fn agree(a: cli::AgreeArgs) -> anyhow::Result<u8> {
    for (flag, v) in [
        ("--min-trigger-f1", a.min_trigger_f1),
        ("--min-schema-validity", a.min_schema_validity),
    ] {
        if v.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
            return Err(bad(format!("{flag}: expected a number from 0 to 1")));
        }
    }
    let (ref_label, ref_trials, mut notes) = load_side(&a.reference, "REF")?;
    let (cand_label, cand_trials, cand_notes) = load_side(&a.candidate, "CAND")?;
    notes.extend(cand_notes);
    let (tools, tool_notes) = suite_tools(&[&a.reference, &a.candidate]);
    notes.extend(tool_notes);
    let cand_dir = PathBuf::from(&cand_label.dir);
    let mut ag =
        agree::agree((ref_label, &ref_trials), (cand_label, &cand_trials), &tools).map_err(bad)?;
    ag.notes.extend(notes);
    for c in &ag.changed_input {
        eprintln!(
            "warning: {}: the case's input differs between the runs (input_hash): another question, not compared",
            toolgate_core::text::terminal(c)
        );
    }
    if a.json {
        print_out(&agree_view::render_agree_json(&ag));
    } else if a.markdown {
        print_out(&agree_view::render_agree_markdown(&ag));
    } else {
        print_out(&agree_view::render_agree_text(&ag));
    }
    write_views(&ag, &cand_dir);
    decide(&ag, &a)
}

/// Exit code: 3 when a run is incomplete (its figures miss trials), else 1 when a row is
/// under a threshold, else 0. Rows under a threshold are named either way.
fn decide(ag: &Agreement, a: &cli::AgreeArgs) -> anyhow::Result<u8> {
    let failures =
        agree::threshold_failures(ag, a.min_trigger_f1, a.min_schema_validity).map_err(bad)?;
    for f in &failures {
        eprintln!("UNDER THRESHOLD: {}", toolgate_core::text::terminal(f));
    }
    let incomplete: Vec<&str> = [(&ag.reference, "REF"), (&ag.candidate, "CAND")]
        .into_iter()
        .filter(|(s, _)| !s.complete)
        .map(|(_, l)| l)
        .collect();
    if !incomplete.is_empty() {
        eprintln!(
            "INCOMPLETE: the {} run is incomplete",
            incomplete.join(" and ")
        );
        return Ok(exit::INCOMPLETE);
    }
    Ok(if failures.is_empty() {
        exit::OK
    } else {
        exit::GATE_FAILED
    })
}

fn load_side(arg: &Path, role: &str) -> anyhow::Result<(RunLabel, Vec<Trial>, Vec<String>)> {
    let dir = crate::baseline::resolve_run_checked(arg)?;
    toolgate_run::ensure_run_dir(&dir)?;
    let m = toolgate_core::runfolder::read_manifest(&dir).map_err(|e| bad(e.to_string()))?;
    let (trials, notes) = agree::load_trials(&dir).map_err(|e| bad(e.to_string()))?;
    let label = RunLabel {
        dir: dir.display().to_string(),
        run_id: m.run_id,
        complete: m.complete,
    };
    Ok((
        label,
        trials,
        notes.into_iter().map(|n| format!("{role}: {n}")).collect(),
    ))
}

/// The tools of every suite the runs name (REF's file first), loaded from the paths in
/// their manifests, relative to the folder the runs started in. A suite that cannot be
/// loaded only loses its schema-validity figure, with a note saying why.
fn suite_tools(runs: &[&PathBuf]) -> (SuiteTools, Vec<String>) {
    let mut tools = SuiteTools::new();
    let mut notes = Vec::new();
    let manifests: Vec<RunManifest> = runs
        .iter()
        .filter_map(|d| crate::baseline::resolve_run_checked(d).ok())
        .filter_map(|d| toolgate_core::runfolder::read_manifest(&d).ok())
        .collect();
    for info in manifests.iter().flat_map(|m| &m.suites) {
        if tools.contains_key(&info.name) {
            continue;
        }
        let path = PathBuf::from(&info.path);
        if !path.exists() {
            continue; // said once per suite by the agreement's own note
        }
        match toolgate_run::load_inputs(std::slice::from_ref(&path), None, &crate::today()) {
            Ok((suites, _)) => {
                for s in suites.into_iter().filter(|s| s.name == info.name) {
                    if s.sha256 != info.sha256 {
                        notes.push(format!(
                            "suite `{}` changed since the run; schemas checked with the current tools file",
                            s.name
                        ));
                    }
                    tools.insert(s.name, s.tools);
                }
            }
            Err(e) => notes.push(format!("cannot load {}: {e}", path.display())),
        }
    }
    (tools, notes)
}

/// `agree.md` and `agree.json` go beside the candidate run; a folder that cannot be written
/// (a read-only checkout) is a warning only.
fn write_views(ag: &Agreement, dir: &Path) {
    match agree_view::write_agree_views(ag, dir) {
        Ok([md, json]) => {
            eprintln!("agree report: {}", md.display());
            eprintln!("agree data: {}", json.display());
        }
        Err(e) => eprintln!(
            "warning: cannot write {} and {} in {}: {e}",
            agree_view::AGREE_MD,
            agree_view::AGREE_JSON,
            dir.display()
        ),
    }
}
