//! `write` mode: a pre-built pool of unique signed requests (flat messages, or Cloud API
//! envelopes of N messages with `--envelope`) sent by closed-loop workers, then the durability
//! check. `consume` runs the same three steps around its feed consumer.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use bytes::Bytes;
use hyper::header::HeaderValue;
use serde_json::{Value, json};

use crate::WriteArgs;
use crate::client::{Conn, Target, connect_all};
use crate::envelope::envelope;
use crate::payload::{Generator, Signed, signed_run, signed_run_with};
use crate::report::{CpuWindow, Recorder, cpu_human, emit};
use crate::verify::verify;

/// Message rate the default pool is sized for; a faster run ends early and says so.
const POOL_RATE: f64 = 20_000.0;

/// One pre-built request: its signed body and the messages in it (`first`, `first + 1`, …, one
/// sender rank each).
pub struct Batch {
    pub body: Bytes,
    pub header: &'static str,
    pub signature: HeaderValue,
    pub first: u64,
    pub senders: Vec<u32>,
}

impl Batch {
    fn flat(i: u64, m: Signed) -> Self {
        Self { body: m.body, header: "x-signature", signature: m.signature, first: i, senders: vec![m.sender] }
    }

    /// (message index, sender rank) of every message in the request.
    pub fn messages(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.senders.iter().enumerate().map(|(k, &s)| (self.first + k as u64, s))
    }
}

/// Everything built before the clock starts.
pub struct Prepared {
    pub target: Arc<Target>,
    pub prefix: String,
    pub generator: Generator,
    pub pool: Arc<Vec<Batch>>,
    pub conns: Vec<Conn>,
}

/// What the workers did over the run.
pub struct Run {
    pub total: Recorder,
    /// Pool indices acknowledged with 200, with the instant the 200 arrived.
    pub acked: Vec<(u32, Instant)>,
    pub conns: Vec<Conn>,
    pub elapsed: Duration,
    pub cpu: Value,
    pub exhausted: bool,
}

struct Ctx {
    target: Arc<Target>,
    pool: Arc<Vec<Batch>>,
    next: AtomicUsize,
    /// Measured requests claimed so far (with `--requests`).
    claimed: AtomicU64,
    limit: Option<u64>,
    measure_start: Instant,
    end: Option<Instant>,
    exhausted: AtomicBool,
}

pub async fn run(a: WriteArgs) -> Result<ExitCode> {
    let mut p = prepare(&a, "write").await?;
    let run = drive(&a, &mut p).await?;
    let (human, figures, code) = report(&a, "write", &p, run).await?;
    emit(a.posting.common.json, &human, &figures);
    Ok(code)
}

/// Builds and signs the pool and opens the connections.
pub async fn prepare(a: &WriteArgs, mode: &str) -> Result<Prepared> {
    let per_request = a.envelope.unwrap_or(1);
    let (target, prefix, generator) = match a.envelope {
        None => signed_run(&a.posting).await?,
        Some(_) => {
            let secret = a.app_secret.as_deref().or(a.posting.secret.as_deref()).ok_or_else(|| {
                anyhow!("--envelope needs --app-secret (or WHATSAPP_APP_SECRET), or --secret as a fallback")
            })?;
            signed_run_with(&a.posting, secret, "wamid.").await?
        }
    };
    let warm = a.timing.warmup.as_secs_f64() * POOL_RATE / f64::from(per_request);
    let size = a.pool.unwrap_or_else(|| match a.requests {
        Some(n) => n as usize + warm as usize,
        None => ((a.timing.duration.as_secs_f64() * POOL_RATE / f64::from(per_request) + warm) as usize)
            .max(4 * a.posting.common.connections),
    });
    let what = if per_request == 1 { "signed messages".to_string() } else { format!("envelopes of {per_request}") };
    eprintln!("loadgen {mode}: pre-building {size} {what}, run prefix {prefix}");
    let pool = Arc::new(build_pool(&generator, size, a.envelope));
    let conns = connect_all(&target, a.posting.common.connections).await?;
    Ok(Prepared { target, prefix, generator, pool, conns })
}

/// Runs the workers over the warm-up and the measured window (or `--requests`).
pub async fn drive(a: &WriteArgs, p: &mut Prepared) -> Result<Run> {
    let conns = std::mem::take(&mut p.conns);
    let start = Instant::now();
    let measure_start = start + a.timing.warmup;
    let end = a.requests.is_none().then(|| measure_start + a.timing.duration);
    let ctx = Arc::new(Ctx {
        target: p.target.clone(),
        pool: p.pool.clone(),
        next: AtomicUsize::new(0),
        claimed: AtomicU64::new(0),
        limit: a.requests,
        measure_start,
        end,
        exhausted: AtomicBool::new(false),
    });
    let pid = a.posting.common.service_pid;
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
    Ok(Run { total, acked, conns, elapsed, cpu, exhausted: ctx.exhausted.load(Relaxed) })
}

