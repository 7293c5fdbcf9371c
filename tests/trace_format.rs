//! The trace file format through its public API: round trips, files cut at every byte,
//! damaged and hostile bytes, appending, and walking backwards.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use catar::trace::{
    ChunkKind, ChunkMeta, IndexEntry, MAGIC, MAX_FRAME, TraceError, TraceReader, TraceWriter, VERSION,
};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use tempfile::TempDir;

/// The fuzz target's code, run here under proptest on the stable toolchain.
#[path = "../fuzz/src/lib.rs"]
mod hostile;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Header {
    pipeline: String,
    nodes: u16,
}

type Chunk = Vec<(u64, String)>;
type Reader = TraceReader<Header, Chunk>;
type Writer = TraceWriter<Header, Chunk>;

/// Chunks in the sample trace.
const CHUNKS: u64 = 30;

fn header() -> Header {
    Header { pipeline: "rating".into(), nodes: 3 }
}

fn meta(i: u64) -> ChunkMeta {
    let first_time = 1_700_000_000 + i as i64 * 60;
    ChunkMeta {
        node: (i % 3) as u16,
        first_step: i * 10,
        last_step: i * 10 + 9,
        first_time,
        last_time: first_time + 59,
    }
}

fn kind(i: u64) -> ChunkKind {
    if i % 10 == 9 { ChunkKind::Checkpoint } else { ChunkKind::Events }
}

/// Every third chunk repeats itself and compresses; the others are too small to.
fn compressible(i: u64) -> bool {
    i.is_multiple_of(3)
}

fn chunk(i: u64) -> Chunk {
    if compressible(i) {
        (0..8).map(|k| (i * 100 + k, "CDR rated at the peak tariff".to_string())).collect()
    } else {
        vec![(i, format!("event {i}")), (i + 1, "x".into())]
    }
}

/// Write chunks `range` to `w`.
fn write_chunks(w: &mut Writer, range: std::ops::Range<u64>) {
    for i in range {
        w.write_chunk(kind(i), meta(i), &chunk(i)).unwrap();
    }
}

/// A trace of [`CHUNKS`] chunks at `path`, finished (with footer) or not; returns its bytes.
fn sample(path: &Path, finish: bool) -> Vec<u8> {
    let mut w = Writer::create(path, &header()).unwrap();
    write_chunks(&mut w, 0..CHUNKS);
    if finish {
        let len = w.finish().unwrap();
        assert_eq!(len, std::fs::metadata(path).unwrap().len());
    } else {
        w.flush().unwrap();
    }
    std::fs::read(path).unwrap()
}

/// A sample trace written once for the tests that damage it: bytes and index.
fn finished_sample() -> &'static (Vec<u8>, Vec<IndexEntry>) {
    static SAMPLE: OnceLock<(Vec<u8>, Vec<IndexEntry>)> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("sample.trace");
        let bytes = sample(&path, true);
        (bytes, Reader::open(&path).unwrap().index().to_vec())
    })
}

fn scratch() -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("t.trace");
    (dir, path)
}

fn names_file(err: &TraceError, path: &Path) -> bool {
    err.to_string().contains(&path.display().to_string())
}

fn end(entry: &IndexEntry) -> u64 {
    entry.offset + u64::from(entry.len)
}

fn read_all(r: &mut Reader) -> Vec<Chunk> {
    (0..r.index().len()).map(|i| r.read_chunk(i).unwrap()).collect()
}

#[test]
fn round_trip_compressed_and_uncompressed() {
    let (_dir, path) = scratch();
    let bytes = sample(&path, true);
    let mut r = Reader::open(&path).unwrap();
    assert_eq!(r.header(), &header());
    assert!(r.complete());
    assert_eq!(r.index().len() as u64, CHUNKS);
    for (i, entry) in r.index().to_vec().iter().enumerate() {
        let i = i as u64;
        assert_eq!((entry.kind, &entry.meta), (kind(i), &meta(i)));
        // The codec byte: after length (4), checksum (4) and kind (1).
        let codec = bytes[entry.offset as usize + 9];
        assert_eq!(codec, u8::from(compressible(i)), "codec of chunk {i}");
        assert_eq!(r.read_chunk(i as usize).unwrap(), chunk(i));
    }
    assert_eq!(r.valid_len(), end(r.index().last().unwrap()));
    assert!(matches!(r.read_chunk(30), Err(TraceError::NoChunk { index: 30, count: 30, .. })));
}

