use super::*;

const SMS: &str = include_str!("../../examples/twilio/sms.form");
const WHATSAPP_IMAGE: &str = include_str!("../../examples/twilio/whatsapp_image.form");
const STATUS: &str = include_str!("../../examples/twilio/status.form");

fn now() -> Timestamp {
    Timestamp::parse_utc("2025-06-08T21:00:00Z").unwrap()
}

fn only_message(body: &str) -> Message {
    let mut d = decode_form(body.as_bytes(), now()).unwrap();
    assert!(d.statuses.is_empty() && d.rejected.is_empty());
    assert_eq!(d.messages.len(), 1);
    d.messages.remove(0)
}

#[test]
fn an_sms_is_a_text_message_received_now() {
    let m = only_message(SMS);
    assert_eq!(m.message_id.as_str(), "SM5f0b6c27a3f84c2a9e1d1f7e2b3c4d5e");
    assert_eq!((m.from.as_ref().map(Msisdn::as_str), m.to.as_str()), (Some("+14155550100"), "+14155238886"));
    assert_eq!(m.text.as_ref().map(MessageText::as_str), Some("Is my order #1042 shipped? 📦"));
    assert_eq!((m.source, m.kind.as_str(), m.ts), (Source::Twilio, "text", now()));
    assert_eq!(m.parts.channel.as_deref(), Some("sms"));
    assert_eq!(m.raw.as_ref().map(RawObject::as_str), Some(SMS), "the whole form is the raw object");
}

#[test]
fn a_whatsapp_message_loses_its_prefixes_and_keeps_its_media() {
    let m = only_message(WHATSAPP_IMAGE);
    assert_eq!((m.from.as_ref().map(Msisdn::as_str), m.to.as_str()), (Some("+14155551234"), "+14155238886"));
    assert_eq!((m.kind.as_str(), m.parts.channel.as_deref()), ("image", Some("whatsapp")));
    assert_eq!(m.parts.profile_name.as_deref(), Some("Sheena Nelson"));
    assert_eq!(m.parts.media.len(), 1);
    assert_eq!(m.parts.media[0].mime_type.as_deref(), Some("image/jpeg"));
    assert!(m.parts.media[0].url.as_deref().is_some_and(|u| u.starts_with("https://api.twilio.com/")));
    assert_eq!(m.text.as_ref().map(MessageText::as_str), Some("Here is the receipt"));
}

#[test]
fn a_status_callback_is_a_delivery_status_with_its_error() {
    let d = decode_form(STATUS.as_bytes(), now()).unwrap();
    assert!(d.messages.is_empty());
    let s = &d.statuses[0];
    assert_eq!((s.message_id.as_str(), s.status.as_str()), ("SM9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f", "undelivered"));
    assert_eq!((s.recipient.as_deref(), s.ts, s.source), (Some("+14155550100"), now(), Source::Twilio));
    assert_eq!(s.errors[0].code, Some(30_008));
}

#[test]
fn media_without_a_message_type_takes_its_kind_from_the_content_type() {
    let body = "MessageSid=MM1&From=%2B14155550100&To=%2B14155238886&NumMedia=2&MediaUrl0=https%3A%2F%2Fa&MediaContentType0=video%2Fmp4&MediaUrl1=https%3A%2F%2Fb&MediaContentType1=application%2Fpdf";
    let m = only_message(body);
    assert_eq!((m.kind.as_str(), m.text.clone(), m.parts.media.len()), ("video", None, 2));
}

#[test]
fn a_location_is_kept() {
    let body = "MessageSid=SM2&From=whatsapp%3A%2B14155550100&To=whatsapp%3A%2B14155238886&MessageType=location&Latitude=37.7749&Longitude=-122.4194&Label=Office&Address=1+Main+St";
    let place = only_message(body).parts.location.unwrap();
    assert_eq!((place.latitude, place.name.as_deref()), (37.7749, Some("Office")));
}

#[test]
fn every_missing_or_bad_field_is_listed() {
    let errors = decode_form(b"Body=hi&From=not-a-number", now()).unwrap_err();
    let locs: Vec<_> = errors.iter().map(|e| e.loc.join(".")).collect();
    assert_eq!(locs, ["body.MessageSid", "body.From", "body.To"]);
    let errors = decode_form("MessageSid=SM1&From=%2B1415&To=%2B1415&Body=".to_owned().as_bytes(), now());
    assert!(errors.is_ok(), "an empty Body is no text, not an error");
    let json = decode_form(br#"{"MessageSid":"SM1"}"#, now()).unwrap_err();
    assert_eq!(json.iter().map(|e| e.loc[1].as_str()).collect::<Vec<_>>(), ["From", "To"]);
    assert_eq!(decode_form(b"{not json", now()).unwrap_err()[0].kind, "form_invalid");
    let m = decode_form(br#"{"MessageSid":"SM9","From":"+14155550100","To":"+14155238886","NumMedia":0}"#, now());
    assert_eq!(m.unwrap().messages[0].message_id.as_str(), "SM9", "the JSON form of the same parameters");
}

#[test]
fn a_received_message_status_is_still_a_message() {
    let body = "MessageSid=SM3&From=%2B14155550100&To=%2B14155238886&Body=x&MessageStatus=received";
    assert_eq!(only_message(body).message_id.as_str(), "SM3");
}
