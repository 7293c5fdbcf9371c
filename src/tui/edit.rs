//! Typing: the trace form editor and the prompt line (a command in script words, or a
//! filter), with the session commands they lead to.

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui_textarea::TextArea;

use super::complete::complete;
use super::input::RESULT_PAGE;
use super::keys::{Action, Scope, action_for};
use super::state::{App, FormEditor, LogKind, Pane, Prompt, PromptKind};
use crate::script::parse_line;
use crate::session::Command;
use crate::tracer::TraceForm;

/// A form to start from when there is none to edit.
const NEW_FORM: &str = "# A trace form: what to watch and when to stop (see the README).\nname = \"new\"\nnodes = \"all\"\ncabinets = [\"WIFE\"]\nstop = \"arrival\"\n";

impl App {
    pub(super) fn open_editor(&mut self, form: Option<u32>) {
        let text = form
            .and_then(|id| self.forms.iter().find(|f| f.id == id))
            .and_then(|f| toml::to_string(&f.form).ok())
            .unwrap_or_else(|| NEW_FORM.to_string());
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        if form.is_none() {
            // A new form's cursor waits on a line of its own under the template's fields:
            // typing at its start ran into the comment line.
            lines.push(String::new());
        }
        let mut area = TextArea::new(lines);
        if form.is_none() {
            area.move_cursor(ratatui_textarea::CursorMove::Bottom);
        }
        area.set_line_number_style(
            ratatui::style::Style::default().add_modifier(ratatui::style::Modifier::DIM),
        );
        let original = area.lines().join("\n");
        self.editor = Some(FormEditor {
            form,
            text: area,
            original,
            error: None,
            pending: false,
            confirm_delete: false,
            confirm_close: false,
        });
    }

    pub(super) fn editor_key(&mut self, key: KeyEvent) -> Vec<Command> {
        let ended = self.ended();
        let Some(editor) = &mut self.editor else { return Vec::new() };
        let ids: Vec<u32> = self.forms.iter().map(|f| f.id).collect();
        // Where the edited form stands among the forms; a new one comes after them all.
        let at = editor.form.and_then(|id| ids.iter().position(|&i| i == id)).unwrap_or(ids.len());
        let action = action_for(key, Scope::Editor);
        let confirm_delete = std::mem::take(&mut editor.confirm_delete);
        let confirm_close = std::mem::take(&mut editor.confirm_close);
        let unsaved = "unsaved edits: ctrl-s applies them, esc drops them";
        match action {
            // Edits are not dropped by one key: asked once, as a delete is.
            Some(Action::Close) if editor.dirty() && !confirm_close => {
                editor.confirm_close = true;
                editor.error = Some("unsaved edits: esc again drops them, ctrl-s applies them".into());
            }
            Some(Action::Close) => self.editor = None,
            // An apply is on its way: a second would add the form twice.
            Some(Action::Save) if editor.pending => {}
            Some(Action::Save) => {
                let text = editor.text.lines().join("\n");
                match TraceForm::parse(&text, "in the editor") {
                    Err(e) => {
                        // Logged too: it stays to be read once the editor is closed.
                        editor.error = Some(e.to_string());
                        self.log(LogKind::Error, format!("error: {e}"));
                    }
                    Ok(form) if !ended => {
                        editor.error = None;
                        editor.pending = true;
                        return vec![match editor.form {
                            Some(id) => Command::ReplaceForm { id, form },
                            None => Command::AddForm { form },
                        }];
                    }
                    Ok(_) => editor.error = Some("the run has ended: forms can no longer change".into()),
                }
            }
            Some(Action::DeleteForm) => match editor.form {
                Some(id) if confirm_delete => {
                    editor.pending = true;
                    return vec![Command::DeleteForm { id }];
                }
                Some(id) => {
                    editor.confirm_delete = true;
                    editor.error = Some(format!("delete form {id}? ctrl-d again deletes it"));
                }
                // A new form has nothing to delete but its text: asked too when there is some.
                None if confirm_delete || !editor.dirty() => self.editor = None,
                None => {
                    editor.confirm_delete = true;
                    editor.error = Some("drop this new form's text? ctrl-d again drops it".into());
                }
            },
            Some(Action::NewForm | Action::PrevForm | Action::NextForm) if editor.dirty() => {
                editor.error = Some(unsaved.into())
            }
            Some(Action::NewForm) => self.open_editor(None),
            Some(Action::PrevForm) => {
                if at > 0 {
                    self.open_editor(ids.get(at - 1).copied());
                }
            }
            Some(Action::NextForm) => {
                if let Some(&next) = ids.get(at + 1) {
                    self.open_editor(Some(next));
                }
            }
            _ => {
                editor.text.input(key);
            }
        }
        Vec::new()
    }

