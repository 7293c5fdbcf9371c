//! The live session: runs a debuggee with the tracer attached, turns commands into tracer
//! actions, has the nodes deliver the tracer's signals to the client as events, and samples
//! every node's state from the run's control board (real channel state) to report what changed.

mod states;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded, select, tick, unbounded};

use super::api::{Command, Event, Finished, FormInfo, NodeState, NodeView, Snapshot};
use super::{Debuggee, Failure, Outcome, Session, Shortcut, cabinet_views, resolve_node};
use crate::engine::Control;
use crate::recorder::{NodeCabinet, PipelineDesc, consolidate, open_trace};
use crate::tracer::{CompiledForm, FormError, Inquiry, Signal, TraceForm, Tracer};

/// How often node states are sampled.
const SAMPLE: Duration = Duration::from_millis(20);

/// Check the forms against the pipeline (an error names the form and field), then start the
/// run with the tracer attached. Forms are (form, where it came from).
pub(super) fn start(debuggee: Debuggee, forms: Vec<(TraceForm, String)>) -> Result<Session, FormError> {
    let compiled = forms
        .iter()
        .enumerate()
        .map(|(i, (f, origin))| CompiledForm::compile(f, i as u32 + 1, &debuggee.desc, origin).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    let (commands, command_rx) = unbounded();
    let (event_tx, events) = unbounded();
    // A node's stops, releases and answers go to the client from the node's own thread: a
    // relay through the session thread waited for a core as often as not (milliseconds on a
    // busy machine). The session thread learns of them when it samples the nodes.
    let to_client = Arc::new(Mutex::new(Some(event_tx.clone())));
    let outbox = to_client.clone();
    let listener = Box::new(move |s: Signal| {
        let event = match s {
            Signal::Stopped(stop) => Event::Stopped(stop),
            Signal::Released { node, stop, by } => Event::Released { node, stop, by, mover: None },
            Signal::Rows(rows) => Event::Rows(rows),
            Signal::Error(message) => Event::Error { message, line: None },
            Signal::Restarted { node, restarts, error } => {
                Event::State { node, state: NodeState::Restarted { restarts, error } }
            }
            Signal::StepCut { node, left, by } => Event::StepCut { node, left, by },
        };
        // Nobody listening (the session is gone) changes nothing for the run.
        if let Some(client) = &*outbox.lock().expect("outbox lock") {
            let _ = client.send(event);
        }
    });
    let tracer = Tracer::new(debuggee.desc.clone(), Arc::new(compiled), listener, debuggee.control.clone());
    let served = Arc::new(AtomicU64::new(0));
    let shortcut = shortcut(tracer.clone(), debuggee.desc.clone(), served.clone());
    let n = debuggee.desc.nodes.len();
    let controller = Controller {
        trace: debuggee.trace.clone(),
        next_form: forms.len() as u32 + 1,
        tracer,
        control: debuggee.control.clone(),
        desc: debuggee.desc.clone(),
        events: event_tx,
        to_client,
        served,
        shown: vec![NodeState::Starting; n],
        pending: vec![None; n],
        restarts: vec![0; n],
        last_steps: 0,
        still: 0,
        stalled: false,
        finished: false,
    };
    let thread = thread::Builder::new()
        .name("session".into())
        .spawn(move || controller.serve(debuggee.run, command_rx))
        .expect("spawn the session thread");
    Ok(Session::new(commands, events, thread).with_shortcut(shortcut))
}

/// `step` and `continue NODE` carried to a frozen node by the client's own thread, sparing a
/// wake of the session thread each way. Anything else, or anything that fails, goes the usual
/// way, where the session thread words the error.
fn shortcut(tracer: Tracer, desc: Arc<PipelineDesc>, served: Arc<AtomicU64>) -> Shortcut {
    let node = move |tracer: &Tracer, name: &str| {
        let frozen = tracer.frozen();
        resolve_node(&desc, name, |i| frozen[i].is_some(), |i| tracer.may_stop(i)).ok()
    };
    let act = move |c: &Command| match c {
        Command::Step { node: name, count } => {
            node(&tracer, name).is_some_and(|i| tracer.step(i, *count).is_ok())
        }
        Command::Continue { node: Some(name) } => {
            node(&tracer, name).is_some_and(|i| tracer.resume_to_next_stop(i).is_ok())
        }
        _ => false,
    };
    Shortcut::new(Box::new(act), served)
}

struct Controller {
    tracer: Tracer,
    trace: Option<(std::path::PathBuf, crate::recorder::Level)>,
    control: Arc<Control>,
    desc: Arc<PipelineDesc>,
    events: Sender<Event>,
    /// The nodes' way to the client, closed when the session ends (a client waiting for
    /// events then sees the end, whoever still holds the tracer).
    to_client: Arc<Mutex<Option<Sender<Event>>>>,
    /// Commands served so far (the client's shortcut waits until it has caught up).
    served: Arc<AtomicU64>,
    next_form: u32,
    shown: Vec<NodeState>,
    pending: Vec<Option<(NodeState, u32)>>,
    /// Each node's restarts already reported.
    restarts: Vec<u32>,
    last_steps: u64,
    still: u32,
    stalled: bool,
    finished: bool,
}

impl Controller {
    fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    fn error(&self, message: impl Into<String>) {
        self.emit(Event::Error { message: message.into(), line: None });
    }

    fn serve(mut self, run: super::RunFn, commands: Receiver<Command>) {
        let (done_tx, done_rx) = bounded::<Result<Outcome, Failure>>(1);
        let tracer = self.tracer.clone();
        // Before the run starts: its nodes' stops reach the client directly.
        self.emit(Event::Started {
            nodes: self.desc.nodes.clone(),
            forms: self.form_infos(),
            program: (*self.desc).clone(),
            unrecorded: None,
        });
        let runner = thread::Builder::new()
            .name("run".into())
            .spawn(move || {
                let _ = done_tx.send(run(&tracer));
            })
            .expect("spawn the run thread");
        let ticker = tick(SAMPLE);
        let never = crossbeam_channel::never();
        let mut open = true;
        let result = loop {
            let command_rx = if open { &commands } else { &never };
            select! {
                recv(command_rx) -> c => match c {
                    Ok(c) => {
                        self.command(c);
                        self.served.fetch_add(1, Ordering::Release);
                    }
                    Err(_) => {
                        open = false;
                        self.tracer.detach();
                    }
                },
                recv(done_rx) -> r => break r,
                recv(ticker) -> _ => self.sample(),
            }
        };
        let _ = runner.join();
        self.sample();
        self.finished = true;
        match result {
            Ok(Ok(outcome)) => self.finish(outcome),
            Ok(Err(f)) => self.emit(Event::Failed { message: f.message, code: f.code }),
            Err(_) => self.emit(Event::Failed { message: "the run thread died".into(), code: 1 }),
        }
        // Keep answering (snapshots) until the client leaves.
        if open {
            for c in commands.iter() {
                self.command(c);
                self.served.fetch_add(1, Ordering::Release);
            }
        }
    }

    fn finish(&self, o: Outcome) {
        let consolidated =
            o.trace.as_ref().and_then(|p| open_trace(p).ok()).and_then(|mut t| consolidate(&mut t).ok());
        self.emit(Event::Finished(Finished {
            records: o.records,
            halted: self.control.halted(),
            seconds: o.seconds,
            held_seconds: o.held_seconds,
            summary: o.summary,
            trace: o.trace.map(|p| p.display().to_string()),
            unfired: self.unfired(consolidated.as_ref().map(|c| &c.node_cabinets[..])),
            cabinets: consolidated.map(|c| c.program_cabinets).unwrap_or_default(),
        }));
    }

    /// A line for each form that never stopped the run (gdb's "hit 0 times"), saying why when
    /// the trace shows it: none of its nodes ever held a cabinet it watches.
    fn unfired(&self, held: Option<&[NodeCabinet]>) -> Vec<String> {
        let forms = self.tracer.forms();
        let quiet = forms.iter().filter(|f| f.hits() == 0);
        quiet
            .map(|f| {
                let mut line = format!("form {} did not fire: {}", f.id, f.form.label());
                let nodes: Vec<&str> = (self.desc.nodes.iter().enumerate())
                    .filter(|&(i, _)| f.covers(i))
                    .map(|(_, n)| n.as_str())
                    .collect();
                let never: Vec<&str> = (f.form.cabinets.iter())
                    .filter(|c| self.desc.cabinets.iter().any(|d| d.name.eq_ignore_ascii_case(c)))
                    .filter(|c| {
                        let held_here = |h: &NodeCabinet| {
                            h.cabinet.eq_ignore_ascii_case(c) && nodes.contains(&h.node.as_str())
                        };
                        held.is_some_and(|held| !held.iter().any(held_here))
                    })
                    .map(String::as_str)
                    .collect();
                if !never.is_empty() {
                    line.push_str(&format!(" ({} never held {})", nodes.join(", "), never.join(", ")));
                }
                line
            })
            .collect()
    }

    fn form_infos(&self) -> Vec<FormInfo> {
        self.tracer
            .forms()
            .iter()
            .map(|f| FormInfo { id: f.id, label: f.form.label(), hits: f.hits(), form: f.form.clone() })
            .collect()
    }

    fn snapshot(&self) -> Snapshot {
        let frozen = self.tracer.frozen();
        let mut present = self.tracer.present().into_iter();
        let nodes = self
            .control
            .gauges()
            .iter()
            .enumerate()
            .map(|(i, g)| NodeView {
                node: g.node.name.clone(),
                state: self.state_of(g, &frozen[i]),
                steps: g.steps,
                records: Some(g.records),
                // A frozen node's clock is where it stopped; a running one's, at its last tick.
                restarts: g.restarts,
                pseudo_time: match &frozen[i] {
                    Some(stop) => stop.pseudo_time,
                    None => (g.time != 0).then(|| jiff::Timestamp::from_second(g.time).ok()).flatten(),
                },
                traced: !self.tracer.untraced(i),
                stop: frozen[i].clone(),
                cabinets: cabinet_views(&self.desc, present.next().unwrap_or_default()),
            })
            .collect();
        Snapshot { nodes, forms: self.form_infos(), finished: self.finished }
    }

    fn history(&self, id: String) -> Result<(), String> {
        let (path, level) = self.trace.clone().ok_or(
            "this run records no trace: a record's history needs --trace FILE --level full".to_string(),
        )?;
        if level != crate::recorder::Level::Full {
            return Err(format!(
                "this run records its trace at {level} level, which holds steps but not records: a \
                 record's history needs --level full"
            ));
        }
        let (control, finished) = (self.control.clone(), self.finished);
        super::read_history(path, None, id, self.events.clone(), move || finished || control.settled())
    }

    /// A node by name: a node name, or a stage name when one of its nodes is meant (its only
    /// node, or its only frozen one).
    fn node(&self, name: &str) -> Result<usize, String> {
        let frozen = self.tracer.frozen();
        resolve_node(&self.desc, name, |i| frozen[i].is_some(), |i| self.tracer.may_stop(i))
    }

    fn command(&mut self, c: Command) {
        if let Err(message) = self.try_command(c) {
            self.error(message);
        }
    }

    fn try_command(&mut self, c: Command) -> Result<(), String> {
        let changes_forms = matches!(
            c,
            Command::AddForm { .. }
                | Command::ReplaceForm { .. }
                | Command::Ignore { .. }
                | Command::DeleteForm { .. }
        );
        if self.finished && !matches!(c, Command::Snapshot | Command::Forms | Command::History { .. }) {
            return Err("the run has finished".into());
        }
        if changes_forms && self.control.halted() {
            return Err("the run is halting: forms can no longer change".into());
        }
        match c {
            Command::AddForm { form } => {
                let id = self.next_form;
                // Named as written: a form refused gets no number.
                let compiled = CompiledForm::compile(&form, id, &self.desc, &format!("`{}`", form.label()))
                    .map_err(|e| e.to_string())?;
                self.next_form += 1;
                let mut forms = (*self.tracer.forms()).clone();
                forms.push(Arc::new(compiled));
                self.set_forms(forms);
            }
            Command::ReplaceForm { id, form } => {
                let compiled = CompiledForm::compile(&form, id, &self.desc, &format!("#{id}"))
                    .map_err(|e| e.to_string())?;
                let mut forms = (*self.tracer.forms()).clone();
                let slot = forms.iter_mut().find(|f| f.id == id).ok_or_else(|| format!("no form {id}"))?;
                *slot = Arc::new(compiled);
                self.set_forms(forms);
            }
            Command::Ignore { id, count } => {
                let mut forms = (*self.tracer.forms()).clone();
                let slot = forms.iter_mut().find(|f| f.id == id).ok_or_else(|| format!("no form {id}"))?;
                *slot = Arc::new(slot.ignoring(count));
                self.set_forms(forms);
            }
            Command::DeleteForm { id } => {
                let mut forms = (*self.tracer.forms()).clone();
                let before = forms.len();
                forms.retain(|f| f.id != id);
                if forms.len() == before {
                    return Err(format!("no form {id}"));
                }
                self.set_forms(forms);
            }
            Command::History { id } => self.history(id)?,
            Command::Step { node, count } => self.tracer.step(self.node(&node)?, count)?,
            Command::Continue { node: Some(node) } => self.tracer.resume_to_next_stop(self.node(&node)?)?,
            Command::Continue { node: None } => {
                let frozen: Vec<usize> = self
                    .tracer
                    .frozen()
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.is_some())
                    .map(|(i, _)| i)
                    .collect();
                if frozen.is_empty() {
                    return Err("no node is frozen".into());
                }
                for i in frozen {
                    self.tracer.resume_to_next_stop(i)?;
                }
            }
            Command::Inquire { node, reactor, filter, offset, limit } => {
                let i = self.node(&node)?;
                let q = Inquiry::new(&self.desc, reactor, filter.as_deref(), offset, limit)?;
                self.tracer.inquire(i, q).map_err(|e| {
                    format!("{e}: only a frozen node can be inquired (its tables change while it runs)")
                })?;
            }
            Command::Resume { node } => {
                let i = self.node(&node)?;
                if !self.tracer.resume(i)? {
                    self.emit(Event::Untraced { node: self.desc.nodes[i].clone() });
                }
            }
            Command::Halt => {
                self.control.halt();
                self.tracer.halt();
            }
            Command::Detach => self.tracer.detach(),
            // Where the node stopped last stands: live, the latest stop of a frozen node.
            Command::When => {
                let frozen = self.tracer.frozen();
                let last = frozen.into_iter().flatten().max_by_key(|s| s.id);
                let stop = last.ok_or("no node is frozen: `when` tells where a stopped node stands")?;
                self.emit(Event::When(stop));
            }
            Command::Back { .. }
            | Command::Goto { .. }
            | Command::GotoTime { .. }
            | Command::ReverseContinue => {
                return Err(match &self.trace {
                    Some((path, crate::recorder::Level::Full)) => format!(
                        "a live run only goes forward: `catar replay {}` (recorded now at full level) \
                         steps back, jumps and reverse-continues",
                        path.display()
                    ),
                    _ => "a live run only goes forward: record it with --trace FILE --level full, \
                          then `catar replay FILE` steps back, jumps and reverse-continues"
                        .into(),
                });
            }
            Command::Snapshot => self.emit(Event::Snapshot(self.snapshot())),
            Command::Forms => self.emit(Event::Forms { forms: self.form_infos() }),
        }
        Ok(())
    }

    fn set_forms(&self, forms: Vec<Arc<CompiledForm>>) {
        self.tracer.set_forms(Arc::new(forms));
        self.emit(Event::Forms { forms: self.form_infos() });
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if let Ok(mut client) = self.to_client.lock() {
            client.take();
        }
    }
}
