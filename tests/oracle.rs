//! The rating pipeline checked against a row-by-row oracle.
//!
//! The oracle below is a plain, single-threaded reading of SPEC.md §8 and docs/rating.md,
//! written from scratch: it never calls `catar::` code. It renders the expected database in the
//! text form of `common::dump_db`, so a difference shows as a readable diff.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use jiff::Timestamp;
use proptest::prelude::*;

/// The queries of `common::dump_db`, in its order: the oracle prints the same section headers.
const SECTIONS: [&str; 5] = [
    "SELECT event_id, imsi, subscriber, service, action, start_time, units, amount FROM persistent ORDER BY event_id",
    "SELECT subscriber, balance FROM balances ORDER BY subscriber",
    "SELECT line, event_id, reason FROM rejected ORDER BY line",
    "SELECT line, event_id, error FROM quarantine ORDER BY line",
    "SELECT event_id, month, subscriber, amount FROM archive ORDER BY event_id",
];

const DOMESTIC_PREFIX: &str = "+972";

/// One cell of a dumped row, formatted as `common::dump_db` formats it.
enum Cell {
    Null,
    Int(i64),
    Text(String),
}

impl Cell {
    fn render(&self) -> String {
        match self {
            Cell::Null => "NULL".to_string(),
            Cell::Int(v) => v.to_string(),
            Cell::Text(t) => format!("{t:?}"),
        }
    }
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

/// A CSV file read by header name (reference files: assumed valid, the oracle panics if not).
struct Table {
    columns: HashMap<String, usize>,
    rows: Vec<csv::StringRecord>,
}

impl Table {
    fn read(path: &Path) -> Table {
        let mut rdr = csv::ReaderBuilder::new()
            .from_path(path)
            .unwrap_or_else(|e| panic!("oracle: open {}: {e}", path.display()));
        let columns = rdr
            .headers()
            .expect("oracle: headers")
            .iter()
            .enumerate()
            .map(|(i, h)| (h.to_string(), i))
            .collect();
        let rows =
            rdr.records().map(|r| r.unwrap_or_else(|e| panic!("oracle: {}: {e}", path.display()))).collect();
        Table { columns, rows }
    }

    fn get<'a>(&self, row: &'a csv::StringRecord, column: &str) -> &'a str {
        let i = self.columns[column];
        &row[i]
    }

    fn int(&self, row: &csv::StringRecord, column: &str) -> i64 {
        self.get(row, column).parse().unwrap_or_else(|e| panic!("oracle: {column}: {e}"))
    }
}

struct Subscriber {
    imsi: String,
    number: String,
    offer: String,
    family: String,
    vpn: String,
    balance: i64,
}

struct Tier {
    service: String,
    low: i64,
    high: Option<i64>,
    rate: i64,
}

/// What the oracle expects, plus a few counts that show which rules the input exercised.
#[derive(Default)]
struct Expected {
    persistent: Vec<Vec<Cell>>,
    balances: Vec<Vec<Cell>>,
    rejected: Vec<Vec<Cell>>,
    quarantine: Vec<Vec<Cell>>,
    archive: Vec<Vec<Cell>>,
    data_rows: usize,
    reasons: HashMap<&'static str, usize>,
    offers: HashSet<String>,
    months: HashSet<String>,
    mt: usize,
    international: usize,
    wife: usize,
    vpn_half: usize,
}

impl Expected {
    /// The text `common::dump_db` would give for a database holding exactly these rows.
    fn render(&self) -> String {
        let tables = [&self.persistent, &self.balances, &self.rejected, &self.quarantine, &self.archive];
        let mut out = String::new();
        for (sql, rows) in SECTIONS.iter().zip(tables) {
            out.push_str(&format!("== {sql}\n"));
            for row in rows {
                let cells: Vec<String> = row.iter().map(Cell::render).collect();
                out.push_str(&cells.join("|"));
                out.push('\n');
            }
        }
        out
    }
}

