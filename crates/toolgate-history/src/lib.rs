//! toolgate-history: the run index behind `toolgate history` and `compare --last`.
//!
//! The index is a cache (`runs/index.sqlite`, SQLite via rusqlite's bundled build): the run
//! folders stay the source of truth. Each folder is stored as its facts plus one row per
//! target × suite × prompt × variant with the counts, the TTFT samples and the per-case
//! outcomes, so the delta between two runs can be tested for significance without reading
//! the folders again.
//!
//! Invariant: a folder that cannot be read is an entry with a reason, never an error or a
//! panic; an index that cannot be read is rebuilt with a note.

pub mod folder;
pub mod html;
pub mod index;
pub mod query;
pub mod render;

pub use index::{norm, Error, Index, SCHEMA_VERSION};
pub use query::{Delta, Filters, Row, ALPHA};

/// Where the index lives, relative to the working directory.
pub const INDEX_PATH: &str = "runs/index.sqlite";
