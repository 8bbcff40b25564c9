//! One Cloud API update — an inbound message or a delivery status — read from its own JSON object.
//! A failure names the rule the update breaks, never its content.

use serde_json::Value;
use serde_json::value::RawValue;

use super::delivery::{DeliveryStatus, Kind, ProviderError, RawObject, Source};
use super::message::{Message, MessageId, MessageText, Msisdn};
use super::timestamp::Timestamp;
use super::whatsapp_parts::content;

const TIMESTAMP_RULE: &str = "timestamp: must be Unix seconds, as a string of digits or an integer";

/// What the updates of one change share: the business number and the senders' profiles.
pub(super) struct ChangeContext<'c> {
    /// `metadata.display_phone_number` as E.164, or why it cannot be.
    pub to: Result<Msisdn, String>,
    /// `value.contacts[]`.
    pub contacts: &'c [Value],
}

/// Reads `value.messages[i]`.
pub(super) fn decode_message(raw: &RawValue, change: &ChangeContext<'_>) -> Result<Message, String> {
    let m = object(raw)?;
    let message_id = MessageId::parse(required(&m, "id")?).map_err(|rule| format!("id: {rule}"))?;
    let to = change.to.clone()?;
    let ts = unix_seconds(m.get("timestamp")).ok_or(TIMESTAMP_RULE)?;
    let kind = Kind::parse(required(&m, "type")?).map_err(|rule| format!("type: {rule}"))?;
    let sender = sender(&m, change.contacts)?;
    let (mut parts, text) = content(kind.as_str(), &m);
    parts.user_id = sender.user_id;
    parts.profile_name = sender.profile_name;
    parts.reply_to = m.pointer("/context/id").and_then(Value::as_str).map(str::to_owned);
    parts.errors = provider_errors(m.get("errors"));
    let text = text.as_deref().map(MessageText::parse).transpose().map_err(|rule| format!("text: {rule}"))?;
    Ok(Message {
        message_id,
        from: sender.from,
        to,
        ts,
        text,
        source: Source::Whatsapp,
        kind,
        parts,
        raw: Some(RawObject::new(raw.get())),
    })
}

/// Reads `value.statuses[i]`.
pub(super) fn decode_status(raw: &RawValue) -> Result<DeliveryStatus, String> {
    let s = object(raw)?;
    let message_id = MessageId::parse(required(&s, "id")?).map_err(|rule| format!("id: {rule}"))?;
    let status = Kind::parse(required(&s, "status")?).map_err(|rule| format!("status: {rule}"))?;
    let ts = unix_seconds(s.get("timestamp")).ok_or(TIMESTAMP_RULE)?;
    Ok(DeliveryStatus {
        message_id,
        status,
        ts,
        recipient: text(&s, "recipient_id").map(|r| plus_if_digits(&r)),
        errors: provider_errors(s.get("errors")),
        pricing_category: s.get("pricing").and_then(|p| text(p, "category")),
        source: Source::Whatsapp,
        raw: Some(RawObject::new(raw.get())),
    })
}

/// The business number of a change, from `metadata.display_phone_number`.
pub(super) fn business_number(metadata: Option<&Value>) -> Result<Msisdn, String> {
    const FIELD: &str = "metadata.display_phone_number";
    let shown = metadata.and_then(|m| m.get("display_phone_number")).and_then(Value::as_str);
    let shown = shown.ok_or_else(|| format!("{FIELD}: missing or not a string"))?;
    // A display number may be grouped for reading; the separators carry no digits.
    let compact: String = shown.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).collect();
    let digits = compact.strip_prefix('+').unwrap_or(&compact);
    Msisdn::parse(&format!("+{digits}")).map_err(|rule| format!("{FIELD}: {rule}"))
}

/// The string at `key` of an object, owned.
pub(super) fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn object(raw: &RawValue) -> Result<Value, String> {
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err("must be an object".to_owned()),
    }
}

fn required<'v>(v: &'v Value, key: &str) -> Result<&'v str, String> {
    v.get(key).and_then(Value::as_str).ok_or_else(|| format!("{key}: missing or not a string"))
}

/// Unix seconds, as Meta sends them (a string of digits) or as a plain integer.
fn unix_seconds(v: Option<&Value>) -> Option<Timestamp> {
    let secs = match v? {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse::<i64>().ok()?,
        Value::Number(n) => n.as_i64().filter(|s| *s >= 0)?,
        _ => return None,
    };
    // Past year 9999 an instant has no RFC 3339 form to be shown in.
    const LAST_SECOND: i64 = 253_402_300_799;
    Timestamp::from_micros(secs.checked_mul(1_000_000)?).filter(|_| secs <= LAST_SECOND)
}

fn plus_if_digits(id: &str) -> String {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) { format!("+{id}") } else { id.to_owned() }
}

/// `errors[]` of a message or a status; entries that are not objects are skipped.
fn provider_errors(v: Option<&Value>) -> Vec<ProviderError> {
    let Some(Value::Array(items)) = v else { return Vec::new() };
    let code = |e: &Value| e.get("code").and_then(|c| c.as_i64().or_else(|| c.as_str()?.parse().ok()));
    items
        .iter()
        .filter(|e| e.is_object())
        .map(|e| ProviderError {
            code: code(e),
            title: text(e, "title"),
            message: text(e, "message"),
            details: e.get("error_data").and_then(|d| text(d, "details")),
        })
        .collect()
}

/// Who sent a message: a number, a business-scoped user id, or both; and their profile name.
struct Sender {
    from: Option<Msisdn>,
    user_id: Option<String>,
    profile_name: Option<String>,
}

fn sender(m: &Value, contacts: &[Value]) -> Result<Sender, String> {
    let wa_id = m.get("from").and_then(Value::as_str).map(strip_plus);
    let own_user_id = m.get("from_user_id").and_then(Value::as_str).filter(|u| !u.trim().is_empty());
    let contact = sender_contact(contacts, wa_id, own_user_id);
    let user_id = own_user_id.map(str::to_owned).or_else(|| contact.and_then(|c| text(c, "user_id")));
    let profile_name = contact.and_then(|c| c.get("profile")).and_then(|p| text(p, "name"));
    let from = match wa_id.map(|digits| Msisdn::parse(&format!("+{digits}"))) {
        Some(Ok(number)) => Some(number),
        // Without a user id, the number is the only way to name the sender.
        Some(Err(rule)) if user_id.is_none() => return Err(format!("from: {rule}")),
        None if user_id.is_none() => return Err("no sender: neither from nor from_user_id".to_owned()),
        _ => None,
    };
    Ok(Sender { from, user_id, profile_name })
}

/// The `value.contacts[]` entry of the sender: the one with its number or user id, else the only
/// one, unless that one names someone else.
fn sender_contact<'c>(contacts: &'c [Value], wa_id: Option<&str>, user_id: Option<&str>) -> Option<&'c Value> {
    let own = |c: &'c Value, key: &str| c.get(key).and_then(Value::as_str).map(strip_plus);
    let same = |c: &'c Value, key: &str, want: Option<&str>| want.is_some() && own(c, key) == want;
    let other = |c: &'c Value, key: &str, want: Option<&str>| want.zip(own(c, key)).is_some_and(|(a, b)| a != b);
    if let Some(found) = contacts.iter().find(|c| same(c, "wa_id", wa_id) || same(c, "user_id", user_id)) {
        return Some(found);
    }
    match contacts {
        [only] if !other(only, "wa_id", wa_id) && !other(only, "user_id", user_id) => Some(only),
        _ => None,
    }
}

fn strip_plus(s: &str) -> &str {
    s.strip_prefix('+').unwrap_or(s)
}
