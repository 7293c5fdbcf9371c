//! `catar run --script` through the real binary: a worked session in JSON, readable text, a
//! wrong line (exit 2 naming it, the run halted cleanly), and `--form` without a script.

mod common;

use std::path::Path;

use serde_json::Value;

fn script_run(dir: &Path, script: &str, extra: &[&str]) -> (i32, String, String) {
    let file = dir.join("session.cat");
    std::fs::write(&file, script).unwrap();
    let out = run_script(dir, "out.db", &file, 1, extra);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// `catar run --script file` on the input in `dir`, into `dir/db`.
fn run_script(dir: &Path, db: &str, file: &Path, segments: usize, extra: &[&str]) -> std::process::Output {
    common::catar()
        .args(["run", "--headless", "--segments", &segments.to_string(), "--input"])
        .arg(dir)
        .arg("--db")
        .arg(dir.join(db))
        .arg("--script")
        .arg(file)
        .args(extra)
        .output()
        .unwrap()
}

fn events(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect()
}

#[test]
fn a_worked_session_prints_one_json_event_a_line() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 5000, 200, 7, 0.02);
    let script = "# stop RATE at the first WIFE arrival, look inside, step, let it go\n\
                  form assets/forms/first-wife.toml\n\
                  continue\n\
                  inquire RATE/0 CONFIRMED where CABINET = 'WIFE' limit 3\n\
                  step 2\n\
                  nodes\n\
                  resume REG/0\n\
                  resume RATE/0\n";
    let (code, stdout, stderr) = script_run(dir.path(), script, &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let events = events(&stdout);
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    let pos = |k: &str| kinds.iter().position(|x| *x == k).unwrap_or_else(|| panic!("no {k} in {kinds:?}"));
    assert!(pos("started") < pos("stopped") && pos("stopped") < pos("rows") && pos("rows") < pos("snapshot"));
    assert_eq!(kinds.last(), Some(&"finished"));
    let stop = &events[pos("stopped")];
    assert_eq!(stop["node"], "RATE/0");
    assert_eq!(stop["reason"]["policy"], "arrival");
    assert_eq!(stop["reason"]["cabinet"], "WIFE");
    for field in ["statement", "step", "global_step", "pseudo_time"] {
        assert!(!stop[field].is_null(), "a stop has its {field}");
    }
    let rows = &events[pos("rows")];
    assert_eq!(rows["rows"].as_array().unwrap().len(), 3);
    assert!(rows["rows"].as_array().unwrap().iter().all(|r| r["cabinet"] == "WIFE"));
    // `step 2` stops two statements further, with its own reason.
    let stepped = events.iter().filter(|e| e["event"] == "stopped").nth(1).unwrap();
    assert_eq!(stepped["step"].as_u64(), stop["step"].as_u64().map(|s| s + 2));
    assert_eq!(stepped["reason"]["policy"], "step");
    // A node not frozen says it will stop no more (before, `resume` of one said nothing).
    let untraced = &events[pos("untraced")];
    assert_eq!(untraced["node"], "REG/0");
    let resumed = events.iter().position(|e| e["event"] == "released" && e["by"] == "resume").unwrap();
    assert!(pos("snapshot") < pos("untraced") && pos("untraced") < resumed);
    let end = events.last().unwrap();
    assert_eq!(end["records"], 5000);
    assert_eq!(end["halted"], false);
}

#[test]
fn words_on_forms_may_follow_the_forms_of_the_first_lines() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 3000, 200, 7, 0.02);
    // The first lines' forms are in force before the script reads on: `ignore 1` finds form 1.
    let (code, stdout, stderr) =
        script_run(dir.path(), "watch cabinet WIFE on RATE\nignore 1 1\ncontinue\nforms\nhalt\n", &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("form 1: arrival of WIFE on RATE (0 hits, ignoring the next 1)"), "{stdout}");
    assert!(stdout.contains("form 1: arrival of WIFE on RATE (2 hits)"), "{stdout}");
}

