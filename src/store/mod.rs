//! SQLite persistence of data tables. Writes are idempotent (keyed by primary keys), batched
//! into transactions, and a database remembers the input it was written from.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

/// Format of the databases this version writes.
pub const FORMAT: &str = "catar-rating-3";

/// Why the database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file cannot be opened, created or initialised.
    #[error("database {}: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// The database was written from another input or by another format.
    #[error("database {} holds the results of another input (or of an older catar); use a new --db file or remove it", path.display())]
    Foreign {
        /// The database file.
        path: PathBuf,
        /// What it says it holds.
        found: String,
    },
    /// The file is an SQLite database catar did not write: its tables are someone else's.
    #[error("database {} holds tables catar did not write ({tables}); use a new --db file", path.display())]
    Unrelated {
        /// The database file.
        path: PathBuf,
        /// Its tables and views, by name.
        tables: String,
    },
    /// The file can only be read: its permissions or its filesystem forbid writing.
    #[error("database {} is readonly: its file or its filesystem cannot be written; use another --db", path.display())]
    ReadOnly {
        /// The database file.
        path: PathBuf,
    },
    /// The database holds results of the same input under settings that price it otherwise.
    #[error("database {} was rated with {stored}, this run with {given}: use a new --db file or the same settings", path.display())]
    Settings {
        /// The database file.
        path: PathBuf,
        /// The settings it was written with.
        stored: String,
        /// This run's.
        given: String,
    },
    /// A write failed (disk full, locked, read-only …).
    #[error("database {}: {source}", path.display())]
    Write {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
}

/// An open database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    in_transaction: bool,
}

impl Store {
    /// Open (or create) `path`, create `schema` (idempotent DDL) and check that the database
    /// belongs to the input identified by `fingerprint`.
    pub fn open(path: &Path, schema: &str, fingerprint: &str) -> Result<Store, StoreError> {
        let fail = |source| StoreError::Open { path: path.into(), source };
        let conn = Connection::open(path).map_err(fail)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(fail)?;
        // Another program's database is left as it is: no table added, not even its journal
        // mode changed (the pragmas below write to the file).
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name")
            .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
            .map_err(fail)?;
        // Catar's own has its stamp in `meta` (written with its tables, in one transaction):
        // a `meta` table alone is no proof, other programs have one too.
        let stamped = || {
            conn.query_row("SELECT value FROM meta WHERE key = 'input'", [], |r| r.get::<_, String>(0))
                .is_ok_and(|v| v.starts_with("catar-"))
        };
        if !tables.is_empty() && !stamped() {
            return Err(StoreError::Unrelated { path: path.into(), tables: tables.join(", ") });
        }
        // Refused before anything runs (SQLite opens such a file read-only, and the first
        // write would fail mid-run).
        if conn.is_readonly(rusqlite::MAIN_DB).map_err(fail)? {
            return Err(StoreError::ReadOnly { path: path.into() });
        }
        // WAL + NORMAL: a commit costs no fsync, a crash loses at most the last commits, and
        // every write is idempotent so a rerun restores them.
        // Bigger pages: fewer splits and rebalances while the tables grow (only applies to a
        // new database).
        conn.pragma_update(None, "page_size", 16_384).map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(fail)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(fail)?;
        // A statement that may fail halfway (a many-row INSERT) saves the pages it changes
        // first, so that its failure undoes it alone: in memory, not a file write per page
        // (about 35,000 writes of 16 KB per 200k CDRs). Crash recovery never reads them.
        conn.pragma_update(None, "temp_store", "MEMORY").map_err(fail)?;
        // The tables and the stamp that says they are catar's commit together.
        conn.execute_batch("BEGIN IMMEDIATE").map_err(fail)?;
        conn.execute_batch("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")
            .map_err(fail)?;
        conn.execute_batch(schema).map_err(fail)?;
        let stamp = format!("{FORMAT} {fingerprint}");
        let found: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'input'", [], |r| r.get(0))
            .optional()
            .map_err(fail)?;
        match found {
            Some(f) if f != stamp => {
                return Err(StoreError::Foreign { path: path.into(), found: f });
            }
            Some(_) => {}
            None => {
                conn.execute("INSERT INTO meta (key, value) VALUES ('input', ?1)", params![stamp])
                    .map_err(fail)?;
            }
        }
        conn.execute_batch("COMMIT").map_err(fail)?;
        Ok(Store { conn, path: path.into(), in_transaction: false })
    }

