//! Events as a person reads them (the script without `--json`).

use crate::session::{Event, NodeState, NodeView};
use crate::tracer::{Release, Rows};

/// An event as text; `None` for what another line already says (a node frozen by a stop,
/// running again after a release).
pub fn text(e: &Event) -> Option<String> {
    Some(match e {
        Event::Started { nodes, forms, .. } => {
            let mut s = format!("started: {}", nodes.join(", "));
            for f in forms {
                s.push_str(&format!("\n  form {}: {}", f.id, f.label));
            }
            s
        }
        Event::Forms { forms } => {
            if forms.is_empty() {
                "forms: none".into()
            } else {
                let lines: Vec<String> = forms
                    .iter()
                    .map(|f| format!("  form {}: {} ({})", f.id, f.label, f.hits_text()))
                    .collect();
                format!("forms:\n{}", lines.join("\n"))
            }
        }
        Event::Stopped(stop) => format!("stop: {stop}"),
        Event::When(stop) => format!("at: {stop}"),
        Event::Released { node, by, mover, .. } => {
            let how = match by {
                Release::Continue => "continues",
                Release::Step => "steps",
                Release::Resume => "resumed: runs untraced to the end",
                Release::Halt => "finishes what it holds (halt)",
                Release::Timeout => "continues by itself (the stop timed out)",
                Release::Detach => "runs on untraced",
                Release::Back => "steps back",
                Release::Reverse => "runs backwards",
                // The node the cursor was at, which a jump leaves wherever it lands.
                Release::Goto => "is left by a goto",
            };
            match mover {
                Some(m) => format!("{m} {how} (from {node}'s stop)"),
                None => format!("{node} {how}"),
            }
        }
        Event::Untraced { node } => format!("{node} resumed: runs untraced to the end (it was not frozen)"),
        Event::StepCut { node, left, by: None } => {
            format!("{node} ran out of input {left} statement(s) short of its step: it ends here")
        }
        Event::StepCut { node, left, by: Some(by) } if by == node => {
            format!("{node}'s step stopped {left} statement(s) short: the stop above came first")
        }
        Event::StepCut { node, left, by: Some(by) } => format!(
            "{node}'s step stopped {left} statement(s) short: {by}'s stop above came first \
             (a replay has one cursor: step again to go on)"
        ),
        Event::State { state: NodeState::Frozen { .. } | NodeState::Running, .. } => return None,
        Event::State { node, state } => format!("{node} {}", state_text(state)),
        Event::Rows(rows) => rows_text(rows),
        Event::Stalled { frozen } => {
            let verb = if frozen.len() == 1 { "is" } else { "are" };
            format!(
                "stalled: nothing moves until {} {verb} let go (continue, step, resume or halt)",
                frozen.join(", ")
            )
        }
        Event::Snapshot(s) => {
            let mut lines =
                vec![format!("{:<10} {:>9} {:>9}  {:<20}  state", "node", "steps", "records", "pseudo-time")];
            lines.extend(s.nodes.iter().map(node_line));
            lines.join("\n")
        }
        Event::History(h) => {
            let mut text = Vec::new();
            // Writing into memory cannot fail.
            let _ = crate::replay::write_text(h, &mut text);
            String::from_utf8_lossy(&text).trim_end().to_string()
        }
        Event::Error { message, line: Some(line) } => format!("error: line {line}: {message}"),
        Event::Error { message, line: None } => format!("error: {message}"),
        Event::Finished(f) => {
            let mut lines = vec![if f.halted {
                format!("halted after {} records: every record read is stored whole", f.records)
            } else if f.records == 0 && !f.summary.is_empty() {
                // A replay reads no records: its summary says what it did.
                "finished".into()
            } else {
                format!("finished: {} records", f.records)
            }];
            lines.extend(f.summary.iter().cloned());
            lines.extend(f.unfired.iter().cloned());
            if !f.cabinets.is_empty() {
                lines.push("program cabinets:".into());
                for c in &f.cabinets {
                    let transient = if c.transient { "  transient" } else { "" };
                    lines.push(format!(
                        "  {:<12} final {:>7}  max/node {:>6}{transient}",
                        c.cabinet, c.final_mass, c.max_mass
                    ));
                }
            }
            lines.join("\n")
        }
        Event::Failed { message, .. } => format!("run failed: {message}"),
    })
}

fn state_text(s: &NodeState) -> String {
    match s {
        NodeState::Starting => "not started yet".into(),
        NodeState::Running => "running".into(),
        NodeState::Frozen { statement, reason } => format!("frozen at {statement}: {reason}"),
        NodeState::Waiting { on } => format!("waiting on {on}"),
        NodeState::Blocked { on } => format!("blocked on {on}"),
        NodeState::Done => "done".into(),
        NodeState::Failed => "failed".into(),
        NodeState::Restarted { restarts, error } => format!("restarted ({restarts}) after: {error}"),
    }
}

fn node_line(n: &NodeView) -> String {
    // To the second, as a trace keeps it: the column stays aligned, live or replayed.
    let time = n.pseudo_time.map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default();
    let records = n.records.map_or_else(|| "-".to_string(), |r| r.to_string());
    let traced = if n.traced { "" } else { " (untraced)" };
    format!("{:<10} {:>9} {:>9}  {:<20}  {}{traced}", n.node, n.steps, records, time, state_text(&n.state))
}

fn rows_text(r: &Rows) -> String {
    let filter = r.filter.as_ref().map(|f| format!(" where {f}")).unwrap_or_default();
    let shown = match (r.total, r.rows.len()) {
        (0, _) => "no row".to_string(),
        (_, 0) => format!("no row past {} of {}", r.offset, r.total),
        (total, n) => format!("rows {}-{} of {total}", r.offset + 1, r.offset + n),
    };
    let cabinet = r.cabinet.as_ref().map(|c| format!(" (cabinet {c})")).unwrap_or_default();
    let mut lines = vec![format!("{}: {shown} in {}{cabinet}{filter}", r.node, r.tables.join(", "))];
    for row in &r.rows {
        let values: Vec<String> = row.contexts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        lines.push(format!("  {} #{} {}: {}", row.table, row.reg_id, row.cabinet, values.join(" ")));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(records: Option<u64>) -> NodeView {
        NodeView {
            node: "RATE/0".into(),
            state: NodeState::Done,
            steps: 12,
            records,
            pseudo_time: Some("2026-01-20T06:37:26.25Z".parse().unwrap()),
            restarts: 0,
            traced: true,
            stop: None,
            cabinets: Vec::new(),
        }
    }

    #[test]
    fn a_node_line_keeps_its_columns_live_and_replayed() {
        let live = node_line(&view(Some(5000)));
        let replayed = node_line(&view(None));
        assert!(live.contains(" 5000  2026-01-20T06:37:26Z "), "{live}");
        // A replay counts no records: a dash, not a zero that reads as none received.
        assert!(replayed.contains(" -  2026-01-20T06:37:26Z "), "{replayed}");
        assert_eq!(live.find("done"), replayed.find("done"));
    }
}
