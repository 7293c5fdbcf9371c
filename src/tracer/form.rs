//! Trace forms (SPEC §5): which cabinets and contexts to watch (the cabinet and context
//! controlling cabinets), on which nodes, and when to stop. Read from TOML, checked against the
//! pipeline with an error naming the field, then compiled for the matcher.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::condition::Condition;
use crate::model::{CabinetId, ContextId};
use crate::recorder::PipelineDesc;

/// When a form stops a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopPolicy {
    /// A watched cabinet (or context) is present after a step and was absent before it.
    #[default]
    Arrival,
    /// A watched cabinet (or context) was present before a step and is absent after it.
    Departure,
    /// A step changed the mass of a watched cabinet.
    Mass,
    /// Every step (single-step mode).
    EveryStep,
    /// Before the statement named by `statement` runs (a breakpoint).
    Statement,
    /// A step leaves a record of a watched cabinet satisfying `when` that did not before.
    When,
    /// A statement fails (an error or a panic): the node freezes as the failure left it,
    /// before the supervisor undoes its tick (gdb's `catch throw`).
    Failure,
}

impl StopPolicy {
    /// Its name as a form writes it (`every-step`): serde's, not a second list to keep.
    fn name(self) -> String {
        let name = serde_json::to_value(self).ok().and_then(|v| v.as_str().map(String::from));
        name.expect("a stop policy serializes as its name")
    }

    /// Whether the policy reads a form's (`cabinets`, `contexts`).
    fn reads(self) -> (bool, bool) {
        match self {
            StopPolicy::Arrival | StopPolicy::Departure => (true, true),
            StopPolicy::Mass | StopPolicy::When => (true, false),
            StopPolicy::EveryStep | StopPolicy::Statement | StopPolicy::Failure => (false, false),
        }
    }
}

/// A trace form as written in its TOML file (every field optional but what the policy needs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TraceForm {
    /// Shown with each stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `all` (the default), a stage (`RATE`) or one node (`RATE/1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<String>,
    /// The cabinet controlling cabinet: names, a spectrum or root name (its members), or `all`
    /// (also when absent; an empty list is refused).
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "cabinet_names")]
    pub cabinets: Vec<String>,
    /// The context controlling cabinet: contexts watched in the watched cabinets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contexts: Vec<String>,
    /// The stop policy (default: `arrival`, or what `statement` / `when` imply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<StopPolicy>,
    /// The statement of a breakpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// The condition of `stop = "when"`, in SQL WHERE syntax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Hits to let pass before stopping (gdb's `ignore`), counted from the form's first hit:
    /// the `ignore` word sets it to the hits so far plus its count.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ignore: u64,
    /// Stop once, then never again (gdb's `tbreak`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub once: bool,
    /// How long a stop lasts before the node continues by itself (`30s`, `2m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `cabinets` as written: absent means all, but an empty list reads as "none" and would watch
/// every cabinet, so it is refused.
fn cabinet_names<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    if names.is_empty() {
        return Err(serde::de::Error::custom(
            "field `cabinets`: an empty list watches nothing; to watch every cabinet, write \
             `cabinets = [\"all\"]` or leave the field out",
        ));
    }
    Ok(names)
}