/// The checked CDR fields that REG hands to RATE.
struct Cdr<'a> {
    event_id: &'a str,
    imsi: &'a str,
    service: &'a str,
    action: &'a str,
    start: Timestamp,
    party: &'a str,
    duration: i64,
}

/// REG checks 1 and 2 (`parse`, `invalid`) of docs/rating.md on one row.
/// `Err((event_id, reason))` when the row is rejected by one of them.
fn parse_row<'a>(
    fields: &'a [&'a str],
    col: &dyn Fn(&str) -> usize,
) -> Result<Cdr<'a>, (Option<&'a str>, &'static str)> {
    let event_id = fields[col("EVENT_ID")];
    let id = (!event_id.is_empty()).then_some(event_id);
    let service = fields[col("SERVICE")];
    let action = fields[col("ACTION")];
    if !["VOICE", "SMS", "DATA"].contains(&service) || !["MO", "MT"].contains(&action) {
        return Err((id, "parse"));
    }
    let start: Timestamp = fields[col("START_TIME")].parse().map_err(|_| (id, "parse"))?;
    let end: Timestamp = fields[col("END_TIME")].parse().map_err(|_| (id, "parse"))?;
    let duration: i64 = fields[col("DURATION")].parse().map_err(|_| (id, "parse"))?;
    if end < start || duration < 0 {
        return Err((id, "invalid"));
    }
    Ok(Cdr {
        event_id,
        imsi: fields[col("IMSI")],
        service,
        action,
        start,
        party: fields[col("PARTY")],
        duration,
    })
}

/// The 1-based physical line on which a record starts (SPEC §8: "line number in cdrs.csv,
/// header = line 1"), counted here from the bytes: the `csv` crate's own `Position` of a record
/// points at the end of the previous record's terminator (after a CRLF at its `\n`, after blank
/// lines at the first of them), so `Position::line()` falls one or more lines short there.
/// The record's first byte is the first one from `Position::byte()` on that is not a line end.
struct LineCounter<'a> {
    bytes: &'a [u8],
    pos: usize,
    newlines: usize,
}

impl LineCounter<'_> {
    /// For records in increasing byte order.
    fn line_of(&mut self, byte: u64) -> i64 {
        let mut start = usize::try_from(byte).unwrap();
        while start < self.bytes.len() && matches!(self.bytes[start], b'\r' | b'\n') {
            start += 1;
        }
        assert!(start >= self.pos, "records out of order");
        self.newlines += self.bytes[self.pos..start].iter().filter(|&&b| b == b'\n').count();
        self.pos = start;
        i64::try_from(self.newlines).unwrap() + 1
    }
}

/// `ceil(n / d)` for `n >= 0`, without overflow.
fn ceil_div(n: i64, d: i64) -> i64 {
    n / d + i64::from(n % d != 0)
}

