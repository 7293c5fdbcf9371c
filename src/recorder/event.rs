//! What a trace file holds: its header (the pipeline described, the settings) and the events
//! the recorder writes. Plain serde types: the trace codec is swappable.

use serde::{Deserialize, Serialize};

use crate::engine::Pipeline;
use crate::model::{CabinetKind, Value, Weight};

/// Version of the header and event types below; bumped whenever they change shape or meaning.
pub const EVENTS_VERSION: u32 = 13;

/// The oldest events version this catar reads: version 4 lacks [`Event::Keys`]; version
/// 5 keyed values another way, so its keys are not used (its chunks are all read); version 6
/// lacks [`Event::Failure`], version 7 [`Event::Restarts`]; before version 9 no record is
/// carried in (a run of no values, see [`Changes::runs`]); before version 10 [`Changes`] has
/// no `copies` (read as [`ChangesBefore10`]); before version 11 its reg_ids are written whole
/// (read as [`ChangesBefore11`]).
pub const OLDEST_EVENTS_VERSION: u32 = 4;

/// The first events version whose [`Changes`] have `copies`.
pub const COPIES_EVENTS_VERSION: u32 = 10;

/// The first events version whose [`Changes`] write each reg_id as its difference from the one
/// before it in the same list (`recorder/deltas.rs`).
pub const DELTAS_EVENTS_VERSION: u32 = 11;

/// The first events version whose header says what input the run read
/// ([`TraceHeader::input`]).
pub const INPUT_EVENTS_VERSION: u32 = 12;

/// The first events version whose header says what options the run's results depend on
/// ([`TraceHeader::options`]).
pub const OPTIONS_EVENTS_VERSION: u32 = 13;

/// The first events version whose keys a search trusts.
pub const KEYED_EVENTS_VERSION: u32 = 6;

/// The trace file's header.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceHeader {
    /// [`EVENTS_VERSION`] of the writer; first, so that it decodes before anything else.
    pub events_version: u32,
    /// The pipeline that was recorded.
    pub pipeline: PipelineDesc,
    /// How it was recorded.
    pub settings: RecorderSettings,
    /// What the (first) run read, as the pipeline describes its input (the rating pipeline:
    /// each input file's name, size and CRC32C); none when unknown (or before
    /// [`INPUT_EVENTS_VERSION`]).
    pub input: Option<String>,
    /// The options of the run that its results depend on but the pipeline description does
    /// not show, as (flag, value) the way the command line spells them (the rating pipeline:
    /// `--domestic-prefix`, `--max-failures`); the same for every run of the file (an append
    /// with others is refused). None when unknown (before [`OPTIONS_EVENTS_VERSION`]).
    pub options: Option<Vec<(String, String)>>,
}

impl TraceHeader {
    /// The header of a trace recording `pipeline` with `settings`, reading `input`, run with
    /// `options`.
    pub fn of(
        pipeline: &Pipeline,
        settings: &RecorderSettings,
        input: Option<String>,
        options: Vec<(String, String)>,
    ) -> TraceHeader {
        TraceHeader {
            events_version: EVENTS_VERSION,
            pipeline: PipelineDesc::of(pipeline),
            settings: settings.clone(),
            input,
            options: Some(options),
        }
    }
}

// The header's shape follows its events version, which comes first: `input` is there from
// INPUT_EVENTS_VERSION on, `options` from OPTIONS_EVENTS_VERSION on, so that older traces
// still open (and are written back as they were).
impl Serialize for TraceHeader {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let with_input = self.events_version >= INPUT_EVENTS_VERSION;
        let with_options = self.events_version >= OPTIONS_EVENTS_VERSION;
        let mut t = s.serialize_tuple(3 + usize::from(with_input) + usize::from(with_options))?;
        t.serialize_element(&self.events_version)?;
        t.serialize_element(&self.pipeline)?;
        t.serialize_element(&self.settings)?;
        if with_input {
            t.serialize_element(&self.input)?;
        }
        if with_options {
            t.serialize_element(&self.options)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for TraceHeader {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = TraceHeader;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a trace header")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<TraceHeader, A::Error> {
                let missing = |i| serde::de::Error::invalid_length(i, &self);
                let events_version: u32 = seq.next_element()?.ok_or_else(|| missing(0))?;
                let pipeline = seq.next_element()?.ok_or_else(|| missing(1))?;
                let settings = seq.next_element()?.ok_or_else(|| missing(2))?;
                let input = if events_version >= INPUT_EVENTS_VERSION {
                    seq.next_element()?.ok_or_else(|| missing(3))?
                } else {
                    None
                };
                let options = if events_version >= OPTIONS_EVENTS_VERSION {
                    seq.next_element()?.ok_or_else(|| missing(4))?
                } else {
                    None
                };
                Ok(TraceHeader { events_version, pipeline, settings, input, options })
            }
        }
        // Five at most: a header of an older version holds fewer.
        d.deserialize_tuple(5, Fields)
    }
}

