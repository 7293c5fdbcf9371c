//! The Session API: commands in, events out, snapshots on request. Plain serde types and no UI
//! code, so that the TUI, the headless script and any later client speak the same language.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use indexmap::IndexMap;

use crate::recorder::{NodeCabinet, PipelineDesc};
use crate::replay::History;
use crate::tracer::{Release, Rows, Stop, TraceForm};

/// What a client asks of a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Command {
    /// Add a trace form; it applies from every node's next step.
    AddForm {
        /// The form.
        form: TraceForm,
    },
    /// Replace a form (its hit count starts again).
    ReplaceForm {
        /// Its number.
        id: u32,
        /// The new form.
        form: TraceForm,
    },
    /// Let a form's next `count` hits pass (gdb's `ignore`): its hit count goes on, and its
    /// `ignore` becomes the hits so far plus `count`.
    Ignore {
        /// Its number.
        id: u32,
        /// Hits to let pass.
        count: u64,
    },
    /// Remove a form.
    DeleteForm {
        /// Its number.
        id: u32,
    },
    /// Let a frozen node run `count` statements, then freeze it again.
    Step {
        /// The node.
        node: String,
        /// Statements to run.
        count: u64,
    },
    /// Replay only: go back `count` steps of a node (of any node when absent) and stop before
    /// the last one undone.
    Back {
        /// The node.
        #[serde(default)]
        node: Option<String>,
        /// Steps to undo.
        count: u64,
    },
    /// Replay only: stop before the first recorded step numbered `step` or more.
    Goto {
        /// The global step number.
        step: u64,
    },
    /// Replay only: stop before the first recorded step at this pseudo-time or later.
    GotoTime {
        /// The pseudo-time.
        time: Timestamp,
    },
    /// Replay only: go back to the previous stop of the forms (of any node).
    ReverseContinue,
    /// Replay only: where the replay is (answered by [`Event::When`]).
    When,
    /// Let a frozen node (or, without one, every frozen node) run to its next stop. A replay
    /// has one cursor: it runs to the next stop of the node, or of any node without one.
    Continue {
        /// The node; every frozen node when absent.
        #[serde(default)]
        node: Option<String>,
    },
    /// Rows of a frozen node's reactors (or one table), filtered and paged.
    Inquire {
        /// The node.
        node: String,
        /// One table; all reactors when absent.
        #[serde(default)]
        reactor: Option<String>,
        /// A condition in SQL WHERE syntax.
        #[serde(default)]
        filter: Option<String>,
        /// Matching rows to skip.
        #[serde(default)]
        offset: usize,
        /// Rows to return (default 50, at most 1000; 0 is refused).
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Stop tracing a node: it runs to the end uninterrupted.
    Resume {
        /// The node.
        node: String,
    },
    /// Stop the run: no more input is read, what is in flight completes, every node's result
    /// is consolidated and the trace closed cleanly.
    Halt,
    /// Stop tracing every node; the run goes on to its end.
    Detach,
    /// Ask for a [`Snapshot`].
    Snapshot,
    /// Ask for the forms in force and their hit counts (answered by [`Event::Forms`]).
    Forms,
    /// The history of the records carrying an identifier, read back from the run's trace
    /// (recorded at full level) as far as it is written.
    History {
        /// NAME=VALUE: reg_id or a context (EVENT_ID, IMSI …).
        id: String,
    },
}

/// A node's state as a debugger shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum NodeState {
    /// Not started.
    Starting,
    /// Processing.
    Running,
    /// Frozen by the tracer.
    Frozen {
        /// The statement it is frozen at.
        statement: String,
        /// Why.
        reason: String,
    },
    /// Its input is empty: it waits for this peer (a node, `source` or `sink`).
    Waiting {
        /// The peer.
        on: String,
    },
    /// Its output channel is full: it waits for room at this peer.
    Blocked {
        /// The peer.
        on: String,
    },
    /// It processed all its input.
    Done,
    /// It stopped on an error.
    Failed,
    /// It failed, its tick was undone and it started again (then it runs, waits …).
    Restarted {
        /// Its restarts so far.
        restarts: u32,
        /// Why it failed.
        error: String,
    },
}

/// A trace form in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormInfo {
    /// Its number.
    pub id: u32,
    /// What it watches, in a line.
    pub label: String,
    /// Hits so far (ignored ones included).
    pub hits: u64,
    /// The form.
    pub form: TraceForm,
}

