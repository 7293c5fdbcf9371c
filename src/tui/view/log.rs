//! The event log: what the session said, newest at the bottom, stops and errors in colour.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::{Theme, block};
use crate::tui::state::{App, LogKind, Pane};

/// Render the log pane.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = Theme::of(app);
    let lines = app.log_lines();
    let visible = (area.height as usize).saturating_sub(2);
    let end = lines.len().saturating_sub(app.log_back);
    let start = end.saturating_sub(visible);
    let text: Vec<Line> = lines[start..end]
        .iter()
        .map(|l| {
            let style = match l.kind {
                LogKind::Info => theme.fg(Color::Reset),
                LogKind::Stop => theme.bold(Color::Red),
                LogKind::Error => theme.bold(Color::LightRed),
            };
            Line::from(vec![
                Span::styled(format!("{:>7.2}s ", l.at.as_secs_f64()), theme.dim()),
                Span::styled(l.text.clone(), style),
            ])
        })
        .collect();
    let back = if app.log_back > 0 { format!(" · {} newer below", app.log_back) } else { String::new() };
    Paragraph::new(text).block(block(app, Pane::Log, format!("Log{back}"))).render(area, buf);
}
