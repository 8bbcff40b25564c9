//! The `write_probe` table: always empty outside a readiness probe's own transaction.

use sea_orm::entity::prelude::*;

/// The row a probe writes and deletes again.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "write_probe")]
pub struct Model {
    /// Always 1.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// Bytes of about a large message's size, so that the probe needs the space one would.
    pub filler: Vec<u8>,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
