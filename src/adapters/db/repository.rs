//! [`MessageRepository`] over sea-orm.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, OnConflict};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, TransactionTrait,
};

use super::convert::{from_model, timestamp, to_active};
use super::entity::message::{Column, Entity};
use super::entity::sender_count;
use crate::adapters::batching::BatchInsert;
use crate::domain::message::{Message, Msisdn};
use crate::domain::ports::{Inserted, MessagePage, MessageRepository, RepoError};
use crate::domain::query::{MessageFilter, Page};
use crate::domain::stats::{SenderCount, Stats, rank_senders};
use crate::domain::timestamp::Timestamp;

/// Messages in a relational database reached through sea-orm.
#[derive(Clone, Debug)]
pub struct SqlMessages {
    db: DatabaseConnection,
}

impl SqlMessages {
    /// Wraps a pool whose schema has been migrated.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The underlying pool, to close it on shutdown.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }
}

fn unavailable(e: DbErr) -> RepoError {
    RepoError::Unavailable(e.to_string())
}

/// `%`, `_` and the escape character itself become literals.
fn like_contains(needle: &str) -> LikeExpr {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    LikeExpr::new(pattern).escape('\\')
}

fn filtered(filter: &MessageFilter) -> Select<Entity> {
    let mut select = Entity::find();
    if let Some(from) = &filter.from {
        select = select.filter(Column::FromMsisdn.eq(from.as_str()));
    }
    if let Some(since) = filter.since {
        select = select.filter(Column::Ts.gte(since.as_micros()));
    }
    if let Some(q) = &filter.text {
        select = select.filter(Column::TextFolded.like(like_contains(q.folded())));
    }
    select
}

/// Adds `n` to the sender's count, creating its row on the first message.
async fn count_sender(txn: &DatabaseTransaction, from: &str, n: i64) -> Result<(), DbErr> {
    let row = sender_count::ActiveModel { from_msisdn: Set(from.to_owned()), message_count: Set(n) };
    let bump = Expr::col((sender_count::Entity, sender_count::Column::MessageCount)).add(n);
    sender_count::Entity::insert(row)
        .on_conflict(
            OnConflict::column(sender_count::Column::FromMsisdn)
                .value(sender_count::Column::MessageCount, bump)
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await
        .map(drop)
}

async fn ts_bound(txn: &DatabaseTransaction, aggregate: Expr) -> Result<Option<i64>, RepoError> {
    let bound: Option<Option<i64>> =
        Entity::find().select_only().column_as(aggregate, "bound").into_tuple().one(txn).await.map_err(unavailable)?;
    Ok(bound.flatten())
}

#[async_trait]
impl BatchInsert for SqlMessages {
    async fn insert_batch(&self, batch: Vec<(Message, Timestamp)>) -> Result<Vec<Inserted>, RepoError> {
        // Within a group the first occurrence of an id is the candidate; later ones are duplicates.
        let mut seen = HashSet::with_capacity(batch.len());
        let candidate: Vec<bool> = batch.iter().map(|(m, _)| seen.insert(m.message_id.as_str())).collect();
        let rows = batch.iter().zip(&candidate).filter(|(_, c)| **c).map(|((m, at), _)| to_active(m, *at));
        let txn = self.db.begin().await.map_err(unavailable)?;
        let written: HashSet<String> = match Entity::insert_many(rows)
            .on_conflict_do_nothing_on([Column::MessageId])
            .exec_with_returning_keys(&txn)
            .await
            .map_err(unavailable)?
        {
            sea_orm::TryInsertResult::Inserted(keys) => keys.into_iter().collect(),
            _ => HashSet::new(),
        };
        let created: Vec<bool> =
            batch.iter().zip(&candidate).map(|((m, _), c)| *c && written.contains(m.message_id.as_str())).collect();
        let mut per_sender: HashMap<&str, i64> = HashMap::new();
        for ((m, _), _) in batch.iter().zip(&created).filter(|(_, c)| **c) {
            *per_sender.entry(m.from.as_str()).or_default() += 1;
        }
        for (from, n) in per_sender {
            count_sender(&txn, from, n).await.map_err(unavailable)?;
        }
        txn.commit().await.map_err(unavailable)?;
        Ok(created.into_iter().map(|c| if c { Inserted::Created } else { Inserted::Duplicate }).collect())
    }
}

#[async_trait]
impl MessageRepository for SqlMessages {
    async fn insert(&self, message: Message, received_at: Timestamp) -> Result<Inserted, RepoError> {
        // The row and its sender's count commit together, or neither does.
        let txn = self.db.begin().await.map_err(unavailable)?;
        let written = Entity::insert(to_active(&message, received_at))
            .on_conflict_do_nothing_on([Column::MessageId])
            .exec_without_returning(&txn)
            .await
            .map_err(unavailable)?;
        let outcome = match written {
            sea_orm::TryInsertResult::Inserted(n) if n > 0 => Inserted::Created,
            _ => Inserted::Duplicate,
        };
        if outcome == Inserted::Created {
            count_sender(&txn, message.from.as_str(), 1).await.map_err(unavailable)?;
        }
        txn.commit().await.map_err(unavailable)?;
        Ok(outcome)
    }

    async fn list(&self, filter: &MessageFilter, page: Page) -> Result<MessagePage, RepoError> {
        // One read transaction, so `total` and the rows come from the same snapshot.
        let txn = self.db.begin().await.map_err(unavailable)?;
        let select = filtered(filter);
        let total = select.clone().count(&txn).await.map_err(unavailable)?;
        let rows = select
            .order_by_asc(Column::Ts)
            .order_by_asc(Column::MessageId)
            .limit(u64::from(page.limit))
            .offset(page.offset)
            .all(&txn)
            .await
            .map_err(unavailable)?;
        txn.commit().await.map_err(unavailable)?;
        let rows = rows.into_iter().map(from_model).collect::<Result<_, _>>()?;
        Ok(MessagePage { rows, total })
    }

    async fn stats(&self) -> Result<Stats, RepoError> {
        let txn = self.db.begin().await.map_err(unavailable)?;
        let senders = sender_count::Entity::find().all(&txn).await.map_err(unavailable)?;
        // Two single-aggregate queries: each is one index probe on both backends.
        let first = ts_bound(&txn, Expr::col(Column::Ts).min()).await?;
        let last = ts_bound(&txn, Expr::col(Column::Ts).max()).await?;
        txn.commit().await.map_err(unavailable)?;
        let total_messages = senders.iter().map(|s| s.message_count.unsigned_abs()).sum();
        let senders_count = senders.len() as u64;
        let all = senders
            .into_iter()
            .map(|s| {
                let from = Msisdn::parse(&s.from_msisdn).map_err(RepoError::Unavailable)?;
                Ok(SenderCount { from, count: s.message_count.unsigned_abs() })
            })
            .collect::<Result<_, RepoError>>()?;
        Ok(Stats {
            total_messages,
            senders_count,
            top_senders: rank_senders(all),
            first_message_ts: first.and_then(timestamp),
            last_message_ts: last.and_then(timestamp),
        })
    }

    async fn ready(&self) -> Result<(), RepoError> {
        use migration::MigratorTrait;
        self.db.ping().await.map_err(unavailable)?;
        let pending = migration::Migrator::get_pending_migrations_read_only(&self.db)
            .await
            .map_err(|e| RepoError::SchemaMissing(e.to_string()))?;
        if pending.is_empty() {
            Ok(())
        } else {
            Err(RepoError::SchemaMissing(format!("{} migrations pending", pending.len())))
        }
    }
}
