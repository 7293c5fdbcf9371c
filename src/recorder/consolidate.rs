//! Consolidation (SPEC §4, Tables 2-5 / 8-11): from a node's events, its cabinet list and
//! context matrix; from all nodes', the program's. A fold over events, so a live run and a
//! trace read back (even a cut one) consolidate the same way.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::event::{Event, PipelineDesc, Step};

/// One cabinet of one node (Table 2/8).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCabinet {
    /// The node.
    pub node: String,
    /// The cabinet.
    pub cabinet: String,
    /// Step of its first appearance: the node's step in a node row, the global step in a
    /// program row (node steps of different nodes do not compare); over appended runs, each
    /// run's numbered on after the runs before it (see [`Consolidator::next_run`]).
    pub first_step: u64,
    /// Pseudo-time of its first appearance (Unix seconds); the earliest of its appearances
    /// when a failed attempt, undone, came first at a later time.
    pub first_time: i64,
    /// Step of its last appearance (as `first_step`).
    pub last_step: u64,
    /// Pseudo-time of its last appearance (the latest, as `first_time`).
    pub last_time: i64,
    /// Its largest mass.
    pub max_mass: i64,
    /// Its mass at the end.
    pub final_mass: i64,
    /// The root cabinet it is based on.
    pub base: String,
    /// The spectra it belongs to, `|`-separated.
    pub spectrum: String,
    /// It appeared but its mass is 0 at the end.
    pub transient: bool,
}

/// One context appearing in one cabinet (Tables 3/10 and 5/11); `node` is `*` in the program
/// matrix.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ContextCell {
    /// The node, or `*` for the whole program.
    pub node: String,
    /// The context.
    pub context: String,
    /// A cabinet in which it appeared.
    pub cabinet: String,
}

/// The consolidated view of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Consolidation {
    /// Node cabinets, by node then cabinet id.
    pub node_cabinets: Vec<NodeCabinet>,
    /// Node context matrix.
    pub node_contexts: Vec<ContextCell>,
    /// Program cabinets (node `*`): first/last pseudo-time and global step over the nodes,
    /// masses summed over nodes.
    pub program_cabinets: Vec<NodeCabinet>,
    /// Program context matrix.
    pub program_contexts: Vec<ContextCell>,
    /// Restarts per node that had any (failed attempts, undone): their steps count, so the
    /// steps of a run with restarts differ from a clean run's.
    #[serde(skip)]
    pub restarts: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Cab {
    seen: bool,
    // (node step, pseudo-time, global step)
    first: (u64, i64, u64),
    last: (u64, i64, u64),
    mass: i64,
    max: i64,
}

impl Cab {
    /// An appearance at `at`: the first and last by step, the times the earliest and latest
    /// (an attempt undone after a failure ran the whole window at its latest time, its
    /// retries at earlier ones: by step, a cabinet's last time could come before its first).
    /// Time 0 is a clock that has seen no event yet, no time.
    fn appear(&mut self, at: (u64, i64, u64)) {
        let (first, last) = (self.first.1, self.last.1);
        if !self.seen {
            self.seen = true;
            self.first = at;
        } else if at.1 != 0 && (first == 0 || at.1 < first) {
            self.first.1 = at.1;
        }
        self.last = at;
        if self.last.1 < last {
            self.last.1 = last;
        }
    }
}

/// The root cabinet a cabinet is based on, following bases up (none for a root itself).
fn root_of(p: &PipelineDesc, cabinet: u16) -> Option<u16> {
    let mut at = p.cabinets.get(cabinet as usize)?.base?;
    // Bounded: a malformed header must not loop forever.
    for _ in 0..p.cabinets.len() {
        match p.cabinets.get(at as usize).and_then(|c| c.base) {
            Some(up) => at = up,
            None => return Some(at),
        }
    }
    Some(at)
}

/// Folds events into a [`Consolidation`].
#[derive(Default)]
pub struct Consolidator {
    cabinets: BTreeMap<(u16, u16), Cab>,
    contexts: BTreeSet<(u16, u16, u16)>,
    /// Per node: what the run being added adds to its steps, and one past its last step so
    /// far (both as numbered here).
    steps: BTreeMap<u16, (u64, u64)>,
    /// What the run being added adds to its global steps.
    global: u64,
    /// Failed attempts per node.
    restarts: BTreeMap<u16, u64>,
}

impl Consolidator {
    /// The events added from now on are of the next run appended to the trace (order
    /// ACCUMULATE), which numbers its steps from 0 again: they are numbered on after the runs
    /// added before, a node's steps after its last one so far and global steps from `global`
    /// (one past the largest global step of the runs before, of any node).
    pub fn next_run(&mut self, global: u64) {
        for (offset, end) in self.steps.values_mut() {
            *offset = *end;
        }
        self.global = global;
    }

