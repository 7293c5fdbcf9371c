//! The TUI's costs:
//! - render time of a full 160×48 frame with 64 nodes, 1,000 cabinets and 10,000 result rows
//!   (criterion; goal < 5 ms);
//! - key-press-to-screen latency of the real release binary in tmux while its nodes run flat
//!   out: a Tab is sent and the screen polled until the focus moved (median and p90; the tmux
//!   round trips are included, so it is an upper bound). Skipped without tmux.
//!
//! `cargo bench --bench tui` (KEYS=60 presses; CDRS=2000000 for the flat-out run).

use std::process::Command as Process;
use std::time::{Duration, Instant};

use catar::recorder::{CabinetDesc, ContextDesc, PipelineDesc, StageDesc, StatementDesc};
use catar::session::{CabinetView, Event, NodeState, NodeView, Snapshot};
use catar::tracer::{Cell, Row, Rows};
use catar::tui::App;
use criterion::Criterion;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A big session: 64 nodes, the first holding 1,000 cabinets, 10,000 inquiry rows.
fn big_app() -> App {
    let contexts: Vec<ContextDesc> =
        (0..40).map(|i| ContextDesc { name: format!("CONTEXT_{i}"), heavy: i % 2 == 0 }).collect();
    let cabinets: Vec<CabinetDesc> = (0..1000)
        .map(|i| CabinetDesc {
            name: format!("CABINET_{i}"),
            kind: "regular".into(),
            base: None,
            members: vec![],
            contexts: (0..8).map(|k| (i + k) % 40).collect(),
        })
        .collect();
    let stages: Vec<StageDesc> = (0..4)
        .map(|s| StageDesc {
            name: format!("S{s}"),
            segments: 16,
            statements: (0..30)
                .map(|i| StatementDesc {
                    name: format!("statement-{i}"),
                    op: "arm".into(),
                    text: format!("arm linkey = CONTEXT_{i}"),
                })
                .collect(),
            tables: vec![("R".into(), "Reactor(Driving)".into())],
        })
        .collect();
    let nodes: Vec<String> = (0..64).map(|i| format!("S{}/{}", i / 16, i % 16)).collect();
    let program = PipelineDesc { contexts, cabinets, stages, nodes: nodes.clone() };
    let mut app = App::new("bench", true);
    app.apply(
        Event::Started { nodes: nodes.clone(), forms: vec![], program, unrecorded: None },
        Duration::ZERO,
    );
    for t in 1..=32u64 {
        let views = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| NodeView {
                node: n.clone(),
                state: NodeState::Running,
                steps: t * 100 + i as u64,
                records: Some(t * t * 1000 + i as u64),
                restarts: 0,
                pseudo_time: Some(jiff::Timestamp::from_second(1_700_000_000 + t as i64).unwrap()),
                traced: true,
                stop: None,
                cabinets: if i == 0 {
                    (0..1000)
                        .map(|c| CabinetView {
                            cabinet: format!("CABINET_{c}"),
                            mass: (c * 7 % 500) as i64 + 1,
                            contexts: (0..8).map(|k| (format!("CONTEXT_{}", (c + k) % 40), 3)).collect(),
                        })
                        .collect()
                } else {
                    vec![]
                },
            })
            .collect();
        let snapshot = Snapshot { nodes: views, forms: vec![], finished: false };
        app.apply(Event::Snapshot(snapshot), Duration::from_millis(250 * t));
    }
    let rows = (0..10_000u64)
        .map(|i| Row {
            table: "R".into(),
            reg_id: i,
            cabinet: format!("CABINET_{}", i % 1000),
            contexts: (0..12)
                .map(|k| (format!("CONTEXT_{k}"), Cell::Int((i * 31 + k) as i64 % 10_007)))
                .collect(),
        })
        .collect();
    let rows = Rows {
        node: "S0/0".into(),
        tables: vec!["R".into()],
        reactor: None,
        cabinet: None,
        filter: None,
        total: 10_000,
        offset: 0,
        limit: 10_000,
        rows,
    };
    app.apply(Event::Rows(rows), Duration::from_secs(9));
    app.results.as_mut().unwrap().sort_by(4, true);
    // The cursor mid-way through the rows, as after scrolling.
    app.result = 5_000;
    app.cabinet = 500;
    app
}

fn render(c: &mut Criterion) {
    let app = big_app();
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).unwrap();
    c.bench_function("full frame 160x48: 64 nodes, 1000 cabinets, 10000 rows", |b| {
        b.iter(|| {
            // A forced full redraw: the diff against the last frame would hide the cost.
            terminal.clear().unwrap();
            terminal.draw(|f| catar::tui::view::draw(f, &app)).unwrap();
        })
    });
}

struct Tmux(String);

impl Tmux {
    fn run(&self, args: &[&str]) -> std::process::Output {
        Process::new("tmux").args(["-L", &self.0]).args(args).output().expect("tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "0"]).stdout).into_owned()
    }

    fn wait(&self, ok: impl Fn(&str) -> bool) -> bool {
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            if ok(&self.screen()) {
                return true;
            }
        }
        false
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn latency(keys: usize, cdrs: usize) {
    if Process::new("tmux").arg("-V").output().is_err() {
        println!("key latency: skipped (no tmux)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_catar");
    let d = dir.path().display();
    let gen_ok = Process::new(bin)
        .args(["gen", "--out", &d.to_string(), "--cdrs", &cdrs.to_string(), "--subscribers", "20000"])
        .output()
        .unwrap()
        .status
        .success();
    assert!(gen_ok, "catar gen");
    let t = Tmux(format!("catar-bench-{}", std::process::id()));
    let cmd = format!("{bin} run --input {d} --db {d}/x.db --segments 2");
    t.run(&["-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "48", &cmd]);
    assert!(t.wait(|s| s.contains("▶ running")), "the TUI did not start:\n{}", t.screen());
    let mut samples = Vec::new();
    for _ in 0..keys {
        let screen = t.screen();
        if !screen.contains("▶ running") {
            break;
        }
        // Which pane has the focus now (its frame is thick); a Tab moves it to the next one.
        let now = ["Nodes", "Program", "Cabinets", "Contexts", "Results", "Log"]
            .iter()
            .position(|p| screen.contains(&format!("┏ {p}")))
            .unwrap_or(0);
        let next = ["Nodes", "Program", "Cabinets", "Contexts", "Results", "Log"][(now + 1) % 6];
        let started = Instant::now();
        t.run(&["send-keys", "-t", "0", "Tab"]);
        if !t.wait(|s| s.contains(&format!("┏ {next}"))) {
            break;
        }
        samples.push(started.elapsed());
    }
    t.run(&["send-keys", "-t", "0", "q"]);
    samples.sort();
    if samples.is_empty() {
        println!("key latency: no sample (the run ended first: raise CDRS)");
        return;
    }
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "key-press-to-screen (tmux, nodes running flat out, {} presses): median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        samples.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.9).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this with nothing to measure.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    render(&mut c);
    c.final_summary();
    latency(env("KEYS", 60), env("CDRS", 2_000_000));
}
