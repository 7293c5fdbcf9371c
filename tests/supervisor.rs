//! The supervisor through the public API (seed 000): a failed node's tick is undone and run
//! again, so a run with faults gives exactly what a run without them gives, and a record that
//! keeps failing is quarantined while the others go through.

use std::collections::BTreeMap;
use std::sync::Arc;

use catar::engine::{
    BoxError, Fault, NoHook, OpKind, Pipeline, Quarantine, RunReport, Sink, SinkBatch, Source, Stage,
    Supervision, Workspace,
};
use catar::model::{CabinetId, ContextId, ReactorKind, Record, Schema, TableKind, Value, Weight};
use catar::ops::{self, Accumulate, ArmMode, StepReport};

struct Fixture {
    schema: Arc<Schema>,
    key: ContextId,
    seq: ContextId,
    total: ContextId,
    error: ContextId,
    done: CabinetId,
    acc: CabinetId,
    quarantine: CabinetId,
}

fn fixture() -> Arc<Fixture> {
    let mut b = Schema::builder();
    let key = b.context("KEY", Weight::Light);
    let seq = b.context("SEQ", Weight::Heavy);
    let total = b.context("TOTAL", Weight::Heavy);
    let error = b.context("ERROR", Weight::Heavy);
    let root = b.root("IN", &[key, seq]);
    let done = b.cabinet("DONE", Some(root), &[total]);
    let acc = b.cabinet("ACC", None, &[key, total]);
    let quarantine = b.cabinet("QUARANTINE", Some(root), &[error]);
    Arc::new(Fixture { schema: Arc::new(b.build().unwrap()), key, seq, total, error, done, acc, quarantine })
}

/// charge, arm by KEY, add SEQ to the key's running TOTAL (kept across ticks in an
/// accumulator), panic on the poison record, then send on: a failure after the accumulation
/// must be undone, or every later TOTAL of the key would be off.
fn stage(f: &Fixture, name: &str, last: bool, poison: Option<i64>) -> Stage {
    let mut s = Stage::builder(name, &f.schema, f.key);
    let r = s.reactor("R", ReactorKind::Driving);
    let acc = s.table("TOTALS", TableKind::Accumulator);
    let out = if last { s.sink("out") } else { s.output("next") };
    let (key, seq, total, done, acc_cab) = (f.key, f.seq, f.total, f.done, f.acc);
    s.statement("charge", OpKind::Charge, "charge", move |ws: &mut Workspace, rep: &mut StepReport| {
        let batch = ws.take_inbox();
        ops::charge(ws.table_mut(r), done, batch, rep);
        Ok(())
    });
    s.statement("arm", OpKind::Arm, "arm KEY", move |ws, rep| {
        ops::arm(ws.table_mut(r), &[key], ArmMode::Absolute, |_| true, rep);
        Ok(())
    });
    s.statement("total", OpKind::Collision, "TOTAL += SEQ", move |ws, rep| {
        let spec = Accumulate {
            key: &[key],
            total,
            cabinet: acc_cab,
            init: None,
            add: seq,
            subtract: false,
            out: total,
            out_after: true,
            checked: false,
        };
        let (t, a) = ws.pair_mut(r, acc);
        ops::collision_accumulate(t, a, &spec, |_| true, rep);
        Ok(())
    });
    s.statement("check", OpKind::State, "panic on the poison record", move |ws, _| {
        if let Some(x) = ws.table(r).live().find(|x| x.get(seq).as_int() == poison) {
            panic!("poison {}", x.header.reg_id);
        }
        Ok(())
    });
    s.statement("forward", OpKind::Discharge, "discharge", move |ws, rep| {
        let (from, into) = ws.pair_mut(r, out);
        ops::discharge(from, into, |_| true, rep);
        Ok(())
    });
    s.build()
}

/// Records 1..=total with seven keys; `skip` leaves one out.
struct Counter {
    f: Arc<Fixture>,
    next: u64,
    total: u64,
    skip: Option<u64>,
}

impl Source for Counter {
    fn next_batch(&mut self, max: usize) -> Result<Option<Vec<Record>>, BoxError> {
        let mut v = Vec::new();
        while self.next < self.total && v.len() < max {
            self.next += 1;
            if Some(self.next) == self.skip {
                continue;
            }
            let mut r = Record::new(self.next);
            r.set(self.f.key, Value::text(format!("k{}", self.next % 7)));
            r.set(self.f.seq, Value::Int(self.next as i64));
            v.push(r);
        }
        Ok((!v.is_empty()).then_some(v))
    }
}

