//! Request and response bodies as published in the OpenAPI document.

use poem_openapi::types::Example;
use poem_openapi::{Enum, Object};

use crate::domain::error::FieldError;
use crate::domain::stats::{SenderCount, Stats};

/// An inbound message as the provider sends it. Unknown extra fields are ignored.
#[derive(Debug, Object)]
#[oai(example)]
pub struct WebhookPayload {
    /// The provider's message id: not blank, at most 256 characters. The idempotency key.
    #[oai(validator(min_length = 1, max_length = 256))]
    pub message_id: String,
    /// Sender in E.164 form.
    #[oai(validator(pattern = r"^\+[1-9][0-9]{1,14}$"))]
    pub from: String,
    /// Recipient in E.164 form.
    #[oai(validator(pattern = r"^\+[1-9][0-9]{1,14}$"))]
    pub to: String,
    /// When the message was sent: RFC 3339 in UTC with a `Z` suffix; fractional seconds allowed.
    pub ts: String,
    /// The message body, at most 4096 characters; may be null or absent.
    #[oai(validator(max_length = 4096), nullable)]
    pub text: Option<String>,
}

impl Example for WebhookPayload {
    fn example() -> Self {
        Self {
            message_id: "m1".into(),
            from: "+919876543210".into(),
            to: "+14155550100".into(),
            ts: "2025-01-15T10:00:00Z".into(),
            text: Some("Hello".into()),
        }
    }
}

/// `{"status":"ok"}`: the message is committed (now, or by an earlier delivery).
#[derive(Debug, Object)]
#[oai(example)]
pub struct StatusBody {
    /// Always `ok`.
    pub status: String,
}

impl Example for StatusBody {
    fn example() -> Self {
        Self::ok()
    }
}

impl StatusBody {
    /// The success body.
    pub fn ok() -> Self {
        Self { status: "ok".into() }
    }
}

/// An error with a human-readable explanation.
#[derive(Debug, Object)]
#[oai(example)]
pub struct DetailBody {
    /// What went wrong, without internals.
    pub detail: String,
}

impl Example for DetailBody {
    fn example() -> Self {
        Self::new("invalid signature")
    }
}

impl DetailBody {
    /// A body with this text.
    pub fn new(detail: impl Into<String>) -> Self {
        Self { detail: detail.into() }
    }
}

/// Every broken rule, in the FastAPI/Pydantic layout.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ValidationErrorBody {
    /// One entry per broken rule.
    pub detail: Vec<ValidationIssue>,
}

impl Example for ValidationErrorBody {
    fn example() -> Self {
        Self { detail: vec![ValidationIssue::example()] }
    }
}

/// One broken rule.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ValidationIssue {
    /// Where: `["body", "from"]`, `["query", "limit"]`, or `["body"]` for the body as a whole.
    pub loc: Vec<String>,
    /// Why.
    pub msg: String,
    /// Category: `missing`, `string_type`, `value_error`, `json_invalid`, `model_attributes_type`.
    #[oai(rename = "type")]
    pub kind: String,
}

impl Example for ValidationIssue {
    fn example() -> Self {
        Self {
            loc: vec!["body".into(), "from".into()],
            msg: "must be E.164: '+' then 2-15 digits".into(),
            kind: "value_error".into(),
        }
    }
}

impl From<Vec<FieldError>> for ValidationErrorBody {
    fn from(errors: Vec<FieldError>) -> Self {
        let detail =
            errors.into_iter().map(|e| ValidationIssue { loc: e.loc, msg: e.msg, kind: e.kind.to_owned() }).collect();
        Self { detail }
    }
}

pub use super::dto_message::MessageDto;

/// One page of matches.
#[derive(Debug, Object)]
#[oai(example)]
pub struct MessageList {
    /// Ordered by `ts` ascending, then `message_id` ascending.
    pub data: Vec<MessageDto>,
    /// Every match, ignoring `limit` and `offset`.
    pub total: u64,
    /// The page size used.
    pub limit: u32,
    /// The number of matches skipped.
    pub offset: u64,
    /// Pass as `cursor` (with the same filters) for the next page; absent on the last page, so
    /// that the original page shape is unchanged where there is nothing more.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

impl Example for MessageList {
    fn example() -> Self {
        Self { data: vec![MessageDto::example()], total: 1, limit: 50, offset: 0, next_cursor: None }
    }
}

/// Aggregates over every stored message.
#[derive(Debug, Object)]
#[oai(example)]
pub struct StatsBody {
    /// All stored messages.
    pub total_messages: u64,
    /// Distinct senders.
    pub senders_count: u64,
    /// The ten busiest senders, count descending, ties by sender ascending.
    pub messages_per_sender: Vec<SenderCountDto>,
    /// Earliest `ts`, null when empty.
    #[oai(nullable)]
    pub first_message_ts: Option<String>,
    /// Latest `ts`, null when empty.
    #[oai(nullable)]
    pub last_message_ts: Option<String>,
}

impl Example for StatsBody {
    fn example() -> Self {
        Self {
            total_messages: 3,
            senders_count: 2,
            messages_per_sender: vec![
                SenderCountDto { from: "+919876543210".into(), count: 2 },
                SenderCountDto::example(),
            ],
            first_message_ts: Some("2025-01-15T10:00:00Z".into()),
            last_message_ts: Some("2025-01-15T10:05:00.500Z".into()),
        }
    }
}

/// Messages from one sender.
#[derive(Debug, Object)]
#[oai(example)]
pub struct SenderCountDto {
    /// Sender, E.164, or its user id when it has no number.
    pub from: String,
    /// Stored messages from it.
    pub count: u64,
}

impl Example for SenderCountDto {
    fn example() -> Self {
        Self { from: "+14155550100".into(), count: 1 }
    }
}

impl From<Stats> for StatsBody {
    fn from(s: Stats) -> Self {
        let sender = |c: SenderCount| SenderCountDto { from: c.from, count: c.count };
        Self {
            total_messages: s.total_messages,
            senders_count: s.senders_count,
            messages_per_sender: s.top_senders.into_iter().map(sender).collect(),
            first_message_ts: s.first_message_ts.map(|t| t.to_rfc3339()),
            last_message_ts: s.last_message_ts.map(|t| t.to_rfc3339()),
        }
    }
}

/// Liveness or readiness.
#[derive(Debug, Object)]
#[oai(example)]
pub struct HealthBody {
    /// `ok`, `ready` or `not_ready`.
    pub status: HealthStatus,
    /// Why not ready; absent when ready.
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
}

impl Example for HealthBody {
    fn example() -> Self {
        Self { status: HealthStatus::NotReady, reason: Some("no webhook secret is configured".into()) }
    }
}

/// Health states.
#[derive(Debug, Enum)]
#[oai(rename_all = "snake_case")]
pub enum HealthStatus {
    /// The process serves HTTP.
    Ok,
    /// Storage answers, the schema is applied, a secret is configured.
    Ready,
    /// Something is missing; see `reason`.
    NotReady,
}
