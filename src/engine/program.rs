use std::fmt;
use std::sync::Arc;

use super::PseudoClock;
use crate::model::{ContextId, ReactorKind, Record, Schema, Table, TableId, TableKind};
use crate::ops::StepReport;

/// The operator a statement applies (SPEC §2), plus context filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// Set the linkey.
    Arm,
    /// Cabinet := 0.
    Disarm,
    /// Join on linkey.
    Collision,
    /// Set a new cabinet.
    State,
    /// Insert records into a reactor.
    Charge,
    /// Move records out of a reactor.
    Discharge,
    /// Copy light contexts to the linked reactor and free the slots.
    Deescalate,
    /// Move row N to row N+1.
    Rolling,
    /// Set or clear the skip flag.
    Skip,
    /// A context filter: reduction, functional transformation or state filter.
    Transform,
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            OpKind::Arm => "arm",
            OpKind::Disarm => "disarm",
            OpKind::Collision => "collision",
            OpKind::State => "state",
            OpKind::Charge => "charge",
            OpKind::Discharge => "discharge",
            OpKind::Deescalate => "de-escalate",
            OpKind::Rolling => "rolling",
            OpKind::Skip => "skip",
            OpKind::Transform => "transform",
        };
        f.write_str(s)
    }
}

/// A statement that could not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StatementError(pub String);

type StatementFn = dyn Fn(&mut Workspace, &mut StepReport) -> Result<(), StatementError> + Send + Sync;

/// One line of a node's program: a named operator application.
pub struct Statement {
    /// Short name, unique in its stage (`reject-unparsed`).
    pub name: String,
    /// The operator it applies.
    pub op: OpKind,
    /// The line as a person reads it (`state REJECTED where the row did not parse`).
    pub text: String,
    run: Box<StatementFn>,
}

impl Statement {
    /// Run the statement on a workspace, reporting what it changed.
    pub fn run(&self, ws: &mut Workspace, report: &mut StepReport) -> Result<(), StatementError> {
        (self.run)(ws, report)
    }
}

impl fmt::Debug for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name, self.op, self.text)
    }
}

/// Where a port table's records go at the end of each tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Port {
    /// To the next stage, routed by its key.
    Next,
    /// To the pipeline's sink.
    Sink,
}

#[derive(Clone, Debug)]
pub(crate) struct TableDef {
    pub name: String,
    pub kind: TableKind,
    pub keys_only: bool,
    pub port: Option<Port>,
}

type InitFn = dyn Fn(&mut Workspace) + Send + Sync;

/// A stage of a pipeline: its tables, its program and the key that routes records to its
/// segments. Every segment of the stage runs the same program on its own workspace.
pub struct Stage {
    pub(crate) name: String,
    pub(crate) schema: Arc<Schema>,
    pub(crate) tables: Vec<TableDef>,
    pub(crate) statements: Vec<Statement>,
    pub(crate) key: ContextId,
    pub(crate) init: Option<Box<InitFn>>,
}

impl Stage {
    /// Start defining a stage whose records are routed to segments by `key` (the group key:
    /// all records with one value go to one segment, in input order).
    pub fn builder(name: &str, schema: &Arc<Schema>, key: ContextId) -> StageBuilder {
        StageBuilder {
            stage: Stage {
                name: name.into(),
                schema: schema.clone(),
                tables: Vec::new(),
                statements: Vec::new(),
                key,
                init: None,
            },
        }
    }

    /// The stage's name (REG, RATE …).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its statements in program order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// The names and kinds of its tables, by table id.
    pub fn table_names(&self) -> impl Iterator<Item = (&str, TableKind)> {
        self.tables.iter().map(|t| (t.name.as_str(), t.kind))
    }

    /// What each table is, by table id, as a trace names it: its kind, or `Output` and `Sink`
    /// for the port tables emptied at the end of each tick.
    pub(crate) fn table_kinds(&self) -> impl Iterator<Item = (&str, String)> {
        self.tables.iter().map(|t| {
            let kind = match t.port {
                Some(Port::Next) => "Output".to_string(),
                Some(Port::Sink) => "Sink".to_string(),
                None => format!("{:?}", t.kind),
            };
            (t.name.as_str(), kind)
        })
    }

    /// The context that routes records to this stage's segments.
    pub fn key(&self) -> ContextId {
        self.key
    }

