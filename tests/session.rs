//! The tracer through the Session API, on generated data with a fixed seed: each stop policy
//! and each action, asserting the exact stop against an independent oracle (the recorder's
//! trace of a run without forms, or the program itself) and what an inquiry returns.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use catar::rating::generate::{GenOptions, generate};
use catar::rating::{RunOptions, debuggee};
use catar::recorder::{Event as TraceEvent, Level, PipelineDesc, RecorderSettings, Step, open_trace};
use catar::session::{Command, Event, NodeState, Session};
use catar::tracer::{Position, Release, Rows, Stop, TraceForm, Why};

const DEADLINE: Duration = Duration::from_secs(60);

struct Run {
    session: Session,
    log: Vec<Event>,
    db: PathBuf,
    desc: PipelineDesc,
}

fn input(cdrs: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let opts = GenOptions {
        out: dir.path().into(),
        cdrs,
        subscribers: 200,
        seed: 7,
        bad_rate: 0.02,
        poison_rate: 0.0,
    };
    generate(&opts).expect("generate");
    dir
}

fn options(dir: &Path, db: &str, segments: usize) -> RunOptions {
    let mut opts = RunOptions::new(dir, dir.join(db));
    opts.segments = segments;
    opts
}

fn start(opts: &RunOptions, forms: &[&str]) -> Run {
    let forms = forms
        .iter()
        .enumerate()
        .map(|(i, f)| (TraceForm::parse(f, &format!("form{i}")).unwrap(), format!("form{i}")))
        .collect();
    let debuggee = debuggee(opts).unwrap();
    let desc = (*debuggee.desc).clone();
    let session = Session::live(debuggee, forms).unwrap();
    Run { session, log: Vec::new(), db: opts.db.clone(), desc }
}

impl Run {
    /// The next event satisfying `pred`, logging every event before it; panics at the deadline.
    fn wait(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let Ok(e) = self.session.events().recv_timeout(left) else {
                panic!("no {what} within {DEADLINE:?}; events: {:#?}", self.log);
            };
            self.log.push(e.clone());
            if pred(&e) {
                return e;
            }
        }
    }

    fn stop(&mut self) -> Stop {
        match self
            .wait("stop", |e| matches!(e, Event::Stopped(_) | Event::Finished(_) | Event::Failed { .. }))
        {
            Event::Stopped(s) => s,
            other => panic!("expected a stop, got {other:?}"),
        }
    }

    fn rows(
        &mut self,
        node: &str,
        reactor: Option<&str>,
        filter: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Rows {
        self.session.send(Command::Inquire {
            node: node.into(),
            reactor: reactor.map(Into::into),
            filter: filter.map(Into::into),
            offset,
            limit: Some(limit),
        });
        match self.wait("rows", |e| matches!(e, Event::Rows(_) | Event::Error { .. })) {
            Event::Rows(r) => r,
            other => panic!("expected rows, got {other:?}"),
        }
    }

    fn finish(&mut self) -> catar::session::Finished {
        match self.wait("the end", |e| matches!(e, Event::Finished(_) | Event::Failed { .. })) {
            Event::Finished(f) => f,
            other => panic!("the run failed: {other:?}"),
        }
    }

    fn statement(&self, node: &str, position: usize) -> String {
        let stage = node.split('/').next().unwrap();
        let s = self.desc.stages.iter().find(|s| s.name == stage).unwrap();
        s.statements[position].name.clone()
    }

    fn cabinet(&self, name: &str) -> u16 {
        self.desc.cabinets.iter().position(|c| c.name == name).unwrap() as u16
    }
}

/// The steps of one node in a summary trace of the same input run without any form.
fn oracle_steps(dir: &Path, node: &str) -> Vec<Step> {
    let trace = dir.join("oracle.trace");
    let mut opts = options(dir, "oracle.db", 1);
    opts.record =
        Some((trace.clone(), RecorderSettings { level: Level::Summary, ..RecorderSettings::default() }));
    catar::rating::run(&opts, &catar::engine::NoHook).unwrap();
    let mut t = open_trace(&trace).unwrap();
    let index = t.header().pipeline.nodes.iter().position(|n| n == node).unwrap() as u16;
    let mut steps = Vec::new();
    for i in 0..t.index().len() {
        for e in t.read_chunk(i).unwrap() {
            if let TraceEvent::Step(s) = e
                && s.node == index
            {
                steps.push(s);
            }
        }
    }
    steps.sort_by_key(|s| s.node_step);
    steps
}

fn assert_stop(run: &Run, stop: &Stop, node: &str, step: u64, at: Position) {
    assert_eq!((stop.node.as_str(), stop.step, stop.at), (node, step, at), "{stop}");
    assert_eq!(stop.statement, run.statement(node, stop.position), "{stop}");
}

