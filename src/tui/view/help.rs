//! The `?` overlay: every key of the key table, by where it works.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Row, Table, Widget};

use super::{Theme, centered};
use crate::tui::keys::help;
use crate::tui::state::App;

/// Render the help over `area`.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = Theme::of(app);
    let entries = help();
    let popup = centered(area, 84, entries.len() as u16 + 4);
    Clear.render(popup, buf);
    let mut last = String::new();
    let rows = entries.iter().skip(app.help_scroll).map(|(scope, keys, what)| {
        let shown = if *scope == last { String::new() } else { scope.clone() };
        last = scope.clone();
        Row::new([shown, keys.clone(), what.to_string()])
    });
    let more = entries.len().saturating_sub(popup.height.saturating_sub(3) as usize + app.help_scroll);
    let title = if more > 0 { format!(" Keys · ↓ {more} more ") } else { " Keys ".to_string() };
    Table::new(rows, [Constraint::Length(13), Constraint::Length(16), Constraint::Fill(1)])
        .header(
            Row::new(["where", "keys", "what"])
                .style(theme.bold(Color::Yellow).add_modifier(Modifier::UNDERLINED)),
        )
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_type(BorderType::Double)
                .border_style(theme.bold(Color::Yellow))
                .title(title)
                .title_bottom(" ? or esc closes "),
        )
        .render(popup, buf);
}
