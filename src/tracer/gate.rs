//! The gate: the tracer's hook on one node. After each step it updates the node's flip-flop
//! (the presence counts) and matches the forms; when one fires the node freezes right there,
//! in its own thread, until a command lets it go. Other nodes keep running.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use rustc_hash::FxHashSet;

use super::form::{CompiledForm, Policy};
use super::stop::{Cell, Position, Reason, Release, Row, Rows, Stop, Why};
use super::{Action, Forms, Inquiry, NodeCommand, Shared, Signal};
use crate::engine::{StepHook, StepPoint, Workspace};
use crate::model::{CabinetId, ContextId, TableKind, Value};
use crate::ops::{Presence, PresenceChange, ReportDetail, StepReport};

pub(crate) struct NodeTracer {
    pub index: usize,
    pub stage: usize,
    pub shared: Arc<Shared>,
    pub rx: Receiver<NodeCommand>,
    pub presence: Presence,
    pub change: PresenceChange,
    pub forms: Forms,
    pub generation: u64,
    /// Per `when` form: the reg_ids of each table that satisfied it at the last check.
    pub when: Vec<(u32, Vec<FxHashSet<u64>>)>,
    /// Statements left to run before a `step` stops again (0: not stepping).
    pub stepping: u64,
    /// When the current statement started (its wall time goes with a stop after it).
    pub started: Instant,
    /// When the presence was last published for snapshots.
    pub published: Instant,
}

/// How often a running node publishes its presence (a frozen or finished one does at once).
const PUBLISH: Duration = Duration::from_millis(100);

impl NodeTracer {
    fn active(&self) -> bool {
        !self.shared.halted() && !self.shared.nodes[self.index].detached()
    }

    fn refresh_forms(&mut self) {
        if let Some((forms, generation)) = self.shared.forms_since(self.generation) {
            self.forms = forms;
            self.generation = generation;
            let ids: Vec<u32> = self.forms.iter().map(|f| f.id).collect();
            self.when.retain(|(id, _)| ids.contains(id));
        }
    }

    /// Let snapshots see the node's cabinets as they are now.
    fn publish(&mut self) {
        self.published = Instant::now();
        self.shared.nodes[self.index].set_present(self.presence.present());
    }

    fn name(&self) -> &str {
        &self.shared.desc.nodes[self.index]
    }

    fn cabinet(&self, c: CabinetId) -> String {
        self.shared.desc.cabinets.get(c.index()).map_or_else(|| format!("#{}", c.0), |d| d.name.clone())
    }

    fn context(&self, c: ContextId) -> String {
        self.shared.desc.contexts.get(c.slot()).map_or_else(|| format!("#{}", c.0), |d| d.name.clone())
    }

