//! The recorder on every node: turns each step report into an event, keeping the node's mass
//! and the count of records holding each context in each cabinet, so that appearances and
//! disappearances are exact. Events are buffered per node and handed to the writer thread in
//! chunks over a bounded channel: a slow disk slows the pipeline, it never loses events.

use std::time::Instant;

use crossbeam_channel::Sender;

use super::event::{Changes, Checkpoint, Event, Failure, Level, RowSnapshot, Step, TraceValue};
use crate::engine::{self, NodeId, StepHook, StepPoint, Workspace};
use crate::ops::{Presence, PresenceChange, ReportDetail, StepReport};
use crate::trace::{ChunkKind, ChunkMeta, EncodedChunk};

/// Events per chunk: big enough to compress well, small enough to lose little on a crash.
const CHUNK_EVENTS: usize = 2048;
/// Estimated encoded bytes per chunk: full-level steps are large, and a chunk must stay far
/// below the trace format's frame limit.
const CHUNK_BYTES: usize = 1 << 20;

/// A chunk on its way to the writer, already encoded by the node (in parallel with the
/// other nodes) so that the single writer thread only appends bytes.
pub(crate) type Flush = EncodedChunk<Vec<Event>>;

/// An events chunk on its way to be keyed (full level).
pub(crate) type ToKey = (ChunkMeta, Vec<Event>);

/// Ticks between two checkpoints at full level: a replay reaches any step by reading at most
/// this many ticks of changes after the nearest checkpoint.
const CHECKPOINT_TICKS: u64 = 32;

pub(crate) struct NodeRecorder {
    node: u16,
    level: Level,
    duration: Option<i64>,
    /// Where a full-level events chunk goes to be keyed, once encoded.
    keys: Option<Sender<ToKey>>,
    first_time: Option<i64>,
    stopped: bool,
    presence: Presence,
    change: PresenceChange,
    steps: u64,
    time: i64,
    buffer: Vec<Event>,
    buffered_bytes: usize,
    meta: Option<ChunkMeta>,
    tx: Sender<Flush>,
    origin: Instant,
    started: Instant,
    last_checkpoint: Option<u64>,
    /// The node restarted since its last step: the next tick starts with a checkpoint.
    restarted: bool,
    /// Its restarts so far, written with each checkpoint.
    restarts: u32,
}

impl NodeRecorder {
    pub fn new(
        node: u16,
        level: Level,
        duration: Option<i64>,
        cabinets: usize,
        keys: Option<Sender<ToKey>>,
        tx: Sender<Flush>,
        origin: Instant,
    ) -> Self {
        NodeRecorder {
            node,
            level,
            duration,
            keys,
            first_time: None,
            stopped: false,
            presence: Presence::new(cabinets),
            change: PresenceChange::default(),
            steps: 0,
            time: 0,
            buffer: Vec::with_capacity(CHUNK_EVENTS),
            buffered_bytes: 0,
            meta: None,
            tx,
            origin,
            started: origin,
            last_checkpoint: None,
            restarted: false,
            restarts: 0,
        }
    }

