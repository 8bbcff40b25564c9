//! Reads Twilio's form-encoded webhooks (SMS, and WhatsApp through Twilio) into a [`Delivery`]:
//! an inbound message, or a status callback of a message the account sent. Twilio sends no
//! timestamp, so the time of receipt stands in; it adds parameters without notice, so unknown
//! ones are ignored; the whole form is kept as the raw object.

use std::collections::HashMap;

use super::delivery::{Delivery, DeliveryStatus, Kind, Media, MessageParts, Place, ProviderError, RawObject, Source};
use super::error::{FieldError, Location};
use super::message::{Message, MessageId, MessageText, Msisdn};
use super::timestamp::Timestamp;

/// Most media Twilio attaches to one message.
const MAX_MEDIA: usize = 10;
/// The prefix Twilio puts on WhatsApp addresses.
const WHATSAPP_PREFIX: &str = "whatsapp:";

/// The parameters of one form, first value of each name.
struct Form(HashMap<String, String>);

impl Form {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// Decodes a Twilio webhook received at `now`: a form, or the same parameters as a JSON object
/// (what Twilio signs through `bodySHA256`).
///
/// # Errors
/// The body is neither, or lacks what every Twilio webhook has (`MessageSid`, `From`, `To`), or a
/// value breaks its rule; every problem is listed.
pub fn decode_form(body: &[u8], now: Timestamp) -> Result<Delivery, Vec<FieldError>> {
    let not_a_form = || vec![FieldError::new(Location::Body, None, "must be a form or a JSON object", "form_invalid")];
    let form = if body.trim_ascii_start().starts_with(b"{") {
        let object: HashMap<String, serde_json::Value> = serde_json::from_slice(body).map_err(|_| not_a_form())?;
        let text = |v: serde_json::Value| match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        Form(object.into_iter().map(|(k, v)| (k, text(v))).collect())
    } else {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| not_a_form())?;
        let mut params = HashMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            params.entry(name).or_insert(value);
        }
        Form(params)
    };
    let raw = RawObject::new(String::from_utf8_lossy(body).into_owned());
    match form.get("MessageStatus").filter(|s| *s != "received") {
        Some(status) => {
            decode_status(&form, status, now, raw).map(|s| Delivery { statuses: vec![s], ..Delivery::default() })
        }
        None => decode_message(&form, now, raw).map(Delivery::of_message),
    }
}

/// Collects each field's problem while every field is read.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn required<T>(
        &mut self,
        value: Option<&str>,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let Some(value) = value else {
            self.0.push(FieldError::missing(Location::Body, name));
            return None;
        };
        parse(value).map_err(|msg| self.0.push(FieldError::value(Location::Body, name, msg))).ok()
    }
}

/// `whatsapp:+14155551234` or `+14155551234`.
fn address(raw: &str) -> Result<Msisdn, String> {
    Msisdn::parse(raw.strip_prefix(WHATSAPP_PREFIX).unwrap_or(raw))
}

fn message_sid(form: &Form) -> Option<&str> {
    form.get("MessageSid").or_else(|| form.get("SmsMessageSid")).or_else(|| form.get("SmsSid"))
}

fn decode_message(form: &Form, now: Timestamp, raw: RawObject) -> Result<Message, Vec<FieldError>> {
    let mut errors = Errors::default();
    let message_id = errors.required(message_sid(form), "MessageSid", MessageId::parse);
    let from = errors.required(form.get("From"), "From", address);
    let to = errors.required(form.get("To"), "To", address);
    let text = match form.get("Body") {
        Some(body) => errors.required(Some(body), "Body", MessageText::parse).map(Some),
        None => Some(None),
    };
    let media = media(form);
    let kind = form
        .get("MessageType")
        .and_then(|t| Kind::parse(t).ok())
        .or_else(|| media.first().and_then(|m| m.mime_type.as_deref()).and_then(media_kind))
        .unwrap_or_else(Kind::text);
    let (Some(message_id), Some(from), Some(to), Some(text)) = (message_id, from, to, text) else {
        return Err(errors.0);
    };
    let whatsapp = form.get("From").is_some_and(|f| f.starts_with(WHATSAPP_PREFIX));
    let parts = MessageParts {
        profile_name: form.get("ProfileName").map(str::to_owned),
        reply_to: form.get("OriginalRepliedMessageSid").map(str::to_owned),
        media,
        location: place(form),
        channel: Some(if whatsapp { "whatsapp" } else { "sms" }.to_owned()),
        ..MessageParts::default()
    };
    Ok(Message { message_id, from: Some(from), to, ts: now, text, source: Source::Twilio, kind, parts, raw: Some(raw) })
}

/// `image/jpeg` → `image`; the top-level type names the kind, as Meta's types do.
fn media_kind(mime: &str) -> Option<Kind> {
    let top = mime.split('/').next()?;
    let kind = match top {
        "image" | "video" | "audio" => top,
        _ => "document",
    };
    Kind::parse(kind).ok()
}

fn media(form: &Form) -> Vec<Media> {
    let count = form.get("NumMedia").and_then(|n| n.parse::<usize>().ok()).unwrap_or(0).min(MAX_MEDIA);
    (0..count)
        .filter_map(|i| {
            let url = form.get(&format!("MediaUrl{i}"))?;
            let mime_type = form.get(&format!("MediaContentType{i}")).map(str::to_owned);
            Some(Media { url: Some(url.to_owned()), mime_type, ..Media::default() })
        })
        .collect()
}

/// Coordinates must be finite: `inf` and `NaN` parse as floats, but stored JSON writes them as
/// `null`, which can never be read back.
fn place(form: &Form) -> Option<Place> {
    let coordinate = |name: &str| form.get(name)?.parse::<f64>().ok().filter(|c| c.is_finite());
    let latitude = coordinate("Latitude")?;
    let longitude = coordinate("Longitude")?;
    let name = form.get("Label").map(str::to_owned);
    Some(Place { latitude, longitude, name, address: form.get("Address").map(str::to_owned), url: None })
}

fn decode_status(form: &Form, status: &str, now: Timestamp, raw: RawObject) -> Result<DeliveryStatus, Vec<FieldError>> {
    let mut errors = Errors::default();
    let message_id = errors.required(message_sid(form), "MessageSid", MessageId::parse);
    let status = errors.required(Some(status), "MessageStatus", Kind::parse);
    let (Some(message_id), Some(status)) = (message_id, status) else {
        return Err(errors.0);
    };
    let recipient = form.get("To").map(|to| to.strip_prefix(WHATSAPP_PREFIX).unwrap_or(to).to_owned());
    let errors = match form.get("ErrorCode") {
        Some(code) => vec![ProviderError {
            code: code.parse().ok(),
            title: form.get("ErrorMessage").map(str::to_owned),
            ..ProviderError::default()
        }],
        None => Vec::new(),
    };
    Ok(DeliveryStatus {
        message_id,
        status,
        ts: now,
        recipient,
        errors,
        pricing_category: None,
        source: Source::Twilio,
        raw: Some(raw),
    })
}

#[cfg(test)]
#[path = "twilio_tests.rs"]
mod tests;
