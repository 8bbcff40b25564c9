//! `feed` mode: drains `GET /feed` from the beginning (no `after`) on one connection, passing
//! back each `next_cursor` as `after`, until a page comes back empty (`wait=0`). Also the page
//! reading `consume` shares.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use crate::FeedArgs;
use crate::client::{Conn, Target};
use crate::read::encode;
use crate::report::{CpuWindow, Recorder, cpu_human, emit};
use crate::write::merge;

/// Consecutive failed requests (transport errors, 503) before a drain gives up.
const ATTEMPTS: u32 = 20;

/// One page of the feed: the message ids in commit order and the cursor to continue from.
pub struct Page {
    pub ids: Vec<String>,
    pub next: String,
}

pub fn path(after: Option<&str>, limit: u32, wait: u32) -> String {
    let mut path = format!("/feed?limit={limit}&wait={wait}");
    if let Some(after) = after {
        path.push_str("&after=");
        path.push_str(&encode(after));
    }
    path
}

pub fn parse(body: &[u8]) -> Result<Page> {
    let page: Value = serde_json::from_slice(body).context("GET /feed: not JSON")?;
    let data = page["data"].as_array().ok_or_else(|| anyhow!("GET /feed: no data array"))?;
    let ids = data
        .iter()
        .map(|m| {
            m["message_id"].as_str().map(str::to_owned).ok_or_else(|| anyhow!("GET /feed: a message without an id"))
        })
        .collect::<Result<_>>()?;
    let next = page["next_cursor"].as_str().ok_or_else(|| anyhow!("GET /feed: no next_cursor"))?.to_owned();
    Ok(Page { ids, next })
}

/// One GET /feed, retried on 503 (honouring Retry-After, at most 5 s) and transport errors;
/// every attempt is recorded in `rec`. Any other status is an error.
pub async fn fetch(target: &Target, conn: &mut Conn, path: &str, rec: &mut Recorder) -> Result<Page> {
    for _ in 0..ATTEMPTS {
        let t0 = Instant::now();
        let reply = conn.send(target.get(path)?).await;
        rec.record(reply.as_ref().ok().map(|r| r.status), t0.elapsed());
        match reply {
            Ok(r) if r.status == 200 => return parse(&r.body),
            Ok(r) if r.status == 503 => {
                tokio::time::sleep(Duration::from_secs(r.retry_after.unwrap_or(1).min(5))).await;
            }
            Ok(r) => bail!("GET {path}: status {}: {}", r.status, String::from_utf8_lossy(&r.body)),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    bail!("GET {path}: no 200 after {ATTEMPTS} attempts")
}

/// Follows the feed from `after` until an empty page; returns the cursor of the end and the
/// messages and pages read.
pub async fn drain(
    target: &Target,
    conn: &mut Conn,
    after: Option<String>,
    limit: u32,
    rec: &mut Recorder,
) -> Result<(Option<String>, u64, u64)> {
    let (mut cursor, mut messages, mut pages) = (after, 0u64, 0u64);
    loop {
        let page = fetch(target, conn, &path(cursor.as_deref(), limit, 0), rec).await?;
        pages += 1;
        messages += page.ids.len() as u64;
        cursor = Some(page.next);
        if page.ids.is_empty() {
            return Ok((cursor, messages, pages));
        }
    }
}

pub async fn run(a: FeedArgs) -> Result<ExitCode> {
    let c = &a.common;
    let target = Target::resolve(&c.target, c.token.as_deref()).await?;
    let mut conn = Conn::new(target.clone());
    conn.connect().await?;
    let cpu = CpuWindow::start(c.service_pid);
    let start = Instant::now();
    let mut rec = Recorder::default();
    let (_, messages, pages) = drain(&target, &mut conn, None, a.limit, &mut rec).await?;
    let elapsed = start.elapsed();
    let cpu = cpu.finish(elapsed);
    let rate = messages as f64 / elapsed.as_secs_f64().max(1e-9);
    let human = format!(
        "feed: drained {messages} messages in {pages} pages of up to {} in {:.2} s = {rate:.1} messages/s\n{}\n{}",
        a.limit,
        elapsed.as_secs_f64(),
        rec.human("page", elapsed),
        cpu_human(&cpu)
    );
    let mut figures = json!({
        "mode": "feed", "limit": a.limit, "threads": c.threads, "messages": messages, "pages": pages,
        "elapsed_s": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        "messages_per_s": (rate * 10.0).round() / 10.0, "cpu": cpu,
    });
    merge(&mut figures, rec.figures(elapsed));
    emit(c.json, &human, &figures);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_paths() {
        let p = parse(br#"{"data":[{"message_id":"a"},{"message_id":"b"}],"next_cursor":"ZjE6Mjow"}"#).unwrap();
        assert_eq!((p.ids, p.next.as_str()), (vec!["a".to_string(), "b".to_string()], "ZjE6Mjow"));
        assert!(parse(br#"{"data":[{"id":"a"}],"next_cursor":"x"}"#).is_err());
        assert_eq!(path(None, 1000, 0), "/feed?limit=1000&wait=0");
        assert_eq!(path(Some("ZjE6Mjow"), 10, 1), "/feed?limit=10&wait=1&after=ZjE6Mjow");
    }
}
