//! Property-based fuzzing of every parser that reads untrusted input: the webhook payload, the
//! signature headers and the list query. Bounded by case count (PROPTEST_CASES overrides), so CI
//! time stays fixed. Properties: no panic, and whatever is accepted obeys the rules.

use proptest::prelude::*;
use webhook_ingest::adapters::signature::{HmacVerifier, sign_hex};
use webhook_ingest::domain::payload::decode_message;
use webhook_ingest::domain::ports::SignatureVerifier;
use webhook_ingest::domain::query::RawListQuery;
use webhook_ingest::domain::signature::{PresentedSignatures, StandardWebhookHeaders};
use webhook_ingest::domain::timestamp::Timestamp;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 2_000, ..ProptestConfig::default() }
}

/// JSON objects whose fields are near-misses of valid ones, plus arbitrary extra keys.
fn payload() -> impl Strategy<Value = String> {
    let id = prop_oneof![
        Just(serde_json::json!("m1")),
        ".{0,300}".prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from)
    ];
    let msisdn = prop_oneof![
        "\\+[0-9]{0,17}".prop_map(serde_json::Value::from),
        "[+ 0-9a-z]{0,18}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null)
    ];
    let ts = prop_oneof![
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,10})?(Z|[+-][0-9]{2}:[0-9]{2})?"
            .prop_map(serde_json::Value::from),
        ".{0,40}".prop_map(serde_json::Value::from),
    ];
    let text = prop_oneof![
        Just(serde_json::Value::Null),
        ".{0,50}".prop_map(serde_json::Value::from),
        any::<bool>().prop_map(serde_json::Value::from)
    ];
    (id, msisdn.clone(), msisdn, ts, text, proptest::option::of("[a-z_]{1,8}")).prop_map(
        |(id, from, to, ts, text, extra)| {
            let mut m = serde_json::json!({"message_id": id, "from": from, "to": to, "ts": ts, "text": text});
            if let Some(k) = extra {
                m[k] = serde_json::json!({"nested": [1, 2, 3]});
            }
            m.to_string()
        },
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic_the_payload_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_message(&bytes);
    }

    #[test]
    fn accepted_payloads_obey_every_field_rule(body in payload()) {
        match decode_message(body.as_bytes()) {
            Ok(m) => {
                prop_assert!(!m.message_id.as_str().trim().is_empty() && m.message_id.as_str().chars().count() <= 256);
                let from = m.from.as_ref().map(|f| f.as_str());
                prop_assert!(from.is_some(), "a flat message always has a sender number");
                for n in [from.unwrap_or_default(), m.to.as_str()] {
                    let digits = &n[1..];
                    prop_assert!(n.starts_with('+') && (2..=15).contains(&digits.len()) && !digits.starts_with('0'));
                    prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
                }
                let reparsed = Timestamp::parse_utc(&m.ts.to_rfc3339());
                prop_assert_eq!(reparsed, Ok(m.ts));
                prop_assert!(m.text.as_ref().is_none_or(|t| t.as_str().chars().count() <= 4096));
            }
            Err(errors) => prop_assert!(!errors.is_empty()),
        }
    }

    #[test]
    fn random_signature_headers_never_verify_or_panic(
        hex in proptest::collection::vec(".{0,80}", 0..3),
        id in proptest::option::of(".{0,20}"),
        ts in proptest::option::of("-?[0-9]{0,12}|.{0,12}"),
        sig in proptest::option::of("(v1,[A-Za-z0-9+/=]{0,50} ?){0,3}|.{0,60}"),
        body in ".{0,64}",
    ) {
        let verifier = HmacVerifier::new(vec!["fuzz-secret-0123456789".into()], 300).unwrap();
        let standard = (id.is_some() || ts.is_some() || sig.is_some())
            .then_some(StandardWebhookHeaders { id, timestamp: ts, signature: sig });
        let presented = PresentedSignatures { hmac_hex: hex, standard, twilio: None };
        let now = Timestamp::from_micros(1_700_000_000_000_000).unwrap();
        prop_assert!(verifier.verify(body.as_bytes(), &presented, now).is_err());
    }

    #[test]
    fn a_correct_signature_verifies_among_garbage(garbage in proptest::collection::vec(".{0,70}", 0..4), body in ".{0,64}") {
        let verifier = HmacVerifier::new(vec!["fuzz-secret-0123456789".into()], 300).unwrap();
        let mut hmac_hex = garbage;
        hmac_hex.push(sign_hex("fuzz-secret-0123456789", body.as_bytes()));
        let presented = PresentedSignatures { hmac_hex, ..PresentedSignatures::default() };
        prop_assert!(verifier.verify(body.as_bytes(), &presented, Timestamp::from_micros(0).unwrap()).is_ok());
    }

    #[test]
    fn arbitrary_list_queries_never_panic_and_accepted_ones_are_in_range(
        limit in proptest::option::of(".{0,6}|[0-9]{1,4}"),
        offset in proptest::option::of(".{0,6}|[0-9]{1,21}"),
        from in proptest::option::of(".{0,18}"),
        since in proptest::option::of(".{0,30}"),
        q in proptest::option::of(".{0,30}"),
    ) {
        if let Ok(query) = (RawListQuery { limit, offset, from, since, q, ..RawListQuery::default() }).parse() {
            prop_assert!((1..=100).contains(&query.page.limit));
            prop_assert!(i64::try_from(query.page.offset).is_ok());
        }
    }
}

