//! Twilio's webhook body, as raw bytes: a form, or the same parameters as a JSON object.
//!
//! Beyond "no panic": an accepted body yields exactly one update, received now, keeping the body
//! as its raw object and surviving storage; and the parameters, read here independently (first
//! value of each name, empty meaning absent), decide exactly what is accepted and what it holds.

#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use webhook_ingest::domain::delivery::Source;
use webhook_ingest::domain::timestamp::Timestamp;
use webhook_ingest::domain::twilio::decode_form;
use webhook_ingest_fuzz::{assert_message_rules, assert_status_rules, is_e164, is_kind, is_message_id, is_text};

/// The parameters as Twilio means them, or `None` when the body is neither a form nor an object.
fn params(data: &[u8]) -> Option<HashMap<String, String>> {
    let mut out = HashMap::new();
    if data.trim_ascii_start().first() == Some(&b'{') {
        let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(data) else { return None };
        for (k, v) in object {
            out.insert(k, v.as_str().map_or_else(|| v.to_string(), str::to_owned));
        }
    } else {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(data).ok()?;
        for (k, v) in pairs {
            out.entry(k).or_insert(v);
        }
    }
    out.retain(|_, v| !v.is_empty());
    Some(out)
}

fn address(p: &HashMap<String, String>, name: &str) -> Option<String> {
    let v = p.get(name)?;
    Some(v.strip_prefix("whatsapp:").unwrap_or(v).to_owned())
}

fuzz_target!(|data: &[u8]| {
    let now = Timestamp::from_micros(1_736_935_200_123_456).expect("a fixed instant");
    let decoded = decode_form(data, now);
    let Some(p) = params(data) else {
        assert!(decoded.is_err(), "accepted a body that is neither a form nor an object");
        return;
    };
    let sid = ["MessageSid", "SmsMessageSid", "SmsSid"].iter().find_map(|n| p.get(*n));
    let sid_ok = sid.is_some_and(|s| is_message_id(s));
    let status = p.get("MessageStatus").filter(|s| *s != "received");
    let delivery = match (decoded, status) {
        (Err(errors), status) => {
            assert!(!errors.is_empty(), "a refusal says why");
            assert!(errors.iter().all(|e| e.loc[0] == "body"));
            let would_accept = match status {
                Some(status) => sid_ok && is_kind(status),
                None => {
                    sid_ok
                        && address(&p, "From").is_some_and(|a| is_e164(&a))
                        && address(&p, "To").is_some_and(|a| is_e164(&a))
                        && p.get("Body").is_none_or(|b| is_text(b))
                }
            };
            assert!(!would_accept, "refused a webhook whose parameters are all valid: {errors:?}");
            return;
        }
        (Ok(delivery), _) => delivery,
    };

    assert_eq!(delivery.messages.len() + delivery.statuses.len(), 1, "one update per Twilio request");
    assert!(delivery.rejected.is_empty() && delivery.ignored.is_empty());
    assert!(sid_ok);
    if let Some(m) = delivery.messages.first() {
        assert!(status.is_none(), "a status callback became a message");
        assert_message_rules(m);
        assert_eq!((m.ts, m.source), (now, Source::Twilio));
        assert_eq!(Some(m.message_id.as_str()), sid.map(String::as_str));
        assert_eq!(m.from.as_ref().map(|f| f.as_str().to_owned()), address(&p, "From"));
        assert_eq!(Some(m.to.as_str().to_owned()), address(&p, "To"));
        assert_eq!(m.text.as_ref().map(|t| t.as_str()), p.get("Body").map(String::as_str));
        assert!(m.parts.media.len() <= 10, "at most 10 media");
        let whatsapp = p.get("From").is_some_and(|f| f.starts_with("whatsapp:"));
        assert_eq!(m.parts.channel.as_deref(), Some(if whatsapp { "whatsapp" } else { "sms" }));
        let raw = m.raw.as_ref().expect("the form is kept");
        assert_eq!(raw.as_str(), String::from_utf8_lossy(data));
    }
    if let Some(s) = delivery.statuses.first() {
        assert_status_rules(s);
        assert_eq!((s.ts, s.source), (now, Source::Twilio));
        assert_eq!(Some(s.status.as_str()), status.map(String::as_str));
        assert_eq!(Some(s.message_id.as_str()), sid.map(String::as_str));
        assert_eq!(s.recipient, address(&p, "To"));
        let raw = s.raw.as_ref().expect("the form is kept");
        assert_eq!(raw.as_str(), String::from_utf8_lossy(data));
    }
});
