//! The sea-orm repository, one implementation for SQLite and PostgreSQL alike.

mod checkpoint;
mod clean;
mod convert;
mod counts;
mod delete;
mod direct_write;
mod entity;
mod export;
mod feed;
mod maintenance;
mod match_points;
mod new_file;
mod nodelay;
mod postgres_search;
mod repository;
mod row_times;
mod scan_gate;
mod search_file;
mod search_profile;
mod search_totals;
#[cfg(test)]
mod sender_search_tests;
mod status_reads;
#[cfg(test)]
mod test_support;
mod text_index;
mod url;
mod wal;
mod write;
#[cfg(test)]
mod write_failures;

use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, TransactionTrait};

pub use checkpoint::CheckpointPolicy;
pub use repository::SqlMessages;
pub use url::DatabaseTarget;
use wal::WalFile;

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
    /// SQLite: its heap for all connections together, in MiB. A soft limit for the process:
    /// past it SQLite reuses cached pages rather than allocating more.
    pub sqlite_cache_mib: u32,
}

impl DbConfig {
    /// Under the 32-connection read mix at 10^6 messages SQLite's heap reached 104 MiB without a
    /// limit; with 48 the process stayed at 107–119 MiB, req/s unchanged (BENCHMARKS.md, issue 15).
    pub const DEFAULT_SQLITE_CACHE_MIB: u32 = 48;
}

/// Opens the pool, creating a missing SQLite file and its directory.
///
/// # Errors
/// The database cannot be reached or the directory cannot be created.
pub async fn connect(config: &DbConfig) -> Result<DatabaseConnection, DbErr> {
    // Each connection to `:memory:` would open its own empty database.
    let size = if config.target == DatabaseTarget::SqliteMemory { 1 } else { config.max_connections.max(1) };
    let options = pool_options(config, size, Role::Shared)?;
    if let DatabaseTarget::SqliteFile(path) = &config.target {
        let (file, search) = (path.clone(), search_file::beside(path));
        let (shown, shown_search) = (file.display().to_string(), search.display().to_string());
        tokio::task::spawn_blocking(move || {
            new_file::create(&file).map_err(|e| format!("cannot create the database {shown}: {e}"))?;
            search_file::prepare(&search).map_err(|e| format!("cannot open the search index file {shown_search}: {e}"))
        })
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .map_err(DbErr::Custom)?;
    }
    Database::connect(options).await
}

/// What a pool's connections are for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Reads, and on targets without a writer connection, writes.
    Shared,
    /// The group-commit writer on an SQLite file.
    Writer,
}

/// A pool of `size` connections.
fn pool_options(config: &DbConfig, size: u32, role: Role) -> Result<ConnectOptions, DbErr> {
    let mut options = ConnectOptions::new(database_url(config)?);
    let (full_sync, cache_mib) = (config.sqlite_full_sync, config.sqlite_cache_mib);
    let file = match &config.target {
        DatabaseTarget::SqliteFile(path) => Some(path.clone()),
        _ => None,
    };
    let search = Arc::new(file.as_deref().map(search_file::beside));
    options
        .max_connections(size)
        .min_connections(u32::from(role == Role::Writer))
        .connect_timeout(config.connect_timeout)
        .acquire_timeout(config.acquire_timeout)
        .sqlx_logging(false)
        // The writer's commits are what can fail and leave SQLite itself inside a transaction;
        // for the read pool sqlx's own count suffices and costs no round-trip to the handle.
        .map_sqlx_sqlite_before_acquire(if role == Role::Writer { clean::sqlite } else { clean::sqlite_counted })
        .map_sqlx_postgres_before_acquire(clean::postgres)
        .map_sqlx_postgres_pool_opts(|o| o.after_connect(|conn, _| Box::pin(nodelay::after_connect(conn))))
        // Reads search the text index there; the writer's connection never touches it, so its
        // `BEGIN IMMEDIATE` locks the messages file alone.
        .map_sqlx_sqlite_pool_opts(move |o| match role {
            Role::Shared => {
                let search = Arc::clone(&search);
                o.after_connect(move |conn, _| {
                    let search = Arc::clone(&search);
                    Box::pin(async move { search_file::attach(conn, search.as_deref()).await })
                })
            }
            Role::Writer => o,
        })
        .map_sqlx_sqlite_opts(move |o| {
            // The path as parsed, not as sqlx decodes the URL again: the writer's own connection
            // and the log's fsync use this very name.
            let o = match &file {
                Some(path) => o.filename(path),
                None => o,
            };
            let o = sqlite_options(o, full_sync, cache_mib);
            match role {
                Role::Shared => o,
                // A 32 MiB page cache (a negative size is in KiB), as the direct writer's: together
                // more than the soft heap limit, which then decides; checkpoints run elsewhere.
                Role::Writer => o
                    .pragma("cache_size", "-32768")
                    .pragma("wal_autocheckpoint", "0")
                    .pragma("journal_size_limit", checkpoint::LOG_SIZE_LIMIT.to_string()),
            }
        });
    Ok(options)
}

