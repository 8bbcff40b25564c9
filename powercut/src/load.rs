//! Write load for one round: concurrent writers of flat messages, Cloud API envelopes (several
//! messages, or delivery statuses, each with unique ids) and redeliveries, a `/feed` consumer,
//! and a record of every id answered 200.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::{Client, Scheme, encode};
use crate::rng::Rng;

/// Words texts are made of; `kwNNq` tokens give `q` searches a few percent of the rows each.
const WORDS: &[&str] = &["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "Été"];
/// Distinct `kwNNq` tokens.
pub const TOKENS: u64 = 40;

/// A search token.
pub fn token(n: u64) -> String {
    format!("kw{n:02}q")
}

/// Cloud API envelopes from `examples/whatsapp/`, split by what they carry.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    messages: Vec<Value>,
    statuses: Vec<Value>,
}

impl Templates {
    /// Reads every `*.json` envelope in `dir`.
    ///
    /// # Errors
    /// The directory or a file cannot be read, or holds no message envelope.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let mut t = Self::default();
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            let value = &v["entry"][0]["changes"][0]["value"];
            if value["messages"].is_array() {
                t.messages.push(v);
            } else if value["statuses"].is_array() {
                t.statuses.push(v);
            }
        }
        if t.messages.is_empty() {
            return Err(format!("{}: no Cloud API message envelope", dir.display()));
        }
        Ok(t)
    }
}

/// One request a writer sends, and what a 200 for it acknowledges.
#[derive(Debug, Clone)]
struct Delivery {
    body: String,
    scheme: Scheme,
    messages: Vec<String>,
    statuses: Vec<(String, String)>,
}

/// What one round's writers saw.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Message ids answered 200, with when.
    pub messages: Vec<(String, Instant)>,
    /// (message id, status) pairs answered 200, with when.
    pub statuses: Vec<((String, String), Instant)>,
    /// Requests sent.
    pub posted: u64,
    /// Redeliveries of a recent body among them.
    pub redelivered: u64,
    /// Answers other than 200, by status or error.
    pub refused: std::collections::BTreeMap<String, u64>,
    /// Message ids the feed showed, with when.
    pub fed: Vec<(String, Instant)>,
}

impl Outcome {
    /// Adds another's counts and acknowledgements.
    pub fn merge(&mut self, other: Self) {
        self.messages.extend(other.messages);
        self.statuses.extend(other.statuses);
        self.posted += other.posted;
        self.redelivered += other.redelivered;
        for (k, v) in other.refused {
            *self.refused.entry(k).or_default() += v;
        }
        self.fed.extend(other.fed);
    }
}

struct Generator {
    rng: Rng,
    prefix: String,
    seq: u64,
    templates: Arc<Templates>,
}

impl Generator {
    fn text(&mut self) -> String {
        let n = if self.rng.chance(10) { self.rng.between(40, 300) } else { self.rng.between(2, 8) };
        let mut words: Vec<String> = (0..n)
            .map(|_| WORDS[usize::try_from(self.rng.below(WORDS.len() as u64)).unwrap_or(0)].to_owned())
            .collect();
        let at = usize::try_from(self.rng.below(n + 1)).unwrap_or(0);
        words.insert(at, token(self.rng.below(TOKENS)));
        words.join(" ")
    }

    fn id(&mut self, kind: &str) -> String {
        self.seq += 1;
        format!("{kind}{}-{}", self.prefix, self.seq)
    }

    fn flat(&mut self) -> Delivery {
        let id = self.id("pc");
        let ts = format!(
            "2025-01-{:02}T{:02}:{:02}:{:02}Z",
            self.rng.between(1, 28),
            self.rng.below(24),
            self.rng.below(60),
            self.rng.below(60)
        );
        let body = json!({
            "message_id": id,
            "from": format!("+1555{:07}", self.rng.below(50)),
            "to": "+15550002",
            "ts": ts,
            "text": self.text(),
        });
        Delivery { body: body.to_string(), scheme: Scheme::Flat, messages: vec![id], statuses: Vec::new() }
    }

