//! Sessions: one control plane over a debuggee. A live session runs a pipeline with the tracer
//! attached; clients send [`Command`]s and read [`Event`]s over crossbeam channels (ARCHITECTURE.md).

mod api;
mod live;

use std::path::PathBuf;
use std::sync::Arc;

pub use api::{CabinetView, Command, Event, Finished, FormInfo, NodeState, NodeView, Snapshot};
pub use live::LiveSession;

use crate::engine::{Control, HookFactory};
use crate::recorder::PipelineDesc;

/// What a finished run hands back to its session.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Records read.
    pub records: u64,
    /// Wall time, seconds.
    pub seconds: f64,
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
    /// The trace it records, if any (a record's history is read back from it).
    pub trace: Option<PathBuf>,
}