#[test]
fn empty_trace_and_unfinished_trace() {
    let (_dir, path) = scratch();
    let w = Writer::create(&path, &header()).unwrap();
    let written = w.bytes_written();
    assert_eq!(w.finish().unwrap(), std::fs::metadata(&path).unwrap().len());
    let mut r = Reader::open(&path).unwrap();
    assert!(r.complete() && r.index().is_empty());
    assert_eq!(r.valid_len(), written);
    assert!(r.read_back(written).unwrap().is_none());

    // A writer dropped without finish leaves no footer: the chunks are found by scanning.
    sample(&path, false);
    let mut r = Reader::open(&path).unwrap();
    assert!(!r.complete());
    assert_eq!(read_all(&mut r), (0..CHUNKS).map(chunk).collect::<Vec<_>>());
}

#[test]
fn a_cut_at_every_byte_opens_with_the_chunks_before_it() {
    let (full, index) = finished_sample();
    let header_end = index[0].offset;
    let (_dir, path) = scratch();
    for cut in 0..=full.len() {
        std::fs::write(&path, &full[..cut]).unwrap();
        let opened = Reader::open(&path);
        if (cut as u64) < header_end {
            let err = opened.err().unwrap_or_else(|| panic!("a cut at {cut} opened"));
            assert!(matches!(err, TraceError::Corrupt { .. }), "cut at {cut}: {err}");
            assert!(names_file(&err, &path), "{err}");
            continue;
        }
        let mut r = opened.unwrap_or_else(|e| panic!("a cut at {cut} does not open: {e}"));
        let whole = index.iter().take_while(|e| end(e) <= cut as u64).count();
        assert_eq!(r.index(), &index[..whole], "cut at {cut}");
        assert_eq!(r.complete(), cut == full.len(), "cut at {cut}");
        assert_eq!(r.valid_len(), index[..whole].last().map_or(header_end, end), "cut at {cut}");
        if let Some(last) = whole.checked_sub(1) {
            assert_eq!(r.read_chunk(last).unwrap(), chunk(last as u64), "cut at {cut}");
        }
    }
}

#[test]
fn a_damaged_chunk_ends_the_scan_or_fails_to_read() {
    let (full, index) = finished_sample();
    let (chunks_start, chunks_end) = (index[0].offset as usize, end(index.last().unwrap()) as usize);
    let (_dir, path) = scratch();
    let unfinished = &full[..chunks_end];
    for at in chunks_start..full.len() {
        let damaged = |bytes: &[u8]| {
            let mut bytes = bytes.to_vec();
            bytes[at] ^= 0x5a;
            std::fs::write(&path, bytes).unwrap();
            Reader::open(&path).unwrap()
        };
        let Some(hit) = index.iter().position(|e| end(e) > at as u64) else {
            // Damage in the footer: it is ignored and the chunks are found by scanning.
            let r = damaged(full);
            assert!(!r.complete(), "damage at {at}");
            assert_eq!(r.index(), &index[..]);
            continue;
        };
        // Without a footer the scan stops at the damaged frame.
        assert_eq!(damaged(unfinished).index(), &index[..hit], "damage at {at}");
        // With one, the damaged chunk fails to read and its neighbours still read.
        let mut r = damaged(full);
        assert!(r.complete());
        let err = r.read_chunk(hit).unwrap_err();
        assert!(matches!(err, TraceError::Corrupt { .. } | TraceError::TooLarge { .. }), "{err}");
        assert!(names_file(&err, &path));
        for next in [hit.checked_sub(1), Some(hit + 1)].into_iter().flatten().filter(|&i| i < index.len()) {
            assert_eq!(r.read_chunk(next).unwrap(), chunk(next as u64));
        }
    }
}

#[test]
fn damage_before_the_chunks_is_a_clear_error() {
    let (full, index) = finished_sample();
    let (_dir, path) = scratch();
    for at in 0..index[0].offset as usize {
        let mut bytes = full.clone();
        bytes[at] ^= 0x5a;
        std::fs::write(&path, bytes).unwrap();
        let err = Reader::open(&path).err().unwrap_or_else(|| panic!("damage at {at} went unseen"));
        assert!(names_file(&err, &path), "{err}");
        if at < MAGIC.len() {
            assert!(matches!(err, TraceError::NotATrace { .. }), "damage at {at}: {err}");
        }
    }
}

