//! The rating database (docs/rating.md): the sink that writes REG's rejected rows, RATE's
//! quarantined ones and DIS's persistent ones, each write idempotent so that a rerun on the
//! same input completes a database instead of doubling it.

use std::path::Path;

use jiff::fmt::temporal::DateTimePrinter;
use rusqlite::params;
use rustc_hash::FxHashMap;

use super::schema::{Contexts, Rating};
use crate::engine::{BoxError, Sink, SinkBatch};
use crate::model::{ContextId, Record};
use crate::store::{Store, StoreError};

/// The tables of SPEC §8. `archive` is the month-by-month view of the persistent rows
/// (start_time is UTC, so its first seven characters are the month).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS persistent (
  event_id TEXT PRIMARY KEY, imsi TEXT NOT NULL, subscriber TEXT NOT NULL, service TEXT NOT NULL,
  action TEXT NOT NULL, start_time TEXT NOT NULL, units INTEGER NOT NULL, amount INTEGER NOT NULL)
  WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS balances (subscriber TEXT PRIMARY KEY, balance INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rejected (line INTEGER PRIMARY KEY, event_id TEXT, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (line INTEGER PRIMARY KEY, event_id TEXT, error TEXT NOT NULL);
CREATE VIEW IF NOT EXISTS archive AS
  SELECT event_id, substr(start_time, 1, 7) AS month, subscriber, amount FROM persistent;
";

/// The sink table of quarantined records.
pub const QUARANTINE: &str = "quarantine";

/// Persistent rows per INSERT statement: one statement's fixed cost (bind, step, reset) shared
/// by many rows; 8 parameters a row stay far below SQLite's limit.
const ROWS_PER_INSERT: usize = 32;

/// The INSERT of `rows` persistent rows. Many at once fail whole when one is stored already;
/// one alone is ignored then.
fn insert_persistent(rows: usize) -> String {
    let conflict = if rows == 1 { " OR IGNORE" } else { "" };
    let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; rows].join(", ");
    format!(
        "INSERT{conflict} INTO persistent
         (event_id, imsi, subscriber, service, action, start_time, units, amount)
         VALUES {values}"
    )
}

/// Bind `records` to `st`, an INSERT of as many rows.
fn bind_rows(
    st: &mut rusqlite::CachedStatement<'_>,
    c: Contexts,
    records: &[Record],
    start: &mut String,
) -> rusqlite::Result<()> {
    let printer = DateTimePrinter::new();
    for (i, r) in records.iter().enumerate() {
        let at = i * 8;
        start.clear();
        if let Some(t) = r.get(c.start_time).as_time() {
            // Into a reused buffer (SQLite copies what is bound): this thread is the run's
            // bottleneck.
            printer
                .print_timestamp(&t, &mut *start)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        }
        // An empty EVENT_ID is an id like any other (docs/rating.md).
        st.raw_bind_parameter(at + 1, text(r, c.event_id).unwrap_or(""))?;
        st.raw_bind_parameter(at + 2, text(r, c.imsi))?;
        st.raw_bind_parameter(at + 3, text(r, c.subscriber).unwrap_or(""))?;
        st.raw_bind_parameter(at + 4, text(r, c.service))?;
        st.raw_bind_parameter(at + 5, text(r, c.action))?;
        st.raw_bind_parameter(at + 6, start.as_str())?;
        st.raw_bind_parameter(at + 7, r.get(c.units).as_int().unwrap_or(0))?;
        st.raw_bind_parameter(at + 8, r.get(c.amount).as_int().unwrap_or(0))?;
    }
    Ok(())
}

/// Add a newly stored row's amount to its subscriber's pending charge.
fn charge(charges: &mut FxHashMap<String, i128>, c: Contexts, r: &Record) {
    let amount = i128::from(r.get(c.amount).as_int().unwrap_or(0));
    if amount == 0 {
        return;
    }
    let subscriber = text(r, c.subscriber).unwrap_or("");
    match charges.get_mut(subscriber) {
        Some(total) => *total += amount,
        None => {
            charges.insert(subscriber.to_string(), amount);
        }
    }
}

/// Store persistent rows, charging only the events not stored before (only the first
/// application of an event moves money). Rows go [`ROWS_PER_INSERT`] at a time with a plain
/// INSERT; when one of them is stored already (a rerun of the same input) the statement fails
/// whole (SQLite undoes the statement, not the transaction) and its rows go one by one with
/// INSERT OR IGNORE, whose count says whether each was new.
fn write_persistent(
    conn: &rusqlite::Connection,
    c: Contexts,
    records: &[Record],
    charges: &mut FxHashMap<String, i128>,
) -> rusqlite::Result<()> {
    let mut start = String::with_capacity(32);
    let mut many = conn.prepare_cached(&insert_persistent(ROWS_PER_INSERT))?;
    let mut one = conn.prepare_cached(&insert_persistent(1))?;
    let mut singly = |rows: &[Record], start: &mut String, charges: &mut FxHashMap<String, i128>| {
        for r in rows {
            bind_rows(&mut one, c, std::slice::from_ref(r), start)?;
            if one.raw_execute()? == 1 {
                charge(charges, c, r);
            }
        }
        rusqlite::Result::Ok(())
    };
    let mut chunks = records.chunks_exact(ROWS_PER_INSERT);
    for chunk in &mut chunks {
        bind_rows(&mut many, c, chunk, &mut start)?;
        match many.raw_execute() {
            Ok(_) => chunk.iter().for_each(|r| charge(charges, c, r)),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                singly(chunk, &mut start, charges)?
            }
            Err(e) => return Err(e),
        }
    }
    singly(chunks.remainder(), &mut start, charges)
}

