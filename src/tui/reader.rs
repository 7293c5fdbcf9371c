//! Terminal input on a thread of its own. A terminal that goes away (its window closed, an ssh
//! drop, a killed tmux) reads as end-of-file for ever, and crossterm's reader loops on it
//! without returning (crossterm-rs/crossterm#793): the event loop must not be the thread caught
//! there, or it never sees the hang-up and the process stays, a core busy. This thread waits
//! with poll(2) on the terminal (and on resizes), says when the terminal is gone, and asks
//! crossterm only while it is not.

use std::io::{IsTerminal, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
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

/// A wake-up on SIGWINCH, so that a resize is taken from crossterm at once, on its own.
struct Resizes {
    read: UnixStream,
    // The handler's, which owns the writing end and closes it once unregistered.
    id: signal_hook::SigId,
}

impl Resizes {
    fn watch() -> Option<Resizes> {
        let (read, write) = UnixStream::pair().ok()?;
        read.set_nonblocking(true).ok()?;
        let id = signal_hook::low_level::pipe::register(libc::SIGWINCH, write).ok()?;
        Some(Resizes { read, id })
    }

    /// Empty the wake-ups already received.
    fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.read).read(&mut buf), Ok(n) if n > 0) {}
    }
}

impl Drop for Resizes {
    fn drop(&mut self) {
        signal_hook::low_level::unregister(self.id);
    }
}

fn read(tx: &Sender<Input>, stop: &AtomicBool) {
    // crossterm reads stdin when it is the terminal, /dev/tty otherwise: only stdin is watched.
    let watched = std::io::stdin().is_terminal();
    let resizes = Resizes::watch();
    while !stop.load(Ordering::Relaxed) {
        let (ready, timeout) = if watched {
            let woken = resizes.as_ref().map(|r| r.read.as_raw_fd());
            if let Some(r) = &resizes {
                r.drain();
            }
            match wait_for_stdin(WAIT, woken) {
                Ok(ready) => (ready, Duration::ZERO),
                Err(why) => {
                    let _ = tx.send(Input::Gone(why));
                    return;
                }
            }
        } else {
            (true, WAIT)
        };
        // crossterm is asked even without input: a resize comes by a signal it catches, and
        // must be taken on its own. Taken together with a key, crossterm returns the resize
        // and drops the terminal's readiness, so the key would wait for the next one.
        let mut any = false;
        // Everything crossterm holds now: one read of the terminal can bring several events.
        loop {
            let got = event::poll(timeout).and_then(|ready| ready.then(event::read).transpose());
            match got {
                Ok(Some(e)) => {
                    any = true;
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
        if watched && ready && !any {
            // Input crossterm will not hand over until more comes (the race above, with a
            // resize a moment before a key): not a reason to spin.
            std::thread::sleep(WAIT);
        }
    }
}

/// Wait up to `timeout` for stdin to have input (or for `woken` to be readable): true when
/// stdin has input, an error when the terminal hung up (a hung-up terminal is readable for
/// ever, and reads as end-of-file).
fn wait_for_stdin(timeout: Duration, woken: Option<RawFd>) -> Result<bool, String> {
    let watch = |fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let mut fds = [watch(libc::STDIN_FILENO), watch(woken.unwrap_or(-1))];
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: two valid pollfds (a negative fd is ignored), for the duration of the call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        return if e.kind() == std::io::ErrorKind::Interrupted { Ok(false) } else { Err(e.to_string()) };
    }
    let stdin = fds[0].revents;
    if stdin & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
        return Err("the terminal hung up".into());
    }
    Ok(stdin & libc::POLLIN != 0)
}
