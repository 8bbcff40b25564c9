//! Message generation: unique ids with a run prefix, Zipf-skewed senders, varied texts, and
//! the HMAC-SHA256 signature of each body. Message `i` of a run is a pure function of
//! `(seed, i)` (and, under `--dist realistic`, of the clock when it is built), so a pool can be
//! pre-built or messages made on the fly with the same result.

use bytes::Bytes;
use hmac::{Hmac, Mac};
use hyper::header::HeaderValue;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sha2::Sha256;

use crate::dist::{Dist, realistic_ts};
use crate::rfc3339;

/// Words the texts are made of; `read` draws its `q` needles from the same list.
pub const VOCAB: &[&str] = &[
    "hello",
    "order",
    "delivery",
    "invoice",
    "payment",
    "refund",
    "tracking",
    "parcel",
    "address",
    "confirm",
    "cancel",
    "support",
    "ticket",
    "urgent",
    "thanks",
    "please",
    "tomorrow",
    "today",
    "morning",
    "evening",
    "price",
    "discount",
    "coupon",
    "account",
    "password",
    "login",
    "verify",
    "code",
    "balance",
    "transfer",
    "pickup",
    "store",
    "open",
    "closed",
    "weekend",
    "holiday",
    "appointment",
    "doctor",
    "meeting",
    "reminder",
    "photo",
    "video",
    "location",
    "map",
    "hotel",
    "flight",
    "booking",
    "seat",
    "gate",
    "delay",
    "weather",
    "rain",
    "coffee",
    "lunch",
    "dinner",
    "pizza",
    "birthday",
    "party",
    "gift",
    "family",
    "café",
    "naïve",
    "straße",
    "größe",
    "😀",
    "👍",
    "ok",
    "yes",
    "no",
    "maybe",
    "when",
    "where",
    "why",
    "how",
    "status",
];

/// Business numbers the messages are addressed to.
const RECIPIENTS: usize = 10;

/// The sender of rank `rank` (0 = busiest), E.164.
pub fn sender(rank: usize) -> String {
    format!("+1555{:07}", rank + 1)
}

/// The same sender as a query value: `+` must travel as `%2B`.
pub fn sender_query(rank: usize) -> String {
    format!("%2B1555{:07}", rank + 1)
}

/// A discrete Zipf(s) distribution over ranks `0..n`, sampled by inverting its CDF.
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Self {
        let mut acc = 0.0;
        let cdf = (1..=n.max(1))
            .map(|k| {
                acc += 1.0 / (k as f64).powf(s);
                acc
            })
            .collect();
        Self { cdf }
    }

    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        let u = rng.random::<f64>() * self.cdf[self.cdf.len() - 1];
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// One ready-to-send webhook: body, its signature header, and the sender rank for verification.
pub struct Signed {
    pub body: Bytes,
    pub signature: HeaderValue,
    pub sender: u32,
}

/// One message before it is serialised.
pub struct Fields {
    pub message_id: String,
    pub rank: usize,
    pub to: String,
    /// `ts` in microseconds since the Unix epoch: a second of January 2025, or (realistic) the
    /// wall clock when the message was built.
    pub ts: i64,
    pub text: Option<String>,
}

impl Fields {
    /// `ts` as microseconds since the Unix epoch.
    pub fn ts_micros(&self) -> i64 {
        self.ts
    }
}

/// Builds message `i` of a run.
pub struct Generator {
    prefix: String,
    seed: u64,
    zipf: Zipf,
    dist: Dist,
    mac: Hmac<Sha256>,
}

/// Most senders `sender()` can name (7 digits after `+1555`).
const MAX_SENDERS: usize = 9_999_999;

impl Generator {
    pub fn new(prefix: String, secret: &str, senders: usize, skew: f64, dist: Dist, seed: u64) -> Self {
        let mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
        Self { prefix, seed, zipf: Zipf::new(senders.min(MAX_SENDERS), skew), dist, mac }
    }

