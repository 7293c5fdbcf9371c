//! `catar export --format perfetto`: the picture of a run as Chrome trace-event JSON, which
//! ui.perfetto.dev and chrome://tracing open: one thread per node with each tick as a complete
//! event holding its steps' (wall-clock time), each node's cabinet masses as counters, each
//! node's failures, checkpoints and end as instants. Steps a failure undid say so. Written
//! event by event: a trace of millions of steps holds no more than each node's current
//! attempt at a tick.

use std::io::Write;

use serde_json::json;

use super::ExportError;
use crate::recorder::{Event, PipelineDesc, Step, Trace, read_events_skipped};

fn write_event(out: &mut dyn Write, first: &mut bool, event: &serde_json::Value) -> Result<(), ExportError> {
    if !std::mem::take(first) {
        out.write_all(b",\n")?;
    }
    Ok(serde_json::to_writer(&mut *out, event)?)
}

/// Write a node's attempt at a tick, its steps marked when a failure undid them.
fn flush(
    out: &mut dyn Write,
    first: &mut bool,
    steps: &mut Vec<serde_json::Value>,
    undone: bool,
) -> Result<(), ExportError> {
    for mut step in steps.drain(..) {
        if undone {
            step["args"]["undone"] = json!(true);
        }
        write_event(out, first, &step)?;
    }
    Ok(())
}

/// The tick a node is in, drawn as one slice over its steps once the node leaves it.
struct Tick {
    tick: u64,
    start: u64,
    end: u64,
    steps: u64,
    failures: u32,
}

impl Tick {
    fn slice(&self, node: usize) -> serde_json::Value {
        json!({"ph": "X", "pid": 1, "tid": node + 1, "name": format!("tick {}", self.tick), "cat": "tick",
               "ts": self.start, "dur": (self.end - self.start).max(1),
               "args": {"tick": self.tick, "steps": self.steps, "failures": self.failures}})
    }
}

