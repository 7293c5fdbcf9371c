//! The SQLite baseline of the rating benchmark: the rules of `docs/rating.md` as SQL statements.
//!
//! Rust only reads the five CSV files into staging tables (one transaction, prepared
//! statements) and parses per field what SQL cannot do faithfully: RFC 3339 timestamps (with
//! `jiff`, as seconds + nanoseconds, the normalized display text and the UTC month) and DURATION
//! as Rust's `i64` parse; it also records each row's line and whether it is well formed (field
//! count, UTF-8). Every rating rule (reject reasons and their order, duplicates, units, tier
//! usage, tariffs and tiers, international, family, VPN, overflow, balances) is SQL.
//!
//! Not expressed in SQL (generated inputs never come near them): U saturating at `i64::MAX`
//! (SQLite's `SUM` stops with "integer overflow" instead) and an overflowing balance sum (same).
//! A BASE that overflows `i64` *is* handled: SQLite turns an overflowing integer product into a
//! REAL, so `typeof(base) <> 'integer'` sends the record to `quarantine`.

use std::error::Error;
use std::fs::File;
use std::path::Path;

use rusqlite::{Connection, params};

type Res<T> = Result<T, Box<dyn Error>>;

/// Rates the input directory `input` (the five CSV files of `catar gen`) into the SQLite
/// database `db`, writing `persistent`, `balances`, `rejected`, `quarantine` and `archive`
/// (replaced if they exist).
pub fn rate_with_sqlite(input: &Path, db: &Path) -> Result<(), Box<dyn Error>> {
    let mut conn = Connection::open(db)?;
    conn.execute_batch(
        "PRAGMA journal_mode = OFF;
         PRAGMA synchronous = OFF;
         PRAGMA cache_size = -262144;
         PRAGMA temp_store = MEMORY;
         PRAGMA temp.cache_size = -262144;
         PRAGMA locking_mode = EXCLUSIVE;",
    )?;
    conn.execute_batch(STAGING)?;

    let tx = conn.transaction()?;
    load_subscribers(&tx, input)?;
    load_family(&tx, input)?;
    load_tariffs(&tx, input)?;
    load_tiers(&tx, input)?;
    check_references(&tx)?;
    load_cdrs(&tx, input)?;
    tx.commit()?;

    let tx = conn.transaction()?;
    tx.execute_batch(RATE)?;
    tx.commit()?;
    conn.execute_batch(DROP_STAGING)?;
    Ok(())
}

/// Staging tables, in the in-memory temp schema. Text columns are declared TEXT so nothing is
/// converted by affinity: values compare as exact strings.
const STAGING: &str = "
DROP TABLE IF EXISTS temp.sub;
DROP TABLE IF EXISTS temp.fam;
DROP TABLE IF EXISTS temp.tariff;
DROP TABLE IF EXISTS temp.tier;
DROP TABLE IF EXISTS temp.cdr;
DROP TABLE IF EXISTS temp.verdict;
DROP TABLE IF EXISTS temp.usage;
DROP TABLE IF EXISTS temp.rated;
CREATE TEMP TABLE sub (
    imsi TEXT PRIMARY KEY CHECK (imsi <> ''),
    subscriber TEXT NOT NULL UNIQUE CHECK (subscriber <> ''),
    offer TEXT NOT NULL CHECK (offer IN ('FLAT', 'FAMILY', 'VPN', 'RANGED')),
    family TEXT NOT NULL,
    vpn_name TEXT NOT NULL,
    balance INTEGER NOT NULL
);
CREATE TEMP TABLE fam (line INTEGER PRIMARY KEY, family TEXT NOT NULL, party TEXT NOT NULL, name TEXT NOT NULL);
CREATE INDEX temp.fam_key ON fam (family, party);
CREATE TEMP TABLE tariff (
    offer TEXT NOT NULL CHECK (offer IN ('FLAT', 'FAMILY', 'VPN', 'RANGED')),
    service TEXT NOT NULL CHECK (service IN ('VOICE', 'SMS', 'DATA')),
    unit_rate INTEGER NOT NULL CHECK (unit_rate >= 0),
    PRIMARY KEY (offer, service)
) WITHOUT ROWID;
CREATE TEMP TABLE tier (
    line INTEGER PRIMARY KEY,
    service TEXT NOT NULL CHECK (service IN ('VOICE', 'SMS', 'DATA')),
    level TEXT NOT NULL,
    low INTEGER NOT NULL CHECK (low >= 0),
    high INTEGER CHECK (high > low),
    rate INTEGER NOT NULL CHECK (rate >= 0)
);
CREATE INDEX temp.tier_key ON tier (service, low);
CREATE TEMP TABLE cdr (
    line INTEGER PRIMARY KEY,
    ok INTEGER NOT NULL,   -- field count matches the header and the CDR's fields are UTF-8
    event_id TEXT,
    imsi TEXT,
    service TEXT,
    action TEXT,
    start_s INTEGER,       -- START_TIME as jiff::Timestamp: seconds, NULL when it does not parse
    start_ns INTEGER,      -- .. and the sub-second nanoseconds (same sign as the seconds)
    start_txt TEXT,        -- .. its display (UTC, Z)
    month TEXT,            -- .. its UTC month, %Y-%m
    end_s INTEGER,
    end_ns INTEGER,
    party TEXT,
    duration INTEGER       -- DURATION as i64, NULL when it does not parse
);
";

