//! The sea-orm repository, one implementation for SQLite and PostgreSQL alike.

mod convert;
mod entity;
mod repository;
mod url;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, TransactionTrait};

pub use repository::SqlMessages;
pub use url::DatabaseTarget;

/// How to reach the database; built by the app from its settings.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// Where the data lives.
    pub target: DatabaseTarget,
    /// Pool size.
    pub max_connections: u32,
    /// Bound on opening a connection.
    pub connect_timeout: Duration,
    /// Bound on waiting for a pooled connection; past it the request answers 503.
    pub acquire_timeout: Duration,
    /// SQLite: `synchronous=FULL` (a 200 survives power loss) when true, `NORMAL` otherwise.
    pub sqlite_full_sync: bool,
}

/// Opens the pool, creating a missing SQLite file and its directory.
///
/// # Errors
/// The database cannot be reached or the directory cannot be created.
pub async fn connect(config: &DbConfig) -> Result<DatabaseConnection, DbErr> {
    // Each connection to `:memory:` would open its own empty database.
    let size = if config.target == DatabaseTarget::SqliteMemory { 1 } else { config.max_connections.max(1) };
    Database::connect(pool_options(config, size, None)?).await
}

/// A pool of `size` connections; on SQLite, `cache_kib` sets each connection's page cache.
fn pool_options(config: &DbConfig, size: u32, cache_kib: Option<u32>) -> Result<ConnectOptions, DbErr> {
    let mut options = ConnectOptions::new(database_url(config)?);
    let full_sync = config.sqlite_full_sync;
    options
        .max_connections(size)
        .min_connections(0)
        .connect_timeout(config.connect_timeout)
        .acquire_timeout(config.acquire_timeout)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| {
            let o = sqlite_options(o, full_sync);
            // A negative cache_size is in KiB rather than pages.
            match cache_kib {
                Some(kib) => o.pragma("cache_size", format!("-{kib}")),
                None => o,
            }
        });
    Ok(options)
}

fn sqlite_options(options: SqliteConnectOptions, full_sync: bool) -> SqliteConnectOptions {
    let synchronous = if full_sync { SqliteSynchronous::Full } else { SqliteSynchronous::Normal };
    options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true)
        // Statement journals in memory: no temporary file opened per write transaction.
        .pragma("temp_store", "MEMORY")
}

/// The connection URL, creating a SQLite file's directory.
fn database_url(config: &DbConfig) -> Result<String, DbErr> {
    Ok(match &config.target {
        DatabaseTarget::SqliteFile(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| DbErr::Custom(format!("cannot create directory {}: {e}", dir.display())))?;
            }
            format!("sqlite://{}", path.display())
        }
        DatabaseTarget::SqliteMemory => "sqlite::memory:".to_owned(),
        DatabaseTarget::Postgres(url) => url.clone(),
    })
}

/// SQLite file only: a pool of one connection for the group-commit writer, with a larger page
/// cache. All writes go through it, so its cache stays valid from one commit to the next instead
/// of being reloaded whenever another pooled connection has written. `None` for other targets,
/// where the shared pool writes.
///
/// # Errors
/// The database cannot be opened.
pub async fn connect_writer(config: &DbConfig) -> Result<Option<DatabaseConnection>, DbErr> {
    if !matches!(config.target, DatabaseTarget::SqliteFile(_)) {
        return Ok(None);
    }
    let mut options = pool_options(config, 1, Some(32 * 1024))?;
    options.min_connections(1);
    Database::connect(options).await.map(Some)
}

/// Applies pending migrations. On PostgreSQL a transaction-scoped advisory lock serialises
/// replicas that start together, and the DDL commits atomically with its bookkeeping.
///
/// # Errors
/// A migration failed; nothing of it is applied on PostgreSQL.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        let txn = db.begin().await?;
        txn.execute_unprepared("SELECT pg_advisory_xact_lock(7265786180)").await?;
        Migrator::up(&txn, None).await?;
        txn.commit().await
    } else {
        Migrator::up(db, None).await
    }
}
