use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender, TryRecvError, TrySendError};

use super::control::{Activity, Gauge, Peer};
use super::hook::settle;
use super::pipeline::{Batch, EngineError, SinkBatch};
use super::program::{Port, StatementError};
use super::supervisor::{Failure, Fault, Supervision, panic_message, supervised};
use super::{Stage, StepHook, StepPoint, Workspace};
use crate::model::{Record, TableId, Value};
use crate::ops::{StepReport, linkey_of};

/// A node: one segment of one stage, running in its own thread (`REG/0`, `RATE/1` …).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeId {
    /// Position of its stage in the pipeline.
    pub stage: usize,
    /// Its segment within the stage.
    pub segment: usize,
    /// `STAGE/segment`.
    pub name: String,
}

impl NodeId {
    pub(crate) fn new(stage: usize, stage_name: &str, segment: usize) -> Self {
        NodeId { stage, segment, name: format!("{stage_name}/{segment}") }
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// What a node did in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStats {
    /// The node.
    pub node: NodeId,
    /// Ticks that had records to process.
    pub ticks: u64,
    /// Statements executed.
    pub steps: u64,
    /// Records received.
    pub records_in: u64,
    /// Records sent downstream or to the sink.
    pub records_out: u64,
    /// Times the node failed and restarted.
    pub restarts: u32,
    /// The faults injected into the node, each with the times it fired (0: the node never
    /// reached its step).
    pub faults: Vec<(Fault, u32)>,
}

/// Routes a record to one of `n` segments by the value of the stage's key, so that all records
/// of a key go to one segment.
pub(crate) fn route(record: &mut Record, stage: &Stage, n: usize) -> usize {
    let trackey = linkey_of([record.get(stage.key)]);
    record.header.trackey = trackey;
    (trackey % n as u64) as usize
}

pub(crate) struct Node<'a> {
    pub id: NodeId,
    pub stage: &'a Stage,
    pub inputs: Vec<Receiver<Batch>>,
    pub next: Option<(&'a Stage, Vec<Sender<Batch>>)>,
    pub sink: Sender<SinkBatch>,
    pub hook: Box<dyn StepHook>,
    pub global_step: Arc<AtomicU64>,
    /// Every node's gauge, and this node's index among them.
    pub board: Arc<Vec<(NodeId, Gauge)>>,
    pub index: usize,
    /// Who feeds each input, and who each `next` sender feeds.
    pub upstream: Vec<Peer>,
    pub downstream: Vec<Peer>,
    pub supervision: &'a Supervision,
    /// The faults injected into this node, with the attempts each has left to fail.
    pub faults: Vec<(Fault, Option<usize>)>,
    /// The copy of the current tick's records, to retry them.
    pub retry: Vec<Record>,
}

/// How long a node waits on a channel before it parks its hooks: far longer than the waits
/// of a flowing pipeline (so its recorder keeps filling whole chunks), short enough that a
/// node stuck behind a frozen one shows its steps in the trace soon after.
pub const PARK_AFTER: Duration = Duration::from_millis(100);

/// Receive, marking the node as waiting on `peer` while the channel is empty, and parking
/// `hook` when the wait goes on.
fn receive_from<T>(rx: &Receiver<T>, gauge: &Gauge, peer: Peer, hook: &mut dyn StepHook) -> Option<T> {
    match rx.try_recv() {
        Ok(v) => Some(v),
        Err(TryRecvError::Disconnected) => None,
        Err(TryRecvError::Empty) => {
            gauge.set(Activity::Waiting(peer));
            let v = match rx.recv_timeout(PARK_AFTER) {
                Ok(v) => Some(v),
                Err(RecvTimeoutError::Disconnected) => None,
                Err(RecvTimeoutError::Timeout) => {
                    hook.park();
                    gauge.parked(true);
                    let v = rx.recv().ok();
                    gauge.parked(false);
                    v
                }
            };
            gauge.set(Activity::Running);
            v
        }
    }
}

/// Send, marking the node as blocked on `peer` while the channel is full, and parking `hook`
/// when the block goes on. False when the receiver is gone.
fn send_to<T>(tx: &Sender<T>, value: T, gauge: &Gauge, peer: Peer, hook: &mut dyn StepHook) -> bool {
    match tx.try_send(value) {
        Ok(()) => true,
        Err(TrySendError::Disconnected(_)) => false,
        Err(TrySendError::Full(v)) => {
            gauge.set(Activity::Blocked(peer));
            let sent = match tx.send_timeout(v, PARK_AFTER) {
                Ok(()) => true,
                Err(SendTimeoutError::Disconnected(_)) => false,
                Err(SendTimeoutError::Timeout(v)) => {
                    hook.park();
                    gauge.parked(true);
                    let sent = tx.send(v).is_ok();
                    gauge.parked(false);
                    sent
                }
            };
            gauge.set(Activity::Running);
            sent
        }
    }
}

/// True when an injected fault makes the statement at `position`, about to run as node step
/// `step`, fail: the fault's first firing is at its step, the next ones at the same statement.
fn fault_fires(faults: &mut [(Fault, Option<usize>)], step: u64, position: usize) -> bool {
    faults.iter_mut().any(|(fault, at)| {
        let fires = fault.times > 0 && (step == fault.step || *at == Some(position));
        if fires {
            fault.times -= 1;
            *at = Some(position);
        }
        fires
    })
}

impl Node<'_> {
    /// Tick over every window until the upstream closes.
    pub fn run(mut self) -> Result<NodeStats, EngineError> {
        let board = self.board.clone();
        let gauge = &board[self.index].1;
        gauge.set(Activity::Running);
        let result = self.run_ticks(gauge);
        gauge.set(if result.is_ok() { Activity::Done } else { Activity::Failed });
        result
    }

