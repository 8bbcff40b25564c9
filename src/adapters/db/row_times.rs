//! SQLite file: the `ts` of each stored row by rowid, held in memory, so that a search's first
//! profile (see [`super::search_profile`]) is built from the rowids the text index gives and not
//! from one B-tree lookup per match — a word in a tenth of 10^6 rows costs about 0.2 s that way.
//!
//! A row's `ts` never changes and a rowid is never given twice (`seq` is AUTOINCREMENT), so what
//! is held is true of every snapshot that has the row: it is loaded once, from the `ts` index,
//! and extended by rowid as rows are stored. A rowid it holds no `ts` for (a row deleted before the
//! load that an older snapshot still has) sends the caller back to SQL. Eight bytes a row, for the
//! newest [`CAPACITY`] rows at most; older matches are looked up in SQL.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, params};

use super::scan_gate::WAIT;

/// Rows whose `ts` are held at most (32 MiB).
pub(super) const CAPACITY: usize = 1 << 22;
/// In place of the `ts` of a rowid that had no row when it was loaded.
const NO_ROW: i64 = i64::MIN;

/// The `ts` of the newest rows, by rowid.
#[derive(Debug)]
pub(super) struct RowTimes {
    path: PathBuf,
    capacity: usize,
    held: tokio::sync::Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    /// Its own connection: loading must not take a pooled reader for long.
    conn: Option<Connection>,
    /// Whether the rows up to some rowid were loaded.
    loaded: bool,
    /// The rowid of `ts[0]`.
    first: i64,
    ts: Vec<i64>,
}

impl Held {
    /// The last rowid held.
    fn last(&self) -> i64 {
        self.first + i64::try_from(self.ts.len()).unwrap_or(i64::MAX) - 1
    }

    fn at(&self, rowid: i64) -> Option<i64> {
        let i = usize::try_from(rowid.checked_sub(self.first)?).ok()?;
        self.ts.get(i).copied().filter(|&ts| ts != NO_ROW)
    }

    /// Holds every row up to `upto` (`None`: the newest now), the newest `capacity` at most.
    fn extend(&mut self, path: &Path, upto: Option<i64>, capacity: usize) -> rusqlite::Result<()> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => connect(path)?,
        };
        let result = match upto {
            Some(upto) if self.loaded => self.append(&conn, upto),
            _ if self.loaded => Ok(()),
            upto => self.load(&conn, upto, capacity),
        };
        self.conn = Some(conn);
        result?;
        let excess = self.ts.len().saturating_sub(capacity);
        // Dropped in quarters, so that rows arriving one by one do not move the rest each time.
        if excess > capacity / 4 {
            self.ts.drain(..excess);
            self.first += i64::try_from(excess).unwrap_or(i64::MAX);
        }
        Ok(())
    }

    /// The first load: the `ts` index holds every rowid and `ts`, and is a small part of the table.
    fn load(&mut self, conn: &Connection, upto: Option<i64>, capacity: usize) -> rusqlite::Result<()> {
        let (oldest, newest): (Option<i64>, Option<i64>) =
            conn.query_row("SELECT min(seq), max(seq) FROM messages", [], |row| Ok((row.get(0)?, row.get(1)?)))?;
        let upto = upto.unwrap_or(newest.unwrap_or(0));
        let newest_held = upto.saturating_sub(i64::try_from(capacity).unwrap_or(i64::MAX)) + 1;
        let first = Ord::max(oldest.unwrap_or(upto + 1), newest_held);
        let len = usize::try_from(upto + 1 - first).unwrap_or(0);
        let mut ts = vec![NO_ROW; len];
        let mut rows =
            conn.prepare("SELECT seq, ts FROM messages INDEXED BY idx_messages_ts_id WHERE seq BETWEEN ?1 AND ?2")?;
        let mut rows = rows.query(params![first, upto])?;
        while let Some(row) = rows.next()? {
            let (seq, at): (i64, i64) = (row.get(0)?, row.get(1)?);
            if let Some(slot) = usize::try_from(seq - first).ok().and_then(|i| ts.get_mut(i)) {
                *slot = at;
            }
        }
        (self.loaded, self.first, self.ts) = (true, first, ts);
        Ok(())
    }

    /// The rows after the last held, up to `upto`, by rowid.
    fn append(&mut self, conn: &Connection, upto: i64) -> rusqlite::Result<()> {
        let after = self.last();
        if upto <= after {
            return Ok(());
        }
        let mut rows = conn.prepare_cached("SELECT seq, ts FROM messages WHERE seq > ?1 AND seq <= ?2 ORDER BY seq")?;
        let mut rows = rows.query(params![after, upto])?;
        while let Some(row) = rows.next()? {
            let (seq, at): (i64, i64) = (row.get(0)?, row.get(1)?);
            let holes = usize::try_from(seq - self.last() - 1).unwrap_or(0);
            self.ts.extend(std::iter::repeat_n(NO_ROW, holes));
            self.ts.push(at);
        }
        let holes = usize::try_from(upto - self.last()).unwrap_or(0);
        self.ts.extend(std::iter::repeat_n(NO_ROW, holes));
        Ok(())
    }
}

