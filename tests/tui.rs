//! The TUI without a terminal: views rendered through ratatui's TestBackend and compared with
//! insta snapshots (each pane and the whole screen at a stop, at 80×24 and 160×48), and what
//! keys and the mouse ask of the session.

mod common;

use std::time::Duration;

use catar::rating::RunOptions;
use catar::recorder::PipelineDesc;
use catar::session::{CabinetView, Command, Event, FormInfo, NodeState, NodeView, Snapshot};
use catar::tracer::{Cell, Position, Reason, Release, Row, Rows, Stop, TraceForm, Why};
use catar::tui::App;
use catar::tui::state::Pane;
use catar::tui::view::{layout, render, render_pane};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

/// The rating pipeline's description (from a small generated input, fixed seed).
fn program() -> PipelineDesc {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 50, 20, 1, 0.0);
    let opts = RunOptions::new(dir.path(), dir.path().join("t.db"));
    let d = catar::rating::debuggee(&opts).expect("a debuggee");
    (*d.desc).clone()
}

fn first_wife() -> TraceForm {
    TraceForm::parse(include_str!("../assets/forms/first-wife.toml"), "first-wife.toml").unwrap()
}

fn forms(hits: u64) -> Vec<FormInfo> {
    let form = first_wife();
    vec![FormInfo { id: 1, label: form.label(), hits, form }]
}

fn cabinet(name: &str, mass: i64, contexts: &[(&str, i64)]) -> CabinetView {
    CabinetView {
        cabinet: name.into(),
        mass,
        contexts: contexts.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
    }
}

fn view(node: &str, state: NodeState, steps: u64, records: u64, cabinets: Vec<CabinetView>) -> NodeView {
    NodeView {
        node: node.into(),
        state,
        steps,
        records: Some(records),
        pseudo_time: Some("2026-01-23T01:39:21Z".parse().unwrap()),
        restarts: 0,
        traced: true,
        stop: None,
        cabinets,
    }
}

fn stop(program: &PipelineDesc) -> Stop {
    let rate = program.stages.iter().find(|s| s.name == "RATE").unwrap();
    let position = rate.statements.iter().position(|s| s.name == "family").unwrap();
    Stop {
        id: 1,
        node: "RATE/1".into(),
        statement: "family".into(),
        position,
        at: Position::After,
        step: 14,
        global_step: 266,
        tick: 1,
        pseudo_time: Some("2026-01-23T01:39:21Z".parse().unwrap()),
        statement_us: 180,
        reason: Reason {
            form: Some(1),
            label: Some(first_wife().label()),
            why: Why::Arrival { cabinet: "WIFE".into(), context: None },
        },
        timeout_ms: None,
    }
}

