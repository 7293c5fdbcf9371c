//! The trace form editor: a TOML text over the screen, its errors inline.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget, Wrap};

use super::{Theme, centered, overlay};
use crate::tui::keys::{Scope, hints};
use crate::tui::state::{App, FormEditor};

/// What the note under the text says when there is nothing else to say.
const FIELDS: &str = "Fields: name, nodes, cabinets, contexts, stop (arrival|departure|mass|every-step|statement|when|failure), statement, when, ignore, once, timeout";

/// Render the editor over `area`.
pub fn render(app: &App, editor: &FormEditor, area: Rect, buf: &mut Buffer) {
    let theme = Theme::of(app);
    let popup = centered(area, area.width.saturating_sub(8).max(60), area.height.saturating_sub(4).max(12));
    Clear.render(popup, buf);
    let title = match editor.form.and_then(|id| app.forms.iter().position(|f| f.id == id)) {
        Some(i) => {
            let f = &app.forms[i];
            format!(
                " Trace form {} ({} of {}): {} · {} ",
                f.id,
                i + 1,
                app.forms.len(),
                f.label,
                f.hits_text()
            )
        }
        None => " New trace form ".to_string(),
    };
    let frame = overlay(app, title, "");
    let inner = frame.inner(popup);
    frame.render(popup, buf);
    let (note, style) = match (&editor.error, editor.pending) {
        (Some(e), _) => (e.as_str(), theme.bold(Color::Red)),
        (None, true) => ("applying…", theme.fg(Color::Yellow)),
        (None, false) => (FIELDS, theme.dim()),
    };
    let note = Paragraph::new(note.lines().map(|l| Line::from(Span::styled(l, style))).collect::<Vec<_>>())
        .wrap(Wrap { trim: true });
    // As many rows as the note wraps to (a form error can be long), at least 2 and at most
    // half the editor, so the text being fixed stays in sight.
    let rows = u16::try_from(note.line_count(inner.width)).unwrap_or(u16::MAX);
    let rows = rows.clamp(2, (inner.height / 2).max(2));
    let [text, message, keys] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(rows), Constraint::Length(1)]).areas(inner);
    editor.text.render(text, buf);
    note.render(message, buf);
    let spans: Vec<Span> = hints(Scope::Editor, false)
        .into_iter()
        .flat_map(|(k, w)| {
            [Span::styled(format!(" {k}"), theme.bold(Color::Cyan)), Span::raw(format!(" {w} "))]
        })
        .collect();
    Paragraph::new(Line::from(spans)).render(keys, buf);
}
