//! The replay cursor: a position in a recorded run (every recorded step before it applied) and
//! each node's tables rebuilt there. Seeking is not a scan: the footer index gives each node's
//! chunks and checkpoints with their step ranges, a binary search finds the chunk, and a node
//! is rebuilt from its nearest checkpoint before the target, so reaching any step costs
//! O(log n + the distance to that checkpoint), and memory holds one state per node plus a few
//! decoded chunks, whatever the trace's length.

use std::path::Path;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::model::Record;
use crate::recorder::{Chunk, Event, Level, PipelineDesc, Step, Trace, open_run, read_events};
use crate::trace::{ChunkKind, ChunkMeta, TraceError};
use crate::tracer::stage_name;

use super::tables::NodeTables;

/// Decoded chunks kept per node: two for each of its two states (see [`Cursor::carried`]), so
/// that stepping across nodes rarely decodes a chunk twice; each holds up to 2048 decoded steps
/// (up to a few MB at full level).
const CACHE_PER_NODE: usize = 4;

/// Ticks a state rolls forward rather than restore a checkpoint: the recorder writes one every
/// 32 ticks.
const ROLL_TICKS: u64 = 32;

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
    /// Each node's stage, by index.
    stage_of: Vec<usize>,
    cache: Vec<(usize, Arc<Chunk>)>,
    /// Node `n`'s state at the position is `nodes[n]`; `nodes[n + node count]` is its state at
    /// the end of the tick a node of the next stage last charged (see [`Cursor::carried`]).
    nodes: Vec<NodeState>,
    at: u64,
    // Every node's state is at `at` (set by a seek, kept by `advance`, lost by `walk_node`):
    // stepping forwards then costs one peek per node, not a search.
    synced: bool,
}

impl Cursor {
    /// Open a trace (its last run) at its start (before the first recorded step).
    pub fn open(path: &Path) -> Result<Cursor, TraceError> {
        Cursor::open_run(path, None)
    }

    /// Open run `run` of a trace (from 1; the last when `None`) at its start.
    pub fn open_run(path: &Path, run: Option<usize>) -> Result<Cursor, TraceError> {
        Ok(Cursor::new(open_run(path, run)?.0))
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
        // Each node twice: as the cursor shows it, and as the next stage's nodes need it (at
        // the end of the tick whose records they are charging).
        let nodes = (0..2 * desc.nodes.len())
            .map(|slot| slot % desc.nodes.len())
            .map(|n| NodeState {
                tables: NodeTables::new(&desc, n),
                next: (0, 0),
                failure: None,
                restarts: 0,
                passed: Vec::new(),
            })
            .collect();
        let stage_of = (desc.nodes.iter())
            .map(|n| desc.stages.iter().position(|s| s.name == stage_name(n)).unwrap_or(0))
            .collect();
        Cursor { trace, desc, lines, stage_of, cache: Vec::new(), nodes, at: 0, synced: true }
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
        let c = Arc::new(read_events(&mut self.trace, i)?);
        if self.cache.len() >= CACHE_PER_NODE * self.lines.len().max(3) {
            self.cache.remove(0);
        }
        self.cache.push((i, c.clone()));
        Ok(c)
    }

    /// The chunks of the node whose state is `nodes[n]`.
    fn line(&self, n: usize) -> &Line {
        &self.lines[n % self.lines.len()]
    }

    /// The records that the steps of state `n` carries in (runs of no values), as the nodes of
    /// the stage before sent them at the end of the step's tick: each of those nodes' second
    /// state is brought to that point, from a checkpoint when far from it.
    fn carried(&mut self, n: usize, s: &Step) -> Result<FxHashMap<u64, Record>, TraceError> {
        let mut carried = FxHashMap::default();
        let wanted = s.changes.iter().flat_map(|c| c.runs.iter()).filter(|r| r.3 == 0).map(|r| r.1);
        let wanted: Vec<u64> = wanted.collect();
        let count = self.lines.len();
        let Some(stage) = self.stage_of[n % count].checked_sub(1).filter(|_| !wanted.is_empty()) else {
            return Ok(carried);
        };
        let senders: Vec<usize> = (0..count).filter(|&u| self.stage_of[u] == stage).collect();
        for sender in senders {
            // Going forwards, a state of the sender is at the end of that tick or passed it lately.
            let mut kept = None;
            for slot in [sender, count + sender] {
                if self.nodes[slot].tables.sent_at(s.tick).is_some() || self.at_tick_end(slot, s.tick)? {
                    kept = Some(slot);
                    break;
                }
            }
            let slot = match kept {
                Some(slot) => slot,
                None => {
                    self.sync_to_tick_end(count + sender, s.tick, s.global_step)?;
                    count + sender
                }
            };
            let tables = &self.nodes[slot].tables;
            let kept = tables.sent_at(s.tick);
            for &reg_id in &wanted {
                let r = match kept {
                    Some(rows) => rows.iter().find_map(|t| t.get(&reg_id)),
                    None => tables.rows.sent(reg_id),
                };
                if let Some(r) = r {
                    carried.entry(reg_id).or_insert_with(|| r.clone());
                }
            }
        }
        Ok(carried)
    }

