//! A full-level step as the trace encodes it, serialized straight from the node's step report:
//! these views encode exactly as the [`Event::Step`](super::Event) they stand for, so the
//! recorder writes a step without first copying every transition and value into one.

use serde::Serialize;
use serde::ser::{SerializeStruct, SerializeTupleVariant, Serializer};

use super::deltas::wire;
use super::event::Step;
use crate::model::{ContextId, Record, Table, Value};
use crate::ops::{Arrival, ContextCopy, StepReport};

/// `Event::Step(step)`, with `changes` taken from the report instead of from `step`.
pub(crate) struct StepEvent<'a> {
    /// The step's numbers and summary fields (its `changes` are not read).
    pub step: &'a Step,
    /// What the step changed, at full level.
    pub changes: Option<ChangesOut<'a>>,
}

/// [`Changes`](super::Changes) read from a step report and the node's tables after the step.
pub(crate) struct ChangesOut<'a> {
    /// The report.
    pub report: &'a StepReport,
    /// The node's tables, where the arrivals' values are.
    pub tables: &'a [Table],
    /// Whether records arriving as the stage before sent them are carried (see [`try_each_value`]).
    pub carry: bool,
    /// Runs of the step's values that belong to one record (table, reg_id, cabinet, count),
    /// from [`runs_of`].
    pub runs: &'a [(u16, u64, u16, u32)],
    /// How many values the step has, from [`runs_of`].
    pub values: usize,
}

/// One value of a step, or `None` for a record carried in: it arrived with the values the
/// stage before sent it with, which that stage's steps set (written there, not again here).
pub(crate) type Item<'v> = Option<(ContextId, &'v Value)>;

/// Walk each value of a step, in order, with its record: `f(table, reg_id, cabinet, item)`.
/// The changes listed one by one, and before the change each arrival comes before, the values
/// of its row; or, when `carry` and the row holds what the stage before sent, one `None`.
/// Plain loops: this runs for every value a full recording writes.
pub(crate) fn try_each_value<E>(
    report: &StepReport,
    tables: &[Table],
    carry: bool,
    mut f: impl FnMut(u16, u64, u16, Item<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let mut from = 0;
    for a in report.arrivals.iter().map(Some).chain([None]) {
        let at = a.map_or(report.contexts.len(), |a| a.at);
        for c in report.contexts.get(from..at).unwrap_or_default() {
            f(c.table.0, c.reg_id, c.cabinet.0, Some((c.context, &c.value)))?;
        }
        from = at;
        if let Some(row) = a.and_then(|a| row_of(tables, a)) {
            let a = a.expect("a row is an arrival's");
            if carry && row.as_sent() {
                f(a.table.0, a.reg_id, a.cabinet.0, None)?;
                continue;
            }
            for (context, value) in row.contexts() {
                f(a.table.0, a.reg_id, a.cabinet.0, Some((context, value)))?;
            }
        }
    }
    Ok(())
}

/// [`try_each_value`] for a walk that cannot fail.
pub(crate) fn each_value(
    report: &StepReport,
    tables: &[Table],
    carry: bool,
    mut f: impl FnMut(u16, u64, u16, Item<'_>),
) {
    let walked: Result<(), std::convert::Infallible> = try_each_value(report, tables, carry, |t, r, c, x| {
        f(t, r, c, x);
        Ok(())
    });
    let Ok(()) = walked;
}

/// The row an arrival's values are in: its row, unless the step moved rows (a rolling).
fn row_of<'a>(tables: &'a [Table], a: &Arrival) -> Option<&'a Record> {
    let rows = tables.get(a.table.0 as usize)?.rows();
    let mine = |r: &&Record| r.header.reg_id == a.reg_id;
    rows.get(a.row).filter(mine).or_else(|| rows.iter().find(mine))
}

/// A step's values, as `(context, value)` pairs.
struct Values<'a>(&'a ChangesOut<'a>);

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.0.values))?;
        let c = self.0;
        try_each_value(c.report, c.tables, c.carry, |_, _, _, item| match item {
            Some((context, v)) => seq.serialize_element(&(context.0, Tv(v))),
            None => Ok(()),
        })?;
        seq.end()
    }
}

/// A sequence serialized from an iterator of known length, without collecting it.
struct Seq<F>(F);

impl<F, I> Serialize for Seq<F>
where
    F: Fn() -> I,
    I: ExactSizeIterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

