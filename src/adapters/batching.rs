//! Group commit: one writer task takes deliveries from a bounded queue and commits them in groups,
//! answering each caller only after its group is durable. A delivery (one request's updates, up to
//! a thousand for a Cloud API envelope) is one job, so it is never split across transactions. Fsyncs are shared by a whole group, so
//! full durability stops being the throughput limit; the bounded queue keeps memory bounded and
//! turns overload into a fast 503 instead of a growing backlog.
//!
//! Where the store can make commits durable separately ([`BatchInsert::flush`]), a second task
//! does so and answers the callers, so the writer commits the next group while the disk syncs the
//! last ones, and one sync serves every group committed before it began.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::domain::cursor::FeedCursor;
use crate::domain::delivery::{Delivery, Stored};
use crate::domain::message::MessageId;
use crate::domain::ports::{
    CommittedGroups, FeedPage, MessagePage, MessageRepository, RepoError, StatusPage, StoredMessage,
};
use crate::domain::query::{MessageFilter, Page};
use crate::domain::stats::Stats;
use crate::domain::status_query::StatusFilter;
use crate::domain::timestamp::Timestamp;

/// Default queue length: requests waiting for a group beyond this answer 503 with `Retry-After`.
pub const DEFAULT_QUEUE: usize = 8_192;
/// Default largest group committed in one transaction, in updates (a flat message is one).
pub const DEFAULT_GROUP: usize = 512;

/// A store that can commit many deliveries in one transaction.
#[async_trait]
pub trait BatchInsert: Send + Sync + 'static {
    /// Stores every update not already stored, in one transaction; the outcomes are in input
    /// order, and within the group the first occurrence of a key wins.
    ///
    /// # Errors
    /// Nothing was committed.
    async fn insert_batch(&self, batch: Vec<(Delivery, Timestamp)>) -> Result<Vec<Stored>, RepoError>;

    /// Makes every group committed so far durable; nothing to do where a commit already is.
    ///
    /// # Errors
    /// Durability cannot be promised for those groups.
    async fn flush(&self) -> Result<(), RepoError> {
        Ok(())
    }

    /// Writes something of a message's size and takes it back, to learn whether writes succeed
    /// again after they failed; nothing is left behind.
    ///
    /// # Errors
    /// The write failed: storage still cannot take writes.
    async fn probe_write(&self) -> Result<(), RepoError> {
        Ok(())
    }
}

/// Whether writes are failing, as the writer last saw them, and how many groups have failed.
#[derive(Default)]
struct WriteHealth {
    failing: std::sync::Mutex<Option<RepoError>>,
    failed_groups: std::sync::atomic::AtomicU64,
    committed_groups: std::sync::atomic::AtomicU64,
    committed_updates: std::sync::atomic::AtomicU64,
}

impl WriteHealth {
    fn failed(&self, error: &RepoError) {
        self.failed_groups.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *self.lock() = Some(error.clone());
    }

    fn succeeded(&self) {
        self.lock().take();
    }

    fn committed(&self, updates: usize) {
        self.committed_groups.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.committed_updates.fetch_add(updates as u64, std::sync::atomic::Ordering::Relaxed);
    }