/// How much the recorder writes (SPEC §4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Nothing.
    Off,
    /// Steps, mass changes, cabinets and contexts appearing and disappearing.
    #[default]
    Summary,
    /// Also every record transition and context value.
    Full,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // As `--level` and the record config spell it.
        f.write_str(match self {
            Level::Off => "off",
            Level::Summary => "summary",
            Level::Full => "full",
        })
    }
}

/// Append to an existing trace or start a new one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Order {
    /// Start the file anew.
    #[default]
    Truncate,
    /// Append to what the file holds.
    Accumulate,
}

/// The global recorder controlling cabinet (SPEC Table 1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecorderSettings {
    /// What to record.
    pub level: Level,
    /// The one node (`RATE/0`) or stage (`RATE`) to record; all when absent.
    pub nodes: Option<String>,
    /// TRUNCATE or ACCUMULATE.
    pub order: Order,
    /// Pseudo-time (seconds) after a node's first event during which it is recorded.
    pub duration: Option<i64>,
}

/// A context as the trace describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextDesc {
    /// Its name.
    pub name: String,
    /// True for heavy contexts.
    pub heavy: bool,
}

/// A cabinet as the trace describes it (index = cabinet id; 0 is DISARMED).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CabinetDesc {
    /// Its name.
    pub name: String,
    /// regular, root, spectrum or context.
    pub kind: String,
    /// The root it inherits from.
    pub base: Option<u16>,
    /// Members of a spectrum or context cabinet.
    pub members: Vec<u16>,
    /// Its metadata: the contexts active in it.
    pub contexts: Vec<u16>,
}

/// A statement as the trace describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementDesc {
    /// Its name.
    pub name: String,
    /// Its operator.
    pub op: String,
    /// Its text.
    pub text: String,
}

/// A stage and its program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageDesc {
    /// Its name.
    pub name: String,
    /// Its segments.
    pub segments: u16,
    /// Its statements in order.
    pub statements: Vec<StatementDesc>,
    /// Its tables (name, kind): the kind as the engine names it (`Reactor(Driving)`,
    /// `Accumulator` …), or `Output` and `Sink` for the port tables a node empties at the end
    /// of each tick (`Data` in traces written before they were told apart).
    pub tables: Vec<(String, String)>,
}

/// Everything needed to read a trace without the program that wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineDesc {
    /// Contexts by id.
    pub contexts: Vec<ContextDesc>,
    /// Cabinets by id.
    pub cabinets: Vec<CabinetDesc>,
    /// Stages in order.
    pub stages: Vec<StageDesc>,
    /// Node names by node index (stage then segment order).
    pub nodes: Vec<String>,
}

impl PipelineDesc {
    /// Describe a pipeline.
    pub fn of(p: &Pipeline) -> Self {
        let schema = p.schema();
        let contexts = schema
            .contexts()
            .iter()
            .map(|c| ContextDesc { name: c.name.clone(), heavy: c.weight == Weight::Heavy })
            .collect();
        let cabinets = schema
            .cabinets()
            .iter()
            .map(|c| {
                let (kind, members) = match &c.kind {
                    CabinetKind::Regular => ("regular", vec![]),
                    CabinetKind::Root => ("root", vec![]),
                    CabinetKind::Spectrum(m) => ("spectrum", m.iter().map(|x| x.0).collect()),
                    CabinetKind::Context { cabinets, .. } => {
                        ("context", cabinets.iter().map(|x| x.0).collect())
                    }
                };
                CabinetDesc {
                    name: c.name.clone(),
                    kind: kind.into(),
                    base: c.base.map(|b| b.0),
                    members,
                    contexts: c.contexts.iter().map(|x| x.0).collect(),
                }
            })
            .collect();
        let stages = p
            .stages()
            .map(|(s, n)| StageDesc {
                name: s.name().into(),
                segments: n as u16,
                statements: s
                    .statements()
                    .iter()
                    .map(|st| StatementDesc {
                        name: st.name.clone(),
                        op: st.op.to_string(),
                        text: st.text.clone(),
                    })
                    .collect(),
                tables: s.table_kinds().map(|(name, kind)| (name.to_string(), kind)).collect(),
            })
            .collect();
        let nodes = p.nodes().into_iter().map(|n| n.name).collect();
        PipelineDesc { contexts, cabinets, stages, nodes }
    }

