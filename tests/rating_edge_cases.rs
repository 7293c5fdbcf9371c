//! Hand-written tiny inputs, one rule of SPEC §8 / docs/rating.md at a time, rated by the real
//! binary with 1 and 3 segments. Every expected row is worked out from the rules in a comment.

mod common;

use std::path::{Path, PathBuf};

use tempfile::TempDir;

// Subscribers (IMSI constants) of the standard `subscribers.csv` below.
const FLAT: &str = "425010000000001"; // +972500000001, FLAT
const FAM: &str = "425010000000002"; // +972500000002, FAMILY, family F1
const VPN_A: &str = "425010000000003"; // +972500000003, VPN, ACME
const VPN_B: &str = "425010000000004"; // +972500000004, VPN, ACME
const RANGED: &str = "425010000000005"; // +972500000005, RANGED
const RANGED_2: &str = "425010000000009"; // +972500000009, RANGED
const FLAT_ACME: &str = "425010000000007"; // +972500000007, FLAT, VPN_NAME ACME
const VPN_NONE: &str = "425010000000010"; // +972500000010, VPN, empty VPN_NAME
const FAM_NONE: &str = "425010000000011"; // +972500000011, FAMILY, empty FAMILY
const UNKNOWN: &str = "999990000000000";

const SUBSCRIBERS: &str = "\
IMSI,SUBSCRIBER,OFFER_TYPE,FAMILY,VPN_NAME,BALANCE
425010000000001,+972500000001,FLAT,,,10000
425010000000002,+972500000002,FAMILY,F1,,10000
425010000000003,+972500000003,VPN,,ACME,10000
425010000000004,+972500000004,VPN,,ACME,10000
425010000000005,+972500000005,RANGED,,,10000
425010000000006,+972500000006,FLAT,,OTHER,-500
425010000000007,+972500000007,FLAT,,ACME,10000
425010000000008,+447700000008,FLAT,,ACME,10000
425010000000009,+972500000009,RANGED,,,10000
425010000000010,+972500000010,VPN,,,10000
425010000000011,+972500000011,FAMILY,,,10000
";

/// F1 is FAM's family; F2 is another family; the last row has an empty FAMILY.
const FAMILY: &str = "\
FAMILY,PARTY,NAME
F1,+972541111111,Zoë
F1,+972542222222,\"שרה \"\"Sara\"\", Jr.\"
F1,+447911111111,Łucja
F2,+972543333333,José
,+972548888888,Nobody
";

/// RANGED has no UNIT_RATE: it is priced by tiers only.
const TARIFFS: &str = "\
OFFER_TYPE,SERVICE,UNIT_RATE
FLAT,VOICE,10
FLAT,SMS,5
FLAT,DATA,2
FAMILY,VOICE,12
FAMILY,SMS,6
FAMILY,DATA,3
VPN,VOICE,15
VPN,SMS,7
VPN,DATA,4
";

/// VOICE [0,10) 7, [10,20) 5, [20,∞) 3; SMS [0,∞) 4; DATA [0,100) 2, [100,∞) 1 (not sorted).
const TIERS: &str = "\
SERVICE,TIER_LEVEL,TIER_LOW,TIER_HIGH,TIER_RATE
VOICE,3,20,,3
VOICE,1,0,10,7
VOICE,2,10,20,5
SMS,1,0,,4
DATA,2,100,,1
DATA,1,0,100,2
";

const CDR_HEADER: &str =
    "EVENT_ID,SESSION_ID,DEVICE_ID,IMSI,SERVICE,ACTION,START_TIME,END_TIME,PARTY,DURATION";
const T0: &str = "2026-02-10T10:00:00Z";
const T1: &str = "2026-02-10T10:05:00Z";
const DOMESTIC: &str = "+972541234567";
const ABROAD: &str = "+441234567890";

/// One CDR row: SESSION_ID and DEVICE_ID are fixed, START_TIME and END_TIME are `T0` and `T1`
/// (February 2026) unless `at` says otherwise.
struct Cdr {
    fields: [String; 6],
    start: String,
    end: String,
}

/// A CDR: EVENT_ID, IMSI, SERVICE, ACTION, PARTY, DURATION.
fn c(id: &str, imsi: &str, service: &str, action: &str, party: &str, duration: &str) -> Cdr {
    Cdr {
        fields: [id, imsi, service, action, party, duration].map(str::to_string),
        start: T0.to_string(),
        end: T1.to_string(),
    }
}

impl Cdr {
    fn at(self, start: &str, end: &str) -> Cdr {
        Cdr { start: start.to_string(), end: end.to_string(), ..self }
    }
}

impl std::fmt::Display for Cdr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [id, imsi, service, action, party, duration] = &self.fields;
        let (start, end) = (&self.start, &self.end);
        write!(f, "{id},S1,D1,{imsi},{service},{action},{start},{end},{party},{duration}")
    }
}

/// `cdrs.csv` text: the header and these lines, LF line ends.
fn cdrs<S: std::fmt::Display>(lines: &[S]) -> String {
    let mut out = format!("{CDR_HEADER}\n");
    for l in lines {
        out.push_str(&format!("{l}\n"));
    }
    out
}

/// An input directory: the standard reference files (some replaced) and the given `cdrs.csv`.
struct Input {
    tmp: TempDir,
}

impl Input {
    fn new(cdrs: impl AsRef<[u8]>) -> Input {
        Input::with(cdrs, &[])
    }

    fn with(cdrs: impl AsRef<[u8]>, replaced: &[(&str, &str)]) -> Input {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("in");
        std::fs::create_dir(&dir).unwrap();
        for (name, text) in [
            ("subscribers.csv", SUBSCRIBERS),
            ("family.csv", FAMILY),
            ("tariffs.csv", TARIFFS),
            ("tiers.csv", TIERS),
        ] {
            let text = replaced.iter().find(|(n, _)| *n == name).map_or(text, |(_, t)| t);
            std::fs::write(dir.join(name), text).unwrap();
        }
        std::fs::write(dir.join("cdrs.csv"), cdrs).unwrap();
        Input { tmp }
    }

