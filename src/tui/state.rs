//! The TUI's state in plain structs, and how session events change it. Nothing here draws or
//! touches the terminal; what the user does is in `input.rs`.

use std::collections::VecDeque;
use std::time::Duration;

use indexmap::IndexMap;
use jiff::Timestamp;
use ratatui_textarea::TextArea;

use crate::recorder::PipelineDesc;
use crate::session::{Finished, FormInfo, NodeState};
use crate::tracer::{Rows, Stop};

/// Records-per-second samples kept for a node's sparkline.
pub const RATE_SAMPLES: usize = 32;
/// Log lines kept.
pub const LOG_LINES: usize = 500;

/// The panes, in focus order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pane {
    /// Nodes and their states.
    Nodes,
    /// The selected node's program.
    Program,
    /// The selected node's cabinets.
    Cabinets,
    /// The selected cabinet's contexts.
    Contexts,
    /// Inquiry rows.
    Results,
    /// The event log.
    Log,
}

impl Pane {
    /// Every pane, in focus order.
    pub const ALL: [Pane; 6] =
        [Pane::Nodes, Pane::Program, Pane::Cabinets, Pane::Contexts, Pane::Results, Pane::Log];

    /// Its title.
    pub fn title(self) -> &'static str {
        match self {
            Pane::Nodes => "Nodes",
            Pane::Program => "Program",
            Pane::Cabinets => "Cabinets",
            Pane::Contexts => "Contexts",
            Pane::Results => "Results",
            Pane::Log => "Log",
        }
    }

    fn index(self) -> usize {
        Pane::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    /// The pane after it (`step` 1) or before it (`step` -1).
    pub fn turn(self, step: isize) -> Pane {
        let n = Pane::ALL.len() as isize;
        Pane::ALL[((self.index() as isize + step).rem_euclid(n)) as usize]
    }
}

/// A cabinet's recent change, shown next to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// Nothing new.
    Steady,
    /// It came to hold records.
    Appeared,
    /// It holds none any more.
    Departed,
}

/// A cabinet of a node, as the cabinets pane lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CabinetRow {
    /// The cabinet.
    pub name: String,
    /// Records in it now.
    pub mass: i64,
    /// Records holding each context.
    pub contexts: IndexMap<String, i64>,
    /// Its recent change.
    pub mark: Mark,
    /// Snapshots the mark has left.
    pub mark_left: u8,
}

/// A node as the nodes pane lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRow {
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: NodeState,
    /// Statements executed.
    pub steps: u64,
    /// Records received.
    pub records: u64,
    /// Its pseudo-clock.
    pub pseudo_time: Option<Timestamp>,
    /// Times it failed and restarted.
    pub restarts: u32,
    /// Still traced (not resumed).
    pub traced: bool,
    /// Where it is frozen.
    pub stop: Option<Stop>,
    /// When the stop came, on the app's clock (a stop timeout counts down from it).
    pub stopped_at: Duration,
    /// Records per second, oldest first.
    pub rates: VecDeque<u64>,
    /// Its cabinets: every one that held records, current ones and departed ones.
    pub cabinets: Vec<CabinetRow>,
    /// (records, when) at the last snapshot.
    pub(super) sampled: Option<(u64, Duration)>,
}

impl NodeRow {
    pub(super) fn new(name: String) -> Self {
        NodeRow {
            name,
            state: NodeState::Starting,
            steps: 0,
            records: 0,
            pseudo_time: None,
            restarts: 0,
            traced: true,
            stop: None,
            stopped_at: Duration::ZERO,
            rates: VecDeque::new(),
            cabinets: Vec::new(),
            sampled: None,
        }
    }

    /// True while it is frozen.
    pub fn frozen(&self) -> bool {
        self.stop.is_some()
    }
}

/// What a log line is about (its colour).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKind {
    /// News.
    Info,
    /// A stop.
    Stop,
    /// Something went wrong.
    Error,
}

/// One line of the event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Seconds since the session started.
    pub at: Duration,
    /// What happened.
    pub text: String,
    /// Its kind.
    pub kind: LogKind,
    /// The node, when the line says that it restarted: its next restart replaces the line
    /// while restarts are the newest news, so that a run failing over and over keeps one line
    /// per node, with its count, instead of filling the log.
    pub restart_of: Option<String>,
}

