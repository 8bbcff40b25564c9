//! SQLite: a search's totals and deep pages from the profile of its matches (see
//! [`MatchPoints`]), kept per needle and brought up to each reader's snapshot.
//!
//! As with remembered totals (see [`super::search_totals`]), SQLite's one writer commits rows in
//! rowid order, so a profile taken at rowid `r` becomes the profile at `r'` from the matches in
//! `(r, r']` alone, and a deletion (which moves the erased count) makes every profile useless. A
//! snapshot older than the newest profile uses an older one: a few are kept per needle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};

use super::entity::message::{Column, Model};
use super::match_points::{BUILT_POINTS, Located, MIN_SPACING, MatchPoints, spacing};
use super::repository::{IndexedSearch, after_cursor, dense, filtered, like_pattern, sqlite_scalar, unavailable};
use super::row_times::RowTimes;
use super::scan_gate::{ScanGate, WAIT};
use super::search_totals::{Mark, rowids};
use crate::domain::ports::RepoError;
use crate::domain::query::{MessageFilter, Page, TextQuery};
use tokio::sync::OwnedSemaphorePermit;

/// Needles profiled at most; when full, the memory starts over.
const CAPACITY: usize = 256;
/// Profiles kept per needle, for readers whose snapshots are a few commits apart.
const VERSIONS: usize = 3;

#[derive(Debug)]
struct Profile {
    at: Mark,
    points: MatchPoints,
}

/// Profiles of searched needles.
#[derive(Debug, Default)]
pub(super) struct SearchProfiles {
    /// Newest last for each needle.
    profiles: Mutex<HashMap<String, Vec<Arc<Profile>>>>,
    /// The turn to build a needle's first profile.
    building: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// SQLite file: the rows' `ts`, which new profiles are built from.
    times: Option<RowTimes>,
}

/// Only the needle: what every profile counts.
fn needle_only(q: &TextQuery) -> MessageFilter {
    MessageFilter { text: Some(q.clone()), ..MessageFilter::default() }
}

/// The `ts` of the matches among the rows `bound` keeps (all rows when `None`).
async fn matching_ts(
    txn: &DatabaseTransaction,
    q: &TextQuery,
    index: Option<&IndexedSearch>,
    bound: Option<Expr>,
) -> Result<Vec<i64>, DbErr> {
    let select = filtered(&needle_only(q), index);
    let select = match bound {
        Some(bound) => select.filter(bound),
        None => select,
    };
    select.select_only().column(Column::Ts).into_tuple().all(txn).await
}

/// How many matches `q` has: the text index counts those it holds without reading a row (a
/// phrase of three or more characters matches exactly the texts holding the needle), and the
/// rows after it are tested.
///
/// # Errors
/// The database cannot be read.
pub(super) async fn matches(txn: &DatabaseTransaction, q: &TextQuery, index: &IndexedSearch) -> Result<u64, DbErr> {
    let recent = filtered(&needle_only(q), None).filter(rowids(index.upto, i64::MAX)).count(txn).await?;
    Ok(indexed_matches(txn, index).await? + recent)
}

/// The matches the text index holds, counted without reading a row.
async fn indexed_matches(txn: &DatabaseTransaction, index: &IndexedSearch) -> Result<u64, DbErr> {
    // Bounded: the search file may hold rows newer than this snapshot of `messages`.
    let count = "SELECT count(*) FROM messages_text WHERE messages_text MATCH ? AND rowid <= ?";
    Ok(sqlite_scalar(txn, count, vec![index.phrase.as_str().into(), index.upto.into()]).await?.unsigned_abs())
}

/// Samples of the matches the text index holds (see [`build`]): the matches' phrase, the spacing,
/// and the count less one.
const INDEXED: &str = "SELECT ts, below, nth FROM ( \
       SELECT ts, rank() OVER w - 1 AS below, row_number() OVER w - 1 AS nth FROM messages \
       WHERE rowid IN (SELECT rowid FROM messages_text WHERE messages_text MATCH ? AND rowid <= ?) \
       WINDOW w AS (ORDER BY ts)) \
     WHERE (nth % ? = 0 AND nth = below) OR nth = ? ORDER BY nth";

