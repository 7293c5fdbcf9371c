//! The command line (clap definitions only).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// catar: a state tracer and debugger for record-processing pipelines.
///
/// With no command, opens the TUI on the built-in demo: a generated telecom input rated by
/// REG → RATE → DIS, stopped at the first WIFE arrival (headless when not at a terminal).
#[derive(Debug, Parser)]
#[command(name = "catar", version, about, long_about)]
pub struct Cli {
    /// What to do (the built-in demo when omitted).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a deterministic rating input directory (five CSV files).
    Gen(GenArgs),
    /// Rate an input directory into an SQLite database.
    Run(RunArgs),
    /// Export a trace's cabinet lists or context matrices as CSV or JSON, or the whole run as a
    /// Perfetto (Chrome trace-event) timeline.
    Export(ExportArgs),
    /// Compare two traces' cabinet lists and context matrices: exit 0 same, 1 different, 2 error.
    Diff(DiffArgs),
    /// The history of a record by identifier in a full-level trace: every step that touched
    /// it, the statement, its cabinet before and after, its contexts; and metrics.
    Query(QueryArgs),
    /// Replay a trace (recorded with --level full for inquiries and cabinet forms) with the
    /// live controls, forwards and backwards: the TUI at a terminal, else headless.
    Replay(ReplayArgs),
}

/// `catar replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The trace file.
    pub trace: PathBuf,
    /// Which run of a trace several runs were appended to (order ACCUMULATE), from 1; the
    /// last by default.
    #[arg(long)]
    pub run: Option<usize>,
    /// How the replay is driven.
    #[command(flatten)]
    pub debug: DebugArgs,
}

/// How a debugging session is driven, live (`run`) or on a recording (`replay`).
#[derive(Debug, Args)]
pub struct DebugArgs {
    /// Without the terminal UI (it opens when stdin and stdout are a terminal and no script is
    /// given).
    #[arg(long)]
    pub headless: bool,
    /// A trace form (TOML) in force from the first step; repeat for several. Headless and
    /// without a script, each stop is printed and the run (or the replay) goes on; at a
    /// terminal the TUI opens and freezes there.
    #[arg(long)]
    pub form: Vec<PathBuf>,
    /// A script of debugger words (watch, break, stop-when, continue, step, inquire, resume,
    /// halt …; in a replay also back, goto, reverse-continue, when), one a line; it drives the
    /// session, headless.
    #[arg(long)]
    pub script: Option<PathBuf>,
    /// Print every event as one JSON object a line (with --script or --form).
    #[arg(long)]
    pub json: bool,
}

/// `catar query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The trace file (recorded with --level full).
    pub trace: PathBuf,
    /// NAME=VALUE: reg_id or any context (EVENT_ID, IMSI, SUBSCRIBER …).
    #[arg(long)]
    pub id: String,
    /// Which run of a trace several runs were appended to (order ACCUMULATE), from 1; the
    /// last by default.
    #[arg(long)]
    pub run: Option<usize>,
    /// The format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: QueryFormat,
    /// Write here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `query --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum QueryFormat {
    /// Readable text: the steps, then the metrics.
    Text,
    /// One JSON object: records, touches, metrics.
    Json,
    /// One row per step that touched a record.
    Csv,
}

/// `catar export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The trace file.
    pub trace: PathBuf,
    /// Which table (not needed for --format perfetto, which exports the whole run).
    #[arg(long, value_enum, required_unless_present_any = ["format"])]
    pub what: Option<crate::export::What>,
    /// The format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: crate::export::Format,
    /// Write here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `catar diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The reference trace.
    pub a: PathBuf,
    /// The trace compared with it.
    pub b: PathBuf,
    /// The format: a table a person reads, or one JSON object for a CI step to read.
    #[arg(long, value_enum, default_value = "text")]
    pub format: DiffFormat,
}

/// `diff --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// The notes, then one line per node and cabinet that differs, then the count.
    Text,
    /// One object: `same`, `a`, `b`, `notes` and `differences` (each with its `kind`).
    Json,
}