/// A form that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    /// The file cannot be read.
    #[error("cannot read trace form {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML does not parse or has an unknown field.
    #[error("trace form {origin}: {message}")]
    Syntax {
        /// Where the form came from.
        origin: String,
        /// What is wrong (naming the field and line).
        message: String,
    },
    /// A field names something the pipeline does not have, or contradicts another.
    #[error("trace form {origin}: field `{field}`: {message}")]
    Field {
        /// Where the form came from.
        origin: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl TraceForm {
    /// One-shot breakpoints on the first statement of each node of the pipeline's first
    /// stage: a session with nothing else to stop at starts there, paused (gdb's `starti`).
    pub fn at_start(desc: &PipelineDesc) -> Vec<TraceForm> {
        let Some(stage) = desc.stages.first() else { return Vec::new() };
        let Some(first) = stage.statements.first() else { return Vec::new() };
        (desc.nodes.iter().filter(|n| stage_of(n) == stage.name))
            .map(|node| TraceForm {
                name: Some(format!("start of {node}")),
                nodes: Some(node.clone()),
                statement: Some(first.name.clone()),
                once: true,
                ..TraceForm::default()
            })
            .collect()
    }

    /// Read a form file.
    pub fn load(path: &Path) -> Result<TraceForm, FormError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| FormError::Read { path: path.into(), source })?;
        TraceForm::parse(&text, &path.display().to_string())
    }

    /// Parse a form's TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<TraceForm, FormError> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            // The line and column, then what is wrong: toml's own rendering draws the line
            // with a caret under it, which on one line (a script error, the editor's two-line
            // note) pushed the message, and the choices it lists, out of sight.
            let at = e.span().and_then(|span| {
                let before = text.get(..span.start)?;
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                Some(format!("line {line}, column {column}: "))
            });
            FormError::Syntax {
                origin: origin.into(),
                message: format!("{}{}", at.unwrap_or_default(), e.message()),
            }
        })
    }

    /// The policy, given or implied.
    pub fn policy(&self) -> StopPolicy {
        self.stop.unwrap_or(match (&self.statement, &self.when) {
            (Some(_), _) => StopPolicy::Statement,
            (None, Some(_)) => StopPolicy::When,
            _ => StopPolicy::Arrival,
        })
    }

    /// A one-line description (its name, or what it watches).
    pub fn label(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let what = match self.policy() {
            StopPolicy::Statement => format!("break {}", self.statement.as_deref().unwrap_or("?")),
            StopPolicy::When => format!("stop-when {}", self.when.as_deref().unwrap_or("?")),
            StopPolicy::EveryStep => "every step".into(),
            StopPolicy::Failure => "failure".into(),
            p => {
                let mut items = self.cabinets.join(",");
                if !self.contexts.is_empty() {
                    items = format!(
                        "{}{}{}",
                        items,
                        if items.is_empty() { "" } else { ":" },
                        self.contexts.join(",")
                    );
                }
                format!("{} {}", policy_word(p), if items.is_empty() { "all" } else { &items })
            }
        };
        match &self.nodes {
            Some(n) if n != "all" => format!("{what} on {n}"),
            _ => what,
        }
    }
}

fn policy_word(p: StopPolicy) -> &'static str {
    match p {
        StopPolicy::Arrival => "arrival of",
        StopPolicy::Departure => "departure of",
        StopPolicy::Mass => "mass of",
        StopPolicy::EveryStep => "every step",
        StopPolicy::Statement => "break",
        StopPolicy::When => "stop-when",
        StopPolicy::Failure => "failure",
    }
}

/// What a compiled form stops on.
#[derive(Clone, Debug)]
pub(crate) enum Policy {
    Arrival,
    Departure,
    Mass,
    EveryStep,
    /// The statement's position, per stage (None: the stage has no such statement).
    Statement(Vec<Option<usize>>),
    When(Condition),
    Failure,
}

/// A form checked against a pipeline, ready for the matcher; hit counts are shared by every
/// node it applies to (gdb counts a breakpoint's hits across threads).
#[derive(Debug)]
pub struct CompiledForm {
    /// Its number in the session (1, 2 … like gdb's breakpoints).
    pub id: u32,
    /// The form as written.
    pub form: TraceForm,
    pub(crate) nodes: Vec<bool>,
    pub(crate) cabinets: Vec<bool>,
    pub(crate) contexts: Vec<ContextId>,
    pub(crate) policy: Policy,
    pub(crate) timeout: Option<Duration>,
    // Shared with the form [`CompiledForm::ignoring`] makes of it: a node hitting the old one
    // while it is being replaced still counts.
    hits: Arc<AtomicU64>,
    spent: AtomicBool,
}

