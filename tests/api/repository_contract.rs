//! One contract for every `MessageRepository`: the in-memory fake, SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use webhook_ingest::adapters::batching::BatchingWriter;
use webhook_ingest::adapters::db::{self, DatabaseTarget, DbConfig, SqlMessages};
use webhook_ingest::adapters::memory::InMemoryMessages;
use webhook_ingest::domain::message::{Message, MessageId, MessageText, Msisdn};
use webhook_ingest::domain::ports::{Inserted, MessageRepository};
use webhook_ingest::domain::query::{MessageFilter, Page, RawListQuery};
use webhook_ingest::domain::stats::{SenderCount, rank_senders};
use webhook_ingest::domain::timestamp::Timestamp;

fn message(id: &str, from: &str, ts_secs: i64, text: Option<&str>) -> Message {
    Message::flat(
        MessageId::parse(id).unwrap(),
        Msisdn::parse(from).unwrap(),
        Msisdn::parse("+14155550100").unwrap(),
        Timestamp::from_micros(ts_secs * 1_000_000).unwrap(),
        text.map(|t| MessageText::parse(t).unwrap()),
    )
}

/// A deterministic spread of senders, instants (with ties) and texts.
fn dataset() -> Vec<Message> {
    let texts = [
        Some("Hello"),
        Some("hello WORLD"),
        None,
        Some("50% off_now"),
        Some("it's"),
        Some("ÉTÉ"),
        Some("say \"hi\" to Straße, naïve café 😀 ok"),
        Some("tab\there a b end"),
    ];
    (0..60u32)
        .map(|i| {
            let from = format!("+1{}", 100 + (i * 7) % 5);
            let ts = 1_736_900_000 + i64::from((i * 13) % 17) * 60;
            message(&format!("id-{:02}", (i * 37) % 60), &from, ts, texts[i as usize % texts.len()])
        })
        .collect()
}

fn filters() -> Vec<MessageFilter> {
    let q = |pairs: &[(&str, &str)]| {
        let get = |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned());
        RawListQuery { from: get("from"), since: get("since"), q: get("q"), ..RawListQuery::default() }
            .parse()
            .unwrap()
            .filter
    };
    vec![
        q(&[]),
        q(&[("from", "+1102")]),
        q(&[("since", "2025-01-15T00:30:00Z")]),
        q(&[("q", "hello")]),
        q(&[("q", "%")]),
        q(&[("q", "_")]),
        q(&[("q", "'")]),
        q(&[("q", "été")]),
        q(&[("from", "+1101"), ("since", "2025-01-15T00:20:00Z"), ("q", "L")]),
        q(&[("from", "+1999")]),
        q(&[("from", "+1103"), ("since", "2025-01-15T00:30:00Z")]),
        // Three characters and more go through the trigram index where there is one.
        q(&[("q", "lo w")]),
        q(&[("q", "LO WORLD")]),
        q(&[("q", "\"hi\"")]),
        q(&[("q", "straße, naïve café 😀")]),
        q(&[("q", "50% off")]),
        q(&[("q", "\"\"\"")]),
        q(&[("q", "\there")]),
        q(&[("q", "hello world, and more than any text holds")]),
        q(&[("from", "+1102"), ("q", "hello")]),
    ]
}

async fn insert_reports_created_then_duplicate(repo: Arc<dyn MessageRepository>) {
    let at = Timestamp::from_micros(0).unwrap();
    let first = message("same", "+111", 100, Some("first"));
    assert_eq!(repo.insert(first.clone(), at).await.unwrap(), Inserted::Created);
    assert_eq!(repo.insert(message("same", "+222", 5, Some("second")), at).await.unwrap(), Inserted::Duplicate);
    let page = repo.list(&MessageFilter::default(), Page::default()).await.unwrap();
    assert_eq!(page.rows, [first]);
    assert_eq!(page.total, 1);
    repo.ready().await.unwrap();
}