/// The inquiry rows shown in the results pane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Results {
    /// The answer.
    pub rows: Rows,
    /// Columns: table, reg_id, cabinet, then every context some row holds.
    pub columns: Vec<String>,
    /// Sorted by this column, descending when true.
    pub sort: Option<(usize, bool)>,
    /// Row order after sorting (indexes into `rows.rows`).
    pub order: Vec<usize>,
    /// The node answering has moved since (or, in a replay, the cursor): these rows are what
    /// it held then.
    pub stale: bool,
}

impl Results {
    pub(super) fn new(rows: Rows) -> Self {
        let mut columns: Vec<String> = ["table", "reg_id", "cabinet"].map(String::from).to_vec();
        for r in &rows.rows {
            for name in r.contexts.keys() {
                if !columns.contains(name) {
                    columns.push(name.clone());
                }
            }
        }
        let order = (0..rows.rows.len()).collect();
        Results { rows, columns, sort: None, order, stale: false }
    }

    /// The text of one cell.
    pub fn cell(&self, row: usize, column: usize) -> String {
        let r = &self.rows.rows[row];
        match column {
            0 => r.table.clone(),
            1 => r.reg_id.to_string(),
            2 => r.cabinet.clone(),
            c => r.contexts.get(&self.columns[c]).map(ToString::to_string).unwrap_or_default(),
        }
    }

    /// Sort by `column` (descending when `desc`): numbers as numbers, the rest as text.
    pub fn sort_by(&mut self, column: usize, desc: bool) {
        let key = |i: usize| {
            let r = &self.rows.rows[i];
            match column {
                1 => (Some(r.reg_id as i128), String::new()),
                c if c > 2 => match r.contexts.get(&self.columns[c]) {
                    Some(crate::tracer::Cell::Int(n)) => (Some(*n as i128), String::new()),
                    Some(crate::tracer::Cell::Text(t)) => (None, t.clone()),
                    None => (None, String::new()),
                },
                _ => (None, self.cell(i, column)),
            }
        };
        let mut keyed: Vec<_> = (0..self.rows.rows.len()).map(|i| (key(i), i)).collect();
        keyed.sort();
        if desc {
            keyed.reverse();
        }
        self.order = keyed.into_iter().map(|(_, i)| i).collect();
        self.sort = Some((column, desc));
    }
}

/// The trace form editor.
#[derive(Debug)]
pub struct FormEditor {
    /// The form edited: its number, or `None` for a new one.
    pub form: Option<u32>,
    /// The TOML text.
    pub text: TextArea<'static>,
    /// The text as opened (edits are unsaved while it differs).
    pub original: String,
    /// Ctrl-D was pressed once: the next one deletes the form.
    pub confirm_delete: bool,
    /// Esc was pressed once over unsaved edits: the next one drops them.
    pub confirm_close: bool,
    /// Why the last apply failed.
    pub error: Option<String>,
    /// Waiting for the session to accept an apply.
    pub pending: bool,
}

impl FormEditor {
    /// True when the text has edits not applied.
    pub fn dirty(&self) -> bool {
        self.text.lines().join("\n") != self.original
    }
}

/// The line at the bottom when typing: a command or a filter.
#[derive(Debug)]
pub struct Prompt {
    /// What it is for.
    pub kind: PromptKind,
    /// The text.
    pub input: TextArea<'static>,
    /// Names the last completion could become.
    pub completions: Vec<String>,
    /// Why the last command failed.
    pub error: Option<String>,
}

/// What the prompt line is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptKind {
    /// A script word (`:`).
    Command,
    /// A filter of the focused pane (`/`).
    Filter(Pane),
}

