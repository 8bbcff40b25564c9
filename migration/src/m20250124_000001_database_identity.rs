//! SQLite: a random token that names this database, which the search file records as the one its
//! index was built from. A search file left beside another database (one moved or restored over
//! it) is then known at start-up and rebuilt, even where its rowids and deletion count happen to
//! fit the new rows. PostgreSQL: nothing; its index lives with its rows.

use sea_orm_migration::prelude::*;

use crate::run_on_sqlite;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "CREATE TABLE main.database_identity (id INTEGER PRIMARY KEY CHECK (id = 1), token BLOB NOT NULL)",
    "INSERT INTO main.database_identity (id, token) VALUES (1, randomblob(16))",
];

const SQLITE_DOWN: &[&str] = &["DROP TABLE IF EXISTS main.database_identity"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_on_sqlite(manager, SQLITE_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_on_sqlite(manager, SQLITE_DOWN).await
    }
}
