//! The repository contract for deliveries, run against every backend by `repository_contract`:
//! a delivery's messages and statuses in one call, duplicates inside and across deliveries,
//! provider parts and raw objects kept, and the status filters' reference semantics.

use std::sync::Arc;

use webhook_ingest::domain::delivery::{Delivery, DeliveryStatus, Kind, Media, MessageParts, RawObject, Source};
use webhook_ingest::domain::message::{Message, MessageId, MessageText, Msisdn};
use webhook_ingest::domain::ports::{Inserted, MessageRepository};
use webhook_ingest::domain::query::{Page, RawListQuery};
use webhook_ingest::domain::status_query::RawStatusQuery;
use webhook_ingest::domain::timestamp::Timestamp;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_micros(secs * 1_000_000).unwrap()
}

fn provider_message(id: &str, from: Option<&str>, user: Option<&str>) -> Message {
    let parts = MessageParts {
        user_id: user.map(str::to_owned),
        profile_name: Some("Sheena".into()),
        media: vec![Media { id: Some("m-1".into()), mime_type: Some("image/jpeg".into()), ..Media::default() }],
        ..MessageParts::default()
    };
    Message {
        message_id: MessageId::parse(id).unwrap(),
        from: from.map(|f| Msisdn::parse(f).unwrap()),
        to: Msisdn::parse("+15550783881").unwrap(),
        ts: at(1_749_416_383),
        text: Some(MessageText::parse("a caption").unwrap()),
        source: Source::Whatsapp,
        kind: Kind::parse("image").unwrap(),
        parts,
        raw: Some(RawObject::new(format!(r#"{{"id":"{id}","type":"image","image":{{"mime_type":"image\/jpeg"}}}}"#))),
    }
}

fn status(id: &str, word: &str, secs: i64) -> DeliveryStatus {
    DeliveryStatus {
        message_id: MessageId::parse(id).unwrap(),
        status: Kind::parse(word).unwrap(),
        ts: at(secs),
        recipient: Some(format!("+1650555{}", secs % 10)),
        errors: Vec::new(),
        pricing_category: Some("utility".into()),
        source: Source::Whatsapp,
        raw: Some(RawObject::new(format!(r#"{{"id":"{id}","status":"{word}"}}"#))),
    }
}

pub async fn a_delivery_stores_messages_and_statuses_once(repo: Arc<dyn MessageRepository>) {
    let first = provider_message("wamid.A", Some("+16505551234"), None);
    let delivery = Delivery {
        messages: vec![first.clone(), provider_message("wamid.B", None, Some("IN.77")), first.clone()],
        statuses: vec![
            status("wamid.OUT", "read", 20),
            status("wamid.OUT", "delivered", 10),
            status("wamid.OUT", "read", 20),
        ],
        ..Delivery::default()
    };
    let stored = repo.store(delivery.clone(), at(100)).await.unwrap();
    use Inserted::{Created, Duplicate};
    assert_eq!(stored.messages, [Created, Created, Duplicate], "the first occurrence of an id wins");
    assert_eq!(stored.statuses, [Created, Created, Duplicate]);
    let again = repo.store(delivery, at(200)).await.unwrap();
    assert_eq!((again.messages, again.statuses), (vec![Duplicate; 3], vec![Duplicate; 3]));

    let a = repo.get(&MessageId::parse("wamid.A").unwrap()).await.unwrap().expect("stored");
    assert_eq!(a.message, first);
    assert_eq!(a.received_at, at(100), "a redelivery does not move the time of receipt");
    let b = repo.get(&MessageId::parse("wamid.B").unwrap()).await.unwrap().expect("stored");
    assert_eq!((b.from.clone(), b.parts.user_id.as_deref()), (None, Some("IN.77")));
    assert!(repo.get(&MessageId::parse("wamid.Z").unwrap()).await.unwrap().is_none());

    let stats = repo.stats().await.unwrap();
    assert_eq!((stats.total_messages, stats.senders_count), (2, 2));
    let list = |raw: RawListQuery| raw.parse().unwrap();
    let images = list(RawListQuery { kind: Some("image".into()), ..RawListQuery::default() });
    assert_eq!(repo.list(&images.filter, images.page).await.unwrap().total, 2);
    let flat = list(RawListQuery { source: Some("webhook".into()), ..RawListQuery::default() });
    assert_eq!(repo.list(&flat.filter, flat.page).await.unwrap().total, 0);
}

pub async fn statuses_match_the_reference_semantics(repo: Arc<dyn MessageRepository>) {
    let words = ["sent", "delivered", "read", "failed"];
    let all: Vec<DeliveryStatus> =
        (0..24).map(|i| status(&format!("wamid.S{}", i % 6), words[i % 4], 1_000 + (i as i64 * 7) % 11)).collect();
    let delivery = Delivery { statuses: all.clone(), ..Delivery::default() };
    repo.store(delivery, at(1)).await.unwrap();
    let mut unique: Vec<DeliveryStatus> = Vec::new();
    for s in all {
        if !unique.iter().any(|u| u.message_id == s.message_id && u.status == s.status) {
            unique.push(s);
        }
    }
    unique.sort_by(|a, b| {
        (a.ts, a.message_id.as_str(), a.status.as_str()).cmp(&(b.ts, b.message_id.as_str(), b.status.as_str()))
    });
    let queries = [
        RawStatusQuery::default(),
        RawStatusQuery { message_id: Some("wamid.S3".into()), ..RawStatusQuery::default() },
        RawStatusQuery { status: Some("read".into()), ..RawStatusQuery::default() },
        RawStatusQuery { recipient: Some("+16505552".into()), ..RawStatusQuery::default() },
        RawStatusQuery {
            since: Some("1970-01-01T00:16:45Z".into()),
            status: Some("sent".into()),
            ..RawStatusQuery::default()
        },
    ];
    for raw in queries {
        let query = raw.parse().unwrap();
        let want: Vec<_> = unique.iter().filter(|s| query.filter.matches(s)).cloned().collect();
        for page in [Page { limit: 100, offset: 0 }, Page { limit: 3, offset: 2 }] {
            let got = repo.statuses(&query.filter, page).await.unwrap();
            assert_eq!(got.total, want.len() as u64, "{:?}", query.filter);
            let rows: Vec<_> = got.rows.into_iter().map(|r| r.status).collect();
            let expected: Vec<_> = want.iter().skip(page.offset as usize).take(page.limit as usize).cloned().collect();
            assert_eq!(rows, expected, "{:?} {page:?}", query.filter);
        }
    }
}

fn flat(id: &str, from: &str, secs: i64, text: &str) -> Message {
    Message::flat(
        MessageId::parse(id).unwrap(),
        Msisdn::parse(from).unwrap(),
        Msisdn::parse("+15550002").unwrap(),
        at(secs),
        Some(MessageText::parse(text).unwrap()),
    )
}

pub async fn retention_removes_old_rows_from_every_read(repo: Arc<dyn MessageRepository>) {
    use webhook_ingest::domain::cursor::FeedCursor;
    // Received at 1,000 s (old) and 5,000 s (new); the provider's ts says nothing about age.
    for i in 0..30 {
        let received = if i % 3 == 0 { 5_000 } else { 1_000 };
        let m = flat(&format!("r-{i:02}"), &format!("+1555000{}", i % 4), 10_000 - i, &format!("needle {i}"));
        repo.insert(m, at(received)).await.unwrap();
    }
    let old_status = Delivery { statuses: vec![status("wamid.S", "sent", 10)], ..Delivery::default() };
    repo.store(old_status, at(1_000)).await.unwrap();
    let mut purged = 0;
    loop {
        let n = repo.purge(at(2_000), 7).await.unwrap();
        purged += n;
        if n == 0 {
            break;
        }
    }
    assert_eq!(purged, 21, "20 old messages and the old status, in batches");
    let kept: Vec<String> = (0..30).filter(|i| i % 3 == 0).map(|i| format!("r-{i:02}")).collect();
    let all = RawListQuery::default().parse().unwrap();
    let listed = repo.list(&all.filter, Page { limit: 100, offset: 0 }).await.unwrap();
    let mut ids: Vec<String> = listed.rows.iter().map(|m| m.message_id.as_str().to_owned()).collect();
    ids.sort();
    assert_eq!((ids, listed.total), (kept.clone(), 10));
    assert!(repo.get(&MessageId::parse("r-01").unwrap()).await.unwrap().is_none());
    let search = RawListQuery { q: Some("NEEDLE".into()), ..RawListQuery::default() }.parse().unwrap();
    assert_eq!(repo.list(&search.filter, search.page).await.unwrap().total, 10, "search agrees");
    let stats = repo.stats().await.unwrap();
    assert_eq!(stats.total_messages, 10, "counts agree");
    assert_eq!(stats.top_senders.iter().map(|s| s.count).sum::<u64>(), 10);
    // PostgreSQL's feed may lag behind another test's open transaction; it catches up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut feed = repo.feed(FeedCursor::default(), 100).await.unwrap();
    while feed.rows.len() < 10 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        feed = repo.feed(FeedCursor::default(), 100).await.unwrap();
    }
    assert_eq!(feed.rows.len(), 10, "the feed skips what is gone");
    assert_eq!(repo.export_page(&all.filter, 100).await.unwrap().rows.len(), 10);
    assert_eq!(repo.statuses(&Default::default(), Page::default()).await.unwrap().total, 0);
    // Later rows go on after the cursor; a deleted row's place is never given to a new one.
    repo.insert(flat("r-new", "+15550001", 1, "needle new"), at(6_000)).await.unwrap();
    let mut next = repo.feed(feed.next, 100).await.unwrap();
    while next.rows.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        next = repo.feed(feed.next, 100).await.unwrap();
    }
    assert_eq!(next.rows.iter().map(|m| m.message_id.as_str()).collect::<Vec<_>>(), ["r-new"]);
}

pub async fn deleting_during_ingest_of_the_same_id_leaves_it_whole_or_gone(repo: Arc<dyn MessageRepository>) {
    let id = MessageId::parse("contested").unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (repo, id) = (repo.clone(), id.clone());
        tasks.spawn(async move {
            if i % 2 == 0 {
                repo.insert(flat("contested", "+15550001", 1, "text contested"), at(1)).await.map(drop)
            } else {
                repo.delete(&id).await.map(drop)
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    let present = repo.get(&id).await.unwrap().is_some();
    let all = RawListQuery::default().parse().unwrap();
    let listed = repo.list(&all.filter, all.page).await.unwrap();
    let stats = repo.stats().await.unwrap();
    let expected = u64::from(present);
    assert_eq!((listed.rows.len() as u64, listed.total, stats.total_messages), (expected, expected, expected));
    let search = RawListQuery { q: Some("contested".into()), ..RawListQuery::default() }.parse().unwrap();
    assert_eq!(repo.list(&search.filter, search.page).await.unwrap().total, expected, "the search index agrees");
    assert_eq!(repo.delete(&id).await.unwrap(), present);
    assert!(!repo.delete(&id).await.unwrap(), "a second erasure finds nothing");
}
