//! `catar query TRACE --id NAME=VALUE`: a record's history across nodes and cabinets, checked
//! against the database the same run wrote and against the input.

mod common;

use std::path::Path;

use common::{catar, gen_input};

/// A rated input with a full trace: (db, trace).
fn recorded(dir: &Path, bad_rate: f64) -> (std::path::PathBuf, std::path::PathBuf) {
    gen_input(dir, 1500, 100, 3, bad_rate);
    rate_recorded(dir)
}

/// Rate the input in `dir` with a full trace: (db, trace).
fn rate_recorded(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (db, trace) = (dir.join("x.db"), dir.join("full.trace"));
    catar()
        .args(["run", "--headless", "--segments", "2", "--level", "full", "--input"])
        .arg(dir)
        .arg("--db")
        .arg(&db)
        .arg("--trace")
        .arg(&trace)
        .assert()
        .success();
    (db, trace)
}

fn query_json(trace: &Path, id: &str) -> serde_json::Value {
    let out = catar().arg("query").arg(trace).args(["--id", id, "--format", "json"]).assert().success();
    serde_json::from_slice(&out.get_output().stdout).expect("json")
}

fn one(db: &Path, sql: &str) -> (String, String) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(sql, [], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).unwrap()
}

#[test]
fn a_rated_record_goes_reg_rate_dis_and_its_amount_is_the_stored_one() {
    let dir = tempfile::tempdir().unwrap();
    let (db, trace) = recorded(dir.path(), 0.05);
    let (event, amount) =
        one(&db, "SELECT event_id, CAST(amount AS TEXT) FROM persistent ORDER BY event_id LIMIT 1 OFFSET 17");
    let h = query_json(&trace, &format!("EVENT_ID={event}"));
    assert_eq!(h["records"].as_array().unwrap().len(), 1, "{h}");
    let touches = h["touches"].as_array().unwrap();
    let steps: Vec<u64> = touches.iter().map(|t| t["global_step"].as_u64().unwrap()).collect();
    assert!(steps.windows(2).all(|w| w[0] <= w[1]), "in step order");
    // Its stages in pipeline order, each entered once.
    let mut stages: Vec<String> =
        touches.iter().map(|t| t["node"].as_str().unwrap().split('/').next().unwrap().to_string()).collect();
    stages.dedup();
    assert_eq!(stages, ["REG", "RATE", "DIS"]);
    // Integers as JSON numbers, as an inquiry's rows give them (they were strings).
    let priced: Vec<i64> = touches.iter().filter_map(|t| t["set"]["AMOUNT"].as_i64()).collect();
    assert_eq!(priced.first().map(i64::to_string), Some(amount), "the AMOUNT set is the one stored");
    assert_eq!(touches.last().unwrap()["after"], "PERSISTENT");
    assert_eq!(h["metrics"]["records_per_cabinet"], serde_json::json!({"PERSISTENT": 1}));
    // The same history as CSV: a stable header, one row per touch.
    let out = catar()
        .arg("query")
        .arg(&trace)
        .args(["--id", &format!("EVENT_ID={event}"), "--format", "csv"])
        .assert()
        .success();
    let mut csv = csv::Reader::from_reader(&out.get_output().stdout[..]);
    let header: Vec<String> = csv.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "global_step",
            "node",
            "step",
            "statement",
            "pseudo_time",
            "table",
            "reg_id",
            "before",
            "after",
            "set",
            "contexts",
            "undone"
        ]
    );
    assert_eq!(csv.records().count(), touches.len());
    // And as text, for a person.
    let text =
        catar().arg("query").arg(&trace).args(["--id", &format!("EVENT_ID={event}")]).assert().success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).into_owned();
    assert!(text.contains("RATED -> ") || text.contains("-> RATED"), "{text}");
    assert!(text.contains("records per final cabinet: PERSISTENT 1"), "{text}");
}

#[test]
fn a_rejected_record_ends_in_rejected_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (db, trace) = recorded(dir.path(), 0.05);
    let (event, reason) = one(
        &db,
        "SELECT event_id, reason FROM rejected WHERE reason = 'unknown_imsi' ORDER BY event_id LIMIT 1",
    );
    let h = query_json(&trace, &format!("event_id={event}"));
    let last = h["touches"].as_array().unwrap().iter().rev().find(|t| t["after"] != "").unwrap().clone();
    assert_eq!(last["after"], "REJECTED", "{h}");
    assert_eq!(last["contexts"]["REASON"], reason.as_str());
    assert!(h["touches"].as_array().unwrap().iter().all(|t| t["node"].as_str().unwrap().starts_with("REG")));
}

