//! `POST /webhook`.

use poem::Request;
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::body::{BodyError, RawJson, read_limited};
use super::dto::{DetailBody, StatusBody, ValidationErrorBody};
use super::observe::{NoteSlot, WebhookNote};
use super::{ApiTags, INVALID_SIGNATURE, unavailable_body};
use crate::domain::error::{FieldError, Location};
use crate::domain::message::MessageId;
use crate::domain::ports::{Inserted, RepoError};
use crate::domain::service::{IngestError, MessageService};
use crate::domain::signature::{PresentedSignatures, StandardWebhookHeaders};

/// The ingest endpoint.
pub struct WebhookApi {
    service: MessageService,
    max_body_bytes: usize,
}

impl WebhookApi {
    /// Serves ingestion through `service`, refusing bodies over `max_body_bytes`.
    pub fn new(service: MessageService, max_body_bytes: usize) -> Self {
        Self { service, max_body_bytes }
    }
}

/// Every answer `POST /webhook` gives.
#[derive(ApiResponse)]
pub enum WebhookResponse {
    /// Stored now, or already stored by an earlier delivery (first write wins).
    #[oai(status = 200)]
    Ok(Json<StatusBody>),
    /// Signature missing, empty, malformed, stale or wrong: `{"detail":"invalid signature"}`.
    #[oai(status = 401)]
    Unauthorized(Json<DetailBody>),
    /// Body larger than `MAX_BODY_BYTES`.
    #[oai(status = 413)]
    TooLarge(Json<DetailBody>),
    /// Not JSON, not an object, or a field breaks a rule; every broken rule is listed.
    #[oai(status = 422)]
    Invalid(Json<ValidationErrorBody>),
    /// Storage unavailable or busy; nothing was stored. Retry after the given seconds.
    #[oai(status = 503)]
    Unavailable(Json<DetailBody>, #[oai(header = "Retry-After")] u32),
}

#[OpenApi]
impl WebhookApi {
    /// Ingest one message
    ///
    /// Verifies the HMAC-SHA256 signature over the raw body, validates the message and stores it
    /// exactly once, keyed by `message_id`. Sign with any one of `X-Signature: <hex>`,
    /// `X-Hub-Signature-256: sha256=<hex>`, or the Standard Webhooks headers
    /// (`webhook-id`, `webhook-timestamp`, `webhook-signature`, also under `svix-`).
    #[oai(path = "/webhook", method = "post", tag = "ApiTags::Webhook")]
    async fn ingest(
        &self,
        request: &Request,
        /// Hex HMAC-SHA256 of the raw body keyed with the secret.
        #[oai(name = "X-Signature")]
        _x_signature: Header<Option<String>>,
        /// `sha256=` followed by the hex HMAC-SHA256 (the prefix is optional).
        #[oai(name = "X-Hub-Signature-256")]
        _x_hub_signature_256: Header<Option<String>>,
        body: RawJson,
    ) -> WebhookResponse {
        let note = |result: &'static str, message_id: Option<&MessageId>| {
            NoteSlot::set(request, WebhookNote { message_id: message_id.map(|m| m.as_str().to_owned()), result });
        };
        let raw = match read_limited(request, body.0, self.max_body_bytes).await {
            Ok(raw) => raw,
            Err(BodyError::TooLarge) => {
                note("payload_too_large", None);
                let detail = format!("request body exceeds {} bytes", self.max_body_bytes);
                return WebhookResponse::TooLarge(Json(DetailBody::new(detail)));
            }
            Err(BodyError::Unreadable) => {
                note("validation_error", None);
                let e = FieldError::new(Location::Body, None, "request body could not be read", "body_read_error");
                return WebhookResponse::Invalid(Json(vec![e].into()));
            }
        };
        match self.service.ingest(&raw, &presented_signatures(request)).await {
            Ok(ingested) => {
                let result = if ingested.outcome == Inserted::Created { "created" } else { "duplicate" };
                note(result, Some(&ingested.message_id));
                WebhookResponse::Ok(Json(StatusBody::ok()))
            }
            Err(IngestError::Signature(reason)) => {
                note("invalid_signature", None);
                tracing::error!(reason = %reason, "webhook rejected: invalid signature");
                WebhookResponse::Unauthorized(Json(DetailBody::new(INVALID_SIGNATURE)))
            }
            Err(IngestError::Invalid(errors)) => {
                note("validation_error", None);
                WebhookResponse::Invalid(Json(errors.into()))
            }
            Err(IngestError::Unavailable { message_id, source }) => {
                note("storage_unavailable", Some(&message_id));
                tracing::error!(error = %source, "message not stored");
                let retry = if source == RepoError::Overloaded { 1 } else { 5 };
                WebhookResponse::Unavailable(Json(unavailable_body()), retry)
            }
        }
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
    PresentedSignatures { hmac_hex, standard: any_standard.then_some(standard) }
}
