//! The recorder on every node: turns each step report into an event, keeping the node's mass
//! and the count of records holding each context in each cabinet, so that appearances and
//! disappearances are exact. Events are buffered per node and handed to the writer thread in
//! chunks over a bounded channel: a slow disk slows the pipeline, it never loses events.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;

use super::event::{Checkpoint, Event, Failure, Level, RowSnapshot, Step, TraceValue};
use super::keys::KeysBuilder;
use super::out::{ChangesOut, StepEvent, runs_of};
use crate::engine::{self, NodeId, OpKind, StepHook, StepPoint, Workspace};
use crate::model::{ContextId, Value};
use crate::ops::{Presence, PresenceChange, ReportDetail, StepReport};
use crate::trace::{ChunkBuilder, ChunkKind, ChunkMeta, EncodedChunk};

/// Events per chunk: big enough to compress well, small enough to lose little on a crash.
const CHUNK_EVENTS: u64 = 2048;
/// Encoded bytes per chunk at most (give or take a step): full-level steps are large, and a
/// chunk must stay far below the trace format's frame limit.
const CHUNK_BYTES: usize = 1 << 20;

/// What a node hands the writer thread.
pub(crate) enum Flush {
    /// A chunk, already encoded by the node (in parallel with the other nodes) so that the
    /// single writer thread only appends bytes.
    Chunk(EncodedChunk<Vec<Event>>),
    /// Put every chunk written so far on disk, then answer: a parked node waits for it.
    Sync(Sender<()>),
}

/// What a full-level node keys in its events chunks (see [`super::ChunkKeys`]).
pub(crate) struct Keying {
    /// Per context id: an identifier, whose values a search looks records up by.
    pub identifiers: Arc<[bool]>,
    /// Per table id of the node: a table of the flow, whose reg_ids are records'.
    pub flow: Vec<bool>,
    /// Whether the values of charged records are keyed: not when the stage before the node's
    /// is recorded too, since they are the values those records left it with, keyed there
    /// (a search finds the records there and follows them here by reg_id).
    pub charges: bool,
    /// Whether a record arriving as the stage before sent it is written as carried in (a run
    /// of no values): when that stage is recorded in full for as long, into this file alone.
    pub carry: bool,
}

/// Ticks between two checkpoints at full level: a replay reaches any step by reading at most
/// this many ticks of changes after the nearest checkpoint.
const CHECKPOINT_TICKS: u64 = 32;

pub(crate) struct NodeRecorder {
    node: u16,
    level: Level,
    duration: Option<i64>,
    /// At full level, what the events chunks are keyed by, and the keys of the chunk so far.
    keying: Option<Keying>,
    keys: KeysBuilder,
    first_time: Option<i64>,
    stopped: bool,
    presence: Presence,
    change: PresenceChange,
    steps: u64,
    /// The global step of the node's last step (its end is placed there).
    last_step: u64,
    time: i64,
    /// The events chunk being filled, encoded event by event.
    chunk: ChunkBuilder<Event>,
    /// Scratch for the runs of a step's values.
    runs: Vec<(u16, u64, u16, u32)>,
    meta: Option<ChunkMeta>,
    tx: Sender<Flush>,
    origin: Instant,
    started: Instant,
    last_checkpoint: Option<u64>,
    /// The node restarted since its last step: the next tick starts with a checkpoint.
    restarted: bool,
    // The node's pseudo-time when its last attempt failed (the restart rolls the clock back).
    failed_at: i64,
    /// Its restarts so far, written with each checkpoint.
    restarts: u32,
}

impl Keying {
    fn flow(&self, table: u16) -> bool {
        self.flow.get(table as usize).copied().unwrap_or(false)
    }

    /// Key one value a step set (`charged`: in a charge step).
    fn key(
        &self,
        keys: &mut KeysBuilder,
        charged: bool,
        table: u16,
        reg_id: u64,
        context: ContextId,
        value: &Value,
    ) {
        if self.flow(table) {
            keys.touch(reg_id);
            if (self.charges || !charged)
                && self.identifiers.get(context.0 as usize).copied().unwrap_or(false)
            {
                keys.value(context.0, value);
            }
        }
    }
}

/// Key the records a step moved, freed or copied into (and from).
fn key_moves(k: &Keying, keys: &mut KeysBuilder, report: &StepReport) {
    report.transitions.iter().filter(|t| k.flow(t.table.0)).for_each(|t| keys.touch(t.reg_id));
    report.freed.iter().filter(|f| k.flow(f.0.0)).for_each(|f| keys.touch(f.1));
    for c in &report.copies {
        [(c.table, c.reg_id), (c.from_table, c.from_reg_id)]
            .into_iter()
            .filter(|t| k.flow(t.0.0))
            .for_each(|t| keys.touch(t.1));
    }
}

