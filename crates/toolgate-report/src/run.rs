//! Loading a run folder (docs/run-folder.md) into memory — only what reports need.
//!
//! Reports never hold whole responses: `responses.jsonl` is streamed line by line into
//! [`ResponseMeta`] (key, timing, error; no messages, no usage objects), each remembering
//! where its line starts so the few rows a report shows raw can be read again. Memory is
//! thus a small per-trial index, not the size of the run.

use crate::error::ReportError;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toolgate_core::record::{
    GradeRecord, InfraError, ResponseRecord, RunManifest, Sym, Timing, TrialKey, TurnRecord,
};
use toolgate_core::runfolder::{self, read_line_at, stream_jsonl_noted, GRADES, RESPONSES};

/// What reports need of one recorded response.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ResponseMeta {
    pub key: TrialKey,
    #[serde(default)]
    pub kind: Sym,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub turns: Vec<TurnMeta>,
    #[serde(default)]
    pub error: Option<Box<InfraError>>,
    #[serde(default)]
    pub started_at: String,
    #[serde(default)]
    pub warmup: bool,
    /// Where the whole record is, for the rows shown raw.
    #[serde(skip)]
    pub raw: RawRef,
}

/// What reports need of one turn.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TurnMeta {
    pub turn: u32,
    #[serde(default)]
    pub finish_reason: Option<Sym>,
    /// The two server-side figures reports show (llama.cpp `timings`); boxed, as only
    /// llama.cpp sends them.
    #[serde(default)]
    pub server_timings: Option<Box<ServerTimings>>,
    #[serde(default)]
    pub timing: TimingMeta,
    #[serde(default)]
    pub status: Option<u16>,
    /// Prompt tokens the server answered from its cache (`usage.prompt_tokens_details.
    /// cached_tokens`, sent by llama.cpp and vLLM): they cost no prefill.
    #[serde(default, rename = "usage", deserialize_with = "cached_tokens")]
    pub cached_tokens: Option<u32>,
}

fn cached_tokens<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    struct Usage {
        #[serde(default)]
        prompt_tokens_details: Option<Details>,
    }
    #[derive(Deserialize)]
    struct Details {
        #[serde(default)]
        cached_tokens: Option<u32>,
    }
    // A usage object of another shape is not an error: the figure is simply unknown.
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(v.and_then(|v| serde_json::from_value::<Usage>(v).ok())
        .and_then(|u| u.prompt_tokens_details?.cached_tokens))
}

/// The client's [`Timing`] of one turn, reduced to what reports read (same names and
/// types), so the per-trial index stays small.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TimingMeta {
    #[serde(default)]
    pub ttft_ms: Option<f64>,
    #[serde(default)]
    pub ttft_content_ms: Option<f64>,
    #[serde(default)]
    pub last_token_ms: Option<f64>,
    #[serde(default)]
    pub e2e_ms: f64,
    #[serde(default)]
    pub completion_tokens: Option<u64>,
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    #[serde(default)]
    pub decode_tps: Option<f64>,
    #[serde(default)]
    pub server_decode_tps: Option<f64>,
    #[serde(default)]
    pub itl_ms: Box<[f64]>,
    #[serde(default)]
    pub ttft_missing: Option<Sym>,
}

impl TimingMeta {
    pub fn from_timing(t: &Timing) -> TimingMeta {
        TimingMeta {
            ttft_ms: t.ttft_ms,
            ttft_content_ms: t.ttft_content_ms,
            last_token_ms: t.last_token_ms,
            e2e_ms: t.e2e_ms,
            completion_tokens: t.completion_tokens,
            prompt_tokens: t.prompt_tokens,
            decode_tps: t.decode_tps,
            server_decode_tps: t.server_decode_tps,
            itl_ms: t.itl_ms.as_slice().into(),
            ttft_missing: t.ttft_missing.as_deref().map(Sym::from),
        }
    }
}

/// llama.cpp's `timings`, reduced to what latency reports read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ServerTimings {
    #[serde(default)]
    pub predicted_per_second: Option<f64>,
    #[serde(default)]
    pub prompt_ms: Option<f64>,
    #[serde(default)]
    pub prompt_per_second: Option<f64>,
}

/// Where a response's whole record can be found again.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum RawRef {
    #[default]
    None,
    /// Byte offset of its line in the run's `responses.jsonl`.
    Line(u64),
    /// Kept in memory (runs built in memory, e.g. by tests).
    Inline(Box<ResponseRecord>),
}

impl ResponseMeta {
    /// The report view of a whole record, keeping the record itself for raw display.
    pub fn from_record(r: &ResponseRecord, raw: RawRef) -> ResponseMeta {
        ResponseMeta {
            key: r.key.clone(),
            kind: r.kind.clone(),
            category: r.category.clone(),
            turns: r.turns.iter().map(TurnMeta::from_record).collect(),
            error: r.error.clone().map(Box::new),
            started_at: r.started_at.clone(),
            warmup: r.warmup,
            raw,
        }
    }

    /// Drops spare capacity: a deserialised one-element `Vec` holds room for four, which
    /// at 100,000 trials is most of the memory.
    pub fn shrink(&mut self) {
        self.turns.shrink_to_fit();
    }

