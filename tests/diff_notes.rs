//! `catar diff` through the real binary, on traces that do not compare like for like: runs
//! made with other options, recorded in part, or several runs in one file. Each says so in a
//! note with its verdict, and the exit code stays the verdict's (a note is not a difference).

mod common;

use std::path::{Path, PathBuf};

/// A generated input, small enough for a run a second.
fn input(dir: &Path) -> PathBuf {
    let input = dir.join("in");
    common::gen_input(&input, 3000, 120, 11, 0.05);
    input
}

/// `catar run` of `input` into `NAME.trace` (and `NAME.db`), 1 segment, with `more` arguments;
/// its exit code.
fn record(input: &Path, dir: &Path, name: &str, more: &[&str]) -> (PathBuf, i32) {
    let trace = dir.join(format!("{name}.trace"));
    let out = common::catar()
        .args(["run", "--headless", "--segments", "1", "--level", "summary", "--input"])
        .arg(input)
        .arg("--db")
        .arg(dir.join(format!("{name}.db")))
        .arg("--trace")
        .arg(&trace)
        .args(more)
        .output()
        .unwrap();
    (trace, out.status.code().unwrap_or(-1))
}

/// A `[recorder]` config file holding `body`.
fn config(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("[recorder]\n{body}\n")).unwrap();
    path.display().to_string()
}

/// `catar diff A B`: exit code and stdout's lines.
fn diff(a: &Path, b: &Path) -> (i32, Vec<String>) {
    let out = common::catar().arg("diff").arg(a).arg(b).output().unwrap();
    let lines = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    (out.status.code().unwrap_or(-1), lines)
}

#[test]
fn runs_made_with_other_options_compare_the_same_with_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    let (a, _) = record(&input, tmp.path(), "a", &[]);
    let (b, _) = record(&input, tmp.path(), "b", &["--domestic-prefix", "+44"]);
    // Other prices, the same cabinets and contexts: "same", but not like for like.
    let (code, lines) = diff(&a, &b);
    assert_eq!(code, 0, "{lines:#?}");
    assert_eq!(lines[1], "note: A and B ran with different options: --domestic-prefix +972 in A, +44 in B");
    let (_, lines) = diff(&a, &a);
    assert!(!lines.iter().any(|l| l.starts_with("note:")), "{lines:#?}");
    // The header speaks for every run of a file: a run made otherwise is not appended.
    let accumulate = config(tmp.path(), "acc.toml", "order = \"ACCUMULATE\"");
    let before = std::fs::read(&a).unwrap();
    let (_, code) =
        record(&input, tmp.path(), "a", &["--record-config", &accumulate, "--domestic-prefix", "+1"]);
    assert_eq!(code, 2);
    assert_eq!(std::fs::read(&a).unwrap(), before, "the refused run left the trace as it was");
}

#[test]
fn traces_recording_other_parts_of_their_runs_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    let (all, _) = record(&input, tmp.path(), "all", &[]);
    let rate = config(tmp.path(), "rate.toml", "nodes = \"RATE\"");
    let (only_rate, _) = record(&input, tmp.path(), "rate", &["--record-config", &rate]);
    let (code, lines) = diff(&all, &only_rate);
    assert_eq!(code, 1, "{lines:#?}");
    assert_eq!(
        lines[2],
        "note: A recorded all nodes, B only RATE ([recorder] nodes): a node recorded in one alone has rows \
         there alone"
    );
    // Both recorded the same part, named otherwise: like for like.
    let rate0 = config(tmp.path(), "rate0.toml", "nodes = \"RATE/0\"");
    let (rate_again, _) = record(&input, tmp.path(), "rate0", &["--record-config", &rate0]);
    let (code, lines) = diff(&only_rate, &rate_again);
    assert_eq!((code, lines.len()), (0, 1), "{lines:#?}");

    let day = config(tmp.path(), "day.toml", "duration = 86400");
    let (first_day, _) = record(&input, tmp.path(), "day", &["--record-config", &day]);
    let (code, lines) = diff(&first_day, &all);
    assert_eq!(code, 1, "{lines:#?}");
    assert_eq!(
        lines[2],
        "note: A recorded the first 86400 s of each node's pseudo-time, B each node's whole pseudo-time \
         ([recorder] duration): steps past the shorter span are in one alone"
    );
    // The header speaks for every run of a file: a run recorded over another span is not
    // appended.
    let accumulate = config(tmp.path(), "acc.toml", "order = \"ACCUMULATE\"");
    let before = std::fs::read(&first_day).unwrap();
    let (_, code) = record(&input, tmp.path(), "day", &["--record-config", &accumulate]);
    assert_eq!(code, 2);
    assert_eq!(std::fs::read(&first_day).unwrap(), before, "the refused run left the trace as it was");
}