/// SPEC §8 + docs/rating.md, one CDR at a time in input order.
fn oracle(dir: &Path) -> Expected {
    // Reference data.
    let subs_t = Table::read(&dir.join("subscribers.csv"));
    let subscribers: Vec<Subscriber> = subs_t
        .rows
        .iter()
        .map(|r| Subscriber {
            imsi: subs_t.get(r, "IMSI").to_string(),
            number: subs_t.get(r, "SUBSCRIBER").to_string(),
            offer: subs_t.get(r, "OFFER_TYPE").to_string(),
            family: subs_t.get(r, "FAMILY").to_string(),
            vpn: subs_t.get(r, "VPN_NAME").to_string(),
            balance: subs_t.int(r, "BALANCE"),
        })
        .collect();
    let by_imsi: HashMap<&str, &Subscriber> = subscribers.iter().map(|s| (s.imsi.as_str(), s)).collect();
    let by_number: HashMap<&str, &Subscriber> = subscribers.iter().map(|s| (s.number.as_str(), s)).collect();

    let family_t = Table::read(&dir.join("family.csv"));
    let family: HashSet<(String, String)> = family_t
        .rows
        .iter()
        .map(|r| (family_t.get(r, "FAMILY").to_string(), family_t.get(r, "PARTY").to_string()))
        .collect();

    let tariffs_t = Table::read(&dir.join("tariffs.csv"));
    let tariffs: HashMap<(String, String), i64> = tariffs_t
        .rows
        .iter()
        .map(|r| {
            (
                (tariffs_t.get(r, "OFFER_TYPE").to_string(), tariffs_t.get(r, "SERVICE").to_string()),
                tariffs_t.int(r, "UNIT_RATE"),
            )
        })
        .collect();

    let tiers_t = Table::read(&dir.join("tiers.csv"));
    let tiers: Vec<Tier> = tiers_t
        .rows
        .iter()
        .map(|r| Tier {
            service: tiers_t.get(r, "SERVICE").to_string(),
            low: tiers_t.int(r, "TIER_LOW"),
            high: match tiers_t.get(r, "TIER_HIGH") {
                "" => None,
                _ => Some(tiers_t.int(r, "TIER_HIGH")),
            },
            rate: tiers_t.int(r, "TIER_RATE"),
        })
        .collect();

    // CDRs, as bytes: a row that is not UTF-8 is a `parse` rejection, not an error.
    let bytes = std::fs::read(dir.join("cdrs.csv")).expect("oracle: read cdrs.csv");
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(bytes.as_slice());
    let header: Vec<String> = rdr
        .byte_headers()
        .expect("oracle: cdrs.csv header")
        .iter()
        .map(|h| String::from_utf8(h.to_vec()).expect("oracle: header is UTF-8"))
        .collect();
    let col = |name: &str| {
        header.iter().position(|h| h == name).unwrap_or_else(|| panic!("oracle: cdrs.csv has no {name}"))
    };

    let mut lines = LineCounter { bytes: &bytes, pos: 0, newlines: 0 };
    let mut exp = Expected::default();
    let mut seen: HashSet<String> = HashSet::new();
    // U: (IMSI, SERVICE, MONTH) -> units of the earlier MO CDRs that passed REG.
    let mut usage: HashMap<(String, String, String), i64> = HashMap::new();
    let mut balances: HashMap<&str, i64> =
        subscribers.iter().map(|s| (s.number.as_str(), s.balance)).collect();

    for record in rdr.byte_records() {
        let record = record.expect("oracle: cdrs.csv record");
        exp.data_rows += 1;
        let line = lines.line_of(record.position().expect("position").byte());

        let utf8: Option<Vec<&str>> = record.iter().map(|f| std::str::from_utf8(f).ok()).collect();
        let cdr = match &utf8 {
            Some(fields) if fields.len() == header.len() => match parse_row(fields, &col) {
                Ok(cdr) => {
                    if !seen.insert(cdr.event_id.to_string()) {
                        Err((Some(cdr.event_id), "duplicate"))
                    } else if !by_imsi.contains_key(cdr.imsi) {
                        Err((Some(cdr.event_id), "unknown_imsi"))
                    } else {
                        Ok(cdr)
                    }
                }
                Err(rejection) => Err(rejection),
            },
            // Wrong field count or not UTF-8: parse, with a NULL event_id.
            _ => Err((None, "parse")),
        };
        let cdr = match cdr {
            Ok(cdr) => cdr,
            Err((event_id, reason)) => {
                *exp.reasons.entry(reason).or_default() += 1;
                exp.rejected.push(vec![Cell::Int(line), event_id.map_or(Cell::Null, text), text(reason)]);
                continue;
            }
        };

        // RATE.
        let sub = by_imsi[cdr.imsi];
        exp.offers.insert(sub.offer.clone());
        let units = match cdr.service {
            "VOICE" => ceil_div(cdr.duration, 60),
            "SMS" => 1,
            _ => ceil_div(cdr.duration, 1024),
        };
        let month = cdr.start.strftime("%Y-%m").to_string();
        exp.months.insert(month.clone());
        let key = (cdr.imsi.to_string(), cdr.service.to_string(), month.clone());
        let u = usage.get(&key).copied().unwrap_or(0);
        if cdr.action == "MO" {
            usage.insert(key, u.saturating_add(units));
        }

        let voice_or_sms = cdr.service != "DATA";
        let amount = if cdr.action == "MT" {
            exp.mt += 1;
            Some(0)
        } else {
            let rate = if sub.offer == "RANGED" {
                tiers
                    .iter()
                    .find(|t| t.service == cdr.service && t.low <= u && t.high.is_none_or(|h| u < h))
                    .unwrap_or_else(|| panic!("oracle: no tier for {} U={u}", cdr.service))
                    .rate
            } else {
                tariffs[&(sub.offer.clone(), cdr.service.to_string())]
            };
            let international = voice_or_sms && !cdr.party.starts_with(DOMESTIC_PREFIX);
            if international {
                exp.international += 1;
            }
            let base =
                units.checked_mul(rate).and_then(|b| if international { b.checked_mul(3) } else { Some(b) });
            base.map(|base| {
                let wife = sub.offer == "FAMILY"
                    && voice_or_sms
                    && !sub.family.is_empty()
                    && family.contains(&(sub.family.clone(), cdr.party.to_string()));
                let vpn = sub.offer == "VPN"
                    && voice_or_sms
                    && !sub.vpn.is_empty()
                    && by_number.get(cdr.party).is_some_and(|o| o.imsi != sub.imsi && o.vpn == sub.vpn);
                if wife {
                    exp.wife += 1;
                    0
                } else if vpn {
                    exp.vpn_half += 1;
                    base / 2
                } else {
                    base
                }
            })
        };
        let Some(amount) = amount else {
            exp.quarantine.push(vec![Cell::Int(line), text(cdr.event_id), text("amount overflow")]);
            continue;
        };

        // DIS.
        let balance = balances.get_mut(sub.number.as_str()).unwrap();
        *balance =
            balance.checked_sub(amount).expect("oracle: balance overflow (not pinned by docs/rating.md)");
        exp.persistent.push(vec![
            text(cdr.event_id),
            text(cdr.imsi),
            text(&sub.number),
            text(cdr.service),
            text(cdr.action),
            text(&cdr.start.to_string()),
            Cell::Int(units),
            Cell::Int(amount),
        ]);
        exp.archive.push(vec![text(cdr.event_id), text(&month), text(&sub.number), Cell::Int(amount)]);
    }

    let mut balances: Vec<(&str, i64)> = balances.into_iter().collect();
    balances.sort();
    exp.balances = balances.into_iter().map(|(s, b)| vec![text(s), Cell::Int(b)]).collect();
    let by_text_key = |a: &Vec<Cell>, b: &Vec<Cell>| match (&a[0], &b[0]) {
        (Cell::Text(x), Cell::Text(y)) => x.cmp(y),
        _ => unreachable!(),
    };
    exp.persistent.sort_by(by_text_key);
    exp.archive.sort_by(by_text_key);
    // rejected and quarantine were pushed in line order already.
    exp
}

