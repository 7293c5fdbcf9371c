//! The replay cursor: a position in a recorded run (every recorded step before it applied) and
//! each node's tables rebuilt there. Seeking is not a scan: the footer index gives each node's
//! chunks and checkpoints with their step ranges, a binary search finds the chunk, and a node
//! is rebuilt from its nearest checkpoint before the target, so reaching any step costs
//! O(log n + the distance to that checkpoint), and memory holds one state per node plus a few
//! decoded chunks, whatever the trace's length.

use std::path::Path;
use std::sync::Arc;

use crate::recorder::{Chunk, Event, Level, PipelineDesc, Step, Trace, open_trace};
use crate::trace::{ChunkKind, ChunkMeta, TraceError};

use super::tables::NodeTables;

/// Decoded chunks kept: two per node of a pipeline of six or so, so that stepping across
/// nodes rarely decodes a chunk twice; each holds up to 2048 decoded steps (about 1 MB).
const CACHE: usize = 12;

/// One recorded step, without its changes: where a stop is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// Node index.
    pub node: usize,
    /// The node's step number.
    pub node_step: u64,
    /// The global step number.
    pub global_step: u64,
    /// The statement's position in the node's program.
    pub statement: usize,
    /// The node's tick.
    pub tick: u64,
    /// Pseudo-time, Unix seconds (0: the node had no event time yet).
    pub time: i64,
    /// Wall microseconds the statement took when recorded.
    pub wall_us: u32,
}

impl Mark {
    /// The step `s` of node `node` (the node whose chunk holds it, whatever the step says).
    fn of(node: usize, s: &Step) -> Self {
        Mark {
            node,
            node_step: s.node_step,
            global_step: s.global_step,
            statement: s.statement as usize,
            tick: s.tick,
            time: s.time,
            wall_us: s.wall_us,
        }
    }
}

/// A node's chunks in the trace, by chunk number (their step ranges are in the trace's
/// index: only four bytes a chunk here, so a long trace's memory is its index).
#[derive(Default)]
struct Line {
    /// Events chunks, in step order.
    events: Vec<u32>,
    /// Checkpoints, in step order.
    checkpoints: Vec<u32>,
}

/// A node's rebuilt state and where its next step is: (position in its line, event index).
struct NodeState {
    tables: NodeTables,
    next: (usize, usize),
    /// A failed tick passed since the last step applied (where it failed, and why): its
    /// steps are undone by restoring the checkpoint written before the next step.
    failure: Option<(Mark, String)>,
    /// The node's restarts up to its last step applied.
    restarts: u32,
    /// Failures passed since its last step applied: (where, the node's restarts after it).
    passed: Vec<(u64, u32)>,
}

impl NodeState {
    /// Back to the start of a checkpoint (or of the run), whose restarts are `restarts`.
    fn reset(&mut self, restarts: u32) {
        self.failure = None;
        self.restarts = restarts;
        self.passed.clear();
    }
}

/// The restarts a checkpoint chunk says its node had (none before events version 8).
fn restarts_of(chunk: &Chunk) -> u32 {
    chunk
        .iter()
        .find_map(|e| if let Event::Restarts { restarts, .. } = e { Some(*restarts) } else { None })
        .unwrap_or(0)
}

/// What [`Cursor::walk_node`] shows its visitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Visit<'a> {
    /// The tables before the step.
    Before,
    /// The tables after it.
    After,
    /// The step is where a tick failed (with this error); the tables as the failure left them.
    Failure(&'a str),
}

/// A position in a trace, and every node's tables there.
pub struct Cursor {
    trace: Trace,
    desc: Arc<PipelineDesc>,
    lines: Vec<Line>,
    cache: Vec<(usize, Arc<Chunk>)>,
    nodes: Vec<NodeState>,
    at: u64,
    // Every node's state is at `at` (set by a seek, kept by `advance`, lost by `walk_node`):
    // stepping forwards then costs one peek per node, not a search.
    synced: bool,
}

