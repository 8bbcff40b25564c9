//! The ports: what the core needs from the outside world, as traits.

use async_trait::async_trait;
use thiserror::Error;

use super::cursor::{FeedCursor, ListCursor};
use super::delivery::{Delivery, DeliveryStatus, Stored};
use super::message::{Message, MessageId};
use super::query::{MessageFilter, Page};
use super::signature::{PresentedSignatures, SignatureError};
use super::stats::Stats;
use super::status_query::StatusFilter;
use super::timestamp::Timestamp;

/// Whether an insert wrote a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The message was new and is now committed.
    Created,
    /// A message with this id was already stored; nothing was written (first write wins).
    Duplicate,
}

/// A stored message and when this service received it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    /// The message.
    pub message: Message,
    /// When the request that delivered it first arrived.
    pub received_at: Timestamp,
}

/// A stored message equals a message when it holds that message, whenever it arrived.
impl PartialEq<Message> for StoredMessage {
    fn eq(&self, other: &Message) -> bool {
        self.message == *other
    }
}

impl std::ops::Deref for StoredMessage {
    type Target = Message;
    fn deref(&self) -> &Message {
        &self.message
    }
}

/// One page of matches and the number of all matches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessagePage {
    /// The rows of this page, ordered by `ts`, then `message_id`.
    pub rows: Vec<StoredMessage>,
    /// How many messages match, ignoring pagination.
    pub total: u64,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<ListCursor>,
}

/// A page of the feed: messages in commit order, and where to continue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedPage {
    /// In the order they were committed.
    pub rows: Vec<StoredMessage>,
    /// For each row, the cursor just after it (so a stream can resume after any one of them).
    pub cursors: Vec<FeedCursor>,
    /// After the last of them; the cursor passed in when there are none.
    pub next: FeedCursor,
}

/// A stored delivery status and when this service received it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredStatus {
    /// The status.
    pub status: DeliveryStatus,
    /// When the request that delivered it first arrived.
    pub received_at: Timestamp,
}

/// One page of matching statuses and the number of all matches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusPage {
    /// Ordered by `ts`, then message id, then status.
    pub rows: Vec<StoredStatus>,
    /// How many statuses match, ignoring pagination.
    pub total: u64,
}

/// Storage could not do what was asked. The message is not stored; the sender should retry.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RepoError {
    /// The database did not answer or failed; the text is for logs, never for clients.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The storage is full: nothing more can be written until space is freed.
    #[error("storage full: {0}")]
    Full(String),
    /// The write queue is full; try again shortly.
    #[error("storage overloaded")]
    Overloaded,
    /// The schema has not been applied.
    #[error("schema not applied: {0}")]
    SchemaMissing(String),
}

