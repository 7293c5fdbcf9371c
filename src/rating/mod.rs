//! The reference pipeline: telecom rating REG → RATE → DIS (SPEC §8), written only against
//! catar's public API, the way a user would write their own pipeline.

mod dis;
pub mod generate;
pub mod input;
pub mod output;
mod rate;
pub mod reference;
mod reg;
pub mod schema;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::engine::{
    Control, EngineError, Fault, HookFactory, Hooks, Pipeline, Quarantine, RunReport, Supervision,
};
use crate::recorder::{Recorder, RecorderSettings, Recording};
use crate::store::StoreError;
use crate::trace::TraceError;
pub use input::InputError;
pub use output::Outcome;
pub use reference::Reference;
pub use schema::Rating;

/// The domestic prefix of SPEC §8 rule 3.
pub const DEFAULT_DOMESTIC_PREFIX: &str = "+972";

/// How to run the rating pipeline.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The input directory.
    pub input: PathBuf,
    /// The SQLite database to write.
    pub db: PathBuf,
    /// Segments (nodes) per stage.
    pub segments: usize,
    /// Output rows per database transaction (a record's row and its balance change always
    /// commit together).
    pub commit_every: usize,
    /// Show a progress bar on stderr (only drawn when it is a terminal).
    pub progress: bool,
    /// Numbers not starting with it are international.
    pub domestic_prefix: String,
    /// Record the run into this trace file with these settings.
    pub record: Option<(PathBuf, RecorderSettings)>,
    /// The file the recording's settings came from, named when they do not fit the pipeline.
    pub record_config: Option<PathBuf>,
    /// Halts the run and shows its nodes' activity to whoever holds a clone.
    pub control: Arc<Control>,
    /// Failures of a record (alone in its tick) before it is quarantined.
    pub max_failures: u32,
    /// Faults to inject into nodes.
    pub faults: Vec<Fault>,
    /// Input rows per tick (micro-batch window).
    pub window: usize,
}

impl RunOptions {
    /// Options with the defaults for everything but the paths.
    pub fn new(input: impl Into<PathBuf>, db: impl Into<PathBuf>) -> Self {
        RunOptions {
            input: input.into(),
            db: db.into(),
            segments: 2,
            commit_every: output::COMMIT_EVERY,
            progress: false,
            domestic_prefix: DEFAULT_DOMESTIC_PREFIX.into(),
            record: None,
            record_config: None,
            control: Control::new(),
            max_failures: crate::engine::DEFAULT_MAX_FAILURES,
            faults: Vec::new(),
            window: crate::engine::DEFAULT_WINDOW,
        }
    }

    /// The options a trace's header keeps (see [`TraceHeader::options`]): those that change
    /// the results without showing in the pipeline description, so that `catar diff` can say
    /// when two runs differ in them.
    ///
    /// [`TraceHeader::options`]: crate::recorder::TraceHeader::options
    pub fn recorded_options(&self) -> Vec<(String, String)> {
        vec![
            ("--domestic-prefix".into(), self.domestic_prefix.clone()),
            ("--max-failures".into(), self.max_failures.to_string()),
        ]
    }
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// Data rows read from cdrs.csv.
    pub cdrs: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// The part of `elapsed` during which a debugger held at least one node at a stop.
    pub held: Duration,
    /// What the database holds after it.
    pub outcome: Outcome,
    /// Per-node figures.
    pub report: RunReport,
    /// The trace written, if the run was recorded.
    pub recording: Option<Recording>,
    /// Rows the output tables held before the run (a rerun on the same database).
    pub stored_before: u64,
    /// Whether the run was halted before the end of its input.
    pub halted: bool,
}

