//! How session events change the TUI's state: stops select their node, snapshots feed the
//! rates and the cabinets, answers open where they belong.

use std::time::Duration;

use super::state::{App, CabinetRow, LogKind, Mark, NodeRow, Pane, RATE_SAMPLES, Results};
use crate::session::{Event, NodeState, Snapshot};

/// The shortest interval a records/s sample is taken over.
const MIN_SAMPLE: Duration = Duration::from_millis(100);
/// Snapshots an appeared/departed marker stays on a cabinet.
const MARK_SAMPLES: u8 = 8;

impl App {
    fn row(&mut self, node: &str) -> Option<&mut NodeRow> {
        self.nodes.iter_mut().find(|n| n.name == node)
    }

    /// Take a session event in, `at` this long after the session started.
    pub fn apply(&mut self, event: Event, at: Duration) {
        self.now = at;
        let text = crate::script::text(&event);
        match event {
            Event::Started { nodes, forms, program, unrecorded } => {
                self.nodes = nodes.into_iter().map(NodeRow::new).collect();
                self.forms = forms;
                self.program = program;
                self.unrecorded = unrecorded;
            }
            Event::Forms { forms } => {
                self.forms = forms;
                self.pending_break = None;
                if let Some(editor) = &mut self.editor
                    && editor.pending
                {
                    self.editor = None;
                }
            }
            Event::Stopped(stop) => {
                let position = stop.position;
                let name = stop.node.clone();
                if let Some(row) = self.row(&name) {
                    row.state = NodeState::Frozen {
                        statement: stop.statement.clone(),
                        reason: stop.reason.to_string(),
                    };
                    row.pseudo_time = stop.pseudo_time.or(row.pseudo_time);
                    row.stop = Some(stop);
                    row.stopped_at = at;
                }
                // Like a debugger switching to the thread that hit: unless the user is on
                // another frozen node, show this one.
                if self.selected().is_some_and(|n| n.name == name) {
                    // The node shown stopped again (a step, a continue): the program follows.
                    self.statement = position;
                } else if !self.selected().is_some_and(NodeRow::frozen)
                    && let Some(i) = self.nodes.iter().position(|n| n.name == name)
                {
                    self.select_node(i);
                    self.statement = position;
                }
                if let Some(t) = text {
                    self.log(LogKind::Stop, t);
                }
                return;
            }
            Event::When(_) => {
                if let Some(t) = text {
                    self.log(LogKind::Info, t);
                }
                return;
            }
            Event::Released { ref node, .. } => {
                if let Some(row) = self.row(node) {
                    row.stop = None;
                    row.state = NodeState::Running;
                }
                // A replay's cursor moves every node's tables at once.
                let replay = self.replay;
                if let Some(r) = self.results.as_mut().filter(|r| replay || r.rows.node == *node) {
                    r.stale = true;
                }
            }
            Event::State { node, state } => {
                // The nodes pane shows states as they change; the log keeps only the ends
                // and the restarts.
                let end = matches!(state, NodeState::Done | NodeState::Failed);
                let restarted = matches!(state, NodeState::Restarted { .. });
                if let Some(row) = self.row(&node) {
                    if let NodeState::Restarted { restarts, .. } = state {
                        row.restarts = restarts;
                    }
                    row.state = state;
                }
                if restarted {
                    if let Some(t) = text {
                        self.log_restart(&node, t);
                    }
                    return;
                }
                if !end {
                    return;
                }
            }
            Event::Rows(rows) => {
                self.filter_undo = None;
                // The pane's filter is the condition these rows answer (a command-line inquiry
                // brings its own, or none): the title and the next `i` then say what is shown.
                match &rows.filter {
                    Some(f) => self.filters.insert(Pane::Results, f.clone()),
                    None => self.filters.shift_remove(&Pane::Results),
                };
                self.log(
                    LogKind::Info,
                    format!(
                        "{}{}: {} row(s) match, showing {}",
                        rows.node,
                        rows.reactor.as_ref().map(|r| format!(" {r}")).unwrap_or_default(),
                        rows.total,
                        rows.rows.len()
                    ),
                );
                let sort = self.results.as_ref().and_then(|r| r.sort);
                let mut results = Results::new(rows);
                if let Some((c, desc)) = sort.filter(|(c, _)| *c < results.columns.len()) {
                    results.sort_by(c, desc);
                }
                self.results = Some(results);
                self.result = 0;
                self.result_column = 0;
                return;
            }
            Event::Snapshot(s) => {
                self.snapshot(s, at);
                return;
            }
            Event::History(h) => {
                self.log(LogKind::Info, format!("history of {}: {} step(s)", h.id, h.touches.len()));
                let mut lines: Vec<String> =
                    text.map(|t| t.lines().map(String::from).collect()).unwrap_or_default();
                if self.replay {
                    self.mark_cursor(&mut lines);
                }
                self.life = (!lines.is_empty()).then_some((lines, 0, 0));
                return;
            }
            Event::Error { ref message, .. } => {
                if let Some(editor) = &mut self.editor
                    && editor.pending
                {
                    editor.pending = false;
                    editor.error = Some(message.clone());
                }
                // A refused results filter does not stay in force.
                match self.filter_undo.take() {
                    Some(Some(before)) => {
                        self.filters.insert(Pane::Results, before);
                    }
                    Some(None) => {
                        self.filters.shift_remove(&Pane::Results);
                    }
                    None => {}
                }
                self.log(LogKind::Error, format!("error: {message}"));
                return;
            }
            Event::Finished(ref f) => {
                self.finished = Some(f.clone());
                for row in &mut self.nodes {
                    row.stop = None;
                    // Nothing is frozen or running any more (a halted replay's nodes were
                    // frozen at the cursor).
                    if matches!(row.state, NodeState::Frozen { .. } | NodeState::Running) {
                        row.state = NodeState::Done;
                    }
                }
                if self.replay {
                    // A replay stores no records: the run's summary does not apply, but what it
                    // says of the trace does (a file cut before its first step ends it at once).
                    self.log(LogKind::Info, "the replay has ended");
                    for line in &f.summary {
                        self.log(LogKind::Info, line.clone());
                    }
                    return;
                }
            }
            Event::Failed { ref message, .. } => self.failed = Some(message.clone()),
            Event::Stalled { .. } | Event::Untraced { .. } | Event::StepCut { .. } => {}
        }
        if let Some(t) = text {
            self.log(LogKind::Info, t);
        }
    }