    fn push(&mut self, event: Event, step: u64, time: i64) {
        let meta = self.meta.get_or_insert(ChunkMeta {
            node: self.node,
            first_step: step,
            last_step: step,
            first_time: time,
            last_time: time,
        });
        meta.last_step = step;
        meta.last_time = time;
        self.buffered_bytes += estimated_size(&event);
        self.buffer.push(event);
        if self.buffer.len() >= CHUNK_EVENTS || self.buffered_bytes >= CHUNK_BYTES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if let Some(meta) = self.meta.take() {
            let events = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_EVENTS));
            self.buffered_bytes = 0;
            // A closed channel means the writer failed; it reports why when the run finishes.
            let sent = self.tx.send(EncodedChunk::new(ChunkKind::Events, meta.clone(), &events)).is_ok();
            // At full level the chunk is keyed too, by the recorder's keys thread: a search
            // then skips it without decoding it.
            if !sent || self.keys.as_ref().is_some_and(|k| k.send((meta, events)).is_err()) {
                self.stopped = true;
            }
        }
    }

    /// Write the node's tables as a checkpoint chunk. The events buffered before it are not
    /// flushed first: readers place a checkpoint by its step, and fewer, fuller events chunks
    /// keep the index (which a replay holds in memory) small.
    fn checkpoint(&mut self, at: &StepPoint<'_>, ws: &Workspace) {
        self.last_checkpoint = Some(at.tick);
        let time = at.pseudo_time.map_or(0, |t| t.as_second());
        let tables = ws
            .tables()
            .iter()
            .filter(|t| t.live_count() > 0)
            .map(|t| {
                let rows = t
                    .live()
                    .map(|r| RowSnapshot {
                        reg_id: r.header.reg_id,
                        cabinet: r.header.cabinet.0,
                        linkey: r.header.linkey,
                        link_to: r.header.link_to,
                        skip: r.header.skip,
                        values: r.contexts().map(|(c, v)| (c.0, TraceValue::from(v))).collect(),
                    })
                    .collect();
                (t.id().0, rows)
            })
            .collect();
        let checkpoint = Checkpoint {
            node: self.node,
            tick: at.tick,
            node_step: at.node_step,
            global_step: at.global_step,
            time,
            tables,
        };
        let meta = ChunkMeta {
            node: self.node,
            first_step: at.global_step,
            last_step: at.global_step,
            first_time: time,
            last_time: time,
        };
        let mut chunk = vec![Event::Checkpoint(Box::new(checkpoint))];
        if self.restarts > 0 {
            chunk.push(Event::Restarts { node: self.node, restarts: self.restarts });
        }
        if self.tx.send(EncodedChunk::new(ChunkKind::Checkpoint, meta, &chunk)).is_err() {
            self.stopped = true;
        }
    }

    fn within_duration(&mut self, time: i64) -> bool {
        let first = *self.first_time.get_or_insert(time);
        self.duration.is_none_or(|d| time - first <= d)
    }
}

/// The context values of a full-level step: consecutive values of one record (a charged
/// record's contexts, a collision's fills) share one run instead of repeating its table,
/// reg_id and cabinet each.
fn changes_of(report: &StepReport) -> Changes {
    let mut runs: Vec<(u16, u64, u16, u32)> = Vec::new();
    let mut values = Vec::with_capacity(report.contexts.len());
    for c in &report.contexts {
        match runs.last_mut() {
            Some(r) if r.0 == c.table.0 && r.1 == c.reg_id && r.2 == c.cabinet.0 => r.3 += 1,
            _ => runs.push((c.table.0, c.reg_id, c.cabinet.0, 1)),
        }
        values.push((c.context.0, TraceValue::from(&c.value)));
    }
    Changes { runs, values, ..Changes::default() }
}

/// A generous estimate of an event's encoded size.
fn estimated_size(event: &Event) -> usize {
    match event {
        Event::Step(s) => {
            let changes = s.changes.as_ref().map_or(0, |c| {
                c.transitions.len() * 24
                    + c.runs.len() * 16
                    + c.values
                        .iter()
                        .map(|v| 8 + matches!(&v.1, TraceValue::Text(t) if t.len() > 8) as usize * 64)
                        .sum::<usize>()
            });
            64 + 16 * (s.mass.len() + s.appeared.len() + s.disappeared.len())
                + 8 * (s.contexts_appeared.len() + s.contexts_disappeared.len())
                + changes
        }
        Event::Failure(f) => 96 + f.message.len(),
        Event::Done { .. } | Event::Checkpoint(_) | Event::Keys(_) | Event::Restarts { .. } => 32,
    }
}

impl StepHook for NodeRecorder {
    fn detail(&self) -> ReportDetail {
        match self.level {
            Level::Off => ReportDetail::Off,
            Level::Summary => ReportDetail::Summary,
            Level::Full => ReportDetail::Full,
        }
    }

