//! SQLite: the `total` of a search, remembered and brought up to date instead of counted again.
//!
//! A search's total costs a pass over its matches, which for a common word is a large share of
//! the store; yet the same search comes back again and again — the next cursor page, a page
//! that refreshes, the next person looking for the same word. SQLite's one writer commits rows in
//! rowid order, so a snapshot holds exactly the stored rows up to its largest rowid, and a total
//! known at rowid `r` becomes the total at `r'` by counting only the matches in `(r, r']`. A
//! deletion could take a counted row away, so every deletion bumps a counter kept in the same
//! transaction (`message_counts`, span -1), and a remembered total is used only at the count it
//! was taken with. Every answer is therefore as exact as a full count.
//!
//! PostgreSQL has no commit-ordered rowid, but each row records the transaction that wrote it
//! (`feed_xid`, see `feed`). Every transaction older than a snapshot's `xmin` has ended, so the
//! rows they wrote are settled: a later snapshot sees exactly the same ones, deletions aside. A
//! total is remembered as the count of its settled matches; a later snapshot adds the matches of
//! the transactions settled since, and counts afresh only those not yet settled (the few of the
//! last moments, or all since a transaction that has been left open).

use std::collections::HashMap;
use std::sync::Mutex;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, PaginatorTrait, QueryFilter, QuerySelect, Statement,
};

use super::counts::ERASED;
use super::repository::{filtered, like_pattern, sqlite_scalar};
use crate::domain::query::MessageFilter;

/// Searches remembered at most; when full, the memory starts over.
const CAPACITY: usize = 4_096;

/// Where a read snapshot stands.
#[derive(Clone, Copy, Debug)]
pub(super) struct Mark {
    /// SQLite: the largest rowid it holds. PostgreSQL: the largest transaction id below its
    /// `xmin`, so every row written by a transaction up to this one is settled.
    pub(super) top: i64,
    /// Deletions committed before it.
    pub(super) erased: i64,
    /// Deletions that failed after taking their rows out of the text index, before it began
    /// (see `SqlMessages::index_epoch`): a search meanwhile missed those rows.
    pub(super) epoch: u64,
}

impl Mark {
    /// Whether what was counted at `self` can be brought up to `at`.
    pub(super) fn leads_to(&self, at: Mark) -> bool {
        self.erased == at.erased && self.epoch == at.epoch && self.top <= at.top
    }
}

/// Reads where the snapshot of `txn` stands.
///
/// # Errors
/// The database cannot be read.
pub(super) async fn mark(txn: &DatabaseTransaction, epoch: u64) -> Result<Mark, DbErr> {
    let top = super::feed::last_rowid(txn).await?;
    let erased =
        sqlite_scalar(txn, "SELECT n FROM message_counts WHERE span = ? AND start = 0", vec![ERASED.into()]).await?;
    Ok(Mark { top, erased, epoch })
}

#[derive(Clone, Copy, Debug)]
struct Known {
    at: Mark,
    total: u64,
}

/// Totals of searches as of the marks they were counted at.
#[derive(Debug, Default)]
pub(super) struct SearchTotals(Mutex<HashMap<String, Known>>);

fn key(filter: &MessageFilter) -> String {
    let text = filter.text.as_ref().map(|q| q.folded());
    let from = filter.from.as_ref().map(|f| f.as_str());
    format!("{from:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{text:?}", filter.since, filter.source, filter.kind)
}

impl SearchTotals {
    /// The total of `filter` (its cursor aside) in the snapshot `at`, when a remembered one can be
    /// brought up to it: counts only the rows stored since. The caller remembers the answer.
    ///
    /// # Errors
    /// The database cannot be read.
    pub(super) async fn recall(
        &self,
        txn: &DatabaseTransaction,
        filter: &MessageFilter,
        at: Mark,
    ) -> Result<Option<u64>, DbErr> {
        let known = self.0.lock().map_or(None, |m| m.get(&key(filter)).copied());
        let Some(known) = known.filter(|k| k.at.leads_to(at)) else {
            return Ok(None);
        };
        if known.at.top == at.top {
            return Ok(Some(known.total));
        }
        let since = filtered(filter, None).filter(rowids(known.at.top, at.top));
        Ok(Some(known.total + since.count(txn).await?))
    }

    /// PostgreSQL: the total of `filter` (its cursor aside) in the snapshot of `txn`, from the
    /// settled matches remembered at an earlier snapshot where one can be brought up to it;
    /// remembers the settled matches of this one.
    ///
    /// # Errors
    /// The database cannot be read.
    pub(super) async fn postgres(&self, txn: &DatabaseTransaction, filter: &MessageFilter) -> Result<u64, DbErr> {
        let at = postgres_mark(txn).await?;
        let known = self.0.lock().map_or(None, |m| m.get(&key(filter)).copied()).filter(|k| k.at.leads_to(at));
        let (settled, total) = match (known, &filter.text) {
            (Some(known), Some(q)) => {
                // The few rows since are tested one by one: the trigram index would first gather
                // every match of the needle, which is the work remembering saves.
                let rest = MessageFilter { text: None, ..filter.clone() };
                let recent = filtered(&rest, None).filter(xids_after(known.at.top)).filter(Expr::cust_with_values(
                    "coalesce(\"messages\".\"text_folded\", '') LIKE $1 ESCAPE '\\'",
                    [like_pattern(q.folded())],
                ));
                let (since, total) = settled_and_all(recent, at.top, txn).await?;
                (known.total + since, known.total + total)
            }
            _ => settled_and_all(filtered(filter, None), at.top, txn).await?,
        };
        self.remember(filter, at, settled);
        Ok(total)
    }

    /// Remembers that `filter` (its cursor aside) matches `total` rows in the snapshot `at`.
    pub(super) fn remember(&self, filter: &MessageFilter, at: Mark, total: u64) {
        if let Ok(mut known) = self.0.lock() {
            if known.len() >= CAPACITY {
                known.clear();
            }
            known.insert(key(filter), Known { at, total });
        }
    }
}

/// The rows stored after rowid `after`, up to `upto`: in a snapshot that holds `upto`, those
/// committed after one that held `after`.
pub(super) fn rowids(after: i64, upto: i64) -> Expr {
    Expr::cust_with_values("\"messages\".\"rowid\" > ? AND \"messages\".\"rowid\" <= ?", [after, upto])
}

/// Where the snapshot of `txn` stands on PostgreSQL (see [`Mark::top`]).
async fn postgres_mark(txn: &DatabaseTransaction) -> Result<Mark, DbErr> {
    let stmt = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1 AS top, \
         coalesce((SELECT n FROM message_counts WHERE span = $1 AND start = 0), 0) AS erased",
        [ERASED.into()],
    );
    let row = txn.query_one_raw(stmt).await?.ok_or_else(|| DbErr::RecordNotFound("the snapshot's xmin".into()))?;
    // No text index of its own to fall behind on PostgreSQL, so no epoch either.
    Ok(Mark { top: row.try_get("", "top")?, erased: row.try_get("", "erased")?, epoch: 0 })
}

/// The rows of transactions after `xid`.
fn xids_after(xid: i64) -> Expr {
    Expr::cust_with_values("\"messages\".\"feed_xid\" > $1::text::xid8", [xid.to_string()])
}

/// How many rows `select` keeps among those settled at `top`, and in all, in one pass.
async fn settled_and_all(
    select: sea_orm::Select<super::entity::message::Entity>,
    top: i64,
    txn: &DatabaseTransaction,
) -> Result<(u64, u64), DbErr> {
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