fn sqlite_options(options: SqliteConnectOptions, full_sync: bool, cache_mib: u32) -> SqliteConnectOptions {
    let synchronous = if full_sync { SqliteSynchronous::Full } else { SqliteSynchronous::Normal };
    options
        // A new file is made with incremental auto-vacuum before any pool opens it (`new_file`).
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true)
        // Statement journals in memory: no temporary file opened per write transaction.
        .pragma("temp_store", "MEMORY")
        // One limit for the whole process, whichever connection sets it; each sets the same.
        .pragma("soft_heap_limit", (u64::from(cache_mib) << 20).to_string())
}

/// What a file name must not hold raw inside an `sqlite://` URL.
const URL_PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%').add(b'?').add(b'#');

/// The connection URL, creating a SQLite file's directory.
fn database_url(config: &DbConfig) -> Result<String, DbErr> {
    Ok(match &config.target {
        DatabaseTarget::SqliteFile(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_durably(dir)
                    .map_err(|e| DbErr::Custom(format!("cannot create directory {}: {e}", dir.display())))?;
            }
            // Encoded so that sqlx's parse of the URL cannot stop at a `?` or `#` in the name;
            // the options then take the path itself (see `pool_options`).
            let name = path.to_string_lossy();
            let escaped = percent_encoding::utf8_percent_encode(&name, URL_PATH);
            format!("sqlite://{escaped}")
        }
        DatabaseTarget::SqliteMemory => "sqlite::memory:".to_owned(),
        DatabaseTarget::Postgres(url) => url.clone(),
    })
}

/// Creates `dir` and any missing parents, and fsyncs each parent of what it created, so that the
/// directory (and the database SQLite will create in it) is still there after a power cut.
fn create_durably(dir: &std::path::Path) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        missing.push(d.to_owned());
        at = d.parent();
    }
    std::fs::create_dir_all(dir)?;
    for created in missing.iter().rev() {
        if let Some(parent) = created.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::File::open(parent)?.sync_all()?;
        }
    }
    Ok(())
}

/// The repository over a migrated pool. On an SQLite file, writes go through a connection of
/// their own, whose commits are made durable by [`WalFile`] and whose log is checkpointed in the
/// background by `policy`.
///
/// # Errors
/// The writer's connection cannot be opened.
pub async fn repository(
    conn: DatabaseConnection,
    config: &DbConfig,
    policy: CheckpointPolicy,
) -> Result<SqlMessages, DbErr> {
    let repo = match connect_writer(config).await? {
        Some(writer) => {
            let repo = SqlMessages::with_writer(conn, writer, policy);
            repo.start_horizon().await?;
            repo
        }
        None => SqlMessages::new(conn),
    };
    repo.reconcile_search().await?;
    Ok(repo)
}

