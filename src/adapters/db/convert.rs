//! Conversions between stored rows and domain values.

use sea_orm::ActiveValue::Set;

use super::entity::{message, status};
use crate::domain::delivery::{DeliveryStatus, Kind, MessageParts, ProviderError, RawObject, Source};
use crate::domain::message::{Message, MessageId, MessageText, Msisdn};
use crate::domain::ports::RepoError;
use crate::domain::timestamp::Timestamp;

/// The row to insert for `m`.
pub fn message_row(m: &Message, received_at: Timestamp) -> message::Model {
    message::Model {
        message_id: m.message_id.as_str().to_owned(),
        from_msisdn: m.from.as_ref().map(|f| f.as_str().to_owned()),
        to_msisdn: m.to.as_str().to_owned(),
        ts: m.ts.as_micros(),
        text: m.text.as_ref().map(|t| t.as_str().to_owned()),
        text_folded: m.text.as_ref().map(MessageText::search_key),
        created_at: received_at.as_micros(),
        source: m.source.as_str().to_owned(),
        kind: m.kind.as_str().to_owned(),
        parts: (m.parts != MessageParts::default()).then(|| json(&m.parts)),
        raw: m.raw.as_ref().map(|r| r.as_str().to_owned()),
    }
}

/// [`message_row`] for sea-orm's insert.
pub fn to_active(m: &Message, received_at: Timestamp) -> message::ActiveModel {
    let row = message_row(m, received_at);
    message::ActiveModel {
        message_id: Set(row.message_id),
        from_msisdn: Set(row.from_msisdn),
        to_msisdn: Set(row.to_msisdn),
        ts: Set(row.ts),
        text: Set(row.text),
        text_folded: Set(row.text_folded),
        created_at: Set(row.created_at),
        source: Set(row.source),
        kind: Set(row.kind),
        parts: Set(row.parts),
        raw: Set(row.raw),
    }
}

/// The row to insert for `s`.
pub fn status_row(s: &DeliveryStatus, received_at: Timestamp) -> status::Model {
    status::Model {
        message_id: s.message_id.as_str().to_owned(),
        status: s.status.as_str().to_owned(),
        ts: s.ts.as_micros(),
        recipient: s.recipient.clone(),
        errors: (!s.errors.is_empty()).then(|| json(&s.errors)),
        pricing_category: s.pricing_category.clone(),
        source: s.source.as_str().to_owned(),
        raw: s.raw.as_ref().map(|r| r.as_str().to_owned()),
        created_at: received_at.as_micros(),
    }
}

/// [`status_row`] for sea-orm's insert.
pub fn status_to_active(s: &DeliveryStatus, received_at: Timestamp) -> status::ActiveModel {
    let row = status_row(s, received_at);
    status::ActiveModel {
        message_id: Set(row.message_id),
        status: Set(row.status),
        ts: Set(row.ts),
        recipient: Set(row.recipient),
        errors: Set(row.errors),
        pricing_category: Set(row.pricing_category),
        source: Set(row.source),
        raw: Set(row.raw),
        created_at: Set(row.created_at),
    }
}

/// Domain values serialise without fail: plain structs of strings, numbers and lists.
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| unreachable!("serialising a domain value: {e}"))
}

/// A stored row that does not parse means someone edited the database by hand; it is reported,
/// not hidden.
fn corrupt(id: &str, field: &str, why: impl std::fmt::Display) -> RepoError {
    RepoError::Unavailable(format!("stored row {id:?} has a bad {field}: {why}"))
}

/// The message a stored row holds, and when it was received.
pub fn from_model(row: message::Model) -> Result<(Message, Timestamp), RepoError> {
    let id = row.message_id.as_str();
    let message = Message {
        message_id: MessageId::parse(id).map_err(|e| corrupt(id, "message_id", e))?,
        from: row.from_msisdn.as_deref().map(Msisdn::parse).transpose().map_err(|e| corrupt(id, "from_msisdn", e))?,
        to: Msisdn::parse(&row.to_msisdn).map_err(|e| corrupt(id, "to_msisdn", e))?,
        ts: timestamp(row.ts).ok_or_else(|| corrupt(id, "ts", "out of range"))?,
        text: row.text.as_deref().map(MessageText::parse).transpose().map_err(|e| corrupt(id, "text", e))?,
        source: Source::parse(&row.source).map_err(|e| corrupt(id, "source", e))?,
        kind: Kind::parse(&row.kind).map_err(|e| corrupt(id, "kind", e))?,
        parts: match &row.parts {
            Some(parts) => serde_json::from_str(parts).map_err(|e| corrupt(id, "parts", e))?,
            None => MessageParts::default(),
        },
        raw: row.raw.map(RawObject::new),
    };
    let received = timestamp(row.created_at).ok_or_else(|| corrupt(id, "created_at", "out of range"))?;
    Ok((message, received))
}

/// The status a stored row holds, and when it was received.
pub fn status_from_model(row: status::Model) -> Result<(DeliveryStatus, Timestamp), RepoError> {
    let id = row.message_id.as_str();
    let errors: Vec<ProviderError> = match &row.errors {
        Some(errors) => serde_json::from_str(errors).map_err(|e| corrupt(id, "errors", e))?,
        None => Vec::new(),
    };
    let status = DeliveryStatus {
        message_id: MessageId::parse(id).map_err(|e| corrupt(id, "message_id", e))?,
        status: Kind::parse(&row.status).map_err(|e| corrupt(id, "status", e))?,
        ts: timestamp(row.ts).ok_or_else(|| corrupt(id, "ts", "out of range"))?,
        recipient: row.recipient,
        errors,
        pricing_category: row.pricing_category,
        source: Source::parse(&row.source).map_err(|e| corrupt(id, "source", e))?,
        raw: row.raw.map(RawObject::new),
    };
    let received = timestamp(row.created_at).ok_or_else(|| corrupt(id, "created_at", "out of range"))?;
    Ok((status, received))
}

/// A stored microsecond count as a timestamp.
pub fn timestamp(micros: i64) -> Option<Timestamp> {
    Timestamp::from_micros(micros)
}
