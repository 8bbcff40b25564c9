//! `POST /webhook`.

use poem::Request;
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, OpenApi};

use super::auth::Token;
use super::body::{BodyError, RawJson, read_limited};
use super::dto::{StatusBody, ValidationErrorBody};
use super::dto_errors::{BodyTooLarge, InvalidSignature, StorageUnavailable, VerificationFailed};
use super::observe::{NoteSlot, UpdateCount, WebhookNote};
use super::{ApiTags, retry_after_secs, unavailable_body};
use crate::domain::error::{FieldError, Location};
use crate::domain::message::MessageId;
use crate::domain::ports::Inserted;
use crate::domain::service::{IngestError, Ingested, MessageService};
use crate::domain::signature::{PresentedSignatures, StandardWebhookHeaders};

/// Longest `hub.challenge` echoed back; Meta sends short numeric strings.
const MAX_CHALLENGE_CHARS: usize = 256;
/// How long a sender may take to deliver the body.
pub(super) const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The ingest endpoint and the subscription handshake.
pub struct WebhookApi {
    service: MessageService,
    max_body_bytes: usize,
    verify_token: Option<Token>,
}

impl WebhookApi {
    /// Serves ingestion through `service`, refusing bodies over `max_body_bytes`; answers the
    /// WhatsApp handshake when `verify_token` is set.
    pub fn new(service: MessageService, max_body_bytes: usize, verify_token: Option<Token>) -> Self {
        Self { service, max_body_bytes, verify_token }
    }
}

/// Answers of the subscription handshake.
#[derive(ApiResponse)]
pub enum HandshakeResponse {
    /// The token matched: the bare challenge, as `text/plain`.
    #[oai(status = 200)]
    Ok(PlainText<String>),
    /// No verify token is configured, or the request's token is missing or wrong.
    #[oai(status = 403)]
    Forbidden(Json<VerificationFailed>),
}

/// Every answer `POST /webhook` gives.
#[derive(ApiResponse)]
pub enum WebhookResponse {
    /// Stored now, or already stored by an earlier delivery (first write wins).
    #[oai(status = 200)]
    Ok(Json<StatusBody>),
    /// Signature missing, empty, malformed, stale or wrong: `{"detail":"invalid signature"}`.
    #[oai(status = 401)]
    Unauthorized(Json<InvalidSignature>),
    /// Body larger than `MAX_BODY_BYTES`.
    #[oai(status = 413)]
    TooLarge(Json<BodyTooLarge>),
    /// Not JSON, not an object, or a field breaks a rule; every broken rule is listed.
    #[oai(status = 422)]
    Invalid(Json<ValidationErrorBody>),
    /// Storage unavailable or busy; nothing was stored. Retry after the given seconds.
    #[oai(status = 503)]
    Unavailable(Json<StorageUnavailable>, #[oai(header = "Retry-After")] u32),
}

#[OpenApi]
impl WebhookApi {
    /// Subscription handshake
    ///
    /// Meta/WhatsApp Cloud API verification: with `hub.mode=subscribe` and the configured
    /// `WEBHOOK_VERIFY_TOKEN`, answers the bare `hub.challenge` as `text/plain`; otherwise 403.
    #[oai(path = "/webhook", method = "get", tag = "ApiTags::Webhook")]
    async fn handshake(
        &self,
        /// Must be `subscribe`.
        #[oai(name = "hub.mode")]
        mode: Query<Option<String>>,
        /// Must equal `WEBHOOK_VERIFY_TOKEN`.
        #[oai(name = "hub.verify_token")]
        token: Query<Option<String>>,
        /// Echoed back on success (at most 256 characters).
        #[oai(name = "hub.challenge")]
        challenge: Query<Option<String>>,
    ) -> HandshakeResponse {
        let verified = self.verify_token.as_ref().is_some_and(|t| token.0.as_deref().is_some_and(|p| t.matches(p)));
        match challenge.0 {
            Some(c)
                if verified && mode.0.as_deref() == Some("subscribe") && c.chars().count() <= MAX_CHALLENGE_CHARS =>
            {
                HandshakeResponse::Ok(PlainText(c))
            }
            _ => HandshakeResponse::Forbidden(Json(VerificationFailed::default())),
        }
    }

