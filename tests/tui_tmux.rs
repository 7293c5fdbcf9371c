//! End to end: the real binary in a real terminal (tmux). `catar` with no arguments opens the
//! demo, RATE freezes on the first WIFE arrival; s, i, r, ? and q do what they say, and after
//! q — or a panic — the shell prompt is back with the terminal settings it had. A replay opens
//! the same screen and moves backwards on its keys.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long any one thing may take to show (a debug build on a busy 2-core machine).
const DEADLINE: Duration = Duration::from_secs(90);

struct Tmux {
    socket: String,
    dir: tempfile::TempDir,
}

impl Tmux {
    /// A shell in a 100×30 terminal of a tmux server of its own; `None` without tmux (outside CI).
    fn start(tag: &str) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            assert!(std::env::var_os("CI").is_none(), "tmux is needed for this test (.ci/run installs it)");
            eprintln!("skipped: no tmux on this machine");
            return None;
        }
        let t =
            Tmux { socket: format!("catar-{tag}-{}", std::process::id()), dir: tempfile::tempdir().unwrap() };
        let ok = t
            .tmux(&["-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "30"])
            .args(["env", "-i", "TERM=xterm-256color", "PS1=$ "])
            .arg(format!("PATH={}", std::env::var("PATH").unwrap_or_default()))
            .arg(format!("HOME={}", t.dir.path().display()))
            .args(["sh"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session");
        Some(t)
    }

    fn tmux(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]).args(args);
        c
    }

    fn keys(&self, keys: &[&str]) {
        assert!(self.tmux(&["send-keys", "-t", "0"]).args(keys).status().unwrap().success());
    }

    fn line(&self, text: &str) {
        assert!(self.tmux(&["send-keys", "-t", "0", "-l", text]).status().unwrap().success());
        self.keys(&["Enter"]);
    }

    fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-t", "0"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Poll the screen until `ok` holds; the screen then. Fails with the screen at the deadline.
    fn wait(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + DEADLINE;
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(Instant::now() < end, "waited {DEADLINE:?} for {what}; the screen:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Start the demo from the shell: terminal settings saved before and after, the exit code
    /// and an end marker printed after it.
    fn launch(&self, env: &str) {
        self.launch_args(env, "");
    }

    /// Start `catar ARGS` the same way.
    fn launch_args(&self, env: &str, args: &str) {
        let bin = env!("CARGO_BIN_EXE_catar");
        let dir = self.dir.path().display();
        self.line(&format!(
            "cd {dir} && stty -a > before && TMPDIR={dir} {env} {bin} {args}; echo \"exit=$?\"; stty -a > after; echo END-$((1+1))"
        ));
    }

    /// Quit: `q`, and `q` again when a live run asks first (it may have ended meanwhile).
    fn quit(&self) {
        self.keys(&["q"]);
        let s = self.wait("the quit asked or done", |s| {
            s.contains("q again to quit") || s.lines().any(|l| l.trim() == "END-2")
        });
        if s.contains("q again to quit") {
            self.keys(&["q"]);
        }
    }

    fn ended(&self) -> String {
        // The marker as printed, not as typed: `END-2` on a line of its own.
        self.wait("the shell prompt back", |s| s.lines().any(|l| l.trim() == "END-2"))
    }

    fn settings_restored(&self) {
        let read = |f: &str| std::fs::read_to_string(Path::new(self.dir.path()).join(f)).unwrap();
        assert_eq!(read("before"), read("after"), "stty -a differs after the TUI");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]).status();
    }
}

fn frozen(s: &str) -> bool {
    s.contains("frozen after family") && s.contains("WIFE arrived")
}

#[test]
fn the_demo_stops_at_the_first_wife_and_obeys_the_keys() {
    let Some(t) = Tmux::start("keys") else { return };
    t.launch("");
    let s = t.wait("RATE frozen on WIFE", frozen);
    assert!(s.contains("REG → RATE → DIS"), "{s}");
    // Where its files are is said on the screen, not only once the TUI has closed.
    assert!(s.contains("the demo works in"), "{s}");
    // The nodes pane may show a snapshot taken just before the stop for one more frame.
    t.wait("the node shown frozen", |s| s.lines().any(|l| l.contains("RATE/") && l.contains("■ family")));
    t.keys(&["s"]);
    t.wait("the step to stop again", |s| s.contains("step done"));
    t.keys(&["i"]);
    t.wait("inquiry rows", |s| s.contains("Results of RATE/") && s.contains("row(s) match"));
    t.keys(&["r"]);
    t.wait("resume asked", |s| s.contains("r again to resume"));
    t.keys(&["r"]);
    t.wait("the node resumed", |s| s.contains("resumed: runs untraced to the end"));
    t.keys(&["?"]);
    t.wait("the help overlay", |s| s.contains("this help"));
    // `q` closes the overlay, as its footer says any key does; then it quits.
    t.keys(&["q"]);
    t.wait("the help closed", |s| !s.contains("this help"));
    t.quit();
    let s = t.ended();
    assert!(s.contains("exit=0"), "{s}");
    assert!(s.contains("catar: run"), "the run's end is reported after the screen is restored:\n{s}");
    t.settings_restored();
}

