//! The run folder (docs/run-folder.md). `responses.jsonl` is append-only and flushed per line: the
//! source of truth. A torn last line (toolgate killed mid-write) is detected and dropped.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use toolgate_core::{ResponseRecord, RunManifest};

pub const MANIFEST: &str = "manifest.json";
pub const RESPONSES: &str = "responses.jsonl";
pub const GRADES: &str = "grades.jsonl";

/// Write `value` as pretty JSON atomically (temp file + rename).
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = File::create(&tmp)?;
        serde_json::to_writer_pretty(&mut f, value)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    std::fs::rename(tmp, path)
}

/// A file replaced atomically: written to a fresh temp file (truncated, never appended to —
/// a temp left by a crash must not leak into the result), synced, then renamed over `path`.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    w: io::BufWriter<File>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        let ext = path
            .extension()
            .map(|e| format!("{}.tmp", e.to_string_lossy()))
            .unwrap_or_else(|| "tmp".into());
        let tmp = path.with_extension(ext);
        Ok(AtomicFile {
            path: path.to_path_buf(),
            w: io::BufWriter::with_capacity(1 << 16, File::create(&tmp)?),
            tmp,
        })
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.w.write_all(bytes)
    }

    /// Syncs and renames; until then readers see the old file.
    pub fn commit(self) -> io::Result<()> {
        self.w
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        std::fs::rename(self.tmp, self.path)
    }
}

/// Replace a JSONL file atomically with one line per record ([`AtomicFile`]).
pub fn write_jsonl_atomic<'a, T: Serialize + 'a>(
    path: &Path,
    records: impl IntoIterator<Item = &'a T>,
) -> io::Result<()> {
    let mut f = AtomicFile::create(path)?;
    let mut line = Vec::new();
    for r in records {
        line.clear();
        serde_json::to_writer(&mut line, r)?;
        line.push(b'\n');
        f.write_all(&line)?;
    }
    f.commit()
}

pub fn write_manifest(dir: &Path, m: &RunManifest) -> io::Result<()> {
    write_json_atomic(&dir.join(MANIFEST), m)
}

pub fn read_manifest(dir: &Path) -> io::Result<RunManifest> {
    let text = std::fs::read_to_string(dir.join(MANIFEST))?;
    serde_json::from_str(&text).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", dir.join(MANIFEST).display()),
        )
    })
}

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

/// What reading a JSONL file found.
pub struct JsonlRead<T> {
    pub records: Vec<T>,
    /// A last line without its newline that did not parse (a torn write), dropped.
    pub torn_tail: Option<usize>,
    /// Byte length of the good prefix (where a torn tail starts).
    pub good_len: u64,
}

/// Read a JSONL file. A torn last line is reported and dropped; any other bad line is an
/// error naming the file and line.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> io::Result<JsonlRead<T>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(JsonlRead {
                records: vec![],
                torn_tail: None,
                good_len: 0,
            })
        }
        Err(e) => return Err(e),
    };
    let mut r = BufReader::new(f);
    let mut records = Vec::new();
    let mut buf = Vec::new();
    let mut good_len = 0u64;
    let mut lineno = 0usize;
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        lineno += 1;
        let complete = buf.last() == Some(&b'\n');
        let body = if complete {
            &buf[..buf.len() - 1]
        } else {
            &buf[..]
        };
        if body.iter().all(u8::is_ascii_whitespace) {
            if complete {
                good_len += n as u64;
            }
            continue;
        }
        match serde_json::from_slice::<T>(body) {
            Ok(v) if complete => {
                records.push(v);
                good_len += n as u64;
            }
            Ok(_) | Err(_) if !complete => {
                return Ok(JsonlRead {
                    records,
                    torn_tail: Some(lineno),
                    good_len,
                });
            }
            Err(e) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}:{lineno}: not a valid record: {e}", path.display()),
                ))
            }
            Ok(_) => unreachable!(),
        }
    }
    Ok(JsonlRead {
        records,
        torn_tail: None,
        good_len,
    })
}

pub fn read_responses(dir: &Path) -> io::Result<JsonlRead<ResponseRecord>> {
    read_jsonl(&dir.join(RESPONSES))
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
