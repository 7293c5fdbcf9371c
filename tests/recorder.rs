//! The recorder through the real binary: a recorded run consolidates into the cabinet lists
//! and context matrices SPEC §4 describes, exports as CSV/JSON other tools read, and two runs
//! of the same input diff equal whatever the thread timing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `catar run --headless --input INPUT --db DB --trace TRACE`, ready for more arguments.
fn run_traced(input: &Path, db: &Path, trace: &Path) -> assert_cmd::Command {
    let mut cmd = common::catar();
    cmd.args(["run", "--headless", "--input"]).arg(input).arg("--db").arg(db).arg("--trace").arg(trace);
    cmd
}

fn record(input: &Path, dir: &Path, name: &str, segments: usize, level: &str) -> PathBuf {
    let trace = dir.join(format!("{name}.trace"));
    run_traced(input, &dir.join(format!("{name}.db")), &trace)
        .args(["--segments", &segments.to_string(), "--level", level])
        .assert()
        .success();
    trace
}

fn export(trace: &Path, what: &str) -> Vec<csv::StringRecord> {
    let out = common::catar().arg("export").arg(trace).args(["--what", what]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut r = csv::Reader::from_reader(&out.stdout[..]);
    let header = r.headers().unwrap().clone();
    let mut rows = vec![header];
    rows.extend(r.records().map(Result::unwrap));
    rows
}

fn input(dir: &Path) -> PathBuf {
    let input = dir.join("in");
    common::gen_input(&input, 3000, 120, 11, 0.05);
    input
}

#[test]
fn wife_is_transient_and_wife_name_never_reaches_persistent() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    let trace = record(&input, tmp.path(), "a", 2, "summary");

    let cabinets = export(&trace, "node-cabinets");
    assert_eq!(
        cabinets[0].iter().collect::<Vec<_>>(),
        [
            "node",
            "cabinet",
            "first_step",
            "first_time",
            "last_step",
            "last_time",
            "max_mass",
            "final_mass",
            "base",
            "spectrum",
            "transient"
        ]
    );
    let wife: Vec<_> = cabinets[1..].iter().filter(|r| &r[1] == "WIFE").collect();
    assert!(!wife.is_empty(), "the generator makes family calls, so WIFE appears");
    for r in &wife {
        assert!(r[0].starts_with("RATE/"), "WIFE lives in RATE: {r:?}");
        assert_eq!((&r[7], &r[10]), ("0", "true"), "WIFE is transient: {r:?}");
        assert!(r[6].parse::<i64>().unwrap() > 0);
    }
    let persistent: i64 =
        cabinets[1..].iter().filter(|r| &r[1] == "PERSISTENT").map(|r| r[7].parse::<i64>().unwrap()).sum();
    let db = rusqlite::Connection::open(tmp.path().join("a.db")).unwrap();
    let stored: i64 = db.query_row("SELECT count(*) FROM persistent", [], |r| r.get(0)).unwrap();
    assert_eq!(persistent, stored, "PERSISTENT's final mass is what the database holds");
    // The program's rows count global steps: a cabinet's first appearance in the run comes
    // no later than its last (node steps of different nodes would not compare).
    let program = export(&trace, "program-cabinets");
    let steps = |r: &csv::StringRecord| (r[2].parse::<u64>().unwrap(), r[4].parse::<u64>().unwrap());
    for r in &program[1..] {
        let (first, last) = steps(r);
        assert!(first <= last, "{r:?}");
    }
    // RATED first appears at the first global step, of any node, that reports it appearing.
    let mut t = catar::recorder::open_trace(&trace).unwrap();
    let rated = t.header().pipeline.cabinets.iter().position(|c| c.name == "RATED").unwrap() as u16;
    let mut appeared = Vec::new();
    for i in 0..t.index().len() {
        for e in catar::recorder::read_events(&mut t, i).unwrap() {
            if let catar::recorder::Event::Step(s) = e
                && s.appeared.contains(&rated)
            {
                appeared.push(s.global_step);
            }
        }
    }
    let row = program[1..].iter().find(|r| &r[1] == "RATED").map(steps).unwrap();
    assert_eq!(row, (*appeared.iter().min().unwrap(), *appeared.iter().max().unwrap()));

    let matrix = export(&trace, "program-contexts");
    let cells: Vec<(String, String)> =
        matrix[1..].iter().map(|r| (r[1].to_string(), r[2].to_string())).collect();
    assert!(cells.contains(&("WIFE_NAME".into(), "WIFE".into())), "{cells:?}");
    assert!(!cells.contains(&("WIFE_NAME".into(), "PERSISTENT".into())));
    assert!(!cells.contains(&("WIFE_NAME".into(), "CONFIRMED".into())), "it comes with the move to WIFE");
    assert!(cells.contains(&("SUBSCRIBER".into(), "CONFIRMED".into())));
    assert!(
        !cells.contains(&("SUBSCRIBER".into(), "RAW".into())),
        "the collision brings it with the state change"
    );
}