    /// Per node, which of its tables hold records of the flow (reactors, data and archive
    /// tables): accumulator, reference and rules rows have reg_ids of their own that mean
    /// other things.
    pub fn flow_tables(&self) -> Vec<Vec<bool>> {
        self.nodes
            .iter()
            .map(|n| {
                let stage = self.stages.iter().find(|s| s.name == crate::tracer::stage_name(n));
                stage.map_or_else(Vec::new, |s| {
                    s.tables
                        .iter()
                        .map(|(_, kind)| {
                            !["Accumulator", "Reference", "Rules"].iter().any(|k| kind.starts_with(k))
                        })
                        .collect()
                })
            })
            .collect()
    }

    /// A cabinet's name.
    pub fn cabinet(&self, id: u16) -> &str {
        self.cabinets.get(id as usize).map_or("?", |c| c.name.as_str())
    }

    /// A context's name.
    pub fn context(&self, id: u16) -> &str {
        self.contexts.get(id as usize).map_or("?", |c| c.name.as_str())
    }
}

/// A context value in the trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TraceValue {
    /// Cleared.
    Empty,
    /// An integer.
    Int(i64),
    /// Text (short ones inline: no allocation per recorded value).
    Text(smol_str::SmolStr),
    /// An instant: seconds and nanoseconds since the Unix epoch.
    Time(i64, i32),
}

impl From<&Value> for TraceValue {
    fn from(v: &Value) -> Self {
        match v {
            Value::Empty => TraceValue::Empty,
            Value::Int(i) => TraceValue::Int(*i),
            Value::Text(s) => TraceValue::Text(s.clone()),
            Value::Time(t) => TraceValue::Time(t.as_second(), t.subsec_nanosecond()),
        }
    }
}

/// What one step changed, in full: enough to rebuild any table at any step. Its reg_ids are
/// written as differences (see [`DELTAS_EVENTS_VERSION`]); read, they are whole.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// (table, reg_id, from cabinet, to cabinet).
    #[serde(with = "super::deltas")]
    pub transitions: Vec<(u16, u64, u16, u16)>,
    /// Runs of values of one record: (table, reg_id, cabinet, how many of `values`). A run
    /// of none is a record carried in: it arrived holding what the stage before sent it with
    /// at the end of the same tick (that stage's steps set those values).
    #[serde(with = "super::deltas")]
    pub runs: Vec<(u16, u64, u16, u32)>,
    /// (context, value), in run order.
    pub values: Vec<(u16, TraceValue)>,
    /// (table, reg_id, contexts): every slot of the record freed at once (bit i = context i).
    #[serde(with = "super::deltas")]
    pub freed: Vec<(u16, u64, u128)>,
    /// (table, reg_id, cabinet, from table, from reg_id, contexts): contexts of a record set to
    /// the values the record `from reg_id` of the node holds (a de-escalate), applied after
    /// the runs and before the freed slots (version 10).
    #[serde(with = "super::deltas")]
    pub copies: Vec<(u16, u64, u16, u16, u64, u128)>,
}

/// [`Changes`] as events version 10 wrote them: every reg_id whole.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangesBefore11 {
    transitions: Vec<(u16, u64, u16, u16)>,
    runs: Vec<(u16, u64, u16, u32)>,
    values: Vec<(u16, TraceValue)>,
    freed: Vec<(u16, u64, u128)>,
    copies: Vec<(u16, u64, u16, u16, u64, u128)>,
}

impl From<Changes> for ChangesBefore11 {
    fn from(c: Changes) -> ChangesBefore11 {
        let Changes { transitions, runs, values, freed, copies } = c;
        ChangesBefore11 { transitions, runs, values, freed, copies }
    }
}

impl From<ChangesBefore11> for Changes {
    fn from(c: ChangesBefore11) -> Changes {
        let ChangesBefore11 { transitions, runs, values, freed, copies } = c;
        Changes { transitions, runs, values, freed, copies }
    }
}

/// [`Changes`] as events versions before 10 wrote them: without `copies` (written only to
/// test that such traces still read).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangesBefore10 {
    transitions: Vec<(u16, u64, u16, u16)>,
    runs: Vec<(u16, u64, u16, u32)>,
    values: Vec<(u16, TraceValue)>,
    freed: Vec<(u16, u64, u128)>,
}

