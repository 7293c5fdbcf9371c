use super::{StepReport, insert, matching, set_cabinet, set_value};
use crate::model::{CabinetId, ContextId, Record, Schema, Table, Value};

/// A join of a driving table to a reference table on linkey (SPEC §2).
#[derive(Clone, Copy, Debug)]
pub struct Collision<'a> {
    /// Pairs (driving context, reference context) whose values must be equal: the linkey finds
    /// candidates, these make the join exact.
    pub on: &'a [(ContextId, ContextId)],
    /// Pairs (reference context, driving context) copied on a hit.
    pub fill: &'a [(ContextId, ContextId)],
    /// Cabinet of a record that hits; `None` keeps its cabinet.
    pub hit: Option<CabinetId>,
    /// Cabinet of a record that misses; `None` keeps its cabinet.
    pub miss: Option<CabinetId>,
}

/// How many records of a collision hit and missed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CollisionCount {
    /// Records that found a reference record.
    pub hits: usize,
    /// Records that found none.
    pub misses: usize,
    /// A checked accumulator's first record whose total would overflow (its reg_id): neither
    /// it nor the records after it were applied.
    pub overflow: Option<u64>,
}

/// Collision: join each matching live, non-skipped record to the first reference record with
/// its linkey that satisfies `on` and `accept`. In the same cabinet it fills the record's
/// contexts from the reference; with a state change it fills only the contexts that were not
/// active in the record's prior cabinet, then moves it.
pub fn collision(
    schema: &Schema,
    driving: &mut Table,
    reference: &Table,
    spec: &Collision<'_>,
    filter: impl FnMut(&Record) -> bool,
    mut accept: impl FnMut(&Record, &Record) -> bool,
    report: &mut StepReport,
) -> CollisionCount {
    let mut filter = filter;
    let rows = matching(driving, |r| !r.header.skip && filter(r), report);
    let mut count = CollisionCount::default();
    for row in rows {
        let rec = &driving.rows()[row];
        let found = reference
            .find(rec.header.linkey)
            .find(|r| spec.on.iter().all(|&(d, f)| rec.get(d) == r.get(f)) && accept(rec, r));
        let Some(found) = found else {
            count.misses += 1;
            if let Some(to) = spec.miss {
                set_cabinet(driving, row, to, report);
            }
            continue;
        };
        count.hits += 1;
        let prior = rec.header.cabinet;
        let state_change = spec.hit.is_some_and(|h| h != prior);
        // Move first, so that the contexts the collision brings appear in the new cabinet
        // (WIFE_NAME belongs to WIFE, not to CONFIRMED).
        if let Some(to) = spec.hit {
            set_cabinet(driving, row, to, report);
        }
        for &(from, to) in spec.fill {
            if state_change && schema.cabinet(prior).is_active(to) {
                continue;
            }
            set_value(driving, row, to, found.get(from).clone(), report);
        }
    }
    count
}

/// Collision with a keys-only "seen" table that learns as it goes, in row order: a record whose
/// linkey is already there hits (and moves to `hit`); otherwise its linkey is added, so a later
/// record of the same tick collides with it.
pub fn collision_learn(
    driving: &mut Table,
    seen: &mut Table,
    hit: CabinetId,
    filter: impl FnMut(&Record) -> bool,
    report: &mut StepReport,
) -> CollisionCount {
    let mut filter = filter;
    let rows = matching(driving, |r| !r.header.skip && filter(r), report);
    let mut count = CollisionCount::default();
    for row in rows {
        let linkey = driving.rows()[row].header.linkey;
        if seen.contains_key(linkey) {
            count.hits += 1;
            set_cabinet(driving, row, hit, report);
        } else {
            count.misses += 1;
            let mut key = Record::new(driving.rows()[row].header.reg_id);
            key.header.linkey = linkey;
            seen.push_row(key);
        }
    }
    count
}

