//! PostgreSQL: the totals of searches from what earlier snapshots counted.
//!
//! PostgreSQL has no commit-ordered rowid, but each row records the transaction that wrote it
//! (`feed_xid`, see `feed`). Every transaction older than a snapshot's `xmin` has ended, so the
//! rows they wrote are settled: a later snapshot sees exactly the same ones, deletions aside (a
//! deletion bumps a counter, and nothing counted before it is used again). A search's total is
//! remembered as the count of its settled matches; a later snapshot adds the matches of the
//! transactions settled since, and counts afresh only those not yet settled (the last moments'
//! rows, or every row since a transaction that was left open).
//!
//! A search beside `since` differs with every `since`, so it is answered from a profile of its
//! needle instead: the `ts` of every match, or for a needle with more than [`POINTS`] matches of
//! at most that many evenly spaced ones, each with how many matches come before it. The matches
//! at or after `since` are then all but those before the nearest point, and those between it and
//! `since` (a short walk of the `ts` index, each row tested), plus the matches among the rows
//! written after the profile, each tested.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sea_orm::sea_query::Expr;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, QueryFilter, QuerySelect, Select, Statement};

use super::counts::ERASED;
use super::entity::message::Entity;
use super::repository::{filtered, like_pattern};
use super::search_totals::{Mark, SearchTotals};
use crate::domain::query::{MessageFilter, TextQuery};

/// Points a profile keeps at most (at least half as many when it cannot keep every match); a
/// needle with no more matches keeps every one.
const POINTS: i64 = 1_024;

/// Needles profiled at most; when full, the memory starts over.
const NEEDLES: usize = 256;

/// Rows written after a profile that a search tests one by one before the profile is built again.
const STALE_ROWS: i64 = 20_000;

/// A text test, against the pattern in parameter `$n`, that the trigram index cannot serve, for
/// rows found another way: through the index the search would first gather every match of the
/// needle, which is the work remembering saves.
fn tested(n: u8) -> String {
    format!("coalesce(\"messages\".\"text_folded\", '') LIKE ${n} ESCAPE '\\'")
}

impl SearchTotals {
    /// The total of `filter` (its cursor aside), a search for `q`, in the snapshot of `txn`, from
    /// what an earlier snapshot counted where that can be brought up to this one.
    ///
    /// # Errors
    /// The database cannot be read.
    pub(super) async fn postgres(
        &self,
        txn: &DatabaseTransaction,
        filter: &MessageFilter,
        q: &TextQuery,
    ) -> Result<u64, DbErr> {
        let at = mark(txn).await?;
        if let Some(since) = filter.since
            && filter.from.is_none()
            && filter.source.is_none()
            && filter.kind.is_none()
        {
            return self.profiles.since(txn, q, since.as_micros(), at).await;
        }
        let (settled, total) = match self.known(filter, at) {
            Some((known, total)) => {
                let rest = MessageFilter { text: None, ..filter.clone() };
                let recent = filtered(&rest, None)
                    .filter(Expr::cust_with_values(
                        "\"messages\".\"feed_xid\" > $1::text::xid8",
                        [known.top.to_string()],
                    ))
                    .filter(Expr::cust_with_values(tested(1), [like_pattern(q.folded())]));
                let (since, all) = settled_and_all(recent, at.top, txn).await?;
                (total + since, total + all)
            }
            None => settled_and_all(filtered(filter, None), at.top, txn).await?,
        };
        self.remember(filter, at, settled);
        Ok(total)
    }
}

/// Where the snapshot of `txn` stands (see [`Mark::top`]).
async fn mark(txn: &DatabaseTransaction) -> Result<Mark, DbErr> {
    let stmt = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1 AS top, \
         coalesce((SELECT n FROM message_counts WHERE span = $1 AND start = 0), 0) AS erased",
        [ERASED.into()],
    );
    let row = txn.query_one_raw(stmt).await?.ok_or_else(|| DbErr::RecordNotFound("the snapshot's xmin".into()))?;
    // No text index of its own to fall behind, so no epoch either.
    Ok(Mark { top: row.try_get("", "top")?, erased: row.try_get("", "erased")?, epoch: 0 })
}

/// How many rows `select` keeps among those settled at `top`, and in all, in one pass.
async fn settled_and_all(select: Select<Entity>, top: i64, txn: &DatabaseTransaction) -> Result<(u64, u64), DbErr> {
    let settled = Expr::cust_with_values(
        "count(*) FILTER (WHERE \"messages\".\"feed_xid\" <= $1::text::xid8)",
        [top.to_string()],
    );
    let counts: Option<(i64, i64)> = select
        .select_only()
        .column_as(settled, "settled")
        .column_as(Expr::cust("count(*)"), "all")
        .into_tuple()
        .one(txn)
        .await?;
    let (settled, all) = counts.unwrap_or_default();
    Ok((u64::try_from(settled).unwrap_or(0), u64::try_from(all).unwrap_or(0)))
}

fn count(row: &sea_orm::QueryResult, column: &str) -> Result<u64, DbErr> {
    Ok(u64::try_from(row.try_get::<i64>("", column)?).unwrap_or(0))
}

