//! The group-commit writer's inserts on an SQLite file, on a connection of their own.
//!
//! Through sea-orm a group cost about a dozen hand-offs between the writer task and sqlx's
//! worker thread, and statements rebuilt and prepared again for each group size: at 32
//! connections a group of 15 took 2 ms, of which the worker thread was busy for little more than
//! half (see BENCHMARKS.md, issue 16). Here one blocking call runs the whole group on a rusqlite
//! connection whose statements are prepared once and run once per row.
//!
//! Inserts and the readiness probe's write come here, so the probe tests the connection groups use.
//! Deletions and the text index stay on the sea-orm writer connection, checkpoints on the shared
//! pool; the write gate keeps the two writers from writing at once, and SQLite itself would make
//! one wait for the other under the busy timeout.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, params};

use super::convert::{message_row, status_row};
use super::counts::Tally;
use super::repository::refused;
use super::write::{Candidates, outcomes};
use crate::domain::delivery::{Delivery, Stored};
use crate::domain::ports::RepoError;
use crate::domain::timestamp::Timestamp;

const INSERT_MESSAGE: &str = "INSERT INTO messages \
    (message_id, from_msisdn, to_msisdn, ts, text, text_folded, created_at, source, kind, parts, raw) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (message_id) DO NOTHING RETURNING seq";

const INSERT_STATUS: &str = "INSERT INTO statuses \
    (message_id, status, ts, recipient, errors, pricing_category, source, raw, created_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (message_id, status) DO NOTHING";

const COUNT_SENDER: &str = "INSERT INTO sender_counts (from_msisdn, message_count) VALUES (?1, ?2) \
    ON CONFLICT (from_msisdn) DO UPDATE SET message_count = sender_counts.message_count + excluded.message_count \
    RETURNING message_count";

const COUNT_BUCKET: &str = "INSERT INTO message_counts (span, start, n) VALUES (?1, ?2, ?3) \
    ON CONFLICT (span, start) DO UPDATE SET n = message_counts.n + excluded.n";

/// A group's outcomes, and the last rowid it wrote (none when every update was a duplicate).
pub(super) struct Written {
    pub(super) outcomes: Vec<Stored>,
    pub(super) top: Option<i64>,
}

/// The inserting connection; opened again after a failure that left it unusable.
#[derive(Debug, Clone)]
pub(crate) struct DirectWriter {
    path: PathBuf,
    slot: Arc<Mutex<Slot>>,
}

#[derive(Debug)]
struct Slot {
    /// `None` after a failure closed it, until the next group opens it again.
    conn: Option<Connection>,
    /// Set on shutdown: the connection is not opened again.
    closed: bool,
}

impl DirectWriter {
    /// Opens the connection to an existing, migrated database file.
    ///
    /// # Errors
    /// The file cannot be opened or configured.
    pub(crate) fn open(path: &Path) -> Result<Self, RepoError> {
        let conn = connect(path)?;
        Ok(Self { path: path.to_owned(), slot: Arc::new(Mutex::new(Slot { conn: Some(conn), closed: false })) })
    }

    /// The database file.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the connection for good; later inserts fail.
    pub(super) fn close(&self) {
        let mut slot = self.lock();
        slot.closed = true;
        slot.conn = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores every update of `batch` not already stored, in one transaction. The caller holds
    /// the write gate.
    pub(super) async fn insert(&self, batch: Vec<(Delivery, Timestamp)>) -> Result<Written, RepoError> {
        self.off_runtime("the insert", move |conn| {
            let (messages, statuses, top) = write_group(conn, &batch)?;
            Ok(Written { outcomes: outcomes(&batch, messages, statuses), top })
        })
        .await
    }

    /// Writes `bytes` into `write_probe` and deletes them in one transaction, to learn whether
    /// writes succeed on this connection again; the caller holds the write gate.
    pub(super) async fn probe(&self, bytes: usize) -> Result<(), RepoError> {
        self.off_runtime("the write probe", move |conn| {
            conn.execute_batch("BEGIN IMMEDIATE")?;
            conn.execute("INSERT INTO write_probe (id, filler) VALUES (1, ?1)", [vec![0u8; bytes]])?;
            conn.execute("DELETE FROM write_probe WHERE id = 1", [])?;
            conn.execute_batch("COMMIT")
        })
        .await
    }

    /// Runs the transaction `work` on the connection, in a blocking thread, opening the
    /// connection first if a failure closed it.
    async fn off_runtime<T: Send + 'static>(
        &self,
        what: &str,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, RepoError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.run(work))
            .await
            .map_err(|e| RepoError::Unavailable(format!("{what} did not run: {e}")))?
    }

    fn run<T>(&self, work: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, RepoError> {
        let mut slot = self.lock();
        if slot.closed {
            return Err(RepoError::Unavailable("the database connection is closed".into()));
        }
        let conn = match slot.conn.take() {
            Some(conn) => conn,
            None => connect(&self.path)?,
        };
        let result = work(&conn);
        // A failed statement or commit may leave the transaction open, and the next `BEGIN` would
        // then fail on it; a connection that cannot leave it is closed, which rolls it back.
        if result.is_ok() || leave_transaction(&conn) {
            slot.conn = Some(conn);
        }
        result.map_err(storage)
    }

    /// Runs `sql` on the inserting connection, for tests that cap the database's size there.
    #[cfg(test)]
    pub(crate) fn execute(&self, sql: &str) {
        let slot = self.lock();
        if let Some(conn) = slot.conn.as_ref() {
            conn.execute_batch(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
}

/// The connection as the sea-orm writer's is configured: commits append to the log without an
/// fsync (the log is synced after them, see `WalFile`), no automatic checkpoints, a 32 MiB cache,
/// and a log cut back when it is started over past [`super::checkpoint::LOG_SIZE_LIMIT`].
fn connect(path: &Path) -> Result<Connection, RepoError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(storage)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(storage)?;
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0)).map_err(storage)?;
    if !mode.eq_ignore_ascii_case("wal") {
        // The log's fsync after each commit is what makes a 200 durable; without WAL there is none.
        return Err(RepoError::Unavailable(format!("the database's journal mode is {mode}, not wal")));
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
         PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {};",
        super::checkpoint::LOG_SIZE_LIMIT
    ))
    .map_err(storage)?;
    Ok(conn)
}

