//! Replay through the Session API: a live run with forms and a replay of its trace with the
//! same forms stop at the same (node, statement, step, reason) sequence, and inquiries at those
//! stops return the same rows; going backwards (reverse-continue from the end, which rebuilds
//! nodes from checkpoints) finds the same stops in reverse, and so does `continue` after a
//! jump; motion words land where asked.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use catar::rating::generate::{GenOptions, generate};
use catar::rating::{RunOptions, debuggee};
use catar::recorder::{Level, RecorderSettings};
use catar::session::{Command, Event, Session};
use catar::tracer::{Position, Release, Row, Stop, TraceForm, Why};

const DEADLINE: Duration = Duration::from_secs(60);

/// What identifies a stop across a live run and its replay, and its pseudo-time (to the
/// second: a trace keeps seconds).
type Key = (String, String, u64, u64, String, Position, Option<i64>);

fn key(s: &Stop) -> Key {
    let time = s.pseudo_time.map(|t| t.as_second());
    (s.node.clone(), s.statement.clone(), s.step, s.global_step, s.reason.to_string(), s.at, time)
}

fn forms(texts: &[&str]) -> Vec<(TraceForm, String)> {
    texts
        .iter()
        .enumerate()
        .map(|(i, f)| (TraceForm::parse(f, &format!("form{i}")).unwrap(), format!("form{i}")))
        .collect()
}

struct Client {
    session: Session,
    log: Vec<Event>,
    // Stops that came while waiting for something else (live, nodes freeze concurrently).
    pending: std::collections::VecDeque<Stop>,
}

impl Client {
    fn next(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let Ok(e) = self.session.events().recv_timeout(left) else {
                panic!(
                    "no {what} within {DEADLINE:?}; last events: {:#?}",
                    &self.log[self.log.len().saturating_sub(8)..]
                );
            };
            self.log.push(e.clone());
            if pred(&e) {
                return e;
            }
            if let Event::Error { message, .. } = &e {
                panic!("waiting for {what}: error {message}");
            }
            if let Event::Stopped(s) = e {
                self.pending.push_back(s);
            }
        }
    }

    fn stop(&mut self) -> Option<Stop> {
        if let Some(s) = self.pending.pop_front() {
            return Some(s);
        }
        match self.next("a stop or the end", |e| matches!(e, Event::Stopped(_) | Event::Finished(_))) {
            Event::Stopped(s) => Some(s),
            _ => None,
        }
    }

    /// Every row of a node's reactors and of its port tables (the records it sends on when
    /// its tick ends), page by page, in (table, reg_id) order.
    fn rows(&mut self, node: &str) -> Vec<Row> {
        // The rating pipeline's port tables, by stage.
        let ports: &[&str] = match node.split('/').next() {
            Some("REG") => &["CONFIRMED", "rejected"],
            Some("RATE") => &["RATED", "quarantine"],
            _ => &["persistent"],
        };
        let mut all = self.table(node, None);
        for port in ports {
            let rows = self.table(node, Some(port));
            assert!(rows.iter().all(|r| r.table == *port), "{node} {port}: {rows:?}");
            all.extend(rows);
        }
        all.sort_by(|a: &Row, b: &Row| (&a.table, a.reg_id).cmp(&(&b.table, b.reg_id)));
        all
    }

    /// Every row of a node's table (None: of its reactors), page by page.
    fn table(&mut self, node: &str, table: Option<&str>) -> Vec<Row> {
        let mut all = Vec::new();
        loop {
            self.session.send(Command::Inquire {
                node: node.into(),
                reactor: table.map(str::to_string),
                filter: None,
                offset: all.len(),
                limit: Some(1000),
            });
            let Event::Rows(page) = self.next("rows", |e| matches!(e, Event::Rows(_))) else {
                unreachable!()
            };
            all.extend(page.rows);
            if all.len() >= page.total {
                return all;
            }
        }
    }
}

fn input(cdrs: usize) -> tempfile::TempDir {
    input_with_poison(cdrs, 0.0)
}

fn input_with_poison(cdrs: usize, poison_rate: f64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let opts =
        GenOptions { out: dir.path().into(), cdrs, subscribers: 200, seed: 11, bad_rate: 0.02, poison_rate };
    generate(&opts).expect("generate");
    dir
}

/// A live run recording a full trace: every stop of `texts` with the rows of its node.
fn live(dir: &Path, texts: &[&str], faults: &[&str]) -> (PathBuf, Vec<(Key, Vec<Row>)>) {
    live_in_windows(dir, texts, faults, catar::engine::DEFAULT_WINDOW)
}

