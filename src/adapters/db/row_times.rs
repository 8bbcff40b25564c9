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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, params};

use super::match_points::MatchPoints;

/// Rowids whose `ts` are held at most (32 MiB); up to a quarter more accumulate before the oldest
/// are dropped.
pub(super) const CAPACITY: usize = 1 << 22;
/// In place of the `ts` of a rowid that had no row when it was loaded.
const NO_ROW: i64 = i64::MIN;
/// After a failed load, searches look `ts` up in SQL for this long before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// The `ts` of the newest rows, by rowid.
#[derive(Debug)]
pub(super) struct RowTimes {
    path: PathBuf,
    capacity: usize,
    /// Locked only on blocking threads, so that a request that goes away never leaves it half done.
    held: Arc<Mutex<Held>>,
    flags: Arc<Flags>,
}

#[derive(Debug, Default)]
struct Flags {
    /// Set while every row is being loaded: builds meanwhile do not wait for it.
    loading: AtomicBool,
    /// Set on shutdown: the connection is not opened again.
    closed: AtomicBool,
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
    /// When a load last failed.
    failed: Option<Instant>,
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
    fn extend(&mut self, path: &Path, upto: Option<i64>, capacity: usize, flags: &Flags) -> Option<()> {
        if flags.closed.load(Ordering::Acquire) || self.failed.is_some_and(|at| at.elapsed() < RETRY_AFTER) {
            return None;
        }
        // Rows far past the last held are loaded afresh rather than appended one by one.
        let reload = !self.loaded
            || upto.is_some_and(|upto| upto.saturating_sub(self.last()) > i64::try_from(capacity).unwrap_or(i64::MAX));
        if !reload && upto.is_none_or(|upto| upto <= self.last()) {
            return Some(());
        }
        let result = self.conn.take().map_or_else(|| connect(path), Ok).and_then(|conn| {
            let result = match upto {
                Some(upto) if !reload => self.append(&conn, upto, capacity),
                upto => {
                    flags.loading.store(true, Ordering::Release);
                    let loaded = self.load(&conn, upto, capacity);
                    flags.loading.store(false, Ordering::Release);
                    loaded
                }
            };
            if !flags.closed.load(Ordering::Acquire) {
                self.conn = Some(conn);
            }
            result
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, "the rows' ts could not be loaded; searches look them up instead");
            (self.loaded, self.ts, self.failed) = (false, Vec::new(), Some(Instant::now()));
            return None;
        }
        Some(())
    }

