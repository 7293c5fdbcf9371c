//! Sessions: one control plane over a debuggee. A live session runs a pipeline with the tracer
//! attached; clients send [`Command`]s and read [`Event`]s over crossbeam channels (ARCHITECTURE.md).

mod api;
mod live;
mod replay;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, unbounded};

pub use api::{CabinetView, Command, Event, Finished, FormInfo, NodeState, NodeView, Snapshot};
pub use replay::ReplayError;

use crate::engine::{Control, HookFactory};
use crate::recorder::PipelineDesc;
use crate::tracer::{FormError, TraceForm};

/// What a session debugs: a run about to start, or a recorded trace.
pub enum Target {
    /// A live run.
    Live(Debuggee),
    /// A trace to replay: the file, and which of its runs (the last when `None`).
    Replay(PathBuf, Option<usize>),
}

impl Target {
    /// The pipeline (to check forms against before starting); for a trace, its header.
    pub fn desc(&self) -> Result<Arc<PipelineDesc>, String> {
        match self {
            Target::Live(d) => Ok(d.desc.clone()),
            Target::Replay(path, _) => crate::recorder::open_trace(path)
                .map(|t| Arc::new(t.header().pipeline.clone()))
                .map_err(|e| e.to_string()),
        }
    }

    /// True for a replay.
    pub fn is_replay(&self) -> bool {
        matches!(self, Target::Replay(..))
    }

    /// Start the session with these forms.
    pub fn start(self, forms: Vec<(TraceForm, String)>) -> Result<Session, String> {
        match self {
            Target::Live(d) => Session::live(d, forms).map_err(|e| e.to_string()),
            Target::Replay(path, run) => Session::replay_run(&path, run, forms).map_err(|e| e.to_string()),
        }
    }
}

/// A debugging session: commands in, events out, served by a thread of its own over a live
/// run or a recorded trace (a live run's frozen nodes also take `step` and `continue` from the
/// client's thread and send their stops themselves). Clients (the TUI, the script) cannot tell
/// which.
pub struct Session {
    commands: Sender<Command>,
    events: Receiver<Event>,
    thread: Option<JoinHandle<()>>,
    shortcut: Option<Shortcut>,
    /// The command sender lent to an [`Interrupt`], taken back when the session hangs up.
    lent: Option<Arc<Mutex<Option<Sender<Command>>>>>,
}

/// A handle to halt a session from another thread (a Ctrl-C handler's). It does not keep the
/// session alive: once the client closes or drops the session, `halt` does nothing.
#[derive(Clone)]
pub struct Interrupt {
    commands: Arc<Mutex<Option<Sender<Command>>>>,
    /// The shortcut's count of commands sent to the session thread, this one included.
    queued: Option<Arc<AtomicU64>>,
}

impl Interrupt {
    /// Halt the run as the `halt` command does; false when the session has ended.
    pub fn halt(&self) -> bool {
        let commands = self.commands.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = commands.as_ref() else { return false };
        if let Some(q) = &self.queued {
            q.fetch_add(1, Ordering::Relaxed);
        }
        tx.send(Command::Halt).is_ok()
    }
}

/// Commands the client's own thread can carry out (a live run's `step` and `continue`), and
/// only once the session thread has served every command sent before, so that the order of
/// commands holds (a form replaced, then a step, steps under the new form).
struct Shortcut {
    /// Carries the command out; false when it cannot (it then goes to the session thread).
    act: Box<dyn Fn(&Command) -> bool + Send + Sync>,
    /// Commands sent to the session thread.
    queued: Arc<AtomicU64>,
    /// Commands the session thread has served.
    served: Arc<AtomicU64>,
}

impl Shortcut {
    fn new(act: Box<dyn Fn(&Command) -> bool + Send + Sync>, served: Arc<AtomicU64>) -> Shortcut {
        Shortcut { act, queued: Arc::new(AtomicU64::new(0)), served }
    }

    /// True when the command was carried out here.
    fn take(&self, command: &Command) -> bool {
        self.served.load(Ordering::Acquire) == self.queued.load(Ordering::Relaxed) && (self.act)(command)
    }
}

impl Session {
    /// Run a debuggee with the tracer attached. The forms (form, where it came from) are
    /// checked against the pipeline first; an error names the form and field.
    pub fn live(debuggee: Debuggee, forms: Vec<(TraceForm, String)>) -> Result<Session, FormError> {
        live::start(debuggee, forms)
    }