    /// True when state `n` has applied its every step of tick `tick` and none after.
    fn at_tick_end(&mut self, n: usize, tick: u64) -> Result<bool, TraceError> {
        Ok(self.nodes[n].tables.tick() == Some(tick) && self.peek(n)?.is_none_or(|m| m.tick > tick))
    }

    /// Bring state `n` to the end of its tick `tick`: every step of that tick or before, and
    /// numbered below `before`, applied; none of a later tick.
    fn sync_to_tick_end(&mut self, n: usize, tick: u64, before: u64) -> Result<(), TraceError> {
        let here = self.nodes[n].tables.tick();
        let next = self.peek(n)?;
        let done = next.is_none_or(|m| m.tick > tick || m.global_step >= before);
        if here == Some(tick) && done {
            return Ok(());
        }
        // Rolling forward costs at most a checkpoint's span of ticks; so does restoring.
        let behind = here.map_or(tick.saturating_add(1), |t| tick.saturating_sub(t));
        if here.is_some_and(|t| t > tick) || behind > ROLL_TICKS {
            self.restore_before_tick(n, tick, before)?;
        }
        while let Some(m) = self.peek(n)?
            && m.tick <= tick
            && m.global_step < before
        {
            self.apply(n)?;
        }
        Ok(())
    }

    /// Put state `n` at its last checkpoint taken at tick `tick` or before (and numbered below
    /// `before`), or at the start of the run.
    fn restore_before_tick(&mut self, n: usize, tick: u64, before: u64) -> Result<(), TraceError> {
        let cps = self.line(n).checkpoints.clone();
        let k = cps.partition_point(|&i| self.meta(i).first_step < before);
        for &chunk in cps[..k].iter().rev() {
            let events = self.chunk(chunk as usize)?;
            if matches!(events.first(), Some(Event::Checkpoint(cp)) if cp.tick <= tick) {
                return self.restore_to(n, Some((self.meta(chunk).first_step, chunk as usize)));
            }
        }
        self.restore_to(n, None)
    }

    /// Put state `n` at checkpoint `cp` (its step, its chunk), or at the start of the run.
    fn restore_to(&mut self, n: usize, cp: Option<(u64, usize)>) -> Result<(), TraceError> {
        match cp {
            Some((step, chunk)) => {
                let events = self.chunk(chunk)?;
                if let Some(Event::Checkpoint(cp)) = events.first() {
                    self.nodes[n].tables.restore(cp);
                }
                self.nodes[n].next = self.locate(n, step)?;
                self.nodes[n].reset(restarts_of(&events));
            }
            None => {
                self.nodes[n].tables.clear();
                self.nodes[n].next = (0, 0);
                self.nodes[n].reset(0);
            }
        }
        Ok(())
    }

    /// Where node `n`'s first step numbered `g` or more is.
    fn locate(&mut self, n: usize, g: u64) -> Result<(usize, usize), TraceError> {
        let k = self.line(n).events.partition_point(|&i| self.meta(i).last_step < g);
        let Some(chunk) = self.event_chunk(n, k) else { return Ok((k, 0)) };
        let events = self.chunk(chunk)?;
        Ok((k, events.partition_point(|e| step_number(e) < g)))
    }

    fn meta(&self, chunk: u32) -> &ChunkMeta {
        &self.trace.index()[chunk as usize].meta
    }

    /// The chunk number of node `n`'s `k`-th events chunk.
    fn event_chunk(&self, n: usize, k: usize) -> Option<usize> {
        self.line(n).events.get(k).map(|&i| i as usize)
    }

    /// Node `n`'s next step from `at`, normalised past the end of a chunk.
    fn peek_at(
        &mut self,
        n: usize,
        mut at: (usize, usize),
    ) -> Result<Option<(Arc<Chunk>, usize)>, TraceError> {
        let slot_node = n % self.lines.len();
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
                        node.failure = Some((Mark::of(slot_node, &f.undo), f.message.clone()));
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
        let node = n % self.lines.len();
        Ok(self.peek_at(n, at)?.map(|(c, i)| Mark::of(node, step(&c, i))))
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
        let carried = self.carried(n, s)?;
        self.nodes[n].tables.apply(s, &carried);
        self.nodes[n].next.1 += 1;
        Ok(Some(Mark::of(n % self.lines.len(), s)))
    }

