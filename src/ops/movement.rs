use rustc_hash::FxHashMap;

use super::{ContextCopy, ContextMask, ReportDetail, StepReport, insert, matching, set_cabinet, set_value};
use crate::model::{CabinetId, ContextId, Record, Table};

/// Charge: insert records into a table in `cabinet` (its mass rises). Returns how many.
pub fn charge(
    table: &mut Table,
    cabinet: CabinetId,
    records: impl IntoIterator<Item = Record>,
    report: &mut StepReport,
) -> usize {
    let mut n = 0;
    for r in records {
        insert(table, r, cabinet, report);
        n += 1;
    }
    report.matched += n as u64;
    n as usize
}

/// Discharge: move the matching live records from a reactor into another table, in the same
/// cabinet (the reactor's mass falls). Returns how many moved.
pub fn discharge(
    from: &mut Table,
    to: &mut Table,
    filter: impl FnMut(&Record) -> bool,
    report: &mut StepReport,
) -> usize {
    let rows = matching(from, filter, report);
    for &row in &rows {
        let cabinet = from.rows()[row].header.cabinet;
        set_cabinet(from, row, CabinetId::DISARMED, report);
        // The emptied row stays as a disarmed placeholder until the table is compacted, so
        // row positions (and the linkey index) stay valid during the step.
        let mut record = std::mem::take(from.row_mut(row));
        record.header.cabinet = cabinet;
        to.mass[cabinet.index()] += 1;
        report.transition(to.id, &record, CabinetId::DISARMED, cabinet);
        to.push_row(record);
    }
    rows.len()
}

/// De-escalate: copy `contexts` of each live record of `r` into the record of `r2` whose
/// reg_id is its link_to (where that record has no value yet), then free the slots of `r`.
/// Returns how many records were de-escalated.
pub fn deescalate(r: &mut Table, r2: &mut Table, contexts: &[ContextId], report: &mut StepReport) -> usize {
    let targets: FxHashMap<u64, usize> = r2
        .rows()
        .iter()
        .enumerate()
        .filter(|(_, x)| x.is_live())
        .map(|(i, x)| (x.header.reg_id, i))
        .collect();
    let rows = matching(r, |x| x.header.link_to != 0 && targets.contains_key(&x.header.link_to), report);
    for &row in &rows {
        let target = targets[&r.rows()[row].header.link_to];
        let cabinet = r2.rows()[target].header.cabinet;
        let mut copied = 0u128;
        for &c in contexts {
            let v = r.rows()[row].get(c);
            if !v.is_empty() && r2.rows()[target].get(c).is_empty() {
                if report.detail == ReportDetail::Full {
                    // Listed once for the record below, not value by value.
                    report.presence_delta(r2.id, cabinet, c, 1);
                    r2.set_context(target, c, v.clone());
                    copied |= 1 << c.slot();
                } else {
                    set_value(r2, target, c, v.clone(), report);
                }
            }
        }
        if copied != 0 {
            report.copies.push(ContextCopy {
                table: r2.id,
                reg_id: r2.rows()[target].header.reg_id,
                cabinet,
                from_table: r.id,
                from_reg_id: r.rows()[row].header.reg_id,
                contexts: ContextMask(copied),
            });
        }
        if report.wants_contexts() {
            let rec = &r.rows()[row];
            report.freed.push((r.id, rec.header.reg_id, rec.header.cabinet, ContextMask::of(rec)));
            report.wrote(r.id);
        }
        r.row_mut(row).clear();
    }
    rows.len()
}

