//! A stored message and its parts, as the read API shows them.

use poem_openapi::types::Example;
use poem_openapi::{Enum, Object};

use super::dto::WebhookPayload;
use crate::domain::delivery::{Choice, Contact, Media, MessageParts, Place, ProviderError, Reaction, Source};
use crate::domain::ports::StoredMessage;

/// Where a message came from.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "lowercase")]
pub enum SourceDto {
    /// The flat format of `POST /webhook`.
    Webhook,
    /// A Meta WhatsApp Cloud API envelope.
    Whatsapp,
    /// A Twilio webhook.
    Twilio,
}

impl From<Source> for SourceDto {
    fn from(s: Source) -> Self {
        match s {
            Source::Webhook => Self::Webhook,
            Source::Whatsapp => Self::Whatsapp,
            Source::Twilio => Self::Twilio,
        }
    }
}

/// A stored message. The five original fields come first; the parts beside them are absent when
/// the provider sent none.
#[derive(Debug, Object)]
#[oai(example)]
pub struct MessageDto {
    /// The provider's id.
    pub message_id: String,
    /// Sender, E.164; null when the provider names the sender only by a user id.
    #[oai(nullable)]
    pub from: Option<String>,
    /// Recipient, E.164.
    pub to: String,
    /// RFC 3339 UTC, to the microsecond.
    pub ts: String,
    /// The text a person would read (body, caption, chosen title, emoji), or null.
    #[oai(nullable)]
    pub text: Option<String>,
    /// Where it came from.
    pub source: SourceDto,
    /// The provider's message type (`text` for the flat format).
    #[oai(rename = "type")]
    pub kind: String,
    /// When this service received it, RFC 3339 UTC.
    pub received_at: String,
    /// The sender's business-scoped user id (WhatsApp usernames).
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<String>,
    /// The sender's profile name.
    #[oai(skip_serializing_if_is_none)]
    pub profile_name: Option<String>,
    /// The id of the message this one replies to.
    #[oai(skip_serializing_if_is_none)]
    pub reply_to: Option<String>,
    /// The channel within the source (Twilio: `sms` or `whatsapp`).
    #[oai(skip_serializing_if_is_none)]
    pub channel: Option<String>,
    /// Attached media (the bytes stay with the provider).
    #[oai(default, skip_serializing_if_is_empty)]
    pub media: Vec<MediaDto>,
    /// A shared location.
    #[oai(skip_serializing_if_is_none)]
    pub location: Option<PlaceDto>,
    /// A reaction; no `emoji` means it was removed.
    #[oai(skip_serializing_if_is_none)]
    pub reaction: Option<ReactionDto>,
    /// The button or list row chosen.
    #[oai(skip_serializing_if_is_none)]
    pub choice: Option<ChoiceDto>,
    /// Shared contact cards.
    #[oai(default, skip_serializing_if_is_empty)]
    pub contacts: Vec<ContactDto>,
    /// Errors the provider attached.
    #[oai(default, skip_serializing_if_is_empty)]
    pub errors: Vec<ProviderErrorDto>,
}

impl Example for MessageDto {
    /// The stored form of the webhook example.
    fn example() -> Self {
        let WebhookPayload { message_id, from, to, ts, text } = WebhookPayload::example();
        Self::parts(message_id, Some(from), to, ts, text, MessageParts::default())
    }
}

impl MessageDto {
    fn parts(
        message_id: String,
        from: Option<String>,
        to: String,
        ts: String,
        text: Option<String>,
        parts: MessageParts,
    ) -> Self {
        Self {
            message_id,
            from,
            to,
            received_at: ts.clone(),
            ts,
            text,
            source: SourceDto::Webhook,
            kind: "text".into(),
            user_id: parts.user_id,
            profile_name: parts.profile_name,
            reply_to: parts.reply_to,
            channel: parts.channel,
            media: parts.media.into_iter().map(MediaDto::from).collect(),
            location: parts.location.map(PlaceDto::from),
            reaction: parts.reaction.map(ReactionDto::from),
            choice: parts.choice.map(ChoiceDto::from),
            contacts: parts.contacts.into_iter().map(ContactDto::from).collect(),
            errors: parts.errors.into_iter().map(ProviderErrorDto::from).collect(),
        }
    }
}

impl From<&StoredMessage> for MessageDto {
    fn from(s: &StoredMessage) -> Self {
        let m = &s.message;
        let mut dto = Self::parts(
            m.message_id.as_str().to_owned(),
            m.from.as_ref().map(|f| f.as_str().to_owned()),
            m.to.as_str().to_owned(),
            m.ts.to_rfc3339(),
            m.text.as_ref().map(|t| t.as_str().to_owned()),
            m.parts.clone(),
        );
        dto.source = m.source.into();
        m.kind.as_str().clone_into(&mut dto.kind);
        dto.received_at = s.received_at.to_rfc3339();
        dto
    }
}

/// A message with the provider's own object.
#[derive(Debug, Object)]
#[oai(example)]
pub struct MessageDetail {
    /// The message, as `GET /messages` lists it.
    #[oai(flatten)]
    pub message: MessageDto,
    /// The provider's own JSON object for this message, exactly as received (escapes included),
    /// as a string; null for the flat format, whose body is the message itself.
    #[oai(nullable)]
    pub raw: Option<String>,
}