/// A model value as [`TraceValue`](super::TraceValue) encodes it.
struct Tv<'a>(&'a Value);

impl Serialize for Tv<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The variants and their order are TraceValue's.
        match self.0 {
            Value::Empty => s.serialize_unit_variant("TraceValue", 0, "Empty"),
            Value::Int(i) => s.serialize_newtype_variant("TraceValue", 1, "Int", i),
            Value::Text(t) => s.serialize_newtype_variant("TraceValue", 2, "Text", t.as_str()),
            Value::Time(t) => {
                let mut v = s.serialize_tuple_variant("TraceValue", 3, "Time", 2)?;
                v.serialize_field(&t.as_second())?;
                v.serialize_field(&t.subsec_nanosecond())?;
                v.end()
            }
        }
    }
}

impl Serialize for ChangesOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.report;
        let mut c = s.serialize_struct("Changes", 5)?;
        // Reg_ids as differences, as `Changes` reads them (`deltas`).
        c.serialize_field(
            "transitions",
            &Seq(|| wire(r.transitions.iter().map(|t| (t.table.0, t.reg_id, t.from.0, t.to.0)))),
        )?;
        c.serialize_field("runs", &Seq(|| wire(self.runs.iter().copied())))?;
        c.serialize_field("values", &Values(self))?;
        c.serialize_field("freed", &Seq(|| wire(r.freed.iter().map(|f| (f.0.0, f.1, f.3.0)))))?;
        let copy =
            |c: &ContextCopy| (c.table.0, c.reg_id, c.cabinet.0, c.from_table.0, c.from_reg_id, c.contexts.0);
        c.serialize_field("copies", &Seq(|| wire(r.copies.iter().map(copy))))?;
        c.end()
    }
}

impl Serialize for StepEvent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_variant("Event", 0, "Step", &StepOut(self))
    }
}

/// The step itself, field by field in [`Step`]'s order.
struct StepOut<'a>(&'a StepEvent<'a>);

impl Serialize for StepOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let st = self.0.step;
        let mut o = s.serialize_struct("Step", 14)?;
        o.serialize_field("node", &st.node)?;
        o.serialize_field("node_step", &st.node_step)?;
        o.serialize_field("global_step", &st.global_step)?;
        o.serialize_field("statement", &st.statement)?;
        o.serialize_field("tick", &st.tick)?;
        o.serialize_field("time", &st.time)?;
        o.serialize_field("wall_start_us", &st.wall_start_us)?;
        o.serialize_field("wall_us", &st.wall_us)?;
        o.serialize_field("mass", &st.mass)?;
        o.serialize_field("appeared", &st.appeared)?;
        o.serialize_field("disappeared", &st.disappeared)?;
        o.serialize_field("contexts_appeared", &st.contexts_appeared)?;
        o.serialize_field("contexts_disappeared", &st.contexts_disappeared)?;
        o.serialize_field("changes", &self.0.changes)?;
        o.end()
    }
}

