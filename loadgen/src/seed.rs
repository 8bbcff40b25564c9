//! `seed` mode: store `--count` messages through the API as fast as the service takes them.
//! Messages are made on the fly (no pool); a 503 or a dropped connection is retried, a
//! rejection (401, 422, ...) stops the run.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use crate::SeedArgs;
use crate::client::{Conn, Target, connect_all};
use crate::payload::{Generator, signed_run};
use crate::report::{CpuWindow, cpu_human, emit};

const ATTEMPTS: u32 = 20;

struct Ctx {
    target: Arc<Target>,
    generator: Generator,
    count: u64,
    next: AtomicU64,
    stored: AtomicU64,
    retries: AtomicU64,
    failed: AtomicU64,
    stop: AtomicBool,
    fatal: OnceLock<String>,
}

pub async fn run(a: SeedArgs) -> Result<ExitCode> {
    let c = &a.posting.common;
    let (target, prefix, generator) = signed_run(&a.posting).await?;
    let conns = connect_all(&target, c.connections).await?;
    let ctx = Arc::new(Ctx {
        target,
        generator,
        count: a.count,
        next: AtomicU64::new(0),
        stored: AtomicU64::new(0),
        retries: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        fatal: OnceLock::new(),
    });
    eprintln!("loadgen seed: storing {} messages over {} connections, run prefix {prefix}", a.count, c.connections);
    let start = Instant::now();
    let cpu = CpuWindow::start(c.service_pid);
    let workers: Vec<_> = conns.into_iter().map(|conn| tokio::spawn(worker(ctx.clone(), conn))).collect();
    let progress = tokio::spawn(progress(ctx.clone(), start));
    for w in workers {
        w.await?;
    }
    progress.abort();
    let elapsed = start.elapsed();
    let cpu = cpu.finish(elapsed);
    let stored = ctx.stored.load(Relaxed);
    let rate = stored as f64 / elapsed.as_secs_f64().max(1e-9);
    let (retries, failed) = (ctx.retries.load(Relaxed), ctx.failed.load(Relaxed));
    let mut human = format!(
        "seed: stored {stored} of {} in {:.2} s = {rate:.1} msg/s ({retries} retried, {failed} failed), run {prefix}\n{}",
        a.count,
        elapsed.as_secs_f64(),
        cpu_human(&cpu)
    );
    if let Some(why) = ctx.fatal.get() {
        human.push_str(&format!("\nerror: stopped: {why}"));
    }
    let figures = json!({
        "mode": "seed", "run": prefix, "connections": c.connections, "threads": c.threads, "count": a.count,
        "stored": stored, "elapsed_s": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        "rate": (rate * 10.0).round() / 10.0, "retries": retries, "failed": failed, "cpu": cpu,
    });
    emit(c.json, &human, &figures);
    Ok(if stored == a.count { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn worker(ctx: Arc<Ctx>, mut conn: Conn) {
    while !ctx.stop.load(Relaxed) {
        let i = ctx.next.fetch_add(1, Relaxed);
        if i >= ctx.count {
            break;
        }
        let msg = ctx.generator.message(i);
        let mut stored = false;
        for _ in 0..ATTEMPTS {
            let req = ctx.target.post_webhook(msg.body.clone(), msg.signature.clone());
            match conn.send(req).await {
                Ok(r) if r.status == 200 => {
                    stored = true;
                    break;
                }
                Ok(r) if r.status == 503 => {
                    ctx.retries.fetch_add(1, Relaxed);
                    let wait = r.retry_after.map_or(Duration::from_millis(50), |s| Duration::from_secs(s.min(5)));
                    tokio::time::sleep(wait).await;
                }
                Ok(r) => {
                    let body = String::from_utf8_lossy(&r.body);
                    let _ = ctx.fatal.set(format!("status {} for {}: {body}", r.status, ctx.generator.message_id(i)));
                    ctx.stop.store(true, Relaxed);
                    break;
                }
                Err(_) => {
                    ctx.retries.fetch_add(1, Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        if stored {
            ctx.stored.fetch_add(1, Relaxed);
        } else {
            ctx.failed.fetch_add(1, Relaxed);
        }
    }
}

async fn progress(ctx: Arc<Ctx>, start: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = (0u64, Instant::now());
    loop {
        tick.tick().await;
        let stored = ctx.stored.load(Relaxed);
        let now_rate = (stored - last.0) as f64 / last.1.elapsed().as_secs_f64().max(1e-9);
        last = (stored, Instant::now());
        eprintln!(
            "seed: {stored}/{} ({:.1}%)  {now_rate:.0} msg/s now, {:.0} msg/s average",
            ctx.count,
            stored as f64 * 100.0 / ctx.count.max(1) as f64,
            stored as f64 / start.elapsed().as_secs_f64()
        );
    }
}
