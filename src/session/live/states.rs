//! What the live session says of its nodes' states: sampled from the run's control board
//! (real channel state) and the tracer, reported when they change and last, ordered with the
//! stops, releases and restarts the nodes deliver themselves; and a stall.

use super::Controller;
use crate::engine::{Activity, NodeGauge, Peer};
use crate::session::api::{Event, NodeState};
use crate::tracer::Stop;

/// Samples a passing state must last before it is reported: a busy run's nodes wait on each
/// other for microseconds all the time, and that flicker is not news.
const STEADY: u32 = 3;
/// Samples without a single step, with a node frozen (at a stop without a timeout) and every
/// other one waiting, blocked or done, before the session says the run is stalled.
const STALL: u32 = 5;

impl Controller {
    /// Report a node's state, ordered with its stops and releases (which its own thread
    /// delivers): decided while the node can neither freeze nor thaw.
    fn show(&mut self, i: usize, state: NodeState) {
        self.pending[i] = None;
        let tracer = self.tracer.clone();
        tracer.with_frozen(i, |frozen| {
            // Failed a moment ago, restarted since: the node said so already.
            let restarted = self.tracer.restarts_announced(i) > self.restarts[i];
            if let Some(state) = reportable(frozen, state)
                && !(restarted && state == NodeState::Failed)
                && self.shown[i] != state
            {
                self.shown[i] = state.clone();
                self.emit(Event::State { node: self.desc.nodes[i].clone(), state });
            }
        });
    }

    fn peer(&self, p: Peer) -> String {
        match p {
            Peer::Source => "source".into(),
            Peer::Sink => "sink".into(),
            Peer::Node(i) => self.desc.nodes.get(i).cloned().unwrap_or_else(|| format!("#{i}")),
        }
    }

    pub(super) fn state_of(&self, g: &NodeGauge, frozen: &Option<Stop>) -> NodeState {
        if let Some(stop) = frozen {
            return frozen_state(stop);
        }
        match g.activity {
            Activity::Starting => NodeState::Starting,
            Activity::Running => NodeState::Running,
            Activity::Waiting(p) => NodeState::Waiting { on: self.peer(p) },
            Activity::Blocked(p) => NodeState::Blocked { on: self.peer(p) },
            Activity::Done => NodeState::Done,
            Activity::Failed => NodeState::Failed,
        }
    }

    /// Report states that changed and lasted, and a stall: a node frozen, every other one
    /// stuck behind it or done, and not one step for a while.
    pub(super) fn sample(&mut self) {
        let gauges = self.control.gauges();
        if gauges.len() != self.shown.len() {
            return;
        }
        let frozen = self.tracer.frozen();
        for (i, g) in gauges.iter().enumerate() {
            // The node announced the restart itself (ordered with its stops): the state it
            // leaves shows as news from here.
            if g.restarts > self.restarts[i] {
                self.restarts[i] = g.restarts;
                let error = g.failure.clone().unwrap_or_default();
                self.shown[i] = NodeState::Restarted { restarts: g.restarts, error };
                self.pending[i] = None;
                continue;
            }
            let observed = self.state_of(g, &frozen[i]);
            if observed == self.shown[i] {
                self.pending[i] = None;
                continue;
            }
            let lasting = match &mut self.pending[i] {
                Some((s, n)) if *s == observed => {
                    *n += 1;
                    *n
                }
                p => {
                    *p = Some((observed.clone(), 1));
                    1
                }
            };
            // A failure the supervisor restarts is told by the restart (with its error); one
            // that lasts is a node failed for good.
            let at_once = matches!(observed, NodeState::Done | NodeState::Frozen { .. });
            if at_once || lasting >= STEADY {
                self.show(i, observed);
            }
        }
        let steps: u64 = gauges.iter().map(|g| g.steps).sum();
        let stuck = gauges.iter().zip(&frozen).all(|(g, f)| {
            f.is_some()
                || matches!(
                    g.activity,
                    Activity::Done
                        | Activity::Failed
                        | Activity::Waiting(Peer::Node(_))
                        | Activity::Blocked(Peer::Node(_))
                )
        });
        // A stop with a timeout lets its node go by itself: the run is held, not stalled.
        let timing_out = frozen.iter().flatten().any(|s| s.timeout_ms.is_some());
        if steps != self.last_steps || !stuck || timing_out || frozen.iter().all(Option::is_none) {
            self.last_steps = steps;
            self.still = 0;
            self.stalled = false;
            return;
        }
        self.still += 1;
        if self.still >= STALL && !self.stalled {
            self.stalled = true;
            let names = frozen.iter().flatten().map(|s| s.node.clone()).collect();
            self.emit(Event::Stalled { frozen: names });
        }
    }
}

/// What to report of a node observed in `state`, now that it is frozen at `frozen` (or
/// running): a frozen node at its current stop, never a running one as frozen nor a frozen one
/// as running. (A restart the node tells itself.)
fn reportable(frozen: Option<&Stop>, state: NodeState) -> Option<NodeState> {
    match (frozen, state) {
        (Some(stop), NodeState::Frozen { .. }) => Some(frozen_state(stop)),
        (None, NodeState::Frozen { .. }) => None,
        (Some(_), _) => None,
        (None, s) => Some(s),
    }
}

fn frozen_state(stop: &Stop) -> NodeState {
    NodeState::Frozen { statement: stop.statement.clone(), reason: stop.reason.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracer::{Position, Reason, Why};

    fn stop(statement: &str) -> Stop {
        Stop {
            id: 2,
            node: "DIS/0".into(),
            statement: statement.into(),
            position: 1,
            at: Position::After,
            step: 9,
            global_step: 30,
            tick: 1,
            pseudo_time: None,
            statement_us: 0,
            timeout_ms: None,
            reason: Reason { form: None, label: None, why: Why::Step },
        }
    }

    #[test]
    fn a_state_sampled_before_a_stop_or_release_is_reported_as_the_node_is_now() {
        let (old, now) = (stop("charge"), stop("store"));
        // Sampled frozen at an earlier stop: reported at the current one.
        assert_eq!(reportable(Some(&now), frozen_state(&old)), Some(frozen_state(&now)));
        // Sampled frozen, released since: nothing (the release told the client).
        assert_eq!(reportable(None, frozen_state(&old)), None);
        // Sampled running or waiting, frozen since: nothing (the stop told the client).
        assert_eq!(reportable(Some(&now), NodeState::Running), None);
        assert_eq!(reportable(Some(&now), NodeState::Waiting { on: "RATE/0".into() }), None);
        assert_eq!(reportable(None, NodeState::Done), Some(NodeState::Done));
    }
}
