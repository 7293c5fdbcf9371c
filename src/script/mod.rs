//! The headless command language (SPEC §9): a script of gdb-like words drives a live session,
//! waiting for each stop it needs, and prints every event as text or as one JSON object a line.

mod check;
mod parse;
mod print;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

pub use parse::{Word, WordError, parse_line};
pub use print::text;

use crate::recorder::PipelineDesc;
use crate::session::{Command, Event, FormInfo, Interrupt, NodeState, Session, Target, resolve_node};
use crate::tracer::{CompiledForm, Stop, TraceForm, Why, stage_name};

/// A script that cannot run: its file, line and why.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The file cannot be read.
    #[error("cannot read script {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is wrong.
    #[error("{origin} line {line}: {message}")]
    Line {
        /// The script.
        origin: String,
        /// Its line number (1-based).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// A parsed script: its words with their line numbers.
#[derive(Clone, Debug)]
pub struct Script {
    /// Where it came from (for errors).
    pub origin: String,
    /// Its words, with 1-based line numbers.
    pub words: Vec<(usize, Word)>,
}

impl Script {
    /// Read and parse a script file: every line is checked before anything runs.
    pub fn load(path: &Path) -> Result<Script, ScriptError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ScriptError::Read { path: path.into(), source })?;
        Script::parse(&text, &path.display().to_string())
    }

    /// Parse a script's text.
    pub fn parse(text: &str, origin: &str) -> Result<Script, ScriptError> {
        let mut words = Vec::new();
        let mut halted = false;
        for (i, line) in text.lines().enumerate() {
            let error = |message: String| ScriptError::Line { origin: origin.into(), line: i + 1, message };
            let Some(word) = parse_line(line).map_err(|e| error(e.0))? else { continue };
            if halted {
                return Err(error("nothing can follow `halt`: the run has stopped".into()));
            }
            halted = word == Word::Halt;
            words.push((i + 1, word));
        }
        Ok(Script { origin: origin.into(), words })
    }
}

/// Run `script` on a debuggee, with `forms` (from `--form`) in force from the first step, and
/// print events to `out`. Returns the exit code: 0, the run's failure code, or 2 for a wrong line.
pub fn run(
    target: Target,
    forms: Vec<(TraceForm, String)>,
    script: &Script,
    json: bool,
    out: &mut dyn Write,
    started: impl FnOnce(Interrupt),
) -> i32 {
    // The forms of the script's first lines apply from the first step, like breakpoints set
    // before gdb's `run`.
    let desc = match target.desc() {
        Ok(d) => d,
        Err(message) => return report(out, json, Event::Error { message, line: None }),
    };
    if let Err(e) = script.check(&desc, target.is_replay(), forms.len()) {
        let line = match &e {
            ScriptError::Line { line, .. } => Some(*line),
            ScriptError::Read { .. } => None,
        };
        return report(out, json, Event::Error { message: e.to_string(), line });
    }
    let mut initial = forms;
    let mut first = 0;
    for (line, word) in &script.words {
        let (f, origin) = match word {
            Word::Form(f) => (f, format!("{} line {line}", script.origin)),
            Word::FormFile { form, path } => (form, path.clone()),
            _ => break,
        };
        let id = initial.len() as u32 + 1;
        if let Err(e) = CompiledForm::compile(f, id, &desc, &origin) {
            return report(out, json, Event::Error { message: e.to_string(), line: Some(*line) });
        }
        initial.push((f.clone(), origin));
        first += 1;
    }
    let replay = target.is_replay();
    let mut session = match target.start(initial) {
        Ok(s) => s,
        Err(message) => return report(out, json, Event::Error { message, line: None }),
    };
    started(session.interrupt());
    let mut r = Runner::new(session, out, json, replay);
    r.origin = Some(script.origin.clone());
    // A replay starts stopped before the first step: the script's first `continue` goes on
    // from there, as a live script's waits for the run's first stop.
    if replay && let Err(message) = r.wait_stop() {
        r.print(&Event::Error { message, line: None });
        return r.until_end();
    }
    // A replay that cannot start (its first chunk damaged) has said why: no word can run.
    if r.end.is_some() {
        return r.until_end();
    }
    // The forms in force (with their numbers) come with the start: `ignore 1 …` needs them.
    if !replay && let Err(message) = r.wait(|e| matches!(e, Event::Started { .. })) {
        r.print(&Event::Error { message, line: None });
        return r.until_end();
    }
    for (line, word) in &script.words[first..] {
        if let Err(message) = r.word(word) {
            r.print(&Event::Error { message, line: Some(*line) });
            r.session.send(Command::Halt);
            r.until_end();
            return 2;
        }
    }
    if r.end.is_none() {
        // The script is done with the run: every node goes on untraced to the end.
        r.session.send(Command::Detach);
    }
    r.until_end()
}

