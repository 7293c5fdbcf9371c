//! A trace with one flipped byte, read by the real binary: every command names the damaged
//! chunk (its node and steps) and what of the file is apart from it, and a replay says it once
//! and ends (exit 2) instead of waiting for a stop that cannot come.

mod common;

use std::path::{Path, PathBuf};

use catar::recorder::{Level, RecorderSettings, open_trace};
use catar::trace::{ChunkKind, IndexEntry};

/// A full trace of 3000 CDRs through 1 segment, 8 rows a tick: enough steps that RATE/0's
/// events fill several chunks.
fn recorded(dir: &Path) -> PathBuf {
    let input = dir.join("in");
    common::gen_input(&input, 3000, 120, 11, 0.05);
    let trace = dir.join("a.trace");
    let mut opts = catar::rating::RunOptions::new(&input, dir.join("a.db"));
    opts.segments = 1;
    opts.window = 8;
    opts.record =
        Some((trace.clone(), RecorderSettings { level: Level::Full, ..RecorderSettings::default() }));
    catar::rating::run(&opts, &catar::engine::NoHook).unwrap();
    trace
}

/// A copy of `trace` with a byte flipped in the middle of RATE/0's second events chunk; that
/// chunk's index entry, how many events chunks RATE/0 has, and how many chunks the file has.
fn damaged(trace: &Path) -> (PathBuf, IndexEntry, usize, usize) {
    let t = open_trace(trace).unwrap();
    let rate0 = t.header().pipeline.nodes.iter().position(|n| n == "RATE/0").unwrap() as u16;
    let chunks: Vec<&IndexEntry> =
        t.index().iter().filter(|e| e.meta.node == rate0 && e.kind == ChunkKind::Events).collect();
    assert!(chunks.len() >= 3, "RATE/0 has {} events chunk(s)", chunks.len());
    let hit = chunks[1].clone();
    let mut bytes = std::fs::read(trace).unwrap();
    bytes[(hit.offset + u64::from(hit.len) / 2) as usize] ^= 0x55;
    let path = trace.with_file_name("damaged.trace");
    std::fs::write(&path, bytes).unwrap();
    (path, hit, chunks.len(), t.index().len())
}

/// A command's exit code and everything it printed.
fn run(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    // A guard, not a wait: a replay that waits for ever fails here instead of hanging.
    let out = common::catar().args(args).timeout(std::time::Duration::from_secs(120)).output().unwrap();
    (
        out.status.code(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn a_damaged_chunk_is_named_once_by_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = recorded(tmp.path());
    let (bad, hit, of, all) = damaged(&trace);
    let (first, last) = (hit.meta.first_step, hit.meta.last_step);
    let named =
        format!("damaged.trace: RATE/0's events chunk 2 of {of} (global steps {first}–{last}, pseudo-time ");
    let rest = format!(
        "is damaged at byte {}: checksum mismatch; the file's {} other chunk(s) are apart from it (RATE/0's steps \
         before global step {first}, and the other nodes')",
        hit.offset,
        all - 1
    );
    let script = tmp.path().join("s.cat");
    std::fs::write(&script, "step 100000 RATE/0\n").unwrap();
    let os = |s: &str| std::ffi::OsString::from(s);
    let commands: Vec<Vec<std::ffi::OsString>> = vec![
        vec![os("export"), bad.clone().into(), os("--what"), os("node-cabinets")],
        vec![os("export"), bad.clone().into(), os("--format"), os("perfetto")],
        vec![os("diff"), trace.clone().into(), bad.clone().into()],
        // A light context is looked for in every chunk.
        vec![os("query"), bad.clone().into(), os("--id"), os("SERVICE=VOICE")],
        vec![os("replay"), bad.clone().into(), os("--script"), script.clone().into()],
        vec![os("replay"), bad.clone().into(), os("--headless")],
        vec![os("replay"), bad.clone().into(), os("--headless"), os("--json")],
    ];
    for args in commands {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let (code, all) = run(&args);
        assert_eq!(code, Some(2), "{args:?}: {all}");
        assert_eq!(all.matches(&named).count(), 1, "{args:?}: said once: {all}");
        assert!(all.contains(&rest), "{args:?}: {all}");
        assert!(!all.contains("cannot encode"), "{args:?}: a read, not an encoding, failed: {all}");
    }
}

#[test]
fn a_damaged_header_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = recorded(tmp.path());
    let mut bytes = std::fs::read(&trace).unwrap();
    bytes[40] ^= 0x55;
    std::fs::write(&trace, bytes).unwrap();
    let (code, all) =
        run(&["export".as_ref(), trace.as_os_str(), "--what".as_ref(), "node-cabinets".as_ref()]);
    assert_eq!(code, Some(2), "{all}");
    assert!(
        all.contains(
            "a.trace: its header (the pipeline described) is damaged at byte 10: checksum mismatch; no chunk can be \
             read without it"
        ),
        "{all}"
    );
}

#[test]
fn a_query_reads_past_damaged_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = recorded(tmp.path());
    let keys =
        open_trace(&trace).unwrap().index().iter().find(|e| e.kind == ChunkKind::Keys).unwrap().clone();
    let mut bytes = std::fs::read(&trace).unwrap();
    bytes[(keys.offset + u64::from(keys.len) / 2) as usize] ^= 0x55;
    let bad = tmp.path().join("damaged.trace");
    std::fs::write(&bad, bytes).unwrap();
    // Keys only rule chunks out: without them the events are read whole, to the same answer.
    let query = |t: &Path| run(&["query".as_ref(), t.as_os_str(), "--id".as_ref(), "reg_id=44".as_ref()]);
    let (code, answer) = query(&bad);
    assert_eq!(code, Some(0), "{answer}");
    assert_eq!(answer.replace("damaged.trace", "a.trace"), query(&trace).1);
}
