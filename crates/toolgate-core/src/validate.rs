//! `toolgate validate`: every check that needs no model — suites, tools files, schemas,
//! prompts — with all problems reported in one pass.

use crate::diag::{Diagnostic, Diagnostics};
use crate::load::{foreign_tool_mentions, load_all, LoadContext};
use crate::model::Suite;
use crate::prompt::Prompts;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub struct Validation {
    pub suites: Vec<Suite>,
    /// The prompt templates, when a prompts folder was given.
    pub prompts: Option<Prompts>,
    pub diagnostics: Diagnostics,
    pub files_checked: usize,
}

impl Validation {
    pub fn cases(&self) -> usize {
        self.suites.iter().map(|s| s.cases.len()).sum()
    }
}

/// Find the `prompts/` folder for the given paths: walk up from the first path.
pub fn find_prompts_dir(paths: &[PathBuf]) -> Option<PathBuf> {
    let start = paths.first()?;
    let start = std::fs::canonicalize(start).ok()?;
    let mut dir: Option<&Path> = Some(start.as_path());
    while let Some(d) = dir {
        let p = d.join("prompts");
        if p.is_dir() {
            return Some(p);
        }
        dir = d.parent();
    }
    None
}

/// Load and check everything under `paths`.
pub fn validate(paths: &[PathBuf], prompts_dir: Option<&Path>, today: &str) -> Validation {
    let mut diags = Diagnostics::default();
    let prompts = prompts_dir.map(|d| {
        let (p, ds) = Prompts::load(d);
        for d in ds {
            diags.push(d);
        }
        p
    });
    let ctx = LoadContext {
        prompts: prompts.as_ref(),
        today: today.to_string(),
    };
    let (suites, load_diags) = load_all(paths, &ctx);
    diags.extend(load_diags);

    // Prompts must not name tools the suite does not offer.
    if let Some(prompts) = &prompts {
        let known: BTreeSet<String> = suites
            .iter()
            .flat_map(|s| s.tools.tools.iter().map(|t| t.name.clone()))
            .collect();
        for s in &suites {
            let Some(p) = &s.prompt else { continue };
            let Some(src) = prompts.source(p) else {
                continue;
            };
            let foreign = foreign_tool_mentions(src, &s.tools, &known);
            if !foreign.is_empty() {
                diags.push(
                    Diagnostic::whole_file(
                        &prompts.path_of(p),
                        format!(
                            "prompt `{p}` names tool(s) {} that suite `{}` does not offer",
                            foreign.join(", "),
                            s.name
                        ),
                    )
                    .expected("tool names taken from the `tools` variable"),
                );
            }
        }
    }
    let files_checked = crate::load::discover(paths).map(|f| f.len()).unwrap_or(0);
    Validation {
        suites,
        prompts,
        diagnostics: diags,
        files_checked,
    }
}