#[test]
fn a_one_shot_form_says_so_and_once_spent_says_that() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 3000, 200, 7, 0.02);
    let (code, stdout, stderr) =
        script_run(dir.path(), "tbreak amount on RATE\nforms\ncontinue\nforms\nhalt\n", &[]);
    assert_eq!(code, 0, "{stderr}");
    // Before, a tbreak listed as a break does.
    assert!(stdout.contains("form 1: break amount on RATE (0 hits, one-shot)\n"), "{stdout}");
    assert!(stdout.contains("form 1: break amount on RATE (1 hit, one-shot: spent)\n"), "{stdout}");
}

#[test]
fn continue_naming_a_node_still_running_waits_for_its_stop() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 3000, 120, 7, 0.02);
    // Before any stop RATE/1 is running: `continue RATE/1` is its way to its next stop (it
    // was "RATE/1 is not frozen", or not, as the two segments' threads went).
    let file = dir.path().join("s.cat");
    std::fs::write(&file, "break amount on RATE/1\ncontinue RATE/1\nwhen\ncontinue RATE/1\nwhen\n").unwrap();
    let out = run_script(dir.path(), "out.db", &file, 2, &["--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let whens: Vec<Value> = events(&stdout).into_iter().filter(|e| e["event"] == "when").collect();
    assert_eq!(whens.len(), 2, "{stdout}");
    for w in &whens {
        assert_eq!((w["node"].as_str(), w["statement"].as_str()), (Some("RATE/1"), Some("amount")), "{w}");
    }
    assert!(whens[0]["step"].as_u64() < whens[1]["step"].as_u64(), "{stdout}");
}

#[test]
fn continue_naming_a_node_waits_for_that_nodes_stop() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 6000, 200, 7, 0.02);
    // RATE/1's first stop comes whenever its thread gets there: taken as the answer to
    // `continue RATE/0`, it left RATE/0 running and the `step` after it failed (1 run in 5).
    let file = dir.path().join("s.cat");
    std::fs::write(
        &file,
        "break amount on RATE\ncontinue RATE/0\ncontinue RATE/0\nstep 1 RATE/0\nwhen\nhalt\n",
    )
    .unwrap();
    for run in 0..5 {
        let out = run_script(dir.path(), &format!("{run}.db"), &file, 2, &["--json"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "run {run}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        let when = events(&stdout).into_iter().find(|e| e["event"] == "when").expect("a when");
        assert_eq!((when["node"].as_str(), when["at"].as_str()), (Some("RATE/0"), Some("after")), "{when}");
    }
}

#[test]
fn a_word_after_the_end_of_the_run_says_the_run_has_finished() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 1000, 50, 7, 0.02);
    // It said "`step` needs a node: none has stopped yet".
    let (code, stdout, stderr) = script_run(dir.path(), "continue\nstep\n", &[]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stdout.contains("finished: 1000 records"), "{stdout}");
    assert!(stderr.contains("line 2: the run has finished"), "{stderr}");
}

#[test]
fn readable_text_without_json() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 3000, 200, 7, 0.02);
    let (code, stdout, stderr) = script_run(
        dir.path(),
        "break amount on RATE\ncontinue\nforms\nignore 1 1\ncontinue\nforms\n\
         inquire RATE where AMOUNT IS NOT NULL\nhalt\n",
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("stop: RATE/0 stopped before amount"), "{stdout}");
    // `forms` counts the hits so far; `ignore` keeps the count (as gdb's does) and lets the
    // next hit pass: the second stop is the third hit.
    assert!(stdout.contains("form 1: break amount on RATE (1 hit)\n"), "{stdout}");
    assert!(stdout.contains("form 1: break amount on RATE (1 hit, ignoring the next 1)\n"), "{stdout}");
    assert!(stdout.contains("form 1: break amount on RATE (3 hits)\n"), "{stdout}");
    assert!(stdout.contains("breakpoint (form 1: break amount on RATE)"), "{stdout}");
    assert!(stdout.contains("RATE/0: no row in CONFIRMED"), "{stdout}");
    assert!(stdout.contains("halted after"), "{stdout}");
}