    /// Ingest one message
    ///
    /// Verifies the HMAC-SHA256 signature over the raw body, validates the message and stores it
    /// exactly once, keyed by `message_id`. Sign with any one of `X-Signature: <hex>`,
    /// `X-Hub-Signature-256: sha256=<hex>`, or the Standard Webhooks headers
    /// (`webhook-id`, `webhook-timestamp`, `webhook-signature`, also under `svix-`).
    #[oai(path = "/webhook", method = "post", tag = "ApiTags::Webhook")]
    #[allow(clippy::too_many_arguments, reason = "one parameter per documented signature header")]
    async fn ingest(
        &self,
        request: &Request,
        /// Hex HMAC-SHA256 of the raw body keyed with the secret.
        #[oai(name = "X-Signature")]
        _x_signature: Header<Option<String>>,
        /// `sha256=` followed by the hex HMAC-SHA256 (the prefix is optional). Meta signs Cloud API
        /// envelopes this way, with the app secret.
        #[oai(name = "X-Hub-Signature-256")]
        _x_hub_signature_256: Header<Option<String>>,
        /// Standard Webhooks: the message id that is signed (`svix-id` also accepted).
        #[oai(name = "webhook-id")]
        _webhook_id: Header<Option<String>>,
        /// Standard Webhooks: Unix seconds, within `SIGNATURE_TOLERANCE_SECS` of now (`svix-timestamp` also accepted).
        #[oai(name = "webhook-timestamp")]
        _webhook_timestamp: Header<Option<String>>,
        /// Standard Webhooks: space-separated `v1,<base64 HMAC-SHA256 of id.timestamp.body>` (`svix-signature` also accepted).
        #[oai(name = "webhook-signature")]
        _webhook_signature: Header<Option<String>>,
        body: RawJson,
    ) -> WebhookResponse {
        let note = |result: &'static str, message_id: Option<&MessageId>| {
            let message_id = message_id.map(|m| m.as_str().to_owned());
            NoteSlot::set(request, WebhookNote { message_id, result, ..WebhookNote::default() });
        };
        let read = tokio::time::timeout(BODY_READ_TIMEOUT, read_limited(request, body.0, self.max_body_bytes));
        let raw = match read.await.unwrap_or(Err(BodyError::Unreadable)) {
            Ok(raw) => raw,
            Err(BodyError::TooLarge) => {
                note("payload_too_large", None);
                return WebhookResponse::TooLarge(Json(BodyTooLarge::new(self.max_body_bytes)));
            }
            Err(BodyError::Unreadable) => {
                note("validation_error", None);
                let e = FieldError::new(Location::Body, None, "request body could not be read", "body_read_error");
                return WebhookResponse::Invalid(Json(vec![e].into()));
            }
        };
        match self.service.ingest(&raw, &presented_signatures(request)).await {
            Ok(ingested) => {
                for r in &ingested.rejected {
                    tracing::warn!(source = ingested.source.as_str(), path = %r.path, reason = %r.reason, "update rejected");
                }
                NoteSlot::set(request, delivery_note(&ingested));
                WebhookResponse::Ok(Json(StatusBody::ok()))
            }
            Err(IngestError::Signature(reason)) => {
                note("invalid_signature", None);
                tracing::error!(reason = %reason, "webhook rejected: invalid signature");
                WebhookResponse::Unauthorized(Json(InvalidSignature::default()))
            }
            Err(IngestError::Invalid(errors)) => {
                note("validation_error", None);
                WebhookResponse::Invalid(Json(errors.into()))
            }
            Err(IngestError::Unavailable { message_id, source }) => {
                note("storage_unavailable", message_id.as_ref());
                tracing::error!(error = %source, "message not stored");
                let retry = retry_after_secs(&source);
                WebhookResponse::Unavailable(Json(unavailable_body()), retry)
            }
        }
    }
}

/// The access log's and the metrics' view of a refused request.
pub(super) fn refused_note(result: &'static str) -> WebhookNote {
    WebhookNote { result, ..WebhookNote::default() }
}

/// The access log's and the metrics' view of an accepted delivery.
pub(super) fn delivery_note(ingested: &Ingested) -> WebhookNote {
    let count = |outcomes: &[Inserted], wanted: Inserted| outcomes.iter().filter(|o| **o == wanted).count() as u64;
    let rejected_statuses = ingested.rejected.iter().filter(|r| r.is_status()).count() as u64;
    let counts = [
        ("message", "created", count(&ingested.stored.messages, Inserted::Created)),
        ("message", "duplicate", count(&ingested.stored.messages, Inserted::Duplicate)),
        ("message", "rejected", ingested.rejected.len() as u64 - rejected_statuses),
        ("status", "created", count(&ingested.stored.statuses, Inserted::Created)),
        ("status", "duplicate", count(&ingested.stored.statuses, Inserted::Duplicate)),
        ("status", "rejected", rejected_statuses),
        ("other", "ignored", ingested.ignored.len() as u64),
    ];
    WebhookNote {
        message_id: ingested.message_id.as_ref().map(|m| m.as_str().to_owned()),
        result: ingested.result(),
        source: Some(ingested.source.as_str()),
        updates: counts
            .into_iter()
            .filter(|c| c.2 > 0)
            .map(|(kind, outcome, n)| UpdateCount { kind, outcome, n })
            .collect(),
    }
}

/// Collects every signature header, in every accepted spelling. A value that is not visible
/// ASCII cannot be a signature; it is kept as an unreadable one so the answer is 401, not "missing".
fn presented_signatures(request: &Request) -> PresentedSignatures {
    let headers = request.headers();
    let all = |name: &str| -> Vec<String> {
        headers.get_all(name).iter().map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned()).collect()
    };
    let first = |names: [&str; 2]| names.iter().find_map(|n| all(n).into_iter().next());
    let mut hmac_hex = all("x-signature");
    hmac_hex.extend(all("x-hub-signature-256"));
    let standard = StandardWebhookHeaders {
        id: first(["webhook-id", "svix-id"]),
        timestamp: first(["webhook-timestamp", "svix-timestamp"]),
        signature: first(["webhook-signature", "svix-signature"]),
    };
    let any_standard = standard.id.is_some() || standard.timestamp.is_some() || standard.signature.is_some();
    PresentedSignatures { hmac_hex, standard: any_standard.then_some(standard), twilio: None }
}
