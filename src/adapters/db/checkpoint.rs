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
//! what the last pass missed, a short step since that pass took most of it. Readers matter too: a
//! frame after a reader's snapshot is not copied, and the log is not started over while a reader
//! is in it, so the pass also waits for the text indexer's run, the one reader always there.
//! Once a reader did hold the log up for long (a long export), the writer gives the space back
//! when it starts the log over ([`LOG_SIZE_LIMIT`]).

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use tokio::sync::Mutex;

use super::text_index::TextGate;

/// The log length at which a pass makes the log reusable.
pub const REUSE_AT_PAGES: i64 = 32_768;

/// The search file's log length (64 MiB) past which its pass restarts it. A restart there pauses
/// nothing, so the log need not grow as long as the messages file's, and no `journal_size_limit`
/// cuts it back once it has.
const SEARCH_REUSE_AT_PAGES: i64 = 16_384;

/// `journal_size_limit` of the writers' connections, in bytes: twice the length at which the log
/// is made reusable, so only a log that grew past it (held up by a reader) is cut back.
pub const LOG_SIZE_LIMIT: i64 = 2 * REUSE_AT_PAGES * 4096;

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
        // About 128 MiB of log at 4 KiB pages (SQLite's own threshold is 1,000 pages). Each time
        // the log is made reusable the writer pauses for the last frames' copy and the database's
        // fsync, and its next commit syncs the restarted log's header: at 16 MiB that came several
        // times a second under load and set the write p99, and 128 MiB still took 1.7-3.3 ms off
        // it at 32 connections against 64 MiB (see BENCHMARKS.md).
        Self { every: Duration::from_millis(200), reuse_at_pages: REUSE_AT_PAGES }
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
pub async fn pass(db: &DatabaseConnection, gates: &Gates, policy: CheckpointPolicy) -> Result<LogState, DbErr> {
    let state = checkpoint(db).await?;
    if state.logged < policy.reuse_at_pages {
        return Ok(state);
    }
    // A reader's snapshot keeps the frames after it from being copied, and while a reader is in
    // the log the writer cannot start it over: the indexer, which reads `messages` for most of
    // each pass under load, would otherwise let the log grow for seconds at a time (to 800 MiB in
    // the first 8 s of a 32-connection write load). So its run is waited for, outside the pause.
    // The next run may begin before the writer starts the log over; once the whole log is
    // copied, a new reader reads the database file (read mark 0) and does not hold it up.
    let _indexing = gates.text.lock().await;
    // The indexer's run may have kept much of the log from the first pass: copied now, the
    // pause below has only the last groups' frames left to copy.
    checkpoint(db).await?;
    // No write transaction is open while the gate is held, so this pass can copy the whole log
    // and the writer's next transaction starts it over.
    let _paused = gates.write.lock().await;
    checkpoint(db).await
}

/// What a pass pauses: the writer, and the text indexer's runs.
#[derive(Debug, Clone, Default)]
pub struct Gates {
    pub write: WriteGate,
    pub text: TextGate,
}

/// One pass over the search file's log (see `search_file`): passive, and past the policy's length
/// (at most [`SEARCH_REUSE_AT_PAGES`]) one that waits for readers (`RESTART`, under the busy
/// timeout) rather than pausing anything. Only the indexer and deletions write there, and only
/// deletions wait for it, at most that long.
///
/// # Errors
/// The database cannot be reached.
pub async fn search_pass(db: &DatabaseConnection, policy: CheckpointPolicy) -> Result<LogState, DbErr> {
    let state = checkpoint_of(db, "PRAGMA search.wal_checkpoint(PASSIVE)").await?;
    if state.logged < policy.reuse_at_pages.min(SEARCH_REUSE_AT_PAGES) {
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

    /// Checkpoints that never run on their own during the test, and make the log reusable past
    /// 64 pages.
    const BY_HAND: CheckpointPolicy = CheckpointPolicy { every: Duration::from_secs(3600), reuse_at_pages: 64 };

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passes_keep_the_log_short_under_steady_writes() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, repo) = open(&dir.path().join("c.db"), BY_HAND).await;
        let gates = Gates { write: repo.write_gate(), text: TextGate::default() };
        let wal = dir.path().join("c.db-wal");
        let mut longest = 0;
        for g in 0..40 {
            repo.insert_batch(group(g * 50, 50)).await.unwrap();
            pass(&conn, &gates, BY_HAND).await.unwrap();
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
    async fn a_pass_waits_out_an_indexer_run_and_then_copies_the_whole_log() {
        use sea_orm::TransactionTrait;
        let dir = tempfile::tempdir().unwrap();
        let (conn, repo) = open(&dir.path().join("c.db"), BY_HAND).await;
        let gates = Gates { write: repo.write_gate(), text: repo.text_gate.clone() };
        repo.insert_batch(group(0, 1_000)).await.unwrap();
        // An indexer run: its turn taken, and a snapshot of `messages` open while it writes.
        let run = gates.text.clone().lock_owned().await;
        let snapshot = conn.begin().await.unwrap();
        let held = Statement::from_string(DbBackend::Sqlite, "SELECT count(*) FROM messages");
        snapshot.query_one_raw(held).await.unwrap();
        // Frames after the snapshot, which no checkpoint can copy while it is open.
        repo.insert_batch(group(1_000, 100)).await.unwrap();
        let passing = tokio::spawn({
            let (conn, gates) = (conn.clone(), gates.clone());
            async move { pass(&conn, &gates, BY_HAND).await.unwrap() }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!passing.is_finished(), "the pass went ahead while the indexer's run was reading");
        // Waiting for the run, the pass has not yet paused the writer.
        let written = tokio::time::timeout(Duration::from_secs(2), repo.insert_batch(group(1_100, 10))).await;
        assert_eq!(written.expect("the writer was paused while the pass waited").unwrap().len(), 10);
        snapshot.commit().await.unwrap();
        drop(run);
        let state = passing.await.unwrap();
        assert!(state.logged >= BY_HAND.reuse_at_pages, "too short a log to test: {state:?}");
        assert_eq!(state.copied, state.logged, "the pass left part of the log uncopied");
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
