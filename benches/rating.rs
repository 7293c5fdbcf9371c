//! The rating workload, measured in one run so that the ratios are comparable:
//! - `floor`: reading and parsing cdrs.csv alone (csv + jiff + integer parse), no engine;
//! - `catar/1`, `catar/2`: the whole headless pipeline into a fresh SQLite database;
//! - `engine/2`: the same pipeline with a sink that drops the records (no SQLite): the engine
//!   alone, against the floor;
//! - `engine/2+hook`: as `engine/2` with a step hook that counts steps (its cost is the hook's);
//! - `catar/1+summary`, `catar/1+full`: `catar/1` recorded into a trace at each level;
//! - `sqlite`: the same rules as SQL statements over the same input (the baseline).
//!
//! `cargo bench --bench rating` (CDRS=200000 by default; set CDRS to change it).

#[path = "support/sqlite_baseline.rs"]
mod sqlite_baseline;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use catar::engine::{BoxError, HookFactory, NoHook, NodeId, Sink, SinkBatch, StepHook, StepPoint, Workspace};
use catar::ops::StepReport;
use catar::rating::generate::{GenOptions, generate};
use catar::rating::input::CdrSource;
use catar::rating::{Rating, Reference};
use catar::rating::{RunOptions, run};
use catar::recorder::{Level, RecorderSettings};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

fn cdrs() -> usize {
    std::env::var("CDRS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000)
}

/// The floor: what any implementation pays to read the input.
fn parse_floor(input: &Path) -> usize {
    let mut reader =
        csv::ReaderBuilder::new().flexible(true).from_path(input.join("cdrs.csv")).expect("open cdrs.csv");
    let mut row = csv::StringRecord::new();
    let mut ok = 0;
    while reader.read_record(&mut row).expect("read a row") {
        let times = row.get(6).and_then(|s| s.parse::<jiff::Timestamp>().ok()).is_some()
            && row.get(7).and_then(|s| s.parse::<jiff::Timestamp>().ok()).is_some();
        let duration = row.get(9).and_then(|s| s.parse::<i64>().ok()).is_some();
        ok += usize::from(times && duration);
    }
    ok
}

/// A sink that keeps nothing.
struct Drop;

impl Sink for Drop {
    fn write(&mut self, _batch: SinkBatch) -> Result<(), BoxError> {
        Ok(())
    }
    fn finish(&mut self) -> Result<(), BoxError> {
        Ok(())
    }
}

/// A hook that counts steps: the least a real hook does.
#[derive(Default)]
struct Count(u64);

impl StepHook for Count {
    fn after_step(&mut self, _at: &StepPoint<'_>, _report: &StepReport, _ws: &Workspace) {
        self.0 += 1;
    }
}

impl HookFactory for Count {
    fn hook_for(&self, _node: &NodeId) -> Box<dyn StepHook> {
        Box::new(Count::default())
    }
}

fn engine_only(input: &Path, hooks: &dyn HookFactory) -> u64 {
    let rating = Arc::new(Rating::new());
    let refs = Reference::load(input, &rating).expect("reference files");
    let mut source = CdrSource::open(input, rating.clone(), None).expect("cdrs.csv");
    let expected = catar::rating::input::estimated_rows(input);
    let pipeline =
        catar::rating::pipeline(&rating, &refs, 2, catar::rating::DEFAULT_DOMESTIC_PREFIX, expected);
    pipeline.run(&mut source, &mut Drop, hooks).expect("the run succeeds").steps
}

fn bench(c: &mut Criterion) {
    let n = cdrs();
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("input");
    let opts = GenOptions {
        out: input.clone(),
        cdrs: n,
        subscribers: 5_000,
        seed: 7,
        bad_rate: 0.02,
        poison_rate: 0.0,
    };
    generate(&opts).expect("generate the input");
    let fresh_db = || {
        let db = dir.path().join("out.db");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        db
    };

    let mut g = c.benchmark_group(format!("rating_{n}"));
    g.sample_size(10).measurement_time(Duration::from_secs(20)).throughput(Throughput::Elements(n as u64));
    g.bench_function("floor", |b| b.iter(|| parse_floor(&input)));
    for segments in [1, 2] {
        g.bench_function(format!("catar/{segments}"), |b| {
            b.iter_batched(
                fresh_db,
                |db| {
                    let mut o = RunOptions::new(&input, &db);
                    o.segments = segments;
                    run(&o, &NoHook).expect("the run succeeds")
                },
                BatchSize::PerIteration,
            )
        });
    }
    for level in [Level::Summary, Level::Full] {
        g.bench_function(format!("catar/1+{level:?}").to_lowercase(), |b| {
            b.iter_batched(
                fresh_db,
                |db| {
                    let mut o = RunOptions::new(&input, &db);
                    o.segments = 1;
                    let settings = RecorderSettings { level, ..RecorderSettings::default() };
                    o.record = Some((dir.path().join("run.trace"), settings));
                    run(&o, &NoHook).expect("the run succeeds")
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.bench_function("engine/2", |b| b.iter(|| engine_only(&input, &NoHook)));
    g.bench_function("engine/2+hook", |b| b.iter(|| engine_only(&input, &Count::default())));
    g.bench_function("sqlite", |b| {
        b.iter_batched(
            fresh_db,
            |db| sqlite_baseline::rate_with_sqlite(&input, &db).expect("the baseline succeeds"),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

// criterion_group! defines `pub fn benches`, which no doc comment can reach.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group!(benches, bench);
}
use group::benches;
criterion_main!(benches);