impl Cursor {
    /// Open a trace at its start (before the first recorded step).
    pub fn open(path: &Path) -> Result<Cursor, TraceError> {
        Ok(Cursor::new(open_trace(path)?))
    }

    /// A cursor over an open trace, at its start.
    pub fn new(trace: Trace) -> Cursor {
        let desc = Arc::new(trace.header().pipeline.clone());
        let mut lines: Vec<Line> = (0..desc.nodes.len()).map(|_| Line::default()).collect();
        let index = trace.index();
        for (i, e) in index.iter().enumerate() {
            let Some(line) = lines.get_mut(e.meta.node as usize) else { continue };
            match e.kind {
                ChunkKind::Events => line.events.push(i as u32),
                ChunkKind::Checkpoint => line.checkpoints.push(i as u32),
                ChunkKind::Keys => {}
            }
        }
        // A node's chunks are written in order; sorting keeps an appended (ACCUMULATE) trace
        // searchable too.
        let first = |i: &u32| index[*i as usize].meta.first_step;
        for line in &mut lines {
            line.events.sort_by_key(first);
            line.checkpoints.sort_by_key(first);
        }
        let nodes = (0..desc.nodes.len())
            .map(|n| NodeState {
                tables: NodeTables::new(&desc, n),
                next: (0, 0),
                failure: None,
                restarts: 0,
                passed: Vec::new(),
            })
            .collect();
        Cursor { trace, desc, lines, cache: Vec::new(), nodes, at: 0, synced: true }
    }

    /// The pipeline recorded.
    pub fn desc(&self) -> &Arc<PipelineDesc> {
        &self.desc
    }

    /// The level the trace was recorded at.
    pub fn level(&self) -> Level {
        self.trace.header().settings.level
    }

    /// True when the trace ends with its footer (the run closed it).
    pub fn complete(&self) -> bool {
        self.trace.complete()
    }

    /// The position: every recorded step numbered below it is applied.
    pub fn at(&self) -> u64 {
        self.at
    }

    /// A node's restarts at the position: those of the failures recorded before it.
    pub(crate) fn restarts(&mut self, node: usize) -> Result<u32, TraceError> {
        if !self.synced {
            self.sync(node, self.at)?;
        }
        let n = &self.nodes[node];
        let passed = n.passed.iter().filter(|p| p.0 < self.at).map(|p| p.1);
        Ok(passed.fold(n.restarts, u32::max))
    }

    /// A node's tables at the position.
    pub(crate) fn tables(&mut self, node: usize) -> Result<&mut NodeTables, TraceError> {
        if !self.synced {
            self.sync(node, self.at)?;
        }
        Ok(&mut self.nodes[node].tables)
    }

    fn chunk(&mut self, i: usize) -> Result<Arc<Chunk>, TraceError> {
        if let Some(k) = self.cache.iter().position(|(j, _)| *j == i) {
            let hit = self.cache.remove(k);
            let c = hit.1.clone();
            self.cache.push(hit);
            return Ok(c);
        }
        let c = Arc::new(self.trace.read_chunk(i)?);
        if self.cache.len() >= CACHE {
            self.cache.remove(0);
        }
        self.cache.push((i, c.clone()));
        Ok(c)
    }

    /// Where node `n`'s first step numbered `g` or more is.
    fn locate(&mut self, n: usize, g: u64) -> Result<(usize, usize), TraceError> {
        let k = self.lines[n].events.partition_point(|&i| self.meta(i).last_step < g);
        let Some(chunk) = self.event_chunk(n, k) else { return Ok((k, 0)) };
        let events = self.chunk(chunk)?;
        Ok((k, events.partition_point(|e| step_number(e) < g)))
    }

    fn meta(&self, chunk: u32) -> &ChunkMeta {
        &self.trace.index()[chunk as usize].meta
    }