async fn list_matches_the_reference_semantics(repo: Arc<dyn MessageRepository>) {
    let data = dataset();
    let at = Timestamp::from_micros(0).unwrap();
    for m in &data {
        repo.insert(m.clone(), at).await.unwrap();
    }
    let mut ordered = data.clone();
    ordered.sort_by(|a, b| (a.ts, &a.message_id).cmp(&(b.ts, &b.message_id)));
    for filter in filters() {
        let expected: Vec<&Message> = ordered.iter().filter(|m| filter.matches(m)).collect();
        for page in [Page { limit: 100, offset: 0 }, Page { limit: 7, offset: 3 }, Page { limit: 1, offset: 1000 }] {
            let got = repo.list(&filter, page).await.unwrap();
            let want: Vec<Message> =
                expected.iter().skip(page.offset as usize).take(page.limit as usize).map(|m| (*m).clone()).collect();
            assert_eq!(got.total, expected.len() as u64, "{filter:?}");
            assert_eq!(got.rows, want, "{filter:?} {page:?}");
        }
    }
}

async fn cursor_pages_are_the_offset_pages_even_with_rows_inserted_before_the_cursor(repo: Arc<dyn MessageRepository>) {
    let data = dataset();
    let at = Timestamp::from_micros(0).unwrap();
    for m in &data {
        repo.insert(m.clone(), at).await.unwrap();
    }
    for filter in filters() {
        let everything = repo.list(&filter, Page { limit: 100, offset: 0 }).await.unwrap();
        let mut walked = Vec::new();
        let mut cursor = None;
        for page_number in 0.. {
            let f = MessageFilter { after: cursor.clone(), ..filter.clone() };
            let page = repo.list(&f, Page { limit: 7, offset: 0 }).await.unwrap();
            let offset_page = repo.list(&filter, Page { limit: 7, offset: page_number * 7 }).await.unwrap();
            assert_eq!(page.total, offset_page.total, "{filter:?}: total ignores the cursor");
            if page_number < 2 {
                assert_eq!(page.rows, offset_page.rows, "{filter:?} page {page_number}");
            }
            walked.extend(page.rows.iter().map(|m| m.message.clone()));
            if page_number == 1 {
                // Rows that sort before the cursor arrive mid-walk: later pages do not shift.
                let early = message(&format!("early-{}", walked.len()), "+1102", 1_000, Some("hello early"));
                repo.insert(early, at).await.unwrap();
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let expected: Vec<Message> = everything.rows.into_iter().map(|m| m.message).collect();
        assert_eq!(walked, expected, "{filter:?}: the walk is the offset order, each row once");
    }
}

async fn the_feed_shows_each_message_once_in_commit_order(repo: Arc<dyn MessageRepository>) {
    use webhook_ingest::domain::cursor::FeedCursor;
    let data = dataset();
    let at = Timestamp::from_micros(0).unwrap();
    let mut committed = Vec::new();
    for (i, m) in data.iter().enumerate() {
        if repo.insert(m.clone(), at).await.unwrap() == Inserted::Created {
            committed.push(m.message_id.clone());
        }
        if i % 3 == 0 {
            // A redelivery writes nothing, so the feed does not repeat it.
            repo.insert(m.clone(), at).await.unwrap();
        }
    }
    // On PostgreSQL a transaction still open anywhere on the server (another test's) holds the
    // feed back for a moment; it never makes it skip, so the consumer just keeps reading.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut seen = Vec::new();
    let mut after = FeedCursor::default();
    while seen.len() < committed.len() && std::time::Instant::now() < deadline {
        let page = repo.feed(after, 7).await.unwrap();
        if page.rows.is_empty() {
            assert_eq!(page.next, after, "an empty page keeps the cursor");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        }
        assert!(page.next > after, "the cursor moves forward");
        seen.extend(page.rows.into_iter().map(|m| m.message_id.clone()));
        after = page.next;
    }
    assert_eq!(seen, committed, "every committed message once, in commit order");
    assert!(repo.feed(after, 7).await.unwrap().rows.is_empty(), "and nothing more");
    let late = message("late", "+1101", 1, Some("late but new"));
    repo.insert(late, at).await.unwrap();
    let mut page = repo.feed(after, 7).await.unwrap();
    while page.rows.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        page = repo.feed(after, 7).await.unwrap();
    }
    assert_eq!(
        page.rows.iter().map(|m| m.message_id.as_str()).collect::<Vec<_>>(),
        ["late"],
        "an early ts still comes next"
    );
}

async fn stats_match_the_reference(repo: Arc<dyn MessageRepository>) {
    let empty = repo.stats().await.unwrap();
    assert_eq!((empty.total_messages, empty.first_message_ts, empty.last_message_ts), (0, None, None));
    let data = dataset();
    let at = Timestamp::from_micros(0).unwrap();
    for m in &data {
        repo.insert(m.clone(), at).await.unwrap();
    }
    let mut counts = std::collections::BTreeMap::<String, u64>::new();
    for sender in data.iter().filter_map(Message::sender_key) {
        *counts.entry(sender.to_owned()).or_default() += 1;
    }
    let stats = repo.stats().await.unwrap();
    assert_eq!(stats.total_messages, 60);
    assert_eq!(stats.senders_count, counts.len() as u64);
    let reference = rank_senders(counts.into_iter().map(|(from, count)| SenderCount { from, count }).collect());
    assert_eq!(stats.top_senders, reference);
    assert_eq!(stats.first_message_ts, data.iter().map(|m| m.ts).min());
    assert_eq!(stats.last_message_ts, data.iter().map(|m| m.ts).max());
}

async fn concurrent_duplicates_are_created_once(repo: Arc<dyn MessageRepository>) {
    let at = Timestamp::from_micros(0).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let repo = repo.clone();
        tasks.spawn(async move { repo.insert(message(&format!("c-{}", i % 10), "+111", 1, None), at).await.unwrap() });
    }
    let mut created = 0;
    while let Some(outcome) = tasks.join_next().await {
        created += usize::from(outcome.unwrap() == Inserted::Created);
    }
    assert_eq!(created, 10);
    let stats = repo.stats().await.unwrap();
    assert_eq!((stats.total_messages, stats.top_senders[0].count), (10, 10));
}

