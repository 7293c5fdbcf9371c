//! One node's tables rebuilt from its trace: restored from a checkpoint, then moved step by step
//! by the recorded changes. Each step also yields the report the tracer's matcher needs (mass
//! per table and cabinet, and the net move of each touched record), so that the flip-flop of a
//! replay counts exactly what the live one counted.

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::{FxHashMap, FxHashSet};

use crate::model::{CabinetId, ContextId, MAX_CONTEXTS, Record, TableId, Value};
use crate::ops::{ContextMask, MassDelta, Presence, StepReport};
use crate::recorder::{Checkpoint, PipelineDesc, Step, TraceValue};
use crate::tracer::{Matcher, TableSet, stage_name};

/// A recorded value as the engine holds it.
pub(crate) fn value_of(v: &TraceValue) -> Value {
    match v {
        TraceValue::Empty => Value::Empty,
        TraceValue::Int(i) => Value::Int(*i),
        TraceValue::Text(s) => Value::Text(s.clone()),
        TraceValue::Time(s, n) => jiff::Timestamp::new(*s, *n).map_or(Value::Empty, Value::Time),
    }
}

/// The rows of a node's tables.
pub(crate) struct TableRows {
    names: Vec<String>,
    reactors: Vec<bool>,
    // The port tables, emptied when a node's tick ends as the live node empties them.
    ports: Vec<bool>,
    // Those whose records go to the next stage.
    outputs: Vec<bool>,
    // Ordered by reg_id: an inquiry lists rows in a stable order whatever the path here.
    tables: Vec<BTreeMap<u64, Record>>,
}

/// The tables of one node at one step, and its flip-flop.
pub(crate) struct NodeTables {
    /// The rows.
    pub rows: TableRows,
    cabinets: usize,
    /// The node's flip-flop over its reactors.
    pub matcher: Matcher,
    report: StepReport,
    scratch: Scratch,
    /// The tick of the last step applied (or of the checkpoint restored).
    tick: Option<u64>,
    /// What the node sent to the next stage at the end of its last few ticks: (tick, the rows
    /// of each output table). A node of the next stage charging them finds them here.
    sent: VecDeque<(u64, Vec<BTreeMap<u64, Record>>)>,
}

/// Ticks whose records sent on a node keeps: more than the channels between two stages hold
/// (4 batches), so that the next stage's replay finds them while both go forwards, and half
/// the 32 ticks between checkpoints, so that after a jump it mostly finds them too (200k CDRs,
/// 2 segments: a jump 0.9 -> 0.6 s with 8 -> 16, for 20 MB more).
const SENT_TICKS: usize = 16;

/// What applying a step works with: (table, reg_id) -> cabinet and contexts before the step,
/// the records it removed, the records leaving a table (by reg_id), the touched records.
type Touched = Vec<((u16, u64), (CabinetId, u128))>;

#[derive(Default)]
struct Scratch {
    before: FxHashMap<(u16, u64), (CabinetId, u128)>,
    removed: FxHashSet<(u16, u64)>,
    leaving: FxHashMap<u64, Record>,
    touched: Touched,
}

impl NodeTables {
    /// Empty tables of node `node` of the pipeline.
    pub fn new(desc: &PipelineDesc, node: usize) -> Self {
        let stage = desc.nodes.get(node).and_then(|n| desc.stages.iter().find(|s| s.name == stage_name(n)));
        let tables: &[(String, String)] = stage.map_or(&[], |s| &s.tables);
        let reactors: Vec<bool> = tables.iter().map(|(_, kind)| kind.starts_with("Reactor")).collect();
        let ports = tables.iter().map(|(_, kind)| kind == "Output" || kind == "Sink").collect();
        let outputs = tables.iter().map(|(_, kind)| kind == "Output").collect();
        NodeTables {
            cabinets: desc.cabinets.len(),
            matcher: Matcher::new(Presence::new(desc.cabinets.len()).only_tables(reactors.clone())),
            rows: TableRows {
                names: tables.iter().map(|(name, _)| name.clone()).collect(),
                reactors,
                ports,
                outputs,
                tables: vec![BTreeMap::new(); tables.len()],
            },
            report: StepReport::default(),
            scratch: Scratch::default(),
            tick: None,
            sent: VecDeque::new(),
        }
    }

    /// Back to the state before the node's first step.
    pub fn clear(&mut self) {
        self.rows.tables.iter_mut().for_each(BTreeMap::clear);
        self.tick = None;
        self.matcher = Matcher::new(Presence::new(self.cabinets).only_tables(self.rows.reactors.clone()));
    }

