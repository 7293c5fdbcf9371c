//! `catar diff`: two traces' cabinet lists and context matrices compared, for regression tests
//! of a pipeline's states in CI. Only what is deterministic is compared: per-node steps,
//! pseudo-times and masses, never global step numbers (they depend on thread timing).

use std::collections::BTreeMap;
use std::fmt;

use crate::recorder::{Consolidation, NodeCabinet};

/// One difference, readable as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// A cabinet appeared in a node (or `*`) in only one trace.
    Cabinet {
        /// `A` or `B`: the trace that has it.
        only_in: char,
        /// The node or `*`.
        node: String,
        /// The cabinet.
        cabinet: String,
    },
    /// A cabinet's figures differ.
    Figures {
        /// The node or `*`.
        node: String,
        /// The cabinet.
        cabinet: String,
        /// The field that differs, with both values.
        field: &'static str,
        /// In A.
        a: String,
        /// In B.
        b: String,
    },
    /// A context appeared in a cabinet in only one trace.
    Context {
        /// `A` or `B`.
        only_in: char,
        /// The node or `*`.
        node: String,
        /// The context.
        context: String,
        /// The cabinet.
        cabinet: String,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Cabinet { only_in, node, cabinet } => {
                write!(f, "cabinet {cabinet} appeared in {node} only in {only_in}")
            }
            Difference::Figures { node, cabinet, field, a, b } => {
                write!(f, "cabinet {cabinet} in {node}: {field} {a} in A, {b} in B")
            }
            Difference::Context { only_in, node, context, cabinet } => {
                write!(f, "context {context} appeared in {cabinet} in {node} only in {only_in}")
            }
        }
    }
}

fn figures(c: &NodeCabinet, with_steps: bool) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("final_mass", c.final_mass.to_string()),
        ("max_mass", c.max_mass.to_string()),
        ("transient", c.transient.to_string()),
        // As the exports write them (RFC 3339), not as seconds.
        ("first_time", super::instant(c.first_time)),
        ("last_time", super::instant(c.last_time)),
    ];
    if with_steps {
        v.push(("first_step", c.first_step.to_string()));
        v.push(("last_step", c.last_step.to_string()));
    }
    v
}

fn cabinets(a: &[NodeCabinet], b: &[NodeCabinet], with_steps: bool, out: &mut Vec<Difference>) {
    let key = |c: &NodeCabinet| (c.node.clone(), c.cabinet.clone());
    let ma: BTreeMap<_, _> = a.iter().map(|c| (key(c), c)).collect();
    let mb: BTreeMap<_, _> = b.iter().map(|c| (key(c), c)).collect();
    for (k, ca) in &ma {
        match mb.get(k) {
            None => out.push(Difference::Cabinet { only_in: 'A', node: k.0.clone(), cabinet: k.1.clone() }),
            Some(cb) => {
                for ((field, x), (_, y)) in figures(ca, with_steps).into_iter().zip(figures(cb, with_steps)) {
                    if x != y {
                        out.push(Difference::Figures {
                            node: k.0.clone(),
                            cabinet: k.1.clone(),
                            field,
                            a: x,
                            b: y,
                        });
                    }
                }
            }
        }
    }
    for k in mb.keys().filter(|k| !ma.contains_key(*k)) {
        out.push(Difference::Cabinet { only_in: 'B', node: k.0.clone(), cabinet: k.1.clone() });
    }
}

impl Difference {
    /// The (node, cabinet) row it belongs to.
    fn row(&self) -> (&str, &str) {
        match self {
            Difference::Cabinet { node, cabinet, .. }
            | Difference::Figures { node, cabinet, .. }
            | Difference::Context { node, cabinet, .. } => (node, cabinet),
        }
    }

    /// What differs, within its row.
    fn what(&self) -> String {
        match self {
            Difference::Cabinet { only_in, .. } => format!("only in {only_in}"),
            Difference::Figures { field, a, b, .. } => format!("{field} {a} → {b}"),
            Difference::Context { only_in, context, .. } => format!("context {context} only in {only_in}"),
        }
    }
}

/// The differences as a table a person reads: one line per node and cabinet, the nodes in
/// `nodes` order (the pipeline's), the program rows (`*`) last; then the count.
pub fn report(differences: &[Difference], nodes: &[String]) -> Vec<String> {
    let rank =
        |node: &str| nodes.iter().position(|n| n == node).unwrap_or(nodes.len() + usize::from(node == "*"));
    let mut rows: BTreeMap<(usize, &str, &str), Vec<String>> = BTreeMap::new();
    for d in differences {
        let (node, cabinet) = d.row();
        rows.entry((rank(node), node, cabinet)).or_default().push(d.what());
    }
    let width =
        |f: fn(&(usize, &str, &str)) -> usize, min: usize| rows.keys().map(f).max().unwrap_or(0).max(min);
    let (wn, wc) = (width(|k| k.1.chars().count(), 4), width(|k| k.2.chars().count(), 7));
    let mut out = vec![format!("  {:<wn$}  {:<wc$}  what differs (A → B)", "node", "cabinet")];
    for ((_, node, cabinet), what) in &rows {
        out.push(format!("  {node:<wn$}  {cabinet:<wc$}  {}", what.join(", ")));
    }
    out.push(format!("{} difference(s) in {} node and cabinet row(s)", differences.len(), rows.len()));
    out
}

/// Every difference between two consolidations; empty when they are the same.
pub fn diff(a: &Consolidation, b: &Consolidation) -> Vec<Difference> {
    let mut out = Vec::new();
    cabinets(&a.node_cabinets, &b.node_cabinets, true, &mut out);
    cabinets(&a.program_cabinets, &b.program_cabinets, false, &mut out);
    for (mine, theirs, only_in) in [(a, b, 'A'), (b, a, 'B')] {
        for list in
            [(&mine.node_contexts, &theirs.node_contexts), (&mine.program_contexts, &theirs.program_contexts)]
        {
            for cell in list.0.iter().filter(|c| !list.1.contains(c)) {
                out.push(Difference::Context {
                    only_in,
                    node: cell.node.clone(),
                    context: cell.context.clone(),
                    cabinet: cell.cabinet.clone(),
                });
            }
        }
    }
    out
}