/// [`live`] with `window` input rows a tick.
fn live_in_windows(
    dir: &Path,
    texts: &[&str],
    faults: &[&str],
    window: usize,
) -> (PathBuf, Vec<(Key, Vec<Row>)>) {
    let trace = dir.join(format!("t{}-{window}.trc", texts.join("").len()));
    let mut opts = RunOptions::new(dir, dir.join(format!("{}-{window}.db", texts.join("").len())));
    opts.segments = 2;
    opts.window = window;
    opts.faults = faults.iter().map(|f| f.parse().unwrap()).collect();
    opts.record =
        Some((trace.clone(), RecorderSettings { level: Level::Full, ..RecorderSettings::default() }));
    let session = Session::live(debuggee(&opts).unwrap(), forms(texts)).unwrap();
    let mut c = Client { session, log: Vec::new(), pending: Default::default() };
    let mut stops = Vec::new();
    while let Some(s) = c.stop() {
        let rows = c.rows(&s.node);
        stops.push((key(&s), rows));
        c.session.send(Command::Continue { node: Some(s.node.clone()) });
    }
    // Several nodes freeze concurrently live: their stops arrive in wall-clock order.
    stops.sort_by_key(|s| (s.0.3, s.0.5 == Position::After));
    (trace, stops)
}

fn replay(trace: &Path, texts: &[&str]) -> Client {
    let session = Session::replay(trace, forms(texts)).unwrap();
    let mut c = Client { session, log: Vec::new(), pending: Default::default() };
    let first = c.stop().expect("a first stop");
    assert_eq!(first.reason.why, Why::Start);
    assert_eq!((first.global_step, first.at), (0, Position::Before));
    c
}

/// Forwards to the end, every stop of the forms with its node's rows.
fn forwards(c: &mut Client) -> Vec<(Key, Vec<Row>)> {
    let mut stops = Vec::new();
    loop {
        c.session.send(Command::Continue { node: None });
        let s = c.stop().expect("a stop");
        if matches!(s.reason.why, Why::End { .. }) {
            return stops;
        }
        let rows = c.rows(&s.node);
        stops.push((key(&s), rows));
    }
}

const WIFE: &str = "nodes = \"RATE\"\ncabinets = [\"WIFE\"]\nstop = \"arrival\"";
const REJECTED: &str = "nodes = \"REG\"\ncabinets = [\"REJECTED\"]\nstop = \"departure\"";
const PERSISTENT: &str = "nodes = \"DIS\"\ncabinets = [\"PERSISTENT\"]\nstop = \"arrival\"";
const VOICE: &str = "nodes = \"RATE\"\ncabinets = [\"RATED\"]\nwhen = \"AMOUNT > 500 AND SERVICE = 'VOICE'\"";
const BREAK: &str = "nodes = \"DIS/1\"\nstatement = \"discharge\"";
const MASS: &str = "nodes = \"RATE/0\"\ncabinets = [\"RATED\"]\nstop = \"mass\"";
const AMOUNT: &str = "nodes = \"RATE\"\ncabinets = [\"all\"]\nwhen = \"AMOUNT > 500\"";
const FAILURE_REG: &str = "stop = \"failure\"\nnodes = \"REG\"";
const FAILURE_DIS: &str = "stop = \"failure\"\nnodes = \"DIS\"";
/// REG's statement after its charge (which moves the node's clock): a stop before it shows
/// the clock as the charge left it.
const BREAK_TYPE: &str = "nodes = \"REG\"\nstatement = \"type\"";
/// RATE's statement on which poison rows fail.
const BREAK_AMOUNT: &str = "nodes = \"RATE\"\nstatement = \"amount\"";
const FAILURE_RATE: &str = "stop = \"failure\"\nnodes = \"RATE\"";
const CONTEXT: &str = "nodes = \"RATE\"\ncabinets = [\"WIFE\"]\ncontexts = [\"WIFE_NAME\"]";

#[test]
fn a_replay_stops_where_the_live_run_stopped_and_sees_the_same_rows() {
    let dir = input(4000);
    let sets =
        [vec![WIFE, REJECTED], vec![VOICE], vec![BREAK, MASS, BREAK_TYPE], vec![CONTEXT], vec![AMOUNT]];
    same_stops_live_and_replayed(dir.path(), &sets, &[]);
}

