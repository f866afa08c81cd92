//! One run folder, read into what the index stores: the run's facts and, per target × suite ×
//! prompt × variant, the counts, the TTFT samples and the per-case outcomes. A folder that
//! cannot be read is still an entry (status `incomplete`, with the reason), never an error.

use std::collections::BTreeMap;
use std::path::Path;
use toolgate_core::runfolder::{GRADES, MANIFEST, REPORT_HTML, RESPONSES};
use toolgate_core::Verdict;
use toolgate_report::RunData;

/// Files whose size and mtime decide whether a folder must be read again.
const WATCHED: [&str; 4] = [MANIFEST, GRADES, RESPONSES, REPORT_HTML];

/// What the index keeps of one folder.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderEntry {
    pub path: String,
    pub root: String,
    pub sig: String,
    pub run_id: Option<String>,
    /// The manifest's `started_at`; for a folder without one, its modification time.
    pub started_at: String,
    pub complete: bool,
    /// Why the folder is incomplete (empty when complete).
    pub reason: String,
    /// (target name, model) from the manifest.
    pub targets: Vec<(String, String)>,
    pub suites: Vec<String>,
    pub report_html: bool,
    pub slices: Vec<Slice>,
}

/// One target × suite × prompt × variant of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    pub target: String,
    pub model: String,
    pub suite: String,
    pub prompt: String,
    pub variant: String,
    pub passed: u64,
    pub judged: u64,
    pub errors: u64,
    /// First-turn TTFT of every measured trial, in ms.
    pub ttft: Vec<f32>,
    /// case → (passed, judged) over its repeats.
    pub cases: BTreeMap<String, (u32, u32)>,
}

/// Size and mtime of the watched files: equal signatures mean the folder need not be read.
pub fn signature(dir: &Path) -> String {
    let mut s = String::with_capacity(96);
    for f in WATCHED {
        match std::fs::metadata(dir.join(f)) {
            Ok(m) => {
                let t = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                s.push_str(&format!("{}:{t};", m.len()));
            }
            Err(_) => s.push_str("-;"),
        }
    }
    s
}

fn mtime_rfc3339(dir: &Path) -> String {
    std::fs::metadata(dir)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| jiff::Timestamp::try_from(t).ok())
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Reads `dir` (shown as `path`, found under `root`). Never fails: an unreadable folder is an
/// incomplete entry whose reason names the file.
pub fn read_folder(dir: &Path, path: &str, root: &str) -> FolderEntry {
    let sig = signature(dir);
    let mut e = FolderEntry {
        path: path.to_string(),
        root: root.to_string(),
        sig,
        run_id: None,
        started_at: String::new(),
        complete: false,
        reason: String::new(),
        targets: Vec::new(),
        suites: Vec::new(),
        report_html: dir.join(REPORT_HTML).is_file(),
        slices: Vec::new(),
    };
    // The manifest alone first, so a folder whose JSONL is bad still shows its run id.
    match toolgate_core::runfolder::read_manifest(dir) {
        Ok(m) => {
            e.run_id = Some(m.run_id.clone());
            e.started_at = m.started_at.clone();
            e.targets = m
                .targets
                .iter()
                .map(|t| (t.name.clone(), t.model.clone()))
                .collect();
            e.suites = m.suites.iter().map(|s| s.name.clone()).collect();
        }
        Err(toolgate_core::runfolder::FolderError::NotARun { .. }) => {
            e.started_at = mtime_rfc3339(dir);
            e.reason = "no manifest.json".into();
            return e;
        }
        Err(err) => {
            e.started_at = mtime_rfc3339(dir);
            e.reason = short_error(dir, &err.to_string());
            return e;
        }
    }
    let data = match RunData::load(dir) {
        Ok(d) => d,
        Err(err) => {
            e.reason = short_error(dir, &err.to_string());
            return e;
        }
    };
    let mut reasons: Vec<String> = Vec::new();
    if !data.manifest.complete {
        if data.manifest.incomplete_reasons.is_empty() {
            reasons.push("the manifest says incomplete".into());
        } else {
            reasons.extend(data.manifest.incomplete_reasons.iter().cloned());
        }
    }
    reasons.extend(data.notes.iter().cloned());
    e.complete = reasons.is_empty();
    e.reason = reasons.join("; ");
    e.slices = slices(&data, &e.targets);
    e
}

/// An error message without the folder's own path in front (the row already shows it).
fn short_error(dir: &Path, msg: &str) -> String {
    let prefix = format!("{}/", dir.display());
    msg.strip_prefix(&prefix).unwrap_or(msg).to_string()
}

type SliceKey = (String, String, String, String);

