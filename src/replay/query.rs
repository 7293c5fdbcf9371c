//! A record's history by identifier (SPEC §6, seed 002): every step of a full-level trace that
//! touched the records carrying `NAME = VALUE` (reg_id or any context: EVENT_ID, IMSI,
//! SUBSCRIBER …), the statement that did it, the cabinet before and after, the context values
//! after; and metrics over those records. Two passes over the trace: find the records, then
//! follow them.

use indexmap::IndexMap;
use jiff::Timestamp;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use crate::recorder::{ChunkKeys, Event, Failure, Level, PipelineDesc, Step, Trace, TraceValue, read_events};
use crate::trace::{ChunkKind, TraceError};
use crate::tracer::Cell;

/// The cabinet of a record whose slots were freed (the trace keeps the contexts, not the cabinet).
const FREED: u16 = u16::MAX;

/// Why a query cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The trace could not be read.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// `--id` is not `NAME=VALUE`, or NAME is not an identifier the trace knows.
    #[error("--id {0}")]
    Id(String),
    /// The trace holds no record values.
    #[error("{0} was recorded at {1} level: a record's history needs a trace recorded with --level full")]
    Level(String, Level),
}

/// One step that touched one of the records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touch {
    /// The step's number across all nodes.
    pub global_step: u64,
    /// The node.
    pub node: String,
    /// The node's step number.
    pub step: u64,
    /// The node's tick (input window).
    pub tick: u64,
    /// The statement that ran.
    pub statement: String,
    /// The node's pseudo-time.
    pub pseudo_time: Option<Timestamp>,
    /// The table it touched.
    pub table: String,
    /// The record.
    pub reg_id: u64,
    /// Its cabinet before the step (empty: it was not in the table).
    pub before: String,
    /// Its cabinet after the step (empty: it left the table).
    pub after: String,
    /// The context values the step set (an empty text: it cleared the context); integers as
    /// numbers, as inquiries give them.
    pub set: IndexMap<String, Cell>,
    /// All its context values after the step.
    pub contexts: IndexMap<String, Cell>,
    /// The step's tick failed and was undone (the node restarted): why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undone: Option<String>,
}

/// One node's part in the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeMetrics {
    /// The node.
    pub node: String,
    /// Steps that touched the records.
    pub steps: u64,
    /// The records it touched.
    pub records: u64,
    /// Pseudo-time of the earliest and latest such step (an undone attempt ran at its
    /// window's latest time, its retries at earlier ones).
    pub first: Option<Timestamp>,
    /// See `first`.
    pub last: Option<Timestamp>,
}

/// Metrics over the records found (seed 002).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    /// Records per cabinet they ended in (the last cabinet of their life).
    pub records_per_cabinet: IndexMap<String, u64>,
    /// Pseudo-seconds the records spent in each cabinet (from entering it to leaving it).
    pub seconds_in_cabinet: IndexMap<String, i64>,
    /// Failed ticks that held the records (their steps are marked undone).
    pub failures: u64,
    /// Restarts those failures caused (each failure restarts its node once).
    pub restarts: u64,
    /// Per node.
    pub nodes: Vec<NodeMetrics>,
}

/// The answer to `catar query`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// The identifier asked for, as NAME=VALUE.
    pub id: String,
    /// The records carrying it (reg_ids).
    pub records: Vec<u64>,
    /// Every step that touched them, in global step order.
    pub touches: Vec<Touch>,
    /// Read from a trace still being written (a live run's): the latest steps of the nodes
    /// still running may be missing (a stopped or waiting node has put its steps on disk).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// Metrics over them.
    pub metrics: Metrics,
}

/// A value as text (times as RFC 3339).
pub fn value_text(v: &TraceValue) -> String {
    value_cell(v).to_string()
}

/// A value as a history gives it: integers as integers, text, times as RFC 3339 text; an
/// empty text for no value.
fn value_cell(v: &TraceValue) -> Cell {
    match v {
        TraceValue::Empty => Cell::Text(String::new()),
        TraceValue::Int(i) => Cell::Int(*i),
        TraceValue::Text(s) => Cell::Text(s.to_string()),
        TraceValue::Time(s, n) => {
            Cell::Text(Timestamp::new(*s, *n).map_or_else(|_| format!("{s}s"), |t| t.to_string()))
        }
    }
}

