//! `toolgate history`, the index updates after `run`/`grade`/`merge`/`accept`, and the run
//! that `compare --last` picks: CLI glue over `toolgate-history`.

use crate::cli::HistoryArgs;
use crate::error::bad;
use crate::exit;
use anyhow::Context;
use std::path::{Path, PathBuf};
use toolgate_history::{Filters, Index, INDEX_PATH};

/// The roots every `history` scans, before `--root` adds more.
fn default_roots() -> Vec<PathBuf> {
    vec![
        PathBuf::from("runs"),
        PathBuf::from(crate::baseline::REPORTS_DIR),
    ]
}

/// The index, opened and brought up to date with `roots`. An index that fails mid-way (a
/// torn file the header check missed) is deleted and rebuilt once, with a note.
fn refreshed(roots: &[PathBuf], reindex: bool) -> anyhow::Result<Index> {
    let path = Path::new(INDEX_PATH);
    let attempt = |clear: bool| -> Result<Index, toolgate_history::Error> {
        let mut ix = Index::open(path)?;
        for n in &ix.notes {
            eprintln!("{n}");
        }
        if clear {
            ix.clear()?;
        }
        ix.refresh(roots)?;
        Ok(ix)
    };
    match attempt(reindex) {
        Ok(ix) => Ok(ix),
        Err(e) => {
            eprintln!(
                "note: {} failed ({e}); rebuilt from the run folders",
                path.display()
            );
            for suffix in ["", "-journal", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{INDEX_PATH}{suffix}"));
            }
            attempt(true).map_err(|e| anyhow::anyhow!("{e}"))
        }
    }
}

pub fn history(a: HistoryArgs) -> anyhow::Result<u8> {
    if let Some(s) = &a.since {
        s.parse::<jiff::civil::Date>()
            .map_err(|e| bad(format!("--since {s}: expected a date YYYY-MM-DD ({e})")))?;
    }
    if a.limit == Some(0) {
        return Err(bad("--limit: expected at least 1"));
    }
    let mut roots = default_roots();
    roots.extend(a.roots.iter().cloned());
    let ix = refreshed(&roots, a.reindex)?;
    let filters = Filters {
        target: a.target,
        model: a.model,
        suite: a.suite,
        prompt: a.prompt,
        variant: a.variant,
        since: a.since,
        limit: a.limit,
        roots,
    };
    let rows = ix.history(&filters).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(out) = &a.html {
        let page = toolgate_history::html::render_html(&rows, out);
        std::fs::write(out, page).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("wrote {} ({} row(s))", out.display(), rows.len());
    } else if a.json {
        print!("{}", toolgate_history::render::render_json(&rows));
    } else if a.csv {
        print!("{}", toolgate_history::render::render_csv(&rows));
    } else {
        print!("{}", toolgate_history::render::render_text(&rows));
    }
    Ok(exit::OK)
}

/// After a command wrote `dir`: store it in the index, if there is one (a missing index is
/// built by the next `history` anyway). Never fails the command: a problem is a warning.
pub fn note_folder(dir: &Path) {
    if !Path::new(INDEX_PATH).is_file() {
        return;
    }
    let r = Index::open(Path::new(INDEX_PATH)).and_then(|mut ix| {
        for n in &ix.notes {
            eprintln!("{n}");
        }
        ix.note_folder(dir)
    });
    if let Err(e) = r {
        eprintln!(
            "warning: could not update {INDEX_PATH} ({e}); `toolgate history` will re-read {}",
            dir.display()
        );
    }
}

/// `compare --last RUN`: the previous indexed run (by start time) of the same targets and
/// suites.
pub fn previous_run(run: &Path) -> anyhow::Result<PathBuf> {
    let mut roots = default_roots();
    // RUN may live outside the default roots: index its siblings too.
    if let Some(parent) = run.parent().filter(|p| !p.as_os_str().is_empty()) {
        roots.push(parent.to_path_buf());
    }
    let mut ix = refreshed(&roots, false)?;
    ix.note_folder(run).map_err(|e| anyhow::anyhow!("{e}"))?;
    let me = toolgate_history::norm(run);
    match ix
        .previous_run(&me)
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        Some(p) => Ok(PathBuf::from(p)),
        None => Err(bad(format!(
            "compare --last {}: no earlier indexed run with the same targets and suites (runs/, reports/ and {} are indexed)",
            run.display(),
            run.parent().map(|p| p.display().to_string()).unwrap_or_default()
        ))),
    }
}
