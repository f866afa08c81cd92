//! Streaming reads of the run folder's JSONL files, one line at a time.
//!
//! One reader for every JSONL consumer (grading, reports, resume), so the rule for a torn
//! last line is defined once: the writer appends whole lines, so only the final non-empty
//! line can be cut short by a kill. A line is torn when it is that last line and either
//! lacks its newline or ends inside the value; any other unparsable line is an error.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

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

/// Reads the line that starts at `offset` of `path` (a second look at one record).
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let err = serde_json::from_slice::<serde_json::Value>(&v[1].bytes).unwrap_err();
        assert!(v[1].is_torn(&err));
        let err0 = serde_json::from_slice::<serde_json::Value>(b"nope").unwrap_err();
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
}
