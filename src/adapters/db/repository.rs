//! [`MessageRepository`] over sea-orm.

use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    AccessMode, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, IsolationLevel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait,
};
use tokio::task::JoinHandle;

use super::checkpoint::{CheckpointPolicy, WriteGate};
use super::convert::{from_model, timestamp};
use super::direct_write::DirectWriter;
use super::entity::message::{Column, Entity};
use super::entity::sender_count;
use super::feed::Horizon;
use super::row_times::RowTimes;
use super::scan_gate::ScanGate;
use super::search_profile::{self, Search, SearchProfiles};
use super::search_totals::{self, SearchTotals};
use super::text_index::{self, TextGate};
use super::{SqliteWriter, WalFile, counts, maintenance};
use crate::adapters::batching::BatchInsert;
use crate::domain::cursor::{FeedCursor, ListCursor};
use crate::domain::delivery::{Delivery, Stored};
use crate::domain::message::MessageId;
use crate::domain::ports::{FeedPage, MessagePage, MessageRepository, RepoError, StatusPage, StoredMessage};
use crate::domain::query::{MessageFilter, Page};
use crate::domain::stats::{SenderCount, Stats, TOP_SENDERS, rank_senders};
use crate::domain::status_query::StatusFilter;
use crate::domain::timestamp::Timestamp;

/// Messages in a relational database reached through sea-orm.
#[derive(Clone, Debug)]
pub struct SqlMessages {
    pub(super) db: DatabaseConnection,
    pub(super) writer: DatabaseConnection,
    /// The log to fsync after commits, when the writer's commits do not (see [`WalFile`]).
    pub(super) wal: Option<WalFile>,
    /// Under full durability, the search file's log, synced after a deletion's first step.
    pub(super) search_wal: Option<WalFile>,
    /// Held by each write transaction; the checkpointer takes it to pause writes.
    pub(super) gate: WriteGate,
    /// SQLite: held by the indexer's runs and by deletions, which write the search file.
    pub(super) text_gate: TextGate,
    /// The writer's background work (indexing for `q`, checkpoints), stopped with the last clone.
    maintenance: Option<Arc<StopOnDrop>>,
    /// SQLite with a writer connection: how far the feed may show (see [`Horizon`]).
    pub(super) horizon: Option<Arc<Horizon>>,
    /// Rows deleted since start-up.
    deleted: Arc<std::sync::atomic::AtomicU64>,
    /// SQLite: bumped when a deletion failed after taking its rows out of the text index, so that
    /// no search total or profile counted meanwhile is used again.
    pub(super) index_epoch: Arc<std::sync::atomic::AtomicU64>,
    /// Searches that scan every row take turns.
    scans: ScanGate,
    /// Totals of searches, brought up to date rather than recounted.
    search_totals: Arc<SearchTotals>,
    /// SQLite: where each searched needle's matches fall in `ts` order.
    search_profiles: Arc<SearchProfiles>,
    /// SQLite file: the connection the group-commit writer inserts through.
    pub(super) direct: Option<DirectWriter>,
}

/// Aborts background tasks when dropped.
#[derive(Debug)]
struct StopOnDrop([JoinHandle<()>; 2]);

impl StopOnDrop {
    fn abort(&self) {
        self.0.iter().for_each(JoinHandle::abort);
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.abort();
    }
}

