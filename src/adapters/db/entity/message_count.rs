//! The `message_counts` table (see `adapters/db/counts.rs`).

use sea_orm::entity::prelude::*;

/// How many messages have a `ts` in one bucket; the row with span 0 counts distinct senders.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message_counts")]
pub struct Model {
    /// Width of the bucket in microseconds, or 0 for the senders row.
    #[sea_orm(primary_key, auto_increment = false)]
    pub span: i64,
    /// First instant of the bucket, in microseconds since the epoch (a multiple of `span`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub start: i64,
    /// Messages in the bucket (or senders).
    pub n: i64,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
