//! Meta's WhatsApp Cloud API envelope, as raw bytes, through `is_envelope` and `decode_envelope`.
//!
//! Beyond "no panic": every decoded update obeys the storage rules and its `raw` is a slice of
//! the body; and wherever serde_json's own reading of the body is unambiguous (no repeated key),
//! the envelope is walked here independently: each `messages[i]` and `statuses[i]` of every
//! `messages` change is either decoded (and is the very object the body holds) or rejected at its
//! own path, every structural problem is rejected at its path, and nothing else is.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use webhook_ingest::domain::delivery::{Delivery, Source};
use webhook_ingest::domain::whatsapp::{ENVELOPE_OBJECT, decode_envelope, is_envelope};
use webhook_ingest_fuzz::{assert_message_rules, assert_status_rules, has_repeated_keys};

fuzz_target!(|data: &[u8]| {
    let envelope = is_envelope(data);
    let decoded = decode_envelope(data);
    let delivery = match decoded {
        Ok(delivery) => delivery,
        Err(errors) => {
            assert!(!errors.is_empty(), "a refusal says why");
            assert!(errors.iter().all(|e| e.loc[0] == "body"));
            return oracle_refuses_too(data);
        }
    };
    assert!(envelope, "what decodes as an envelope is recognised as one");
    for m in &delivery.messages {
        assert_message_rules(m);
        assert_eq!(m.source, Source::Whatsapp);
        let raw = m.raw.as_ref().expect("a Cloud API message keeps its object");
        assert!(contains(data, raw.as_str().as_bytes()), "raw is a slice of the body");
    }
    for s in &delivery.statuses {
        assert_status_rules(s);
        assert_eq!(s.source, Source::Whatsapp);
        let raw = s.raw.as_ref().expect("a Cloud API status keeps its object");
        assert!(contains(data, raw.as_str().as_bytes()), "raw is a slice of the body");
    }
    for label in &delivery.ignored {
        let word = (1..=64).contains(&label.len()) && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        assert!(word, "ignored label {label:?} is a bounded metric label");
    }
    let mut paths: Vec<&str> = delivery.rejected.iter().map(|r| r.path.as_str()).collect();
    assert!(paths.iter().all(|p| p.starts_with("entry[")), "{paths:?}");
    paths.sort_unstable();
    paths.dedup();
    assert_eq!(paths.len(), delivery.rejected.len(), "each path is rejected at most once");

    if has_repeated_keys(data) == Some(false) {
        let Ok(body) = serde_json::from_slice::<Value>(data) else { return };
        check_against_walk(&body, &delivery);
    }
});

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// A body the decoder refused must not be a well-formed envelope.
fn oracle_refuses_too(data: &[u8]) {
    if has_repeated_keys(data) != Some(false) {
        return;
    }
    let Ok(Value::Object(top)) = serde_json::from_slice::<Value>(data) else { return };
    let object_ok = top.get("object").and_then(Value::as_str) == Some(ENVELOPE_OBJECT);
    let entry_ok = top.get("entry").is_some_and(Value::is_array);
    assert!(!(object_ok && entry_ok), "refused an envelope whose object and entry are right");
}

/// What the walk expects, in document order.
enum Expect<'v> {
    /// A structural rejection at this path.
    Structural(String),
    /// An update at this path: decoded as this object, or rejected.
    Message(String, &'v Value),
    Status(String, &'v Value),
    /// A change of another field, under this label.
    Ignored(String),
}

/// `null` reads as absent, as `Option` fields do.
fn present<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.get(key).filter(|v| !v.is_null())
}

fn walk(body: &Value) -> Vec<Expect<'_>> {
    let mut out = Vec::new();
    let entries = body.get("entry").and_then(Value::as_array).expect("a decoded envelope has an entry list");
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("entry[{i}]");
        if !entry.is_object() {
            out.push(Expect::Structural(path));
            continue;
        }
        let Some(changes) = present(entry, "changes") else { continue };
        let Some(changes) = changes.as_array() else {
            out.push(Expect::Structural(format!("{path}.changes")));
            continue;
        };
        for (j, change) in changes.iter().enumerate() {
            let path = format!("{path}.changes[{j}]");
            if !change.is_object() {
                out.push(Expect::Structural(path));
                continue;
            }
            let Some(field) = present(change, "field").and_then(Value::as_str) else {
                out.push(Expect::Structural(format!("{path}.field")));
                continue;
            };
            if field != "messages" {
                let word = !field.is_empty()
                    && field.len() <= 64
                    && field.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                out.push(Expect::Ignored(if word { field.to_owned() } else { "other".to_owned() }));
                continue;
            }
            let path = format!("{path}.value");
            let Some(value) = present(change, "value").filter(|v| v.is_object()) else {
                out.push(Expect::Structural(path));
                continue;
            };
            for (list, is_message) in [("messages", true), ("statuses", false)] {
                let path = format!("{path}.{list}");
                let Some(items) = present(value, list) else { continue };
                let Some(items) = items.as_array() else {
                    out.push(Expect::Structural(path));
                    continue;
                };
                for (k, item) in items.iter().enumerate() {
                    let path = format!("{path}[{k}]");
                    out.push(if is_message { Expect::Message(path, item) } else { Expect::Status(path, item) });
                }
            }
        }
    }
    out
}

fn check_against_walk(body: &Value, delivery: &Delivery) {
    let mut rejected = delivery.rejected.iter().peekable();
    let mut messages = delivery.messages.iter();
    let mut statuses = delivery.statuses.iter();
    let mut ignored = Vec::new();
    for expect in walk(body) {
        let is_next_rejected = |path: &str, rejected: &mut std::iter::Peekable<_>| {
            let hit = rejected.peek().is_some_and(|r: &&webhook_ingest::domain::delivery::Rejected| r.path == path);
            if hit {
                rejected.next();
            }
            hit
        };
        match expect {
            Expect::Structural(path) => {
                assert!(is_next_rejected(&path, &mut rejected), "{path} must be rejected, got {:?}", delivery.rejected);
            }
            Expect::Message(path, item) => {
                if !is_next_rejected(&path, &mut rejected) {
                    let m = messages.next().unwrap_or_else(|| panic!("{path} neither decoded nor rejected"));
                    let raw = m.raw.as_ref().expect("raw kept").as_str();
                    let same: Value = serde_json::from_str(raw).expect("raw is JSON");
                    assert_eq!(&same, item, "{path} decoded from another object");
                    assert_eq!(Some(m.message_id.as_str()), item.get("id").and_then(Value::as_str));
                    assert_eq!(Some(m.kind.as_str()), item.get("type").and_then(Value::as_str));
                }
            }
            Expect::Status(path, item) => {
                if !is_next_rejected(&path, &mut rejected) {
                    let s = statuses.next().unwrap_or_else(|| panic!("{path} neither decoded nor rejected"));
                    let raw = s.raw.as_ref().expect("raw kept").as_str();
                    let same: Value = serde_json::from_str(raw).expect("raw is JSON");
                    assert_eq!(&same, item, "{path} decoded from another object");
                    assert_eq!(Some(s.message_id.as_str()), item.get("id").and_then(Value::as_str));
                    assert_eq!(Some(s.status.as_str()), item.get("status").and_then(Value::as_str));
                }
            }
            Expect::Ignored(label) => ignored.push(label),
        }
    }
    assert!(rejected.next().is_none(), "rejections the walk does not expect: {:?}", delivery.rejected);
    assert!(messages.next().is_none(), "more messages than the body holds");
    assert!(statuses.next().is_none(), "more statuses than the body holds");
    assert_eq!(ignored, delivery.ignored);
}
