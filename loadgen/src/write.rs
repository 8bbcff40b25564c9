//! `write` mode: a pre-built pool of unique signed messages sent by closed-loop workers, then
//! the durability check.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::json;

use crate::WriteArgs;
use crate::client::{Conn, Target, connect_all};
use crate::payload::{Generator, Signed, signed_run};
use crate::report::{CpuWindow, Recorder, cpu_human, emit};
use crate::verify::verify;

/// Rate the default pool is sized for; a faster run ends early and says so.
const POOL_RATE: f64 = 20_000.0;

struct Ctx {
    target: Arc<Target>,
    pool: Vec<Signed>,
    next: AtomicUsize,
    /// Measured requests claimed so far (with `--requests`).
    claimed: AtomicU64,
    limit: Option<u64>,
    measure_start: Instant,
    end: Option<Instant>,
    exhausted: AtomicBool,
}

pub async fn run(a: WriteArgs) -> Result<ExitCode> {
    let c = &a.posting.common;
    let (target, prefix, generator) = signed_run(&a.posting).await?;
    let warm = a.timing.warmup.as_secs_f64() * POOL_RATE;
    let size = a.pool.unwrap_or_else(|| match a.requests {
        Some(n) => n as usize + warm as usize,
        None => (a.timing.duration.as_secs_f64() * POOL_RATE + warm) as usize,
    });
    eprintln!("loadgen write: pre-building {size} signed messages, run prefix {prefix}");
    let pool = build_pool(&generator, size);
    let conns = connect_all(&target, c.connections).await?;

    let start = Instant::now();
    let measure_start = start + a.timing.warmup;
    let end = a.requests.is_none().then(|| measure_start + a.timing.duration);
    let ctx = Arc::new(Ctx {
        target: target.clone(),
        pool,
        next: AtomicUsize::new(0),
        claimed: AtomicU64::new(0),
        limit: a.requests,
        measure_start,
        end,
        exhausted: AtomicBool::new(false),
    });
    let pid = c.service_pid;
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(measure_start.into()).await;
        CpuWindow::start(pid)
    });
    let workers: Vec<_> = conns.into_iter().map(|conn| tokio::spawn(worker(ctx.clone(), conn))).collect();
    let mut total = Recorder::default();
    let mut acked = Vec::new();
    let mut conns = Vec::new();
    for w in workers {
        let (rec, ack, conn) = w.await?;
        total.merge(&rec);
        acked.extend(ack);
        conns.push(conn);
    }
    let elapsed = Instant::now().saturating_duration_since(measure_start);
    let cpu = cpu.await?.finish(elapsed);
    let exhausted = ctx.exhausted.load(Relaxed);

    let mut figures = json!({
        "mode": "write", "run": prefix, "connections": c.connections, "threads": c.threads,
        "elapsed_s": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0, "pool": ctx.pool.len(),
        "pool_exhausted": exhausted, "cpu": cpu,
    });
    merge(&mut figures, total.figures(elapsed));
    let mut human = format!(
        "write: {} connections, {:.2} s measured (+{:.1} s warm-up), run {prefix}\n{}\n{}",
        c.connections,
        elapsed.as_secs_f64(),
        a.timing.warmup.as_secs_f64(),
        total.human("POST", elapsed),
        cpu_human(&figures["cpu"]),
    );
    if exhausted {
        human.push_str(&format!("\nwarning: the pool of {} messages ran out; raise --pool", ctx.pool.len()));
    }
    let mut code = ExitCode::SUCCESS;
    if acked.is_empty() {
        human.push_str("\nerror: no request was acknowledged with 200 (wrong --secret or --target?)");
        code = ExitCode::FAILURE;
    }
    if !a.no_verify {
        eprintln!("loadgen write: verifying {} acknowledged messages ...", acked.len());
        let v = verify(&target, conns, &generator, &ctx.pool, &acked).await?;
        human.push_str(&format!("\n{}", v.human()));
        figures["verify"] = v.figures();
        if v.lost() > 0 {
            code = ExitCode::FAILURE;
        }
    }
    emit(c.json, &human, &figures);
    Ok(code)
}

async fn worker(ctx: Arc<Ctx>, mut conn: Conn) -> (Recorder, Vec<u32>, Conn) {
    let mut rec = Recorder::default();
    let mut acked = Vec::new();
    loop {
        let now = Instant::now();
        if ctx.end.is_some_and(|end| now >= end) {
            break;
        }
        let measured = now >= ctx.measure_start;
        if measured && ctx.limit.is_some_and(|limit| ctx.claimed.fetch_add(1, Relaxed) >= limit) {
            break;
        }
        let i = ctx.next.fetch_add(1, Relaxed);
        let Some(msg) = ctx.pool.get(i) else {
            ctx.exhausted.store(true, Relaxed);
            break;
        };
        let req = ctx.target.post_webhook(msg.body.clone(), msg.signature.clone());
        let t0 = Instant::now();
        let status = conn.send(req).await.ok().map(|r| r.status);
        let latency = t0.elapsed();
        if status == Some(200) {
            acked.push(i as u32);
        }
        if measured {
            rec.record(status, latency);
        }
        if status.is_none() {
            // The server is gone or refusing: do not spin through the pool.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    (rec, acked, conn)
}

/// Builds messages `0..n` on all cores before the clock starts.
fn build_pool(generator: &Generator, n: usize) -> Vec<Signed> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = n.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|lo| {
                s.spawn(move || (lo..(lo + chunk).min(n)).map(|i| generator.message(i as u64)).collect::<Vec<_>>())
            })
            .collect();
        parts.into_iter().flat_map(|p| p.join().expect("pool builder panicked")).collect::<Vec<Signed>>()
    })
}

/// Copies the fields of `extra` (an object) into `into` (an object).
pub fn merge(into: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(into), serde_json::Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}