/// Failed ticks are in the trace with the steps they ran; a replay undoes them where the live
/// run did (the checkpoint after each failure), so stops and rows still agree.
#[test]
fn a_replay_of_a_run_with_failures_and_restarts_agrees_with_it() {
    let dir = input_with_poison(3000, 0.0015);
    let faults = ["REG/1:step=40", "RATE/0:step=333:times=2", "DIS/1:step=150:times=4", "DIS/0:step=20"];
    // A breakpoint on the statement that fails stops before it, as live (the failed statement
    // is in the trace as its failure, not as a step), then the failure form after it.
    let sets = [
        vec![AMOUNT, REJECTED],
        vec![FAILURE_REG, FAILURE_DIS, BREAK_TYPE],
        vec![BREAK_AMOUNT, FAILURE_RATE],
    ];
    same_stops_live_and_replayed(dir.path(), &sets, &faults);
}

#[test]
fn at_a_failure_back_is_to_before_the_failed_statement_and_a_step_fails_again() {
    let dir = input(3000);
    let (trace, live) = live(dir.path(), &[FAILURE_RATE], &["RATE/1:step=30"]);
    let mut c = replay(&trace, &[FAILURE_RATE]);
    let failed = c.ask(Command::Continue { node: None });
    assert_eq!(key(&failed), live[0].0, "the live run's failure stop");
    let failure = Why::Failure { error: "injected fault".into() };
    assert_eq!((failed.step, failed.at, &failed.reason.why), (30, Position::After, &failure));
    // The node has run its steps 0..=30, the failed one included, as live counts them.
    c.session.send(Command::Snapshot);
    let Event::Snapshot(snapshot) = c.next("a snapshot", |e| matches!(e, Event::Snapshot(_))) else {
        unreachable!()
    };
    let view = snapshot.nodes.iter().find(|v| v.node == failed.node).unwrap();
    assert_eq!(view.steps, 31);
    // One statement back: before the one that failed (not before the one before it).
    let before = c.ask(Command::Back { node: Some(failed.node.clone()), count: 1 });
    assert_eq!(
        (before.global_step, before.step, before.at, &before.statement),
        (failed.global_step, 30, Position::Before, &failed.statement)
    );
    // Without a failure form, a step into it stops at the failure all the same, as live.
    c.session.send(Command::DeleteForm { id: 1 });
    c.next("forms", |e| matches!(e, Event::Forms { .. }));
    let again = c.ask(Command::Step { node: failed.node.clone(), count: 3 });
    assert_eq!(
        (again.global_step, again.at, again.reason.form, &again.reason.why),
        (failed.global_step, Position::After, None, &failure)
    );
    // From the retry's first step, back twice: before it, then before the statement that failed
    // (which has no step of its own in the trace).
    let retried = c.ask(Command::Step { node: failed.node.clone(), count: 1 });
    assert_eq!((retried.step, retried.at), (31, Position::After));
    let node = Some(failed.node.clone());
    assert_eq!(c.ask(Command::Back { node: node.clone(), count: 1 }).step, 31);
    let back = c.ask(Command::Back { node: node.clone(), count: 1 });
    assert_eq!((back.step, back.at, back.global_step), (30, Position::Before, failed.global_step));
    c.ask(Command::Step { node: failed.node.clone(), count: 1 });
    // Two back from the failure: before the node's statement before it.
    let two = c.ask(Command::Back { node: Some(failed.node.clone()), count: 2 });
    assert_eq!((two.step, two.at), (29, Position::Before));
}

