//! The index file: open (rebuilding a corrupt or old-schema one), scan the roots, re-read the
//! folders whose files changed, prune the ones that are gone, upsert one folder.

use crate::folder::{self, FolderEntry};
use rayon::prelude::*;
use rusqlite::{params, Connection};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use toolgate_core::runfolder::{GRADES, MANIFEST, RESPONSES};

/// Bumped whenever the tables change; an index with another version is rebuilt.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE folders(
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL UNIQUE,
  root TEXT NOT NULL,
  sig TEXT NOT NULL,
  run_id TEXT,
  started_at TEXT NOT NULL,
  complete INTEGER NOT NULL,
  reason TEXT NOT NULL,
  targets TEXT NOT NULL,
  suites TEXT NOT NULL,
  report_html INTEGER NOT NULL
);
CREATE TABLE slices(
  folder INTEGER NOT NULL,
  target TEXT NOT NULL,
  model TEXT NOT NULL,
  suite TEXT NOT NULL,
  prompt TEXT NOT NULL,
  variant TEXT NOT NULL,
  passed INTEGER NOT NULL,
  judged INTEGER NOT NULL,
  errors INTEGER NOT NULL,
  ttft BLOB NOT NULL,
  cases BLOB NOT NULL
);
CREATE INDEX slices_folder ON slices(folder);
";

#[derive(Debug)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error(format!("index: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// An open index. `notes` says what happened to the file on the way (rebuilt, and why).
pub struct Index {
    pub(crate) conn: Connection,
    pub path: PathBuf,
    pub notes: Vec<String>,
}

/// A root as the rows show it: `./runs/` and `runs` are the same root.
pub fn norm(p: &Path) -> String {
    let s = p.to_string_lossy();
    let mut s: &str = &s;
    while let Some(rest) = s.strip_prefix("./") {
        s = rest;
    }
    let t = s.trim_end_matches('/');
    if t.is_empty() && s.starts_with('/') {
        "/".into()
    } else if t.is_empty() {
        ".".into()
    } else {
        t.to_string()
    }
}

fn remove_db(path: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

impl Index {
    /// Opens (or creates) the index at `path`. A file that is not a SQLite database, or one
    /// with another schema version, is deleted and rebuilt with a note: it is a cache.
    pub fn open(path: &Path) -> Result<Index> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error(format!("{}: {e}", dir.display())))?;
        }
        let mut notes = Vec::new();
        let existed = path.exists();
        match Self::try_open(path) {
            Ok((conn, fresh)) => {
                let ix = Index {
                    conn,
                    path: path.to_path_buf(),
                    notes,
                };
                if let Some(v) = fresh {
                    if v != 0 || existed && ix.has_tables()? {
                        let note = format!(
                            "note: {} has schema version {v}, this toolgate writes {SCHEMA_VERSION}; rebuilt from the run folders",
                            path.display()
                        );
                        drop(ix);
                        remove_db(path);
                        return Self::create(path, vec![note]);
                    }
                    ix.init()?;
                }
                Ok(ix)
            }
            Err(e) => {
                notes.push(format!(
                    "note: {} is unreadable ({}); rebuilt from the run folders",
                    path.display(),
                    e.0.trim_start_matches("index: ")
                ));
                remove_db(path);
                Self::create(path, notes)
            }
        }
    }

    fn create(path: &Path, notes: Vec<String>) -> Result<Index> {
        let (conn, _) = Self::try_open(path)?;
        let ix = Index {
            conn,
            path: path.to_path_buf(),
            notes,
        };
        ix.init()?;
        Ok(ix)
    }

    /// The connection, and `Some(version)` when the schema must be (re)created.
    fn try_open(path: &Path) -> Result<(Connection, Option<i64>)> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // A cache: losing the last transaction on a power cut costs a re-read, not data.
        conn.execute_batch("PRAGMA synchronous = OFF;")?;
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        // Touch the schema so a file with a valid header but a torn body fails here.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })?;
        if v == SCHEMA_VERSION {
            conn.query_row("SELECT count(*) FROM folders", [], |r| r.get::<_, i64>(0))?;
            Ok((conn, None))
        } else {
            Ok((conn, Some(v)))
        }
    }

    fn has_tables(&self) -> Result<bool> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        Ok(n > 0)
    }

    fn init(&self) -> Result<()> {
        self.conn.execute_batch(&format!(
            "BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))?;
        Ok(())
    }

    /// Drops every row (for `--reindex`).
    pub fn clear(&mut self) -> Result<()> {
        self.conn
            .execute_batch("BEGIN; DELETE FROM slices; DELETE FROM folders; COMMIT;")?;
        Ok(())
    }

    /// Brings the index up to date with `roots`: new and changed folders are read (in
    /// parallel), deleted ones pruned. Returns how many folders were read.
    pub fn refresh(&mut self, roots: &[PathBuf]) -> Result<usize> {
        let found = scan(roots);
        let mut known: HashMap<String, (i64, String, String)> = HashMap::new();
        {
            let mut st = self
                .conn
                .prepare("SELECT id, path, sig, root FROM folders")?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(1)?,
                    (r.get(0)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?),
                ))
            })?;
            for row in rows {
                let (p, v) = row?;
                known.insert(p, v);
            }
        }
        let stale: Vec<&Found> = found
            .iter()
            .filter(|f| {
                known
                    .get(&f.path)
                    .is_none_or(|(_, sig, _)| *sig != folder::signature(&f.dir))
            })
            .collect();
        let entries: Vec<FolderEntry> = stale
            .par_iter()
            .map(|f| folder::read_folder(&f.dir, &f.path, &f.root))
            .collect();
        let scanned_roots: HashSet<String> = roots.iter().map(|r| norm(r)).collect();
        let seen: HashSet<&str> = found.iter().map(|f| f.path.as_str()).collect();
        let gone: Vec<i64> = known
            .iter()
            .filter(|(p, (_, _, root))| {
                !seen.contains(p.as_str())
                    && (scanned_roots.contains(root) || !Path::new(p.as_str()).is_dir())
            })
            .map(|(_, (id, _, _))| *id)
            .collect();
        if entries.is_empty() && gone.is_empty() {
            return Ok(0);
        }
        let tx = self.conn.transaction()?;
        for id in gone {
            delete(&tx, id)?;
        }
        for e in &entries {
            upsert(&tx, e)?;
        }
        tx.commit()?;
        Ok(entries.len())
    }

    /// Reads one folder and stores it (after `run`, `grade`, `merge`, `accept`).
    pub fn note_folder(&mut self, dir: &Path) -> Result<()> {
        let path = norm(dir);
        let root = dir.parent().map(norm).unwrap_or_else(|| ".".to_string());
        let e = folder::read_folder(dir, &path, &root);
        let tx = self.conn.transaction()?;
        upsert(&tx, &e)?;
        tx.commit()?;
        Ok(())
    }
}

