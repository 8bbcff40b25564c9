//! Turns the raw JSON body of a webhook into a [`Message`], reporting every broken rule at once.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::error::{FieldError, Location};
use super::message::{Message, MessageId, MessageText, Msisdn};
use super::timestamp::Timestamp;

/// Decodes and validates a webhook body. Unknown fields are ignored: providers add fields over time.
///
/// # Errors
/// Every rule the body breaks, in field order: not JSON, not an object, or one entry per bad field.
pub fn decode_message(body: &[u8]) -> Result<Message, Vec<FieldError>> {
    expect_object(body).map_err(|e| vec![e])?;
    let wire: Wire = serde_json::from_slice(body).map_err(|e| vec![body_error(&e)])?;
    wire.into_message()
}

/// Checks that `body` opens a JSON object; otherwise the error a 422 reports for it.
pub(crate) fn expect_object(body: &[u8]) -> Result<(), FieldError> {
    // A derived struct would also accept a JSON array positionally; only an object is a message.
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return Ok(());
    }
    Err(match serde_json::from_slice::<IgnoredAny>(body) {
        Ok(_) => not_an_object(),
        Err(e) => body_error(&e),
    })
}

fn not_an_object() -> FieldError {
    FieldError::new(
        Location::Body,
        None,
        "Input should be a valid dictionary or object to extract fields from",
        "model_attributes_type",
    )
}

/// The 422 error for a body serde_json could not read: invalid JSON, or JSON of the wrong shape.
pub(crate) fn body_error(e: &serde_json::Error) -> FieldError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => not_an_object(),
        Category::Io | Category::Syntax | Category::Eof => FieldError::new(
            Location::Body,
            None,
            format!("JSON decode error at line {} column {}", e.line(), e.column()),
            "json_invalid",
        ),
    }
}

/// The body's fields as found, before any rule is applied.
#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    message_id: Field,
    #[serde(default)]
    from: Field,
    #[serde(default)]
    to: Field,
    #[serde(default)]
    ts: Field,
    #[serde(default)]
    text: Field,
}

impl Wire {
    fn into_message(self) -> Result<Message, Vec<FieldError>> {
        let mut errors = Vec::new();
        let message_id = required(self.message_id, "message_id", MessageId::parse, &mut errors);
        let from = required(self.from, "from", Msisdn::parse, &mut errors);
        let to = required(self.to, "to", Msisdn::parse, &mut errors);
        let ts = required(self.ts, "ts", Timestamp::parse_utc, &mut errors);
        let text = match self.text {
            Field::Missing | Field::Null => Some(None),
            other => required(other, "text", MessageText::parse, &mut errors).map(Some),
        };
        match (message_id, from, to, ts, text) {
            (Some(message_id), Some(from), Some(to), Some(ts), Some(text)) if errors.is_empty() => {
                Ok(Message::flat(message_id, from, to, ts, text))
            }
            _ => Err(errors),
        }
    }
}

fn required<T>(
    field: Field,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let result = match field {
        Field::Missing => Err(FieldError::missing(Location::Body, name)),
        Field::Null | Field::Other => Err(FieldError::not_a_string(Location::Body, name)),
        Field::Str(s) => parse(&s).map_err(|msg| FieldError::value(Location::Body, name, msg)),
    };
    result.map_err(|e| errors.push(e)).ok()
}

/// A JSON value reduced to what the rules need to know about it.
#[derive(Default)]
enum Field {
    #[default]
    Missing,
    Null,
    Str(String),
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
        Ok(Field::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Field, E> {
        Ok(Field::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Field, E> {
        Ok(Field::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Field, E> {
        Ok(Field::Null)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Field, E> {
        Ok(Field::Other)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Field, E> {
        Ok(Field::Other)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Field, E> {
        Ok(Field::Other)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Field, E> {
        Ok(Field::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str =
        r#"{"message_id":"m1","from":"+919876543210","to":"+14155550100","ts":"2025-01-15T10:00:00Z","text":"Hello"}"#;

    fn locs(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(|e| e.loc.join(".")).collect()
    }

    #[test]
    fn decodes_a_valid_body_and_ignores_unknown_fields() {
        let body = VALID.replace("\"text\"", "\"extra\":{\"a\":[1,2]},\"text\"");
        let m = decode_message(body.as_bytes()).unwrap();
        assert_eq!(m.message_id.as_str(), "m1");
        assert_eq!(m.text.unwrap().as_str(), "Hello");
    }

    #[test]
    fn text_may_be_null_or_absent() {
        let null = VALID.replace("\"Hello\"", "null");
        assert!(decode_message(null.as_bytes()).unwrap().text.is_none());
        let absent = r#"{"message_id":"m1","from":"+12","to":"+12","ts":"2025-01-15T10:00:00Z"}"#;
        assert!(decode_message(absent.as_bytes()).unwrap().text.is_none());
    }

    #[test]
    fn lists_every_broken_field() {
        let body = r#"{"message_id":" ","from":"12","to":5,"ts":"2025-02-30T00:00:00Z","text":7}"#;
        let errors = decode_message(body.as_bytes()).unwrap_err();
        assert_eq!(locs(&errors), ["body.message_id", "body.from", "body.to", "body.ts", "body.text"]);
        assert_eq!(errors[2].kind, "string_type");
        assert_eq!(errors[1].kind, "value_error");
    }

    #[test]
    fn missing_fields_are_reported_as_missing() {
        let errors = decode_message(b"{}").unwrap_err();
        assert_eq!(locs(&errors), ["body.message_id", "body.from", "body.to", "body.ts"]);
        assert!(errors.iter().all(|e| e.kind == "missing"));
    }

    #[test]
    fn non_json_and_non_objects_are_body_errors() {
        assert_eq!(decode_message(b"{not json").unwrap_err()[0].kind, "json_invalid");
        assert_eq!(decode_message(b"").unwrap_err()[0].kind, "json_invalid");
        assert_eq!(decode_message(b"[1,2]").unwrap_err()[0].kind, "model_attributes_type");
        assert_eq!(decode_message(b"\"s\"").unwrap_err()[0].kind, "model_attributes_type");
        assert_eq!(decode_message(b"null").unwrap_err()[0].kind, "model_attributes_type");
        assert_eq!(decode_message(b"{} trailing").unwrap_err()[0].kind, "json_invalid");
    }
}
