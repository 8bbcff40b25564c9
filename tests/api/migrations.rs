//! Upgrading a database that already holds messages: later migrations index and count the old rows.

use std::time::Duration;

use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use webhook_ingest::adapters::db::{self, DatabaseTarget, DbConfig, SqlMessages};
use webhook_ingest::domain::delivery::Source;
use webhook_ingest::domain::message::{Message, MessageId, MessageText, Msisdn};
use webhook_ingest::domain::ports::{Inserted, MessageRepository};
use webhook_ingest::domain::query::{ListQuery, RawListQuery};
use webhook_ingest::domain::timestamp::Timestamp;
use webhook_ingest::domain::whatsapp::decode_envelope;

async fn connect(target: DatabaseTarget) -> DatabaseConnection {
    let config = DbConfig {
        target,
        max_connections: 2,
        connect_timeout: Duration::from_secs(5),
        acquire_timeout: Duration::from_secs(5),
        sqlite_full_sync: true,
        sqlite_cache_mib: DbConfig::DEFAULT_SQLITE_CACHE_MIB,
    };
    db::connect(&config).await.unwrap()
}

fn search(q: &str) -> ListQuery {
    RawListQuery { q: Some(q.to_owned()), ..RawListQuery::default() }.parse().unwrap()
}

async fn ids(repo: &SqlMessages, q: &str) -> (Vec<String>, u64) {
    let query = search(q);
    let page = repo.list(&query.filter, query.page).await.unwrap();
    (page.rows.into_iter().map(|m| m.message_id.as_str().to_owned()).collect(), page.total)
}

async fn upgrade_keeps_old_rows_searchable_and_counted(conn: DatabaseConnection) {
    // The schema as the first release left it, with rows written by that release.
    migration::Migrator::up(&conn, Some(1)).await.unwrap();
    conn.execute_unprepared(
        "INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, text_folded, created_at) VALUES \
         ('old-1', '+111', '+222', 1000, 'Hello Old World', 'hello old world', 1), \
         ('old-2', '+111', '+222', 2000, NULL, NULL, 2), \
         ('old-3', '+333', '+222', 3000, 'Bye', 'bye', 3), \
         ('old-4', '+333', '+222', 90000000000, 'Next day', 'next day', 4)",
    )
    .await
    .unwrap();

    db::migrate(&conn).await.unwrap();
    let repo = SqlMessages::new(conn);

    assert_eq!(ids(&repo, "OLD WOR").await, (vec!["old-1".to_owned()], 1));
    assert_eq!(ids(&repo, "bye").await, (vec!["old-3".to_owned()], 1));
    let stats = repo.stats().await.unwrap();
    assert_eq!((stats.total_messages, stats.senders_count), (4, 2));
    assert_eq!(stats.top_senders[0].count, 2);
    // The counts by time are built for the old rows too.
    for (since, total) in [("1970-01-01T00:00:00.002Z", 3), ("1970-01-01T00:00:01Z", 1), ("1970-01-02T00:00:00Z", 1)] {
        let query = RawListQuery { since: Some(since.into()), ..RawListQuery::default() }.parse().unwrap();
        assert_eq!(repo.list(&query.filter, query.page).await.unwrap().total, total, "{since}");
    }

    let new = Message::flat(
        MessageId::parse("new-1").unwrap(),
        Msisdn::parse("+111").unwrap(),
        Msisdn::parse("+222").unwrap(),
        Timestamp::from_micros(4000).unwrap(),
        Some(MessageText::parse("old world again").unwrap()),
    );
    assert_eq!(repo.insert(new, Timestamp::from_micros(5).unwrap()).await.unwrap(), Inserted::Created);
    assert_eq!(ids(&repo, "old wor").await, (vec!["old-1".to_owned(), "new-1".to_owned()], 2));
    assert_eq!(repo.stats().await.unwrap().total_messages, 5);

    // The old rows read as flat-format messages, and the new schema holds provider messages.
    let old = repo.get(&MessageId::parse("old-2").unwrap()).await.unwrap().expect("old row kept");
    assert_eq!(
        (old.source, old.kind.as_str(), old.from.as_ref().map(Msisdn::as_str)),
        (Source::Webhook, "text", Some("+111"))
    );
    assert_eq!(old.received_at, Timestamp::from_micros(2).unwrap());
    let body = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/whatsapp/text.json")).unwrap();
    let mut delivery = decode_envelope(&body).unwrap();
    delivery.messages[0].from = None;
    delivery.messages[0].parts.user_id = Some("IN.1".into());
    let stored = repo.store(delivery, Timestamp::from_micros(6).unwrap()).await.unwrap();
    assert_eq!(stored.messages, [Inserted::Created]);
    let stats = repo.stats().await.unwrap();
    assert_eq!((stats.total_messages, stats.senders_count), (6, 3));
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    upgrade_keeps_old_rows_searchable_and_counted(connect(DatabaseTarget::SqliteFile(dir.path().join("u.db"))).await)
        .await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_POSTGRES_URL was not set when the tests were built")]
async fn postgres() {
    let url = crate::helpers::fresh_postgres_database().await;
    upgrade_keeps_old_rows_searchable_and_counted(connect(DatabaseTarget::Postgres(url)).await).await;
}