    fn run_ticks(&mut self, gauge: &Gauge) -> Result<NodeStats, EngineError> {
        let mut ws = self.stage.workspace();
        let mut stats = NodeStats {
            node: self.id.clone(),
            ticks: 0,
            steps: 0,
            records_in: 0,
            records_out: 0,
            restarts: 0,
            faults: Vec::new(),
        };
        let injected: Vec<Fault> = self.faults.iter().map(|(f, _)| f.clone()).collect();
        let mut report = StepReport::with_detail(self.hook.detail());
        while let Some((window, records)) = self.receive(gauge)? {
            stats.records_in += records.len() as u64;
            if !records.is_empty() {
                stats.ticks += 1;
                self.supervised_tick(&mut ws, &mut report, window, records, &mut stats, gauge)?;
            }
            gauge.clock(ws.clock.seconds());
            self.flush(&mut ws, window, &mut stats, gauge)?;
        }
        self.hook.finish(&self.id);
        // Firing counts a fault's times down.
        stats.faults = (injected.into_iter().zip(&self.faults))
            .map(|(f, (left, _))| {
                let fired = f.times - left.times;
                (f, fired)
            })
            .collect();
        Ok(stats)
    }

    /// One batch per upstream for the next window, merged in reg_id (input) order; `None` when
    /// every upstream has closed at the same window boundary.
    fn receive(&mut self, gauge: &Gauge) -> Result<Option<(u64, Vec<Record>)>, EngineError> {
        let mut window = None;
        let mut records = Vec::new();
        let mut closed = 0;
        for (rx, &peer) in self.inputs.iter().zip(&self.upstream) {
            match receive_from(rx, gauge, peer, &mut *self.hook) {
                Some(batch) => {
                    if window.is_some_and(|w| w != batch.window) {
                        return Err(EngineError::Disconnected { node: self.id.name.clone() });
                    }
                    window = Some(batch.window);
                    gauge.received(batch.records.len());
                    records.extend(batch.records);
                }
                None => closed += 1,
            }
        }
        match (closed, window) {
            (0, Some(w)) => {
                if self.inputs.len() > 1 {
                    records.sort_by_key(|r| r.header.reg_id);
                }
                Ok(Some((w, records)))
            }
            (n, None) if n == self.inputs.len() => Ok(None),
            _ => Err(EngineError::Disconnected { node: self.id.name.clone() }),
        }
    }

