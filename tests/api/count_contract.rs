//! The repository contract for totals, run against every backend by `repository_contract`: the
//! counts a store keeps beside its rows (per sender, per second, minute, hour and day of `ts`,
//! distinct senders) and the totals of searches it remembers must always equal a count of the
//! rows, whatever was inserted, redelivered, erased or purged.

use std::collections::BTreeMap;
use std::sync::Arc;

use webhook_ingest::domain::delivery::Delivery;
use webhook_ingest::domain::message::{Message, MessageId, MessageText, Msisdn};
use webhook_ingest::domain::ports::MessageRepository;
use webhook_ingest::domain::query::{Page, RawListQuery};
use webhook_ingest::domain::stats::{SenderCount, rank_senders};
use webhook_ingest::domain::timestamp::Timestamp;

/// A small deterministic generator, so a failure replays.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// Instants on both sides of a day, an hour, a minute and a second boundary, before and after 1970.
const BOUNDARIES: [i64; 4] = [-86_400_000_000, 0, 1_736_899_200_000_000, 1_736_902_800_000_000];
/// A sender with more messages than a store counts row by row.
const BUSY: &str = "+19990000000";

fn instant(rng: &mut Lcg) -> i64 {
    let base = BOUNDARIES[rng.below(4) as usize];
    let scale = [1, 1_000, 1_000_000, 60_000_000, 3_600_000_000][rng.below(5) as usize];
    let offset = i64::try_from(rng.below(200)).unwrap() - 100;
    base + offset * scale
}

fn message(id: String, from: &str, ts: i64) -> Message {
    Message::flat(
        MessageId::parse(&id).unwrap(),
        Msisdn::parse(from).unwrap(),
        Msisdn::parse("+15550002").unwrap(),
        Timestamp::from_micros(ts).unwrap(),
        Some(MessageText::parse(&id).unwrap()),
    )
}

/// What the store should hold: each id's first version, with the round it was received in.
#[derive(Default)]
struct Reference(BTreeMap<String, (Message, i64)>);

impl Reference {
    fn count(&self, from: Option<&str>, since: Option<i64>, q: Option<&str>) -> u64 {
        let keeps = |m: &Message| {
            let text = m.text.as_ref().map(|t| t.as_str().to_lowercase()).unwrap_or_default();
            from.is_none_or(|f| m.sender_key() == Some(f))
                && since.is_none_or(|s| m.ts.as_micros() >= s)
                && q.is_none_or(|q| text.contains(&q.to_lowercase()))
        };
        self.0.values().filter(|(m, _)| keeps(m)).count() as u64
    }
}

async fn total(repo: &dyn MessageRepository, from: Option<&str>, since: Option<i64>, q: Option<&str>) -> u64 {
    let raw = RawListQuery {
        from: from.map(str::to_owned),
        q: q.map(str::to_owned),
        since: since.map(|s| Timestamp::from_micros(s).unwrap().to_rfc3339()),
        ..RawListQuery::default()
    };
    repo.list(&raw.parse().unwrap().filter, Page { limit: 1, offset: 0 }).await.unwrap().total
}

/// The same searches every round: a store that remembers their totals must bring them up to date
/// across the inserts, erasures and purges in between.
async fn searches(repo: &dyn MessageRepository, reference: &Reference, senders: &[&str]) {
    for q in ["M-1", "busy-2", "-", "m-29"] {
        for from in [None, Some(senders[0]), Some(BUSY)] {
            for since in [None, Some(BOUNDARIES[2]), Some(BOUNDARIES[1] - 59_000_000), Some(BOUNDARIES[3] + 1)] {
                assert_eq!(
                    total(repo, from, since, Some(q)).await,
                    reference.count(from, since, Some(q)),
                    "q {q:?} from {from:?} since {since:?}"
                );
            }
        }
    }
}