#[test]
fn a_key_finds_every_record_that_carries_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_, trace) = recorded(dir.path(), 0.0);
    let cdrs = std::fs::read_to_string(dir.path().join("cdrs.csv")).unwrap();
    let imsi = cdrs.lines().nth(5).unwrap().split(',').nth(3).unwrap().to_string();
    let rows = cdrs.lines().skip(1).filter(|l| l.split(',').nth(3) == Some(imsi.as_str())).count();
    let h = query_json(&trace, &format!("IMSI={imsi}"));
    assert_eq!(h["records"].as_array().unwrap().len(), rows);
    let ended: u64 =
        h["metrics"]["records_per_cabinet"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(ended as usize, rows, "every record ends somewhere");
    // Each node passes a record through its cabinets within the tick it arrives in: no
    // pseudo-time goes by in any of them, however far the clock moves during that tick.
    let seconds = h["metrics"]["seconds_in_cabinet"].as_object().unwrap();
    assert!(!seconds.is_empty() && seconds.values().all(|s| s.as_i64() == Some(0)), "{seconds:?}");

    // As text, a value many records share names the first ten of them.
    let out = catar().arg("query").arg(&trace).args(["--id", "SERVICE=VOICE"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let head = text.lines().next().unwrap();
    assert!(head.contains("… ") && head.contains(" more)") && head.len() < 200, "{head}");
    // A reader that stops early (`| head -1`) ends the query quietly, as a success.
    for format in ["text", "csv", "json"] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_catar"))
            .arg("query")
            .arg(&trace)
            .args(["--id", "SERVICE=VOICE", "--format", format])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 16];
        std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{format}: {stderr}");
        assert!(out.stderr.is_empty(), "{format}: {stderr}");
    }
}

/// A stage recorded alone keys the values its records arrive with (recording every stage, only
/// the first does: the others' arrivals carry the same values, found there): a search finds
/// them either way.
#[test]
fn a_stage_recorded_alone_is_searched_by_its_own_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (db, all) = recorded(dir.path(), 0.0);
    let (event, _) = one(&db, "SELECT event_id, imsi FROM persistent ORDER BY event_id LIMIT 1 OFFSET 9");
    // A SESSION_ID: DIS sets it on no record (its de-escalate drops it), records arrive with it.
    let cdrs = std::fs::read_to_string(dir.path().join("cdrs.csv")).unwrap();
    let session =
        cdrs.lines().find(|l| l.starts_with(&format!("{event},"))).unwrap().split(',').nth(1).unwrap();
    let config = dir.path().join("dis.toml");
    std::fs::write(&config, "[recorder]\nlevel = \"full\"\nnodes = \"DIS\"\n").unwrap();
    let dis = dir.path().join("dis.trace");
    catar()
        .args(["run", "--headless", "--segments", "2", "--input"])
        .arg(dir.path())
        .arg("--db")
        .arg(dir.path().join("dis.db"))
        .arg("--trace")
        .arg(&dis)
        .arg("--record-config")
        .arg(&config)
        .assert()
        .success();
    let id = format!("SESSION_ID={session}");
    let (h_all, h_dis) = (query_json(&all, &id), query_json(&dis, &id));
    assert_eq!(h_dis["records"], h_all["records"], "the same record found");
    let dis_touches = |h: &serde_json::Value| -> Vec<serde_json::Value> {
        let t = h["touches"].as_array().unwrap().iter();
        t.filter(|t| t["node"].as_str().unwrap().starts_with("DIS")).map(|t| t["set"].clone()).collect()
    };
    assert!(!dis_touches(&h_dis).is_empty(), "{h_dis}");
    assert_eq!(dis_touches(&h_dis), dis_touches(&h_all), "and the same steps of DIS");
}