impl From<Changes> for ChangesBefore10 {
    /// Without its copies.
    fn from(c: Changes) -> ChangesBefore10 {
        ChangesBefore10 { transitions: c.transitions, runs: c.runs, values: c.values, freed: c.freed }
    }
}

impl From<ChangesBefore10> for Changes {
    fn from(c: ChangesBefore10) -> Changes {
        Changes {
            transitions: c.transitions,
            runs: c.runs,
            values: c.values,
            freed: c.freed,
            copies: Vec::new(),
        }
    }
}

/// One executed statement of one node. `C` is what its changes are read as: [`Changes`], or
/// [`SkippedChanges`] by a reader that needs the summary only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step<C = Changes> {
    /// Node index in `PipelineDesc::nodes`.
    pub node: u16,
    /// The node's step number.
    pub node_step: u64,
    /// The global step number.
    pub global_step: u64,
    /// Position of the statement in the node's program.
    pub statement: u16,
    /// The node's tick (input window).
    pub tick: u64,
    /// The node's pseudo-time (Unix seconds) when the step ran.
    pub time: i64,
    /// Wall-clock microseconds from the start of the recording to the start of the step (for
    /// timelines only: never compared, it changes from run to run).
    pub wall_start_us: u64,
    /// Wall-clock microseconds the step took.
    pub wall_us: u32,
    /// Net change of each cabinet's mass in the node.
    pub mass: Vec<(u16, i64)>,
    /// Cabinets whose mass went from 0 to more.
    pub appeared: Vec<u16>,
    /// Cabinets whose mass went back to 0.
    pub disappeared: Vec<u16>,
    /// (cabinet, context): the first record of the cabinet got a value for the context.
    pub contexts_appeared: Vec<(u16, u16)>,
    /// (cabinet, context): no record of the cabinet holds the context any more.
    pub contexts_disappeared: Vec<(u16, u16)>,
    /// Full level only.
    pub changes: Option<C>,
}

impl<C> Step<C> {
    /// The same step with its changes read as `D`.
    pub fn map_changes<D>(self, f: impl FnOnce(C) -> D) -> Step<D> {
        Step {
            node: self.node,
            node_step: self.node_step,
            global_step: self.global_step,
            statement: self.statement,
            tick: self.tick,
            time: self.time,
            wall_start_us: self.wall_start_us,
            wall_us: self.wall_us,
            mass: self.mass,
            appeared: self.appeared,
            disappeared: self.disappeared,
            contexts_appeared: self.contexts_appeared,
            contexts_disappeared: self.contexts_disappeared,
            changes: self.changes.map(f),
        }
    }
}

/// A step's [`Changes`] read past without being kept: what a reader that needs each step's
/// summary only (a consolidation, a timeline) decodes instead, building no value and checking
/// no text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SkippedChanges;

/// [`SkippedChanges`] of events versions before 10 (see [`ChangesBefore10`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SkippedChangesBefore10;

impl From<SkippedChangesBefore10> for SkippedChanges {
    fn from(_: SkippedChangesBefore10) -> SkippedChanges {
        SkippedChanges
    }
}

/// Read past a [`Changes`], with its `copies` or without.
fn skip_changes<'de, D: serde::Deserializer<'de>>(d: D, copies: bool) -> Result<(), D::Error> {
    use serde::de::{Error, SeqAccess, Visitor};
    struct Fields(bool);
    impl<'de> Visitor<'de> for Fields {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a step's changes")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
            // Changes' fields, in order. A reg_id written as a difference (version 11) is a
            // zigzag varint, read past as a u64's varint is: the same bytes.
            let read = [
                s.next_element::<Skip<(u16, u64, u16, u16)>>()?.is_some(),
                s.next_element::<Skip<(u16, u64, u16, u32)>>()?.is_some(),
                s.next_element::<Skip<(u16, SkippedValue)>>()?.is_some(),
                s.next_element::<Skip<(u16, u64, u128)>>()?.is_some(),
                !self.0 || s.next_element::<Skip<(u16, u64, u16, u16, u64, u128)>>()?.is_some(),
            ];
            match read.iter().position(|r| !r) {
                Some(i) => Err(A::Error::invalid_length(i, &self)),
                None => Ok(()),
            }
        }
    }
    let fields: &[&str] = &["transitions", "runs", "values", "freed", "copies"];
    d.deserialize_struct("Changes", &fields[..4 + usize::from(copies)], Fields(copies))
}