/// Without a script: print each stop of the forms and let the node go on (gdb's tracepoints),
/// to the end of the run (of the trace, in a replay).
pub fn follow(
    target: Target,
    forms: Vec<(TraceForm, String)>,
    json: bool,
    out: &mut dyn Write,
    started: impl FnOnce(Interrupt),
) -> i32 {
    let replay = target.is_replay();
    let mut session = match target.start(forms) {
        Ok(s) => s,
        Err(message) => return report(out, json, Event::Error { message, line: None }),
    };
    started(session.interrupt());
    let mut r = Runner::new(session, out, json, replay);
    let mut stuck = false;
    while r.end.is_none() {
        match r.next() {
            Some(Event::Stopped(stop)) if matches!(stop.reason.why, Why::End { .. }) => {
                r.session.send(Command::Detach)
            }
            Some(Event::Stopped(_)) if replay => r.session.send(Command::Continue { node: None }),
            Some(Event::Stopped(stop)) => r.session.send(Command::Continue { node: Some(stop.node) }),
            // A replay's `continue` refused (a damaged chunk ahead) leaves its one cursor where
            // it stands: no stop will come, so it ends here rather than wait for ever.
            Some(e @ Event::Error { .. }) if replay => {
                r.print(&e);
                r.session.send(Command::Detach);
                stuck = true;
            }
            Some(e @ Event::Error { .. }) => r.print(&e),
            Some(_) => {}
            None => return 1,
        }
    }
    let code = r.until_end();
    if stuck { 2 } else { code }
}

/// An error before the session starts: its message names the script and line already.
fn report(out: &mut dyn Write, json: bool, e: Event) -> i32 {
    match &e {
        Event::Error { message, .. } if !json => eprintln!("catar: error: {message}"),
        _ => Runner::emit(out, json, &e),
    }
    2
}

struct Runner<'a> {
    session: Session,
    out: &'a mut dyn Write,
    json: bool,
    current: Option<String>,
    /// The nodes frozen now, at their stops.
    frozen: HashMap<String, Stop>,
    forms: Vec<FormInfo>,
    program: Option<PipelineDesc>,
    end: Option<Event>,
    /// A replay has one cursor: each motion ends in exactly one stop.
    replay: bool,
    /// The script, to name in errors.
    origin: Option<String>,
    /// Text: the node whose restarts are being folded, its first and its last count.
    restarting: Option<(String, u32, u32)>,
    /// Nodes seen done, failed or untraced: they stop no more.
    settled: std::collections::HashSet<String>,
}

impl<'a> Runner<'a> {
    fn new(session: Session, out: &'a mut dyn Write, json: bool, replay: bool) -> Self {
        let (current, frozen, forms) = (None, HashMap::new(), Vec::new());
        let (program, end, origin, restarting) = (None, None, None, None);
        let settled = Default::default();
        Runner {
            session,
            out,
            json,
            current,
            frozen,
            forms,
            program,
            end,
            replay,
            origin,
            restarting,
            settled,
        }
    }

    fn emit(out: &mut dyn Write, json: bool, e: &Event) {
        if json {
            let _ = writeln!(out, "{}", serde_json::to_string(e).expect("events serialize"));
        } else if let Event::Error { .. } = e {
            eprintln!("catar: {}", text(e).unwrap_or_default());
        } else if let Some(t) = text(e) {
            let _ = writeln!(out, "{t}");
        }
        let _ = out.flush();
    }

    fn print(&mut self, e: &Event) {
        if !self.json {
            // A node restarting again and again (a poison row's retries) reads as its first
            // restart and a count, not hundreds of lines; the JSON stream keeps each.
            if let Event::State { node, state: NodeState::Restarted { restarts, .. } } = e {
                if let Some((n, _, last)) = &mut self.restarting
                    && n == node
                {
                    *last = *restarts;
                    return;
                }
                self.fold_restarts();
                self.restarting = Some((node.clone(), *restarts, *restarts));
            } else {
                self.fold_restarts();
            }
        }
        match (e, &self.origin) {
            // As a line the script check refuses reads: the script's name, then the line.
            (Event::Error { message, line: Some(line) }, Some(origin)) if !self.json => {
                eprintln!("catar: error: {origin} line {line}: {message}")
            }
            _ => Runner::emit(self.out, self.json, e),
        }
    }

