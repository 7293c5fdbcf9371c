//! Replay seeking at scale: synthetic full-level traces of 1M and 10M steps (four nodes, a
//! record charged and one retired every step, checkpoints every 32 ticks as the recorder writes
//! them), then the median time of `goto` to a random step and of `back 1` at the end, and
//! their 10M/1M ratio (a scan would give 10×; the goal is ≤ 2× and < 50 ms at 10M).
//!
//! Also the time of `catar query` for one identifier (goal < 1 s at 10M), which reads the keys
//! chunks and decodes only the chunks they do not rule out.
//!
//! `cargo bench --bench replay` (SIZES=1000000,10000000 and GOTOS=100 by default). The traces
//! are kept in target/bench-replay/ and reused; the peak memory of a replay over one of them:
//! `/usr/bin/time -v target/release/catar replay target/bench-replay/10000000.trc --script S`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use catar::recorder::{
    CabinetDesc, Changes, Checkpoint, ChunkKeys, ContextDesc, EVENTS_VERSION, Event, Level, PipelineDesc,
    RecorderSettings, RowSnapshot, StageDesc, StatementDesc, Step, TraceHeader, TraceValue,
};
use catar::replay::Cursor;
use catar::trace::{ChunkKind, ChunkMeta, TraceWriter};

const NODES: u64 = 4;
const STATEMENTS: u64 = 8;
/// As the recorder: a checkpoint every 32 ticks, at most 2048 events a chunk.
const CHECKPOINT_TICKS: u64 = 32;
const CHUNK: usize = 2048;
/// Live rows a node keeps: a record retires when this many are younger.
const WINDOW: u64 = 64;

fn desc() -> PipelineDesc {
    let stage = |name: &str| StageDesc {
        name: name.into(),
        segments: 2,
        statements: (0..STATEMENTS)
            .map(|i| StatementDesc {
                name: format!("s{i}"),
                op: "state".into(),
                text: format!("statement {i}"),
            })
            .collect(),
        tables: vec![("T".into(), "Reactor(Driving)".into())],
    };
    let cabinet = |name: &str| CabinetDesc {
        name: name.into(),
        kind: "regular".into(),
        base: None,
        members: vec![],
        contexts: vec![0, 1],
    };
    PipelineDesc {
        contexts: vec![
            ContextDesc { name: "K".into(), heavy: true },
            ContextDesc { name: "V".into(), heavy: false },
        ],
        cabinets: vec![cabinet("DISARMED"), cabinet("IN"), cabinet("OUT")],
        stages: vec![stage("A"), stage("B")],
        nodes: vec!["A/0".into(), "A/1".into(), "B/0".into(), "B/1".into()],
    }
}

fn row(reg_id: u64, cabinet: u16) -> RowSnapshot {
    RowSnapshot {
        reg_id,
        cabinet,
        linkey: 0,
        link_to: 0,
        skip: false,
        values: vec![
            (0, TraceValue::Int(reg_id as i64)),
            (1, TraceValue::Text(format!("v{}", reg_id % 97).into())),
        ],
    }
}

