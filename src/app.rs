//! What each command does, from parsed arguments to an exit code.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cli::{
    Cli, Command, DebugArgs, DiffArgs, DiffFormat, ExportArgs, GenArgs, LevelArg, QueryArgs, QueryFormat,
    ReplayArgs, RunArgs,
};
use crate::engine::NoHook;
use crate::export::Format;
use crate::outfile::OutFile;
use crate::rating::generate::{GenOptions, generate};
use crate::rating::{RatingError, RunOptions, RunSummary, run};
use crate::recorder::{
    Consolidation, Level, RecorderSettings, SettingsError, Trace, consolidate, open_run, open_trace,
};
use crate::script::{Script, ScriptError};
use crate::session::{Interrupt, Target};
use crate::tracer::{CompiledForm, TraceForm};

/// Run a parsed command line; returns the process exit code.
pub fn main_with(cli: Cli) -> i32 {
    match cli.command {
        None => demo(),
        Some(Command::Gen(args)) => write_input(&args),
        Some(Command::Run(args)) => rate(&args),
        Some(Command::Export(args)) => export(&args),
        Some(Command::Diff(args)) => diff(&args),
        Some(Command::Query(args)) => query(&args),
        Some(Command::Replay(args)) => replay(&args),
    }
}

/// The recorder settings of `run`: the record config, then the flags over it.
fn record_settings(args: &RunArgs) -> Result<Option<(std::path::PathBuf, RecorderSettings)>, SettingsError> {
    let Some(path) = &args.trace else { return Ok(None) };
    let mut settings = match &args.record_config {
        Some(file) => RecorderSettings::load(file)?,
        None => RecorderSettings::default(),
    };
    if let Some(level) = args.level {
        settings.level = match level {
            LevelArg::Off => Level::Off,
            LevelArg::Summary => Level::Summary,
            LevelArg::Full => Level::Full,
        };
    }
    Ok(Some((path.clone(), settings)))
}

fn warn_if_cut(trace: &Trace, path: &std::path::Path) {
    if !trace.complete() {
        eprintln!("catar: warning: {} has no footer (cut short?); using what it holds", path.display());
    }
}

/// Say which run of a trace holding several is read (a replay or a query reads one).
fn say_run(path: &std::path::Path, run: usize, runs: usize) {
    if runs > 1 {
        eprintln!(
            "catar: {} holds {runs} runs (appended with ACCUMULATE): reading run {run} (--run N for another)",
            path.display()
        );
    }
}

fn consolidated(path: &std::path::Path) -> Result<Consolidation, i32> {
    recording(path).map(|r| r.consolidation)
}

/// A trace's consolidation, with what its header says of the run.
struct Recorded {
    consolidation: Consolidation,
    /// The nodes that ran.
    nodes: Vec<String>,
    /// How its runs were made and recorded.
    provenance: crate::export::Provenance,
    /// The file has its footer (it was not cut short).
    complete: bool,
}

fn recording(path: &std::path::Path) -> Result<Recorded, i32> {
    let mut trace = open_trace(path).map_err(|e| fail(&e, 2))?;
    warn_if_cut(&trace, path);
    let nodes = trace.header().pipeline.nodes.clone();
    let provenance = crate::export::Provenance::of(&trace);
    let complete = trace.complete();
    let consolidation = consolidate(&mut trace).map_err(|e| fail(&e, 2))?;
    Ok(Recorded { consolidation, nodes, provenance, complete })
}