impl SqlMessages {
    /// Wraps a pool whose schema has been migrated; it serves reads and writes.
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            writer: db.clone(),
            db,
            wal: None,
            search_wal: None,
            gate: WriteGate::default(),
            text_gate: TextGate::default(),
            maintenance: None,
            horizon: None,
            deleted: Arc::default(),
            index_epoch: Arc::default(),
            scans: ScanGate::default(),
            search_totals: Arc::default(),
            search_profiles: Arc::default(),
            direct: None,
        }
    }

    /// Reads from `db`, writes through `writer`, and runs the writer's background work by `policy`
    /// in a task of the current runtime.
    pub(crate) fn with_writer(db: DatabaseConnection, writer: SqliteWriter, policy: CheckpointPolicy) -> Self {
        let (gate, text_gate, horizon) = (WriteGate::default(), TextGate::default(), Arc::<Horizon>::default());
        let work = maintenance::Work {
            db: db.clone(),
            gate: gate.clone(),
            text_gate: text_gate.clone(),
            horizon: Arc::clone(&horizon),
        };
        let tasks = maintenance::spawn(work, policy);
        let maintenance = Some(Arc::new(StopOnDrop(tasks)));
        let horizon = Some(horizon);
        let (deleted, scans, search_totals) = (Arc::default(), ScanGate::default(), Arc::default());
        let search_profiles = Arc::new(SearchProfiles::with_times(RowTimes::new(writer.direct.path())));
        let profiles = Arc::clone(&search_profiles);
        tokio::spawn(async move { profiles.preload().await });
        let direct = Some(writer.direct);
        Self {
            db,
            writer: writer.conn,
            search_wal: writer.wal.as_ref().map(|w| WalFile::beside(&super::search_file::beside(&w.database()))),
            wal: writer.wal,
            gate,
            text_gate,
            maintenance,
            horizon,
            deleted,
            index_epoch: Arc::default(),
            scans,
            search_totals,
            search_profiles,
            direct,
        }
    }

    /// Starts the feed's horizon at the last stored row, once the log is synced: after a crash,
    /// rows committed but never synced must not be shown before they are on disk.
    ///
    /// # Errors
    /// The database cannot be read or the log cannot be synced.
    pub(crate) async fn start_horizon(&self) -> Result<(), DbErr> {
        let Some(horizon) = &self.horizon else {
            return Ok(());
        };
        self.flush().await.map_err(|e| DbErr::Custom(e.to_string()))?;
        horizon.start_at(super::feed::last_rowid(&self.writer).await?);
        Ok(())
    }

    /// SQLite: brings the search file in line with the messages before the first search (see
    /// [`text_index::reconcile`]).
    ///
    /// # Errors
    /// The database cannot be reached.
    pub(crate) async fn reconcile_search(&self) -> Result<(), DbErr> {
        if self.db.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        if text_index::reconcile(&self.db, &self.text_gate).await? {
            tracing::warn!("the search index did not match the stored messages; building it again in the background");
        }
        Ok(())
    }

    /// SQLite: hands pages freed by deletions back to the file system, a step at a time; a no-op
    /// where the file was created without incremental auto-vacuum (SQLite then reuses the pages).
    async fn give_back_space(&self) -> Result<(), RepoError> {
        if self.db.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let _turn = self.gate.lock().await;
        self.writer.execute_unprepared("PRAGMA incremental_vacuum(2000)").await.map(drop).map_err(unavailable)
    }

    pub(super) async fn begin_write(&self) -> Result<DatabaseTransaction, RepoError> {
        write_transaction(&self.writer).await.map_err(unavailable)
    }

    /// The writer's connection, for tests that run its background work by hand.
    #[cfg(test)]
    pub(crate) fn writer_connection(&self) -> DatabaseConnection {
        self.writer.clone()
    }

    /// One call of the indexer, for tests that run it by hand; returns the rows it indexed.
    #[cfg(test)]
    pub(crate) async fn index_text(&self) -> Result<u64, DbErr> {
        let durable = self.horizon.as_ref().map_or(i64::MAX, |h| h.durable());
        text_index::catch_up(&self.db, &self.text_gate, durable).await
    }

    /// The gate write transactions take, for tests that pause writes.
    #[cfg(test)]
    pub(crate) fn write_gate(&self) -> WriteGate {
        self.gate.clone()
    }

    /// Closes the pools, on shutdown.
    ///
    /// # Errors
    /// A pool failed to close.
    pub async fn close(self) -> Result<(), DbErr> {
        if let Some(maintenance) = &self.maintenance {
            maintenance.abort();
        }
        self.search_profiles.close();
        if let Some(direct) = &self.direct {
            // Under the gate: no group is being written meanwhile.
            let _turn = self.gate.lock().await;
            direct.close();
        }
        self.writer.close().await?;
        self.db.close().await
    }
}

