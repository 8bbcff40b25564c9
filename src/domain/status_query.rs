//! The delivery-status query of `GET /statuses`: filters and pagination from raw query values.

use super::delivery::{DeliveryStatus, Kind};
use super::error::FieldError;
use super::message::MessageId;
use super::query::{Page, check, parse_limit, parse_offset, parse_sender};
use super::timestamp::Timestamp;

/// Which statuses to return. Every present filter must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusFilter {
    /// The business's message.
    pub message_id: Option<MessageId>,
    /// Exact recipient, as stored (E.164 for WhatsApp numbers).
    pub recipient: Option<String>,
    /// Exact status word.
    pub status: Option<Kind>,
    /// Keeps statuses with `ts >= since`.
    pub since: Option<Timestamp>,
}

impl StatusFilter {
    /// Whether `s` passes every filter; the reference semantics every repository must match.
    pub fn matches(&self, s: &DeliveryStatus) -> bool {
        self.message_id.as_ref().is_none_or(|id| s.message_id == *id)
            && self.recipient.as_ref().is_none_or(|r| s.recipient.as_ref() == Some(r))
            && self.status.as_ref().is_none_or(|k| s.status == *k)
            && self.since.is_none_or(|since| s.ts >= since)
    }
}

/// The query-string values of `GET /statuses` as received.
#[derive(Debug, Clone, Default)]
pub struct RawStatusQuery {
    /// `message_id`.
    pub message_id: Option<String>,
    /// `recipient`.
    pub recipient: Option<String>,
    /// `status`.
    pub status: Option<String>,
    /// `since`.
    pub since: Option<String>,
    /// `limit`.
    pub limit: Option<String>,
    /// `offset`.
    pub offset: Option<String>,
}

/// A validated status query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusQuery {
    /// What to match.
    pub filter: StatusFilter,
    /// Which slice of the matches to return.
    pub page: Page,
}

impl RawStatusQuery {
    /// Applies every rule, reporting all that are broken.
    ///
    /// # Errors
    /// One entry per bad parameter.
    pub fn parse(self) -> Result<StatusQuery, Vec<FieldError>> {
        let mut errors = Vec::new();
        let message_id = check(&mut errors, "message_id", self.message_id.as_deref().map(MessageId::parse).transpose());
        // A `+` the caller did not encode arrives as a space, as with `/messages?from=`.
        let recipient = self.recipient.map(|r| match parse_sender(&r) {
            Ok(number) => number.as_str().to_owned(),
            Err(_) => r,
        });
        let status = check(&mut errors, "status", self.status.as_deref().map(Kind::parse).transpose());
        let since = check(&mut errors, "since", self.since.as_deref().map(Timestamp::parse_instant).transpose());
        let limit = check(&mut errors, "limit", parse_limit(self.limit.as_deref()));
        let offset = check(&mut errors, "offset", parse_offset(self.offset.as_deref()));
        match (message_id, status, since, limit, offset) {
            (Some(message_id), Some(status), Some(since), Some(limit), Some(offset)) if errors.is_empty() => {
                Ok(StatusQuery {
                    filter: StatusFilter { message_id, recipient, status, since },
                    page: Page { limit, offset },
                })
            }
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_parameter_is_reported() {
        let raw = RawStatusQuery {
            message_id: Some(" ".into()),
            status: Some("not a word".into()),
            since: Some("yesterday".into()),
            limit: Some("0".into()),
            ..RawStatusQuery::default()
        };
        let names: Vec<_> = raw.parse().unwrap_err().iter().map(|e| e.loc[1].clone()).collect();
        assert_eq!(names, ["message_id", "status", "since", "limit"]);
    }

    #[test]
    fn an_unencoded_plus_in_the_recipient_reads_as_plus() {
        let raw = RawStatusQuery { recipient: Some(" 16505551234".into()), ..RawStatusQuery::default() };
        assert_eq!(raw.parse().unwrap().filter.recipient.as_deref(), Some("+16505551234"));
    }
}