/// Rows of each output table in the real database.
fn table_counts(db: &Path) -> [usize; 3] {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open database");
    ["persistent", "rejected", "quarantine"].map(|t| {
        conn.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get::<_, i64>(0))
            .map(|n| usize::try_from(n).unwrap())
            .expect("count")
    })
}

/// The lines of two dumps that the other lacks, under their section's query, at most 20 each.
fn difference(actual: &str, expected: &str) -> String {
    fn lines(dump: &str) -> Vec<(&str, &str)> {
        let mut section = "";
        let mut out = Vec::new();
        for line in dump.lines() {
            match line.strip_prefix("== ") {
                // The table's name: the word after FROM.
                Some(sql) => {
                    section =
                        sql.split(" FROM ").nth(1).and_then(|rest| rest.split(' ').next()).unwrap_or(sql)
                }
                None => out.push((section, line)),
            }
        }
        out
    }
    let (a, e) = (lines(actual), lines(expected));
    let (a_set, e_set): (HashSet<_>, HashSet<_>) = (a.iter().collect(), e.iter().collect());
    let mut out = String::new();
    for (label, rows, other) in [("engine only", &a, &e_set), ("oracle only", &e, &a_set)] {
        let only: Vec<_> = rows.iter().filter(|r| !other.contains(r)).collect();
        out.push_str(&format!("{label}: {} rows\n", only.len()));
        for (table, row) in only.iter().take(20) {
            out.push_str(&format!("  {table}: {row}\n"));
        }
    }
    out
}