/// The group-commit writer's own connection (SQLite file only).
#[derive(Debug)]
pub(crate) struct SqliteWriter {
    /// A pool of one connection with a larger page cache.
    pub conn: DatabaseConnection,
    /// Under full durability: the log to fsync after each commit, since the connection runs
    /// `synchronous=NORMAL` (see [`WalFile`]).
    pub wal: Option<WalFile>,
    /// The connection groups are inserted through, outside sea-orm (see `direct_write`).
    pub direct: direct_write::DirectWriter,
}

/// SQLite file only: the group-commit writer's connections, with larger page caches and no
/// automatic checkpoints. Groups are inserted through the direct connection; deletions, the text
/// index and the write probe's sea-orm twin use the pooled one. Each drops its cache when the other
/// has committed since its last transaction, which the text index's runs make happen every pass.
/// `None` for other targets, where the shared pool writes.
async fn connect_writer(config: &DbConfig) -> Result<Option<SqliteWriter>, DbErr> {
    let DatabaseTarget::SqliteFile(path) = &config.target else {
        return Ok(None);
    };
    // Commits do not fsync; the log is synced outside the write lock instead.
    let commit_config = DbConfig { sqlite_full_sync: false, ..config.clone() };
    let conn = Database::connect(pool_options(&commit_config, 1, Role::Writer)?).await?;
    let wal = config.sqlite_full_sync.then(|| WalFile::beside(path));
    let direct = direct_write::DirectWriter::open(path).map_err(|e| DbErr::Custom(e.to_string()))?;
    Ok(Some(SqliteWriter { conn, wal, direct }))
}

/// Applies pending migrations in one transaction, so the DDL commits atomically with its
/// bookkeeping, and on SQLite every statement runs on one connection: another pooled connection
/// would parse a later statement against the schema it cached before an earlier one. On
/// PostgreSQL a transaction-scoped advisory lock serialises replicas that start together.
///
/// # Errors
/// A migration failed; nothing of the pending ones is applied.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    if db.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared("SELECT pg_advisory_xact_lock(7265786180)").await?;
    }
    Migrator::up(&txn, None).await?;
    txn.commit().await
}

#[cfg(test)]
mod tests {
    use super::test_support::{BY_HAND, file_config, open};
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_caches_are_bounded_by_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, _repo) = open(&dir.path().join("h.db"), BY_HAND).await;
        // SQLite's own default is 0: no limit.
        let limit = repository::sqlite_scalar(&conn, "PRAGMA soft_heap_limit", Vec::new()).await.unwrap();
        assert_eq!(limit, i64::from(DbConfig::DEFAULT_SQLITE_CACHE_MIB) << 20);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn opening_pooled_connections_writes_nothing_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("quiet.db");
        let config = file_config(&path, 4);
        let conn = connect(&config).await.unwrap();
        migrate(&conn).await.unwrap();
        conn.close().await.unwrap();
        // `data_version` changes when another connection commits to the file.
        let watcher = rusqlite::Connection::open(&path).unwrap();
        let version = || watcher.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0)).unwrap();
        let before = version();
        let conn = connect(&config).await.unwrap();
        // Each open transaction holds a connection of its own, so four are opened.
        let mut open = Vec::new();
        for _ in 0..4 {
            let txn = conn.begin().await.unwrap();
            assert_eq!(repository::sqlite_scalar(&txn, "SELECT count(*) FROM messages", Vec::new()).await.unwrap(), 0);
            open.push(txn);
        }
        drop(open);
        assert_eq!(version(), before, "a connection committed on opening");
        let vacuum = repository::sqlite_scalar(&conn, "PRAGMA auto_vacuum", Vec::new()).await.unwrap();
        assert_eq!(vacuum, 2, "a new file hands deleted rows' pages back");
        conn.close().await.unwrap();
    }
}