#[test]
fn a_replay_counts_each_nodes_restarts_where_it_stands() {
    let dir = input_with_poison(3000, 0.0015);
    let faults = ["REG/1:step=40", "RATE/0:step=333:times=2", "DIS/1:step=150:times=4", "DIS/0:step=20"];
    let (trace, _) = live(dir.path(), &[FAILURE_REG], &faults);
    // Every failure the run recorded: (node, where, the node's restarts after it).
    let mut t = catar::recorder::open_trace(&trace).unwrap();
    let nodes = t.header().pipeline.nodes.clone();
    let (mut failures, mut steps) = (Vec::new(), Vec::new());
    for i in 0..t.index().len() {
        for e in t.read_chunk(i).unwrap() {
            match e {
                catar::recorder::Event::Failure(f) => {
                    failures.push((f.undo.node as usize, f.undo.global_step, f.restarts))
                }
                catar::recorder::Event::Step(s) => steps.push((s.node as usize, s.global_step)),
                _ => {}
            }
        }
    }
    assert!(failures.len() >= 8, "{failures:?}");
    // Steps of other nodes between a failing node's last step and its failure, when the
    // threads' timing made any: landing there, the failing node has passed its failure on the
    // way to its next step, which must not count yet.
    let between: Vec<u64> = failures
        .iter()
        .filter_map(|&(node, f, _)| {
            let last = steps.iter().filter(|s| s.0 == node && s.1 < f).map(|s| s.1).max().unwrap_or(0);
            steps.iter().filter(|s| s.0 != node && s.1 > last && s.1 < f).map(|s| s.1).min()
        })
        .collect();
    let expected = |node: usize, at: u64| {
        failures.iter().filter(|f| f.0 == node && f.1 < at).map(|f| f.2).max().unwrap_or(0)
    };
    let mut c = replay(&trace, &[]);
    // Around every failure, in an order that jumps back and forth (nodes rebuilt from their
    // checkpoints or rolled forward), then the end.
    let mut targets: Vec<u64> = failures.iter().flat_map(|f| [f.1, f.1 + 1, f.1 + 40]).collect();
    targets.extend(&between);
    targets.sort();
    let half = targets.len() / 2;
    targets.rotate_left(half);
    targets.reverse();
    targets.push(u64::MAX);
    for target in targets {
        let landed = c.ask(Command::Goto { step: target });
        let at = if matches!(landed.reason.why, Why::End { .. }) { u64::MAX } else { landed.global_step };
        c.session.send(Command::Snapshot);
        let Event::Snapshot(snapshot) = c.next("a snapshot", |e| matches!(e, Event::Snapshot(_))) else {
            unreachable!()
        };
        for view in &snapshot.nodes {
            let n = nodes.iter().position(|x| *x == view.node).unwrap();
            assert_eq!(view.restarts, expected(n, at), "{} at {at} (goto {target})", view.node);
        }
    }
    // At the end each failure has restarted its node once.
    let total: u32 = (0..nodes.len()).map(|n| expected(n, u64::MAX)).sum();
    assert_eq!(total as usize, failures.len());
}

fn same_stops_live_and_replayed(dir: &Path, sets: &[Vec<&str>], faults: &[&str]) {
    for texts in sets {
        let (trace, live) = live(dir, texts, faults);
        assert!(!live.is_empty(), "{texts:?} stops live");
        let mut c = replay(&trace, texts);
        let replayed = forwards(&mut c);
        let keys = |v: &[(Key, Vec<Row>)]| v.iter().map(|s| s.0.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&replayed), keys(&live), "{texts:?}: the same stops in the same order");
        for (l, r) in live.iter().zip(&replayed) {
            assert_eq!(l.1, r.1, "{texts:?}: rows at {:?}", l.0);
        }
        // Jumps: from a goto anywhere, continue finds the live run's next stop.
        let order = |k: &Key| (k.3, k.5 == Position::After);
        // Landing just after a stop matters to stop-when forms: what satisfied them then is
        // not news at the next step (their flip-flop is brought to the landing point).
        let targets = live.iter().step_by(3).flat_map(|s| [s.0.3.saturating_sub(7), s.0.3 + 1]);
        for target in targets {
            let landed = c.ask(Command::Goto { step: target });
            let here = (landed.global_step, false);
            let want = live.iter().map(|s| s.0.clone()).find(|k| order(k) > here);
            let got = c.ask(Command::Continue { node: None });
            match want {
                Some(k) => assert_eq!(key(&got), k, "{texts:?}: continue from a goto to {target}"),
                None => assert_eq!(got.reason.why, Why::End { beyond: None }),
            }
        }
        c.ask(Command::Goto { step: u64::MAX });
        // Backwards from the end: the same stops in reverse, nodes rebuilt from checkpoints.
        let mut back = Vec::new();
        loop {
            c.session.send(Command::ReverseContinue);
            let s = c.stop().expect("a stop");
            if s.reason.why == Why::Start {
                break;
            }
            let rows = c.rows(&s.node);
            back.push((key(&s), rows));
        }
        back.reverse();
        assert_eq!(keys(&back), keys(&live), "{texts:?}: reverse-continue finds every stop");
        for (l, r) in live.iter().zip(&back) {
            assert_eq!(l.1, r.1, "{texts:?}: rows at {:?} reached backwards", l.0);
        }
    }
}