/// Where messages are kept.
#[async_trait]
pub trait MessageRepository: Send + Sync + 'static {
    /// Stores every update of `delivery` in one transaction: each message unless one with its id
    /// exists, each status unless one with its (message id, status) exists. A duplicate is an
    /// outcome, not an error. `Ok` means committed durably.
    ///
    /// # Errors
    /// Storage could not answer; nothing of the delivery was stored.
    async fn store(&self, delivery: Delivery, received_at: Timestamp) -> Result<Stored, RepoError>;

    /// Stores one message: a delivery of one.
    ///
    /// # Errors
    /// Storage could not answer; nothing was acknowledged.
    async fn insert(&self, message: Message, received_at: Timestamp) -> Result<Inserted, RepoError> {
        let stored = self.store(Delivery::of_message(message), received_at).await?;
        stored.messages.first().copied().ok_or_else(|| RepoError::Unavailable("insert reported no outcome".into()))
    }

    /// The next rows of an export: up to `limit` matches after `filter.after`, with the cursor
    /// after them; `total` is not counted (0), so a walk over every match stays linear.
    ///
    /// # Errors
    /// Storage could not answer.
    async fn export_page(&self, filter: &MessageFilter, limit: u32) -> Result<MessagePage, RepoError> {
        let page = self.list(filter, Page { limit, offset: 0 }).await?;
        Ok(MessagePage { total: 0, ..page })
    }

    /// The message with this id.
    ///
    /// # Errors
    /// Storage could not answer.
    async fn get(&self, message_id: &MessageId) -> Result<Option<StoredMessage>, RepoError>;

    /// The messages committed after `after`, at most `limit`, in commit order; only what is
    /// durable, and each exactly once to a reader that always passes back the last cursor.
    ///
    /// # Errors
    /// Storage could not answer.
    async fn feed(&self, after: FeedCursor, limit: u32) -> Result<FeedPage, RepoError>;

    /// The feed's current end: a cursor after every message it can show now.
    ///
    /// # Errors
    /// Storage could not answer.
    async fn feed_tail(&self) -> Result<FeedCursor, RepoError> {
        let mut after = FeedCursor::default();
        loop {
            let page = self.feed(after, 1_000).await?;
            if page.rows.is_empty() {
                return Ok(after);
            }
            after = page.next;
        }
    }

    /// Deletes the message with this id, its raw object and its search entry, and takes it out of
    /// the counts; `Ok(true)` when there was one.
    ///
    /// # Errors
    /// Storage could not answer; nothing was deleted.
    async fn delete(&self, message_id: &MessageId) -> Result<bool, RepoError>;

    /// Deletes at most `batch` messages and at most `batch` statuses received before `cutoff`,
    /// oldest first; returns how many rows went (0 once nothing older is left).
    ///
    /// # Errors
    /// Storage could not answer; what earlier batches deleted stays deleted.
    async fn purge(&self, cutoff: Timestamp, batch: u32) -> Result<u64, RepoError>;

    /// Rows deleted since start-up (erasures and retention).
    fn deleted_rows(&self) -> u64 {
        0
    }

    /// Bytes the database takes on disk, where the store can tell.
    fn storage_bytes(&self) -> Option<u64> {
        None
    }

    /// One page of the statuses that match `filter`, and how many match in all.
    ///
    /// # Errors
    /// Storage could not answer.
    async fn statuses(&self, filter: &StatusFilter, page: Page) -> Result<StatusPage, RepoError>;

    /// Returns one page of the messages that match `filter`, and how many match in all.
    ///
    /// # Errors
    /// Storage could not answer.
    async fn list(&self, filter: &MessageFilter, page: Page) -> Result<MessagePage, RepoError>;

    /// Aggregates over every stored message.
    ///
    /// # Errors
    /// Storage could not answer.
    async fn stats(&self) -> Result<Stats, RepoError>;

    /// Checks that storage answers, its schema is applied, and writes succeed.
    ///
    /// # Errors
    /// Says what is not ready.
    async fn ready(&self) -> Result<(), RepoError>;

    /// How many write transactions have failed since start-up.
    fn failed_writes(&self) -> u64 {
        0
    }

    /// Write transactions committed since start-up, and the updates they held; zero where writes
    /// are not grouped.
    fn committed_groups(&self) -> CommittedGroups {
        CommittedGroups::default()
    }
}

/// Group commits so far: how many, and how many updates they held in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommittedGroups {
    /// Transactions committed.
    pub groups: u64,
    /// Updates (messages, statuses, or an empty delivery's place) in them.
    pub updates: u64,
}

/// Decides whether a body was signed by the provider; it owns the secrets.
pub trait SignatureVerifier: Send + Sync + 'static {
    /// Whether at least one secret is configured.
    fn has_secrets(&self) -> bool;

    /// Accepts the request if any presented signature verifies against any secret.
    ///
    /// # Errors
    /// Why the request is not authentic.
    fn verify(&self, body: &[u8], presented: &PresentedSignatures, now: Timestamp) -> Result<(), SignatureError>;
}

/// The source of the current time; the core never reads the system clock itself.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> Timestamp;
}
