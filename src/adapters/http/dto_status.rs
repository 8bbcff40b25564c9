//! Delivery statuses as `GET /statuses` shows them.

use poem_openapi::Object;
use poem_openapi::types::Example;

use super::dto_message::{ProviderErrorDto, SourceDto};
use crate::domain::ports::StoredStatus;

/// The delivery status of a message the business sent.
#[derive(Debug, Object)]
#[oai(example)]
pub struct StatusDto {
    /// The business's message (its wamid or Twilio SID).
    pub message_id: String,
    /// `sent`, `delivered`, `read`, `failed`, `played`, or the provider's own word.
    pub status: String,
    /// When the provider says it happened, RFC 3339 UTC.
    pub ts: String,
    /// Who the message was sent to.
    #[oai(nullable)]
    pub recipient: Option<String>,
    /// Errors attached to a failure.
    pub errors: Vec<ProviderErrorDto>,
    /// The pricing category, when given.
    #[oai(nullable)]
    pub pricing_category: Option<String>,
    /// Where it came from.
    pub source: SourceDto,
    /// When this service received it, RFC 3339 UTC.
    pub received_at: String,
    /// The provider's own JSON object for this status, exactly as received, as a string.
    #[oai(nullable)]
    pub raw: Option<String>,
}

impl Example for StatusDto {
    fn example() -> Self {
        let raw = r#"{"id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA","status":"delivered","timestamp":"1751142888","recipient_id":"16505551234"}"#;
        Self {
            message_id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA".into(),
            status: "delivered".into(),
            ts: "2025-06-28T20:34:48Z".into(),
            recipient: Some("+16505551234".into()),
            errors: Vec::new(),
            pricing_category: Some("utility".into()),
            source: SourceDto::Whatsapp,
            received_at: "2025-06-28T20:34:49Z".into(),
            raw: Some(raw.into()),
        }
    }
}

impl From<&StoredStatus> for StatusDto {
    fn from(s: &StoredStatus) -> Self {
        let st = &s.status;
        Self {
            message_id: st.message_id.as_str().to_owned(),
            status: st.status.as_str().to_owned(),
            ts: st.ts.to_rfc3339(),
            recipient: st.recipient.clone(),
            errors: st.errors.iter().cloned().map(ProviderErrorDto::from).collect(),
            pricing_category: st.pricing_category.clone(),
            source: st.source.into(),
            received_at: s.received_at.to_rfc3339(),
            raw: st.raw.as_ref().map(|r| r.as_str().to_owned()),
        }
    }
}

/// One page of statuses.
#[derive(Debug, Object)]
#[oai(example)]
pub struct StatusList {
    /// Ordered by `ts`, then message id, then status.
    pub data: Vec<StatusDto>,
    /// Every match, ignoring `limit` and `offset`.
    pub total: u64,
    /// The page size used.
    pub limit: u32,
    /// The number of matches skipped.
    pub offset: u64,
}

impl Example for StatusList {
    fn example() -> Self {
        Self { data: vec![StatusDto::example()], total: 1, limit: 50, offset: 0 }
    }
}
