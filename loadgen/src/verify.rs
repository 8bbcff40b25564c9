//! Durability check after `write` (flat messages or envelopes) and `consume`: every message
//! acknowledged with 200 must be listed by
//! `GET /messages?from=<sender>`. Each sender touched is paged through once (limit=100), the
//! senders shared out over the run's connections.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use serde_json::{Value, json};

use crate::client::{Conn, Target};
use crate::payload::{Generator, sender_query};

const PAGE: u64 = 100;
const ATTEMPTS: u32 = 20;

pub struct Verdict {
    acknowledged: u64,
    stored: u64,
    /// Message ids of this run that are stored although never acknowledged (503 or a cut connection).
    stored_unacknowledged: u64,
    lost_sample: Vec<String>,
    requests: u64,
    elapsed: Duration,
}

impl Verdict {
    pub fn lost(&self) -> u64 {
        self.acknowledged - self.stored
    }

    pub fn human(&self) -> String {
        let mut s = format!(
            "verify     acknowledged={} stored_of_acknowledged={} lost={}  (stored_unacknowledged={}, {} GETs in {:.2} s)",
            self.acknowledged,
            self.stored,
            self.lost(),
            self.stored_unacknowledged,
            self.requests,
            self.elapsed.as_secs_f64()
        );
        if !self.lost_sample.is_empty() {
            s.push_str(&format!("\nlost, e.g.: {}", self.lost_sample.join(" ")));
        }
        s
    }

    pub fn figures(&self) -> Value {
        json!({
            "acknowledged": self.acknowledged, "stored_of_acknowledged": self.stored, "lost": self.lost(),
            "stored_unacknowledged": self.stored_unacknowledged, "requests": self.requests,
        })
    }
}

/// Counts for one sender.
#[derive(Default)]
struct Tally {
    stored: u64,
    stored_unacknowledged: u64,
    lost: Vec<u64>,
    requests: u64,
}

pub async fn verify(
    target: &Arc<Target>,
    conns: Vec<Conn>,
    generator: &Generator,
    acked: &[(u64, u32)],
) -> Result<Verdict> {
    let started = Instant::now();
    let mut by_sender: HashMap<u32, HashSet<u64>> = HashMap::new();
    for &(i, sender) in acked {
        by_sender.entry(sender).or_default().insert(i);
    }
    let queue = Arc::new(Mutex::new(by_sender.into_iter().collect::<Vec<_>>()));
    let ours = format!("{}-", generator.prefix());
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            let (queue, target, ours) = (queue.clone(), target.clone(), ours.clone());
            tokio::spawn(async move {
                let mut total = Tally::default();
                loop {
                    let next = queue.lock().expect("queue lock").pop();
                    let Some((sender, expected)) = next else { break };
                    let t = check_sender(&target, &mut conn, &ours, sender, expected).await?;
                    total.stored += t.stored;
                    total.stored_unacknowledged += t.stored_unacknowledged;
                    total.requests += t.requests;
                    total.lost.extend(t.lost);
                }
                Ok::<_, anyhow::Error>(total)
            })
        })
        .collect();
    let mut all = Tally::default();
    for t in tasks {
        let t = t.await??;
        all.stored += t.stored;
        all.stored_unacknowledged += t.stored_unacknowledged;
        all.requests += t.requests;
        all.lost.extend(t.lost);
    }
    all.lost.sort_unstable();
    Ok(Verdict {
        acknowledged: acked.len() as u64,
        stored: all.stored,
        stored_unacknowledged: all.stored_unacknowledged,
        lost_sample: all.lost.iter().take(10).map(|&i| generator.message_id(i)).collect(),
        requests: all.requests,
        elapsed: started.elapsed(),
    })
}

/// Pages through one sender's messages, ticking off this run's acknowledged ids.
async fn check_sender(
    target: &Target,
    conn: &mut Conn,
    ours: &str,
    sender: u32,
    mut expected: HashSet<u64>,
) -> Result<Tally> {
    let mut tally = Tally::default();
    let mut offset = 0u64;
    loop {
        let path = format!("/messages?from={}&limit={PAGE}&offset={offset}", sender_query(sender as usize));
        let page = get_json(target, conn, &path, &mut tally.requests).await?;
        let data = page["data"].as_array().ok_or_else(|| anyhow!("{path}: no data array"))?;
        for m in data {
            let Some(id) = m["message_id"].as_str().and_then(|id| id.strip_prefix(ours)) else { continue };
            match id.parse::<u64>() {
                Ok(i) if expected.remove(&i) => tally.stored += 1,
                _ => tally.stored_unacknowledged += 1,
            }
        }
        offset += data.len() as u64;
        if data.is_empty() || offset >= page["total"].as_u64().unwrap_or(0) || expected.is_empty() {
            break;
        }
    }
    tally.lost = expected.into_iter().collect();
    Ok(tally)
}

/// GET with retries on 503 (honouring Retry-After) and on transport errors.
async fn get_json(target: &Target, conn: &mut Conn, path: &str, requests: &mut u64) -> Result<Value> {
    for _ in 0..ATTEMPTS {
        *requests += 1;
        match conn.send(target.get(path)?).await {
            Ok(r) if r.status == 200 => return Ok(serde_json::from_slice(&r.body)?),
            Ok(r) if r.status == 503 => {
                tokio::time::sleep(Duration::from_secs(r.retry_after.unwrap_or(1).min(5))).await;
            }
            Ok(r) => bail!("GET {path}: status {}: {}", r.status, String::from_utf8_lossy(&r.body)),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    bail!("GET {path}: no 200 after {ATTEMPTS} attempts")
}
