//! A node's presence: the mass of each cabinet and the number of records holding each context
//! in each cabinet, kept from step reports alone. The recorder writes what appears and
//! disappears; the tracer's flip-flop matches it. One count serves both, so a live stop and
//! the trace agree on what arrived when.

use super::{ContextMask, StepReport};
use crate::model::{CabinetId, ContextId, MAX_CONTEXTS};

/// The cabinets holding records: (cabinet, mass, records holding each context).
pub type Present = Vec<(CabinetId, i64, Vec<(ContextId, i64)>)>;

/// What one step changed in a node's presence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PresenceChange {
    /// Net mass change per cabinet (non-zero only).
    pub mass: Vec<(CabinetId, i64)>,
    /// Cabinets whose mass went from 0 to more.
    pub appeared: Vec<CabinetId>,
    /// Cabinets whose mass went back to 0.
    pub disappeared: Vec<CabinetId>,
    /// (cabinet, context) pairs that no record held before the step and some record holds now.
    pub contexts_appeared: Vec<(CabinetId, ContextId)>,
    /// (cabinet, context) pairs that some record held before the step and none holds now.
    pub contexts_disappeared: Vec<(CabinetId, ContextId)>,
}

impl PresenceChange {
    fn clear(&mut self) {
        self.mass.clear();
        self.appeared.clear();
        self.disappeared.clear();
        self.contexts_appeared.clear();
        self.contexts_disappeared.clear();
    }
}

/// The counts of one node, across all its tables (needs reports at `Summary` detail or more).
#[derive(Clone, Debug)]
pub struct Presence {
    mass: Vec<i64>,
    // counts[cabinet * MAX_CONTEXTS + context]: records of the cabinet holding the context.
    counts: Vec<i64>,
    // Per step: the cells touched and their value before the step.
    stamp: Vec<u64>,
    before: Vec<i64>,
    touched: Vec<usize>,
    steps: u64,
    // The tables counted, by table id (all when empty).
    tables: Vec<bool>,
    // The mass and counts remembered at the start of a tick.
    saved: (Vec<i64>, Vec<i64>),
}

impl Presence {
    /// Empty counts for a schema of `cabinets` cabinets.
    pub fn new(cabinets: usize) -> Self {
        let cells = cabinets * MAX_CONTEXTS;
        Presence {
            mass: vec![0; cabinets],
            counts: vec![0; cells],
            stamp: vec![u64::MAX; cells],
            before: vec![0; cells],
            touched: Vec::new(),
            steps: 0,
            tables: Vec::new(),
            saved: (Vec::new(), Vec::new()),
        }
    }

    /// Count only the tables marked true, by table id (a tracer watches reactors only: a
    /// record discharged to an output table has departed from the node's work).
    pub fn only_tables(mut self, tables: Vec<bool>) -> Self {
        self.tables = tables;
        self
    }

    fn counts(&self, table: crate::model::TableId) -> bool {
        self.tables.is_empty() || self.tables.get(table.0 as usize).copied().unwrap_or(false)
    }

    /// Records in `cabinet` now.
    pub fn mass(&self, cabinet: CabinetId) -> i64 {
        self.mass.get(cabinet.index()).copied().unwrap_or(0)
    }

    /// The cabinets holding records now: each with its mass and the records holding each
    /// context (non-zero only).
    pub fn present(&self) -> Present {
        let at = |i: usize| &self.counts[i * MAX_CONTEXTS..(i + 1) * MAX_CONTEXTS];
        (self.mass.iter().enumerate())
            .filter(|&(_, &m)| m > 0)
            .map(|(i, &m)| {
                let contexts = (at(i).iter().enumerate())
                    .filter(|&(_, &n)| n > 0)
                    .map(|(k, &n)| (ContextId(k as u16), n))
                    .collect();
                (CabinetId(i as u16), m, contexts)
            })
            .collect()
    }

