//! Every key binding in one table: the event loop maps keys through it, and the hint bar and the
//! `?` help overlay are built from it, so what is shown is what works.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::state::Pane;

/// What a key does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Run one statement on the selected frozen node.
    Step,
    /// Let the selected frozen node run to its next stop.
    Continue,
    /// Let every frozen node run to its next stop.
    ContinueAll,
    /// Replay: undo the selected node's last statement.
    Back,
    /// Replay: go back to the previous stop of the forms.
    ReverseContinue,
    /// Rows of the selected frozen node's reactors into the results pane.
    Inquire,
    /// Stop tracing the selected node.
    Resume,
    /// Stop the whole run cleanly.
    Halt,
    /// Toggle a breakpoint on the statement under the cursor.
    Breakpoint,
    /// Open the trace form editor.
    Forms,
    /// Open the command line.
    Command,
    /// Filter the focused list (a `where` condition in the results pane).
    Filter,
    /// Focus the next pane.
    FocusNext,
    /// Focus the previous pane.
    FocusPrev,
    /// Cursor up.
    Up,
    /// Cursor down.
    Down,
    /// A page up.
    PageUp,
    /// A page down.
    PageDown,
    /// First row.
    Top,
    /// Last row.
    Bottom,
    /// Sort the results by the next column.
    SortNext,
    /// Sort the results by the previous column.
    SortPrev,
    /// Reverse the results' order.
    SortReverse,
    /// Show the context columns further right.
    Right,
    /// Show the context columns further left.
    Left,
    /// Show the record under the cursor with every context.
    Record,
    /// Show the life of the record under the cursor, read back from the run's trace.
    History,
    /// The next page of inquiry rows.
    NextPage,
    /// The previous page of inquiry rows.
    PrevPage,
    /// The focused pane fills the screen, or goes back to its place.
    Zoom,
    /// Show or hide this help.
    Help,
    /// Halt the run if it is still going, then quit.
    Quit,
    /// Close the overlay or the line being edited.
    Close,
    /// Run the command line / apply the filter.
    Submit,
    /// Complete the word under the cursor.
    Complete,
    /// The previous command in the history.
    HistoryPrev,
    /// The next command in the history.
    HistoryNext,
    /// Delete the line before the cursor (readline's ctrl-u).
    KillLine,
    /// Apply the form being edited.
    Save,
    /// Start a new form.
    NewForm,
    /// Delete the form being edited.
    DeleteForm,
    /// Edit the previous form.
    PrevForm,
    /// Edit the next form.
    NextForm,
}

impl Action {
    /// What it does, as the help overlay says it.
    pub fn description(self) -> &'static str {
        match self {
            Action::Step => "step: run one statement, freeze again",
            Action::Continue => "continue to the next stop",
            Action::ContinueAll => "continue every frozen node",
            Action::Back => "back: undo the node's last statement (replay)",
            Action::ReverseContinue => "reverse-continue to the previous stop (replay)",
            Action::Inquire => "inquire: frozen node's rows (or the cabinet's)",
            Action::Resume => "resume: stop tracing the node, run to the end",
            Action::Halt => "halt the run (results kept, trace closed)",
            Action::Breakpoint => "toggle a breakpoint on this statement",
            Action::Forms => "trace forms: view and edit",
            Action::Command => "command line (script words)",
            Action::Filter => "filter the list (results: a where condition)",
            Action::FocusNext => "next pane",
            Action::FocusPrev => "previous pane",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Top => "first row",
            Action::Bottom => "last row",
            Action::SortNext => "sort by the next column",
            Action::SortPrev => "sort by the previous column",
            Action::SortReverse => "reverse the order",
            Action::Right => "scroll the columns right",
            Action::Left => "scroll the columns left",
            Action::Record => "the record under the cursor, every context",
            Action::History => "its history: every step that touched it (needs --trace F --level full)",
            Action::NextPage => "next page of rows",
            Action::PrevPage => "previous page of rows",
            Action::Zoom => "zoom: focused pane fills the screen, or back",
            Action::Help => "this help",
            Action::Quit => "quit (over a live run it asks: again halts the run, then quits)",
            Action::Close => "close",
            Action::Submit => "run it",
            Action::Complete => "complete the name (node, cabinet, context, statement)",
            Action::HistoryPrev => "previous command",
            Action::HistoryNext => "next command",
            Action::KillLine => "delete to the start of the line",
            Action::Save => "apply the form (add or replace)",
            Action::NewForm => "a new form",
            Action::DeleteForm => "delete the form",
            Action::PrevForm => "previous form",
            Action::NextForm => "next form",
        }
    }

    /// Its word in the hint bar.
    pub fn hint(self) -> &'static str {
        match self {
            Action::Step => "step",
            Action::Continue => "continue",
            Action::Back => "back",
            Action::ReverseContinue => "reverse-continue",
            Action::Inquire => "inquire",
            Action::Resume => "resume",
            Action::Halt => "halt",
            Action::Breakpoint => "break",
            Action::Forms => "forms",
            Action::Command => "command",
            Action::Filter => "filter",
            Action::FocusNext => "pane",
            Action::SortNext => "sort",
            Action::SortReverse => "reverse",
            Action::Right => "columns",
            Action::Record => "record",
            Action::History => "history",
            Action::NextPage => "page",
            Action::Zoom => "zoom",
            Action::Help => "help",
            Action::Quit => "quit",
            Action::Close => "close",
            Action::Submit => "run",
            Action::Complete => "complete",
            Action::HistoryPrev => "history",
            Action::Save => "apply",
            Action::NewForm => "new",
            Action::DeleteForm => "delete",
            Action::NextForm => "next form",
            _ => "",
        }
    }
}

