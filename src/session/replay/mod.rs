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

mod motion;
mod view;

use super::api::{Command, Event, Finished, FormInfo, NodeState};
use super::{Session, resolve_node};
use crate::recorder::{Level, PipelineDesc};
use crate::replay::{Cursor, Mark};
use crate::trace::TraceError;
use crate::tracer::{CompiledForm, FormError, Inquiry, Position, Reason, Stop, TraceForm, Why, inquire};

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
pub(super) fn start(
    path: &Path,
    run: Option<usize>,
    forms: Vec<(TraceForm, String)>,
) -> Result<Session, ReplayError> {
    let cursor = Cursor::open_run(path, run)?;
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
        run,
        next_form: compiled.len() as u32 + 1,
        forms: compiled,
        events,
        stop: None,
        key: (0, 0),
        stops: 0,
        started: Instant::now(),
        shown: vec![NodeState::Starting; desc_nodes],
        cut: None,
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
            "form {} ({}): {} was recorded at {level} level, which holds steps but not record changes; \
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
    /// The run of the trace replayed (the last when `None`).
    run: Option<usize>,
    forms: Vec<Arc<CompiledForm>>,
    next_form: u32,
    events: Sender<Event>,
    stop: Option<Stop>,
    key: Key,
    stops: u64,
    started: Instant,
    /// Each node's state as last told.
    shown: Vec<NodeState>,
    /// A `step` the stop about to land cut short, said after it.
    cut: Option<Event>,
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
            unrecorded: (self.cursor.level() != Level::Full).then(|| {
                format!(
                    "recorded at {} level: no record or cabinet to show (record with --level full)",
                    self.cursor.level()
                )
            }),
        });
        match self.cursor.step_from(0) {
            Ok(Some(first)) => self.land(Some(first), Position::Before, plain(Why::Start), None),
            // Nothing to stop at: say so rather than stop at a step that is not there.
            Ok(None) => {
                let cut =
                    if self.cursor.complete() { "" } else { " (the file was cut before its first step)" };
                self.emit(Event::Finished(Finished {
                    records: 0,
                    halted: false,
                    seconds: self.started.elapsed().as_secs_f64(),
                    summary: vec![format!(
                        "{} holds no recorded step: nothing to replay{cut}",
                        self.path.display()
                    )],
                    trace: Some(self.path.display().to_string()),
                    ..Finished::default()
                }));
                return;
            }
            // Nothing to stand on (the first chunk is damaged): the replay ends here, as a run
            // that failed on bad input, instead of waiting for motions that cannot move.
            Err(e) => {
                self.emit(Event::Failed { message: e.to_string(), code: 2 });
                return;
            }
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
        self.finish();
    }

    /// The replay is over (halt, detach, or the client left): nothing was cut short.
    fn finish(&self) {
        let steps = self.stop.as_ref().map_or(0, |s| s.global_step);
        self.emit(Event::Finished(Finished {
            records: 0,
            halted: false,
            seconds: self.started.elapsed().as_secs_f64(),
            summary: vec![format!("replayed {} up to global step {steps}", self.path.display())],
            trace: Some(self.path.display().to_string()),
            ..Finished::default()
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
        // One cursor: no other node stops meanwhile.
        resolve_node(&self.desc, name, |i| Some(self.desc.nodes[i].as_str()) == current, |_| false)
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
            // The same form, its flip-flops as they are: only its count of hits to pass changes.
            Command::Ignore { id, count } => {
                let slot =
                    self.forms.iter_mut().find(|f| f.id == id).ok_or_else(|| format!("no form {id}"))?;
                *slot = Arc::new(slot.ignoring(count));
                self.forms_changed();
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
                // Stepping a node the trace has no more of would run to the end of the trace.
                if self.cursor.next_step_of(n).map_err(trace)?.is_none() {
                    return Err(format!("{} has no step left in the trace", self.desc.nodes[n]));
                }
                self.forward(Some((n, count.max(1))), None).map_err(trace)?;
            }
            // One cursor for the whole run: a node named runs it to that node's next stop.
            Command::Continue { node } => {
                let only = node.as_deref().map(|n| self.node(n)).transpose()?;
                self.forward(None, only).map_err(trace)?
            }
            Command::Back { node, count } => {
                let n = node.as_deref().map(|n| self.node(n)).transpose()?;
                // As gdb's "No more reverse-execution history": landing where it stands would
                // read as a move.
                let at = self.cursor.at();
                if self.cursor.ran_before(at, None).map_err(trace)?.is_none() {
                    return Err("at the start of the trace: nothing to step back over".into());
                }
                if let Some(n) = n
                    && self.cursor.ran_before(at, Some(n)).map_err(trace)?.is_none()
                {
                    return Err(format!(
                        "{} ran no step before here: nothing to step back over",
                        self.desc.nodes[n]
                    ));
                }
                self.back(n, count.max(1)).map_err(trace)?;
            }
            Command::Goto { step } => {
                let m = self.cursor.step_from(step).map_err(trace)?;
                // `goto end` asks for the end: no need to say it went past.
                let asked = (step != u64::MAX).then(|| format!("goto {step}"));
                self.goto(m, Position::Before, asked).map_err(trace)?;
            }
            Command::GotoTime { time } => {
                // After the step that brings the clock to T: the stop reads T or later (before
                // it, the clock still reads the time the step moved on from).
                let m = self.cursor.step_at_time(time.as_second()).map_err(trace)?;
                self.goto(m, Position::After, Some(format!("goto time {time}"))).map_err(trace)?;
            }
            Command::ReverseContinue => {
                if self.cursor.ran_before(self.cursor.at(), None).map_err(trace)?.is_none() {
                    return Err("at the start of the trace: nothing to run back over".into());
                }
                self.reverse().map_err(trace)?
            }
            Command::When => {
                let stop = self.stop.clone().ok_or("the trace holds no step")?;
                self.emit(Event::When(stop));
            }
            Command::Inquire { node, reactor, filter, offset, limit } => {
                let n = self.node(&node)?;
                if self.cursor.level() != Level::Full {
                    return Err(format!(
                        "{} was recorded at {} level: inquiring a node's tables needs a trace recorded \
                         with --level full",
                        self.path.display(),
                        self.cursor.level()
                    ));
                }
                let q = Inquiry::new(&self.desc, reactor, filter.as_deref(), offset, limit)?;
                let tables = self.cursor.tables(n).map_err(trace)?;
                let rows = inquire(&self.desc, &self.desc.nodes[n], &tables.rows, &q)?;
                self.emit(Event::Rows(rows));
            }
            Command::Resume { .. } => {
                return Err("a replay has nothing to resume: `continue`, `goto` or `back` move it".into());
            }
            Command::Halt | Command::Detach => {}
            Command::Forms => self.emit(Event::Forms { forms: self.form_infos() }),
            Command::Snapshot => {
                let s = self.snapshot().map_err(trace)?;
                self.emit(Event::Snapshot(s));
            }
            Command::History { id } => {
                super::read_history(self.path.clone(), self.run, id, self.events.clone(), || true)?
            }
        }
        Ok(())
    }

    /// Form `id` compiled; named in errors by its number when it exists, else as written.
    fn compile(&self, form: &TraceForm, id: u32) -> Result<CompiledForm, String> {
        let origin = if id < self.next_form { format!("#{id}") } else { format!("`{}`", form.label()) };
        let compiled = CompiledForm::compile(form, id, &self.desc, &origin).map_err(|e| e.to_string())?;
        level_allows(&compiled, self.cursor.level(), &self.path)?;
        Ok(compiled)
    }

    fn forms_changed(&self) {
        self.emit(Event::Forms { forms: self.form_infos() });
    }
}

fn plain(why: Why) -> Reason {
    Reason { form: None, label: None, why }
}

fn reason(form: &CompiledForm, why: Why) -> Reason {
    Reason { form: Some(form.id), label: Some(form.form.label()), why }
}