    /// Every row up to `upto`, the newest `capacity` at most: the `ts` index holds every rowid and
    /// `ts`, and is a small part of the table.
    fn load(&mut self, conn: &Connection, upto: Option<i64>, capacity: usize) -> rusqlite::Result<()> {
        let (oldest, newest): (Option<i64>, Option<i64>) =
            conn.query_row("SELECT min(seq), max(seq) FROM messages", [], |row| Ok((row.get(0)?, row.get(1)?)))?;
        let upto = upto.unwrap_or(newest.unwrap_or(0));
        let newest_held = upto.saturating_sub(i64::try_from(capacity).unwrap_or(i64::MAX)) + 1;
        let first = Ord::max(oldest.unwrap_or(upto + 1), newest_held);
        let len = usize::try_from(upto + 1 - first).unwrap_or(0);
        (self.loaded, self.ts) = (false, Vec::new());
        let mut ts = Vec::with_capacity(Ord::min(len + Ord::max(len / 4, 4_096), capacity));
        ts.resize(len, NO_ROW);
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
    fn append(&mut self, conn: &Connection, upto: i64, capacity: usize) -> rusqlite::Result<()> {
        let after = self.last();
        let Ok(more) = usize::try_from(upto - after) else { return Ok(()) };
        // The oldest are dropped before the vector would pass a quarter over the capacity, down to
        // the capacity: in quarters, so that rows arriving one by one do not move the rest each
        // time, and before growing, so that it is never reserved beyond that quarter.
        let most = capacity + capacity / 4;
        if self.ts.len() + more > most {
            let excess = Ord::min(self.ts.len() + more - capacity, self.ts.len());
            self.ts.drain(..excess);
            self.first += i64::try_from(excess).unwrap_or(i64::MAX);
        }
        // Grown by a quarter at a time rather than doubled: the vector is most of the memory.
        if self.ts.capacity() - self.ts.len() < more {
            let room = most.saturating_sub(self.ts.len());
            self.ts.reserve_exact(Ord::max(more, Ord::min(self.ts.len() / 4, room)));
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

/// Runs `work` in a blocking thread: it finishes even if the request that asked goes away.
async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> Option<T> + Send + 'static) -> Option<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(error = %e, "reading the rows' ts failed; searches look them up instead");
            None
        }
    }
}

fn lock(held: &Mutex<Held>) -> MutexGuard<'_, Held> {
    held.lock().unwrap_or_else(PoisonError::into_inner)
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
        Self { path: path.to_owned(), capacity, held: Arc::default(), flags: Arc::default() }
    }

    /// Brings the held rows up to `upto` (`None`: the newest now); their first rowid.
    async fn extended(&self, upto: Option<i64>) -> Option<i64> {
        let (held, path, capacity, flags) =
            (Arc::clone(&self.held), self.path.clone(), self.capacity, Arc::clone(&self.flags));
        off_runtime(move || {
            let mut held = lock(&held);
            held.extend(&path, upto, capacity, &flags)?;
            Some(held.first)
        })
        .await
    }

    /// Loads the rows stored so far, so that the first search after start-up need not wait.
    pub(super) async fn preload(&self) {
        self.extended(None).await;
    }

    /// The first rowid whose `ts` is held, once every row up to `upto` is; `None` while every row
    /// is being loaded, or when they could not be read.
    pub(super) async fn held_from(&self, upto: i64) -> Option<i64> {
        if self.flags.loading.load(Ordering::Acquire) {
            return None;
        }
        self.extended(Some(upto)).await
    }

    /// The profile of the matches whose rowids are `listed` (comma-separated, as `group_concat`
    /// gives them) and of those whose `ts` are `older`; `None` unless every listed rowid is held.
    pub(super) async fn profile(&self, listed: Option<String>, older: Vec<i64>) -> Option<MatchPoints> {
        if self.flags.loading.load(Ordering::Acquire) {
            return None;
        }
        let held = Arc::clone(&self.held);
        let build = move || {
            let mut ts = older;
            {
                let held = lock(&held);
                for rowid in listed.iter().flat_map(|list| list.split(',')) {
                    ts.push(held.at(rowid.parse().ok()?)?);
                }
            }
            ts.sort_unstable();
            Some(MatchPoints::from_sorted(&ts))
        };
        off_runtime(build).await
    }

    /// The `ts` of each of `rowids`, `None` unless every one is held.
    #[cfg(test)]
    fn of(&self, rowids: &[i64]) -> Option<Vec<i64>> {
        let held = lock(&self.held);
        rowids.iter().map(|&rowid| held.at(rowid)).collect()
    }

    /// The `ts` the vector has room for.
    #[cfg(test)]
    fn reserved(&self) -> usize {
        lock(&self.held).ts.capacity()
    }

    /// Closes the connection for good; later loads do nothing. A load under way closes it when
    /// it ends.
    pub(super) fn close(&self) {
        self.flags.closed.store(true, Ordering::Release);
        if let Ok(mut held) = self.held.try_lock() {
            held.conn = None;
        }
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
        assert_eq!(times.of(&[61, 62, 100]), Some(vec![60, 61, 99]));
        assert_eq!(times.of(&[60]), None, "older than the capacity");
        assert_eq!(times.of(&[101]), None, "not stored yet");
        // Rows stored later are appended; the oldest are dropped in quarters.
        repo.insert_batch(group(100, 5)).await.unwrap();
        assert_eq!(times.held_from(105).await, Some(61));
        assert_eq!(times.of(&[101, 105]), Some(vec![100, 104]));
        repo.insert_batch(group(105, 20)).await.unwrap();
        assert_eq!(times.held_from(125).await, Some(86));
        assert_eq!(times.of(&[86, 125]), Some(vec![85, 124]));
        // Rows far past the last held are loaded afresh, not appended one by one.
        repo.insert_batch(group(125, 100)).await.unwrap();
        assert_eq!(times.held_from(225).await, Some(186));
        assert_eq!(times.of(&[186, 225]), Some(vec![185, 224]));
        // Never reserved beyond a quarter over the capacity, whatever arrives.
        for first in (225..285).step_by(3) {
            repo.insert_batch(group(first, 3)).await.unwrap();
            let last = i64::try_from(first).unwrap() + 3;
            let from = times.held_from(last).await.unwrap();
            assert!(last + 1 - from >= 40 && last + 1 - from <= 50, "holds {from}..={last}");
            assert_eq!(times.of(&[from, last]), Some(vec![from - 1, last - 1]));
            assert!(times.reserved() <= 50, "room for {} ts after {first}", times.reserved());
        }
        // A row deleted before the load: an older snapshot may still have it, so it is not guessed.
        use sea_orm::ConnectionTrait;
        conn.execute_unprepared("DELETE FROM messages WHERE seq = 120").await.unwrap();
        let fresh = RowTimes::with_capacity(&path, 1_000);
        assert_eq!(fresh.held_from(125).await, Some(1));
        assert_eq!(fresh.of(&[1, 119, 121]), Some(vec![0, 118, 120]));
        assert_eq!(fresh.of(&[120]), None);
        repo.close().await.unwrap();
    }
}