fn export(args: &ExportArgs) -> i32 {
    let mut trace = match open_trace(&args.trace) {
        Ok(t) => t,
        Err(e) => return fail(&e, 2),
    };
    warn_if_cut(&trace, &args.trace);
    // An empty table would read as a run with no cabinets (and an --out file is not made).
    if trace.header().settings.level == Level::Off {
        return recorded_off(&args.trace, "export");
    }
    let mut sink = match OutFile::create(args.out.as_deref(), &args.trace) {
        Ok(sink) => sink,
        Err(e) => return fail(&e, 2),
    };
    let result = if args.format == Format::Perfetto {
        crate::export::perfetto(&mut trace, &mut sink)
    } else {
        let Some(what) = args.what else {
            return fail(&"--what is needed for csv and json exports", 2);
        };
        match consolidate(&mut trace) {
            Ok(c) => crate::export::export(&c, what, args.format, &mut sink),
            Err(e) => return fail(&e, 2),
        }
    };
    match result.and_then(|()| Ok(sink.finish()?)) {
        Ok(()) => 0,
        // A reader that stopped early (`| head`) has what it wanted.
        Err(crate::export::ExportError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(crate::export::ExportError::Io(e)) => {
            fail(&format!("cannot write {}: {e}", output_name(args.out.as_deref())), 2)
        }
        Err(e) => fail(&e, 2),
    }
}

/// The refusal of a trace recorded at off level, which holds no step, cabinet or context.
fn recorded_off(path: &std::path::Path, to: &str) -> i32 {
    let why = format!("holds no cabinet or context to {to} (record with --level summary or full)");
    fail(&format!("{} was recorded at off level: it {why}", path.display()), 2)
}

fn diff(args: &DiffArgs) -> i32 {
    let (a, b) = match (recording(&args.a), recording(&args.b)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    // Two empty recordings would read as the same.
    for (path, r) in [(&args.a, &a), (&args.b, &b)] {
        if r.provenance.recorder.level == Level::Off {
            return recorded_off(path, "compare");
        }
    }
    let (nodes_a, nodes_b) = (&a.nodes, &b.nodes);
    let differences = crate::export::diff(&a.consolidation, &b.consolidation);
    let same = differences.is_empty();
    // What qualifies the verdict: a file cut short (said first), runs not made or recorded
    // alike.
    let mut cut: Vec<String> = Vec::new();
    for (name, path, r) in [("A", &args.a, &a), ("B", &args.b, &b)] {
        if !r.complete {
            cut.push(format!(
                "note: {name} ({}) has no footer: the file was cut short and holds only part of its run",
                path.display()
            ));
        }
    }
    let mut notes = crate::export::notes(&a.provenance, &b.provenance);
    // These two explain differences; with none they have nothing to explain.
    if !same && nodes_a != nodes_b {
        // Each node's rows are its own: other segment counts differ everywhere.
        notes.push(format!(
            "note: A ran {} nodes ({}), B ran {} ({}): node rows differ by nature; record both with \
             the same --segments",
            nodes_a.len(),
            nodes_a.join(", "),
            nodes_b.len(),
            nodes_b.join(", ")
        ));
    }
    let restarts = |c: &Consolidation| -> String {
        let each: Vec<String> = c.restarts.iter().map(|(n, k)| format!("{n} {k}")).collect();
        if each.is_empty() { "none".into() } else { each.join(", ") }
    };
    if !same && a.consolidation.restarts != b.consolidation.restarts {
        // Failed attempts are undone but their steps count: a flaky restart is not a
        // regression of what the records went through.
        notes.push(format!(
            "note: the runs restarted differently (A: {}; B: {}): undone attempts take steps, so step \
             numbers and masses on the way differ; the final masses say whether the results do",
            restarts(&a.consolidation),
            restarts(&b.consolidation)
        ));
    }
    let lines = match args.format {
        DiffFormat::Json => {
            let notes = cut.iter().chain(&notes).map(|n| n.strip_prefix("note: ").unwrap_or(n));
            let json = serde_json::json!({
                "same": same,
                "a": args.a.display().to_string(),
                "b": args.b.display().to_string(),
                "notes": notes.collect::<Vec<_>>(),
                "differences": differences,
            });
            vec![json.to_string()]
        }
        DiffFormat::Text => {
            let mut lines = cut;
            if same {
                lines.push(format!(
                    "same: {} and {} have the same cabinets and context matrices",
                    args.a.display(),
                    args.b.display()
                ));
                lines.extend(notes);
            } else {
                lines.push(format!("A = {}\nB = {}", args.a.display(), args.b.display()));
                lines.extend(notes);
                lines.extend(crate::export::report(&differences, nodes_a));
            }
            lines
        }
    };
    // On stdout, notes included: CI logs often keep stdout alone.
    let mut out = std::io::stdout().lock();
    let written = lines.iter().try_for_each(|l| writeln!(out, "{l}"));
    match written {
        // A reader that stopped early (`| head`) still gets the verdict's exit code.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            fail(&format!("cannot write the diff: {e}"), 2)
        }
        _ => i32::from(!same),
    }
}

fn query(args: &QueryArgs) -> i32 {
    let mut trace = match open_run(&args.trace, args.run) {
        Ok((t, run, runs)) => {
            say_run(&args.trace, run, runs);
            t
        }
        Err(e) => return fail(&e, 2),
    };
    warn_if_cut(&trace, &args.trace);
    let history = match crate::replay::query(&mut trace, &args.trace.display().to_string(), &args.id) {
        Ok(h) => h,
        Err(e) => return fail(&e, 2),
    };
    // A reg_id names a record whether the trace saw it or not: found when a step touched it.
    let found = !history.touches.is_empty();
    let not_found = || {
        eprintln!("catar: no record has {}", args.id);
        1
    };
    // As text there is nothing to read but that: no (empty) file either. CSV and JSON still
    // write their empty document, which a tool reads as such.
    if !found && args.format == QueryFormat::Text {
        return not_found();
    }
    let mut sink = match OutFile::create(args.out.as_deref(), &args.trace) {
        Ok(sink) => sink,
        Err(e) => return fail(&e, 2),
    };
    let written = match args.format {
        QueryFormat::Text => crate::replay::write_text(&history, &mut sink),
        QueryFormat::Json => serde_json::to_writer_pretty(&mut sink, &history)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(sink)),
        QueryFormat::Csv => crate::replay::write_csv(&history, &mut sink),
    };
    match written.and_then(|()| sink.finish()) {
        // A reader that stopped early (`| head`) has what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return 0,
        // 1 says "not found": a write that failed is an error.
        Err(e) => return fail(&format!("cannot write {}: {e}", output_name(args.out.as_deref())), 2),
        Ok(()) => {}
    }
    if !found {
        return not_found();
    }
    0
}