/// Why a rating run failed.
#[derive(Debug, thiserror::Error)]
pub enum RatingError {
    /// Bad input.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The database cannot be used or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The pipeline failed.
    #[error(transparent)]
    Engine(EngineError),
    /// The trace file could not be opened for writing (a bad --trace path).
    #[error(transparent)]
    TraceOpen(TraceError),
    /// The trace could not be written.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The run completed, its database whole, but its trace could not be written to the end
    /// (a full disk): the summary of what was stored goes with the error.
    #[error(
        "{source}: the trace stops where writing failed (it reads as a trace cut short); the run \
         itself completed and its database is whole"
    )]
    TraceCut {
        /// Why the trace could not be written.
        source: TraceError,
        /// The run's summary (without a trace).
        summary: Box<RunSummary>,
    },
    /// A fault to inject names no node of the pipeline.
    #[error("{0}")]
    Fault(String),
    /// A recording names no node of the pipeline, or a trace path no file can be made at.
    #[error("{0}")]
    Setting(String),
    /// A debugging session's forms or script do not fit the pipeline.
    #[error("{0}")]
    Check(String),
    /// Rows went missing: a bug, reported rather than hidden.
    #[error(
        "conservation broken: {rows} rows in cdrs.csv but {stored} stored in persistent, rejected and quarantine"
    )]
    Conservation {
        /// Data rows read.
        rows: u64,
        /// Rows found in the output tables.
        stored: u64,
    },
    /// Rows read before a halt went missing, or rows appeared from nowhere.
    #[error(
        "conservation broken: {rows} rows read before the halt, {before} stored before the run, but {stored} \
         stored now in persistent, rejected and quarantine"
    )]
    HaltedConservation {
        /// Data rows read.
        rows: u64,
        /// Rows in the output tables before the run.
        before: u64,
        /// Rows in them after it.
        stored: u64,
    },
}

impl RatingError {
    /// 2 for bad input or an unusable database (another process holding it locked
    /// included), 1 for a failure during the run.
    pub fn exit_code(&self) -> i32 {
        match self {
            RatingError::Input(_)
            | RatingError::Fault(_)
            | RatingError::Setting(_)
            | RatingError::Check(_)
            | RatingError::TraceOpen(_)
            | RatingError::Store(
                StoreError::Open { .. }
                | StoreError::Foreign { .. }
                | StoreError::Unrelated { .. }
                | StoreError::ReadOnly { .. }
                | StoreError::Settings { .. },
            ) => 2,
            RatingError::Store(StoreError::Write { source, .. }) if locked(source) => 2,
            _ => 1,
        }
    }
}

/// True when SQLite gave up waiting for another connection's lock.
fn locked(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if matches!(f.code, DatabaseBusy | DatabaseLocked))
}

impl From<EngineError> for RatingError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Source(b) => match b.downcast::<InputError>() {
                Ok(i) => RatingError::Input(*i),
                Err(b) => RatingError::Engine(EngineError::Source(b)),
            },
            EngineError::Sink(b) => match b.downcast::<StoreError>() {
                Ok(s) => RatingError::Store(*s),
                Err(b) => RatingError::Engine(EngineError::Sink(b)),
            },
            other => RatingError::Engine(other),
        }
    }
}

/// The rating pipeline REG → RATE → DIS with `segments` nodes per stage. `expected_cdrs`
/// (an estimate is fine) sizes the set of seen events once, so that it never doubles in place
/// near the end of a big input.
pub fn pipeline(
    rating: &Arc<Rating>,
    refs: &Reference,
    segments: usize,
    domestic_prefix: &str,
    expected_cdrs: usize,
) -> Pipeline {
    let mut p = Pipeline::new(rating.schema.clone());
    p.stage(reg::stage(rating, refs, expected_cdrs / segments.max(1)), segments)
        .stage(rate::stage(rating, refs, domestic_prefix), segments)
        .stage(dis::stage(rating), segments)
        .supervision(Supervision {
            quarantine: Some(Quarantine {
                table: output::QUARANTINE.into(),
                cabinet: rating.cab.quarantine,
                error: rating.ctx.error,
            }),
            ..Supervision::default()
        });
    p
}

/// A fault names a node the pipeline has, or it would silently never fire.
fn check_faults(pipeline: &Pipeline, faults: &[Fault]) -> Result<(), RatingError> {
    let nodes = pipeline.nodes();
    match faults.iter().find(|f| !nodes.iter().any(|n| n.name == f.node)) {
        Some(f) => Err(RatingError::Fault(format!(
            "--inject-fault {}: no node {} (the nodes are {})",
            f.node,
            f.node,
            nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ")
        ))),
        None => Ok(()),
    }
}

