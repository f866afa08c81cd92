//! The runner's side of the run folder: the [`Recorder`] that appends `responses.jsonl` while
//! trials run, the compaction before a resume, run ids. The format (file names, manifest,
//! the reader and its torn-line rule, the atomic writer) is [`toolgate_core::runfolder`].

use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use toolgate_core::ResponseRecord;

// The format itself (names, manifest, reader, atomic writer) is core's; re-exported here so
// the runner's callers keep one import.
pub use toolgate_core::runfolder::{
    read_jsonl, read_manifest, read_responses, write_jsonl_atomic, write_manifest, AtomicFile,
    FolderError, JsonlRead, GRADES, MANIFEST, REQUESTS, RESPONSES,
};

/// Appends one JSON line per record and flushes it before returning.
pub struct Recorder {
    file: File,
    path: PathBuf,
    /// Bytes of whole lines in the file: where a failed write is cut back to.
    len: u64,
    pub written: u64,
    /// Secrets replaced in every line before it is written.
    redactor: Option<std::sync::Arc<toolgate_core::redact::Redactor>>,
}

impl Recorder {
    pub fn open(path: &Path) -> io::Result<Recorder> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Recorder {
            len: file.metadata()?.len(),
            file,
            path: path.to_path_buf(),
            written: 0,
            redactor: None,
        })
    }

    /// Redact `r`'s secrets from every line appended from now on.
    pub fn with_redactor(mut self, r: std::sync::Arc<toolgate_core::redact::Redactor>) -> Self {
        self.redactor = (!r.is_empty()).then_some(r);
        self
    }

    pub fn append<T: Serialize>(&mut self, rec: &T) -> io::Result<()> {
        let mut line = serde_json::to_vec(rec)?;
        if let Some(r) = &self.redactor {
            line = r.redact_json(line);
        }
        line.push(b'\n');
        // One write call per line: a kill leaves at most one torn line at the end.
        if let Err(e) = self.file.write_all(&line).and_then(|()| self.file.flush()) {
            // A full disk or a size limit may have taken part of the line: cut it back so
            // the file ends on a whole record (best effort; readers drop a torn tail anyway).
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += line.len() as u64;
        self.written += 1;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_all()
    }
}

/// Before resuming: drop a torn tail and the `error` records (they will be re-sent), so that
/// every trial ends up in the file exactly once. Rewritten atomically.
pub fn compact_for_resume(dir: &Path) -> io::Result<(Vec<ResponseRecord>, usize, bool)> {
    let path = dir.join(RESPONSES);
    let read = read_responses(dir)?;
    let torn = read.torn_tail.is_some();
    let (keep, dropped): (Vec<_>, Vec<_>) =
        read.records.into_iter().partition(|r| r.error.is_none());
    // Keep only the first record of a trial should a file ever hold two.
    let mut seen = std::collections::BTreeSet::new();
    let keep: Vec<ResponseRecord> = keep
        .into_iter()
        .filter(|r| seen.insert((r.key.clone(), r.warmup)))
        .collect();
    if torn || !dropped.is_empty() {
        write_jsonl_atomic(&path, &keep)?;
    }
    Ok((keep, dropped.len(), torn))
}

/// A fresh run id: `YYYYMMDD-HHMMSS-<4 hex>`.
pub fn new_run_id() -> String {
    let now = jiff::Zoned::now();
    let nanos = now.timestamp().subsec_nanosecond();
    format!(
        "{}-{:04x}",
        now.strftime("%Y%m%d-%H%M%S"),
        (nanos as u32 ^ std::process::id()) & 0xffff
    )
}

pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}

pub fn run_dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolgate_core::{RequestSummary, TrialKey};

    fn rec(case: &str, err: bool) -> ResponseRecord {
        ResponseRecord {
            key: TrialKey {
                target: "t".into(),
                suite: "s".into(),
                case: case.into(),
                prompt: "-".into(),
                variant: "thinking=off".into(),
                repeat: 0,
            },
            kind: "chat".into(),
            category: None,
            request: RequestSummary::default(),
            turns: vec![],
            error: err.then(|| toolgate_core::InfraError {
                kind: toolgate_core::ErrorKind::Connect,
                message: "refused".into(),
                status: None,
                body: None,
                turn: 0,
            }),
            retries: vec![],
            started_at: String::new(),
            warmup: false,
            input_hash: None,
            expect_hash: None,
        }
    }

    #[test]
    fn torn_tail_is_dropped_and_errors_are_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Recorder::open(&dir.path().join(RESPONSES)).unwrap();
        r.append(&rec("a", false)).unwrap();
        r.append(&rec("b", true)).unwrap();
        drop(r);
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(RESPONSES))
            .unwrap();
        f.write_all(b"{\"key\":{\"tar").unwrap();
        drop(f);
        let read = read_responses(dir.path()).unwrap();
        assert_eq!(read.records.len(), 2);
        assert_eq!(read.torn_tail, Some(3));
        let (keep, dropped, torn) = compact_for_resume(dir.path()).unwrap();
        assert_eq!((keep.len(), dropped, torn), (1, 1, true));
        let again = read_responses(dir.path()).unwrap();
        assert_eq!(again.records.len(), 1);
        assert!(again.torn_tail.is_none());
    }

    #[test]
    fn a_temp_file_left_by_a_crash_does_not_leak_into_the_compacted_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("responses.jsonl.tmp"), "stale garbage\n").unwrap();
        let mut r = Recorder::open(&dir.path().join(RESPONSES)).unwrap();
        r.append(&rec("a", false)).unwrap();
        r.append(&rec("b", true)).unwrap();
        drop(r);
        let (keep, dropped, _) = compact_for_resume(dir.path()).unwrap();
        assert_eq!((keep.len(), dropped), (1, 1));
        let again = read_responses(dir.path()).unwrap();
        assert_eq!(again.records.len(), 1);
        assert!(!dir.path().join("responses.jsonl.tmp").exists());
    }

    #[test]
    fn a_bad_middle_line_is_an_error_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(RESPONSES), "{}\nnot json\n").unwrap();
        let e = read_responses(dir.path()).err().unwrap();
        assert!(e.to_string().contains(":1:"), "{e}");
    }
}
