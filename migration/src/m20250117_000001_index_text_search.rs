//! An index for `q`, the case-insensitive substring search over `text_folded`, so that a search
//! reads the rows that contain its trigrams instead of every row.
//!
//! SQLite: an FTS5 table with the trigram tokenizer over `messages.text_folded` (external content,
//! so the text is stored once), filled by a trigger in the inserting transaction. `case_sensitive 1`
//! because the column is folded already and the match must be exact, character for character.
//! PostgreSQL: a GIN `pg_trgm` index, which `LIKE '%…%'` uses directly, when the extension is
//! available; without it searches still work, by a scan.

use sea_orm_migration::prelude::*;

use crate::run_all;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "CREATE VIRTUAL TABLE IF NOT EXISTS messages_text USING fts5(\
         text_folded, content='messages', content_rowid='rowid', tokenize='trigram case_sensitive 1')",
    "CREATE TRIGGER IF NOT EXISTS messages_text_after_insert AFTER INSERT ON messages \
         WHEN new.text_folded IS NOT NULL \
         BEGIN INSERT INTO messages_text (rowid, text_folded) VALUES (new.rowid, new.text_folded); END",
    // Rows stored before this migration.
    "INSERT INTO messages_text (messages_text) VALUES ('rebuild')",
];

const SQLITE_DOWN: &[&str] =
    &["DROP TRIGGER IF EXISTS messages_text_after_insert", "DROP TABLE IF EXISTS messages_text"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Sqlite => run_all(db, SQLITE_UP).await,
            DbBackend::Postgres => {
                if !pg_trgm_available(db).await? {
                    return Ok(());
                }
                run_all(
                    db,
                    &[
                        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
                        "CREATE INDEX IF NOT EXISTS messages_text_folded_trgm \
                             ON messages USING gin (text_folded gin_trgm_ops)",
                    ],
                )
                .await
            }
            _ => Ok(()),
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Sqlite => run_all(db, SQLITE_DOWN).await,
            DbBackend::Postgres => run_all(db, &["DROP INDEX IF EXISTS messages_text_folded_trgm"]).await,
            _ => Ok(()),
        }
    }
}

async fn pg_trgm_available(db: &SchemaManagerConnection<'_>) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT 1 AS present FROM pg_available_extensions WHERE name = 'pg_trgm'",
        ))
        .await?;
    Ok(row.is_some())
}
