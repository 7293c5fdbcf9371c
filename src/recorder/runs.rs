//! The runs of a trace: one, unless later runs were appended to it (order ACCUMULATE). A
//! consolidation, an export and a diff read them all (a matrix over several runs); a replay
//! and a query read one, since each run starts its nodes and step numbers afresh.

use std::path::Path;

use rustc_hash::FxHashMap;

use super::{Trace, TraceHeader, open_trace};
use crate::trace::{ChunkKind, TraceError};

/// Where each run starts in the trace's index, in file order (the first at 0). A run numbers
/// its steps from the start again, so a node's events or checkpoint chunk that begins before
/// the last step of its events so far opens the next run. (One that begins at it goes on:
/// the node's end, placed at its last step, may come in a chunk of its own. A node that
/// recorded nothing in a run gives no sign: a new run shows at the first chunk of one that
/// did.)
pub fn runs(trace: &Trace) -> Vec<usize> {
    let mut starts = vec![0];
    let mut last: FxHashMap<u16, u64> = FxHashMap::default();
    for (i, e) in trace.index().iter().enumerate() {
        if e.kind == ChunkKind::Keys {
            continue;
        }
        if last.get(&e.meta.node).is_some_and(|&l| e.meta.first_step < l) {
            starts.push(i);
            last.clear();
        }
        if e.kind == ChunkKind::Events {
            last.insert(e.meta.node, e.meta.last_step);
        }
    }
    starts
}

/// A trace opened on one of its runs: run `run` (from 1), or the last one; with the run read
/// and how many the file holds.
pub fn open_run(path: &Path, run: Option<usize>) -> Result<(Trace, usize, usize), TraceError> {
    let mut trace = open_trace(path)?;
    let starts = runs(&trace);
    let count = starts.len();
    let run = run.unwrap_or(count);
    if run == 0 || run > count {
        return Err(TraceError::NoRun { path: path.into(), run, count });
    }
    let end = starts.get(run).copied().unwrap_or(trace.index().len());
    trace.keep(starts[run - 1]..end);
    Ok((trace, run, count))
}

/// Check that a run recorded with `header` may be appended to the trace at `path` (an
/// existing, non-empty file): the same pipeline, level, recorded nodes and span, options and
/// events version, so that every chunk of the file means what its header says (and [`runs`] finds where each run
/// starts: a run shows in the nodes the run before it recorded).
pub fn check_append(path: &Path, header: &TraceHeader) -> Result<(), TraceError> {
    match std::fs::metadata(path) {
        Ok(m) if m.len() > 0 => {}
        _ => return Ok(()),
    }
    let trace = open_trace(path)?;
    let (found, this) = (trace.header(), header);
    let nodes = |h: &TraceHeader| h.pipeline.nodes.join(", ");
    let reason = if found.events_version != this.events_version {
        format!(
            "it was written as events version {}, this run writes {}",
            found.events_version, this.events_version
        )
    } else if found.settings.level != this.settings.level {
        format!("it records at level {}, this run at {}", found.settings.level, this.settings.level)
    } else if found.pipeline.nodes != this.pipeline.nodes {
        format!("it records nodes {}, this run {}", nodes(found), nodes(this))
    } else if found.pipeline != this.pipeline {
        "it records another program on the same nodes".to_string()
    } else if recorded(found) != recorded(this) {
        format!("it records {}, this run {}", recorded(found), recorded(this))
    } else if found.settings.duration != this.settings.duration {
        let span = |h: &TraceHeader| {
            h.settings.duration.map_or("each node's whole pseudo-time".into(), |d| {
                format!("the first {d} s of each node's pseudo-time")
            })
        };
        format!("it records {}, this run {} ([recorder] duration)", span(found), span(this))
    } else if found.options != this.options {
        // The header says them for every run of the file, as `catar diff` reads them.
        let (was, is) = (options(found, this), options(this, found));
        format!("its runs were made with {was}, this run with {is}")
    } else {
        return Ok(());
    };
    Err(TraceError::Append {
        path: path.into(),
        reason: format!("{reason}; record into another file or with TRUNCATE"),
    })
}

/// The nodes a header's recorder keeps (`nodes =`), as a person names them.
fn recorded(h: &TraceHeader) -> String {
    h.settings.nodes.as_ref().map_or("all nodes".into(), |n| format!("only {}", n.to_ascii_uppercase()))
}

/// The options of `h` that `other` does not have, as a command line spells them
/// (`--domestic-prefix +972`).
fn options(h: &TraceHeader, other: &TraceHeader) -> String {
    let theirs = other.options.as_deref().unwrap_or_default();
    let each = h.options.iter().flatten().filter(|o| !theirs.contains(o));
    each.map(|(flag, value)| format!("{flag} {value}")).collect::<Vec<_>>().join(" ")
}
