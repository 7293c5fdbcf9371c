//! The runtime through its public API: per-key order across stages and segments, step
//! numbering, the step hook, and failures that surface instead of hanging.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use catar::engine::{
    BoxError, EngineError, HookFactory, NoHook, NodeId, OpKind, Pipeline, Sink, SinkBatch, Source, Stage,
    StatementError, StepHook, StepPoint, Workspace,
};
use catar::model::{CabinetId, ContextId, ReactorKind, Record, Schema, Value, Weight};
use catar::ops::{self, ReportDetail, StepReport};

struct Fixture {
    schema: Arc<Schema>,
    key: ContextId,
    seq: ContextId,
    seen: CabinetId,
    done: CabinetId,
}

fn fixture() -> Fixture {
    let mut b = Schema::builder();
    let key = b.context("KEY", Weight::Light);
    let seq = b.context("SEQ", Weight::Heavy);
    let root = b.root("IN", &[key, seq]);
    let seen = b.cabinet("SEEN", Some(root), &[]);
    let done = b.cabinet("DONE", Some(root), &[]);
    Fixture { schema: Arc::new(b.build().unwrap()), key, seq, seen, done }
}

/// A pass-through stage: charge, move to `to`, forward (or sink when last).
fn stage(f: &Fixture, name: &str, to: CabinetId, last: bool, fail_at: Option<u64>) -> Stage {
    let mut s = Stage::builder(name, &f.schema, f.key);
    let r = s.reactor("R", ReactorKind::Driving);
    let out = if last { s.sink("out") } else { s.output("next") };
    let seq = f.seq;
    s.statement("charge", OpKind::Charge, "charge", move |ws: &mut Workspace, rep: &mut StepReport| {
        let batch = ws.take_inbox();
        ops::charge(ws.table_mut(r), to, batch, rep);
        Ok(())
    });
    s.statement("check", OpKind::State, "fail on a poison record", move |ws, _| {
        match ws.table(r).live().find(|x| Some(x.get(seq).as_int().unwrap_or(0) as u64) == fail_at) {
            Some(x) => Err(StatementError(format!("poison {}", x.header.reg_id))),
            None => Ok(()),
        }
    });
    s.statement("forward", OpKind::Discharge, "discharge", move |ws, rep| {
        let (from, into) = ws.pair_mut(r, out);
        ops::discharge(from, into, |_| true, rep);
        Ok(())
    });
    s.build()
}

struct Counter {
    f: Arc<Fixture>,
    next: u64,
    total: u64,
}

impl Source for Counter {
    fn next_batch(&mut self, max: usize) -> Result<Option<Vec<Record>>, BoxError> {
        let mut v = Vec::new();
        while self.next < self.total && v.len() < max {
            self.next += 1;
            let mut r = Record::new(self.next);
            r.set(self.f.key, Value::text(format!("k{}", self.next % 7)));
            r.set(self.f.seq, Value::Int(self.next as i64));
            v.push(r);
        }
        Ok((!v.is_empty()).then_some(v))
    }
}

#[derive(Default)]
struct Collect(Vec<Record>);

impl Sink for Collect {
    fn write(&mut self, b: SinkBatch) -> Result<(), BoxError> {
        self.0.extend(b.records);
        Ok(())
    }
    fn finish(&mut self) -> Result<(), BoxError> {
        Ok(())
    }
}

fn pipeline(f: &Fixture, segments: usize, fail_at: Option<u64>) -> Pipeline {
    let mut p = Pipeline::new(f.schema.clone());
    p.stage(stage(f, "A", f.seen, false, None), segments)
        .stage(stage(f, "B", f.done, true, fail_at), segments)
        .window(10)
        .channel_capacity(1);
    p
}

#[test]
fn every_record_arrives_once_and_each_key_keeps_input_order() {
    let f = Arc::new(fixture());
    for segments in [1, 3] {
        let mut source = Counter { f: f.clone(), next: 0, total: 500 };
        let mut sink = Collect::default();
        let report = pipeline(&f, segments, None).run(&mut source, &mut sink, &NoHook).unwrap();
        assert_eq!(report.records, 500);
        assert_eq!(sink.0.len(), 500);
        let mut by_key: HashMap<String, Vec<u64>> = HashMap::new();
        for r in &sink.0 {
            assert_eq!(r.header.cabinet, f.done);
            by_key.entry(r.get(f.key).to_string()).or_default().push(r.header.reg_id);
        }
        for (key, ids) in by_key {
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "key {key} out of order: {ids:?}");
        }
        assert_eq!(report.nodes.len(), 2 * segments);
        assert_eq!(report.nodes.iter().map(|n| n.records_in).sum::<u64>(), 1000);
    }
}

