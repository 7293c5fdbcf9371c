//! The nodes pane: each node's state (with the reason it is frozen, or whom it waits on), its
//! step, pseudo-time and a records-per-second sparkline.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, StatefulWidget, Table, TableState};

use super::{Theme, block, first_row, fit, short};
use crate::session::NodeState;
use crate::tui::state::{App, NodeRow, Pane};

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// Sparkline width, in samples.
const SPARK: usize = 10;

/// A node's state in words (fewer on a narrow pane: the glyph and colour say frozen or
/// waiting), and its colour.
fn state(row: &NodeRow, wide: bool) -> (String, Color) {
    let (text, color) = match &row.state {
        NodeState::Starting => ("starting".to_string(), Color::DarkGray),
        NodeState::Running => ("▶ running".to_string(), Color::Green),
        NodeState::Frozen { statement, reason } if wide => {
            let at = if row.stop.as_ref().is_some_and(|s| s.at == crate::tracer::Position::Before) {
                "before"
            } else {
                "after"
            };
            (format!("■ frozen {at} {statement}: {reason}"), Color::Red)
        }
        NodeState::Frozen { statement, reason } => (format!("■ {statement}: {reason}"), Color::Red),
        NodeState::Waiting { on } if wide => (format!("⧗ waiting on {on}"), Color::Yellow),
        NodeState::Waiting { on } => (format!("⧗ waits {on}"), Color::Yellow),
        NodeState::Blocked { on } if wide => (format!("⧗ blocked on {on}"), Color::Magenta),
        NodeState::Blocked { on } => (format!("⧗ blocked {on}"), Color::Magenta),
        NodeState::Done => ("✓ done".to_string(), Color::Blue),
        NodeState::Failed => ("✗ failed".to_string(), Color::Red),
        NodeState::Restarted { error, .. } => (format!("↻ restarted after: {error}"), Color::LightRed),
    };
    let untraced = !row.traced && !matches!(row.state, NodeState::Done | NodeState::Failed);
    let text = if untraced { format!("{text} (untraced)") } else { text };
    // Restarts stay in sight after the node runs on (first: long states are cut).
    match row.restarts {
        0 => (text, color),
        n => (format!("↻{n} {text}"), color),
    }
}

/// The last samples as bars scaled to the node's own peak.
fn sparkline(rates: &std::collections::VecDeque<u64>, width: usize) -> String {
    let peak = rates.iter().copied().max().unwrap_or(0).max(1);
    let skip = rates.len().saturating_sub(width);
    let mut s: String = rates.iter().skip(skip).map(|&r| BARS[((r * 7) / peak) as usize]).collect();
    while s.chars().count() < width {
        s.insert(0, ' ');
    }
    s
}

/// Render the nodes pane.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = Theme::of(app);
    let wide = area.width >= 76;
    // Under 60 columns the state needs the sparkline's room.
    let spark = area.width >= 60;
    let listed = app.listed_nodes();
    let mut header = vec!["node", "state", "steps"];
    let mut widths =
        vec![Constraint::Length(7), Constraint::Fill(1), Constraint::Length(if wide { 8 } else { 6 })];
    if wide {
        header.push("pseudo-time");
        widths.push(Constraint::Length(14));
    }
    if !app.replay {
        header.push(if spark { "records/s" } else { "rec/s" });
        widths.push(Constraint::Length(if spark { SPARK as u16 + 7 } else { 6 }));
    }
    // What the state column gets: the inner width less the fixed columns and the gaps.
    let fixed: u16 = widths.iter().map(|w| if let Constraint::Length(n) = w { *n } else { 0 }).sum();
    let room = area.width.saturating_sub(2 + fixed + widths.len() as u16 - 1) as usize;
    let rows = listed.iter().map(|&i| {
        let n = &app.nodes[i];
        let (text, color) = state(n, wide);
        let mut cells = vec![
            Cell::from(n.name.clone()).style(Style::default().add_modifier(Modifier::BOLD)),
            Cell::from(Span::styled(fit(&text, room), theme.fg(color))),
            Cell::from(n.steps.to_string()),
        ];
        if wide {
            let t = n.pseudo_time.map(|t| t.strftime("%m-%d %H:%M:%S").to_string()).unwrap_or_default();
            cells.push(Cell::from(t));
        }
        // A replay reads no records: its nodes have no rate to show.
        if !app.replay {
            // A node that is done reads nothing now (its last sample was of its last window).
            let done = matches!(n.state, NodeState::Done | NodeState::Failed);
            let rate = if done { 0 } else { n.rates.back().copied().unwrap_or(0) };
            // Up to six characters: "210.3k".
            let mut spans = vec![Span::raw(format!("{:>6}", short(rate)))];
            if spark {
                spans.insert(0, Span::styled(sparkline(&n.rates, SPARK) + " ", theme.fg(Color::Green)));
            }
            cells.push(Cell::from(Line::from(spans)));
        }
        Row::new(cells)
    });
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.dim().add_modifier(Modifier::BOLD)))
        .block(block(app, Pane::Nodes, format!("Nodes ({})", app.nodes.len())))
        .row_highlight_style(theme.cursor(app.focus == Pane::Nodes));
    let selected = listed.iter().position(|&i| i == app.node);
    let mut state =
        TableState::default().with_offset(first_row(app, Pane::Nodes, area)).with_selected(selected);
    StatefulWidget::render(table, area, buf, &mut state);
}