    /// The chunk number of node `n`'s `k`-th events chunk.
    fn event_chunk(&self, n: usize, k: usize) -> Option<usize> {
        self.lines[n].events.get(k).map(|&i| i as usize)
    }

    /// Node `n`'s next step from `at`, normalised past the end of a chunk.
    fn peek_at(
        &mut self,
        n: usize,
        mut at: (usize, usize),
    ) -> Result<Option<(Arc<Chunk>, usize)>, TraceError> {
        while let Some(chunk) = self.event_chunk(n, at.0) {
            let events = self.chunk(chunk)?;
            while let Some(e) = events.get(at.1) {
                match e {
                    Event::Step(_) => {
                        self.nodes[n].next = at;
                        return Ok(Some((events, at.1)));
                    }
                    Event::Failure(f) => {
                        let node = &mut self.nodes[n];
                        node.failure = Some((Mark::of(n, &f.undo), f.message.clone()));
                        if !node.passed.iter().any(|p| p.0 == f.undo.global_step) {
                            node.passed.push((f.undo.global_step, f.restarts));
                        }
                    }
                    _ => {}
                }
                at.1 += 1;
            }
            at = (at.0 + 1, 0);
        }
        self.nodes[n].next = at;
        Ok(None)
    }

    fn peek(&mut self, n: usize) -> Result<Option<Mark>, TraceError> {
        let at = self.nodes[n].next;
        Ok(self.peek_at(n, at)?.map(|(c, i)| Mark::of(n, step(&c, i))))
    }

    /// Apply node `n`'s next step to its tables.
    fn apply(&mut self, n: usize) -> Result<Option<Mark>, TraceError> {
        let at = self.nodes[n].next;
        let Some((events, i)) = self.peek_at(n, at)? else { return Ok(None) };
        let s = step(&events, i);
        if self.nodes[n].failure.take().is_some() {
            self.restore_at(n, s.global_step)?;
        }
        // The failures passed on the way to this step (all before it: a node's events are in
        // step order) count from now on.
        let node = &mut self.nodes[n];
        node.restarts = node.passed.drain(..).map(|p| p.1).fold(node.restarts, u32::max);
        self.nodes[n].tables.apply(s);
        self.nodes[n].next.1 += 1;
        Ok(Some(Mark::of(n, s)))
    }

    /// Restore node `n`'s tables from its checkpoint taken before step `g`, if it has one.
    fn restore_at(&mut self, n: usize, g: u64) -> Result<(), TraceError> {
        let cps = &self.lines[n].checkpoints;
        let k = cps.partition_point(|&i| self.meta(i).first_step < g);
        if let Some(&chunk) = cps.get(k).filter(|&&i| self.meta(i).first_step == g) {
            let events = self.chunk(chunk as usize)?;
            if let Some(Event::Checkpoint(cp)) = events.first() {
                self.nodes[n].tables.restore(cp);
            }
        }
        Ok(())
    }

    /// Make node `n`'s tables hold every step of it numbered below `g`.
    fn sync(&mut self, n: usize, g: u64) -> Result<(), TraceError> {
        let target = self.locate(n, g)?;
        let next = self.peek(n)?.map_or(u64::MAX, |m| m.global_step);
        let here = self.nodes[n].next;
        let cps = &self.lines[n].checkpoints;
        let cp = cps
            .partition_point(|&i| self.meta(i).first_step <= g)
            .checked_sub(1)
            .map(|k| (self.meta(cps[k]).first_step, cps[k] as usize));
        // Going back, or a checkpoint closer than the node's current state: restore.
        let restore = match cp {
            _ if target < here => true,
            Some((c, _)) => c > next && c <= g,
            None => false,
        };
        if restore {
            match cp {
                Some((c, chunk)) => {
                    let events = self.chunk(chunk)?;
                    if let Some(Event::Checkpoint(cp)) = events.first() {
                        self.nodes[n].tables.restore(cp);
                    }
                    self.nodes[n].next = self.locate(n, c)?;
                    self.nodes[n].reset(restarts_of(&events));
                }
                None => {
                    self.nodes[n].tables.clear();
                    self.nodes[n].next = (0, 0);
                    self.nodes[n].reset(0);
                }
            }
        }
        while self.peek(n)?.is_some_and(|m| m.global_step < g) {
            self.apply(n)?;
        }
        Ok(())
    }