impl<'de> Deserialize<'de> for SkippedChanges {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        skip_changes(d, true).map(|()| SkippedChanges)
    }
}

impl<'de> Deserialize<'de> for SkippedChangesBefore10 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        skip_changes(d, false).map(|()| SkippedChangesBefore10)
    }
}

/// A sequence of `T` read past.
struct Skip<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Skip<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Items<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Items<T> {
            type Value = Skip<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<Skip<T>, A::Error> {
                while s.next_element::<T>()?.is_some() {}
                Ok(Skip(std::marker::PhantomData))
            }
        }
        d.deserialize_seq(Items(std::marker::PhantomData))
    }
}

/// A [`TraceValue`] read past: its text as bytes, neither copied nor checked as UTF-8.
#[derive(Deserialize)]
enum SkippedValue {
    Empty,
    Int(#[allow(dead_code)] i64),
    Text(#[allow(dead_code)] SkippedBytes),
    Time(#[allow(dead_code)] i64, #[allow(dead_code)] i32),
}

/// Bytes read past.
struct SkippedBytes;

impl<'de> Deserialize<'de> for SkippedBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl<'de> serde::de::Visitor<'de> for Bytes {
            type Value = SkippedBytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, _: &[u8]) -> Result<SkippedBytes, E> {
                Ok(SkippedBytes)
            }
        }
        d.deserialize_bytes(Bytes)
    }
}

/// One live record of a table at a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowSnapshot {
    /// Its reg_id.
    pub reg_id: u64,
    /// Its cabinet.
    pub cabinet: u16,
    /// Its linkey.
    pub linkey: u64,
    /// Its link_to.
    pub link_to: u64,
    /// Its skip flag.
    pub skip: bool,
    /// Its contexts (context id, value).
    pub values: Vec<(u16, TraceValue)>,
}

/// The state of a node's tables at the start of a tick (full level): where a replay can
/// start without reading what came before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Node index.
    pub node: u16,
    /// The tick about to run.
    pub tick: u64,
    /// The node step about to run.
    pub node_step: u64,
    /// The global step about to run.
    pub global_step: u64,
    /// The node's pseudo-time.
    pub time: i64,
    /// (table id, its live rows) for every table holding rows.
    pub tables: Vec<(u16, Vec<RowSnapshot>)>,
}

/// An entry of the trace.
// Nearly every event is a step: boxing it would cost an allocation per step for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event<C = Changes> {
    /// A statement ran.
    Step(Step<C>),
    /// A node's tables at the start of a tick (in a checkpoint chunk).
    Checkpoint(Box<Checkpoint>),
    /// A node processed all its input.
    Done {
        /// Node index.
        node: u16,
        /// Steps it executed.
        steps: u64,
        /// Its pseudo-time at the end.
        time: i64,
    },
    /// The keys of the events chunk before it (in a keys chunk of its own). After the
    /// variants of version 4, so that they keep the numbers it gave them.
    Keys(Box<super::keys::ChunkKeys>),
    /// A node's tick failed and was undone; the node restarted (version 7, so after the
    /// others).
    Failure(Box<Failure>),
    /// The restarts of a node so far, after the checkpoint it follows in a checkpoint chunk
    /// (only when there were any): a replay restoring the checkpoint knows them without
    /// reading the failures before it (version 8, so last).
    Restarts {
        /// Node index.
        node: u16,
        /// Its restarts so far.
        restarts: u32,
    },
}

impl<C> Event<C> {
    /// The same event with its step's changes read as `D`.
    pub fn map_changes<D>(self, f: impl FnOnce(C) -> D) -> Event<D> {
        match self {
            Event::Step(s) => Event::Step(s.map_changes(f)),
            Event::Checkpoint(c) => Event::Checkpoint(c),
            Event::Done { node, steps, time } => Event::Done { node, steps, time },
            Event::Keys(k) => Event::Keys(k),
            Event::Failure(f) => Event::Failure(f),
            Event::Restarts { node, restarts } => Event::Restarts { node, restarts },
        }
    }
}

/// A failed tick, undone by the supervisor. At full level a checkpoint of the node's tables
/// as the tick found them precedes its next step: a replay restores it there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The error, or the panic's message.
    pub message: String,
    /// The node's restarts so far, this one included.
    pub restarts: u32,
    /// The record quarantined because it failed too often, if any: (reg_id, the cabinet it
    /// was put in).
    pub quarantined: Option<(u64, u16)>,
    /// The step that failed (node, numbers, statement, tick, time), whose summary fields hold
    /// what undoing the tick changed in the node's presence.
    pub undo: Step,
}

