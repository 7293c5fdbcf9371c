//! The replay's moves: landing on a stop, running forwards to the forms' next stop (or N
//! steps of a node), stepping back, jumping, and reverse-continue (rr's way: rebuild a node at
//! each checkpoint before the cursor in turn and walk it forwards, keeping the last hit).

use std::sync::Arc;

use super::{Key, Replayer, key_of, plain, reason};
use crate::replay::{Mark, Visit};
use crate::session::api::Event;
use crate::trace::TraceError;
use crate::tracer::{CompiledForm, Position, Reason, Release, Stop, Why, breaks_at, stage_name};

impl Replayer {
    /// Move the cursor to a stop and tell: the previous stop released (`by` a move of the
    /// given node, else of the stopped one), the new one stopped.
    pub(super) fn land(
        &mut self,
        mark: Option<Mark>,
        at: Position,
        reason: Reason,
        by: Option<(Release, Option<usize>)>,
    ) {
        let (key, position) = match (&mark, at) {
            (Some(m), Position::Before) => (key_of(m, at), m.global_step),
            (Some(m), Position::After) => (key_of(m, at), m.global_step + 1),
            (None, _) => ((0, 0), 0),
        };
        if let Err(e) = self.cursor.seek(position) {
            self.emit(Event::Error { message: e.to_string(), line: None });
            return;
        }
        if let (Some(old), Some((by, moved))) = (&self.stop, by) {
            // `step 2 DIS/0` at a stop of RATE/0 moves DIS/0: say so, not that RATE/0 steps.
            let mover = moved.and_then(|n| self.desc.nodes.get(n)).filter(|n| **n != old.node).cloned();
            self.emit(Event::Released { node: old.node.clone(), stop: old.id, by, mover });
        }
        self.stops += 1;
        let stop = match mark {
            Some(m) => {
                let mut stop = self.stop_of(&m, at, reason);
                if at == Position::Before {
                    // A step records the clock after it ran; live, a stop before it shows the
                    // clock as the node's previous step left it.
                    let time = self.time_before(&m).unwrap_or(m.time);
                    stop.pseudo_time = (time != 0).then(|| jiff::Timestamp::from_second(time).ok()).flatten();
                }
                stop
            }
            None => Stop {
                id: self.stops,
                node: self.desc.nodes.first().cloned().unwrap_or_default(),
                // A trace cut before its first step.
                statement: "(no step recorded)".into(),
                position: 0,
                at,
                step: 0,
                global_step: 0,
                tick: 0,
                pseudo_time: None,
                statement_us: 0,
                timeout_ms: None,
                reason,
            },
        };
        self.key = key;
        self.stop = Some(stop.clone());
        self.emit(Event::Stopped(stop));
        // Said right after the stop that cut the step, as live.
        if let Some(cut) = self.cut.take() {
            self.emit(cut);
        }
        if let Err(e) = self.show_states() {
            self.emit(Event::Error { message: e.to_string(), line: None });
        }
    }

    /// The node's pseudo-time before step `m` ran: after its previous step in the same attempt,
    /// or at the start of its tick (an attempt that failed rolled the clock back there).
    fn time_before(&mut self, m: &Mark) -> Result<i64, TraceError> {
        let mut at = m.global_step;
        loop {
            match self.cursor.last_of(m.node, at)? {
                None => return Ok(0),
                Some(p) if m.statement > 0 || p.tick < m.tick => return Ok(p.time),
                // An earlier attempt at this tick: its clock was rolled back.
                Some(p) => at = p.global_step,
            }
        }
    }