fn rows(n: usize) -> Rows {
    let rows = (0..n)
        .map(|i| Row {
            table: "RATE_R".into(),
            reg_id: 1000 + i as u64,
            cabinet: if i % 7 == 0 { "WIFE" } else { "CONFIRMED" }.into(),
            contexts: [
                ("EVENT_ID", Cell::Text(format!("E{:05}", 31 * i % 997))),
                ("SERVICE", Cell::Text(["VOICE", "SMS", "DATA"][i % 3].into())),
                ("DURATION", Cell::Int((i as i64 * 37) % 600)),
                ("PARTY", Cell::Text(format!("+97254{:07}", i * 7919 % 10_000_000))),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        })
        .collect();
    Rows {
        node: "RATE/1".into(),
        tables: vec!["RATE_R".into()],
        reactor: None,
        cabinet: None,
        filter: None,
        total: n * 3,
        offset: 0,
        limit: n,
        rows,
    }
}

/// A session as the demo shows it: RATE/1 frozen at the first WIFE arrival, REG blocked on
/// it, DIS waiting, an inquiry answered.
fn at_stop() -> App {
    let program = program();
    let mut app = App::new("demo", true);
    let t = |ms: u64| Duration::from_millis(ms);
    let nodes = program.nodes.clone();
    app.apply(Event::Started { nodes, forms: forms(0), program: program.clone(), unrecorded: None }, t(0));
    let confirmed = [("EVENT_ID", 479), ("IMSI", 479), ("SERVICE", 479), ("PARTY", 403), ("SUBSCRIBER", 479)];
    let snapshot = |records: u64, frozen: bool| {
        Event::Snapshot(Snapshot {
            nodes: vec![
                view("REG/0", NodeState::Running, 60, records, vec![]),
                view("REG/1", NodeState::Running, 60, records, vec![]),
                view(
                    "RATE/0",
                    NodeState::Running,
                    132,
                    records / 2,
                    vec![cabinet("CONFIRMED", 211, &confirmed)],
                ),
                NodeView {
                    stop: frozen.then(|| stop(&program)),
                    // It failed twice: the restarts stay in sight.
                    restarts: 2,
                    ..view(
                        "RATE/1",
                        NodeState::Running,
                        14,
                        records / 2,
                        vec![
                            cabinet("CONFIRMED", 1017, &confirmed),
                            cabinet("WIFE", 20, &[("WIFE_NAME", 20)]),
                        ],
                    )
                },
                view("DIS/0", NodeState::Running, 0, 0, vec![]),
                view("DIS/1", NodeState::Running, 0, 0, vec![]),
            ],
            forms: forms(u64::from(frozen)),
            finished: false,
        })
    };
    app.apply(snapshot(0, false), t(250));
    app.apply(snapshot(500, false), t(500));
    app.apply(snapshot(1500, false), t(750));
    app.apply(Event::Stopped(stop(&program)), t(800));
    for (node, state) in [
        ("REG/0", NodeState::Blocked { on: "RATE/1".into() }),
        ("REG/1", NodeState::Blocked { on: "RATE/1".into() }),
        ("RATE/0", NodeState::Blocked { on: "DIS/0".into() }),
        ("DIS/0", NodeState::Waiting { on: "RATE/1".into() }),
        ("DIS/1", NodeState::Waiting { on: "RATE/1".into() }),
    ] {
        app.apply(Event::State { node: node.into(), state }, t(850));
    }
    app.apply(snapshot(1500, true), t(1000));
    app.apply(Event::Rows(rows(40)), t(1200));
    app
}

/// A buffer's text, one line a row.
fn text(buf: &Buffer) -> String {
    let area = buf.area;
    (area.top()..area.bottom())
        .map(|y| {
            (area.left()..area.right())
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| catar::tui::view::draw(f, app)).unwrap();
    text(terminal.backend().buffer())
}

#[test]
fn a_stop_with_a_timeout_counts_down_in_the_title() {
    let program = program();
    let mut app = at_stop();
    let title = |app: &App| screen(app, 160, 30).lines().next().unwrap().to_string();
    assert!(!title(&app).contains("goes on in"), "no timeout, no countdown: {}", title(&app));
    let stop = Stop { id: 2, timeout_ms: Some(30_000), ..stop(&program) };
    app.apply(Event::Stopped(stop.clone()), Duration::from_secs(10));
    app.now = Duration::from_millis(22_300);
    assert!(
        title(&app).contains("RATE/1 frozen after family, goes on in 18s: WIFE arrived"),
        "{}",
        title(&app)
    );
    app.now = Duration::from_secs(45);
    assert!(title(&app).contains("goes on in 0s"), "{}", title(&app));
    // Two frozen: each with a timeout counts down beside its name.
    let other = Stop { id: 3, node: "RATE/0".into(), timeout_ms: Some(6_000), ..stop.clone() };
    app.apply(Event::Stopped(other), Duration::from_secs(50));
    app.now = Duration::from_millis(52_500);
    let t = title(&app);
    assert!(t.contains("frozen: RATE/0 (goes on in 4s), RATE/1 (goes on in 0s)"), "{t}");
}

#[test]
fn whole_screen_at_a_stop() {
    let app = at_stop();
    for (w, h) in SIZES {
        let s = screen(&app, w, h);
        assert!(s.contains("frozen after family"), "{s}");
        insta::assert_snapshot!(format!("screen_{w}x{h}"), s);
    }
}

#[test]
fn each_pane_at_a_stop() {
    let app = at_stop();
    for (w, h) in SIZES {
        let areas = layout(Rect::new(0, 0, w, h), None);
        for pane in Pane::ALL {
            let r = areas.pane(pane);
            let mut buf = Buffer::empty(Rect::new(0, 0, r.width, r.height));
            render_pane(&app, pane, buf.area, &mut buf);
            insta::assert_snapshot!(format!("pane_{}_{w}x{h}", pane.title().to_lowercase()), text(&buf));
        }
    }
}

#[test]
fn help_and_editor_overlays() {
    let mut app = at_stop();
    let area = Rect::new(0, 0, 80, 24);
    app.act(catar::tui::keys::Action::Help, area);
    insta::assert_snapshot!("help_80x24", screen(&app, 80, 24));
    // End shows the last page whole (not one line), g goes back to the top, and neither
    // closes the help.
    app.key(key('G'), area);
    assert!(app.help && app.help_scroll > 0);
    let end = screen(&app, 80, 24);
    assert!(end.contains("previous command") && !end.contains("more"), "{end}");
    assert!(end.contains(&format!("Keys · ↑ {} above", app.help_scroll)), "what is above is counted: {end}");
    app.key(code(KeyCode::Down), area);
    assert_eq!(screen(&app, 80, 24), end, "nothing past the last page");
    app.key(key('g'), area);
    assert_eq!(app.help_scroll, 0);
    // A wide terminal shows the longest line whole.
    let entries = catar::tui::keys::help();
    let (at, longest) =
        entries.iter().enumerate().max_by_key(|(_, e)| e.2.len()).map(|(i, e)| (i, e.2)).unwrap();
    app.help_scroll = at;
    assert!(screen(&app, 160, 48).contains(longest), "{longest:?} cut");
    app.help_scroll = 0;
    app.act(catar::tui::keys::Action::Help, area);
    assert!(!app.help, "any key closes the help");
    app.key(key('f'), area);
    insta::assert_snapshot!("editor_80x24", screen(&app, 80, 24));
}

#[test]
fn every_size_from_tiny_to_huge_renders_without_panic() {
    let mut app = at_stop();
    for (w, h) in [(1, 1), (10, 5), (40, 12), (79, 23), (80, 24), (120, 30), (300, 100)] {
        let mut buf = Buffer::empty(Rect::new(0, 0, w, h));
        render(&app, buf.area, &mut buf);
        app.help = true;
        render(&app, buf.area, &mut buf);
        app.help = false;
        // The editor and the command line (with an error above it) at every size too.
        app.key(key('f'), buf.area);
        render(&app, buf.area, &mut buf);
        app.key(code(KeyCode::Esc), buf.area);
        app.key(key(':'), buf.area);
        typed(&mut app, "nonsense", buf.area);
        app.key(code(KeyCode::Enter), buf.area);
        render(&app, buf.area, &mut buf);
        app.key(code(KeyCode::Esc), buf.area);
    }
}

#[test]
fn no_color_leaves_every_cell_uncoloured() {
    let mut app = at_stop();
    app.color = false;
    let mut buf = Buffer::empty(Rect::new(0, 0, 160, 48));
    render(&app, buf.area, &mut buf);
    let coloured = buf
        .content
        .iter()
        .filter(|c| c.fg != ratatui::style::Color::Reset || c.bg != ratatui::style::Color::Reset);
    assert_eq!(coloured.count(), 0);
    app.color = true;
    render(&app, buf.area, &mut buf);
    assert!(buf.content.iter().any(|c| c.fg != ratatui::style::Color::Reset));
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(k: KeyCode) -> KeyEvent {
    KeyEvent::new(k, KeyModifiers::NONE)
}

fn typed(app: &mut App, text: &str, area: Rect) {
    for c in text.chars() {
        assert!(app.key(key(c), area).is_empty());
    }
}

#[test]
fn keys_act_on_the_frozen_node() {
    let mut app = at_stop();
    let area = Rect::new(0, 0, 80, 24);
    // The stop selected the frozen node, as a debugger switches to the thread that hit.
    assert_eq!(app.selected().unwrap().name, "RATE/1");
    assert_eq!(app.key(key('s'), area), vec![Command::Step { node: "RATE/1".into(), count: 1 }]);
    assert_eq!(app.key(key('c'), area), vec![Command::Continue { node: Some("RATE/1".into()) }]);
    // Resuming stops tracing the node for good: the first `r` asks, another key cancels.
    assert!(app.key(key('r'), area).is_empty());
    assert!(screen(&app, 120, 30).contains("resume RATE/1? it runs untraced to the end"));
    assert!(app.key(key('j'), area).is_empty());
    assert!(app.key(key('r'), area).is_empty());
    assert_eq!(app.key(key('r'), area), vec![Command::Resume { node: "RATE/1".into() }]);
    // `/` in the program pane (which has no filter) says so: the keys after it stay keys.
    app.focus = Pane::Program;
    assert!(app.key(key('/'), area).is_empty());
    assert!(app.prompt.is_none());
    app.focus = Pane::Nodes;
    // Halting ends the run for good: the first `h` asks, another key cancels, `h h` halts.
    assert!(app.key(key('h'), area).is_empty());
    assert!(screen(&app, 80, 24).contains("h again to halt"));
    assert!(app.key(key('j'), area).is_empty());
    assert!(!app.confirm_halt);
    assert!(app.key(key('h'), area).is_empty());
    assert_eq!(app.key(key('h'), area), vec![Command::Halt]);
    let Command::Inquire { node, filter, offset, .. } = &app.key(key('i'), area)[0] else { panic!() };
    assert_eq!((node.as_str(), filter, *offset), ("RATE/1", &None, 0));
    assert_eq!(app.focus, Pane::Results);
    // A node that is not frozen cannot step: nothing is sent, the log says why.
    app.focus = Pane::Nodes;
    app.key(code(KeyCode::Home), area);
    assert_eq!(app.selected().unwrap().name, "REG/0");
    app.nodes[3].stop = None;
    assert!(app.key(key('s'), area).is_empty());
    assert!(app.log.back().unwrap().text.contains("REG/0 is not frozen"));
}

#[test]
fn pasted_text_and_ctrl_c_never_act_as_keys_and_quitting_a_live_run_asks() {
    let mut app = at_stop();
    let area = Rect::new(0, 0, 80, 24);
    // Pasted where nothing takes text: refused, not run key by key (`s` would step).
    app.paste("nodes\nstep\n");
    assert!(app.log.back().unwrap().text.contains("pasted text not taken"));
    // Into the command line: one line, run only by enter.
    assert!(app.key(key(':'), area).is_empty());
    app.paste("inquire RATE/1\nlimit 5\n");
    let line = app.prompt.as_ref().unwrap().input.lines().join("");
    assert_eq!(line, "inquire RATE/1 limit 5");
    // Ctrl-C leaves the line, and only the line.
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(app.key(ctrl_c, area).is_empty());
    assert!(app.prompt.is_none() && !app.quitting);
    // In the form editor it is esc: edits are asked about, not dropped.
    assert!(app.key(key('f'), area).is_empty());
    app.paste("once = true\n");
    assert!(app.key(ctrl_c, area).is_empty());
    assert!(app.editor.as_ref().unwrap().error.as_deref().unwrap().contains("unsaved edits"));
    assert!(app.key(ctrl_c, area).is_empty());
    assert!(app.editor.is_none() && !app.quitting);
    // `q` over a live run asks; another key goes on; `q q` halts and quits (as Ctrl-C twice).
    // Over an overlay `q` closes it, as its footer says any key does (a replay's `q` left at
    // once, its place lost).
    app.help = true;
    assert!(app.key(key('j'), area).is_empty(), "j scrolls the help");
    assert!(app.key(key('q'), area).is_empty());
    assert!(!app.help && !app.confirm_quit, "q closed the overlay");
    assert!(app.key(key('q'), area).is_empty());
    assert!(screen(&app, 100, 30).contains("q again to quit: the run is halted first"));
    assert!(app.key(key('j'), area).is_empty());
    assert!(!app.quitting);
    assert!(app.key(ctrl_c, area).is_empty());
    assert_eq!(app.key(ctrl_c, area), vec![Command::Halt]);
    assert!(app.quitting);
}

#[test]
fn a_replay_moves_backwards_and_its_hint_bar_says_so() {
    let mut app = at_stop();
    let area = Rect::new(0, 0, 120, 30);
    let live = screen(&app, 120, 30);
    assert!(live.contains("resume") && !live.contains("reverse"), "{live}");
    assert!(
        app.key(KeyEvent::new(KeyCode::Char('S'), KeyModifiers::SHIFT), area)
            == vec![Command::Back { node: Some("RATE/1".into()), count: 1 }]
    );
    app.replay = true;
    let replay = screen(&app, 120, 30);
    assert!(
        replay.contains("back") && replay.contains("reverse") && !replay.contains(" resume "),
        "{replay}"
    );
    assert!(live.contains("records/s") && !replay.contains("records/s"), "a replay has no rates:\n{replay}");
    assert_eq!(app.key(key('R'), area), vec![Command::ReverseContinue]);
    assert_eq!(app.key(key('S'), area), vec![Command::Back { node: Some("RATE/1".into()), count: 1 }]);
    // One cursor: `c` goes to the next stop of any node (naming one would pass the others').
    assert_eq!(app.key(key('c'), area), vec![Command::Continue { node: None }]);
    // A replay has no run to halt: `h` says so (it once ended the replay, its nodes then shown
    // in states the trace never had) and the hint bar does not offer it.
    assert!(!replay.contains(" halt "), "{replay}");
    assert!(app.key(key('h'), area).is_empty() && app.key(key('h'), area).is_empty());
    assert!(app.log_lines().last().unwrap().text.contains("a replay has nothing to halt"));
    // A replay ended otherwise (a script's `halt`, a cut file) leaves no node frozen at the
    // cursor, and what it says of the trace is logged.
    let ended = catar::session::Finished {
        records: 0,
        halted: true,
        seconds: 0.0,
        summary: vec!["cut.trace holds no recorded step (the file was cut before its first step)".into()],
        trace: None,
        ..Default::default()
    };
    app.apply(Event::Finished(ended), Duration::from_secs(9));
    let s = screen(&app, 120, 30);
    assert!(s.contains("the replay has ended") && !s.contains("0 records") && !s.contains("frozen"), "{s}");
    assert!(s.contains("the file was cut before its first step"), "{s}");
}

#[test]
fn breakpoints_toggle_on_the_statement_under_the_cursor() {
    let mut app = at_stop();
    let area = Rect::new(0, 0, 80, 24);
    app.key(code(KeyCode::Tab), area);
    assert_eq!(app.focus, Pane::Program);
    let sent = app.key(key('b'), area);
    let [Command::AddForm { form }] = sent.as_slice() else { panic!("{sent:?}") };
    assert_eq!(form.statement.as_deref(), Some("family"));
    assert_eq!(form.nodes.as_deref(), Some("RATE"));
    let mut infos = app.forms.clone();
    infos.push(FormInfo { id: 2, label: form.label(), hits: 0, form: form.clone() });
    app.apply(Event::Forms { forms: infos }, Duration::from_secs(2));
    // Stopped after `family`: ✓ the statement that ran (▶ is the next, which a step runs).
    assert!(screen(&app, 80, 24).contains("✓●"), "the breakpoint shows on the statement");
    assert_eq!(app.key(key('b'), area), vec![Command::DeleteForm { id: 2 }]);
    // Another node's breakpoint is not this node's: no mark, and `b` adds one, never deletes it.
    let mut infos = app.forms.clone();
    infos.retain(|f| f.id != 2);
    infos.push(FormInfo {
        id: 4,
        label: "other".into(),
        hits: 0,
        form: TraceForm { nodes: Some("RATE/0".into()), ..form.clone() },
    });
    app.apply(Event::Forms { forms: infos }, Duration::from_secs(2));
    app.pending_break = None;
    assert!(!screen(&app, 80, 24).contains("✓●"), "RATE/0's breakpoint shows on RATE/1");
    assert!(matches!(app.key(key('b'), area).as_slice(), [Command::AddForm { .. }]));
    app.pending_break = None;
    // A one-shot breakpoint that fired stops nothing any more: no mark.
    let mut infos = app.forms.clone();
    infos.retain(|f| f.id != 4);
    infos.push(FormInfo {
        id: 3,
        label: "tbreak".into(),
        hits: 1,
        form: TraceForm { once: true, ..form.clone() },
    });
    app.apply(Event::Forms { forms: infos }, Duration::from_secs(3));
    assert!(!screen(&app, 80, 24).contains("✓●"), "a spent one-shot breakpoint shows no mark");
}

#[test]
fn the_command_line_takes_script_words_with_history_and_completion() {
    let mut app = at_stop();
    let area = Rect::new(0, 0, 80, 24);
    app.key(key(':'), area);
    typed(&mut app, "ste", area);
    assert!(app.key(code(KeyCode::Tab), area).is_empty());
    typed(&mut app, "2", area);
    assert_eq!(app.key(code(KeyCode::Enter), area), vec![Command::Step { node: "RATE/1".into(), count: 2 }]);
    assert!(app.prompt.is_none());
    // A wrong line stays on the prompt with its error.
    app.key(key(':'), area);
    typed(&mut app, "stpe", area);
    assert!(app.key(code(KeyCode::Enter), area).is_empty());
    let error = app.prompt.as_ref().unwrap().error.clone().unwrap();
    assert!(error.contains("stpe"));
    let s = screen(&app, 80, 24);
    assert!(s.contains("stpe"));
    // Too long for the line above the prompt: cut there, whole in the log (which wraps).
    assert!(error.chars().count() > 80 && s.contains("… (see log)"), "{s}");
    assert_eq!(app.log.back().unwrap().text, format!("error: :stpe: {error}"));
    // Selected: a new line typed over it replaces it, and `:` (the habit of opening the
    // command line) starts an empty one rather than joining the failed text.
    typed(&mut app, "step", area);
    assert_eq!(app.prompt.as_ref().unwrap().input.lines().join(""), "step");
    assert!(app.key(code(KeyCode::Enter), area).len() == 1);
    app.key(key(':'), area);
    typed(&mut app, "stpe", area);
    app.key(code(KeyCode::Enter), area);
    app.key(key(':'), area);
    let p = app.prompt.as_ref().unwrap();
    assert_eq!((p.input.lines().join(""), p.error.is_none()), (String::new(), true));
    app.key(code(KeyCode::Esc), area);
    // History walks back to the earlier lines: stpe, step, stpe, step 2.
    app.key(key(':'), area);
    for _ in 0..4 {
        app.key(code(KeyCode::Up), area);
    }
    assert_eq!(app.key(code(KeyCode::Enter), area), vec![Command::Step { node: "RATE/1".into(), count: 2 }]);
    app.key(key(':'), area);
    typed(&mut app, "inquire RATE/1 where SERVICE = 'VOICE'", area);
    let sent = app.key(code(KeyCode::Enter), area);
    let [Command::Inquire { filter: Some(f), .. }] = sent.as_slice() else { panic!("{sent:?}") };
    assert_eq!(f, "SERVICE = 'VOICE'");
    assert_eq!(app.focus, Pane::Results);
    // `nodes` refreshes the nodes pane and sends the eye there (it printed nothing).
    app.key(key(':'), area);
    typed(&mut app, "nodes", area);
    assert_eq!(app.key(code(KeyCode::Enter), area), vec![Command::Snapshot]);
    assert_eq!(app.focus, Pane::Nodes);
    assert!(screen(&app, 80, 24).contains("the nodes pane shows them"));
    // Several candidates: a line of their own above the prompt (over the log's border, not
    // laid on it), cut whole with how many more there are.
    app.key(key(':'), area);
    typed(&mut app, "inquire ", area);
    app.key(code(KeyCode::Tab), area);
    let all = app.prompt.as_ref().unwrap().completions.clone();
    assert!(all.len() > 3, "{all:?}");
    let s = screen(&app, 80, 24);
    let above = s.lines().rev().nth(1).unwrap();
    assert!(above.starts_with(&format!("  {}  {}", all[0], all[1])) && !above.contains('─'), "{above}");
    let narrow = screen(&app, 30, 24);
    let above = narrow.lines().rev().nth(1).unwrap().trim_end();
    assert!(above.ends_with(" more") && !above.contains('─'), "{above}");
    let shown = above.split("  ").filter(|w| !w.is_empty() && !w.starts_with('…')).count();
    assert!(above.ends_with(&format!("… {} more", all.len() - shown)), "{above}: {all:?}");
    app.key(code(KeyCode::Esc), area);
    // What is typed before ↑ picks the lines walked; ↓ past the newest gives it back.
    app.key(key(':'), area);
    typed(&mut app, "inq", area);
    let line = |app: &App| app.prompt.as_ref().unwrap().input.lines().join("");
    app.key(code(KeyCode::Up), area);
    assert_eq!(line(&app), "inquire RATE/1 where SERVICE = 'VOICE'");
    app.key(code(KeyCode::Up), area);
    assert_eq!(line(&app), "inquire RATE/1 where SERVICE = 'VOICE'", "the only line starting so");
    app.key(code(KeyCode::Down), area);
    assert_eq!(line(&app), "inq");
    app.key(code(KeyCode::Esc), area);
    // Every word completes, a replay's too.
    app.replay = true;
    app.key(key(':'), area);
    typed(&mut app, "go", area);
    app.key(code(KeyCode::Tab), area);
    typed(&mut app, "12", area);
    assert_eq!(app.key(code(KeyCode::Enter), area), vec![Command::Goto { step: 12 }]);
    // `:q` and `:help` do what `q` and `?` do; over a live run quitting asks first.
    app.replay = false;
    app.key(key(':'), area);
    typed(&mut app, "help", area);
    assert!(app.key(code(KeyCode::Enter), area).is_empty() && app.help && app.prompt.is_none());
    app.key(code(KeyCode::Esc), area);
    app.key(key(':'), area);
    typed(&mut app, "q", area);
    assert!(app.key(code(KeyCode::Enter), area).is_empty());
    assert!(screen(&app, 80, 24).contains("q again to quit"));
    assert_eq!(app.key(key('q'), area), vec![Command::Halt]);
    // Ctrl-U deletes the line before the cursor, as in readline (it was the text area's undo).
    app.key(key(':'), area);
    typed(&mut app, "stpe 3", area);
    app.key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL), area);
    typed(&mut app, "when", area);
    assert_eq!(app.prompt.as_ref().unwrap().input.lines().join(""), "when");
}

#[test]
fn results_sort_filter_and_page() {
    let mut app = at_stop();
    let area = Rect::new(0, 0, 160, 48);
    app.focus = Pane::Results;
    // `[` from unsorted sorts by the first column too (the last may be off screen), and
    // from there goes back round to the last.
    app.key(key('['), area);
    assert_eq!(app.results.as_ref().unwrap().sort, Some((0, false)));
    app.key(key('['), area);
    let last = app.results.as_ref().unwrap().columns.len() - 1;
    assert_eq!(app.results.as_ref().unwrap().sort, Some((last, false)));
    app.key(key(']'), area);
    assert_eq!(app.results.as_ref().unwrap().sort, Some((0, false)));
    app.key(key(']'), area);
    // Sorted by reg_id descending after `o`.
    app.key(key('o'), area);
    let r = app.results.as_ref().unwrap();
    assert_eq!(r.sort, Some((1, true)));
    assert_eq!(r.cell(r.order[0], 1), "1039");
    // Sorting orders the page the node sent, and says so when more rows match.
    assert!(screen(&app, 160, 48).contains("sorted within these 40"));
    // DURATION sorts as a number, not as text.
    let duration = r.columns.iter().position(|c| c == "DURATION").unwrap();
    app.results.as_mut().unwrap().sort_by(duration, false);
    let r = app.results.as_ref().unwrap();
    let values: Vec<i64> = r.order.iter().map(|&i| r.cell(i, duration).parse().unwrap()).collect();
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
    // `/` in the results is a where condition the node answers.
    app.key(key('/'), area);
    typed(&mut app, "DURATION > 100", area);
    let sent = app.key(code(KeyCode::Enter), area);
    let [Command::Inquire { filter: Some(f), .. }] = sent.as_slice() else { panic!("{sent:?}") };
    assert_eq!(f, "DURATION > 100");
    // A condition the node refuses does not stay in force: the one answered before does.
    let filtered = || Rows { filter: Some("DURATION > 100".into()), ..rows(40) };
    app.apply(Event::Rows(filtered()), Duration::from_secs(3));
    app.key(key('/'), area);
    typed(&mut app, " >> 5", area);
    app.key(code(KeyCode::Enter), area);
    app.apply(Event::Error { message: "`>>` is not supported".into(), line: None }, Duration::from_secs(3));
    let sent = app.key(key('i'), area);
    let [Command::Inquire { filter: Some(f), .. }] = sent.as_slice() else { panic!("{sent:?}") };
    assert_eq!(f, "DURATION > 100", "back to the filter in force before");
    // An error once the answer came leaves the filter alone.
    app.apply(Event::Rows(filtered()), Duration::from_secs(3));
    app.apply(Event::Error { message: "something else".into(), line: None }, Duration::from_secs(3));
    let sent = app.key(key('i'), area);
    let [Command::Inquire { filter: Some(f), .. }] = sent.as_slice() else { panic!("{sent:?}") };
    assert_eq!(f, "DURATION > 100");
    // Rows asked without it (`:inquire RATE/1` on the command line) drop it: the title said
    // it was on over unfiltered rows, and the next `i` brought it back unasked.
    app.apply(Event::Rows(rows(40)), Duration::from_secs(3));
    assert!(!screen(&app, 160, 48).contains("DURATION > 100"));
    let sent = app.key(key('i'), area);
    assert!(matches!(sent.as_slice(), [Command::Inquire { filter: None, .. }]), "{sent:?}");
    app.apply(Event::Rows(filtered()), Duration::from_secs(3));
    // Enter shows the row under the cursor whole; a key other than the arrows closes it.
    app.key(code(KeyCode::Enter), area);
    assert!(app.record);
    let s = screen(&app, 80, 24);
    assert!(s.contains("PARTY") && s.contains("+97254"), "{s}");
    app.key(key('j'), area);
    assert!(app.record, "j scrolls (the record fits: it stays put)");
    app.key(key('x'), area);
    assert!(!app.record);
    // A screen lower than the record scrolls it, saying what is below (PARTY: the last of its
    // four contexts).
    let low = Rect::new(0, 0, 80, 6);
    app.key(code(KeyCode::Enter), low);
    let s = screen(&app, 80, 6);
    assert!(s.contains("↓ 1 more") && s.contains("DURATION") && !s.contains("PARTY"), "{s}");
    app.key(code(KeyCode::Down), low);
    let s = screen(&app, 80, 6);
    assert!(s.contains("PARTY") && !s.contains("EVENT_ID") && !s.contains("more"), "{s}");
    app.key(key('x'), low);
    assert!(!app.record);
    // H asks the session for the row's history; its answer opens over the screen.
    let sent = app.key(KeyEvent::new(KeyCode::Char('H'), KeyModifiers::SHIFT), area);
    let [Command::History { id }] = sent.as_slice() else { panic!("{sent:?}") };
    assert!(id.starts_with("reg_id="), "{id}");
    let history = catar::replay::History {
        id: id.clone(),
        records: vec![1000],
        touches: vec![],
        partial: true,
        metrics: catar::replay::Metrics::default(),
    };
    app.apply(Event::History(history), Duration::from_secs(4));
    let s = screen(&app, 160, 48);
    assert!(s.contains(&format!("{id}: 1 record(s)")) && s.contains("may not be here yet"), "{s}");
    // A replay's trace is written whole: no step of it waits in a buffer.
    app.replay = true;
    assert!(!screen(&app, 160, 48).contains("may not be here yet"));
    // It holds the record's future too: a line says where the cursor (after global 266) is.
    let touch = |global_step: u64| catar::replay::Touch {
        global_step,
        node: "RATE/1".into(),
        step: global_step,
        tick: 0,
        statement: "family".into(),
        pseudo_time: None,
        table: "RATE_R".into(),
        reg_id: 1000,
        before: "CONFIRMED".into(),
        after: "CONFIRMED".into(),
        set: Default::default(),
        contexts: Default::default(),
        undone: None,
    };
    let touches = vec![touch(10), touch(266), touch(300)];
    let history = catar::replay::History {
        id: id.clone(),
        records: vec![1000],
        touches,
        partial: false,
        metrics: Default::default(),
    };
    app.apply(Event::History(history), Duration::from_secs(4));
    let lines = &app.life.as_ref().unwrap().0;
    let at = |text: &str| lines.iter().position(|l| l.trim_start().starts_with(text)).unwrap();
    let here = at("──── the replay stands here: RATE/1 at global step 266");
    assert!(at("266 ") < here && here < at("300 "), "{lines:#?}");
    app.life = None;
    app.replay = false;
    // Its lines are wider than the screen: → scrolls across (it does not close it).
    app.life = Some((vec!["title".into(), format!("{}END", "x".repeat(300))], 0, 0));
    assert!(!screen(&app, 160, 48).contains("END"));
    for _ in 0..4 {
        app.key(code(KeyCode::Right), area);
    }
    assert!(app.life.is_some() && screen(&app, 160, 48).contains("END"));
    app.key(code(KeyCode::Left), area);
    assert_eq!(app.life.as_ref().map(|l| l.2 > 0), Some(true));
    app.key(key('x'), area);
    assert!(app.life.is_none());
    // The next page starts where this one ends; there is one since total > rows.
    let sent = app.key(key('n'), area);
    let [Command::Inquire { offset: 40, limit: Some(40), .. }] = sent.as_slice() else { panic!("{sent:?}") };
    // Pages keep the size the inquiry asked for (`inquire … limit 3 offset 2`), both ways.
    let small = Rows { offset: 2, limit: 3, ..rows(3) };
    app.apply(Event::Rows(small), Duration::from_secs(2));
    let sent = app.key(key('n'), area);
    let [Command::Inquire { offset: 5, limit: Some(3), .. }] = sent.as_slice() else { panic!("{sent:?}") };
    let sent = app.key(key('p'), area);
    let [Command::Inquire { offset: 0, limit: Some(3), .. }] = sent.as_slice() else { panic!("{sent:?}") };
    // Past the last page: said, not silent.
    let last = Rows { offset: 6, limit: 3, total: 9, ..rows(3) };
    app.apply(Event::Rows(last), Duration::from_secs(2));
    assert!(app.key(key('n'), area).is_empty());
    assert!(app.log.back().unwrap().text.contains("this is the last page of rows"));
}

#[test]
fn i_on_a_cabinet_inquires_its_records_and_their_pages_keep_to_it() {
    let mut app = at_stop();
    let area = Rect::new(0, 0, 160, 48);
    app.focus = Pane::Cabinets;
    app.key(key('j'), area);
    assert_eq!(app.selected_cabinet().unwrap().name, "WIFE");
    let sent = app.key(key('i'), area);
    let [Command::Inquire { node, reactor: Some(r), offset: 0, .. }] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!((node.as_str(), r.as_str()), ("RATE/1", "WIFE"));
    let wife = Rows { reactor: Some("WIFE".into()), cabinet: Some("WIFE".into()), ..rows(40) };
    app.apply(Event::Rows(wife), Duration::from_secs(2));
    assert!(screen(&app, 160, 48).contains("Results of RATE/1 WIFE"));
    // The next page, a filter, a refresh: the same cabinet's rows.
    let sent = app.key(key('n'), area);
    let [Command::Inquire { reactor: Some(r), offset: 40, .. }] = sent.as_slice() else { panic!("{sent:?}") };
    assert_eq!(r, "WIFE");
    app.key(key('/'), area);
    typed(&mut app, "DURATION > 100", area);
    let sent = app.key(code(KeyCode::Enter), area);
    let [Command::Inquire { reactor: Some(r), filter: Some(_), .. }] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(r, "WIFE");
    // An answer with no row says so, and where it looked.
    let none = Rows { total: 0, filter: Some("DURATION > 9999".into()), ..rows(0) };
    app.apply(Event::Rows(none), Duration::from_secs(3));
    let s = screen(&app, 160, 48);
    assert!(
        s.contains("Results of RATE/1 · no row") && s.contains("No row in RATE_R where DURATION > 9999."),
        "{s}"
    );
    let none = Rows { total: 0, cabinet: Some("WIFE".into()), reactor: Some("WIFE".into()), ..rows(0) };
    app.apply(Event::Rows(none), Duration::from_secs(3));
    assert!(screen(&app, 160, 48).contains("No row in cabinet WIFE (RATE_R)."));
    // From elsewhere, every reactor again.
    app.focus = Pane::Program;
    let sent = app.key(key('i'), area);
    let [Command::Inquire { reactor: None, .. }] = sent.as_slice() else { panic!("{sent:?}") };
}

#[test]
fn a_nodes_rate_keeps_its_unit() {
    let mut app = at_stop();
    // REG/0 read 60,000 records in the quarter second since the last snapshot.
    let nodes = vec![view("REG/0", NodeState::Running, 70, 61_500, vec![])];
    app.apply(
        Event::Snapshot(Snapshot { nodes, forms: forms(1), finished: false }),
        Duration::from_millis(1250),
    );
    for (w, h) in [(160, 48), (80, 24)] {
        let s = screen(&app, w, h);
        assert!(s.contains(" 240.0k"), "{w}x{h}:\n{s}");
    }
    // Done, it reads nothing any more: its last sample does not stay shown as its rate.
    app.apply(Event::State { node: "REG/0".into(), state: NodeState::Done }, Duration::from_millis(1300));
    assert!(!screen(&app, 160, 48).contains(" 240.0k"));
}

#[test]
fn the_program_follows_the_shown_nodes_stops_and_old_rows_say_they_are_stale() {
    let mut app = at_stop();
    let program = program();
    // The user looked elsewhere in the program, then stepped.
    app.statement = 0;
    let t = Duration::from_secs(2);
    app.apply(Event::Released { node: "RATE/1".into(), stop: 1, by: Release::Step, mover: None }, t);
    // Running, it cannot be read: `i` says so rather than asking another node.
    let s = screen(&app, 160, 48);
    assert!(s.contains("(stale until its next stop)"), "{s}");
    // Resumed, it stops no more: the rows stay stale.
    let rate = app.nodes.iter().position(|n| n.name == "RATE/1").unwrap();
    app.nodes[rate].traced = false;
    assert!(screen(&app, 160, 48).contains("(stale: it runs untraced, it will not stop again)"));
    app.nodes[rate].traced = true;
    let area = Rect::new(0, 0, 160, 48);
    app.focus = Pane::Results;
    assert!(app.key(key('i'), area).is_empty());
    assert!(app.log.back().unwrap().text.contains("inquire: RATE/1 is not frozen"), "{:?}", app.log.back());
    let next = Stop {
        id: 2,
        position: 2,
        statement: program.stages[1].statements[2].name.clone(),
        ..stop(&program)
    };
    app.apply(Event::Stopped(next.clone()), t);
    assert_eq!(app.statement, 2, "the cursor is where the node stopped");
    assert!(screen(&app, 160, 48).contains("(stale: it moved since; i refreshes)"));
    // Another node frozen and selected: `i` in the results refreshes the results' node.
    app.apply(Event::Stopped(Stop { id: 3, node: "REG/0".into(), ..next }), t);
    app.select_node(0);
    assert_eq!(app.selected().unwrap().name, "REG/0");
    app.focus = Pane::Results;
    let sent = app.key(key('i'), area);
    let [Command::Inquire { node, reactor: None, offset: 0, .. }] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(node, "RATE/1");
    // A fresh answer is not stale.
    app.apply(Event::Rows(rows(40)), t);
    assert!(!screen(&app, 160, 48).contains("stale"));
    // Another node moving leaves RATE/1's rows as they are; in a replay every motion counts.
    app.apply(Event::Released { node: "REG/0".into(), stop: 7, by: Release::Continue, mover: None }, t);
    assert!(!app.results.as_ref().unwrap().stale);
    app.replay = true;
    app.apply(Event::Released { node: "REG/0".into(), stop: 8, by: Release::Goto, mover: None }, t);
    assert!(app.results.as_ref().unwrap().stale);
}

#[test]
fn the_hint_bar_offers_only_what_can_be_done() {
    let mut app = at_stop();
    let bar = |app: &App| screen(app, 160, 48).lines().last().unwrap().to_string();
    assert!(bar(&app).contains(" step ") && bar(&app).contains(" filter "), "{}", bar(&app));
    // The program is not a list to filter.
    app.focus = Pane::Program;
    assert!(!bar(&app).contains(" filter "), "{}", bar(&app));
    // Too narrow for every hint: the way out stays, whole hints go (it was cut after filter).
    for width in [40, 60, 80] {
        let narrow = screen(&app, width, 24).lines().last().unwrap().trim_end().to_string();
        assert!(narrow.ends_with("? help  q quit"), "{width}: {narrow}");
        assert!(narrow.chars().count() <= width as usize, "{narrow}");
    }
    // Once the run has ended, nothing is left to step, inquire or halt.
    let finished = catar::session::Finished {
        records: 10,
        halted: false,
        seconds: 1.0,
        summary: vec![],
        trace: None,
        ..Default::default()
    };
    app.apply(Event::Finished(finished), Duration::from_secs(5));
    let end = bar(&app);
    assert!(!end.contains(" step ") && !end.contains(" halt ") && end.contains(" quit"), "{end}");
}

#[test]
fn the_log_wraps_long_lines_and_scrolls_back_by_pages() {
    let mut app = at_stop();
    let area = Rect::new(0, 0, 80, 24);
    let long = format!("error: unknown cabinet `RATEDX` (known: {})", ["CABINET"; 12].join(", "));
    app.log(catar::tui::state::LogKind::Error, long);
    for i in 0..30 {
        app.log(catar::tui::state::LogKind::Info, format!("line {i}"));
    }
    // Scrolled up to the long line: all of it shows, wrapped.
    app.focus = Pane::Log;
    let whole = (0..40).any(|_| {
        app.key(code(KeyCode::Up), area);
        let s = screen(&app, 80, 24);
        s.contains("unknown cabinet") && s.contains("CABINET)")
    });
    assert!(whole, "{}", screen(&app, 80, 24));
    // Home shows the first page from the oldest line, not the oldest line alone.
    app.key(key('g'), area);
    let s = screen(&app, 80, 24);
    let first = app.log_lines()[0].text.clone();
    let log: Vec<&str> = s.lines().skip_while(|l| !l.contains(" Log")).collect();
    assert!(log[1].contains(&first) && !log[2].trim_matches(['┃', ' ']).is_empty(), "{s}");
}

/// A new form's template keeps its comment and fields whole: what is typed first goes on a
/// line of its own (it ran into the comment: `cabinets = ["WIFEE"]# A trace form: …`).
#[test]
fn a_new_forms_first_keys_go_under_its_template() {
    let mut app = at_stop();
    let area = Rect::new(0, 0, 80, 24);
    app.key(key('f'), area);
    app.key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::CONTROL), area);
    assert_eq!(app.editor.as_ref().unwrap().form, None);
    typed(&mut app, "once = true", area);
    let sent = app.key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL), area);
    let [Command::AddForm { form }] = sent.as_slice() else { panic!("{sent:?}") };
    assert!(form.once && form.cabinets == ["WIFE"], "{form:?}");
}