#[test]
fn arrival_stops_where_the_trace_shows_the_cabinet_appear_and_inquiry_shows_it() {
    let dir = input(5000);
    let mut run = start(&options(dir.path(), "out.db", 1), &["nodes = \"RATE\"\ncabinets = [\"WIFE\"]"]);
    let wife = run.cabinet("WIFE");
    let expected =
        oracle_steps(dir.path(), "RATE/0").into_iter().find(|s| s.appeared.contains(&wife)).unwrap();
    let stop = run.stop();
    assert_stop(&run, &stop, "RATE/0", expected.node_step, Position::After);
    assert_eq!(stop.reason.why, Why::Arrival { cabinet: "WIFE".into(), context: None });
    assert_eq!(stop.reason.form, Some(1));
    // What arrived is there to see, and only a WIFE row passes a WIFE filter.
    let rows = run.rows("RATE/0", None, Some("CABINET = 'WIFE'"), 0, 1000);
    assert!(rows.total > 0 && rows.rows.len() == rows.total, "{rows:?}");
    assert!(rows.rows.iter().all(|r| r.cabinet == "WIFE" && r.contexts.contains_key("WIFE_NAME")));
    // Naming the cabinet where a reactor goes asks for the same rows, in any case.
    let named = run.rows("RATE/0", Some("wife"), None, 0, 1000);
    assert_eq!((named.rows, named.total), (rows.rows, rows.total));
    assert_eq!((named.reactor.as_deref(), named.cabinet.as_deref()), (Some("wife"), Some("WIFE")));
    let none = run.rows("RATE/0", Some("WIFE"), Some("CABINET <> 'WIFE'"), 0, 10);
    assert_eq!(none.total, 0, "{none:?}");
    // A table's name comes first: CONFIRMED is both a reactor and a cabinet of RATE.
    let table = run.rows("RATE/0", Some("CONFIRMED"), None, 0, 1000);
    assert_eq!((table.tables, table.cabinet), (vec!["CONFIRMED".to_string()], None));
    run.session.send(Command::Inquire {
        node: "RATE/0".into(),
        reactor: Some("NOSUCH".into()),
        filter: None,
        offset: 0,
        limit: None,
    });
    match run.wait("the error", |e| matches!(e, Event::Rows(_) | Event::Error { .. })) {
        Event::Error { message, .. } => {
            assert!(message.contains("no table or cabinet `NOSUCH`"), "{message}");
            assert!(message.contains("CONFIRMED") && message.contains("WIFE"), "{message}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    run.session.send(Command::Detach);
    run.finish();
}

#[test]
fn departure_and_mass_stop_where_the_program_and_the_trace_say() {
    let dir = input(5000);
    let rejected_gone = std::fs::read_to_string("assets/forms/rejected-departure.toml").unwrap();
    let mut run = start(&options(dir.path(), "out.db", 1), &[&rejected_gone]);
    let rejected = run.cabinet("REJECTED");
    let steps = oracle_steps(dir.path(), "REG/0");
    // REJECTED leaves REG's reactor when the tick of its first rejections discharges them.
    let first = steps.iter().find(|s| s.appeared.contains(&rejected)).unwrap();
    let expected = steps
        .iter()
        .find(|s| {
            s.tick == first.tick && run.statement("REG/0", s.statement as usize) == "discharge-rejected"
        })
        .unwrap();
    let stop = run.stop();
    assert_stop(&run, &stop, "REG/0", expected.node_step, Position::After);
    assert_eq!(stop.reason.why, Why::Departure { cabinet: "REJECTED".into(), context: None });
    // They left the reactor for the store's table, where an inquiry still finds them.
    assert_eq!(run.rows("REG/0", None, Some("CABINET = 'REJECTED'"), 0, 1).total, 0);
    let gone = run.rows("REG/0", Some("rejected"), None, 0, 1000);
    assert!(
        gone.total > 0
            && gone.rows.iter().all(|r| r.cabinet == "REJECTED" && r.contexts.contains_key("REASON"))
    );
    run.session.send(Command::Halt);
    run.finish();

    let dir2 = input(5000);
    let wife_mass = "nodes = \"RATE/0\"\ncabinets = [\"WIFE\"]\nstop = \"mass\"\nignore = 1";
    let mut run = start(&options(dir2.path(), "out.db", 1), &[wife_mass]);
    let wife = run.cabinet("WIFE");
    let rate = oracle_steps(dir2.path(), "RATE/0");
    let second = rate.iter().filter(|s| s.mass.iter().any(|&(c, d)| c == wife && d != 0)).nth(1).unwrap();
    let stop = run.stop();
    assert_stop(&run, &stop, "RATE/0", second.node_step, Position::After);
    let delta = second.mass.iter().find(|m| m.0 == wife).unwrap().1;
    assert!(
        matches!(stop.reason.why, Why::Mass { ref cabinet, delta: d, .. } if cabinet == "WIFE" && d == delta)
    );
    run.session.send(Command::Resume { node: "RATE/0".into() });
    run.finish();
}

#[test]
fn every_step_ignore_step_and_continue_walk_the_program_in_order() {
    let dir = input(3000);
    let mut run =
        start(&options(dir.path(), "out.db", 1), &["nodes = \"DIS\"\nstop = \"every-step\"\nignore = 2"]);
    let stop = run.stop();
    // Two hits let pass: the third step of DIS/0.
    assert_stop(&run, &stop, "DIS/0", 2, Position::After);
    assert_eq!(stop.reason.why, Why::EveryStep);
    run.session.send(Command::Continue { node: Some("DIS/0".into()) });
    let next = run.stop();
    assert_stop(&run, &next, "DIS/0", 3, Position::After);
    run.session.send(Command::Step { node: "DIS".into(), count: 1 });
    let stepped = run.stop();
    assert_stop(&run, &stepped, "DIS/0", 4, Position::After);
    assert!(run.log.iter().any(|e| matches!(e, Event::Released { by: Release::Step, .. })));
    run.session.send(Command::Halt);
    run.finish();
}

#[test]
fn ignore_keeps_the_hit_count_and_lets_the_next_hits_pass() {
    let dir = input(3000);
    let mut run = start(&options(dir.path(), "out.db", 1), &["nodes = \"DIS\"\nstop = \"every-step\""]);
    let stop = run.stop();
    assert_stop(&run, &stop, "DIS/0", 0, Position::After);
    run.session.send(Command::Continue { node: Some("DIS/0".into()) });
    let next = run.stop();
    assert_stop(&run, &next, "DIS/0", 1, Position::After);
    // gdb's `ignore 1 2` at 2 hits: the count stays at 2, hits 3 and 4 pass, the fifth stops.
    run.session.send(Command::Ignore { id: 1, count: 2 });
    let forms = match run.wait("forms", |e| matches!(e, Event::Forms { .. } | Event::Error { .. })) {
        Event::Forms { forms } => forms,
        other => panic!("expected the forms, got {other:?}"),
    };
    assert_eq!((forms[0].hits, forms[0].form.ignore), (2, 4), "{forms:?}");
    run.session.send(Command::Continue { node: Some("DIS/0".into()) });
    let fifth = run.stop();
    assert_stop(&run, &fifth, "DIS/0", 4, Position::After);
    run.session.send(Command::Forms);
    match run.wait("forms", |e| matches!(e, Event::Forms { .. })) {
        Event::Forms { forms } => assert_eq!(forms[0].hits, 5, "{forms:?}"),
        _ => unreachable!(),
    }
    run.session.send(Command::Halt);
    run.finish();
}

#[test]
fn each_nodes_stops_releases_and_states_arrive_in_the_order_they_happened() {
    // Stops and releases reach the client from the nodes' own threads, states from the
    // session thread: two nodes stepped and continued in turn must still tell one story.
    let dir = input(5000);
    let mut run = start(
        &options(dir.path(), "out.db", 1),
        &["nodes = \"RATE\"\nstop = \"every-step\"", "nodes = \"DIS\"\nstop = \"every-step\""],
    );
    // Every step of both to the end.
    for i in 0.. {
        let node = match run.wait("stop", |e| matches!(e, Event::Stopped(_) | Event::Finished(_))) {
            Event::Stopped(s) => s.node,
            _ => break,
        };
        run.session.send(if i % 3 == 0 {
            Command::Continue { node: Some(node) }
        } else {
            Command::Step { node, count: 1 }
        });
    }
    assert!(matches!(run.log.first(), Some(Event::Started { .. })), "{:?}", run.log.first());
    for node in ["RATE/0", "DIS/0"] {
        // Where the node is: frozen at a stop, or running.
        let mut at: Option<Stop> = None;
        let mut stops = 0;
        for e in &run.log {
            match e {
                Event::Stopped(s) if s.node == node => {
                    assert!(at.is_none(), "{node} stopped at {s} while frozen at {:?}", at);
                    at = Some(s.clone());
                    stops += 1;
                }
                Event::Released { node: n, stop, .. } if n == node => {
                    assert_eq!(
                        at.take().map(|s| s.id),
                        Some(*stop),
                        "{node} released from a stop it was not at"
                    );
                }
                Event::State { node: n, state } if n == node => match (state, &at) {
                    (NodeState::Frozen { statement, .. }, Some(s)) => assert_eq!(*statement, s.statement),
                    (NodeState::Frozen { .. }, None) => panic!("{node} reported frozen while running"),
                    (NodeState::Restarted { .. } | NodeState::Done, _) | (_, None) => {}
                    (other, Some(s)) => panic!("{node} reported {other:?} while frozen at {s}"),
                },
                _ => {}
            }
        }
        assert!(stops >= 30, "{node} stopped {stops} times");
    }
}

#[test]
fn an_inquiry_sent_just_after_a_step_is_answered_never_left_waiting() {
    let dir = input(3000);
    let mut run = start(&options(dir.path(), "out.db", 1), &["nodes = \"RATE\"\nstop = \"every-step\""]);
    run.stop();
    // The inquiry may reach the node before it takes the step (rows), as it leaves the stop
    // (an error: not frozen), or queued behind the step (an error: it moved on): never nothing.
    for _ in 0..30 {
        run.session.send(Command::Step { node: "RATE/0".into(), count: 1 });
        run.session.send(Command::Inquire {
            node: "RATE/0".into(),
            reactor: None,
            filter: None,
            offset: 0,
            limit: Some(1),
        });
        // The answer and the step's stop, in either order.
        let (mut answered, mut stopped) = (false, false);
        while !(answered && stopped) {
            match run.wait("an answer and a stop", |e| {
                matches!(e, Event::Rows(_) | Event::Error { .. } | Event::Stopped(_))
            }) {
                Event::Stopped(_) => stopped = true,
                _ => answered = true,
            }
        }
    }
    run.session.send(Command::Detach);
    run.finish();
}

#[test]
fn a_breakpoint_stops_before_its_statement_and_step_n_runs_n_statements() {
    let dir = input(3000);
    let mut run = start(&options(dir.path(), "out.db", 1), &["statement = \"amount\""]);
    let position = run.desc.stages[1].statements.iter().position(|s| s.name == "amount").unwrap();
    let stop = run.stop();
    assert_stop(&run, &stop, "RATE/0", position as u64, Position::Before);
    assert_eq!((stop.statement.as_str(), &stop.reason.why), ("amount", &Why::Statement));
    // Before `amount` ran, no record has an AMOUNT.
    assert_eq!(run.rows("RATE/0", None, Some("AMOUNT IS NOT NULL"), 0, 1).total, 0);
    run.session.send(Command::Step { node: "RATE/0".into(), count: 2 });
    let stepped = run.stop();
    assert_stop(&run, &stepped, "RATE/0", position as u64 + 1, Position::After);
    assert_eq!(stepped.reason.why, Why::Step);
    // `when` answers live too: the stop where the node stands.
    run.session.send(Command::When);
    assert_eq!(run.wait("when", |e| matches!(e, Event::When(_))), Event::When(stepped.clone()));
    assert!(run.rows("RATE/0", None, Some("AMOUNT IS NOT NULL"), 0, 1).total > 0);
    // The next tick hits the breakpoint again.
    run.session.send(Command::Continue { node: None });
    let again = run.stop();
    assert_eq!((again.statement.as_str(), again.tick, again.at), ("amount", 1, Position::Before));
    run.session.send(Command::Detach);
    run.finish();
}

#[test]
fn stop_when_fires_on_the_first_record_that_comes_to_satisfy_it() {
    let dir = input(5000);
    let form = std::fs::read_to_string("assets/forms/voice-over-500.toml").unwrap();
    let mut run = start(&options(dir.path(), "out.db", 1), &[&form]);
    let stop = run.stop();
    let Why::When { ref table, reg_id, ref condition } = stop.reason.why else { panic!("{stop:?}") };
    assert_eq!(condition, "AMOUNT > 500 AND SERVICE = 'VOICE'");
    // The record named satisfies the condition and is in a watched cabinet.
    let it = run.rows("RATE/0", Some(table), Some(&format!("REG_ID = {reg_id} AND ({condition})")), 0, 10);
    assert_eq!(it.total, 1, "{it:?}");
    assert_eq!(it.rows[0].cabinet, "RATED");
    // No record can satisfy it before RATED first appears.
    let rated = run.cabinet("RATED");
    let first = oracle_steps(dir.path(), "RATE/0").into_iter().find(|s| s.appeared.contains(&rated)).unwrap();
    assert!(stop.step >= first.node_step, "{stop} before RATED appeared at step {}", first.node_step);
    run.session.send(Command::Halt);
    run.finish();

    // Over every cabinet, a record satisfies it as soon as the statement setting AMOUNT ran:
    // a step that only sets values counts, not only one that moves records.
    let mut run = start(&options(dir.path(), "any.db", 1), &["nodes = \"RATE\"\nwhen = \"AMOUNT > 500\""]);
    let stop = run.stop();
    assert_eq!((stop.statement.as_str(), stop.at, stop.tick), ("amount", Position::After, 0), "{stop}");
    let Why::When { ref table, reg_id, .. } = stop.reason.why else { panic!("{stop:?}") };
    let it = run.rows("RATE/0", Some(table), Some(&format!("REG_ID = {reg_id}")), 0, 1);
    assert_eq!(it.rows[0].cabinet, "CONFIRMED", "not rated yet: {it:?}");
    run.session.send(Command::Halt);
    run.finish();
}

#[test]
fn a_one_shot_form_stops_once_and_inquiry_pages_are_consistent_and_change_nothing() {
    let dir = input(5000);
    let mut run = start(&options(dir.path(), "out.db", 1), &["statement = \"discharge-rated\"\nonce = true"]);
    let stop = run.stop();
    assert_eq!(stop.statement, "discharge-rated");
    let all = run.rows("RATE/0", Some("CONFIRMED"), None, 0, 1000);
    assert!(all.total > 100, "{}", all.total);
    let page1 = run.rows("RATE/0", Some("CONFIRMED"), None, 0, 40);
    let page2 = run.rows("RATE/0", Some("CONFIRMED"), None, 40, 40);
    assert_eq!((page1.total, page2.total), (all.total, all.total));
    assert_eq!(page1.rows[..], all.rows[..40]);
    assert_eq!(page2.rows[..], all.rows[40..80]);
    // Asking again (the node still frozen) gives the same answer: inquiry changes nothing.
    assert_eq!(run.rows("RATE/0", Some("CONFIRMED"), None, 0, 1000), all);
    run.session.send(Command::Continue { node: None });
    run.finish();
    let stops = run.log.iter().filter(|e| matches!(e, Event::Stopped(_))).count();
    assert_eq!(stops, 1, "a one-shot form stops once");
}

#[test]
fn after_resume_the_run_completes_and_equals_a_run_without_forms() {
    let dir = input(5000);
    common::run(dir.path(), &dir.path().join("plain.db"), 2);
    let mut run = start(&options(dir.path(), "traced.db", 2), &["cabinets = [\"WIFE\"]\nnodes = \"RATE\""]);
    let stop = run.stop();
    run.session.send(Command::Resume { node: stop.node.clone() });
    // The other RATE node may stop too; resume it as well.
    while let Event::Stopped(s) =
        run.wait("stop or end", |e| matches!(e, Event::Stopped(_) | Event::Finished(_)))
    {
        run.session.send(Command::Resume { node: s.node });
    }
    assert_eq!(common::dump_db(&run.db), common::dump_db(&dir.path().join("plain.db")));
}

#[test]
fn halt_closes_the_trace_with_its_footer_and_stores_only_whole_records() {
    let dir = input(15_000);
    common::run(dir.path(), &dir.path().join("plain.db"), 1);
    let trace = dir.path().join("halt.trace");
    let mut opts = options(dir.path(), "halted.db", 1);
    opts.record = Some((trace.clone(), RecorderSettings::default()));
    let mut run = start(&opts, &["nodes = \"RATE\"\ncabinets = [\"WIFE\"]"]);
    run.stop();
    run.session.send(Command::Halt);
    let end = run.finish();
    assert!(end.halted && end.records < 15_000, "{end:?}");
    assert!(end.cabinets.iter().any(|c| c.cabinet == "PERSISTENT"), "consolidated: {:?}", end.cabinets);
    let t = open_trace(&trace).unwrap();
    assert!(t.complete(), "the trace has its footer");
    // Every stored row is exactly the row a full run stores: no half-processed record.
    let plain = common::dump_db(&dir.path().join("plain.db"));
    let halted = common::dump_db(&opts.db);
    let full_rows: std::collections::HashSet<&str> = plain.lines().collect();
    let mut section = "";
    let mut rows = 0;
    for line in halted.lines() {
        if line.starts_with("==") {
            section = line;
        } else if !section.contains("FROM balances") {
            rows += 1;
            assert!(full_rows.contains(line), "{line} ({section}) is not a row of the full run");
        }
    }
    assert!(rows > 0 && rows < plain.lines().count());
}

#[test]
fn a_stop_times_out_and_the_node_continues_by_itself() {
    let dir = input(3000);
    let mut run = start(
        &options(dir.path(), "out.db", 1),
        &["statement = \"charge\"\nnodes = \"DIS\"\ntimeout = \"20ms\""],
    );
    let stop = run.stop();
    let released = run.wait("release", |e| matches!(e, Event::Released { .. }));
    assert_eq!(
        released,
        Event::Released { node: stop.node, stop: stop.id, by: Release::Timeout, mover: None }
    );
    run.session.send(Command::DeleteForm { id: 1 });
    run.finish();
}

/// The time a node is held at a stop is the person's, not the pipeline's: the run's summary
/// says how much of its time it was, and its rate leaves it out. (A one-shot stop that times
/// out after 300 ms holds the run at least that long, with no command sent.)
#[test]
fn the_time_held_at_stops_is_told_apart_from_the_pipelines_rate() {
    let dir = input(3000);
    let mut run = start(
        &options(dir.path(), "out.db", 1),
        &["statement = \"charge\"\nnodes = \"DIS\"\nonce = true\ntimeout = \"300ms\""],
    );
    run.stop();
    let finished = run.finish();
    assert!(finished.held_seconds >= 0.3, "{finished:?}");
    assert!(finished.held_seconds <= finished.seconds, "{finished:?}");
    // "… in T s, H s of it held at stops (R CDR/s running), …": R is the rows over T - H, to
    // the rounding of T and H.
    let line = &finished.summary[0];
    let figure = |text: &str| -> f64 { text.trim().parse().unwrap_or_else(|e| panic!("{line}: {e}")) };
    let timing = line.rsplit(" in ").next().unwrap();
    let (total, rest) = timing.split_once(" s, ").unwrap_or_else(|| panic!("{line}"));
    let (held, rest) = rest.split_once(" s of it held at stops (").unwrap_or_else(|| panic!("{line}"));
    let (rate, _) = rest.split_once(" CDR/s running)").unwrap_or_else(|| panic!("{line}"));
    let (total, held, rate) = (figure(total), figure(held), figure(rate));
    assert!(held >= 0.3, "{line}");
    let (fastest, slowest) = (3000.0 / (total - held - 0.01), 3000.0 / (total - held + 0.01));
    assert!(rate <= fastest + 1.0 && rate >= slowest - 1.0, "{line}");
    // Without a stop, the line says nothing of holds.
    let mut run = start(&options(dir.path(), "free.db", 1), &[]);
    let free = run.finish();
    assert_eq!(free.held_seconds, 0.0);
    assert!(!free.summary[0].contains("held"), "{}", free.summary[0]);
}

/// A statement's recorded duration (the timeline's slice) is its own: a freeze before it is
/// not counted in. (The freeze lasts 1.5 s; the statement over one window takes milliseconds.)
#[test]
fn the_time_frozen_before_a_statement_is_not_recorded_as_its_duration() {
    let dir = input(3000);
    let trace = dir.path().join("frozen.trace");
    let mut opts = options(dir.path(), "out.db", 1);
    opts.record = Some((trace.clone(), RecorderSettings::default()));
    let mut run =
        start(&opts, &["statement = \"charge\"\nnodes = \"DIS\"\ntimeout = \"1500ms\"\nonce = true"]);
    let stop = run.stop();
    run.wait("release", |e| matches!(e, Event::Released { by: Release::Timeout, .. }));
    // Held 1.5 s, with REG and RATE blocked behind DIS: not "stalled" (a script's `continue`
    // would take that for its answer), since the stop lets DIS go by itself.
    assert!(!run.log.iter().any(|e| matches!(e, Event::Stalled { .. })), "{:#?}", run.log);
    run.finish();
    let mut t = open_trace(&trace).unwrap();
    let node = t.header().pipeline.nodes.iter().position(|n| *n == stop.node).unwrap() as u16;
    let mut found = None;
    for i in 0..t.index().len() {
        for e in t.read_chunk(i).unwrap() {
            if let TraceEvent::Step(s) = e
                && (s.node, s.node_step) == (node, stop.step)
            {
                found = Some(s.wall_us);
            }
        }
    }
    let wall_us = found.expect("the stopped step is recorded");
    assert!(wall_us < 1_000_000, "{wall_us} µs recorded for a statement frozen 1.5 s before it ran");
}

#[test]
fn a_frozen_rate_segment_blocks_reg_and_starves_dis_without_deadlock() {
    let dir = input(20_000);
    let mut run = start(&options(dir.path(), "out.db", 2), &["nodes = \"RATE/1\"\ncabinets = [\"WIFE\"]"]);
    let stop = run.stop();
    assert_eq!(stop.node, "RATE/1");
    let blocked = |e: &Event| matches!(e, Event::State { node, state: NodeState::Blocked { on } } if node.starts_with("REG/") && on == "RATE/1");
    let waiting = |e: &Event| matches!(e, Event::State { node, state: NodeState::Waiting { on } } if node.starts_with("DIS/") && on == "RATE/1");
    // States are reported once they last 3 samples, a stall after 5 still ones: both by then.
    run.wait("stall", |e| matches!(e, Event::Stalled { .. }));
    assert!(run.log.iter().any(blocked), "{:#?}", run.log);
    assert!(run.log.iter().any(waiting), "{:#?}", run.log);
    // Bounded: REG holds a few windows in flight, not the input.
    run.session.send(Command::Snapshot);
    let Event::Snapshot(snap) = run.wait("snapshot", |e| matches!(e, Event::Snapshot(_))) else {
        unreachable!()
    };
    let read: u64 = snap.nodes.iter().filter(|n| n.node.starts_with("REG")).filter_map(|n| n.records).sum();
    assert!(read < 15_000, "REG read {read} of 20000 records while RATE/1 was frozen");
    // The form goes first: released, RATE/1 would meet the next tick's WIFE arrival.
    run.session.send(Command::DeleteForm { id: 1 });
    run.session.send(Command::Continue { node: Some("RATE/1".into()) });
    let end = run.finish();
    assert_eq!(end.records, 20_000);
}

#[test]
fn bad_forms_are_errors_naming_the_field() {
    let dir = input(100);
    let err = |form: &str| {
        let f = match TraceForm::parse(form, "f.toml") {
            Ok(f) => f,
            Err(e) => return e.to_string(),
        };
        match Session::live(debuggee(&options(dir.path(), "x.db", 1)).unwrap(), vec![(f, "f.toml".into())]) {
            Ok(_) => panic!("{form} was accepted"),
            Err(e) => e.to_string(),
        }
    };
    assert!(err("cabinet = [\"WIFE\"]").contains("unknown field `cabinet`"));
    assert!(err("cabinets = [\"WIFEE\"]").contains("field `cabinets`: unknown cabinet `WIFEE`"));
    assert!(err("contexts = [\"AMOUNTT\"]").contains("field `contexts`: unknown context `AMOUNTT`"));
    assert!(err("nodes = \"RATE/7\"").contains("field `nodes`: no node or stage `RATE/7`"));
    assert!(err("statement = \"nope\"").contains("field `statement`: no statement `nope`"));
    // Named on a stage, the statements listed are that stage's.
    let e = err("nodes = \"REG\"\nstatement = \"amount\"");
    assert!(e.contains("(REG: charge, ") && !e.contains("RATE:"), "{e}");
    assert!(err("statement = \"charge\"\nstop = \"arrival\"").contains("field `statement`"));
    assert!(err("when = \"AMOUNT >\"").contains("field `when`"));
    assert!(err("stop = \"sometimes\"").contains("unknown variant `sometimes`"));
    assert!(err("timeout = \"soon\"").contains("field `timeout`"));
    assert!(
        err("stop = \"failure\"\ncabinets = [\"WIFE\"]")
            .contains("field `cabinets`: a `stop = \"failure\"` form")
    );
    assert!(
        err("nodes = \"RATE\"\ncabinets = []").contains("field `cabinets`: an empty list watches nothing")
    );
    // Contexts a policy does not read are refused, as `watch context … mass` is.
    assert!(
        err("cabinets = [\"CONFIRMED\"]\ncontexts = [\"WIFE_NAME\"]\nstop = \"mass\"")
            .contains("field `contexts`: a `stop = \"mass\"` form watches no contexts")
    );
}

#[test]
fn history_reads_a_records_life_back_from_the_runs_full_trace() {
    let dir = input(2000);
    let mut opts = options(dir.path(), "h.db", 1);
    opts.record =
        Some((dir.path().join("h.trace"), RecorderSettings { level: Level::Full, ..Default::default() }));
    let mut run = start(&opts, &["nodes = \"RATE\"\ncabinets = [\"WIFE\"]"]);
    run.stop();
    let rows = run.rows("RATE/0", None, Some("CABINET = 'WIFE'"), 0, 1);
    let (reg_id, event_id) = (rows.rows[0].reg_id, rows.rows[0].contexts["EVENT_ID"].to_string());
    // Asked at the stop, at once: the frozen node put its steps on disk before it stopped, and
    // the history waits for the others, which wait on it, to park theirs. So the record is
    // found by the EVENT_ID that only REG's steps hold, the step that brought it into WIFE is
    // there, and nothing is missing.
    run.session.send(Command::History { id: format!("EVENT_ID={event_id}") });
    let answer = run.wait("history", |e| matches!(e, Event::History(_) | Event::Error { .. }));
    let Event::History(live) = &answer else { panic!("no history: {answer:?}") };
    assert_eq!(live.records, vec![reg_id], "{live:#?}");
    assert!(!live.partial, "{live:#?}");
    assert!(live.touches.iter().any(|t| t.node == "REG/0"), "{live:#?}");
    assert!(live.touches.iter().any(|t| t.after == "WIFE" && t.node == "RATE/0"), "{live:#?}");
    run.session.send(Command::DeleteForm { id: 1 });
    run.wait("forms", |e| matches!(e, Event::Forms { .. }));
    run.session.send(Command::Continue { node: None });
    run.finish();
    // Asked after the end, the whole trace answers: the record's life through every stage.
    run.session.send(Command::History { id: format!("EVENT_ID={event_id}") });
    let Event::History(h) = run.wait("history", |e| matches!(e, Event::History(_) | Event::Error { .. }))
    else {
        panic!("no history: {:#?}", run.log.last());
    };
    assert_eq!(h.records, vec![reg_id]);
    assert!(h.touches.iter().any(|t| t.after == "WIFE" && t.node == "RATE/0"), "{h:#?}");
    assert_eq!(h.touches.last().unwrap().after, "PERSISTENT");
    assert!(!h.partial, "the run has ended: its trace is whole");
    // A run that records a summary trace says what it lacks (not that the file is damaged).
    let mut opts = options(dir.path(), "hs.db", 1);
    opts.record =
        Some((dir.path().join("hs.trace"), RecorderSettings { level: Level::Summary, ..Default::default() }));
    let mut run = start(&opts, &["nodes = \"RATE\"\ncabinets = [\"WIFE\"]"]);
    run.stop();
    run.session.send(Command::History { id: format!("EVENT_ID={event_id}") });
    let Event::Error { message, .. } = run.wait("error", |e| matches!(e, Event::Error { .. })) else {
        unreachable!()
    };
    assert!(message.contains("summary level") && message.contains("--level full"), "{message}");
    run.session.send(Command::DeleteForm { id: 1 });
    run.wait("forms", |e| matches!(e, Event::Forms { .. }));
    run.session.send(Command::Continue { node: None });
    run.finish();
    // A run that records no trace says what it needs.
    let dir = input(200);
    let mut run = start(&options(dir.path(), "n.db", 1), &[]);
    run.session.send(Command::History { id: "reg_id=1".into() });
    let Event::Error { message, .. } = run.wait("error", |e| matches!(e, Event::Error { .. })) else {
        unreachable!()
    };
    assert!(message.contains("--trace FILE --level full"), "{message}");
}

#[test]
fn a_node_blocked_behind_a_frozen_one_puts_its_recorded_steps_on_disk() {
    // 8 windows of CDRs: REG fills the 4 batches RATE's channel holds and blocks.
    let dir = input(8000);
    let mut opts = options(dir.path(), "b.db", 1);
    opts.record =
        Some((dir.path().join("b.trace"), RecorderSettings { level: Level::Full, ..Default::default() }));
    // RATE stops after its first step, the charge of its first window.
    let mut run = start(&opts, &["nodes = \"RATE\"\nstop = \"every-step\""]);
    run.stop();
    run.wait("REG blocked", |e| {
        matches!(e, Event::State { node, state: NodeState::Blocked { on } } if node == "REG/0" && on == "RATE/0")
    });
    // A CDR of REG's sixth window, the one it cannot send: its steps are the last REG ran,
    // still in its recorder's buffer (which REG fills by the megabyte) until REG parks it.
    let cdrs = csv::Reader::from_path(dir.path().join("cdrs.csv")).unwrap();
    let row = cdrs.into_records().nth(5 * 1024 + 100).unwrap().unwrap();
    let event_id = row[0].to_string();
    // REG's steps key the EVENT_ID: the record is found once REG has put them on disk.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        run.session.send(Command::History { id: format!("EVENT_ID={event_id}") });
        let answer = run.wait("history", |e| matches!(e, Event::History(_) | Event::Error { .. }));
        if matches!(&answer, Event::History(h) if h.touches.iter().any(|t| t.node == "REG/0")) {
            break;
        }
        assert!(Instant::now() < deadline, "REG's steps never reached the trace: {answer:?}");
    }
    run.session.send(Command::DeleteForm { id: 1 });
    run.wait("forms", |e| matches!(e, Event::Forms { .. }));
    run.session.send(Command::Continue { node: None });
    run.finish();
}

#[test]
fn a_failed_node_is_reported_restarted_with_its_error_and_the_run_completes() {
    let dir = input(3000);
    let mut opts = options(dir.path(), "faulty.db", 2);
    opts.faults = vec!["RATE/1:step=30:times=2".parse().unwrap()];
    let mut run = start(&opts, &[]);
    let restarted = |restarts: u32| {
        move |e: &Event| {
            matches!(e, Event::State { node, state: NodeState::Restarted { restarts: r, error } }
                if node == "RATE/1" && *r == restarts && error == "injected fault")
        }
    };
    // Restarts close together may be reported as one: the count reaches 2 all the same.
    run.wait("the second restart", restarted(2));
    run.wait("the end", |e| matches!(e, Event::Finished(_)));
    assert!(
        !run.log.iter().any(
            |e| matches!(e, Event::State { state: NodeState::Restarted { .. }, node } if node != "RATE/1")
        ),
        "only the faulty node restarted"
    );
    common::run(dir.path(), &dir.path().join("plain.db"), 2);
    assert_eq!(common::dump_db(&run.db), common::dump_db(&dir.path().join("plain.db")));
}

/// A 2-segment run whose RATE/1 fails once at its step 30 (RATE's ticks run 22 statements:
/// that is in its second tick), with a breakpoint on RATE/1's `charge`.
fn faulty_rate1(dir: &Path, db: &str) -> Run {
    let mut opts = options(dir, db, 2);
    opts.faults = vec!["RATE/1:step=30".parse().unwrap()];
    start(&opts, &["nodes = \"RATE/1\"\nstatement = \"charge\""])
}

#[test]
fn a_restart_is_told_once_and_before_the_stops_of_the_retried_tick() {
    let dir = input(3000);
    let mut run = faulty_rate1(dir.path(), "retry.db");
    let first = run.stop();
    assert_eq!((first.node.as_str(), first.step), ("RATE/1", 0));
    run.session.send(Command::Continue { node: None });
    assert_eq!(run.stop().step, 22);
    run.session.send(Command::Continue { node: None });
    // The fault undoes the second tick; its retry stops at `charge` again.
    let retried = run.stop();
    assert_eq!(retried.statement, "charge");
    assert!(retried.step > 30, "{retried:?}");
    let restarts: Vec<usize> = (run.log.iter().enumerate())
        .filter(|(_, e)| matches!(e, Event::State { state: NodeState::Restarted { .. }, .. }))
        .map(|(i, _)| i)
        .collect();
    let stop_at = run.log.iter().rposition(|e| matches!(e, Event::Stopped(_))).unwrap();
    assert_eq!(restarts.len(), 1, "{:#?}", run.log);
    assert!(restarts[0] < stop_at, "the restart is told after the stop it led to: {:#?}", run.log);
    run.session.send(Command::DeleteForm { id: 1 });
    run.wait("forms", |e| matches!(e, Event::Forms { .. }));
    run.session.send(Command::Continue { node: None });
    run.finish();
    let told =
        run.log.iter().filter(|e| matches!(e, Event::State { state: NodeState::Restarted { .. }, .. }));
    assert_eq!(told.count(), 1, "one restart, told once");
}

#[test]
fn a_step_into_a_failing_statement_stops_at_the_failure() {
    let dir = input(3000);
    let mut run = faulty_rate1(dir.path(), "stepfail.db");
    assert_eq!(run.stop().step, 0);
    run.session.send(Command::Continue { node: None });
    assert_eq!(run.stop().step, 22);
    // Ten statements from step 22: the ninth fails; the step stops there, before the restart
    // undoes the tick, as gdb's step stops at a signal (no failure form asked for it).
    run.session.send(Command::Step { node: "RATE/1".into(), count: 10 });
    let s = run.stop();
    assert_eq!((s.step, s.at, s.reason.form), (30, Position::After, None), "{s:?}");
    assert_eq!(s.reason.why, Why::Failure { error: "injected fault".into() });
    run.session.send(Command::DeleteForm { id: 1 });
    run.wait("forms", |e| matches!(e, Event::Forms { .. }));
    run.session.send(Command::Continue { node: None });
    run.finish();
}

#[test]
fn a_failure_form_freezes_the_node_as_the_failure_left_it() {
    let dir = tempfile::tempdir().unwrap();
    let opts = GenOptions {
        out: dir.path().into(),
        cdrs: 3000,
        subscribers: 200,
        seed: 7,
        bad_rate: 0.02,
        poison_rate: 0.003,
    };
    generate(&opts).expect("generate");
    let form = std::fs::read_to_string("assets/forms/rate-failure.toml").unwrap();
    let mut run = start(&options(dir.path(), "out.db", 1), &[&form]);
    let stop = run.stop();
    let Why::Failure { ref error } = stop.reason.why else { panic!("{stop:?}") };
    let poison = error.strip_prefix("panicked: cannot rate poison row ").expect(error).to_string();
    assert_eq!((stop.node.as_str(), stop.statement.as_str(), stop.at), ("RATE/0", "amount", Position::After));
    // The poison row is there, as the failed attempt left it: confirmed, not yet rated.
    let it = run.rows("RATE/0", None, Some(&format!("EVENT_ID = '{poison}'")), 0, 10);
    assert_eq!(it.total, 1, "{it:?}");
    assert_eq!(it.rows[0].cabinet, "CONFIRMED");
    // Going on, the node restarts; the next stop is a retry of the same records.
    run.session.send(Command::Continue { node: None });
    let next = run.stop();
    assert!(next.global_step > stop.global_step && matches!(next.reason.why, Why::Failure { .. }));
    run.session.send(Command::Detach);
    run.finish();
    let conn = rusqlite::Connection::open(dir.path().join("out.db")).unwrap();
    let quarantined: i64 = conn
        .query_row("SELECT count(*) FROM quarantine WHERE event_id = ?1", [&poison], |r| r.get(0))
        .unwrap();
    assert_eq!(quarantined, 1, "the poison row ends in quarantine");
}
