//! The `total` of a search, remembered and brought up to date instead of counted again.
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
//! PostgreSQL remembers totals in the same map, in its own terms (see `postgres_search`).

use std::collections::HashMap;
use std::sync::Mutex;

use sea_orm::sea_query::Expr;
use sea_orm::{DatabaseTransaction, DbErr, PaginatorTrait, QueryFilter};

use super::counts::ERASED;
use super::postgres_search::Profiles;
use super::repository::{filtered, sqlite_scalar};
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
pub(super) struct SearchTotals {
    known: Mutex<HashMap<String, Known>>,
    /// PostgreSQL: where needles' matches fall in `ts`, for totals beside `since`.
    pub(super) profiles: Profiles,
}

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
        let Some((known, total)) = self.known(filter, at) else {
            return Ok(None);
        };
        if known.top == at.top {
            return Ok(Some(total));
        }
        let since = filtered(filter, None).filter(rowids(known.top, at.top));
        Ok(Some(total + since.count(txn).await?))
    }

    /// What is remembered of `filter` (its cursor aside), if that can be brought up to `at`.
    pub(super) fn known(&self, filter: &MessageFilter, at: Mark) -> Option<(Mark, u64)> {
        let known = self.known.lock().map_or(None, |m| m.get(&key(filter)).copied());
        known.filter(|k| k.at.leads_to(at)).map(|k| (k.at, k.total))
    }

    /// Remembers that `filter` (its cursor aside) matches `total` rows in the snapshot `at`.
    pub(super) fn remember(&self, filter: &MessageFilter, at: Mark, total: u64) {
        if let Ok(mut known) = self.known.lock() {
            if known.len() >= CAPACITY && !known.contains_key(&key(filter)) {
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
