//! Whether two paths name one file, so that an output never lands on an input (a trace, the
//! database, a CSV file) whatever way it was spelled.

use std::path::{Path, PathBuf};

/// True when `a` and `b` name one file, whether or not it exists yet: links and `..` are
/// resolved, a dangling link included (writing through it would create its target).
pub fn same_file(a: &Path, b: &Path) -> bool {
    matches!((resolve(a), resolve(b)), (Some(a), Some(b)) if a == b)
}

/// True when `path` names the SQLite database `db` or one of the files SQLite keeps beside it
/// (`-wal`, `-shm`, `-journal`), next to the path as given or to the file it links to.
pub fn database_file(path: &Path, db: &Path) -> bool {
    if same_file(path, db) {
        return true;
    }
    let beside = |p: &Path| {
        ["-wal", "-shm", "-journal"].map(|s| {
            let mut name = p.as_os_str().to_owned();
            name.push(s);
            PathBuf::from(name)
        })
    };
    let spellings = [Some(db.to_path_buf()), resolve(db)];
    spellings.iter().flatten().flat_map(|d| beside(d)).any(|f| same_file(path, &f))
}

/// The absolute path of the file `path` names or would create.
pub fn resolve(path: &Path) -> Option<PathBuf> {
    let mut p = path.to_path_buf();
    // As many links as the kernel follows before giving up (ELOOP).
    for _ in 0..40 {
        if let Ok(found) = std::fs::canonicalize(&p) {
            return Some(found);
        }
        let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        match std::fs::read_link(&p) {
            // A relative target is relative to the link's directory; an absolute one
            // replaces it (`join`).
            Ok(target) => p = dir.join(target),
            // Not there yet: its directory resolved, its name as given.
            Err(_) => return Some(std::fs::canonicalize(dir).ok()?.join(p.file_name()?)),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_to_one_file_are_the_same_however_spelled() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("there.db"), "x").unwrap();
        std::os::unix::fs::symlink("there.db", d.join("link")).unwrap();
        // Dangling: its target is made by whoever writes through it.
        std::os::unix::fs::symlink("sub/../later.db", d.join("dangling")).unwrap();
        std::os::unix::fs::symlink(d.join("dangling"), d.join("chain")).unwrap();
        std::os::unix::fs::symlink("loop", d.join("loop")).unwrap();
        for (a, b) in [
            ("there.db", "sub/../there.db"),
            ("link", "there.db"),
            ("dangling", "later.db"),
            ("chain", "sub/../later.db"),
            ("new.db", "./new.db"),
        ] {
            assert!(same_file(&d.join(a), &d.join(b)), "{a} = {b}");
        }
        for side in ["there.db-wal", "sub/../there.db-shm", "there.db-journal", "link-wal"] {
            assert!(database_file(&d.join(side), &d.join("link")), "{side} is the database's");
        }
        assert!(!database_file(&d.join("there.db-other"), &d.join("there.db")));
        for (a, b) in [("there.db", "later.db"), ("link", "dangling"), ("loop", "there.db"), ("loop", "loop")]
        {
            assert!(!same_file(&d.join(a), &d.join(b)), "{a} ≠ {b}");
        }
    }
}
