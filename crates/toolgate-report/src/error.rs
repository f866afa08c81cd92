//! Errors of the report crate. Reading a run is all that can fail here, so the error is the
//! run folder's own (core's `runfolder`): every message names the file (and line and column
//! for a record that does not parse), so the CLI prints it as is and exits 2.

pub type ReportError = toolgate_core::runfolder::FolderError;