#[test]
fn a_panic_restores_the_terminal() {
    let Some(t) = Tmux::start("panic") else { return };
    t.launch("CATAR_TUI_TEST_PANIC=1");
    t.wait("RATE frozen on WIFE", frozen);
    t.keys(&["P"]);
    let s = t.ended();
    assert!(s.contains("exit=101"), "a panic exits 101:\n{s}");
    assert!(s.contains("panicked"), "the panic message is readable on the restored screen:\n{s}");
    t.settings_restored();
}

#[test]
fn ctrl_c_halts_the_run_and_restores_the_terminal() {
    let Some(t) = Tmux::start("ctrl-c") else { return };
    t.launch("");
    t.wait("RATE frozen on WIFE", frozen);
    // Asked first, as `q` is; the same key again halts and quits.
    t.keys(&["C-c"]);
    t.wait("the quit asked", |s| s.contains("q again to quit"));
    t.keys(&["C-c"]);
    let s = t.ended();
    assert!(s.contains("exit=0"), "{s}");
    assert!(s.contains("catar: run halted"), "Ctrl-C halts the run cleanly first:\n{s}");
    t.settings_restored();
}

#[test]
fn sigterm_halts_the_run_closes_its_trace_and_restores_the_terminal() {
    let Some(t) = Tmux::start("sigterm") else { return };
    let (bin, dir) = (env!("CARGO_BIN_EXE_catar"), t.dir.path().display());
    // The shell writes its pid, then becomes catar: the pid is catar's.
    t.line(&format!(
        "cd {dir} && stty -a > before && TMPDIR={dir} sh -c 'echo $$ > pid; exec {bin}'; echo \"exit=$?\"; stty -a > after; echo END-$((1+1))"
    ));
    t.wait("RATE frozen on WIFE", frozen);
    let pid = std::fs::read_to_string(t.dir.path().join("pid")).unwrap();
    assert!(Command::new("kill").args(["-TERM", pid.trim()]).status().unwrap().success());
    let s = t.ended();
    assert!(s.contains("exit=130"), "halted, not run to the end:\n{s}");
    assert!(s.contains("catar: run halted"), "SIGTERM halts the run cleanly first:\n{s}");
    t.settings_restored();
    let trace = catar::recorder::open_trace(&t.dir.path().join("catar-demo/demo.trace")).unwrap();
    assert!(trace.complete(), "the trace has its footer");
}