/// The file an output goes to, for errors.
fn output_name(out: Option<&std::path::Path>) -> String {
    out.map_or_else(|| "standard output".into(), |p| p.display().to_string())
}

fn fail(e: &dyn std::fmt::Display, code: i32) -> i32 {
    eprintln!("catar: error: {e}");
    code
}

fn write_input(args: &GenArgs) -> i32 {
    if args.bad_rate + args.poison_rate > 1.0 {
        let message = format!(
            "--bad-rate {} and --poison-rate {} add up to more than every row: their sum is at most 1",
            args.bad_rate, args.poison_rate
        );
        return fail(&message, 2);
    }
    let opts = GenOptions {
        out: args.out.clone(),
        cdrs: args.cdrs,
        subscribers: args.subscribers as usize,
        seed: args.seed,
        bad_rate: args.bad_rate,
        poison_rate: args.poison_rate,
    };
    match generate(&opts) {
        Ok(n) => {
            println!("wrote {n} CDRs and {} subscribers to {}", args.subscribers, args.out.display());
            0
        }
        Err(e) => fail(&e, 2),
    }
}

fn rate(args: &RunArgs) -> i32 {
    let mut opts = RunOptions::new(&args.input, &args.db);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    opts.segments = args.segments.map_or((cores / 2).max(1), usize::from);
    opts.progress = std::io::stderr().is_terminal();
    opts.domestic_prefix = args.domestic_prefix.clone();
    opts.commit_every = args.commit_every as usize;
    opts.max_failures = args.max_failures;
    opts.faults = args.inject_fault.clone();
    opts.record = match record_settings(args) {
        Ok(r) => r,
        Err(e) => return fail(&e, 2),
    };
    opts.record_config = args.record_config.clone();
    let d = &args.debug;
    // A plain headless run has no session whose events --json could print.
    if d.json && d.script.is_none() && d.form.is_empty() {
        return fail(&"--json prints a debugging session's events: it needs --script or --form", 2);
    }
    if (d.script.is_none() && !d.headless && interactive()) || d.script.is_some() || !d.form.is_empty() {
        // The TUI owns the terminal, and a debugger's event stream does not share one with
        // progress bars either.
        opts.progress = false;
        let title = args.input.display().to_string();
        return drive(d, &title, |forms, script| {
            // Everything the session will be asked is checked before the database is created.
            let line = std::cell::Cell::new(None);
            let check = |desc: &crate::recorder::PipelineDesc| {
                for (i, (form, origin)) in forms.iter().enumerate() {
                    CompiledForm::compile(form, i as u32 + 1, desc, origin).map_err(|e| e.to_string())?;
                }
                let checked = script.map_or(Ok(()), |s| s.check(desc, false, forms.len()));
                if let Err(ScriptError::Line { line: l, .. }) = &checked {
                    line.set(Some(*l));
                }
                checked.map_err(|e| e.to_string())
            };
            crate::rating::debuggee_checked(&opts, check)
                .map(Target::Live)
                .map_err(|e| (e.to_string(), line.get(), e.exit_code()))
        });
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    let control = opts.control.clone();
    if let Err(e) = halt_on_interrupt(interrupted.clone(), move || control.halt()) {
        return fail(&format!("cannot catch Ctrl-C: {e}"), 2);
    }
    match run(&opts, &NoHook) {
        Ok(s) => {
            print_summary(&s, &opts);
            // Halted whole, but not run to the end: a script must not read it as done.
            if interrupted.load(Ordering::Relaxed) { 130 } else { 0 }
        }
        Err(e) => {
            if let RatingError::TraceCut { summary, .. } = &e {
                print_summary(summary, &opts);
            }
            fail(&e, e.exit_code())
        }
    }
}

/// Ctrl-C (or SIGTERM) during a headless run or session calls `halt`, which halts the run as
/// the `halt` command does: the records read end whole in the database, the trace gets its
/// footer and the summary is printed. A second one leaves at once. `came` tells whether it
/// came.
fn halt_on_interrupt(came: Arc<AtomicBool>, halt: impl Fn() + Send + 'static) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new().name("interrupt".into()).spawn(move || {
        for _ in signals.forever() {
            if came.swap(true, Ordering::Relaxed) {
                std::process::exit(130);
            }
            eprintln!(
                "catar: interrupted: halting (the records read are stored whole; again to leave at once)"
            );
            halt();
        }
    })?;
    Ok(())
}

