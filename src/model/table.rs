use rustc_hash::{FxHashMap, FxHashSet};

use super::undo::Undo;
use super::{CabinetId, ContextId, Header, Record, Value};

/// Index of a table in its node's workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId(pub u16);

/// The roles a reactor (a working table a node processes) can play.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReactorKind {
    /// The table a node charges each tick and runs its statements over.
    Driving,
    /// Same reg_ids as a driving reactor, extended with more slots.
    Satellite,
    /// Joins a driving reactor to fired rules.
    Resulting,
    /// Two alternating halves: previous vs current.
    FlipFlop,
}

/// What a table is for (SPEC §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    /// A working table of a node.
    Reactor(ReactorKind),
    /// Persistent results (or a port to the next stage or the store).
    Data,
    /// Historical data by unit of pseudo-time, rolled by the rolling operator.
    Archive,
    /// Locked key contexts plus aggregated values (a balance per subscriber).
    Accumulator,
    /// Lookup data (subscribers).
    Reference,
    /// A linkey holds a permutation of contexts and names the rule it fires.
    Rules,
}

const NO_ROW: u32 = u32::MAX;

/// A table of records with the mass of each cabinet kept as records move, and an optional
/// linkey index for collisions. A keys-only table keeps linkeys and no rows: the cheap form of
/// a "seen" set.
#[derive(Clone, Debug)]
pub struct Table {
    pub(crate) id: TableId,
    pub(crate) name: String,
    pub(crate) kind: TableKind,
    rows: Vec<Record>,
    pub(crate) mass: Vec<u32>,
    // linkey -> first row with it; `chain[row]` is the next row with the same linkey.
    pub(crate) index: FxHashMap<u64, u32>,
    pub(crate) chain: Vec<u32>,
    pub(crate) indexed: bool,
    pub(crate) keys_only: bool,
    // The linkeys of a keys-only table: 9 bytes a key, the whole cost of remembering an event.
    pub(crate) keys: FxHashSet<u64>,
    undo: Undo,
}

impl Table {
    /// An empty table able to count the mass of `cabinet_count` cabinets.
    pub fn new(id: TableId, name: &str, kind: TableKind, cabinet_count: usize) -> Self {
        Table {
            id,
            name: name.into(),
            kind,
            rows: Vec::new(),
            mass: vec![0; cabinet_count],
            index: FxHashMap::default(),
            chain: Vec::new(),
            indexed: matches!(kind, TableKind::Accumulator | TableKind::Reference | TableKind::Rules),
            keys_only: false,
            keys: FxHashSet::default(),
            undo: Undo::default(),
        }
    }

    /// A reference table that keeps only the linkeys charged into it (no rows).
    pub fn keys_only(id: TableId, name: &str, cabinet_count: usize) -> Self {
        Table { keys_only: true, ..Table::new(id, name, TableKind::Reference, cabinet_count) }
    }