    fn dir(&self) -> PathBuf {
        self.tmp.path().join("in")
    }

    /// Rate with 1 and with 3 segments; the two databases must have the same content.
    fn rate(&self) -> Vec<PathBuf> {
        let dbs: Vec<PathBuf> = [1, 3]
            .iter()
            .map(|&n| {
                let db = self.tmp.path().join(format!("seg{n}.db"));
                common::run(&self.dir(), &db, n);
                db
            })
            .collect();
        assert_eq!(
            common::dump_db(&dbs[0]),
            common::dump_db(&dbs[1]),
            "1 segment (left) != 3 segments (right)"
        );
        dbs
    }
}

/// The rows of a query, one string a row: cells joined by `|`, text as is, NULL as `NULL`.
fn rows(db: &Path, sql: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open database");
    let mut stmt = conn.prepare(sql).expect("prepare");
    let n = stmt.column_count();
    let mut rows = stmt.query([]).expect("query");
    let mut out = Vec::new();
    while let Some(row) = rows.next().expect("row") {
        let cells: Vec<String> = (0..n)
            .map(|i| match row.get_ref(i).expect("cell") {
                rusqlite::types::ValueRef::Null => "NULL".to_string(),
                rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                rusqlite::types::ValueRef::Real(v) => format!("{v}(real)"),
                rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                rusqlite::types::ValueRef::Blob(b) => format!("{b:?}(blob)"),
            })
            .collect();
        out.push(cells.join("|"));
    }
    out
}

/// `event_id|units|amount` of every persistent row.
fn charged(db: &Path) -> Vec<String> {
    rows(db, "SELECT event_id, units, amount FROM persistent ORDER BY event_id")
}

fn rejected(db: &Path) -> Vec<String> {
    rows(db, "SELECT line, event_id, reason FROM rejected ORDER BY line")
}

fn quarantined(db: &Path) -> Vec<String> {
    rows(db, "SELECT line, event_id, error FROM quarantine ORDER BY line")
}

fn balance(db: &Path, subscriber: &str) -> i64 {
    let all = rows(db, &format!("SELECT balance FROM balances WHERE subscriber = '{subscriber}'"));
    assert_eq!(all.len(), 1, "balances of {subscriber}: {all:?}");
    all[0].parse().unwrap()
}

#[test]
fn crlf_line_ends_in_every_file() {
    let crlf = |s: &str| s.replace('\n', "\r\n");
    let text = crlf(&cdrs(&[
        // line 2: ceil(61/60) = 2 units × FLAT VOICE 10 = 20
        c("C1", FLAT, "VOICE", "MO", DOMESTIC, "61"),
        // line 3: SMS 1 unit × 5 = 5
        c("C2", FLAT, "SMS", "MO", DOMESTIC, "1"),
        // line 4: DATA ceil(1024/1024) = 1 unit × 2 = 2
        c("C3", FLAT, "DATA", "MO", "", "1024"),
        // line 5: DURATION "6O" is not an integer -> parse
        c("C4", FLAT, "VOICE", "MO", DOMESTIC, "6O"),
        // line 6: FAM calls F1's +972541111111 -> WIFE, 0
        c("C5", FAM, "VOICE", "MO", "+972541111111", "60"),
    ]));
    let text = text.strip_suffix("\r\n").unwrap(); // and no line end after the last row
    let input = Input::with(
        text,
        &[
            ("subscribers.csv", &crlf(SUBSCRIBERS)),
            ("family.csv", &crlf(FAMILY)),
            ("tariffs.csv", &crlf(TARIFFS)),
            ("tiers.csv", &crlf(TIERS)),
        ],
    );
    for db in input.rate() {
        assert_eq!(charged(&db), ["C1|2|20", "C2|1|5", "C3|1|2", "C5|1|0"]);
        // The physical line (SPEC §8: "line number in cdrs.csv"); the csv crate's
        // `Position::line()` says 4 here, one short for every CRLF before the row.
        assert_eq!(rejected(&db), ["5|C4|parse"]);
        assert!(quarantined(&db).is_empty());
        // Every subscriber has a balance, charged or not; FLAT paid 20 + 5 + 2.
        assert_eq!(
            rows(&db, "SELECT subscriber, balance FROM balances ORDER BY subscriber"),
            [
                "+447700000008|10000",
                "+972500000001|9973",
                "+972500000002|10000",
                "+972500000003|10000",
                "+972500000004|10000",
                "+972500000005|10000",
                "+972500000006|-500",
                "+972500000007|10000",
                "+972500000009|10000",
                "+972500000010|10000",
                "+972500000011|10000",
            ]
        );
    }
}

#[test]
fn blank_lines_are_not_rows_but_count_as_lines() {
    let text = cdrs(&[
        // line 2: 1 × 10
        c("B1", FLAT, "VOICE", "MO", DOMESTIC, "60").to_string(),
        // line 3: blank
        String::new(),
        // line 4: parse
        c("B2", FLAT, "VOICE", "MO", DOMESTIC, "x").to_string(),
        // lines 5-6: blank
        String::new(),
        String::new(),
        // line 7: parse
        c("B3", FLAT, "VOICE", "MO", DOMESTIC, "y").to_string(),
        // line 8: 1 × 10
        c("B4", FLAT, "VOICE", "MO", DOMESTIC, "60").to_string(),
        // line 9: blank, at the end
        String::new(),
    ]);
    let input = Input::new(text);
    for db in input.rate() {
        assert_eq!(charged(&db), ["B1|1|10", "B4|1|10"]);
        // Physical lines; the csv crate's `Position::line()` says 3 and 5 (it does not count
        // a skipped blank line before the position it reports).
        assert_eq!(rejected(&db), ["4|B2|parse", "7|B3|parse"]);
    }
}