/// The payload of one trace chunk: consecutive events of one node.
pub type Chunk = Vec<Event>;

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> Chunk {
        let step = |n: u64, changes: Option<Changes>| Step {
            node: 1,
            node_step: n,
            global_step: 1000 + n,
            statement: 3,
            tick: 2,
            time: -7,
            wall_start_us: 99,
            wall_us: 5,
            mass: vec![(2, 300), (3, -1)],
            appeared: vec![2],
            disappeared: vec![3],
            contexts_appeared: vec![(2, 0)],
            contexts_disappeared: vec![(3, 1)],
            changes,
        };
        let changes = Changes {
            transitions: vec![(1, 7, 0, 2), (1, u64::MAX, 2, 0)],
            runs: vec![(1, 7, 2, 4)],
            values: vec![
                (0, TraceValue::Text("EV000000007".into())),
                (1, TraceValue::Int(i64::MIN)),
                (2, TraceValue::Time(1_767_225_600, 999_999_999)),
                (3, TraceValue::Empty),
                (4, TraceValue::Text("Zoë, a text longer than twenty-three bytes".into())),
            ],
            freed: vec![(1, 9, u128::MAX)],
            copies: vec![(1, 9, 2, 0, 8, 1 << 100 | 1)],
        };
        let failure =
            Failure { message: "boom".into(), restarts: 2, quarantined: Some((9, 4)), undo: step(3, None) };
        vec![
            Event::Step(step(0, Some(changes))),
            Event::Step(step(1, None)),
            Event::Failure(Box::new(failure)),
            Event::Done { node: 1, steps: 4, time: 8 },
        ]
    }

    /// What reading past the changes must give: every event the same, but changes skipped.
    fn skipped(events: &Chunk) -> Vec<Event<SkippedChanges>> {
        events.iter().map(|e| e.clone().map_changes(|_| SkippedChanges)).collect()
    }

    #[test]
    fn steps_read_past_their_changes_keep_everything_else() {
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(events(), config).unwrap();
        let (read, used): (Vec<Event<SkippedChanges>>, usize) =
            bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(used, bytes.len(), "every byte read");
        assert_eq!(read, skipped(&events()));
        // A chunk cut anywhere is an error, never a panic.
        for cut in 0..bytes.len() {
            let r: Result<(Vec<Event<SkippedChanges>>, usize), _> =
                bincode::serde::decode_from_slice(&bytes[..cut], config);
            assert!(r.is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn changes_written_by_version_10_read_with_whole_reg_ids() {
        let events = events();
        let old: Vec<Event<ChangesBefore11>> =
            events.iter().cloned().map(|e| e.map_changes(ChangesBefore11::from)).collect();
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&old, config).unwrap();
        assert_ne!(bytes, bincode::serde::encode_to_vec(&events, config).unwrap(), "another layout");
        let (read, used): (Vec<Event<ChangesBefore11>>, usize) =
            bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(used, bytes.len());
        let read: Chunk = read.into_iter().map(|e| e.map_changes(Changes::from)).collect();
        assert_eq!(read, events);
        // Read past, both layouts take the same bytes.
        let (skipped_old, used): (Vec<Event<SkippedChanges>>, usize) =
            bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!((skipped_old, used), (skipped(&events), bytes.len()));
    }

    #[test]
    fn changes_written_before_version_10_read_without_copies() {
        let events: Chunk =
            events().into_iter().map(|e| e.map_changes(|c| Changes { copies: Vec::new(), ..c })).collect();
        let old: Vec<Event<ChangesBefore10>> =
            events.iter().cloned().map(|e| e.map_changes(ChangesBefore10::from)).collect();
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&old, config).unwrap();
        let (read, used): (Vec<Event<ChangesBefore10>>, usize) =
            bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(used, bytes.len());
        let read: Chunk = read.into_iter().map(|e| e.map_changes(Changes::from)).collect();
        assert_eq!(read, events);
        let (skipped_old, used): (Vec<Event<SkippedChangesBefore10>>, usize) =
            bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(used, bytes.len());
        let skipped_old: Vec<Event<SkippedChanges>> =
            skipped_old.into_iter().map(|e| e.map_changes(SkippedChanges::from)).collect();
        assert_eq!(skipped_old, skipped(&events));
    }
}
