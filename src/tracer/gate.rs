//! The gate: the tracer's hook on one node. After each step it updates the node's flip-flop
//! (the presence counts) and matches the forms; when one fires the node freezes right there,
//! in its own thread, until a command lets it go: the gate decides, and holds the node once
//! the node has parked its hooks (a recorder puts the steps it buffered on disk first). Other
//! nodes keep running.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::form::CompiledForm;
use super::matcher::{Matcher, breaks_at, inquire};
use super::stop::{Position, Reason, Release, Stop, Why};
use super::{Action, Forms, NodeCommand, Shared, Signal};
use crate::engine::{Failure, StepHook, StepPoint, Workspace};
use crate::ops::{ReportDetail, StepReport};

pub(crate) struct NodeTracer {
    pub index: usize,
    pub stage: usize,
    pub shared: Arc<Shared>,
    pub rx: Receiver<NodeCommand>,
    pub matcher: Matcher,
    pub forms: Forms,
    pub generation: u64,
    /// Statements left to run before a `step` stops again (0: not stepping).
    pub stepping: u64,
    /// When the current statement started (its wall time goes with a stop after it).
    pub started: Instant,
    /// When the presence was last published for snapshots.
    pub published: Instant,
    /// The stop decided by the last call, held by `hold`, with the statements of a `step` it
    /// cut short.
    pub pending: Option<(Stop, Option<Duration>, u64)>,
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
            self.matcher.keep_forms(&self.forms);
        }
    }

    /// Let snapshots see the node's cabinets as they are now.
    fn publish(&mut self) {
        self.published = Instant::now();
        self.shared.nodes[self.index].set_present(self.matcher.presence.present());
    }

    fn name(&self) -> &str {
        &self.shared.desc.nodes[self.index]
    }

    /// Decide to freeze here: the node holds once its hooks are parked (see `hold`).
    fn freeze(&mut self, at: &StepPoint<'_>, position: Position, reason: Reason, timeout: Option<Duration>) {
        // A stop after a statement that a `step` was still counting: that statement ran.
        let left = std::mem::take(&mut self.stepping);
        let cut = if position == Position::After { left.saturating_sub(1) } else { left };
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
            timeout_ms: timeout.map(|t| t.as_millis() as u64),
        };
        self.pending = Some((stop, timeout, cut));
    }

    /// Hold the node at the stop `freeze` decided, until a command (or the timeout) lets it go.
    fn hold_stop(&mut self, ws: &Workspace, stop: Stop, timeout: Option<Duration>, cut: u64) {
        let id = stop.id;
        let before = stop.at == Position::Before;
        let shared = &self.shared;
        if !shared.nodes[self.index].freeze(
            stop,
            || self.active(),
            |stop| {
                shared.signal(Signal::Stopped(stop));
                // Said after the stop, as a replay says it: the stop is what came first.
                if cut > 0 {
                    let node = self.name().to_string();
                    shared.signal(Signal::StepCut { by: Some(node.clone()), node, left: cut });
                }
            },
        ) {
            return;
        }
        shared.control.hold(self.index);
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
                    let answer = inquire(&self.shared.desc, self.name(), ws, &q);
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
        let node = self.name().to_string();
        let shared = &self.shared;
        shared.nodes[self.index]
            .thaw(|| shared.signal(Signal::Released { node: node.clone(), stop: id, by }));
        shared.control.release(self.index);
        // Commands sent for this stop after the one that ended it (none can come once thawed):
        // an inquiry gets an answer, not silence, or its client would wait for ever.
        while let Ok(cmd) = self.rx.try_recv() {
            if let Action::Inquire(_) = cmd.action {
                let message = format!(
                    "{node} moved on from stop {} before the inquiry reached it: inquire again at its next stop",
                    cmd.stop
                );
                self.shared.signal(Signal::Error(message));
            }
        }
        if before {
            // The statement's own time starts once it is let go.
            self.started = Instant::now();
        }
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

    fn before_step(&mut self, at: &StepPoint<'_>, _ws: &Workspace) {
        self.started = Instant::now();
        if at.statement == 0 {
            self.matcher.presence.remember();
        }
        if !self.active() {
            return;
        }
        self.refresh_forms();
        let forms = self.forms.clone();
        let hit = forms
            .iter()
            .find(|f| f.applies_to(self.index) && breaks_at(f, self.stage, at.statement) && f.hit());
        if let Some(form) = hit {
            self.freeze(at, Position::Before, reason(form, Why::Statement), form.timeout);
        }
    }

    fn after_step(&mut self, at: &StepPoint<'_>, report: &StepReport, ws: &Workspace) {
        // Always kept, so that a form added later sees true arrivals, not the whole past.
        self.matcher.observe(report);
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
        let touched = report.touched_tables();
        for form in forms.iter().filter(|f| f.applies_to(index)) {
            // Every form is checked (each `when` keeps its flip-flop); the first to fire stops.
            if let Some(why) = self.matcher.fires(&self.shared.desc, form, &touched, ws)
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
            self.freeze(at, Position::After, reason, timeout);
        }
    }

    fn failed(&mut self, at: &StepPoint<'_>, failure: &Failure, _ws: &Workspace) {
        if !self.active() {
            return;
        }
        self.refresh_forms();
        let forms = self.forms.clone();
        let index = self.index;
        let hit = forms.iter().find(|f| f.applies_to(index) && f.catches_failures() && f.hit());
        let why = Why::Failure { error: failure.message.clone() };
        match hit {
            Some(form) => self.freeze(at, Position::After, reason(form, why), form.timeout),
            // A `step` into a statement that fails stops at the failure, before the restart
            // undoes it (as gdb's step stops at a signal).
            None if self.stepping > 0 => {
                self.freeze(at, Position::After, Reason { form: None, label: None, why }, None)
            }
            None => {}
        }
    }

    fn restarted(&mut self, _node: &crate::engine::NodeId, failure: &Failure, ws: &Workspace) {
        let forms = self.forms.clone();
        self.matcher.undo_tick(&forms, ws);
        self.publish();
        // From the node's thread, as its stops are: sampled by the session, the restart came
        // after a stop the retried tick made.
        let shared = &self.shared;
        let (node, restarts, error) = (self.name().to_string(), failure.restarts, failure.message.clone());
        shared.nodes[self.index]
            .restarted(restarts, || shared.signal(Signal::Restarted { node, restarts, error }));
    }

    fn finish(&mut self, _node: &crate::engine::NodeId) {
        self.publish();
        self.shared.nodes[self.index].finished.store(true, std::sync::atomic::Ordering::Relaxed);
        // `step 1000000` past the end of the input: say the count was not reached, as the
        // node's end alone would leave it unsaid (a halt ends a step too, and says so itself).
        if self.stepping > 0 && self.active() {
            let (node, left) = (self.name().to_string(), std::mem::take(&mut self.stepping));
            self.shared.signal(Signal::StepCut { node, left, by: None });
        }
    }

    fn holding(&self) -> bool {
        self.pending.is_some()
    }

    fn hold(&mut self, _at: &StepPoint<'_>, ws: &Workspace) {
        if let Some((stop, timeout, cut)) = self.pending.take() {
            self.hold_stop(ws, stop, timeout, cut);
        }
    }
}
