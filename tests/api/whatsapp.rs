//! Meta WhatsApp Cloud API deliveries at `POST /webhook`: every example file stored and readable
//! with its fields, raw objects byte for byte, batches atomic and idempotent, bad updates alone
//! rejected, statuses idempotent per (message id, status).

use poem::http::StatusCode;
use serde_json::{Value, json};
use webhook_ingest::adapters::signature::sign_hex;

use crate::helpers::{Reply, SECRET, TestApp};
use crate::on_every_backend;

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/whatsapp");

fn example(name: &str) -> String {
    std::fs::read_to_string(format!("{EXAMPLES}/{name}.json")).unwrap()
}

impl TestApp {
    /// Posts `body` signed the way Meta signs: `X-Hub-Signature-256: sha256=<hex>`.
    pub async fn post_hub(&self, body: &str, secret: &str) -> Reply {
        let signature = format!("sha256={}", sign_hex(secret, body.as_bytes()));
        self.post_with(body, &[("X-Hub-Signature-256", &signature), ("Content-Type", "application/json")]).await
    }

    async fn message(&self, id: &str) -> Value {
        let r = self.get(&format!("/messages/{}", urlencode(id))).await;
        assert_eq!(r.status, StatusCode::OK, "{id}: {}", r.body);
        r.body
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The value at `entry[0].changes[0].value.<list>[0]`, and a check that `raw` is exactly its bytes
/// in `body`: a substring of the body that parses to the same value.
fn assert_raw_is_the_slice(body: &str, list: &str, raw: &Value) {
    let parsed: Value = serde_json::from_str(body).unwrap();
    let update = &parsed["entry"][0]["changes"][0]["value"][list][0];
    let raw = raw.as_str().expect("raw is the object's JSON text");
    assert!(body.contains(raw), "raw is not a slice of the request body: {raw}");
    assert_eq!(&serde_json::from_str::<Value>(raw).unwrap(), update);
}

/// Posts an example and checks it was accepted.
async fn deliver(app: &TestApp, name: &str) -> String {
    let body = example(name);
    let r = app.post_hub(&body, SECRET).await;
    assert_eq!((r.status, &r.body), (StatusCode::OK, &json!({"status": "ok"})), "{name}");
    body
}

on_every_backend! {
    async fn a_text_message_is_stored_with_every_field(app) {
        let body = deliver(&app, "text").await;
        let id = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=";
        let m = app.message(id).await;
        assert_eq!(m["from"], "+16505551234");
        assert_eq!(m["to"], "+15550783881");
        assert_eq!(m["ts"], "2025-06-08T20:59:43Z");
        assert_eq!(m["text"], "Does it come in another color?");
        assert_eq!((m["source"].as_str(), m["type"].as_str()), (Some("whatsapp"), Some("text")));
        assert_eq!(m["profile_name"], "Sheena Nelson");
        assert_raw_is_the_slice(&body, "messages", &m["raw"]);
        let listed = app.get("/messages?source=whatsapp").await;
        assert_eq!(listed.body["total"], 1);
        assert_eq!(listed.body["data"][0]["message_id"], id);
        assert!(listed.body["data"][0].get("raw").is_none(), "the list leaves raw objects out");
        let stats = app.get("/stats").await;
        assert_eq!(stats.body["total_messages"], 1);
        assert_eq!(stats.body["messages_per_sender"][0]["from"], "+16505551234");
        assert_eq!(app.get("/messages?q=ANOTHER%20color").await.body["total"], 1);
    }

    async fn an_image_keeps_its_media_and_caption(app) {
        let body = deliver(&app, "image").await;
        let m = app.message("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTVDMEYxRTJEM0I0QTU5Njg3NwA=").await;
        assert_eq!((m["type"].as_str(), m["text"].as_str()), (Some("image"), Some("Taj Mahal")));
        assert_eq!(
            m["media"],
            json!([{"id": "1003383421387256", "mime_type": "image/jpeg",
                    "sha256": "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI="}])
        );
        assert!(m["raw"].as_str().unwrap().contains(r"image\/jpeg"), "the raw object keeps Meta's escapes");
        assert_raw_is_the_slice(&body, "messages", &m["raw"]);
        assert_eq!(app.get("/messages?type=image").await.body["total"], 1);
        assert_eq!(app.get("/messages?type=text").await.body["total"], 0);
    }

    async fn an_interactive_reply_keeps_the_choice_and_what_it_replies_to(app) {
        let body = deliver(&app, "interactive").await;
        let m = app.message("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQ0QUJDREVGMDEyMzQ1Njc4OUFCAA==").await;
        assert_eq!((m["type"].as_str(), m["text"].as_str()), (Some("interactive"), Some("Cancel")));
        assert_eq!(m["choice"], json!({"type": "button_reply", "id": "cancel-button", "title": "Cancel"}));
        assert_eq!(m["reply_to"], "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=");
        assert_raw_is_the_slice(&body, "messages", &m["raw"]);
    }

    async fn a_reaction_keeps_its_target_and_decoded_emoji(app) {
        let body = deliver(&app, "reaction").await;
        let m = app.message("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUI3RDIxQzlFMEY0MUEyQjNDNAA=").await;
        assert_eq!((m["type"].as_str(), m["text"].as_str()), (Some("reaction"), Some("👍")));
        assert_eq!(m["reaction"]["message_id"], "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI0QTFCMkMzRDRFNUY2MDcxODIA");
        assert!(m["raw"].as_str().unwrap().contains(r"\ud83d\udc4d"), "raw keeps the \\u escapes");
        assert_raw_is_the_slice(&body, "messages", &m["raw"]);
    }

    async fn an_unsupported_message_is_stored_with_its_type_and_errors(app) {
        let body = deliver(&app, "unsupported").await;
        let m = app.message("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTA5RThGN0E2QjVDNEQzRTJGMQA=").await;
        assert_eq!((m["type"].as_str(), &m["text"]), (Some("unsupported"), &Value::Null));
        assert_eq!(m["errors"][0]["code"], 131_051);
        assert_raw_is_the_slice(&body, "messages", &m["raw"]);
    }

    async fn statuses_are_listed_with_their_errors_and_pricing(app) {
        let delivered = deliver(&app, "status_delivered").await;
        let failed = deliver(&app, "status_failed").await;
        let page = app.get("/statuses").await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.body["total"], 2);
        let d = &page.body["data"][0];
        assert_eq!((d["status"].as_str(), d["recipient"].as_str()), (Some("delivered"), Some("+16505551234")));
        assert_eq!(d["pricing_category"], "utility");
        assert_raw_is_the_slice(&delivered, "statuses", &d["raw"]);
        let f = &page.body["data"][1];
        assert_eq!((f["status"].as_str(), f["errors"][0]["code"].as_i64()), (Some("failed"), Some(131_049)));
        assert_raw_is_the_slice(&failed, "statuses", &f["raw"]);
        assert_eq!(app.get("/statuses?status=failed").await.body["total"], 1);
        assert_eq!(app.get("/statuses?recipient=+16505551234").await.body["total"], 2);
        assert_eq!(app.get("/messages").await.body["total"], 0, "a status is not a message");
    }

    async fn the_same_status_twice_is_one_row_and_later_ones_are_kept_beside_it(app) {
        let status = |kind: &str, ts: u64| {
            envelope(&[], &[json!({"id": "wamid.OUT-1", "status": kind, "timestamp": ts.to_string(), "recipient_id": "16505551234"})])
        };
        for body in [status("read", 1_751_142_900), status("read", 1_751_142_900), status("delivered", 1_751_142_800)] {
            assert_eq!(app.post_hub(&body, SECRET).await.status, StatusCode::OK);
        }
        let page = app.get("/statuses?message_id=wamid.OUT-1").await;
        let seen: Vec<_> = page.body["data"].as_array().unwrap().iter().map(|s| (s["status"].clone(), s["ts"].clone())).collect();
        assert_eq!(seen, [(json!("delivered"), json!("2025-06-28T20:33:20Z")), (json!("read"), json!("2025-06-28T20:35:00Z"))]);
    }

    async fn a_thousand_messages_are_one_batch_and_a_redelivery_writes_nothing(app) {
        let body = thousand(0);
        let r = app.post_hub(&body, SECRET).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(app.get("/stats").await.body["total_messages"], 1_000);
        assert_eq!(app.post_hub(&body, SECRET).await.status, StatusCode::OK);
        assert_eq!(app.get("/stats").await.body["total_messages"], 1_000);
        assert_eq!(app.get("/messages?limit=1").await.body["total"], 1_000);
    }

    async fn envelopes_sharing_ids_sent_together_store_each_id_once(app) {
        // 0..1000 and 500..1500: half of each envelope is in the other.
        let (a, b) = (thousand(0), thousand(500));
        let (ra, rb) = tokio::join!(app.post_hub(&a, SECRET), app.post_hub(&b, SECRET));
        assert_eq!((ra.status, rb.status), (StatusCode::OK, StatusCode::OK));
        assert_eq!(app.get("/stats").await.body["total_messages"], 1_500);
        assert_eq!(app.get("/messages?limit=1").await.body["total"], 1_500);
    }

    async fn one_unstorable_message_is_rejected_alone(app) {
        let good = |n: u32| message(&format!("wamid.GOOD-{n}"), "16505551234", "hello");
        let bad = json!({"from": "16505551234", "id": "wamid.BAD", "timestamp": "yesterday", "type": "text", "text": {"body": "secret words"}});
        let body = envelope(&[good(1), bad, good(2)], &[]);
        let before = metric(&app, "webhook_updates_total{kind=\"message\",outcome=\"rejected\",source=\"whatsapp\"}").await;
        assert_eq!(app.post_hub(&body, SECRET).await.status, StatusCode::OK);
        assert_eq!(app.get("/messages").await.body["total"], 2);
        assert_eq!(app.get("/messages/wamid.BAD").await.status, StatusCode::NOT_FOUND);
        let after = metric(&app, "webhook_updates_total{kind=\"message\",outcome=\"rejected\",source=\"whatsapp\"}").await;
        assert_eq!(after - before, 1.0);
    }

    async fn other_fields_are_acknowledged_counted_and_not_stored(app) {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
            {"field": "account_update", "value": {"phone_number": "15550783881", "event": "VERIFIED_ACCOUNT"}}]}]})
        .to_string();
        let series = "webhook_updates_total{kind=\"other\",outcome=\"ignored\",source=\"whatsapp\"}";
        let before = metric(&app, series).await;
        assert_eq!(app.post_hub(&body, SECRET).await.status, StatusCode::OK);
        assert_eq!(metric(&app, series).await - before, 1.0);
        assert_eq!(app.get("/messages").await.body["total"], 0);
        assert_eq!(app.get("/statuses").await.body["total"], 0);
    }

    async fn a_message_known_only_by_its_user_id_is_stored_and_counted_under_it(app) {
        let m = json!({"from_user_id": "IN.1410018717833190", "id": "wamid.USER-1", "timestamp": "1749416383",
                       "type": "text", "text": {"body": "hi from a username"}});
        assert_eq!(app.post_hub(&envelope(&[m], &[]), SECRET).await.status, StatusCode::OK);
        let stored = app.message("wamid.USER-1").await;
        assert_eq!((&stored["from"], stored["user_id"].as_str()), (&Value::Null, Some("IN.1410018717833190")));
        let stats = app.get("/stats").await.body;
        assert_eq!(stats["messages_per_sender"][0], json!({"from": "IN.1410018717833190", "count": 1}));
    }

    async fn escaped_text_verifies_and_is_stored_decoded(app) {
        let body = envelope(&[message("wamid.ESC-1", "16505551234", "PLACEHOLDER")], &[])
            .replace("PLACEHOLDER", r"caf\u00e9 \/ na\u00efve \ud83d\ude00");
        assert_eq!(app.post_hub(&body, SECRET).await.status, StatusCode::OK);
        let m = app.message("wamid.ESC-1").await;
        assert_eq!(m["text"], "café / naïve 😀");
        assert!(m["raw"].as_str().unwrap().contains(r"caf\u00e9 \/ na\u00efve"));
        assert_eq!(app.get("/messages?q=NA%C3%AFVE").await.body["total"], 1);
    }

    async fn a_wrong_signature_is_401_and_stores_nothing(app) {
        let body = example("text");
        assert_eq!(app.post_hub(&body, "not-the-secret").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(app.get("/messages").await.body["total"], 0);
    }
}

