//! Reading delivery statuses: the filters of `GET /statuses` over the `statuses` table.

use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use super::convert::status_from_model;
use super::entity::status;
use super::repository::unavailable;
use crate::domain::ports::{RepoError, StatusPage, StoredStatus};
use crate::domain::query::Page;
use crate::domain::status_query::StatusFilter;

/// One page of the statuses `filter` keeps, ordered by `ts`, message id, status, and their number.
///
/// # Errors
/// Storage could not answer.
pub async fn page(db: &DatabaseConnection, filter: &StatusFilter, page: Page) -> Result<StatusPage, RepoError> {
    let mut select = status::Entity::find();
    if let Some(id) = &filter.message_id {
        select = select.filter(status::Column::MessageId.eq(id.as_str()));
    }
    if let Some(recipient) = &filter.recipient {
        select = select.filter(status::Column::Recipient.eq(recipient.as_str()));
    }
    if let Some(word) = &filter.status {
        select = select.filter(status::Column::Status.eq(word.as_str()));
    }
    if let Some(since) = filter.since {
        select = select.filter(status::Column::Ts.gte(since.as_micros()));
    }
    // One read transaction, so `total` and the rows come from the same snapshot.
    let txn = db.begin().await.map_err(unavailable)?;
    let total = select.clone().count(&txn).await.map_err(unavailable)?;
    let rows = select
        .order_by_asc(status::Column::Ts)
        .order_by_asc(status::Column::MessageId)
        .order_by_asc(status::Column::Status)
        .limit(u64::from(page.limit))
        .offset(page.offset)
        .all(&txn)
        .await
        .map_err(unavailable)?;
    txn.commit().await.map_err(unavailable)?;
    let rows = rows
        .into_iter()
        .map(|row| status_from_model(row).map(|(status, received_at)| StoredStatus { status, received_at }))
        .collect::<Result<_, _>>()?;
    Ok(StatusPage { rows, total })
}