/// Generate an input, rate it with the real binary, compare with the oracle.
fn check(seed: u64, cdrs: usize, subscribers: usize, bad_rate: f64, segments: &[usize]) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let input = tmp.path().join("in");
    common::gen_input(&input, cdrs, subscribers, seed, bad_rate);
    let expected = oracle(&input);
    assert_eq!(expected.data_rows, cdrs, "gen --cdrs {cdrs} wrote {} data rows", expected.data_rows);
    let expected_text = expected.render();
    for &n in segments {
        let db = tmp.path().join(format!("seg{n}.db"));
        common::run(&input, &db, n);
        let actual = common::dump_db(&db);
        assert!(
            actual == expected_text,
            "engine != oracle: seed {seed}, {cdrs} CDRs, {subscribers} subscribers, bad rate \
             {bad_rate}, {n} segments\n{}",
            difference(&actual, &expected_text)
        );
        // Conservation: every data row is in exactly one of persistent, rejected, quarantine.
        let [p, r, q] = table_counts(&db);
        assert_eq!(
            p + r + q,
            expected.data_rows,
            "conservation: persistent {p} + rejected {r} + quarantine {q} != data rows {}",
            expected.data_rows
        );
    }
}

#[test]
fn fixed_seed_matches_oracle_with_1_and_3_segments() {
    check(20_260_223, 5000, 300, 0.05, &[1, 3]);
}

/// The generator promises (SPEC §8) inputs that exercise every rule; without that the
/// comparison above would prove little.
#[test]
fn generator_exercises_every_rule() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let input = tmp.path().join("in");
    common::gen_input(&input, 5000, 300, 20_260_223, 0.05);
    let exp = oracle(&input);
    for reason in ["parse", "invalid", "duplicate", "unknown_imsi"] {
        assert!(
            exp.reasons.get(reason).copied().unwrap_or(0) > 0,
            "no `{reason}` rejection in 5000 CDRs at bad rate 0.05: {:?}",
            exp.reasons
        );
    }
    for offer in ["FLAT", "FAMILY", "VPN", "RANGED"] {
        assert!(exp.offers.contains(offer), "no rated CDR of a {offer} subscriber");
    }
    assert!(exp.months.len() >= 2, "CDRs span {:?}, fewer than two months", exp.months);
    assert!(exp.mt > 0, "no MT CDR");
    assert!(exp.international > 0, "no international party");
    assert!(exp.wife > 0, "no family (WIFE) call");
    assert!(exp.vpn_half > 0, "no VPN call at half price");

    // Same arguments, same bytes.
    let again = tmp.path().join("again");
    common::gen_input(&again, 5000, 300, 20_260_223, 0.05);
    for f in ["cdrs.csv", "subscribers.csv", "family.csv", "tariffs.csv", "tiers.csv"] {
        assert!(
            std::fs::read(input.join(f)).unwrap() == std::fs::read(again.join(f)).unwrap(),
            "gen is not deterministic: {f} differs"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 16,
        // No regression files written into tests/; a failure prints its inputs instead.
        failure_persistence: None,
        max_shrink_iters: 24,
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_matches_oracle(
        seed in any::<u64>(),
        cdrs in 50usize..3000,
        subscribers in 5usize..200,
        bad_rate in 0.0f64..0.2,
        segments in 1usize..=4,
    ) {
        check(seed, cdrs, subscribers, bad_rate, &[segments]);
    }
}
