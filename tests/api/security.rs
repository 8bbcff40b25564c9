//! Security beyond the shared secret: rotation, Standard Webhooks, the read token, the handshake.

use poem::http::StatusCode;
use serde_json::json;
use webhook_ingest::adapters::signature::{sign_hex, sign_standard};
use webhook_ingest::app::bootstrap::Application;
use webhook_ingest::app::config::Settings;

use crate::helpers::{TestApp, valid_with};

const WHSEC: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn standard_headers(prefix: &str, id: &str, ts: i64, sig: &str) -> Vec<(String, String)> {
    vec![
        (format!("{prefix}-id"), id.to_owned()),
        (format!("{prefix}-timestamp"), ts.to_string()),
        (format!("{prefix}-signature"), sig.to_owned()),
    ]
}

async fn post_standard(app: &TestApp, body: &str, headers: &[(String, String)]) -> StatusCode {
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    app.post_with(body, &pairs).await.status
}

#[tokio::test]
async fn every_secret_of_a_rotation_verifies() {
    let app =
        TestApp::sqlite_with(|s| s.webhook_secret = Some("old-secret-0123456789 new-secret-0123456789".into())).await;
    for (i, secret) in ["old-secret-0123456789", "new-secret-0123456789"].iter().enumerate() {
        let body = valid_with("message_id", json!(format!("rot-{i}")));
        let r = app.post_with(&body, &[("X-Signature", &sign_hex(secret, body.as_bytes()))]).await;
        assert_eq!(r.status, StatusCode::OK, "{secret}");
    }
    let body = valid_with("message_id", json!("rot-x"));
    let r = app.post_with(&body, &[("X-Signature", &sign_hex("retired-secret-0123", body.as_bytes()))]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn standard_webhooks_headers_verify_under_both_prefixes_within_the_window() {
    let app = TestApp::sqlite_with(|s| s.webhook_secret = Some(WHSEC.into())).await;
    let now = chrono::Utc::now().timestamp();
    for (i, prefix) in ["webhook", "svix"].iter().enumerate() {
        let body = valid_with("message_id", json!(format!("sw-{i}")));
        let sig = sign_standard(WHSEC, "msg_1", now - 290, body.as_bytes()).unwrap();
        assert_eq!(
            post_standard(&app, &body, &standard_headers(prefix, "msg_1", now - 290, &sig)).await,
            StatusCode::OK
        );
    }
    let body = valid_with("message_id", json!("sw-stale"));
    for ts in [now - 400, now + 400] {
        let sig = sign_standard(WHSEC, "msg_2", ts, body.as_bytes()).unwrap();
        let status = post_standard(&app, &body, &standard_headers("webhook", "msg_2", ts, &sig)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "timestamp {ts} is outside the window");
    }
    let sig = sign_standard(WHSEC, "msg_3", now, body.as_bytes()).unwrap();
    let mut tampered = standard_headers("webhook", "msg_3", now, &sig);
    tampered[0].1 = "msg_other".into();
    assert_eq!(post_standard(&app, &body, &tampered).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/messages").await.body["total"], 2);
}

#[tokio::test]
async fn an_unusable_whsec_secret_stops_start_up() {
    for bad in ["whsec_not*base64", "whsec_AAAA"] {
        let settings = Settings {
            webhook_secret: Some(bad.into()),
            database_url: "sqlite::memory:".into(),
            ..Settings::default()
        };
        let err = Application::build(&settings).await.err().expect("start-up fails");
        assert!(err.to_string().starts_with("WEBHOOK_SECRET"), "{err}");
    }
}

#[tokio::test]
async fn the_read_token_guards_messages_and_stats_only() {
    let app = TestApp::sqlite_with(|s| s.read_api_token = Some("read-token-123".into())).await;
    for path in ["/messages", "/stats"] {
        let anonymous = app.get(path).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(anonymous.body["detail"].is_string());
        let wrong = app.client.get(path).header("Authorization", "Bearer nope").send().await;
        wrong.assert_status(StatusCode::UNAUTHORIZED);
        let right = app.client.get(path).header("Authorization", "Bearer read-token-123").send().await;
        right.assert_status_is_ok();
    }
    for open in ["/health/live", "/health/ready", "/metrics", "/openapi.json"] {
        assert_eq!(app.get(open).await.status, StatusCode::OK, "{open}");
    }
    assert_eq!(app.post_signed(&valid_with("message_id", json!("tok"))).await.status, StatusCode::OK);
    let spec = app.get("/openapi.json").await.body;
    assert_eq!(spec["components"]["securitySchemes"]["ReadApiToken"]["scheme"], "bearer");
    assert!(spec["paths"]["/messages"]["get"]["security"].is_array());
}

#[tokio::test]
async fn the_subscription_handshake_echoes_the_challenge_only_for_the_right_token() {
    let app = TestApp::sqlite_with(|s| s.webhook_verify_token = Some("verify-me".into())).await;
    let ok =
        app.client.get("/webhook?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444").send().await;
    ok.assert_status_is_ok();
    ok.assert_content_type("text/plain; charset=utf-8");
    ok.assert_text("1158201444").await;
    for query in [
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        "hub.mode=subscribe&hub.challenge=1",
        "hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1",
        "hub.mode=subscribe&hub.verify_token=verify-me",
    ] {
        let r = app.get(&format!("/webhook?{query}")).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{query}");
    }
    let unconfigured = TestApp::sqlite().await;
    let r = unconfigured.get("/webhook?hub.mode=subscribe&hub.verify_token=&hub.challenge=1").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
