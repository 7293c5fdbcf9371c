//! The flip-flop matcher and the inquiry, over any set of tables: a live node's workspace or a
//! node a replay rebuilt from its trace. One implementation, so that a replay stops where the
//! live run stopped and answers an inquiry the same way.

use rustc_hash::FxHashSet;

use super::form::{CompiledForm, Policy};
use super::stop::{Cell, Row, Rows, Why};
use super::{Condition, Inquiry};
use crate::engine::Workspace;
use crate::model::{CabinetId, ContextId, Record, TableId, TableKind, Value};
use crate::ops::{Presence, PresenceChange, StepReport};
use crate::recorder::PipelineDesc;

/// Tables the tracer looks into.
pub trait TableSet {
    /// How many tables (ids are 0..count).
    fn count(&self) -> usize;
    /// A table's name.
    fn name(&self, table: usize) -> &str;
    /// True for a reactor (what the flip-flop and a plain inquiry look at).
    fn reactor(&self, table: usize) -> bool;
    /// The live records of a table.
    fn rows(&self, table: usize) -> Box<dyn Iterator<Item = &Record> + '_>;
}

impl TableSet for Workspace {
    fn count(&self) -> usize {
        self.tables().len()
    }

    fn name(&self, table: usize) -> &str {
        self.tables()[table].name()
    }

    fn reactor(&self, table: usize) -> bool {
        matches!(self.tables()[table].kind(), TableKind::Reactor(_))
    }

    fn rows(&self, table: usize) -> Box<dyn Iterator<Item = &Record> + '_> {
        Box::new(self.tables()[table].live())
    }
}

/// A cabinet's name as the tracer reports it.
pub(crate) fn cabinet_name(desc: &PipelineDesc, c: CabinetId) -> String {
    desc.cabinets.get(c.index()).map_or_else(|| format!("#{}", c.0), |d| d.name.clone())
}

/// A context's name as the tracer reports it.
pub(crate) fn context_name(desc: &PipelineDesc, c: ContextId) -> String {
    desc.contexts.get(c.slot()).map_or_else(|| format!("#{}", c.0), |d| d.name.clone())
}

/// One node's flip-flop: the presence counts of its reactors (previous vs current cabinets and
/// contexts) and, per `stop-when` form, the records that satisfied it at the last check.
pub(crate) struct Matcher {
    /// Mass and context counts of the node's reactors.
    pub presence: Presence,
    /// What the last step changed in them.
    pub change: PresenceChange,
    when: Vec<(u32, Vec<FxHashSet<u64>>)>,
    // `stop-when` forms whose condition met a value it never compares with: they stopped once
    // to say so, and test nothing more.
    untestable: Vec<u32>,
}

impl Matcher {
    /// A matcher over `presence` (already limited to the node's reactors).
    pub fn new(presence: Presence) -> Self {
        Matcher { presence, change: PresenceChange::default(), when: Vec::new(), untestable: Vec::new() }
    }

    /// Take a step's report into the flip-flop.
    pub fn observe(&mut self, report: &StepReport) {
        self.presence.apply(report, &mut self.change);
    }

    /// The node's failed tick was undone: the flip-flop goes back to where the tick started
    /// (the records it touched are as they were), each `stop-when` to the tables as they are.
    pub fn undo_tick(&mut self, forms: &[std::sync::Arc<CompiledForm>], tables: &dyn TableSet) {
        self.presence.restore(&mut self.change);
        for form in forms {
            if self.when.iter().any(|(id, _)| *id == form.id) {
                self.seed_when(form, tables);
            }
        }
    }

    /// Drop the `stop-when` state of forms no longer in force.
    pub fn keep_forms(&mut self, forms: &[std::sync::Arc<CompiledForm>]) {
        self.when.retain(|(id, _)| forms.iter().any(|f| f.id == *id));
    }

