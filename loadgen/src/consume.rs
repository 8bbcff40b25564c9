//! `consume` mode: the `write` workers and, at the same time, one consumer long-polling
//! `GET /feed` (`wait=1`, `limit=1000`) from the feed's tail as it was just before the writers
//! started (found by draining the feed to its end). Once the writers have stopped, the consumer
//! goes on until a page asked for after that comes back empty. Then every id acknowledged with 200
//! in this run must have been seen exactly once: `lost` = acknowledged, never seen; `duplicates` =
//! this run's ids seen more than once. Ids of this run seen but never acknowledged (a 503 or a cut
//! connection after the commit) are counted apart and allowed; so are other writers' ids.

use std::collections::{HashMap, HashSet};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use hdrhistogram::Histogram;
use serde_json::json;

use crate::ConsumeArgs;
use crate::client::{Conn, Target};
use crate::feed::{drain, fetch, path};
use crate::report::{Recorder, emit};
use crate::write::{drive, prepare, report};

const LIMIT: u32 = 1000;
const WAIT_SECS: u32 = 1;

/// What the feed showed against what was acknowledged.
#[derive(Debug, Default, PartialEq)]
pub struct FeedCheck {
    pub acknowledged: u64,
    /// Distinct ids of this run seen in the feed.
    pub seen: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub seen_unacknowledged: u64,
    /// Ids in the feed that are not this run's (other writers).
    pub foreign: u64,
    pub lost_sample: Vec<u64>,
    pub duplicate_sample: Vec<u64>,
}

impl FeedCheck {
    pub fn ok(&self) -> bool {
        self.lost == 0 && self.duplicates == 0
    }
}

/// Compares acknowledged message indices with the feed's sightings in order (`None`: an id that
/// is not this run's).
pub fn check(acked: &[u64], seen: &[Option<u64>]) -> FeedCheck {
    let acked: HashSet<u64> = acked.iter().copied().collect();
    let mut counts: HashMap<u64, u32> = HashMap::new();
    let mut foreign = 0;
    for s in seen {
        match s {
            Some(i) => *counts.entry(*i).or_default() += 1,
            None => foreign += 1,
        }
    }
    let mut lost_sample: Vec<u64> = acked.iter().copied().filter(|i| !counts.contains_key(i)).collect();
    let mut duplicate_sample: Vec<u64> = counts.iter().filter(|(_, n)| **n > 1).map(|(i, _)| *i).collect();
    let (lost, duplicates) = (lost_sample.len() as u64, duplicate_sample.len() as u64);
    lost_sample.sort_unstable();
    lost_sample.truncate(10);
    duplicate_sample.sort_unstable();
    duplicate_sample.truncate(10);
    FeedCheck {
        acknowledged: acked.len() as u64,
        seen: counts.len() as u64,
        lost,
        duplicates,
        seen_unacknowledged: counts.keys().filter(|i| !acked.contains(i)).count() as u64,
        foreign,
        lost_sample,
        duplicate_sample,
    }
}

/// What the consumer read.
struct Consumed {
    /// This run's message index (or `None`) of every id in feed order, and when its page arrived.
    sightings: Vec<(Option<u64>, Instant)>,
    rec: Recorder,
    pages: u64,
    drained: bool,
    elapsed: Duration,
}

