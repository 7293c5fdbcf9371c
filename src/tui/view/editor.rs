//! The trace form editor: a TOML text over the screen, its errors inline.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget, Wrap};

use super::{Theme, centered, overlay};
use crate::tui::keys::{Scope, hints};
use crate::tui::state::{App, FormEditor};

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
    let [text, message, keys] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(2), Constraint::Length(1)]).areas(inner);
    editor.text.render(text, buf);
    let note = match (&editor.error, editor.pending) {
        (Some(e), _) => Line::from(Span::styled(e.clone(), theme.bold(Color::Red))),
        (None, true) => Line::from(Span::styled("applying…", theme.fg(Color::Yellow))),
        (None, false) => Line::from(Span::styled(
            "Fields: name, nodes, cabinets, contexts, stop (arrival|departure|mass|every-step|statement|when|failure), statement, when, ignore, once, timeout",
            theme.dim(),
        )),
    };
    Paragraph::new(note).wrap(Wrap { trim: true }).render(message, buf);
    let spans: Vec<Span> = hints(Scope::Editor, false)
        .into_iter()
        .flat_map(|(k, w)| {
            [Span::styled(format!(" {k}"), theme.bold(Color::Cyan)), Span::raw(format!(" {w} "))]
        })
        .collect();
    Paragraph::new(Line::from(spans)).render(keys, buf);
}
