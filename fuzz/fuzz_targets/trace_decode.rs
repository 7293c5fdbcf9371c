//! Fuzz the trace decoder: the input is a trace file, opened and read every way there is.
//! An odd first byte has the frame checksums repaired first, so that the fuzzer also reaches
//! bincode and lz4 instead of spending itself on CRC32C. Bit 1 of that byte decodes the
//! recorder's real header and events (seed with `traces/rating-seed1-2000.trace`).

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use catar_fuzz::{read_everything, repair_checksums};
use libfuzzer_sys::fuzz_target;

/// Shaped like the test suite's traces (bincode encodes a struct as the tuple of its fields),
/// so a trace written by `tests/trace_format.rs` is a useful seed.
type Header = (String, u16);
type Chunk = Vec<(u64, String)>;

/// One file per fuzzing process, rewritten for each input.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("catar-fuzz-{}.trace", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, file)) = data.split_first() else { return };
    let mut file = file.to_vec();
    if mode % 2 == 1 {
        repair_checksums(&mut file);
    }
    std::fs::write(scratch(), &file).expect("the fuzzer's scratch file is writable");
    // Bit 1 of the mode byte: decode as the recorder's real header and events instead.
    if mode & 2 == 0 {
        read_everything::<Header, Chunk>(scratch(), file.len() as u64);
    } else {
        read_everything::<catar::recorder::TraceHeader, catar::recorder::Chunk>(scratch(), file.len() as u64);
    }
});