/// The summary of a run, with the durability check unless `--no-verify`.
pub async fn report(a: &WriteArgs, mode: &str, p: &Prepared, run: Run) -> Result<(String, Value, ExitCode)> {
    let c = &a.posting.common;
    let (prefix, elapsed) = (&p.prefix, run.elapsed);
    let mut figures = json!({
        "mode": mode, "run": prefix, "connections": c.connections, "threads": c.threads,
        "elapsed_s": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0, "pool": p.pool.len(),
        "pool_exhausted": run.exhausted, "cpu": run.cpu, "dist": format!("{:?}", a.posting.senders.dist).to_lowercase(),
    });
    merge(&mut figures, run.total.figures(elapsed));
    let name = if a.envelope.is_some() { "envelopes" } else { "POST" };
    let mut human = format!(
        "{mode}: {} connections, {:.2} s measured (+{:.1} s warm-up), run {prefix}\n{}\n{}",
        c.connections,
        elapsed.as_secs_f64(),
        a.timing.warmup.as_secs_f64(),
        run.total.human(name, elapsed),
        cpu_human(&figures["cpu"]),
    );
    if let Some(n) = a.envelope {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let envelopes_per_s = run.total.requests() as f64 / secs;
        let messages_per_s = (run.total.ok * u64::from(n)) as f64 / secs;
        human.push_str(&format!(
            "\nmessages   {n} per envelope: {envelopes_per_s:.1} envelopes/s, {messages_per_s:.1} acknowledged messages/s"
        ));
        figures["envelope"] = json!(n);
        figures["envelopes_per_s"] = json!((envelopes_per_s * 10.0).round() / 10.0);
        figures["messages_per_s"] = json!((messages_per_s * 10.0).round() / 10.0);
    }
    if run.exhausted {
        human.push_str(&format!("\nwarning: the pool of {} requests ran out; raise --pool", p.pool.len()));
    }
    let mut code = ExitCode::SUCCESS;
    if run.acked.is_empty() {
        human.push_str("\nerror: no request was acknowledged with 200 (wrong --secret or --target?)");
        code = ExitCode::FAILURE;
    }
    if !a.no_verify {
        let acked = acked_messages(&p.pool, &run.acked);
        eprintln!("loadgen {mode}: verifying {} acknowledged messages ...", acked.len());
        let v = verify(&p.target, run.conns, &p.generator, &acked).await?;
        human.push_str(&format!("\n{}", v.human()));
        figures["verify"] = v.figures();
        if v.lost() > 0 {
            code = ExitCode::FAILURE;
        }
    }
    Ok((human, figures, code))
}

/// (message index, sender rank) of every message in the acknowledged requests.
pub fn acked_messages(pool: &[Batch], acked: &[(u32, Instant)]) -> Vec<(u64, u32)> {
    acked.iter().flat_map(|&(i, _)| pool[i as usize].messages()).collect()
}

async fn worker(ctx: Arc<Ctx>, mut conn: Conn) -> (Recorder, Vec<(u32, Instant)>, Conn) {
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
        let Some(batch) = ctx.pool.get(i) else {
            ctx.exhausted.store(true, Relaxed);
            break;
        };
        let req = ctx.target.post_signed(batch.body.clone(), batch.header, batch.signature.clone());
        let t0 = Instant::now();
        let status = conn.send(req).await.ok().map(|r| r.status);
        let done = Instant::now();
        if status == Some(200) {
            acked.push((i as u32, done));
        }
        if measured {
            rec.record(status, done - t0);
        }
        if status.is_none() {
            // The server is gone or refusing: do not spin through the pool.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    (rec, acked, conn)
}

/// Builds requests `0..n` on all cores before the clock starts: flat messages, or envelopes.
fn build_pool(generator: &Generator, n: usize, envelope_of: Option<u32>) -> Vec<Batch> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = n.div_ceil(threads).max(1);
    let build = |i: u64| match envelope_of {
        None => Batch::flat(i, generator.message(i)),
        Some(per) => envelope(generator, i, per),
    };
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|lo| s.spawn(move || (lo..(lo + chunk).min(n)).map(|i| build(i as u64)).collect::<Vec<_>>()))
            .collect();
        parts.into_iter().flat_map(|p| p.join().expect("pool builder panicked")).collect::<Vec<Batch>>()
    })
}

/// Copies the fields of `extra` (an object) into `into` (an object).
pub fn merge(into: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(into), serde_json::Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}
