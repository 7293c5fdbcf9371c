use crate::model::{CabinetId, ContextId, Record, TableId, Value};

/// The set of contexts a record holds (bit i = context i): what moves with it between cabinets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ContextMask(pub u128);

impl ContextMask {
    /// The non-empty contexts of a record.
    pub fn of(record: &Record) -> Self {
        ContextMask(record.held())
    }

    /// The contexts in the set, in id order.
    pub fn iter(self) -> impl Iterator<Item = ContextId> {
        crate::model::bits(self.0).map(ContextId)
    }
}

/// One record changing cabinet in one table. Entering a table is a transition from
/// `DISARMED`, leaving it (or being disarmed) a transition to `DISARMED`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The table the record is in.
    pub table: TableId,
    /// The record.
    pub reg_id: u64,
    /// Cabinet before the step.
    pub from: CabinetId,
    /// Cabinet after the step.
    pub to: CabinetId,
    /// The contexts the record held when it moved.
    pub contexts: ContextMask,
}

/// The net change of one cabinet's mass in one table during a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MassDelta {
    /// The table.
    pub table: TableId,
    /// The cabinet.
    pub cabinet: CabinetId,
    /// Records gained (positive) or lost (negative).
    pub delta: i64,
}

/// How much a step report holds: what the attached hooks need, no more, so that a run
/// without a recorder pays only for mass counting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReportDetail {
    /// Matched records and mass deltas only.
    Off,
    /// Also each record transition and each context set or cleared (without its value).
    Summary,
    /// Also the value of every context set: enough to rebuild any table at any step.
    #[default]
    Full,
}

/// One context of one record set to a value, or cleared (`Value::Empty`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextChange {
    /// The table the record is in.
    pub table: TableId,
    /// The record.
    pub reg_id: u64,
    /// The record's cabinet when the change happened.
    pub cabinet: CabinetId,
    /// The context.
    pub context: ContextId,
    /// True when set, false when cleared.
    pub set: bool,
    /// True when the context held a value before (for a charged record's contexts: always,
    /// since they arrived with it and its transition's mask counts them).
    pub was_set: bool,
    /// Its new value at `Full` detail; `Empty` when cleared or at `Summary` detail.
    pub value: Value,
}

/// A record that entered a table with its contexts, listed at `Full` detail by reference
/// rather than value by value: its values are those of its row once the step is over (a
/// context the step changes after its arrival is listed among the changes too). Copying a
/// charged record's every value into the report cost more than the rest of recording it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Its place among the step's context changes: it comes before `contexts[at]`.
    pub at: usize,
    /// The table it entered.
    pub table: TableId,
    /// Its row there, when it arrived.
    pub row: usize,
    /// The record.
    pub reg_id: u64,
    /// The cabinet it entered.
    pub cabinet: CabinetId,
}

/// Contexts of one record set to the values another record of the node holds (de-escalate),
/// listed at `Full` detail once for the record rather than value by value: a replay copies
/// them from that record as it stands once the step's values are set, before the step's
/// freed slots are emptied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextCopy {
    /// The table of the record set.
    pub table: TableId,
    /// The record set.
    pub reg_id: u64,
    /// Its cabinet.
    pub cabinet: CabinetId,
    /// The table of the record copied from.
    pub from_table: TableId,
    /// The record copied from.
    pub from_reg_id: u64,
    /// The contexts copied (each was empty in the record set).
    pub contexts: ContextMask,
}

/// What one statement changed: everything the recorder writes and the tracer matches.
/// Reused from step to step so that reporting allocates nothing once warm.
#[derive(Clone, Debug, Default)]
pub struct StepReport {
    /// What this report records.
    pub detail: ReportDetail,
    /// Records that changed cabinet (or entered or left a table), one by one (`Full` detail).
    pub transitions: Vec<Transition>,
    /// The same moves counted by kind: (table, from, to, contexts moved, records)
    /// (`Summary` and `Full`).
    pub moves: Vec<(TableId, CabinetId, CabinetId, ContextMask, u64)>,
    /// Net mass change per (table, cabinet).
    pub mass: Vec<MassDelta>,
    /// Contexts set or cleared, one by one with their values (`Full` detail only).
    pub contexts: Vec<ContextChange>,
    /// Records that entered a table with their contexts, whose values are their rows'
    /// (`Full` detail only).
    pub arrivals: Vec<Arrival>,
    /// Net change, per (table, cabinet, context), of the records holding the context
    /// (`Summary` and `Full`): what moves a context matrix, without one entry per record.
    pub presence: Vec<(TableId, CabinetId, ContextId, i64)>,
    /// Records whose slots were freed at once (de-escalate): (table, reg_id, cabinet, the
    /// contexts it held). Cheaper than one cleared context each, and as exact.
    pub freed: Vec<(TableId, u64, CabinetId, ContextMask)>,
    /// Contexts copied from one record into another (`Full` detail only).
    pub copies: Vec<ContextCopy>,
    /// Records the operator applied to (matched its filter), whether or not they changed.
    pub matched: u64,
    /// Tables some of whose records had a context set, changed or cleared (`Summary` and
    /// `Full`): with the tables whose masses moved, where a condition may have changed.
    pub written: Vec<TableId>,
}

