//! SQLite: the text index for `q` leaves the database for a file of its own beside it
//! (`<file>-search`), so that filling it no longer holds the messages file's write lock. The
//! service builds the new index in the background; until it has caught up, searches test the rows
//! it does not hold yet directly, as they always have for the newest rows. PostgreSQL: nothing.

use sea_orm_migration::prelude::*;

use crate::run_on_sqlite;

#[derive(DeriveMigrationName)]
pub struct Migration;

// `main.`: the attached search file holds tables of the same names.
const SQLITE_UP: &[&str] =
    &["DROP TABLE IF EXISTS main.messages_text", "DROP TABLE IF EXISTS main.text_index_progress"];

// The index as the migrations before this one left it, filled from every stored row.
const SQLITE_DOWN: &[&str] = &[
    "CREATE VIRTUAL TABLE IF NOT EXISTS main.messages_text USING fts5(\
         text_folded, content='messages', content_rowid='rowid', tokenize='trigram case_sensitive 1')",
    "INSERT INTO main.messages_text (messages_text) VALUES ('rebuild')",
    "CREATE TABLE IF NOT EXISTS main.text_index_progress (\
         id INTEGER PRIMARY KEY CHECK (id = 1), indexed_upto INTEGER NOT NULL)",
    "INSERT INTO main.text_index_progress (id, indexed_upto) \
         SELECT 1, coalesce(max(seq), 0) FROM main.messages WHERE true ON CONFLICT (id) DO NOTHING",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_on_sqlite(manager, SQLITE_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_on_sqlite(manager, SQLITE_DOWN).await
    }
}