    /// Take one step's report into the counts; `change` receives what it changed.
    pub fn apply(&mut self, report: &StepReport, change: &mut PresenceChange) {
        change.clear();
        self.steps += 1;
        for m in report.mass.iter().filter(|m| self.counts(m.table)) {
            match change.mass.iter_mut().find(|(c, _)| *c == m.cabinet) {
                Some((_, d)) => *d += m.delta,
                None => change.mass.push((m.cabinet, m.delta)),
            }
        }
        change.mass.retain(|&(_, d)| d != 0);
        for &(cabinet, delta) in &change.mass {
            let before = self.mass[cabinet.index()];
            let after = before + delta;
            self.mass[cabinet.index()] = after;
            if before == 0 && after > 0 {
                change.appeared.push(cabinet);
            } else if before > 0 && after == 0 {
                change.disappeared.push(cabinet);
            }
        }
        // Records of a step mostly move alike: count each (cabinet, contexts) move once.
        let mut moves: Vec<(CabinetId, ContextMask, i64)> = Vec::new();
        for &(table, from, to, mask, count) in &report.moves {
            if !self.counts(table) {
                continue;
            }
            for (cabinet, delta) in [(from, -(count as i64)), (to, count as i64)] {
                if cabinet.is_live() {
                    add_move(&mut moves, cabinet, mask, delta);
                }
            }
        }
        for &(table, _, cabinet, mask) in &report.freed {
            if !self.counts(table) {
                continue;
            }
            add_move(&mut moves, cabinet, mask, -1);
        }
        for (cabinet, mask, n) in moves.into_iter().filter(|m| m.2 != 0) {
            for ctx in mask.iter() {
                self.bump(cabinet.index() * MAX_CONTEXTS + ctx.slot(), n);
            }
        }
        for &(table, cabinet, context, delta) in &report.presence {
            if delta != 0 && cabinet.is_live() && self.counts(table) {
                self.bump(cabinet.index() * MAX_CONTEXTS + context.slot(), delta);
            }
        }
        for cell in self.touched.drain(..) {
            let pair = (CabinetId((cell / MAX_CONTEXTS) as u16), ContextId((cell % MAX_CONTEXTS) as u16));
            match (self.before[cell] > 0, self.counts[cell] > 0) {
                (false, true) => change.contexts_appeared.push(pair),
                (true, false) => change.contexts_disappeared.push(pair),
                _ => {}
            }
        }
    }

    /// Remember the counts as they are (a tick starts), to go back to them if it fails.
    pub fn remember(&mut self) {
        self.saved.0.clone_from(&self.mass);
        self.saved.1.clone_from(&self.counts);
    }

    /// Go back to the counts last remembered: the tick since then failed and was undone (no
    /// report describes an undo); `change` receives the difference.
    pub fn restore(&mut self, change: &mut PresenceChange) {
        change.clear();
        let (mass, counts) = std::mem::take(&mut self.saved);
        if mass.len() != self.mass.len() {
            return; // nothing remembered
        }
        for (i, (&now, &then)) in self.mass.iter().zip(&mass).enumerate() {
            let cabinet = CabinetId(i as u16);
            if now != then {
                change.mass.push((cabinet, then - now));
            }
            match (now > 0, then > 0) {
                (false, true) => change.appeared.push(cabinet),
                (true, false) => change.disappeared.push(cabinet),
                _ => {}
            }
        }
        for (cell, (&now, &then)) in self.counts.iter().zip(&counts).enumerate() {
            let pair = (CabinetId((cell / MAX_CONTEXTS) as u16), ContextId((cell % MAX_CONTEXTS) as u16));
            match (now > 0, then > 0) {
                (false, true) => change.contexts_appeared.push(pair),
                (true, false) => change.contexts_disappeared.push(pair),
                _ => {}
            }
        }
        self.mass.clone_from(&mass);
        self.counts.clone_from(&counts);
        self.saved = (mass, counts);
    }

    fn bump(&mut self, cell: usize, delta: i64) {
        if self.stamp[cell] != self.steps {
            self.stamp[cell] = self.steps;
            self.before[cell] = self.counts[cell];
            self.touched.push(cell);
        }
        self.counts[cell] += delta;
    }
}

fn add_move(moves: &mut Vec<(CabinetId, ContextMask, i64)>, cabinet: CabinetId, mask: ContextMask, n: i64) {
    match moves.iter_mut().find(|(c, m, _)| *c == cabinet && *m == mask) {
        Some((_, _, k)) => *k += n,
        None => moves.push((cabinet, mask, n)),
    }
}