    /// The state a checkpoint holds.
    pub fn restore(&mut self, cp: &Checkpoint) {
        self.clear();
        self.report.clear();
        self.tick = Some(cp.tick);
        for (table, rows) in &cp.tables {
            let Some(t) = self.rows.tables.get_mut(*table as usize) else { continue };
            // A damaged or hostile trace may name cabinets and contexts the pipeline lacks.
            for row in rows.iter().filter(|r| (r.cabinet as usize) < self.cabinets) {
                let mut r = Record::new(row.reg_id);
                r.header.cabinet = CabinetId(row.cabinet);
                r.header.linkey = row.linkey;
                r.header.link_to = row.link_to;
                r.header.skip = row.skip;
                for (c, v) in row.values.iter().filter(|(c, _)| (*c as usize) < MAX_CONTEXTS) {
                    r.set(ContextId(*c), value_of(v));
                }
                if r.is_live() {
                    add_mass(&mut self.report, TableId(*table), r.header.cabinet, 1);
                    add_move(&mut self.report, TableId(*table), r.header.cabinet, ContextMask(r.held()));
                    t.insert(row.reg_id, r);
                }
            }
        }
        // Counted as if it all arrived at once, then forgotten as news: the next step's
        // flip-flop compares with this state.
        self.matcher.observe(&self.report);
        self.matcher.change = Default::default();
        self.report.clear();
    }

    /// The tick of the last step applied, or of the checkpoint restored.
    pub fn tick(&self) -> Option<u64> {
        self.tick
    }

    /// The rows the node sent to the next stage at the end of `tick`, if it kept them.
    pub fn sent_at(&self, tick: u64) -> Option<&[BTreeMap<u64, Record>]> {
        self.sent.iter().find(|(t, _)| *t == tick).map(|(_, rows)| &rows[..])
    }

    /// Apply one recorded step, whose records carried in (runs of no values) are in `carried`
    /// as the stage before sent them; the report of what it changed (for the matcher's
    /// `touched`).
    pub fn apply(&mut self, step: &Step, carried: &FxHashMap<u64, Record>) -> &StepReport {
        self.report.clear();
        if let Some(ended) = self.tick.filter(|&t| t != step.tick) {
            // The node sent its port tables' records on when its tick ended: without this a
            // replay would show them long after they left, and hold every record of the run.
            let rows = &mut self.rows;
            let outputs = rows.tables.iter_mut().zip(&rows.outputs).filter(|(_, o)| **o);
            let sent = outputs.map(|(t, _)| std::mem::take(t)).collect();
            // Once a tick (a replay may pass it again after going back).
            self.sent.retain(|(t, _)| *t != ended);
            if self.sent.len() == SENT_TICKS {
                self.sent.pop_front();
            }
            self.sent.push_back((ended, sent));
            rows.tables.iter_mut().zip(&rows.ports).filter(|(_, p)| **p).for_each(|(t, _)| t.clear());
        }
        self.tick = Some(step.tick);
        let Some(changes) = &step.changes else {
            self.matcher.observe(&self.report);
            return &self.report;
        };
        // Each touched record's cabinet and contexts before the step: the net move is what
        // the presence counts.
        // Buffers kept from step to step: a replay applies millions of steps.
        let mut scratch = std::mem::take(&mut self.scratch);
        let Scratch { before, removed, leaving, touched } = &mut scratch;
        before.clear();
        removed.clear();
        // A record leaving one table and entering another in the same step (a discharge)
        // takes its contexts along.
        leaving.clear();
        touched.clear();
        let cabinets = self.cabinets;
        let known = |c: u16| (c as usize) < cabinets;
        for &(table, reg_id, from, to) in &changes.transitions {
            let Some(t) = self.rows.tables.get_mut(table as usize).filter(|_| known(from) && known(to))
            else {
                continue;
            };
            let now = t.get(&reg_id).map_or((CabinetId::DISARMED, 0), |r| (r.header.cabinet, r.held()));
            before.entry((table, reg_id)).or_insert(now);
            add_mass(&mut self.report, TableId(table), CabinetId(from), -1);
            add_mass(&mut self.report, TableId(table), CabinetId(to), 1);
            if to == 0 {
                if let Some(r) = t.remove(&reg_id) {
                    leaving.insert(reg_id, r);
                }
                removed.insert((table, reg_id));
            } else {
                let r = t
                    .entry(reg_id)
                    .or_insert_with(|| leaving.remove(&reg_id).unwrap_or_else(|| Record::new(reg_id)));
                r.header.cabinet = CabinetId(to);
                removed.remove(&(table, reg_id));
            }
        }
        let mut at = 0;
        for &(table, reg_id, cabinet, n) in &changes.runs {
            let values = changes.values.get(at..at + n as usize).unwrap_or(&[]);
            at += n as usize;
            let Some(t) = self.rows.tables.get_mut(table as usize).filter(|_| known(cabinet)) else {
                continue;
            };
            if removed.contains(&(table, reg_id)) || (cabinet == 0 && !t.contains_key(&reg_id)) {
                continue;
            }
            self.report.wrote(TableId(table));
            let r = to_set(t, before, (table, reg_id), cabinet);
            if n == 0
                && let Some(sent) = carried.get(&reg_id)
            {
                for (c, v) in sent.contexts() {
                    r.set(c, v.clone());
                }
            }
            for (c, v) in values.iter().filter(|(c, _)| (*c as usize) < MAX_CONTEXTS) {
                r.set(ContextId(*c), value_of(v));
            }
        }
        // Copies read their source once the runs are set, before any slot is freed.
        for &(table, reg_id, cabinet, from_table, from_reg_id, mask) in &changes.copies {
            let from = self.rows.tables.get(from_table as usize).and_then(|t| t.get(&from_reg_id));
            let values: Vec<(ContextId, Value)> = crate::model::bits(mask)
                .filter(|&c| (c as usize) < MAX_CONTEXTS)
                .filter_map(|c| from.map(|r| (ContextId(c), r.get(ContextId(c)).clone())))
                .collect();
            let Some(t) = self.rows.tables.get_mut(table as usize).filter(|_| known(cabinet)) else {
                continue;
            };
            self.report.wrote(TableId(table));
            let r = to_set(t, before, (table, reg_id), cabinet);
            for (c, v) in values {
                r.set(c, v);
            }
        }
        for &(table, reg_id, mask) in &changes.freed {
            let Some(r) = self.rows.tables.get_mut(table as usize).and_then(|t| t.get_mut(&reg_id)) else {
                continue;
            };
            before.entry((table, reg_id)).or_insert((r.header.cabinet, r.held()));
            self.report.wrote(TableId(table));
            for c in crate::model::bits(mask) {
                r.set(ContextId(c), Value::Empty);
            }
        }
        touched.extend(before.drain());
        // Same order whatever the hash map's: the matcher reports the first match it finds.
        touched.sort_unstable_by_key(|(k, _)| *k);
        for &((table, reg_id), (cabinet, held)) in touched.iter() {
            let now = self.rows.tables[table as usize]
                .get(&reg_id)
                .map_or((CabinetId::DISARMED, 0), |r| (r.header.cabinet, r.held()));
            if now != (cabinet, held) {
                let t = TableId(table);
                self.report.moves.push((t, cabinet, CabinetId::DISARMED, ContextMask(held), 1));
                self.report.moves.push((t, CabinetId::DISARMED, now.0, ContextMask(now.1), 1));
            }
        }
        self.scratch = scratch;
        self.matcher.observe(&self.report);
        &self.report
    }

