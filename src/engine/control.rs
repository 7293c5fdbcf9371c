//! Run control: a halt request, what each node is doing right now — read from the node's own
//! channel operations while the run goes, so that "waiting on RATE/1" is observed, not guessed —
//! and how long a debugger held the run at its stops.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::NodeId;

/// Who a node waits for or is blocked by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    /// The thread reading the input.
    Source,
    /// Another node, by index in [`Pipeline::nodes`](super::Pipeline::nodes) order.
    Node(usize),
    /// The thread writing the store.
    Sink,
}

/// What a node's thread is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activity {
    /// Not started yet.
    Starting,
    /// Processing (or inside a hook, which is how a tracer freezes it).
    Running,
    /// Its input from the peer is empty and it waits for the next batch.
    Waiting(Peer),
    /// Its output channel to the peer is full and it waits for room.
    Blocked(Peer),
    /// It processed all its input.
    Done,
    /// It stopped on an error or a panic.
    Failed,
}

const KIND_SHIFT: u32 = 24;
const PEER_MASK: u32 = (1 << KIND_SHIFT) - 1;
const SOURCE: u32 = PEER_MASK;
const SINK: u32 = PEER_MASK - 1;

impl Activity {
    fn encode(self) -> u32 {
        let peer = |p: Peer| match p {
            Peer::Source => SOURCE,
            Peer::Sink => SINK,
            Peer::Node(i) => i as u32 & PEER_MASK,
        };
        match self {
            Activity::Starting => 0,
            Activity::Running => 1 << KIND_SHIFT,
            Activity::Waiting(p) => (2 << KIND_SHIFT) | peer(p),
            Activity::Blocked(p) => (3 << KIND_SHIFT) | peer(p),
            Activity::Done => 4 << KIND_SHIFT,
            Activity::Failed => 5 << KIND_SHIFT,
        }
    }

    fn decode(v: u32) -> Activity {
        let peer = match v & PEER_MASK {
            SOURCE => Peer::Source,
            SINK => Peer::Sink,
            i => Peer::Node(i as usize),
        };
        match v >> KIND_SHIFT {
            1 => Activity::Running,
            2 => Activity::Waiting(peer),
            3 => Activity::Blocked(peer),
            4 => Activity::Done,
            5 => Activity::Failed,
            _ => Activity::Starting,
        }
    }
}

/// One node's live figures, written by its thread with relaxed atomics (a few per tick).
#[derive(Debug, Default)]
pub(crate) struct Gauge {
    activity: AtomicU32,
    steps: AtomicU64,
    records: AtomicU64,
    time: AtomicI64,
    restarts: AtomicU32,
    // The last failure's message (rare: a lock costs nothing here).
    failure: Mutex<Option<String>>,
    // Its hooks handed over all it recorded and it waits (on a channel, or held at a stop):
    // a reader of the trace sees every step it took.
    parked: AtomicBool,
    held: AtomicBool,
}

impl Gauge {
    pub fn set(&self, a: Activity) {
        self.activity.store(a.encode(), Ordering::Relaxed);
    }

    pub fn step(&self) {
        self.steps.fetch_add(1, Ordering::Relaxed);
    }

    pub fn received(&self, records: usize) {
        self.records.fetch_add(records as u64, Ordering::Relaxed);
    }

    pub fn clock(&self, time: i64) {
        self.time.store(time, Ordering::Relaxed);
    }

    /// The node waits with its hooks parked (true), or goes on (false).
    pub fn parked(&self, parked: bool) {
        self.parked.store(parked, Ordering::Release);
    }

    pub fn restarted(&self, failure: &str) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(failure.to_string());
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }
}

/// A node as the control board shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeGauge {
    /// The node.
    pub node: NodeId,
    /// What it is doing.
    pub activity: Activity,
    /// Statements it executed.
    pub steps: u64,
    /// Records it received.
    pub records: u64,
    /// Its pseudo-clock at its last tick (seconds since the epoch, 0 before any event).
    pub time: i64,
    /// Times it failed and restarted.
    pub restarts: u32,
    /// Why it last failed.
    pub failure: Option<String>,
}

/// Shared between a running pipeline and whoever controls it (a debugger session): ask the
/// run to halt, and read what every node is doing.
#[derive(Debug, Default)]
pub struct Control {
    halt: AtomicBool,
    board: Mutex<Arc<Vec<(NodeId, Gauge)>>>,
    held: Mutex<Held>,
}

/// Nodes held at stops now, since when one is, and the time of the holds that ended.
#[derive(Debug, Default)]
struct Held {
    nodes: usize,
    since: Option<Instant>,
    total: Duration,
}

