//! Failures through the real binary (issue: failures, restarts and exactly-once): faults
//! injected into every stage leave the database of a fault-free run, poison rows end in
//! quarantine, conservation holds, and a bad fault is refused before anything runs.

mod common;

use std::path::Path;

use common::{catar, dump_db};

fn generate(out: &Path, poison_rate: &str) {
    catar()
        .args(["gen", "--cdrs", "6000", "--subscribers", "300", "--seed", "5", "--poison-rate", poison_rate])
        .arg("--out")
        .arg(out)
        .assert()
        .success();
}

/// `catar run` headless with 2 segments and `extra` arguments.
fn run(input: &Path, db: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    catar()
        .args(["run", "--headless", "--segments", "2", "--input"])
        .arg(input)
        .arg("--db")
        .arg(db)
        .args(extra)
        .assert()
}

fn rate(input: &Path, db: &Path, extra: &[&str]) -> String {
    let out = run(input, db, extra).success();
    String::from_utf8_lossy(&out.get_output().stdout).into_owned()
}

/// The EVENT_IDs of cdrs.csv that start with `POISON`, and how many rows there are.
fn poison_ids(input: &Path) -> (Vec<String>, usize) {
    let mut r = csv::ReaderBuilder::new().flexible(true).from_path(input.join("cdrs.csv")).unwrap();
    let mut ids = Vec::new();
    let mut rows = 0;
    for rec in r.records() {
        let rec = rec.unwrap();
        rows += 1;
        if rec.get(0).is_some_and(|id| id.starts_with("POISON")) {
            ids.push(rec[0].to_string());
        }
    }
    ids.sort();
    ids.dedup();
    (ids, rows)
}

fn query(db: &Path, sql: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut st = conn.prepare(sql).unwrap();
    st.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
}

#[test]
fn ten_faults_across_all_stages_give_the_database_of_a_fault_free_run() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, "0.002");
    let clean = tmp.path().join("clean.db");
    let summary = rate(&input, &clean, &[]);
    let faults = [
        "REG/0:step=0",
        "REG/1:step=35:times=2",
        "REG/0:step=50",
        "RATE/0:step=14",
        "RATE/1:step=100:times=3",
        "RATE/0:step=250",
        "DIS/0:step=3",
        "DIS/1:step=44:times=2",
        "DIS/0:step=58",
        "DIS/1:step=7",
    ];
    let args: Vec<&str> = faults.iter().flat_map(|f| ["--inject-fault", f]).collect();
    let faulty = tmp.path().join("faulty.db");
    let out = rate(&input, &faulty, &args);
    assert_eq!(dump_db(&faulty), dump_db(&clean), "faults leave no trace in the database");
    assert!(out.contains("conservation: 6000 rows = 6000 stored: ok"), "{out}");
    for node in ["REG/0", "REG/1", "RATE/0", "RATE/1", "DIS/0", "DIS/1"] {
        assert!(out.contains(&format!("{node} ")), "{node} restarted: {out}");
    }
    assert!(!summary.contains("REG/0 "), "the clean run restarted no REG node: {summary}");
    // Each fault is said to have fired, however many times asked: one landing on a poison
    // row's retry changes no other figure.
    for f in faults {
        let times = f.split_once(":times=").map_or(1, |(_, t)| t.parse().unwrap());
        let fired = if times == 1 { "once".to_string() } else { format!("{times} times") };
        assert!(out.contains(&format!("fault {f} fired {fired}\n")), "{f}: {out}");
    }

    // Poison rows: every one that REG let through is quarantined with RATE's panic.
    let (poison, rows) = poison_ids(&input);
    assert!(poison.len() >= 5, "the generator wrote poison rows: {poison:?}");
    assert_eq!(rows, 6000);
    let quarantined = query(&faulty, "SELECT event_id FROM quarantine ORDER BY event_id");
    let rejected_poison = query(
        &faulty,
        "SELECT DISTINCT event_id FROM rejected WHERE event_id LIKE 'POISON%' AND reason != 'duplicate'",
    );
    let mut expected: Vec<String> = poison.into_iter().filter(|p| !rejected_poison.contains(p)).collect();
    expected.sort();
    assert_eq!(quarantined, expected);
    let errors = query(&faulty, "SELECT DISTINCT substr(error, 1, 35) FROM quarantine");
    assert_eq!(errors, ["panicked: cannot rate poison row PO"]);
}

#[test]
fn a_fault_naming_no_node_or_malformed_is_refused_before_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, "0");
    let db = tmp.path().join("x.db");
    for (fault, says) in [("RATE/7:step=3", "no node RATE/7"), ("RATE/0:stp=3", "unknown key 'stp'")] {
        let out = run(&input, &db, &["--inject-fault", fault]).code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains(says), "{fault}: {stderr}");
    }
    assert!(!db.exists() || query(&db, "SELECT event_id FROM persistent").is_empty());
    // A fault past the node's last step is said not to have fired.
    let out = rate(&input, &db, &["--inject-fault", "DIS/0:step=99999999:times=2"]);
    assert!(out.contains("fault DIS/0:step=99999999:times=2 never fired: DIS/0 ran "), "{out}");
}

/// An attempt undone after a failure ran its whole window at the window's latest time, its
/// retries at earlier ones: a cabinet's or a node's time range still runs forwards (its last
/// time came before its first).
#[test]
fn time_ranges_run_forwards_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    generate(&input, "0.002");
    let trace = tmp.path().join("t.trace");
    let faults = ["--inject-fault", "REG/0:step=5", "--inject-fault", "DIS/1:step=20:times=2"];
    let trace_args = ["--trace", trace.to_str().unwrap(), "--level", "full"];
    rate(&input, &tmp.path().join("t.db"), &[&faults[..], &trace_args[..]].concat());
    for what in ["node-cabinets", "program-cabinets"] {
        let out = catar().args(["export", "--what", what]).arg(&trace).output().unwrap();
        let mut csv = csv::Reader::from_reader(&out.stdout[..]);
        let header = csv.headers().unwrap().clone();
        let at = |name: &str| header.iter().position(|h| h == name).unwrap();
        let (first, last) = (at("first_time"), at("last_time"));
        for row in csv.records().map(Result::unwrap) {
            assert!(row[first] <= row[last], "{what}: {row:?}");
        }
    }
    let (poison, _) = poison_ids(&input);
    let out = catar()
        .args(["query", "--format", "json", "--id"])
        .arg(format!("EVENT_ID={}", poison[0]))
        .arg(&trace)
        .output()
        .unwrap();
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for n in history["metrics"]["nodes"].as_array().unwrap() {
        assert!(n["first"].as_str() <= n["last"].as_str(), "{n}");
    }
}