/// A transaction that writes. On SQLite it takes the write lock at `BEGIN`, so it waits its turn
/// under the busy timeout; a deferred one that has read first (preparing a statement on the FTS5
/// table reads) cannot be upgraded once another writer has committed, and fails at once.
pub(super) async fn write_transaction(conn: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    conn.begin_with_options(options).await
}

/// Storage's error as the core sees it: a full disk (or a database at its size cap) is told
/// apart, since it lasts until someone frees space.
pub(super) fn unavailable(e: DbErr) -> RepoError {
    refused(e.to_string())
}

/// [`unavailable`] for an error already in words.
pub(super) fn refused(text: String) -> RepoError {
    // SQLite's SQLITE_FULL, and PostgreSQL's disk_full (53100) as its server words it.
    let full = ["database or disk is full", "No space left on device", "could not extend file"];
    if full.iter().any(|f| text.contains(f)) { RepoError::Full(text) } else { RepoError::Unavailable(text) }
}

/// Rows read with one more than `limit`: the first `limit`, and the cursor after them when the
/// extra row shows that another page follows.
pub(super) fn page_and_next(
    mut rows: Vec<super::entity::message::Model>,
    limit: u32,
) -> Result<(Vec<StoredMessage>, Option<ListCursor>), RepoError> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let rows: Vec<StoredMessage> = rows.into_iter().map(stored_message).collect::<Result<_, _>>()?;
    let next = if more { rows.last().map(|m| ListCursor { ts: m.ts, message_id: m.message_id.clone() }) } else { None };
    Ok((rows, next))
}

pub(super) fn stored_message(row: super::entity::message::Model) -> Result<StoredMessage, RepoError> {
    from_model(row).map(|(message, received_at)| StoredMessage { message, received_at })
}

/// A `LIKE` pattern (escape `\\`) matching texts that contain `needle`: `%`, `_` and the escape
/// character itself become literals.
pub(super) fn like_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// How the FTS5 index can narrow a text search on SQLite.
pub(super) struct IndexedSearch {
    /// The FTS5 query (see [`trigram_phrase`]).
    pub(super) phrase: String,
    /// The index holds the rows up to this rowid; later ones are tested directly.
    pub(super) upto: i64,
}

/// The rows `filter` keeps; `index`, when given, narrows a text search through the FTS5 index.
pub(super) fn filtered(filter: &MessageFilter, index: Option<&IndexedSearch>) -> Select<Entity> {
    let mut select = Entity::find();
    if let Some(from) = &filter.from {
        select = select.filter(Column::FromMsisdn.eq(from.as_str()));
    }
    if let Some(since) = filter.since {
        select = select.filter(Column::Ts.gte(since.as_micros()));
    }
    if let Some(source) = filter.source {
        select = select.filter(Column::Source.eq(source.as_str()));
    }
    if let Some(kind) = &filter.kind {
        select = select.filter(Column::Kind.eq(kind.as_str()));
    }
    if let Some(q) = &filter.text {
        let like = Column::TextFolded.like(LikeExpr::new(like_pattern(q.folded())).escape('\\'));
        match (index, &filter.from) {
            (Some(index), Some(_)) => select = select.filter(sender_matches(index, like)),
            (Some(index), None) => {
                // The trigram index narrows the rows it holds; the LIKE keeps the answer exact. One
                // set of rowids, not an OR, which SQLite would test row by row along the `ts` index.
                select = select
                    .filter(Expr::cust_with_values(
                        "\"messages\".\"rowid\" IN (SELECT rowid FROM messages_text WHERE messages_text MATCH ? \
                         UNION ALL SELECT rowid FROM messages WHERE rowid > ?)",
                        [sea_orm::Value::from(index.phrase.as_str()), sea_orm::Value::from(index.upto)],
                    ))
                    .filter(like);
            }
            (None, _) => select = select.filter(like),
        }
    }
    select
}