/// `catar gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Directory to write cdrs.csv, subscribers.csv, family.csv, tariffs.csv, tiers.csv into.
    #[arg(long)]
    pub out: PathBuf,
    /// CDR rows to write.
    #[arg(long, default_value_t = 10_000, allow_negative_numbers = true)]
    pub cdrs: usize,
    /// Subscribers to write.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..), allow_negative_numbers = true)]
    pub subscribers: u32,
    /// Seed: the same seed writes the same bytes.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub seed: u64,
    /// Share of anomalous CDR rows (duplicates, unknown IMSIs, unparsable or invalid rows),
    /// drawn per row as a re-sent event (a quarter of it) or a spoiled one: the share that
    /// comes out is about r - 3r²/16 (0.0199 at 0.02, 0.81 at 1).
    #[arg(long, default_value_t = 0.01, value_parser = rate, allow_negative_numbers = true)]
    pub bad_rate: f64,
    /// Share of poison CDR rows: valid rows (EVENT_ID `POISON…`) on which RATE fails every
    /// time, to see the supervisor restart it and quarantine them.
    #[arg(long, default_value_t = 0.0, value_parser = rate, allow_negative_numbers = true)]
    pub poison_rate: f64,
}

/// `catar run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Input directory (as written by `catar gen`).
    #[arg(long)]
    pub input: PathBuf,
    /// SQLite database to write; a rerun on the same input completes it.
    #[arg(long, default_value = "catar.db")]
    pub db: PathBuf,
    /// Segments (nodes, threads) per stage, 1 to 64 [default: half the machine's cores, at
    /// least 1: three stages, the reader and the writer already share them].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64), allow_negative_numbers = true)]
    pub segments: Option<u16>,
    /// How the run is driven under a debugger.
    #[command(flatten)]
    pub debug: DebugArgs,
    /// Record the run into this trace file.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// What the trace records (overrides the record config) [default: the record config's
    /// level, else summary].
    #[arg(long, value_enum, requires = "trace")]
    pub level: Option<LevelArg>,
    /// A TOML file with a [recorder] table: level, nodes, order (TRUNCATE | ACCUMULATE), duration.
    #[arg(long, requires = "trace")]
    pub record_config: Option<PathBuf>,
    /// Output rows per database transaction: smaller loses less work to a crash (a rerun on
    /// the same input and database completes it either way), larger writes faster.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u32).range(1..), allow_negative_numbers = true)]
    pub commit_every: u32,
    /// Party numbers not starting with this prefix are international.
    #[arg(long, default_value = crate::rating::DEFAULT_DOMESTIC_PREFIX, value_parser = prefix)]
    pub domestic_prefix: String,
    /// Make a node fail at one of its steps, K times in a row (the supervisor restarts it
    /// and the database comes out as without the fault); repeatable. NODE:step=N[:times=K]
    #[arg(long, value_name = "NODE:step=N[:times=K]")]
    pub inject_fault: Vec<crate::engine::Fault>,
    /// Failures of a record (alone in its tick) before it goes to quarantine.
    #[arg(long, default_value_t = crate::engine::DEFAULT_MAX_FAILURES, value_parser = clap::value_parser!(u32).range(1..), allow_negative_numbers = true)]
    pub max_failures: u32,
}

/// `--level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LevelArg {
    /// Record nothing (the trace holds only its header).
    Off,
    /// Steps, mass changes, appearances and disappearances.
    Summary,
    /// Also every transition and context value.
    Full,
}

/// `--domestic-prefix`: an empty one would call every number domestic.
fn prefix(s: &str) -> Result<String, String> {
    match s {
        "" => Err("an empty prefix would make every number domestic (like +972)".into()),
        s if s.contains(char::is_whitespace) => {
            Err(format!("{s:?} holds a space: a prefix is the start of a number, like +972"))
        }
        s => Ok(s.to_string()),
    }
}

fn rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("{s:?} is not a rate between 0 and 1")),
    }
}
