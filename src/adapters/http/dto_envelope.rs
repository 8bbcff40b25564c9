//! The Meta WhatsApp Cloud API envelope, as the OpenAPI document shows it beside the flat message.
//! Only the document uses these types: the body is verified as raw bytes and decoded by the core.

use poem_openapi::Object;
use poem_openapi::types::Example;
use serde_json::{Value, json};

/// A Cloud API webhook delivery (`"object": "whatsapp_business_account"`), signed with
/// `X-Hub-Signature-256` and the Meta app secret. Up to 1,000 updates, committed together.
#[derive(Debug, Object)]
#[oai(example)]
pub struct CloudApiEnvelope {
    /// Always `whatsapp_business_account`.
    pub object: String,
    /// One entry per WhatsApp Business Account.
    pub entry: Vec<EnvelopeEntry>,
}

/// The changes for one WhatsApp Business Account.
#[derive(Debug, Object)]
#[oai(example)]
pub struct EnvelopeEntry {
    /// The WhatsApp Business Account id.
    pub id: String,
    /// The updates, grouped by subscription field.
    pub changes: Vec<EnvelopeChange>,
}

/// One subscription field's updates. Only `messages` is stored; other fields are acknowledged
/// and counted.
#[derive(Debug, Object)]
#[oai(example)]
pub struct EnvelopeChange {
    /// `messages` (inbound messages and delivery statuses), or another subscription field.
    pub field: String,
    /// What changed.
    pub value: EnvelopeValue,
}

/// The messages and statuses of one change.
#[derive(Debug, Object)]
#[oai(example)]
pub struct EnvelopeValue {
    /// Always `whatsapp`.
    #[oai(skip_serializing_if_is_none)]
    pub messaging_product: Option<String>,
    /// The business number that received the messages.
    #[oai(skip_serializing_if_is_none)]
    pub metadata: Option<EnvelopeMetadata>,
    /// The senders' profiles (`wa_id`, `profile.name`, `user_id`).
    #[oai(skip_serializing_if_is_none)]
    pub contacts: Option<Vec<Value>>,
    /// Inbound messages: `from`, `id`, `timestamp`, `type`, and an object named after the type
    /// (`text`, `image`, `audio`, `video`, `document`, `sticker`, `location`, `contacts`,
    /// `interactive`, `button`, `reaction`, `system`, `unsupported`, or a newer one).
    #[oai(skip_serializing_if_is_none)]
    pub messages: Option<Vec<Value>>,
    /// Delivery statuses of messages the business sent: `id`, `status`, `timestamp`,
    /// `recipient_id`, and `errors` or `pricing` when given.
    #[oai(skip_serializing_if_is_none)]
    pub statuses: Option<Vec<Value>>,
}

/// The business number a change is about.
#[derive(Debug, Object)]
#[oai(example)]
pub struct EnvelopeMetadata {
    /// Digits without `+`; stored as the message's `to`.
    pub display_phone_number: String,
    /// Meta's id of that number.
    pub phone_number_id: String,
}

impl Example for EnvelopeMetadata {
    fn example() -> Self {
        Self { display_phone_number: "15550783881".into(), phone_number_id: "106540352242922".into() }
    }
}

impl Example for EnvelopeValue {
    fn example() -> Self {
        Self {
            messaging_product: Some("whatsapp".into()),
            metadata: Some(EnvelopeMetadata::example()),
            contacts: Some(vec![json!({"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"})]),
            messages: Some(vec![json!({
                "from": "16505551234",
                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                "timestamp": "1749416383",
                "type": "text",
                "text": {"body": "Does it come in another color?"}
            })]),
            statuses: None,
        }
    }
}

impl Example for EnvelopeChange {
    fn example() -> Self {
        Self { field: "messages".into(), value: EnvelopeValue::example() }
    }
}

impl Example for EnvelopeEntry {
    fn example() -> Self {
        Self { id: "102290129340398".into(), changes: vec![EnvelopeChange::example()] }
    }
}

impl Example for CloudApiEnvelope {
    fn example() -> Self {
        Self { object: "whatsapp_business_account".into(), entry: vec![EnvelopeEntry::example()] }
    }
}
