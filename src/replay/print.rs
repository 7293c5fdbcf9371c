//! A history as text (a person reading it) and as CSV (one row per touch).

use std::io::{self, Write};

use super::History;
use crate::tracer::Cell;

/// `NAME=VALUE` pairs, one space apart; a value holding white space, `=`, `"` or a backslash
/// is quoted (JSON-style escapes), so that no value reads as more pairs (`WIFE_NAME="Noa A=1"`).
fn pairs(m: &indexmap::IndexMap<String, Cell>) -> String {
    let quoted = |t: &str| t.chars().any(|c| c.is_whitespace() || matches!(c, '=' | '"' | '\\'));
    let value = |v: &Cell| match v {
        Cell::Text(t) if quoted(t) => serde_json::to_string(t).unwrap_or_default(),
        v => v.to_string(),
    };
    m.iter().map(|(k, v)| format!("{k}={}", value(v))).collect::<Vec<_>>().join(" ")
}

/// The history as text: the steps in order, each record's contexts at the end, the metrics.
pub fn write_text(h: &History, out: &mut dyn Write) -> io::Result<()> {
    // A value many records share (SERVICE=VOICE) names the first few, not thousands.
    const NAMED: usize = 10;
    let mut ids: Vec<String> = h.records.iter().take(NAMED).map(u64::to_string).collect();
    if h.records.len() > NAMED {
        ids.push(format!("… {} more", h.records.len() - NAMED));
    }
    match h.records.len() {
        0 => writeln!(out, "{}: no record", h.id)?,
        n => writeln!(
            out,
            "{}: {n} record(s) (reg_id {}), {} step(s) touched them",
            h.id,
            ids.join(", "),
            h.touches.len()
        )?,
    }
    if h.partial {
        writeln!(out, "so far: the run goes on (a running node's latest steps may not be on disk yet)")?;
    }
    if h.touches.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\n{:>8}  {:<7} {:>6}  {:<20} {:<20}  {:<12} {:>7}  {:<24}  set",
        "global", "node", "step", "statement", "pseudo-time", "table", "reg_id", "cabinet"
    )?;
    for t in &h.touches {
        let time = t.pseudo_time.map(|t| t.to_string()).unwrap_or_default();
        let cabinet = match (t.before.as_str(), t.after.as_str()) {
            (b, a) if b == a => a.to_string(),
            ("", a) => format!("-> {a}"),
            (b, "") => format!("{b} ->"),
            (b, a) => format!("{b} -> {a}"),
        };
        let undone = t.undone.as_ref().map(|e| format!("  (undone: {e})")).unwrap_or_default();
        writeln!(
            out,
            "{:>8}  {:<7} {:>6}  {:<20} {:<20}  {:<12} {:>7}  {:<24}  {}{undone}",
            t.global_step,
            t.node,
            t.step,
            t.statement,
            time,
            t.table,
            t.reg_id,
            cabinet,
            pairs(&t.set)
        )?;
    }
    for r in &h.records {
        if let Some(last) = h.touches.iter().rev().find(|t| t.reg_id == *r) {
            writeln!(
                out,
                "\nreg_id {r} after its last step ({} at {}): {} {}",
                last.node,
                last.statement,
                last.after,
                pairs(&last.contexts)
            )?;
        }
    }
    let m = &h.metrics;
    writeln!(out, "\nmetrics")?;
    let per: Vec<String> = m.records_per_cabinet.iter().map(|(c, n)| format!("{c} {n}")).collect();
    writeln!(out, "  records per final cabinet: {}", per.join(", "))?;
    let secs: Vec<String> = m.seconds_in_cabinet.iter().map(|(c, s)| format!("{c} {s} s")).collect();
    writeln!(out, "  pseudo-time in each cabinet: {}", secs.join(", "))?;
    writeln!(out, "  failures {}, restarts {}", m.failures, m.restarts)?;
    for n in &m.nodes {
        let span = match (n.first, n.last) {
            (Some(a), Some(b)) => format!(", {a} .. {b}"),
            _ => String::new(),
        };
        writeln!(out, "  {}: {} step(s) over {} record(s){span}", n.node, n.steps, n.records)?;
    }
    Ok(())
}

/// A CSV error as the I/O error it may be (a closed pipe stays one).
fn io_error(e: csv::Error) -> io::Error {
    let message = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        _ => io::Error::other(message),
    }
}

/// The history as CSV, one row per step that touched a record (stable columns).
pub fn write_csv(h: &History, out: &mut dyn Write) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "global_step",
        "node",
        "step",
        "statement",
        "pseudo_time",
        "table",
        "reg_id",
        "before",
        "after",
        "set",
        "contexts",
        "undone",
    ])
    .map_err(io_error)?;
    for t in &h.touches {
        w.write_record([
            t.global_step.to_string(),
            t.node.clone(),
            t.step.to_string(),
            t.statement.clone(),
            t.pseudo_time.map(|t| t.to_string()).unwrap_or_default(),
            t.table.clone(),
            t.reg_id.to_string(),
            t.before.clone(),
            t.after.clone(),
            pairs(&t.set),
            pairs(&t.contexts),
            t.undone.clone().unwrap_or_default(),
        ])
        .map_err(io_error)?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_that_could_read_as_more_pairs_is_quoted() {
        let m: indexmap::IndexMap<String, Cell> = [
            ("WIFE_NAME", Cell::Text("Noa AMOUNT=999".into())),
            ("AMOUNT", Cell::Int(0)),
            ("NOTE", Cell::Text("say \"hi\"\\".into())),
            ("TIER", Cell::Text(String::new())),
            ("PARTY", Cell::Text("+972521234567".into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(
            pairs(&m),
            r#"WIFE_NAME="Noa AMOUNT=999" AMOUNT=0 NOTE="say \"hi\"\\" TIER= PARTY=+972521234567"#
        );
    }
}