impl FormInfo {
    /// Its hits and what they leave it: "2 hits, ignoring the next 1", "1 hit, one-shot:
    /// spent" (as gdb's `info breakpoints` tells a tbreak's disposition).
    pub fn hits_text(&self) -> String {
        let mut s = format!("{} hit{}", self.hits, if self.hits == 1 { "" } else { "s" });
        let left = self.form.ignore.saturating_sub(self.hits);
        if left > 0 {
            s.push_str(&format!(", ignoring the next {left}"));
        }
        if self.form.once {
            // Its first hit past the ignored ones stopped it, the last it will make.
            s.push_str(if self.hits > self.form.ignore { ", one-shot: spent" } else { ", one-shot" });
        }
        s
    }
}

/// One node in a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    /// The node.
    pub node: String,
    /// Its state.
    #[serde(flatten)]
    pub state: NodeState,
    /// Statements executed.
    pub steps: u64,
    /// Records received; `None` in a replay (a trace does not count them).
    pub records: Option<u64>,
    /// Its pseudo-clock.
    pub pseudo_time: Option<Timestamp>,
    /// Times it failed and restarted.
    #[serde(default)]
    pub restarts: u32,
    /// False once resumed (or after halt/detach): no form stops it any more.
    pub traced: bool,
    /// Where it is frozen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// The cabinets holding records in its reactors (at most 100 ms old while it runs).
    #[serde(default)]
    pub cabinets: Vec<CabinetView>,
}

/// A cabinet of a node's reactors, as a snapshot sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CabinetView {
    /// The cabinet.
    pub cabinet: String,
    /// Records in it.
    pub mass: i64,
    /// Records in it holding each context.
    pub contexts: IndexMap<String, i64>,
}

/// Everything a client needs to draw the session at one instant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Every node, in pipeline order.
    pub nodes: Vec<NodeView>,
    /// The forms in force.
    pub forms: Vec<FormInfo>,
    /// True once the run ended.
    pub finished: bool,
}

/// How a run ended.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Finished {
    /// Records the run read.
    pub records: u64,
    /// True when a halt cut the input short.
    pub halted: bool,
    /// Wall time, seconds.
    pub seconds: f64,
    /// The part of it during which a node was held at a stop, seconds (live runs).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub held_seconds: f64,
    /// The pipeline's own summary lines.
    pub summary: Vec<String>,
    /// The trace written, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// The program cabinets consolidated from the trace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cabinets: Vec<NodeCabinet>,
    /// A line for each form that never stopped the run, with why when the trace shows it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unfired: Vec<String>,
}

/// What a session tells its clients.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The run started with these nodes and forms.
    Started {
        /// Node names, in pipeline order.
        nodes: Vec<String>,
        /// The forms.
        forms: Vec<FormInfo>,
        /// The pipeline: cabinets, contexts, stages with their statements and tables.
        program: PipelineDesc,
        /// Why the nodes' records and cabinets cannot be shown, when they cannot (a trace
        /// recorded at summary level holds steps, not records).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unrecorded: Option<String>,
    },
    /// The forms changed, or the answer to [`Command::Forms`].
    Forms {
        /// The forms now.
        forms: Vec<FormInfo>,
    },
    /// A node froze.
    Stopped(Stop),
    /// A frozen node was let go.
    Released {
        /// The node.
        node: String,
        /// The stop it left.
        stop: u64,
        /// How.
        by: Release,
        /// In a replay, the node whose move left the stop when it is another one (`step 2
        /// DIS/0` at a stop of RATE/0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mover: Option<String>,
    },
    /// A node that was not frozen will stop no more: `resume` of a running node.
    Untraced {
        /// The node.
        node: String,
    },
    /// A `step` ended before it had run its statements: a stop came first (said after that
    /// stop), or the node's input ran out.
    StepCut {
        /// The node.
        node: String,
        /// Statements the step had left to run.
        left: u64,
        /// The node whose stop came first (in a replay, one cursor: maybe another node);
        /// absent when the input ran out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// A node's state changed.
    State {
        /// The node.
        node: String,
        /// Its new state.
        #[serde(flatten)]
        state: NodeState,
    },
    /// An inquiry's answer.
    Rows(Rows),
    /// Nothing can move until a frozen node is let go.
    Stalled {
        /// The frozen nodes.
        frozen: Vec<String>,
    },
    /// The answer to [`Command::Snapshot`].
    Snapshot(Snapshot),
    /// The answer to [`Command::When`]: where a replay stands.
    When(Stop),
    /// The answer to [`Command::History`].
    History(History),
    /// A command could not be done.
    Error {
        /// Why.
        message: String,
        /// The script line that asked for it (set by the script runner).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<usize>,
    },
    /// The run ended.
    Finished(Finished),
    /// The run failed.
    Failed {
        /// Why.
        message: String,
        /// The exit code it maps to.
        code: i32,
    },
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}