    /// Move to position `g`: every node rebuilt there.
    pub fn seek(&mut self, g: u64) -> Result<(), TraceError> {
        self.synced = false;
        for n in 0..self.nodes.len() {
            self.sync(n, g)?;
        }
        self.at = g;
        self.synced = true;
        Ok(())
    }

    /// The next recorded step from the position (of any node), without moving.
    pub fn next_step(&mut self) -> Result<Option<Mark>, TraceError> {
        if !self.synced {
            self.seek(self.at)?;
        }
        let mut best: Option<Mark> = None;
        for n in 0..self.nodes.len() {
            if let Some(m) = self.peek(n)?
                && best.is_none_or(|b| m.global_step < b.global_step)
            {
                best = Some(m);
            }
        }
        Ok(best)
    }

    /// Apply the next recorded step and move past it; the step (what it changed is in its
    /// node's tables' report). Other nodes have no step in between: they stay where they are.
    pub(crate) fn advance(&mut self) -> Result<Option<Mark>, TraceError> {
        let Some(m) = self.next_step()? else { return Ok(None) };
        self.apply(m.node)?;
        self.at = m.global_step + 1;
        Ok(Some(m))
    }

    /// The last recorded step numbered below `g` (of `node`, or of any node).
    pub fn step_before(&mut self, g: u64, node: Option<usize>) -> Result<Option<Mark>, TraceError> {
        let mut best: Option<Mark> = None;
        for n in (0..self.nodes.len()).filter(|&n| node.is_none_or(|x| x == n)) {
            // The last chunk starting before `g`, or an earlier one when that one holds no step
            // before it (a chunk holding only the node's end).
            let mut k = self.lines[n].events.partition_point(|&i| self.meta(i).first_step < g);
            let mut found = None;
            while found.is_none() && k > 0 {
                k -= 1;
                let Some(chunk) = self.event_chunk(n, k) else { break };
                let events = self.chunk(chunk)?;
                let i = events.partition_point(|e| step_number(e) < g);
                found = events[..i].iter().rev().find_map(|e| match e {
                    Event::Step(s) => Some(Mark::of(n, s)),
                    _ => None,
                });
            }
            if let Some(m) = found
                && best.is_none_or(|b| m.global_step > b.global_step)
            {
                best = Some(m);
            }
        }
        Ok(best)
    }

    /// The first recorded step numbered `g` or more (of any node).
    pub fn step_from(&mut self, g: u64) -> Result<Option<Mark>, TraceError> {
        let mut best: Option<Mark> = None;
        for n in 0..self.nodes.len() {
            let at = self.locate(n, g)?;
            let saved = self.nodes[n].next;
            let found = self.peek_at(n, at)?.map(|(c, i)| Mark::of(n, step(&c, i)));
            self.nodes[n].next = saved;
            if let Some(m) = found
                && best.is_none_or(|b| m.global_step < b.global_step)
            {
                best = Some(m);
            }
        }
        Ok(best)
    }

