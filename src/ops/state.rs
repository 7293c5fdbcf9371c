use super::{StepReport, matching, set_cabinet};
use crate::model::{CabinetId, Record, Table};

/// State: move the matching live records to cabinet `to` (non-zero). Returns how many matched.
pub fn state(
    table: &mut Table,
    to: CabinetId,
    filter: impl FnMut(&Record) -> bool,
    report: &mut StepReport,
) -> usize {
    assert!(to.is_live(), "the state operator sets a live cabinet; use disarm for cabinet 0");
    let rows = matching(table, filter, report);
    for &row in &rows {
        set_cabinet(table, row, to, report);
    }
    rows.len()
}

/// Disarm: cabinet := 0 for the matching live records (a logical delete).
pub fn disarm(table: &mut Table, filter: impl FnMut(&Record) -> bool, report: &mut StepReport) -> usize {
    let rows = matching(table, filter, report);
    for &row in &rows {
        set_cabinet(table, row, CabinetId::DISARMED, report);
    }
    rows.len()
}

/// Skip: set (or clear) the skip flag of the matching live records; skipped records take part
/// in no collision.
pub fn skip(
    table: &mut Table,
    set: bool,
    filter: impl FnMut(&Record) -> bool,
    report: &mut StepReport,
) -> usize {
    let rows = matching(table, filter, report);
    for &row in &rows {
        table.header_mut(row).skip = set;
    }
    rows.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;
    use crate::ops::{ContextMask, Transition, fixture::fx, insert};

    #[test]
    fn state_moves_mass_and_reports_each_transition() {
        let f = fx();
        let mut t = f.reactor(3);
        let mut rep = StepReport::default();
        for i in 1..=3 {
            insert(&mut t, f.rec(i, if i == 2 { "X" } else { "A" }, 1), f.raw, &mut rep);
        }
        rep.clear();
        let n = state(&mut t, f.bad, |r| r.get(f.kind) == &Value::text("X"), &mut rep);
        assert_eq!(n, 1);
        assert_eq!((t.mass(f.raw), t.mass(f.bad)), (2, 1));
        let moved = ContextMask(1 << f.id.0 | 1 << f.kind.0 | 1 << f.amount.0);
        let expected = Transition { table: t.id(), reg_id: 2, from: f.raw, to: f.bad, contexts: moved };
        assert_eq!(rep.transitions, vec![expected]);
        let deltas: Vec<_> = rep.mass.iter().map(|m| (m.cabinet, m.delta)).collect();
        assert_eq!(deltas, vec![(f.raw, -1), (f.bad, 1)]);
    }

    #[test]
    fn disarm_hides_records_from_later_operators() {
        let f = fx();
        let mut t = f.reactor(0);
        let mut rep = StepReport::default();
        insert(&mut t, f.rec(1, "A", 1), f.raw, &mut rep);
        insert(&mut t, f.rec(2, "A", 1), f.raw, &mut rep);
        assert_eq!(disarm(&mut t, |r| r.header.reg_id == 1, &mut rep), 1);
        assert_eq!(t.mass(f.raw), 1);
        rep.clear();
        assert_eq!(state(&mut t, f.ok, |_| true, &mut rep), 1, "the disarmed record is invisible");
        assert_eq!(t.rows()[0].header.cabinet, CabinetId::DISARMED);
        t.compact();
        assert_eq!(t.rows().len(), 1);
        assert_eq!(t.live_count(), 1);
    }

    #[test]
    fn skip_sets_and_clears_the_flag_without_touching_cabinets() {
        let f = fx();
        let mut t = f.reactor(0);
        let mut rep = StepReport::default();
        insert(&mut t, f.rec(1, "A", 1), f.raw, &mut rep);
        rep.clear();
        assert_eq!(skip(&mut t, true, |_| true, &mut rep), 1);
        assert!(t.rows()[0].header.skip);
        assert!(rep.is_empty());
        skip(&mut t, false, |_| true, &mut rep);
        assert!(!t.rows()[0].header.skip);
    }
}
