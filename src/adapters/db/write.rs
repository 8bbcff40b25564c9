//! The write path of [`SqlMessages`]: a group of deliveries in one transaction, the log sync after
//! it, and the readiness probe's write.

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{DatabaseTransaction, DbErr, EntityTrait};

use super::convert::{status_to_active, to_active};
use super::counts::Tally;
use super::entity::{message, sender_count, status, write_probe};
use super::repository::{SqlMessages, unavailable};
use crate::adapters::batching::BatchInsert;
use crate::domain::delivery::{Delivery, DeliveryStatus, Stored};
use crate::domain::message::Message;
use crate::domain::ports::{Inserted, RepoError};
use crate::domain::timestamp::Timestamp;

/// Bytes the readiness probe writes: about the size of a large message and its raw object.
const PROBE_BYTES: usize = 64 * 1024;

/// Rows per `INSERT`: a Cloud API envelope holds up to a thousand updates and a group several
/// envelopes, while a statement may bind at most 32,766 values on SQLite and 65,535 on PostgreSQL.
const ROWS_PER_STATEMENT: usize = 1_000;

/// Which updates of a group are candidates for a row: the first occurrence of each key.
pub(super) struct Candidates<'a> {
    pub(super) messages: Vec<(&'a Message, Timestamp)>,
    pub(super) statuses: Vec<(&'a DeliveryStatus, Timestamp)>,
}

impl<'a> Candidates<'a> {
    /// Sorted by key: on PostgreSQL an insert waits on a key another replica's open transaction has
    /// just inserted, so two groups sharing keys in opposite orders would deadlock.
    pub(super) fn of(batch: &'a [(Delivery, Timestamp)]) -> Self {
        let mut seen = HashSet::new();
        let mut messages: Vec<_> = batch
            .iter()
            .flat_map(|(d, at)| d.messages.iter().map(move |m| (m, *at)))
            .filter(|(m, _)| seen.insert(m.message_id.as_str()))
            .collect();
        messages.sort_unstable_by(|a, b| a.0.message_id.cmp(&b.0.message_id));
        let mut seen = HashSet::new();
        let mut statuses: Vec<_> = batch
            .iter()
            .flat_map(|(d, at)| d.statuses.iter().map(move |s| (s, *at)))
            .filter(|(s, _)| seen.insert(status_key(s)))
            .collect();
        statuses.sort_unstable_by(|a, b| status_key(a.0).cmp(&status_key(b.0)));
        Self { messages, statuses }
    }
}

fn status_key(s: &DeliveryStatus) -> (&str, &str) {
    (s.message_id.as_str(), s.status.as_str())
}

/// Inserts the messages, returning the ids actually written.
async fn insert_messages(txn: &DatabaseTransaction, rows: &[(&Message, Timestamp)]) -> Result<HashSet<String>, DbErr> {
    let mut written = HashSet::with_capacity(rows.len());
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let result = message::Entity::insert_many(chunk.iter().map(|(m, at)| to_active(m, *at)))
            .on_conflict_do_nothing_on([message::Column::MessageId])
            .exec_with_returning_keys(txn)
            .await?;
        if let sea_orm::TryInsertResult::Inserted(keys) = result {
            written.extend(keys);
        }
    }
    Ok(written)
}

/// Inserts the statuses, returning the (message id, status) pairs actually written.
async fn insert_statuses(
    txn: &DatabaseTransaction,
    rows: &[(&DeliveryStatus, Timestamp)],
) -> Result<HashSet<(String, String)>, DbErr> {
    let mut written = HashSet::with_capacity(rows.len());
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let result = status::Entity::insert_many(chunk.iter().map(|(s, at)| status_to_active(s, *at)))
            .on_conflict_do_nothing_on([status::Column::MessageId, status::Column::Status])
            .exec_with_returning_keys(txn)
            .await?;
        if let sea_orm::TryInsertResult::Inserted(keys) = result {
            written.extend(keys);
        }
    }
    Ok(written)
}

/// Adds each sender's new messages to its count, creating rows for first-time senders, in one
/// statement; returns how many senders are new. Rows go in sender order so that concurrent writers
/// on PostgreSQL lock them in the same order and cannot deadlock.
async fn count_senders(txn: &DatabaseTransaction, per_sender: &BTreeMap<&str, i64>) -> Result<i64, DbErr> {
    if per_sender.is_empty() {
        return Ok(0);
    }
    let rows = per_sender
        .iter()
        .map(|(from, n)| sender_count::ActiveModel { from_msisdn: Set((*from).to_owned()), message_count: Set(*n) });
    let bump = Expr::cust("sender_counts.message_count + excluded.message_count");
    let counted = sender_count::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(sender_count::Column::FromMsisdn)
                .value(sender_count::Column::MessageCount, bump)
                .to_owned(),
        )
        .exec_with_returning(txn)
        .await?;
    // A stored sender had at least one message before, so only a new row counts exactly this
    // group's messages (rows whose count reached 0 are deleted with it).
    let new = counted.iter().filter(|row| per_sender.get(row.from_msisdn.as_str()) == Some(&row.message_count));
    Ok(i64::try_from(new.count()).unwrap_or(i64::MAX))
}

