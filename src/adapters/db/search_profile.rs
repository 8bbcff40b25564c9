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
use super::scan_gate::ScanGate;
use super::search_totals::Mark;
use crate::domain::ports::RepoError;
use crate::domain::query::{MessageFilter, Page, TextQuery};

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
    let indexed = "SELECT count(*) FROM messages_text WHERE messages_text MATCH ?";
    let indexed = sqlite_scalar(txn, indexed, vec![index.phrase.as_str().into()]).await?;
    let recent = filtered(&needle_only(q), None).filter(rowids(index.upto, i64::MAX)).count(txn).await?;
    Ok(indexed.unsigned_abs() + recent)
}

/// A new profile of `q` from one pass over its matches. The points are sampled inside SQLite, so
/// that only about a thousand rows leave it however many matches there are; a sample whose
/// `ts` ties with the match before it is skipped, which only widens a gap. Without the text
/// index (a needle under three characters) the pass is a scan of every row.
async fn build(txn: &DatabaseTransaction, q: &TextQuery, index: Option<&IndexedSearch>) -> Result<MatchPoints, DbErr> {
    let Some(index) = index else { return scanned(txn, q).await };
    const SAMPLES: &str = "SELECT ts, below FROM ( \
           SELECT ts, rank() OVER (ORDER BY ts) - 1 AS below FROM messages \
           WHERE rowid IN (SELECT rowid FROM messages_text WHERE messages_text MATCH ?)) \
         WHERE below % ? = 0 ORDER BY below";
    let indexed = "SELECT count(*) FROM messages_text WHERE messages_text MATCH ?";
    let total = sqlite_scalar(txn, indexed, vec![index.phrase.as_str().into()]).await?.unsigned_abs();
    let spacing = i64::try_from(spacing(total)).unwrap_or(i64::MAX);
    let values = vec![index.phrase.as_str().into(), spacing.into()];
    let (_, samples) = samples(txn, SAMPLES, values).await?;
    let mut points = MatchPoints::from_samples(total, &samples);
    points.add(&matching_ts(txn, q, None, Some(rowids(index.upto, i64::MAX))).await?);
    Ok(points)
}

/// [`build`] by a scan: the count comes from the same pass.
async fn scanned(txn: &DatabaseTransaction, q: &TextQuery) -> Result<MatchPoints, DbErr> {
    const SAMPLES: &str = "SELECT ts, below, n FROM ( \
           SELECT ts, rank() OVER (ORDER BY ts) - 1 AS below, count(*) OVER () AS n FROM messages \
           WHERE text_folded LIKE ? ESCAPE '\\') \
         WHERE below % max(?, n / ?) = 0 ORDER BY below";
    let values = vec![like_pattern(q.folded()).into(), MIN_SPACING.into(), BUILT_POINTS.into()];
    let (total, samples) = samples(txn, SAMPLES, values).await?;
    Ok(MatchPoints::from_samples(total, &samples))
}

/// The `(ts, below)` rows of a sampling query, and its third column (the count) if it has one.
async fn samples(
    txn: &DatabaseTransaction,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Result<(u64, Vec<(i64, u64)>), DbErr> {
    let rows = txn.query_all_raw(Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)).await?;
    let mut total = 0;
    let mut samples = Vec::with_capacity(rows.len());
    for row in rows {
        samples.push((row.try_get_by_index::<i64>(0)?, row.try_get_by_index::<i64>(1)?.unsigned_abs()));
        total = row.try_get_by_index::<i64>(2).map_or(total, i64::unsigned_abs);
    }
    Ok((total, samples))
}

fn rowids(after: i64, upto: i64) -> Expr {
    Expr::cust_with_values("\"messages\".\"rowid\" > ? AND \"messages\".\"rowid\" <= ?", [after, upto])
}

