//! What the user does: keys and mouse through the key table into state changes and the
//! session commands they ask for. Returns commands; never waits on the session.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::edit::prompt;
use super::keys::{Action, Scope, action_for};
use super::state::{App, LogKind, Pane, PromptKind};
use super::view::layout;
use crate::script::{Word, parse_line};
use crate::session::Command;
use crate::tracer::{INQUIRY_PAGE, TraceForm};

/// Rows an inquiry from the TUI asks for.
pub(super) const RESULT_PAGE: usize = 10 * INQUIRY_PAGE;

impl App {
    /// A key press; the commands it sends.
    pub fn key(&mut self, key: KeyEvent, area: Rect) -> Vec<Command> {
        // Ctrl-C (raw mode turns it into a key, not a signal) leaves a line or the editor as
        // esc does (edits are asked about); anywhere else it is `q`.
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            if self.editor.is_some() {
                return self.editor_key(KeyEvent::from(KeyCode::Esc));
            }
            if self.prompt.take().is_some() {
                return Vec::new();
            }
        }
        if self.editor.is_some() {
            return self.editor_key(key);
        }
        if self.prompt.is_some() {
            return self.prompt_key(key);
        }
        let action = action_for(key, Scope::Pane(self.focus));
        // Quitting halts a live run for good: `q` asks, a second `q` does it (as gdb asks
        // before it kills the program). Once halting, `q` leaves at once.
        if std::mem::take(&mut self.confirm_quit) {
            return match action {
                Some(Action::Quit) => self.act(Action::Quit, area),
                _ => Vec::new(),
            };
        }
        // An overlay's footer says any key closes it: `q` too (as a pager's), not the session.
        if self.life.is_some() || self.record || self.help {
            return self.overlay_key(action, area);
        }
        if action == Some(Action::Quit) && !self.replay && !self.ended() && !self.quitting {
            self.confirm_quit = true;
            return Vec::new();
        }
        // Resuming stops tracing the node for good: `r` asks, a second `r` does it (a stray `r`,
        // say in a pane that takes no typing, must not let the node go).
        if let Some(node) = self.confirm_resume.take() {
            return match action {
                Some(Action::Resume) => vec![Command::Resume { node }],
                _ => Vec::new(),
            };
        } else if action == Some(Action::Resume) && !self.replay && !self.ended() {
            self.confirm_resume = self.target();
            return Vec::new();
        }
        // Halting ends the run for good: `h` asks, a second `h` does it.
        if self.confirm_halt {
            self.confirm_halt = false;
            if action != Some(Action::Halt) {
                return Vec::new();
            }
        } else if action == Some(Action::Halt) && !self.ended() && !self.replay {
            self.confirm_halt = true;
            return Vec::new();
        }
        match action {
            Some(a) => self.act(a, area),
            None => Vec::new(),
        }
    }

    /// The node actions aim at: the selected one if frozen, else the only frozen one.
    pub(super) fn target(&self) -> Option<String> {
        let frozen: Vec<&str> = self.nodes.iter().filter(|n| n.frozen()).map(|n| n.name.as_str()).collect();
        match self.selected() {
            Some(n) if n.frozen() => Some(n.name.clone()),
            _ if frozen.len() == 1 => Some(frozen[0].to_string()),
            Some(n) => Some(n.name.clone()),
            None => None,
        }
    }

    fn frozen_target(&mut self, what: &str) -> Option<String> {
        let node = self.target()?;
        if self.nodes.iter().any(|n| n.name == node && n.frozen()) {
            Some(node)
        } else {
            self.log(LogKind::Error, format!("{what}: {node} is not frozen"));
            None
        }
    }

    /// A key while an overlay (history, record, help) is up: arrows scroll it, q quits, any
    /// other key (bound or not) closes it.
    fn overlay_key(&mut self, action: Option<Action>, area: Rect) -> Vec<Command> {
        // Scrolled a line or a page at a time, or to either end; never past the last page.
        let scroll = |at: &mut usize, len: usize, visible: usize| {
            let last = len.saturating_sub(visible.max(1));
            *at = match action {
                Some(Action::Up) => at.saturating_sub(1),
                Some(Action::PageUp) => at.saturating_sub(visible.max(1)),
                Some(Action::Down) => (*at + 1).min(last),
                Some(Action::PageDown) => (*at + visible.max(1)).min(last),
                Some(Action::Top) => 0,
                Some(Action::Bottom) => last,
                _ => *at,
            }
        };
        let scrolls = matches!(
            action,
            Some(
                Action::Up | Action::Down | Action::PageUp | Action::PageDown | Action::Top | Action::Bottom
            )
        );
        if let Some((lines, at, column)) = &mut self.life {
            // Sideways by a quarter of the popup (it leaves two columns each side).
            let step = (area.width as usize).saturating_sub(6).max(4) / 4;
            let widest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
            match action {
                _ if scrolls => {
                    // The popup leaves a line each side; its title is the first line.
                    scroll(at, lines.len().saturating_sub(1), (area.height as usize).saturating_sub(4));
                }
                Some(Action::Right) => *column = (*column + step).min(widest.saturating_sub(step)),
                Some(Action::Left) => *column = column.saturating_sub(step),
                _ => self.life = None,
            }
        } else if self.help {
            if scrolls {
                let len = super::keys::help().len();
                // As the overlay sizes itself: the entries, a header and borders.
                scroll(&mut self.help_scroll, len, (len + 4).min(area.height as usize).saturating_sub(3));
            } else {
                self.help = false;
            }
        } else if scrolls {
            let len = self
                .results
                .as_ref()
                .and_then(|r| Some(r.rows.rows.get(*r.order.get(self.result)?)?.contexts.len()));
            let len = len.unwrap_or(0);
            // As the overlay sizes itself: the contexts, a header and borders.
            scroll(&mut self.record_scroll, len, (len + 4).min(area.height as usize).saturating_sub(3));
        } else {
            self.record = false;
        }
        Vec::new()
    }

    /// Pasted text: typed into the command line, a filter or the form editor, whichever is
    /// open (a line takes it as one line); anywhere else its characters would run as keys, so
    /// it is refused.
    pub fn paste(&mut self, text: &str) {
        if let Some(editor) = &mut self.editor {
            editor.text.insert_str(text);
        } else if let Some(p) = &mut self.prompt {
            let line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            p.input.insert_str(line.trim_end());
            p.completions.clear();
        } else {
            let what = "pasted text not taken: open the command line (:) or the form editor (f) first";
            self.log(LogKind::Error, what);
        }
    }

    /// A signal asked the process to end: quit as `q` does, over any overlay or editor (the
    /// first halts the run and quits once it ended, a second leaves at once).
    pub fn signalled(&mut self) -> Vec<Command> {
        self.signals += 1;
        let text = "signalled: halting (the records read are stored whole; again to leave at once)";
        self.log(super::state::LogKind::Error, text);
        (self.help, self.record, self.life, self.editor, self.prompt) = (false, false, None, None, None);
        self.quit()
    }

    /// Quit: halt the run first and wait for it to end; asked again, leave at once.
    fn quit(&mut self) -> Vec<Command> {
        self.force_quit = self.quitting;
        self.quitting = true;
        if self.ended() { Vec::new() } else { vec![Command::Halt] }
    }

    /// Do an action; the commands it sends.
    pub fn act(&mut self, action: Action, area: Rect) -> Vec<Command> {
        if self.life.is_some() || self.record || self.help {
            return self.overlay_key(Some(action), area);
        }
        let page = layout(area, self.zoomed()).pane(self.focus).height.saturating_sub(3).max(1) as isize;
        match action {
            Action::Step => {
                self.frozen_target("step").map(|node| Command::Step { node, count: 1 }).into_iter().collect()
            }
            // A replay's `c` runs its one cursor to the next stop of any node, as the word does.
            Action::Continue if self.replay => vec![Command::Continue { node: None }],
            Action::Continue => self
                .frozen_target("continue")
                .map(|node| Command::Continue { node: Some(node) })
                .into_iter()
                .collect(),
            Action::ContinueAll => vec![Command::Continue { node: None }],
            Action::Back => self
                .frozen_target("back")
                .map(|node| Command::Back { node: Some(node), count: 1 })
                .into_iter()
                .collect(),
            Action::ReverseContinue => vec![Command::ReverseContinue],
            Action::Inquire => {
                let filter = self.filters.get(&Pane::Results).cloned();
                self.inquire(filter, 0)
            }
            Action::Resume => self.target().map(|node| Command::Resume { node }).into_iter().collect(),
            // A replay has no run to halt: ending it would only leave its nodes in states
            // the trace never had.
            Action::Halt if self.replay => {
                self.log(
                    LogKind::Info,
                    "a replay has nothing to halt: goto, back and continue move it, q leaves it",
                );
                Vec::new()
            }
            Action::Halt if self.ended() => Vec::new(),
            Action::Halt => {
                self.log(LogKind::Info, "halting: no more input is read; what is in flight completes");
                vec![Command::Halt]
            }
            Action::Breakpoint => self.toggle_breakpoint(),
            Action::Forms => {
                self.open_editor(self.forms.first().map(|f| f.id));
                Vec::new()
            }
            Action::Command => {
                self.prompt = Some(prompt(PromptKind::Command, ""));
                self.history_at = None;
                Vec::new()
            }
            // The program is not a list to filter.
            // Said, not silent: what is typed next would be read as keys (`r` resumes).
            Action::Filter if self.focus == Pane::Program => {
                self.log(LogKind::Info, "the program is not filtered: every statement of the node shows");
                Vec::new()
            }
            Action::Filter => {
                let current = self.filters.get(&self.focus).cloned().unwrap_or_default();
                self.prompt = Some(prompt(PromptKind::Filter(self.focus), &current));
                Vec::new()
            }
            Action::FocusNext => self.focus(self.focus.turn(1)),
            Action::FocusPrev => self.focus(self.focus.turn(-1)),
            Action::Up => self.scroll(-1),
            Action::Down => self.scroll(1),
            Action::PageUp => self.scroll(-page),
            Action::PageDown => self.scroll(page),
            Action::Top => self.scroll(isize::MIN / 2),
            Action::Bottom => self.scroll(isize::MAX / 2),
            Action::SortNext | Action::SortPrev | Action::SortReverse => {
                self.sort(action);
                Vec::new()
            }
            Action::History => {
                let row = self
                    .results
                    .as_ref()
                    .and_then(|r| r.order.get(self.result).map(|&i| r.rows.rows[i].reg_id));
                match row {
                    Some(reg_id) => {
                        self.log(
                            LogKind::Info,
                            format!("reading the history of reg_id {reg_id} from the trace…"),
                        );
                        vec![Command::History { id: format!("reg_id={reg_id}") }]
                    }
                    None => Vec::new(),
                }
            }
            Action::Record => {
                self.record = self.results.as_ref().is_some_and(|r| !r.order.is_empty());
                self.record_scroll = 0;
                Vec::new()
            }
            Action::Right | Action::Left => {
                let contexts = self.results.as_ref().map_or(0, |r| r.columns.len().saturating_sub(3));
                let step: isize = if action == Action::Right { 1 } else { -1 };
                self.result_column = (self.result_column as isize + step)
                    .clamp(0, contexts.saturating_sub(1) as isize)
                    as usize;
                Vec::new()
            }
            Action::NextPage | Action::PrevPage => self.page(action == Action::NextPage),
            Action::Zoom => {
                self.zoom = !self.zoom;
                Vec::new()
            }
            Action::Help => {
                self.help = true;
                self.help_scroll = 0;
                Vec::new()
            }
            Action::Quit => self.quit(),
            Action::Close => {
                let pane = self.focus;
                if self.filters.contains_key(&pane) { self.set_filter(pane, "") } else { Vec::new() }
            }
            _ => Vec::new(),
        }
    }

    fn focus(&mut self, pane: Pane) -> Vec<Command> {
        self.focus = pane;
        Vec::new()
    }

    fn inquire(&mut self, filter: Option<String>, offset: usize) -> Vec<Command> {
        // From the results, the same rows again (refreshed, or filtered anew) of the node they
        // are of, whichever is selected; from the cabinets, the records of the one selected;
        // elsewhere, every reactor.
        if self.focus == Pane::Results
            && let Some(r) = &self.results
        {
            let (node, reactor) = (r.rows.node.clone(), r.rows.reactor.clone());
            if !self.nodes.iter().any(|n| n.name == node && n.frozen()) {
                let why = if self.ended() { "the run has ended" } else { "read again at its next stop" };
                self.log(LogKind::Error, format!("inquire: {node} is not frozen ({why}): these rows stay"));
                return Vec::new();
            }
            return vec![Command::Inquire { node, reactor, filter, offset, limit: Some(RESULT_PAGE) }];
        }
        let Some(node) = self.frozen_target("inquire") else { return Vec::new() };
        let reactor = match self.focus {
            Pane::Cabinets => self.selected_cabinet().map(|c| c.name.clone()),
            _ => None,
        };
        self.focus = Pane::Results;
        vec![Command::Inquire { node, reactor, filter, offset, limit: Some(RESULT_PAGE) }]
    }

    fn page(&mut self, next: bool) -> Vec<Command> {
        let Some(r) = &self.results else { return Vec::new() };
        // Pages of the size the inquiry asked for (`inquire … limit 3` pages by 3).
        let limit = if r.rows.limit == 0 { RESULT_PAGE } else { r.rows.limit };
        let end = r.rows.offset + r.rows.rows.len();
        let offset = match next {
            true if end < r.rows.total => end,
            false if r.rows.offset > 0 => r.rows.offset.saturating_sub(limit),
            true => return self.no_page("the last"),
            false => return self.no_page("the first"),
        };
        let (node, reactor, filter) = (r.rows.node.clone(), r.rows.reactor.clone(), r.rows.filter.clone());
        vec![Command::Inquire { node, reactor, filter, offset, limit: Some(limit) }]
    }

    /// `n` past the last page or `p` before the first: said, not silent.
    fn no_page(&mut self, which: &str) -> Vec<Command> {
        self.log(LogKind::Info, format!("this is {which} page of rows"));
        Vec::new()
    }

    fn sort(&mut self, action: Action) {
        let Some(r) = &mut self.results else { return };
        let n = r.columns.len();
        let (column, desc) = r.sort.unwrap_or((0, false));
        let (column, desc) = match (action, r.sort) {
            (Action::SortReverse, _) => (column, !desc),
            // Either way from unsorted starts at the first column: the last may be off screen.
            (_, None) => (0, false),
            (Action::SortNext, Some(_)) => ((column + 1) % n, false),
            _ => ((column + n - 1) % n, false),
        };
        r.sort_by(column, desc);
    }

    /// Move the focused pane's cursor by `delta` rows.
    fn scroll(&mut self, delta: isize) -> Vec<Command> {
        let moved = |at: usize, len: usize| -> usize {
            if len == 0 { 0 } else { (at as isize + delta).clamp(0, len as isize - 1) as usize }
        };
        match self.focus {
            Pane::Nodes => {
                let listed = self.listed_nodes();
                let at = listed.iter().position(|&i| i == self.node).unwrap_or(0);
                if let Some(&i) = listed.get(moved(at, listed.len())) {
                    self.select_node(i);
                }
            }
            Pane::Program => {
                let n = self.stage().map_or(0, |s| s.statements.len());
                self.statement = moved(self.statement, n);
            }
            Pane::Cabinets => {
                self.cabinet = moved(self.cabinet, self.cabinets().len());
                self.context = 0;
            }
            Pane::Contexts => self.context = moved(self.context, self.contexts().len()),
            Pane::Results => {
                self.result = moved(self.result, self.results.as_ref().map_or(0, |r| r.order.len()));
            }
            Pane::Log => {
                // The log scrolls back from its newest line: up is older.
                let n = self.log_lines().len();
                self.log_back =
                    (self.log_back as isize - delta).clamp(0, n.saturating_sub(1) as isize) as usize;
            }
        }
        Vec::new()
    }

    fn toggle_breakpoint(&mut self) -> Vec<Command> {
        let Some(stage) = self.stage() else { return Vec::new() };
        let Some(statement) = stage.statements.get(self.statement) else { return Vec::new() };
        let (stage, name) = (stage.name.clone(), statement.name.clone());
        let Some(node) = self.selected().map(|n| n.name.clone()) else { return Vec::new() };
        if self.pending_break.as_deref() == Some(name.as_str()) {
            // The last toggle is not answered yet: a second one would add or delete twice.
            return Vec::new();
        }
        let Ok(Some(Word::Form(form))) = parse_line(&format!("break {name} on {stage}")) else {
            return Vec::new();
        };
        // Only a plain breakpoint on the shown node (as `b` makes, or on it alone) is removed
        // by `b`; a form with more to it (a condition, other cabinets) is left to the editor,
        // and another node's is not this node's to remove.
        let plain = self
            .breakpoints(&node, &name)
            .find(|f| {
                TraceForm { nodes: None, name: None, ..f.form.clone() }
                    == TraceForm { nodes: None, name: None, ..form.clone() }
            })
            .map(|f| f.id);
        self.pending_break = Some(name);
        match plain {
            Some(id) => vec![Command::DeleteForm { id }],
            None => vec![Command::AddForm { form }],
        }
    }

    /// A mouse event: a click focuses a pane and selects the row under it; the wheel scrolls.
    pub fn mouse(&mut self, m: MouseEvent, area: Rect) -> Vec<Command> {
        if self.editor.is_some() || self.prompt.is_some() || self.help || self.record || self.life.is_some() {
            return Vec::new();
        }
        let at = Position::new(m.column, m.row);
        let areas = layout(area, self.zoomed());
        let Some(pane) = Pane::ALL.into_iter().find(|&p| areas.pane(p).contains(at)) else {
            return Vec::new();
        };
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                self.focus = pane;
                if pane == Pane::Log {
                    return Vec::new();
                }
                let rect = areas.pane(pane);
                // Rows start under the border and the header line (the program has none).
                let header = u16::from(pane != Pane::Program);
                let row = m.row.saturating_sub(rect.y + 1 + header) as isize;
                let first = super::view::first_row(self, pane, rect) as isize;
                self.scroll(isize::MIN / 2);
                self.scroll(first + row)
            }
            MouseEventKind::ScrollUp => {
                self.focus = pane;
                self.scroll(-3)
            }
            MouseEventKind::ScrollDown => {
                self.focus = pane;
                self.scroll(3)
            }
            _ => Vec::new(),
        }
    }
}