    /// What `form` sees in the step just done, if it fires.
    fn matches(&mut self, form: &CompiledForm, report: &StepReport, ws: &Workspace) -> Option<Why> {
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
            Policy::Arrival => arrival(&c.appeared, &c.contexts_appeared)
                .map(|(x, k)| Why::Arrival { cabinet: self.cabinet(x), context: k.map(|k| self.context(k)) }),
            Policy::Departure => arrival(&c.disappeared, &c.contexts_disappeared).map(|(x, k)| {
                Why::Departure { cabinet: self.cabinet(x), context: k.map(|k| self.context(k)) }
            }),
            Policy::Mass => c.mass.iter().find(|(x, _)| form.watches(*x)).map(|&(x, delta)| Why::Mass {
                cabinet: self.cabinet(x),
                delta,
                mass: self.presence.mass(x),
            }),
            Policy::EveryStep => Some(Why::EveryStep),
            Policy::Statement(_) => None,
            Policy::When(cond) => self.when_hit(form, cond, report, ws),
        }
    }

    /// The flip-flop per record: the first record of a touched reactor that satisfies the
    /// condition now and did not at the previous check.
    fn when_hit(
        &mut self,
        form: &CompiledForm,
        cond: &super::Condition,
        report: &StepReport,
        ws: &Workspace,
    ) -> Option<Why> {
        let slot = match self.when.iter().position(|(id, _)| *id == form.id) {
            Some(i) => i,
            None => {
                self.when.push((form.id, vec![FxHashSet::default(); ws.tables().len()]));
                self.when.len() - 1
            }
        };
        let mut hit = None;
        for t in report.touched_tables() {
            let table = ws.table(t);
            if !matches!(table.kind(), TableKind::Reactor(_)) {
                continue;
            }
            let now: FxHashSet<u64> = table
                .live()
                .filter(|r| form.watches(r.header.cabinet) && cond.matches(r))
                .map(|r| r.header.reg_id)
                .collect();
            let before = &mut self.when[slot].1[t.0 as usize];
            if hit.is_none()
                && let Some(&reg_id) = now.iter().filter(|id| !before.contains(id)).min()
            {
                hit = Some(Why::When { condition: cond.text().into(), table: table.name().into(), reg_id });
            }
            *before = now;
        }
        hit
    }

    fn freeze(
        &mut self,
        at: &StepPoint<'_>,
        ws: &Workspace,
        position: Position,
        reason: Reason,
        timeout: Option<Duration>,
    ) {
        self.stepping = 0;
        self.publish();
        let stop = Stop {
            id: self.shared.next_stop_id(),
            node: self.name().to_string(),
            statement: at.name.to_string(),
            position: at.statement,
            at: position,
            step: at.node_step,
            global_step: at.global_step,
            tick: at.tick,
            pseudo_time: at.pseudo_time,
            statement_us: match position {
                Position::Before => 0,
                Position::After => self.started.elapsed().as_micros() as u64,
            },
            reason,
        };
        let id = stop.id;
        self.shared.nodes[self.index].set_frozen(Some(stop.clone()));
        // A halt, detach or resume that came as this node decided to stop found it not yet
        // frozen and released nothing: the check after publishing the stop sees it.
        if !self.active() {
            self.shared.nodes[self.index].set_frozen(None);
            return;
        }
        self.shared.signal(Signal::Stopped(stop));
        let deadline = timeout.map(|t| Instant::now() + t);
        let by = loop {
            let received = match deadline {
                Some(d) => self.rx.recv_deadline(d),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match received {
                // A command for an earlier stop (sent as that one timed out) is stale.
                Ok(cmd) if cmd.stop != id => continue,
                Ok(NodeCommand { action: Action::Inquire(q), .. }) => {
                    let answer = self.inquire(ws, &q);
                    self.shared.signal(match answer {
                        Ok(rows) => Signal::Rows(rows),
                        Err(message) => Signal::Error(message),
                    });
                }
                Ok(NodeCommand { action: Action::Step(n), .. }) => {
                    self.stepping = n.max(1);
                    break Release::Step;
                }
                Ok(NodeCommand { action: Action::Continue, .. }) => break Release::Continue,
                Ok(NodeCommand { action: Action::Release(by), .. }) => break by,
                Err(RecvTimeoutError::Timeout) => break Release::Timeout,
                Err(RecvTimeoutError::Disconnected) => break Release::Detach,
            }
        };
        self.shared.nodes[self.index].set_frozen(None);
        self.shared.signal(Signal::Released { node: self.name().to_string(), stop: id, by });
    }

    /// Rows of the node's reactors (or of one table), answered from the frozen workspace.
    fn inquire(&self, ws: &Workspace, q: &Inquiry) -> Result<Rows, String> {
        let desc = &self.shared.desc;
        let tables: Vec<_> = match &q.reactor {
            Some(name) => {
                let t =
                    ws.tables().iter().find(|t| t.name().eq_ignore_ascii_case(name)).ok_or_else(|| {
                        let known: Vec<&str> = ws.tables().iter().map(|t| t.name()).collect();
                        format!("{} has no table `{name}` (it has: {})", self.name(), known.join(", "))
                    })?;
                vec![t]
            }
            None => ws.tables().iter().filter(|t| matches!(t.kind(), TableKind::Reactor(_))).collect(),
        };
        let mut total = 0;
        let mut rows = Vec::new();
        for t in &tables {
            for r in t.live().filter(|r| q.filter.as_ref().is_none_or(|f| f.matches(r))) {
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
                            (
                                desc.contexts
                                    .get(c.slot())
                                    .map_or_else(|| format!("#{}", c.0), |d| d.name.clone()),
                                cell,
                            )
                        })
                        .collect();
                    rows.push(Row {
                        table: t.name().to_string(),
                        reg_id: r.header.reg_id,
                        cabinet: self.cabinet(r.header.cabinet),
                        contexts,
                    });
                }
                total += 1;
            }
        }
        Ok(Rows {
            node: self.name().to_string(),
            tables: tables.iter().map(|t| t.name().to_string()).collect(),
            filter: q.filter.as_ref().map(|f| f.text().to_string()),
            total,
            offset: q.offset,
            rows,
        })
    }
}

fn reason(form: &CompiledForm, why: Why) -> Reason {
    Reason { form: Some(form.id), label: Some(form.form.label()), why }
}

impl StepHook for NodeTracer {
    fn detail(&self) -> ReportDetail {
        // The flip-flop needs moves and context presence; never the values.
        ReportDetail::Summary
    }

    fn before_step(&mut self, at: &StepPoint<'_>, ws: &Workspace) {
        self.started = Instant::now();
        if !self.active() {
            return;
        }
        self.refresh_forms();
        let forms = self.forms.clone();
        let hit = forms.iter().find(|f| {
            f.applies_to(self.index)
                && matches!(&f.policy, Policy::Statement(at_stage) if at_stage.get(self.stage) == Some(&Some(at.statement)))
                && f.hit()
        });
        if let Some(form) = hit {
            self.freeze(at, ws, Position::Before, reason(form, Why::Statement), form.timeout);
            self.started = Instant::now();
        }
    }

    fn after_step(&mut self, at: &StepPoint<'_>, report: &StepReport, ws: &Workspace) {
        // Always kept, so that a form added later sees true arrivals, not the whole past.
        self.presence.apply(report, &mut self.change);
        if self.started.duration_since(self.published) >= PUBLISH {
            self.publish();
        }
        if !self.active() {
            return;
        }
        self.refresh_forms();
        let forms = self.forms.clone();
        let mut fired = None;
        let index = self.index;
        for form in forms.iter().filter(|f| f.applies_to(index)) {
            // Every form is checked (each `when` keeps its flip-flop); the first to fire stops.
            if let Some(why) = self.matches(form, report, ws)
                && fired.is_none()
                && form.hit()
            {
                fired = Some((reason(form, why), form.timeout));
            }
        }
        if fired.is_none() && self.stepping > 0 {
            self.stepping -= 1;
            if self.stepping == 0 {
                fired = Some((Reason { form: None, label: None, why: Why::Step }, None));
            }
        }
        if let Some((reason, timeout)) = fired {
            self.freeze(at, ws, Position::After, reason, timeout);
        }
    }

    fn finish(&mut self, _node: &crate::engine::NodeId) {
        self.publish();
    }
}
