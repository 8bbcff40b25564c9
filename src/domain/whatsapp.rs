//! Reads Meta's WhatsApp Cloud API webhook envelope into a [`Delivery`]: every inbound message and
//! delivery status it carries, each with its own JSON object kept byte for byte. Inside a valid
//! envelope an update that cannot be stored is rejected alone, with its path, and the rest is kept:
//! a 4xx would make Meta resend, for seven days, a payload that can never succeed.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::delivery::{Delivery, MAX_KIND_CHARS, Rejected};
use super::error::{FieldError, Location};
use super::payload::{body_error, expect_object};
use super::whatsapp_message::{ChangeContext, business_number, decode_message, decode_status};

/// The top-level `object` that marks a Cloud API envelope.
pub const ENVELOPE_OBJECT: &str = "whatsapp_business_account";

/// The `field` of a change that carries inbound messages and delivery statuses.
const MESSAGES_FIELD: &str = "messages";

/// Whether `body` is a JSON object whose top-level `object` is `whatsapp_business_account`.
///
/// Reading stops at that key, so an envelope as Meta sends it (the key first) costs a few bytes.
/// Any input is accepted: what is not JSON, or not an object, is simply not an envelope.
pub fn is_envelope(body: &[u8]) -> bool {
    let mut verdict = None;
    let mut de = serde_json::Deserializer::from_slice(body);
    // The probe aborts with an error as soon as it has its answer, so the result says nothing.
    let _ = (&mut de).deserialize_map(ObjectProbe(&mut verdict));
    verdict == Some(true)
}

/// Reads the top-level keys until `object`, records whether it names an envelope, then aborts.
struct ObjectProbe<'v>(&'v mut Option<bool>);

impl<'de> Visitor<'de> for ObjectProbe<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "object" {
                let value: Value = map.next_value()?;
                *self.0 = Some(value.as_str() == Some(ENVELOPE_OBJECT));
                return Err(de::Error::custom("answered"));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// Decodes a Cloud API envelope: each `entry[].changes[]` whose `field` is `messages` yields its
/// `value.messages[]` and `value.statuses[]`; other fields are listed in [`Delivery::ignored`];
/// updates that cannot be stored are listed in [`Delivery::rejected`] with their path.
///
/// # Errors
/// Only when the body is not an envelope at all: not JSON, not an object, `object` is not
/// `whatsapp_business_account`, or `entry` is missing or not a list.
pub fn decode_envelope(body: &[u8]) -> Result<Delivery, Vec<FieldError>> {
    expect_object(body).map_err(|e| vec![e])?;
    let envelope: Envelope<'_> = serde_json::from_slice(body).map_err(|e| vec![body_error(&e)])?;
    let entries = envelope.entries()?;
    let mut delivery = Delivery::default();
    for (i, entry) in entries.into_iter().enumerate() {
        read_entry(entry, &format!("entry[{i}]"), &mut delivery);
    }
    Ok(delivery)
}

/// The top level, each part kept unread so that its own problems can be reported precisely.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    object: Option<&'a RawValue>,
    #[serde(borrow, default)]
    entry: Option<&'a RawValue>,
}

impl<'a> Envelope<'a> {
    fn entries(&self) -> Result<Vec<&'a RawValue>, Vec<FieldError>> {
        let object = self.object.ok_or_else(|| vec![FieldError::missing(Location::Body, "object")])?;
        if parse::<String>(object).as_deref() != Some(ENVELOPE_OBJECT) {
            let msg = format!("must be \"{ENVELOPE_OBJECT}\"");
            return Err(vec![FieldError::value(Location::Body, "object", msg)]);
        }
        let entry = self.entry.ok_or_else(|| vec![FieldError::missing(Location::Body, "entry")])?;
        parse(entry).ok_or_else(|| {
            vec![FieldError::new(Location::Body, Some("entry"), "Input should be a valid list", "list_type")]
        })
    }
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow, default)]
    changes: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Change<'a> {
    #[serde(borrow, default)]
    field: Option<&'a RawValue>,
    #[serde(borrow, default)]
    value: Option<&'a RawValue>,
}