/// Cloud API envelopes whose parts are near-misses: wrong types where objects, lists and strings
/// belong, missing keys, escapes.
fn envelope() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        Just(serde_json::Value::Null),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,20}".prop_map(serde_json::Value::from),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
    ];
    let message = (scalar.clone(), scalar.clone(), scalar.clone(), "[a-z_]{1,12}").prop_map(|(from, id, ts, kind)| {
        serde_json::json!({"from": from, "id": id, "timestamp": ts, "type": kind, kind.clone(): {"body": "x", "caption": 1}})
    });
    let messages = proptest::collection::vec(message, 0..4);
    (messages, scalar.clone(), scalar, "[a-z_]{1,16}").prop_map(|(messages, statuses, metadata, field)| {
        serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
            {"field": "messages", "value": {"metadata": metadata, "messages": messages, "statuses": statuses}},
            {"field": field, "value": {}}
        ]}]})
        .to_string()
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic_the_provider_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = webhook_ingest::domain::whatsapp::is_envelope(&bytes);
        let _ = webhook_ingest::domain::whatsapp::decode_envelope(&bytes);
        let _ = webhook_ingest::domain::twilio::decode_form(&bytes, Timestamp::from_micros(0).unwrap());
    }

    #[test]
    fn near_miss_envelopes_decode_or_reject_each_update_with_its_path(body in envelope()) {
        let delivery = webhook_ingest::domain::whatsapp::decode_envelope(body.as_bytes()).expect("a valid envelope");
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        let sent = parsed["entry"][0]["changes"][0]["value"]["messages"].as_array().map_or(0, Vec::len);
        let rejected_messages = delivery.rejected.iter().filter(|r| r.path.contains(".messages[")).count();
        prop_assert_eq!(delivery.messages.len() + rejected_messages, sent, "each message is kept or rejected");
        for r in &delivery.rejected {
            prop_assert!(r.path.starts_with("entry[0].changes[0]"), "{}", r.path);
        }
        for m in &delivery.messages {
            prop_assert!(m.from.is_some() || m.parts.user_id.is_some(), "a stored message has a sender");
            let raw = m.raw.as_ref().expect("raw kept");
            prop_assert!(body.contains(raw.as_str()), "raw is a slice of the body");
        }
    }

    #[test]
    fn arbitrary_forms_never_panic_the_twilio_decoder(pairs in proptest::collection::vec(("[A-Za-z0-9]{0,12}", ".{0,24}"), 0..12)) {
        let body = serde_urlencoded::to_string(&pairs).unwrap();
        if let Ok(d) = webhook_ingest::domain::twilio::decode_form(body.as_bytes(), Timestamp::from_micros(0).unwrap()) {
            prop_assert_eq!(d.messages.len() + d.statuses.len(), 1, "one update per Twilio request");
        }
    }
}

/// Caught by the `twilio_form` fuzz target's storage property (fuzz/regressions/
/// twilio_form-infinite-latitude.form): `Latitude=1e999` parsed as an infinite float, which the
/// stored parts wrote as `null` and could then never read back, so every page holding the message
/// failed. A coordinate that is not finite now means no location.
#[test]
fn twilio_coordinates_that_are_not_finite_give_no_location_and_parts_read_back() {
    use webhook_ingest::domain::delivery::MessageParts;
    let now = Timestamp::from_micros(0).unwrap();
    let minimised = b"MessageSid=S&From=%2B10&To=%2B14&Latitude=1e999&Longitude=1";
    let spellings = ["Latitude=inf&Longitude=1", "Latitude=1&Longitude=-infinity", "Latitude=NaN&Longitude=NaN"];
    let bodies = std::iter::once(minimised.to_vec())
        .chain(spellings.iter().map(|c| format!("MessageSid=S&From=%2B10&To=%2B14&{c}").into_bytes()));
    for body in bodies {
        let delivery = webhook_ingest::domain::twilio::decode_form(&body, now).expect("a valid message");
        let parts = &delivery.messages[0].parts;
        assert_eq!(parts.location, None, "{}", String::from_utf8_lossy(&body));
        let stored = serde_json::to_string(parts).unwrap();
        assert_eq!(&serde_json::from_str::<MessageParts>(&stored).unwrap(), parts, "{stored}");
    }
    let finite = webhook_ingest::domain::twilio::decode_form(
        b"MessageSid=S&From=%2B10&To=%2B14&Latitude=3.75e1&Longitude=-1",
        now,
    );
    let place = finite.unwrap().messages.remove(0).parts.location.expect("finite coordinates are a place");
    assert_eq!((place.latitude, place.longitude), (37.5, -1.0));
}
