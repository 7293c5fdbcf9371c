//! Writing a trace: the preamble and header, then chunk frames, then on `finish` the footer.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::codec::Codec;
use super::error::Fault;
use super::frame::{self, FrameKind};
use super::layout::{self, PREAMBLE_LEN, TRAILER_LEN};
use super::source::TraceFile;
use super::{ChunkKind, ChunkMeta, IndexEntry, TraceError, codec};

/// A chunk encoded and compressed ahead of writing, by the thread that made it: producers do
/// the costly part side by side and the one writer only appends bytes. An encoding error is
/// kept and reported by [`TraceWriter::write_encoded`], which knows the file and offset.
pub struct EncodedChunk<C> {
    kind: ChunkKind,
    meta: ChunkMeta,
    packed: Result<(Codec, Vec<u8>), Fault>,
    payload: PhantomData<fn() -> C>,
}

impl<C: Serialize> EncodedChunk<C> {
    /// Encode a chunk as [`TraceWriter::write_chunk`] would.
    pub fn new(kind: ChunkKind, meta: ChunkMeta, chunk: &C) -> Self {
        let packed = codec::encode(&(&meta, chunk)).map(codec::pack);
        EncodedChunk { kind, meta, packed, payload: PhantomData }
    }
}

/// A chunk of items (a `Vec<T>` payload) encoded one item at a time, as each comes: a
/// producer keeps the items' bytes, not the items, and [`take`](Self::take) makes of them the
/// chunk [`EncodedChunk::new`] would make of the `Vec<T>`.
pub struct ChunkBuilder<T> {
    /// [`HEAD`] bytes kept for the chunk's meta and length, then the items' bincode bytes.
    items: Vec<u8>,
    count: u64,
    /// The first encoding error, reported by the writer with the chunk.
    fault: Option<Fault>,
    item: PhantomData<fn(&T)>,
}

/// Room before the items for the bincode bytes of a chunk's meta and item count (at most 48:
/// five varints of 9 bytes or less and one of 3), so that they go in front without moving
/// the items.
const HEAD: usize = 64;

impl<T: Serialize> Default for ChunkBuilder<T> {
    fn default() -> Self {
        ChunkBuilder { items: vec![0; HEAD], count: 0, fault: None, item: PhantomData }
    }
}

impl<T: Serialize> ChunkBuilder<T> {
    /// Append an item.
    pub fn push(&mut self, item: &T) {
        self.push_as(item);
    }

    /// Append an item given as another type that encodes exactly as a `T` does (a view
    /// borrowing what a `T` would own): no `T` is built.
    pub fn push_as<S: Serialize + ?Sized>(&mut self, item: &S) {
        if self.fault.is_none() {
            self.fault = codec::encode_into(item, &mut self.items).err();
        }
        self.count += 1;
    }

    /// Items appended since the last [`take`](Self::take).
    pub fn len(&self) -> u64 {
        self.count
    }

    /// True when no item was appended since the last [`take`](Self::take).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes of the items appended so far, before compression.
    pub fn bytes(&self) -> usize {
        self.items.len() - HEAD
    }

    /// The chunk of the items appended so far; the builder starts again empty, keeping its
    /// buffer.
    pub fn take(&mut self, kind: ChunkKind, meta: ChunkMeta) -> EncodedChunk<Vec<T>> {
        let count = std::mem::take(&mut self.count);
        let fault = self.fault.take();
        // The bytes of `(meta, items)`: the meta, the sequence's length, then its items.
        let packed = match fault {
            Some(f) => Err(f),
            None => codec::encode(&(&meta, count)).and_then(|head| {
                let start = HEAD.checked_sub(head.len()).expect("a chunk's head fits HEAD");
                self.items[start..HEAD].copy_from_slice(&head);
                let raw = &self.items[start..];
                if raw.len() > super::MAX_FRAME {
                    return Err(Fault::TooLarge(raw.len() as u64));
                }
                Ok(codec::pack_slice(raw))
            }),
        };
        self.items.truncate(HEAD);
        EncodedChunk { kind, meta, packed, payload: PhantomData }
    }
}

/// A trace file being written, with header `H` and chunk payloads `C`.
///
/// Frames go through a buffer; [`flush`](Self::flush) hands them to the operating system.
/// A writer dropped without [`finish`](Self::finish) leaves a file without footer, which
/// readers index by scanning. After an I/O error the file may end in a torn frame: drop the
/// writer (readers stop before that frame).
pub struct TraceWriter<H, C> {
    path: PathBuf,
    out: BufWriter<File>,
    /// The file's length once the buffer is flushed: where the next frame starts.
    pos: u64,
    index: Vec<IndexEntry>,
    types: PhantomData<fn(&H, &C)>,
}

impl<H: Serialize, C: Serialize> TraceWriter<H, C> {
    /// Create `path`, emptying any file already there (the TRUNCATE recording order), and
    /// write the preamble and `header`.
    pub fn create(path: &Path, header: &H) -> Result<Self, TraceError> {
        let file = File::create(path).map_err(|e| TraceError::io(path, e))?;
        let mut writer = TraceWriter::over(path, file, PREAMBLE_LEN, Vec::new());
        writer.out.write_all(&layout::preamble()).map_err(|e| TraceError::io(path, e))?;
        writer.write_frame(FrameKind::Header, header)?;
        // On disk at once: a reader during the run (a live `history`) finds a trace with no
        // chunk yet, not a file that reads as damaged.
        writer.out.flush().map_err(|e| TraceError::io(path, e))?;
        Ok(writer)
    }

