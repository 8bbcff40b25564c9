//! SQLite: the FTS5 index for `q` is filled in the background instead of by a trigger inside each
//! insert. Indexing a few messages per commit created a segment per commit and merged them over
//! and over; the service now indexes many at a time and a search tests the rows stored since
//! (`messages.rowid > text_index_progress.indexed_upto`) directly. PostgreSQL: nothing changes.

use sea_orm_migration::prelude::*;

use crate::run_on_sqlite;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "DROP TRIGGER IF EXISTS messages_text_after_insert",
    "CREATE TABLE IF NOT EXISTS text_index_progress (\
         id INTEGER PRIMARY KEY CHECK (id = 1), indexed_upto INTEGER NOT NULL)",
    // The trigger indexed every row stored so far.
    "INSERT INTO text_index_progress (id, indexed_upto) \
         SELECT 1, coalesce(max(rowid), 0) FROM messages WHERE true \
         ON CONFLICT (id) DO NOTHING",
];

const SQLITE_DOWN: &[&str] = &[
    // Rows stored since the last background pass are indexed before the trigger takes over again.
    "INSERT INTO messages_text (rowid, text_folded) SELECT rowid, text_folded FROM messages \
         WHERE rowid > (SELECT indexed_upto FROM text_index_progress) AND text_folded IS NOT NULL",
    "DROP TABLE IF EXISTS text_index_progress",
    "CREATE TRIGGER IF NOT EXISTS messages_text_after_insert AFTER INSERT ON messages \
         WHEN new.text_folded IS NOT NULL \
         BEGIN INSERT INTO messages_text (rowid, text_folded) VALUES (new.rowid, new.text_folded); END",
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