/// What the id asks for.
enum Key {
    RegId(u64),
    Context(u16, String),
}

fn key(desc: &PipelineDesc, id: &str) -> Result<Key, QueryError> {
    let Some((name, value)) = id.split_once('=') else {
        return Err(QueryError::Id(format!(
            "`{id}` is not NAME=VALUE (like EVENT_ID=EV000000042 or reg_id=7)"
        )));
    };
    let (name, value) = (name.trim(), value.trim());
    if name.eq_ignore_ascii_case("reg_id") {
        return value
            .parse()
            .map(Key::RegId)
            .map_err(|_| QueryError::Id(format!("reg_id `{value}` is not a number")));
    }
    match desc.contexts.iter().position(|c| c.name.eq_ignore_ascii_case(name)) {
        Some(i) => Ok(Key::Context(i as u16, value.to_string())),
        None => {
            let known: Vec<&str> = desc.contexts.iter().map(|c| c.name.as_str()).collect();
            Err(QueryError::Id(format!(
                "`{name}` is neither reg_id nor a context (contexts: {})",
                known.join(", ")
            )))
        }
    }
}

/// Each value a step set, with the record it belongs to: (table, reg_id, cabinet, context, value).
fn values(step: &Step) -> impl Iterator<Item = (u16, u64, u16, u16, &TraceValue)> {
    let changes = step.changes.as_ref();
    let runs = changes.map_or(&[][..], |c| &c.runs[..]);
    let all = changes.map_or(&[][..], |c| &c.values[..]);
    let mut at = 0;
    runs.iter().flat_map(move |&(table, reg_id, cabinet, n)| {
        let run = &all[at.min(all.len())..(at + n as usize).min(all.len())];
        at += n as usize;
        run.iter().map(move |(context, v)| (table, reg_id, cabinet, *context, v))
    })
}

/// Step `s` reduced to what it did to the records `ours(table, reg_id)` picks, if anything.
fn only(s: &Step, ours: impl Fn(u16, u64) -> bool) -> Option<Step> {
    let c = s.changes.as_ref()?;
    let mut kept = crate::recorder::Changes {
        transitions: c.transitions.iter().filter(|t| ours(t.0, t.1)).copied().collect(),
        freed: c.freed.iter().filter(|f| ours(f.0, f.1)).copied().collect(),
        copies: c.copies.iter().filter(|x| ours(x.0, x.1)).copied().collect(),
        ..Default::default()
    };
    let mut at = 0;
    for &run in &c.runs {
        // Clamped to the values there are (a damaged trace), never read as a run carried in.
        let values = c.values.get(at.min(c.values.len())..(at + run.3 as usize).min(c.values.len()));
        let values = values.unwrap_or_default();
        at += run.3 as usize;
        if ours(run.0, run.1) && (run.3 == 0 || !values.is_empty()) {
            kept.runs.push((run.0, run.1, run.2, values.len() as u32));
            kept.values.extend_from_slice(values);
        }
    }
    if kept.transitions.is_empty() && kept.runs.is_empty() && kept.freed.is_empty() && kept.copies.is_empty()
    {
        return None;
    }
    // The summary fields are not read by the history: only the step's place.
    Some(Step {
        node: s.node,
        node_step: s.node_step,
        global_step: s.global_step,
        statement: s.statement,
        tick: s.tick,
        time: s.time,
        changes: Some(kept),
        ..Step::default()
    })
}

/// The events chunks of a trace with their keys, where it has them (full level, version 2):
/// a search decodes only the chunks whose keys may hold what it looks for.
struct Chunks {
    events: Vec<(usize, Option<ChunkKeys>)>,
}

