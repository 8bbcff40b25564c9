//! Totals of searches on PostgreSQL, remembered from earlier snapshots and, beside `since`, read
//! from a profile of where a needle's matches fall: exact across transactions that commit late,
//! inserts and erasures.

use poem::http::StatusCode;
use sea_orm::{ConnectionTrait, Database};
use webhook_ingest::domain::timestamp::Timestamp;

use crate::feed::hold_open_with;
use crate::helpers::{TestApp, fresh_postgres_database, msg};

/// 2025-01-15T00:00:00Z in microseconds.
const BASE: i64 = 1_736_899_200_000_000;
const SECOND: i64 = 1_000_000;

async fn total(app: &TestApp, query: &str) -> u64 {
    let page = app.get(&format!("/messages?{query}&limit=1")).await;
    assert_eq!(page.status, StatusCode::OK, "{query}: {}", page.body);
    page.body["total"].as_u64().unwrap()
}

fn since(micros: i64) -> String {
    Timestamp::from_micros(micros).unwrap().to_rfc3339().replace('+', "%2B")
}

/// `q` beside `since` on both sides of every tenth second the rows span, and alone.
async fn check(app: &TestApp, q: &str, matches: &[i64], context: &str) {
    assert_eq!(total(app, &format!("q={q}")).await, matches.len() as u64, "{context}: {q}");
    for s in (-1..=1_002).step_by(10).chain([1_000, 1_001]) {
        for d in [-1, 0, 1] {
            let at = BASE + s * SECOND + d;
            let want = matches.iter().filter(|&&ts| ts >= at).count() as u64;
            let got = total(app, &format!("q={q}&since={}", since(at))).await;
            assert_eq!(got, want, "{context}: {q} since {at}");
        }
    }
}

/// The three needles: `hello` has more matches than a profile keeps points for, `rare_%` fewer,
/// and `e_%` is literal (as a pattern, `_` and `%` would match every `hello`).
async fn check_all(app: &TestApp, hello: &[i64], rare: &[i64], context: &str) {
    check(app, "hello", hello, context).await;
    check(app, "rare_%25", rare, context).await;
    check(app, "e_%25", rare, context).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "TEST_POSTGRES_URL was not set when the tests were built")]
async fn search_totals_beside_since_stay_exact_across_late_commits_inserts_and_erasures() {
    let url = fresh_postgres_database().await;
    let app = TestApp::with_url(url.clone(), |_| {}).await;
    let raw = Database::connect(url).await.unwrap();
    // 3,000 rows, three to a second: every other one says hello, so 1,500 matches with ties at
    // every point; every fifth is rare, 600 matches.
    raw.execute_unprepared(&format!(
        "INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, text, text_folded, created_at) \
         SELECT 'p-' || i, '+15550001', '+15550002', {BASE} + (i / 3) * {SECOND}, t, lower(t), 0 \
         FROM (SELECT i, CASE WHEN i % 2 = 0 THEN 'Hello ' || i ELSE 'other ' || i END \
                 || CASE WHEN i % 5 = 0 THEN ' rare_%' ELSE '' END AS t \
               FROM generate_series(0, 2999) i) s"
    ))
    .await
    .unwrap();
    let at = |i: i64| BASE + (i / 3) * SECOND;
    let mut matches: Vec<i64> = (0..3_000).filter(|i| i % 2 == 0).map(at).collect();
    let mut rare: Vec<i64> = (0..3_000).filter(|i| i % 5 == 0).map(at).collect();
    check_all(&app, &matches, &rare, "as loaded").await;
    // A transaction older than the next ones stays open while they commit and are counted.
    let late = hold_open_with(&raw, "late", BASE + 500 * SECOND, "'hello late rare_%'").await;
    let seeded = [("new-1", 10, "hello new"), ("new-2", 500, "HELLO new"), ("new-3", 999, "none")];
    for (id, s, text) in seeded {
        let ts = Timestamp::from_micros(BASE + s * SECOND).unwrap().to_rfc3339();
        app.seed(&[msg(id, "+15550001", &ts, Some(text))]).await;
    }
    matches.extend([BASE + 10 * SECOND, BASE + 500 * SECOND]);
    check_all(&app, &matches, &rare, "with an older transaction open").await;
    late.commit().await.unwrap();
    matches.push(BASE + 500 * SECOND);
    rare.push(BASE + 500 * SECOND);
    check_all(&app, &matches, &rare, "after it committed").await;
    let erased = app.client.delete("/messages/p-0").send().await;
    assert_eq!(erased.0.status(), StatusCode::NO_CONTENT);
    matches.remove(0);
    rare.remove(0);
    check_all(&app, &matches, &rare, "after an erasure").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "TEST_POSTGRES_URL was not set when the tests were built")]
async fn a_remembered_search_total_counts_a_transaction_that_commits_after_younger_ones() {
    let url = fresh_postgres_database().await;
    let app = TestApp::with_url(url.clone(), |_| {}).await;
    let raw = Database::connect(url).await.unwrap();
    app.seed(&[msg("first", "+15550001", "2025-01-15T10:00:00Z", Some("Hello first"))]).await;
    assert_eq!(total(&app, "q=hello").await, 1);
    // An older transaction, open while younger ones commit and the total is remembered.
    let old = hold_open_with(&raw, "held", 0, "'hello held'").await;
    app.seed(&[msg("second", "+15550001", "2025-01-15T10:01:00Z", Some("hello second"))]).await;
    assert_eq!(total(&app, "q=hello").await, 2);
    assert_eq!(total(&app, "q=hello").await, 2, "the same again, from what was remembered");
    old.commit().await.unwrap();
    assert_eq!(total(&app, "q=hello").await, 3, "the late commit is counted, not passed over");
    app.seed(&[msg("third", "+15550001", "2025-01-15T10:02:00Z", Some("HELLO third"))]).await;
    assert_eq!(total(&app, "q=hello").await, 4);
    let erased = app.client.delete("/messages/second").send().await;
    assert_eq!(erased.0.status(), StatusCode::NO_CONTENT);
    assert_eq!(total(&app, "q=hello").await, 3, "an erasure is not counted from memory");
    let rows = raw
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS n FROM messages WHERE text_folded LIKE '%hello%'",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rows.try_get::<i64>("", "n").unwrap(), 3);
}
