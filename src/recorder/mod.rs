//! The recorder (CREAM): step reports -> trace events by level, written by one writer thread;
//! consolidation of the events into cabinet lists and context matrices (SPEC §4).

mod consolidate;
mod damage;
mod deltas;
mod event;
mod hook;
mod keys;
mod out;
mod runs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, bounded};

pub use consolidate::{Consolidation, Consolidator, ContextCell, NodeCabinet};
pub use event::{
    CabinetDesc, Changes, ChangesBefore10, ChangesBefore11, Checkpoint, Chunk, ContextDesc, EVENTS_VERSION,
    Event, Failure, KEYED_EVENTS_VERSION, Level, Order, PipelineDesc, RecorderSettings, RowSnapshot,
    SkippedChanges, StageDesc, StatementDesc, Step, TraceHeader, TraceValue,
};
use hook::{Flush, Keying, NodeRecorder};
pub use keys::ChunkKeys;
pub use runs::{check_append, open_run, runs};

use crate::engine::{HookFactory, NoHook, NodeId, Pipeline, StepHook};
use crate::trace::{ChunkKind, TraceError, TraceReader, TraceWriter};

/// A trace file being read: header and chunks of events.
pub type Trace = TraceReader<TraceHeader, Chunk>;

/// Chunks waiting for the writer before nodes wait for it (backpressure, never loss).
const QUEUE: usize = 16;

/// Why a recorder setting is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is wrong (the message names the field).
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the field.
        message: String,
    },
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    recorder: RecorderSettings,
}

impl RecorderSettings {
    /// Read the `[recorder]` table of a TOML file.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| SettingsError::Read { path: path.into(), source })?;
        let file: SettingsFile = toml::from_str(&text)
            .map_err(|e| SettingsError::Invalid { path: path.into(), message: e.to_string() })?;
        if let Some(d) = file.recorder.duration.filter(|&d| d <= 0) {
            let message = format!(
                "field `duration`: {d} is not positive (pseudo-seconds to record, from each node's first event time)"
            );
            return Err(SettingsError::Invalid { path: path.into(), message });
        }
        Ok(file.recorder)
    }

    /// True when `node` is recorded: every node, or the one or the stage `nodes` names.
    pub(crate) fn records(&self, node: &NodeId) -> bool {
        self.records_named(&node.name)
    }

    /// [`records`](Self::records) by the node's name (`RATE/0`).
    pub(crate) fn records_named(&self, node: &str) -> bool {
        match &self.nodes {
            None => true,
            Some(n) => n == node || node.split('/').next() == Some(n.as_str()),
        }
    }
}

/// What a recording wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recording {
    /// Bytes of the trace file.
    pub bytes: u64,
}

/// Records a run into a trace file: the hook factory of every node plus the writer thread.
pub struct Recorder {
    settings: RecorderSettings,
    nodes: Vec<NodeId>,
    cabinets: usize,
    tx: Option<Sender<Flush>>,
    /// Per context id: an identifier (heavy context), keyed at full level.
    identifiers: Arc<[bool]>,
    /// Per node index, which of its tables are of the flow.
    flow: Vec<Vec<bool>>,
    /// The stages in order.
    stages: Vec<String>,
    writer: Option<JoinHandle<Result<u64, TraceError>>>,
    origin: std::time::Instant,
    path: PathBuf,
}

