//! toolgate-core: the data model (cases, expectations, tools, trials, recorded responses,
//! verdicts) and the loaders that build it from files, with located diagnostics.
//!
//! Invariant: no network, no async, no clock. Everything here is a pure function of files
//! and values, so graders and reports built on it are deterministic.

// A located diagnostic is the error of every loader; it is large by design (file, span,
// source excerpt) and returned only on the cold path.
#![allow(clippy::result_large_err)]

pub mod diag;
pub mod load;
pub mod model;
pub mod paths;
pub mod prompt;
pub mod record;
pub mod redact;
pub mod requests;
pub mod runfolder;
pub mod spec;
pub mod sym;
pub mod text;
pub mod tools;
pub mod validate;

pub use diag::{Diagnostic, Diagnostics};
pub use model::*;
pub use record::*;
pub use sym::Sym;
