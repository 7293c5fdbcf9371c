//! The tracer (CATAR, SPEC §5): trace forms, the flip-flop matcher, stop policies, conditions,
//! and the gate that freezes a node in its own thread. A [`Tracer`] is the hook factory a run
//! attaches; a session drives it (freeze, step, continue, inquire, resume, halt) and receives
//! its [`Signal`]s.

mod condition;
mod form;
mod gate;
mod matcher;
mod stop;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crossbeam_channel::{Receiver, Sender, unbounded};

pub use condition::{Condition, ConditionError};
pub use form::{CompiledForm, FormError, StopPolicy, TraceForm, stage_of as stage_name};
use gate::NodeTracer;
pub use matcher::TableSet;
pub(crate) use matcher::{Matcher, breaks_at, inquire};
pub use stop::{Cell, Position, Reason, Release, Row, Rows, Stop, Why};

use crate::engine::{Control, HookFactory, NoHook, NodeId, StepHook};
use crate::ops::Presence;
pub use crate::ops::Present;
use crate::recorder::PipelineDesc;

/// The forms in force, shared by every node's gate.
pub type Forms = Arc<Vec<Arc<CompiledForm>>>;

/// Rows an inquiry returns per page unless asked otherwise, and at most.
pub const INQUIRY_PAGE: usize = 50;
/// The largest page an inquiry returns.
pub const INQUIRY_MAX_PAGE: usize = 1000;

/// Where the tracer's signals go, called in the signalling node's own thread: a stop or a
/// release is delivered while the node's frozen state is held, so that whoever orders its own
/// news by [`Tracer::with_frozen`] never reports a node frozen before its stop or running
/// after its next one.
pub type Listener = Box<dyn Fn(Signal) + Send + Sync>;

/// What the tracer reports to its session.
#[derive(Clone, Debug)]
pub enum Signal {
    /// A node froze.
    Stopped(Stop),
    /// A frozen node was let go.
    Released {
        /// The node.
        node: String,
        /// The stop it leaves.
        stop: u64,
        /// How.
        by: Release,
    },
    /// A frozen node answered an inquiry.
    Rows(Rows),
    /// A frozen node could not answer an inquiry.
    Error(String),
    /// A node's tick failed and was undone: the node goes on with the same records.
    Restarted {
        /// The node.
        node: String,
        /// Its restarts so far, this one included.
        restarts: u32,
        /// Why the tick failed.
        error: String,
    },
    /// A `step` ended short of its count: a stop came first, or the node's input ran out.
    StepCut {
        /// The node.
        node: String,
        /// Statements the step had left to run.
        left: u64,
        /// The node whose stop came first; `None` when the input ran out.
        by: Option<String>,
    },
}

/// A query of a frozen node's tables.
#[derive(Clone, Debug)]
pub struct Inquiry {
    /// One table by name; all reactors when absent.
    pub reactor: Option<String>,
    /// Only rows satisfying this.
    pub filter: Option<Condition>,
    /// Matching rows to skip.
    pub offset: usize,
    /// Rows to return at most.
    pub limit: usize,
}

impl Inquiry {
    /// An inquiry as a command states it: the filter parsed against the pipeline, the page
    /// size defaulted. A page of 0 rows is refused (it would only count them), and so is one
    /// past the largest: cut short silently, it would pass for all the rows asked.
    pub fn new(
        desc: &PipelineDesc,
        reactor: Option<String>,
        filter: Option<&str>,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<Inquiry, String> {
        match limit {
            Some(0) => {
                return Err(format!(
                    "a limit of 0 shows no row: give 1 to {INQUIRY_MAX_PAGE} ({INQUIRY_PAGE} when left out)"
                ));
            }
            Some(n) if n > INQUIRY_MAX_PAGE => {
                return Err(format!(
                    "a limit of {n} is more than a page holds: give 1 to {INQUIRY_MAX_PAGE} and page on with offset"
                ));
            }
            _ => {}
        }
        let filter = filter.map(|f| Condition::parse(f, desc)).transpose().map_err(|e| e.to_string())?;
        Ok(Inquiry { reactor, filter, offset, limit: limit.unwrap_or(INQUIRY_PAGE) })
    }
}

/// What a session asks a frozen node.
#[derive(Clone, Debug)]
pub(crate) enum Action {
    Step(u64),
    Continue,
    Inquire(Inquiry),
    Release(Release),
}

#[derive(Clone, Debug)]
pub(crate) struct NodeCommand {
    stop: u64,
    action: Action,
}

/// One node as the tracer sees it.
pub(crate) struct Slot {
    tx: Sender<NodeCommand>,
    rx: Mutex<Option<Receiver<NodeCommand>>>,
    frozen: Mutex<Option<Stop>>,
    detached: AtomicBool,
    // Its input ran out: it will stop no more.
    finished: AtomicBool,
    present: Mutex<Present>,
    // Restarts the node announced itself (set under the frozen lock, as it announces).
    restarts: AtomicU32,
}

impl Slot {
    fn detached(&self) -> bool {
        self.detached.load(Ordering::Relaxed)
    }

