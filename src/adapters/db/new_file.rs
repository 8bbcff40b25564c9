//! SQLite: a new database file is made once, with incremental auto-vacuum, before any pool opens it.
//!
//! As a connection option, `auto_vacuum = INCREMENTAL` is not a no-op on an existing file: SQLite
//! writes the header's incremental-vacuum flag again in a write transaction. Every new pooled
//! connection then took the writer's lock and committed (at full durability, fsynced) a page into
//! the log, and on a full disk could not be opened at all, so reads failed with the writes.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

/// Creates the database at `path` with incremental auto-vacuum and a write-ahead log, unless it
/// holds data already; an empty file (a creation cut short) is made again. Blocking; runs once,
/// before any pooled connection opens the file.
///
/// # Errors
/// The file cannot be created or written.
pub fn create(path: &Path) -> rusqlite::Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
        return Ok(());
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // Before the first page is written: only then does it decide how the file is laid out.
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")?;
    // Writes the first page, so the file is no longer empty and the setting is kept.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto_vacuum(path: &Path) -> i64 {
        Connection::open(path).unwrap().query_row("PRAGMA auto_vacuum", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_new_file_hands_pages_back_and_an_old_one_is_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.db");
        create(&new).unwrap();
        assert_eq!(auto_vacuum(&new), 2, "incremental");
        let mode: String = Connection::open(&new).unwrap().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");

        // A file made without auto-vacuum keeps its layout (changing it would need a VACUUM).
        let old = dir.path().join("old.db");
        Connection::open(&old).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
        create(&old).unwrap();
        assert_eq!(auto_vacuum(&old), 0);

        // An empty file is a creation cut short.
        let empty = dir.path().join("empty.db");
        std::fs::write(&empty, b"").unwrap();
        create(&empty).unwrap();
        assert_eq!(auto_vacuum(&empty), 2);
    }
}