    /// The tables the last applied step touched: cabinets moved or contexts changed.
    pub fn touched(&self) -> Vec<TableId> {
        self.report.touched_tables()
    }
}

/// The record a step sets values of (made in `cabinet` when the table lacks it), its cabinet
/// and contexts before the step noted in `before`.
fn to_set<'t>(
    t: &'t mut BTreeMap<u64, Record>,
    before: &mut FxHashMap<(u16, u64), (CabinetId, u128)>,
    (table, reg_id): (u16, u64),
    cabinet: u16,
) -> &'t mut Record {
    let now = t.get(&reg_id).map_or((CabinetId::DISARMED, 0), |r| (r.header.cabinet, r.held()));
    before.entry((table, reg_id)).or_insert(now);
    t.entry(reg_id).or_insert_with(|| {
        let mut r = Record::new(reg_id);
        r.header.cabinet = CabinetId(cabinet);
        r
    })
}

fn add_mass(report: &mut StepReport, table: TableId, cabinet: CabinetId, delta: i64) {
    if !cabinet.is_live() {
        return;
    }
    match report.mass.iter_mut().find(|m| m.table == table && m.cabinet == cabinet) {
        Some(m) => m.delta += delta,
        None => report.mass.push(MassDelta { table, cabinet, delta }),
    }
}

fn add_move(report: &mut StepReport, table: TableId, cabinet: CabinetId, mask: ContextMask) {
    let disarmed = CabinetId::DISARMED;
    match report.moves.iter_mut().find(|m| m.0 == table && m.1 == disarmed && m.2 == cabinet && m.3 == mask) {
        Some(m) => m.4 += 1,
        None => report.moves.push((table, disarmed, cabinet, mask, 1)),
    }
}

impl TableRows {
    /// The record `reg_id` in a table whose records go to the next stage.
    pub fn sent(&self, reg_id: u64) -> Option<&Record> {
        let mut outputs = self.tables.iter().zip(&self.outputs).filter(|(_, o)| **o);
        outputs.find_map(|(t, _)| t.get(&reg_id))
    }
}

impl TableSet for TableRows {
    fn count(&self) -> usize {
        self.tables.len()
    }

    fn name(&self, table: usize) -> &str {
        &self.names[table]
    }

    fn reactor(&self, table: usize) -> bool {
        self.reactors[table]
    }

    fn rows(&self, table: usize) -> Box<dyn Iterator<Item = &Record> + '_> {
        Box::new(self.tables[table].values())
    }
}