    /// Freeze at `stop` unless `active` says no, and deliver the stop before anyone can see
    /// the node frozen. False when the node did not freeze.
    fn freeze(&self, stop: Stop, active: impl FnOnce() -> bool, deliver: impl FnOnce(Stop)) -> bool {
        let mut frozen = self.frozen.lock().expect("frozen lock");
        // A halt, detach or resume that came as this node decided to stop released nothing:
        // checked under the lock they take to release, it cannot slip between.
        if !active() {
            return false;
        }
        *frozen = Some(stop.clone());
        deliver(stop);
        true
    }

    /// Unfreeze, delivering the release before anyone can see the node running.
    fn thaw(&self, deliver: impl FnOnce()) {
        let mut frozen = self.frozen.lock().expect("frozen lock");
        *frozen = None;
        deliver();
    }

    /// Announce a restart, ordered with the node's stops and releases.
    fn restarted(&self, restarts: u32, deliver: impl FnOnce()) {
        let _frozen = self.frozen.lock().expect("frozen lock");
        self.restarts.store(restarts, Ordering::Relaxed);
        deliver();
    }

    fn set_present(&self, present: Present) {
        *self.present.lock().expect("present lock") = present;
    }

    fn frozen(&self) -> Option<Stop> {
        self.frozen.lock().expect("frozen lock").clone()
    }

    /// Send to the node if it is still frozen at `stop`.
    fn send(&self, stop: u64, action: Action) -> bool {
        let frozen = self.frozen.lock().expect("frozen lock");
        frozen.as_ref().is_some_and(|s| s.id == stop) && self.tx.send(NodeCommand { stop, action }).is_ok()
    }
}

pub(crate) struct Shared {
    desc: Arc<PipelineDesc>,
    forms: RwLock<(Forms, u64)>,
    generation: AtomicU64,
    listener: Listener,
    halted: AtomicBool,
    stops: AtomicU64,
    nodes: Vec<Slot>,
    // Told when a node is held at a stop and let go: the run's held time.
    control: Arc<Control>,
}

impl Shared {
    fn halted(&self) -> bool {
        self.halted.load(Ordering::Relaxed)
    }

    fn next_stop_id(&self) -> u64 {
        self.stops.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn signal(&self, s: Signal) {
        (self.listener)(s);
    }

    /// The forms, when they changed since `generation` (one relaxed load otherwise).
    fn forms_since(&self, generation: u64) -> Option<(Forms, u64)> {
        if self.generation.load(Ordering::Acquire) == generation {
            return None;
        }
        Some(self.forms.read().expect("forms lock").clone())
    }
}

/// The tracer of one run: attach it as a hook factory, drive it from a session.
#[derive(Clone)]
pub struct Tracer {
    shared: Arc<Shared>,
}

impl Tracer {
    /// A tracer for a pipeline with these forms; the listener gets its signals.
    pub fn new(desc: Arc<PipelineDesc>, forms: Forms, listener: Listener, control: Arc<Control>) -> Tracer {
        let nodes = desc
            .nodes
            .iter()
            .map(|_| {
                let (tx, rx) = unbounded();
                Slot {
                    tx,
                    rx: Mutex::new(Some(rx)),
                    frozen: Mutex::new(None),
                    detached: AtomicBool::new(false),
                    finished: AtomicBool::new(false),
                    present: Mutex::new(Vec::new()),
                    restarts: AtomicU32::new(0),
                }
            })
            .collect();
        let shared = Shared {
            desc,
            forms: RwLock::new((forms, 1)),
            generation: AtomicU64::new(1),
            listener,
            halted: AtomicBool::new(false),
            stops: AtomicU64::new(0),
            nodes,
            control,
        };
        Tracer { shared: Arc::new(shared) }
    }

    /// The forms in force.
    pub fn forms(&self) -> Forms {
        self.shared.forms.read().expect("forms lock").0.clone()
    }

    /// Replace the forms; every node sees them before its next step.
    pub fn set_forms(&self, forms: Forms) {
        let mut slot = self.shared.forms.write().expect("forms lock");
        let generation = slot.1 + 1;
        *slot = (forms, generation);
        self.shared.generation.store(generation, Ordering::Release);
    }

    /// Run `f` on where a node is frozen, while it can neither freeze nor thaw: news about the
    /// node sent from `f` is ordered with its stops and releases.
    pub fn with_frozen<R>(&self, node: usize, f: impl FnOnce(Option<&Stop>) -> R) -> R {
        match self.shared.nodes.get(node) {
            Some(slot) => f(slot.frozen.lock().expect("frozen lock").as_ref()),
            None => f(None),
        }
    }