impl SearchProfiles {
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
        scans: &ScanGate,
    ) -> Result<Option<MatchPoints>, RepoError> {
        match self.kept(q, at) {
            Some(kept) if kept.at.top == at.top => Ok(Some(kept.points.clone())),
            Some(kept) => {
                let mut points = kept.points.clone();
                points.add(&matching_ts(txn, q, None, Some(rowids(kept.at.top, at.top))).await.map_err(unavailable)?);
                Ok(Some(points))
            }
            None if needed => self.first(txn, q, index, at, scans).await.map(Some),
            None => Ok(None),
        }
    }

    /// A new profile, built once however many readers ask for it at the same time: the others
    /// wait for it rather than repeat the pass.
    async fn first(
        &self,
        txn: &DatabaseTransaction,
        q: &TextQuery,
        index: Option<&IndexedSearch>,
        at: Mark,
        scans: &ScanGate,
    ) -> Result<MatchPoints, RepoError> {
        let turn = self.building.lock().ok().map(|mut building| {
            if building.len() >= CAPACITY {
                building.retain(|_, turn| Arc::strong_count(turn) > 1);
            }
            building.entry(q.folded().to_owned()).or_default().clone()
        });
        let _turn = match &turn {
            Some(turn) => Some(turn.lock().await),
            None => None,
        };
        if let Some(kept) = self.kept(q, at).filter(|kept| kept.at.top == at.top) {
            return Ok(kept.points.clone());
        }
        // A scan of every row takes its turn with the others (see [`ScanGate`]).
        let _scan = if index.is_none() { Some(scans.turn().await?) } else { None };
        let points = build(txn, q, index).await.map_err(unavailable)?;
        self.keep(q, at, points.clone());
        Ok(points)
    }

    /// The newest profile of `q` that `at` can be brought to.
    fn kept(&self, q: &TextQuery, at: Mark) -> Option<Arc<Profile>> {
        let kept = self.profiles.lock().ok()?;
        kept.get(q.folded())?.iter().rev().find(|p| p.at.erased == at.erased && p.at.top <= at.top).cloned()
    }

    /// How many matches `q` had in a kept profile `at` can be brought to: at most as many as it
    /// has in `at`, and none are read to know it.
    pub(super) fn known_matches(&self, q: &TextQuery, at: Mark) -> Option<u64> {
        self.kept(q, at).map(|kept| kept.points.total())
    }

    /// A search alone or beside `since`: its page (`limit + 1` rows at most) and `total` from
    /// `points`, the profile of the search in `search`'s snapshot `at`, which it then keeps with
    /// what the reading taught it.
    ///
    /// # Errors
    /// The database cannot be read.
    pub(super) async fn read(
        &self,
        search: Search<'_>,
        mut points: MatchPoints,
        at: Mark,
        filter: &MessageFilter,
        page: Page,
    ) -> Result<(Vec<Model>, u64), DbErr> {
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
        self.keep(search.q, at, points);
        Ok((rows, total))
    }

    /// Keeps `points`, the profile of `q` in the snapshot `at`.
    pub(super) fn keep(&self, q: &TextQuery, at: Mark, points: MatchPoints) {
        let Ok(mut kept) = self.profiles.lock() else { return };
        if kept.len() >= CAPACITY && !kept.contains_key(q.folded()) {
            kept.clear();
        }
        let versions = kept.entry(q.folded().to_owned()).or_default();
        versions.retain(|p| p.at.erased == at.erased && p.at.top != at.top);
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
    /// Rows in the snapshot, to choose between walking the `ts` index and gathering through the
    /// text index.
    pub(super) rows: u64,
}

impl Search<'_> {
    /// The matches whose `ts` is smaller than `ts`, exactly: from the points, and a walk of one
    /// gap when they do not know, which teaches them what it passes.
    ///
    /// # Errors
    /// The database cannot be read.
    pub(super) async fn matches_before(&self, points: &mut MatchPoints, ts: i64) -> Result<u64, DbErr> {
        let (from, below, gap) = match points.locate(ts) {
            Located::Exact(n) => return Ok(n),
            Located::Between { from, below, gap } => (from, below, gap),
        };
        let gather = !dense(points.total(), self.rows, Page { limit: 0, offset: gap });
        let bound = Column::Ts.gte(from).and(Column::Ts.lt(ts));
        let mut walked = matching_ts(self.txn, self.q, self.index.filter(|_| gather), Some(bound)).await?;
        walked.sort_unstable();
        points.learn(from, below, &walked, ts);
        Ok(below + walked.len() as u64)
    }

    /// A page of the search alone or beside `since`, without a cursor, read from the point
    /// nearest its first row, so that its depth costs nothing. `since_below` is what
    /// [`Self::matches_before`] said of `since`; the page holds `limit + 1` rows at most.
    ///
    /// # Errors
    /// The database cannot be read.
    pub(super) async fn deep_page(
        &self,
        points: &MatchPoints,
        since: Option<i64>,
        since_below: u64,
        page: Page,
    ) -> Result<Vec<Model>, DbErr> {
        let (from, skip) = points.start(since.unwrap_or(i64::MIN), since_below, page.offset);
        let walk = dense(points.total(), self.rows, Page { offset: skip, ..page });
        filtered(&needle_only(self.q), self.index.filter(|_| !walk))
            .filter(Column::Ts.gte(from))
            .order_by_asc(Column::Ts)
            .order_by_asc(Column::MessageId)
            .limit(u64::from(page.limit) + 1)
            .offset(skip)
            .all(self.txn)
            .await
    }

    /// A cursor page of the search alone or beside `since`: the `ts` index seeks to the cursor.
    ///
    /// # Errors
    /// The database cannot be read.
    pub(super) async fn cursor_page(
        &self,
        points: &MatchPoints,
        filter: &MessageFilter,
        page: Page,
    ) -> Result<Vec<Model>, DbErr> {
        let walk = dense(points.total(), self.rows, page);
        after_cursor(filtered(filter, self.index.filter(|_| !walk)), filter)
            .order_by_asc(Column::Ts)
            .order_by_asc(Column::MessageId)
            .limit(u64::from(page.limit) + 1)
            .offset(page.offset)
            .all(self.txn)
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::adapters::batching::BatchInsert;
    use crate::adapters::db::checkpoint::CheckpointPolicy;
    use crate::adapters::db::test_support::{group, open, text};
    use crate::adapters::db::text_index::catch_up;
    use crate::domain::ports::MessageRepository;
    use crate::domain::query::{Page, RawListQuery};
    use crate::domain::timestamp::Timestamp;

    const BY_HAND: CheckpointPolicy = CheckpointPolicy { every: Duration::from_secs(3600), reuse_at_pages: 4_096 };

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
        catch_up(&repo.writer_connection(), &repo.write_gate()).await.unwrap();
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
}