    fn failing(&self) -> Option<RepoError> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<RepoError>> {
        self.failing.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

struct Job {
    delivery: Delivery,
    received_at: Timestamp,
    reply: Reply,
}

/// A [`MessageRepository`] whose inserts go through the group-commit writer; reads go straight
/// to the store.
pub struct BatchingWriter<S> {
    store: Arc<S>,
    queue: mpsc::Sender<Job>,
    health: Arc<WriteHealth>,
}

impl<S: MessageRepository + BatchInsert> BatchingWriter<S> {
    /// Starts the writer task on the current Tokio runtime. It stops when the writer is dropped.
    pub fn spawn(store: Arc<S>, queue_len: usize, max_group: usize) -> Self {
        let (queue, rx) = mpsc::channel(queue_len.max(1));
        let health = Arc::new(WriteHealth::default());
        tokio::spawn(run(store.clone(), rx, max_group.max(1), health.clone()));
        Self { store, queue, health }
    }
}

/// Groups committed and waiting for their sync; beyond this the writer waits, so the jobs held
/// past the queue stay bounded too.
const SYNC_BACKLOG: usize = 4;

type Reply = oneshot::Sender<Result<Stored, RepoError>>;

/// A committed group: each caller and its outcome.
struct Committed(Vec<(Reply, Stored)>);

async fn run<S: BatchInsert>(store: Arc<S>, mut rx: mpsc::Receiver<Job>, max_group: usize, health: Arc<WriteHealth>) {
    let (committed, to_sync) = mpsc::channel(SYNC_BACKLOG);
    let answering = tokio::spawn(answer_when_durable(store.clone(), to_sync, health.clone()));
    let mut carried = None;
    while let Some(jobs) = next_group(&mut rx, &mut carried, max_group).await {
        let updates = jobs.iter().map(weight).sum();
        let (batch, replies): (Vec<_>, Vec<_>) =
            jobs.into_iter().map(|j| ((j.delivery, j.received_at), j.reply)).unzip();
        let size = batch.len();
        match store.insert_batch(batch).await {
            Ok(outcomes) if outcomes.len() == size => {
                health.committed(updates);
                if committed.send(Committed(replies.into_iter().zip(outcomes).collect())).await.is_err() {
                    break;
                }
            }
            result => {
                let err = result.err().unwrap_or_else(|| RepoError::Unavailable("batch outcome count mismatch".into()));
                health.failed(&err);
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }
    drop(committed);
    let _ = answering.await;
}

/// Updates a job adds to a group; a delivery with none still costs a transaction's share.
fn weight(job: &Job) -> usize {
    (job.delivery.messages.len() + job.delivery.statuses.len()).max(1)
}

/// The next group: waits for one job, then takes what is queued while the group holds at most
/// `max_updates` updates. A job that would overflow it starts the next group; a single larger one
/// (a 1,000-update envelope) is a group of its own, since a delivery is never split.
async fn next_group(rx: &mut mpsc::Receiver<Job>, carried: &mut Option<Job>, max_updates: usize) -> Option<Vec<Job>> {
    let first = match carried.take() {
        Some(job) => job,
        None => rx.recv().await?,
    };
    let mut updates = weight(&first);
    let mut jobs = vec![first];
    while updates < max_updates {
        let Ok(job) = rx.try_recv() else { break };
        if updates + weight(&job) > max_updates {
            *carried = Some(job);
            break;
        }
        updates += weight(&job);
        jobs.push(job);
    }
    Some(jobs)
}

/// Answers committed groups once a sync that began after their commit has succeeded. A
/// duplicate waits too: the copy it found may have been committed by a group not yet synced.
async fn answer_when_durable<S: BatchInsert>(
    store: Arc<S>,
    mut to_sync: mpsc::Receiver<Committed>,
    health: Arc<WriteHealth>,
) {
    let mut groups = Vec::with_capacity(SYNC_BACKLOG);
    while to_sync.recv_many(&mut groups, SYNC_BACKLOG).await > 0 {
        let synced = store.flush().await;
        match &synced {
            Ok(()) => health.succeeded(),
            Err(e) => health.failed(e),
        }
        for Committed(answers) in groups.drain(..) {
            for (reply, outcome) in answers {
                let _ = reply.send(synced.clone().map(|()| outcome));
            }
        }
    }
}

#[async_trait]
impl<S: MessageRepository + BatchInsert> MessageRepository for BatchingWriter<S> {
    async fn store(&self, delivery: Delivery, received_at: Timestamp) -> Result<Stored, RepoError> {
        let (reply, answer) = oneshot::channel();
        self.queue.try_send(Job { delivery, received_at, reply }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => RepoError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => RepoError::Unavailable("the writer task has stopped".into()),
        })?;
        answer.await.unwrap_or_else(|_| Err(RepoError::Unavailable("the writer task dropped the request".into())))
    }

    async fn list(&self, filter: &MessageFilter, page: Page) -> Result<MessagePage, RepoError> {
        self.store.list(filter, page).await
    }

    async fn get(&self, message_id: &MessageId) -> Result<Option<StoredMessage>, RepoError> {
        self.store.get(message_id).await
    }

    async fn feed(&self, after: FeedCursor, limit: u32) -> Result<FeedPage, RepoError> {
        self.store.feed(after, limit).await
    }

    async fn feed_tail(&self) -> Result<FeedCursor, RepoError> {
        self.store.feed_tail().await
    }

    async fn delete(&self, message_id: &MessageId) -> Result<bool, RepoError> {
        self.store.delete(message_id).await
    }

    async fn export_page(&self, filter: &MessageFilter, limit: u32) -> Result<MessagePage, RepoError> {
        self.store.export_page(filter, limit).await
    }

    async fn purge(&self, cutoff: Timestamp, batch: u32) -> Result<u64, RepoError> {
        self.store.purge(cutoff, batch).await
    }

    fn deleted_rows(&self) -> u64 {
        self.store.deleted_rows()
    }

    fn storage_bytes(&self) -> Option<u64> {
        self.store.storage_bytes()
    }

    async fn statuses(&self, filter: &StatusFilter, page: Page) -> Result<StatusPage, RepoError> {
        self.store.statuses(filter, page).await
    }

    async fn stats(&self) -> Result<Stats, RepoError> {
        self.store.stats().await
    }

    async fn ready(&self) -> Result<(), RepoError> {
        if self.queue.is_closed() {
            return Err(RepoError::Unavailable("the writer task has stopped".into()));
        }
        // While writes fail, ready only once a probe write succeeds: no flapping back to ready
        // between failed groups, and no waiting for traffic that a load balancer withholds.
        if self.health.failing().is_some() {
            self.store.probe_write().await?;
            self.health.succeeded();
        }
        self.store.ready().await
    }

    fn failed_writes(&self) -> u64 {
        self.health.failed_groups.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn committed_groups(&self) -> CommittedGroups {
        let load = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
        CommittedGroups { groups: load(&self.health.committed_groups), updates: load(&self.health.committed_updates) }
    }
}

#[async_trait]
impl BatchInsert for crate::adapters::memory::InMemoryMessages {
    async fn insert_batch(&self, batch: Vec<(Delivery, Timestamp)>) -> Result<Vec<Stored>, RepoError> {
        self.store_all(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::InMemoryMessages;
    use crate::domain::message::{Message, Msisdn};
    use crate::domain::ports::Inserted;

    fn message(id: &str) -> Message {
        Message::flat(
            MessageId::parse(id).unwrap(),
            Msisdn::parse("+111").unwrap(),
            Msisdn::parse("+222").unwrap(),
            Timestamp::from_micros(0).unwrap(),
            None,
        )
    }

    #[tokio::test]
    async fn a_full_queue_answers_overloaded_instead_of_growing() {
        let store = Arc::new(InMemoryMessages::default());
        // A writer whose receiver is never drained: the queue holds one job, the next is refused.
        let (queue, _rx) = mpsc::channel(1);
        let writer = BatchingWriter { store, queue, health: Arc::default() };
        let first = tokio::spawn({
            let queue = writer.queue.clone();
            async move {
                let (reply, _answer) = oneshot::channel();
                let delivery = Delivery::of_message(message("a"));
                queue.try_send(Job { delivery, received_at: Timestamp::from_micros(0).unwrap(), reply })
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

    #[tokio::test]
    async fn after_failed_groups_readiness_waits_for_a_write_that_succeeds_and_later_groups_are_stored() {
        let store = Arc::new(InMemoryMessages::default());
        let writer = BatchingWriter::spawn(store.clone(), 16, 8);
        let at = Timestamp::from_micros(0).unwrap();
        store.set_failing(true);
        for id in ["a", "b"] {
            assert!(writer.insert(message(id), at).await.is_err());
        }
        assert_eq!(writer.failed_writes(), 2, "each failed group is counted");
        // The probe write fails too while the store does: not ready.
        assert!(writer.ready().await.is_err());
        store.set_failing(false);
        assert_eq!(writer.ready().await, Ok(()), "ready again once a write succeeds");
        assert_eq!(writer.insert(message("c"), at).await, Ok(Inserted::Created));
        assert_eq!((store.len(), writer.failed_writes()), (1, 2), "nothing of the failed groups, all of the later one");
    }

    /// A store whose commits succeed and whose flush waits for a signal, then fails or not.
    struct SyncedBy {
        store: InMemoryMessages,
        flush_may_finish: tokio::sync::Semaphore,
        flush_fails: bool,
    }

    #[async_trait]
    impl BatchInsert for SyncedBy {
        async fn insert_batch(&self, batch: Vec<(Delivery, Timestamp)>) -> Result<Vec<Stored>, RepoError> {
            self.store.insert_batch(batch).await
        }

        async fn flush(&self) -> Result<(), RepoError> {
            self.flush_may_finish.acquire().await.expect("semaphore open").forget();
            if self.flush_fails { Err(RepoError::Unavailable("fsync failed".into())) } else { Ok(()) }
        }
    }

    #[async_trait]
    impl MessageRepository for SyncedBy {
        async fn store(&self, delivery: Delivery, received_at: Timestamp) -> Result<Stored, RepoError> {
            self.store.store(delivery, received_at).await
        }
        async fn list(&self, filter: &MessageFilter, page: Page) -> Result<MessagePage, RepoError> {
            self.store.list(filter, page).await
        }
        async fn get(&self, id: &MessageId) -> Result<Option<StoredMessage>, RepoError> {
            self.store.get(id).await
        }
        async fn feed(&self, after: FeedCursor, limit: u32) -> Result<FeedPage, RepoError> {
            self.store.feed(after, limit).await
        }
        async fn delete(&self, id: &MessageId) -> Result<bool, RepoError> {
            self.store.delete(id).await
        }
        async fn purge(&self, cutoff: Timestamp, batch: u32) -> Result<u64, RepoError> {
            self.store.purge(cutoff, batch).await
        }
        async fn statuses(&self, filter: &StatusFilter, page: Page) -> Result<StatusPage, RepoError> {
            self.store.statuses(filter, page).await
        }
        async fn stats(&self) -> Result<Stats, RepoError> {
            self.store.stats().await
        }
        async fn ready(&self) -> Result<(), RepoError> {
            Ok(())
        }
    }

    fn synced_by(flush_fails: bool) -> Arc<SyncedBy> {
        let flush_may_finish = tokio::sync::Semaphore::new(0);
        Arc::new(SyncedBy { store: InMemoryMessages::default(), flush_may_finish, flush_fails })
    }

    #[tokio::test]
    async fn callers_are_answered_only_after_the_flush() {
        let store = synced_by(false);
        let writer = Arc::new(BatchingWriter::spawn(store.clone(), 16, 8));
        let at = Timestamp::from_micros(0).unwrap();
        let pending = tokio::spawn({
            let writer = writer.clone();
            async move { writer.insert(message("a"), at).await }
        });
        // Committed, but not yet durable: no answer however long the flush takes.
        while store.store.is_empty() {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!pending.is_finished());
        store.flush_may_finish.add_permits(1);
        assert_eq!(pending.await.unwrap(), Ok(Inserted::Created));
        // A duplicate waits for a flush too: its original may not be durable yet.
        let again = tokio::spawn({
            let writer = writer.clone();
            async move { writer.insert(message("a"), at).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!again.is_finished());
        store.flush_may_finish.add_permits(1);
        assert_eq!(again.await.unwrap(), Ok(Inserted::Duplicate));
    }

    #[tokio::test]
    async fn a_failed_flush_fails_the_groups_it_covered() {
        let store = synced_by(true);
        store.flush_may_finish.add_permits(1);
        let writer = BatchingWriter::spawn(store.clone(), 16, 8);
        let result = writer.insert(message("a"), Timestamp::from_micros(0).unwrap()).await;
        assert_eq!(result, Err(RepoError::Unavailable("fsync failed".into())));
    }
}