    /// Hex HMAC-SHA256 of `body` with this generator's secret.
    pub fn sign_hex(&self, body: &[u8]) -> String {
        hex::encode(self.mac.clone().chain_update(body).finalize().into_bytes())
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>-<i>`: unique within the run, and across runs through the prefix.
    pub fn message_id(&self, i: u64) -> String {
        format!("{}-{i}", self.prefix)
    }

    /// The fields of message `i`, unsigned (also what `sqlite-baseline` inserts).
    pub fn fields(&self, i: u64) -> Fields {
        let mut rng = SmallRng::seed_from_u64(self.seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let rank = self.zipf.sample(&mut rng);
        let to = format!("+1415555{:04}", 100 + rng.random_range(0..RECIPIENTS));
        let ts = match self.dist {
            Dist::January => {
                let (day, hour, min, sec) = (
                    rng.random_range(1..=31),
                    rng.random_range(0..24),
                    rng.random_range(0..60),
                    rng.random_range(0..60),
                );
                rfc3339::micros(2025, 1, day, hour, min, sec)
            }
            Dist::Realistic => realistic_ts(&mut rng, rfc3339::now_micros()),
        };
        Fields { message_id: self.message_id(i), rank, to, ts, text: text(&mut rng) }
    }

    pub fn message(&self, i: u64) -> Signed {
        let f = self.fields(i);
        let body = serde_json::json!({
            "message_id": f.message_id,
            "from": sender(f.rank),
            "to": f.to,
            "ts": rfc3339::format(f.ts),
            "text": f.text,
        });
        let body = serde_json::to_vec(&body).expect("a JSON value serialises");
        let signature = HeaderValue::from_str(&self.sign_hex(&body)).expect("hex is a valid header value");
        Signed { body: Bytes::from(body), signature, sender: f.rank as u32 }
    }
}

/// A text: null (5%), empty (2%), a few words (most), or a long one (1%), with varied case.
fn text(rng: &mut impl Rng) -> Option<String> {
    let roll = rng.random_range(0..100);
    let words = match roll {
        0..5 => return None,
        5..7 => return Some(String::new()),
        7..8 => rng.random_range(100..300),
        _ => rng.random_range(1..=16),
    };
    let mut out = String::new();
    for n in 0..words {
        if n > 0 {
            out.push(if rng.random_ratio(1, 12) { ',' } else { ' ' });
            if out.ends_with(',') {
                out.push(' ');
            }
        }
        let word = VOCAB[rng.random_range(0..VOCAB.len())];
        match rng.random_range(0..10) {
            0 => out.push_str(&word.to_uppercase()),
            1 | 2 => capitalise(&mut out, word),
            _ => out.push_str(word),
        }
    }
    if rng.random_ratio(1, 3) {
        out.push(['.', '!', '?'][rng.random_range(0..3)]);
    }
    Some(out)
}

fn capitalise(out: &mut String, word: &str) {
    let mut chars = word.chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.push_str(chars.as_str());
    }
}

/// A run prefix from the clock and a random tag, so reruns against one database never collide.
/// What a writing mode starts from: the target, this run's id prefix and a generator that signs
/// with the secret.
pub async fn signed_run(
    posting: &crate::Posting,
) -> anyhow::Result<(std::sync::Arc<crate::client::Target>, String, Generator)> {
    let secret =
        posting.secret.as_deref().ok_or_else(|| anyhow::anyhow!("--secret (or WEBHOOK_SECRET) is required"))?;
    signed_run_with(posting, secret, "").await
}

/// Like [`signed_run`], signing with `secret` and with `id_prefix` before the run prefix of
/// every message id (the Cloud API's `wamid.`).
pub async fn signed_run_with(
    posting: &crate::Posting,
    secret: &str,
    id_prefix: &str,
) -> anyhow::Result<(std::sync::Arc<crate::client::Target>, String, Generator)> {
    let (c, senders) = (&posting.common, &posting.senders);
    let target = crate::client::Target::resolve(&c.target, c.token.as_deref()).await?;
    let prefix = format!("{id_prefix}{}", run_prefix());
    let seed = c.seed.unwrap_or_else(rand::random);
    let generator = Generator::new(prefix.clone(), secret, senders.count(), senders.skew(), senders.dist, seed);
    Ok((target, prefix, generator))
}

pub fn run_prefix() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    format!("lg{secs:x}{:04x}", rand::random::<u16>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_deterministic_and_signed() {
        let g = Generator::new("p".into(), "s3cret", 1000, 1.1, Dist::January, 7);
        let (a, b) = (g.message(42), g.message(42));
        assert_eq!(a.body, b.body);
        let expected = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap().chain_update(&a.body).finalize();
        assert_eq!(a.signature.to_str().unwrap(), hex::encode(expected.into_bytes()));
        let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["message_id"], "p-42");
        assert_eq!(v["from"], sender(a.sender as usize));
        let ts = rfc3339::parse(v["ts"].as_str().unwrap()).unwrap();
        assert!((rfc3339::micros(2025, 1, 1, 0, 0, 0)..rfc3339::micros(2025, 2, 1, 0, 0, 0)).contains(&ts));
    }

    #[test]
    fn realistic_messages_are_stamped_now() {
        let g = Generator::new("p".into(), "s", 100_000, 1.0, Dist::Realistic, 7);
        let before = rfc3339::now_micros();
        let ts: Vec<i64> = (0..2000).map(|i| g.fields(i).ts).collect();
        let after = rfc3339::now_micros();
        let on_time = ts.iter().filter(|&&t| (before..=after).contains(&t)).count();
        assert!(on_time > 1900, "{on_time} of 2000 on time");
        assert!(ts.iter().all(|&t| t <= after && t >= before - 48 * 3_600_000_000));
    }

    #[test]
    fn zipf_is_skewed() {
        let z = Zipf::new(1000, 1.1);
        let mut rng = SmallRng::seed_from_u64(1);
        let top = (0..10_000).filter(|_| z.sample(&mut rng) == 0).count();
        assert!(top > 1000, "rank 0 drew {top} of 10000");
    }
}
