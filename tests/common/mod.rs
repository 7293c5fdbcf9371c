//! Helpers shared by the integration tests: run the real binary, dump a database canonically.
#![allow(dead_code)]

use std::path::Path;

use assert_cmd::Command;

/// The `catar` binary built by cargo for these tests.
pub fn catar() -> Command {
    Command::cargo_bin("catar").expect("catar binary")
}

/// `catar gen --out DIR --cdrs N --subscribers S --seed SEED --bad-rate F`, asserting success.
pub fn gen_input(out: &Path, cdrs: usize, subscribers: usize, seed: u64, bad_rate: f64) {
    catar()
        .args(["gen", "--out"])
        .arg(out)
        .args(["--cdrs", &cdrs.to_string()])
        .args(["--subscribers", &subscribers.to_string()])
        .args(["--seed", &seed.to_string()])
        .args(["--bad-rate", &bad_rate.to_string()])
        .assert()
        .success();
}

/// `catar gen --out DIR --cdrs N --subscribers S --seed SEED --poison-rate F` (the default bad
/// rate), asserting success: rows on which RATE fails every time.
pub fn gen_poison_input(out: &Path, cdrs: usize, subscribers: usize, seed: u64, poison_rate: f64) {
    catar()
        .args(["gen", "--out"])
        .arg(out)
        .args(["--cdrs", &cdrs.to_string()])
        .args(["--subscribers", &subscribers.to_string()])
        .args(["--seed", &seed.to_string()])
        .args(["--poison-rate", &poison_rate.to_string()])
        .assert()
        .success();
}

/// `catar run --input DIR --db FILE --headless --segments N`, asserting success.
pub fn run(input: &Path, db: &Path, segments: usize) {
    catar()
        .args(["run", "--headless", "--input"])
        .arg(input)
        .arg("--db")
        .arg(db)
        .args(["--segments", &segments.to_string()])
        .assert()
        .success();
}

/// Every output table of a rating database as text, one row a line, sorted by primary key,
/// so two databases compare with `assert_eq!` and a failure shows a readable diff.
pub fn dump_db(path: &Path) -> String {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open database");
    let queries = [
        "SELECT event_id, imsi, subscriber, service, action, start_time, units, amount FROM persistent ORDER BY event_id",
        "SELECT subscriber, balance FROM balances ORDER BY subscriber",
        "SELECT line, event_id, reason FROM rejected ORDER BY line",
        "SELECT line, event_id, error FROM quarantine ORDER BY line",
        "SELECT event_id, month, subscriber, amount FROM archive ORDER BY event_id",
    ];
    let mut out = String::new();
    for sql in queries {
        out.push_str(&format!("== {sql}\n"));
        let mut stmt = conn.prepare(sql).expect("prepare");
        let n = stmt.column_count();
        let mut rows = stmt.query([]).expect("query");
        while let Some(row) = rows.next().expect("row") {
            let cells: Vec<String> = (0..n)
                .map(|i| match row.get_ref(i).expect("cell") {
                    rusqlite::types::ValueRef::Null => "NULL".to_string(),
                    rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                    rusqlite::types::ValueRef::Real(v) => v.to_string(),
                    rusqlite::types::ValueRef::Text(t) => {
                        format!("{:?}", String::from_utf8_lossy(t))
                    }
                    rusqlite::types::ValueRef::Blob(b) => format!("{b:?}"),
                })
                .collect();
            out.push_str(&cells.join("|"));
            out.push('\n');
        }
    }
    out
}
