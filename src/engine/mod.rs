//! The runtime: programs of named statements, nodes (one thread per segment of a stage) that
//! tick over micro-batches, per-key routing between stages over bounded channels, the
//! pseudo-clock and the step hook where recorders and tracers attach.

mod clock;
mod control;
mod hook;
mod node;
mod pipeline;
mod program;
mod supervisor;

pub use clock::PseudoClock;
pub use control::{Activity, Control, NodeGauge, Peer};
pub use hook::{HookFactory, Hooks, NoHook, StepHook, StepPoint};
pub use node::{NodeId, NodeStats, PARK_AFTER};
pub use pipeline::{BoxError, DEFAULT_WINDOW, EngineError, Pipeline, RunReport, Sink, SinkBatch, Source};
pub use program::{OpKind, Stage, StageBuilder, Statement, StatementError, Workspace};
pub use supervisor::{DEFAULT_MAX_FAILURES, Failure, Fault, Quarantine, Supervision, in_supervised_work};
