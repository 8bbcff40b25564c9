//! Filling the FTS5 index for `q` in the background (SQLite only).
//!
//! Rows reach the index in runs of up to [`RUN`] in one transaction, which writes one FTS5
//! segment for the run instead of one per commit. The index and `text_index_progress` change in
//! the same transaction, so a reader's snapshot always knows exactly which rows the index holds,
//! and a search tests the rows after `indexed_upto` itself (see the repository).

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

use super::checkpoint::WriteGate;
use super::repository::{sqlite_scalar, write_transaction};

/// Rows indexed per transaction: large enough to amortise a segment, small enough that the
/// writer, paused meanwhile, waits only a few milliseconds.
pub const RUN: i64 = 1_000;

/// The last rowid the index holds, as `db` sees it now.
///
/// # Errors
/// The database cannot be reached.
pub async fn indexed_upto(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let stmt = Statement::from_string(DbBackend::Sqlite, "SELECT indexed_upto FROM text_index_progress");
    let row = db.query_one_raw(stmt).await?.ok_or_else(|| DbErr::Custom("text_index_progress is empty".into()))?;
    row.try_get_by_index(0)
}

/// Runs per call at most, so that checkpoints still get their turn if writes ever outpace
/// indexing; searches stay exact meanwhile, only slower.
pub const MAX_RUNS: usize = 10;

/// Indexes the rows stored since the last run, one run per transaction and at most
/// [`MAX_RUNS`] runs, pausing the writer only during each run. Returns how many rows it indexed
/// (rowids have no gaps: nothing is deleted).
///
/// # Errors
/// The database cannot be reached; runs already committed stay indexed.
pub async fn catch_up(writer: &DatabaseConnection, gate: &WriteGate) -> Result<u64, DbErr> {
    let mut indexed = 0;
    for _ in 0..MAX_RUNS {
        let _turn = gate.lock().await;
        let txn = write_transaction(writer).await?;
        let from = indexed_upto(&txn).await?;
        let last =
            "SELECT coalesce(max(rowid), ?) FROM (SELECT rowid FROM messages WHERE rowid > ? ORDER BY rowid LIMIT ?)";
        let upto = sqlite_scalar(&txn, last, vec![from.into(), from.into(), RUN.into()]).await?;
        if upto == from {
            return txn.commit().await.map(|()| indexed);
        }
        let fill = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "INSERT INTO messages_text (rowid, text_folded) SELECT rowid, text_folded FROM messages \
                 WHERE rowid > ? AND rowid <= ? AND text_folded IS NOT NULL",
            [from.into(), upto.into()],
        );
        txn.execute_raw(fill).await?;
        let mark = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "UPDATE text_index_progress SET indexed_upto = ?",
            [upto.into()],
        );
        txn.execute_raw(mark).await?;
        txn.commit().await?;
        indexed += (upto - from).unsigned_abs();
    }
    Ok(indexed)
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::adapters::batching::BatchInsert;
    use crate::adapters::db::test_support::{BY_HAND, group, open, text};
    use crate::domain::ports::MessageRepository;
    use crate::domain::query::{Page, RawListQuery};

    /// The ids a literal, case-insensitive substring match of `needle` keeps among the first `n`
    /// messages, in `ts` order (which is id order here).
    fn expected(needle: &str, n: usize) -> Vec<String> {
        (0..n).filter(|i| text(*i).to_lowercase().contains(needle)).map(|i| format!("m-{i:06}")).collect()
    }

    async fn search(repo: &impl MessageRepository, needle: &str) -> (Vec<String>, u64) {
        let filter = RawListQuery { q: Some(needle.to_owned()), ..RawListQuery::default() }.parse().unwrap().filter;
        let page = repo.list(&filter, Page { limit: 100, offset: 0 }).await.unwrap();
        (page.rows.into_iter().map(|m| m.message_id.as_str().to_owned()).collect(), page.total)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn searches_are_exact_before_during_and_after_indexing() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, repo) = open(&dir.path().join("t.db"), BY_HAND).await;
        let check = |found: (Vec<String>, u64), n: usize| {
            let all = expected("needle", n);
            assert_eq!(found.1, all.len() as u64);
            assert_eq!(found.0, all.into_iter().take(100).collect::<Vec<_>>());
        };

        repo.insert_batch(group(0, 300)).await.unwrap();
        assert_eq!(indexed_upto(&conn).await.unwrap(), 0);
        check(search(&repo, "needle").await, 300);

        let indexed = catch_up(&repo.writer_connection(), &repo.write_gate()).await.unwrap();
        assert_eq!(indexed, 300);
        assert_eq!(indexed_upto(&conn).await.unwrap(), 300);
        check(search(&repo, "needle").await, 300);

        // Indexed rows and rows stored since, in one answer.
        repo.insert_batch(group(300, 1_700)).await.unwrap();
        check(search(&repo, "needle").await, 2_000);
        assert_eq!(catch_up(&repo.writer_connection(), &repo.write_gate()).await.unwrap(), 1_700);
        check(search(&repo, "needle").await, 2_000);
        assert_eq!(catch_up(&repo.writer_connection(), &repo.write_gate()).await.unwrap(), 0);

        // A backlog longer than one call's runs is worked off over several calls.
        let backlog = usize::try_from(RUN).unwrap() * MAX_RUNS + 500;
        for first in (2_000..2_000 + backlog).step_by(500) {
            repo.insert_batch(group(first, 500)).await.unwrap();
        }
        let first = catch_up(&repo.writer_connection(), &repo.write_gate()).await.unwrap();
        assert_eq!(first, u64::try_from(RUN).unwrap() * MAX_RUNS as u64);
        check(search(&repo, "needle").await, 2_000 + backlog);
        assert_eq!(catch_up(&repo.writer_connection(), &repo.write_gate()).await.unwrap(), 500);
        check(search(&repo, "needle").await, 2_000 + backlog);
    }
}