#[test]
fn quoted_fields_with_commas_quotes_and_newlines() {
    let input = Input::new(format!(
        "{CDR_HEADER}\n\
         \"Q,1\",S1,D1,{FLAT},VOICE,MO,{T0},{T1},\"{DOMESTIC}\",60\n\
         \"Q\"\"2\",\"sess \"\"x\"\", y\",D1,\"{FLAT}\",\"SMS\",\"MO\",\"{T0}\",\"{T1}\",\"+44 20, ext\",\"1\"\n\
         Q3,\"multi\nline session\",D1,{FLAT},VOICE,MO,{T0},{T1},{DOMESTIC},120\n\
         Q4,S1,D1,{FLAT},VOICE,MO,{T0},{T1},{DOMESTIC},\"6,0\"\n\
         \"\",S1,D1,{FLAT},VOICE,MO,{T0},{T1},{DOMESTIC},x\n"
    ));
    for db in input.rate() {
        // line 2: `Q,1` 1 unit × 10; line 3: `Q"2` SMS to "+44 20, ext" (international)
        // 1 × 5 × 3 = 15; lines 4-5: Q3, 2 units × 10 = 20 (quoted newline in SESSION_ID).
        assert_eq!(charged(&db), ["Q\"2|1|15", "Q,1|1|10", "Q3|2|20"]);
        assert_eq!(
            rows(&db, "SELECT event_id, imsi FROM persistent ORDER BY event_id"),
            [format!("Q\"2|{FLAT}"), format!("Q,1|{FLAT}"), format!("Q3|{FLAT}")]
        );
        // line 6: DURATION "6,0" -> parse; line 7: empty EVENT_ID -> NULL.
        assert_eq!(rejected(&db), ["6|Q4|parse", "7|NULL|parse"]);
        assert_eq!(rows(&db, "SELECT event_id FROM archive ORDER BY event_id"), ["Q\"2", "Q,1", "Q3"]);
    }
}

#[test]
fn family_members_with_utf8_names_talk_for_free() {
    let input = Input::new(cdrs(&[
        // F1 members: WIFE, amount 0 (VOICE 2 units, SMS, international member too).
        c("W1", FAM, "VOICE", "MO", "+972541111111", "120"),
        c("W2", FAM, "SMS", "MO", "+972542222222", "1"),
        c("W3", FAM, "VOICE", "MO", "+447911111111", "60"),
        // F2's member is not FAM's family: 1 × 12.
        c("W4", FAM, "VOICE", "MO", "+972543333333", "60"),
        // DATA never goes through WIFE: ceil(2048/1024) = 2 × 3 = 6.
        c("W5", FAM, "DATA", "MO", "+972541111111", "2048"),
        // A FLAT subscriber calling F1's member pays: 1 × 10.
        c("W6", FLAT, "VOICE", "MO", "+972541111111", "60"),
        // MT: 0.
        c("W7", FAM, "VOICE", "MT", "+972543333333", "60"),
        // Not a family member: SMS 1 × 6.
        c("W8", FAM, "SMS", "MO", "+972549999999", "1"),
        // FAMILY offer with an empty FAMILY; family.csv's row with an empty FAMILY does not
        // match it: 1 × 12.
        c("W9", FAM_NONE, "VOICE", "MO", "+972548888888", "60"),
    ]));
    for db in input.rate() {
        assert_eq!(
            charged(&db),
            ["W1|2|0", "W2|1|0", "W3|1|0", "W4|1|12", "W5|2|6", "W6|1|10", "W7|1|0", "W8|1|6", "W9|1|12"]
        );
        assert!(rejected(&db).is_empty());
        assert_eq!(balance(&db, "+972500000002"), 10000 - 12 - 6 - 6);
        assert_eq!(balance(&db, "+972500000001"), 10000 - 10);
        assert_eq!(balance(&db, "+972500000011"), 10000 - 12);
        // WIFE_NAME never reaches PERSISTENT.
        let columns = rows(&db, "SELECT lower(name) FROM pragma_table_info('persistent')");
        assert!(!columns.iter().any(|c| c.contains("wife")), "persistent has {columns:?}");
    }
}

#[test]
fn month_is_the_utc_month_of_start_time() {
    let input = Input::new(cdrs(&[
        // line 2: RANGED VOICE 10 units, U = 0 -> tier 1 (7): 70; February.
        c("M1", RANGED, "VOICE", "MO", DOMESTIC, "600").at("2026-02-27T10:00:00Z", "2026-02-27T10:10:00Z"),
        // line 3: local March 1st, UTC 2026-02-28T22:00:00Z: February, U = 10 -> tier 2 (5).
        c("M2", RANGED, "VOICE", "MO", DOMESTIC, "60")
            .at("2026-03-01T01:00:00+03:00", "2026-03-01T01:01:00+03:00"),
        // line 4: March in UTC: U = 0 -> 7.
        c("M3", RANGED, "VOICE", "MO", DOMESTIC, "60").at("2026-03-01T00:30:00Z", "2026-03-01T00:31:00Z"),
        // line 5: local February 28th, UTC 2026-03-01T01:30:00Z: March, U = 1 -> 7.
        c("M4", RANGED, "VOICE", "MO", DOMESTIC, "60")
            .at("2026-02-28T23:30:00-02:00", "2026-02-28T23:31:00-02:00"),
    ]));
    for db in input.rate() {
        assert_eq!(
            rows(&db, "SELECT event_id, start_time, units, amount FROM persistent ORDER BY event_id"),
            [
                "M1|2026-02-27T10:00:00Z|10|70",
                "M2|2026-02-28T22:00:00Z|1|5",
                "M3|2026-03-01T00:30:00Z|1|7",
                "M4|2026-03-01T01:30:00Z|1|7",
            ]
        );
        assert_eq!(
            rows(&db, "SELECT event_id, month, subscriber, amount FROM archive ORDER BY event_id"),
            [
                "M1|2026-02|+972500000005|70",
                "M2|2026-02|+972500000005|5",
                "M3|2026-03|+972500000005|7",
                "M4|2026-03|+972500000005|7",
            ]
        );
    }
}