    /// The restarts a node announced itself (read under [`Tracer::with_frozen`], it cannot
    /// change meanwhile).
    pub fn restarts_announced(&self, node: usize) -> u32 {
        self.shared.nodes.get(node).map_or(0, |s| s.restarts.load(Ordering::Relaxed))
    }

    /// Where each node is frozen, by node index.
    pub fn frozen(&self) -> Vec<Option<Stop>> {
        self.shared.nodes.iter().map(Slot::frozen).collect()
    }

    /// Every node's reactor cabinets as last published (at most 100 ms old; exact while
    /// frozen or done).
    pub fn present(&self) -> Vec<Present> {
        self.shared.nodes.iter().map(|s| s.present.lock().expect("present lock").clone()).collect()
    }

    /// True when the node was resumed (or the whole run detached or halted).
    pub fn untraced(&self, node: usize) -> bool {
        self.shared.halted() || self.shared.nodes.get(node).is_some_and(Slot::detached)
    }

    /// True when the node runs traced and may yet stop: not frozen now, not resumed, not at
    /// the end of its input.
    pub fn may_stop(&self, node: usize) -> bool {
        let Some(slot) = self.shared.nodes.get(node) else { return false };
        !self.untraced(node) && slot.frozen().is_none() && !slot.finished.load(Ordering::Relaxed)
    }

    fn slot(&self, node: usize) -> Result<&Slot, String> {
        self.shared.nodes.get(node).ok_or_else(|| format!("no node #{node}"))
    }

    fn frozen_stop(&self, node: usize) -> Result<u64, String> {
        let slot = self.slot(node)?;
        slot.frozen().map(|s| s.id).ok_or_else(|| format!("{} is not frozen", self.shared.desc.nodes[node]))
    }

    /// Let a frozen node run `n` statements and freeze again.
    pub fn step(&self, node: usize, n: u64) -> Result<(), String> {
        self.act(node, Action::Step(n))
    }

    /// Let a frozen node run to its next stop.
    pub fn resume_to_next_stop(&self, node: usize) -> Result<(), String> {
        self.act(node, Action::Continue)
    }

    /// Ask a frozen node for rows of its tables; the answer comes as [`Signal::Rows`].
    pub fn inquire(&self, node: usize, inquiry: Inquiry) -> Result<(), String> {
        self.act(node, Action::Inquire(inquiry))
    }

    fn act(&self, node: usize, action: Action) -> Result<(), String> {
        let stop = self.frozen_stop(node)?;
        if self.slot(node)?.send(stop, action) {
            Ok(())
        } else {
            Err(format!("{} is no longer frozen", self.shared.desc.nodes[node]))
        }
    }

    /// Stop tracing a node: it runs uninterrupted to the end. True when that let it go from
    /// a stop (its release is signalled), false when it was running.
    pub fn resume(&self, node: usize) -> Result<bool, String> {
        let slot = self.slot(node)?;
        slot.detached.store(true, Ordering::Relaxed);
        Ok(self.release(slot, Release::Resume))
    }

    /// Stop tracing every node (the run goes on untraced).
    pub fn detach(&self) {
        for slot in &self.shared.nodes {
            slot.detached.store(true, Ordering::Relaxed);
            self.release(slot, Release::Detach);
        }
    }

    /// No more stops, and every frozen node is let go to finish what it holds.
    pub fn halt(&self) {
        self.shared.halted.store(true, Ordering::Relaxed);
        for slot in &self.shared.nodes {
            self.release(slot, Release::Halt);
        }
    }

    fn release(&self, slot: &Slot, by: Release) -> bool {
        slot.frozen().is_some_and(|stop| slot.send(stop.id, Action::Release(by)))
    }
}

impl HookFactory for Tracer {
    fn hook_for(&self, node: &NodeId) -> Box<dyn StepHook> {
        let shared = &self.shared;
        let index = shared.desc.nodes.iter().position(|n| *n == node.name);
        let rx = index.and_then(|i| shared.nodes[i].rx.lock().expect("rx lock").take());
        let (Some(index), Some(rx)) = (index, rx) else {
            // A node the description does not know, or a second run: nothing to trace.
            return Box::new(NoHook);
        };
        let (forms, generation) = shared.forms.read().expect("forms lock").clone();
        // The flip-flop watches the node's reactors (SPEC §5), not its output or store tables.
        let reactors = shared.desc.stages.get(node.stage).map_or_else(Vec::new, |s| {
            s.tables.iter().map(|(_, kind)| kind.starts_with("Reactor")).collect()
        });
        Box::new(NodeTracer {
            index,
            stage: node.stage,
            shared: shared.clone(),
            rx,
            matcher: Matcher::new(Presence::new(shared.desc.cabinets.len()).only_tables(reactors)),
            forms,
            generation,
            stepping: 0,
            started: std::time::Instant::now(),
            published: std::time::Instant::now(),
            pending: None,
        })
    }
}
