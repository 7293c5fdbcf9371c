//! Bad environment or input: `catar run` exits with code 2 and names the culprit on stderr;
//! a database is never damaged by a refused run, and a rerun is idempotent.

mod common;

use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// A small generated input in `TMP/NAME`.
fn generated(tmp: &TempDir, name: &str, seed: u64) -> PathBuf {
    let dir = tmp.path().join(name);
    common::gen_input(&dir, 60, 10, seed, 0.1);
    dir
}

/// `catar run` that must fail with exit code 2; returns its stderr.
fn run_refused(input: &Path, db: &Path) -> String {
    let assert = common::catar()
        .args(["run", "--headless", "--segments", "2", "--input"])
        .arg(input)
        .arg("--db")
        .arg(db)
        .assert()
        .code(2);
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

fn assert_names(stderr: &str, words: &[&str]) {
    for w in words {
        assert!(stderr.contains(w), "stderr does not name {w:?}:\n{stderr}");
    }
}

/// The numbers in a message, so that "line 7" / "tariffs.csv:7" / "line: 7" all match 7.
fn numbers(stderr: &str) -> Vec<&str> {
    stderr.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).collect()
}

/// Rewrite `file` of `dir` without its column `column` (header and every row).
fn drop_column(dir: &Path, file: &str, column: &str) {
    let path = dir.join(file);
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_path(&path).unwrap();
    let records: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let idx = records[0].iter().position(|h| h == column).unwrap_or_else(|| panic!("{file} has no {column}"));
    let mut w = csv::Writer::from_path(&path).unwrap();
    for r in &records {
        let kept: Vec<&str> = r.iter().enumerate().filter(|&(i, _)| i != idx).map(|(_, f)| f).collect();
        w.write_record(kept).unwrap();
    }
    w.flush().unwrap();
}

#[test]
fn missing_input_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("no-such-input");
    let stderr = run_refused(&input, &tmp.path().join("catar.db"));
    assert_names(&stderr, &[&input.display().to_string()]);
}

#[test]
fn missing_tiers_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let input = generated(&tmp, "in", 7);
    std::fs::remove_file(input.join("tiers.csv")).unwrap();
    let stderr = run_refused(&input, &tmp.path().join("catar.db"));
    assert_names(&stderr, &["tiers.csv"]);
}

#[test]
fn missing_column_in_cdrs() {
    let tmp = tempfile::tempdir().unwrap();
    let input = generated(&tmp, "in", 7);
    drop_column(&input, "cdrs.csv", "DURATION");
    let db = tmp.path().join("catar.db");
    let stderr = run_refused(&input, &db);
    assert_names(&stderr, &["cdrs.csv", "DURATION"]);
    // No database stamped with an input that never ran: the corrected input may use the path.
    assert!(!db.exists());
}

#[test]
fn an_empty_file_or_a_column_named_twice_is_said_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let input = generated(&tmp, "in", 7);
    // An empty file has no header at all (it was refused as missing its first column).
    std::fs::write(input.join("cdrs.csv"), "").unwrap();
    let stderr = run_refused(&input, &tmp.path().join("a.db"));
    assert_names(&stderr, &["cdrs.csv", "empty", "no header line"]);
    assert!(!stderr.contains("missing column"), "{stderr}");
    // A column the run reads, named twice: either could be meant (the first was read, the
    // second silently ignored).
    let input = generated(&tmp, "in2", 7);
    let path = input.join("subscribers.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let (header, rows) = text.split_once('\n').unwrap();
    let rows: String = rows.lines().map(|l| format!("{l},x\n")).collect();
    std::fs::write(&path, format!("{header},VPN_NAME\n{rows}")).unwrap();
    let stderr = run_refused(&input, &tmp.path().join("b.db"));
    assert_names(&stderr, &["subscribers.csv", "VPN_NAME", "twice"]);
}

#[test]
fn missing_column_in_subscribers() {
    let tmp = tempfile::tempdir().unwrap();
    let input = generated(&tmp, "in", 7);
    drop_column(&input, "subscribers.csv", "VPN_NAME");
    let stderr = run_refused(&input, &tmp.path().join("catar.db"));
    assert_names(&stderr, &["subscribers.csv", "VPN_NAME"]);
}

