//! Reading the input directory: the reference files (validated whole, before anything runs)
//! and `cdrs.csv` as a streaming source of RAW records.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indicatif::ProgressBar;

use super::schema::Rating;
use crate::engine::{BoxError, Source};
use crate::model::{Record, Value};

/// The input files, by name.
pub const CDRS: &str = "cdrs.csv";
/// Subscribers file.
pub const SUBSCRIBERS: &str = "subscribers.csv";
/// Family members file.
pub const FAMILY: &str = "family.csv";
/// Tariffs file.
pub const TARIFFS: &str = "tariffs.csv";
/// Tiers file.
pub const TIERS: &str = "tiers.csv";
/// All five, in the order they are checked.
pub const FILES: [&str; 5] = [CDRS, SUBSCRIBERS, FAMILY, TARIFFS, TIERS];

/// The columns of `cdrs.csv`.
pub const CDR_COLUMNS: [&str; 10] = [
    "EVENT_ID",
    "SESSION_ID",
    "DEVICE_ID",
    "IMSI",
    "SERVICE",
    "ACTION",
    "START_TIME",
    "END_TIME",
    "PARTY",
    "DURATION",
];

/// Bad input: what is wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The input directory cannot be read.
    #[error("cannot read input directory {}: {source}", path.display())]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file cannot be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The header row lacks a column.
    #[error("{}: missing column {column}", path.display())]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
    },
    /// A field holds a bad value.
    #[error("{} line {line}, field {field}: {message}", path.display())]
    Field {
        /// The file.
        path: PathBuf,
        /// 1-based line (the header is line 1).
        line: u64,
        /// The column.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A row is malformed (field count, encoding).
    #[error("{} line {line}: {message}", path.display())]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The file as a whole is inconsistent (missing tariffs, gaps between tiers).
    #[error("{}: {message}", path.display())]
    Content {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// A small file's path and its rows: (line, fields in the asked column order).
pub(crate) type Rows = (PathBuf, Vec<(u64, Vec<String>)>);

/// Counts physical lines under a CSV reader: the csv crate's own line count is off by one for
/// each CRLF and does not count skipped blank lines, and SPEC §8 names rows by physical line.
pub(crate) struct LineReader<R> {
    inner: R,
    read: u64,
    // Offsets of the line-end bytes read but not yet passed by a record (true for `\n`, false
    // for `\r`); bounded by the csv reader's buffer.
    ahead: VecDeque<(u64, bool)>,
    passed: u64,
}

impl<R: Read> LineReader<R> {
    fn new(inner: R) -> Self {
        LineReader::after(inner, 0)
    }

    /// A reader of what follows line `lines` (its first byte is line `lines + 1`'s).
    fn after(inner: R, lines: u64) -> Self {
        LineReader { inner, read: 0, ahead: VecDeque::new(), passed: lines }
    }

    /// The 1-based line of the first byte at or after `offset` that is not a line end: csv
    /// reports a row's position at the end of the previous row, before any blank lines.
    /// Offsets never go backwards.
    fn line_at(&mut self, offset: u64) -> u64 {
        let mut at = offset;
        while let Some(&(pos, lf)) = self.ahead.front() {
            if pos > at {
                break;
            }
            if pos == at {
                at += 1;
            }
            self.passed += u64::from(lf);
            self.ahead.pop_front();
        }
        self.passed + 1
    }
}

impl<R: Read> Read for LineReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let start = self.read;
        self.ahead.extend(
            memchr::memchr2_iter(b'\n', b'\r', &buf[..n]).map(|i| (start + i as u64, buf[i] == b'\n')),
        );
        self.read += n as u64;
        Ok(n)
    }
}

/// A CSV file opened with its header, columns found by name.
pub(crate) struct Csv {
    pub path: PathBuf,
    pub reader: csv::Reader<LineReader<File>>,
    pub columns: Vec<usize>,
    pub width: usize,
    // The file offset the reader started at (its positions count from there).
    base: u64,
}