/// Rows per transaction by default: large enough that commits cost nothing, small enough that
/// a crash loses little (a rerun restores it anyway).
pub const COMMIT_EVERY: usize = 50_000;

/// Counts of the output tables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Rows in `persistent`.
    pub persistent: u64,
    /// Rows in `rejected`, per reason (sorted by reason).
    pub rejected: Vec<(String, u64)>,
    /// Rows in `quarantine`.
    pub quarantine: u64,
    /// Rows in `balances`.
    pub balances: u64,
}

impl Outcome {
    /// All rejected rows.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().map(|(_, n)| n).sum()
    }

    /// Rows in the three tables a data row can end in.
    pub fn stored(&self) -> u64 {
        self.persistent + self.rejected_total() + self.quarantine
    }
}

/// The rating database as a pipeline sink.
pub struct RatingSink {
    store: Store,
    rating: std::sync::Arc<Rating>,
    pending: usize,
    commit_every: usize,
    // Balance changes of the open transaction, applied with it: one UPDATE per subscriber
    // per transaction instead of one per CDR. Wider than a balance: a sum of charges may not
    // fit where the balance they leave does (DIS quarantines a charge the balance cannot hold).
    charges: FxHashMap<String, i128>,
}

fn text(r: &Record, ctx: ContextId) -> Option<&str> {
    r.get(ctx).as_text()
}

impl RatingSink {
    /// Open the database for an input, seeding every subscriber's opening balance (kept as it
    /// is when the database already has it).
    pub fn open(
        path: &Path,
        fingerprint: &str,
        settings: &str,
        rating: std::sync::Arc<Rating>,
        balances: &[(String, i64)],
        commit_every: usize,
    ) -> Result<Self, StoreError> {
        let mut store = Store::open(path, SCHEMA, fingerprint)?;
        store.settle(settings)?;
        store.write(|c| {
            let mut st =
                c.prepare_cached("INSERT OR IGNORE INTO balances (subscriber, balance) VALUES (?1, ?2)")?;
            for (s, b) in balances {
                st.execute(params![s, b])?;
            }
            Ok(())
        })?;
        store.commit()?;
        Ok(RatingSink {
            store,
            rating,
            pending: 0,
            commit_every: commit_every.max(1),
            charges: FxHashMap::default(),
        })
    }

    /// Count what the database holds.
    pub fn outcome(&self) -> Result<Outcome, StoreError> {
        outcome(&self.store)
    }

    fn write_batch(&mut self, batch: &SinkBatch) -> Result<(), StoreError> {
        let c = self.rating.ctx;
        let records = &batch.records;
        match batch.table.as_str() {
            "rejected" | "quarantine" => {
                let (sql, detail) = if batch.table == "rejected" {
                    ("INSERT OR IGNORE INTO rejected (line, event_id, reason) VALUES (?1, ?2, ?3)", c.reason)
                } else {
                    ("INSERT OR IGNORE INTO quarantine (line, event_id, error) VALUES (?1, ?2, ?3)", c.error)
                };
                self.store.write(|conn| {
                    let mut st = conn.prepare_cached(sql)?;
                    for r in records {
                        st.execute(params![r.header.reg_id as i64, text(r, c.event_id), text(r, detail)])?;
                    }
                    Ok(())
                })?;
            }
            _ => {
                let charges = &mut self.charges;
                self.store.write(|conn| write_persistent(conn, c, records, charges))?;
            }
        }
        self.pending += records.len();
        if self.pending >= self.commit_every {
            self.commit()?;
        }
        Ok(())
    }

