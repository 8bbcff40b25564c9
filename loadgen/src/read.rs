//! `read` mode: closed-loop GET /messages with random filters, and a share of GET /stats.
//! With `--cursor`, the /messages requests walk pages by cursor instead (see `walk.rs`).

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, json};

use crate::ReadArgs;
use crate::client::{Conn, Target, connect_all};
use crate::dist::{Dist, stats_span};
use crate::payload::{VOCAB, sender_query};
use crate::report::{CpuWindow, Recorder, cpu_human, emit};
use crate::rfc3339;
use crate::walk::{DEPTHS, walk_worker};
use crate::write::merge;

/// Names of the filter combinations, indexed by a mask: bit 0 `from`, bit 1 `since`, bit 2 `q`.
const SHAPES: [&str; 8] = ["none", "from", "since", "from+since", "q", "from+q", "since+q", "from+since+q"];

pub struct Ctx {
    pub target: Arc<Target>,
    pub args: ReadArgs,
    /// Senders `from` is drawn from.
    pub senders: usize,
    /// Under `--dist realistic`: the first and last `ts` of GET /stats, in microseconds.
    pub since_span: Option<(i64, i64)>,
    pub measure_start: Instant,
    pub end: Instant,
}

/// One worker's recordings: /messages by filter shape, and /stats; with `--cursor`, also
/// /messages by page depth, the deepest page and the walks.
#[derive(Default)]
pub struct Seen {
    pub messages: [Recorder; 8],
    pub stats: Recorder,
    pub depth: [Recorder; DEPTHS.len()],
    pub deepest: u32,
    pub walks: u64,
}