/// Beside a sender, the search as a test of each of the sender's index entries: an indexed row
/// matches when its rowid is among the index's matches (a phrase of three or more characters
/// matches exactly the texts holding the needle), so only the rows after the index are read to
/// be tested with `like`. The `+` keeps SQLite from driving the query by the matches instead,
/// which reads every match's row to learn its sender: for the busiest sender of 10^6 messages
/// and a word in a tenth of them, 143-165 ms for the count against 70-81 ms this way.
fn sender_matches(index: &IndexedSearch, like: Expr) -> Condition {
    let rowid = "\"messages\".\"rowid\"";
    let indexed = Expr::cust_with_values(
        format!("{rowid} <= ? AND +{rowid} IN (SELECT rowid FROM messages_text WHERE messages_text MATCH ?)"),
        [sea_orm::Value::from(index.upto), sea_orm::Value::from(index.phrase.as_str())],
    );
    let recent = Expr::cust_with_values(format!("{rowid} > ?"), [sea_orm::Value::from(index.upto)]);
    Condition::any().add(indexed).add(Condition::all().add(recent).add(like))
}

/// Keyset paging: only the rows after `filter.after`, one index range at any depth.
pub(super) fn after_cursor(select: Select<Entity>, filter: &MessageFilter) -> Select<Entity> {
    match &filter.after {
        Some(after) => {
            let key = Expr::tuple([Expr::col((Entity, Column::Ts)), Expr::col((Entity, Column::MessageId))]);
            let bound = Expr::tuple([Expr::val(after.ts.as_micros()), Expr::val(after.message_id.as_str())]);
            select.filter(key.gt(bound))
        }
        None => select,
    }
}

/// The FTS5 query matching every text that contains `needle`: one quoted phrase, whose trigrams
/// must be adjacent. `None` when the index cannot help: under three characters there is no
/// trigram, and FTS5 reads its query as a C string, so a NUL would cut it short.
pub(super) fn trigram_phrase(needle: &str) -> Option<String> {
    if needle.chars().nth(2).is_none() || needle.contains('\0') {
        return None;
    }
    Some(format!("\"{}\"", needle.replace('"', "\"\"")))
}

/// Whether `count` matches among `rows` are dense enough that the page is found sooner by walking
/// the `ts` order and testing each row than by gathering and sorting every match.
pub(super) fn dense(count: u64, rows: u64, page: Page) -> bool {
    // Rows tested before the page is full, against matches fetched and sorted.
    let walk = (page.offset + u64::from(page.limit)).saturating_mul(rows) / Ord::max(count, 1);
    count > 0 && walk <= count.saturating_mul(4)
}

/// The integer a one-value SQLite query answers; 0 when it returns no row.
pub(super) async fn sqlite_scalar(
    db: &impl ConnectionTrait,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Result<i64, DbErr> {
    let stmt = Statement::from_sql_and_values(DbBackend::Sqlite, sql, values);
    db.query_one_raw(stmt).await?.map_or(Ok(0), |row| row.try_get_by_index::<i64>(0))
}

/// Offsets up to which a page of a search alone walks from its first match rather than from a
/// profile of the matches (see [`search_profile`]).
const SHALLOW: u64 = 1_000;

/// Rows of one sender a search walks and tests rather than gather its matches through the text
/// index, when how many matches the search has is not known.
pub(super) const SENDER_WALK: u64 = 20_000;

/// The rows stored from `from`, as its maintained count says.
async fn sender_rows(txn: &DatabaseTransaction, from: &str) -> Result<u64, DbErr> {
    let sent: Option<i64> = sender_count::Entity::find_by_id(from)
        .select_only()
        .column(sender_count::Column::MessageCount)
        .into_tuple()
        .one(txn)
        .await?;
    Ok(sent.map_or(0, i64::unsigned_abs))
}

/// `total` from the maintained counts, where they hold it: every filter but `q`, `source` and
/// `type` (see [`counts`]).
async fn counted_total(txn: &DatabaseTransaction, filter: &MessageFilter) -> Result<Option<u64>, DbErr> {
    if filter.text.is_some() || filter.source.is_some() || filter.kind.is_some() {
        return Ok(None);
    }
    let total = match (&filter.from, filter.since) {
        (None, None) => counts::all(txn).await?,
        (None, Some(since)) => counts::since(txn, since.as_micros()).await?,
        (Some(from), since) => match (sender_rows(txn, from.as_str()).await?, since) {
            (0, _) => 0,
            (sent, None) => sent,
            (sent, Some(since)) => counts::from_since(txn, from.as_str(), since.as_micros(), sent).await?,
        },
    };
    Ok(Some(total))
}

/// A read-only transaction whose statements all see one snapshot: SQLite's read transactions do;
/// PostgreSQL's default (read committed) takes a new snapshot per statement.
async fn snapshot(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly)).await
        }
        _ => db.begin().await,
    }
}

