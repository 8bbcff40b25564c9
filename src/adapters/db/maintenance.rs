//! The SQLite writer's background work, every [`CheckpointPolicy::every`]: index the messages
//! stored since the last run for `q`, then checkpoint the log.

use sea_orm::DatabaseConnection;
use tokio::task::JoinHandle;

use super::checkpoint::{self, CheckpointPolicy, WriteGate};
use super::text_index;

/// Runs until the returned handle is aborted. `db` is a pool for the checkpoints, `writer` the
/// writer's pooled connection, which the indexer writes through.
pub fn spawn(
    db: DatabaseConnection,
    writer: DatabaseConnection,
    gate: WriteGate,
    policy: CheckpointPolicy,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        // The first pass waits a period too: at start-up there is nothing to do.
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + policy.every, policy.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = text_index::catch_up(&writer, &gate).await {
                tracing::warn!(error = %e, "indexing recent messages for search failed; retrying on the next pass");
            }
            if let Err(e) = checkpoint::pass(&db, &gate, policy).await {
                tracing::warn!(error = %e, "WAL checkpoint failed; retrying on the next pass");
            }
        }
    })
}