/// A connection that only reads, with a small page cache: the load reads each page once.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch("PRAGMA query_only = ON; PRAGMA cache_size = -1024;")?;
    Ok(conn)
}

impl RowTimes {
    /// The `ts` of the rows of the SQLite file at `path`, loaded when first asked for.
    pub(super) fn new(path: &Path) -> Self {
        Self::with_capacity(path, CAPACITY)
    }

    pub(super) fn with_capacity(path: &Path, capacity: usize) -> Self {
        Self { path: path.to_owned(), capacity, held: tokio::sync::Mutex::default() }
    }

    /// Loads the rows stored so far, so that the first search after start-up need not wait.
    pub(super) async fn preload(&self) {
        let _ = self.held(None).await;
    }

    /// The first rowid whose `ts` is held, once every row up to `upto` is; `None` when they
    /// could not be read, or another caller held them for longer than [`WAIT`].
    pub(super) async fn held_from(&self, upto: i64) -> Option<i64> {
        self.held(Some(upto)).await
    }

    async fn held(&self, upto: Option<i64>) -> Option<i64> {
        let mut held = tokio::time::timeout(WAIT, self.held.lock()).await.ok()?;
        if !held.loaded || upto.is_some_and(|upto| held.last() < upto) {
            let (path, capacity) = (self.path.clone(), self.capacity);
            let mut taken = std::mem::take(&mut *held);
            let (taken, result) = tokio::task::spawn_blocking(move || {
                let result = taken.extend(&path, upto, capacity);
                (taken, result)
            })
            .await
            .ok()?;
            *held = taken;
            if let Err(e) = result {
                tracing::warn!(error = %e, "the rows' ts could not be loaded; searches look them up instead");
                return None;
            }
        }
        Some(held.first)
    }

    /// The `ts` of each of `rowids`, `None` unless every one of them is held.
    pub(super) async fn of(&self, rowids: &[i64]) -> Option<Vec<i64>> {
        let held = tokio::time::timeout(WAIT, self.held.lock()).await.ok()?;
        rowids.iter().map(|&rowid| held.at(rowid)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::RowTimes;
    use crate::adapters::batching::BatchInsert;
    use crate::adapters::db::test_support::{BY_HAND, group, open};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn holds_the_newest_rows_ts_and_nothing_for_a_row_it_never_saw() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let (conn, repo) = open(&path, BY_HAND).await;
        // `group` gives message i the ts i; rowids start at 1.
        repo.insert_batch(group(0, 100)).await.unwrap();
        let times = RowTimes::with_capacity(&path, 40);
        assert_eq!(times.held_from(100).await, Some(61));
        assert_eq!(times.of(&[61, 62, 100]).await, Some(vec![60, 61, 99]));
        assert_eq!(times.of(&[60]).await, None, "older than the capacity");
        assert_eq!(times.of(&[101]).await, None, "not stored yet");
        // Rows stored later are appended; the oldest are dropped in quarters.
        repo.insert_batch(group(100, 5)).await.unwrap();
        assert_eq!(times.held_from(105).await, Some(61));
        assert_eq!(times.of(&[101, 105]).await, Some(vec![100, 104]));
        repo.insert_batch(group(105, 20)).await.unwrap();
        assert_eq!(times.held_from(125).await, Some(86));
        assert_eq!(times.of(&[86, 125]).await, Some(vec![85, 124]));
        // A row deleted before the load: an older snapshot may still have it, so it is not guessed.
        use sea_orm::ConnectionTrait;
        conn.execute_unprepared("DELETE FROM messages WHERE seq = 120").await.unwrap();
        let fresh = RowTimes::with_capacity(&path, 1_000);
        assert_eq!(fresh.held_from(125).await, Some(1));
        assert_eq!(fresh.of(&[1, 119, 121]).await, Some(vec![0, 118, 120]));
        assert_eq!(fresh.of(&[120]).await, None);
        repo.close().await.unwrap();
    }
}