async fn ts_bound(txn: &DatabaseTransaction, aggregate: Expr) -> Result<Option<i64>, RepoError> {
    let bound: Option<Option<i64>> =
        Entity::find().select_only().column_as(aggregate, "bound").into_tuple().one(txn).await.map_err(unavailable)?;
    Ok(bound.flatten())
}

#[async_trait]
impl MessageRepository for SqlMessages {
    async fn store(&self, delivery: Delivery, received_at: Timestamp) -> Result<Stored, RepoError> {
        // A group of one: its rows and their senders' counts commit together, or none do.
        let mut stored = self.insert_batch(vec![(delivery, received_at)]).await?;
        self.flush().await?;
        stored.pop().ok_or_else(|| RepoError::Unavailable("store reported no outcome".into()))
    }

    async fn list(&self, filter: &MessageFilter, page: Page) -> Result<MessagePage, RepoError> {
        // SQLite: a search alone or beside `since` takes the turn only to profile its needle (below).
        let profiled = self.db.get_database_backend() == DbBackend::Sqlite
            && filter.from.is_none()
            && filter.source.is_none()
            && filter.kind.is_none();
        // Taken before the snapshot and its connection, as every scan takes it: a needle under
        // three characters with no profile yet is about to be profiled by a scan.
        let unprofiled = |q: &crate::domain::query::TextQuery| !self.search_profiles.has(q);
        let scanning = ScanGate::needed(filter) && (!profiled || filter.text.as_ref().is_some_and(unprofiled));
        let _turn = if scanning { Some(self.scans.turn().await?) } else { None };
        let scans = (!scanning).then_some(&self.scans);
        // Read before the snapshot is taken (see `delete_where`).
        let epoch = self.index_epoch.load(std::sync::atomic::Ordering::Acquire);
        // One snapshot, so `total` and the rows agree.
        let txn = snapshot(&self.db).await.map_err(unavailable)?;
        let phrase = match (self.db.get_database_backend(), &filter.text) {
            (DbBackend::Sqlite, Some(q)) => trigram_phrase(q.folded()),
            _ => None,
        };
        let index = match phrase {
            Some(phrase) => {
                Some(IndexedSearch { phrase, upto: text_index::indexed_upto(&txn).await.map_err(unavailable)? })
            }
            None => None,
        };
        // SQLite: a search's total remembered from an earlier snapshot, brought up to this one.
        let mark = match (self.db.get_database_backend(), &filter.text) {
            (DbBackend::Sqlite, Some(_)) => Some(search_totals::mark(&txn, epoch).await.map_err(unavailable)?),
            _ => None,
        };
        // A search alone or beside `since`: its matches' profile answers.
        if let (Some(q), Some(mark)) = (&filter.text, mark)
            && profiled
        {
            // A shallow page of a search alone is found without one where the text index counts
            // its matches: the profile's pass over every match is paid for where it saves more.
            let needed = filter.since.is_some() || page.offset > SHALLOW || index.is_none();
            let index = index.as_ref();
            if let Some(points) = self.search_profiles.at(&txn, q, index, mark, needed, scans).await? {
                let search = Search { txn: &txn, q, index, at: mark, scans };
                let (rows, total) = self.search_profiles.read(search, points, filter, page).await?;
                txn.commit().await.map_err(unavailable)?;
                let (rows, next) = page_and_next(rows, page.limit)?;
                return Ok(MessagePage { rows, total, next });
            }
        }
        // Beside a sender with fewer rows than the search has matches, walking the sender's rows
        // and testing each is cheaper than gathering every match through the text index.
        let index = match (index, &filter.text, &filter.from, mark) {
            (Some(index), Some(q), Some(from), Some(mark)) => {
                let sent = sender_rows(&txn, from.as_str()).await.map_err(unavailable)?;
                let matches = self.search_profiles.known_matches(q, mark).unwrap_or(SENDER_WALK);
                (sent > matches).then_some(index)
            }
            (index, ..) => index,
        };
        let recalled = match (mark, self.db.get_database_backend(), &filter.text) {
            (Some(mark), ..) => self.search_totals.recall(&txn, filter, mark).await.map_err(unavailable)?,
            // PostgreSQL: remembers the search's settled matches itself.
            (None, DbBackend::Postgres, Some(q)) => {
                Some(self.search_totals.postgres(&txn, filter, q).await.map_err(unavailable)?)
            }
            (None, ..) => None,
        };
        let search_only =
            filter.from.is_none() && filter.since.is_none() && filter.source.is_none() && filter.kind.is_none();
        let known_total = match (recalled, &index, &filter.text) {
            (Some(count), ..) => Some(count),
            (None, Some(index), Some(q)) if search_only => {
                Some(search_profile::matches(&txn, q, index).await.map_err(unavailable)?)
            }
            (None, ..) => counted_total(&txn, filter).await.map_err(unavailable)?,
        };
        let select = filtered(filter, index.as_ref());
        let total = match known_total {
            Some(total) => total,
            None => select.clone().count(&txn).await.map_err(unavailable)?,
        };
        if let Some(mark) = mark {
            self.search_totals.remember(filter, mark, total);
        }
        // A search: when its matches are dense among the rows its other filters keep,
        // walking them in order finds the page sooner than gathering every match through the index.
        let select = match &index {
            Some(_) => {
                let rest = MessageFilter { text: None, after: None, ..filter.clone() };
                match counted_total(&txn, &rest).await.map_err(unavailable)? {
                    Some(rows) if dense(total, rows, page) => filtered(filter, None),
                    _ => select,
                }
            }
            None => select,
        };
        let select = after_cursor(select, filter);
        // One row more than the page tells whether another page follows.
        let rows = select
            .order_by_asc(Column::Ts)
            .order_by_asc(Column::MessageId)
            .limit(u64::from(page.limit) + 1)
            .offset(page.offset)
            .all(&txn)
            .await
            .map_err(unavailable)?;
        txn.commit().await.map_err(unavailable)?;
        let (rows, next) = page_and_next(rows, page.limit)?;
        Ok(MessagePage { rows, total, next })
    }