impl NodeRecorder {
    pub fn new(
        node: u16,
        level: Level,
        duration: Option<i64>,
        cabinets: usize,
        keying: Option<Keying>,
        tx: Sender<Flush>,
        origin: Instant,
    ) -> Self {
        NodeRecorder {
            node,
            level,
            duration,
            keying,
            keys: KeysBuilder::default(),
            first_time: None,
            stopped: false,
            presence: Presence::new(cabinets),
            change: PresenceChange::default(),
            steps: 0,
            last_step: 0,
            time: 0,
            chunk: ChunkBuilder::default(),
            runs: Vec::new(),
            meta: None,
            tx,
            origin,
            started: origin,
            last_checkpoint: None,
            restarted: false,
            failed_at: 0,
            restarts: 0,
        }
    }

    fn push(&mut self, event: Event, step: u64, time: i64) {
        self.chunk.push(&event);
        self.pushed(step, time);
    }

    /// Account for the event just appended to the chunk, sending the chunk once full.
    fn pushed(&mut self, step: u64, time: i64) {
        let meta = self.meta.get_or_insert(ChunkMeta {
            node: self.node,
            first_step: step,
            last_step: step,
            first_time: time,
            last_time: time,
        });
        meta.last_step = step;
        meta.last_time = time;
        if self.chunk.len() >= CHUNK_EVENTS || self.chunk.bytes() >= CHUNK_BYTES {
            self.flush();
        }
    }

    /// Hand the buffered chunk to the writer and wait until all it was given is on disk.
    fn sync(&mut self) {
        self.flush();
        let (done, written) = crossbeam_channel::bounded(1);
        if !self.stopped && self.tx.send(Flush::Sync(done)).is_ok() {
            let _ = written.recv();
        }
    }

    fn flush(&mut self) {
        if let Some(meta) = self.meta.take() {
            // A closed channel means the writer failed; it reports why when the run finishes.
            let mut sent =
                self.tx.send(Flush::Chunk(self.chunk.take(ChunkKind::Events, meta.clone()))).is_ok();
            // At full level a keys chunk follows: a search skips the events chunk on its keys
            // without decoding it.
            if sent && self.keying.is_some() {
                let keys = vec![Event::Keys(Box::new(self.keys.take()))];
                sent = self.tx.send(Flush::Chunk(EncodedChunk::new(ChunkKind::Keys, meta, &keys))).is_ok();
            }
            if !sent {
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
        if self.tx.send(Flush::Chunk(EncodedChunk::new(ChunkKind::Checkpoint, meta, &chunk))).is_err() {
            self.stopped = true;
        }
    }

    /// True while the node's pseudo-time is within `duration` of its first known time. Steps
    /// before the clock starts (time 0: no event time seen yet) are within: the window opens
    /// at the first event time, not at the epoch.
    fn within_duration(&mut self, time: i64) -> bool {
        if time == 0 {
            return true;
        }
        let first = *self.first_time.get_or_insert(time);
        self.duration.is_none_or(|d| time - first <= d)
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

    fn after_step(&mut self, at: &StepPoint<'_>, report: &StepReport, ws: &Workspace) {
        let wall_us = self.started.elapsed().as_micros().min(u32::MAX as u128) as u32;
        let wall_start_us = self.started.duration_since(self.origin).as_micros() as u64;
        let time = at.pseudo_time.map_or(0, |t| t.as_second());
        self.steps = at.node_step + 1;
        self.last_step = at.global_step;
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
            // Written straight from the report: the values are not copied into the step.
            let tables = ws.tables();
            // One walk over the values finds their runs and keys them.
            let mut keying = self.keying.as_ref().map(|k| (k, &mut self.keys));
            if let Some((k, keys)) = keying.as_mut() {
                key_moves(k, keys, report);
            }
            let charged = at.op == OpKind::Charge;
            let carry = self.keying.as_ref().is_some_and(|k| k.carry);
            let values = runs_of(report, tables, carry, &mut self.runs, |table, reg_id, context, value| {
                if let Some((k, keys)) = keying.as_mut() {
                    k.key(keys, charged, table, reg_id, context, value);
                }
            });
            let changes = Some(ChangesOut { report, tables, carry, runs: &self.runs, values });
            self.chunk.push_as(&StepEvent { step: &step, changes });
        } else {
            self.chunk.push(&Event::Step(step));
        }
        self.pushed(at.global_step, time);
    }

    fn failed(&mut self, _at: &StepPoint<'_>, _failure: &engine::Failure, ws: &Workspace) {
        self.failed_at = ws.clock.seconds();
    }

    fn restarted(&mut self, _node: &NodeId, failure: &engine::Failure, _ws: &Workspace) {
        self.restarts = failure.restarts;
        // When it failed, as a live stop at the failure shows it.
        let time = self.failed_at;
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
            // Not the buffered chunk's last step: a park may just have sent it.
            self.push(done, self.last_step, self.time);
        }
        // On disk before the node says it is done: a history asked at a stop reads a done
        // node's steps from the file (it found nothing when the writer had not got to them).
        self.sync();
    }

    fn park(&mut self) {
        // The node waits anyway: it waits for the disk too, so that a reader opening the
        // trace now (a history asked at its stop) finds its steps.
        self.sync();
    }
}