#[test]
fn two_runs_diff_equal_and_another_input_differs() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    let a = record(&input, tmp.path(), "a", 3, "summary");
    let b = record(&input, tmp.path(), "b", 3, "full");
    common::catar().arg("diff").arg(&a).arg(&b).assert().code(0);

    let other = tmp.path().join("other");
    common::gen_input(&other, 3000, 120, 12, 0.05);
    let c = record(&other, tmp.path(), "c", 3, "summary");
    let out = common::catar().arg("diff").arg(&a).arg(&c).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("difference(s) in ") && text.contains("what differs (A → B)"), "{text}");
    // One line per node and cabinet, in pipeline order, the program rows last.
    let rows: Vec<&str> = text.lines().filter(|l| l.contains(" → ")).skip(1).collect();
    let node_of = |l: &str| l.split_whitespace().next().unwrap().to_string();
    let order = |n: &str| ["REG", "RATE", "DIS", "*"].iter().position(|s| n.starts_with(s)).unwrap();
    assert!(rows.windows(2).all(|w| order(&node_of(w[0])) <= order(&node_of(w[1]))), "{text}");
    let keys: std::collections::HashSet<(String, String)> =
        rows.iter().map(|l| (node_of(l), l.split_whitespace().nth(1).unwrap().to_string())).collect();
    assert_eq!(keys.len(), rows.len(), "one line per node and cabinet: {text}");
    // Times read as the exports write them, RFC 3339.
    let times: Vec<&str> = text.lines().filter(|l| l.contains("_time ")).collect();
    assert!(!times.is_empty(), "{text}");
    for line in times {
        let value = line.split("_time ").nth(1).unwrap().split(' ').next().unwrap();
        assert!(value.parse::<jiff::Timestamp>().is_ok(), "{line}");
    }
    // Other segment counts: the difference says why every node row differs.
    let d = record(&input, tmp.path(), "d", 1, "summary");
    let out = common::catar().arg("diff").arg(&a).arg(&d).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("note: A ran 9 nodes") && text.contains("B ran 3 (REG/0, RATE/0, DIS/0)"),
        "{text}"
    );
    assert!(
        !String::from_utf8_lossy(&common::catar().arg("diff").arg(&a).arg(&b).output().unwrap().stdout)
            .contains("note:")
    );
    // Another input: the difference says so first, naming the file that differs.
    let other = tmp.path().join("other");
    common::gen_input(&other, 3100, 120, 11, 0.05);
    let e = record(&other, tmp.path(), "e", 3, "summary");
    let out = common::catar().arg("diff").arg(&a).arg(&e).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let note = text.lines().nth(2).unwrap_or_default();
    assert!(note.starts_with("note: A and B read different inputs: cdrs.csv ("), "{text}");
    assert!(!note.contains("subscribers.csv"), "the same reference files: {text}");
    // A trace cut short says so on stdout, first (CI logs often keep stdout alone).
    let bytes = std::fs::read(&b).unwrap();
    let cut = tmp.path().join("cut.trace");
    std::fs::write(&cut, &bytes[..bytes.len() * 3 / 4]).unwrap();
    let out = common::catar().arg("diff").arg(&a).arg(&cut).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("note: B (") && text.lines().next().unwrap().contains("cut short"), "{text}");
    // An off-level trace holds nothing to compare: not "the same".
    let off = record(&input, tmp.path(), "off", 3, "off");
    let out = common::catar().arg("diff").arg(&off).arg(&off).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("recorded at off level"));
    // Nor to export: an empty table would read as a run without cabinets (it was exit 0).
    for format in ["csv", "json", "perfetto"] {
        let dest = tmp.path().join(format!("off.{format}"));
        let out = common::catar()
            .args(["export", "--what", "program-contexts", "--format", format, "--out"])
            .arg(&dest)
            .arg(&off)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{format}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("recorded at off level: it holds no cabinet or context to export"),
            "{stderr}"
        );
        assert!(!dest.exists(), "{format}: no file is made");
    }
    // Nor to replay: a script's words went unheard, exit 0.
    let script = tmp.path().join("r.cat");
    std::fs::write(&script, "step 5\ninquire REG\n").unwrap();
    let out = common::catar().arg("replay").arg(&off).arg("--script").arg(&script).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("recorded at off level"));
}

