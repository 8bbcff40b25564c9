//! What one request delivers: inbound messages of several kinds, delivery statuses of messages
//! the business sent, and the updates that were skipped. A delivery is committed as one unit.

use serde::{Deserialize, Serialize};

use super::message::{Message, MessageId};
use super::ports::Inserted;
use super::timestamp::Timestamp;

/// Longest word accepted where a provider names a kind (`type`, `status`, `field`).
pub const MAX_KIND_CHARS: usize = 64;

/// Where an update came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// The flat message format of `POST /webhook`.
    Webhook,
    /// Meta's WhatsApp Cloud API envelope.
    Whatsapp,
    /// Twilio's form-encoded webhooks.
    Twilio,
}

impl Source {
    /// Every source, in the order they are listed.
    pub const ALL: [Self; 3] = [Self::Webhook, Self::Whatsapp, Self::Twilio];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Whatsapp => "whatsapp",
            Self::Twilio => "twilio",
        }
    }

    /// The source a name denotes.
    ///
    /// # Errors
    /// Lists the known names.
    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| "must be one of: webhook, whatsapp, twilio".to_owned())
    }
}

/// A provider's word for a kind of thing (`text`, `image`, `delivered`, …): 1 to 64 visible
/// ASCII characters. Unknown words are kept as sent, never rejected for being new.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Kind(String);

impl Kind {
    /// Accepts 1 to [`MAX_KIND_CHARS`] visible ASCII characters.
    ///
    /// # Errors
    /// Returns the rule the value breaks.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = !raw.is_empty() && raw.len() <= MAX_KIND_CHARS && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok { Ok(Self(raw.to_owned())) } else { Err(format!("must be 1-{MAX_KIND_CHARS} visible ASCII characters")) }
    }

    /// The kind of a flat-format message.
    pub fn text() -> Self {
        Self("text".to_owned())
    }

    /// The word as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Kind {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw)
    }
}

impl From<Kind> for String {
    fn from(kind: Kind) -> Self {
        kind.0
    }
}

/// The provider's own JSON object (or form) for one update, byte for byte as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawObject(String);

impl RawObject {
    /// Keeps `raw` as it is; it is a slice of a body that was already read within the size limit.
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// The bytes as received.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The parts of a message a reader needs beside its text; every one is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageParts {
    /// The sender's business-scoped user id (Meta usernames), with or without a phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The sender's profile name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_name: Option<String>,
    /// The id of the message this one replies to (`context.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Attached media.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<Media>,
    /// A shared location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Place>,
    /// A reaction to another message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction: Option<Reaction>,
    /// The button or list row a person chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<Choice>,
    /// Shared contact cards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<Contact>,
    /// Errors the provider attached (an unsupported message says why).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProviderError>,
    /// The channel within the source, when it has several (Twilio: `sms` or `whatsapp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// A media attachment, as the provider describes it (the bytes stay with the provider).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// The provider's media id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Where the provider serves it, when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The provider's hash of the content, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// A document's file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// An audio message recorded as a voice note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<bool>,
    /// An animated sticker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub animated: Option<bool>,
}

/// A shared location.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// The place's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// A link to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A reaction; no emoji means the reaction was removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// The message reacted to.
    pub message_id: String,
    /// The emoji, absent when the reaction was removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
}

/// A choice a person made: an interactive button or list row, or a template quick reply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// `button_reply`, `list_reply` or `button`.
    pub kind: String,
    /// The id (or a template button's payload) the business defined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The title the person saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A list row's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A shared contact card, reduced to what identifies it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The formatted name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its phone numbers as sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<String>,
}

/// An error a provider reported with an update.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderError {
    /// The provider's numeric code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// Its short title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A longer explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `error_data.details`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// The delivery status of a message the business sent; keyed by (message id, status).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryStatus {
    /// The business's message this status is about.
    pub message_id: MessageId,
    /// `sent`, `delivered`, `read`, `failed`, `played`, or the provider's own word.
    pub status: Kind,
    /// When the provider says it happened.
    pub ts: Timestamp,
    /// Who the message was sent to, as the provider names them.
    pub recipient: Option<String>,
    /// Errors attached to a failure.
    pub errors: Vec<ProviderError>,
    /// The pricing category, when given.
    pub pricing_category: Option<String>,
    /// Where it came from.
    pub source: Source,
    /// The provider's own object for this status.
    pub raw: Option<RawObject>,
}

/// An update inside a valid delivery that could not be stored; the rest of the delivery is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Where it sits in the body, e.g. `entry[0].changes[1].value.messages[3]`.
    pub path: String,
    /// Which rule it breaks; never its content.
    pub reason: String,
}

/// The updates of one request, stored together in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delivery {
    /// Inbound messages.
    pub messages: Vec<Message>,
    /// Delivery statuses.
    pub statuses: Vec<DeliveryStatus>,
    /// Updates acknowledged but not stored (other subscription fields), by field name.
    pub ignored: Vec<String>,
    /// Updates that could not be stored.
    pub rejected: Vec<Rejected>,
}

impl Delivery {
    /// A delivery of one message.
    pub fn of_message(message: Message) -> Self {
        Self { messages: vec![message], ..Self::default() }
    }

    /// Whether it holds anything to store.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.statuses.is_empty()
    }
}

impl Rejected {
    /// Whether the rejected update was a delivery status (else a message or an envelope part).
    pub fn is_status(&self) -> bool {
        self.path.contains(".statuses[")
    }
}

/// What storing a delivery did, update by update, in the delivery's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// One outcome per message.
    pub messages: Vec<Inserted>,
    /// One outcome per status.
    pub statuses: Vec<Inserted>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_short_visible_words() {
        assert!(Kind::parse("interactive").is_ok());
        assert!(Kind::parse("").is_err());
        assert!(Kind::parse("two words").is_err());
        assert!(Kind::parse(&"x".repeat(65)).is_err());
        assert!(Kind::parse("émoji").is_err());
    }

    #[test]
    fn sources_round_trip_through_their_names() {
        for s in Source::ALL {
            assert_eq!(Source::parse(s.as_str()), Ok(s));
        }
        assert!(Source::parse("telegram").is_err());
    }
}