impl Csv {
    /// Open `dir/name` and find `columns` in its header.
    pub fn open(dir: &Path, name: &str, columns: &[&str]) -> Result<Csv, InputError> {
        let path = dir.join(name);
        let file = File::open(&path).map_err(|source| InputError::Read { path: path.clone(), source })?;
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(LineReader::new(file));
        let header = reader.byte_headers().map_err(|e| csv_error(&path, e))?.clone();
        let names: Vec<&[u8]> = header.iter().map(|h| h.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(h)).collect();
        let content = |message: String| InputError::Content { path: path.clone(), message };
        if names.iter().all(|h| h.is_empty()) && reader.is_done() {
            return Err(content(format!(
                "the file is empty: no header line (columns {})",
                columns.join(", ")
            )));
        }
        let columns = columns
            .iter()
            .map(|c| {
                let mut at = names.iter().enumerate().filter(|(_, h)| **h == c.as_bytes()).map(|(i, _)| i);
                match (at.next(), at.next()) {
                    (Some(i), None) => Ok(i),
                    // Either could be meant: reading one would silently ignore the other.
                    (Some(i), Some(j)) => Err(content(format!(
                        "column {c} is in the header twice (fields {} and {})",
                        i + 1,
                        j + 1
                    ))),
                    (None, _) => Err(InputError::MissingColumn { path: path.clone(), column: c.to_string() }),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Csv { path, reader, columns, width: header.len(), base: 0 })
    }

    /// True when `row` (just read) ran over line ends because a quote opened and never
    /// closed, swallowing the lines after its own: it came out of the wrong width, or its
    /// bytes hold an odd number of quotes (a closed quoted field holds an even number). A
    /// quoted line end in a row of the right width whose quotes pair up is data.
    fn swallowed(&self, row: &csv::ByteRecord) -> Result<bool, InputError> {
        if memchr::memchr2(b'\n', b'\r', row.as_slice()).is_none() {
            return Ok(false);
        }
        if row.len() != self.width {
            return Ok(true);
        }
        let (file, start) = self.at_row(row)?;
        let fail = |source| InputError::Read { path: self.path.clone(), source };
        let mut span = io::BufReader::new(file.take(self.offset().saturating_sub(start)));
        let mut quotes = 0;
        loop {
            let buf = span.fill_buf().map_err(fail)?;
            if buf.is_empty() {
                return Ok(quotes % 2 == 1);
            }
            quotes += memchr::memchr_iter(b'"', buf).count();
            let n = buf.len();
            span.consume(n);
        }
    }

    /// Read on from the line after `line`, where `row` (read whole) started: the lines a
    /// swallowing row took are rows of their own again.
    fn resume_after(&mut self, row: &csv::ByteRecord, line: u64) -> Result<(), InputError> {
        let (file, start) = self.at_row(row)?;
        let fail = |source| InputError::Read { path: self.path.clone(), source };
        let mut file = io::BufReader::new(file);
        // The row's position may be at the line ends before it (see `LineReader::line_at`).
        let mut skipped = 0u64;
        while let [b'\n' | b'\r', ..] = file.fill_buf().map_err(fail)? {
            file.consume(1);
            skipped += 1;
        }
        let mut first = Vec::new();
        let taken = file.read_until(b'\n', &mut first).map_err(fail)? as u64;
        let next = start + skipped + taken;
        let mut file = file.into_inner();
        file.seek(SeekFrom::Start(next)).map_err(fail)?;
        self.reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(false)
            .from_reader(LineReader::after(file, line));
        self.base = next;
        Ok(())
    }

    /// The file opened anew at where `row` (just read) starts, and that offset.
    fn at_row(&self, row: &csv::ByteRecord) -> Result<(File, u64), InputError> {
        let fail = |source| InputError::Read { path: self.path.clone(), source };
        let start = self.base + row.position().map_or(0, |p| p.byte());
        let mut file = File::open(&self.path).map_err(fail)?;
        file.seek(SeekFrom::Start(start)).map_err(fail)?;
        Ok((file, start))
    }

    /// How far into the file the reader is, in bytes.
    fn offset(&self) -> u64 {
        self.base + self.reader.position().byte()
    }

    /// The physical line on which a row read from this file starts.
    pub fn line_of(&mut self, row: &csv::ByteRecord) -> u64 {
        let offset = row.position().map_or(0, |p| p.byte());
        self.reader.get_mut().line_at(offset)
    }

    /// Every row of a small file as text fields (in `columns` order) with its line; a malformed
    /// row is an error, since reference data must be whole.
    pub fn rows(mut self) -> Result<Rows, InputError> {
        let mut out = Vec::new();
        let mut row = csv::ByteRecord::new();
        while self.reader.read_byte_record(&mut row).map_err(|e| csv_error(&self.path, e))? {
            let line = self.line_of(&row);
            if self.swallowed(&row)? {
                let message = "a quote opens a field and never closes: it took in the lines after it".into();
                return Err(InputError::Row { path: self.path, line, message });
            }
            if row.len() != self.width {
                let message = format!(
                    "{} field{} where the header has {}",
                    row.len(),
                    if row.len() == 1 { "" } else { "s" },
                    self.width
                );
                return Err(InputError::Row { path: self.path, line, message });
            }
            let mut fields = Vec::with_capacity(self.columns.len());
            for &c in &self.columns {
                match std::str::from_utf8(&row[c]) {
                    Ok(s) => fields.push(s.to_string()),
                    Err(_) => {
                        return Err(InputError::Row { path: self.path, line, message: "not UTF-8".into() });
                    }
                }
            }
            out.push((line, fields));
        }
        Ok((self.path, out))
    }
}

fn csv_error(path: &Path, e: csv::Error) -> InputError {
    let line = e.position().map_or(0, |p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(source) => InputError::Read { path: path.into(), source },
        other => InputError::Row { path: path.into(), line, message: format!("{other:?}") },
    }
}

/// Check that the directory and all five files are there before anything runs.
pub fn check_dir(dir: &Path) -> Result<(), InputError> {
    std::fs::read_dir(dir).map_err(|source| InputError::Dir { path: dir.into(), source })?;
    for f in FILES {
        let path = dir.join(f);
        File::open(&path).map_err(|source| InputError::Read { path, source })?;
    }
    Ok(())
}

/// A fingerprint of the input's content, so that a database is never mixed from two inputs.
pub fn fingerprint(dir: &Path) -> Result<String, InputError> {
    let mut parts = Vec::new();
    for f in FILES {
        let path = dir.join(f);
        let fail = |source| InputError::Read { path: path.clone(), source };
        // Streamed: the input may be far larger than memory should grow.
        let mut file = File::open(&path).map_err(fail)?;
        let (mut crc, mut len, mut buf) = (0u32, 0u64, vec![0u8; 1 << 16]);
        loop {
            let n = file.read(&mut buf).map_err(fail)?;
            if n == 0 {
                break;
            }
            crc = crc32c::crc32c_append(crc, &buf[..n]);
            len += n as u64;
        }
        parts.push(format!("{f}:{len}:{crc:08x}"));
    }
    Ok(parts.join(" "))
}

/// A generous estimate of the rows of `cdrs.csv` from its size (a generated row is ~120 bytes).
pub fn estimated_rows(dir: &Path) -> usize {
    std::fs::metadata(dir.join(CDRS)).map_or(0, |m| (m.len() / 100) as usize)
}

/// `cdrs.csv` read row by row into RAW records: reg_id is the row's line, fields are text
/// (typed by REG's statements). A row of the wrong width or not UTF-8 gets REASON = parse and
/// no other contexts, so that it is rejected, never dropped.
pub struct CdrSource {
    csv: Csv,
    rating: Arc<Rating>,
    row: csv::ByteRecord,
    progress: Option<ProgressBar>,
}

impl CdrSource {
    /// Open `dir/cdrs.csv` and check its header.
    pub fn open(dir: &Path, rating: Arc<Rating>, progress: Option<ProgressBar>) -> Result<Self, InputError> {
        let csv = Csv::open(dir, CDRS, &CDR_COLUMNS)?;
        Ok(CdrSource { csv, rating, row: csv::ByteRecord::new(), progress })
    }

    fn record(&mut self, line: u64) -> Record {
        // One UTF-8 check for the whole row, then the buffer goes back for the next one.
        let (record, row) = match csv::StringRecord::from_byte_record(std::mem::take(&mut self.row)) {
            Ok(row) => (self.fields(line, &row), row.into_byte_record()),
            Err(e) => (unparsed(line, self.rating.ctx.reason), e.into_byte_record()),
        };
        self.row = row;
        record
    }

    fn fields(&self, line: u64, row: &csv::StringRecord) -> Record {
        let c = &self.rating.ctx;
        if row.len() != self.csv.width {
            return unparsed(line, c.reason);
        }
        let mut r = Record::with_capacity(line, self.rating.schema.slot_count());
        let targets = [
            c.event_id,
            c.session_id,
            c.device_id,
            c.imsi,
            c.service,
            c.action,
            c.start_time,
            c.end_time,
            c.party,
            c.duration,
        ];
        for (ctx, &column) in targets.into_iter().zip(&self.csv.columns) {
            match &row[column] {
                "" => {}
                field => {
                    r.set(ctx, Value::text(field));
                }
            }
        }
        r
    }
}

/// A row that cannot be read field by field: it carries only its REASON.
fn unparsed(line: u64, reason: crate::model::ContextId) -> Record {
    let mut r = Record::new(line);
    r.set(reason, Value::text(super::schema::REASON_PARSE));
    r
}

impl Source for CdrSource {
    fn next_batch(&mut self, max: usize) -> Result<Option<Vec<Record>>, BoxError> {
        let mut batch = Vec::with_capacity(max);
        while batch.len() < max {
            let more =
                self.csv.reader.read_byte_record(&mut self.row).map_err(|e| csv_error(&self.csv.path, e))?;
            if !more {
                break;
            }
            let line = self.csv.line_of(&self.row);
            if self.csv.swallowed(&self.row)? {
                // Rejected alone: the rows it took in are read again, each on its own, so
                // that every line still ends in one table.
                batch.push(unparsed(line, self.rating.ctx.reason));
                self.csv.resume_after(&self.row, line)?;
                continue;
            }
            batch.push(self.record(line));
        }
        if let Some(p) = &self.progress {
            p.set_position(self.csv.offset());
        }
        Ok((!batch.is_empty()).then_some(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<u64> {
        let mut reader =
            csv::ReaderBuilder::new().flexible(true).from_reader(LineReader::new(text.as_bytes()));
        let mut row = csv::ByteRecord::new();
        let mut out = Vec::new();
        while reader.read_byte_record(&mut row).unwrap() {
            let offset = row.position().unwrap().byte();
            out.push(reader.get_mut().line_at(offset));
        }
        out
    }

    #[test]
    fn rows_are_named_by_physical_line_whatever_the_line_ends() {
        assert_eq!(lines("h\na\nb\n"), vec![2, 3]);
        assert_eq!(lines("h\r\na\r\nb"), vec![2, 3]);
        assert_eq!(lines("h\n\na\n\n\nb\n\n"), vec![3, 6]);
        assert_eq!(lines("h\r\n\r\na\r\n"), vec![3]);
        assert_eq!(lines("h\n\"multi\nline\",x\nb\n"), vec![2, 4]);
    }
}