async fn sql_store(target: DatabaseTarget) -> Arc<SqlMessages> {
    let config = DbConfig {
        target,
        max_connections: 4,
        connect_timeout: Duration::from_secs(5),
        acquire_timeout: Duration::from_secs(5),
        sqlite_full_sync: true,
        sqlite_cache_mib: DbConfig::DEFAULT_SQLITE_CACHE_MIB,
    };
    let conn = db::connect(&config).await.unwrap();
    db::migrate(&conn).await.unwrap();
    Arc::new(db::repository(conn, &config, db::CheckpointPolicy::default()).await.unwrap())
}

async fn sql(target: DatabaseTarget) -> Arc<dyn MessageRepository> {
    sql_store(target).await
}

/// The production write path: the group-commit writer in front of the store, in small groups so
/// that tests exercise several groups.
async fn batched(target: DatabaseTarget) -> Arc<dyn MessageRepository> {
    Arc::new(BatchingWriter::spawn(sql_store(target).await, 64, 8))
}

macro_rules! contract {
    ($($case:ident),*) => {
        $(
            mod $case {
                use super::*;

                #[tokio::test]
                async fn in_memory() {
                    super::$case(Arc::new(InMemoryMessages::default())).await;
                }

                #[tokio::test]
                async fn sqlite() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$case(sql(DatabaseTarget::SqliteFile(dir.path().join("c.db"))).await).await;
                }

                #[tokio::test]
                #[cfg_attr(not(postgres_tests), ignore = "TEST_POSTGRES_URL was not set when the tests were built")]
                async fn postgres() {
                    let url = crate::helpers::fresh_postgres_database().await;
                    super::$case(sql(DatabaseTarget::Postgres(url)).await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn batched_sqlite() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$case(batched(DatabaseTarget::SqliteFile(dir.path().join("c.db"))).await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(postgres_tests), ignore = "TEST_POSTGRES_URL was not set when the tests were built")]
                async fn batched_postgres() {
                    let url = crate::helpers::fresh_postgres_database().await;
                    super::$case(batched(DatabaseTarget::Postgres(url)).await).await;
                }
            }
        )*
    };
}

use crate::count_contract::maintained_counts_equal_a_count_of_the_rows;
use crate::delivery_contract::{
    a_delivery_stores_messages_and_statuses_once, deleting_during_ingest_of_the_same_id_leaves_it_whole_or_gone,
    retention_removes_old_rows_from_every_read, statuses_match_the_reference_semantics,
};

contract!(
    maintained_counts_equal_a_count_of_the_rows,
    a_delivery_stores_messages_and_statuses_once,
    statuses_match_the_reference_semantics,
    retention_removes_old_rows_from_every_read,
    deleting_during_ingest_of_the_same_id_leaves_it_whole_or_gone,
    insert_reports_created_then_duplicate,
    cursor_pages_are_the_offset_pages_even_with_rows_inserted_before_the_cursor,
    the_feed_shows_each_message_once_in_commit_order,
    list_matches_the_reference_semantics,
    stats_match_the_reference,
    concurrent_duplicates_are_created_once
);
