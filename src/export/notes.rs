//! What keeps two traces from comparing like for like, said by `catar diff` with its verdict:
//! another input, other options, another part of the run recorded, several runs in a file. A
//! note explains a difference (or qualifies a "same"); it is never one.

use crate::recorder::{RecorderSettings, Trace, runs};

/// What a trace says of how its runs were made and recorded.
#[derive(Clone, Debug)]
pub struct Provenance {
    /// What the run read ([`TraceHeader::input`](crate::recorder::TraceHeader::input)), when
    /// the trace holds one run and says.
    pub input: Option<String>,
    /// The run's options ([`TraceHeader::options`](crate::recorder::TraceHeader::options)),
    /// when the trace says.
    pub options: Option<Vec<(String, String)>>,
    /// How it was recorded.
    pub recorder: RecorderSettings,
    /// The nodes it recorded, of those that ran.
    pub recorded: Vec<String>,
    /// How many runs the file holds (appended with ACCUMULATE).
    pub runs: usize,
}

impl Provenance {
    /// What `trace`'s header and index say.
    pub fn of(trace: &Trace) -> Provenance {
        let header = trace.header();
        let runs = runs(trace).len();
        Provenance {
            // The header tells the first run's input only.
            input: header.input.clone().filter(|_| runs == 1),
            options: header.options.clone(),
            recorder: header.settings.clone(),
            recorded: header
                .pipeline
                .nodes
                .iter()
                .filter(|n| header.settings.records_named(n))
                .cloned()
                .collect(),
            runs,
        }
    }
}

/// The notes on A and B, one line each, the input first: empty when they compare like for
/// like. What either trace does not say is not taken to differ.
pub fn notes(a: &Provenance, b: &Provenance) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(input_note(a.input.as_deref(), b.input.as_deref()));
    if let (Some(oa), Some(ob)) = (&a.options, &b.options) {
        out.extend(options_note(oa, ob));
    }
    let (ra, rb) = (&a.recorder, &b.recorder);
    // `RATE` and `RATE/0` name the same node when RATE has one segment.
    if ra.nodes != rb.nodes && a.recorded != b.recorded {
        let nodes =
            |r: &RecorderSettings| r.nodes.as_ref().map_or("all nodes".into(), |n| format!("only {n}"));
        out.push(format!(
            "note: A recorded {}, B {} ([recorder] nodes): a node recorded in one alone has rows there alone",
            nodes(ra),
            nodes(rb)
        ));
    }
    if ra.duration != rb.duration {
        let span = |r: &RecorderSettings| {
            r.duration.map_or("each node's whole pseudo-time".into(), |d| {
                format!("the first {d} s of each node's pseudo-time")
            })
        };
        out.push(format!(
            "note: A recorded {}, B {} ([recorder] duration): steps past the shorter span are in one alone",
            span(ra),
            span(rb)
        ));
    }
    if a.runs > 1 || b.runs > 1 {
        let runs = |n: usize, x: char| match n {
            1 => format!("{x}'s one run"),
            2 => format!("both runs of {x}"),
            n => format!("all {n} runs of {x}"),
        };
        out.push(format!(
            "note: compared {} with {} (appended with ACCUMULATE): a trace's runs are consolidated as \
             one, their masses adding up",
            runs(a.runs, 'A'),
            runs(b.runs, 'B')
        ));
    }
    out
}

/// What tells two runs' options apart, option by option; none when they are the same.
fn options_note(a: &[(String, String)], b: &[(String, String)]) -> Option<String> {
    let value = |list: &[(String, String)], flag: &str| {
        list.iter().find(|(f, _)| f == flag).map_or("unset".to_string(), |(_, v)| v.clone())
    };
    let flags: std::collections::BTreeSet<&str> = a.iter().chain(b).map(|(f, _)| f.as_str()).collect();
    let differ: Vec<String> = flags
        .into_iter()
        .filter_map(|f| {
            let (va, vb) = (value(a, f), value(b, f));
            (va != vb).then(|| format!("{f} {va} in A, {vb} in B"))
        })
        .collect();
    (!differ.is_empty()).then(|| format!("note: A and B ran with different options: {}", differ.join("; ")))
}

/// What tells two inputs apart, file by file, from their descriptions in trace headers
/// (`name:bytes:crc32c …`); none when they are the same or either is unknown.
fn input_note(a: Option<&str>, b: Option<&str>) -> Option<String> {
    let (a, b) = (a?, b?);
    if a == b {
        return None;
    }
    let files = |s: &str| -> Vec<(String, String, String)> {
        s.split(' ')
            .filter_map(|f| {
                let mut parts = f.rsplitn(3, ':');
                let (crc, size, name) = (parts.next()?, parts.next()?, parts.next()?);
                Some((name.to_string(), size.to_string(), crc.to_string()))
            })
            .collect()
    };
    let (fa, fb) = (files(a), files(b));
    let mut differ: Vec<String> = fa
        .iter()
        .filter_map(|(name, size, crc)| match fb.iter().find(|f| f.0 == *name) {
            Some((_, s, c)) if s == size && c == crc => None,
            Some((_, s, _)) if s != size => Some(format!("{name} ({size} bytes in A, {s} in B)")),
            Some(_) => Some(format!("{name} (same size, other content)")),
            None => Some(format!("{name} (only A's input has it)")),
        })
        .collect();
    differ
        .extend(fb.iter().filter(|f| !fa.iter().any(|g| g.0 == f.0)).map(|f| format!("{} (only B's)", f.0)));
    Some(format!("note: A and B read different inputs: {}", differ.join(", ")))
}