impl Chunks {
    fn of(trace: &mut Trace) -> Result<Chunks, TraceError> {
        let mut events = Vec::new();
        let mut at: FxHashMap<(u16, u64, u64), usize> = FxHashMap::default();
        let mut keys = Vec::new();
        for (i, e) in trace.index().iter().enumerate() {
            match e.kind {
                ChunkKind::Events => {
                    at.insert((e.meta.node, e.meta.first_step, e.meta.last_step), events.len());
                    events.push((i, None));
                }
                ChunkKind::Keys => keys.push((i, (e.meta.node, e.meta.first_step, e.meta.last_step))),
                ChunkKind::Checkpoint => {}
            }
        }
        // Keys of another events version hash values another way: read every chunk instead.
        let keyed = trace.header().events_version >= crate::recorder::KEYED_EVENTS_VERSION;
        for (i, meta) in keys.into_iter().filter(|_| keyed) {
            let Some(&k) = at.get(&meta) else { continue };
            // Keys only rule chunks out: damaged ones rule nothing out, and the events chunk
            // they sum up is read whole, so the answer is the same.
            let read =
                read_events(trace, i).or_else(|e| if e.damage().is_some() { Ok(Vec::new()) } else { Err(e) });
            if let Some(Event::Keys(keys)) = read?.into_iter().next() {
                events[k].1 = Some(*keys);
            }
        }
        Ok(Chunks { events })
    }

    /// Every step of the chunks `wanted` (given a chunk's keys, if any) may concern, in file
    /// order (so each node's steps in order).
    fn steps(
        &self,
        trace: &mut Trace,
        wanted: impl Fn(&ChunkKeys) -> bool,
        mut each: impl FnMut(&Event),
    ) -> Result<(), TraceError> {
        for (i, keys) in &self.events {
            if keys.as_ref().is_some_and(|k| !wanted(k)) {
                continue;
            }
            for e in &read_events(trace, *i)? {
                if matches!(e, Event::Step(_) | Event::Failure(_)) {
                    each(e);
                }
            }
        }
        Ok(())
    }
}

/// The history of the records carrying `id` (NAME=VALUE) in a full-level trace.
pub fn query(trace: &mut Trace, origin: &str, id: &str) -> Result<History, QueryError> {
    let desc = trace.header().pipeline.clone();
    let level = trace.header().settings.level;
    if level != Level::Full {
        return Err(QueryError::Level(origin.to_string(), level));
    }
    let key = key(&desc, id)?;
    let flow = desc.flow_tables();
    let in_flow = move |node: u16, table: u16| {
        flow.get(node as usize).and_then(|t| t.get(table as usize)).copied().unwrap_or(false)
    };
    let chunks = Chunks::of(trace)?;
    let mut records: FxHashSet<u64> = FxHashSet::default();
    match &key {
        Key::RegId(r) => {
            records.insert(*r);
        }
        Key::Context(context, value) => {
            // Keys hold identifier (heavy) values only: a light context is looked for everywhere.
            let identifier = desc.contexts.get(*context as usize).is_some_and(|c| c.heavy);
            let wanted = |k: &ChunkKeys| !identifier || k.may_set(*context, value);
            chunks.steps(trace, wanted, |e| {
                let Event::Step(s) = e else { return };
                for (table, reg_id, _, c, v) in values(s) {
                    if c == *context && in_flow(s.node, table) && value_text(v) == *value {
                        records.insert(reg_id);
                    }
                }
            })?
        }
    }
    // The records' part of each step, then followed in step order: chunks come in file order,
    // and a record carried into a node takes the values the stage before left it with.
    let mut events: Vec<Event> = Vec::new();
    let mut attempts: FxHashMap<u16, Vec<u64>> = FxHashMap::default();
    chunks.steps(
        trace,
        |k| records.iter().any(|&r| k.may_touch(r)),
        |e| match e {
            Event::Step(s) => {
                // Every attempt at a tick runs the program from its first statement: where
                // a failed attempt began, whether it held the records or not.
                if s.statement == 0 {
                    attempts.entry(s.node).or_default().push(s.global_step);
                }
                events.extend(only(s, |t, r| records.contains(&r) && in_flow(s.node, t)).map(Event::Step))
            }
            Event::Failure(f) => events.push(Event::Failure(f.clone())),
            _ => {}
        },
    )?;
    events.sort_by_key(|e| match e {
        Event::Step(s) => s.global_step,
        Event::Failure(f) => f.undo.global_step,
        _ => u64::MAX,
    });
    attempts.values_mut().for_each(|a| a.sort_unstable());
    let mut follow = Follow::new(&desc, &records, &in_flow, attempts);
    for e in &events {
        match e {
            Event::Step(s) => follow.step(s),
            Event::Failure(f) => follow.failure(f),
            _ => {}
        }
    }
    Ok(follow.finish(id))
}