/// A change's `value`: the parts shared by its updates are read, the updates kept unread.
#[derive(Deserialize)]
struct ChangeValue<'a> {
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    contacts: Option<Value>,
    #[serde(borrow, default)]
    messages: Option<&'a RawValue>,
    #[serde(borrow, default)]
    statuses: Option<&'a RawValue>,
}

fn parse<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Option<T> {
    serde_json::from_str(raw.get()).ok()
}

/// Like [`parse`], for a struct that must come from an object: a derived struct would also take an
/// array, field by field in order.
fn parse_object<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Option<T> {
    raw.get().starts_with('{').then(|| parse(raw)).flatten()
}

fn reject(delivery: &mut Delivery, path: String, reason: impl Into<String>) {
    delivery.rejected.push(Rejected { path, reason: reason.into() });
}

fn read_entry(raw: &RawValue, path: &str, delivery: &mut Delivery) {
    let Some(entry) = parse_object::<Entry<'_>>(raw) else {
        return reject(delivery, path.to_owned(), "must be an object");
    };
    let Some(changes) = entry.changes else { return };
    let Some(changes) = parse::<Vec<&RawValue>>(changes) else {
        return reject(delivery, format!("{path}.changes"), "must be a list");
    };
    for (j, change) in changes.into_iter().enumerate() {
        read_change(change, &format!("{path}.changes[{j}]"), delivery);
    }
}

fn read_change(raw: &RawValue, path: &str, delivery: &mut Delivery) {
    let Some(change) = parse_object::<Change<'_>>(raw) else {
        return reject(delivery, path.to_owned(), "must be an object");
    };
    let Some(field) = change.field.and_then(parse::<String>) else {
        return reject(delivery, format!("{path}.field"), "missing or not a string");
    };
    if field != MESSAGES_FIELD {
        return delivery.ignored.push(ignored_label(&field));
    }
    let path = format!("{path}.value");
    match change.value.and_then(parse_object::<ChangeValue<'_>>) {
        Some(value) => read_value(&value, &path, delivery),
        None => reject(delivery, path, "missing or not an object"),
    }
}

fn read_value(value: &ChangeValue<'_>, path: &str, delivery: &mut Delivery) {
    let contacts = match &value.contacts {
        Some(Value::Array(contacts)) => contacts.as_slice(),
        _ => &[],
    };
    let context = ChangeContext { to: business_number(value.metadata.as_ref()), contacts };
    for (path, raw) in updates(value.messages, &format!("{path}.messages"), delivery) {
        match decode_message(raw, &context) {
            Ok(message) => delivery.messages.push(message),
            Err(reason) => reject(delivery, path, reason),
        }
    }
    for (path, raw) in updates(value.statuses, &format!("{path}.statuses"), delivery) {
        match decode_status(raw) {
            Ok(status) => delivery.statuses.push(status),
            Err(reason) => reject(delivery, path, reason),
        }
    }
}

/// The items of an update list with the path each would be rejected at; a list that is not a list
/// is rejected as a whole.
fn updates<'a>(
    list: Option<&'a RawValue>,
    path: &'a str,
    delivery: &mut Delivery,
) -> impl Iterator<Item = (String, &'a RawValue)> + use<'a> {
    let items = match list.map(parse::<Vec<&RawValue>>) {
        None => Vec::new(),
        Some(Some(items)) => items,
        Some(None) => {
            reject(delivery, path.to_owned(), "must be a list");
            Vec::new()
        }
    };
    items.into_iter().enumerate().map(move |(i, raw)| (format!("{path}[{i}]"), raw))
}

/// A field name fit for a bounded metric label: a short word as sent, else `other`.
fn ignored_label(field: &str) -> String {
    let word = !field.is_empty()
        && field.len() <= MAX_KIND_CHARS
        && field.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if word { field.to_owned() } else { "other".to_owned() }
}

#[cfg(test)]
#[path = "whatsapp_tests.rs"]
mod tests;
