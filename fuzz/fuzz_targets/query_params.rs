//! The query strings of `GET /messages`, `GET /statuses` and `GET /feed`, and their cursors.
//!
//! The input is a query string (`limit=5&from=%2B1555...&cursor=...`), decoded as a server does,
//! so a seed is readable and any string can reach any parameter; the first value of each name is
//! the parameter. Every parser gets the parameters it knows. Beyond "no panic": what is accepted
//! is within its documented bounds and means what was sent, what is refused names only bad
//! parameters, and every cursor a parser accepts or builds survives its own encoding.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_ingest::domain::cursor::{FeedCursor, ListCursor, RawFeedQuery};
use webhook_ingest::domain::error::FieldError;
use webhook_ingest::domain::message::MessageId;
use webhook_ingest::domain::query::RawListQuery;
use webhook_ingest::domain::status_query::RawStatusQuery;
use webhook_ingest::domain::timestamp::Timestamp;
use webhook_ingest_fuzz::{is_e164, is_kind, is_message_id};

fn check_errors(errors: &[FieldError], names: &[&str]) {
    assert!(!errors.is_empty(), "a refusal says why");
    for e in errors {
        assert_eq!(e.loc.len(), 2, "{:?}", e.loc);
        assert_eq!(e.loc[0], "query");
        assert!(names.contains(&e.loc[1].as_str()), "{:?} is not a parameter", e.loc);
    }
}

/// `from` and `recipient` read an unencoded `+` (decoded as a space) before digits as `+`.
fn as_sender(raw: &str) -> String {
    match raw.strip_prefix(' ') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => format!("+{rest}"),
        _ => raw.to_owned(),
    }
}

/// The number a bounded integer parameter asks for: surrounding blanks allowed, nothing else.
fn number(raw: &str) -> Option<u64> {
    raw.trim().parse().ok()
}

fn check_list(get: &dyn Fn(&str) -> Option<String>) {
    let raw = RawListQuery {
        limit: get("limit"),
        offset: get("offset"),
        from: get("from"),
        since: get("since"),
        q: get("q"),
        source: get("source"),
        kind: get("type"),
        cursor: get("cursor"),
    };
    match raw.parse() {
        Ok(q) => {
            let limit = get("limit").map_or(Some(50), |l| number(&l));
            assert_eq!(Some(u64::from(q.page.limit)), limit);
            assert!((1..=100).contains(&q.page.limit));
            assert_eq!(Some(q.page.offset), get("offset").map_or(Some(0), |o| number(&o)));
            assert!(i64::try_from(q.page.offset).is_ok(), "offset fits the database");
            assert!(get("cursor").is_none() || get("offset").is_none(), "cursor and offset together");
            let from = q.filter.from.as_ref().map(|f| f.as_str().to_owned());
            assert_eq!(from, get("from").map(|f| as_sender(&f)));
            assert!(from.as_deref().is_none_or(is_e164));
            assert_eq!(q.filter.since, get("since").map(|s| Timestamp::parse_instant(&s).expect("since accepted")));
            let needle = get("q").filter(|q| !q.is_empty()).map(|q| q.to_lowercase());
            assert_eq!(q.filter.text.as_ref().map(|t| t.folded().to_owned()), needle);
            assert_eq!(q.filter.source.map(|s| s.as_str().to_owned()), get("source"));
            assert_eq!(q.filter.kind.as_ref().map(|k| k.as_str().to_owned()), get("type"));
            assert!(q.filter.kind.as_ref().is_none_or(|k| is_kind(k.as_str())));
            assert_eq!(q.filter.after, get("cursor").map(|c| ListCursor::parse(&c).expect("cursor accepted")));
        }
        Err(errors) => check_errors(&errors, &["limit", "offset", "from", "since", "q", "source", "type", "cursor"]),
    }
}