#[test]
fn a_step_past_the_end_of_the_input_says_how_short_it_fell() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 2000, 100, 7, 0.02);
    let (code, stdout, stderr) =
        script_run(dir.path(), "break amount on RATE\ncontinue\ndelete 1\nstep 100000000\n", &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let events = events(&stdout);
    let stop = events.iter().find(|e| e["event"] == "stopped").expect("a stop");
    let cut: Vec<&Value> = events.iter().filter(|e| e["event"] == "step-cut").collect();
    assert_eq!(cut.len(), 1, "{stdout}");
    assert_eq!(cut[0]["node"], "RATE/0");
    // After the stop the node ran the rest of its ticks, whole: it fell short by the rest.
    let ran = 100_000_000 - cut[0]["left"].as_u64().unwrap();
    let per_tick = events[0]["program"]["stages"][1]["statements"].as_array().unwrap().len() as u64;
    let stopped_at = stop["step"].as_u64().unwrap();
    assert!(
        ran > 0 && (stopped_at + ran).is_multiple_of(per_tick),
        "{ran} steps after step {stopped_at}: {stdout}"
    );
    let done =
        events.iter().position(|e| e["event"] == "state" && e["node"] == "RATE/0" && e["state"] == "done");
    let at = events.iter().position(|e| e["event"] == "step-cut");
    assert!(at < done, "the cut is said before the node's end: {stdout}");
    assert_eq!(stop["node"], "RATE/0");
    assert_eq!(events.last().unwrap()["event"], "finished", "{stdout}");
}

#[test]
fn a_step_a_stop_cuts_short_says_how_short_live_and_in_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 2000, 100, 7, 0.02);
    let every = |stage: &str| {
        let f = dir.path().join(format!("every-{stage}.toml"));
        std::fs::write(&f, format!("nodes = \"{stage}\"\nstop = \"every-step\"\n")).unwrap();
        f.display().to_string()
    };
    let cut_of = |events: &[Value]| -> Vec<(String, u64, Option<String>)> {
        (events.iter().filter(|e| e["event"] == "step-cut"))
            .map(|e| {
                let by = e["by"].as_str().map(String::from);
                (e["node"].as_str().unwrap().to_string(), e["left"].as_u64().unwrap(), by)
            })
            .collect()
    };
    // Live: the form stops RATE/0 after the first statement of `step 5`; 4 were left.
    let script = format!("form {}\ncontinue\nstep 5\nhalt\n", every("RATE"));
    let (code, stdout, stderr) = script_run(dir.path(), &script, &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let live = events(&stdout);
    assert_eq!(cut_of(&live), [("RATE/0".to_string(), 4, Some("RATE/0".to_string()))], "{stdout}");
    let at = live.iter().position(|e| e["event"] == "step-cut").unwrap();
    assert_eq!(live[at - 1]["event"], "stopped", "said after the stop that cut it: {stdout}");

    // A replay has one cursor: DIS/0's next step stops it long before a million of RATE/0's.
    let trace = dir.path().join("run.trc");
    common::catar()
        .args(["run", "--headless", "--level", "full", "--input"])
        .arg(dir.path())
        .arg("--db")
        .arg(dir.path().join("whole.db"))
        .arg("--trace")
        .arg(&trace)
        .assert()
        .success();
    let replay = |script: &str| {
        let file = dir.path().join("replay.cat");
        std::fs::write(&file, script).unwrap();
        let out = common::catar().arg("replay").arg(&trace).arg("--script").arg(&file).arg("--json").output();
        let out = out.unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        events(&String::from_utf8_lossy(&out.stdout))
    };
    let events = replay(&format!("form {}\ncontinue\nstep 1000000 RATE/0\n", every("DIS")));
    let cut = cut_of(&events);
    assert!(cut.len() == 1 && cut[0].0 == "RATE/0" && cut[0].2.as_deref() == Some("DIS/0"), "{cut:?}");
    let at = events.iter().position(|e| e["event"] == "step-cut").unwrap();
    assert_eq!(events[at - 1]["node"], "DIS/0", "{events:?}");
    // Cut by the node's own form, a replay counts as live does.
    let events = replay(&format!("form {}\ncontinue\nstep 5 RATE/0\n", every("RATE")));
    assert_eq!(cut_of(&events), [("RATE/0".to_string(), 4, Some("RATE/0".to_string()))], "{events:?}");
    // Without a form, the step runs to the end of the trace and says by how much it fell short.
    let events = replay("step 1000000 RATE/0\n");
    let cut = cut_of(&events);
    assert!(cut.len() == 1 && cut[0].0 == "RATE/0" && cut[0].2.is_none(), "{cut:?}");
    let stop = events.iter().find(|e| e["event"] == "stopped" && e["reason"]["policy"] == "end").unwrap();
    assert_eq!(stop["node"], "DIS/0", "{events:?}");
}

