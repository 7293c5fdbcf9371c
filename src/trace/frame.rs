//! One frame: `[u32 LE body length][u32 LE crc32c of body][body][u32 LE body length]`, with
//! body = `[kind][codec][reserved = 0][payload]`.
//!
//! The checksum tells a whole frame from a torn or damaged one; the length repeated after the
//! body lets a reader walk the file backwards (as EventStoreDB chunks do).

use std::io::Write;
use std::path::Path;

use serde::de::DeserializeOwned;

use super::codec::{self, Codec};
use super::error::Fault;
use super::source::TraceFile;
use super::{ChunkKind, MAX_FRAME, TraceError};

/// Bytes of a frame outside its body: length and checksum before, length after.
const FRAMING: u64 = 12;

/// Bytes of the body before the payload: kind, codec, reserved.
const PREFIX: usize = 3;

/// The shortest possible frame: framing and a body with an empty payload.
pub(super) const MIN_FRAME_LEN: u64 = FRAMING + PREFIX as u64;

/// What a frame holds: the kind byte of the frame body. Zero is not a kind, so a zero-filled
/// tail (left by a crash on some file systems) never reads as a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FrameKind {
    /// The file's header (the pipeline description); always the first frame.
    Header = 1,
    /// A chunk of events.
    Events = 2,
    /// A chunk holding a checkpoint.
    Checkpoint = 3,
    /// The footer index; always the last frame.
    Index = 4,
    /// A chunk of keys: what a reader needs to tell whether another chunk concerns something
    /// (version 2).
    Keys = 5,
}

impl FrameKind {
    fn from_byte(byte: u8) -> Option<FrameKind> {
        match byte {
            1 => Some(FrameKind::Header),
            2 => Some(FrameKind::Events),
            3 => Some(FrameKind::Checkpoint),
            4 => Some(FrameKind::Index),
            5 => Some(FrameKind::Keys),
            _ => None,
        }
    }

    /// The chunk kind, for the frames that hold chunks.
    pub(super) fn chunk(self) -> Option<ChunkKind> {
        match self {
            FrameKind::Events => Some(ChunkKind::Events),
            FrameKind::Checkpoint => Some(ChunkKind::Checkpoint),
            FrameKind::Keys => Some(ChunkKind::Keys),
            FrameKind::Header | FrameKind::Index => None,
        }
    }
}

impl From<ChunkKind> for FrameKind {
    fn from(kind: ChunkKind) -> FrameKind {
        match kind {
            ChunkKind::Events => FrameKind::Events,
            ChunkKind::Checkpoint => FrameKind::Checkpoint,
            ChunkKind::Keys => FrameKind::Keys,
        }
    }
}

/// A whole frame read from a file: lengths and checksum verified, payload still coded.
pub(super) struct Frame {
    /// Byte offset of the frame's first byte.
    pub(super) offset: u64,
    /// Length of the whole frame, framing included.
    pub(super) len: u32,
    pub(super) kind: FrameKind,
    codec: Codec,
    payload: Vec<u8>,
}

impl Frame {
    /// The offset just past the frame.
    pub(super) fn end(&self) -> u64 {
        self.offset + u64::from(self.len)
    }

    /// Decode the payload, which must hold exactly one `T`.
    pub(super) fn decode<T: DeserializeOwned>(&self, path: &Path) -> Result<T, TraceError> {
        codec::unpack(self.codec, &self.payload)
            .and_then(|bytes| codec::decode(&bytes))
            .map_err(|fault| fault.at(path, self.offset))
    }

    /// Decode a sequence of `T` (bincode: a length, then the elements) into a vector sized
    /// once. Each element takes at least `min_bytes` encoded bytes, so a stated length the
    /// payload cannot hold is refused before anything is reserved; serde's own `Vec` would
    /// grow by doubling, and so need twice the memory at its peak.
    pub(super) fn decode_seq<T: DeserializeOwned>(
        &self,
        path: &Path,
        min_bytes: usize,
    ) -> Result<Vec<T>, TraceError> {
        let fault = |f: Fault| f.at(path, self.offset);
        let bytes = codec::unpack(self.codec, &self.payload).map_err(fault)?;
        let (count, mut at) = codec::decode_prefix::<u64>(&bytes).map_err(fault)?;
        let room = bytes.len().saturating_sub(at) / min_bytes.max(1);
        if count > room as u64 {
            return Err(fault(Fault::Codec(format!("{count} elements cannot fit in {} bytes", bytes.len()))));
        }
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let (value, used) = codec::decode_prefix::<T>(&bytes[at..]).map_err(fault)?;
            at += used;
            out.push(value);
        }
        match bytes.len() - at {
            0 => Ok(out),
            left => Err(fault(Fault::Codec(format!("{left} bytes left over after the value")))),
        }
    }

    /// Decode a `T` from the start of the payload, ignoring what follows it.
    pub(super) fn decode_prefix<T: DeserializeOwned>(&self, path: &Path) -> Result<T, TraceError> {
        codec::unpack(self.codec, &self.payload)
            .and_then(|bytes| codec::decode_prefix(&bytes))
            .map(|(value, _)| value)
            .map_err(|fault| fault.at(path, self.offset))
    }
}

