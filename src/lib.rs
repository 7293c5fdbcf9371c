//! catar: a state tracer and debugger for record-processing pipelines.
//!
//! Processing nodes run set-at-a-time over a cabinet store; every state operator reports what
//! it changed, and that report is what recorders and tracers attach to.

pub mod app;
pub mod cli;
pub mod engine;
pub mod export;
pub mod model;
pub mod ops;
pub mod outfile;
pub mod paths;
pub mod rating;
pub mod recorder;
pub mod replay;
pub mod script;
pub mod session;
pub mod store;
pub mod trace;
pub mod tracer;
pub mod tui;