#[test]
fn cabinets_first_and_last_times_are_pseudo_times_not_the_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    // 3000 CDRs take several windows; 200 one, whose charge runs before any clock is set.
    let small = tmp.path().join("small");
    common::gen_input(&small, 200, 50, 11, 0.05);
    for (input, name) in [(input(tmp.path()), "t"), (small, "s")] {
        let trace = record(&input, tmp.path(), name, 1, "summary");
        for what in ["node-cabinets", "program-cabinets"] {
            let rows = export(&trace, what);
            let col = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
            let (first, last) = (col("first_time"), col("last_time"));
            for r in &rows[1..] {
                assert!(
                    !r[first].starts_with("1970") && !r[last].starts_with("1970"),
                    "{name} {what}: {r:?}"
                );
                assert!(r[first] <= r[last], "{name} {what}: last before first: {r:?}");
            }
        }
    }
}

#[test]
fn a_diff_says_when_the_runs_restarted_differently() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    let clean = record(&input, tmp.path(), "clean", 1, "summary");
    let faulted = tmp.path().join("faulted.trace");
    run_traced(&input, &tmp.path().join("faulted.db"), &faulted)
        .args(["--segments", "1", "--level", "summary", "--inject-fault", "RATE/0:step=30:times=2"])
        .assert()
        .success();
    // The same database either way; the steps of the undone attempts differ.
    assert_eq!(
        common::dump_db(&tmp.path().join("clean.db")),
        common::dump_db(&tmp.path().join("faulted.db"))
    );
    let out = common::catar().arg("diff").arg(&clean).arg(&faulted).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("note: the runs restarted differently (A: none; B: RATE/0 2)"), "{text}");
    // Runs that restarted alike say nothing of it.
    let out = common::catar().arg("diff").arg(&faulted).arg(&faulted).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("restarted"));
}

#[test]
fn quarantined_records_end_in_the_quarantine_cabinet() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("poison");
    common::gen_poison_input(&input, 3000, 120, 5, 0.003);
    let trace = record(&input, tmp.path(), "q", 1, "summary");
    let db = rusqlite::Connection::open(tmp.path().join("q.db")).unwrap();
    let stored: i64 = db.query_row("SELECT count(*) FROM quarantine", [], |r| r.get(0)).unwrap();
    assert!(stored > 0, "the input has poison rows");
    let rows = export(&trace, "program-cabinets");
    let col = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    let quarantine = rows[1..].iter().find(|r| &r[col("cabinet")] == "QUARANTINE").expect("a QUARANTINE row");
    assert_eq!(quarantine[col("final_mass")].parse::<i64>().unwrap(), stored);
}

#[test]
fn a_trace_without_steps_exports_the_same_columns_and_no_row() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    let some = record(&input, tmp.path(), "some", 1, "summary");
    // A recorded run of no CDR (an off-level trace is refused: it recorded nothing).
    let empty = tmp.path().join("empty");
    common::gen_input(&empty, 0, 120, 11, 0.05);
    let none = record(&empty, tmp.path(), "none", 1, "summary");
    for what in ["node-cabinets", "program-cabinets", "node-contexts", "program-contexts"] {
        let (full, empty) = (export(&some, what), export(&none, what));
        assert!(full.len() > 1, "{what}: rows");
        assert_eq!(empty, full[..1], "{what}: the header alone");
    }
}