pub async fn run(a: ConsumeArgs) -> Result<ExitCode> {
    let w = &a.write;
    let mut p = prepare(w, "consume").await?;
    let mut conn = Conn::new(p.target.clone());
    conn.connect().await?;
    let t0 = Instant::now();
    let (tail, skipped, skipped_pages) = drain(&p.target, &mut conn, None, LIMIT, &mut Recorder::default()).await?;
    eprintln!(
        "loadgen consume: feed tail after {skipped} existing messages ({skipped_pages} pages, {:.2} s); writers start",
        t0.elapsed().as_secs_f64()
    );
    let stopped = Arc::new(Mutex::new(None));
    let ours = format!("{}-", p.prefix);
    let consumer = tokio::spawn(consumer(
        p.target.clone(),
        conn,
        tail.unwrap_or_default(),
        ours,
        stopped.clone(),
        a.drain_timeout,
    ));
    let run = drive(w, &mut p).await?;
    *stopped.lock().expect("stop lock") = Some(Instant::now());
    let consumed = consumer.await??;

    // When each acknowledged message got its 200, and when the consumer first saw it.
    let acked: Vec<(u64, Instant)> =
        run.acked.iter().flat_map(|&(b, at)| p.pool[b as usize].messages().map(move |(i, _)| (i, at))).collect();
    let ids: Vec<u64> = acked.iter().map(|(i, _)| *i).collect();
    let seen: Vec<Option<u64>> = consumed.sightings.iter().map(|(s, _)| *s).collect();
    let verdict = check(&ids, &seen);
    let mut first_seen: HashMap<u64, Instant> = HashMap::new();
    for (s, at) in &consumed.sightings {
        if let Some(i) = s {
            first_seen.entry(*i).or_insert(*at);
        }
    }
    let mut lag = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds");
    for (i, acked_at) in &acked {
        if let Some(seen_at) = first_seen.get(i) {
            lag.saturating_record(seen_at.saturating_duration_since(*acked_at).as_micros().max(1) as u64);
        }
    }

    let (mut human, mut figures, mut code) = report(w, "consume", &p, run).await?;
    let ms = |q: f64| if lag.is_empty() { 0.0 } else { lag.value_at_quantile(q) as f64 / 1000.0 };
    let secs = consumed.elapsed.as_secs_f64().max(1e-9);
    human.push_str(&format!(
        "\nconsumer   {} pages, {} ids in {:.2} s ({:.1} ids/s), page p50 {:.2} ms p99 {:.2} ms{}\
         \nlag        200 → seen in the feed: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms\
         \nfeed check acknowledged={} seen={} lost={} duplicates={}  (seen_unacknowledged={}, other writers' ids={})",
        consumed.pages,
        seen.len(),
        secs,
        seen.len() as f64 / secs,
        consumed.rec.hist.value_at_quantile(0.5) as f64 / 1000.0,
        consumed.rec.hist.value_at_quantile(0.99) as f64 / 1000.0,
        if consumed.drained { "" } else { "; NOT drained: gave up after --drain-timeout" },
        ms(0.5),
        ms(0.99),
        lag.max() as f64 / 1000.0,
        verdict.acknowledged,
        verdict.seen,
        verdict.lost,
        verdict.duplicates,
        verdict.seen_unacknowledged,
        verdict.foreign,
    ));
    let name = |i: &u64| p.generator.message_id(*i);
    if verdict.lost > 0 {
        human
            .push_str(&format!("\nlost, e.g.: {}", verdict.lost_sample.iter().map(name).collect::<Vec<_>>().join(" ")));
    }
    if verdict.duplicates > 0 {
        let sample = verdict.duplicate_sample.iter().map(name).collect::<Vec<_>>().join(" ");
        human.push_str(&format!("\nduplicated, e.g.: {sample}"));
    }
    figures["feed"] = json!({
        "acknowledged": verdict.acknowledged, "seen": verdict.seen, "lost": verdict.lost,
        "duplicates": verdict.duplicates, "seen_unacknowledged": verdict.seen_unacknowledged,
        "foreign": verdict.foreign, "drained": consumed.drained, "pages": consumed.pages,
        "skipped_before_start": skipped,
        "page_latency_ms": consumed.rec.figures(consumed.elapsed)["latency_ms"].clone(),
        "lag_ms": {"p50": ms(0.5), "p99": ms(0.99), "max": lag.max() as f64 / 1000.0},
    });
    if !verdict.ok() || !consumed.drained {
        code = ExitCode::FAILURE;
    }
    emit(w.posting.common.json, &human, &figures);
    Ok(code)
}

/// Long-polls the feed from `cursor` until a page asked for after the writers stopped is empty,
/// or `timeout` after they stopped.
async fn consumer(
    target: Arc<Target>,
    mut conn: Conn,
    mut cursor: String,
    ours: String,
    stopped: Arc<Mutex<Option<Instant>>>,
    timeout: Duration,
) -> Result<Consumed> {
    let start = Instant::now();
    let (mut sightings, mut rec, mut pages) = (Vec::new(), Recorder::default(), 0u64);
    let drained = loop {
        let stopped_before = *stopped.lock().expect("stop lock");
        let page = fetch(&target, &mut conn, &path(Some(&cursor), LIMIT, WAIT_SECS), &mut rec).await?;
        let at = Instant::now();
        pages += 1;
        let empty = page.ids.is_empty();
        sightings.extend(page.ids.iter().map(|id| (ours_index(id, &ours), at)));
        cursor = page.next;
        if let Some(stopped_at) = stopped_before {
            if empty {
                break true;
            }
            if at.saturating_duration_since(stopped_at) > timeout {
                break false;
            }
        }
    };
    Ok(Consumed { sightings, rec, pages, drained, elapsed: start.elapsed() })
}

/// The message index of one of this run's ids (`<prefix>-<n>`), else `None`.
fn ours_index(id: &str, ours: &str) -> Option<u64> {
    id.strip_prefix(ours)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_seen_once_passes() {
        let v = check(&[0, 1, 2], &[Some(2), None, Some(0), Some(1), Some(7)]);
        assert!(v.ok());
        assert_eq!((v.acknowledged, v.seen, v.lost, v.duplicates), (3, 4, 0, 0));
        assert_eq!((v.seen_unacknowledged, v.foreign), (1, 1));
    }

    #[test]
    fn detects_a_missing_and_a_duplicated_id() {
        // 1 acknowledged but never in the feed; 2 delivered twice; 9 unacknowledged (allowed).
        let v = check(&[0, 1, 2, 3], &[Some(0), Some(2), Some(3), Some(2), Some(9)]);
        assert!(!v.ok());
        assert_eq!((v.acknowledged, v.seen, v.lost, v.duplicates, v.seen_unacknowledged), (4, 4, 1, 1, 1));
        assert_eq!((v.lost_sample, v.duplicate_sample), (vec![1], vec![2]));
    }

    #[test]
    fn parses_own_ids_only() {
        assert_eq!(ours_index("lgabc-42", "lgabc-"), Some(42));
        assert_eq!(ours_index("wamid.lgabc-7", "wamid.lgabc-"), Some(7));
        assert_eq!(ours_index("lgabd-42", "lgabc-"), None);
        assert_eq!(ours_index("lgabc-x", "lgabc-"), None);
    }
}
