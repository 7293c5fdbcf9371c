use super::{StepReport, matching, set_value};
use crate::model::{ContextId, Record, Table, Value};

/// A context filter (SPEC §1): set `target` of each matching live record to `f(record)`:
/// a reduction (START_TIME → MONTH), a functional transformation (DURATION → UNITS) or a state
/// filter (PARTY → PARTY_POSITION). Returns how many records matched.
pub fn transform(
    table: &mut Table,
    target: ContextId,
    filter: impl FnMut(&Record) -> bool,
    mut f: impl FnMut(&Record) -> Value,
    report: &mut StepReport,
) -> usize {
    let rows = matching(table, filter, report);
    for &row in &rows {
        let v = f(&table.rows()[row]);
        set_value(table, row, target, v, report);
    }
    rows.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{charge, fixture::fx};

    #[test]
    fn transform_reports_only_real_changes() {
        let f = fx();
        let mut t = f.reactor(0);
        let mut rep = StepReport::default();
        charge(&mut t, f.raw, [f.rec(1, "A", 2), f.rec(2, "B", 3)], &mut rep);
        rep.clear();
        let n = transform(
            &mut t,
            f.amount,
            |_| true,
            |r| Value::Int(r.get(f.amount).as_int().unwrap().max(3)),
            &mut rep,
        );
        assert_eq!(n, 2);
        assert_eq!(rep.contexts.len(), 1, "3 stays 3: no change reported");
        assert_eq!(t.rows()[0].get(f.amount), &Value::Int(3));
    }
}