#[tokio::test]
async fn the_app_secret_verifies_envelopes_and_only_envelopes() {
    let app =
        TestApp::sqlite_with(|s| s.whatsapp_app_secret = Some("meta-app-secret-1 meta-app-secret-2".into())).await;
    let body = example("text");
    assert_eq!(app.post_hub(&body, "meta-app-secret-2").await.status, StatusCode::OK, "either rotated secret");
    assert_eq!(app.post_hub(&example("image"), SECRET).await.status, StatusCode::UNAUTHORIZED);
    let flat = crate::helpers::valid_with("message_id", json!("flat-1"));
    assert_eq!(app.post_hub(&flat, "meta-app-secret-1").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.post_signed(&flat).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_failure_midway_through_a_batch_stores_none_of_it() {
    let app = TestApp::sqlite().await;
    // A trigger that refuses one id in the middle of the batch (rows go in id order).
    let conn = sea_orm::Database::connect(app.database_url.clone()).await.unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(
        &conn,
        "CREATE TRIGGER refuse_one BEFORE INSERT ON messages WHEN new.message_id = 'wamid.BATCH-0500' \
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
    )
    .await
    .unwrap();
    let r = app.post_hub(&thousand(0), SECRET).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(app.get("/messages?limit=1").await.body["total"], 0);
    assert_eq!(app.get("/stats").await.body["total_messages"], 0);
    sea_orm::ConnectionTrait::execute_unprepared(&conn, "DROP TRIGGER refuse_one").await.unwrap();
    assert_eq!(app.post_hub(&thousand(0), SECRET).await.status, StatusCode::OK, "the same delivery succeeds later");
    assert_eq!(app.get("/messages?limit=1").await.body["total"], 1_000);
}

async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = app.client.get("/metrics").send().await.0.into_body().into_string().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(series)).map_or(0.0, |v| v.trim().parse().unwrap())
}

