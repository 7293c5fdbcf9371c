//! The terminal UI: one more client of the Session API. State in plain structs
//! ([`state`]) that session events change (`apply`) and the user changes (`input`: keys and
//! mouse, `edit`: the form editor and the prompt line); every key in one table ([`keys`]);
//! rendering as pure functions of the state ([`view`]). This file owns the terminal and the
//! event loop, which never waits on the pipeline: it polls the keyboard briefly and drains the
//! session's events without blocking.

mod apply;
mod complete;
mod edit;
mod input;
pub mod keys;
mod reader;
pub mod state;
pub mod view;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{
    self, DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    Event as TermEvent, KeyEventKind,
};
use ratatui::crossterm::execute;

pub use state::App;

use crate::session::{Command, Session, Target};
use crate::tracer::TraceForm;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use reader::Input;

/// How long the loop waits for a key before looking at the session again.
const POLL: Duration = Duration::from_millis(25);
/// How often it asks for a snapshot (steps, records/s, cabinets).
const SNAPSHOT: Duration = Duration::from_millis(250);
/// Events taken in per frame at most: a flood of them must not starve the keyboard.
const EVENTS_PER_FRAME: usize = 500;
/// With this set, `P` panics (the end-to-end tests check the terminal comes back).
const PANIC_ENV: &str = "CATAR_TUI_TEST_PANIC";

/// Run a debuggee under the TUI until the user quits; the exit code. `notes` open the log.
pub fn run(target: Target, forms: Vec<(TraceForm, String)>, title: &str, notes: Vec<String>) -> i32 {
    let replay = target.is_replay();
    let session = match target.start(forms) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("catar: error: {e}");
            return 2;
        }
    };
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut app = App::new(title, color);
    app.replay = replay;
    for note in &notes {
        app.log(crate::tui::state::LogKind::Info, note.clone());
    }
    app.notes = notes;
    let signalled = Arc::new(AtomicBool::new(false));
    if let Err(e) = catch_signals(&signalled) {
        eprintln!("catar: warning: cannot catch signals ({e}): SIGTERM will kill the run");
    }
    let mut terminal = ratatui::init();
    install_input_restore();
    // Pasted text arrives as one event, not as keys that would run as commands.
    let _ = execute!(std::io::stdout(), EnableMouseCapture, EnableBracketedPaste);
    let result = reader::Reader::start().and_then(|input| {
        let result = event_loop(&mut terminal, &session, &mut app, &signalled, input.input());
        input.stop();
        result
    });
    if result.is_err() {
        // The terminal is gone (a hang-up), not the run: halt it first, so that its records
        // and its trace end whole whatever the terminal's restore does.
        halt_and_wait(&session, &mut app);
    }
    restore();
    match result {
        Ok(()) => drop(terminal),
        // Its drop would report a cursor it cannot show on a stderr that may be gone, where
        // `eprintln!` panics: nothing is left to restore there.
        Err(_) => std::mem::forget(terminal),
    }
    let code = match result {
        // Halted whole, but not run to the end: a caller must not read it as done.
        Ok(()) if app.signals > 0 => end_report(&app).max(130),
        Ok(()) => end_report(&app),
        Err(e) => {
            say(&format!("catar: error: the terminal failed: {e}"));
            1
        }
    };
    if app.ended() {
        // The run ended: closing only joins the session's thread.
        session.close();
    }
    // Otherwise (quit twice) the process leaves without waiting for the halt to complete.
    code
}

/// SIGTERM, SIGHUP and SIGINT (Ctrl-C is a key in raw mode: a SIGINT comes from `kill`) set
/// `flag` instead of killing the process: the loop quits as `q` does, halting the run first.
fn catch_signals(flag: &Arc<AtomicBool>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    for signal in [SIGTERM, SIGHUP, SIGINT] {
        signal_hook::flag::register(signal, flag.clone())?;
    }
    Ok(())
}

/// How long a halt may take when the terminal is gone before the process leaves anyway.
const HALT_DEADLINE: Duration = Duration::from_secs(30);

/// Halt the run, if it still goes, and wait for it to end (within [`HALT_DEADLINE`]).
fn halt_and_wait(session: &Session, app: &mut App) {
    if app.ended() {
        return;
    }
    session.send(Command::Halt);
    let deadline = Instant::now() + HALT_DEADLINE;
    while !app.ended() {
        let left = deadline.saturating_duration_since(Instant::now());
        match session.events().recv_timeout(left) {
            Ok(e) => app.apply(e, Duration::ZERO),
            Err(_) => return,
        }
    }
}

