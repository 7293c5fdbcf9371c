//! The results pane: inquiry rows as a table, sorted by any column, paged by the node.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row, StatefulWidget, Table, TableState, Widget};

use super::{Theme, block, first_row};
use crate::tui::state::{App, Pane};

/// Widest a column gets.
const MAX_COLUMN: usize = 24;

/// Render the results pane.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = Theme::of(app);
    let Some(r) = &app.results else {
        let text = "No rows yet: press i on a frozen node to inquire its reactors.";
        // The session's notes (where the demo keeps its files) wait here until rows come.
        let notes = app.notes.iter().flat_map(|n| [Line::default(), Line::raw(n.clone())]);
        Paragraph::new([Line::styled(text, theme.dim())].into_iter().chain(notes).collect::<Vec<_>>())
            .block(block(app, Pane::Results, "Results".into()))
            .wrap(ratatui::widgets::Wrap { trim: true })
            .render(area, buf);
        return;
    };
    if r.order.is_empty() {
        let filter = r.rows.filter.as_ref().map(|f| format!(" where {f}")).unwrap_or_default();
        let past = if r.rows.total > 0 { format!(" past row {}", r.rows.offset) } else { String::new() };
        let text = match &r.rows.cabinet {
            Some(c) => format!("No row{past} in cabinet {c} ({}){filter}.", r.rows.tables.join(", ")),
            None => format!("No row{past} in {}{filter}.", r.rows.tables.join(", ")),
        };
        let title = format!("Results of {} · no row", r.rows.node);
        Paragraph::new(Line::styled(text, theme.dim()))
            .block(block(app, Pane::Results, title))
            .wrap(ratatui::widgets::Wrap { trim: true })
            .render(area, buf);
        return;
    }
    let visible = (area.height as usize).saturating_sub(3);
    let first = first_row(app, Pane::Results, area);
    let shown: Vec<usize> = r.order.iter().skip(first).take(visible.max(1)).copied().collect();
    // The first three columns (table, reg_id, cabinet) stay; the contexts scroll sideways.
    // Widths come from the header and the rows on screen only: a big answer costs no more.
    let width = |c: usize| {
        let cells = shown.iter().map(|&i| r.cell(i, c).chars().count());
        cells.chain([r.columns[c].chars().count() + 1]).max().unwrap_or(1).min(MAX_COLUMN) as u16
    };
    let mut columns: Vec<usize> = Vec::new();
    let mut used = 0u16;
    let room = area.width.saturating_sub(2);
    for c in (0..3.min(r.columns.len())).chain((3 + app.result_column)..r.columns.len()) {
        let w = width(c);
        if used + w > room && !columns.is_empty() {
            break;
        }
        used += w + 1;
        columns.push(c);
    }
    let widths: Vec<Constraint> = columns.iter().map(|&c| Constraint::Length(width(c))).collect();
    let header: Vec<String> = (columns.iter())
        .map(|&c| match r.sort {
            Some((s, desc)) if s == c => format!("{}{}", r.columns[c], if desc { "▼" } else { "▲" }),
            _ => r.columns[c].clone(),
        })
        .collect();
    // Only the rows on screen are built; the table is told where they start.
    let rows = shown.iter().map(|&i| Row::new(columns.iter().map(|&c| r.cell(i, c))));
    let hidden = r.columns.len().saturating_sub(3)
        - (columns.len().saturating_sub(3)).min(r.columns.len().saturating_sub(3));
    let sideways = if hidden > 0 { format!(" · ← → {hidden} more column(s)") } else { String::new() };
    // The node sends a page; sorting orders that page, not every matching row.
    let loaded = r.rows.rows.len();
    let within = match r.sort {
        Some(_) if loaded < r.rows.total => format!(" · sorted within these {loaded}"),
        _ => String::new(),
    };
    // `i` refreshes them only from the node's next stop.
    let stale = match r.stale {
        false => "",
        true if app.nodes.iter().any(|n| n.name == r.rows.node && n.frozen()) => {
            " (stale: it moved since; i refreshes)"
        }
        true if app.ended() => " (stale: the run has ended)",
        // Resumed: it runs untraced for good and stops no more.
        true if app.nodes.iter().any(|n| n.name == r.rows.node && !n.traced) => {
            " (stale: it runs untraced, it will not stop again)"
        }
        true => " (stale until its next stop)",
    };
    let page = format!(
        "Results of {}{}{stale} · rows {}–{} of {}{}",
        r.rows.node,
        r.rows.reactor.as_ref().map(|x| format!(" {x}")).unwrap_or_default(),
        r.rows.offset + first + 1,
        r.rows.offset + first + shown.len(),
        r.rows.total,
        r.rows.filter.as_ref().map(|f| format!(" · where {f}")).unwrap_or_default()
    ) + &within
        + &sideways;
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.bold(Color::Yellow).add_modifier(Modifier::UNDERLINED)))
        .block(block(app, Pane::Results, page))
        .row_highlight_style(theme.cursor(app.focus == Pane::Results));
    let mut state = TableState::default().with_selected((!shown.is_empty()).then(|| app.result - first));
    StatefulWidget::render(table, area, buf, &mut state);
}