/// A run of many ticks (several checkpoints apart): jumping to its stops in any order, the
/// replay rebuilds each node as the live run had it, records carried in from the stage before
/// included (their values found where that stage sent them, rebuilt from its checkpoints when
/// the replay has not just passed there).
#[test]
fn a_replay_jumping_across_a_long_run_sees_the_live_rows_at_every_stop() {
    let dir = input(3000);
    // 64 rows a tick: 47 ticks, a checkpoint every 32; a stop in DIS/1 every tick.
    let (trace, live) = live_in_windows(dir.path(), &[BREAK], &["RATE/0:step=200"], 64);
    assert!(live.len() > 40, "{} stops", live.len());
    let mut c = replay(&trace, &[]);
    let far_apart = (0..live.len()).map(|i| (i * 17) % live.len()).take(12);
    for i in (0..live.len()).rev().step_by(2).chain(far_apart) {
        let (key, rows) = &live[i];
        // Before the step (or after it: before the next).
        let target = if key.5 == Position::Before { key.3 } else { key.3 + 1 };
        c.ask(Command::Goto { step: target });
        assert_eq!(&c.rows(&key.0), rows, "rows at {key:?}");
    }
}

impl Client {
    fn ask(&mut self, c: Command) -> Stop {
        self.session.send(c);
        self.stop().expect("a stop")
    }

    /// How the node frozen last was let go, as the last release said.
    fn released(&self) -> Option<Release> {
        self.log.iter().rev().find_map(|e| if let Event::Released { by, .. } = e { Some(*by) } else { None })
    }
}

/// A full trace of a run without forms, and every step it holds: (global step, node, node
/// step, pseudo-time).
fn recorded(dir: &Path, level: Level) -> (PathBuf, Vec<(u64, String, u64, i64)>) {
    let trace = dir.join(format!("{level:?}.trc"));
    let mut opts = RunOptions::new(dir, dir.join(format!("{level:?}.db")));
    opts.record = Some((trace.clone(), RecorderSettings { level, ..RecorderSettings::default() }));
    // Failed and undone ticks too: every path and every damage must cope with them.
    opts.faults = ["RATE/1:step=50:times=2", "DIS/0:step=30"].iter().map(|f| f.parse().unwrap()).collect();
    catar::rating::run(&opts, &catar::engine::NoHook).unwrap();
    let mut t = catar::recorder::open_trace(&trace).unwrap();
    let nodes = t.header().pipeline.nodes.clone();
    let mut steps = Vec::new();
    for i in 0..t.index().len() {
        for e in t.read_chunk(i).unwrap() {
            if let catar::recorder::Event::Step(s) = e {
                steps.push((s.global_step, nodes[s.node as usize].clone(), s.node_step, s.time));
            }
        }
    }
    steps.sort();
    (trace, steps)
}

/// One cursor: a `continue` naming a node runs it to that node's next stop, passing the other
/// nodes' over (uncounted); a bare one stops at the next stop of any node.
#[test]
fn continue_naming_a_node_passes_over_the_other_nodes_stops() {
    let dir = input(2000);
    let texts = [WIFE, REJECTED, PERSISTENT];
    let (trace, _) = live(dir.path(), &texts, &[]);
    let mut c = replay(&trace, &texts);
    let every: Vec<Key> = forwards(&mut c).into_iter().map(|(k, _)| k).collect();
    let nodes = |node: &str| every.iter().filter(|k| k.0 == node).cloned().collect::<Vec<_>>();
    let dis = nodes("DIS/0");
    assert!(dis.len() >= 2 && dis.len() < every.len(), "DIS/0 stops among others: {every:?}");
    assert_ne!(every.first(), dis.first(), "another node stops first");
    let mut c = replay(&trace, &texts);
    let mut got = Vec::new();
    loop {
        let s = c.ask(Command::Continue { node: Some("DIS/0".into()) });
        if matches!(s.reason.why, Why::End { .. }) {
            break;
        }
        got.push(key(&s));
    }
    assert_eq!(got, dis);
}

