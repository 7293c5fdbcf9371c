//! `catar diff`: two traces' cabinet lists and context matrices compared, for regression tests
//! of a pipeline's states in CI. Only what is deterministic is compared: per-node steps,
//! pseudo-times and masses, never global step numbers (they depend on thread timing).

use std::collections::BTreeMap;
use std::fmt;

use crate::recorder::{Consolidation, NodeCabinet};

/// One difference, readable as it is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
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
        #[serde(serialize_with = "number_or_text")]
        a: String,
        /// In B.
        #[serde(serialize_with = "number_or_text")]
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

/// A figure in JSON: a number when it is one (a mass, a step count), else its text (a time).
fn number_or_text<S: serde::Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
    match v.parse::<i64>() {
        Ok(n) => s.serialize_i64(n),
        Err(_) => s.serialize_str(v),
    }
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
}

/// One node and cabinet row of the report.
#[derive(Default)]
struct Row<'a> {
    /// The cabinet is in this run alone.
    alone: Option<char>,
    /// Its figures that differ (`field a → b`).
    figures: Vec<String>,
    /// The contexts in A alone, and in B alone.
    contexts: [Vec<&'a str>; 2],
}

impl Row<'_> {
    fn text(&self) -> String {
        let side = |c: char| usize::from(c == 'B');
        let mut parts = Vec::new();
        // A cabinet in one run alone has its contexts there alone: counted, not listed.
        if let Some(x) = self.alone {
            parts.push(match self.contexts[side(x)].len() {
                0 => format!("only in {x}"),
                n => format!("only in {x}, with its {n} context(s)"),
            });
        }
        parts.extend(self.figures.iter().cloned());
        for x in ['A', 'B'].into_iter().filter(|&x| self.alone != Some(x)) {
            match self.contexts[side(x)].as_slice() {
                [] => {}
                [one] => parts.push(format!("context {one} only in {x}")),
                many => parts.push(format!("contexts {} only in {x}", many.join(", "))),
            }
        }
        parts.join(", ")
    }
}

/// The differences as a table a person reads: one line per node and cabinet, the nodes in
/// `nodes` order (the pipeline's), the program rows (`*`) last; then the count.
pub fn report(differences: &[Difference], nodes: &[String]) -> Vec<String> {
    let rank =
        |node: &str| nodes.iter().position(|n| n == node).unwrap_or(nodes.len() + usize::from(node == "*"));
    let mut rows: BTreeMap<(usize, &str, &str), Row> = BTreeMap::new();
    for d in differences {
        let (node, cabinet) = d.row();
        let row = rows.entry((rank(node), node, cabinet)).or_default();
        match d {
            Difference::Cabinet { only_in, .. } => row.alone = Some(*only_in),
            Difference::Figures { field, a, b, .. } => row.figures.push(format!("{field} {a} → {b}")),
            Difference::Context { only_in, context, .. } => {
                row.contexts[usize::from(*only_in == 'B')].push(context)
            }
        }
    }
    let width =
        |f: fn(&(usize, &str, &str)) -> usize, min: usize| rows.keys().map(f).max().unwrap_or(0).max(min);
    let (wn, wc) = (width(|k| k.1.chars().count(), 4), width(|k| k.2.chars().count(), 7));
    let mut out = vec![format!("  {:<wn$}  {:<wc$}  what differs (A → B)", "node", "cabinet")];
    for ((_, node, cabinet), row) in &rows {
        out.push(format!("  {node:<wn$}  {cabinet:<wc$}  {}", row.text()));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_names_its_cabinet_once_and_groups_its_contexts() {
        let cabinet = |only_in, cabinet: &str| Difference::Cabinet {
            only_in,
            node: "R/0".into(),
            cabinet: cabinet.into(),
        };
        let context = |only_in, cabinet: &str, context: &str| Difference::Context {
            only_in,
            node: "R/0".into(),
            cabinet: cabinet.into(),
            context: context.into(),
        };
        let figures = Difference::Figures {
            node: "R/0".into(),
            cabinet: "OK".into(),
            field: "max_mass",
            a: "1".into(),
            b: "2".into(),
        };
        let d = vec![
            cabinet('A', "WIFE"),
            context('A', "WIFE", "X"),
            context('A', "WIFE", "Y"),
            cabinet('B', "NEW"),
            figures,
            context('A', "OK", "X"),
            context('A', "OK", "Y"),
            context('B', "OK", "Z"),
        ];
        let report = report(&d, &["R/0".to_string()]);
        // What a cabinet's row says, after its padded name.
        let what = |c: &str| {
            let l = report.iter().find(|l| l.contains(&format!(" {c} "))).unwrap();
            l.split_once(&format!(" {c} ")).unwrap().1.trim_start().to_string()
        };
        assert_eq!(what("WIFE"), "only in A, with its 2 context(s)");
        assert_eq!(what("NEW"), "only in B");
        assert_eq!(what("OK"), "max_mass 1 → 2, contexts X, Y only in A, context Z only in B");
        assert_eq!(report.last().unwrap(), "8 difference(s) in 3 node and cabinet row(s)");
    }
}