#[test]
fn a_wrong_line_is_an_error_naming_it_and_the_run_halts_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 3000, 200, 7, 0.02);
    // A word that does not exist: refused before anything runs.
    let (code, _, stderr) = script_run(dir.path(), "continue\nfrobnicate\n", &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("session.cat line 2: unknown command `frobnicate`"), "{stderr}");
    // --json without a session to print is a mistake, not a silent plain run.
    let out = common::catar()
        .args(["run", "--headless", "--json", "--input"])
        .arg(dir.path())
        .arg("--db")
        .arg(dir.path().join("json.db"))
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("--json"));
    // A form read from a file is named by the file, as with --form.
    let form = dir.path().join("typo.toml");
    std::fs::write(&form, "cabinets = [\"WIFEE\"]\n").unwrap();
    let (code, _, stderr) = script_run(dir.path(), &format!("form {}\ncontinue\n", form.display()), &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains(&format!("trace form {}: field `cabinets`", form.display())), "{stderr}");
    // A line that fails while the run goes: the run halts, the database stays consistent.
    let (code, stdout, stderr) = script_run(
        dir.path(),
        "watch cabinet WIFE on RATE\ncontinue\ninquire RATE/0 NO_SUCH_TABLE\n",
        &["--json"],
    );
    assert_eq!(code, 2, "{stderr}");
    let events = events(&stdout);
    let error = events.iter().find(|e| e["event"] == "error").expect("an error event");
    assert_eq!(error["line"], 3);
    assert!(error["message"].as_str().unwrap().contains("no table or cabinet `NO_SUCH_TABLE`"));
    let end = events.last().unwrap();
    assert_eq!((end["event"].as_str(), end["halted"].as_bool()), (Some("finished"), Some(true)));
    // Whatever was read is stored: the summary's conservation line holds.
    let summary = end["summary"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect::<Vec<_>>();
    assert!(summary.iter().any(|l| l.starts_with("conservation:") && l.ends_with("ok")), "{summary:?}");
}

/// A `stop-when` that meets a value it never compares with stops once to say so, live and in
/// a replay (it silently never fired: "form 1 did not fire"), then tests nothing more.
#[test]
fn a_stop_when_that_cannot_be_tested_stops_once_to_say_so_live_and_replayed() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 3000, 200, 7, 0.02);
    let trace = dir.path().join("t.trace");
    let script = "stop-when AMOUNT > 'abc' on RATE\ncontinue\ncontinue\n";
    let file = dir.path().join("w.cat");
    std::fs::write(&file, script).unwrap();
    let live = run_script(
        dir.path(),
        "w.db",
        &file,
        1,
        &["--json", "--level", "full", "--trace", trace.to_str().unwrap()],
    );
    let replayed =
        common::catar().arg("replay").arg(&trace).arg("--script").arg(&file).arg("--json").output().unwrap();
    for out in [live, replayed] {
        assert_eq!(out.status.code(), Some(0));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stops: Vec<Value> = events(&stdout).into_iter().filter(|e| e["event"] == "stopped").collect();
        let untestable: Vec<&Value> =
            stops.iter().filter(|s| s["reason"]["policy"] == "untestable").collect();
        assert_eq!(untestable.len(), 1, "{stdout}");
        let reason = &untestable[0]["reason"];
        assert_eq!(
            (&reason["form"], &reason["condition"]),
            (&Value::from(1), &Value::from("AMOUNT > 'abc'"))
        );
        assert!(
            reason["error"].as_str().unwrap().starts_with("AMOUNT holds integers and 'abc' is text"),
            "{reason}"
        );
        assert_eq!(untestable[0]["node"], "RATE/0");
    }
}