    /// Stamp the database with the settings that shape its results (`--domestic-prefix +972`),
    /// or check that it holds results of these: a rerun completing a database with other
    /// settings would mix two pricings in one table.
    pub fn settle(&self, settings: &str) -> Result<(), StoreError> {
        let fail = |source| StoreError::Open { path: self.path.clone(), source };
        let found: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'settings'", [], |r| r.get(0))
            .optional()
            .map_err(fail)?;
        match found {
            Some(stored) if stored != settings => {
                Err(StoreError::Settings { path: self.path.clone(), stored, given: settings.into() })
            }
            Some(_) => Ok(()),
            None => self
                .conn
                .execute("INSERT INTO meta (key, value) VALUES ('settings', ?1)", params![settings])
                .map(drop)
                .map_err(fail),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` inside the open transaction (opening one if needed).
    pub fn write<T>(&mut self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        if !self.in_transaction {
            self.conn.execute_batch("BEGIN").map_err(|e| self.write_error(e))?;
            self.in_transaction = true;
        }
        f(&self.conn).map_err(|e| self.write_error(e))
    }

    /// Make everything written so far durable.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        if self.in_transaction {
            self.conn.execute_batch("COMMIT").map_err(|e| self.write_error(e))?;
            self.in_transaction = false;
        }
        Ok(())
    }

    /// Read-only access for queries.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    fn write_error(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Write { path: self.path.clone(), source }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Whatever was written is whole records: keep it (a rerun completes the rest).
        if self.in_transaction {
            let _ = self.conn.execute_batch("COMMIT");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY);";

    #[test]
    fn a_database_refuses_another_input_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let mut s = Store::open(&path, SCHEMA, "a").unwrap();
        s.write(|c| c.execute("INSERT INTO t VALUES ('row')", [])).unwrap();
        s.commit().unwrap();
        drop(s);
        assert!(matches!(Store::open(&path, SCHEMA, "b"), Err(StoreError::Foreign { .. })));
        Store::open(&path, SCHEMA, "a").unwrap().settle("--x 1").unwrap();
        Store::open(&path, SCHEMA, "a").unwrap().settle("--x 1").unwrap();
        let e = Store::open(&path, SCHEMA, "a").unwrap().settle("--x 2").unwrap_err().to_string();
        assert!(e.contains("was rated with --x 1, this run with --x 2"), "{e}");
        let s = Store::open(&path, SCHEMA, "a").unwrap();
        let n: i64 = s.conn().query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn another_programs_database_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let other = Connection::open(&path).unwrap();
        other.execute_batch("CREATE TABLE users (id INTEGER); INSERT INTO users VALUES (1);").unwrap();
        drop(other);
        let before = std::fs::read(&path).unwrap();
        let e = Store::open(&path, SCHEMA, "a").err().unwrap();
        assert!(matches!(&e, StoreError::Unrelated { tables, .. } if tables == "users"), "{e}");
        assert!(e.to_string().contains("app.db holds tables catar did not write (users)"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        // A `meta` table is no proof: catar's has its stamp.
        let meta = dir.path().join("meta.db");
        let other = Connection::open(&meta).unwrap();
        other
            .execute_batch(
                "CREATE TABLE meta (key TEXT, value TEXT); INSERT INTO meta VALUES ('owner', 'me');",
            )
            .unwrap();
        drop(other);
        let before = std::fs::read(&meta).unwrap();
        let e = Store::open(&meta, SCHEMA, "a").err().unwrap();
        assert!(matches!(&e, StoreError::Unrelated { tables, .. } if tables == "meta"), "{e}");
        assert_eq!(std::fs::read(&meta).unwrap(), before);
        // An empty database file (created by hand beforehand) is a new database.
        let empty = dir.path().join("empty.db");
        drop(Connection::open(&empty).unwrap());
        Store::open(&empty, SCHEMA, "a").unwrap();
    }

    #[test]
    fn an_unwritable_path_is_an_open_error_naming_it() {
        let e = Store::open(Path::new("/nonexistent-dir/x.db"), SCHEMA, "a").err().unwrap();
        assert!(e.to_string().contains("/nonexistent-dir/x.db"), "{e}");
    }
}