fn message(id: &str, from: &str, text: &str) -> Value {
    json!({"from": from, "id": id, "timestamp": "1749416383", "type": "text", "text": {"body": text}})
}

/// An envelope with these messages and statuses in one change.
fn envelope(messages: &[Value], statuses: &[Value]) -> String {
    let mut value = json!({"messaging_product": "whatsapp",
                           "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}});
    if !messages.is_empty() {
        value["messages"] = json!(messages);
        value["contacts"] = json!([{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}]);
    }
    if !statuses.is_empty() {
        value["statuses"] = json!(statuses);
    }
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}]})
        .to_string()
}

/// 1,000 messages with ids `wamid.BATCH-<first>`…, spread over four entries of five changes each.
fn thousand(first: u32) -> String {
    let entries: Vec<Value> = (0..4)
        .map(|e| {
            let changes: Vec<Value> = (0..5)
                .map(|c| {
                    let messages: Vec<Value> = (0..50)
                        .map(|i| {
                            let n = first + e * 250 + c * 50 + i;
                            message(&format!("wamid.BATCH-{n:04}"), &format!("1650555{:04}", n % 97), &format!("batch {n}"))
                        })
                        .collect();
                    let metadata = json!({"display_phone_number": "15550783881", "phone_number_id": "106540352242922"});
                    json!({"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": metadata, "messages": messages}})
                })
                .collect();
            json!({"id": "102290129340398", "changes": changes})
        })
        .collect();
    json!({"object": "whatsapp_business_account", "entry": entries}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_update_is_logged_with_its_path_and_never_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/app.db", dir.path().display());
    let svc = crate::e2e::start(dir.path(), &[("WEBHOOK_SECRET", SECRET), ("DATABASE_URL", &url)]);
    let bad = json!({"from": "16505551234", "id": "wamid.BAD", "timestamp": "yesterday", "type": "text",
                     "text": {"body": "private words of a customer"}});
    let body = envelope(&[message("wamid.OK-1", "16505551234", "fine"), bad], &[]);
    let signature = format!("sha256={}", sign_hex(SECRET, body.as_bytes()));
    let r = reqwest::Client::new()
        .post(format!("{}/webhook", svc.base))
        .header("X-Hub-Signature-256", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let access = loop {
        let lines = svc.stdout.lock().unwrap().clone();
        if let Some(line) = lines.iter().find(|l| l.contains("\"msg\":\"request\"") && l.contains("/webhook")) {
            break (lines.clone(), line.clone());
        }
        assert!(std::time::Instant::now() < deadline, "no access line");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let (lines, access_line) = access;
    let rejected = lines.iter().find(|l| l.contains("update rejected")).expect("the rejection is logged");
    let rejected: Value = serde_json::from_str(rejected).unwrap();
    assert_eq!(rejected["path"], "entry[0].changes[0].value.messages[1]");
    assert!(rejected["reason"].as_str().unwrap().contains("timestamp"));
    assert!(lines.iter().all(|l| !l.contains("private words")), "a message's text never reaches the logs");
    let access: Value = serde_json::from_str(&access_line).unwrap();
    assert_eq!((access["result"].as_str(), access["source"].as_str()), (Some("created"), Some("whatsapp")));
    assert_eq!(access["updates"], "message.created=1 message.rejected=1");
}
