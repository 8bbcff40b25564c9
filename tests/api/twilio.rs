//! Twilio at `POST /webhook/twilio`: each example form posted signed through the real app and read
//! back; TwiML answers; Twilio's signature over the configured URL and the sorted parameters.

use poem::Body;
use poem::http::StatusCode;
use serde_json::{Value, json};
use webhook_ingest::adapters::twilio_signature::{sign_twilio_form, sign_twilio_json};

use crate::helpers::TestApp;

const TOKEN: &str = "twilio-auth-token-0123456789";
const URL: &str = "https://hooks.example.com/webhook/twilio";
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/twilio");

fn example(name: &str) -> String {
    std::fs::read_to_string(format!("{EXAMPLES}/{name}.form")).unwrap()
}

/// What Twilio's answer looked like.
struct Answer {
    status: StatusCode,
    content_type: String,
    text: String,
}

async fn post(app: &TestApp, path: &str, body: &str, signature: Option<&str>, content_type: &str) -> Answer {
    let mut req = app.client.post(path).header("Content-Type", content_type).body(Body::from(body.to_owned()));
    if let Some(signature) = signature {
        req = req.header("X-Twilio-Signature", signature);
    }
    let resp = req.send().await.0;
    let content_type = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    Answer { status: resp.status(), content_type, text: resp.into_body().into_string().await.unwrap() }
}

async fn deliver(app: &TestApp, body: &str) -> Answer {
    let signature = sign_twilio_form(TOKEN, URL, body.as_bytes()).unwrap();
    post(app, "/webhook/twilio", body, Some(&signature), "application/x-www-form-urlencoded").await
}

fn assert_twiml(a: &Answer) {
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert!(a.content_type.starts_with("text/xml"), "{}", a.content_type);
    assert!(a.text.ends_with("<Response/>"), "{}", a.text);
}

async fn twilio_app(sqlite: bool) -> TestApp {
    let tweak = |s: &mut webhook_ingest::app::config::Settings| {
        s.twilio_auth_token = Some(format!("old-token {TOKEN}"));
        s.twilio_webhook_url = Some(URL.into());
    };
    if sqlite { TestApp::sqlite_with(tweak).await } else { TestApp::postgres_with(tweak).await }
}

async fn message(app: &TestApp, id: &str) -> Value {
    let r = app.get(&format!("/messages/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

macro_rules! on_both {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                use super::*;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $app = twilio_app(true).await;
                    $body
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(postgres_tests), ignore = "TEST_POSTGRES_URL was not set when the tests were built")]
                async fn postgres() {
                    let $app = twilio_app(false).await;
                    $body
                }
            }
        )*
    };
}

