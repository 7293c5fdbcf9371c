//! The replay session: the Session API over a recorded trace. One cursor stands for the whole
//! run; every motion ends in a stop (released, then stopped again, as a live node would), and
//! the forms fire where they fired live because the same matcher runs over the rebuilt tables.
//! Going backwards, a node is rebuilt from each checkpoint in turn and walked forwards to find
//! the last hit before the cursor (rr's approach: never undo, replay from a snapshot).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, unbounded};

use super::api::{Command, Event, Finished, FormInfo, NodeState, NodeView, Snapshot};
use super::{Session, cabinet_views, resolve_node};
use crate::recorder::{Level, PipelineDesc};
use crate::replay::{Cursor, Mark};
use crate::trace::TraceError;
use crate::tracer::{
    CompiledForm, Condition, FormError, INQUIRY_MAX_PAGE, INQUIRY_PAGE, Inquiry, Position, Reason, Release,
    Stop, TraceForm, Why, breaks_at, inquire, stage_name,
};

/// Why a replay cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The trace cannot be read.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// A form is wrong, or asks for more than the trace recorded.
    #[error(transparent)]
    Form(#[from] FormError),
    /// A form needs record changes the trace does not hold.
    #[error("{0}")]
    Level(String),
}

/// Open the trace, check the forms against its pipeline and start serving.
pub(super) fn start(path: &Path, forms: Vec<(TraceForm, String)>) -> Result<Session, ReplayError> {
    let cursor = Cursor::open(path)?;
    let desc = cursor.desc().clone();
    let mut compiled = Vec::new();
    for (i, (f, origin)) in forms.iter().enumerate() {
        let form = CompiledForm::compile(f, i as u32 + 1, &desc, origin)?;
        level_allows(&form, cursor.level(), path).map_err(ReplayError::Level)?;
        compiled.push(Arc::new(form));
    }
    let (commands, command_rx) = unbounded();
    let (events, event_rx) = unbounded();
    let desc_nodes = desc.nodes.len();
    let replayer = Replayer {
        cursor,
        desc,
        path: path.to_path_buf(),
        next_form: compiled.len() as u32 + 1,
        forms: compiled,
        events,
        stop: None,
        key: (0, 0),
        stops: 0,
        started: Instant::now(),
        shown: vec![NodeState::Starting; desc_nodes],
    };
    let thread = thread::Builder::new()
        .name("replay".into())
        .spawn(move || replayer.serve(command_rx))
        .expect("spawn the replay thread");
    Ok(Session::new(commands, event_rx, thread))
}

fn level_allows(form: &CompiledForm, level: Level, path: &Path) -> Result<(), String> {
    if form.needs_changes() && level != Level::Full {
        return Err(format!(
            "form {} ({}): {} was recorded at {level:?} level, which holds steps but not record changes; \
             cabinet, context and stop-when forms need a trace recorded with --level full \
             (statement breakpoints and every-step forms work)",
            form.id,
            form.form.label(),
            path.display()
        ));
    }
    Ok(())
}

/// Where the cursor stands: before a step (0) or after it (1), ordered as motions see them.
type Key = (u64, u8);

fn key_of(m: &Mark, at: Position) -> Key {
    (m.global_step, matches!(at, Position::After) as u8)
}

struct Replayer {
    cursor: Cursor,
    desc: Arc<PipelineDesc>,
    path: PathBuf,
    forms: Vec<Arc<CompiledForm>>,
    next_form: u32,
    events: Sender<Event>,
    stop: Option<Stop>,
    key: Key,
    stops: u64,
    started: Instant,
    /// Each node's state as last told.
    shown: Vec<NodeState>,
}

