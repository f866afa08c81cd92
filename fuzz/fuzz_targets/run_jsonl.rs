//! Bytes → a run folder's `responses.jsonl` → the reader `grade`, `report` and `--resume`
//! use (`read_responses`), then the resume compaction. A torn last line is dropped and
//! reported, any other bad line is an error naming the file and line; never a panic, and
//! the good prefix never extends past the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use toolgate_fuzz::scratch;
use toolgate_run::runfolder::{compact_for_resume, read_responses, RESPONSES};

fuzz_target!(|data: &[u8]| {
    let dir = scratch().join("run-jsonl");
    std::fs::create_dir_all(&dir).expect("run dir");
    std::fs::write(dir.join(RESPONSES), data).expect("write");
    match read_responses(&dir) {
        Ok(read) => {
            assert!(read.good_len <= data.len() as u64);
            let (keep, _, _) = compact_for_resume(&dir).expect("compacts what it read");
            assert!(keep.len() <= read.records.len());
            // After compaction the file reads back whole, without a torn tail.
            let again = read_responses(&dir).expect("re-read");
            assert!(again.torn_tail.is_none());
            assert_eq!(again.records.len(), keep.len());
        }
        Err(e) => assert!(e.to_string().contains(RESPONSES), "{e}"),
    }
});
