//! `requests.jsonl`: every distinct first-turn request body a run sent, once, keyed by the
//! SHA-256 that `ResponseRecord.request.body_sha256` names. Repeats of a trial (and targets
//! sent identical bytes) share one line, so the file grows with the number of templates, not
//! trials. Later turns of a conversation are the first body plus the recorded replies and
//! user turns, so they are not stored.
//!
//! One line is `{"sha256":"<hex>","body":<the exact bytes sent>}`: the body is embedded
//! verbatim (compact JSON has no raw newline), so a replay sends byte-identical bytes.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Mutex;

pub const REQUESTS: &str = "requests.jsonl";

const PREFIX: &[u8] = b"{\"sha256\":\"";
const MID: &[u8] = b"\",\"body\":";

/// The line for one body.
pub fn line(sha256: &str, body: &[u8]) -> Vec<u8> {
    let mut l = Vec::with_capacity(PREFIX.len() + sha256.len() + MID.len() + body.len() + 2);
    l.extend_from_slice(PREFIX);
    l.extend_from_slice(sha256.as_bytes());
    l.extend_from_slice(MID);
    l.extend_from_slice(body);
    l.extend_from_slice(b"}\n");
    l
}

/// `(sha256, body bytes)` of one line written by [`line`]; `None` for anything else (a torn
/// or foreign line is skipped, never an error: the store is a convenience, not the record).
pub fn parse_line(l: &[u8]) -> Option<(&str, &[u8])> {
    let rest = l.strip_prefix(PREFIX)?;
    let quote = rest.iter().position(|&b| b == b'"')?;
    let sha = std::str::from_utf8(&rest[..quote]).ok()?;
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let body = rest[quote..].strip_prefix(MID)?;
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    let body = body.strip_suffix(b"}")?;
    // A torn line would not parse; a complete one does.
    serde_json::from_slice::<serde::de::IgnoredAny>(body).ok()?;
    Some((sha, body))
}

/// Read the bodies of a run folder. A folder without the file (an older run) gives an
/// empty map: callers then say "request not recorded".
pub fn read(dir: &Path) -> io::Result<HashMap<String, Vec<u8>>> {
    read_only(dir, None)
}

/// Like [`read`], keeping only the bodies in `wanted` (a viewer of a few cases need not hold
/// a large run's every body).
pub fn read_only(
    dir: &Path,
    wanted: Option<&HashSet<&str>>,
) -> io::Result<HashMap<String, Vec<u8>>> {
    let f = match File::open(dir.join(REQUESTS)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(e),
    };
    let mut out = HashMap::new();
    let mut r = BufReader::new(f);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        if let Some((sha, body)) = parse_line(&buf) {
            if wanted.is_none_or(|w| w.contains(sha)) {
                out.entry(sha.to_string()).or_insert_with(|| body.to_vec());
            }
        }
    }
    Ok(out)
}

/// Appends each body the first time its hash is seen, one write and flush per line (a kill
/// leaves at most one torn last line, which [`RequestStore::open`] cuts off on resume).
pub struct RequestStore {
    inner: Mutex<(File, HashSet<String>)>,
}

impl RequestStore {
    /// Open (or create) `dir/requests.jsonl`; the hashes already in it are not written again.
    pub fn open(dir: &Path) -> io::Result<RequestStore> {
        let path = dir.join(REQUESTS);
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let mut seen = HashSet::new();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut good = 0usize;
        for l in bytes.split_inclusive(|&b| b == b'\n') {
            if l.last() != Some(&b'\n') {
                break;
            }
            good += l.len();
            if let Some((sha, _)) = parse_line(l) {
                seen.insert(sha.to_string());
            }
        }
        if good < bytes.len() {
            // A torn tail: appending after it would glue the next line onto it.
            file.set_len(good as u64)?;
            file.seek(SeekFrom::End(0))?;
        }
        Ok(RequestStore {
            inner: Mutex::new((file, seen)),
        })
    }

    /// Record `body` under `sha256` unless it is already there.
    pub fn record(&self, sha256: &str, body: &[u8]) -> io::Result<()> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if g.1.contains(sha256) {
            return Ok(());
        }
        g.0.write_all(&line(sha256, body))?;
        g.0.flush()?;
        g.1.insert(sha256.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn each_body_is_stored_once_and_read_back_byte_exact() {
        let dir = tempfile::tempdir().unwrap();
        let s = RequestStore::open(dir.path()).unwrap();
        let body = br#"{"model":"m","messages":[{"role":"user","content":"\u0ca8\n"}]}"#;
        s.record(A, body).unwrap();
        s.record(A, body).unwrap();
        s.record(B, b"{}").unwrap();
        drop(s);
        let text = std::fs::read_to_string(dir.path().join(REQUESTS)).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        let m = read(dir.path()).unwrap();
        assert_eq!(m[A], body.to_vec());
        assert_eq!(m[B], b"{}".to_vec());
        // Reopened (resume): known hashes are not appended again.
        let s = RequestStore::open(dir.path()).unwrap();
        s.record(A, body).unwrap();
        drop(s);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(REQUESTS))
                .unwrap()
                .lines()
                .count(),
            2
        );
    }

    #[test]
    fn a_torn_tail_is_skipped_by_readers_and_cut_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let mut torn = line(A, b"{\"x\":1}");
        torn.extend_from_slice(b"{\"sha256\":\"bbbb");
        std::fs::write(dir.path().join(REQUESTS), &torn).unwrap();
        assert_eq!(read(dir.path()).unwrap().len(), 1);
        let s = RequestStore::open(dir.path()).unwrap();
        s.record(B, b"[]").unwrap();
        drop(s);
        let m = read(dir.path()).unwrap();
        assert_eq!((m.len(), m[B].as_slice()), (2, b"[]".as_slice()));
    }

    #[test]
    fn a_folder_without_the_file_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_empty());
    }
}
