//! The supervisor's settings and vocabulary (seed 000): how many times a record may fail
//! before it is quarantined, where quarantined records go, the faults injected for tests and
//! demos, and the panic hook that keeps a supervised node's panic off the terminal (the
//! supervisor reports it instead).

use std::cell::Cell;
use std::str::FromStr;
use std::sync::Once;

use crate::model::{CabinetId, ContextId};

/// Failures of one record (alone in its tick) before it is quarantined, by default.
pub const DEFAULT_MAX_FAILURES: u32 = 3;

/// Where a record that keeps failing goes instead of stopping the run.
#[derive(Clone, Debug)]
pub struct Quarantine {
    /// The sink table it is sent to (the store writes it with its error).
    pub table: String,
    /// The cabinet it is put in.
    pub cabinet: CabinetId,
    /// The context that receives the error message.
    pub error: ContextId,
}

/// How the supervisor treats failing nodes.
#[derive(Clone, Debug)]
pub struct Supervision {
    /// Failures of a record alone in its tick before it is quarantined (or the run fails,
    /// when there is no quarantine).
    pub max_failures: u32,
    /// Where records that keep failing go; `None` makes such a failure end the run.
    pub quarantine: Option<Quarantine>,
    /// Faults to inject.
    pub faults: Vec<Fault>,
}

impl Default for Supervision {
    fn default() -> Self {
        Supervision { max_failures: DEFAULT_MAX_FAILURES, quarantine: None, faults: Vec::new() }
    }
}

/// A fault injected into a node: `NODE:step=N[:times=K]` makes the statement the node runs at
/// its step N fail, and the same statement of its next K−1 attempts too (the retries after
/// each restart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The node (`RATE/0`).
    pub node: String,
    /// The node step that fails first.
    pub step: u64,
    /// How many attempts fail in all.
    pub times: u32,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:step={}", self.node, self.step)?;
        if self.times != 1 {
            write!(f, ":times={}", self.times)?;
        }
        Ok(())
    }
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("fault '{s}': {why} (expected NODE:step=N[:times=K])");
        let mut parts = s.split(':');
        let node = parts.next().filter(|n| !n.is_empty()).ok_or_else(|| bad("no node"))?;
        let (mut step, mut times) = (None, 1);
        for part in parts {
            let (key, value) =
                part.split_once('=').ok_or_else(|| bad(&format!("'{part}' is not key=value")))?;
            let number =
                |what: &str| value.parse::<u64>().map_err(|e| bad(&format!("{what} '{value}': {e}")));
            match key {
                "step" => step = Some(number("step")?),
                "times" => {
                    times = u32::try_from(number("times")?)
                        .ok()
                        .filter(|&t| t >= 1)
                        .ok_or_else(|| bad(&format!("times '{value}' is not 1 to {}", u32::MAX)))?
                }
                _ => return Err(bad(&format!("unknown key '{key}'"))),
            }
        }
        Ok(Fault { node: node.into(), step: step.ok_or_else(|| bad("no step=N"))?, times })
    }
}

/// Why one attempt of a tick failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The statement that failed.
    pub statement: String,
    /// Its position in the program.
    pub position: usize,
    /// The node step it ran as.
    pub node_step: u64,
    /// The global step it ran as.
    pub global_step: u64,
    /// The node's tick (input window).
    pub tick: u64,
    /// The error, or the panic's message.
    pub message: String,
    /// The node's restarts so far, this one included.
    pub restarts: u32,
    /// The record quarantined because of this failure (its reg_id) and the cabinet it was
    /// put in, if any.
    pub quarantined: Option<(u64, CabinetId)>,
}

thread_local! {
    static SUPERVISED: Cell<bool> = const { Cell::new(false) };
}

/// Run `f` as supervised work on this thread: a panic inside it is caught by the supervisor,
/// which reports it, so the process's panic hook stays quiet about it.
pub(crate) fn supervised<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !in_supervised_work() {
                previous(info);
            }
        }));
    });
    SUPERVISED.set(true);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    SUPERVISED.set(false);
    result
}

/// True inside supervised work: a panic hook installed later (the TUI's) must not act on a
/// panic the supervisor will catch.
pub fn in_supervised_work() -> bool {
    SUPERVISED.get()
}

/// The message of a caught panic.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_and_name_what_is_wrong() {
        assert_eq!(
            "RATE/1:step=40:times=3".parse::<Fault>(),
            Ok(Fault { node: "RATE/1".into(), step: 40, times: 3 })
        );
        assert_eq!("REG/0:step=0".parse::<Fault>().map(|f| f.times), Ok(1));
        for text in ["RATE/1:step=40:times=3", "REG/0:step=0"] {
            assert_eq!(text.parse::<Fault>().unwrap().to_string(), text, "written as parsed");
        }
        for (bad, says) in [
            ("RATE/1", "no step"),
            (":step=1", "no node"),
            ("RATE/1:step=x", "step 'x'"),
            ("RATE/1:step=1:when=2", "unknown key 'when'"),
            ("RATE/1:step", "not key=value"),
            ("RATE/1:step=1:times=0", "times '0' is not 1"),
            ("RATE/1:step=1:times=99999999999", "times '99999999999'"),
        ] {
            let e = bad.parse::<Fault>().unwrap_err();
            assert!(e.contains(says) && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn a_supervised_panic_is_caught_with_its_message() {
        let caught = supervised(|| panic!("boom {}", 7)).unwrap_err();
        assert_eq!(panic_message(caught.as_ref()), "boom 7");
        assert!(!in_supervised_work());
        assert_eq!(supervised(|| 5).ok(), Some(5));
    }
}
