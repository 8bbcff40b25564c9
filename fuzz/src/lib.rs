//! What the fuzz targets share: the field rules restated independently of the service's code, so
//! that a target checks what a decoder accepted instead of trusting it, and a scan of JSON
//! documents for repeated keys (where a derived struct and `serde_json::Value` part ways).

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use webhook_ingest::domain::delivery::{DeliveryStatus, MessageParts, ProviderError};
use webhook_ingest::domain::message::Message;

/// `^\+[1-9][0-9]{1,14}$`, written out by hand.
pub fn is_e164(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 3
        && b.len() <= 16
        && b[0] == b'+'
        && (b'1'..=b'9').contains(&b[1])
        && b[2..].iter().all(u8::is_ascii_digit)
}

/// A message id: not blank, at most 256 characters, no NUL.
pub fn is_message_id(s: &str) -> bool {
    !s.chars().all(char::is_whitespace) && s.chars().count() <= 256 && !s.contains('\0')
}

/// A text: at most 4096 characters, no NUL.
pub fn is_text(s: &str) -> bool {
    s.chars().count() <= 4096 && !s.contains('\0')
}

/// A provider's kind word: 1 to 64 visible ASCII characters.
pub fn is_kind(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Whether `s` is `YYYY-MM-DDTHH:MM:SS[.1-9 digits]Z`, seconds 00-59, a real calendar instant;
/// and if so its microseconds since the epoch, by chrono's own RFC 3339 reader.
pub fn strict_utc_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && &b[17..19] < b"60".as_slice()
        && b[b.len() - 1] == b'Z';
    if !shape {
        return None;
    }
    let fraction = &b[19..b.len() - 1];
    if !fraction.is_empty() {
        let ok =
            fraction[0] == b'.' && (2..=10).contains(&fraction.len()) && fraction[1..].iter().all(u8::is_ascii_digit);
        if !ok {
            return None;
        }
    }
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_micros())
}

/// Every rule a stored message obeys, whatever its source.
pub fn assert_message_rules(m: &Message) {
    assert!(is_message_id(m.message_id.as_str()), "message_id {:?}", m.message_id);
    assert!(is_e164(m.to.as_str()), "to {:?}", m.to);
    if let Some(from) = &m.from {
        assert!(is_e164(from.as_str()), "from {from:?}");
    }
    assert!(m.from.is_some() || m.parts.user_id.is_some(), "a message names its sender");
    if let Some(text) = &m.text {
        assert!(is_text(text.as_str()), "text of {} characters", text.as_str().chars().count());
    }
    assert!(is_kind(m.kind.as_str()), "kind {:?}", m.kind);
    assert_parts_survive_storage(&m.parts);
}

/// Every rule a stored delivery status obeys.
pub fn assert_status_rules(s: &DeliveryStatus) {
    assert!(is_message_id(s.message_id.as_str()), "message_id {:?}", s.message_id);
    assert!(is_kind(s.status.as_str()), "status {:?}", s.status);
    let json = serde_json::to_string(&s.errors).expect("errors serialise");
    let back: Vec<ProviderError> = serde_json::from_str(&json).expect("stored errors read back");
    assert_eq!(back, s.errors);
}

/// The parts are stored as JSON and read back when the message is served: what was accepted must
/// come back as it was (coordinates to within a rounding of the last digit).
pub fn assert_parts_survive_storage(parts: &MessageParts) {
    let json = serde_json::to_string(parts).expect("parts serialise");
    let mut back: MessageParts = match serde_json::from_str(&json) {
        Ok(back) => back,
        Err(e) => panic!("stored parts {json} cannot be read back: {e}"),
    };
    if let (Some(sent), Some(read)) = (&parts.location, &mut back.location) {
        let close = |a: f64, b: f64| (a - b).abs() <= f64::EPSILON * a.abs().max(1.0) * 4.0;
        assert!(close(sent.latitude, read.latitude) && close(sent.longitude, read.longitude), "{sent:?} vs {read:?}");
        read.latitude = sent.latitude;
        read.longitude = sent.longitude;
    }
    assert_eq!(&back, parts, "stored parts read back differently: {json}");
}

/// Whether some object in the JSON document `data` names a key twice; `None` if it is not JSON.
pub fn has_repeated_keys(data: &[u8]) -> Option<bool> {
    serde_json::from_slice::<KeyScan>(data).ok().map(|s| s.0)
}

/// The result of walking one JSON value: whether any object inside it repeats a key.
pub struct KeyScan(pub bool);

impl<'de> serde::Deserialize<'de> for KeyScan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KeyScanVisitor)
    }
}

struct KeyScanVisitor;

impl<'de> Visitor<'de> for KeyScanVisitor {
    type Value = KeyScan;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<KeyScan, E> {
        Ok(KeyScan(false))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<KeyScan, E> {
        Ok(KeyScan(false))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<KeyScan, E> {
        Ok(KeyScan(false))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<KeyScan, E> {
        Ok(KeyScan(false))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<KeyScan, E> {
        Ok(KeyScan(false))
    }
    fn visit_unit<E: de::Error>(self) -> Result<KeyScan, E> {
        Ok(KeyScan(false))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyScan, A::Error> {
        let mut repeated = false;
        while let Some(KeyScan(r)) = seq.next_element()? {
            repeated |= r;
        }
        Ok(KeyScan(repeated))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyScan, A::Error> {
        let mut seen = HashSet::new();
        let mut repeated = false;
        while let Some(key) = map.next_key::<String>()? {
            repeated |= !seen.insert(key);
            let KeyScan(r) = map.next_value()?;
            repeated |= r;
        }
        Ok(KeyScan(repeated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_restated_rules_agree_with_the_examples() {
        assert!(is_e164("+12") && is_e164("+123456789012345"));
        assert!(!is_e164("+1") && !is_e164("+0123") && !is_e164("+1234567890123456") && !is_e164("12"));
        assert_eq!(strict_utc_micros("1970-01-01T00:00:01.5Z"), Some(1_500_000));
        assert_eq!(strict_utc_micros("2024-02-30T00:00:00Z"), None);
        assert_eq!(strict_utc_micros("2024-01-01T00:00:60Z"), None);
        assert_eq!(strict_utc_micros("2024-01-01T00:00:00.Z"), None);
        assert_eq!(has_repeated_keys(br#"{"a":[{"b":1,"b":2}]}"#), Some(true));
        assert_eq!(has_repeated_keys(br#"{"a":{"a":1}}"#), Some(false));
    }
}