#[test]
fn json_export_is_an_array_of_objects() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    let trace = record(&input, tmp.path(), "a", 1, "summary");
    let out = common::catar()
        .arg("export")
        .arg(&trace)
        .args(["--what", "program-cabinets", "--format", "json"])
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert!(rows.iter().any(|r| r["cabinet"] == "RATED" && r["node"] == "*"));
    // A root has no base: null, not an empty text.
    let raw = rows.iter().find(|r| r["cabinet"] == "RAW").unwrap();
    assert!(raw["base"].is_null() && raw["spectrum"].is_null(), "{raw}");
    assert!(rows.iter().any(|r| r["base"] == "RAW"), "{rows:?}");
}

#[test]
fn a_file_that_is_not_a_trace_is_refused_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let bogus = tmp.path().join("bogus.trace");
    std::fs::write(&bogus, b"definitely not a trace").unwrap();
    let out = common::catar().arg("export").arg(&bogus).args(["--what", "node-cabinets"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus.trace"));
}

/// The trace committed in `traces/` must stay readable: a format change bumps the version and
/// either still reads it or refuses it clearly (then regenerate it with the README's command).
/// A replay whose first events chunk is damaged has nothing to stand on: it says where the
/// damage is and exits 2, scripted or not, instead of waiting for motions that cannot move.
#[test]
fn a_replay_of_a_trace_damaged_in_its_first_chunk_ends_with_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    let trace = record(&input, tmp.path(), "a", 1, "full");
    let first = {
        let t = catar::recorder::open_trace(&trace).unwrap();
        let e = t.index().iter().find(|e| e.kind == catar::trace::ChunkKind::Events).unwrap().clone();
        e.offset + u64::from(e.len) / 2
    };
    let mut bytes = std::fs::read(&trace).unwrap();
    bytes[first as usize] ^= 0x55;
    let damaged = tmp.path().join("damaged.trace");
    std::fs::write(&damaged, bytes).unwrap();
    let script = tmp.path().join("s.cat");
    std::fs::write(&script, "nodes\ncontinue\n").unwrap();
    for how in [["--script", script.to_str().unwrap()], ["--headless", "--json"]] {
        let out = common::catar()
            .arg("replay")
            .arg(&damaged)
            .args(how)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(2), "{how:?}: {all}");
        assert!(all.contains("damaged.trace") && all.contains("damaged at byte"), "{how:?}: {all}");
    }
}

/// A trace cut before its first step has nothing to replay, and says so (no stop at a step
/// that is not there).
#[test]
fn a_replay_of_a_trace_cut_before_its_first_step_says_it_holds_none() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    let trace = record(&input, tmp.path(), "a", 1, "full");
    let first = catar::recorder::open_trace(&trace).unwrap().index()[0].offset;
    let cut = tmp.path().join("cut.trace");
    std::fs::write(&cut, &std::fs::read(&trace).unwrap()[..first as usize + 5]).unwrap();
    let out = common::catar()
        .arg("replay")
        .arg(&cut)
        .arg("--headless")
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("cut.trace holds no recorded step: nothing to replay"), "{stdout}");
    assert!(!stdout.contains("stop:"), "{stdout}");
}

#[test]
fn the_sample_trace_still_opens() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/rating-seed1-2000.trace");
    let mut trace = catar::recorder::open_trace(&path).expect("the sample trace opens");
    assert!(trace.complete(), "it has its footer");
    assert_eq!(trace.header().pipeline.nodes, ["REG/0", "REG/1", "RATE/0", "RATE/1", "DIS/0", "DIS/1"]);
    let c = catar::recorder::consolidate(&mut trace).unwrap();
    let wife: Vec<_> = c.program_cabinets.iter().filter(|r| r.cabinet == "WIFE").collect();
    assert_eq!(wife.len(), 1);
    assert!(wife[0].transient);
    let persistent: i64 =
        c.node_cabinets.iter().filter(|r| r.cabinet == "PERSISTENT").map(|r| r.final_mass).sum();
    assert!(persistent > 1900, "most of the 2000 CDRs are persisted: {persistent}");
}

