//! What the tracer tells: a node stopped (where and why), a node released, an inquiry's rows.
//! Plain serde types: the session forwards them to any client as they are.

use std::fmt;

use indexmap::IndexMap;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Where in its statement a node froze.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Position {
    /// Before the statement runs (a breakpoint).
    Before,
    /// After the statement ran (what it changed fired a form, or a `step` ended).
    After,
}

/// Why a node stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "kebab-case")]
pub enum Why {
    /// A watched cabinet (or a watched context in it) arrived.
    Arrival {
        /// The cabinet.
        cabinet: String,
        /// The context, when the form watches contexts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<String>,
    },
    /// A watched cabinet (or context) departed.
    Departure {
        /// The cabinet.
        cabinet: String,
        /// The context, when the form watches contexts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<String>,
    },
    /// A watched cabinet's mass changed.
    Mass {
        /// The cabinet.
        cabinet: String,
        /// By how much.
        delta: i64,
        /// Its mass now.
        mass: i64,
    },
    /// Single-step mode.
    EveryStep,
    /// A statement breakpoint.
    Statement,
    /// A record came to satisfy the form's condition.
    When {
        /// The condition.
        condition: String,
        /// The table of the record.
        table: String,
        /// The record.
        reg_id: u64,
    },
    /// A `stop-when` condition met a value it never compares with (`AMOUNT > 'abc'` where
    /// AMOUNT holds integers): it stops each node once to say so, then tests nothing more there.
    Untestable {
        /// The condition.
        condition: String,
        /// Why it cannot be tested.
        error: String,
    },
    /// A `step N` command ran its N statements.
    Step,
    /// A replay stepped back (`back N`).
    Back {
        /// Statements of the N it could not undo: the node (or the trace) had no step before.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        short: Option<u64>,
    },
    /// A replay jumped (`goto`).
    Goto,
    /// A replay is at the start of its trace.
    Start,
    /// A replay reached the end of its trace.
    End {
        /// The `goto` that asked for a step or time past the trace's last, which landed here.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        beyond: Option<String>,
    },
    /// The statement failed; the supervisor undoes the tick when the node goes on.
    Failure {
        /// The error, or the panic's message.
        error: String,
    },
}

/// A form (or a `step` command) stopping a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The form's number; none for the end of a `step`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<u32>,
    /// The form's label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What fired.
    #[serde(flatten)]
    pub why: Why,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with = |c: &Option<String>| c.as_ref().map(|c| format!(" with {c}")).unwrap_or_default();
        match &self.why {
            Why::Arrival { cabinet, context } => write!(f, "{cabinet}{} arrived", with(context))?,
            Why::Departure { cabinet, context } => write!(f, "{cabinet}{} departed", with(context))?,
            Why::Mass { cabinet, delta, mass } => write!(f, "mass of {cabinet} {delta:+} (now {mass})")?,
            Why::EveryStep => write!(f, "single step")?,
            Why::Statement => write!(f, "breakpoint")?,
            Why::When { condition, table, reg_id } => {
                write!(f, "record {reg_id} of table {table} satisfies {condition}")?
            }
            Why::Untestable { condition, error } => {
                write!(f, "condition `{condition}` cannot be tested, so it will not stop again: {error}")?
            }
            Why::Step => write!(f, "step done")?,
            Why::Back { short: None } => write!(f, "stepped back")?,
            Why::Back { short: Some(n) } => {
                write!(f, "stepped back, {n} statement(s) short: no step ran before this one")?
            }
            Why::Goto => write!(f, "goto")?,
            Why::Start => write!(f, "start of the trace")?,
            Why::End { beyond: None } => write!(f, "end of the trace")?,
            Why::End { beyond: Some(asked) } => write!(f, "end of the trace: {asked} is past its last step")?,
            Why::Failure { error } => write!(f, "failed: {error}")?,
        }
        match (&self.form, &self.label) {
            (Some(id), Some(label)) => write!(f, " (form {id}: {label})"),
            (Some(id), None) => write!(f, " (form {id})"),
            _ => Ok(()),
        }
    }
}

/// A node frozen by the tracer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    /// The stop's number in the session (commands name it, so that a late one is ignored).
    pub id: u64,
    /// The node.
    pub node: String,
    /// The statement that just ran (`after`) or is about to run (`before`).
    pub statement: String,
    /// Its position in the node's program.
    pub position: usize,
    /// Before or after it.
    pub at: Position,
    /// The node's step number of that statement (0-based).
    pub step: u64,
    /// The step's number across all nodes.
    pub global_step: u64,
    /// The node's tick (micro-batch window).
    pub tick: u64,
    /// The node's pseudo-clock.
    pub pseudo_time: Option<Timestamp>,
    /// Wall microseconds the statement took (0 for a stop before it).
    #[serde(default)]
    pub statement_us: u64,
    /// Why.
    pub reason: Reason,
    /// The form's stop timeout, in milliseconds: the node goes on by itself this long after
    /// it froze.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = match self.at {
            Position::Before => "before",
            Position::After => "after",
        };
        write!(
            f,
            "{} stopped {at} {} (step {}, global {}",
            self.node, self.statement, self.step, self.global_step
        )?;
        if let Some(t) = self.pseudo_time {
            write!(f, ", {t}")?;
        }
        write!(f, "): {}", self.reason)
    }
}

/// How a frozen node was let go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Release {
    /// `continue`: run to the next stop.
    Continue,
    /// `step N`: run N statements and stop again.
    Step,
    /// `resume`: run untraced to the end.
    Resume,
    /// `halt`: the run stops reading input; the node finishes what it holds.
    Halt,
    /// The form's timeout passed.
    Timeout,
    /// The session let every node go (a script ended, a client left).
    Detach,
    /// In a replay, `back N`: the cursor steps backwards.
    Back,
    /// In a replay, `reverse-continue`: the cursor runs backwards to the previous stop.
    Reverse,
    /// In a replay, `goto`: the cursor jumps to a step or a pseudo-time.
    Goto,
}

/// A value in an inquiry row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cell {
    /// An integer.
    Int(i64),
    /// Text, or a time in RFC 3339.
    Text(String),
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Int(i) => write!(f, "{i}"),
            Cell::Text(t) => f.write_str(t),
        }
    }
}

/// One record of an inquiry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// Its table.
    pub table: String,
    /// Its reg_id.
    pub reg_id: u64,
    /// Its cabinet.
    pub cabinet: String,
    /// Its non-empty contexts, in schema order.
    pub contexts: IndexMap<String, Cell>,
}

/// The answer to an inquiry: one page of the matching rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rows {
    /// The node inquired.
    pub node: String,
    /// The tables searched.
    pub tables: Vec<String>,
    /// The table or cabinet the inquiry named, as written (none: every reactor), so that a
    /// client asks for another page of the same rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reactor: Option<String>,
    /// The cabinet the rows were limited to, when the inquiry named one instead of a table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cabinet: Option<String>,
    /// The filter, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Rows matching in all.
    pub total: usize,
    /// Rows skipped before this page.
    pub offset: usize,
    /// Rows a page holds, as asked: the next page starts this many rows on.
    #[serde(default)]
    pub limit: usize,
    /// This page.
    pub rows: Vec<Row>,
}
