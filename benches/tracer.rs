//! The tracer's costs, measured in one run:
//! - an armed form that never fires vs recording alone (summary level), on the same input,
//!   runs interleaved so that the machine's noise falls on both alike: median wall time each
//!   and their ratio;
//! - latency from a `step` command to the node's next stop event: median and p99, with the
//!   steps sent back to back and `PAUSE_MS` (5) apart.
//!
//! `cargo bench --bench tracer` (CDRS=200000 and RUNS=7 by default; STEPS=2000 step commands).

use std::path::Path;
use std::time::{Duration, Instant};

use catar::rating::generate::{GenOptions, generate};
use catar::rating::{RunOptions, debuggee};
use catar::recorder::{Level, RecorderSettings};
use catar::session::{Command, Event, Session};
use catar::tracer::TraceForm;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn options(dir: &Path, name: &str) -> RunOptions {
    let mut opts = RunOptions::new(dir, dir.join(format!("{name}.db")));
    opts.segments = 1;
    opts.record = Some((
        dir.join(format!("{name}.trace")),
        RecorderSettings { level: Level::Summary, ..Default::default() },
    ));
    opts
}

/// One recorded run without a tracer.
fn recording_alone(dir: &Path) -> Duration {
    let _ = std::fs::remove_file(dir.join("alone.db"));
    let started = Instant::now();
    catar::rating::run(&options(dir, "alone"), &catar::engine::NoHook).expect("run");
    started.elapsed()
}

/// The same run under a live session whose form never fires (no ARCHIVE in REG's reactors).
fn with_idle_form(dir: &Path) -> Duration {
    let _ = std::fs::remove_file(dir.join("traced.db"));
    let form =
        TraceForm { nodes: Some("REG".into()), cabinets: vec!["ARCHIVE".into()], ..TraceForm::default() };
    let started = Instant::now();
    let session =
        Session::live(debuggee(&options(dir, "traced")).expect("inputs"), vec![(form, "idle".into())])
            .expect("form");
    for e in session.events().iter() {
        match e {
            Event::Finished(_) => break,
            Event::Stopped(s) => panic!("the idle form fired: {s}"),
            Event::Failed { message, .. } => panic!("{message}"),
            _ => {}
        }
    }
    started.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Step DIS/0 one statement at a time, `pause` after each stop before the next `step` (a
/// person's or a script's think time): the time from sending `step` to receiving the stop,
/// split by whether the step stayed in its tick (the tracer's own latency) or crossed into the
/// next one (which waits for the node to flush its output and for RATE's next window).
fn step_latency(dir: &Path, steps: usize, pause: Duration) -> [Vec<Duration>; 4] {
    let form = TraceForm {
        nodes: Some("DIS".into()),
        statement: Some("charge".into()),
        once: true,
        ..Default::default()
    };
    let mut opts = RunOptions::new(dir, dir.join("step.db"));
    opts.segments = 1;
    let session =
        Session::live(debuggee(&opts).expect("inputs"), vec![(form, "break".into())]).expect("form");
    let wait_stop = |s: &Session| loop {
        match s.events().recv().expect("session alive") {
            Event::Stopped(stop) => return Some((stop.tick, Duration::from_micros(stop.statement_us))),
            Event::Finished(_) => return None,
            _ => {}
        }
    };
    let mut tick = wait_stop(&session).expect("the breakpoint fired").0;
    let [mut within, mut across, mut overhead, mut across_overhead] = [(); 4].map(|()| Vec::new());
    for _ in 0..steps {
        std::thread::sleep(pause);
        let sent = Instant::now();
        session.send(Command::Step { node: "DIS/0".into(), count: 1 });
        let Some((next, statement)) = wait_stop(&session) else { break };
        let took = sent.elapsed();
        if next == tick {
            within.push(took);
            overhead.push(took.saturating_sub(statement));
        } else {
            across.push(took);
            across_overhead.push(took.saturating_sub(statement));
        }
        tick = next;
    }
    session.send(Command::Detach);
    session.close();
    [within, across, overhead, across_overhead]
}

fn percentiles(what: &str, mut lat: Vec<Duration>) {
    if lat.is_empty() {
        return;
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize];
    println!(
        "step -> stop latency, {what} ({} steps): median {:?}, p99 {:?}, max {:?}",
        lat.len(),
        pct(0.5),
        pct(0.99),
        lat[lat.len() - 1]
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this with nothing to measure.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let cdrs = env("CDRS", 200_000);
    let runs = env("RUNS", 7);
    let dir = tempfile::tempdir().expect("temp dir");
    generate(&GenOptions {
        out: dir.path().into(),
        cdrs,
        subscribers: 10_000,
        seed: 1,
        bad_rate: 0.01,
        poison_rate: 0.0,
    })
    .expect("generate");
    let (mut alone, mut idle) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        alone.push(recording_alone(dir.path()));
        idle.push(with_idle_form(dir.path()));
    }
    let (a, i) = (median(alone), median(idle));
    println!(
        "idle form vs recording alone ({cdrs} CDRs, summary level, 1 segment, median of {runs}): {:.3} s vs {:.3} s = {:.3}x",
        i.as_secs_f64(),
        a.as_secs_f64(),
        i.as_secs_f64() / a.as_secs_f64()
    );
    // Back to back, the stepped DIS/0 runs about as fast as the whole pipeline can on two
    // cores, so a step into the next tick often waits for RATE's window; with a pause the
    // upstream nodes get ahead and block, as they do under a person at the keyboard.
    for pause in [Duration::ZERO, Duration::from_millis(env("PAUSE_MS", 5) as u64)] {
        println!("-- steps {:?} apart", pause);
        let [within, across, overhead, across_overhead] = step_latency(dir.path(), env("STEPS", 2000), pause);
        let all: Vec<Duration> = within.iter().chain(&across).copied().collect();
        percentiles("all", all);
        percentiles("within a tick", within);
        percentiles("into the next tick", across);
        percentiles("within a tick, minus the statement's own run time", overhead);
        percentiles("into the next tick, minus the statement's own run time", across_overhead);
    }
}
