//! Replay through the Session API: a live run with forms and a replay of its trace with the
//! same forms stop at the same (node, statement, step, reason) sequence, and inquiries at those
//! stops return the same rows; going backwards (reverse-continue from the end, which rebuilds
//! nodes from checkpoints) finds the same stops in reverse; motion words land where asked.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use catar::rating::generate::{GenOptions, generate};
use catar::rating::{RunOptions, debuggee};
use catar::recorder::{Level, RecorderSettings};
use catar::session::{Command, Event, Session};
use catar::tracer::{Position, Row, Stop, TraceForm, Why};

const DEADLINE: Duration = Duration::from_secs(60);

/// What identifies a stop across a live run and its replay.
type Key = (String, String, u64, u64, String, Position);

fn key(s: &Stop) -> Key {
    (s.node.clone(), s.statement.clone(), s.step, s.global_step, s.reason.to_string(), s.at)
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
            if let Event::Error { message, .. } = &e {
                panic!("waiting for {what}: error {message}");
            }
            if pred(&e) {
                return e;
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

    fn rows(&mut self, node: &str) -> Vec<Row> {
        self.session.send(Command::Inquire {
            node: node.into(),
            reactor: None,
            filter: None,
            offset: 0,
            limit: Some(1000),
        });
        let Event::Rows(rows) = self.next("rows", |e| matches!(e, Event::Rows(_))) else { unreachable!() };
        assert!(rows.total <= 1000, "a page holds every row");
        let mut rows = rows.rows;
        rows.sort_by(|a, b| (&a.table, a.reg_id).cmp(&(&b.table, b.reg_id)));
        rows
    }
}

fn input(cdrs: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let opts = GenOptions { out: dir.path().into(), cdrs, subscribers: 200, seed: 11, bad_rate: 0.02 };
    generate(&opts).expect("generate");
    dir
}

/// A live run recording a full trace: every stop of `texts` with the rows of its node.
fn live(dir: &Path, texts: &[&str]) -> (PathBuf, Vec<(Key, Vec<Row>)>) {
    let trace = dir.join(format!("t{}.trc", texts.join("").len()));
    let mut opts = RunOptions::new(dir, dir.join(format!("{}.db", texts.join("").len())));
    opts.segments = 2;
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
        if s.reason.why == Why::End {
            return stops;
        }
        let rows = c.rows(&s.node);
        stops.push((key(&s), rows));
    }
}

const WIFE: &str = "nodes = \"RATE\"\ncabinets = [\"WIFE\"]\nstop = \"arrival\"";
const REJECTED: &str = "nodes = \"REG\"\ncabinets = [\"REJECTED\"]\nstop = \"departure\"";
const VOICE: &str = "nodes = \"RATE\"\ncabinets = [\"RATED\"]\nwhen = \"AMOUNT > 500 AND SERVICE = 'VOICE'\"";
const BREAK: &str = "nodes = \"DIS/1\"\nstatement = \"discharge\"";
const MASS: &str = "nodes = \"RATE/0\"\ncabinets = [\"RATED\"]\nstop = \"mass\"";
const CONTEXT: &str = "nodes = \"RATE\"\ncabinets = [\"WIFE\"]\ncontexts = [\"WIFE_NAME\"]";

#[test]
fn a_replay_stops_where_the_live_run_stopped_and_sees_the_same_rows() {
    let dir = input(4000);
    for texts in [vec![WIFE, REJECTED], vec![VOICE], vec![BREAK, MASS], vec![CONTEXT]] {
        let (trace, live) = live(dir.path(), &texts);
        assert!(!live.is_empty(), "{texts:?} stops live");
        let mut c = replay(&trace, &texts);
        let replayed = forwards(&mut c);
        let keys = |v: &[(Key, Vec<Row>)]| v.iter().map(|s| s.0.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&replayed), keys(&live), "{texts:?}: the same stops in the same order");
        for (l, r) in live.iter().zip(&replayed) {
            assert_eq!(l.1, r.1, "{texts:?}: rows at {:?}", l.0);
        }
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
