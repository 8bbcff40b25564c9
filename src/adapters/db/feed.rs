//! `GET /feed`: every stored message once, in commit order, from a cursor.
//!
//! SQLite has one writer, so rowids grow in commit order; the feed shows rows up to the highest
//! rowid whose write-ahead log has been synced ([`Horizon`]), so a power cut can never take back a
//! message a consumer has seen.
//!
//! On PostgreSQL several replicas commit concurrently, and sequence values are taken in one order
//! and committed in another: a reader that has passed sequence 10 could later miss a row with
//! sequence 9 whose transaction was still open. So each row records the id of the transaction
//! that wrote it (`feed_xid`, with `feed_seq` ordering rows inside it), and the feed shows only
//! rows of transactions older than the oldest one still running (the snapshot's `xmin`): every
//! such transaction has ended, so no row can ever appear behind the cursor. Transactions that do
//! not overlap are shown in commit order; overlapping ones in transaction-id order, which is
//! consistent with their commits. A long-running transaction anywhere on the server holds the
//! feed back (never makes it skip).

use std::sync::atomic::{AtomicI64, Ordering};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, Statement};

use super::entity::message::Model;
use super::repository::{stored_message, unavailable};
use crate::domain::cursor::FeedCursor;
use crate::domain::ports::{FeedPage, RepoError};

/// SQLite: the rowids committed, and of those the rowids known to be on disk.
#[derive(Debug, Default)]
pub struct Horizon {
    committed: AtomicI64,
    durable: AtomicI64,
}

impl Horizon {
    /// Everything up to `rowid` is committed and on disk (at start-up, after a sync).
    pub fn start_at(&self, rowid: i64) {
        self.committed(rowid);
        self.synced(rowid);
    }

    /// A group up to `rowid` has committed.
    pub fn committed(&self, rowid: i64) {
        self.committed.fetch_max(rowid, Ordering::AcqRel);
    }

    /// The rowid a sync that starts now will make durable.
    pub fn syncing(&self) -> i64 {
        self.committed.load(Ordering::Acquire)
    }

    /// A sync that began at `rowid` has succeeded.
    pub fn synced(&self, rowid: i64) {
        self.durable.fetch_max(rowid, Ordering::AcqRel);
    }

    /// The highest rowid known to be on disk.
    pub fn durable(&self) -> i64 {
        self.durable.load(Ordering::Acquire)
    }
}

/// The next page of the feed after `after`: at most `limit` messages, and where to go on.
///
/// # Errors
/// Storage could not answer.
pub async fn page(
    db: &DatabaseConnection,
    horizon: Option<&Horizon>,
    after: FeedCursor,
    limit: u32,
) -> Result<FeedPage, RepoError> {
    let rows = match db.get_database_backend() {
        DbBackend::Postgres => db.query_all_raw(postgres_page(after, limit)).await,
        _ => db.query_all_raw(sqlite_page(horizon.map_or(i64::MAX, Horizon::durable), after, limit)).await,
    }
    .map_err(unavailable)?;
    let mut page =
        FeedPage { rows: Vec::with_capacity(rows.len()), cursors: Vec::with_capacity(rows.len()), next: after };
    for row in rows {
        let position = |name| row.try_get::<i64>("", name).map_err(unavailable);
        let cursor = FeedCursor { major: position("major")?, minor: position("minor")? };
        page.rows.push(stored_message(Model::from_query_result(&row, "").map_err(unavailable)?)?);
        page.cursors.push(cursor);
        page.next = cursor;
    }
    Ok(page)
}

/// The page's rows in rowid order, which is commit order with one writer, up to what is durable.
fn sqlite_page(durable: i64, after: FeedCursor, limit: u32) -> Statement {
    Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "SELECT rowid AS major, 0 AS minor, * FROM messages WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?",
        [after.major.into(), durable.into(), i64::from(limit).into()],
    )
}

/// The page's rows of transactions that have all ended, in transaction order.
fn postgres_page(after: FeedCursor, limit: u32) -> Statement {
    Statement::from_sql_and_values(
        DbBackend::Postgres,
        // Output columns named apart from the table's: `ORDER BY feed_xid` would otherwise sort by
        // the bigint cast, which no index holds, instead of walking the index.
        "SELECT feed_xid::text::bigint AS major, feed_seq AS minor, messages.* FROM messages \
         WHERE (feed_xid, feed_seq) > ($1::text::xid8, $2) \
           AND feed_xid < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY messages.feed_xid, messages.feed_seq LIMIT $3",
        [after.major.to_string().into(), after.minor.into(), i64::from(limit).into()],
    )
}

/// A cursor after every message the feed can show now.
///
/// # Errors
/// Storage could not answer.
pub async fn tail(db: &DatabaseConnection, horizon: Option<&Horizon>) -> Result<FeedCursor, RepoError> {
    if db.get_database_backend() != DbBackend::Postgres {
        let last = match horizon {
            Some(h) => h.durable(),
            None => last_rowid(db).await.map_err(unavailable)?,
        };
        return Ok(FeedCursor { major: last, minor: 0 });
    }
    let stmt = Statement::from_string(
        DbBackend::Postgres,
        "SELECT feed_xid::text::bigint AS major, feed_seq AS minor FROM messages \
         WHERE feed_xid < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY messages.feed_xid DESC, messages.feed_seq DESC LIMIT 1",
    );
    let row = db.query_one_raw(stmt).await.map_err(unavailable)?;
    let cursor = row.map(|r| -> Result<FeedCursor, DbErr> {
        Ok(FeedCursor { major: r.try_get_by_index(0)?, minor: r.try_get_by_index(1)? })
    });
    Ok(cursor.transpose().map_err(unavailable)?.unwrap_or_default())
}

/// The highest rowid stored, to start the horizon from.
///
/// # Errors
/// The database cannot be reached.
pub async fn last_rowid(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    super::repository::sqlite_scalar(db, "SELECT coalesce(max(rowid), 0) FROM messages", Vec::new()).await
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::adapters::batching::BatchInsert;
    use crate::adapters::db::test_support::{BY_HAND, group, open};
    use crate::domain::ports::MessageRepository;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_shows_nothing_before_its_log_is_synced() {
        let dir = tempfile::tempdir().unwrap();
        let (_conn, repo) = open(&dir.path().join("f.db"), BY_HAND).await;
        repo.insert_batch(group(0, 5)).await.unwrap();
        let unsynced = repo.feed(FeedCursor::default(), 100).await.unwrap();
        assert!(unsynced.rows.is_empty(), "committed but not synced: not in the feed");
        let all = crate::domain::query::MessageFilter::default();
        let listed = repo.list(&all, crate::domain::query::Page::default()).await.unwrap();
        assert_eq!(listed.total, 5, "while /messages already sees them");
        repo.flush().await.unwrap();
        let synced = repo.feed(FeedCursor::default(), 100).await.unwrap();
        assert_eq!(synced.rows.len(), 5);
        assert_eq!(synced.next, FeedCursor { major: 5, minor: 0 });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_a_restart_the_feed_goes_on_from_what_is_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let (conn, repo) = open(&path, BY_HAND).await;
        repo.insert_batch(group(0, 3)).await.unwrap();
        repo.close().await.unwrap();
        conn.close().await.unwrap();
        // The rows committed before the stop were synced at start-up, so they are shown.
        let (_conn, repo) = open(&path, BY_HAND).await;
        assert_eq!(repo.feed(FeedCursor::default(), 100).await.unwrap().rows.len(), 3);
    }
}
