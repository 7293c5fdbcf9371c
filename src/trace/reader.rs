//! Reading a trace: open (through the footer, or by scanning a file that has none), then read
//! chunks by index or walk them backwards from any chunk boundary.

use std::marker::PhantomData;
use std::path::Path;

use serde::de::DeserializeOwned;

use super::frame::{self, Frame};
use super::layout::{self, Layout};
use super::source::TraceFile;
use super::{ChunkMeta, IndexEntry, TraceError};

/// An open trace file with header `H` and chunk payloads `C`.
///
/// A file cut at any byte past its header frame opens, with every whole chunk before the cut.
/// Nothing read from the file can make the reader panic or allocate more than
/// [`MAX_FRAME`](super::MAX_FRAME) bytes per frame.
pub struct TraceReader<H, C> {
    src: TraceFile,
    header: H,
    layout: Layout,
    chunk: PhantomData<fn() -> C>,
}

impl<H: DeserializeOwned, C: DeserializeOwned> TraceReader<H, C> {
    /// Open `path` and index its chunks: from the footer when the file has a whole one, else by
    /// scanning the frames up to the first torn or damaged one. Fails when the file is not a
    /// trace, is of a newer version, or its header frame is not whole and decodable.
    pub fn open(path: &Path) -> Result<Self, TraceError> {
        let mut src = TraceFile::open(path)?;
        let (header, layout) = layout::locate(&mut src)?;
        let header = header.decode(src.path())?;
        Ok(TraceReader { src, header, layout, chunk: PhantomData })
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        self.src.path()
    }

    /// The header written when the file was created.
    pub fn header(&self) -> &H {
        &self.header
    }

    /// Every whole chunk, in file order.
    pub fn index(&self) -> &[IndexEntry] {
        &self.layout.index
    }

    /// Read only the chunks `range` of [`index`](Self::index) from now on (one run of a trace
    /// several runs were appended to): indices count from its start.
    pub fn keep(&mut self, range: std::ops::Range<usize>) {
        let end = range.end.min(self.layout.index.len());
        self.layout.index.truncate(end);
        self.layout.index.drain(..range.start.min(end));
    }

    /// Whether the file ends with a whole footer, i.e. its writer finished. A file without one
    /// was cut or is still being written.
    pub fn complete(&self) -> bool {
        self.layout.complete
    }

    /// The end of the last whole chunk frame (the end of the header frame when there are no
    /// chunks): the footer of a complete file is not counted. Pass it to
    /// [`read_back`](Self::read_back) to walk the chunks from the last one.
    pub fn valid_len(&self) -> u64 {
        self.layout.chunks_end
    }

    /// Read chunk `i` of [`index`](Self::index).
    pub fn read_chunk(&mut self, i: usize) -> Result<C, TraceError> {
        self.read_chunk_as(i)
    }

    /// Read chunk `i` decoded as `T`, a type whose bytes are `C`'s: a view that reads past
    /// what its reader does not need instead of building it.
    pub fn read_chunk_as<T: DeserializeOwned>(&mut self, i: usize) -> Result<T, TraceError> {
        let count = self.layout.index.len();
        let Some(entry) = self.layout.index.get(i) else {
            return Err(TraceError::NoChunk { path: self.src.path().into(), index: i, count });
        };
        let offset = entry.offset;
        let frame = frame::read_at(&mut self.src, offset)?;
        let (found, chunk) = self.chunk(&frame)?;
        // A footer is checked as a whole but its entries only here, against the frames.
        if self.layout.index.get(i) != Some(&found) {
            return Err(TraceError::corrupt(
                self.src.path(),
                offset,
                "the chunk differs from its index entry",
            ));
        }
        Ok(chunk)
    }

    /// Read the chunk frame that ends at `offset_of_end`, found through the length stored
    /// after it; `None` at the start of the chunks. Start from [`valid_len`](Self::valid_len)
    /// and go on from each returned entry's `offset` to visit every chunk, last first.
    pub fn read_back(&mut self, offset_of_end: u64) -> Result<Option<(IndexEntry, C)>, TraceError> {
        if offset_of_end == self.layout.data_start {
            return Ok(None);
        }
        let frame = frame::read_ending_at(&mut self.src, offset_of_end, self.layout.data_start)?;
        self.chunk(&frame).map(Some)
    }

    fn chunk<T: DeserializeOwned>(&self, frame: &Frame) -> Result<(IndexEntry, T), TraceError> {
        let Some(kind) = frame.kind.chunk() else {
            return Err(TraceError::corrupt(self.src.path(), frame.offset, "this frame is not a chunk"));
        };
        let (meta, chunk): (ChunkMeta, T) = frame.decode(self.src.path())?;
        Ok((IndexEntry { offset: frame.offset, len: frame.len, kind, meta }, chunk))
    }
}
