//! No pooled connection is handed out while it is inside a transaction.
//!
//! A commit or rollback that fails (a full disk, an I/O error) can leave a connection inside the
//! transaction it was meant to end, or leave sqlx believing so. The next `BEGIN` on that
//! connection then becomes a `SAVEPOINT` nested in the dead transaction: its "commit" only
//! releases the savepoint, the group is answered as committed, and nothing reaches the disk. So
//! every pool checks a connection before handing it out and discards it when it is not clean;
//! the pool opens a fresh one in its place, and closing the old one rolls back whatever it held.

use std::future::Future;
use std::pin::Pin;

use sea_orm::sqlx::pool::PoolConnectionMetadata;
use sea_orm::sqlx::postgres::PgConnection;
use sea_orm::sqlx::sqlite::SqliteConnection;
use sea_orm::sqlx::{self, Connection};

/// What a `before_acquire` check returns.
type Verdict<'c> = Pin<Box<dyn Future<Output = Result<bool, sqlx::Error>> + Send + 'c>>;

/// SQLite: clean when sqlx counts no open transaction and SQLite itself is in autocommit mode.
/// The second test catches a transaction that sqlx believes ended.
pub fn sqlite(conn: &mut SqliteConnection, _: PoolConnectionMetadata) -> Verdict<'_> {
    Box::pin(async move {
        if conn.is_in_transaction() {
            tracing::error!("a pooled SQLite connection was left inside a transaction; replacing it");
            return Ok(false);
        }
        let mut handle = conn.lock_handle().await?;
        // SAFETY: the locked handle is a live connection that no other thread uses while the
        // lock is held, and sqlite3_get_autocommit only reads its state.
        let autocommit = unsafe { libsqlite3_sys::sqlite3_get_autocommit(handle.as_raw_handle().as_ptr()) } != 0;
        if !autocommit {
            tracing::error!("a pooled SQLite connection is inside a transaction sqlx counts as ended; replacing it");
        }
        Ok(autocommit)
    })
}

/// SQLite, a pool that only reads and checkpoints: clean when sqlx counts no open transaction.
pub fn sqlite_counted(conn: &mut SqliteConnection, _: PoolConnectionMetadata) -> Verdict<'_> {
    Box::pin(async move {
        let clean = !conn.is_in_transaction();
        if !clean {
            tracing::error!("a pooled SQLite connection was left inside a transaction; replacing it");
        }
        Ok(clean)
    })
}

/// PostgreSQL: clean when sqlx counts no open transaction. The server ends a transaction whose
/// `COMMIT` failed, and sqlx's queued rollback of an abandoned one runs before the connection
/// returns to the pool, so its count is what can go wrong.
pub fn postgres(conn: &mut PgConnection, _: PoolConnectionMetadata) -> Verdict<'_> {
    Box::pin(async move {
        let clean = !conn.is_in_transaction();
        if !clean {
            tracing::error!("a pooled PostgreSQL connection was left inside a transaction; replacing it");
        }
        Ok(clean)
    })
}