#[test]
fn wrong_queries_say_why() {
    let dir = tempfile::tempdir().unwrap();
    gen_input(dir.path(), 200, 20, 1, 0.0);
    let summary = dir.path().join("summary.trace");
    catar()
        .args(["run", "--headless", "--input"])
        .arg(dir.path())
        .arg("--db")
        .arg(dir.path().join("s.db"))
        .arg("--trace")
        .arg(&summary)
        .assert()
        .success();
    let err = |args: &[&str], code: i32| {
        let out = catar().arg("query").args(args).assert().code(code);
        String::from_utf8_lossy(&out.get_output().stderr).into_owned()
    };
    let s = summary.to_str().unwrap();
    assert!(err(&[s, "--id", "reg_id=3"], 2).contains("--level full"));
    let (_, full) = recorded(&dir.path().join("f"), 0.0);
    let f = full.to_str().unwrap();
    let e = err(&[f, "--id", "COLOUR=red"], 2);
    assert!(e.contains("COLOUR") && e.contains("EVENT_ID"), "{e}");
    assert!(err(&[f, "--id", "EVENT_ID"], 2).contains("NAME=VALUE"));
    assert!(
        err(&[f, "--id", "EVENT_ID=nothing-like-it"], 1).contains("no record has EVENT_ID=nothing-like-it")
    );
    // As text, nothing to read but the message.
    let out = catar().arg("query").args([f, "--id", "EVENT_ID=nothing-like-it"]).assert().code(1);
    assert!(out.get_output().stdout.is_empty());
    assert!(err(&["/nonexistent.trace", "--id", "reg_id=1"], 2).contains("/nonexistent.trace"));
    // A reg_id the trace never saw is not found either; as text, no (empty) file is made.
    assert!(err(&[f, "--id", "reg_id=999999"], 1).contains("no record has reg_id=999999"));
    let out = dir.path().join("q.txt");
    assert!(err(&[f, "--id", "reg_id=999999", "--out", out.to_str().unwrap()], 1).contains("no record"));
    assert!(!out.exists());
    // An output that cannot be written is an error (2), named: 1 means "not found".
    if Path::new("/dev/full").exists() {
        let e = err(&[f, "--id", "reg_id=3", "--out", "/dev/full"], 2);
        assert!(e.contains("cannot write /dev/full"), "{e}");
        let out =
            catar().arg("export").arg(f).args(["--what", "node-contexts", "--out", "/dev/full"]).assert();
        let e = String::from_utf8_lossy(&out.code(2).get_output().stderr).into_owned();
        assert!(e.contains("cannot write /dev/full"), "{e}");
    }
}