fn check_statuses(get: &dyn Fn(&str) -> Option<String>) {
    let raw = RawStatusQuery {
        message_id: get("message_id"),
        recipient: get("recipient"),
        status: get("status"),
        since: get("since"),
        limit: get("limit"),
        offset: get("offset"),
    };
    match raw.parse() {
        Ok(q) => {
            assert!((1..=100).contains(&q.page.limit));
            assert!(i64::try_from(q.page.offset).is_ok());
            let id = q.filter.message_id.as_ref().map(|m| m.as_str().to_owned());
            assert!(id.as_deref().is_none_or(is_message_id));
            assert_eq!(id, get("message_id"));
            // A recipient is matched as stored: a number when it reads as one, else as sent.
            let recipient = get("recipient").map(|r| if is_e164(&as_sender(&r)) { as_sender(&r) } else { r });
            assert_eq!(q.filter.recipient, recipient);
            assert_eq!(q.filter.status.as_ref().map(|s| s.as_str().to_owned()), get("status"));
            assert_eq!(q.filter.since, get("since").map(|s| Timestamp::parse_instant(&s).expect("since accepted")));
        }
        Err(errors) => check_errors(&errors, &["message_id", "status", "since", "limit", "offset"]),
    }
}

fn check_feed(get: &dyn Fn(&str) -> Option<String>) {
    let raw = RawFeedQuery { after: get("after"), limit: get("limit"), wait: get("wait") };
    match raw.parse() {
        Ok(q) => {
            assert_eq!(Some(u64::from(q.limit)), get("limit").map_or(Some(100), |l| number(&l)));
            assert!((1..=1_000).contains(&q.limit));
            assert_eq!(Some(u64::from(q.wait_secs)), get("wait").map_or(Some(0), |w| number(&w)));
            assert!(q.wait_secs <= 30);
            let after = get("after").map_or(FeedCursor::default(), |a| FeedCursor::parse(&a).expect("after accepted"));
            assert_eq!(q.after, after);
        }
        Err(errors) => check_errors(&errors, &["after", "limit", "wait"]),
    }
}

/// Every value tried as either cursor: what parses is in range and survives re-encoding.
fn check_cursor(raw: &str) {
    if let Ok(c) = ListCursor::parse(raw) {
        assert!(is_message_id(c.message_id.as_str()));
        assert_eq!(ListCursor::parse(&c.encode()), Ok(c));
    }
    if let Ok(c) = FeedCursor::parse(raw) {
        assert!(c.major >= 0 && c.minor >= 0);
        assert_eq!(FeedCursor::parse(&c.encode()), Ok(c));
    }
}

fuzz_target!(|data: &[u8]| {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(data).unwrap_or_default();
    let get = |name: &str| pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    check_list(&get);
    check_statuses(&get);
    check_feed(&get);
    for (_, value) in &pairs {
        check_cursor(value);
        if let Ok(at) = Timestamp::parse_instant(value) {
            // An offset can carry year 0000 into year -1, which RFC 3339 cannot write.
            let shown = at.to_rfc3339();
            let four_digit_year = shown.as_bytes().get(4) == Some(&b'-');
            assert!(!four_digit_year || Timestamp::parse_utc(&shown) == Ok(at), "{value:?} renders as {shown:?}");
        }
    }
    // Cursors this service builds from any row it could store come back as that row.
    if let Some(id) = pairs.iter().find_map(|(_, v)| MessageId::parse(v).ok()) {
        let micros = data.iter().fold(0i64, |acc, b| acc.wrapping_mul(31).wrapping_add(i64::from(*b)));
        let ts = Timestamp::from_micros(micros % 253_402_300_799_000_000).expect("within year 9999");
        let cursor = ListCursor { ts, message_id: id };
        assert_eq!(ListCursor::parse(&cursor.encode()), Ok(cursor));
    }
    let major = i64::try_from(data.len()).unwrap_or(0);
    let feed = FeedCursor { major: i64::MAX - major, minor: major };
    assert_eq!(FeedCursor::parse(&feed.encode()), Ok(feed));
});