const DROP_STAGING: &str = "
DROP TABLE temp.sub; DROP TABLE temp.fam; DROP TABLE temp.tariff; DROP TABLE temp.tier;
DROP TABLE temp.cdr; DROP TABLE temp.verdict; DROP TABLE temp.usage; DROP TABLE temp.rated;
";

/// The rating itself, over the staging tables.
const RATE: &str = "
DROP TABLE IF EXISTS persistent;
DROP TABLE IF EXISTS balances;
DROP TABLE IF EXISTS rejected;
DROP TABLE IF EXISTS quarantine;
DROP TABLE IF EXISTS archive;
CREATE TABLE persistent (
    event_id TEXT PRIMARY KEY, imsi TEXT, subscriber TEXT, service TEXT, action TEXT,
    start_time TEXT, units INTEGER, amount INTEGER
) WITHOUT ROWID;
CREATE TABLE balances (subscriber TEXT PRIMARY KEY, balance INTEGER) WITHOUT ROWID;
CREATE TABLE rejected (line INTEGER PRIMARY KEY, event_id TEXT NULL, reason TEXT);
CREATE TABLE quarantine (line INTEGER PRIMARY KEY, event_id TEXT, error TEXT);
CREATE TABLE archive (
    event_id TEXT PRIMARY KEY, month TEXT, subscriber TEXT, amount INTEGER
) WITHOUT ROWID;

-- REG: the first failing check wins: parse, invalid, duplicate, unknown_imsi. The windows of
-- this statement and the next sort narrow rows (SQLite copies every column through its sorter),
-- and the wide columns are joined back by line.
CREATE TEMP TABLE verdict (line INTEGER PRIMARY KEY, reason TEXT);
INSERT INTO verdict (line, reason)
WITH checked AS (
    SELECT line, event_id, imsi,
        CASE
            WHEN NOT ok
              OR service NOT IN ('VOICE', 'SMS', 'DATA')
              OR action NOT IN ('MO', 'MT')
              OR start_s IS NULL OR end_s IS NULL OR duration IS NULL THEN 'parse'
            WHEN end_s < start_s OR (end_s = start_s AND end_ns < start_ns)
              OR duration < 0 THEN 'invalid'
        END AS reason
    FROM cdr
)
SELECT line,
    coalesce(
        reason,
        -- Among the rows that passed parse and invalid, every one after the first of its
        -- EVENT_ID (by line) is a duplicate, whatever happens to the first one afterwards.
        CASE WHEN row_number() OVER (PARTITION BY reason IS NULL, event_id ORDER BY line) > 1
             THEN 'duplicate' END,
        CASE WHEN NOT EXISTS (SELECT 1 FROM sub s WHERE s.imsi = checked.imsi)
             THEN 'unknown_imsi' END)
FROM checked;