    async fn feed(&self, after: FeedCursor, limit: u32) -> Result<FeedPage, RepoError> {
        super::feed::page(&self.db, self.horizon.as_deref(), after, limit).await
    }

    async fn feed_tail(&self) -> Result<FeedCursor, RepoError> {
        super::feed::tail(&self.db, self.horizon.as_deref()).await
    }

    async fn export_page(&self, filter: &MessageFilter, limit: u32) -> Result<MessagePage, RepoError> {
        self.rows_after(filter, limit).await
    }

    async fn delete(&self, message_id: &MessageId) -> Result<bool, RepoError> {
        let gone = self.delete_where(Condition::all().add(Column::MessageId.eq(message_id.as_str())), 1).await?;
        self.deleted.fetch_add(gone, std::sync::atomic::Ordering::Relaxed);
        Ok(gone > 0)
    }

    async fn purge(&self, cutoff: Timestamp, batch: u32) -> Result<u64, RepoError> {
        let limit = u64::from(batch);
        let messages = self.delete_where(Condition::all().add(Column::CreatedAt.lt(cutoff.as_micros())), limit).await?;
        let statuses = self.delete_statuses_before(cutoff.as_micros(), limit).await?;
        self.give_back_space().await?;
        self.deleted.fetch_add(messages + statuses, std::sync::atomic::Ordering::Relaxed);
        Ok(messages + statuses)
    }