#[test]
fn perfetto_export_has_a_thread_per_node_steps_and_mass_counters() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    let trace = tmp.path().join("a.trace");
    run_traced(&input, &tmp.path().join("a.db"), &trace)
        .args(["--segments", "2", "--level", "summary", "--inject-fault", "RATE/1:step=30:times=2"])
        .assert()
        .success();
    let out = common::catar().arg("export").arg(&trace).args(["--format", "perfetto"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let events = doc["traceEvents"].as_array().unwrap();
    let threads: Vec<&str> = events
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(threads, ["REG/0", "REG/1", "RATE/0", "RATE/1", "DIS/0", "DIS/1"]);
    let (ticks, steps): (Vec<&serde_json::Value>, Vec<&serde_json::Value>) =
        events.iter().filter(|e| e["ph"] == "X").partition(|e| e["cat"] == "tick");
    assert!(steps.len() > 100, "{} steps", steps.len());
    // Each step lies inside the slice of its node's tick, and each slice counts its steps.
    let end = |e: &serde_json::Value| e["ts"].as_u64().unwrap() + e["dur"].as_u64().unwrap();
    for step in &steps {
        let holding: Vec<&&serde_json::Value> = ticks
            .iter()
            .filter(|t| t["tid"] == step["tid"] && t["args"]["tick"] == step["args"]["tick"])
            .filter(|t| t["ts"].as_u64() <= step["ts"].as_u64() && end(step) <= end(t))
            .collect();
        assert_eq!(holding.len(), 1, "{step} in {holding:?}");
    }
    let counted: u64 = ticks.iter().map(|t| t["args"]["steps"].as_u64().unwrap()).sum();
    assert_eq!(counted, steps.len() as u64);
    assert!(events.iter().any(|e| e["ph"] == "X" && e["name"] == "family" && e["cat"] == "collision"));
    assert!(events.iter().any(|e| e["ph"] == "C" && e["args"].get("WIFE").is_some()));
    assert_eq!(events.iter().filter(|e| e["ph"] == "i" && e["name"] == "done").count(), 6);
    // The injected fault: two failures of RATE/1 (thread 4), with their error and restarts.
    let failures: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["ph"] == "i" && e["name"] == "failure").collect();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures.iter().all(|f| f["tid"] == 4 && f["args"]["error"] == "injected fault"));
    assert_eq!(failures[1]["args"]["restarts"], 2);
    // The failed attempts and the retry that went through are one tick: one slice, two failures.
    let failed: Vec<&&serde_json::Value> = ticks.iter().filter(|t| t["args"]["failures"] != 0).collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!((failed[0]["tid"].as_u64(), failed[0]["args"]["failures"].as_u64()), (Some(4), Some(2)));
    // The steps the failures undid say so: RATE/1's in that tick before each failure, not the
    // retry's, which went through.
    let undone: Vec<&&serde_json::Value> = steps.iter().filter(|s| s["args"]["undone"] == true).collect();
    assert!(!undone.is_empty());
    assert!(
        undone.iter().all(|s| s["tid"] == 4 && s["args"]["tick"] == failed[0]["args"]["tick"]),
        "{undone:?}"
    );
    let retried = steps.iter().filter(|s| s["tid"] == 4 && s["args"]["tick"] == failed[0]["args"]["tick"]);
    assert!(retried.count() > undone.len(), "the retry's steps are there and not undone");
}

#[test]
fn a_record_config_selects_nodes_and_a_wrong_field_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    let config = tmp.path().join("rec.toml");
    std::fs::write(&config, "[recorder]\nlevel = \"summary\"\nnodes = \"RATE\"\n").unwrap();
    let trace = tmp.path().join("rate.trace");
    run_traced(&input, &tmp.path().join("r.db"), &trace)
        .args(["--segments", "2", "--record-config"])
        .arg(&config)
        .assert()
        .success();
    let nodes: std::collections::BTreeSet<String> =
        export(&trace, "node-cabinets")[1..].iter().map(|r| r[0].to_string()).collect();
    assert_eq!(nodes.into_iter().collect::<Vec<_>>(), ["RATE/0", "RATE/1"]);

    std::fs::write(&config, "[recorder]\nlevle = \"full\"\n").unwrap();
    let out = run_traced(&input, &tmp.path().join("r2.db"), &tmp.path().join("x.trace"))
        .arg("--record-config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rec.toml") && stderr.contains("levle"), "{stderr}");
    // Nodes the pipeline does not have, and a duration that records nothing, are named too,
    // with the file.
    for (setting, says) in [
        ("nodes = \"FOO\"", "rec.toml: [recorder] nodes = \"FOO\": no such node"),
        ("duration = -5", "`duration`: -5"),
        ("duration = 0", "`duration`: 0 is not positive"),
    ] {
        std::fs::write(&config, format!("[recorder]\n{setting}\n")).unwrap();
        let out = run_traced(&input, &tmp.path().join("r3.db"), &tmp.path().join("y.trace"))
            .arg("--record-config")
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{setting}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{setting}: {stderr}");
    }
}

