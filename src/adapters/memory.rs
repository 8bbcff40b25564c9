//! An in-memory repository: the reference implementation for the contract suite and core tests.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use crate::domain::message::Message;
use crate::domain::ports::{Inserted, MessagePage, MessageRepository, RepoError};
use crate::domain::query::{MessageFilter, Page};
use crate::domain::stats::{SenderCount, Stats, rank_senders};
use crate::domain::timestamp::Timestamp;

type Key = (Timestamp, String);

#[derive(Default)]
struct State {
    by_order: BTreeMap<Key, Message>,
    received: HashMap<String, (Timestamp, Timestamp)>,
}

/// Messages kept in a map; clones share the same store.
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

#[async_trait]
impl MessageRepository for InMemoryMessages {
    async fn insert(&self, message: Message, received_at: Timestamp) -> Result<Inserted, RepoError> {
        self.check()?;
        let mut state = self.lock();
        let id = message.message_id.as_str().to_owned();
        if state.received.contains_key(&id) {
            return Ok(Inserted::Duplicate);
        }
        state.received.insert(id.clone(), (message.ts, received_at));
        state.by_order.insert((message.ts, id), message);
        Ok(Inserted::Created)
    }

    async fn list(&self, filter: &MessageFilter, page: Page) -> Result<MessagePage, RepoError> {
        self.check()?;
        let state = self.lock();
        let matching: Vec<&Message> = state.by_order.values().filter(|m| filter.matches(m)).collect();
        let skip = usize::try_from(page.offset).unwrap_or(usize::MAX);
        let rows = matching.iter().skip(skip).take(page.limit as usize).map(|m| (*m).clone()).collect();
        Ok(MessagePage { rows, total: matching.len() as u64 })
    }

    async fn stats(&self) -> Result<Stats, RepoError> {
        self.check()?;
        let state = self.lock();
        let mut per_sender: HashMap<_, u64> = HashMap::new();
        for sender in state.by_order.values().filter_map(Message::sender_key) {
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
