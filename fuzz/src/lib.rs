//! What the fuzz target does with its input, kept apart from libFuzzer so that
//! `tests/trace_format.rs` runs the same code (it includes this file) under proptest on stable.

use std::path::Path;

use catar::trace::TraceReader;
use serde::de::DeserializeOwned;

/// Open the trace at `path` and read everything it offers, every way there is: each chunk by
/// index, the chunks backwards from the end, and a walk back from the file's last byte. Errors
/// are expected and ignored; a panic (or an allocation past the bound) is the bug looked for.
pub fn read_everything<H: DeserializeOwned, C: DeserializeOwned>(path: &Path, file_len: u64) {
    let Ok(mut reader) = TraceReader::<H, C>::open(path) else { return };
    for i in 0..reader.index().len() {
        let _ = reader.read_chunk(i);
    }
    // Each step goes back to a strictly earlier offset, so the walk ends.
    let mut at = reader.valid_len();
    while let Ok(Some((entry, _))) = reader.read_back(at) {
        at = entry.offset;
    }
    let _ = reader.read_back(file_len);
}

/// Give every frame that fits in `bytes` a valid checksum and a matching length after it,
/// following the layout in docs/trace-format.md: damaged payloads then get past the frame
/// checks to bincode and lz4, which random damage alone would almost never reach.
pub fn repair_checksums(bytes: &mut [u8]) {
    // Frames start after the 8-byte magic and the 2-byte version.
    let mut at = 10;
    while let Some(&[l0, l1, l2, l3]) = bytes.get(at..at + 4) {
        let body_len = u32::from_le_bytes([l0, l1, l2, l3]);
        let body_at = at + 8;
        let tail_at = body_at + body_len as usize;
        let Some(body) = bytes.get(body_at..tail_at) else { return };
        let crc = crc32c::crc32c(body);
        let Some(tail) = bytes.get_mut(tail_at..tail_at + 4) else { return };
        tail.copy_from_slice(&body_len.to_le_bytes());
        bytes[at + 4..body_at].copy_from_slice(&crc.to_le_bytes());
        at = tail_at + 4;
    }
}
