//! PostgreSQL: the order of `GET /feed`. Each row records the transaction that wrote it and a
//! sequence number, so that the feed can show only rows of transactions that have ended (see the
//! service's `adapters/db/feed.rs`). SQLite needs nothing: its one writer commits in rowid order.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::run_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &[&str] = &[
    "CREATE SEQUENCE IF NOT EXISTS messages_feed_seq",
    // Rows stored before this migration share its transaction id and keep distinct numbers.
    "ALTER TABLE messages ADD COLUMN feed_xid xid8 NOT NULL DEFAULT pg_current_xact_id(), \
         ADD COLUMN feed_seq BIGINT NOT NULL DEFAULT nextval('messages_feed_seq')",
    "CREATE INDEX IF NOT EXISTS idx_messages_feed ON messages (feed_xid, feed_seq)",
];

const DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS idx_messages_feed",
    "ALTER TABLE messages DROP COLUMN feed_xid, DROP COLUMN feed_seq",
    "DROP SEQUENCE IF EXISTS messages_feed_seq",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        on_postgres(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        on_postgres(manager, DOWN).await
    }
}

async fn on_postgres(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    run_all(manager.get_connection(), statements).await
}