    fn deleted_rows(&self) -> u64 {
        self.deleted.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn storage_bytes(&self) -> Option<u64> {
        let path = self.wal.as_ref().map(WalFile::database)?;
        let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let search = super::search_file::beside(&path);
        let files = [WalFile::beside(&path).path(), WalFile::beside(&search).path(), search, path];
        Some(files.iter().map(|p| size(p)).sum())
    }

    async fn get(&self, message_id: &MessageId) -> Result<Option<StoredMessage>, RepoError> {
        let row = Entity::find_by_id(message_id.as_str()).one(&self.db).await.map_err(unavailable)?;
        row.map(stored_message).transpose()
    }

    async fn statuses(&self, filter: &StatusFilter, page: Page) -> Result<StatusPage, RepoError> {
        super::status_reads::page(&self.db, filter, page).await
    }

    async fn stats(&self) -> Result<Stats, RepoError> {
        let txn = snapshot(&self.db).await.map_err(unavailable)?;
        // The busiest senders are the first entries of the index by count.
        let busiest = sender_count::Entity::find()
            .order_by_desc(sender_count::Column::MessageCount)
            .order_by_asc(sender_count::Column::FromMsisdn)
            .limit(TOP_SENDERS as u64)
            .all(&txn)
            .await
            .map_err(unavailable)?;
        let total_messages = counts::all(&txn).await.map_err(unavailable)?;
        let senders_count = counts::senders(&txn).await.map_err(unavailable)?;
        // Two single-aggregate queries: each is one index probe on both backends.
        let first = ts_bound(&txn, Expr::col(Column::Ts).min()).await?;
        let last = ts_bound(&txn, Expr::col(Column::Ts).max()).await?;
        txn.commit().await.map_err(unavailable)?;
        let busiest =
            busiest.into_iter().map(|s| SenderCount { from: s.from_msisdn, count: s.message_count.unsigned_abs() });
        Ok(Stats {
            total_messages,
            senders_count,
            top_senders: rank_senders(busiest.collect()),
            first_message_ts: first.and_then(timestamp),
            last_message_ts: last.and_then(timestamp),
        })
    }

    async fn ready(&self) -> Result<(), RepoError> {
        use migration::MigratorTrait;
        if self.wal.as_ref().is_some_and(WalFile::has_failed) {
            return Err(RepoError::Unavailable("an fsync of the write-ahead log failed; restart the service".into()));
        }
        if self.search_wal.as_ref().is_some_and(WalFile::has_failed) {
            return Err(RepoError::Unavailable("an fsync of the search file's log failed; restart the service".into()));
        }
        self.db.ping().await.map_err(unavailable)?;
        let pending = migration::Migrator::get_pending_migrations_read_only(&self.db)
            .await
            .map_err(|e| RepoError::SchemaMissing(e.to_string()))?;
        if pending.is_empty() {
            Ok(())
        } else {
            Err(RepoError::SchemaMissing(format!("{} migrations pending", pending.len())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_walks_in_order_only_when_matches_are_dense() {
        let first = Page { limit: 100, offset: 0 };
        assert!(dense(500_000, 1_000_000, first), "every other row matches: walk");
        assert!(!dense(1_000, 1_000_000, first), "one row in a thousand: gather through the index");
        assert!(!dense(0, 1_000_000, first), "no match: the index says so at once");
        let deep = Page { limit: 100, offset: 10_000 };
        assert!(!dense(20_000, 1_000_000, deep), "a deep page of a sparse word: gather");
        assert!(dense(20_000, 40_000, deep), "among few rows, as beside `from`: walk");
    }
}