/// Offset pages of searches, shallow and deep, alone and beside the busy sender, must hold the
/// rows a sort of the reference puts there: a store that starts a deep page from what it knows of
/// where the matches fall, or tests a sender's rows against the index's matches, must land on the
/// same row as one that passes over every match.
async fn pages(repo: &dyn MessageRepository, reference: &Reference, rng: &mut Lcg) {
    for (q, from) in [("-", None), ("busy-2", None), ("m-1", None), ("busy-24", Some(BUSY)), ("busy-2", Some(BUSY))] {
        for since in [None, Some(BOUNDARIES[2]), Some(instant(rng))] {
            let mut expected: Vec<(i64, String)> = reference
                .0
                .values()
                .filter(|(m, _)| from.is_none_or(|f| m.sender_key() == Some(f)))
                .filter(|(m, _)| since.is_none_or(|s| m.ts.as_micros() >= s))
                .filter(|(m, _)| m.message_id.as_str().to_lowercase().contains(q))
                .map(|(m, _)| (m.ts.as_micros(), m.message_id.as_str().to_owned()))
                .collect();
            expected.sort();
            let n = expected.len() as u64;
            let mut offsets = vec![0, 1, 63, 64, 65, 200, n / 2, n.saturating_sub(3), n, n + 5];
            offsets.extend((0..4).map(|_| rng.below(n + 1)));
            for offset in offsets {
                let raw = RawListQuery {
                    q: Some(q.to_owned()),
                    from: from.map(str::to_owned),
                    since: since.map(|s| Timestamp::from_micros(s).unwrap().to_rfc3339()),
                    ..RawListQuery::default()
                };
                let page = repo.list(&raw.parse().unwrap().filter, Page { limit: 7, offset }).await.unwrap();
                let got: Vec<(i64, String)> = page
                    .rows
                    .iter()
                    .map(|r| (r.message.ts.as_micros(), r.message.message_id.as_str().to_owned()))
                    .collect();
                let want: Vec<(i64, String)> = expected.iter().skip(offset as usize).take(7).cloned().collect();
                assert_eq!(got, want, "q {q:?} from {from:?} since {since:?} offset {offset}");
                assert_eq!(page.total, n, "q {q:?} from {from:?} since {since:?}");
                assert_eq!(
                    page.next.is_some(),
                    offset + 7 < n,
                    "q {q:?} from {from:?} since {since:?} offset {offset}"
                );
            }
        }
    }
}

async fn check(repo: &dyn MessageRepository, reference: &Reference, rng: &mut Lcg, senders: &[&str]) {
    let mut sinces: Vec<i64> = BOUNDARIES
        .iter()
        .flat_map(|b| {
            [-3_600_000_000, -60_000_000, -1_000_000, -1, 0, 1, 999_999, 1_000_000, 60_000_001].map(|d| b + d)
        })
        .collect();
    sinces.extend((0..8).map(|_| instant(rng)));
    for since in sinces.into_iter().map(Some).chain([None]) {
        for from in senders.iter().copied().map(Some).chain([None]) {
            assert_eq!(
                total(repo, from, since, None).await,
                reference.count(from, since, None),
                "from {from:?} since {since:?}"
            );
        }
    }
    searches(repo, reference, senders).await;
    pages(repo, reference, rng).await;
    let stats = repo.stats().await.unwrap();
    let mut per_sender = BTreeMap::<String, u64>::new();
    for (m, _) in reference.0.values() {
        *per_sender.entry(m.sender_key().unwrap().to_owned()).or_default() += 1;
    }
    assert_eq!(stats.total_messages, reference.0.len() as u64);
    assert_eq!(stats.senders_count, per_sender.len() as u64);
    let ranked = rank_senders(per_sender.into_iter().map(|(from, count)| SenderCount { from, count }).collect());
    assert_eq!(stats.top_senders, ranked);
}

pub async fn maintained_counts_equal_a_count_of_the_rows(repo: Arc<dyn MessageRepository>) {
    let mut rng = Lcg(7);
    let senders = ["+15550001", "+15550002", "+15550003", "+15550004", BUSY, "+15559999"];
    let mut reference = Reference::default();
    let received = |round: i64| Timestamp::from_micros(round * 1_000_000).unwrap();
    // More messages from one sender than are counted row by row, on both sides of every boundary;
    // received as of round 12, so the purges of rounds 6 and 12 keep them and round 18's takes them.
    let busy: Vec<Message> = (0..2_500).map(|i| message(format!("busy-{i}"), BUSY, instant(&mut rng))).collect();
    for m in &busy {
        reference.0.insert(m.message_id.as_str().to_owned(), (m.clone(), 12));
    }
    repo.store(Delivery { messages: busy, ..Delivery::default() }, received(12)).await.unwrap();
    for round in 1..=24 {
        // Ids repeat within and across deliveries: the first stored version wins.
        let messages: Vec<Message> = (0..1 + rng.below(40))
            .map(|_| {
                // Not the busy sender, whose last message then goes with round 18's purge.
                let from = senders[rng.below(4) as usize];
                message(format!("m-{}", rng.below(300)), from, instant(&mut rng))
            })
            .collect();
        for m in &messages {
            reference.0.entry(m.message_id.as_str().to_owned()).or_insert_with(|| (m.clone(), round));
        }
        repo.store(Delivery { messages, ..Delivery::default() }, received(round)).await.unwrap();
        searches(repo.as_ref(), &reference, &senders).await;
        if round % 6 == 0 {
            for _ in 0..5 {
                let id = format!("m-{}", rng.below(300));
                let gone = repo.delete(&MessageId::parse(&id).unwrap()).await.unwrap();
                assert_eq!(gone, reference.0.remove(&id).is_some(), "{id}");
            }
            // Retention takes what was received before a cutoff.
            let cutoff = round - 4;
            while repo.purge(received(cutoff), 300).await.unwrap() > 0 {}
            reference.0.retain(|_, (_, at)| *at >= cutoff);
            check(repo.as_ref(), &reference, &mut rng, &senders).await;
        }
    }
    check(repo.as_ref(), &reference, &mut rng, &senders).await;
}