#[test]
fn non_integer_unit_rate_names_file_line_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let input = generated(&tmp, "in", 7);
    // Every non-RANGED offer type has its three rates; line 7 (header = line 1) is bad.
    std::fs::write(
        input.join("tariffs.csv"),
        "OFFER_TYPE,SERVICE,UNIT_RATE\n\
         FLAT,VOICE,10\n\
         FLAT,SMS,5\n\
         FLAT,DATA,2\n\
         FAMILY,VOICE,12\n\
         FAMILY,SMS,6\n\
         FAMILY,DATA,abc\n\
         VPN,VOICE,15\n\
         VPN,SMS,7\n\
         VPN,DATA,4\n",
    )
    .unwrap();
    let stderr = run_refused(&input, &tmp.path().join("catar.db"));
    assert_names(&stderr, &["tariffs.csv", "UNIT_RATE"]);
    assert!(numbers(&stderr).contains(&"7"), "stderr does not name line 7:\n{stderr}");
}

#[test]
fn a_tariff_given_twice_is_refused_naming_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let input = generated(&tmp, "in", 7);
    // Line 5 repeats FLAT VOICE: which rate applies would depend on the row order.
    std::fs::write(
        input.join("tariffs.csv"),
        "OFFER_TYPE,SERVICE,UNIT_RATE\n\
         FLAT,VOICE,10\n\
         FLAT,SMS,5\n\
         FLAT,DATA,2\n\
         FLAT,VOICE,11\n\
         FAMILY,VOICE,12\n\
         FAMILY,SMS,6\n\
         FAMILY,DATA,3\n\
         VPN,VOICE,15\n\
         VPN,SMS,7\n\
         VPN,DATA,4\n",
    )
    .unwrap();
    let stderr = run_refused(&input, &tmp.path().join("catar.db"));
    assert_names(&stderr, &["tariffs.csv", "FLAT", "VOICE"]);
    assert!(numbers(&stderr).contains(&"5"), "stderr does not name line 5:\n{stderr}");
}

#[test]
fn a_quote_that_never_closes_in_a_reference_file_is_named_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let input = generated(&tmp, "in", 7);
    std::fs::write(
        input.join("tariffs.csv"),
        "OFFER_TYPE,SERVICE,UNIT_RATE\nFLAT,VOICE,10\n\"FLAT,SMS,5\nFLAT,DATA,2\n",
    )
    .unwrap();
    // Before: "line 3: 1 fields where the header has 3".
    let stderr = run_refused(&input, &tmp.path().join("catar.db"));
    assert!(
        stderr.contains(
            "tariffs.csv line 3: a quote opens a field and never closes: it took in the lines after it"
        ),
        "{stderr}"
    );
    std::fs::write(input.join("tariffs.csv"), "OFFER_TYPE,SERVICE,UNIT_RATE\nFLAT,VOICE\n").unwrap();
    let stderr = run_refused(&input, &tmp.path().join("catar.db"));
    assert!(stderr.contains("tariffs.csv line 2: 2 fields where the header has 3"), "{stderr}");
}

#[test]
fn tiers_with_a_gap_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let input = generated(&tmp, "in", 7);
    // [0,10) then [20,∞): U in [10,20) has no tier.
    std::fs::write(
        input.join("tiers.csv"),
        "SERVICE,TIER_LEVEL,TIER_LOW,TIER_HIGH,TIER_RATE\n\
         VOICE,1,0,10,7\n\
         VOICE,2,20,,3\n\
         SMS,1,0,,4\n\
         DATA,1,0,,1\n",
    )
    .unwrap();
    let stderr = run_refused(&input, &tmp.path().join("catar.db"));
    assert_names(&stderr, &["tiers.csv"]);
}

#[test]
fn db_in_a_missing_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let input = generated(&tmp, "in", 7);
    let db = tmp.path().join("no").join("such").join("dir").join("catar.db");
    let stderr = run_refused(&input, &db);
    assert_names(&stderr, &[&db.display().to_string()]);
    assert!(!db.exists());
}

#[test]
fn database_of_another_input_is_refused_and_kept_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let a = generated(&tmp, "a", 1);
    let b = generated(&tmp, "b", 2);
    assert_ne!(
        std::fs::read(a.join("cdrs.csv")).unwrap(),
        std::fs::read(b.join("cdrs.csv")).unwrap(),
        "seeds 1 and 2 gave the same cdrs.csv"
    );
    let db = tmp.path().join("catar.db");
    common::run(&a, &db, 2);
    let after_a = common::dump_db(&db);

    let stderr = run_refused(&b, &db);
    assert_names(&stderr, &[&db.display().to_string()]);
    assert_eq!(common::dump_db(&db), after_a, "the refused run changed the database");

    // Input A is still welcome on its own database.
    common::run(&a, &db, 3);
    assert_eq!(common::dump_db(&db), after_a);

    // Another program's database gets no table of ours (they were added beside its own).
    let app = tmp.path().join("app.db");
    rusqlite::Connection::open(&app).unwrap().execute_batch("CREATE TABLE users (id INTEGER)").unwrap();
    let before = std::fs::read(&app).unwrap();
    let stderr = run_refused(&a, &app);
    assert_names(&stderr, &["app.db", "did not write", "users"]);
    assert_eq!(std::fs::read(&app).unwrap(), before);
}