/// What one step did to one record of one table: (cabinet before, after, values set).
type StepTouch = (u16, u16, IndexMap<String, Cell>);

/// The second pass: the touches of the records found, their values and their cabinets.
struct Follow<'a> {
    desc: &'a PipelineDesc,
    records: &'a FxHashSet<u64>,
    in_flow: &'a dyn Fn(u16, u16) -> bool,
    touches: Vec<Touch>,
    // Per node, the global steps at which its attempts at a tick began (in order).
    attempts: FxHashMap<u16, Vec<u64>>,
    // Per (node, reg_id): its values now.
    values: FxHashMap<(u16, u64), IndexMap<String, Cell>>,
    last_cabinet: FxHashMap<u64, (u64, u16)>,
    failures: u64,
}

impl<'a> Follow<'a> {
    fn new(
        desc: &'a PipelineDesc,
        records: &'a FxHashSet<u64>,
        in_flow: &'a dyn Fn(u16, u16) -> bool,
        attempts: FxHashMap<u16, Vec<u64>>,
    ) -> Self {
        Follow {
            desc,
            records,
            in_flow,
            touches: Vec::new(),
            attempts,
            values: FxHashMap::default(),
            last_cabinet: FxHashMap::default(),
            failures: 0,
        }
    }

    fn table(&self, node: u16, table: u16) -> String {
        let stage = self.desc.nodes.get(node as usize).map(|n| crate::tracer::stage_name(n));
        (self.desc.stages.iter().find(|s| Some(s.name.as_str()) == stage))
            .and_then(|s| s.tables.get(table as usize))
            .map_or_else(|| format!("#{table}"), |(name, _)| name.clone())
    }

    fn cabinet(&self, c: u16) -> String {
        match c {
            0 => String::new(),
            FREED => "(unchanged)".into(),
            c => self.desc.cabinet(c).to_string(),
        }
    }

    /// The values record `reg_id` holds in the stage before node `node`'s, in context order.
    fn sent(&self, node: u16, reg_id: u64) -> Vec<(String, Cell)> {
        let stage_of =
            |n: &String| self.desc.stages.iter().position(|s| s.name == crate::tracer::stage_name(n));
        let stage = self.desc.nodes.get(node as usize).and_then(stage_of).and_then(|s| s.checked_sub(1));
        let senders =
            (self.desc.nodes.iter().enumerate()).filter(|(_, n)| stage.is_some() && stage_of(n) == stage);
        let Some(held) = senders.into_iter().find_map(|(u, _)| self.values.get(&(u as u16, reg_id))) else {
            return Vec::new();
        };
        let order = |k: &String| self.desc.contexts.iter().position(|c| c.name == *k);
        let mut sent: Vec<(String, Cell)> = held.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        sent.sort_by_key(|(k, _)| order(k));
        sent
    }