#[test]
fn the_form_editor_checks_before_it_sends() {
    let mut app = at_stop();
    let area = Rect::new(0, 0, 80, 24);
    app.key(key('f'), area);
    assert_eq!(app.editor.as_ref().unwrap().form, Some(1));
    let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
    // A field the form does not have: an inline error, nothing sent.
    app.key(code(KeyCode::End), area);
    app.key(code(KeyCode::Enter), area);
    typed(&mut app, "colour = 1", area);
    assert!(app.key(ctrl('s'), area).is_empty());
    let error = app.editor.as_ref().unwrap().error.clone().unwrap();
    // It says where, in words (it read "trace form the form editor: line 4").
    assert!(
        error.starts_with("trace form in the editor: line 2, column 1: unknown field `colour`"),
        "{error}"
    );
    // Whole on screen however long (the note grows; it was cut at two lines), and logged.
    let shown = screen(&app, 80, 24);
    let last = error.split_whitespace().last().unwrap();
    assert!(error.len() > 2 * 70 && shown.contains("colour") && shown.contains(last), "{shown}");
    assert!(app.log_lines().iter().any(|l| l.text.contains("unknown field `colour`")));
    // Unsaved edits are not dropped by moving to another form.
    assert!(app.key(ctrl('n'), area).is_empty());
    assert!(app.editor.as_ref().unwrap().error.as_ref().unwrap().contains("unsaved"));
    assert_eq!(app.editor.as_ref().unwrap().form, Some(1));
    // Nor by one esc: it asks, a second drops them; a new form that parses is sent once (a
    // second ctrl-s while it is on its way sends nothing); the session's answer closes the
    // editor.
    app.key(code(KeyCode::Esc), area);
    assert!(app.editor.as_ref().unwrap().error.as_ref().unwrap().contains("esc again drops them"));
    app.key(code(KeyCode::Esc), area);
    assert!(app.editor.is_none());
    app.key(key('f'), area);
    app.key(ctrl('n'), area);
    assert_eq!(app.editor.as_ref().unwrap().form, None);
    let sent = app.key(ctrl('s'), area);
    let [Command::AddForm { form }] = sent.as_slice() else { panic!("{sent:?}") };
    assert_eq!(form.cabinets, vec!["WIFE".to_string()]);
    assert!(app.key(ctrl('s'), area).is_empty());
    // A form the session refuses keeps the editor open with its error.
    app.apply(Event::Error { message: "unknown cabinet `WIFEE`".into(), line: None }, Duration::from_secs(3));
    assert!(app.editor.as_ref().unwrap().error.as_ref().unwrap().contains("WIFEE"));
    app.key(ctrl('s'), area);
    app.apply(Event::Forms { forms: forms(1) }, Duration::from_secs(3));
    assert!(app.editor.is_none());
    // Deleting a form asks first.
    app.key(key('f'), area);
    assert!(app.key(ctrl('d'), area).is_empty());
    assert_eq!(app.key(ctrl('d'), area), vec![Command::DeleteForm { id: 1 }]);
    app.apply(Event::Forms { forms: forms(1) }, Duration::from_secs(3));
    // A new form's typed text is not dropped at the first ctrl-d either.
    app.key(key('f'), area);
    app.key(ctrl('n'), area);
    typed(&mut app, "ignore = 3", area);
    app.key(ctrl('d'), area);
    assert!(app.editor.as_ref().unwrap().error.as_ref().unwrap().contains("ctrl-d again"));
    app.key(ctrl('d'), area);
    assert!(app.editor.is_none());
    app.key(key('f'), area);
    // Ctrl-C leaves an unchanged editor as esc does, and only the editor.
    assert!(app.key(ctrl('c'), area).is_empty());
    assert!(!app.quitting && app.editor.is_none());
}

