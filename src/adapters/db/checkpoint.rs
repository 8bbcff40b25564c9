//! WAL checkpoints off the write path (SQLite file only).
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold: that commit
//! copies the log into the database and fsyncs both files before the writer can start the next
//! group, which stalled the group-commit writer for tens of milliseconds several times a second.
//! The writer connection turns it off (`wal_autocheckpoint=0`) and this task checkpoints from a
//! pooled connection instead, while the writer goes on appending.
//!
//! A log that keeps growing is reused only when a checkpoint has copied all of it before the
//! next write begins, which a concurrent checkpoint never manages under steady load. So once the
//! log passes a size, the task pauses the writer between two groups (the write gate) and copies
//! what the last pass missed, a short step since that pass took most of it.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use tokio::sync::Mutex;

/// When to checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointPolicy {
    /// Time between passes (and between runs of the text indexer).
    pub every: Duration,
    /// Log length, in pages, from which a pass also makes the log reusable.
    pub reuse_at_pages: i64,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        // About 16 MiB of log at 4 KiB pages; SQLite's own threshold is 1,000 pages.
        Self { every: Duration::from_millis(200), reuse_at_pages: 4_096 }
    }
}

/// Taken by each write transaction, and by the checkpointer to pause the writer.
pub type WriteGate = Arc<Mutex<()>>;

/// The log's state after a checkpoint pass, in pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogState {
    /// Pages in the log.
    pub logged: i64,
    /// Of those, pages copied into the database.
    pub copied: i64,
}

/// One passive checkpoint of the messages file: copies what no reader still needs, never waits
/// for a lock.
///
/// # Errors
/// The database cannot be reached.
pub async fn checkpoint(db: &DatabaseConnection) -> Result<LogState, DbErr> {
    checkpoint_of(db, "PRAGMA main.wal_checkpoint(PASSIVE)").await
}

/// A checkpoint by `pragma`; its row is the log's state after it.
async fn checkpoint_of(db: &DatabaseConnection, pragma: &str) -> Result<LogState, DbErr> {
    let stmt = Statement::from_string(DbBackend::Sqlite, pragma);
    let row = db.query_one_raw(stmt).await?.ok_or_else(|| DbErr::Custom("wal_checkpoint returned no row".into()))?;
    Ok(LogState { logged: row.try_get_by_index(1)?, copied: row.try_get_by_index(2)? })
}

/// One pass of the policy.
///
/// # Errors
/// The database cannot be reached.
pub async fn pass(db: &DatabaseConnection, gate: &WriteGate, policy: CheckpointPolicy) -> Result<LogState, DbErr> {
    let state = checkpoint(db).await?;
    if state.logged < policy.reuse_at_pages {
        return Ok(state);
    }
    // No write transaction is open while the gate is held, so this pass can copy the whole log
    // and the writer's next transaction starts it over.
    let _paused = gate.lock().await;
    checkpoint(db).await
}

/// One pass over the search file's log (see `search_file`): passive, and past the policy's length
/// one that waits for readers (`RESTART`, under the busy timeout) rather than pausing anything.
/// Only the indexer and deletions write there, and only deletions wait for it, at most that long.
///
/// # Errors
/// The database cannot be reached.
pub async fn search_pass(db: &DatabaseConnection, policy: CheckpointPolicy) -> Result<LogState, DbErr> {
    let state = checkpoint_of(db, "PRAGMA search.wal_checkpoint(PASSIVE)").await?;
    if state.logged < policy.reuse_at_pages {
        return Ok(state);
    }
    checkpoint_of(db, "PRAGMA search.wal_checkpoint(RESTART)").await
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::adapters::batching::BatchInsert;
    use crate::adapters::db::test_support::{group, open};

    fn pages(path: &Path) -> u64 {
        std::fs::metadata(path).map_or(0, |m| m.len() / 4096)
    }

    /// Checkpoints that never run on their own during the test.
    const BY_HAND: CheckpointPolicy = CheckpointPolicy { every: Duration::from_secs(3600), reuse_at_pages: 64 };

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passes_keep_the_log_short_under_steady_writes() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, repo) = open(&dir.path().join("c.db"), BY_HAND).await;
        let gate = repo.write_gate();
        let wal = dir.path().join("c.db-wal");
        let mut longest = 0;
        for g in 0..40 {
            repo.insert_batch(group(g * 50, 50)).await.unwrap();
            pass(&conn, &gate, BY_HAND).await.unwrap();
            longest = longest.max(pages(&wal));
        }
        // Without passes the writer never checkpoints: 40 groups leave thousands of pages.
        assert!(longest < 1_000, "the log grew to {longest} pages");
        let state = checkpoint(&conn).await.unwrap();
        assert_eq!(state.copied, state.logged, "a pass with writes paused copies the whole log");
        let stats = crate::domain::ports::MessageRepository::stats(&repo).await.unwrap();
        assert_eq!(stats.total_messages, 2_000);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_background_task_copies_the_log_into_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db_path = dir.path().join("c.db");
        let policy = CheckpointPolicy { every: Duration::from_millis(20), reuse_at_pages: 64 };
        let (_, repo) = open(&db_path, policy).await;
        // The migrations were checkpointed by SQLite itself; from here only the task copies.
        let before = pages(&db_path);
        for g in 0..10 {
            repo.insert_batch(group(g * 50, 50)).await.unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while pages(&db_path) <= before {
            assert!(tokio::time::Instant::now() < deadline, "nothing was checkpointed into the database");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
