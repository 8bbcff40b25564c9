//! Filling the FTS5 index for `q` in the background (SQLite only). The index lives in a file of
//! its own (see `search_file`), so a run holds that file's write lock, never the messages file's.
//!
//! Rows reach the index in runs of up to [`RUN`] in one transaction, which writes one FTS5
//! segment for the run instead of one per commit, and only once their log is synced: a row a
//! power cut took back would leave the index pointing at a rowid given again to another message.
//! The index and `indexed_upto` change in one transaction, and a search reads `indexed_upto` no
//! higher than the newest row of its own snapshot of `messages`, so the index holds exactly the
//! rows up to there and a search tests the rows after it itself (see the repository).
//!
//! A deletion takes its rows out of the index first, noting them in `text_unindexed`, and out of
//! `messages` next; [`settle`] then clears the note. Rows the note names that `messages` still holds
//! (the deletion failed, or the process stopped between the two) go back into the index. In the
//! other order a search could count, from the index alone, a row `messages` no longer has.

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};
use tokio::sync::Mutex;

use super::counts::ERASED;
use super::repository::sqlite_scalar;

/// Taken by each run of the indexer and by a deletion for all its steps: the two that write the
/// search file.
pub type TextGate = Arc<Mutex<()>>;

/// Rows indexed per transaction: large enough to amortise a segment.
pub const RUN: i64 = 1_000;

/// Runs per call at most, so that a long backlog (the whole table after an upgrade) is worked
/// off a pass at a time and leaves the CPU to requests between passes.
pub const MAX_RUNS: usize = 10;

/// The last rowid the index holds, as `db` sees it now, and no higher than the newest row of the
/// snapshot of `messages` it reads in the same statement.
///
/// # Errors
/// The database cannot be reached.
pub async fn indexed_upto(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let sql = "SELECT min(indexed_upto, (SELECT coalesce(max(rowid), 0) FROM messages)) FROM text_index_progress";
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Sqlite, sql))
        .await?
        .ok_or_else(|| DbErr::Custom("text_index_progress is empty".into()))?;
    row.try_get_by_index(0)
}

/// The token of the database `messages` lives in, as an SQL expression.
const MAIN_TOKEN: &str = "(SELECT token FROM main.database_identity)";

/// How many deletions `messages` has seen, as an SQL expression.
fn main_erased() -> String {
    format!("coalesce((SELECT n FROM main.message_counts WHERE span = {ERASED} AND start = 0), 0)")
}

/// Indexes the rows stored since the last run, up to rowid `durable`, one run per transaction and
/// at most [`MAX_RUNS`] runs. Returns how many rows it indexed (rowids have no gaps but those of
/// deleted rows).
///
/// # Errors
/// The database cannot be reached; runs already committed stay indexed.
pub async fn catch_up(db: &DatabaseConnection, gate: &TextGate, durable: i64) -> Result<u64, DbErr> {
    let mut indexed = 0;
    for _ in 0..MAX_RUNS {
        let _turn = gate.lock().await;
        if pending(db).await? {
            settle(db).await?;
        }
        // Deferred: the run writes only the search file; of `messages` it takes a read snapshot.
        let txn = db.begin().await?;
        let from = sqlite_scalar(&txn, "SELECT indexed_upto FROM text_index_progress", Vec::new()).await?;
        let last = "SELECT coalesce(max(rowid), ?) FROM (SELECT rowid FROM messages \
                    WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?)";
        let upto = sqlite_scalar(&txn, last, vec![from.into(), from.into(), durable.into(), RUN.into()]).await?;
        if upto == from {
            return txn.commit().await.map(|()| indexed);
        }
        let fill = "INSERT INTO messages_text (rowid, text_folded) SELECT rowid, text_folded FROM messages \
                    WHERE rowid > ? AND rowid <= ? AND text_folded IS NOT NULL";
        txn.execute_raw(Statement::from_sql_and_values(DbBackend::Sqlite, fill, [from.into(), upto.into()])).await?;
        let mark = "UPDATE text_index_progress SET indexed_upto = ?";
        txn.execute_raw(Statement::from_sql_and_values(DbBackend::Sqlite, mark, [upto.into()])).await?;
        txn.commit().await?;
        indexed += (upto - from).unsigned_abs();
    }
    Ok(indexed)
}