/// Closing the terminal (its window, an ssh drop, a killed tmux) hangs it up: the run is
/// halted whole and the process ends. It once stayed for good, a core busy: crossterm's reader
/// spins on a dead terminal (crossterm-rs/crossterm#793) and held the loop that sees signals.
#[test]
fn closing_the_terminal_halts_the_run_and_the_process_ends() {
    let Some(t) = Tmux::start("hangup") else { return };
    let (bin, dir) = (env!("CARGO_BIN_EXE_catar"), t.dir.path().display());
    // stderr is the terminal too: what is said there once it is gone must not panic.
    t.line(&format!("cd {dir} && TMPDIR={dir} sh -c 'echo $$ > pid; exec {bin}'"));
    t.wait("RATE frozen on WIFE", frozen);
    let pid = std::fs::read_to_string(t.dir.path().join("pid")).unwrap().trim().to_string();
    assert!(t.tmux(&["kill-server"]).status().unwrap().success());
    let alive = || Path::new(&format!("/proc/{pid}")).exists() && !zombie(&pid);
    let end = Instant::now() + DEADLINE;
    while alive() {
        assert!(Instant::now() < end, "catar {pid} still runs {DEADLINE:?} after its terminal closed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let trace = catar::recorder::open_trace(&t.dir.path().join("catar-demo/demo.trace")).unwrap();
    assert!(trace.complete(), "the run was halted whole: the trace has its footer");
}

/// True when the process has ended and waits for its parent to reap it.
fn zombie(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')))
}

#[test]
fn a_replay_opens_the_same_screen_and_moves_backwards() {
    let Some(t) = Tmux::start("replay") else { return };
    let dir = t.dir.path();
    let catar = |args: &[&str]| {
        let ok = Command::new(env!("CARGO_BIN_EXE_catar")).args(args).current_dir(dir).output().unwrap();
        assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    };
    catar(&["gen", "--out", "in", "--cdrs", "3000", "--seed", "1"]);
    catar(&["run", "--input", "in", "--db", "x.db", "--headless", "--segments", "1"]);
    catar(&[
        "run",
        "--input",
        "in",
        "--db",
        "y.db",
        "--headless",
        "--segments",
        "1",
        "--trace",
        "full.trace",
        "--level",
        "full",
    ]);
    std::fs::write(dir.join("wife.toml"), "nodes = \"RATE\"\ncabinets = [\"WIFE\"]\n").unwrap();
    t.launch_args("", "replay full.trace --form wife.toml");
    t.wait("the replay at its start", |s| s.contains("start of the trace"));
    // The log's last stop line, with the lines it wrapped onto: where the replay stands.
    let last_stop = |s: &str| {
        let lines: Vec<&str> = s.lines().collect();
        let Some(at) = lines.iter().rposition(|l| l.contains("stop: ")) else { return String::new() };
        let mut text =
            lines[at].split("stop: ").nth(1).unwrap_or("").trim_end_matches([' ', '│']).to_string();
        // A wrapped line is indented under the text, past the time stamps' column.
        for l in lines[at + 1..].iter().take_while(|l| l.starts_with("│         ")) {
            text = format!("{text} {}", l.trim_matches([' ', '│']));
        }
        text
    };
    t.keys(&["c"]);
    let first = t.wait("the first arrival", |s| last_stop(s).contains("WIFE arrive"));
    let first = last_stop(&first);
    t.keys(&["c"]);
    t.wait("the second arrival", |s| last_stop(s).contains("WIFE arrive") && last_stop(s) != first);
    t.keys(&["R"]);
    let s = t.wait("back at the first arrival", |s| last_stop(s) == first);
    t.keys(&["S"]);
    t.wait("a step back", |s| last_stop(s).contains("stopped before family") && s.contains("stepped back"));
    assert!(
        s.contains("S back") && s.contains("R reverse-continue"),
        "the hint bar shows a replay's moves:\n{s}"
    );
    // A key right after a resize is taken at once (it waited for the next key); the size is
    // put back before the end, as the terminal settings are compared.
    let resize = |x: usize, y: usize| {
        let (w, h) = (x.to_string(), y.to_string());
        assert!(t.tmux(&["resize-window", "-t", "0", "-x", &w, "-y", &h]).status().unwrap().success());
        t.wait("the screen drawn at its new width", |s| {
            s.lines().next().is_some_and(|l| l.trim_end().chars().count() == x)
        });
    };
    resize(90, 28);
    t.keys(&["?"]);
    t.wait("the help overlay after a resize", |s| s.contains("this help"));
    resize(100, 30);
    t.keys(&["Escape"]);
    t.wait("the help closed after a resize", |s| !s.contains("this help"));
    t.quit();
    let s = t.ended();
    assert!(s.contains("exit=0") && s.contains("catar: replay closed"), "{s}");
    t.settings_restored();
}

#[test]
fn a_live_run_without_forms_starts_paused() {
    let Some(t) = Tmux::start("paused") else { return };
    let ok = Command::new(env!("CARGO_BIN_EXE_catar"))
        .args(["gen", "--out", "in", "--cdrs", "3000", "--seed", "1"])
        .current_dir(t.dir.path())
        .output()
        .unwrap();
    assert!(ok.status.success());
    // Nothing to stop at: it would be over before a key is pressed.
    t.launch_args("", "run --input in --db x.db --segments 2");
    // Every node of the first stage: none has taken a record past the start.
    let at_start = |s: &str, node: &str| s.lines().any(|l| l.contains(node) && l.contains("■ charge"));
    t.wait("both REG nodes frozen before their first statement", |s| {
        at_start(s, "REG/0") && at_start(s, "REG/1") && s.contains("start of REG/")
    });
    t.keys(&["C"]);
    t.wait("the run to its end", |s| s.contains("finished: 3000 records"));
    t.quit();
    let s = t.ended();
    assert!(s.contains("exit=0"), "{s}");
    t.settings_restored();
}