#[test]
fn motions_land_where_asked() {
    let dir = input(3000);
    let (trace, steps) = recorded(dir.path(), Level::Full);
    let mut c = replay(&trace, &[]);
    c.session.send(Command::When);
    let Event::When(at) = c.next("when", |e| matches!(e, Event::When(_))) else { unreachable!() };
    assert_eq!((at.global_step, at.at, at.reason.why.clone()), (steps[0].0, Position::Before, Why::Start));

    // step 5 of RATE/0: after its fifth step, whatever other nodes ran meanwhile.
    let s = c.ask(Command::Step { node: "RATE/0".into(), count: 5 });
    let fifth = steps.iter().filter(|s| s.1 == "RATE/0").nth(4).unwrap();
    assert_eq!((s.node.as_str(), s.step, s.global_step, s.at), ("RATE/0", 4, fifth.0, Position::After));
    assert_eq!((s.reason.why, c.released()), (Why::Step, Some(Release::Step)));
    // The replay started at the first recorded step (a REG node's): RATE/0 moved, leaving
    // that stop.
    let first = &steps[0].1;
    let left = c.log.iter().rev().find(|e| matches!(e, Event::Released { .. }));
    assert!(
        matches!(left, Some(Event::Released { node, mover: Some(m), .. }) if node == first && m == "RATE/0"),
        "{left:?}"
    );
    let said = format!("RATE/0 steps (from {first}'s stop)");
    assert_eq!(catar::script::text(left.unwrap()), Some(said));

    // back 1: before that same step.
    let b = c.ask(Command::Back { node: Some("RATE/0".into()), count: 1 });
    assert_eq!(
        (b.step, b.global_step, b.at, b.reason.why),
        (4, fifth.0, Position::Before, Why::Back { short: None })
    );
    assert_eq!(c.released(), Some(Release::Back), "the log says which way the cursor went");
    let b = c.ask(Command::Back { node: Some("RATE/0".into()), count: 3 });
    assert_eq!((b.node.as_str(), b.step), ("RATE/0", 1));
    // Further back than the node ran: at its first step, saying how short it fell (as a
    // step that runs out does; it said only "stepped back").
    let b = c.ask(Command::Back { node: Some("RATE/0".into()), count: 5 });
    assert_eq!((b.node.as_str(), b.step, b.reason.why), ("RATE/0", 0, Why::Back { short: Some(4) }));

    // goto STEP: before the first recorded step numbered STEP or more.
    for g in [0, 1, steps.len() as u64 / 3, steps[steps.len() / 2].0 + 1, steps.last().unwrap().0] {
        let s = c.ask(Command::Goto { step: g });
        let want = steps.iter().find(|s| s.0 >= g).unwrap();
        assert_eq!(
            (s.global_step, s.node.clone(), s.step, s.at),
            (want.0, want.1.clone(), want.2, Position::Before)
        );
        assert_eq!(c.released(), Some(Release::Goto));
    }
    // goto time T: after the first step (in global order) that brings its node to T or later,
    // so the stop reads T or later.
    let t = steps[steps.len() * 2 / 3].3;
    let s = c.ask(Command::GotoTime { time: jiff::Timestamp::from_second(t).unwrap() });
    let want = steps.iter().find(|s| s.3 >= t).unwrap();
    assert_eq!((s.global_step, s.node.clone(), s.at), (want.0, want.1.clone(), Position::After));
    assert!(s.pseudo_time.is_some_and(|p| p.as_second() >= t), "{s:?}");
    // Past the end: after the last step; back 1 from there: before it.
    let last = steps.last().unwrap();
    let past = c.ask(Command::Goto { step: last.0 + 1 });
    assert!(past.reason.to_string().ends_with(&format!("goto {} is past its last step", last.0 + 1)));
    let end = c.ask(Command::Goto { step: u64::MAX });
    assert_eq!(end.reason.to_string(), "end of the trace", "`goto end` asked for the end");
    assert_eq!((past.global_step, past.at), (last.0, Position::After));
    assert_eq!(
        (end.global_step, end.at, end.reason.why),
        (last.0, Position::After, Why::End { beyond: None })
    );
    let s = c.ask(Command::Continue { node: None });
    assert_eq!(s.reason.why, Why::End { beyond: None }, "continue at the end stays at the end");
    // A node with no step left cannot step (it would run to the end of the trace).
    c.session.send(Command::Step { node: "REG/0".into(), count: 1 });
    let e = c.next("an error", |e| matches!(e, Event::Error { .. }));
    assert!(
        matches!(&e, Event::Error { message, .. } if message.contains("REG/0 has no step left")),
        "{e:?}"
    );
    let b = c.ask(Command::Back { node: None, count: 1 });
    assert_eq!((b.global_step, b.at), (last.0, Position::Before));
    // Without forms, reverse-continue runs back to the start.
    let r = c.ask(Command::ReverseContinue);
    assert_eq!((r.global_step, r.reason.why, c.released()), (steps[0].0, Why::Start, Some(Release::Reverse)));
    // At the start nothing is behind: an error, not the same stop again (as gdb's "No more
    // reverse-execution history"), and the cursor stays.
    for (command, said) in [
        (Command::ReverseContinue, "at the start of the trace: nothing to run back over"),
        (Command::Back { node: None, count: 1 }, "at the start of the trace: nothing to step back over"),
    ] {
        c.session.send(command);
        let e = c.next("an error", |e| matches!(e, Event::Error { .. } | Event::Stopped(_)));
        assert!(matches!(&e, Event::Error { message, .. } if message == said), "{e:?}");
    }
    let s = c.ask(Command::Step { node: "REG/0".into(), count: 1 });
    c.session.send(Command::Back { node: Some("DIS/0".into()), count: 1 });
    let e = c.next("an error", |e| matches!(e, Event::Error { .. } | Event::Stopped(_)));
    assert!(
        matches!(&e, Event::Error { message, .. } if message == "DIS/0 ran no step before here: nothing to step back over"),
        "{e:?} at {s:?}"
    );
    // Resume means nothing in a replay: a clear error, and the replay goes on.
    c.session.send(Command::Resume { node: "RATE/0".into() });
    let e = c.next("an error", |e| matches!(e, Event::Error { .. }));
    assert!(matches!(&e, Event::Error { message, .. } if message.contains("nothing to resume")), "{e:?}");
}