    pub fn last_turn(&self) -> Option<&TurnMeta> {
        self.turns.last()
    }
}

impl TurnMeta {
    pub fn from_record(t: &TurnRecord) -> TurnMeta {
        let num = |k: &str| {
            t.server_timings
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(|v| v.as_f64())
        };
        TurnMeta {
            turn: t.turn,
            finish_reason: t.finish_reason.as_deref().map(Sym::from),
            server_timings: t.server_timings.as_ref().map(|_| {
                Box::new(ServerTimings {
                    predicted_per_second: num("predicted_per_second"),
                    prompt_ms: num("prompt_ms"),
                    prompt_per_second: num("prompt_per_second"),
                })
            }),
            timing: TimingMeta::from_timing(&t.timing),
            status: t.status,
            cached_tokens: t
                .usage
                .as_ref()
                .and_then(|u| u.pointer("/prompt_tokens_details/cached_tokens"))
                .and_then(serde_json::Value::as_u64)
                .and_then(|n| u32::try_from(n).ok()),
        }
    }
}

/// Everything a report needs from one run folder.
#[derive(Debug, Clone, PartialEq)]
pub struct RunData {
    /// The folder as shown in reports.
    pub dir: PathBuf,
    pub manifest: RunManifest,
    pub responses: Vec<ResponseMeta>,
    pub grades: Vec<GradeRecord>,
    /// Things a reader should know about the files themselves (a torn last line, a missing
    /// grades file). Shown in every report's run facts.
    pub notes: Vec<String>,
    /// The `responses.jsonl` that [`RawRef::Line`] offsets point into.
    pub responses_file: Option<PathBuf>,
}

impl RunData {
    /// Reads `manifest.json`, `responses.jsonl` and `grades.jsonl` from `dir`.
    ///
    /// A torn last JSONL line (the run was killed mid-write) is skipped and noted; any other
    /// unparsable line is an error naming `file:line:column`. A missing JSONL file reads as
    /// empty and is noted, so a run that died before its first trial still gets a report.
    pub fn load(dir: &Path) -> Result<RunData, ReportError> {
        let manifest = runfolder::read_manifest(dir)?;
        let mut notes = Vec::new();
        let responses_path = dir.join(RESPONSES);
        let mut responses: Vec<ResponseMeta> = Vec::new();
        let found =
            stream_jsonl_noted(&responses_path, &mut notes, |line, mut r: ResponseMeta| {
                r.raw = RawRef::Line(line.offset);
                r.shrink();
                responses.push(r);
            })?;
        let mut grades = Vec::new();
        stream_jsonl_noted(&dir.join(GRADES), &mut notes, |_, mut g: GradeRecord| {
            shrink_grade(&mut g);
            grades.push(g)
        })?;
        responses.shrink_to_fit();
        grades.shrink_to_fit();
        Ok(RunData {
            dir: dir.to_path_buf(),
            manifest,
            responses,
            grades,
            notes,
            responses_file: found.then_some(responses_path),
        })
    }

    /// A run assembled in memory from whole records (tests, merges): every record is kept
    /// for raw display.
    pub fn from_records(
        dir: PathBuf,
        manifest: RunManifest,
        responses: &[ResponseRecord],
        grades: Vec<GradeRecord>,
    ) -> RunData {
        RunData {
            dir,
            manifest,
            responses: responses
                .iter()
                .map(|r| ResponseMeta::from_record(r, RawRef::Inline(Box::new(r.clone()))))
                .collect(),
            grades,
            notes: Vec::new(),
            responses_file: None,
        }
    }

    /// True when the run did not finish every planned trial (exit code 3).
    pub fn is_incomplete(&self) -> bool {
        !self.manifest.complete
    }

    /// A reader of whole records, one at a time (so a report holds one, not thousands).
    pub fn raw_reader(&self) -> RawReader<'_> {
        RawReader {
            file: self
                .responses_file
                .as_ref()
                .and_then(|p| std::fs::File::open(p).ok()),
            _run: std::marker::PhantomData,
        }
    }
}

/// Reads back the whole record behind a [`ResponseMeta`].
pub struct RawReader<'a> {
    file: Option<std::fs::File>,
    _run: std::marker::PhantomData<&'a RunData>,
}

impl RawReader<'_> {
    /// The record, or `None` when it cannot be read back (the file changed since loading).
    pub fn get(&mut self, m: &ResponseMeta) -> Option<ResponseRecord> {
        match &m.raw {
            RawRef::None => None,
            RawRef::Inline(r) => Some((**r).clone()),
            RawRef::Line(off) => {
                let bytes = read_line_at(self.file.as_mut()?, *off).ok()?;
                serde_json::from_slice::<ResponseRecord>(&bytes)
                    .ok()
                    .filter(|r| r.key == m.key)
            }
        }
    }
}

/// Drops a grade's spare `Vec` capacity (see [`ResponseMeta::shrink`]).
pub fn shrink_grade(g: &mut GradeRecord) {
    g.findings.shrink_to_fit();
    g.expected_tools.shrink_to_fit();
    g.actual_tools.shrink_to_fit();
}