#[test]
fn selections_follow_the_lists_they_point_into() {
    let mut app = at_stop();
    let area = Rect::new(0, 0, 160, 48);
    // A stop on another node while the user is elsewhere selects it from its first cabinet.
    app.focus = Pane::Nodes;
    app.key(code(KeyCode::Home), area);
    app.cabinet = 1;
    app.nodes[3].stop = None;
    let mut other = stop(&app.program);
    other.node = "RATE/0".into();
    app.apply(Event::Stopped(other), Duration::from_secs(2));
    assert_eq!((app.selected().unwrap().name.as_str(), app.cabinet), ("RATE/0", 0));
    // A nodes filter that hides the selected node moves the selection into what it shows.
    app.key(key('/'), area);
    typed(&mut app, "dis", area);
    // Tab on a filter line is not completion (nor four spaces).
    app.key(code(KeyCode::Tab), area);
    app.key(code(KeyCode::Enter), area);
    assert_eq!(app.selected().unwrap().name, "DIS/0");
    // Esc clears the filter.
    app.key(code(KeyCode::Esc), area);
    assert_eq!(app.listed_nodes().len(), 6);
    // The first page has no page before it.
    app.focus = Pane::Results;
    assert!(app.key(key('p'), area).is_empty());
}

#[test]
fn b_leaves_a_conditional_form_on_the_statement_alone() {
    let mut app = at_stop();
    let area = Rect::new(0, 0, 80, 24);
    app.focus = Pane::Program;
    let conditional = TraceForm {
        statement: Some("family".into()),
        nodes: Some("RATE".into()),
        ignore: 3,
        ..TraceForm::default()
    };
    let mut infos = app.forms.clone();
    infos.push(FormInfo { id: 5, label: conditional.label(), hits: 0, form: conditional });
    app.apply(Event::Forms { forms: infos }, Duration::from_secs(2));
    let sent = app.key(key('b'), area);
    assert!(matches!(sent.as_slice(), [Command::AddForm { .. }]), "{sent:?}");
    // Until the session answers, a second `b` sends nothing.
    assert!(app.key(key('b'), area).is_empty());
}