/// Per sink table, each record's (reg_id, cabinet, TOTAL, ERROR).
#[derive(Default)]
struct Collect(BTreeMap<String, BTreeMap<u64, (CabinetId, Value, Value)>>);

struct Into<'a>(&'a Fixture, &'a mut Collect);

impl Sink for Into<'_> {
    fn write(&mut self, b: SinkBatch) -> Result<(), BoxError> {
        let table = self.1.0.entry(b.table).or_default();
        for r in b.records {
            let row = (r.header.cabinet, r.get(self.0.total).clone(), r.get(self.0.error).clone());
            assert!(table.insert(r.header.reg_id, row).is_none(), "record {} stored twice", r.header.reg_id);
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<(), BoxError> {
        Ok(())
    }
}

fn run(
    f: &Arc<Fixture>,
    supervision: Supervision,
    poison: Option<i64>,
    skip: Option<u64>,
) -> (RunReport, Collect) {
    let mut p = Pipeline::new(f.schema.clone());
    p.stage(stage(f, "A", false, None), 2)
        .stage(stage(f, "B", true, poison), 2)
        .window(16)
        .channel_capacity(2)
        .supervision(supervision);
    let mut source = Counter { f: f.clone(), next: 0, total: 400, skip };
    let mut out = Collect::default();
    let report = p.run(&mut source, &mut Into(f, &mut out), &NoHook).expect("the run completes");
    (report, out)
}

fn quarantine(f: &Fixture) -> Option<Quarantine> {
    Some(Quarantine { table: "quarantine".into(), cabinet: f.quarantine, error: f.error })
}

#[test]
fn faults_anywhere_are_undone_and_the_output_is_that_of_a_clean_run() {
    let f = fixture();
    let (clean, expected) = run(&f, Supervision::default(), None, None);
    assert!(clean.nodes.iter().all(|n| n.restarts == 0));
    assert_eq!(expected.0["out"].len(), 400);
    // Every statement of both stages, on both segments, some several times in a row.
    let faults: Vec<Fault> = [
        "A/0:step=0",
        "A/1:step=7",
        "A/0:step=33:times=2",
        "B/0:step=2",
        "B/1:step=13:times=3",
        "B/0:step=48",
        "B/1:step=54",
        "A/1:step=81",
        "B/0:step=99:times=2",
        "A/0:step=104",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let fired: u32 = faults.iter().map(|f| f.times).sum();
    let statements: Vec<u64> = faults.iter().map(|f| f.step % 5).collect();
    assert!((0..5).all(|s| statements.contains(&s)), "a fault in every statement");
    let supervision = Supervision { faults, quarantine: quarantine(&f), ..Supervision::default() };
    let (report, got) = run(&f, supervision, None, None);
    assert_eq!(report.nodes.iter().map(|n| n.restarts).sum::<u32>(), fired, "one restart per firing");
    assert!(!got.0.contains_key("quarantine"), "no record failed max_failures times alone");
    assert_eq!(got.0, expected.0, "same records, same running totals");
}

#[test]
fn a_record_that_keeps_failing_is_quarantined_and_the_others_go_through() {
    let f = fixture();
    let supervision = Supervision { quarantine: quarantine(&f), ..Supervision::default() };
    let (report, got) = run(&f, supervision, Some(123), None);
    let q = &got.0["quarantine"];
    assert_eq!(q.len(), 1);
    let (cabinet, _, error) = &q[&123];
    assert_eq!(*cabinet, f.quarantine);
    assert_eq!(error, &Value::text("panicked: poison 123"));
    // Its addition to the running total was undone: the others' totals are those of a run
    // without it.
    let (_, without) = run(&f, Supervision::default(), None, Some(123));
    assert_eq!(got.0["out"], without.0["out"]);
    assert_eq!(got.0["out"].len(), 399);
    let restarts: u32 = report.nodes.iter().map(|n| n.restarts).sum();
    // Halving a window of at most 16 records down to the poison: at most 4 restarts, then it
    // fails alone max_failures times.
    assert!((3..=4 + 3).contains(&restarts), "{restarts} restarts");
}

#[test]
fn without_a_quarantine_a_record_that_keeps_failing_ends_the_run() {
    let f = fixture();
    let mut p = Pipeline::new(f.schema.clone());
    p.stage(stage(&f, "B", true, Some(5)), 1).window(4);
    let mut source = Counter { f: f.clone(), next: 0, total: 50, skip: None };
    let err = p.run(&mut source, &mut Into(&f, &mut Collect::default()), &NoHook).unwrap_err();
    assert_eq!(err.to_string(), "node B/0, statement check: panicked: poison 5");
}
