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
        let stamp = format!("{:>7.2}s ", l.at.as_secs_f64());
        (wrap_words(&l.text, width).into_iter().enumerate())
            .map(|(i, piece)| {
                let lead = if i == 0 { stamp.clone() } else { " ".repeat(STAMP) };
                Line::from(vec![Span::styled(lead, theme.dim()), Span::styled(piece, style)])
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

/// `text` in lines of at most `width` characters, broken between words (the spaces inside a
/// line kept: aligned columns stay aligned); a word longer than a line (a path) starts where it
/// stands and is cut where each line ends. Never no line.
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut len = 0;
    for piece in text.split_inclusive(' ') {
        let word: Vec<char> = piece.trim_end_matches(' ').chars().collect();
        let spaces = piece.len() - piece.trim_end_matches(' ').len();
        if len > 0 && len + word.len() > width && (word.len() <= width || len >= width) {
            lines.push(std::mem::take(&mut line).trim_end().to_string());
            len = 0;
        }
        let mut word = word.as_slice();
        while len + word.len() > width {
            let (head, tail) = word.split_at(width - len);
            line.extend(head);
            lines.push(std::mem::take(&mut line));
            (len, word) = (0, tail);
        }
        line.extend(word);
        len += word.len();
        // Spaces go between words on a line and indent the text, never start a wrapped line.
        if len > 0 || lines.is_empty() {
            let n = spaces.min(width - len);
            line.extend(std::iter::repeat_n(' ', n));
            len += n;
        }
    }
    lines.push(line.trim_end().to_string());
    lines
}

#[cfg(test)]
mod tests {
    use super::wrap_words;

    #[test]
    fn lines_break_between_words_and_only_a_long_word_is_cut() {
        assert_eq!(
            wrap_words("RATE/0 continues to the next stop", 12),
            ["RATE/0", "continues to", "the next", "stop"]
        );
        assert_eq!(
            wrap_words("in /tmp/a-very-long-path/x.trc now", 10),
            ["in /tmp/a-", "very-long-", "path/x.trc", "now"]
        );
        assert_eq!(wrap_words("", 10), [""]);
        assert_eq!(wrap_words("exactly10!", 10), ["exactly10!"]);
        assert_eq!(wrap_words("a  b", 10), ["a  b"]);
        assert_eq!(wrap_words("  form 1: x", 8), ["  form", "1: x"]);
        assert_eq!(wrap_words("abcdefghij klm", 10), ["abcdefghij", "klm"]);
        assert_eq!(wrap_words("abcdefghijklm", 5), ["abcde", "fghij", "klm"]);
    }
}