impl Replayer {
    fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    fn serve(mut self, commands: Receiver<Command>) {
        self.emit(Event::Started {
            nodes: self.desc.nodes.clone(),
            forms: self.form_infos(),
            program: (*self.desc).clone(),
        });
        let first = self.cursor.step_from(0);
        match first {
            Ok(first) => self.land(first, Position::Before, plain(Why::Start), None),
            Err(e) => self.emit(Event::Error { message: e.to_string(), line: None }),
        }
        // A client hanging up ends the replay, as `detach` does.
        while let Ok(c) = commands.recv() {
            let end = matches!(c, Command::Halt | Command::Detach);
            if let Err(message) = self.command(c) {
                self.emit(Event::Error { message, line: None });
            }
            if end {
                break;
            }
        }
        self.finish(false);
    }

    fn finish(&self, halted: bool) {
        let steps = self.stop.as_ref().map_or(0, |s| s.global_step);
        self.emit(Event::Finished(Finished {
            records: 0,
            halted,
            seconds: self.started.elapsed().as_secs_f64(),
            summary: vec![format!("replayed {} up to global step {steps}", self.path.display())],
            trace: Some(self.path.display().to_string()),
            cabinets: Vec::new(),
        }));
    }

    fn form_infos(&self) -> Vec<FormInfo> {
        self.forms
            .iter()
            .map(|f| FormInfo { id: f.id, label: f.form.label(), hits: f.hits(), form: f.form.clone() })
            .collect()
    }

    fn node(&self, name: &str) -> Result<usize, String> {
        let current = self.stop.as_ref().map(|s| s.node.as_str());
        resolve_node(&self.desc, name, |i| Some(self.desc.nodes[i].as_str()) == current)
    }

    fn command(&mut self, c: Command) -> Result<(), String> {
        let trace = |e: TraceError| e.to_string();
        match c {
            Command::AddForm { form } => {
                let id = self.next_form;
                let compiled = self.compile(&form, id)?;
                self.next_form += 1;
                self.forms.push(Arc::new(compiled));
                self.forms_changed();
                // The form applies from here: what already satisfies it is not news.
                self.seed().map_err(trace)?;
            }
            Command::ReplaceForm { id, form } => {
                let compiled = self.compile(&form, id)?;
                let slot =
                    self.forms.iter_mut().find(|f| f.id == id).ok_or_else(|| format!("no form {id}"))?;
                *slot = Arc::new(compiled);
                self.forms_changed();
                self.seed().map_err(trace)?;
            }
            Command::DeleteForm { id } => {
                let before = self.forms.len();
                self.forms.retain(|f| f.id != id);
                if self.forms.len() == before {
                    return Err(format!("no form {id}"));
                }
                self.forms_changed();
            }
            Command::Step { node, count } => {
                let n = self.node(&node)?;
                self.forward(Some((n, count.max(1)))).map_err(trace)?;
            }
            // One cursor for the whole run: whichever node is named, the next stop of any.
            Command::Continue { .. } => self.forward(None).map_err(trace)?,
            Command::Back { node, count } => {
                let n = node.as_deref().map(|n| self.node(n)).transpose()?;
                self.back(n, count.max(1)).map_err(trace)?;
            }
            Command::Goto { step } => {
                let m = self.cursor.step_from(step).map_err(trace)?;
                self.goto(m, Why::Goto).map_err(trace)?;
            }
            Command::GotoTime { time } => {
                let m = self.cursor.step_at_time(time.as_second()).map_err(trace)?;
                self.goto(m, Why::Goto).map_err(trace)?;
            }
            Command::ReverseContinue => self.reverse().map_err(trace)?,
            Command::When => {
                let stop = self.stop.clone().ok_or("the trace holds no step")?;
                self.emit(Event::When(stop));
            }
            Command::Inquire { node, reactor, filter, offset, limit } => {
                let n = self.node(&node)?;
                if self.cursor.level() != Level::Full {
                    return Err(format!(
                        "{} was recorded at {:?} level: inquiring a node's tables needs a trace recorded \
                         with --level full",
                        self.path.display(),
                        self.cursor.level()
                    ));
                }
                let filter = filter
                    .as_deref()
                    .map(|f| Condition::parse(f, &self.desc))
                    .transpose()
                    .map_err(|e| e.to_string())?;
                let limit = limit.unwrap_or(INQUIRY_PAGE).min(INQUIRY_MAX_PAGE);
                let q = Inquiry { reactor, filter, offset, limit };
                let tables = self.cursor.tables(n).map_err(trace)?;
                let rows = inquire(&self.desc, &self.desc.nodes[n], &tables.rows, &q)?;
                self.emit(Event::Rows(rows));
            }
            Command::Resume { .. } => {
                return Err("a replay has nothing to resume: `continue`, `goto` or `back` move it".into());
            }
            Command::Halt | Command::Detach => {}
            Command::Snapshot => {
                let s = self.snapshot().map_err(trace)?;
                self.emit(Event::Snapshot(s));
            }
            Command::History { id } => {
                let path = self.path.clone();
                let events = self.events.clone();
                // A long trace takes a while: the replay keeps answering meanwhile.
                thread::Builder::new()
                    .name("history".into())
                    .spawn(move || {
                        let origin = path.display().to_string();
                        let answer = crate::recorder::open_trace(&path).map_err(|e| e.to_string()).and_then(
                            |mut t| crate::replay::query(&mut t, &origin, &id).map_err(|e| e.to_string()),
                        );
                        let _ = events.send(match answer {
                            Ok(h) => Event::History(h),
                            Err(message) => Event::Error { message, line: None },
                        });
                    })
                    .map_err(|e| format!("cannot read the trace: {e}"))?;
            }
        }
        Ok(())
    }