/// Everything the screen shows.
#[derive(Debug)]
pub struct App {
    /// What is being debugged, in a few words.
    pub title: String,
    /// True when replaying a trace (the keys going backwards work, resume does not).
    pub replay: bool,
    /// The pipeline (empty until the session starts).
    pub program: PipelineDesc,
    /// Why no node's cabinets can be shown, when none can (a summary-level trace).
    pub unrecorded: Option<String>,
    /// The nodes.
    pub nodes: Vec<NodeRow>,
    /// The forms in force.
    pub forms: Vec<FormInfo>,
    /// The focused pane.
    pub focus: Pane,
    /// The focused pane fills the screen.
    pub zoom: bool,
    /// The selected node.
    pub node: usize,
    /// The statement under the program cursor.
    pub statement: usize,
    /// The selected cabinet (index in the node's cabinets, filtered).
    pub cabinet: usize,
    /// The context under the cursor.
    pub context: usize,
    /// The result row under the cursor.
    pub result: usize,
    /// Context columns of the results scrolled past.
    pub result_column: usize,
    /// Log lines scrolled back from the newest.
    pub log_back: usize,
    /// Filters of the lists (nodes, cabinets, contexts, log: a substring; results: a `where`).
    pub filters: IndexMap<Pane, String>,
    /// The inquiry rows.
    pub results: Option<Results>,
    /// The event log.
    pub log: VecDeque<LogLine>,
    /// The record under the results cursor is shown whole.
    pub record: bool,
    /// Contexts of the shown record scrolled past.
    pub record_scroll: usize,
    /// A record's life shown over the screen: its history as text lines, the first line
    /// shown and the first column (its lines are wider than most screens).
    pub life: Option<(Vec<String>, usize, usize)>,
    /// The help overlay is up.
    pub help: bool,
    /// Help rows scrolled past.
    pub help_scroll: usize,
    /// The form editor is up.
    pub editor: Option<FormEditor>,
    /// The prompt line is up.
    pub prompt: Option<Prompt>,
    /// Commands typed, oldest first.
    pub history: Vec<String>,
    /// What the session said before it started (where the demo keeps its files), shown
    /// until the first rows.
    pub notes: Vec<String>,
    /// Position while walking the history.
    pub history_at: Option<usize>,
    /// The line as typed when the walk started: only lines starting with it are walked.
    pub history_prefix: String,
    /// How the run ended.
    pub finished: Option<Finished>,
    /// Why the run failed.
    pub failed: Option<String>,
    /// The user asked to quit; waiting for the halt to finish.
    pub quitting: bool,
    /// Asked twice: quit without waiting for the run to finish.
    pub force_quit: bool,
    /// Signals (SIGTERM, SIGHUP, SIGINT) received: each quits as `q` does.
    pub signals: u32,
    /// `h` was pressed once: the next `h` halts.
    pub confirm_halt: bool,
    /// `q` was pressed once over a live run: a second quits (halting it).
    pub confirm_quit: bool,
    /// `r` was pressed once on this node: a second resumes it (it runs untraced for good).
    pub confirm_resume: Option<String>,
    /// A breakpoint toggle sent and not yet answered (its statement).
    pub pending_break: Option<String>,
    /// A results filter sent and not yet answered: the filter before it, put back if the node
    /// refuses the new one (a condition it cannot parse).
    pub filter_undo: Option<Option<String>>,
    /// Snapshots taken in.
    pub snapshots: u64,
    /// Colours on (off under `NO_COLOR`).
    pub color: bool,
    /// Time of the latest event taken in.
    pub now: Duration,
}

impl App {
    /// An empty screen titled `title`.
    pub fn new(title: impl Into<String>, color: bool) -> Self {
        App {
            title: title.into(),
            replay: false,
            program: PipelineDesc { contexts: vec![], cabinets: vec![], stages: vec![], nodes: vec![] },
            unrecorded: None,
            nodes: Vec::new(),
            forms: Vec::new(),
            focus: Pane::Nodes,
            zoom: false,
            node: 0,
            statement: 0,
            cabinet: 0,
            context: 0,
            result: 0,
            result_column: 0,
            log_back: 0,
            filters: IndexMap::new(),
            results: None,
            log: VecDeque::new(),
            record: false,
            life: None,
            help: false,
            help_scroll: 0,
            record_scroll: 0,
            editor: None,
            prompt: None,
            history: Vec::new(),
            history_at: None,
            notes: Vec::new(),
            history_prefix: String::new(),
            finished: None,
            failed: None,
            quitting: false,
            force_quit: false,
            signals: 0,
            confirm_halt: false,
            confirm_quit: false,
            confirm_resume: None,
            pending_break: None,
            filter_undo: None,
            snapshots: 0,
            color,
            now: Duration::ZERO,
        }
    }

    /// The pane filling the screen, if one does.
    pub fn zoomed(&self) -> Option<Pane> {
        self.zoom.then_some(self.focus)
    }

    /// True once the run ended (finished or failed).
    pub fn ended(&self) -> bool {
        self.finished.is_some() || self.failed.is_some()
    }

    /// Add a log line.
    pub fn log(&mut self, kind: LogKind, text: impl Into<String>) {
        for line in text.into().lines() {
            self.log.push_back(LogLine { at: self.now, text: line.to_string(), kind, restart_of: None });
        }
        while self.log.len() > LOG_LINES {
            self.log.pop_front();
        }
    }

