//! The SQLite baseline of the benchmark computes the same database as the engine.

mod common;
#[path = "../benches/support/sqlite_baseline.rs"]
mod sqlite_baseline;

#[test]
fn sqlite_baseline_matches_the_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input");
    let db_a = dir.path().join("engine.db");
    let db_b = dir.path().join("sqlite.db");
    common::gen_input(&input, 3000, 100, 7, 0.05);
    common::run(&input, &db_a, 2);
    sqlite_baseline::rate_with_sqlite(&input, &db_b).expect("sqlite baseline");
    assert_eq!(common::dump_db(&db_a), common::dump_db(&db_b));
}
