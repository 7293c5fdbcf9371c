//! The title line (what runs, how it stands) and the bottom line (hints, or the prompt).

use std::time::Duration;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget};

use super::{Theme, fit};
use crate::session::Finished;
use crate::tui::keys::{Scope, hints};
use crate::tui::state::{App, NodeRow, PromptKind};

/// The title line.
pub fn title(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = Theme::of(app);
    let stages: Vec<&str> = app.program.stages.iter().map(|s| s.name.as_str()).collect();
    let frozen: Vec<&str> = app.nodes.iter().filter(|n| n.frozen()).map(|n| n.name.as_str()).collect();
    let (state, color) = if let Some(message) = &app.failed {
        (format!("failed: {message}"), Color::Red)
    } else if app.finished.is_some() && app.replay {
        ("the replay has ended".to_string(), Color::Green)
    } else if let Some(f) = &app.finished {
        let how = if f.halted { "halted" } else { "finished" };
        (format!("{how}: {} records {}", f.records, took(f, 1)), Color::Green)
    } else if let Some(node) = &app.confirm_resume {
        (
            format!("resume {node}? it runs untraced to the end: r again to resume, any other key to go on"),
            Color::Yellow,
        )
    } else if app.confirm_halt {
        ("halt the whole run? h again to halt, any other key to go on".to_string(), Color::Yellow)
    } else if app.confirm_quit {
        (
            "q again to quit: the run is halted first, every record read stored whole".to_string(),
            Color::Yellow,
        )
    } else if app.quitting {
        ("halting, then quitting… (q again: now)".to_string(), Color::Yellow)
    } else if let [one] = frozen.as_slice()
        && let Some(row) = app.nodes.iter().find(|n| n.name == *one)
        && let Some(stop) = &row.stop
    {
        // A stop timeout counts down where it is seen first, before the long reason.
        let left = stop.timeout_ms.map(|t| format!(", goes on in {}s", seconds_left(app, row, t)));
        (
            format!(
                "{one} frozen {} {}{}: {}",
                if stop.at == crate::tracer::Position::Before { "before" } else { "after" },
                stop.statement,
                left.unwrap_or_default(),
                stop.reason
            ),
            Color::Red,
        )
    } else if !frozen.is_empty() {
        // Each frozen node with a timeout counts down beside its name.
        let named: Vec<String> = frozen
            .iter()
            .map(|name| {
                let row = app.nodes.iter().find(|n| n.name == *name);
                match row.and_then(|r| Some((r, r.stop.as_ref()?.timeout_ms?))) {
                    Some((r, t)) => format!("{name} (goes on in {}s)", seconds_left(app, r, t)),
                    None => name.to_string(),
                }
            })
            .collect();
        (format!("frozen: {}", named.join(", ")), Color::Red)
    } else {
        ("running".to_string(), Color::Green)
    };
    let forms = match app.forms.len() {
        0 => "no forms".to_string(),
        1 => "1 form".to_string(),
        n => format!("{n} forms"),
    };
    let line = Line::from(vec![
        Span::styled(
            " catar ",
            if app.color {
                theme.bold(Color::Black).bg(Color::Cyan)
            } else {
                theme.bold(Color::Reset).add_modifier(Modifier::REVERSED)
            },
        ),
        Span::raw(format!(" {} · {} · ", app.title, stages.join(" → "))),
        Span::styled(state, theme.bold(color)),
        Span::styled(format!(" · {forms}"), theme.dim()),
    ]);
    Paragraph::new(line).render(area, buf);
}