/// True when a person is at a terminal (the TUI needs one for input and one for output).
fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// The `--form` files, read and checked.
fn load_forms(paths: &[std::path::PathBuf]) -> Result<Vec<(TraceForm, String)>, String> {
    paths
        .iter()
        .map(|path| TraceForm::load(path).map(|f| (f, path.display().to_string())).map_err(|e| e.to_string()))
        .collect()
}

/// A debugging session on `target` (made once the forms and the script read well, given them
/// to check): the TUI at a terminal (unless --headless or --script), else driven headless by
/// the script, or printing each stop of the forms.
fn drive(
    d: &DebugArgs,
    title: &str,
    target: impl FnOnce(&[(TraceForm, String)], Option<&Script>) -> Result<Target, (String, Option<usize>, i32)>,
) -> i32 {
    // Refused before the session starts: with --json, an error event on stdout too, as one
    // that comes during the session (a consumer of the stream sees why it is empty).
    let refuse = |message: String, line: Option<usize>, code: i32| {
        if d.json {
            let event = crate::session::Event::Error { message: message.clone(), line };
            println!("{}", serde_json::to_string(&event).expect("events serialize"));
        }
        fail(&message, code)
    };
    let forms = match load_forms(&d.form) {
        Ok(f) => f,
        Err(message) => return refuse(message, None, 2),
    };
    let tui = d.script.is_none() && !d.headless && interactive();
    let script = match d.script.as_deref().map(Script::load).transpose() {
        Ok(s) => s,
        Err(e) => {
            let line = match &e {
                ScriptError::Line { line, .. } => Some(*line),
                ScriptError::Read { .. } => None,
            };
            return refuse(e.to_string(), line, 2);
        }
    };
    let target = match target(&forms, script.as_ref()) {
        Ok(t) => t,
        Err((message, line, code)) => return refuse(message, line, code),
    };
    if tui {
        // With nothing to stop at, a live run would be over before a key is pressed: it starts
        // paused, as a replay does.
        let mut forms = forms;
        if forms.is_empty()
            && !target.is_replay()
            && let Ok(desc) = target.desc()
        {
            forms.extend(TraceForm::at_start(&desc).into_iter().map(|f| (f, "start".into())));
        }
        return crate::tui::run(target, forms, title, Vec::new());
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let interrupted = Arc::new(AtomicBool::new(false));
    let came = interrupted.clone();
    let started = move |session: Interrupt| {
        if let Err(e) = halt_on_interrupt(came, move || {
            session.halt();
        }) {
            eprintln!("catar: warning: cannot catch Ctrl-C ({e}): it will kill the run");
        }
    };
    let code = match &script {
        Some(s) => crate::script::run(target, forms, s, d.json, &mut out, started),
        None => crate::script::follow(target, forms, d.json, &mut out, started),
    };
    // Halted whole, but not run (or replayed) to the end, whatever the script said.
    if interrupted.load(Ordering::Relaxed) { 130 } else { code }
}

/// `replay`: the recording under the same controls as a live run.
fn replay(args: &ReplayArgs) -> i32 {
    let mut title = format!("replay {}", args.trace.display());
    // As export, diff and query say it (the session says what else is wrong with the file);
    // the TUI's title too, as its screen hides stderr.
    if let Ok((trace, run, runs)) = open_run(&args.trace, args.run) {
        warn_if_cut(&trace, &args.trace);
        say_run(&args.trace, run, runs);
        if runs > 1 {
            title.push_str(&format!(" (run {run} of {runs})"));
        }
        if !trace.complete() {
            title.push_str(" (cut short: no footer)");
        }
        // As export and diff: nothing to move through, and a script's words would go unheard.
        if trace.header().settings.level == Level::Off {
            return recorded_off(&args.trace, "replay");
        }
    }
    drive(&args.debug, &title, |_, _| Ok(Target::Replay(args.trace.clone(), args.run)))
}

/// Where the demo works: `$TMPDIR/catar-demo`, held by a lock for as long as the demo runs; a
/// demo started while another holds it works in a directory of its own (and says so) rather
/// than truncate the other's trace and database under it.
fn demo_dir() -> Option<(std::path::PathBuf, std::fs::File, Option<String>)> {
    let tmp = std::env::temp_dir();
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(tmp.join("catar-demo.lock"))
        .ok()?;
    match lock.try_lock() {
        Ok(()) => Some((tmp.join("catar-demo"), lock, None)),
        Err(std::fs::TryLockError::WouldBlock) => {
            let own = tmp.join(format!("catar-demo-{}", std::process::id()));
            let note = format!(
                "another demo is running in {}: this one works in {}",
                tmp.join("catar-demo").display(),
                own.display()
            );
            Some((own, lock, Some(note)))
        }
        // A file system without locks: as before locks, one demo at a time is up to the user.
        Err(std::fs::TryLockError::Error(_)) => Some((tmp.join("catar-demo"), lock, None)),
    }
}

/// The form the demo starts with: stop at the first WIFE arrival.
const DEMO_FORM: &str = include_str!("../assets/forms/first-wife.toml");

/// The built-in demo: under the TUI at a terminal, headless otherwise.
fn demo() -> i32 {
    // Kept (and replaced on the next demo) so that its trace and database can be explored.
    let Some((dir, _lock, note)) = demo_dir() else {
        return fail(&format!("cannot write the demo into {}", std::env::temp_dir().display()), 1);
    };
    let _ = std::fs::remove_dir_all(&dir);
    let opts = GenOptions {
        out: dir.clone(),
        cdrs: 20_000,
        subscribers: 500,
        seed: 1,
        bad_rate: 0.02,
        poison_rate: 0.0,
    };
    if let Err(e) = generate(&opts) {
        return fail(&e, 1);
    }
    if interactive() {
        // Said in the TUI's log: on stderr it would show only once the TUI has closed.
        let notes = note.into_iter().chain([format!(
            "the demo works in {}: its trace (demo.trace) and database (demo.db) stay there after you quit",
            dir.display()
        )]);
        return demo_tui(&dir, notes.collect());
    }
    if let Some(note) = note {
        eprintln!("catar: {note}");
    }
    println!(
        "catar demo: 20000 generated CDRs rated by REG -> RATE -> DIS and recorded (headless: not a terminal)"
    );
    let trace = dir.join("demo.trace");
    let mut run_opts = RunOptions::new(&dir, dir.join("demo.db"));
    run_opts.progress = std::io::stderr().is_terminal();
    run_opts.record = Some((trace.clone(), RecorderSettings::default()));
    match run(&run_opts, &NoHook) {
        Ok(s) => print_summary(&s, &run_opts),
        Err(e) => return fail(&e, e.exit_code()),
    }
    let c = match consolidated(&trace) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut out = String::from("\nprogram cabinets (the states records went through):\n");
    out.push_str(&format!("  {:<12} {:>8} {:>9}  {}\n", "cabinet", "final", "max/node", "transient"));
    for cab in &c.program_cabinets {
        let transient = if cab.transient { "yes" } else { "" };
        out.push_str(&format!(
            "  {:<12} {:>8} {:>9}  {transient}\n",
            cab.cabinet, cab.final_mass, cab.max_mass
        ));
    }
    out.push_str(&format!(
        "\nexplore it:\n  catar export {0} --what program-contexts\n  catar export {0} --format perfetto --out demo.json   (open in ui.perfetto.dev)\n  sqlite3 {1} 'select * from balances limit 5'",
        trace.display(),
        dir.join("demo.db").display()
    ));
    let _ = writeln!(std::io::stdout(), "{out}");
    0
}

fn demo_tui(dir: &std::path::Path, notes: Vec<String>) -> i32 {
    let form = match TraceForm::parse(DEMO_FORM, "first-wife.toml") {
        Ok(f) => f,
        Err(e) => return fail(&e, 1),
    };
    let mut opts = RunOptions::new(dir, dir.join("demo.db"));
    // At full level, so that `H` (a record's history) has the records' changes to show.
    let settings = RecorderSettings { level: Level::Full, ..RecorderSettings::default() };
    opts.record = Some((dir.join("demo.trace"), settings));
    match crate::rating::debuggee(&opts) {
        Ok(d) => {
            let forms = vec![(form, "assets/forms/first-wife.toml".into())];
            crate::tui::run(Target::Live(d), forms, "demo", notes)
        }
        Err(e) => fail(&e, e.exit_code()),
    }
}

fn print_summary(s: &RunSummary, opts: &RunOptions) {
    // A closed stdout (`| head`) is not an error worth a panic.
    let _ = writeln!(std::io::stdout(), "{}", s.lines(opts).join("\n"));
}