/// Write a trace of `steps` steps; global step g is node g % 4's step g / 4.
fn write(path: &Path, steps: u64) {
    let header = TraceHeader {
        events_version: EVENTS_VERSION,
        pipeline: desc(),
        settings: RecorderSettings { level: Level::Full, ..RecorderSettings::default() },
        input: None,
        options: None,
    };
    let mut w = TraceWriter::<TraceHeader, Vec<Event>>::create(path, &header).expect("create");
    let mut buffers: Vec<(Vec<Event>, Option<ChunkMeta>)> = (0..NODES).map(|_| (Vec::new(), None)).collect();
    let flush = |w: &mut TraceWriter<TraceHeader, Vec<Event>>, b: &mut (Vec<Event>, Option<ChunkMeta>)| {
        if let Some(meta) = b.1.take() {
            w.write_chunk(ChunkKind::Events, meta.clone(), &b.0).expect("write");
            // As the recorder: the chunk's keys (K is the identifier) after it.
            let keys = vec![Event::Keys(Box::new(ChunkKeys::of(&b.0, &[true, false], &[true])))];
            w.write_chunk(ChunkKind::Keys, meta, &keys).expect("write");
            b.0.clear();
        }
    };
    for g in 0..steps {
        let node = g % NODES;
        let node_step = g / NODES;
        let (tick, statement) = (node_step / STATEMENTS, node_step % STATEMENTS);
        let time = 1_760_000_000 + node_step as i64;
        // Live rows of this node now: the last WINDOW records it charged (reg_id = their step).
        let live = |upto: u64| (upto.saturating_sub(WINDOW)..upto).map(move |s| s * NODES + node);
        if statement == 0 && tick.is_multiple_of(CHECKPOINT_TICKS) {
            let rows = live(node_step).map(|r| row(r, if r.is_multiple_of(3) { 2 } else { 1 })).collect();
            let cp = Checkpoint {
                node: node as u16,
                tick,
                node_step,
                global_step: g,
                time,
                tables: vec![(0, rows)],
            };
            let meta = ChunkMeta {
                node: node as u16,
                first_step: g,
                last_step: g,
                first_time: time,
                last_time: time,
            };
            w.write_chunk(ChunkKind::Checkpoint, meta, &vec![Event::Checkpoint(Box::new(cp))])
                .expect("write");
        }
        let reg = g;
        let mut transitions = vec![(0, reg, 0, 1)];
        if node_step >= WINDOW {
            let old = (node_step - WINDOW) * NODES + node;
            transitions.push((0, old, if old.is_multiple_of(3) { 2 } else { 1 }, 0));
        }
        if reg.is_multiple_of(3) {
            transitions.push((0, reg, 1, 2));
        }
        let snapshot = row(reg, 1);
        let step = Step {
            node: node as u16,
            node_step,
            global_step: g,
            statement: statement as u16,
            tick,
            time,
            changes: Some(Changes {
                transitions,
                runs: vec![(0, reg, 1, 2)],
                values: snapshot.values,
                ..Changes::default()
            }),
            ..Step::default()
        };
        let b = &mut buffers[node as usize];
        let meta = b.1.get_or_insert(ChunkMeta {
            node: node as u16,
            first_step: g,
            last_step: g,
            first_time: time,
            last_time: time,
        });
        meta.last_step = g;
        meta.last_time = time;
        b.0.push(Event::Step(step));
        if b.0.len() >= CHUNK {
            flush(&mut w, b);
        }
    }
    for b in &mut buffers {
        flush(&mut w, b);
    }
    w.finish().expect("finish");
}

fn trace(steps: u64) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-replay");
    std::fs::create_dir_all(&dir).expect("bench dir");
    // Named by events version: a change of the events regenerates the traces.
    let path = dir.join(format!("{steps}-e{EVENTS_VERSION}.trc"));
    if Cursor::open(&path).is_err() {
        let t = Instant::now();
        write(&path, steps);
        eprintln!(
            "wrote {} ({} MB) in {:.1?}",
            path.display(),
            path.metadata().unwrap().len() >> 20,
            t.elapsed()
        );
    }
    path
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A small deterministic generator: the same targets every run.
fn targets(n: usize, below: u64) -> Vec<u64> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % below
        })
        .collect()
}

/// (open, median goto, median back 1 at the end, median query of one identifier).
fn measure(steps: u64, gotos: usize) -> (Duration, Duration, Duration, Duration) {
    let path = trace(steps);
    let t = Instant::now();
    let mut c = Cursor::open(&path).expect("open");
    let open = t.elapsed();
    let mut goto = Vec::new();
    for g in targets(gotos, steps) {
        let t = Instant::now();
        let m = c.step_from(g).expect("read").expect("a step");
        c.seek(m.global_step).expect("seek");
        goto.push(t.elapsed());
    }
    let end = c.end().expect("end");
    let mut back = Vec::new();
    for _ in 0..gotos {
        c.seek(end).expect("seek");
        let t = Instant::now();
        let m = c.step_before(end, None).expect("read").expect("a step");
        c.seek(m.global_step).expect("seek");
        back.push(t.elapsed());
    }
    // The history of one record by its identifier, as `catar query` answers it.
    let mut query = Vec::new();
    for g in targets(5, steps) {
        let t = Instant::now();
        let mut trace = catar::recorder::open_trace(&path).expect("open");
        let h = catar::replay::query(&mut trace, "bench", &format!("K={g}")).expect("query");
        assert!(!h.touches.is_empty(), "K={g} is found");
        query.push(t.elapsed());
    }
    (open, median(goto), median(back), median(query))
}

fn main() {
    let sizes: Vec<u64> = std::env::var("SIZES")
        .unwrap_or_else(|_| "1000000,10000000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("SIZES: numbers"))
        .collect();
    let gotos = std::env::var("GOTOS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let mut results = Vec::new();
    for &s in &sizes {
        let (open, goto, back, query) = measure(s, gotos);
        println!(
            "{s:>10} steps: open {open:>9.2?}  goto (median of {gotos}) {goto:>9.2?}  \
             back 1 at the end {back:>9.2?}  query one id {query:>9.2?}"
        );
        results.push((s, goto, back));
    }
    if let (Some(a), Some(b)) = (results.first(), results.last())
        && a.0 != b.0
    {
        let ratio = |x: Duration, y: Duration| x.as_secs_f64() / y.as_secs_f64();
        println!("ratio {}/{}: goto {:.2}x, back 1 {:.2}x", b.0, a.0, ratio(b.1, a.1), ratio(b.2, a.2));
    }
}
