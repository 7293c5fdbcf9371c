//! The cabinets pane: the selected node's reactor cabinets with their mass as a bar, a `+`
//! on one that just came to hold records and a `-` on one that just emptied.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Paragraph, Row, StatefulWidget, Table, TableState, Widget, Wrap};

use super::{Theme, block, count, first_row};
use crate::tui::state::{App, Mark, Pane};

/// A bar of `width` cells for `mass` out of `peak`, in eighths.
fn bar(mass: i64, peak: i64, width: u16) -> String {
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths =
        if peak > 0 { (mass.max(0) as u128 * width as u128 * 8 / peak as u128) as usize } else { 0 };
    let mut s = "█".repeat(eighths / 8);
    if eighths % 8 > 0 {
        s.push(PARTS[eighths % 8]);
    }
    s
}

/// Render the cabinets pane.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = Theme::of(app);
    let cabinets = app.cabinets();
    let node = app.selected().map(|n| n.name.as_str()).unwrap_or("-");
    if let Some(why) = app.unrecorded.as_deref().filter(|_| cabinets.is_empty()) {
        // An empty pane would read as a node holding nothing.
        Paragraph::new(why)
            .style(theme.dim())
            .wrap(Wrap { trim: true })
            .block(block(app, Pane::Cabinets, format!("Cabinets of {node}")))
            .render(area, buf);
        return;
    }
    let peak = cabinets.iter().map(|c| c.mass).max().unwrap_or(0);
    let bar_width = area.width.saturating_sub(2 + 2 + 13 + 7 + 3).max(1);
    // Only the rows on screen are built: a node may hold a thousand cabinets.
    let first = first_row(app, Pane::Cabinets, area);
    let visible = (area.height as usize).saturating_sub(3).max(1);
    let rows = cabinets.iter().skip(first).take(visible).map(|c| {
        let (mark, color) = match c.mark {
            Mark::Appeared => ("+", Color::Green),
            Mark::Departed => ("-", Color::Red),
            Mark::Steady => (" ", Color::Reset),
        };
        Row::new(vec![
            Cell::from(Span::styled(mark, theme.bold(color))),
            Cell::from(c.name.clone()).style(if c.mass == 0 { theme.dim() } else { theme.fg(Color::Reset) }),
            Cell::from(format!("{:>6}", count(c.mass.max(0) as u64, 6))),
            Cell::from(Span::styled(bar(c.mass, peak, bar_width), theme.fg(Color::Cyan))),
        ])
    });
    let table = Table::new(
        rows,
        [Constraint::Length(1), Constraint::Length(13), Constraint::Length(6), Constraint::Fill(1)],
    )
    .header(Row::new(["", "cabinet", "  mass", ""]).style(theme.dim().add_modifier(Modifier::BOLD)))
    .block(block(app, Pane::Cabinets, format!("Cabinets of {node}")))
    .row_highlight_style(theme.cursor(app.focus == Pane::Cabinets));
    let mut state = TableState::default().with_selected((!cabinets.is_empty()).then(|| app.cabinet - first));
    StatefulWidget::render(table, area, buf, &mut state);
}

#[cfg(test)]
mod tests {
    #[test]
    fn bars_scale_to_the_peak_in_eighths() {
        assert_eq!(super::bar(10, 10, 4), "████");
        assert_eq!(super::bar(5, 10, 4), "██");
        assert_eq!(super::bar(1, 16, 2), "▏");
        assert_eq!(super::bar(15, 16, 2), "█▉");
        assert_eq!(super::bar(0, 10, 4), "");
        assert_eq!(super::bar(3, 0, 4), "");
    }
}