/// Samples of the matches among the rows `rows` (an SQL condition on `messages`) keeps, counted
/// in the same pass; the spacing's least and the points wanted follow the condition's values.
fn counted_sql(rows: &str) -> String {
    format!(
        "SELECT ts, below, nth, n FROM ( \
           SELECT ts, rank() OVER w - 1 AS below, row_number() OVER w - 1 AS nth, count(*) OVER () AS n \
           FROM messages WHERE {rows} WINDOW w AS (ORDER BY ts)) \
         WHERE (nth % max(?, n / ?) = 0 AND nth = below) OR nth = n - 1 ORDER BY nth"
    )
}

/// Rows stored after the text index's last run that a new profile tests one by one; more, and
/// they are sampled in SQL with the indexed ones.
const RECENT: i64 = 10_000;

/// A new profile of `q` from one pass over its matches. The points are sampled inside SQLite, so
/// that only about a thousand rows leave it however many matches there are: a row of every
/// [`spacing`]th match that is the first of its `ts`, and the last match. When `times` holds the
/// rows' `ts`, only the text index's rowids leave it instead, and no row is read. Without the text
/// index (a needle under three characters) the pass is a scan of every row.
async fn build(
    txn: &DatabaseTransaction,
    q: &TextQuery,
    index: Option<&IndexedSearch>,
    times: Option<&RowTimes>,
) -> Result<MatchPoints, DbErr> {
    let like = like_pattern(q.folded());
    let Some(index) = index else {
        return counted(txn, "text_folded LIKE ? ESCAPE '\\'", vec![like.into()]).await;
    };
    let recent = sqlite_scalar(txn, "SELECT count(*) FROM messages WHERE rowid > ?", vec![index.upto.into()]).await?;
    if recent > RECENT {
        let rows = "rowid IN (SELECT rowid FROM messages_text WHERE messages_text MATCH ? \
                    UNION ALL SELECT rowid FROM messages WHERE rowid > ?) AND text_folded LIKE ? ESCAPE '\\'";
        return counted(txn, rows, vec![index.phrase.as_str().into(), index.upto.into(), like.into()]).await;
    }
    let held = match times {
        Some(times) => indexed_from_times(txn, index, times).await?,
        None => None,
    };
    let mut points = match held {
        Some(points) => points,
        None => indexed(txn, index).await?,
    };
    points.add(&matching_ts(txn, q, None, Some(rowids(index.upto, i64::MAX))).await?);
    Ok(points)
}

/// The profile of the matches the text index holds, sampled in SQL.
async fn indexed(txn: &DatabaseTransaction, index: &IndexedSearch) -> Result<MatchPoints, DbErr> {
    let total = indexed_matches(txn, index).await?;
    let spacing = i64::try_from(spacing(total)).unwrap_or(i64::MAX);
    let last = i64::try_from(total).unwrap_or(i64::MAX) - 1;
    let values = vec![index.phrase.as_str().into(), index.upto.into(), spacing.into(), last.into()];
    let (_, samples, last) = samples(txn, INDEXED, values).await?;
    Ok(MatchPoints::from_samples(total, &samples, last))
}

/// The rowids of the text index's matches from `first` on, in one row: a row each would cost
/// more to leave SQLite than to find.
const MATCHED_ROWIDS: &str =
    "SELECT group_concat(rowid) FROM messages_text WHERE messages_text MATCH ? AND rowid >= ? AND rowid <= ?";
/// The `ts` of the text index's matches before `first`, whose `ts` are not held.
const OLDER_TS: &str = "SELECT ts FROM messages WHERE seq IN (SELECT rowid FROM messages_text WHERE messages_text MATCH ? AND rowid < ? \
     AND rowid <= ?)";

