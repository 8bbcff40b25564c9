//! A table that stays empty: readiness writes a row into it and deletes it again, in one
//! transaction, to learn whether the storage can take writes again after they failed.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{blob, integer};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WriteProbe {
    Table,
    Id,
    Filler,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WriteProbe::Table)
                    .if_not_exists()
                    .col(integer(WriteProbe::Id).primary_key())
                    .col(blob(WriteProbe::Filler))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(WriteProbe::Table).to_owned()).await
    }
}