/// Rolling: move row N to row N+1 for every row, put `fresh` at row 0 in `cabinet`, and drop
/// the rows pushed past `capacity` (archive1..archive12 by month).
pub fn rolling(
    table: &mut Table,
    capacity: usize,
    fresh: Record,
    cabinet: CabinetId,
    report: &mut StepReport,
) {
    table.compact();
    let n = table.rows().len();
    for row in (capacity.saturating_sub(1)..n).rev() {
        set_cabinet(table, row, CabinetId::DISARMED, report);
    }
    insert(table, fresh, cabinet, report);
    // The fresh row (last) comes first once the dropped rows are gone.
    table.retain_live_and_rotate();
    table.reindex();
    report.matched += table.rows().len() as u64;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{TableKind, Value};
    use crate::ops::{disarm, fixture::fx};

    #[test]
    fn charge_reports_arrivals_and_their_contexts() {
        let f = fx();
        let mut t = f.reactor(1);
        let mut rep = StepReport::default();
        assert_eq!(charge(&mut t, f.raw, [f.rec(1, "A", 2), f.rec(2, "B", 3)], &mut rep), 2);
        assert_eq!(t.mass(f.raw), 2);
        assert_eq!(rep.transitions.len(), 2);
        assert!(rep.transitions.iter().all(|x| x.from == CabinetId::DISARMED && x.to == f.raw));
        // Their contexts by reference to their rows, not copied value by value.
        assert!(rep.contexts.is_empty());
        let rows: Vec<(usize, u64)> = rep.arrivals.iter().map(|a| (a.row, a.reg_id)).collect();
        assert_eq!(rows, [(0, 1), (1, 2)]);
        assert!(rows.iter().all(|&(row, reg_id)| t.rows()[row].header.reg_id == reg_id));
        assert_eq!(t.rows()[1].contexts().count(), 3);
    }

    #[test]
    fn at_off_detail_only_mass_is_reported() {
        let f = fx();
        let mut t = f.reactor(1);
        let mut rep = StepReport::with_detail(crate::ops::ReportDetail::Off);
        charge(&mut t, f.raw, [f.rec(1, "A", 2), f.rec(2, "B", 3)], &mut rep);
        assert!(rep.transitions.is_empty() && rep.contexts.is_empty());
        assert_eq!(rep.mass.iter().map(|m| m.delta).sum::<i64>(), 2);
        assert_eq!(rep.matched, 2);
    }

    #[test]
    fn discharge_moves_records_keeping_their_cabinet() {
        let f = fx();
        let mut r = f.reactor(1);
        let mut data = f.table(2, TableKind::Data);
        let mut rep = StepReport::default();
        charge(&mut r, f.ok, [f.rec(1, "A", 2), f.rec(2, "B", 3), f.rec(3, "A", 4)], &mut rep);
        disarm(&mut r, |x| x.header.reg_id == 3, &mut rep);
        rep.clear();
        let n = discharge(&mut r, &mut data, |x| x.get(f.kind) == &Value::text("A"), &mut rep);
        assert_eq!(n, 1, "the disarmed record is invisible");
        assert_eq!((r.mass(f.ok), data.mass(f.ok)), (1, 1));
        assert_eq!(data.rows()[0].get(f.amount), &Value::Int(2));
        let deltas: Vec<_> = rep.mass.iter().map(|m| (m.table, m.delta)).collect();
        assert_eq!(deltas, vec![(r.id(), -1), (data.id(), 1)]);
        r.compact();
        assert_eq!(r.rows().len(), 1);
    }

    #[test]
    fn deescalate_copies_into_the_linked_record_and_frees_the_source() {
        let f = fx();
        let mut r = f.reactor(1);
        let mut sat = f.table(2, TableKind::Reactor(crate::model::ReactorKind::Satellite));
        let mut rep = StepReport::default();
        let mut a = f.rec(1, "A", 2);
        a.header.link_to = 1;
        let mut b = f.rec(2, "B", 3);
        b.header.link_to = 99; // no such record in the satellite: untouched
        charge(&mut r, f.ok, [a, b], &mut rep);
        charge(&mut sat, f.ok, [Record::new(1)], &mut rep);
        rep.clear();
        assert_eq!(deescalate(&mut r, &mut sat, &[f.kind, f.amount], &mut rep), 1);
        assert_eq!(sat.rows()[0].get(f.kind), &Value::text("A"));
        assert_eq!(sat.rows()[0].get(f.id), &Value::Empty, "only the named contexts are copied");
        assert_eq!(r.rows()[0].contexts().count(), 0, "the source slots are freed");
        assert_eq!(r.rows()[1].contexts().count(), 3);
        assert_eq!(rep.freed.len(), 1, "the freed slots are reported at once");
        assert_eq!(rep.freed[0].3.iter().count(), 3);
        // At full detail the copy is one entry, not a change per context.
        assert!(rep.contexts.is_empty());
        let copy = ContextCopy {
            table: sat.id,
            reg_id: 1,
            cabinet: f.ok,
            from_table: r.id,
            from_reg_id: 1,
            contexts: ContextMask(1 << f.kind.slot() | 1 << f.amount.slot()),
        };
        assert_eq!(rep.copies, vec![copy]);
    }

    #[test]
    fn rolling_shifts_rows_and_drops_the_oldest() {
        let f = fx();
        let mut t = f.table(3, TableKind::Archive);
        let mut rep = StepReport::default();
        for month in 1..=4 {
            rolling(&mut t, 3, f.rec(month, "M", month as i64), f.ok, &mut rep);
        }
        let ids: Vec<u64> = t.rows().iter().map(|r| r.header.reg_id).collect();
        assert_eq!(ids, vec![4, 3, 2]);
        assert_eq!(t.mass(f.ok), 3);
    }
}