/// Write the whole trace as trace-event JSON.
pub fn perfetto(trace: &mut Trace, out: &mut dyn Write) -> Result<(), ExportError> {
    let p = trace.header().pipeline.clone();
    let stage_of = |node: u16| {
        let name = p.nodes.get(node as usize).map_or("", String::as_str);
        let stage = name.split('/').next().unwrap_or("");
        p.stages.iter().find(|s| s.name == stage)
    };
    out.write_all(b"{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n")?;
    let mut first = true;
    write_event(
        out,
        &mut first,
        &json!({"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "catar"}}),
    )?;
    for (i, node) in p.nodes.iter().enumerate() {
        let meta = json!({"ph": "M", "pid": 1, "tid": i + 1, "name": "thread_name", "args": {"name": node}});
        write_event(out, &mut first, &meta)?;
    }
    let mut mass: Vec<Vec<i64>> = vec![vec![0; p.cabinets.len()]; p.nodes.len()];
    let mut last_ts: Vec<u64> = vec![0; p.nodes.len()];
    let mut ticks: Vec<Option<Tick>> = p.nodes.iter().map(|_| None).collect();
    // Per node, the steps of its current attempt at a tick: written once it is over, marked
    // undone when it failed.
    let mut attempt: Vec<Vec<serde_json::Value>> = vec![Vec::new(); p.nodes.len()];
    // Per node, checkpoints not placed yet: (the step they precede, tick, tables).
    let mut pending: Vec<Vec<(u64, u64, usize)>> = vec![Vec::new(); p.nodes.len()];
    let checkpoint = |node: usize, ts: u64, tick: u64, tables: usize| {
        json!({"ph": "i", "s": "t", "pid": 1, "tid": node + 1, "name": "checkpoint",
               "ts": ts, "args": {"tick": tick, "tables": tables}})
    };
    for i in 0..trace.index().len() {
        // Steps' changes are read past: a timeline shows none of them.
        let chunk = read_events_skipped(trace, i)?;
        for event in chunk {
            match event {
                Event::Step(s) => {
                    let (n, tid) = (s.node as usize, s.node as usize + 1);
                    if let Some(p) = pending.get_mut(n) {
                        for (_, tick, tables) in p.extract_if(.., |c| c.0 <= s.global_step) {
                            write_event(out, &mut first, &checkpoint(n, s.wall_start_us, tick, tables))?;
                        }
                    }
                    let statement = stage_of(s.node).and_then(|st| st.statements.get(s.statement as usize));
                    let (name, op) = statement.map_or(("?", "?"), |st| (st.name.as_str(), st.op.as_str()));
                    // Wall times are whole microseconds: statements shorter than one would
                    // share a start and a viewer would nest them, so each starts where the
                    // node's last one ended at the earliest.
                    let ts = s.wall_start_us.max(last_ts.get(n).copied().unwrap_or(0));
                    let dur = s.wall_us.max(1);
                    if let Some(open) = ticks.get_mut(n) {
                        // A failed attempt and its retry share their tick: one slice holds both.
                        if let Some(t) = open.take_if(|t| t.tick != s.tick) {
                            flush(out, &mut first, &mut attempt[n], false)?;
                            write_event(out, &mut first, &t.slice(n))?;
                        }
                        let t = open.get_or_insert(Tick {
                            tick: s.tick,
                            start: ts,
                            end: ts,
                            steps: 0,
                            failures: 0,
                        });
                        t.end = ts + u64::from(dur);
                        t.steps += 1;
                    }
                    let step = json!({
                        "ph": "X", "pid": 1, "tid": tid, "name": name, "cat": op,
                        "ts": ts, "dur": dur,
                        "args": {"node_step": s.node_step, "global_step": s.global_step, "tick": s.tick,
                                 "pseudo_time": s.time},
                    });
                    if let Some(a) = attempt.get_mut(n) {
                        a.push(step);
                    }
                    if let Some(counter) = mass_counter(&p, &mut mass, &s) {
                        write_event(out, &mut first, &counter)?;
                    }
                    if let Some(t) = last_ts.get_mut(n) {
                        *t = ts + u64::from(dur);
                    }
                }
                // Placed at the step it precedes: a checkpoint chunk may be written before
                // the events chunk holding the node's steps before it.
                Event::Checkpoint(c) => {
                    if let Some(p) = pending.get_mut(c.node as usize) {
                        p.push((c.global_step, c.tick, c.tables.len()));
                    }
                }
                Event::Keys(_) | Event::Restarts { .. } => {}
                Event::Failure(f) => {
                    let s = &f.undo;
                    if let Some(Some(t)) = ticks.get_mut(s.node as usize) {
                        t.failures += 1;
                    }
                    if let Some(a) = attempt.get_mut(s.node as usize) {
                        flush(out, &mut first, a, true)?;
                    }
                    let failure = json!({"ph": "i", "s": "t", "pid": 1, "tid": s.node as usize + 1,
                                         "name": "failure", "ts": s.wall_start_us,
                                         "args": {"error": f.message, "restarts": f.restarts,
                                                  "quarantined": f.quarantined.map(|q| q.0), "node_step": s.node_step}});
                    write_event(out, &mut first, &failure)?;
                    // Undoing the tick moved records back: the counters follow.
                    if let Some(counter) = mass_counter(&p, &mut mass, s) {
                        write_event(out, &mut first, &counter)?;
                    }
                }
                Event::Done { node, steps, .. } => {
                    if let Some(a) = attempt.get_mut(node as usize) {
                        flush(out, &mut first, a, false)?;
                    }
                    if let Some(t) = ticks.get_mut(node as usize).and_then(Option::take) {
                        write_event(out, &mut first, &t.slice(node as usize))?;
                    }
                    let ts = last_ts.get(node as usize).copied().unwrap_or(0);
                    let done = json!({"ph": "i", "s": "t", "pid": 1, "tid": node as usize + 1, "name": "done",
                                      "ts": ts, "args": {"steps": steps}});
                    write_event(out, &mut first, &done)?;
                }
            }
        }
    }
    // A node cut short (a halted or cut trace) has no end: its last tick is drawn as far as
    // its steps go.
    for (n, t) in ticks.into_iter().enumerate() {
        flush(out, &mut first, &mut attempt[n], false)?;
        if let Some(t) = t {
            write_event(out, &mut first, &t.slice(n))?;
        }
    }
    for (n, p) in pending.into_iter().enumerate() {
        for (_, tick, tables) in p {
            write_event(out, &mut first, &checkpoint(n, last_ts[n], tick, tables))?;
        }
    }
    out.write_all(b"\n]}\n")?;
    Ok(())
}

/// The mass counter of a step's node after the step's mass changes, if it changed any.
fn mass_counter<C>(p: &PipelineDesc, mass: &mut [Vec<i64>], s: &Step<C>) -> Option<serde_json::Value> {
    let n = s.node as usize;
    let m = mass.get_mut(n).filter(|_| !s.mass.is_empty())?;
    let mut series = serde_json::Map::new();
    for &(cabinet, delta) in &s.mass {
        if let Some(v) = m.get_mut(cabinet as usize) {
            *v += delta;
            series.insert(p.cabinet(cabinet).to_string(), json!(*v));
        }
    }
    Some(json!({"ph": "C", "pid": 1, "name": format!("mass {}", p.nodes[n]),
                "ts": s.wall_start_us + u64::from(s.wall_us), "args": series}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::{
        Chunk, EVENTS_VERSION, PipelineDesc, StageDesc, StatementDesc, Step, TraceHeader, open_trace,
    };
    use crate::trace::{ChunkKind, ChunkMeta, TraceWriter};

    #[test]
    fn statements_shorter_than_a_microsecond_do_not_nest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.trace");
        let statement =
            |name: &str| StatementDesc { name: name.into(), op: "state".into(), text: String::new() };
        let stage = StageDesc {
            name: "S".into(),
            segments: 1,
            statements: vec![statement("a"), statement("b"), statement("c")],
            tables: vec![],
        };
        let pipeline = PipelineDesc {
            contexts: vec![],
            cabinets: vec![],
            stages: vec![stage],
            nodes: vec!["S/0".into()],
        };
        let header = TraceHeader {
            events_version: EVENTS_VERSION,
            pipeline,
            settings: Default::default(),
            input: None,
            options: None,
        };
        let mut w = TraceWriter::<TraceHeader, Chunk>::create(&path, &header).unwrap();
        // Three statements recorded at the same microsecond: under one, under one, then two.
        let step = |i: u64, wall_us: u32| {
            Event::Step(Step {
                node_step: i,
                global_step: i,
                statement: i as u16,
                wall_start_us: 100,
                wall_us,
                ..Step::default()
            })
        };
        let chunk = vec![step(0, 0), step(1, 0), step(2, 2)];
        let meta = ChunkMeta { node: 0, first_step: 0, last_step: 2, first_time: 0, last_time: 0 };
        w.write_chunk(ChunkKind::Events, meta, &chunk).unwrap();
        w.finish().unwrap();
        let mut out = Vec::new();
        perfetto(&mut open_trace(&path).unwrap(), &mut out).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let slices = |cat: &str| -> Vec<(u64, u64)> {
            (json["traceEvents"].as_array().unwrap().iter())
                .filter(|e| e["ph"] == "X" && (e["cat"] == "tick") == (cat == "tick"))
                .map(|e| (e["ts"].as_u64().unwrap(), e["dur"].as_u64().unwrap()))
                .collect()
        };
        assert_eq!(slices("step"), [(100, 1), (101, 1), (102, 2)], "each starts where the one before ended");
        assert_eq!(slices("tick"), [(100, 4)], "the tick holds its steps");
    }
}