#[test]
fn start_time_keeps_fractional_seconds_only_when_non_zero() {
    let input = Input::new(cdrs(&[
        c("F1", FLAT, "VOICE", "MO", DOMESTIC, "60").at("2026-02-10T10:00:00.5Z", "2026-02-10T10:00:01Z"),
        c("F2", FLAT, "VOICE", "MO", DOMESTIC, "60").at("2026-02-10T10:00:00.000Z", T1),
        c("F3", FLAT, "VOICE", "MO", DOMESTIC, "60")
            .at("2026-02-10T10:00:00.123456789+01:00", "2026-02-10T09:00:01Z"),
        c("F4", FLAT, "VOICE", "MO", DOMESTIC, "60").at("2026-02-10T10:00:00.120Z", T1),
        // line 6: END 0.1 s before START -> invalid.
        c("F5", FLAT, "VOICE", "MO", DOMESTIC, "60").at("2026-02-10T10:00:00.5Z", "2026-02-10T10:00:00.4Z"),
        // END equal to START is not before it.
        c("F6", FLAT, "VOICE", "MO", DOMESTIC, "60").at("2026-02-10T10:00:00.5Z", "2026-02-10T10:00:00.500Z"),
    ]));
    for db in input.rate() {
        assert_eq!(
            rows(&db, "SELECT event_id, start_time FROM persistent ORDER BY event_id"),
            [
                "F1|2026-02-10T10:00:00.5Z",
                "F2|2026-02-10T10:00:00Z",
                "F3|2026-02-10T09:00:00.123456789Z",
                "F4|2026-02-10T10:00:00.12Z",
                "F6|2026-02-10T10:00:00.5Z",
            ]
        );
        assert_eq!(rejected(&db), ["6|F5|invalid"]);
    }
}

#[test]
fn parse_rules_for_times_words_and_integers() {
    let input = Input::new(cdrs(&[
        // lines 2-12 -> parse, each keeping its EVENT_ID.
        c("P1", FLAT, "VOICE", "MO", DOMESTIC, "60").at("2026-02-30T10:00:00Z", T1),
        c("P2", FLAT, "VOICE", "MO", DOMESTIC, "60").at(T0, "2026-02-30T10:00:00Z"),
        c("P3", FLAT, "VOICE", "MO", DOMESTIC, "60").at("2026-02-10T10:00:00", T1), // no offset
        c("P4", FLAT, "VOICE", "MO", DOMESTIC, "60").at("2026-02-10T25:00:00Z", T1),
        c("P5", FLAT, "voice", "MO", DOMESTIC, "60"),
        c("P6", FLAT, "VOICE", "MO ", DOMESTIC, "60"),
        c("P7", FLAT, "VOICE", "MO", DOMESTIC, " 60"),
        c("P8", FLAT, "VOICE", "MO", DOMESTIC, "1.5"),
        c("P9", FLAT, "VOICE", "MO", DOMESTIC, "9223372036854775808"),
        c("P10", FLAT, "FAX", "MO", DOMESTIC, "-5"), // parse before invalid
        c("P11", UNKNOWN, "VOICE", "MX", DOMESTIC, "60"),
        // line 13: Rust's i64 parse takes "+60": 1 unit × 10.
        c("P12", FLAT, "VOICE", "MO", DOMESTIC, "+60"),
        // line 14: a leap day exists in 2028; month 2028-02.
        c("P13", FLAT, "VOICE", "MO", DOMESTIC, "60").at("2028-02-29T10:00:00Z", "2028-02-29T10:01:00Z"),
        // line 15: "-0" is 0, not negative: 0 units, 0.
        c("P14", FLAT, "VOICE", "MO", DOMESTIC, "-0"),
    ]));
    for db in input.rate() {
        let expected: Vec<String> = (1..=11).map(|i| format!("{}|P{i}|parse", i + 1)).collect();
        assert_eq!(rejected(&db), expected);
        assert_eq!(charged(&db), ["P12|1|10", "P13|1|10", "P14|0|0"]);
        assert_eq!(rows(&db, "SELECT month FROM archive WHERE event_id = 'P13'"), ["2028-02"]);
    }
}

#[test]
fn invalid_when_end_before_start_or_negative_duration() {
    let input = Input::new(cdrs(&[
        // line 2: END before START.
        c("I1", FLAT, "VOICE", "MO", DOMESTIC, "60").at(T1, T0),
        // line 3: negative DURATION.
        c("I2", FLAT, "VOICE", "MO", DOMESTIC, "-1"),
        // line 4: compared as instants: START 08:00Z, END 09:00Z -> accepted.
        c("I3", FLAT, "VOICE", "MO", DOMESTIC, "60").at("2026-02-10T10:00:00+02:00", "2026-02-10T09:00:00Z"),
        // line 5: START 10:00Z, END 09:00Z -> invalid.
        c("I4", FLAT, "VOICE", "MO", DOMESTIC, "60").at("2026-02-10T10:00:00Z", "2026-02-10T11:00:00+02:00"),
        // line 6: END == START -> accepted.
        c("I5", FLAT, "VOICE", "MO", DOMESTIC, "60").at(T0, T0),
        // line 7: invalid comes before unknown_imsi.
        c("I6", UNKNOWN, "VOICE", "MO", DOMESTIC, "-60"),
        // line 8: the smallest i64.
        c("I7", FLAT, "VOICE", "MO", DOMESTIC, "-9223372036854775808"),
    ]));
    for db in input.rate() {
        assert_eq!(
            rejected(&db),
            ["2|I1|invalid", "3|I2|invalid", "5|I4|invalid", "7|I6|invalid", "8|I7|invalid"]
        );
        assert_eq!(
            rows(&db, "SELECT event_id, start_time, units, amount FROM persistent ORDER BY event_id"),
            ["I3|2026-02-10T08:00:00Z|1|10", "I5|2026-02-10T10:00:00Z|1|10"]
        );
    }
}

