//! Errors of the report crate. Every message names the file (and line, when there is one)
//! so the CLI can print it as is and exit 2.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line of a JSONL file (or manifest.json) that does not parse. `line` is 1-based.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: not a run folder (manifest.json missing)")]
    NotARun { path: PathBuf },
}

/// The run folder's own errors (core's reader) keep their message and variant.
impl From<toolgate_core::runfolder::FolderError> for ReportError {
    fn from(e: toolgate_core::runfolder::FolderError) -> ReportError {
        use toolgate_core::runfolder::FolderError as F;
        match e {
            F::Io { path, source } => ReportError::Io { path, source },
            F::Parse {
                path,
                line,
                column,
                message,
            } => ReportError::Parse {
                path,
                line,
                column,
                message,
            },
            F::NotARun { path } => ReportError::NotARun { path },
        }
    }
}
