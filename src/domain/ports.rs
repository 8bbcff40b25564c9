//! The ports: what the core needs from the outside world, as traits.

use async_trait::async_trait;
use thiserror::Error;

use super::message::Message;
use super::query::{MessageFilter, Page};
use super::signature::{PresentedSignatures, SignatureError};
use super::stats::Stats;
use super::timestamp::Timestamp;

/// Whether an insert wrote a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The message was new and is now committed.
    Created,
    /// A message with this id was already stored; nothing was written (first write wins).
    Duplicate,
}

/// One page of matches and the number of all matches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessagePage {
    /// The rows of this page, ordered by `ts`, then `message_id`.
    pub rows: Vec<Message>,
    /// How many messages match, ignoring pagination.
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
    /// Stores `message` unless one with its id exists; a duplicate is an outcome, not an error.
    /// `Ok` means committed durably.
    ///
    /// # Errors
    /// Storage could not answer; nothing was acknowledged.
    async fn insert(&self, message: Message, received_at: Timestamp) -> Result<Inserted, RepoError>;

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