    /// Replay a recorded trace (its last run) with these forms, starting before its first step.
    pub fn replay(trace: &Path, forms: Vec<(TraceForm, String)>) -> Result<Session, ReplayError> {
        replay::start(trace, None, forms)
    }

    /// Replay run `run` (from 1; the last when `None`) of a trace runs were appended to.
    pub fn replay_run(
        trace: &Path,
        run: Option<usize>,
        forms: Vec<(TraceForm, String)>,
    ) -> Result<Session, ReplayError> {
        replay::start(trace, run, forms)
    }

    fn new(commands: Sender<Command>, events: Receiver<Event>, thread: JoinHandle<()>) -> Session {
        Session { commands, events, thread: Some(thread), shortcut: None, lent: None }
    }

    fn with_shortcut(mut self, shortcut: Shortcut) -> Session {
        self.shortcut = Some(shortcut);
        self
    }

    /// Send a command (its answers and effects come back as events).
    pub fn send(&self, command: Command) {
        if let Some(s) = &self.shortcut {
            if s.take(&command) {
                return;
            }
            s.queued.fetch_add(1, Ordering::Relaxed);
        }
        // The session thread outlives every command sender; a send cannot fail before close.
        let _ = self.commands.send(command);
    }

    /// A handle another thread can halt this session with.
    pub fn interrupt(&mut self) -> Interrupt {
        let commands = self.lent.get_or_insert_with(|| Arc::new(Mutex::new(Some(self.commands.clone()))));
        Interrupt { commands: commands.clone(), queued: self.shortcut.as_ref().map(|s| s.queued.clone()) }
    }

    /// The events, in the order they happened.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Let go (a live run goes on untraced to its end), wait for the session to end and
    /// return the remaining events.
    pub fn close(mut self) -> Vec<Event> {
        self.hang_up();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.events.try_iter().collect()
    }

    /// Drop the command sender: the session detaches and ends on its own.
    fn hang_up(&mut self) {
        if let Some(lent) = &self.lent {
            lent.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
        let (dead, _) = unbounded();
        drop(std::mem::replace(&mut self.commands, dead));
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.hang_up();
    }
}

/// What a finished run hands back to its session.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Records read.
    pub records: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// The part of it during which a node was held at a stop, seconds.
    pub held_seconds: f64,
    /// Its summary, line by line, as the pipeline words it.
    pub summary: Vec<String>,
    /// The trace it wrote.
    pub trace: Option<PathBuf>,
}

/// A failed run: why, and the exit code that says it.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Why.
    pub message: String,
    /// 2 for bad input, 1 otherwise.
    pub code: i32,
}

/// The run closure of a [`Debuggee`].
pub type RunFn = Box<dyn FnOnce(&dyn HookFactory) -> Result<Outcome, Failure> + Send>;

/// A pipeline ready to run under a debugger: its description (to check forms against), its
/// control (to halt it and watch its nodes) and the run itself, given the tracer's hooks.
pub struct Debuggee {
    /// The pipeline.
    pub desc: Arc<PipelineDesc>,
    /// Its run control.
    pub control: Arc<Control>,
    /// Run it to the end with these hooks attached.
    pub run: RunFn,
    /// The trace it records and at which level, if any (a record's history is read back
    /// from a full one).
    pub trace: Option<(PathBuf, crate::recorder::Level)>,
}

/// A node's reactor cabinets as a snapshot shows them.
fn cabinet_views(desc: &PipelineDesc, present: crate::tracer::Present) -> Vec<CabinetView> {
    let cabinet = |c: crate::model::CabinetId| {
        desc.cabinets.get(c.index()).map_or_else(|| format!("#{}", c.0), |d| d.name.clone())
    };
    let context = |c: crate::model::ContextId| {
        desc.contexts.get(c.slot()).map_or_else(|| format!("#{}", c.0), |d| d.name.clone())
    };
    present
        .into_iter()
        .map(|(c, mass, contexts)| CabinetView {
            cabinet: cabinet(c),
            mass,
            contexts: contexts.into_iter().map(|(k, n)| (context(k), n)).collect(),
        })
        .collect()
}