impl Recorder {
    /// Open `path` (truncated or appended to, by `settings.order`) with the pipeline's
    /// description, what it reads (`input`, see [`TraceHeader::input`]) and the options its
    /// results depend on (see [`TraceHeader::options`]) as its header, and start the writer
    /// thread.
    pub fn start(
        path: &Path,
        pipeline: &Pipeline,
        settings: RecorderSettings,
        input: Option<String>,
        options: Vec<(String, String)>,
    ) -> Result<Recorder, TraceError> {
        let header = TraceHeader::of(pipeline, &settings, input, options);
        let mut writer = match settings.order {
            Order::Truncate => TraceWriter::<TraceHeader, Chunk>::create(path, &header)?,
            Order::Accumulate => {
                runs::check_append(path, &header)?;
                TraceWriter::<TraceHeader, Chunk>::append_to(path, &header)?
            }
        };
        let (tx, rx) = bounded::<Flush>(QUEUE);
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || {
                for flush in &rx {
                    match flush {
                        Flush::Chunk(chunk) => {
                            writer.write_encoded(chunk)?;
                            // Idle: what the nodes handed over goes to disk, for readers of
                            // a trace still being written.
                            if rx.is_empty() {
                                writer.flush()?;
                            }
                        }
                        Flush::Sync(done) => {
                            writer.flush()?;
                            let _ = done.send(());
                        }
                    }
                }
                writer.finish()
            })
            .map_err(|source| TraceError::Io { path: path.into(), source })?;
        // Heavy contexts are the identifiers a search looks records up by.
        let identifiers =
            pipeline.schema().contexts().iter().map(|c| c.weight == crate::model::Weight::Heavy).collect();
        Ok(Recorder {
            settings,
            nodes: pipeline.nodes(),
            cabinets: pipeline.schema().cabinets().len(),
            tx: Some(tx),
            identifiers,
            flow: header.pipeline.flow_tables(),
            stages: header.pipeline.stages.iter().map(|s| s.name.clone()).collect(),
            writer: Some(thread),
            origin: std::time::Instant::now(),
            path: path.into(),
        })
    }

    /// Wait for the writer to write every chunk and the footer.
    pub fn finish(mut self) -> Result<Recording, TraceError> {
        self.tx.take();
        let bytes = match self.writer.take().map(JoinHandle::join) {
            Some(Ok(r)) => r?,
            Some(Err(_)) => {
                return Err(TraceError::Corrupt {
                    path: self.path.clone(),
                    offset: 0,
                    reason: "the trace writer panicked".into(),
                });
            }
            None => 0,
        };
        Ok(Recording { bytes })
    }

    /// What node `index` keys at full level.
    fn keying(&self, node: &NodeId, index: u16) -> Option<Keying> {
        if self.settings.level != Level::Full {
            return None;
        }
        // The stage before is recorded in full, for as long as this one, when every node is
        // recorded without a duration: its records' values are keyed there.
        let stage = self.stages.iter().position(|s| s == crate::tracer::stage_name(&node.name));
        let upstream_recorded =
            stage.is_some_and(|s| s > 0) && self.settings.nodes.is_none() && self.settings.duration.is_none();
        Some(Keying {
            identifiers: self.identifiers.clone(),
            flow: self.flow.get(index as usize).cloned().unwrap_or_default(),
            charges: !upstream_recorded,
            // An appended trace holds several runs, whose reg_ids and ticks repeat.
            carry: upstream_recorded && self.settings.order == Order::Truncate,
        })
    }
}

impl HookFactory for Recorder {
    fn hook_for(&self, node: &NodeId) -> Box<dyn StepHook> {
        let index = self.nodes.iter().position(|n| n == node).unwrap_or(0) as u16;
        match &self.tx {
            Some(tx) if self.settings.level > Level::Off && self.settings.records(node) => {
                Box::new(NodeRecorder::new(
                    index,
                    self.settings.level,
                    self.settings.duration,
                    self.cabinets,
                    self.keying(node, index),
                    tx.clone(),
                    self.origin,
                ))
            }
            _ => Box::new(NoHook),
        }
    }
}

/// Read a whole trace and consolidate it (a cut trace consolidates what it holds).
pub fn consolidate(trace: &mut Trace) -> Result<Consolidation, TraceError> {
    // Steps and failures are in events chunks. Each node's fold is its own, so the nodes are
    // shared among threads, each reading the file on its own (a full trace's chunks take
    // most of the time to decode, even with their changes read past).
    let events = || trace.index().iter().enumerate().filter(|(_, e)| e.kind == ChunkKind::Events);
    let mut bytes: BTreeMap<u16, u64> = BTreeMap::new();
    for (_, e) in events() {
        *bytes.entry(e.meta.node).or_default() += u64::from(e.len);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(bytes.len()).clamp(1, 4);
    // The nodes, biggest first, each to the thread with the fewest bytes so far.
    let mut nodes: Vec<(u16, u64)> = bytes.into_iter().collect();
    nodes.sort_by_key(|&(node, b)| (std::cmp::Reverse(b), node));
    let mut load = vec![0u64; threads];
    let mut thread_of: BTreeMap<u16, usize> = BTreeMap::new();
    for (node, b) in nodes {
        let t = (0..threads).min_by_key(|&t| load[t]).unwrap_or(0);
        load[t] += b;
        thread_of.insert(node, t);
    }
    let mut shares: Vec<Vec<usize>> = vec![Vec::new(); threads];
    for (i, e) in events() {
        shares[thread_of[&e.meta.node]].push(i);
    }
    // Appended runs each number their steps from 0 again; each is numbered on after the ones
    // before. A node's steps are all folded by one thread, which sees where the node's runs
    // end but not the other nodes' global steps: each run's largest comes from the index.
    let mut bounds = runs(trace);
    bounds.push(trace.index().len());
    let mut global = 0;
    let starts: Vec<(usize, u64)> = bounds
        .windows(2)
        .map(|run| {
            let from = global;
            let chunks = trace.index()[run[0]..run[1]].iter().filter(|e| e.kind == ChunkKind::Events);
            global += chunks.map(|e| e.meta.last_step + 1).max().unwrap_or(0);
            (run[0], from)
        })
        .collect();
    let path = trace.path().to_path_buf();
    let mut c = Consolidator::default();
    std::thread::scope(|scope| {
        let others: Vec<_> = shares[1..]
            .iter()
            .map(|chunks| scope.spawn(|| fold(&mut Trace::open(&path)?, chunks, &starts)))
            .collect();
        c.merge(fold(trace, &shares[0], &starts)?);
        for other in others {
            c.merge(other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))?);
        }
        Ok::<_, TraceError>(())
    })?;
    Ok(c.finish(&trace.header().pipeline))
}