    /// Run a window's records. When an attempt fails the node restarts (seed 000): its
    /// workspace is rolled back as the tick found it, and it runs the same records again in
    /// halves, in order, until the record that keeps failing is alone: the others go through,
    /// and a record failing alone `max_failures` times is quarantined.
    fn supervised_tick(
        &mut self,
        ws: &mut Workspace,
        report: &mut StepReport,
        window: u64,
        records: Vec<Record>,
        stats: &mut NodeStats,
        gauge: &Gauge,
    ) -> Result<(), EngineError> {
        // A copy for the retries (the attempt consumes and changes its records), into the
        // records copied last tick: no allocation once their slots are grown.
        self.retry.clone_from(&records);
        let Err(failure) = self.attempt(ws, report, window, records, stats, gauge) else { return Ok(()) };
        let mut pending = VecDeque::from([std::mem::take(&mut self.retry)]);
        let mut failure = Some(failure);
        // Failures of the record at the front while it is attempted alone.
        let mut failed_alone = 0;
        while let Some(batch) = pending.pop_front() {
            let failure = match failure.take() {
                Some(f) => f,
                None => match self.attempt(ws, report, window, batch.clone(), stats, gauge) {
                    Ok(()) => {
                        failed_alone = 0;
                        continue;
                    }
                    Err(f) => f,
                },
            };
            if batch.len() > 1 {
                self.restart(ws, failure, None, stats, gauge)?;
                let mut first = batch;
                let second = first.split_off(first.len() / 2);
                pending.push_front(second);
                pending.push_front(first);
                continue;
            }
            failed_alone += 1;
            if failed_alone >= self.supervision.max_failures {
                failed_alone = 0;
                let record = batch.into_iter().next();
                self.restart(ws, failure, record, stats, gauge)?;
            } else {
                self.restart(ws, failure, None, stats, gauge)?;
                pending.push_front(batch);
            }
        }
        Ok(())
    }

    /// Undo the failed attempt, count the restart, quarantine the record that failed too
    /// often (or end the run with its error when there is no quarantine), and tell the hook.
    fn restart(
        &mut self,
        ws: &mut Workspace,
        mut failure: Failure,
        quarantined: Option<Record>,
        stats: &mut NodeStats,
        gauge: &Gauge,
    ) -> Result<(), EngineError> {
        gauge.set(Activity::Failed);
        ws.rollback_tick();
        stats.restarts += 1;
        failure.restarts = stats.restarts;
        if let Some(mut record) = quarantined {
            let Some(q) = &self.supervision.quarantine else {
                return Err(EngineError::Statement {
                    node: self.id.name.clone(),
                    statement: failure.statement,
                    message: failure.message,
                });
            };
            failure.quarantined = Some((record.header.reg_id, q.cabinet));
            record.header.cabinet = q.cabinet;
            record.set(q.error, Value::text(&failure.message));
            let batch = SinkBatch { node: self.id.clone(), table: q.table.clone(), records: vec![record] };
            if !send_to(&self.sink, batch, gauge, Peer::Sink, &mut *self.hook) {
                return Err(EngineError::Disconnected { node: self.id.name.clone() });
            }
            stats.records_out += 1;
        }
        gauge.restarted(&failure.message);
        self.hook.restarted(&self.id, &failure, ws);
        gauge.set(Activity::Running);
        Ok(())
    }