    /// Start `form`'s `stop-when` flip-flop from the tables as they are (a replay that jumped:
    /// the records satisfying it here are not news at the next check).
    pub fn seed_when(&mut self, form: &CompiledForm, tables: &dyn TableSet) {
        let Policy::When(cond) = &form.policy else { return };
        let sets = (0..tables.count())
            .map(|t| {
                if !tables.reactor(t) {
                    return FxHashSet::default();
                }
                tables
                    .rows(t)
                    .filter(|r| form.watches(r.header.cabinet) && cond.matches(r))
                    .map(|r| r.header.reg_id)
                    .collect()
            })
            .collect();
        self.when.retain(|(id, _)| *id != form.id);
        self.when.push((form.id, sets));
    }

    /// What `form` sees in the step just observed, if it fires. `touched` are the tables
    /// where the step moved a record's cabinet or changed one of its contexts.
    pub fn fires(
        &mut self,
        desc: &PipelineDesc,
        form: &CompiledForm,
        touched: &[TableId],
        tables: &dyn TableSet,
    ) -> Option<Why> {
        let c = &self.change;
        let arrival = |cabs: &[CabinetId], pairs: &[(CabinetId, ContextId)]| {
            if form.contexts.is_empty() {
                cabs.iter().find(|&&x| form.watches(x)).map(|&x| (x, None))
            } else {
                pairs
                    .iter()
                    .find(|(x, k)| form.watches(*x) && form.contexts.contains(k))
                    .map(|&(x, k)| (x, Some(k)))
            }
        };
        match &form.policy {
            Policy::Arrival => arrival(&c.appeared, &c.contexts_appeared).map(|(x, k)| Why::Arrival {
                cabinet: cabinet_name(desc, x),
                context: k.map(|k| context_name(desc, k)),
            }),
            Policy::Departure => arrival(&c.disappeared, &c.contexts_disappeared).map(|(x, k)| {
                Why::Departure { cabinet: cabinet_name(desc, x), context: k.map(|k| context_name(desc, k)) }
            }),
            Policy::Mass => c.mass.iter().find(|(x, _)| form.watches(*x)).map(|&(x, delta)| Why::Mass {
                cabinet: cabinet_name(desc, x),
                delta,
                mass: self.presence.mass(x),
            }),
            Policy::EveryStep => Some(Why::EveryStep),
            Policy::Statement(_) | Policy::Failure => None,
            Policy::When(cond) => self.when_hit(form, cond, touched, tables),
        }
    }

    /// The flip-flop per record: the first record of a touched reactor that satisfies the
    /// condition now and did not at the previous check. A condition that meets a value it
    /// never compares with (`AMOUNT > 'abc'`) fires once with that error (as gdb stops at a
    /// breakpoint whose condition fails to evaluate), not never.
    fn when_hit(
        &mut self,
        form: &CompiledForm,
        cond: &Condition,
        touched: &[TableId],
        tables: &dyn TableSet,
    ) -> Option<Why> {
        if self.untestable.contains(&form.id) {
            return None;
        }
        let slot = match self.when.iter().position(|(id, _)| *id == form.id) {
            Some(i) => i,
            None => {
                self.when.push((form.id, vec![FxHashSet::default(); tables.count()]));
                self.when.len() - 1
            }
        };
        let mut hit = None;
        for t in touched.iter().map(|t| t.0 as usize).filter(|&t| t < tables.count()) {
            if !tables.reactor(t) {
                continue;
            }
            let mut now = FxHashSet::default();
            for r in tables.rows(t).filter(|r| form.watches(r.header.cabinet)) {
                match cond.try_matches(r) {
                    Ok(true) => {
                        now.insert(r.header.reg_id);
                    }
                    Ok(false) => {}
                    Err(e) => {
                        self.untestable.push(form.id);
                        return Some(Why::Untestable { condition: e.text, error: e.message });
                    }
                }
            }
            let before = &mut self.when[slot].1[t];
            if hit.is_none()
                && let Some(&reg_id) = now.iter().filter(|id| !before.contains(id)).min()
            {
                hit = Some(Why::When { condition: cond.text().into(), table: tables.name(t).into(), reg_id });
            }
            *before = now;
        }
        hit
    }
}

