//! The flat JSON message of `POST /webhook`, as raw bytes.
//!
//! Beyond "no panic": an accepted body obeys every field rule, and wherever serde_json's own
//! reading of the body is unambiguous, the decoder agrees with the rules restated here, field by
//! field, both on what it accepts and on which fields it reports as broken.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use webhook_ingest::domain::delivery::{MessageParts, Source};
use webhook_ingest::domain::payload::decode_message;
use webhook_ingest::domain::timestamp::Timestamp;
use webhook_ingest_fuzz::{
    assert_message_rules, has_repeated_keys, is_e164, is_message_id, is_text, strict_utc_micros,
};

/// The fields in the order the decoder checks and reports them.
const FIELDS: [&str; 5] = ["message_id", "from", "to", "ts", "text"];

fuzz_target!(|data: &[u8]| {
    let decoded = decode_message(data);
    assert_eq!(decoded, decode_message(data), "decoding is deterministic");
    match &decoded {
        Ok(m) => {
            assert_message_rules(m);
            assert!(m.from.is_some(), "a flat message has a sender number");
            assert_eq!(m.source, Source::Webhook);
            assert_eq!(m.kind.as_str(), "text");
            assert_eq!(m.parts, MessageParts::default());
            assert!(m.raw.is_none(), "the flat body is the message: no raw copy");
            assert_eq!(Timestamp::parse_utc(&m.ts.to_rfc3339()), Ok(m.ts), "ts survives its own rendering");
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "a rejection says why");
            for e in errors {
                assert_eq!(e.loc[0], "body");
                assert!(e.loc.len() == 1 || (e.loc.len() == 2 && FIELDS.contains(&e.loc[1].as_str())), "{:?}", e.loc);
            }
        }
    }

    // The oracle: only for a JSON object with no repeated key, which every reader sees alike.
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(data) else { return };
    if has_repeated_keys(data) != Some(false) {
        return;
    }
    let string = |name: &str| body.get(name).and_then(Value::as_str);
    let id_ok = string("message_id").is_some_and(is_message_id);
    let from_ok = string("from").is_some_and(is_e164);
    let to_ok = string("to").is_some_and(is_e164);
    let ts_micros = string("ts").and_then(strict_utc_micros);
    let text_ok = match body.get("text") {
        None | Some(Value::Null) => true,
        Some(Value::String(t)) => is_text(t),
        Some(_) => false,
    };
    let verdicts = [id_ok, from_ok, to_ok, ts_micros.is_some(), text_ok];
    match decoded {
        Ok(m) => {
            assert_eq!(verdicts, [true; 5], "accepted a body the rules refuse");
            assert_eq!(Some(m.message_id.as_str()), string("message_id"));
            assert_eq!(m.from.as_ref().map(|f| f.as_str()), string("from"));
            assert_eq!(Some(m.to.as_str()), string("to"));
            assert_eq!(Some(m.ts.as_micros()), ts_micros);
            assert_eq!(m.text.as_ref().map(|t| t.as_str()), string("text"));
        }
        Err(errors) => {
            let broken: Vec<&str> = FIELDS.iter().zip(verdicts).filter(|(_, ok)| !ok).map(|(f, _)| *f).collect();
            let reported: Vec<&str> = errors.iter().filter_map(|e| e.loc.get(1)).map(String::as_str).collect();
            assert_eq!(reported, broken, "every broken field, and only those, in field order");
        }
    }
});