/// The keys chunks only let a search skip chunks: without them (a trace copied chunk by chunk
/// minus its keys, as an older catar wrote it) every answer is the same.
#[test]
fn keys_skip_chunks_without_changing_any_answer() {
    use catar::recorder::{Chunk, Event, TraceHeader, open_trace};
    use catar::trace::{ChunkKind, TraceWriter};
    let dir = tempfile::tempdir().unwrap();
    let (db, trace) = recorded(dir.path(), 0.05);
    let bare = dir.path().join("bare.trace");
    let mut t = open_trace(&trace).unwrap();
    let mut w = TraceWriter::<TraceHeader, Chunk>::create(&bare, t.header()).unwrap();
    let index = t.index().to_vec();
    let keys = index.iter().filter(|e| e.kind == ChunkKind::Keys).count();
    let events = index.iter().filter(|e| e.kind == ChunkKind::Events).count();
    assert_eq!(keys, events, "every events chunk of a full trace has its keys");
    for (i, e) in index.iter().enumerate() {
        let chunk = t.read_chunk(i).unwrap();
        if e.kind == ChunkKind::Keys {
            assert!(matches!(chunk.as_slice(), [Event::Keys(_)]));
        } else {
            w.write_chunk(e.kind, e.meta.clone(), &chunk).unwrap();
        }
    }
    w.finish().unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut ids: Vec<String> = ["event_id", "imsi"]
        .iter()
        .map(|c| {
            let sql = format!("SELECT {c} FROM persistent ORDER BY event_id LIMIT 1 OFFSET 40");
            format!("{}={}", c.to_uppercase(), conn.query_row(&sql, [], |r| r.get::<_, String>(0)).unwrap())
        })
        .collect();
    ids.extend(["reg_id=77".to_string(), "SERVICE=VOICE".to_string()]);
    for id in ids {
        assert_eq!(query_json(&trace, &id), query_json(&bare, &id), "{id}");
    }
    for t in [&trace, &bare] {
        let out = catar().arg("query").arg(t).args(["--id", "EVENT_ID=EV999999999"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("no record has EVENT_ID=EV999999999"));
    }
}

/// Keys of another events version (5 hashed values another way) are not trusted: a trace
/// whose keys would rule every chunk out still answers, when its header says version 5.
#[test]
fn keys_of_another_events_version_are_ignored() {
    use catar::recorder::{ChangesBefore10, ChunkKeys, Event, TraceHeader, open_trace, read_events};
    use catar::trace::{ChunkKind, TraceWriter};
    let dir = tempfile::tempdir().unwrap();
    let (db, trace) = recorded(dir.path(), 0.0);
    let mut t = open_trace(&trace).unwrap();
    let header = TraceHeader { events_version: 5, ..t.header().clone() };
    let old = dir.path().join("v5.trace");
    let mut w = TraceWriter::<TraceHeader, Vec<Event<ChangesBefore10>>>::create(&old, &header).unwrap();
    let index = t.index().to_vec();
    for (i, e) in index.iter().enumerate() {
        let chunk = if e.kind == ChunkKind::Keys {
            // Keys that rule out everything: no bit set, and no reg_id range.
            vec![Event::Keys(Box::new(ChunkKeys { reg_ids: None, bloom: vec![0; 4], hashes: 6 }))]
        } else {
            read_events(&mut t, i)
                .unwrap()
                .into_iter()
                .map(|e| e.map_changes(ChangesBefore10::from))
                .collect()
        };
        w.write_chunk(e.kind, e.meta.clone(), &chunk).unwrap();
    }
    w.finish().unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let event: String = conn
        .query_row("SELECT event_id FROM persistent ORDER BY event_id LIMIT 1 OFFSET 9", [], |r| r.get(0))
        .unwrap();
    let id = format!("EVENT_ID={event}");
    // The same records and steps.
    let (a, b) = (query_json(&old, &id), query_json(&trace, &id));
    assert_eq!(a["records"], b["records"]);
    let steps = |h: &serde_json::Value| -> Vec<(u64, String, String)> {
        // Less the de-escalate's copy into PERSISTENT, which version 5's shape cannot hold.
        let touches = h["touches"].as_array().unwrap().iter();
        touches
            .filter(|t| t["statement"] != "de-escalate" || t["table"] != "PERSISTENT")
            .map(|t| (t["global_step"].as_u64().unwrap(), t["node"].to_string(), t["after"].to_string()))
            .collect()
    };
    assert_eq!(steps(&a), steps(&b));
    assert!(!steps(&a).is_empty());
}

#[test]
fn a_poison_rows_history_shows_its_undone_attempts_and_its_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_poison_input(dir.path(), 1500, 100, 3, 0.01);
    let (db, trace) = rate_recorded(dir.path());
    let (event, error) = one(&db, "SELECT event_id, error FROM quarantine ORDER BY line LIMIT 1");
    let h = query_json(&trace, &format!("EVENT_ID={event}"));
    let touches = h["touches"].as_array().unwrap();
    let last = touches.last().unwrap();
    assert_eq!(
        (last["statement"].as_str(), last["after"].as_str()),
        (Some("(quarantine)"), Some("QUARANTINE"))
    );
    assert_eq!(last["set"]["ERROR"].as_str(), Some(error.as_str()));
    // Every RATE step it went through was undone with that error: it never got rated.
    let rate: Vec<&serde_json::Value> =
        touches.iter().filter(|t| t["node"].as_str().unwrap().starts_with("RATE") && t != &last).collect();
    assert!(!rate.is_empty());
    assert!(rate.iter().all(|t| t["undone"].as_str() == Some(error.as_str())), "{rate:?}");
    let failures = h["metrics"]["failures"].as_u64().unwrap();
    assert!(failures >= 3, "it failed alone three times, and in bigger halves before: {failures}");
    assert_eq!(h["metrics"]["records_per_cabinet"], serde_json::json!({"QUARANTINE": 1}));
    // The text says so too.
    let out =
        catar().arg("query").arg(&trace).args(["--id", &format!("EVENT_ID={event}")]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains(&format!("(undone: {error})")) && text.contains("-> QUARANTINE"), "{text}");
    // The quarantine stands, whatever failed after it in the same tick.
    assert!(last.get("undone").is_none(), "{last}");

    // Its neighbours (same IMSI: the same RATE node, retried with it in halves) went through:
    // the attempt that rated them stands, only the ones that failed with the poison row are
    // undone.
    let imsi = touches[0]["contexts"]["IMSI"].as_str().unwrap();
    let n = query_json(&trace, &format!("IMSI={imsi}"));
    let poison = h["records"][0].as_u64().unwrap();
    let mut retried = 0;
    for r in n["records"].as_array().unwrap().iter().map(|r| r.as_u64().unwrap()).filter(|&r| r != poison) {
        let mine: Vec<&serde_json::Value> =
            n["touches"].as_array().unwrap().iter().filter(|t| t["reg_id"].as_u64() == Some(r)).collect();
        let rated = mine.iter().filter(|t| t["node"].as_str().unwrap().starts_with("RATE"));
        let rated: Vec<_> = rated.filter(|t| t["after"].as_str() == Some("RATED")).collect();
        if mine.iter().any(|t| t.get("undone").is_some()) {
            retried += 1;
        }
        if mine.iter().any(|t| t["after"].as_str() == Some("PERSISTENT")) {
            assert!(rated.iter().any(|t| t.get("undone").is_none()), "reg_id {r} was rated: {mine:#?}");
        }
    }
    assert!(retried > 0, "some neighbour was in a failed attempt with the poison row");
    let seconds = n["metrics"]["seconds_in_cabinet"].as_object().unwrap();
    assert!(seconds.values().all(|s| s.as_i64().unwrap() >= 0), "{seconds:?}");
}