    pub(super) fn prompt_key(&mut self, key: KeyEvent) -> Vec<Command> {
        let Some(p) = &mut self.prompt else { return Vec::new() };
        match action_for(key, Scope::Line) {
            Some(Action::Close) => self.prompt = None,
            // Completion and history belong to the command line; on a filter they do nothing.
            Some(Action::Complete | Action::HistoryPrev | Action::HistoryNext)
                if p.kind != PromptKind::Command => {}
            Some(Action::Complete) => {
                let line = p.input.lines().join("");
                let (text, options) = complete(&line, self);
                let p = self.prompt.as_mut().expect("prompt up");
                p.completions = options;
                if text != line {
                    p.input = line_area(&text);
                }
            }
            Some(Action::HistoryPrev | Action::HistoryNext) => {
                let back = matches!(action_for(key, Scope::Line), Some(Action::HistoryPrev));
                // What was typed before walking picks the lines walked (as a shell's
                // history-search): `inq` then ↑ goes through the inquiries only.
                if self.history_at.is_none() {
                    self.history_prefix = p.input.lines().join("");
                }
                let prefix = &self.history_prefix;
                let fits = |i: &usize| self.history[*i].starts_with(prefix.as_str());
                let n = self.history.len();
                let at = match (self.history_at, back) {
                    (None, true) => (0..n).rev().find(fits),
                    (Some(i), true) => (0..i).rev().find(fits).or(Some(i)),
                    (Some(i), false) => (i + 1..n).find(fits),
                    (None, false) => None,
                };
                self.history_at = at;
                let text = at.map_or_else(|| self.history_prefix.clone(), |i| self.history[i].clone());
                self.prompt.as_mut().expect("prompt up").input = line_area(&text);
            }
            Some(Action::KillLine) => {
                p.input.delete_line_by_head();
                p.completions.clear();
            }
            Some(Action::Submit) => {
                let text = p.input.lines().join("");
                return match p.kind {
                    PromptKind::Command => self.run_line(text.trim()),
                    PromptKind::Filter(pane) => self.set_filter(pane, text.trim()),
                };
            }
            // `:` over a failed line, still selected, is the habit of opening a new command
            // line: start one, rather than type `:` into the old one's place.
            _ if key.code == KeyCode::Char(':') && p.error.is_some() && p.input.is_selecting() => {
                p.input = line_area("");
                p.error = None;
            }
            _ => {
                p.input.input(key);
                p.completions.clear();
                // An edited line starts a new walk, from what it now reads.
                self.history_at = None;
            }
        }
        Vec::new()
    }

    pub(super) fn set_filter(&mut self, pane: Pane, text: &str) -> Vec<Command> {
        self.prompt = None;
        if pane == Pane::Results && self.results.is_some() {
            self.filter_undo = Some(self.filters.get(&Pane::Results).cloned());
        }
        if text.is_empty() {
            self.filters.shift_remove(&pane);
        } else {
            self.filters.insert(pane, text.to_string());
        }
        match pane {
            // The results filter is a `where` condition: the node that answered evaluates it.
            Pane::Results => match &self.results {
                Some(r) => vec![Command::Inquire {
                    node: r.rows.node.clone(),
                    reactor: r.rows.reactor.clone(),
                    filter: (!text.is_empty()).then(|| text.into()),
                    offset: 0,
                    limit: Some(RESULT_PAGE),
                }],
                None => Vec::new(),
            },
            Pane::Nodes => {
                let listed = self.listed_nodes();
                if let Some(&first) = listed.first()
                    && !listed.contains(&self.node)
                {
                    self.select_node(first);
                }
                Vec::new()
            }
            Pane::Cabinets => {
                (self.cabinet, self.context) = (0, 0);
                Vec::new()
            }
            Pane::Contexts => {
                self.context = 0;
                Vec::new()
            }
            Pane::Log | Pane::Program => {
                self.log_back = 0;
                Vec::new()
            }
        }
    }

    /// A command line: a script word, as the headless script takes it.
    fn run_line(&mut self, line: &str) -> Vec<Command> {
        if line.is_empty() {
            self.prompt = None;
            return Vec::new();
        }
        if self.history.last().is_none_or(|l| l != line) {
            self.history.push(line.to_string());
        }
        // A debugger's and an editor's habits (`quit`, vim's `:q`, `help`): the keys' own
        // actions, asked as the keys ask.
        match line {
            "q" | "quit" => {
                self.prompt = None;
                return self.key(KeyEvent::from(KeyCode::Char('q')), ratatui::layout::Rect::default());
            }
            "help" => {
                self.prompt = None;
                self.help = true;
                return Vec::new();
            }
            _ => {}
        }
        let word = match parse_line(line) {
            Ok(Some(w)) => w,
            Ok(None) => {
                self.prompt = None;
                return Vec::new();
            }
            // Kept to fix, selected: typing a new line replaces it, an arrow key edits it. The
            // log keeps the whole message, which the line above the prompt may cut.
            Err(e) => {
                self.log(LogKind::Error, format!("error: :{line}: {e}"));
                if let Some(p) = &mut self.prompt {
                    p.error = Some(e.to_string());
                    p.input.select_all();
                }
                return Vec::new();
            }
        };
        self.prompt = None;
        self.log(LogKind::Info, format!(": {line}"));
        let current = self.target();
        match word.command(current.as_deref(), &self.forms, self.replay) {
            Ok(Some(c)) => {
                // The pane that shows the answer takes the focus.
                match c {
                    Command::Inquire { .. } => self.focus = Pane::Results,
                    Command::Snapshot => {
                        self.focus = Pane::Nodes;
                        self.log(LogKind::Info, "the nodes pane shows them, refreshed".to_string());
                    }
                    _ => {}
                }
                vec![c]
            }
            Ok(None) => {
                // `forms`: the editor shows them.
                self.open_editor(self.forms.first().map(|f| f.id));
                Vec::new()
            }
            Err(e) => {
                self.log(LogKind::Error, format!("error: {e}"));
                Vec::new()
            }
        }
    }
}

pub(super) fn line_area(text: &str) -> TextArea<'static> {
    let mut area = TextArea::new(vec![text.to_string()]);
    area.move_cursor(ratatui_textarea::CursorMove::End);
    area
}

pub(super) fn prompt(kind: PromptKind, text: &str) -> Prompt {
    Prompt { kind, input: line_area(text), completions: Vec::new(), error: None }
}
