//! `GET /feed` and `GET /messages?cursor=` through the real app: long polling, exactly once across
//! two replicas on PostgreSQL with transactions that commit out of order.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use poem::http::StatusCode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, TransactionTrait};
use serde_json::Value;

use crate::helpers::{TestApp, fresh_postgres_database, msg};

/// Reads the feed from `after` until it answers empty; returns the ids and the last cursor.
async fn drain(app: &TestApp, mut after: Option<String>) -> (Vec<String>, Option<String>) {
    let mut ids = Vec::new();
    loop {
        let path = match &after {
            Some(c) => format!("/feed?limit=7&after={c}"),
            None => "/feed?limit=7".to_owned(),
        };
        let page = app.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let data = page.body["data"].as_array().unwrap().clone();
        after = page.body["next_cursor"].as_str().map(str::to_owned);
        if data.is_empty() {
            return (ids, after);
        }
        ids.extend(data.iter().map(|m| m["message_id"].as_str().unwrap().to_owned()));
    }
}

/// Like [`drain`], until `n` ids have come or 20 s pass: on PostgreSQL a transaction left open
/// anywhere on the server (another test's) holds the feed back for a while, never making it skip.
async fn drain_until(app: &TestApp, mut after: Option<String>, n: usize) -> (Vec<String>, Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ids = Vec::new();
    while ids.len() < n && Instant::now() < deadline {
        let (more, next) = drain(app, after).await;
        ids.extend(more);
        after = next;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (ids, after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_request_is_answered_when_a_message_arrives() {
    let app = std::sync::Arc::new(TestApp::sqlite().await);
    let (_, cursor) = drain(&app, None).await;
    let started = Instant::now();
    let empty = app.get(&format!("/feed?wait=1&after={}", cursor.clone().unwrap())).await;
    assert_eq!(empty.body["data"], serde_json::json!([]));
    assert!(started.elapsed() >= Duration::from_millis(900), "an empty answer waits out `wait`");
    let writer = {
        let app = app.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            app.seed(&[msg("arrives", "+15550001", "2025-01-15T10:00:00Z", Some("x"))]).await;
        })
    };
    let started = Instant::now();
    let page = app.get(&format!("/feed?wait=20&after={}", cursor.unwrap())).await;
    writer.await.unwrap();
    assert_eq!(page.body["data"][0]["message_id"], "arrives");
    assert!(started.elapsed() < Duration::from_secs(10), "answered when the message came, not after 20 s");
    let bad = app.get("/feed?limit=0&wait=31&after=nonsense").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["detail"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn message_pages_carry_a_cursor_until_the_last() {
    let app = TestApp::sqlite().await;
    let messages: Vec<Value> =
        (0..5).map(|i| msg(&format!("c-{i}"), "+15550001", &format!("2025-01-15T10:0{i}:00Z"), None)).collect();
    app.seed(&messages).await;
    let first = app.get("/messages?limit=2").await.body;
    assert_eq!(first["total"], 5);
    let mut ids: Vec<String> = Vec::new();
    let mut page = first;
    loop {
        ids.extend(page["data"].as_array().unwrap().iter().map(|m| m["message_id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => page = app.get(&format!("/messages?limit=2&cursor={cursor}")).await.body,
            None => break,
        }
    }
    assert_eq!(ids, ["c-0", "c-1", "c-2", "c-3", "c-4"]);
    let cursor = app.get("/messages?limit=2").await.body["next_cursor"].as_str().unwrap().to_owned();
    let both = app.get(&format!("/messages?cursor={cursor}&offset=2")).await;
    assert_eq!(both.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(both.body["detail"][0]["loc"], serde_json::json!(["query", "cursor"]));
}

async fn hold_open(conn: &DatabaseConnection, id: &str) -> sea_orm::DatabaseTransaction {
    hold_open_with(conn, id, 0, "NULL").await
}

/// A row with this `ts` (microseconds) written by a transaction left open; `text` is an SQL literal.
pub async fn hold_open_with(conn: &DatabaseConnection, id: &str, ts: i64, text: &str) -> sea_orm::DatabaseTransaction {
    let txn = conn.begin().await.unwrap();
    txn.execute_unprepared(&format!(
        "INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, text_folded, created_at) \
         VALUES ('{id}', '+15550009', '+15550002', {ts}, {text}, lower({text}), 0)"
    ))
    .await
    .unwrap();
    txn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "TEST_POSTGRES_URL was not set when the tests were built")]
async fn transactions_committing_out_of_order_are_seen_once_and_never_skipped() {
    let url = fresh_postgres_database().await;
    let app = TestApp::with_url(url.clone(), |_| {}).await;
    let raw = Database::connect(url).await.unwrap();
    // A takes its transaction id first and stays open while B commits.
    let a = hold_open(&raw, "held-a").await;
    app.seed(&[msg("b", "+15550001", "2025-01-15T10:00:00Z", None)]).await;
    let (seen, cursor) = drain(&app, None).await;
    assert!(seen.is_empty(), "b is held back while an older transaction may still commit: {seen:?}");
    a.commit().await.unwrap();
    let (seen, cursor) = drain_until(&app, cursor, 2).await;
    assert_eq!(seen, ["held-a", "b"]);
    // Two open at once, the younger committed first: nothing until both have ended.
    let c1 = hold_open(&raw, "c1").await;
    let c2 = hold_open(&raw, "c2").await;
    c2.commit().await.unwrap();
    let (seen, cursor) = drain(&app, cursor).await;
    assert!(seen.is_empty(), "{seen:?}");
    c1.commit().await.unwrap();
    let (seen, _) = drain_until(&app, cursor, 2).await;
    assert_eq!(seen, ["c1", "c2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "TEST_POSTGRES_URL was not set when the tests were built")]
async fn a_consumer_sees_every_message_of_two_replicas_exactly_once_while_they_write() {
    let url = fresh_postgres_database().await;
    let replicas =
        std::sync::Arc::new([TestApp::with_url(url.clone(), |_| {}).await, TestApp::with_url(url, |_| {}).await]);
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..4 {
        let replicas = replicas.clone();
        writers.spawn(async move {
            let mut acked = Vec::new();
            for i in 0..40 {
                let id = format!("w{w}-{i}");
                // Every message goes to both replicas, as a provider retrying elsewhere would.
                for app in replicas.iter() {
                    let r = app.post_signed(&msg(&id, "+15550001", "2025-01-15T10:00:00Z", None).to_string()).await;
                    assert_eq!(r.status, StatusCode::OK);
                }
                acked.push(id);
            }
            acked
        });
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let consumer_app = &replicas[1];
    while !writers.is_empty() {
        let (ids, next) = drain(consumer_app, cursor).await;
        seen.extend(ids);
        cursor = next;
        if let Some(done) = writers.try_join_next() {
            done.unwrap();
        }
    }
    let (ids, _) = drain_until(consumer_app, cursor, 160usize.saturating_sub(seen.len())).await;
    seen.extend(ids);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no message twice");
    assert_eq!(seen.len(), 160, "every acknowledged message once");
}

#[tokio::test]
async fn export_streams_every_match_as_ndjson_and_resumes_from_a_line_cursor() {
    let app = TestApp::sqlite().await;
    let messages: Vec<Value> = (0..1_203)
        .map(|i| {
            msg(
                &format!("e-{i:04}"),
                "+15550001",
                "2025-01-15T10:00:00Z",
                Some(if i % 2 == 0 { "even" } else { "odd" }),
            )
        })
        .collect();
    app.seed(&messages).await;
    let app = &app;
    let export = |query: String| async move {
        let resp = app.client.get(format!("/messages/export{query}")).send().await.0;
        let content_type =
            resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        (resp.status(), content_type, resp.into_body().into_string().await.unwrap())
    };
    let (status, content_type, body) = export(String::new()).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/x-ndjson"));
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1_203, "every match, across pages");
    let ids: Vec<&str> = lines.iter().map(|l| l["message_id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "in (ts, id) order");
    let (_, _, evens) = export("?q=even".into()).await;
    assert_eq!(evens.lines().count(), 602, "the filters of /messages apply");
    let resume = lines[999]["cursor"].as_str().unwrap();
    let (_, _, rest) = export(format!("?cursor={resume}")).await;
    assert_eq!(rest.lines().count(), 203, "resumed after line 1,000");
    let (status, _, _) = export("?limit=5&since=yesterday".into()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_erasure_is_204_then_404_and_needs_the_read_token() {
    let app = TestApp::sqlite_with(|s| s.read_api_token = Some("erasure-token-0123456789".into())).await;
    app.seed(&[msg("erase-me", "+15550001", "2025-01-15T10:00:00Z", Some("private"))]).await;
    let delete = |token: Option<&'static str>| {
        let mut req = app.client.delete("/messages/erase-me");
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        req.send()
    };
    assert_eq!(delete(None).await.0.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(delete(Some("erasure-token-0123456789")).await.0.status(), StatusCode::NO_CONTENT);
    assert_eq!(delete(Some("erasure-token-0123456789")).await.0.status(), StatusCode::NOT_FOUND);
    let stats = app.client.get("/stats").header("Authorization", "Bearer erasure-token-0123456789").send().await;
    let stats: Value = serde_json::from_str(&stats.0.into_body().into_string().await.unwrap()).unwrap();
    assert_eq!(stats["total_messages"], 0);
}

/// Reads server-sent events from `resp` until `n` have come; returns their (id, data).
async fn events(mut resp: reqwest::Response, n: usize) -> Vec<(String, Value)> {
    let mut text = String::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while out.len() < n {
        assert!(Instant::now() < deadline, "events did not come: {text}");
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk()).await.unwrap().unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let id = block.lines().find_map(|l| l.strip_prefix("id: ").or_else(|| l.strip_prefix("id:")));
            let data = block.lines().find_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")));
            if let (Some(id), Some(data)) = (id, data) {
                out.push((id.trim().to_owned(), serde_json::from_str(data).unwrap()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_sends_new_messages_and_resumes_after_last_event_id() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/app.db", dir.path().display());
    let svc = crate::e2e::start(dir.path(), &[("WEBHOOK_SECRET", crate::helpers::SECRET), ("DATABASE_URL", &url)]);
    let http = reqwest::Client::new();
    let post = |id: &'static str| {
        let body = msg(id, "+15550001", "2025-01-15T10:00:00Z", Some("streamed")).to_string();
        let sig = webhook_ingest::adapters::signature::sign_hex(crate::helpers::SECRET, body.as_bytes());
        http.post(format!("{}/webhook", svc.base)).header("X-Signature", sig).body(body).send()
    };
    post("before").await.unwrap();
    let stream = http.get(format!("{}/messages/stream", svc.base)).send().await.unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    post("s-1").await.unwrap();
    let first = events(stream, 1).await;
    assert_eq!(first[0].1["message_id"], "s-1", "a new stream starts at the end, not with old messages");
    post("s-2").await.unwrap();
    post("s-3").await.unwrap();
    let resumed =
        http.get(format!("{}/messages/stream", svc.base)).header("Last-Event-ID", &first[0].0).send().await.unwrap();
    let next = events(resumed, 2).await;
    assert_eq!((next[0].1["message_id"].as_str(), next[1].1["message_id"].as_str()), (Some("s-2"), Some("s-3")));
    let bad =
        http.get(format!("{}/messages/stream", svc.base)).header("Last-Event-ID", "nonsense").send().await.unwrap();
    assert_eq!(bad.status(), 422);
}
