//! Working from a recorded trace rather than a live run: the cursor a replay session moves
//! (seek, step back, rebuild a node's tables at any step) and the history of a record by
//! identifier (`catar query`).

mod cursor;
mod print;
mod query;
mod tables;

pub(crate) use cursor::Visit;
pub use cursor::{Cursor, Mark};

pub use print::{write_csv, write_text};

pub use query::{History, Metrics, NodeMetrics, QueryError, Touch, query, value_text};