#[test]
fn duplicate_only_after_a_row_that_passed_parse_and_invalid() {
    let input = Input::new(cdrs(&[
        // line 2: D1 fails parse: it does not make later D1 rows duplicates.
        c("D1", FLAT, "VOICE", "MO", DOMESTIC, "60").at("yesterday", T1),
        // line 3: D1 accepted: 1 unit × 10.
        c("D1", FLAT, "VOICE", "MO", DOMESTIC, "60"),
        // line 4: D1 again -> duplicate (its 120 s are never charged).
        c("D1", FLAT, "VOICE", "MO", DOMESTIC, "120"),
        // line 5: D2 invalid; line 6: D2 accepted.
        c("D2", FLAT, "VOICE", "MO", DOMESTIC, "-1"),
        c("D2", FLAT, "VOICE", "MO", DOMESTIC, "60"),
        // line 7: D3 unknown_imsi passed checks 1 and 2: line 8 is a duplicate.
        c("D3", UNKNOWN, "VOICE", "MO", DOMESTIC, "60"),
        c("D3", FLAT, "VOICE", "MO", DOMESTIC, "60"),
        // line 9: parse wins over duplicate; line 10: invalid wins over duplicate.
        c("D1", FLAT, "X", "MO", DOMESTIC, "60"),
        c("D1", FLAT, "VOICE", "MO", DOMESTIC, "60").at(T1, T0),
        // line 11: duplicate wins over unknown_imsi; line 12: MT is a duplicate too.
        c("D1", UNKNOWN, "VOICE", "MO", DOMESTIC, "60"),
        c("D1", FLAT, "VOICE", "MT", DOMESTIC, "60"),
        // line 13: "D1 " is another id (nothing is trimmed): 3 units × 10.
        c("D1 ", FLAT, "VOICE", "MO", DOMESTIC, "180"),
    ]));
    for db in input.rate() {
        assert_eq!(
            rejected(&db),
            [
                "2|D1|parse",
                "4|D1|duplicate",
                "5|D2|invalid",
                "7|D3|unknown_imsi",
                "8|D3|duplicate",
                "9|D1|parse",
                "10|D1|invalid",
                "11|D1|duplicate",
                "12|D1|duplicate",
            ]
        );
        assert_eq!(charged(&db), ["D1|1|10", "D1 |3|30", "D2|1|10"]);
        assert_eq!(balance(&db, "+972500000001"), 10000 - 10 - 30 - 10);
    }
}

#[test]
fn unknown_imsi_is_rejected_and_never_charged() {
    let input = Input::new(cdrs(&[
        c("U1", UNKNOWN, "VOICE", "MO", DOMESTIC, "60"),
        c("U2", &format!("{FLAT} "), "VOICE", "MO", DOMESTIC, "60"),
        c("U3", "", "VOICE", "MO", DOMESTIC, "60"),
        c("U4", &format!(" {FLAT}"), "VOICE", "MO", DOMESTIC, "60"),
        // Empty EVENT_ID -> NULL.
        c("", UNKNOWN, "VOICE", "MO", DOMESTIC, "60"),
    ]));
    for db in input.rate() {
        assert_eq!(
            rejected(&db),
            [
                "2|U1|unknown_imsi",
                "3|U2|unknown_imsi",
                "4|U3|unknown_imsi",
                "5|U4|unknown_imsi",
                "6|NULL|unknown_imsi"
            ]
        );
        assert!(charged(&db).is_empty());
        assert_eq!(balance(&db, "+972500000001"), 10000);
    }
}

#[test]
fn a_quote_that_never_closes_rejects_its_own_line_only() {
    let ok = |id: &str| c(id, FLAT, "VOICE", "MO", DOMESTIC, "60").to_string();
    for end in ["\n", "\r\n"] {
        // line 3 opens a quote in its first field, line 7 (after a blank line 6) in its last;
        // neither closes. Before, each took every line after it into one rejected row.
        let lines = [
            CDR_HEADER.to_string(),
            ok("A1"),
            format!("\"U1,S1,D1,{FLAT},VOICE,MO,{T0},{T1},{DOMESTIC},60"),
            ok("A2"),
            ok("A3"),
            String::new(),
            format!("A4,S1,D1,{FLAT},VOICE,MO,{T0},{T1},{DOMESTIC},\"60"),
            ok("A5"),
        ];
        let input = Input::new(lines.join(end) + end);
        for db in input.rate() {
            assert_eq!(rejected(&db), ["3|NULL|parse", "7|NULL|parse"], "{end:?}");
            assert_eq!(charged(&db), ["A1|1|10", "A2|1|10", "A3|1|10", "A5|1|10"], "{end:?}");
        }
    }
}

#[test]
fn wrong_field_count_or_bad_bytes_is_parse_with_null_event_id() {
    let ok = c("X4", FLAT, "VOICE", "MO", DOMESTIC, "60");
    let mut text = format!("{CDR_HEADER}\n").into_bytes();
    // line 2: 9 fields; line 3: 11 fields.
    text.extend(format!("X1,S1,D1,{FLAT},VOICE,MO,{T0},{T1},60\n").bytes());
    text.extend(format!("X2,{ok}\n").bytes());
    // line 4: PARTY is not UTF-8.
    text.extend(format!("X3,S1,D1,{FLAT},VOICE,MO,{T0},{T1},+972").bytes());
    text.extend(b"\xff54,60\n");
    // line 5: fine: 1 × 10.
    text.extend(format!("{ok}\n").bytes());
    // line 6: a single field.
    text.extend(b"X5\n");
    // line 7: EVENT_ID is not UTF-8.
    text.extend(b"X6\xfe");
    text.extend(format!(",S1,D1,{FLAT},VOICE,MO,{T0},{T1},{DOMESTIC},60\n").bytes());
    let input = Input::new(text);
    for db in input.rate() {
        assert_eq!(
            rejected(&db),
            ["2|NULL|parse", "3|NULL|parse", "4|NULL|parse", "6|NULL|parse", "7|NULL|parse"]
        );
        assert_eq!(charged(&db), ["X4|1|10"]);
    }
}

