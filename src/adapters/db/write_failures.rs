//! Tests: a failed commit must never leave the writer inside a transaction, where later groups
//! would be answered as committed without reaching the database.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::SqlMessages;
use super::checkpoint::CheckpointPolicy;
use super::test_support::{BY_HAND, group, open};
use crate::adapters::batching::BatchInsert;
use crate::domain::ports::{Inserted, MessageRepository, RepoError};

/// Caps the database at its current size plus `extra` pages, on both writer connections (the
/// cap is a connection's own setting).
async fn cap(repo: &SqlMessages, extra: i64) {
    let writer = repo.writer_connection();
    let pages = super::repository::sqlite_scalar(&writer, "PRAGMA page_count", Vec::new()).await.unwrap();
    let sql = format!("PRAGMA max_page_count = {}", pages + extra);
    writer.execute_unprepared(&sql).await.unwrap();
    repo.direct.as_ref().expect("an SQLite file has a direct writer").execute(&sql);
}

async fn stored(conn: &DatabaseConnection) -> i64 {
    super::repository::sqlite_scalar(conn, "SELECT count(*) FROM messages", Vec::new()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_after_a_full_database_are_committed_or_refused_never_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.db");
    let (conn, repo) = open(&path, BY_HAND).await;
    cap(&repo, 8).await;
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for g in 0..40 {
        let batch = group(g * 50, 50);
        let ids: Vec<String> = batch.iter().map(|(d, _)| d.messages[0].message_id.as_str().to_owned()).collect();
        match repo.insert_batch(batch).await {
            Ok(outcomes) => {
                assert!(outcomes.iter().all(|o| o.messages == [Inserted::Created]));
                repo.flush().await.unwrap();
                acknowledged.extend(ids);
            }
            Err(RepoError::Unavailable(_) | RepoError::Full(_)) => refused += 1,
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert!(refused > 0, "the cap never filled the database");
    assert_eq!(stored(&conn).await, i64::try_from(acknowledged.len()).unwrap(), "every acknowledged row is visible");
    // Space comes back: later groups commit by themselves.
    cap(&repo, 100_000).await;
    for g in 40..50 {
        repo.insert_batch(group(g * 50, 50)).await.expect("writes recover once there is room");
        repo.flush().await.unwrap();
    }
    let expected = acknowledged.len() + 500;
    assert_eq!(stored(&conn).await, i64::try_from(expected).unwrap());
    assert_eq!(repo.stats().await.unwrap().total_messages, expected as u64);
    repo.close().await.unwrap();
    conn.close().await.unwrap();
    // Across a restart, everything acknowledged is still there and the file is sound.
    let (conn, _repo) = open(&path, BY_HAND).await;
    assert_eq!(stored(&conn).await, i64::try_from(expected).unwrap());
    let check =
        conn.query_one_raw(sea_orm::Statement::from_string(conn.get_database_backend(), "PRAGMA integrity_check"));
    let row = check.await.unwrap().unwrap();
    assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "ok");
}

/// A tmpfs of `bytes` mounted on a fresh directory, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(bytes: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting a tmpfs needs root");
        Self { dir }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "mounts a tmpfs, so it needs root; .ci/run runs it"]
async fn a_full_disk_refuses_groups_until_space_returns_and_loses_nothing_acknowledged() {
    let disk = SmallDisk::mount(4 << 20);
    let filler = disk.path().join("filler");
    std::fs::write(&filler, vec![0u8; 3 << 20]).unwrap();
    let path = disk.path().join("full.db");
    let (conn, repo) = open(&path, CheckpointPolicy { every: Duration::from_millis(50), reuse_at_pages: 64 }).await;
    let mut acknowledged = 0;
    let mut refused = 0;
    let mut next = 0;
    let mut write = |n: usize| {
        let batch = group(next, n);
        next += n;
        batch
    };
    for _ in 0..200 {
        let batch = write(20);
        match repo.insert_batch(batch).await {
            Ok(_) if repo.flush().await.is_ok() => acknowledged += 20,
            Ok(_) => panic!("a commit that cannot be synced must fail"),
            Err(_) => refused += 1,
        }
    }
    assert!(
        refused > 100,
        "the disk never filled ({refused} refused, {acknowledged} acknowledged, {} stored)",
        stored(&conn).await
    );
    assert_eq!(stored(&conn).await, acknowledged, "every acknowledged row is visible, nothing more");
    std::fs::remove_file(&filler).unwrap();
    for _ in 0..20 {
        repo.insert_batch(write(20)).await.expect("writes recover once there is room");
        repo.flush().await.unwrap();
        acknowledged += 20;
    }
    assert_eq!(stored(&conn).await, acknowledged);
    repo.close().await.unwrap();
    conn.close().await.unwrap();
    let (conn, _repo) = open(&path, BY_HAND).await;
    assert_eq!(stored(&conn).await, acknowledged, "nothing acknowledged is lost across a restart");
    let check =
        conn.query_one_raw(sea_orm::Statement::from_string(conn.get_database_backend(), "PRAGMA integrity_check"));
    assert_eq!(check.await.unwrap().unwrap().try_get_by_index::<String>(0).unwrap(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_probe_fails_while_the_connection_groups_use_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let (conn, repo) = open(&dir.path().join("probe.db"), BY_HAND).await;
    repo.insert_batch(group(0, 50)).await.unwrap();
    // Only the connection groups are inserted through is full; the pooled writer is not.
    let direct = repo.direct.clone().expect("an SQLite file has a direct writer");
    let pages = super::repository::sqlite_scalar(&repo.writer_connection(), "PRAGMA page_count", Vec::new()).await;
    direct.execute(&format!("PRAGMA max_page_count = {}", pages.unwrap()));
    assert!(matches!(repo.insert_batch(group(50, 500)).await, Err(RepoError::Full(_))));
    assert!(repo.probe_write().await.is_err(), "readiness must not come back while groups cannot be written");
    direct.execute("PRAGMA max_page_count = 1000000");
    repo.probe_write().await.expect("the probe succeeds once groups can be written");
    repo.insert_batch(group(50, 500)).await.expect("and so do groups");
    repo.close().await.unwrap();
    conn.close().await.unwrap();
}