    /// Take one event into account.
    pub fn add<C>(&mut self, event: &Event<C>) {
        // Undoing a failed tick changes the presence like a step does.
        match event {
            Event::Step(s) => self.add_step(s),
            Event::Failure(f) => {
                *self.restarts.entry(f.undo.node).or_default() += 1;
                self.add_step(&f.undo);
                // A record that failed too often leaves for QUARANTINE without a step: it
                // ends there, as records a step discharges end in their sink's cabinet.
                if let Some((_, cabinet)) = f.quarantined {
                    let s = &f.undo;
                    let at = self.place(s.node, s.node_step, s.time, s.global_step);
                    let c = self.cabinets.entry((s.node, cabinet)).or_default();
                    c.appear(at);
                    c.mass += 1;
                    c.max = c.max.max(c.mass);
                }
            }
            // A node's end counts the steps it took past its duration too, unrecorded.
            Event::Done { node, steps, .. } => {
                let (offset, end) = self.steps.entry(*node).or_default();
                *end = (*end).max(*offset + steps);
            }
            _ => {}
        }
    }

    /// A step's (node step, pseudo-time, global step), its steps numbered on after the runs
    /// added before.
    fn place(&mut self, node: u16, node_step: u64, time: i64, global_step: u64) -> (u64, i64, u64) {
        let (offset, end) = self.steps.entry(node).or_default();
        *end = (*end).max(*offset + node_step + 1);
        (*offset + node_step, time, self.global + global_step)
    }

    fn add_step<C>(&mut self, s: &Step<C>) {
        let at = self.place(s.node, s.node_step, s.time, s.global_step);
        for &(cabinet, delta) in &s.mass {
            let c = self.cabinets.entry((s.node, cabinet)).or_default();
            c.mass += delta;
            c.max = c.max.max(c.mass);
            // A node's first steps run before its clock has seen an event (time 0): an
            // appearance then takes the first pseudo-time known while the cabinet holds
            // records (its last one too, when that was the same step: one window).
            if c.seen && c.first.1 == 0 {
                c.first.1 = s.time;
            }
            if c.seen && c.last.1 == 0 {
                c.last.1 = s.time;
            }
        }
        for &cabinet in &s.appeared {
            self.cabinets.entry((s.node, cabinet)).or_default().appear(at);
        }
        for &(cabinet, context) in &s.contexts_appeared {
            self.contexts.insert((s.node, context, cabinet));
        }
    }

    /// Take in what another consolidator added, of other nodes than this one's.
    pub fn merge(&mut self, other: Consolidator) {
        self.cabinets.extend(other.cabinets);
        self.contexts.extend(other.contexts);
        self.steps.extend(other.steps);
        self.restarts.extend(other.restarts);
    }

    /// The consolidation of the events added so far.
    pub fn finish(&self, p: &PipelineDesc) -> Consolidation {
        let spectra = |cabinet: u16| -> String {
            let of: Vec<&str> = p
                .cabinets
                .iter()
                .filter(|c| c.kind == "spectrum" && c.members.contains(&cabinet))
                .map(|c| c.name.as_str())
                .collect();
            of.join("|")
        };
        let node_name = |n: u16| p.nodes.get(n as usize).cloned().unwrap_or_else(|| format!("#{n}"));
        // A node row counts the node's steps, a program row the run's.
        let row = |node: String, cabinet: u16, c: &Cab, global: bool| NodeCabinet {
            node,
            cabinet: p.cabinet(cabinet).to_string(),
            first_step: if global { c.first.2 } else { c.first.0 },
            first_time: c.first.1,
            last_step: if global { c.last.2 } else { c.last.0 },
            last_time: c.last.1,
            max_mass: c.max,
            final_mass: c.mass,
            base: root_of(p, cabinet).map_or(String::new(), |b| p.cabinet(b).into()),
            spectrum: spectra(cabinet),
            transient: c.mass == 0,
        };
        let seen = || self.cabinets.iter().filter(|(_, c)| c.seen);
        let node_cabinets = seen().map(|(&(n, cab), c)| row(node_name(n), cab, c, false)).collect();
        let mut program: BTreeMap<u16, Cab> = BTreeMap::new();
        for (&(_, cab), c) in seen() {
            let p = program.entry(cab).or_default();
            // Times by time and steps by step, each on its own: which node's appearance comes
            // first in global steps depends on thread timing, the earliest pseudo-time does not
            // (two runs of one input diff equal).
            if !p.seen {
                (p.first, p.last) = (c.first, c.last);
            } else {
                p.first.1 = p.first.1.min(c.first.1);
                p.first.2 = p.first.2.min(c.first.2);
                p.last.1 = p.last.1.max(c.last.1);
                p.last.2 = p.last.2.max(c.last.2);
            }
            p.seen = true;
            p.mass += c.mass;
            p.max = p.max.max(c.max);
        }
        let program_cabinets = program.iter().map(|(&cab, c)| row("*".into(), cab, c, true)).collect();
        let cell = |node: String, context: u16, cabinet: u16| ContextCell {
            node,
            context: p.context(context).into(),
            cabinet: p.cabinet(cabinet).into(),
        };
        let node_contexts = self.contexts.iter().map(|&(n, ctx, cab)| cell(node_name(n), ctx, cab)).collect();
        let program_set: BTreeSet<(u16, u16)> =
            self.contexts.iter().map(|&(_, ctx, cab)| (ctx, cab)).collect();
        let program_contexts = program_set.into_iter().map(|(ctx, cab)| cell("*".into(), ctx, cab)).collect();
        let restarts = self.restarts.iter().map(|(&n, &k)| (node_name(n), k)).collect();
        Consolidation { node_cabinets, node_contexts, program_cabinets, program_contexts, restarts }
    }
}
