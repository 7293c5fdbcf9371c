//! A bad environment (issue: failures, restarts and exactly-once): a disk that fills up and a
//! database on a read-only filesystem are clear errors with a non-zero exit, the database
//! stays consistent, and once there is room again a rerun completes it to a clean run's
//! content. A small tmpfs is the full disk; it needs root (CI runs as root), and the test says
//! so and passes vacuously where mounting is not allowed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{catar, dump_db, gen_input};

/// A tmpfs mounted for the test, unmounted when dropped (even when the test fails).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.into()))
    }

    fn remount(&self, options: &str) {
        let status =
            Command::new("mount").args(["-o", &format!("remount,{options}")]).arg(&self.0).status().unwrap();
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn rate(input: &Path, db: &Path) -> (bool, String) {
    let (code, stderr) = rate_code(input, db);
    (code == Some(0), stderr)
}

fn rate_code(input: &Path, db: &Path) -> (Option<i32>, String) {
    let out = catar()
        .args(["run", "--headless", "--segments", "2", "--commit-every", "1000", "--input"])
        .arg(input)
        .arg("--db")
        .arg(db)
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn integrity(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap()
}

/// An input, a clean run's database of it, and a 400 kB disk to fill; `None` (said) where a
/// tmpfs cannot be mounted.
fn full_disk() -> Option<(tempfile::TempDir, PathBuf, PathBuf, Tmpfs)> {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    gen_input(&input, 20_000, 500, 2, 0.02);
    let clean = tmp.path().join("clean.db");
    assert!(rate(&input, &clean).0);
    let Some(disk) = Tmpfs::mount(&tmp.path().join("disk"), "400k") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return None;
    };
    Some((tmp, input, clean, disk))
}

#[test]
fn a_full_disk_and_a_read_only_database_are_clear_errors_and_the_database_resumes() {
    let Some((_tmp, input, clean, disk)) = full_disk() else { return };
    let db = disk.0.join("rated.db");

    let (ok, stderr) = rate(&input, &db);
    assert!(!ok, "a full disk fails the run");
    assert!(stderr.contains(&db.display().to_string()) && stderr.contains("full"), "{stderr}");
    assert_eq!(integrity(&db), "ok");

    disk.remount("ro");
    let before = dump_db(&db);
    let (code, stderr) = rate_code(&input, &db);
    // Refused before the run starts, as any database that cannot be used.
    assert_eq!(code, Some(2), "a read-only database is refused: {stderr}");
    assert!(stderr.contains(&db.display().to_string()) && stderr.contains("readonly"), "{stderr}");
    assert_eq!(dump_db(&db), before, "nothing changed");

    disk.remount("rw,size=64m");
    let (ok, stderr) = rate(&input, &db);
    assert!(ok, "{stderr}");
    assert_eq!(dump_db(&db), dump_db(&clean), "resumed to the clean run's content");
}

#[test]
fn a_trace_on_a_full_disk_fails_the_run_after_its_summary_and_loses_no_row() {
    let Some((tmp, input, clean, disk)) = full_disk() else { return };
    let (db, trace) = (tmp.path().join("rated.db"), disk.0.join("run.trace"));
    let out = catar()
        .args(["run", "--headless", "--segments", "2", "--level", "full", "--input"])
        .arg(&input)
        .arg("--db")
        .arg(&db)
        .arg("--trace")
        .arg(&trace)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    // What was stored is said, then why the trace is not whole.
    assert!(stdout.contains("conservation: 20000 rows = 20000 stored: ok"), "{stdout}");
    assert!(stderr.contains(&trace.display().to_string()) && stderr.contains("No space left"), "{stderr}");
    assert!(stderr.contains("database is whole"), "{stderr}");
    assert_eq!(dump_db(&db), dump_db(&clean), "every row stored");
    // What the trace holds reads as a trace cut short.
    let export = catar().arg("export").arg(&trace).args(["--what", "program-contexts"]).output().unwrap();
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    assert!(String::from_utf8_lossy(&export.stderr).contains("cut short"));
}