    pub(crate) fn workspace(&self) -> Workspace {
        let cabinets = self.schema.cabinets().len();
        let tables = self
            .tables
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let id = TableId(i as u16);
                if d.keys_only {
                    Table::keys_only(id, &d.name, cabinets)
                } else {
                    Table::new(id, &d.name, d.kind, cabinets)
                }
            })
            .collect();
        let mut ws = Workspace {
            schema: self.schema.clone(),
            tables,
            inbox: Vec::new(),
            clock: PseudoClock::default(),
            clock_at_begin: PseudoClock::default(),
        };
        if let Some(init) = &self.init {
            init(&mut ws);
        }
        ws
    }

    pub(crate) fn port_tables(&self, port: Port) -> impl Iterator<Item = TableId> + '_ {
        self.tables
            .iter()
            .enumerate()
            .filter(move |(_, d)| d.port == Some(port))
            .map(|(i, _)| TableId(i as u16))
    }
}

/// Builds a [`Stage`].
pub struct StageBuilder {
    stage: Stage,
}

impl StageBuilder {
    fn add(&mut self, name: &str, kind: TableKind, keys_only: bool, port: Option<Port>) -> TableId {
        let id = TableId(self.stage.tables.len() as u16);
        self.stage.tables.push(TableDef { name: name.into(), kind, keys_only, port });
        id
    }

    /// A reactor (working table) of the node.
    pub fn reactor(&mut self, name: &str, kind: ReactorKind) -> TableId {
        self.add(name, TableKind::Reactor(kind), false, None)
    }

    /// Any other table owned by each node (accumulator, archive, data, reference, rules).
    pub fn table(&mut self, name: &str, kind: TableKind) -> TableId {
        self.add(name, kind, false, None)
    }

    /// A reference table that only remembers linkeys (see [`Table::keys_only`]).
    pub fn keys_only(&mut self, name: &str) -> TableId {
        self.add(name, TableKind::Reference, true, None)
    }

    /// A data table whose records go to the next stage at the end of each tick.
    pub fn output(&mut self, name: &str) -> TableId {
        self.add(name, TableKind::Data, false, Some(Port::Next))
    }

    /// A data table whose records go to the pipeline's sink (the store) at the end of each tick.
    pub fn sink(&mut self, name: &str) -> TableId {
        self.add(name, TableKind::Data, false, Some(Port::Sink))
    }

    /// Add a statement; statements run in the order they are added.
    pub fn statement(
        &mut self,
        name: &str,
        op: OpKind,
        text: &str,
        run: impl Fn(&mut Workspace, &mut StepReport) -> Result<(), StatementError> + Send + Sync + 'static,
    ) -> &mut Self {
        self.stage.statements.push(Statement {
            name: name.into(),
            op,
            text: text.into(),
            run: Box::new(run),
        });
        self
    }

    /// Prepare each node's workspace when it starts (load accumulators, references …).
    pub fn init(&mut self, f: impl Fn(&mut Workspace) + Send + Sync + 'static) -> &mut Self {
        self.stage.init = Some(Box::new(f));
        self
    }

    /// Finish the stage.
    pub fn build(self) -> Stage {
        self.stage
    }
}

/// A node's state: its tables, the micro-batch waiting to be charged and its pseudo-clock.
pub struct Workspace {
    /// The pipeline's schema.
    pub schema: Arc<Schema>,
    tables: Vec<Table>,
    /// Records received this tick, waiting for the program's charge statement.
    pub inbox: Vec<Record>,
    /// The node's pseudo-clock.
    pub clock: PseudoClock,
    clock_at_begin: PseudoClock,
}

impl Workspace {
    /// A table by id.
    pub fn table(&self, id: TableId) -> &Table {
        &self.tables[id.0 as usize]
    }

    /// A table by id, to change.
    pub fn table_mut(&mut self, id: TableId) -> &mut Table {
        &mut self.tables[id.0 as usize]
    }

    /// Two different tables, to change together (collision, discharge, de-escalate).
    pub fn pair_mut(&mut self, a: TableId, b: TableId) -> (&mut Table, &mut Table) {
        let [x, y] = self.tables.get_disjoint_mut([a.0 as usize, b.0 as usize]).expect("two distinct tables");
        (x, y)
    }

    /// Every table, in id order.
    pub fn tables(&self) -> &[Table] {
        &self.tables
    }

    /// Take the inbox (the charge statement does this).
    pub fn take_inbox(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.inbox)
    }

    /// Start a tick the supervisor can undo: every table keeps what it needs to roll back.
    pub(crate) fn begin_tick(&mut self) {
        self.tables.iter_mut().for_each(Table::begin);
        self.clock_at_begin = self.clock;
    }

    /// The tick succeeded.
    pub(crate) fn commit_tick(&mut self) {
        self.tables.iter_mut().for_each(Table::commit);
    }

    /// The tick failed: tables and clock as the tick found them, its inbox dropped.
    pub(crate) fn rollback_tick(&mut self) {
        self.tables.iter_mut().for_each(Table::rollback);
        self.clock = self.clock_at_begin;
        self.inbox.clear();
    }
}
