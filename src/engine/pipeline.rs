use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use crossbeam_channel::{Receiver, Sender, bounded};

use super::control::{Control, Peer};
use super::node::{Node, route};
use super::supervisor::{Supervision, panic_message};
use super::{HookFactory, NodeId, NodeStats, Stage};
use crate::model::{Record, Schema};

/// Any error a source or sink reports; the layer that made it can downcast it back.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Records of one window between two nodes.
pub(crate) struct Batch {
    pub window: u64,
    pub records: Vec<Record>,
}

/// Records a node sends to the sink at the end of a tick, from one of its sink tables.
#[derive(Debug)]
pub struct SinkBatch {
    /// The node that sends them.
    pub node: NodeId,
    /// The name of the sink table they were discharged into.
    pub table: String,
    /// The records.
    pub records: Vec<Record>,
}

/// Where a pipeline's records come from: micro-batches with increasing reg_ids.
pub trait Source: Send {
    /// The next batch of at most `max` records, or `None` at the end.
    fn next_batch(&mut self, max: usize) -> Result<Option<Vec<Record>>, BoxError>;
}

/// Where the records of sink tables go (the store).
pub trait Sink: Send {
    /// Take one batch.
    fn write(&mut self, batch: SinkBatch) -> Result<(), BoxError>;
    /// Every node is done: make everything durable.
    fn finish(&mut self) -> Result<(), BoxError>;
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The source could not read its input.
    #[error("{0}")]
    Source(BoxError),
    /// The sink could not store records.
    #[error("{0}")]
    Sink(BoxError),
    /// A statement failed.
    #[error("node {node}, statement {statement}: {message}")]
    Statement {
        /// The node.
        node: String,
        /// The statement.
        statement: String,
        /// What went wrong.
        message: String,
    },
    /// A node's thread panicked.
    #[error("node {node} panicked: {message}")]
    Panicked {
        /// The node.
        node: String,
        /// The panic message.
        message: String,
    },
    /// A neighbour of this node stopped early (a consequence of another error).
    #[error("node {node}: a neighbour stopped early")]
    Disconnected {
        /// The node that noticed.
        node: String,
    },
    /// The pipeline definition is unusable.
    #[error("pipeline: {0}")]
    Definition(String),
}

impl EngineError {
    fn is_consequence(&self) -> bool {
        matches!(self, EngineError::Disconnected { .. })
    }
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// Per node, in stage then segment order.
    pub nodes: Vec<NodeStats>,
    /// Steps executed by all nodes.
    pub steps: u64,
    /// Records the source produced.
    pub records: u64,
}

/// Input rows per micro-batch window (per tick across a stage) unless set otherwise.
pub const DEFAULT_WINDOW: usize = 1024;

/// A pipeline: stages joined by bounded channels, each stage run by N segments.
pub struct Pipeline {
    schema: Arc<Schema>,
    stages: Vec<(Stage, usize)>,
    window: usize,
    capacity: usize,
    supervision: Supervision,
}

impl Pipeline {
    /// A pipeline over a schema, with no stages yet.
    pub fn new(schema: Arc<Schema>) -> Self {
        Pipeline {
            schema,
            stages: Vec::new(),
            window: DEFAULT_WINDOW,
            capacity: 4,
            supervision: Supervision::default(),
        }
    }

    /// Append a stage run by `segments` nodes.
    pub fn stage(&mut self, stage: Stage, segments: usize) -> &mut Self {
        self.stages.push((stage, segments.max(1)));
        self
    }

    /// Records per micro-batch window (input rows per tick across a stage).
    pub fn window(&mut self, records: usize) -> &mut Self {
        self.window = records.max(1);
        self
    }

    /// Batches a channel between two nodes holds before the sender waits (backpressure).
    pub fn channel_capacity(&mut self, batches: usize) -> &mut Self {
        self.capacity = batches.max(1);
        self
    }