/// A stage name stands for its frozen node only while no other node of the stage may stop:
/// with two RATE nodes traced, which one `inquire RATE` asked was up to the threads (each of
/// RATE/0, RATE/1 and "say which" came, run to run).
#[test]
fn a_stage_name_with_two_traced_nodes_is_refused_whatever_the_timing() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 3000, 200, 7, 0.02);
    let file = dir.path().join("s.cat");
    std::fs::write(&file, "break family on RATE\ncontinue\ninquire RATE limit 1\n").unwrap();
    for run in 0..4 {
        let out = run_script(dir.path(), &format!("s{run}.db"), &file, 2, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "run {run}: {stderr}");
        assert!(stderr.contains("line 3: `RATE` has 2 nodes (RATE/0, RATE/1)"), "run {run}: {stderr}");
        assert!(stderr.contains("say which"), "run {run}: {stderr}");
    }
}

/// `inquire NODE CABINET` for a cabinet no reactor holds gives the rows of the tables that do
/// (it answered "no row in CONFIRMED (cabinet USAGE)" while TIER_USAGE held hundreds).
#[test]
fn an_inquiry_of_a_cabinet_no_reactor_holds_reads_the_tables_that_do() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 3000, 200, 7, 0.02);
    let (code, stdout, stderr) =
        script_run(dir.path(), "break family on RATE\ncontinue\ninquire RATE USAGE limit 2\n", &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let events = events(&stdout);
    let rows = events.iter().find(|e| e["event"] == "rows").expect("rows");
    assert_eq!(rows["tables"], serde_json::json!(["TIER_USAGE"]), "{rows}");
    assert!(rows["total"].as_u64().unwrap() > 0, "{rows}");
    assert!(rows["rows"].as_array().unwrap().iter().all(|r| r["cabinet"] == "USAGE"), "{rows}");
}

#[test]
fn an_inquiry_comparing_a_context_with_a_value_of_another_type_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 3000, 200, 7, 0.02);
    // Stepped past `amount`, RATE's records hold integer AMOUNTs.
    let script = "break amount on RATE\ncontinue\nstep\ninquire RATE where AMOUNT >= '0' limit 1\n\
                  inquire RATE where AMOUNT > 'abc'\n";
    let (code, stdout, stderr) = script_run(dir.path(), script, &["--json"]);
    assert_eq!(code, 2, "{stderr}");
    let events = events(&stdout);
    // Text that reads as an integer still compares.
    let rows = events.iter().find(|e| e["event"] == "rows").expect("rows");
    assert!(rows["total"].as_u64().unwrap() > 0, "{rows}");
    // Before, `AMOUNT > 'abc'` answered "no row" as if none were over it.
    let error = events.iter().find(|e| e["event"] == "error").expect("an error");
    assert_eq!(error["line"], 5);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("AMOUNT holds integers and 'abc' is text that does not read as one"),
        "{message}"
    );
}