/// Whether a deletion left rows noted in `text_unindexed`.
async fn pending(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    Ok(sqlite_scalar(db, "SELECT EXISTS (SELECT 1 FROM text_unindexed)", Vec::new()).await? != 0)
}

/// The first step of a deletion, with the gate held until [`settle`] has run: takes the rows of
/// `ids` out of the index (those it holds) and notes them, durably, before they leave `messages`.
///
/// # Errors
/// The search file cannot be written; nothing changed.
pub async fn forget(db: &DatabaseConnection, ids: &[&str], rows: usize) -> Result<(), DbErr> {
    if pending(db).await? {
        // The note then names exactly the rows to take out.
        settle(db).await?;
    }
    let txn = db.begin().await?;
    // Where `messages` stands before the deletion, and where it will stand after.
    let counts = format!("UPDATE text_index_progress SET erased = {0}, erased_after = {0} + ?", main_erased());
    let values = [sea_orm::Value::from(i64::try_from(rows).unwrap_or(i64::MAX))];
    txn.execute_raw(Statement::from_sql_and_values(DbBackend::Sqlite, counts, values)).await?;
    for chunk in ids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(",");
        let note = format!(
            "INSERT OR IGNORE INTO text_unindexed (rowid) SELECT rowid FROM main.messages \
             WHERE message_id IN ({marks}) AND rowid <= (SELECT indexed_upto FROM text_index_progress)"
        );
        let values = chunk.iter().map(|id| sea_orm::Value::from(*id));
        txn.execute_raw(Statement::from_sql_and_values(DbBackend::Sqlite, note, values)).await?;
    }
    txn.execute_unprepared("DELETE FROM messages_text WHERE rowid IN (SELECT rowid FROM text_unindexed)").await?;
    txn.commit().await
}

/// The last step of a deletion, whether it went through or not: puts back into the index the
/// noted rows that `messages` still holds, clears the note, and records how many deletions
/// `messages` has seen.
///
/// # Errors
/// The search file cannot be written; the note stays for the next try.
pub async fn settle(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    txn.execute_unprepared(
        "INSERT INTO messages_text (rowid, text_folded) SELECT rowid, text_folded FROM main.messages \
         WHERE rowid IN (SELECT rowid FROM text_unindexed) AND text_folded IS NOT NULL",
    )
    .await?;
    txn.execute_unprepared("DELETE FROM text_unindexed").await?;
    txn.execute_unprepared(&format!("UPDATE text_index_progress SET erased = {}", main_erased())).await?;
    txn.commit().await
}

