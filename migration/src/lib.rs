//! The schema of the `messages` store, as ordered migrations.

pub use sea_orm_migration::prelude::*;

mod m20250115_000001_create_messages;
mod m20250116_000001_create_sender_counts;
mod m20250117_000001_index_text_search;
mod m20250118_000001_defer_text_index;
mod m20250119_000001_create_write_probe;
mod m20250120_000001_real_providers;
mod m20250121_000001_feed_order;
mod m20250122_000001_maintained_counts;
mod m20250123_000001_search_file;
mod m20250124_000001_database_identity;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20250115_000001_create_messages::Migration),
            Box::new(m20250116_000001_create_sender_counts::Migration),
            Box::new(m20250117_000001_index_text_search::Migration),
            Box::new(m20250118_000001_defer_text_index::Migration),
            Box::new(m20250119_000001_create_write_probe::Migration),
            Box::new(m20250120_000001_real_providers::Migration),
            Box::new(m20250121_000001_feed_order::Migration),
            Box::new(m20250122_000001_maintained_counts::Migration),
            Box::new(m20250123_000001_search_file::Migration),
            Box::new(m20250124_000001_database_identity::Migration),
        ]
    }
}

/// Runs raw statements in order, stopping at the first that fails.
async fn run_all(db: &SchemaManagerConnection<'_>, statements: &[&str]) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::ConnectionTrait;
    for sql in statements {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}

/// [`run_all`] on SQLite; nothing on other backends.
async fn run_on_sqlite(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    if manager.get_database_backend() != sea_orm_migration::sea_orm::DbBackend::Sqlite {
        return Ok(());
    }
    run_all(manager.get_connection(), statements).await
}
