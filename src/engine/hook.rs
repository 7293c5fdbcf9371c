use jiff::Timestamp;

use super::{Failure, NodeId, OpKind, Workspace};
use crate::ops::{ReportDetail, StepReport};

/// Where a node is: the statement about to run (or just run) and the step counters.
#[derive(Clone, Copy, Debug)]
pub struct StepPoint<'a> {
    /// The node.
    pub node: &'a NodeId,
    /// Position of the statement in the node's program.
    pub statement: usize,
    /// The statement's name.
    pub name: &'a str,
    /// The operator it applies.
    pub op: OpKind,
    /// Steps this node has executed before this one (its 0-based step number).
    pub node_step: u64,
    /// The step's number across all nodes, in the order steps started.
    pub global_step: u64,
    /// The node's tick (micro-batch window).
    pub tick: u64,
    /// The node's pseudo-clock (before the step in `before_step`, after it in `after_step`).
    pub pseudo_time: Option<Timestamp>,
}

/// Attached to every node: sees each step before it runs and its report after. A recorder
/// writes reports, a tracer matches them and may decide to hold the node there (a freeze):
/// the node then parks its hooks and calls `hold` (see [`settle`]).
pub trait StepHook: Send {
    /// What the step reports given to this hook must hold (the node records no more).
    fn detail(&self) -> ReportDetail {
        ReportDetail::Off
    }
    /// Called before a statement runs.
    fn before_step(&mut self, _at: &StepPoint<'_>, _workspace: &Workspace) {}
    /// Called after a statement ran, with what it changed.
    fn after_step(&mut self, _at: &StepPoint<'_>, _report: &StepReport, _workspace: &Workspace) {}
    /// Called when a statement failed, with the workspace as the failure left it (before the
    /// supervisor undoes the tick): a tracer may freeze the node here.
    fn failed(&mut self, _at: &StepPoint<'_>, _failure: &Failure, _workspace: &Workspace) {}
    /// Called when the node failed and restarted: the workspace is back as the failed tick
    /// found it (the steps of the failed attempt are undone).
    fn restarted(&mut self, _node: &NodeId, _failure: &Failure, _workspace: &Workspace) {}
    /// Called when the node has processed all its input.
    fn finish(&mut self, _node: &NodeId) {}
    /// Whether the last call decided to hold the node (a tracer's freeze): [`settle`] then
    /// parks the hooks and calls `hold`.
    fn holding(&self) -> bool {
        false
    }
    /// Hold the node where the last call decided to (a freeze), until released.
    fn hold(&mut self, _at: &StepPoint<'_>, _workspace: &Workspace) {}
    /// The node is about to wait (held by a hook, or blocked on a channel for a while): hand
    /// over what is buffered, so that a reader of the trace sees every step up to here.
    fn park(&mut self) {}
}

/// After a call of `hook`: when it decided to hold the node, park every hook, then hold.
pub(crate) fn settle(hook: &mut dyn StepHook, at: &StepPoint<'_>, workspace: &Workspace) {
    if hook.holding() {
        hook.park();
        hook.hold(at, workspace);
    }
}

/// Makes the hook of each node when the pipeline starts.
pub trait HookFactory: Sync {
    /// The hook for one node.
    fn hook_for(&self, node: &NodeId) -> Box<dyn StepHook>;
}

/// The hook that does nothing: what a run without recorder or tracer uses.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHook;

impl StepHook for NoHook {}

impl HookFactory for NoHook {
    fn hook_for(&self, _node: &NodeId) -> Box<dyn StepHook> {
        Box::new(NoHook)
    }
}

/// Two hook factories attached together (a recorder and a tracer): each node gets both
/// hooks, and reports as detailed as the more demanding one asks. The second wraps the first,
/// as layers do: its `before_step` comes first and its `after_step` last, so a tracer that
/// holds the node there (a freeze) is outside what the first times and records as the
/// statement; the first is parked before the hold.
pub struct Hooks<'a>(pub &'a dyn HookFactory, pub &'a dyn HookFactory);

struct Pair(Box<dyn StepHook>, Box<dyn StepHook>);

impl StepHook for Pair {
    fn detail(&self) -> ReportDetail {
        self.0.detail().max(self.1.detail())
    }
    fn before_step(&mut self, at: &StepPoint<'_>, workspace: &Workspace) {
        self.1.before_step(at, workspace);
        // Held before the first starts timing the statement.
        settle(self, at, workspace);
        self.0.before_step(at, workspace);
    }
    fn after_step(&mut self, at: &StepPoint<'_>, report: &StepReport, workspace: &Workspace) {
        self.0.after_step(at, report, workspace);
        self.1.after_step(at, report, workspace);
    }
    fn failed(&mut self, at: &StepPoint<'_>, failure: &Failure, workspace: &Workspace) {
        self.0.failed(at, failure, workspace);
        self.1.failed(at, failure, workspace);
    }
    fn restarted(&mut self, node: &NodeId, failure: &Failure, workspace: &Workspace) {
        self.0.restarted(node, failure, workspace);
        self.1.restarted(node, failure, workspace);
    }
    fn finish(&mut self, node: &NodeId) {
        self.0.finish(node);
        self.1.finish(node);
    }
    fn holding(&self) -> bool {
        self.0.holding() || self.1.holding()
    }
    fn hold(&mut self, at: &StepPoint<'_>, workspace: &Workspace) {
        for hook in [&mut self.1, &mut self.0] {
            if hook.holding() {
                hook.hold(at, workspace);
            }
        }
    }
    fn park(&mut self) {
        self.0.park();
        self.1.park();
    }
}

impl HookFactory for Hooks<'_> {
    fn hook_for(&self, node: &NodeId) -> Box<dyn StepHook> {
        Box::new(Pair(self.0.hook_for(node), self.1.hook_for(node)))
    }
}