impl StepReport {
    /// An empty report recording `detail`.
    pub fn with_detail(detail: ReportDetail) -> Self {
        StepReport { detail, ..StepReport::default() }
    }

    /// True when context changes are recorded.
    pub(crate) fn wants_contexts(&self) -> bool {
        self.detail >= ReportDetail::Summary
    }

    /// Forget the previous step, keeping the buffers.
    pub fn clear(&mut self) {
        self.transitions.clear();
        self.moves.clear();
        self.mass.clear();
        self.contexts.clear();
        self.arrivals.clear();
        self.presence.clear();
        self.freed.clear();
        self.copies.clear();
        self.matched = 0;
        self.written.clear();
    }

    /// True when the step changed nothing.
    pub fn is_empty(&self) -> bool {
        self.moves.is_empty() && self.presence.is_empty() && self.freed.is_empty()
    }

    /// A record of `table` had a context set, changed or cleared.
    #[inline]
    pub(crate) fn wrote(&mut self, table: TableId) {
        // A step writes to one or two tables: the last one is nearly always the one.
        if self.written.last() != Some(&table) && !self.written.contains(&table) {
            self.written.push(table);
        }
    }

    /// The tables this step touched: a record's cabinet moved, or a context of it changed.
    pub fn touched_tables(&self) -> Vec<TableId> {
        let mut t: Vec<TableId> =
            self.mass.iter().map(|m| m.table).chain(self.written.iter().copied()).collect();
        t.sort();
        t.dedup();
        t
    }

    pub(crate) fn transition(&mut self, table: TableId, record: &Record, from: CabinetId, to: CabinetId) {
        if self.detail >= ReportDetail::Summary {
            let contexts = ContextMask::of(record);
            // Records of a step mostly move alike: one entry per kind of move.
            match self.moves.iter_mut().find(|m| m.0 == table && m.1 == from && m.2 == to && m.3 == contexts)
            {
                Some(m) => m.4 += 1,
                None => self.moves.push((table, from, to, contexts, 1)),
            }
            if self.detail == ReportDetail::Full {
                self.transitions.push(Transition { table, reg_id: record.header.reg_id, from, to, contexts });
            }
        }
        if from.is_live() {
            self.add_mass(table, from, -1);
        }
        if to.is_live() {
            self.add_mass(table, to, 1);
        }
    }

    #[allow(clippy::too_many_arguments)] // one field each of the change it records
    pub(crate) fn context(
        &mut self,
        table: TableId,
        reg_id: u64,
        cabinet: CabinetId,
        context: ContextId,
        was_set: bool,
        value: &Value,
    ) {
        let set = !value.is_empty();
        self.wrote(table);
        let delta = i64::from(set) - i64::from(was_set);
        if delta != 0 {
            self.presence_delta(table, cabinet, context, delta);
        }
        if self.detail == ReportDetail::Full {
            let value = value.clone();
            self.contexts.push(ContextChange { table, reg_id, cabinet, context, set, was_set, value });
        }
    }

    /// Count `delta` more records of `cabinet` in `table` holding `context` (or fewer): for an
    /// operator that counts its changes itself instead of reporting each.
    pub(crate) fn presence_delta(
        &mut self,
        table: TableId,
        cabinet: CabinetId,
        context: ContextId,
        delta: i64,
    ) {
        self.wrote(table);
        // A step changes few (table, cabinet, context) triples, so a scan beats a map.
        match self.presence.iter_mut().find(|p| p.0 == table && p.1 == cabinet && p.2 == context) {
            Some(p) => p.3 += delta,
            None => self.presence.push((table, cabinet, context, delta)),
        }
    }

    fn add_mass(&mut self, table: TableId, cabinet: CabinetId, delta: i64) {
        // A step touches few (table, cabinet) pairs, so a scan beats a map here.
        match self.mass.iter_mut().find(|m| m.table == table && m.cabinet == cabinet) {
            Some(m) => m.delta += delta,
            None => self.mass.push(MassDelta { table, cabinet, delta }),
        }
    }
}