/// Whether `conn` is out of any transaction, rolling back the one a failure left open.
fn leave_transaction(conn: &Connection) -> bool {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::error!(error = %e, "rolling back a failed insert failed; reopening the connection");
    }
    conn.is_autocommit()
}

type Keys = (HashSet<String>, HashSet<(String, String)>, Option<i64>);

/// The ids and (id, status) pairs the group wrote, and its last rowid.
fn write_group(conn: &Connection, batch: &[(Delivery, Timestamp)]) -> rusqlite::Result<Keys> {
    let candidates = Candidates::of(batch);
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let mut messages = HashSet::with_capacity(candidates.messages.len());
    let mut top = None;
    let mut per_sender: BTreeMap<&str, i64> = BTreeMap::new();
    let mut tally = Tally::default();
    let mut insert = conn.prepare_cached(INSERT_MESSAGE)?;
    for (m, at) in &candidates.messages {
        let row = message_row(m, *at);
        let seq: Option<i64> = insert
            .query_map(
                params![
                    row.message_id,
                    row.from_msisdn,
                    row.to_msisdn,
                    row.ts,
                    row.text,
                    row.text_folded,
                    row.created_at,
                    row.source,
                    row.kind,
                    row.parts,
                    row.raw
                ],
                |r| r.get(0),
            )?
            .next()
            .transpose()?;
        if let Some(seq) = seq {
            top = top.max(Some(seq));
            if let Some(sender) = m.sender_key() {
                *per_sender.entry(sender).or_default() += 1;
            }
            tally.message(row.ts, 1);
            messages.insert(row.message_id);
        }
    }
    let mut statuses = HashSet::with_capacity(candidates.statuses.len());
    let mut insert = conn.prepare_cached(INSERT_STATUS)?;
    for (s, at) in &candidates.statuses {
        let row = status_row(s, *at);
        let written = insert.execute(params![
            row.message_id,
            row.status,
            row.ts,
            row.recipient,
            row.errors,
            row.pricing_category,
            row.source,
            row.raw,
            row.created_at
        ])?;
        if written > 0 {
            statuses.insert((row.message_id, row.status));
        }
    }
    // Rows go in sender order, as on the sea-orm path. A stored sender had at least one message
    // before, so only a new row counts exactly this group's messages.
    let mut count = conn.prepare_cached(COUNT_SENDER)?;
    let mut new = 0;
    for (sender, n) in &per_sender {
        let counted: i64 = count.query_row(params![sender, n], |r| r.get(0))?;
        new += i64::from(counted == *n);
    }
    tally.senders(new);
    // Inserts only add to buckets, so none is emptied here (deletions remove emptied buckets).
    let mut bump = conn.prepare_cached(COUNT_BUCKET)?;
    for (span, start, n) in tally.changes() {
        bump.execute(params![span, start, n])?;
    }
    conn.prepare_cached("COMMIT")?.execute([])?;
    Ok((messages, statuses, top))
}

/// SQLite's error as the core sees it; `SQLITE_FULL` is a full disk or the size cap.
fn storage(e: rusqlite::Error) -> RepoError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => RepoError::Full(e.to_string()),
        _ => refused(e.to_string()),
    }
}

#[cfg(test)]
mod tests {

    use super::super::test_support::{BY_HAND, group, open};
    use crate::adapters::batching::BatchInsert;
    use crate::domain::ports::{Inserted, MessageRepository};

    #[tokio::test]
    async fn every_connection_and_the_synced_log_are_the_one_file_named() {
        let dir = tempfile::tempdir().unwrap();
        // A name sqlx would percent-decode, and a `?` its URL parse would stop at.
        let path = dir.path().join("a b%20c?.db");
        let (conn, repo) = open(&path, BY_HAND).await;
        let outcomes = repo.insert_batch(group(0, 3)).await.unwrap();
        assert!(outcomes.iter().all(|o| o.messages == [Inserted::Created]));
        repo.flush().await.unwrap();
        repo.probe_write().await.unwrap();
        let mut names: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        let files = ["", "-shm", "-wal", "-search", "-search-shm", "-search-wal"];
        let mut want: Vec<String> = files.iter().map(|f| format!("a b%20c?.db{f}")).collect();
        want.sort();
        assert_eq!(names, want);
        assert_eq!(repo.stats().await.unwrap().total_messages, 3, "the pool reads what the direct writer wrote");
        repo.close().await.unwrap();
        conn.close().await.unwrap();
    }
}
