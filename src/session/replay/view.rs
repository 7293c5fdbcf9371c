//! What the replay shows: a stop at a step, each node's state at the cursor, snapshots.

use super::{Replayer, plain};
use crate::replay::Mark;
use crate::session::api::{Event, NodeState, NodeView, Snapshot};
use crate::session::cabinet_views;
use crate::trace::TraceError;
use crate::tracer::{Position, Reason, Stop, Why, stage_name};

impl Replayer {
    pub(super) fn stop_of(&self, m: &Mark, at: Position, reason: Reason) -> Stop {
        let node = self.desc.nodes.get(m.node).cloned().unwrap_or_else(|| format!("#{}", m.node));
        let statement = self
            .desc
            .stages
            .iter()
            .find(|s| s.name == stage_name(&node))
            .and_then(|s| s.statements.get(m.statement))
            .map_or_else(|| format!("#{}", m.statement), |s| s.name.clone());
        Stop {
            id: self.stops,
            node,
            statement,
            position: m.statement,
            at,
            step: m.node_step,
            global_step: m.global_step,
            tick: m.tick,
            pseudo_time: (m.time != 0).then(|| jiff::Timestamp::from_second(m.time).ok()).flatten(),
            statement_us: match at {
                Position::Before => 0,
                Position::After => u64::from(m.wall_us),
            },
            reason,
            // A replay's stops wait for the client.
            timeout_ms: None,
        }
    }

    /// A node's state at the cursor: the stop's node frozen there, the others done, not yet
    /// started, or paused after their last step.
    pub(super) fn node_state(&mut self, n: usize) -> Result<(NodeState, Option<Mark>), TraceError> {
        let at = self.cursor.at();
        let last = self.cursor.last_of(n, at)?;
        let here = self.stop.as_ref().filter(|s| s.node == self.desc.nodes[n]);
        let state = match (here, last) {
            (Some(stop), _) => {
                NodeState::Frozen { statement: stop.statement.clone(), reason: stop.reason.to_string() }
            }
            _ if self.cursor.done_before(n, at)? => NodeState::Done,
            (_, None) => NodeState::Starting,
            (_, Some(m)) => {
                let s = self.stop_of(&m, Position::After, plain(Why::Goto));
                NodeState::Frozen { statement: s.statement, reason: "replay cursor".into() }
            }
        };
        Ok((state, last))
    }

    /// Tell the nodes whose state the last motion changed.
    pub(super) fn show_states(&mut self) -> Result<(), TraceError> {
        for n in 0..self.desc.nodes.len() {
            let (state, _) = self.node_state(n)?;
            if self.shown.get(n) != Some(&state) {
                self.emit(Event::State { node: self.desc.nodes[n].clone(), state: state.clone() });
                self.shown[n] = state;
            }
        }
        Ok(())
    }

    pub(super) fn snapshot(&mut self) -> Result<Snapshot, TraceError> {
        let mut nodes = Vec::new();
        for n in 0..self.desc.nodes.len() {
            let name = self.desc.nodes[n].clone();
            let (state, last) = self.node_state(n)?;
            let stop = self.stop.as_ref().filter(|s| s.node == name);
            // At its stop a node has run the stop's steps, the failed statement of a failure
            // stop included (which has no step of its own in the trace), as live counts them.
            let steps = match stop {
                Some(s) => s.step + u64::from(s.at == Position::After),
                None => last.map_or(0, |m| m.node_step + 1),
            };
            let present = self.cursor.tables(n)?.matcher.presence.present();
            let restarts = self.cursor.restarts(n)?;
            nodes.push(NodeView {
                node: name,
                state,
                steps,
                records: None,
                restarts,
                pseudo_time: last
                    .and_then(|m| (m.time != 0).then(|| jiff::Timestamp::from_second(m.time).ok()).flatten()),
                traced: true,
                stop: stop.cloned(),
                cabinets: cabinet_views(&self.desc, present),
            });
        }
        Ok(Snapshot { nodes, forms: self.form_infos(), finished: false })
    }
}