/// [`indexed`] from the matches' rowids and the `ts` `times` holds for them; `None` when it
/// holds too few.
async fn indexed_from_times(
    txn: &DatabaseTransaction,
    index: &IndexedSearch,
    times: &RowTimes,
) -> Result<Option<MatchPoints>, DbErr> {
    let Some(first) = times.held_from(index.upto).await else { return Ok(None) };
    let values = vec![index.phrase.as_str().into(), first.into(), index.upto.into()];
    let stmt = Statement::from_sql_and_values(DbBackend::Sqlite, MATCHED_ROWIDS, values.clone());
    let listed = match txn.query_one_raw(stmt).await? {
        Some(row) => row.try_get_by_index::<Option<String>>(0)?,
        None => None,
    };
    let mut older = Vec::new();
    if first > 1 {
        let stmt = Statement::from_sql_and_values(DbBackend::Sqlite, OLDER_TS, values);
        for row in txn.query_all_raw(stmt).await? {
            older.push(row.try_get_by_index::<i64>(0)?);
        }
    }
    Ok(times.profile(listed, older).await)
}

/// [`build`] over the rows `rows` (an SQL condition on `messages`) keeps, counted in the same pass.
async fn counted(txn: &DatabaseTransaction, rows: &str, mut values: Vec<sea_orm::Value>) -> Result<MatchPoints, DbErr> {
    let sql = counted_sql(rows);
    values.extend([MIN_SPACING.into(), BUILT_POINTS.into()]);
    let (total, samples, last) = samples(txn, &sql, values).await?;
    Ok(MatchPoints::from_samples(total, &samples, last))
}

/// The `(ts, below)` rows of a sampling query, its fourth column (the count) if it has one, and
/// the `ts` of its last row.
async fn samples(
    txn: &DatabaseTransaction,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Result<(u64, Vec<(i64, u64)>, Option<i64>), DbErr> {
    let rows = txn.query_all_raw(Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)).await?;
    let mut total = 0;
    let mut samples = Vec::with_capacity(rows.len());
    for row in rows {
        samples.push((row.try_get_by_index::<i64>(0)?, row.try_get_by_index::<i64>(1)?.unsigned_abs()));
        total = row.try_get_by_index::<i64>(3).map_or(total, i64::unsigned_abs);
    }
    let last = samples.last().map(|&(ts, _)| ts);
    Ok((total, samples, last))
}

/// `kept` brought up to the snapshot `at` (which is not older) by the matches stored since.
async fn advance(txn: &DatabaseTransaction, q: &TextQuery, kept: &Profile, at: Mark) -> Result<MatchPoints, DbErr> {
    let mut points = kept.points.clone();
    if kept.at.top < at.top {
        points.add(&matching_ts(txn, q, None, Some(rowids(kept.at.top, at.top))).await?);
    }
    Ok(points)
}

impl SearchProfiles {
    /// Profiles built from the `ts` that `times` holds.
    pub(super) fn with_times(times: RowTimes) -> Self {
        Self { times: Some(times), ..Self::default() }
    }

    /// The profile of `q` in the snapshot `at` of `txn`: a kept one brought up to it, or, when
    /// `needed`, a new one from a pass over every match.
    ///
    /// # Errors
    /// The database cannot be read.
    pub(super) async fn at(
        &self,
        txn: &DatabaseTransaction,
        q: &TextQuery,
        index: Option<&IndexedSearch>,
        at: Mark,
        needed: bool,
        scans: Option<&ScanGate>,
    ) -> Result<Option<MatchPoints>, RepoError> {
        match self.kept(q, at) {
            Some(kept) => advance(txn, q, &kept, at).await.map(Some).map_err(unavailable),
            None if needed => self.first(txn, q, index, at, scans).await.map(Some),
            None => Ok(None),
        }
    }

    /// Loads what new profiles are built from, once.
    pub(super) async fn preload(&self) {
        if let Some(times) = &self.times {
            times.preload().await;
        }
    }

    /// Closes what new profiles are built from.
    pub(super) fn close(&self) {
        if let Some(times) = &self.times {
            times.close();
        }
    }

    /// Whether any profile of `q` is kept, whatever snapshot it belongs to.
    pub(super) fn has(&self, q: &TextQuery) -> bool {
        self.profiles.lock().is_ok_and(|kept| kept.contains_key(q.folded()))
    }