/// The runs of a step's values, and how many values it has: consecutive values of one record
/// (a charged record's contexts, a collision's fills) share one run instead of repeating its
/// table, reg_id and cabinet each; a record carried in is a run of no values, never extended.
/// `also` sees each value on the way.
pub(crate) fn runs_of(
    report: &StepReport,
    tables: &[Table],
    carry: bool,
    runs: &mut Vec<(u16, u64, u16, u32)>,
    mut also: impl FnMut(u16, u64, ContextId, &Value),
) -> usize {
    runs.clear();
    let mut n = 0;
    each_value(report, tables, carry, |table, reg_id, cabinet, item| {
        let Some((context, value)) = item else {
            runs.push((table, reg_id, cabinet, 0));
            return;
        };
        n += 1;
        match runs.last_mut() {
            Some(r) if r.3 > 0 && r.0 == table && r.1 == reg_id && r.2 == cabinet => r.3 += 1,
            _ => runs.push((table, reg_id, cabinet, 1)),
        }
        also(table, reg_id, context, value);
    });
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CabinetId, ContextId, TableId};
    use crate::ops::{ContextChange, ContextMask, ReportDetail, Transition};
    use crate::recorder::{Changes, Event, TraceValue};
    use crate::trace::{ChunkBuilder, ChunkKind, ChunkMeta, EncodedChunk};

    fn change(reg_id: u64, context: u16, value: Value) -> ContextChange {
        ContextChange {
            table: TableId(1),
            reg_id,
            cabinet: CabinetId(2),
            context: ContextId(context),
            set: !value.is_empty(),
            was_set: false,
            value,
        }
    }

    /// Table 1 holds records 5 and 6 (rows 0 and 1), each with two values.
    fn tables() -> Vec<Table> {
        let mut t = Table::new(TableId(1), "T", crate::model::TableKind::Data, 4);
        for (reg_id, name) in [(5, "five"), (6, "six")] {
            let mut r = Record::new(reg_id);
            r.set(ContextId(0), Value::text(name));
            r.set(ContextId(3), Value::Int(reg_id as i64));
            t.push_row(r);
        }
        vec![Table::new(TableId(0), "S", crate::model::TableKind::Data, 4), t]
    }

    #[test]
    fn a_step_written_from_its_report_reads_back_as_the_step() {
        let time = jiff::Timestamp::new(1_767_225_600, 250_000_000).unwrap();
        let mut report = StepReport::with_detail(ReportDetail::Full);
        report.transitions.push(Transition {
            table: TableId(1),
            reg_id: 7,
            from: CabinetId(0),
            to: CabinetId(2),
            contexts: ContextMask(0b11),
        });
        report.contexts = vec![
            change(7, 0, Value::text("EV000000007")),
            change(7, 1, Value::Int(-300)),
            change(7, 2, Value::Time(time)),
            change(9, 3, Value::text("a text longer than twenty-three bytes, on the heap")),
            change(9, 1, Value::Empty),
        ];
        // Record 5 arrived before the third change, at its row; record 6 after the last, at a
        // row it has since left (found by reg_id).
        let arrival = |at, row, reg_id| Arrival { at, table: TableId(1), row, reg_id, cabinet: CabinetId(3) };
        report.arrivals = vec![arrival(2, 0, 5), arrival(5, 0, 6)];
        report.freed.push((TableId(4), 9, CabinetId(3), ContextMask(1 << 100)));
        report.copies.push(ContextCopy {
            table: TableId(2),
            reg_id: 9,
            cabinet: CabinetId(5),
            from_table: TableId(4),
            from_reg_id: 9,
            contexts: ContextMask(1 << 100 | 1 << 3),
        });
        let summary = Step {
            node: 2,
            node_step: 300,
            global_step: 90_000,
            statement: 4,
            tick: 12,
            time: 1_767_225_600,
            wall_start_us: 1 << 33,
            wall_us: 17,
            mass: vec![(2, 1), (3, -1)],
            appeared: vec![2],
            disappeared: vec![3],
            contexts_appeared: vec![(2, 0)],
            contexts_disappeared: vec![(3, 1)],
            changes: None,
        };
        let tables = tables();
        let (mut runs, mut seen) = (Vec::new(), 0);
        let n = runs_of(&report, &tables, false, &mut runs, |_, _, _, _| seen += 1);
        assert_eq!((n, seen), (9, 9));
        assert_eq!(runs, vec![(1, 7, 2, 2), (1, 5, 3, 2), (1, 7, 2, 1), (1, 9, 2, 2), (1, 6, 3, 2)]);
        let c = &report.contexts;
        let v = |x: &ContextChange| (x.context.0, TraceValue::from(&x.value));
        let values = vec![
            v(&c[0]),
            v(&c[1]),
            (0, TraceValue::Text("five".into())),
            (3, TraceValue::Int(5)),
            v(&c[2]),
            v(&c[3]),
            v(&c[4]),
            (0, TraceValue::Text("six".into())),
            (3, TraceValue::Int(6)),
        ];
        let expected = Event::Step(Step {
            changes: Some(Changes {
                transitions: vec![(1, 7, 0, 2)],
                runs: runs.clone(),
                values,
                freed: vec![(4, 9, 1 << 100)],
                copies: vec![(2, 9, 5, 4, 9, 1 << 100 | 1 << 3)],
            }),
            ..summary.clone()
        });
        let meta = ChunkMeta { node: 2, first_step: 1, last_step: 2, first_time: 0, last_time: 0 };
        let mut built = ChunkBuilder::<Event>::default();
        let changes =
            Some(ChangesOut { report: &report, tables: &tables, carry: false, runs: &runs, values: n });
        built.push_as(&StepEvent { step: &summary, changes });
        built.push_as(&StepEvent { step: &summary, changes: None });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.trace");
        let mut w = crate::trace::TraceWriter::<u8, Vec<Event>>::create(&path, &0).unwrap();
        w.write_encoded(built.take(ChunkKind::Events, meta.clone())).unwrap();
        let owned = vec![expected.clone(), Event::Step(summary.clone())];
        w.write_encoded(EncodedChunk::new(ChunkKind::Events, meta, &owned)).unwrap();
        w.finish().unwrap();
        let mut r = crate::trace::TraceReader::<u8, Vec<Event>>::open(&path).unwrap();
        assert_eq!(r.read_chunk(0).unwrap(), owned);
        assert_eq!(r.index()[0].len, r.index()[1].len, "the same bytes as the owned events");
    }

    /// A record arriving as the stage before sent it is a run of no values when carrying,
    /// never extended by a later change to it; one changed since it was sent lists its values.
    #[test]
    fn a_record_arriving_as_sent_is_carried_in_without_its_values() {
        let mut tables = tables();
        tables[1].row_mut(0).mark_sent();
        let mut report = StepReport::with_detail(ReportDetail::Full);
        let arrival = |row, reg_id| Arrival { at: 0, table: TableId(1), row, reg_id, cabinet: CabinetId(3) };
        report.arrivals = vec![arrival(0, 5), arrival(1, 6)];
        report.contexts =
            vec![ContextChange { cabinet: CabinetId(3), reg_id: 5, ..change(5, 1, Value::Int(1)) }];
        let mut runs = Vec::new();
        let n = runs_of(&report, &tables, true, &mut runs, |_, _, _, _| {});
        assert_eq!(runs, vec![(1, 5, 3, 0), (1, 6, 3, 2), (1, 5, 3, 1)]);
        assert_eq!(n, 3);
        let n = runs_of(&report, &tables, false, &mut runs, |_, _, _, _| {});
        assert_eq!(runs, vec![(1, 5, 3, 2), (1, 6, 3, 2), (1, 5, 3, 1)]);
        assert_eq!(n, 5);
        // A change to the row clears what it was sent with.
        tables[1].row_mut(0).set(ContextId(2), Value::Int(9));
        runs_of(&report, &tables, true, &mut runs, |_, _, _, _| {});
        assert_eq!(runs[0], (1, 5, 3, 3));
    }

    proptest::proptest! {
        /// Arrivals anywhere among the changes (several at one place, before the first, after
        /// the last) walk in the order the step made them: each arrival's row values just
        /// before the change it precedes.
        #[test]
        fn values_walk_in_the_order_the_step_made_them(
            changes in proptest::collection::vec((0u64..4, 0u16..4, -3i64..3), 0..12),
            arrivals in proptest::collection::vec((0usize..13, 0usize..2), 0..6),
        ) {
            let tables = tables();
            let mut report = StepReport::with_detail(ReportDetail::Full);
            report.contexts = changes.iter().map(|&(r, c, v)| change(r, c, Value::Int(v))).collect();
            let mut arrivals: Vec<(usize, usize)> =
                arrivals.into_iter().map(|(at, row)| (at.min(changes.len()), row)).collect();
            arrivals.sort_by_key(|a| a.0);
            report.arrivals = arrivals
                .iter()
                .map(|&(at, row)| Arrival { at, table: TableId(1), row, reg_id: 5 + row as u64, cabinet: CabinetId(3) })
                .collect();
            // The order written plainly: before change i, the arrivals placed at i.
            let mut expected = Vec::new();
            for i in 0..=report.contexts.len() {
                for a in report.arrivals.iter().filter(|a| a.at == i) {
                    let row = &tables[1].rows()[a.row];
                    expected.extend(row.contexts().map(|(c, v)| (a.reg_id, c.0, v.clone())));
                }
                if let Some(c) = report.contexts.get(i) {
                    expected.push((c.reg_id, c.context.0, c.value.clone()));
                }
            }
            let mut walked = Vec::new();
            each_value(&report, &tables, false, |_, reg_id, _, item| {
                let (c, v) = item.expect("nothing carried");
                walked.push((reg_id, c.0, v.clone()))
            });
            proptest::prop_assert_eq!(&walked, &expected);
            let mut runs = Vec::new();
            let n = runs_of(&report, &tables, false, &mut runs, |_, _, _, _| {});
            proptest::prop_assert_eq!(n, expected.len());
            proptest::prop_assert_eq!(runs.iter().map(|r| r.3 as usize).sum::<usize>(), n);
        }
    }
}