    fn step(&mut self, s: &Step) {
        let Some(changes) = &s.changes else { return };
        let ours = |table: u16, reg_id: u64| self.records.contains(&reg_id) && (self.in_flow)(s.node, table);
        let mut touched: IndexMap<(u16, u64), StepTouch> = IndexMap::new();
        for &(table, reg_id, from, to) in &changes.transitions {
            if ours(table, reg_id) {
                touched.entry((table, reg_id)).or_insert((from, to, IndexMap::new())).1 = to;
            }
        }
        // Records carried in arrive with what the stage before sent them with: its values of
        // them now (its steps come first in step order), listed as the arrival sets them.
        for &(table, reg_id, cabinet, _) in changes.runs.iter().filter(|r| r.3 == 0) {
            if ours(table, reg_id) {
                let entry = touched.entry((table, reg_id)).or_insert((cabinet, cabinet, IndexMap::new()));
                entry.2.extend(self.sent(s.node, reg_id));
            }
        }
        for (table, reg_id, cabinet, context, v) in values(s) {
            if ours(table, reg_id) {
                let entry = touched.entry((table, reg_id)).or_insert((cabinet, cabinet, IndexMap::new()));
                entry.2.insert(self.desc.context(context).to_string(), value_cell(v));
            }
        }
        // A copy sets what its source holds in this node now (before its slots are freed).
        for &(table, reg_id, cabinet, _, from, mask) in &changes.copies {
            if ours(table, reg_id) {
                let held = self.values.get(&(s.node, from));
                let copied: Vec<(String, Cell)> = (0..128u16)
                    .filter(|i| mask & (1u128 << i) != 0)
                    .map(|i| self.desc.context(i).to_string())
                    .filter_map(|name| Some((name.clone(), held?.get(&name)?.clone())))
                    .collect();
                let entry = touched.entry((table, reg_id)).or_insert((cabinet, cabinet, IndexMap::new()));
                entry.2.extend(copied);
            }
        }
        let mut freed: Vec<(u64, Vec<String>)> = Vec::new();
        for &(table, reg_id, mask) in &changes.freed {
            if ours(table, reg_id) {
                let names: Vec<String> = (0..128u16)
                    .filter(|i| mask & (1u128 << i) != 0)
                    .map(|i| self.desc.context(i).to_string())
                    .collect();
                let entry = touched.entry((table, reg_id)).or_insert((FREED, FREED, IndexMap::new()));
                entry.2.insert("(freed)".into(), Cell::Text(names.join(",")));
                freed.push((reg_id, names));
            }
        }
        for (reg_id, names) in freed {
            if let Some(held) = self.values.get_mut(&(s.node, reg_id)) {
                held.retain(|k, _| !names.contains(k));
            }
        }
        let node = self.desc.nodes.get(s.node as usize).cloned().unwrap_or_else(|| format!("#{}", s.node));
        let statement = (self.desc.stages.iter().find(|st| st.name == crate::tracer::stage_name(&node)))
            .and_then(|st| st.statements.get(s.statement as usize))
            .map_or_else(|| format!("#{}", s.statement), |st| st.name.clone());
        for ((table, reg_id), (before, after, set)) in touched {
            let held = self.values.entry((s.node, reg_id)).or_default();
            for (k, v) in set.iter().filter(|(k, _)| k.as_str() != "(freed)") {
                if *v == Cell::Text(String::new()) {
                    held.shift_remove(k);
                } else {
                    held.insert(k.clone(), v.clone());
                }
            }
            let contexts = held.clone();
            if before != after && after != 0 {
                self.note_last(reg_id, s.global_step, after);
            }
            self.touches.push(Touch {
                global_step: s.global_step,
                node: node.clone(),
                step: s.node_step,
                tick: s.tick,
                statement: statement.clone(),
                pseudo_time: Timestamp::from_second(s.time).ok().filter(|_| s.time != 0),
                table: self.table(s.node, table),
                reg_id,
                before: self.cabinet(before),
                after: self.cabinet(after),
                set,
                contexts,
                undone: None,
            });
        }
    }

    /// The record is in `cabinet` after global step `g`; chunks of different nodes come in
    /// file order, not step order: the latest step wins.
    fn note_last(&mut self, reg_id: u64, g: u64, cabinet: u16) {
        let last = self.last_cabinet.entry(reg_id).or_insert((g, cabinet));
        if g >= last.0 {
            *last = (g, cabinet);
        }
    }

    /// An attempt at a tick failed and was undone: the touches of its steps are marked, and
    /// the failure counts when it held the records. Attempts of the same tick before it (the
    /// supervisor retries in halves) committed or were undone by failures of their own.
    fn failure(&mut self, f: &Failure) {
        let node = self.desc.nodes.get(f.undo.node as usize);
        // The attempt began at the last first statement before the failure, or failed at its
        // first statement, with nothing to undo.
        let began = match f.undo.statement {
            0 => f.undo.global_step,
            _ => (self.attempts.get(&f.undo.node))
                .and_then(|a| a.partition_point(|&g| g < f.undo.global_step).checked_sub(1).map(|i| a[i]))
                .unwrap_or(0),
        };
        let mut held = false;
        for t in self.touches.iter_mut().rev() {
            if Some(&t.node) == node
                && (began..f.undo.global_step).contains(&t.global_step)
                && t.undone.is_none()
                && t.tick == f.undo.tick
            {
                t.undone = Some(f.message.clone());
                held = true;
            }
        }
        self.failures += u64::from(held);
        // A record quarantined leaves by the supervisor's hand, not by a step.
        if let Some((reg_id, cabinet)) = f.quarantined.filter(|q| self.records.contains(&q.0)) {
            let mut set = IndexMap::new();
            set.insert("ERROR".to_string(), Cell::Text(f.message.clone()));
            self.touches.push(Touch {
                global_step: f.undo.global_step,
                node: node.cloned().unwrap_or_default(),
                step: f.undo.node_step,
                tick: f.undo.tick,
                statement: "(quarantine)".into(),
                pseudo_time: Timestamp::from_second(f.undo.time).ok().filter(|_| f.undo.time != 0),
                table: "quarantine".into(),
                reg_id,
                before: String::new(),
                after: self.cabinet(cabinet),
                set,
                contexts: IndexMap::new(),
                undone: None,
            });
            self.note_last(reg_id, f.undo.global_step, cabinet);
        }
    }

