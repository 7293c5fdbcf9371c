//! Damage to a trace named as a person reads the trace: whose chunk, which steps, and what of
//! the file is apart from it. The trace layer knows offsets and node numbers; the header knows
//! the nodes' names.

use std::path::Path;

use super::Trace;
use crate::trace::{ChunkKind, IndexEntry, TraceError};

/// `e`, met reading chunk `i` of `trace`, naming the chunk when the error is damage to it.
pub(super) fn chunk(trace: &Trace, i: usize, e: TraceError) -> TraceError {
    let (Some((offset, reason)), Some(entry)) = (e.damage(), trace.index().get(i)) else { return e };
    let m = &entry.meta;
    let node = trace.header().pipeline.nodes.get(usize::from(m.node)).cloned();
    let node = node.unwrap_or_else(|| format!("node {}", m.node));
    // Its place among the node's chunks of its kind, which says how much of the node is before.
    let same = |j: &&IndexEntry| j.meta.node == m.node && j.kind == entry.kind;
    let nth = trace.index()[..i].iter().filter(same).count() + 1;
    let of = trace.index().iter().filter(same).count();
    let steps = format!("global steps {}–{}", m.first_step, m.last_step);
    let part = match entry.kind {
        ChunkKind::Events => {
            format!("{node}'s events chunk {nth} of {of} ({steps}{})", times(m.first_time, m.last_time))
        }
        ChunkKind::Checkpoint => {
            format!("{node}'s checkpoint {nth} of {of} (at global step {})", m.first_step)
        }
        ChunkKind::Keys => format!("{node}'s keys chunk {nth} of {of} (summing up its events of {steps})"),
    };
    let others = format!("the file's {} other chunk(s) are apart from it", trace.index().len() - 1);
    let apart = match entry.kind {
        ChunkKind::Events if nth == 1 => format!("{others} ({node} has no step before it)"),
        ChunkKind::Events => {
            format!("{others} ({node}'s steps before global step {}, and the other nodes')", m.first_step)
        }
        ChunkKind::Checkpoint => format!("{others} ({node}'s steps among them)"),
        ChunkKind::Keys => {
            "keys only speed a search up: the events they sum up are a chunk of their own".into()
        }
    };
    TraceError::Damaged { path: trace.path().into(), part, offset, reason, apart }
}

/// `e`, met opening the trace at `path`, naming the header frame (at `at`) when the error is
/// damage to it.
pub(super) fn header(path: &Path, at: u64, e: TraceError) -> TraceError {
    match e.damage() {
        Some((offset, reason)) if offset == at => TraceError::Damaged {
            path: path.into(),
            part: "its header (the pipeline described)".into(),
            offset,
            reason,
            apart: "no chunk can be read without it".into(),
        },
        _ => e,
    }
}

/// `, pseudo-time A to B`, from what the chunk's steps had set (a clock not yet set reads 0).
fn times(first: i64, last: i64) -> String {
    let at = crate::export::instant;
    match (first, last) {
        (_, 0) => String::new(),
        (0, last) => format!(", pseudo-time up to {}", at(last)),
        (first, last) => format!(", pseudo-time {} to {}", at(first), at(last)),
    }
}