    /// The first recorded step at pseudo-time `t` or later, of any node (each node's clock
    /// only moves forward).
    pub fn step_at_time(&mut self, t: i64) -> Result<Option<Mark>, TraceError> {
        let mut best: Option<Mark> = None;
        for n in 0..self.nodes.len() {
            let k = self.lines[n].events.partition_point(|&i| self.meta(i).last_time < t);
            let Some(chunk) = self.event_chunk(n, k) else { continue };
            let events = self.chunk(chunk)?;
            let found = events.iter().find_map(|e| match e {
                Event::Step(s) if s.time >= t => Some(Mark::of(n, s)),
                _ => None,
            });
            if let Some(m) = found
                && best.is_none_or(|b| m.global_step < b.global_step)
            {
                best = Some(m);
            }
        }
        Ok(best)
    }

    /// The number just past the last recorded step.
    pub fn end(&mut self) -> Result<u64, TraceError> {
        Ok(self.step_before(u64::MAX, None)?.map_or(0, |m| m.global_step + 1))
    }

    /// The checkpoints of node `n`: (global step about to run, chunk number).
    pub(crate) fn checkpoints(&self, n: usize) -> Vec<u64> {
        self.lines[n].checkpoints.iter().map(|&i| self.meta(i).first_step).collect()
    }

    /// Rebuild node `n` at position `from` (a checkpoint's step, or 0) and visit each of its
    /// steps numbered below `to`: `visit(step, tables before it, Before)`, apply it,
    /// `visit(step, tables after it, After)`; and each failure among them, with the tables it
    /// left (`Failure`). The node's state is left at `to`.
    pub(crate) fn walk_node(
        &mut self,
        n: usize,
        from: u64,
        to: u64,
        mut visit: impl FnMut(&Mark, &mut NodeTables, Visit<'_>),
    ) -> Result<(), TraceError> {
        self.synced = false;
        self.sync(n, from)?;
        let mut seen = None;
        loop {
            let next = self.peek(n)?;
            let node = &mut self.nodes[n];
            if let Some((f, error)) = &node.failure
                && f.global_step >= from
                && f.global_step < to
                && seen != Some(f.global_step)
            {
                seen = Some(f.global_step);
                visit(f, &mut node.tables, Visit::Failure(error));
            }
            let Some(m) = next.filter(|m| m.global_step < to) else { return Ok(()) };
            visit(&m, &mut self.nodes[n].tables, Visit::Before);
            self.apply(n)?;
            visit(&m, &mut self.nodes[n].tables, Visit::After);
        }
    }

    /// The failures passed since each node's last step applied, from position `from` on.
    pub(crate) fn failures_pending(&self, from: u64) -> impl Iterator<Item = (&Mark, &str)> {
        (self.nodes.iter())
            .filter_map(|node| node.failure.as_ref())
            .filter(move |(m, _)| m.global_step >= from)
            .map(|(m, e)| (m, e.as_str()))
    }

    /// Node `n`'s last step numbered below `g`, if any (its state there).
    pub fn last_of(&mut self, n: usize, g: u64) -> Result<Option<Mark>, TraceError> {
        self.step_before(g, Some(n))
    }

    /// True when node `n` recorded its end before position `g`.
    pub fn done_before(&mut self, n: usize, g: u64) -> Result<bool, TraceError> {
        // The node's last chunk in the file: its end is written last.
        let Some(&chunk) = self.lines[n].events.iter().max() else { return Ok(false) };
        let chunk = chunk as usize;
        let events = self.chunk(chunk)?;
        let last_step = events.iter().rev().find_map(|e| match e {
            Event::Step(s) => Some(s.global_step),
            _ => None,
        });
        let done = events.iter().any(|e| matches!(e, Event::Done { .. }));
        Ok(done && last_step.is_none_or(|s| s < g))
    }
}

/// The global step number of an event, for binary searches (a `Done` sorts last).
fn step_number(e: &Event) -> u64 {
    match e {
        Event::Step(s) => s.global_step,
        Event::Failure(f) => f.undo.global_step,
        _ => u64::MAX,
    }
}

fn step(events: &Chunk, i: usize) -> &Step {
    match &events[i] {
        Event::Step(s) => s,
        _ => unreachable!("peek_at returns steps only"),
    }
}
