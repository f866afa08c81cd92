//! The run folder (docs/run-folder.md): the one owner of its format.
//!
//! File names, `manifest.json` read/write, the JSONL line reader with its torn-line rule and
//! the atomic writer live here, so the runner (which writes a folder) and the reports (which
//! read one) cannot drift apart.
//!
//! Invariants:
//! - `responses.jsonl` is append-only, one whole JSON line per write: the source of truth.
//!   Only its last non-blank line can be cut short by a kill.
//! - The torn-line rule ([`Line::parse`]): the last non-blank line is *torn* when it lacks its
//!   newline or ends inside the value; it is skipped and reported. Any other line that does
//!   not parse is an error naming `file:line:column`. Blank lines and `\r\n` are tolerated.
//! - Files replaced as a whole (`manifest.json`, `grades.jsonl`, a compacted
//!   `responses.jsonl`) are written to a fresh temp file beside them, synced and renamed, so a
//!   reader sees the old file or the new one, never half of one.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::record::{ResponseRecord, RunManifest};

/// The run's identity and inputs (rewritten atomically).
pub const MANIFEST: &str = "manifest.json";
/// One line per trial, appended and flushed as trials finish: the source of truth.
pub const RESPONSES: &str = "responses.jsonl";
/// One verdict per response line, rewritten by every grading.
pub const GRADES: &str = "grades.jsonl";
/// Each distinct request body, once (`--record-requests`).
pub const REQUESTS: &str = crate::requests::REQUESTS;
/// The reports rendered from a graded run.
pub const REPORT_MD: &str = "report.md";
pub const REPORT_JSON: &str = "report.json";
pub const REPORT_HTML: &str = "report.html";
/// The log of the run's one managed server.
pub const SERVER_LOG: &str = "server.log";

/// The log of a managed server: [`SERVER_LOG`] when the run manages one server,
/// `server-<stem>.log` when it manages several (`stem` already made file-name safe).
pub fn server_log(stem: Option<&str>) -> String {
    match stem {
        Some(s) => format!("server-{s}.log"),
        None => SERVER_LOG.to_string(),
    }
}

/// An error reading or writing a run folder; every message names the file (and line and
/// column for a record that does not parse).
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A JSONL line (or `manifest.json`) that does not parse. `line` is 1-based.
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

impl FolderError {
    fn io(path: &Path, source: io::Error) -> FolderError {
        FolderError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A parse error at `line` of `path` (the column is serde's).
    pub fn parse(path: &Path, line: usize, e: &serde_json::Error) -> FolderError {
        FolderError::Parse {
            path: path.to_path_buf(),
            line,
            column: e.column(),
            message: e.to_string(),
        }
    }
}

impl From<FolderError> for io::Error {
    fn from(e: FolderError) -> io::Error {
        let kind = match &e {
            FolderError::Io { source, .. } => source.kind(),
            FolderError::NotARun { .. } => io::ErrorKind::NotFound,
            FolderError::Parse { .. } => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e.to_string())
    }
}

/// Reads and parses `dir/manifest.json`.
pub fn read_manifest(dir: &Path) -> Result<RunManifest, FolderError> {
    let path = dir.join(MANIFEST);
    if !path.is_file() {
        return Err(FolderError::NotARun {
            path: dir.to_path_buf(),
        });
    }
    let text = std::fs::read_to_string(&path).map_err(|e| FolderError::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| FolderError::Parse {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
        path,
    })
}

/// Writes `dir/manifest.json` atomically (pretty JSON, a final newline).
pub fn write_manifest(dir: &Path, m: &RunManifest) -> io::Result<()> {
    write_json_atomic(&dir.join(MANIFEST), m)
}

/// Write `bytes` atomically ([`AtomicFile`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes)?;
    f.commit()
}

/// Write `value` as pretty JSON atomically ([`AtomicFile`]).
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let mut f = AtomicFile::create(path)?;
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    f.write_all(&bytes)?;
    f.commit()
}

/// A file replaced atomically: written to a fresh temp file (`<name>.<ext>.tmp`, truncated,
/// never appended to — a temp left by a crash must not leak into the result), synced, then
/// renamed over `path`.
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

/// One non-blank line of a JSONL file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number.
    pub no: usize,
    /// Byte offset of the line's first byte in the file (for reading it again later).
    pub offset: u64,
    /// The line without its `\n` (and without a `\r` before it).
    pub bytes: Vec<u8>,
    /// The line ended with `\n`.
    pub complete: bool,
    /// No non-blank line follows.
    pub last: bool,
}

impl Line {
    /// True when a parse error on this line means a torn write rather than bad data.
    pub fn is_torn(&self, err: &serde_json::Error) -> bool {
        self.last && (!self.complete || err.is_eof())
    }