    fn before_step(&mut self, at: &StepPoint<'_>, ws: &Workspace) {
        if at.statement == 0 {
            self.presence.remember();
            if self.level == Level::Full && !self.stopped {
                // After an undone tick a replay cannot roll forward through it: it restores
                // the tables here.
                let due =
                    self.restarted || self.last_checkpoint.is_none_or(|t| at.tick >= t + CHECKPOINT_TICKS);
                if due {
                    self.restarted = false;
                    self.checkpoint(at, ws);
                }
            }
        }
        self.started = Instant::now();
    }

    fn after_step(&mut self, at: &StepPoint<'_>, report: &StepReport, _ws: &Workspace) {
        let wall_us = self.started.elapsed().as_micros().min(u32::MAX as u128) as u32;
        let wall_start_us = self.started.duration_since(self.origin).as_micros() as u64;
        let time = at.pseudo_time.map_or(0, |t| t.as_second());
        self.steps = at.node_step + 1;
        self.time = time;
        if self.stopped || !self.within_duration(time) {
            return;
        }
        let mut step = Step {
            node: self.node,
            node_step: at.node_step,
            global_step: at.global_step,
            statement: at.statement as u16,
            tick: at.tick,
            time,
            wall_start_us,
            wall_us,
            ..Step::default()
        };
        self.presence.apply(report, &mut self.change);
        let c = &self.change;
        step.mass = c.mass.iter().map(|&(cab, d)| (cab.0, d)).collect();
        step.appeared = c.appeared.iter().map(|cab| cab.0).collect();
        step.disappeared = c.disappeared.iter().map(|cab| cab.0).collect();
        step.contexts_appeared = c.contexts_appeared.iter().map(|(cab, x)| (cab.0, x.0)).collect();
        step.contexts_disappeared = c.contexts_disappeared.iter().map(|(cab, x)| (cab.0, x.0)).collect();
        if self.level == Level::Full {
            step.changes = Some(Changes {
                freed: report.freed.iter().map(|f| (f.0.0, f.1, f.3.0)).collect(),
                transitions: report
                    .transitions
                    .iter()
                    .map(|t| (t.table.0, t.reg_id, t.from.0, t.to.0))
                    .collect(),
                ..changes_of(report)
            });
        }
        self.push(Event::Step(step), at.global_step, time);
    }

    fn restarted(&mut self, _node: &NodeId, failure: &engine::Failure, ws: &Workspace) {
        self.restarts = failure.restarts;
        let time = ws.clock.seconds();
        if self.stopped || !self.within_duration(time) {
            return;
        }
        self.presence.restore(&mut self.change);
        self.restarted = true;
        let c = &self.change;
        let undo = Step {
            node: self.node,
            node_step: failure.node_step,
            global_step: failure.global_step,
            statement: failure.position as u16,
            tick: failure.tick,
            time,
            wall_start_us: self.origin.elapsed().as_micros() as u64,
            wall_us: 0,
            mass: c.mass.iter().map(|&(cab, d)| (cab.0, d)).collect(),
            appeared: c.appeared.iter().map(|cab| cab.0).collect(),
            disappeared: c.disappeared.iter().map(|cab| cab.0).collect(),
            contexts_appeared: c.contexts_appeared.iter().map(|(cab, x)| (cab.0, x.0)).collect(),
            contexts_disappeared: c.contexts_disappeared.iter().map(|(cab, x)| (cab.0, x.0)).collect(),
            changes: None,
        };
        let event = Failure {
            message: failure.message.clone(),
            restarts: failure.restarts,
            quarantined: failure.quarantined.map(|(r, c)| (r, c.0)),
            undo,
        };
        self.push(Event::Failure(Box::new(event)), failure.global_step, time);
    }

    fn finish(&mut self, _node: &NodeId) {
        if !self.stopped {
            let done = Event::Done { node: self.node, steps: self.steps, time: self.time };
            let last = self.meta.as_ref().map_or(0, |m| m.last_step);
            self.push(done, last, self.time);
        }
        self.flush();
    }
}