fn slices(data: &RunData, targets: &[(String, String)]) -> Vec<Slice> {
    let mut map: BTreeMap<SliceKey, Slice> = BTreeMap::new();
    fn slot<'m>(
        map: &'m mut BTreeMap<SliceKey, Slice>,
        k: &toolgate_core::TrialKey,
        targets: &[(String, String)],
    ) -> &'m mut Slice {
        let key = (
            k.target.to_string(),
            k.suite.to_string(),
            k.prompt.to_string(),
            k.variant.to_string(),
        );
        // Entry API would clone the key on every call; most calls hit an existing slice.
        if !map.contains_key(&key) {
            let model = targets
                .iter()
                .find(|(n, _)| n == &key.0)
                .map(|(_, m)| m.clone())
                .unwrap_or_default();
            map.insert(
                key.clone(),
                Slice {
                    target: key.0.clone(),
                    model,
                    suite: key.1.clone(),
                    prompt: key.2.clone(),
                    variant: key.3.clone(),
                    passed: 0,
                    judged: 0,
                    errors: 0,
                    ttft: Vec::new(),
                    cases: BTreeMap::new(),
                },
            );
        }
        map.get_mut(&key).expect("inserted above")
    }
    for g in data.grades.iter().filter(|g| !g.warmup) {
        let s = slot(&mut map, &g.key, targets);
        let case = s.cases.entry(g.key.case.to_string()).or_insert((0, 0));
        match g.verdict {
            Verdict::Error => s.errors += 1,
            v => {
                s.judged += 1;
                case.1 += 1;
                if v == Verdict::Pass {
                    s.passed += 1;
                    case.0 += 1;
                }
            }
        }
    }
    for r in data
        .responses
        .iter()
        .filter(|r| !r.warmup && r.error.is_none())
    {
        let ttft = r.turns.first().and_then(|t| t.timing.ttft_ms);
        if let Some(ms) = ttft {
            slot(&mut map, &r.key, targets).ttft.push(ms as f32);
        }
    }
    map.into_values().collect()
}

/// Per-case outcomes as a compact blob: (len u32, case bytes, passed u32, judged u32)*, so a
/// warm `history` decodes them without a JSON parser.
pub fn encode_cases(cases: &BTreeMap<String, (u32, u32)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(cases.len() * 24);
    for (case, (p, j)) in cases {
        out.extend_from_slice(&(case.len() as u32).to_le_bytes());
        out.extend_from_slice(case.as_bytes());
        out.extend_from_slice(&p.to_le_bytes());
        out.extend_from_slice(&j.to_le_bytes());
    }
    out
}

/// Inverse of [`encode_cases`]; a malformed blob yields what could be read.
pub fn decode_cases(blob: &[u8]) -> Vec<(String, u32, u32)> {
    let mut out = Vec::new();
    for_each_case(blob, |name, p, j| {
        out.push((String::from_utf8_lossy(name).into_owned(), p, j))
    });
    out
}

/// Calls `f(case, passed, judged)` for each case in the blob, without allocating.
pub fn for_each_case(blob: &[u8], mut f: impl FnMut(&[u8], u32, u32)) {
    let mut i = 0;
    let u32_at = |i: usize| -> Option<u32> {
        blob.get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    while let Some(len) = u32_at(i) {
        let len = len as usize;
        let Some(name) = blob.get(i + 4..i + 4 + len) else {
            break;
        };
        let (Some(p), Some(j)) = (u32_at(i + 4 + len), u32_at(i + 8 + len)) else {
            break;
        };
        f(name, p, j);
        i += 12 + len;
    }
}

pub fn encode_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn decode_f32(blob: &[u8]) -> impl Iterator<Item = f32> + '_ {
    blob.chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_blob_round_trips_and_survives_truncation() {
        let mut m = BTreeMap::new();
        m.insert("a|b\u{1b}".to_string(), (1, 2));
        m.insert("ünï".to_string(), (0, 3));
        let blob = encode_cases(&m);
        let back = decode_cases(&blob);
        assert_eq!(
            back,
            vec![("a|b\u{1b}".to_string(), 1, 2), ("ünï".to_string(), 0, 3)]
        );
        assert_eq!(decode_cases(&blob[..blob.len() - 1]).len(), 1);
        assert!(decode_cases(&[255, 255, 255, 255, 1]).is_empty());
    }

    #[test]
    fn folder_without_manifest_is_incomplete_with_the_reason() {
        let d = tempfile::tempdir().unwrap();
        let e = read_folder(d.path(), "x", "r");
        assert!(!e.complete);
        assert_eq!(e.reason, "no manifest.json");
        assert!(!e.started_at.is_empty());
    }

    #[test]
    fn bad_manifest_json_names_the_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("manifest.json"), "{not json").unwrap();
        let e = read_folder(d.path(), "x", "r");
        assert!(!e.complete);
        assert!(e.reason.starts_with("manifest.json:1:"), "{}", e.reason);
    }
}
