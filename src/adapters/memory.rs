//! An in-memory repository: the reference implementation for the contract suite and core tests.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use crate::domain::cursor::{FeedCursor, ListCursor};
use crate::domain::delivery::{Delivery, DeliveryStatus, Stored};
use crate::domain::message::{Message, MessageId};
use crate::domain::ports::{
    FeedPage, Inserted, MessagePage, MessageRepository, RepoError, StatusPage, StoredMessage, StoredStatus,
};
use crate::domain::query::{MessageFilter, Page};
use crate::domain::stats::{SenderCount, Stats, rank_senders};
use crate::domain::status_query::StatusFilter;
use crate::domain::timestamp::Timestamp;

type Key = (Timestamp, String);
type StatusKey = (Timestamp, String, String);

#[derive(Default)]
struct State {
    by_order: BTreeMap<Key, StoredMessage>,
    received: HashMap<String, (Timestamp, Timestamp)>,
    statuses: BTreeMap<StatusKey, StoredStatus>,
    /// Message ids in the order they were stored: the feed.
    log: Vec<(Timestamp, String)>,
    status_keys: HashMap<(String, String), Timestamp>,
}

impl State {
    fn insert_message(&mut self, message: Message, received_at: Timestamp) -> Inserted {
        let id = message.message_id.as_str().to_owned();
        if self.received.contains_key(&id) {
            return Inserted::Duplicate;
        }
        self.received.insert(id.clone(), (message.ts, received_at));
        self.log.push((message.ts, id.clone()));
        self.by_order.insert((message.ts, id), StoredMessage { message, received_at });
        Inserted::Created
    }

    fn insert_status(&mut self, status: DeliveryStatus, received_at: Timestamp) -> Inserted {
        let key = (status.message_id.as_str().to_owned(), status.status.as_str().to_owned());
        if self.status_keys.contains_key(&key) {
            return Inserted::Duplicate;
        }
        self.status_keys.insert(key.clone(), status.ts);
        self.statuses.insert((status.ts, key.0, key.1), StoredStatus { status, received_at });
        Inserted::Created
    }
}

/// Messages and statuses kept in maps; clones share the same store.
#[derive(Clone, Default)]
pub struct InMemoryMessages {
    state: Arc<Mutex<State>>,
    failing: Arc<AtomicBool>,
}

impl InMemoryMessages {
    /// Makes every call fail as if storage were down, to test error paths.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// How many messages are stored.
    pub fn len(&self) -> usize {
        self.lock().received.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When the message with this id was stored.
    pub fn received_at(&self, message_id: &str) -> Option<Timestamp> {
        self.lock().received.get(message_id).map(|&(_, at)| at)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps inconsistent: each write is one insert.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn check(&self) -> Result<(), RepoError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(RepoError::Unavailable("in-memory store set to fail".into()))
        } else {
            Ok(())
        }
    }
}

impl InMemoryMessages {
    /// Stores each delivery of a group in order, all under one lock: a group is one transaction.
    ///
    /// # Errors
    /// The store is set to fail; nothing is stored.
    pub fn store_all(&self, batch: Vec<(Delivery, Timestamp)>) -> Result<Vec<Stored>, RepoError> {
        self.check()?;
        let mut state = self.lock();
        let stored = batch
            .into_iter()
            .map(|(delivery, at)| Stored {
                messages: delivery.messages.into_iter().map(|m| state.insert_message(m, at)).collect(),
                statuses: delivery.statuses.into_iter().map(|s| state.insert_status(s, at)).collect(),
            })
            .collect();
        Ok(stored)
    }
}

/// The page `page` of the rows that pass `keep`, and how many do.
fn page_of<T: Clone>(rows: impl Iterator<Item = T>, keep: impl Fn(&T) -> bool, page: Page) -> (Vec<T>, u64) {
    let matching: Vec<T> = rows.filter(|r| keep(r)).collect();
    let skip = usize::try_from(page.offset).unwrap_or(usize::MAX);
    let total = matching.len() as u64;
    (matching.into_iter().skip(skip).take(page.limit as usize).collect(), total)
}

#[async_trait]
impl MessageRepository for InMemoryMessages {
    async fn store(&self, delivery: Delivery, received_at: Timestamp) -> Result<Stored, RepoError> {
        let mut stored = self.store_all(vec![(delivery, received_at)])?;
        Ok(stored.pop().unwrap_or_default())
    }