#[test]
fn mt_costs_nothing_but_has_units() {
    let input = Input::new(cdrs(&[
        c("T1", FLAT, "VOICE", "MT", DOMESTIC, "600"),
        c("T2", FLAT, "VOICE", "MT", ABROAD, "600"),
        c("T3", FLAT, "DATA", "MT", "", "2048"),
        c("T4", VPN_A, "VOICE", "MT", "+972500000004", "60"),
        c("T5", FAM, "SMS", "MT", "+972541111111", "60"),
        // Control: MO SMS 1 × 5.
        c("T6", FLAT, "SMS", "MO", DOMESTIC, "1"),
    ]));
    for db in input.rate() {
        assert_eq!(charged(&db), ["T1|10|0", "T2|10|0", "T3|2|0", "T4|1|0", "T5|1|0", "T6|1|5"]);
        assert_eq!(
            rows(&db, "SELECT action FROM persistent ORDER BY event_id"),
            ["MT", "MT", "MT", "MT", "MT", "MO"]
        );
        assert_eq!(balance(&db, "+972500000001"), 10000 - 5);
        assert_eq!(balance(&db, "+972500000003"), 10000);
    }
}

#[test]
fn international_voice_and_sms_cost_three_times() {
    let input = Input::new(cdrs(&[
        // 2 units × 10 × 3 = 60
        c("N1", FLAT, "VOICE", "MO", ABROAD, "61"),
        // SMS 1 × 5 × 3 = 15
        c("N2", FLAT, "SMS", "MO", "+15551234567", "1"),
        // no "+": not the domestic prefix -> 30
        c("N3", FLAT, "VOICE", "MO", "972541234567", "60"),
        // empty PARTY on VOICE: does not start with +972 -> 30
        c("N4", FLAT, "VOICE", "MO", "", "60"),
        // exactly the prefix, and the prefix then anything -> domestic, 10
        c("N5", FLAT, "VOICE", "MO", "+972", "60"),
        c("N6", FLAT, "VOICE", "MO", "+9720", "60"),
        // DATA is never international: ceil(1025/1024) = 2 × 2 = 4
        c("N7", FLAT, "DATA", "MO", ABROAD, "1025"),
        // 0 seconds: 0 units
        c("N8", FLAT, "VOICE", "MO", ABROAD, "0"),
        // nothing is trimmed: " +972..." is international -> 30
        c("N9", FLAT, "VOICE", "MO", " +972541234567", "60"),
    ]));
    for db in input.rate() {
        assert_eq!(
            charged(&db),
            ["N1|2|60", "N2|1|15", "N3|1|30", "N4|1|30", "N5|1|10", "N6|1|10", "N7|2|4", "N8|0|0", "N9|1|30"]
        );
        assert_eq!(balance(&db, "+972500000001"), 10000 - (60 + 15 + 30 + 30 + 10 + 10 + 4 + 30));
    }
}

#[test]
fn vpn_calls_inside_the_vpn_cost_half() {
    let input = Input::new(cdrs(&[
        // VPN_A -> VPN_B (ACME): 1 × 15 / 2 = 7
        c("V01", VPN_A, "VOICE", "MO", "+972500000004", "60"),
        // SMS 7 / 2 = 3
        c("V02", VPN_A, "SMS", "MO", "+972500000004", "1"),
        // own number: not another IMSI -> 15
        c("V03", VPN_A, "VOICE", "MO", "+972500000003", "60"),
        // VPN OTHER -> 15
        c("V04", VPN_A, "VOICE", "MO", "+972500000006", "60"),
        // a FLAT subscriber in ACME still counts: 7
        c("V05", VPN_A, "VOICE", "MO", "+972500000007", "60"),
        // ACME member abroad: SMS 1 × 7 × 3 = 21 / 2 = 10
        c("V06", VPN_A, "SMS", "MO", "+447700000008", "1"),
        // DATA is never halved: 1 × 4
        c("V07", VPN_A, "DATA", "MO", "+972500000004", "1024"),
        // the caller must have the VPN offer: FLAT 10
        c("V08", FLAT_ACME, "VOICE", "MO", "+972500000003", "60"),
        // not a subscriber: 15
        c("V09", VPN_A, "VOICE", "MO", "+972509999999", "60"),
        // MT: 0
        c("V10", VPN_B, "VOICE", "MT", "+972500000003", "60"),
        // both VPN_NAMEs empty: no half, 15
        c("V11", VPN_NONE, "VOICE", "MO", "+972500000001", "60"),
        // 3 × 15 = 45 / 2 = 22 (rounded down)
        c("V12", VPN_A, "VOICE", "MO", "+972500000004", "180"),
    ]));
    for db in input.rate() {
        assert_eq!(
            charged(&db),
            [
                "V01|1|7", "V02|1|3", "V03|1|15", "V04|1|15", "V05|1|7", "V06|1|10", "V07|1|4", "V08|1|10",
                "V09|1|15", "V10|1|0", "V11|1|15", "V12|3|22"
            ]
        );
        assert_eq!(balance(&db, "+972500000003"), 10000 - (7 + 3 + 15 + 15 + 7 + 10 + 4 + 15 + 22));
        assert_eq!(balance(&db, "+972500000007"), 10000 - 10);
        assert_eq!(balance(&db, "+972500000010"), 10000 - 15);
        assert_eq!(balance(&db, "+972500000004"), 10000);
    }
}