#[test]
fn the_mouse_focuses_selects_and_scrolls() {
    let mut app = at_stop();
    let area = Rect::new(0, 0, 160, 48);
    let nodes = layout(area, None).pane(Pane::Nodes);
    let click = |column, row| MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column,
        row,
        modifiers: KeyModifiers::NONE,
    };
    // The third node row: under the border and the header.
    app.mouse(click(nodes.x + 3, nodes.y + 2 + 2), area);
    assert_eq!(app.selected().unwrap().name, "RATE/0");
    let cabinets = layout(area, None).pane(Pane::Cabinets);
    app.mouse(click(cabinets.x + 3, cabinets.y + 2), area);
    assert_eq!(app.focus, Pane::Cabinets);
    let results = layout(area, None).pane(Pane::Results);
    let wheel = MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: results.x + 2,
        row: results.y + 3,
        modifiers: KeyModifiers::NONE,
    };
    app.mouse(wheel, area);
    assert_eq!((app.focus, app.result), (Pane::Results, 3));
}

#[test]
fn restarts_keep_one_log_line_per_node_while_they_are_the_news() {
    let mut app = at_stop();
    let t = |ms: u64| Duration::from_millis(ms);
    let restarted = |node: &str, restarts: u32| Event::State {
        node: node.into(),
        state: NodeState::Restarted { restarts, error: format!("panicked: poison {restarts}") },
    };
    let before = app.log.len();
    // Two nodes failing over and over, interleaved: one line each, with the latest count.
    for k in 1..=50 {
        app.apply(restarted("RATE/0", k), t(2000 + u64::from(k)));
        app.apply(restarted("RATE/1", k + 2), t(2000 + u64::from(k)));
    }
    let tail: Vec<&str> = app.log.iter().skip(before).map(|l| l.text.as_str()).collect();
    assert_eq!(tail.len(), 2, "{tail:?}");
    assert!(tail[0].contains("RATE/0") && tail[0].contains("(50)") && tail[0].contains("poison 50"));
    assert!(tail[1].contains("RATE/1") && tail[1].contains("(52)"));
    assert_eq!(app.nodes[3].restarts, 52, "the node row counts them all");
    // Other news in between ends the streak: the next restart gets a line of its own.
    app.apply(Event::Rows(rows(3)), t(3000));
    app.apply(restarted("RATE/0", 51), t(3001));
    assert_eq!(app.log.len(), before + 4);
    assert!(app.log.iter().rev().nth(3).unwrap().text.contains("(50)"), "the earlier line stays");
    assert!(screen(&app, 120, 40).contains("RATE/0 restarted (51) after: panicked: poison 51"));
}