/// A rerun halted on a complete database stores nothing new: conservation holds (the rows
/// are there from the first run), the database is unchanged. Halted at REG's first stop: a
/// `halt` alone could land after a small input's last row (the run then simply ended).
#[test]
fn a_rerun_halted_on_a_complete_database_keeps_conservation_and_the_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let input = generated(&tmp, "in", 3);
    let db = tmp.path().join("catar.db");
    common::run(&input, &db, 1);
    let first = common::dump_db(&db);
    let script = tmp.path().join("halt.cat");
    std::fs::write(&script, "tbreak charge on REG\ncontinue\nhalt\n").unwrap();
    let out = common::catar()
        .args(["run", "--segments", "1", "--input"])
        .arg(&input)
        .arg("--db")
        .arg(&db)
        .arg("--script")
        .arg(&script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("rows read before the halt, each stored"), "{stdout}");
    assert_eq!(common::dump_db(&db), first);
}

#[test]
fn rerun_on_the_same_input_and_database_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let input = generated(&tmp, "in", 3);
    let db = tmp.path().join("catar.db");
    common::run(&input, &db, 2);
    let first = common::dump_db(&db);
    let again =
        common::catar().args(["run", "--headless", "--input"]).arg(&input).arg("--db").arg(&db).output();
    let again = String::from_utf8_lossy(&again.unwrap().stdout).into_owned();
    assert_eq!(common::dump_db(&db), first);
    // The summary tells this run's work (none) from the database's totals.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let count =
        |t: &str| conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get::<_, i64>(0)).unwrap();
    let rows = count("persistent") + count("rejected") + count("quarantine");
    assert!(
        again.contains(&format!(": 0 rated now, the {rows} stored by an earlier run passed over"))
            && again.contains("the database holds, this run's and the earlier's together:"),
        "{again}"
    );
    // And with another number of segments.
    common::run(&input, &db, 1);
    assert_eq!(common::dump_db(&db), first);
    // Not with another domestic prefix: it prices calls otherwise, and a database completed
    // with it would hold two pricings (a halted run resumed so read "ok").
    let out = common::catar()
        .args(["run", "--headless", "--domestic-prefix", "+44", "--input"])
        .arg(&input)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_names(&stderr, &[&db.display().to_string(), "--domestic-prefix +972", "--domestic-prefix +44"]);
    assert_eq!(common::dump_db(&db), first);
}

#[test]
fn an_input_without_data_rows_rates_to_an_empty_database() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("none");
    common::gen_input(&input, 0, 10, 1, 0.0);
    let out = common::catar()
        .args(["run", "--headless", "--input"])
        .arg(&input)
        .arg("--db")
        .arg(tmp.path().join("none.db"))
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("rated 0 CDRs") && text.contains("conservation: 0 rows = 0 stored: ok"), "{text}");
    // No reasons to list: no empty brackets.
    assert!(text.lines().any(|l| l.trim() == "REJECTED            0"), "{text}");
}

#[test]
fn a_negative_number_is_named_by_its_option() {
    for (args, option) in [
        (&["gen", "--out", "x", "--cdrs", "-1"][..], "--cdrs"),
        (&["gen", "--out", "x", "--bad-rate", "-0.1"][..], "--bad-rate"),
        (&["run", "--input", "x", "--max-failures", "-1"][..], "--max-failures"),
        (&["run", "--input", "x", "--domestic-prefix", ""][..], "--domestic-prefix"),
        (&["run", "--input", "x", "--domestic-prefix", "+9 72"][..], "--domestic-prefix"),
    ] {
        let out = common::catar().args(args).assert().code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains(option) && stderr.contains("invalid value"), "{args:?}: {stderr}");
    }
    // Shares of all rows: two that add up to more than all are refused, nothing written.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x");
    let args = ["--bad-rate", "0.6", "--poison-rate", "0.6"];
    let assert = common::catar().args(["gen", "--out"]).arg(&out).args(args).assert().code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_names(&stderr, &["--bad-rate 0.6", "--poison-rate 0.6", "more than every row"]);
    assert!(!out.exists());
}

#[test]
fn gen_into_a_file_says_it_is_not_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("cdrs");
    std::fs::write(&file, "kept").unwrap();
    let assert = common::catar().args(["gen", "--cdrs", "10", "--out"]).arg(&file).assert().code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_names(&stderr, &[&file.display().to_string(), "not a directory"]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "kept");
}

