//! The SQLite writer's background work, every [`CheckpointPolicy::every`]: index the messages
//! stored since the last run for `q`, and checkpoint the log. Two tasks, since the index lives in
//! a file of its own: a long backlog of indexing never delays a checkpoint, nor the other way round.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::task::JoinHandle;

use super::checkpoint::{self, CheckpointPolicy, WriteGate};
use super::feed::Horizon;
use super::text_index::{self, TextGate};

/// The tasks of one database: the shared pool `db`, which checkpoints and, with the search file
/// attached, indexes.
pub struct Work {
    pub db: DatabaseConnection,
    pub gate: WriteGate,
    pub text_gate: TextGate,
    /// Up to which row the log is synced.
    pub horizon: Arc<Horizon>,
}

/// The two tasks; they run until aborted.
pub fn spawn(work: Work, policy: CheckpointPolicy) -> [JoinHandle<()>; 2] {
    let Work { db, gate, text_gate, horizon } = work;
    let gates = checkpoint::Gates { write: gate, text: Arc::clone(&text_gate) };
    let indexer = every(policy, {
        let db = db.clone();
        move || {
            let (db, text_gate, horizon) = (db.clone(), Arc::clone(&text_gate), Arc::clone(&horizon));
            async move {
                if let Err(e) = text_index::catch_up(&db, &text_gate, horizon.durable()).await {
                    tracing::warn!(error = %e, "indexing recent messages for search failed; retrying on the next pass");
                }
                if let Err(e) = checkpoint::search_pass(&db, policy).await {
                    tracing::warn!(error = %e, "checkpointing the search index failed; retrying on the next pass");
                }
            }
        }
    });
    let checkpointer = every(policy, move || {
        let (db, gates) = (db.clone(), gates.clone());
        async move {
            if let Err(e) = checkpoint::pass(&db, &gates, policy).await {
                tracing::warn!(error = %e, "WAL checkpoint failed; retrying on the next pass");
            }
        }
    });
    [indexer, checkpointer]
}

/// Runs `pass` every period, the first a period after start-up, when there is nothing to do yet.
fn every<F, Fut>(policy: CheckpointPolicy, pass: F) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + policy.every, policy.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            pass().await;
        }
    })
}