impl Example for MessageDetail {
    fn example() -> Self {
        Self { message: MessageDto::example(), raw: None }
    }
}

impl From<&StoredMessage> for MessageDetail {
    fn from(s: &StoredMessage) -> Self {
        Self { message: s.into(), raw: s.raw.as_ref().map(|r| r.as_str().to_owned()) }
    }
}

/// A media attachment.
#[derive(Debug, Object)]
#[oai(example)]
pub struct MediaDto {
    /// The provider's media id.
    #[oai(skip_serializing_if_is_none)]
    pub id: Option<String>,
    /// Where the provider serves it.
    #[oai(skip_serializing_if_is_none)]
    pub url: Option<String>,
    /// MIME type.
    #[oai(skip_serializing_if_is_none)]
    pub mime_type: Option<String>,
    /// The provider's hash of the content, as sent.
    #[oai(skip_serializing_if_is_none)]
    pub sha256: Option<String>,
    /// A document's file name.
    #[oai(skip_serializing_if_is_none)]
    pub filename: Option<String>,
    /// A voice note.
    #[oai(skip_serializing_if_is_none)]
    pub voice: Option<bool>,
    /// An animated sticker.
    #[oai(skip_serializing_if_is_none)]
    pub animated: Option<bool>,
}

impl Example for MediaDto {
    fn example() -> Self {
        Self {
            id: Some("1003383421387256".into()),
            url: None,
            mime_type: Some("image/jpeg".into()),
            sha256: Some("SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=".into()),
            filename: None,
            voice: None,
            animated: None,
        }
    }
}

impl From<Media> for MediaDto {
    fn from(m: Media) -> Self {
        let Media { id, url, mime_type, sha256, filename, voice, animated } = m;
        Self { id, url, mime_type, sha256, filename, voice, animated }
    }
}

/// A shared location.
#[derive(Debug, Object)]
#[oai(example)]
pub struct PlaceDto {
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
    /// Its name.
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<String>,
    /// Its address.
    #[oai(skip_serializing_if_is_none)]
    pub address: Option<String>,
    /// A link to it.
    #[oai(skip_serializing_if_is_none)]
    pub url: Option<String>,
}

impl Example for PlaceDto {
    fn example() -> Self {
        Self {
            latitude: 37.442_214_965_82,
            longitude: -122.1616,
            name: Some("Philz Coffee".into()),
            address: None,
            url: None,
        }
    }
}

impl From<Place> for PlaceDto {
    fn from(p: Place) -> Self {
        let Place { latitude, longitude, name, address, url } = p;
        Self { latitude, longitude, name, address, url }
    }
}

/// A reaction to another message.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ReactionDto {
    /// The message reacted to.
    pub message_id: String,
    /// The emoji; absent when the reaction was removed.
    #[oai(skip_serializing_if_is_none)]
    pub emoji: Option<String>,
}

impl Example for ReactionDto {
    fn example() -> Self {
        Self {
            message_id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=".into(),
            emoji: Some("👍".into()),
        }
    }
}

impl From<Reaction> for ReactionDto {
    fn from(r: Reaction) -> Self {
        Self { message_id: r.message_id, emoji: r.emoji }
    }
}

/// A button or list row a person chose.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ChoiceDto {
    /// `button_reply`, `list_reply` or `button`.
    #[oai(rename = "type")]
    pub kind: String,
    /// The id (or a template button's payload) the business defined.
    #[oai(skip_serializing_if_is_none)]
    pub id: Option<String>,
    /// The title the person saw.
    #[oai(skip_serializing_if_is_none)]
    pub title: Option<String>,
    /// A list row's description.
    #[oai(skip_serializing_if_is_none)]
    pub description: Option<String>,
}

impl Example for ChoiceDto {
    fn example() -> Self {
        Self {
            kind: "button_reply".into(),
            id: Some("cancel-button".into()),
            title: Some("Cancel".into()),
            description: None,
        }
    }
}

impl From<Choice> for ChoiceDto {
    fn from(c: Choice) -> Self {
        Self { kind: c.kind, id: c.id, title: c.title, description: c.description }
    }
}

/// A shared contact card.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ContactDto {
    /// Its formatted name.
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<String>,
    /// Its phone numbers as sent.
    pub phones: Vec<String>,
}

impl Example for ContactDto {
    fn example() -> Self {
        Self { name: Some("Barbara Johnson".into()), phones: vec!["+1 (940) 555-1234".into()] }
    }
}

impl From<Contact> for ContactDto {
    fn from(c: Contact) -> Self {
        Self { name: c.name, phones: c.phones }
    }
}

/// An error the provider reported.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ProviderErrorDto {
    /// The provider's code.
    #[oai(skip_serializing_if_is_none)]
    pub code: Option<i64>,
    /// Its title.
    #[oai(skip_serializing_if_is_none)]
    pub title: Option<String>,
    /// Its message.
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<String>,
    /// Details.
    #[oai(skip_serializing_if_is_none)]
    pub details: Option<String>,
}

impl Example for ProviderErrorDto {
    fn example() -> Self {
        Self { code: Some(131_051), title: Some("Message type unknown".into()), message: None, details: None }
    }
}

impl From<ProviderError> for ProviderErrorDto {
    fn from(e: ProviderError) -> Self {
        let ProviderError { code, title, message, details } = e;
        Self { code, title, message, details }
    }
}
