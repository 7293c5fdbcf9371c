//! The event log: what the session said, newest at the bottom, stops and errors in colour.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::{Theme, block};
use crate::tui::state::{App, LogKind, LogLine, Pane};

/// Width of a line's time stamp (`  12.34s `); wrapped lines are indented as much.
const STAMP: usize = 9;

/// Render the log pane. Long lines wrap under their text (a stop's reason, an error listing
/// what is known), so that nothing said is cut off; the newest line is at the bottom.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = Theme::of(app);
    let lines = app.log_lines();
    let visible = (area.height as usize).saturating_sub(2);
    let width = (area.width as usize).saturating_sub(2 + STAMP).max(1);
    let wrap = |l: &LogLine| -> Vec<Line<'static>> {
        let style = match l.kind {
            LogKind::Info => theme.fg(Color::Reset),
            LogKind::Stop => theme.bold(Color::Red),
            LogKind::Error => theme.bold(Color::LightRed),
        };
        let chars: Vec<char> = l.text.chars().collect();
        let stamp = format!("{:>7.2}s ", l.at.as_secs_f64());
        if chars.is_empty() {
            return vec![Line::from(Span::styled(stamp, theme.dim()))];
        }
        (chars.chunks(width).enumerate())
            .map(|(i, piece)| {
                let lead = if i == 0 { stamp.clone() } else { " ".repeat(STAMP) };
                Line::from(vec![
                    Span::styled(lead, theme.dim()),
                    Span::styled(piece.iter().collect::<String>(), style),
                ])
            })
            .collect()
    };
    let end = lines.len().saturating_sub(app.log_back);
    let mut shown: Vec<Line> = Vec::new();
    let newer = if app.log_back > 0 && end <= visible {
        // Scrolled back near the start: the first page, from the oldest line down.
        let mut taken = 0;
        for l in &lines {
            if shown.len() >= visible {
                break;
            }
            shown.extend(wrap(l).into_iter().take(visible - shown.len()));
            taken += 1;
        }
        lines.len() - taken
    } else {
        // The page ending at `end`, filled upwards; its oldest entry may show only its end.
        for l in lines[..end].iter().rev() {
            if shown.len() >= visible {
                break;
            }
            let room = visible - shown.len();
            shown.extend(wrap(l).into_iter().rev().take(room));
        }
        shown.reverse();
        lines.len() - end
    };
    let back = if newer > 0 { format!(" · {newer} newer below") } else { String::new() };
    Paragraph::new(shown).block(block(app, Pane::Log, format!("Log{back}"))).render(area, buf);
}
