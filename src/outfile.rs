//! An output file (`export --out`, `query --out`) written whole or not at all, that replaces
//! only an earlier output of its kind: never a database, an input CSV or anyone's notes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Where an output goes: standard output, a device or pipe written directly, or a file
/// written beside its target and moved over it once whole.
pub struct OutFile {
    writer: BufWriter<Box<dyn Write>>,
    /// (the file being written, the file it replaces once whole).
    staged: Option<(PathBuf, PathBuf)>,
}

/// Outputs begin with their kind: a CSV header, `{`/`[`, `NAME=VALUE:` (the text of a
/// query). The first line up to its first `:`, at most this long, says which.
const KIND_BYTES: usize = 64;

impl OutFile {
    /// The output `out` names (standard output when `None`). `read` is the file the output is
    /// made from, refused as its own output however spelled (creating it would empty it).
    pub fn create(out: Option<&Path>, read: &Path) -> Result<OutFile, String> {
        let Some(path) = out else {
            return Ok(OutFile { writer: BufWriter::new(Box::new(io::stdout().lock())), staged: None });
        };
        let refuse = |why: &str| format!("cannot write {}: {why}", path.display());
        if crate::paths::same_file(path, read) {
            return Err(refuse("it is the trace being read (name another file)"));
        }
        // Replacing a link replaces what it points at, as writing through it would.
        let target = crate::paths::resolve(path).ok_or_else(|| refuse("its directory does not exist"))?;
        match std::fs::metadata(&target) {
            // A device or a pipe (/dev/stdout, a FIFO) is written as it is.
            Ok(m) if !m.is_file() => {
                let f = File::create(&target).map_err(|e| refuse(&e.to_string()))?;
                return Ok(OutFile { writer: BufWriter::new(Box::new(f)), staged: None });
            }
            _ => {}
        }
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let staging = target.with_file_name(format!(".{name}.catar-{}", std::process::id()));
        let f = File::create(&staging).map_err(|e| refuse(&e.to_string()))?;
        Ok(OutFile { writer: BufWriter::new(Box::new(f)), staged: Some((staging, target)) })
    }

    /// Flush the output and put it in place. An existing file is replaced only when it is
    /// empty or begins as this output does (an earlier output of the same kind).
    pub fn finish(mut self) -> io::Result<()> {
        self.writer.flush()?;
        let Some((staging, target)) = self.staged.take() else { return Ok(()) };
        let kind = |p: &Path| -> io::Result<Vec<u8>> {
            let mut line = Vec::new();
            BufReader::new(File::open(p)?.take(KIND_BYTES as u64)).read_until(b'\n', &mut line)?;
            let end = line.iter().position(|&b| b == b':' || b == b'\n').unwrap_or(line.len());
            line.truncate(end);
            Ok(line)
        };
        let replaceable = match std::fs::metadata(&target) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => true,
            Err(e) => return Err(e),
            Ok(m) => m.len() == 0 || kind(&target)? == kind(&staging)?,
        };
        if !replaceable {
            let _ = std::fs::remove_file(&staging);
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "it exists and is not an earlier output of this kind (remove it or name another file)",
            ));
        }
        std::fs::rename(&staging, &target)
    }
}

impl Write for OutFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

impl Drop for OutFile {
    fn drop(&mut self) {
        // Not finished (a failed export): the target keeps what it held.
        if let Some((staging, _)) = &self.staged {
            let _ = std::fs::remove_file(staging);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(out: &Path, text: &str) -> io::Result<()> {
        let mut f = OutFile::create(Some(out), Path::new("/nonexistent/run.trace")).unwrap();
        f.write_all(text.as_bytes())?;
        f.finish()
    }

    #[test]
    fn an_output_replaces_only_an_earlier_output_of_its_kind() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let csv = d.join("m.csv");
        write(&csv, "node,context,cabinet\nREG/0,A,RAW\n").unwrap();
        write(&csv, "node,context,cabinet\nREG/0,B,RAW\n").unwrap();
        assert_eq!(std::fs::read_to_string(&csv).unwrap(), "node,context,cabinet\nREG/0,B,RAW\n");
        // Someone's data, a database, another kind of output: kept as they were.
        for (name, held) in [
            ("cdrs.csv", "EVENT_ID,IMSI\nEV1,425\n"),
            ("rated.db", "SQLite format 3\0..."),
            ("m2.csv", "node,cabinet\nREG/0,RAW\n"),
        ] {
            std::fs::write(d.join(name), held).unwrap();
            let e = write(&d.join(name), "node,context,cabinet\n").unwrap_err();
            assert!(e.to_string().contains("not an earlier output"), "{e}");
            assert_eq!(std::fs::read_to_string(d.join(name)).unwrap(), held, "{name} kept");
        }
        // A query's text: the same identifier again is the same kind.
        write(&d.join("q.txt"), "reg_id=5: 1 record(s), 22 step(s)\n").unwrap();
        write(&d.join("q.txt"), "reg_id=5: 1 record(s), 23 step(s)\n").unwrap();
        // Empty, or through a link: replaced (the link's target is).
        std::fs::write(d.join("empty.json"), "").unwrap();
        write(&d.join("empty.json"), "{}\n").unwrap();
        std::os::unix::fs::symlink("m.csv", d.join("link")).unwrap();
        write(&d.join("link"), "node,context,cabinet\nREG/0,C,RAW\n").unwrap();
        assert!(std::fs::symlink_metadata(d.join("link")).unwrap().file_type().is_symlink());
        assert!(std::fs::read_to_string(&csv).unwrap().contains("REG/0,C,RAW"));
        // Nothing is left beside them.
        let mut names: Vec<String> =
            std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        names.sort();
        assert_eq!(names, ["cdrs.csv", "empty.json", "link", "m.csv", "m2.csv", "q.txt", "rated.db"]);
    }

    #[test]
    fn an_output_left_unfinished_leaves_the_file_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("m.csv");
        std::fs::write(&csv, "node,context,cabinet\nold\n").unwrap();
        let mut f = OutFile::create(Some(&csv), Path::new("/nonexistent/run.trace")).unwrap();
        f.write_all(b"node,context,cabinet\nhalf").unwrap();
        drop(f);
        assert_eq!(std::fs::read_to_string(&csv).unwrap(), "node,context,cabinet\nold\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