/// A replay's panes are where its cursor stands: going back to a step before a cabinet held
/// records shows none (a live run keeps a cabinet that emptied at 0, marked departed).
#[test]
fn a_replays_cabinets_are_those_of_the_step_it_stands_at() {
    let program = program();
    let nodes = program.nodes.clone();
    for replay in [false, true] {
        let mut app = App::new("t", false);
        app.replay = replay;
        app.apply(
            Event::Started {
                nodes: nodes.clone(),
                forms: vec![],
                program: program.clone(),
                unrecorded: None,
            },
            Duration::ZERO,
        );
        let at = |cabinets: Vec<CabinetView>| {
            Event::Snapshot(Snapshot {
                nodes: vec![view("RATE/0", NodeState::Running, 3, 0, cabinets)],
                forms: vec![],
                finished: false,
            })
        };
        app.apply(at(vec![cabinet("CONFIRMED", 5, &[]), cabinet("WIFE", 2, &[])]), Duration::ZERO);
        app.apply(at(vec![cabinet("CONFIRMED", 5, &[])]), Duration::from_secs(1));
        let rate = app.nodes.iter().find(|n| n.name == "RATE/0").unwrap();
        let names: Vec<&str> = rate.cabinets.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, if replay { vec!["CONFIRMED"] } else { vec!["CONFIRMED", "WIFE"] });
    }
}