    async fn list(&self, filter: &MessageFilter, page: Page) -> Result<MessagePage, RepoError> {
        self.check()?;
        let state = self.lock();
        let total = state.by_order.values().filter(|m| filter.matches(m)).count() as u64;
        let after = |m: &StoredMessage| {
            filter.after.as_ref().is_none_or(|c| (m.ts, m.message_id.as_str()) > (c.ts, c.message_id.as_str()))
        };
        let bigger = Page { limit: page.limit + 1, ..page };
        let (mut rows, _) = page_of(state.by_order.values().cloned(), |m| filter.matches(m) && after(m), bigger);
        let more = rows.len() > page.limit as usize;
        rows.truncate(page.limit as usize);
        let next =
            if more { rows.last().map(|m| ListCursor { ts: m.ts, message_id: m.message_id.clone() }) } else { None };
        Ok(MessagePage { rows, total, next })
    }

    async fn delete(&self, message_id: &MessageId) -> Result<bool, RepoError> {
        self.check()?;
        let mut state = self.lock();
        let Some((ts, _)) = state.received.remove(message_id.as_str()) else { return Ok(false) };
        state.by_order.remove(&(ts, message_id.as_str().to_owned()));
        Ok(true)
    }

    async fn purge(&self, cutoff: Timestamp, batch: u32) -> Result<u64, RepoError> {
        self.check()?;
        let mut state = self.lock();
        let mut old: Vec<(Timestamp, String)> = state
            .by_order
            .values()
            .filter(|m| m.received_at < cutoff)
            .map(|m| (m.received_at, m.message_id.as_str().to_owned()))
            .collect();
        old.sort();
        old.truncate(batch as usize);
        for (_, id) in &old {
            if let Some((ts, _)) = state.received.remove(id) {
                state.by_order.remove(&(ts, id.clone()));
            }
        }
        let mut old_statuses: Vec<(Timestamp, StatusKey)> = state
            .statuses
            .iter()
            .filter(|(_, s)| s.received_at < cutoff)
            .map(|(k, s)| (s.received_at, k.clone()))
            .collect();
        old_statuses.sort();
        old_statuses.truncate(batch as usize);
        for (_, key) in &old_statuses {
            state.statuses.remove(key);
            state.status_keys.remove(&(key.1.clone(), key.2.clone()));
        }
        Ok((old.len() + old_statuses.len()) as u64)
    }

    async fn feed(&self, after: FeedCursor, limit: u32) -> Result<FeedPage, RepoError> {
        self.check()?;
        let state = self.lock();
        let start = usize::try_from(after.major).unwrap_or(usize::MAX);
        let mut rows = Vec::new();
        let mut cursors = Vec::new();
        let mut next = after;
        // A deleted message leaves its place in the log; the cursor passes over it.
        for (i, key) in state.log.iter().enumerate().skip(start) {
            if rows.len() == limit as usize {
                break;
            }
            if let Some(row) = state.by_order.get(key) {
                rows.push(row.clone());
                next = FeedCursor { major: i as i64 + 1, minor: 0 };
                cursors.push(next);
            }
        }
        Ok(FeedPage { rows, cursors, next })
    }

    async fn get(&self, message_id: &MessageId) -> Result<Option<StoredMessage>, RepoError> {
        self.check()?;
        let state = self.lock();
        let key = state.received.get(message_id.as_str()).map(|&(ts, _)| (ts, message_id.as_str().to_owned()));
        Ok(key.and_then(|k| state.by_order.get(&k).cloned()))
    }

    async fn statuses(&self, filter: &StatusFilter, page: Page) -> Result<StatusPage, RepoError> {
        self.check()?;
        let state = self.lock();
        let (rows, total) = page_of(state.statuses.values().cloned(), |s| filter.matches(&s.status), page);
        Ok(StatusPage { rows, total })
    }

    async fn stats(&self) -> Result<Stats, RepoError> {
        self.check()?;
        let state = self.lock();
        let mut per_sender: HashMap<_, u64> = HashMap::new();
        for sender in state.by_order.values().filter_map(|m| m.sender_key()) {
            *per_sender.entry(sender.to_owned()).or_default() += 1;
        }
        let senders_count = per_sender.len() as u64;
        let all = per_sender.into_iter().map(|(from, count)| SenderCount { from, count }).collect();
        Ok(Stats {
            total_messages: state.by_order.len() as u64,
            senders_count,
            top_senders: rank_senders(all),
            first_message_ts: state.by_order.keys().next().map(|k| k.0),
            last_message_ts: state.by_order.keys().next_back().map(|k| k.0),
        })
    }

    async fn ready(&self) -> Result<(), RepoError> {
        self.check()
    }
}
