//! Searches no index can narrow — a needle of one or two characters has no trigram, so it is a
//! scan of every row — take turns, one at a time per process. They stay exact, and they cannot
//! take every core from the reads the indexes serve: one that waits too long for its turn is
//! answered 503 with `Retry-After`, like any overloaded write. On SQLite a search alone or beside
//! `since` scans only once per needle, to profile where its matches fall (see `search_profile`),
//! and takes the turn only for that.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::domain::ports::RepoError;
use crate::domain::query::MessageFilter;

/// How long a scan waits for its turn.
pub(super) const WAIT: Duration = Duration::from_secs(2);

/// The turn of one scan at a time.
#[derive(Clone, Debug)]
pub(super) struct ScanGate(Arc<Semaphore>);

impl Default for ScanGate {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(1)))
    }
}

impl ScanGate {
    /// Whether `filter` leaves the store nothing to narrow a text search with: a needle under
    /// three characters, and no sender (whose index narrows any search).
    pub(super) fn needed(filter: &MessageFilter) -> bool {
        filter.from.is_none() && filter.text.as_ref().is_some_and(|q| q.folded().chars().nth(2).is_none())
    }

    /// Waits for the turn, held until the permit drops.
    ///
    /// # Errors
    /// [`RepoError::Overloaded`] when another scan held it for longer than [`WAIT`].
    pub(super) async fn turn(&self) -> Result<OwnedSemaphorePermit, RepoError> {
        match tokio::time::timeout(WAIT, self.0.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(RepoError::Overloaded),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::query::RawListQuery;

    fn filter(q: &str, from: Option<&str>) -> MessageFilter {
        let raw = RawListQuery { q: Some(q.into()), from: from.map(str::to_owned), ..RawListQuery::default() };
        raw.parse().unwrap().filter
    }

    #[test]
    fn only_short_needles_without_a_sender_need_a_turn() {
        assert!(ScanGate::needed(&filter("a", None)));
        assert!(ScanGate::needed(&filter("é😀", None)));
        assert!(!ScanGate::needed(&filter("abc", None)));
        assert!(!ScanGate::needed(&filter("a", Some("+15550001"))));
        assert!(!ScanGate::needed(&MessageFilter::default()));
    }

    #[tokio::test]
    async fn a_second_scan_waits_and_then_is_refused() {
        let gate = ScanGate::default();
        let first = gate.turn().await.unwrap();
        assert_eq!(gate.turn().await.unwrap_err(), RepoError::Overloaded);
        drop(first);
        assert!(gate.turn().await.is_ok(), "the turn comes back");
    }
}
