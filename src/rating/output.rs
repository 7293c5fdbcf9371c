//! The rating database (docs/rating.md): the sink that writes REG's rejected rows, RATE's
//! quarantined ones and DIS's persistent ones, each write idempotent so that a rerun on the
//! same input completes a database instead of doubling it.

use std::path::Path;

use jiff::fmt::temporal::DateTimePrinter;
use rusqlite::params;
use rustc_hash::FxHashMap;

use super::schema::Rating;
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
}

/// The rating database as a pipeline sink.
pub struct RatingSink {
    store: Store,
    rating: std::sync::Arc<Rating>,
    pending: usize,
    commit_every: usize,
    // Balance changes of the open transaction, applied with it: one UPDATE per subscriber
    // per transaction instead of one per CDR.
    charges: FxHashMap<String, i64>,
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
        rating: std::sync::Arc<Rating>,
        balances: &[(String, i64)],
        commit_every: usize,
    ) -> Result<Self, StoreError> {
        let mut store = Store::open(path, SCHEMA, fingerprint)?;
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
                self.store.write(|conn| {
                    let mut ins = conn.prepare_cached(
                        "INSERT OR IGNORE INTO persistent
                         (event_id, imsi, subscriber, service, action, start_time, units, amount)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    )?;
                    let printer = DateTimePrinter::new();
                    let mut start = String::with_capacity(32);
                    for r in records {
                        start.clear();
                        if let Some(t) = r.get(c.start_time).as_time() {
                            // Into a reused buffer: this thread is the run's bottleneck.
                            printer
                                .print_timestamp(&t, &mut start)
                                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                        }
                        let amount = r.get(c.amount).as_int().unwrap_or(0);
                        let subscriber = text(r, c.subscriber).unwrap_or("");
                        let fresh = ins.execute(params![
                            // An empty EVENT_ID is an id like any other (docs/rating.md).
                            text(r, c.event_id).unwrap_or(""),
                            text(r, c.imsi),
                            subscriber,
                            text(r, c.service),
                            text(r, c.action),
                            start,
                            r.get(c.units).as_int().unwrap_or(0),
                            amount
                        ])?;
                        // Only the first application of an event moves money.
                        if fresh == 1 && amount != 0 {
                            match charges.get_mut(subscriber) {
                                Some(total) => *total += amount,
                                None => {
                                    charges.insert(subscriber.to_string(), amount);
                                }
                            }
                        }
                    }
                    Ok(())
                })?;
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
            for (subscriber, amount) in &charges {
                st.execute(params![amount, subscriber])?;
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
