//! The `?` overlay: every key of the key table, by where it works.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Clear, Row, Table, Widget};

use super::{centered, overlay, overlay_header};
use crate::tui::keys::help;
use crate::tui::state::App;

/// Render the help over `area`.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let entries = help();
    // As wide as the longest line needs (two columns, their gaps and the borders), so that a
    // wide terminal shows every line whole.
    let widest = entries.iter().map(|(_, _, what)| what.chars().count()).max().unwrap_or(0) as u16;
    let popup = centered(area, 13 + 1 + 16 + 1 + widest + 2, entries.len() as u16 + 4);
    Clear.render(popup, buf);
    let mut last = String::new();
    let rows = entries.iter().skip(app.help_scroll).map(|(scope, keys, what)| {
        let shown = if *scope == last { String::new() } else { scope.clone() };
        last = scope.clone();
        Row::new([shown, keys.clone(), what.to_string()])
    });
    let more = entries.len().saturating_sub(popup.height.saturating_sub(3) as usize + app.help_scroll);
    // Scrolled, the lines above are counted too: at the bottom nothing else said there are any.
    let above =
        if app.help_scroll > 0 { format!(" · ↑ {} above", app.help_scroll) } else { String::new() };
    let below = if more > 0 { format!(" · ↓ {more} more") } else { String::new() };
    let title = format!(" Keys{above}{below} ");
    Table::new(rows, [Constraint::Length(13), Constraint::Length(16), Constraint::Fill(1)])
        .header(overlay_header(app, ["where", "keys", "what"]))
        .block(overlay(app, title, " ? or esc closes "))
        .render(popup, buf);
}