    /// The torn-line rule, applied once for every reader: the record; `None` for a torn
    /// tail (a last line without its newline, or one that ends inside the value); any other
    /// line that does not parse is an error naming `path:line:column`.
    pub fn parse<T: DeserializeOwned>(&self, path: &Path) -> Result<Option<T>, FolderError> {
        // One UTF-8 check of the whole line, then the `str` reader, which does not check each
        // string again (the slice reader does, and its checks cost as much as the rest of
        // reading a record's strings). A line that is not UTF-8 goes to the slice reader, so
        // its error is the same as ever.
        let parsed = match std::str::from_utf8(&self.bytes) {
            Ok(text) => serde_json::from_str::<T>(text),
            Err(_) => serde_json::from_slice::<T>(&self.bytes),
        };
        match parsed {
            Ok(v) if self.complete => Ok(Some(v)),
            // Only the last line can lack its newline: the writer did not finish it.
            Ok(_) => Ok(None),
            Err(e) if self.is_torn(&e) => Ok(None),
            Err(e) => Err(FolderError::parse(path, self.no, &e)),
        }
    }
}

/// The note a reader shows for a torn tail skipped at `line` of `path`.
pub fn torn_note(path: &Path, line: usize) -> String {
    format!(
        "{}:{line}: torn last line skipped (the run was interrupted while writing it)",
        file_name(path)
    )
}