#[test]
fn any_path_to_a_step_rebuilds_the_same_tables() {
    let dir = input(3000);
    let (trace, steps) = recorded(dir.path(), Level::Full);
    let nodes: Vec<String> = {
        let mut n: Vec<String> = steps.iter().map(|s| s.1.clone()).collect();
        n.sort();
        n.dedup();
        n
    };
    // Positions in a scrambled order (backwards, forwards, far and near) and in order.
    let mut positions: Vec<u64> = (0..12).map(|i| steps[(i * 7919) % steps.len()].0).collect();
    let scrambled = positions.clone();
    positions.sort();
    let tables = |order: &[u64]| {
        let mut c = replay(&trace, &[]);
        let mut seen = std::collections::BTreeMap::new();
        for &g in order {
            let s = c.ask(Command::Goto { step: g });
            assert_eq!(s.global_step, g);
            let rows: Vec<Vec<Row>> = nodes.iter().map(|n| c.rows(n)).collect();
            seen.insert(g, rows);
        }
        seen
    };
    let a = tables(&scrambled);
    let b = tables(&positions);
    assert!(a.values().any(|rows| rows.iter().any(|r| !r.is_empty())), "some position holds rows");
    assert_eq!(a, b);
}

#[test]
fn a_summary_trace_moves_but_says_it_cannot_show_tables() {
    let dir = input(2000);
    let (trace, steps) = recorded(dir.path(), Level::Summary);
    let arrival = forms(&[WIFE]);
    let err = Session::replay(&trace, arrival).err().expect("a cabinet form needs full");
    assert!(err.to_string().contains("--level full"), "{err}");
    // A statement breakpoint works from the steps alone.
    let mut c = replay(&trace, &[BREAK]);
    // The session says up front why it has no cabinet to show (a client's pane would be
    // empty otherwise, as if every node held nothing).
    let unrecorded = c.log.iter().find_map(|e| match e {
        Event::Started { unrecorded, .. } => Some(unrecorded.clone()),
        _ => None,
    });
    assert!(matches!(&unrecorded, Some(Some(why)) if why.contains("--level full")), "{unrecorded:?}");
    let s = c.ask(Command::Continue { node: None });
    assert_eq!((s.node.as_str(), s.statement.as_str(), s.at), ("DIS/1", "discharge", Position::Before));
    let s = c.ask(Command::Goto { step: steps[10].0 });
    assert_eq!(s.global_step, steps[10].0);
    c.session.send(Command::Inquire {
        node: "RATE/0".into(),
        reactor: None,
        filter: None,
        offset: 0,
        limit: None,
    });
    let e = c.next("an error", |e| matches!(e, Event::Error { .. }));
    assert!(matches!(&e, Event::Error { message, .. } if message.contains("--level full")), "{e:?}");
}

