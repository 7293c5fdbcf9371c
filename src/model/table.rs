use rustc_hash::{FxHashMap, FxHashSet};

use super::{CabinetId, Record};

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
    pub(crate) rows: Vec<Record>,
    pub(crate) mass: Vec<u32>,
    // linkey -> first row with it; `chain[row]` is the next row with the same linkey.
    pub(crate) index: FxHashMap<u64, u32>,
    pub(crate) chain: Vec<u32>,
    pub(crate) indexed: bool,
    pub(crate) keys_only: bool,
    // The linkeys of a keys-only table: 9 bytes a key, the whole cost of remembering an event.
    pub(crate) keys: FxHashSet<u64>,
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
            self.keys.insert(record.header.linkey);
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

    /// Drop disarmed rows (a storage detail: they are invisible already).
    pub fn compact(&mut self) {
        if self.rows.iter().all(Record::is_live) {
            return;
        }
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
        self.mass.iter_mut().for_each(|m| *m = 0);
        self.index.clear();
        self.chain.clear();
        std::mem::take(&mut self.rows)
    }
}