    /// Say how many restarts were folded into the last restart line.
    fn fold_restarts(&mut self) {
        if let Some((node, first, last)) = self.restarting.take()
            && last > first
        {
            let _ = writeln!(self.out, "{node} restarted {} more times ({last} in all)", last - first);
        }
    }

    /// The next event, printed and taken into account; `None` once the session is gone.
    fn next(&mut self) -> Option<Event> {
        let e = self.session.events().recv().ok()?;
        match &e {
            Event::Stopped(s) => {
                self.current = Some(s.node.clone());
                self.frozen.insert(s.node.clone(), s.clone());
            }
            Event::Released { node, .. } => {
                self.frozen.remove(node);
            }
            Event::State { node, state: NodeState::Done | NodeState::Failed } | Event::Untraced { node } => {
                self.settled.insert(node.clone());
            }
            Event::Started { forms, program, .. } => {
                self.forms = forms.clone();
                self.program = Some(program.clone());
            }
            Event::Forms { forms } => self.forms = forms.clone(),
            Event::Finished(_) | Event::Failed { .. } => self.end = Some(e.clone()),
            _ => {}
        }
        if !matches!(e, Event::Error { .. }) {
            self.print(&e);
        }
        Some(e)
    }

    /// Wait for an event `until` accepts, or the end of the run; an error event is the
    /// command's failure.
    fn wait(&mut self, until: impl Fn(&Event) -> bool) -> Result<(), String> {
        while self.end.is_none() {
            match self.next() {
                Some(Event::Error { message, .. }) => return Err(message),
                Some(e) if until(&e) => return Ok(()),
                Some(_) => {}
                None => return Err("the session ended".into()),
            }
        }
        Ok(())
    }

    /// After `step` in a live run, the stepped node's own next stop: stops of other nodes that
    /// come meanwhile (or were already on their way) are printed and passed over. A stall
    /// after its release also ends the wait, as does the end of the run.
    fn wait_stepped(&mut self, node: &str) -> Result<(), String> {
        let named = |n: &str| n.eq_ignore_ascii_case(node) || stage_name(n).eq_ignore_ascii_case(node);
        let mut released: Option<String> = None;
        while self.end.is_none() {
            match self.next() {
                Some(Event::Error { message, .. }) => return Err(message),
                Some(Event::Released { node: n, .. }) if released.is_none() && named(&n) => {
                    released = Some(n)
                }
                Some(Event::Stopped(s)) if released.as_deref() == Some(s.node.as_str()) => return Ok(()),
                Some(Event::Stalled { .. }) if released.is_some() => return Ok(()),
                Some(_) => {}
                None => return Err("the session ended".into()),
            }
        }
        Ok(())
    }

    fn wait_stop(&mut self) -> Result<(), String> {
        self.wait(|e| matches!(e, Event::Stopped(_) | Event::Stalled { .. }))
    }

    fn send(&mut self, c: Command) -> Result<(), String> {
        if self.end.is_some() {
            return Err("the run has finished".into());
        }
        self.session.send(c);
        Ok(())
    }