#[test]
fn wrong_magic_and_newer_version_name_the_file() {
    let (_dir, path) = scratch();
    std::fs::write(&path, "city,caller,callee\n").unwrap();
    let err = Reader::open(&path).err().unwrap();
    assert!(matches!(err, TraceError::NotATrace { .. }) && names_file(&err, &path), "{err}");

    let mut bytes = finished_sample().0.clone();
    bytes[8..10].copy_from_slice(&(VERSION + 1).to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let err = Reader::open(&path).err().unwrap();
    assert!(
        matches!(err, TraceError::NewerVersion { found, supported: VERSION, .. } if found == VERSION + 1),
        "{err}"
    );
    assert!(names_file(&err, &path), "{err}");

    // Version 1 (no keys chunks) is still read; version 0 never existed.
    let mut bytes = finished_sample().0.clone();
    bytes[8..10].copy_from_slice(&1u16.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(Reader::open(&path).unwrap().index(), &finished_sample().1[..]);
    let mut bytes = finished_sample().0.clone();
    bytes[8..10].copy_from_slice(&0u16.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    assert!(matches!(Reader::open(&path), Err(TraceError::Corrupt { .. })));

    let err = Reader::open(&path.with_extension("missing")).err().unwrap();
    assert!(matches!(err, TraceError::Io { .. }) && err.to_string().contains("missing"), "{err}");
}

#[test]
fn append_continues_a_finished_trace() {
    let (_dir, path) = scratch();
    let mut w = Writer::create(&path, &header()).unwrap();
    write_chunks(&mut w, 0..3);
    w.finish().unwrap();
    // The existing header stays; the one given is only for a new file.
    let other = Header { pipeline: "other".into(), nodes: 1 };
    let mut w = Writer::append_to(&path, &other).unwrap();
    write_chunks(&mut w, 3..5);
    w.finish().unwrap();

    let mut r = Reader::open(&path).unwrap();
    assert!(r.complete());
    assert_eq!(r.header(), &header());
    assert_eq!(read_all(&mut r), (0..5).map(chunk).collect::<Vec<_>>());
    assert_eq!(
        r.index().iter().map(|e| e.meta.clone()).collect::<Vec<_>>(),
        (0..5).map(meta).collect::<Vec<_>>()
    );
}

#[test]
fn append_drops_a_torn_tail_and_creates_a_missing_file() {
    let (_dir, path) = scratch();
    let bytes = sample(&path, false);
    let cut = bytes.len() - 5;
    std::fs::write(&path, &bytes[..cut]).unwrap();
    let mut w = Writer::append_to(&path, &header()).unwrap();
    assert!(w.bytes_written() < cut as u64);
    write_chunks(&mut w, CHUNKS - 1..CHUNKS + 1);
    w.finish().unwrap();
    let mut r = Reader::open(&path).unwrap();
    assert!(r.complete());
    assert_eq!(read_all(&mut r), (0..CHUNKS + 1).map(chunk).collect::<Vec<_>>());

    let fresh = path.with_extension("new");
    let mut w = Writer::append_to(&fresh, &header()).unwrap();
    write_chunks(&mut w, 0..1);
    w.finish().unwrap();
    assert_eq!(read_all(&mut Reader::open(&fresh).unwrap()), vec![chunk(0)]);

    std::fs::write(&fresh, "not a trace at all").unwrap();
    let err = Writer::append_to(&fresh, &header()).err().unwrap();
    assert!(matches!(err, TraceError::NotATrace { .. }), "{err}");
}

#[test]
fn read_back_walks_from_the_end_to_the_start() {
    let (_dir, path) = scratch();
    for finish in [true, false] {
        sample(&path, finish);
        let mut r = Reader::open(&path).unwrap();
        let mut walked = Vec::new();
        let mut at = r.valid_len();
        while let Some((entry, chunk)) = r.read_back(at).unwrap() {
            at = entry.offset;
            walked.push((entry, chunk));
        }
        walked.reverse();
        let forward: Vec<_> = r.index().to_vec().into_iter().zip(read_all(&mut r)).collect();
        assert_eq!(walked, forward);
        assert_eq!(walked.len() as u64, CHUNKS);
        // Not a frame boundary: an error, not a panic or a wrong chunk.
        let err = r.read_back(r.valid_len() - 1).unwrap_err();
        assert!(names_file(&err, &path), "{err}");
    }
}

#[test]
fn a_chunk_over_the_limit_is_refused_and_the_writer_goes_on() {
    let (_dir, path) = scratch();
    let mut w = Writer::create(&path, &header()).unwrap();
    write_chunks(&mut w, 0..1);
    let huge = vec![(0, "x".repeat(MAX_FRAME))];
    let err = w.write_chunk(ChunkKind::Events, meta(1), &huge).unwrap_err();
    assert!(matches!(err, TraceError::TooLarge { .. }) && names_file(&err, &path), "{err}");
    write_chunks(&mut w, 1..2);
    w.finish().unwrap();
    assert_eq!(read_all(&mut Reader::open(&path).unwrap()), vec![chunk(0), chunk(1)]);
}

/// Open `bytes` as a trace and read everything it offers, as the fuzz target does: the
/// result does not matter, only that nothing panics.
fn open_and_read_all(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    hostile::read_everything::<Header, Chunk>(path, bytes.len() as u64);
}

/// One change to a file's bytes; positions are taken modulo the length.
#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, bits)| Mutation::Flip(at, bits)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, b)| Mutation::Insert(at, b)),
        (any::<usize>(), 1..64usize).prop_map(|(at, n)| Mutation::Delete(at, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match mutation {
        Mutation::Flip(i, bits) if !bytes.is_empty() => {
            let i = at(*i, bytes.len());
            bytes[i] ^= bits;
        }
        Mutation::Flip(..) => {}
        Mutation::Insert(i, new) => {
            let i = at(*i, bytes.len() + 1);
            bytes.splice(i..i, new.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let i = at(*i, bytes.len());
            bytes.drain(i..(i + n).min(bytes.len()));
        }
        Mutation::Truncate(i) => bytes.truncate(at(*i, bytes.len() + 1)),
    }
}

/// A valid preamble, so random bytes reach the frame decoder instead of the magic check.
fn preamble() -> Vec<u8> {
    [&MAGIC[..], &VERSION.to_le_bytes()].concat()
}

/// A frame laid out as docs/trace-format.md says, built here apart from the writer.
fn frame_bytes(kind: u8, payload: &[u8]) -> Vec<u8> {
    let body = [&[kind, 0, 0][..], payload].concat();
    let len = (body.len() as u32).to_le_bytes();
    [&len[..], &crc32c::crc32c(&body).to_le_bytes(), &body, &len].concat()
}

/// The sample's chunks under a well-formed footer whose entries tile the chunk bytes at the
/// given cut points, with any kinds and metas: entries a reader must check against the frames.
fn with_footer(cuts: &[u64], labels: &[(bool, u16, u64, i64)]) -> Vec<u8> {
    let (full, index) = finished_sample();
    let (start, end) = (index[0].offset, end(index.last().unwrap()));
    let mut bounds: Vec<u64> = cuts.iter().map(|c| start + c % (end - start)).collect();
    bounds.sort_unstable();
    let mut tiles = vec![start];
    for b in bounds.into_iter().chain([end]) {
        // Frames are at least 15 bytes; the last tile absorbs a short remainder.
        if b >= tiles.last().unwrap() + 15 {
            tiles.push(b);
        }
    }
    *tiles.last_mut().unwrap() = end;
    let entries: Vec<IndexEntry> = tiles
        .windows(2)
        .zip(labels.iter().cycle())
        .map(|(w, &(checkpoint, node, step, time))| IndexEntry {
            offset: w[0],
            len: (w[1] - w[0]) as u32,
            kind: if checkpoint { ChunkKind::Checkpoint } else { ChunkKind::Events },
            meta: ChunkMeta { node, first_step: step, last_step: step, first_time: time, last_time: time },
        })
        .collect();
    let payload = bincode::serde::encode_to_vec(&entries, bincode::config::standard()).unwrap();
    let trailer = [&end.to_le_bytes()[..], b"CATAREND"].concat();
    [&full[..end as usize], &frame_bytes(4, &payload), &trailer].concat()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(tail in prop::collection::vec(any::<u8>(), 0..512), framed: bool) {
        let (_dir, path) = scratch();
        let bytes = if framed { [preamble(), tail].concat() } else { tail };
        open_and_read_all(&path, &bytes);
    }

    #[test]
    fn mutated_traces_never_panic(mutations in prop::collection::vec(mutation(), 1..5), fix: bool) {
        let (_dir, path) = scratch();
        let mut bytes = finished_sample().0.clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        if fix {
            hostile::repair_checksums(&mut bytes);
        }
        open_and_read_all(&path, &bytes);
    }

    #[test]
    fn footers_with_any_entries_never_panic(
        cuts in prop::collection::vec(any::<u64>(), 0..40),
        labels in prop::collection::vec(any::<(bool, u16, u64, i64)>(), 1..8),
    ) {
        let (_dir, path) = scratch();
        let bytes = with_footer(&cuts, &labels);
        std::fs::write(&path, &bytes).unwrap();
        prop_assert!(Reader::open(&path).unwrap().complete(), "the footer was not taken");
        open_and_read_all(&path, &bytes);
    }
}

#[test]
fn chunks_encoded_ahead_write_the_same_bytes() {
    let (_dir, direct) = scratch();
    let ahead = direct.with_extension("ahead");
    let mut a = Writer::create(&direct, &header()).unwrap();
    let mut b = Writer::create(&ahead, &header()).unwrap();
    for i in 0..12 {
        a.write_chunk(kind(i), meta(i), &chunk(i)).unwrap();
        b.write_encoded(catar::trace::EncodedChunk::new(kind(i), meta(i), &chunk(i))).unwrap();
    }
    a.finish().unwrap();
    b.finish().unwrap();
    assert_eq!(std::fs::read(&direct).unwrap(), std::fs::read(&ahead).unwrap());
}