/// A node by name: a node name, or a stage name when one of its nodes is meant (its only
/// node, or its only frozen one while none of the others `may_stop`).
pub fn resolve_node(
    desc: &PipelineDesc,
    name: &str,
    frozen: impl Fn(usize) -> bool,
    may_stop: impl Fn(usize) -> bool,
) -> Result<usize, String> {
    if let Some(i) = desc.nodes.iter().position(|n| n.eq_ignore_ascii_case(name)) {
        return Ok(i);
    }
    let of_stage: Vec<usize> = (0..desc.nodes.len())
        .filter(|&i| crate::tracer::stage_name(&desc.nodes[i]).eq_ignore_ascii_case(name))
        .collect();
    let frozen_here: Vec<usize> = of_stage.iter().copied().filter(|&i| frozen(i)).collect();
    // Another node of the stage that may stop any moment would make the answer a matter of
    // thread timing: named alone, the frozen one must be the only one that can be.
    let racing: Vec<&str> =
        of_stage.iter().filter(|&&i| !frozen(i) && may_stop(i)).map(|&i| desc.nodes[i].as_str()).collect();
    let nodes = of_stage.iter().map(|&i| desc.nodes[i].as_str()).collect::<Vec<_>>().join(", ");
    match (of_stage.len(), frozen_here.len()) {
        (0, _) => Err(format!("no node `{name}` (nodes: {})", desc.nodes.join(", "))),
        (1, _) => Ok(of_stage[0]),
        (_, 1) if racing.is_empty() => Ok(frozen_here[0]),
        (n, 1) => Err(format!(
            "`{name}` has {n} nodes ({nodes}) and {} may stop any moment too: say which",
            racing.join(", ")
        )),
        (n, _) => Err(format!("`{name}` has {n} nodes ({nodes}): say which")),
    }
}

/// How long a history asked of a live run waits for the nodes to put their steps on disk: a
/// node waiting on a channel parks its hooks after [`PARK_AFTER`](crate::engine::PARK_AFTER).
const SETTLE_WITHIN: std::time::Duration = crate::engine::PARK_AFTER.saturating_mul(3);

/// Read a record's history from a trace in a thread of its own (a long trace takes a while, and
/// the session must keep answering meanwhile); the answer, or the error, comes as an event.
/// `settled` tells whether the trace on disk holds every step taken so far (always, once the
/// run ended): a live run's is waited for a while, and the answer is partial without it.
fn read_history(
    path: PathBuf,
    run: Option<usize>,
    id: String,
    events: Sender<Event>,
    settled: impl Fn() -> bool + Send + 'static,
) -> Result<(), String> {
    std::thread::Builder::new()
        .name("history".into())
        .spawn(move || {
            // At a stop the other nodes soon wait too, and park: then nothing is missing.
            let deadline = std::time::Instant::now() + SETTLE_WITHIN;
            while !settled() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            let complete = settled();
            let origin = path.display().to_string();
            let answer = crate::recorder::open_run(&path, run)
                .map(|(t, _, _)| t)
                .map_err(|e| match complete {
                    true => e.to_string(),
                    // The recorder's writer buffers: early in a run the header may not be
                    // on disk yet, which reads like a damaged file.
                    false => format!(
                        "the trace has nothing readable on disk yet ({e}): the recorder writes it \
                         chunk by chunk; ask again once the run has gone further"
                    ),
                })
                .and_then(|mut t| crate::replay::query(&mut t, &origin, &id).map_err(|e| e.to_string()));
            let _ = events.send(match answer {
                // Asked while nodes run: the steps still in their buffers are missing.
                Ok(h) => Event::History(crate::replay::History { partial: !complete, ..h }),
                Err(message) => Event::Error { message, line: None },
            });
        })
        .map(|_| ())
        .map_err(|e| format!("cannot read the trace: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shortcut_waits_until_the_session_thread_has_served_every_command_before() {
        let (commands, queue) = unbounded();
        let (_events_tx, events) = unbounded();
        let served = Arc::new(AtomicU64::new(0));
        let (acted_tx, acted) = unbounded();
        let act = move |c: &Command| matches!(c, Command::Step { .. }) && acted_tx.send(c.clone()).is_ok();
        let session = Session::new(commands, events, std::thread::spawn(|| {}))
            .with_shortcut(Shortcut::new(Box::new(act), served.clone()));
        let step = || Command::Step { node: "DIS/0".into(), count: 1 };
        session.send(Command::DeleteForm { id: 1 });
        // The form change is not served yet: the step queues behind it.
        session.send(step());
        assert!(acted.is_empty());
        let queued: Vec<Command> = queue.try_iter().collect();
        assert!(matches!(queued[..], [Command::DeleteForm { id: 1 }, Command::Step { .. }]), "{queued:?}");
        served.fetch_add(2, Ordering::Release);
        session.send(step());
        assert!(queue.is_empty());
        assert_eq!(acted.try_iter().count(), 1);
    }
}
