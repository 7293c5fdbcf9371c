//! One record over the screen: an inquiry row whole (its table, reg_id, cabinet and every
//! context: the results table shows only the columns that fit), or its life as the trace
//! tells it.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Clear, Row, Table, Widget};

use super::{centered, overlay, overlay_header};
use crate::tui::state::App;

/// Render the record under the results cursor over `area`.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(r) = &app.results else { return };
    let Some(&i) = r.order.get(app.result) else { return };
    let row = &r.rows.rows[i];
    // Sized to its names and values (a context name may be long, a value longer).
    let name = row.contexts.keys().map(|k| k.chars().count()).max().unwrap_or(0).max(7) as u16;
    let value = row.contexts.values().map(|v| v.to_string().chars().count()).max().unwrap_or(0) as u16;
    let popup = centered(area, (name + 1 + value + 2).max(72), row.contexts.len() as u16 + 4);
    Clear.render(popup, buf);
    let rows = row.contexts.iter().skip(app.record_scroll).map(|(k, v)| Row::new([k.clone(), v.to_string()]));
    // A screen lower than the record scrolls it, and says how much is below.
    let more = row.contexts.len().saturating_sub(popup.height.saturating_sub(3) as usize + app.record_scroll);
    let below = if more > 0 { format!("↓ {more} more · ") } else { String::new() };
    let title = format!(" reg_id {} · {} in {} · {} ", row.reg_id, row.cabinet, row.table, r.rows.node);
    let hint = if more > 0 || app.record_scroll > 0 {
        "↑↓ scroll · other keys close"
    } else {
        "any key but ↑↓ closes"
    };
    Table::new(rows, [Constraint::Length(name), Constraint::Fill(1)])
        .header(overlay_header(app, ["context", "value"]))
        .block(overlay(app, title, format!(" {below}{hint} ")))
        .render(popup, buf);
}

/// Render a record's history (its text lines, scrolled down and across) over `area`.
pub fn render_life(
    app: &App,
    lines: &[String],
    (scroll, column): (usize, usize),
    area: Rect,
    buf: &mut Buffer,
) {
    let popup = centered(area, area.width.saturating_sub(4), area.height.saturating_sub(2));
    Clear.render(popup, buf);
    let title = lines.first().map_or_else(String::new, |l| format!(" {l} "));
    let text: Vec<ratatui::text::Line> =
        lines.iter().skip(1 + scroll).map(|l| ratatui::text::Line::raw(l.clone())).collect();
    ratatui::widgets::Paragraph::new(text)
        .scroll((0, column.min(u16::MAX as usize) as u16))
        // A replay reads a trace already written: nothing of it is still in a buffer.
        .block(overlay(app, title, if app.ended() || app.replay {
            " ↑↓ ←→ scroll · any other key closes "
        } else {
            " the run goes on: a running node's latest steps may not be here yet · ↑↓ ←→ scroll · any other key closes "
        }))
        .render(popup, buf);
}