    /// One attempt at a tick: charge `records`, run every statement. A failed attempt (a
    /// statement's error or panic, an injected fault) leaves the workspace as the failure left
    /// it, for the hook to see; the restart undoes it.
    fn attempt(
        &mut self,
        ws: &mut Workspace,
        report: &mut StepReport,
        window: u64,
        records: Vec<Record>,
        stats: &mut NodeStats,
        gauge: &Gauge,
    ) -> Result<(), Failure> {
        ws.begin_tick();
        ws.inbox = records;
        for (position, statement) in self.stage.statements.iter().enumerate() {
            let mut point = StepPoint {
                node: &self.id,
                statement: position,
                name: &statement.name,
                op: statement.op,
                node_step: stats.steps,
                global_step: self.global_step.fetch_add(1, Ordering::Relaxed),
                tick: window,
                pseudo_time: ws.clock.now(),
            };
            self.hook.before_step(&point, ws);
            settle(&mut *self.hook, &point, ws);
            report.clear();
            let faulty = fault_fires(&mut self.faults, stats.steps, position);
            let outcome = if faulty {
                Err(StatementError("injected fault".into()))
            } else {
                supervised(|| statement.run(ws, report)).unwrap_or_else(|p| {
                    Err(StatementError(format!("panicked: {}", panic_message(p.as_ref()))))
                })
            };
            stats.steps += 1;
            gauge.step();
            if let Err(e) = outcome {
                let failure = Failure {
                    statement: statement.name.clone(),
                    position,
                    node_step: point.node_step,
                    global_step: point.global_step,
                    tick: window,
                    message: e.0,
                    restarts: 0,
                    quarantined: None,
                };
                point.pseudo_time = ws.clock.now();
                self.hook.failed(&point, &failure, ws);
                settle(&mut *self.hook, &point, ws);
                return Err(failure);
            }
            // After the step the clock may have moved (a charge observes its batch).
            point.pseudo_time = ws.clock.now();
            self.hook.after_step(&point, report, ws);
            settle(&mut *self.hook, &point, ws);
        }
        if !ws.inbox.is_empty() {
            // Records never vanish: a program that does not charge its inbox is a bug.
            return Err(Failure {
                statement: "(end of tick)".into(),
                position: self.stage.statements.len(),
                node_step: stats.steps,
                global_step: self.global_step.load(Ordering::Relaxed),
                tick: window,
                message: format!("{} records were never charged", ws.inbox.len()),
                restarts: 0,
                quarantined: None,
            });
        }
        ws.commit_tick();
        Ok(())
    }

    /// Send this window's port tables on: the next stage gets one batch per segment (empty
    /// ones too, so that it knows the window is complete), the sink gets what there is.
    fn flush(
        &mut self,
        ws: &mut Workspace,
        window: u64,
        stats: &mut NodeStats,
        gauge: &Gauge,
    ) -> Result<(), EngineError> {
        let disconnected = || EngineError::Disconnected { node: self.id.name.clone() };
        for id in self.stage.port_tables(Port::Sink).collect::<Vec<TableId>>() {
            let records = ws.table_mut(id).drain();
            if !records.is_empty() {
                stats.records_out += records.len() as u64;
                let table = ws.table(id).name().to_string();
                let batch = SinkBatch { node: self.id.clone(), table, records };
                if !send_to(&self.sink, batch, gauge, Peer::Sink, &mut *self.hook) {
                    return Err(disconnected());
                }
            }
        }
        if let Some((next, senders)) = &self.next {
            let mut parts: Vec<Vec<Record>> = vec![Vec::new(); senders.len()];
            for id in self.stage.port_tables(Port::Next).collect::<Vec<TableId>>() {
                for mut r in ws.table_mut(id).drain() {
                    let to = route(&mut r, next, senders.len());
                    r.mark_sent();
                    parts[to].push(r);
                }
            }
            for ((tx, records), &peer) in senders.iter().zip(parts).zip(&self.downstream) {
                stats.records_out += records.len() as u64;
                if !send_to(tx, Batch { window, records }, gauge, peer, &mut *self.hook) {
                    return Err(disconnected());
                }
            }
        }
        for t in 0..ws.tables().len() {
            let table = ws.table_mut(TableId(t as u16));
            if matches!(table.kind(), crate::model::TableKind::Reactor(_)) {
                table.compact();
            }
        }
        Ok(())
    }
}
