//! The program pane: the selected node's statements, the one it is frozen at marked ▶,
//! breakpoints marked ●, the cursor on the statement `b` toggles.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, StatefulWidget};

use super::{Theme, block, first_row};
use crate::tracer::Position;
use crate::tui::state::{App, Pane};

/// Render the program pane.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = Theme::of(app);
    let node = app.selected();
    let stop = node.and_then(|n| n.stop.as_ref());
    let title = match (node, stop) {
        (Some(n), Some(s)) => {
            let at = if s.at == Position::Before { "before" } else { "after" };
            format!("Program of {} · frozen {at} {}", n.name, s.statement)
        }
        (Some(n), None) => format!("Program of {}", n.name),
        _ => "Program".to_string(),
    };
    let name = node.map_or("", |n| n.name.as_str());
    let statements = app.stage().map_or(&[][..], |s| &s.statements[..]);
    // The names' column fits the stage's longest name, so the operators line up.
    let width = statements.iter().map(|s| s.name.chars().count()).max().unwrap_or(0);
    // ▶ marks the statement a step runs next, as gdb's `=>`: after a stop that follows a
    // statement, the one after it (the tick's first after its last), and ✓ the one that ran.
    let ran = stop.filter(|s| s.at == Position::After).map(|s| s.position);
    let next = stop.map(|s| match s.at {
        Position::Before => s.position,
        Position::After => (s.position + 1) % statements.len().max(1),
    });
    let items = statements.iter().enumerate().map(|(i, st)| {
        let here = next == Some(i);
        let bp = app.breakpoints(name, &st.name).next().is_some();
        let mark = if here {
            "▶"
        } else if ran == Some(i) {
            "✓"
        } else {
            " "
        };
        let mut spans = vec![
            Span::styled(mark, theme.bold(Color::Red)),
            Span::styled(if bp { "●" } else { " " }, theme.bold(Color::Red)),
            Span::styled(format!("{i:>3} "), theme.dim()),
            Span::styled(
                format!("{:<width$}", st.name),
                if here { theme.bold(Color::Red) } else { theme.bold(Color::Reset) },
            ),
        ];
        // The text starts with the operator: it is what the statement does.
        let (op, rest) = st.text.split_at(st.text.find(' ').unwrap_or(st.text.len()));
        spans.push(Span::styled(format!(" {op}"), theme.fg(Color::Cyan)));
        spans.push(Span::raw(rest.to_string()));
        ListItem::new(Line::from(spans))
    });
    let list = List::new(items)
        .block(block(app, Pane::Program, title))
        .highlight_style(theme.cursor(app.focus == Pane::Program).add_modifier(Modifier::empty()));
    let mut state = ListState::default()
        .with_offset(first_row(app, Pane::Program, area))
        .with_selected((!statements.is_empty()).then_some(app.statement));
    StatefulWidget::render(list, area, buf, &mut state);
}
