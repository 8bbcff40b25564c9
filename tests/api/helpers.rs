//! The test harness: the real application in process, on SQLite or on a fresh PostgreSQL database.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::test::TestClient;
use poem::{Body, EndpointExt};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use tempfile::TempDir;
use webhook_ingest::adapters::signature::sign_hex;
use webhook_ingest::app::bootstrap::Application;
use webhook_ingest::app::config::Settings;

/// The secret every test app is configured with.
pub const SECRET: &str = "test-secret-with-enough-length";

/// A running application and a client for it.
pub struct TestApp {
    pub client: Arc<TestClient<poem::endpoint::BoxEndpoint<'static>>>,
    pub app: Application,
    /// Where its database is.
    pub database_url: String,
    _dir: Option<TempDir>,
}

/// The response's status and JSON body (`Value::Null` when the body is not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: poem::http::HeaderMap,
    pub body: Value,
}

impl TestApp {
    /// An app on a new SQLite file in a temporary directory.
    pub async fn sqlite() -> Self {
        Self::sqlite_with(|_| {}).await
    }

    /// An app on a new SQLite file, with settings adjusted by `tweak`.
    pub async fn sqlite_with(tweak: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/nested/dir/app.db", dir.path().display());
        Self::start(url, Some(dir), tweak).await
    }

    /// An app on a fresh PostgreSQL database on the `TEST_POSTGRES_URL` server.
    pub async fn postgres() -> Self {
        Self::postgres_with(|_| {}).await
    }

    /// Like [`TestApp::postgres`], with settings adjusted by `tweak`.
    pub async fn postgres_with(tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::start(fresh_postgres_database().await, None, tweak).await
    }

    /// An app on the database at `url`, with settings adjusted by `tweak`.
    pub async fn with_url(url: String, tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::start(url, None, tweak).await
    }

    async fn start(database_url: String, dir: Option<TempDir>, tweak: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = Settings {
            webhook_secret: Some(SECRET.into()),
            database_url: database_url.clone(),
            db_max_connections: 4,
            ..Settings::default()
        };
        tweak(&mut settings);
        let app = Application::build(&settings).await.expect("app builds");
        let client = Arc::new(TestClient::new(app.endpoint().map_to_response().boxed()));
        Self { client, app, database_url, _dir: dir }
    }

    /// Posts `body` signed with [`SECRET`] in `X-Signature`.
    pub async fn post_signed(&self, body: &str) -> Reply {
        self.post_with(body, &[("X-Signature", &sign_hex(SECRET, body.as_bytes()))]).await
    }

    /// Posts `body` with exactly these headers.
    pub async fn post_with(&self, body: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = self.client.post("/webhook").body(Body::from(body.to_owned()));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        reply(req.send().await).await
    }

    /// GETs a path with its raw query string.
    pub async fn get(&self, path_and_query: &str) -> Reply {
        reply(self.client.get(path_and_query).send().await).await
    }

    /// Stores `messages` through the webhook, asserting each is accepted.
    pub async fn seed(&self, messages: &[Value]) {
        for m in messages {
            let r = self.post_signed(&m.to_string()).await;
            assert_eq!(r.status, StatusCode::OK, "seeding {m}: {}", r.body);
        }
    }

    /// The `message_id`s of `GET path`, in order.
    pub async fn ids(&self, path_and_query: &str) -> Vec<String> {
        let r = self.get(path_and_query).await;
        assert_eq!(r.status, StatusCode::OK, "{path_and_query}: {}", r.body);
        r.body["data"].as_array().unwrap().iter().map(|m| m["message_id"].as_str().unwrap().to_owned()).collect()
    }
}

async fn reply(resp: poem::test::TestResponse) -> Reply {
    Reply::from(resp).await
}

impl Reply {
    /// Reads a test response completely.
    pub async fn from(resp: poem::test::TestResponse) -> Self {
        let status = resp.0.status();
        let headers = resp.0.headers().clone();
        let bytes = resp.0.into_body().into_vec().await.unwrap_or_default();
        Self { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }
}

/// A valid message with this id, sender, timestamp and text.
pub fn msg(id: &str, from: &str, ts: &str, text: Option<&str>) -> Value {
    json!({"message_id": id, "from": from, "to": "+14155550100", "ts": ts, "text": text})
}

/// A valid message body with one field replaced.
pub fn valid_with(field: &str, value: Value) -> String {
    let mut m = msg("m-1", "+919876543210", "2025-01-15T10:00:00Z", Some("Hello"));
    m[field] = value;
    m.to_string()
}

/// Creates a new database on the `TEST_POSTGRES_URL` server and returns its URL. The PostgreSQL
/// tests are built as ignored without that variable (see build.rs), so one that runs needs it.
pub async fn fresh_postgres_database() -> String {
    let admin_url = std::env::var("TEST_POSTGRES_URL")
        .expect("TEST_POSTGRES_URL is not set: the PostgreSQL tests were run with --ignored or built with it set");
    let name = format!("wh_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(&admin_url).await.expect("TEST_POSTGRES_URL reachable");
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
    admin.close().await.ok();
    let base = admin_url.split('?').next().unwrap_or(&admin_url);
    let (server, _db) = base.rsplit_once('/').expect("URL has a database path");
    format!("{server}/{name}")
}

/// Runs each test body once on SQLite and once on PostgreSQL (when configured).
#[macro_export]
macro_rules! on_every_backend {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $app = $crate::helpers::TestApp::sqlite().await;
                    $body
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(postgres_tests), ignore = "TEST_POSTGRES_URL was not set when the tests were built")]
                async fn postgres() {
                    let $app = $crate::helpers::TestApp::postgres().await;
                    $body
                }
            }
        )*
    };
}