#[test]
fn a_duration_records_that_much_pseudo_time_from_each_nodes_first_event_time() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    // Each node's step times (seconds; 0 before its clock saw an event).
    let times = |trace: &Path| {
        let mut t = catar::recorder::open_trace(trace).unwrap();
        let mut by_node = std::collections::BTreeMap::<u16, Vec<i64>>::new();
        for i in 0..t.index().len() {
            for e in t.read_chunk(i).unwrap() {
                if let catar::recorder::Event::Step(s) = e {
                    by_node.entry(s.node).or_default().push(s.time);
                }
            }
        }
        by_node
    };
    let whole = times(&record(&input, tmp.path(), "whole", 1, "summary"));
    let span = |t: &Vec<i64>| {
        let known: Vec<i64> = t.iter().copied().filter(|&x| x != 0).collect();
        known.iter().max().unwrap() - known.iter().min().unwrap()
    };
    let duration = span(&whole[&1]) / 2;
    assert!(duration > 0, "the input spans some pseudo-time");
    let config = tmp.path().join("rec.toml");
    std::fs::write(&config, format!("[recorder]\nlevel = \"summary\"\nduration = {duration}\n")).unwrap();
    let trace = tmp.path().join("part.trace");
    run_traced(&input, &tmp.path().join("part.db"), &trace)
        .arg("--record-config")
        .arg(&config)
        .assert()
        .success();
    let part = times(&trace);
    for (node, t) in &part {
        let first = whole[node].iter().copied().find(|&x| x != 0).unwrap();
        let within = whole[node].iter().filter(|&&x| x == 0 || x - first <= duration).count();
        assert_eq!(t.len(), within, "node {node}: the steps up to {duration} s after its first event time");
        assert!(within < whole[node].len(), "node {node}: the run goes on past the duration");
    }
}

#[test]
fn full_level_writes_checkpoints_of_each_nodes_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    // 33 input windows of 1024 rows: every node checkpoints at its ticks 0 and 32.
    common::gen_input(&input, 33 * 1024, 200, 5, 0.0);
    let trace = record(&input, tmp.path(), "full", 1, "full");
    let mut t = catar::recorder::open_trace(&trace).unwrap();
    let kinds: Vec<_> = t.index().iter().map(|e| e.kind).collect();
    let checkpoints: Vec<usize> =
        (0..kinds.len()).filter(|&i| kinds[i] == catar::trace::ChunkKind::Checkpoint).collect();
    assert_eq!(checkpoints.len(), 6, "3 nodes x ticks 0 and 32");
    let p = t.header().pipeline.clone();
    let account = p.cabinets.iter().position(|c| c.name == "ACCOUNT").unwrap() as u16;
    let balance = p.contexts.iter().position(|c| c.name == "BALANCE").unwrap() as u16;
    let mut later_accounts = 0;
    for i in checkpoints {
        let chunk = t.read_chunk(i).unwrap();
        let [catar::recorder::Event::Checkpoint(c)] = &chunk[..] else {
            panic!("a checkpoint chunk holds one checkpoint")
        };
        if c.tick == 0 {
            assert!(c.tables.is_empty(), "nothing is charged before the first tick");
        } else if p.nodes[c.node as usize] == "DIS/0" {
            for (_, rows) in &c.tables {
                for r in rows.iter().filter(|r| r.cabinet == account) {
                    later_accounts += 1;
                    assert!(
                        r.values
                            .iter()
                            .any(|(ctx, v)| *ctx == balance
                                && matches!(v, catar::recorder::TraceValue::Int(_)))
                    );
                }
            }
        }
    }
    assert!(later_accounts > 0, "DIS's balances accumulator is in its tick-32 checkpoint");
}