    /// Its id in the workspace.
    pub fn id(&self) -> TableId {
        self.id
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its kind.
    pub fn kind(&self) -> TableKind {
        self.kind
    }

    /// All rows, disarmed ones included (they are invisible to operators).
    pub fn rows(&self) -> &[Record] {
        &self.rows
    }

    /// The live (not disarmed) rows.
    pub fn live(&self) -> impl Iterator<Item = &Record> {
        self.rows.iter().filter(|r| r.is_live())
    }

    /// Number of live records in `cabinet`.
    pub fn mass(&self, cabinet: CabinetId) -> u32 {
        self.mass.get(cabinet.index()).copied().unwrap_or(0)
    }

    /// The mass of every cabinet, indexed by cabinet id.
    pub fn masses(&self) -> &[u32] {
        &self.mass
    }

    /// Number of live records.
    pub fn live_count(&self) -> usize {
        self.mass.iter().map(|&m| m as usize).sum()
    }

    /// Number of linkeys a keys-only table holds.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Make room for `n` more keys in a keys-only table at once.
    pub fn reserve_keys(&mut self, n: usize) {
        self.keys.reserve(n);
    }

    /// True when a keys-only table holds `linkey`.
    pub fn contains_key(&self, linkey: u64) -> bool {
        self.keys.contains(&linkey)
    }

    /// The rows whose linkey is `linkey`, in the order they were charged.
    pub fn find(&self, linkey: u64) -> impl Iterator<Item = &Record> {
        let mut next = self.index.get(&linkey).copied().unwrap_or(NO_ROW);
        std::iter::from_fn(move || {
            while next != NO_ROW {
                let row = next as usize;
                next = self.chain[row];
                if self.rows[row].is_live() {
                    return Some(&self.rows[row]);
                }
            }
            None
        })
    }

    /// Row position of the first live row with `linkey`.
    pub(crate) fn find_row(&self, linkey: u64) -> Option<usize> {
        let mut next = self.index.get(&linkey).copied().unwrap_or(NO_ROW);
        while next != NO_ROW {
            let row = next as usize;
            if self.rows[row].is_live() {
                return Some(row);
            }
            next = self.chain[row];
        }
        None
    }

    /// Append a row, keeping the linkey index (rows with equal linkeys stay in charge order).
    pub(crate) fn push_row(&mut self, record: Record) -> usize {
        let row = self.rows.len();
        if self.keys_only {
            if self.keys.insert(record.header.linkey) && self.undo.is_open() {
                self.undo.keys.push(record.header.linkey);
            }
            return row;
        }
        if self.indexed {
            self.chain.push(NO_ROW);
            match self.index.get(&record.header.linkey).copied() {
                None => {
                    self.index.insert(record.header.linkey, row as u32);
                }
                Some(mut at) => {
                    while self.chain[at as usize] != NO_ROW {
                        at = self.chain[at as usize];
                    }
                    self.chain[at as usize] = row as u32;
                }
            }
        }
        self.rows.push(record);
        row
    }

    /// A row's header, to change (the open tick logs what it held).
    #[inline]
    pub(crate) fn header_mut(&mut self, row: usize) -> &mut Header {
        self.undo.header(row, &self.rows[row].header);
        &mut self.rows[row].header
    }

    /// Set a row's context (the open tick logs what it held).
    #[inline(always)]
    pub(crate) fn set_context(&mut self, row: usize, context: ContextId, value: Value) {
        let old = self.rows[row].set(context, value);
        self.undo.value(row, context, old);
    }

    /// A row, to change in any way (the open tick keeps a copy of it).
    pub(crate) fn row_mut(&mut self, row: usize) -> &mut Record {
        self.undo.record(row, &self.rows[row]);
        &mut self.rows[row]
    }

    fn save_all(&mut self) {
        self.undo.keep_whole(&self.rows);
    }

    /// Drop disarmed rows and put row N at N+1, making room for a new row 0 (rolling).
    pub(crate) fn retain_live_and_rotate(&mut self) {
        self.save_all();
        self.rows.retain(Record::is_live);
        self.rows.rotate_right(1);
    }

    /// Start a tick: from now on the table keeps what it needs to [`rollback`](Self::rollback).
    pub(crate) fn begin(&mut self) {
        self.undo.begin(self.rows.len(), &self.mass);
    }

    /// The tick succeeded: forget how to undo it.
    pub(crate) fn commit(&mut self) {
        self.undo.clear();
    }

    /// The tick failed: put the table back as [`begin`](Self::begin) found it, whatever
    /// state the failure left it in (a panic may stop an operator half-way).
    pub(crate) fn rollback(&mut self) {
        if !self.undo.is_open() {
            return;
        }
        self.undo.undo_rows(&mut self.rows);
        for k in self.undo.keys.drain(..) {
            self.keys.remove(&k);
        }
        self.mass.clone_from(&self.undo.mass);
        self.undo.clear();
        if self.indexed {
            self.reindex();
        }
    }

    /// Drop disarmed rows (a storage detail: they are invisible already).
    pub fn compact(&mut self) {
        if self.rows.iter().all(Record::is_live) {
            return;
        }
        self.save_all();
        self.rows.retain(Record::is_live);
        if self.indexed {
            self.reindex();
        }
    }

    /// Rebuild the linkey index after linkeys changed.
    pub(crate) fn reindex(&mut self) {
        if self.keys_only {
            return;
        }
        let rows = std::mem::take(&mut self.rows);
        self.index.clear();
        self.chain.clear();
        for r in rows {
            self.push_row(r);
        }
    }

    /// Remove and return every row, leaving the table empty.
    pub fn drain(&mut self) -> Vec<Record> {
        self.save_all();
        self.mass.iter_mut().for_each(|m| *m = 0);
        self.index.clear();
        self.chain.clear();
        std::mem::take(&mut self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{TableId, TableKind};
    use crate::ops::{self, ArmMode, StepReport, fixture::fx};

    /// What rollback must restore: rows, masses, and what the index finds.
    fn state(t: &Table, keys: &[u64]) -> (Vec<Record>, Vec<u32>, Vec<Vec<u64>>, usize) {
        let found = keys.iter().map(|&k| t.find(k).map(|r| r.header.reg_id).collect()).collect();
        (t.rows().to_vec(), t.masses().to_vec(), found, t.key_count())
    }

    #[test]
    fn a_rolled_back_tick_leaves_every_kind_of_change_undone() {
        let f = fx();
        let mut rep = StepReport::default();
        let mut acc = f.table(1, TableKind::Accumulator);
        ops::charge(
            &mut acc,
            f.ok,
            (1..=4).map(|i| f.rec(i, if i % 2 == 0 { "A" } else { "B" }, 10)).collect::<Vec<_>>(),
            &mut rep,
        );
        ops::arm(&mut acc, &[f.kind], ArmMode::Absolute, |_| true, &mut rep);
        let keys: Vec<u64> = acc.rows().iter().map(|r| r.header.linkey).collect();
        let before = state(&acc, &keys);
        acc.begin();
        // Changed rows, a new row, a re-armed index, a state change and a rolling reorder.
        ops::transform(
            &mut acc,
            f.amount,
            |_| true,
            |r| crate::model::Value::Int(r.header.reg_id as i64 * 7),
            &mut rep,
        );
        ops::charge(&mut acc, f.ok, vec![f.rec(9, "C", 1)], &mut rep);
        ops::arm(&mut acc, &[f.name], ArmMode::Absolute, |r| r.header.reg_id == 2, &mut rep);
        ops::state(&mut acc, f.bad, |r| r.header.reg_id == 3, &mut rep);
        assert_ne!(state(&acc, &keys), before);
        acc.rollback();
        assert_eq!(state(&acc, &keys), before, "row changes and appends undone");
        acc.begin();
        ops::rolling(&mut acc, 2, f.rec(10, "D", 0), f.ok, &mut rep);
        acc.rollback();
        assert_eq!(state(&acc, &keys), before, "a reorder undone");

        let mut seen = Table::keys_only(TableId(2), "SEEN", f.schema.cabinets().len());
        let keyed = |i: u64| {
            let mut r = f.rec(i, "A", 0);
            r.header.linkey = i;
            r
        };
        ops::charge(&mut seen, f.ok, vec![keyed(1)], &mut rep);
        seen.begin();
        ops::charge(&mut seen, f.ok, (1..5).map(keyed).collect::<Vec<_>>(), &mut rep);
        seen.rollback();
        assert_eq!(seen.key_count(), 1, "keys added by the tick forgotten, the older one kept");
        // A committed tick stays.
        seen.begin();
        ops::charge(&mut seen, f.ok, vec![keyed(7)], &mut rep);
        seen.commit();
        seen.rollback();
        assert_eq!(seen.key_count(), 2);
    }

    proptest::proptest! {
        /// Any sequence of operators over tables holding rows from earlier ticks, rolled back,
        /// leaves every table as it was.
        #[test]
        fn any_tick_rolled_back_leaves_its_tables_as_they_were(
            moves in proptest::collection::vec((0u8..11, 0u64..8), 1..24),
        ) {
            let f = fx();
            let mut rep = StepReport::default();
            let (mut r, mut acc, mut data) =
                (f.reactor(0), f.table(1, TableKind::Accumulator), f.table(2, TableKind::Archive));
            let rec = |i: u64| f.rec(i, ["A", "B", "C"][i as usize % 3], i as i64);
            ops::charge(&mut r, f.raw, (1..6).map(rec).collect::<Vec<_>>(), &mut rep);
            ops::charge(&mut data, f.ok, (20..24).map(rec).collect::<Vec<_>>(), &mut rep);
            ops::arm(&mut r, &[f.kind], ArmMode::Absolute, |_| true, &mut rep);
            let keys: Vec<u64> = r.rows().iter().map(|x| x.header.linkey).collect();
            let before = [state(&r, &keys), state(&acc, &keys), state(&data, &keys)];
            for t in [&mut r, &mut acc, &mut data] {
                t.begin();
            }
            for (op, n) in moves {
                let pick = move |x: &Record| x.header.reg_id % 3 == n % 3;
                match op {
                    0 => { ops::charge(&mut r, f.raw, vec![rec(100 + n)], &mut rep); }
                    1 => { ops::arm(&mut r, &[f.id], ArmMode::Relative, pick, &mut rep); }
                    2 => { ops::state(&mut r, f.bad, pick, &mut rep); }
                    3 => { ops::skip(&mut r, n % 2 == 0, pick, &mut rep); }
                    4 => { ops::transform(&mut r, f.name, pick, |x| crate::model::Value::Int(x.header.reg_id as i64), &mut rep); }
                    5 => { ops::disarm(&mut r, pick, &mut rep); }
                    6 => { ops::discharge(&mut r, &mut data, pick, &mut rep); }
                    7 => {
                        let s = ops::Accumulate {
                            key: &[f.kind], total: f.amount, cabinet: f.ok, init: None, add: f.amount,
                            subtract: n % 2 == 0, out: f.name, out_after: true, checked: false,
                        };
                        ops::collision_accumulate(&mut r, &mut acc, &s, |_| true, &mut rep);
                    }
                    8 => ops::rolling(&mut data, 3, rec(200 + n), f.ok, &mut rep),
                    9 => r.compact(),
                    _ => { ops::deescalate(&mut r, &mut data, &[f.amount], &mut rep); }
                }
            }
            for t in [&mut r, &mut acc, &mut data] {
                t.rollback();
            }
            proptest::prop_assert_eq!(&[state(&r, &keys), state(&acc, &keys), state(&data, &keys)], &before);
        }
    }
}