#[test]
fn a_form_without_a_script_prints_each_stop_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 3000, 200, 7, 0.02);
    let out = common::catar()
        .args(["run", "--headless", "--segments", "1", "--input"])
        .arg(dir.path())
        .arg("--db")
        .arg(dir.path().join("out.db"))
        .args(["--form", "assets/forms/voice-over-500.toml"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stops = stdout.lines().filter(|l| l.starts_with("stop: RATE/0")).count();
    assert!(stops >= 2, "{stdout}");
    assert!(stdout.contains("satisfies AMOUNT > 500 AND SERVICE = 'VOICE'"), "{stdout}");
    assert!(stdout.contains("finished: 3000 records"), "{stdout}");
}

#[test]
fn the_end_of_a_run_names_the_forms_that_never_fired_and_why() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 3000, 200, 7, 0.02);
    // REG never moves a record into ARCHIVE; RATE's first WIFE arrival fires.
    let script = "watch cabinet ARCHIVE on REG\nwatch cabinet WIFE on RATE\ncontinue\n";
    let trace = dir.path().join("run.trace");
    let (code, stdout, stderr) = script_run(dir.path(), script, &["--trace", trace.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("stop: RATE/0"), "{stdout}");
    let unfired: Vec<&str> = stdout.lines().filter(|l| l.contains("did not fire")).collect();
    assert_eq!(
        unfired,
        ["form 1 did not fire: arrival of ARCHIVE on REG (REG/0 never held ARCHIVE)"],
        "{stdout}"
    );
    // Without a trace it cannot say why, and the JSON stream carries the same lines.
    let (code, stdout, stderr) = script_run(dir.path(), script, &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let finished = events(&stdout).pop().unwrap();
    assert_eq!(finished["unfired"], serde_json::json!(["form 1 did not fire: arrival of ARCHIVE on REG"]));
}

#[test]
fn every_line_is_checked_against_the_pipeline_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 3000, 200, 7, 0.02);
    let db = dir.path().join("out.db");
    for (script, line, says) in [
        // Before, the error came with the word after it, or with none (exit 0).
        ("watch cabinet WIFE on RATE\ncontinue\nresume NOSUCH\nnodes\n", 3, "no node `NOSUCH`"),
        ("watch cabinet WIFE on RATE\ncontinue\nresume NOSUCH\n", 3, "no node `NOSUCH`"),
        ("continue\nback\n", 2, "`back` needs a replay"),
        (
            "watch cabinet WIFE on RATE\ncontinue\ninquire RATE where AMOUNT >>> 5\n",
            3,
            "condition `AMOUNT >>> 5`",
        ),
        ("watch cabinet WIFE on RATE\ncontinue\nstop-when NO_SUCH > 1\n", 3, "NO_SUCH"),
        ("frobnicate\n", 1, "unknown command `frobnicate`"),
        ("watch cabinet WIFE on RATE\ncontinue\ninquire RATE limit 0\n", 3, "a limit of 0 shows no row"),
        // Before, cut to 1000 rows without a word.
        (
            "watch cabinet WIFE on RATE\ncontinue\ninquire RATE limit 5000\n",
            3,
            "a limit of 5000 is more than a page holds: give 1 to 1000 and page on with offset",
        ),
        // Before, both read as a node: "no node `-1`".
        (
            "watch cabinet WIFE on RATE\ncontinue\nstep -1\n",
            3,
            "`-1` is not a count: a count is a positive integer",
        ),
        (
            "watch cabinet WIFE on RATE\ncontinue\nstep abc\n",
            3,
            "`abc` is neither a node (REG/0, RATE/0, DIS/0) nor a count (a positive integer)",
        ),
        // Before, caught only once the run had started (and had written the database).
        (
            "ignore 9 1
",
            1,
            "no form 9: there is none",
        ),
        (
            "watch cabinet WIFE on RATE
break amount on RATE
delete 1
ignore 1 2
",
            4,
            "no form 1 (the forms then: 2)",
        ),
    ] {
        let (code, stdout, stderr) = script_run(dir.path(), script, &["--json"]);
        assert_eq!(code, 2, "{script}: {stderr}");
        assert!(
            stderr.contains(&format!("session.cat line {line}: ")) && stderr.contains(says),
            "{script}: {stderr}"
        );
        // The JSON stream says why it is empty.
        let events = events(&stdout);
        assert_eq!(events.len(), 1, "{script}: {stdout}");
        assert_eq!((events[0]["event"].as_str(), events[0]["line"].as_u64()), (Some("error"), Some(line)));
        assert!(!db.exists(), "{script}: nothing ran, nothing was written");
    }
    // A word that fails as the run goes (DIS/0 is not frozen) is blamed on its own line, and the
    // run halts there, even when another node's stop comes first (RATE/1's, with 2 segments).
    let file = dir.path().join("race.cat");
    for last in ["", "nodes\n"] {
        std::fs::write(&file, format!("watch cabinet WIFE on RATE\ncontinue\ncontinue DIS/0\n{last}"))
            .unwrap();
        for _ in 0..4 {
            let out = run_script(dir.path(), "race.db", &file, 2, &["--json"]);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(2), "{stdout}");
            let events = events(&stdout);
            let error = events.iter().find(|e| e["event"] == "error").expect("an error");
            assert_eq!(error["line"], 3, "{stdout}");
            assert!(!events.iter().any(|e| e["event"] == "snapshot"), "nothing runs after the wrong line");
        }
    }
    // `when` in a live script tells where the current node stands.
    let (code, stdout, stderr) =
        script_run(dir.path(), "watch cabinet WIFE on RATE\ncontinue\nwhen\n", &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let events = events(&stdout);
    let stop = events.iter().find(|e| e["event"] == "stopped").unwrap();
    let when = events.iter().find(|e| e["event"] == "when").expect("a when event");
    assert_eq!((&when["node"], &when["step"], &when["id"]), (&stop["node"], &stop["step"], &stop["id"]));
}