    /// How failing nodes are restarted and records that keep failing quarantined.
    pub fn supervision(&mut self, supervision: Supervision) -> &mut Self {
        self.supervision = supervision;
        self
    }

    /// The supervision settings, to change.
    pub fn supervision_mut(&mut self) -> &mut Supervision {
        &mut self.supervision
    }

    /// The schema.
    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// The stages and their segment counts.
    pub fn stages(&self) -> impl Iterator<Item = (&Stage, usize)> {
        self.stages.iter().map(|(s, n)| (s, *n))
    }

    /// The nodes, in stage then segment order.
    pub fn nodes(&self) -> Vec<NodeId> {
        let mut v = Vec::new();
        for (i, (stage, n)) in self.stages.iter().enumerate() {
            v.extend((0..*n).map(|seg| NodeId::new(i, &stage.name, seg)));
        }
        v
    }

    /// Run to the end of the source: one thread per node, one for the source and one for the
    /// sink. Returns the first root-cause error if any thread failed.
    pub fn run(
        &self,
        source: &mut dyn Source,
        sink: &mut dyn Sink,
        hooks: &dyn HookFactory,
    ) -> Result<RunReport, EngineError> {
        self.run_with(source, sink, hooks, &Control::default())
    }

    /// [`run`](Self::run) under a control: it can halt the run (the source stops, what is in
    /// flight completes) and shows what each node is doing meanwhile.
    pub fn run_with(
        &self,
        source: &mut dyn Source,
        sink: &mut dyn Sink,
        hooks: &dyn HookFactory,
        control: &Control,
    ) -> Result<RunReport, EngineError> {
        if self.stages.is_empty() {
            return Err(EngineError::Definition("no stages".into()));
        }
        // channels[s][u][d]: from upstream u (the source for stage 0) to segment d of stage s.
        let mut senders: Vec<Vec<Vec<Sender<Batch>>>> = Vec::new();
        let mut receivers: Vec<Vec<Vec<Receiver<Batch>>>> = Vec::new();
        for (s, (_, n)) in self.stages.iter().enumerate() {
            let upstreams = if s == 0 { 1 } else { self.stages[s - 1].1 };
            let mut tx = vec![Vec::new(); upstreams];
            let mut rx = vec![Vec::new(); *n];
            for tx_u in tx.iter_mut() {
                for rx_d in rx.iter_mut() {
                    let (t, r) = bounded(self.capacity);
                    tx_u.push(t);
                    rx_d.push(r);
                }
            }
            senders.push(tx);
            receivers.push(rx);
        }
        let (sink_tx, sink_rx) = bounded::<super::SinkBatch>(self.capacity * 4);
        let global_step = Arc::new(AtomicU64::new(0));
        let records = AtomicU64::new(0);

        let board = control.begin(self.nodes());
        // Index of each stage's first node, to name a node's neighbours as peers.
        let firsts: Vec<usize> = self
            .stages
            .iter()
            .scan(0, |first, (_, n)| {
                let f = *first;
                *first += n;
                Some(f)
            })
            .collect();
        let stage_nodes = |s: usize| (0..self.stages[s].1).map(|i| Peer::Node(firsts[s] + i)).collect();
        let mut nodes = Vec::new();
        let mut senders = senders.into_iter().map(|s| s.into_iter()).collect::<Vec<_>>();
        let mut receivers = receivers.into_iter().map(|r| r.into_iter()).collect::<Vec<_>>();
        let source_tx = senders[0].next().expect("the source feeds stage 0");
        for (s, (stage, n)) in self.stages.iter().enumerate() {
            for segment in 0..*n {
                let id = NodeId::new(s, &stage.name, segment);
                let faults = self
                    .supervision
                    .faults
                    .iter()
                    .filter(|f| f.node == id.name)
                    .map(|f| (f.clone(), None))
                    .collect();
                let next = self
                    .stages
                    .get(s + 1)
                    .map(|(next, _)| (next, senders[s + 1].next().expect("one sender row per node")));
                let upstream = if s == 0 { vec![Peer::Source] } else { stage_nodes(s - 1) };
                let downstream = if s + 1 < self.stages.len() { stage_nodes(s + 1) } else { Vec::new() };
                nodes.push(Node {
                    hook: hooks.hook_for(&id),
                    id,
                    stage,
                    inputs: receivers[s].next().expect("one receiver row per node"),
                    next,
                    sink: sink_tx.clone(),
                    global_step: global_step.clone(),
                    board: board.clone(),
                    index: firsts[s] + segment,
                    upstream,
                    downstream,
                    supervision: &self.supervision,
                    faults,
                    retry: Vec::new(),
                });
            }
        }
        drop(sink_tx);

        let first_stage = &self.stages[0].0;
        let window = self.window;
        thread::scope(|scope| {
            let source_thread = thread::Builder::new()
                .name("source".into())
                .spawn_scoped(scope, || feed(source, first_stage, source_tx, window, &records, control))
                .expect("spawn source thread");
            let node_threads: Vec<_> = nodes
                .into_iter()
                .map(|node| {
                    let name = node.id.name.clone();
                    let handle = thread::Builder::new()
                        .name(name.clone())
                        .spawn_scoped(scope, move || node.run())
                        .expect("spawn node thread");
                    (name, handle)
                })
                .collect();
            let sink_thread = thread::Builder::new()
                .name("sink".into())
                .spawn_scoped(scope, || drain(sink, sink_rx))
                .expect("spawn sink thread");

            let mut errors = Vec::new();
            let mut stats = Vec::new();
            match source_thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(e),
                Err(p) => errors.push(panicked("source", p)),
            }
            for (i, (name, h)) in node_threads.into_iter().enumerate() {
                match h.join() {
                    Ok(Ok(s)) => stats.push(s),
                    Ok(Err(e)) => errors.push(e),
                    Err(p) => {
                        board[i].1.set(super::Activity::Failed);
                        errors.push(panicked(&name, p));
                    }
                }
            }
            match sink_thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(e),
                Err(p) => errors.push(panicked("sink", p)),
            }
            if let Some(root) = errors.iter().position(|e| !e.is_consequence()).or(if errors.is_empty() {
                None
            } else {
                Some(0)
            }) {
                return Err(errors.swap_remove(root));
            }
            Ok(RunReport {
                nodes: stats,
                steps: global_step.load(Ordering::Relaxed),
                records: records.load(Ordering::Relaxed),
            })
        })
    }
}

