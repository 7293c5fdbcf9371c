//! Positioned reads over a trace file, with its path kept for error messages.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::TraceError;

/// A trace file open for reading. Its length is taken once, at open: a reader works on the
/// prefix that existed then, even if a writer is still appending.
pub(super) struct TraceFile {
    path: PathBuf,
    file: BufReader<File>,
    len: u64,
    /// Where `file` stands, when known; a read that follows the previous one needs no seek, so
    /// a forward scan reads through the buffer.
    pos: Option<u64>,
}

impl TraceFile {
    pub(super) fn open(path: &Path) -> Result<TraceFile, TraceError> {
        let io = |e| TraceError::io(path, e);
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        Ok(TraceFile { path: path.into(), file: BufReader::new(file), len, pos: Some(0) })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn file_len(&self) -> u64 {
        self.len
    }

    /// Fill `buf` from the bytes at `offset`. Callers check the range against `file_len`
    /// first; a file that shrank since then is an I/O error.
    pub(super) fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), TraceError> {
        let at = self.pos.take();
        if at != Some(offset) {
            self.file.seek(SeekFrom::Start(offset)).map_err(|e| TraceError::io(&self.path, e))?;
        }
        self.file.read_exact(buf).map_err(|e| TraceError::io(&self.path, e))?;
        self.pos = Some(offset + buf.len() as u64);
        Ok(())
    }
}
