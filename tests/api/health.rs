//! Health probes, documentation endpoints and framework errors.

use poem::http::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;
use crate::on_every_backend;

on_every_backend! {
    async fn live_and_ready_answer_ok_when_configured(app) {
        let live = app.get("/health/live").await;
        assert_eq!((live.status, live.body), (StatusCode::OK, json!({"status": "ok"})));
        let ready = app.get("/health/ready").await;
        assert_eq!((ready.status, ready.body), (StatusCode::OK, json!({"status": "ready"})));
    }
}

#[tokio::test]
async fn ready_is_503_without_a_secret_but_live_stays_200() {
    let app = TestApp::sqlite_with(|s| s.webhook_secret = Some("   ".into())).await;
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body["status"], "not_ready");
    assert!(ready.body["reason"].as_str().unwrap().contains("secret"));
    assert_eq!(app.get("/health/live").await.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json() {
    let app = TestApp::sqlite().await;
    let r = app.get("/no/such/path").await;
    assert_eq!((r.status, r.body), (StatusCode::NOT_FOUND, json!({"detail": "Not Found"})));
    let r = crate::helpers::Reply::from(app.client.delete("/webhook").send().await).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.body["detail"].is_string());
}

#[tokio::test]
async fn the_openapi_document_and_swagger_ui_are_served() {
    let app = TestApp::sqlite().await;
    let spec = app.get("/openapi.json").await;
    assert_eq!(spec.status, StatusCode::OK);
    for path in ["/webhook", "/messages", "/stats", "/health/live", "/health/ready"] {
        assert!(spec.body["paths"][path].is_object(), "{path} missing from the document");
    }
    let expected: &[(&str, &str, &[&str])] = &[
        ("/webhook", "post", &["200", "401", "413", "422", "503"]),
        ("/webhook", "get", &["200", "403"]),
        ("/webhook/twilio", "post", &["200", "401", "413", "422", "503"]),
        ("/messages", "get", &["200", "401", "422", "503"]),
        ("/messages/{message_id}", "get", &["200", "401", "404", "503"]),
        ("/statuses", "get", &["200", "401", "422", "503"]),
        ("/feed", "get", &["200", "401", "422", "503"]),
        ("/messages/export", "get", &["200", "401", "422", "503"]),
        ("/stats", "get", &["200", "401", "503"]),
        ("/health/live", "get", &["200"]),
        ("/health/ready", "get", &["200", "503"]),
        ("/metrics", "get", &["200"]),
    ];
    for (path, method, statuses) in expected {
        let op = &spec.body["paths"][path][method];
        assert!(
            op["summary"].is_string() && op["description"].is_string(),
            "{method} {path} lacks a summary or description"
        );
        let documented: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
        assert_eq!(documented, *statuses, "{method} {path}");
        for status in statuses.iter().filter(|s| s.starts_with('4') || s.starts_with('5')) {
            let content = op["responses"][status]["content"].as_object();
            let json_schema = content.and_then(|c| c.iter().find(|(k, _)| k.starts_with("application/json")));
            assert!(
                json_schema.is_some_and(|(_, v)| v["schema"].is_object()),
                "{method} {path} {status} has no JSON body documented"
            );
        }
    }
    let paths = spec.body["paths"].as_object().unwrap().len();
    assert_eq!(paths, 11, "a new route must be added to this list with its error responses");
    for (name, schema) in spec.body["components"]["schemas"].as_object().unwrap() {
        assert!(schema["description"].is_string(), "schema {name} has no description");
        // Enums list their values instead.
        assert!(schema["example"].is_object() || schema["enum"].is_array(), "schema {name} has no example");
    }
    let docs = app.client.get("/docs").send().await;
    docs.assert_status_is_ok();
    docs.assert_content_type("text/html; charset=utf-8");
}

#[tokio::test]
async fn the_committed_openapi_document_matches_the_code() {
    let app = TestApp::sqlite().await;
    let served = app.get("/openapi.json").await.body;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("openapi/openapi.json exists")).unwrap();
    assert!(
        committed == served,
        "openapi/openapi.json is stale: regenerate it with `cargo run -- openapi > openapi/openapi.json`"
    );
}
