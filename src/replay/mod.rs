//! Working from a recorded trace rather than a live run. Today: the history of a record by
//! identifier (`catar query`); the replay cursor comes next.

mod print;
mod query;

pub use print::{write_csv, write_text};

pub use query::{History, Metrics, NodeMetrics, QueryError, Touch, query, value_text};