/// Each delivery's outcomes: created where this group wrote the row, duplicate elsewhere
/// (stored before, or an earlier update of the same group holds the key).
pub(super) fn outcomes(
    batch: &[(Delivery, Timestamp)],
    mut messages: HashSet<String>,
    mut statuses: HashSet<(String, String)>,
) -> Vec<Stored> {
    let outcome = |created: bool| if created { Inserted::Created } else { Inserted::Duplicate };
    batch
        .iter()
        .map(|(d, _)| Stored {
            messages: d.messages.iter().map(|m| outcome(messages.remove(m.message_id.as_str()))).collect(),
            statuses: d
                .statuses
                .iter()
                .map(|s| outcome(statuses.remove(&(s.message_id.as_str().to_owned(), s.status.as_str().to_owned()))))
                .collect(),
        })
        .collect()
}

#[async_trait]
impl BatchInsert for SqlMessages {
    async fn insert_batch(&self, batch: Vec<(Delivery, Timestamp)>) -> Result<Vec<Stored>, RepoError> {
        if let Some(direct) = &self.direct {
            let _turn = self.gate.lock().await;
            let written = direct.insert(batch).await?;
            if let (Some(horizon), Some(top)) = (&self.horizon, written.top) {
                horizon.committed(top);
                if self.wal.is_none() {
                    // Commits are as durable as this configuration makes them; no sync follows.
                    horizon.synced(top);
                }
            }
            return Ok(written.outcomes);
        }
        let candidates = Candidates::of(&batch);
        let _turn = self.gate.lock().await;
        let txn = self.begin_write().await?;
        let messages = insert_messages(&txn, &candidates.messages).await.map_err(unavailable)?;
        let statuses = insert_statuses(&txn, &candidates.statuses).await.map_err(unavailable)?;
        let mut per_sender: BTreeMap<&str, i64> = BTreeMap::new();
        let mut tally = Tally::default();
        for (m, _) in candidates.messages.iter().filter(|(m, _)| messages.contains(m.message_id.as_str())) {
            if let Some(sender) = m.sender_key() {
                *per_sender.entry(sender).or_default() += 1;
            }
            tally.message(m.ts.as_micros(), 1);
        }
        tally.senders(count_senders(&txn, &per_sender).await.map_err(unavailable)?);
        tally.apply(&txn).await.map_err(unavailable)?;
        // No feed horizon to move: only an SQLite file has one, and its groups take the direct path.
        txn.commit().await.map_err(unavailable)?;
        Ok(outcomes(&batch, messages, statuses))
    }

    async fn probe_write(&self) -> Result<(), RepoError> {
        let _turn = self.gate.lock().await;
        if let Some(direct) = &self.direct {
            return direct.probe(PROBE_BYTES).await;
        }
        let txn = self.begin_write().await?;
        let row = write_probe::ActiveModel { id: Set(1), filler: Set(vec![0; PROBE_BYTES]) };
        write_probe::Entity::insert(row).exec_without_returning(&txn).await.map_err(unavailable)?;
        write_probe::Entity::delete_by_id(1).exec(&txn).await.map_err(unavailable)?;
        txn.commit().await.map_err(unavailable)
    }

    async fn flush(&self) -> Result<(), RepoError> {
        let Some(wal) = self.wal.clone() else {
            return Ok(());
        };
        let upto = self.horizon.as_ref().map(|h| h.syncing());
        let synced = tokio::task::spawn_blocking(move || wal.sync()).await;
        match synced {
            Ok(Ok(())) => {
                if let (Some(horizon), Some(upto)) = (&self.horizon, upto) {
                    horizon.synced(upto);
                }
                Ok(())
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::StorageFull => {
                Err(RepoError::Full(format!("fsync of the write-ahead log failed: {e}")))
            }
            Ok(Err(e)) => Err(RepoError::Unavailable(format!("fsync of the write-ahead log failed: {e}"))),
            Err(e) => Err(RepoError::Unavailable(format!("fsync of the write-ahead log did not run: {e}"))),
        }
    }
}
