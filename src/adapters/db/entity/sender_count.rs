//! The `sender_counts` table.

use sea_orm::entity::prelude::*;

/// How many messages one sender has stored.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sender_counts")]
pub struct Model {
    /// Sender, E.164.
    #[sea_orm(primary_key, auto_increment = false)]
    pub from_msisdn: String,
    /// Stored messages from this sender.
    pub message_count: i64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
