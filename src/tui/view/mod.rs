//! Rendering: pure functions from [`App`] to a frame, one file per pane. The layout is a
//! function of the screen size and the zoomed pane alone, so the mouse handler finds the same
//! panes.

mod cabinets;
mod contexts;
mod editor;
mod help;
mod log;
mod nodes;
mod program;
mod record;
mod results;
pub(crate) mod status;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, BorderType, Borders};

use super::state::{App, Pane};

/// Where everything goes on a screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Areas {
    /// The title line.
    pub title: Rect,
    /// The panes, in [`Pane::ALL`] order.
    pub panes: [Rect; 6],
    /// The hint bar or the prompt.
    pub bottom: Rect,
}

impl Areas {
    /// A pane's area.
    pub fn pane(&self, pane: Pane) -> Rect {
        self.panes[Pane::ALL.iter().position(|p| *p == pane).unwrap_or(0)]
    }
}

/// The layout of a screen of this size, with `zoom` (if any) filling it.
pub fn layout(area: Rect, zoom: Option<Pane>) -> Areas {
    let [title, body, bottom] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1), Constraint::Length(1)]).areas(area);
    if let Some(pane) = zoom {
        // The others get no room: they draw nothing and take no clicks.
        let panes = Pane::ALL.map(|p| if p == pane { body } else { Rect::default() });
        return Areas { title, panes, bottom };
    }
    let [top, middle, log] =
        Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(35), Constraint::Fill(1)])
            .areas(body);
    // Narrow screens give the nodes (their states and reasons) the larger share.
    let share = if area.width < 120 { 60 } else { 55 };
    let [nodes, program] =
        Layout::horizontal([Constraint::Percentage(share), Constraint::Fill(1)]).areas(top);
    let [cabinets, contexts, results] =
        Layout::horizontal([Constraint::Percentage(32), Constraint::Percentage(24), Constraint::Fill(1)])
            .areas(middle);
    Areas { title, panes: [nodes, program, cabinets, contexts, results, log], bottom }
}

/// Draw the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    render(app, frame.area(), frame.buffer_mut());
}

/// Render the whole screen into a buffer.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let areas = layout(area, app.zoomed());
    status::title(app, areas.title, buf);
    for pane in Pane::ALL {
        let rect = areas.pane(pane);
        if !rect.is_empty() {
            render_pane(app, pane, rect, buf);
        }
    }
    status::bottom(app, areas.bottom, buf);
    if let Some(editor) = &app.editor {
        editor::render(app, editor, area, buf);
    }
    if app.record {
        record::render(app, area, buf);
    }
    if let Some((lines, scroll, column)) = &app.life {
        record::render_life(app, lines, (*scroll, *column), area, buf);
    }
    if app.help {
        help::render(app, area, buf);
    }
}

/// Render one pane into `area`.
pub fn render_pane(app: &App, pane: Pane, area: Rect, buf: &mut Buffer) {
    match pane {
        Pane::Nodes => nodes::render(app, area, buf),
        Pane::Program => program::render(app, area, buf),
        Pane::Cabinets => cabinets::render(app, area, buf),
        Pane::Contexts => contexts::render(app, area, buf),
        Pane::Results => results::render(app, area, buf),
        Pane::Log => log::render(app, area, buf),
    }
}

/// The first row a list pane shows when its cursor is at `selected` (the mouse maps clicks
/// with it).
pub fn first_row(app: &App, pane: Pane, area: Rect) -> usize {
    let header = usize::from(pane != Pane::Program);
    let visible = (area.height as usize).saturating_sub(2 + header).max(1);
    let selected = match pane {
        Pane::Nodes => app.listed_nodes().iter().position(|&i| i == app.node).unwrap_or(0),
        // At a stop after the cursor's statement, the next one (▶, what a step runs) shows too.
        Pane::Program => {
            let stop = app.selected().and_then(|n| n.stop.as_ref());
            let len = app.stage().map_or(0, |s| s.statements.len());
            match stop {
                Some(s) if s.at == crate::tracer::Position::After && s.position == app.statement => {
                    (app.statement + 1).min(len.saturating_sub(1))
                }
                _ => app.statement,
            }
        }
        Pane::Cabinets => app.cabinet,
        Pane::Contexts => app.context,
        Pane::Results => app.result,
        Pane::Log => 0,
    };
    offset(selected, visible)
}

/// `text` cut to `width` columns, its last one an ellipsis when it did not fit (a table cell
/// cut bare reads as running on into the next column).
pub fn fit(text: &str, width: usize) -> String {
    use unicode_truncate::UnicodeTruncateStr;
    match text.unicode_truncate(width) {
        (whole, _) if whole.len() == text.len() => text.to_string(),
        _ => format!("{}…", text.unicode_truncate(width.saturating_sub(1)).0),
    }
}

/// The first visible row that keeps `selected` in a window of `visible` rows.
fn offset(selected: usize, visible: usize) -> usize {
    (selected + 1).saturating_sub(visible)
}

/// Styles, with colour only when it is wanted (`NO_COLOR`).
#[derive(Clone, Copy)]
struct Theme {
    color: bool,
}

impl Theme {
    fn of(app: &App) -> Self {
        Theme { color: app.color }
    }

    fn fg(self, c: Color) -> Style {
        if self.color { Style::default().fg(c) } else { Style::default() }
    }

    fn dim(self) -> Style {
        Style::default().add_modifier(Modifier::DIM)
    }

    fn bold(self, c: Color) -> Style {
        self.fg(c).add_modifier(Modifier::BOLD)
    }

    /// The row under the cursor: reversed, so it shows without colour too.
    fn cursor(self, focused: bool) -> Style {
        if focused {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default().add_modifier(Modifier::UNDERLINED)
        }
    }
}

/// A pane's frame: thick and bold when focused, so focus shows without colour.
fn block(app: &App, pane: Pane, title: String) -> Block<'static> {
    let focused = app.focus == pane && app.editor.is_none() && !app.help && !app.record && app.life.is_none();
    let theme = Theme::of(app);
    let filter = app.filters.get(&pane).map(|f| format!(" /{f}")).unwrap_or_default();
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(if focused { BorderType::Thick } else { BorderType::Plain })
        .border_style(if focused { theme.bold(Color::Cyan) } else { theme.dim() })
        .title(format!(" {title}{filter} "))
        .title_style(if focused {
            theme.bold(Color::Cyan)
        } else {
            Style::default().add_modifier(Modifier::BOLD)
        });
    if app.zoomed() == Some(pane) { block.title_bottom(" z: back to all panes ") } else { block }
}

/// An overlay's frame: double-lined, so it stands out without colour too.
fn overlay(app: &App, title: String, bottom: impl Into<ratatui::text::Line<'static>>) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(Theme::of(app).bold(Color::Yellow))
        .title(title)
        .title_bottom(bottom)
}

/// The header row of an overlay's table.
fn overlay_header<const N: usize>(app: &App, names: [&'static str; N]) -> ratatui::widgets::Row<'static> {
    ratatui::widgets::Row::new(names)
        .style(Theme::of(app).bold(Color::Yellow).add_modifier(Modifier::UNDERLINED))
}

/// A centred rectangle of at most `w` × `h` inside `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

/// A count in a few characters: 950, 12.3k, 4.1M.
/// A count exact while it fits `width` characters (a debugger shows 1024 → 1017 as it is),
/// shortened past that.
fn count(n: u64, width: usize) -> String {
    let exact = n.to_string();
    if exact.len() <= width { exact } else { short(n) }
}

fn short(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}
