//! Full durability on SQLite without an fsync inside each commit.
//!
//! With `synchronous=FULL` SQLite fsyncs the write-ahead log inside every commit, while it holds
//! the write lock, so no group can be written while the previous one waits for the disk. The
//! writer connection runs `synchronous=NORMAL` instead (commits append to the log without an
//! fsync; checkpoints still sync the log before copying it and the database before the log is
//! reused), and [`WalFile::sync`] fsyncs the log after a commit, outside the lock. A transaction
//! whose log frames have been synced survives power loss exactly as under `FULL`, and one fsync
//! covers every group committed before it started, while the next group is already being written.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The write-ahead log of one SQLite database file.
#[derive(Debug, Clone)]
pub struct WalFile {
    path: PathBuf,
    /// Set by a failed fsync. Linux may drop the dirty pages of a failed write-back and report
    /// later fsyncs as successful, so after one failure nothing is called durable again.
    failed: Arc<AtomicBool>,
}

impl WalFile {
    /// The log SQLite keeps beside `database` (`<database>-wal`).
    pub fn beside(database: &Path) -> Self {
        let mut path = database.as_os_str().to_owned();
        path.push("-wal");
        Self { path: PathBuf::from(path), failed: Arc::new(AtomicBool::new(false)) }
    }

    /// The database file this log belongs to.
    pub fn database(&self) -> PathBuf {
        let text = self.path.as_os_str().to_string_lossy();
        PathBuf::from(text.strip_suffix("-wal").unwrap_or(&text).to_owned())
    }

    /// The log's own path.
    pub fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Makes every transaction committed so far durable. Blocking: call it off the async runtime.
    ///
    /// # Errors
    /// The fsync failed now or earlier.
    pub fn sync(&self) -> io::Result<()> {
        if self.failed.load(Ordering::Acquire) {
            return Err(io::Error::other("an earlier fsync of the write-ahead log failed"));
        }
        // Opened each time: the name always reaches the live log. No log means the last
        // connection checkpointed it into the database, syncing the file, and removed it.
        let result = match File::open(&self.path) {
            Ok(file) => file.sync_data(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.failed.store(true, Ordering::Release);
        }
        result
    }

    /// Whether an fsync has failed; the data written since may not be on disk.
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_named_beside_the_database() {
        let wal = WalFile::beside(Path::new("/data/app.db"));
        assert_eq!(wal.path, PathBuf::from("/data/app.db-wal"));
    }

    #[test]
    fn a_missing_log_has_nothing_to_sync() {
        let dir = std::env::temp_dir().join(format!("wal-test-{}", std::process::id()));
        let wal = WalFile::beside(&dir.join("absent.db"));
        assert!(wal.sync().is_ok());
        assert!(!wal.has_failed());
    }

    #[test]
    fn one_failure_is_remembered() {
        let dir = std::env::temp_dir().join(format!("wal-test-latch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_a_dir = dir.join("plain-file");
        std::fs::write(&not_a_dir, b"").unwrap();
        // Opening `plain-file/app.db-wal` fails with ENOTDIR, standing in for a failed fsync.
        let wal = WalFile::beside(&not_a_dir.join("app.db"));
        assert!(wal.sync().is_err());
        assert!(wal.has_failed());
        std::fs::remove_file(&not_a_dir).unwrap();
        std::fs::create_dir_all(&not_a_dir).unwrap();
        assert!(wal.sync().is_err(), "a later sync must not report success");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