/// Where a binding works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// In every pane.
    Anywhere,
    /// In one pane.
    Pane(Pane),
    /// In the trace form editor (other keys edit the text).
    Editor,
    /// On the command or filter line (other keys edit the line).
    Line,
}

impl Scope {
    fn title(self) -> String {
        match self {
            Scope::Anywhere => "anywhere".into(),
            Scope::Pane(p) => p.title().to_lowercase(),
            Scope::Editor => "form editor".into(),
            Scope::Line => "command line".into(),
        }
    }

    fn covers(self, scope: Scope) -> bool {
        self == scope || (self == Scope::Anywhere && matches!(scope, Scope::Pane(_)))
    }
}

/// One binding: a key in a scope.
#[derive(Clone, Copy, Debug)]
pub struct Binding {
    /// The key.
    pub code: KeyCode,
    /// Modifiers that must be held (shift is implied by upper-case characters).
    pub mods: KeyModifiers,
    /// Where it works.
    pub scope: Scope,
    /// What it does.
    pub action: Action,
    /// Shown in the hint bar.
    pub hint: bool,
}

const fn key(code: KeyCode, scope: Scope, action: Action, hint: bool) -> Binding {
    Binding { code, mods: KeyModifiers::NONE, scope, action, hint }
}

const fn ch(c: char, action: Action, hint: bool) -> Binding {
    key(KeyCode::Char(c), ANY, action, hint)
}

const fn ctrl(c: char, scope: Scope, action: Action, hint: bool) -> Binding {
    Binding { code: KeyCode::Char(c), mods: KeyModifiers::CONTROL, scope, action, hint }
}

const ANY: Scope = Scope::Anywhere;
const RESULTS: Scope = Scope::Pane(Pane::Results);
const PROGRAM: Scope = Scope::Pane(Pane::Program);
const EDITOR: Scope = Scope::Editor;
const LINE: Scope = Scope::Line;

/// The key table. Pane bindings come first: they win over global ones.
pub const KEYS: &[Binding] = &[
    ctrl('s', EDITOR, Action::Save, true),
    ctrl('n', EDITOR, Action::NewForm, true),
    ctrl('d', EDITOR, Action::DeleteForm, true),
    key(KeyCode::PageUp, EDITOR, Action::PrevForm, false),
    key(KeyCode::PageDown, EDITOR, Action::NextForm, true),
    key(KeyCode::Esc, EDITOR, Action::Close, true),
    key(KeyCode::Enter, LINE, Action::Submit, true),
    key(KeyCode::Tab, LINE, Action::Complete, true),
    key(KeyCode::Up, LINE, Action::HistoryPrev, true),
    key(KeyCode::Down, LINE, Action::HistoryNext, false),
    key(KeyCode::Esc, LINE, Action::Close, true),
    // The text area's own ctrl-u is undo; on a line readline's habit wins.
    ctrl('u', LINE, Action::KillLine, false),
    key(KeyCode::Char('b'), PROGRAM, Action::Breakpoint, true),
    key(KeyCode::Char(']'), RESULTS, Action::SortNext, true),
    key(KeyCode::Char('['), RESULTS, Action::SortPrev, false),
    key(KeyCode::Char('o'), RESULTS, Action::SortReverse, true),
    key(KeyCode::Enter, RESULTS, Action::Record, true),
    key(KeyCode::Char('H'), RESULTS, Action::History, true),
    key(KeyCode::Right, RESULTS, Action::Right, true),
    key(KeyCode::Left, RESULTS, Action::Left, false),
    key(KeyCode::Char('n'), RESULTS, Action::NextPage, true),
    key(KeyCode::Char('p'), RESULTS, Action::PrevPage, false),
    ch('s', Action::Step, true),
    ch('c', Action::Continue, true),
    ch('C', Action::ContinueAll, false),
    ch('S', Action::Back, true),
    ch('R', Action::ReverseContinue, true),
    ch('i', Action::Inquire, true),
    ch('r', Action::Resume, true),
    ch('h', Action::Halt, true),
    ch('f', Action::Forms, true),
    ch(':', Action::Command, true),
    ch('/', Action::Filter, true),
    key(KeyCode::Tab, ANY, Action::FocusNext, true),
    key(KeyCode::BackTab, ANY, Action::FocusPrev, false),
    key(KeyCode::Up, ANY, Action::Up, false),
    ch('k', Action::Up, false),
    key(KeyCode::Down, ANY, Action::Down, false),
    ch('j', Action::Down, false),
    key(KeyCode::PageUp, ANY, Action::PageUp, false),
    key(KeyCode::PageDown, ANY, Action::PageDown, false),
    key(KeyCode::Home, ANY, Action::Top, false),
    ch('g', Action::Top, false),
    key(KeyCode::End, ANY, Action::Bottom, false),
    ch('G', Action::Bottom, false),
    key(KeyCode::Esc, ANY, Action::Close, false),
    ch('z', Action::Zoom, true),
    ch('?', Action::Help, true),
    ch('q', Action::Quit, true),
    ctrl('c', ANY, Action::Quit, false),
];

