//! A second pipeline on catar's public API: the employee lifecycle of the seed text.
//! Employees are charged ACTIVE; the HR stage retires those of pension age and fires those
//! rated poorly; everyone is discharged to the sink in their final cabinet.
//!
//! Run it with `cargo run --example employees`.

use std::collections::BTreeMap;
use std::sync::Arc;

use catar::engine::{BoxError, NoHook, OpKind, Pipeline, Sink, SinkBatch, Source, Stage, StatementError};
use catar::model::{CabinetId, ContextId, ReactorKind, Record, Schema, Value, Weight};
use catar::ops;

struct Lifecycle {
    schema: Arc<Schema>,
    emp_id: ContextId,
    age: ContextId,
    rating: ContextId,
    active: CabinetId,
    fired: CabinetId,
    retired: CabinetId,
}

fn lifecycle() -> Lifecycle {
    let mut b = Schema::builder();
    let emp_id = b.context("EMP_ID", Weight::Heavy);
    let age = b.context("AGE", Weight::Heavy);
    let rating = b.context("RATING", Weight::Light);
    let employee = b.root("EMPLOYEE", &[emp_id, age, rating]);
    let active = b.cabinet("ACTIVE", Some(employee), &[]);
    let fired = b.cabinet("FIRED", Some(employee), &[]);
    let retired = b.cabinet("RETIRED", Some(employee), &[]);
    let schema = Arc::new(b.build().expect("a valid schema"));
    Lifecycle { schema, emp_id, age, rating, active, fired, retired }
}

fn hr_stage(l: &Lifecycle) -> Stage {
    let mut s = Stage::builder("HR", &l.schema, l.emp_id);
    let staff = s.reactor("STAFF", ReactorKind::Driving);
    let out = s.sink("LEAVERS");
    let (active, fired, retired, age, rating) = (l.active, l.fired, l.retired, l.age, l.rating);
    let int = |r: &Record, c: ContextId| r.get(c).as_int().unwrap_or(0);
    s.statement("hire", OpKind::Charge, "charge ACTIVE <- new employees", move |ws, rep| {
        let batch = ws.take_inbox();
        ops::charge(ws.table_mut(staff), active, batch, rep);
        Ok(())
    });
    s.statement("retire", OpKind::State, "state RETIRED where AGE >= 67", move |ws, rep| {
        ops::state(ws.table_mut(staff), retired, |r| int(r, age) >= 67, rep);
        Ok(())
    });
    s.statement("fire", OpKind::State, "state FIRED where ACTIVE and RATING < 2", move |ws, rep| {
        ops::state(ws.table_mut(staff), fired, |r| r.header.cabinet == active && int(r, rating) < 2, rep);
        Ok(())
    });
    s.statement("check", OpKind::State, "every employee has an age", move |ws, _| {
        match ws.table(staff).live().find(|r| r.get(age).is_empty()) {
            Some(r) => Err(StatementError(format!("employee {} has no AGE", r.header.reg_id))),
            None => Ok(()),
        }
    });
    s.statement("leave", OpKind::Discharge, "discharge every cabinet -> LEAVERS", move |ws, rep| {
        let (from, to) = ws.pair_mut(staff, out);
        ops::discharge(from, to, |_| true, rep);
        Ok(())
    });
    s.build()
}

struct Staff {
    l: Lifecycle,
    next: u64,
    total: u64,
}

impl Source for Staff {
    fn next_batch(&mut self, max: usize) -> Result<Option<Vec<Record>>, BoxError> {
        let mut batch = Vec::new();
        while self.next < self.total && batch.len() < max {
            self.next += 1;
            let mut r = Record::new(self.next);
            r.set(self.l.emp_id, Value::text(format!("E{:04}", self.next)));
            r.set(self.l.age, Value::Int(20 + (self.next * 7 % 50) as i64));
            r.set(self.l.rating, Value::Int((self.next % 5) as i64));
            batch.push(r);
        }
        Ok((!batch.is_empty()).then_some(batch))
    }
}

#[derive(Default)]
struct Census {
    by_cabinet: BTreeMap<u16, u64>,
    reg_ids: Vec<u64>,
}

impl Sink for Census {
    fn write(&mut self, batch: SinkBatch) -> Result<(), BoxError> {
        for r in batch.records {
            *self.by_cabinet.entry(r.header.cabinet.0).or_default() += 1;
            self.reg_ids.push(r.header.reg_id);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), BoxError> {
        Ok(())
    }
}

fn run(employees: u64, segments: usize) -> (Lifecycle, Census) {
    let l = lifecycle();
    let mut pipeline = Pipeline::new(l.schema.clone());
    pipeline.stage(hr_stage(&l), segments).window(64);
    let mut source = Staff { l: lifecycle(), next: 0, total: employees };
    let mut census = Census::default();
    pipeline.run(&mut source, &mut census, &NoHook).expect("the run completes");
    (l, census)
}

fn main() {
    let (l, census) = run(1000, 2);
    for (cabinet, n) in &census.by_cabinet {
        println!("{:<8} {n}", l.schema.cabinet(CabinetId(*cabinet)).name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_employee_ends_in_exactly_one_final_cabinet() {
        for segments in [1, 3] {
            let (l, mut census) = run(500, segments);
            census.reg_ids.sort();
            assert_eq!(census.reg_ids, (1..=500).collect::<Vec<_>>());
            // Ages cycle through 20..69 by 7s and ratings by 5s: derive the expectation.
            let (mut retired, mut fired) = (0, 0);
            for n in 1..=500u64 {
                if 20 + (n * 7 % 50) >= 67 {
                    retired += 1;
                } else if n % 5 < 2 {
                    fired += 1;
                }
            }
            assert_eq!(census.by_cabinet[&l.retired.0], retired);
            assert_eq!(census.by_cabinet[&l.fired.0], fired);
            assert_eq!(census.by_cabinet[&l.active.0], 500 - retired - fired);
        }
    }
}