    fn finish(mut self, id: &str) -> History {
        self.touches.sort_by_key(|t| (t.global_step, t.reg_id));
        let mut records: Vec<u64> = self.records.iter().copied().collect();
        records.sort();
        let mut metrics = Metrics {
            seconds_in_cabinet: seconds_in_cabinet(&self.touches),
            failures: self.failures,
            restarts: self.failures,
            ..Metrics::default()
        };
        let mut last: Vec<(u64, u16)> = self.last_cabinet.values().copied().collect();
        last.sort();
        for (_, cabinet) in last {
            *metrics.records_per_cabinet.entry(self.desc.cabinet(cabinet).to_string()).or_default() += 1;
        }
        for t in &self.touches {
            let i = match metrics.nodes.iter().position(|n| n.node == t.node) {
                Some(i) => i,
                None => {
                    metrics.nodes.push(NodeMetrics {
                        node: t.node.clone(),
                        steps: 0,
                        records: 0,
                        first: None,
                        last: None,
                    });
                    metrics.nodes.len() - 1
                }
            };
            let n = &mut metrics.nodes[i];
            n.steps += 1;
            // The earliest and latest: an undone attempt's steps read its window's latest
            // time, its retries earlier ones.
            n.first = n.first.into_iter().chain(t.pseudo_time).min();
            n.last = n.last.into_iter().chain(t.pseudo_time).max();
        }
        for n in &mut metrics.nodes {
            let ids: FxHashSet<u64> =
                self.touches.iter().filter(|t| t.node == n.node).map(|t| t.reg_id).collect();
            n.records = ids.len() as u64;
        }
        History { id: id.to_string(), records, touches: self.touches, partial: false, metrics }
    }
}

/// Pseudo-seconds spent in each cabinet, from the touches that stand (an undone attempt's
/// moves never happened, and its clock was rewound with it). A node's clock moves within a
/// tick as its statements read the window's event times (a tick's first steps still show the
/// clock of the tick before), so a move is timed by its tick: the latest clock the record's
/// steps in that tick show. A record in and out of a cabinet within one tick spent 0 s there.
fn seconds_in_cabinet(touches: &[Touch]) -> IndexMap<String, i64> {
    let standing = || touches.iter().filter(|t| t.undone.is_none());
    let mut tick_time: FxHashMap<(&str, u64, u64), Timestamp> = FxHashMap::default();
    for t in standing() {
        if let Some(now) = t.pseudo_time {
            let at = tick_time.entry((t.node.as_str(), t.reg_id, t.tick)).or_insert(now);
            *at = (*at).max(now);
        }
    }
    let time = |t: &Touch| tick_time.get(&(t.node.as_str(), t.reg_id, t.tick)).copied();
    let mut seconds: IndexMap<String, i64> = IndexMap::new();
    let mut entered: FxHashMap<(&str, u64), (&str, Option<Timestamp>)> = FxHashMap::default();
    for t in standing().filter(|t| t.before != t.after) {
        let key = (t.node.as_str(), t.reg_id);
        // A node's clock reads 0 (no time) until its first event: no span from there.
        if let Some((cabinet, Some(since))) = entered.remove(&key)
            && let Some(now) = time(t)
        {
            *seconds.entry(cabinet.to_string()).or_default() += now.as_second() - since.as_second();
        }
        if !t.after.is_empty() {
            entered.insert(key, (t.after.as_str(), time(t)));
        }
    }
    seconds
}