#[test]
fn ranged_tiers_follow_the_usage_of_the_month() {
    // All in February 2026 (T0) unless said otherwise.
    let input = Input::new(cdrs(&[
        // line 2: 9 units, U = 0 -> tier 1 (7): 63. U = 9
        c("R01", RANGED, "VOICE", "MO", DOMESTIC, "540"),
        // line 3: MT, 10 units, 0; not counted in U
        c("R02", RANGED, "VOICE", "MT", DOMESTIC, "600"),
        // line 4: invalid (END before START); not counted
        c("R03", RANGED, "VOICE", "MO", DOMESTIC, "600").at(T1, T0),
        // line 5: duplicate of R01; not counted
        c("R01", RANGED, "VOICE", "MO", DOMESTIC, "600"),
        // line 6: U = 9 -> 7. U = 10
        c("R04", RANGED, "VOICE", "MO", DOMESTIC, "60"),
        // line 7: U = 10 = TIER_HIGH of tier 1 -> tier 2 (5). U = 11
        c("R05", RANGED, "VOICE", "MO", DOMESTIC, "60"),
        // line 8: SMS has its own U = 0 -> 4
        c("R06", RANGED, "SMS", "MO", DOMESTIC, "1"),
        // lines 9-10: another RANGED IMSI has its own U. 15 units at U = 0: the whole record
        // at tier 1: 105; then U = 15 -> 5.
        c("X01", RANGED_2, "VOICE", "MO", DOMESTIC, "900"),
        c("X02", RANGED_2, "VOICE", "MO", DOMESTIC, "60"),
        // line 11: 9 units at U = 11 -> 45. U = 20
        c("R07", RANGED, "VOICE", "MO", DOMESTIC, "540"),
        // line 12: March: U = 0 -> 7
        c("R08", RANGED, "VOICE", "MO", DOMESTIC, "60").at("2026-03-01T00:00:00Z", "2026-03-01T00:01:00Z"),
        // line 13: February again (input order): U = 20 = TIER_HIGH of tier 2 -> tier 3 (3),
        // international: 1 × 3 × 3 = 9. U = 21
        c("R09", RANGED, "VOICE", "MO", ABROAD, "60"),
        // line 14: U = 21 -> 3
        c("R10", RANGED, "VOICE", "MO", DOMESTIC, "60"),
        // line 15: DATA 100 units at U = 0 -> 2: 200; line 16: U = 100 -> tier 2 (1): 1
        c("R11", RANGED, "DATA", "MO", "", "102400"),
        c("R12", RANGED, "DATA", "MO", "", "1"),
    ]));
    for db in input.rate() {
        assert_eq!(
            charged(&db),
            [
                "R01|9|63",
                "R02|10|0",
                "R04|1|7",
                "R05|1|5",
                "R06|1|4",
                "R07|9|45",
                "R08|1|7",
                "R09|1|9",
                "R10|1|3",
                "R11|100|200",
                "R12|1|1",
                "X01|15|105",
                "X02|1|5",
            ]
        );
        assert_eq!(rejected(&db), ["4|R03|invalid", "5|R01|duplicate"]);
        assert_eq!(rows(&db, "SELECT month FROM archive WHERE event_id = 'R08'"), ["2026-03"]);
        assert_eq!(balance(&db, "+972500000005"), 10000 - (63 + 7 + 5 + 4 + 45 + 7 + 9 + 3 + 200 + 1));
        assert_eq!(balance(&db, "+972500000009"), 10000 - 105 - 5);
    }
}

#[test]
fn amount_overflow_goes_to_quarantine_and_still_counts_in_u() {
    const HUGE_TIERS: &str = "\
SERVICE,TIER_LEVEL,TIER_LOW,TIER_HIGH,TIER_RATE
VOICE,1,0,10,1000000000000000000
VOICE,2,10,,1
SMS,1,0,,4000000000000000000
DATA,1,0,,1
";
    // VOICE at 100 a unit for FLAT, FAMILY and VPN, so that ceil(MAX/60) units overflow.
    let tariffs = TARIFFS
        .replace("FLAT,VOICE,10\n", "FLAT,VOICE,100\n")
        .replace("FAMILY,VOICE,12\n", "FAMILY,VOICE,100\n")
        .replace("VPN,VOICE,15\n", "VPN,VOICE,100\n");
    assert_eq!(tariffs.matches(",VOICE,100\n").count(), 3);
    let max = i64::MAX.to_string();
    let input = Input::with(
        cdrs(&[
            // line 2: ceil(MAX/60) units × 100 overflows -> quarantine
            c("O1", FLAT, "VOICE", "MO", DOMESTIC, &max),
            // line 3: MT: same units, amount 0
            c("O2", FLAT, "VOICE", "MT", DOMESTIC, &max),
            // line 4: DATA ceil(MAX/1024) units × 2 fits
            c("O3", FLAT, "DATA", "MO", "", &max),
            // line 5: O1 passed checks 1 and 2 -> duplicate
            c("O1", FLAT, "VOICE", "MO", DOMESTIC, "60"),
            // line 6: RANGED 10 units × 10^18 overflows -> quarantine, but U = 10 after it
            c("Q1", RANGED, "VOICE", "MO", DOMESTIC, "600"),
            // line 7: U = 10 -> tier 2 (1): 1
            c("Q2", RANGED, "VOICE", "MO", DOMESTIC, "60"),
            // line 8: SMS 1 × 4·10^18 fits; line 9: × 3 (international) overflows
            c("Q3", RANGED, "SMS", "MO", DOMESTIC, "1"),
            c("Q4", RANGED, "SMS", "MO", ABROAD, "1"),
            // lines 10-11: BASE (SPEC §8 step 3) comes before the WIFE and VPN rules (steps 4-5):
            // an overflowing BASE is quarantined even where the amount would be 0 or BASE / 2.
            c("W1", FAM, "VOICE", "MO", "+972541111111", &max),
            c("V1", VPN_A, "VOICE", "MO", "+972500000004", &max),
        ]),
        &[("tiers.csv", HUGE_TIERS), ("tariffs.csv", &tariffs)],
    );
    let voice_units = i64::MAX / 60 + 1; // ceil: MAX is not a multiple of 60
    let data_units = i64::MAX / 1024 + 1;
    for db in input.rate() {
        assert_eq!(
            quarantined(&db),
            [
                "2|O1|amount overflow",
                "6|Q1|amount overflow",
                "9|Q4|amount overflow",
                "10|W1|amount overflow",
                "11|V1|amount overflow"
            ]
        );
        assert_eq!(rejected(&db), ["5|O1|duplicate"]);
        assert_eq!(
            charged(&db),
            [
                format!("O2|{voice_units}|0"),
                format!("O3|{data_units}|{}", data_units * 2),
                "Q2|1|1".to_string(),
                "Q3|1|4000000000000000000".to_string(),
            ]
        );
        assert_eq!(balance(&db, "+972500000001"), 10000 - data_units * 2);
        assert_eq!(balance(&db, "+972500000005"), 10000 - 1 - 4_000_000_000_000_000_000);
        assert_eq!(balance(&db, "+972500000002"), 10000);
        assert_eq!(balance(&db, "+972500000003"), 10000);
    }
}