fn delete(tx: &rusqlite::Transaction<'_>, id: i64) -> Result<()> {
    tx.execute("DELETE FROM slices WHERE folder = ?1", params![id])?;
    tx.execute("DELETE FROM folders WHERE id = ?1", params![id])?;
    Ok(())
}

fn upsert(tx: &rusqlite::Transaction<'_>, e: &FolderEntry) -> Result<()> {
    let old: Option<i64> = tx
        .query_row(
            "SELECT id FROM folders WHERE path = ?1",
            params![e.path],
            |r| r.get(0),
        )
        .ok();
    if let Some(id) = old {
        delete(tx, id)?;
    }
    let targets = serde_json::to_string(&e.targets).unwrap_or_default();
    let suites = serde_json::to_string(&e.suites).unwrap_or_default();
    tx.execute(
        "INSERT INTO folders(path, root, sig, run_id, started_at, complete, reason, targets, suites, report_html)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            e.path,
            e.root,
            e.sig,
            e.run_id,
            e.started_at,
            e.complete,
            e.reason,
            targets,
            suites,
            e.report_html
        ],
    )?;
    let id = tx.last_insert_rowid();
    let mut st = tx.prepare(
        "INSERT INTO slices(folder, target, model, suite, prompt, variant, passed, judged, errors, ttft, cases)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for s in &e.slices {
        st.execute(params![
            id,
            s.target,
            s.model,
            s.suite,
            s.prompt,
            s.variant,
            s.passed as i64,
            s.judged as i64,
            s.errors as i64,
            folder::encode_f32(&s.ttft),
            folder::encode_cases(&s.cases),
        ])?;
    }
    Ok(())
}

/// A folder found under a root.
struct Found {
    dir: PathBuf,
    path: String,
    root: String,
}

fn is_run_folder(d: &Path) -> bool {
    [MANIFEST, RESPONSES, GRADES]
        .iter()
        .any(|f| d.join(f).exists())
}

/// Every run folder under `roots`: each root's sub-folders (one level deeper for a folder that
/// only holds run folders, like a `swap` output), or the root itself when it is a run folder.
/// Hidden folders (an `accept` in progress) are skipped; any other folder is listed, so one
/// without a manifest shows up as incomplete instead of vanishing.
fn scan(roots: &[PathBuf]) -> Vec<Found> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for root in roots {
        let root_s = norm(root);
        if is_run_folder(root) {
            if seen.insert(root_s.clone()) {
                let parent = root.parent().map(norm).unwrap_or_else(|| ".".into());
                out.push(Found {
                    dir: root.clone(),
                    path: root_s.clone(),
                    root: parent,
                });
            }
            continue;
        }
        for child in subdirs(root) {
            let nested: Vec<PathBuf> = if is_run_folder(&child) {
                Vec::new()
            } else {
                subdirs(&child)
                    .into_iter()
                    .filter(|g| is_run_folder(g))
                    .collect()
            };
            let dirs = if nested.is_empty() {
                vec![child]
            } else {
                nested
            };
            for d in dirs {
                let path = norm(&d);
                if seen.insert(path.clone()) {
                    out.push(Found {
                        dir: d,
                        path,
                        root: root_s.clone(),
                    });
                }
            }
        }
    }
    out
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_normalise() {
        assert_eq!(norm(Path::new("./runs/")), "runs");
        assert_eq!(norm(Path::new("runs")), "runs");
        assert_eq!(norm(Path::new("/tmp/x/")), "/tmp/x");
        assert_eq!(norm(Path::new("./")), ".");
    }

    #[test]
    fn garbage_file_is_rebuilt_with_a_note() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("index.sqlite");
        std::fs::write(&p, vec![b'x'; 5000]).unwrap();
        let ix = Index::open(&p).unwrap();
        assert_eq!(ix.notes.len(), 1, "{:?}", ix.notes);
        assert!(ix.notes[0].contains("unreadable"), "{:?}", ix.notes);
        drop(ix);
        let ix = Index::open(&p).unwrap();
        assert!(ix.notes.is_empty(), "{:?}", ix.notes);
    }

    #[test]
    fn old_schema_is_rebuilt_with_a_note() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("index.sqlite");
        let c = Connection::open(&p).unwrap();
        c.execute_batch("CREATE TABLE runs(x); PRAGMA user_version = 0;")
            .unwrap();
        drop(c);
        let ix = Index::open(&p).unwrap();
        assert_eq!(ix.notes.len(), 1, "{:?}", ix.notes);
        assert!(ix.notes[0].contains("schema version 0"), "{:?}", ix.notes);
        let v: i64 = ix
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }
}