impl CompiledForm {
    /// Check `form` against the pipeline and compile it; `origin` names it in errors.
    pub fn compile(form: &TraceForm, id: u32, desc: &PipelineDesc, origin: &str) -> Result<Self, FormError> {
        let field =
            |field: &'static str, message: String| FormError::Field { origin: origin.into(), field, message };
        let nodes = match form.nodes.as_deref() {
            None | Some("all") => vec![true; desc.nodes.len()],
            Some(n) => {
                let v: Vec<bool> = desc.nodes.iter().map(|node| node == n || stage_of(node) == n).collect();
                if !v.contains(&true) {
                    let known = desc
                        .stages
                        .iter()
                        .map(|s| s.name.as_str())
                        .chain(desc.nodes.iter().map(String::as_str));
                    return Err(field(
                        "nodes",
                        format!("no node or stage `{n}` (known: all, {})", join(known)),
                    ));
                }
                v
            }
        };
        let cabinets = watched_cabinets(&form.cabinets, desc).map_err(|m| field("cabinets", m))?;
        let contexts = form
            .contexts
            .iter()
            .map(|name| {
                desc.contexts
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(name))
                    .map(|i| ContextId(i as u16))
                    .ok_or_else(|| {
                        let known = join(desc.contexts.iter().map(|c| c.name.as_str()));
                        field("contexts", format!("unknown context `{name}` (known: {known})"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let policy = form.policy();
        if form.statement.is_some() && policy != StopPolicy::Statement {
            return Err(field("statement", "only a `stop = \"statement\"` form names a statement".into()));
        }
        if form.when.is_some() && policy != StopPolicy::When {
            return Err(field("when", "only a `stop = \"when\"` form has a condition".into()));
        }
        // What the policy does not read is refused rather than silently dropped: `watch context`
        // refuses `mass` for the same reason.
        let (reads_cabinets, reads_contexts) = policy.reads();
        if !reads_contexts && !form.contexts.is_empty() {
            return Err(field(
                "contexts",
                format!(
                    "a `stop = \"{}\"` form watches no contexts (only `arrival` and `departure` watch a \
                     context arriving in or leaving a cabinet)",
                    policy.name()
                ),
            ));
        }
        if !reads_cabinets && !form.cabinets.is_empty() {
            return Err(field(
                "cabinets",
                format!(
                    "a `stop = \"{}\"` form watches no cabinets (`arrival`, `departure`, `mass` and \
                     `when` do)",
                    policy.name()
                ),
            ));
        }
        let policy = match policy {
            StopPolicy::Failure => Policy::Failure,
            StopPolicy::Arrival => Policy::Arrival,
            StopPolicy::Departure => Policy::Departure,
            StopPolicy::Mass => Policy::Mass,
            StopPolicy::EveryStep => Policy::EveryStep,
            StopPolicy::Statement => {
                let Some(name) = &form.statement else {
                    return Err(field("statement", "a breakpoint needs the statement's name".into()));
                };
                let per_stage: Vec<Option<usize>> =
                    desc.stages.iter().map(|s| s.statements.iter().position(|st| st.name == *name)).collect();
                let applies = desc.nodes.iter().zip(&nodes).any(|(n, on)| {
                    *on && desc
                        .stages
                        .iter()
                        .position(|s| s.name == stage_of(n))
                        .is_some_and(|s| per_stage[s].is_some())
                });
                if !applies {
                    // The statements of the stages the form applies to, not every stage's.
                    let on = |s: &&crate::recorder::StageDesc| {
                        desc.nodes.iter().zip(&nodes).any(|(n, on)| *on && stage_of(n) == s.name)
                    };
                    let known = desc.stages.iter().filter(on).map(|s| {
                        format!("{}: {}", s.name, join(s.statements.iter().map(|x| x.name.as_str())))
                    });
                    return Err(field(
                        "statement",
                        format!(
                            "no statement `{name}` on these nodes ({})",
                            known.collect::<Vec<_>>().join("; ")
                        ),
                    ));
                }
                Policy::Statement(per_stage)
            }
            StopPolicy::When => {
                let Some(text) = &form.when else {
                    return Err(field("when", "`stop = \"when\"` needs a condition".into()));
                };
                Policy::When(Condition::parse(text, desc).map_err(|e| field("when", e.to_string()))?)
            }
        };
        let timeout = match &form.timeout {
            None => None,
            Some(t) => match t.parse::<jiff::SignedDuration>() {
                Ok(d) if d.is_positive() => Some(d.unsigned_abs()),
                _ => {
                    return Err(field(
                        "timeout",
                        format!("`{t}` is not a positive duration (like `30s` or `2m`)"),
                    ));
                }
            },
        };
        Ok(CompiledForm {
            id,
            form: form.clone(),
            nodes,
            cabinets,
            contexts,
            policy,
            timeout,
            hits: Arc::new(AtomicU64::new(0)),
            spent: AtomicBool::new(false),
        })
    }

    /// The same form letting its next `count` hits pass (gdb's `ignore`): its hit count goes
    /// on, and a spent one-shot form is armed again (a client reads a one-shot form as spent
    /// once its hits pass `ignore`).
    pub fn ignoring(&self, count: u64) -> CompiledForm {
        let form = TraceForm { ignore: self.hits().saturating_add(count), ..self.form.clone() };
        CompiledForm {
            id: self.id,
            form,
            nodes: self.nodes.clone(),
            cabinets: self.cabinets.clone(),
            contexts: self.contexts.clone(),
            policy: self.policy.clone(),
            timeout: self.timeout,
            hits: self.hits.clone(),
            spent: AtomicBool::new(false),
        }
    }

    /// True when the form applies to the node of this index.
    pub fn applies_to(&self, node: usize) -> bool {
        self.nodes.get(node).copied().unwrap_or(false) && !self.spent.load(Ordering::Relaxed)
    }

    /// True when the form watches this node, spent or not (a replay going backwards looks
    /// for every hit, whatever `ignore` and `once` did going forward).
    pub(crate) fn covers(&self, node: usize) -> bool {
        self.nodes.get(node).copied().unwrap_or(false)
    }

    /// True for a `stop = "failure"` form.
    pub(crate) fn catches_failures(&self) -> bool {
        matches!(self.policy, Policy::Failure)
    }

    /// True for a `stop-when` form (its flip-flop is per record).
    pub(crate) fn is_when(&self) -> bool {
        matches!(self.policy, Policy::When(_))
    }

    /// True when the form needs record changes (a full-level trace) to fire, rather than the
    /// steps alone.
    pub fn needs_changes(&self) -> bool {
        !matches!(self.policy, Policy::Statement(_) | Policy::EveryStep | Policy::Failure)
    }

    pub(crate) fn watches(&self, cabinet: CabinetId) -> bool {
        self.cabinets.get(cabinet.index()).copied().unwrap_or(false)
    }

    /// Count a hit; true when it stops (past `ignore`, and a one-shot form not spent yet).
    pub(crate) fn hit(&self) -> bool {
        let n = self.hits.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= self.form.ignore {
            return false;
        }
        !(self.form.once && self.spent.swap(true, Ordering::Relaxed))
    }

    /// Hits so far (ignored ones included).
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

/// The stage name of a node name (`RATE/1` -> `RATE`).
pub fn stage_of(node: &str) -> &str {
    node.rsplit_once('/').map_or(node, |(s, _)| s)
}

fn join<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

/// Cabinets by name: a regular cabinet is itself, a spectrum or context cabinet its members,
/// a root itself and every cabinet based on it; `all` (or nothing) every live cabinet.
fn watched_cabinets(names: &[String], desc: &PipelineDesc) -> Result<Vec<bool>, String> {
    let n = desc.cabinets.len();
    let mut set = vec![false; n];
    if names.is_empty() || names.iter().any(|x| x.eq_ignore_ascii_case("all")) {
        set.iter_mut().skip(1).for_each(|s| *s = true);
        return Ok(set);
    }
    for name in names {
        let Some(i) = desc.cabinets.iter().position(|c| c.name.eq_ignore_ascii_case(name)) else {
            let known = join(desc.cabinets.iter().skip(1).map(|c| c.name.as_str()));
            return Err(format!("unknown cabinet `{name}` (known: all, {known})"));
        };
        let cab = &desc.cabinets[i];
        match cab.kind.as_str() {
            "spectrum" | "context" => cab.members.iter().for_each(|&m| set[m as usize] = true),
            "root" => {
                // The root and everything based on it, however indirectly (WIFE on CONFIRMED on RAW).
                let mut family = vec![false; n];
                family[i] = true;
                let mut grew = true;
                while grew {
                    grew = false;
                    for (j, c) in desc.cabinets.iter().enumerate() {
                        if !family[j] && c.base.is_some_and(|b| family[b as usize]) {
                            family[j] = true;
                            grew = true;
                        }
                    }
                }
                set.iter_mut().zip(family).for_each(|(s, f)| *s |= f);
            }
            _ => set[i] = true,
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::{CabinetDesc, ContextDesc, StageDesc, StatementDesc};

    fn desc() -> PipelineDesc {
        let cab = |n: &str| CabinetDesc {
            name: n.into(),
            kind: "regular".into(),
            base: None,
            members: vec![],
            contexts: vec![],
        };
        let statement = |n: &str| StatementDesc { name: n.into(), op: "Move".into(), text: String::new() };
        PipelineDesc {
            contexts: vec![ContextDesc { name: "WIFE_NAME".into(), heavy: false }],
            cabinets: vec![cab("DISARMED"), cab("CONFIRMED"), cab("WIFE")],
            stages: vec![StageDesc {
                name: "RATE".into(),
                segments: 1,
                statements: vec![statement("charge"), statement("amount")],
                tables: vec![],
            }],
            nodes: vec!["RATE/0".into()],
        }
    }

    fn compile(toml: &str) -> Result<CompiledForm, FormError> {
        CompiledForm::compile(&TraceForm::parse(toml, "f.toml")?, 1, &desc(), "f.toml")
    }

    #[test]
    fn a_wrong_stop_lists_every_policy_where_a_one_line_note_shows_it() {
        let e = TraceForm::parse("name = \"x\"\nstop = \"arival\"", "f.toml").unwrap_err().to_string();
        let every = "`arrival`, `departure`, `mass`, `every-step`, `statement`, `when`, `failure`";
        assert!(
            e.starts_with("trace form f.toml: line 2, column 8: unknown variant `arival`, expected one of ")
                && e.ends_with(every),
            "{e}"
        );
    }

    #[test]
    fn an_empty_cabinet_list_is_refused_rather_than_read_as_all() {
        let e = TraceForm::parse("nodes = \"RATE\"\ncabinets = []", "f.toml").unwrap_err().to_string();
        assert!(
            e.starts_with("trace form f.toml: line 2, column 12: field `cabinets`: an empty list"),
            "{e}"
        );
        assert!(e.contains("`cabinets = [\"all\"]`"), "{e}");
        // Absent, it still means all, as `all` does.
        for toml in ["nodes = \"RATE\"", "cabinets = [\"all\"]"] {
            let form = compile(toml).unwrap();
            assert!(form.watches(CabinetId(1)) && form.watches(CabinetId(2)), "{toml}");
        }
    }

    #[test]
    fn ignore_lets_the_next_hits_pass_and_keeps_the_count() {
        let form = compile("statement = \"amount\"").unwrap();
        assert!(form.hit() && form.hit());
        let ignoring = form.ignoring(1);
        // gdb's `ignore`: the count goes on from 2, the third hit passes, the fourth stops.
        assert_eq!((ignoring.hits(), ignoring.form.ignore), (2, 3));
        assert!(!ignoring.hit());
        assert!(ignoring.hit());
        assert_eq!(ignoring.hits(), 4);
        // A node still on the replaced form counts on the same count.
        assert!(form.hit());
        assert_eq!(ignoring.hits(), 5);
    }

    #[test]
    fn ignore_arms_a_spent_one_shot_form_again() {
        let form = compile("statement = \"amount\"\nonce = true").unwrap();
        assert!(form.hit() && !form.hit());
        assert!(!form.applies_to(0));
        let again = form.ignoring(0);
        assert!(again.applies_to(0) && again.hit() && !again.applies_to(0));
    }

    #[test]
    fn cabinets_and_contexts_a_policy_does_not_read_are_refused() {
        let err = |toml: &str| compile(toml).err().map(|e| e.to_string()).unwrap_or_default();
        let mass = err("cabinets = [\"CONFIRMED\"]\ncontexts = [\"WIFE_NAME\"]\nstop = \"mass\"");
        assert!(mass.contains("field `contexts`: a `stop = \"mass\"` form watches no contexts"), "{mass}");
        let when = err("contexts = [\"WIFE_NAME\"]\nwhen = \"WIFE_NAME IS NULL\"");
        assert!(when.contains("field `contexts`: a `stop = \"when\"` form"), "{when}");
        let every = err("contexts = [\"WIFE_NAME\"]\nstop = \"every-step\"");
        assert!(every.contains("field `contexts`: a `stop = \"every-step\"` form"), "{every}");
        let failure = err("contexts = [\"WIFE_NAME\"]\nstop = \"failure\"");
        assert!(failure.contains("field `contexts`"), "{failure}");
        let statement = err("cabinets = [\"WIFE\"]\nstatement = \"amount\"");
        assert!(statement.contains("field `cabinets`: a `stop = \"statement\"` form watches no cabinets"));
        assert!(err("cabinets = [\"WIFE\"]\nstop = \"every-step\"").contains("field `cabinets`"));
        // What each policy reads stays accepted.
        for ok in [
            "cabinets = [\"CONFIRMED\"]\ncontexts = [\"WIFE_NAME\"]",
            "contexts = [\"WIFE_NAME\"]\nstop = \"departure\"",
            "cabinets = [\"WIFE\"]\nstop = \"mass\"",
            "cabinets = [\"WIFE\"]\nwhen = \"WIFE_NAME IS NULL\"",
        ] {
            assert!(compile(ok).is_ok(), "{ok}: {}", err(ok));
        }
    }
}
