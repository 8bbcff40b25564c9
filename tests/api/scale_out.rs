//! Several replicas on one PostgreSQL database, and readiness that follows the database.

use std::process::Command;
use std::time::{Duration, Instant};

use poem::http::StatusCode;
use serde_json::{Value, json};
use webhook_ingest::adapters::signature::sign_hex;

use crate::e2e::start;
use crate::helpers::{SECRET, TestApp, fresh_postgres_database, valid_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "TEST_POSTGRES_URL was not set when the tests were built")]
async fn two_replicas_receiving_the_same_messages_store_each_once() {
    let url = fresh_postgres_database().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [("WEBHOOK_SECRET", SECRET), ("DATABASE_URL", url.as_str())];
    let (a, b) = (start(dir.path(), &env), start(dir.path(), &env));
    let http = reqwest::Client::new();
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..100 {
        let body = json!({"message_id": format!("race-{i}"), "from": format!("+1555000{:04}", i % 7), "to": "+14155550100", "ts": "2025-01-15T10:00:00Z"}).to_string();
        for base in [a.base.clone(), b.base.clone()] {
            let (http, body) = (http.clone(), body.clone());
            sends.spawn(async move {
                let sig = sign_hex(SECRET, body.as_bytes());
                http.post(format!("{base}/webhook"))
                    .header("X-Signature", sig)
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status()
            });
        }
    }
    while let Some(status) = sends.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    for base in [&a.base, &b.base] {
        let listed: Value = http.get(format!("{base}/messages?limit=100")).send().await.unwrap().json().await.unwrap();
        assert_eq!(listed["total"], 100, "{base}");
        let stats: Value = http.get(format!("{base}/stats")).send().await.unwrap().json().await.unwrap();
        assert_eq!(stats["total_messages"], 100);
    }
}

/// A PostgreSQL cluster of its own, so stopping it disturbs no other test; dropped at the end.
struct Cluster {
    version: String,
    name: String,
    port: u16,
}

impl Cluster {
    fn create() -> Option<Self> {
        let version =
            std::fs::read_dir("/etc/postgresql").ok()?.filter_map(Result::ok).next()?.file_name().into_string().ok()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        // Tests run at once in one process, so the process id alone would name two clusters alike.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("whready{}x{n}", std::process::id());
        let ok = Command::new("pg_createcluster")
            .args([&version, &name, "-p", &port.to_string(), "--", "--auth=trust"])
            .output()
            .is_ok_and(|o| o.status.success());
        let cluster = Self { version, name, port };
        (ok && cluster.ctl("start")).then_some(cluster)
    }

    fn ctl(&self, action: &str) -> bool {
        self.ctl_with(action, "fast")
    }

    /// `pg_ctlcluster` with a stop mode: `immediate` is a crash, as a killed server would be.
    fn ctl_with(&self, action: &str, mode: &str) -> bool {
        let mut args = vec![self.version.as_str(), self.name.as_str(), action];
        if action == "stop" {
            args.extend(["-m", mode]);
        }
        Command::new("pg_ctlcluster").arg("--skip-systemctl-redirect").args(args).status().is_ok_and(|s| s.success())
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("pg_dropcluster").args(["--stop", &self.version, &self.name]).output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "TEST_POSTGRES_URL was not set when the tests were built")]
async fn readiness_and_ingest_follow_a_stopped_and_restarted_postgres() {
    let cluster = Cluster::create().expect("pg_createcluster works where TEST_POSTGRES_URL is set (run as root)");
    let app = TestApp::with_url(cluster.url(), |s| {
        s.db_acquire_timeout_secs = 2;
        s.db_connect_timeout_secs = 2;
    })
    .await;
    assert_eq!(app.get("/health/ready").await.status, StatusCode::OK);
    assert_eq!(app.post_signed(&valid_with("message_id", json!("before"))).await.status, StatusCode::OK);

    assert!(cluster.ctl("stop"));
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body["reason"], "storage unavailable");
    let during = app.post_signed(&valid_with("message_id", json!("during"))).await;
    assert_eq!(during.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(during.body["detail"].is_string() && during.headers.contains_key("retry-after"));

    assert!(cluster.ctl("start"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.get("/health/ready").await.status != StatusCode::OK {
        assert!(Instant::now() < deadline, "the service did not recover without a restart");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(app.post_signed(&valid_with("message_id", json!("during"))).await.status, StatusCode::OK);
    assert_eq!(app.ids("/messages").await, ["before", "during"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "TEST_POSTGRES_URL was not set when the tests were built")]
async fn postgres_killed_under_write_load_loses_nothing_acknowledged_and_recovers() {
    let cluster = Cluster::create().expect("pg_createcluster works where TEST_POSTGRES_URL is set (run as root)");
    let app = std::sync::Arc::new(
        TestApp::with_url(cluster.url(), |s| {
            s.db_acquire_timeout_secs = 2;
            s.db_connect_timeout_secs = 2;
        })
        .await,
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..4 {
        let (app, stop) = (app.clone(), stop.clone());
        writers.spawn(async move {
            let (mut acked, mut refused) = (Vec::new(), 0);
            for i in 0.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let id = format!("k{w}-{i}");
                let r = app.post_signed(&valid_with("message_id", json!(id))).await;
                match r.status {
                    StatusCode::OK => acked.push(id),
                    StatusCode::SERVICE_UNAVAILABLE => refused += 1,
                    other => panic!("{other}: {}", r.body),
                }
            }
            (acked, refused)
        });
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(cluster.ctl_with("stop", "immediate"), "the server is killed mid-load");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(app.get("/health/ready").await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(cluster.ctl("start"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.get("/health/ready").await.status != StatusCode::OK {
        assert!(Instant::now() < deadline, "the service did not recover without a restart");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut acked, mut refused) = (Vec::new(), 0);
    while let Some(done) = writers.join_next().await {
        let (a, r) = done.unwrap();
        acked.extend(a);
        refused += r;
    }
    assert!(refused > 0, "requests while the server was down were refused, not acknowledged");
    assert!(acked.len() > 20, "the load reached the service ({} acknowledged)", acked.len());
    // A commit the server finished just before it died may have been answered 503: stored but
    // not acknowledged, which the provider's retry then meets as a duplicate. Never the reverse.
    let stats = app.get("/stats").await;
    assert!(stats.body["total_messages"].as_u64().unwrap() >= acked.len() as u64, "{}", stats.body);
    for id in &acked {
        assert_eq!(app.get(&format!("/messages/{id}")).await.status, StatusCode::OK, "acknowledged {id} lost");
    }
}