/// (node, node step, global step, statement, tick) of one step.
type Seen = (String, u64, u64, usize, u64);

/// Records every step point a node passes, to check the numbering.
#[derive(Clone, Default)]
struct Steps(Arc<Mutex<Vec<Seen>>>);

impl StepHook for Steps {
    fn detail(&self) -> ReportDetail {
        ReportDetail::Summary
    }
    fn after_step(&mut self, at: &StepPoint<'_>, report: &StepReport, _ws: &Workspace) {
        if at.statement == 0 {
            assert!(report.moves.iter().any(|m| m.4 > 0), "a charge reports its arrivals at summary detail");
            assert!(report.transitions.is_empty(), "one by one only at full detail");
            assert!(report.contexts.iter().all(|c| c.value.is_empty()), "no values at summary detail");
        }
        self.0.lock().unwrap().push((
            at.node.name.clone(),
            at.node_step,
            at.global_step,
            at.statement,
            at.tick,
        ));
    }
}

impl HookFactory for Steps {
    fn hook_for(&self, _node: &NodeId) -> Box<dyn StepHook> {
        Box::new(self.clone())
    }
}

#[test]
fn steps_are_numbered_per_node_and_globally() {
    let f = Arc::new(fixture());
    let steps = Steps::default();
    let mut source = Counter { f: f.clone(), next: 0, total: 95 };
    let report = pipeline(&f, 2, None).run(&mut source, &mut Collect::default(), &steps).unwrap();
    let seen = steps.0.lock().unwrap().clone();
    assert_eq!(seen.len() as u64, report.steps);
    let mut globals: Vec<u64> = seen.iter().map(|s| s.2).collect();
    globals.sort();
    assert_eq!(globals, (0..report.steps).collect::<Vec<_>>(), "global numbers are unique and dense");
    let mut per_node: HashMap<String, Vec<(u64, usize)>> = HashMap::new();
    for (node, step, _, statement, _) in seen {
        per_node.entry(node).or_default().push((step, statement));
    }
    for (node, list) in per_node {
        for (i, (step, statement)) in list.iter().enumerate() {
            assert_eq!(*step, i as u64, "{node} numbers its steps in order");
            assert_eq!(*statement, i % 3, "{node} runs its three statements in program order");
        }
    }
}

#[test]
fn a_failing_statement_stops_the_run_with_its_node_and_statement() {
    let f = Arc::new(fixture());
    let mut source = Counter { f: f.clone(), next: 0, total: 10_000 };
    let err = pipeline(&f, 2, Some(4321)).run(&mut source, &mut Collect::default(), &NoHook).unwrap_err();
    match err {
        EngineError::Statement { node, statement, message } => {
            assert!(node.starts_with("B/"), "{node}");
            assert_eq!(statement, "check");
            assert_eq!(message, "poison 4321");
        }
        other => panic!("expected a statement error, got {other}"),
    }
}

struct Panicky;

impl StepHook for Panicky {
    fn before_step(&mut self, at: &StepPoint<'_>, _ws: &Workspace) {
        assert!(!(at.node.name == "A/1" && at.node_step == 7), "injected panic");
    }
}

impl HookFactory for Panicky {
    fn hook_for(&self, _node: &NodeId) -> Box<dyn StepHook> {
        Box::new(Panicky)
    }
}

#[test]
fn a_panicking_node_is_reported_and_nothing_hangs() {
    let f = Arc::new(fixture());
    let mut source = Counter { f: f.clone(), next: 0, total: 10_000 };
    let err = pipeline(&f, 2, None).run(&mut source, &mut Collect::default(), &Panicky).unwrap_err();
    assert!(matches!(&err, EngineError::Panicked { node, .. } if node == "A/1"), "{err}");
}