fn feed(
    source: &mut dyn Source,
    stage: &Stage,
    senders: Vec<Sender<Batch>>,
    window: usize,
    count: &AtomicU64,
    control: &Control,
) -> Result<(), EngineError> {
    let mut w = 0;
    while !control.halted() {
        let Some(batch) = source.next_batch(window).map_err(EngineError::Source)? else { break };
        count.fetch_add(batch.len() as u64, Ordering::Relaxed);
        let mut parts: Vec<Vec<Record>> = vec![Vec::new(); senders.len()];
        for mut r in batch {
            let to = route(&mut r, stage, senders.len());
            parts[to].push(r);
        }
        for (tx, records) in senders.iter().zip(parts) {
            tx.send(Batch { window: w, records })
                .map_err(|_| EngineError::Disconnected { node: "source".into() })?;
        }
        w += 1;
    }
    Ok(())
}

fn drain(sink: &mut dyn Sink, rx: Receiver<super::SinkBatch>) -> Result<(), EngineError> {
    for batch in rx {
        sink.write(batch).map_err(EngineError::Sink)?;
    }
    sink.finish().map_err(EngineError::Sink)
}

fn panicked(node: &str, payload: Box<dyn std::any::Any + Send>) -> EngineError {
    EngineError::Panicked { node: node.into(), message: panic_message(payload.as_ref()) }
}
