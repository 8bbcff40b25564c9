//! A search beside a sender busy enough that its rows are tested against the text index's
//! matches, while the index holds none, part, or all of the rows. Each state is read by a freshly
//! opened repository, so that its totals are counted rather than recalled from an earlier state.

use std::path::Path;

use sea_orm::DatabaseConnection;

use crate::adapters::batching::BatchInsert;
use crate::adapters::db::SqlMessages;
use crate::adapters::db::repository::{SENDER_WALK, dense};
use crate::adapters::db::test_support::{BY_HAND, open};
use crate::adapters::db::text_index::indexed_upto;
use crate::domain::delivery::Delivery;
use crate::domain::message::{Message, MessageId, MessageText, Msisdn};
use crate::domain::ports::MessageRepository;
use crate::domain::query::{MessageFilter, Page, RawListQuery};
use crate::domain::timestamp::Timestamp;

const ROWS: usize = 36_000;
/// Rows stored, and indexed, before the rest.
const FIRST: usize = 24_000;
/// Sends seven rows in eight: 21,000 of the first rows, more than a sender whose rows are
/// walked and tested.
const BUSY: &str = "+1999";

/// Message `i`: `ts` a permutation of the row order, so the index's rowid order is not the
/// page order; the needle in one row in 50, three in four of them the busy sender's, sparse
/// enough among its rows that pages are gathered through the index rather than walked.
fn message(i: usize) -> Message {
    let from = if i.is_multiple_of(8) { format!("+1{}", i % 97) } else { BUSY.to_owned() };
    let word = match i % 100 {
        7 => "NeedLe",
        0 => "needle",
        _ => "hay",
    };
    Message::flat(
        MessageId::parse(&format!("m-{i:06}")).unwrap(),
        Msisdn::parse(&from).unwrap(),
        Msisdn::parse("+222").unwrap(),
        Timestamp::from_micros(i64::try_from(i * 7_919 % ROWS).unwrap()).unwrap(),
        Some(MessageText::parse(&format!("row {i} has {word}")).unwrap()),
    )
}

async fn store(repo: &SqlMessages, rows: std::ops::Range<usize>) {
    let at = Timestamp::from_micros(0).unwrap();
    let all: Vec<usize> = rows.collect();
    for chunk in all.chunks(1_000) {
        let group = chunk.iter().map(|i| (Delivery::of_message(message(*i)), at)).collect();
        repo.insert_batch(group).await.unwrap();
    }
    repo.flush().await.unwrap();
}

fn filter(since: Option<&str>) -> MessageFilter {
    let raw = RawListQuery {
        from: Some(BUSY.to_owned()),
        q: Some("needle".to_owned()),
        since: since.map(str::to_owned),
        ..RawListQuery::default()
    };
    raw.parse().unwrap().filter
}

/// The ids `filter` keeps among messages `0..stored`, in page order.
fn expected(filter: &MessageFilter, stored: usize) -> Vec<String> {
    let mut kept: Vec<Message> = (0..stored).map(message).filter(|m| filter.matches(m)).collect();
    kept.sort_by(|a, b| (a.ts, a.message_id.as_str()).cmp(&(b.ts, b.message_id.as_str())));
    kept.into_iter().map(|m| m.message_id.as_str().to_owned()).collect()
}

fn ids(page: &crate::domain::ports::MessagePage) -> Vec<String> {
    page.rows.iter().map(|m| m.message.message_id.as_str().to_owned()).collect()
}

/// Totals, offset pages and a walk by cursor through every page, against the reference.
async fn check(repo: &SqlMessages, filter: &MessageFilter, stored: usize, state: &str) {
    let all = expected(filter, stored);
    assert!(all.len() > 150, "{state}: too few matches to page through");
    for offset in [0, 50, 100] {
        let page = repo.list(filter, Page { limit: 50, offset }).await.unwrap();
        assert_eq!(page.total, all.len() as u64, "{state}: total");
        let want: Vec<String> = all.iter().skip(offset as usize).take(50).cloned().collect();
        assert_eq!(ids(&page), want, "{state}: the page at offset {offset}");
    }
    let mut walked = Vec::new();
    let mut after = MessageFilter { after: None, ..filter.clone() };
    loop {
        let page = repo.list(&after, Page { limit: 50, offset: 0 }).await.unwrap();
        assert_eq!(page.total, all.len() as u64, "{state}: total beside a cursor");
        walked.extend(ids(&page));
        match page.next {
            Some(next) => after.after = Some(next),
            None => break,
        }
    }
    assert_eq!(walked, all, "{state}: the pages by cursor");
}

/// Whether `list` takes the path under test for messages `0..stored`: the busy sender has more
/// rows than are walked when the search's matches are not known, and each filter's matches are
/// too sparse among the rows its other filters keep to be found by walking them in order.
fn through_the_index(filters: &[MessageFilter], stored: usize) {
    let busy = (0..stored).filter(|i| !i.is_multiple_of(8)).count() as u64;
    assert!(busy > SENDER_WALK, "few enough rows to be walked and tested");
    for f in filters {
        let rows = expected(&MessageFilter { text: None, ..f.clone() }, stored).len() as u64;
        let count = expected(f, stored).len() as u64;
        assert!(!dense(count, rows, Page { limit: 50, offset: 0 }), "dense enough to be walked in order");
    }
}

async fn reopen(path: &Path, old: (DatabaseConnection, SqlMessages)) -> (DatabaseConnection, SqlMessages) {
    old.1.close().await.unwrap();
    old.0.close().await.unwrap();
    open(path, BY_HAND).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_beside_a_busy_sender_is_exact_however_much_is_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let filters = [filter(None), filter(Some("1970-01-01T00:00:00.012Z"))];

    let (conn, repo) = open(&path, BY_HAND).await;
    store(&repo, 0..FIRST).await;
    assert_eq!(indexed_upto(&conn).await.unwrap(), 0);
    through_the_index(&filters, FIRST);
    for f in &filters {
        check(&repo, f, FIRST, "nothing indexed").await;
    }

    while repo.index_text().await.unwrap() > 0 {}
    assert_eq!(indexed_upto(&conn).await.unwrap(), i64::try_from(FIRST).unwrap());
    store(&repo, FIRST..ROWS).await;
    let (conn, repo) = reopen(&path, (conn, repo)).await;
    through_the_index(&filters, ROWS);
    for f in &filters {
        check(&repo, f, ROWS, "two thirds indexed").await;
    }

    while repo.index_text().await.unwrap() > 0 {}
    assert_eq!(indexed_upto(&conn).await.unwrap(), i64::try_from(ROWS).unwrap());
    let (_conn, repo) = reopen(&path, (conn, repo)).await;
    for f in &filters {
        check(&repo, f, ROWS, "all indexed").await;
    }
}
