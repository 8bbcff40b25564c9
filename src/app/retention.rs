//! `RETENTION_DAYS`: a background task deletes what was received longer ago, in small batches
//! that each hold the writer only briefly, so that ingest never waits long behind it.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::domain::service::MessageService;

/// Rows per batch: each is one short write transaction.
const BATCH: u32 = 500;
/// Time between rounds; a round deletes until nothing old is left.
const EVERY: Duration = Duration::from_secs(60);
/// Pause between batches, so that queued ingest groups take their turn.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);

/// Starts the task on the current runtime; it runs until the handle is aborted.
pub fn spawn(service: MessageService, days: u32) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let deleted = round(&service, days).await;
            if deleted > 0 {
                tracing::info!(deleted, retention_days = days, "expired messages and statuses deleted");
            }
        }
    })
}

/// Deletes batches until one comes back short; returns how many rows went.
pub async fn round(service: &MessageService, days: u32) -> u64 {
    let mut total = 0;
    loop {
        match service.purge_older_than(days, BATCH).await {
            Ok(n) => {
                total += n;
                if n < u64::from(BATCH) {
                    return total;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "retention could not delete; retrying on the next round");
                return total;
            }
        }
        tokio::time::sleep(BETWEEN_BATCHES).await;
    }
}