/// At start-up, before any search: finishes a deletion that stopped halfway, and empties the index
/// when it does not belong to these messages: it was built from another database (its token
/// differs), it reaches past the highest rowid ever given (the database was restored from an
/// older copy, or a cut took back rows `synchronous=normal` had indexed), or `messages` has seen
/// deletions it was not told of (with one noted, `messages` must stand where it stood before that
/// deletion or after it). Returns whether it emptied the index, which is then built again in the
/// background.
///
/// # Errors
/// The database cannot be reached.
pub async fn reconcile(db: &DatabaseConnection, gate: &TextGate) -> Result<bool, DbErr> {
    let _turn = gate.lock().await;
    let txn = db.begin().await?;
    let check = format!(
        "SELECT database_id IS NOT NULL AND database_id IS NOT {MAIN_TOKEN} \
             OR indexed_upto > coalesce((SELECT seq FROM main.sqlite_sequence WHERE name = 'messages'), 0) \
             OR CASE WHEN EXISTS (SELECT 1 FROM text_unindexed) THEN {erased} NOT IN (erased, erased_after) \
                ELSE {erased} <> erased END \
         FROM text_index_progress",
        erased = main_erased()
    );
    let stale = sqlite_scalar(&txn, &check, Vec::new()).await? != 0;
    if stale {
        txn.execute_unprepared("INSERT INTO messages_text (messages_text) VALUES ('delete-all')").await?;
        txn.execute_unprepared("DELETE FROM text_unindexed").await?;
        let reset = format!("UPDATE text_index_progress SET indexed_upto = 0, erased = {}", main_erased());
        txn.execute_unprepared(&reset).await?;
    }
    // A file from before tokens were recorded is taken as this database's: it was built beside it.
    let stamp =
        format!("UPDATE text_index_progress SET database_id = {MAIN_TOKEN} WHERE database_id IS NOT {MAIN_TOKEN}");
    txn.execute_unprepared(&stamp).await?;
    txn.commit().await?;
    settle(db).await?;
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::adapters::batching::BatchInsert;
    use crate::adapters::db::search_file;
    use crate::adapters::db::test_support::{BY_HAND, group, open, store_indexed, text};
    use crate::domain::message::MessageId;
    use crate::domain::ports::MessageRepository;
    use crate::domain::query::{Page, RawListQuery};

    /// The ids a literal, case-insensitive substring match of `needle` keeps among messages
    /// `0..n` but those in `gone`, in `ts` order (which is id order here).
    fn expected(needle: &str, n: usize, gone: &[usize]) -> Vec<String> {
        (0..n)
            .filter(|i| !gone.contains(i) && text(*i).to_lowercase().contains(needle))
            .map(|i| format!("m-{i:06}"))
            .collect()
    }

    async fn search(repo: &impl MessageRepository, needle: &str) -> (Vec<String>, u64) {
        let filter = RawListQuery { q: Some(needle.to_owned()), ..RawListQuery::default() }.parse().unwrap().filter;
        let page = repo.list(&filter, Page { limit: 100, offset: 0 }).await.unwrap();
        (page.rows.into_iter().map(|m| m.message_id.as_str().to_owned()).collect(), page.total)
    }

    fn check(found: (Vec<String>, u64), n: usize, gone: &[usize]) {
        let all = expected("needle", n, gone);
        assert_eq!(found.1, all.len() as u64);
        assert_eq!(found.0, all.into_iter().take(100).collect::<Vec<_>>());
    }

    /// What the search file says it holds, read past the clamp to the snapshot.
    async fn progress(conn: &DatabaseConnection) -> (i64, i64) {
        let row = conn
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT indexed_upto, (SELECT count(*) FROM text_unindexed) FROM text_index_progress",
            ))
            .await
            .unwrap()
            .unwrap();
        (row.try_get_by_index(0).unwrap(), row.try_get_by_index(1).unwrap())
    }

    /// A database at `path` holding messages `first..first + n`, indexed, and stopped cleanly.
    async fn filled(path: &std::path::Path, first: usize, n: usize) {
        let (conn, repo) = open(path, BY_HAND).await;
        store_indexed(&repo, first, n).await;
        repo.close().await.unwrap();
        conn.close().await.unwrap();
    }

    /// FTS5's own check of the index's structure.
    async fn intact(conn: &DatabaseConnection) {
        conn.execute_unprepared("INSERT INTO messages_text (messages_text) VALUES ('integrity-check')").await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn searches_are_exact_before_during_and_after_indexing() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, repo) = open(&dir.path().join("t.db"), BY_HAND).await;

        repo.insert_batch(group(0, 300)).await.unwrap();
        repo.flush().await.unwrap();
        assert_eq!(indexed_upto(&conn).await.unwrap(), 0);
        check(search(&repo, "needle").await, 300, &[]);

        let indexed = repo.index_text().await.unwrap();
        assert_eq!(indexed, 300);
        assert_eq!(indexed_upto(&conn).await.unwrap(), 300);
        check(search(&repo, "needle").await, 300, &[]);

        // Indexed rows and rows stored since, in one answer.
        repo.insert_batch(group(300, 1_700)).await.unwrap();
        repo.flush().await.unwrap();
        check(search(&repo, "needle").await, 2_000, &[]);
        assert_eq!(repo.index_text().await.unwrap(), 1_700);
        check(search(&repo, "needle").await, 2_000, &[]);
        assert_eq!(repo.index_text().await.unwrap(), 0);

        // A backlog longer than one call's runs is worked off over several calls.
        let backlog = usize::try_from(RUN).unwrap() * MAX_RUNS + 500;
        for first in (2_000..2_000 + backlog).step_by(500) {
            repo.insert_batch(group(first, 500)).await.unwrap();
        }
        repo.flush().await.unwrap();
        let first = repo.index_text().await.unwrap();
        assert_eq!(first, u64::try_from(RUN).unwrap() * MAX_RUNS as u64);
        check(search(&repo, "needle").await, 2_000 + backlog, &[]);
        assert_eq!(repo.index_text().await.unwrap(), 500);
        check(search(&repo, "needle").await, 2_000 + backlog, &[]);
        intact(&conn).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_are_indexed_only_once_their_log_is_synced() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, repo) = open(&dir.path().join("u.db"), BY_HAND).await;
        repo.insert_batch(group(0, 50)).await.unwrap();
        // Committed, and searched, but a power cut could still take them back.
        assert_eq!(repo.index_text().await.unwrap(), 0);
        check(search(&repo, "needle").await, 50, &[]);
        repo.flush().await.unwrap();
        assert_eq!(repo.index_text().await.unwrap(), 50);
        assert_eq!(progress(&conn).await, (50, 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_goes_on_while_the_messages_file_is_locked_for_writing() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, repo) = open(&dir.path().join("l.db"), BY_HAND).await;
        repo.insert_batch(group(0, 500)).await.unwrap();
        repo.flush().await.unwrap();
        // A group being written: the writer's gate taken and the file's write lock held.
        let _gate = repo.write_gate().lock_owned().await;
        let writing = super::super::repository::write_transaction(&repo.writer_connection()).await.unwrap();
        let run = tokio::time::timeout(Duration::from_secs(3), repo.index_text()).await;
        assert_eq!(run.expect("the run waited for the writer").unwrap(), 500);
        writing.rollback().await.unwrap();
        check(search(&repo, "needle").await, 500, &[]);
        intact(&conn).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_storage_reported_includes_the_search_file_and_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let (_conn, repo) = open(&dir.path().join("s.db"), BY_HAND).await;
        store_indexed(&repo, 0, 500).await;
        let on_disk: u64 = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| matches!(e.file_name().to_str(), Some("s.db" | "s.db-wal" | "s.db-search" | "s.db-search-wal")))
            .map(|e| e.metadata().unwrap().len())
            .sum();
        let search = std::fs::metadata(search_file::beside(&dir.path().join("s.db"))).unwrap().len()
            + std::fs::metadata(dir.path().join("s.db-search-wal")).map_or(0, |m| m.len());
        assert!(search > 0, "the index was written to its file");
        assert_eq!(repo.storage_bytes(), Some(on_disk));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deletion_stopped_halfway_is_settled_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let (conn, repo) = open(&path, BY_HAND).await;
        store_indexed(&repo, 0, 40).await;
        // Stopped after the index let go of messages 0 and 3 but before they were deleted.
        forget(&conn, &["m-000000", "m-000003"], 2).await.unwrap();
        assert_eq!(progress(&conn).await, (40, 2));
        repo.close().await.unwrap();
        conn.close().await.unwrap();

        let (conn, repo) = open(&path, BY_HAND).await;
        assert_eq!(progress(&conn).await, (40, 0), "settled, not rebuilt");
        check(search(&repo, "needle").await, 40, &[]);
        intact(&conn).await;
        // And a deletion that goes through leaves nothing noted and nothing to find.
        assert!(repo.delete(&MessageId::parse("m-000003").unwrap()).await.unwrap());
        assert_eq!(progress(&conn).await, (40, 0));
        check(search(&repo, "needle").await, 40, &[3]);
        let indexed = "SELECT count(*) FROM messages_text WHERE messages_text MATCH '\"needle\"'";
        assert_eq!(sqlite_scalar(&conn, indexed, Vec::new()).await.unwrap(), expected("needle", 40, &[3]).len() as i64);
        intact(&conn).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_noted_deletion_does_not_hide_deletions_the_index_never_saw() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.db");
        let erased = "INSERT INTO message_counts (span, start, n) VALUES (-1, 0, ?) \
                      ON CONFLICT (span, start) DO UPDATE SET n = n + excluded.n";
        for (extra, rebuilt) in [(1, false), (3, true)] {
            let (conn, repo) = open(&path, BY_HAND).await;
            store_indexed(&repo, 0, 40).await;
            // A deletion of one row noted, then `messages` moved by `extra` deletions: one is the
            // noted deletion landing; three means the search file missed two (a power cut took
            // back its later records, say).
            forget(&conn, &["m-000005"], 1).await.unwrap();
            let values = vec![sea_orm::Value::from(extra)];
            conn.execute_raw(Statement::from_sql_and_values(DbBackend::Sqlite, erased, values)).await.unwrap();
            repo.close().await.unwrap();
            conn.close().await.unwrap();
            let (conn, repo) = open(&path, BY_HAND).await;
            let upto = progress(&conn).await;
            assert_eq!(upto, if rebuilt { (0, 0) } else { (40, 0) }, "{extra} deletions");
            check(search(&repo, "needle").await, 40, &[]);
            repo.close().await.unwrap();
            conn.close().await.unwrap();
            for end in ["", "-wal", "-shm", "-search", "-search-wal", "-search-shm"] {
                let mut name = path.clone().into_os_string();
                name.push(end);
                let _ = std::fs::remove_file(name);
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_index_of_other_messages_is_emptied_and_built_again() {
        let dir = tempfile::tempdir().unwrap();
        let (small, backup) = (dir.path().join("app.db"), dir.path().join("backup.db"));
        let mut wal = small.clone().into_os_string();
        wal.push("-wal");
        for (first, n) in [(100, 20), (120, 40)] {
            filled(&small, first, n).await;
            assert!(!std::path::Path::new(&wal).exists(), "a log left after a clean stop");
            if first == 100 {
                std::fs::copy(&small, &backup).unwrap();
            }
        }
        // The same database restored from its older copy beside the newer index: the tokens
        // agree, but the index reaches past any row the copy has.
        std::fs::copy(&backup, &small).unwrap();
        let (conn, repo) = open(&small, BY_HAND).await;
        assert_eq!(progress(&conn).await, (0, 0));
        let want = |n: usize| -> Vec<String> {
            (100..100 + n).filter(|i| text(*i).to_lowercase().contains("needle")).map(|i| format!("m-{i:06}")).collect()
        };
        assert_eq!(search(&repo, "needle").await.0, want(20));
        assert_eq!(repo.index_text().await.unwrap(), 20);
        assert_eq!(search(&repo, "needle").await.0, want(20));
        intact(&conn).await;
        repo.close().await.unwrap();
        conn.close().await.unwrap();

        // Deleted while the service was stopped: made again, empty, and filled in the background.
        let file = search_file::beside(&small);
        std::fs::remove_file(&file).unwrap();
        for log in ["-wal", "-shm"] {
            let mut name = file.clone().into_os_string();
            name.push(log);
            assert!(!std::path::Path::new(&name).exists(), "{log} left after a clean stop");
        }
        let (conn, repo) = open(&small, BY_HAND).await;
        assert_eq!(progress(&conn).await, (0, 0));
        assert_eq!(search(&repo, "needle").await.0, want(20));
        assert_eq!(repo.index_text().await.unwrap(), 20);
        assert_eq!(search(&repo, "needle").await.0, want(20));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_index_built_from_another_database_is_emptied_even_where_its_rows_fit() {
        let dir = tempfile::tempdir().unwrap();
        let (other, this) = (dir.path().join("other.db"), dir.path().join("this.db"));
        filled(&other, 100, 20).await;
        filled(&this, 300, 60).await;
        let want: Vec<String> =
            (300..360).filter(|i| text(*i).to_lowercase().contains("needle")).map(|i| format!("m-{i:06}")).collect();
        // Fewer rows than this database has and no deletions in either: only the token tells.
        std::fs::copy(search_file::beside(&other), search_file::beside(&this)).unwrap();
        let (conn, repo) = open(&this, BY_HAND).await;
        assert_eq!(progress(&conn).await, (0, 0));
        assert_eq!(search(&repo, "needle").await.0, want);
        assert_eq!(repo.index_text().await.unwrap(), 60);
        assert_eq!(search(&repo, "needle").await.0, want);
        intact(&conn).await;

        // A file from before tokens were recorded is kept, and stamped with this database's.
        conn.execute_unprepared("UPDATE search.text_index_progress SET database_id = NULL").await.unwrap();
        repo.close().await.unwrap();
        conn.close().await.unwrap();
        let (conn, repo) = open(&this, BY_HAND).await;
        assert_eq!(progress(&conn).await, (60, 0));
        let same = "SELECT database_id = (SELECT token FROM main.database_identity) FROM search.text_index_progress";
        assert_eq!(sqlite_scalar(&conn, same, Vec::new()).await.unwrap(), 1);
        assert_eq!(search(&repo, "needle").await.0, want);
        repo.close().await.unwrap();
        conn.close().await.unwrap();
    }
}
