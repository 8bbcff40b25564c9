//! Group commit: one writer task takes inserts from a bounded queue and commits them in groups,
//! answering each caller only after its group is durable. Fsyncs are shared by a whole group, so
//! full durability stops being the throughput limit; the bounded queue keeps memory bounded and
//! turns overload into a fast 503 instead of a growing backlog.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::domain::message::Message;
use crate::domain::ports::{Inserted, MessagePage, MessageRepository, RepoError};
use crate::domain::query::{MessageFilter, Page};
use crate::domain::stats::Stats;
use crate::domain::timestamp::Timestamp;

/// Default queue length: requests waiting for a group beyond this answer 503 with `Retry-After`.
pub const DEFAULT_QUEUE: usize = 8_192;
/// Default largest group committed in one transaction.
pub const DEFAULT_GROUP: usize = 512;

/// A store that can commit many inserts in one transaction.
#[async_trait]
pub trait BatchInsert: Send + Sync + 'static {
    /// Inserts every message not already stored, in one transaction; the outcomes are in input
    /// order, and within the group the first occurrence of an id wins.
    ///
    /// # Errors
    /// Nothing was committed.
    async fn insert_batch(&self, batch: Vec<(Message, Timestamp)>) -> Result<Vec<Inserted>, RepoError>;
}

struct Job {
    message: Message,
    received_at: Timestamp,
    reply: oneshot::Sender<Result<Inserted, RepoError>>,
}

/// A [`MessageRepository`] whose inserts go through the group-commit writer; reads go straight
/// to the store.
pub struct BatchingWriter<S> {
    store: Arc<S>,
    queue: mpsc::Sender<Job>,
}

impl<S: MessageRepository + BatchInsert> BatchingWriter<S> {
    /// Starts the writer task on the current Tokio runtime. It stops when the writer is dropped.
    pub fn spawn(store: Arc<S>, queue_len: usize, max_group: usize) -> Self {
        let (queue, rx) = mpsc::channel(queue_len.max(1));
        tokio::spawn(run(store.clone(), rx, max_group.max(1)));
        Self { store, queue }
    }
}

async fn run<S: BatchInsert>(store: Arc<S>, mut rx: mpsc::Receiver<Job>, max_group: usize) {
    let mut jobs = Vec::with_capacity(max_group);
    while rx.recv_many(&mut jobs, max_group).await > 0 {
        let (batch, replies): (Vec<_>, Vec<_>) = jobs.drain(..).map(|j| ((j.message, j.received_at), j.reply)).unzip();
        let size = batch.len();
        match store.insert_batch(batch).await {
            Ok(outcomes) if outcomes.len() == size => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            result => {
                let err = result.err().unwrap_or_else(|| RepoError::Unavailable("batch outcome count mismatch".into()));
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }
}

#[async_trait]
impl<S: MessageRepository + BatchInsert> MessageRepository for BatchingWriter<S> {
    async fn insert(&self, message: Message, received_at: Timestamp) -> Result<Inserted, RepoError> {
        let (reply, answer) = oneshot::channel();
        self.queue.try_send(Job { message, received_at, reply }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => RepoError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => RepoError::Unavailable("the writer task has stopped".into()),
        })?;
        answer.await.unwrap_or_else(|_| Err(RepoError::Unavailable("the writer task dropped the request".into())))
    }

    async fn list(&self, filter: &MessageFilter, page: Page) -> Result<MessagePage, RepoError> {
        self.store.list(filter, page).await
    }

    async fn stats(&self) -> Result<Stats, RepoError> {
        self.store.stats().await
    }

    async fn ready(&self) -> Result<(), RepoError> {
        if self.queue.is_closed() {
            return Err(RepoError::Unavailable("the writer task has stopped".into()));
        }
        self.store.ready().await
    }
}

#[async_trait]
impl BatchInsert for crate::adapters::memory::InMemoryMessages {
    async fn insert_batch(&self, batch: Vec<(Message, Timestamp)>) -> Result<Vec<Inserted>, RepoError> {
        let mut outcomes = Vec::with_capacity(batch.len());
        for (message, at) in batch {
            outcomes.push(self.insert(message, at).await?);
        }
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::InMemoryMessages;
    use crate::domain::message::{MessageId, Msisdn};

    fn message(id: &str) -> Message {
        Message {
            message_id: MessageId::parse(id).unwrap(),
            from: Msisdn::parse("+111").unwrap(),
            to: Msisdn::parse("+222").unwrap(),
            ts: Timestamp::from_micros(0).unwrap(),
            text: None,
        }
    }

    #[tokio::test]
    async fn a_full_queue_answers_overloaded_instead_of_growing() {
        let store = Arc::new(InMemoryMessages::default());
        // A writer whose receiver is never drained: the queue holds one job, the next is refused.
        let (queue, _rx) = mpsc::channel(1);
        let writer = BatchingWriter { store, queue };
        let first = tokio::spawn({
            let queue = writer.queue.clone();
            async move {
                let (reply, _answer) = oneshot::channel();
                queue.try_send(Job { message: message("a"), received_at: Timestamp::from_micros(0).unwrap(), reply })
            }
        });
        assert!(first.await.unwrap().is_ok());
        assert_eq!(writer.insert(message("b"), Timestamp::from_micros(0).unwrap()).await, Err(RepoError::Overloaded));
    }

    #[tokio::test]
    async fn storage_errors_reach_every_caller_of_the_group() {
        let store = Arc::new(InMemoryMessages::default());
        store.set_failing(true);
        let writer = BatchingWriter::spawn(store, 16, 8);
        let result = writer.insert(message("x"), Timestamp::from_micros(0).unwrap()).await;
        assert!(matches!(result, Err(RepoError::Unavailable(_))));
    }
}