#[test]
fn a_trace_never_overwrites_the_input_the_database_or_a_file_that_is_not_a_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let input = generated(&tmp, "in", 3);
    let db = tmp.path().join("rated.db");
    common::catar()
        .args(["run", "--headless", "--input"])
        .arg(&input)
        .arg("--db")
        .arg(&db)
        .assert()
        .success();
    let notes = tmp.path().join("notes.txt");
    std::fs::write(&notes, "my notes\n").unwrap();
    let fresh_db = tmp.path().join("fresh.db");
    let kept = |p: &Path| std::fs::read(p).unwrap();
    let before: Vec<(PathBuf, Vec<u8>)> = [input.join("cdrs.csv"), db.clone(), notes.clone()]
        .into_iter()
        .map(|p| (p.clone(), kept(&p)))
        .collect();
    // (--trace, --db, what the refusal says)
    let cases = [
        (input.join("cdrs.csv"), tmp.path().join("a.db"), "it is the input's cdrs.csv"),
        // The database named by another spelling of its path.
        (tmp.path().join("in/../rated.db"), db.clone(), "it is the database (--db)"),
        // A database not yet created is refused too.
        (fresh_db.clone(), fresh_db.clone(), "it is the database (--db)"),
        (notes.clone(), tmp.path().join("b.db"), "it exists and is not a catar trace"),
        // A link to where the database will be: writing through it would make the database.
        (tmp.path().join("link"), tmp.path().join("linked.db"), "it is the database (--db)"),
        // SQLite's files beside the database: writing a trace there corrupted it (-wal) or
        // crashed the run with SIGBUS (-shm), and SQLite deleted the trace on closing.
        (tmp.path().join("rated.db-wal"), db.clone(), "a file SQLite keeps beside it"),
        (tmp.path().join("fresh.db-shm"), fresh_db.clone(), "a file SQLite keeps beside it"),
        (tmp.path().join("link-journal"), tmp.path().join("link"), "a file SQLite keeps beside it"),
    ];
    std::os::unix::fs::symlink("linked.db", tmp.path().join("link")).unwrap();
    for (trace, db_arg, says) in cases {
        let out = common::catar()
            .args(["run", "--headless", "--input"])
            .arg(&input)
            .arg("--db")
            .arg(&db_arg)
            .arg("--trace")
            .arg(&trace)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", trace.display());
        assert_names(&stderr, &[&trace.display().to_string(), says]);
    }
    for (path, bytes) in before {
        assert!(kept(&path) == bytes, "{} changed", path.display());
    }
    assert!(!fresh_db.exists(), "a refused run creates nothing");
    assert!(!tmp.path().join("linked.db").exists());
    // A trace is replaced as TRUNCATE says, and an empty file taken.
    let trace = tmp.path().join("run.trace");
    std::fs::write(&trace, "").unwrap();
    for db in ["c.db", "d.db"] {
        common::catar()
            .args(["run", "--headless", "--level", "full", "--input"])
            .arg(&input)
            .arg("--db")
            .arg(tmp.path().join(db))
            .arg("--trace")
            .arg(&trace)
            .assert()
            .success();
    }
    // What reads a trace never writes its output over it (creating the output emptied it).
    let recorded = kept(&trace);
    let same = tmp.path().join("in/../run.trace");
    for args in [
        vec!["export", "--what", "program-cabinets"],
        vec!["export", "--format", "perfetto"],
        vec!["query", "--id", "EVENT_ID=EV000000001"],
    ] {
        let out = common::catar().args(&args).arg(&trace).arg("--out").arg(&same).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_names(&stderr, &[&same.display().to_string(), "it is the trace being read"]);
        assert!(kept(&trace) == recorded, "{args:?}: the trace changed");
    }
    // Nor over a database or an input file (an `--out` typo replaced them), while an earlier
    // output of the same kind is replaced.
    let (db, cdrs) = (tmp.path().join("c.db"), input.join("cdrs.csv"));
    for target in [&db, &cdrs] {
        let before = kept(target);
        let out = common::catar()
            .args(["export", "--what", "program-cabinets"])
            .arg(&trace)
            .arg("--out")
            .arg(target)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", target.display());
        assert_names(&stderr, &[&target.display().to_string(), "not an earlier output"]);
        assert!(kept(target) == before, "{} changed", target.display());
    }
    let csv = tmp.path().join("cabinets.csv");
    for _ in 0..2 {
        let mut export = common::catar();
        export.args(["export", "--what", "program-cabinets"]).arg(&trace).arg("--out").arg(&csv);
        export.assert().success();
    }
}