#[test]
fn a_form_that_does_not_fit_the_pipeline_is_refused_before_the_database_is_made() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 50, 10, 7, 0.0);
    let form = dir.path().join("typo.toml");
    std::fs::write(&form, "cabinets = [\"WIFEE\"]\n").unwrap();
    let db = dir.path().join("out.db");
    let out = common::catar()
        .args(["run", "--headless", "--segments", "1", "--input"])
        .arg(dir.path())
        .arg("--db")
        .arg(&db)
        .arg("--form")
        .arg(&form)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown cabinet `WIFEE`") && stderr.contains("typo.toml"), "{stderr}");
    assert!(!db.exists(), "a refused form left {} behind", db.display());
}

#[test]
fn a_replay_script_moves_both_ways_through_the_real_binary() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_input(dir.path(), 3000, 200, 7, 0.02);
    let trace = dir.path().join("run.trc");
    common::catar()
        .args(["run", "--headless", "--segments", "1", "--level", "full", "--input"])
        .arg(dir.path())
        .arg("--db")
        .arg(dir.path().join("out.db"))
        .arg("--trace")
        .arg(&trace)
        .assert()
        .success();
    let script = dir.path().join("replay.cat");
    std::fs::write(
        &script,
        "watch cabinet WIFE on RATE\ncontinue\ninquire RATE/0 where CABINET = 'WIFE' limit 2\n\
         continue\nreverse-continue\nback 2\nwhen\ngoto 5\nstep 3\nhalt\n",
    )
    .unwrap();
    let out = common::catar()
        .arg("replay")
        .arg(&trace)
        .arg("--script")
        .arg(&script)
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let events = events(&stdout);
    let stops: Vec<&Value> = events.iter().filter(|e| e["event"] == "stopped").collect();
    let policies: Vec<&str> = stops.iter().map(|s| s["reason"]["policy"].as_str().unwrap()).collect();
    assert_eq!(policies, ["start", "arrival", "arrival", "arrival", "back", "goto", "step"], "{stdout}");
    // reverse-continue comes back to the first arrival; back 2 lands before RATE/0's
    // statement two steps earlier; goto 5 before global step 5.
    assert_eq!(stops[3]["global_step"], stops[1]["global_step"]);
    assert_eq!(stops[4]["step"].as_u64().unwrap(), stops[3]["step"].as_u64().unwrap() - 1);
    assert_eq!(stops[5]["global_step"], 5);
    let when = events.iter().find(|e| e["event"] == "when").expect("when answers");
    assert_eq!(when["global_step"], stops[4]["global_step"]);
    let rows = events.iter().find(|e| e["event"] == "rows").unwrap();
    assert_eq!(rows["rows"].as_array().unwrap().len(), 2);
    assert_eq!(events.last().unwrap()["event"], "finished");

    // A wrong line: exit 2 naming it; a trace that is not one: exit 2 naming the file.
    std::fs::write(&script, "goto yesterday\n").unwrap();
    let out = common::catar().arg("replay").arg(&trace).arg("--script").arg(&script).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"));
    // A word a replay does not have: named once, by the script and its line.
    std::fs::write(&script, "continue\nresume\n").unwrap();
    let out = common::catar().arg("replay").arg(&trace).arg("--script").arg(&script).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("catar: error: ")
            && stderr.contains("replay.cat line 2: a replay has nothing to resume"),
        "{stderr}"
    );
    assert!(!stderr.contains("error: line"), "{stderr}");
    let out =
        common::catar().arg("replay").arg(dir.path().join("cdrs.csv")).arg("--headless").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cdrs.csv"));
    // A cut trace replays what it holds, and says it is cut, as export, diff and query do.
    let cut = dir.path().join("cut.trc");
    let bytes = std::fs::read(&trace).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() * 9 / 10]).unwrap();
    std::fs::write(&script, "continue\n").unwrap();
    let out = common::catar().arg("replay").arg(&cut).arg("--script").arg(&script).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{} has no footer", cut.display())), "{stderr}");
    // `ignore` in a replay keeps the hit count too: DIS/0's step 2 (hit 3) passes, step 3 stops.
    let every = dir.path().join("every.toml");
    std::fs::write(&every, "nodes = \"DIS\"\nstop = \"every-step\"\n").unwrap();
    std::fs::write(
        &script,
        format!("form {}\ncontinue\ncontinue\nignore 1 1\ncontinue\nforms\n", every.display()),
    )
    .unwrap();
    let out = common::catar().arg("replay").arg(&trace).arg("--script").arg(&script).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("form 1: every step on DIS (2 hits, ignoring the next 1)\n"), "{stdout}");
    assert!(stdout.contains("form 1: every step on DIS (4 hits)\n"), "{stdout}");
    let steps: Vec<&str> = stdout.lines().filter(|l| l.starts_with("stop: DIS/0")).collect();
    assert!(steps.len() == 3 && steps[2].contains("(step 3,"), "{stdout}");
}

