//! The file around the frames: the preamble (magic, version) before them, the trailer after
//! the footer index, and how to find the chunks of a file.
//!
//! A file with a whole footer is indexed by it without reading the chunks. Otherwise (the
//! writer was not finished, or the file was cut) the index is rebuilt by scanning frames
//! forward, as Kafka rebuilds a missing segment index, and the scan stops at the first frame
//! that is torn or damaged: as in LevelDB's log, a torn tail is the end of the file, not an
//! error.

use super::frame::{self, Frame, FrameKind, MIN_FRAME_LEN};
use super::source::TraceFile;
use super::{ChunkMeta, IndexEntry, MAGIC, TraceError, VERSION};

/// Length of the preamble: magic and version; the header frame starts right after it.
pub(super) const PREAMBLE_LEN: u64 = 10;

/// Length of the trailer: the index frame's offset and [`END_MAGIC`].
pub(super) const TRAILER_LEN: u64 = 16;

/// The last eight bytes of a finished trace.
const END_MAGIC: [u8; 8] = *b"CATAREND";

pub(super) fn preamble() -> [u8; PREAMBLE_LEN as usize] {
    let mut bytes = [0; PREAMBLE_LEN as usize];
    let (magic, version) = bytes.split_at_mut(MAGIC.len());
    magic.copy_from_slice(&MAGIC);
    version.copy_from_slice(&VERSION.to_le_bytes());
    bytes
}

pub(super) fn trailer(index_offset: u64) -> [u8; TRAILER_LEN as usize] {
    let mut bytes = [0; TRAILER_LEN as usize];
    let (offset, end_magic) = bytes.split_at_mut(8);
    offset.copy_from_slice(&index_offset.to_le_bytes());
    end_magic.copy_from_slice(&END_MAGIC);
    bytes
}

/// Where the chunks of a file are.
pub(super) struct Layout {
    /// The end of the header frame, where the first chunk frame starts.
    pub(super) data_start: u64,
    pub(super) index: Vec<IndexEntry>,
    /// The end of the last whole chunk frame (`data_start` when there is none).
    pub(super) chunks_end: u64,
    /// Whether a whole footer (index frame and trailer) was found.
    pub(super) complete: bool,
}

/// Check the preamble, read the header frame and index the chunks.
pub(super) fn locate(src: &mut TraceFile) -> Result<(Frame, Layout), TraceError> {
    check_preamble(src)?;
    let header = frame::read_at(src, PREAMBLE_LEN)?;
    if header.kind != FrameKind::Header {
        return Err(TraceError::corrupt(src.path(), PREAMBLE_LEN, "the first frame is not the header"));
    }
    let data_start = header.end();
    let layout = match footer(src, data_start)? {
        Some((index, chunks_end)) => Layout { data_start, index, chunks_end, complete: true },
        None => {
            let (index, chunks_end) = scan(src, data_start)?;
            Layout { data_start, index, chunks_end, complete: false }
        }
    };
    Ok((header, layout))
}

fn check_preamble(src: &mut TraceFile) -> Result<(), TraceError> {
    let mut bytes = [0; PREAMBLE_LEN as usize];
    let have = src.file_len().min(PREAMBLE_LEN) as usize;
    let (present, _) = bytes.split_at_mut(have);
    src.read_exact_at(0, present)?;
    // A file cut inside the magic is still recognised, so the error says what happened.
    if present.iter().zip(MAGIC).any(|(&byte, magic)| byte != magic) {
        return Err(TraceError::NotATrace { path: src.path().into() });
    }
    let [.., v0, v1] = bytes;
    if have < bytes.len() {
        let reason = format!("the file ends at byte {have}, before the end of its magic number and version");
        return Err(TraceError::corrupt(src.path(), have as u64, reason));
    }
    match u16::from_le_bytes([v0, v1]) {
        // Version 1 differs only in having no keys chunks.
        1 | VERSION => Ok(()),
        found if found > VERSION => {
            Err(TraceError::NewerVersion { path: src.path().into(), found, supported: VERSION })
        }
        found => Err(TraceError::corrupt(src.path(), 8, format!("unknown format version {found}"))),
    }
}

/// The index and the end of the chunks, from a whole footer. `None` when there is no footer
/// or any part of it fails a check: the caller then scans.
fn footer(src: &mut TraceFile, data_start: u64) -> Result<Option<(Vec<IndexEntry>, u64)>, TraceError> {
    let Some(trailer_at) = src.file_len().checked_sub(TRAILER_LEN).filter(|&at| at >= data_start) else {
        return Ok(None);
    };
    let mut index_at = [0; 8];
    let mut end_magic = [0; 8];
    src.read_exact_at(trailer_at, &mut index_at)?;
    src.read_exact_at(trailer_at + 8, &mut end_magic)?;
    let index_at = u64::from_le_bytes(index_at);
    if end_magic != END_MAGIC || index_at < data_start || index_at >= trailer_at {
        return Ok(None);
    }
    let Some(frame) = tolerate(frame::read_at(src, index_at))? else { return Ok(None) };
    if frame.kind != FrameKind::Index || frame.end() != trailer_at {
        return Ok(None);
    }
    // An entry is at least 8 bytes: offset, len, kind and the five meta fields, a byte each.
    let Some(index) = tolerate(frame.decode_seq::<IndexEntry>(src.path(), 8))? else { return Ok(None) };
    Ok(contiguous(&index, data_start, index_at).then_some((index, index_at)))
}

/// Whether the entries tile the bytes from `start` to `end` in order, as a writer lays them:
/// a footer that says otherwise is not trusted.
fn contiguous(index: &[IndexEntry], start: u64, end: u64) -> bool {
    let mut at = start;
    for entry in index {
        if entry.offset != at || u64::from(entry.len) < MIN_FRAME_LEN {
            return false;
        }
        at = at.saturating_add(entry.len.into());
    }
    at == end
}

/// Index the chunk frames from `data_start` up to the first frame that is not a whole chunk;
/// also returns where that frame starts.
fn scan(src: &mut TraceFile, data_start: u64) -> Result<(Vec<IndexEntry>, u64), TraceError> {
    let mut index = Vec::new();
    let mut at = data_start;
    while let Some(frame) = tolerate(frame::read_at(src, at))? {
        // A header frame here is damage; an index frame without its trailer is a cut footer.
        let Some(kind) = frame.kind.chunk() else { break };
        let Some(meta) = tolerate(frame.decode_prefix::<ChunkMeta>(src.path()))? else { break };
        index.push(IndexEntry { offset: at, len: frame.len, kind, meta });
        at = frame.end();
    }
    Ok((index, at))
}

/// Damage marks where a file's usable part ends, so it is not an error while locating
/// chunks; an I/O error still is one.
fn tolerate<T>(result: Result<T, TraceError>) -> Result<Option<T>, TraceError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e @ TraceError::Io { .. }) => Err(e),
        Err(_) => Ok(None),
    }
}