#[test]
fn a_charge_the_balance_cannot_hold_goes_to_quarantine_and_balances_stay_exact() {
    // FLAT DATA at 4·10^18 a unit: one unit (DURATION 1) costs 4·10^18.
    let tariffs = TARIFFS.replace("FLAT,DATA,2\n", "FLAT,DATA,4000000000000000000\n");
    // FLAT_ACME opens at 9·10^18: four charges (1.6·10^19 in all, more than an i64 holds)
    // leave -7·10^18, which fits.
    let subscribers =
        SUBSCRIBERS.replace("+972500000007,FLAT,,ACME,10000", "+972500000007,FLAT,,ACME,9000000000000000000");
    let input = Input::with(
        cdrs(&[
            // lines 2-3: 10000 - 4e18, then - 8e18: fit
            c("A1", FLAT, "DATA", "MO", "", "1"),
            c("A2", FLAT, "DATA", "MO", "", "1"),
            // line 4: - 12e18 would be below i64::MIN -> quarantine
            c("A3", FLAT, "DATA", "MO", "", "1"),
            // line 5: free (MT): charged 0, stored
            c("A4", FLAT, "VOICE", "MT", DOMESTIC, "60"),
            // lines 6-9: 9e18 -> 5e18 -> 1e18 -> -3e18 -> -7e18
            c("B1", FLAT_ACME, "DATA", "MO", "", "1"),
            c("B2", FLAT_ACME, "DATA", "MO", "", "1"),
            c("B3", FLAT_ACME, "DATA", "MO", "", "1"),
            c("B4", FLAT_ACME, "DATA", "MO", "", "1"),
        ]),
        &[("tariffs.csv", &tariffs), ("subscribers.csv", &subscribers)],
    );
    let four = "4000000000000000000";
    for db in input.rate() {
        assert_eq!(quarantined(&db), ["4|A3|balance overflow"]);
        assert_eq!(
            charged(&db),
            [
                format!("A1|1|{four}"),
                format!("A2|1|{four}"),
                "A4|1|0".to_string(),
                format!("B1|1|{four}"),
                format!("B2|1|{four}"),
                format!("B3|1|{four}"),
                format!("B4|1|{four}"),
            ]
        );
        assert_eq!(balance(&db, "+972500000001"), 10000 - 8_000_000_000_000_000_000);
        assert_eq!(balance(&db, "+972500000007"), -7_000_000_000_000_000_000);
    }
}

#[test]
fn columns_are_found_by_name_in_any_order() {
    let input = Input::with(
        format!(
            "DURATION,PARTY,NOTE,END_TIME,START_TIME,ACTION,SERVICE,IMSI,DEVICE_ID,SESSION_ID,EVENT_ID\n\
             61,{ABROAD},\"free, text\",{T1},{T0},MO,VOICE,{FLAT},D1,S1,A1\n\
             61,{ABROAD},{T1},{T0},MO,VOICE,{FLAT},D1,S1,A2\n"
        ),
        &[
            (
                "subscribers.csv",
                "BALANCE,VPN_NAME,EXTRA,FAMILY,OFFER_TYPE,SUBSCRIBER,IMSI\n\
                 500,,x,,FLAT,+972500000001,425010000000001\n",
            ),
            ("tariffs.csv", "UNIT_RATE,SERVICE,OFFER_TYPE\n10,VOICE,FLAT\n5,SMS,FLAT\n2,DATA,FLAT\n"),
        ],
    );
    for db in input.rate() {
        // 2 units × 10 × 3 (international) = 60
        assert_eq!(charged(&db), ["A1|2|60"]);
        // 10 fields under an 11-column header -> parse
        assert_eq!(rejected(&db), ["3|NULL|parse"]);
        assert_eq!(rows(&db, "SELECT subscriber, balance FROM balances"), ["+972500000001|440"]);
    }
}

#[test]
fn an_empty_event_id_is_an_id_like_any_other() {
    let input = Input::new(cdrs(&[
        // line 2: no EVENT_ID, rated like any CDR: 1 unit × FLAT VOICE 10
        c("", FLAT, "VOICE", "MO", DOMESTIC, "60"),
        // line 3: the same (empty) EVENT_ID again: a duplicate, with a NULL event_id
        c("", FLAT, "VOICE", "MO", DOMESTIC, "60"),
    ]));
    for db in input.rate() {
        assert_eq!(charged(&db), ["|1|10"]);
        assert_eq!(rejected(&db), ["3|NULL|duplicate"]);
    }
}
