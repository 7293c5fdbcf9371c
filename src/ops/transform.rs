use super::{ReportDetail, StepReport, matching, set_value};
use crate::model::{CabinetId, ContextId, Record, Table, Value};

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
    if report.detail != ReportDetail::Summary {
        for &row in &rows {
            let v = f(&table.rows()[row]);
            set_value(table, row, target, v, report);
        }
        return rows.len();
    }
    // A summary reports only how many records of each cabinet hold the context: counted here
    // per cabinet (a transform's records are in one or two) and reported once, instead of one
    // report call per record. Each cabinet whose count moved at all is reported, as
    // `set_value` would.
    let mut net: Vec<(CabinetId, i64)> = Vec::new();
    for &row in &rows {
        let v = f(&table.rows()[row]);
        let record = &table.rows()[row];
        let held = record.get(target);
        if held == &v {
            continue;
        }
        let delta = i64::from(!v.is_empty()) - i64::from(!held.is_empty());
        let cabinet = record.header.cabinet;
        report.wrote(table.id);
        table.set_context(row, target, v);
        if delta != 0 {
            match net.iter_mut().find(|(c, _)| *c == cabinet) {
                Some((_, n)) => *n += delta,
                None => net.push((cabinet, delta)),
            }
        }
    }
    for (cabinet, delta) in net {
        report.presence_delta(table.id, cabinet, target, delta);
    }
    rows.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{ReportDetail, charge, fixture::fx};

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

    #[test]
    fn a_summary_counts_what_a_full_report_lists() {
        let f = fx();
        let run = |detail| {
            let mut t = f.reactor(0);
            let mut rep = StepReport::with_detail(detail);
            charge(&mut t, f.raw, (1..=9).map(|i| f.rec(i, "A", i as i64)), &mut rep);
            crate::ops::state(&mut t, f.ok, |r| r.header.reg_id % 3 == 0, &mut rep);
            rep.clear();
            // Set on some, cleared on others, unchanged on the rest, over two cabinets.
            let value = |r: &Record| match r.header.reg_id % 4 {
                0 => Value::Empty,
                1 => r.get(f.amount).clone(),
                _ => Value::Int(7),
            };
            transform(&mut t, f.name, |_| true, value, &mut rep);
            transform(&mut t, f.amount, |_| true, value, &mut rep);
            (rep.presence, t.rows().to_vec())
        };
        let (summary, full) = (run(ReportDetail::Summary), run(ReportDetail::Full));
        assert_eq!(summary, full);
        assert!(summary.0.iter().any(|p| p.3 < 0) && summary.0.iter().any(|p| p.3 > 0));
        assert!(summary.0.iter().map(|p| p.1).collect::<std::collections::BTreeSet<_>>().len() == 2);
    }
}