    /// A new profile, built once however many readers ask for it at the same time: the others
    /// wait for it (2 s at most, then 503) and bring it up to their own snapshots. `scans` is the
    /// scan turn a needle under three characters takes to be profiled, unless the caller holds it.
    async fn first(
        &self,
        txn: &DatabaseTransaction,
        q: &TextQuery,
        index: Option<&IndexedSearch>,
        at: Mark,
        scans: Option<&ScanGate>,
    ) -> Result<MatchPoints, RepoError> {
        let turn = self.building.lock().ok().map(|mut building| {
            if building.len() >= CAPACITY {
                building.retain(|_, turn| Arc::strong_count(turn) > 1);
            }
            building.entry(q.folded().to_owned()).or_default().clone()
        });
        let _turn = match &turn {
            Some(turn) => Some(tokio::time::timeout(WAIT, turn.lock()).await.map_err(|_| RepoError::Overloaded)?),
            None => None,
        };
        if let Some(kept) = self.kept(q, at) {
            return advance(txn, q, &kept, at).await.map_err(unavailable);
        }
        let _scan = match (index, scans) {
            (None, Some(scans)) => Some(scans.turn().await?),
            _ => None,
        };
        let points = build(txn, q, index, self.times.as_ref()).await.map_err(unavailable)?;
        self.keep(q, at, points.clone());
        Ok(points)
    }

    /// The newest profile of `q` that `at` can be brought to.
    fn kept(&self, q: &TextQuery, at: Mark) -> Option<Arc<Profile>> {
        let kept = self.profiles.lock().ok()?;
        kept.get(q.folded())?.iter().rev().find(|p| p.at.leads_to(at)).cloned()
    }

    /// How many matches `q` had in a kept profile `at` can be brought to: at most as many as it
    /// has in `at`, and none are read to know it.
    pub(super) fn known_matches(&self, q: &TextQuery, at: Mark) -> Option<u64> {
        self.kept(q, at).map(|kept| kept.points.total())
    }

    /// A search alone or beside `since`: its page (`limit + 1` rows at most) and `total` from
    /// `points`, the profile of the search in `search`'s snapshot, which it then keeps with
    /// what the reading taught it.
    ///
    /// # Errors
    /// The database cannot be read.
    pub(super) async fn read(
        &self,
        search: Search<'_>,
        mut points: MatchPoints,
        filter: &MessageFilter,
        page: Page,
    ) -> Result<(Vec<Model>, u64), RepoError> {
        let since = filter.since.map(|s| s.as_micros());
        let since_below = match since {
            Some(ts) => search.matches_before(&mut points, ts).await?,
            None => 0,
        };
        let total = points.total().saturating_sub(since_below);
        let rows = match &filter.after {
            Some(_) => search.cursor_page(&points, filter, page).await?,
            None if page.offset >= total => Vec::new(),
            None => search.deep_page(&points, since, since_below, page).await?,
        };
        self.keep(search.q, search.at, points);
        Ok((rows, total))
    }

    /// Keeps `points`, the profile of `q` in the snapshot `at`.
    fn keep(&self, q: &TextQuery, at: Mark, points: MatchPoints) {
        let Ok(mut kept) = self.profiles.lock() else { return };
        if kept.len() >= CAPACITY && !kept.contains_key(q.folded()) {
            kept.clear();
        }
        let versions = kept.entry(q.folded().to_owned()).or_default();
        versions.retain(|p| p.at.erased == at.erased && p.at.epoch == at.epoch && p.at.top != at.top);
        let place = versions.partition_point(|p| p.at.top < at.top);
        versions.insert(place, Arc::new(Profile { at, points }));
        if versions.len() > VERSIONS {
            versions.remove(0);
        }
    }
}

/// One search in one snapshot: what reading its profile needs.
pub(super) struct Search<'a> {
    pub(super) txn: &'a DatabaseTransaction,
    pub(super) q: &'a TextQuery,
    /// `None` for a needle under three characters, which the text index cannot narrow.
    pub(super) index: Option<&'a IndexedSearch>,
    /// The snapshot; its last rowid tells how many rows there are, to choose between walking the
    /// `ts` index and gathering through the text index.
    pub(super) at: Mark,
    /// The scan turn a long walk for a needle under three characters takes, unless the caller
    /// holds it (`None`).
    pub(super) scans: Option<&'a ScanGate>,
}

