//! `POST /webhook`: every row of the contract's status table and every field rule at its edges.

use poem::http::StatusCode;
use serde_json::{Value, json};
use webhook_ingest::adapters::signature::sign_hex;

use crate::helpers::{SECRET, TestApp, msg, valid_with};
use crate::on_every_backend;

fn assert_invalid_signature(r: &crate::helpers::Reply) {
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, json!({"detail": "invalid signature"}));
}

/// The `loc` paths of a 422 body.
fn locs(r: &crate::helpers::Reply) -> Vec<String> {
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    r.body["detail"]
        .as_array()
        .expect("detail is a list")
        .iter()
        .map(|d| {
            assert!(d["msg"].is_string() && d["type"].is_string(), "{d}");
            d["loc"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect::<Vec<_>>().join(".")
        })
        .collect()
}

on_every_backend! {
    async fn a_signed_valid_message_is_stored_and_answered_ok(app) {
        let body = msg("m-1", "+919876543210", "2025-01-15T10:00:00Z", Some("Hello")).to_string();
        let r = app.post_signed(&body).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, json!({"status": "ok"}));
        let listed = app.get("/messages").await.body;
        // The five original fields as sent; beside them only what every message now carries.
        let mut row = listed["data"][0].clone();
        assert_eq!((row["source"].take(), row["type"].take()), (json!("webhook"), json!("text")));
        assert!(row["received_at"].take().as_str().is_some_and(|t| t.ends_with('Z')));
        let row: serde_json::Map<_, _> = row.as_object().unwrap().clone().into_iter().filter(|(_, v)| !v.is_null()).collect();
        assert_eq!(Value::Object(row), json!({"message_id": "m-1", "from": "+919876543210", "to": "+14155550100", "ts": "2025-01-15T10:00:00Z", "text": "Hello"}));
    }

    async fn a_duplicate_with_other_content_is_ok_and_the_first_write_wins(app) {
        app.seed(&[msg("dup", "+111111", "2025-01-15T10:00:00Z", Some("first"))]).await;
        let r = app.post_signed(&msg("dup", "+222222", "2025-02-01T00:00:00Z", Some("second")).to_string()).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, json!({"status": "ok"}));
        let listed = app.get("/messages").await.body;
        assert_eq!(listed["total"], 1);
        assert_eq!(listed["data"][0]["text"], "first");
        assert_eq!(listed["data"][0]["from"], "+111111");
    }

    async fn fifty_concurrent_identical_sends_store_one_row(app) {
        let body = msg("race", "+919876543210", "2025-01-15T10:00:00Z", Some("x")).to_string();
        let sig = sign_hex(SECRET, body.as_bytes());
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let client = app.client.clone();
            let (body, sig) = (body.clone(), sig.clone());
            tasks.spawn(async move { client.post("/webhook").header("X-Signature", sig).body(body).send().await.0.status() });
        }
        while let Some(status) = tasks.join_next().await {
            assert_eq!(status.unwrap(), StatusCode::OK);
        }
        assert_eq!(app.get("/messages").await.body["total"], 1);
        let stats = app.get("/stats").await.body;
        assert_eq!(stats["total_messages"], 1, "duplicates must not be counted: {stats}");
        assert_eq!(stats["messages_per_sender"][0]["count"], 1);
    }

    async fn missing_empty_malformed_and_wrong_signatures_are_401(app) {
        let body = valid_with("message_id", json!("sig"));
        assert_invalid_signature(&app.post_with(&body, &[]).await);
        assert_invalid_signature(&app.post_with(&body, &[("X-Signature", "")]).await);
        assert_invalid_signature(&app.post_with(&body, &[("X-Signature", "not-hex")]).await);
        assert_invalid_signature(&app.post_with(&body, &[("X-Signature", &sign_hex("wrong-secret", body.as_bytes()))]).await);
        assert_invalid_signature(&app.post_with(&body, &[("X-Hub-Signature-256", "sha256=")]).await);
        assert_eq!(app.get("/messages").await.body["total"], 0);
    }

    async fn the_signature_covers_the_raw_bytes(app) {
        let body = valid_with("message_id", json!("raw"));
        let sig = sign_hex(SECRET, body.as_bytes());
        let reformatted = body.replacen(':', ": ", 1);
        assert_invalid_signature(&app.post_with(&reformatted, &[("X-Signature", &sig)]).await);
        assert_eq!(app.post_with(&body, &[("X-Signature", &sig)]).await.status, StatusCode::OK);
    }

    async fn uppercase_hex_and_the_hub_header_with_or_without_prefix_verify(app) {
        for (i, header) in ["X-Signature", "X-Hub-Signature-256", "X-Hub-Signature-256"].iter().enumerate() {
            let body = valid_with("message_id", json!(format!("form-{i}")));
            let hex = sign_hex(SECRET, body.as_bytes());
            let value = match i {
                0 => hex.to_uppercase(),
                1 => format!("sha256={hex}"),
                _ => hex,
            };
            assert_eq!(app.post_with(&body, &[(header, &value)]).await.status, StatusCode::OK, "{header}: {value}");
        }
    }

    async fn a_signature_is_checked_before_the_body_is_parsed(app) {
        assert_invalid_signature(&app.post_with("not json", &[("X-Signature", "00")]).await);
        assert_eq!(locs(&app.post_signed("not json").await), ["body"]);
    }

    async fn bodies_that_are_not_json_objects_are_422(app) {
        for body in ["not json", "", "[1,2]", "\"text\"", "null", "{\"a\":"] {
            let r = app.post_signed(body).await;
            assert_eq!(locs(&r), ["body"], "{body:?}");
        }
    }

    async fn every_broken_field_is_listed_and_nothing_is_stored(app) {
        let body = json!({"message_id": "  ", "from": "919876543210", "to": 5, "ts": "2025-01-15T10:00:00+05:30", "text": ["x"]});
        let r = app.post_signed(&body.to_string()).await;
        assert_eq!(locs(&r), ["body.message_id", "body.from", "body.to", "body.ts", "body.text"]);
        assert_eq!(r.body["detail"][1]["msg"], "must be E.164: '+' then 2-15 digits");
        assert_eq!(r.body["detail"][1]["type"], "value_error");
        assert_eq!(locs(&app.post_signed("{}").await), ["body.message_id", "body.from", "body.to", "body.ts"]);
        assert_eq!(app.get("/messages").await.body["total"], 0);
    }

    async fn field_rules_hold_at_their_edges(app) {
        let accepted: Vec<(&str, Value)> = vec![
            ("text", json!("é".repeat(4096))),
            ("text", Value::Null),
            ("from", json!("+123456789012345")),
            ("to", json!("+12")),
            ("ts", json!("2024-02-29T23:59:59Z")),
            ("ts", json!("2025-01-15T10:00:00.123456Z")),
            ("message_id", json!("x".repeat(256))),
        ];
        for (i, (field, value)) in accepted.into_iter().enumerate() {
            let mut m: Value = serde_json::from_str(&valid_with(field, value.clone())).unwrap();
            m["message_id"] = if field == "message_id" { value } else { json!(format!("edge-{i}")) };
            let r = app.post_signed(&m.to_string()).await;
            assert_eq!(r.status, StatusCode::OK, "{field} should accept: {}", r.body);
        }
        let rejected: Vec<(&str, Value)> = vec![
            ("text", json!("é".repeat(4097))),
            ("from", json!("+1234567890123456")),
            ("from", json!("+0123456")),
            ("to", json!("+1")),
            ("ts", json!("2024-02-30T00:00:00Z")),
            ("ts", json!("2023-02-29T00:00:00Z")),
            ("ts", json!("2025-01-15T10:00:00+05:30")),
            ("ts", json!("2025-01-15T10:00:00")),
            ("message_id", json!("x".repeat(257))),
            ("message_id", json!("")),
            ("message_id", json!("a\u{0}b")),
        ];
        for (field, value) in rejected {
            let r = app.post_signed(&valid_with(field, value.clone())).await;
            assert_eq!(locs(&r), [format!("body.{field}")], "{field} should reject {value}");
        }
    }

    async fn unknown_fields_are_ignored(app) {
        let mut m = msg("extra", "+919876543210", "2025-01-15T10:00:00Z", None);
        m["provider_metadata"] = json!({"nested": [1, 2, {"deep": true}]});
        assert_eq!(app.post_signed(&m.to_string()).await.status, StatusCode::OK);
    }

    async fn a_body_over_the_limit_is_413(app) {
        // The default limit is 4 MiB, so that Meta's 3 MB envelopes fit.
        let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(4_194_304));
        let r = app.post_signed(&big).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(r.body["detail"].is_string(), "{}", r.body);
    }
}

#[tokio::test]
async fn without_a_secret_every_webhook_is_401() {
    let app = TestApp::sqlite_with(|s| s.webhook_secret = None).await;
    let body = valid_with("message_id", json!("nosecret"));
    assert_invalid_signature(&app.post_with(&body, &[("X-Signature", &sign_hex("", body.as_bytes()))]).await);
}

#[tokio::test]
async fn storage_down_is_503_with_a_json_body_never_200() {
    let app = TestApp::sqlite().await;
    app.app.repository.clone().close().await.unwrap();
    let r = app.post_signed(&valid_with("message_id", json!("lost?"))).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.body["detail"].is_string());
    assert!(r.headers.contains_key("retry-after"));
    assert!(!r.body.to_string().to_lowercase().contains("sqlite"), "no internals: {}", r.body);
    assert_eq!(app.get("/health/ready").await.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_configured_body_limit_is_enforced() {
    let app = TestApp::sqlite_with(|s| s.max_body_bytes = 200).await;
    let ok = valid_with("message_id", json!("small"));
    assert!(ok.len() <= 200);
    assert_eq!(app.post_signed(&ok).await.status, StatusCode::OK);
    let r = app.post_signed(&valid_with("text", json!("y".repeat(200)))).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}
