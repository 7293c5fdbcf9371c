//! What can go wrong with a trace file. Every message names the file, since a session may have
//! several open.

use std::path::{Path, PathBuf};

use super::MAX_FRAME;

/// Why a trace file could not be written, opened or read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The operating system refused a read or a write.
    #[error("trace file {}: {source}", path.display())]
    Io {
        /// The trace file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not start with the trace magic number.
    #[error("{} is not a catar trace file (it does not start with the trace magic number)", path.display())]
    NotATrace {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by a newer catar.
    #[error(
        "trace file {} has format version {found}, newer than this catar reads (up to {supported}); \
         use a newer catar",
        path.display()
    )]
    NewerVersion {
        /// The trace file.
        path: PathBuf,
        /// The version in the file.
        found: u16,
        /// The newest version this code reads.
        supported: u16,
    },
    /// The bytes at `offset` are not what the format says they must be.
    #[error("trace file {} is damaged at byte {offset}: {reason}", path.display())]
    Corrupt {
        /// The trace file.
        path: PathBuf,
        /// Where the damage was found (usually the start of a frame).
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A frame is damaged or does not decode, named by a reader that knows what the frames
    /// hold (see [`TraceError::damage`]): which frame, and what of the file is apart from it.
    #[error("trace file {}: {part} is damaged at byte {offset}: {reason}; {apart}", path.display())]
    Damaged {
        /// The trace file.
        path: PathBuf,
        /// The frame as a person names it: a chunk's kind, node and steps, or the header.
        part: String,
        /// Where the damage was found (usually the start of the frame).
        offset: u64,
        /// What is wrong.
        reason: String,
        /// What of the file is in other frames, and so may still read.
        apart: String,
    },
    /// A frame, or its payload once decompressed, is or claims to be longer than [`MAX_FRAME`].
    #[error(
        "trace file {}: the frame at byte {offset} needs {len} bytes, more than the limit of {MAX_FRAME}",
        path.display()
    )]
    TooLarge {
        /// The trace file.
        path: PathBuf,
        /// The start of the frame.
        offset: u64,
        /// The length it has or claims (body, or payload once decompressed).
        len: u64,
    },
    /// A payload could not be encoded, decompressed or decoded.
    #[error("trace file {}: the frame at byte {offset} cannot be coded: {message}", path.display())]
    Codec {
        /// The trace file.
        path: PathBuf,
        /// The start of the frame.
        offset: u64,
        /// What the codec said.
        message: String,
    },
    /// A chunk number past the end of the index was asked for.
    #[error("trace file {} has {count} chunks; there is no chunk {index}", path.display())]
    NoChunk {
        /// The trace file.
        path: PathBuf,
        /// The chunk asked for.
        index: usize,
        /// How many chunks the file has.
        count: usize,
    },
    /// A run cannot be appended to the file (ACCUMULATE): it records another pipeline or level.
    #[error("cannot append to trace file {}: {reason}", path.display())]
    Append {
        /// The trace file.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// A run number past the runs the file holds was asked for.
    #[error("trace file {} holds {count} run(s) (runs are appended with order = \"ACCUMULATE\"); there is no run {run}", path.display())]
    NoRun {
        /// The trace file.
        path: PathBuf,
        /// The run asked for (from 1).
        run: usize,
        /// How many runs the file holds.
        count: usize,
    },
}

impl TraceError {
    pub(super) fn io(path: &Path, source: std::io::Error) -> Self {
        TraceError::Io { path: path.into(), source }
    }

    pub(super) fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> Self {
        TraceError::Corrupt { path: path.into(), offset, reason: reason.into() }
    }

    /// Where the bytes are damaged and what is wrong with them, when that is this error (not
    /// an I/O error, say).
    pub(crate) fn damage(&self) -> Option<(u64, String)> {
        match self {
            TraceError::Corrupt { offset, reason, .. } => Some((*offset, reason.clone())),
            TraceError::Codec { offset, message, .. } => {
                Some((*offset, format!("it does not decode: {message}")))
            }
            TraceError::TooLarge { offset, len, .. } => {
                Some((*offset, format!("it needs {len} bytes, more than the limit of {MAX_FRAME}")))
            }
            TraceError::Damaged { offset, reason, .. } => Some((*offset, reason.clone())),
            _ => None,
        }
    }
}

/// A problem found by code that knows bytes but not which file they came from (the codec);
/// the caller places it with [`Fault::at`].
#[derive(Debug)]
pub(super) enum Fault {
    /// A stated or actual length is over [`MAX_FRAME`].
    TooLarge(u64),
    /// The codec refused the bytes.
    Codec(String),
}

impl Fault {
    pub(super) fn at(self, path: &Path, offset: u64) -> TraceError {
        match self {
            Fault::TooLarge(len) => TraceError::TooLarge { path: path.into(), offset, len },
            Fault::Codec(message) => TraceError::Codec { path: path.into(), offset, message },
        }
    }
}
