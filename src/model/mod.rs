//! The data model: records (header + slots), cabinets, contexts and tables (SPEC §1).

mod cabinet;
mod context;
mod record;
mod schema;
mod table;
mod undo;
mod value;

pub use cabinet::{CabinetDef, CabinetId, CabinetKind};
pub use context::{ContextDef, ContextId, Weight};
pub use record::{Header, Record, bits};
pub use schema::{MAX_CONTEXTS, Schema, SchemaBuilder, SchemaError};
pub use table::{ReactorKind, Table, TableId, TableKind};
pub use value::Value;