    fn envelope(&mut self) -> Delivery {
        let pick = |rng: &mut Rng, n: usize| usize::try_from(rng.below(n as u64)).unwrap_or(0);
        let statuses = !self.templates.statuses.is_empty() && self.rng.chance(30);
        let templates = if statuses { &self.templates.statuses } else { &self.templates.messages };
        let mut envelope = templates[pick(&mut self.rng, templates.len())].clone();
        let key = if statuses { "statuses" } else { "messages" };
        let base = envelope["entry"][0]["changes"][0]["value"][key][0].clone();
        let count = if statuses { self.rng.between(1, 5) } else { self.rng.between(1, 12) };
        let mut items = Vec::new();
        let mut delivery =
            Delivery { body: String::new(), scheme: Scheme::Hub, messages: Vec::new(), statuses: Vec::new() };
        for _ in 0..count {
            let mut item = base.clone();
            let id = format!("wamid.{}", self.id("pc"));
            item["id"] = json!(id);
            if statuses {
                let status = item["status"].as_str().unwrap_or("delivered").to_owned();
                delivery.statuses.push((id, status));
            } else {
                match item["type"].as_str() {
                    Some("text") => item["text"]["body"] = json!(self.text()),
                    Some("image") => item["image"]["caption"] = json!(self.text()),
                    _ => {}
                }
                delivery.messages.push(id);
            }
            items.push(item);
        }
        envelope["entry"][0]["changes"][0]["value"][key] = Value::Array(items);
        delivery.body = envelope.to_string();
        delivery
    }

    fn next(&mut self) -> Delivery {
        if self.rng.chance(20) { self.envelope() } else { self.flat() }
    }
}

/// The shared switches of a round's load.
#[derive(Default)]
pub struct Switches {
    /// Writers stop.
    pub stop: AtomicBool,
    /// Writers wait (to let the log be checkpointed whole, or before a burst).
    pub pause: AtomicBool,
    /// Requests in flight.
    pub in_flight: AtomicU64,
}

/// A round's running load.
pub struct Load {
    /// Its switches.
    pub switches: Arc<Switches>,
    threads: Vec<JoinHandle<Outcome>>,
    addr: String,
    secret: String,
    prefix: String,
    templates: Arc<Templates>,
    rng: Rng,
}

