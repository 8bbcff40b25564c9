//! Counts maintained in the transactions that write and delete messages, so that totals cost a
//! few index probes at any size (migration `m20250122_000001_maintained_counts`).
//!
//! `message_counts` holds, for each second, minute, hour and day of `ts` that has messages, how
//! many it has. The messages with `ts >= since` are then the rows of the partial second at
//! `since` (counted through the `ts` index: at most one second of traffic), the seconds up to
//! the next whole minute, the minutes up to the next whole hour, the hours up to the next whole
//! day and every later day: at most 60 + 60 + 24 bucket rows and the days. The row with span 0
//! counts distinct senders, for `/stats`; the row with span -1 counts deletions.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use super::entity::message;
use super::entity::message_count::{ActiveModel, Column, Entity};

/// Bucket widths in microseconds, finest first; each divides the next.
pub(super) const SPANS: [i64; 4] = [1_000_000, 60_000_000, 3_600_000_000, 86_400_000_000];

/// The span of the row that counts distinct senders.
const SENDERS: i64 = 0;

/// The span of the row that counts deleted messages (see `search_totals`).
pub(super) const ERASED: i64 = -1;

/// A sender whose messages are at most this many is counted row by row for `from` + `since`.
const FEW: u64 = 2_048;

fn floor(ts: i64, span: i64) -> i64 {
    ts - ts.rem_euclid(span)
}

fn ceil(ts: i64, span: i64) -> i64 {
    let below = ts.rem_euclid(span);
    if below == 0 { ts } else { ts - below + span }
}

/// What one transaction changes in the counts.
#[derive(Debug, Default)]
pub(super) struct Tally {
    changes: BTreeMap<(i64, i64), i64>,
}

impl Tally {
    /// A message with this `ts` (microseconds) was stored (`delta` 1) or deleted (-1).
    pub(super) fn message(&mut self, ts: i64, delta: i64) {
        for span in SPANS {
            *self.changes.entry((span, floor(ts, span))).or_default() += delta;
        }
    }

    /// Senders appeared (`delta` > 0) or lost their last message (< 0).
    pub(super) fn senders(&mut self, delta: i64) {
        *self.changes.entry((SENDERS, 0)).or_default() += delta;
    }

    /// Messages were deleted.
    pub(super) fn erased(&mut self, n: usize) {
        *self.changes.entry((ERASED, 0)).or_default() += i64::try_from(n).unwrap_or(i64::MAX);
    }

    /// The changes as (span, start, delta), in key order, leaving out those that cancelled out.
    pub(super) fn changes(&self) -> impl Iterator<Item = (i64, i64, i64)> + '_ {
        self.changes.iter().filter(|(_, n)| **n != 0).map(|((span, start), n)| (*span, *start, *n))
    }

    /// Adds the changes in one statement, in key order (concurrent writers on PostgreSQL then lock
    /// rows alike), and drops the buckets a deletion emptied.
    pub(super) async fn apply(&self, txn: &DatabaseTransaction) -> Result<(), DbErr> {
        let changes: Vec<_> = self.changes().collect();
        if changes.is_empty() {
            return Ok(());
        }
        let emptied = changes.iter().any(|(_, _, n)| *n < 0);
        let rows = changes.iter().map(|(span, start, n)| ActiveModel {
            span: sea_orm::ActiveValue::Set(*span),
            start: sea_orm::ActiveValue::Set(*start),
            n: sea_orm::ActiveValue::Set(*n),
        });
        Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([Column::Span, Column::Start])
                    .value(Column::N, Expr::cust("message_counts.n + excluded.n"))
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        if emptied {
            let touched = changes
                .iter()
                .filter(|(span, _, n)| *span > 0 && *n < 0)
                .fold(Condition::any(), |any, (span, start, _)| {
                    any.add(Column::Span.eq(*span).and(Column::Start.eq(*start)))
                });
            Entity::delete_many().filter(Column::N.lte(0)).filter(touched).exec(txn).await?;
        }
        Ok(())
    }
}

/// `CAST(coalesce(sum(n), 0) AS BIGINT)`: PostgreSQL sums BIGINTs as NUMERIC.
async fn sum(txn: &DatabaseTransaction, condition: Condition) -> Result<u64, DbErr> {
    let total: Option<i64> = Entity::find()
        .select_only()
        .column_as(Expr::cust("CAST(coalesce(sum(n), 0) AS BIGINT)"), "total")
        .filter(condition)
        .into_tuple()
        .one(txn)
        .await?;
    Ok(total.unwrap_or(0).unsigned_abs())
}

/// Every stored message.
pub(super) async fn all(txn: &DatabaseTransaction) -> Result<u64, DbErr> {
    sum(txn, Condition::all().add(Column::Span.eq(SPANS[SPANS.len() - 1]))).await
}

/// Distinct senders.
pub(super) async fn senders(txn: &DatabaseTransaction) -> Result<u64, DbErr> {
    sum(txn, Condition::all().add(Column::Span.eq(SENDERS))).await
}

/// Messages with `ts >= since` (microseconds).
pub(super) async fn since(txn: &DatabaseTransaction, since: i64) -> Result<u64, DbErr> {
    let mut buckets = Condition::any();
    for (i, span) in SPANS.iter().enumerate() {
        let range = Column::Span.eq(*span).and(Column::Start.gte(ceil(since, *span)));
        let range = match SPANS.get(i + 1) {
            Some(wider) => range.and(Column::Start.lt(ceil(since, *wider))),
            None => range,
        };
        buckets = buckets.add(range);
    }
    let partial = message::Entity::find()
        .filter(message::Column::Ts.gte(since))
        .filter(message::Column::Ts.lt(ceil(since, SPANS[0])))
        .count(txn)
        .await?;
    Ok(sum(txn, buckets).await? + partial)
}

/// Messages from `from` with `ts >= since`, of the `sent` it has in all. A busy sender's rows are
/// counted on whichever side of `since` the whole store suggests is smaller.
pub(super) async fn from_since(txn: &DatabaseTransaction, from: &str, since: i64, sent: u64) -> Result<u64, DbErr> {
    let rows = |after: bool| {
        let side = if after { message::Column::Ts.gte(since) } else { message::Column::Ts.lt(since) };
        message::Entity::find().filter(message::Column::FromMsisdn.eq(from)).filter(side).count(txn)
    };
    if sent <= FEW {
        return rows(true).await;
    }
    let (later, everything) = (self::since(txn, since).await?, all(txn).await?);
    if later.saturating_mul(2) <= everything { rows(true).await } else { Ok(sent.saturating_sub(rows(false).await?)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_their_instants_also_before_1970() {
        for ts in [-86_400_000_001, -1, 0, 1, 59_999_999, 60_000_000, 1_736_900_000_123_456] {
            for span in SPANS {
                let start = floor(ts, span);
                assert!(start <= ts && ts < start + span, "{ts} {span}");
                assert_eq!(start.rem_euclid(span), 0);
                let up = ceil(ts, span);
                assert!(up >= ts && up - ts < span && up.rem_euclid(span) == 0, "{ts} {span}");
            }
        }
        assert_eq!(ceil(120_000_000, SPANS[1]), 120_000_000);
    }
}
