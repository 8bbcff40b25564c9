//! A full disk, as an operator meets it: the real binary on a small tmpfs. Every 200 is stored,
//! everything refused is a 503 with `Retry-After`, readiness says why, reads go on, and writes
//! come back by themselves when space is freed. Mounting needs root, so the test is ignored by a
//! plain `cargo test` and `.ci/run` runs it.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use webhook_ingest::adapters::signature::sign_hex;

use crate::durability::stored_ids;
use crate::e2e::{Service, start};
use crate::helpers::SECRET;

/// A tmpfs mounted on a fresh directory, unmounted when dropped.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(bytes: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let size = format!("size={bytes}");
        let status = Command::new("mount").args(["-t", "tmpfs", "-o", &size, "tmpfs"]).arg(dir.path()).status();
        assert!(status.is_ok_and(|s| s.success()), "mounting a tmpfs needs root");
        Self(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

/// What the service answered to one delivery.
struct Sent {
    id: String,
    /// The delivery status a Cloud API envelope carried beside its message.
    status_id: Option<String>,
    status: u16,
    retry_after: bool,
}

const TWILIO_TOKEN: &str = "full-disk-twilio-token";
const TWILIO_URL: &str = "https://hooks.example.test/webhook/twilio";

/// One delivery of about 12 KB: a flat message, or every fifth a Cloud API envelope with a message
/// and a status, or every seventh a Twilio form, so that every write path meets the full disk.
async fn send(http: &reqwest::Client, base: &str, n: usize, id: String) -> Sent {
    let text = "ä".repeat(2_000) + &"x".repeat(2_000);
    let (request, status_id) = if n.is_multiple_of(5) {
        let status_id = format!("{id}-out");
        let value = json!({"metadata": {"display_phone_number": "15550002", "phone_number_id": "1"},
            "messages": [{"from": "15550001", "id": id, "timestamp": "1736935200", "type": "text", "text": {"body": text}}],
            "statuses": [{"id": status_id, "status": "delivered", "timestamp": "1736935200", "recipient_id": "15550001"}]});
        let body = json!({"object": "whatsapp_business_account",
                          "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]})
        .to_string();
        let sig = format!("sha256={}", sign_hex(SECRET, body.as_bytes()));
        (http.post(format!("{base}/webhook")).header("X-Hub-Signature-256", sig).body(body), Some(status_id))
    } else if n.is_multiple_of(7) {
        let body = serde_urlencoded::to_string([
            ("MessageSid", id.as_str()),
            ("From", "+15550001"),
            ("To", "+15550002"),
            ("Body", &text),
        ])
        .unwrap();
        let sig =
            webhook_ingest::adapters::twilio_signature::sign_twilio_form(TWILIO_TOKEN, TWILIO_URL, body.as_bytes())
                .unwrap();
        let request = http.post(format!("{base}/webhook/twilio")).header("X-Twilio-Signature", sig);
        (request.header("Content-Type", "application/x-www-form-urlencoded").body(body), None)
    } else {
        let body = json!({"message_id": id, "from": "+15550001", "to": "+15550002", "ts": "2025-01-15T10:00:00Z",
                          "text": text})
        .to_string();
        let sig = sign_hex(SECRET, body.as_bytes());
        (http.post(format!("{base}/webhook")).header("X-Signature", sig).body(body), None)
    };
    let r = request.send().await.unwrap();
    Sent { id, status_id, status: r.status().as_u16(), retry_after: r.headers().contains_key("retry-after") }
}

async fn get(http: &reqwest::Client, url: String) -> (u16, Value) {
    let r = http.get(url).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn created_counter(metrics: &str) -> u64 {
    let line = metrics.lines().find(|l| l.starts_with("webhook_requests_total{result=\"created\"}"));
    line.and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn env(url: &str) -> [(&str, &str); 5] {
    [
        ("WEBHOOK_SECRET", SECRET),
        ("DATABASE_URL", url),
        ("LOG_LEVEL", "info"),
        ("TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
        ("TWILIO_WEBHOOK_URL", TWILIO_URL),
    ]
}

async fn stored_total(http: &reqwest::Client, svc: &Service) -> u64 {
    get(http, format!("{}/stats", svc.base)).await.1["total_messages"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "mounts a tmpfs, so it needs root; .ci/run runs it"]
async fn a_full_disk_answers_503_recovers_when_space_returns_and_loses_nothing() {
    let disk = SmallDisk::mount(16 << 20);
    let filler = disk.0.path().join("filler");
    std::fs::write(&filler, vec![0u8; 10 << 20]).unwrap();
    let url = format!("sqlite://{}/app.db", disk.0.path().display());
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let svc = start(Path::new(disk.0.path()), &env(&url));
    let mut sent = Vec::new();
    // Fill the disk, then keep writing: once it is full, nothing may be acknowledged.
    let mut refused_in_a_row = 0;
    for i in 0..3_000 {
        let s = send(&http, &svc.base, i, format!("a-{i}")).await;
        refused_in_a_row = if s.status == 200 { 0 } else { refused_in_a_row + 1 };
        sent.push(s);
        if refused_in_a_row == 300 {
            break;
        }
    }
    assert_eq!(refused_in_a_row, 300, "the disk never filled");
    let refused: Vec<_> = sent.iter().filter(|s| s.status != 200).collect();
    assert!(refused.iter().all(|s| s.status == 503 && s.retry_after), "a refusal is a 503 with Retry-After");
    let (status, ready) = get(&http, format!("{}/health/ready", svc.base)).await;
    assert_eq!((status, ready["reason"].as_str()), (503, Some("storage full")), "{ready}");
    let (status, _) = get(&http, format!("{}/messages?limit=1", svc.base)).await;
    assert_eq!(status, 200, "reads keep working");
    let acked = sent.iter().filter(|s| s.status == 200).count() as u64;
    assert_eq!(stored_total(&http, &svc).await, acked, "what was acknowledged, and only that, is stored");
    let metrics = http.get(format!("{}/metrics", svc.base)).send().await.unwrap().text().await.unwrap();
    assert_eq!(created_counter(&metrics), acked);
    assert!(metrics.lines().any(|l| l.starts_with("storage_write_failures_total ") && !l.ends_with(" 0")));

    // Space comes back: readiness and writes recover without a restart.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(&http, format!("{}/health/ready", svc.base)).await.0 != 200 {
        assert!(Instant::now() < deadline, "readiness never recovered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A few messages: the freed space is finite too.
    for i in 0..30 {
        let s = send(&http, &svc.base, i, format!("b-{i}")).await;
        assert_eq!(s.status, 200, "writes recover once there is room");
        sent.push(s);
    }
    drop(svc);

    // After a restart every 200 is there.
    let svc = start(Path::new(disk.0.path()), &env(&url));
    let acked: HashSet<String> = sent.iter().filter(|s| s.status == 200).map(|s| s.id.clone()).collect();
    assert_eq!(stored_ids(&svc.base).await, acked, "exactly the acknowledged messages survive a restart");
    for status_id in sent.iter().filter(|s| s.status == 200).filter_map(|s| s.status_id.as_ref()) {
        let (_, page) = get(&http, format!("{}/statuses?message_id={status_id}", svc.base)).await;
        assert_eq!(page["total"], 1, "the acknowledged status {status_id} survives too");
    }
}