#[test]
fn catch_failure_stops_at_a_poison_row_and_the_restarts_follow_in_json() {
    let dir = tempfile::tempdir().unwrap();
    common::gen_poison_input(dir.path(), 3000, 200, 7, 0.003);
    let script = "catch failure on RATE\ncontinue\ninquire RATE where EVENT_ID LIKE 'POISON%'\n";
    let (code, stdout, stderr) = script_run(dir.path(), script, &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let events = events(&stdout);
    let stop = events.iter().find(|e| e["event"] == "stopped").expect("a stop");
    assert_eq!(stop["reason"]["policy"], "failure");
    let error = stop["reason"]["error"].as_str().unwrap();
    let poison = error.strip_prefix("panicked: cannot rate poison row ").expect(error);
    let rows = events.iter().find(|e| e["event"] == "rows").expect("rows");
    assert_eq!(rows["rows"][0]["contexts"]["EVENT_ID"], poison, "{rows}");
    // Untraced after the script, the node goes on: its restarts are reported as states, each
    // one in JSON.
    let told = events.iter().filter(|e| e["event"] == "state" && e["state"] == "restarted").count();
    assert!(told > 10, "{stdout}");
    // As text, a run of restarts of a node reads as its first and a count.
    let (code, text, stderr) = script_run(dir.path(), script, &[]);
    assert_eq!(code, 0, "{stderr}");
    let lines = text.lines().filter(|l| l.contains(" restarted")).count();
    assert!(lines * 4 < told, "{lines} restart lines for {told} restarts:\n{text}");
    assert!(text.contains("more times ("), "{text}");
}
