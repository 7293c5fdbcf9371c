//! A table's undo log for one tick, so that the supervisor can put the table back as the tick
//! found it when the tick fails. Rows the tick added are undone by truncating; a change to an
//! older row logs only what it overwrote (a header, one value), so that an accumulator whose
//! totals every record moves costs a small push per change, not a copy of its row.

use super::{ContextId, Header, Record, Value};

/// What one change to a row older than the tick overwrote.
#[derive(Clone, Debug)]
enum Change {
    Header(u32, Header),
    Value(u32, ContextId, Value),
    Record(u32, Record),
}

/// The undo log of one table.
#[derive(Clone, Debug, Default)]
pub(super) struct Undo {
    open: bool,
    /// Rows before the tick.
    rows: usize,
    /// Masses before the tick.
    pub mass: Vec<u32>,
    log: Vec<Change>,
    /// Keys a keys-only table learnt in the tick.
    pub keys: Vec<u64>,
    // Every row as the tick found it, once the tick reordered them (rolling, compact, drain).
    whole: Option<Vec<Record>>,
}

impl Undo {
    /// Start a tick over a table of `rows` rows and these masses.
    pub fn begin(&mut self, rows: usize, mass: &[u32]) {
        self.clear();
        self.open = true;
        self.rows = rows;
        self.mass.clear();
        self.mass.extend_from_slice(mass);
    }

    /// Forget the tick (it succeeded, or was undone).
    pub fn clear(&mut self) {
        self.open = false;
        self.log.clear();
        self.keys.clear();
        self.whole = None;
    }

    /// True while a tick is open.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// True when a change to `row` must be logged: the row is older than the open tick and
    /// the rows were not kept whole already.
    #[inline]
    fn logs(&self, row: usize) -> bool {
        self.open && self.whole.is_none() && row < self.rows
    }

    /// `row`'s header is about to change.
    #[inline]
    pub fn header(&mut self, row: usize, old: &Header) {
        if self.logs(row) {
            self.log.push(Change::Header(row as u32, old.clone()));
        }
    }

    /// `row`'s `context` was just set; `old` is what it held.
    #[inline]
    pub fn value(&mut self, row: usize, context: ContextId, old: Value) {
        if self.logs(row) {
            self.log.push(Change::Value(row as u32, context, old));
        }
    }

    /// `row` is about to change in any way.
    #[inline]
    pub fn record(&mut self, row: usize, old: &Record) {
        if self.logs(row) {
            self.log.push(Change::Record(row as u32, old.clone()));
        }
    }

    /// Rows are about to move or go: keep all of them as the tick found them.
    pub fn keep_whole(&mut self, rows: &[Record]) {
        if self.open && self.whole.is_none() {
            let mut whole = rows[..self.rows.min(rows.len())].to_vec();
            self.undo_log(&mut whole);
            self.whole = Some(whole);
        }
    }

    /// Put `rows` back as the tick found them.
    pub fn undo_rows(&mut self, rows: &mut Vec<Record>) {
        match self.whole.take() {
            Some(whole) => *rows = whole,
            None => {
                rows.truncate(self.rows);
                self.undo_log(rows);
            }
        }
    }

    /// Apply the log backwards to `rows` (the tick's older rows), emptying it.
    fn undo_log(&mut self, rows: &mut [Record]) {
        for change in self.log.drain(..).rev() {
            match change {
                Change::Header(row, old) => rows[row as usize].header = old,
                Change::Value(row, context, old) => {
                    rows[row as usize].set(context, old);
                }
                Change::Record(row, old) => rows[row as usize] = old,
            }
        }
    }
}