/// An accumulator collision: a running total per key, updated record by record in row order.
#[derive(Clone, Copy, Debug)]
pub struct Accumulate<'a> {
    /// Key contexts: equal in the record and the accumulator row (the linkey finds it).
    pub key: &'a [ContextId],
    /// The context holding the total in accumulator rows.
    pub total: ContextId,
    /// Cabinet of accumulator rows.
    pub cabinet: CabinetId,
    /// The record context giving a new key's opening total (none: 0).
    pub init: Option<ContextId>,
    /// The record context added to the total (an empty value adds 0).
    pub add: ContextId,
    /// Subtract instead of add.
    pub subtract: bool,
    /// The record context that receives the total.
    pub out: ContextId,
    /// Whether `out` gets the total after this record's addition (else before it).
    pub out_after: bool,
    /// Stop at a total that would overflow (see [`CollisionCount::overflow`]) instead of
    /// saturating: for totals that must be exact, as money is.
    pub checked: bool,
}

/// Collision with an accumulator: for each matching live, non-skipped record in row order, find
/// (or open) its key's row, give the record the total, and add the record's value to it.
/// Totals saturate instead of overflowing, unless the spec is `checked`.
pub fn collision_accumulate(
    driving: &mut Table,
    acc: &mut Table,
    spec: &Accumulate<'_>,
    filter: impl FnMut(&Record) -> bool,
    report: &mut StepReport,
) -> CollisionCount {
    let mut filter = filter;
    let rows = matching(driving, |r| !r.header.skip && filter(r), report);
    let mut count = CollisionCount::default();
    for row in rows {
        let rec = &driving.rows()[row];
        let linkey = rec.header.linkey;
        let existing =
            acc.find_row(linkey).filter(|&a| spec.key.iter().all(|&k| acc.rows()[a].get(k) == rec.get(k)));
        let at = match existing {
            Some(a) => {
                count.hits += 1;
                a
            }
            None => {
                count.misses += 1;
                let mut fresh = Record::new(acc.rows().len() as u64 + 1);
                fresh.header.linkey = linkey;
                for &k in spec.key {
                    fresh.set(k, rec.get(k).clone());
                }
                let opening = spec.init.and_then(|c| rec.get(c).as_int()).unwrap_or(0);
                fresh.set(spec.total, Value::Int(opening));
                insert(acc, fresh, spec.cabinet, report);
                acc.rows().len() - 1
            }
        };
        let before = acc.rows()[at].get(spec.total).as_int().unwrap_or(0);
        let delta = rec.get(spec.add).as_int().unwrap_or(0);
        let exact = if spec.subtract { before.checked_sub(delta) } else { before.checked_add(delta) };
        let after = match exact {
            Some(total) => total,
            None if spec.checked => {
                count.overflow = Some(rec.header.reg_id);
                break;
            }
            None if spec.subtract => before.saturating_sub(delta),
            None => before.saturating_add(delta),
        };
        set_value(acc, at, spec.total, Value::Int(after), report);
        let out = if spec.out_after { after } else { before };
        set_value(driving, row, spec.out, Value::Int(out), report);
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TableKind;
    use crate::ops::{ArmMode, arm, fixture::fx, skip};

    fn names(f: &crate::ops::fixture::Fx) -> Table {
        let mut r = f.table(9, TableKind::Reference);
        let mut rep = StepReport::default();
        for (kind, name) in [("A", "alpha"), ("B", "beta"), ("A", "second alpha")] {
            let mut rec = Record::new(0);
            rec.set(f.kind, Value::text(kind));
            rec.set(f.name, Value::text(name));
            insert(&mut r, rec, f.ok, &mut rep);
        }
        arm(&mut r, &[f.kind], ArmMode::Absolute, |_| true, &mut rep);
        r
    }

    #[test]
    fn state_change_collision_fills_new_contexts_and_misses_move_elsewhere() {
        let f = fx();
        let reference = names(&f);
        let mut t = f.reactor(0);
        let mut rep = StepReport::default();
        for (i, k) in ["A", "C", "B"].iter().enumerate() {
            insert(&mut t, f.rec(i as u64 + 1, k, 1), f.raw, &mut rep);
        }
        arm(&mut t, &[f.kind], ArmMode::Absolute, |_| true, &mut rep);
        rep.clear();
        let spec = Collision {
            on: &[(f.kind, f.kind)],
            fill: &[(f.name, f.name)],
            hit: Some(f.ok),
            miss: Some(f.bad),
        };
        let n = collision(&f.schema, &mut t, &reference, &spec, |_| true, |_, _| true, &mut rep);
        assert_eq!(n, CollisionCount { hits: 2, misses: 1, overflow: None });
        assert_eq!(t.rows()[0].get(f.name), &Value::text("alpha"), "the first reference row wins");
        assert_eq!(t.rows()[2].get(f.name), &Value::text("beta"));
        assert_eq!(t.rows()[1].header.cabinet, f.bad);
        assert_eq!((t.mass(f.ok), t.mass(f.bad), t.mass(f.raw)), (2, 1, 0));
        assert_eq!(rep.contexts.len(), 2);
        assert_eq!(rep.transitions.len(), 3);
    }

    #[test]
    fn state_change_collision_keeps_contexts_active_in_the_prior_cabinet() {
        let f = fx();
        let reference = names(&f);
        let mut t = f.reactor(0);
        let mut rep = StepReport::default();
        let mut rec = f.rec(1, "A", 1);
        rec.set(f.name, Value::text("mine"));
        insert(&mut t, rec, f.ok, &mut rep);
        arm(&mut t, &[f.kind], ArmMode::Absolute, |_| true, &mut rep);
        // OK -> BAD is a state change; NAME is active in OK, so it is not overwritten.
        let spec =
            Collision { on: &[(f.kind, f.kind)], fill: &[(f.name, f.name)], hit: Some(f.bad), miss: None };
        collision(&f.schema, &mut t, &reference, &spec, |_| true, |_, _| true, &mut rep);
        assert_eq!(t.rows()[0].get(f.name), &Value::text("mine"));
        // In the same cabinet the collision fills from the reference.
        let same = Collision { hit: None, ..spec };
        collision(&f.schema, &mut t, &reference, &same, |_| true, |_, _| true, &mut rep);
        assert_eq!(t.rows()[0].get(f.name), &Value::text("alpha"));
    }

    #[test]
    fn skipped_and_disarmed_records_take_part_in_no_collision() {
        let f = fx();
        let reference = names(&f);
        let mut t = f.reactor(0);
        let mut rep = StepReport::default();
        insert(&mut t, f.rec(1, "A", 1), f.raw, &mut rep);
        insert(&mut t, f.rec(2, "A", 1), f.raw, &mut rep);
        arm(&mut t, &[f.kind], ArmMode::Absolute, |_| true, &mut rep);
        skip(&mut t, true, |r| r.header.reg_id == 1, &mut rep);
        crate::ops::disarm(&mut t, |r| r.header.reg_id == 2, &mut rep);
        let spec = Collision { on: &[], fill: &[], hit: Some(f.ok), miss: Some(f.bad) };
        let n = collision(&f.schema, &mut t, &reference, &spec, |_| true, |_, _| true, &mut rep);
        assert_eq!(n, CollisionCount::default());
        assert_eq!(t.rows()[0].header.cabinet, f.raw);
    }

    #[test]
    fn accept_can_refuse_a_reference_row_and_the_next_one_is_tried() {
        let f = fx();
        let reference = names(&f);
        let mut t = f.reactor(0);
        let mut rep = StepReport::default();
        insert(&mut t, f.rec(1, "A", 1), f.raw, &mut rep);
        arm(&mut t, &[f.kind], ArmMode::Absolute, |_| true, &mut rep);
        let spec = Collision { on: &[], fill: &[(f.name, f.name)], hit: None, miss: None };
        let not_alpha = |_: &Record, r: &Record| r.get(f.name) != &Value::text("alpha");
        collision(&f.schema, &mut t, &reference, &spec, |_| true, not_alpha, &mut rep);
        assert_eq!(t.rows()[0].get(f.name), &Value::text("second alpha"));
    }

    #[test]
    fn learning_collision_catches_repeats_within_one_tick() {
        let f = fx();
        let mut seen = Table::keys_only(crate::model::TableId(5), "SEEN", f.schema.cabinets().len());
        let mut t = f.reactor(0);
        let mut rep = StepReport::default();
        for (i, id) in ["E1", "E2", "E1", "E1"].iter().enumerate() {
            let mut r = f.rec(i as u64 + 1, "A", 1);
            r.set(f.id, Value::text(*id));
            insert(&mut t, r, f.raw, &mut rep);
        }
        arm(&mut t, &[f.id], ArmMode::Absolute, |_| true, &mut rep);
        let n = collision_learn(&mut t, &mut seen, f.bad, |_| true, &mut rep);
        assert_eq!(n, CollisionCount { hits: 2, misses: 2, overflow: None });
        let cabs: Vec<_> = t.rows().iter().map(|r| r.header.cabinet).collect();
        assert_eq!(cabs, vec![f.raw, f.raw, f.bad, f.bad]);
        assert_eq!(seen.key_count(), 2);
    }

    #[test]
    fn accumulator_runs_totals_in_row_order() {
        let f = fx();
        let mut acc = f.table(4, TableKind::Accumulator);
        let mut t = f.reactor(0);
        let mut rep = StepReport::default();
        for (i, (k, a)) in [("A", 5), ("B", 7), ("A", 3)].iter().enumerate() {
            insert(&mut t, f.rec(i as u64 + 1, k, *a), f.raw, &mut rep);
        }
        arm(&mut t, &[f.kind], ArmMode::Absolute, |_| true, &mut rep);
        let spec = Accumulate {
            key: &[f.kind],
            total: f.name,
            cabinet: f.ok,
            init: None,
            add: f.amount,
            subtract: false,
            out: f.name,
            out_after: false,
            checked: false,
        };
        let n = collision_accumulate(&mut t, &mut acc, &spec, |_| true, &mut rep);
        assert_eq!(n, CollisionCount { hits: 1, misses: 2, overflow: None });
        let before: Vec<_> = t.rows().iter().map(|r| r.get(f.name).clone()).collect();
        assert_eq!(before, vec![Value::Int(0), Value::Int(0), Value::Int(5)]);
        let totals: Vec<_> = acc.rows().iter().map(|r| r.get(f.name).clone()).collect();
        assert_eq!(totals, vec![Value::Int(8), Value::Int(7)]);
        assert_eq!(acc.mass(f.ok), 2);
    }

    #[test]
    fn a_checked_accumulator_stops_at_the_record_that_would_overflow() {
        let f = fx();
        for checked in [false, true] {
            let mut acc = f.table(4, TableKind::Accumulator);
            let mut t = f.reactor(0);
            let mut rep = StepReport::default();
            for (i, a) in [i64::MAX - 1, 1, 1, 5].into_iter().enumerate() {
                insert(&mut t, f.rec(i as u64 + 1, "A", a), f.raw, &mut rep);
            }
            arm(&mut t, &[f.kind], ArmMode::Absolute, |_| true, &mut rep);
            let spec = Accumulate {
                key: &[f.kind],
                total: f.name,
                cabinet: f.ok,
                init: None,
                add: f.amount,
                subtract: false,
                out: f.name,
                out_after: true,
                checked,
            };
            let n = collision_accumulate(&mut t, &mut acc, &spec, |_| true, &mut rep);
            let outs: Vec<_> = t.rows().iter().map(|r| r.get(f.name).clone()).collect();
            if checked {
                // The third record would overflow: it and the fourth get nothing.
                assert_eq!(n.overflow, Some(3));
                assert_eq!(
                    outs,
                    [Value::Int(i64::MAX - 1), Value::Int(i64::MAX), Value::Empty, Value::Empty]
                );
            } else {
                assert_eq!(n.overflow, None);
                assert_eq!(outs, [i64::MAX - 1, i64::MAX, i64::MAX, i64::MAX].map(Value::Int));
            }
        }
    }
}
