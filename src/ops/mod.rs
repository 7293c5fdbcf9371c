//! The nine state operators of SPEC §2 (plus the context filters), each applied to tables and
//! reporting what it changed in a [`StepReport`]. Disarmed records are invisible to all of them.

mod arm;
mod collision;
mod movement;
mod presence;
mod report;
mod state;
mod transform;

pub use arm::{ArmMode, arm, linkey_of};
pub use collision::{
    Accumulate, Collision, CollisionCount, collision, collision_accumulate, collision_learn,
};
pub use movement::{charge, deescalate, discharge, rolling};
pub use presence::{Presence, PresenceChange, Present};
pub use report::{Arrival, ContextChange, ContextCopy, MassDelta, ReportDetail, StepReport, Transition};
pub use state::{disarm, skip, state};
pub use transform::transform;

use crate::model::{CabinetId, ContextId, Record, Table, Value};
pub use report::ContextMask;

/// Change a row's cabinet, keeping mass and reporting the transition.
pub(crate) fn set_cabinet(table: &mut Table, row: usize, to: CabinetId, report: &mut StepReport) {
    let from = table.rows()[row].header.cabinet;
    if from == to {
        return;
    }
    table.header_mut(row).cabinet = to;
    if from.is_live() {
        table.mass[from.index()] -= 1;
    }
    if to.is_live() {
        table.mass[to.index()] += 1;
    }
    report.transition(table.id, &table.rows()[row], from, to);
}

/// Set one context of a row, reporting it when the value changes.
pub(crate) fn set_value(
    table: &mut Table,
    row: usize,
    context: ContextId,
    value: Value,
    report: &mut StepReport,
) {
    let rec = &table.rows()[row];
    if rec.get(context) == &value {
        return;
    }
    if report.wants_contexts() {
        let was_set = !rec.get(context).is_empty();
        report.context(table.id, rec.header.reg_id, rec.header.cabinet, context, was_set, &value);
    }
    table.set_context(row, context, value);
}

/// Append a record to a table in `cabinet`, reporting its arrival and its contexts.
pub(crate) fn insert(table: &mut Table, mut record: Record, cabinet: CabinetId, report: &mut StepReport) {
    record.header.cabinet = cabinet;
    let reg_id = record.header.reg_id;
    if cabinet.is_live() {
        table.mass[cabinet.index()] += 1;
    }
    // The arrival carries the record's contexts (its mask), so they are not listed one by one.
    report.transition(table.id, &record, CabinetId::DISARMED, cabinet);
    if report.detail == ReportDetail::Full {
        if table.keys_only {
            // No row keeps them: listed with was_set (they came with the record, which the
            // transition's mask counts).
            for (context, value) in record.contexts() {
                report.context(table.id, reg_id, cabinet, context, true, value);
            }
        } else {
            let (at, row) = (report.contexts.len(), table.rows().len());
            report.arrivals.push(Arrival { at, table: table.id, row, reg_id, cabinet });
        }
    }
    table.push_row(record);
}

/// Positions of the live rows matching `filter`, counted in the report.
pub(crate) fn matching(
    table: &Table,
    mut filter: impl FnMut(&Record) -> bool,
    report: &mut StepReport,
) -> Vec<usize> {
    let rows: Vec<usize> =
        (table.rows().iter().enumerate()).filter(|(_, r)| r.is_live() && filter(r)).map(|(i, _)| i).collect();
    report.matched += rows.len() as u64;
    rows
}

#[cfg(test)]
pub(crate) mod fixture {
    //! A tiny schema shared by the operator tests.
    use crate::model::{
        CabinetId, ContextId, ReactorKind, Record, Schema, Table, TableId, TableKind, Value, Weight,
    };

    pub struct Fx {
        pub schema: Schema,
        pub id: ContextId,
        pub kind: ContextId,
        pub amount: ContextId,
        pub name: ContextId,
        pub raw: CabinetId,
        pub ok: CabinetId,
        pub bad: CabinetId,
    }

    pub fn fx() -> Fx {
        let mut b = Schema::builder();
        let id = b.context("ID", Weight::Heavy);
        let kind = b.context("KIND", Weight::Light);
        let amount = b.context("AMOUNT", Weight::Heavy);
        let name = b.context("NAME", Weight::Light);
        let raw = b.root("RAW", &[id, kind, amount]);
        let ok = b.cabinet("OK", Some(raw), &[name]);
        let bad = b.cabinet("BAD", Some(raw), &[]);
        Fx { schema: b.build().unwrap(), id, kind, amount, name, raw, ok, bad }
    }

    impl Fx {
        pub fn reactor(&self, id: u16) -> Table {
            Table::new(
                TableId(id),
                "R",
                TableKind::Reactor(ReactorKind::Driving),
                self.schema.cabinets().len(),
            )
        }

        pub fn table(&self, id: u16, kind: TableKind) -> Table {
            Table::new(TableId(id), "T", kind, self.schema.cabinets().len())
        }

        pub fn rec(&self, reg_id: u64, kind: &str, amount: i64) -> Record {
            let mut r = Record::new(reg_id);
            r.set(self.id, Value::text(format!("E{reg_id}")));
            r.set(self.kind, Value::text(kind));
            r.set(self.amount, Value::Int(amount));
            r
        }
    }
}