/// The bottom line: the prompt when one is up, else the keys that work here.
pub fn bottom(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = Theme::of(app);
    if let Some(p) = &app.prompt {
        let lead = match p.kind {
            PromptKind::Command => ":".to_string(),
            PromptKind::Filter(pane) => format!(
                "{} filter{}: ",
                pane.title(),
                if pane == crate::tui::state::Pane::Results { " (where)" } else { "" }
            ),
        };
        let w = lead.chars().count() as u16;
        Paragraph::new(Span::styled(lead, theme.bold(Color::Yellow))).render(area, buf);
        let input = Rect { x: area.x + w, width: area.width.saturating_sub(w), ..area };
        p.input.render(input, buf);
        // Completions or the error go on the line above, a line of their own over the pane's
        // border (text laid over it read as a torn border).
        let above = Rect { y: area.y.saturating_sub(1), height: 1, ..area };
        if p.error.is_some() || !p.completions.is_empty() {
            Clear.render(above, buf);
        }
        if let Some(e) = &p.error {
            // Cut at the screen's edge, it points to the log, which wraps it whole.
            let room = above.width.saturating_sub(1) as usize;
            let text = match fit(e, room) {
                whole if whole == *e => format!(" {e}"),
                _ => format!(" {} (see log)", fit(e, room.saturating_sub(12))),
            };
            Paragraph::new(Span::styled(text, theme.bold(Color::Red))).render(above, buf);
        } else if !p.completions.is_empty() {
            Paragraph::new(Span::styled(
                candidates(&p.completions, above.width as usize),
                theme.fg(Color::Yellow),
            ))
            .render(above, buf);
        }
        return;
    }
    let scope = if app.editor.is_some() { Scope::Editor } else { Scope::Pane(app.focus) };
    let mut spans = Vec::new();
    // Once the run (or the replay) has ended, nothing is left to step, inquire or halt; the
    // program is not a list to filter.
    let idle = |w: &str| {
        app.ended()
            && ["step", "continue", "back", "reverse-continue", "inquire", "resume", "halt"].contains(&w)
    };
    let inert = |w: &str| w == "filter" && scope == Scope::Pane(crate::tui::state::Pane::Program);
    let shown: Vec<_> = hints(scope, app.replay).into_iter().filter(|(_, w)| !idle(w) && !inert(w)).collect();
    for (key, word) in fitting(shown, area.width as usize) {
        spans.push(Span::styled(format!(" {key}"), theme.bold(Color::Cyan).add_modifier(Modifier::REVERSED)));
        spans.push(Span::styled(format!(" {word} "), Style::default()));
    }
    Paragraph::new(Line::from(spans)).render(area, buf);
}

/// As many candidates as fit in `width` columns, whole, and how many more there are.
fn candidates(all: &[String], width: usize) -> String {
    let mut line = String::new();
    for (i, c) in all.iter().enumerate() {
        let more = format!("  … {} more", all.len() - i);
        // Room kept for saying what is left, unless this is the last.
        let need = line.chars().count()
            + 2
            + c.chars().count()
            + if i + 1 < all.len() { more.chars().count() } else { 0 };
        if need > width {
            return line + &more;
        }
        line.push_str("  ");
        line.push_str(c);
    }
    line
}

/// The hints that fit in `width` columns, in order; the way out (`? help`, `q quit`) always:
/// cut at the edge, a narrow terminal hid how to leave.
fn fitting(hints: Vec<(String, &'static str)>, width: usize) -> Vec<(String, &'static str)> {
    let cost = |(k, w): &(String, &str)| k.chars().count() + w.chars().count() + 3;
    let kept = |w: &str| matches!(w, "help" | "quit");
    let mut room = width.saturating_sub(hints.iter().filter(|h| kept(h.1)).map(cost).sum());
    let mut fits = true;
    hints
        .into_iter()
        .filter(|h| {
            if kept(h.1) {
                return true;
            }
            fits = fits && cost(h) <= room;
            room = room.saturating_sub(cost(h));
            fits
        })
        .collect()
}

/// How long a run took (to `decimals` places), and how much of it was spent held at stops.
pub(crate) fn took(f: &Finished, decimals: usize) -> String {
    if f.held_seconds > 0.0 {
        format!("in {:.*} s ({:.*} s of it held at stops)", decimals, f.seconds, decimals, f.held_seconds)
    } else {
        format!("in {:.*} s", decimals, f.seconds)
    }
}

/// Whole seconds (rounded up) before a stop with a `timeout_ms` timeout lets `row` go.
fn seconds_left(app: &App, row: &NodeRow, timeout_ms: u64) -> u64 {
    let left = Duration::from_millis(timeout_ms).saturating_sub(app.now.saturating_sub(row.stopped_at));
    left.as_secs_f64().ceil() as u64
}