    /// Continue the trace at `path` (the ACCUMULATE recording order): keep its header and every
    /// whole chunk, drop its footer and anything after its last whole chunk, and write on from
    /// there. `header` is used only when the file is missing or empty, which creates it.
    pub fn append_to(path: &Path, header: &H) -> Result<Self, TraceError> {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Self::create(path, header),
            Err(e) => return Err(TraceError::io(path, e)),
            Ok(meta) if meta.len() == 0 => return Self::create(path, header),
            Ok(_) => {}
        }
        let (_, found) = layout::locate(&mut TraceFile::open(path)?)?;
        let io = |e| TraceError::io(path, e);
        let mut file = OpenOptions::new().write(true).open(path).map_err(io)?;
        file.set_len(found.chunks_end).map_err(io)?;
        file.seek(SeekFrom::Start(found.chunks_end)).map_err(io)?;
        Ok(TraceWriter::over(path, file, found.chunks_end, found.index))
    }

    fn over(path: &Path, file: File, pos: u64, index: Vec<IndexEntry>) -> Self {
        TraceWriter { path: path.into(), out: BufWriter::new(file), pos, index, types: PhantomData }
    }

    /// Append a chunk encoded ahead of time (see [`EncodedChunk`]).
    pub fn write_encoded(&mut self, chunk: EncodedChunk<C>) -> Result<(), TraceError> {
        let offset = self.pos;
        let (codec, payload) = chunk.packed.map_err(|fault| fault.at(&self.path, offset))?;
        let len = frame::write_packed(&mut self.out, &self.path, offset, chunk.kind.into(), codec, &payload)?;
        self.pos += u64::from(len);
        self.index.push(IndexEntry { offset, len, kind: chunk.kind, meta: chunk.meta });
        Ok(())
    }

    /// Append one chunk; its payload is stored compressed when lz4 makes it smaller.
    pub fn write_chunk(&mut self, kind: ChunkKind, meta: ChunkMeta, chunk: &C) -> Result<(), TraceError> {
        let offset = self.pos;
        let len = self.write_frame(kind.into(), &(&meta, chunk))?;
        self.index.push(IndexEntry { offset, len, kind, meta });
        Ok(())
    }

    /// Hand the buffered frames to the operating system, so a reader opening the file now sees
    /// every chunk written so far.
    pub fn flush(&mut self) -> Result<(), TraceError> {
        self.out.flush().map_err(|e| TraceError::io(&self.path, e))
    }

    /// Write the footer (the index frame and the trailer) and flush. Returns the file's length.
    pub fn finish(mut self) -> Result<u64, TraceError> {
        let index_at = self.pos;
        let index = std::mem::take(&mut self.index);
        self.write_frame(FrameKind::Index, &index)?;
        self.out.write_all(&layout::trailer(index_at)).map_err(|e| TraceError::io(&self.path, e))?;
        self.pos += TRAILER_LEN;
        self.flush()?;
        Ok(self.pos)
    }

    /// The file's length once flushed, including what an appended-to file already held.
    pub fn bytes_written(&self) -> u64 {
        self.pos
    }

    fn write_frame<T: Serialize + ?Sized>(&mut self, kind: FrameKind, value: &T) -> Result<u32, TraceError> {
        let raw = codec::encode(value).map_err(|fault| fault.at(&self.path, self.pos))?;
        let len = frame::write(&mut self.out, &self.path, self.pos, kind, raw)?;
        self.pos += u64::from(len);
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> ChunkMeta {
        ChunkMeta { node: 3, first_step: 10, last_step: 900, first_time: -5, last_time: 1 << 40 }
    }

    fn packed<C>(c: EncodedChunk<C>) -> (Codec, Vec<u8>) {
        c.packed.expect("encodes")
    }

    #[test]
    fn a_chunk_built_item_by_item_is_the_chunk_of_its_items() {
        // Empty, one item, and past the one-byte varint length (251 items), compressed or not.
        for n in [0usize, 1, 7, 251, 300] {
            // The largest meta there is: its head must fit in front of the items.
            let big = ChunkMeta {
                node: u16::MAX,
                first_step: u64::MAX,
                last_step: u64::MAX,
                first_time: i64::MIN,
                last_time: i64::MIN,
            };
            let items: Vec<(u16, String)> = (0..n).map(|i| (i as u16 * 97, format!("item {i}"))).collect();
            let mut b = ChunkBuilder::default();
            for it in &items {
                b.push(it);
            }
            assert_eq!(b.len(), n as u64);
            let built = packed(b.take(ChunkKind::Events, meta()));
            assert_eq!(built, packed(EncodedChunk::new(ChunkKind::Events, meta(), &items)), "{n} items");
            for it in &items {
                b.push(it);
            }
            let built = packed(b.take(ChunkKind::Events, big.clone()));
            assert_eq!(built, packed(EncodedChunk::new(ChunkKind::Events, big, &items)), "{n} items");
            assert!(b.is_empty() && b.bytes() == 0, "take leaves the builder empty");
        }
    }

    #[test]
    fn an_item_pushed_as_a_view_encodes_as_the_item() {
        let owned: Vec<(u16, String)> = vec![(1, "one".into()), (2, "two".into())];
        let mut b = ChunkBuilder::<(u16, String)>::default();
        b.push_as(&(1u16, "one"));
        b.push_as(&(2u16, "two"));
        assert_eq!(
            packed(b.take(ChunkKind::Events, meta())),
            packed(EncodedChunk::new(ChunkKind::Events, meta(), &owned))
        );
    }
}
