//! Message distributions: `january` (the original: ts spread over January 2025, 1,000 senders
//! at Zipf 1.1) and `realistic` (ts = the wall clock when the message is built, about 1% of them
//! late by 1 minute to 48 hours; 100,000 senders at Zipf 1.0). Also the `since` range `read`
//! draws from under `realistic`: the span `GET /stats` reports.

use anyhow::{Context, Result, anyhow, bail};
use rand::Rng;

use crate::client::{Conn, Target};
use crate::rfc3339;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Dist {
    /// ts uniform over January 2025; 1,000 senders, Zipf 1.1 (the default, as before).
    #[default]
    January,
    /// ts = now at build time, ~1% late by 1 min to 48 h; 100,000 senders, Zipf 1.0.
    Realistic,
}

/// Share of `realistic` messages that arrive late, as a ratio 1 in N.
const LATE_ONE_IN: u32 = 100;
const LATE_MIN_MICROS: i64 = 60 * 1_000_000;
const LATE_MAX_MICROS: i64 = 48 * 3600 * 1_000_000;

impl Dist {
    pub fn default_senders(self) -> usize {
        match self {
            Dist::January => 1000,
            Dist::Realistic => 100_000,
        }
    }

    pub fn default_skew(self) -> f64 {
        match self {
            Dist::January => 1.1,
            Dist::Realistic => 1.0,
        }
    }
}

impl crate::Senders {
    /// `--senders`, or the distribution's default.
    pub fn count(&self) -> usize {
        self.senders.unwrap_or_else(|| self.dist.default_senders())
    }

    /// `--skew`, or the distribution's default.
    pub fn skew(&self) -> f64 {
        self.skew.unwrap_or_else(|| self.dist.default_skew())
    }
}

/// A `realistic` ts: `now`, or (1 in 100) between 1 minute and 48 hours before it.
pub fn realistic_ts(rng: &mut impl Rng, now: i64) -> i64 {
    if rng.random_ratio(1, LATE_ONE_IN) { now - rng.random_range(LATE_MIN_MICROS..=LATE_MAX_MICROS) } else { now }
}

/// `first_message_ts` and `last_message_ts` of `GET /stats`, in microseconds.
pub async fn stats_span(target: &Target, conn: &mut Conn) -> Result<(i64, i64)> {
    let reply = conn.send(target.get("/stats")?).await.context("GET /stats")?;
    if reply.status != 200 {
        bail!("GET /stats: status {}: {}", reply.status, String::from_utf8_lossy(&reply.body));
    }
    let stats: serde_json::Value = serde_json::from_slice(&reply.body).context("GET /stats: not JSON")?;
    let ts = |key: &str| -> Result<i64> {
        let raw = stats[key].as_str().ok_or_else(|| anyhow!("GET /stats: {key} is null (no messages stored?)"))?;
        rfc3339::parse(raw).ok_or_else(|| anyhow!("GET /stats: {key} {raw:?} is not an RFC 3339 instant"))
    };
    let (first, last) = (ts("first_message_ts")?, ts("last_message_ts")?);
    Ok((first.min(last), first.max(last)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    #[test]
    fn about_one_percent_is_late_within_48_hours() {
        let mut rng = SmallRng::seed_from_u64(3);
        let now = rfc3339::now_micros();
        let late: Vec<i64> = (0..100_000).map(|_| realistic_ts(&mut rng, now)).filter(|&t| t != now).collect();
        assert!((700..1300).contains(&late.len()), "{} late of 100000", late.len());
        assert!(late.iter().all(|&t| (now - LATE_MAX_MICROS..=now - LATE_MIN_MICROS).contains(&t)));
    }
}