#[test]
fn accumulate_appends_a_second_run_to_the_same_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    let config = tmp.path().join("acc.toml");
    std::fs::write(&config, "[recorder]\norder = \"ACCUMULATE\"\n").unwrap();
    let trace = tmp.path().join("acc.trace");
    let run = |db: &str| {
        run_traced(&input, &tmp.path().join(db), &trace)
            .arg("--record-config")
            .arg(&config)
            .assert()
            .success();
        let t = catar::recorder::open_trace(&trace).unwrap();
        assert!(t.complete());
        t.index().len()
    };
    let once = run("1.db");
    let twice = run("2.db");
    assert_eq!(twice, 2 * once, "the second run's chunks follow the first's");
}

/// A consolidation over appended runs numbers each run's steps on after the runs before it:
/// a cabinet's first appearance comes no later than its last, and the second run's
/// appearances after the first's.
#[test]
fn an_accumulated_trace_consolidates_with_steps_numbered_on_from_run_to_run() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    let config = tmp.path().join("acc.toml");
    std::fs::write(&config, "[recorder]\norder = \"ACCUMULATE\"\n").unwrap();
    let trace = tmp.path().join("acc.trace");
    for db in ["1.db", "2.db"] {
        run_traced(&input, &tmp.path().join(db), &trace)
            .args(["--segments", "2", "--record-config"])
            .arg(&config)
            .assert()
            .success();
    }
    let single = record(&input, tmp.path(), "single", 2, "summary");
    assert_eq!(catar::recorder::runs(&catar::recorder::open_trace(&trace).unwrap()).len(), 2);
    let last_steps = |trace: &Path, what: &str| -> BTreeMap<(String, String), u64> {
        let rows = export(trace, what);
        rows[1..]
            .iter()
            .map(|r| {
                let (first, last) = (r[2].parse::<u64>().unwrap(), r[4].parse::<u64>().unwrap());
                assert!(first <= last, "{what} of {}: {r:?}", trace.display());
                ((r[0].to_string(), r[1].to_string()), last)
            })
            .collect()
    };
    for what in ["program-cabinets", "node-cabinets"] {
        let (once, twice) = (last_steps(&single, what), last_steps(&trace, what));
        assert_eq!(once.keys().collect::<Vec<_>>(), twice.keys().collect::<Vec<_>>(), "{what}");
        for (row, last) in &once {
            assert!(twice[row] > *last, "{what} {row:?}: {} after two runs, {last} after one", twice[row]);
        }
    }
}