    /// Restore node `n`'s tables from its checkpoint taken before step `g`, if it has one.
    fn restore_at(&mut self, n: usize, g: u64) -> Result<(), TraceError> {
        let cps = &self.line(n).checkpoints;
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
        let cps = &self.line(n).checkpoints;
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
            self.restore_to(n, cp)?;
        }
        while self.peek(n)?.is_some_and(|m| m.global_step < g) {
            self.apply(n)?;
        }
        Ok(())
    }

    /// Move to position `g`: every node rebuilt there.
    pub fn seek(&mut self, g: u64) -> Result<(), TraceError> {
        self.synced = false;
        for n in 0..self.lines.len() {
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
        for n in 0..self.lines.len() {
            if let Some(m) = self.peek(n)?
                && best.is_none_or(|b| m.global_step < b.global_step)
            {
                best = Some(m);
            }
        }
        Ok(best)
    }

    /// The next recorded step of `node` from the position, without moving.
    pub fn next_step_of(&mut self, node: usize) -> Result<Option<Mark>, TraceError> {
        if !self.synced {
            self.seek(self.at)?;
        }
        self.peek(node)
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
        self.before(g, node, false)
    }

    /// The last recorded step or failed statement (its failure's mark) numbered below `g`.
    pub fn ran_before(&mut self, g: u64, node: Option<usize>) -> Result<Option<Mark>, TraceError> {
        self.before(g, node, true)
    }

    fn before(&mut self, g: u64, node: Option<usize>, failures: bool) -> Result<Option<Mark>, TraceError> {
        let mut best: Option<Mark> = None;
        for n in (0..self.lines.len()).filter(|&n| node.is_none_or(|x| x == n)) {
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
                    Event::Failure(f) if failures => Some(Mark::of(n, &f.undo)),
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
        for n in 0..self.lines.len() {
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
        for n in 0..self.lines.len() {
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
        (self.nodes[..self.lines.len()].iter())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rating::generate::{GenOptions, generate};
    use crate::recorder::{Level, RecorderSettings};

    /// The records a step carries in are the same whether the stage before's nodes were just
    /// replayed past them (going forwards) or are rebuilt for them from wherever they stand
    /// (after a jump: from a checkpoint, from the start, or rolled forwards).
    #[test]
    fn records_carried_in_are_found_however_the_senders_stand() {
        let dir = tempfile::tempdir().unwrap();
        let opts = GenOptions {
            out: dir.path().into(),
            cdrs: 3000,
            subscribers: 200,
            seed: 5,
            bad_rate: 0.02,
            poison_rate: 0.0,
        };
        generate(&opts).unwrap();
        let trace = dir.path().join("t.trace");
        let mut run = crate::rating::RunOptions::new(dir.path(), dir.path().join("t.db"));
        // 47 ticks of 64 rows: checkpoints at ticks 0 and 32.
        run.window = 64;
        run.record =
            Some((trace.clone(), RecorderSettings { level: Level::Full, ..RecorderSettings::default() }));
        crate::rating::run(&run, &crate::engine::NoHook).unwrap();

        let mut forwards = Cursor::open(&trace).unwrap();
        let mut carrying = Vec::new();
        for i in 0..forwards.trace.index().len() {
            for e in read_events(&mut forwards.trace, i).unwrap() {
                if let Event::Step(s) = e
                    && s.changes.as_ref().is_some_and(|c| c.runs.iter().any(|r| r.3 == 0))
                {
                    carrying.push(s);
                }
            }
        }
        carrying.sort_by_key(|s| s.global_step);
        let stages: Vec<usize> = carrying.iter().map(|s| forwards.stage_of[s.node as usize]).collect();
        assert!(stages.contains(&1) && stages.contains(&2), "RATE and DIS carry records in");
        assert!(carrying.iter().any(|s| s.tick > 40));
        let mut expected = Vec::new();
        for s in &carrying {
            forwards.seek(s.global_step).unwrap();
            expected.push(forwards.carried(s.node as usize, s).unwrap());
        }
        // Every record carried in is found, with its values.
        for (s, found) in carrying.iter().zip(&expected) {
            let runs = s.changes.as_ref().unwrap().runs.iter().filter(|r| r.3 == 0);
            for r in runs {
                assert!(
                    found.get(&r.1).is_some_and(|x| x.held() != 0),
                    "reg_id {} at {}",
                    r.1,
                    s.global_step
                );
            }
        }
        // A cursor that has not moved finds them through the senders' own states, in an order
        // that goes back past checkpoints and far forwards.
        let mut jumping = Cursor::open(&trace).unwrap();
        let order = (0..carrying.len()).rev().chain((0..carrying.len()).map(|i| (i * 37) % carrying.len()));
        for i in order {
            let s = &carrying[i];
            assert_eq!(jumping.carried(s.node as usize, s).unwrap(), expected[i], "at {}", s.global_step);
        }
    }
}
