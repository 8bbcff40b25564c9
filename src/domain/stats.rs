//! Aggregate figures over every stored message.

use super::timestamp::Timestamp;

/// How many senders `/stats` lists.
pub const TOP_SENDERS: usize = 10;

/// Totals over all stored messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every stored message.
    pub total_messages: u64,
    /// Distinct senders.
    pub senders_count: u64,
    /// The ten busiest senders: count descending, then sender ascending.
    pub top_senders: Vec<SenderCount>,
    /// Earliest `ts`, `None` when nothing is stored.
    pub first_message_ts: Option<Timestamp>,
    /// Latest `ts`, `None` when nothing is stored.
    pub last_message_ts: Option<Timestamp>,
}

/// Messages stored from one sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderCount {
    /// The sender: its number, or its user id when it has none.
    pub from: String,
    /// How many of its messages are stored.
    pub count: u64,
}

/// Orders senders the way `/stats` lists them and keeps the first ten.
pub fn rank_senders(mut senders: Vec<SenderCount>) -> Vec<SenderCount> {
    senders.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.from.cmp(&b.from)));
    senders.truncate(TOP_SENDERS);
    senders
}
