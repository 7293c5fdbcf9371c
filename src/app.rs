//! What each command does, from parsed arguments to an exit code.

use std::io::{IsTerminal, Write};

use crate::cli::{Cli, Command, GenArgs, RunArgs};
use crate::engine::NoHook;
use crate::rating::generate::{GenOptions, generate};
use crate::rating::{RunOptions, RunSummary, run};

/// Run a parsed command line; returns the process exit code.
pub fn main_with(cli: Cli) -> i32 {
    match cli.command {
        None => demo(),
        Some(Command::Gen(args)) => write_input(&args),
        Some(Command::Run(args)) => rate(&args),
    }
}

fn fail(e: &dyn std::fmt::Display, code: i32) -> i32 {
    eprintln!("catar: error: {e}");
    code
}

fn write_input(args: &GenArgs) -> i32 {
    let opts = GenOptions {
        out: args.out.clone(),
        cdrs: args.cdrs,
        subscribers: args.subscribers as usize,
        seed: args.seed,
        bad_rate: args.bad_rate,
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
    opts.segments = args.segments as usize;
    opts.progress = std::io::stderr().is_terminal();
    opts.domestic_prefix = args.domestic_prefix.clone();
    match run(&opts, &NoHook) {
        Ok(s) => {
            print_summary(&s, &opts);
            0
        }
        Err(e) => fail(&e, e.exit_code()),
    }
}

fn demo() -> i32 {
    let dir = std::env::temp_dir().join(format!("catar-demo-{}", std::process::id()));
    let opts = GenOptions { out: dir.clone(), cdrs: 20_000, subscribers: 500, seed: 1, bad_rate: 0.02 };
    println!(
        "catar demo: rating 20000 generated CDRs with REG -> RATE -> DIS (headless until the TUI lands)"
    );
    if let Err(e) = generate(&opts) {
        return fail(&e, 1);
    }
    let mut run_opts = RunOptions::new(&dir, dir.join("demo.db"));
    run_opts.progress = std::io::stderr().is_terminal();
    let code = match run(&run_opts, &NoHook) {
        Ok(s) => {
            print_summary(&s, &run_opts);
            0
        }
        Err(e) => fail(&e, e.exit_code()),
    };
    let _ = std::fs::remove_dir_all(&dir);
    code
}

fn print_summary(s: &RunSummary, opts: &RunOptions) {
    let secs = s.elapsed.as_secs_f64();
    let rate = if secs > 0.0 { s.cdrs as f64 / secs } else { 0.0 };
    let o = &s.outcome;
    let cdrs = opts.input.join(crate::rating::input::CDRS);
    let reasons: Vec<String> = o.rejected.iter().map(|(r, n)| format!("{r} {n}")).collect();
    let stored = o.persistent + o.rejected_total() + o.quarantine;
    let text = format!(
        "rated {} CDRs from {} in {secs:.2} s ({rate:.0} CDR/s), {} segment(s) per stage\n\
         \x20 {:<11} {:>9}\n\
         \x20 {:<11} {:>9}  ({})\n\
         \x20 {:<11} {:>9}\n\
         conservation: {} rows = {stored} stored: ok\n\
         database: {} ({} balances)",
        s.cdrs,
        cdrs.display(),
        opts.segments,
        "PERSISTENT",
        o.persistent,
        "REJECTED",
        o.rejected_total(),
        reasons.join(", "),
        "QUARANTINE",
        o.quarantine,
        s.cdrs,
        opts.db.display(),
        o.balances
    );
    // A closed stdout (`| head`) is not an error worth a panic.
    let _ = writeln!(std::io::stdout(), "{text}");
}
