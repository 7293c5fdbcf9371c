use std::hash::{BuildHasher, Hash, Hasher};

use foldhash::quality::FixedState;

use super::{StepReport, matching};
use crate::model::{ContextId, Record, Table, Value};

/// How an arm sets the linkey.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArmMode {
    /// The linkey becomes the hash of the named contexts.
    Absolute,
    /// The named contexts are added to the current linkey.
    Relative,
}

/// The linkey of a list of values: equal values give equal linkeys in every table and node.
pub fn linkey_of<'a>(values: impl IntoIterator<Item = &'a Value>) -> u64 {
    // foldhash (quality) with a fixed seed: deterministic run to run, several times faster than
    // SipHash on short keys, and well mixed enough for a keys-only table to trust 64 bits.
    let mut h = FixedState::with_seed(0x6361_7461_7221).build_hasher();
    for v in values {
        v.hash(&mut h);
    }
    h.finish()
}

/// Arm: set the linkey of the matching live records from `contexts` (SPEC §2).
/// Returns the number of records armed.
pub fn arm(
    table: &mut Table,
    contexts: &[ContextId],
    mode: ArmMode,
    filter: impl FnMut(&Record) -> bool,
    report: &mut StepReport,
) -> usize {
    let rows = matching(table, filter, report);
    for &row in &rows {
        let rec = &table.rows()[row];
        let fresh = linkey_of(contexts.iter().map(|&c| rec.get(c)));
        let linkey = match mode {
            ArmMode::Absolute => fresh,
            ArmMode::Relative => linkey_of(&[Value::Int(rec.header.linkey as i64), Value::Int(fresh as i64)]),
        };
        table.header_mut(row).linkey = linkey;
    }
    if table.indexed {
        table.reindex();
    }
    rows.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{disarm, fixture::fx, insert};

    #[test]
    fn absolute_arm_hashes_values_and_relative_extends_it() {
        let f = fx();
        let mut t = f.reactor(0);
        let mut rep = StepReport::default();
        insert(&mut t, f.rec(1, "A", 5), f.raw, &mut rep);
        insert(&mut t, f.rec(2, "A", 6), f.raw, &mut rep);
        rep.clear();
        assert_eq!(arm(&mut t, &[f.kind], ArmMode::Absolute, |_| true, &mut rep), 2);
        assert_eq!(t.rows()[0].header.linkey, t.rows()[1].header.linkey);
        assert_eq!(t.rows()[0].header.linkey, linkey_of([&Value::text("A")]));
        arm(&mut t, &[f.amount], ArmMode::Relative, |_| true, &mut rep);
        assert_ne!(t.rows()[0].header.linkey, t.rows()[1].header.linkey);
        assert_eq!(rep.matched, 4);
        assert!(rep.is_empty(), "arming changes no cabinet and no context");
    }

    #[test]
    fn disarmed_records_are_not_armed() {
        let f = fx();
        let mut t = f.reactor(0);
        let mut rep = StepReport::default();
        insert(&mut t, f.rec(1, "A", 5), f.raw, &mut rep);
        disarm(&mut t, |_| true, &mut rep);
        assert_eq!(arm(&mut t, &[f.kind], ArmMode::Absolute, |_| true, &mut rep), 0);
        assert_eq!(t.rows()[0].header.linkey, 0);
    }
}