/// The consolidation of some events chunks (in file order), their steps' changes read past;
/// `starts` holds each run's first chunk and the global step its steps are numbered on from.
fn fold(trace: &mut Trace, chunks: &[usize], starts: &[(usize, u64)]) -> Result<Consolidator, TraceError> {
    let mut c = Consolidator::default();
    let mut run = 0;
    for &i in chunks {
        // A run may hold no chunk of these nodes: it is stepped over, its global steps
        // counted in `starts`.
        let at = starts.partition_point(|&(start, _)| start <= i) - 1;
        if at != run {
            run = at;
            c.next_run(starts[at].1);
        }
        for e in &read_events_skipped(trace, i)? {
            c.add(e);
        }
    }
    Ok(c)
}

/// Chunk `i` of a trace, as this catar's events whatever events version wrote them; a
/// damaged chunk is named in the error (its node, steps, and what is apart from it).
pub fn read_events(trace: &mut Trace, i: usize) -> Result<Chunk, TraceError> {
    events(trace, i).map_err(|e| damage::chunk(trace, i, e))
}

fn events(trace: &mut Trace, i: usize) -> Result<Chunk, TraceError> {
    let version = trace.header().events_version;
    if version >= event::DELTAS_EVENTS_VERSION {
        return trace.read_chunk(i);
    }
    if version >= event::COPIES_EVENTS_VERSION {
        let old = trace.read_chunk_as::<Vec<Event<ChangesBefore11>>>(i)?;
        return Ok(old.into_iter().map(|e| e.map_changes(Changes::from)).collect());
    }
    let old = trace.read_chunk_as::<Vec<Event<event::ChangesBefore10>>>(i)?;
    Ok(old.into_iter().map(|e| e.map_changes(Changes::from)).collect())
}

/// [`read_events`] with the steps' changes read past (see [`SkippedChanges`]).
pub fn read_events_skipped(trace: &mut Trace, i: usize) -> Result<Vec<Event<SkippedChanges>>, TraceError> {
    events_skipped(trace, i).map_err(|e| damage::chunk(trace, i, e))
}

fn events_skipped(trace: &mut Trace, i: usize) -> Result<Vec<Event<SkippedChanges>>, TraceError> {
    if trace.header().events_version >= event::COPIES_EVENTS_VERSION {
        return trace.read_chunk_as(i);
    }
    let old = trace.read_chunk_as::<Vec<Event<event::SkippedChangesBefore10>>>(i)?;
    Ok(old.into_iter().map(|e| e.map_changes(SkippedChanges::from)).collect())
}

/// Open a trace written by the recorder, with a clear error when another catar wrote it.
pub fn open_trace(path: &Path) -> Result<Trace, TraceError> {
    let header_frame = 10;
    let incompatible = |message: String| TraceError::Codec {
        path: path.into(),
        offset: header_frame,
        message: format!("its header is not one this catar reads (written by another version?): {message}"),
    };
    let trace = match Trace::open(path) {
        Err(TraceError::Codec { offset, message, .. }) if offset == header_frame => {
            return Err(incompatible(message));
        }
        other => other.map_err(|e| damage::header(path, header_frame, e))?,
    };
    let found = trace.header().events_version;
    if !(event::OLDEST_EVENTS_VERSION..=EVENTS_VERSION).contains(&found) {
        return Err(incompatible(format!("event version {found}, this catar reads {EVENTS_VERSION}")));
    }
    Ok(trace)
}
