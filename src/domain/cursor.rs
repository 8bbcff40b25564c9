//! Opaque positions a reader passes back to continue: after a row of the `ts` order (`/messages`),
//! or after a place in the commit order (`/feed`). Encoded as URL-safe base64 of a short text, so
//! that they survive a query string unescaped; their inside is not part of the contract.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use super::message::MessageId;
use super::timestamp::Timestamp;

/// Longest cursor accepted, in characters: a 256-character id and a timestamp, encoded.
const MAX_CURSOR_CHARS: usize = 2_048;

/// What every malformed cursor reports.
pub const CURSOR_RULE: &str = "must be a cursor returned by this endpoint";

/// Continues `/messages` after this row of the (`ts`, `message_id`) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    /// The last row's `ts`.
    pub ts: Timestamp,
    /// The last row's id.
    pub message_id: MessageId,
}

impl ListCursor {
    /// The opaque form.
    pub fn encode(&self) -> String {
        B64.encode(format!("m1:{}:{}", self.ts.as_micros(), self.message_id.as_str()))
    }

    /// Reads a cursor this endpoint returned.
    ///
    /// # Errors
    /// [`CURSOR_RULE`] when it is not one.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = decode(raw)?;
        let rest = text.strip_prefix("m1:").ok_or(CURSOR_RULE)?;
        let (micros, id) = rest.split_once(':').ok_or(CURSOR_RULE)?;
        let ts = micros.parse().ok().and_then(Timestamp::from_micros).ok_or(CURSOR_RULE)?;
        Ok(Self { ts, message_id: MessageId::parse(id).map_err(|_| CURSOR_RULE)? })
    }
}

/// A place in the commit order of the feed: after every message a reader has seen. The backend
/// decides what the numbers mean (SQLite: the last rowid; PostgreSQL: the last transaction id and
/// the sequence number within it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct FeedCursor {
    /// The major position.
    pub major: i64,
    /// The minor position, 0 where the backend has none.
    pub minor: i64,
}

impl FeedCursor {
    /// The opaque form.
    pub fn encode(self) -> String {
        B64.encode(format!("f1:{}:{}", self.major, self.minor))
    }

    /// Reads a cursor the feed returned.
    ///
    /// # Errors
    /// [`CURSOR_RULE`] when it is not one.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = decode(raw)?;
        let rest = text.strip_prefix("f1:").ok_or(CURSOR_RULE)?;
        let (major, minor) = rest.split_once(':').ok_or(CURSOR_RULE)?;
        let number = |s: &str| s.parse::<i64>().ok().filter(|n| *n >= 0).ok_or(CURSOR_RULE);
        Ok(Self { major: number(major)?, minor: number(minor)? })
    }
}

/// Largest page of the feed, and the default.
pub const MAX_FEED_LIMIT: u32 = 1_000;
const DEFAULT_FEED_LIMIT: u32 = 100;
/// Longest a feed request may wait for something to arrive, in seconds.
pub const MAX_FEED_WAIT_SECS: u32 = 30;

/// The query-string values of `GET /feed` as received.
#[derive(Debug, Clone, Default)]
pub struct RawFeedQuery {
    /// `after`.
    pub after: Option<String>,
    /// `limit`.
    pub limit: Option<String>,
    /// `wait`.
    pub wait: Option<String>,
}

/// A validated feed query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedQuery {
    /// Where to continue; the beginning when none was given.
    pub after: FeedCursor,
    /// 1 to 1,000.
    pub limit: u32,
    /// 0 to 30 seconds to hold an empty answer for something to arrive.
    pub wait_secs: u32,
}

impl RawFeedQuery {
    /// Applies every rule, reporting all that are broken.
    ///
    /// # Errors
    /// One entry per bad parameter.
    pub fn parse(self) -> Result<FeedQuery, Vec<super::error::FieldError>> {
        use super::query::check;
        let mut errors = Vec::new();
        let after = check(&mut errors, "after", self.after.as_deref().map(FeedCursor::parse).transpose());
        let bounded = |raw: Option<&str>, default: u32, range: std::ops::RangeInclusive<u32>| match raw {
            None => Ok(default),
            Some(s) => s
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| format!("must be an integer from {} to {}", range.start(), range.end())),
        };
        let limit = check(&mut errors, "limit", bounded(self.limit.as_deref(), DEFAULT_FEED_LIMIT, 1..=MAX_FEED_LIMIT));
        let wait = check(&mut errors, "wait", bounded(self.wait.as_deref(), 0, 0..=MAX_FEED_WAIT_SECS));
        match (after, limit, wait) {
            (Some(after), Some(limit), Some(wait_secs)) if errors.is_empty() => {
                Ok(FeedQuery { after: after.unwrap_or_default(), limit, wait_secs })
            }
            _ => Err(errors),
        }
    }
}

fn decode(raw: &str) -> Result<String, &'static str> {
    if raw.len() > MAX_CURSOR_CHARS {
        return Err(CURSOR_RULE);
    }
    let bytes = B64.decode(raw.trim()).map_err(|_| CURSOR_RULE)?;
    String::from_utf8(bytes).map_err(|_| CURSOR_RULE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        let list = ListCursor {
            ts: Timestamp::from_micros(1_736_935_200_000_000).unwrap(),
            message_id: MessageId::parse("m:1 é").unwrap(),
        };
        assert_eq!(ListCursor::parse(&list.encode()), Ok(list.clone()));
        let feed = FeedCursor { major: 42, minor: 7 };
        assert_eq!(FeedCursor::parse(&feed.encode()), Ok(feed));
        for bad in ["", "not base64!", &B64.encode("m1:x:y"), &B64.encode("f1:-1:0"), &feed.encode()] {
            assert!(ListCursor::parse(bad).is_err(), "{bad}");
        }
        assert!(FeedCursor::parse(&list.encode()).is_err());
        assert!(FeedCursor::parse(&"A".repeat(4_000)).is_err());
    }

    #[test]
    fn feed_parameters_are_bounded() {
        let q = RawFeedQuery::default().parse().unwrap();
        assert_eq!((q.after, q.limit, q.wait_secs), (FeedCursor::default(), 100, 0));
        let raw =
            |limit: &str, wait: &str| RawFeedQuery { limit: Some(limit.into()), wait: Some(wait.into()), after: None };
        assert!(raw("1000", "30").parse().is_ok());
        let errors = raw("1001", "31").parse().unwrap_err();
        assert_eq!(errors.iter().map(|e| e.loc[1].as_str()).collect::<Vec<_>>(), ["limit", "wait"]);
        assert_eq!(
            RawFeedQuery { after: Some("x".into()), ..RawFeedQuery::default() }.parse().unwrap_err()[0].loc[1],
            "after"
        );
    }
}
