//! The contexts pane: the selected cabinet's contexts (its metadata first) with the records
//! holding each.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::widgets::{Cell, Row, StatefulWidget, Table, TableState};

use super::{Theme, block, count, first_row};
use crate::tui::state::{App, Pane};

/// Render the contexts pane.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = Theme::of(app);
    let contexts = app.contexts();
    let rows = contexts.iter().map(|(name, n)| {
        let style = if *n == 0 { theme.dim() } else { theme.fg(ratatui::style::Color::Reset) };
        Row::new(vec![
            Cell::from(name.clone()).style(style),
            Cell::from(format!("{:>7}", count(*n as u64, 7))),
        ])
    });
    let cabinet = app.selected_cabinet().map(|c| c.name.as_str()).unwrap_or("-");
    let table = Table::new(rows, [Constraint::Fill(1), Constraint::Length(7)])
        .header(Row::new(["context", "records"]).style(theme.dim().add_modifier(Modifier::BOLD)))
        .block(block(app, Pane::Contexts, format!("Contexts of {cabinet}")))
        .row_highlight_style(theme.cursor(app.focus == Pane::Contexts));
    let mut state = TableState::default()
        .with_offset(first_row(app, Pane::Contexts, area))
        .with_selected((!contexts.is_empty()).then_some(app.context));
    StatefulWidget::render(table, area, buf, &mut state);
}