/// A recording names nodes the pipeline has (or it would record nothing) and goes where a
/// file can be made; checked before the database is opened, without touching the trace file
/// (a TRUNCATE recording empties it only once the run can start).
fn check_recording(
    pipeline: &Pipeline,
    opts: &RunOptions,
    path: &std::path::Path,
    settings: &RecorderSettings,
) -> Result<(), RatingError> {
    let nodes = pipeline.nodes();
    if let Some(n) = &settings.nodes
        && !nodes.iter().any(|x| settings.records(x))
    {
        let names: Vec<&str> = nodes.iter().map(|x| x.name.as_str()).collect();
        let file = opts.record_config.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default();
        return Err(RatingError::Setting(format!(
            "{file}[recorder] nodes = \"{n}\": no such node or stage (the nodes are {})",
            names.join(", ")
        )));
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let input = input::FILES.iter().find(|f| crate::paths::same_file(path, &opts.input.join(f)));
    let problem = if path.is_dir() {
        Some("it is a directory".to_string())
    } else if !dir.is_dir() {
        Some("its directory does not exist".to_string())
    } else if crate::paths::database_file(path, &opts.db) {
        Some("it is the database (--db) or a file SQLite keeps beside it".to_string())
    } else if let Some(f) = input {
        Some(format!("it is the input's {f}"))
    } else if settings.order == crate::recorder::Order::Truncate && !overwritable(path) {
        // A trace (or nothing) may be replaced; any other file is someone's data.
        Some("it exists and is not a catar trace (remove it or name another file)".to_string())
    } else {
        None
    };
    if let Some(why) = problem {
        return Err(RatingError::Setting(format!("cannot write the trace {}: {why}", path.display())));
    }
    // Before the database is made: a run that cannot be appended changes nothing.
    if settings.order == crate::recorder::Order::Accumulate {
        // Runs of other inputs may accumulate: the input is not compared.
        let header = crate::recorder::TraceHeader::of(pipeline, settings, None, opts.recorded_options());
        crate::recorder::check_append(path, &header).map_err(RatingError::TraceOpen)?;
    }
    Ok(())
}

/// True when nothing but a trace would be lost by truncating `path`: it is missing, empty, not
/// a regular file (`/dev/null`), or starts as a trace does.
fn overwritable(path: &std::path::Path) -> bool {
    use std::io::Read;
    let Ok(meta) = std::fs::metadata(path) else { return true };
    if !meta.is_file() || meta.len() == 0 {
        return true;
    }
    let mut start = Vec::with_capacity(crate::trace::MAGIC.len());
    let read = std::fs::File::open(path)
        .and_then(|f| f.take(crate::trace::MAGIC.len() as u64).read_to_end(&mut start));
    // A trace cut inside its magic number is a trace too.
    read.is_ok() && crate::trace::MAGIC.starts_with(&start)
}

/// Rate an input directory into a database, with `hooks` attached to every node.
pub fn run(opts: &RunOptions, hooks: &dyn HookFactory) -> Result<RunSummary, RatingError> {
    prepare(opts)?.run(hooks)
}

/// A run whose inputs, database and trace are open and checked, ready to start: bad input is
/// reported before any thread starts, and a debugger can read the pipeline it will run.
pub struct Prepared {
    opts: RunOptions,
    started: Instant,
    rating: Arc<Rating>,
    sink: output::RatingSink,
    source: input::CdrSource,
    progress: Option<ProgressBar>,
    pipeline: Pipeline,
    recorder: Option<Recorder>,
    stored_before: u64,
}

/// Open and check everything a run needs.
pub fn prepare(opts: &RunOptions) -> Result<Prepared, RatingError> {
    prepare_checked(opts, |_| Ok(()))
}

/// [`prepare`], with `check` run over the pipeline before anything is written.
fn prepare_checked(
    opts: &RunOptions,
    check: impl FnOnce(&Pipeline) -> Result<(), RatingError>,
) -> Result<Prepared, RatingError> {
    let started = Instant::now();
    input::check_dir(&opts.input)?;
    let rating = Arc::new(Rating::new());
    let refs = Reference::load(&opts.input, &rating)?;
    let fingerprint = input::fingerprint(&opts.input)?;
    let expected = input::estimated_rows(&opts.input);
    let mut pipeline = pipeline(&rating, &refs, opts.segments, &opts.domestic_prefix, expected);
    // What can be checked without writing anything is, before the database is created.
    check_faults(&pipeline, &opts.faults)?;
    if let Some((path, settings)) = &opts.record {
        check_recording(&pipeline, opts, path, settings)?;
    }
    check(&pipeline)?;
    // cdrs.csv's header is checked before the database is created: a database stamped with
    // an input that never ran would refuse the corrected one.
    let progress = opts.progress.then(|| progress_bar(&opts.input.join(input::CDRS)));
    let source = input::CdrSource::open(&opts.input, rating.clone(), progress.clone())?;
    // The one setting that changes prices (the input's fingerprint covers the rest).
    let settings = format!("--domestic-prefix {}", opts.domestic_prefix);
    let sink = output::RatingSink::open(
        &opts.db,
        &fingerprint,
        &settings,
        rating.clone(),
        &refs.balances,
        opts.commit_every,
    )?;
    pipeline.window(opts.window);
    let supervision = pipeline.supervision_mut();
    supervision.max_failures = opts.max_failures;
    supervision.faults = opts.faults.clone();
    let recorder = match &opts.record {
        Some((path, settings)) => {
            let input = Some(fingerprint.clone());
            let options = opts.recorded_options();
            Some(
                Recorder::start(path, &pipeline, settings.clone(), input, options)
                    .map_err(RatingError::TraceOpen)?,
            )
        }
        None => None,
    };
    let stored_before = sink.outcome()?.stored();
    Ok(Prepared {
        opts: opts.clone(),
        started,
        rating,
        sink,
        source,
        progress,
        pipeline,
        recorder,
        stored_before,
    })
}

impl Prepared {
    /// The pipeline it will run.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// The rating schema.
    pub fn rating(&self) -> &Arc<Rating> {
        &self.rating
    }

    /// Run to the end (or to a halt asked through the options' control).
    pub fn run(mut self, hooks: &dyn HookFactory) -> Result<RunSummary, RatingError> {
        let control = &self.opts.control;
        let result = match &self.recorder {
            Some(r) => self.pipeline.run_with(&mut self.source, &mut self.sink, &Hooks(r, hooks), control),
            None => self.pipeline.run_with(&mut self.source, &mut self.sink, hooks, control),
        };
        // The trace is closed cleanly (with its footer) whether the run succeeded or not.
        let recording = self.recorder.map(Recorder::finish).transpose();
        let report = result?;
        let (recording, trace_failure) = match recording {
            Ok(r) => (r, None),
            Err(e) => (None, Some(e)),
        };
        if let Some(p) = self.progress {
            p.finish_and_clear();
        }
        let outcome = self.sink.outcome()?;
        let stored = outcome.stored();
        let (rows, before, halted) = (report.records, self.stored_before, self.opts.control.halted());
        if halted {
            // Every row read is stored whole, and a rerun's rows were maybe stored already: the
            // database holds at least each, at most both.
            if stored < rows.max(before) || stored > before + rows {
                return Err(RatingError::HaltedConservation { rows, before, stored });
            }
        } else if stored != rows {
            return Err(RatingError::Conservation { rows, stored });
        }
        let elapsed = self.started.elapsed();
        let held = self.opts.control.held().min(elapsed);
        let summary = RunSummary {
            cdrs: rows,
            elapsed,
            held,
            outcome,
            report,
            recording,
            stored_before: before,
            halted,
        };
        match trace_failure {
            None => Ok(summary),
            Some(source) => Err(RatingError::TraceCut { source, summary: Box::new(summary) }),
        }
    }
}

impl RunSummary {
    /// The summary a person reads after a run: rows per final cabinet, the conservation check,
    /// the rate, the database and trace written.
    pub fn lines(&self, opts: &RunOptions) -> Vec<String> {
        let secs = self.elapsed.as_secs_f64();
        // Time held at stops is the person's, not the pipeline's: the rate leaves it out.
        let held = self.held.as_secs_f64();
        let running = secs - held;
        let rate = if running > 0.0 { self.cdrs as f64 / running } else { 0.0 };
        // A hold too short to show at this precision (a script's) is not worth a word.
        let timing = if held < 0.005 {
            format!("in {secs:.2} s ({rate:.0} CDR/s)")
        } else {
            format!("in {secs:.2} s, {held:.2} s of it held at stops ({rate:.0} CDR/s running)")
        };
        let o = &self.outcome;
        let cdrs = opts.input.join(input::CDRS);
        let reasons: Vec<String> = o.rejected.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let reasons = if reasons.is_empty() { String::new() } else { format!("  ({})", reasons.join(", ")) };
        let stored = o.stored();
        let before = self.stored_before;
        // After an earlier run stored some rows, what this run did is told apart from what the
        // database holds (the figures below are its totals).
        let first = match before {
            0 => format!(
                "rated {} CDRs from {} {timing}, {} segment(s) per stage",
                self.cdrs,
                cdrs.display(),
                opts.segments
            ),
            _ => format!(
                "read {} CDRs from {} {timing}, {} segment(s) per stage: {} rated now, the {before} stored by an earlier run passed over",
                self.cdrs,
                cdrs.display(),
                opts.segments,
                stored.saturating_sub(before)
            ),
        };
        let mut lines = vec![first];
        if before > 0 {
            lines.push("the database holds, this run's and the earlier's together:".into());
        }
        lines.extend([
            format!("  {:<11} {:>9}", "PERSISTENT", o.persistent),
            format!("  {:<11} {:>9}{reasons}", "REJECTED", o.rejected_total()),
            format!("  {:<11} {:>9}", "QUARANTINE", o.quarantine),
            match (self.halted, self.stored_before) {
                (false, 0) => format!("conservation: {} rows = {stored} stored: ok", self.cdrs),
                (false, before) => format!(
                    "conservation: {} rows = {stored} stored ({before} by an earlier run): ok",
                    self.cdrs
                ),
                (true, before) => format!(
                    "conservation: {} rows read before the halt, each stored ({stored} stored, {before} \
                     before this run): ok",
                    self.cdrs
                ),
            },
            format!("database: {} ({} balances)", opts.db.display(), o.balances),
        ]);
        let restarted: Vec<String> = (self.report.nodes.iter())
            .filter(|n| n.restarts > 0)
            .map(|n| format!("{} {}", n.node, n.restarts))
            .collect();
        // Said either way: a fault that lands on a retry the supervisor made anyway (a poison
        // row's) changes no other figure.
        for n in &self.report.nodes {
            for (f, fired) in &n.faults {
                lines.push(match fired {
                    0 => format!("fault {f} never fired: {} ran {} steps", n.node, n.steps),
                    1 => format!("fault {f} fired once"),
                    k if *k == f.times => format!("fault {f} fired {k} times"),
                    k => {
                        format!("fault {f} fired {k} of {} times: {} ran {} steps", f.times, n.node, n.steps)
                    }
                });
            }
        }
        if !restarted.is_empty() {
            let total: u32 = self.report.nodes.iter().map(|n| n.restarts).sum();
            lines.push(format!(
                "supervisor: {total} restarts ({}), every failed tick undone",
                restarted.join(", ")
            ));
        }
        if let (Some(r), Some((path, settings))) = (&self.recording, &opts.record) {
            lines.push(format!("trace: {} ({}, {} bytes)", path.display(), settings.level, r.bytes));
        }
        lines
    }
}

/// The run as a debugger's debuggee: inputs checked and opened now (bad input is an error
/// here, before anything runs), the run itself when the session starts it.
pub fn debuggee(opts: &RunOptions) -> Result<crate::session::Debuggee, RatingError> {
    debuggee_checked(opts, |_| Ok(()))
}

/// [`debuggee`], with `check` (a session's forms and script) run over the pipeline before the
/// database is created: what it refuses leaves no file behind.
pub fn debuggee_checked(
    opts: &RunOptions,
    check: impl FnOnce(&crate::recorder::PipelineDesc) -> Result<(), String>,
) -> Result<crate::session::Debuggee, RatingError> {
    let prepared = prepare_checked(opts, |pipeline| {
        check(&crate::recorder::PipelineDesc::of(pipeline)).map_err(RatingError::Check)
    })?;
    let desc = Arc::new(crate::recorder::PipelineDesc::of(prepared.pipeline()));
    let control = opts.control.clone();
    let trace = opts.record.as_ref().map(|(p, s)| (p.clone(), s.level));
    let opts = opts.clone();
    let run = move |hooks: &dyn HookFactory| {
        let summary = prepared.run(hooks).map_err(|e| {
            let message = match &e {
                // Why the trace is not whole, then what the database holds.
                RatingError::TraceCut { summary, .. } => format!("{e}\n{}", summary.lines(&opts).join("\n")),
                _ => e.to_string(),
            };
            crate::session::Failure { message, code: e.exit_code() }
        })?;
        Ok(crate::session::Outcome {
            records: summary.cdrs,
            seconds: summary.elapsed.as_secs_f64(),
            held_seconds: summary.held.as_secs_f64(),
            summary: summary.lines(&opts),
            trace: opts.record.as_ref().map(|(p, _)| p.clone()),
        })
    };
    Ok(crate::session::Debuggee { desc, control, run: Box::new(run), trace })
}

fn progress_bar(cdrs: &std::path::Path) -> ProgressBar {
    let len = std::fs::metadata(cdrs).map_or(0, |m| m.len());
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template(
        "{spinner} rating {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .expect("a valid progress template");
    bar.set_style(style);
    bar
}