    fn compile(&self, form: &TraceForm, id: u32) -> Result<CompiledForm, String> {
        let compiled =
            CompiledForm::compile(form, id, &self.desc, &format!("#{id}")).map_err(|e| e.to_string())?;
        level_allows(&compiled, self.cursor.level(), &self.path)?;
        Ok(compiled)
    }

    fn forms_changed(&self) {
        self.emit(Event::Forms { forms: self.form_infos() });
    }

    /// Move the cursor to a stop and tell: the previous stop released, the new one stopped.
    fn land(&mut self, mark: Option<Mark>, at: Position, reason: Reason, by: Option<Release>) {
        let (key, position) = match (&mark, at) {
            (Some(m), Position::Before) => (key_of(m, at), m.global_step),
            (Some(m), Position::After) => (key_of(m, at), m.global_step + 1),
            (None, _) => ((0, 0), 0),
        };
        if let Err(e) = self.cursor.seek(position) {
            self.emit(Event::Error { message: e.to_string(), line: None });
            return;
        }
        if let (Some(old), Some(by)) = (&self.stop, by) {
            self.emit(Event::Released { node: old.node.clone(), stop: old.id, by });
        }
        self.stops += 1;
        let stop = match mark {
            Some(m) => self.stop_of(&m, at, reason),
            None => Stop {
                id: self.stops,
                node: self.desc.nodes.first().cloned().unwrap_or_default(),
                statement: String::new(),
                position: 0,
                at,
                step: 0,
                global_step: 0,
                tick: 0,
                pseudo_time: None,
                statement_us: 0,
                reason,
            },
        };
        self.key = key;
        self.stop = Some(stop.clone());
        self.emit(Event::Stopped(stop));
        if let Err(e) = self.show_states() {
            self.emit(Event::Error { message: e.to_string(), line: None });
        }
    }

