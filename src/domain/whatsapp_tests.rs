use proptest::prelude::*;

use super::*;
use crate::adapters::signature::sign_hex;
use crate::domain::delivery::{Choice, Contact, DeliveryStatus, Media, Place, ProviderError, Reaction, Source};
use crate::domain::message::Message;
use crate::domain::timestamp::Timestamp;

/// PROVIDERS.md's signature test vector: 499 bytes, signed with `test_app_secret`.
const VECTOR: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}]},"field":"messages"}]}]}"#;
const VECTOR_SIGNATURE: &str = "sha256=ded1d1d9621cffa39832ccf2b330fa476b4dc8ec2a5d102e1e554312b3f21d42";
const SHEENA: &str = r#"[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}]"#;

/// An envelope of one `messages` change with these `contacts` and update lists (`"messages":[…]`).
fn envelope_with(contacts: &str, updates: &str) -> String {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}},"contacts":{contacts},{updates}}},"field":"messages"}}]}}]}}"#
    )
}

fn messages(list: &[String]) -> String {
    format!(r#""messages":[{}]"#, list.join(","))
}

/// A message from Sheena of type `kind` whose `kind` object is `object`.
fn typed(kind: &str, object: &str) -> String {
    format!(
        r#"{{"from":"16505551234","id":"wamid.{kind}","timestamp":"1749416383","type":"{kind}","{kind}":{object}}}"#
    )
}

fn decode(body: &str) -> Delivery {
    decode_envelope(body.as_bytes()).expect("a valid envelope")
}

fn only_message_in(body: &str) -> Message {
    let delivery = decode(body);
    assert_eq!(delivery.rejected, []);
    assert_eq!((delivery.messages.len(), delivery.statuses.len()), (1, 0));
    delivery.messages.into_iter().next().unwrap()
}

fn one(message: &str) -> Message {
    only_message_in(&envelope_with(SHEENA, &messages(&[message.to_owned()])))
}

fn only_status_in(body: &str) -> DeliveryStatus {
    let delivery = decode(body);
    assert_eq!(delivery.rejected, []);
    assert_eq!((delivery.messages.len(), delivery.statuses.len()), (0, 1));
    delivery.statuses.into_iter().next().unwrap()
}

fn status(fields: &str) -> DeliveryStatus {
    only_status_in(&envelope_with("[]", &format!(r#""statuses":[{{"recipient_id":"16505551234",{fields}}}]"#)))
}

fn rejections(message: &str) -> Vec<Rejected> {
    decode(&envelope_with(SHEENA, &messages(&[message.to_owned()]))).rejected
}

fn text_of(m: &Message) -> Option<&str> {
    m.text.as_ref().map(|t| t.as_str())
}

fn secs(s: i64) -> Timestamp {
    Timestamp::from_micros(s * 1_000_000).unwrap()
}

#[test]
fn signature_vector_matches_and_its_body_decodes() {
    assert_eq!(VECTOR.len(), 499);
    assert_eq!(format!("sha256={}", sign_hex("test_app_secret", VECTOR.as_bytes())), VECTOR_SIGNATURE);
    assert!(is_envelope(VECTOR.as_bytes()));
    let m = only_message_in(VECTOR);
    assert_eq!(m.message_id.as_str(), "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=");
    assert_eq!(m.from.as_ref().map(|f| f.as_str()), Some("+16505551234"));
    assert_eq!(m.to.as_str(), "+15550783881");
    assert_eq!(m.ts, secs(1_749_416_383));
    assert_eq!((m.source, m.kind.as_str()), (Source::Whatsapp, "text"));
    assert_eq!(text_of(&m), Some("Does it come in another color?"));
    assert_eq!(m.parts.profile_name.as_deref(), Some("Sheena Nelson"));
    assert_eq!(m.parts.user_id, None);
}

#[test]
fn image_video_and_document_read_their_caption_and_media() {
    let image = one(&typed(
        "image",
        r#"{"caption":"Taj Mahal","mime_type":"image/jpeg","sha256":"SfIn=","id":"1003383421387256","url":"https://x/1"}"#,
    ));
    assert_eq!(text_of(&image), Some("Taj Mahal"));
    let expected = Media {
        id: Some("1003383421387256".into()),
        url: Some("https://x/1".into()),
        mime_type: Some("image/jpeg".into()),
        sha256: Some("SfIn=".into()),
        ..Media::default()
    };
    assert_eq!(image.parts.media, [expected]);
    let video = one(&typed("video", r#"{"caption":"Clip","mime_type":"video/mp4","id":"v1"}"#));
    assert_eq!((text_of(&video), video.parts.media[0].id.as_deref()), (Some("Clip"), Some("v1")));
    let doc =
        one(&typed("document", r#"{"caption":"Q3","filename":"q3.pdf","mime_type":"application/pdf","id":"d1"}"#));
    assert_eq!(text_of(&doc), Some("Q3"));
    assert_eq!(doc.parts.media[0].filename.as_deref(), Some("q3.pdf"));
}

#[test]
fn audio_and_sticker_carry_media_flags_and_no_text() {
    let audio = one(&typed("audio", r#"{"mime_type":"audio/ogg; codecs=opus","sha256":"h","id":"a1","voice":true}"#));
    assert_eq!((text_of(&audio), audio.parts.media[0].voice), (None, Some(true)));
    assert_eq!(audio.parts.media[0].mime_type.as_deref(), Some("audio/ogg; codecs=opus"));
    let sticker = one(&typed("sticker", r#"{"mime_type":"image/webp","sha256":"h","id":"s1","animated":false}"#));
    assert_eq!((text_of(&sticker), sticker.parts.media[0].animated), (None, Some(false)));
    assert_eq!(sticker.kind.as_str(), "sticker");
}

#[test]
fn location_reads_numbers_and_its_name_else_its_address() {
    let named = one(&typed(
        "location",
        r#"{"latitude":37.44221496582,"longitude":-122.1616,"name":"HQ","address":"1 Hacker Way"}"#,
    ));
    let place = Place {
        latitude: 37.442_214_965_82,
        longitude: -122.1616,
        name: Some("HQ".into()),
        address: Some("1 Hacker Way".into()),
        url: None,
    };
    assert_eq!((text_of(&named), named.parts.location.as_ref()), (Some("HQ"), Some(&place)));
    let unnamed = one(&typed("location", r#"{"latitude":1.5,"longitude":2,"address":"1 Hacker Way"}"#));
    assert_eq!(text_of(&unnamed), Some("1 Hacker Way"));
    assert_eq!(unnamed.parts.location.map(|p| p.longitude), Some(2.0));
    let nowhere = one(&typed("location", r#"{"latitude":"37.4","name":"HQ"}"#));
    assert_eq!((text_of(&nowhere), nowhere.parts.location.as_ref()), (Some("HQ"), None));
}

#[test]
fn shared_contacts_keep_names_and_phones_and_no_text() {
    let cards = r#"[{"name":{"formatted_name":"Ana Lima","first_name":"Ana"},"phones":[{"phone":"+1 (650) 555-0100","wa_id":"16505550100","type":"CELL"},{"phone":"+16505550101"}]},{"name":{}}]"#;
    let m = one(&typed("contacts", cards));
    let ana =
        Contact { name: Some("Ana Lima".into()), phones: vec!["+1 (650) 555-0100".into(), "+16505550101".into()] };
    assert_eq!(m.parts.contacts, [ana, Contact::default()]);
    assert_eq!(text_of(&m), None);
    // The message's sender profile is still Sheena's, not a shared card's.
    assert_eq!(m.parts.profile_name.as_deref(), Some("Sheena Nelson"));
}

#[test]
fn interactive_replies_become_choices_titled_as_seen() {
    let button =
        one(&typed("interactive", r#"{"type":"button_reply","button_reply":{"id":"cancel-button","title":"Cancel"}}"#));
    let expected = Choice {
        kind: "button_reply".into(),
        id: Some("cancel-button".into()),
        title: Some("Cancel".into()),
        description: None,
    };
    assert_eq!((text_of(&button), button.parts.choice.as_ref()), (Some("Cancel"), Some(&expected)));
    let row = r#"{"type":"list_reply","list_reply":{"id":"row-2","title":"Blue","description":"Navy blue, size M"}}"#;
    let list = one(&typed("interactive", row));
    assert_eq!(text_of(&list), Some("Blue"));
    let choice = list.parts.choice.unwrap();
    assert_eq!((choice.kind.as_str(), choice.id.as_deref()), ("list_reply", Some("row-2")));
    assert_eq!(choice.description.as_deref(), Some("Navy blue, size M"));
    let flow = one(&typed("interactive", r#"{"type":"nfm_reply","nfm_reply":{"response_json":"{}"}}"#));
    assert_eq!((text_of(&flow), flow.parts.choice.as_ref()), (None, None));
}

#[test]
fn template_button_reads_payload_and_text_and_its_context() {
    let m = one(
        r#"{"context":{"from":"15550783881","id":"wamid.sent-template"},"from":"16505551234","id":"wamid.b1","timestamp":"1739321024","type":"button","button":{"payload":"STOP","text":"Unsubscribe"}}"#,
    );
    let expected =
        Choice { kind: "button".into(), id: Some("STOP".into()), title: Some("Unsubscribe".into()), description: None };
    assert_eq!((text_of(&m), m.parts.choice.as_ref()), (Some("Unsubscribe"), Some(&expected)));
    assert_eq!(m.parts.reply_to.as_deref(), Some("wamid.sent-template"));
}

#[test]
fn reaction_and_its_removal() {
    let added = one(&typed("reaction", r#"{"message_id":"wamid.target","emoji":"\ud83d\udc4d"}"#));
    let reaction = Reaction { message_id: "wamid.target".into(), emoji: Some("👍".into()) };
    assert_eq!((text_of(&added), added.parts.reaction.as_ref()), (Some("👍"), Some(&reaction)));
    let removed = one(&typed("reaction", r#"{"message_id":"wamid.target"}"#));
    let reaction = Reaction { message_id: "wamid.target".into(), emoji: None };
    assert_eq!((text_of(&removed), removed.parts.reaction.as_ref()), (None, Some(&reaction)));
}

#[test]
fn system_message_reads_its_body_without_contacts() {
    let system = r#"{"body":"User A changed from 16505551234 to 16505559999","wa_id":"16505559999","type":"user_changed_number"}"#;
    let body = envelope_with("null", &messages(&[typed("system", system)])).replace(r#""contacts":null,"#, "");
    let m = only_message_in(&body);
    assert_eq!(text_of(&m), Some("User A changed from 16505551234 to 16505559999"));
    assert_eq!((m.kind.as_str(), m.parts.profile_name), ("system", None));
}

#[test]
fn unsupported_message_keeps_its_errors() {
    let m = one(
        r#"{"from":"16505551234","id":"wamid.u1","timestamp":"1749416383","errors":[{"code":131051,"title":"Message type unknown","message":"Message type unknown","error_data":{"details":"Message type is currently not supported."}}],"type":"unsupported","unsupported":{"type":"edit"}}"#,
    );
    let error = ProviderError {
        code: Some(131_051),
        title: Some("Message type unknown".into()),
        message: Some("Message type unknown".into()),
        details: Some("Message type is currently not supported.".into()),
    };
    assert_eq!((m.kind.as_str(), text_of(&m), m.parts.errors.as_slice()), ("unsupported", None, [error].as_slice()));
}

#[test]
fn unknown_future_type_is_kept_with_its_type_and_no_text() {
    let m = one(&typed("order", r#"{"catalog_id":"c1","text":"Two please","product_items":[]}"#));
    assert_eq!((m.kind.as_str(), text_of(&m)), ("order", None));
    assert!(m.raw.unwrap().as_str().contains("catalog_id"));
}

#[test]
fn profile_name_comes_from_the_matching_contact_or_the_only_one() {
    let two = r#"[{"profile":{"name":"Other"},"wa_id":"16505550000"},{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}]"#;
    let m = only_message_in(&envelope_with(two, &messages(&[typed("text", r#"{"body":"hi"}"#)])));
    assert_eq!(m.parts.profile_name.as_deref(), Some("Sheena Nelson"));
    let unnumbered = r#"[{"profile":{"name":"Only"}}]"#;
    let m = only_message_in(&envelope_with(unnumbered, &messages(&[typed("text", r#"{"body":"hi"}"#)])));
    assert_eq!(m.parts.profile_name.as_deref(), Some("Only"));
    let stranger = r#"[{"profile":{"name":"Other"},"wa_id":"16505550000"}]"#;
    let m = only_message_in(&envelope_with(stranger, &messages(&[typed("text", r#"{"body":"hi"}"#)])));
    assert_eq!(m.parts.profile_name, None);
}

#[test]
fn context_id_is_the_message_replied_to() {
    let m = one(
        r#"{"context":{"from":"15550783881","id":"wamid.original"},"from":"16505551234","id":"wamid.r1","timestamp":"1749416383","type":"text","text":{"body":"yes"}}"#,
    );
    assert_eq!(m.parts.reply_to.as_deref(), Some("wamid.original"));
}

#[test]
fn a_sender_known_only_by_user_id_has_no_number() {
    let contacts = r#"[{"profile":{"name":"Sheena"},"user_id":"IN.1410018717833190"}]"#;
    let msg = r#"{"from_user_id":"IN.1410018717833190","id":"wamid.n1","timestamp":"1749416383","type":"text","text":{"body":"hi"}}"#;
    let m = only_message_in(&envelope_with(contacts, &messages(&[msg.to_owned()])));
    assert_eq!(m.from, None);
    assert_eq!(m.parts.user_id.as_deref(), Some("IN.1410018717833190"));
    assert_eq!(m.parts.profile_name.as_deref(), Some("Sheena"));
    assert_eq!(m.sender_key(), Some("IN.1410018717833190"));
}

#[test]
fn user_id_may_come_from_the_contact_and_excuses_an_unreadable_number() {
    let contacts = r#"[{"profile":{"name":"S"},"wa_id":"16505551234","user_id":"US.42"}]"#;
    let m = only_message_in(&envelope_with(contacts, &messages(&[typed("text", r#"{"body":"hi"}"#)])));
    assert_eq!(
        (m.from.map(|f| f.as_str().to_owned()), m.parts.user_id),
        (Some("+16505551234".into()), Some("US.42".into()))
    );
    let odd = r#"{"from":"user-abc","from_user_id":"US.42","id":"wamid.o1","timestamp":"1749416383","type":"text","text":{"body":"hi"}}"#;
    let m = only_message_in(&envelope_with("[]", &messages(&[odd.to_owned()])));
    assert_eq!((m.from, m.parts.user_id.as_deref()), (None, Some("US.42")));
}

#[test]
fn updates_that_cannot_be_stored_are_rejected_by_rule_not_content() {
    let with =
        |fields: &str| format!(r#"{{"from":"16505551234","type":"text","text":{{"body":"secret words"}},{fields}}}"#);
    let cases = [
        (with(r#""timestamp":"1""#), "id: missing or not a string"),
        (with(r#""id":" ","timestamp":"1""#), "id: must not be empty"),
        (with(r#""id":"w","timestamp":"yesterday""#), TIMESTAMP_REASON),
        (with(r#""id":"w","timestamp":1.5"#), TIMESTAMP_REASON),
        (with(r#""id":"w""#), TIMESTAMP_REASON),
        (r#"{"id":"w","timestamp":"1","type":"text"}"#.to_owned(), "no sender: neither from nor from_user_id"),
        (
            r#"{"from":"abc","id":"w","timestamp":"1","type":"text"}"#.to_owned(),
            "from: must be E.164: '+' then 2-15 digits",
        ),
        (typed("text", &format!(r#"{{"body":"{}"}}"#, "x".repeat(4097))), "text: must be at most 4096 characters"),
        (r#"["not","an","object"]"#.to_owned(), "must be an object"),
    ];
    for (message, reason) in cases {
        let path = "entry[0].changes[0].value.messages[0]".to_owned();
        assert_eq!(rejections(&message), [Rejected { path, reason: reason.to_owned() }], "{message}");
    }
}

const TIMESTAMP_REASON: &str = "timestamp: must be Unix seconds, as a string of digits or an integer";

#[test]
fn timestamp_may_be_an_integer_and_text_may_be_exactly_the_limit() {
    let m =
        one(&typed("text", &format!(r#"{{"body":"{}"}}"#, "é".repeat(4096))).replace(r#""1749416383""#, "1749416383"));
    assert_eq!((m.ts, text_of(&m).map(|t| t.chars().count())), (secs(1_749_416_383), Some(4096)));
}

#[test]
fn business_number_is_required_and_normalised() {
    let body = envelope_with(SHEENA, &messages(&[typed("text", r#"{"body":"hi"}"#)]));
    let plus = body.replace(r#""display_phone_number":"15550783881""#, r#""display_phone_number":"+1 555-078-3881""#);
    assert_eq!(only_message_in(&plus).to.as_str(), "+15550783881");
    let missing = body.replace(r#""display_phone_number":"15550783881","#, "");
    let rejected = decode(&missing).rejected;
    assert_eq!(rejected[0].reason, "metadata.display_phone_number: missing or not a string");
    assert_eq!(rejected[0].path, "entry[0].changes[0].value.messages[0]");
}

#[test]
fn statuses_read_their_kind_time_recipient_and_pricing() {
    for word in ["sent", "delivered", "read", "played"] {
        let s = status(&format!(r#""id":"wamid.out1","status":"{word}","timestamp":"1751142710""#));
        assert_eq!((s.message_id.as_str(), s.status.as_str()), ("wamid.out1", word));
        assert_eq!(
            (s.ts, s.recipient.as_deref(), s.source),
            (secs(1_751_142_710), Some("+16505551234"), Source::Whatsapp)
        );
        assert!(s.errors.is_empty());
    }
    let priced = status(
        r#""id":"w","status":"sent","timestamp":"1","pricing":{"billable":true,"pricing_model":"PMP","category":"marketing"}"#,
    );
    assert_eq!(priced.pricing_category.as_deref(), Some("marketing"));
    let group = only_status_in(&envelope_with(
        "[]",
        r#""statuses":[{"id":"w","status":"read","timestamp":"1","recipient_id":"IN.77"}]"#,
    ));
    assert_eq!(group.recipient.as_deref(), Some("IN.77"));
}

#[test]
fn failed_status_keeps_its_errors_and_incomplete_statuses_are_rejected() {
    let failed = status(
        r#""id":"w","status":"failed","timestamp":"1","errors":[{"code":131049,"title":"Not delivered","error_data":{"details":"ecosystem"}}]"#,
    );
    let error = ProviderError {
        code: Some(131_049),
        title: Some("Not delivered".into()),
        message: None,
        details: Some("ecosystem".into()),
    };
    assert_eq!((failed.status.as_str(), failed.errors), ("failed", vec![error]));
    let list = r#""statuses":[{"status":"sent","timestamp":"1"},{"id":"w","timestamp":"1"},{"id":"w","status":"sent"},{"id":"w","status":"sent","timestamp":"1"}]"#;
    let delivery = decode(&envelope_with("[]", list));
    assert_eq!(delivery.statuses.len(), 1);
    let got: Vec<_> = delivery.rejected.iter().map(|r| (r.path.as_str(), r.reason.as_str())).collect();
    let base = "entry[0].changes[0].value.statuses";
    let want = [
        (format!("{base}[0]"), "id: missing or not a string"),
        (format!("{base}[1]"), "status: missing or not a string"),
        (format!("{base}[2]"), TIMESTAMP_REASON),
    ];
    assert_eq!(got, want.iter().map(|(p, r)| (p.as_str(), *r)).collect::<Vec<_>>());
}

#[test]
fn other_fields_are_ignored_under_a_bounded_name() {
    let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"account_update","value":{"event":"VERIFIED_ACCOUNT"}},{"field":"message_template_status_update","value":{}},{"field":"weird field \u00e9!","value":{}}]}]}"#;
    let delivery = decode(body);
    assert_eq!(delivery.ignored, ["account_update", "message_template_status_update", "other"]);
    assert!(delivery.is_empty() && delivery.rejected.is_empty());
}

#[test]
fn one_bad_message_is_rejected_at_its_path_and_the_rest_is_kept() {
    let good = |n: usize| typed("text", &format!(r#"{{"body":"m{n}"}}"#)).replace("wamid.text", &format!("wamid.{n}"));
    let first = messages(&[good(0)]);
    let second = messages(&[
        good(1),
        good(2),
        good(3),
        good(4).replace(r#""timestamp":"1749416383""#, r#""timestamp":"soon""#),
        good(5),
    ]);
    let change = |list: &str| {
        format!(r#"{{"value":{{"metadata":{{"display_phone_number":"15550783881"}},{list}}},"field":"messages"}}"#)
    };
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"changes":[{},{}]}}]}}"#,
        change(&first),
        change(&second)
    );
    let delivery = decode(&body);
    let ids: Vec<_> = delivery.messages.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids, ["wamid.0", "wamid.1", "wamid.2", "wamid.3", "wamid.5"]);
    let path = "entry[0].changes[1].value.messages[3]".to_owned();
    assert_eq!(delivery.rejected, [Rejected { path, reason: TIMESTAMP_REASON.to_owned() }]);
}

#[test]
fn raw_is_the_exact_slice_of_the_body() {
    let msg = r#"{ "from" : "16505551234", "id":"wamid.raw", "timestamp":"1", "type":"text", "text":{"body":"a\/b"} }"#;
    let body = envelope_with(SHEENA, &format!("\"messages\":[\n  {msg}\n]"));
    let m = only_message_in(&body);
    let raw = m.raw.unwrap();
    assert_eq!(raw.as_str(), msg);
    let start = body.find(msg).unwrap();
    assert_eq!(&body.as_bytes()[start..start + msg.len()], raw.as_str().as_bytes());
}

#[test]
fn escapes_are_decoded_in_text_and_kept_in_raw() {
    let m = one(&typed("text", r#"{"body":"caf\u00e9 \/ ol\u00e1 \ud83d\ude00"}"#));
    assert_eq!(text_of(&m), Some("café / olá 😀"));
    assert!(m.raw.unwrap().as_str().contains(r#""body":"caf\u00e9 \/ ol\u00e1 \ud83d\ude00""#));
}

#[test]
fn bodies_that_are_not_envelopes_are_errors() {
    let kind = |body: &str| decode_envelope(body.as_bytes()).unwrap_err()[0].kind;
    assert_eq!(kind("{not json"), "json_invalid");
    assert_eq!(kind(""), "json_invalid");
    assert_eq!(kind(r#"[{"object":"whatsapp_business_account"}]"#), "model_attributes_type");
    assert_eq!(kind("\"whatsapp_business_account\""), "model_attributes_type");
    assert_eq!(kind(r#"{"object":"whatsapp_business_account","entry":{}}"#), "list_type");
    assert_eq!(kind(r#"{"object":"whatsapp_business_account"}"#), "missing");
    assert_eq!(kind(r#"{"object":"page","entry":[]}"#), "value_error");
    assert_eq!(kind(r#"{"object":"whatsapp_business_account","entry":[]} x"#), "json_invalid");
}

#[test]
fn broken_parts_inside_an_envelope_are_rejected_alone() {
    let body = r#"{"object":"whatsapp_business_account","entry":[7,{"changes":{}},{"changes":[{"value":{}},{"field":"messages","value":[]},{"field":"messages","value":{"messages":{}}},["messages",{}]]},[[]]]}"#;
    let got: Vec<_> = decode(body).rejected.into_iter().map(|r| r.path).collect();
    let want = [
        "entry[0]",
        "entry[1].changes",
        "entry[2].changes[0].field",
        "entry[2].changes[1].value",
        "entry[2].changes[2].value.messages",
        "entry[2].changes[3]",
        "entry[3]",
    ];
    assert_eq!(got, want);
}

#[test]
fn a_thousand_messages_across_entries_and_changes_decode_in_order() {
    let change = |e: usize, c: usize| {
        let list: Vec<_> = (0..50)
            .map(|i| typed("text", r#"{"body":"x"}"#).replace("wamid.text", &format!("wamid.{e}-{c}-{i}")))
            .collect();
        format!(
            r#"{{"value":{{"metadata":{{"display_phone_number":"15550783881"}},{}}},"field":"messages"}}"#,
            messages(&list)
        )
    };
    let entry = |e: usize| {
        format!(r#"{{"id":"{e}","changes":[{}]}}"#, (0..5).map(|c| change(e, c)).collect::<Vec<_>>().join(","))
    };
    let entries: Vec<_> = (0..4).map(entry).collect();
    let body = format!(r#"{{"object":"whatsapp_business_account","entry":[{}]}}"#, entries.join(","));
    let delivery = decode(&body);
    assert_eq!((delivery.messages.len(), delivery.rejected.len()), (1000, 0));
    let expected = (0..4).flat_map(|e| (0..5).flat_map(move |c| (0..50).map(move |i| format!("wamid.{e}-{c}-{i}"))));
    assert!(delivery.messages.iter().map(|m| m.message_id.as_str().to_owned()).eq(expected));
}

#[test]
fn envelope_detection_reads_only_the_top_level_object_key() {
    assert!(is_envelope(br#" {"object":"whatsapp_business_account""#));
    assert!(is_envelope(br#"{"entry":[{"object":"x"}],"object":"whatsapp_business_account"}"#));
    assert!(is_envelope(br#"{"obj\u0065ct":"whatsapp_business_account"}"#));
    assert!(!is_envelope(br#"{"message_id":"m1","from":"+12","to":"+12","ts":"2025-01-15T10:00:00Z"}"#));
    assert!(!is_envelope(br#"{"entry":{"object":"whatsapp_business_account"}}"#));
    assert!(!is_envelope(br#"{"object":["whatsapp_business_account"]}"#));
    assert!(!is_envelope(br#"[{"object":"whatsapp_business_account"}]"#));
    assert!(!is_envelope(b""));
    assert!(!is_envelope(&[b'['; 100_000]));
    assert!(!is_envelope(b"\xff\xfe{"));
}

proptest! {
    #[test]
    fn no_input_makes_the_decoder_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = is_envelope(&body);
        let _ = decode_envelope(&body);
    }

    #[test]
    fn any_text_without_nul_is_read_back_unescaped(text in "[^\\x00]{0,64}") {
        let body = envelope_with(SHEENA, &messages(&[typed("text", &format!(r#"{{"body":{}}}"#, serde_json::json!(text)))]));
        let m = only_message_in(&body);
        prop_assert_eq!(text_of(&m), Some(text.as_str()));
    }
}

fn fixture(body: &str) -> Delivery {
    assert!(is_envelope(body.as_bytes()));
    let delivery = decode(body);
    assert_eq!(delivery.rejected, []);
    assert_eq!(delivery.messages.len() + delivery.statuses.len(), 1);
    delivery
}

fn fixture_message(body: &str) -> Message {
    let m = fixture(body).messages.remove(0);
    assert_eq!((m.from.as_ref().map(|f| f.as_str()), m.to.as_str()), (Some("+16505551234"), "+15550783881"));
    assert_eq!(m.parts.profile_name.as_deref(), Some("Sheena Nelson"));
    let raw = m.raw.as_ref().unwrap().as_str();
    assert!(body.contains(raw) && raw.starts_with("{\"") && raw.ends_with('}'));
    m
}

#[test]
fn fixture_text() {
    let body = include_str!("../../examples/whatsapp/text.json");
    assert_eq!(body.trim_end(), VECTOR);
    let m = fixture_message(body);
    assert_eq!((m.kind.as_str(), text_of(&m)), ("text", Some("Does it come in another color?")));
}

#[test]
fn fixture_image() {
    let m = fixture_message(include_str!("../../examples/whatsapp/image.json"));
    assert_eq!((m.kind.as_str(), text_of(&m), m.ts), ("image", Some("Taj Mahal"), secs(1_744_344_496)));
    let media = &m.parts.media[0];
    assert_eq!((media.id.as_deref(), media.mime_type.as_deref()), (Some("1003383421387256"), Some("image/jpeg")));
    assert_eq!(media.sha256.as_deref(), Some("SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI="));
    assert!(m.raw.unwrap().as_str().contains(r#""mime_type":"image\/jpeg""#));
}

#[test]
fn fixture_interactive() {
    let m = fixture_message(include_str!("../../examples/whatsapp/interactive.json"));
    assert_eq!(m.message_id.as_str(), "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQ0QUJDREVGMDEyMzQ1Njc4OUFCAA==");
    assert_eq!((m.kind.as_str(), text_of(&m)), ("interactive", Some("Cancel")));
    assert_eq!(m.parts.choice.unwrap().id.as_deref(), Some("cancel-button"));
    assert_eq!(m.parts.reply_to.as_deref(), Some("wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="));
}

#[test]
fn fixture_reaction() {
    let m = fixture_message(include_str!("../../examples/whatsapp/reaction.json"));
    assert_eq!((m.kind.as_str(), text_of(&m)), ("reaction", Some("👍")));
    assert_eq!(m.parts.reaction.unwrap().message_id, "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI0QTFCMkMzRDRFNUY2MDcxODIA");
}

#[test]
fn fixture_unsupported() {
    let m = fixture_message(include_str!("../../examples/whatsapp/unsupported.json"));
    assert_eq!((m.kind.as_str(), text_of(&m)), ("unsupported", None));
    assert_eq!(m.parts.errors[0].code, Some(131_051));
    assert_eq!(m.parts.errors[0].title.as_deref(), Some("Message type unknown"));
}

#[test]
fn fixture_status_delivered() {
    let s = fixture(include_str!("../../examples/whatsapp/status_delivered.json")).statuses.remove(0);
    assert_eq!((s.status.as_str(), s.recipient.as_deref()), ("delivered", Some("+16505551234")));
    assert_eq!((s.pricing_category.as_deref(), s.ts), (Some("utility"), secs(1_751_142_710)));
}

#[test]
fn fixture_status_failed() {
    let s = fixture(include_str!("../../examples/whatsapp/status_failed.json")).statuses.remove(0);
    assert_eq!(s.message_id.as_str(), "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA");
    assert_eq!((s.status.as_str(), s.errors[0].code, s.ts), ("failed", Some(131_049), secs(1_751_142_888)));
    assert!(s.errors[0].details.as_deref().is_some_and(|d| d.starts_with("In order to maintain")));
    assert!(s.raw.unwrap().as_str().contains(r#"https:\/\/developers.facebook.com"#));
}

#[test]
fn a_timestamp_past_year_9999_is_rejected_alone() {
    let last = typed("text", r#"{"body":"x"}"#).replace("1749416383", "253402300799");
    let beyond =
        typed("text", r#"{"body":"y"}"#).replace("1749416383", "253402300800").replace("wamid.text", "wamid.late");
    let d = decode(&envelope_with("[]", &messages(&[last, beyond])));
    assert_eq!(d.messages.len(), 1);
    assert_eq!(d.messages[0].ts.to_rfc3339(), "9999-12-31T23:59:59Z");
    assert_eq!(d.rejected.len(), 1);
    assert!(d.rejected[0].path.ends_with("messages[1]"), "{:?}", d.rejected);
}