#[test]
fn a_summary_replay_says_why_its_cabinets_pane_is_empty() {
    let program = program();
    let mut app = App::new("replay s.trc", false);
    app.replay = true;
    let why = "recorded at summary level: no record or cabinet to show (record with --level full)";
    let nodes = program.nodes.clone();
    app.apply(Event::Started { nodes, forms: vec![], program, unrecorded: Some(why.into()) }, Duration::ZERO);
    let snapshot = Snapshot {
        nodes: vec![view("REG/0", NodeState::Running, 3, 0, vec![])],
        forms: vec![],
        finished: false,
    };
    app.apply(Event::Snapshot(snapshot), Duration::ZERO);
    let s = screen(&app, 160, 48);
    assert!(s.contains("recorded at summary level") && s.contains("--level full"), "{s}");
}

#[test]
fn z_zooms_the_focused_pane_and_the_zoom_follows_the_focus() {
    let mut app = at_stop();
    let area = Rect::new(0, 0, 80, 24);
    app.focus = Pane::Results;
    let tiled = screen(&app, 80, 24);
    // Tiled at 80 columns the results show none of the four contexts.
    assert!(!tiled.contains("E00000") && !tiled.contains("PARTY"), "{tiled}");
    assert!(app.key(key('z'), area).is_empty());
    let zoomed = screen(&app, 80, 24);
    insta::assert_snapshot!("results_zoomed_80x24", zoomed);
    assert!(zoomed.contains("E00000") && zoomed.contains("PARTY"), "every context fits");
    assert!(!zoomed.contains("more column"));
    assert!(!zoomed.contains("Nodes (6)"), "the other panes give up their room");
    // The mouse finds the zoomed pane's rows, and a page is its height.
    let body = layout(area, app.zoomed()).pane(Pane::Results);
    assert_eq!((body.width, body.height), (80, 22));
    let click = MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: 5,
        row: body.y + 2 + 4,
        modifiers: KeyModifiers::NONE,
    };
    app.mouse(click, area);
    assert_eq!((app.focus, app.result), (Pane::Results, 4));
    app.key(code(KeyCode::PageDown), area);
    assert_eq!(app.result, 4 + 19);
    // Tab takes the zoom to the next pane; z again puts every pane back.
    app.key(code(KeyCode::Tab), area);
    assert_eq!(app.zoomed(), Some(Pane::Log));
    assert!(screen(&app, 80, 24).contains("z: back to all panes"));
    app.key(key('z'), area);
    app.focus = Pane::Results;
    app.result = 0;
    assert_eq!(screen(&app, 80, 24), tiled);
}