    fn stop_of(&self, m: &Mark, at: Position, reason: Reason) -> Stop {
        let node = self.desc.nodes.get(m.node).cloned().unwrap_or_else(|| format!("#{}", m.node));
        let statement = self
            .desc
            .stages
            .iter()
            .find(|s| s.name == stage_name(&node))
            .and_then(|s| s.statements.get(m.statement))
            .map_or_else(|| format!("#{}", m.statement), |s| s.name.clone());
        Stop {
            id: self.stops,
            node,
            statement,
            position: m.statement,
            at,
            step: m.node_step,
            global_step: m.global_step,
            tick: m.tick,
            pseudo_time: (m.time != 0).then(|| jiff::Timestamp::from_second(m.time).ok()).flatten(),
            statement_us: match at {
                Position::Before => 0,
                Position::After => u64::from(m.wall_us),
            },
            reason,
        }
    }

    /// After a jump, bring every `stop-when` flip-flop to where the replay landed, as if the
    /// forms had watched all along: from each node's checkpoint before the position (where the
    /// flip-flop starts from the tables as they are), check them at every step up to it.
    fn seed(&mut self) -> Result<(), TraceError> {
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
            cursor.walk_node(n, from, at, |_, tables, before| {
                if fresh {
                    fresh = false;
                    for f in &watching {
                        tables.matcher.seed_when(f, &tables.rows);
                    }
                }
                if !before {
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

    fn stage_of(&self, node: usize) -> usize {
        let name = stage_name(&self.desc.nodes[node]);
        self.desc.stages.iter().position(|s| s.name == name).unwrap_or(usize::MAX)
    }

    /// Run forwards to the next stop of the forms, or until `stepping` (node, count) ran its
    /// steps, or to the end of the trace.
    fn forward(&mut self, mut stepping: Option<(usize, u64)>) -> Result<(), TraceError> {
        let by = if stepping.is_some() { Release::Step } else { Release::Continue };
        // Stopped before a step: its breakpoint already fired.
        let mut skip_before = self.key.1 == 0 && self.stop.is_some();
        self.cursor.seek(self.cursor.at())?;
        let mut last = None;
        loop {
            let Some(m) = self.cursor.next_step()? else {
                let end = last.or(self.stop_mark());
                self.land(end, Position::After, plain(Why::End), Some(by));
                return Ok(());
            };
            if !skip_before {
                let stage = self.stage_of(m.node);
                let hit = self
                    .forms
                    .iter()
                    .find(|f| f.applies_to(m.node) && breaks_at(f, stage, m.statement) && f.hit());
                if let Some(f) = hit {
                    let reason = reason(f, Why::Statement);
                    self.land(Some(m), Position::Before, reason, Some(by));
                    return Ok(());
                }
            }
            skip_before = false;
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
                self.land(Some(m), Position::After, reason, Some(by));
                return Ok(());
            }
        }
    }

    /// The step the cursor stands at, for a stop at the end of the trace.
    fn stop_mark(&mut self) -> Option<Mark> {
        let at = self.cursor.at();
        self.cursor.step_before(at, None).ok().flatten()
    }

    fn back(&mut self, node: Option<usize>, count: u64) -> Result<(), TraceError> {
        let mut at = self.cursor.at();
        let mut found = None;
        for _ in 0..count {
            match self.cursor.step_before(at, node)? {
                Some(m) => {
                    at = m.global_step;
                    found = Some(m);
                }
                None => break,
            }
        }
        match found {
            Some(m) => self.land(Some(m), Position::Before, plain(Why::Back), Some(Release::Step)),
            None => {
                let first = self.cursor.step_from(0)?;
                self.land(first, Position::Before, plain(Why::Start), Some(Release::Step));
            }
        }
        self.seed()
    }

    fn goto(&mut self, m: Option<Mark>, why: Why) -> Result<(), TraceError> {
        match m {
            Some(m) => self.land(Some(m), Position::Before, plain(why), Some(Release::Continue)),
            None => {
                let end = self.cursor.end()?;
                let last = self.cursor.step_before(end, None)?;
                self.land(last, Position::After, plain(Why::End), Some(Release::Continue));
            }
        }
        self.seed()
    }

    /// Go back to the last stop of the forms before the cursor. Per node, from the checkpoint
    /// nearest before the cursor backwards, one window at a time: rebuild the node there, walk
    /// it forwards to the window's end noting each hit, keep the last.
    fn reverse(&mut self) -> Result<(), TraceError> {
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
                cursor.walk_node(n, from, to, |m, tables, before| {
                    if fresh {
                        // The window starts from a checkpoint: flip-flops start from its tables.
                        fresh = false;
                        for f in forms.iter().filter(|f| f.covers(n)) {
                            tables.matcher.seed_when(f, &tables.rows);
                        }
                    }
                    let at = if before { Position::Before } else { Position::After };
                    let key = key_of(m, at);
                    let mut hit = None;
                    if before {
                        hit = forms
                            .iter()
                            .find(|f| f.covers(n) && breaks_at(f, stage, m.statement))
                            .map(|f| reason(f, Why::Statement));
                    } else {
                        let touched = tables.touched();
                        for f in forms.iter().filter(|f| f.covers(n)) {
                            if let Some(why) = tables.matcher.fires(desc, f, &touched, &tables.rows)
                                && hit.is_none()
                            {
                                hit = Some(reason(f, why));
                            }
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
            Some((_, m, at, reason)) => self.land(Some(m), at, reason, Some(Release::Continue)),
            None => {
                let first = self.cursor.step_from(0)?;
                self.land(first, Position::Before, plain(Why::Start), Some(Release::Continue));
            }
        }
        self.seed()
    }

    /// A node's state at the cursor: the stop's node frozen there, the others done, not yet
    /// started, or paused after their last step.
    fn node_state(&mut self, n: usize) -> Result<(NodeState, Option<Mark>), TraceError> {
        let at = self.cursor.at();
        let last = self.cursor.last_of(n, at)?;
        let here = self.stop.as_ref().filter(|s| s.node == self.desc.nodes[n]);
        let state = match (here, last) {
            (Some(stop), _) => {
                NodeState::Frozen { statement: stop.statement.clone(), reason: stop.reason.to_string() }
            }
            _ if self.cursor.done_before(n, at)? => NodeState::Done,
            (_, None) => NodeState::Starting,
            (_, Some(m)) => {
                let s = self.stop_of(&m, Position::After, plain(Why::Goto));
                NodeState::Frozen { statement: s.statement, reason: "replay cursor".into() }
            }
        };
        Ok((state, last))
    }

    /// Tell the nodes whose state the last motion changed.
    fn show_states(&mut self) -> Result<(), TraceError> {
        for n in 0..self.desc.nodes.len() {
            let (state, _) = self.node_state(n)?;
            if self.shown.get(n) != Some(&state) {
                self.emit(Event::State { node: self.desc.nodes[n].clone(), state: state.clone() });
                self.shown[n] = state;
            }
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Snapshot, TraceError> {
        let mut nodes = Vec::new();
        for n in 0..self.desc.nodes.len() {
            let name = self.desc.nodes[n].clone();
            let (state, last) = self.node_state(n)?;
            let here = self.stop.as_ref().is_some_and(|s| s.node == name);
            let present = self.cursor.tables(n)?.matcher.presence.present();
            nodes.push(NodeView {
                node: name,
                state,
                steps: last.map_or(0, |m| m.node_step + 1),
                records: 0,
                pseudo_time: last
                    .and_then(|m| (m.time != 0).then(|| jiff::Timestamp::from_second(m.time).ok()).flatten()),
                traced: true,
                stop: if here { self.stop.clone() } else { None },
                cabinets: cabinet_views(&self.desc, present),
            });
        }
        Ok(Snapshot { nodes, forms: self.form_infos(), finished: false })
    }
}

fn plain(why: Why) -> Reason {
    Reason { form: None, label: None, why }
}

fn reason(form: &CompiledForm, why: Why) -> Reason {
    Reason { form: Some(form.id), label: Some(form.form.label()), why }
}
