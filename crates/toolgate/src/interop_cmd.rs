//! `toolgate import bfcl` and `toolgate merge`: CLI glue over `toolgate-import` and
//! `toolgate_run::merge`.

use crate::cli::{ImportCommand, MergeArgs};
use crate::error::bad;
use crate::exit;

pub fn import(cmd: ImportCommand) -> anyhow::Result<u8> {
    match cmd {
        ImportCommand::Bfcl { dir, category, out } => {
            let imp = toolgate_import::import(&dir, &category)
                .map_err(|e| bad(format!("import bfcl: {e:#}")))?;
            let n = toolgate_import::write(&imp, &out)?;
            for w in &imp.warnings {
                eprintln!("note: {w}");
            }
            println!(
                "{n} BFCL `{category}` entries → {} ({} note(s) about the data); run them with \
                 `toolgate run --suite {}`",
                out.display(),
                imp.warnings.len(),
                out.display()
            );
            Ok(exit::OK)
        }
    }
}

/// Exit 0 when the merged run is complete, 3 when a shard is missing or incomplete.
pub fn merge(a: MergeArgs) -> anyhow::Result<u8> {
    let m = toolgate_run::merge::merge(&a.runs, &a.out)?;
    crate::history_cmd::note_folder(&m.dir);
    println!(
        "merged {} shard(s) ({}) → {}: {} trial(s){}",
        m.shards.len(),
        m.shards.join(", "),
        m.dir.display(),
        m.trials,
        if m.complete { "" } else { ", INCOMPLETE" }
    );
    if !m.missing_shards.is_empty() {
        eprintln!(
            "note: missing shard(s): {}",
            m.missing_shards
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!(
        "{}",
        m.dir.join(toolgate_core::runfolder::REPORT_MD).display()
    );
    Ok(exit::of_completeness(m.complete))
}