    fn word(&mut self, word: &Word) -> Result<(), String> {
        if let Word::Continue { node } = word {
            let all = node.as_deref().is_some_and(|n| n.eq_ignore_ascii_case("all"));
            // Without a frozen node to let go, `continue` waits for the next stop.
            let idle = match node {
                Some(_) => all && self.frozen.is_empty(),
                None => !self.current.as_ref().is_some_and(|c| self.frozen.contains_key(c)),
            };
            if idle {
                if node.is_none() && self.end.is_some() {
                    return Err("the run has finished".into());
                }
                return self.wait_stop();
            }
            // A named node still running under a form is on its way to its next stop
            // already: wait for it (with two segments, which one stops first is up to the
            // threads). One no form watches never stops: that stays an error.
            if let (Some(name), false, false) = (node, all, self.replay)
                && self.end.is_none()
                && let Some(desc) = &self.program
            {
                let named =
                    |n: &str| n.eq_ignore_ascii_case(name) || stage_name(n).eq_ignore_ascii_case(name);
                let watched = |n: &str| {
                    let on = |s: &str| s.eq_ignore_ascii_case(n) || s.eq_ignore_ascii_case(stage_name(n));
                    self.forms.iter().any(|f| f.form.nodes.as_deref().is_none_or(on))
                };
                let ours: Vec<&String> = desc.nodes.iter().filter(|n| named(n)).collect();
                if ours.iter().any(|n| watched(n)) && !ours.iter().any(|n| self.frozen.contains_key(*n)) {
                    return self.wait(|e| match e {
                        Event::Stopped(s) => named(&s.node),
                        e => matches!(e, Event::Stalled { .. }),
                    });
                }
            }
        }
        // Live, the script knows where its nodes stand: the session keeps no cursor to ask.
        if let (Word::When, false) = (word, self.replay) {
            let stop = self.current.as_ref().and_then(|c| self.frozen.get(c)).cloned();
            let stop = stop.ok_or("no node is frozen: `when` tells where a stopped node stands")?;
            self.print(&Event::When(stop));
            return Ok(());
        }
        // After the end, what a word lacks (a stopped node) is the run itself.
        let ended = self.end.is_some();
        let mut command = word
            .command(self.current.as_deref(), &self.forms, self.replay)
            .map_err(|e| if ended { "the run has finished".to_string() } else { e })?;
        // Resolved here: the session answers a resume with nothing to wait for, so an error
        // would come during a later word.
        if let Some(Command::Resume { node }) = &mut command
            && let Some(desc) = &self.program
        {
            let frozen = |i: usize| self.frozen.contains_key(&desc.nodes[i]);
            // Live, a node not seen settled may stop any moment (one cursor in a replay).
            let may_stop = |i: usize| !self.replay && !self.settled.contains(&desc.nodes[i]);
            let i = resolve_node(desc, node, frozen, may_stop)?;
            *node = desc.nodes[i].clone();
        }
        let stepped = match &command {
            Some(Command::Step { node, .. }) if !self.replay => Some(node.clone()),
            _ => None,
        };
        // Live, the node lets go (or the session says why not) before the next word: another
        // node's stop coming meanwhile would end the wait, and the error land on a later line.
        let released = match &command {
            Some(Command::Continue { node: Some(n) }) if !self.replay => Some(n.clone()),
            Some(Command::Resume { node }) if !self.replay && self.frozen.contains_key(node) => {
                Some(node.clone())
            }
            _ => None,
        };
        if let Some(command) = command {
            self.send(command)?;
        }
        if let Some(node) = stepped {
            return self.wait_stepped(&node);
        }
        if let Some(node) = &released {
            let named = |n: &str| n.eq_ignore_ascii_case(node) || stage_name(n).eq_ignore_ascii_case(node);
            self.wait(|e| matches!(e, Event::Released { node: n, .. } if named(n)))?;
        }
        match word {
            Word::Form(_)
            | Word::FormFile { .. }
            | Word::Ignore { .. }
            | Word::Delete { .. }
            | Word::Forms => self.wait(|e| matches!(e, Event::Forms { .. })),
            // A node named is waited for (other nodes' stops meanwhile are printed): the next
            // word may be about it.
            Word::Continue { node: Some(n) } if !self.replay && !n.eq_ignore_ascii_case("all") => {
                let named = |s: &str| s.eq_ignore_ascii_case(n) || stage_name(s).eq_ignore_ascii_case(n);
                self.wait(|e| match e {
                    Event::Stopped(s) => named(&s.node),
                    e => matches!(e, Event::Stalled { .. }),
                })
            }
            Word::Continue { .. }
            | Word::Step { .. }
            | Word::Back { .. }
            | Word::Goto { .. }
            | Word::GotoTime { .. }
            | Word::ReverseContinue => self.wait_stop(),
            Word::When => self.wait(|e| matches!(e, Event::When(_))),
            Word::Inquire { .. } => self.wait(|e| matches!(e, Event::Rows(_))),
            Word::History { .. } => self.wait(|e| matches!(e, Event::History(_))),
            Word::Halt => self.wait(|_| false),
            Word::Nodes => self.wait(|e| matches!(e, Event::Snapshot(_))),
            // A frozen node's release was waited for above; a running one's answer is this
            // (or its release, when it froze as the command went).
            Word::Resume { .. } if released.is_none() && !self.replay => {
                self.wait(|e| matches!(e, Event::Untraced { .. } | Event::Released { .. }))
            }
            Word::Resume { .. } => Ok(()),
        }
    }

    /// Print everything up to the end of the run; its exit code.
    fn until_end(&mut self) -> i32 {
        while self.end.is_none() {
            match self.next() {
                Some(e @ Event::Error { .. }) => self.print(&e),
                Some(_) => {}
                None => return 1,
            }
        }
        match &self.end {
            Some(Event::Failed { code, .. }) => *code,
            _ => 0,
        }
    }
}