fn post(client: &Client, d: &Delivery, switches: &Switches, out: &mut Outcome) {
    switches.in_flight.fetch_add(1, Ordering::SeqCst);
    let answer = client.post(&d.body, d.scheme);
    let at = Instant::now();
    switches.in_flight.fetch_sub(1, Ordering::SeqCst);
    out.posted += 1;
    match answer {
        Ok((200, _)) => {
            out.messages.extend(d.messages.iter().map(|id| (id.clone(), at)));
            out.statuses.extend(d.statuses.iter().map(|s| (s.clone(), at)));
        }
        Ok((status, _)) => *out.refused.entry(status.to_string()).or_default() += 1,
        Err(_) => {
            *out.refused.entry("no answer".into()).or_default() += 1;
            // The service is gone (cut, or restarting): no busy loop meanwhile.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Load {
    /// Starts `writers` writers and a feed consumer against the service at `addr`, for at most
    /// `limit`. Ids start with `prefix`.
    pub fn start(
        addr: &str,
        secret: &str,
        prefix: &str,
        writers: usize,
        templates: Arc<Templates>,
        mut rng: Rng,
        limit: Duration,
    ) -> Self {
        let switches = Arc::new(Switches::default());
        let deadline = Instant::now() + limit;
        let recent: Arc<Mutex<VecDeque<Delivery>>> = Arc::default();
        let mut threads = Vec::new();
        for w in 0..writers {
            let (switches, recent, templates) = (switches.clone(), recent.clone(), templates.clone());
            let client = Client::new(addr, secret, Duration::from_secs(15));
            let mut generator = Generator { rng: rng.fork(), prefix: format!("{prefix}-w{w}"), seq: 0, templates };
            threads.push(std::thread::spawn(move || {
                let mut out = Outcome::default();
                while !switches.stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    if switches.pause.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    }
                    // A redelivery of a body another writer may still be waiting on.
                    let again = if generator.rng.chance(4) {
                        let r = recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        let n = r.len() as u64;
                        (n > 0).then(|| r[usize::try_from(generator.rng.below(n)).unwrap_or(0)].clone())
                    } else {
                        None
                    };
                    let delivery = match again {
                        Some(d) => {
                            out.redelivered += 1;
                            d
                        }
                        None => {
                            let d = generator.next();
                            let mut r = recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            r.push_back(d.clone());
                            if r.len() > 64 {
                                r.pop_front();
                            }
                            d
                        }
                    };
                    post(&client, &delivery, &switches, &mut out);
                    if out.refused.contains_key("no answer") && switches.stop.load(Ordering::SeqCst) {
                        break;
                    }
                }
                out
            }));
        }
        threads.push(feed_consumer(addr, secret, switches.clone(), deadline));
        Self {
            switches,
            threads,
            addr: addr.to_owned(),
            secret: secret.to_owned(),
            prefix: prefix.to_owned(),
            templates,
            rng,
        }
    }

    /// Pauses the writers and waits (bounded) until nothing is in flight.
    pub fn quiesce(&self, timeout: Duration) {
        self.switches.pause.store(true, Ordering::SeqCst);
        let started = Instant::now();
        while self.switches.in_flight.load(Ordering::SeqCst) > 0 && started.elapsed() < timeout {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Resumes paused writers.
    pub fn resume(&self) {
        self.switches.pause.store(false, Ordering::SeqCst);
    }

    /// Sends `n` flat messages from `parallel` threads at once and returns when every one has
    /// been answered, with what was acknowledged; no request starts after `timeout`, nor waits
    /// longer than it.
    pub fn burst(&mut self, n: usize, parallel: usize, timeout: Duration) -> Outcome {
        let deadline = Instant::now() + timeout;
        let mut handles = Vec::new();
        for t in 0..parallel {
            let client = Client::new(&self.addr, &self.secret, timeout);
            let mut generator = Generator {
                rng: self.rng.fork(),
                prefix: format!("{}-b{t}", self.prefix),
                seq: 0,
                templates: self.templates.clone(),
            };
            let switches = self.switches.clone();
            let share = n / parallel + usize::from(t < n % parallel);
            handles.push(std::thread::spawn(move || {
                let mut out = Outcome::default();
                for _ in 0..share {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let d = generator.flat();
                    post(&client, &d, &switches, &mut out);
                }
                out
            }));
        }
        let mut all = Outcome::default();
        for h in handles {
            if let Ok(out) = h.join() {
                all.merge(out);
            }
        }
        all
    }

    /// Stops every thread (bounded by their request timeouts) and returns what they saw.
    pub fn finish(self) -> Outcome {
        self.switches.stop.store(true, Ordering::SeqCst);
        let mut all = Outcome::default();
        for t in self.threads {
            if let Ok(out) = t.join() {
                all.merge(out);
            }
        }
        all
    }
}

/// Follows `/feed` with long polling, recording every id it shows.
fn feed_consumer(addr: &str, secret: &str, switches: Arc<Switches>, deadline: Instant) -> JoinHandle<Outcome> {
    let client = Client::new(addr, secret, Duration::from_secs(5));
    std::thread::spawn(move || {
        let mut out = Outcome::default();
        let mut cursor = String::new();
        while !switches.stop.load(Ordering::SeqCst) && Instant::now() < deadline {
            let after = if cursor.is_empty() { String::new() } else { format!("&after={}", encode(&cursor)) };
            match client.get_json(&format!("/feed?limit=1000&wait=1{after}")) {
                Ok(page) => {
                    let at = Instant::now();
                    if let Some(rows) = page["data"].as_array() {
                        out.fed
                            .extend(rows.iter().filter_map(|r| r["message_id"].as_str()).map(|id| (id.to_owned(), at)));
                    }
                    if let Some(next) = page["next_cursor"].as_str() {
                        cursor = next.to_owned();
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        out
    })
}
