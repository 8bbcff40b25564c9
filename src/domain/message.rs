//! The message and the values it is made of. Each value can only be built through `parse`, so a
//! value that exists is valid.

use super::delivery::{Kind, MessageParts, RawObject, Source};
use super::timestamp::Timestamp;

/// Longest accepted `message_id`, in characters.
pub const MAX_MESSAGE_ID_CHARS: usize = 256;
/// Longest accepted `text`, in Unicode scalar values.
pub const MAX_TEXT_CHARS: usize = 4096;

/// The provider's identifier of a message; the idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    /// Accepts a string that is not blank, has at most 256 characters and no NUL.
    ///
    /// # Errors
    /// Returns the rule the value breaks.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Err("must not be empty".into());
        }
        if raw.chars().count() > MAX_MESSAGE_ID_CHARS {
            return Err(format!("must be at most {MAX_MESSAGE_ID_CHARS} characters"));
        }
        if raw.contains('\0') {
            return Err("must not contain NUL characters".into());
        }
        Ok(Self(raw.to_owned()))
    }

    /// The identifier as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number in E.164 form: `+`, then 2 to 15 digits, the first not zero.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Msisdn(String);

/// The message every E.164 rule violation reports.
pub const MSISDN_RULE: &str = "must be E.164: '+' then 2-15 digits";

impl Msisdn {
    /// Accepts `^\+[1-9][0-9]{1,14}$`.
    ///
    /// # Errors
    /// Returns the E.164 rule when the value breaks it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = raw.strip_prefix('+').is_some_and(|digits| {
            (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
        });
        if ok { Ok(Self(raw.to_owned())) } else { Err(MSISDN_RULE.into()) }
    }

    /// The number, `+` included.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The optional body of a message: at most 4096 Unicode scalar values, no NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    /// Accepts any string of at most 4096 characters without NUL (empty included).
    ///
    /// # Errors
    /// Returns the rule the value breaks.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().count() > MAX_TEXT_CHARS {
            return Err(format!("must be at most {MAX_TEXT_CHARS} characters"));
        }
        if raw.contains('\0') {
            return Err("must not contain NUL characters".into());
        }
        Ok(Self(raw.to_owned()))
    }

    /// The text as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form that substring search compares against, identical on every backend.
    pub fn search_key(&self) -> String {
        fold_case(&self.0)
    }
}

/// Case folding shared by stored texts and search needles, so that both sides agree.
pub fn fold_case(s: &str) -> String {
    s.to_lowercase()
}

/// One inbound message, valid in every field.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The idempotency key.
    pub message_id: MessageId,
    /// The sender's number; `None` when the provider names the sender only by a user id
    /// ([`MessageParts::user_id`]).
    pub from: Option<Msisdn>,
    /// The recipient.
    pub to: Msisdn,
    /// When the provider says the message was sent.
    pub ts: Timestamp,
    /// The text a person would read: the body, a caption, a chosen title, an emoji.
    pub text: Option<MessageText>,
    /// Where it came from.
    pub source: Source,
    /// The provider's `type` (`text` for the flat format).
    pub kind: Kind,
    /// What a reader needs beside the text.
    pub parts: MessageParts,
    /// The provider's own object for this message, byte for byte (none for the flat format,
    /// whose body is the message itself).
    pub raw: Option<RawObject>,
}

impl Message {
    /// A flat-format message: source `webhook`, type `text`, no other parts.
    pub fn flat(message_id: MessageId, from: Msisdn, to: Msisdn, ts: Timestamp, text: Option<MessageText>) -> Self {
        Self {
            message_id,
            from: Some(from),
            to,
            ts,
            text,
            source: Source::Webhook,
            kind: Kind::text(),
            parts: MessageParts::default(),
            raw: None,
        }
    }

    /// Who `/stats` counts the message under: the number, else the user id.
    pub fn sender_key(&self) -> Option<&str> {
        self.from.as_ref().map(Msisdn::as_str).or(self.parts.user_id.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msisdn_accepts_two_to_fifteen_digits_and_rejects_the_rest() {
        assert!(Msisdn::parse("+12").is_ok());
        assert!(Msisdn::parse("+123456789012345").is_ok());
        assert!(Msisdn::parse("+1234567890123456").is_err());
        assert!(Msisdn::parse("+1").is_err());
        assert!(Msisdn::parse("+0123").is_err());
        assert!(Msisdn::parse("123").is_err());
        assert!(Msisdn::parse("+12a4").is_err());
        assert!(Msisdn::parse("+１２３").is_err());
        assert!(Msisdn::parse(" +123").is_err());
    }

    #[test]
    fn message_id_rejects_blank_long_and_nul() {
        assert!(MessageId::parse("m-1").is_ok());
        assert!(MessageId::parse(&"x".repeat(256)).is_ok());
        assert!(MessageId::parse(&"é".repeat(256)).is_ok());
        assert!(MessageId::parse(&"x".repeat(257)).is_err());
        assert!(MessageId::parse("   ").is_err());
        assert!(MessageId::parse("").is_err());
        assert!(MessageId::parse("a\0b").is_err());
    }

    #[test]
    fn text_counts_characters_not_bytes() {
        assert!(MessageText::parse(&"é".repeat(4096)).is_ok());
        assert!(MessageText::parse(&"é".repeat(4097)).is_err());
        assert!(MessageText::parse("").is_ok());
        assert!(MessageText::parse("nul\0").is_err());
        assert_eq!(MessageText::parse("ÉtÉ").unwrap().search_key(), "été");
    }
}
