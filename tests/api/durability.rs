//! Nothing acknowledged is lost: graceful shutdown under load, and SIGKILL under load.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use webhook_ingest::adapters::signature::sign_hex;

use crate::e2e::{Service, start};
use crate::helpers::SECRET;

/// Writes unique messages from `workers` tasks until the service stops answering or `limit` passes;
/// returns the ids acknowledged with 200.
fn load(base: &str, workers: usize, limit: Duration) -> tokio::task::JoinSet<Vec<String>> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let (http, base) = (http.clone(), base.to_owned());
        tasks.spawn(async move {
            let mut acked = Vec::new();
            let started = Instant::now();
            for i in 0.. {
                if started.elapsed() > limit {
                    break;
                }
                let id = format!("w{w}-{i}");
                let body =
                    json!({"message_id": id, "from": "+15550001", "to": "+15550002", "ts": "2025-01-15T10:00:00Z"})
                        .to_string();
                let sig = sign_hex(SECRET, body.as_bytes());
                match http.post(format!("{base}/webhook")).header("X-Signature", sig).body(body).send().await {
                    Ok(r) if r.status() == 200 => acked.push(id),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            acked
        });
    }
    tasks
}

/// Every stored message id, read page by page.
pub async fn stored_ids(base: &str) -> HashSet<String> {
    let http = reqwest::Client::new();
    let mut ids = HashSet::new();
    for offset in (0..).step_by(100) {
        let page: Value =
            http.get(format!("{base}/messages?limit=100&offset={offset}")).send().await.unwrap().json().await.unwrap();
        let rows = page["data"].as_array().unwrap();
        ids.extend(rows.iter().map(|r| r["message_id"].as_str().unwrap().to_owned()));
        if rows.len() < 100 {
            break;
        }
    }
    ids
}

fn env(url: &str) -> [(&str, &str); 3] {
    [("WEBHOOK_SECRET", SECRET), ("DATABASE_URL", url), ("SHUTDOWN_TIMEOUT_SECS", "10")]
}

async fn acked_under_load_then(svc: &mut Service, stop: impl FnOnce(&mut Service)) -> Vec<String> {
    let mut writers = load(&svc.base, 8, Duration::from_secs(20));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop(svc);
    let mut acked = Vec::new();
    while let Some(ids) = writers.join_next().await {
        acked.extend(ids.unwrap());
    }
    assert!(acked.len() > 50, "the load reached the service ({} acknowledged)", acked.len());
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_drains_exits_zero_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/app.db", dir.path().display());
    let mut svc = start(dir.path(), &env(&url));
    let mut exit = None;
    let acked = acked_under_load_then(&mut svc, |svc| {
        let pid = svc.child.id().to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(status) = svc.child.try_wait().unwrap() {
                exit = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await;
    let status = exit.expect("the service exits within the shutdown bound");
    assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");
    let restarted = start(dir.path(), &env(&url));
    let stored = stored_ids(&restarted.base).await;
    let lost: Vec<_> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(lost.is_empty(), "{} acknowledged messages lost: {lost:?}", lost.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/app.db", dir.path().display());
    let mut svc = start(dir.path(), &env(&url));
    let acked = acked_under_load_then(&mut svc, |svc| svc.child.kill().unwrap()).await;
    let _ = svc.child.wait();
    let restarted = start(dir.path(), &env(&url));
    let stored = stored_ids(&restarted.base).await;
    let lost: Vec<_> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(lost.is_empty(), "{} acknowledged messages lost: {lost:?}", lost.len());
}