/// The index of the name `name` among `count` names: as written first (DIS has a PERSISTENT
/// reactor and a `persistent` sink), then in any case.
fn named<'a>(name: &str, count: usize, name_of: impl Fn(usize) -> &'a str) -> Option<usize> {
    let exact = (0..count).find(|&i| name_of(i) == name);
    exact.or_else(|| (0..count).find(|&i| name_of(i).eq_ignore_ascii_case(name)))
}

/// True when `form` is a breakpoint on this statement of this stage.
pub(crate) fn breaks_at(form: &CompiledForm, stage: usize, statement: usize) -> bool {
    matches!(&form.policy, Policy::Statement(at) if at.get(stage) == Some(&Some(statement)))
}

/// Rows of a node's reactors (or of one table, or of the reactors' rows in one cabinet),
/// filtered and paged.
pub(crate) fn inquire(
    desc: &PipelineDesc,
    node: &str,
    tables: &dyn TableSet,
    q: &Inquiry,
) -> Result<Rows, String> {
    let reactors = || (0..tables.count()).filter(|&t| tables.reactor(t)).collect();
    let (chosen, cabinet): (Vec<usize>, _) = match &q.reactor {
        Some(name) => match named(name, tables.count(), |t| tables.name(t)) {
            Some(t) => (vec![t], None),
            // `inquire RATE/0 WIFE`: the records in a cabinet, whichever reactor holds them;
            // a cabinet no reactor holds (RATE's USAGE lives in TIER_USAGE), the tables that
            // do rather than "no row".
            None => match named(name, desc.cabinets.len(), |c| desc.cabinets[c].name.as_str()) {
                Some(c) => {
                    let c = CabinetId(c as u16);
                    let holds = |t: &usize| tables.rows(*t).any(|r| r.header.cabinet == c);
                    let mut chosen: Vec<usize> = reactors();
                    if !chosen.iter().any(holds) {
                        let others: Vec<usize> =
                            (0..tables.count()).filter(|t| !tables.reactor(*t)).filter(holds).collect();
                        if !others.is_empty() {
                            chosen = others;
                        }
                    }
                    (chosen, Some(c))
                }
                None => {
                    let known: Vec<&str> = (0..tables.count()).map(|t| tables.name(t)).collect();
                    let cabinets: Vec<&str> = desc.cabinets.iter().map(|c| c.name.as_str()).collect();
                    return Err(format!(
                        "{node} has no table or cabinet `{name}` (tables: {}; cabinets: {})",
                        known.join(", "),
                        cabinets.join(", ")
                    ));
                }
            },
        },
        None => (reactors(), None),
    };
    // A filter that can never compare (`AMOUNT > 'abc'`) is an error, not an empty answer.
    let wanted = |r: &Record| match &q.filter {
        _ if cabinet.is_some_and(|c| r.header.cabinet != c) => Ok(false),
        Some(f) => f.try_matches(r).map_err(|e| e.to_string()),
        None => Ok(true),
    };
    let mut total = 0;
    let mut rows = Vec::new();
    for &t in &chosen {
        for r in tables.rows(t) {
            if !wanted(r)? {
                continue;
            }
            if total >= q.offset && rows.len() < q.limit {
                let contexts = r
                    .contexts()
                    .map(|(c, v)| {
                        let cell = match v {
                            Value::Int(i) => Cell::Int(*i),
                            Value::Text(s) => Cell::Text(s.to_string()),
                            Value::Time(t) => Cell::Text(t.to_string()),
                            Value::Empty => Cell::Text(String::new()),
                        };
                        (context_name(desc, c), cell)
                    })
                    .collect();
                rows.push(Row {
                    table: tables.name(t).to_string(),
                    reg_id: r.header.reg_id,
                    cabinet: cabinet_name(desc, r.header.cabinet),
                    contexts,
                });
            }
            total += 1;
        }
    }
    Ok(Rows {
        node: node.to_string(),
        tables: chosen.iter().map(|&t| tables.name(t).to_string()).collect(),
        reactor: q.reactor.clone(),
        cabinet: cabinet.map(|c| cabinet_name(desc, c)),
        filter: q.filter.as_ref().map(|f| f.text().to_string()),
        total,
        offset: q.offset,
        limit: q.limit,
        rows,
    })
}