-- Malformed rows were loaded with a NULL event_id.
INSERT INTO rejected (line, event_id, reason)
SELECT v.line, nullif(c.event_id, ''), v.reason
FROM verdict v JOIN cdr c ON c.line = v.line
WHERE v.reason IS NOT NULL;

-- RATE. UNITS, and U: the units of the earlier confirmed MO records of the same IMSI, SERVICE
-- and month.
CREATE TEMP TABLE usage (line INTEGER PRIMARY KEY, units INTEGER, u INTEGER);
INSERT INTO usage (line, units, u)
WITH conf AS (
    SELECT c.line, c.imsi, c.service, c.month, c.action,
        CASE c.service
            WHEN 'VOICE' THEN c.duration / 60 + (c.duration % 60 > 0)
            WHEN 'SMS' THEN 1
            ELSE c.duration / 1024 + (c.duration % 1024 > 0)
        END AS units
    FROM verdict v JOIN cdr c ON c.line = v.line
    WHERE v.reason IS NULL
)
SELECT line, units,
    coalesce(sum(CASE WHEN action = 'MO' THEN units END) OVER (
        PARTITION BY imsi, service, month ORDER BY line
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
FROM conf;

-- RATE, BASE, then AMOUNT (NULL when BASE overflows).
CREATE TEMP TABLE rated AS
WITH priced AS (
    SELECT c.line, c.event_id, c.imsi, s.subscriber, s.offer, s.family, s.vpn_name, c.service,
        c.action, c.start_txt, c.month, c.party, g.units,
        CASE
            WHEN c.action = 'MT' THEN NULL
            WHEN s.offer = 'RANGED' THEN (
                SELECT t.rate FROM tier t
                WHERE t.service = c.service AND t.low <= g.u AND (t.high IS NULL OR g.u < t.high))
            ELSE (SELECT r.unit_rate FROM tariff r WHERE r.offer = s.offer AND r.service = c.service)
        END AS rate
    FROM usage g
    JOIN cdr c ON c.line = g.line
    JOIN sub s ON s.imsi = c.imsi
),
based AS (
    SELECT p.*,
        p.units * p.rate
            * CASE WHEN p.service IN ('VOICE', 'SMS') AND substr(p.party, 1, 4) <> '+972'
                   THEN 3 ELSE 1 END AS base
    FROM priced p
)
SELECT b.line, b.event_id, b.imsi, b.subscriber, b.service, b.action, b.start_txt, b.month,
    b.units,
    CASE
        WHEN b.action = 'MT' THEN 0
        WHEN typeof(b.base) <> 'integer' THEN NULL
        WHEN b.offer = 'FAMILY' AND b.service IN ('VOICE', 'SMS') AND b.family <> ''
             AND EXISTS (SELECT 1 FROM fam f WHERE f.family = b.family AND f.party = b.party)
            THEN 0
        WHEN b.offer = 'VPN' AND b.service IN ('VOICE', 'SMS') AND b.vpn_name <> ''
             AND EXISTS (SELECT 1 FROM sub o
                         WHERE o.subscriber = b.party AND o.imsi <> b.imsi
                           AND o.vpn_name = b.vpn_name)
            THEN b.base / 2
        ELSE b.base
    END AS amount
FROM based b
ORDER BY b.event_id;

-- DIS: persistent, archive, balances; overflows to quarantine. `rated` was written in event_id
-- order, so the two event_id-keyed tables are filled in key order without another sort.
INSERT INTO persistent (event_id, imsi, subscriber, service, action, start_time, units, amount)
SELECT event_id, imsi, subscriber, service, action, start_txt, units, amount
FROM rated WHERE amount IS NOT NULL;

INSERT INTO archive (event_id, month, subscriber, amount)
SELECT event_id, month, subscriber, amount
FROM rated WHERE amount IS NOT NULL;

INSERT INTO quarantine (line, event_id, error)
SELECT line, event_id, 'amount overflow' FROM rated WHERE amount IS NULL ORDER BY line;

INSERT INTO balances (subscriber, balance)
SELECT s.subscriber, s.balance - coalesce(t.total, 0)
FROM sub s
LEFT JOIN (SELECT imsi, sum(amount) AS total FROM rated WHERE amount IS NOT NULL GROUP BY imsi) t
    ON t.imsi = s.imsi
ORDER BY s.subscriber;
";

/// One input CSV file: the reader and the indices of the wanted columns.
struct Input {
    name: &'static str,
    reader: csv::Reader<File>,
    columns: Vec<usize>,
    width: usize,
}

fn open(dir: &Path, name: &'static str, wanted: &[&str]) -> Res<Input> {
    let path = dir.join(name);
    let file = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
    let header = reader.byte_headers()?.clone();
    // A UTF-8 byte order mark before the first name is not part of it.
    let names: Vec<&[u8]> = header.iter().map(|h| h.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(h)).collect();
    let columns = wanted
        .iter()
        .map(|w| {
            names.iter().position(|h| *h == w.as_bytes()).ok_or_else(|| format!("{name}: missing column {w}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Input { name, reader, columns, width: header.len() })
}

/// Calls `row(line, fields)` for each row of a reference file, which must be well formed.
fn for_each_ref(mut input: Input, mut row: impl FnMut(u64, &[&str]) -> Res<()>) -> Res<()> {
    let mut rec = csv::ByteRecord::new();
    while input.reader.read_byte_record(&mut rec)? {
        let line = rec.position().map_or(0, |p| p.line());
        if rec.len() != input.width {
            return Err(format!("{} line {line}: wrong number of fields", input.name).into());
        }
        let mut fields = Vec::with_capacity(input.columns.len());
        for &i in &input.columns {
            let f =
                std::str::from_utf8(&rec[i]).map_err(|_| format!("{} line {line}: not UTF-8", input.name))?;
            fields.push(f);
        }
        row(line, &fields).map_err(|e| format!("{} line {line}: {e}", input.name))?;
    }
    Ok(())
}

fn int(field: &str, value: &str) -> Res<i64> {
    value.parse::<i64>().map_err(|_| format!("{field} is not an integer: {value:?}").into())
}

fn load_subscribers(conn: &Connection, dir: &Path) -> Res<()> {
    let cols = ["IMSI", "SUBSCRIBER", "OFFER_TYPE", "FAMILY", "VPN_NAME", "BALANCE"];
    let input = open(dir, "subscribers.csv", &cols)?;
    let mut ins = conn.prepare("INSERT INTO sub VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
    for_each_ref(input, |_, f| {
        let balance = int("BALANCE", f[5])?;
        ins.execute(params![f[0], f[1], f[2], f[3], f[4], balance])?;
        Ok(())
    })
}

fn load_family(conn: &Connection, dir: &Path) -> Res<()> {
    let input = open(dir, "family.csv", &["FAMILY", "PARTY", "NAME"])?;
    let mut ins = conn.prepare("INSERT INTO fam VALUES (?1, ?2, ?3, ?4)")?;
    for_each_ref(input, |line, f| {
        ins.execute(params![line as i64, f[0], f[1], f[2]])?;
        Ok(())
    })
}

fn load_tariffs(conn: &Connection, dir: &Path) -> Res<()> {
    let input = open(dir, "tariffs.csv", &["OFFER_TYPE", "SERVICE", "UNIT_RATE"])?;
    let mut ins = conn.prepare("INSERT INTO tariff VALUES (?1, ?2, ?3)")?;
    for_each_ref(input, |_, f| {
        ins.execute(params![f[0], f[1], int("UNIT_RATE", f[2])?])?;
        Ok(())
    })
}

fn load_tiers(conn: &Connection, dir: &Path) -> Res<()> {
    let cols = ["SERVICE", "TIER_LEVEL", "TIER_LOW", "TIER_HIGH", "TIER_RATE"];
    let input = open(dir, "tiers.csv", &cols)?;
    let mut ins = conn.prepare("INSERT INTO tier VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
    for_each_ref(input, |line, f| {
        let low = int("TIER_LOW", f[2])?;
        let high = if f[3].is_empty() { None } else { Some(int("TIER_HIGH", f[3])?) };
        let rate = int("TIER_RATE", f[4])?;
        ins.execute(params![line as i64, f[0], f[1], low, high, rate])?;
        Ok(())
    })
}

/// Tariffs cover every non-RANGED offer in use; tiers cover `[0, ∞)` for each service when a
/// RANGED subscriber exists.
fn check_references(conn: &Connection) -> Res<()> {
    let missing: Option<(String, String)> = conn
        .query_row(
            "SELECT o.offer, v.service
             FROM (SELECT DISTINCT offer FROM sub WHERE offer <> 'RANGED') o
             CROSS JOIN (SELECT 'VOICE' AS service UNION ALL SELECT 'SMS' UNION ALL SELECT 'DATA') v
             LEFT JOIN tariff t ON t.offer = o.offer AND t.service = v.service
             WHERE t.unit_rate IS NULL LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    if let Some((offer, service)) = missing {
        return Err(format!("tariffs.csv: no UNIT_RATE for {offer} {service}").into());
    }
    let bad: Option<String> = conn
        .query_row(
            "WITH v(service) AS (SELECT 'VOICE' UNION ALL SELECT 'SMS' UNION ALL SELECT 'DATA'),
             t AS (
                 SELECT service, low, high,
                     lag(high) OVER w AS prev_high,
                     row_number() OVER w AS rn,
                     count(*) OVER (PARTITION BY service) AS n
                 FROM tier WINDOW w AS (PARTITION BY service ORDER BY low)
             )
             SELECT v.service FROM v
             WHERE EXISTS (SELECT 1 FROM sub WHERE offer = 'RANGED')
               AND (NOT EXISTS (SELECT 1 FROM t WHERE t.service = v.service)
                    OR EXISTS (SELECT 1 FROM t WHERE t.service = v.service AND (
                           (rn = 1 AND low <> 0)
                        OR (rn > 1 AND (prev_high IS NULL OR low <> prev_high))
                        OR (rn < n AND high IS NULL)
                        OR (rn = n AND high IS NOT NULL))))
             LIMIT 1",
            [],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    if let Some(service) = bad {
        return Err(format!("tiers.csv: the {service} tiers do not cover [0, inf) exactly").into());
    }
    Ok(())
}

fn load_cdrs(conn: &Connection, dir: &Path) -> Res<()> {
    // All ten columns of SPEC §8 must be there; the rating reads the first eight.
    let cols = [
        "EVENT_ID",
        "IMSI",
        "SERVICE",
        "ACTION",
        "START_TIME",
        "END_TIME",
        "PARTY",
        "DURATION",
        "SESSION_ID",
        "DEVICE_ID",
    ];
    let mut input = open(dir, "cdrs.csv", &cols)?;
    let mut ins =
        conn.prepare("INSERT INTO cdr VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)")?;
    let mut rec = csv::ByteRecord::new();
    while input.reader.read_byte_record(&mut rec)? {
        let line = rec.position().map_or(0, |p| p.line()) as i64;
        // Well formed: the header's field count, and the columns of the CDR (extra columns are
        // ignored) UTF-8.
        let ok =
            rec.len() == input.width && input.columns.iter().all(|&i| std::str::from_utf8(&rec[i]).is_ok());
        if !ok {
            ins.execute(params![
                line,
                false,
                None::<&str>,
                None::<&str>,
                None::<&str>,
                None::<&str>,
                None::<i64>,
                None::<i64>,
                None::<&str>,
                None::<&str>,
                None::<i64>,
                None::<i64>,
                None::<&str>,
                None::<i64>
            ])?;
            continue;
        }
        // These fields were checked as UTF-8 just above.
        let f: [&str; 8] =
            std::array::from_fn(|k| std::str::from_utf8(&rec[input.columns[k]]).unwrap_or_default());
        let start = f[4].parse::<jiff::Timestamp>().ok();
        let end = f[5].parse::<jiff::Timestamp>().ok();
        let duration = f[7].parse::<i64>().ok();
        ins.execute(params![
            line,
            true,
            f[0],
            f[1],
            f[2],
            f[3],
            start.map(|t| t.as_second()),
            start.map(|t| t.subsec_nanosecond()),
            start.map(|t| t.to_string()),
            start.map(|t| t.strftime("%Y-%m").to_string()),
            end.map(|t| t.as_second()),
            end.map(|t| t.subsec_nanosecond()),
            f[6],
            duration,
        ])?;
    }
    Ok(())
}