    /// Log that `node` restarted: in place of its previous restart line when only restarts
    /// came after that one.
    pub fn log_restart(&mut self, node: &str, text: impl Into<String>) {
        let mut newest = self.log.iter().rev().take_while(|l| l.restart_of.is_some());
        if let Some(back) = newest.position(|l| l.restart_of.as_deref() == Some(node)) {
            self.log.remove(self.log.len() - 1 - back);
        }
        let text = text.into().replace('\n', " ");
        self.log.push_back(LogLine {
            at: self.now,
            text,
            kind: LogKind::Error,
            restart_of: Some(node.into()),
        });
        while self.log.len() > LOG_LINES {
            self.log.pop_front();
        }
    }

    /// The selected node, if any.
    pub fn selected(&self) -> Option<&NodeRow> {
        self.nodes.get(self.node)
    }

    /// The stage of the selected node.
    pub fn stage(&self) -> Option<&crate::recorder::StageDesc> {
        let node = self.selected()?;
        let stage = crate::tracer::stage_name(&node.name);
        self.program.stages.iter().find(|s| s.name == stage)
    }

    /// The selected node's cabinets as listed (the cabinets filter applied).
    pub fn cabinets(&self) -> Vec<&CabinetRow> {
        let filter = self.filters.get(&Pane::Cabinets).map(|f| f.to_lowercase());
        self.selected().map_or_else(Vec::new, |n| {
            n.cabinets
                .iter()
                .filter(|c| filter.as_ref().is_none_or(|f| c.name.to_lowercase().contains(f)))
                .collect()
        })
    }

    /// The selected cabinet.
    pub fn selected_cabinet(&self) -> Option<&CabinetRow> {
        self.cabinets().get(self.cabinet).copied()
    }

    /// Contexts of the selected cabinet: its metadata contexts, then any other a record holds,
    /// each with the records holding it (the contexts filter applied).
    pub fn contexts(&self) -> Vec<(String, i64)> {
        let Some(cab) = self.selected_cabinet() else { return Vec::new() };
        let mut out: Vec<(String, i64)> = Vec::new();
        if let Some(desc) = self.program.cabinets.iter().find(|c| c.name == cab.name) {
            for &k in &desc.contexts {
                if let Some(ctx) = self.program.contexts.get(k as usize) {
                    out.push((ctx.name.clone(), cab.contexts.get(&ctx.name).copied().unwrap_or(0)));
                }
            }
        }
        for (name, &n) in &cab.contexts {
            if !out.iter().any(|(c, _)| c == name) {
                out.push((name.clone(), n));
            }
        }
        let filter = self.filters.get(&Pane::Contexts).map(|f| f.to_lowercase());
        out.retain(|(c, _)| filter.as_ref().is_none_or(|f| c.to_lowercase().contains(f)));
        out
    }

    /// Node indexes as listed (the nodes filter applied).
    pub fn listed_nodes(&self) -> Vec<usize> {
        let filter = self.filters.get(&Pane::Nodes).map(|f| f.to_lowercase());
        (0..self.nodes.len())
            .filter(|&i| filter.as_ref().is_none_or(|f| self.nodes[i].name.to_lowercase().contains(f)))
            .collect()
    }

    /// Log lines as listed (the log filter applied).
    pub fn log_lines(&self) -> Vec<&LogLine> {
        let filter = self.filters.get(&Pane::Log).map(|f| f.to_lowercase());
        self.log
            .iter()
            .filter(|l| filter.as_ref().is_none_or(|f| l.text.to_lowercase().contains(f)))
            .collect()
    }

    /// Forms that break at `statement` of `stage` (their nodes include the stage's), but for
    /// one-shot ones that fired.
    pub fn breakpoints<'a>(
        &'a self,
        node: &'a str,
        statement: &'a str,
    ) -> impl Iterator<Item = &'a FormInfo> {
        self.forms.iter().filter(move |f| {
            let nodes = f.form.nodes.as_deref().unwrap_or("all");
            // A one-shot breakpoint that fired stops nothing any more.
            let spent = f.form.once && f.hits > f.form.ignore;
            // As the tracer reads `nodes`: all, a node, or a stage (every node of it).
            let on = nodes.eq_ignore_ascii_case("all")
                || nodes.eq_ignore_ascii_case(node)
                || crate::tracer::stage_name(node).eq_ignore_ascii_case(nodes);
            !spent && f.form.statement.as_deref() == Some(statement) && on
        })
    }

    /// Select node `i`: its program at its stop, its first cabinet.
    pub fn select_node(&mut self, i: usize) {
        if i != self.node {
            self.node = i;
            self.cabinet = 0;
            self.context = 0;
            self.statement = self.nodes.get(i).and_then(|n| n.stop.as_ref()).map_or(0, |s| s.position);
        }
    }
}