    /// After a jump, bring every `stop-when` flip-flop to where the replay landed, as if the
    /// forms had watched all along: from each node's checkpoint before the position (where the
    /// flip-flop starts from the tables as they are), check them at every step up to it.
    pub(super) fn seed(&mut self) -> Result<(), TraceError> {
        let at = self.cursor.at();
        let Replayer { cursor, forms, desc, .. } = self;
        let when: Vec<Arc<CompiledForm>> = forms.iter().filter(|f| f.is_when()).cloned().collect();
        for n in 0..desc.nodes.len() {
            let watching: Vec<&Arc<CompiledForm>> = when.iter().filter(|f| f.covers(n)).collect();
            if watching.is_empty() {
                continue;
            }
            let checkpoints = cursor.checkpoints(n);
            let from = checkpoints.partition_point(|&c| c <= at).checked_sub(1).map_or(0, |k| checkpoints[k]);
            let mut fresh = true;
            cursor.walk_node(n, from, at, |_, tables, visit| {
                if fresh {
                    fresh = false;
                    for f in &watching {
                        tables.matcher.seed_when(f, &tables.rows);
                    }
                }
                if visit == Visit::After {
                    let touched = tables.touched();
                    for f in &watching {
                        tables.matcher.fires(desc, f, &touched, &tables.rows);
                    }
                }
            })?;
            if fresh {
                // No step between the checkpoint and the position.
                let tables = cursor.tables(n)?;
                for f in &watching {
                    tables.matcher.seed_when(f, &tables.rows);
                }
            }
        }
        // The walks moved the nodes: back to the position.
        cursor.seek(at)
    }

    /// The first stop at a failure not passed yet and before step `before` (counting the
    /// form's hit). A failed statement is in the trace as its failure only, not as a step:
    /// a breakpoint on it stops before it (unless stopped there already: `skip_at`), as live
    /// before the statement ran; then a failure form, or a `step` of its node (`stepping`),
    /// stops after it, as the failure left the node.
    fn failure_stop(
        &mut self,
        before: u64,
        skip_at: Option<u64>,
        stepping: Option<usize>,
        only: Option<usize>,
    ) -> Option<(Mark, Position, Reason)> {
        let mut failures: Vec<(Mark, String)> = (self.cursor.failures_pending(self.cursor.at()))
            .filter(|(m, _)| m.global_step < before)
            .map(|(m, e)| (*m, e.to_string()))
            .collect();
        failures.sort_by_key(|(m, _)| m.global_step);
        failures.into_iter().filter(|(m, _)| only.is_none_or(|o| o == m.node)).find_map(|(m, error)| {
            let stage = self.stage_of(m.node);
            if skip_at != Some(m.global_step)
                && let Some(f) = (self.forms.iter())
                    .find(|f| f.applies_to(m.node) && breaks_at(f, stage, m.statement) && f.hit())
            {
                return Some((m, Position::Before, reason(f, Why::Statement)));
            }
            let why = Why::Failure { error };
            match self.forms.iter().find(|f| f.applies_to(m.node) && f.catches_failures() && f.hit()) {
                Some(f) => Some((m, Position::After, reason(f, why))),
                None if stepping == Some(m.node) => Some((m, Position::After, plain(why))),
                None => None,
            }
        })
    }

    pub(super) fn stage_of(&self, node: usize) -> usize {
        let name = stage_name(&self.desc.nodes[node]);
        self.desc.stages.iter().position(|s| s.name == name).unwrap_or(usize::MAX)
    }