#[test]
fn a_cut_trace_replays_what_it_holds() {
    let dir = input(3000);
    let (trace, _) = recorded(dir.path(), Level::Full);
    let len = std::fs::metadata(&trace).unwrap().len();
    let cut = dir.path().join("cut.trc");
    std::fs::write(&cut, &std::fs::read(&trace).unwrap()[..len as usize * 9 / 10]).unwrap();
    let held = catar::recorder::open_trace(&cut).unwrap();
    assert!(!held.complete());
    let mut c = replay(&cut, &[]);
    let end = c.ask(Command::Goto { step: u64::MAX });
    assert!(matches!(end.reason.why, Why::End { .. }), "{end:?}");
    let b = c.ask(Command::Back { node: None, count: 1 });
    assert_eq!(b.global_step, end.global_step);
    // What the cut trace holds replays as the whole trace does: up to the first step a node
    // lost to the cut (nodes flush their chunks at their own pace).
    let steps_of = |path: &Path| {
        let mut t = catar::recorder::open_trace(path).unwrap();
        let mut steps = std::collections::BTreeSet::new();
        for i in 0..t.index().len() {
            for e in t.read_chunk(i).unwrap() {
                if let catar::recorder::Event::Step(s) = e {
                    steps.insert(s.global_step);
                }
            }
        }
        steps
    };
    let (kept, all) = (steps_of(&cut), steps_of(&trace));
    let lost = *all.difference(&kept).next().expect("the cut lost steps");
    assert!(lost > 0);
    let mut whole = replay(&trace, &[]);
    let nodes = catar::recorder::open_trace(&trace).unwrap().header().pipeline.nodes.clone();
    let before: Vec<u64> = kept.range(..lost).copied().collect();
    for g in [before[before.len() / 2], before[before.len() - 1]] {
        assert_eq!(c.ask(Command::Goto { step: g }).global_step, g);
        assert_eq!(whole.ask(Command::Goto { step: g }).global_step, g);
        for n in &nodes {
            let (a, b) = (c.rows(n), whole.rows(n));
            assert!(a == b, "{n} at {g}: {} rows in the cut trace, {} in the whole", a.len(), b.len());
        }
    }
    // Cut before its first chunk: the replay says there is no step, and ends.
    let first = catar::recorder::open_trace(&trace).unwrap().index()[0].offset;
    std::fs::write(&cut, &std::fs::read(&trace).unwrap()[..first as usize]).unwrap();
    let session = Session::replay(&cut, forms(&[])).unwrap();
    let mut c = Client { session, log: Vec::new(), pending: Default::default() };
    let Event::Finished(end) = c.next("the end", |e| matches!(e, Event::Finished(_))) else { unreachable!() };
    assert!(end.summary[0].contains("holds no recorded step: nothing to replay"), "{:?}", end.summary);
    assert!(!c.log.iter().any(|e| matches!(e, Event::Stopped(_))), "no stop at a step that is not there");
}

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)] // the fuzz target's shared code: only the checksum repair is used here
mod fuzz_lib;

mod hostile {
    use std::sync::OnceLock;

    use proptest::prelude::*;

    use super::*;

    /// A small full-level trace, recorded once.
    fn full() -> &'static Vec<u8> {
        static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
        BYTES.get_or_init(|| {
            let dir = input(1500);
            let (trace, _) = recorded(dir.path(), Level::Full);
            std::fs::read(trace).unwrap()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// A damaged full trace is refused or replayed: motions, inquiries, snapshots and a
        /// query answer or fail with an error, and the replay always ends (never a panic).
        #[test]
        fn a_damaged_full_trace_replays_or_is_refused(
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
            repair in any::<bool>(),
        ) {
            let mut bytes = full().clone();
            for (at, byte) in flips {
                let i = 10 + at % (bytes.len() - 10);
                bytes[i] ^= byte | 1;
            }
            bytes.truncate(10 + cut % (bytes.len() - 9));
            if repair {
                // Past the checksums, so that the damage reaches the events the replay applies.
                super::fuzz_lib::repair_checksums(&mut bytes);
            }
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("damaged.trace");
            std::fs::write(&path, &bytes).unwrap();
            if let Ok(mut t) = catar::recorder::open_trace(&path) {
                let _ = catar::replay::query(&mut t, "damaged", "EVENT_ID=EV000000007");
            }
            let Ok(session) = Session::replay(&path, forms(&[WIFE, VOICE, BREAK])) else { return Ok(()) };
            for c in [
                Command::Continue { node: None },
                Command::Continue { node: None },
                Command::ReverseContinue,
                Command::Goto { step: 40 },
                Command::Back { node: None, count: 3 },
                Command::Inquire { node: "RATE/0".into(), reactor: None, filter: None, offset: 0, limit: None },
                Command::Snapshot,
                Command::GotoTime { time: jiff::Timestamp::from_second(1_771_000_000).unwrap() },
                Command::When,
                Command::Halt,
            ] {
                session.send(c);
            }
            let end = Instant::now() + DEADLINE;
            loop {
                let left = end.saturating_duration_since(Instant::now());
                match session.events().recv_timeout(left) {
                    // A replay ends finished, or failed when its first chunk is damaged.
                    Ok(Event::Finished(_) | Event::Failed { .. }) => break,
                    Ok(_) => {}
                    Err(e) => panic!("the replay ended without finishing (a panic?): {e}"),
                }
            }
        }
    }
}