    fn snapshot(&mut self, s: Snapshot, at: Duration) {
        self.snapshots += 1;
        self.forms = s.forms;
        for view in s.nodes {
            let Some(row) = self.nodes.iter_mut().find(|n| n.name == view.node) else { continue };
            // A replay counts no records: its nodes show no rate.
            let records = view.records.unwrap_or(0);
            // Two snapshots taken in at once would make a rate of nothing over no time.
            match row.sampled {
                Some((before, then)) if at.saturating_sub(then) >= MIN_SAMPLE => {
                    let dt = at.saturating_sub(then).as_secs_f64();
                    row.rates.push_back((records.saturating_sub(before) as f64 / dt) as u64);
                    if row.rates.len() > RATE_SAMPLES {
                        row.rates.pop_front();
                    }
                    row.sampled = Some((records, at));
                }
                Some(_) => {}
                None => row.sampled = Some((records, at)),
            }
            row.steps = view.steps;
            row.records = records;
            row.pseudo_time = view.pseudo_time;
            row.restarts = view.restarts;
            row.traced = view.traced;
            // A stop seen first here (not by its event) counts its timeout down from now.
            if view.stop.as_ref().map(|s| s.id) != row.stop.as_ref().map(|s| s.id) {
                row.stopped_at = at;
            }
            row.stop = view.stop;
            // States come from the session's (debounced) state events; a snapshot only fills
            // in a node no event has described yet.
            if row.state == NodeState::Starting {
                row.state = view.state;
            }
            if self.replay {
                // A replay's cursor jumps: its panes show where it stands, whatever path led
                // there (kept rows and marks would be of the step seen before, maybe later).
                row.cabinets = view.cabinets.into_iter().map(CabinetRow::steady).collect();
            } else {
                merge_cabinets(&mut row.cabinets, view.cabinets);
            }
        }
    }
}

impl App {
    /// A replay's history reads the whole trace, the record's future too: a line says where
    /// the cursor stands among its steps (the lines that start with a global step number).
    fn mark_cursor(&self, lines: &mut Vec<String>) {
        let Some(stop) = self.nodes.iter().find_map(|n| n.stop.as_ref()) else { return };
        // Stopped before a statement, its step is still to come.
        let ran = |g: u64| {
            g < stop.global_step || (g == stop.global_step && stop.at == crate::tracer::Position::After)
        };
        let step = |l: &str| l.split_whitespace().next().and_then(|w| w.parse::<u64>().ok());
        let touches: Vec<usize> = (0..lines.len()).filter(|&i| step(&lines[i]).is_some()).collect();
        let Some(&last) = touches.last() else { return };
        // Before the first step still to come, or under the last one when all ran.
        let at = touches.into_iter().find(|&i| step(&lines[i]).is_some_and(|g| !ran(g))).unwrap_or(last + 1);
        let here =
            format!("──── the replay stands here: {} at global step {} ────", stop.node, stop.global_step);
        lines.insert(at, here);
    }
}

impl CabinetRow {
    /// A cabinet as it stands, unmarked.
    fn steady(c: crate::session::CabinetView) -> Self {
        CabinetRow { name: c.cabinet, mass: c.mass, contexts: c.contexts, mark: Mark::Steady, mark_left: 0 }
    }
}

/// Take a node's cabinets now into its rows: new ones marked appeared, vanished ones kept at
/// mass 0 and marked departed; marks fade after a few snapshots.
fn merge_cabinets(rows: &mut Vec<CabinetRow>, now: Vec<crate::session::CabinetView>) {
    for row in rows.iter_mut() {
        row.mark_left = row.mark_left.saturating_sub(1);
        if row.mark_left == 0 {
            row.mark = Mark::Steady;
        }
    }
    for row in rows.iter_mut() {
        if row.mass > 0 && !now.iter().any(|c| c.cabinet == row.name) {
            row.mass = 0;
            row.contexts.clear();
            row.mark = Mark::Departed;
            row.mark_left = MARK_SAMPLES;
        }
    }
    for c in now {
        match rows.iter_mut().find(|r| r.name == c.cabinet) {
            Some(row) => {
                if row.mass == 0 {
                    row.mark = Mark::Appeared;
                    row.mark_left = MARK_SAMPLES;
                }
                row.mass = c.mass;
                row.contexts = c.contexts;
            }
            None => rows.push(CabinetRow {
                name: c.cabinet,
                mass: c.mass,
                contexts: c.contexts,
                mark: Mark::Appeared,
                mark_left: MARK_SAMPLES,
            }),
        }
    }
}
