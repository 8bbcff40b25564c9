//! [`MessageRepository`] over sea-orm.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
    TransactionTrait,
};

use super::convert::{from_model, timestamp, to_active};
use super::entity::message::{Column, Entity};
use crate::domain::message::{Message, Msisdn};
use crate::domain::ports::{Inserted, MessagePage, MessageRepository, RepoError};
use crate::domain::query::{MessageFilter, Page};
use crate::domain::stats::{SenderCount, Stats, TOP_SENDERS};
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

#[async_trait]
impl MessageRepository for SqlMessages {
    async fn insert(&self, message: Message, received_at: Timestamp) -> Result<Inserted, RepoError> {
        let written = Entity::insert(to_active(&message, received_at))
            .on_conflict_do_nothing_on([Column::MessageId])
            .exec_without_returning(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(match written {
            sea_orm::TryInsertResult::Inserted(n) if n > 0 => Inserted::Created,
            _ => Inserted::Duplicate,
        })
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
        let (total, senders, first, last): (i64, i64, Option<i64>, Option<i64>) = Entity::find()
            .select_only()
            .column_as(Expr::col(Column::MessageId).count(), "total")
            .column_as(Expr::from(Func::count_distinct(Expr::col(Column::FromMsisdn))), "senders")
            .column_as(Expr::col(Column::Ts).min(), "first")
            .column_as(Expr::col(Column::Ts).max(), "last")
            .into_tuple()
            .one(&txn)
            .await
            .map_err(unavailable)?
            .unwrap_or_default();
        let top: Vec<(String, i64)> = Entity::find()
            .select_only()
            .column(Column::FromMsisdn)
            .column_as(Expr::col(Column::MessageId).count(), "n")
            .group_by(Column::FromMsisdn)
            .order_by_desc(Expr::col(Column::MessageId).count())
            .order_by_asc(Column::FromMsisdn)
            .limit(TOP_SENDERS as u64)
            .into_tuple()
            .all(&txn)
            .await
            .map_err(unavailable)?;
        txn.commit().await.map_err(unavailable)?;
        let top_senders = top
            .into_iter()
            .map(|(from, n)| {
                let from = Msisdn::parse(&from).map_err(RepoError::Unavailable)?;
                Ok(SenderCount { from, count: n.unsigned_abs() })
            })
            .collect::<Result<_, RepoError>>()?;
        Ok(Stats {
            total_messages: total.unsigned_abs(),
            senders_count: senders.unsigned_abs(),
            top_senders,
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
