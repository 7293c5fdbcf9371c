//! Exports of a trace's consolidation (SPEC §7): CSV and JSON with stable columns, one row per
//! cabinet (cabinet lists) or per context × cabinet (context matrices), and the diff of two.

mod diff;
mod notes;
mod perfetto;

use std::io::Write;

use serde::Serialize;

pub use diff::{Difference, diff, report};
pub use notes::{Provenance, notes};
pub use perfetto::perfetto;

use crate::recorder::{Consolidation, ContextCell, NodeCabinet};

/// Which table to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum What {
    /// Cabinets of each node (SPEC Table 2/8).
    NodeCabinets,
    /// Context matrix of each node (Table 3/10).
    NodeContexts,
    /// Cabinets of the whole program (Table 4/9).
    ProgramCabinets,
    /// Context matrix of the whole program (Table 5/11).
    ProgramContexts,
}

/// The file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// An array of objects.
    Json,
    /// Chrome trace-event JSON of the whole run, for ui.perfetto.dev (`--what` is ignored).
    Perfetto,
}

/// A cabinet row as exported: times as RFC 3339 instants.
#[derive(Serialize)]
struct CabinetRow<'a> {
    node: &'a str,
    cabinet: &'a str,
    first_step: u64,
    first_time: String,
    last_step: u64,
    last_time: String,
    max_mass: i64,
    final_mass: i64,
    /// None (JSON null, an empty CSV field) for a cabinet with none.
    base: Option<&'a str>,
    /// As `base`.
    spectrum: Option<&'a str>,
    transient: bool,
}

/// A pseudo-time (seconds) as RFC 3339, as every export and the diff write times.
pub(crate) fn instant(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds).map_or_else(|_| seconds.to_string(), |t| t.to_string())
}

impl<'a> From<&'a NodeCabinet> for CabinetRow<'a> {
    fn from(c: &'a NodeCabinet) -> Self {
        CabinetRow {
            node: &c.node,
            cabinet: &c.cabinet,
            first_step: c.first_step,
            first_time: instant(c.first_time),
            last_step: c.last_step,
            last_time: instant(c.last_time),
            max_mass: c.max_mass,
            final_mass: c.final_mass,
            base: Some(c.base.as_str()).filter(|b| !b.is_empty()),
            spectrum: Some(c.spectrum.as_str()).filter(|s| !s.is_empty()),
            transient: c.transient,
        }
    }
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing the output failed.
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
    /// Encoding failed.
    #[error("cannot encode the export: {0}")]
    Encode(String),
    /// The trace could not be read (a damaged chunk, say): its own message names it.
    #[error(transparent)]
    Trace(#[from] crate::trace::TraceError),
}

impl From<csv::Error> for ExportError {
    fn from(e: csv::Error) -> Self {
        let message = e.to_string();
        match e.into_kind() {
            csv::ErrorKind::Io(io) => ExportError::Io(io),
            _ => ExportError::Encode(message),
        }
    }
}

impl From<serde_json::Error> for ExportError {
    fn from(e: serde_json::Error) -> Self {
        if e.is_io() { ExportError::Io(e.into()) } else { ExportError::Encode(e.to_string()) }
    }
}

/// The CSV header of [`CabinetRow`]s, for an export with no row (serde writes it with the
/// first row).
const CABINET_HEADER: [&str; 11] = [
    "node",
    "cabinet",
    "first_step",
    "first_time",
    "last_step",
    "last_time",
    "max_mass",
    "final_mass",
    "base",
    "spectrum",
    "transient",
];
/// The CSV header of [`ContextCell`]s.
const CONTEXT_HEADER: [&str; 3] = ["node", "context", "cabinet"];

fn write_rows<T: Serialize>(
    rows: &[T],
    header: &[&str],
    format: Format,
    out: &mut dyn Write,
) -> Result<(), ExportError> {
    match format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            // Stable columns even with no row: a reader sees an empty table, not no file.
            if rows.is_empty() {
                w.write_record(header)?;
            }
            for r in rows {
                w.serialize(r)?;
            }
            w.flush()?;
        }
        Format::Json | Format::Perfetto => {
            serde_json::to_writer_pretty(&mut *out, rows)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// Write one table of a consolidation.
pub fn export(c: &Consolidation, what: What, format: Format, out: &mut dyn Write) -> Result<(), ExportError> {
    fn cabinets(list: &[NodeCabinet]) -> Vec<CabinetRow<'_>> {
        list.iter().map(CabinetRow::from).collect()
    }
    match what {
        What::NodeCabinets => write_rows(&cabinets(&c.node_cabinets), &CABINET_HEADER, format, out),
        What::ProgramCabinets => write_rows(&cabinets(&c.program_cabinets), &CABINET_HEADER, format, out),
        What::NodeContexts => write_rows::<ContextCell>(&c.node_contexts, &CONTEXT_HEADER, format, out),
        What::ProgramContexts => write_rows::<ContextCell>(&c.program_contexts, &CONTEXT_HEADER, format, out),
    }
}
