//! What each Cloud API message type carries in the object named after it: the text a person would
//! read, and the parts a reader needs. A type not listed here is kept with no text and no parts.

use serde_json::Value;

use super::delivery::{Choice, Contact, Media, MessageParts, Place, Reaction};
use super::whatsapp_message::text;

/// The parts and readable text of message `m` of type `kind`.
pub(super) fn content(kind: &str, m: &Value) -> (MessageParts, Option<String>) {
    let mut parts = MessageParts::default();
    let Some(body) = m.get(kind) else { return (parts, None) };
    let text = match kind {
        "text" | "system" => text(body, "body"),
        "image" | "video" | "document" => {
            parts.media.extend(media(body));
            text(body, "caption")
        }
        "audio" | "sticker" => {
            parts.media.extend(media(body));
            None
        }
        "location" => {
            parts.location = place(body);
            text(body, "name").or_else(|| text(body, "address"))
        }
        "contacts" => {
            parts.contacts = cards(body);
            None
        }
        "interactive" => {
            parts.choice = reply(body);
            parts.choice.as_ref().and_then(|c| c.title.clone())
        }
        "button" => {
            parts.choice = Some(template_button(body));
            text(body, "text")
        }
        "reaction" => {
            parts.reaction = reaction(body);
            parts.reaction.as_ref().and_then(|r| r.emoji.clone())
        }
        _ => None,
    };
    (parts, text)
}

fn media(body: &Value) -> Option<Media> {
    let flag = |key: &str| body.get(key).and_then(Value::as_bool);
    body.is_object().then(|| Media {
        id: text(body, "id"),
        url: text(body, "url"),
        mime_type: text(body, "mime_type"),
        sha256: text(body, "sha256"),
        filename: text(body, "filename"),
        voice: flag("voice"),
        animated: flag("animated"),
    })
}

/// A location needs both coordinates, as numbers; without them there is no place to show.
fn place(body: &Value) -> Option<Place> {
    Some(Place {
        latitude: body.get("latitude")?.as_f64()?,
        longitude: body.get("longitude")?.as_f64()?,
        name: text(body, "name"),
        address: text(body, "address"),
        url: text(body, "url"),
    })
}

fn cards(body: &Value) -> Vec<Contact> {
    let Some(cards) = body.as_array() else { return Vec::new() };
    let phones = |card: &Value| -> Vec<String> {
        let list = card.get("phones").and_then(Value::as_array);
        list.map(|ps| ps.iter().filter_map(|p| text(p, "phone")).collect()).unwrap_or_default()
    };
    cards
        .iter()
        .filter(|card| card.is_object())
        .map(|card| Contact { name: card.get("name").and_then(|n| text(n, "formatted_name")), phones: phones(card) })
        .collect()
}

/// An interactive reply: the button or list row chosen. Other interactive types carry no choice.
fn reply(body: &Value) -> Option<Choice> {
    let kind = body.get("type").and_then(Value::as_str)?;
    if !matches!(kind, "button_reply" | "list_reply") {
        return None;
    }
    let chosen = body.get(kind)?;
    Some(Choice {
        kind: kind.to_owned(),
        id: text(chosen, "id"),
        title: text(chosen, "title"),
        description: text(chosen, "description"),
    })
}

/// A template's quick-reply button: its payload stands for the id, its label for the title.
fn template_button(body: &Value) -> Choice {
    Choice { kind: "button".to_owned(), id: text(body, "payload"), title: text(body, "text"), description: None }
}

/// A reaction names the message it is about; an absent or empty emoji means it was removed.
fn reaction(body: &Value) -> Option<Reaction> {
    Some(Reaction { message_id: text(body, "message_id")?, emoji: text(body, "emoji").filter(|e| !e.is_empty()) })
}