    /// Run forwards to the next stop of the forms (of node `only`, when given: the others'
    /// are passed over, uncounted), or until `stepping` (node, count) ran its steps, or to the
    /// end of the trace.
    pub(super) fn forward(
        &mut self,
        mut stepping: Option<(usize, u64)>,
        only: Option<usize>,
    ) -> Result<(), TraceError> {
        let counts = |node: usize| only.is_none_or(|o| o == node);
        let by = match stepping {
            Some((node, _)) => (Release::Step, Some(node)),
            None => (Release::Continue, None),
        };
        // Stopped before a step (or a failed one): its breakpoint already fired.
        let mut skip_at = (self.key.1 == 0 && self.stop.is_some()).then_some(self.key.0);
        self.cursor.seek(self.cursor.at())?;
        let mut last = None;
        loop {
            let next = self.cursor.next_step()?;
            // A tick that failed before the next step.
            let before = next.map_or(u64::MAX, |m| m.global_step);
            if let Some((f, at, reason)) = self.failure_stop(before, skip_at, stepping.map(|s| s.0), only) {
                // The failed statement was a statement of the step, when it was the node's.
                self.step_cut(stepping, Some(f.node), at == Position::After);
                self.land(Some(f), at, reason, Some(by));
                return Ok(());
            }
            let Some(m) = next else {
                let end = last.or(self.stop_mark());
                self.step_cut(stepping, None, false);
                self.land(end, Position::After, plain(Why::End { beyond: None }), Some(by));
                return Ok(());
            };
            if skip_at != Some(m.global_step) && counts(m.node) {
                let stage = self.stage_of(m.node);
                let hit = self
                    .forms
                    .iter()
                    .find(|f| f.applies_to(m.node) && breaks_at(f, stage, m.statement) && f.hit());
                if let Some(f) = hit {
                    let reason = reason(f, Why::Statement);
                    self.step_cut(stepping, Some(m.node), false);
                    self.land(Some(m), Position::Before, reason, Some(by));
                    return Ok(());
                }
            }
            skip_at = None;
            self.cursor.advance()?;
            last = Some(m);
            let Replayer { cursor, forms, desc, .. } = self;
            let tables = cursor.tables(m.node)?;
            let touched = tables.touched();
            let mut fired = None;
            for f in forms.iter().filter(|f| f.applies_to(m.node)) {
                // Every form is checked, so that each `stop-when` keeps its flip-flop.
                if let Some(why) = tables.matcher.fires(desc, f, &touched, &tables.rows)
                    && fired.is_none()
                    && counts(m.node)
                    && f.hit()
                {
                    fired = Some(reason(f, why));
                }
            }
            if fired.is_none()
                && let Some((n, left)) = &mut stepping
                && *n == m.node
            {
                *left -= 1;
                if *left == 0 {
                    fired = Some(plain(Why::Step));
                }
            }
            if let Some(reason) = fired {
                self.step_cut(stepping, Some(m.node), true);
                self.land(Some(m), Position::After, reason, Some(by));
                return Ok(());
            }
        }
    }

    /// Note, for the stop about to land, that a `step` stopped before its count: at a stop of
    /// `by` (after one of its statements when `ran`), or at the end of the trace.
    fn step_cut(&mut self, stepping: Option<(usize, u64)>, by: Option<usize>, ran: bool) {
        let Some((n, left)) = stepping else { return };
        let left = if ran && by == Some(n) { left.saturating_sub(1) } else { left };
        if left > 0 {
            let by = by.map(|b| self.desc.nodes[b].clone());
            self.cut = Some(Event::StepCut { node: self.desc.nodes[n].clone(), left, by });
        }
    }

    /// The step the cursor stands at, for a stop at the end of the trace.
    pub(super) fn stop_mark(&mut self) -> Option<Mark> {
        let at = self.cursor.at();
        self.cursor.step_before(at, None).ok().flatten()
    }

    pub(super) fn back(&mut self, node: Option<usize>, count: u64) -> Result<(), TraceError> {
        let mut at = self.cursor.at();
        let (mut found, mut undone) = (None, 0);
        // A statement that failed has no step of its own in the trace, only its failure: it is
        // undone like any other, so a step back can land before it.
        for _ in 0..count {
            match self.cursor.ran_before(at, node)? {
                Some(m) => {
                    at = m.global_step;
                    found = Some(m);
                    undone += 1;
                }
                None => break,
            }
        }
        // As a step that ran out says how short it fell.
        let why = Why::Back { short: (undone < count).then_some(count - undone) };
        match found {
            Some(m) => self.land(Some(m), Position::Before, plain(why), Some((Release::Back, node))),
            None => {
                let first = self.cursor.step_from(0)?;
                self.land(first, Position::Before, plain(Why::Start), Some((Release::Back, node)));
            }
        }
        self.seed()
    }

