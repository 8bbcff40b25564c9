//! Messages from real providers: each message keeps its source, its provider's `type`, the parts a
//! reader needs (JSON) and the provider's own object byte for byte; a sender may have no number
//! (a WhatsApp username); and delivery statuses get a table of their own, keyed by
//! (message id, status), so a redelivered status is stored once.
//!
//! SQLite cannot drop a NOT NULL constraint in place, so `messages` is rebuilt, keeping every
//! rowid: the FTS5 index for `q` refers to rows by rowid. The rowid becomes an AUTOINCREMENT
//! column (`seq`), so that a deleted row's rowid is never given to a new one: the text indexer and
//! the feed both remember how far they got by rowid.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, text, text_null};
use sea_orm_migration::sea_orm::DbBackend;

use crate::run_all;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    // The old table moves aside and the new one takes its name, rather than the other way round:
    // SQLite refuses to rename a table to `messages` while the FTS5 index names it as its content.
    "ALTER TABLE messages RENAME TO messages_v1",
    "CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE, \
         from_msisdn TEXT NULL, to_msisdn TEXT NOT NULL, ts BIGINT NOT NULL, text TEXT NULL, \
         text_folded TEXT NULL, created_at BIGINT NOT NULL, source TEXT NOT NULL DEFAULT 'webhook', \
         kind TEXT NOT NULL DEFAULT 'text', parts TEXT NULL, raw TEXT NULL)",
    "INSERT INTO messages (seq, message_id, from_msisdn, to_msisdn, ts, text, text_folded, created_at) \
         SELECT rowid, message_id, from_msisdn, to_msisdn, ts, text, text_folded, created_at FROM messages_v1",
    "DROP TABLE messages_v1",
    "CREATE INDEX idx_messages_ts_id ON messages (ts, message_id)",
    "CREATE INDEX idx_messages_from_ts_id ON messages (from_msisdn, ts, message_id)",
    // Retention deletes by time of receipt.
    "CREATE INDEX idx_messages_created ON messages (created_at)",
];

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE messages ALTER COLUMN from_msisdn DROP NOT NULL",
    "ALTER TABLE messages ADD COLUMN source TEXT NOT NULL DEFAULT 'webhook', \
         ADD COLUMN kind TEXT NOT NULL DEFAULT 'text', ADD COLUMN parts TEXT NULL, ADD COLUMN raw TEXT NULL",
    "CREATE INDEX IF NOT EXISTS idx_messages_created ON messages (created_at)",
];

// Going back drops what the old schema cannot hold: messages without a number, and the new columns.
const SQLITE_DOWN: &[&str] = &[
    "ALTER TABLE messages RENAME TO messages_v2",
    "CREATE TABLE messages (message_id TEXT NOT NULL PRIMARY KEY, from_msisdn TEXT NOT NULL, \
         to_msisdn TEXT NOT NULL, ts BIGINT NOT NULL, text TEXT NULL, text_folded TEXT NULL, \
         created_at BIGINT NOT NULL)",
    "INSERT INTO messages (rowid, message_id, from_msisdn, to_msisdn, ts, text, text_folded, created_at) \
         SELECT rowid, message_id, from_msisdn, to_msisdn, ts, text, text_folded, created_at FROM messages_v2 \
         WHERE from_msisdn IS NOT NULL",
    "DROP TABLE messages_v2",
    "CREATE INDEX idx_messages_ts_id ON messages (ts, message_id)",
    "CREATE INDEX idx_messages_from_ts_id ON messages (from_msisdn, ts, message_id)",
    "INSERT INTO messages_text (messages_text) VALUES ('rebuild')",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS idx_messages_created",
    "DELETE FROM messages WHERE from_msisdn IS NULL",
    "ALTER TABLE messages DROP COLUMN source, DROP COLUMN kind, DROP COLUMN parts, DROP COLUMN raw",
    "ALTER TABLE messages ALTER COLUMN from_msisdn SET NOT NULL",
];

#[derive(DeriveIden)]
enum Statuses {
    Table,
    MessageId,
    Status,
    Ts,
    Recipient,
    Errors,
    PricingCategory,
    Source,
    Raw,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Sqlite => run_all(db, SQLITE_UP).await?,
            _ => run_all(db, POSTGRES_UP).await?,
        }
        create_statuses(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Statuses::Table).if_exists().to_owned()).await?;
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Sqlite => run_all(db, SQLITE_DOWN).await,
            _ => run_all(db, POSTGRES_DOWN).await,
        }
    }
}

async fn create_statuses(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    // Equality and order by code point on every backend, whatever the server's locale.
    let byte_order = |mut col: ColumnDef| {
        if manager.get_database_backend() == DbBackend::Postgres {
            col.extra("COLLATE \"C\"");
        }
        col
    };
    manager
        .create_table(
            Table::create()
                .table(Statuses::Table)
                .if_not_exists()
                .col(byte_order(text(Statuses::MessageId)))
                .col(byte_order(text(Statuses::Status)))
                .col(big_integer(Statuses::Ts))
                .col(text_null(Statuses::Recipient))
                .col(text_null(Statuses::Errors))
                .col(text_null(Statuses::PricingCategory))
                .col(text(Statuses::Source))
                .col(text_null(Statuses::Raw))
                .col(big_integer(Statuses::CreatedAt))
                .primary_key(Index::create().col(Statuses::MessageId).col(Statuses::Status))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .if_not_exists()
                .name("idx_statuses_ts_id_status")
                .table(Statuses::Table)
                .col(Statuses::Ts)
                .col(Statuses::MessageId)
                .col(Statuses::Status)
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .if_not_exists()
                .name("idx_statuses_created")
                .table(Statuses::Table)
                .col(Statuses::CreatedAt)
                .to_owned(),
        )
        .await
}
