//! Shared by the SQLite adapter's unit tests.

use std::path::Path;
use std::time::Duration;

use sea_orm::DatabaseConnection;

use super::{CheckpointPolicy, DatabaseTarget, DbConfig, SqlMessages, connect, migrate, repository};
use crate::domain::delivery::Delivery;
use crate::domain::message::{Message, MessageId, MessageText, Msisdn};
use crate::domain::timestamp::Timestamp;

/// Background passes that never come in a test's time: it indexes and checkpoints by hand.
pub const BY_HAND: CheckpointPolicy = CheckpointPolicy { every: Duration::from_secs(3600), reuse_at_pages: 4_096 };

/// A fully durable SQLite file at `path` with a pool of `max_connections`.
pub fn file_config(path: &Path, max_connections: u32) -> DbConfig {
    DbConfig {
        target: DatabaseTarget::SqliteFile(path.to_owned()),
        max_connections,
        connect_timeout: Duration::from_secs(5),
        acquire_timeout: Duration::from_secs(5),
        sqlite_full_sync: true,
        sqlite_cache_mib: DbConfig::DEFAULT_SQLITE_CACHE_MIB,
    }
}

/// A migrated, fully durable SQLite file at `path`: its shared pool, and the repository the app
/// would build over it, whose background work runs by `policy`.
pub async fn open(path: &Path, policy: CheckpointPolicy) -> (DatabaseConnection, SqlMessages) {
    let config = file_config(path, 2);
    let conn = connect(&config).await.unwrap();
    migrate(&conn).await.unwrap();
    let repo = repository(conn.clone(), &config, policy).await.unwrap();
    (conn, repo)
}

/// Stores messages `first..first + n` (see [`group`]), syncs their log and indexes them.
pub async fn store_indexed(repo: &SqlMessages, first: usize, n: usize) {
    use crate::adapters::batching::BatchInsert;
    repo.insert_batch(group(first, n)).await.unwrap();
    repo.flush().await.unwrap();
    repo.index_text().await.unwrap();
}

/// The text of message `i`: every seventh one holds "needle", in varying case.
pub fn text(i: usize) -> String {
    let word = match i % 7 {
        0 => "NeedLe",
        3 => "needle",
        _ => "hay",
    };
    format!("message {i} has {word} and {}", "x".repeat(i % 200))
}

/// A group of `n` one-message deliveries with ids from `first` on, with [`text`].
pub fn group(first: usize, n: usize) -> Vec<(Delivery, Timestamp)> {
    let at = Timestamp::from_micros(0).unwrap();
    (first..first + n)
        .map(|i| {
            let message = Message::flat(
                MessageId::parse(&format!("m-{i:06}")).unwrap(),
                Msisdn::parse(&format!("+1{}", i % 97)).unwrap(),
                Msisdn::parse("+222").unwrap(),
                Timestamp::from_micros(i64::try_from(i).unwrap()).unwrap(),
                Some(MessageText::parse(&text(i)).unwrap()),
            );
            (Delivery::of_message(message), at)
        })
        .collect()
}