    /// Land at `m`, or at the end of the trace when there is none (`asked`, the goto that went
    /// past it, says so in the stop).
    pub(super) fn goto(
        &mut self,
        m: Option<Mark>,
        at: Position,
        asked: Option<String>,
    ) -> Result<(), TraceError> {
        match m {
            Some(m) => self.land(Some(m), at, plain(Why::Goto), Some((Release::Goto, None))),
            None => {
                let end = self.cursor.end()?;
                let last = self.cursor.step_before(end, None)?;
                let why = Why::End { beyond: asked };
                self.land(last, Position::After, plain(why), Some((Release::Goto, None)));
            }
        }
        self.seed()
    }

    /// Go back to the last stop of the forms before the cursor. Per node, from the checkpoint
    /// nearest before the cursor backwards, one window at a time: rebuild the node there, walk
    /// it forwards to the window's end noting each hit, keep the last.
    pub(super) fn reverse(&mut self) -> Result<(), TraceError> {
        let here = self.key;
        let mut best: Option<(Key, Mark, Position, Reason)> = None;
        for n in 0..self.desc.nodes.len() {
            if !self.forms.iter().any(|f| f.covers(n)) {
                continue;
            }
            let stage = self.stage_of(n);
            let checkpoints = self.cursor.checkpoints(n);
            let mut k = checkpoints.partition_point(|&c| c <= here.0);
            let mut to = here.0 + 1;
            loop {
                let from = if k == 0 { 0 } else { checkpoints[k - 1] };
                let mut last: Option<(Key, Mark, Position, Reason)> = None;
                let Replayer { cursor, forms, desc, .. } = &mut *self;
                let mut fresh = true;
                cursor.walk_node(n, from, to, |m, tables, visit| {
                    if fresh {
                        // The window starts from a checkpoint: flip-flops start from its tables.
                        fresh = false;
                        for f in forms.iter().filter(|f| f.covers(n)) {
                            tables.matcher.seed_when(f, &tables.rows);
                        }
                    }
                    let at = if visit == Visit::Before { Position::Before } else { Position::After };
                    let key = key_of(m, at);
                    let mut hit = None;
                    match visit {
                        Visit::Before => {
                            hit = forms
                                .iter()
                                .find(|f| f.covers(n) && breaks_at(f, stage, m.statement))
                                .map(|f| reason(f, Why::Statement));
                        }
                        Visit::After => {
                            let touched = tables.touched();
                            for f in forms.iter().filter(|f| f.covers(n)) {
                                if let Some(why) = tables.matcher.fires(desc, f, &touched, &tables.rows)
                                    && hit.is_none()
                                {
                                    hit = Some(reason(f, why));
                                }
                            }
                        }
                        Visit::Failure(error) => {
                            // A breakpoint on the failed statement stopped before it.
                            let before = key_of(m, Position::Before);
                            if let Some(f) =
                                forms.iter().find(|f| f.covers(n) && breaks_at(f, stage, m.statement))
                                && before < here
                            {
                                last = Some((before, *m, Position::Before, reason(f, Why::Statement)));
                            }
                            hit = forms
                                .iter()
                                .find(|f| f.covers(n) && f.catches_failures())
                                .map(|f| reason(f, Why::Failure { error: error.into() }));
                        }
                    }
                    if let Some(r) = hit
                        && key < here
                    {
                        last = Some((key, *m, at, r));
                    }
                })?;
                if last.is_some() || k == 0 {
                    if let Some(l) = last
                        && best.as_ref().is_none_or(|b| l.0 > b.0)
                    {
                        best = Some(l);
                    }
                    break;
                }
                to = from;
                k -= 1;
            }
        }
        match best {
            Some((_, m, at, reason)) => self.land(Some(m), at, reason, Some((Release::Reverse, None))),
            None => {
                let first = self.cursor.step_from(0)?;
                self.land(first, Position::Before, plain(Why::Start), Some((Release::Reverse, None)));
            }
        }
        self.seed()
    }
}