fn restore() {
    let _ = execute!(std::io::stdout(), DisableMouseCapture, DisableBracketedPaste);
    // Not `ratatui::restore`, which reports a failure with `eprintln!`: on a hung-up terminal
    // that panics.
    let _ = ratatui::try_restore();
}

/// `ratatui::init` restores the screen on a panic; mouse capture and bracketed paste are ours
/// to undo.
fn install_input_restore() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // A node's panic is the supervisor's to catch and report: the screen stays.
        if crate::engine::in_supervised_work() {
            return;
        }
        let _ = execute!(std::io::stdout(), DisableMouseCapture, DisableBracketedPaste);
        previous(info);
    }));
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    session: &Session,
    app: &mut App,
    signalled: &AtomicBool,
    input: &Receiver<Input>,
) -> std::io::Result<()> {
    let started = Instant::now();
    let mut last_snapshot = Instant::now();
    let test_panic = std::env::var_os(PANIC_ENV).is_some();
    let mut final_snapshot = false;
    let mut asked = 0u64;
    loop {
        // The clock moves between events too: a stop timeout counts down on screen.
        app.now = started.elapsed();
        terminal.draw(|f| view::draw(f, app))?;
        let area = terminal.get_frame().area();
        let mut commands: Vec<Command> = Vec::new();
        if signalled.swap(false, Ordering::Relaxed) {
            // As `q`: the first halts and quits once the run ended, a second leaves at once.
            commands.extend(app.signalled());
        }
        // Every pending input before drawing again, so typing never lags.
        let first = match input.recv_timeout(POLL) {
            Ok(got) => Some(got),
            Err(RecvTimeoutError::Timeout) => None,
            // The reading thread is gone (it only leaves after saying why, or if it panicked):
            // without it the loop would spin on an empty channel, and no key could reach it.
            Err(RecvTimeoutError::Disconnected) => Some(Input::Gone("the terminal input stopped".into())),
        };
        for got in first.into_iter().chain(std::iter::from_fn(|| input.try_recv().ok())) {
            match got {
                Input::Event(TermEvent::Key(k)) if k.kind != KeyEventKind::Release => {
                    // What a key logs is stamped now, not at the last session event.
                    app.now = started.elapsed();
                    if test_panic && k.code == event::KeyCode::Char('P') {
                        panic!("the test panic ({PANIC_ENV})");
                    }
                    commands.extend(app.key(k, area));
                }
                Input::Event(TermEvent::Mouse(m)) => commands.extend(app.mouse(m, area)),
                Input::Event(TermEvent::Paste(text)) => app.paste(&text),
                Input::Event(_) => {}
                // The caller halts the run whole, as for a terminal that fails to draw.
                Input::Gone(why) => return Err(std::io::Error::other(why)),
            }
        }
        for c in commands {
            // An ended replay's session is gone: say so rather than send into the void (a
            // live session still answers, if only to say the run has finished).
            if app.replay && app.ended() {
                app.log(state::LogKind::Error, "the replay has ended: run catar replay again to move in it");
                continue;
            }
            session.send(c);
        }
        // Snapshots while it runs (one at a time), and one after it ends (nodes done,
        // reactors emptied).
        let answered = app.snapshots >= asked;
        if (answered && last_snapshot.elapsed() >= SNAPSHOT && !app.ended())
            || (app.ended() && !final_snapshot)
        {
            final_snapshot = app.ended();
            session.send(Command::Snapshot);
            asked += 1;
            last_snapshot = Instant::now();
        }
        for e in session.events().try_iter().take(EVENTS_PER_FRAME) {
            app.apply(e, started.elapsed());
        }
        if app.quitting && (app.ended() || app.force_quit) {
            return Ok(());
        }
    }
}

/// A line on stderr, which may be a terminal that is gone: `eprintln!` would panic there.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// After the screen is restored: how the run ended, as the headless run would say it.
fn end_report(app: &App) -> i32 {
    let mut out = std::io::stdout().lock();
    if let Some(message) = &app.failed {
        say(&format!("catar: error: {message}"));
        return 1;
    }
    if !app.ended() {
        say("catar: quit before the halt completed: the trace may lack its footer (it still opens)");
        return 1;
    }
    if let Some(f) = &app.finished {
        let how = if f.halted { "halted" } else { "finished" };
        if app.replay {
            let _ = writeln!(out, "catar: replay closed after {:.2} s", f.seconds);
        } else {
            let _ = writeln!(out, "catar: run {how}: {} records {}", f.records, view::status::took(f, 2));
        }
        for line in &f.summary {
            let _ = writeln!(out, "{line}");
        }
    }
    0
}