pub async fn run(a: ReadArgs) -> Result<ExitCode> {
    let c = &a.common;
    let target = Target::resolve(&c.target, c.token.as_deref()).await?;
    let seed = c.seed.unwrap_or_else(rand::random);
    let mut conns = connect_all(&target, c.connections).await?;
    let since_span = match a.dist {
        Dist::January => None,
        Dist::Realistic => Some(stats_span(&target, &mut conns[0]).await?),
    };
    let senders = a.senders.unwrap_or_else(|| a.dist.default_senders());
    let measure_start = Instant::now() + a.timing.warmup;
    let end = measure_start + a.timing.duration;
    let ctx = Arc::new(Ctx { target, args: a.clone(), senders, since_span, measure_start, end });
    let pid = c.service_pid;
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(measure_start.into()).await;
        CpuWindow::start(pid)
    });
    let workers: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(n, conn)| {
            let rng = SmallRng::seed_from_u64(seed ^ n as u64);
            if a.cursor {
                tokio::spawn(walk_worker(ctx.clone(), conn, rng))
            } else {
                tokio::spawn(worker(ctx.clone(), conn, rng))
            }
        })
        .collect();
    let mut shapes: [Recorder; 8] = Default::default();
    let mut stats = Recorder::default();
    let mut depth: [Recorder; DEPTHS.len()] = Default::default();
    let (mut deepest, mut walks) = (0, 0);
    for w in workers {
        let seen = w.await?;
        for (into, from) in shapes.iter_mut().zip(&seen.messages) {
            into.merge(from);
        }
        for (into, from) in depth.iter_mut().zip(&seen.depth) {
            into.merge(from);
        }
        stats.merge(&seen.stats);
        deepest = deepest.max(seen.deepest);
        walks += seen.walks;
    }
    let elapsed = Instant::now().saturating_duration_since(measure_start);
    let cpu = cpu.await?.finish(elapsed);
    let mut messages = Recorder::default();
    shapes.iter().for_each(|s| messages.merge(s));
    let mut all = Recorder::default();
    all.merge(&messages);
    all.merge(&stats);

    let how = if a.cursor { format!(", cursor walks up to {} pages", a.max_depth) } else { String::new() };
    let mut human = format!(
        "read: {} connections, {:.2} s measured (+{:.1} s warm-up), stats share {}{how}\n{}\n{}\n{}\n{}\nby filter (GET /messages):",
        c.connections,
        elapsed.as_secs_f64(),
        a.timing.warmup.as_secs_f64(),
        a.stats_share,
        all.human("all", elapsed),
        messages.human("/messages", elapsed),
        stats.human("/stats", elapsed),
        cpu_human(&cpu),
    );
    let mut by_filter = Map::new();
    for (name, rec) in SHAPES.iter().zip(&shapes).filter(|(_, r)| r.requests() > 0) {
        by_filter.insert((*name).into(), breakdown_line(&mut human, name, rec, elapsed));
    }
    let mut figures = json!({
        "mode": "read", "connections": c.connections, "threads": c.threads,
        "elapsed_s": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0, "stats_share": a.stats_share, "cpu": cpu,
        "messages": messages.figures(elapsed), "stats": stats.figures(elapsed), "by_filter": by_filter,
        "dist": format!("{:?}", a.dist).to_lowercase(),
    });
    if a.cursor {
        human.push_str("\nby page depth (GET /messages):");
        let mut by_depth = Map::new();
        for ((name, _), rec) in DEPTHS.iter().zip(&depth).filter(|(_, r)| r.requests() > 0) {
            by_depth.insert((*name).into(), breakdown_line(&mut human, name, rec, elapsed));
        }
        let _ = write!(
            human,
            "\ncursor     {walks} walks started, deepest page reached {deepest} (max depth {})",
            a.max_depth
        );
        figures["cursor"] = json!({"max_depth": a.max_depth, "deepest": deepest, "walks": walks, "by_depth": by_depth});
    }
    merge(&mut figures, all.figures(elapsed));
    let bad = all.errors + all.other.values().sum::<u64>();
    if bad > 0 {
        human.push_str(&format!("\nerror: {bad} requests failed or got an unexpected status"));
    }
    emit(c.json, &human, &figures);
    Ok(if bad > 0 || all.ok == 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

async fn worker(ctx: Arc<Ctx>, mut conn: Conn, mut rng: SmallRng) -> Seen {
    let mut seen = Seen::default();
    loop {
        let now = Instant::now();
        if now >= ctx.end {
            break;
        }
        let (path, shape) = if rng.random_bool(ctx.args.stats_share.clamp(0.0, 1.0)) {
            ("/stats".to_string(), None)
        } else {
            let (path, mask) = messages_query(&mut rng, &ctx);
            (path, Some(mask))
        };
        let Ok(req) = ctx.target.get(&path) else { continue };
        let t0 = Instant::now();
        let status = conn.send(req).await.ok().map(|r| r.status);
        let latency = t0.elapsed();
        if now >= ctx.measure_start {
            let rec = shape.map_or(&mut seen.stats, |m| &mut seen.messages[m]);
            rec.record(status, latency);
        }
        if status.is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    seen
}

/// One indented line of a breakdown (by filter, by depth); returns its figures.
fn breakdown_line(human: &mut String, name: &str, rec: &Recorder, elapsed: std::time::Duration) -> serde_json::Value {
    let f = rec.figures(elapsed);
    let (l, n) = (&f["latency_ms"], |v: &serde_json::Value| v.as_f64().unwrap_or(0.0));
    let _ = write!(
        human,
        "\n  {name:<13} {:>8} req  {:>8.1} req/s  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        rec.requests(),
        n(&f["rps"]),
        n(&l["p50"]),
        n(&l["p99"]),
        n(&l["max"])
    );
    f
}

/// A random GET /messages: page size and offset, then each filter independently.
fn messages_query(rng: &mut SmallRng, ctx: &Ctx) -> (String, usize) {
    let limit = page_size(rng);
    let offset = match rng.random_range(0..10) {
        0..7 => 0,
        7..9 => rng.random_range(0..100),
        _ => rng.random_range(0..=ctx.args.max_offset),
    };
    let (filters, mask) = filters(rng, ctx);
    (format!("/messages?limit={limit}&offset={offset}{filters}"), mask)
}

/// `limit`: 10/20/50/100 (40%) or 1–100.
pub fn page_size(rng: &mut SmallRng) -> u32 {
    match rng.random_range(0..10) {
        0..4 => [10, 20, 50, 100][rng.random_range(0..4)],
        _ => rng.random_range(1..=100),
    }
}

/// Each filter independently, as `&name=value` pairs, and the mask naming the combination.
pub fn filters(rng: &mut SmallRng, ctx: &Ctx) -> (String, usize) {
    let mut query = String::new();
    let mut mask = 0;
    if rng.random_bool(0.5) {
        mask |= 1;
        let _ = write!(query, "&from={}", sender_query(rng.random_range(0..ctx.senders.max(1))));
    }
    if rng.random_bool(0.3) {
        mask |= 2;
        let since = match ctx.since_span {
            Some((first, last)) => rfc3339::format(rng.random_range(first..=last)),
            None => rfc3339::format(rfc3339::micros(2025, 1, rng.random_range(1..=31), rng.random_range(0..24), 0, 0)),
        };
        let _ = write!(query, "&since={since}");
    }
    if rng.random_bool(0.3) {
        mask |= 4;
        let _ = write!(query, "&q={}", encode(&needle(rng)));
    }
    (query, mask)
}

/// A word of the texts, sometimes in another case, sometimes a fragment, sometimes a miss.
fn needle(rng: &mut SmallRng) -> String {
    let word = VOCAB[rng.random_range(0..VOCAB.len())];
    match rng.random_range(0..10) {
        0 => word.to_uppercase(),
        1 => word.chars().take(3).collect(),
        2 => "xyzzy".into(),
        _ => word.into(),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode(s: &str) -> String {
    s.bytes().fold(String::new(), |mut out, b| {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode("café +1"), "caf%C3%A9%20%2B1");
    }
}
