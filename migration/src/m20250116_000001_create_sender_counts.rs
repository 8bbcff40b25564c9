//! Per-sender message counts, kept by the service in the same transaction as each insert, so that
//! `/stats` reads O(senders) rows instead of scanning every message.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, text};
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SenderCounts {
    Table,
    FromMsisdn,
    MessageCount,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut from = text(SenderCounts::FromMsisdn);
        if manager.get_database_backend() == DbBackend::Postgres {
            from.extra("COLLATE \"C\"");
        }
        manager
            .create_table(
                Table::create()
                    .table(SenderCounts::Table)
                    .if_not_exists()
                    .col(from.primary_key())
                    .col(big_integer(SenderCounts::MessageCount))
                    .to_owned(),
            )
            .await?;
        // Databases created before this migration already hold messages: count them once.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO sender_counts (from_msisdn, message_count) \
                 SELECT from_msisdn, COUNT(*) FROM messages GROUP BY from_msisdn",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(SenderCounts::Table).to_owned()).await
    }
}