    /// Apply the pending balance changes and commit them with the rows that caused them.
    fn commit(&mut self) -> Result<(), StoreError> {
        let charges = std::mem::take(&mut self.charges);
        self.store.write(|conn| {
            let mut st =
                conn.prepare_cached("UPDATE balances SET balance = balance - ?1 WHERE subscriber = ?2")?;
            for (subscriber, &total) in &charges {
                // In parts that each fit: every balance on the way lies between the one
                // before and the one after, so none overflows.
                let mut left = total;
                while left != 0 {
                    let part = left.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
                    st.execute(params![part, subscriber])?;
                    left -= i128::from(part);
                }
            }
            Ok(())
        })?;
        self.pending = 0;
        self.store.commit()
    }
}

impl Sink for RatingSink {
    fn write(&mut self, batch: SinkBatch) -> Result<(), BoxError> {
        Ok(self.write_batch(&batch)?)
    }

    fn finish(&mut self) -> Result<(), BoxError> {
        Ok(self.commit()?)
    }
}

/// Count the output tables of a rating database.
pub fn outcome(store: &Store) -> Result<Outcome, StoreError> {
    let fail = |source| StoreError::Write { path: store.path().into(), source };
    let conn = store.conn();
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).map(|n| n as u64);
    let mut st = conn
        .prepare("SELECT reason, count(*) FROM rejected GROUP BY reason ORDER BY reason")
        .map_err(fail)?;
    let rejected = st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(fail)?;
    Ok(Outcome {
        persistent: count("SELECT count(*) FROM persistent").map_err(fail)?,
        rejected,
        quarantine: count("SELECT count(*) FROM quarantine").map_err(fail)?,
        balances: count("SELECT count(*) FROM balances").map_err(fail)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::NodeId;
    use crate::model::Value;

    /// Persistent records `ids`, event `E<id>` of amount `id` for subscriber `S<id % 3>`.
    fn persistent(rating: &Rating, ids: impl IntoIterator<Item = u64>) -> SinkBatch {
        let c = rating.ctx;
        let records = ids
            .into_iter()
            .map(|i| {
                let mut x = Record::new(i);
                for (ctx, v) in [
                    (c.event_id, Value::text(format!("E{i}"))),
                    (c.imsi, Value::text("IMSI")),
                    (c.subscriber, Value::text(format!("S{}", i % 3))),
                    (c.service, Value::text("VOICE")),
                    (c.action, Value::text("MO")),
                    (c.units, Value::Int(1)),
                    (c.amount, Value::Int(i as i64)),
                ] {
                    x.set(ctx, v);
                }
                x
            })
            .collect();
        SinkBatch { node: NodeId::new(2, "DIS", 0), table: "persistent".into(), records }
    }

    /// Write `batches` into a new database; its persistent count and balances.
    fn write(dir: &Path, name: &str, batches: &[&[u64]]) -> (u64, Vec<(String, i64)>) {
        let rating = std::sync::Arc::new(Rating::new());
        let opening: Vec<(String, i64)> = (0..3).map(|s| (format!("S{s}"), 10_000)).collect();
        let mut sink =
            RatingSink::open(&dir.join(name), "input", "", rating.clone(), &opening, 1_000).unwrap();
        for ids in batches {
            sink.write(persistent(&rating, ids.iter().copied())).unwrap();
        }
        sink.finish().unwrap();
        let balances = sink
            .store
            .conn()
            .prepare("SELECT subscriber, balance FROM balances ORDER BY subscriber")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        (sink.outcome().unwrap().persistent, balances)
    }

    #[test]
    fn events_stored_already_are_neither_stored_nor_charged_again() {
        let dir = tempfile::tempdir().unwrap();
        let all: Vec<u64> = (1..=70).collect();
        let once = write(dir.path(), "once.db", &[&all]);
        assert_eq!(once.0, 70);
        assert_eq!(once.1[0], ("S0".to_string(), 10_000 - (3..=69).step_by(3).sum::<u64>() as i64));
        // Stored before: one event in each full chunk of the INSERT and one in the rest, then
        // a whole first chunk; the batch written after them holds every event.
        let again = write(dir.path(), "again.db", &[&[5, 40, 66], &all[..ROWS_PER_INSERT], &all]);
        assert_eq!(again, once);
    }
}