impl Control {
    /// A control for one run.
    pub fn new() -> Arc<Control> {
        Arc::new(Control::default())
    }

    /// Ask the run to stop reading input: what is in flight completes, so that every record
    /// read ends whole in the store.
    pub fn halt(&self) {
        self.halt.store(true, Ordering::Release);
    }

    /// True once [`halt`](Self::halt) was asked.
    pub fn halted(&self) -> bool {
        self.halt.load(Ordering::Acquire)
    }

    /// A debugger holds node `node` (by index) at a stop, its hooks parked, until the matching
    /// [`release`](Self::release).
    pub fn hold(&self, node: usize) {
        if let Some((_, g)) = self.board().get(node) {
            g.held.store(true, Ordering::Release);
        }
        let mut h = self.held.lock().unwrap_or_else(|e| e.into_inner());
        h.nodes += 1;
        if h.nodes == 1 {
            h.since = Some(Instant::now());
        }
    }

    /// Node `node`, held by [`hold`](Self::hold), goes on.
    pub fn release(&self, node: usize) {
        if let Some((_, g)) = self.board().get(node) {
            g.held.store(false, Ordering::Release);
        }
        let mut h = self.held.lock().unwrap_or_else(|e| e.into_inner());
        h.nodes = h.nodes.saturating_sub(1);
        if h.nodes == 0
            && let Some(since) = h.since.take()
        {
            h.total += since.elapsed();
        }
    }

    /// Wall time during which at least one node was held at a stop: what a rate must leave
    /// out to say how fast the pipeline ran.
    pub fn held(&self) -> Duration {
        let h = self.held.lock().unwrap_or_else(|e| e.into_inner());
        h.total + h.since.map_or(Duration::ZERO, |s| s.elapsed())
    }

    /// True when the trace holds every step taken so far: each node is held at a stop or
    /// waits with its hooks parked, or is done, failed or not started. (A node waiting on a
    /// channel parks only after a while: until then this is false.)
    pub fn settled(&self) -> bool {
        self.board().iter().all(|(_, g)| {
            g.held.load(Ordering::Acquire)
                || g.parked.load(Ordering::Acquire)
                || matches!(
                    Activity::decode(g.activity.load(Ordering::Relaxed)),
                    Activity::Done | Activity::Failed | Activity::Starting
                )
        })
    }

    fn board(&self) -> Arc<Vec<(NodeId, Gauge)>> {
        self.board.lock().expect("the board lock is never held across a panic").clone()
    }

    /// Every node's figures, in node order (empty before the run starts).
    pub fn gauges(&self) -> Vec<NodeGauge> {
        let board = self.board();
        board
            .iter()
            .map(|(node, g)| NodeGauge {
                node: node.clone(),
                activity: Activity::decode(g.activity.load(Ordering::Relaxed)),
                steps: g.steps.load(Ordering::Relaxed),
                records: g.records.load(Ordering::Relaxed),
                time: g.time.load(Ordering::Relaxed),
                restarts: g.restarts.load(Ordering::Relaxed),
                failure: g.failure.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            })
            .collect()
    }

    /// Start a run over `nodes`: a fresh gauge each.
    pub(crate) fn begin(&self, nodes: Vec<NodeId>) -> Arc<Vec<(NodeId, Gauge)>> {
        let board = Arc::new(nodes.into_iter().map(|n| (n, Gauge::default())).collect::<Vec<_>>());
        *self.board.lock().expect("the board lock is never held across a panic") = board.clone();
        board
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activities_survive_their_encoding() {
        let all = [
            Activity::Starting,
            Activity::Running,
            Activity::Waiting(Peer::Source),
            Activity::Waiting(Peer::Node(7)),
            Activity::Blocked(Peer::Node(0)),
            Activity::Blocked(Peer::Sink),
            Activity::Done,
            Activity::Failed,
        ];
        for a in all {
            assert_eq!(Activity::decode(a.encode()), a);
        }
    }

    #[test]
    fn held_time_counts_overlapping_holds_once() {
        let c = Control::new();
        assert_eq!(c.held(), Duration::ZERO);
        c.hold(0);
        c.hold(1);
        std::thread::sleep(Duration::from_millis(20));
        c.release(0);
        let during = c.held();
        assert!(during >= Duration::from_millis(20), "{during:?}");
        c.release(1);
        let after = c.held();
        std::thread::sleep(Duration::from_millis(20));
        // Nothing is held any more: the total no longer grows.
        assert_eq!(c.held(), after);
        assert!(after >= during);
    }
}