/// Write a frame of `kind` holding the bincode bytes `raw` (compressed when that helps) at
/// `offset`, which only names the frame in errors. Returns the frame's length. Nothing is
/// written when the frame would be too large, so the writer stays usable.
pub(super) fn write(
    out: &mut impl Write,
    path: &Path,
    offset: u64,
    kind: FrameKind,
    raw: Vec<u8>,
) -> Result<u32, TraceError> {
    let (codec, payload) = codec::pack(raw);
    write_packed(out, path, offset, kind, codec, &payload)
}

/// Write one frame whose payload is already packed by `codec`; returns the frame's length.
pub(super) fn write_packed(
    out: &mut impl Write,
    path: &Path,
    offset: u64,
    kind: FrameKind,
    codec: Codec,
    payload: &[u8],
) -> Result<u32, TraceError> {
    let body_len = PREFIX + payload.len();
    if body_len > MAX_FRAME {
        return Err(TraceError::TooLarge { path: path.into(), offset, len: body_len as u64 });
    }
    // MAX_FRAME is far below u32::MAX, so the length fits its four bytes.
    let body_len = (body_len as u32).to_le_bytes();
    let prefix = [kind as u8, codec as u8, 0];
    let crc = crc32c::crc32c_append(crc32c::crc32c(&prefix), payload);
    [&body_len[..], &crc.to_le_bytes(), &prefix, payload, &body_len]
        .iter()
        .try_for_each(|part| out.write_all(part))
        .map_err(|e| TraceError::io(path, e))?;
    Ok(FRAMING as u32 + u32::from_le_bytes(body_len))
}

/// Read the frame that starts at `offset`. Every length is checked against [`MAX_FRAME`] and
/// the bytes left in the file before anything is allocated.
pub(super) fn read_at(src: &mut TraceFile, offset: u64) -> Result<Frame, TraceError> {
    let corrupt = |src: &TraceFile, reason: String| TraceError::corrupt(src.path(), offset, reason);
    let left = src.file_len().saturating_sub(offset);
    if left < MIN_FRAME_LEN {
        return Err(corrupt(src, format!("the file ends {left} bytes into this frame")));
    }
    let mut head = [0; 8];
    src.read_exact_at(offset, &mut head)?;
    let [l0, l1, l2, l3, c0, c1, c2, c3] = head;
    let body_len = u32::from_le_bytes([l0, l1, l2, l3]);
    if body_len as usize > MAX_FRAME {
        return Err(TraceError::TooLarge { path: src.path().into(), offset, len: body_len.into() });
    }
    let frame_len = FRAMING + u64::from(body_len);
    if frame_len > left {
        let reason = format!("the frame claims {frame_len} bytes but the file ends after {left}");
        return Err(corrupt(src, reason));
    }
    let Some(payload_len) = (body_len as usize).checked_sub(PREFIX) else {
        return Err(corrupt(src, format!("a frame body of {body_len} bytes has no room for its prefix")));
    };
    let mut prefix = [0; PREFIX];
    let mut payload = vec![0; payload_len];
    let mut tail = [0; 4];
    src.read_exact_at(offset + 8, &mut prefix)?;
    src.read_exact_at(offset + 8 + PREFIX as u64, &mut payload)?;
    src.read_exact_at(offset + frame_len - 4, &mut tail)?;
    if u32::from_le_bytes(tail) != body_len {
        return Err(corrupt(src, "the length after the frame differs from the length before it".into()));
    }
    if crc32c::crc32c_append(crc32c::crc32c(&prefix), &payload) != u32::from_le_bytes([c0, c1, c2, c3]) {
        return Err(corrupt(src, "checksum mismatch".into()));
    }
    let [kind, codec, reserved] = prefix;
    let kind =
        FrameKind::from_byte(kind).ok_or_else(|| corrupt(src, format!("unknown frame kind {kind}")))?;
    let codec = Codec::from_byte(codec).ok_or_else(|| corrupt(src, format!("unknown codec {codec}")))?;
    if reserved != 0 {
        return Err(corrupt(src, format!("reserved byte is {reserved}, not 0")));
    }
    Ok(Frame { offset, len: frame_len as u32, kind, codec, payload })
}

/// Read the frame that ends at `end`, found through the length stored after it. No frame
/// starts before `start` (the end of the header frame).
pub(super) fn read_ending_at(src: &mut TraceFile, end: u64, start: u64) -> Result<Frame, TraceError> {
    let not_an_end = |src: &TraceFile| TraceError::corrupt(src.path(), end, "no chunk frame ends here");
    if end > src.file_len() || end < start.saturating_add(MIN_FRAME_LEN) {
        return Err(not_an_end(src));
    }
    let mut tail = [0; 4];
    src.read_exact_at(end - 4, &mut tail)?;
    let frame_len = FRAMING + u64::from(u32::from_le_bytes(tail));
    let Some(offset) = end.checked_sub(frame_len).filter(|&offset| offset >= start) else {
        return Err(not_an_end(src));
    };
    let frame = read_at(src, offset)?;
    // A damaged length before the frame could lead read_at to a whole frame ending elsewhere.
    if frame.end() != end {
        return Err(not_an_end(src));
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_of_a_small_frame() {
        let mut out = Vec::new();
        let len = write(&mut out, Path::new("t"), 0, FrameKind::Events, vec![7, 8]).unwrap();
        assert_eq!(len, 17);
        let crc = crc32c::crc32c(&[2, 0, 0, 7, 8]).to_le_bytes();
        let expected = [&[5, 0, 0, 0][..], &crc, &[2, 0, 0, 7, 8], &[5, 0, 0, 0]].concat();
        assert_eq!(out, expected);
    }
}