on_both! {
    async fn an_sms_is_stored_once_and_answered_with_empty_twiml(app) {
        let body = example("sms");
        assert_twiml(&deliver(&app, &body).await);
        assert_twiml(&deliver(&app, &body).await);
        let m = message(&app, "SM5f0b6c27a3f84c2a9e1d1f7e2b3c4d5e").await;
        assert_eq!((m["from"].as_str(), m["to"].as_str()), (Some("+14155550100"), Some("+14155238886")));
        assert_eq!(m["text"], "Is my order #1042 shipped? 📦");
        assert_eq!((m["source"].as_str(), m["type"].as_str(), m["channel"].as_str()), (Some("twilio"), Some("text"), Some("sms")));
        assert_eq!(m["ts"], m["received_at"], "Twilio sends no timestamp: the time of receipt stands in");
        assert_eq!(m["raw"], body.as_str());
        assert_eq!(app.get("/messages?source=twilio").await.body["total"], 1, "a redelivery is stored once");
    }

    async fn a_whatsapp_message_with_an_image_keeps_its_media(app) {
        assert_twiml(&deliver(&app, &example("whatsapp_image")).await);
        let m = message(&app, "MM8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d").await;
        assert_eq!((m["from"].as_str(), m["channel"].as_str()), (Some("+14155551234"), Some("whatsapp")));
        assert_eq!((m["type"].as_str(), m["profile_name"].as_str()), (Some("image"), Some("Sheena Nelson")));
        assert_eq!(m["media"][0]["mime_type"], "image/jpeg");
        assert!(m["media"][0]["url"].as_str().unwrap().starts_with("https://api.twilio.com/2010-04-01/Accounts/"));
        assert_eq!(app.get("/stats").await.body["messages_per_sender"][0]["from"], "+14155551234");
    }

    async fn a_status_callback_is_a_delivery_status(app) {
        assert_twiml(&deliver(&app, &example("status")).await);
        let page = app.get("/statuses?message_id=SM9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f").await.body;
        assert_eq!(page["total"], 1);
        let s = &page["data"][0];
        assert_eq!((s["status"].as_str(), s["recipient"].as_str()), (Some("undelivered"), Some("+14155550100")));
        assert_eq!((s["source"].as_str(), s["errors"][0]["code"].as_i64()), (Some("twilio"), Some(30_008)));
        assert_eq!(app.get("/messages").await.body["total"], 0);
    }

    async fn a_wrong_or_missing_signature_is_401_and_stores_nothing(app) {
        let body = example("sms");
        let other_url = sign_twilio_form(TOKEN, "https://hooks.example.com:8443/webhook/twilio", body.as_bytes()).unwrap();
        let wrong_token = sign_twilio_form("not-the-token", URL, body.as_bytes()).unwrap();
        let form = "application/x-www-form-urlencoded";
        for signature in [Some(other_url.as_str()), Some(wrong_token.as_str()), None] {
            let a = post(&app, "/webhook/twilio", &body, signature, form).await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{signature:?}");
            assert_eq!(serde_json::from_str::<Value>(&a.text).unwrap(), json!({"detail": "invalid signature"}));
        }
        let tampered = body.replace("Body=Is+my", "Body=Was+my");
        let signature = sign_twilio_form(TOKEN, URL, body.as_bytes()).unwrap();
        assert_eq!(post(&app, "/webhook/twilio", &tampered, Some(&signature), form).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(app.get("/messages").await.body["total"], 0);
    }

    async fn plus_spaces_percent_and_non_ascii_in_the_body_verify(app) {
        let body = "MessageSid=SMenc1&From=%2B14155550100&To=%2B14155238886&Body=1%2B1+%3D+2%2C+100%25+s%C3%BBr+%E2%9C%93";
        assert_twiml(&deliver(&app, body).await);
        assert_eq!(message(&app, "SMenc1").await["text"], "1+1 = 2, 100% sûr ✓");
    }

    async fn a_form_without_its_required_parameters_is_422(app) {
        let a = deliver(&app, "Body=hello&AccountSid=AC1").await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        let detail: Value = serde_json::from_str(&a.text).unwrap();
        let locs: Vec<_> = detail["detail"].as_array().unwrap().iter().map(|e| e["loc"][1].clone()).collect();
        assert_eq!(locs, [json!("MessageSid"), json!("From"), json!("To")]);
    }

    async fn the_json_variant_is_signed_through_the_url(app) {
        let body = r#"{"MessageSid":"SMjson1","From":"+14155550100","To":"+14155238886","Body":"from JSON"}"#;
        let (signature, hash) = sign_twilio_json(TOKEN, URL, body.as_bytes());
        let path = format!("/webhook/twilio?bodySHA256={hash}");
        assert_twiml(&post(&app, &path, body, Some(&signature), "application/json").await);
        assert_eq!(message(&app, "SMjson1").await["text"], "from JSON");
        let other = body.replace("from JSON", "changed");
        assert_eq!(post(&app, &path, &other, Some(&signature), "application/json").await.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn without_a_token_and_url_every_twilio_webhook_is_401() {
    let app = TestApp::sqlite().await;
    let body = example("sms");
    assert_eq!(deliver(&app, &body).await.status, StatusCode::UNAUTHORIZED);
}
