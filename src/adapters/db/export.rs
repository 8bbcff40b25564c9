//! The rows of an export: the next ones after a cursor, in `ts` order, without counting the rest,
//! so that walking every match costs one index range per page however many there are.

use sea_orm::{DbBackend, QueryOrder, QuerySelect, TransactionTrait};

use super::entity::message::Column;
use super::repository::{
    IndexedSearch, SqlMessages, after_cursor, filtered, page_and_next, trigram_phrase, unavailable,
};
use super::text_index;
use crate::domain::ports::{MessagePage, RepoError};
use crate::domain::query::MessageFilter;

impl SqlMessages {
    /// Up to `limit` matches after `filter.after`, and the cursor after them (`total` is 0).
    ///
    /// # Errors
    /// Storage could not answer.
    pub(super) async fn rows_after(&self, filter: &MessageFilter, limit: u32) -> Result<MessagePage, RepoError> {
        let txn = self.db.begin().await.map_err(unavailable)?;
        let index = match (self.db.get_database_backend(), &filter.text) {
            (DbBackend::Sqlite, Some(q)) => match trigram_phrase(q.folded()) {
                Some(phrase) => {
                    Some(IndexedSearch { phrase, upto: text_index::indexed_upto(&txn).await.map_err(unavailable)? })
                }
                None => None,
            },
            _ => None,
        };
        let rows = after_cursor(filtered(filter, index.as_ref()), filter)
            .order_by_asc(Column::Ts)
            .order_by_asc(Column::MessageId)
            .limit(u64::from(limit) + 1)
            .all(&txn)
            .await
            .map_err(unavailable)?;
        txn.commit().await.map_err(unavailable)?;
        let (rows, next) = page_and_next(rows, limit)?;
        Ok(MessagePage { rows, total: 0, next })
    }
}
