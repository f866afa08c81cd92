//! Loading a run folder (DESIGN §5) into memory.

use crate::error::ReportError;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use toolgate_core::record::{GradeRecord, ResponseRecord, RunManifest};

/// Everything a report needs from one run folder.
#[derive(Debug, Clone, PartialEq)]
pub struct RunData {
    pub dir: PathBuf,
    pub manifest: RunManifest,
    pub responses: Vec<ResponseRecord>,
    pub grades: Vec<GradeRecord>,
    /// Things a reader should know about the files themselves (a torn last line, a missing
    /// grades file). Shown in every report's run facts.
    pub notes: Vec<String>,
}

impl RunData {
    /// Reads `manifest.json`, `responses.jsonl` and `grades.jsonl` from `dir`.
    ///
    /// A torn last JSONL line (the run was killed mid-write) is skipped and noted; any other
    /// unparsable line is an error naming `file:line:column`. A missing JSONL file reads as
    /// empty and is noted, so a run that died before its first trial still gets a report.
    pub fn load(dir: &Path) -> Result<RunData, ReportError> {
        let manifest_path = dir.join("manifest.json");
        if !manifest_path.is_file() {
            return Err(ReportError::NotARun {
                path: dir.to_path_buf(),
            });
        }
        let text = read(&manifest_path)?;
        let manifest: RunManifest =
            serde_json::from_str(&text).map_err(|e| ReportError::Parse {
                path: manifest_path.clone(),
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            })?;
        let mut notes = Vec::new();
        let responses = read_jsonl_opt(&dir.join("responses.jsonl"), &mut notes)?;
        let grades = read_jsonl_opt(&dir.join("grades.jsonl"), &mut notes)?;
        Ok(RunData {
            dir: dir.to_path_buf(),
            manifest,
            responses,
            grades,
            notes,
        })
    }

    /// True when the run did not finish every planned trial (DESIGN §7 exit code 3).
    pub fn is_incomplete(&self) -> bool {
        !self.manifest.complete
    }
}

fn read(path: &Path) -> Result<String, ReportError> {
    std::fs::read_to_string(path).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn read_jsonl_opt<T: DeserializeOwned>(
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<Vec<T>, ReportError> {
    if !path.exists() {
        notes.push(format!("{} is missing", file_name(path)));
        return Ok(Vec::new());
    }
    let text = read(path)?;
    let (items, torn) = parse_jsonl(&text, path)?;
    if let Some(line) = torn {
        notes.push(format!(
            "{}:{line}: torn last line skipped (the run was interrupted while writing it)",
            file_name(path)
        ));
    }
    Ok(items)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Parses JSONL text. Returns the records and, when the last line was torn, its 1-based
/// line number. A line counts as torn only when it is the last non-empty line and either
/// lacks its newline or ends early (EOF inside the value): the writer appends whole lines, so
/// only the final one can be cut short.
pub fn parse_jsonl<T: DeserializeOwned>(
    text: &str,
    path: &Path,
) -> Result<(Vec<T>, Option<usize>), ReportError> {
    let lines: Vec<&str> = text.split('\n').collect();
    let last_non_empty = lines.iter().rposition(|l| !l.trim().is_empty());
    let ends_with_newline = text.ends_with('\n');
    let mut out = Vec::new();
    let mut torn = None;
    for (i, line) in lines.iter().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<T>(line) {
            Ok(v) => out.push(v),
            Err(e) => {
                let is_last = Some(i) == last_non_empty;
                if is_last && (!ends_with_newline || e.is_eof()) {
                    torn = Some(i + 1);
                } else {
                    return Err(ReportError::Parse {
                        path: path.to_path_buf(),
                        line: i + 1,
                        column: e.column(),
                        message: e.to_string(),
                    });
                }
            }
        }
    }
    Ok((out, torn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn torn_last_line_is_skipped_and_reported() {
        let (v, torn) =
            parse_jsonl::<Value>("{\"a\":1}\n{\"a\":2}\n{\"a\":", Path::new("x.jsonl")).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(torn, Some(3));
    }

    #[test]
    fn bad_middle_line_names_file_and_line() {
        let err = parse_jsonl::<Value>("{\"a\":1}\nnope\n{\"a\":2}\n", Path::new("g.jsonl"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("g.jsonl:2:"), "{err}");
    }

    #[test]
    fn complete_bad_last_line_is_an_error_not_torn() {
        // Ends with a newline and is syntactically complete: a real error, not a torn write.
        let err = parse_jsonl::<Value>("{\"a\":1}\n{\"a\":1}}\n", Path::new("r.jsonl"));
        assert!(err.is_err());
    }

    #[test]
    fn blank_lines_and_crlf_are_tolerated() {
        let (v, torn) = parse_jsonl::<Value>("{\"a\":1}\r\n\n{\"a\":2}\n", Path::new("r")).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(torn, None);
    }
}