/// The action a key press means in a scope.
pub fn action_for(key: KeyEvent, scope: Scope) -> Option<Action> {
    // Terminals report shifted characters with SHIFT set (or not): only other modifiers count.
    let mods = key.modifiers - KeyModifiers::SHIFT;
    let code = match key.code {
        KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => KeyCode::Char(c.to_ascii_lowercase()),
        other => other,
    };
    KEYS.iter().find(|b| b.code == code && b.mods == mods && b.scope.covers(scope)).map(|b| b.action)
}

/// A key as the help overlay writes it.
pub fn key_name(b: &Binding) -> String {
    let base = match b.code {
        KeyCode::Char(' ') => "space".to_string(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::Tab => "tab".into(),
        KeyCode::BackTab => "shift-tab".into(),
        KeyCode::Up => "↑".into(),
        KeyCode::Down => "↓".into(),
        KeyCode::Left => "←".into(),
        KeyCode::Right => "→".into(),
        KeyCode::PageUp => "pgup".into(),
        KeyCode::PageDown => "pgdn".into(),
        KeyCode::Home => "home".into(),
        KeyCode::End => "end".into(),
        KeyCode::Enter => "enter".into(),
        KeyCode::Esc => "esc".into(),
        other => format!("{other:?}").to_lowercase(),
    };
    if b.mods.contains(KeyModifiers::CONTROL) { format!("ctrl-{base}") } else { base }
}

impl Action {
    /// True for what only a replay does (going backwards).
    pub fn replay_only(self) -> bool {
        matches!(self, Action::Back | Action::ReverseContinue)
    }

    /// True for what only a live run does (there is nothing to resume or halt in a recording).
    pub fn live_only(self) -> bool {
        matches!(self, Action::Resume | Action::ContinueAll | Action::Halt)
    }
}

/// The hint bar's entries for a scope: (keys, word), one per action; a replay's bar shows its
/// own moves instead of the live-only ones.
pub fn hints(scope: Scope, replay: bool) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    let shown = |a: Action| if replay { !a.live_only() } else { !a.replay_only() };
    for b in KEYS.iter().filter(|b| b.hint && b.scope.covers(scope) && shown(b.action)) {
        if !out.iter().any(|(_, h)| *h == b.action.hint()) {
            out.push((key_name(b), b.action.hint()));
        }
    }
    out
}

/// The help overlay's lines: (scope, keys, description), keys of one action joined.
pub fn help() -> Vec<(String, String, &'static str)> {
    let mut out: Vec<(String, String, &'static str)> = Vec::new();
    for b in KEYS {
        let scope = b.scope.title();
        match out.iter_mut().find(|(s, _, d)| *s == scope && *d == b.action.description()) {
            Some((_, keys, _)) => {
                keys.push_str(", ");
                keys.push_str(&key_name(b));
            }
            None => out.push((scope, key_name(b), b.action.description())),
        }
    }
    out.sort_by_key(|(scope, _, _)| scope != "anywhere");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pane_keys_win_and_shift_is_ignored() {
        let k = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        let pane = Scope::Pane;
        assert_eq!(action_for(k('b'), pane(Pane::Program)), Some(Action::Breakpoint));
        assert_eq!(action_for(k('b'), pane(Pane::Nodes)), None);
        assert_eq!(action_for(k('n'), pane(Pane::Results)), Some(Action::NextPage));
        let shifted = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(action_for(shifted, pane(Pane::Nodes)), Some(Action::Bottom));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action_for(ctrl_c, pane(Pane::Log)), Some(Action::Quit));
        assert_eq!(action_for(k('c'), pane(Pane::Log)), Some(Action::Continue));
        // Typing on the command line is text, not a command.
        assert_eq!(action_for(k('s'), Scope::Line), None);
        assert_eq!(
            action_for(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE), Scope::Line),
            Some(Action::Complete)
        );
    }

    #[test]
    fn every_action_with_a_key_is_in_the_help_once_per_scope() {
        let help = help();
        for b in KEYS {
            assert!(
                help.iter().any(|(_, keys, d)| *d == b.action.description() && keys.contains(&key_name(b)))
            );
        }
        assert_eq!(help[0].0, "anywhere");
    }
}