/// Where a needle's settled matches fall in `ts`.
#[derive(Debug)]
struct Profile {
    at: Mark,
    /// The settled matches at `at`.
    matches: u64,
    /// In `ts` order, the `ts` of evenly spaced matches, each with the number of matches whose
    /// `ts` is smaller; the first match is always one.
    points: Vec<(i64, u64)>,
}

impl Profile {
    async fn build(txn: &DatabaseTransaction, q: &TextQuery, at: Mark) -> Result<Self, DbErr> {
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT ts, before, n FROM ( \
               SELECT ts, row_number() OVER w - 1 AS i, rank() OVER w - 1 AS before, count(*) OVER () AS n \
               FROM messages WHERE text_folded LIKE $1 ESCAPE '\\' AND feed_xid <= $2::text::xid8 \
               WINDOW w AS (ORDER BY ts)) m \
             WHERE i % greatest(1, ceil(n / $3::float8))::bigint = 0 ORDER BY i",
            [like_pattern(q.folded()).into(), at.top.to_string().into(), POINTS.into()],
        );
        let rows = txn.query_all_raw(stmt).await?;
        let points = rows
            .iter()
            .map(|r| Ok((r.try_get::<i64>("", "ts")?, count(r, "before")?)))
            .collect::<Result<Vec<_>, DbErr>>()?;
        let matches = rows.first().map_or(Ok(0), |r| count(r, "n"))?;
        Ok(Self { at, matches, points })
    }

    /// Whether every match is a point, so no gap between points needs counting.
    fn every_match(&self) -> bool {
        self.matches <= POINTS.unsigned_abs()
    }

    /// The settled matches at `self.at` with `ts >= since`, in any later snapshot `txn`.
    async fn since(&self, txn: &DatabaseTransaction, q: &TextQuery, since: i64) -> Result<u64, DbErr> {
        let below = self.points.partition_point(|(ts, _)| *ts < since);
        if self.every_match() {
            return Ok(self.matches - below as u64);
        }
        let Some(&(ts, before)) = below.checked_sub(1).and_then(|i| self.points.get(i)) else {
            // The first match is at or after `since`, so all are.
            return Ok(self.matches);
        };
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT count(*) AS n FROM messages WHERE ts >= $1 AND ts < $2 AND feed_xid <= $3::text::xid8 AND {}",
                tested(4)
            ),
            [ts.into(), since.into(), self.at.top.to_string().into(), like_pattern(q.folded()).into()],
        );
        let gap = match txn.query_one_raw(stmt).await? {
            Some(row) => count(&row, "n")?,
            None => 0,
        };
        Ok(self.matches.saturating_sub(before + gap))
    }
}

/// Profiles of needles, by needle.
#[derive(Debug, Default)]
pub(super) struct Profiles(Mutex<HashMap<String, Arc<Profile>>>);

impl Profiles {
    /// The matches of `q` with `ts >= since` in the snapshot of `txn`, which stands at `at`.
    async fn since(&self, txn: &DatabaseTransaction, q: &TextQuery, since: i64, at: Mark) -> Result<u64, DbErr> {
        let known = self.0.lock().map_or(None, |m| m.get(q.folded()).cloned()).filter(|p| p.at.leads_to(at));
        let profile = match known {
            Some(profile) => profile,
            None => {
                let profile = Arc::new(Profile::build(txn, q, at).await?);
                if let Ok(mut profiles) = self.0.lock() {
                    // One built meanwhile from a newer snapshot serves later readers better.
                    let newer = profiles.get(q.folded()).is_some_and(|p| at.leads_to(p.at) && p.at.top > at.top);
                    if !newer {
                        if profiles.len() >= NEEDLES && !profiles.contains_key(q.folded()) {
                            profiles.clear();
                        }
                        profiles.insert(q.folded().to_owned(), Arc::clone(&profile));
                    }
                }
                profile
            }
        };
        let settled = profile.since(txn, q, since).await?;
        let stmt = Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT count(*) FILTER (WHERE ts >= $2 AND {}) AS recent, \
                   count(*) FILTER (WHERE feed_xid <= $4::text::xid8) AS settled \
                 FROM messages WHERE feed_xid > $1::text::xid8",
                tested(3)
            ),
            [
                profile.at.top.to_string().into(),
                since.into(),
                like_pattern(q.folded()).into(),
                at.top.to_string().into(),
            ],
        );
        let (recent, settled_since) = match txn.query_one_raw(stmt).await? {
            Some(row) => (count(&row, "recent")?, count(&row, "settled")?),
            None => (0, 0),
        };
        // Built again by the next search once many rows have settled after it, so that a new one
        // would spare searches testing them; rows still unsettled (behind a transaction left
        // open) would be tested by a new profile's searches just the same.
        if settled_since > STALE_ROWS.unsigned_abs()
            && let Ok(mut profiles) = self.0.lock()
            && profiles.get(q.folded()).is_some_and(|p| Arc::ptr_eq(p, &profile))
        {
            profiles.remove(q.folded());
        }
        Ok(settled + recent)
    }
}
