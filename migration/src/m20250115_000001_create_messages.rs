//! The `messages` table and the indexes behind the list filters and their fixed order.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, text, text_null};
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Messages {
    Table,
    MessageId,
    FromMsisdn,
    ToMsisdn,
    /// Microseconds since the Unix epoch, UTC: sorts chronologically on every backend.
    Ts,
    Text,
    /// `text` case-folded by the service, so substring search behaves the same on every backend.
    TextFolded,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Order and equality must be by code point on every backend, whatever the server's locale.
        let byte_order = |mut col: ColumnDef| {
            if manager.get_database_backend() == DbBackend::Postgres {
                col.extra("COLLATE \"C\"");
            }
            col
        };
        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .if_not_exists()
                    .col(byte_order(text(Messages::MessageId)).primary_key().to_owned())
                    .col(byte_order(text(Messages::FromMsisdn)))
                    .col(text(Messages::ToMsisdn))
                    .col(big_integer(Messages::Ts))
                    .col(text_null(Messages::Text))
                    .col(text_null(Messages::TextFolded))
                    .col(big_integer(Messages::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_messages_ts_id")
                    .table(Messages::Table)
                    .col(Messages::Ts)
                    .col(Messages::MessageId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_messages_from_ts_id")
                    .table(Messages::Table)
                    .col(Messages::FromMsisdn)
                    .col(Messages::Ts)
                    .col(Messages::MessageId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Messages::Table).to_owned()).await
    }
}
