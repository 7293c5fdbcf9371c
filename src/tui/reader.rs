//! Terminal input on a thread of its own. A terminal that goes away (its window closed, an ssh
//! drop, a killed tmux) reads as end-of-file for ever, and crossterm's reader loops on it
//! without returning (crossterm-rs/crossterm#793): the event loop must not be the thread caught
//! there, or it never sees the hang-up and the process stays, a core busy. This thread asks
//! crossterm only once the terminal has input, and says when the terminal is gone.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use ratatui::crossterm::event::{self, Event as TermEvent};

/// What the terminal said.
pub(super) enum Input {
    /// A key, a mouse event, a paste.
    Event(TermEvent),
    /// The terminal is gone (hung up) or cannot be read: why.
    Gone(String),
}

/// The reading thread.
pub(super) struct Reader {
    rx: Receiver<Input>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// How long the thread waits for input before it looks at its stop flag.
const WAIT: Duration = Duration::from_millis(25);

impl Reader {
    /// Start reading.
    pub fn start() -> std::io::Result<Reader> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread =
            std::thread::Builder::new().name("terminal input".into()).spawn(move || read(&tx, &flag))?;
        Ok(Reader { rx, stop, thread })
    }

    /// What the terminal says, in order.
    pub fn input(&self) -> &Receiver<Input> {
        &self.rx
    }

    /// Stop reading before the terminal is handed back, so no key meant for the shell is
    /// taken; a thread held by a dead terminal is left behind (the process is ending).
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let end = Instant::now() + 4 * WAIT;
        while !self.thread.is_finished() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(1));
        }
        if self.thread.is_finished() {
            let _ = self.thread.join();
        }
    }
}

fn read(tx: &Sender<Input>, stop: &AtomicBool) {
    // crossterm reads stdin when it is the terminal, /dev/tty otherwise: only stdin is watched.
    let watched = std::io::stdin().is_terminal();
    while !stop.load(Ordering::Relaxed) {
        let timeout = if watched {
            match wait_for_stdin(WAIT) {
                Ok(true) => Duration::ZERO,
                Ok(false) => continue,
                Err(why) => {
                    let _ = tx.send(Input::Gone(why));
                    return;
                }
            }
        } else {
            WAIT
        };
        // Everything crossterm holds now: one read of the terminal can bring several events.
        loop {
            let got = event::poll(timeout).and_then(|ready| ready.then(event::read).transpose());
            match got {
                Ok(Some(e)) => {
                    if tx.send(Input::Event(e)).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Input::Gone(e.to_string()));
                    return;
                }
            }
        }
    }
}

/// Wait up to `timeout` for stdin to have input: true when it has, an error when the terminal
/// hung up (a hung-up terminal is readable for ever, and reads as end-of-file).
fn wait_for_stdin(timeout: Duration) -> Result<bool, String> {
    let mut fd = libc::pollfd { fd: libc::STDIN_FILENO, events: libc::POLLIN, revents: 0 };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd, for the duration of the call.
    let n = unsafe { libc::poll(&mut fd, 1, ms) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        return if e.kind() == std::io::ErrorKind::Interrupted { Ok(false) } else { Err(e.to_string()) };
    }
    if fd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
        return Err("the terminal hung up".into());
    }
    Ok(n > 0 && fd.revents & libc::POLLIN != 0)
}