/// Runs appended to one trace each number their steps from the start: a replay and a query
/// read one run (the last, or `--run N`), never the two as one; a run of another level or
/// pipeline is not appended at all.
#[test]
fn a_replay_and_a_query_read_one_run_of_an_accumulated_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    let config = tmp.path().join("acc.toml");
    std::fs::write(&config, "[recorder]\norder = \"ACCUMULATE\"\nlevel = \"full\"\n").unwrap();
    let trace = tmp.path().join("acc.trace");
    let append = |db: &str, segments: &str| {
        run_traced(&input, &tmp.path().join(db), &trace)
            .args(["--segments", segments, "--record-config"])
            .arg(&config)
            .output()
            .unwrap()
    };
    assert!(append("1.db", "1").status.success());
    assert!(append("2.db", "1").status.success());
    let single = record(&input, tmp.path(), "single", 1, "full");
    assert_eq!(catar::recorder::runs(&catar::recorder::open_trace(&trace).unwrap()).len(), 2);
    assert_eq!(catar::recorder::runs(&catar::recorder::open_trace(&single).unwrap()), [0]);

    // A breakpoint on REG's first statement stops once a tick: as often as in one run.
    let form = tmp.path().join("break.toml");
    std::fs::write(&form, "statement = \"charge\"\nnodes = \"REG\"\n").unwrap();
    let stops = |trace: &Path, run: &[&str]| {
        let out = common::catar()
            .arg("replay")
            .arg(trace)
            .args(run)
            .args(["--headless", "--json", "--form"])
            .arg(&form)
            .timeout(std::time::Duration::from_secs(120))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let n = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(r#""event":"stopped""#))
            .count();
        (n, stderr)
    };
    let (once, quiet) = stops(&single, &[]);
    assert!(once > 1 && quiet.is_empty(), "{once} stops: {quiet}");
    let (last, said) = stops(&trace, &[]);
    assert_eq!(last, once, "{said}");
    assert!(said.contains("holds 2 runs") && said.contains("reading run 2"), "{said}");
    assert_eq!(stops(&trace, &["--run", "1"]).0, once);

    // A query follows a record through one run.
    let query = |trace: &Path, run: &[&str]| {
        common::catar()
            .arg("query")
            .arg(trace)
            .args(["--id", "reg_id=27", "--format", "json"])
            .args(run)
            .output()
            .unwrap()
    };
    let touches = |out: &std::process::Output| {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["touches"].as_array().map(Vec::len)
    };
    let (one, appended) = (query(&single, &[]), query(&trace, &["--run", "1"]));
    assert!(touches(&one).is_some_and(|n| n > 0), "{}", String::from_utf8_lossy(&one.stdout));
    assert_eq!(touches(&appended), touches(&one));
    let none = query(&trace, &["--run", "3"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("holds 2 run(s)"));

    // Another pipeline (two segments) is refused, the trace kept as it was.
    let before = std::fs::read(&trace).unwrap();
    let refused = append("3.db", "2");
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("cannot append to trace file") && stderr.contains("acc.trace"), "{stderr}");
    assert_eq!(std::fs::read(&trace).unwrap(), before);
    assert!(!tmp.path().join("3.db").exists(), "refused before the database is made");
    // So is a run recording other nodes: a run shows where the nodes the run before recorded
    // start again, and one recording none of them would read as the same run (it was taken).
    std::fs::write(&config, "[recorder]\norder = \"ACCUMULATE\"\nlevel = \"full\"\nnodes = \"DIS\"\n")
        .unwrap();
    let refused = append("4.db", "1");
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("it records all nodes, this run only DIS"), "{stderr}");
    assert_eq!(std::fs::read(&trace).unwrap(), before);
}

#[test]
fn a_trace_path_that_cannot_be_written_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    let out = run_traced(&input, &tmp.path().join("t.db"), Path::new("/nonexistent-dir/run.trace"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent-dir/run.trace"));
    assert!(!tmp.path().join("t.db").exists(), "refused before any database is made");
    // A directory is no trace file either.
    let out = run_traced(&input, &tmp.path().join("t.db"), tmp.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a directory"));
}

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)] // the fuzz target's shared code: only the checksum repair is used here
mod fuzz_lib;

mod hostile {
    use super::fuzz_lib;
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/traces/rating-seed1-2000.trace")).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// A damaged real trace is refused or read, and whatever is read consolidates and
        /// exports without a panic.
        #[test]
        fn a_damaged_real_trace_never_panics(
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
            repair in any::<bool>(),
        ) {
            let mut bytes = sample();
            for (at, byte) in flips {
                let i = 10 + at % (bytes.len() - 10);
                bytes[i] ^= byte | 1;
            }
            bytes.truncate(10 + cut % (bytes.len() - 9));
            if repair {
                // Past the checksums, so the damage reaches bincode, lz4 and the consolidation.
                fuzz_lib::repair_checksums(&mut bytes);
            }
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("damaged.trace");
            std::fs::write(&path, &bytes).unwrap();
            if let Ok(mut trace) = catar::recorder::open_trace(&path) {
                let _ = catar::recorder::consolidate(&mut trace);
                let _ = catar::export::perfetto(&mut trace, &mut std::io::sink());
            }
        }
    }
}

#[test]
fn recording_does_not_change_what_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    let plain = tmp.path().join("plain.db");
    common::run(&input, &plain, 2);
    record(&input, tmp.path(), "full", 2, "full");
    assert_eq!(common::dump_db(&plain), common::dump_db(&tmp.path().join("full.db")));
}
