//! Conversions between stored rows and domain values.

use sea_orm::ActiveValue::Set;

use super::entity::message::{ActiveModel, Model};
use crate::domain::message::{Message, MessageId, MessageText, Msisdn};
use crate::domain::ports::RepoError;
use crate::domain::timestamp::Timestamp;

/// The row to insert for `m`.
pub fn to_active(m: &Message, received_at: Timestamp) -> ActiveModel {
    ActiveModel {
        message_id: Set(m.message_id.as_str().to_owned()),
        from_msisdn: Set(m.sender_key().unwrap_or_default().to_owned()),
        to_msisdn: Set(m.to.as_str().to_owned()),
        ts: Set(m.ts.as_micros()),
        text: Set(m.text.as_ref().map(|t| t.as_str().to_owned())),
        text_folded: Set(m.text.as_ref().map(MessageText::search_key)),
        created_at: Set(received_at.as_micros()),
    }
}

/// The message a stored row holds. Rows are written only from valid messages, so a row that does
/// not parse means someone edited the database by hand; it is reported, not hidden.
pub fn from_model(row: Model) -> Result<Message, RepoError> {
    let corrupt = |field: &str, why: String| {
        RepoError::Unavailable(format!("stored row {:?} has a bad {field}: {why}", row.message_id))
    };
    Ok(Message::flat(
        MessageId::parse(&row.message_id).map_err(|e| corrupt("message_id", e))?,
        Msisdn::parse(&row.from_msisdn).map_err(|e| corrupt("from_msisdn", e))?,
        Msisdn::parse(&row.to_msisdn).map_err(|e| corrupt("to_msisdn", e))?,
        timestamp(row.ts).ok_or_else(|| corrupt("ts", "out of range".into()))?,
        row.text.as_deref().map(MessageText::parse).transpose().map_err(|e| corrupt("text", e))?,
    ))
}

/// A stored microsecond count as a timestamp.
pub fn timestamp(micros: i64) -> Option<Timestamp> {
    Timestamp::from_micros(micros)
}
