//! The trace file format: a preamble, a header frame, framed chunks, and an optional footer
//! index. `docs/trace-format.md` describes the bytes; this module is the only code that knows
//! them, so the codec can change here without touching the recorder or the readers.
//!
//! The module is generic over the header type `H` and the chunk payload type `C`: it frames,
//! checksums, compresses and indexes, and knows nothing of the events inside a chunk.
//!
//! ```no_run
//! use catar::trace::{ChunkKind, ChunkMeta, TraceReader, TraceWriter};
//! # fn main() -> Result<(), catar::trace::TraceError> {
//! let path = std::path::Path::new("run.trace");
//! let mut w = TraceWriter::<String, Vec<u64>>::create(path, &"my pipeline".to_string())?;
//! let meta = ChunkMeta { node: 0, first_step: 1, last_step: 3, first_time: 0, last_time: 60 };
//! w.write_chunk(ChunkKind::Events, meta, &vec![1, 2, 3])?;
//! w.finish()?;
//!
//! let mut r = TraceReader::<String, Vec<u64>>::open(path)?;
//! assert_eq!(r.read_chunk(0)?, vec![1, 2, 3]);
//! # Ok(())
//! # }
//! ```

mod codec;
mod error;
mod frame;
mod layout;
mod reader;
mod source;
mod writer;

use serde::{Deserialize, Serialize};

pub use error::TraceError;
pub use reader::TraceReader;
pub use writer::{ChunkBuilder, EncodedChunk, TraceWriter};

/// The first eight bytes of every trace file.
pub const MAGIC: [u8; 8] = *b"CATARTRC";

/// The format version this code writes and the newest it reads. A change to the bytes bumps it.
/// Version 2 added keys chunks; version 1 files (which have none) are read as they are.
pub const VERSION: u16 = 2;

/// The most bytes a frame body, or a payload once decompressed, may hold (64 MiB). Readers check
/// every stated length against it before allocating, so a hostile file cannot ask for more.
pub const MAX_FRAME: usize = 64 << 20;

/// What a chunk holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChunkKind {
    /// Events recorded during a range of steps.
    Events,
    /// A snapshot of state from which replay can start without reading what came before.
    Checkpoint,
    /// Keys summarising the chunk before it (same meta), so that a search can skip chunks
    /// without reading them (version 2).
    Keys,
}

/// Where a chunk sits in the run; kept in the index so a reader can seek without decoding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkMeta {
    /// The node whose events the chunk holds.
    pub node: u16,
    /// The first global step in the chunk.
    pub first_step: u64,
    /// The last global step in the chunk.
    pub last_step: u64,
    /// The pseudo-time of the first step (unix seconds).
    pub first_time: i64,
    /// The pseudo-time of the last step (unix seconds).
    pub last_time: i64,
}

/// One chunk frame in the file: where it is, what it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Byte offset of the frame's first byte.
    pub offset: u64,
    /// Length of the whole frame in bytes, its framing included: the next frame starts at
    /// `offset + len`.
    pub len: u32,
    /// What the chunk holds.
    pub kind: ChunkKind,
    /// Its step and pseudo-time range.
    pub meta: ChunkMeta,
}