impl Search<'_> {
    fn rows(&self) -> u64 {
        self.at.top.unsigned_abs()
    }

    /// The scan turn for a walk the text index cannot shorten (a needle under three characters)
    /// when it is `long`.
    async fn turn(&self, long: bool) -> Result<Option<OwnedSemaphorePermit>, RepoError> {
        match self.scans {
            Some(scans) if long && self.index.is_none() => scans.turn().await.map(Some),
            _ => Ok(None),
        }
    }

    /// The matches whose `ts` is smaller than `ts`, exactly: from the points, and a walk of one
    /// gap when they do not know, which teaches them what it passes.
    ///
    /// # Errors
    /// The database cannot be read, or a long scan waited too long for its turn.
    pub(super) async fn matches_before(&self, points: &mut MatchPoints, ts: i64) -> Result<u64, RepoError> {
        let (from, below, gap) = match points.locate(ts) {
            Located::Exact(n) => return Ok(n),
            Located::Between { from, below, gap } => (from, below, gap),
        };
        let gather = !dense(points.total(), self.rows(), Page { limit: 0, offset: gap });
        let _turn = self.turn(gather).await?;
        // No match lies past the last one: the walk stops there.
        let to = points.last().map_or(ts, |last| Ord::min(ts, last.saturating_add(1)));
        let bound = Column::Ts.gte(from).and(Column::Ts.lt(to));
        let mut walked =
            matching_ts(self.txn, self.q, self.index.filter(|_| gather), Some(bound)).await.map_err(unavailable)?;
        walked.sort_unstable();
        points.learn(from, below, &walked, ts);
        Ok(below + walked.len() as u64)
    }

    /// A page of the search alone or beside `since`, without a cursor, read from the point
    /// nearest its first row, so that its depth costs nothing. `since_below` is what
    /// [`Self::matches_before`] said of `since`; the page holds `limit + 1` rows at most.
    ///
    /// # Errors
    /// The database cannot be read, or a long scan waited too long for its turn.
    pub(super) async fn deep_page(
        &self,
        points: &MatchPoints,
        since: Option<i64>,
        since_below: u64,
        page: Page,
    ) -> Result<Vec<Model>, RepoError> {
        let Some(last) = points.last() else { return Ok(Vec::new()) };
        let (from, skip) = points.start(since.unwrap_or(i64::MIN), since_below, page.offset);
        let walk = dense(points.total(), self.rows(), Page { offset: skip, ..page });
        let _turn = self.turn(!walk).await?;
        filtered(&needle_only(self.q), self.index.filter(|_| !walk))
            .filter(Column::Ts.gte(from))
            .filter(Column::Ts.lte(last))
            .order_by_asc(Column::Ts)
            .order_by_asc(Column::MessageId)
            .limit(u64::from(page.limit) + 1)
            .offset(skip)
            .all(self.txn)
            .await
            .map_err(unavailable)
    }

    /// A cursor page of the search alone or beside `since`: the `ts` index seeks to the cursor.
    ///
    /// # Errors
    /// The database cannot be read, or a long scan waited too long for its turn.
    pub(super) async fn cursor_page(
        &self,
        points: &MatchPoints,
        filter: &MessageFilter,
        page: Page,
    ) -> Result<Vec<Model>, RepoError> {
        let Some(last) = points.last() else { return Ok(Vec::new()) };
        let walk = dense(points.total(), self.rows(), page);
        let _turn = self.turn(!walk).await?;
        after_cursor(filtered(filter, self.index.filter(|_| !walk)), filter)
            .filter(Column::Ts.lte(last))
            .order_by_asc(Column::Ts)
            .order_by_asc(Column::MessageId)
            .limit(u64::from(page.limit) + 1)
            .offset(page.offset)
            .all(self.txn)
            .await
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {

    use crate::adapters::batching::BatchInsert;
    use crate::adapters::db::test_support::{BY_HAND, group, open, text};
    use crate::domain::ports::MessageRepository;
    use crate::domain::query::{Page, RawListQuery};
    use crate::domain::timestamp::Timestamp;

    /// Every shallow and deep page, with and without `since`, against the ids a literal match of
    /// `needle` keeps among the first `n` messages (`ts` is the message's number there).
    async fn pages_match(repo: &impl MessageRepository, needle: &str, n: usize) {
        let all: Vec<usize> = (0..n).filter(|i| text(*i).to_lowercase().contains(needle)).collect();
        for since in [None, Some(0), Some(1), Some(n / 3), Some(n / 2 + 7), Some(n - 1), Some(n + 10)] {
            let want: Vec<String> =
                all.iter().filter(|&&i| since.is_none_or(|s| i >= s)).map(|i| format!("m-{i:06}")).collect();
            for offset in [0, 1, 64, 65, 130, 333, want.len() / 2, want.len().saturating_sub(1), want.len()] {
                let raw = RawListQuery {
                    q: Some(needle.to_owned()),
                    since: since.map(|s| Timestamp::from_micros(i64::try_from(s).unwrap()).unwrap().to_rfc3339()),
                    ..RawListQuery::default()
                };
                let page = Page { limit: 9, offset: offset as u64 };
                let got = repo.list(&raw.parse().unwrap().filter, page).await.unwrap();
                let ids: Vec<String> = got.rows.iter().map(|m| m.message_id.as_str().to_owned()).collect();
                let expected: Vec<String> = want.iter().skip(offset).take(9).cloned().collect();
                assert_eq!(ids, expected, "{needle:?} since {since:?} offset {offset} of {n}");
                assert_eq!(got.total, want.len() as u64, "{needle:?} since {since:?} of {n}");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn profiles_answer_exactly_before_and_after_indexing_and_as_rows_arrive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let (_, repo) = open(&path, BY_HAND).await;
        // Not indexed yet: profiles built from the rows tested directly.
        repo.insert_batch(group(0, 1_500)).await.unwrap();
        for needle in ["needle", "ha", "e"] {
            pages_match(&repo, needle, 1_500).await;
        }
        repo.flush().await.unwrap();
        repo.index_text().await.unwrap();
        // Kept profiles brought up to rows stored since, which the index does not hold.
        repo.insert_batch(group(1_500, 1_200)).await.unwrap();
        for needle in ["needle", "ha", "e"] {
            pages_match(&repo, needle, 2_700).await;
        }
        repo.close().await.unwrap();
        // A new process: profiles built through the index, and from the rows after it.
        let (_, repo) = open(&path, BY_HAND).await;
        for needle in ["needle", "ha", "e", "needle and"] {
            pages_match(&repo, needle, 2_700).await;
        }
        repo.close().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn matches_sharing_one_ts_leave_sqlite_as_a_few_samples() {
        use sea_orm::TransactionTrait;

        use super::{INDEXED, IndexedSearch, RowTimes, build, counted_sql, samples};
        use crate::adapters::db::repository::trigram_phrase;
        use crate::adapters::db::text_index::indexed_upto;
        use crate::domain::delivery::Delivery;
        use crate::domain::message::{Message, MessageId, MessageText, Msisdn};

        let dir = tempfile::tempdir().unwrap();
        let (conn, repo) = open(&dir.path().join("t.db"), BY_HAND).await;
        let at = Timestamp::from_micros(0).unwrap();
        // 5,000 matches: all but the last 10 share one `ts`.
        let rows = (0..5_000)
            .map(|i: i64| {
                let message = Message::flat(
                    MessageId::parse(&format!("t-{i:05}")).unwrap(),
                    Msisdn::parse("+1555").unwrap(),
                    Msisdn::parse("+222").unwrap(),
                    Timestamp::from_micros(1_000 + (i - 4_989).max(0)).unwrap(),
                    Some(MessageText::parse("same needle").unwrap()),
                );
                (Delivery::of_message(message), at)
            })
            .collect();
        repo.insert_batch(rows).await.unwrap();
        repo.flush().await.unwrap();
        repo.index_text().await.unwrap();
        let q =
            RawListQuery { q: Some("needle".into()), ..RawListQuery::default() }.parse().unwrap().filter.text.unwrap();
        let txn = conn.begin().await.unwrap();
        let index =
            IndexedSearch { phrase: trigram_phrase(q.folded()).unwrap(), upto: indexed_upto(&txn).await.unwrap() };
        // Rows leaving SQLite: the first of a tie only, and the last match.
        let values = vec![index.phrase.as_str().into(), index.upto.into(), 64_i64.into(), 4_999_i64.into()];
        assert_eq!(samples(&txn, INDEXED, values).await.unwrap().1.len(), 3);
        let values = vec!["same%".into(), 64_i64.into(), 1_024_i64.into()];
        assert_eq!(samples(&txn, &counted_sql("text_folded LIKE ?"), values).await.unwrap().1.len(), 3);
        let times = RowTimes::new(&dir.path().join("t.db"));
        for (index, times) in [(Some(&index), None), (Some(&index), Some(&times)), (None, None)] {
            let points = build(&txn, &q, index, times).await.unwrap();
            assert_eq!(points.total(), 5_000);
            assert_eq!(points.last(), Some(1_010));
            assert!(points.len() <= 12, "{} points", points.len());
        }
        txn.commit().await.unwrap();
        pages_match_ts(&repo).await;
        repo.close().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn profiles_from_held_ts_are_exact_and_step_aside_for_a_row_deleted_since_a_snapshot() {
        use sea_orm::{ConnectionTrait, TransactionTrait};

        use super::{IndexedSearch, RowTimes, build, indexed_from_times};
        use crate::adapters::db::repository::trigram_phrase;
        use crate::adapters::db::text_index::indexed_upto;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let (conn, repo) = open(&path, BY_HAND).await;
        repo.insert_batch(group(0, 1_500)).await.unwrap();
        repo.flush().await.unwrap();
        repo.index_text().await.unwrap();
        // Message i has ts i and rowid i + 1.
        let want: Vec<i64> =
            (0..1_500).filter(|i| text(*i).to_lowercase().contains("needle")).map(|i| i as i64).collect();
        let exact = |points: &super::MatchPoints| {
            assert_eq!(points.total(), want.len() as u64);
            assert_eq!(points.last(), want.last().copied());
            assert!(points.points().len() > 3, "{} points", points.points().len());
            for &(ts, below) in points.points() {
                assert_eq!(below, want.partition_point(|&w| w < ts) as u64, "before {ts}");
            }
        };
        let old = conn.begin().await.unwrap();
        let index =
            IndexedSearch { phrase: trigram_phrase("needle").unwrap(), upto: indexed_upto(&old).await.unwrap() };
        // The oldest thousand rows are not held: their matches' ts come from the table.
        let small = RowTimes::with_capacity(&path, 500);
        exact(&indexed_from_times(&old, &index, &small).await.unwrap().expect("held"));
        // Row 4 (message 3, a match) deleted after `old` began: a load after that holds nothing
        // for it, so `old`'s profile is built in SQL, and is still exact for `old`.
        conn.execute_unprepared("DELETE FROM messages WHERE seq = 4").await.unwrap();
        let fresh = RowTimes::with_capacity(&path, 10_000);
        assert!(indexed_from_times(&old, &index, &fresh).await.unwrap().is_none());
        let q =
            RawListQuery { q: Some("needle".into()), ..RawListQuery::default() }.parse().unwrap().filter.text.unwrap();
        let built = build(&old, &q, Some(&index), Some(&fresh)).await.unwrap();
        assert_eq!(built.total(), want.len() as u64);
        old.commit().await.unwrap();
        repo.close().await.unwrap();
    }

    /// Totals and deep pages over the tied rows of `matches_sharing_one_ts_leave_sqlite_as_a_few_samples`.
    async fn pages_match_ts(repo: &impl MessageRepository) {
        for (since, total) in [(None, 5_000), (Some(1_000), 5_000), (Some(1_001), 10), (Some(1_011), 0)] {
            let raw = RawListQuery {
                q: Some("needle".into()),
                since: since.map(|s| Timestamp::from_micros(s).unwrap().to_rfc3339()),
                ..RawListQuery::default()
            };
            let page = repo.list(&raw.parse().unwrap().filter, Page { limit: 3, offset: 4_990 }).await.unwrap();
            assert_eq!(page.total, total, "since {since:?}");
            if since.is_none() {
                let ids: Vec<&str> = page.rows.iter().map(|m| m.message_id.as_str()).collect();
                assert_eq!(ids, ["t-04990", "t-04991", "t-04992"]);
            }
        }
    }
}