/// The note a reader shows for a JSONL file that is not there.
pub fn missing_note(path: &Path) -> String {
    format!("{} is missing", file_name(path))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Non-blank lines of a reader, each knowing whether it is the last one (one line of
/// look-ahead), so a caller can parse lines in batches and still tell a torn tail apart.
pub struct Lines<R> {
    reader: BufReader<R>,
    next: Option<Line>,
    no: usize,
    offset: u64,
    done: bool,
}

impl Lines<File> {
    /// Opens `path`; a missing file reads as `None`.
    pub fn open(path: &Path) -> io::Result<Option<Lines<File>>> {
        match File::open(path) {
            Ok(f) => Ok(Some(Lines::new(f))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl<R: Read> Lines<R> {
    pub fn new(r: R) -> Lines<R> {
        Lines {
            reader: BufReader::with_capacity(1 << 16, r),
            next: None,
            no: 0,
            offset: 0,
            done: false,
        }
    }

    /// The next non-blank raw line, without look-ahead.
    fn read_raw(&mut self) -> io::Result<Option<Line>> {
        loop {
            if self.done {
                return Ok(None);
            }
            let mut buf = Vec::new();
            let n = self.reader.read_until(b'\n', &mut buf)?;
            if n == 0 {
                self.done = true;
                return Ok(None);
            }
            self.no += 1;
            let offset = self.offset;
            self.offset += n as u64;
            let complete = buf.last() == Some(&b'\n');
            if complete {
                buf.pop();
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(Line {
                no: self.no,
                offset,
                bytes: buf,
                complete,
                last: false,
            }));
        }
    }

    /// The next non-blank line, with `last` set.
    pub fn next_line(&mut self) -> io::Result<Option<Line>> {
        let cur = match self.next.take() {
            Some(l) => l,
            None => match self.read_raw()? {
                Some(l) => l,
                None => return Ok(None),
            },
        };
        self.next = self.read_raw()?;
        Ok(Some(Line {
            last: self.next.is_none(),
            ..cur
        }))
    }

    /// Up to `max` lines (fewer only at the end of the file).
    pub fn next_batch(&mut self, max: usize) -> io::Result<Vec<Line>> {
        let mut out = Vec::with_capacity(max.min(4096));
        while out.len() < max {
            match self.next_line()? {
                Some(l) => out.push(l),
                None => break,
            }
        }
        Ok(out)
    }

    /// Bytes consumed so far, up to the end of the last line returned or looked ahead.
    pub fn bytes_read(&self) -> u64 {
        self.offset
    }
}

/// Reads the line that starts at `offset` of `file` (a second look at one record).
pub fn read_line_at(file: &mut File, offset: u64) -> io::Result<Vec<u8>> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    BufReader::new(file).read_until(b'\n', &mut buf)?;
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    Ok(buf)
}

/// What streaming a JSONL file found, besides its records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Streamed {
    /// The file was there (a missing file reads as empty).
    pub found: bool,
    /// The line number of a torn tail, skipped.
    pub torn_tail: Option<usize>,
    /// Byte length of the good prefix (where a torn tail starts).
    pub good_len: u64,
}

/// Streams the records of a JSONL file into `sink`, applying [`Line::parse`]: a torn tail
/// is skipped and reported in the result; any other bad line is the error.
pub fn stream_jsonl<T: DeserializeOwned>(
    path: &Path,
    mut sink: impl FnMut(&Line, T),
) -> Result<Streamed, FolderError> {
    let io_err = |e| FolderError::io(path, e);
    let Some(mut lines) = Lines::open(path).map_err(io_err)? else {
        return Ok(Streamed::default());
    };
    let mut out = Streamed {
        found: true,
        ..Streamed::default()
    };
    while let Some(line) = lines.next_line().map_err(io_err)? {
        match line.parse::<T>(path)? {
            Some(v) => sink(&line, v),
            None => {
                out.torn_tail = Some(line.no);
                out.good_len = line.offset;
                return Ok(out);
            }
        }
    }
    out.good_len = lines.bytes_read();
    Ok(out)
}

/// Like [`stream_jsonl`], saying a missing file or a torn tail in `notes` (shown in every
/// report's run facts). Returns whether the file was there.
pub fn stream_jsonl_noted<T: DeserializeOwned>(
    path: &Path,
    notes: &mut Vec<String>,
    sink: impl FnMut(&Line, T),
) -> Result<bool, FolderError> {
    let s = stream_jsonl(path, sink)?;
    if !s.found {
        notes.push(missing_note(path));
    }
    if let Some(no) = s.torn_tail {
        notes.push(torn_note(path, no));
    }
    Ok(s.found)
}

/// A whole JSONL file read into memory.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonlRead<T> {
    pub records: Vec<T>,
    /// The line of a torn tail (a killed write), dropped.
    pub torn_tail: Option<usize>,
    /// Byte length of the good prefix (where a torn tail starts).
    pub good_len: u64,
}

/// Reads a JSONL file whole ([`stream_jsonl`]); a missing file reads as empty.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<JsonlRead<T>, FolderError> {
    let mut records = Vec::new();
    let s = stream_jsonl(path, |_, v| records.push(v))?;
    Ok(JsonlRead {
        records,
        torn_tail: s.torn_tail,
        good_len: s.good_len,
    })
}

/// Parses JSONL text held in memory (`path` names it in errors): the records and the line of
/// a torn tail.
pub fn parse_jsonl<T: DeserializeOwned>(
    text: &str,
    path: &Path,
) -> Result<(Vec<T>, Option<usize>), FolderError> {
    let mut lines = Lines::new(text.as_bytes());
    let mut out = Vec::new();
    while let Some(line) = lines.next_line().expect("reading from memory") {
        match line.parse(path)? {
            Some(v) => out.push(v),
            None => return Ok((out, Some(line.no))),
        }
    }
    Ok((out, None))
}

/// `dir/responses.jsonl`, read whole.
pub fn read_responses(dir: &Path) -> Result<JsonlRead<ResponseRecord>, FolderError> {
    read_jsonl(&dir.join(RESPONSES))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn all(text: &str) -> Vec<Line> {
        let mut l = Lines::new(text.as_bytes());
        let mut v = Vec::new();
        while let Some(x) = l.next_line().unwrap() {
            v.push(x);
        }
        v
    }

    #[test]
    fn blank_lines_are_skipped_and_the_last_line_is_marked() {
        let v = all("{\"a\":1}\r\n\n  \n{\"a\":2}\n\n");
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].no, v[0].offset, v[0].last), (1, 0, false));
        assert_eq!(v[0].bytes, b"{\"a\":1}");
        assert_eq!((v[1].no, v[1].offset, v[1].last), (4, 13, true));
        assert!(v[1].complete);
    }

    #[test]
    fn a_missing_newline_marks_the_line_incomplete() {
        let v = all("{\"a\":1}\n{\"a\":");
        assert!(!v[1].complete && v[1].last);
        let err = serde_json::from_slice::<Value>(&v[1].bytes).unwrap_err();
        assert!(v[1].is_torn(&err));
        let err0 = serde_json::from_slice::<Value>(b"nope").unwrap_err();
        assert!(!v[0].is_torn(&err0));
    }

    #[test]
    fn batches_cover_every_line_once() {
        let text: String = (0..10).map(|i| format!("{{\"i\":{i}}}\n")).collect();
        let mut l = Lines::new(text.as_bytes());
        let mut n = 0;
        loop {
            let b = l.next_batch(3).unwrap();
            if b.is_empty() {
                break;
            }
            n += b.len();
            assert_eq!(b.last().unwrap().last, n == 10);
        }
        assert_eq!(n, 10);
    }

    #[test]
    fn a_line_is_read_again_at_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.jsonl");
        std::fs::write(&p, "{\"a\":1}\n{\"b\":2}\n").unwrap();
        let mut f = File::open(&p).unwrap();
        assert_eq!(read_line_at(&mut f, 8).unwrap(), b"{\"b\":2}");
    }

    #[test]
    fn a_torn_tail_is_skipped_and_said() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(RESPONSES);
        std::fs::write(&p, "{\"a\":1}\n{\"a\":2}\n{\"a\":").unwrap();
        let read = read_jsonl::<Value>(&p).unwrap();
        assert_eq!(read.records.len(), 2);
        assert_eq!((read.torn_tail, read.good_len), (Some(3), 16));
        let mut notes = Vec::new();
        let mut n = 0;
        assert!(stream_jsonl_noted::<Value>(&p, &mut notes, |_, _| n += 1).unwrap());
        assert_eq!(n, 2);
        assert_eq!(
            notes,
            ["responses.jsonl:3: torn last line skipped (the run was interrupted while writing it)"]
        );
        // In memory, the same rule.
        let (v, torn) =
            parse_jsonl::<Value>("{\"a\":1}\n{\"a\":2}\n{\"a\":", Path::new("x.jsonl")).unwrap();
        assert_eq!((v.len(), torn), (2, Some(3)));
    }

    #[test]
    fn a_missing_file_reads_as_empty_and_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let mut notes = Vec::new();
        let p = dir.path().join(GRADES);
        assert!(!stream_jsonl_noted::<Value>(&p, &mut notes, |_, _| ()).unwrap());
        assert_eq!(notes, ["grades.jsonl is missing"]);
        assert!(read_jsonl::<Value>(&p).unwrap().records.is_empty());
    }

    #[test]
    fn a_bad_middle_line_is_an_error_with_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(GRADES);
        std::fs::write(&p, "{\"a\":1}\n{\"a\" 2}\n{\"a\":3}\n").unwrap();
        let e = read_jsonl::<Value>(&p).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!("{}:2:6: ", p.display())),
            "{e}"
        );
        let e = parse_jsonl::<Value>("{\"a\":1}\nnope\n{\"a\":2}\n", Path::new("g.jsonl"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("g.jsonl:2:"), "{e}");
    }

    #[test]
    fn a_line_that_is_not_utf8_fails_as_the_slice_reader_says() {
        let text = b"{\"a\":\"\xff\"}\n{\"a\":1}\n";
        let want = serde_json::from_slice::<Value>(b"{\"a\":\"\xff\"}").unwrap_err();
        let mut lines = Lines::new(&text[..]);
        let line = lines.next_line().unwrap().unwrap();
        let e = line.parse::<Value>(Path::new("r.jsonl")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("r.jsonl:1:{}: {want}", want.column())
        );
    }

    #[test]
    fn a_complete_bad_last_line_is_an_error_not_torn() {
        // Ends with a newline and is syntactically complete: bad data, not a torn write.
        assert!(parse_jsonl::<Value>("{\"a\":1}\n{\"a\":1}}\n", Path::new("r.jsonl")).is_err());
        let (v, torn) = parse_jsonl::<Value>("{\"a\":1}\r\n\n{\"a\":2}\n", Path::new("r")).unwrap();
        assert_eq!((v.len(), torn), (2, None));
    }

    #[test]
    fn an_atomic_write_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(GRADES);
        // A temp left by a crash is truncated, never appended to.
        std::fs::write(dir.path().join("grades.jsonl.tmp"), "stale\n").unwrap();
        write_jsonl_atomic(
            &p,
            &[serde_json::json!({"a": 1}), serde_json::json!({"a": 2})],
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"a\":1}\n{\"a\":2}\n"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [GRADES]);
    }

    #[test]
    fn the_manifest_round_trips_and_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_manifest(dir.path()).unwrap_err();
        assert!(matches!(e, FolderError::NotARun { .. }), "{e}");
        let facts = crate::record::ServerFacts {
            managed: true,
            port: Some(8080),
            startup_ms: Some(1500.0),
            restarts: 1,
            ..Default::default()
        };
        let mut target = crate::record::TargetInfo {
            name: "a".into(),
            ..Default::default()
        };
        target.set_server_facts(&facts);
        let m = RunManifest {
            run_id: "r1".into(),
            complete: true,
            targets: vec![target],
            ..RunManifest::default()
        };
        write_manifest(dir.path(), &m).unwrap();
        let back = read_manifest(dir.path()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.targets[0].server_facts(), Some(facts));
        // Not the facts of a managed server: none.
        let other = crate::record::TargetInfo {
            server: Some(serde_json::json!({"builtin": "sim"})),
            ..Default::default()
        };
        assert_eq!(other.server_facts(), None);
        assert!(!dir.path().join("manifest.json.tmp").exists());
        std::fs::write(dir.path().join(MANIFEST), "{\n  \"run_id\": 1\n}\n").unwrap();
        let e = read_manifest(dir.path()).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}:2:", dir.path().join(MANIFEST).display())),
            "{e}"
        );
    }
}