#[test]
fn a_trace_of_several_runs_says_they_were_compared_as_one() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    let (one, _) = record(&input, tmp.path(), "one", &[]);
    let accumulate = config(tmp.path(), "acc.toml", "order = \"ACCUMULATE\"");
    let (two, _) = record(&input, tmp.path(), "two", &[]);
    let (_, code) = record(&input, tmp.path(), "two", &["--record-config", &accumulate]);
    assert_eq!(code, 0);
    // Twice the input: twice the masses, and the note says why.
    let (code, lines) = diff(&two, &one);
    assert_eq!(code, 1, "{lines:#?}");
    assert_eq!(
        lines[2],
        "note: compared both runs of A with B's one run (appended with ACCUMULATE): a trace's runs are \
         consolidated as one, their masses adding up"
    );
    let (code, lines) = diff(&two, &two);
    assert_eq!(code, 0, "{lines:#?}");
    assert_eq!(
        lines[1..],
        [
            "note: compared both runs of A with both runs of B (appended with ACCUMULATE): a trace's runs are consolidated as one, their masses adding up"
        ]
    );
}

/// `catar diff --format json A B`: exit code and the one object it prints.
fn diff_json(a: &Path, b: &Path) -> (i32, serde_json::Value) {
    let out = common::catar().args(["diff", "--format", "json"]).arg(a).arg(b).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    (out.status.code().unwrap_or(-1), serde_json::from_str(&text).unwrap())
}

#[test]
fn the_json_diff_has_the_text_diffs_verdict_notes_and_differences() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input(tmp.path());
    let (a, _) = record(&input, tmp.path(), "a", &[]);
    let (same, _) = record(&input, tmp.path(), "same", &["--domestic-prefix", "+44"]);
    let other = tmp.path().join("other");
    common::gen_input(&other, 3000, 120, 12, 0.05);
    let (b, _) = record(&other, tmp.path(), "b", &[]);
    for (x, code) in [(&same, 0), (&b, 1)] {
        let (text_code, lines) = diff(&a, x);
        let (json_code, json) = diff_json(&a, x);
        assert_eq!((text_code, json_code), (code, code));
        assert_eq!(json["same"], code == 0);
        assert_eq!(json["a"], a.display().to_string());
        let notes: Vec<String> =
            lines.iter().filter_map(|l| l.strip_prefix("note: ")).map(str::to_string).collect();
        assert!(!notes.is_empty(), "{lines:#?}");
        assert_eq!(json["notes"], serde_json::json!(notes));
        let differences = json["differences"].as_array().unwrap();
        let count = lines.last().unwrap().split(' ').next().unwrap().parse().unwrap_or(0);
        assert_eq!(differences.len(), count, "{lines:#?}");
    }
    // Each difference with its kind; masses as numbers.
    let (_, json) = diff_json(&a, &b);
    let mass = json["differences"].as_array().unwrap().iter().find(|d| d["field"] == "final_mass").unwrap();
    assert_eq!(mass["kind"], "figures");
    assert!(mass["a"].is_i64() && mass["b"].is_i64() && mass["a"] != mass["b"], "{mass}");
}
