//! Crash safety (issue 8): `catar run` killed with SIGKILL at 20 points spread over the run
//! (chosen by seed) and started again on the same input and database completes to exactly the
//! content of one clean run, balances included.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{catar, dump_db, gen_input};
use rand::{Rng, SeedableRng};

/// Rows per transaction in these runs: small, so that a kill finds many commits behind it and
/// one open.
const COMMIT_EVERY: &str = "500";

fn run_args<'a>(input: &'a Path, db: &'a Path) -> Vec<&'a std::ffi::OsStr> {
    let mut args: Vec<&std::ffi::OsStr> =
        ["run", "--headless", "--segments", "2", "--commit-every", COMMIT_EVERY]
            .iter()
            .map(std::ffi::OsStr::new)
            .collect();
    args.extend([
        std::ffi::OsStr::new("--input"),
        input.as_os_str(),
        std::ffi::OsStr::new("--db"),
        db.as_os_str(),
    ]);
    args
}

/// Committed persistent rows, if the database can be read now.
fn committed(db: &Path) -> Option<u64> {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    conn.query_row("SELECT count(*) FROM persistent", [], |r| r.get::<_, i64>(0)).ok().map(|n| n as u64)
}

#[test]
fn sigkill_at_twenty_points_then_a_rerun_gives_the_clean_database() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path();
    gen_input(input, 12_000, 300, 5, 0.02);
    let clean = input.join("clean.db");
    catar().args(run_args(input, &clean)).assert().success();
    let expected = dump_db(&clean);
    let total = committed(&clean).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
    let mut mid_run = 0;
    for k in 0..20 {
        let db = input.join(format!("killed-{k}.db"));
        // The kill point: once this many rows are committed (0: at once), anywhere in the run.
        let target = if k == 0 { 0 } else { rng.random_range(1..total) };
        let mut child = Command::new(env!("CARGO_BIN_EXE_catar"))
            .args(run_args(input, &db))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if target == 0 || committed(&db).is_some_and(|n| n >= target) {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                break;
            }
            assert!(Instant::now() < deadline, "kill point {k}: {target} rows never committed");
            std::thread::sleep(Duration::from_millis(2));
        }
        let at_kill = committed(&db).unwrap_or(0);
        if at_kill > 0 && at_kill < total {
            mid_run += 1;
        }
        catar().args(run_args(input, &db)).assert().success();
        assert_eq!(
            dump_db(&db),
            expected,
            "kill point {k}: {at_kill} rows were committed when it was killed"
        );
    }
    assert!(mid_run >= 15, "only {mid_run} of 20 kills landed mid-run");
}

#[test]
fn a_database_locked_by_another_process_is_a_clear_error_and_stays_resumable() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path();
    gen_input(input, 3_000, 100, 6, 0.02);
    let clean = input.join("clean.db");
    catar().args(run_args(input, &clean)).assert().success();
    let db = input.join("locked.db");
    // A finished run's database: what it holds must survive the refused run untouched.
    std::fs::copy(&clean, &db).unwrap();
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let out = catar().args(run_args(input, &db)).assert().code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("locked.db") && stderr.contains("locked"), "{stderr}");
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    catar().args(run_args(input, &db)).assert().success();
    assert_eq!(dump_db(&db), dump_db(&clean));
}

#[test]
fn ctrl_c_halts_a_headless_run_whole_and_a_rerun_completes_it() {
    interrupted_run_is_whole(&[]);
}

#[test]
fn ctrl_c_halts_a_headless_script_session_whole() {
    // A form that never fires here: the script waits in `continue` when Ctrl-C comes.
    interrupted_run_is_whole(&["watch cabinet QUARANTINE on DIS", "continue", "inquire DIS/0"]);
}

/// A run (under `script` when there is one) interrupted with SIGINT once rows are committed
/// exits 130 with its summary, a trace with its footer and whole records: a rerun completes
/// the database to one clean run's content.
fn interrupted_run_is_whole(script: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path();
    gen_input(input, 40_000, 300, 9, 0.02);
    let clean = input.join("clean.db");
    catar().args(run_args(input, &clean)).assert().success();
    let (db, trace) = (input.join("halted.db"), input.join("halted.trace"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_catar"));
    cmd.args(run_args(input, &db)).arg("--trace").arg(&trace);
    if !script.is_empty() {
        let file = input.join("s.cat");
        std::fs::write(&file, script.join("\n")).unwrap();
        cmd.arg("--script").arg(&file);
    }
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Interrupted mid-run: once its first rows are committed.
    let deadline = Instant::now() + Duration::from_secs(120);
    while committed(&db).is_none_or(|n| n == 0) {
        assert!(Instant::now() < deadline, "no row was ever committed");
        std::thread::sleep(Duration::from_millis(2));
    }
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stderr.contains("interrupted: halting"), "{stderr}");
    assert!(stdout.contains("before the halt, each stored") && stdout.contains(": ok"), "{stdout}");
    // The trace was closed with its footer, and the database holds whole records: the rerun
    // completes it to one clean run's content.
    let t = catar::recorder::open_trace(&trace).unwrap();
    assert!(t.complete(), "the trace has its footer");
    catar().args(run_args(input, &db)).assert().success();
    assert_eq!(dump_db(&db), dump_db(&clean));
}
