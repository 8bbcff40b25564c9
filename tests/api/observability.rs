//! Metrics and request ids through the real application.

use poem::http::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, msg, valid_with};

/// The value of one sample, 0 when the series does not exist yet.
fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

const OUTCOMES: [&str; 5] = ["created", "duplicate", "validation_error", "payload_too_large", "invalid_signature"];

async fn scrape(app: &TestApp) -> String {
    let resp = app.client.get("/metrics").send().await;
    resp.assert_status_is_ok();
    resp.0.into_body().into_string().await.unwrap()
}

#[tokio::test]
async fn each_webhook_outcome_moves_its_counter_by_exactly_one() {
    let app = TestApp::sqlite().await;
    let body = msg("obs-1", "+919876543210", "2025-01-15T10:00:00Z", Some("x")).to_string();
    let cases = [
        ("created", body.clone(), StatusCode::OK),
        ("duplicate", body.clone(), StatusCode::OK),
        ("validation_error", valid_with("from", json!("nope")), StatusCode::UNPROCESSABLE_ENTITY),
        ("payload_too_large", "x".repeat(4_194_305), StatusCode::PAYLOAD_TOO_LARGE),
    ];
    for (result, request_body, status) in cases {
        let before = scrape(&app).await;
        assert_eq!(app.post_signed(&request_body).await.status, status, "{result}");
        let after = scrape(&app).await;
        let series = format!("webhook_requests_total{{result=\"{result}\"}}");
        assert_eq!(sample(&after, &series) - sample(&before, &series), 1.0, "{result}");
        let total = |m: &str| -> f64 {
            OUTCOMES.iter().map(|r| sample(m, &format!("webhook_requests_total{{result=\"{r}\"}}"))).sum()
        };
        assert_eq!(total(&after) - total(&before), 1.0, "only one counter moves for {result}");
        let http = format!("http_requests_total{{method=\"POST\",path=\"/webhook\",status=\"{}\"}}", status.as_u16());
        assert_eq!(sample(&after, &http) - sample(&before, &http), 1.0);
        let hist = format!("request_latency_ms_count{{path=\"/webhook\",status=\"{}\"}}", status.as_u16());
        assert_eq!(sample(&after, &hist) - sample(&before, &hist), 1.0);
    }
    let before = scrape(&app).await;
    assert_eq!(app.post_with(&body, &[("X-Signature", "00")]).await.status, StatusCode::UNAUTHORIZED);
    let after = scrape(&app).await;
    let series = "webhook_requests_total{result=\"invalid_signature\"}";
    assert_eq!(sample(&after, series) - sample(&before, series), 1.0);
    assert_eq!(sample(&after, "messages_stored"), 1.0);
    assert!(after.contains("build_info{"), "{after}");
    assert!(after.contains("request_latency_ms_bucket{path=\"/webhook\",status=\"200\",le=\"0.25\"}"));
}

#[tokio::test]
async fn unknown_paths_share_one_label_value() {
    let app = TestApp::sqlite().await;
    for i in 0..20 {
        assert_eq!(app.get(&format!("/random/{i}?x={i}")).await.status, StatusCode::NOT_FOUND);
    }
    let m = scrape(&app).await;
    assert_eq!(sample(&m, "http_requests_total{method=\"GET\",path=\"unmatched\",status=\"404\"}"), 20.0);
    assert!(!m.contains("/random"), "raw paths must not become labels");
}

#[tokio::test]
async fn request_ids_are_echoed_when_sane_and_replaced_otherwise() {
    let app = TestApp::sqlite().await;
    let echoed = app.client.get("/health/live").header("X-Request-ID", "req-42_abc").send().await;
    echoed.assert_header("x-request-id", "req-42_abc");
    for bad in ["x".repeat(129), "has space".into(), "tab\there".into()] {
        let r = app.client.get("/health/live").header("X-Request-ID", bad.as_str()).send().await;
        let got = r.0.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
        assert_ne!(got, bad);
        assert!(uuid::Uuid::parse_str(&got).is_ok(), "{got}");
    }
    let fresh = app.client.get("/nowhere").send().await;
    assert!(fresh.0.headers().contains_key("x-request-id"), "errors carry an id too");
}

#[tokio::test]
async fn the_first_scrape_shows_every_family_and_every_known_outcome_at_zero() {
    use webhook_ingest::adapters::metrics::{UPDATE_OUTCOMES, WEBHOOK_RESULTS};
    let app = TestApp::sqlite().await;
    let first = scrape(&app).await;
    for family in [
        "http_requests_total",
        "webhook_requests_total",
        "webhook_updates_total",
        "request_latency_ms",
        "storage_errors_total",
        "storage_write_failures_total",
        "storage_write_groups_total",
        "storage_write_group_updates_total",
        "messages_stored",
        "build_info",
    ] {
        assert!(first.contains(&format!("# TYPE {family} ")), "{family} missing from the first scrape");
    }
    for result in WEBHOOK_RESULTS {
        let series = format!("webhook_requests_total{{result=\"{result}\"}} 0");
        assert!(first.lines().any(|l| l == series), "{series} missing");
    }
    for source in ["webhook", "whatsapp", "twilio"] {
        for (kind, outcome) in UPDATE_OUTCOMES {
            let series =
                format!("webhook_updates_total{{kind=\"{kind}\",outcome=\"{outcome}\",source=\"{source}\"}} 0");
            assert!(first.lines().any(|l| l == series), "{series} missing");
        }
    }
    let invalid = "http_requests_total{method=\"POST\",path=\"/webhook\",status=\"401\"} 0";
    assert!(first.lines().any(|l| l == invalid), "{invalid} missing");
}

#[tokio::test]
async fn committed_groups_and_their_updates_are_counted() {
    let app = TestApp::sqlite().await;
    for i in 0..5 {
        let body = valid_with("message_id", json!(format!("grouped-{i}")));
        assert_eq!(app.post_signed(&body).await.status, StatusCode::OK);
    }
    let duplicate = valid_with("message_id", json!("grouped-0"));
    assert_eq!(app.post_signed(&duplicate).await.status, StatusCode::OK);
    let metrics = scrape(&app).await;
    let groups = sample(&metrics, "storage_write_groups_total");
    assert!((1.0..=6.0).contains(&groups), "{groups} groups for 6 sequential deliveries");
    assert_eq!(sample(&metrics, "storage_write_group_updates_total"), 6.0, "a duplicate is an update of its group");
}
